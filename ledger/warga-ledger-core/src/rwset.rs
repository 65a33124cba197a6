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

/// What a transaction read and wrote of one private data collection, as the channel's
/// blocks carry it: keys as `hex(SHA-256(key))`, written values as their SHA-256 (`None`:
/// deleted) — Fabric's hashed read/write set. The values themselves go only to the
/// collection's member peers ([`PrivateWrites`]).
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CollectionHashes {
    pub collection: String,
    /// Keys are key hashes (hex); versions as of the hashed state.
    pub reads: Vec<KvRead>,
    /// Keys are key hashes (hex); values are value hashes (32 bytes).
    pub writes: Vec<KvWrite>,
}

/// The private writes of one transaction to one collection, in clear: what an endorsing
/// peer hands to the collection's member peers, and what they keep.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PrivateWrites {
    pub namespace: String,
    pub collection: String,
    /// Sorted by key.
    pub writes: Vec<KvWrite>,
}

/// `hex(SHA-256(key))`: how the channel's blocks and hashed state name a private key.
pub fn key_hash(key: &str) -> String {
    crate::tx::hex(&crate::tx::sha256(key.as_bytes()))
}

/// The namespace of a collection's hashed state (as Fabric's `ns$$hcollection`); a
/// chaincode name cannot contain `$`, so it never meets a chaincode's own namespace.
pub fn hashed_namespace(namespace: &str, collection: &str) -> String {
    format!("{namespace}$$h{collection}")
}

impl PrivateWrites {
    /// The hashed writes these private writes give, in key-hash order.
    pub fn hashed(&self) -> Vec<KvWrite> {
        let mut hashed: Vec<KvWrite> = self
            .writes
            .iter()
            .map(|w| KvWrite {
                key: key_hash(&w.key),
                value: w.value.as_ref().map(|v| crate::tx::sha256(v).to_vec()),
            })
            .collect();
        hashed.sort_by(|a, b| a.key.cmp(&b.key));
        hashed
    }

    /// Whether these are exactly the private writes the chain's hashes describe.
    pub fn matches(&self, hashes: &CollectionHashes) -> bool {
        self.collection == hashes.collection
            && self.writes.windows(2).all(|w| w[0].key < w[1].key)
            && self.hashed() == hashes.writes
    }
}

/// The read/write set of one chaincode namespace, and the hashes of its private collections.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RwSet {
    pub namespace: String,
    pub reads: Vec<KvRead>,
    pub range_reads: Vec<RangeRead>,
    pub writes: Vec<KvWrite>,
    /// Per collection touched, sorted by collection name.
    #[serde(default)]
    pub collections: Vec<CollectionHashes>,
}

/// One namespace's point reads and writes: the chaincode's own, or a collection's hashed.
pub struct NamespaceSet<'a> {
    pub namespace: String,
    pub reads: &'a [KvRead],
    pub writes: &'a [KvWrite],
}

impl RwSet {
    /// The chaincode's namespace, then each collection's hashed namespace: what MVCC
    /// checks and what a valid transaction writes to the world state (public and hashed).
    pub fn namespace_sets(&self) -> Vec<NamespaceSet<'_>> {
        let mut sets = vec![NamespaceSet {
            namespace: self.namespace.clone(),
            reads: &self.reads,
            writes: &self.writes,
        }];
        sets.extend(self.collections.iter().map(|c| NamespaceSet {
            namespace: hashed_namespace(&self.namespace, &c.collection),
            reads: &c.reads,
            writes: &c.writes,
        }));
        sets
    }

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
        e.count(self.collections.len());
        for collection in &self.collections {
            e.str(&collection.collection).count(collection.reads.len());
            for read in &collection.reads {
                e.str(&read.key);
                version(e, &read.version);
            }
            e.count(collection.writes.len());
            for write in &collection.writes {
                e.str(&write.key).opt_bytes(write.value.as_deref());
            }
        }
    }

    /// Keys are unique in `reads` and `writes`, and sorted (a canonical set); collections
    /// are unique and sorted, their keys key hashes and their values value hashes.
    pub fn is_canonical(&self) -> bool {
        let sorted = |reads: &[KvRead], writes: &[KvWrite]| {
            reads.windows(2).all(|w| w[0].key < w[1].key) && writes.windows(2).all(|w| w[0].key < w[1].key)
        };
        let is_hash = |key: &str| key.len() == 64 && key.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
        sorted(&self.reads, &self.writes)
            && self.collections.windows(2).all(|w| w[0].collection < w[1].collection)
            && self
                .collections
                .iter()
                .all(|c| !c.reads.is_empty() || !c.writes.is_empty())
            && self.collections.iter().all(|c| {
                sorted(&c.reads, &c.writes)
                    && c.reads.iter().all(|r| is_hash(&r.key))
                    && c.writes
                        .iter()
                        .all(|w| is_hash(&w.key) && w.value.as_ref().is_none_or(|v| v.len() == 32))
            })
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
    /// A private key's value as this peer holds it (`None`: not held — deleted, never
    /// received, purged, or a collection this peer is not a member of).
    fn private(&self, _namespace: &str, _collection: &str, _key: &str) -> Option<Vec<u8>> {
        None
    }
}

/// World state in memory: for tests, simulations and validation overlays.
#[derive(Clone, Debug, Default)]
pub struct MemoryState {
    pub values: BTreeMap<(String, String), VersionedValue>,
    pub histories: BTreeMap<(String, String), Vec<HistoryEntry>>,
    /// Private values held, by (namespace, collection, key).
    pub private_values: BTreeMap<(String, String, String), Vec<u8>>,
}

impl MemoryState {
    /// Keeps a transaction's private writes (as a member peer does at commit).
    pub fn apply_private(&mut self, writes: &PrivateWrites) {
        for write in &writes.writes {
            let key = (writes.namespace.clone(), writes.collection.clone(), write.key.clone());
            match &write.value {
                Some(value) => {
                    self.private_values.insert(key, value.clone());
                }
                None => {
                    self.private_values.remove(&key);
                }
            }
        }
    }

    /// Applies a valid transaction's writes at `version`: its namespace's and its
    /// collections' hashed writes.
    pub fn apply(&mut self, rwset: &RwSet, version: Version, tx_id: &str, timestamp_ms: i64) {
        for set in rwset.namespace_sets() {
            self.apply_writes(&set.namespace, set.writes, version, tx_id, timestamp_ms);
        }
    }

    fn apply_writes(&mut self, namespace: &str, writes: &[KvWrite], version: Version, tx_id: &str, timestamp_ms: i64) {
        for write in writes {
            let key = (namespace.to_owned(), write.key.clone());
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
    fn private(&self, namespace: &str, collection: &str, key: &str) -> Option<Vec<u8>> {
        self.private_values
            .get(&(namespace.to_owned(), collection.to_owned(), key.to_owned()))
            .cloned()
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
