//! A peer process: one [`PeerNode`] per channel it joined — each its own ledger, endorser,
//! deliver task and reconciliation — behind one gRPC server that routes every call by the
//! channel it names, with Fabric's channel participation API (join with a genesis block,
//! list, remove).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use warga_ledger_core::block::Block;
use warga_ledger_core::network::{Node, Organization};
use warga_ledger_orderer::grpc::TlsMaterial;
use warga_ledger_orderer::participation::{ChannelHost, ParticipationService, Pending};
use warga_ledger_proto::v1;

use crate::NodeError;
use crate::gateway::{Gateway, PeerChannels};
use crate::peer::{PeerConfig, PeerNode};

/// What a peer process needs to start a channel, at start or on a join.
struct PeerHost {
    config: PeerConfig,
    revocations: Arc<crate::revocation::Revocations>,
    channels: Arc<PeerChannels>,
    /// Each channel's tasks (deliver, reconcile), stopped with it.
    tasks: Mutex<BTreeMap<String, Vec<tokio::task::JoinHandle<()>>>>,
    /// One join or removal at a time.
    changing: tokio::sync::Mutex<()>,
}

impl PeerHost {
    fn path(&self, channel: &str) -> PathBuf {
        self.config.data.join(format!("{channel}.redb"))
    }

    /// Opens the channel's ledger and starts pulling its blocks from the orderers.
    fn start_channel(&self, genesis: &Block) -> Result<Arc<PeerNode>, NodeError> {
        let peer = PeerNode::open(&self.config, genesis, self.revocations.clone())?;
        let gateway = Arc::new(Gateway::new(peer.clone()).map_err(NodeError::Transport)?);
        self.channels.insert(gateway).map_err(NodeError::Usage)?;
        let orderers = peer
            .network
            .orderer
            .nodes
            .iter()
            .map(|n| (n.address.clone(), n.host.clone()))
            .collect();
        let deliver = tokio::spawn(peer.clone().deliver(orderers));
        let reconcile = tokio::spawn(peer.clone().reconcile(crate::private::RECONCILE_EVERY));
        self.tasks
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(peer.channel.name.clone(), vec![deliver, reconcile]);
        tracing::info!(peer = %peer.node.host, channel = %peer.channel.name, height = peer.ledger.height().unwrap_or(0), "serving a channel");
        Ok(peer)
    }

    /// Stops the channel's tasks and deletes its ledger.
    async fn stop_channel(&self, channel: &str) -> Result<(), NodeError> {
        self.channels
            .remove(channel)
            .ok_or_else(|| NodeError::Usage(format!("this peer serves no channel {channel:?}")))?;
        self.stop_tasks(channel).await;
        let path = self.path(channel);
        std::fs::remove_file(&path).map_err(|e| NodeError::io(&path, e))?;
        let _ = crate::metrics::PEER_BLOCK.remove_label_values(&[self.config_host(), channel]);
        Ok(())
    }

    async fn stop_tasks(&self, channel: &str) {
        let tasks = self
            .tasks
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(channel)
            .unwrap_or_default();
        for task in tasks {
            task.abort();
            let _ = task.await;
        }
    }

    fn config_host(&self) -> &str {
        self.config
            .network
            .organizations
            .iter()
            .find(|o| o.name == self.config.organization)
            .and_then(|o| o.peers.iter().find(|p| p.name == self.config.name))
            .map_or("", |p| p.host.as_str())
    }
}

impl ChannelHost for PeerHost {
    fn join(&self, genesis: Block) -> Pending<'_> {
        Box::pin(async move {
            let _one = self.changing.lock().await;
            let config = crate::genesis_config(&genesis)?;
            if self.channels.get(&config.channel).is_some() || self.path(&config.channel).exists() {
                return Err(format!("channel {} is joined already", config.channel));
            }
            self.start_channel(&genesis).map(|_| ()).map_err(|e| e.to_string())
        })
    }

    fn remove(&self, channel: String) -> Pending<'_> {
        Box::pin(async move {
            let _one = self.changing.lock().await;
            self.stop_channel(&channel).await.map_err(|e| e.to_string())
        })
    }

    fn list(&self) -> Vec<v1::ChannelParticipation> {
        self.channels
            .peers()
            .iter()
            .map(|peer| v1::ChannelParticipation {
                name: peer.channel.name.clone(),
                height: peer.ledger.height().unwrap_or(0),
                status: "member".into(),
            })
            .collect()
    }
}

/// A peer process serving gRPC and pulling each channel's blocks until
/// [`RunningPeer::shutdown`](crate::RunningNode::shutdown).
pub struct RunningPeer {
    pub organization: Organization,
    pub node: Node,
    pub channels: Arc<PeerChannels>,
    host: Arc<PeerHost>,
    tls: TlsMaterial,
    stop: tokio::sync::oneshot::Sender<()>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl RunningPeer {
    /// Starts the peer of `config`: every channel held in its data directory and those
    /// `config` names, its services on `listener`, pulling blocks from the network file's
    /// orderers.
    pub async fn start(config: &PeerConfig, listener: tokio::net::TcpListener) -> Result<RunningPeer, NodeError> {
        let network = &config.network;
        let organization = network
            .organizations
            .iter()
            .find(|o| o.name == config.organization)
            .ok_or_else(|| {
                NodeError::Usage(format!(
                    "--org: no organisation {} in the network file",
                    config.organization
                ))
            })?
            .clone();
        let node = organization
            .peers
            .iter()
            .find(|p| p.name == config.name)
            .ok_or_else(|| NodeError::Usage(format!("--name: {} has no peer {}", organization.name, config.name)))?
            .clone();
        let node_dir = warga_ledger_msp::generate::organization_dir(&config.crypto, false, &organization.domain)
            .join("peers")
            .join(&node.host);
        let tls = TlsMaterial::from_crypto(network, &config.crypto, &node_dir, true)
            .map_err(|e| NodeError::Crypto(e.to_string()))?;
        std::fs::create_dir_all(&config.data).map_err(|e| NodeError::io(&config.data, e))?;
        let revocations = crate::revocation::Revocations::load(network, &config.crypto)?;
        let channels = Arc::new(PeerChannels::default());
        let host = Arc::new(PeerHost {
            config: config.clone(),
            revocations: revocations.clone(),
            channels: channels.clone(),
            tasks: Mutex::default(),
            changing: tokio::sync::Mutex::new(()),
        });
        // The channels held in the data directory (joined at some time), then the
        // configured ones not held yet.
        let held = crate::held_channels(&config.data)?;
        for (name, path) in &held {
            let genesis = warga_ledger_peer::PeerLedger::open_existing(path, name)
                .and_then(|ledger| ledger.block(0))
                .map_err(|e| NodeError::Ledger(format!("{}: {e}", path.display())))?
                .ok_or_else(|| NodeError::Ledger(format!("{}: no genesis block", path.display())))?;
            host.start_channel(&genesis)?;
        }
        for name in &config.channels {
            if channels.get(name).is_some() {
                continue;
            }
            let channel = network
                .channel(name)
                .ok_or_else(|| NodeError::Usage(format!("--channel: no channel {name} in the network file")))?;
            let genesis = warga_ledger_msp::channel::genesis_block(network, channel, &config.crypto)
                .map_err(|e| NodeError::Crypto(e.to_string()))?;
            host.start_channel(&genesis)?;
        }
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let services = crate::grpc::PeerServices::new(
            channels.clone(),
            tls.clone(),
            node.host.clone(),
            Some(ParticipationService {
                host: host.clone(),
                tls: tls.clone(),
                msp_id: organization.msp_id.clone(),
                msps: revocations.edge().clone(),
                node: node.host.clone(),
            }),
        );
        let grpc = tokio::spawn(async move {
            let served = crate::grpc::serve(services, listener, async {
                let _ = stopped.await;
            })
            .await;
            if let Err(error) = served {
                tracing::error!(%error, "the peer's gRPC server stopped");
            }
        });
        let mut tasks = vec![grpc];
        tasks.extend(revocations.spawn(config.revocation_refresh));
        Ok(RunningPeer {
            organization,
            node,
            channels,
            host,
            tls,
            stop,
            tasks,
        })
    }

    /// The peer of `channel`, if joined.
    pub fn peer(&self, channel: &str) -> Option<Arc<PeerNode>> {
        self.channels.get(channel).map(|g| g.peer().clone())
    }
}

impl crate::RunningNode for RunningPeer {
    fn tls(&self) -> &TlsMaterial {
        &self.tls
    }

    fn health(&self) -> crate::Health {
        let channels = self.channels.clone();
        let host = self.node.host.clone();
        Arc::new(move || {
            let peers = channels.peers();
            let each: serde_json::Map<String, serde_json::Value> = peers
                .iter()
                .map(|p| {
                    (
                        p.channel.name.clone(),
                        serde_json::json!({ "height": p.ledger.height().unwrap_or(0) }),
                    )
                })
                .collect();
            serde_json::json!({
                "status": "ok",
                "peer": host,
                "channels": each,
            })
        })
    }

    async fn shutdown(self) {
        let names: Vec<String> = self.channels.peers().iter().map(|p| p.channel.name.clone()).collect();
        for name in names {
            self.host.stop_tasks(&name).await;
        }
        crate::stop_tasks(self.stop, self.tasks).await;
    }

    fn revocations(&self) -> Arc<crate::revocation::Revocations> {
        self.host.revocations.clone()
    }
}
