//! Cost of events without loss, measured against plain writes in the same run.
//!
//! * `commit/plain_row` — one row in its own transaction: the reference.
//! * `commit/row_with_event` — the same plus an outbox event: the outbox's cost.
//! * `pipeline/in_process_100` — 100 such commits, then wait until a consumer has applied
//!   all 100 events through the relay and the in-process bus: end-to-end throughput.
//!
//! SQLite always; PostgreSQL too when `WARGA_TEST_POSTGRES_URL` is set.
//! `cargo bench -p warga-bus --bench pipeline`; results in BENCHMARKS.md.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;
use warga_bus::{Bus, Handler, HandlerError};
use warga_config::BusConfig;
use warga_core::{Envelope, Event};
use warga_store::testing::TestDb;
use warga_store::{MigrationSet, MigrationStep, Store, Tx};

const SQL: &str = "CREATE TABLE bench_rows (id TEXT PRIMARY KEY, n BIGINT NOT NULL)";
const ROWS: MigrationSet = MigrationSet {
    owner: "bench",
    sqlite: &[MigrationStep {
        version: 2026010101,
        description: "bench",
        sql: SQL,
    }],
    postgres: &[MigrationStep {
        version: 2026010101,
        description: "bench",
        sql: SQL,
    }],
};

#[derive(Serialize, Deserialize)]
struct RowWritten {
    id: String,
}
impl Event for RowWritten {
    const TOPIC: &'static str = "bench.row.written";
    const VERSION: u32 = 1;
}

struct Counter(Arc<AtomicU64>);

#[async_trait::async_trait]
impl Handler for Counter {
    fn name(&self) -> &'static str {
        "bench-counter"
    }
    fn topics(&self) -> &'static [&'static str] {
        &[RowWritten::TOPIC]
    }
    async fn handle(&self, tx: &mut Tx, event: &Envelope) -> Result<(), HandlerError> {
        let row: RowWritten = event.decode()?;
        sqlx::query("UPDATE bench_rows SET n = n + 1 WHERE id = $1")
            .bind(row.id)
            .execute(tx.conn())
            .await?;
        self.0.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }
}

static NEXT: AtomicU64 = AtomicU64::new(0);

async fn write(store: &Store, with_event: bool) {
    let id = format!("r{}", NEXT.fetch_add(1, Ordering::Relaxed));
    let mut tx = store.begin().await.unwrap();
    sqlx::query("INSERT INTO bench_rows (id, n) VALUES ($1, 0)")
        .bind(&id)
        .execute(tx.conn())
        .await
        .unwrap();
    if with_event {
        tx.append_event(&RowWritten { id }).await.unwrap();
    }
    tx.commit().await.unwrap();
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let mut engines = vec![("sqlite", rt.block_on(TestDb::sqlite(&[ROWS])))];
    if std::env::var("WARGA_TEST_POSTGRES_URL").is_ok() {
        engines.push(("postgres", rt.block_on(TestDb::postgres(&[ROWS])).unwrap()));
    }

    let mut commit = c.benchmark_group("commit");
    commit.throughput(Throughput::Elements(1));
    for (engine, db) in &engines {
        commit.bench_function(BenchmarkId::new("plain_row", engine), |b| {
            b.to_async(&rt).iter(|| write(&db.store, false))
        });
        commit.bench_function(BenchmarkId::new("row_with_event", engine), |b| {
            b.to_async(&rt).iter(|| write(&db.store, true))
        });
    }
    commit.finish();

    const BATCH: u64 = 100;
    let mut pipeline = c.benchmark_group("pipeline");
    pipeline.throughput(Throughput::Elements(BATCH));
    pipeline.sample_size(10);
    for (engine, db) in &engines {
        let applied = Arc::new(AtomicU64::new(0));
        let config = BusConfig {
            poll_interval_ms: 20,
            ..BusConfig::default()
        };
        let bus = rt.block_on(Bus::connect(&config, db.store.clone())).unwrap();
        let workers = rt
            .block_on(bus.start_workers(vec![Arc::new(Counter(applied.clone()))], CancellationToken::new()))
            .unwrap();
        pipeline.bench_function(BenchmarkId::new("in_process_100", engine), |b| {
            b.to_async(&rt).iter_custom(|iterations| {
                let (store, applied) = (db.store.clone(), applied.clone());
                async move {
                    let started = Instant::now();
                    for _ in 0..iterations {
                        let target = applied.load(Ordering::Relaxed) + BATCH;
                        for _ in 0..BATCH {
                            write(&store, true).await;
                        }
                        while applied.load(Ordering::Relaxed) < target {
                            tokio::time::sleep(Duration::from_micros(200)).await;
                        }
                    }
                    started.elapsed()
                }
            })
        });
        rt.block_on(workers.shutdown());
    }
    pipeline.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
