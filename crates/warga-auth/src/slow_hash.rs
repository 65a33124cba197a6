//! Slow hashes of secrets people or devices hold — passwords, receipt codes: argon2id
//! (19 MiB, two passes) with a random salt, on the blocking pool so request threads stay
//! free. Verification of an unknown record checks a dummy hash, so a missing record takes as
//! long to refuse as a wrong secret.

use std::sync::LazyLock;

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};

/// OWASP's recommended argon2id parameters: 19 MiB, 2 passes, 1 lane.
fn hasher() -> Argon2<'static> {
    // The constants are valid argon2 parameters.
    let params = Params::new(19 * 1024, 2, 1, None).unwrap_or_default();
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// Hashes a secret (argon2id, random salt) on the blocking pool.
pub async fn hash(secret: String) -> Result<String, String> {
    tokio::task::spawn_blocking(move || {
        let salt = SaltString::generate(&mut OsRng);
        hasher()
            .hash_password(secret.as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(|e| e.to_string())
    })
    .await
    .map_err(|e| e.to_string())?
}

/// A hash of a secret nobody has, verified for unknown records so that a missing record
/// takes as long to refuse as a wrong secret.
static DUMMY_HASH: LazyLock<String> = LazyLock::new(|| {
    let salt = SaltString::generate(&mut OsRng);
    hasher()
        .hash_password(b"no record has this secret", &salt)
        .map(|h| h.to_string())
        .unwrap_or_default()
});

/// Verifies `secret` against `stored` (or the dummy hash when there is none) on the
/// blocking pool.
pub async fn verify(secret: String, stored: Option<String>) -> bool {
    tokio::task::spawn_blocking(move || {
        let stored = stored.unwrap_or_else(|| DUMMY_HASH.clone());
        let Ok(parsed) = PasswordHash::new(&stored) else {
            return false;
        };
        hasher().verify_password(secret.as_bytes(), &parsed).is_ok()
    })
    .await
    .unwrap_or(false)
}
