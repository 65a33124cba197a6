//! A running orderer process: one Raft group per channel it serves (as etcdraft), Raft over
//! gRPC with mutual TLS to the other orderers of the network file, `AtomicBroadcast` for
//! clients and peers, Fabric's channel participation API (join, list, remove), and its
//! metrics.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use warga_ledger_core::block::Block;
use warga_ledger_core::network::{Network, Node};
use warga_ledger_msp::SigningIdentity;
use warga_ledger_orderer::OrdererNode;
use warga_ledger_orderer::channels::Channels;
use warga_ledger_orderer::grpc::{GrpcNetwork, OrdererServices, TlsMaterial};
use warga_ledger_orderer::participation::{ChannelHost, ParticipationService, Pending};
use warga_ledger_proto::v1;

use crate::NodeError;
use crate::metrics::{ORDERER_BLOCK, ORDERER_IS_LEADER, ORDERER_LEADER_CHANGES, ORDERER_RAFT_ROLE, ORDERER_TERM};
use crate::peer::signing_identity;

/// Where an orderer finds its network, identity and data.
#[derive(Clone, Debug)]
pub struct OrdererConfig {
    pub network: Arc<Network>,
    pub crypto: PathBuf,
    /// The orderer's name in the network file.
    pub name: String,
    /// Channels of the network file served from the start, each begun from the genesis
    /// block the file and the crypto directory make. Channels joined later through the
    /// participation API are served again after a restart whatever this says.
    pub channels: Vec<String>,
    /// Where each channel's Raft log and blocks live (`<channel>.redb`).
    pub data: PathBuf,
    /// How often Broadcast's revocation lists are fetched from the organisations' CAs.
    pub revocation_refresh: std::time::Duration,
}

/// A channel's file in the data directory.
fn channel_path(data: &std::path::Path, channel: &str) -> PathBuf {
    data.join(format!("{channel}.redb"))
}

/// The genesis block of a channel already held in `path`.
fn stored_genesis(path: &std::path::Path) -> Result<Block, NodeError> {
    let db = warga_ledger_orderer::store::OrdererDb::open(path)
        .map_err(|e| NodeError::Ledger(format!("{}: {e}", path.display())))?;
    db.block(0)
        .map_err(|e| NodeError::Ledger(format!("{}: {e}", path.display())))?
        .ok_or_else(|| NodeError::Ledger(format!("{}: no genesis block", path.display())))
}

/// What an orderer process needs to start a channel's Raft group, at start or on a join.
struct OrdererHost {
    id: u64,
    me: Node,
    settings: warga_ledger_core::network::Orderer,
    signer: Arc<SigningIdentity>,
    tls: TlsMaterial,
    /// Raft id → (address, TLS host name) of every orderer of the network file.
    peers: BTreeMap<u64, (String, String)>,
    data: PathBuf,
    channels: Arc<Channels>,
    revocations: Arc<crate::revocation::Revocations>,
    /// Each channel's tasks (metrics, consenters), stopped with it.
    tasks: Mutex<BTreeMap<String, Vec<tokio::task::JoinHandle<()>>>>,
    /// One join or removal at a time.
    changing: tokio::sync::Mutex<()>,
}

impl OrdererHost {
    /// Starts the Raft group of the channel whose genesis block this is, on its file in
    /// the data directory (created if new).
    async fn start_channel(&self, genesis: &Block) -> Result<Arc<OrdererNode>, NodeError> {
        let config =
            crate::genesis_config(genesis).map_err(|e| NodeError::Ledger(format!("the genesis block: {e}")))?;
        let channel = config.channel.clone();
        if !crate::valid_channel_name(&channel) {
            return Err(NodeError::Usage(format!("{channel:?} is no valid channel name")));
        }
        if !config.orderer.consenters.contains(&self.me.host) {
            return Err(NodeError::Usage(format!(
                "{} is no consenter of channel {channel}",
                self.me.host
            )));
        }
        let node = Arc::new(
            OrdererNode::start(
                self.id,
                &channel,
                &self.settings,
                genesis,
                self.signer.clone(),
                &channel_path(&self.data, &channel),
                GrpcNetwork {
                    tls: self.tls.clone(),
                    peers: self.peers.clone(),
                    channel: channel.clone(),
                },
            )
            .await
            .map_err(|e| NodeError::Ledger(format!("cannot start orderer {} of {channel}: {e}", self.me.name)))?,
        );
        // Every consenter proposes the same initial membership, the consenters of the
        // genesis configuration; Raft accepts it once.
        let by_host: BTreeMap<&str, (u64, &str)> = self
            .peers
            .iter()
            .map(|(id, (addr, host))| (host.as_str(), (*id, addr.as_str())))
            .collect();
        let members: BTreeMap<u64, openraft::BasicNode> = config
            .orderer
            .consenters
            .iter()
            .filter_map(|host| by_host.get(host.as_str()))
            .map(|(id, addr)| (*id, openraft::BasicNode::new(addr.to_string())))
            .collect();
        if let Err(error) = node.raft.initialize(members).await {
            tracing::debug!(%channel, %error, "the channel's Raft group is already initialised");
        }
        let metrics = tokio::spawn(watch_metrics(
            node.clone(),
            self.me.name.clone(),
            self.revocations.clone(),
        ));
        // Raft's voters follow the consenters of the channel's configuration.
        let consenters = node.follow_consenters(
            self.peers
                .iter()
                .map(|(i, (addr, host))| (host.clone(), (*i, openraft::BasicNode::new(addr.to_string()))))
                .collect(),
        );
        if let Err(error) = self.channels.insert(node.clone()) {
            metrics.abort();
            consenters.abort();
            node.shutdown().await;
            return Err(NodeError::Usage(error));
        }
        self.tasks
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(channel.clone(), vec![metrics, consenters]);
        tracing::info!(orderer = %self.me.name, %channel, height = node.height(), "serving a channel");
        Ok(node)
    }

    /// Stops the channel's Raft group and deletes its data.
    async fn stop_channel(&self, channel: &str) -> Result<(), NodeError> {
        let node = self
            .channels
            .remove(channel)
            .ok_or_else(|| NodeError::Usage(format!("this orderer serves no channel {channel:?}")))?;
        let tasks = self
            .tasks
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(channel)
            .unwrap_or_default();
        for task in tasks {
            task.abort();
        }
        node.shutdown().await;
        drop(node);
        let path = channel_path(&self.data, channel);
        std::fs::remove_file(&path).map_err(|e| NodeError::io(&path, e))?;
        // The channel's series end with it.
        let labels = [self.me.name.as_str(), channel];
        let _ = ORDERER_BLOCK.remove_label_values(&labels);
        let _ = ORDERER_TERM.remove_label_values(&labels);
        let _ = ORDERER_IS_LEADER.remove_label_values(&labels);
        let _ = ORDERER_LEADER_CHANGES.remove_label_values(&labels);
        for role in ["leader", "follower", "candidate", "learner"] {
            let _ = ORDERER_RAFT_ROLE.remove_label_values(&[self.me.name.as_str(), channel, role]);
        }
        Ok(())
    }

    async fn stop_all(&self) {
        for node in self.channels.all() {
            node.shutdown().await;
        }
        let tasks = std::mem::take(&mut *self.tasks.lock().unwrap_or_else(std::sync::PoisonError::into_inner));
        for task in tasks.into_values().flatten() {
            task.abort();
        }
    }
}

impl ChannelHost for OrdererHost {
    fn join(&self, genesis: Block) -> Pending<'_> {
        Box::pin(async move {
            let _one = self.changing.lock().await;
            let config = crate::genesis_config(&genesis)?;
            if self.channels.get(&config.channel).is_some() || channel_path(&self.data, &config.channel).exists() {
                return Err(format!("channel {} is joined already", config.channel));
            }
            self.start_channel(&genesis)
                .await
                .map(|_| ())
                .map_err(|e| e.to_string())
        })
    }

    fn remove(&self, channel: String) -> Pending<'_> {
        Box::pin(async move {
            let _one = self.changing.lock().await;
            self.stop_channel(&channel).await.map_err(|e| e.to_string())
        })
    }

    fn list(&self) -> Vec<v1::ChannelParticipation> {
        self.channels.list()
    }
}

/// An orderer serving gRPC until [`RunningOrderer::shutdown`].
pub struct RunningOrderer {
    pub channels: Arc<Channels>,
    pub me: Node,
    host: Arc<OrdererHost>,
    tls: TlsMaterial,
    revocations: Arc<crate::revocation::Revocations>,
    stop: tokio::sync::oneshot::Sender<()>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl RunningOrderer {
    /// Starts the orderer named in `config`, serving on `listener` (bound to its address):
    /// every channel held in its data directory, and the channels `config` names.
    pub async fn start(config: &OrdererConfig, listener: tokio::net::TcpListener) -> Result<RunningOrderer, NodeError> {
        let network = &config.network;
        let position = network
            .orderer
            .nodes
            .iter()
            .position(|n| n.name == config.name)
            .ok_or_else(|| NodeError::Usage(format!("--name: no orderer {} in the network file", config.name)))?;
        let me = network.orderer.nodes[position].clone();
        let id = position as u64 + 1;
        let org = &network.orderer.organization;
        let node_dir = warga_ledger_msp::generate::organization_dir(&config.crypto, true, &org.domain)
            .join("orderers")
            .join(&me.host);
        let signer = signing_identity(&node_dir.join("msp"), &org.msp_id)?;
        let tls = TlsMaterial::from_crypto(network, &config.crypto, &node_dir, true)
            .map_err(|e| NodeError::Crypto(e.to_string()))?;
        crate::peer::observe_certificates(&me.host, &tls, &signer);
        let peers: BTreeMap<u64, (String, String)> = network
            .orderer
            .nodes
            .iter()
            .enumerate()
            .map(|(i, n)| (i as u64 + 1, (n.address.clone(), n.host.clone())))
            .collect();
        std::fs::create_dir_all(&config.data).map_err(|e| NodeError::io(&config.data, e))?;
        let revocations = crate::revocation::Revocations::load(network, &config.crypto)?;
        let channels = Arc::new(Channels::default());
        let host = Arc::new(OrdererHost {
            id,
            me: me.clone(),
            settings: network.orderer.clone(),
            signer: Arc::new(signer),
            tls: tls.clone(),
            peers,
            data: config.data.clone(),
            channels: channels.clone(),
            revocations: revocations.clone(),
            tasks: Mutex::default(),
            changing: tokio::sync::Mutex::new(()),
        });
        // The channels held in the data directory (joined at some time), then the
        // configured ones not held yet.
        let held = crate::held_channels(&config.data)?;
        for (name, path) in &held {
            let genesis = stored_genesis(path)?;
            host.start_channel(&genesis).await.map_err(|e| match e {
                NodeError::Usage(why) => NodeError::Usage(format!("{}: {why}", path.display())),
                other => other,
            })?;
            tracing::debug!(channel = %name, "a channel held in the data directory");
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
            host.start_channel(&genesis).await?;
        }
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let consenters = warga_ledger_orderer::grpc::Consenters::from_crypto(network, &config.crypto)
            .map_err(|e| NodeError::Crypto(e.to_string()))?;
        let services = OrdererServices {
            channels: channels.clone(),
            tls: tls.clone(),
            orderer_msp: org.msp_id.clone(),
            consenters,
            msps: revocations.edge().clone(),
            participation: Some(ParticipationService {
                host: host.clone(),
                tls: tls.clone(),
                msp_id: org.msp_id.clone(),
                msps: revocations.edge().clone(),
                node: me.name.clone(),
            }),
        };
        let grpc = tokio::spawn(async move {
            let served = warga_ledger_orderer::grpc::serve(services, listener, async {
                let _ = stopped.await;
            })
            .await;
            if let Err(error) = served {
                tracing::error!(%error, "the orderer's gRPC server stopped");
            }
        });
        let mut tasks = vec![grpc];
        tasks.extend(revocations.spawn(config.revocation_refresh));
        Ok(RunningOrderer {
            channels,
            me,
            host,
            tls,
            revocations,
            stop,
            tasks,
        })
    }

    /// The orderer of `channel`, if served.
    pub fn channel(&self, channel: &str) -> Option<Arc<OrdererNode>> {
        self.channels.get(channel)
    }
}

impl crate::RunningNode for RunningOrderer {
    fn tls(&self) -> &TlsMaterial {
        &self.tls
    }

    fn health(&self) -> crate::Health {
        let channels = self.channels.clone();
        let (name, id) = (self.me.name.clone(), self.host.id);
        Arc::new(move || {
            let each: serde_json::Map<String, serde_json::Value> = channels
                .all()
                .iter()
                .map(|node| {
                    let m = node.raft.metrics().borrow().clone();
                    let state = serde_json::json!({
                        "leader": m.current_leader,
                        "voters": m.membership_config.membership().voter_ids().collect::<Vec<_>>(),
                        "term": m.current_term,
                        "height": node.height(),
                    });
                    (node.channel.clone(), state)
                })
                .collect();
            serde_json::json!({
                "status": "ok",
                "orderer": id,
                "name": name,
                "channels": each,
            })
        })
    }

    /// Stops serving and stops every channel's Raft group.
    async fn shutdown(self) {
        self.host.stop_all().await;
        crate::stop_tasks(self.stop, self.tasks).await;
    }

    fn revocations(&self) -> Arc<crate::revocation::Revocations> {
        self.revocations.clone()
    }
}

/// Publishes the orderer's Raft metrics as they change, and has Broadcast take up the
/// revocation lists of each configuration the channel applies.
async fn watch_metrics(node: Arc<OrdererNode>, name: String, revocations: Arc<crate::revocation::Revocations>) {
    let mut watch = node.raft.metrics();
    let mut leader = None;
    let mut config_block = None;
    let labels = [name.as_str(), node.channel.as_str()];
    // At zero from the start, so the leader-change rate has a series before the first change.
    ORDERER_LEADER_CHANGES.with_label_values(&labels);
    loop {
        let m = watch.borrow_and_update().clone();
        ORDERER_TERM.with_label_values(&labels).set(m.current_term as i64);
        let role = match m.state {
            openraft::ServerState::Leader => "leader",
            openraft::ServerState::Candidate => "candidate",
            openraft::ServerState::Learner => "learner",
            openraft::ServerState::Follower | openraft::ServerState::Shutdown => "follower",
        };
        for each in ["leader", "follower", "candidate", "learner"] {
            ORDERER_RAFT_ROLE
                .with_label_values(&[name.as_str(), node.channel.as_str(), each])
                .set(i64::from(each == role));
        }
        ORDERER_IS_LEADER
            .with_label_values(&labels)
            .set(i64::from(m.current_leader == Some(node.id)));
        if m.current_leader.is_some() && m.current_leader != leader {
            if leader.is_some() {
                ORDERER_LEADER_CHANGES.with_label_values(&labels).inc();
            }
            tracing::info!(orderer = %name, channel = %node.channel, leader = ?m.current_leader, previous = ?leader, term = m.current_term, "raft leader elected");
            leader = m.current_leader;
        }
        ORDERER_BLOCK
            .with_label_values(&[name.as_str(), node.channel.as_str()])
            .set(node.height().saturating_sub(1) as i64);
        match node.config() {
            Ok((block, config)) if config_block != Some(block) => {
                for error in revocations.edge().adopt_config(&config) {
                    tracing::warn!(orderer = %name, %error, "Broadcast did not take up a revocation list of the configuration");
                }
                config_block = Some(block);
            }
            Ok(_) => {}
            Err(error) => tracing::error!(orderer = %name, %error, "the channel's configuration is unreadable"),
        }
        if watch.changed().await.is_err() {
            return;
        }
    }
}
