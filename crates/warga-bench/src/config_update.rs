//! `warga bench config-update`: how long a channel configuration update takes to apply on
//! every peer of the network as processes (`warga ledger network up`), against an ordinary
//! transaction measured the same way in the same run: from submitting to the moment every
//! peer has committed its block. Each update is fetched, changed (BatchTimeout, alternately
//! 250 and 249 ms), signed by the ordering organisation's admin and submitted, one after
//! another; the reference is an IssueCard through BPJS's gateway, then waited for on the
//! other two peers.

use std::time::{Duration, Instant};

use anyhow::{Context as _, anyhow};
use warga_ledger_core::config::{ConfigEnvelope, ConfigUpdate};
use warga_ledger_msp::attestor::Attestor;
use warga_ledger_node::client::Client;
use warga_ledger_node::configtx::{self, Admin};

use crate::BenchError;
use crate::ledger::{BenchTarget, Running, machine, start};

/// What to run.
pub struct ConfigUpdateBench {
    /// Configuration updates (and as many reference transactions).
    pub updates: u32,
}

/// Every peer's height has passed `block` (polled; each peer answers within its deadline).
async fn everywhere(peers: &[Client], block: u64) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(30);
    for peer in peers {
        loop {
            if peer.info().await.is_ok_and(|i| i.height > block) {
                break;
            }
            if Instant::now() > deadline {
                return Err(anyhow!("a peer did not commit block {block} within 30 s"));
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }
    Ok(())
}

fn median_ms(samples: &mut [Duration]) -> f64 {
    samples.sort();
    samples
        .get(samples.len() / 2)
        .map_or(f64::NAN, |d| d.as_secs_f64() * 1000.0)
}

fn p90_ms(samples: &mut [Duration]) -> f64 {
    samples.sort();
    let i = (samples.len() * 9 / 10).min(samples.len().saturating_sub(1));
    samples.get(i).map_or(f64::NAN, |d| d.as_secs_f64() * 1000.0)
}

pub async fn config_update(bench: ConfigUpdateBench) -> Result<(), BenchError> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    if bench.updates == 0 {
        return Err(BenchError::Usage("--updates must be above zero".into()));
    }
    eprintln!("starting the network as processes …");
    let running = start(BenchTarget::Processes, None).await?;
    let result = measure(&running, bench.updates).await;
    running.stop().await;
    let (mut ordered, mut applied, mut reference) = result?;
    println!("### warga bench config-update\n");
    println!(
        "Machine: {}; three orderer and three peer processes (`warga ledger network up`), BatchTimeout 250 ms; {} updates and {} reference transactions, one after another.\n",
        machine(),
        bench.updates,
        reference.len()
    );
    println!("| what | median ms | p90 ms |");
    println!("|---|---:|---:|");
    println!(
        "| configuration update: submitted → ordered (a majority of orderers) | {:.1} | {:.1} |",
        median_ms(&mut ordered),
        p90_ms(&mut ordered)
    );
    let update_ms = median_ms(&mut applied);
    println!(
        "| configuration update: submitted → applied on every peer | {update_ms:.1} | {:.1} |",
        p90_ms(&mut applied)
    );
    let reference_ms = median_ms(&mut reference);
    println!(
        "| reference: IssueCard submitted → committed on every peer | {reference_ms:.1} | {:.1} |",
        p90_ms(&mut reference)
    );
    println!(
        "\nRatio of medians (update ÷ reference): {:.2}",
        update_ms / reference_ms
    );
    Ok(())
}

type Samples = (Vec<Duration>, Vec<Duration>, Vec<Duration>);

async fn measure(running: &Running, updates: u32) -> anyhow::Result<Samples> {
    let admin = Admin::load(
        &running.network,
        &running.crypto,
        &running.network.orderer.organization.name,
        "Admin",
    )
    .map_err(|e| anyhow!("{e}"))?;
    let orderers = configtx::orderers(&running.network);
    let peers = ["BPJSMSP", "PuskesmasMSP", "RumahSakitMSP"]
        .into_iter()
        .map(|msp| running.client(msp))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let registry = Attestor::load(&running.crypto).map_err(|e| anyhow!("{e}"))?;
    // The first submit also waits out the orderers' first election.
    let issue = |n: u32| -> anyhow::Result<Vec<String>> {
        let nik = format!("{:016}", 3_171_000_000_900_000u64 + u64::from(n));
        let now_ms = time::OffsetDateTime::now_utc().unix_timestamp().saturating_mul(1000);
        let attestation = registry
            .attest(&nik, warga_ledger_core::attestation::ALIVE, now_ms)
            .map_err(|e| anyhow!("{e}"))?;
        Ok(vec![nik, "1".into(), "2030-12-31".into(), attestation])
    };
    peers[0]
        .submit("IssueCard", &issue(updates + 1)?)
        .await
        .map_err(|e| anyhow!("the first transaction: {e}"))?;
    let (mut ordered, mut applied, mut reference) = (Vec::new(), Vec::new(), Vec::new());
    for n in 0..updates {
        let (_, current) = configtx::fetch(&admin, &orderers, "bpjs-main")
            .await
            .map_err(|e| anyhow!("{e}"))?;
        let mut next = current.clone();
        next.orderer.batch_timeout_ms = if current.orderer.batch_timeout_ms == 250 {
            249
        } else {
            250
        };
        let mut envelope = ConfigEnvelope {
            update: ConfigUpdate::new(&current, next),
            signatures: Vec::new(),
        };
        admin.sign(&mut envelope).map_err(|e| anyhow!("{e}"))?;
        let started = Instant::now();
        let block = configtx::submit(&admin, &orderers, &envelope)
            .await
            .map_err(|e| anyhow!("update {n}: {e}"))?;
        ordered.push(started.elapsed());
        everywhere(&peers, block).await.context("the update")?;
        applied.push(started.elapsed());

        let started = Instant::now();
        let status = peers[0]
            .submit("IssueCard", &issue(n)?)
            .await
            .map_err(|e| anyhow!("reference {n}: {e}"))?;
        everywhere(&peers, status.block).await.context("the reference")?;
        reference.push(started.elapsed());
    }
    Ok((ordered, applied, reference))
}
