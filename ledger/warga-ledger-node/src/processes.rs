//! `warga ledger network up`: a local ledger network as separate processes — every orderer
//! of the network file and the first peer of each member organisation of a channel, each a
//! `warga orderer` or `warga peer` child at the file's addresses. For tests and demos; a
//! deployment runs the same commands under its own supervisor. A node that exits is
//! reported, not restarted: the others go on, as separate machines would.

use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use warga_ledger_core::network::Network;

use crate::NodeError;

/// How long a node may take to answer `/healthz` after it was started.
const READY_TIMEOUT: Duration = Duration::from_secs(15);
/// How long a node may take to stop after SIGTERM before it is killed.
const STOP_TIMEOUT: Duration = Duration::from_secs(10);

/// One node process.
pub struct NodeProcess {
    /// The node's host name in the network file.
    pub name: String,
    /// Its operations endpoint (`https://…/healthz`).
    pub operations: SocketAddr,
    /// Where its standard error goes.
    pub log: PathBuf,
    process: tokio::process::Child,
    /// Its command line (for a restart).
    args: Vec<String>,
    exited: bool,
}

impl NodeProcess {
    /// The process id, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.process.id()
    }
}

/// A network of node processes, children of this one.
pub struct LocalNetwork {
    pub channel: String,
    pub crypto: PathBuf,
    pub nodes: Vec<NodeProcess>,
    /// The executable the nodes run.
    exe: PathBuf,
    /// A client of the nodes' operations endpoints (HTTPS, trusting the network's TLS CAs).
    pub operations: reqwest::Client,
}

impl LocalNetwork {
    /// Starts the nodes of `channel` with `exe` (the `warga` executable), data and logs
    /// under `dir` (crypto material generated there on first start), and returns when every
    /// node answers `/healthz` — or stops them all and says which did not.
    pub async fn start(exe: &Path, network_file: &Path, dir: &Path, channel: &str) -> Result<LocalNetwork, NodeError> {
        Self::start_nodes(exe, network_file, dir, &[channel.to_owned()], true).await
    }

    /// As [`LocalNetwork::start`], serving several channels: every orderer orders each, and
    /// the first peer of each member organisation joins those its organisation is a member
    /// of. The first channel is the network's own ([`LocalNetwork::channel`]).
    pub async fn start_channels(
        exe: &Path,
        network_file: &Path,
        dir: &Path,
        channels: &[String],
    ) -> Result<LocalNetwork, NodeError> {
        Self::start_nodes(exe, network_file, dir, channels, true).await
    }

    /// Starts only the orderers, each ordering every channel of `channels` (one Raft group
    /// per channel), as [`LocalNetwork::start`] does.
    pub async fn start_orderers(
        exe: &Path,
        network_file: &Path,
        dir: &Path,
        channels: &[String],
    ) -> Result<LocalNetwork, NodeError> {
        Self::start_nodes(exe, network_file, dir, channels, false).await
    }

    async fn start_nodes(
        exe: &Path,
        network_file: &Path,
        dir: &Path,
        channels: &[String],
        with_peers: bool,
    ) -> Result<LocalNetwork, NodeError> {
        let channel = channels
            .first()
            .ok_or_else(|| NodeError::Usage("no channel to serve".into()))?
            .as_str();
        let text = std::fs::read_to_string(network_file).map_err(|e| NodeError::io(network_file, e))?;
        let network =
            Network::parse(&text).map_err(|e| NodeError::Usage(format!("{}: {e}", network_file.display())))?;
        // Each channel's member organisations.
        let mut members: Vec<(String, Vec<String>)> = Vec::new();
        for name in channels {
            let defined = network
                .channel(name)
                .ok_or_else(|| NodeError::Usage(format!("--channel: no channel {name} in the network file")))?;
            members.push((name.clone(), defined.members.clone()));
        }
        let joined = |msp_id: &str| -> Vec<String> {
            members
                .iter()
                .filter(|(_, m)| m.iter().any(|m| m == msp_id))
                .map(|(c, _)| c.clone())
                .collect()
        };
        let crypto = dir.join("crypto");
        if !crypto.exists() {
            warga_ledger_msp::generate::generate(&network, &crypto, time::OffsetDateTime::now_utc())
                .map_err(|e| NodeError::Crypto(e.to_string()))?;
        }
        let logs = dir.join("logs");
        std::fs::create_dir_all(&logs).map_err(|e| NodeError::io(&logs, e))?;
        let file = network_file.to_string_lossy().into_owned();
        let crypto_arg = crypto.to_string_lossy().into_owned();
        // Every orderer, and the first peer of each member organisation.
        let data = |kind: &str, host: &str| dir.join(kind).join(host).to_string_lossy().into_owned();
        let mut planned: Vec<(&warga_ledger_core::network::Node, Vec<String>)> = Vec::new();
        for node in &network.orderer.nodes {
            let mut args: Vec<String> = ["orderer", "--name", &node.name].map(String::from).to_vec();
            args.extend(["--data".into(), data("orderers", &node.host)]);
            for channel in channels {
                args.extend(["--channel".to_owned(), channel.clone()]);
            }
            planned.push((node, args));
        }
        for org in network.organizations.iter().filter(|_| with_peers) {
            let member_of = joined(&org.msp_id);
            let Some(node) = org.peers.first() else { continue };
            if member_of.is_empty() {
                continue;
            }
            let mut args: Vec<String> = ["peer", "--org", &org.name, "--name", &node.name]
                .map(String::from)
                .to_vec();
            args.extend(["--data".into(), data("peers", &node.host)]);
            for channel in member_of {
                args.extend(["--channel".to_owned(), channel]);
            }
            planned.push((node, args));
        }
        // Ready when every node answers /healthz over TLS.
        let http = crate::lifecycle::operations_client(
            &crate::lifecycle::tls_cas(&network, &crypto)?,
            Duration::from_secs(2),
        )?;
        let mut started = LocalNetwork {
            channel: channel.to_owned(),
            crypto: crypto.clone(),
            nodes: Vec::new(),
            exe: exe.to_owned(),
            operations: http.clone(),
        };
        for (node, mut args) in planned {
            let log = logs.join(format!("{}.log", node.host));
            args.extend(["--network", &file, "--crypto", &crypto_arg].map(String::from));
            // A node stops when this process ends however it ends (even SIGKILL): its
            // standard input is a pipe from here, closed by the kernel then.
            args.push("--stop-with-parent".into());
            match spawn(exe, &args, &log) {
                Ok(process) => started.nodes.push(NodeProcess {
                    name: node.host.clone(),
                    operations: node.operations,
                    log,
                    process,
                    args,
                    exited: false,
                }),
                Err(error) => {
                    started.stop().await;
                    return Err(error);
                }
            }
        }

        for i in 0..started.nodes.len() {
            if let Err(error) = wait_healthy(&http, &mut started.nodes[i]).await {
                started.stop().await;
                return Err(error);
            }
        }
        Ok(started)
    }

    /// Runs until `stop` resolves, reporting (in the log) each node that exits; an error
    /// when every node has exited.
    pub async fn supervise(&mut self, stop: impl Future<Output = ()>) -> Result<(), NodeError> {
        tokio::pin!(stop);
        loop {
            tokio::select! {
                () = &mut stop => return Ok(()),
                () = tokio::time::sleep(Duration::from_millis(500)) => {
                    for node in &mut self.nodes {
                        if !node.exited && let Ok(Some(status)) = node.process.try_wait() {
                            node.exited = true;
                            tracing::warn!(node = %node.name, %status, log = %node.log.display(), "a ledger node exited");
                        }
                    }
                    if self.nodes.iter().all(|n| n.exited) {
                        return Err(NodeError::Io("every node exited".into()));
                    }
                }
            }
        }
    }

    /// Kills node `host` with SIGKILL, as a crash would, and reaps it.
    pub async fn kill(&mut self, host: &str) -> Result<(), NodeError> {
        let node = self.node_mut(host)?;
        let _ = node.process.kill().await;
        node.exited = true;
        Ok(())
    }

    /// Starts node `host` again on its data (its log appended to), and returns once it
    /// answers `/healthz`.
    pub async fn restart(&mut self, host: &str) -> Result<(), NodeError> {
        let exe = self.exe.clone();
        let http = self.operations.clone();
        let node = self.node_mut(host)?;
        node.process = spawn(&exe, &node.args, &node.log)?;
        node.exited = false;
        wait_healthy(&http, node).await
    }

    fn node_mut(&mut self, host: &str) -> Result<&mut NodeProcess, NodeError> {
        self.nodes
            .iter_mut()
            .find(|n| n.name == host)
            .ok_or_else(|| NodeError::Usage(format!("no node {host} in this network")))
    }

    /// Stops every node: SIGTERM, then SIGKILL for one that has not exited in time.
    pub async fn stop(self) {
        for mut node in self.nodes {
            terminate(&mut node.process).await;
        }
    }
}

fn spawn(exe: &Path, args: &[String], log: &Path) -> Result<tokio::process::Child, NodeError> {
    let stderr = std::fs::File::options()
        .create(true)
        .append(true)
        .open(log)
        .map_err(|e| NodeError::io(log, e))?;
    tokio::process::Command::new(exe)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(stderr)
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| NodeError::Io(format!("cannot start {}: {e}", exe.display())))
}

/// Sends SIGTERM, waits for the process to stop, then kills it.
async fn terminate(child: &mut tokio::process::Child) {
    if let Some(pid) = child
        .id()
        .and_then(|id| i32::try_from(id).ok())
        .and_then(rustix::process::Pid::from_raw)
    {
        let _ = rustix::process::kill_process(pid, rustix::process::Signal::TERM);
    }
    if tokio::time::timeout(STOP_TIMEOUT, child.wait()).await.is_err() {
        let _ = child.kill().await;
    }
}

/// Waits until the node answers `/healthz`; an error if it exits or stays silent.
async fn wait_healthy(http: &reqwest::Client, node: &mut NodeProcess) -> Result<(), NodeError> {
    let url = format!("https://{}/healthz", node.operations);
    let deadline = tokio::time::Instant::now() + READY_TIMEOUT;
    loop {
        if let Ok(Some(status)) = node.process.try_wait() {
            let log = std::fs::read_to_string(&node.log).unwrap_or_default();
            let last = log.lines().last().unwrap_or("").to_owned();
            return Err(NodeError::Io(format!("{} exited ({status}): {last}", node.name)));
        }
        if http.get(&url).send().await.is_ok_and(|r| r.status().is_success()) {
            return Ok(());
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(NodeError::Io(format!(
                "{} did not become healthy; see {}",
                node.name,
                node.log.display()
            )));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
