//! Signing keys: generated with *ring* (ECDSA P-256, i.e. ES256), sealed at rest, rotated.
//!
//! ES256 rather than RS256 or EdDSA: small keys and signatures, fast signing, supported by
//! every OIDC client library and by Keycloak, and available in *ring*, the one crypto
//! provider of the process.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use jsonwebtoken::{DecodingKey, EncodingKey};
use ring::rand::{SecureRandom, SystemRandom};
use ring::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
use sqlx::Row;
use tokio::sync::RwLock;
use warga_config::Config;
use warga_store::{Store, StoreError};

use crate::AuthError;

/// How long a cached view of the keys is trusted before it is re-read (other replicas may
/// have rotated).
const CACHE_TTL: Duration = Duration::from_secs(60);
/// An unknown `kid` re-reads the keys at most this often.
const MISS_REFRESH_MIN: Duration = Duration::from_secs(1);

/// The key that seals signing keys at rest (AES-256-GCM).
pub struct MasterKey {
    id: String,
    key: crate::seal::SealingKey,
}

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MasterKey")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

impl MasterKey {
    /// `identity.master_key` when configured, else the key file under `data_dir/keys`,
    /// created (owner-only) on first use.
    pub fn load_or_create(config: &Config) -> Result<MasterKey, AuthError> {
        match &config.identity.master_key {
            Some(encoded) => {
                let bytes = STANDARD
                    .decode(encoded.expose().trim())
                    .map_err(|_| AuthError::Keys("identity.master_key is not base64".into()))?;
                MasterKey::from_bytes(&bytes)
            }
            None => MasterKey::from_file(&config.data_dir.join("keys/master.key")),
        }
    }

    fn from_file(path: &Path) -> Result<MasterKey, AuthError> {
        if let Ok(text) = std::fs::read_to_string(path) {
            let bytes = STANDARD
                .decode(text.trim())
                .map_err(|_| AuthError::Keys(format!("{} is corrupt", path.display())))?;
            return MasterKey::from_bytes(&bytes);
        }
        let mut bytes = [0u8; 32];
        SystemRandom::new()
            .fill(&mut bytes)
            .map_err(|_| AuthError::Keys("no randomness".into()))?;
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)
                .map_err(|e| AuthError::Keys(format!("cannot create {}: {e}", dir.display())))?;
        }
        write_private(path, STANDARD.encode(bytes).as_bytes())?;
        tracing::info!(path = %path.display(), "generated the master key");
        MasterKey::from_bytes(&bytes)
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<MasterKey, AuthError> {
        let key = crate::seal::SealingKey::new(bytes)
            .map_err(|_| AuthError::Keys("the master key must be 32 bytes".into()))?;
        let digest = ring::digest::digest(&ring::digest::SHA256, bytes);
        let id = digest.as_ref()[..6]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>();
        Ok(MasterKey {
            id: format!("mk-{id}"),
            key,
        })
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    /// `base64(nonce || ciphertext || tag)`, bound to `context` (e.g. the key id).
    pub fn seal(&self, plaintext: &[u8], context: &str) -> Result<String, AuthError> {
        self.key.seal(plaintext, context)
    }

    pub fn open(&self, sealed: &str, context: &str) -> Result<Vec<u8>, AuthError> {
        self.key.open(sealed, context)
    }
}

fn write_private(path: &Path, contents: &[u8]) -> Result<(), AuthError> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| AuthError::Keys(format!("cannot write {}: {e}", path.display())))?;
    file.write_all(contents).map_err(|e| AuthError::Keys(e.to_string()))
}

/// A key to verify signatures with, and the only algorithm it may be used with.
#[derive(Clone)]
pub struct VerifyKey {
    pub key: DecodingKey,
    pub algorithm: jsonwebtoken::Algorithm,
}

struct Cache {
    signing: Option<(String, EncodingKey, i64)>,
    verify: HashMap<String, VerifyKey>,
    jwks: Vec<serde_json::Value>,
    loaded_at: Option<Instant>,
}

/// warga's own signing keys, shared by every process of a deployment through the database.
#[derive(Clone)]
pub struct KeyRing {
    store: Store,
    master: Arc<MasterKey>,
    rotation_ms: i64,
    /// How long after retirement a key stays published: the longest token lifetime.
    publish_after_retire_ms: i64,
    cache: Arc<RwLock<Cache>>,
    /// When keys are due for rotation and stop being published (the wall clock, or a
    /// manual one in tests).
    clock: Arc<dyn warga_core::time::Clock>,
}

impl KeyRing {
    pub fn new(store: Store, master: Arc<MasterKey>, rotation: Duration, longest_token: Duration) -> KeyRing {
        KeyRing {
            store,
            master,
            rotation_ms: rotation.as_millis() as i64,
            publish_after_retire_ms: longest_token.as_millis() as i64,
            cache: Arc::new(RwLock::new(Cache {
                signing: None,
                verify: HashMap::new(),
                jwks: Vec::new(),
                loaded_at: None,
            })),
            clock: Arc::new(warga_core::time::SystemClock),
        }
    }

    /// The same keyring reading time from `clock`.
    pub fn with_clock(mut self, clock: Arc<dyn warga_core::time::Clock>) -> KeyRing {
        self.clock = clock;
        self
    }

    /// The key to sign with now: made when there is none, rotated when it is due.
    pub async fn signing_key(&self) -> Result<(String, EncodingKey), AuthError> {
        let now = self.clock.now_ms();
        {
            let cache = self.cache.read().await;
            if let (Some((kid, key, created)), Some(at)) = (&cache.signing, cache.loaded_at)
                && at.elapsed() < CACHE_TTL
                && now - created < self.rotation_ms
            {
                return Ok((kid.clone(), key.clone()));
            }
        }
        self.reload().await?;
        let due = {
            let cache = self.cache.read().await;
            match &cache.signing {
                Some((_, _, created)) => now - created >= self.rotation_ms,
                None => true,
            }
        };
        if due {
            self.rotate().await?;
        }
        let cache = self.cache.read().await;
        match &cache.signing {
            Some((kid, key, _)) => Ok((kid.clone(), key.clone())),
            None => Err(AuthError::Keys("no signing key after rotation".into())),
        }
    }

    /// Makes a new signing key and retires the current ones (they stay published until
    /// their tokens have expired). Returns the new key id.
    pub async fn rotate(&self) -> Result<String, AuthError> {
        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
            .map_err(|_| AuthError::Keys("cannot generate a key".into()))?;
        let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &rng)
            .map_err(|_| AuthError::Keys("generated key is invalid".into()))?;
        let public = pair.public_key().as_ref();
        debug_assert_eq!(public.len(), 65, "uncompressed P-256 point");
        let thumb = ring::digest::digest(&ring::digest::SHA256, public);
        let kid = URL_SAFE_NO_PAD.encode(&thumb.as_ref()[..16]);
        let jwk = serde_json::json!({
            "kty": "EC",
            "crv": "P-256",
            "x": URL_SAFE_NO_PAD.encode(&public[1..33]),
            "y": URL_SAFE_NO_PAD.encode(&public[33..65]),
            "kid": kid,
            "use": "sig",
            "alg": "ES256",
        });
        let sealed = self.master.seal(pkcs8.as_ref(), &kid)?;
        let now = self.clock.now_ms();
        let mut tx = self.store.begin().await?;
        sqlx::query(
            "UPDATE auth_signing_keys SET retired_at_ms = $1, publish_until_ms = $2 WHERE retired_at_ms IS NULL",
        )
        .bind(now)
        .bind(now + self.publish_after_retire_ms)
        .execute(tx.conn())
        .await
        .map_err(StoreError::from)?;
        sqlx::query(
            "INSERT INTO auth_signing_keys (kid, alg, private_sealed, sealed_with, public_jwk, created_at_ms) \
             VALUES ($1, 'ES256', $2, $3, $4, $5)",
        )
        .bind(&kid)
        .bind(sealed)
        .bind(self.master.id())
        .bind(jwk.to_string())
        .bind(now)
        .execute(tx.conn())
        .await
        .map_err(StoreError::from)?;
        tx.commit().await?;
        tracing::info!(kid, "signing key rotated");
        self.reload().await?;
        Ok(kid)
    }

    /// The public keys to publish (JWKS `keys`).
    pub async fn jwks(&self) -> Result<serde_json::Value, AuthError> {
        self.fresh().await?;
        let cache = self.cache.read().await;
        Ok(serde_json::json!({ "keys": cache.jwks }))
    }

    /// The verification key named `kid`, re-reading the keys once when it is unknown.
    pub async fn verify_key(&self, kid: &str) -> Result<Option<VerifyKey>, AuthError> {
        self.fresh().await?;
        if let Some(key) = self.cache.read().await.verify.get(kid) {
            return Ok(Some(key.clone()));
        }
        let recently = self
            .cache
            .read()
            .await
            .loaded_at
            .is_some_and(|at| at.elapsed() < MISS_REFRESH_MIN);
        if !recently {
            self.reload().await?;
        }
        Ok(self.cache.read().await.verify.get(kid).cloned())
    }

    async fn fresh(&self) -> Result<(), AuthError> {
        let stale = self
            .cache
            .read()
            .await
            .loaded_at
            .is_none_or(|at| at.elapsed() >= CACHE_TTL);
        if stale {
            self.reload().await?;
        }
        Ok(())
    }

    async fn reload(&self) -> Result<(), AuthError> {
        let now = self.clock.now_ms();
        let rows = sqlx::query(
            "SELECT kid, private_sealed, public_jwk, created_at_ms, retired_at_ms FROM auth_signing_keys \
             WHERE retired_at_ms IS NULL OR publish_until_ms > $1 ORDER BY created_at_ms",
        )
        .bind(now)
        .fetch_all(self.store.reader())
        .await
        .map_err(StoreError::from)?;
        let mut signing = None;
        let mut verify = HashMap::new();
        let mut jwks = Vec::new();
        for row in rows {
            let kid: String = row.get(0);
            let jwk: serde_json::Value =
                serde_json::from_str(&row.get::<String, _>(2)).map_err(|e| AuthError::Keys(e.to_string()))?;
            let (x, y) = (
                jwk["x"].as_str().unwrap_or_default(),
                jwk["y"].as_str().unwrap_or_default(),
            );
            let decoding = DecodingKey::from_ec_components(x, y).map_err(|e| AuthError::Keys(e.to_string()))?;
            verify.insert(
                kid.clone(),
                VerifyKey {
                    key: decoding,
                    algorithm: jsonwebtoken::Algorithm::ES256,
                },
            );
            jwks.push(jwk);
            if row.get::<Option<i64>, _>(4).is_none() {
                let created: i64 = row.get(3);
                let newer = signing
                    .as_ref()
                    .is_none_or(|(_, _, c): &(String, EncodingKey, i64)| created >= *c);
                if newer {
                    let pkcs8 = self.master.open(&row.get::<String, _>(1), &kid)?;
                    signing = Some((kid, EncodingKey::from_ec_der(&pkcs8), created));
                }
            }
        }
        let mut cache = self.cache.write().await;
        cache.signing = signing;
        cache.verify = verify;
        cache.jwks = jwks;
        cache.loaded_at = Some(Instant::now());
        Ok(())
    }
}
