//! Per-user and per-address rate limits over a rolling minute, shared through Redis across
//! replicas.
//!
//! "N requests per minute" holds in every window of 60 seconds, wherever it starts: each key
//! keeps the times of its admitted requests of the last minute (a sliding log, at most N
//! times), and a request is admitted only while fewer than N fall in the 60 seconds before
//! it. (A token bucket or GCRA with a burst of N would let up to 2N through in the first
//! minute: the burst, then its refill.) In Redis the log is a sorted set updated by one Lua
//! script, so replicas share it atomically. Authenticated requests are counted per account —
//! a bearer token's subject, or the account of a web session when the web service taught the
//! limiter its sessions ([`SessionSubject`]) — and anonymous ones per client address;
//! route classes (longest path prefix) carry their own limits. Probes (`/healthz`,
//! `/readyz`, `/metrics`) and static assets are never limited. A refused request gets 429 with `Retry-After`.
//! If Redis cannot be reached the request is let through (fail open) and counted in
//! `warga_rate_limit_errors_total`: the limiter protects the services, it must not take
//! them down.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, LazyLock, Mutex};

use axum::extract::{Request, State};
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::Response;
use prometheus::{IntCounterVec, Opts};
use warga_config::GatewayConfig;
use warga_core::identity::Principal;
use warga_core::time::Clock;

use crate::client::ClientAddr;
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

/// The rolling log in Redis: KEYS[1] a sorted set of admitted times; ARGV now (µs), the
/// window (µs), the limit, and a member unique to this request. Returns {1, admitted in the
/// window including this one} when admitted, {0, µs until the oldest leaves} when refused.
const WINDOW_LUA: &str = r"
local now = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local limit = tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
local count = redis.call('ZCARD', KEYS[1])
if count < limit then
  redis.call('ZADD', KEYS[1], now, ARGV[4])
  redis.call('PEXPIRE', KEYS[1], math.ceil(window / 1000) + 1000)
  return {1, count + 1}
end
local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
return {0, tonumber(oldest[2]) + window - now}
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
    /// Per key, the admitted times of the last window, oldest first.
    Memory(Mutex<HashMap<String, VecDeque<i64>>>),
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
    sessions: std::sync::OnceLock<Arc<dyn SessionSubject>>,
}

/// The account a request's web session (its cookies) belongs to, when the session is valid.
/// With it, signed-in pages count against their account's budget, as API calls with a bearer
/// token do, rather than their client address's (an office behind one NAT address would
/// otherwise share one anonymous budget). The web service, which owns sessions, provides it.
pub trait SessionSubject: Send + Sync {
    fn subject<'a>(
        &'a self,
        cookies: &'a axum::http::HeaderMap,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Option<String>> + Send + 'a>>;
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
                    script: redis::Script::new(WINDOW_LUA),
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
                sessions: std::sync::OnceLock::new(),
            }),
        })
    }

    /// Lets requests with a valid web session count per account (see [`SessionSubject`]);
    /// the first registration holds.
    pub fn recognise_sessions(&self, sessions: Arc<dyn SessionSubject>) {
        let _ = self.inner.sessions.set(sessions);
    }

    pub fn backend_name(&self) -> &'static str {
        match self.inner.backend {
            Backend::Memory(_) => "memory",
            Backend::Redis { .. } => "redis",
        }
    }

    /// Counts one request of `key` against `per_minute`, over the rolling minute before now.
    pub async fn check(&self, key: &str, per_minute: u32) -> Decision {
        static SEQUENCE: AtomicU64 = AtomicU64::new(0);
        let per_minute = per_minute.max(1);
        let limit = per_minute as usize;
        let now = self.inner.clock.now_ms() * 1_000;
        // Admitted: how many the window holds with this one. Refused: µs until one leaves.
        let (allowed, value) = match &self.inner.backend {
            Backend::Memory(map) => {
                let mut map = map.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
                if map.len() >= MEMORY_KEYS_SWEEP_AT {
                    map.retain(|_, log| log.back().is_some_and(|last| *last > now - PERIOD_US));
                }
                let log = map.entry(key.to_owned()).or_default();
                while log.front().is_some_and(|oldest| *oldest <= now - PERIOD_US) {
                    log.pop_front();
                }
                match log.front() {
                    Some(oldest) if log.len() >= limit => (false, oldest + PERIOD_US - now),
                    _ => {
                        log.push_back(now);
                        (true, log.len() as i64)
                    }
                }
            }
            Backend::Redis { manager, script } => {
                let mut connection = manager.clone();
                let redis_key = format!("{}:{key}", self.inner.config.redis_prefix);
                let member = format!(
                    "{now}-{}-{}",
                    std::process::id(),
                    SEQUENCE.fetch_add(1, Ordering::Relaxed)
                );
                let result: Result<(i64, i64), _> = script
                    .key(redis_key)
                    .arg(now)
                    .arg(PERIOD_US)
                    .arg(per_minute)
                    .arg(member)
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
        Decision {
            allowed,
            limit: per_minute,
            remaining: if allowed {
                (i64::from(per_minute) - value).max(0) as u32
            } else {
                0
            },
            retry_after_us: if allowed { 0 } else { value.max(0) },
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
    let path = path.to_owned();
    let mut account = req.extensions().get::<Principal>().map(|p| p.subject.clone());
    if account.is_none()
        && let Some(sessions) = limiter.inner.sessions.get()
        && req.headers().contains_key(header::COOKIE)
    {
        let mut cookies = axum::http::HeaderMap::new();
        for value in req.headers().get_all(header::COOKIE) {
            cookies.append(header::COOKIE, value.clone());
        }
        account = sessions.subject(&cookies).await;
    }
    let (class, per_minute) = limiter.limit_for(&path, account.is_some());
    let (kind, subject) = match account {
        Some(account) => ("user", account),
        None => {
            let ip = req.extensions().get::<ClientAddr>().map(|c| c.0.to_string());
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
                "at most {per_minute} requests in any 60 seconds; retry in {retry_after_s} s"
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
    async fn no_rolling_minute_admits_more_than_the_limit() {
        let clock = ManualClock::new(1_000_000);
        let limiter = RateLimiter::connect(&GatewayConfig::default(), Arc::new(clock.clone()))
            .await
            .unwrap();
        // 100 at once: the 101st waits for the first to leave the window, a minute later.
        for i in 0..100 {
            let decision = limiter.check("u", 100).await;
            assert!(decision.allowed, "request {i}");
            assert_eq!(decision.remaining, 99 - i);
        }
        let refused = limiter.check("u", 100).await;
        assert!(!refused.allowed);
        assert_eq!(refused.retry_after_us, 60_000_000);
        assert!(limiter.check("other", 100).await.allowed, "keys are independent");
        // A bucket would refill here (one per 0.6 s); the rolling minute does not.
        clock.advance_ms(30_000);
        assert!(!limiter.check("u", 100).await.allowed);
        clock.advance_ms(29_999);
        assert_eq!(limiter.check("u", 100).await.retry_after_us, 1_000);
        clock.advance_ms(1);
        for _ in 0..100 {
            assert!(limiter.check("u", 100).await.allowed, "the first 100 left the window");
        }
        assert!(!limiter.check("u", 100).await.allowed);
    }

    #[tokio::test]
    async fn a_steady_caller_never_gets_more_than_the_limit_in_any_window() {
        // One request every 250 ms for five minutes, against 100 per minute: whatever was
        // admitted, every 60-second window holds at most 100 of them.
        let clock = ManualClock::new(0);
        let limiter = RateLimiter::connect(&GatewayConfig::default(), Arc::new(clock.clone()))
            .await
            .unwrap();
        let mut admitted = Vec::new();
        for step in 0..1_200_i64 {
            if limiter.check("steady", 100).await.allowed {
                admitted.push(step * 250);
            }
            clock.advance_ms(250);
        }
        for (i, start) in admitted.iter().enumerate() {
            let in_window = admitted[i..].iter().take_while(|t| **t < start + 60_000).count();
            assert!(in_window <= 100, "{in_window} in the minute from {start} ms");
        }
        assert_eq!(admitted.len(), 500, "100 in each of the five minutes");
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
