//! A peer's gRPC services, over mutual TLS: `Endorser` (for other peers' gateways),
//! `Gateway` (for clients), `Ledger` (Fabric's qscc: channel info, blocks, transaction
//! status, key history) and `Events` (committed blocks and chaincode events, resumable).
//!
//! Every caller presents a certificate of an organisation's TLS CA. Reading the ledger and
//! its events is for the channel's member organisations only; proposals are also checked by
//! their creator's signed identity.

use std::sync::Arc;

use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::{Certificate, Identity, Server, ServerTlsConfig};
use tonic::{Request, Response, Status};
use warga_ledger_core::block::Block;
use warga_ledger_core::chaincode::ChaincodeError;
use warga_ledger_core::tx::{SignedProposal, Transaction};
use warga_ledger_orderer::grpc::{MESSAGE_LIMIT, caller};
use warga_ledger_peer::TxStatus;
use warga_ledger_peer::endorse::EndorseError;
use warga_ledger_proto::v1;
use warga_ledger_proto::v1::endorser_server::{Endorser, EndorserServer};
use warga_ledger_proto::v1::events_server::{Events, EventsServer};
use warga_ledger_proto::v1::gateway_server::{Gateway as GatewayRpc, GatewayServer};
use warga_ledger_proto::v1::ledger_server::{Ledger, LedgerServer};

use crate::gateway::PeerChannels;
use crate::gateway::{Gateway, GatewayError};
use crate::metrics::PEER_PROPOSALS_RECEIVED;
use crate::peer::PeerNode;
use warga_ledger_orderer::grpc::TlsMaterial;
use warga_ledger_orderer::participation::ParticipationService;

fn endorse_status(error: EndorseError) -> Status {
    match error {
        EndorseError::WrongChannel(_) | EndorseError::UnknownChaincode(_) => Status::not_found(error.to_string()),
        EndorseError::NotInstalled(..) => Status::failed_precondition(error.to_string()),
        EndorseError::BadTxId | EndorseError::BadSignature | EndorseError::Skewed { .. } => {
            Status::invalid_argument(error.to_string())
        }
        EndorseError::Creator(_) => Status::unauthenticated(error.to_string()),
        EndorseError::NotMember(_) => Status::permission_denied(error.to_string()),
        EndorseError::Duplicate(_) => Status::already_exists(error.to_string()),
        // The contract's refusal, by kind: a client tells a bad argument from a missing
        // record, a refusal of who asks, and a state that does not allow it.
        EndorseError::Refused(ref refusal) => match refusal {
            ChaincodeError::BadRequest(_) => Status::invalid_argument(error.to_string()),
            ChaincodeError::Forbidden(_) => Status::permission_denied(error.to_string()),
            ChaincodeError::NotFound(_) => Status::not_found(error.to_string()),
            ChaincodeError::Conflict(_) => Status::failed_precondition(error.to_string()),
        },
        EndorseError::Ledger(_) | EndorseError::Signing(_) => Status::internal(error.to_string()),
        EndorseError::Dissemination(_) => Status::unavailable(error.to_string()),
    }
}

fn gateway_status(error: GatewayError) -> Status {
    match error {
        GatewayError::Endorse(e) => endorse_status(e),
        GatewayError::UnknownChaincode(..) | GatewayError::WrongChannel(..) => Status::not_found(error.to_string()),
        GatewayError::Refused { code, .. } | GatewayError::Rejected { code, .. } => {
            Status::new(code, error.to_string())
        }
        GatewayError::Mismatch(..) => Status::aborted(error.to_string()),
        GatewayError::PrivateData { .. } => Status::failed_precondition(error.to_string()),
        GatewayError::Unreachable { .. } | GatewayError::NotOrdered(_) => Status::unavailable(error.to_string()),
        GatewayError::Unsigned => Status::invalid_argument(error.to_string()),
        GatewayError::Timeout(..) => Status::deadline_exceeded(error.to_string()),
        GatewayError::Ledger(_) => Status::internal(error.to_string()),
    }
}

fn signed_proposal(request: Request<v1::SignedProposal>) -> Result<SignedProposal, Status> {
    SignedProposal::try_from(request.into_inner()).map_err(|e| Status::invalid_argument(e.to_string()))
}

fn commit_status(tx_id: &str, status: TxStatus, result: Vec<u8>) -> v1::CommitStatus {
    v1::CommitStatus {
        tx_id: tx_id.to_owned(),
        block: status.block,
        code: status.code as u32,
        code_name: status.code.as_str().to_owned(),
        result,
    }
}

/// The services of one peer process, for every channel it joined.
#[derive(Clone)]
pub struct PeerServices {
    channels: Arc<PeerChannels>,
    tls: TlsMaterial,
    /// The peer's host name (metrics).
    host: String,
    participation: Option<ParticipationService>,
}

impl PeerServices {
    pub fn new(
        channels: Arc<PeerChannels>,
        tls: TlsMaterial,
        host: String,
        participation: Option<ParticipationService>,
    ) -> PeerServices {
        PeerServices {
            channels,
            tls,
            host,
            participation,
        }
    }

    /// The gateway of `channel` on this peer.
    fn gateway(&self, channel: &str) -> Result<Arc<Gateway>, Status> {
        self.channels
            .get(channel)
            .ok_or_else(|| Status::not_found(format!("this peer does not serve channel {channel:?}")))
    }

    /// The caller must belong to a member organisation of the channel it names, as the
    /// channel's configuration in force has them.
    fn member<T>(&self, request: &Request<T>, channel: &str) -> Result<Arc<Gateway>, Status> {
        let who = caller(&self.tls, request)?;
        let gateway = self.gateway(channel)?;
        if gateway
            .peer()
            .ledger
            .config()
            .resolved
            .config
            .organization(&who)
            .is_none()
        {
            return Err(Status::permission_denied(format!(
                "{who} is not a member of channel {channel}"
            )));
        }
        Ok(gateway)
    }

    fn received(&self, outcome: &str) {
        PEER_PROPOSALS_RECEIVED
            .with_label_values(&[self.host.as_str(), outcome])
            .inc();
    }
}

fn block(peer: &PeerNode, number: u64) -> Result<Block, Status> {
    peer.ledger
        .block(number)
        .map_err(|e| Status::internal(e.to_string()))?
        .ok_or_else(|| Status::not_found(format!("no block {number} yet")))
}

#[tonic::async_trait]
impl Endorser for PeerServices {
    async fn process_proposal(
        &self,
        request: Request<v1::SignedProposal>,
    ) -> Result<Response<v1::ProposalResponse>, Status> {
        caller(&self.tls, &request)?;
        let signed = signed_proposal(request)?;
        let gateway = self.gateway(&signed.proposal.channel)?;
        match gateway.peer().endorse(signed).await {
            Ok((response, endorsement)) => {
                self.received("endorsed");
                Ok(Response::new(v1::ProposalResponse {
                    response: Some(response.into()),
                    endorsement: Some(endorsement.into()),
                }))
            }
            Err(error) => {
                self.received("refused");
                Err(endorse_status(error))
            }
        }
    }
}

#[tonic::async_trait]
impl GatewayRpc for PeerServices {
    async fn evaluate(&self, request: Request<v1::SignedProposal>) -> Result<Response<v1::EvaluateResponse>, Status> {
        caller(&self.tls, &request)?;
        let signed = signed_proposal(request)?;
        let gateway = self.gateway(&signed.proposal.channel)?;
        match gateway.peer().evaluate(signed).await {
            Ok(response) => {
                self.received("evaluated");
                Ok(Response::new(v1::EvaluateResponse {
                    result: response.result,
                }))
            }
            Err(error) => {
                self.received("refused");
                Err(endorse_status(error))
            }
        }
    }

    async fn endorse(&self, request: Request<v1::SignedProposal>) -> Result<Response<v1::Transaction>, Status> {
        caller(&self.tls, &request)?;
        let signed = signed_proposal(request)?;
        let gateway = self.gateway(&signed.proposal.channel)?;
        let outcome = gateway.endorse(&signed).await;
        self.received(if outcome.is_ok() { "endorsed" } else { "refused" });
        outcome.map(|tx| Response::new(tx.into())).map_err(gateway_status)
    }

    async fn submit(&self, request: Request<v1::Transaction>) -> Result<Response<v1::CommitStatus>, Status> {
        caller(&self.tls, &request)?;
        let tx = Transaction::try_from(request.into_inner()).map_err(|e| Status::invalid_argument(e.to_string()))?;
        let gateway = self.gateway(&tx.proposal.channel)?;
        let status = gateway.submit(&tx).await.map_err(gateway_status)?;
        Ok(Response::new(commit_status(
            &tx.proposal.tx_id,
            status,
            tx.response.result,
        )))
    }

    async fn commit_status(
        &self,
        request: Request<v1::CommitStatusRequest>,
    ) -> Result<Response<v1::CommitStatus>, Status> {
        let channel = request.get_ref().channel.clone();
        let gateway = self.member(&request, &channel)?;
        let tx_id = request.into_inner().tx_id;
        let status = gateway
            .status(&tx_id)
            .map_err(gateway_status)?
            .ok_or_else(|| Status::not_found(format!("transaction {tx_id} is not on this peer's ledger")))?;
        Ok(Response::new(commit_status(&tx_id, status, Vec::new())))
    }
}

#[tonic::async_trait]
impl Ledger for PeerServices {
    async fn info(&self, request: Request<v1::ChannelRequest>) -> Result<Response<v1::ChannelInfo>, Status> {
        let channel = request.get_ref().channel.clone();
        let gateway = self.member(&request, &channel)?;
        let height = gateway
            .peer()
            .ledger
            .height()
            .map_err(|e| Status::internal(e.to_string()))?;
        let tip = block(gateway.peer(), height - 1)?;
        Ok(Response::new(v1::ChannelInfo {
            channel,
            height,
            current_hash: tip.header.hash().to_vec(),
            previous_hash: tip.header.previous_hash.to_vec(),
            commit_hash: tip.metadata.commit_hash.clone(),
        }))
    }

    async fn block_by_number(&self, request: Request<v1::BlockByNumberRequest>) -> Result<Response<v1::Block>, Status> {
        let channel = request.get_ref().channel.clone();
        let gateway = self.member(&request, &channel)?;
        Ok(Response::new(block(gateway.peer(), request.get_ref().number)?.into()))
    }

    async fn block_by_tx_id(&self, request: Request<v1::BlockByTxIdRequest>) -> Result<Response<v1::Block>, Status> {
        let channel = request.get_ref().channel.clone();
        let gateway = self.member(&request, &channel)?;
        let tx_id = &request.get_ref().tx_id;
        let status = gateway
            .status(tx_id)
            .map_err(gateway_status)?
            .ok_or_else(|| Status::not_found(format!("transaction {tx_id} is not on this peer's ledger")))?;
        Ok(Response::new(block(gateway.peer(), status.block)?.into()))
    }

    async fn transaction_status(
        &self,
        request: Request<v1::CommitStatusRequest>,
    ) -> Result<Response<v1::CommitStatus>, Status> {
        GatewayRpc::commit_status(self, request).await
    }

    async fn history(&self, request: Request<v1::KeyHistoryRequest>) -> Result<Response<v1::KeyHistory>, Status> {
        use warga_ledger_core::rwset::StateReader;
        let channel = request.get_ref().channel.clone();
        let gateway = self.member(&request, &channel)?;
        let wanted = request.into_inner();
        if !gateway
            .peer()
            .ledger
            .config()
            .resolved
            .channel
            .chaincodes
            .iter()
            .any(|c| c.name == wanted.chaincode)
        {
            return Err(Status::not_found(format!(
                "chaincode {} is not defined on channel {channel}",
                wanted.chaincode
            )));
        }
        let snapshot = gateway
            .peer()
            .ledger
            .snapshot()
            .map_err(|e| Status::internal(e.to_string()))?;
        let modifications = snapshot
            .history(&wanted.chaincode, &wanted.key)
            .into_iter()
            .map(|h| v1::KeyModification {
                tx_id: h.tx_id,
                block: h.version.block,
                tx: h.version.tx,
                timestamp_ms: h.timestamp_ms,
                value: h.value,
            })
            .collect();
        Ok(Response::new(v1::KeyHistory { modifications }))
    }
}

/// What a block tells a listener: each transaction's outcome and, when valid, its event.
pub fn block_event(block: &Block, full: bool) -> v1::BlockEvent {
    let transactions = block
        .data
        .transactions()
        .iter()
        .enumerate()
        .map(|(i, tx)| {
            let code = block.code(i);
            let valid = code == Some(warga_ledger_core::validate::ValidationCode::Valid);
            v1::TransactionEvent {
                tx_id: tx.proposal.tx_id.clone(),
                code: code.map_or(u32::MAX, |c| c as u32),
                code_name: code.map_or("NOT_VALIDATED", |c| c.as_str()).to_owned(),
                chaincode: tx.proposal.chaincode.clone(),
                function: tx.proposal.function.clone(),
                event: if valid {
                    tx.response.event.clone().map(|e| v1::ChaincodeEvent {
                        name: e.name,
                        payload: e.payload,
                    })
                } else {
                    None
                },
            }
        })
        .collect();
    v1::BlockEvent {
        number: block.header.number,
        hash: block.header.hash().to_vec(),
        transactions,
        block: full.then(|| block.clone().into()),
    }
}

#[tonic::async_trait]
impl Events for PeerServices {
    type BlocksStream = ReceiverStream<Result<v1::BlockEvent, Status>>;

    async fn blocks(&self, request: Request<v1::EventsRequest>) -> Result<Response<Self::BlocksStream>, Status> {
        let channel = request.get_ref().channel.clone();
        let gateway = self.member(&request, &channel)?;
        let wanted = request.into_inner();
        let peer = gateway.peer().clone();
        let (sender, receiver) = tokio::sync::mpsc::channel(16);
        tokio::spawn(async move {
            let mut height = peer.height();
            let mut next = wanted.start;
            loop {
                let top = *height.borrow_and_update();
                while next < top {
                    let block = match peer.ledger.block(next) {
                        Ok(Some(block)) => block,
                        _ => return,
                    };
                    if sender.send(Ok(block_event(&block, wanted.full_blocks))).await.is_err() {
                        return;
                    }
                    next += 1;
                }
                tokio::select! {
                    changed = height.changed() => if changed.is_err() { return },
                    () = sender.closed() => return,
                }
            }
        });
        Ok(Response::new(ReceiverStream::new(receiver)))
    }
}

/// Serves a peer's services with mutual TLS on `listener` until `shutdown`.
pub async fn serve(
    services: PeerServices,
    listener: tokio::net::TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), tonic::transport::Error> {
    let tls_material = &services.tls;
    let participation = services.participation.clone().map(|p| {
        warga_ledger_proto::v1::participation_server::ParticipationServer::new(p)
            .max_decoding_message_size(MESSAGE_LIMIT)
    });
    let tls = ServerTlsConfig::new()
        .identity(Identity::from_pem(&tls_material.certificate_pem, &tls_material.key_pem))
        .client_ca_root(Certificate::from_pem(tls_material.bundle()));
    Server::builder()
        .tls_config(tls)?
        .add_optional_service(participation)
        .add_service(
            EndorserServer::new(services.clone())
                .max_decoding_message_size(MESSAGE_LIMIT)
                .max_encoding_message_size(MESSAGE_LIMIT),
        )
        .add_service(
            GatewayServer::new(services.clone())
                .max_decoding_message_size(MESSAGE_LIMIT)
                .max_encoding_message_size(MESSAGE_LIMIT),
        )
        .add_service(
            LedgerServer::new(services.clone())
                .max_decoding_message_size(MESSAGE_LIMIT)
                .max_encoding_message_size(MESSAGE_LIMIT),
        )
        .add_service(
            warga_ledger_proto::v1::private_data_server::PrivateDataServer::new(crate::private::PrivateDataService {
                channels: services.channels.clone(),
            })
            .max_decoding_message_size(MESSAGE_LIMIT)
            .max_encoding_message_size(MESSAGE_LIMIT),
        )
        .add_service(
            EventsServer::new(services)
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
