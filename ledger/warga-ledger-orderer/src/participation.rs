//! Channel participation, as Fabric 2.3+ has it (no system channel): an administrator of a
//! node's own organisation has the node join a channel with the channel's genesis block,
//! lists the channels it serves, or removes one. Orderers and peers serve the same API; the
//! node supplies what joining and removing mean for it ([`ChannelHost`]).
//!
//! A request is accepted only from a TLS certificate of the node's organisation carrying an
//! admin's signature over the request, made within [`FRESH_S`] seconds of the node's clock:
//! a captured request cannot be replayed later (say, to remove a channel joined again).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use tonic::{Request, Response, Status};
use warga_ledger_core::block::Block;
use warga_ledger_core::policy::MspRole;
use warga_ledger_msp::SigningIdentity;
use warga_ledger_proto::v1;

use crate::tls::{TlsMaterial, caller};

/// How far a request's signing time may be from the node's clock, in seconds.
pub const FRESH_S: i64 = 300;

/// A node's answer to joining or removing, later.
pub type Pending<'a> = Pin<Box<dyn Future<Output = Result<(), String>> + Send + 'a>>;

/// What joining, removing and listing mean for a node.
pub trait ChannelHost: Send + Sync + 'static {
    /// Starts serving the channel whose genesis block this is (kept, so it is served again
    /// after a restart).
    fn join(&self, genesis: Block) -> Pending<'_>;
    /// Stops serving `channel` and deletes its data.
    fn remove(&self, channel: String) -> Pending<'_>;
    /// The channels served.
    fn list(&self) -> Vec<v1::ChannelParticipation>;
}

/// The bytes an administrator signs: the action, the channel, the genesis block's digest,
/// the signing time.
pub fn signed_bytes(action: &str, channel: &str, genesis: &[u8], signed_at: i64) -> Vec<u8> {
    let digest = ring::digest::digest(&ring::digest::SHA256, genesis);
    let hex: String = digest.as_ref().iter().map(|b| format!("{b:02x}")).collect();
    format!("warga.participation.v1\n{action}\n{channel}\n{hex}\n{signed_at}").into_bytes()
}

/// A request signed by `admin` now.
pub fn request(
    admin: &SigningIdentity,
    action: &str,
    channel: &str,
    genesis: Vec<u8>,
) -> Result<v1::ParticipationRequest, String> {
    let signed_at = now_s();
    let signature = admin
        .sign(&signed_bytes(action, channel, &genesis, signed_at))
        .map_err(|e| e.to_string())?;
    Ok(v1::ParticipationRequest {
        action: action.to_owned(),
        channel: channel.to_owned(),
        genesis,
        signed_at,
        admin: Some(admin.creator().into()),
        signature,
    })
}

fn now_s() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// The participation API of one node.
#[derive(Clone)]
pub struct ParticipationService {
    pub host: Arc<dyn ChannelHost>,
    pub tls: TlsMaterial,
    /// The node's own organisation: only its admins are served.
    pub msp_id: String,
    /// Judges the administrator's certificate (issuer, validity, revocation).
    pub msps: warga_ledger_msp::EdgeMsps,
    /// The node's name, for the log.
    pub node: String,
}

impl ParticipationService {
    /// The administrator who asked for `action`, once every check passed.
    fn admin(&self, request: &Request<v1::ParticipationRequest>, action: &str) -> Result<String, Status> {
        let who = caller(&self.tls, request)?;
        if who != self.msp_id {
            return Err(Status::permission_denied(format!(
                "channel participation is for {}'s administrators; the caller is of {who}",
                self.msp_id
            )));
        }
        let r = request.get_ref();
        if r.action != action {
            return Err(Status::invalid_argument(format!(
                "action: {:?} sent to {action}",
                r.action
            )));
        }
        let now = now_s();
        if (now - r.signed_at).abs() > FRESH_S {
            return Err(Status::permission_denied(format!(
                "signed_at: the request was signed {} s away from this node's clock (at most {FRESH_S} s); sign it again",
                (now - r.signed_at).abs()
            )));
        }
        let admin: warga_ledger_core::tx::Creator = r
            .admin
            .clone()
            .ok_or_else(|| Status::invalid_argument("admin: missing"))?
            .into();
        if admin.msp_id != self.msp_id {
            return Err(Status::permission_denied(format!(
                "admin: {} is no administrator of {}",
                admin.msp_id, self.msp_id
            )));
        }
        let identity = self
            .msps
            .identity_at(&admin, now)
            .map_err(|e| Status::permission_denied(format!("admin: {e}")))?;
        if identity.role != MspRole::Admin {
            return Err(Status::permission_denied(format!(
                "admin: {} is no administrator (role {})",
                identity.common_name,
                identity.role.as_str()
            )));
        }
        identity
            .verify(&signed_bytes(action, &r.channel, &r.genesis, r.signed_at), &r.signature)
            .map_err(|_| Status::permission_denied("signature: does not verify"))?;
        Ok(identity.common_name)
    }

    fn list(&self) -> Response<v1::ChannelList> {
        Response::new(v1::ChannelList {
            channels: self.host.list(),
        })
    }
}

#[tonic::async_trait]
impl v1::participation_server::Participation for ParticipationService {
    async fn join(&self, request: Request<v1::ParticipationRequest>) -> Result<Response<v1::ChannelList>, Status> {
        let admin = self.admin(&request, "join")?;
        let wire = <v1::Block as prost::Message>::decode(request.get_ref().genesis.as_slice())
            .map_err(|e| Status::invalid_argument(format!("genesis: not a block: {e}")))?;
        let genesis = Block::try_from(wire).map_err(|e| Status::invalid_argument(format!("genesis: {e}")))?;
        if genesis.header.number != 0 {
            return Err(Status::invalid_argument(format!(
                "genesis: block {} is no genesis block",
                genesis.header.number
            )));
        }
        let channel = match &genesis.data {
            warga_ledger_core::block::BlockData::Config(json) => {
                warga_ledger_core::config::ChannelConfig::from_json(json)
                    .map_err(|e| Status::invalid_argument(format!("genesis: its configuration: {e}")))?
                    .channel
            }
            _ => {
                return Err(Status::invalid_argument(
                    "genesis: the block carries no channel configuration",
                ));
            }
        };
        match self.host.join(genesis).await {
            Ok(()) => {
                tracing::info!(node = %self.node, %channel, %admin, "joined a channel");
                Ok(self.list())
            }
            Err(error) => {
                tracing::warn!(node = %self.node, %channel, %admin, %error, "did not join a channel");
                Err(Status::failed_precondition(error))
            }
        }
    }

    async fn list(&self, request: Request<v1::ParticipationRequest>) -> Result<Response<v1::ChannelList>, Status> {
        self.admin(&request, "list")?;
        Ok(self.list())
    }

    async fn remove(&self, request: Request<v1::ParticipationRequest>) -> Result<Response<v1::ChannelList>, Status> {
        let admin = self.admin(&request, "remove")?;
        let channel = request.into_inner().channel;
        match self.host.remove(channel.clone()).await {
            Ok(()) => {
                tracing::info!(node = %self.node, %channel, %admin, "left a channel and deleted its data");
                Ok(self.list())
            }
            Err(error) => {
                tracing::warn!(node = %self.node, %channel, %admin, %error, "did not leave a channel");
                Err(Status::not_found(error))
            }
        }
    }
}
