//! The population registry's word that a NIK belongs to a registered, living resident. The
//! BPJS contract issues a card only with one, so no path to the ledger — the web gateway,
//! gRPC, the CLI — can give a card to a NIK the registry does not know or records as dead.
//!
//! An attestation is a JWS (RFC 7515, compact serialisation, ES256): its claims name the
//! NIK (`sub`), its status in the registry (`status`) and when the registry said so (`iat`,
//! seconds); the registry signs with its attestation key (ECDSA P-256), and every peer
//! checks the signature with the registry's public key from its crypto material — the same
//! trust every peer already takes from there for the organisations' CAs. Any JOSE library
//! reads one.
//!
//! Judged against the proposal's timestamp, never a clock: every endorser reaches the same
//! answer, and validation does not run the contract again, so a replay years later agrees.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};

/// Who makes attestations (`iss`).
pub const ISSUER: &str = "warga-registry";
/// The status of a registered, living resident.
pub const ALIVE: &str = "alive";
/// How long an attestation serves after the registry made it, milliseconds.
pub const FRESH_MS: i64 = 10 * 60 * 1000;
/// How far after the proposal an attestation may be dated (the clocks of the registry and
/// the client differ), milliseconds.
pub const SKEW_MS: i64 = 60 * 1000;
/// Longest attestation accepted, in bytes.
pub const LENGTH_MAX: usize = 1024;

/// The JWS protected header every attestation carries.
const HEADER: &str = r#"{"alg":"ES256","typ":"JWT","kid":"warga-registry"}"#;

/// What the registry says of a NIK.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Claims {
    pub iss: String,
    /// The NIK.
    pub sub: String,
    /// `alive`, or what else the registry records (`dead`).
    pub status: String,
    /// When the registry said so, seconds since the epoch.
    pub iat: i64,
}

impl Claims {
    pub fn new(nik: &str, status: &str, at_ms: i64) -> Claims {
        Claims {
            iss: ISSUER.to_owned(),
            sub: nik.to_owned(),
            status: status.to_owned(),
            iat: at_ms.div_euclid(1000),
        }
    }

    /// The JWS signing input (`header.payload`) the registry signs.
    pub fn signing_input(&self) -> String {
        // A struct of strings and an integer always serialises.
        let payload = serde_json::to_vec(self).unwrap_or_default();
        format!("{}.{}", URL_SAFE_NO_PAD.encode(HEADER), URL_SAFE_NO_PAD.encode(payload))
    }

    /// The compact JWS: the signing input and the signature (`r ‖ s`, 64 bytes, as ES256).
    pub fn seal(&self, signature_fixed: &[u8]) -> String {
        format!("{}.{}", self.signing_input(), URL_SAFE_NO_PAD.encode(signature_fixed))
    }
}

/// The registry's public key, as peers hold it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RegistryKey {
    /// The uncompressed P-256 point (65 bytes).
    point: Vec<u8>,
}

impl RegistryKey {
    /// From the uncompressed P-256 point of the key's SubjectPublicKeyInfo.
    pub fn from_point(point: Vec<u8>) -> Result<RegistryKey, String> {
        if point.len() != 65 || point.first() != Some(&4) {
            return Err("the registry's key is not an uncompressed P-256 point".into());
        }
        Ok(RegistryKey { point })
    }

    /// The claims of an attestation whose signature is the registry's; why not otherwise.
    pub fn verify(&self, attestation: &str) -> Result<Claims, String> {
        if attestation.len() > LENGTH_MAX {
            return Err(format!("longer than {LENGTH_MAX} bytes"));
        }
        let mut parts = attestation.split('.');
        let (Some(header), Some(payload), Some(signature), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err("not a compact JWS (header.payload.signature)".into());
        };
        let decode = |part: &str, what: &str| {
            URL_SAFE_NO_PAD
                .decode(part)
                .map_err(|_| format!("its {what} is not base64url"))
        };
        let header: serde_json::Value =
            serde_json::from_slice(&decode(header, "header")?).map_err(|_| "its header is not JSON".to_owned())?;
        if header.get("alg").and_then(serde_json::Value::as_str) != Some("ES256") {
            return Err("its algorithm is not ES256".into());
        }
        let signed = &attestation[..attestation.len() - signature.len() - 1];
        ring::signature::UnparsedPublicKey::new(&ring::signature::ECDSA_P256_SHA256_FIXED, &self.point)
            .verify(signed.as_bytes(), &decode(signature, "signature")?)
            .map_err(|_| "it is not signed by the registry".to_owned())?;
        let claims: Claims =
            serde_json::from_slice(&decode(payload, "payload")?).map_err(|e| format!("its claims: {e}"))?;
        if claims.iss != ISSUER {
            return Err(format!("it is issued by '{}', not {ISSUER}", claims.iss));
        }
        Ok(claims)
    }
}

/// Whether an attestation made at `iat` (seconds) serves a proposal made at `proposal_ms`.
pub fn fresh(iat: i64, proposal_ms: i64) -> Result<(), String> {
    let made_ms = iat.saturating_mul(1000);
    if made_ms > proposal_ms.saturating_add(SKEW_MS) {
        return Err("it is dated after the proposal".into());
    }
    if made_ms < proposal_ms.saturating_sub(FRESH_MS) {
        return Err(format!(
            "it is older than {} minutes at the proposal's time; ask the registry again",
            FRESH_MS / 60_000
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use ring::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};

    fn key_pair() -> EcdsaKeyPair {
        let rng = ring::rand::SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
        EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &rng).unwrap()
    }

    fn sign(key: &EcdsaKeyPair, claims: &Claims) -> String {
        let rng = ring::rand::SystemRandom::new();
        claims.seal(key.sign(&rng, claims.signing_input().as_bytes()).unwrap().as_ref())
    }

    #[test]
    fn the_registrys_signature_is_checked() {
        let registry = key_pair();
        let key = RegistryKey::from_point(registry.public_key().as_ref().to_vec()).unwrap();
        let claims = Claims::new("3171075203950004", ALIVE, 1_800_000_000_123);
        let attestation = sign(&registry, &claims);
        assert_eq!(key.verify(&attestation).unwrap(), claims);
        assert_eq!(claims.iat, 1_800_000_000);

        // Another key's signature, a changed claim, a truncated token: refused.
        let other = sign(&key_pair(), &claims);
        assert!(key.verify(&other).unwrap_err().contains("not signed by the registry"));
        let (_, signature) = attestation.rsplit_once('.').unwrap();
        let forged = Claims::new("3171075203950012", ALIVE, 1_800_000_000_123).signing_input();
        assert!(key.verify(&format!("{forged}.{signature}")).is_err());
        assert!(key.verify(attestation.rsplit_once('.').unwrap().0).is_err());
        assert!(key.verify(&"a".repeat(LENGTH_MAX + 1)).is_err());
        assert!(RegistryKey::from_point(vec![4; 33]).is_err());
    }

    #[test]
    fn an_attestation_serves_ten_minutes_from_when_it_was_made() {
        let proposal = 1_800_000_000_000;
        assert!(fresh(proposal / 1000, proposal).is_ok());
        assert!(fresh((proposal - FRESH_MS) / 1000, proposal).is_ok());
        assert!(fresh((proposal - FRESH_MS) / 1000 - 1, proposal).is_err());
        assert!(fresh((proposal + SKEW_MS) / 1000, proposal).is_ok());
        assert!(fresh((proposal + SKEW_MS) / 1000 + 1, proposal).is_err());
    }
}
