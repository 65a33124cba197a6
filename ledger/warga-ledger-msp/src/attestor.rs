//! The population registry's attestation key ([`warga_ledger_core::attestation`]): the
//! registry signs with [`Attestor`]; peers check with the [`RegistryKey`] read from the
//! crypto material. `generate` writes both under `OUT/registry/`: `attestor-key.pem` (the
//! private key, mode 0600 — for the process that runs the population registry only) and
//! `attestor.pem` (the public key, for every peer).

use std::path::{Path, PathBuf};

use ring::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair};
use warga_ledger_core::attestation::{Claims, RegistryKey};
use x509_parser::prelude::FromDer;

use crate::MspError;

/// Where `generate` writes the registry's private attestation key.
pub fn key_path(crypto: &Path) -> PathBuf {
    crypto.join("registry").join("attestor-key.pem")
}

/// Where `generate` writes the registry's public attestation key.
pub fn public_key_path(crypto: &Path) -> PathBuf {
    crypto.join("registry").join("attestor.pem")
}

fn read(path: &Path) -> Result<Vec<u8>, MspError> {
    std::fs::read(path).map_err(|e| {
        MspError::Key(format!(
            "{}: {e} (the registry's attestation key; `warga ledger crypto generate` writes it)",
            path.display()
        ))
    })
}

fn pem_block(pem: &[u8], label: &str) -> Result<Vec<u8>, MspError> {
    let (_, block) = x509_parser::pem::parse_x509_pem(pem).map_err(|e| MspError::Key(e.to_string()))?;
    if block.label != label {
        return Err(MspError::Key(format!("a PEM {} block, not {label}", block.label)));
    }
    Ok(block.contents)
}

/// The registry's public attestation key, from its SubjectPublicKeyInfo PEM.
pub fn registry_key_from_pem(pem: &[u8]) -> Result<RegistryKey, MspError> {
    let der = pem_block(pem, "PUBLIC KEY")?;
    let (_, spki) =
        x509_parser::x509::SubjectPublicKeyInfo::from_der(&der).map_err(|e| MspError::Key(e.to_string()))?;
    RegistryKey::from_point(spki.subject_public_key.data.to_vec()).map_err(MspError::Key)
}

/// The registry's public attestation key in a network's crypto material.
pub fn registry_key(crypto: &Path) -> Result<RegistryKey, MspError> {
    let path = public_key_path(crypto);
    registry_key_from_pem(&read(&path)?).map_err(|e| MspError::Key(format!("{}: {e}", path.display())))
}

/// The registry's signing side.
pub struct Attestor {
    key: EcdsaKeyPair,
}

impl std::fmt::Debug for Attestor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Attestor").field("key", &"[redacted]").finish()
    }
}

impl Attestor {
    /// From a PKCS#8 `PRIVATE KEY` PEM (ECDSA P-256).
    pub fn from_pem(pem: &[u8]) -> Result<Attestor, MspError> {
        let pkcs8 = pem_block(pem, "PRIVATE KEY")?;
        let rng = ring::rand::SystemRandom::new();
        let key = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &pkcs8, &rng)
            .map_err(|e| MspError::Key(e.to_string()))?;
        Ok(Attestor { key })
    }

    /// The registry's attestation key in a network's crypto material.
    pub fn load(crypto: &Path) -> Result<Attestor, MspError> {
        let path = key_path(crypto);
        Attestor::from_pem(&read(&path)?).map_err(|e| MspError::Key(format!("{}: {e}", path.display())))
    }

    /// The registry's word that `nik` has `status` (`alive`, `deceased`) at `at_ms`.
    pub fn attest(&self, nik: &str, status: &str, at_ms: i64) -> Result<String, MspError> {
        let claims = Claims::new(nik, status, at_ms);
        let rng = ring::rand::SystemRandom::new();
        let signature = self
            .key
            .sign(&rng, claims.signing_input().as_bytes())
            .map_err(|e| MspError::Key(e.to_string()))?;
        Ok(claims.seal(signature.as_ref()))
    }
}
