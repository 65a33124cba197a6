//! Endorsement, as Fabric's endorsing peers do it: check the signed proposal (channel,
//! transaction id, a timestamp within [`PROPOSAL_SKEW_S`] of this peer's clock, the creator's
//! certificate valid now and a member of the channel, the signature, not already
//! committed), simulate the chaincode against the peer's committed state, and sign the
//! outcome. The endorser is where the clock is read (as in Fabric): the chaincode's time is
//! the proposal's timestamp, which every endorser has checked, and commit-time validation
//! reads no clock at all.

/// How far a proposal's timestamp may be from the endorser's clock (Fabric: 15 minutes).
pub const PROPOSAL_SKEW_S: i64 = 15 * 60;

use warga_ledger_core::chaincode::{ChaincodeError, Contract, Simulator};
use warga_ledger_core::network::Channel;
use warga_ledger_core::rwset::PrivateWrites;
use warga_ledger_core::tx::{Endorsement, Proposal, Response, SignedProposal};
use warga_ledger_msp::{Msps, SigningIdentity};

use crate::{LedgerError, PeerLedger};

/// Why a peer does not endorse.
#[derive(Debug, thiserror::Error)]
pub enum EndorseError {
    #[error("the proposal is for channel {0}, which this peer does not serve")]
    WrongChannel(String),
    #[error("the transaction id does not match the nonce and creator")]
    BadTxId,
    #[error("the proposal's timestamp is {skew_s} s from this peer's clock (at most {PROPOSAL_SKEW_S} s)")]
    Skewed { skew_s: i64 },
    #[error("the creator is not valid: {0}")]
    Creator(String),
    #[error("{0} is not a member of this channel")]
    NotMember(String),
    #[error("the proposal's signature does not verify")]
    BadSignature,
    #[error("transaction {0} is already on the ledger")]
    Duplicate(String),
    #[error("chaincode {0} is not defined on this channel")]
    UnknownChaincode(String),
    #[error("chaincode {0} version {1} is not installed on this peer")]
    NotInstalled(String, String),
    #[error("the chaincode refused: {0}")]
    Refused(#[from] ChaincodeError),
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    #[error("the peer cannot sign: {0}")]
    Signing(String),
    /// The private data could not be handed to enough member peers.
    #[error("private data: {0}")]
    Dissemination(String),
}

/// What a peer endorses with: its channel, its organisations' MSPs, the contract and its key.
pub struct Endorser<'a> {
    pub ledger: &'a PeerLedger,
    pub channel: &'a Channel,
    pub msps: &'a Msps,
    pub contract: &'a dyn Contract,
    pub signer: &'a SigningIdentity,
}

impl Endorser<'_> {
    /// Simulates `signed` and returns the response with this peer's endorsement, and the
    /// private writes in clear (for the collections' member peers; the response carries
    /// only their hashes).
    pub fn endorse(
        &self,
        signed: &SignedProposal,
    ) -> Result<(Response, Endorsement, Vec<PrivateWrites>), EndorseError> {
        let (response, private) = self.simulate(signed)?;
        let endorser = self.signer.creator();
        let signature = self
            .signer
            .sign(&Endorsement::signed_bytes(&response, &endorser))
            .map_err(|e| EndorseError::Signing(e.to_string()))?;
        Ok((response, Endorsement { endorser, signature }, private))
    }

    /// Every check of [`Endorser::endorse`] and the simulation, without the peer's
    /// signature: what an evaluation (a query, never ordered) needs.
    pub fn simulate(&self, signed: &SignedProposal) -> Result<(Response, Vec<PrivateWrites>), EndorseError> {
        let proposal: &Proposal = &signed.proposal;
        if proposal.channel != self.channel.name || self.ledger.channel != self.channel.name {
            return Err(EndorseError::WrongChannel(proposal.channel.clone()));
        }
        if proposal.tx_id != Proposal::compute_tx_id(&proposal.nonce, &proposal.creator) {
            return Err(EndorseError::BadTxId);
        }
        let skew_s = proposal.timestamp_ms.div_euclid(1000).saturating_sub(self.msps.now_s);
        if skew_s.abs() > PROPOSAL_SKEW_S {
            return Err(EndorseError::Skewed { skew_s });
        }
        let identity = self
            .msps
            .identity(&proposal.creator)
            .map_err(|e| EndorseError::Creator(e.to_string()))?;
        if !self.channel.members.contains(&identity.msp_id) {
            return Err(EndorseError::NotMember(identity.msp_id));
        }
        identity
            .verify(
                &SignedProposal::signed_bytes(proposal, &signed.transient),
                &signed.signature,
            )
            .map_err(|_| EndorseError::BadSignature)?;
        if self.ledger.tx_status(&proposal.tx_id)?.is_some() {
            return Err(EndorseError::Duplicate(proposal.tx_id.clone()));
        }
        let Some(chaincode) = self.channel.chaincodes.iter().find(|c| c.name == proposal.chaincode) else {
            return Err(EndorseError::UnknownChaincode(proposal.chaincode.clone()));
        };
        // The definition in force names the contract's version; this binary must have it.
        if self.contract.name() != chaincode.name || self.contract.version() != chaincode.version {
            return Err(EndorseError::NotInstalled(
                chaincode.name.clone(),
                chaincode.version.clone(),
            ));
        }
        let snapshot = self.ledger.snapshot()?;
        let invoker = identity.invoker();
        let simulated = Simulator::new(
            &snapshot,
            &proposal.chaincode,
            &proposal.channel,
            &proposal.tx_id,
            proposal.timestamp_ms,
            invoker,
        )
        .with_private(
            &chaincode.collections,
            &self.signer.creator().msp_id,
            signed.transient.clone(),
        )
        .run(self.contract, &proposal.function, &proposal.args)?;
        Ok((
            Response {
                proposal_hash: proposal.hash(),
                rwset: simulated.rwset,
                event: simulated.event,
                result: simulated.result,
                chaincode_sequence: chaincode.sequence,
            },
            simulated.private,
        ))
    }
}
