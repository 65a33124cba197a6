//! `warga bench channels`: ordering throughput with 1, 2 and 4 channels on the same three
//! orderer processes (one Raft group per channel, each with its own leader, cutter and
//! chain). The network file is the shipped one with two more regional channels; the
//! orderers run alone (no peers), so what is measured is ordering: workers broadcast signed
//! transactions (BPJS's `User1` as creator, no endorsements — the orderers check the
//! creator and the channel's Writers policy, not endorsements) to each loaded channel's
//! leader, back to back, and an acknowledgement means a majority committed the block. Each
//! round loads the first 1, 2 or 4 channels for the same time; the 1-channel round is the
//! reference the others are compared with.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::anyhow;
use warga_ledger_core::network::{BPJS_EXAMPLE, Network};
use warga_ledger_core::tx::{Creator, Proposal, Response, Transaction};
use warga_ledger_msp::SigningIdentity;
use warga_ledger_node::processes::LocalNetwork;
use warga_ledger_proto::v1;
use warga_ledger_proto::v1::atomic_broadcast_client::AtomicBroadcastClient;

use crate::BenchError;
use crate::ledger::machine;

/// What to run.
pub struct ChannelsBench {
    /// Seconds measured per round.
    pub seconds: u64,
    /// Workers per loaded channel, each broadcasting back to back.
    pub workers: usize,
}

/// The channels of the benchmark's network, in the order they are loaded.
const CHANNELS: [&str; 4] = ["bpjs-main", "jatim-puskesmas", "jabar-puskesmas", "bali-puskesmas"];

/// The shipped network file on free ports, with two more regional channels shaped as
/// `jatim-puskesmas`.
fn network_text() -> anyhow::Result<String> {
    let mut text = crate::ledger::on_free_ports(BPJS_EXAMPLE.to_owned())?;
    let start = text
        .find("  - name: jatim-puskesmas")
        .ok_or_else(|| anyhow!("the shipped network file has no jatim-puskesmas channel"))?;
    let regional = text[start..].to_owned();
    if !text.ends_with('\n') {
        text.push('\n');
    }
    for name in &CHANNELS[2..] {
        text.push_str(&regional.replacen("jatim-puskesmas", name, 1));
    }
    Ok(text)
}

/// A transaction for `channel` signed by `creator`: ordered, never endorsed.
fn transaction(creator: &SigningIdentity, channel: &str, n: u64) -> anyhow::Result<Transaction> {
    let nonce = n
        .to_be_bytes()
        .iter()
        .chain(channel.as_bytes())
        .copied()
        .collect::<Vec<u8>>();
    let who: Creator = creator.creator();
    let proposal = Proposal {
        channel: channel.to_owned(),
        chaincode: "bpjs".into(),
        function: "VerifyCard".into(),
        args: vec![format!("{n:016}")],
        tx_id: Proposal::compute_tx_id(&nonce, &who),
        timestamp_ms: time::OffsetDateTime::now_utc().unix_timestamp().saturating_mul(1000),
        nonce,
        creator: who,
    };
    let response = Response {
        proposal_hash: Default::default(),
        rwset: Default::default(),
        event: None,
        result: Vec::new(),
        chaincode_sequence: 1,
    };
    let signature = creator
        .sign(&Transaction::signed_bytes(&proposal, &response, &[]))
        .map_err(|e| anyhow!("{e}"))?;
    Ok(Transaction {
        proposal,
        response,
        endorsements: Vec::new(),
        signature,
    })
}

pub async fn channels(bench: ChannelsBench) -> Result<(), BenchError> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    if bench.seconds == 0 || bench.workers == 0 {
        return Err(BenchError::Usage("--seconds and --workers must be above zero".into()));
    }
    let dir = tempfile::tempdir().map_err(anyhow::Error::from)?;
    let text = network_text()?;
    let network = Network::parse(&text).map_err(|e| anyhow!("{e}"))?;
    let file = dir.path().join("network.yaml");
    std::fs::write(&file, &text).map_err(anyhow::Error::from)?;
    let exe = std::env::current_exe().map_err(anyhow::Error::from)?;
    eprintln!("starting three orderer processes serving {} channels …", CHANNELS.len());
    let all: Vec<String> = CHANNELS.iter().map(|c| c.to_string()).collect();
    let net = LocalNetwork::start_orderers(&exe, &file, &dir.path().join("net"), &all)
        .await
        .map_err(|e| anyhow!("starting the orderers: {e}"))?;
    let result = measure(&network, &net, &bench).await;
    net.stop().await;
    let rounds = result?;
    println!("### warga bench channels\n");
    println!(
        "Machine: {}; three orderer processes (`warga orderer`, release build) serving {} channels, one Raft group each, BatchTimeout 250 ms, no peers; {} workers per loaded channel broadcasting back to back, {} s per round.\n",
        machine(),
        CHANNELS.len(),
        bench.workers,
        bench.seconds
    );
    println!("| channels loaded | total ordered tx/s | per channel tx/s | total ÷ 1-channel total |");
    println!("|---:|---:|---|---:|");
    let reference = rounds.first().map_or(f64::NAN, |(_, total, _)| *total);
    for (loaded, total, each) in &rounds {
        let each: Vec<String> = each.iter().map(|(c, tps)| format!("{c} {tps:.0}")).collect();
        println!(
            "| {loaded} | {total:.0} | {} | {:.2} |",
            each.join(", "),
            total / reference
        );
    }
    Ok(())
}

type Round = (usize, f64, Vec<(String, f64)>);

async fn measure(network: &Network, net: &LocalNetwork, bench: &ChannelsBench) -> anyhow::Result<Vec<Round>> {
    let org = network
        .organization("BPJSMSP")
        .ok_or_else(|| anyhow!("no BPJS organisation"))?;
    let user = warga_ledger_msp::generate::organization_dir(&net.crypto, false, &org.domain)
        .join("users")
        .join(format!("User1@{}", org.domain));
    let creator = Arc::new(
        warga_ledger_node::peer::signing_identity(&user.join("msp"), &org.msp_id).map_err(|e| anyhow!("{e}"))?,
    );
    let tls = warga_ledger_orderer::grpc::TlsMaterial::from_crypto(network, &net.crypto, &user, false)?;
    let orderers: Vec<_> = network
        .orderer
        .nodes
        .iter()
        .map(|n| warga_ledger_orderer::grpc::client_channel(&tls, n.listen, &n.host).map_err(|e| anyhow!("{e}")))
        .collect::<anyhow::Result<_>>()?;
    let counter = Arc::new(AtomicU64::new(0));
    let mut rounds = Vec::new();
    for loaded in [1usize, 2, 4] {
        let measuring = Arc::new(AtomicBool::new(false));
        let stop = Arc::new(AtomicBool::new(false));
        let mut tasks = Vec::new();
        let mut counts = Vec::new();
        for channel in &CHANNELS[..loaded] {
            let acknowledged = Arc::new(AtomicU64::new(0));
            counts.push((channel.to_string(), acknowledged.clone()));
            for _ in 0..bench.workers {
                let (orderers, creator, counter) = (orderers.clone(), creator.clone(), counter.clone());
                let (measuring, stop, acknowledged) = (measuring.clone(), stop.clone(), acknowledged.clone());
                let channel = channel.to_string();
                tasks.push(tokio::spawn(async move {
                    let mut target = 0usize;
                    while !stop.load(Ordering::Relaxed) {
                        let n = counter.fetch_add(1, Ordering::Relaxed);
                        let tx = transaction(&creator, &channel, n)?;
                        let mut client = AtomicBroadcastClient::new(orderers[target % orderers.len()].clone());
                        let sent =
                            tokio::time::timeout(Duration::from_secs(10), client.broadcast(v1::Transaction::from(tx)))
                                .await;
                        match sent {
                            Ok(Ok(_)) => {
                                if measuring.load(Ordering::Relaxed) {
                                    acknowledged.fetch_add(1, Ordering::Relaxed);
                                }
                            }
                            // A follower names the leader of this channel's Raft group.
                            Ok(Err(status)) => {
                                let leader = status
                                    .metadata()
                                    .get("x-warga-leader")
                                    .and_then(|v| v.to_str().ok())
                                    .and_then(|v| v.parse::<usize>().ok());
                                target = match leader {
                                    Some(id) if id >= 1 => id - 1,
                                    _ => target + 1,
                                };
                                if leader.is_none() {
                                    tokio::time::sleep(Duration::from_millis(100)).await;
                                }
                            }
                            Err(_) => target += 1,
                        }
                    }
                    Ok::<(), anyhow::Error>(())
                }));
            }
        }
        // A ramp (leaders found, connections up), then the measured window.
        tokio::time::sleep(Duration::from_secs(3)).await;
        let before: Vec<u64> = counts.iter().map(|(_, c)| c.load(Ordering::Relaxed)).collect();
        measuring.store(true, Ordering::Relaxed);
        let started = Instant::now();
        tokio::time::sleep(Duration::from_secs(bench.seconds)).await;
        measuring.store(false, Ordering::Relaxed);
        let elapsed = started.elapsed().as_secs_f64();
        stop.store(true, Ordering::Relaxed);
        for task in tasks {
            task.await.map_err(|e| anyhow!("{e}"))??;
        }
        let each: Vec<(String, f64)> = counts
            .iter()
            .zip(before)
            .map(|((c, n), b)| (c.clone(), n.load(Ordering::Relaxed).saturating_sub(b) as f64 / elapsed))
            .collect();
        let total = each.iter().map(|(_, t)| t).sum();
        eprintln!("{loaded} channel(s): {total:.0} tx/s");
        rounds.push((loaded, total, each));
    }
    Ok(rounds)
}
