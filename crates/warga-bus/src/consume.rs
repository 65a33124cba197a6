//! Running one event through one handler, exactly once in effect.

use tracing::Instrument;
use warga_core::Envelope;
use warga_store::{Store, StoreError, Tx};

use crate::metrics;
use crate::{Handler, HandlerError};

/// What became of one delivery.
#[derive(Debug)]
pub enum Outcome {
    /// The effect committed together with the processed-event record.
    Processed,
    /// The event had been processed before; nothing was done.
    Duplicate,
    /// The handler (or its commit) failed; nothing was written. Retry later.
    Failed(String),
}

/// Bookkeeping that commits together with a handled event.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Finish {
    /// Nothing more (NATS acknowledges after the commit).
    Nothing,
    /// Delete the in-process delivery row of this consumer and event.
    DeleteDelivery,
}

impl Finish {
    /// [`Finish::apply`] for a batch: one statement per [`crate::STATEMENT_ROWS`] events.
    async fn apply_many(self, tx: &mut Tx, consumer: &str, event_ids: &[&str]) -> Result<(), StoreError> {
        if let Finish::DeleteDelivery = self {
            for chunk in event_ids.chunks(crate::STATEMENT_ROWS) {
                let sql = format!(
                    "DELETE FROM event_deliveries WHERE consumer = $1 AND event_id IN ({})",
                    crate::placeholders(2, chunk.len())
                );
                let mut query = sqlx::query(&sql).bind(consumer);
                for event_id in chunk {
                    query = query.bind(*event_id);
                }
                query.execute(tx.conn()).await?;
            }
        }
        Ok(())
    }

    async fn apply(self, tx: &mut Tx, consumer: &str, event_id: &str) -> Result<(), StoreError> {
        match self {
            Finish::Nothing => Ok(()),
            Finish::DeleteDelivery => {
                sqlx::query("DELETE FROM event_deliveries WHERE consumer = $1 AND event_id = $2")
                    .bind(consumer)
                    .bind(event_id)
                    .execute(tx.conn())
                    .await?;
                Ok(())
            }
        }
    }
}

/// Handles `envelope` with `handler` in one transaction, unless already processed.
/// `finish` runs inside the same transaction after a success or a duplicate.
pub(crate) async fn process(store: &Store, handler: &dyn Handler, envelope: &Envelope, finish: Finish) -> Outcome {
    let consumer = handler.name();
    let span = consume_span(consumer, envelope, 1);
    let timer = metrics::CONSUMER_HANDLE_SECONDS
        .with_label_values(&[consumer])
        .start_timer();
    let outcome = attempt(store, handler, envelope, finish).instrument(span.clone()).await;
    timer.observe_duration();
    let _entered = span.enter();
    match &outcome {
        Ok(true) => {
            metrics::CONSUMER_PROCESSED.with_label_values(&[consumer]).inc();
            Outcome::Processed
        }
        Ok(false) => {
            metrics::CONSUMER_DUPLICATES.with_label_values(&[consumer]).inc();
            tracing::debug!("event already processed; skipped");
            Outcome::Duplicate
        }
        Err(error) => {
            metrics::CONSUMER_FAILURES.with_label_values(&[consumer]).inc();
            tracing::warn!(error = %error, "event handling failed; will retry");
            Outcome::Failed(error.to_string())
        }
    }
}

/// `Ok(true)` processed, `Ok(false)` duplicate.
async fn attempt(
    store: &Store,
    handler: &dyn Handler,
    envelope: &Envelope,
    finish: Finish,
) -> Result<bool, HandlerError> {
    let mut tx = store.begin().await?;
    let fresh = record_processed(&mut tx, handler.name(), envelope.id.as_str()).await?;
    if fresh {
        handler.handle(&mut tx, envelope).await?;
    }
    finish.apply(&mut tx, handler.name(), envelope.id.as_str()).await?;
    tx.commit().await?;
    Ok(fresh)
}

/// Handles a batch of events in one transaction: for each, the processed-event record, the
/// handler (unless a duplicate) and `finish`. All or nothing: on `Err` nothing was written
/// and the caller retries each event on its own through [`process`], so one bad event
/// cannot hold back the others. The fresh events go to [`Handler::handle_batch`] together.
pub(crate) async fn process_batch(
    store: &Store,
    handler: &dyn Handler,
    envelopes: &[Envelope],
    finish: Finish,
) -> Result<(), HandlerError> {
    let consumer = handler.name();
    let started = std::time::Instant::now();
    let mut tx = store.begin().await?;
    // The processed-event records of the whole batch first (one statement per
    // STATEMENT_ROWS events): the ones written are the events not yet processed.
    let ids: Vec<&str> = envelopes.iter().map(|e| e.id.as_str()).collect();
    let mut fresh = record_processed_many(&mut tx, consumer, &ids).await?;
    // Removed when taken: the same event twice in a batch is handled once.
    let fresh: Vec<&Envelope> = envelopes.iter().filter(|e| fresh.remove(e.id.as_str())).collect();
    let fresh_count = fresh.len() as u64;
    if !fresh.is_empty() {
        let span = tracing::info_span!("consume_batch", consumer, events = fresh.len());
        handler.handle_batch(&mut tx, &fresh).instrument(span).await?;
    }
    finish.apply_many(&mut tx, consumer, &ids).await?;
    tx.commit().await?;
    // The histogram is per event: each event of the batch is observed at its share.
    let share = started.elapsed().as_secs_f64() / envelopes.len().max(1) as f64;
    let histogram = metrics::CONSUMER_HANDLE_SECONDS.with_label_values(&[consumer]);
    for _ in envelopes {
        histogram.observe(share);
    }
    metrics::CONSUMER_PROCESSED
        .with_label_values(&[consumer])
        .inc_by(fresh_count);
    metrics::CONSUMER_DUPLICATES
        .with_label_values(&[consumer])
        .inc_by(envelopes.len() as u64 - fresh_count);
    Ok(())
}

/// The span of one event's handling, continuing the trace that produced it.
pub(crate) fn consume_span(consumer: &str, envelope: &Envelope, batch: usize) -> tracing::Span {
    let span = tracing::info_span!(
        "consume",
        consumer,
        topic = %envelope.topic,
        event_id = %envelope.id,
        batch,
        otel.kind = "consumer",
    );
    warga_telemetry::set_parent_from_traceparent(&span, envelope.traceparent.as_deref());
    span
}

/// Records that `consumer` processed each of `event_ids`; returns those it had not before.
async fn record_processed_many(
    tx: &mut Tx,
    consumer: &str,
    event_ids: &[&str],
) -> Result<std::collections::HashSet<String>, StoreError> {
    let mut fresh = std::collections::HashSet::new();
    let at = warga_core::time::hour_ceiling(warga_core::time::now_ms());
    for chunk in event_ids.chunks(crate::STATEMENT_ROWS) {
        let values = (0..chunk.len())
            .map(|i| format!("($1, ${}, $2)", 3 + i))
            .collect::<Vec<_>>()
            .join(", ");
        let sql = format!(
            "INSERT INTO processed_events (consumer, event_id, processed_at_ms) VALUES {values} \
             ON CONFLICT (consumer, event_id) DO NOTHING RETURNING event_id"
        );
        let mut query = sqlx::query(&sql).bind(consumer).bind(at);
        for event_id in chunk {
            query = query.bind(*event_id);
        }
        for row in query.fetch_all(tx.conn()).await? {
            fresh.insert(sqlx::Row::get::<String, _>(&row, 0));
        }
    }
    Ok(fresh)
}

/// Records that `consumer` processed `event_id`; `false` when it had already.
async fn record_processed(tx: &mut Tx, consumer: &str, event_id: &str) -> Result<bool, StoreError> {
    let inserted = sqlx::query(
        "INSERT INTO processed_events (consumer, event_id, processed_at_ms) VALUES ($1, $2, $3) \
         ON CONFLICT (consumer, event_id) DO NOTHING",
    )
    .bind(consumer)
    .bind(event_id)
    .bind(warga_core::time::hour_ceiling(warga_core::time::now_ms()))
    .execute(tx.conn())
    .await?
    .rows_affected();
    Ok(inserted == 1)
}

/// Rebuilds an envelope from an outbox row selected as
/// `event_id, topic, version, payload, traceparent, occurred_at_ms`.
pub(crate) fn envelope_from_outbox_row(row: &sqlx::any::AnyRow) -> Result<Envelope, crate::BusError> {
    use sqlx::Row;
    envelope_from_row(
        row.get(0),
        row.get(1),
        row.get(2),
        row.get::<String, _>(3).as_str(),
        row.get(4),
        row.get(5),
    )
}

/// Rebuilds an envelope from its stored columns.
pub(crate) fn envelope_from_row(
    event_id: String,
    topic: String,
    version: i64,
    payload: &str,
    traceparent: Option<String>,
    occurred_at_ms: i64,
) -> Result<Envelope, crate::BusError> {
    let payload =
        serde_json::from_str(payload).map_err(|e| crate::BusError::Corrupt(event_id.clone(), e.to_string()))?;
    Ok(Envelope {
        id: warga_core::EventId::from_stored(event_id),
        topic,
        version: u32::try_from(version).unwrap_or(u32::MAX),
        occurred_at_ms,
        traceparent,
        payload,
    })
}

/// Error text kept with a dead letter: one line, bounded.
pub(crate) fn error_summary(error: &str) -> String {
    const ERROR_CHARS_MAX: usize = 500;
    error.replace(['\n', '\r'], " ").chars().take(ERROR_CHARS_MAX).collect()
}
