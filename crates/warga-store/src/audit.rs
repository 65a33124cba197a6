//! The audit log (P6): who did what to which record, when, in which trace, and how it ended.
//!
//! Records are written in the same transaction as the change they describe
//! ([`Tx::audit`](crate::Tx::audit)), so a change without its record cannot commit; refused
//! attempts (a failed login, a denied request) are written on their own
//! ([`record_alone`]). Actors and targets are identifiers (`user:<id>`,
//! `department:<slug>`), never names, NIKs, passwords or tokens.

use serde::Serialize;
use sqlx::Row;

use crate::{Store, StoreError};

/// How an audited operation ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Success,
    Denied,
    Failed,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Success => "success",
            Outcome::Denied => "denied",
            Outcome::Failed => "failed",
        }
    }
}

/// One record to append.
#[derive(Clone, Debug)]
pub struct AuditRecord<'a> {
    /// `user:<id>`, `service:<client>`, `system`, or `anonymous`.
    pub actor: &'a str,
    /// Dotted verb, e.g. `identity.department.create`.
    pub action: &'a str,
    /// The record acted on, e.g. `department:dinas-pu`.
    pub target: &'a str,
    pub outcome: Outcome,
    /// Extra non-sensitive facts (the roles granted, a reason code).
    pub details: Option<serde_json::Value>,
}

pub(crate) async fn append(conn: &mut sqlx::AnyConnection, record: &AuditRecord<'_>) -> Result<(), StoreError> {
    insert(record).execute(conn).await?;
    Ok(())
}

/// The insert of `record`, for [`crate::Tx::execute_all`].
pub fn insert<'q>(record: &AuditRecord<'_>) -> crate::Query<'q> {
    sqlx::query(
        "INSERT INTO audit_log (id, at_ms, actor, action, target, outcome, trace_id, details) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(warga_core::EventId::new().as_str().to_owned())
    .bind(warga_core::time::now_ms())
    .bind(record.actor.to_owned())
    .bind(record.action.to_owned())
    .bind(record.target.to_owned())
    .bind(record.outcome.as_str())
    .bind(warga_telemetry::current_trace_id())
    .bind(record.details.as_ref().map(|d| d.to_string()))
}

/// Appends a record in a transaction of its own (for refused or failed attempts).
pub async fn record_alone(store: &Store, record: &AuditRecord<'_>) -> Result<(), StoreError> {
    let mut tx = store.begin().await?;
    tx.audit(record).await?;
    tx.commit().await
}

/// Which records to list; every filter is optional.
#[derive(Clone, Debug, Default)]
pub struct AuditQuery {
    pub actor: Option<String>,
    pub action: Option<String>,
    pub target: Option<String>,
    pub from_ms: Option<i64>,
    pub to_ms: Option<i64>,
    /// Return records after this sequence number (the previous page's `next_cursor`).
    pub after_seq: Option<i64>,
    pub limit: i64,
}

/// A stored record.
#[derive(Clone, Debug, Serialize)]
pub struct AuditEntry {
    pub seq: i64,
    pub id: String,
    pub at_ms: i64,
    pub actor: String,
    pub action: String,
    pub target: String,
    pub outcome: String,
    pub trace_id: Option<String>,
    pub details: Option<serde_json::Value>,
}

/// Records matching `query`, oldest first, at most `query.limit` (capped at 1,000).
pub async fn query(store: &Store, query: &AuditQuery) -> Result<Vec<AuditEntry>, StoreError> {
    let rows = sqlx::query(
        "SELECT seq, id, at_ms, actor, action, target, outcome, trace_id, details FROM audit_log \
         WHERE ($1 IS NULL OR actor = $1) AND ($2 IS NULL OR action = $2) AND ($3 IS NULL OR target = $3) \
           AND ($4 IS NULL OR at_ms >= $4) AND ($5 IS NULL OR at_ms < $5) AND seq > $6 \
         ORDER BY seq LIMIT $7",
    )
    .bind(query.actor.as_deref())
    .bind(query.action.as_deref())
    .bind(query.target.as_deref())
    .bind(query.from_ms)
    .bind(query.to_ms)
    .bind(query.after_seq.unwrap_or(0))
    .bind(query.limit.clamp(1, 1_000))
    .fetch_all(store.reader())
    .await?;
    Ok(rows
        .into_iter()
        .map(|row| AuditEntry {
            seq: row.get(0),
            id: row.get(1),
            at_ms: row.get(2),
            actor: row.get(3),
            action: row.get(4),
            target: row.get(5),
            outcome: row.get(6),
            trace_id: row.get(7),
            details: row
                .get::<Option<String>, _>(8)
                .and_then(|d| serde_json::from_str(&d).ok()),
        })
        .collect())
}
