//! What a warga service is, to the process that runs it.

use std::sync::Arc;
use std::time::Duration;

use warga_auth::{KeyRing, MasterKey, Minter, Revocations, TokenValidator};
use warga_bus::{Bus, Handler};
use warga_config::Config;
use warga_store::{MigrationSet, Store};

/// Everything a service needs from the process: configuration, storage, the bus, and
/// authentication.
#[derive(Clone)]
pub struct Platform {
    pub config: Arc<Config>,
    pub store: Store,
    pub bus: Bus,
    /// Base URL clients reach this deployment at; the issuer of warga's own tokens.
    pub public_url: String,
    pub auth: AuthContext,
    pub limiter: crate::ratelimit::RateLimiter,
    /// Envelope encryption of sensitive columns and keyed hashes for lookups.
    pub vault: warga_auth::Vault,
    /// The clock of time-based rules (rate limits, lockouts, code and session expiry).
    pub clock: Arc<dyn warga_core::time::Clock>,
    /// `http.concurrency_max` requests in handlers at once; the rest wait in line.
    pub concurrency: crate::ConcurrencyLimit,
}

/// How tokens are checked, and — when warga is its own identity provider — issued.
#[derive(Clone)]
pub struct AuthContext {
    pub validator: TokenValidator,
    /// Present unless an external issuer (`identity.issuer`) is configured.
    pub local: Option<LocalIssuer>,
}

/// warga's own token issuer.
#[derive(Clone)]
pub struct LocalIssuer {
    pub minter: Minter,
    pub keyring: KeyRing,
    pub revocations: Revocations,
}

impl Platform {
    /// Assembles the platform; with no external issuer configured, opens (or creates) the
    /// master key and the keyring; with `gateway.redis_url`, connects to Redis.
    pub async fn build(
        config: Arc<Config>,
        store: Store,
        bus: Bus,
        public_url: String,
        clock: Arc<dyn warga_core::time::Clock>,
    ) -> Result<Platform, crate::EdgeError> {
        let identity = &config.identity;
        let master = Arc::new(MasterKey::load_or_create(&config)?);
        let vault = warga_auth::Vault::open_or_init(store.clone(), master.clone()).await?;
        let audience = identity.audience.clone();
        let auth = match &identity.issuer {
            Some(issuer) => AuthContext {
                validator: TokenValidator::remote(issuer, audience, identity.issuer_ca_path.as_deref())?,
                local: None,
            },
            None => {
                let longest = Duration::from_secs(identity.access_token_ttl_s.max(identity.id_token_ttl_s));
                let rotation = Duration::from_secs(identity.key_rotation_days * 86_400);
                let keyring = KeyRing::new(store.clone(), master, rotation, longest);
                let revocations = Revocations::new(store.clone());
                let validator =
                    TokenValidator::local(public_url.clone(), audience, keyring.clone(), revocations.clone());
                let minter = Minter::new(keyring.clone(), public_url.clone());
                AuthContext {
                    validator,
                    local: Some(LocalIssuer {
                        minter,
                        keyring,
                        revocations,
                    }),
                }
            }
        };
        let limiter = crate::ratelimit::RateLimiter::connect(&config.gateway, clock.clone()).await?;
        let concurrency = crate::ConcurrencyLimit::new(config.http.concurrency_max);
        Ok(Platform {
            config,
            store,
            bus,
            public_url,
            auth,
            limiter,
            vault,
            clock,
            concurrency,
        })
    }
}

/// A warga service: a library that contributes routes, an OpenAPI document, event
/// handlers and migrations. `warga up` runs all of them; `warga serve --services` any subset.
pub trait Service: Send + Sync + 'static {
    /// The name used with `serve --services`.
    fn name(&self) -> &'static str;
    /// One line describing the service, for `--help` and logs.
    fn summary(&self) -> &'static str;
    /// The service's tables, for both engines.
    fn migrations(&self) -> MigrationSet;
    /// Routes, with absolute paths (`/api/v1/<service>/…`) and state already applied.
    fn router(&self, platform: &Platform) -> axum::Router;
    /// The OpenAPI description of [`Service::router`].
    fn openapi(&self) -> utoipa::openapi::OpenApi;
    /// Durable event consumers; they run where background workers are enabled.
    fn handlers(&self, platform: &Platform) -> Vec<Arc<dyn Handler>>;
    /// The service's own configuration sections, registered so that the loader reads,
    /// checks and prints them (`[population]`, …); none by default.
    fn sections(&self, sections: warga_config::Sections) -> warga_config::Sections {
        sections
    }
    /// Work the service does on its own schedule (durable timers, sweeps); it runs where
    /// background workers are enabled, beside the event consumers. None by default.
    fn jobs(&self, _platform: &Platform) -> Vec<Arc<dyn Job>> {
        Vec::new()
    }
    /// Example data for `warga up --demo`, after the demo accounts exist; running it again
    /// changes nothing. None by default.
    fn seed_demo<'a>(
        &'a self,
        _platform: &'a Platform,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), String>> + Send + 'a>> {
        Box::pin(async { Ok(()) })
    }
}

/// A periodic job: [`Job::run`] is called every [`Job::interval`] until shutdown. Its state
/// lives in the database (leases, not memory), so any number of processes may run it.
#[async_trait::async_trait]
pub trait Job: Send + Sync + 'static {
    /// For logs: lowercase, `-` between words.
    fn name(&self) -> &'static str;
    fn interval(&self) -> std::time::Duration;
    /// One pass; returns how many items it handled (for the log).
    async fn run(&self) -> Result<usize, String>;
}

/// Runs `jobs` until `stop` is cancelled; each pass's failure is logged, and the next pass
/// comes at the job's interval. A pass in progress finishes before the task ends.
pub fn spawn_jobs(
    jobs: Vec<Arc<dyn Job>>,
    stop: tokio_util::sync::CancellationToken,
) -> Vec<tokio::task::JoinHandle<()>> {
    jobs.into_iter()
        .map(|job| {
            let stop = stop.clone();
            tokio::spawn(async move {
                tracing::info!(
                    job = job.name(),
                    interval_ms = job.interval().as_millis() as u64,
                    "job started"
                );
                loop {
                    match job.run().await {
                        Ok(0) => {}
                        Ok(done) => tracing::info!(job = job.name(), done, "job pass"),
                        Err(error) => {
                            tracing::warn!(job = job.name(), %error, "job pass failed; retrying at the next interval")
                        }
                    }
                    tokio::select! {
                        () = stop.cancelled() => break,
                        () = tokio::time::sleep(job.interval()) => {}
                    }
                }
                tracing::info!(job = job.name(), "job stopped");
            })
        })
        .collect()
}
