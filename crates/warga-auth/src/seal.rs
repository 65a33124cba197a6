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
        Ok(STANDARD.encode(self.seal_bytes(plaintext, context)?))
    }

    /// `plaintext` sealed and bound to `context`, as raw `nonce ‖ ciphertext ‖ tag` (for
    /// large values kept outside the database, such as files).
    pub(crate) fn seal_bytes(&self, plaintext: &[u8], context: &str) -> Result<Vec<u8>, AuthError> {
        let mut nonce = [0u8; NONCE_LEN];
        SystemRandom::new()
            .fill(&mut nonce)
            .map_err(|_| AuthError::Keys("no randomness".into()))?;
        let mut out = Vec::with_capacity(NONCE_LEN + plaintext.len() + AES_256_GCM.tag_len());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(plaintext);
        let tag = self
            .0
            .seal_in_place_separate_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(context.as_bytes()),
                &mut out[NONCE_LEN..],
            )
            .map_err(|_| AuthError::Keys("sealing failed".into()))?;
        out.extend_from_slice(tag.as_ref());
        Ok(out)
    }

    /// The plaintext of `sealed`; an error when the key or the context is not the one it
    /// was sealed with, or a byte changed.
    pub(crate) fn open(&self, sealed: &str, context: &str) -> Result<Vec<u8>, AuthError> {
        let bytes = STANDARD
            .decode(sealed)
            .map_err(|_| AuthError::Keys("sealed value is not base64".into()))?;
        self.open_bytes(bytes, context)
    }

    /// [`SealingKey::open`] for raw sealed bytes.
    pub(crate) fn open_bytes(&self, mut bytes: Vec<u8>, context: &str) -> Result<Vec<u8>, AuthError> {
        if bytes.len() < NONCE_LEN {
            return Err(AuthError::Keys("sealed value is too short".into()));
        }
        let nonce =
            Nonce::try_assume_unique_for_key(&bytes[..NONCE_LEN]).map_err(|_| AuthError::Keys("bad nonce".into()))?;
        let plain_len = self
            .0
            .open_in_place(nonce, Aad::from(context.as_bytes()), &mut bytes[NONCE_LEN..])
            .map_err(|_| AuthError::Keys("cannot open a sealed value: wrong key, context or tampered data".into()))?
            .len();
        bytes.drain(..NONCE_LEN);
        bytes.truncate(plain_len);
        Ok(bytes)
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

    #[test]
    fn raw_sealed_bytes_open_only_with_their_context() {
        let key = SealingKey::new(&[7u8; 32]).unwrap();
        let photo = vec![0xFFu8, 0xD8, 1, 2, 3, 0xFF, 0xD9];
        let sealed = key.seal_bytes(&photo, "report:a:photo:1").unwrap();
        assert_eq!(sealed.len(), NONCE_LEN + photo.len() + 16);
        assert!(!sealed.windows(photo.len()).any(|w| w == photo.as_slice()));
        assert_eq!(key.open_bytes(sealed.clone(), "report:a:photo:1").unwrap(), photo);
        assert!(key.open_bytes(sealed.clone(), "report:a:photo:2").is_err());
        let mut tampered = sealed;
        tampered[NONCE_LEN] ^= 1;
        assert!(key.open_bytes(tampered, "report:a:photo:1").is_err());
        assert!(key.open_bytes(vec![1, 2, 3], "report:a:photo:1").is_err(), "too short");
        // The text form is the same sealing, base64-encoded.
        let text = key.seal(&photo, "c").unwrap();
        assert_eq!(key.open_bytes(STANDARD.decode(text).unwrap(), "c").unwrap(), photo);
    }
}
