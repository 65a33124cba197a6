//! The ledger's pure core, in the model of Hyperledger Fabric. Everything here is
//! deterministic and does no IO: the same inputs give the same outputs on every peer,
//! which is what lets peers agree on a block's validity without talking to each other.
//!
//! - [`policy`]: endorsement policies in Fabric's grammar and their evaluation.
//! - [`config`]: a channel's configuration in the chain and its signed updates.
//! - [`network`]: the network file (organisations, orderers, channels, chaincode
//!   definitions), checked with errors that name the line.
//! - [`tx`]: proposals, responses, endorsements and transactions, and the canonical bytes
//!   that are signed and hashed.
//! - [`rwset`]: read/write sets, versions, the state a simulation reads.
//! - [`chaincode`]: the contract API (Fabric's shim) and the simulator.
//! - [`bpjs`]: the BPJS Kesehatan contract.
//! - [`attestation`]: the population registry's signed word that a NIK is a living resident.
//! - [`validate`]: the checks a committing peer runs on ordered transactions.
//! - [`encoding`]: the canonical bytes that are signed and hashed.
//! - [`code`]: Fabric's validation codes.
//! - [`block`]: hash-chained blocks, the genesis block, metadata with validation codes.
//! - [`cutter`]: the orderer's block cutter (BatchSize, BatchTimeout).

#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

pub mod attestation;
pub mod block;
pub mod bpjs;
pub mod chaincode;
pub mod code;
pub mod config;
pub mod cutter;
pub mod encoding;
pub mod network;
pub mod policy;
pub mod rwset;
pub mod tx;
pub mod validate;
