//! The chaincode API (Fabric's shim, deterministic): what a contract may do during a
//! simulation, and the simulator that records what it did as a read/write set.
//!
//! As in Fabric, reads see the committed state only — a transaction does not read its own
//! writes — and range queries are recorded so validation can detect phantoms.

use std::collections::BTreeMap;

use crate::network::Collection;
use crate::policy::MspRole;
use crate::rwset::{
    CollectionHashes, HistoryEntry, KvRead, KvWrite, PrivateWrites, RangeRead, RwSet, StateReader, hashed_namespace,
    key_hash,
};
use crate::tx::{ChaincodeEvent, Hash};

/// Most keys one range query may return; a contract asking for more gets an error.
pub const RANGE_KEYS_MAX: usize = 10_000;
/// Largest value a contract may write, in bytes.
pub const VALUE_BYTES_MAX: usize = 1024 * 1024;

/// Fabric's composite-key separator.
const SEPARATOR: char = '\u{0}';
const MAX_RUNE: char = '\u{10FFFF}';

/// Why a contract refused or failed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ChaincodeError {
    /// The request is wrong: missing or bad arguments, an unknown function.
    #[error("{0}")]
    BadRequest(String),
    /// The invoker may not do this.
    #[error("{0}")]
    Forbidden(String),
    /// A key the function needs does not exist.
    #[error("{0}")]
    NotFound(String),
    /// The state forbids it (e.g. a suspended card, a processed claim).
    #[error("{0}")]
    Conflict(String),
}

/// Most attributes one certificate carries.
pub const ATTRIBUTES_MAX: usize = 16;
/// Longest attribute value, in bytes.
pub const ATTRIBUTE_VALUE_BYTES_MAX: usize = 256;

/// Checks one certificate attribute: a name of 1–64 of `A–Z a–z 0–9 . _ -`, a printable
/// value of at most [`ATTRIBUTE_VALUE_BYTES_MAX`] bytes. Names beginning `hf.` are the CA's own.
pub fn check_attribute(name: &str, value: &str) -> Result<(), String> {
    let name_ok = (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if !name_ok {
        return Err(format!(
            "attribute name '{name}' must be 1–64 of A–Z, a–z, 0–9, '.', '_', '-'"
        ));
    }
    if value.len() > ATTRIBUTE_VALUE_BYTES_MAX || value.chars().any(char::is_control) {
        return Err(format!(
            "attribute {name}: the value must be printable and at most {ATTRIBUTE_VALUE_BYTES_MAX} bytes"
        ));
    }
    Ok(())
}

/// Checks the attributes of one certificate.
pub fn check_attributes(attributes: &BTreeMap<String, String>) -> Result<(), String> {
    if attributes.len() > ATTRIBUTES_MAX {
        return Err(format!("at most {ATTRIBUTES_MAX} attributes"));
    }
    attributes
        .iter()
        .try_for_each(|(name, value)| check_attribute(name, value))
}

/// The identity invoking the transaction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Invoker {
    pub msp_id: String,
    pub role: MspRole,
    pub common_name: String,
    /// The certificate's SHA-256, hex.
    pub id: String,
    /// The certificate's attributes (Fabric CA's attribute extension), e.g. `facility`.
    pub attributes: BTreeMap<String, String>,
}

impl Invoker {
    /// An attribute of the invoker's certificate (Fabric's `cid.GetAttributeValue`).
    pub fn attribute(&self, name: &str) -> Option<&str> {
        self.attributes.get(name).map(String::as_str)
    }
}

/// What a contract may do.
pub trait Stub {
    fn channel(&self) -> &str;
    fn tx_id(&self) -> &str;
    /// The proposal's timestamp (the same on every endorser), milliseconds.
    fn tx_timestamp_ms(&self) -> i64;
    fn invoker(&self) -> &Invoker;
    fn get_state(&mut self, key: &str) -> Option<Vec<u8>>;
    fn put_state(&mut self, key: &str, value: Vec<u8>) -> Result<(), ChaincodeError>;
    fn del_state(&mut self, key: &str) -> Result<(), ChaincodeError>;
    /// Keys in `[start, end)` (empty `end`: unbounded), in order.
    fn get_state_by_range(&mut self, start: &str, end: &str) -> Result<Vec<(String, Vec<u8>)>, ChaincodeError>;
    fn get_history_for_key(&mut self, key: &str) -> Vec<HistoryEntry>;
    fn set_event(&mut self, name: &str, payload: Vec<u8>);

    /// A value of the proposal's transient map (Fabric's `GetTransient`): private inputs
    /// that are never part of the transaction.
    fn transient(&self, name: &str) -> Option<Vec<u8>>;
    /// A private key's value (Fabric's `GetPrivateData`). Refused when the collection is
    /// member-only-read and the invoker's organisation is no member, or when this peer's
    /// organisation is no member (it holds only hashes); an error too when this peer should
    /// hold the value but does not (yet: it has not reconciled it, or it was purged).
    fn get_private_data(&mut self, collection: &str, key: &str) -> Result<Option<Vec<u8>>, ChaincodeError>;
    /// The SHA-256 of a private key's value as the channel recorded it (Fabric's
    /// `GetPrivateDataHash`): on every peer, member or not.
    fn get_private_data_hash(&mut self, collection: &str, key: &str) -> Result<Option<Hash>, ChaincodeError>;
    /// Writes a private key: the value goes to the collection's member peers only, its hash
    /// on the chain.
    fn put_private_data(&mut self, collection: &str, key: &str, value: Vec<u8>) -> Result<(), ChaincodeError>;
    fn del_private_data(&mut self, collection: &str, key: &str) -> Result<(), ChaincodeError>;

    /// Fabric's `CreateCompositeKey`: `\0type\0attr1\0attr2\0…`.
    fn create_composite_key(&self, object_type: &str, attributes: &[&str]) -> Result<String, ChaincodeError> {
        composite_key(object_type, attributes)
    }

    /// Fabric's `GetStateByPartialCompositeKey`.
    fn get_state_by_partial_composite_key(
        &mut self,
        object_type: &str,
        attributes: &[&str],
    ) -> Result<Vec<(String, Vec<u8>)>, ChaincodeError> {
        let prefix = composite_key(object_type, attributes)?;
        let end = format!("{prefix}{MAX_RUNE}");
        self.get_state_by_range(&prefix, &end)
    }
}

/// `\0type\0attr1\0…\0`; no part may contain `\0` or U+10FFFF.
pub fn composite_key(object_type: &str, attributes: &[&str]) -> Result<String, ChaincodeError> {
    let mut key = String::new();
    key.push(SEPARATOR);
    for part in std::iter::once(&object_type).chain(attributes.iter()) {
        if part.contains([SEPARATOR, MAX_RUNE]) {
            return Err(ChaincodeError::BadRequest(
                "a key part may not contain U+0000 or U+10FFFF".into(),
            ));
        }
        key.push_str(part);
        key.push(SEPARATOR);
    }
    Ok(key)
}

/// Fabric's `SplitCompositeKey`: the type and attributes of a composite key.
pub fn split_composite_key(key: &str) -> Option<(String, Vec<String>)> {
    let rest = key.strip_prefix(SEPARATOR)?.strip_suffix(SEPARATOR)?;
    let mut parts = rest.split(SEPARATOR).map(str::to_owned);
    let object_type = parts.next()?;
    Some((object_type, parts.collect()))
}

/// A contract: functions invoked by name with string arguments.
pub trait Contract: Send + Sync {
    /// The chaincode's name on its channel.
    fn name(&self) -> &'static str;
    /// The version a chaincode definition names to select this contract (contracts are
    /// compiled in; a definition naming a version this binary lacks is not endorsed here).
    fn version(&self) -> &'static str;
    fn invoke(&self, stub: &mut dyn Stub, function: &str, args: &[String]) -> Result<Vec<u8>, ChaincodeError>;
}

/// Runs a contract against committed state and records its read/write set.
pub struct Simulator<'a> {
    state: &'a dyn StateReader,
    namespace: String,
    channel: String,
    tx_id: String,
    timestamp_ms: i64,
    invoker: Invoker,
    reads: BTreeMap<String, KvRead>,
    range_reads: Vec<RangeRead>,
    writes: BTreeMap<String, Option<Vec<u8>>>,
    event: Option<ChaincodeEvent>,
    /// The chaincode's collections and the organisation of the peer simulating.
    collections: &'a [Collection],
    peer_msp: Option<String>,
    transient: BTreeMap<String, Vec<u8>>,
    /// Per collection: hashed reads (by key hash) and private writes (by key).
    private_reads: BTreeMap<String, BTreeMap<String, KvRead>>,
    private_writes: BTreeMap<String, BTreeMap<String, Option<Vec<u8>>>>,
}

/// What a simulation produced.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Simulated {
    /// The read/write set, with the hashes of the private writes.
    pub rwset: RwSet,
    pub event: Option<ChaincodeEvent>,
    pub result: Vec<u8>,
    /// The private writes in clear, per collection: for the collection's member peers only.
    pub private: Vec<PrivateWrites>,
}

impl<'a> Simulator<'a> {
    pub fn new(
        state: &'a dyn StateReader,
        namespace: &str,
        channel: &str,
        tx_id: &str,
        timestamp_ms: i64,
        invoker: Invoker,
    ) -> Self {
        Simulator {
            state,
            namespace: namespace.to_owned(),
            channel: channel.to_owned(),
            tx_id: tx_id.to_owned(),
            timestamp_ms,
            invoker,
            reads: BTreeMap::new(),
            range_reads: Vec::new(),
            writes: BTreeMap::new(),
            event: None,
            collections: &[],
            peer_msp: None,
            transient: BTreeMap::new(),
            private_reads: BTreeMap::new(),
            private_writes: BTreeMap::new(),
        }
    }

    /// The chaincode's private data collections, the organisation of the peer simulating
    /// (which decides whether it holds a collection's data), and the proposal's transient map.
    pub fn with_private(
        mut self,
        collections: &'a [Collection],
        peer_msp: &str,
        transient: BTreeMap<String, Vec<u8>>,
    ) -> Self {
        self.collections = collections;
        self.peer_msp = Some(peer_msp.to_owned());
        self.transient = transient;
        self
    }

    /// Runs `function` and returns the read/write set, event and result.
    pub fn run(
        mut self,
        contract: &dyn Contract,
        function: &str,
        args: &[String],
    ) -> Result<Simulated, ChaincodeError> {
        let result = contract.invoke(&mut self, function, args)?;
        let mut names: Vec<&String> = self.private_reads.keys().chain(self.private_writes.keys()).collect();
        names.sort();
        names.dedup();
        let mut collections = Vec::new();
        let mut private = Vec::new();
        for name in names {
            let writes: Vec<KvWrite> = self
                .private_writes
                .get(name)
                .map(|w| {
                    w.iter()
                        .map(|(key, value)| KvWrite {
                            key: key.clone(),
                            value: value.clone(),
                        })
                        .collect()
                })
                .unwrap_or_default();
            let clear = PrivateWrites {
                namespace: self.namespace.clone(),
                collection: name.clone(),
                writes,
            };
            collections.push(CollectionHashes {
                collection: name.clone(),
                reads: self
                    .private_reads
                    .get(name)
                    .map(|r| r.values().cloned().collect())
                    .unwrap_or_default(),
                writes: clear.hashed(),
            });
            if !clear.writes.is_empty() {
                private.push(clear);
            }
        }
        Ok(Simulated {
            rwset: RwSet {
                namespace: self.namespace,
                reads: self.reads.into_values().collect(),
                range_reads: self.range_reads,
                writes: self
                    .writes
                    .into_iter()
                    .map(|(key, value)| KvWrite { key, value })
                    .collect(),
                collections,
            },
            event: self.event,
            result,
            private,
        })
    }

    fn check_key(key: &str) -> Result<(), ChaincodeError> {
        if key.is_empty() || key.len() > 1024 {
            return Err(ChaincodeError::BadRequest("a key is 1 to 1024 bytes".into()));
        }
        Ok(())
    }

    fn collection(&self, name: &str) -> Result<&'a Collection, ChaincodeError> {
        self.collections
            .iter()
            .find(|c| c.name == name)
            .ok_or_else(|| ChaincodeError::BadRequest(format!("no private data collection {name} for this chaincode")))
    }

    /// Records a read of a private key's hash (MVCC at commit) and returns its version.
    fn hashed_read(&mut self, collection: &str, key: &str) -> Option<crate::rwset::VersionedValue> {
        let hashed_key = key_hash(key);
        let found = self
            .state
            .get(&hashed_namespace(&self.namespace, collection), &hashed_key);
        self.private_reads
            .entry(collection.to_owned())
            .or_default()
            .entry(hashed_key.clone())
            .or_insert(KvRead {
                key: hashed_key,
                version: found.as_ref().map(|v| v.version),
            });
        found
    }

    fn private_write(&mut self, collection: &str, key: &str, value: Option<Vec<u8>>) -> Result<(), ChaincodeError> {
        Self::check_key(key)?;
        let definition = self.collection(collection)?;
        if definition.member_only_write && !definition.is_member(&self.invoker.msp_id) {
            return Err(ChaincodeError::Forbidden(format!(
                "only members of collection {collection} write it; {} is not one",
                self.invoker.msp_id
            )));
        }
        if value.as_ref().is_some_and(|v| v.len() > VALUE_BYTES_MAX) {
            return Err(ChaincodeError::BadRequest(format!(
                "a value is at most {VALUE_BYTES_MAX} bytes"
            )));
        }
        self.private_writes
            .entry(collection.to_owned())
            .or_default()
            .insert(key.to_owned(), value);
        Ok(())
    }
}

impl Stub for Simulator<'_> {
    fn channel(&self) -> &str {
        &self.channel
    }
    fn tx_id(&self) -> &str {
        &self.tx_id
    }
    fn tx_timestamp_ms(&self) -> i64 {
        self.timestamp_ms
    }
    fn invoker(&self) -> &Invoker {
        &self.invoker
    }
    fn get_state(&mut self, key: &str) -> Option<Vec<u8>> {
        let found = self.state.get(&self.namespace, key);
        self.reads.entry(key.to_owned()).or_insert(KvRead {
            key: key.to_owned(),
            version: found.as_ref().map(|v| v.version),
        });
        found.map(|v| v.value)
    }
    fn put_state(&mut self, key: &str, value: Vec<u8>) -> Result<(), ChaincodeError> {
        Self::check_key(key)?;
        if value.len() > VALUE_BYTES_MAX {
            return Err(ChaincodeError::BadRequest(format!(
                "a value is at most {VALUE_BYTES_MAX} bytes"
            )));
        }
        self.writes.insert(key.to_owned(), Some(value));
        Ok(())
    }
    fn del_state(&mut self, key: &str) -> Result<(), ChaincodeError> {
        Self::check_key(key)?;
        self.writes.insert(key.to_owned(), None);
        Ok(())
    }
    fn get_state_by_range(&mut self, start: &str, end: &str) -> Result<Vec<(String, Vec<u8>)>, ChaincodeError> {
        let found = self.state.range(&self.namespace, start, end, RANGE_KEYS_MAX + 1);
        if found.len() > RANGE_KEYS_MAX {
            return Err(ChaincodeError::BadRequest(format!(
                "a range query returns at most {RANGE_KEYS_MAX} keys"
            )));
        }
        self.range_reads.push(RangeRead {
            start: start.to_owned(),
            end: end.to_owned(),
            reads: found
                .iter()
                .map(|(key, v)| KvRead {
                    key: key.clone(),
                    version: Some(v.version),
                })
                .collect(),
        });
        Ok(found.into_iter().map(|(key, v)| (key, v.value)).collect())
    }
    fn get_history_for_key(&mut self, key: &str) -> Vec<HistoryEntry> {
        self.state.history(&self.namespace, key)
    }
    fn set_event(&mut self, name: &str, payload: Vec<u8>) {
        self.event = Some(ChaincodeEvent {
            name: name.to_owned(),
            payload,
        });
    }
    fn transient(&self, name: &str) -> Option<Vec<u8>> {
        self.transient.get(name).cloned()
    }
    fn get_private_data(&mut self, collection: &str, key: &str) -> Result<Option<Vec<u8>>, ChaincodeError> {
        Self::check_key(key)?;
        let definition = self.collection(collection)?;
        if definition.member_only_read && !definition.is_member(&self.invoker.msp_id) {
            return Err(ChaincodeError::Forbidden(format!(
                "only members of collection {collection} read it; {} is not one",
                self.invoker.msp_id
            )));
        }
        if !self.peer_msp.as_deref().is_some_and(|msp| definition.is_member(msp)) {
            return Err(ChaincodeError::Forbidden(format!(
                "this peer's organisation is not a member of collection {collection}: it holds only hashes"
            )));
        }
        // Our own write is not visible (as for public state): the committed value only.
        let hashed = self.hashed_read(collection, key);
        match (hashed, self.state.private(&self.namespace, collection, key)) {
            (None, _) => Ok(None),
            (Some(hashed), Some(value)) if crate::tx::sha256(&value).as_slice() == hashed.value.as_slice() => {
                Ok(Some(value))
            }
            (Some(_), _) => Err(ChaincodeError::Conflict(format!(
                "this peer does not hold the private data of this key in {collection} (not yet reconciled, or purged)"
            ))),
        }
    }
    fn get_private_data_hash(&mut self, collection: &str, key: &str) -> Result<Option<Hash>, ChaincodeError> {
        Self::check_key(key)?;
        self.collection(collection)?;
        Ok(self
            .hashed_read(collection, key)
            .and_then(|v| <Hash>::try_from(v.value.as_slice()).ok()))
    }
    fn put_private_data(&mut self, collection: &str, key: &str, value: Vec<u8>) -> Result<(), ChaincodeError> {
        self.private_write(collection, key, Some(value))
    }
    fn del_private_data(&mut self, collection: &str, key: &str) -> Result<(), ChaincodeError> {
        self.private_write(collection, key, None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn composite_keys_round_trip_and_refuse_separators() {
        let key = composite_key("visit", &["3171075203950004", "2026-11-22", "v1"]).unwrap();
        assert_eq!(key, "\u{0}visit\u{0}3171075203950004\u{0}2026-11-22\u{0}v1\u{0}");
        assert_eq!(
            split_composite_key(&key),
            Some((
                "visit".into(),
                vec!["3171075203950004".into(), "2026-11-22".into(), "v1".into()]
            ))
        );
        assert!(composite_key("visit", &["a\u{0}b"]).is_err());
        assert_eq!(split_composite_key("plain"), None);
    }
}
