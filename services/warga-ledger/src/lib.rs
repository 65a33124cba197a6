//! The ledger's web gateway (`/api/v1/ledger`): the BPJS ledger for people, over HTTPS.
//!
//! An officer signed in through warga's OIDC (or a Keycloak issuer) with the
//! `ledger_member` role and an organisation (`msp_id`, and for a facility's staff their
//! `facility`) submits and evaluates chaincode functions, reads transactions, blocks, the
//! channel and a key's history, and follows committed blocks and chaincode events as
//! server-sent events resumable with `Last-Event-ID`. Each request goes to the officer's
//! organisation's peer (Fabric's gateway there collects the endorsements, orders and waits
//! for the commit) and is signed with the officer's own X.509 identity, enrolled at the
//! organisation's CA on first use, its key kept by the platform's vault ([`access`],
//! [`custody`]).
//!
//! `warga up` mounts it beside the ledger it embeds; `warga serve --services ledger` runs it
//! alone against the peers and CAs its `[ledger]` section names.

#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

pub mod access;
pub mod custody;
mod error;
pub mod portal;
pub mod registry;
mod revoke;
mod routes;
mod signatures;
pub mod vouch;

use std::sync::Arc;

use warga_bus::Handler;
use warga_http::{Platform, Service};
use warga_store::{MigrationSet, MigrationStep};

pub use error::LedgerError;

/// Portable DDL: the same step for SQLite and PostgreSQL.
const STEPS: &[MigrationStep] = &[
    MigrationStep {
        version: 2026120302,
        description: "people's ledger identities and their sealed keys",
        sql: include_str!("../migrations/2026120302_identities.sql"),
    },
    MigrationStep {
        version: 2026120303,
        description: "BPJS cards waiting to be suspended at a death",
        sql: include_str!("../migrations/2026120303_card_suspensions.sql"),
    },
];

const MIGRATIONS: MigrationSet = MigrationSet {
    owner: "ledger",
    sqlite: STEPS,
    postgres: STEPS,
};

pub struct LedgerService;

impl Service for LedgerService {
    fn name(&self) -> &'static str {
        "ledger"
    }
    fn summary(&self) -> &'static str {
        "the ledger's web gateway: submit, evaluate, blocks, history and events over HTTPS under people's own ledger identities"
    }
    fn migrations(&self) -> MigrationSet {
        MIGRATIONS
    }
    fn router(&self, platform: &Platform) -> axum::Router {
        routes::router(access::Gateway::new(platform))
    }
    fn openapi(&self) -> utoipa::openapi::OpenApi {
        routes::openapi()
    }
    fn handlers(&self, platform: &Platform) -> Vec<Arc<dyn Handler>> {
        vec![
            Arc::new(revoke::IdentityRevoker::new(access::Gateway::new(platform))),
            Arc::new(vouch::DeathRecorder),
        ]
    }
    fn seed_demo<'a>(
        &'a self,
        platform: &'a Platform,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), String>> + Send + 'a>> {
        Box::pin(async move { vouch::issue_demo_cards(platform).await })
    }
    fn jobs(&self, platform: &Platform) -> Vec<Arc<dyn warga_http::Job>> {
        vec![Arc::new(vouch::CardSuspender::new(
            platform.clone(),
            access::Gateway::new(platform),
        ))]
    }
}
