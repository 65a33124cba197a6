//! Officer notifications (P4): a new registration is sent by SMS to the registry desks of
//! its regency, through a provider: a Twilio-compatible HTTP API, or the embedded outbox
//! (a table administrators can read). Sending happens in an event consumer, so a failing
//! provider never fails or slows a registration; failures retry with backoff and end in
//! the dead letters after `bus.max_attempts`, as every consumer's do. Delivery to the
//! provider is at least once (a retry after a lost acknowledgement may send twice).

use crate::error::PopulationError;
use std::sync::Arc;
use std::time::Duration;

use sqlx::Row;
use warga_bus::HandlerError;
use warga_core::{Envelope, Event};
use warga_store::Tx;

use crate::regions::REGIONS;
use crate::residents::ResidentRegistered;

/// Sends one SMS; the population's officer notifications and the reports' messages to
/// reporters share it.
#[async_trait::async_trait]
pub trait SmsProvider: Send + Sync + 'static {
    /// Sends `body` to `to` (E.164). A provider that keeps messages itself records them in
    /// `tx`, the caller's transaction (kept exactly when the caller's work is); one that
    /// calls out over the network ([`SmsProvider::remote`]) does not use it, and callers
    /// that can send outside any transaction pass `None`.
    async fn send(&self, tx: Option<&mut Tx>, to: &str, body: &str, event_id: &str) -> Result<(), HandlerError>;

    /// Whether sending is a network call (then no transaction should be held open for it).
    fn remote(&self) -> bool {
        false
    }

    /// Sends each of `messages` (as [`SmsProvider::send`]); a provider may send them together.
    async fn send_many(&self, mut tx: Option<&mut Tx>, messages: &[Sms<'_>]) -> Result<(), HandlerError> {
        for message in messages {
            self.send(tx.as_deref_mut(), message.to, message.body, message.event_id)
                .await?;
        }
        Ok(())
    }
}

/// One message for [`SmsProvider::send_many`].
#[derive(Clone, Copy, Debug)]
pub struct Sms<'a> {
    pub to: &'a str,
    pub body: &'a str,
    pub event_id: &'a str,
}

/// Messages one insert of the embedded outbox writes (five parameters each).
const OUTBOX_ROWS_PER_STATEMENT: usize = 100;

/// The provider `[population.sms]` configures.
pub fn provider(config: &crate::config::SmsConfig) -> Arc<dyn SmsProvider> {
    match config.provider {
        crate::config::SmsProviderKind::Outbox => Arc::new(OutboxSms),
        crate::config::SmsProviderKind::Twilio => {
            let twilio = TwilioSms::new(
                config.twilio_base_url.as_deref().unwrap_or_default(),
                config.twilio_account_sid.as_deref().unwrap_or_default(),
                config
                    .twilio_auth_token
                    .as_ref()
                    .map(|t| t.expose().as_str())
                    .unwrap_or_default(),
                config.twilio_from.as_deref().unwrap_or_default(),
            );
            match twilio {
                Ok(twilio) => Arc::new(twilio),
                Err(error) => {
                    tracing::error!(%error, "cannot set up the SMS provider; keeping messages in the outbox");
                    Arc::new(OutboxSms)
                }
            }
        }
    }
}

/// The embedded provider: keeps messages in `population_sms_outbox`.
pub struct OutboxSms;

#[async_trait::async_trait]
impl SmsProvider for OutboxSms {
    async fn send(&self, tx: Option<&mut Tx>, to: &str, body: &str, event_id: &str) -> Result<(), HandlerError> {
        let tx = tx.ok_or("the embedded SMS outbox records messages in the caller's transaction")?;
        sqlx::query("INSERT INTO population_sms_outbox (id, to_phone, body, event_id, created_at_ms) VALUES ($1, $2, $3, $4, $5)")
            .bind(uuid::Uuid::now_v7().hyphenated().to_string())
            .bind(to)
            .bind(body)
            .bind(event_id)
            .bind(warga_core::time::now_ms())
            .execute(tx.conn())
            .await?;
        Ok(())
    }

    async fn send_many(&self, tx: Option<&mut Tx>, messages: &[Sms<'_>]) -> Result<(), HandlerError> {
        let tx = tx.ok_or("the embedded SMS outbox records messages in the caller's transaction")?;
        let now = warga_core::time::now_ms();
        for chunk in messages.chunks(OUTBOX_ROWS_PER_STATEMENT) {
            let values = (0..chunk.len())
                .map(|i| {
                    let p = 4 * i;
                    format!("(${}, ${}, ${}, ${}, $1)", p + 2, p + 3, p + 4, p + 5)
                })
                .collect::<Vec<_>>()
                .join(", ");
            let sql = format!(
                "INSERT INTO population_sms_outbox (id, to_phone, body, event_id, created_at_ms) VALUES {values}"
            );
            let mut query = sqlx::query(&sql).bind(now);
            for message in chunk {
                query = query
                    .bind(uuid::Uuid::now_v7().hyphenated().to_string())
                    .bind(message.to)
                    .bind(message.body)
                    .bind(message.event_id);
            }
            query.execute(tx.conn()).await?;
        }
        Ok(())
    }
}

/// A Twilio-compatible HTTP API: `POST {base}/2010-04-01/Accounts/{sid}/Messages.json`.
pub struct TwilioSms {
    client: reqwest::Client,
    base_url: String,
    account_sid: String,
    auth_token: String,
    from: String,
}

impl TwilioSms {
    pub fn new(base_url: &str, account_sid: &str, auth_token: &str, from: &str) -> Result<TwilioSms, String> {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| e.to_string())?;
        Ok(TwilioSms {
            client,
            base_url: base_url.trim_end_matches('/').to_owned(),
            account_sid: account_sid.to_owned(),
            auth_token: auth_token.to_owned(),
            from: from.to_owned(),
        })
    }
}

#[async_trait::async_trait]
impl SmsProvider for TwilioSms {
    fn remote(&self) -> bool {
        true
    }

    async fn send(&self, _: Option<&mut Tx>, to: &str, body: &str, _: &str) -> Result<(), HandlerError> {
        let url = format!(
            "{}/2010-04-01/Accounts/{}/Messages.json",
            self.base_url, self.account_sid
        );
        let response = self
            .client
            .post(url)
            .basic_auth(&self.account_sid, Some(&self.auth_token))
            .form(&[("To", to), ("From", self.from.as_str()), ("Body", body)])
            .send()
            .await?;
        let status = response.status();
        if status.is_success() {
            return Ok(());
        }
        Err(format!("the SMS provider answered {status}").into())
    }
}

/// Tells the registry desks of a regency about each new registration.
pub struct RegistrationNotifier {
    provider: Arc<dyn SmsProvider>,
}

impl RegistrationNotifier {
    pub fn new(provider: Arc<dyn SmsProvider>) -> Self {
        Self { provider }
    }
}

#[async_trait::async_trait]
impl warga_bus::Handler for RegistrationNotifier {
    fn name(&self) -> &'static str {
        "population-officer-notifier"
    }
    fn topics(&self) -> &'static [&'static str] {
        &[ResidentRegistered::TOPIC]
    }
    async fn handle(&self, tx: &mut Tx, event: &Envelope) -> Result<(), HandlerError> {
        self.handle_batch(tx, &[event]).await
    }

    /// A lease's messages: the desks of every regency in it read at once, the messages sent
    /// together (the embedded outbox writes them in one statement).
    async fn handle_batch(&self, tx: &mut Tx, events: &[&Envelope]) -> Result<(), HandlerError> {
        let registered = events
            .iter()
            .map(|event| event.decode::<ResidentRegistered>())
            .collect::<Result<Vec<_>, _>>()?;
        let regencies: std::collections::BTreeSet<&str> = registered.iter().map(|r| r.regency.as_str()).collect();
        let sql = format!(
            "SELECT regency, phone FROM population_notify_desks WHERE regency IN ({}) ORDER BY regency, phone",
            (1..=regencies.len())
                .map(|n| format!("${n}"))
                .collect::<Vec<_>>()
                .join(", ")
        );
        let mut query = sqlx::query(&sql);
        for regency in &regencies {
            query = query.bind(*regency);
        }
        let mut desks: std::collections::BTreeMap<String, Vec<String>> = Default::default();
        for row in query.fetch_all(tx.conn()).await? {
            desks.entry(row.get(0)).or_default().push(row.get(1));
        }
        // No name or NIK in an SMS: the officer opens the record in warga by its reference,
        // the resident's id (unique to this registration).
        let bodies: Vec<String> = registered
            .iter()
            .map(|r| {
                let district = REGIONS.district(&r.district).unwrap_or("?");
                format!(
                    "warga: penduduk baru terdaftar di Kec. {district}. Ref {}",
                    r.resident_id
                )
            })
            .collect();
        let mut messages = Vec::new();
        for ((r, body), event) in registered.iter().zip(&bodies).zip(events) {
            for phone in desks.get(&r.regency).into_iter().flatten() {
                messages.push(Sms {
                    to: phone,
                    body,
                    event_id: event.id.as_str(),
                });
            }
        }
        self.provider.send_many(Some(tx), &messages).await
    }
}

/// Adds a registry desk to notify for a regency.
pub async fn add_desk(tx: &mut Tx, regency: &str, phone: &str, label: &str) -> Result<(), PopulationError> {
    if REGIONS.regency(regency).is_none() {
        return Err(
            PopulationError::invalid("regency", format!("no regency or city {regency}"))
                .id(format!("tidak ada kabupaten/kota {regency}")),
        );
    }
    let phone_ok =
        phone.starts_with("+62") && (10..=16).contains(&phone.len()) && phone[1..].bytes().all(|b| b.is_ascii_digit());
    if !phone_ok {
        return Err(
            PopulationError::invalid("phone", "must be an Indonesian number in E.164, e.g. +6281234567890")
                .id("harus nomor Indonesia dalam format E.164, misalnya +6281234567890"),
        );
    }
    sqlx::query("INSERT INTO population_notify_desks (regency, phone, label, created_at_ms) VALUES ($1, $2, $3, $4)")
        .bind(regency)
        .bind(phone)
        .bind(label.trim())
        .bind(warga_core::time::now_ms())
        .execute(tx.conn())
        .await
        .map_err(|e| match warga_store::StoreError::from(e) {
            warga_store::StoreError::Conflict { .. } => {
                PopulationError::conflict("this desk is already notified", "meja ini sudah menerima pemberitahuan")
            }
            other => other.into(),
        })?;
    Ok(())
}

/// Adds a desk with its audit record, in one transaction.
pub async fn add_desk_audited(
    platform: &warga_http::Platform,
    actor: &str,
    regency: &str,
    phone: &str,
    label: &str,
) -> Result<(), PopulationError> {
    let mut tx = platform.store.begin().await?;
    add_desk(&mut tx, regency, phone, label).await?;
    audit_desk(&mut tx, actor, "population.notify_desk.add", regency).await?;
    tx.commit().await?;
    Ok(())
}

/// Removes a desk with its audit record, in one transaction.
pub async fn remove_desk_audited(
    platform: &warga_http::Platform,
    actor: &str,
    regency: &str,
    phone: &str,
) -> Result<(), PopulationError> {
    let mut tx = platform.store.begin().await?;
    remove_desk(&mut tx, regency, phone).await?;
    audit_desk(&mut tx, actor, "population.notify_desk.remove", regency).await?;
    tx.commit().await?;
    Ok(())
}

async fn audit_desk(tx: &mut Tx, actor: &str, action: &str, regency: &str) -> Result<(), PopulationError> {
    tx.audit(&warga_store::audit::AuditRecord {
        actor,
        action,
        target: &format!("regency:{regency}"),
        outcome: warga_store::audit::Outcome::Success,
        details: None,
    })
    .await?;
    Ok(())
}

/// The demo's registry desks: one for each city of Jakarta (`warga up --demo`).
pub async fn seed_demo_desks(platform: &warga_http::Platform) -> Result<(), PopulationError> {
    for (i, regency) in ["3171", "3172", "3173", "3174", "3175"].iter().enumerate() {
        let phone = format!("+62811000010{i}");
        let label = format!("Meja Dukcapil {}", REGIONS.regency(regency).unwrap_or(regency));
        match add_desk_audited(platform, "system:demo", regency, &phone, &label).await {
            Ok(()) | Err(PopulationError::Conflict(_)) => {}
            Err(other) => return Err(other),
        }
    }
    Ok(())
}

/// A registry desk told of new registrations in a regency.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct Desk {
    pub regency: String,
    pub regency_name: String,
    pub phone: String,
    pub label: String,
    pub created_at_ms: i64,
}

/// Every registry desk, by regency and phone.
pub async fn desks(store: &warga_store::Store) -> Result<Vec<Desk>, warga_store::StoreError> {
    let rows =
        sqlx::query("SELECT regency, phone, label, created_at_ms FROM population_notify_desks ORDER BY regency, phone")
            .fetch_all(store.reader())
            .await?;
    Ok(rows
        .iter()
        .map(|r| {
            let regency: String = r.get(0);
            Desk {
                regency_name: REGIONS.regency(&regency).unwrap_or_default().to_owned(),
                regency,
                phone: r.get(1),
                label: r.get(2),
                created_at_ms: r.get(3),
            }
        })
        .collect())
}

/// Stops notifying a desk. Not found when there is no such desk.
pub async fn remove_desk(tx: &mut Tx, regency: &str, phone: &str) -> Result<(), PopulationError> {
    let removed = sqlx::query("DELETE FROM population_notify_desks WHERE regency = $1 AND phone = $2")
        .bind(regency)
        .bind(phone)
        .execute(tx.conn())
        .await
        .map_err(warga_store::StoreError::from)?
        .rows_affected();
    if removed == 0 {
        return Err(PopulationError::not_found(
            format!("no desk {phone} for {regency}"),
            format!("tidak ada meja {phone} untuk {regency}"),
        ));
    }
    Ok(())
}

/// Who reads the outbox: administrators see every message; registry officers only those to
/// registry desks (a reporter's update or a password reset code is not theirs to read).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OutboxReader {
    Everything,
    DesksOnly,
}

/// A page of the embedded provider's messages, newest first; `next` is the cursor (`before`)
/// of the following page, if there may be one.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct OutboxPage {
    pub messages: Vec<OutboxMessage>,
    pub next: Option<String>,
}

/// Messages older than `before` (a message id; ids grow with time), at most `limit`.
pub async fn outbox(
    store: &warga_store::Store,
    reader: OutboxReader,
    before: Option<&str>,
    limit: i64,
) -> Result<OutboxPage, warga_store::StoreError> {
    let limit = limit.clamp(1, 200);
    let desks_only = if reader == OutboxReader::DesksOnly {
        " AND to_phone IN (SELECT phone FROM population_notify_desks)"
    } else {
        ""
    };
    let rows = sqlx::query(&format!(
        "SELECT id, to_phone, body, created_at_ms FROM population_sms_outbox WHERE id < $1{desks_only} \
         ORDER BY id DESC LIMIT $2"
    ))
    .bind(before.unwrap_or("~"))
    .bind(limit + 1)
    .fetch_all(store.reader())
    .await?;
    let mut messages: Vec<OutboxMessage> = rows
        .iter()
        .map(|r| OutboxMessage {
            id: r.get(0),
            to: r.get(1),
            body: r.get(2),
            created_at_ms: r.get(3),
        })
        .collect();
    let next = if messages.len() as i64 > limit {
        messages.truncate(limit as usize);
        messages.last().map(|m| m.id.clone())
    } else {
        None
    };
    Ok(OutboxPage { messages, next })
}

/// A message kept by the embedded SMS provider.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct OutboxMessage {
    pub id: String,
    pub to: String,
    pub body: String,
    pub created_at_ms: i64,
}
