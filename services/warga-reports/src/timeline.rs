//! A report's timeline: every status change and comment, in order (`report_events`).

use warga_store::{StoreError, Tx};

use crate::error::ReportsError;

/// Appends one step to a report's timeline in `tx`. `internal` steps are for the
/// departments only; `actor` and `department` are none for the reporter's own steps and the
/// service's (warnings, escalations).
#[allow(clippy::too_many_arguments)]
pub async fn append_step(
    tx: &mut Tx,
    report_id: &str,
    status: &str,
    note: Option<&str>,
    internal: bool,
    actor: Option<&str>,
    department: Option<&str>,
    at_ms: i64,
) -> Result<(), ReportsError> {
    // Steps of one report are appended one transaction at a time (a department's step and a
    // timer firing at once would otherwise take the same number). SQLite has one writer.
    if tx.backend() == warga_store::Backend::Postgres {
        sqlx::query("SELECT 1 FROM reports WHERE id = $1 FOR UPDATE")
            .bind(report_id)
            .execute(tx.conn())
            .await
            .map_err(StoreError::from)?;
    }
    tx.execute_all(vec![step_insert(
        report_id, status, note, internal, actor, department, at_ms,
    )])
    .await?;
    Ok(())
}

/// The insert of a step, numbered in the statement itself, for [`Tx::execute_all`]: on its
/// own only in a transaction that wrote the report (no other can step it meanwhile).
pub fn step_insert(
    report_id: &str,
    status: &str,
    note: Option<&str>,
    internal: bool,
    actor: Option<&str>,
    department: Option<&str>,
    at_ms: i64,
) -> warga_store::Statement {
    sqlx::query(
        "INSERT INTO report_events (report_id, seq, status, note, internal, actor, department, at_ms) \
         SELECT $1, COALESCE(MAX(seq), 0) + 1, $2, $3, $4, $5, $6, $7 FROM report_events WHERE report_id = $1",
    )
    .bind(report_id.to_owned())
    .bind(status.to_owned())
    .bind(note.map(str::to_owned))
    .bind(i64::from(internal))
    .bind(actor.map(str::to_owned))
    .bind(department.map(str::to_owned))
    .bind(at_ms)
}
