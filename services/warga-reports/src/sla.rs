//! Service levels and escalation (R8): durable timers in the database.
//!
//! Filing a report sets four timers — a warning before the response deadline, the response
//! deadline (verify: acknowledge, start or reject), a warning before the resolution
//! deadline, and the resolution deadline (answer: resolve or reject). A department's step
//! cancels the timers it satisfies. [`SlaJob`] fires due timers: it claims each with a lease
//! (so replicas share the work and a crashed worker's claim expires), and fires it in one
//! transaction whose first write flips the timer from `pending` to `fired` — the effects
//! (timeline step, escalation level, event) commit with that flip or not at all, so a timer
//! fires exactly once however many workers race for it, and survives restarts.
//!
//! Escalation follows the chain department → department head (level 1, on a missed
//! response) → the city's top office (level 2, on a missed resolution), which may then act
//! on the report itself.

use serde::{Deserialize, Serialize};
use sqlx::Row;
use warga_core::Event;
use warga_http::Platform;
use warga_store::{StoreError, Tx};

use crate::calendar::Calendar;
use crate::categories::Category;
use crate::config::SlaConfig;
use crate::error::ReportsError;

/// How long a claimed timer stays a worker's before another may take it.
const LEASE_MS: i64 = 30_000;

/// The timers of a report just filed.
/// The insert of a new report's four timers (one statement), for [`Tx::execute_all`].
pub fn timers_insert(config: &SlaConfig, report_id: &str, category: &Category, from_ms: i64) -> warga_store::Statement {
    let calendar = Calendar::new(&config.yearly_holidays, &config.holidays, config.working_day_seconds);
    let response = calendar.deadline(from_ms, category.response_days);
    let resolution = calendar.deadline(from_ms, category.resolution_days);
    let warn = |due: i64| from_ms + (due - from_ms) * i64::from(config.warn_at_percent) / 100;
    sqlx::query(
        "INSERT INTO report_timers (report_id, kind, due_at_ms, state) VALUES \
         ($1, 'response_warning', $2, 'pending'), ($1, 'response', $3, 'pending'), \
         ($1, 'resolution_warning', $4, 'pending'), ($1, 'resolution', $5, 'pending')",
    )
    .bind(report_id.to_owned())
    .bind(warn(response))
    .bind(response)
    .bind(warn(resolution))
    .bind(resolution)
}

/// Cancels the pending timers a step satisfies: `response` ones when a department acts,
/// all when the report is closed.
pub async fn cancel_timers(tx: &mut Tx, report_id: &str, all: bool) -> Result<(), ReportsError> {
    let pattern = if all { "%" } else { "response%" };
    sqlx::query(
        "UPDATE report_timers SET state = 'cancelled' WHERE report_id = $1 AND state IN ('pending', 'paused') AND kind LIKE $2",
    )
    .bind(report_id)
    .bind(pattern)
    .execute(tx.conn())
    .await
    .map_err(StoreError::from)?;
    Ok(())
}

/// Stops a report's clocks while the department waits for the reporter: each pending
/// timer keeps what was left of it.
pub async fn pause_timers(tx: &mut Tx, report_id: &str, now: i64) -> Result<(), ReportsError> {
    sqlx::query(
        "UPDATE report_timers SET state = 'paused', remaining_ms = due_at_ms - $1, lease_owner = NULL, \
         lease_until_ms = NULL WHERE report_id = $2 AND state = 'pending'",
    )
    .bind(now)
    .bind(report_id)
    .execute(tx.conn())
    .await
    .map_err(StoreError::from)?;
    Ok(())
}

/// Restarts a report's paused clocks with what was left of them.
pub async fn resume_timers(tx: &mut Tx, report_id: &str, now: i64) -> Result<(), ReportsError> {
    sqlx::query(
        "UPDATE report_timers SET state = 'pending', due_at_ms = $1 + remaining_ms, remaining_ms = NULL \
         WHERE report_id = $2 AND state = 'paused'",
    )
    .bind(now)
    .bind(report_id)
    .execute(tx.conn())
    .await
    .map_err(StoreError::from)?;
    Ok(())
}

/// Event: a deadline is near (the department is warned).
#[derive(Debug, Serialize, Deserialize)]
pub struct SlaWarning {
    pub report_id: String,
    pub department: String,
    /// `response` or `resolution`.
    pub deadline: String,
    pub due_at_ms: i64,
}

impl Event for SlaWarning {
    const TOPIC: &'static str = "reports.report.sla_warning";
    const VERSION: u32 = 1;
}

/// Event: a deadline passed; the report moved up the escalation chain.
#[derive(Debug, Serialize, Deserialize)]
pub struct ReportEscalated {
    pub report_id: String,
    pub department: String,
    /// 1: the department head; 2: the city's top office.
    pub level: i64,
    /// `response` or `resolution`.
    pub deadline: String,
}

impl Event for ReportEscalated {
    const TOPIC: &'static str = "reports.report.escalated";
    const VERSION: u32 = 1;
}

/// Fires due timers; any number of these may run against one database.
pub struct SlaJob {
    platform: Platform,
    /// This worker's name in leases.
    owner: String,
}

impl SlaJob {
    pub fn new(platform: Platform, owner: impl Into<String>) -> SlaJob {
        SlaJob {
            platform,
            owner: owner.into(),
        }
    }

    /// Claims and fires every due timer it can; returns how many it fired.
    pub async fn fire_due(&self) -> Result<usize, ReportsError> {
        let now = self.platform.clock.now_ms();
        let due = sqlx::query(
            "SELECT report_id, kind FROM report_timers WHERE state = 'pending' AND due_at_ms <= $1 \
             AND (lease_until_ms IS NULL OR lease_until_ms < $1) ORDER BY due_at_ms LIMIT 100",
        )
        .bind(now)
        .fetch_all(self.platform.store.reader())
        .await
        .map_err(StoreError::from)?;
        let mut fired = 0;
        for row in due {
            let (report_id, kind): (String, String) = (row.get(0), row.get(1));
            if self.claim(&report_id, &kind, now).await? && self.fire(&report_id, &kind, now).await? {
                fired += 1;
            }
        }
        Ok(fired)
    }

    async fn claim(&self, report_id: &str, kind: &str, now: i64) -> Result<bool, ReportsError> {
        let mut tx = self.platform.store.begin().await?;
        let claimed = sqlx::query(
            "UPDATE report_timers SET lease_owner = $1, lease_until_ms = $2 WHERE report_id = $3 AND kind = $4 \
             AND state = 'pending' AND (lease_until_ms IS NULL OR lease_until_ms < $5)",
        )
        .bind(&self.owner)
        .bind(now + LEASE_MS)
        .bind(report_id)
        .bind(kind)
        .bind(now)
        .execute(tx.conn())
        .await
        .map_err(StoreError::from)?
        .rows_affected();
        tx.commit().await?;
        Ok(claimed == 1)
    }

    async fn fire(&self, report_id: &str, kind: &str, now: i64) -> Result<bool, ReportsError> {
        let mut tx = self.platform.store.begin().await?;
        // The flip comes first: a worker whose lease was taken over finds nothing to flip.
        let flipped = sqlx::query(
            "UPDATE report_timers SET state = 'fired', fired_at_ms = $1 WHERE report_id = $2 AND kind = $3 \
             AND state = 'pending' AND lease_owner = $4",
        )
        .bind(now)
        .bind(report_id)
        .bind(kind)
        .bind(&self.owner)
        .execute(tx.conn())
        .await
        .map_err(StoreError::from)?
        .rows_affected();
        if flipped != 1 {
            tx.rollback().await?;
            return Ok(false);
        }
        let row = sqlx::query("SELECT department, escalation_level FROM reports WHERE id = $1")
            .bind(report_id)
            .fetch_one(tx.conn())
            .await
            .map_err(StoreError::from)?;
        let (department, level): (String, i64) = (row.get(0), row.get(1));
        let due_at_ms: i64 = sqlx::query("SELECT due_at_ms FROM report_timers WHERE report_id = $1 AND kind = $2")
            .bind(report_id)
            .bind(kind)
            .fetch_one(tx.conn())
            .await
            .map_err(StoreError::from)?
            .get(0);
        let deadline = kind.trim_end_matches("_warning").to_owned();
        if kind.ends_with("_warning") {
            let note = if deadline == "response" {
                "Batas waktu verifikasi segera berakhir."
            } else {
                "Batas waktu penyelesaian segera berakhir."
            };
            crate::timeline::append_step(&mut tx, report_id, "sla_warning", Some(note), true, None, None, now).await?;
            tx.append_event(&SlaWarning {
                report_id: report_id.to_owned(),
                department,
                deadline,
                due_at_ms,
            })
            .await?;
        } else {
            let (to_level, note) = if deadline == "response" {
                (1, "Tidak diverifikasi tepat waktu: diteruskan ke kepala dinas.")
            } else {
                (2, "Tidak diselesaikan tepat waktu: diteruskan ke Pemerintah Kota.")
            };
            let level = level.max(to_level);
            sqlx::query("UPDATE reports SET escalation_level = $1, updated_at_ms = $2 WHERE id = $3")
                .bind(level)
                .bind(now)
                .bind(report_id)
                .execute(tx.conn())
                .await
                .map_err(StoreError::from)?;
            crate::timeline::append_step(&mut tx, report_id, "escalated", Some(note), false, None, None, now).await?;
            tx.append_event(&ReportEscalated {
                report_id: report_id.to_owned(),
                department,
                level,
                deadline,
            })
            .await?;
        }
        tx.commit().await?;
        Ok(true)
    }
}

#[async_trait::async_trait]
impl warga_http::Job for SlaJob {
    fn name(&self) -> &'static str {
        "reports-sla-timers"
    }
    fn interval(&self) -> std::time::Duration {
        let config = self.platform.config.section::<crate::config::ReportsConfig>();
        std::time::Duration::from_millis(config.sla.poll_interval_ms)
    }
    async fn run(&self) -> Result<usize, String> {
        self.fire_due().await.map_err(|e| e.to_string())
    }
}
