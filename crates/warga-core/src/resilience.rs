//! Calls to other processes: a circuit breaker and a retry schedule, as pure logic.
//!
//! The breaker is a small state machine driven by a [`Clock`]: after
//! `failures_to_open` consecutive failures it opens and refuses calls at once for
//! `open_for_ms`; then it lets one trial call through (half-open); a success closes it, a
//! failure opens it again. Callers ask [`CircuitBreaker::try_acquire`] before a call and
//! report the outcome. Retries are for idempotent calls only: [`RetryPolicy::delay_ms`]
//! gives exponential backoff with jitter drawn by the caller.

use std::sync::Mutex;

use crate::time::Clock;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BreakerState {
    Closed,
    Open { until_ms: i64 },
    HalfOpen,
}

#[derive(Clone, Copy, Debug)]
pub struct BreakerConfig {
    pub failures_to_open: u32,
    pub open_for_ms: i64,
}

impl Default for BreakerConfig {
    fn default() -> Self {
        Self {
            failures_to_open: 5,
            open_for_ms: 10_000,
        }
    }
}

#[derive(Debug)]
struct Inner {
    state: BreakerState,
    consecutive_failures: u32,
    trial_in_flight: bool,
}

/// A circuit breaker for one upstream.
#[derive(Debug)]
pub struct CircuitBreaker {
    config: BreakerConfig,
    inner: Mutex<Inner>,
}

/// Permission to make one call; report how it went.
#[derive(Debug)]
#[must_use = "report the outcome with CircuitBreaker::succeeded or ::failed"]
pub struct Permit {
    trial: bool,
}

impl CircuitBreaker {
    pub fn new(config: BreakerConfig) -> Self {
        Self {
            config,
            inner: Mutex::new(Inner {
                state: BreakerState::Closed,
                consecutive_failures: 0,
                trial_in_flight: false,
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub fn state(&self, clock: &dyn Clock) -> BreakerState {
        let mut inner = self.lock();
        if let BreakerState::Open { until_ms } = inner.state
            && clock.now_ms() >= until_ms
        {
            inner.state = BreakerState::HalfOpen;
        }
        inner.state
    }

    /// `Some` when a call may go ahead now; `None` while the breaker is open (or its one
    /// half-open trial is already in flight).
    pub fn try_acquire(&self, clock: &dyn Clock) -> Option<Permit> {
        let state = self.state(clock);
        let mut inner = self.lock();
        match state {
            BreakerState::Closed => Some(Permit { trial: false }),
            BreakerState::Open { .. } => None,
            BreakerState::HalfOpen if inner.trial_in_flight => None,
            BreakerState::HalfOpen => {
                inner.trial_in_flight = true;
                Some(Permit { trial: true })
            }
        }
    }

    pub fn succeeded(&self, permit: Permit) {
        let mut inner = self.lock();
        if permit.trial {
            inner.trial_in_flight = false;
        }
        inner.consecutive_failures = 0;
        inner.state = BreakerState::Closed;
    }

    pub fn failed(&self, permit: Permit, clock: &dyn Clock) {
        let mut inner = self.lock();
        let open = || BreakerState::Open {
            until_ms: clock.now_ms() + self.config.open_for_ms,
        };
        if permit.trial {
            inner.trial_in_flight = false;
            inner.state = open();
            return;
        }
        inner.consecutive_failures = inner.consecutive_failures.saturating_add(1);
        if inner.consecutive_failures >= self.config.failures_to_open {
            inner.state = open();
        }
    }
}

/// How often and how patiently to retry an idempotent call.
#[derive(Clone, Copy, Debug)]
pub struct RetryPolicy {
    /// Attempts in all, the first included.
    pub attempts: u32,
    pub base_ms: u64,
    pub max_ms: u64,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            attempts: 3,
            base_ms: 100,
            max_ms: 2_000,
        }
    }
}

impl RetryPolicy {
    /// The wait before retry number `retry` (1-based): exponential, capped, and scaled into
    /// its upper half by `jitter` (0.0–1.0, drawn by the caller) so clients spread out.
    pub fn delay_ms(&self, retry: u32, jitter: f64) -> u64 {
        let ceiling = self
            .base_ms
            .saturating_mul(1u64 << retry.saturating_sub(1).min(20))
            .min(self.max_ms);
        let jitter = jitter.clamp(0.0, 1.0);
        ceiling / 2 + ((ceiling / 2) as f64 * jitter) as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::ManualClock;

    #[test]
    fn opens_after_consecutive_failures_then_trials_and_closes() {
        let clock = ManualClock::new(0);
        let breaker = CircuitBreaker::new(BreakerConfig {
            failures_to_open: 3,
            open_for_ms: 1_000,
        });
        for _ in 0..2 {
            let permit = breaker.try_acquire(&clock).unwrap();
            breaker.failed(permit, &clock);
        }
        let permit = breaker.try_acquire(&clock).unwrap();
        breaker.succeeded(permit);
        assert_eq!(
            breaker.state(&clock),
            BreakerState::Closed,
            "a success resets the count"
        );
        for _ in 0..3 {
            let permit = breaker.try_acquire(&clock).unwrap();
            breaker.failed(permit, &clock);
        }
        assert_eq!(breaker.state(&clock), BreakerState::Open { until_ms: 1_000 });
        assert!(breaker.try_acquire(&clock).is_none(), "open: calls are refused at once");

        clock.advance_ms(1_000);
        assert_eq!(breaker.state(&clock), BreakerState::HalfOpen);
        let trial = breaker.try_acquire(&clock).unwrap();
        assert!(breaker.try_acquire(&clock).is_none(), "one trial at a time");
        breaker.failed(trial, &clock);
        assert_eq!(
            breaker.state(&clock),
            BreakerState::Open { until_ms: 2_000 },
            "a failed trial reopens"
        );

        clock.advance_ms(1_000);
        let trial = breaker.try_acquire(&clock).unwrap();
        breaker.succeeded(trial);
        assert_eq!(breaker.state(&clock), BreakerState::Closed);
        assert!(breaker.try_acquire(&clock).is_some());
    }

    #[test]
    fn retry_delays_grow_with_jitter_and_a_cap() {
        let policy = RetryPolicy {
            attempts: 5,
            base_ms: 100,
            max_ms: 1_000,
        };
        assert_eq!(policy.delay_ms(1, 0.0), 50);
        assert_eq!(policy.delay_ms(1, 1.0), 100);
        assert_eq!(policy.delay_ms(3, 0.5), 300);
        assert_eq!(policy.delay_ms(10, 1.0), 1_000);
        assert_eq!(policy.delay_ms(10, 7.0), 1_000, "jitter is clamped");
    }
}
