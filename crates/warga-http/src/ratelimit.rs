//! Per-user and per-address rate limits (GCRA), shared through Redis across replicas.
//!
//! The generic cell rate algorithm keeps one number per key — the theoretical arrival time
//! (TAT) of the next request — which makes it cheap in memory and atomic in one Redis Lua
//! script. A limit of N per minute admits a burst of N, then one request every 60/N s.
//! Authenticated requests are counted per token subject, anonymous ones per client address;
//! route classes (longest path prefix) carry their own limits. Probes (`/healthz`,
//! `/readyz`, `/metrics`) and static assets are never limited. A refused request gets 429 with `Retry-After`.
//! If Redis cannot be reached the request is let through (fail open) and counted in
//! `warga_rate_limit_errors_total`: the limiter protects the services, it must not take
//! them down.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, LazyLock, Mutex};

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::Response;
use prometheus::{IntCounterVec, Opts};
use warga_config::GatewayConfig;
use warga_core::identity::Principal;
use warga_core::time::Clock;

use crate::problem::{Problem, ProblemType};

const PERIOD_US: i64 = 60_000_000;
/// Keys kept in memory before expired ones are swept.
const MEMORY_KEYS_SWEEP_AT: usize = 100_000;
const EXEMPT: [&str; 3] = ["/healthz", "/readyz", "/metrics"];
/// Static assets: cheap, cacheable, and fetched by every page view.
const EXEMPT_PREFIXES: [&str; 2] = ["/static/", "/oauth2/assets/"];

static LIMITED: LazyLock<IntCounterVec> = LazyLock::new(|| {
    warga_telemetry::register(IntCounterVec::new(
        Opts::new("warga_rate_limited_total", "Requests refused by a rate limit."),
        &["class", "kind"],
    ))
});
static ERRORS: LazyLock<IntCounterVec> = LazyLock::new(|| {
    warga_telemetry::register(IntCounterVec::new(
        Opts::new(
            "warga_rate_limit_errors_total",
            "Rate-limit checks that failed open (Redis unreachable).",
        ),
        &["backend"],
    ))
});

/// GCRA in Redis: KEYS[1] the key; ARGV now, emission interval, tolerance (microseconds).
/// Returns {1, debt} when admitted, {0, wait} when refused.
const GCRA_LUA: &str = r"
local now = tonumber(ARGV[1])
local interval = tonumber(ARGV[2])
local tolerance = tonumber(ARGV[3])
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
if now < tat - tolerance then
  return {0, tat - tolerance - now}
end
local next_tat = tat + interval
redis.call('SET', KEYS[1], string.format('%d', next_tat), 'PX', math.ceil((next_tat - now) / 1000) + 1000)
return {1, next_tat - now}
";

/// The outcome of one check.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Decision {
    pub allowed: bool,
    pub limit: u32,
    pub remaining: u32,
    /// When refused: how long until the next request would be admitted.
    pub retry_after_us: i64,
}

enum Backend {
    Memory(Mutex<HashMap<String, i64>>),
    Redis {
        manager: redis::aio::ConnectionManager,
        script: redis::Script,
    },
}

/// The rate limiter of a process; cheap to clone.
#[derive(Clone)]
pub struct RateLimiter {
    inner: Arc<Inner>,
}

struct Inner {
    config: GatewayConfig,
    clock: Arc<dyn Clock>,
    backend: Backend,
}

impl RateLimiter {
    /// In memory, or in Redis when `gateway.redis_url` is set (connecting now).
    pub async fn connect(config: &GatewayConfig, clock: Arc<dyn Clock>) -> Result<RateLimiter, crate::EdgeError> {
        let backend = match &config.redis_url {
            Some(url) => {
                let client = redis::Client::open(url.expose().as_str())?;
                let manager = redis::aio::ConnectionManager::new(client).await?;
                Backend::Redis {
                    manager,
                    script: redis::Script::new(GCRA_LUA),
                }
            }
            None => Backend::Memory(Mutex::new(HashMap::new())),
        };
        LazyLock::force(&LIMITED);
        LazyLock::force(&ERRORS);
        Ok(RateLimiter {
            inner: Arc::new(Inner {
                config: config.clone(),
                clock,
                backend,
            }),
        })
    }

    pub fn backend_name(&self) -> &'static str {
        match self.inner.backend {
            Backend::Memory(_) => "memory",
            Backend::Redis { .. } => "redis",
        }
    }

    /// Counts one request of `key` against `per_minute`.
    pub async fn check(&self, key: &str, per_minute: u32) -> Decision {
        let per_minute = per_minute.max(1);
        let interval = PERIOD_US / i64::from(per_minute);
        let tolerance = PERIOD_US - interval;
        let now = self.inner.clock.now_ms() * 1_000;
        let (allowed, value) = match &self.inner.backend {
            Backend::Memory(map) => {
                let mut map = map.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
                if map.len() >= MEMORY_KEYS_SWEEP_AT {
                    map.retain(|_, tat| *tat > now);
                }
                let tat = map.get(key).copied().unwrap_or(now).max(now);
                if now < tat - tolerance {
                    (false, tat - tolerance - now)
                } else {
                    map.insert(key.to_owned(), tat + interval);
                    (true, tat + interval - now)
                }
            }
            Backend::Redis { manager, script } => {
                let mut connection = manager.clone();
                let redis_key = format!("{}:{key}", self.inner.config.redis_prefix);
                let result: Result<(i64, i64), _> = script
                    .key(redis_key)
                    .arg(now)
                    .arg(interval)
                    .arg(tolerance)
                    .invoke_async(&mut connection)
                    .await;
                match result {
                    Ok((admitted, value)) => (admitted == 1, value),
                    Err(error) => {
                        ERRORS.with_label_values(&["redis"]).inc();
                        tracing::warn!(%error, "rate limit check failed; letting the request through");
                        return Decision {
                            allowed: true,
                            limit: per_minute,
                            remaining: per_minute,
                            retry_after_us: 0,
                        };
                    }
                }
            }
        };
        if allowed {
            let remaining = ((PERIOD_US - value) / interval).clamp(0, i64::from(per_minute)) as u32;
            Decision {
                allowed,
                limit: per_minute,
                remaining,
                retry_after_us: 0,
            }
        } else {
            Decision {
                allowed,
                limit: per_minute,
                remaining: 0,
                retry_after_us: value,
            }
        }
    }

    /// The class and limit that apply to `path` for an authenticated or anonymous caller.
    fn limit_for(&self, path: &str, authenticated: bool) -> (&str, u32) {
        let config = &self.inner.config;
        let class = config
            .route_classes
            .iter()
            .filter(|c| path.starts_with(&c.path_prefix))
            .max_by_key(|c| c.path_prefix.len());
        match (class, authenticated) {
            (Some(c), true) => (&c.name, c.user_per_minute),
            (Some(c), false) => (&c.name, c.anonymous_per_minute),
            (None, true) => ("default", config.user_per_minute),
            (None, false) => ("default", config.anonymous_per_minute),
        }
    }
}

pub(crate) async fn limit(State(limiter): State<RateLimiter>, req: Request, next: Next) -> Response {
    let path = req.uri().path();
    if EXEMPT.contains(&path) || EXEMPT_PREFIXES.iter().any(|p| path.starts_with(p)) {
        return next.run(req).await;
    }
    let principal = req.extensions().get::<Principal>();
    let (class, per_minute) = limiter.limit_for(path, principal.is_some());
    let (kind, subject) = match principal {
        Some(p) => ("user", p.subject.clone()),
        None => {
            let ip = req
                .extensions()
                .get::<ConnectInfo<SocketAddr>>()
                .map(|c| c.0.ip().to_string());
            ("address", ip.unwrap_or_else(|| "unknown".into()))
        }
    };
    let class = class.to_owned();
    let decision = limiter.check(&format!("{class}:{kind}:{subject}"), per_minute).await;
    if !decision.allowed {
        LIMITED.with_label_values(&[&class, kind]).inc();
        let retry_after_s = (decision.retry_after_us + 999_999) / 1_000_000;
        let mut response = Problem::new(
            ProblemType::RateLimited,
            Some(format!(
                "at most {per_minute} requests per minute; retry in {retry_after_s} s"
            )),
        )
        .into_response();
        let headers = response.headers_mut();
        headers.insert(header::RETRY_AFTER, HeaderValue::from(retry_after_s.max(1)));
        headers.insert("ratelimit-limit", HeaderValue::from(decision.limit));
        headers.insert("ratelimit-remaining", HeaderValue::from(0));
        return response;
    }
    let mut response = next.run(req).await;
    let headers = response.headers_mut();
    headers.insert("ratelimit-limit", HeaderValue::from(decision.limit));
    headers.insert("ratelimit-remaining", HeaderValue::from(decision.remaining));
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use warga_core::time::ManualClock;

    #[tokio::test]
    async fn gcra_admits_a_burst_then_one_per_interval() {
        let clock = ManualClock::new(1_000_000);
        let limiter = RateLimiter::connect(&GatewayConfig::default(), Arc::new(clock.clone()))
            .await
            .unwrap();
        for i in 0..100 {
            let decision = limiter.check("u", 100).await;
            assert!(decision.allowed, "request {i}");
            assert_eq!(decision.remaining, 99 - i);
        }
        let refused = limiter.check("u", 100).await;
        assert!(!refused.allowed);
        assert_eq!(refused.retry_after_us, 600_000, "one request frees up every 0.6 s");
        assert!(limiter.check("other", 100).await.allowed, "keys are independent");
        clock.advance_ms(600);
        assert!(limiter.check("u", 100).await.allowed);
        assert!(!limiter.check("u", 100).await.allowed);
        clock.advance_ms(60_000);
        for _ in 0..100 {
            assert!(
                limiter.check("u", 100).await.allowed,
                "a quiet minute restores the burst"
            );
        }
    }

    #[tokio::test]
    async fn route_classes_match_the_longest_prefix() {
        let clock = Arc::new(ManualClock::new(0));
        let mut config = GatewayConfig::default();
        config.route_classes.push(warga_config::RouteClass {
            name: "token".into(),
            path_prefix: "/oauth2/token".into(),
            user_per_minute: 5,
            anonymous_per_minute: 3,
        });
        let limiter = RateLimiter::connect(&config, clock).await.unwrap();
        assert_eq!(limiter.limit_for("/oauth2/token", false), ("token", 3));
        assert_eq!(limiter.limit_for("/oauth2/authorize", false), ("sign_in", 60));
        assert_eq!(limiter.limit_for("/api/v1/x", true), ("default", 100));
        assert_eq!(limiter.limit_for("/api/v1/x", false), ("default", 120));
    }
}
