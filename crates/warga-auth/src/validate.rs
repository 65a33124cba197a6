//! Validating bearer tokens.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, Validation};
use warga_core::identity::Principal;
use warga_core::recent::Recent;

use crate::claims::AccessClaims;
use crate::remote::RemoteIssuer;
use crate::{AuthError, KeyRing, Revocations};

/// Clock skew tolerated on `exp` and `nbf`, in seconds.
pub const LEEWAY_S: u64 = 30;
/// How long a token whose signature and claims were checked is known by its SHA-256: the
/// same bytes again skip the signature's verification (one ECDSA or RSA verification per
/// request otherwise); expiry and revocation are still checked on every use, and a key
/// removed from the keyring stops a known token within this time.
const VERIFIED_FOR: Duration = Duration::from_secs(60);
/// Most tokens known at once.
const VERIFIED_MAX: usize = 10_000;

enum Source {
    Local { keyring: KeyRing, revocations: Revocations },
    Remote(RemoteIssuer),
}

/// Turns a bearer token into a [`Principal`], or says why not. Cheap to clone.
#[derive(Clone)]
pub struct TokenValidator {
    inner: Arc<Inner>,
}

struct Inner {
    issuer: String,
    audience: String,
    source: Source,
    /// Tokens checked lately, by their SHA-256.
    verified: Recent<[u8; 32], AccessClaims>,
}

impl TokenValidator {
    /// Trusts warga's own keyring; revoked tokens are refused.
    pub fn local(issuer: String, audience: String, keyring: KeyRing, revocations: Revocations) -> Self {
        Self {
            inner: Arc::new(Inner {
                issuer,
                audience,
                source: Source::Local { keyring, revocations },
                verified: Recent::new(VERIFIED_FOR, VERIFIED_MAX),
            }),
        }
    }

    /// Trusts an external issuer found through OpenID Connect discovery.
    pub fn remote(issuer: &str, audience: String, ca_path: Option<&Path>) -> Result<Self, AuthError> {
        Self::remote_with_refetch(issuer, audience, ca_path, crate::remote::REFETCH_MIN)
    }

    /// As [`TokenValidator::remote`], refetching the JWKS for an unknown key at most once per
    /// `refetch_min`.
    pub fn remote_with_refetch(
        issuer: &str,
        audience: String,
        ca_path: Option<&Path>,
        refetch_min: std::time::Duration,
    ) -> Result<Self, AuthError> {
        let remote = RemoteIssuer::new(issuer, ca_path, refetch_min)?;
        let issuer = issuer.trim_end_matches('/').to_owned();
        Ok(Self {
            inner: Arc::new(Inner {
                issuer,
                audience,
                source: Source::Remote(remote),
                verified: Recent::new(VERIFIED_FOR, VERIFIED_MAX),
            }),
        })
    }

    pub fn issuer(&self) -> &str {
        &self.inner.issuer
    }

    pub fn audience(&self) -> &str {
        &self.inner.audience
    }

    pub fn is_local(&self) -> bool {
        matches!(self.inner.source, Source::Local { .. })
    }

    /// Validates `token` and returns who it speaks for.
    pub async fn validate(&self, token: &str) -> Result<Principal, AuthError> {
        Ok(self.validate_claims(token).await?.into_principal())
    }

    /// Validates `token` and returns its claims (introspection needs them all).
    pub async fn validate_claims(&self, token: &str) -> Result<AccessClaims, AuthError> {
        let digest = token_digest(token);
        let claims = match self.inner.verified.get(&digest) {
            Some(claims) => {
                if claims.exp.saturating_add(LEEWAY_S as i64) < warga_core::time::now_ms() / 1000 {
                    return Err(AuthError::Expired);
                }
                claims
            }
            None => {
                let claims = self.verify(token).await?;
                self.inner.verified.insert(digest, claims.clone());
                claims
            }
        };
        if let Source::Local { revocations, .. } = &self.inner.source
            && let Some(jti) = &claims.jti
            && revocations.is_revoked(jti).await?
        {
            return Err(AuthError::Revoked);
        }
        Ok(claims)
    }

    /// The claims of `token` once its signature, issuer, audience and times are checked.
    async fn verify(&self, token: &str) -> Result<AccessClaims, AuthError> {
        refuse_unsupported_algorithm(token)?;
        let header = jsonwebtoken::decode_header(token).map_err(|e| match e.kind() {
            ErrorKind::InvalidAlgorithmName => AuthError::UnsupportedAlgorithm("unknown".into()),
            _ => AuthError::Malformed,
        })?;
        if matches!(header.alg, Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512) {
            return Err(AuthError::UnsupportedAlgorithm(format!("{:?}", header.alg)));
        }
        let kid = header.kid.ok_or(AuthError::MissingKeyId)?;
        let key = match &self.inner.source {
            Source::Local { keyring, .. } => keyring.verify_key(&kid).await?,
            Source::Remote(remote) => remote.key(&kid).await?,
        }
        .ok_or(AuthError::UnknownKey)?;
        if header.alg != key.algorithm {
            return Err(AuthError::UnsupportedAlgorithm(format!("{:?}", header.alg)));
        }
        let mut validation = Validation::new(key.algorithm);
        validation.leeway = LEEWAY_S;
        validation.validate_nbf = true;
        validation.set_issuer(&[self.inner.issuer.as_str()]);
        validation.set_audience(&[self.inner.audience.as_str()]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        let data = jsonwebtoken::decode::<AccessClaims>(token, &key.key, &validation).map_err(|e| match e.kind() {
            ErrorKind::ExpiredSignature => AuthError::Expired,
            ErrorKind::ImmatureSignature => AuthError::NotYetValid,
            ErrorKind::InvalidIssuer => AuthError::WrongIssuer,
            ErrorKind::InvalidAudience => AuthError::WrongAudience,
            ErrorKind::InvalidSignature => AuthError::BadSignature,
            ErrorKind::MissingRequiredClaim(claim) => AuthError::MissingClaim(match claim.as_str() {
                "exp" => "exp",
                "iss" => "iss",
                "aud" => "aud",
                _ => "sub",
            }),
            ErrorKind::InvalidAlgorithm => AuthError::UnsupportedAlgorithm(format!("{:?}", header.alg)),
            _ => AuthError::Malformed,
        })?;
        Ok(data.claims)
    }
}

/// The key a checked token is known by.
fn token_digest(token: &str) -> [u8; 32] {
    let mut digest = [0u8; 32];
    digest.copy_from_slice(ring::digest::digest(&ring::digest::SHA256, token.as_bytes()).as_ref());
    digest
}

/// Names the algorithm of a token whose header the JWT library cannot even represent
/// (`none`, made-up names), so such tokens are refused as what they are.
fn refuse_unsupported_algorithm(token: &str) -> Result<(), AuthError> {
    use base64::Engine;
    let Some(encoded) = token.split('.').next() else {
        return Err(AuthError::Malformed);
    };
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(encoded)
        .map_err(|_| AuthError::Malformed)?;
    let header: serde_json::Value = serde_json::from_slice(&bytes).map_err(|_| AuthError::Malformed)?;
    match header.get("alg").and_then(|a| a.as_str()) {
        Some("ES256" | "ES384" | "RS256" | "RS384" | "RS512" | "PS256" | "PS384" | "PS512") => Ok(()),
        Some(other) => Err(AuthError::UnsupportedAlgorithm(other.chars().take(16).collect())),
        None => Err(AuthError::Malformed),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use warga_store::testing::TestDb;

    use super::*;
    use crate::{MasterKey, Minter};

    /// A token known by its hash is still refused once it expires, and once revoked.
    #[tokio::test]
    async fn a_known_token_is_still_checked_for_expiry_and_revocation() {
        let db = TestDb::sqlite(&[crate::MIGRATIONS]).await;
        let master = Arc::new(MasterKey::from_bytes(&[5u8; 32]).unwrap());
        let keyring = KeyRing::new(
            db.store.clone(),
            master,
            Duration::from_secs(86_400),
            Duration::from_secs(600),
        );
        let minter = Minter::new(keyring.clone(), "https://warga.test".into());
        let revocations = Revocations::new(db.store.clone());
        let validator = TokenValidator::local(
            "https://warga.test".into(),
            "warga".into(),
            keyring,
            revocations.clone(),
        );
        let minted = minter
            .access_token(AccessClaims::new("siti", "warga"), 300)
            .await
            .unwrap();
        validator.validate(&minted.token).await.unwrap();
        assert_eq!(validator.inner.verified.len(), 1, "known by its hash");
        validator.validate(&minted.token).await.unwrap();

        // Its expiry passes while it is known (the clock moved on past the leeway).
        let digest = token_digest(&minted.token);
        let known = validator.inner.verified.get(&digest).unwrap();
        validator.inner.verified.insert(
            digest,
            AccessClaims {
                exp: warga_core::time::now_ms() / 1000 - LEEWAY_S as i64 - 1,
                ..known.clone()
            },
        );
        assert!(matches!(
            validator.validate(&minted.token).await,
            Err(AuthError::Expired)
        ));
        validator.inner.verified.insert(digest, known);

        // Revoked while known.
        let mut tx = db.store.begin().await.unwrap();
        revocations
            .revoke(&mut tx, &minted.jti, minted.expires_at)
            .await
            .unwrap();
        tx.commit().await.unwrap();
        assert!(matches!(
            validator.validate(&minted.token).await,
            Err(AuthError::Revoked)
        ));
    }
}
