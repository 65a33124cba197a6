//! The registry's own metrics: residents registered and deaths recorded (every path — the
//! API, the screens, `warga registry import` — goes through [`crate::residents`]).

use std::sync::LazyLock;

use prometheus::IntCounter;
use warga_telemetry::register;

pub static REGISTRATIONS: LazyLock<IntCounter> = LazyLock::new(|| {
    register(IntCounter::new(
        "warga_population_registrations_total",
        "Residents registered (committed).",
    ))
});

pub static DEATHS: LazyLock<IntCounter> = LazyLock::new(|| {
    register(IntCounter::new(
        "warga_population_deaths_total",
        "Deaths recorded in the registry (committed).",
    ))
});

/// Touches every metric so `/metrics` lists them at zero before the first registration.
pub fn describe() {
    LazyLock::force(&REGISTRATIONS);
    LazyLock::force(&DEATHS);
}
