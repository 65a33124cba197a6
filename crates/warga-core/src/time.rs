//! Time as milliseconds since the Unix epoch.
//!
//! Storage keeps timestamps as `BIGINT` milliseconds so that the same SQL runs on SQLite,
//! PostgreSQL and CockroachDB. Code that needs "now" takes a [`Clock`] so tests can fix it.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

/// A source of the current time in Unix milliseconds.
pub trait Clock: Send + Sync + std::fmt::Debug {
    fn now_ms(&self) -> i64;
}

/// The wall clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> i64 {
        let since_epoch = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        i64::try_from(since_epoch.as_millis()).unwrap_or(i64::MAX)
    }
}

/// A clock that only moves when told to; for tests.
#[derive(Debug, Clone, Default)]
pub struct ManualClock(Arc<AtomicI64>);

impl ManualClock {
    pub fn new(start_ms: i64) -> Self {
        Self(Arc::new(AtomicI64::new(start_ms)))
    }
    pub fn advance_ms(&self, by_ms: i64) {
        self.0.fetch_add(by_ms, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now_ms(&self) -> i64 {
        self.0.load(Ordering::SeqCst)
    }
}

/// The wall clock as a plain function, for code that has no clock injected.
pub fn now_ms() -> i64 {
    SystemClock.now_ms()
}

/// `ms` raised to the next whole hour (unchanged when it is one). The bus's bookkeeping
/// times — when an event was published, when a consumer processed it — are kept so: they
/// serve retention only (raised, never lowered, so nothing is dropped early), and an exact
/// one would date the event of an anonymous report finer than its hour (R-S4).
pub fn hour_ceiling(ms: i64) -> i64 {
    const HOUR_MS: i64 = 3_600_000;
    let rest = ms.rem_euclid(HOUR_MS);
    if rest == 0 { ms } else { ms + (HOUR_MS - rest) }
}

/// A Unix time in milliseconds as `YYYY-MM-DD HH:MM` in Western Indonesia Time (WIB, UTC+7),
/// the zone of Sumatra, Java and West/Central Kalimantan, for screens.
pub fn format_wib(ms: i64) -> String {
    let minutes = ms.div_euclid(60_000) + 7 * 60;
    let (days, minute_of_day) = (minutes.div_euclid(1_440), minutes.rem_euclid(1_440));
    // Days since 1970-01-01 to a civil date (H. Hinnant's algorithm, proleptic Gregorian).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}",
        minute_of_day / 60,
        minute_of_day % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bookkeeping_times_are_raised_to_the_hour() {
        assert_eq!(hour_ceiling(1_796_176_800_000), 1_796_176_800_000);
        assert_eq!(hour_ceiling(1_796_176_800_001), 1_796_180_400_000);
        assert_eq!(hour_ceiling(1_796_180_399_999), 1_796_180_400_000);
    }

    #[test]
    fn wib_dates() {
        assert_eq!(format_wib(0), "1970-01-01 07:00");
        assert_eq!(format_wib(951_782_400_000), "2000-02-29 07:00");
        assert_eq!(format_wib(1_795_307_400_000), "2026-11-22 07:30");
        assert_eq!(format_wib(1_798_736_400_000), "2027-01-01 00:00");
        assert_eq!(format_wib(-1), "1970-01-01 06:59");
    }

    #[test]
    fn manual_clock_moves_only_when_told() {
        let clock = ManualClock::new(1_000);
        assert_eq!(clock.now_ms(), 1_000);
        clock.advance_ms(250);
        assert_eq!(clock.now_ms(), 1_250);
    }

    #[test]
    fn system_clock_is_after_2024() {
        assert!(SystemClock.now_ms() > 1_704_067_200_000);
    }
}
