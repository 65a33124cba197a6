//! The chaincode API (Fabric's shim, deterministic): what a contract may do during a
//! simulation, and the simulator that records what it did as a read/write set.
//!
//! As in Fabric, reads see the committed state only — a transaction does not read its own
//! writes — and range queries are recorded so validation can detect phantoms.

use std::collections::BTreeMap;

use crate::policy::MspRole;
use crate::rwset::{HistoryEntry, KvRead, KvWrite, RangeRead, RwSet, StateReader};
use crate::tx::ChaincodeEvent;

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
}

/// What a simulation produced.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Simulated {
    pub rwset: RwSet,
    pub event: Option<ChaincodeEvent>,
    pub result: Vec<u8>,
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
        }
    }

    /// Runs `function` and returns the read/write set, event and result.
    pub fn run(
        mut self,
        contract: &dyn Contract,
        function: &str,
        args: &[String],
    ) -> Result<Simulated, ChaincodeError> {
        let result = contract.invoke(&mut self, function, args)?;
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
            },
            event: self.event,
            result,
        })
    }

    fn check_key(key: &str) -> Result<(), ChaincodeError> {
        if key.is_empty() || key.len() > 1024 {
            return Err(ChaincodeError::BadRequest("a key is 1 to 1024 bytes".into()));
        }
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
