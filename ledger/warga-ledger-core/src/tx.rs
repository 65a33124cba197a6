//! Transactions in Fabric's execute–order–validate flow, and the canonical bytes that are
//! signed and hashed.
//!
//! A client signs a [`Proposal`]; endorsing peers simulate it and sign a [`Response`] (the
//! read/write set, the chaincode event and the result) — an [`Endorsement`]; the client
//! assembles a [`Transaction`] from the proposal, one response and the endorsements, signs
//! the whole, and sends it for ordering. The transaction id is, as in Fabric,
//! `hex(SHA-256(nonce ‖ creator))`.
//!
//! Canonical encoding: every field in a fixed order, integers big-endian, byte strings and
//! lists prefixed with their length (u32). The same value always gives the same bytes; it is
//! what signatures and hashes cover, independent of any wire format.

use std::collections::BTreeMap;

use sha2::{Digest, Sha256};

use crate::rwset::RwSet;

/// A SHA-256 digest.
pub type Hash = [u8; 32];

/// SHA-256 of `bytes`.
pub fn sha256(bytes: &[u8]) -> Hash {
    Sha256::digest(bytes).into()
}

/// Lower-case hex.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

pub use crate::encoding::Encoder;

/// Who signed: an MSP id and the certificate (DER), Fabric's `SerializedIdentity`.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Creator {
    pub msp_id: String,
    #[serde(with = "crate::tx::base64_bytes")]
    pub certificate: Vec<u8>,
}

impl Creator {
    fn encode(&self, e: &mut Encoder) {
        e.str(&self.msp_id).bytes(&self.certificate);
    }
}

/// A request to run a chaincode function.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Proposal {
    pub channel: String,
    pub chaincode: String,
    pub function: String,
    pub args: Vec<String>,
    pub tx_id: String,
    /// The client's clock, milliseconds; chaincode sees it as the transaction's timestamp.
    pub timestamp_ms: i64,
    #[serde(with = "crate::tx::base64_bytes")]
    pub nonce: Vec<u8>,
    pub creator: Creator,
}

impl Proposal {
    /// The transaction id a proposal with this nonce and creator must carry.
    pub fn compute_tx_id(nonce: &[u8], creator: &Creator) -> String {
        let mut e = Encoder::default();
        e.bytes(nonce);
        creator.encode(&mut e);
        hex(&sha256(&e.finish()))
    }

    /// The bytes the creator signs.
    pub fn encode(&self) -> Vec<u8> {
        let mut e = Encoder::new("warga.proposal.v1");
        e.str(&self.channel)
            .str(&self.chaincode)
            .str(&self.function)
            .count(self.args.len());
        for arg in &self.args {
            e.str(arg);
        }
        e.str(&self.tx_id).i64(self.timestamp_ms).bytes(&self.nonce);
        self.creator.encode(&mut e);
        e.finish()
    }

    pub fn hash(&self) -> Hash {
        sha256(&self.encode())
    }
}

/// A proposal with its creator's signature over [`SignedProposal::signed_bytes`], as sent
/// to endorsers.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SignedProposal {
    pub proposal: Proposal,
    /// Fabric's transient map: inputs for the chaincode (private data) that reach the
    /// endorsers and nothing else — the transaction, and so every block, leaves them out.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub transient: BTreeMap<String, Vec<u8>>,
    #[serde(with = "crate::tx::base64_bytes")]
    pub signature: Vec<u8>,
}

/// Most entries of a transient map, and most bytes of one value.
pub const TRANSIENT_ENTRIES_MAX: usize = 16;
pub const TRANSIENT_VALUE_BYTES_MAX: usize = 256 * 1024;

impl SignedProposal {
    /// What the creator signs: the proposal's canonical bytes, and, when there is transient
    /// data, the transient map with them (so nobody between client and endorser can change
    /// it, yet the transaction can carry the proposal without it).
    pub fn signed_bytes(proposal: &Proposal, transient: &BTreeMap<String, Vec<u8>>) -> Vec<u8> {
        if transient.is_empty() {
            return proposal.encode();
        }
        let mut e = Encoder::new("warga.proposal.transient.v1");
        e.bytes(&proposal.encode()).count(transient.len());
        for (name, value) in transient {
            e.str(name).bytes(value);
        }
        e.finish()
    }
}

/// An event a chaincode sets for its transaction (one per transaction, as in Fabric).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ChaincodeEvent {
    pub name: String,
    #[serde(with = "crate::tx::base64_bytes")]
    pub payload: Vec<u8>,
}

/// What endorsers sign: the outcome of simulating one proposal.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Response {
    #[serde(with = "crate::tx::hex_hash")]
    pub proposal_hash: Hash,
    pub rwset: RwSet,
    pub event: Option<ChaincodeEvent>,
    #[serde(with = "crate::tx::base64_bytes")]
    pub result: Vec<u8>,
    /// The sequence of the chaincode definition the endorser simulated under: a
    /// transaction endorsed under a definition no longer in force is invalid.
    pub chaincode_sequence: u64,
}

impl Response {
    pub fn encode(&self) -> Vec<u8> {
        let mut e = Encoder::new("warga.response.v1");
        e.bytes(&self.proposal_hash);
        self.rwset.encode(&mut e);
        match &self.event {
            None => {
                e.count(0);
            }
            Some(event) => {
                e.count(1).str(&event.name).bytes(&event.payload);
            }
        }
        e.bytes(&self.result).u64(self.chaincode_sequence);
        e.finish()
    }
}

/// An endorser's signature over a [`Response`] and its own identity.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Endorsement {
    pub endorser: Creator,
    #[serde(with = "crate::tx::base64_bytes")]
    pub signature: Vec<u8>,
}

impl Endorsement {
    /// What an endorser signs: the response and who endorses it (as Fabric's endorsement
    /// signs the response payload with the endorser's identity), so a signature cannot be
    /// presented under another certificate.
    pub fn signed_bytes(response: &Response, endorser: &Creator) -> Vec<u8> {
        let mut e = Encoder::new("warga.endorsement.v1");
        e.bytes(&response.encode());
        endorser.encode(&mut e);
        e.finish()
    }
}

/// An endorsed transaction, signed by its creator, as sent for ordering.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Transaction {
    pub proposal: Proposal,
    pub response: Response,
    pub endorsements: Vec<Endorsement>,
    /// The creator's signature over [`Transaction::signed_bytes`].
    #[serde(with = "crate::tx::base64_bytes")]
    pub signature: Vec<u8>,
}

impl Transaction {
    /// What the creator signs: the proposal, the response and the endorsements.
    pub fn signed_bytes(proposal: &Proposal, response: &Response, endorsements: &[Endorsement]) -> Vec<u8> {
        let mut e = Encoder::new("warga.transaction.v1");
        e.bytes(&proposal.encode())
            .bytes(&response.encode())
            .count(endorsements.len());
        for endorsement in endorsements {
            endorsement.endorser.encode(&mut e);
            e.bytes(&endorsement.signature);
        }
        e.finish()
    }

    /// The canonical bytes of the whole transaction (what a block's data hash covers).
    pub fn encode(&self) -> Vec<u8> {
        let mut e = Encoder::new("warga.envelope.v1");
        e.bytes(&Transaction::signed_bytes(
            &self.proposal,
            &self.response,
            &self.endorsements,
        ))
        .bytes(&self.signature);
        e.finish()
    }
}

/// Serde helpers: bytes as base64 in JSON.
pub(crate) mod base64_bytes {
    use base64::Engine;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&base64::engine::general_purpose::STANDARD.encode(bytes))
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let text = String::deserialize(d)?;
        base64::engine::general_purpose::STANDARD
            .decode(text)
            .map_err(serde::de::Error::custom)
    }
}

/// Serde helpers: a hash as hex in JSON.
pub(crate) mod hex_hash {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(hash: &[u8; 32], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&super::hex(hash))
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<[u8; 32], D::Error> {
        let text = String::deserialize(d)?;
        let mut out = [0u8; 32];
        if text.len() != 64 {
            return Err(serde::de::Error::custom("a hash is 64 hex digits"));
        }
        for (i, chunk) in text.as_bytes().chunks(2).enumerate() {
            let pair = std::str::from_utf8(chunk).map_err(serde::de::Error::custom)?;
            out[i] = u8::from_str_radix(pair, 16).map_err(serde::de::Error::custom)?;
        }
        Ok(out)
    }
}
