//! Events without loss, end to end through the store, the relay, a bus backend and
//! consumers: every combination of in-process / NATS JetStream and SQLite / PostgreSQL that
//! the environment offers.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use sqlx::Row;
use tokio_util::sync::CancellationToken;
use warga_bus::relay::{OutboxRow, Publisher};
use warga_bus::{Bus, BusError, Handler, HandlerError, ReplayFilter};
use warga_config::{BusBackend, BusConfig, Secret};
use warga_core::{Envelope, Event};
use warga_store::testing::{TestDb, engine_url};
use warga_store::{MigrationSet, MigrationStep, Store, Tx};

const TALLY_SQL: &str = "CREATE TABLE tallies (id TEXT PRIMARY KEY, n BIGINT NOT NULL); \
                         CREATE TABLE effects (consumer TEXT NOT NULL, event_id TEXT NOT NULL, tally_id TEXT NOT NULL)";
const TALLY: MigrationSet = MigrationSet {
    owner: "delivery-test",
    sqlite: &[MigrationStep {
        version: 2026010101,
        description: "tallies",
        sql: TALLY_SQL,
    }],
    postgres: &[MigrationStep {
        version: 2026010101,
        description: "tallies",
        sql: TALLY_SQL,
    }],
};

#[derive(Serialize, Deserialize)]
struct TallyChanged {
    id: String,
}
impl Event for TallyChanged {
    const TOPIC: &'static str = "test.tally.changed";
    const VERSION: u32 = 1;
}

/// Records one effect row per handled event: a doubled delivery would show as two rows.
struct Recorder {
    name: &'static str,
    failing: Arc<AtomicBool>,
}

#[async_trait::async_trait]
impl Handler for Recorder {
    fn name(&self) -> &'static str {
        self.name
    }
    fn topics(&self) -> &'static [&'static str] {
        &[TallyChanged::TOPIC]
    }
    async fn handle(&self, tx: &mut Tx, event: &Envelope) -> Result<(), HandlerError> {
        if self.failing.load(Ordering::SeqCst) {
            return Err("injected fault: downstream unavailable".into());
        }
        let change: TallyChanged = event.decode()?;
        sqlx::query("INSERT INTO effects (consumer, event_id, tally_id) VALUES ($1, $2, $3)")
            .bind(self.name)
            .bind(event.id.as_str())
            .bind(change.id)
            .execute(tx.conn())
            .await?;
        Ok(())
    }
}

/// Fails on one event forever (a poison event); records the others like [`Recorder`].
struct Picky;

#[async_trait::async_trait]
impl Handler for Picky {
    fn name(&self) -> &'static str {
        "picky"
    }
    fn topics(&self) -> &'static [&'static str] {
        &[TallyChanged::TOPIC]
    }
    async fn handle(&self, tx: &mut Tx, event: &Envelope) -> Result<(), HandlerError> {
        let change: TallyChanged = event.decode()?;
        // Write first, then fail: a batch that included this event must leave no trace of it.
        sqlx::query("INSERT INTO effects (consumer, event_id, tally_id) VALUES ($1, $2, $3)")
            .bind("picky")
            .bind(event.id.as_str())
            .bind(&change.id)
            .execute(tx.conn())
            .await?;
        if change.id == "tally-3" {
            return Err("injected fault: this event cannot be handled".into());
        }
        Ok(())
    }
}

/// Takes a lease's events together ([`Handler::handle_batch`]): one effect row each, and
/// the ids in the order they came.
struct Together {
    seen: Arc<std::sync::Mutex<Vec<Vec<String>>>>,
}

#[async_trait::async_trait]
impl Handler for Together {
    fn name(&self) -> &'static str {
        "together"
    }
    fn topics(&self) -> &'static [&'static str] {
        &[TallyChanged::TOPIC]
    }
    async fn handle(&self, tx: &mut Tx, event: &Envelope) -> Result<(), HandlerError> {
        self.handle_batch(tx, &[event]).await
    }
    async fn handle_batch(&self, tx: &mut Tx, events: &[&Envelope]) -> Result<(), HandlerError> {
        let mut ids = Vec::new();
        for event in events {
            let change: TallyChanged = event.decode()?;
            sqlx::query("INSERT INTO effects (consumer, event_id, tally_id) VALUES ($1, $2, $3)")
                .bind("together")
                .bind(event.id.as_str())
                .bind(&change.id)
                .execute(tx.conn())
                .await?;
            ids.push(change.id);
        }
        self.seen.lock().unwrap().push(ids);
        Ok(())
    }
}

/// A broker that can be switched off: while `down`, every publish fails.
struct Switchable {
    inner: Arc<dyn Publisher>,
    down: Arc<AtomicBool>,
    /// Batches refused while down.
    refused: Arc<std::sync::atomic::AtomicUsize>,
}

#[async_trait::async_trait]
impl Publisher for Switchable {
    async fn publish(&self, store: &Store, batch: &[OutboxRow]) -> Result<usize, BusError> {
        if self.down.load(Ordering::SeqCst) {
            self.refused.fetch_add(1, Ordering::SeqCst);
            return Err(BusError::Nats("broker unreachable (test switch)".into()));
        }
        self.inner.publish(store, batch).await
    }
}

#[derive(Clone, Copy, Debug)]
enum Db {
    Sqlite,
    Postgres,
}

struct Setup {
    db: TestDb,
    bus: Bus,
    nats_cleanup: Option<(String, String)>,
}

impl Drop for Setup {
    fn drop(&mut self) {
        if let Some((url, prefix)) = self.nats_cleanup.take() {
            let _ = std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap();
                rt.block_on(async {
                    if let Ok(client) = async_nats::connect(url).await {
                        let js = async_nats::jetstream::new(client);
                        let upper = prefix.to_ascii_uppercase();
                        let _ = js.delete_stream(format!("{upper}_EVENTS")).await;
                        let _ = js.delete_stream(format!("{upper}_DLQ")).await;
                    }
                });
            })
            .join();
        }
    }
}

fn test_bus_config(backend: BusBackend, nats_url: Option<String>, prefix: &str) -> BusConfig {
    BusConfig {
        backend,
        nats_url: nats_url.map(Secret::new),
        nats_prefix: prefix.to_owned(),
        max_attempts: 3,
        backoff_base_ms: 10,
        backoff_max_ms: 100,
        poll_interval_ms: 50,
        ..BusConfig::default()
    }
}

async fn setup(db: Db, backend: BusBackend) -> Option<Setup> {
    let nats_url = match backend {
        BusBackend::Nats => Some(engine_url("WARGA_TEST_NATS_URL")?),
        BusBackend::InProcess => None,
    };
    let db = match db {
        Db::Sqlite => TestDb::sqlite(&[TALLY]).await,
        Db::Postgres => TestDb::postgres(&[TALLY]).await?,
    };
    let prefix = format!("t{}", &uuid::Uuid::now_v7().simple().to_string()[20..]);
    let config = test_bus_config(backend, nats_url.clone(), &prefix);
    let bus = Bus::connect(&config, db.store.clone()).await.expect("bus connects");
    Some(Setup {
        db,
        bus,
        nats_cleanup: nats_url.map(|url| (url, prefix)),
    })
}

async fn commit_changes(store: &Store, count: usize) {
    for i in 0..count {
        let mut tx = store.begin().await.unwrap();
        let id = format!("tally-{i}");
        sqlx::query("INSERT INTO tallies (id, n) VALUES ($1, 1)")
            .bind(&id)
            .execute(tx.conn())
            .await
            .unwrap();
        tx.append_event(&TallyChanged { id }).await.unwrap();
        tx.commit().await.unwrap();
    }
}

async fn scalar(store: &Store, sql: &'static str, consumer: &str) -> i64 {
    sqlx::query(sql)
        .bind(consumer)
        .fetch_one(store.reader())
        .await
        .unwrap()
        .get::<i64, _>(0)
}

async fn unpublished(store: &Store) -> i64 {
    let sql = "SELECT COUNT(*) FROM outbox WHERE published_at_ms IS NULL";
    sqlx::query(sql)
        .fetch_one(store.reader())
        .await
        .unwrap()
        .get::<i64, _>(0)
}

async fn effects(store: &Store, consumer: &str) -> (i64, i64) {
    let all = scalar(store, "SELECT COUNT(*) FROM effects WHERE consumer = $1", consumer).await;
    let distinct = scalar(
        store,
        "SELECT COUNT(DISTINCT event_id) FROM effects WHERE consumer = $1",
        consumer,
    )
    .await;
    (all, distinct)
}

async fn wait_for<F, Fut>(what: &str, timeout: Duration, mut done: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    while !done().await {
        assert!(tokio::time::Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits until the outbox is published and each of `handlers` has handled everything
/// delivered to it — the positive marker before checking that nothing more arrives.
async fn caught_up(bus: &Bus, store: &Store, handlers: &[&Arc<dyn Handler>]) {
    wait_for("the consumers to catch up", Duration::from_secs(60), || async {
        if unpublished(store).await != 0 {
            return false;
        }
        for handler in handlers {
            if bus.pending(handler.as_ref()).await.unwrap() != 0 {
                return false;
            }
        }
        true
    })
    .await;
}

fn recorder(name: &'static str) -> (Arc<dyn Handler>, Arc<AtomicBool>) {
    let failing = Arc::new(AtomicBool::new(false));
    (
        Arc::new(Recorder {
            name,
            failing: failing.clone(),
        }),
        failing,
    )
}

/// The broker is down while 1,000 changes commit; once it is back every consumer applies
/// every event exactly once, and a forced re-publication of everything changes nothing.
async fn outage_loses_and_doubles_nothing(db: Db, backend: BusBackend) {
    const CHANGES: usize = 1_000;
    let Some(setup) = setup(db, backend).await else {
        return;
    };
    let store = setup.db.store.clone();
    let down = Arc::new(AtomicBool::new(true));
    let refused = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let publisher = Arc::new(Switchable {
        inner: setup.bus.publisher(),
        down: down.clone(),
        refused: refused.clone(),
    });
    let (first, _) = recorder("first");
    let (second, _) = recorder("second");
    let shutdown = CancellationToken::new();
    let workers = setup
        .bus
        .start_workers_with(publisher, vec![first.clone(), second.clone()], shutdown.clone())
        .await
        .unwrap();

    commit_changes(&store, CHANGES).await;
    // The relay has tried to publish since every change committed, and was refused.
    let before = refused.load(Ordering::SeqCst);
    wait_for("a refused publication", Duration::from_secs(30), || async {
        refused.load(Ordering::SeqCst) > before
    })
    .await;
    assert_eq!(
        effects(&store, "first").await,
        (0, 0),
        "nothing is delivered while the broker is down"
    );
    let backlog = unpublished(&store).await;
    assert_eq!(backlog, CHANGES as i64, "every event waits in the outbox");

    down.store(false, Ordering::SeqCst);
    for consumer in ["first", "second"] {
        wait_for(consumer, Duration::from_secs(120), || async {
            effects(&store, consumer).await.0 >= CHANGES as i64
        })
        .await;
    }

    // Publish everything again, as a relay that crashed before recording its progress would.
    sqlx::query("UPDATE outbox SET published_at_ms = NULL")
        .execute(store.writer())
        .await
        .unwrap();
    caught_up(&setup.bus, &store, &[&first, &second]).await;
    workers.shutdown().await;
    for consumer in ["first", "second"] {
        assert_eq!(
            effects(&store, consumer).await,
            (CHANGES as i64, CHANGES as i64),
            "{consumer}: exactly once"
        );
    }
}

/// A handler that keeps failing dead-letters its events after `max_attempts`; once fixed, a
/// replay applies each exactly once.
async fn failing_handler_dead_letters_and_replays(db: Db, backend: BusBackend) {
    const EVENTS: usize = 5;
    let Some(setup) = setup(db, backend).await else {
        return;
    };
    let store = setup.db.store.clone();
    let (flaky, failing) = recorder("flaky");
    let (steady, _) = recorder("steady");
    failing.store(true, Ordering::SeqCst);
    let shutdown = CancellationToken::new();
    let workers = setup
        .bus
        .start_workers(vec![flaky.clone(), steady.clone()], shutdown.clone())
        .await
        .unwrap();

    commit_changes(&store, EVENTS).await;
    wait_for("dead letters", Duration::from_secs(60), || async {
        setup.bus.dead_letters(100).await.unwrap().len() >= EVENTS
    })
    .await;
    let letters = setup.bus.dead_letters(100).await.unwrap();
    assert_eq!(letters.len(), EVENTS);
    for letter in &letters {
        assert_eq!(letter.consumer, "flaky");
        assert_eq!(letter.topic, TallyChanged::TOPIC);
        assert_eq!(letter.attempts, 3);
        assert!(letter.last_error.contains("injected fault"), "{}", letter.last_error);
    }
    assert_eq!(effects(&store, "flaky").await, (0, 0));
    wait_for("steady consumer", Duration::from_secs(30), || async {
        effects(&store, "steady").await.0 >= EVENTS as i64
    })
    .await;

    failing.store(false, Ordering::SeqCst);
    let replayed = setup
        .bus
        .replay(&ReplayFilter {
            consumer: Some("flaky".into()),
            event_id: None,
        })
        .await
        .unwrap();
    assert_eq!(replayed, EVENTS);
    wait_for("replayed events", Duration::from_secs(30), || async {
        effects(&store, "flaky").await.0 >= EVENTS as i64
    })
    .await;
    caught_up(&setup.bus, &store, &[&flaky, &steady]).await;
    workers.shutdown().await;
    assert_eq!(effects(&store, "flaky").await, (EVENTS as i64, EVENTS as i64));
    assert_eq!(
        effects(&store, "steady").await,
        (EVENTS as i64, EVENTS as i64),
        "replay did not re-apply elsewhere"
    );
    assert!(setup.bus.dead_letters(100).await.unwrap().is_empty());
}

/// Workers stopped half-way and started again (as after a restart) finish the rest, and
/// nothing is applied twice.
async fn restart_resumes_without_loss(db: Db, backend: BusBackend) {
    const CHANGES: usize = 300;
    let Some(setup) = setup(db, backend).await else {
        return;
    };
    let store = setup.db.store.clone();
    commit_changes(&store, CHANGES).await;
    let (first, _) = recorder("first");
    let workers = setup
        .bus
        .start_workers(vec![first.clone()], CancellationToken::new())
        .await
        .unwrap();
    wait_for("some progress", Duration::from_secs(60), || async {
        effects(&store, "first").await.0 > 0
    })
    .await;
    workers.shutdown().await;
    let (partial, _) = effects(&store, "first").await;

    let workers = setup
        .bus
        .start_workers(vec![first.clone()], CancellationToken::new())
        .await
        .unwrap();
    wait_for("the rest", Duration::from_secs(60), || async {
        effects(&store, "first").await.0 >= CHANGES as i64
    })
    .await;
    caught_up(&setup.bus, &store, &[&first]).await;
    workers.shutdown().await;
    assert_eq!(
        effects(&store, "first").await,
        (CHANGES as i64, CHANGES as i64),
        "resumed after {partial}"
    );
}

/// Events handled in batches: one poison event among twenty committed before the consumer
/// starts (so they are leased together) dead-letters alone; the other nineteen apply once.
async fn a_poison_event_does_not_hold_back_its_batch(db: Db, backend: BusBackend) {
    const EVENTS: usize = 20;
    let Some(setup) = setup(db, backend).await else {
        return;
    };
    let store = setup.db.store.clone();
    commit_changes(&store, EVENTS).await;
    let shutdown = CancellationToken::new();
    let picky: Arc<dyn Handler> = Arc::new(Picky);
    let workers = setup
        .bus
        .start_workers(vec![picky.clone()], shutdown.clone())
        .await
        .unwrap();
    wait_for("the poison event dead-lettered", Duration::from_secs(60), || async {
        !setup.bus.dead_letters(100).await.unwrap().is_empty()
    })
    .await;
    wait_for("the others applied", Duration::from_secs(30), || async {
        effects(&store, "picky").await.0 >= EVENTS as i64 - 1
    })
    .await;
    caught_up(&setup.bus, &store, &[&picky]).await;
    workers.shutdown().await;
    assert_eq!(effects(&store, "picky").await, (EVENTS as i64 - 1, EVENTS as i64 - 1));
    let poisoned: i64 = sqlx::query("SELECT COUNT(*) FROM effects WHERE tally_id = 'tally-3'")
        .fetch_one(store.reader())
        .await
        .unwrap()
        .get(0);
    assert_eq!(poisoned, 0, "nothing of the failed event was kept");
    let letters = setup.bus.dead_letters(100).await.unwrap();
    assert_eq!(letters.len(), 1);
    assert!(letters[0].last_error.contains("cannot be handled"));
}

/// A handler that takes a lease's events together gets each event once, in the order they
/// were committed; on the in-process bus, events committed before it starts come together.
async fn a_batch_handler_gets_each_event_once_in_order(db: Db, backend: BusBackend) {
    const EVENTS: usize = 20;
    let Some(setup) = setup(db, backend).await else {
        return;
    };
    let store = setup.db.store.clone();
    commit_changes(&store, EVENTS).await;
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let together: Arc<dyn Handler> = Arc::new(Together { seen: seen.clone() });
    let shutdown = CancellationToken::new();
    let workers = setup
        .bus
        .start_workers(vec![together.clone()], shutdown.clone())
        .await
        .unwrap();
    wait_for("every event applied", Duration::from_secs(60), || async {
        effects(&store, "together").await.0 >= EVENTS as i64
    })
    .await;
    caught_up(&setup.bus, &store, &[&together]).await;
    workers.shutdown().await;
    assert_eq!(effects(&store, "together").await, (EVENTS as i64, EVENTS as i64));
    let batches = seen.lock().unwrap().clone();
    let order: Vec<String> = batches.iter().flatten().cloned().collect();
    let expected: Vec<String> = (0..EVENTS).map(|i| format!("tally-{i}")).collect();
    assert_eq!(order, expected);
    if let BusBackend::InProcess = backend {
        assert!(batches.iter().any(|b| b.len() > 1), "leased together: {batches:?}");
    }
}

macro_rules! matrix {
    ($($scenario:ident),* $(,)?) => {
        mod in_process_sqlite { $( #[tokio::test(flavor = "multi_thread", worker_threads = 2)] async fn $scenario() { super::$scenario(super::Db::Sqlite, warga_config::BusBackend::InProcess).await } )* }
        mod in_process_postgres { $( #[tokio::test(flavor = "multi_thread", worker_threads = 2)] async fn $scenario() { super::$scenario(super::Db::Postgres, warga_config::BusBackend::InProcess).await } )* }
        mod nats_sqlite { $( #[tokio::test(flavor = "multi_thread", worker_threads = 2)] async fn $scenario() { super::$scenario(super::Db::Sqlite, warga_config::BusBackend::Nats).await } )* }
        mod nats_postgres { $( #[tokio::test(flavor = "multi_thread", worker_threads = 2)] async fn $scenario() { super::$scenario(super::Db::Postgres, warga_config::BusBackend::Nats).await } )* }
    };
}

matrix!(
    outage_loses_and_doubles_nothing,
    a_poison_event_does_not_hold_back_its_batch,
    a_batch_handler_gets_each_event_once_in_order,
    failing_handler_dead_letters_and_replays,
    restart_resumes_without_loss
);

#[tokio::test]
async fn bad_consumer_names_and_topics_are_refused() {
    struct Bad(&'static str, &'static [&'static str]);
    #[async_trait::async_trait]
    impl Handler for Bad {
        fn name(&self) -> &'static str {
            self.0
        }
        fn topics(&self) -> &'static [&'static str] {
            self.1
        }
        async fn handle(&self, _: &mut Tx, _: &Envelope) -> Result<(), HandlerError> {
            Ok(())
        }
    }
    let db = TestDb::sqlite(&[]).await;
    let bus = Bus::connect(&BusConfig::default(), db.store.clone()).await.unwrap();
    let cases: Vec<Arc<dyn Handler>> = vec![
        Arc::new(Bad("Has Space", &["a.b"])),
        Arc::new(Bad("dots.bad", &["a.b"])),
        Arc::new(Bad("ok", &["a.*"])),
    ];
    for handler in cases {
        let name = handler.name();
        assert!(
            bus.start_workers(vec![handler], CancellationToken::new())
                .await
                .is_err(),
            "{name}"
        );
    }
}
