//! Forwarding (R7): each department's reports sent on to its own systems by HMAC-signed
//! webhooks.
//!
//! A consumer of the reports' events (`reports-webhooks`) writes one delivery per matching
//! hook, in the same transaction that records the event as processed; the deliveries' job
//! ([`crate::deliveries`]) sends it through [`WebhookChannel`] outside any transaction
//! (no answer within 10 s is a failure), retries it and dead-letters it.
//!
//! What a receiver gets: `POST` with a JSON body `{id, topic, occurred_at, data}` and the
//! headers `Warga-Webhook-Id` (the event's id: the same on every retry, so a receiver drops
//! duplicates), `Warga-Webhook-Timestamp` (Unix seconds of this attempt) and
//! `Warga-Webhook-Signature: v1=<hex HMAC-SHA-256 of "{timestamp}.{body}" under the hook's
//! secret>`. A receiver checks the signature in constant time and refuses a timestamp more
//! than five minutes from its clock, so a captured request cannot be replayed later
//! ([`verify`] does both).

use std::time::Duration;

use warga_bus::HandlerError;
use warga_core::{Envelope, Event};
use warga_http::Platform;
use warga_store::Tx;

pub use crate::config::WebhookConfig;
use crate::deliveries::{Channel, Due};
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

/// Sends a delivery to its hook: `POST` of the body, signed.
pub struct WebhookChannel {
    client: reqwest::Client,
}

impl WebhookChannel {
    pub fn new() -> Result<WebhookChannel, ReportsError> {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .connect_timeout(Duration::from_secs(5))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| ReportsError::Internal(format!("webhook client: {e}")))?;
        Ok(WebhookChannel { client })
    }
}

#[async_trait::async_trait]
impl Channel for WebhookChannel {
    fn name(&self) -> &'static str {
        "webhook"
    }

    async fn send(&self, platform: &Platform, due: &Due) -> Result<Option<Tx>, String> {
        let hooks = &crate::settings(platform).webhooks;
        let hook = hooks
            .iter()
            .find(|h| h.name == due.hook)
            .ok_or_else(|| format!("the hook {:?} is no longer configured", due.hook))?;
        let timestamp = platform.clock.now_ms() / 1000;
        let response = self
            .client
            .post(&hook.url)
            .header("content-type", "application/json")
            .header("warga-webhook-id", &due.event_id)
            .header("warga-webhook-timestamp", timestamp.to_string())
            .header(
                "warga-webhook-signature",
                sign(hook.secret.expose(), timestamp, &due.body),
            )
            .body(due.body.clone())
            .send()
            .await
            .map_err(|e| format!("no answer: {e}"))?;
        let status = response.status();
        if status.is_success() {
            Ok(None)
        } else {
            Err(format!("answered {status}"))
        }
    }
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
}
