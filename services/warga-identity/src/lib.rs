//! Identity for warga: accounts and roles, the built-in OpenID Connect provider (the role
//! Keycloak plays in the seed), brute-force protection, and the administration of
//! departments, officers and OAuth clients.
//!
//! With `identity.issuer` set to an external issuer, the provider endpoints are not mounted
//! and tokens come from that issuer; the account administration stays.
//!
//! Invariants: passwords are hashed with argon2id on the blocking pool and never logged;
//! codes, refresh tokens, sessions and client secrets are stored only as SHA-256 hashes;
//! every change is audited in its own transaction.

#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

pub mod accounts;
mod admin;
pub mod clients;
pub mod demo;
mod error;
mod lockout;
pub mod oidc;
mod pages;
pub mod password;
pub mod recovery;

use std::sync::Arc;

use axum::Router;
use axum::routing::{get, post};
use warga_bus::Handler;
use warga_core::identity::Role;
use warga_http::{Platform, Service};
use warga_store::{MigrationSet, MigrationStep};

pub use admin::{CreatedOfficer, IdentityApi, NewOfficer, create_officer_account};
pub use error::IdentityError;
pub use lockout::LoginFailure;

/// The identity service. Lockouts, codes and sessions follow the platform's clock.
#[derive(Default)]
pub struct IdentityService;

/// Portable DDL: the same step for SQLite and PostgreSQL.
const STEPS: &[MigrationStep] = &[
    MigrationStep {
        version: 2026112230,
        description: "identity",
        sql: include_str!("../migrations/2026112230_identity.sql"),
    },
    MigrationStep {
        version: 2026120202,
        description: "password recovery by SMS",
        sql: include_str!("../migrations/2026120202_recovery.sql"),
    },
    MigrationStep {
        version: 2026120301,
        description: "a ledger member's facility",
        sql: include_str!("../migrations/2026120301_facility.sql"),
    },
];

const MIGRATIONS: MigrationSet = MigrationSet {
    owner: "identity",
    sqlite: STEPS,
    postgres: STEPS,
};

impl Service for IdentityService {
    fn name(&self) -> &'static str {
        "identity"
    }
    fn summary(&self) -> &'static str {
        "accounts, roles and the OpenID Connect provider"
    }
    fn migrations(&self) -> MigrationSet {
        MIGRATIONS
    }
    fn router(&self, platform: &Platform) -> Router {
        let admin = admin::router(platform.clone());
        let Some(issuer) = platform.auth.local.clone() else {
            return admin;
        };
        let state = oidc::IdentityState {
            platform: platform.clone(),
            issuer,
            clock: platform.clock.clone(),
        };
        Router::new()
            .route("/.well-known/openid-configuration", get(oidc::discovery))
            .route("/oauth2/jwks", get(oidc::jwks))
            .route("/oauth2/authorize", get(oidc::authorize_get).post(oidc::authorize_post))
            .route("/oauth2/password", post(oidc::change_password))
            .route("/oauth2/token", post(oidc::token))
            .route("/oauth2/revoke", post(oidc::revoke))
            .route("/oauth2/introspect", post(oidc::introspect))
            .route("/oauth2/userinfo", get(oidc::userinfo).post(oidc::userinfo))
            .route("/oauth2/logout", get(oidc::logout))
            .route(pages::STYLESHEET_PATH, get(oidc::stylesheet))
            .with_state(state)
            .merge(admin)
    }
    fn openapi(&self) -> utoipa::openapi::OpenApi {
        <IdentityApi as utoipa::OpenApi>::openapi()
    }
    fn handlers(&self, _: &Platform) -> Vec<Arc<dyn Handler>> {
        Vec::new()
    }
}

/// First start: make sure a signing key and an administrator exist. Returns the
/// administrator's one-time password when one was generated (to be shown once).
pub async fn bootstrap(platform: &Platform) -> Result<Option<String>, IdentityError> {
    if let Some(local) = &platform.auth.local {
        local.keyring.signing_key().await?;
    }
    ensure_web_client(platform).await?;
    let admins = accounts::list(&platform.store, Some(Role::Admin), None, None, 1).await?;
    if !admins.is_empty() {
        return Ok(None);
    }
    let configured = platform
        .config
        .identity
        .admin_password
        .as_ref()
        .map(|p| p.expose().clone());
    let generated = configured.is_none();
    let password = configured.unwrap_or_else(password::one_time_password);
    let mut tx = platform.store.begin().await?;
    accounts::create(
        &mut tx,
        accounts::NewAccount {
            username: "admin".into(),
            display_name: "Administrator".into(),
            password: password.clone(),
            roles: [Role::Admin].into_iter().collect(),
            must_change_password: generated,
            ..Default::default()
        },
        "system",
    )
    .await?;
    tx.commit().await?;
    tracing::info!("created the first administrator account");
    Ok(generated.then_some(password))
}

/// The client id of warga's own web UI.
pub const WEB_CLIENT_ID: &str = "warga-web";

/// Registers (or points at this deployment's current URL) the public client of the web UI.
async fn ensure_web_client(platform: &Platform) -> Result<(), IdentityError> {
    let base = &platform.public_url;
    let callback = format!("{base}/web/callback");
    let after_logout = format!("{base}/");
    if clients::find(&platform.store, WEB_CLIENT_ID).await?.is_some() {
        let mut tx = platform.store.begin().await?;
        sqlx::query(
            "UPDATE identity_clients SET redirect_uris = $1, post_logout_redirect_uris = $2 WHERE client_id = $3",
        )
        .bind(&callback)
        .bind(&after_logout)
        .bind(WEB_CLIENT_ID)
        .execute(tx.conn())
        .await
        .map_err(warga_store::StoreError::from)?;
        tx.commit().await?;
        return Ok(());
    }
    let mut tx = platform.store.begin().await?;
    clients::create(
        &mut tx,
        clients::NewClient {
            client_id: WEB_CLIENT_ID.into(),
            name: "warga".into(),
            confidential: false,
            redirect_uris: vec![callback],
            post_logout_redirect_uris: vec![after_logout],
            grant_types: vec![clients::GRANT_AUTHORIZATION_CODE.into()],
            service_roles: vec![],
        },
        "system",
    )
    .await?;
    tx.commit().await?;
    Ok(())
}
