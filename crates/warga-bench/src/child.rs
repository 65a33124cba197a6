//! The warga under test: a `warga up` child process on a fresh database (a SQLite file in a
//! temporary directory, or a new PostgreSQL database created for the run and dropped
//! afterwards), prepared through the same libraries as the CLI before it starts; and what
//! the load generators share (an HTTPS client trusting its certificate, percentiles,
//! pgbench as a reference).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, anyhow};
use sqlx::Row;
use warga_store::Store;

pub(crate) fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

pub(crate) fn free_port() -> anyhow::Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(listener.local_addr()?.port())
}

/// `url` with its database name replaced.
fn with_database(url: &str, database: &str) -> String {
    let (base, query) = url.split_once('?').map_or((url, None), |(b, q)| (b, Some(q)));
    let after_scheme = base.find("://").map_or(0, |i| i + 3);
    let host_end = base[after_scheme..].find('/').map_or(base.len(), |i| i + after_scheme);
    match query {
        Some(query) => format!("{}/{database}?{query}", &base[..host_end]),
        None => format!("{}/{database}", &base[..host_end]),
    }
}

/// The warga under test: a child process and how to reach its database.
pub(crate) struct Target {
    pub(crate) child: Option<tokio::process::Child>,
    pub(crate) url: String,
    pub(crate) cert: PathBuf,
    pub(crate) store: Store,
    /// What the child runs with, for this process's own use of its data.
    pub(crate) config: warga_config::Config,
    pub(crate) config_path: PathBuf,
    pub(crate) database_url: String,
    /// The database to drop afterwards (PostgreSQL).
    pub(crate) drop: Option<(String, String)>,
    pub(crate) secrets: Vec<(String, String)>,
    pub(crate) dir: tempfile::TempDir,
}

impl Target {
    /// A data directory, a database with the schema, and the child's configuration file
    /// (`extra_toml` appended; the ledger network inside `up` on free ports, or none); the
    /// child is not started yet.
    pub(crate) async fn prepare(postgres_url: Option<&str>, extra_toml: &str, ledger: bool) -> anyhow::Result<Target> {
        Target::prepare_in(postgres_url, extra_toml, ledger, None).await
    }

    /// As [`Target::prepare`], the data directory at `data_dir` when given (e.g. on a small
    /// filesystem of its own).
    pub(crate) async fn prepare_in(
        postgres_url: Option<&str>,
        extra_toml: &str,
        ledger: bool,
        data_dir: Option<&Path>,
    ) -> anyhow::Result<Target> {
        let dir = tempfile::tempdir()?;
        let data_dir = data_dir.map_or_else(|| dir.path().join("data"), Path::to_path_buf);
        let port = free_port()?;
        let (database_url, drop) = match postgres_url {
            // The embedded default: `data_dir/warga.db`.
            None => (String::new(), None),
            Some(server) => {
                let name = format!("warga_bench_{}", std::process::id());
                let mut admin = <sqlx::PgConnection as sqlx::Connection>::connect(server)
                    .await
                    .context("connecting to the PostgreSQL server")?;
                sqlx::query(&format!("DROP DATABASE IF EXISTS {name}"))
                    .execute(&mut admin)
                    .await?;
                sqlx::query(&format!("CREATE DATABASE {name}"))
                    .execute(&mut admin)
                    .await?;
                (with_database(server, &name), Some((server.to_owned(), name)))
            }
        };
        let config_path = dir.path().join("bench.toml");
        let database = if database_url.is_empty() {
            String::new()
        } else {
            format!("[database]\nurl = {database_url:?}\n")
        };
        let toml = format!(
            "data_dir = {data:?}\n[http]\nlisten = \"127.0.0.1:{port}\"\nconcurrency_max = 1024\n{database}\
             [gateway]\nuser_per_minute = 10000000\n[telemetry]\nlog_level = \"warn\"\n\
             [ledger]\nenabled = {ledger}\nephemeral_ports = true\n{extra_toml}",
            data = data_dir.display().to_string(),
        );
        std::fs::write(&config_path, toml)?;

        // The configuration is this run's alone: `WARGA_…` variables of the caller's
        // environment (which might name a production database) reach neither this process's
        // store nor the child.
        let mut config = warga_config::Config::default();
        config.data_dir = data_dir.clone();
        config.http.listen = format!("127.0.0.1:{port}").parse()?;
        if !database_url.is_empty() {
            config.database.url = Some(warga_config::Secret::new(database_url.clone()));
        }
        let store = Store::connect(&config).await?;
        store.migrate(&warga_app::services::migrations()).await?;
        Ok(Target {
            child: None,
            url: format!("https://127.0.0.1:{port}"),
            cert: data_dir.join("tls/cert.pem"),
            store,
            config,
            config_path,
            database_url,
            drop,
            secrets: Vec::new(),
            dir,
        })
    }

    /// Starts `warga up` (this executable) on the prepared configuration.
    pub(crate) fn spawn(&mut self) -> anyhow::Result<()> {
        let exe = std::env::current_exe()?;
        let log = std::fs::File::create(self.dir.path().join("warga.log"))?;
        let mut command = tokio::process::Command::new(exe);
        for (key, _) in std::env::vars().filter(|(k, _)| k.starts_with(warga_config::ENV_PREFIX)) {
            command.env_remove(key);
        }
        let child = command
            .arg("--config")
            .arg(&self.config_path)
            .arg("up")
            .current_dir(self.dir.path())
            .stdout(log.try_clone()?)
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .context("starting warga up")?;
        self.child = Some(child);
        Ok(())
    }

    /// Stops the child (SIGTERM, then waits up to 15 s) and closes this process's store.
    pub(crate) async fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = std::process::Command::new("kill")
                .arg("-TERM")
                .arg(child.id().map(|p| p.to_string()).unwrap_or_default())
                .status();
            let _ = tokio::time::timeout(Duration::from_secs(15), child.wait()).await;
        }
        self.store.close().await;
    }

    /// Drops the run's PostgreSQL database.
    pub(crate) async fn drop_database(&self) {
        if let Some((server, name)) = &self.drop
            && let Ok(mut admin) = <sqlx::PgConnection as sqlx::Connection>::connect(server).await
        {
            let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                .execute(&mut admin)
                .await;
        }
    }
}

pub(crate) fn https_client(cert: &Path) -> anyhow::Result<reqwest::Client> {
    let pem = std::fs::read(cert)?;
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_pemfile_certs(&pem)? {
        roots.add(cert)?;
    }
    let mut tls = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth();
    tls.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(reqwest::Client::builder()
        .use_preconfigured_tls(tls)
        .timeout(Duration::from_secs(120))
        .pool_max_idle_per_host(1024)
        .build()?)
}

fn rustls_pemfile_certs(pem: &[u8]) -> anyhow::Result<Vec<rustls::pki_types::CertificateDer<'static>>> {
    use rustls::pki_types::pem::PemObject;
    Ok(rustls::pki_types::CertificateDer::pem_slice_iter(pem).collect::<Result<Vec<_>, _>>()?)
}

pub(crate) async fn wait_ready(target: &mut Target) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(child) = target.child.as_mut()
            && let Some(status) = child.try_wait()?
        {
            return Err(anyhow!("warga up exited early ({status})"));
        }
        if target.cert.exists()
            && let Ok(client) = https_client(&target.cert)
            && let Ok(response) = client.get(format!("{}/readyz", target.url)).send().await
            && response.status().is_success()
        {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(anyhow!("warga up did not become ready within 60 s"));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

pub(crate) async fn scalar(store: &Store, sql: &str) -> anyhow::Result<i64> {
    Ok(sqlx::query(sql).fetch_one(store.reader()).await?.get::<i64, _>(0))
}

/// pgbench: single-row inserts, `clients` connections, on the bench database.
pub(crate) fn pgbench(database_url: &str, clients: usize, seconds: u32) -> anyhow::Result<f64> {
    let dir = tempfile::tempdir()?;
    let script = dir.path().join("insert.sql");
    std::fs::write(
        &script,
        "INSERT INTO bench_insert (payload) VALUES (md5(random()::text));\n",
    )?;
    let setup = std::process::Command::new("psql")
        .args([
            database_url,
            "-qc",
            "CREATE TABLE IF NOT EXISTS bench_insert (id BIGSERIAL PRIMARY KEY, payload TEXT NOT NULL)",
        ])
        .status()
        .context("running psql (install postgresql-client)")?;
    if !setup.success() {
        return Err(anyhow!("psql could not create the pgbench table"));
    }
    let output = std::process::Command::new("pgbench")
        .args([
            "-n",
            "-j",
            "2",
            "-c",
            &clients.to_string(),
            "-T",
            &seconds.to_string(),
            "-f",
        ])
        .arg(&script)
        .arg(database_url)
        .output()
        .context("running pgbench (install postgresql-contrib or postgresql-client)")?;
    let text = String::from_utf8_lossy(&output.stdout);
    text.lines()
        .find(|l| l.starts_with("tps = "))
        .and_then(|l| l["tps = ".len()..].split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| {
            anyhow!(
                "pgbench printed no tps: {text} {}",
                String::from_utf8_lossy(&output.stderr)
            )
        })
}

/// The platform of `config`, opened in this process, and its own token minter: tokens it
/// mints are the ones its sign-in would issue. Close `platform.store` when done.
pub(crate) async fn platform_minter(
    config: warga_config::Config,
) -> anyhow::Result<(warga_http::Platform, warga_auth::Minter)> {
    let platform = warga_app::open_platform(config).await?;
    let minter = platform
        .auth
        .local
        .as_ref()
        .map(|local| local.minter.clone())
        .ok_or_else(|| anyhow!("no local token issuer"))?;
    Ok((platform, minter))
}
