//! Private data between peers, as Fabric's private data gossip does it, point to point over
//! the peers' mutual TLS:
//!
//! - **dissemination**: an endorsing peer hands a transaction's private writes to peers of
//!   each collection's member organisations — to at most `max_peer_count` of them, and it
//!   endorses only once `required_peer_count` acknowledged (each push has a deadline) — and
//!   keeps them in its own transient store when its organisation is a member;
//! - **reconciliation**: a member peer that committed a transaction without its private
//!   writes (it was down, or the push did not reach it) fetches them from another member
//!   peer, checks them against the block's hashes, and keeps them.
//!
//! A peer serves `Push` and `Fetch` only to a peer it can name: the caller's TLS certificate
//! must be exactly the one of a peer of the network file (pinned from the crypto
//! directory), of an organisation that is a member of every collection involved.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use tonic::transport::Channel;
use tonic::{Request, Response, Status};
use warga_ledger_core::network::{Collection, Network};
use warga_ledger_core::rwset::PrivateWrites;
use warga_ledger_orderer::grpc::{MESSAGE_LIMIT, TlsMaterial, client_channel};
use warga_ledger_peer::PrivateKey;
use warga_ledger_peer::endorse::EndorseError;
use warga_ledger_proto::v1;
use warga_ledger_proto::v1::private_data_client::PrivateDataClient;
use warga_ledger_proto::v1::private_data_server::PrivateData;

use crate::peer::PeerNode;

/// How long one push or fetch may take (a frozen peer accepts and answers nothing).
pub const PRIVATE_CALL_DEADLINE: Duration = Duration::from_secs(2);
/// How often a peer with missing private data asks again when nothing new committed.
pub const RECONCILE_EVERY: Duration = Duration::from_secs(10);
/// Missing write sets asked for in one round.
const RECONCILE_BATCH: usize = 100;

/// A peer of the network as its TLS certificate names it.
#[derive(Clone, Debug)]
pub struct PeerAddress {
    pub msp_id: String,
    pub host: String,
    /// Where it is dialled (`host:port`).
    pub address: String,
}

/// Every peer of the network by the TLS certificate (DER) it presents, as written in the
/// crypto directory; peers whose certificate is not there are not served.
#[derive(Clone, Debug, Default)]
pub struct PeerPins(BTreeMap<Vec<u8>, PeerAddress>);

impl PeerPins {
    pub fn from_crypto(network: &Network, crypto: &Path) -> PeerPins {
        let mut pins = BTreeMap::new();
        for org in &network.organizations {
            let dir = warga_ledger_msp::generate::organization_dir(crypto, false, &org.domain).join("peers");
            for node in &org.peers {
                let path = dir.join(&node.host).join("tls/server.crt");
                let der = std::fs::read(&path)
                    .ok()
                    .and_then(|pem| warga_ledger_msp::certificate_pem_to_der(&pem).ok());
                match der {
                    Some(der) => {
                        pins.insert(
                            der,
                            PeerAddress {
                                msp_id: org.msp_id.clone(),
                                host: node.host.clone(),
                                address: node.address.clone(),
                            },
                        );
                    }
                    None => {
                        tracing::debug!(path = %path.display(), "no TLS certificate of this peer: it is not served private data")
                    }
                }
            }
        }
        PeerPins(pins)
    }

    /// The peer presenting this certificate.
    fn peer(&self, der: &[u8]) -> Option<&PeerAddress> {
        self.0.get(der)
    }
}

/// The peers of `collection`'s member organisations other than `own_host`, in the network
/// file's order.
fn member_peers(network: &Network, collection: &Collection, own_host: &str) -> Vec<PeerAddress> {
    network
        .organizations
        .iter()
        .filter(|o| collection.is_member(&o.msp_id))
        .flat_map(|o| {
            o.peers.iter().map(|p| PeerAddress {
                msp_id: o.msp_id.clone(),
                host: p.host.clone(),
                address: p.address.clone(),
            })
        })
        .filter(|p| p.host != own_host)
        .collect()
}

/// Connections to other peers' `PrivateData` service, opened on first use.
#[derive(Default)]
pub struct PrivateClients(std::sync::Mutex<BTreeMap<String, PrivateDataClient<Channel>>>);

impl PrivateClients {
    fn client(&self, tls: &TlsMaterial, peer: &PeerAddress) -> Result<PrivateDataClient<Channel>, String> {
        let mut clients = self
            .0
            .lock()
            .map_err(|_| "the connection table is poisoned".to_owned())?;
        if let Some(client) = clients.get(&peer.host) {
            return Ok(client.clone());
        }
        let client = PrivateDataClient::new(client_channel(tls, &peer.address, &peer.host)?)
            .max_decoding_message_size(MESSAGE_LIMIT)
            .max_encoding_message_size(MESSAGE_LIMIT);
        clients.insert(peer.host.clone(), client.clone());
        Ok(client)
    }
}

impl PeerNode {
    /// The collection a private write set belongs to, as the channel defines it.
    fn collection_of(&self, writes: &PrivateWrites) -> Option<&Collection> {
        self.channel
            .chaincodes
            .iter()
            .find(|c| c.name == writes.namespace)?
            .collection(&writes.collection)
    }

    /// Hands a transaction's private writes to the collections' member peers before the
    /// endorsement is returned; fails when a collection's `required_peer_count` peers did
    /// not acknowledge in time.
    pub(crate) async fn disseminate(
        self: &Arc<Self>,
        tx_id: &str,
        private: &[PrivateWrites],
    ) -> Result<(), EndorseError> {
        let own = self.organization.msp_id.as_str();
        let mine: Vec<PrivateWrites> = private
            .iter()
            .filter(|w| self.collection_of(w).is_some_and(|c| c.is_member(own)))
            .cloned()
            .collect();
        if !mine.is_empty() {
            let peer = self.clone();
            let tx = tx_id.to_owned();
            tokio::task::spawn_blocking(move || peer.ledger.store_transient(&tx, &mine))
                .await
                .map_err(|e| EndorseError::Signing(format!("the transient store task failed: {e}")))??;
        }
        // Per target peer, the writes it receives; per collection, the peers asked.
        let mut targets: BTreeMap<String, (PeerAddress, Vec<PrivateWrites>)> = BTreeMap::new();
        let mut asked: Vec<(&PrivateWrites, u32, Vec<String>)> = Vec::new();
        for writes in private {
            let collection = self.collection_of(writes).ok_or_else(|| {
                EndorseError::Dissemination(format!("no collection {} on this channel", writes.collection))
            })?;
            let peers: Vec<PeerAddress> = member_peers(&self.network, collection, &self.node.host)
                .into_iter()
                .take(collection.max_peer_count as usize)
                .collect();
            asked.push((
                writes,
                collection.required_peer_count,
                peers.iter().map(|p| p.host.clone()).collect(),
            ));
            for peer in peers {
                targets
                    .entry(peer.host.clone())
                    .or_insert_with(|| (peer, Vec::new()))
                    .1
                    .push(writes.clone());
            }
        }
        let mut pushes = tokio::task::JoinSet::new();
        for (peer, writes) in targets.into_values() {
            let request = v1::PrivateDataPush {
                channel: self.channel.name.clone(),
                tx_id: tx_id.to_owned(),
                writes: writes.into_iter().map(Into::into).collect(),
            };
            let client = self.private_clients.client(&self.tls, &peer);
            pushes.spawn(async move {
                let outcome = match client {
                    Ok(mut client) => match tokio::time::timeout(PRIVATE_CALL_DEADLINE, client.push(request)).await {
                        Ok(Ok(_)) => Ok(()),
                        Ok(Err(status)) => Err(status.message().to_owned()),
                        Err(_) => Err(format!("no answer within {PRIVATE_CALL_DEADLINE:?}")),
                    },
                    Err(error) => Err(error),
                };
                if let Err(error) = &outcome {
                    tracing::warn!(peer = %peer.host, %error, "a member peer did not take private data");
                }
                (peer.host, outcome.is_ok())
            });
        }
        let mut acknowledged: BTreeSet<String> = BTreeSet::new();
        while let Some(done) = pushes.join_next().await {
            if let Ok((host, true)) = done {
                acknowledged.insert(host);
            }
        }
        for (writes, required, peers) in asked {
            let got = peers.iter().filter(|p| acknowledged.contains(*p)).count();
            if (got as u32) < required {
                return Err(EndorseError::Dissemination(format!(
                    "collection {} needs {required} other member peers to take its private data; {got} did",
                    writes.collection
                )));
            }
        }
        Ok(())
    }

    /// Fetches missing private write sets from other member peers until none is missing;
    /// asks again after each commit and every [`RECONCILE_EVERY`]. Runs until dropped.
    pub async fn reconcile(self: Arc<Self>, every: Duration) {
        let mut height = self.height();
        loop {
            let peer = self.clone();
            let missing = tokio::task::spawn_blocking(move || peer.ledger.missing_private(RECONCILE_BATCH))
                .await
                .map_err(|e| e.to_string())
                .and_then(|m| m.map_err(|e| e.to_string()));
            let gained = match missing {
                Ok(missing) if missing.is_empty() => None,
                Ok(missing) => Some(self.reconcile_round(missing).await),
                Err(error) => {
                    tracing::error!(%error, peer = %self.node.host, "cannot read the missing private data");
                    Some(0)
                }
            };
            match gained {
                // Nothing missing: wait for a commit (or the interval).
                None => {
                    let _ = tokio::time::timeout(every, height.changed()).await;
                }
                // Nothing could be fetched now: ask again later.
                Some(0) => tokio::time::sleep(every).await,
                Some(_) => {}
            }
        }
    }

    /// One round: asks each member peer for what it can give; returns how many write sets
    /// were fetched and kept.
    async fn reconcile_round(self: &Arc<Self>, missing: Vec<PrivateKey>) -> usize {
        let mut wanted: BTreeSet<PrivateKey> = missing.into_iter().collect();
        let mut kept = 0;
        let mut candidates: Vec<PeerAddress> = Vec::new();
        for key in &wanted {
            let Some(collection) = self
                .channel
                .chaincodes
                .iter()
                .find(|c| c.name == key.namespace)
                .and_then(|c| c.collection(&key.collection))
            else {
                continue;
            };
            for peer in member_peers(&self.network, collection, &self.node.host) {
                if !candidates.iter().any(|c| c.host == peer.host) {
                    candidates.push(peer);
                }
            }
        }
        for peer in candidates {
            if wanted.is_empty() {
                break;
            }
            let keys: Vec<v1::PrivateDataKey> = wanted
                .iter()
                .filter(|k| {
                    self.channel
                        .chaincodes
                        .iter()
                        .find(|c| c.name == k.namespace)
                        .and_then(|c| c.collection(&k.collection))
                        .is_some_and(|c| c.is_member(&peer.msp_id))
                })
                .map(|k| v1::PrivateDataKey {
                    block: k.block,
                    tx: k.tx,
                    namespace: k.namespace.clone(),
                    collection: k.collection.clone(),
                })
                .collect();
            if keys.is_empty() {
                continue;
            }
            let request = v1::PrivateDataRequest {
                channel: self.channel.name.clone(),
                keys,
            };
            let reply = match self.private_clients.client(&self.tls, &peer) {
                Ok(mut client) => tokio::time::timeout(PRIVATE_CALL_DEADLINE, client.fetch(request)).await,
                Err(error) => {
                    tracing::warn!(peer = %peer.host, %error, "cannot reach a member peer for private data");
                    continue;
                }
            };
            let elements = match reply {
                Ok(Ok(reply)) => reply.into_inner().elements,
                Ok(Err(status)) => {
                    tracing::debug!(peer = %peer.host, %status, "a member peer gave no private data");
                    continue;
                }
                Err(_) => {
                    tracing::debug!(peer = %peer.host, "a member peer did not answer a private data fetch in time");
                    continue;
                }
            };
            for element in elements {
                let (Some(key), Some(writes)) = (element.key, element.writes) else {
                    continue;
                };
                let key = PrivateKey {
                    block: key.block,
                    tx: key.tx,
                    namespace: key.namespace,
                    collection: key.collection,
                };
                if !wanted.contains(&key) {
                    continue;
                }
                let writes: PrivateWrites = writes.into();
                let ledger = self.ledger.clone();
                let stored_key = key.clone();
                let stored = tokio::task::spawn_blocking(move || ledger.store_reconciled(&stored_key, &writes)).await;
                match stored {
                    Ok(Ok(true)) => {
                        wanted.remove(&key);
                        kept += 1;
                    }
                    Ok(Ok(false)) => {
                        tracing::warn!(peer = %peer.host, block = key.block, tx = key.tx, collection = %key.collection, "a member peer sent private data that does not match the block's hashes");
                    }
                    Ok(Err(error)) => tracing::error!(%error, "cannot keep reconciled private data"),
                    Err(error) => tracing::error!(%error, "the reconciliation task failed"),
                }
            }
        }
        if kept > 0 {
            self.reconciled.send_modify(|n| *n += kept as u64);
            tracing::info!(peer = %self.node.host, kept, still_missing = wanted.len(), "reconciled private data from member peers");
        }
        kept
    }
}

/// The `PrivateData` service of one peer process, for every channel it joined.
#[derive(Clone)]
pub struct PrivateDataService {
    pub channels: Arc<crate::gateway::PeerChannels>,
}

impl PrivateDataService {
    /// The calling peer, exactly as pinned, and this process's peer of `channel`; refused
    /// otherwise.
    fn caller<T>(&self, request: &Request<T>, channel: &str) -> Result<(PeerAddress, Arc<PeerNode>), Status> {
        let der = request
            .peer_certs()
            .and_then(|certs| certs.first().map(|c| c.as_ref().to_vec()))
            .ok_or_else(|| Status::unauthenticated("a client certificate is required"))?;
        let peer = self
            .channels
            .get(channel)
            .map(|g| g.peer().clone())
            .ok_or_else(|| Status::not_found(format!("this peer does not serve channel {channel:?}")))?;
        let caller =
            peer.pins.peer(&der).cloned().ok_or_else(|| {
                Status::permission_denied("private data is exchanged only between the network's peers")
            })?;
        Ok((caller, peer))
    }

    fn member_of(peer: &PeerNode, caller: &PeerAddress, namespace: &str, collection: &str) -> Result<(), Status> {
        let state = peer.ledger.config();
        let definition = state
            .resolved
            .channel
            .chaincodes
            .iter()
            .find(|c| c.name == namespace)
            .and_then(|c| c.collection(collection))
            .ok_or_else(|| Status::not_found(format!("no collection {collection} of {namespace} on this channel")))?;
        if !definition.is_member(&caller.msp_id) || !definition.is_member(&peer.organization.msp_id) {
            return Err(Status::permission_denied(format!(
                "{} is not a member of collection {collection}",
                caller.msp_id
            )));
        }
        Ok(())
    }
}

#[tonic::async_trait]
impl PrivateData for PrivateDataService {
    async fn push(&self, request: Request<v1::PrivateDataPush>) -> Result<Response<v1::PrivateDataAck>, Status> {
        let (caller, peer) = self.caller(&request, &request.get_ref().channel)?;
        let push = request.into_inner();
        let writes: Vec<PrivateWrites> = push.writes.into_iter().map(Into::into).collect();
        if writes.is_empty() || push.tx_id.is_empty() || push.tx_id.len() > 128 {
            return Err(Status::invalid_argument(
                "a push names its transaction and carries writes",
            ));
        }
        for w in &writes {
            Self::member_of(&peer, &caller, &w.namespace, &w.collection)?;
        }
        tokio::task::spawn_blocking(move || peer.ledger.store_transient(&push.tx_id, &writes))
            .await
            .map_err(|e| Status::internal(e.to_string()))?
            .map_err(|e| Status::internal(e.to_string()))?;
        Ok(Response::new(v1::PrivateDataAck {}))
    }

    async fn fetch(&self, request: Request<v1::PrivateDataRequest>) -> Result<Response<v1::PrivateDataReply>, Status> {
        let (caller, peer) = self.caller(&request, &request.get_ref().channel)?;
        let keys = request.into_inner().keys;
        if keys.len() > RECONCILE_BATCH {
            return Err(Status::invalid_argument(format!(
                "at most {RECONCILE_BATCH} keys per fetch"
            )));
        }
        for key in &keys {
            Self::member_of(&peer, &caller, &key.namespace, &key.collection)?;
        }
        let elements = tokio::task::spawn_blocking(move || {
            let mut elements = Vec::new();
            for key in keys {
                let wanted = PrivateKey {
                    block: key.block,
                    tx: key.tx,
                    namespace: key.namespace.clone(),
                    collection: key.collection.clone(),
                };
                if let Some(writes) = peer.ledger.private_writes(&wanted)? {
                    elements.push(v1::PrivateDataElement {
                        key: Some(key),
                        writes: Some(writes.into()),
                    });
                }
            }
            Ok::<_, warga_ledger_peer::LedgerError>(elements)
        })
        .await
        .map_err(|e| Status::internal(e.to_string()))?
        .map_err(|e| Status::internal(e.to_string()))?;
        Ok(Response::new(v1::PrivateDataReply { elements }))
    }
}
