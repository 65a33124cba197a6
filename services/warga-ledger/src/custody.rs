//! Who holds the private keys of people's ledger identities.
//!
//! [`KeyCustody`] is the seam: a key is created inside the custody (which hands out only a
//! certificate request signed with it) and used only through [`KeyCustody::sign`]. The
//! platform's vault is the custody today ([`VaultCustody`]: the PKCS#8 key sealed by envelope
//! encryption; an opened key stays in this process's memory for [`OPENED_FOR`] at most, as a
//! hardware module keeps a session's key handle, so a busy counter does not read and open it
//! for every signature); a hardware module over PKCS#11 can take its place without the
//! gateway changing.

use std::sync::Arc;
use std::time::Duration;

use ring::signature::EcdsaKeyPair;
use sqlx::Row;
use warga_auth::{Sealed, Vault};
use warga_core::recent::Recent;
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

/// How long an opened key stays in memory after it was opened (then it is read from the
/// database and opened again).
pub const OPENED_FOR: Duration = Duration::from_secs(300);
/// Most opened keys held at once (the oldest go first).
const OPENED_MAX: usize = 4096;

/// Keys sealed by the platform's vault in `ledger_keys`.
#[derive(Clone)]
pub struct VaultCustody {
    store: Store,
    vault: Vault,
    /// Opened keys by reference.
    opened: Arc<Recent<String, Arc<EcdsaKeyPair>>>,
    rng: ring::rand::SystemRandom,
}

impl VaultCustody {
    pub fn new(store: Store, vault: Vault) -> VaultCustody {
        VaultCustody {
            store,
            vault,
            opened: Arc::new(Recent::new(OPENED_FOR, OPENED_MAX)),
            rng: ring::rand::SystemRandom::new(),
        }
    }

    /// Key `key_ref`, opened now or earlier within [`OPENED_FOR`].
    async fn key(&self, key_ref: &str) -> Result<Arc<EcdsaKeyPair>, LedgerError> {
        let key_ref = key_ref.to_owned();
        if let Some(key) = self.opened.get(&key_ref) {
            return Ok(key);
        }
        let row = sqlx::query("SELECT key_id, sealed FROM ledger_keys WHERE id = $1")
            .bind(&key_ref)
            .fetch_optional(self.store.reader())
            .await
            .map_err(StoreError::from)?
            .ok_or_else(|| LedgerError::Internal(format!("no ledger key {key_ref}")))?;
        let sealed = Sealed {
            key_id: row.get(0),
            ciphertext: row.get(1),
        };
        let pkcs8 = zeroize::Zeroizing::new(self.vault.open(&sealed, &context(&key_ref)).await?);
        let key = Arc::new(
            EcdsaKeyPair::from_pkcs8(&ring::signature::ECDSA_P256_SHA256_ASN1_SIGNING, &pkcs8, &self.rng)
                .map_err(key_error)?,
        );
        self.opened.insert(key_ref, key.clone());
        Ok(key)
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
        let key = self.key(key_ref).await?;
        let signature = key.sign(&self.rng, message).map_err(key_error)?;
        Ok(signature.as_ref().to_vec())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use warga_auth::MasterKey;
    use warga_store::testing::TestDb;

    use super::*;

    /// A key is read and opened once, then signs from memory; what it signs verifies with
    /// its public key.
    #[tokio::test]
    async fn an_opened_key_signs_from_memory() {
        let db = TestDb::sqlite(&[warga_auth::MIGRATIONS, crate::MIGRATIONS]).await;
        let master = Arc::new(MasterKey::from_bytes(&[3u8; 32]).unwrap());
        let vault = Vault::open_or_init(db.store.clone(), master).await.unwrap();
        let custody = VaultCustody::new(db.store.clone(), vault);
        let key = custody.create("user:siti", "siti").await.unwrap();
        let first = custody.sign(&key.key_ref, b"proposal").await.unwrap();

        // Gone from the database: the opened key still signs (within OPENED_FOR).
        sqlx::query("DELETE FROM ledger_keys")
            .execute(db.store.writer())
            .await
            .unwrap();
        let second = custody.sign(&key.key_ref, b"transaction").await.unwrap();
        let public = custody.key(&key.key_ref).await.unwrap();
        let public = ring::signature::KeyPair::public_key(public.as_ref()).as_ref().to_vec();
        for (message, signature) in [(&b"proposal"[..], first), (&b"transaction"[..], second)] {
            ring::signature::UnparsedPublicKey::new(&ring::signature::ECDSA_P256_SHA256_ASN1, &public)
                .verify(message, &signature)
                .unwrap();
        }

        // Another custody (another process) reads the database: the key is gone there.
        let vault = Vault::open_or_init(db.store.clone(), Arc::new(MasterKey::from_bytes(&[3u8; 32]).unwrap()))
            .await
            .unwrap();
        let elsewhere = VaultCustody::new(db.store.clone(), vault);
        assert!(elsewhere.sign(&key.key_ref, b"proposal").await.is_err());
    }
}
