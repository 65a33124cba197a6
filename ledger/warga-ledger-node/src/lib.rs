//! Ledger nodes as running services, shared by the separate processes (`warga orderer`,
//! `warga peer`) and the embedded network of `warga up`:
//!
//! - [`peer`]: a peer of one channel — its ledger, endorsement, and the deliver task that
//!   pulls blocks from the orderers and commits them;
//! - [`running_peer`]: a peer process — one [`peer::PeerNode`] per channel it joined, its
//!   gRPC services routing by channel, and channel participation (join, list, remove);
//! - [`gateway`]: Fabric's gateway — endorsements collected to satisfy the function's
//!   policy, ordering, waiting for the commit;
//! - [`grpc`]: the peer's services over mutual TLS (`Endorser`, `Gateway`, `Ledger`,
//!   `Events`);
//! - [`orderer`]: an orderer process — one Raft group per channel, `AtomicBroadcast` and
//!   channel participation over gRPC;
//! - [`client`]: the client side, for the CLI, tests and the benchmark;
//! - [`configtx`]: channel configuration updates from an administrator's side (fetch,
//!   sign, submit to the orderers);
//! - [`embedded`]: the whole network in one process;
//! - [`metrics`]: the nodes' Prometheus metrics, labelled by node;
//! - [`lifecycle`]: a node process's operations endpoint (health and metrics over TLS) and
//!   its graceful shutdown;
//! - [`render`]: blocks and block events as JSON for people (the CLI);
//! - [`revocation`]: the MSPs of the edge checks, their revocation lists refreshed from the
//!   organisations' CAs;
//! - [`processes`]: `warga ledger network up`, a network of node processes;
//! - [`settings`]: the ledger's configuration sections (`[ledger]`, `[orderer]`, `[peer]`).

#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

pub mod client;
pub mod configtx;
pub mod embedded;
pub mod gateway;
pub mod grpc;
pub mod lifecycle;
pub mod metrics;
pub mod orderer;
pub mod peer;
pub mod private;
pub mod processes;
pub mod render;
pub mod revocation;
pub mod running_peer;
pub mod settings;

/// Why a node could not start or run.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    /// The configuration names something the network file or crypto directory lacks.
    #[error("{0}")]
    Usage(String),
    #[error("{0}")]
    Io(String),
    #[error("crypto material: {0}")]
    Crypto(String),
    #[error("ledger: {0}")]
    Ledger(String),
    #[error("transport: {0}")]
    Transport(String),
    /// A block stream from this orderer lags what the orderers acknowledged.
    #[error("{0} is behind what was ordered")]
    Stalled(String),
}

impl NodeError {
    pub(crate) fn io(path: &std::path::Path, error: std::io::Error) -> NodeError {
        NodeError::Io(format!("{}: {error}", path.display()))
    }
}

/// The configuration a channel's genesis block carries.
pub fn genesis_config(
    genesis: &warga_ledger_core::block::Block,
) -> Result<warga_ledger_core::config::ChannelConfig, String> {
    match &genesis.data {
        warga_ledger_core::block::BlockData::Config(json) if genesis.header.number == 0 => {
            warga_ledger_core::config::ChannelConfig::from_json(json).map_err(|e| e.to_string())
        }
        _ => Err("the block is no genesis block carrying a channel configuration".into()),
    }
}

/// A channel name is also a file name: as Fabric's, lower-case letters, digits, `-`, `.`
/// and `_`, starting with a letter, at most 249 characters.
pub fn valid_channel_name(name: &str) -> bool {
    name.len() <= 249
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '.' | '_'))
}

/// The channels a node holds in its data directory (each `<channel>.redb`, joined at some
/// time), by name.
pub(crate) fn held_channels(data: &std::path::Path) -> Result<Vec<(String, std::path::PathBuf)>, NodeError> {
    let mut held = Vec::new();
    let entries = std::fs::read_dir(data).map_err(|e| NodeError::io(data, e))?;
    for entry in entries.filter_map(Result::ok) {
        let path = entry.path();
        if path.extension().is_some_and(|e| e == "redb")
            && let Some(name) = path.file_stem().and_then(|s| s.to_str())
            && valid_channel_name(name)
        {
            held.push((name.to_owned(), path));
        }
    }
    held.sort();
    Ok(held)
}

/// What a node's `/healthz` answers, callable while the node runs (it holds shared parts
/// of the node, never the node itself, so the node can still be shut down by value).
pub type Health = std::sync::Arc<dyn Fn() -> serde_json::Value + Send + Sync>;

/// A node serving until it is shut down.
pub trait RunningNode: Send + Sync + 'static {
    /// What `/healthz` answers.
    fn health(&self) -> Health;
    /// The node's TLS material (its server certificate serves the operations endpoint too).
    fn tls(&self) -> &warga_ledger_orderer::grpc::TlsMaterial;
    /// Stops serving and every task of the node.
    fn shutdown(self) -> impl std::future::Future<Output = ()> + Send;
    /// The revocation lists the node's edge checks use, refreshed on SIGHUP.
    fn revocations(&self) -> std::sync::Arc<revocation::Revocations>;
}

async fn stop_tasks(stop: tokio::sync::oneshot::Sender<()>, tasks: Vec<tokio::task::JoinHandle<()>>) {
    let _ = stop.send(());
    for task in tasks {
        task.abort();
        let _ = task.await;
    }
}
