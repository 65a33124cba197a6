//! Reporters' updates outside warga (R4): by SMS through the population service's SMS
//! provider, and by e-mail through a mail server (`[reports.email]`), to the contact the
//! reporter gave ([`crate::contacts`]). The reporters' consumer writes a delivery per
//! channel the reporter chose ([`enqueue`]); the deliveries' job sends it
//! ([`crate::deliveries`]), reading the contact only then.

use std::sync::Arc;
use std::time::Duration;

use warga_core::Envelope;
use warga_http::Platform;
use warga_population::notify::SmsProvider;
use warga_store::{StoreError, Tx};

use crate::deliveries::{Channel, Due};
use crate::error::ReportsError;

/// Writes, in the consumer's transaction, one delivery of `text` per channel the reporter
/// chose; the event's id makes each one once whatever the bus redelivers.
pub async fn enqueue(tx: &mut Tx, event: &Envelope, reporter: &str, text: &str) -> Result<(), StoreError> {
    let (sms, email) = crate::contacts::wants(tx, reporter).await?;
    for (channel, wanted) in [("sms", sms), ("email", email)] {
        if !wanted {
            continue;
        }
        sqlx::query(
            "INSERT INTO report_webhook_deliveries (id, hook, event_id, topic, body, state, attempts, next_at_ms, \
             created_at_ms, channel, recipient) VALUES ($1, $2, $3, $4, $5, 'pending', 0, 0, $6, $2, $7) \
             ON CONFLICT (id) DO NOTHING",
        )
        .bind(format!("{}:{channel}", event.id.as_str()))
        .bind(channel)
        .bind(event.id.as_str())
        .bind(&event.topic)
        .bind(text)
        .bind(event.occurred_at_ms)
        .bind(reporter)
        .execute(tx.conn())
        .await?;
    }
    Ok(())
}

/// The recipient's contact as it is now (one removed since the message was written is
/// not used).
async fn contact_of(platform: &Platform, due: &Due) -> Result<crate::contacts::Contact, String> {
    crate::contacts::get(platform, due.recipient.as_deref().unwrap_or_default())
        .await
        .map_err(|e| format!("reading the reporter's contact: {e}"))
}

/// SMS through the population service's provider.
pub struct SmsChannel {
    provider: Arc<dyn SmsProvider>,
}

impl SmsChannel {
    /// The provider `[population.sms]` sets up (the embedded outbox by default).
    pub fn from_config(platform: &Platform) -> SmsChannel {
        let population = platform.config.section::<warga_population::config::PopulationConfig>();
        SmsChannel {
            provider: warga_population::notify::provider(&population.sms),
        }
    }
}

#[async_trait::async_trait]
impl Channel for SmsChannel {
    fn name(&self) -> &'static str {
        "sms"
    }

    async fn send(&self, platform: &Platform, due: &Due) -> Result<Option<Tx>, String> {
        let contact = contact_of(platform, due).await?;
        // A number removed since the message was written is not used.
        let Some(phone) = contact.phone else {
            return Ok(None);
        };
        if self.provider.remote() {
            self.provider
                .send(None, &phone, &due.body, &due.event_id)
                .await
                .map_err(|e| e.to_string())?;
            return Ok(None);
        }
        let mut tx = platform.store.begin().await.map_err(|e| e.to_string())?;
        self.provider
            .send(Some(&mut tx), &phone, &due.body, &due.event_id)
            .await
            .map_err(|e| e.to_string())?;
        Ok(Some(tx))
    }
}

/// E-mail through an SMTP server.
pub struct EmailChannel {
    transport: lettre::AsyncSmtpTransport<lettre::Tokio1Executor>,
    from: lettre::message::Mailbox,
}

impl EmailChannel {
    /// The mail server `[reports.email]` names, if any.
    pub fn from_config(platform: &Platform) -> Result<Option<EmailChannel>, ReportsError> {
        let config = crate::settings(platform).email.clone();
        let Some(url) = config.smtp_url else {
            return Ok(None);
        };
        let transport = lettre::AsyncSmtpTransport::<lettre::Tokio1Executor>::from_url(url.expose())
            .map_err(|e| ReportsError::Internal(format!("reports.email.smtp_url: {e}")))?
            .timeout(Some(Duration::from_millis(config.timeout_ms)))
            .build();
        let from = config
            .from
            .parse()
            .map_err(|e| ReportsError::Internal(format!("reports.email.from: {e}")))?;
        Ok(Some(EmailChannel { transport, from }))
    }
}

#[async_trait::async_trait]
impl Channel for EmailChannel {
    fn name(&self) -> &'static str {
        "email"
    }

    async fn send(&self, platform: &Platform, due: &Due) -> Result<Option<Tx>, String> {
        use lettre::AsyncTransport;
        let contact = contact_of(platform, due).await?;
        let Some(email) = contact.email else {
            return Ok(None);
        };
        let to = email.parse().map_err(|e| format!("the reporter's address: {e}"))?;
        let message = lettre::Message::builder()
            .from(self.from.clone())
            .to(to)
            // The event's id: the same on every attempt, so a duplicate can be recognised.
            .message_id(Some(format!("<{}@jagawarga>", due.event_id)))
            .subject("Pembaruan laporan JagaWarga")
            .header(lettre::message::header::ContentType::TEXT_PLAIN)
            .body(format!(
                "{}\n\n— JagaWarga. Anda menerima e-mail ini karena memintanya; hapus alamat Anda \
                 di halaman laporan Anda untuk berhenti.\n",
                due.body
            ))
            .map_err(|e| e.to_string())?;
        self.transport
            .send(message)
            .await
            .map_err(|e| format!("the mail server: {e}"))?;
        Ok(None)
    }
}
