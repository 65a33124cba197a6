//! Blocks: a header hash-chained to the previous block, the ordered transactions, and
//! metadata — the orderer's signature over the header and, once a peer validated it, one
//! validation code per transaction (as in Fabric, metadata is not covered by the hash).
//! Block 0 of a channel is its genesis block: it carries the channel's configuration.

use crate::code::ValidationCode;
use crate::tx::{Creator, Encoder, Hash, Transaction, sha256};

/// What is hash-chained.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct BlockHeader {
    pub number: u64,
    #[serde(with = "crate::tx::hex_hash")]
    pub previous_hash: Hash,
    #[serde(with = "crate::tx::hex_hash")]
    pub data_hash: Hash,
}

impl BlockHeader {
    pub fn hash(&self) -> Hash {
        let mut e = Encoder::new("warga.block-header.v1");
        e.u64(self.number).bytes(&self.previous_hash).bytes(&self.data_hash);
        sha256(&e.finish())
    }
}

/// What a block holds.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum BlockData {
    /// The genesis block: the channel's configuration (its part of the network file, as
    /// canonical JSON).
    Config(String),
    Transactions(Vec<Transaction>),
    /// A configuration transaction (a [`crate::config::ConfigEnvelope`] as JSON), alone in
    /// its block; its one validation code says whether it applied.
    ConfigUpdate(String),
}

impl BlockData {
    pub fn hash(&self) -> Hash {
        let mut e = Encoder::new("warga.block-data.v1");
        match self {
            BlockData::Config(config) => {
                e.count(0).str(config);
            }
            BlockData::Transactions(txs) => {
                e.count(1).count(txs.len());
                for tx in txs {
                    e.bytes(&sha256(&tx.encode()));
                }
            }
            BlockData::ConfigUpdate(envelope) => {
                e.count(2).str(envelope);
            }
        }
        sha256(&e.finish())
    }

    pub fn transactions(&self) -> &[Transaction] {
        match self {
            BlockData::Config(_) | BlockData::ConfigUpdate(_) => &[],
            BlockData::Transactions(txs) => txs,
        }
    }

    /// How many validation codes the block's metadata holds once validated: one per
    /// transaction, one for a configuration update.
    pub fn code_count(&self) -> usize {
        match self {
            BlockData::Config(_) => 0,
            BlockData::ConfigUpdate(_) => 1,
            BlockData::Transactions(txs) => txs.len(),
        }
    }
}

/// Outside the hash: who ordered the block and its signature over the header hash, and the
/// committing peer's validation codes and commit hash.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct BlockMetadata {
    pub orderer: Option<Creator>,
    #[serde(with = "crate::tx::base64_bytes")]
    pub signature: Vec<u8>,
    pub validation_codes: Vec<u8>,
    /// The committing peer's [`commit_hash`]; empty before a peer committed the block.
    #[serde(default, with = "crate::tx::base64_bytes")]
    pub commit_hash: Vec<u8>,
}

/// Fabric 2.x's commit hash, the evidence of a fork: chained over the previous block's
/// commit hash, this block's number and validation codes, and the writes its valid
/// transactions applied (namespace, key, value or deletion, in order). Two peers that
/// validated and applied every block alike have equal commit hashes; the first block where
/// they differ is where they diverged.
pub fn commit_hash(previous: &[u8], block: &Block, codes: &[ValidationCode]) -> Hash {
    let mut e = Encoder::new("warga.commit.v1");
    e.bytes(previous).u64(block.header.number).count(codes.len());
    for code in codes {
        e.u64(*code as u64);
    }
    if let (BlockData::ConfigUpdate(envelope), [ValidationCode::Valid]) = (&block.data, codes) {
        e.str(envelope);
    }
    for (tx, code) in block.data.transactions().iter().zip(codes) {
        if *code != ValidationCode::Valid {
            continue;
        }
        let rwset = &tx.response.rwset;
        for set in rwset.namespace_sets() {
            e.count(set.writes.len());
            for w in set.writes {
                e.str(&set.namespace).str(&w.key).opt_bytes(w.value.as_deref());
            }
        }
    }
    sha256(&e.finish())
}

#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Block {
    pub header: BlockHeader,
    pub data: BlockData,
    pub metadata: BlockMetadata,
}

impl Block {
    /// The genesis block of a channel.
    pub fn genesis(config: String) -> Block {
        let data = BlockData::Config(config);
        Block {
            header: BlockHeader {
                number: 0,
                previous_hash: [0; 32],
                data_hash: data.hash(),
            },
            data,
            metadata: BlockMetadata::default(),
        }
    }

    /// The next block after `previous` with `transactions`.
    pub fn next(previous: &BlockHeader, transactions: Vec<Transaction>) -> Block {
        Block::next_with(previous, BlockData::Transactions(transactions))
    }

    /// The next block after `previous` holding `data`.
    pub fn next_with(previous: &BlockHeader, data: BlockData) -> Block {
        Block {
            header: BlockHeader {
                number: previous.number + 1,
                previous_hash: previous.hash(),
                data_hash: data.hash(),
            },
            data,
            metadata: BlockMetadata::default(),
        }
    }

    /// The validation code of transaction `index`, once validated.
    pub fn code(&self, index: usize) -> Option<ValidationCode> {
        self.metadata
            .validation_codes
            .get(index)
            .and_then(|c| ValidationCode::from_u8(*c))
    }

    /// Whether the header's data hash matches the data and, given the previous header,
    /// the chain links.
    pub fn links_to(&self, previous: Option<&BlockHeader>) -> bool {
        let chained = match previous {
            None => self.header.number == 0 && self.header.previous_hash == [0; 32],
            Some(p) => self.header.number == p.number + 1 && self.header.previous_hash == p.hash(),
        };
        chained && self.header.data_hash == self.data.hash()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_chain_by_hash_and_detect_tampering() {
        let genesis = Block::genesis("{\"name\":\"bpjs-main\"}".into());
        assert!(genesis.links_to(None));
        let one = Block::next(&genesis.header, Vec::new());
        assert!(one.links_to(Some(&genesis.header)));
        assert_ne!(one.header.hash(), genesis.header.hash());
        let mut forged = Block::genesis("{\"name\":\"other\"}".into());
        assert!(!one.links_to(Some(&forged.header)));
        forged.data = BlockData::Config("changed".into());
        assert!(!forged.links_to(None), "the data hash no longer matches");
    }
}
