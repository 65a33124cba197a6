//! The ledger's faults: a network of processes (three orderers, a peer per organisation,
//! `warga ledger network up`'s machinery) under a submission load (IssueCard through the
//! BPJS peer's gateway), in three phases:
//!
//! 1. the Raft leader killed with SIGKILL every `kill_every`, restarted at once, for
//!    `leader_phase`;
//! 2. two of the three orderers killed for `outage`, then restarted: no submission sent
//!    while the majority is gone may be acknowledged;
//! 3. a peer (Puskesmas's) killed `peer_kills` times at random moments while blocks arrive —
//!    mid-commit as often as not — and restarted.
//!
//! Then, with the load stopped and every peer caught up: every acknowledged transaction is
//! VALID on every peer, every peer holds the same header and commit hash at every height,
//! and, the network stopped, `warga ledger verify` replays each peer's ledger.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context as _, anyhow};
use warga_ledger_core::network::{BPJS_EXAMPLE, Network};
use warga_ledger_msp::attestor::Attestor;
use warga_ledger_node::client::Client;
use warga_ledger_node::processes::LocalNetwork;

const CHANNEL: &str = "bpjs-main";
/// How long one submission may take before its outcome counts as unknown.
const SUBMIT_DEADLINE: Duration = Duration::from_secs(20);

#[derive(Clone, Debug)]
pub struct LedgerFaults {
    pub leader_phase: Duration,
    pub kill_every: Duration,
    pub outage: Duration,
    pub peer_kills: usize,
    /// Clients submitting one after another.
    pub workers: usize,
}

/// One submission's outcome.
struct Submitted {
    sent: Instant,
    answered: Instant,
    /// The transaction id when acknowledged VALID.
    acknowledged: Option<String>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The network under test, its clients and its load.
struct Bench {
    net: LocalNetwork,
    network: Network,
    file: std::path::PathBuf,
    clients: Vec<(String, Client)>,
    registry: Arc<Attestor>,
    _dir: tempfile::TempDir,
}

impl Bench {
    async fn start() -> anyhow::Result<Bench> {
        let dir = tempfile::tempdir()?;
        let exe = std::env::current_exe()?;
        let text = crate::ledger::on_free_ports(BPJS_EXAMPLE.to_owned())?;
        let network = Network::parse(&text).map_err(|e| anyhow!("{e}"))?;
        let file = dir.path().join("network.yaml");
        std::fs::write(&file, &text)?;
        let net = LocalNetwork::start(&exe, &file, &dir.path().join("net"), CHANNEL)
            .await
            .map_err(|e| anyhow!("starting the network: {e}"))?;
        let mut clients = Vec::new();
        for org in &network.organizations {
            let Some(peer) = org.peers.first() else { continue };
            let client = warga_ledger_node::embedded::client_of(
                &network,
                &net.crypto,
                &org.msp_id,
                "User1",
                peer.listen,
                &peer.host,
                CHANNEL,
            )
            .map_err(|e| anyhow!("{e}"))?;
            clients.push((peer.host.clone(), client));
        }
        let registry = Arc::new(Attestor::load(&net.crypto).map_err(|e| anyhow!("{e}"))?);
        Ok(Bench {
            net,
            network,
            file,
            clients,
            registry,
            _dir: dir,
        })
    }

    fn client(&self, host_prefix: &str) -> anyhow::Result<Client> {
        self.clients
            .iter()
            .find(|(host, _)| host.starts_with(host_prefix))
            .map(|(_, c)| c.clone())
            .ok_or_else(|| anyhow!("no peer {host_prefix}"))
    }

    /// The orderer the live orderers agree is the leader (15 s at most).
    async fn leader(&self) -> anyhow::Result<String> {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let mut seen = Vec::new();
            for node in &self.network.orderer.nodes {
                let url = format!("https://{}/healthz", node.operations);
                let leader = match self.net.operations.get(&url).send().await {
                    Ok(response) => response
                        .json::<serde_json::Value>()
                        .await
                        .ok()
                        .and_then(|h| h["channels"][CHANNEL]["leader"].as_u64()),
                    Err(_) => continue,
                };
                seen.push(leader);
            }
            if let Some(Some(id)) = seen.first().copied()
                && seen.len() >= 2
                && seen.iter().all(|l| *l == Some(id))
                && let Some(node) = usize::try_from(id)
                    .ok()
                    .and_then(|i| self.network.orderer.nodes.get(i.wrapping_sub(1)))
            {
                return Ok(node.host.clone());
            }
            if Instant::now() > deadline {
                return Err(anyhow!("the orderers agree on no leader: {seen:?}"));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// Every submission's outcome, in the order answered.
type Record = Arc<Mutex<Vec<Submitted>>>;

/// Submitters issuing cards one after another until `stop`.
fn load(
    bench: &Bench,
    workers: usize,
    stop: &Arc<AtomicBool>,
) -> anyhow::Result<(Vec<tokio::task::JoinHandle<()>>, Record)> {
    let record: Record = Arc::new(Mutex::new(Vec::new()));
    let counter = Arc::new(AtomicU64::new(0));
    let client = bench.client("peer0.bpjs")?;
    let mut tasks = Vec::new();
    for _ in 0..workers {
        let (client, record, counter, stop) = (client.clone(), record.clone(), counter.clone(), stop.clone());
        let registry = bench.registry.clone();
        tasks.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                let nik = format!(
                    "{:016}",
                    3_171_000_000_000_000u64 + counter.fetch_add(1, Ordering::Relaxed)
                );
                let now_ms = time::OffsetDateTime::now_utc().unix_timestamp().saturating_mul(1000);
                let Ok(attestation) = registry.attest(&nik, warga_ledger_core::attestation::ALIVE, now_ms) else {
                    break;
                };
                let args = [nik, "1".into(), "2030-12-31".into(), attestation];
                let sent = Instant::now();
                let outcome = tokio::time::timeout(SUBMIT_DEADLINE, client.submit("IssueCard", &args)).await;
                let acknowledged = match outcome {
                    Ok(Ok(status)) if status.code_name == "VALID" => Some(status.tx_id),
                    _ => None,
                };
                let failed = acknowledged.is_none();
                lock(&record).push(Submitted {
                    sent,
                    answered: Instant::now(),
                    acknowledged,
                });
                if failed {
                    // A refused submission (no leader, a peer restarting) is retried with a
                    // new card after a moment rather than at once.
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }));
    }
    Ok((tasks, record))
}

/// What the run found.
pub(crate) struct LedgerVerdict {
    pub leader_kills: usize,
    pub outages: usize,
    pub peer_kills: usize,
    pub submitted: usize,
    pub acknowledged: usize,
    pub acknowledged_without_majority: usize,
    pub lost: usize,
    pub divergent_blocks: u64,
    pub height: u64,
    pub verified: usize,
}

pub(crate) async fn run(faults: &LedgerFaults) -> anyhow::Result<LedgerVerdict> {
    let mut bench = Bench::start().await?;
    let stop = Arc::new(AtomicBool::new(false));
    let (tasks, record) = load(&bench, faults.workers.max(1), &stop)?;

    // 1. The leader, killed again and again.
    let mut leader_kills = 0;
    let phase_end = Instant::now() + faults.leader_phase;
    while Instant::now() + faults.kill_every <= phase_end {
        tokio::time::sleep(faults.kill_every).await;
        let leader = bench.leader().await?;
        bench.net.kill(&leader).await.map_err(|e| anyhow!("{e}"))?;
        leader_kills += 1;
        tracing::info!(%leader, "the Raft leader killed with SIGKILL");
        bench.net.restart(&leader).await.map_err(|e| anyhow!("{e}"))?;
    }

    // 2. The majority gone.
    bench.leader().await?;
    let hosts: Vec<String> = bench.network.orderer.nodes.iter().map(|n| n.host.clone()).collect();
    for host in hosts.iter().take(2) {
        bench.net.kill(host).await.map_err(|e| anyhow!("{e}"))?;
    }
    let down = Instant::now();
    tokio::time::sleep(faults.outage).await;
    let up = Instant::now();
    for host in hosts.iter().take(2) {
        bench.net.restart(host).await.map_err(|e| anyhow!("{e}"))?;
    }
    bench.leader().await?;

    // 3. A peer killed while blocks arrive.
    let peer = bench
        .clients
        .iter()
        .find(|(h, _)| h.starts_with("peer0.puskesmas"))
        .map(|(h, _)| h.clone())
        .ok_or_else(|| anyhow!("no Puskesmas peer"))?;
    for _ in 0..faults.peer_kills {
        tokio::time::sleep(Duration::from_millis(200 + fastrand::u64(0..1000))).await;
        bench.net.kill(&peer).await.map_err(|e| anyhow!("{e}"))?;
        bench.net.restart(&peer).await.map_err(|e| anyhow!("{e}"))?;
    }

    stop.store(true, Ordering::Relaxed);
    for task in tasks {
        let _ = task.await;
    }
    let record = std::mem::take(&mut *lock(&record));
    let acknowledged: Vec<&String> = record.iter().filter_map(|s| s.acknowledged.as_ref()).collect();
    let acknowledged_without_majority = record
        .iter()
        .filter(|s| s.acknowledged.is_some() && s.sent > down && s.answered < up)
        .count();

    // Every peer caught up, then compared.
    let bpjs = bench.client("peer0.bpjs")?;
    let height = bpjs.info().await.map_err(|e| anyhow!("{e}"))?.height;
    let deadline = Instant::now() + Duration::from_secs(120);
    for (host, client) in &bench.clients {
        while client.info().await.map(|i| i.height).unwrap_or(0) < height {
            if Instant::now() > deadline {
                return Err(anyhow!("{host} did not reach height {height} within 120 s"));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    let mut lost = 0;
    for tx_id in &acknowledged {
        for (_, client) in &bench.clients {
            if !client.status(tx_id).await.is_ok_and(|s| s.code_name == "VALID") {
                lost += 1;
                break;
            }
        }
    }
    let mut divergent_blocks = 0;
    for number in 0..height {
        let mut seen = Vec::new();
        for (_, client) in &bench.clients {
            let block = client.block(number).await.map_err(|e| anyhow!("block {number}: {e}"))?;
            seen.push((block.header, block.metadata.map(|m| m.commit_hash)));
        }
        if seen.windows(2).any(|w| w[0] != w[1]) {
            divergent_blocks += 1;
        }
    }

    // Offline, each peer's ledger replays.
    let Bench { net, file, _dir, .. } = bench;
    let crypto = net.crypto.clone();
    let peers_dir = crypto.with_file_name("peers");
    net.stop().await;
    let exe = std::env::current_exe()?;
    let mut verified = 0;
    for entry in std::fs::read_dir(&peers_dir).with_context(|| peers_dir.display().to_string())? {
        let ledger = entry?.path().join(format!("{CHANNEL}.redb"));
        let output = std::process::Command::new(&exe)
            .args(["ledger", "verify", "--network"])
            .arg(&file)
            .arg("--crypto")
            .arg(&crypto)
            .args(["--channel", CHANNEL])
            .arg(&ledger)
            .output()?;
        if !output.status.success() {
            return Err(anyhow!(
                "warga ledger verify {}: {}",
                ledger.display(),
                String::from_utf8_lossy(&output.stderr).trim()
            ));
        }
        verified += 1;
    }
    Ok(LedgerVerdict {
        leader_kills,
        outages: 1,
        peer_kills: faults.peer_kills,
        submitted: record.len(),
        acknowledged: acknowledged.len(),
        acknowledged_without_majority,
        lost,
        divergent_blocks,
        height,
        verified,
    })
}
