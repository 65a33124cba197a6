//! The registry vouches for patients: one identity, rooted in the NIK, across the
//! population registry and the BPJS ledger.
//!
//! - **Issuing a card** is checked by [`crate::registry`] before the gateway submits it.
//! - **A death suspends the card, once.** The `ledger-death-recorder` consumer turns each
//!   `population.resident.died` into a row of `ledger_card_suspensions` (its key is the
//!   resident, so a redelivered event adds nothing); the `ledger-card-suspender` job then
//!   submits `SuspendCard` under the BPJS service identity, outside any database
//!   transaction, and marks the row done when the ledger committed it — or answered that
//!   there is no card, or that it is already suspended (a retry after a crash between the
//!   commit and the mark: the contract refuses a second suspension, so nothing happens
//!   twice).

use std::time::Duration;

use sqlx::Row;
use warga_bus::{Handler, HandlerError};
use warga_core::Envelope;
use warga_http::{ApiError, Platform};
use warga_store::audit::{AuditRecord, Outcome};
use warga_store::{StoreError, Tx};

use crate::LedgerError;
use crate::access::Gateway;

/// The registry's event this module follows (published by the population service).
const RESIDENT_DIED: &str = "population.resident.died";
/// The service identity that suspends cards at a death (enrolled at BPJS's CA on first use).
pub const SUSPENDER_SUBJECT: &str = "bpjs-registry-sync";
/// The reason written on a card suspended at its holder's death.
pub const DEATH_REASON: &str = "meninggal dunia (dicatat Dukcapil)";
/// Suspensions handled per pass.
const PASS_MAX: i64 = 32;

#[derive(serde::Deserialize)]
struct ResidentDied {
    resident_id: String,
}

/// Turns each death into a suspension waiting for the job.
pub struct DeathRecorder;

#[async_trait::async_trait]
impl Handler for DeathRecorder {
    fn name(&self) -> &'static str {
        "ledger-death-recorder"
    }

    fn topics(&self) -> &'static [&'static str] {
        &[RESIDENT_DIED]
    }

    async fn handle(&self, tx: &mut Tx, event: &Envelope) -> Result<(), HandlerError> {
        let died: ResidentDied = serde_json::from_value(event.payload.clone())
            .map_err(|e| format!("a {RESIDENT_DIED} event without a resident id: {e}"))?;
        sqlx::query(
            "INSERT INTO ledger_card_suspensions (resident_id, status, attempts, created_at_ms) \
             VALUES ($1, 'pending', 0, $2) ON CONFLICT (resident_id) DO NOTHING",
        )
        .bind(&died.resident_id)
        .bind(warga_core::time::now_ms())
        .execute(tx.conn())
        .await?;
        Ok(())
    }
}

/// Submits the pending suspensions.
pub struct CardSuspender {
    platform: Platform,
    gateway: Gateway,
}

impl CardSuspender {
    pub fn new(platform: Platform, gateway: Gateway) -> CardSuspender {
        CardSuspender { platform, gateway }
    }

    /// One suspension: `Ok(outcome)` once nothing is left to do.
    async fn suspend(&self, resident_id: &str) -> Result<(String, Option<String>), LedgerError> {
        let Some(nik) = warga_population::residents::nik_of(&self.platform, resident_id).await? else {
            return Ok(("no-resident".into(), None));
        };
        let access = self.gateway.access().await?;
        let client = access.signer(&crate::access::bpjs_service(SUSPENDER_SUBJECT)).await?;
        let submitted = tokio::time::timeout(
            access.timeout,
            client.submit("SuspendCard", &[nik, DEATH_REASON.to_owned()]),
        )
        .await
        .map_err(|_| LedgerError::Timeout(access.timeout.as_millis() as u64))?;
        match submitted {
            Ok(status) if status.code_name == "VALID" => Ok(("suspended".into(), Some(status.tx_id))),
            Ok(status) => Err(LedgerError::Internal(format!(
                "SuspendCard {} committed as {}; retrying",
                status.tx_id, status.code_name
            ))),
            Err(status) if status.code() == tonic::Code::NotFound => Ok(("no-card".into(), None)),
            Err(status) if status.code() == tonic::Code::FailedPrecondition => Ok(("already-suspended".into(), None)),
            Err(status) => Err(LedgerError::Ledger(status)),
        }
    }
}

#[async_trait::async_trait]
impl warga_http::Job for CardSuspender {
    fn name(&self) -> &'static str {
        "ledger-card-suspender"
    }

    fn interval(&self) -> Duration {
        Duration::from_secs(1)
    }

    async fn run(&self) -> Result<usize, String> {
        let store = &self.platform.store;
        let pending = sqlx::query(
            "SELECT resident_id FROM ledger_card_suspensions WHERE status = 'pending' ORDER BY created_at_ms LIMIT $1",
        )
        .bind(PASS_MAX)
        .fetch_all(store.reader())
        .await
        .map_err(|e| e.to_string())?;
        if pending.is_empty() {
            return Ok(0);
        }
        if let Err(LedgerError::Unconfigured(why)) = self.gateway.access().await {
            // No ledger here (disabled, or not configured): the suspensions wait for one.
            tracing::debug!(%why, waiting = pending.len(), "card suspensions wait for a ledger");
            return Ok(0);
        }
        let mut done = 0;
        for row in pending {
            let resident_id: String = row.get(0);
            match self.suspend(&resident_id).await {
                Ok((outcome, tx_id)) => {
                    let mut tx = store.begin().await.map_err(|e| e.to_string())?;
                    sqlx::query(
                        "UPDATE ledger_card_suspensions SET status = 'done', outcome = $1, tx_id = $2, \
                         attempts = attempts + 1, done_at_ms = $3 WHERE resident_id = $4",
                    )
                    .bind(&outcome)
                    .bind(tx_id.as_deref())
                    .bind(warga_core::time::now_ms())
                    .bind(&resident_id)
                    .execute(tx.conn())
                    .await
                    .map_err(|e| StoreError::from(e).to_string())?;
                    tx.audit(&AuditRecord {
                        actor: &format!("service:{SUSPENDER_SUBJECT}"),
                        action: "ledger.card.suspend_at_death",
                        target: &format!("resident:{resident_id}"),
                        outcome: Outcome::Success,
                        details: Some(serde_json::json!({ "outcome": outcome, "tx_id": tx_id })),
                    })
                    .await
                    .map_err(|e| e.to_string())?;
                    tx.commit().await.map_err(|e| e.to_string())?;
                    tracing::info!(%resident_id, %outcome, "BPJS card of a deceased resident handled");
                    done += 1;
                }
                Err(error) => {
                    let detail = error.to_string();
                    tracing::warn!(%resident_id, error = %detail, "a card suspension failed; retrying at the next pass");
                    sqlx::query(
                        "UPDATE ledger_card_suspensions SET attempts = attempts + 1, last_error = $1 WHERE resident_id = $2",
                    )
                    .bind(&detail)
                    .bind(&resident_id)
                    .execute(store.writer())
                    .await
                    .map_err(|e| e.to_string())?;
                }
            }
        }
        Ok(done)
    }
}

/// `warga up --demo`: BPJS cards for the demo's residents, issued through the registry's
/// check like any card (by BPJS's service identity); seeding again changes nothing. Without
/// a ledger to reach (a process serving no ledger) there is nothing to issue.
pub async fn issue_demo_cards(platform: &Platform) -> Result<(), String> {
    let gateway = Gateway::new(platform);
    if let Err(error) = gateway.access().await {
        tracing::warn!(%error, "no ledger to issue the demo's BPJS cards on");
        return Ok(());
    }
    let issuer = crate::access::bpjs_service("system:demo");
    let valid_until = format!("{}-12-31", time::OffsetDateTime::now_utc().year() + 1);
    let mut issued = 0;
    for i in 0..warga_population::residents::DEMO_RESIDENTS.len() {
        let Some(nik) = warga_population::residents::demo_nik(i) else {
            continue;
        };
        let class = (i % 3 + 1).to_string();
        let args = [nik.clone(), class, valid_until.clone()];
        match crate::portal::submit(&gateway, &issuer, "IssueCard", &args).await {
            Ok(_) => issued += 1,
            // Issued by an earlier start.
            Err(ApiError::Downstream { status, .. }) if status == axum::http::StatusCode::CONFLICT => {}
            Err(error) => return Err(format!("issuing the demo's BPJS card for {nik}: {error}")),
        }
    }
    tracing::info!(issued, "the demo's residents hold BPJS cards");
    Ok(())
}
