//! Fabric's gateway, in the peer: a client sends one signed proposal; the gateway finds
//! organisations whose endorsements satisfy the function's endorsement policy, asks its own
//! peer and peers of the others (over gRPC), checks that they agree, and hands back the
//! transaction for the client to sign. `submit` orders a signed transaction and waits until
//! this peer committed it.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use tonic::Code;
use tonic::transport::Channel;
use warga_ledger_core::policy::{ChannelPolicies, MspRole, Policy, Signer};
use warga_ledger_core::tx::{Endorsement, Response, SignedProposal, Transaction};
use warga_ledger_orderer::grpc::{MESSAGE_LIMIT, client_channel};
use warga_ledger_peer::TxStatus;
use warga_ledger_peer::endorse::EndorseError;
use warga_ledger_proto::v1;
use warga_ledger_proto::v1::atomic_broadcast_client::AtomicBroadcastClient;
use warga_ledger_proto::v1::endorser_client::EndorserClient;

use crate::metrics::{PEER_PROPOSALS_FORWARDED, PEER_SUBMITS};
use crate::peer::PeerNode;

/// Why the gateway could not endorse or submit.
#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    #[error("chaincode {0} is not defined on channel {1}")]
    UnknownChaincode(String, String),
    /// This peer refused the proposal (bad signature, non-member, chaincode error…).
    #[error(transparent)]
    Endorse(#[from] EndorseError),
    /// A peer of another organisation refused it.
    #[error("{organisation} refused to endorse: {message}")]
    Refused {
        organisation: String,
        /// The gRPC code the peer answered with.
        code: Code,
        message: String,
    },
    /// An orderer refused the transaction (Broadcast's Writers check).
    #[error("orderer {orderer} refused the transaction: {message}")]
    Rejected {
        orderer: String,
        code: Code,
        message: String,
    },
    #[error("the endorsements differ: {0} simulated another outcome than {1}")]
    Mismatch(String, String),
    /// The policy needs an organisation that may not see the transaction's private data.
    #[error(
        "the endorsement policy {policy} cannot be satisfied by members of the private data collections written ({collections}) alone"
    )]
    PrivateData { policy: String, collections: String },
    #[error("the endorsement policy {policy} cannot be satisfied: no peer of {unreachable} answered")]
    Unreachable { policy: String, unreachable: String },
    #[error("the transaction is for channel {0}, this peer's gateway serves {1}")]
    WrongChannel(String, String),
    #[error("the transaction is not signed by its creator")]
    Unsigned,
    #[error("no orderer accepted the transaction: {0}")]
    NotOrdered(String),
    #[error("transaction {0} was ordered but not committed on this peer within {1:?}")]
    Timeout(String, Duration),
    #[error("{0}")]
    Ledger(String),
}

/// Sets of organisations whose peers, one endorsement each, satisfy `policy` — smallest
/// first, and among equals those with `local` first (fewer hops).
pub fn endorsement_plans(policy: &Policy, view: &dyn ChannelPolicies, local: &str) -> Vec<Vec<String>> {
    let members = &view.organisations();
    if members.len() > 16 {
        return vec![members.clone()];
    }
    let mut plans: Vec<Vec<String>> = (1u32..(1 << members.len()))
        .map(|mask| {
            members
                .iter()
                .enumerate()
                .filter(|(i, _)| mask & (1 << i) != 0)
                .map(|(_, m)| m.clone())
                .collect::<Vec<_>>()
        })
        .filter(|orgs| {
            let signers: Vec<Signer> = orgs
                .iter()
                .map(|msp| Signer {
                    id: msp.clone(),
                    msp_id: msp.clone(),
                    roles: vec![MspRole::Peer],
                })
                .collect();
            policy.is_satisfied(&signers, view)
        })
        .collect();
    plans.sort_by_key(|orgs| (orgs.len(), !orgs.iter().any(|o| o == local)));
    plans
}

enum Ask {
    Endorsed(Box<(Response, Endorsement)>),
    Unavailable,
    Refused(Code, String),
}

/// One peer's gateway.
pub struct Gateway {
    peer: Arc<PeerNode>,
    /// MSP id → the endorsers of that organisation (other organisations only).
    endorsers: BTreeMap<String, Vec<(String, EndorserClient<Channel>)>>,
    /// The orderers, in the network file's order.
    orderers: Vec<(String, AtomicBroadcastClient<Channel>)>,
    /// The orderer that last ordered for us (its position): where the next submission goes
    /// first, so a frozen orderer early in the file is not asked every time.
    leader_hint: std::sync::atomic::AtomicUsize,
    pub commit_timeout: Duration,
}

/// How long one Broadcast may take beyond the network's BatchTimeout before the gateway
/// asks the next orderer (a frozen orderer answers nothing; a healthy one answers within a
/// batch timeout and a Raft round). Asking again is safe: a transaction ordered twice is
/// committed once, the second copy marked DUPLICATE_TXID.
const BROADCAST_ATTEMPT_BEYOND_BATCH: Duration = Duration::from_secs(1);
/// How long another organisation's peer may take to endorse (simulation, and handing
/// private data to member peers, each push within its own deadline).
const ENDORSE_DEADLINE: Duration = Duration::from_secs(5);
/// How long the gateway keeps trying to have a transaction ordered.
const ORDERING_DEADLINE: Duration = Duration::from_secs(30);

impl Gateway {
    /// A gateway for `peer`, reaching other peers and orderers at the network file's
    /// addresses (connections open lazily).
    pub fn new(peer: Arc<PeerNode>) -> Result<Gateway, String> {
        let mut endorsers = BTreeMap::new();
        for org in &peer.network.organizations {
            if org.msp_id == peer.organization.msp_id || !peer.channel.members.contains(&org.msp_id) {
                continue;
            }
            let clients = org
                .peers
                .iter()
                .map(|p| {
                    Ok((
                        p.address.clone(),
                        EndorserClient::new(client_channel(&peer.tls, &p.address, &p.host)?)
                            .max_decoding_message_size(MESSAGE_LIMIT)
                            .max_encoding_message_size(MESSAGE_LIMIT),
                    ))
                })
                .collect::<Result<Vec<_>, String>>()?;
            endorsers.insert(org.msp_id.clone(), clients);
        }
        let orderers = peer
            .network
            .orderer
            .nodes
            .iter()
            .map(|n| {
                Ok((
                    n.address.clone(),
                    AtomicBroadcastClient::new(client_channel(&peer.tls, &n.address, &n.host)?)
                        .max_decoding_message_size(MESSAGE_LIMIT)
                        .max_encoding_message_size(MESSAGE_LIMIT),
                ))
            })
            .collect::<Result<Vec<_>, String>>()?;
        Ok(Gateway {
            peer,
            endorsers,
            orderers,
            leader_hint: std::sync::atomic::AtomicUsize::new(0),
            commit_timeout: Duration::from_secs(60),
        })
    }

    async fn ask(&self, msp_id: &str, signed: &SignedProposal) -> Result<Ask, GatewayError> {
        if msp_id == self.peer.organization.msp_id {
            return Ok(Ask::Endorsed(Box::new(self.peer.endorse(signed.clone()).await?)));
        }
        let Some(peers) = self.endorsers.get(msp_id) else {
            return Ok(Ask::Unavailable);
        };
        for (addr, client) in peers {
            PEER_PROPOSALS_FORWARDED
                .with_label_values(&[self.peer.node.host.as_str(), msp_id])
                .inc();
            // A frozen peer accepts the connection and answers nothing: one deadline per ask.
            let mut client = client.clone();
            let asked = client.process_proposal(v1::SignedProposal::from(signed.clone()));
            let Ok(answer) = tokio::time::timeout(ENDORSE_DEADLINE, asked).await else {
                tracing::warn!(%addr, "an endorser did not answer in time; asking another");
                continue;
            };
            match answer {
                Ok(reply) => {
                    let reply = reply.into_inner();
                    let parsed = reply
                        .response
                        .ok_or("response missing")
                        .and_then(|r| Response::try_from(r).map_err(|_| "response unreadable"))
                        .and_then(|r| {
                            let e = reply.endorsement.ok_or("endorsement missing")?;
                            Ok((r, Endorsement::try_from(e).map_err(|_| "endorsement unreadable")?))
                        });
                    match parsed {
                        Ok(endorsed) => return Ok(Ask::Endorsed(Box::new(endorsed))),
                        Err(why) => tracing::warn!(%addr, why, "a peer answered an unreadable endorsement"),
                    }
                }
                Err(status)
                    if matches!(
                        status.code(),
                        Code::Unavailable | Code::DeadlineExceeded | Code::Unknown | Code::Cancelled
                    ) =>
                {
                    tracing::debug!(%addr, %status, "an endorser is unreachable");
                }
                Err(status) => return Ok(Ask::Refused(status.code(), status.message().to_owned())),
            }
        }
        Ok(Ask::Unavailable)
    }

    /// Collects endorsements satisfying the proposal's policy; returns the transaction with
    /// an empty signature, for the client to sign.
    pub async fn endorse(&self, signed: &SignedProposal) -> Result<Transaction, GatewayError> {
        let proposal = &signed.proposal;
        // The chaincode definitions and policies of the channel's configuration in force.
        let state = self.peer.ledger.config();
        let channel = &state.resolved.channel;
        if proposal.channel != channel.name {
            return Err(GatewayError::WrongChannel(
                proposal.channel.clone(),
                channel.name.clone(),
            ));
        }
        let chaincode = channel
            .chaincodes
            .iter()
            .find(|c| c.name == proposal.chaincode)
            .ok_or_else(|| GatewayError::UnknownChaincode(proposal.chaincode.clone(), channel.name.clone()))?;
        let policy = chaincode.policy_for(&proposal.function);
        let view = &state.resolved;
        let local = self.peer.organization.msp_id.clone();
        let mut endorsed: BTreeMap<String, (Response, Endorsement)> = BTreeMap::new();
        let mut unreachable: BTreeSet<String> = BTreeSet::new();
        // With transient data (private inputs), only members of the collections the
        // transaction writes may endorse: they are the only ones who may see the inputs.
        // Known from the first endorsement on.
        let mut written: Option<Vec<String>> = None;
        let may_see = |org: &str, written: &Option<Vec<String>>| {
            written.as_ref().is_none_or(|names| {
                names
                    .iter()
                    .all(|n| chaincode.collection(n).is_some_and(|c| c.is_member(org)))
            })
        };
        let mut excluded = false;
        'plans: for plan in endorsement_plans(policy, view, &local) {
            if plan.iter().any(|o| unreachable.contains(o)) {
                continue;
            }
            if !plan.iter().all(|o| may_see(o, &written)) {
                excluded = true;
                continue;
            }
            // This organisation first: its refusal is the client's answer.
            let mut asking: Vec<&String> = plan.iter().filter(|o| **o == local).collect();
            asking.extend(plan.iter().filter(|o| **o != local));
            for org in asking {
                if endorsed.contains_key(org) {
                    continue;
                }
                match self.ask(org, signed).await? {
                    Ask::Endorsed(answer) => {
                        if written.is_none() && !signed.transient.is_empty() {
                            written = Some(
                                answer
                                    .0
                                    .rwset
                                    .collections
                                    .iter()
                                    .filter(|c| !c.writes.is_empty())
                                    .map(|c| c.collection.clone())
                                    .collect(),
                            );
                        }
                        endorsed.insert(org.clone(), *answer);
                        if !plan.iter().all(|o| may_see(o, &written)) {
                            excluded = true;
                            continue 'plans;
                        }
                    }
                    Ask::Unavailable => {
                        unreachable.insert(org.clone());
                        continue 'plans;
                    }
                    Ask::Refused(code, message) => {
                        return Err(GatewayError::Refused {
                            organisation: org.clone(),
                            code,
                            message,
                        });
                    }
                }
            }
            // A plan names at least one organisation; an empty one would endorse nothing.
            let Some((first, (response, _))) = endorsed.iter().find(|(o, _)| plan.contains(o)) else {
                continue 'plans;
            };
            let bytes = response.encode();
            for org in &plan {
                if endorsed[org].0.encode() != bytes {
                    return Err(GatewayError::Mismatch(org.clone(), first.clone()));
                }
            }
            return Ok(Transaction {
                proposal: proposal.clone(),
                response: response.clone(),
                endorsements: plan.iter().map(|o| endorsed[o].1.clone()).collect(),
                signature: Vec::new(),
            });
        }
        if excluded && unreachable.is_empty() {
            return Err(GatewayError::PrivateData {
                policy: policy.to_string(),
                collections: written.unwrap_or_default().join(", "),
            });
        }
        Err(GatewayError::Unreachable {
            policy: policy.to_string(),
            unreachable: unreachable.into_iter().collect::<Vec<_>>().join(", "),
        })
    }

    /// Orders a signed transaction (trying the orderers in turn, following a leader hint) and
    /// waits until this peer committed it.
    pub async fn submit(&self, tx: &Transaction) -> Result<TxStatus, GatewayError> {
        let host = self.peer.node.host.as_str();
        if tx.proposal.channel != self.peer.channel.name {
            return Err(GatewayError::WrongChannel(
                tx.proposal.channel.clone(),
                self.peer.channel.name.clone(),
            ));
        }
        if tx.signature.is_empty() {
            return Err(GatewayError::Unsigned);
        }
        // Already committed (a retried submit): report it.
        if let Some(status) = self.status(&tx.proposal.tx_id)? {
            return Ok(status);
        }
        let wire = v1::Transaction::from(tx.clone());
        let deadline = tokio::time::Instant::now() + ORDERING_DEADLINE;
        let mut next = self.leader_hint.load(std::sync::atomic::Ordering::Relaxed);
        // Orderers that let an attempt time out in this submission: a hint pointing at one
        // (a follower that has not yet noticed its leader froze) is not followed.
        let mut silent = std::collections::BTreeSet::new();
        // Orderers that answered they do not serve the channel.
        let mut elsewhere = std::collections::BTreeSet::new();
        let mut last_error = String::from("no orderer configured");
        loop {
            if self.orderers.is_empty() || tokio::time::Instant::now() >= deadline {
                PEER_SUBMITS.with_label_values(&[host, "not_ordered"]).inc();
                return Err(GatewayError::NotOrdered(last_error));
            }
            // Skip an orderer that already let this submission time out, unless all did, and
            // one that does not serve the channel (it left it).
            let at = next % self.orderers.len();
            if (silent.contains(&at) && silent.len() + elsewhere.len() < self.orderers.len()) || elsewhere.contains(&at)
            {
                next += 1;
                continue;
            }
            let (addr, client) = &self.orderers[next % self.orderers.len()];
            let attempt = (Duration::from_millis(self.peer.network.orderer.batch_timeout_ms)
                + BROADCAST_ATTEMPT_BEYOND_BATCH)
                .min(deadline.saturating_duration_since(tokio::time::Instant::now()));
            let answer = match tokio::time::timeout(attempt, client.clone().broadcast(wire.clone())).await {
                Ok(answer) => answer,
                Err(_) => {
                    tracing::warn!(orderer = %addr, peer = %host, "an orderer did not answer a broadcast in time; asking the next");
                    last_error = format!("{addr}: no answer within {} s", attempt.as_secs());
                    silent.insert(next % self.orderers.len());
                    next += 1;
                    continue;
                }
            };
            match answer {
                Ok(ordered) => {
                    self.peer.expect_block(ordered.into_inner().block);
                    self.leader_hint
                        .store(next % self.orderers.len(), std::sync::atomic::Ordering::Relaxed);
                    break;
                }
                Err(status) => {
                    last_error = format!("{addr}: {}", status.message());
                    // A follower names the leader (its Raft id, the position in the file).
                    let leader = status
                        .metadata()
                        .get("x-warga-leader")
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| v.parse::<usize>().ok());
                    match (status.code(), leader) {
                        (Code::Unavailable, Some(id))
                            if id >= 1 && id - 1 != next % self.orderers.len() && !silent.contains(&(id - 1)) =>
                        {
                            next = id - 1
                        }
                        (Code::Unavailable | Code::Aborted | Code::Unknown | Code::Cancelled, _) => {
                            next += 1;
                            tokio::time::sleep(Duration::from_millis(100)).await;
                        }
                        // This orderer does not serve the channel (it left it, or has not
                        // joined yet): the others may.
                        (Code::NotFound, _) if elsewhere.len() + 1 < self.orderers.len() => {
                            tracing::warn!(orderer = %addr, peer = %host, channel = %tx.proposal.channel, "an orderer does not serve the channel; asking the next");
                            elsewhere.insert(next % self.orderers.len());
                            next += 1;
                        }
                        (code, _) => {
                            PEER_SUBMITS.with_label_values(&[host, "refused"]).inc();
                            return Err(GatewayError::Rejected {
                                orderer: addr.to_string(),
                                code,
                                message: status.message().to_owned(),
                            });
                        }
                    }
                }
            }
        }
        PEER_SUBMITS.with_label_values(&[host, "ordered"]).inc();
        self.peer
            .wait_for(&tx.proposal.tx_id, self.commit_timeout)
            .await
            .map_err(|e| GatewayError::Ledger(e.to_string()))?
            .ok_or_else(|| GatewayError::Timeout(tx.proposal.tx_id.clone(), self.commit_timeout))
    }

    /// Where a transaction is on this peer's ledger, if it is.
    pub fn status(&self, tx_id: &str) -> Result<Option<TxStatus>, GatewayError> {
        self.peer
            .ledger
            .tx_status(tx_id)
            .map_err(|e| GatewayError::Ledger(e.to_string()))
    }

    pub fn peer(&self) -> &Arc<PeerNode> {
        &self.peer
    }
}

/// The channels a peer process serves, each with its gateway. Held only to look up or
/// change the map (never across an await).
#[derive(Default)]
pub struct PeerChannels(std::sync::RwLock<BTreeMap<String, Arc<Gateway>>>);

impl PeerChannels {
    /// The gateway (and through it the peer) of `channel`, if joined.
    pub fn get(&self, channel: &str) -> Option<Arc<Gateway>> {
        self.0
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(channel)
            .cloned()
    }

    /// Every channel's peer, by channel name.
    pub fn peers(&self) -> Vec<Arc<PeerNode>> {
        self.0
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .values()
            .map(|g| g.peer().clone())
            .collect()
    }

    pub(crate) fn insert(&self, gateway: Arc<Gateway>) -> Result<(), String> {
        let mut map = self.0.write().unwrap_or_else(std::sync::PoisonError::into_inner);
        let name = gateway.peer().channel.name.clone();
        if map.contains_key(&name) {
            return Err(format!("channel {name} is joined already"));
        }
        map.insert(name, gateway);
        Ok(())
    }

    pub(crate) fn remove(&self, channel: &str) -> Option<Arc<Gateway>> {
        self.0
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(channel)
    }
}
