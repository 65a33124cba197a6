//! `warga ledger network up`: a local ledger network as separate processes — every orderer
//! of the network file and the first peer of each member organisation of a channel, each a
//! `warga orderer` or `warga peer` child of this command, at the file's addresses. For tests
//! and demos; a deployment runs the same commands under its own supervisor. A node that
//! exits is reported, not restarted: the others go on, as separate machines would.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context as _, anyhow};

use crate::commands::Failure;

struct Child {
    name: String,
    operations: std::net::SocketAddr,
    log: PathBuf,
    process: tokio::process::Child,
}

fn spawn(args: &[&str], log: &Path) -> Result<tokio::process::Child, Failure> {
    let exe = std::env::current_exe().context("cannot find the warga executable")?;
    let stderr = std::fs::File::create(log).with_context(|| format!("cannot write {}", log.display()))?;
    Ok(tokio::process::Command::new(exe)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(stderr)
        .kill_on_drop(true)
        .spawn()
        .context("cannot start a node")?)
}

/// Sends SIGTERM, waits up to five seconds, then kills.
async fn stop(child: &mut tokio::process::Child) {
    if let Some(pid) = child.id().and_then(|id| rustix::process::Pid::from_raw(id as i32)) {
        let _ = rustix::process::kill_process(pid, rustix::process::Signal::TERM);
    }
    if tokio::time::timeout(Duration::from_secs(5), child.wait())
        .await
        .is_err()
    {
        let _ = child.kill().await;
    }
}

/// Waits until the node answers `/healthz`; an error if it exits or stays silent for 15 s.
async fn wait_healthy(http: &reqwest::Client, child: &mut Child) -> Result<(), anyhow::Error> {
    let url = format!("http://{}/healthz", child.operations);
    for _ in 0..150 {
        if let Ok(Some(status)) = child.process.try_wait() {
            let log = std::fs::read_to_string(&child.log).unwrap_or_default();
            let last = log.lines().last().unwrap_or("").to_owned();
            return Err(anyhow!("{} exited ({status}): {last}", child.name));
        }
        if http.get(&url).send().await.is_ok_and(|r| r.status().is_success()) {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Err(anyhow!(
        "{} did not become healthy; see {}",
        child.name,
        child.log.display()
    ))
}

pub async fn up(network_file: &Path, dir: &Path, channel: &str) -> Result<(), Failure> {
    let text = std::fs::read_to_string(network_file)
        .map_err(|e| Failure::usage(anyhow!("cannot read {}: {e}", network_file.display())))?;
    let network = warga_ledger_core::network::Network::parse(&text)
        .map_err(|e| Failure::usage(anyhow!("{}: {e}", network_file.display())))?;
    let members = network
        .channel(channel)
        .ok_or_else(|| Failure::usage(anyhow!("--channel: no channel {channel} in the network file")))?
        .members
        .clone();
    let crypto = dir.join("crypto");
    if !crypto.exists() {
        warga_ledger_msp::generate::generate(&network, &crypto, time::OffsetDateTime::now_utc())?;
    }
    let logs = dir.join("logs");
    std::fs::create_dir_all(&logs).with_context(|| format!("cannot create {}", logs.display()))?;
    let file = network_file.to_string_lossy().into_owned();
    let crypto_arg = crypto.to_string_lossy().into_owned();
    // Every orderer, and the first peer of each member organisation: (host, operations, args).
    let data = |kind: &str, host: &str| dir.join(kind).join(host).to_string_lossy().into_owned();
    let mut nodes: Vec<(&warga_ledger_core::network::Node, Vec<String>)> = Vec::new();
    for node in &network.orderer.nodes {
        let role = ["orderer", "--name", &node.name].map(String::from);
        nodes.push((
            node,
            [role.to_vec(), vec!["--data".into(), data("orderers", &node.host)]].concat(),
        ));
    }
    for org in network.organizations.iter().filter(|o| members.contains(&o.msp_id)) {
        let Some(node) = org.peers.first() else { continue };
        let role = ["peer", "--org", &org.name, "--name", &node.name].map(String::from);
        nodes.push((
            node,
            [role.to_vec(), vec!["--data".into(), data("peers", &node.host)]].concat(),
        ));
    }
    let mut children = Vec::new();
    for (node, mut args) in nodes {
        let log = logs.join(format!("{}.log", node.host));
        args.extend(["--network", &file, "--crypto", &crypto_arg, "--channel", channel].map(String::from));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        children.push(Child {
            name: node.host.clone(),
            operations: node.operations,
            process: spawn(&args, &log)?,
            log,
        });
    }

    // Ready when every node answers /healthz.
    let http = reqwest::Client::new();
    for i in 0..children.len() {
        if let Err(why) = wait_healthy(&http, &mut children[i]).await {
            for other in &mut children {
                stop(&mut other.process).await;
            }
            return Err(why.into());
        }
    }
    println!(
        "jaringan buku besar siap / ledger network ready — kanal / channel {channel}, {} proses / processes",
        children.len()
    );
    for child in &children {
        println!(
            "  {:<28} pid {:<7} http://{}/healthz   log {}",
            child.name,
            child.process.id().unwrap_or(0),
            child.operations,
            child.log.display()
        );
    }
    println!(
        "  Coba / try: warga ledger invoke --network {file} --crypto {crypto_arg} --org BPJS --channel {channel} IssueCard 3171075203950004 1 2030-12-31"
    );
    println!("  Hentikan dengan Ctrl+C / stop with Ctrl+C");

    // Until interrupted. A node that exits is reported and the others keep running, as
    // separate machines would (restart it with its own command and data directory).
    let mut exited = vec![false; children.len()];
    loop {
        tokio::select! {
            () = crate::run::wait_for_signal() => break,
            () = tokio::time::sleep(Duration::from_millis(500)) => {
                for (child, exited) in children.iter_mut().zip(exited.iter_mut()) {
                    if !*exited && let Ok(Some(status)) = child.process.try_wait() {
                        *exited = true;
                        eprintln!("{} berhenti / exited ({status}); log {}", child.name, child.log.display());
                    }
                }
                if exited.iter().all(|e| *e) {
                    return Err(anyhow!("every node exited").into());
                }
            }
        }
    }
    for child in &mut children {
        stop(&mut child.process).await;
    }
    Ok(())
}
