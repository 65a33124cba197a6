//! Who holds the private keys of people's ledger identities.
//!
//! [`KeyCustody`] is the seam: a key is created inside the custody (which hands out only a
//! certificate request signed with it) and used only through [`KeyCustody::sign`]. The
//! platform's vault is the custody today ([`VaultCustody`]: the PKCS#8 key sealed by envelope
//! encryption, opened in memory for one signature); a hardware module over PKCS##11 can
//! take its place without the gateway changing.

use sqlx::Row;
use warga_auth::{Sealed, Vault};
use warga_store::{Store, StoreError};

use crate::LedgerError;

/// A key made inside the custody.
pub struct NewKey {
    /// How the custody finds the key again.
    pub key_ref: String,
    /// A certificate request (PKCS#10, PEM) for the key, signed with it.
    pub csr_pem: String,
}

/// Keeps ECDSA P-256 keys and signs with them; no key ever leaves it.
#[async_trait::async_trait]
pub trait KeyCustody: Send + Sync + 'static {
    /// A new key held for `owner`, with a certificate request naming `common_name`.
    async fn create(&self, owner: &str, common_name: &str) -> Result<NewKey, LedgerError>;
    /// An ECDSA P-256/SHA-256 signature (ASN.1 DER) over `message` with key `key_ref`.
    async fn sign(&self, key_ref: &str, message: &[u8]) -> Result<Vec<u8>, LedgerError>;
}

/// Keys sealed by the platform's vault in `ledger_keys`.
#[derive(Clone)]
pub struct VaultCustody {
    store: Store,
    vault: Vault,
}

impl VaultCustody {
    pub fn new(store: Store, vault: Vault) -> VaultCustody {
        VaultCustody { store, vault }
    }
}

/// The sealing context of a key: a sealed key moved to another row does not open.
fn context(key_ref: &str) -> String {
    format!("ledger-key:{key_ref}")
}

fn key_error(error: impl std::fmt::Display) -> LedgerError {
    LedgerError::Internal(format!("a ledger key: {error}"))
}

#[async_trait::async_trait]
impl KeyCustody for VaultCustody {
    async fn create(&self, owner: &str, common_name: &str) -> Result<NewKey, LedgerError> {
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).map_err(key_error)?;
        let mut params = rcgen::CertificateParams::default();
        params.distinguished_name.push(rcgen::DnType::CommonName, common_name);
        let csr_pem = params
            .serialize_request(&key)
            .and_then(|csr| csr.pem())
            .map_err(key_error)?;
        let key_ref = uuid::Uuid::now_v7().hyphenated().to_string();
        let sealed = self.vault.seal(&key.serialize_der(), &context(&key_ref)).await?;
        sqlx::query("INSERT INTO ledger_keys (id, owner, key_id, sealed, created_at_ms) VALUES ($1, $2, $3, $4, $5)")
            .bind(&key_ref)
            .bind(owner)
            .bind(&sealed.key_id)
            .bind(&sealed.ciphertext)
            .bind(warga_core::time::now_ms())
            .execute(self.store.writer())
            .await
            .map_err(StoreError::from)?;
        Ok(NewKey { key_ref, csr_pem })
    }

    async fn sign(&self, key_ref: &str, message: &[u8]) -> Result<Vec<u8>, LedgerError> {
        let row = sqlx::query("SELECT key_id, sealed FROM ledger_keys WHERE id = $1")
            .bind(key_ref)
            .fetch_optional(self.store.reader())
            .await
            .map_err(StoreError::from)?
            .ok_or_else(|| LedgerError::Internal(format!("no ledger key {key_ref}")))?;
        let sealed = Sealed {
            key_id: row.get(0),
            ciphertext: row.get(1),
        };
        let pkcs8 = self.vault.open(&sealed, &context(key_ref)).await?;
        let rng = ring::rand::SystemRandom::new();
        let key =
            ring::signature::EcdsaKeyPair::from_pkcs8(&ring::signature::ECDSA_P256_SHA256_ASN1_SIGNING, &pkcs8, &rng)
                .map_err(key_error)?;
        let signature = key.sign(&rng, message).map_err(key_error)?;
        Ok(signature.as_ref().to_vec())
    }
}
