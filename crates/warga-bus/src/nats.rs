//! The NATS JetStream backend.
//!
//! Streams: `<PREFIX>_EVENTS` holds `<prefix>.events.<topic>`, `<PREFIX>_DLQ` holds
//! `<prefix>.dlq.<consumer>`. The relay publishes each outbox row with its event id as
//! `Nats-Msg-Id` and marks it published only after JetStream acknowledged it. Each
//! (consumer, topic) pair is a durable pull consumer with explicit acks; a message is
//! acknowledged only after the handler's transaction committed. A failed attempt is
//! negatively acknowledged with a backoff delay; at `bus.max_attempts` deliveries the
//! message is copied to the dead-letter stream and terminated. Replay republishes a dead
//! letter with a `Warga-Replay-For` header naming the consumer, which the other consumers
//! of that topic acknowledge without handling.

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_nats::jetstream::{self, AckKind, consumer::PullConsumer, message::PublishMessage};
use futures::StreamExt;
use tokio_util::sync::CancellationToken;
use warga_config::BusConfig;
use warga_core::Envelope;
use warga_store::Store;

use crate::consume::{Finish, error_summary, process, process_batch};
use crate::relay::{OutboxRow, Publisher, mark_published};
use crate::{BusError, DeadLetter, Handler, Outcome, ReplayFilter, metrics};

const HEADER_CONSUMER: &str = "Warga-Consumer";
const HEADER_TOPIC: &str = "Warga-Topic";
const HEADER_ERROR: &str = "Warga-Error";
const HEADER_ATTEMPTS: &str = "Warga-Attempts";
const HEADER_DEAD_AT: &str = "Warga-Dead-At-Ms";
const HEADER_REPLAY_FOR: &str = "Warga-Replay-For";
const PUBLISH_ACK_TIMEOUT: Duration = Duration::from_secs(5);
const FETCH_BATCH: usize = 32;
const FETCH_EXPIRES: Duration = Duration::from_secs(1);
const LAG_INTERVAL: Duration = Duration::from_secs(5);
/// JetStream drops a second message with the same `Nats-Msg-Id` within this window.
const DUPLICATE_WINDOW: Duration = Duration::from_secs(120);

fn nats_error(context: &str, error: impl std::fmt::Display) -> BusError {
    BusError::Nats(format!("{context}: {error}"))
}

pub(crate) struct Nats {
    client: async_nats::Client,
    js: jetstream::Context,
    prefix: String,
    events_stream: String,
    dlq_stream: String,
    config: BusConfig,
}

impl Nats {
    pub(crate) async fn connect(url: &str, config: &BusConfig) -> Result<Nats, BusError> {
        let client = async_nats::ConnectOptions::new()
            .connection_timeout(Duration::from_secs(5))
            .name("warga")
            .connect(url)
            .await
            .map_err(|e| nats_error("cannot connect", e))?;
        let js = jetstream::new(client.clone());
        let prefix = config.nats_prefix.clone();
        let upper = prefix.to_ascii_uppercase().replace('-', "_");
        let nats = Nats {
            client,
            js,
            events_stream: format!("{upper}_EVENTS"),
            dlq_stream: format!("{upper}_DLQ"),
            prefix,
            config: config.clone(),
        };
        // The JetStream API can time out on a busy server; creating streams is idempotent.
        let mut attempt = 1;
        loop {
            match nats.ensure_streams().await {
                Ok(()) => break,
                Err(error) if attempt < 3 => {
                    tracing::warn!(%error, attempt, "creating the JetStream streams failed; retrying");
                    tokio::time::sleep(Duration::from_millis(500 * attempt)).await;
                    attempt += 1;
                }
                Err(error) => return Err(error),
            }
        }
        Ok(nats)
    }

    async fn ensure_streams(&self) -> Result<(), BusError> {
        let max_age = Duration::from_secs(self.config.retention_hours * 3_600);
        for (name, subject) in [
            (&self.events_stream, format!("{}.events.>", self.prefix)),
            (&self.dlq_stream, format!("{}.dlq.>", self.prefix)),
        ] {
            self.js
                .get_or_create_stream(jetstream::stream::Config {
                    name: name.clone(),
                    subjects: vec![subject],
                    max_age,
                    duplicate_window: DUPLICATE_WINDOW,
                    storage: jetstream::stream::StorageType::File,
                    num_replicas: self.config.nats_replicas,
                    ..Default::default()
                })
                .await
                .map_err(|e| nats_error("cannot create stream", e))?;
        }
        Ok(())
    }

    pub(crate) async fn ping(&self) -> Result<(), BusError> {
        match self.client.connection_state() {
            async_nats::connection::State::Connected => Ok(()),
            state => Err(BusError::Nats(format!("not connected ({state})"))),
        }
    }

    pub(crate) fn publisher(&self) -> NatsPublisher {
        NatsPublisher {
            js: self.js.clone(),
            prefix: self.prefix.clone(),
        }
    }

    /// Messages of `handler`'s durable consumers not yet acknowledged: pending delivery or
    /// delivered and in hand.
    pub(crate) async fn pending(&self, handler: &dyn Handler) -> Result<u64, BusError> {
        let stream = self
            .js
            .get_stream(&self.events_stream)
            .await
            .map_err(|e| nats_error("no event stream", e))?;
        let mut total = 0;
        for topic in handler.topics() {
            let mut consumer: PullConsumer = stream
                .get_consumer(&durable_name(handler.name(), topic))
                .await
                .map_err(|e| nats_error("no such consumer", e))?;
            let info = consumer.info().await.map_err(|e| nats_error("consumer info", e))?;
            total += info.num_pending + info.num_ack_pending as u64;
        }
        Ok(total)
    }

    pub(crate) async fn worker(
        &self,
        store: Store,
        handler: Arc<dyn Handler>,
        topic: &'static str,
    ) -> Result<NatsWorker, BusError> {
        let durable = durable_name(handler.name(), topic);
        let stream = self
            .js
            .get_stream(&self.events_stream)
            .await
            .map_err(|e| nats_error("no event stream", e))?;
        let consumer: PullConsumer = stream
            .get_or_create_consumer(
                &durable,
                jetstream::consumer::pull::Config {
                    durable_name: Some(durable.clone()),
                    filter_subject: format!("{}.events.{topic}", self.prefix),
                    ack_policy: jetstream::consumer::AckPolicy::Explicit,
                    ack_wait: Duration::from_millis(self.config.lease_ms),
                    max_deliver: -1,
                    deliver_policy: jetstream::consumer::DeliverPolicy::All,
                    max_ack_pending: 1024,
                    ..Default::default()
                },
            )
            .await
            .map_err(|e| nats_error("cannot create consumer", e))?;
        Ok(NatsWorker {
            store,
            handler,
            consumer,
            durable,
            js: self.js.clone(),
            prefix: self.prefix.clone(),
            config: self.config.clone(),
        })
    }

    /// Walks the dead-letter stream from its first message, calling `visit` for each.
    async fn scan_dead_letters(
        &self,
        limit: usize,
        mut visit: impl AsyncFnMut(u64, DeadLetter, Envelope) -> Result<(), BusError>,
    ) -> Result<usize, BusError> {
        let mut stream = self
            .js
            .get_stream(&self.dlq_stream)
            .await
            .map_err(|e| nats_error("no dead-letter stream", e))?;
        let state = stream
            .info()
            .await
            .map_err(|e| nats_error("dead-letter stream info", e))?
            .state
            .clone();
        let mut seen = 0;
        if state.messages == 0 {
            return Ok(0);
        }
        for sequence in state.first_sequence..=state.last_sequence {
            if seen >= limit {
                break;
            }
            let Ok(message) = stream.get_raw_message(sequence).await else {
                continue;
            };
            let header = |name: &str| {
                message
                    .headers
                    .get(name)
                    .map(|v| v.as_str().to_owned())
                    .unwrap_or_default()
            };
            let envelope: Envelope = match serde_json::from_slice(&message.payload) {
                Ok(envelope) => envelope,
                Err(e) => {
                    tracing::warn!(sequence, error = %e, "dead letter is not an event envelope");
                    continue;
                }
            };
            let letter = DeadLetter {
                consumer: header(HEADER_CONSUMER),
                event_id: envelope.id.to_string(),
                topic: envelope.topic.clone(),
                attempts: header(HEADER_ATTEMPTS).parse().unwrap_or(0),
                last_error: header(HEADER_ERROR),
                dead_at_ms: header(HEADER_DEAD_AT).parse().unwrap_or(0),
            };
            seen += 1;
            visit(sequence, letter, envelope).await?;
        }
        Ok(seen)
    }

    pub(crate) async fn dead_letters(&self, limit: usize) -> Result<Vec<DeadLetter>, BusError> {
        let mut letters = Vec::new();
        self.scan_dead_letters(limit, async |_, letter, _| {
            letters.push(letter);
            Ok(())
        })
        .await?;
        Ok(letters)
    }

    pub(crate) async fn replay(&self, filter: &ReplayFilter) -> Result<usize, BusError> {
        let stream = self
            .js
            .get_stream(&self.dlq_stream)
            .await
            .map_err(|e| nats_error("no dead-letter stream", e))?;
        let mut replayed = 0;
        self.scan_dead_letters(usize::MAX, async |sequence, letter, envelope| {
            if !filter.matches(&letter.consumer, &letter.event_id) {
                return Ok(());
            }
            let body =
                serde_json::to_vec(&envelope).map_err(|e| BusError::Corrupt(letter.event_id.clone(), e.to_string()))?;
            let ack = self
                .js
                .send_publish(
                    format!("{}.events.{}", self.prefix, envelope.topic),
                    PublishMessage::build()
                        .payload(body.into())
                        .message_id(format!("{}:replay:{sequence}", envelope.id))
                        .header(HEADER_REPLAY_FOR, letter.consumer.as_str()),
                )
                .await
                .map_err(|e| nats_error("replay publish", e))?;
            ack.await.map_err(|e| nats_error("replay publish ack", e))?;
            stream
                .delete_message(sequence)
                .await
                .map_err(|e| nats_error("remove replayed dead letter", e))?;
            replayed += 1;
            Ok(())
        })
        .await?;
        Ok(replayed)
    }
}

pub(crate) struct NatsPublisher {
    js: jetstream::Context,
    prefix: String,
}

#[async_trait::async_trait]
impl Publisher for NatsPublisher {
    async fn publish(&self, store: &Store, batch: &[OutboxRow]) -> Result<usize, BusError> {
        let mut pending = Vec::with_capacity(batch.len());
        let mut first_error = None;
        for row in batch {
            let envelope = &row.envelope;
            let body =
                serde_json::to_vec(envelope).map_err(|e| BusError::Corrupt(envelope.id.to_string(), e.to_string()))?;
            let sent = self
                .js
                .send_publish(
                    format!("{}.events.{}", self.prefix, envelope.topic),
                    PublishMessage::build()
                        .payload(body.into())
                        .message_id(envelope.id.as_str()),
                )
                .await;
            match sent {
                Ok(ack) => pending.push((envelope.id.as_str(), ack)),
                Err(error) => {
                    first_error = Some(nats_error("publish", error));
                    break;
                }
            }
        }
        let acks = futures::future::join_all(
            pending
                .into_iter()
                .map(|(id, ack)| async move { (id, tokio::time::timeout(PUBLISH_ACK_TIMEOUT, ack).await) }),
        )
        .await;
        let mut acked = Vec::with_capacity(acks.len());
        for (id, result) in acks {
            match result {
                Ok(Ok(_)) => acked.push(id),
                Ok(Err(error)) => {
                    first_error.get_or_insert_with(|| nats_error("publish ack", error));
                }
                Err(_) => {
                    first_error.get_or_insert_with(|| BusError::Nats("publish ack timed out".into()));
                }
            }
        }
        if !acked.is_empty() {
            let mut tx = store.begin().await?;
            mark_published(&mut tx, &acked).await?;
            tx.commit().await?;
        }
        match first_error {
            Some(error) if acked.is_empty() => Err(error),
            Some(error) => {
                tracing::warn!(%error, published = acked.len(), "part of a relay batch was not acknowledged");
                Ok(acked.len())
            }
            None => Ok(acked.len()),
        }
    }
}

/// The durable consumer of one (consumer, topic) pair.
fn durable_name(consumer: &str, topic: &str) -> String {
    format!("{consumer}-{}", topic.replace('.', "_"))
}

pub(crate) struct NatsWorker {
    store: Store,
    handler: Arc<dyn Handler>,
    consumer: PullConsumer,
    durable: String,
    js: jetstream::Context,
    prefix: String,
    config: BusConfig,
}

impl NatsWorker {
    pub(crate) async fn run(mut self, shutdown: CancellationToken) {
        let mut last_lag = Instant::now() - LAG_INTERVAL;
        while !shutdown.is_cancelled() {
            if last_lag.elapsed() >= LAG_INTERVAL {
                last_lag = Instant::now();
                if let Ok(info) = self.consumer.info().await {
                    let lag = info.num_pending as i64 + info.num_ack_pending as i64;
                    metrics::CONSUMER_LAG.with_label_values(&[&self.durable]).set(lag);
                }
            }
            let fetched = tokio::select! {
                _ = shutdown.cancelled() => break,
                fetched = self.consumer.fetch().max_messages(FETCH_BATCH).expires(FETCH_EXPIRES).messages() => fetched,
            };
            let mut messages = match fetched {
                Ok(messages) => messages,
                Err(error) => {
                    tracing::warn!(consumer = %self.durable, %error, "cannot fetch from nats");
                    tokio::select! {
                        _ = shutdown.cancelled() => break,
                        _ = tokio::time::sleep(Duration::from_secs(1)) => continue,
                    }
                }
            };
            let mut batch = Vec::new();
            while let Some(message) = messages.next().await {
                let Ok(message) = message else { break };
                if shutdown.is_cancelled() {
                    // Hand the message back for another worker or the next start.
                    let _ = message.ack_with(AckKind::Nak(None)).await;
                    continue;
                }
                batch.push(message);
            }
            self.deliver_all(batch).await;
        }
        tracing::debug!(consumer = %self.durable, "nats consumer stopped");
    }

    /// A fetch's events for this consumer in one transaction, then acknowledged; if that
    /// fails (or for a message that is no event of ours), each on its own — retries and dead
    /// letters are per message.
    async fn deliver_all(&self, messages: Vec<jetstream::Message>) {
        let consumer = self.handler.name();
        let mut together = Vec::with_capacity(messages.len());
        let mut envelopes = Vec::with_capacity(messages.len());
        let mut alone = Vec::new();
        for message in messages {
            let replay_for = message
                .headers
                .as_ref()
                .and_then(|h| h.get(HEADER_REPLAY_FOR))
                .map(|v| v.as_str().to_owned());
            match serde_json::from_slice::<Envelope>(&message.payload) {
                Ok(envelope) if replay_for.is_none_or(|target| target == consumer) => {
                    envelopes.push(envelope);
                    together.push(message);
                }
                _ => alone.push(message),
            }
        }
        if envelopes.len() > 1 {
            match process_batch(&self.store, self.handler.as_ref(), &envelopes, Finish::Nothing).await {
                Ok(()) => {
                    for message in together.drain(..) {
                        if let Err(error) = message.ack().await {
                            // The effect is committed; a redelivery is skipped as a duplicate.
                            tracing::warn!(consumer, %error, "ack failed");
                        }
                    }
                }
                Err(error) => {
                    tracing::debug!(consumer, %error, "batch failed; delivering one by one");
                }
            }
        }
        for message in together.into_iter().chain(alone) {
            self.deliver(message).await;
        }
    }

    async fn deliver(&self, message: jetstream::Message) {
        let consumer = self.handler.name();
        let envelope: Envelope = match serde_json::from_slice(&message.payload) {
            Ok(envelope) => envelope,
            Err(error) => {
                tracing::error!(consumer, %error, "message is not an event envelope; dead-lettering it");
                self.dead_letter(&message, None, &format!("not an event envelope: {error}"), 1)
                    .await;
                return;
            }
        };
        let replay_for = message
            .headers
            .as_ref()
            .and_then(|h| h.get(HEADER_REPLAY_FOR))
            .map(|v| v.as_str().to_owned());
        if replay_for.as_deref().is_some_and(|target| target != consumer) {
            let _ = message.ack().await;
            return;
        }
        match process(&self.store, self.handler.as_ref(), &envelope, Finish::Nothing).await {
            Outcome::Processed | Outcome::Duplicate => {
                if let Err(error) = message.ack().await {
                    // The effect is committed; a redelivery will be skipped as a duplicate.
                    tracing::warn!(consumer, %error, "ack failed");
                }
            }
            Outcome::Failed(error) => {
                let delivered = message.info().map(|info| info.delivered).unwrap_or(1).max(1) as u32;
                if delivered >= self.config.max_attempts {
                    self.dead_letter(&message, Some(&envelope), &error, delivered).await;
                } else {
                    let delay = crate::backoff(&self.config, delivered);
                    let _ = message.ack_with(AckKind::Nak(Some(delay))).await;
                }
            }
        }
    }

    async fn dead_letter(&self, message: &jetstream::Message, envelope: Option<&Envelope>, error: &str, attempts: u32) {
        let consumer = self.handler.name();
        let sequence = message.info().map(|info| info.stream_sequence).unwrap_or(0);
        let id = envelope
            .map(|e| e.id.to_string())
            .unwrap_or_else(|| format!("seq{sequence}"));
        let mut publish = PublishMessage::build()
            .payload(message.payload.clone())
            .message_id(format!("{consumer}:{id}:{sequence}"))
            .header(HEADER_CONSUMER, consumer)
            .header(HEADER_ERROR, error_summary(error).as_str())
            .header(HEADER_ATTEMPTS, attempts.to_string().as_str())
            .header(HEADER_DEAD_AT, warga_core::time::now_ms().to_string().as_str());
        if let Some(envelope) = envelope {
            publish = publish.header(HEADER_TOPIC, envelope.topic.as_str());
        }
        let stored = match self
            .js
            .send_publish(format!("{}.dlq.{consumer}", self.prefix), publish)
            .await
        {
            Ok(ack) => ack.await.map(|_| ()).map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        };
        match stored {
            Ok(()) => {
                metrics::CONSUMER_DEAD_LETTERED.with_label_values(&[consumer]).inc();
                tracing::error!(consumer, event_id = %id, attempts, "event dead-lettered");
                let _ = message.ack_with(AckKind::Term).await;
            }
            Err(e) => {
                // Keep the message: it is redelivered and dead-lettered on a later attempt.
                tracing::warn!(consumer, error = %e, "cannot write dead letter; will retry");
                let _ = message
                    .ack_with(AckKind::Nak(Some(crate::backoff(&self.config, attempts))))
                    .await;
            }
        }
    }
}
