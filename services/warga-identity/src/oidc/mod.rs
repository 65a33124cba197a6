//! The OpenID Connect provider: discovery, JWKS, authorization code with PKCE (S256 only),
//! refresh tokens rotated on every use, client credentials, revocation (RFC 7009),
//! introspection (RFC 7662), userinfo, and RP-initiated logout — a file per endpoint; what
//! they share (state, OAuth errors, imports) lives here.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Form, Json};
use base64::Engine;
use serde::Deserialize;
use sqlx::Row;
use warga_auth::{AccessClaims, token_hash};
use warga_core::identity::Role;
use warga_core::time::Clock;
use warga_http::client::ClientAddr;
use warga_http::{ApiError, Auth, LocalIssuer, Platform, ProtocolError};
use warga_store::StoreError;
use warga_store::audit::{AuditRecord, Outcome};

use crate::accounts::{self, Account};
use crate::clients::{self, Client, ClientAuthError};
use crate::lockout::{self, LoginFailure};
use crate::pages::{self, Lang, escape};
use warga_http::web::{cookie, set_cookie};

mod authorize;
mod discovery;
mod introspect;
mod logout;
mod session;
mod token;

pub use authorize::*;
pub use discovery::*;
pub use introspect::*;
pub use logout::*;
use session::*;
pub use token::*;

pub const SESSION_COOKIE: &str = "__Host-warga_sid";
pub const CSRF_COOKIE: &str = "__Host-warga_csrf";
const SCOPES: [&str; 5] = ["openid", "profile", "email", "roles", "offline_access"];

/// What the provider's handlers share.
#[derive(Clone)]
pub struct IdentityState {
    pub platform: Platform,
    pub issuer: LocalIssuer,
    pub clock: Arc<dyn Clock>,
}

impl IdentityState {
    fn config(&self) -> &warga_config::IdentityConfig {
        &self.platform.config.identity
    }
    fn store(&self) -> &warga_store::Store {
        &self.platform.store
    }
    fn now_ms(&self) -> i64 {
        self.clock.now_ms()
    }
    fn issuer_url(&self) -> &str {
        self.issuer.minter.issuer()
    }
}

/// An OAuth error response (`{"error": …}`), as RFC 6749 §5.2 requires.
pub struct OAuthError {
    status: StatusCode,
    error: &'static str,
    description: String,
}

impl OAuthError {
    fn new(status: StatusCode, error: &'static str, description: impl Into<String>) -> Self {
        Self {
            status,
            error,
            description: description.into(),
        }
    }
    fn invalid_request(description: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_request", description)
    }
    fn invalid_grant(description: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_grant", description)
    }
    fn invalid_client() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "client authentication failed",
        )
    }
    fn unauthorized_client(description: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "unauthorized_client", description)
    }
    fn server_error(error: impl std::fmt::Display) -> Self {
        tracing::error!(%error, "token endpoint failed");
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "server_error", "try again later")
    }
}

impl From<StoreError> for OAuthError {
    fn from(error: StoreError) -> Self {
        OAuthError::server_error(error)
    }
}

impl From<warga_auth::AuthError> for OAuthError {
    fn from(error: warga_auth::AuthError) -> Self {
        OAuthError::server_error(error)
    }
}

impl From<ClientAuthError> for OAuthError {
    fn from(error: ClientAuthError) -> Self {
        match error {
            ClientAuthError::Invalid => OAuthError::invalid_client(),
            ClientAuthError::Unavailable => OAuthError::server_error("client store unavailable"),
        }
    }
}

impl IntoResponse for OAuthError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({ "error": self.error, "error_description": self.description });
        let mut response = (self.status, Json(body)).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        if self.status == StatusCode::UNAUTHORIZED {
            headers.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"warga\""),
            );
        }
        response.extensions_mut().insert(ProtocolError);
        response
    }
}

fn no_store(mut response: Response) -> Response {
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pkce_s256() {
        // RFC 7636, appendix B.
        let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
        let challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
        assert!(pkce_matches(verifier, challenge));
        assert!(!pkce_matches("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXx", challenge));
        assert!(!pkce_matches("short", challenge));
    }

    #[test]
    fn queries_are_appended_and_encoded() {
        assert_eq!(
            with_query("https://a/cb", &[("code", "x y"), ("state", "s&t")]),
            "https://a/cb?code=x+y&state=s%26t"
        );
        assert_eq!(
            with_query("https://a/cb?k=v", &[("code", "c")]),
            "https://a/cb?k=v&code=c"
        );
    }
}
