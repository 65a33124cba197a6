//! Keys and tokens for warga.
//!
//! * [`vault`] — envelope encryption of sensitive columns with data keys wrapped by the
//!   master key, and keyed hashes (HMAC) for lookups without clear values.
//! * [`keyring`] — ES256 signing keys (P-256, through *ring*), sealed at rest with a master
//!   key, rotated on schedule; retired keys stay in the JWKS document until every token
//!   they signed has expired.
//! * [`mint`] — access and ID tokens (JWT, RFC 9068 `at+jwt`).
//! * [`validate`] — [`TokenValidator`]: checks signature, algorithm, issuer, audience,
//!   expiry, not-before and revocation, and turns the claims into a
//!   [`Principal`](warga_core::identity::Principal). It trusts either warga's own keyring
//!   (read from the shared database, so any process of a deployment validates locally) or
//!   an external OpenID Connect issuer such as a Keycloak realm, found through discovery.
//!
//! Invariants: only asymmetric algorithms are accepted, and only the one that matches the
//! key named by `kid` (so `alg: none` and HS256-with-the-public-key are refused); a token's
//! validity never depends on anything the token itself says about keys (`jku`, `jwk` and
//! `x5u` headers are ignored).

#![forbid(unsafe_code)]
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

pub mod claims;
pub mod keyring;
pub mod mint;
mod remote;
pub mod revocation;
mod seal;
pub mod slow_hash;
pub mod validate;
pub mod vault;

use warga_store::{MigrationSet, MigrationStep};

pub use claims::AccessClaims;
pub use keyring::{KeyRing, MasterKey};
pub use mint::Minter;
pub use revocation::Revocations;
pub use validate::TokenValidator;
pub use vault::{Sealed, Vault};

/// Why a token or a key operation was refused. The display text is safe to show clients.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("the token is malformed")]
    Malformed,
    #[error("the token uses algorithm {0}, which is not accepted")]
    UnsupportedAlgorithm(String),
    #[error("the token names no signing key (kid)")]
    MissingKeyId,
    #[error("the token's signing key is unknown")]
    UnknownKey,
    #[error("the token's signature is invalid")]
    BadSignature,
    #[error("the token has expired")]
    Expired,
    #[error("the token is not valid yet")]
    NotYetValid,
    #[error("the token was issued by another issuer")]
    WrongIssuer,
    #[error("the token is meant for another audience")]
    WrongAudience,
    #[error("the token has been revoked")]
    Revoked,
    #[error("the token lacks the {0} claim")]
    MissingClaim(&'static str),
    #[error("the token issuer cannot be reached: {0}")]
    IssuerUnavailable(String),
    #[error("key material error: {0}")]
    Keys(String),
    #[error(transparent)]
    Store(#[from] warga_store::StoreError),
}

impl AuthError {
    /// Failures of the token itself (401), as opposed to our own trouble (5xx).
    pub fn is_client_error(&self) -> bool {
        !matches!(
            self,
            AuthError::IssuerUnavailable(_) | AuthError::Keys(_) | AuthError::Store(_)
        )
    }
}

/// The tables of signing keys and revoked tokens.
/// Portable DDL: the same step for SQLite and PostgreSQL.
const STEPS: &[MigrationStep] = &[
    MigrationStep {
        version: 2026112220,
        description: "auth signing keys",
        sql: include_str!("../migrations/2026112220_signing_keys.sql"),
    },
    MigrationStep {
        version: 2026112221,
        description: "vault data keys",
        sql: include_str!("../migrations/2026112221_vault.sql"),
    },
];

pub const MIGRATIONS: MigrationSet = MigrationSet {
    owner: "auth",
    sqlite: STEPS,
    postgres: STEPS,
};

/// Random bytes as unpadded base64url: tokens, codes, ids.
pub fn random_token(bytes: usize) -> Result<String, AuthError> {
    use base64::Engine;
    use ring::rand::SecureRandom;
    let mut buf = vec![0u8; bytes];
    ring::rand::SystemRandom::new()
        .fill(&mut buf)
        .map_err(|_| AuthError::Keys("no randomness".into()))?;
    Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(buf))
}

/// A uniformly random code of `digits` decimal digits (1 to 9), e.g. a one-time code sent
/// by SMS; drawn by rejection so that no code is likelier than another.
pub fn random_code(digits: u32) -> Result<String, AuthError> {
    use ring::rand::SecureRandom;
    let digits = digits.clamp(1, 9);
    let modulus = 10u32.pow(digits);
    let limit = u32::MAX - u32::MAX % modulus;
    let rng = ring::rand::SystemRandom::new();
    loop {
        let mut buf = [0u8; 4];
        rng.fill(&mut buf)
            .map_err(|_| AuthError::Keys("no randomness".into()))?;
        let value = u32::from_le_bytes(buf);
        if value < limit {
            return Ok(format!("{:0width$}", value % modulus, width = digits as usize));
        }
    }
}

/// SHA-256 of a secret token as hex: what is stored instead of the token.
pub fn token_hash(token: &str) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, token.as_bytes());
    digest.as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

/// Compares secrets in time independent of where they differ.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    use subtle::ConstantTimeEq;
    a.ct_eq(b).into()
}
