//! The one sealing primitive under every key at rest: AES-256-GCM with a random 96-bit
//! nonce per value, the value bound to a context (the AAD: a key id, or a row and column),
//! stored as `base64(nonce ‖ ciphertext ‖ tag)`. The master key seals signing keys and data
//! keys with it; the vault's data keys seal columns with it.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use ring::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use ring::rand::{SecureRandom, SystemRandom};

use crate::AuthError;

/// A 256-bit AES-GCM key.
pub(crate) struct SealingKey(LessSafeKey);

impl SealingKey {
    /// A key of exactly 32 bytes.
    pub(crate) fn new(bytes: &[u8]) -> Result<SealingKey, AuthError> {
        let unbound = UnboundKey::new(&AES_256_GCM, bytes)
            .map_err(|_| AuthError::Keys("a sealing key must be 32 bytes".into()))?;
        Ok(SealingKey(LessSafeKey::new(unbound)))
    }

    /// `plaintext` sealed and bound to `context`.
    pub(crate) fn seal(&self, plaintext: &[u8], context: &str) -> Result<String, AuthError> {
        let mut nonce = [0u8; NONCE_LEN];
        SystemRandom::new()
            .fill(&mut nonce)
            .map_err(|_| AuthError::Keys("no randomness".into()))?;
        let mut buf = plaintext.to_vec();
        self.0
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(context.as_bytes()),
                &mut buf,
            )
            .map_err(|_| AuthError::Keys("sealing failed".into()))?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&buf);
        Ok(STANDARD.encode(out))
    }

    /// The plaintext of `sealed`; an error when the key or the context is not the one it
    /// was sealed with, or a byte changed.
    pub(crate) fn open(&self, sealed: &str, context: &str) -> Result<Vec<u8>, AuthError> {
        let bytes = STANDARD
            .decode(sealed)
            .map_err(|_| AuthError::Keys("sealed value is not base64".into()))?;
        if bytes.len() < NONCE_LEN {
            return Err(AuthError::Keys("sealed value is too short".into()));
        }
        let (nonce, rest) = bytes.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| AuthError::Keys("bad nonce".into()))?;
        let mut buf = rest.to_vec();
        let plain = self
            .0
            .open_in_place(nonce, Aad::from(context.as_bytes()), &mut buf)
            .map_err(|_| AuthError::Keys("cannot open a sealed value: wrong key, context or tampered data".into()))?;
        Ok(plain.to_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_value_opens_only_with_its_key_and_context() {
        let key = SealingKey::new(&[7u8; 32]).unwrap();
        let sealed = key.seal(b"3171075203950004", "resident:1:nik").unwrap();
        assert_eq!(key.open(&sealed, "resident:1:nik").unwrap(), b"3171075203950004");
        assert!(key.open(&sealed, "resident:2:nik").is_err(), "another row");
        assert!(
            SealingKey::new(&[8u8; 32])
                .unwrap()
                .open(&sealed, "resident:1:nik")
                .is_err()
        );
        let mut bytes = STANDARD.decode(&sealed).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        assert!(key.open(&STANDARD.encode(bytes), "resident:1:nik").is_err(), "tampered");
        assert_ne!(
            key.seal(b"x", "c").unwrap(),
            key.seal(b"x", "c").unwrap(),
            "fresh nonces"
        );
        assert!(SealingKey::new(&[1u8; 16]).is_err());
    }
}
