//! Validation of ordered transactions, as Fabric's committing peers do it, in two parts:
//!
//! 1. [`check_transaction`] — everything that depends only on the transaction and the channel
//!    definition: channel, transaction id, creator identity and signature, the response
//!    matching the proposal, the chaincode and namespace, every endorsement's identity and
//!    signature, and the function's endorsement policy over the valid endorsers. Independent
//!    per transaction, so a peer runs it for a whole block in parallel.
//! 2. [`BlockValidator`] — in block order: duplicate transaction ids, MVCC (every read
//!    version equals the committed one, counting earlier valid transactions of the same
//!    block) and phantom reads (every range query returns the same keys and versions).
//!
//! Invalid transactions stay in the block with their [`ValidationCode`]; only valid ones
//! change state.

use std::collections::{BTreeMap, BTreeSet};

use crate::network::Channel;
use crate::policy::{ChannelPolicies, Signer};
use crate::rwset::{HistoryEntry, KvRead, RwSet, StateReader, Version, VersionedValue};
use crate::tx::{Creator, Endorsement, Proposal, Transaction};

pub use crate::code::ValidationCode;

/// Identities and signatures, as the channel's MSPs judge them.
pub trait Membership: Sync {
    /// The identity behind `creator` if its certificate is valid for its MSP (chain,
    /// validity, revocation, role), as a policy signer.
    fn identify(&self, creator: &Creator) -> Result<Signer, String>;
    /// Whether `signature` is `creator`'s over `message`.
    fn verify(&self, creator: &Creator, message: &[u8], signature: &[u8]) -> bool;
}

/// The checks that need no state (run in parallel across a block).
pub fn check_transaction(
    tx: &Transaction,
    channel: &Channel,
    policies: &dyn ChannelPolicies,
    membership: &dyn Membership,
) -> ValidationCode {
    let proposal = &tx.proposal;
    if proposal.channel != channel.name {
        return ValidationCode::TargetChainNotFound;
    }
    if proposal.tx_id != Proposal::compute_tx_id(&proposal.nonce, &proposal.creator) {
        return ValidationCode::BadProposalTxId;
    }
    let creator_ok = channel.members.contains(&proposal.creator.msp_id)
        && membership.identify(&proposal.creator).is_ok()
        && membership.verify(
            &proposal.creator,
            &Transaction::signed_bytes(proposal, &tx.response, &tx.endorsements),
            &tx.signature,
        );
    if !creator_ok {
        return ValidationCode::BadCreatorSignature;
    }
    if tx.response.proposal_hash != proposal.hash() {
        return ValidationCode::BadResponsePayload;
    }
    let Some(chaincode) = channel.chaincodes.iter().find(|c| c.name == proposal.chaincode) else {
        return ValidationCode::InvalidChaincode;
    };
    if tx.response.chaincode_sequence != chaincode.sequence {
        return ValidationCode::ExpiredChaincode;
    }
    if tx.response.rwset.namespace != chaincode.name {
        return ValidationCode::IllegalWriteset;
    }
    if !tx.response.rwset.is_canonical() {
        return ValidationCode::BadRwSet;
    }
    // Private data: only the chaincode's collections, written only by members' clients
    // where the collection says so.
    for hashes in &tx.response.rwset.collections {
        let Some(collection) = chaincode.collection(&hashes.collection) else {
            return ValidationCode::IllegalWriteset;
        };
        if collection.member_only_write && !hashes.writes.is_empty() && !collection.is_member(&proposal.creator.msp_id)
        {
            return ValidationCode::IllegalWriteset;
        }
    }
    let endorsers: Vec<Signer> = tx
        .endorsements
        .iter()
        .filter(|e| channel.members.contains(&e.endorser.msp_id))
        .filter(|e| {
            let signed = Endorsement::signed_bytes(&tx.response, &e.endorser);
            membership.verify(&e.endorser, &signed, &e.signature)
        })
        .filter_map(|e| membership.identify(&e.endorser).ok())
        .collect();
    if !chaincode
        .policy_for(&proposal.function)
        .is_satisfied(&endorsers, policies)
    {
        return ValidationCode::EndorsementPolicyFailure;
    }
    ValidationCode::Valid
}

/// A write not yet committed: the value (`None`: deleted) and its version.
type Pending = (Option<Vec<u8>>, Version);

/// Committed state with the writes of a block's earlier valid transactions on top.
pub struct Overlay<'a> {
    base: &'a dyn StateReader,
    /// (namespace, key) → the pending write.
    pending: BTreeMap<(String, String), Pending>,
}

impl<'a> Overlay<'a> {
    pub fn new(base: &'a dyn StateReader) -> Self {
        Overlay {
            base,
            pending: BTreeMap::new(),
        }
    }

    fn version(&self, namespace: &str, key: &str) -> Option<Version> {
        match self.pending.get(&(namespace.to_owned(), key.to_owned())) {
            Some((Some(_), version)) => Some(*version),
            Some((None, _)) => None,
            None => self.base.get(namespace, key).map(|v| v.version),
        }
    }
}

impl StateReader for Overlay<'_> {
    fn get(&self, namespace: &str, key: &str) -> Option<VersionedValue> {
        match self.pending.get(&(namespace.to_owned(), key.to_owned())) {
            Some((Some(value), version)) => Some(VersionedValue {
                value: value.clone(),
                version: *version,
            }),
            Some((None, _)) => None,
            None => self.base.get(namespace, key),
        }
    }

    fn range(&self, namespace: &str, start: &str, end: &str, limit: usize) -> Vec<(String, VersionedValue)> {
        let mut merged: BTreeMap<String, VersionedValue> =
            self.base.range(namespace, start, end, usize::MAX).into_iter().collect();
        let from = (namespace.to_owned(), start.to_owned());
        for ((ns, key), (value, version)) in self.pending.range(from..) {
            if ns != namespace || (!end.is_empty() && key.as_str() >= end) {
                break;
            }
            match value {
                Some(value) => {
                    merged.insert(
                        key.clone(),
                        VersionedValue {
                            value: value.clone(),
                            version: *version,
                        },
                    );
                }
                None => {
                    merged.remove(key);
                }
            }
        }
        merged.into_iter().take(limit).collect()
    }

    fn history(&self, namespace: &str, key: &str) -> Vec<HistoryEntry> {
        self.base.history(namespace, key)
    }
}

/// The MVCC and duplicate checks of one block, in order.
pub struct BlockValidator<'a> {
    block: u64,
    overlay: Overlay<'a>,
    seen: BTreeSet<String>,
    committed_tx: &'a dyn Fn(&str) -> bool,
}

impl<'a> BlockValidator<'a> {
    /// `committed_tx` tells whether a transaction id is already on the ledger.
    pub fn new(block: u64, state: &'a dyn StateReader, committed_tx: &'a dyn Fn(&str) -> bool) -> Self {
        BlockValidator {
            block,
            overlay: Overlay::new(state),
            seen: BTreeSet::new(),
            committed_tx,
        }
    }

    fn reads_hold(&self, namespace: &str, reads: &[KvRead]) -> bool {
        reads
            .iter()
            .all(|r| self.overlay.version(namespace, &r.key) == r.version)
    }

    /// The final codes of a block's transactions, in order, given their stateless codes.
    pub fn validate_all(&mut self, txs: &[Transaction], stateless: Vec<ValidationCode>) -> Vec<ValidationCode> {
        txs.iter()
            .zip(stateless)
            .enumerate()
            .map(|(i, (tx, code))| self.validate(i as u64, tx, code))
            .collect()
    }

    /// The final code of transaction number `index` whose stateless checks gave `code`;
    /// a valid transaction's writes become visible to the ones after it.
    pub fn validate(&mut self, index: u64, tx: &Transaction, code: ValidationCode) -> ValidationCode {
        let tx_id = &tx.proposal.tx_id;
        if !self.seen.insert(tx_id.clone()) || (self.committed_tx)(tx_id) {
            return ValidationCode::DuplicateTxId;
        }
        if code != ValidationCode::Valid {
            return code;
        }
        let rwset: &RwSet = &tx.response.rwset;
        let sets = rwset.namespace_sets();
        if !sets.iter().all(|set| self.reads_hold(&set.namespace, set.reads)) {
            return ValidationCode::MvccReadConflict;
        }
        for range in &rwset.range_reads {
            let now = self
                .overlay
                .range(&rwset.namespace, &range.start, &range.end, range.reads.len() + 1);
            let same = now.len() == range.reads.len()
                && now
                    .iter()
                    .zip(&range.reads)
                    .all(|((key, value), read)| key == &read.key && Some(value.version) == read.version);
            if !same {
                return ValidationCode::PhantomReadConflict;
            }
        }
        let version = Version {
            block: self.block,
            tx: index,
        };
        for set in sets {
            for write in set.writes {
                self.overlay.pending.insert(
                    (set.namespace.clone(), write.key.clone()),
                    (write.value.clone(), version),
                );
            }
        }
        ValidationCode::Valid
    }
}
