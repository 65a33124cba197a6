//! The outbox relay: moves committed events from the outbox to the bus.
//!
//! One relay runs per worker process. It reads unpublished rows in `seq` order, hands a
//! batch to the [`Publisher`], and the publisher marks what the backend accepted as
//! published. A failed round (broker down, database down) is retried with backoff; the rows
//! stay in the outbox meanwhile, so an outage delays events and never loses them. Several
//! relays may run at once (replicas): a row published twice is dropped by the backend's
//! de-duplication (JetStream `Nats-Msg-Id`, the in-process delivery key) or, at the latest,
//! by the consumers' processed-event records.

use std::sync::Arc;
use std::time::{Duration, Instant};

use sqlx::Row;
use tokio_util::sync::CancellationToken;
use warga_config::BusConfig;
use warga_core::Envelope;
use warga_store::{Store, StoreError};

use crate::consume::envelope_from_row;
use crate::{BusError, metrics};

/// One unpublished outbox row.
#[derive(Clone, Debug)]
pub struct OutboxRow {
    pub seq: i64,
    pub envelope: Envelope,
}

/// Carries outbox rows to a bus backend.
#[async_trait::async_trait]
pub trait Publisher: Send + Sync + 'static {
    /// Publishes `batch` in order and marks every row the backend accepted as published.
    /// Returns how many were published; an error means none of the rest were.
    async fn publish(&self, store: &Store, batch: &[OutboxRow]) -> Result<usize, BusError>;
}

/// How often backlog and lag gauges are refreshed.
const STATS_INTERVAL: Duration = Duration::from_secs(1);
/// How often old published events and processed-event records are deleted.
const JANITOR_INTERVAL: Duration = Duration::from_secs(60);

pub(crate) struct Relay {
    store: Store,
    config: BusConfig,
    publisher: Arc<dyn Publisher>,
}

impl Relay {
    pub(crate) fn new(store: Store, config: BusConfig, publisher: Arc<dyn Publisher>) -> Self {
        Self {
            store,
            config,
            publisher,
        }
    }

    pub(crate) async fn run(self, shutdown: CancellationToken) {
        metrics::describe();
        let poll = Duration::from_millis(self.config.poll_interval_ms);
        let mut failures = 0u32;
        let mut last_stats = Instant::now() - STATS_INTERVAL;
        let mut last_janitor = Instant::now();
        while !shutdown.is_cancelled() {
            let published = match self.round().await {
                Ok(published) => {
                    failures = 0;
                    published
                }
                Err(error) => {
                    failures = failures.saturating_add(1);
                    metrics::RELAY_FAILURES.inc();
                    let wait = crate::backoff(&self.config, failures);
                    tracing::warn!(%error, retry_in_ms = wait.as_millis() as u64, "outbox relay round failed");
                    tokio::select! {
                        _ = shutdown.cancelled() => break,
                        _ = tokio::time::sleep(wait) => continue,
                    }
                }
            };
            if last_stats.elapsed() >= STATS_INTERVAL {
                last_stats = Instant::now();
                if let Err(error) = update_stats(&self.store).await {
                    tracing::debug!(%error, "outbox statistics unavailable");
                }
            }
            if last_janitor.elapsed() >= JANITOR_INTERVAL {
                last_janitor = Instant::now();
                if let Err(error) = janitor(&self.store, &self.config).await {
                    tracing::warn!(%error, "outbox clean-up failed");
                }
            }
            if published >= self.config.relay_batch_max as usize {
                continue; // a full batch: there is probably more
            }
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = self.store.outbox_written() => {}
                _ = tokio::time::sleep(poll) => {}
            }
        }
        tracing::debug!("outbox relay stopped");
    }

    async fn round(&self) -> Result<usize, BusError> {
        let batch = unpublished(&self.store, self.config.relay_batch_max).await?;
        if batch.is_empty() {
            return Ok(0);
        }
        let timer = metrics::RELAY_PUBLISH_SECONDS.start_timer();
        let published = self.publisher.publish(&self.store, &batch).await?;
        timer.observe_duration();
        metrics::EVENTS_PUBLISHED.inc_by(published as u64);
        tracing::debug!(published, batch = batch.len(), "outbox batch published");
        Ok(published)
    }
}

/// The oldest unpublished outbox rows, at most `limit`.
pub async fn unpublished(store: &Store, limit: u32) -> Result<Vec<OutboxRow>, BusError> {
    let rows = sqlx::query(
        "SELECT seq, event_id, topic, version, payload, traceparent, occurred_at_ms FROM outbox \
         WHERE published_at_ms IS NULL ORDER BY seq LIMIT $1",
    )
    .bind(i64::from(limit))
    .fetch_all(store.writer())
    .await
    .map_err(StoreError::from)?;
    rows.into_iter()
        .map(|row| {
            let envelope = envelope_from_row(
                row.get(1),
                row.get(2),
                row.get(3),
                row.get::<String, _>(4).as_str(),
                row.get(5),
                row.get(6),
            )?;
            Ok(OutboxRow {
                seq: row.get(0),
                envelope,
            })
        })
        .collect()
}

/// Marks rows published inside an open transaction: one statement per
/// [`crate::STATEMENT_ROWS`] rows.
pub(crate) async fn mark_published(tx: &mut warga_store::Tx, event_ids: &[&str]) -> Result<(), StoreError> {
    let now = warga_core::time::hour_ceiling(warga_core::time::now_ms());
    for chunk in event_ids.chunks(crate::STATEMENT_ROWS) {
        let sql = format!(
            "UPDATE outbox SET published_at_ms = $1 WHERE published_at_ms IS NULL AND event_id IN ({})",
            crate::placeholders(2, chunk.len())
        );
        let mut query = sqlx::query(&sql).bind(now);
        for event_id in chunk {
            query = query.bind(*event_id);
        }
        query.execute(tx.conn()).await?;
    }
    Ok(())
}

async fn update_stats(store: &Store) -> Result<(), StoreError> {
    let row = sqlx::query("SELECT COUNT(*), MIN(occurred_at_ms) FROM outbox WHERE published_at_ms IS NULL")
        .fetch_one(store.reader())
        .await?;
    let backlog: i64 = row.get(0);
    let oldest: Option<i64> = row.get(1);
    metrics::OUTBOX_BACKLOG.set(backlog);
    let lag_ms = oldest.map(|t| (warga_core::time::now_ms() - t).max(0)).unwrap_or(0);
    metrics::RELAY_LAG_SECONDS.set(lag_ms as f64 / 1000.0);
    Ok(())
}

async fn janitor(store: &Store, config: &BusConfig) -> Result<(), StoreError> {
    let cutoff = warga_core::time::now_ms() - (config.retention_hours as i64) * 3_600_000;
    let outbox = sqlx::query(
        "DELETE FROM outbox WHERE published_at_ms IS NOT NULL AND published_at_ms < $1 \
         AND NOT EXISTS (SELECT 1 FROM event_deliveries d WHERE d.event_id = outbox.event_id)",
    )
    .bind(cutoff)
    .execute(store.writer())
    .await?
    .rows_affected();
    let processed = sqlx::query("DELETE FROM processed_events WHERE processed_at_ms < $1")
        .bind(cutoff)
        .execute(store.writer())
        .await?
        .rows_affected();
    if outbox + processed > 0 {
        tracing::info!(outbox, processed, "deleted events past their retention");
    }
    Ok(())
}
