//! A peer's ledger for one channel, in one embedded ACID store (redb): the block store
//! (append-only: block `n` is written once, after `n − 1`), the world state (value and
//! version per key), the history index (every committed change per key) and the transaction
//! index (block, position and validation code per id).
//!
//! [`PeerLedger::validate_and_commit`] takes an ordered block: it runs the stateless checks
//! of every transaction in parallel, then MVCC and duplicates in order, records the codes in
//! the block's metadata, and commits block, codes, state and history in **one** write
//! transaction — so a crash at any point leaves the ledger at the previous block or at this
//! one, never between. On open the tip is re-checked (hash link and data hash).

#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

pub mod backup;
pub mod config;
pub mod endorse;
pub mod private;
pub mod verify;

pub use config::ChannelState;
pub use private::{PrivateKey, PrivateScope};

use std::path::Path;

use prost::Message;
use redb::{ReadableDatabase, ReadableTable, ReadableTableMetadata, TableDefinition};
use std::sync::{Arc, PoisonError, RwLock};

use warga_ledger_core::block::{Block, BlockData, BlockHeader};
use warga_ledger_core::config::ConfigEnvelope;
use warga_ledger_core::rwset::{HistoryEntry, StateReader, Version, VersionedValue};
use warga_ledger_core::validate::{BlockValidator, ValidationCode, check_transaction};
use warga_ledger_proto::v1;

/// Block number → the block (protobuf, `warga.ledger.v1.Block`, metadata included).
const BLOCKS: TableDefinition<u64, &[u8]> = TableDefinition::new("blocks");
/// Transaction id → (block, position, validation code).
const TXS: TableDefinition<&str, (u64, u64, u8)> = TableDefinition::new("txs");
/// `namespace \0 key` → (block, tx, value).
const STATE: TableDefinition<&str, (u64, u64, &[u8])> = TableDefinition::new("state");
/// A history entry's key: (`namespace \0 key`, block, tx).
type HistoryKey<'a> = (&'a str, u64, u64);
/// A history entry: (tx id, timestamp ms, deleted, value).
type HistoryValue<'a> = (&'a str, i64, bool, &'a [u8]);
const HISTORY: TableDefinition<HistoryKey, HistoryValue> = TableDefinition::new("history");
/// Block number → the channel configuration (JSON) that block made: the genesis block's and
/// every valid configuration transaction's.
const CONFIGS: TableDefinition<u64, &str> = TableDefinition::new("configs");

/// Why the ledger refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    #[error("storage: {0}")]
    Storage(String),
    #[error("block {got} does not follow the ledger's height {height}")]
    OutOfOrder { height: u64, got: u64 },
    #[error("block {0} does not link to the previous block or its data hash is wrong")]
    BrokenChain(u64),
    #[error("block {0} is unreadable: {1}")]
    Corrupt(u64, String),
}

fn storage(error: impl std::fmt::Display) -> LedgerError {
    LedgerError::Storage(error.to_string())
}

/// The history index as data: (`namespace \0 key`, block, tx) → (tx id, timestamp ms,
/// deleted, value).
pub type HistoryIndex = std::collections::BTreeMap<(String, u64, u64), (String, i64, bool, Vec<u8>)>;

/// How state and history name a key of a namespace.
pub fn state_key(namespace: &str, key: &str) -> String {
    format!("{namespace}\u{0}{key}")
}

/// One channel's ledger on one peer.
pub struct PeerLedger {
    db: redb::Database,
    pub channel: String,
    /// The newest block's header and commit hash, so a commit need not re-read the block.
    tip: std::sync::Mutex<Option<(BlockHeader, Vec<u8>)>>,
    /// The collections whose private data this ledger keeps.
    private: std::sync::RwLock<PrivateScope>,
    /// Private write sets marked missing at commit so far (the reconciler's cue).
    missing_marked: std::sync::atomic::AtomicU64,
    /// The configuration in force after the tip.
    config: RwLock<Arc<ChannelState>>,
}

/// An ordered block with what can be judged of it before the blocks ahead of it commit:
/// the stateless checks of every transaction and its data hash. A peer prechecks block
/// `n + 1` while block `n` commits; MVCC, which needs the state `n` leaves, comes after.
pub struct Prechecked {
    block: Block,
    stateless: Vec<ValidationCode>,
    data_hash_ok: bool,
    /// The configuration sequence the checks ran under: if a configuration block commits
    /// before this one, they run again under the new one.
    sequence: u64,
}

impl Prechecked {
    /// Runs the stateless checks of every transaction (in parallel) under the configuration
    /// `state`, and the data hash.
    pub fn new(block: Block, state: &ChannelState) -> Prechecked {
        let stateless = stateless_checks(&block, state);
        let data_hash_ok = block.header.data_hash == block.data.hash();
        Prechecked {
            block,
            stateless,
            data_hash_ok,
            sequence: state.sequence(),
        }
    }

    pub fn number(&self) -> u64 {
        self.block.header.number
    }
}

/// Every transaction's stateless checks, in parallel.
fn stateless_checks(block: &Block, state: &ChannelState) -> Vec<ValidationCode> {
    let channel = &state.resolved.channel;
    let policies = &state.resolved;
    let membership = &state.msps;
    let txs = block.data.transactions();
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(txs.len().max(1));
    let chunk = txs.len().div_ceil(threads).max(1);
    std::thread::scope(|scope| {
        let handles: Vec<_> = txs
            .chunks(chunk)
            .map(|part| {
                scope.spawn(move || {
                    part.iter()
                        .map(|tx| check_transaction(tx, channel, policies, membership))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles.into_iter().flat_map(|h| h.join().unwrap_or_default()).collect()
    })
}

/// Where a transaction ended up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TxStatus {
    pub block: u64,
    pub index: u64,
    pub code: ValidationCode,
}

/// The most memory one ledger's page cache holds (redb's own default is 1 GiB per database,
/// which a peer would fill as its chain grows): the B-trees' interior pages, which every
/// lookup touches, fit many times over; a peer's memory stays bounded whatever its height.
pub const CACHE_BYTES: usize = 64 * 1024 * 1024;

impl PeerLedger {
    /// Opens (or creates) the ledger at `path`; a new ledger starts with `genesis`.
    pub fn open(path: &Path, channel: &str, genesis: &Block) -> Result<PeerLedger, LedgerError> {
        let db = redb::Builder::new()
            .set_cache_size(CACHE_BYTES)
            .create(path)
            .map_err(storage)?;
        let genesis_state =
            ChannelState::genesis(genesis).map_err(|e| LedgerError::Corrupt(0, format!("the configuration: {e}")))?;
        let ledger = PeerLedger::over(db, channel, genesis_state);
        match ledger.height()? {
            0 => {
                if !genesis.links_to(None) {
                    return Err(LedgerError::BrokenChain(0));
                }
                ledger.commit(genesis, &[])?;
            }
            height => {
                // The tip must link to its predecessor: a torn write would show here.
                let tip = ledger
                    .block(height - 1)?
                    .ok_or(LedgerError::Corrupt(height - 1, "missing".into()))?;
                let previous = match height - 1 {
                    0 => None,
                    n => Some(
                        ledger
                            .block(n - 1)?
                            .ok_or(LedgerError::Corrupt(n - 1, "missing".into()))?
                            .header,
                    ),
                };
                if !tip.links_to(previous.as_ref()) {
                    return Err(LedgerError::BrokenChain(height - 1));
                }
                let stored_genesis = ledger.block(0)?.ok_or(LedgerError::Corrupt(0, "missing".into()))?;
                if stored_genesis.header != genesis.header {
                    return Err(LedgerError::BrokenChain(0));
                }
                ledger.load_config()?;
            }
        }
        Ok(ledger)
    }

    /// Opens an existing ledger file (e.g. a copy, for `verify`); refuses an empty one.
    pub fn open_existing(path: &Path, channel: &str) -> Result<PeerLedger, LedgerError> {
        let db = redb::Database::open(path).map_err(storage)?;
        let read = db.begin_read().map_err(storage)?;
        let genesis = match read.open_table(BLOCKS) {
            Ok(table) => table.get(0).map_err(storage)?.map(|bytes| bytes.value().to_vec()),
            Err(redb::TableError::TableDoesNotExist(_)) => None,
            Err(e) => return Err(storage(e)),
        };
        drop(read);
        let Some(genesis) = genesis else {
            return Err(LedgerError::Corrupt(0, "the ledger has no genesis block".into()));
        };
        let genesis = v1::Block::decode(genesis.as_slice())
            .map_err(|e| e.to_string())
            .and_then(|wire| Block::try_from(wire).map_err(|e| e.to_string()))
            .and_then(|block| ChannelState::genesis(&block))
            .map_err(|e| LedgerError::Corrupt(0, e))?;
        let ledger = PeerLedger::over(db, channel, genesis);
        ledger.load_config()?;
        Ok(ledger)
    }

    fn over(db: redb::Database, channel: &str, config: ChannelState) -> PeerLedger {
        PeerLedger {
            db,
            channel: channel.to_owned(),
            tip: std::sync::Mutex::new(None),
            private: Default::default(),
            missing_marked: Default::default(),
            config: RwLock::new(Arc::new(config)),
        }
    }

    /// Takes up the newest configuration the ledger recorded.
    fn load_config(&self) -> Result<(), LedgerError> {
        let read = self.db.begin_read().map_err(storage)?;
        let newest = match read.open_table(CONFIGS) {
            Ok(table) => table
                .last()
                .map_err(storage)?
                .map(|(block, json)| (block.value(), json.value().to_owned())),
            Err(redb::TableError::TableDoesNotExist(_)) => None,
            Err(e) => return Err(storage(e)),
        };
        if let Some((block, json)) = newest {
            let state = warga_ledger_core::config::ChannelConfig::from_json(&json)
                .map_err(|e| e.to_string())
                .and_then(|config| ChannelState::new(&config, block))
                .map_err(|e| LedgerError::Corrupt(block, format!("the configuration: {e}")))?;
            *self.config.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(state);
        }
        Ok(())
    }

    /// Every configuration the chain made: block → configuration (JSON).
    pub fn configs(&self) -> Result<std::collections::BTreeMap<u64, String>, LedgerError> {
        let read = self.db.begin_read().map_err(storage)?;
        let table = match read.open_table(CONFIGS) {
            Ok(table) => table,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(Default::default()),
            Err(e) => return Err(storage(e)),
        };
        let mut out = std::collections::BTreeMap::new();
        for entry in table.iter().map_err(storage)? {
            let (block, json) = entry.map_err(storage)?;
            out.insert(block.value(), json.value().to_owned());
        }
        Ok(out)
    }

    /// The channel's configuration in force after the newest committed block.
    pub fn config(&self) -> Arc<ChannelState> {
        self.config.read().unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// How many private write sets were marked missing at commit since this ledger opened.
    pub fn missing_marked(&self) -> u64 {
        self.missing_marked.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// How many keys the world state holds.
    /// The whole transaction index: id → (block, position, validation code).
    pub fn tx_index(&self) -> Result<std::collections::BTreeMap<String, (u64, u64, u8)>, LedgerError> {
        let read = self.db.begin_read().map_err(storage)?;
        let table = match read.open_table(TXS) {
            Ok(table) => table,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(Default::default()),
            Err(e) => return Err(storage(e)),
        };
        let mut out = std::collections::BTreeMap::new();
        for entry in table.iter().map_err(storage)? {
            let (key, value) = entry.map_err(storage)?;
            out.insert(key.value().to_owned(), value.value());
        }
        Ok(out)
    }

    /// The whole history index: (`namespace \0 key`, block, tx) → (tx id, timestamp ms,
    /// deleted, value).
    pub fn history_index(&self) -> Result<HistoryIndex, LedgerError> {
        let read = self.db.begin_read().map_err(storage)?;
        let table = match read.open_table(HISTORY) {
            Ok(table) => table,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(Default::default()),
            Err(e) => return Err(storage(e)),
        };
        let mut out = HistoryIndex::new();
        for entry in table.iter().map_err(storage)? {
            let (key, value) = entry.map_err(storage)?;
            let (state_key, block, tx) = key.value();
            let (tx_id, timestamp_ms, deleted, bytes) = value.value();
            out.insert(
                (state_key.to_owned(), block, tx),
                (tx_id.to_owned(), timestamp_ms, deleted, bytes.to_vec()),
            );
        }
        Ok(out)
    }

    pub fn state_len(&self) -> Result<u64, LedgerError> {
        let read = self.db.begin_read().map_err(storage)?;
        match read.open_table(STATE) {
            Ok(table) => table.len().map_err(storage),
            Err(redb::TableError::TableDoesNotExist(_)) => Ok(0),
            Err(e) => Err(storage(e)),
        }
    }

    /// The number of blocks.
    pub fn height(&self) -> Result<u64, LedgerError> {
        let read = self.db.begin_read().map_err(storage)?;
        let table = match read.open_table(BLOCKS) {
            Ok(table) => table,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(0),
            Err(e) => return Err(storage(e)),
        };
        Ok(table.last().map_err(storage)?.map(|(k, _)| k.value() + 1).unwrap_or(0))
    }

    pub fn block(&self, number: u64) -> Result<Option<Block>, LedgerError> {
        let read = self.db.begin_read().map_err(storage)?;
        let table = match read.open_table(BLOCKS) {
            Ok(table) => table,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(None),
            Err(e) => return Err(storage(e)),
        };
        match table.get(number).map_err(storage)? {
            None => Ok(None),
            Some(bytes) => {
                let wire = v1::Block::decode(bytes.value()).map_err(|e| LedgerError::Corrupt(number, e.to_string()))?;
                Block::try_from(wire)
                    .map(Some)
                    .map_err(|e| LedgerError::Corrupt(number, e.to_string()))
            }
        }
    }

    pub fn tx_status(&self, tx_id: &str) -> Result<Option<TxStatus>, LedgerError> {
        let read = self.db.begin_read().map_err(storage)?;
        let table = match read.open_table(TXS) {
            Ok(table) => table,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(None),
            Err(e) => return Err(storage(e)),
        };
        Ok(table.get(tx_id).map_err(storage)?.and_then(|v| {
            let (block, index, code) = v.value();
            ValidationCode::from_u8(code).map(|code| TxStatus { block, index, code })
        }))
    }

    /// A consistent snapshot of world state and history, for simulation and validation.
    pub fn snapshot(&self) -> Result<Snapshot, LedgerError> {
        Ok(Snapshot(self.db.begin_read().map_err(storage)?))
    }

    /// Validates an ordered block (parallel stateless checks, then MVCC in order) under the
    /// configuration in force, records the codes in its metadata and commits it. Returns the
    /// codes.
    pub fn validate_and_commit(&self, block: Block) -> Result<Vec<ValidationCode>, LedgerError> {
        let state = self.config();
        self.commit_prechecked(Prechecked::new(block, &state))
    }

    /// Finishes validating a prechecked block (MVCC and duplicates in order, against the
    /// state the blocks before it left), records the codes in its metadata and commits it.
    /// A configuration block is judged against the configuration in force and, when valid,
    /// replaces it from the next block on. Returns the codes.
    pub fn commit_prechecked(&self, prechecked: Prechecked) -> Result<Vec<ValidationCode>, LedgerError> {
        let Prechecked {
            mut block,
            mut stateless,
            data_hash_ok,
            sequence,
        } = prechecked;
        if !data_hash_ok {
            return Err(LedgerError::BrokenChain(block.header.number));
        }
        let state = self.config();
        let (codes, next) = match &block.data {
            BlockData::Config(_) => {
                return Err(LedgerError::Corrupt(
                    block.header.number,
                    "a genesis block after block 0".into(),
                ));
            }
            BlockData::ConfigUpdate(envelope) => match state.judge(envelope, block.header.number) {
                Ok(next) => (vec![ValidationCode::Valid], Some(next)),
                Err(reason) => {
                    tracing::warn!(block = block.header.number, %reason, channel = %self.channel, "a configuration transaction does not apply");
                    (vec![ValidationCode::InvalidConfigTransaction], None)
                }
            },
            BlockData::Transactions(txs) => {
                // A configuration block committed after the checks ran: run them again
                // under the configuration now in force.
                if sequence != state.sequence() {
                    stateless = stateless_checks(&block, &state);
                }
                if stateless.len() != txs.len() {
                    return Err(storage("a validation thread failed"));
                }
                let snapshot = self.snapshot()?;
                let committed = |id: &str| snapshot.has_tx(id);
                let codes =
                    BlockValidator::new(block.header.number, &snapshot, &committed).validate_all(txs, stateless);
                (codes, None)
            }
        };
        block.metadata.validation_codes = codes.iter().map(|c| *c as u8).collect();
        let previous = self.commit_hash(block.header.number.saturating_sub(1))?;
        block.metadata.commit_hash = warga_ledger_core::block::commit_hash(&previous, &block, &codes).to_vec();
        self.append(&block, &codes, true, next)?;
        Ok(codes)
    }

    /// The first block at which two ledgers of a channel disagree — different commit hashes:
    /// validated or applied differently — or `None` while they agree on every block both
    /// hold.
    pub fn first_divergence(&self, other: &PeerLedger) -> Result<Option<u64>, LedgerError> {
        let common = self.height()?.min(other.height()?);
        for number in 1..common {
            if self.commit_hash(number)? != other.commit_hash(number)? {
                return Ok(Some(number));
            }
        }
        Ok(None)
    }

    /// The commit hash of block `number` (empty for the genesis block and for blocks
    /// committed without validation).
    pub fn commit_hash(&self, number: u64) -> Result<Vec<u8>, LedgerError> {
        if let Ok(tip) = self.tip.lock()
            && let Some((header, hash)) = tip.as_ref()
            && header.number == number
        {
            return Ok(hash.clone());
        }
        Ok(self.block(number)?.map(|b| b.metadata.commit_hash).unwrap_or_default())
    }

    /// Appends a validated block: block, transaction index, state and history in one write.
    pub fn commit(&self, block: &Block, codes: &[ValidationCode]) -> Result<(), LedgerError> {
        let next = match (&block.data, codes) {
            (BlockData::Config(_), _) if block.header.number == 0 => {
                Some(Arc::new(ChannelState::genesis(block).map_err(|e| {
                    LedgerError::Corrupt(0, format!("the configuration: {e}"))
                })?))
            }
            (BlockData::ConfigUpdate(envelope), [ValidationCode::Valid]) => {
                let config = ConfigEnvelope::from_json(envelope)
                    .map(|e| e.update.config)
                    .map_err(|e| e.to_string())
                    .and_then(|config| ChannelState::new(&config, block.header.number))
                    .map_err(|e| LedgerError::Corrupt(block.header.number, format!("the configuration: {e}")))?;
                Some(Arc::new(config))
            }
            _ => None,
        };
        self.append(block, codes, false, next)
    }

    /// The newest block's header: remembered from the last commit, read once otherwise.
    fn tip_header(&self, height: u64) -> Result<Option<BlockHeader>, LedgerError> {
        if height == 0 {
            return Ok(None);
        }
        if let Ok(tip) = self.tip.lock()
            && let Some((header, _)) = tip.as_ref()
            && header.number + 1 == height
        {
            return Ok(Some(header.clone()));
        }
        let block = self
            .block(height - 1)?
            .ok_or(LedgerError::Corrupt(height - 1, "missing".into()))?;
        Ok(Some(block.header))
    }

    /// Appends `block` after the tip, checking the link (and the data hash unless the caller
    /// already did), in one write transaction.
    fn append(
        &self,
        block: &Block,
        codes: &[ValidationCode],
        data_hash_checked: bool,
        next: Option<Arc<ChannelState>>,
    ) -> Result<(), LedgerError> {
        let height = self.height()?;
        if block.header.number != height {
            return Err(LedgerError::OutOfOrder {
                height,
                got: block.header.number,
            });
        }
        let previous = self.tip_header(height)?;
        let linked = match previous.as_ref() {
            None => block.header.number == 0 && block.header.previous_hash == [0; 32],
            Some(p) => block.header.number == p.number + 1 && block.header.previous_hash == p.hash(),
        };
        if !linked || (!data_hash_checked && block.header.data_hash != block.data.hash()) {
            return Err(LedgerError::BrokenChain(block.header.number));
        }
        let txs = block.data.transactions();
        if codes.len() != block.data.code_count() {
            return Err(LedgerError::Corrupt(
                block.header.number,
                format!(
                    "{} validation codes for {} transactions",
                    codes.len(),
                    block.data.code_count()
                ),
            ));
        }
        let bytes = v1::Block::from(block.clone()).encode_to_vec();
        let write = self.db.begin_write().map_err(storage)?;
        {
            let mut blocks = write.open_table(BLOCKS).map_err(storage)?;
            let mut tx_index = write.open_table(TXS).map_err(storage)?;
            let mut state = write.open_table(STATE).map_err(storage)?;
            let mut history = write.open_table(HISTORY).map_err(storage)?;
            blocks.insert(block.header.number, bytes.as_slice()).map_err(storage)?;
            if let Some(next) = &next {
                write
                    .open_table(CONFIGS)
                    .map_err(storage)?
                    .insert(block.header.number, next.resolved.config.to_json().as_str())
                    .map_err(storage)?;
            }
            for (i, (tx, code)) in txs.iter().zip(codes).enumerate() {
                let i = i as u64;
                // The first occurrence of an id keeps the index (a duplicate is invalid anyway).
                if tx_index.get(tx.proposal.tx_id.as_str()).map_err(storage)?.is_none() {
                    tx_index
                        .insert(tx.proposal.tx_id.as_str(), (block.header.number, i, *code as u8))
                        .map_err(storage)?;
                }
                if *code != ValidationCode::Valid {
                    continue;
                }
                for set in tx.response.rwset.namespace_sets() {
                    for w in set.writes {
                        let key = state_key(&set.namespace, &w.key);
                        match &w.value {
                            Some(value) => {
                                state
                                    .insert(key.as_str(), (block.header.number, i, value.as_slice()))
                                    .map_err(storage)?;
                            }
                            None => {
                                state.remove(key.as_str()).map_err(storage)?;
                            }
                        }
                        let value = w.value.as_deref().unwrap_or(&[]);
                        history
                            .insert(
                                (key.as_str(), block.header.number, i),
                                (
                                    tx.proposal.tx_id.as_str(),
                                    tx.proposal.timestamp_ms,
                                    w.value.is_none(),
                                    value,
                                ),
                            )
                            .map_err(storage)?;
                    }
                }
            }
        }
        if !txs.is_empty() {
            let valid: Vec<bool> = codes.iter().map(|c| *c == ValidationCode::Valid).collect();
            let marked = private::commit_block(&write, &self.private_scope(), block.header.number, txs, &valid)?;
            if marked > 0 {
                self.missing_marked
                    .fetch_add(marked, std::sync::atomic::Ordering::Relaxed);
            }
        }
        // Tests crash here, with everything written and nothing yet durable.
        crash_point("peer-commit", block.header.number);
        write.commit().map_err(storage)?;
        if let Ok(mut tip) = self.tip.lock() {
            *tip = Some((block.header.clone(), block.metadata.commit_hash.clone()));
        }
        if let Some(next) = next {
            *self.config.write().unwrap_or_else(PoisonError::into_inner) = next;
        }
        Ok(())
    }
}

/// A crash point (failpoint) for tests of recovery, compiled only with the `failpoints`
/// feature — which test builds enable and release builds do not: with
/// `WARGA_TEST_CRASH_AT=<name>:<n>` in the environment the process aborts (no cleanup, as
/// `kill -9`) when it reaches point `name` for item `n`. Read once.
#[cfg(feature = "failpoints")]
pub fn crash_point(name: &str, n: u64) {
    static AT: std::sync::OnceLock<Option<(String, u64)>> = std::sync::OnceLock::new();
    let at = AT.get_or_init(|| {
        let value = std::env::var("WARGA_TEST_CRASH_AT").ok()?;
        let (point, number) = value.split_once(':')?;
        Some((point.to_owned(), number.parse().ok()?))
    });
    if let Some((point, number)) = at
        && point == name
        && *number == n
    {
        eprintln!("WARGA_TEST_CRASH_AT: aborting at {name} {n}");
        std::process::abort();
    }
}

/// Without the `failpoints` feature a crash point is nothing at all.
#[cfg(not(feature = "failpoints"))]
#[inline(always)]
pub fn crash_point(_name: &str, _n: u64) {}

/// A read snapshot of the ledger.
pub struct Snapshot(redb::ReadTransaction);

impl Snapshot {
    fn has_tx(&self, tx_id: &str) -> bool {
        self.0
            .open_table(TXS)
            .ok()
            .and_then(|t| t.get(tx_id).ok().flatten())
            .is_some()
    }
}

impl StateReader for Snapshot {
    fn get(&self, namespace: &str, key: &str) -> Option<VersionedValue> {
        let table = self.0.open_table(STATE).ok()?;
        let found = table.get(state_key(namespace, key).as_str()).ok()??;
        let (block, tx, value) = found.value();
        Some(VersionedValue {
            value: value.to_vec(),
            version: Version { block, tx },
        })
    }

    fn range(&self, namespace: &str, start: &str, end: &str, limit: usize) -> Vec<(String, VersionedValue)> {
        let Ok(table) = self.0.open_table(STATE) else {
            return Vec::new();
        };
        let from = state_key(namespace, start);
        // Without an end: every key of the namespace (`\u{1}` sorts after the separator).
        let to = if end.is_empty() {
            format!("{namespace}\u{1}")
        } else {
            state_key(namespace, end)
        };
        let prefix_len = namespace.len() + 1;
        let Ok(range) = table.range(from.as_str()..to.as_str()) else {
            return Vec::new();
        };
        range
            .filter_map(Result::ok)
            .take(limit)
            .map(|(k, v)| {
                let (block, tx, value) = v.value();
                (
                    k.value()[prefix_len..].to_owned(),
                    VersionedValue {
                        value: value.to_vec(),
                        version: Version { block, tx },
                    },
                )
            })
            .collect()
    }

    fn private(&self, namespace: &str, collection: &str, key: &str) -> Option<Vec<u8>> {
        private::read_private(&self.0, namespace, collection, key)
    }

    fn history(&self, namespace: &str, key: &str) -> Vec<HistoryEntry> {
        let Ok(table) = self.0.open_table(HISTORY) else {
            return Vec::new();
        };
        let key = state_key(namespace, key);
        let Ok(range) = table.range((key.as_str(), 0, 0)..=(key.as_str(), u64::MAX, u64::MAX)) else {
            return Vec::new();
        };
        range
            .filter_map(Result::ok)
            .map(|(k, v)| {
                let (_, block, tx) = k.value();
                let (tx_id, timestamp_ms, deleted, value) = v.value();
                HistoryEntry {
                    tx_id: tx_id.to_owned(),
                    version: Version { block, tx },
                    timestamp_ms,
                    value: (!deleted).then(|| value.to_vec()),
                }
            })
            .collect()
    }
}
