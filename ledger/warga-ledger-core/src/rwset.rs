//! Read/write sets and versions, as in Fabric: a simulation records the version of every key
//! it read, the keys a range query returned, and the writes (a `None` value deletes).
//! Validation compares the recorded versions with the committed state (MVCC) and re-runs each
//! range query to catch phantoms.

use std::collections::BTreeMap;

use crate::encoding::Encoder;

/// Where a value was last written: block number and transaction number within the block.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
pub struct Version {
    pub block: u64,
    pub tx: u64,
}

/// A key read, with the version seen (`None`: the key did not exist).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct KvRead {
    pub key: String,
    pub version: Option<Version>,
}

/// A key written; `value: None` deletes it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct KvWrite {
    pub key: String,
    #[serde(with = "opt_base64")]
    pub value: Option<Vec<u8>>,
}

/// A range query `[start, end)` and what it returned, for the phantom check.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RangeRead {
    pub start: String,
    pub end: String,
    pub reads: Vec<KvRead>,
}

/// The read/write set of one chaincode namespace.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RwSet {
    pub namespace: String,
    pub reads: Vec<KvRead>,
    pub range_reads: Vec<RangeRead>,
    pub writes: Vec<KvWrite>,
}

impl RwSet {
    pub(crate) fn encode(&self, e: &mut Encoder) {
        let version = |e: &mut Encoder, v: &Option<Version>| match v {
            None => {
                e.count(0);
            }
            Some(v) => {
                e.count(1).u64(v.block).u64(v.tx);
            }
        };
        e.str(&self.namespace).count(self.reads.len());
        for read in &self.reads {
            e.str(&read.key);
            version(e, &read.version);
        }
        e.count(self.range_reads.len());
        for range in &self.range_reads {
            e.str(&range.start).str(&range.end).count(range.reads.len());
            for read in &range.reads {
                e.str(&read.key);
                version(e, &read.version);
            }
        }
        e.count(self.writes.len());
        for write in &self.writes {
            e.str(&write.key).opt_bytes(write.value.as_deref());
        }
    }

    /// Keys are unique in `reads` and `writes`, and sorted (a canonical set).
    pub fn is_canonical(&self) -> bool {
        self.reads.windows(2).all(|w| w[0].key < w[1].key) && self.writes.windows(2).all(|w| w[0].key < w[1].key)
    }
}

/// A committed value and its version.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VersionedValue {
    pub value: Vec<u8>,
    pub version: Version,
}

/// One committed change of a key, for `GetHistoryForKey`.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct HistoryEntry {
    pub tx_id: String,
    pub version: Version,
    pub timestamp_ms: i64,
    #[serde(with = "opt_base64")]
    pub value: Option<Vec<u8>>,
}

/// Read access to committed world state of one namespace.
pub trait StateReader {
    fn get(&self, namespace: &str, key: &str) -> Option<VersionedValue>;
    /// Keys in `[start, end)` in order (an empty `end`: to the end), at most `limit`.
    fn range(&self, namespace: &str, start: &str, end: &str, limit: usize) -> Vec<(String, VersionedValue)>;
    /// Committed changes of a key, oldest first.
    fn history(&self, namespace: &str, key: &str) -> Vec<HistoryEntry>;
}

/// World state in memory: for tests, simulations and validation overlays.
#[derive(Clone, Debug, Default)]
pub struct MemoryState {
    pub values: BTreeMap<(String, String), VersionedValue>,
    pub histories: BTreeMap<(String, String), Vec<HistoryEntry>>,
}

impl MemoryState {
    /// Applies a valid transaction's writes at `version`.
    pub fn apply(&mut self, rwset: &RwSet, version: Version, tx_id: &str, timestamp_ms: i64) {
        for write in &rwset.writes {
            let key = (rwset.namespace.clone(), write.key.clone());
            match &write.value {
                Some(value) => {
                    self.values.insert(
                        key.clone(),
                        VersionedValue {
                            value: value.clone(),
                            version,
                        },
                    );
                }
                None => {
                    self.values.remove(&key);
                }
            }
            self.histories.entry(key).or_default().push(HistoryEntry {
                tx_id: tx_id.to_owned(),
                version,
                timestamp_ms,
                value: write.value.clone(),
            });
        }
    }
}

impl StateReader for MemoryState {
    fn get(&self, namespace: &str, key: &str) -> Option<VersionedValue> {
        self.values.get(&(namespace.to_owned(), key.to_owned())).cloned()
    }
    fn range(&self, namespace: &str, start: &str, end: &str, limit: usize) -> Vec<(String, VersionedValue)> {
        let from = (namespace.to_owned(), start.to_owned());
        self.values
            .range(from..)
            .take_while(|((ns, key), _)| ns == namespace && (end.is_empty() || key.as_str() < end))
            .take(limit)
            .map(|((_, key), value)| (key.clone(), value.clone()))
            .collect()
    }
    fn history(&self, namespace: &str, key: &str) -> Vec<HistoryEntry> {
        self.histories
            .get(&(namespace.to_owned(), key.to_owned()))
            .cloned()
            .unwrap_or_default()
    }
}

mod opt_base64 {
    use base64::Engine;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(bytes: &Option<Vec<u8>>, s: S) -> Result<S::Ok, S::Error> {
        match bytes {
            None => s.serialize_none(),
            Some(b) => s.serialize_some(&base64::engine::general_purpose::STANDARD.encode(b)),
        }
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<u8>>, D::Error> {
        match Option::<String>::deserialize(d)? {
            None => Ok(None),
            Some(text) => base64::engine::general_purpose::STANDARD
                .decode(text)
                .map(Some)
                .map_err(serde::de::Error::custom),
        }
    }
}
