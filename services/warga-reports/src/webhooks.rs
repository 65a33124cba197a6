//! Forwarding (R7): each department's reports sent on to its own systems by HMAC-signed
//! webhooks. The same deliveries carry reporters' SMS messages (R4): the reporters'
//! consumer (`inbox::ReporterNotifier`) writes one for a reporter who gave a phone
//! (`contacts`), and the job sends it through the population service's SMS provider.
//!
//! A consumer of the reports' events (`reports-webhooks`) writes one delivery per matching
//! hook into `report_webhook_deliveries`, in the same transaction that records the event as
//! processed: no network call holds a database transaction open. The job
//! `reports-webhook-deliveries` then sends due deliveries outside any transaction, each
//! claimed with a lease so replicas do not send it at once; a failure (an error status, a
//! refused connection, no answer within 10 s) is retried with exponential backoff, and after
//! `max_attempts` the delivery is dead-lettered (kept, listed for administrators, and sent
//! again on request).
//!
//! What a receiver gets: `POST` with a JSON body `{id, topic, occurred_at, data}` and the
//! headers `Warga-Webhook-Id` (the event's id: the same on every retry, so a receiver drops
//! duplicates), `Warga-Webhook-Timestamp` (Unix seconds of this attempt) and
//! `Warga-Webhook-Signature: v1=<hex HMAC-SHA-256 of "{timestamp}.{body}" under the hook's
//! secret>`. A receiver checks the signature in constant time and refuses a timestamp more
//! than five minutes from its clock, so a captured request cannot be replayed later
//! ([`verify`] does both).

use std::time::Duration;

use serde::Serialize;
use sqlx::Row;
use warga_bus::HandlerError;
use warga_core::identity::{Principal, Role};
use warga_core::{Envelope, Event};
use warga_http::Platform;
use warga_store::{StoreError, Tx};

pub use crate::config::WebhookConfig;
use crate::error::ReportsError;
use crate::reports::{ReportRerouted, ReportStatusChanged, ReportSubmitted};
use crate::sla::ReportEscalated;

/// How far a receiver's clock and a signature's timestamp may differ.
pub const TOLERANCE_SECONDS: i64 = 300;

/// `v1=<hex>`: the signature of `body` sent at `timestamp`.
pub fn sign(secret: &str, timestamp: i64, body: &str) -> String {
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret.as_bytes());
    let tag = ring::hmac::sign(&key, format!("{timestamp}.{body}").as_bytes());
    let hex: String = tag.as_ref().iter().map(|b| format!("{b:02x}")).collect();
    format!("v1={hex}")
}

/// What a receiver does: the signature matches (in constant time) and the timestamp is
/// within [`TOLERANCE_SECONDS`] of `now_seconds`.
pub fn verify(secret: &str, timestamp: i64, body: &str, signature: &str, now_seconds: i64) -> bool {
    if (now_seconds - timestamp).abs() > TOLERANCE_SECONDS {
        return false;
    }
    let Some(hex) = signature.strip_prefix("v1=") else {
        return false;
    };
    let Some(tag) = (0..hex.len())
        .step_by(2)
        .map(|i| hex.get(i..i + 2).and_then(|b| u8::from_str_radix(b, 16).ok()))
        .collect::<Option<Vec<u8>>>()
    else {
        return false;
    };
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret.as_bytes());
    ring::hmac::verify(&key, format!("{timestamp}.{body}").as_bytes(), &tag).is_ok()
}

/// The departments an event concerns.
fn departments(event: &Envelope) -> Result<Vec<String>, HandlerError> {
    Ok(match event.topic.as_str() {
        ReportSubmitted::TOPIC => vec![event.decode::<ReportSubmitted>()?.department],
        ReportStatusChanged::TOPIC => vec![event.decode::<ReportStatusChanged>()?.department],
        ReportRerouted::TOPIC => {
            let rerouted: ReportRerouted = event.decode()?;
            vec![rerouted.from_department, rerouted.to_department]
        }
        ReportEscalated::TOPIC => vec![event.decode::<ReportEscalated>()?.department],
        _ => Vec::new(),
    })
}

/// Writes a delivery per matching hook for each report event.
pub struct WebhookOutbox {
    hooks: Vec<WebhookConfig>,
}

impl WebhookOutbox {
    pub fn new(hooks: Vec<WebhookConfig>) -> WebhookOutbox {
        WebhookOutbox { hooks }
    }
}

#[async_trait::async_trait]
impl warga_bus::Handler for WebhookOutbox {
    fn name(&self) -> &'static str {
        "reports-webhooks"
    }
    fn topics(&self) -> &'static [&'static str] {
        &[
            ReportSubmitted::TOPIC,
            ReportStatusChanged::TOPIC,
            ReportRerouted::TOPIC,
            ReportEscalated::TOPIC,
        ]
    }
    async fn handle(&self, tx: &mut Tx, event: &Envelope) -> Result<(), HandlerError> {
        let concerned = departments(event)?;
        let body = serde_json::json!({
            "id": event.id.as_str(),
            "topic": event.topic,
            "occurred_at": crate::calendar::format_datetime(event.occurred_at_ms),
            "data": event.payload,
        })
        .to_string();
        for hook in &self.hooks {
            let wanted = hook.department == crate::categories::TOP_AUTHORITY || concerned.contains(&hook.department);
            if !wanted {
                continue;
            }
            sqlx::query(
                "INSERT INTO report_webhook_deliveries (id, hook, event_id, topic, body, state, attempts, next_at_ms, \
                 created_at_ms) VALUES ($1, $2, $3, $4, $5, 'pending', 0, 0, $6) ON CONFLICT (id) DO NOTHING",
            )
            .bind(format!("{}:{}", event.id.as_str(), hook.name))
            .bind(&hook.name)
            .bind(event.id.as_str())
            .bind(&event.topic)
            .bind(&body)
            // Due at once (0), whatever the clocks of the writer and the sender.
            .bind(event.occurred_at_ms)
            .execute(tx.conn())
            .await?;
        }
        Ok(())
    }
}

/// Sends due deliveries — the departments' webhooks and the reporters' SMS messages; any
/// number of these may run against one database.
pub struct WebhookJob {
    platform: Platform,
    owner: String,
    client: reqwest::Client,
    sms: std::sync::Arc<dyn warga_population::notify::SmsProvider>,
}

/// Attempts before a delivery is dead-lettered.
const MAX_ATTEMPTS: i64 = 8;
const LEASE_MS: i64 = 30_000;

impl WebhookJob {
    pub fn new(platform: Platform, owner: impl Into<String>) -> Result<WebhookJob, ReportsError> {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .connect_timeout(Duration::from_secs(5))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| ReportsError::Internal(format!("webhook client: {e}")))?;
        // The population service's provider (`[population.sms]`), shared.
        let population = platform.config.section::<warga_population::config::PopulationConfig>();
        let sms = warga_population::notify::provider(&population.sms);
        Ok(WebhookJob {
            platform,
            owner: owner.into(),
            client,
            sms,
        })
    }

    /// The wait before attempt `attempts + 1`: 2, 4, 8 … seconds, at most an hour.
    fn backoff_ms(attempts: i64) -> i64 {
        (1_000_i64 << attempts.clamp(1, 12)).min(3_600_000)
    }

    /// Sends every due delivery it can claim; returns how many were delivered.
    pub async fn deliver_due(&self) -> Result<usize, ReportsError> {
        let hooks = crate::settings(&self.platform).webhooks.clone();
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
            let (hook_name, event_id, body, attempts): (String, String, String, i64) =
                (row.get(0), row.get(1), row.get(2), row.get(3));
            let (channel, recipient): (String, Option<String>) = (row.get(4), row.get(5));
            // Network calls happen outside any transaction; an embedded provider records
            // its message in the transaction that marks the delivery done.
            let (outcome, tx) = match channel.as_str() {
                "sms" => {
                    self.send_sms(recipient.as_deref().unwrap_or_default(), &event_id, &body)
                        .await
                }
                _ => {
                    let outcome = match hooks.iter().find(|h| h.name == hook_name) {
                        Some(hook) => self.send(hook, &event_id, &body).await,
                        None => Err(format!("the hook {hook_name:?} is no longer configured")),
                    };
                    (outcome, None)
                }
            };
            let mut tx = match tx {
                Some(tx) => tx,
                None => self.platform.store.begin().await?,
            };
            let now = self.platform.clock.now_ms();
            let attempts = attempts + 1;
            let (state, next_at, error) = match &outcome {
                Ok(()) => ("delivered", now, None),
                Err(error) if attempts >= MAX_ATTEMPTS => ("dead", now, Some(error.clone())),
                Err(error) => ("pending", now + Self::backoff_ms(attempts), Some(error.clone())),
            };
            match &outcome {
                Ok(()) => delivered += 1,
                Err(error) if state == "dead" => {
                    tracing::warn!(hook = %hook_name, %event_id, attempts, %error, "webhook delivery dead-lettered");
                }
                Err(error) => {
                    tracing::info!(hook = %hook_name, %event_id, attempts, %error, "webhook delivery failed; retrying")
                }
            }
            sqlx::query(
                "UPDATE report_webhook_deliveries SET state = $1, attempts = $2, next_at_ms = $3, last_error = $4, \
                 lease_owner = NULL, lease_until_ms = NULL, delivered_at_ms = $5 WHERE id = $6 AND lease_owner = $7",
            )
            .bind(state)
            .bind(attempts)
            .bind(next_at)
            .bind(error.as_deref())
            .bind((state == "delivered").then_some(now))
            .bind(&id)
            .bind(&self.owner)
            .execute(tx.conn())
            .await
            .map_err(StoreError::from)?;
            tx.commit().await?;
        }
        Ok(delivered)
    }

    /// Sends a reporter's SMS to the phone they gave (read now: a contact removed since
    /// the message was written is not used, and the message counts as done).
    async fn send_sms(&self, subject: &str, event_id: &str, body: &str) -> (Result<(), String>, Option<Tx>) {
        let phone = match crate::contacts::get(&self.platform, subject).await {
            Ok(contact) => contact.phone,
            Err(error) => return (Err(format!("reading the reporter's contact: {error}")), None),
        };
        let Some(phone) = phone else {
            return (Ok(()), None);
        };
        if self.sms.remote() {
            let outcome = self.sms.send(None, &phone, body, event_id).await;
            return (outcome.map_err(|e| e.to_string()), None);
        }
        let mut tx = match self.platform.store.begin().await {
            Ok(tx) => tx,
            Err(error) => return (Err(error.to_string()), None),
        };
        match self.sms.send(Some(&mut tx), &phone, body, event_id).await {
            Ok(()) => (Ok(()), Some(tx)),
            Err(error) => (Err(error.to_string()), None),
        }
    }

    async fn send(&self, hook: &WebhookConfig, event_id: &str, body: &str) -> Result<(), String> {
        let timestamp = self.platform.clock.now_ms() / 1000;
        let response = self
            .client
            .post(&hook.url)
            .header("content-type", "application/json")
            .header("warga-webhook-id", event_id)
            .header("warga-webhook-timestamp", timestamp.to_string())
            .header("warga-webhook-signature", sign(hook.secret.expose(), timestamp, body))
            .body(body.to_owned())
            .send()
            .await
            .map_err(|e| format!("no answer: {e}"))?;
        let status = response.status();
        if status.is_success() {
            Ok(())
        } else {
            Err(format!("answered {status}"))
        }
    }
}

#[async_trait::async_trait]
impl warga_http::Job for WebhookJob {
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
    /// `webhook`, or `sms` (a message to a reporter).
    pub channel: String,
    /// The hook's name (`sms` for a reporter's message).
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
    fn signatures_verify_only_with_the_secret_body_and_a_fresh_timestamp() {
        let secret = "rahasia-webhook-dinas-pu-0123456789";
        let signature = sign(secret, 1_800_000_000, "{\"a\":1}");
        assert!(signature.starts_with("v1=") && signature.len() == 3 + 64);
        assert!(verify(secret, 1_800_000_000, "{\"a\":1}", &signature, 1_800_000_100));
        assert!(
            !verify(secret, 1_800_000_000, "{\"a\":2}", &signature, 1_800_000_100),
            "body"
        );
        assert!(!verify(
            "another-secret-of-32-characters-xx",
            1_800_000_000,
            "{\"a\":1}",
            &signature,
            1_800_000_100
        ));
        assert!(
            !verify(secret, 1_800_000_000, "{\"a\":1}", &signature, 1_800_000_301),
            "replayed later"
        );
        assert!(
            !verify(secret, 1_800_000_001, "{\"a\":1}", &signature, 1_800_000_001),
            "timestamp"
        );
        assert!(!verify(secret, 1_800_000_000, "{\"a\":1}", "v1=zz", 1_800_000_000));
    }

    #[test]
    fn backoff_doubles_and_is_capped() {
        assert_eq!(WebhookJob::backoff_ms(1), 2_000);
        assert_eq!(WebhookJob::backoff_ms(3), 8_000);
        assert_eq!(WebhookJob::backoff_ms(40), 3_600_000);
    }
}
