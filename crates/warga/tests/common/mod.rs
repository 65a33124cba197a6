//! Test harness: a warga application on port 0 with a fresh database, and an HTTPS client
//! that trusts the certificate warga generated for it.

#![allow(dead_code)]

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use tokio_util::sync::CancellationToken;
use warga_bus::{Bus, Handler, Workers};
use warga_config::Config;
use warga_http::server::Server;
use warga_http::{Platform, Service};
use warga_store::testing::TestDb;

#[derive(Clone, Copy, Debug)]
pub enum Engine {
    Sqlite,
    Postgres,
}

pub struct TestApp {
    pub url: String,
    pub client: reqwest::Client,
    pub db: TestDb,
    pub platform: Platform,
    pub server: Option<Server>,
    pub workers: Option<Workers>,
    pub dir: tempfile::TempDir,
    /// The clock of lockouts, codes and sessions; starts at the wall clock.
    pub clock: warga_core::time::ManualClock,
}

pub fn services() -> Vec<Arc<dyn Service>> {
    vec![
        Arc::new(warga_identity::IdentityService),
        Arc::new(warga_web::WebService),
        Arc::new(warga_population::PopulationService),
        Arc::new(warga_system::SystemService),
    ]
}

/// Starts the system service plus `extra` routes and `handlers`; `None` when the engine is
/// not configured (the test is skipped).
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
    warga_telemetry::init_for_tests();
    let _ = rustls::crypto::ring::default_provider().install_default();
    let clock = warga_core::time::ManualClock::new(warga_core::time::now_ms());
    let mut migrations = vec![warga_auth::MIGRATIONS];
    migrations.extend(services().iter().map(|s| s.migrations()));
    let db = match engine {
        Engine::Sqlite => TestDb::sqlite(&migrations).await,
        Engine::Postgres => TestDb::postgres(&migrations).await?,
    };
    let dir = tempfile::tempdir().unwrap();
    let mut config = Config {
        data_dir: dir.path().to_path_buf(),
        ..Config::default()
    };
    config.http.listen = "127.0.0.1:0".parse().unwrap();
    let listener = warga_http::server::bind(config.http.listen).unwrap();
    let port = listener.local_addr().unwrap().port();
    config.http.public_url = Some(format!("https://localhost:{port}"));
    config.http.body_limit_bytes = 64 * 1024;
    config.http.shutdown_grace_ms = 10_000;
    config.bus.poll_interval_ms = 50;
    tune(&mut config);
    let config = Arc::new(config);
    let bus = Bus::connect(&config.bus, db.store.clone()).await.unwrap();
    let public_url = config.http.public_url.clone().unwrap();
    let platform = Platform::build(
        config.clone(),
        db.store.clone(),
        bus.clone(),
        public_url,
        Arc::new(clock.clone()),
    )
    .await
    .unwrap();
    let services = services();
    let tls = warga_http::tls::load_or_generate(&config).unwrap();
    let app = warga_http::app_with(&platform, &services, extra);
    let server = warga_http::server::serve(listener, &tls, app).unwrap();
    let mut all_handlers: Vec<Arc<dyn Handler>> = services.iter().flat_map(|s| s.handlers(&platform)).collect();
    all_handlers.extend(handlers);
    let workers = bus.start_workers(all_handlers, CancellationToken::new()).await.unwrap();
    Some(TestApp {
        url: format!("https://localhost:{}", server.local_addr.port()),
        client: client_trusting(&tls.cert_path),
        db,
        platform,
        server: Some(server),
        workers: Some(workers),
        dir,
        clock,
    })
}

/// An HTTPS client that trusts exactly the certificate at `cert_path`.
pub fn client_trusting(cert_path: &Path) -> reqwest::Client {
    client_builder_trusting(cert_path).build().unwrap()
}

/// As [`client_trusting`], to be configured further (e.g. not to follow redirects).
pub fn client_builder_trusting(cert_path: &Path) -> reqwest::ClientBuilder {
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
    tls.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
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

    pub async fn shutdown(&mut self) {
        if let Some(server) = self.server.take() {
            server.shutdown(Duration::from_secs(10)).await.unwrap();
        }
        if let Some(workers) = self.workers.take() {
            workers.shutdown().await;
        }
    }
}

/// Polls `done` every 50 ms until it holds or `timeout` passes.
pub async fn wait_for<F, Fut>(what: &str, timeout: Duration, mut done: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    while !done().await {
        assert!(tokio::time::Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
