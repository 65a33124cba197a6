//! Orderers over gRPC (tonic) with mutual TLS: Raft between orderers (`OrdererRaft`, openraft's
//! messages as JSON), and Fabric's `AtomicBroadcast` for clients and peers — `Broadcast`
//! answers with the block once committed, `Deliver` streams blocks from a number on and then
//! as they are ordered.
//!
//! Every connection presents a certificate issued by a TLS CA of the network. A caller's
//! organisation is the one whose TLS CA *signed* its certificate — checked with the CA's
//! public key, never by matching names, and remembered per certificate — so a certificate
//! from an intermediate CA (say, one an organisation minted with another's name) belongs to
//! no organisation. Raft is only for the channel's consenters, each pinned to its own TLS
//! certificate (as etcdraft does): a Raft message is accepted only from the certificate of
//! the node it claims to come from. `Deliver` is only for organisations that are members of
//! the channel (and the orderers).

use std::collections::BTreeMap;
use std::sync::Arc;

use openraft::error::{
    Fatal, InstallSnapshotError, NetworkError, RPCError, RaftError, RemoteError, ReplicationClosed, StreamingError,
    Unreachable,
};
use openraft::network::{RPCOption, RaftNetwork, RaftNetworkFactory};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse, SnapshotResponse,
    VoteRequest, VoteResponse,
};
use openraft::{BasicNode, OptionalSend, Snapshot, SnapshotMeta, Vote};
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Identity, Server, ServerTlsConfig};
use tonic::{Request, Response, Status};
use warga_ledger_proto::v1;
use warga_ledger_proto::v1::atomic_broadcast_server::{AtomicBroadcast, AtomicBroadcastServer};
use warga_ledger_proto::v1::orderer_raft_client::OrdererRaftClient;
use warga_ledger_proto::v1::orderer_raft_server::{OrdererRaft, OrdererRaftServer};

use crate::catch_up::{BlockSource, Pulled, Puller};
use crate::store::ChainSnapshot;
use crate::tls::client_certificate;
pub use crate::tls::{TlsMaterial, caller};
use crate::{BroadcastError, OrdererNode, TypeConfig};

/// The largest gRPC message a node sends or accepts, as Fabric's default `MaxRecvMsgSize`:
/// blocks and Raft entries carry up to a batch's `absolute_max_bytes` each.
pub const MESSAGE_LIMIT: usize = 100 * 1024 * 1024;

/// The orderers that may be the channel's consenters: each Raft node id, the TLS
/// certificate (DER) it must speak with — the orderer's own `tls/server.crt` from the crypto
/// directory — and its host name, by which the channel's configuration names its consenters.
#[derive(Clone, Debug, Default)]
pub struct Consenters {
    pub pinned: BTreeMap<u64, Vec<u8>>,
    pub hosts: BTreeMap<u64, String>,
}

impl Consenters {
    /// The orderers of `network`, numbered as Raft numbers them (1, 2, … in file order).
    pub fn from_crypto(
        network: &warga_ledger_core::network::Network,
        crypto: &std::path::Path,
    ) -> std::io::Result<Consenters> {
        let domain = &network.orderer.organization.domain;
        let dir = warga_ledger_msp::generate::organization_dir(crypto, true, domain).join("orderers");
        let mut pinned = BTreeMap::new();
        let mut hosts = BTreeMap::new();
        for (i, node) in network.orderer.nodes.iter().enumerate() {
            hosts.insert(i as u64 + 1, node.host.clone());
            let path = dir.join(&node.host).join("tls/server.crt");
            let pem =
                std::fs::read(&path).map_err(|e| std::io::Error::new(e.kind(), format!("{}: {e}", path.display())))?;
            let der = warga_ledger_msp::certificate_pem_to_der(&pem)
                .map_err(|e| std::io::Error::other(format!("{}: {e}", path.display())))?;
            pinned.insert(i as u64 + 1, der);
        }
        Ok(Consenters { pinned, hosts })
    }
}

// ---------------------------------------------------------------------------------------
// Server side

/// The gRPC services of one orderer, for every channel it serves.
pub struct OrdererServices {
    /// The channels served, each its own Raft group and chain.
    pub channels: Arc<crate::channels::Channels>,
    pub tls: TlsMaterial,
    /// The orderer organisation's MSP id.
    pub orderer_msp: String,
    /// Who may speak Raft, each as exactly one node.
    pub consenters: Consenters,
    /// The MSPs Broadcast judges creators with (revocation lists refreshed while running).
    pub msps: warga_ledger_msp::EdgeMsps,
    /// Channel participation (join, list, remove), when the node offers it.
    pub participation: Option<crate::participation::ParticipationService>,
}

fn json<T: serde::Serialize>(channel: &str, value: &T) -> Result<Response<v1::RaftPayload>, Status> {
    serde_json::to_vec(value)
        .map(|json| {
            Response::new(v1::RaftPayload {
                json,
                channel: channel.to_owned(),
            })
        })
        .map_err(|e| Status::internal(e.to_string()))
}

fn parse<T: serde::de::DeserializeOwned>(payload: &v1::RaftPayload) -> Result<T, Status> {
    serde_json::from_slice(&payload.json).map_err(|e| Status::invalid_argument(e.to_string()))
}

struct RaftService(Arc<OrdererServices>);

#[tonic::async_trait]
impl OrdererRaft for RaftService {
    async fn append_entries(&self, request: Request<v1::RaftPayload>) -> Result<Response<v1::RaftPayload>, Status> {
        let (node, leaf) = self.0.raft_caller(&request)?;
        let rpc: AppendEntriesRequest<TypeConfig> = parse(request.get_ref())?;
        self.0.raft_sender(&node, &leaf, &rpc.vote)?;
        json(&node.channel, &node.raft.append_entries(rpc).await)
    }

    async fn vote(&self, request: Request<v1::RaftPayload>) -> Result<Response<v1::RaftPayload>, Status> {
        let (node, leaf) = self.0.raft_caller(&request)?;
        let rpc: VoteRequest<u64> = parse(request.get_ref())?;
        self.0.raft_sender(&node, &leaf, &rpc.vote)?;
        json(&node.channel, &node.raft.vote(rpc).await)
    }

    async fn full_snapshot(
        &self,
        request: Request<tonic::Streaming<v1::RaftPayload>>,
    ) -> Result<Response<v1::RaftPayload>, Status> {
        // The certificate is judged before anything is read; the channel comes with the
        // first piece.
        let (_, leaf) = self.0.pinned_consenter(&request)?;
        let mut pieces = Vec::new();
        let mut stream = request.into_inner();
        while let Some(piece) = stream.message().await? {
            if pieces.len() == 2 {
                return Err(Status::invalid_argument("a snapshot is two messages"));
            }
            pieces.push(piece);
        }
        let channel = pieces.first().map(|p| p.channel.clone()).unwrap_or_default();
        let node = self.0.node(&channel)?;
        self.0.consenter_of(&node, &leaf)?;
        let (vote, meta, data) = assemble_snapshot(&pieces)?;
        self.0.raft_sender(&node, &leaf, &vote)?;
        let snapshot = Snapshot {
            meta,
            snapshot: Box::new(data),
        };
        json(&node.channel, &node.raft.install_full_snapshot(vote, snapshot).await)
    }
}

impl OrdererServices {
    /// The orderer of `channel` on this node.
    fn node(&self, channel: &str) -> Result<Arc<OrdererNode>, Status> {
        self.channels
            .get(channel)
            .ok_or_else(|| Status::not_found(format!("this orderer serves no channel {channel:?}")))
    }

    /// Fabric's Broadcast check: the creator is a writer of the channel, its certificate is
    /// valid now, and it signed the transaction.
    fn writer(&self, node: &OrdererNode, tx: &warga_ledger_core::tx::Transaction) -> Result<(), Status> {
        let creator = &tx.proposal.creator;
        let config = node.channel_policies().map_err(Status::internal)?;
        if config.config.organization(&creator.msp_id).is_none() {
            return Err(Status::permission_denied(format!(
                "{} may not write to channel {}",
                creator.msp_id, node.channel
            )));
        }
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64);
        let identity = self
            .msps
            .identity_at(creator, now)
            .map_err(|e| Status::permission_denied(format!("the creator: {e}")))?;
        // Fabric's Writers policy of the channel's configuration in force.
        let writers = config.channel_policy("Writers");
        if !writers.is_some_and(|p| p.is_satisfied(&[identity.as_signer()], config.as_ref())) {
            return Err(Status::permission_denied(format!(
                "{} may not write to channel {} (its Writers policy)",
                creator.msp_id, node.channel
            )));
        }
        let signed = warga_ledger_core::tx::Transaction::signed_bytes(&tx.proposal, &tx.response, &tx.endorsements);
        identity
            .verify(&signed, &tx.signature)
            .map_err(|_| Status::permission_denied("the creator's signature does not verify"))
    }

    /// Who may pull blocks and read the configuration: the orderers, and the member
    /// organisations the `Readers` policy of the configuration in force admits (a caller
    /// known by its TLS certificate's organisation, so as a member of it).
    fn reader(&self, node: &OrdererNode, who: &str) -> Result<(), Status> {
        if who == self.orderer_msp {
            return Ok(());
        }
        let config = node.channel_policies().map_err(Status::internal)?;
        let member = warga_ledger_core::policy::Signer {
            id: who.to_owned(),
            msp_id: who.to_owned(),
            roles: Vec::new(),
        };
        let readers = config.channel_policy("Readers");
        if config.config.organization(who).is_some()
            && readers.is_some_and(|p| p.is_satisfied(std::slice::from_ref(&member), config.as_ref()))
        {
            Ok(())
        } else {
            Err(Status::permission_denied(format!(
                "{who} may not read channel {} (its Readers policy)",
                node.channel
            )))
        }
    }

    /// The caller's certificate and orderer, if it is pinned as one of the network's
    /// orderers (judged before anything of the message is read).
    fn pinned_consenter<T>(&self, request: &Request<T>) -> Result<(u64, Vec<u8>), Status> {
        let leaf = client_certificate(request)?;
        match self
            .consenters
            .pinned
            .iter()
            .find_map(|(id, pinned)| (*pinned == leaf).then_some(*id))
        {
            Some(id) => Ok((id, leaf)),
            None => {
                tracing::warn!("refused a Raft message from a certificate that is no consenter's");
                Err(Status::permission_denied("Raft is for the channel's consenters only"))
            }
        }
    }

    /// The pinned orderer whose certificate `leaf` is must be among the consenters of
    /// `node`'s configuration in force: an orderer a configuration update removed speaks
    /// Raft no more.
    fn consenter_of(&self, node: &OrdererNode, leaf: &[u8]) -> Result<(), Status> {
        let id = self
            .consenters
            .pinned
            .iter()
            .find_map(|(id, pinned)| (pinned.as_slice() == leaf).then_some(*id));
        let config = node.channel_policies().map_err(Status::internal)?;
        let host = id.and_then(|id| self.consenters.hosts.get(&id));
        if host.is_some_and(|h| config.config.orderer.consenters.contains(h)) {
            Ok(())
        } else {
            tracing::warn!(channel = %node.channel, orderer = ?id, "refused a Raft message from an orderer that is no consenter of the configuration in force");
            Err(Status::permission_denied(
                "this orderer is no consenter of the channel's configuration",
            ))
        }
    }

    /// The caller's certificate, if it is a consenter's of the channel the message is for.
    fn raft_caller(&self, request: &Request<v1::RaftPayload>) -> Result<(Arc<OrdererNode>, Vec<u8>), Status> {
        let (_, leaf) = self.pinned_consenter(request)?;
        let node = self.node(&request.get_ref().channel)?;
        self.consenter_of(&node, &leaf)?;
        Ok((node, leaf))
    }

    /// A Raft message speaks for the node in its vote: that node's certificate must carry it.
    fn raft_sender(&self, node: &OrdererNode, leaf: &[u8], vote: &Vote<u64>) -> Result<(), Status> {
        let claimed = vote.leader_id().voted_for();
        match claimed.and_then(|id| self.consenters.pinned.get(&id)) {
            Some(pinned) if pinned.as_slice() == leaf => Ok(()),
            _ => {
                tracing::warn!(channel = %node.channel, claimed = ?claimed, "refused a Raft message sent for another node");
                Err(Status::permission_denied(
                    "a Raft message must come from the certificate of the node it speaks for",
                ))
            }
        }
    }
}

struct BroadcastService(Arc<OrdererServices>);

/// A broadcast's answer over gRPC; a follower names the leader in `x-warga-leader`.
fn broadcast_answer(answer: Result<u64, BroadcastError>) -> Result<Response<v1::BroadcastResponse>, Status> {
    match answer {
        Ok(block) => Ok(Response::new(v1::BroadcastResponse { block })),
        Err(BroadcastError::NotLeader { leader }) => Err(not_leader(leader)),
        Err(e @ BroadcastError::TooLarge(_)) => Err(Status::invalid_argument(e.to_string())),
        Err(e @ BroadcastError::WrongChannel { .. }) => Err(Status::not_found(e.to_string())),
        Err(e @ BroadcastError::Interrupted(_)) => Err(Status::aborted(e.to_string())),
        Err(e @ BroadcastError::ConfigRefused(_)) => Err(Status::failed_precondition(e.to_string())),
    }
}

/// "Not the leader", naming the leader when known.
fn not_leader(leader: Option<u64>) -> Status {
    let mut status = Status::unavailable("not the leader");
    if let Some(leader) = leader
        && let Ok(value) = leader.to_string().parse()
    {
        status.metadata_mut().insert("x-warga-leader", value);
    }
    status
}

#[tonic::async_trait]
impl AtomicBroadcast for BroadcastService {
    async fn broadcast(&self, request: Request<v1::Transaction>) -> Result<Response<v1::BroadcastResponse>, Status> {
        caller(&self.0.tls, &request)?;
        let tx = warga_ledger_core::tx::Transaction::try_from(request.into_inner())
            .map_err(|e| Status::invalid_argument(e.to_string()))?;
        let node = self.0.node(&tx.proposal.channel)?;
        // Only the leader orders: a follower names it at once, before the Writers check
        // spends a verification on a transaction it will not order.
        let leader = node.raft.current_leader().await;
        if leader != Some(node.id) {
            return Err(not_leader(leader));
        }
        self.0.writer(&node, &tx)?;
        broadcast_answer(node.broadcast(&tx).await)
    }

    async fn broadcast_config(
        &self,
        request: Request<v1::ConfigTransaction>,
    ) -> Result<Response<v1::BroadcastResponse>, Status> {
        let who = caller(&self.0.tls, &request)?;
        let envelope = warga_ledger_core::config::ConfigEnvelope::from_json(&request.into_inner().json)
            .map_err(|e| Status::invalid_argument(e.to_string()))?;
        let node = self.0.node(&envelope.update.channel)?;
        self.0.reader(&node, &who)?;
        let answer = node.broadcast_config(&envelope).await;
        match &answer {
            Ok(block) => {
                tracing::info!(channel = %node.channel, block, sequence = envelope.update.config.sequence, submitter = %who, "a configuration update was ordered")
            }
            Err(error) => {
                tracing::warn!(channel = %node.channel, %error, submitter = %who, "a configuration update was not ordered")
            }
        }
        broadcast_answer(answer)
    }

    async fn config(&self, request: Request<v1::ConfigRequest>) -> Result<Response<v1::ChannelConfig>, Status> {
        let who = caller(&self.0.tls, &request)?;
        let node = self.0.node(&request.get_ref().channel)?;
        self.0.reader(&node, &who)?;
        let (block, config) = node.config().map_err(Status::internal)?;
        Ok(Response::new(v1::ChannelConfig {
            block,
            json: config.to_json(),
        }))
    }

    type DeliverStream = ReceiverStream<Result<v1::Block, Status>>;

    async fn deliver(&self, request: Request<v1::DeliverRequest>) -> Result<Response<Self::DeliverStream>, Status> {
        let who = caller(&self.0.tls, &request)?;
        let node = self.0.node(&request.get_ref().channel)?;
        self.0.reader(&node, &who)?;
        let wanted = request.into_inner();
        let (sender, receiver) = tokio::sync::mpsc::channel(16);
        let services = self.0.clone();
        tokio::spawn(async move {
            let mut next = wanted.start;
            let mut applied = node.raft.metrics();
            let mut judged_under = node.channel_policies().ok();
            loop {
                while next < node.height() {
                    // A configuration applied since the stream opened may have changed the
                    // Readers policy: the stream goes on only if it still admits the caller.
                    let now = node.channel_policies().ok();
                    let changed = match (&now, &judged_under) {
                        (Some(a), Some(b)) => !Arc::ptr_eq(a, b),
                        _ => true,
                    };
                    if changed {
                        if let Err(status) = services.reader(&node, &who) {
                            tracing::info!(channel = %node.channel, reader = %who, "a block stream ended: the channel's Readers policy no longer admits its reader");
                            let _ = sender.send(Err(status)).await;
                            return;
                        }
                        judged_under = now;
                    }
                    let block = match node.db.block(next) {
                        Ok(Some(block)) => block,
                        _ => return,
                    };
                    if sender.send(Ok(v1::Block::from(block))).await.is_err() {
                        return;
                    }
                    next += 1;
                }
                if applied.changed().await.is_err() {
                    return;
                }
            }
        });
        Ok(Response::new(ReceiverStream::new(receiver)))
    }
}

/// Serves an orderer's gRPC services with mutual TLS on `listener` until `shutdown`.
pub async fn serve(
    services: OrdererServices,
    listener: tokio::net::TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), tonic::transport::Error> {
    let tls = ServerTlsConfig::new()
        .identity(Identity::from_pem(&services.tls.certificate_pem, &services.tls.key_pem))
        .client_ca_root(Certificate::from_pem(services.tls.bundle()));
    let participation = services.participation.clone().map(|p| {
        warga_ledger_proto::v1::participation_server::ParticipationServer::new(p)
            .max_decoding_message_size(MESSAGE_LIMIT)
    });
    let services = Arc::new(services);
    Server::builder()
        .tls_config(tls)?
        .add_optional_service(participation)
        .add_service(
            OrdererRaftServer::new(RaftService(services.clone()))
                .max_decoding_message_size(MESSAGE_LIMIT)
                .max_encoding_message_size(MESSAGE_LIMIT),
        )
        .add_service(
            AtomicBroadcastServer::new(BroadcastService(services))
                .max_decoding_message_size(MESSAGE_LIMIT)
                .max_encoding_message_size(MESSAGE_LIMIT),
        )
        // TCP_NODELAY on every accepted connection (tonic sets it only on listeners it
        // binds itself): without it, Nagle holds small answers back behind delayed ACKs.
        .serve_with_incoming_shutdown(
            tonic::transport::server::TcpIncoming::from(listener).with_nodelay(Some(true)),
            shutdown,
        )
        .await
}

/// A snapshot as messages: `(vote, meta)`, then the chain's tip. Two messages whatever the
/// chain's length (the tip block is within `absolute_max_bytes`, so within
/// [`MESSAGE_LIMIT`]).
pub fn snapshot_pieces(
    channel: &str,
    vote: &Vote<u64>,
    meta: &SnapshotMeta<u64, BasicNode>,
    data: &ChainSnapshot,
) -> Result<Vec<v1::RaftPayload>, serde_json::Error> {
    Ok(vec![
        v1::RaftPayload {
            json: serde_json::to_vec(&(vote, meta))?,
            channel: channel.to_owned(),
        },
        v1::RaftPayload {
            json: serde_json::to_vec(data)?,
            channel: channel.to_owned(),
        },
    ])
}

/// A snapshot on the wire: the vote it comes with, its metadata, the chain's tip.
pub type SnapshotParts = (Vote<u64>, SnapshotMeta<u64, BasicNode>, ChainSnapshot);

/// The snapshot [`snapshot_pieces`] cut into messages.
pub fn assemble_snapshot(pieces: &[v1::RaftPayload]) -> Result<SnapshotParts, Status> {
    let [first, tip] = pieces else {
        return Err(Status::invalid_argument(format!(
            "a snapshot is two messages, not {}",
            pieces.len()
        )));
    };
    let (vote, meta): (Vote<u64>, SnapshotMeta<u64, BasicNode>) = parse(first)?;
    Ok((vote, meta, parse(tip)?))
}

// ---------------------------------------------------------------------------------------
// Client side: Raft between orderers

/// How orderer `id` reaches the others: their addresses and host names, and its TLS.
#[derive(Clone)]
pub struct GrpcNetwork {
    pub tls: TlsMaterial,
    /// Raft id → (address to dial, `host:port`; TLS host name).
    pub peers: BTreeMap<u64, (String, String)>,
    /// The channel ordered (for pulling its blocks over Deliver).
    pub channel: String,
}

/// Blocks pulled over Deliver from the other orderers in turn.
struct GrpcPuller {
    me: u64,
    network: GrpcNetwork,
    turn: std::sync::atomic::AtomicUsize,
}

/// How long a pull waits for the next block before taking what it has.
const PULL_IDLE: std::time::Duration = std::time::Duration::from_secs(2);

impl Puller for GrpcPuller {
    fn pull(&self, from: u64, to: u64) -> Pulled<'_> {
        Box::pin(async move {
            let others: Vec<&(String, String)> = self
                .network
                .peers
                .iter()
                .filter(|(id, _)| **id != self.me)
                .map(|(_, peer)| peer)
                .collect();
            if others.is_empty() {
                return Ok(Vec::new());
            }
            let turn = self.turn.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let (addr, host) = others[turn % others.len()];
            let channel = self.network.channel(addr, host)?;
            let mut client = warga_ledger_proto::v1::atomic_broadcast_client::AtomicBroadcastClient::new(channel)
                .max_decoding_message_size(MESSAGE_LIMIT);
            let request = v1::DeliverRequest {
                channel: self.network.channel.clone(),
                start: from,
            };
            let mut stream = tokio::time::timeout(PULL_IDLE, client.deliver(request))
                .await
                .map_err(|_| format!("{addr}: no answer"))?
                .map_err(|s| format!("{addr}: {}", s.message()))?
                .into_inner();
            let mut blocks = Vec::new();
            while (blocks.len() as u64) < to - from {
                match tokio::time::timeout(PULL_IDLE, stream.message()).await {
                    Ok(Ok(Some(block))) => blocks.push(prost::Message::encode_to_vec(&block)),
                    Ok(Ok(None)) | Err(_) => break,
                    Ok(Err(status)) if blocks.is_empty() => return Err(format!("{addr}: {}", status.message())),
                    Ok(Err(_)) => break,
                }
            }
            Ok(blocks)
        })
    }
}

impl BlockSource for GrpcNetwork {
    fn clone_source(&self, me: u64) -> Arc<dyn Puller> {
        Arc::new(GrpcPuller {
            me,
            network: self.clone(),
            turn: std::sync::atomic::AtomicUsize::new(0),
        })
    }
}

impl GrpcNetwork {
    /// A channel to `addr` (`host:port`) authenticating with this node's certificate.
    pub fn channel(&self, addr: &str, host: &str) -> Result<Channel, String> {
        client_channel(&self.tls, addr, host)
    }
}

/// A lazily connecting gRPC channel to `addr` (`host:port`, a name resolved when connecting,
/// or a socket address; TLS name `host`) presenting `tls`'s certificate.
pub fn client_channel(tls: &TlsMaterial, addr: impl std::fmt::Display, host: &str) -> Result<Channel, String> {
    let config = ClientTlsConfig::new()
        .ca_certificates(tls.trusted.values().map(Certificate::from_pem))
        .identity(Identity::from_pem(&tls.certificate_pem, &tls.key_pem))
        .domain_name(host.to_owned());
    Ok(Channel::from_shared(format!("https://{addr}"))
        .map_err(|e| e.to_string())?
        .tls_config(config)
        .map_err(|e| e.to_string())?
        .connect_timeout(std::time::Duration::from_secs(2))
        // A frozen node (alive, not answering) is noticed within seconds: HTTP/2 pings go
        // unanswered and the connection closes, so a block stream or a call moves on.
        .http2_keep_alive_interval(std::time::Duration::from_secs(1))
        .keep_alive_timeout(std::time::Duration::from_secs(2))
        .keep_alive_while_idle(true)
        .connect_lazy())
}

/// A Raft connection to one orderer.
pub struct GrpcConnection {
    target: u64,
    /// The channel whose Raft group this connection carries.
    channel: String,
    client: Option<OrdererRaftClient<Channel>>,
}

impl RaftNetworkFactory<TypeConfig> for GrpcNetwork {
    type Network = GrpcConnection;

    async fn new_client(&mut self, target: u64, _node: &BasicNode) -> GrpcConnection {
        let client = self
            .peers
            .get(&target)
            .and_then(|(addr, host)| self.channel(addr, host).ok())
            .map(|channel| {
                OrdererRaftClient::new(channel)
                    .max_decoding_message_size(MESSAGE_LIMIT)
                    .max_encoding_message_size(MESSAGE_LIMIT)
            });
        GrpcConnection {
            target,
            channel: self.channel.clone(),
            client,
        }
    }
}

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct Transport(String);

impl GrpcConnection {
    async fn call<Req: serde::Serialize, Resp: serde::de::DeserializeOwned>(
        &mut self,
        which: &str,
        request: &Req,
    ) -> Result<Resp, Transport> {
        let client = self
            .client
            .as_mut()
            .ok_or_else(|| Transport(format!("no address for orderer {}", self.target)))?;
        let payload = v1::RaftPayload {
            json: serde_json::to_vec(request).map_err(|e| Transport(e.to_string()))?,
            channel: self.channel.clone(),
        };
        let reply = match which {
            "append" => client.append_entries(payload).await,
            _ => client.vote(payload).await,
        };
        answer(reply)
    }

    /// Sends a snapshot (its metadata, then the chain's tip) as a stream.
    async fn send_snapshot<Resp: serde::de::DeserializeOwned>(
        &mut self,
        vote: &Vote<u64>,
        meta: &SnapshotMeta<u64, BasicNode>,
        data: &ChainSnapshot,
    ) -> Result<Resp, Transport> {
        let client = self
            .client
            .as_mut()
            .ok_or_else(|| Transport(format!("no address for orderer {}", self.target)))?;
        let pieces = snapshot_pieces(&self.channel, vote, meta, data).map_err(|e| Transport(e.to_string()))?;
        answer(client.full_snapshot(tokio_stream::iter(pieces)).await)
    }
}

fn answer<Resp: serde::de::DeserializeOwned>(
    reply: Result<Response<v1::RaftPayload>, Status>,
) -> Result<Resp, Transport> {
    let reply = reply.map_err(|status| Transport(format!("{}: {}", status.code(), status.message())))?;
    serde_json::from_slice(&reply.into_inner().json).map_err(|e| Transport(e.to_string()))
}

impl RaftNetwork<TypeConfig> for GrpcConnection {
    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        _option: RPCOption,
    ) -> Result<AppendEntriesResponse<u64>, RPCError<u64, BasicNode, RaftError<u64>>> {
        let target = self.target;
        let answer: Result<AppendEntriesResponse<u64>, RaftError<u64>> = self
            .call("append", &rpc)
            .await
            .map_err(|e| RPCError::Unreachable(Unreachable::new(&e)))?;
        answer.map_err(|e| RPCError::RemoteError(RemoteError::new(target, e)))
    }

    async fn install_snapshot(
        &mut self,
        _rpc: InstallSnapshotRequest<TypeConfig>,
        _option: RPCOption,
    ) -> Result<InstallSnapshotResponse<u64>, RPCError<u64, BasicNode, RaftError<u64, InstallSnapshotError>>> {
        // Snapshots travel through `full_snapshot`, streamed in pieces.
        Err(RPCError::Network(NetworkError::new(&Transport(
            "openraft's chunked snapshots are not used; see full_snapshot".into(),
        ))))
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<u64>,
        _option: RPCOption,
    ) -> Result<VoteResponse<u64>, RPCError<u64, BasicNode, RaftError<u64>>> {
        let target = self.target;
        let answer: Result<VoteResponse<u64>, RaftError<u64>> = self
            .call("vote", &rpc)
            .await
            .map_err(|e| RPCError::Unreachable(Unreachable::new(&e)))?;
        answer.map_err(|e| RPCError::RemoteError(RemoteError::new(target, e)))
    }

    async fn full_snapshot(
        &mut self,
        vote: Vote<u64>,
        snapshot: Snapshot<TypeConfig>,
        _cancel: impl std::future::Future<Output = ReplicationClosed> + OptionalSend + 'static,
        _option: RPCOption,
    ) -> Result<SnapshotResponse<u64>, StreamingError<TypeConfig, Fatal<u64>>> {
        let target = self.target;
        let answer: Result<SnapshotResponse<u64>, Fatal<u64>> = self
            .send_snapshot(&vote, &snapshot.meta, &snapshot.snapshot)
            .await
            .map_err(|e| StreamingError::Unreachable(Unreachable::new(&e)))?;
        answer.map_err(|e| StreamingError::RemoteError(RemoteError::new(target, e)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_snapshot_is_two_messages_whatever_the_chain() {
        let vote = Vote::new_committed(3, 1);
        let meta = SnapshotMeta {
            last_log_id: None,
            last_membership: Default::default(),
            snapshot_id: "s-1".into(),
        };
        let data = ChainSnapshot {
            tip: vec![7; 1000],
            config: Some((4, "{}".into())),
        };
        let pieces = snapshot_pieces("bpjs-main", &vote, &meta, &data).unwrap();
        assert_eq!(pieces.len(), 2);
        let (v, m, d) = assemble_snapshot(&pieces).unwrap();
        assert_eq!((v, m, d), (vote, meta.clone(), data.clone()));
        assert!(assemble_snapshot(&[]).is_err());
        assert!(assemble_snapshot(&pieces[..1]).is_err());
    }
}
