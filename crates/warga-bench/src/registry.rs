//! `warga bench registry`: the population seed's load test — thousands of concurrent
//! registrations through HTTPS with real tokens — against a warga started for the run.
//!
//! The run starts `warga up` as a child process on a fresh database (a SQLite file in a
//! temporary directory, or a new PostgreSQL database created on the given server and dropped
//! afterwards), registers confidential clients with the `registry_officer` role and a
//! registry desk per regency used, then:
//!
//! 1. takes a token per client from the token endpoint (client credentials, over HTTPS);
//! 2. for each concurrency level, sends registrations with valid, unique NIKs spread over ten
//!    provinces, timing each request;
//! 3. waits until the statistics consumer and the officer notifier have caught up, and checks
//!    consistency in the database: one resident, one statistics increment and one SMS per
//!    accepted registration, nothing for refused ones, and `stats rebuild` agreeing;
//! 4. on PostgreSQL, runs `pgbench` with single-row inserts on the same server and reports
//!    our throughput as a ratio to it.
//!
//! The gateway's per-user limit is raised for the child (the limiter still runs on every
//! request): this measures registration throughput, not the limiter's refusals.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, anyhow};
use sqlx::Row;
use tokio::sync::Semaphore;
use warga_population::regions::REGIONS;
use warga_store::Store;

use crate::BenchError;

/// What to run.
#[derive(Debug, Clone)]
pub struct RegistryBench {
    /// `None`: SQLite. `Some(url)`: a PostgreSQL server (any database on it; the run creates
    /// its own and drops it).
    pub postgres_url: Option<String>,
    /// Registrations per concurrency level.
    pub count: usize,
    /// Requests in flight at once; one measurement per value.
    pub concurrency: Vec<usize>,
    /// API clients (each with its own token and connection).
    pub clients: usize,
    /// Seconds of pgbench.
    pub pgbench_seconds: u32,
}

/// One measured level.
struct Level {
    concurrency: usize,
    ok: usize,
    errors: usize,
    elapsed: Duration,
    latencies_ms: Vec<f64>,
}

pub(crate) fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

/// The `n`-th registration: a valid NIK (unique per `n` below 16,800 per district), spread
/// over ten provinces, alternating sex.
fn resident(n: usize, districts: &[String]) -> serde_json::Value {
    let district = &districts[n % districts.len()];
    let k = n / districts.len();
    let (year, month, day) = (1950 + k % 50, 1 + (k / 50) % 12, 1 + (k / 600) % 28);
    let serial = 1 + k / 16_800;
    let female = n % 2 == 1;
    let nik = format!(
        "{district}{:02}{month:02}{:02}{serial:04}",
        day + if female { 40 } else { 0 },
        year % 100
    );
    const GIVEN: [&str; 8] = ["Siti", "Budi", "Dewi", "Agus", "Rina", "Made", "Putri", "Yusuf"];
    const FAMILY: [&str; 6] = ["Santoso", "Wijaya", "Lestari", "Hidayat", "Saragih", "Pratama"];
    serde_json::json!({
        "nik": nik,
        "full_name": format!("{} {} {n}", GIVEN[n % GIVEN.len()], FAMILY[(n / 8) % FAMILY.len()]),
        "birth_place": "Jakarta",
        "birth_date": format!("{year:04}-{month:02}-{day:02}"),
        "sex": if female { "female" } else { "male" },
        "address": format!("Jl. Merdeka No. {}", 1 + n % 200),
        "rt_rw": "001/002",
        "village": "Sukamaju",
        "district": district,
        "religion": "Islam",
        "marital_status": "Kawin",
        "occupation": "Wiraswasta",
    })
}

/// The first district of the first regency of ten provinces.
fn bench_districts() -> Vec<String> {
    REGIONS
        .provinces()
        .into_iter()
        .take(10)
        .filter_map(|p| REGIONS.regencies_of(&p.code).into_iter().next())
        .filter_map(|r| REGIONS.districts_of(&r.code).into_iter().next())
        .map(|d| d.code)
        .collect()
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
struct Target {
    child: tokio::process::Child,
    url: String,
    cert: PathBuf,
    store: Store,
    database_url: String,
    /// The database to drop afterwards (PostgreSQL).
    drop: Option<(String, String)>,
    secrets: Vec<(String, String)>,
    _dir: tempfile::TempDir,
}

async fn start(bench: &RegistryBench, districts: &[String]) -> anyhow::Result<Target> {
    let dir = tempfile::tempdir()?;
    let port = free_port()?;
    let (database_url, drop) = match &bench.postgres_url {
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
            (with_database(server, &name), Some((server.clone(), name)))
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
         [ledger]\nenabled = false\n",
        data = dir.path().join("data").display().to_string(),
    );
    std::fs::write(&config_path, toml)?;

    // Schema, clients and registry desks, through the same libraries as the CLI. The
    // configuration is this run's alone: `WARGA_…` variables of the caller's environment
    // (which might name a production database) reach neither this process's store nor the
    // child.
    let mut config = warga_config::Config::default();
    config.data_dir = dir.path().join("data");
    if !database_url.is_empty() {
        config.database.url = Some(warga_config::Secret::new(database_url.clone()));
    }
    let store = Store::connect(&config).await?;
    store.migrate(&warga_app::services::migrations()).await?;
    let mut secrets = Vec::new();
    let mut tx = store.begin().await?;
    for i in 0..bench.clients {
        let registered = warga_identity::clients::create(
            &mut tx,
            warga_identity::clients::NewClient {
                client_id: format!("bench-desk-{i}"),
                name: format!("Registry desk {i} (benchmark)"),
                confidential: true,
                redirect_uris: Vec::new(),
                post_logout_redirect_uris: Vec::new(),
                grant_types: vec!["client_credentials".into()],
                service_roles: vec![warga_core::identity::Role::RegistryOfficer],
            },
            "system:bench",
        )
        .await
        .map_err(|e| anyhow!("registering a client: {e}"))?;
        secrets.push((
            registered.client_id,
            registered.client_secret.ok_or_else(|| anyhow!("no client secret"))?,
        ));
    }
    for district in districts {
        warga_population::notify::add_desk(&mut tx, &district[..4], "+6281200000000", "Loket Dukcapil")
            .await
            .map_err(|e| anyhow!("adding a registry desk: {e}"))?;
    }
    tx.commit().await?;

    let exe = std::env::current_exe()?;
    let log = std::fs::File::create(dir.path().join("warga.log"))?;
    let mut command = tokio::process::Command::new(exe);
    for (key, _) in std::env::vars().filter(|(k, _)| k.starts_with(warga_config::ENV_PREFIX)) {
        command.env_remove(key);
    }
    let child = command
        .arg("--config")
        .arg(&config_path)
        .arg("up")
        .current_dir(dir.path())
        .stdout(log.try_clone()?)
        .stderr(log)
        .kill_on_drop(true)
        .spawn()
        .context("starting warga up")?;
    Ok(Target {
        child,
        url: format!("https://127.0.0.1:{port}"),
        cert: dir.path().join("data/tls/cert.pem"),
        store,
        database_url,
        drop,
        secrets,
        _dir: dir,
    })
}

fn https_client(cert: &Path) -> anyhow::Result<reqwest::Client> {
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

async fn wait_ready(target: &mut Target) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(status) = target.child.try_wait()? {
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

async fn tokens(target: &Target) -> anyhow::Result<Vec<(reqwest::Client, String)>> {
    let mut out = Vec::new();
    for (id, secret) in &target.secrets {
        let client = https_client(&target.cert)?;
        let response: serde_json::Value = client
            .post(format!("{}/oauth2/token", target.url))
            .form(&[
                ("grant_type", "client_credentials"),
                ("client_id", id),
                ("client_secret", secret),
            ])
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        let token = response["access_token"]
            .as_str()
            .ok_or_else(|| anyhow!("no access token for {id}"))?;
        out.push((client, token.to_owned()));
    }
    Ok(out)
}

async fn load(
    target: &Target,
    callers: &[(reqwest::Client, String)],
    districts: &[String],
    first: usize,
    count: usize,
    concurrency: usize,
) -> Level {
    let limit = Arc::new(Semaphore::new(concurrency));
    let url = Arc::new(format!("{}/api/v1/population/residents", target.url));
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for n in first..first + count {
        let (client, token) = callers[n % callers.len()].clone();
        let (limit, url, body) = (limit.clone(), url.clone(), resident(n, districts));
        tasks.spawn(async move {
            let _permit = limit.acquire_owned().await;
            let sent = Instant::now();
            let outcome = client.post(url.as_str()).bearer_auth(token).json(&body).send().await;
            let ok = matches!(&outcome, Ok(r) if r.status().as_u16() == 201);
            (ok, sent.elapsed().as_secs_f64() * 1000.0)
        });
    }
    let mut level = Level {
        concurrency,
        ok: 0,
        errors: 0,
        elapsed: Duration::ZERO,
        latencies_ms: Vec::with_capacity(count),
    };
    while let Some(joined) = tasks.join_next().await {
        match joined {
            Ok((true, ms)) => {
                level.ok += 1;
                level.latencies_ms.push(ms);
            }
            Ok((false, ms)) => {
                level.errors += 1;
                level.latencies_ms.push(ms);
            }
            Err(_) => level.errors += 1,
        }
    }
    level.elapsed = started.elapsed();
    level.latencies_ms.sort_by(f64::total_cmp);
    level
}

async fn scalar(store: &Store, sql: &str) -> anyhow::Result<i64> {
    Ok(sqlx::query(sql).fetch_one(store.reader()).await?.get::<i64, _>(0))
}

/// Waits until the consumers caught up with `expected` registrations; returns how long.
async fn drained(store: &Store, expected: i64) -> anyhow::Result<Duration> {
    let started = Instant::now();
    loop {
        let counted = scalar(
            store,
            "SELECT CAST(COALESCE(SUM(residents), 0) AS BIGINT) FROM population_stats",
        )
        .await?;
        let texted = scalar(store, "SELECT COUNT(*) FROM population_sms_outbox").await?;
        if counted >= expected && texted >= expected {
            let caught_up = started.elapsed();
            // Leave a moment for a double count or a second message to show.
            tokio::time::sleep(Duration::from_millis(500)).await;
            return Ok(caught_up);
        }
        if started.elapsed() > Duration::from_secs(600) {
            return Err(anyhow!(
                "consumers did not catch up within 600 s: {counted} counted, {texted} texted of {expected}"
            ));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// pgbench: single-row inserts, `clients` connections, on the bench database.
fn pgbench(database_url: &str, clients: usize, seconds: u32) -> anyhow::Result<f64> {
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

/// Runs the benchmark and prints a Markdown report.
pub async fn registry(bench: RegistryBench) -> Result<(), BenchError> {
    if bench.count == 0 || bench.clients == 0 || bench.concurrency.contains(&0) {
        return Err(BenchError::Usage(
            "--count, --clients and --concurrency must be greater than 0".into(),
        ));
    }
    let districts = bench_districts();
    let engine = if bench.postgres_url.is_some() {
        "PostgreSQL"
    } else {
        "SQLite"
    };
    eprintln!("starting warga up on {engine} …");
    let mut target = start(&bench, &districts).await?;
    let outcome = run(&bench, &mut target, &districts, engine).await;
    let _ = std::process::Command::new("kill")
        .arg("-TERM")
        .arg(target.child.id().map(|p| p.to_string()).unwrap_or_default())
        .status();
    let _ = tokio::time::timeout(Duration::from_secs(15), target.child.wait()).await;
    target.store.close().await;
    // pgbench runs alone on the server, after warga has stopped and let go of its connections.
    let reference = match (&outcome, &target.drop) {
        (Ok(best), Some(_)) => {
            let clients = bench.concurrency.iter().copied().max().unwrap_or(1).min(64);
            match pgbench(&target.database_url, clients, bench.pgbench_seconds) {
                Ok(tps) => {
                    println!(
                        "\npgbench single-row INSERT on the same server, {clients} connections, {} s: {tps:.0} tps. \
                         Best registration throughput / pgbench = {:.3}.",
                        bench.pgbench_seconds,
                        best / tps
                    );
                    Ok(())
                }
                Err(error) => Err(error),
            }
        }
        _ => Ok(()),
    };
    if let Some((server, name)) = &target.drop
        && let Ok(mut admin) = <sqlx::PgConnection as sqlx::Connection>::connect(server).await
    {
        let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            .execute(&mut admin)
            .await;
    }
    Ok(outcome.and(reference)?)
}

/// Loads, checks and prints the table; returns the best throughput.
async fn run(bench: &RegistryBench, target: &mut Target, districts: &[String], engine: &str) -> anyhow::Result<f64> {
    wait_ready(target).await?;
    let callers = tokens(target).await?;
    eprintln!("{} clients hold tokens; loading …", callers.len());
    let mut levels = Vec::new();
    let mut registered = 0i64;
    for (i, concurrency) in bench.concurrency.iter().enumerate() {
        let level = load(target, &callers, districts, i * bench.count, bench.count, *concurrency).await;
        registered += level.ok as i64;
        let drain = drained(&target.store, registered).await?;
        eprintln!(
            "concurrency {concurrency}: {} ok, {} errors in {:.2} s; consumers caught up {:.2} s later",
            level.ok,
            level.errors,
            level.elapsed.as_secs_f64(),
            drain.as_secs_f64()
        );
        levels.push((level, drain));
    }

    // Consistency: one resident, one count and one message per accepted registration.
    let store = &target.store;
    let residents = scalar(store, "SELECT COUNT(*) FROM population_residents").await?;
    let counted = scalar(
        store,
        "SELECT CAST(COALESCE(SUM(residents), 0) AS BIGINT) FROM population_stats",
    )
    .await?;
    let texted = scalar(store, "SELECT COUNT(*) FROM population_sms_outbox").await?;
    let texted_twice = scalar(
        store,
        "SELECT COUNT(*) FROM (SELECT event_id FROM population_sms_outbox GROUP BY event_id HAVING COUNT(*) > 1) AS d",
    )
    .await?;
    let rebuilt = warga_population::residents::rebuild_stats(store).await?;
    let consistent = residents == registered
        && counted == registered
        && texted == registered
        && texted_twice == 0
        && rebuilt.rows_differing == 0;

    println!("### warga bench registry — {engine}\n");
    println!(
        "{} registrations per level through HTTPS, {} client tokens, ten provinces; warga up and the load generator share the machine.\n",
        bench.count, bench.clients
    );
    println!(
        "| engine | concurrency | ok | errors | throughput (req/s) | p50 (ms) | p95 (ms) | p99 (ms) | consumers caught up after (s) |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|");
    for (level, drain) in &levels {
        let throughput = level.ok as f64 / level.elapsed.as_secs_f64();
        println!(
            "| {engine} | {} | {} | {} | {throughput:.0} | {:.1} | {:.1} | {:.1} | {:.2} |",
            level.concurrency,
            level.ok,
            level.errors,
            percentile(&level.latencies_ms, 50.0),
            percentile(&level.latencies_ms, 95.0),
            percentile(&level.latencies_ms, 99.0),
            drain.as_secs_f64()
        );
    }
    println!(
        "\nConsistency: {residents} residents, {counted} statistics increments, {texted} SMS ({texted_twice} events texted twice), \
         stats rebuild differing rows: {} → {}",
        rebuilt.rows_differing,
        if consistent { "consistent" } else { "INCONSISTENT" }
    );
    let best = levels
        .iter()
        .map(|(l, _)| l.ok as f64 / l.elapsed.as_secs_f64())
        .fold(0.0, f64::max);
    if !consistent {
        return Err(anyhow!("the registrations, statistics and notifications disagree"));
    }
    Ok(best)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_residents_have_valid_unique_niks() {
        let districts = bench_districts();
        assert_eq!(districts.len(), 10);
        let mut seen = std::collections::HashSet::new();
        for n in 0..20_000 {
            let r = resident(n, &districts);
            let nik = r["nik"].as_str().unwrap().to_owned();
            let date = warga_population::nik::Date::parse_iso(r["birth_date"].as_str().unwrap()).unwrap();
            let sex = if n % 2 == 1 {
                warga_population::nik::Sex::Female
            } else {
                warga_population::nik::Sex::Male
            };
            warga_population::nik::validate(&nik, &REGIONS, date, sex).unwrap();
            assert!(seen.insert(nik), "unique");
        }
    }

    #[test]
    fn percentiles_pick_ranks() {
        let sorted: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&sorted, 50.0), 51.0);
        assert_eq!(percentile(&sorted, 99.0), 99.0);
        assert!(percentile(&[], 50.0).is_nan());
    }
}
