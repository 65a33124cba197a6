//! An orderer's durable state in one redb file: the Raft log (entries, vote, committed,
//! purged) and the state machine — the channel's blocks — with the last applied log id and
//! membership. Blocks are built at apply time from the replicated batch, so every orderer
//! derives the same header from the same log; each signs the blocks it stores.
//!
//! A snapshot is the chain's tip — the last block and the membership — not the chain: its
//! size does not grow with the chain. An orderer that installs one stores the tip, notes
//! the blocks it lacks below it (the *gap*), and pulls them from the other orderers over
//! Deliver, as Fabric's onboarding does ([`crate::catch_up`]); each pulled block must chain
//! to the block before it, and the last to the tip, so no orderer can slip in another.

// openraft's `StorageError` is large, and it is what the storage traits return; the helpers
// here return it too rather than converting twice.
#![allow(clippy::result_large_err)]

use std::fmt::Debug;
use std::ops::RangeBounds;
use std::sync::Arc;

use openraft::storage::{LogFlushed, LogState, RaftLogStorage, RaftStateMachine, Snapshot};
use openraft::{
    Entry, EntryPayload, LogId, OptionalSend, RaftLogReader, RaftSnapshotBuilder, SnapshotMeta, StorageError,
    StorageIOError, StoredMembership, Vote,
};
use prost::Message;
use redb::{ReadableDatabase, ReadableTable, TableDefinition, TableHandle};
use warga_ledger_core::block::{Block, BlockData, BlockHeader};
use warga_ledger_core::config::{ChannelConfig, ConfigEnvelope};
use warga_ledger_msp::SigningIdentity;
use warga_ledger_proto::v1;

use crate::{Batch, Ordered, TypeConfig};

type NodeId = u64;
type Membership = StoredMembership<NodeId, openraft::BasicNode>;
/// The applied log id, the membership and the last block (encoded), read together.
type AppliedTip = (Option<LogId<NodeId>>, Membership, Vec<u8>, Option<(u64, String)>);

const LOG: TableDefinition<u64, &[u8]> = TableDefinition::new("raft_log");
const META: TableDefinition<&str, &[u8]> = TableDefinition::new("raft_meta");
const BLOCKS: TableDefinition<u64, &[u8]> = TableDefinition::new("blocks");

fn io_error(e: impl std::fmt::Display) -> StorageError<NodeId> {
    StorageIOError::write(&std::io::Error::other(e.to_string())).into()
}

fn read_error(e: impl std::fmt::Display) -> StorageError<NodeId> {
    StorageIOError::read(&std::io::Error::other(e.to_string())).into()
}

/// The shared database of one orderer.
#[derive(Clone)]
pub struct OrdererDb(Arc<redb::Database>);

/// The most memory an orderer's page cache holds (redb's default, 1 GiB, would grow with the
/// chain): orderers append and serve recent blocks, so a small cache serves them.
pub const CACHE_BYTES: usize = 32 * 1024 * 1024;

impl OrdererDb {
    pub fn open(path: &std::path::Path) -> Result<OrdererDb, redb::Error> {
        let db = redb::Builder::new().set_cache_size(CACHE_BYTES).create(path)?;
        let write = db.begin_write()?;
        write.open_table(LOG)?;
        write.open_table(META)?;
        write.open_table(BLOCKS)?;
        write.commit()?;
        Ok(OrdererDb(Arc::new(db)))
    }

    fn meta<T: serde::de::DeserializeOwned>(&self, key: &str) -> Result<Option<T>, StorageError<NodeId>> {
        let read = self.0.begin_read().map_err(read_error)?;
        let table = read.open_table(META).map_err(read_error)?;
        match table.get(key).map_err(read_error)? {
            Some(bytes) => serde_json::from_slice(bytes.value()).map(Some).map_err(read_error),
            None => Ok(None),
        }
    }

    fn put_meta<T: serde::Serialize>(&self, key: &str, value: &T) -> Result<(), StorageError<NodeId>> {
        let bytes = serde_json::to_vec(value).map_err(io_error)?;
        let write = self.0.begin_write().map_err(io_error)?;
        write
            .open_table(META)
            .map_err(io_error)?
            .insert(key, bytes.as_slice())
            .map_err(io_error)?;
        write.commit().map_err(io_error)
    }

    /// The channel's configuration in force and the block that made it.
    pub fn config(&self) -> Result<(u64, ChannelConfig), String> {
        let (block, json): (u64, String) = self
            .meta("config")
            .map_err(|e| e.to_string())?
            .ok_or("the orderer holds no channel configuration")?;
        Ok((block, ChannelConfig::from_json(&json).map_err(|e| e.to_string())?))
    }

    /// The applied log id and membership, and the last block, read in one transaction.
    fn consistent_state(&self) -> Result<AppliedTip, StorageError<NodeId>> {
        let read = self.0.begin_read().map_err(read_error)?;
        let meta = read.open_table(META).map_err(read_error)?;
        let get = |key: &str| -> Result<Option<Vec<u8>>, StorageError<NodeId>> {
            Ok(meta.get(key).map_err(read_error)?.map(|v| v.value().to_vec()))
        };
        let applied: Option<LogId<NodeId>> = match get("applied")? {
            Some(bytes) => serde_json::from_slice::<Option<LogId<NodeId>>>(&bytes).map_err(read_error)?,
            None => None,
        };
        let membership = match get("membership")? {
            Some(bytes) => serde_json::from_slice(&bytes).map_err(read_error)?,
            None => StoredMembership::default(),
        };
        let tip = read
            .open_table(BLOCKS)
            .map_err(read_error)?
            .last()
            .map_err(read_error)?
            .map(|(_, v)| v.value().to_vec())
            .ok_or_else(|| read_error("no genesis block"))?;
        let config = match get("config")? {
            Some(bytes) => Some(serde_json::from_slice(&bytes).map_err(read_error)?),
            None => None,
        };
        Ok((applied, membership, tip, config))
    }

    /// The blocks this orderer lacks below its tip after installing a snapshot, `from..to`
    /// (none when its chain is whole).
    pub fn gap(&self) -> Result<Option<(u64, u64)>, redb::Error> {
        let read = self.0.begin_read()?;
        let meta = read.open_table(META)?;
        match meta.get("gap")? {
            Some(bytes) => serde_json::from_slice(bytes.value()).map_err(|e| redb::Error::Corrupted(e.to_string())),
            None => Ok(None),
        }
    }

    /// Stores blocks pulled to fill the gap (encoded, in order from the gap's start) after
    /// checking that they chain from the block below the gap and, when they close it, into
    /// the block above; returns the gap that remains.
    pub fn fill_gap(&self, blocks: &[Vec<u8>]) -> Result<Option<(u64, u64)>, String> {
        let Some((from, to)) = self.gap().map_err(|e| e.to_string())? else {
            return Ok(None);
        };
        let below = self
            .block(from.saturating_sub(1))
            .map_err(|e| e.to_string())?
            .ok_or_else(|| format!("block {} below the gap is missing", from.saturating_sub(1)))?;
        let mut previous = below.header;
        let mut next = from;
        for bytes in blocks.iter().take((to - from) as usize) {
            let block = v1::Block::decode(bytes.as_slice())
                .map_err(|e| e.to_string())
                .and_then(|w| Block::try_from(w).map_err(|e| e.to_string()))?;
            if !block.links_to(Some(&previous)) {
                return Err(format!(
                    "block {} does not chain to block {}",
                    block.header.number, previous.number
                ));
            }
            previous = block.header;
            next += 1;
        }
        if next == to {
            let above = self
                .block(to)
                .map_err(|e| e.to_string())?
                .ok_or_else(|| format!("block {to} above the gap is missing"))?;
            if !above.links_to(Some(&previous)) {
                return Err(format!(
                    "the pulled blocks do not chain to block {to}, the snapshot's tip"
                ));
            }
        }
        let remaining = (next < to).then_some((next, to));
        let write = self.0.begin_write().map_err(|e| e.to_string())?;
        {
            let mut table = write.open_table(BLOCKS).map_err(|e| e.to_string())?;
            for (number, bytes) in (from..next).zip(blocks) {
                table.insert(number, bytes.as_slice()).map_err(|e| e.to_string())?;
            }
        }
        put_meta_in(&write, "gap", &remaining).map_err(|e| e.to_string())?;
        write.commit().map_err(|e| e.to_string())?;
        Ok(remaining)
    }

    /// The number of the next block this orderer will build (its tip's number + 1). With a
    /// gap, blocks below the tip may still be missing: see [`OrdererDb::gap`].
    pub fn height(&self) -> Result<u64, redb::Error> {
        let read = self.0.begin_read()?;
        let table = read.open_table(BLOCKS)?;
        Ok(table.last()?.map(|(k, _)| k.value() + 1).unwrap_or(0))
    }

    /// Writes blocks as they are (a test harness's chain).
    #[cfg(feature = "testing")]
    pub(crate) fn insert_blocks(&self, blocks: &[(u64, Vec<u8>)]) -> Result<(), redb::Error> {
        let write = self.0.begin_write()?;
        {
            let mut table = write.open_table(BLOCKS)?;
            for (number, bytes) in blocks {
                table.insert(*number, bytes.as_slice())?;
            }
        }
        write.commit()?;
        Ok(())
    }

    /// Blocks `from..to` as stored (encoded), stopping at the first this orderer lacks.
    pub fn encoded_blocks(&self, from: u64, to: u64) -> Result<Vec<Vec<u8>>, redb::Error> {
        let read = self.0.begin_read()?;
        let table = read.open_table(BLOCKS)?;
        let mut out = Vec::new();
        for number in from..to {
            match table.get(number)? {
                Some(bytes) => out.push(bytes.value().to_vec()),
                None => break,
            }
        }
        Ok(out)
    }

    /// Block `number`, if stored.
    pub fn block(&self, number: u64) -> Result<Option<Block>, redb::Error> {
        let read = self.0.begin_read()?;
        let table = read.open_table(BLOCKS)?;
        let Some(bytes) = table.get(number)? else {
            return Ok(None);
        };
        let wire = v1::Block::decode(bytes.value()).map_err(|e| redb::Error::Corrupted(e.to_string()))?;
        Block::try_from(wire)
            .map(Some)
            .map_err(|e| redb::Error::Corrupted(e.to_string()))
    }
}

/// What [`OrdererDb::copy_to`] wrote.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OrdererCopy {
    /// The index of the last log entry applied (and so committed) in the copy.
    pub applied: Option<u64>,
    /// Blocks in the copy (the tip's number + 1).
    pub height: u64,
    /// Whether blocks below the tip were still missing (a snapshot's gap).
    pub gap: bool,
}

impl OrdererDb {
    /// Writes a consistent copy of this orderer's state to `path` (which must not exist), all
    /// read in one read transaction: the blocks, the Raft metadata, and the log **up to the
    /// last applied entry** — the copy holds only committed entries, so every orderer of a
    /// restored network may start from it and none can order a block its peers' copies
    /// contradict. Its committed index is the applied one.
    pub fn copy_to(&self, path: &std::path::Path) -> Result<OrdererCopy, redb::Error> {
        if path.exists() {
            return Err(redb::Error::Io(std::io::Error::new(
                std::io::ErrorKind::AlreadyExists,
                format!("{} already exists", path.display()),
            )));
        }
        let read = self.0.begin_read()?;
        let meta = read.open_table(META)?;
        let decode =
            |key: &str| -> Result<Option<Vec<u8>>, redb::Error> { Ok(meta.get(key)?.map(|v| v.value().to_vec())) };
        let applied: Option<LogId<NodeId>> = match decode("applied")? {
            Some(bytes) => serde_json::from_slice::<Option<LogId<NodeId>>>(&bytes)
                .map_err(|e| redb::Error::Corrupted(e.to_string()))?,
            None => None,
        };
        let gap = match decode("gap")? {
            Some(bytes) => serde_json::from_slice::<Option<(u64, u64)>>(&bytes)
                .map_err(|e| redb::Error::Corrupted(e.to_string()))?
                .is_some(),
            None => false,
        };
        let target = redb::Builder::new().create(path)?;
        let write = target.begin_write()?;
        {
            let mut out = write.open_table(META)?;
            for entry in meta.iter()? {
                let (key, value) = entry?;
                out.insert(key.value(), value.value())?;
            }
            let committed = serde_json::to_vec(&applied).map_err(|e| redb::Error::Corrupted(e.to_string()))?;
            out.insert("committed", committed.as_slice())?;
            let mut out = write.open_table(BLOCKS)?;
            for entry in read.open_table(BLOCKS)?.iter()? {
                let (key, value) = entry?;
                out.insert(key.value(), value.value())?;
            }
            let mut out = write.open_table(LOG)?;
            if let Some(applied) = applied {
                for entry in read.open_table(LOG)?.range(..=applied.index)? {
                    let (key, value) = entry?;
                    out.insert(key.value(), value.value())?;
                }
            }
        }
        for table in read.list_tables()? {
            let name = redb::TableHandle::name(&table).to_owned();
            if ![LOG.name(), META.name(), BLOCKS.name()].contains(&name.as_str()) {
                return Err(redb::Error::Corrupted(format!("the copy does not know table {name}")));
            }
        }
        write.commit()?;
        let height = read
            .open_table(BLOCKS)?
            .last()?
            .map(|(k, _)| k.value() + 1)
            .unwrap_or(0);
        Ok(OrdererCopy {
            applied: applied.map(|id| id.index),
            height,
            gap,
        })
    }
}

// ---------------------------------------------------------------------------------------
// The Raft log

/// The Raft log in redb.
#[derive(Clone)]
pub struct LogStore(pub OrdererDb);

impl RaftLogReader<TypeConfig> for LogStore {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> Result<Vec<Entry<TypeConfig>>, StorageError<NodeId>> {
        let read = self.0.0.begin_read().map_err(read_error)?;
        let table = read.open_table(LOG).map_err(read_error)?;
        let mut out = Vec::new();
        for item in table.range(range).map_err(read_error)? {
            let (_, value) = item.map_err(read_error)?;
            out.push(serde_json::from_slice(value.value()).map_err(read_error)?);
        }
        Ok(out)
    }
}

impl RaftLogStorage<TypeConfig> for LogStore {
    type LogReader = Self;

    async fn get_log_state(&mut self) -> Result<LogState<TypeConfig>, StorageError<NodeId>> {
        let last_purged: Option<LogId<NodeId>> = self.0.meta("purged")?;
        let read = self.0.0.begin_read().map_err(read_error)?;
        let table = read.open_table(LOG).map_err(read_error)?;
        let last = match table.last().map_err(read_error)? {
            Some((_, value)) => {
                let entry: Entry<TypeConfig> = serde_json::from_slice(value.value()).map_err(read_error)?;
                Some(entry.log_id)
            }
            None => last_purged,
        };
        Ok(LogState {
            last_purged_log_id: last_purged,
            last_log_id: last,
        })
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &Vote<NodeId>) -> Result<(), StorageError<NodeId>> {
        self.0.put_meta("vote", vote)
    }

    async fn read_vote(&mut self) -> Result<Option<Vote<NodeId>>, StorageError<NodeId>> {
        self.0.meta("vote")
    }

    async fn save_committed(&mut self, committed: Option<LogId<NodeId>>) -> Result<(), StorageError<NodeId>> {
        self.0.put_meta("committed", &committed)
    }

    async fn read_committed(&mut self) -> Result<Option<LogId<NodeId>>, StorageError<NodeId>> {
        Ok(self.0.meta::<Option<LogId<NodeId>>>("committed")?.flatten())
    }

    async fn append<I>(&mut self, entries: I, callback: LogFlushed<TypeConfig>) -> Result<(), StorageError<NodeId>>
    where
        I: IntoIterator<Item = Entry<TypeConfig>> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let write = self.0.0.begin_write().map_err(io_error)?;
        {
            let mut table = write.open_table(LOG).map_err(io_error)?;
            for entry in entries {
                let bytes = serde_json::to_vec(&entry).map_err(io_error)?;
                table.insert(entry.log_id.index, bytes.as_slice()).map_err(io_error)?;
            }
        }
        // redb's commit is durable (fsync) by default: the callback follows the flush.
        let result = write.commit().map_err(|e| std::io::Error::other(e.to_string()));
        let failed = result.as_ref().err().map(|e| e.to_string());
        callback.log_io_completed(result);
        match failed {
            Some(e) => Err(io_error(e)),
            None => Ok(()),
        }
    }

    async fn truncate(&mut self, log_id: LogId<NodeId>) -> Result<(), StorageError<NodeId>> {
        let write = self.0.0.begin_write().map_err(io_error)?;
        {
            let mut table = write.open_table(LOG).map_err(io_error)?;
            table.retain(|index, _| index < log_id.index).map_err(io_error)?;
        }
        write.commit().map_err(io_error)
    }

    async fn purge(&mut self, log_id: LogId<NodeId>) -> Result<(), StorageError<NodeId>> {
        self.0.put_meta("purged", &log_id)?;
        let write = self.0.0.begin_write().map_err(io_error)?;
        {
            let mut table = write.open_table(LOG).map_err(io_error)?;
            table.retain(|index, _| index > log_id.index).map_err(io_error)?;
        }
        write.commit().map_err(io_error)
    }
}

// ---------------------------------------------------------------------------------------
// The state machine: the channel's blocks

/// What a snapshot carries: the chain's tip — the last block (encoded) at the snapshot's
/// log id. A lagging or new orderer installs it, continues from the log, and pulls the
/// blocks below the tip that it lacks from the other orderers — and the channel's
/// configuration in force at the tip (with the block that made it), which the orderer
/// judges the next configuration update against.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ChainSnapshot {
    #[serde(with = "crate::base64_bytes")]
    pub tip: Vec<u8>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<(u64, String)>,
}

/// The state machine of one orderer.
#[derive(Clone)]
pub struct BlockMachine {
    db: OrdererDb,
    signer: Arc<SigningIdentity>,
    /// Told when a snapshot left a gap to fill.
    gap: Arc<tokio::sync::Notify>,
    /// The block of the configuration in force, sent when one is applied (the block
    /// cutter takes up its batch settings).
    config: Arc<tokio::sync::watch::Sender<u64>>,
}

impl BlockMachine {
    /// A state machine over `db`, whose first block must be `genesis`, signing with `signer`.
    pub fn new(db: OrdererDb, genesis: &Block, signer: Arc<SigningIdentity>) -> Result<BlockMachine, redb::Error> {
        if db.height()? == 0 {
            let BlockData::Config(config) = &genesis.data else {
                return Err(redb::Error::Corrupted(
                    "the genesis block carries no configuration".into(),
                ));
            };
            let config = serde_json::to_vec(&(0u64, config)).map_err(|e| redb::Error::Corrupted(e.to_string()))?;
            let write = db.0.begin_write()?;
            write
                .open_table(BLOCKS)?
                .insert(0, v1::Block::from(genesis.clone()).encode_to_vec().as_slice())?;
            write.open_table(META)?.insert("config", config.as_slice())?;
            write.commit()?;
        }
        Ok(BlockMachine {
            db,
            signer,
            gap: Arc::new(tokio::sync::Notify::new()),
            config: Arc::new(tokio::sync::watch::channel(0).0),
        })
    }

    /// Notified whenever installing a snapshot left blocks to pull.
    /// Told the block of each configuration applied from now on.
    pub fn config_watch(&self) -> tokio::sync::watch::Receiver<u64> {
        self.config.subscribe()
    }

    pub fn gap_notify(&self) -> Arc<tokio::sync::Notify> {
        self.gap.clone()
    }

    /// Builds the block after `tip` holding `data`, signs it as this orderer and writes it
    /// in `write`.
    fn append_block(
        &self,
        write: &redb::WriteTransaction,
        tip: &BlockHeader,
        data: BlockData,
    ) -> Result<Block, StorageError<NodeId>> {
        let mut block = Block::next_with(tip, data);
        warga_ledger_msp::sign_block(&mut block, &self.signer).map_err(io_error)?;
        let bytes = v1::Block::from(block.clone()).encode_to_vec();
        write
            .open_table(BLOCKS)
            .map_err(io_error)?
            .insert(block.header.number, bytes.as_slice())
            .map_err(io_error)?;
        Ok(block)
    }

    fn tip(&self) -> Result<BlockHeader, StorageError<NodeId>> {
        let height = self.db.height().map_err(read_error)?;
        let block = self
            .db
            .block(height.saturating_sub(1))
            .map_err(read_error)?
            .ok_or_else(|| read_error("no genesis block"))?;
        Ok(block.header)
    }
}

impl RaftSnapshotBuilder<TypeConfig> for BlockMachine {
    async fn build_snapshot(&mut self) -> Result<Snapshot<TypeConfig>, StorageError<NodeId>> {
        let (last_log_id, last_membership, tip, config) = self.db.consistent_state()?;
        let snapshot_id = format!("{}-{}", last_log_id.map(|l| l.index).unwrap_or(0), tip.len());
        Ok(Snapshot {
            meta: SnapshotMeta {
                last_log_id,
                last_membership,
                snapshot_id,
            },
            snapshot: Box::new(ChainSnapshot { tip, config }),
        })
    }
}

fn put_meta_in<T: serde::Serialize>(
    write: &redb::WriteTransaction,
    key: &str,
    value: &T,
) -> Result<(), StorageError<NodeId>> {
    let bytes = serde_json::to_vec(value).map_err(io_error)?;
    write
        .open_table(META)
        .map_err(io_error)?
        .insert(key, bytes.as_slice())
        .map_err(io_error)?;
    Ok(())
}

impl RaftStateMachine<TypeConfig> for BlockMachine {
    type SnapshotBuilder = Self;

    async fn applied_state(
        &mut self,
    ) -> Result<(Option<LogId<NodeId>>, StoredMembership<NodeId, openraft::BasicNode>), StorageError<NodeId>> {
        let applied = self.db.meta::<Option<LogId<NodeId>>>("applied")?.flatten();
        let membership = self.db.meta("membership")?.unwrap_or_default();
        Ok((applied, membership))
    }

    async fn apply<I>(&mut self, entries: I) -> Result<Vec<Ordered>, StorageError<NodeId>>
    where
        I: IntoIterator<Item = Entry<TypeConfig>> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let mut responses = Vec::new();
        let mut tip = self.tip()?;
        let mut applied_config = None;
        for entry in entries {
            // The entry's effect and the applied log id commit together: a crash re-applies
            // an entry entirely or not at all, never builds its block twice.
            let write = self.db.0.begin_write().map_err(io_error)?;
            let response = match entry.payload {
                EntryPayload::Blank => Ordered::default(),
                EntryPayload::Membership(membership) => {
                    put_meta_in(
                        &write,
                        "membership",
                        &StoredMembership::new(Some(entry.log_id), membership),
                    )?;
                    Ordered::default()
                }
                EntryPayload::Normal(Batch {
                    config: Some(envelope), ..
                }) => {
                    // Judged against the configuration of this moment, the same on every
                    // orderer: an update overtaken by another of its sequence makes no block.
                    let (_, current) = self.db.config().map_err(read_error)?;
                    match ConfigEnvelope::from_json(&envelope)
                        .map_err(|e| e.to_string())
                        .and_then(|parsed| warga_ledger_msp::channel::judge_update(&current, &parsed))
                    {
                        Err(reason) => {
                            tracing::warn!(%reason, index = entry.log_id.index, "a configuration update no longer applied when ordered");
                            Ordered {
                                block: None,
                                refused: Some(reason),
                            }
                        }
                        Ok(next) => {
                            let block = self.append_block(&write, &tip, BlockData::ConfigUpdate(envelope))?;
                            put_meta_in(&write, "config", &(block.header.number, next.config.to_json()))?;
                            tip = block.header.clone();
                            applied_config = Some(block.header.number);
                            tracing::info!(
                                block = block.header.number,
                                sequence = next.config.sequence,
                                "ordered a configuration update"
                            );
                            Ordered {
                                block: Some(block.header.number),
                                refused: None,
                            }
                        }
                    }
                }
                EntryPayload::Normal(Batch { transactions, .. }) => {
                    let txs = transactions
                        .iter()
                        .map(|bytes| {
                            v1::Transaction::decode(bytes.as_slice())
                                .map_err(|e| e.to_string())
                                .and_then(|t| {
                                    warga_ledger_core::tx::Transaction::try_from(t).map_err(|e| e.to_string())
                                })
                        })
                        .collect::<Result<Vec<_>, _>>();
                    match txs {
                        // The leader only proposes decodable transactions; a batch that is not
                        // is skipped on every orderer alike.
                        Err(error) => {
                            tracing::error!(%error, index = entry.log_id.index, "an undecodable batch was skipped");
                            Ordered::default()
                        }
                        Ok(txs) => {
                            let block = self.append_block(&write, &tip, BlockData::Transactions(txs))?;
                            tip = block.header.clone();
                            Ordered {
                                block: Some(block.header.number),
                                refused: None,
                            }
                        }
                    }
                }
            };
            put_meta_in(&write, "applied", &Some(entry.log_id))?;
            write.commit().map_err(io_error)?;
            responses.push(response);
        }
        if let Some(block) = applied_config {
            self.config.send_replace(block);
        }
        Ok(responses)
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        self.clone()
    }

    async fn begin_receiving_snapshot(&mut self) -> Result<Box<ChainSnapshot>, StorageError<NodeId>> {
        Ok(Box::new(ChainSnapshot {
            tip: Vec::new(),
            config: None,
        }))
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMeta<NodeId, openraft::BasicNode>,
        snapshot: Box<ChainSnapshot>,
    ) -> Result<(), StorageError<NodeId>> {
        let tip = v1::Block::decode(snapshot.tip.as_slice())
            .map_err(read_error)
            .and_then(|w| Block::try_from(w).map_err(read_error))?;
        if tip.header.data_hash != tip.data.hash() {
            return Err(read_error(format!(
                "the snapshot's tip block {} is altered",
                tip.header.number
            )));
        }
        let number = tip.header.number;
        let height = self.db.height().map_err(read_error)?;
        let gap = match self.db.block(number).map_err(read_error)? {
            // The tip is a block this orderer has: it must be the same block.
            Some(own) if own.header.hash() != tip.header.hash() => {
                return Err(read_error(format!(
                    "the snapshot's block {number} is not this orderer's block {number}"
                )));
            }
            Some(_) => self.db.gap().map_err(read_error)?,
            // Below the tip, what this orderer lacks: its own gap, or from its height on.
            None => match self.db.gap().map_err(read_error)? {
                Some((from, _)) => Some((from, number)),
                None if height < number => Some((height, number)),
                None => None,
            },
        };
        let write = self.db.0.begin_write().map_err(io_error)?;
        {
            let mut table = write.open_table(BLOCKS).map_err(io_error)?;
            // Blocks above the tip are rebuilt from the log that follows the snapshot.
            table.retain(|n, _| n <= number).map_err(io_error)?;
            if table.get(number).map_err(io_error)?.is_none() {
                table.insert(number, snapshot.tip.as_slice()).map_err(io_error)?;
            }
        }
        put_meta_in(&write, "applied", &meta.last_log_id)?;
        put_meta_in(&write, "membership", &meta.last_membership)?;
        put_meta_in(&write, "gap", &gap)?;
        if let Some(config) = &snapshot.config {
            put_meta_in(&write, "config", config)?;
        }
        write.commit().map_err(io_error)?;
        if let Some((block, _)) = &snapshot.config {
            self.config.send_replace(*block);
        }
        if let Some((from, to)) = gap {
            tracing::info!(
                tip = number,
                from,
                to,
                "installed a snapshot (the chain's tip); pulling the blocks below it from the other orderers"
            );
            self.gap.notify_one();
        }
        Ok(())
    }

    async fn get_current_snapshot(&mut self) -> Result<Option<Snapshot<TypeConfig>>, StorageError<NodeId>> {
        // Built on demand from the block store, in one read: it always matches the applied state.
        let snapshot = self.build_snapshot().await?;
        Ok(snapshot.meta.last_log_id.is_some().then_some(snapshot))
    }
}
