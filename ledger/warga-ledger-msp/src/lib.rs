//! Membership service providers (MSPs) for warga's ledger, as in Hyperledger Fabric: each
//! organisation has a certificate authority; an identity is an X.509 certificate issued by
//! it whose organisational unit (`OU=admin|peer|orderer|client`) is its role — visible to
//! `openssl x509 -text` like Fabric's node OUs.
//!
//! - [`generate`]: crypto material for a whole network file (CAs, TLS CAs, node, admin and
//!   user identities, TLS certificates), laid out like Fabric's `cryptogen` output.
//! - [`Msp`]: validates an identity against its organisation's CA — chain, validity period,
//!   revocation list, role — and verifies its signatures.
//! - [`channel`]: a channel's MSPs from its configuration in the chain, its genesis block.
//! - [`SigningIdentity`]: a certificate with its private key, to sign.
//! - [`attributes`]: attributes in certificates (Fabric CA's extension), e.g. a facility code.
//!
//! Signatures are ECDSA P-256 with SHA-256 (ring); certificates and revocation lists are
//! made by rcgen and read by x509-parser.

#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

pub mod attestor;
pub mod attributes;
pub mod channel;
pub mod generate;
mod identity;
#[cfg(feature = "testing")]
pub mod testing;

pub use identity::{
    EdgeMsps, Identity, Msp, MspError, Msps, SigningIdentity, certificate_pem_to_der, not_after, revocation_list,
    revocation_list_der, revocation_list_pem, sign_block, verify_block_signature, verify_with_certificate,
};
