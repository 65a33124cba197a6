//! The ledger's pure core, in the model of Hyperledger Fabric. Everything here is
//! deterministic and does no IO: the same inputs give the same outputs on every peer,
//! which is what lets peers agree on a block's validity without talking to each other.
//!
//! - [`policy`]: endorsement policies in Fabric's grammar and their evaluation.
//! - [`network`]: the network file (organisations, orderers, channels, chaincode
//!   definitions), checked with errors that name the line.

#![forbid(unsafe_code)]

pub mod network;
pub mod policy;
