//! The client side of a peer's gateway, as the CLI, tests and the benchmark use it: a signing
//! identity and one peer to talk to. `submit` is Fabric's client flow — the gateway collects
//! endorsements, the client signs the transaction, the gateway orders it and reports its
//! commit.

use tonic::Status;
use tonic::transport::Channel;
use warga_ledger_core::tx::{Creator, Proposal, SignedProposal, Transaction};
use warga_ledger_msp::SigningIdentity;
use warga_ledger_orderer::grpc::{MESSAGE_LIMIT, TlsMaterial, client_channel};
use warga_ledger_proto::v1;
use warga_ledger_proto::v1::events_client::EventsClient;
use warga_ledger_proto::v1::gateway_client::GatewayClient;
use warga_ledger_proto::v1::ledger_client::LedgerClient;

/// Who signs a client's proposals and transactions: a certificate and whatever holds its
/// private key — a key in memory ([`SigningIdentity`]), or a key that never leaves a vault
/// or a hardware module, reached asynchronously.
#[async_trait::async_trait]
pub trait Signer: Send + Sync {
    /// The identity transactions carry (MSP id and certificate).
    fn creator(&self) -> Creator;
    /// An ECDSA P-256/SHA-256 signature (ASN.1 DER) over `message`.
    async fn sign(&self, message: &[u8]) -> Result<Vec<u8>, String>;
}

#[async_trait::async_trait]
impl Signer for SigningIdentity {
    fn creator(&self) -> Creator {
        SigningIdentity::creator(self)
    }

    async fn sign(&self, message: &[u8]) -> Result<Vec<u8>, String> {
        SigningIdentity::sign(self, message).map_err(|e| e.to_string())
    }
}

/// A client of one peer, for one channel and chaincode.
#[derive(Clone)]
pub struct Client {
    pub channel: String,
    pub chaincode: String,
    identity: std::sync::Arc<dyn Signer>,
    gateway: GatewayClient<Channel>,
    ledger: LedgerClient<Channel>,
    events: EventsClient<Channel>,
}

fn now_ms() -> i64 {
    (time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64
}

impl Client {
    /// A client of the peer at `addr` (`host:port`; TLS name `host`), authenticating with
    /// `tls` and signing with `identity`. Connects lazily.
    pub fn new(
        tls: &TlsMaterial,
        addr: impl std::fmt::Display,
        host: &str,
        identity: SigningIdentity,
        channel: &str,
        chaincode: &str,
    ) -> Result<Client, String> {
        let grpc = client_channel(tls, addr, host)?;
        Ok(Client {
            channel: channel.to_owned(),
            chaincode: chaincode.to_owned(),
            identity: std::sync::Arc::new(identity),
            gateway: GatewayClient::new(grpc.clone())
                .max_decoding_message_size(MESSAGE_LIMIT)
                .max_encoding_message_size(MESSAGE_LIMIT),
            ledger: LedgerClient::new(grpc.clone())
                .max_decoding_message_size(MESSAGE_LIMIT)
                .max_encoding_message_size(MESSAGE_LIMIT),
            events: EventsClient::new(grpc)
                .max_decoding_message_size(MESSAGE_LIMIT)
                .max_encoding_message_size(MESSAGE_LIMIT),
        })
    }

    /// The same connection, signing as `signer` (one peer connection serves many signers).
    pub fn signing_as(&self, signer: std::sync::Arc<dyn Signer>) -> Client {
        Client {
            identity: signer,
            ..self.clone()
        }
    }

    /// A new proposal of this client, signed.
    pub async fn proposal(&self, function: &str, args: &[String]) -> Result<SignedProposal, Status> {
        self.proposal_with_transient(function, args, Default::default()).await
    }

    /// A new proposal with transient data (private inputs that reach the endorsers and are
    /// never part of the transaction), signed with it.
    pub async fn proposal_with_transient(
        &self,
        function: &str,
        args: &[String],
        transient: std::collections::BTreeMap<String, Vec<u8>>,
    ) -> Result<SignedProposal, Status> {
        use ring::rand::SecureRandom;
        let mut nonce = vec![0u8; 24];
        ring::rand::SystemRandom::new()
            .fill(&mut nonce)
            .map_err(|_| Status::internal("no randomness for the nonce"))?;
        let creator = self.identity.creator();
        let proposal = Proposal {
            channel: self.channel.clone(),
            chaincode: self.chaincode.clone(),
            function: function.to_owned(),
            args: args.to_vec(),
            tx_id: Proposal::compute_tx_id(&nonce, &creator),
            timestamp_ms: now_ms(),
            nonce,
            creator,
        };
        let signature = self
            .identity
            .sign(&SignedProposal::signed_bytes(&proposal, &transient))
            .await
            .map_err(Status::internal)?;
        Ok(SignedProposal {
            proposal,
            transient,
            signature,
        })
    }

    /// Runs a function on the peer without ordering anything; returns its result.
    pub async fn evaluate(&self, function: &str, args: &[String]) -> Result<Vec<u8>, Status> {
        let signed = self.proposal(function, args).await?;
        self.evaluate_proposal(signed).await
    }

    /// [`Client::evaluate`] for a proposal made with [`Client::proposal_with_transient`].
    pub async fn evaluate_proposal(&self, signed: SignedProposal) -> Result<Vec<u8>, Status> {
        let reply = self.gateway.clone().evaluate(v1::SignedProposal::from(signed)).await?;
        Ok(reply.into_inner().result)
    }

    /// Endorses, signs, orders and waits for the commit of a transaction.
    pub async fn submit(&self, function: &str, args: &[String]) -> Result<v1::CommitStatus, Status> {
        let signed = self.proposal(function, args).await?;
        self.submit_proposal(signed).await
    }

    /// [`Client::submit`] with transient data (e.g. a visit's clinical details).
    pub async fn submit_with_transient(
        &self,
        function: &str,
        args: &[String],
        transient: std::collections::BTreeMap<String, Vec<u8>>,
    ) -> Result<v1::CommitStatus, Status> {
        let signed = self.proposal_with_transient(function, args, transient).await?;
        self.submit_proposal(signed).await
    }

    /// [`Client::submit`] for a proposal made with [`Client::proposal`].
    pub async fn submit_proposal(&self, signed: SignedProposal) -> Result<v1::CommitStatus, Status> {
        let tx = self.endorse(signed).await?;
        self.submit_transaction(tx).await
    }

    /// Has the gateway collect endorsements for `signed`, checks that they are for this
    /// proposal, and signs the transaction (Fabric's gateway `Endorse`).
    pub async fn endorse(&self, signed: SignedProposal) -> Result<Transaction, Status> {
        let unsigned = self
            .gateway
            .clone()
            .endorse(v1::SignedProposal::from(signed.clone()))
            .await?
            .into_inner();
        let mut tx = Transaction::try_from(unsigned).map_err(|e| Status::internal(e.to_string()))?;
        check_endorsed(&signed, &tx).map_err(|e| Status::data_loss(format!("the gateway's transaction: {e}")))?;
        tx.signature = self
            .identity
            .sign(&Transaction::signed_bytes(&tx.proposal, &tx.response, &tx.endorsements))
            .await
            .map_err(Status::internal)?;
        Ok(tx)
    }

    /// Orders a signed transaction and waits for its commit (Fabric's gateway `Submit`).
    pub async fn submit_transaction(&self, tx: Transaction) -> Result<v1::CommitStatus, Status> {
        Ok(self
            .gateway
            .clone()
            .submit(v1::Transaction::from(tx))
            .await?
            .into_inner())
    }

    pub async fn info(&self) -> Result<v1::ChannelInfo, Status> {
        let request = v1::ChannelRequest {
            channel: self.channel.clone(),
        };
        Ok(self.ledger.clone().info(request).await?.into_inner())
    }

    pub async fn block(&self, number: u64) -> Result<v1::Block, Status> {
        let request = v1::BlockByNumberRequest {
            channel: self.channel.clone(),
            number,
        };
        Ok(self.ledger.clone().block_by_number(request).await?.into_inner())
    }

    pub async fn block_by_tx_id(&self, tx_id: &str) -> Result<v1::Block, Status> {
        let request = v1::BlockByTxIdRequest {
            channel: self.channel.clone(),
            tx_id: tx_id.to_owned(),
        };
        Ok(self.ledger.clone().block_by_tx_id(request).await?.into_inner())
    }

    pub async fn status(&self, tx_id: &str) -> Result<v1::CommitStatus, Status> {
        let request = v1::CommitStatusRequest {
            channel: self.channel.clone(),
            tx_id: tx_id.to_owned(),
        };
        Ok(self.ledger.clone().transaction_status(request).await?.into_inner())
    }

    /// Every committed change of `key` in this client's chaincode, oldest first.
    pub async fn history(&self, key: &str) -> Result<Vec<v1::KeyModification>, Status> {
        let request = v1::KeyHistoryRequest {
            channel: self.channel.clone(),
            chaincode: self.chaincode.clone(),
            key: key.to_owned(),
        };
        Ok(self.ledger.clone().history(request).await?.into_inner().modifications)
    }

    /// Committed blocks from `start` on, as they come.
    pub async fn events(&self, start: u64, full_blocks: bool) -> Result<tonic::Streaming<v1::BlockEvent>, Status> {
        let request = v1::EventsRequest {
            channel: self.channel.clone(),
            start,
            full_blocks,
        };
        Ok(self.events.clone().blocks(request).await?.into_inner())
    }
}

/// What a client checks before signing the transaction a gateway assembled: it carries the
/// client's own proposal unchanged, its response answers that proposal, and every
/// endorsement's signature verifies — with the certificate it names — over that response
/// and that endorser. A gateway that altered the proposal, the response or an endorsement is
/// refused; which endorsements satisfy the policy is for the validators to judge.
pub fn check_endorsed(signed: &SignedProposal, tx: &Transaction) -> Result<(), String> {
    if tx.proposal != signed.proposal {
        return Err("its proposal is not the one this client signed".into());
    }
    if tx.response.proposal_hash != signed.proposal.hash() {
        return Err("its response answers another proposal".into());
    }
    if tx.endorsements.is_empty() {
        return Err("it carries no endorsement".into());
    }
    for endorsement in &tx.endorsements {
        let bytes = warga_ledger_core::tx::Endorsement::signed_bytes(&tx.response, &endorsement.endorser);
        warga_ledger_msp::verify_with_certificate(&endorsement.endorser.certificate, &bytes, &endorsement.signature)
            .map_err(|_| {
                format!(
                    "the endorsement of {} does not sign its response",
                    endorsement.endorser.msp_id
                )
            })?;
    }
    Ok(())
}
