//! `warga bench registry`: the population seed's load test — thousands of concurrent
//! registrations through HTTPS with real tokens — against a warga started for the run.
//!
//! The run starts `warga up` as a child process on a fresh database (a SQLite file in a
//! temporary directory, or a new PostgreSQL database created on the given server and dropped
//! afterwards), registers confidential clients with the `registry_officer` role and a
//! registry desk per regency used, then:
//!
//! 1. takes a token per client from the token endpoint (client credentials, over HTTPS);
//! 2. for each fixed rate (open loop: a latency counts from when its registration was due,
//!    so a server that falls behind shows it) and each concurrency level (closed loop: that
//!    many in flight, back to back), sends registrations with valid, unique NIKs spread over
//!    ten provinces, timing each request;
//! 3. waits until the statistics consumer and the officer notifier have caught up, and checks
//!    consistency in the database: one resident, one statistics increment and one SMS per
//!    accepted registration, nothing for refused ones, and `stats rebuild` agreeing;
//! 4. on PostgreSQL, runs `pgbench` with single-row inserts on the same server and reports
//!    our throughput as a ratio to it.
//!
//! The gateway's per-user limit is raised for the child (the limiter still runs on every
//! request): this measures registration throughput, not the limiter's refusals.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::anyhow;
use tokio::sync::Semaphore;
use warga_population::regions::REGIONS;
use warga_store::Store;

use crate::BenchError;
use crate::child::{Target, https_client, percentile, pgbench, scalar, wait_ready};

/// What to run.
#[derive(Debug, Clone)]
pub struct RegistryBench {
    /// `None`: SQLite. `Some(url)`: a PostgreSQL server (any database on it; the run creates
    /// its own and drops it).
    pub postgres_url: Option<String>,
    /// Registrations per load.
    pub count: usize,
    /// Fixed rates (registrations/s), one open-loop load each.
    pub rates: Vec<u32>,
    /// Requests in flight at once; one closed-loop load per value.
    pub concurrency: Vec<usize>,
    /// API clients (each with its own token and connection).
    pub clients: usize,
    /// Seconds of pgbench.
    pub pgbench_seconds: u32,
}

/// One measured load.
struct Level {
    /// `200` (in flight) or `1000/s` (fixed rate).
    load: String,
    /// The most requests in flight at once.
    most_in_flight: usize,
    ok: usize,
    errors: usize,
    elapsed: Duration,
    latencies_ms: Vec<f64>,
}

/// The `n`-th registration: a valid NIK (unique per `n` below 16,800 per district), spread
/// over ten provinces, alternating sex.
pub(crate) fn resident(n: usize, districts: &[String]) -> serde_json::Value {
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
        "village": REGIONS.villages_of(district).first().map(|v| v.code.clone()).unwrap_or_default(),
        "district": district,
        "religion": "Islam",
        "marital_status": "Kawin",
        "occupation": "Wiraswasta",
    })
}

/// The first district of the first regency of ten provinces.
pub(crate) fn bench_districts() -> Vec<String> {
    REGIONS
        .provinces()
        .into_iter()
        .take(10)
        .filter_map(|p| REGIONS.regencies_of(&p.code).into_iter().next())
        .filter_map(|r| REGIONS.districts_of(&r.code).into_iter().next())
        .map(|d| d.code)
        .collect()
}

async fn start(bench: &RegistryBench, districts: &[String]) -> anyhow::Result<Target> {
    start_target(bench.postgres_url.as_deref(), bench.clients, districts, false, "").await
}

/// `warga up` started on a fresh database with `clients` registry desks' API clients and a
/// registry desk per regency of `districts` (and the ledger network inside it, or not;
/// `extra_toml` appended to its configuration).
pub(crate) async fn start_target(
    postgres_url: Option<&str>,
    clients: usize,
    districts: &[String],
    ledger: bool,
    extra_toml: &str,
) -> anyhow::Result<Target> {
    let target = Target::prepare(postgres_url, extra_toml, ledger).await?;
    seed_and_start(target, clients, districts).await
}

/// Registers `clients` registry desks' API clients and a registry desk per regency of
/// `districts` in a prepared target, then starts it.
pub(crate) async fn seed_and_start(mut target: Target, clients: usize, districts: &[String]) -> anyhow::Result<Target> {
    // Clients and registry desks, through the same libraries as the CLI.
    let mut tx = target.store.begin().await?;
    for i in 0..clients {
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
        target.secrets.push((
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
    target.spawn()?;
    Ok(target)
}

pub(crate) async fn tokens(target: &Target) -> anyhow::Result<Vec<(reqwest::Client, String)>> {
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

/// How a load paces its requests.
#[derive(Clone, Copy, Debug)]
enum Pace {
    /// Open loop: one every `1/rate` s, however many are in flight.
    Rate(u32),
    /// Closed loop: this many in flight, back to back.
    InFlight(usize),
}

async fn load(
    target: &Target,
    callers: &[(reqwest::Client, String)],
    districts: &[String],
    first: usize,
    count: usize,
    pace: Pace,
) -> Level {
    let limit = Arc::new(Semaphore::new(match pace {
        Pace::InFlight(n) => n,
        Pace::Rate(_) => Semaphore::MAX_PERMITS,
    }));
    let in_flight = Arc::new(AtomicUsize::new(0));
    let most = Arc::new(AtomicUsize::new(0));
    let url = Arc::new(format!("{}/api/v1/population/residents", target.url));
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for (i, n) in (first..first + count).enumerate() {
        let due = match pace {
            Pace::Rate(rate) => {
                let at = started + Duration::from_secs_f64(i as f64 / f64::from(rate));
                tokio::time::sleep_until(at.into()).await;
                Some(at)
            }
            Pace::InFlight(_) => None,
        };
        let (client, token) = callers[n % callers.len()].clone();
        let (limit, url, body) = (limit.clone(), url.clone(), resident(n, districts));
        let (in_flight, most) = (in_flight.clone(), most.clone());
        tasks.spawn(async move {
            let _permit = limit.acquire_owned().await;
            let sent = due.unwrap_or_else(Instant::now);
            let now_in_flight = in_flight.fetch_add(1, Ordering::Relaxed) + 1;
            most.fetch_max(now_in_flight, Ordering::Relaxed);
            let outcome = client.post(url.as_str()).bearer_auth(token).json(&body).send().await;
            in_flight.fetch_sub(1, Ordering::Relaxed);
            let ok = matches!(&outcome, Ok(r) if r.status().as_u16() == 201);
            (ok, sent.elapsed().as_secs_f64() * 1000.0)
        });
    }
    let mut level = Level {
        load: match pace {
            Pace::Rate(rate) => format!("{rate}/s"),
            Pace::InFlight(n) => n.to_string(),
        },
        most_in_flight: 0,
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
    level.most_in_flight = most.load(Ordering::Relaxed);
    level.latencies_ms.sort_by(f64::total_cmp);
    level
}

/// The registrations' effects so far: residents counted in the statistics, SMS notices
/// queued (one each, once every consumer has handled every registration).
pub(crate) async fn effects(store: &Store) -> anyhow::Result<(i64, i64)> {
    let counted = scalar(
        store,
        "SELECT CAST(COALESCE(SUM(residents), 0) AS BIGINT) FROM population_stats",
    )
    .await?;
    let texted = scalar(store, "SELECT COUNT(*) FROM population_sms_outbox").await?;
    Ok((counted, texted))
}

/// Waits until the consumers caught up with `expected` registrations; returns how long.
async fn drained(store: &Store, expected: i64) -> anyhow::Result<Duration> {
    let started = Instant::now();
    loop {
        let (counted, texted) = effects(store).await?;
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

/// Runs the benchmark and prints a Markdown report.
pub async fn registry(bench: RegistryBench) -> Result<(), BenchError> {
    if bench.count == 0
        || bench.clients == 0
        || bench.concurrency.contains(&0)
        || bench.rates.contains(&0)
        || (bench.concurrency.is_empty() && bench.rates.is_empty())
    {
        return Err(BenchError::Usage(
            "--count, --clients, --rate and --concurrency must be greater than 0, with at least one --rate or --concurrency"
                .into(),
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
    target.stop().await;
    // pgbench runs alone on the server, after warga has stopped and let go of its connections.
    let reference = match (&outcome, &target.drop) {
        (Ok(best), Some(_)) => {
            let clients = bench.concurrency.iter().copied().max().unwrap_or(64).min(64);
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
    target.drop_database().await;
    Ok(outcome.and(reference)?)
}

/// Loads, checks and prints the table; returns the best throughput.
async fn run(bench: &RegistryBench, target: &mut Target, districts: &[String], engine: &str) -> anyhow::Result<f64> {
    wait_ready(target).await?;
    let callers = tokens(target).await?;
    eprintln!("{} clients hold tokens; loading …", callers.len());
    let mut levels = Vec::new();
    let mut registered = 0i64;
    let paces = bench
        .rates
        .iter()
        .map(|r| Pace::Rate(*r))
        .chain(bench.concurrency.iter().map(|n| Pace::InFlight(*n)));
    for (i, pace) in paces.enumerate() {
        let level = load(target, &callers, districts, i * bench.count, bench.count, pace).await;
        registered += level.ok as i64;
        let drain = drained(&target.store, registered).await?;
        eprintln!(
            "{pace:?}: {} ok, {} errors in {:.2} s; consumers caught up {:.2} s later",
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
        "{} registrations per load through HTTPS, {} client tokens, ten provinces; warga up and the load generator share the machine. \
         A load is a number in flight (closed loop) or a fixed rate (open loop: latencies count from when each registration was due).\n",
        bench.count, bench.clients
    );
    println!(
        "| engine | load | ok | errors | throughput (req/s) | most in flight | p50 (ms) | p95 (ms) | p99 (ms) | consumers caught up after (s) |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for (level, drain) in &levels {
        let throughput = level.ok as f64 / level.elapsed.as_secs_f64();
        println!(
            "| {engine} | {} | {} | {} | {throughput:.0} | {} | {:.1} | {:.1} | {:.1} | {:.2} |",
            level.load,
            level.ok,
            level.errors,
            level.most_in_flight,
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
