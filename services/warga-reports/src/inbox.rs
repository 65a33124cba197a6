//! Notifications (R4, R8), through the outbox and the bus, once per event whatever the bus
//! redelivers:
//! - to reporters: every status change of a citizen's own report (their own withdrawal is
//!   not news to them; anonymous reports have no recipient — the receipt holder reads the
//!   timeline);
//! - to officers: service-level warnings and re-routed reports for the department, a missed
//!   response for its head, a missed resolution for the top office.

use serde::Serialize;
use sqlx::Row;
use warga_bus::HandlerError;
use warga_core::{Envelope, Event};
use warga_http::Platform;
use warga_store::{StoreError, Tx};

use crate::error::ReportsError;
use crate::reports::{ReportRerouted, ReportStatusChanged, ReportSubmitted};
use crate::sla::{ReportEscalated, SlaWarning};

/// A status in the reporter's words.
pub fn status_text(status: &str) -> &'static str {
    match status {
        "acknowledged" => "sudah diverifikasi dinas",
        "in_progress" => "sedang dikerjakan",
        "waiting_reporter" => "menunggu jawaban Anda",
        "resolved" => "sudah diselesaikan",
        "rejected" => "ditolak",
        "withdrawn" => "ditarik",
        "submitted" => "terkirim",
        _ => "diperbarui",
    }
}

/// Writes the reporter's inbox entry for a status change, and the messages by SMS and
/// e-mail they asked for.
pub struct ReporterNotifier {
    /// Where the reporter opens the report (links in messages).
    pub public_url: String,
}

#[async_trait::async_trait]
impl warga_bus::Handler for ReporterNotifier {
    fn name(&self) -> &'static str {
        "reports-reporter-inbox"
    }
    fn topics(&self) -> &'static [&'static str] {
        &[ReportStatusChanged::TOPIC]
    }
    async fn handle(&self, tx: &mut Tx, event: &Envelope) -> Result<(), HandlerError> {
        let changed: ReportStatusChanged = event.decode()?;
        if changed.to == "withdrawn" {
            return Ok(());
        }
        let row = sqlx::query("SELECT reporter, title FROM reports WHERE id = $1")
            .bind(&changed.report_id)
            .fetch_optional(tx.conn())
            .await?;
        let Some(row) = row else { return Ok(()) };
        let (reporter, title): (Option<String>, String) = (row.get(0), row.get(1));
        let Some(reporter) = reporter else { return Ok(()) };
        let message = format!("Laporan \"{title}\" {}.", status_text(&changed.to));
        sqlx::query(
            "INSERT INTO report_inbox (event_id, subject, report_id, status, message, at_ms) \
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (event_id) DO NOTHING",
        )
        .bind(event.id.as_str())
        .bind(&reporter)
        .bind(&changed.report_id)
        .bind(&changed.to)
        .bind(&message)
        .bind(event.occurred_at_ms)
        .execute(tx.conn())
        .await?;
        // By SMS and e-mail too, where the reporter asked for it.
        let short: String = title.chars().take(60).collect();
        let text = format!(
            "JagaWarga: laporan \"{short}\" {}. Rincian: {}/laporan/{}",
            status_text(&changed.to),
            self.public_url,
            changed.report_id
        );
        crate::messages::enqueue(tx, event, &reporter, &text).await?;
        Ok(())
    }
}

/// One notification.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Notification {
    pub report_id: String,
    pub status: String,
    pub message: String,
    pub at_ms: i64,
    pub read: bool,
}

/// The citizen's inbox, newest first.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Inbox {
    pub unread: i64,
    pub notifications: Vec<Notification>,
}

pub async fn inbox(platform: &Platform, subject: &str) -> Result<Inbox, ReportsError> {
    let rows = sqlx::query(
        "SELECT report_id, status, message, at_ms, read_at_ms FROM report_inbox WHERE subject = $1 \
         ORDER BY at_ms DESC, event_id DESC LIMIT 100",
    )
    .bind(subject)
    .fetch_all(platform.store.reader())
    .await
    .map_err(StoreError::from)?;
    let notifications: Vec<Notification> = rows
        .iter()
        .map(|r| Notification {
            report_id: r.get(0),
            status: r.get(1),
            message: r.get(2),
            at_ms: r.get(3),
            read: r.get::<Option<i64>, _>(4).is_some(),
        })
        .collect();
    let unread: i64 = sqlx::query("SELECT COUNT(*) FROM report_inbox WHERE subject = $1 AND read_at_ms IS NULL")
        .bind(subject)
        .fetch_one(platform.store.reader())
        .await
        .map_err(StoreError::from)?
        .get(0);
    Ok(Inbox { unread, notifications })
}

/// Marks every notification of the citizen read.
pub async fn mark_read(platform: &Platform, subject: &str) -> Result<Inbox, ReportsError> {
    let mut tx = platform.store.begin().await?;
    sqlx::query("UPDATE report_inbox SET read_at_ms = $1 WHERE subject = $2 AND read_at_ms IS NULL")
        .bind(platform.clock.now_ms())
        .bind(subject)
        .execute(tx.conn())
        .await
        .map_err(StoreError::from)?;
    tx.commit().await?;
    inbox(platform, subject).await
}

/// Writes officers' inbox entries for warnings, escalations and re-routed reports.
pub struct OfficerNotifier;

/// The lowest officer level (0 staff, 1 head, 2 top) that sees an entry.
fn rank(level: Option<warga_core::identity::OfficerLevel>) -> i64 {
    use warga_core::identity::OfficerLevel;
    match level {
        Some(OfficerLevel::Top) => 2,
        Some(OfficerLevel::Head) => 1,
        Some(OfficerLevel::Staff) | None => 0,
    }
}

#[async_trait::async_trait]
impl warga_bus::Handler for OfficerNotifier {
    fn name(&self) -> &'static str {
        "reports-officer-inbox"
    }
    fn topics(&self) -> &'static [&'static str] {
        &[
            ReportSubmitted::TOPIC,
            SlaWarning::TOPIC,
            ReportEscalated::TOPIC,
            ReportRerouted::TOPIC,
        ]
    }
    async fn handle(&self, tx: &mut Tx, event: &Envelope) -> Result<(), HandlerError> {
        let (department, min_rank, report_id, kind, message) = match event.topic.as_str() {
            SlaWarning::TOPIC => {
                let warning: SlaWarning = event.decode()?;
                let what = if warning.deadline == "response" {
                    "verifikasi"
                } else {
                    "penyelesaian"
                };
                (
                    warning.department,
                    0,
                    warning.report_id,
                    "sla_warning",
                    format!("Batas waktu {what} laporan segera berakhir."),
                )
            }
            ReportEscalated::TOPIC => {
                let escalated: ReportEscalated = event.decode()?;
                if escalated.level >= 2 {
                    let message = format!(
                        "Laporan dari {} tidak diselesaikan tepat waktu: kini di tangan Pemerintah Kota.",
                        escalated.department
                    );
                    (
                        crate::categories::TOP_AUTHORITY.to_owned(),
                        0,
                        escalated.report_id,
                        "escalated",
                        message,
                    )
                } else {
                    (
                        escalated.department,
                        1,
                        escalated.report_id,
                        "escalated",
                        "Laporan tidak diverifikasi tepat waktu: diteruskan kepada kepala dinas.".to_owned(),
                    )
                }
            }
            ReportSubmitted::TOPIC => {
                let submitted: ReportSubmitted = event.decode()?;
                let category = crate::categories::by_id(&submitted.category).map_or("", |c| c.name);
                (
                    submitted.department,
                    0,
                    submitted.report_id,
                    "submitted",
                    format!("Laporan baru: {category}."),
                )
            }
            ReportRerouted::TOPIC => {
                let rerouted: ReportRerouted = event.decode()?;
                let message = format!("Laporan diteruskan dari {} ke dinas ini.", rerouted.from_department);
                (rerouted.to_department, 0, rerouted.report_id, "rerouted", message)
            }
            _ => return Ok(()),
        };
        sqlx::query(
            "INSERT INTO report_officer_inbox (event_id, department, min_rank, report_id, kind, message, at_ms) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (event_id) DO NOTHING",
        )
        .bind(event.id.as_str())
        .bind(&department)
        .bind(min_rank)
        .bind(&report_id)
        .bind(kind)
        .bind(&message)
        .bind(event.occurred_at_ms)
        .execute(tx.conn())
        .await?;
        Ok(())
    }
}

/// One entry of an officer's inbox.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct OfficerNotification {
    pub report_id: String,
    /// `submitted` (a new report), `sla_warning`, `escalated` or `rerouted`.
    pub kind: String,
    pub message: String,
    pub at_ms: i64,
}

/// What the officer's department and level are told, newest first.
pub async fn officer_inbox(
    platform: &Platform,
    officer: &warga_core::identity::Principal,
) -> Result<Vec<OfficerNotification>, ReportsError> {
    let Some(department) = officer
        .department
        .as_deref()
        .filter(|_| officer.has_role(warga_core::identity::Role::Officer))
    else {
        return Err(ReportsError::Forbidden("hanya untuk petugas dinas".into()));
    };
    let rows = sqlx::query(
        "SELECT report_id, kind, message, at_ms FROM report_officer_inbox WHERE department = $1 AND min_rank <= $2 \
         ORDER BY at_ms DESC, event_id DESC LIMIT 200",
    )
    .bind(department)
    .bind(rank(officer.level))
    .fetch_all(platform.store.reader())
    .await
    .map_err(StoreError::from)?;
    Ok(rows
        .iter()
        .map(|r| OfficerNotification {
            report_id: r.get(0),
            kind: r.get(1),
            message: r.get(2),
            at_ms: r.get(3),
        })
        .collect())
}
