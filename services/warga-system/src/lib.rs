//! The system service: end-to-end probes of the event pipeline.
//!
//! `POST /api/v1/system/probes` writes a probe row and a `system.probe.requested` event in
//! one transaction; the `system-probe-recorder` consumer stamps the probe as delivered.
//! `GET /api/v1/system/probes/{id}` shows whether, and how fast, the event made it through
//! HTTP → store → outbox → relay → bus → consumer → store. Operators use it to check a
//! deployment (and its bus) end to end; `deliveries` counts applied effects and stays 1
//! however often the bus redelivers.

#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::{Deserialize, Serialize};
use sqlx::Row;
use utoipa::OpenApi;
use warga_bus::{Handler, HandlerError};
use warga_core::identity::Role;
use warga_core::{Envelope, Event};
use warga_http::{ApiError, Auth, Json, JsonBody, Platform, Problem, Service};
use warga_store::audit::{AuditRecord, Outcome};
use warga_store::{MigrationSet, MigrationStep, Store, Tx};

/// Who may send and read probes: administrators and monitoring service accounts.
const OPERATORS: &[Role] = &[Role::Admin, Role::Service];

/// Longest probe note, in characters.
pub const NOTE_CHARS_MAX: usize = 200;

/// Event: an operator asked for a probe.
#[derive(Debug, Serialize, Deserialize)]
pub struct ProbeRequested {
    pub probe_id: String,
}

impl Event for ProbeRequested {
    const TOPIC: &'static str = "system.probe.requested";
    const VERSION: u32 = 1;
}

pub struct SystemService;

/// Portable DDL: the same step for SQLite and PostgreSQL.
const STEPS: &[MigrationStep] = &[MigrationStep {
    version: 2026112210,
    description: "system probes",
    sql: include_str!("../migrations/2026112210_probes.sql"),
}];

const MIGRATIONS: MigrationSet = MigrationSet {
    owner: "system",
    sqlite: STEPS,
    postgres: STEPS,
};

#[derive(OpenApi)]
#[openapi(
    paths(create_probe, get_probe),
    components(schemas(NewProbe, ProbeView)),
    tags((name = "system", description = "End-to-end probes of the event pipeline"))
)]
struct SystemApi;

impl Service for SystemService {
    fn name(&self) -> &'static str {
        "system"
    }
    fn summary(&self) -> &'static str {
        "end-to-end probes of the event pipeline"
    }
    fn migrations(&self) -> MigrationSet {
        MIGRATIONS
    }
    fn router(&self, platform: &Platform) -> Router {
        Router::new()
            .route("/api/v1/system/probes", post(create_probe))
            .route("/api/v1/system/probes/{probe_id}", get(get_probe))
            .with_state(platform.store.clone())
    }
    fn openapi(&self) -> utoipa::openapi::OpenApi {
        SystemApi::openapi()
    }
    fn handlers(&self, _: &Platform) -> Vec<Arc<dyn Handler>> {
        vec![Arc::new(ProbeRecorder)]
    }
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewProbe {
    /// Free text to recognise the probe by, at most 200 characters.
    #[serde(default)]
    pub note: Option<String>,
}

#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ProbeView {
    pub probe_id: String,
    pub note: Option<String>,
    /// `pending` until the consumer has seen the event, then `delivered`.
    pub status: String,
    pub requested_at_ms: i64,
    pub delivered_at_ms: Option<i64>,
    /// Milliseconds from request to delivery.
    pub latency_ms: Option<i64>,
    /// Effects applied by the consumer: 1 once delivered, whatever the bus redelivered.
    pub deliveries: i64,
}

/// Send a probe through the event pipeline.
#[utoipa::path(post, path = "/api/v1/system/probes", tag = "system", request_body = NewProbe,
    security(("bearer" = [])), responses(
    (status = 202, body = ProbeView, description = "The probe is on its way"),
    (status = 400, body = Problem, content_type = "application/problem+json"),
))]
async fn create_probe(State(store): State<Store>, auth: Auth, body: JsonBody) -> Result<Response, ApiError> {
    let actor = auth.require_any(OPERATORS)?.audit_actor();
    let new: NewProbe = body.parse()?;
    if let Some(note) = &new.note {
        if note.chars().count() > NOTE_CHARS_MAX {
            return Err(ApiError::validation(
                "note",
                format!("at most {NOTE_CHARS_MAX} characters"),
            ));
        }
        if note.chars().any(char::is_control) {
            return Err(ApiError::validation("note", "must not contain control characters"));
        }
    }
    let probe_id = uuid::Uuid::now_v7().hyphenated().to_string();
    let requested_at_ms = warga_core::time::now_ms();
    let mut tx = store.begin().await?;
    sqlx::query("INSERT INTO system_probes (probe_id, note, requested_at_ms) VALUES ($1, $2, $3)")
        .bind(&probe_id)
        .bind(new.note.as_deref())
        .bind(requested_at_ms)
        .execute(tx.conn())
        .await
        .map_err(warga_store::StoreError::from)?;
    tx.append_event(&ProbeRequested {
        probe_id: probe_id.clone(),
    })
    .await?;
    tx.audit(&AuditRecord {
        actor: &actor,
        action: "system.probe.create",
        target: &format!("probe:{probe_id}"),
        outcome: Outcome::Success,
        details: None,
    })
    .await?;
    tx.commit().await?;
    tracing::info!(probe_id, "probe requested");
    let view = ProbeView {
        probe_id: probe_id.clone(),
        note: new.note,
        status: "pending".into(),
        requested_at_ms,
        delivered_at_ms: None,
        latency_ms: None,
        deliveries: 0,
    };
    let location = format!("/api/v1/system/probes/{probe_id}");
    Ok((StatusCode::ACCEPTED, [(header::LOCATION, location)], Json(view)).into_response())
}

/// Where a probe is.
#[utoipa::path(get, path = "/api/v1/system/probes/{probe_id}", tag = "system", security(("bearer" = [])),
    params(("probe_id" = String, Path, description = "Id returned when the probe was created")),
    responses(
        (status = 200, body = ProbeView),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    ))]
async fn get_probe(
    State(store): State<Store>,
    auth: Auth,
    Path(probe_id): Path<String>,
) -> Result<Json<ProbeView>, ApiError> {
    auth.require_any(OPERATORS)?;
    if uuid::Uuid::parse_str(&probe_id).is_err() {
        return Err(ApiError::validation("probe_id", "must be a UUID"));
    }
    let row = sqlx::query(
        "SELECT probe_id, note, requested_at_ms, delivered_at_ms, deliveries FROM system_probes WHERE probe_id = $1",
    )
    .bind(&probe_id)
    .fetch_optional(store.reader())
    .await
    .map_err(warga_store::StoreError::from)?
    .ok_or_else(|| {
        ApiError::NotFound(warga_http::Detail::new(
            format!("no probe {probe_id}"),
            format!("tidak ada probe {probe_id}"),
        ))
    })?;
    let requested_at_ms: i64 = row.get(2);
    let delivered_at_ms: Option<i64> = row.get(3);
    Ok(Json(ProbeView {
        probe_id: row.get(0),
        note: row.get(1),
        status: if delivered_at_ms.is_some() {
            "delivered"
        } else {
            "pending"
        }
        .into(),
        requested_at_ms,
        delivered_at_ms,
        latency_ms: delivered_at_ms.map(|d| d - requested_at_ms),
        deliveries: row.get(4),
    }))
}

/// Stamps probes as delivered.
pub struct ProbeRecorder;

#[async_trait::async_trait]
impl Handler for ProbeRecorder {
    fn name(&self) -> &'static str {
        "system-probe-recorder"
    }
    fn topics(&self) -> &'static [&'static str] {
        &[ProbeRequested::TOPIC]
    }
    async fn handle(&self, tx: &mut Tx, event: &Envelope) -> Result<(), HandlerError> {
        let probe: ProbeRequested = event.decode()?;
        let updated = sqlx::query(
            "UPDATE system_probes SET delivered_at_ms = COALESCE(delivered_at_ms, $1), deliveries = deliveries + 1 \
             WHERE probe_id = $2",
        )
        .bind(warga_core::time::now_ms())
        .bind(&probe.probe_id)
        .execute(tx.conn())
        .await?
        .rows_affected();
        if updated != 1 {
            return Err(format!("probe {} does not exist", probe.probe_id).into());
        }
        Ok(())
    }
}
