//! Issuing tokens signed with the keyring's current key.

use jsonwebtoken::{Algorithm, Header};
use serde::Serialize;

use crate::claims::AccessClaims;
use crate::{AuthError, KeyRing};

/// A signed token and what callers need to know about it.
#[derive(Clone, Debug)]
pub struct Minted {
    pub token: String,
    pub jti: String,
    /// Unix seconds.
    pub expires_at: i64,
}

/// Signs warga's tokens.
#[derive(Clone)]
pub struct Minter {
    keyring: KeyRing,
    issuer: String,
}

impl Minter {
    pub fn new(keyring: KeyRing, issuer: String) -> Self {
        Self { keyring, issuer }
    }

    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    pub fn keyring(&self) -> &KeyRing {
        &self.keyring
    }

    /// Signs an access token (`typ: at+jwt`). `claims.iss`, `iat`, `exp`, `nbf` and `jti` are
    /// set here.
    pub async fn access_token(&self, mut claims: AccessClaims, ttl_s: u64) -> Result<Minted, AuthError> {
        let now = warga_core::time::now_ms() / 1000;
        let jti = uuid::Uuid::now_v7().hyphenated().to_string();
        claims.iss = self.issuer.clone();
        claims.iat = now;
        claims.nbf = Some(now);
        claims.exp = now + ttl_s as i64;
        claims.jti = Some(jti.clone());
        let token = self.sign("at+jwt", &claims).await?;
        Ok(Minted {
            token,
            jti,
            expires_at: claims.exp,
        })
    }

    /// Signs any other claims (ID tokens, logout tokens) as a plain JWT.
    pub async fn sign<C: Serialize>(&self, typ: &str, claims: &C) -> Result<String, AuthError> {
        let (kid, key) = self.keyring.signing_key().await?;
        let mut header = Header::new(Algorithm::ES256);
        header.typ = Some(typ.to_owned());
        header.kid = Some(kid);
        jsonwebtoken::encode(&header, claims, &key).map_err(|e| AuthError::Keys(format!("signing failed: {e}")))
    }
}
