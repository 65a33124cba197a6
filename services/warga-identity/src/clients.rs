//! OAuth clients: registration and authentication at the token endpoint.

use std::collections::BTreeSet;

use crate::error::IdentityError;
use axum::http::{HeaderMap, header};
use base64::Engine;
use serde::{Deserialize, Serialize};
use sqlx::Row;
use warga_core::identity::Role;
use warga_store::audit::{AuditRecord, Outcome};
use warga_store::{Store, StoreError, Tx};

pub const GRANT_AUTHORIZATION_CODE: &str = "authorization_code";
pub const GRANT_REFRESH_TOKEN: &str = "refresh_token";
pub const GRANT_CLIENT_CREDENTIALS: &str = "client_credentials";
const GRANTS: [&str; 3] = [GRANT_AUTHORIZATION_CODE, GRANT_REFRESH_TOKEN, GRANT_CLIENT_CREDENTIALS];

#[derive(Clone, Debug)]
pub struct Client {
    pub client_id: String,
    pub name: String,
    secret_hash: Option<String>,
    pub redirect_uris: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
    pub grant_types: Vec<String>,
    pub service_roles: BTreeSet<Role>,
}

impl Client {
    pub fn is_confidential(&self) -> bool {
        self.secret_hash.is_some()
    }
    pub fn allows(&self, grant: &str) -> bool {
        self.grant_types.iter().any(|g| g == grant)
    }
    /// Exact match, as OAuth 2.1 requires.
    pub fn has_redirect_uri(&self, uri: &str) -> bool {
        self.redirect_uris.iter().any(|r| r == uri)
    }
    pub fn has_post_logout_redirect_uri(&self, uri: &str) -> bool {
        self.post_logout_redirect_uris.iter().any(|r| r == uri)
    }
    fn secret_matches(&self, secret: &str) -> bool {
        match &self.secret_hash {
            Some(hash) => warga_auth::constant_time_eq(hash.as_bytes(), warga_auth::token_hash(secret).as_bytes()),
            None => false,
        }
    }
}

fn lines(text: String) -> Vec<String> {
    text.lines().filter(|l| !l.is_empty()).map(str::to_owned).collect()
}

pub async fn find(store: &Store, client_id: &str) -> Result<Option<Client>, StoreError> {
    let row = sqlx::query(
        "SELECT client_id, name, secret_hash, redirect_uris, post_logout_redirect_uris, grant_types, service_roles \
         FROM identity_clients WHERE client_id = $1",
    )
    .bind(client_id)
    .fetch_optional(store.reader())
    .await?;
    Ok(row.map(|row| Client {
        client_id: row.get(0),
        name: row.get(1),
        secret_hash: row.get(2),
        redirect_uris: lines(row.get(3)),
        post_logout_redirect_uris: lines(row.get(4)),
        grant_types: lines(row.get(5)),
        service_roles: warga_core::identity::known_roles(lines(row.get(6)).iter().map(String::as_str)),
    }))
}

/// A client to register.
#[derive(Clone, Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewClient {
    pub client_id: String,
    pub name: String,
    /// Confidential clients get a secret (shown once); public clients (browser and mobile
    /// apps) use PKCE alone.
    #[serde(default)]
    pub confidential: bool,
    #[serde(default)]
    pub redirect_uris: Vec<String>,
    #[serde(default)]
    pub post_logout_redirect_uris: Vec<String>,
    pub grant_types: Vec<String>,
    /// Roles granted to the client's own tokens (client credentials).
    #[serde(default)]
    #[schema(value_type = Vec<String>)]
    pub service_roles: Vec<Role>,
}

/// The registered client and, for confidential clients, its secret (shown once).
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct RegisteredClient {
    pub client_id: String,
    pub client_secret: Option<String>,
}

fn check_redirect(field: &str, uri: &str) -> Result<(), IdentityError> {
    let loopback =
        uri.starts_with("http://127.0.0.1") || uri.starts_with("http://localhost") || uri.starts_with("http://[::1]");
    let ok = (uri.starts_with("https://") || loopback) && !uri.contains('#') && uri.len() <= 2_000;
    if ok {
        Ok(())
    } else {
        Err(IdentityError::invalid(
            field,
            "must be an https:// (or loopback http://) URL without a fragment",
        ))
    }
}

/// Registers a client; returns its secret once when confidential.
pub async fn create(tx: &mut Tx, new: NewClient, actor: &str) -> Result<RegisteredClient, IdentityError> {
    let id = new.client_id.trim();
    let id_ok = (3..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    if !id_ok {
        return Err(IdentityError::invalid(
            "client_id",
            "must be 3 to 64 of A-Z, a-z, 0-9, '-', '_', '.'",
        ));
    }
    let name = new.name.trim();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(IdentityError::invalid("name", "must be 1 to 100 characters"));
    }
    if new.grant_types.is_empty() {
        return Err(IdentityError::invalid(
            "grant_types",
            "at least one grant type is required",
        ));
    }
    for grant in &new.grant_types {
        if !GRANTS.contains(&grant.as_str()) {
            return Err(IdentityError::invalid(
                "grant_types",
                format!("unsupported grant type {grant}"),
            ));
        }
    }
    if new.grant_types.iter().any(|g| g == GRANT_CLIENT_CREDENTIALS) && !new.confidential {
        return Err(IdentityError::invalid(
            "confidential",
            "client credentials need a confidential client",
        ));
    }
    if new.grant_types.iter().any(|g| g == GRANT_AUTHORIZATION_CODE) && new.redirect_uris.is_empty() {
        return Err(IdentityError::invalid(
            "redirect_uris",
            "the authorization code grant needs a redirect URI",
        ));
    }
    for uri in &new.redirect_uris {
        check_redirect("redirect_uris", uri)?;
    }
    for uri in &new.post_logout_redirect_uris {
        check_redirect("post_logout_redirect_uris", uri)?;
    }
    if new.service_roles.contains(&Role::Admin) {
        return Err(IdentityError::invalid(
            "service_roles",
            "a client cannot be an administrator",
        ));
    }
    let secret = if new.confidential {
        Some(warga_auth::random_token(32)?)
    } else {
        None
    };
    let roles: Vec<&str> = new.service_roles.iter().map(|r| r.as_str()).collect();
    sqlx::query(
        "INSERT INTO identity_clients (client_id, name, secret_hash, redirect_uris, post_logout_redirect_uris, \
         grant_types, service_roles, created_at_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(id)
    .bind(name)
    .bind(secret.as_deref().map(warga_auth::token_hash))
    .bind(new.redirect_uris.join("\n"))
    .bind(new.post_logout_redirect_uris.join("\n"))
    .bind(new.grant_types.join("\n"))
    .bind(roles.join("\n"))
    .bind(warga_core::time::now_ms())
    .execute(tx.conn())
    .await
    .map_err(|e| match StoreError::from(e) {
        StoreError::Conflict { .. } => {
            IdentityError::conflict(format!("client {id} exists"), format!("klien {id} sudah ada"))
        }
        other => other.into(),
    })?;
    tx.audit(&AuditRecord {
        actor,
        action: "identity.client.create",
        target: &format!("client:{id}"),
        outcome: Outcome::Success,
        details: Some(serde_json::json!({ "grant_types": new.grant_types, "confidential": new.confidential })),
    })
    .await?;
    Ok(RegisteredClient {
        client_id: id.to_owned(),
        client_secret: secret,
    })
}

impl From<warga_auth::AuthError> for ClientAuthError {
    fn from(_: warga_auth::AuthError) -> Self {
        ClientAuthError::Unavailable
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientAuthError {
    /// No such client, wrong secret, or a secret missing for a confidential client.
    Invalid,
    Unavailable,
}

/// Identifies the client of a token-endpoint request: HTTP Basic (`client_secret_basic`),
/// form fields (`client_secret_post`), or `client_id` alone for public clients.
pub async fn authenticate(
    store: &Store,
    headers: &HeaderMap,
    form: &std::collections::HashMap<String, String>,
) -> Result<Client, ClientAuthError> {
    let basic = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic ").or_else(|| v.strip_prefix("basic ")))
        .and_then(|b64| base64::engine::general_purpose::STANDARD.decode(b64.trim()).ok())
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .and_then(|pair| {
            let (id, secret) = pair.split_once(':')?;
            let decode = |s: &str| {
                serde_urlencoded::from_str::<Vec<(String, String)>>(&format!("v={s}"))
                    .ok()?
                    .pop()
                    .map(|p| p.1)
            };
            Some((decode(id)?, decode(secret)?))
        });
    let (client_id, secret) = match basic {
        Some((id, secret)) => (id, Some(secret)),
        None => match form.get("client_id") {
            Some(id) => (id.clone(), form.get("client_secret").cloned()),
            None => return Err(ClientAuthError::Invalid),
        },
    };
    let client = find(store, &client_id)
        .await
        .map_err(|_| ClientAuthError::Unavailable)?
        .ok_or(ClientAuthError::Invalid)?;
    match (client.is_confidential(), secret) {
        (true, Some(secret)) if client.secret_matches(&secret) => Ok(client),
        (false, None) => Ok(client),
        _ => Err(ClientAuthError::Invalid),
    }
}
