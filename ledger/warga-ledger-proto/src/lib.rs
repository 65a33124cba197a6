//! The ledger's wire types (`proto/ledger.proto`, package `warga.ledger.v1`) and their
//! conversion to and from `warga-ledger-core`'s domain types, by hand: the core never sees
//! protobuf, and a message missing a required part is refused here with the field's name.

#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

use warga_ledger_core::block as core_block;
use warga_ledger_core::rwset as core_rw;
use warga_ledger_core::tx as core_tx;

/// Generated from `proto/ledger.proto`.
#[allow(clippy::all, missing_docs)]
pub mod v1 {
    include!(concat!(env!("OUT_DIR"), "/warga.ledger.v1.rs"));
}

/// A message that cannot become a domain value.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct WireError {
    pub field: &'static str,
    pub reason: &'static str,
}

fn missing(field: &'static str) -> WireError {
    WireError {
        field,
        reason: "missing",
    }
}

fn hash(field: &'static str, bytes: Vec<u8>) -> Result<core_tx::Hash, WireError> {
    bytes.try_into().map_err(|_| WireError {
        field,
        reason: "not 32 bytes",
    })
}

impl From<core_tx::Creator> for v1::Creator {
    fn from(c: core_tx::Creator) -> Self {
        v1::Creator {
            msp_id: c.msp_id,
            certificate: c.certificate,
        }
    }
}

impl From<v1::Creator> for core_tx::Creator {
    fn from(c: v1::Creator) -> Self {
        core_tx::Creator {
            msp_id: c.msp_id,
            certificate: c.certificate,
        }
    }
}

impl From<core_tx::Proposal> for v1::Proposal {
    fn from(p: core_tx::Proposal) -> Self {
        v1::Proposal {
            channel: p.channel,
            chaincode: p.chaincode,
            function: p.function,
            args: p.args,
            tx_id: p.tx_id,
            timestamp_ms: p.timestamp_ms,
            nonce: p.nonce,
            creator: Some(p.creator.into()),
        }
    }
}

impl TryFrom<v1::Proposal> for core_tx::Proposal {
    type Error = WireError;
    fn try_from(p: v1::Proposal) -> Result<Self, WireError> {
        Ok(core_tx::Proposal {
            channel: p.channel,
            chaincode: p.chaincode,
            function: p.function,
            args: p.args,
            tx_id: p.tx_id,
            timestamp_ms: p.timestamp_ms,
            nonce: p.nonce,
            creator: p.creator.ok_or_else(|| missing("proposal.creator"))?.into(),
        })
    }
}

impl From<core_tx::SignedProposal> for v1::SignedProposal {
    fn from(p: core_tx::SignedProposal) -> Self {
        v1::SignedProposal {
            proposal: Some(p.proposal.into()),
            signature: p.signature,
            transient: p.transient.into_iter().collect(),
        }
    }
}

impl TryFrom<v1::SignedProposal> for core_tx::SignedProposal {
    type Error = WireError;
    fn try_from(p: v1::SignedProposal) -> Result<Self, WireError> {
        if p.transient.len() > core_tx::TRANSIENT_ENTRIES_MAX
            || p.transient
                .values()
                .any(|v| v.len() > core_tx::TRANSIENT_VALUE_BYTES_MAX)
        {
            return Err(WireError {
                field: "signed_proposal.transient",
                reason: "too large (at most 16 entries of at most 256 KiB)",
            });
        }
        Ok(core_tx::SignedProposal {
            proposal: p
                .proposal
                .ok_or_else(|| missing("signed_proposal.proposal"))?
                .try_into()?,
            signature: p.signature,
            transient: p.transient.into_iter().collect(),
        })
    }
}

fn version_out(v: Option<core_rw::Version>) -> Option<v1::Version> {
    v.map(|v| v1::Version {
        block: v.block,
        tx: v.tx,
    })
}

fn version_in(v: Option<v1::Version>) -> Option<core_rw::Version> {
    v.map(|v| core_rw::Version {
        block: v.block,
        tx: v.tx,
    })
}

fn reads_out(reads: Vec<core_rw::KvRead>) -> Vec<v1::KvRead> {
    reads
        .into_iter()
        .map(|r| v1::KvRead {
            key: r.key,
            version: version_out(r.version),
        })
        .collect()
}

fn reads_in(reads: Vec<v1::KvRead>) -> Vec<core_rw::KvRead> {
    reads
        .into_iter()
        .map(|r| core_rw::KvRead {
            key: r.key,
            version: version_in(r.version),
        })
        .collect()
}

fn writes_out(writes: Vec<core_rw::KvWrite>) -> Vec<v1::KvWrite> {
    writes
        .into_iter()
        .map(|w| v1::KvWrite {
            key: w.key,
            value: w.value,
        })
        .collect()
}

fn writes_in(writes: Vec<v1::KvWrite>) -> Vec<core_rw::KvWrite> {
    writes
        .into_iter()
        .map(|w| core_rw::KvWrite {
            key: w.key,
            value: w.value,
        })
        .collect()
}

impl From<core_rw::PrivateWrites> for v1::PrivateWrites {
    fn from(p: core_rw::PrivateWrites) -> Self {
        v1::PrivateWrites {
            namespace: p.namespace,
            collection: p.collection,
            writes: writes_out(p.writes),
        }
    }
}

impl From<v1::PrivateWrites> for core_rw::PrivateWrites {
    fn from(p: v1::PrivateWrites) -> Self {
        core_rw::PrivateWrites {
            namespace: p.namespace,
            collection: p.collection,
            writes: writes_in(p.writes),
        }
    }
}

impl From<core_rw::RwSet> for v1::RwSet {
    fn from(s: core_rw::RwSet) -> Self {
        v1::RwSet {
            collections: s
                .collections
                .into_iter()
                .map(|c| v1::CollectionHashes {
                    collection: c.collection,
                    reads: reads_out(c.reads),
                    writes: writes_out(c.writes),
                })
                .collect(),
            namespace: s.namespace,
            reads: reads_out(s.reads),
            range_reads: s
                .range_reads
                .into_iter()
                .map(|r| v1::RangeRead {
                    start: r.start,
                    end: r.end,
                    reads: reads_out(r.reads),
                })
                .collect(),
            writes: s
                .writes
                .into_iter()
                .map(|w| v1::KvWrite {
                    key: w.key,
                    value: w.value,
                })
                .collect(),
        }
    }
}

impl From<v1::RwSet> for core_rw::RwSet {
    fn from(s: v1::RwSet) -> Self {
        core_rw::RwSet {
            collections: s
                .collections
                .into_iter()
                .map(|c| core_rw::CollectionHashes {
                    collection: c.collection,
                    reads: reads_in(c.reads),
                    writes: writes_in(c.writes),
                })
                .collect(),
            namespace: s.namespace,
            reads: reads_in(s.reads),
            range_reads: s
                .range_reads
                .into_iter()
                .map(|r| core_rw::RangeRead {
                    start: r.start,
                    end: r.end,
                    reads: reads_in(r.reads),
                })
                .collect(),
            writes: s
                .writes
                .into_iter()
                .map(|w| core_rw::KvWrite {
                    key: w.key,
                    value: w.value,
                })
                .collect(),
        }
    }
}

impl From<core_tx::Response> for v1::Response {
    fn from(r: core_tx::Response) -> Self {
        v1::Response {
            proposal_hash: r.proposal_hash.to_vec(),
            rwset: Some(r.rwset.into()),
            event: r.event.map(|e| v1::ChaincodeEvent {
                name: e.name,
                payload: e.payload,
            }),
            result: r.result,
            chaincode_sequence: r.chaincode_sequence,
        }
    }
}

impl TryFrom<v1::Response> for core_tx::Response {
    type Error = WireError;
    fn try_from(r: v1::Response) -> Result<Self, WireError> {
        Ok(core_tx::Response {
            proposal_hash: hash("response.proposal_hash", r.proposal_hash)?,
            rwset: r.rwset.ok_or_else(|| missing("response.rwset"))?.into(),
            event: r.event.map(|e| core_tx::ChaincodeEvent {
                name: e.name,
                payload: e.payload,
            }),
            result: r.result,
            chaincode_sequence: r.chaincode_sequence,
        })
    }
}

impl From<core_tx::Endorsement> for v1::Endorsement {
    fn from(e: core_tx::Endorsement) -> Self {
        v1::Endorsement {
            endorser: Some(e.endorser.into()),
            signature: e.signature,
        }
    }
}

impl TryFrom<v1::Endorsement> for core_tx::Endorsement {
    type Error = WireError;
    fn try_from(e: v1::Endorsement) -> Result<Self, WireError> {
        Ok(core_tx::Endorsement {
            endorser: e.endorser.ok_or_else(|| missing("endorsement.endorser"))?.into(),
            signature: e.signature,
        })
    }
}

impl From<core_tx::Transaction> for v1::Transaction {
    fn from(t: core_tx::Transaction) -> Self {
        v1::Transaction {
            proposal: Some(t.proposal.into()),
            response: Some(t.response.into()),
            endorsements: t.endorsements.into_iter().map(Into::into).collect(),
            signature: t.signature,
        }
    }
}

impl TryFrom<v1::Transaction> for core_tx::Transaction {
    type Error = WireError;
    fn try_from(t: v1::Transaction) -> Result<Self, WireError> {
        Ok(core_tx::Transaction {
            proposal: t.proposal.ok_or_else(|| missing("transaction.proposal"))?.try_into()?,
            response: t.response.ok_or_else(|| missing("transaction.response"))?.try_into()?,
            endorsements: t
                .endorsements
                .into_iter()
                .map(TryInto::try_into)
                .collect::<Result<_, _>>()?,
            signature: t.signature,
        })
    }
}

impl From<core_block::Block> for v1::Block {
    fn from(b: core_block::Block) -> Self {
        v1::Block {
            header: Some(v1::BlockHeader {
                number: b.header.number,
                previous_hash: b.header.previous_hash.to_vec(),
                data_hash: b.header.data_hash.to_vec(),
            }),
            data: Some(match b.data {
                core_block::BlockData::Config(config) => v1::block::Data::Config(config),
                core_block::BlockData::ConfigUpdate(envelope) => v1::block::Data::ConfigUpdate(envelope),
                core_block::BlockData::Transactions(txs) => v1::block::Data::Transactions(v1::Transactions {
                    transactions: txs.into_iter().map(Into::into).collect(),
                }),
            }),
            metadata: Some(v1::BlockMetadata {
                orderer: b.metadata.orderer.map(Into::into),
                signature: b.metadata.signature,
                validation_codes: b.metadata.validation_codes,
                commit_hash: b.metadata.commit_hash,
            }),
        }
    }
}

impl TryFrom<v1::Block> for core_block::Block {
    type Error = WireError;
    fn try_from(b: v1::Block) -> Result<Self, WireError> {
        let header = b.header.ok_or_else(|| missing("block.header"))?;
        let metadata = b.metadata.unwrap_or_default();
        Ok(core_block::Block {
            header: core_block::BlockHeader {
                number: header.number,
                previous_hash: hash("block.header.previous_hash", header.previous_hash)?,
                data_hash: hash("block.header.data_hash", header.data_hash)?,
            },
            data: match b.data.ok_or_else(|| missing("block.data"))? {
                v1::block::Data::Config(config) => core_block::BlockData::Config(config),
                v1::block::Data::ConfigUpdate(envelope) => core_block::BlockData::ConfigUpdate(envelope),
                v1::block::Data::Transactions(txs) => core_block::BlockData::Transactions(
                    txs.transactions
                        .into_iter()
                        .map(TryInto::try_into)
                        .collect::<Result<_, _>>()?,
                ),
            },
            metadata: core_block::BlockMetadata {
                orderer: metadata.orderer.map(Into::into),
                signature: metadata.signature,
                validation_codes: metadata.validation_codes,
                commit_hash: metadata.commit_hash,
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use prost::Message;
    use warga_ledger_core::block::Block;
    use warga_ledger_core::rwset::MemoryState;
    use warga_ledger_msp::testing::TestNetwork;

    use super::*;

    #[test]
    fn transactions_and_blocks_cross_the_wire_unchanged() {
        let mut net = TestNetwork::new();
        let bpjs = net.client("BPJSMSP");
        let state = MemoryState::default();
        let tx = net.transact(
            &state,
            "bpjs-main",
            &bpjs,
            "IssueCard",
            &["3171075203950004", "1", "2027-12-31"],
            &["BPJSMSP", "PuskesmasMSP"],
        );
        let channel = net.network.channel("bpjs-main").unwrap().clone();
        let genesis = net.genesis(&channel);
        let mut block = Block::next(&genesis.header, vec![tx.clone()]);
        warga_ledger_msp::sign_block(&mut block, &net.orderer()).unwrap();
        block.metadata.validation_codes = vec![0];

        for original in [genesis, block] {
            let bytes = v1::Block::from(original.clone()).encode_to_vec();
            let back: core_block::Block = v1::Block::decode(bytes.as_slice()).unwrap().try_into().unwrap();
            assert_eq!(back, original);
            assert_eq!(
                back.header.hash(),
                original.header.hash(),
                "hashes do not depend on the wire"
            );
        }
        let bytes = v1::Transaction::from(tx.clone()).encode_to_vec();
        let back: core_tx::Transaction = v1::Transaction::decode(bytes.as_slice()).unwrap().try_into().unwrap();
        assert_eq!(back.encode(), tx.encode());

        let mut broken = v1::Transaction::from(tx);
        broken.response.as_mut().unwrap().proposal_hash.truncate(5);
        assert_eq!(
            core_tx::Transaction::try_from(broken.clone()).unwrap_err().field,
            "response.proposal_hash"
        );
        broken.proposal = None;
        assert_eq!(
            core_tx::Transaction::try_from(broken).unwrap_err().field,
            "transaction.proposal"
        );
    }
}
