//! Channel configuration updates from an administrator's side, as Fabric's
//! `peer channel fetch config`, `configtxlator compute_update`, `peer channel signconfigtx`
//! and `peer channel update` do them: fetch the configuration in force from an orderer,
//! propose the next one, collect the admins' signatures the change needs, submit it to the
//! orderers. Every call has a deadline; the orderers are tried in turn (a follower names
//! the leader).

use std::path::Path;
use std::time::Duration;

use warga_ledger_core::config::{ChannelConfig, ConfigEnvelope, ConfigSignature};
use warga_ledger_core::network::Network;
use warga_ledger_msp::SigningIdentity;
use warga_ledger_orderer::grpc::{MESSAGE_LIMIT, TlsMaterial, client_channel};
use warga_ledger_proto::v1;
use warga_ledger_proto::v1::atomic_broadcast_client::AtomicBroadcastClient;

use crate::NodeError;
use crate::peer::signing_identity;

/// How long a node may take to join, list or remove a channel.
pub const PARTICIPATION_DEADLINE: Duration = Duration::from_secs(15);

/// How long fetching the configuration may take from one orderer.
pub const FETCH_DEADLINE: Duration = Duration::from_secs(5);
/// How long one orderer may take to order a configuration update (a majority must commit it).
pub const SUBMIT_DEADLINE: Duration = Duration::from_secs(15);

/// An organisation's administrator (or another of its users): the identity that signs and
/// the TLS client certificate that reaches the orderers.
pub struct Admin {
    pub identity: SigningIdentity,
    pub tls: TlsMaterial,
}

impl Admin {
    /// User `user` (e.g. `Admin`) of the organisation called `org` in the network file —
    /// an application organisation or the ordering organisation.
    pub fn load(network: &Network, crypto: &Path, org: &str, user: &str) -> Result<Admin, NodeError> {
        let (msp_id, domain, orderer) = if network.orderer.organization.name == org {
            let o = &network.orderer.organization;
            (o.msp_id.clone(), o.domain.clone(), true)
        } else {
            let o = network
                .organizations
                .iter()
                .find(|o| o.name == org)
                .ok_or_else(|| NodeError::Usage(format!("--org: no organisation {org} in the network file")))?;
            (o.msp_id.clone(), o.domain.clone(), false)
        };
        let dir = warga_ledger_msp::generate::organization_dir(crypto, orderer, &domain)
            .join("users")
            .join(format!("{user}@{domain}"));
        if !dir.exists() {
            return Err(NodeError::Usage(format!(
                "--user: {org} has no user {user} in {}",
                crypto.display()
            )));
        }
        let identity = signing_identity(&dir.join("msp"), &msp_id)?;
        let tls =
            TlsMaterial::from_crypto(network, crypto, &dir, false).map_err(|e| NodeError::Crypto(e.to_string()))?;
        Ok(Admin { identity, tls })
    }

    /// Adds this identity's signature to `envelope` (replacing an earlier one of the same
    /// identity).
    pub fn sign(&self, envelope: &mut ConfigEnvelope) -> Result<(), NodeError> {
        let signature = self
            .identity
            .sign(&envelope.update.signed_bytes())
            .map_err(|e| NodeError::Crypto(e.to_string()))?;
        let signer = self.identity.creator();
        envelope.signatures.retain(|s| s.signer != signer);
        envelope.signatures.push(ConfigSignature { signer, signature });
        Ok(())
    }
}

fn client(
    tls: &TlsMaterial,
    addr: &str,
    host: &str,
) -> Result<AtomicBroadcastClient<tonic::transport::Channel>, NodeError> {
    let grpc = client_channel(tls, addr, host).map_err(NodeError::Transport)?;
    Ok(AtomicBroadcastClient::new(grpc)
        .max_decoding_message_size(MESSAGE_LIMIT)
        .max_encoding_message_size(MESSAGE_LIMIT))
}

/// The channel's configuration in force and the block that made it, from the first
/// orderer of `orderers` (address, TLS host) that answers.
pub async fn fetch(
    admin: &Admin,
    orderers: &[(String, String)],
    channel: &str,
) -> Result<(u64, ChannelConfig), NodeError> {
    let mut last = NodeError::Usage("no orderer to ask".into());
    for (addr, host) in orderers {
        let request = v1::ConfigRequest {
            channel: channel.to_owned(),
        };
        let answer = match client(&admin.tls, addr, host) {
            Ok(mut c) => tokio::time::timeout(FETCH_DEADLINE, c.config(request)).await,
            Err(error) => {
                last = error;
                continue;
            }
        };
        match answer {
            Ok(Ok(reply)) => {
                let reply = reply.into_inner();
                let config = ChannelConfig::from_json(&reply.json).map_err(|e| NodeError::Ledger(e.to_string()))?;
                return Ok((reply.block, config));
            }
            Ok(Err(status))
                if status.code() == tonic::Code::PermissionDenied || status.code() == tonic::Code::NotFound =>
            {
                return Err(NodeError::Usage(format!("{host}: {}", status.message())));
            }
            Ok(Err(status)) => last = NodeError::Transport(format!("{host}: {}", status.message())),
            Err(_) => last = NodeError::Transport(format!("{host} did not answer within {FETCH_DEADLINE:?}")),
        }
    }
    Err(last)
}

/// Why a submitted update was not ordered.
#[derive(Debug, thiserror::Error)]
pub enum SubmitError {
    /// The orderers judged it: it does not apply to the channel's configuration.
    #[error("{0}")]
    Refused(String),
    #[error(transparent)]
    Node(#[from] NodeError),
}

/// Submits a configuration update to the orderers (the leader orders it; a follower names
/// the leader): the block it was ordered into.
pub async fn submit(
    admin: &Admin,
    orderers: &[(String, String)],
    envelope: &ConfigEnvelope,
) -> Result<u64, SubmitError> {
    let json = envelope.to_json();
    let mut last = NodeError::Usage("no orderer to ask".into());
    // Each orderer once, then once more (a leader may have been elected meanwhile).
    for (addr, host) in orderers.iter().chain(orderers) {
        let request = v1::ConfigTransaction { json: json.clone() };
        let answer = match client(&admin.tls, addr, host) {
            Ok(mut c) => tokio::time::timeout(SUBMIT_DEADLINE, c.broadcast_config(request)).await,
            Err(error) => {
                last = error;
                continue;
            }
        };
        match answer {
            Ok(Ok(reply)) => return Ok(reply.into_inner().block),
            Ok(Err(status)) if status.code() == tonic::Code::FailedPrecondition => {
                return Err(SubmitError::Refused(status.message().to_owned()));
            }
            Ok(Err(status))
                if matches!(
                    status.code(),
                    tonic::Code::PermissionDenied | tonic::Code::InvalidArgument | tonic::Code::NotFound
                ) =>
            {
                return Err(NodeError::Usage(format!("{host}: {}", status.message())).into());
            }
            Ok(Err(status)) => last = NodeError::Transport(format!("{host}: {}", status.message())),
            Err(_) => last = NodeError::Transport(format!("{host} did not answer within {SUBMIT_DEADLINE:?}")),
        }
    }
    Err(last.into())
}

/// The orderers of `network` as (address, TLS host name).
pub fn orderers(network: &Network) -> Vec<(String, String)> {
    network
        .orderer
        .nodes
        .iter()
        .map(|n| (n.address.clone(), n.host.clone()))
        .collect()
}

/// Sends a signed channel participation request (join, list or remove) to the node at
/// `addr` (TLS host name `host`); answers with the channels the node serves afterwards.
pub async fn participate(
    admin: &Admin,
    addr: &str,
    host: &str,
    request: v1::ParticipationRequest,
) -> Result<v1::ChannelList, NodeError> {
    let grpc = client_channel(&admin.tls, addr, host).map_err(NodeError::Transport)?;
    let mut client = v1::participation_client::ParticipationClient::new(grpc).max_encoding_message_size(MESSAGE_LIMIT);
    let action = request.action.clone();
    let call = async {
        match action.as_str() {
            "join" => client.join(request).await,
            "remove" => client.remove(request).await,
            _ => client.list(request).await,
        }
    };
    match tokio::time::timeout(PARTICIPATION_DEADLINE, call).await {
        Err(_) => Err(NodeError::Transport(format!(
            "{host} did not answer within {PARTICIPATION_DEADLINE:?}"
        ))),
        Ok(Err(status)) => Err(match status.code() {
            tonic::Code::Unavailable | tonic::Code::DeadlineExceeded => {
                NodeError::Transport(format!("{host}: {}", status.message()))
            }
            _ => NodeError::Usage(format!("{host}: {}", status.message())),
        }),
        Ok(Ok(list)) => Ok(list.into_inner()),
    }
}

/// A channel's genesis block as the participation API takes it (protobuf): the channel's
/// section of `network` and its organisations' certificates from `crypto`.
pub fn genesis_bytes(network: &Network, channel: &str, crypto: &Path) -> Result<Vec<u8>, NodeError> {
    let defined = network
        .channel(channel)
        .ok_or_else(|| NodeError::Usage(format!("--channel: no channel {channel} in the network file")))?;
    let genesis = warga_ledger_msp::channel::genesis_block(network, defined, crypto)
        .map_err(|e| NodeError::Crypto(e.to_string()))?;
    Ok(prost::Message::encode_to_vec(&v1::Block::from(genesis)))
}

/// A participation request (`join` with a genesis block, `list`, `remove` with a channel)
/// signed by this administrator now.
pub fn participation_request(
    admin: &Admin,
    action: &str,
    channel: &str,
    genesis: Vec<u8>,
) -> Result<v1::ParticipationRequest, NodeError> {
    warga_ledger_orderer::participation::request(&admin.identity, action, channel, genesis).map_err(NodeError::Crypto)
}
