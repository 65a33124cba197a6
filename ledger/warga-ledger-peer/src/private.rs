//! Private data on a peer, as Fabric keeps it: the chain carries only a collection's hashes
//! (in the world state under the collection's hashed namespace, on every peer); a peer of a
//! member organisation also keeps the writes in clear.
//!
//! - the *transient store*: private writes an endorsing peer handed over before the
//!   transaction committed (by transaction id), dropped at commit or after
//!   [`TRANSIENT_BLOCKS`] blocks;
//! - the *private write sets* of committed transactions, per (block, transaction, namespace,
//!   collection) — what a member peer that missed them fetches (reconciliation);
//! - the *private state*: each key's current value in clear;
//! - *missing* write sets a member peer should hold but did not receive, for the reconciler;
//! - *expiry*: when a collection's `block_to_live` purges a write set and its values.
//!
//! At commit (in the block's one write transaction) a member peer takes a transaction's
//! private writes from the transient store, keeps them only if they hash to exactly what
//! the block carries, and otherwise marks them missing. None of this changes a validation
//! code or a commit hash: those come from the hashes every peer has.

use std::collections::BTreeMap;

use prost::Message;
use redb::{ReadableDatabase, ReadableTable, TableDefinition, WriteTransaction};
use warga_ledger_core::network::{Channel, Collection};
use warga_ledger_core::rwset::{PrivateWrites, hashed_namespace, key_hash};
use warga_ledger_core::tx::Transaction;
use warga_ledger_proto::v1;

use crate::{LedgerError, state_key, storage};

/// Transaction id → (height when received, the pushed writes as `v1::PrivateDataPush`).
pub(crate) const TRANSIENT: TableDefinition<&str, (u64, &[u8])> = TableDefinition::new("pvt_transient");
/// (height when received, transaction id): the transient store in age order, for purging.
const TRANSIENT_AGE: TableDefinition<(u64, &str), ()> = TableDefinition::new("pvt_transient_age");
/// (block, tx, namespace, collection) → the committed private writes (`v1::PrivateWrites`).
const WRITES: TableDefinition<(u64, u64, &str, &str), &[u8]> = TableDefinition::new("pvt_writes");
/// `namespace \0 collection \0 key` → (block, tx, value).
pub(crate) const STATE: TableDefinition<&str, (u64, u64, &[u8])> = TableDefinition::new("pvt_state");
/// (block, tx, namespace, collection) of write sets this peer should hold and does not.
const MISSING: TableDefinition<(u64, u64, &str, &str), ()> = TableDefinition::new("pvt_missing");
/// (expiring block, block, tx, namespace, collection): purged when the expiring block commits.
const EXPIRY: TableDefinition<(u64, u64, u64, &str, &str), ()> = TableDefinition::new("pvt_expiry");

/// Every table of the private data stores, by name (a ledger copy checks it knows them all).
pub(crate) const TABLES: [&str; 6] = [
    "pvt_transient",
    "pvt_transient_age",
    "pvt_writes",
    "pvt_state",
    "pvt_missing",
    "pvt_expiry",
];

/// Copies every private data table (for [`PeerLedger::copy_to`](crate::PeerLedger::copy_to)).
pub(crate) fn copy_tables(read: &redb::ReadTransaction, write: &WriteTransaction) -> Result<u64, LedgerError> {
    use crate::backup::copy_table;
    Ok(copy_table(read, write, TRANSIENT)?
        + copy_table(read, write, TRANSIENT_AGE)?
        + copy_table(read, write, WRITES)?
        + copy_table(read, write, STATE)?
        + copy_table(read, write, MISSING)?
        + copy_table(read, write, EXPIRY)?)
}

/// How many blocks private writes wait in the transient store for their transaction.
pub const TRANSIENT_BLOCKS: u64 = 1000;

/// Where a transaction's private writes to one collection belong.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct PrivateKey {
    pub block: u64,
    pub tx: u64,
    pub namespace: String,
    pub collection: String,
}

/// Which private data this ledger keeps: the collections of its channel's chaincodes of
/// which its peer's organisation is a member.
#[derive(Clone, Debug, Default)]
pub struct PrivateScope {
    pub msp_id: String,
    /// (namespace, collection) → the definition.
    pub collections: BTreeMap<(String, String), Collection>,
}

impl PrivateScope {
    pub fn new(channel: &Channel, msp_id: &str) -> PrivateScope {
        let collections = channel
            .chaincodes
            .iter()
            .flat_map(|cc| {
                cc.collections
                    .iter()
                    .map(|c| ((cc.name.clone(), c.name.clone()), c.clone()))
            })
            .collect();
        PrivateScope {
            msp_id: msp_id.to_owned(),
            collections,
        }
    }

    /// The collection, if this peer's organisation is one of its members.
    pub fn member_of(&self, namespace: &str, collection: &str) -> Option<&Collection> {
        self.collections
            .get(&(namespace.to_owned(), collection.to_owned()))
            .filter(|c| c.is_member(&self.msp_id))
    }
}

fn private_state_key(namespace: &str, collection: &str, key: &str) -> String {
    format!("{namespace}\u{0}{collection}\u{0}{key}")
}

pub(crate) fn encode_push(tx_id: &str, writes: &[PrivateWrites]) -> Vec<u8> {
    v1::PrivateDataPush {
        channel: String::new(),
        tx_id: tx_id.to_owned(),
        writes: writes.iter().cloned().map(Into::into).collect(),
    }
    .encode_to_vec()
}

fn decode_writes(bytes: &[u8]) -> Result<PrivateWrites, LedgerError> {
    v1::PrivateWrites::decode(bytes)
        .map(Into::into)
        .map_err(|e| LedgerError::Storage(format!("unreadable private writes: {e}")))
}

/// Keeps pushed private writes until their transaction commits.
pub(crate) fn store_transient(
    write: &WriteTransaction,
    tx_id: &str,
    height: u64,
    writes: &[PrivateWrites],
) -> Result<(), LedgerError> {
    let mut transient = write.open_table(TRANSIENT).map_err(storage)?;
    let mut age = write.open_table(TRANSIENT_AGE).map_err(storage)?;
    let bytes = encode_push(tx_id, writes);
    if let Some(old) = transient.insert(tx_id, (height, bytes.as_slice())).map_err(storage)? {
        let (old_height, _) = old.value();
        drop(old);
        age.remove((old_height, tx_id)).map_err(storage)?;
    }
    age.insert((height, tx_id), ()).map_err(storage)?;
    Ok(())
}

/// Removes and returns a transaction's transient private writes.
fn take_transient(write: &WriteTransaction, tx_id: &str) -> Result<Vec<PrivateWrites>, LedgerError> {
    let mut transient = write.open_table(TRANSIENT).map_err(storage)?;
    let Some(found) = transient.remove(tx_id).map_err(storage)? else {
        return Ok(Vec::new());
    };
    let (height, bytes) = found.value();
    let push = v1::PrivateDataPush::decode(bytes).map_err(|e| LedgerError::Storage(format!("transient store: {e}")))?;
    drop(found);
    write
        .open_table(TRANSIENT_AGE)
        .map_err(storage)?
        .remove((height, tx_id))
        .map_err(storage)?;
    Ok(push.writes.into_iter().map(Into::into).collect())
}

/// Records a committed transaction's private write set (what reconciliation serves).
fn insert_write_set(write: &WriteTransaction, key: &PrivateKey, writes: &PrivateWrites) -> Result<(), LedgerError> {
    let bytes = v1::PrivateWrites::from(writes.clone()).encode_to_vec();
    write
        .open_table(WRITES)
        .map_err(storage)?
        .insert(
            (key.block, key.tx, key.namespace.as_str(), key.collection.as_str()),
            bytes.as_slice(),
        )
        .map_err(storage)?;
    Ok(())
}

/// Writes a committed transaction's private writes: the write set and the private state.
fn keep(write: &WriteTransaction, key: &PrivateKey, writes: &PrivateWrites) -> Result<(), LedgerError> {
    insert_write_set(write, key, writes)?;
    let mut state = write.open_table(STATE).map_err(storage)?;
    for w in &writes.writes {
        let at = private_state_key(&writes.namespace, &writes.collection, &w.key);
        match &w.value {
            Some(value) => {
                state
                    .insert(at.as_str(), (key.block, key.tx, value.as_slice()))
                    .map_err(storage)?;
            }
            None => {
                state.remove(at.as_str()).map_err(storage)?;
            }
        }
    }
    Ok(())
}

/// At the commit of `block` (inside its write transaction): the private writes of its valid
/// transactions for the collections this peer is a member of — kept when they match the
/// block's hashes, marked missing otherwise — then the transient store cleared of the
/// block's transactions and of old entries, and expired data purged.
pub(crate) fn commit_block(
    write: &WriteTransaction,
    scope: &PrivateScope,
    block: u64,
    txs: &[Transaction],
    valid: &[bool],
) -> Result<u64, LedgerError> {
    let mut missing_marked = 0;
    for (i, (tx, valid)) in txs.iter().zip(valid).enumerate() {
        let received = take_transient(write, &tx.proposal.tx_id)?;
        if !valid {
            continue;
        }
        let rwset = &tx.response.rwset;
        for hashes in rwset.collections.iter().filter(|c| !c.writes.is_empty()) {
            let Some(collection) = scope.member_of(&rwset.namespace, &hashes.collection) else {
                continue;
            };
            let key = PrivateKey {
                block,
                tx: i as u64,
                namespace: rwset.namespace.clone(),
                collection: hashes.collection.clone(),
            };
            let clear = received
                .iter()
                .find(|w| w.namespace == rwset.namespace && w.matches(hashes));
            match clear {
                Some(clear) => keep(write, &key, clear)?,
                None => {
                    write
                        .open_table(MISSING)
                        .map_err(storage)?
                        .insert((key.block, key.tx, key.namespace.as_str(), key.collection.as_str()), ())
                        .map_err(storage)?;
                    missing_marked += 1;
                }
            }
            if collection.block_to_live > 0 {
                let expiring = block.saturating_add(collection.block_to_live).saturating_add(1);
                write
                    .open_table(EXPIRY)
                    .map_err(storage)?
                    .insert(
                        (
                            expiring,
                            key.block,
                            key.tx,
                            key.namespace.as_str(),
                            key.collection.as_str(),
                        ),
                        (),
                    )
                    .map_err(storage)?;
            }
        }
    }
    purge_transient(write, block)?;
    purge_expired(write, block)?;
    Ok(missing_marked)
}

fn purge_transient(write: &WriteTransaction, block: u64) -> Result<(), LedgerError> {
    let Some(before) = block.checked_sub(TRANSIENT_BLOCKS) else {
        return Ok(());
    };
    let mut age = write.open_table(TRANSIENT_AGE).map_err(storage)?;
    let mut transient = write.open_table(TRANSIENT).map_err(storage)?;
    let old: Vec<(u64, String)> = age
        .range((0, "")..(before, ""))
        .map_err(storage)?
        .filter_map(Result::ok)
        .map(|(k, _)| {
            let (height, tx_id) = k.value();
            (height, tx_id.to_owned())
        })
        .collect();
    for (height, tx_id) in old {
        age.remove((height, tx_id.as_str())).map_err(storage)?;
        transient.remove(tx_id.as_str()).map_err(storage)?;
    }
    Ok(())
}

/// Purges what expires at `block`: each write set, the values it wrote that no later
/// transaction overwrote, and its missing mark.
fn purge_expired(write: &WriteTransaction, block: u64) -> Result<(), LedgerError> {
    type Expired = (u64, u64, u64, String, String);
    let expired: Vec<Expired> = {
        let expiry = write.open_table(EXPIRY).map_err(storage)?;
        expiry
            .range((0, 0, 0, "", "")..=(block, u64::MAX, u64::MAX, "\u{10FFFF}", "\u{10FFFF}"))
            .map_err(storage)?
            .filter_map(Result::ok)
            .map(|(k, _)| {
                let (e, b, t, ns, coll) = k.value();
                (e, b, t, ns.to_owned(), coll.to_owned())
            })
            .collect()
    };
    if expired.is_empty() {
        return Ok(());
    }
    let mut expiry = write.open_table(EXPIRY).map_err(storage)?;
    let mut writes = write.open_table(WRITES).map_err(storage)?;
    let mut state = write.open_table(STATE).map_err(storage)?;
    let mut missing = write.open_table(MISSING).map_err(storage)?;
    for (e, b, t, ns, coll) in expired {
        expiry.remove((e, b, t, ns.as_str(), coll.as_str())).map_err(storage)?;
        missing.remove((b, t, ns.as_str(), coll.as_str())).map_err(storage)?;
        let Some(bytes) = writes.remove((b, t, ns.as_str(), coll.as_str())).map_err(storage)? else {
            continue;
        };
        let set = decode_writes(bytes.value())?;
        drop(bytes);
        for w in &set.writes {
            let at = private_state_key(&ns, &coll, &w.key);
            let current = state.get(at.as_str()).map_err(storage)?.map(|v| {
                let (vb, vt, _) = v.value();
                (vb, vt)
            });
            if current == Some((b, t)) {
                state.remove(at.as_str()).map_err(storage)?;
            }
        }
    }
    Ok(())
}

impl crate::PeerLedger {
    /// Which collections this ledger keeps private data of (none until set).
    pub fn keep_private_data(&self, scope: PrivateScope) {
        if let Ok(mut current) = self.private.write() {
            *current = scope;
        }
    }

    pub(crate) fn private_scope(&self) -> PrivateScope {
        self.private.read().map(|s| s.clone()).unwrap_or_default()
    }

    /// Keeps private writes an endorsing peer pushed, until their transaction commits.
    pub fn store_transient(&self, tx_id: &str, writes: &[PrivateWrites]) -> Result<(), LedgerError> {
        let height = self.height()?;
        let write = self.db.begin_write().map_err(storage)?;
        store_transient(&write, tx_id, height, writes)?;
        write.commit().map_err(storage)
    }

    /// Private write sets this peer should hold and does not, oldest first, at most `limit`.
    pub fn missing_private(&self, limit: usize) -> Result<Vec<PrivateKey>, LedgerError> {
        let read = self.db.begin_read().map_err(storage)?;
        let table = match read.open_table(MISSING) {
            Ok(table) => table,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(Vec::new()),
            Err(e) => return Err(storage(e)),
        };
        let mut out = Vec::new();
        for entry in table.iter().map_err(storage)?.take(limit) {
            let (key, _) = entry.map_err(storage)?;
            let (block, tx, namespace, collection) = key.value();
            out.push(PrivateKey {
                block,
                tx,
                namespace: namespace.to_owned(),
                collection: collection.to_owned(),
            });
        }
        Ok(out)
    }

    /// The committed private writes of one transaction to one collection, if held.
    pub fn private_writes(&self, key: &PrivateKey) -> Result<Option<PrivateWrites>, LedgerError> {
        let read = self.db.begin_read().map_err(storage)?;
        let table = match read.open_table(WRITES) {
            Ok(table) => table,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(None),
            Err(e) => return Err(storage(e)),
        };
        let found = table
            .get((key.block, key.tx, key.namespace.as_str(), key.collection.as_str()))
            .map_err(storage)?;
        found.map(|bytes| decode_writes(bytes.value())).transpose()
    }

    /// A private key's value as this peer holds it, with the version that wrote it.
    pub fn private_value(
        &self,
        namespace: &str,
        collection: &str,
        key: &str,
    ) -> Result<Option<(u64, u64, Vec<u8>)>, LedgerError> {
        let read = self.db.begin_read().map_err(storage)?;
        let table = match read.open_table(STATE) {
            Ok(table) => table,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(None),
            Err(e) => return Err(storage(e)),
        };
        let found = table
            .get(private_state_key(namespace, collection, key).as_str())
            .map_err(storage)?;
        Ok(found.map(|v| {
            let (block, tx, value) = v.value();
            (block, tx, value.to_vec())
        }))
    }

    /// Stores private writes fetched from another peer for a missing entry, once they hash
    /// to exactly what the block carries: the write set, and each value no later
    /// transaction has overwritten since. Returns whether the entry was missing and is now
    /// held.
    pub fn store_reconciled(&self, key: &PrivateKey, writes: &PrivateWrites) -> Result<bool, LedgerError> {
        let block = self
            .block(key.block)?
            .ok_or(LedgerError::Corrupt(key.block, "missing".into()))?;
        let Some(tx) = block.data.transactions().get(key.tx as usize) else {
            return Ok(false);
        };
        let rwset = &tx.response.rwset;
        let Some(hashes) = rwset.collections.iter().find(|c| c.collection == key.collection) else {
            return Ok(false);
        };
        if rwset.namespace != key.namespace || writes.namespace != key.namespace || !writes.matches(hashes) {
            return Ok(false);
        }
        let write = self.db.begin_write().map_err(storage)?;
        {
            let mut missing = write.open_table(MISSING).map_err(storage)?;
            let was_missing = missing
                .remove((key.block, key.tx, key.namespace.as_str(), key.collection.as_str()))
                .map_err(storage)?
                .is_some();
            if !was_missing {
                return Ok(false);
            }
        }
        insert_write_set(&write, key, writes)?;
        {
            // A value is current only while the hashed state still holds this transaction's
            // version of its key.
            let public = write.open_table(crate::STATE).map_err(storage)?;
            let mut state = write.open_table(STATE).map_err(storage)?;
            let hashed = hashed_namespace(&key.namespace, &key.collection);
            for w in &writes.writes {
                let version = public
                    .get(state_key(&hashed, &key_hash(&w.key)).as_str())
                    .map_err(storage)?
                    .map(|v| {
                        let (b, t, _) = v.value();
                        (b, t)
                    });
                if version != Some((key.block, key.tx)) {
                    continue;
                }
                if let Some(value) = &w.value {
                    state
                        .insert(
                            private_state_key(&key.namespace, &key.collection, &w.key).as_str(),
                            (key.block, key.tx, value.as_slice()),
                        )
                        .map_err(storage)?;
                }
            }
        }
        write.commit().map_err(storage)?;
        Ok(true)
    }
}

pub(crate) fn read_private(
    read: &redb::ReadTransaction,
    namespace: &str,
    collection: &str,
    key: &str,
) -> Option<Vec<u8>> {
    let table = read.open_table(STATE).ok()?;
    let found = table
        .get(private_state_key(namespace, collection, key).as_str())
        .ok()??;
    let (_, _, value) = found.value();
    Some(value.to_vec())
}
