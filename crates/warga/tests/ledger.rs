//! The ledger's nodes as real processes: three `warga orderer` processes talking Raft over
//! gRPC with mutual TLS, and a `warga peer` pulling and committing their blocks. The leader
//! orderer and the peer are each killed with SIGKILL while work is under way and come back
//! from their disks; chains agree, the peer's ledger passes `warga ledger verify`, /healthz
//! and /metrics answer. A whole network of processes (`warga ledger network up`) loses its
//! leader under load from the gateways and loses nothing acknowledged. The web gateway of a
//! `warga serve` process transacts on such a network with its CAs as processes of their own.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use std::time::Duration;

use serde_json::Value;
use tokio_stream::StreamExt;
use warga_ledger_core::network::BPJS_EXAMPLE;
use warga_ledger_core::rwset::MemoryState;
use warga_ledger_msp::generate::organization_dir;
use warga_ledger_msp::testing::TestNetwork;
use warga_ledger_orderer::grpc::{TlsMaterial, client_channel};
use warga_ledger_proto::v1;
use warga_ledger_proto::v1::atomic_broadcast_client::AtomicBroadcastClient;

const BIN: &str = env!("CARGO_BIN_EXE_warga");

/// The tests of this file start whole networks of processes on the same two cores. Raft's
/// election timeout (1 s in the example network) holds only while a node is scheduled within
/// it, so the test that freezes orderers and measures how long ordering stops runs alone
/// (write), the others beside each other (read): its figures are those of one network under
/// its own load, not of six networks fighting for the cores.
static NETWORKS: tokio::sync::RwLock<()> = tokio::sync::RwLock::const_new(());

/// The example network with every address moved to a port reserved for the node that will
/// bind it.
fn network_file(dir: &Path) -> (PathBuf, BTreeMap<String, (SocketAddr, SocketAddr)>) {
    let mut text = BPJS_EXAMPLE.to_owned();
    for port in [7050, 8050, 9050, 9443, 9444, 9445, 7051, 7151, 7251, 9451, 9551, 9651] {
        text = text.replace(
            &format!("127.0.0.1:{port}"),
            &format!("127.0.0.1:{}", warga_testkit::port_for_child()),
        );
    }
    let network = warga_ledger_core::network::Network::parse(&text).unwrap();
    let nodes = network
        .orderer
        .nodes
        .iter()
        .map(|n| (n.name.clone(), (n.listen, n.operations)))
        .collect();
    let path = dir.join("network.yaml");
    std::fs::write(&path, text).unwrap();
    (path, nodes)
}

/// A node's process, killed when dropped: a test that fails leaves no orderer or peer
/// running behind it.
struct Process(Child);

impl std::ops::Deref for Process {
    type Target = Child;
    fn deref(&self) -> &Child {
        &self.0
    }
}

impl std::ops::DerefMut for Process {
    fn deref_mut(&mut self) -> &mut Child {
        &mut self.0
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start(network: &Path, crypto: &Path, name: &str, data: &Path, log: &Path) -> Process {
    let log = std::fs::File::create(log).unwrap();
    Process(
        Command::new(BIN)
            .args([
                "orderer",
                "--network",
                network.to_str().unwrap(),
                "--crypto",
                crypto.to_str().unwrap(),
            ])
            .args([
                "--name",
                name,
                "--channel",
                "bpjs-main",
                "--data",
                data.to_str().unwrap(),
            ])
            .env("WARGA_TELEMETRY__LOG_LEVEL", "info")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap(),
    )
}

/// A client of the nodes' operations endpoints (HTTPS, trusting the network's TLS CAs).
/// IssueCard's arguments for `nik`, with the registry's attestation made now by the key of
/// the network's crypto material.
fn issue_card(crypto: &Path, nik: &str, class: &str) -> Vec<String> {
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let attestation = warga_ledger_msp::attestor::Attestor::load(crypto)
        .unwrap()
        .attest(nik, "alive", now_ms)
        .unwrap();
    vec![nik.to_owned(), class.to_owned(), "2030-12-31".to_owned(), attestation]
}

fn operations_http(network: &warga_ledger_core::network::Network, crypto: &Path) -> reqwest::Client {
    use warga_ledger_node::lifecycle::{operations_client, tls_cas};
    operations_client(&tls_cas(network, crypto).unwrap(), Duration::from_secs(5)).unwrap()
}

fn parse_network(file: &Path) -> warga_ledger_core::network::Network {
    warga_ledger_core::network::Network::parse(&std::fs::read_to_string(file).unwrap()).unwrap()
}

/// A node's `/healthz`: a peer's whole, an orderer's part for `bpjs-main` (an orderer
/// reports each channel it serves).
async fn health(http: &reqwest::Client, operations: SocketAddr) -> Option<Value> {
    let response = http.get(format!("https://{operations}/healthz")).send().await.ok()?;
    let health: Value = response.json().await.ok()?;
    match health.get("channels") {
        Some(channels) => channels.get("bpjs-main").cloned(),
        None => Some(health),
    }
}

/// The leader the given orderers agree on, and the height each reports.
async fn agreed_leader(http: &reqwest::Client, nodes: &[(String, SocketAddr)], not: Option<u64>) -> u64 {
    for _ in 0..300 {
        let mut leaders = Vec::new();
        for (_, ops) in nodes {
            leaders.push(health(http, *ops).await.and_then(|h| h["leader"].as_u64()));
        }
        if let Some(Some(leader)) = leaders.first().copied()
            && leaders.iter().all(|l| *l == Some(leader))
            && Some(leader) != not
        {
            return leader;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the orderers did not agree on a leader");
}

fn tls(net: &TestNetwork, dir: &Path, server: bool) -> TlsMaterial {
    TlsMaterial::from_crypto(&net.network, net.dir.path(), dir, server).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn orderer_processes_survive_a_killed_leader_and_catch_up() {
    let _beside_others = NETWORKS.read().await;
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut net = TestNetwork::new();
    let work = tempfile::tempdir().unwrap();
    let (network, addresses) = network_file(work.path());
    let names = ["orderer0", "orderer1", "orderer2"];
    let mut children: BTreeMap<u64, Process> = BTreeMap::new();
    for (i, name) in names.iter().enumerate() {
        let data = work.path().join(name);
        let log = work.path().join(format!("{name}.log"));
        children.insert(i as u64 + 1, start(&network, net.dir.path(), name, &data, &log));
    }
    let http = operations_http(&parse_network(&network), net.dir.path());
    let ops: Vec<(String, SocketAddr)> = names.iter().map(|n| (n.to_string(), addresses[*n].1)).collect();
    let leader = agreed_leader(&http, &ops, None).await;

    let client_dir = organization_dir(net.dir.path(), false, "bpjs.warga.local").join("users/User1@bpjs.warga.local");
    let client_tls = tls(&net, &client_dir, false);
    let grpc = |id: u64, tls: &TlsMaterial| {
        let name = names[id as usize - 1];
        client_channel(tls, addresses[name].0, &format!("{name}.orderer.warga.local")).unwrap()
    };
    let client = net.client("BPJSMSP");
    let state = MemoryState::default();
    let mut txs = Vec::new();
    for i in 0..40 {
        let nik = format!("31710712039500{:02}", i + 10);
        txs.push(net.transact(&state, "bpjs-main", &client, "GetPatientHistory", &[&nik], &["BPJSMSP"]));
    }
    let mut acknowledged = Vec::new();
    let mut to = AtomicBroadcastClient::new(grpc(leader, &client_tls));
    for tx in &txs[..10] {
        to.broadcast(v1::Transaction::from(tx.clone())).await.unwrap();
        acknowledged.push(tx.proposal.tx_id.clone());
    }

    // SIGKILL the leader; the other two elect one and go on.
    let mut killed = children.remove(&leader).unwrap();
    killed.kill().unwrap();
    killed.wait().unwrap();
    let alive: Vec<(String, SocketAddr)> = ops
        .iter()
        .enumerate()
        .filter(|(i, _)| *i as u64 + 1 != leader)
        .map(|(_, o)| o.clone())
        .collect();
    let new_leader = agreed_leader(&http, &alive, Some(leader)).await;
    let mut to = AtomicBroadcastClient::new(grpc(new_leader, &client_tls));
    for tx in &txs[10..] {
        to.broadcast(v1::Transaction::from(tx.clone())).await.unwrap();
        acknowledged.push(tx.proposal.tx_id.clone());
    }
    let height = health(&http, addresses[names[new_leader as usize - 1]].1)
        .await
        .unwrap()["height"]
        .as_u64()
        .unwrap();

    // The old leader restarts from its disk and catches up.
    let name = names[leader as usize - 1];
    let data = work.path().join(name);
    children.insert(
        leader,
        start(
            &network,
            net.dir.path(),
            name,
            &data,
            &work.path().join("restarted.log"),
        ),
    );
    let mut caught_up = false;
    for _ in 0..300 {
        if health(&http, addresses[name].1)
            .await
            .and_then(|h| h["height"].as_u64())
            == Some(height)
        {
            caught_up = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(caught_up, "the restarted orderer reaches height {height}");

    // Every orderer serves the same chain, with every acknowledged transaction in it.
    let peer_dir =
        organization_dir(net.dir.path(), false, "puskesmas.warga.local").join("peers/peer0.puskesmas.warga.local");
    let peer_tls = tls(&net, &peer_dir, true);
    let mut chains = Vec::new();
    for id in 1..=3u64 {
        // A deliver stream may end (an orderer that just rejoined can close it while it
        // settles); a client resumes from the next block, as peers do, within a deadline.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        let mut chain: Vec<warga_ledger_core::block::Block> = Vec::new();
        while (chain.len() as u64) < height {
            assert!(
                tokio::time::Instant::now() < deadline,
                "orderer {id} delivered {} of {height} blocks within 60 s",
                chain.len()
            );
            let mut stream = AtomicBroadcastClient::new(grpc(id, &peer_tls))
                .deliver(v1::DeliverRequest {
                    channel: "bpjs-main".into(),
                    start: chain.len() as u64,
                })
                .await
                .unwrap()
                .into_inner();
            while (chain.len() as u64) < height {
                match tokio::time::timeout(Duration::from_secs(10), stream.next()).await {
                    Ok(Some(Ok(block))) => chain.push(block.try_into().unwrap()),
                    _ => break,
                }
            }
        }
        chains.push(chain);
    }
    for chain in &chains[1..] {
        let hashes = |c: &Vec<warga_ledger_core::block::Block>| c.iter().map(|b| b.header.hash()).collect::<Vec<_>>();
        assert_eq!(hashes(chain), hashes(&chains[0]), "the same block hash at every height");
    }
    let ordered: Vec<String> = chains[0]
        .iter()
        .flat_map(|b| b.data.transactions().iter().map(|t| t.proposal.tx_id.clone()))
        .collect();
    for id in &acknowledged {
        assert!(ordered.contains(id), "acknowledged {id} is in the chain");
    }
    let metrics = http
        .get(format!(
            "https://{}/metrics",
            addresses[names[new_leader as usize - 1]].1
        ))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains(&format!(
            "warga_orderer_is_leader{{channel=\"bpjs-main\",orderer=\"{}\"}} 1",
            names[new_leader as usize - 1]
        )) && metrics.contains("warga_orderer_committed_block")
            && metrics.contains(&format!(
                "warga_orderer_raft_role{{channel=\"bpjs-main\",orderer=\"{}\",role=\"leader\"}} 1",
                names[new_leader as usize - 1]
            )),
        "{metrics}"
    );
    for (_, mut child) in children {
        let _ = child.kill();
        let _ = child.wait();
    }
}

/// Three orderer processes of the example network on free ports, agreed on a leader.
struct Orderers {
    network: PathBuf,
    addresses: BTreeMap<String, (SocketAddr, SocketAddr)>,
    /// The operations address of BPJS's peer0.
    peer_ops: SocketAddr,
    leader_name: &'static str,
    http: reqwest::Client,
    children: Vec<Process>,
}

async fn three_orderers(work: &Path, crypto: &Path) -> Orderers {
    let (network, addresses) = network_file(work);
    let parsed = warga_ledger_core::network::Network::parse(&std::fs::read_to_string(&network).unwrap()).unwrap();
    let names = ["orderer0", "orderer1", "orderer2"];
    let children = names
        .iter()
        .map(|name| {
            start(
                &network,
                crypto,
                name,
                &work.join(name),
                &work.join(format!("{name}.log")),
            )
        })
        .collect();
    let http = operations_http(&parsed, crypto);
    let ops: Vec<(String, SocketAddr)> = names.iter().map(|n| (n.to_string(), addresses[*n].1)).collect();
    let leader_name = names[agreed_leader(&http, &ops, None).await as usize - 1];
    Orderers {
        network,
        addresses,
        peer_ops: parsed.organizations[0].peers[0].operations,
        leader_name,
        http,
        children,
    }
}

fn start_peer(network: &Path, crypto: &Path, data: &Path, log: &Path) -> Process {
    start_peer_with(network, crypto, data, log, &[])
}

fn start_peer_with(network: &Path, crypto: &Path, data: &Path, log: &Path, env: &[(&str, &str)]) -> Process {
    let log = std::fs::File::create(log).unwrap();
    Process(
        Command::new(BIN)
            .envs(env.iter().copied())
            .args([
                "peer",
                "--network",
                network.to_str().unwrap(),
                "--crypto",
                crypto.to_str().unwrap(),
            ])
            .args([
                "--org",
                "BPJS",
                "--name",
                "peer0",
                "--channel",
                "bpjs-main",
                "--data",
                data.to_str().unwrap(),
            ])
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap(),
    )
}

async fn wait_height(http: &reqwest::Client, operations: SocketAddr, height: u64) {
    for _ in 0..300 {
        if health(http, operations).await.and_then(|h| h["height"].as_u64()) == Some(height) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{operations} did not reach height {height}");
}

/// A peer process pulls blocks from the orderer processes and commits them; killed with
/// SIGKILL while blocks arrive, it restarts from its disk and catches up; its ledger then
/// passes `warga ledger verify`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_process_commits_survives_sigkill_and_its_ledger_verifies() {
    let _beside_others = NETWORKS.read().await;
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut net = TestNetwork::new();
    let work = tempfile::tempdir().unwrap();
    let Orderers {
        network,
        addresses,
        peer_ops,
        leader_name,
        http,
        children,
    } = three_orderers(work.path(), net.dir.path()).await;
    let peer_data = work.path().join("peer");
    let mut peer = start_peer(&network, net.dir.path(), &peer_data, &work.path().join("peer.log"));
    wait_height(&http, peer_ops, 1).await;

    let client_dir = organization_dir(net.dir.path(), false, "bpjs.warga.local").join("users/User1@bpjs.warga.local");
    let client_tls = tls(&net, &client_dir, false);
    let mut to = AtomicBroadcastClient::new(
        client_channel(
            &client_tls,
            addresses[leader_name].0,
            &format!("{leader_name}.orderer.warga.local"),
        )
        .unwrap(),
    );
    let client = net.client("BPJSMSP");
    let state = MemoryState::default();
    let mut issue = |i: usize| {
        let nik = format!("3171071203950{:03}", i + 1);
        net.transact(
            &state,
            "bpjs-main",
            &client,
            "IssueCard",
            &[&nik, "1", "2027-12-31"],
            &["BPJSMSP", "PuskesmasMSP"],
        )
    };
    let first: Vec<_> = (0..10).map(&mut issue).collect();
    let second: Vec<_> = (10..20).map(&mut issue).collect();
    let mut height = 0;
    for tx in &first {
        height = to
            .broadcast(v1::Transaction::from(tx.clone()))
            .await
            .unwrap()
            .into_inner()
            .block
            + 1;
    }
    wait_height(&http, peer_ops, height).await;
    let metrics = http
        .get(format!("https://{peer_ops}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("warga_peer_transactions_total{code=\"VALID\",peer=\"peer0.bpjs.warga.local\"} 10"),
        "{metrics}"
    );

    // SIGKILL while blocks keep coming; restart from disk; catch up.
    let broadcasting = async {
        let mut last = 0;
        for tx in &second {
            last = to
                .broadcast(v1::Transaction::from(tx.clone()))
                .await
                .unwrap()
                .into_inner()
                .block;
        }
        last
    };
    let killing = async {
        tokio::time::sleep(Duration::from_millis(150)).await;
        peer.kill().unwrap();
        peer.wait().unwrap();
    };
    let (last, ()) = tokio::join!(broadcasting, killing);
    let mut peer = start_peer(
        &network,
        net.dir.path(),
        &peer_data,
        &work.path().join("peer-restarted.log"),
    );
    wait_height(&http, peer_ops, last + 1).await;
    peer.kill().unwrap();
    peer.wait().unwrap();

    let verified = Command::new(BIN)
        .args(["ledger", "verify", "--network", network.to_str().unwrap(), "--crypto"])
        .arg(net.dir.path())
        .args(["--channel", "bpjs-main"])
        .arg(peer_data.join("bpjs-main.redb"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&verified.stdout);
    assert!(
        verified.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&verified.stderr)
    );
    assert!(stdout.contains("20 transactions (20 valid), 20 keys"), "{stdout}");
    for mut child in children {
        let _ = child.kill();
        let _ = child.wait();
    }
}

/// `warga ledger network up` on free ports, started and ready.
struct NetworkUp {
    network_path: PathBuf,
    orderer_addresses: BTreeMap<String, (SocketAddr, SocketAddr)>,
    network: warga_ledger_core::network::Network,
    crypto: PathBuf,
    up: tokio::process::Child,
    /// Every node's pid, by host name, from the banner.
    pids: BTreeMap<String, u32>,
}

async fn network_up(work: &Path) -> NetworkUp {
    let (network_path, orderer_addresses) = network_file(work);
    let network = parse_network(&network_path);
    let dir = work.join("net");
    let mut up = tokio::process::Command::new(BIN)
        .args(["ledger", "network", "up", "--network"])
        .arg(&network_path)
        .arg("--dir")
        .arg(&dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    // The banner names every node's pid.
    let mut pids: BTreeMap<String, u32> = BTreeMap::new();
    let mut lines = tokio::io::AsyncBufReadExt::lines(tokio::io::BufReader::new(up.stdout.take().unwrap()));
    while let Ok(Ok(Some(line))) = tokio::time::timeout(Duration::from_secs(60), lines.next_line()).await {
        let words: Vec<&str> = line.split_whitespace().collect();
        if let [host, "pid", pid, ..] = words.as_slice() {
            pids.insert(host.to_string(), pid.parse().unwrap());
        }
        if line.contains("Ctrl+C") {
            break;
        }
    }
    assert_eq!(pids.len(), 6, "three orderers and three peers: {pids:?}");
    NetworkUp {
        network_path,
        orderer_addresses,
        network,
        crypto: dir.join("crypto"),
        up,
        pids,
    }
}

fn sigkill(pid: u32) {
    let status = Command::new("kill").args(["-9", &pid.to_string()]).status().unwrap();
    assert!(status.success());
}

/// `warga ledger network up` starts three orderer and three peer processes; clients submit
/// through the gateways while the Raft leader is killed with SIGKILL: ordering resumes after
/// the election, every acknowledged transaction is valid on every peer, the killed orderer
/// and a killed peer restart from their disks and catch up, and every peer holds the same
/// block hash at every height.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_network_of_processes_survives_a_leader_kill_under_load() {
    let _beside_others = NETWORKS.read().await;
    let _ = rustls::crypto::ring::default_provider().install_default();
    let work = tempfile::tempdir().unwrap();
    let NetworkUp {
        network_path,
        orderer_addresses,
        network,
        crypto,
        mut up,
        pids,
    } = network_up(work.path()).await;
    let dir = work.path().join("net");
    let client = |msp: &str| {
        let org = network.organization(msp).unwrap();
        let peer = &org.peers[0];
        warga_ledger_node::embedded::client_of(&network, &crypto, msp, "User1", peer.listen, &peer.host, "bpjs-main")
            .unwrap()
    };
    let bpjs = client("BPJSMSP");
    let http = operations_http(&network, &crypto);
    let names = ["orderer0", "orderer1", "orderer2"];
    let ops: Vec<(String, SocketAddr)> = names.iter().map(|n| (n.to_string(), orderer_addresses[*n].1)).collect();
    let leader = agreed_leader(&http, &ops, None).await;
    let leader_name = names[leader as usize - 1];

    // Load: four clients issuing cards one after another; the leader dies under them.
    let submit = |client: warga_ledger_node::client::Client, from: usize, count: usize| {
        let crypto = crypto.clone();
        async move {
            let mut acknowledged = Vec::new();
            for i in from..from + count {
                let nik = format!("3171071203{:06}", i);
                if let Ok(status) = client.submit("IssueCard", &issue_card(&crypto, &nik, "1")).await {
                    assert_eq!(status.code_name, "VALID", "{status:?}");
                    acknowledged.push(status.tx_id);
                }
            }
            acknowledged
        }
    };
    let load = futures::future::join_all((0..4).map(|w| tokio::spawn(submit(bpjs.clone(), w * 1000, 25))));
    let kill = async {
        tokio::time::sleep(Duration::from_millis(1500)).await;
        sigkill(pids[&format!("{leader_name}.orderer.warga.local")]);
    };
    let (results, ()) = tokio::join!(load, kill);
    let acknowledged: Vec<String> = results.into_iter().flat_map(|r| r.unwrap()).collect();
    assert!(
        acknowledged.len() >= 90,
        "most submits are acknowledged through the election ({} of 100)",
        acknowledged.len()
    );
    eprintln!(
        "{} of 100 submits acknowledged while the leader was killed",
        acknowledged.len()
    );
    let alive: Vec<(String, SocketAddr)> = ops.iter().filter(|(n, _)| n != leader_name).cloned().collect();
    agreed_leader(&http, &alive, Some(leader)).await;
    let after = bpjs
        .submit("IssueCard", &issue_card(&crypto, "3171071203999999", "2"))
        .await
        .unwrap();
    assert_eq!(after.code_name, "VALID", "ordering resumed under the new leader");

    // A peer is killed and misses blocks; MAJORITY is still met by the other two.
    let puskesmas_host = "peer0.puskesmas.warga.local";
    sigkill(pids[puskesmas_host]);
    submit(bpjs.clone(), 5000, 5).await;

    // The killed orderer and the killed peer restart from their disks.
    let mut restarted = vec![
        start(
            &network_path,
            &crypto,
            leader_name,
            &dir.join("orderers").join(format!("{leader_name}.orderer.warga.local")),
            &work.path().join("orderer-restarted.log"),
        ),
        Process(
            Command::new(BIN)
                .args(["peer", "--network"])
                .arg(&network_path)
                .arg("--crypto")
                .arg(&crypto)
                .args([
                    "--org",
                    "Puskesmas",
                    "--name",
                    "peer0",
                    "--channel",
                    "bpjs-main",
                    "--data",
                ])
                .arg(dir.join("peers").join(puskesmas_host))
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap(),
        ),
    ];
    let height = bpjs.info().await.unwrap().height;
    wait_height(&http, orderer_addresses[leader_name].1, height).await;
    let puskesmas = client("PuskesmasMSP");
    let hospital = client("RumahSakitMSP");
    let mut caught_up = false;
    for _ in 0..300 {
        if puskesmas.info().await.is_ok_and(|i| i.height >= height) {
            caught_up = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(caught_up, "the restarted peer reaches height {height}");

    // Every acknowledged transaction is valid on every peer; same hash at every height.
    for peer in [&bpjs, &puskesmas, &hospital] {
        for tx_id in &acknowledged {
            assert_eq!(peer.status(tx_id).await.unwrap().code_name, "VALID");
        }
    }
    for number in 0..height {
        let expected = bpjs.block(number).await.unwrap().header;
        assert_eq!(
            puskesmas.block(number).await.unwrap().header,
            expected,
            "block {number}"
        );
        assert_eq!(hospital.block(number).await.unwrap().header, expected, "block {number}");
    }

    for child in &mut restarted {
        let _ = child.kill();
        let _ = child.wait();
    }
    let pid = up.id().unwrap();
    Command::new("kill").args(["-TERM", &pid.to_string()]).status().unwrap();
    let _ = tokio::time::timeout(Duration::from_secs(10), up.wait()).await;
}

/// Orders `count` IssueCard transactions (NIKs from `prefix`), one block each, through the
/// leader, before any peer runs.
async fn issue_cards(net: &mut TestNetwork, orderers: &Orderers, prefix: &str, count: usize) {
    let client_dir = organization_dir(net.dir.path(), false, "bpjs.warga.local").join("users/User1@bpjs.warga.local");
    let leader = orderers.leader_name;
    let mut to = AtomicBroadcastClient::new(
        client_channel(
            &tls(net, &client_dir, false),
            orderers.addresses[leader].0,
            &format!("{leader}.orderer.warga.local"),
        )
        .unwrap(),
    );
    let client = net.client("BPJSMSP");
    let state = MemoryState::default();
    for i in 0..count {
        let nik = format!("{prefix}{i:02}");
        let tx = net.transact(
            &state,
            "bpjs-main",
            &client,
            "IssueCard",
            &[&nik, "1", "2027-12-31"],
            &["BPJSMSP", "PuskesmasMSP"],
        );
        to.broadcast(v1::Transaction::from(tx)).await.unwrap();
    }
}

/// `warga ledger verify` of a stopped peer's ledger: what it printed, after asserting it
/// passed.
fn verify_ledger(network: &Path, crypto: &Path, peer_data: &Path) -> String {
    let output = Command::new(BIN)
        .args(["ledger", "verify", "--network", network.to_str().unwrap(), "--crypto"])
        .arg(crypto)
        .args(["--channel", "bpjs-main"])
        .arg(peer_data.join("bpjs-main.redb"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

/// A peer process crashes inside the commit of block 3 — everything written, nothing yet
/// durable (`WARGA_TEST_CRASH_AT=peer-commit:3` aborts it there, as `kill -9` would) — and its
/// ledger is whole at block 2; restarted, it catches up and `warga ledger verify` passes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_crashing_inside_a_commit_recovers_a_whole_ledger() {
    let _beside_others = NETWORKS.read().await;
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut net = TestNetwork::new();
    let work = tempfile::tempdir().unwrap();
    let orderers = three_orderers(work.path(), net.dir.path()).await;
    // Five blocks of one transaction each, ordered before the peer starts.
    issue_cards(&mut net, &orderers, "31710712039501", 5).await;
    let Orderers {
        network,
        peer_ops,
        http,
        children,
        ..
    } = orderers;

    let peer_data = work.path().join("peer");
    let mut crashing = start_peer_with(
        &network,
        net.dir.path(),
        &peer_data,
        &work.path().join("peer-crash.log"),
        &[("WARGA_TEST_CRASH_AT", "peer-commit:3")],
    );
    let status = tokio::task::spawn_blocking(move || crashing.wait().unwrap())
        .await
        .unwrap();
    assert!(!status.success(), "the peer aborted inside the commit: {status}");
    let log = std::fs::read_to_string(work.path().join("peer-crash.log")).unwrap();
    assert!(log.contains("aborting at peer-commit 3"), "{log}");

    let verify = || verify_ledger(&network, net.dir.path(), &peer_data);
    let whole = verify();
    assert!(
        whole.contains("3 blocks, 2 transactions (2 valid)"),
        "blocks 0–2 and nothing of 3: {whole}"
    );

    let mut peer = start_peer(&network, net.dir.path(), &peer_data, &work.path().join("peer.log"));
    wait_height(&http, peer_ops, 6).await;
    peer.kill().unwrap();
    peer.wait().unwrap();
    let caught_up = verify();
    assert!(caught_up.contains("6 blocks, 5 transactions (5 valid)"), "{caught_up}");
    for mut child in children {
        let _ = child.kill();
        let _ = child.wait();
    }
}

/// Sends SIGTERM and waits (at most 30 s) for the process to exit.
async fn terminate(mut child: Process) -> std::process::ExitStatus {
    let pid = child.id().to_string();
    assert!(Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    tokio::task::spawn_blocking(move || child.wait().unwrap())
        .await
        .unwrap()
}

/// SIGTERM stops an orderer and a peer process cleanly: each stops its operations endpoint,
/// then the node, logs that it stopped, and exits 0; the peer's ledger then verifies and the
/// orderer, restarted from its disk, rejoins at the height it had.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_stops_orderer_and_peer_processes_cleanly() {
    let _beside_others = NETWORKS.read().await;
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut net = TestNetwork::new();
    let work = tempfile::tempdir().unwrap();
    let orderers = three_orderers(work.path(), net.dir.path()).await;
    issue_cards(&mut net, &orderers, "31710712039502", 3).await;
    let Orderers {
        network,
        addresses,
        peer_ops,
        leader_name,
        http,
        mut children,
    } = orderers;
    let peer_data = work.path().join("peer");
    let peer_log = work.path().join("peer.log");
    let peer = start_peer(&network, net.dir.path(), &peer_data, &peer_log);
    wait_height(&http, peer_ops, 4).await;

    let status = terminate(peer).await;
    let log = std::fs::read_to_string(&peer_log).unwrap();
    assert!(status.success(), "the peer exits 0 on SIGTERM: {status}\n{log}");
    assert!(log.contains("stopped cleanly"), "the peer logs its clean stop: {log}");
    let verified = verify_ledger(&network, net.dir.path(), &peer_data);
    assert!(verified.contains("4 blocks, 3 transactions (3 valid)"), "{verified}");

    // A follower orderer: SIGTERM, a clean exit, and a restart from its disk.
    let names = ["orderer0", "orderer1", "orderer2"];
    let follower = names.iter().position(|n| *n != leader_name).unwrap();
    let name = names[follower];
    let status = terminate(children.remove(follower)).await;
    let log = std::fs::read_to_string(work.path().join(format!("{name}.log"))).unwrap();
    assert!(status.success(), "the orderer exits 0 on SIGTERM: {status}\n{log}");
    assert!(
        log.contains("stopped cleanly"),
        "the orderer logs its clean stop: {log}"
    );
    let restarted = start(
        &network,
        net.dir.path(),
        name,
        &work.path().join(name),
        &work.path().join(format!("{name}-again.log")),
    );
    wait_height(&http, addresses[name].1, 4).await;
    children.push(restarted);
    for mut child in children {
        let _ = child.kill();
        let _ = child.wait();
    }
}

fn signal(pid: u32, which: &str) {
    let status = Command::new("kill")
        .args([&format!("-{which}"), &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success(), "kill -{which} {pid}");
}

/// A process frozen with SIGSTOP, thawed (SIGCONT) when dropped: a failing test leaves no
/// stopped process behind, which could never notice its parent is gone.
struct Frozen(u32);

impl Frozen {
    fn freeze(pid: u32) -> Frozen {
        signal(pid, "STOP");
        Frozen(pid)
    }

    fn thaw(self) {}
}

impl Drop for Frozen {
    fn drop(&mut self) {
        let _ = Command::new("kill").args(["-CONT", &self.0.to_string()]).status();
    }
}

/// A frozen orderer (SIGSTOP for 30 s: alive, answering nothing) does not stop ordering,
/// whoever it is — each of the three in turn, so the leader, a follower and the first in the
/// network file all take their turn — under load from eight clients: commits go on within
/// seconds (the gateway gives an orderer a batch timeout and a second, Raft replaces a silent
/// leader within its election timeout, peers' block streams notice the silence through
/// HTTP/2 pings), everything acknowledged is valid on every peer, and the frozen orderer
/// catches up after SIGCONT.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frozen_orderer_does_not_stop_ordering() {
    let _alone = NETWORKS.write().await;
    /// How long each orderer stays frozen (SIGSTOP), as a stuck process would.
    const FREEZE: Duration = Duration::from_secs(30);
    let _ = rustls::crypto::ring::default_provider().install_default();
    let work = tempfile::tempdir().unwrap();
    let NetworkUp {
        orderer_addresses,
        network,
        crypto,
        mut up,
        pids,
        ..
    } = network_up(work.path()).await;
    let client = |msp: &str| {
        let org = network.organization(msp).unwrap();
        let peer = &org.peers[0];
        warga_ledger_node::embedded::client_of(&network, &crypto, msp, "User1", peer.listen, &peer.host, "bpjs-main")
            .unwrap()
    };
    let bpjs = client("BPJSMSP");
    let http = operations_http(&network, &crypto);
    let names = ["orderer0", "orderer1", "orderer2"];
    let ops: Vec<(String, SocketAddr)> = names.iter().map(|n| (n.to_string(), orderer_addresses[*n].1)).collect();

    // A channel member's TLS identity, to read an orderer's block stream.
    let reader = TlsMaterial::from_crypto(
        &network,
        &crypto,
        &organization_dir(&crypto, false, "bpjs.warga.local").join("peers/peer0.bpjs.warga.local"),
        true,
    )
    .unwrap();
    let mut acknowledged = Vec::new();
    for (round, name) in names.iter().enumerate() {
        let leader = agreed_leader(&http, &ops, None).await;
        let role = if names[leader as usize - 1] == *name {
            "leader"
        } else {
            "follower"
        };
        let pid = pids[&format!("{name}.orderer.warga.local")];
        let frozen = Frozen::freeze(pid);
        let frozen_at = tokio::time::Instant::now();
        let until = frozen_at + FREEZE;
        // Eight clients submit back to back for as long as it is frozen; every submission
        // must be committed VALID, and the longest stretch without a commit is how long
        // ordering stopped.
        let submitters: Vec<_> = (0..8)
            .map(|worker| {
                let bpjs = bpjs.clone();
                let crypto = crypto.clone();
                tokio::spawn(async move {
                    let mut done = Vec::new();
                    let mut n = 0;
                    while tokio::time::Instant::now() < until {
                        n += 1;
                        let nik = format!("317107{round:02}{worker:02}{n:06}");
                        let status = bpjs
                            .submit("IssueCard", &issue_card(&crypto, &nik, "1"))
                            .await
                            .unwrap_or_else(|e| panic!("a submission failed: {e}"));
                        assert_eq!(status.code_name, "VALID", "{status:?}");
                        done.push((tokio::time::Instant::now(), status.tx_id));
                    }
                    done
                })
            })
            .collect();
        let mut commits = vec![frozen_at];
        for submitter in submitters {
            for (at, tx_id) in submitter
                .await
                .unwrap_or_else(|e| panic!("{name} ({role}) frozen: {e}"))
            {
                commits.push(at);
                acknowledged.push(tx_id);
            }
        }
        commits.sort();
        let stopped = commits.windows(2).map(|w| w[1] - w[0]).max().unwrap_or_default();
        eprintln!(
            "{name} ({role}) frozen for {FREEZE:?}: {} submissions committed, ordering stopped for at most {stopped:?}",
            commits.len() - 1
        );
        // On a quiet machine 2.3–2.8 s for the leader or the first orderer, 0.4 s for
        // another follower (BENCHMARKS.md); the bound leaves room for a busy CI machine
        // running the other process tests beside this one, and is still well under the
        // freeze.
        assert!(
            stopped < Duration::from_secs(12),
            "{name} ({role}) frozen: ordering stopped for {stopped:?}"
        );
        frozen.thaw();
        // It catches up: its own block stream delivers the newest block ordered meanwhile.
        let newest = bpjs.info().await.unwrap().height - 1;
        let host = format!("{name}.orderer.warga.local");
        let mut stream =
            AtomicBroadcastClient::new(client_channel(&reader, orderer_addresses[*name].0, &host).unwrap())
                .deliver(v1::DeliverRequest {
                    channel: "bpjs-main".into(),
                    start: newest,
                })
                .await
                .unwrap()
                .into_inner();
        let delivered = tokio::time::timeout(Duration::from_secs(60), stream.next())
            .await
            .unwrap_or_else(|_| panic!("{name} did not catch up after SIGCONT"))
            .unwrap()
            .unwrap();
        assert_eq!(delivered.header.unwrap().number, newest, "{name} caught up");
    }

    // Everything acknowledged is valid on every peer, once its event stream says it has
    // committed the newest block.
    let newest = bpjs.info().await.unwrap().height - 1;
    for msp in ["BPJSMSP", "PuskesmasMSP", "RumahSakitMSP"] {
        let peer = client(msp);
        let mut events = peer.events(newest, false).await.unwrap();
        tokio::time::timeout(Duration::from_secs(60), events.message())
            .await
            .unwrap_or_else(|_| panic!("{msp} did not commit block {newest}"))
            .unwrap();
        for tx_id in &acknowledged {
            assert_eq!(peer.status(tx_id).await.unwrap().code_name, "VALID", "{tx_id} on {msp}");
        }
    }
    // `network up` killed outright: its nodes notice (their standard input closes) and stop
    // cleanly instead of living on as orphans.
    sigkill(up.id().unwrap());
    let _ = up.wait().await;
    for (name, pid) in &pids {
        // Not our child (a grandchild): a pidfd becomes readable when it exits.
        let Some(pid) = i32::try_from(*pid).ok().and_then(rustix::process::Pid::from_raw) else {
            continue;
        };
        let Ok(pidfd) = rustix::process::pidfd_open(pid, rustix::process::PidfdFlags::empty()) else {
            continue; // already gone
        };
        let exited = tokio::task::spawn_blocking(move || {
            use rustix::event::{PollFd, PollFlags, Timespec, poll};
            let limit = Timespec { tv_sec: 20, tv_nsec: 0 };
            loop {
                match poll(&mut [PollFd::new(&pidfd, PollFlags::IN)], Some(&limit)) {
                    Err(rustix::io::Errno::INTR) => continue,
                    answer => break answer.unwrap_or(0),
                }
            }
        })
        .await
        .unwrap();
        assert_eq!(exited, 1, "{name} outlived `warga ledger network up`");
    }
}

/// A child whose stdout announces where it listens: the process and the first word after
/// `marker` on a line (`URL: https://…`, `listening on https://…`); the rest of its output
/// goes to `log`.
async fn start_announcing(
    mut command: tokio::process::Command,
    marker: &str,
    log: &Path,
) -> (tokio::process::Child, String) {
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(log).unwrap())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = tokio::io::AsyncBufReadExt::lines(tokio::io::BufReader::new(child.stdout.take().unwrap()));
    let found = tokio::time::timeout(Duration::from_secs(60), async {
        while let Ok(Some(line)) = lines.next_line().await {
            if let Some((_, rest)) = line.split_once(marker)
                && let Some(word) = rest.split_whitespace().next()
            {
                return Some(word.to_owned());
            }
        }
        None
    })
    .await;
    let Ok(Some(found)) = found else {
        panic!(
            "{command:?} did not announce {marker:?}: {}",
            std::fs::read_to_string(log).unwrap_or_default()
        );
    };
    // Keep draining stdout so the child never blocks on a full pipe.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    (child, found)
}

/// The whole deployment as separate processes: `warga ledger network up` (three orderers, a
/// peer per organisation), each organisation's CA as `warga ca serve`, and `warga serve` with
/// the registry and the ledger's web gateway pointed at them by its `[ledger]` section. An
/// officer signing in for the first time is enrolled at their organisation's CA process; the
/// registry vouches for the card; a visit's clinical notes travel only between the member
/// peer processes (a hospital officer is refused them); a death in the registry suspends the
/// card through the bus.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_web_gateway_serves_a_network_of_separate_processes() {
    let _beside_others = NETWORKS.read().await;
    let _ = rustls::crypto::ring::default_provider().install_default();
    let work = tempfile::tempdir().unwrap();
    let net = network_up(work.path()).await;

    // The organisations' CAs, each its own process on a port it chose.
    let mut cas = BTreeMap::new();
    let mut ca_processes = Vec::new();
    for (org, msp_id) in [
        ("BPJS", "BPJSMSP"),
        ("Puskesmas", "PuskesmasMSP"),
        ("RumahSakit", "RumahSakitMSP"),
    ] {
        let mut command = tokio::process::Command::new(BIN);
        command
            .args(["ca", "serve", "--org", org, "--network"])
            .arg(&net.network_path)
            .arg("--crypto")
            .arg(&net.crypto)
            .args(["--listen", "127.0.0.1:0"]);
        let (child, url) = start_announcing(command, "listening on", &work.path().join(format!("ca-{org}.log"))).await;
        cas.insert(msp_id, url);
        ca_processes.push(child);
    }

    // `warga serve`: registry and ledger gateway, no ledger nodes of its own.
    let home = work.path().join("serve");
    std::fs::create_dir_all(&home).unwrap();
    let mut toml = format!(
        "[ledger]\nenabled = true\nnetwork = {:?}\ncrypto = {:?}\n\n[ledger.cas]\n",
        net.network_path, net.crypto
    );
    for (msp_id, url) in &cas {
        toml.push_str(&format!("{msp_id} = {url:?}\n"));
    }
    std::fs::write(home.join("warga.toml"), toml).unwrap();
    let mut command = tokio::process::Command::new(BIN);
    command
        .args([
            "serve",
            "--services",
            "identity,population,ledger",
            "--listen",
            "127.0.0.1:0",
        ])
        .current_dir(&home)
        .env("WARGA_CONFIG", home.join("warga.toml"))
        .env("WARGA_TELEMETRY__LOG_FORMAT", "json")
        .env("WARGA_GATEWAY__USER_PER_MINUTE", "100000");
    for (key, _) in std::env::vars().filter(|(k, _)| k.starts_with("WARGA_") && !k.starts_with("WARGA_TEST_")) {
        command.env_remove(key);
    }
    let serve_log = work.path().join("serve.log");
    let (mut serve, url) = start_announcing(command, "URL:", &serve_log).await;
    let listen = url.trim_start_matches("https://").parse().unwrap();
    let url = url.replace("127.0.0.1", "localhost");
    let http = warga_testkit::client_trusting(&home.join("data/tls/cert.pem"));

    // Tokens as the deployment's sign-in would mint them (its issuer is its address).
    let mut config = warga_config::Config::default();
    config.data_dir = home.join("data");
    config.http.listen = listen;
    let platform = warga_app::open_platform(config).await.unwrap();
    let minter = platform.auth.local.clone().unwrap().minter;
    let audience = platform.config.identity.audience.clone();
    let token = |subject: &str, roles: &[&str], msp_id: Option<&str>, facility: Option<&str>| {
        let claims = warga_auth::AccessClaims {
            roles: roles.iter().map(|r| r.to_string()).collect(),
            msp_id: msp_id.map(str::to_owned),
            facility: facility.map(str::to_owned),
            ..warga_auth::AccessClaims::new(subject, &audience)
        };
        let minter = minter.clone();
        async move { minter.access_token(claims, 3_600).await.unwrap().token }
    };
    let registrar = token("dukcapil-proses", &["registry_officer"], None, None).await;
    let bpjs = token("bpjs-proses", &["ledger_member"], Some("BPJSMSP"), None).await;
    let puskesmas = token(
        "loket-proses",
        &["ledger_member"],
        Some("PuskesmasMSP"),
        Some("P3578010"),
    )
    .await;
    let hospital = token(
        "dokter-proses",
        &["ledger_member"],
        Some("RumahSakitMSP"),
        Some("R3578001"),
    )
    .await;
    platform.store.close().await;

    let post = |token: String, path: &str, body: Value| {
        let request = http.post(format!("{url}{path}")).bearer_auth(token).json(&body);
        async move {
            let response = request.send().await.unwrap();
            let status = response.status().as_u16();
            (status, response.json::<Value>().await.unwrap_or(Value::Null))
        }
    };
    let nik = "3578015505900003";
    let (status, resident) = post(
        registrar.clone(),
        "/api/v1/population/residents",
        serde_json::json!({
            "nik": nik, "full_name": "Siti Aminah", "birth_place": "Surabaya", "birth_date": "1990-05-15",
            "sex": "female", "address": "Jl. Mastrip No. 3", "rt_rw": "001/002", "village": "3578011001",
            "district": "357801", "religion": "Islam", "marital_status": "Kawin", "occupation": "Guru"
        }),
    )
    .await;
    assert_eq!(status, 201, "{resident}");

    // A card, by a BPJS officer enrolled at the BPJS CA process on this first request.
    let (status, issued) = post(
        bpjs.clone(),
        "/api/v1/ledger/transactions",
        serde_json::json!({ "function": "IssueCard", "args": [nik, "1", "2030-12-31"] }),
    )
    .await;
    assert_eq!(
        status,
        201,
        "{issued}\n{}",
        std::fs::read_to_string(&serve_log).unwrap_or_default()
    );
    assert_eq!(issued["code"], "VALID");
    let unknown = "3578015505900099";
    let (status, refused) = post(
        bpjs.clone(),
        "/api/v1/ledger/transactions",
        serde_json::json!({ "function": "IssueCard", "args": [unknown, "1", "2030-12-31"] }),
    )
    .await;
    assert_eq!(status, 400, "the registry does not know {unknown}: {refused}");

    // The counter: check the card, record a visit with its clinical notes as private data.
    let (status, card) = post(
        puskesmas.clone(),
        "/api/v1/ledger/evaluate",
        serde_json::json!({ "function": "VerifyCard", "args": [nik] }),
    )
    .await;
    assert_eq!(status, 200, "{card}");
    assert_eq!(card["result"]["status"], "active");
    let today = {
        let date = time::OffsetDateTime::now_utc().date();
        format!("{:04}-{:02}-{:02}", date.year(), u8::from(date.month()), date.day())
    };
    let (status, visit) = post(
        puskesmas.clone(),
        "/api/v1/ledger/transactions",
        serde_json::json!({ "function": "RecordVisit", "args": ["v-proses-1", nik, today],
            "transient": { "clinical": { "diagnosis": "A09", "notes": "diare sejak kemarin" } } }),
    )
    .await;
    assert_eq!(status, 201, "{visit}");
    assert_eq!(visit["result"]["facility"], "P3578010");
    let (status, clinical) = post(
        puskesmas.clone(),
        "/api/v1/ledger/evaluate",
        serde_json::json!({ "function": "GetVisitClinical", "args": ["v-proses-1"] }),
    )
    .await;
    assert_eq!(status, 200, "{clinical}");
    assert_eq!(clinical["result"]["notes"], "diare sejak kemarin");
    let (status, refused) = post(
        hospital.clone(),
        "/api/v1/ledger/evaluate",
        serde_json::json!({ "function": "GetVisitClinical", "args": ["v-proses-1"] }),
    )
    .await;
    assert_eq!(
        status, 403,
        "the hospital's peer process holds only the hash: {refused}"
    );
    let (status, hash) = post(
        hospital.clone(),
        "/api/v1/ledger/evaluate",
        serde_json::json!({ "function": "GetVisitClinicalHash", "args": ["v-proses-1"] }),
    )
    .await;
    assert_eq!(status, 200, "{hash}");

    // A death in the registry suspends the card, through the bus, on the peer processes.
    let id = resident["id"].as_str().unwrap();
    let (status, dead) = post(
        registrar.clone(),
        &format!("/api/v1/population/residents/{id}/death"),
        Value::Null,
    )
    .await;
    assert_eq!(status, 200, "{dead}");
    warga_testkit::wait_for("the card suspended", Duration::from_secs(60), || {
        let check = post(
            puskesmas.clone(),
            "/api/v1/ledger/evaluate",
            serde_json::json!({ "function": "VerifyCard", "args": [nik] }),
        );
        async move { check.await.1["result"]["status"] == "suspended" }
    })
    .await;

    serve.kill().await.unwrap();
    for mut ca in ca_processes {
        ca.kill().await.unwrap();
    }
    let mut up = net.up;
    let pid = up.id().unwrap();
    Command::new("kill").args(["-TERM", &pid.to_string()]).status().unwrap();
    let _ = tokio::time::timeout(Duration::from_secs(10), up.wait()).await;
}

/// `User1` of organisation `msp`, a client of that organisation's first peer.
fn member_client(
    network: &warga_ledger_core::network::Network,
    crypto: &Path,
    msp: &str,
) -> warga_ledger_node::client::Client {
    let peer = &network.organization(msp).unwrap().peers[0];
    warga_ledger_node::embedded::client_of(network, crypto, msp, "User1", peer.listen, &peer.host, "bpjs-main").unwrap()
}

/// The ordering organisation's admin, the orderers, and an update of the configuration in
/// force changed by `edit`, signed by that admin.
async fn orderer_admin_update(
    network: &warga_ledger_core::network::Network,
    crypto: &Path,
    edit: impl FnOnce(&mut warga_ledger_core::config::ChannelConfig),
) -> (
    warga_ledger_node::configtx::Admin,
    Vec<(String, String)>,
    warga_ledger_core::config::ConfigEnvelope,
) {
    let admin = warga_ledger_node::configtx::Admin::load(network, crypto, "Orderer", "Admin").unwrap();
    let orderers = warga_ledger_node::configtx::orderers(network);
    let (_, current) = warga_ledger_node::configtx::fetch(&admin, &orderers, "bpjs-main")
        .await
        .unwrap();
    let mut next = current.clone();
    edit(&mut next);
    let mut envelope = warga_ledger_core::config::ConfigEnvelope {
        update: warga_ledger_core::config::ConfigUpdate::new(&current, next),
        signatures: Vec::new(),
    };
    admin.sign(&mut envelope).unwrap();
    (admin, orderers, envelope)
}

/// Stops `warga ledger network up` (SIGTERM: it stops its nodes) and waits for it.
async fn stop_network(mut up: tokio::process::Child) {
    let pid = up.id().unwrap();
    Command::new("kill").args(["-TERM", &pid.to_string()]).status().unwrap();
    let _ = tokio::time::timeout(Duration::from_secs(10), up.wait()).await;
}

/// `warga ledger config …` on a network of processes: an administrator fetches the
/// channel's configuration, proposes a revocation list for RumahSakit (revoking its client
/// `User1`), and submits it — refused while only BPJS's admin signed (RumahSakit's own
/// section needs RumahSakit's admin), ordered once RumahSakit's admin signed. Every peer
/// process applies it at the same block; from then on the revoked client is refused by the
/// peers, the others transact on; the stopped peer's ledger replays, configuration included.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_configuration_update_revokes_a_client_on_every_peer_process() {
    let _beside_others = NETWORKS.read().await;
    let _ = rustls::crypto::ring::default_provider().install_default();
    let work = tempfile::tempdir().unwrap();
    let NetworkUp {
        network_path,
        network,
        crypto,
        up,
        pids,
        ..
    } = network_up(work.path()).await;
    let client = |msp: &str| member_client(&network, &crypto, msp);
    let bpjs = client("BPJSMSP");
    let hospital = client("RumahSakitMSP");
    let card = bpjs
        .submit("IssueCard", &issue_card(&crypto, "3171075203950004", "1"))
        .await
        .unwrap();
    assert_eq!(card.code_name, "VALID");
    // BPJS's gateway answered once its own peer committed; the hospital's peer follows.
    let block = card.block;
    warga_testkit::wait_for(
        "the hospital's peer to commit the card",
        Duration::from_secs(30),
        || {
            let hospital = hospital.clone();
            async move { hospital.info().await.is_ok_and(|i| i.height > block) }
        },
    )
    .await;
    assert!(
        hospital
            .evaluate("VerifyCard", &["3171075203950004".into()])
            .await
            .is_ok()
    );

    // `warga ledger config SUBCOMMAND [--network … --crypto … --org ORG] ARGS…`
    let cli = |subcommand: &str, org: Option<&str>, args: &[&str]| {
        let mut command = Command::new(BIN);
        command.args(["ledger", "config", subcommand]);
        if let Some(org) = org {
            command
                .arg("--network")
                .arg(&network_path)
                .arg("--crypto")
                .arg(&crypto)
                .args(["--org", org]);
        }
        command.args(args).output().unwrap()
    };
    let run = |head: &[&str], org: &str, tail: &[&str]| cli(head[0], Some(org), tail);
    let path = |name: &str| work.path().join(name).to_str().unwrap().to_owned();
    let fetched = run(&["fetch"], "BPJS", &["--out", &path("current.json")]);
    assert!(fetched.status.success(), "{}", String::from_utf8_lossy(&fetched.stderr));
    let current = std::fs::read_to_string(path("current.json")).unwrap();
    assert!(current.contains("\"sequence\": 0") && current.contains("BEGIN CERTIFICATE"));

    // RumahSakit's CA revokes its client User1; the list goes into the configuration.
    let org = organization_dir(&crypto, false, "rumahsakit.warga.local");
    let user = org.join("users/User1@rumahsakit.warga.local/msp/signcerts/User1@rumahsakit.warga.local-cert.pem");
    let ca_pem = std::fs::read_to_string(org.join("ca/ca.rumahsakit.warga.local-cert.pem")).unwrap();
    let msp = warga_ledger_msp::Msp::new(
        "RumahSakitMSP",
        warga_ledger_msp::certificate_pem_to_der(ca_pem.as_bytes()).unwrap(),
    )
    .unwrap();
    let der = warga_ledger_msp::certificate_pem_to_der(&std::fs::read(&user).unwrap()).unwrap();
    let serial = msp.validate_timeless(&der).unwrap().serial;
    let crl = warga_ledger_msp::revocation_list(
        &ca_pem,
        &std::fs::read_to_string(org.join("ca/priv_sk")).unwrap(),
        &[serial],
        1,
        time::OffsetDateTime::now_utc(),
    )
    .unwrap();
    std::fs::write(path("rs.crl"), warga_ledger_msp::revocation_list_pem(&crl)).unwrap();
    let proposed = cli(
        "propose",
        None,
        &[
            "--current",
            &path("current.json"),
            "--add-crl",
            &format!("RumahSakit={}", path("rs.crl")),
            "--out",
            &path("update.json"),
        ],
    );
    let said = String::from_utf8_lossy(&proposed.stdout).into_owned();
    assert!(
        proposed.status.success(),
        "{}",
        String::from_utf8_lossy(&proposed.stderr)
    );
    assert!(said.contains("'RumahSakitMSP.admin'"), "{said}");

    // Signed by BPJS's admin only: the orderers refuse it (exit 1, one line).
    assert!(run(&["sign"], "BPJS", &[&path("update.json")]).status.success());
    let refused = run(&["submit"], "BPJS", &[&path("update.json")]);
    let stderr = String::from_utf8_lossy(&refused.stderr).into_owned();
    assert_eq!(refused.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("RumahSakitMSP.admin"), "{stderr}");
    // With RumahSakit's admin too it is ordered.
    assert!(run(&["sign"], "RumahSakit", &[&path("update.json")]).status.success());
    let submitted = run(&["submit"], "BPJS", &[&path("update.json")]);
    let said = String::from_utf8_lossy(&submitted.stdout).into_owned();
    assert!(
        submitted.status.success(),
        "{}",
        String::from_utf8_lossy(&submitted.stderr)
    );
    let block: u64 = said
        .split("block ")
        .nth(1)
        .and_then(|rest| rest.trim().parse().ok())
        .unwrap_or_else(|| panic!("{said}"));

    // Every peer applies it at that block: a configuration block, VALID.
    for msp in ["BPJSMSP", "PuskesmasMSP", "RumahSakitMSP"] {
        let peer = client(msp);
        warga_testkit::wait_for(
            &format!("{msp}'s peer to commit block {block}"),
            Duration::from_secs(30),
            || {
                let peer = peer.clone();
                async move { peer.info().await.is_ok_and(|i| i.height > block) }
            },
        )
        .await;
        let wire = peer.block(block).await.unwrap();
        let config_block = warga_ledger_core::block::Block::try_from(wire).unwrap();
        assert!(matches!(
            config_block.data,
            warga_ledger_core::block::BlockData::ConfigUpdate(_)
        ));
        assert_eq!(
            config_block.code(0),
            Some(warga_ledger_core::validate::ValidationCode::Valid),
            "{msp}"
        );
    }
    let refetched = run(&["fetch"], "Puskesmas", &["--out", &path("after.json")]);
    assert!(refetched.status.success());
    assert!(
        std::fs::read_to_string(path("after.json"))
            .unwrap()
            .contains("\"sequence\": 1")
    );

    // The revoked client is refused; the others transact on.
    let refused = hospital.evaluate("VerifyCard", &["3171075203950004".into()]).await;
    assert!(refused.is_err(), "a revoked client is refused: {refused:?}");
    let after = bpjs
        .submit("IssueCard", &issue_card(&crypto, "3171071203950005", "1"))
        .await
        .unwrap();
    assert_eq!(after.code_name, "VALID");

    // A new hospital, RSUD, with crypto material of its own, is admitted: a channel-wide
    // change, so a majority of the members' admins sign (BPJS and Puskesmas).
    let rsud_file = work.path().join("rsud.yaml");
    std::fs::write(
        &rsud_file,
        BPJS_EXAMPLE
            .replace("RumahSakit", "RSUD")
            .replace("rumahsakit.warga.local", "rsud.warga.local"),
    )
    .unwrap();
    let rsud_crypto = work.path().join("rsud-crypto");
    let generated = Command::new(BIN)
        .args(["ledger", "crypto", "generate", "--network"])
        .arg(&rsud_file)
        .arg("--out")
        .arg(&rsud_crypto)
        .output()
        .unwrap();
    assert!(
        generated.status.success(),
        "{}",
        String::from_utf8_lossy(&generated.stderr)
    );
    assert!(
        run(&["fetch"], "BPJS", &["--out", &path("before-rsud.json")])
            .status
            .success()
    );
    let proposed = cli(
        "propose",
        None,
        &[
            "--current",
            &path("before-rsud.json"),
            "--add-org",
            "RSUD",
            "--org-network",
            rsud_file.to_str().unwrap(),
            "--org-crypto",
            rsud_crypto.to_str().unwrap(),
            "--out",
            &path("admit.json"),
        ],
    );
    let said = String::from_utf8_lossy(&proposed.stdout).into_owned();
    assert!(
        proposed.status.success(),
        "{}",
        String::from_utf8_lossy(&proposed.stderr)
    );
    assert!(
        said.contains("MAJORITY Admins") && said.contains("admitting RSUDMSP"),
        "{said}"
    );
    for org in ["BPJS", "Puskesmas"] {
        assert!(run(&["sign"], org, &[&path("admit.json")]).status.success());
    }
    let admitted = run(&["submit"], "Puskesmas", &[&path("admit.json")]);
    assert!(
        admitted.status.success(),
        "{}",
        String::from_utf8_lossy(&admitted.stderr)
    );
    assert!(
        run(&["fetch"], "RumahSakit", &["--out", &path("with-rsud.json")])
            .status
            .success()
    );
    let with_rsud = std::fs::read_to_string(path("with-rsud.json")).unwrap();
    assert!(with_rsud.contains("\"msp_id\": \"RSUDMSP\"") && with_rsud.contains("\"sequence\": 2"));

    // Stopped, a peer's ledger replays with its configuration update.
    let puskesmas_host = "peer0.puskesmas.warga.local";
    stop_network(up).await;
    for pid in pids.values() {
        let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
    }
    let verified = verify_ledger(
        &network_path,
        &crypto,
        &work.path().join("net/peers").join(puskesmas_host),
    );
    assert!(verified.contains("ledger valid"), "{verified}");
}

/// Fabric's chaincode lifecycle on a network of processes: BPJS approves a new definition
/// of `bpjs` (sequence 2: IssueCard needs all three organisations) — not ready, and a
/// commit is refused; Puskesmas approves the same — ready, committed; the gateways then
/// collect three endorsements. A definition selecting a contract version this binary lacks
/// commits, and the peers refuse to endorse under it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chaincode_definition_is_approved_committed_and_followed_by_the_gateways() {
    let _beside_others = NETWORKS.read().await;
    let _ = rustls::crypto::ring::default_provider().install_default();
    let work = tempfile::tempdir().unwrap();
    let NetworkUp {
        network_path,
        network,
        crypto,
        up,
        ..
    } = network_up(work.path()).await;
    let lifecycle = |subcommand: &str, org: &str, args: &[&str]| {
        let output = Command::new(BIN)
            .args(["ledger", "chaincode", subcommand, "--network"])
            .arg(&network_path)
            .arg("--crypto")
            .arg(&crypto)
            .args(["--org", org])
            .args(args)
            .output()
            .unwrap();
        (
            output.status.code(),
            format!(
                "{}{}",
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            ),
        )
    };
    let update = work.path().join("definition.json");
    let update = update.to_str().unwrap();
    let all_three = "IssueCard=AND('BPJSMSP.peer', 'PuskesmasMSP.peer', 'RumahSakitMSP.peer')";
    let approve = |org: &str, sequence: &str, extra: &[&str]| {
        let mut args = vec!["--name", "bpjs", "--sequence", sequence, "--update", update];
        args.extend_from_slice(extra);
        lifecycle("approve", org, &args)
    };
    let (code, said) = approve("BPJS", "2", &["--function", all_three]);
    assert_eq!(code, Some(0), "{said}");
    let (_, said) = lifecycle("checkcommitreadiness", "BPJS", &["--update", update]);
    assert!(
        said.contains("BPJSMSP: true") && said.contains("PuskesmasMSP: false"),
        "{said}"
    );
    assert!(said.contains("ready: false"), "{said}");
    let (code, said) = lifecycle("commit", "BPJS", &["--update", update]);
    assert_eq!(code, Some(1), "not yet approved by a majority: {said}");
    // Another definition cannot be approved into the same file.
    let (code, said) = approve("Puskesmas", "2", &[]);
    assert_eq!(code, Some(2), "{said}");
    let (code, said) = approve("Puskesmas", "2", &["--function", all_three]);
    assert_eq!(code, Some(0), "{said}");
    let (_, said) = lifecycle("checkcommitreadiness", "RumahSakit", &["--update", update]);
    assert!(said.contains("ready: true"), "{said}");
    let (code, said) = lifecycle("commit", "Puskesmas", &["--update", update]);
    assert_eq!(code, Some(0), "{said}");
    let (code, said) = lifecycle("querycommitted", "RumahSakit", &["--name", "bpjs"]);
    assert_eq!(code, Some(0), "{said}");
    let committed: Value = serde_json::from_str(said.trim()).unwrap();
    assert_eq!(committed["sequence"], 2);

    // The gateways follow the definition in force: three endorsements now.
    let bpjs = member_client(&network, &crypto, "BPJSMSP");
    let mut issued = None;
    // Until BPJS's peer has committed the definition's block, its gateway plans by sequence 1
    // and the commit comes back EXPIRED_CHAINCODE: a client tries again.
    for i in 0..50 {
        let status = bpjs
            .submit("IssueCard", &issue_card(&crypto, &format!("31710752039500{i:02}"), "1"))
            .await
            .unwrap();
        if status.code_name == "VALID" {
            issued = Some(status);
            break;
        }
        assert_eq!(status.code_name, "EXPIRED_CHAINCODE", "{status:?}");
    }
    let issued = issued.expect("an IssueCard under the new definition");
    let block = bpjs.block(issued.block).await.unwrap();
    let block = warga_ledger_core::block::Block::try_from(block).unwrap();
    let tx = block
        .data
        .transactions()
        .iter()
        .find(|t| t.proposal.tx_id == issued.tx_id)
        .unwrap();
    assert_eq!(tx.endorsements.len(), 3, "every organisation endorsed");
    assert_eq!(tx.response.chaincode_sequence, 2);

    // A definition naming a version this binary does not have: committed, not endorsed.
    let next = work.path().join("v2.json");
    let next = next.to_str().unwrap();
    for org in ["BPJS", "RumahSakit"] {
        let (code, said) = lifecycle(
            "approve",
            org,
            &[
                "--name",
                "bpjs",
                "--sequence",
                "3",
                "--version",
                "2.0",
                "--update",
                next,
            ],
        );
        assert_eq!(code, Some(0), "{said}");
    }
    let (code, said) = lifecycle("commit", "BPJS", &["--update", next]);
    assert_eq!(code, Some(0), "{said}");
    let mut refused = None;
    for _ in 0..50 {
        match bpjs.evaluate("VerifyCard", &["3171075203950000".into()]).await {
            Err(status) if status.message().contains("not installed") => {
                refused = Some(status);
                break;
            }
            _ => {}
        }
    }
    assert!(
        refused.is_some(),
        "the peers refuse to run a contract version they lack"
    );
    stop_network(up).await;
}

/// A configuration update whose leader orderer is killed (SIGKILL) while it orders it, on a
/// network of processes: the administrator's submit may or may not have been answered; it
/// submits again to whoever leads — the update is applied exactly once or the second
/// submission is refused as past — and every peer holds exactly one configuration block,
/// the same one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_configuration_update_survives_its_leaders_death() {
    let _beside_others = NETWORKS.read().await;
    let _ = rustls::crypto::ring::default_provider().install_default();
    let work = tempfile::tempdir().unwrap();
    let NetworkUp {
        orderer_addresses,
        network,
        crypto,
        up,
        pids,
        ..
    } = network_up(work.path()).await;
    let http = operations_http(&network, &crypto);
    let names = ["orderer0", "orderer1", "orderer2"];
    let ops: Vec<(String, SocketAddr)> = names.iter().map(|n| (n.to_string(), orderer_addresses[*n].1)).collect();
    let leader = agreed_leader(&http, &ops, None).await;
    let leader_name = names[leader as usize - 1];
    let (admin, orderers, envelope) =
        orderer_admin_update(&network, &crypto, |next| next.orderer.batch_timeout_ms = 200).await;
    // Submitted to the leader alone, which is killed at once.
    let leader_only = vec![orderers[leader as usize - 1].clone()];
    let (first, ()) = tokio::join!(
        warga_ledger_node::configtx::submit(&admin, &leader_only, &envelope),
        async { sigkill(pids[&format!("{leader_name}.orderer.warga.local")]) }
    );
    let alive: Vec<(String, SocketAddr)> = ops.iter().filter(|(n, _)| n != leader_name).cloned().collect();
    agreed_leader(&http, &alive, Some(leader)).await;
    let survivors: Vec<(String, String)> = orderers
        .iter()
        .enumerate()
        .filter(|(i, _)| *i as u64 + 1 != leader)
        .map(|(_, o)| o.clone())
        .collect();
    let second = warga_ledger_node::configtx::submit(&admin, &survivors, &envelope).await;
    let block = match (&first, &second) {
        (_, Ok(block)) => *block,
        (Ok(block), Err(warga_ledger_node::configtx::SubmitError::Refused(reason)))
            if reason.contains("replaces configuration 0") =>
        {
            *block
        }
        (Err(_), Err(warga_ledger_node::configtx::SubmitError::Refused(reason)))
            if reason.contains("replaces configuration 0") =>
        {
            // Applied, though the first answer was lost: find its block from the survivors.
            warga_ledger_node::configtx::fetch(&admin, &survivors, "bpjs-main")
                .await
                .unwrap()
                .0
        }
        other => panic!("{other:?}"),
    };
    // Every peer: exactly one configuration block, at `block`, VALID.
    for msp in ["BPJSMSP", "PuskesmasMSP", "RumahSakitMSP"] {
        let client = member_client(&network, &crypto, msp);
        warga_testkit::wait_for(
            &format!("{msp}'s peer to commit block {block}"),
            Duration::from_secs(30),
            || {
                let client = client.clone();
                async move { client.info().await.is_ok_and(|i| i.height > block) }
            },
        )
        .await;
        let height = client.info().await.unwrap().height;
        let mut updates = Vec::new();
        for number in 1..height {
            let wire = client.block(number).await.unwrap();
            let parsed = warga_ledger_core::block::Block::try_from(wire).unwrap();
            if matches!(parsed.data, warga_ledger_core::block::BlockData::ConfigUpdate(_)) {
                updates.push((number, parsed.code(0)));
            }
        }
        assert_eq!(
            updates,
            [(block, Some(warga_ledger_core::validate::ValidationCode::Valid))],
            "{msp}: applied exactly once"
        );
    }
    stop_network(up).await;
}

/// A consenter removed by a configuration update (signed by the ordering organisation's
/// admin) on a network of processes: Raft's voters become the other two, the removed
/// orderer's process is killed, and ordering goes on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_consenter_removed_by_configuration_leaves_raft_and_ordering_goes_on() {
    let _beside_others = NETWORKS.read().await;
    let _ = rustls::crypto::ring::default_provider().install_default();
    let work = tempfile::tempdir().unwrap();
    let NetworkUp {
        orderer_addresses,
        network,
        crypto,
        up,
        pids,
        ..
    } = network_up(work.path()).await;
    let http = operations_http(&network, &crypto);
    let names = ["orderer0", "orderer1", "orderer2"];
    let ops: Vec<(String, SocketAddr)> = names.iter().map(|n| (n.to_string(), orderer_addresses[*n].1)).collect();
    let leader = agreed_leader(&http, &ops, None).await;
    // Remove an orderer that does not lead (the leader's own removal works too, with an
    // election after it; this test watches the voters from the leader).
    let removed = (1..=3u64).find(|id| *id != leader).unwrap();
    let removed_name = names[removed as usize - 1];
    let host = format!("{removed_name}.orderer.warga.local");
    let (admin, orderers, envelope) =
        orderer_admin_update(&network, &crypto, |next| next.orderer.consenters.retain(|h| *h != host)).await;
    warga_ledger_node::configtx::submit(&admin, &orderers, &envelope)
        .await
        .unwrap();
    let leader_ops = orderer_addresses[names[leader as usize - 1]].1;
    let wanted: Vec<u64> = (1..=3u64).filter(|id| *id != removed).collect();
    warga_testkit::wait_for(
        "Raft's voters to become the two consenters",
        Duration::from_secs(30),
        || {
            let http = http.clone();
            let wanted = wanted.clone();
            async move {
                health(&http, leader_ops)
                    .await
                    .is_some_and(|h| h["voters"] == serde_json::json!(wanted))
            }
        },
    )
    .await;
    sigkill(pids[&host]);
    let bpjs = member_client(&network, &crypto, "BPJSMSP");
    let status = bpjs
        .submit("IssueCard", &issue_card(&crypto, "3171075203950004", "1"))
        .await
        .unwrap();
    assert_eq!(status.code_name, "VALID", "ordering goes on with the two consenters");
    stop_network(up).await;
}

/// Many channels per node, on a network of processes (`warga ledger network up`, every
/// node serving `bpjs-main`): the regional channel `jatim-puskesmas` is made from the
/// network file (`warga ledger channel genesis`) and joined through the participation API
/// — by the three orderer processes (as the ordering organisation's admin) and by the peers
/// of its two member organisations (each by its own admin). Refused: a user who is no
/// admin, another organisation's admin, a peer whose organisation is no member. Each
/// channel then has its own chain on the same processes: a card issued on one is not on
/// the other. The regional channel's Raft leader leaves it (its file deleted, its list
/// without it): the other two elect a leader and the gateway, told by the leaver that it
/// serves the channel no more, orders through them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn processes_join_a_second_channel_and_serve_both() {
    let _beside_others = NETWORKS.read().await;
    let _ = rustls::crypto::ring::default_provider().install_default();
    let work = tempfile::tempdir().unwrap();
    let NetworkUp {
        network_path,
        orderer_addresses,
        network,
        crypto,
        up,
        ..
    } = network_up(work.path()).await;
    let channel_cli = |args: &[&str]| {
        let mut command = Command::new(BIN);
        command.args(["ledger", "channel"]).args(args);
        command.output().unwrap()
    };
    let node = |org: &str, node: &str, user: &str| -> Vec<String> {
        [
            "--network",
            network_path.to_str().unwrap(),
            "--crypto",
            crypto.to_str().unwrap(),
            "--org",
            org,
            "--node",
            node,
            "--user",
            user,
        ]
        .map(String::from)
        .to_vec()
    };
    let block = work.path().join("jatim.block");
    let made = channel_cli(&[
        "genesis",
        "--network",
        network_path.to_str().unwrap(),
        "--crypto",
        crypto.to_str().unwrap(),
        "--channel",
        "jatim-puskesmas",
        "--out",
        block.to_str().unwrap(),
    ]);
    assert!(made.status.success(), "{}", String::from_utf8_lossy(&made.stderr));
    let join = |org: &str, name: &str, user: &str| {
        let mut args = vec!["join".to_owned()];
        args.extend(node(org, name, user));
        args.extend(["--block".to_owned(), block.to_str().unwrap().to_owned()]);
        channel_cli(&args.iter().map(String::as_str).collect::<Vec<_>>())
    };
    let text = |output: &std::process::Output| {
        format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        )
    };

    // Only the node's own organisation's administrators may have it join.
    let not_admin = join("Puskesmas", "peer0", "User1");
    assert!(!not_admin.status.success());
    assert!(text(&not_admin).contains("no administrator"), "{}", text(&not_admin));
    // BPJS's admin, asking the Puskesmas peer.
    let bpjs_admin = warga_ledger_node::configtx::Admin::load(&network, &crypto, "BPJS", "Admin").unwrap();
    let puskesmas = &network.organization("PuskesmasMSP").unwrap().peers[0];
    let request =
        warga_ledger_node::configtx::participation_request(&bpjs_admin, "join", "", std::fs::read(&block).unwrap())
            .unwrap();
    let other_org =
        warga_ledger_node::configtx::participate(&bpjs_admin, &puskesmas.listen.to_string(), &puskesmas.host, request)
            .await
            .unwrap_err();
    assert!(
        other_org.to_string().contains("PuskesmasMSP's administrators"),
        "{other_org}"
    );
    let not_member = join("RumahSakit", "peer0", "Admin");
    assert!(!not_member.status.success());
    assert!(
        text(&not_member).contains("not a member of jatim-puskesmas"),
        "{}",
        text(&not_member)
    );

    // The three orderers, then the two member peers, join.
    for name in ["orderer0", "orderer1", "orderer2"] {
        let joined = join("Orderer", name, "Admin");
        assert!(joined.status.success(), "{}", text(&joined));
        let listed = text(&joined);
        assert!(
            listed.contains("bpjs-main") && listed.contains("jatim-puskesmas"),
            "{listed}"
        );
    }
    let again = join("Orderer", "orderer0", "Admin");
    assert!(
        !again.status.success() && text(&again).contains("joined already"),
        "{}",
        text(&again)
    );
    for org in ["BPJS", "Puskesmas"] {
        let joined = join(org, "peer0", "Admin");
        assert!(joined.status.success(), "{}", text(&joined));
    }

    // Two chains on the same processes.
    let client_on = |msp: &str, channel: &str| {
        let peer = &network.organization(msp).unwrap().peers[0];
        warga_ledger_node::embedded::client_of(&network, &crypto, msp, "User1", peer.listen, &peer.host, channel)
            .unwrap()
    };
    let regional = client_on("BPJSMSP", "jatim-puskesmas");
    let issued = regional
        .submit("IssueCard", &issue_card(&crypto, "3578010101900001", "3"))
        .await
        .unwrap();
    assert_eq!(issued.code_name, "VALID", "{issued:?}");
    let card = regional
        .evaluate("VerifyCard", &["3578010101900001".to_owned()])
        .await
        .unwrap();
    assert!(String::from_utf8_lossy(&card).contains("3578010101900001"));
    let national = client_on("BPJSMSP", "bpjs-main");
    let elsewhere = national
        .evaluate("VerifyCard", &["3578010101900001".to_owned()])
        .await
        .unwrap_err();
    assert_eq!(elsewhere.code(), tonic::Code::NotFound, "{elsewhere:?}");
    let main_issued = national
        .submit("IssueCard", &issue_card(&crypto, "3171010101900002", "1"))
        .await
        .unwrap();
    assert_eq!(main_issued.code_name, "VALID");
    // The RumahSakit peer serves bpjs-main only.
    let hospital = client_on("RumahSakitMSP", "jatim-puskesmas");
    assert_eq!(hospital.info().await.unwrap_err().code(), tonic::Code::NotFound);

    // The regional channel's Raft leader leaves it (the gateways last ordered there); the
    // other two elect a leader and order it on.
    let http = operations_http(&network, &crypto);
    let raw: Value = http
        .get(format!("https://{}/healthz", orderer_addresses["orderer0"].1))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let leader = raw["channels"]["jatim-puskesmas"]["leader"].as_u64().unwrap() as usize;
    let leaving = network.orderer.nodes[leader - 1].clone();
    let mut args = vec!["remove".to_owned()];
    args.extend(node("Orderer", &leaving.name, "Admin"));
    args.extend(["--channel".to_owned(), "jatim-puskesmas".to_owned()]);
    let removed = channel_cli(&args.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(removed.status.success(), "{}", text(&removed));
    assert!(!String::from_utf8_lossy(&removed.stdout).contains("jatim-puskesmas  "));
    let mut args = vec!["list".to_owned()];
    args.extend(node("Orderer", &leaving.name, "Admin"));
    let listed = channel_cli(&args.iter().map(String::as_str).collect::<Vec<_>>());
    let listed = text(&listed);
    assert!(
        listed.contains("bpjs-main") && !listed.contains("kanal / channel jatim-puskesmas"),
        "{listed}"
    );
    let file = work
        .path()
        .join("net/orderers")
        .join(&leaving.host)
        .join("jatim-puskesmas.redb");
    assert!(!file.exists(), "the removed channel's data is deleted");
    let after = regional
        .submit("IssueCard", &issue_card(&crypto, "3578010101900003", "3"))
        .await
        .unwrap();
    assert_eq!(after.code_name, "VALID", "{after:?}");
    stop_network(up).await;
}
