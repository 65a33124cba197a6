//! The test kit: what every warga test needs to run the platform for real.
//!
//! - [`spawn_app`] / [`spawn_app_with`]: every service composed by `warga-app` on a
//!   listener bound before anything starts (no port is ever given up and taken again), a
//!   fresh database per test — SQLite, or PostgreSQL when `WARGA_TEST_POSTGRES_URL` is set
//!   (with `CI=true` a missing engine fails the test; elsewhere the test is skipped) — a
//!   manual clock, and event workers;
//! - [`client_trusting`]: an HTTPS client that trusts exactly the certificate the app made;
//! - [`wait_for`]: waiting for an eventually consistent effect (a consumer's write) with a
//!   deadline, for checks that have no event to wait on.
//!
//! Test output (logs) appears only when `TEST_LOG` is set.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test kit fails loudly

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use warga_bus::Handler;
use warga_config::Config;
use warga_http::Platform;
use warga_store::testing::TestDb;

pub use warga_app::Running;
/// An engine's URL from `WARGA_TEST_…`; `None` (the test says it skipped) when unset, a
/// failure under `CI=true`.
pub use warga_store::testing::engine_url;

/// The database engine a test runs on.
#[derive(Clone, Copy, Debug)]
pub enum Engine {
    Sqlite,
    Postgres,
}

/// A running platform for one test.
pub struct TestApp {
    /// `https://localhost:PORT` (the certificate's name).
    pub url: String,
    pub client: reqwest::Client,
    pub db: TestDb,
    pub platform: Platform,
    /// The running platform, until [`TestApp::shutdown`] (or a test) takes it.
    pub running: Option<Running>,
    pub dir: tempfile::TempDir,
    /// The clock of lockouts, codes and sessions; starts at the wall clock.
    pub clock: warga_core::time::ManualClock,
}

/// Starts every service plus `extra` routes and `handlers`; `None` when the engine is not
/// configured (the test is skipped).
pub async fn spawn_app(engine: Engine, extra: Router, handlers: Vec<Arc<dyn Handler>>) -> Option<TestApp> {
    spawn_app_with(engine, extra, handlers, |_| {}).await
}

/// As [`spawn_app`], with the configuration adjusted by `tune` first.
pub async fn spawn_app_with(
    engine: Engine,
    extra: Router,
    handlers: Vec<Arc<dyn Handler>>,
    tune: impl FnOnce(&mut Config),
) -> Option<TestApp> {
    spawn(engine, warga_app::Mode::Serve, extra, handlers, tune).await
}

/// Every service and the embedded ledger network, as `warga up` runs them — its orderers,
/// a peer and a CA per organisation, on free ports of 127.0.0.1 — with the configuration
/// adjusted by `tune` first.
pub async fn spawn_up(engine: Engine, tune: impl FnOnce(&mut Config)) -> Option<TestApp> {
    spawn(engine, warga_app::Mode::Up, Router::new(), Vec::new(), |config| {
        let ledger = config.section_mut::<warga_ledger_node::settings::LedgerConfig>();
        ledger.enabled = true;
        ledger.ephemeral_ports = true;
        tune(config);
    })
    .await
}

/// As [`spawn_up`], seeded as `warga up --demo` seeds.
pub async fn spawn_up_demo(engine: Engine) -> Option<TestApp> {
    spawn(engine, warga_app::Mode::Demo, Router::new(), Vec::new(), |config| {
        let ledger = config.section_mut::<warga_ledger_node::settings::LedgerConfig>();
        ledger.enabled = true;
        ledger.ephemeral_ports = true;
    })
    .await
}

async fn spawn(
    engine: Engine,
    mode: warga_app::Mode,
    extra: Router,
    handlers: Vec<Arc<dyn Handler>>,
    tune: impl FnOnce(&mut Config),
) -> Option<TestApp> {
    warga_telemetry::init_for_tests();
    let _ = rustls::crypto::ring::default_provider().install_default();
    let clock = warga_core::time::ManualClock::new(warga_core::time::now_ms());
    let migrations = warga_app::services::migrations();
    let db = match engine {
        Engine::Sqlite => TestDb::sqlite(&migrations).await,
        Engine::Postgres => TestDb::postgres(&migrations).await?,
    };
    let dir = tempfile::tempdir().unwrap();
    let (mut config, listener) = test_config(dir.path());
    let port = listener.local_addr().unwrap().port();
    tune(&mut config);
    let running = warga_app::Launch::new(config, warga_app::services::all(), mode)
        .clock(Arc::new(clock.clone()))
        .store(db.store.clone())
        .listener(listener)
        .routes(extra)
        .handlers(handlers)
        .bootstrap_admin(false)
        .start()
        .await
        .unwrap();
    Some(TestApp {
        url: format!("https://localhost:{port}"),
        client: client_trusting(&running.tls.cert_path),
        db,
        platform: running.platform.clone(),
        running: Some(running),
        dir,
        clock,
    })
}

/// The test kit's configuration under `dir`, and the listener it names (bound here, served
/// by the app: the port is known before anything starts).
fn test_config(dir: &Path) -> (Config, std::net::TcpListener) {
    let mut config = Config::default();
    config.data_dir = dir.to_path_buf();
    let listener = warga_http::server::bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let port = listener.local_addr().unwrap().port();
    config.http.listen = listener.local_addr().unwrap();
    config.http.public_url = Some(format!("https://localhost:{port}"));
    config.http.body_limit_bytes = 64 * 1024;
    config.http.shutdown_grace_ms = 10_000;
    config.bus.poll_interval_ms = 50;
    config
        .section_mut::<warga_ledger_node::settings::LedgerConfig>()
        .enabled = false;
    (config, listener)
}

/// Another process of the same deployment as `app`: the composed platform on `app`'s
/// database and data directory (so its master key and certificate), with its own listener
/// (`tune` adjusts it first). Stop it with `Running::shutdown`.
pub async fn start_replica(app: &TestApp, tune: impl FnOnce(&mut Config)) -> Running {
    let (mut config, listener) = test_config(app.dir.path());
    tune(&mut config);
    warga_app::Launch::new(config, warga_app::services::all(), warga_app::Mode::Serve)
        .clock(Arc::new(app.clock.clone()))
        .store(app.db.store.clone())
        .listener(listener)
        .bootstrap_admin(false)
        .start()
        .await
        .unwrap()
}

/// An HTTPS client that trusts exactly the certificate at `cert_path`.
pub fn client_trusting(cert_path: &Path) -> reqwest::Client {
    client_builder_trusting(cert_path).build().unwrap()
}

/// As [`client_trusting`], speaking HTTP/1.1 only (ALPN offers nothing else).
pub fn http1_client_trusting(cert_path: &Path) -> reqwest::Client {
    builder_with_alpn(cert_path, vec![b"http/1.1".to_vec()])
        .http1_only()
        .build()
        .unwrap()
}

/// As [`client_trusting`], to be configured further (e.g. not to follow redirects).
pub fn client_builder_trusting(cert_path: &Path) -> reqwest::ClientBuilder {
    builder_with_alpn(cert_path, vec![b"h2".to_vec(), b"http/1.1".to_vec()])
}

fn builder_with_alpn(cert_path: &Path, alpn: Vec<Vec<u8>>) -> reqwest::ClientBuilder {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(cert_path).unwrap() {
        roots.add(cert.unwrap()).unwrap();
    }
    let mut tls = rustls::ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth();
    tls.alpn_protocols = alpn;
    reqwest::Client::builder()
        .use_preconfigured_tls(tls)
        .timeout(Duration::from_secs(30))
}

impl TestApp {
    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client.get(format!("{}{path}", self.url)).send().await.unwrap()
    }

    /// An access token minted by this app's issuer for `subject` with `roles`.
    pub async fn token(&self, subject: &str, roles: &[&str]) -> String {
        let claims = warga_auth::AccessClaims {
            roles: roles.iter().map(|r| r.to_string()).collect(),
            ..warga_auth::AccessClaims::new(subject, &self.platform.config.identity.audience)
        };
        self.token_with(claims).await
    }

    /// An access token for exactly these claims.
    pub async fn token_with(&self, claims: warga_auth::AccessClaims) -> String {
        let local = self.platform.auth.local.clone().expect("a local issuer");
        local.minter.access_token(claims, 3_600).await.unwrap().token
    }

    /// A token of a monitoring service account (role `service`).
    pub async fn operator_token(&self) -> String {
        self.token("monitor", &["service"]).await
    }

    /// GET as the monitoring service account.
    pub async fn get_as_operator(&self, path: &str) -> reqwest::Response {
        let token = self.operator_token().await;
        self.client
            .get(format!("{}{path}", self.url))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
    }

    /// POSTs JSON as the monitoring service account.
    pub async fn post_json(&self, path: &str, body: &str) -> reqwest::Response {
        let token = self.operator_token().await;
        self.client
            .post(format!("{}{path}", self.url))
            .bearer_auth(token)
            .header("content-type", "application/json")
            .body(body.to_owned())
            .send()
            .await
            .unwrap()
    }

    /// Waits until every event committed so far has been published and handled by every
    /// consumer — the positive marker before checking that nothing more happens.
    pub async fn settled(&self) {
        let running = self.running.as_ref().expect("the app is running");
        wait_for("every event handled", Duration::from_secs(30), || async {
            running.events_in_flight().await.unwrap() == 0
        })
        .await;
    }

    /// Stops the platform (requests drained, workers finished) if a test has not already.
    pub async fn shutdown(&mut self) {
        if let Some(running) = self.running.take() {
            running.shutdown(Duration::from_secs(10)).await.unwrap();
        }
    }
}

/// Waits until `done` holds, checking again after each short pause, and fails the test
/// naming `what` if it does not within `timeout`. For effects that have no event to wait on
/// (a consumer's write seen through the API); never for a fixed delay.
pub async fn wait_for<F, Fut>(what: &str, timeout: Duration, mut done: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    while !done().await {
        assert!(tokio::time::Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A port for a child process to bind later (a network file's addresses must be known
/// before its nodes start). It lies below the kernel's ephemeral range (32768–60999 on
/// Linux), so no `bind(…:0)` anywhere can be handed it in the meantime, and this process
/// never gives it out twice; it is free when returned. Processes start at different points
/// of the range (by process id), so two test binaries rarely meet.
pub fn port_for_child() -> u16 {
    use std::sync::atomic::{AtomicU32, Ordering};
    const FIRST: u32 = 20_000;
    const SPAN: u32 = 12_000;
    static NEXT: AtomicU32 = AtomicU32::new(u32::MAX);
    let _ = NEXT.compare_exchange(
        u32::MAX,
        (std::process::id() * 97) % SPAN,
        Ordering::SeqCst,
        Ordering::SeqCst,
    );
    for _ in 0..SPAN {
        let offset = NEXT.fetch_add(1, Ordering::SeqCst) % SPAN;
        let port = u16::try_from(FIRST + offset).expect("below 32768");
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free port between {FIRST} and {}", FIRST + SPAN);
}
