//! A whole ledger network in one process, as `warga up` runs it: the orderers of the network
//! file and every peer of the channel's member organisations, each serving gRPC with mutual TLS
//! on its own port — the code paths of the separate processes, only without the processes.
//! Each member organisation's CA runs too (over HTTPS on 127.0.0.1), unless the network
//! file names a CA of its own: the platform enrols its people there, and the nodes refresh
//! revocation lists from it. Crypto material is generated on first start and kept with
//! the data.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use warga_ledger_core::network::{Network, Node};
use warga_ledger_orderer::grpc::TlsMaterial;

use crate::NodeError;
use crate::client::Client;
use crate::orderer::{OrdererConfig, RunningOrderer};
use crate::peer::{PeerConfig, PeerNode, signing_identity};
pub use crate::running_peer::RunningPeer;

/// Binds a node's gRPC listener.
pub async fn bind(addr: std::net::SocketAddr) -> Result<tokio::net::TcpListener, NodeError> {
    tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| NodeError::Usage(format!("cannot listen on {addr}: {e}")))
}

/// Binds a node's listener — at its address, or a free port of 127.0.0.1 — and records the
/// address bound.
async fn bind_node(node: &mut Node, ephemeral: bool) -> Result<tokio::net::TcpListener, NodeError> {
    let wanted = if ephemeral {
        std::net::SocketAddr::from(([127, 0, 0, 1], 0))
    } else {
        node.listen
    };
    let listener = bind(wanted).await?;
    let bound = listener
        .local_addr()
        .map_err(|e| NodeError::Io(format!("{wanted}: {e}")))?;
    if ephemeral {
        node.set_listen(bound);
    }
    Ok(listener)
}

/// An organisation's CA served over HTTPS until the network stops.
pub struct RunningCa {
    pub msp_id: String,
    /// `https://127.0.0.1:<port>`.
    pub url: String,
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<()>,
}

/// Opens organisation `msp_id`'s CA from `crypto` and serves it on a free port of
/// 127.0.0.1.
async fn start_ca(network: &Network, crypto: &Path, msp_id: &str) -> Result<RunningCa, NodeError> {
    let org = network
        .organization(msp_id)
        .ok_or_else(|| NodeError::Usage(format!("no organisation {msp_id} in the network file")))?;
    let ca = warga_ledger_ca::Ca::open(warga_ledger_ca::CaConfig {
        msp_id: org.msp_id.clone(),
        domain: org.domain.clone(),
        orderer_organization: false,
        org_dir: warga_ledger_msp::generate::organization_dir(crypto, false, &org.domain),
        dns_names: Vec::new(),
    })
    .map_err(|e| NodeError::Crypto(format!("the CA of {msp_id}: {e}")))?;
    let listener = std::net::TcpListener::bind(("127.0.0.1", 0))
        .map_err(|e| NodeError::Io(format!("cannot listen for the CA of {msp_id}: {e}")))?;
    let addr = listener
        .local_addr()
        .map_err(|e| NodeError::Io(format!("the CA of {msp_id}: {e}")))?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let name = msp_id.to_owned();
    let task = tokio::spawn(async move {
        let served = ca
            .serve(listener, async {
                let _ = stopped.await;
            })
            .await;
        if let Err(error) = served {
            tracing::error!(%error, msp_id = %name, "the CA stopped");
        }
    });
    tracing::info!(msp_id, %addr, "CA serving");
    Ok(RunningCa {
        msp_id: msp_id.to_owned(),
        url: format!("https://{addr}"),
        stop,
        task,
    })
}

/// The orderers and the peers of the member organisations of its channels, in this process.
pub struct EmbeddedNetwork {
    /// The network file, with the addresses the nodes (and CAs) actually listen on.
    pub network: Arc<Network>,
    pub channel: String,
    pub crypto: PathBuf,
    pub orderers: Vec<RunningOrderer>,
    pub peers: Vec<RunningPeer>,
    /// The CAs this process runs (organisations whose network file entry names none).
    pub cas: Vec<RunningCa>,
    /// Each peer's configuration and listening socket.
    sockets: Vec<(PeerConfig, std::net::TcpListener)>,
    /// The ledgers of stopped peers, by host: open until the last task of their run lets go
    /// (a commit on the blocking pool finishes after its task was aborted).
    stopped: Vec<(String, Vec<std::sync::Weak<warga_ledger_peer::PeerLedger>>)>,
}

impl EmbeddedNetwork {
    /// The population registry's attestation, made now, that `nik` is a living resident —
    /// signed with the registry's key in this network's crypto material (`IssueCard` needs
    /// one). For a registry that does not look first: tests and tools.
    pub fn attest_alive(&self, nik: &str) -> Result<String, NodeError> {
        let now_ms = time::OffsetDateTime::now_utc().unix_timestamp().saturating_mul(1000);
        warga_ledger_msp::attestor::Attestor::load(&self.crypto)
            .and_then(|attestor| attestor.attest(nik, warga_ledger_core::attestation::ALIVE, now_ms))
            .map_err(|e| NodeError::Crypto(e.to_string()))
    }

    /// IssueCard's arguments for `nik`: `class`, valid until 2030-12-31, with the registry's
    /// attestation from [`EmbeddedNetwork::attest_alive`].
    pub fn issue_card(&self, nik: &str, class: &str) -> Result<Vec<String>, NodeError> {
        Ok(vec![
            nik.to_owned(),
            class.to_owned(),
            "2030-12-31".into(),
            self.attest_alive(nik)?,
        ])
    }

    /// Starts the network under `dir` (`crypto/`, `orderers/…`, `peers/…`). With
    /// `ephemeral_ports`, every node listens on a free port of 127.0.0.1 instead of the
    /// network file's address (for tests and parallel instances).
    pub async fn start(
        network: Network,
        channel: &str,
        dir: &Path,
        ephemeral_ports: bool,
    ) -> Result<EmbeddedNetwork, NodeError> {
        Self::start_refreshing(
            network,
            channel,
            dir,
            ephemeral_ports,
            crate::revocation::REFRESH_DEFAULT,
        )
        .await
    }

    /// As [`EmbeddedNetwork::start`], the nodes refreshing revocation lists from the
    /// organisations' CAs every `revocation_refresh`.
    pub async fn start_refreshing(
        network: Network,
        channel: &str,
        dir: &Path,
        ephemeral_ports: bool,
        revocation_refresh: std::time::Duration,
    ) -> Result<EmbeddedNetwork, NodeError> {
        Self::start_channels(network, &[channel.to_owned()], dir, ephemeral_ports, revocation_refresh).await
    }

    /// As [`EmbeddedNetwork::start_refreshing`], serving several channels: the orderers
    /// order each (one Raft group per channel) and every peer joins those its organisation
    /// is a member of. The first channel is the network's own ([`EmbeddedNetwork::channel`]:
    /// its clients and the platform use it).
    pub async fn start_channels(
        mut network: Network,
        channels: &[String],
        dir: &Path,
        ephemeral_ports: bool,
        revocation_refresh: std::time::Duration,
    ) -> Result<EmbeddedNetwork, NodeError> {
        let channel = channels
            .first()
            .ok_or_else(|| NodeError::Usage("no channel to serve".into()))?
            .as_str();
        let mut members = Vec::new();
        for name in channels {
            let defined = network
                .channel(name)
                .ok_or_else(|| NodeError::Usage(format!("no channel {name} in the network file")))?;
            for member in &defined.members {
                if !members.contains(member) {
                    members.push(member.clone());
                }
            }
        }
        let joined = |msp_id: &str, network: &Network| -> Vec<String> {
            channels
                .iter()
                .filter(|c| {
                    network
                        .channel(c)
                        .is_some_and(|c| c.members.iter().any(|m| m == msp_id))
                })
                .cloned()
                .collect()
        };
        let crypto = dir.join("crypto");
        if !crypto.exists() {
            warga_ledger_msp::generate::generate(&network, &crypto, time::OffsetDateTime::now_utc())
                .map_err(|e| NodeError::Crypto(e.to_string()))?;
        } else if !warga_ledger_msp::attestor::public_key_path(&crypto).exists() {
            // Material of an earlier version, made before the registry attested.
            warga_ledger_msp::generate::generate_attestor(&crypto).map_err(|e| NodeError::Crypto(e.to_string()))?;
            tracing::info!(crypto = %crypto.display(), "the registry's attestation key was added to the crypto material");
        }
        // Bind first, so the addresses every node is told are the ones in use.
        let mut orderer_listeners = Vec::new();
        for node in &mut network.orderer.nodes {
            orderer_listeners.push(bind_node(node, ephemeral_ports).await?);
        }
        let mut peer_listeners = Vec::new();
        for org in network.organizations.iter_mut().filter(|o| members.contains(&o.msp_id)) {
            for node in &mut org.peers {
                let listener = bind_node(node, ephemeral_ports).await?;
                peer_listeners.push((org.name.clone(), node.name.clone(), node.host.clone(), listener));
            }
        }
        let mut cas = Vec::new();
        for msp_id in &members {
            if network.organization(msp_id).is_some_and(|o| o.ca_url.is_some()) {
                continue; // the network file names the organisation's own CA
            }
            let ca = start_ca(&network, &crypto, msp_id).await?;
            if let Some(org) = network.organizations.iter_mut().find(|o| &o.msp_id == msp_id) {
                org.ca_url = Some(ca.url.clone());
            }
            cas.push(ca);
        }
        let network = Arc::new(network);
        let mut orderers = Vec::new();
        for (node, listener) in network.orderer.nodes.iter().zip(orderer_listeners) {
            let config = OrdererConfig {
                network: network.clone(),
                crypto: crypto.clone(),
                name: node.name.clone(),
                channels: channels.to_vec(),
                data: dir.join("orderers").join(&node.host),
                revocation_refresh,
            };
            orderers.push(RunningOrderer::start(&config, listener).await?);
        }
        let mut peers = Vec::new();
        let mut sockets = Vec::new();
        for (organization, name, host, listener) in peer_listeners {
            let msp_id = network
                .organizations
                .iter()
                .find(|o| o.name == organization)
                .map(|o| o.msp_id.clone())
                .unwrap_or_default();
            let config = PeerConfig {
                network: network.clone(),
                crypto: crypto.clone(),
                organization,
                name,
                channels: joined(&msp_id, &network),
                data: dir.join("peers").join(&host),
                revocation_refresh,
            };
            // The listening socket stays open while the process runs, so a peer can be
            // stopped and started again on it (connections meanwhile wait, unanswered).
            let kept = listener
                .into_std()
                .and_then(|std| Ok((std.try_clone()?, std)))
                .map_err(|e| NodeError::Io(format!("the listener of {host}: {e}")))?;
            let listener = tokio::net::TcpListener::from_std(kept.1)
                .map_err(|e| NodeError::Io(format!("the listener of {host}: {e}")))?;
            peers.push(RunningPeer::start(&config, listener).await?);
            sockets.push((config, kept.0));
        }
        Ok(EmbeddedNetwork {
            network,
            channel: channel.to_owned(),
            crypto,
            orderers,
            peers,
            cas,
            sockets,
            stopped: Vec::new(),
        })
    }

    /// Stops the peer `host` (its listening socket stays open: callers wait unanswered,
    /// as at a frozen or restarting peer) until [`EmbeddedNetwork::start_peer`].
    pub async fn stop_peer(&mut self, host: &str) -> Result<(), NodeError> {
        use crate::RunningNode as _;
        let position = self
            .peers
            .iter()
            .position(|p| p.node.host == host)
            .ok_or_else(|| NodeError::Usage(format!("no running peer {host}")))?;
        let running = self.peers.remove(position);
        let ledgers = running
            .channels
            .peers()
            .iter()
            .map(|p| Arc::downgrade(&p.ledger))
            .collect();
        running.shutdown().await;
        self.stopped.push((host.to_owned(), ledgers));
        Ok(())
    }

    /// Starts a peer stopped by [`EmbeddedNetwork::stop_peer`] again, on the same socket and
    /// data.
    pub async fn start_peer(&mut self, host: &str) -> Result<(), NodeError> {
        let (config, socket) = self
            .sockets
            .iter()
            .find(|(c, _)| {
                self.network
                    .organizations
                    .iter()
                    .any(|o| o.name == c.organization && o.peers.iter().any(|p| p.name == c.name && p.host == host))
            })
            .ok_or_else(|| NodeError::Usage(format!("no peer {host} in this network")))?;
        let config = config.clone();
        let socket = socket
            .try_clone()
            .map_err(|e| NodeError::Io(format!("the listener of {host}: {e}")))?;
        // Its ledger file opens once the previous run has let go of it — its last task, and
        // the last transaction a blocking thread still held — within a deadline.
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
        if let Some(at) = self.stopped.iter().position(|(h, _)| h == host) {
            let (_, ledgers) = self.stopped.remove(at);
            while ledgers.iter().any(|l| l.strong_count() > 0) && tokio::time::Instant::now() < deadline {
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            }
        }
        loop {
            let listener = socket
                .try_clone()
                .and_then(tokio::net::TcpListener::from_std)
                .map_err(|e| NodeError::Io(format!("the listener of {host}: {e}")))?;
            match RunningPeer::start(&config, listener).await {
                Ok(peer) => {
                    self.peers.push(peer);
                    return Ok(());
                }
                Err(NodeError::Ledger(why))
                    if why.contains("already open") && tokio::time::Instant::now() < deadline =>
                {
                    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                }
                Err(NodeError::Ledger(why)) if why.contains("already open") => {
                    return Err(NodeError::Usage(format!(
                        "the ledger of {host} is still held by its previous run: {why}"
                    )));
                }
                Err(error) => return Err(error),
            }
        }
    }

    /// The peer of organisation `msp_id` on the network's channel.
    pub fn peer(&self, msp_id: &str) -> Option<Arc<PeerNode>> {
        self.peer_of(msp_id, &self.channel)
    }

    /// The peer of organisation `msp_id` on `channel`.
    pub fn peer_of(&self, msp_id: &str, channel: &str) -> Option<Arc<PeerNode>> {
        self.peers
            .iter()
            .filter(|p| p.organization.msp_id == msp_id)
            .find_map(|p| p.peer(channel))
    }

    /// A client of `user` of organisation `msp_id`, talking to that organisation's peer.
    pub fn client(&self, msp_id: &str, user: &str) -> Result<Client, NodeError> {
        let peer = self
            .peer(msp_id)
            .ok_or_else(|| NodeError::Usage(format!("no peer of {msp_id} runs here")))?;
        client_of(
            &self.network,
            &self.crypto,
            msp_id,
            user,
            &peer.node.address,
            &peer.node.host,
            &self.channel,
        )
    }

    /// Stops every node.
    pub async fn shutdown(self) {
        use crate::RunningNode as _;
        for peer in self.peers {
            peer.shutdown().await;
        }
        for orderer in self.orderers {
            orderer.shutdown().await;
        }
        for ca in self.cas {
            let _ = ca.stop.send(());
            let _ = ca.task.await;
        }
    }
}

/// A client of `user` (e.g. `User1`) of organisation `msp_id`, with the identity and TLS
/// client certificate `crypto generate` wrote, talking to the peer at `addr`.
pub fn client_of(
    network: &Network,
    crypto: &Path,
    msp_id: &str,
    user: &str,
    addr: impl std::fmt::Display,
    host: &str,
    channel: &str,
) -> Result<Client, NodeError> {
    let org = network
        .organization(msp_id)
        .ok_or_else(|| NodeError::Usage(format!("--org: no organisation {msp_id} in the network file")))?;
    let dir = warga_ledger_msp::generate::organization_dir(crypto, false, &org.domain)
        .join("users")
        .join(format!("{user}@{}", org.domain));
    let identity = signing_identity(&dir.join("msp"), msp_id)?;
    let tls = TlsMaterial::from_crypto(network, crypto, &dir, false).map_err(|e| NodeError::Crypto(e.to_string()))?;
    Client::new(&tls, addr, host, identity, channel, "bpjs").map_err(NodeError::Transport)
}
