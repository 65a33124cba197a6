//! The vault: envelope encryption of sensitive columns and keyed hashes for lookups.
//!
//! Each sensitive value is sealed (AES-256-GCM) with a *data key*; data keys are stored
//! wrapped by the master key ([`MasterKey`]), and every sealed value carries the id of its
//! data key, so keys can change without re-encrypting the data: [`Vault::rotate`] makes a
//! new data key for new data and re-wraps every data key with the current master key.
//! Values that must be found again without being stored in clear (a NIK) are indexed by
//! HMAC-SHA-256 under a separate, long-lived index key.

use std::collections::HashMap;
use std::sync::Arc;

use ring::rand::{SecureRandom, SystemRandom};
use sqlx::Row;
use tokio::sync::RwLock;
use warga_store::{Store, StoreError};

use crate::{AuthError, MasterKey};

const PURPOSE_SEAL: &str = "seal";
const PURPOSE_INDEX: &str = "index";

/// A sealed value: the data key's id and `base64(nonce || ciphertext || tag)`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sealed {
    pub key_id: String,
    pub ciphertext: String,
}

struct Keys {
    /// Unwrapped data keys by id.
    seal: HashMap<String, Arc<[u8; 32]>>,
    /// The data key new values are sealed with.
    current: Option<String>,
    index: Option<(String, ring::hmac::Key)>,
}

/// Envelope encryption and keyed hashing; cheap to clone.
#[derive(Clone)]
pub struct Vault {
    store: Store,
    master: Arc<MasterKey>,
    keys: Arc<RwLock<Keys>>,
}

fn random_key() -> Result<[u8; 32], AuthError> {
    let mut key = [0u8; 32];
    SystemRandom::new()
        .fill(&mut key)
        .map_err(|_| AuthError::Keys("no randomness".into()))?;
    Ok(key)
}

impl Vault {
    pub fn new(store: Store, master: Arc<MasterKey>) -> Vault {
        Vault {
            store,
            master,
            keys: Arc::new(RwLock::new(Keys {
                seal: HashMap::new(),
                current: None,
                index: None,
            })),
        }
    }

    async fn load(&self) -> Result<(), AuthError> {
        let rows =
            sqlx::query("SELECT id, purpose, wrapped, retired_at_ms FROM vault_data_keys ORDER BY created_at_ms, id")
                .fetch_all(self.store.reader())
                .await
                .map_err(StoreError::from)?;
        let mut keys = Keys {
            seal: HashMap::new(),
            current: None,
            index: None,
        };
        for row in rows {
            let id: String = row.get(0);
            let purpose: String = row.get(1);
            let bytes = self.master.open(&row.get::<String, _>(2), &id)?;
            let key: [u8; 32] = bytes
                .try_into()
                .map_err(|_| AuthError::Keys(format!("data key {id} is not 32 bytes")))?;
            match purpose.as_str() {
                PURPOSE_INDEX => keys.index = Some((id, ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &key))),
                _ => {
                    if row.get::<Option<i64>, _>(3).is_none() {
                        keys.current = Some(id.clone());
                    }
                    keys.seal.insert(id, Arc::new(key));
                }
            }
        }
        *self.keys.write().await = keys;
        Ok(())
    }

    async fn create(&self, purpose: &str) -> Result<String, AuthError> {
        let id = uuid::Uuid::now_v7().simple().to_string();
        let wrapped = self.master.seal(&random_key()?, &id)?;
        let now = warga_core::time::now_ms();
        let mut tx = self.store.begin().await?;
        if purpose == PURPOSE_SEAL {
            sqlx::query(
                "UPDATE vault_data_keys SET retired_at_ms = $1 WHERE purpose = 'seal' AND retired_at_ms IS NULL",
            )
            .bind(now)
            .execute(tx.conn())
            .await
            .map_err(StoreError::from)?;
        }
        sqlx::query(
            "INSERT INTO vault_data_keys (id, purpose, wrapped, wrapped_with, created_at_ms) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&id)
        .bind(purpose)
        .bind(wrapped)
        .bind(self.master.id())
        .bind(now)
        .execute(tx.conn())
        .await
        .map_err(StoreError::from)?;
        tx.commit().await?;
        Ok(id)
    }

    /// Loads the keys, creating the first seal and index keys when there are none.
    pub async fn open_or_init(store: Store, master: Arc<MasterKey>) -> Result<Vault, AuthError> {
        let vault = Vault::new(store, master);
        vault.load().await?;
        let (no_seal, no_index) = {
            let keys = vault.keys.read().await;
            (keys.current.is_none(), keys.index.is_none())
        };
        if no_seal {
            vault.create(PURPOSE_SEAL).await?;
        }
        if no_index {
            vault.create(PURPOSE_INDEX).await?;
        }
        if no_seal || no_index {
            vault.load().await?;
        }
        Ok(vault)
    }

    /// Seals `plaintext`, bound to `context` (e.g. `resident:<id>:name`): a value moved to
    /// another row or column does not open.
    pub async fn seal(&self, plaintext: &[u8], context: &str) -> Result<Sealed, AuthError> {
        let (key_id, key) = self.current_key().await?;
        let ciphertext = key.seal(plaintext, context)?;
        Ok(Sealed { key_id, ciphertext })
    }

    /// The data key new values are sealed with, and its id.
    async fn current_key(&self) -> Result<(String, crate::seal::SealingKey), AuthError> {
        let keys = self.keys.read().await;
        let key_id = keys
            .current
            .clone()
            .ok_or_else(|| AuthError::Keys("the vault has no data key".into()))?;
        let key = keys
            .seal
            .get(&key_id)
            .cloned()
            .ok_or_else(|| AuthError::Keys("data key missing".into()))?;
        drop(keys);
        Ok((key_id, crate::seal::SealingKey::new(key.as_ref())?))
    }

    /// Opens a sealed value (reloading the keys once if its data key is new to this process).
    pub async fn open(&self, sealed: &Sealed, context: &str) -> Result<Vec<u8>, AuthError> {
        self.sealing_key(&sealed.key_id)
            .await?
            .open(&sealed.ciphertext, context)
    }

    /// Seals a large value (a file) as raw bytes; returns the data key's id, to be stored
    /// beside it, and `nonce ‖ ciphertext ‖ tag`.
    pub async fn seal_bytes(&self, plaintext: &[u8], context: &str) -> Result<(String, Vec<u8>), AuthError> {
        let (key_id, key) = self.current_key().await?;
        Ok((key_id, key.seal_bytes(plaintext, context)?))
    }

    /// Opens what [`Vault::seal_bytes`] sealed.
    pub async fn open_bytes(&self, key_id: &str, sealed: Vec<u8>, context: &str) -> Result<Vec<u8>, AuthError> {
        self.sealing_key(key_id).await?.open_bytes(sealed, context)
    }

    async fn sealing_key(&self, key_id: &str) -> Result<crate::seal::SealingKey, AuthError> {
        if !self.keys.read().await.seal.contains_key(key_id) {
            self.load().await?;
        }
        let key = self
            .keys
            .read()
            .await
            .seal
            .get(key_id)
            .cloned()
            .ok_or_else(|| AuthError::Keys(format!("unknown data key {key_id}")))?;
        crate::seal::SealingKey::new(key.as_ref())
    }

    /// The keyed hash (hex) of `value` under the index key, for equality lookups.
    pub async fn index(&self, value: &str) -> Result<String, AuthError> {
        let keys = self.keys.read().await;
        let (_, key) = keys
            .index
            .as_ref()
            .ok_or_else(|| AuthError::Keys("the vault has no index key".into()))?;
        let tag = ring::hmac::sign(key, value.as_bytes());
        Ok(tag.as_ref().iter().map(|b| format!("{b:02x}")).collect())
    }

    /// A new data key for new values, and every data key re-wrapped with the current master
    /// key. Returns the new key's id and how many keys were re-wrapped.
    pub async fn rotate(&self) -> Result<(String, usize), AuthError> {
        let id = self.create(PURPOSE_SEAL).await?;
        let rows = sqlx::query("SELECT id, wrapped FROM vault_data_keys")
            .fetch_all(self.store.writer())
            .await
            .map_err(StoreError::from)?;
        let mut tx = self.store.begin().await?;
        let mut rewrapped = 0;
        for row in &rows {
            let key_id: String = row.get(0);
            let key = self.master.open(&row.get::<String, _>(1), &key_id)?;
            sqlx::query("UPDATE vault_data_keys SET wrapped = $1, wrapped_with = $2 WHERE id = $3")
                .bind(self.master.seal(&key, &key_id)?)
                .bind(self.master.id())
                .bind(&key_id)
                .execute(tx.conn())
                .await
                .map_err(StoreError::from)?;
            rewrapped += 1;
        }
        tx.commit().await?;
        self.load().await?;
        Ok((id, rewrapped))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use warga_store::testing::TestDb;

    async fn vault(db: &TestDb, master: u8) -> Vault {
        Vault::open_or_init(
            db.store.clone(),
            Arc::new(MasterKey::from_bytes(&[master; 32]).unwrap()),
        )
        .await
        .unwrap()
    }

    #[tokio::test]
    async fn seals_opens_and_survives_rotation() {
        let db = TestDb::sqlite(&[crate::MIGRATIONS]).await;
        let vault = vault(&db, 3).await;
        let sealed = vault.seal("Siti Aminah".as_bytes(), "resident:1:name").await.unwrap();
        assert!(!sealed.ciphertext.contains("Siti"));
        assert_eq!(vault.open(&sealed, "resident:1:name").await.unwrap(), b"Siti Aminah");
        assert!(
            vault.open(&sealed, "resident:2:name").await.is_err(),
            "bound to its context"
        );

        let (new_key, rewrapped) = vault.rotate().await.unwrap();
        assert_eq!(rewrapped, 3, "two seal keys and the index key");
        let after = vault.seal(b"Budi", "resident:2:name").await.unwrap();
        assert_eq!(after.key_id, new_key, "new data uses the new key");
        assert_eq!(
            vault.open(&sealed, "resident:1:name").await.unwrap(),
            b"Siti Aminah",
            "old data still opens"
        );

        // Another process (a fresh vault over the same store) reads both.
        let other = super::Vault::open_or_init(db.store.clone(), Arc::new(MasterKey::from_bytes(&[3; 32]).unwrap()))
            .await
            .unwrap();
        assert_eq!(other.open(&after, "resident:2:name").await.unwrap(), b"Budi");
        let (key_id, file) = vault.seal_bytes(b"photo bytes", "report:r:photo:1").await.unwrap();
        assert_eq!(key_id, new_key);
        assert_eq!(
            other
                .open_bytes(&key_id, file.clone(), "report:r:photo:1")
                .await
                .unwrap(),
            b"photo bytes"
        );
        assert!(other.open_bytes(&key_id, file, "report:r:photo:2").await.is_err());
        let wrong = Vault::new(db.store.clone(), Arc::new(MasterKey::from_bytes(&[4; 32]).unwrap()));
        assert!(
            wrong.open(&sealed, "resident:1:name").await.is_err(),
            "the master key guards the data keys"
        );
    }

    #[tokio::test]
    async fn keyed_hashes_are_stable_and_secret() {
        let db = TestDb::sqlite(&[crate::MIGRATIONS]).await;
        let vault = vault(&db, 5).await;
        let a = vault.index("3171075203950004").await.unwrap();
        assert_eq!(a, vault.index("3171075203950004").await.unwrap());
        assert_ne!(a, vault.index("3171075203950005").await.unwrap());
        assert_eq!(a.len(), 64);
        let plain = ring::digest::digest(&ring::digest::SHA256, b"3171075203950004");
        let plain: String = plain.as_ref().iter().map(|b| format!("{b:02x}")).collect();
        assert_ne!(a, plain, "not a plain hash: NIKs cannot be enumerated without the key");
        vault.rotate().await.unwrap();
        assert_eq!(
            vault.index("3171075203950004").await.unwrap(),
            a,
            "rotation keeps the index key"
        );
    }
}
