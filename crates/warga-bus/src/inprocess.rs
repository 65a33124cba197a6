//! The in-process bus: the database is the queue.
//!
//! The relay fans each outbox row out into one `event_deliveries` row per registered
//! consumer of its topic and marks it published, in one transaction. Each consumer's worker
//! leases due deliveries, handles them (deleting the delivery in the handler's transaction),
//! and on failure schedules the next attempt or, after the last one, marks the delivery
//! dead. Everything is in the database, so a crash or restart loses nothing, and replicas
//! sharing one PostgreSQL database share the work through leases.

use std::sync::{Arc, LazyLock};
use std::time::{Duration, Instant};

use sqlx::Row;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use warga_config::BusConfig;
use warga_store::{Store, StoreError};

use crate::consume::{Finish, envelope_from_outbox_row, error_summary, process, process_batch};
use crate::relay::{OutboxRow, Publisher, mark_published};
use crate::{BusError, DeadLetter, Handler, Outcome, ReplayFilter, metrics};

/// Deliveries a worker leases at once.
const CLAIM_BATCH: i64 = 128;
const LAG_INTERVAL: Duration = Duration::from_secs(1);
/// How often a worker leases from the head of its queue rather than after its cursor.
const HEAD_SCAN_INTERVAL: Duration = Duration::from_secs(1);

/// Bumped whenever deliveries were written in this process (fan-out, replay). Each worker
/// keeps its own receiver, so a bump while it was busy is not lost: its next wait returns
/// at once.
static DELIVERIES_WRITTEN: LazyLock<watch::Sender<u64>> = LazyLock::new(|| watch::Sender::new(0));

fn deliveries_written() {
    DELIVERIES_WRITTEN.send_modify(|version| *version = version.wrapping_add(1));
}

/// Records which consumers exist, so a relay in any process fans out to all of them.
pub(crate) async fn register_consumers(store: &Store, handlers: &[Arc<dyn Handler>]) -> Result<(), StoreError> {
    for handler in handlers {
        sqlx::query(
            "INSERT INTO event_consumers (name, topics, registered_at_ms) VALUES ($1, $2, $3) \
             ON CONFLICT (name) DO UPDATE SET topics = excluded.topics",
        )
        .bind(handler.name())
        .bind(handler.topics().join(","))
        .bind(warga_core::time::now_ms())
        .execute(store.writer())
        .await?;
    }
    Ok(())
}

/// The in-process publisher.
pub(crate) struct FanOut;

#[async_trait::async_trait]
impl Publisher for FanOut {
    async fn publish(&self, store: &Store, batch: &[OutboxRow]) -> Result<usize, BusError> {
        let consumers: Vec<(String, Vec<String>)> = sqlx::query("SELECT name, topics FROM event_consumers")
            .fetch_all(store.writer())
            .await
            .map_err(StoreError::from)?
            .into_iter()
            .map(|row| {
                let topics: String = row.get(1);
                (row.get(0), topics.split(',').map(str::to_owned).collect())
            })
            .collect();
        let now = warga_core::time::now_ms();
        let mut tx = store.begin().await?;
        // One row per (consumer, event) owed, written a statement per STATEMENT_ROWS rows.
        let owed: Vec<(&str, &OutboxRow)> = batch
            .iter()
            .flat_map(|row| {
                consumers
                    .iter()
                    .filter(|(_, topics)| topics.contains(&row.envelope.topic))
                    .map(move |(consumer, _)| (consumer.as_str(), row))
            })
            .collect();
        for chunk in owed.chunks(crate::STATEMENT_ROWS) {
            let values = (0..chunk.len())
                .map(|i| format!("(${}, ${}, ${}, 0, $1, 0)", 2 + 3 * i, 3 + 3 * i, 4 + 3 * i))
                .collect::<Vec<_>>()
                .join(", ");
            let sql = format!(
                "INSERT INTO event_deliveries (consumer, event_id, seq, attempts, next_attempt_at_ms, lease_until_ms) \
                 VALUES {values} ON CONFLICT (consumer, event_id) DO NOTHING"
            );
            let mut query = sqlx::query(&sql).bind(now);
            for (consumer, row) in chunk {
                query = query.bind(*consumer).bind(row.envelope.id.as_str()).bind(row.seq);
            }
            query.execute(tx.conn()).await.map_err(StoreError::from)?;
        }
        let ids: Vec<&str> = batch.iter().map(|r| r.envelope.id.as_str()).collect();
        mark_published(&mut tx, &ids).await?;
        tx.commit().await?;
        deliveries_written();
        Ok(batch.len())
    }
}

pub(crate) struct Worker {
    store: Store,
    config: BusConfig,
    handler: Arc<dyn Handler>,
}

struct Claimed {
    event_id: String,
    attempts: i64,
    seq: i64,
}

impl Worker {
    pub(crate) fn new(store: Store, config: BusConfig, handler: Arc<dyn Handler>) -> Self {
        Self { store, config, handler }
    }

    pub(crate) async fn run(self, shutdown: CancellationToken) {
        let consumer = self.handler.name();
        let poll = Duration::from_millis(self.config.poll_interval_ms);
        let mut last_lag = Instant::now() - LAG_INTERVAL;
        let mut failures = 0u32;
        let mut woken = DELIVERIES_WRITTEN.subscribe();
        // Leases start after the last one leased: the deliveries before it are mostly
        // handled and deleted, and until vacuum runs their index entries are still there to
        // step over (under a flood, leasing from the head read the whole table each time).
        // A lease starts from the head after one after the cursor found nothing, and at least
        // once a second, for what the cursor passed by: a retry come due, a lease handed back
        // or expired, an event whose transaction committed after a later one.
        let mut cursor = 0i64;
        let mut from_head = true;
        let mut head_leased = Instant::now();
        while !shutdown.is_cancelled() {
            woken.mark_unchanged();
            let after = if from_head || head_leased.elapsed() >= HEAD_SCAN_INTERVAL {
                head_leased = Instant::now();
                0
            } else {
                cursor
            };
            let claimed = match self.claim(after).await {
                Ok(claimed) => {
                    failures = 0;
                    cursor = claimed.iter().map(|c| c.seq).fold(cursor, i64::max);
                    from_head = claimed.is_empty() && after != 0;
                    claimed
                }
                Err(error) => {
                    failures = failures.saturating_add(1);
                    let wait = crate::backoff(&self.config, failures);
                    tracing::warn!(consumer, %error, "cannot lease deliveries");
                    tokio::select! {
                        _ = shutdown.cancelled() => break,
                        _ = tokio::time::sleep(wait) => continue,
                    }
                }
            };
            let full = claimed.len() as i64 == CLAIM_BATCH;
            // The whole lease in one transaction; if that fails, event by event below.
            let claimed = if claimed.len() > 1 && self.deliver_batch(&claimed).await {
                Vec::new()
            } else {
                claimed
            };
            let mut pending = claimed.into_iter();
            for delivery in pending.by_ref() {
                self.deliver(delivery).await;
                if shutdown.is_cancelled() {
                    break;
                }
            }
            // Hand back what was leased but not started.
            for delivery in pending {
                if let Err(error) = self.release(&delivery.event_id).await {
                    tracing::warn!(consumer, %error, "cannot hand back a delivery; its lease will expire");
                }
            }
            if last_lag.elapsed() >= LAG_INTERVAL {
                last_lag = Instant::now();
                self.update_lag().await;
            }
            if full {
                continue;
            }
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = woken.changed() => {}
                _ = tokio::time::sleep(poll) => {}
            }
        }
        tracing::debug!(consumer, "in-process consumer stopped");
    }

    /// Leases the first due deliveries after `after` (an outbox sequence number; 0: from
    /// the head), in outbox order.
    ///
    /// Two statements — the due ids in order, then the lease of exactly those by key — so
    /// each keeps its one good plan: as one `UPDATE … WHERE event_id IN (SELECT …)`,
    /// PostgreSQL with statistics from a nearly empty table chose a nested loop that ran
    /// the subquery once per row of the consumer (tens of thousands of buffers a lease). A
    /// delivery leased by another worker in between fails the lease's own condition.
    async fn claim(&self, after: i64) -> Result<Vec<Claimed>, StoreError> {
        let now = warga_core::time::now_ms();
        let due: Vec<String> = sqlx::query(
            "SELECT event_id FROM event_deliveries \
             WHERE consumer = $1 AND dead_at_ms IS NULL AND seq > $2 AND next_attempt_at_ms <= $3 \
               AND lease_until_ms <= $3 \
             ORDER BY seq LIMIT $4",
        )
        .bind(self.handler.name())
        .bind(after)
        .bind(now)
        .bind(CLAIM_BATCH)
        .fetch_all(self.store.writer())
        .await?
        .iter()
        .map(|row| row.get(0))
        .collect();
        if due.is_empty() {
            return Ok(Vec::new());
        }
        let sql = format!(
            "UPDATE event_deliveries SET lease_until_ms = $1 \
             WHERE consumer = $2 AND lease_until_ms <= $3 AND event_id IN ({}) \
             RETURNING event_id, attempts, seq",
            crate::placeholders(4, due.len())
        );
        let mut lease = sqlx::query(&sql)
            .bind(now + self.config.lease_ms as i64)
            .bind(self.handler.name())
            .bind(now);
        for event_id in &due {
            lease = lease.bind(event_id);
        }
        let rows = lease.fetch_all(self.store.writer()).await?;
        let mut claimed: Vec<Claimed> = rows
            .into_iter()
            .map(|row| Claimed {
                event_id: row.get(0),
                attempts: row.get(1),
                seq: row.get(2),
            })
            .collect();
        // RETURNING gives no order; handle them in the outbox's.
        claimed.sort_by_key(|c| c.seq);
        Ok(claimed)
    }

    async fn deliver(&self, delivery: Claimed) {
        let envelope = match self.load(&delivery.event_id).await {
            Ok(envelope) => envelope,
            Err(error) => {
                self.record_failure(&delivery, &error.to_string()).await;
                return;
            }
        };
        match process(&self.store, self.handler.as_ref(), &envelope, Finish::DeleteDelivery).await {
            Outcome::Processed | Outcome::Duplicate => {}
            Outcome::Failed(error) => self.record_failure(&delivery, &error).await,
        }
    }

    /// Handles every claimed delivery in one transaction. `false`: nothing was written (an
    /// event is missing or unreadable, or a handler failed); deliver them one by one.
    async fn deliver_batch(&self, claimed: &[Claimed]) -> bool {
        let placeholders: Vec<String> = (1..=claimed.len()).map(|i| format!("${i}")).collect();
        let sql = format!(
            "SELECT event_id, topic, version, payload, traceparent, occurred_at_ms FROM outbox WHERE event_id IN ({})",
            placeholders.join(", ")
        );
        let mut query = sqlx::query(&sql);
        for delivery in claimed {
            query = query.bind(&delivery.event_id);
        }
        let Ok(rows) = query.fetch_all(self.store.writer()).await else {
            return false;
        };
        let mut by_id = std::collections::HashMap::with_capacity(rows.len());
        for row in rows {
            match envelope_from_outbox_row(&row) {
                Ok(envelope) => by_id.insert(envelope.id.as_str().to_owned(), envelope),
                Err(_) => return false,
            };
        }
        let Some(envelopes) = claimed
            .iter()
            .map(|d| by_id.remove(&d.event_id))
            .collect::<Option<Vec<_>>>()
        else {
            return false;
        };
        match process_batch(&self.store, self.handler.as_ref(), &envelopes, Finish::DeleteDelivery).await {
            Ok(()) => true,
            Err(error) => {
                tracing::debug!(consumer = self.handler.name(), %error, "batch failed; delivering one by one");
                false
            }
        }
    }

    async fn load(&self, event_id: &str) -> Result<warga_core::Envelope, BusError> {
        let row = sqlx::query(
            "SELECT event_id, topic, version, payload, traceparent, occurred_at_ms FROM outbox WHERE event_id = $1",
        )
        .bind(event_id)
        .fetch_one(self.store.writer())
        .await
        .map_err(StoreError::from)?;
        envelope_from_outbox_row(&row)
    }

    async fn record_failure(&self, delivery: &Claimed, error: &str) {
        let consumer = self.handler.name();
        let attempts = delivery.attempts + 1;
        let dead = attempts >= i64::from(self.config.max_attempts);
        let now = warga_core::time::now_ms();
        let next = now + crate::backoff(&self.config, attempts as u32).as_millis() as i64;
        let result = sqlx::query(
            "UPDATE event_deliveries SET attempts = $1, last_error = $2, next_attempt_at_ms = $3, lease_until_ms = 0, \
             dead_at_ms = $4 WHERE consumer = $5 AND event_id = $6",
        )
        .bind(attempts)
        .bind(error_summary(error))
        .bind(next)
        .bind(dead.then_some(now))
        .bind(consumer)
        .bind(&delivery.event_id)
        .execute(self.store.writer())
        .await;
        match result {
            Err(e) => {
                tracing::warn!(consumer, error = %e, "cannot record a failed attempt; its lease will expire")
            }
            Ok(_) if dead => {
                metrics::CONSUMER_DEAD_LETTERED.with_label_values(&[consumer]).inc();
                tracing::error!(consumer, event_id = %delivery.event_id, attempts, "event dead-lettered");
            }
            Ok(_) => {}
        }
    }

    async fn release(&self, event_id: &str) -> Result<(), StoreError> {
        sqlx::query("UPDATE event_deliveries SET lease_until_ms = 0 WHERE consumer = $1 AND event_id = $2")
            .bind(self.handler.name())
            .bind(event_id)
            .execute(self.store.writer())
            .await?;
        Ok(())
    }

    async fn update_lag(&self) {
        let consumer = self.handler.name();
        let count = sqlx::query("SELECT COUNT(*) FROM event_deliveries WHERE consumer = $1 AND dead_at_ms IS NULL")
            .bind(consumer)
            .fetch_one(self.store.reader())
            .await;
        if let Ok(row) = count {
            metrics::CONSUMER_LAG
                .with_label_values(&[consumer])
                .set(row.get::<i64, _>(0));
        }
    }
}

pub(crate) async fn pending(store: &Store, consumer: &str) -> Result<u64, BusError> {
    let row = sqlx::query("SELECT COUNT(*) FROM event_deliveries WHERE consumer = $1 AND dead_at_ms IS NULL")
        .bind(consumer)
        .fetch_one(store.reader())
        .await
        .map_err(StoreError::from)?;
    Ok(u64::try_from(row.get::<i64, _>(0)).unwrap_or(0))
}

pub(crate) async fn dead_letters(store: &Store, limit: usize) -> Result<Vec<DeadLetter>, BusError> {
    let rows = sqlx::query(
        "SELECT d.consumer, d.event_id, o.topic, d.attempts, d.last_error, d.dead_at_ms \
         FROM event_deliveries d JOIN outbox o ON o.event_id = d.event_id \
         WHERE d.dead_at_ms IS NOT NULL ORDER BY d.dead_at_ms, d.seq LIMIT $1",
    )
    .bind(limit as i64)
    .fetch_all(store.reader())
    .await
    .map_err(StoreError::from)?;
    Ok(rows
        .into_iter()
        .map(|row| DeadLetter {
            consumer: row.get(0),
            event_id: row.get(1),
            topic: row.get(2),
            attempts: u32::try_from(row.get::<i64, _>(3)).unwrap_or(u32::MAX),
            last_error: row.get::<Option<String>, _>(4).unwrap_or_default(),
            dead_at_ms: row.get(5),
        })
        .collect())
}

pub(crate) async fn replay(store: &Store, filter: &ReplayFilter) -> Result<usize, BusError> {
    let replayed = sqlx::query(
        "UPDATE event_deliveries SET dead_at_ms = NULL, attempts = 0, next_attempt_at_ms = $1, lease_until_ms = 0 \
         WHERE dead_at_ms IS NOT NULL AND ($2 IS NULL OR consumer = $2) AND ($3 IS NULL OR event_id = $3)",
    )
    .bind(warga_core::time::now_ms())
    .bind(filter.consumer.as_deref())
    .bind(filter.event_id.as_deref())
    .execute(store.writer())
    .await
    .map_err(StoreError::from)?
    .rows_affected();
    deliveries_written();
    Ok(replayed as usize)
}
