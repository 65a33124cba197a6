//! `warga bench ledger`: the BPJS ledger under load, in the manner of Hyperledger Caliper —
//! rate-controlled workers submitting through the peers' gateways (endorse per policy,
//! order, wait for the commit) or evaluating on a peer, against a network started for the
//! run:
//!
//! - `processes`: `warga ledger network up` — three orderer and three peer processes;
//! - `up`: `warga up` with its embedded network (the same nodes in one process);
//! - `web`: `warga up` again, the load through its HTTPS web gateway (`/api/v1/ledger`) with
//!   real tokens — each officer's key held by the platform's vault and every signature
//!   audited (VerifyCard and RecordVisit; IssueCard needs registered residents and is left
//!   to the gRPC targets).
//!
//! Rate control: `--rate N` sends N transactions per second (after a linear ramp from zero),
//! with at most `--workers` outstanding; `--rate 0` is max-rate: `--workers` clients each
//! submitting back to back (started one by one over the ramp). Only transactions sent after
//! the ramp are measured: committed (or evaluated) per second, and latency from sending to
//! the gateway's answer after the commit.
//!
//! In the same run the machine's ceiling is measured: ECDSA P-256 verifications and
//! signatures per second on every core, and what a transaction costs in them on this
//! network — verifications: each endorser checks the proposal, the client checks every
//! endorsement before signing, the orderer the creator's signature, each peer the creator's
//! and every endorser's signature at commit; signatures: the client signs the proposal and
//! the transaction, each endorser its endorsement. The ceiling is how many such
//! transactions the cores could do if they did nothing but this cryptography; the ratio says
//! how close the ledger comes to it. (The orderers' block signatures and the peers' checks of
//! them are shared by a whole block and left out.)

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context as _, anyhow};
use tokio::io::AsyncBufReadExt as _;
use warga_ledger_core::network::{BPJS_EXAMPLE, ChannelView, Network};
use warga_ledger_msp::attestor::Attestor;
use warga_ledger_node::client::Client;

use crate::BenchError;
use crate::child::{free_port, percentile};

const CHANNEL: &str = "bpjs-main";

/// Where the load goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum BenchTarget {
    /// `warga ledger network up`: every node its own process.
    Processes,
    /// `warga up`: the embedded network.
    Up,
    /// `warga up`, through its HTTPS web gateway with officers' tokens.
    Web,
}

/// What the load is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Workload {
    /// IssueCard by BPJS: writes a new key (MAJORITY of the three organisations).
    IssueCard,
    /// VerifyCard, evaluated on a peer: reads.
    VerifyCard,
    /// RecordVisit by a Puskesmas: reads the card, writes the visit (BPJS and Puskesmas).
    RecordVisit,
    /// Half VerifyCard, a quarter IssueCard, a quarter RecordVisit.
    Mix,
}

impl Workload {
    fn name(self) -> &'static str {
        match self {
            Workload::IssueCard => "IssueCard",
            Workload::VerifyCard => "VerifyCard",
            Workload::RecordVisit => "RecordVisit",
            Workload::Mix => "mix",
        }
    }
}

/// What to run.
#[derive(Clone, Debug)]
pub struct LedgerBench {
    pub targets: Vec<BenchTarget>,
    pub workloads: Vec<Workload>,
    /// Transactions per second; 0: max-rate.
    pub rate: u32,
    pub duration: Duration,
    pub ramp: Duration,
    pub workers: usize,
    /// The network's BatchTimeout, in place of the shipped file's 250 ms (a network tuned
    /// for latency cuts blocks sooner).
    pub batch_timeout_ms: Option<u64>,
}

/// A network started for the run.
pub(crate) struct Running {
    child: tokio::process::Child,
    pub(crate) network: Network,
    pub(crate) crypto: PathBuf,
    /// MSP id → the address of that organisation's peer.
    pub(crate) peers: BTreeMap<String, SocketAddr>,
    /// `warga up`'s HTTPS address and data directory.
    https: Option<(String, PathBuf)>,
    _dir: tempfile::TempDir,
}

/// The web gateway as officers reach it: an HTTPS client and a token per organisation.
/// Connections per organisation (gRPC) and to the web gateway, as Caliper's workers each
/// hold their own.
const CONNECTIONS: usize = 4;

struct Web {
    /// One HTTPS connection each (HTTP/2: a server takes 200 streams per connection at
    /// once), as many as the gRPC target's connections per organisation.
    clients: Vec<reqwest::Client>,
    url: String,
    /// A Puskesmas receptionist (facility P3578010).
    puskesmas: String,
}

/// A child's stdout, read until a line containing `until`; the rest goes to `log`.
async fn banner(child: &mut tokio::process::Child, until: &str, log: PathBuf) -> anyhow::Result<Vec<String>> {
    let stdout = child.stdout.take().ok_or_else(|| anyhow!("no stdout"))?;
    let mut lines = tokio::io::BufReader::new(stdout).lines();
    let mut seen = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    loop {
        match tokio::time::timeout_at(deadline, lines.next_line()).await {
            Ok(Ok(Some(line))) => {
                let done = line.contains(until);
                seen.push(line);
                if done {
                    break;
                }
            }
            _ => return Err(anyhow!("the network did not start: {}", seen.join(" / "))),
        }
    }
    tokio::spawn(async move {
        use tokio::io::AsyncWriteExt as _;
        let Ok(mut file) = tokio::fs::File::create(log).await else {
            return;
        };
        while let Ok(Some(line)) = lines.next_line().await {
            let _ = file.write_all(format!("{line}\n").as_bytes()).await;
        }
    });
    Ok(seen)
}

fn command(exe: &Path, dir: &Path) -> tokio::process::Command {
    let mut command = tokio::process::Command::new(exe);
    // This run's configuration only: none of the caller's `WARGA_…` variables.
    for (key, _) in std::env::vars().filter(|(k, _)| k.starts_with(warga_config::ENV_PREFIX)) {
        command.env_remove(key);
    }
    command
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .kill_on_drop(true);
    command
}

/// The shipped network file, with `batch_timeout_ms` in place of its BatchTimeout.
fn network_text(batch_timeout_ms: Option<u64>) -> String {
    match batch_timeout_ms {
        Some(ms) => BPJS_EXAMPLE.replacen("batch_timeout_ms: 250", &format!("batch_timeout_ms: {ms}"), 1),
        None => BPJS_EXAMPLE.to_owned(),
    }
}

/// A network file's text with every node's address moved to a free port.
pub(crate) fn on_free_ports(mut text: String) -> anyhow::Result<String> {
    for port in [7050, 8050, 9050, 9443, 9444, 9445, 7051, 7151, 7251, 9451, 9551, 9651] {
        text = text.replace(&format!("127.0.0.1:{port}"), &format!("127.0.0.1:{}", free_port()?));
    }
    Ok(text)
}

pub(crate) async fn start(target: BenchTarget, batch_timeout_ms: Option<u64>) -> anyhow::Result<Running> {
    let dir = tempfile::tempdir()?;
    let exe = std::env::current_exe()?;
    let stderr = std::fs::File::create(dir.path().join("stderr.log"))?;
    match target {
        BenchTarget::Processes => {
            let text = on_free_ports(network_text(batch_timeout_ms))?;
            let network = Network::parse(&text).map_err(|e| anyhow!("{e}"))?;
            let file = dir.path().join("network.yaml");
            std::fs::write(&file, &text)?;
            let mut child = command(&exe, dir.path())
                .args(["ledger", "network", "up", "--network"])
                .arg(&file)
                .arg("--dir")
                .arg(dir.path().join("net"))
                .stderr(stderr)
                .spawn()
                .context("starting warga ledger network up")?;
            banner(&mut child, "Ctrl+C", dir.path().join("stdout.log")).await?;
            let peers = network
                .organizations
                .iter()
                .filter_map(|o| o.peers.first().map(|p| (o.msp_id.clone(), p.listen)))
                .collect();
            Ok(Running {
                child,
                network,
                crypto: dir.path().join("net/crypto"),
                peers,
                https: None,
                _dir: dir,
            })
        }
        BenchTarget::Up | BenchTarget::Web => {
            let config = dir.path().join("bench.toml");
            let file = dir.path().join("network.yaml");
            std::fs::write(&file, network_text(batch_timeout_ms))?;
            std::fs::write(
                &config,
                format!(
                    "data_dir = {:?}\n[http]\nlisten = \"127.0.0.1:0\"\n[telemetry]\nlog_level = \"warn\"\n\
                     [gateway]\nuser_per_minute = 10000000\n\
                     [ledger]\nephemeral_ports = true\nnetwork = {:?}\n",
                    dir.path().join("data").display().to_string(),
                    file.display().to_string()
                ),
            )?;
            let mut child = command(&exe, dir.path())
                .arg("--config")
                .arg(&config)
                .arg("up")
                .stderr(stderr)
                .spawn()
                .context("starting warga up")?;
            let lines = banner(&mut child, "Ctrl+C", dir.path().join("stdout.log")).await?;
            let mut network = Network::parse(&network_text(batch_timeout_ms)).map_err(|e| anyhow!("{e}"))?;
            let mut peers = BTreeMap::new();
            for line in &lines {
                let words: Vec<&str> = line.split_whitespace().collect();
                if let ["peer", host, "gRPC", addr, "(mTLS)", ..] = words.as_slice() {
                    let addr: SocketAddr = addr.parse().map_err(|_| anyhow!("a peer address in {line:?}"))?;
                    for org in &mut network.organizations {
                        if let Some(peer) = org.peers.iter_mut().find(|p| p.host == *host) {
                            peer.set_listen(addr);
                            peers.insert(org.msp_id.clone(), addr);
                        }
                    }
                }
            }
            if peers.len() != network.organizations.len() {
                return Err(anyhow!("warga up did not report every peer: {}", lines.join(" / ")));
            }
            let url = lines
                .iter()
                .find_map(|line| line.split_whitespace().find(|w| w.starts_with("https://")))
                .map(|u| u.trim_end_matches(['/', ',', ')']).to_owned())
                .ok_or_else(|| anyhow!("warga up printed no HTTPS address: {}", lines.join(" / ")))?;
            Ok(Running {
                child,
                network,
                crypto: dir.path().join("data/ledger/crypto"),
                peers,
                https: Some((url, dir.path().join("data"))),
                _dir: dir,
            })
        }
    }
}

impl Running {
    pub(crate) fn client(&self, msp_id: &str) -> anyhow::Result<Client> {
        let org = self
            .network
            .organization(msp_id)
            .ok_or_else(|| anyhow!("no organisation {msp_id}"))?;
        let host = &org.peers[0].host;
        warga_ledger_node::embedded::client_of(
            &self.network,
            &self.crypto,
            msp_id,
            "User1",
            self.peers[msp_id],
            host,
            CHANNEL,
        )
        .map_err(|e| anyhow!("{e}"))
    }

    /// The public-key operations one transaction of `function` costs on this network:
    /// (verifications, signatures).
    fn crypto(&self, function: &str) -> (f64, f64) {
        let Some(channel) = self.network.channel(CHANNEL) else {
            return (f64::NAN, f64::NAN);
        };
        let Some(chaincode) = channel.chaincodes.first() else {
            return (f64::NAN, f64::NAN);
        };
        let view = ChannelView {
            network: &self.network,
            channel,
        };
        let plans = warga_ledger_node::gateway::endorsement_plans(chaincode.policy_for(function), &view, "BPJSMSP");
        let endorsers = plans.first().map_or(0, Vec::len) as f64;
        let peers = channel.members.len() as f64;
        // Verifications: endorsers check the proposal, the client every endorsement, the
        // orderer the creator's signature (Writers), each peer the creator's and every
        // endorser's at commit. Signatures: the client's two, one per endorser.
        let verifications = endorsers + endorsers + 1.0 + peers * (1.0 + endorsers);
        let signatures = 2.0 + endorsers;
        // IssueCard also carries the registry's attestation: signed once, checked by each
        // endorser's contract.
        if function == "IssueCard" {
            return (verifications + endorsers, signatures + 1.0);
        }
        (verifications, signatures)
    }

    pub(crate) async fn stop(mut self) {
        if let Some(pid) = self.child.id().and_then(|id| rustix::process::Pid::from_raw(id as i32)) {
            let _ = rustix::process::kill_process(pid, rustix::process::Signal::TERM);
        }
        if tokio::time::timeout(Duration::from_secs(15), self.child.wait())
            .await
            .is_err()
        {
            let _ = self.child.kill().await;
        }
    }
}

impl Running {
    /// Tokens minted with the platform's own signing key (as its sign-in would), and an
    /// HTTPS client trusting its certificate.
    async fn web(&self) -> anyhow::Result<Web> {
        let (url, data) = self.https.clone().ok_or_else(|| anyhow!("no HTTPS address"))?;
        let mut config = warga_config::Config::default();
        config.data_dir = data.clone();
        config.http.listen = url
            .trim_start_matches("https://")
            .parse()
            .map_err(|_| anyhow!("the HTTPS address {url}"))?;
        let (platform, minter) = crate::child::platform_minter(config).await?;
        let claims = warga_auth::AccessClaims {
            roles: vec!["ledger_member".into()],
            msp_id: Some("PuskesmasMSP".into()),
            facility: Some("P3578010".into()),
            ..warga_auth::AccessClaims::new("bench-loket-puskesmas", &platform.config.identity.audience)
        };
        let puskesmas = minter.access_token(claims, 4 * 3_600).await?.token;
        platform.store.close().await;
        let clients = (0..CONNECTIONS)
            .map(|_| crate::child::https_client(&data.join("tls/cert.pem")))
            .collect::<Result<_, _>>()?;
        Ok(Web {
            clients,
            url,
            puskesmas,
        })
    }
}

impl Web {
    /// POSTs `body` to `path` as the receptionist over connection `i` (modulo their
    /// number); the status wanted, or the problem.
    async fn post(&self, i: u64, path: &str, body: serde_json::Value, wanted: u16) -> Result<(), String> {
        let response = self.clients[i as usize % self.clients.len()]
            .post(format!("{}{path}", self.url))
            .bearer_auth(&self.puskesmas)
            .json(&body)
            .send()
            .await
            .map_err(|e| e.to_string())?;
        let status = response.status().as_u16();
        if status == wanted {
            // The answer is read whole, as a client would.
            response.bytes().await.map_err(|e| e.to_string())?;
            return Ok(());
        }
        let problem: serde_json::Value = response.json().await.unwrap_or_default();
        Err(format!("{status} {}", problem["type"].as_str().unwrap_or_default()))
    }
}

/// The clients and the data a workload draws on.
struct Load {
    bpjs: Vec<Client>,
    puskesmas: Vec<Client>,
    readers: Vec<Client>,
    /// Cards issued before measuring, for reads and visits.
    cards: Vec<String>,
    counter: AtomicU64,
    today: String,
    /// Through the web gateway instead of gRPC.
    web: Option<Web>,
    /// The population registry's attestation key: the load generator vouches for the NIKs
    /// it issues cards to, as the registry would (IssueCard takes its word).
    registry: Attestor,
}

impl Load {
    fn next(&self) -> u64 {
        self.counter.fetch_add(1, Ordering::Relaxed)
    }

    fn nik(n: u64) -> String {
        format!("{:016}", 3_171_000_000_000_000u64 + n)
    }

    /// IssueCard's arguments for `nik`, with the registry's attestation made now.
    fn issue_card(&self, nik: String) -> Result<[String; 4], String> {
        let now_ms = time::OffsetDateTime::now_utc().unix_timestamp().saturating_mul(1000);
        let attestation = self
            .registry
            .attest(&nik, warga_ledger_core::attestation::ALIVE, now_ms)
            .map_err(|e| e.to_string())?;
        Ok([nik, "1".into(), "2030-12-31".into(), attestation])
    }

    /// One operation of `workload`, the `i`-th.
    async fn run(&self, workload: Workload, i: u64) -> Result<(), String> {
        let pick = |clients: &[Client]| clients[(i as usize) % clients.len()].clone();
        let card = || self.cards[(i as usize * 7919) % self.cards.len()].clone();
        let kind = match workload {
            Workload::Mix => match i % 4 {
                0 | 1 => Workload::VerifyCard,
                2 => Workload::IssueCard,
                _ => Workload::RecordVisit,
            },
            other => other,
        };
        if let Some(web) = &self.web {
            return match kind {
                Workload::RecordVisit => {
                    let visit = format!("WV-{}", self.next());
                    let body = serde_json::json!({
                        "function": "RecordVisit",
                        "args": [visit, card(), self.today],
                        "transient": { "clinical": { "diagnosis": "J06.9", "notes": "" } },
                    });
                    web.post(i, "/api/v1/ledger/transactions", body, 201).await
                }
                Workload::VerifyCard => {
                    let body = serde_json::json!({ "function": "VerifyCard", "args": [card()] });
                    web.post(i, "/api/v1/ledger/evaluate", body, 200).await
                }
                _ => Err("not measured through the web gateway".into()),
            };
        }
        let submitted = match kind {
            Workload::IssueCard => {
                let args = self.issue_card(Self::nik(self.next()))?;
                pick(&self.bpjs).submit("IssueCard", &args).await
            }
            Workload::RecordVisit => {
                let visit = format!("BV-{}", self.next());
                let args = [visit.clone(), card(), self.today.clone()];
                // The clinical details as private data (salted with the visit's own id: a
                // benchmark's salt needs only to be unique).
                let transient =
                    warga_ledger_core::bpjs::clinical_transient("J06.9", "", &format!("bench-salt-{visit}"));
                pick(&self.puskesmas)
                    .submit_with_transient("RecordVisit", &args, transient)
                    .await
            }
            _ => {
                return pick(&self.readers)
                    .evaluate("VerifyCard", &[card()])
                    .await
                    .map(|_| ())
                    .map_err(|s| s.message().to_owned());
            }
        };
        match submitted {
            Ok(status) if status.code_name == "VALID" => Ok(()),
            Ok(status) => Err(format!("committed as {}", status.code_name)),
            Err(status) => Err(status.message().to_owned()),
        }
    }
}

/// One sample: when it was sent (since the start), how long until the answer, and how.
struct Sample {
    sent: Duration,
    latency: Duration,
    error: Option<String>,
}

struct Measured {
    sent: usize,
    ok: usize,
    failed: usize,
    tps: f64,
    p50: f64,
    p95: f64,
    p99: f64,
    errors: BTreeMap<String, usize>,
}

fn measure(samples: &[Sample], ramp: Duration) -> Measured {
    let window: Vec<&Sample> = samples.iter().filter(|s| s.sent >= ramp).collect();
    let ok: Vec<&&Sample> = window.iter().filter(|s| s.error.is_none()).collect();
    let end = ok.iter().map(|s| s.sent + s.latency).max().unwrap_or(ramp);
    let seconds = (end.saturating_sub(ramp)).as_secs_f64().max(1e-9);
    let mut latencies: Vec<f64> = ok.iter().map(|s| s.latency.as_secs_f64() * 1000.0).collect();
    latencies.sort_by(f64::total_cmp);
    let mut errors = BTreeMap::new();
    for s in &window {
        if let Some(error) = &s.error {
            *errors.entry(error.chars().take(120).collect()).or_insert(0) += 1;
        }
    }
    Measured {
        sent: window.len(),
        ok: ok.len(),
        failed: window.len() - ok.len(),
        tps: ok.len() as f64 / seconds,
        p50: percentile(&latencies, 50.0),
        p95: percentile(&latencies, 95.0),
        p99: percentile(&latencies, 99.0),
        errors,
    }
}

/// When the `n`-th transaction leaves, at `rate` per second after a linear ramp over `ramp`.
fn schedule(n: u64, rate: f64, ramp: f64) -> f64 {
    let during_ramp = rate * ramp / 2.0;
    if ramp > 0.0 && (n as f64) < during_ramp {
        (2.0 * ramp * n as f64 / rate).sqrt()
    } else {
        ramp + (n as f64 - during_ramp) / rate
    }
}

async fn drive(load: Arc<Load>, workload: Workload, bench: &LedgerBench) -> Vec<Sample> {
    let samples = Arc::new(Mutex::new(Vec::new()));
    let start = Instant::now();
    let end = bench.ramp + bench.duration;
    let record = {
        let samples = samples.clone();
        move |sent: Duration, latency: Duration, result: Result<(), String>| {
            if let Ok(mut s) = samples.lock() {
                s.push(Sample {
                    sent,
                    latency,
                    error: result.err(),
                });
            }
        }
    };
    if bench.rate == 0 {
        // Max-rate: every worker back to back, started one by one over the ramp.
        let mut tasks = Vec::new();
        for w in 0..bench.workers {
            let (load, record) = (load.clone(), record.clone());
            let delay = bench.ramp.mul_f64(w as f64 / bench.workers as f64);
            tasks.push(tokio::spawn(async move {
                tokio::time::sleep(delay).await;
                let mut i = w as u64;
                while start.elapsed() < end {
                    let sent = start.elapsed();
                    let result = load.run(workload, i).await;
                    record(sent, start.elapsed() - sent, result);
                    i += bench_stride();
                }
            }));
        }
        for task in tasks {
            let _ = task.await;
        }
    } else {
        let permits = Arc::new(tokio::sync::Semaphore::new(bench.workers));
        let (rate, ramp) = (f64::from(bench.rate), bench.ramp.as_secs_f64());
        let mut n = 0u64;
        loop {
            let at = Duration::from_secs_f64(schedule(n, rate, ramp));
            if at >= end {
                break;
            }
            tokio::time::sleep_until(tokio::time::Instant::from_std(start + at)).await;
            let Ok(permit) = permits.clone().acquire_owned().await else {
                break;
            };
            let (load, record) = (load.clone(), record.clone());
            tokio::spawn(async move {
                let sent = start.elapsed();
                let result = load.run(workload, n).await;
                record(sent, start.elapsed() - sent, result);
                drop(permit);
            });
            n += 1;
        }
        let _ = permits.acquire_many(bench.workers as u32).await;
    }
    let mut samples = samples.lock().map(|mut s| std::mem::take(&mut *s)).unwrap_or_default();
    samples.sort_by_key(|s| s.sent);
    samples
}

/// Workers in max-rate mode draw every `bench_stride()`-th operation index, so they spread
/// over the mix and the cards.
fn bench_stride() -> u64 {
    1_000_003
}

/// ECDSA P-256 (SHA-256) verifications per second on every core, for about `for_how_long`.
/// ECDSA P-256 signatures per second on every core (ring), as the nodes and clients sign.
fn signatures_per_second(for_how_long: Duration) -> anyhow::Result<f64> {
    use ring::signature::{ECDSA_P256_SHA256_ASN1_SIGNING, EcdsaKeyPair};
    let rng = ring::rand::SystemRandom::new();
    let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &rng).map_err(|e| anyhow!("{e}"))?;
    let key =
        EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, pkcs8.as_ref(), &rng).map_err(|e| anyhow!("{e}"))?;
    let message = vec![7u8; 1024];
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let started = Instant::now();
    let total: u64 = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(|| {
                    let rng = ring::rand::SystemRandom::new();
                    let mut n = 0u64;
                    while started.elapsed() < for_how_long {
                        for _ in 0..100 {
                            if key.sign(&rng, &message).is_ok() {
                                n += 1;
                            }
                        }
                    }
                    n
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap_or(0)).sum()
    });
    Ok(total as f64 / started.elapsed().as_secs_f64())
}

fn verifications_per_second(for_how_long: Duration) -> anyhow::Result<f64> {
    use ring::signature::{ECDSA_P256_SHA256_ASN1, ECDSA_P256_SHA256_ASN1_SIGNING, EcdsaKeyPair, KeyPair};
    let rng = ring::rand::SystemRandom::new();
    let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &rng).map_err(|e| anyhow!("{e}"))?;
    let key =
        EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, pkcs8.as_ref(), &rng).map_err(|e| anyhow!("{e}"))?;
    // A transaction's signed bytes are a few hundred bytes to a few KiB.
    let message = vec![7u8; 1024];
    let signature = key.sign(&rng, &message).map_err(|e| anyhow!("{e}"))?;
    let public = key.public_key().as_ref().to_vec();
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let started = Instant::now();
    let total: u64 = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(|| {
                    let key = ring::signature::UnparsedPublicKey::new(&ECDSA_P256_SHA256_ASN1, &public);
                    let mut n = 0u64;
                    while started.elapsed() < for_how_long {
                        for _ in 0..100 {
                            if key.verify(&message, signature.as_ref()).is_ok() {
                                n += 1;
                            }
                        }
                    }
                    n
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap_or(0)).sum()
    });
    Ok(total as f64 / started.elapsed().as_secs_f64())
}

pub(crate) fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    format!("{cores} cores ({cpu})")
}

/// The machine's public-key operations per second on every core, measured in the run.
struct Rates {
    verify: f64,
    sign: f64,
}

pub async fn ledger(bench: LedgerBench) -> Result<(), BenchError> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    if bench.workers == 0 || bench.duration.is_zero() {
        return Err(BenchError::Usage("--workers and --duration must be above zero".into()));
    }
    let mode = if bench.rate == 0 {
        format!("max-rate, {} workers", bench.workers)
    } else {
        format!("fixed {} tx/s, ≤ {} outstanding", bench.rate, bench.workers)
    };
    eprintln!("ceiling: measuring signature verifications and signatures on every core …");
    let rates = Rates {
        verify: verifications_per_second(Duration::from_secs(3))?,
        sign: signatures_per_second(Duration::from_secs(3))?,
    };
    let mut rows = Vec::new();
    for target in &bench.targets {
        eprintln!("{target:?}: starting the network …");
        let running = start(*target, bench.batch_timeout_ms).await?;
        let result = run_target(&running, *target, &bench, &rates, &mut rows).await;
        running.stop().await;
        result?;
    }
    println!("### warga bench ledger\n");
    println!(
        "Machine: {}; load generator, orderers and peers on the same machine. Mode: {mode}; {} s ramp, {} s measured per workload; BatchTimeout {} ms.\n",
        machine(),
        bench.ramp.as_secs(),
        bench.duration.as_secs(),
        bench.batch_timeout_ms.unwrap_or(250)
    );
    println!(
        "Ceiling: {:.0} ECDSA P-256 verifications/s and {:.0} signatures/s on every core (ring); a transaction's cost is its verifications and signatures at those rates.\n",
        rates.verify, rates.sign
    );
    println!(
        "| target | workload | sent | ok | failed | TPS | p50 ms | p95 ms | p99 ms | verifications/tx | signatures/tx | ceiling TPS | TPS ÷ ceiling |"
    );
    println!("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for row in &rows {
        println!("{row}");
    }
    Ok(())
}

async fn run_target(
    running: &Running,
    target: BenchTarget,
    bench: &LedgerBench,
    rates: &Rates,
    rows: &mut Vec<String>,
) -> anyhow::Result<()> {
    let clients = |msp: &str| {
        (0..CONNECTIONS)
            .map(|_| running.client(msp))
            .collect::<Result<Vec<_>, _>>()
    };
    let today = {
        let d = time::OffsetDateTime::now_utc().date();
        format!("{:04}-{:02}-{:02}", d.year(), u8::from(d.month()), d.day())
    };
    let mut readers = clients("BPJSMSP")?;
    readers.extend(clients("PuskesmasMSP")?);
    readers.extend(clients("RumahSakitMSP")?);
    let mut load = Load {
        bpjs: clients("BPJSMSP")?,
        puskesmas: clients("PuskesmasMSP")?,
        readers,
        cards: Vec::new(),
        counter: AtomicU64::new(0),
        today,
        web: None,
        registry: Attestor::load(&running.crypto).map_err(|e| anyhow!("{e}"))?,
    };
    // Cards to read and visit, issued before anything is measured (the first submits also
    // wait for the orderers' first election).
    let seed = (bench.workers * 2).max(64) as u64;
    let issued = futures::future::join_all((0..seed).map(|_| {
        let nik = Load::nik(load.next());
        let args = load.issue_card(nik.clone());
        let client = load.bpjs[0].clone();
        async move {
            let args = args?;
            client
                .submit("IssueCard", &args)
                .await
                .map(|_| nik)
                .map_err(|status| status.to_string())
        }
    }))
    .await;
    load.cards = issued.into_iter().filter_map(Result::ok).collect();
    if load.cards.is_empty() {
        return Err(anyhow!("{target:?}: no card could be issued before the run"));
    }
    // Every peer has the cards before anyone reads or visits them (a gateway answers once
    // its own peer committed; the others follow at their pace).
    let height = load.bpjs[0].info().await.map_err(|s| anyhow!("{s}"))?.height;
    for client in &load.readers {
        let deadline = Instant::now() + Duration::from_secs(30);
        while client.info().await.map_err(|s| anyhow!("{s}"))?.height < height {
            if Instant::now() > deadline {
                return Err(anyhow!("{target:?}: a peer did not reach height {height}"));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    if target == BenchTarget::Web {
        let web = running.web().await?;
        // The receptionist's first request enrols her at the Puskesmas CA: before measuring.
        let card = load.cards[0].clone();
        web.post(
            0,
            "/api/v1/ledger/evaluate",
            serde_json::json!({ "function": "VerifyCard", "args": [card] }),
            200,
        )
        .await
        .map_err(|e| anyhow!("{target:?}: the web gateway refused the first request: {e}"))?;
        load.web = Some(web);
    }
    let load = Arc::new(load);
    for workload in &bench.workloads {
        if target == BenchTarget::Web && matches!(workload, Workload::IssueCard | Workload::Mix) {
            eprintln!(
                "{target:?}: {} is measured through gRPC only (a card needs a registered resident)",
                workload.name()
            );
            continue;
        }
        eprintln!("{target:?}: {} …", workload.name());
        let samples = drive(load.clone(), *workload, bench).await;
        let m = measure(&samples, bench.ramp);
        let (verifications, signatures) = match workload {
            Workload::IssueCard => running.crypto("IssueCard"),
            Workload::RecordVisit => running.crypto("RecordVisit"),
            // An evaluation: the client signs the proposal, the peer checks it.
            Workload::VerifyCard => (1.0, 1.0),
            Workload::Mix => {
                let (issue_v, issue_s) = running.crypto("IssueCard");
                let (visit_v, visit_s) = running.crypto("RecordVisit");
                (
                    0.5 + 0.25 * issue_v + 0.25 * visit_v,
                    0.5 + 0.25 * issue_s + 0.25 * visit_s,
                )
            }
        };
        let ceiling = 1.0 / (verifications / rates.verify + signatures / rates.sign);
        for (error, count) in &m.errors {
            eprintln!("  {count} × {error}");
        }
        rows.push(format!(
            "| {} | {} | {} | {} | {} | {:.0} | {:.0} | {:.0} | {:.0} | {verifications:.1} | {signatures:.1} | {ceiling:.0} | {:.2} |",
            match target {
                BenchTarget::Processes => "6 processes",
                BenchTarget::Up => "warga up",
                BenchTarget::Web => "warga up, web gateway",
            },
            workload.name(),
            m.sent,
            m.ok,
            m.failed,
            m.tps,
            m.p50,
            m.p95,
            m.p99,
            m.tps / ceiling
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_schedule_ramps_then_holds_the_rate() {
        // 100 tx/s after a 2 s ramp: 100 sent during the ramp, then one every 10 ms.
        assert_eq!(schedule(0, 100.0, 2.0), 0.0);
        assert!((schedule(100, 100.0, 2.0) - 2.0).abs() < 1e-9);
        assert!((schedule(150, 100.0, 2.0) - 2.5).abs() < 1e-9);
        assert!((schedule(25, 100.0, 2.0) - 1.0).abs() < 1e-9);
        assert!((schedule(10, 100.0, 0.0) - 0.1).abs() < 1e-9);
    }

    #[test]
    fn only_the_window_after_the_ramp_counts() {
        let s = |sent_ms: u64, latency_ms: u64, ok: bool| Sample {
            sent: Duration::from_millis(sent_ms),
            latency: Duration::from_millis(latency_ms),
            error: (!ok).then(|| "refused".to_owned()),
        };
        let samples = [
            s(500, 10, true),
            s(1000, 100, true),
            s(1500, 500, true),
            s(1600, 5, false),
        ];
        let m = measure(&samples, Duration::from_secs(1));
        assert_eq!((m.sent, m.ok, m.failed), (3, 2, 1));
        // Two committed in the second from 1.0 s to the last answer at 2.0 s.
        assert!((m.tps - 2.0).abs() < 1e-9);
        assert_eq!(m.errors.get("refused"), Some(&1));
    }
}
