//! The database pools' metrics: connections open, idle and in use, and the most allowed,
//! read off the pools when `/metrics` is scraped ([`crate::Store::observe_pools`]).

use std::sync::LazyLock;

use prometheus::{IntGaugeVec, Opts};
use warga_telemetry::register;

pub static POOL_CONNECTIONS: LazyLock<IntGaugeVec> = LazyLock::new(|| {
    register(IntGaugeVec::new(
        Opts::new(
            "warga_db_pool_connections",
            "Database connections of a pool, by state (idle, in_use).",
        ),
        &["pool", "state"],
    ))
});

pub static POOL_MAX: LazyLock<IntGaugeVec> = LazyLock::new(|| {
    register(IntGaugeVec::new(
        Opts::new("warga_db_pool_max_connections", "The most connections a pool opens."),
        &["pool"],
    ))
});

/// Sets the gauges of one pool.
pub(crate) fn observe(pool: &str, pool_handle: &sqlx::AnyPool) {
    let open = i64::from(pool_handle.size());
    let idle = i64::try_from(pool_handle.num_idle()).unwrap_or(i64::MAX);
    POOL_CONNECTIONS.with_label_values(&[pool, "idle"]).set(idle);
    POOL_CONNECTIONS
        .with_label_values(&[pool, "in_use"])
        .set(open.saturating_sub(idle).max(0));
    POOL_MAX
        .with_label_values(&[pool])
        .set(i64::from(pool_handle.options().get_max_connections()));
}
