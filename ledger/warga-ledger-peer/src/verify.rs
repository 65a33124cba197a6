//! `warga ledger verify`: re-checks a ledger copy offline, trusting nothing it stores. Every
//! block must link to the previous one by hash and match its data hash; block 0 must be the
//! channel's genesis block (from the network file and the organisations' CA certificates);
//! every other block must carry a valid signature of an orderer of the ordering organisation
//! the configuration of its time names; every configuration transaction is judged again
//! against the configuration before it, and every transaction validated again from scratch
//! under the configuration in force — signatures, endorsements against the policies, MVCC
//! over a state replayed from block 1 — and the codes must equal the stored ones; finally the
//! stored world state, the transaction index, the history and the recorded configurations
//! must each equal what the blocks imply, and every block's commit hash the one its codes and
//! writes give, so no table of the file can be changed unnoticed.
//! Certificates are judged as at commit: no validity window, so neither the verifier's
//! clock nor any timestamp a client chose can change the verdict.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use std::sync::Arc;

use warga_ledger_core::block::{Block, BlockData};
use warga_ledger_core::rwset::{MemoryState, StateReader, Version};
use warga_ledger_core::validate::{BlockValidator, ValidationCode, check_transaction};
use warga_ledger_msp::verify_block_signature;

use crate::{ChannelState, LedgerError, PeerLedger};

/// A clean bill: what was checked.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Verified {
    pub blocks: u64,
    pub transactions: u64,
    pub valid: u64,
    pub state_keys: u64,
}

/// The first thing found wrong.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    #[error("block 0 is not this channel's genesis block")]
    Genesis,
    #[error("block {0} does not link to block {prev} or its data hash is wrong", prev = .0.saturating_sub(1))]
    Chain(u64),
    #[error("block {block}: orderer signature: {reason}")]
    OrdererSignature { block: u64, reason: String },
    #[error("block {block}, transaction {index}: stored code {stored}, recomputed {recomputed}")]
    Code {
        block: u64,
        index: usize,
        stored: String,
        recomputed: &'static str,
    },
    #[error("world state differs from the replayed blocks at key {0:?}")]
    State(String),
    #[error("block {0}: the stored commit hash is not the one its codes and writes give")]
    CommitHash(u64),
    #[error("the transaction index differs from the blocks at transaction {0}")]
    TxIndex(String),
    #[error("the history differs from the blocks at key {key:?}, block {block}, transaction {tx}")]
    History { key: String, block: u64, tx: u64 },
    #[error("the recorded configurations differ from the blocks at block {0}")]
    Configs(u64),
}

/// A chain replayed block by block from its genesis, trusting nothing it is handed: each
/// block must link to the one before and match its data hash, carry a valid signature of an
/// orderer of the orderer organisation, and hold the codes and commit hash that validating
/// its transactions again — signatures, endorsement policies, MVCC over the replayed state —
/// gives. Used on a peer's own file ([`verify`]) and on blocks a peer served (the web
/// gateway's "verify this ledger"). Certificates are judged as at commit (no clock).
pub struct ChainReplay {
    genesis: Block,
    state: Option<Arc<ChannelState>>,
    replayed: MemoryState,
    seen: BTreeSet<String>,
    tx_index: BTreeMap<String, (u64, u64, u8)>,
    history: crate::HistoryIndex,
    /// Block → the configuration (JSON) it made.
    configs: BTreeMap<u64, String>,
    commit: Vec<u8>,
    previous: Option<warga_ledger_core::block::BlockHeader>,
    report: Verified,
}

impl ChainReplay {
    /// A replay of the chain whose block 0 must be `genesis`.
    pub fn new(genesis: Block) -> ChainReplay {
        ChainReplay {
            genesis,
            state: None,
            replayed: MemoryState::default(),
            seen: BTreeSet::new(),
            tx_index: BTreeMap::new(),
            history: crate::HistoryIndex::new(),
            configs: BTreeMap::new(),
            commit: Vec::new(),
            previous: None,
            report: Verified::default(),
        }
    }

    /// The next block of the chain (block 0 first).
    pub fn push(&mut self, block: &Block) -> Result<(), VerifyError> {
        let number = self.report.blocks;
        let (Some(previous), Some(state)) = (&self.previous, self.state.clone()) else {
            if block.header != self.genesis.header || !block.links_to(None) {
                return Err(VerifyError::Genesis);
            }
            let state = ChannelState::genesis(block).map_err(|_| VerifyError::Genesis)?;
            self.configs.insert(0, state.resolved.config.to_json());
            self.state = Some(Arc::new(state));
            self.previous = Some(block.header.clone());
            self.report.blocks = 1;
            return Ok(());
        };
        if block.header.number != number || !block.links_to(Some(previous)) {
            return Err(VerifyError::Chain(number));
        }
        // Judged as at commit: no validity window, so nothing a client chose (a proposal's
        // timestamp) and no local clock can change the verdict.
        verify_block_signature(block, &state.msps, &state.resolved.config.orderer.msp_id).map_err(|e| {
            VerifyError::OrdererSignature {
                block: number,
                reason: e.to_string(),
            }
        })?;
        if let BlockData::ConfigUpdate(envelope) = &block.data {
            let (code, next) = match state.judge(envelope, number) {
                Ok(next) => (ValidationCode::Valid, Some(next)),
                Err(_) => (ValidationCode::InvalidConfigTransaction, None),
            };
            let stored = block.code(0);
            if stored != Some(code) {
                return Err(VerifyError::Code {
                    block: number,
                    index: 0,
                    stored: stored.map_or("none", ValidationCode::as_str).to_owned(),
                    recomputed: code.as_str(),
                });
            }
            let expected = warga_ledger_core::block::commit_hash(&self.commit, block, &[code]).to_vec();
            if block.metadata.commit_hash != expected {
                return Err(VerifyError::CommitHash(number));
            }
            if let Some(next) = next {
                self.configs.insert(number, next.resolved.config.to_json());
                self.state = Some(next);
            }
            self.commit = expected;
            self.previous = Some(block.header.clone());
            self.report.blocks += 1;
            return Ok(());
        }
        let txs = block.data.transactions();
        let seen = &self.seen;
        let committed = |id: &str| seen.contains(id);
        let stateless: Vec<ValidationCode> = txs
            .iter()
            .map(|tx| check_transaction(tx, &state.resolved.channel, &state.resolved, &state.msps))
            .collect();
        let codes = BlockValidator::new(number, &self.replayed, &committed).validate_all(txs, stateless);
        let expected = warga_ledger_core::block::commit_hash(&self.commit, block, &codes).to_vec();
        for (index, (tx, code)) in txs.iter().zip(&codes).enumerate() {
            let stored = block.code(index);
            if stored != Some(*code) {
                return Err(VerifyError::Code {
                    block: number,
                    index,
                    stored: stored.map_or("none", ValidationCode::as_str).to_owned(),
                    recomputed: code.as_str(),
                });
            }
            self.tx_index
                .entry(tx.proposal.tx_id.clone())
                .or_insert((number, index as u64, *code as u8));
            if *code == ValidationCode::Valid {
                let version = Version {
                    block: number,
                    tx: index as u64,
                };
                for set in tx.response.rwset.namespace_sets() {
                    for w in set.writes {
                        self.history.insert(
                            (crate::state_key(&set.namespace, &w.key), number, index as u64),
                            (
                                tx.proposal.tx_id.clone(),
                                tx.proposal.timestamp_ms,
                                w.value.is_none(),
                                w.value.clone().unwrap_or_default(),
                            ),
                        );
                    }
                }
                self.replayed.apply(
                    &tx.response.rwset,
                    version,
                    &tx.proposal.tx_id,
                    tx.proposal.timestamp_ms,
                );
                self.report.valid += 1;
            }
            self.seen.insert(tx.proposal.tx_id.clone());
            self.report.transactions += 1;
        }
        if block.metadata.commit_hash != expected {
            return Err(VerifyError::CommitHash(number));
        }
        self.commit = expected;
        self.previous = Some(block.header.clone());
        self.report.blocks += 1;
        Ok(())
    }

    /// What was checked so far.
    pub fn report(&self) -> &Verified {
        &self.report
    }
}

/// Verifies the ledger at `path` of `channel`, whose genesis block must be `genesis`,
/// judged without a clock (as at commit).
pub fn verify(path: &Path, channel: &str, genesis: Block) -> Result<Verified, VerifyError> {
    let ledger = PeerLedger::open_existing(path, channel)?;
    let height = ledger.height()?;
    let mut replay = ChainReplay::new(genesis);
    for number in 0..height {
        let block = ledger.block(number)?.ok_or(if number == 0 {
            VerifyError::Genesis
        } else {
            VerifyError::Ledger(LedgerError::Corrupt(number, "missing".into()))
        })?;
        replay.push(&block)?;
    }
    if height == 0 {
        return Err(VerifyError::Genesis);
    }
    let ChainReplay {
        replayed,
        tx_index,
        history,
        configs,
        mut report,
        ..
    } = replay;
    if let Some(block) = first_difference(&configs, &ledger.configs()?) {
        return Err(VerifyError::Configs(*block));
    }
    let snapshot = ledger.snapshot()?;
    for ((namespace, key), value) in &replayed.values {
        if snapshot.get(namespace, key).as_ref() != Some(value) {
            return Err(VerifyError::State(key.clone()));
        }
    }
    report.state_keys = ledger.state_len()?;
    if report.state_keys != replayed.values.len() as u64 {
        return Err(VerifyError::State("(a key the blocks never wrote)".into()));
    }
    let stored = ledger.tx_index()?;
    if let Some(tx_id) = first_difference(&tx_index, &stored) {
        return Err(VerifyError::TxIndex(tx_id.clone()));
    }
    let stored = ledger.history_index()?;
    if let Some((key, block, tx)) = first_difference(&history, &stored) {
        return Err(VerifyError::History {
            key: key.replace('\u{0}', "/"),
            block: *block,
            tx: *tx,
        });
    }
    Ok(report)
}

/// The first key (in order) whose entry differs between `expected` and `stored`, present in
/// only one of them included.
fn first_difference<'a, K: Ord, V: PartialEq>(
    expected: &'a BTreeMap<K, V>,
    stored: &'a BTreeMap<K, V>,
) -> Option<&'a K> {
    let mut expected_iter = expected.iter();
    let mut stored_iter = stored.iter();
    loop {
        match (expected_iter.next(), stored_iter.next()) {
            (None, None) => return None,
            (Some((k, _)), None) | (None, Some((k, _))) => return Some(k),
            (Some((ke, ve)), Some((ks, vs))) => {
                if ke != ks {
                    return Some(if ke < ks { ke } else { ks });
                }
                if ve != vs {
                    return Some(ke);
                }
            }
        }
    }
}
