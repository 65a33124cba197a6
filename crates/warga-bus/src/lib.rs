//! Events without loss.
//!
//! A service appends events to the outbox in the same transaction as its change
//! (`warga_store::Tx::append_event`). From there:
//!
//! 1. the **relay** ([`relay`]) takes unpublished outbox rows in order and hands them to
//!    the bus backend, marking them published only once the backend has them durably;
//! 2. the **backend** carries them: in-process (the database is the queue: one delivery row
//!    per consumer and event) or NATS JetStream (a stream, with the event id as
//!    `Nats-Msg-Id` so a re-published row is dropped as a duplicate);
//! 3. **consumers** ([`Handler`]) run each event in a database transaction that also
//!    records `(consumer, event_id)` in `processed_events`, so an event delivered twice has
//!    its effect once; failures retry with exponential backoff and jitter, and after
//!    `bus.max_attempts` the event becomes a dead letter, listable and replayable
//!    ([`Bus::dead_letters`], [`Bus::replay`]).
//!
//! Delivery is at least once and unordered under retries; effects are exactly once.
//! Invariant: nothing acknowledges an event before the effect it caused has committed.

#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

mod consume;
mod inprocess;
mod metrics;
mod nats;
pub mod relay;

use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use warga_config::{BusBackend, BusConfig};
use warga_core::Envelope;
use warga_store::{Store, StoreError, Tx};

pub use consume::Outcome;
pub use relay::Publisher;

/// What a handler returns when it cannot apply an event now; the event is retried.
pub type HandlerError = Box<dyn std::error::Error + Send + Sync>;

/// Rows written or named by one statement of the bus's bookkeeping: a batch costs a few
/// statements, not a few per event (each statement is a round trip to the database).
pub(crate) const STATEMENT_ROWS: usize = 200;

/// `$first, $first+1, …`: `count` numbered placeholders.
pub(crate) fn placeholders(first: usize, count: usize) -> String {
    (first..first + count)
        .map(|n| format!("${n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A durable, idempotent consumer of events.
#[async_trait::async_trait]
pub trait Handler: Send + Sync + 'static {
    /// Durable name: lowercase letters, digits, `-` and `_`. Renaming a consumer makes it a
    /// new one that starts without history.
    fn name(&self) -> &'static str;
    /// Topics this consumer receives.
    fn topics(&self) -> &'static [&'static str];
    /// Applies one event inside `tx`. Everything written through `tx` commits together with
    /// the record that the event was processed, or not at all.
    async fn handle(&self, tx: &mut Tx, event: &Envelope) -> Result<(), HandlerError>;

    /// Applies several events in order inside `tx` (a lease handled in one transaction;
    /// none of them processed before). The default applies each with [`Handler::handle`],
    /// in a span of its own continuing its trace; a handler may write them together instead
    /// (one multi-row statement for the batch), under the batch's span.
    async fn handle_batch(&self, tx: &mut Tx, events: &[&Envelope]) -> Result<(), HandlerError> {
        use tracing::Instrument as _;
        for event in events {
            let span = consume::consume_span(self.name(), event, events.len());
            self.handle(tx, event).instrument(span).await?;
        }
        Ok(())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum BusError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("nats: {0}")]
    Nats(String),
    #[error("consumer name {0:?} must be lowercase letters, digits, '-' or '_'")]
    BadConsumerName(String),
    #[error("consumer {consumer}: {error}")]
    BadTopic {
        consumer: String,
        error: warga_core::TopicError,
    },
    #[error("event {0} is not valid JSON: {1}")]
    Corrupt(String, String),
}

/// An event a consumer gave up on.
#[derive(Clone, Debug, serde::Serialize)]
pub struct DeadLetter {
    pub consumer: String,
    pub event_id: String,
    pub topic: String,
    pub attempts: u32,
    pub last_error: String,
    pub dead_at_ms: i64,
}

/// Which dead letters to replay; `None` matches all.
#[derive(Clone, Debug, Default)]
pub struct ReplayFilter {
    pub consumer: Option<String>,
    pub event_id: Option<String>,
}

impl ReplayFilter {
    fn matches(&self, consumer: &str, event_id: &str) -> bool {
        self.consumer.as_deref().is_none_or(|c| c == consumer) && self.event_id.as_deref().is_none_or(|e| e == event_id)
    }
}

/// The event bus of one process; cheap to clone.
#[derive(Clone)]
pub struct Bus {
    inner: Arc<Inner>,
}

struct Inner {
    config: BusConfig,
    store: Store,
    backend: Backend,
}

enum Backend {
    InProcess,
    Nats(Box<nats::Nats>),
}

impl Bus {
    /// Connects the configured backend. For NATS this also makes sure the event and
    /// dead-letter streams exist.
    pub async fn connect(config: &BusConfig, store: Store) -> Result<Bus, BusError> {
        let backend = match config.backend {
            BusBackend::InProcess => Backend::InProcess,
            BusBackend::Nats => {
                let url = config
                    .nats_url
                    .as_ref()
                    .ok_or_else(|| BusError::Nats("bus.nats_url is not set".into()))?;
                Backend::Nats(Box::new(nats::Nats::connect(url.expose(), config).await?))
            }
        };
        Ok(Bus {
            inner: Arc::new(Inner {
                config: config.clone(),
                store,
                backend,
            }),
        })
    }

    pub fn backend_name(&self) -> &'static str {
        match self.inner.backend {
            Backend::InProcess => "in_process",
            Backend::Nats(_) => "nats",
        }
    }

    pub fn store(&self) -> &Store {
        &self.inner.store
    }

    pub fn config(&self) -> &BusConfig {
        &self.inner.config
    }

    /// Whether the broker can be reached; for `/readyz`.
    pub async fn ping(&self) -> Result<(), BusError> {
        match &self.inner.backend {
            Backend::InProcess => Ok(()),
            Backend::Nats(nats) => nats.ping().await,
        }
    }

    /// The publisher the relay hands outbox rows to.
    pub fn publisher(&self) -> Arc<dyn Publisher> {
        match &self.inner.backend {
            Backend::InProcess => Arc::new(inprocess::FanOut),
            Backend::Nats(nats) => Arc::new(nats.publisher()),
        }
    }

    /// Starts the relay and one worker per handler. They stop when `shutdown` is cancelled:
    /// an event being handled finishes (or rolls back), events fetched but not started are
    /// handed back to the queue.
    pub async fn start_workers(
        &self,
        handlers: Vec<Arc<dyn Handler>>,
        shutdown: CancellationToken,
    ) -> Result<Workers, BusError> {
        self.start_workers_with(self.publisher(), handlers, shutdown).await
    }

    /// As [`Bus::start_workers`], with the relay publishing through `publisher` (tests use
    /// this to make the broker fail).
    pub async fn start_workers_with(
        &self,
        publisher: Arc<dyn Publisher>,
        handlers: Vec<Arc<dyn Handler>>,
        shutdown: CancellationToken,
    ) -> Result<Workers, BusError> {
        for handler in &handlers {
            validate_handler(handler.as_ref())?;
            metrics::describe_consumer(handler.name());
        }
        let mut set = JoinSet::new();
        match &self.inner.backend {
            Backend::InProcess => {
                inprocess::register_consumers(&self.inner.store, &handlers).await?;
                for handler in handlers {
                    let worker = inprocess::Worker::new(self.inner.store.clone(), self.inner.config.clone(), handler);
                    set.spawn(worker.run(shutdown.clone()));
                }
            }
            Backend::Nats(nats) => {
                for handler in handlers {
                    for topic in handler.topics() {
                        let worker = nats.worker(self.inner.store.clone(), handler.clone(), topic).await?;
                        set.spawn(worker.run(shutdown.clone()));
                    }
                }
            }
        }
        let relay = relay::Relay::new(self.inner.store.clone(), self.inner.config.clone(), publisher);
        set.spawn(relay.run(shutdown.clone()));
        Ok(Workers { set, shutdown })
    }

    /// Outbox rows not yet published to the bus.
    pub async fn outbox_backlog(&self) -> Result<u64, BusError> {
        use sqlx::Row as _;
        let row = sqlx::query("SELECT COUNT(*) FROM outbox WHERE published_at_ms IS NULL")
            .fetch_one(self.inner.store.reader())
            .await
            .map_err(warga_store::StoreError::from)?;
        Ok(u64::try_from(row.get::<i64, _>(0)).unwrap_or(0))
    }

    /// Events delivered to `handler`'s consumer (or waiting for it) that it has not yet
    /// handled — its lag; dead letters excluded. With the outbox drained, zero means the
    /// consumer has caught up with everything published.
    pub async fn pending(&self, handler: &dyn Handler) -> Result<u64, BusError> {
        match &self.inner.backend {
            Backend::InProcess => inprocess::pending(&self.inner.store, handler.name()).await,
            Backend::Nats(nats) => nats.pending(handler).await,
        }
    }

    /// Dead letters, oldest first, at most `limit`.
    pub async fn dead_letters(&self, limit: usize) -> Result<Vec<DeadLetter>, BusError> {
        match &self.inner.backend {
            Backend::InProcess => inprocess::dead_letters(&self.inner.store, limit).await,
            Backend::Nats(nats) => nats.dead_letters(limit).await,
        }
    }

    /// Puts matching dead letters back in front of their consumer with a fresh attempt
    /// budget; returns how many.
    pub async fn replay(&self, filter: &ReplayFilter) -> Result<usize, BusError> {
        match &self.inner.backend {
            Backend::InProcess => inprocess::replay(&self.inner.store, filter).await,
            Backend::Nats(nats) => nats.replay(filter).await,
        }
    }
}

/// The background tasks of the bus.
pub struct Workers {
    set: JoinSet<()>,
    shutdown: CancellationToken,
}

impl Workers {
    /// Signals shutdown and waits until every worker has finished or handed back its work.
    pub async fn shutdown(mut self) {
        self.shutdown.cancel();
        while let Some(result) = self.set.join_next().await {
            if let Err(error) = result {
                tracing::error!(%error, "bus worker ended abnormally");
            }
        }
    }
}

fn validate_handler(handler: &dyn Handler) -> Result<(), BusError> {
    let name = handler.name();
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
    if !ok {
        return Err(BusError::BadConsumerName(name.to_owned()));
    }
    for topic in handler.topics() {
        warga_core::validate_topic(topic).map_err(|error| BusError::BadTopic {
            consumer: name.to_owned(),
            error,
        })?;
    }
    Ok(())
}

/// Exponential backoff with full jitter in its upper half: attempt 1 waits about `base`,
/// each further attempt doubles, never more than `max`.
pub fn backoff(config: &BusConfig, attempt: u32) -> Duration {
    let exponent = attempt.saturating_sub(1).min(20);
    let ceiling = config
        .backoff_base_ms
        .saturating_mul(1 << exponent)
        .min(config.backoff_max_ms);
    let jittered = ceiling / 2 + fastrand::u64(0..=ceiling / 2);
    Duration::from_millis(jittered)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_is_capped() {
        let config = BusConfig {
            backoff_base_ms: 100,
            backoff_max_ms: 1_000,
            ..BusConfig::default()
        };
        for _ in 0..100 {
            let first = backoff(&config, 1).as_millis();
            assert!((50..=100).contains(&first), "{first}");
            let third = backoff(&config, 3).as_millis();
            assert!((200..=400).contains(&third), "{third}");
            let late = backoff(&config, 40).as_millis();
            assert!((500..=1_000).contains(&late), "{late}");
        }
    }

    #[test]
    fn replay_filter_matches() {
        let all = ReplayFilter::default();
        assert!(all.matches("a", "1"));
        let one = ReplayFilter {
            consumer: Some("a".into()),
            event_id: None,
        };
        assert!(one.matches("a", "1") && !one.matches("b", "1"));
        let exact = ReplayFilter {
            consumer: Some("a".into()),
            event_id: Some("1".into()),
        };
        assert!(exact.matches("a", "1") && !exact.matches("a", "2"));
    }
}
