//! A running orderer of one channel: Raft over gRPC with mutual TLS to the other orderers
//! of the network file, `AtomicBroadcast` for clients and peers, and its metrics.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use warga_ledger_core::network::{Network, Node};
use warga_ledger_orderer::OrdererNode;
use warga_ledger_orderer::grpc::{GrpcNetwork, OrdererServices, TlsMaterial};

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
    pub channel: String,
    /// Where the Raft log and blocks live (`<channel>.redb`).
    pub data: PathBuf,
    /// How often Broadcast's revocation lists are fetched from the organisations' CAs.
    pub revocation_refresh: std::time::Duration,
}

/// An orderer serving gRPC until [`RunningOrderer::shutdown`].
pub struct RunningOrderer {
    pub node: Arc<OrdererNode>,
    pub me: Node,
    tls: TlsMaterial,
    revocations: Arc<crate::revocation::Revocations>,
    stop: tokio::sync::oneshot::Sender<()>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl RunningOrderer {
    /// Starts the orderer named in `config`, serving on `listener` (bound to its address).
    pub async fn start(config: &OrdererConfig, listener: tokio::net::TcpListener) -> Result<RunningOrderer, NodeError> {
        let network = &config.network;
        let channel = network
            .channel(&config.channel)
            .ok_or_else(|| NodeError::Usage(format!("--channel: no channel {} in the network file", config.channel)))?
            .clone();
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
        let path = config.data.join(format!("{}.redb", channel.name));
        let node = Arc::new(
            OrdererNode::start(
                id,
                &channel.name,
                &network.orderer,
                &warga_ledger_msp::channel::genesis_block(network, &channel, &config.crypto)
                    .map_err(|e| NodeError::Crypto(e.to_string()))?,
                Arc::new(signer),
                &path,
                GrpcNetwork {
                    tls: tls.clone(),
                    peers: peers.clone(),
                    channel: channel.name.clone(),
                },
            )
            .await
            .map_err(|e| NodeError::Ledger(format!("cannot start orderer {}: {e}", me.name)))?,
        );
        let revocations = crate::revocation::Revocations::load(network, &config.crypto)?;
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let tls_for_operations = tls.clone();
        let consenters = warga_ledger_orderer::grpc::Consenters::from_crypto(network, &config.crypto)
            .map_err(|e| NodeError::Crypto(e.to_string()))?;
        let services = OrdererServices {
            node: node.clone(),
            tls,
            orderer_msp: org.msp_id.clone(),
            consenters,
            msps: revocations.edge().clone(),
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
        // Every orderer proposes the same initial membership; Raft accepts it once.
        let members: BTreeMap<u64, openraft::BasicNode> = peers
            .iter()
            .map(|(i, (addr, _))| (*i, openraft::BasicNode::new(addr.to_string())))
            .collect();
        if let Err(error) = node.raft.initialize(members).await {
            tracing::debug!(%error, "the cluster is already initialised");
        }
        let metrics = tokio::spawn(watch_metrics(node.clone(), me.name.clone(), revocations.clone()));
        // Raft's voters follow the consenters of the channel's configuration.
        let consenters = node.follow_consenters(
            peers
                .iter()
                .map(|(i, (addr, host))| (host.clone(), (*i, openraft::BasicNode::new(addr.to_string()))))
                .collect(),
        );
        let mut tasks = vec![grpc, metrics, consenters];
        tasks.extend(revocations.spawn(config.revocation_refresh));
        Ok(RunningOrderer {
            node,
            me,
            tls: tls_for_operations,
            revocations,
            stop,
            tasks,
        })
    }
}

impl crate::RunningNode for RunningOrderer {
    fn tls(&self) -> &TlsMaterial {
        &self.tls
    }

    fn health(&self) -> crate::Health {
        let node = self.node.clone();
        let name = self.me.name.clone();
        Arc::new(move || {
            let m = node.raft.metrics().borrow().clone();
            serde_json::json!({
                "status": "ok",
                "orderer": node.id,
                "name": name,
                "channel": node.channel,
                "leader": m.current_leader,
                "voters": m.membership_config.membership().voter_ids().collect::<Vec<_>>(),
                "term": m.current_term,
                "height": node.height(),
            })
        })
    }

    /// Stops serving and stops Raft.
    async fn shutdown(self) {
        self.node.shutdown().await;
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
    let labels = [name.as_str()];
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
                .with_label_values(&[name.as_str(), each])
                .set(i64::from(each == role));
        }
        ORDERER_IS_LEADER
            .with_label_values(&labels)
            .set(i64::from(m.current_leader == Some(node.id)));
        if m.current_leader.is_some() && m.current_leader != leader {
            if leader.is_some() {
                ORDERER_LEADER_CHANGES.with_label_values(&labels).inc();
            }
            tracing::info!(orderer = %name, leader = ?m.current_leader, previous = ?leader, term = m.current_term, "raft leader elected");
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
