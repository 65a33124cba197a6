//! The fault suite, `warga chaos …`: a `warga up` under a registration load while a fault
//! is injected, ending in a consistency check of what the clients were told against what
//! the database holds.
//!
//! The client keeps a record of every registration: acknowledged (201, with the resident's
//! id), refused (another status) or unknown (the connection broke: it may or may not have
//! committed). After the last fault the platform runs undisturbed until its consumers have
//! caught up, then:
//!
//! - **lost** = acknowledged registrations whose resident is not in the database (must be 0);
//! - **duplicated effects** = statistics increments and SMS notices beyond one per resident
//!   (each registration's event is handled once by each consumer; must be 0);
//! - **unexplained** = residents that are neither acknowledged nor unknown (must be 0).
//!
//! Faults:
//!
//! - [`Fault::Kill`]: `kill -9` of `warga up` after a random 1–3 s of load, restarted,
//!   `rounds` times;
//! - [`Fault::Broker`]: `warga up` on NATS JetStream — a `nats-server` of the run's own on its
//!   own port and store directory — killed under load for `down` seconds and restarted;
//!   registrations go on being acknowledged (the outbox holds their events) and every event
//!   reaches its consumers once after;
//! - [`Fault::Postgres`]: `warga up` on a PostgreSQL server restarted under load (by a
//!   command the caller gives): refusals must be 503 problem documents, and registrations
//!   acknowledged again without anyone's help;
//! - [`Fault::DiskFull`]: the data directory's filesystem filled under load, then freed:
//!   refusals must be 503 problem documents, SQLite's integrity check must pass, and
//!   registrations acknowledged again;
//! - [`Fault::Ledger`]: the ledger's network of processes — its Raft leader killed again and
//!   again, two of three orderers gone, a peer killed mid-commit ([`ledger`]).

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context as _, anyhow};

pub mod ledger;

use crate::BenchError;
use crate::child::{Target, free_port, scalar, wait_ready};
use crate::registry::seed_and_start;
use crate::registry::{bench_districts, effects, resident, start_target, tokens};

/// Which fault to inject.
#[derive(Clone, Debug)]
pub enum Fault {
    /// `kill -9` of `warga up`, `rounds` times.
    Kill { rounds: usize },
    /// The event broker killed for `down` and restarted.
    Broker { down: Duration, nats_server: PathBuf },
    /// The ledger's orderers and a peer killed under submissions.
    Ledger(ledger::LedgerFaults),
    /// The PostgreSQL server at `url` restarted by the shell command `restart`.
    Postgres { url: String, restart: String },
    /// The filesystem holding `dir` (a small one of its own) filled for `full_for`, then
    /// freed; `warga up`'s data directory is inside it.
    DiskFull { dir: PathBuf, full_for: Duration },
}

#[derive(Clone, Debug)]
pub struct ChaosRun {
    pub fault: Fault,
    /// Registrations per second offered throughout.
    pub rate: u32,
}

/// What the clients were told.
#[derive(Default)]
struct Record {
    /// Resident ids of acknowledged registrations, and when each was answered.
    acknowledged: Vec<(String, Instant)>,
    /// Refusals by status.
    refused: std::collections::BTreeMap<u16, usize>,
    /// Refusals other than a 503 problem document (a fault must not produce them).
    unclean: usize,
    /// Sent, answer never received.
    unknown: usize,
}

fn lock(record: &Mutex<Record>) -> std::sync::MutexGuard<'_, Record> {
    record.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// An open-loop registration load until `stop`: registration `n` from a shared counter, so
/// no two requests (across restarts) carry the same resident.
async fn register_until(
    target_url: String,
    callers: Vec<(reqwest::Client, String)>,
    rate: u32,
    next: Arc<AtomicUsize>,
    districts: Arc<Vec<String>>,
    record: Arc<Mutex<Record>>,
    stop: Arc<AtomicBool>,
) {
    let url = Arc::new(format!("{target_url}/api/v1/population/residents"));
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    let mut i = 0u64;
    while !stop.load(Ordering::Relaxed) {
        let at = started + Duration::from_secs_f64(i as f64 / f64::from(rate));
        tokio::time::sleep_until(at.into()).await;
        i += 1;
        let n = next.fetch_add(1, Ordering::Relaxed);
        let (client, token) = callers[n % callers.len()].clone();
        let (url, body, record) = (url.clone(), resident(n, &districts), record.clone());
        tasks.spawn(async move {
            let answer = async {
                let response = client.post(url.as_str()).bearer_auth(token).json(&body).send().await?;
                let status = response.status().as_u16();
                let problem = response
                    .headers()
                    .get(reqwest::header::CONTENT_TYPE)
                    .is_some_and(|t| t.as_bytes().starts_with(b"application/problem+json"));
                let body: serde_json::Value = response.json().await.unwrap_or_default();
                Ok::<_, reqwest::Error>((status, problem, body))
            }
            .await;
            let mut record = lock(&record);
            match answer {
                Ok((201, _, body)) => match body["id"].as_str() {
                    Some(id) => record.acknowledged.push((id.to_owned(), Instant::now())),
                    None => record.unknown += 1,
                },
                Ok((status, problem, _)) => {
                    *record.refused.entry(status).or_default() += 1;
                    if status != 503 || !problem {
                        record.unclean += 1;
                    }
                }
                Err(_) => record.unknown += 1,
            }
        });
        while tasks.try_join_next().is_some() {}
    }
    while tasks.join_next().await.is_some() {}
}

/// A load running in the background, stopped by [`Load::finish`].
struct Load {
    stop: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<()>,
}

impl Load {
    async fn start(
        target: &Target,
        rate: u32,
        next: &Arc<AtomicUsize>,
        districts: &Arc<Vec<String>>,
        record: &Arc<Mutex<Record>>,
    ) -> anyhow::Result<Load> {
        let callers = tokens(target).await?;
        let stop = Arc::new(AtomicBool::new(false));
        let task = tokio::spawn(register_until(
            target.url.clone(),
            callers,
            rate,
            next.clone(),
            districts.clone(),
            record.clone(),
            stop.clone(),
        ));
        Ok(Load { stop, task })
    }

    async fn finish(self) {
        self.stop.store(true, Ordering::Relaxed);
        let _ = self.task.await;
    }
}

/// Sends SIGKILL to the child and reaps it.
async fn kill_9(target: &mut Target) -> anyhow::Result<()> {
    if let Some(mut child) = target.child.take() {
        child.start_kill().context("kill -9 of warga up")?;
        child.wait().await?;
    }
    Ok(())
}

/// A `nats-server` with JetStream of this run's own.
struct Broker {
    binary: PathBuf,
    port: u16,
    store: tempfile::TempDir,
    child: Option<tokio::process::Child>,
}

impl Broker {
    fn start(binary: PathBuf) -> anyhow::Result<Broker> {
        let mut broker = Broker {
            binary,
            port: free_port()?,
            store: tempfile::tempdir()?,
            child: None,
        };
        broker.spawn()?;
        Ok(broker)
    }

    fn spawn(&mut self) -> anyhow::Result<()> {
        let child = tokio::process::Command::new(&self.binary)
            .args(["-a", "127.0.0.1", "-p", &self.port.to_string(), "-js", "-sd"])
            .arg(self.store.path())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("starting {}", self.binary.display()))?;
        self.child = Some(child);
        Ok(())
    }

    async fn kill(&mut self) -> anyhow::Result<()> {
        if let Some(mut child) = self.child.take() {
            child.start_kill()?;
            child.wait().await?;
        }
        Ok(())
    }

    async fn ready(&self) -> anyhow::Result<()> {
        let deadline = Instant::now() + Duration::from_secs(30);
        while tokio::net::TcpStream::connect(("127.0.0.1", self.port)).await.is_err() {
            if Instant::now() > deadline {
                return Err(anyhow!("nats-server did not listen within 30 s"));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Ok(())
    }
}

/// The consistency check after the last fault.
struct Verdict {
    acknowledged: usize,
    refused: String,
    unclean: usize,
    unknown: usize,
    residents: i64,
    lost: usize,
    duplicated: i64,
    unexplained: i64,
    recovery: Duration,
}

/// Waits (10 min at most) until every resident is counted and told once, then compares.
async fn verdict(target: &Target, record: &Record, since: Instant) -> anyhow::Result<Verdict> {
    let store = &target.store;
    let deadline = Instant::now() + Duration::from_secs(600);
    let (residents, counted, texted) = loop {
        // The database may itself be coming back from the fault: retried until the deadline.
        let counts = async {
            let residents = scalar(store, "SELECT COUNT(*) FROM population_residents").await?;
            let (counted, texted) = effects(store).await?;
            Ok::<_, anyhow::Error>((residents, counted, texted))
        }
        .await;
        if let Ok((residents, counted, texted)) = counts
            && counted >= residents
            && texted >= residents
        {
            break (residents, counted, texted);
        }
        if Instant::now() > deadline {
            return Err(anyhow!(
                "consumers did not catch up within 600 s (last counts: {counts:?})"
            ));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let recovery = since.elapsed();
    let ids: HashSet<String> = sqlx::query_scalar::<_, String>("SELECT id FROM population_residents")
        .fetch_all(store.reader())
        .await?
        .into_iter()
        .collect();
    let lost = record.acknowledged.iter().filter(|(id, _)| !ids.contains(id)).count();
    let known = (record.acknowledged.len() + record.unknown) as i64;
    Ok(Verdict {
        acknowledged: record.acknowledged.len(),
        refused: match record.refused.is_empty() {
            true => "0".into(),
            false => record
                .refused
                .iter()
                .map(|(status, n)| format!("{status} × {n}"))
                .collect::<Vec<_>>()
                .join(", "),
        },
        unclean: record.unclean,
        unknown: record.unknown,
        residents,
        lost,
        duplicated: (counted - residents) + (texted - residents),
        unexplained: (residents - known).max(0),
        recovery,
    })
}

/// Runs one fault scenario and prints its Markdown row; fails when anything was lost,
/// duplicated or unexplained.
pub async fn chaos(run: ChaosRun) -> Result<(), BenchError> {
    if run.rate == 0 {
        return Err(BenchError::Usage("--rate must be at least 1".into()));
    }
    match &run.fault {
        Fault::Kill { rounds: 0 } => return Err(BenchError::Usage("--rounds must be at least 1".into())),
        Fault::Broker { down, .. } if down.is_zero() => {
            return Err(BenchError::Usage("--down-seconds must be at least 1".into()));
        }
        Fault::Ledger(faults) => return ledger_faults(faults).await,
        _ => {}
    }
    let districts = Arc::new(bench_districts());
    let next = Arc::new(AtomicUsize::new(0));
    let record = Arc::new(Mutex::new(Record::default()));
    let mut broker = None;
    let mut scratch = None;
    // Each arm: the fault's name, how many were injected, the target, and when the last
    // fault ended (after which acknowledgements must come back by themselves).
    let (name, faults, mut target, fault_end) = match &run.fault {
        Fault::Kill { rounds } => {
            let mut target = start_target(None, 4, &districts, false, "").await?;
            let mut end = None;
            for round in 0..*rounds {
                wait_ready(&mut target).await?;
                let load = Load::start(&target, run.rate, &next, &districts, &record).await?;
                let running = Duration::from_millis(1000 + fastrand::u64(0..2000));
                tokio::time::sleep(running).await;
                kill_9(&mut target).await?;
                load.finish().await;
                tracing::info!(round, "warga up killed with SIGKILL");
                target.spawn()?;
                end = Some(Instant::now());
            }
            // After the last restart: acknowledged again, by itself.
            wait_ready(&mut target).await?;
            let load = Load::start(&target, run.rate, &next, &districts, &record).await?;
            tokio::time::sleep(Duration::from_secs(3)).await;
            load.finish().await;
            ("kill -9 of `warga up`", *rounds, target, end)
        }
        Fault::Broker { down, nats_server } => {
            let mut nats = Broker::start(nats_server.clone())?;
            nats.ready().await?;
            let bus = format!(
                "[bus]\nbackend = \"nats\"\nnats_url = \"nats://127.0.0.1:{}\"\n",
                nats.port
            );
            let mut target = start_target(None, 4, &districts, false, &bus).await?;
            wait_ready(&mut target).await?;
            let load = Load::start(&target, run.rate, &next, &districts, &record).await?;
            tokio::time::sleep(Duration::from_secs(3)).await;
            nats.kill().await?;
            tokio::time::sleep(*down).await;
            nats.spawn()?;
            nats.ready().await?;
            let end = Instant::now();
            tokio::time::sleep(Duration::from_secs(5)).await;
            load.finish().await;
            broker = Some(nats);
            ("the broker (nats-server) killed, restarted", 1, target, Some(end))
        }
        Fault::Postgres { url, restart } => {
            let mut target = start_target(Some(url), 4, &districts, false, "").await?;
            wait_ready(&mut target).await?;
            let load = Load::start(&target, run.rate, &next, &districts, &record).await?;
            tokio::time::sleep(Duration::from_secs(3)).await;
            let status = tokio::process::Command::new("sh")
                .args(["-c", restart])
                .status()
                .await
                .context("running the restart command")?;
            if !status.success() {
                load.finish().await;
                target.stop().await;
                return Err(anyhow!("the restart command failed ({status}): {restart}").into());
            }
            let end = Instant::now();
            tokio::time::sleep(Duration::from_secs(10)).await;
            load.finish().await;
            ("PostgreSQL restarted", 1, target, Some(end))
        }
        Fault::DiskFull { dir, full_for } => {
            let data = dir.join(format!("warga-chaos-{}", std::process::id()));
            let ballast = dir.join(format!("warga-chaos-ballast-{}", std::process::id()));
            scratch = Some((data.clone(), ballast.clone()));
            let target = Target::prepare_in(None, "", false, Some(&data)).await?;
            let mut target = seed_and_start(target, 4, &districts).await?;
            wait_ready(&mut target).await?;
            let load = Load::start(&target, run.rate, &next, &districts, &record).await?;
            tokio::time::sleep(Duration::from_secs(2)).await;
            let filled = tokio::task::spawn_blocking(move || fill(&ballast))
                .await
                .map_err(|e| anyhow!("{e}"))??;
            tracing::info!(bytes = filled, "the data directory's filesystem is full");
            tokio::time::sleep(*full_for).await;
            if let Some((_, ballast)) = &scratch {
                std::fs::remove_file(ballast).context("removing the ballast")?;
            }
            let end = Instant::now();
            tokio::time::sleep(Duration::from_secs(10)).await;
            load.finish().await;
            ("the data directory's disk full, then freed", 1, target, Some(end))
        }
        Fault::Ledger(_) => return Err(anyhow!("the ledger's faults run on their own").into()),
    };
    wait_ready(&mut target).await?;
    let since = Instant::now();
    let record = std::mem::take(&mut *lock(&record));
    let verdict = verdict(&target, &record, since).await;
    let intact = integrity(&target).await;
    target.stop().await;
    target.drop_database().await;
    if let Some(nats) = broker.as_mut() {
        let _ = nats.kill().await;
    }
    if let Some((data, ballast)) = scratch {
        let _ = std::fs::remove_file(ballast);
        let _ = std::fs::remove_dir_all(data);
    }
    let verdict = verdict?;
    let back_after = fault_end.and_then(|end| {
        record
            .acknowledged
            .iter()
            .map(|(_, at)| *at)
            .filter(|at| *at >= end)
            .min()
            .map(|at| at - end)
    });
    println!(
        "| fault | faults | rate | acknowledged | refused | outcome unknown | residents | lost | duplicated effects | unexplained | acknowledging again after | caught up after |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    println!(
        "| {name} | {faults} | {}/s | {} | {} | {} | {} | **{}** | **{}** | **{}** | {} | {:.1} s |",
        run.rate,
        verdict.acknowledged,
        verdict.refused,
        verdict.unknown,
        verdict.residents,
        verdict.lost,
        verdict.duplicated,
        verdict.unexplained,
        back_after.map_or("—".into(), |d| format!("{:.1} s", d.as_secs_f64())),
        verdict.recovery.as_secs_f64()
    );
    if verdict.acknowledged == 0 {
        return Err(anyhow!("no registration was acknowledged: the load never reached warga").into());
    }
    intact?;
    if fault_end.is_some() && back_after.is_none() {
        return Err(anyhow!("no registration was acknowledged after the fault ended").into());
    }
    if verdict.lost > 0 || verdict.duplicated != 0 || verdict.unexplained > 0 || verdict.unclean > 0 {
        return Err(anyhow!(
            "inconsistent: {} lost, {} duplicated effects, {} unexplained, {} refusals other than a 503 problem document",
            verdict.lost,
            verdict.duplicated,
            verdict.unexplained,
            verdict.unclean
        )
        .into());
    }
    Ok(())
}

/// Fills the filesystem holding `path` with a file there, until it refuses; the bytes written.
fn fill(path: &std::path::Path) -> anyhow::Result<u64> {
    use std::io::Write as _;
    let mut file = std::fs::File::create(path).with_context(|| path.display().to_string())?;
    let chunk = vec![0u8; 1 << 20];
    let mut written = 0u64;
    loop {
        match file.write(&chunk) {
            Ok(0) => break,
            Ok(n) => written += n as u64,
            Err(e) if e.kind() == std::io::ErrorKind::StorageFull => break,
            Err(e) => return Err(anyhow!("filling {}: {e}", path.display())),
        }
    }
    let _ = file.sync_all();
    Ok(written)
}

/// SQLite's own check of its file (`PRAGMA integrity_check`); PostgreSQL checks itself.
async fn integrity(target: &Target) -> anyhow::Result<()> {
    if target.store.backend() != warga_store::Backend::Sqlite {
        return Ok(());
    }
    let answer: String = sqlx::query_scalar("PRAGMA integrity_check")
        .fetch_one(target.store.reader())
        .await?;
    if answer != "ok" {
        return Err(anyhow!("the SQLite database is damaged: {answer}"));
    }
    Ok(())
}

async fn ledger_faults(faults: &ledger::LedgerFaults) -> Result<(), BenchError> {
    let verdict = ledger::run(faults).await?;
    println!(
        "| leader kills | two orderers down | peer kills | submitted | acknowledged | acknowledged without a majority | lost | divergent blocks (of height) | peers verified |"
    );
    println!("|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    println!(
        "| {} | {} × {:.0} s | {} | {} | {} | **{}** | **{}** | **{}** ({}) | {} |",
        verdict.leader_kills,
        verdict.outages,
        faults.outage.as_secs_f64(),
        verdict.peer_kills,
        verdict.submitted,
        verdict.acknowledged,
        verdict.acknowledged_without_majority,
        verdict.lost,
        verdict.divergent_blocks,
        verdict.height,
        verdict.verified
    );
    if verdict.acknowledged == 0 {
        return Err(anyhow!("no submission was acknowledged").into());
    }
    if verdict.acknowledged_without_majority > 0 || verdict.lost > 0 || verdict.divergent_blocks > 0 {
        return Err(anyhow!(
            "inconsistent: {} acknowledged without a majority, {} lost, {} divergent blocks",
            verdict.acknowledged_without_majority,
            verdict.lost,
            verdict.divergent_blocks
        )
        .into());
    }
    Ok(())
}
