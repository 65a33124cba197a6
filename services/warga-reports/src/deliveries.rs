//! Deliveries: messages that leave warga — the departments' webhooks (R7) and the
//! reporters' updates by SMS and e-mail (R4) — each written by a consumer of the reports'
//! events into `report_webhook_deliveries`, in the transaction that records the event as
//! processed, and sent later by the job `reports-webhook-deliveries`.
//!
//! The job claims due deliveries with a lease, so replicas do not send one at once, and
//! sends each through its [`Channel`] outside any database transaction (a channel that
//! records its message itself — the embedded SMS outbox — does so in the transaction that
//! marks the delivery done). A failure (an error status, a refused connection, no answer
//! within the channel's deadline) is retried with exponential backoff; after
//! [`MAX_ATTEMPTS`] the delivery is dead-lettered: kept, listed for administrators, and
//! sent again on request.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use sqlx::Row;
use warga_core::identity::{Principal, Role};
use warga_http::Platform;
use warga_store::{StoreError, Tx};

use crate::error::ReportsError;

/// A delivery that is due, as its channel needs it.
#[derive(Debug)]
pub struct Due {
    pub id: String,
    /// The hook's name (webhooks), or the channel's.
    pub hook: String,
    /// The event's id: the same on every attempt, so receivers can drop duplicates.
    pub event_id: String,
    pub body: String,
    /// The reporter's account (SMS, e-mail).
    pub recipient: Option<String>,
}

/// One way out: a webhook, an SMS provider, a mail server.
#[async_trait::async_trait]
pub trait Channel: Send + Sync {
    /// `report_webhook_deliveries.channel`.
    fn name(&self) -> &'static str;

    /// Sends one delivery. A channel that records the message itself returns the open
    /// transaction it recorded it in; the job marks the delivery done in it.
    async fn send(&self, platform: &Platform, due: &Due) -> Result<Option<Tx>, String>;
}

/// Attempts before a delivery is dead-lettered.
pub const MAX_ATTEMPTS: i64 = 8;
const LEASE_MS: i64 = 30_000;

/// Sends due deliveries through their channels; any number of these may run against one
/// database.
pub struct DeliveryJob {
    platform: Platform,
    owner: String,
    channels: HashMap<&'static str, Arc<dyn Channel>>,
}

impl DeliveryJob {
    /// The job, sending through `channels` (the service's: [`crate::channels`]).
    pub fn new(platform: Platform, owner: impl Into<String>, channels: Vec<Arc<dyn Channel>>) -> DeliveryJob {
        DeliveryJob {
            platform,
            owner: owner.into(),
            channels: channels.into_iter().map(|c| (c.name(), c)).collect(),
        }
    }

    /// The wait before attempt `attempts + 1`: 2, 4, 8 … seconds, at most an hour.
    fn backoff_ms(attempts: i64) -> i64 {
        (1_000_i64 << attempts.clamp(1, 12)).min(3_600_000)
    }

    /// Sends every due delivery it can claim; returns how many were delivered.
    pub async fn deliver_due(&self) -> Result<usize, ReportsError> {
        let now = self.platform.clock.now_ms();
        let due = sqlx::query(
            "SELECT id FROM report_webhook_deliveries WHERE state = 'pending' AND next_at_ms <= $1 \
             AND (lease_until_ms IS NULL OR lease_until_ms < $1) ORDER BY next_at_ms LIMIT 100",
        )
        .bind(now)
        .fetch_all(self.platform.store.reader())
        .await
        .map_err(StoreError::from)?;
        let mut delivered = 0;
        for row in due {
            let id: String = row.get(0);
            let mut tx = self.platform.store.begin().await?;
            let claimed = sqlx::query(
                "UPDATE report_webhook_deliveries SET lease_owner = $1, lease_until_ms = $2 WHERE id = $3 \
                 AND state = 'pending' AND (lease_until_ms IS NULL OR lease_until_ms < $4)",
            )
            .bind(&self.owner)
            .bind(now + LEASE_MS)
            .bind(&id)
            .bind(now)
            .execute(tx.conn())
            .await
            .map_err(StoreError::from)?
            .rows_affected();
            let row = sqlx::query(
                "SELECT hook, event_id, body, attempts, channel, recipient FROM report_webhook_deliveries WHERE id = $1",
            )
            .bind(&id)
            .fetch_one(tx.conn())
            .await
            .map_err(StoreError::from)?;
            tx.commit().await?;
            if claimed == 0 {
                continue;
            }
            let due = Due {
                id: id.clone(),
                hook: row.get(0),
                event_id: row.get(1),
                body: row.get(2),
                recipient: row.get(5),
            };
            let (attempts, channel): (i64, String) = (row.get(3), row.get(4));
            let outcome = match self.channels.get(channel.as_str()) {
                Some(sender) => sender.send(&self.platform, &due).await,
                None => Err(format!("the channel {channel:?} is not set up in this process")),
            };
            let now = self.platform.clock.now_ms();
            let attempts = attempts + 1;
            // A finished delivery keeps its hour only, as the bus's bookkeeping does: a
            // webhook of an anonymous report would otherwise date it.
            let finished = warga_core::time::hour_ceiling(now);
            let (state, next_at, error, tx) = match outcome {
                Ok(tx) => ("delivered", finished, None, tx),
                Err(error) if attempts >= MAX_ATTEMPTS => ("dead", finished, Some(error), None),
                Err(error) => ("pending", now + Self::backoff_ms(attempts), Some(error), None),
            };
            match (&error, state) {
                (None, _) => delivered += 1,
                (Some(error), "dead") => tracing::warn!(
                    %channel, hook = %due.hook, event_id = %due.event_id, attempts, %error,
                    "delivery dead-lettered"
                ),
                (Some(error), _) => tracing::info!(
                    %channel, hook = %due.hook, event_id = %due.event_id, attempts, %error,
                    "delivery failed; retrying"
                ),
            }
            let mut tx = match tx {
                Some(tx) => tx,
                None => self.platform.store.begin().await?,
            };
            sqlx::query(
                "UPDATE report_webhook_deliveries SET state = $1, attempts = $2, next_at_ms = $3, last_error = $4, \
                 lease_owner = NULL, lease_until_ms = NULL, delivered_at_ms = $5 WHERE id = $6 AND lease_owner = $7",
            )
            .bind(state)
            .bind(attempts)
            .bind(next_at)
            .bind(error.as_deref())
            .bind((state == "delivered").then_some(finished))
            .bind(&id)
            .bind(&self.owner)
            .execute(tx.conn())
            .await
            .map_err(StoreError::from)?;
            tx.commit().await?;
        }
        Ok(delivered)
    }
}

#[async_trait::async_trait]
impl warga_http::Job for DeliveryJob {
    fn name(&self) -> &'static str {
        "reports-webhook-deliveries"
    }
    fn interval(&self) -> Duration {
        Duration::from_millis(crate::settings(&self.platform).webhook_poll_ms)
    }
    async fn run(&self) -> Result<usize, String> {
        self.deliver_due().await.map_err(|e| e.to_string())
    }
}

/// A delivery, as administrators see it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Delivery {
    pub id: String,
    /// `webhook`, `sms` or `email` (the last two: a message to a reporter).
    pub channel: String,
    /// The hook's name (the channel's for a reporter's message).
    pub hook: String,
    pub event_id: String,
    pub topic: String,
    /// `pending`, `delivered` or `dead`.
    pub state: String,
    pub attempts: i64,
    pub last_error: Option<String>,
}

fn require_admin(principal: &Principal) -> Result<(), ReportsError> {
    if principal.has_role(Role::Admin) {
        Ok(())
    } else {
        Err(ReportsError::Forbidden("hanya administrator".into()))
    }
}

/// Deliveries in a state (the dead letters by default), newest first.
pub async fn deliveries(
    platform: &Platform,
    principal: &Principal,
    state: &str,
) -> Result<Vec<Delivery>, ReportsError> {
    require_admin(principal)?;
    if !matches!(state, "pending" | "delivered" | "dead") {
        return Err(ReportsError::invalid("state", "pending, delivered atau dead"));
    }
    let rows = sqlx::query(
        "SELECT id, hook, event_id, topic, state, attempts, last_error, channel FROM report_webhook_deliveries \
         WHERE state = $1 ORDER BY created_at_ms DESC, id LIMIT 200",
    )
    .bind(state)
    .fetch_all(platform.store.reader())
    .await
    .map_err(StoreError::from)?;
    Ok(rows
        .iter()
        .map(|r| Delivery {
            id: r.get(0),
            channel: r.get(7),
            hook: r.get(1),
            event_id: r.get(2),
            topic: r.get(3),
            state: r.get(4),
            attempts: r.get(5),
            last_error: r.get(6),
        })
        .collect())
}

/// Sends a dead-lettered delivery again (from a fresh count of attempts).
pub async fn retry(platform: &Platform, principal: &Principal, id: &str) -> Result<(), ReportsError> {
    require_admin(principal)?;
    let mut tx = platform.store.begin().await?;
    let changed = sqlx::query(
        "UPDATE report_webhook_deliveries SET state = 'pending', attempts = 0, next_at_ms = $1 \
         WHERE id = $2 AND state = 'dead'",
    )
    .bind(platform.clock.now_ms())
    .bind(id)
    .execute(tx.conn())
    .await
    .map_err(StoreError::from)?
    .rows_affected();
    if changed == 0 {
        return Err(ReportsError::NotFound);
    }
    tx.audit(&warga_store::audit::AuditRecord {
        actor: &principal.audit_actor(),
        action: "reports.webhook.retry",
        target: &format!("webhook-delivery:{id}"),
        outcome: warga_store::audit::Outcome::Success,
        details: None,
    })
    .await?;
    tx.commit().await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_is_capped() {
        assert_eq!(DeliveryJob::backoff_ms(1), 2_000);
        assert_eq!(DeliveryJob::backoff_ms(3), 8_000);
        assert_eq!(DeliveryJob::backoff_ms(40), 3_600_000);
    }
}
