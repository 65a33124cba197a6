//! The store behaviour suite: every scenario runs against SQLite and, when
//! `WARGA_TEST_POSTGRES_URL` is set, PostgreSQL.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use sqlx::Row;
use warga_core::Event;
use warga_store::testing::TestDb;
use warga_store::{MigrationSet, MigrationStep, Store, StoreError, Writes};

const NOTES_SQL: &str = "CREATE TABLE notes (id TEXT PRIMARY KEY, body TEXT NOT NULL, n BIGINT NOT NULL)";
const NOTES: MigrationSet = MigrationSet {
    owner: "behaviour-test",
    sqlite: &[MigrationStep {
        version: 2026010101,
        description: "notes",
        sql: NOTES_SQL,
    }],
    postgres: &[MigrationStep {
        version: 2026010101,
        description: "notes",
        sql: NOTES_SQL,
    }],
};

#[derive(Serialize, Deserialize)]
struct NoteWritten {
    id: String,
}
impl Event for NoteWritten {
    const TOPIC: &'static str = "test.note.written";
    const VERSION: u32 = 1;
}

async fn count(store: &Store, sql: &'static str) -> i64 {
    sqlx::query(sql)
        .fetch_one(store.reader())
        .await
        .unwrap()
        .get::<i64, _>(0)
}

async fn insert_note(store: &Store, id: &str, body: &str) -> Result<(), StoreError> {
    let mut tx = store.begin().await?;
    sqlx::query("INSERT INTO notes (id, body, n) VALUES ($1, $2, $3)")
        .bind(id)
        .bind(body)
        .bind(1_i64)
        .execute(tx.conn())
        .await?;
    tx.append_event(&NoteWritten { id: id.into() }).await?;
    tx.commit().await
}

async fn migrations_are_idempotent(store: &Store) {
    store.migrate(&[NOTES]).await.unwrap();
    store.migrate(&[NOTES]).await.unwrap();
    assert_eq!(count(store, "SELECT COUNT(*) FROM notes").await, 0);
}

async fn outbox_commits_with_the_change(store: &Store) {
    insert_note(store, "a", "first").await.unwrap();
    let row = sqlx::query("SELECT topic, version, payload, published_at_ms FROM outbox")
        .fetch_one(store.reader())
        .await
        .unwrap();
    assert_eq!(row.get::<String, _>(0), "test.note.written");
    assert_eq!(row.get::<i64, _>(1), 1);
    assert_eq!(row.get::<String, _>(2), r#"{"id":"a"}"#);
    assert_eq!(row.get::<Option<i64>, _>(3), None);
}

async fn rollback_leaves_neither_change_nor_event(store: &Store) {
    let mut tx = store.begin().await.unwrap();
    sqlx::query("INSERT INTO notes (id, body, n) VALUES ($1, $2, 1)")
        .bind("b")
        .bind("x")
        .execute(tx.conn())
        .await
        .unwrap();
    tx.append_event(&NoteWritten { id: "b".into() }).await.unwrap();
    tx.rollback().await.unwrap();
    // Dropping an uncommitted transaction rolls back too.
    {
        let mut tx = store.begin().await.unwrap();
        tx.append_event(&NoteWritten { id: "c".into() }).await.unwrap();
    }
    assert_eq!(count(store, "SELECT COUNT(*) FROM notes").await, 0);
    assert_eq!(count(store, "SELECT COUNT(*) FROM outbox").await, 0);
}

async fn unique_violation_is_conflict_and_writes_nothing(store: &Store) {
    insert_note(store, "dup", "one").await.unwrap();
    let err = insert_note(store, "dup", "two").await.unwrap_err();
    assert!(matches!(err, StoreError::Conflict { .. }), "{err:?}");
    assert_eq!(
        count(store, "SELECT COUNT(*) FROM outbox").await,
        1,
        "the failed write appended no event"
    );
}

async fn missing_row_is_not_found(store: &Store) {
    let result = sqlx::query("SELECT body FROM notes WHERE id = $1")
        .bind("nope")
        .fetch_one(store.reader())
        .await;
    let err = StoreError::from(result.err().expect("no row"));
    assert!(matches!(err, StoreError::NotFound), "{err:?}");
}

async fn concurrent_writers_all_commit(store: &Store) {
    let tasks: Vec<_> = (0..50)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(async move { insert_note(&store, &format!("n{i}"), "x").await })
        })
        .collect();
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    assert_eq!(count(store, "SELECT COUNT(*) FROM notes").await, 50);
    assert_eq!(count(store, "SELECT COUNT(*) FROM outbox").await, 50);
    let distinct = count(store, "SELECT COUNT(DISTINCT seq) FROM outbox").await;
    assert_eq!(distinct, 50, "every event has its own sequence number");
}

async fn text_round_trips_exactly(store: &Store) {
    let body = format!("Jalan rusak di Kelurahan Menteng — “parah” 🚧 {}", "x".repeat(100_000));
    insert_note(store, "u", &body).await.unwrap();
    let back: String = sqlx::query("SELECT body FROM notes WHERE id = $1")
        .bind("u")
        .fetch_one(store.reader())
        .await
        .unwrap()
        .get(0);
    assert_eq!(back, body);
}

async fn numbered_parameters_can_repeat(store: &Store) {
    let row = sqlx::query("SELECT $1 + $1, $2")
        .bind(20_i64)
        .bind("dua")
        .fetch_one(store.reader())
        .await
        .unwrap();
    assert_eq!(row.get::<i64, _>(0), 40);
    assert_eq!(row.get::<String, _>(1), "dua");
}

async fn commit_with_events_wakes_the_relay(store: &Store) {
    // A wake-up stored by an earlier commit is taken first (a timeout of zero polls once),
    // so the one seen below can only come from this commit.
    let _ = tokio::time::timeout(Duration::ZERO, store.outbox_written()).await;
    assert!(
        tokio::time::timeout(Duration::ZERO, store.outbox_written())
            .await
            .is_err(),
        "no wake-up without a commit"
    );
    let woken = store.outbox_written();
    insert_note(store, "w", "wake").await.unwrap();
    tokio::time::timeout(Duration::from_secs(5), woken)
        .await
        .expect("woken");
}

/// Several statements in one call: each sees its own parameters (renumbered on SQLite, a
/// literal `$1` left alone), in order, with the event counted as appended.
async fn statements_run_together_in_order(store: &Store) {
    let mut tx = store.begin().await.unwrap();
    let note = |id: &str, body: &str, n: i64| {
        sqlx::query("INSERT INTO notes (id, body, n) VALUES ($1, $2, $3)")
            .bind(id.to_owned())
            .bind(body.to_owned())
            .bind(n)
    };
    let envelope = warga_core::Envelope::new(&NoteWritten { id: "t1".into() }, 1, None);
    let event = tx.envelope_insert(&envelope);
    tx.execute_all(vec![
        note("t1", "costs $1", 1),
        note("t2", "kedua", 2),
        // Reads the rows written before it in the same call.
        sqlx::query("UPDATE notes SET n = n + $1 WHERE id IN ($2, $3)")
            .bind(10_i64)
            .bind("t1".to_owned())
            .bind("t2".to_owned()),
        event,
    ])
    .await
    .unwrap();
    tx.commit().await.unwrap();
    let rows = sqlx::query("SELECT id, body, n FROM notes WHERE id IN ('t1', 't2') ORDER BY id")
        .fetch_all(store.reader())
        .await
        .unwrap();
    let rows: Vec<(String, String, i64)> = rows.iter().map(|r| (r.get(0), r.get(1), r.get(2))).collect();
    assert_eq!(
        rows,
        [("t1".into(), "costs $1".into(), 11), ("t2".into(), "kedua".into(), 12)]
    );
    assert_eq!(
        count(store, "SELECT COUNT(*) FROM outbox WHERE topic = 'test.note.written'").await,
        1
    );
}

/// A statement of the batch that fails fails the call, and the transaction rolled back
/// leaves none of them.
async fn a_failing_statement_fails_them_all(store: &Store) {
    insert_note(store, "dup", "first").await.unwrap();
    let mut tx = store.begin().await.unwrap();
    let err = tx
        .execute_all(vec![
            sqlx::query("INSERT INTO notes (id, body, n) VALUES ($1, 'x', 1)").bind("fresh".to_owned()),
            sqlx::query("INSERT INTO notes (id, body, n) VALUES ($1, 'x', 1)").bind("dup".to_owned()),
        ])
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Conflict { .. }), "{err:?}");
    drop(tx);
    assert_eq!(count(store, "SELECT COUNT(*) FROM notes WHERE id = 'fresh'").await, 0);
}

/// Independent writes committed together (on PostgreSQL one statement, no transaction):
/// every one lands, each with its own parameters, the event wakes the relay, and the audit
/// record is there.
async fn writes_commit_together(store: &Store) {
    let _ = tokio::time::timeout(Duration::ZERO, store.outbox_written()).await;
    let mut writes = Writes::new();
    let body = String::from("costs $1");
    writes.push(
        sqlx::query("INSERT INTO notes (id, body, n) VALUES ($1, $2, $3)")
            .bind("c1")
            .bind(body.as_str())
            .bind(1_i64),
    );
    writes.push(
        sqlx::query("INSERT INTO notes (id, body, n) VALUES ($1, 'dua', $2)")
            .bind("c2")
            .bind(2_i64),
    );
    writes.audit(&warga_store::audit::AuditRecord {
        actor: "system:test",
        action: "test.note.write",
        target: "note:c1",
        outcome: warga_store::audit::Outcome::Success,
        details: None,
    });
    let envelope = writes.event(&NoteWritten { id: "c1".into() });
    let woken = store.outbox_written();
    store.commit_writes(writes).await.unwrap();
    tokio::time::timeout(Duration::from_secs(5), woken)
        .await
        .expect("woken");
    let rows = sqlx::query("SELECT id, body, n FROM notes WHERE id IN ('c1', 'c2') ORDER BY id")
        .fetch_all(store.reader())
        .await
        .unwrap();
    let rows: Vec<(String, String, i64)> = rows.iter().map(|r| (r.get(0), r.get(1), r.get(2))).collect();
    assert_eq!(
        rows,
        [("c1".into(), "costs $1".into(), 1), ("c2".into(), "dua".into(), 2)]
    );
    let events = sqlx::query("SELECT COUNT(*) FROM outbox WHERE event_id = $1")
        .bind(envelope.id.as_str())
        .fetch_one(store.reader())
        .await
        .unwrap()
        .get::<i64, _>(0);
    assert_eq!(events, 1);
    assert_eq!(
        count(store, "SELECT COUNT(*) FROM audit_log WHERE action = 'test.note.write'").await,
        1
    );
}

/// Writes committed together are all or nothing: one conflict leaves none of them, and the
/// error is the conflict.
async fn writes_fail_together(store: &Store) {
    insert_note(store, "taken", "first").await.unwrap();
    let mut writes = Writes::new();
    writes.push(sqlx::query("INSERT INTO notes (id, body, n) VALUES ($1, 'x', 1)").bind("free"));
    writes.event(&NoteWritten { id: "free".into() });
    writes.push(sqlx::query("INSERT INTO notes (id, body, n) VALUES ($1, 'x', 1)").bind("taken"));
    let err = store.commit_writes(writes).await.unwrap_err();
    assert!(matches!(err, StoreError::Conflict { .. }), "{err:?}");
    assert_eq!(count(store, "SELECT COUNT(*) FROM notes WHERE id = 'free'").await, 0);
    assert_eq!(
        count(store, "SELECT COUNT(*) FROM outbox WHERE payload LIKE '%free%'").await,
        0
    );
    // The same writes in a transaction fail alike.
    let mut tx = store.begin().await.unwrap();
    let mut writes = Writes::new();
    writes.push(sqlx::query("INSERT INTO notes (id, body, n) VALUES ($1, 'x', 1)").bind("taken"));
    assert!(matches!(tx.write(writes).await, Err(StoreError::Conflict { .. })));
}

/// Many transactions at once (on SQLite, members of group commits): every committed one is
/// stored and readable when its commit returns; one that fails or is dropped leaves nothing
/// and does not take the others with it.
async fn concurrent_transactions_commit_or_fail_alone(store: &Store) {
    let tasks: Vec<_> = (0..120)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(async move {
                let id = format!("g{i}");
                let mut tx = store.begin().await.unwrap();
                sqlx::query("INSERT INTO notes (id, body, n) VALUES ($1, 'g', $2)")
                    .bind(&id)
                    .bind(i as i64)
                    .execute(tx.conn())
                    .await
                    .unwrap();
                match i % 3 {
                    // Committed: readable from another connection as soon as commit returns.
                    0 => {
                        tx.commit().await.unwrap();
                        let seen = sqlx::query("SELECT COUNT(*) FROM notes WHERE id = $1")
                            .bind(&id)
                            .fetch_one(store.reader())
                            .await
                            .unwrap()
                            .get::<i64, _>(0);
                        assert_eq!(seen, 1, "{id} committed but not readable");
                    }
                    // A failing statement, then dropped (an early return with `?`).
                    1 => {
                        let err = sqlx::query("INSERT INTO notes (id, body, n) VALUES ($1, 'again', 0)")
                            .bind(&id)
                            .execute(tx.conn())
                            .await
                            .unwrap_err();
                        assert!(matches!(StoreError::from(err), StoreError::Conflict { .. }));
                        drop(tx);
                    }
                    // Rolled back explicitly.
                    _ => tx.rollback().await.unwrap(),
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    assert_eq!(count(store, "SELECT COUNT(*) FROM notes WHERE body = 'g'").await, 40);
    assert_eq!(
        count(store, "SELECT COUNT(*) FROM notes WHERE body = 'g' AND n % 3 <> 0").await,
        0
    );
    // The writer is free again: a later transaction commits on its own.
    insert_note(store, "after", "x").await.unwrap();
}

/// A transaction that gives up waiting for the writer (its caller cancelled) leaves the one
/// holding it free to commit, and the writer free afterwards.
async fn a_cancelled_begin_strands_nothing(store: &Store) {
    let mut tx = store.begin().await.unwrap();
    sqlx::query("INSERT INTO notes (id, body, n) VALUES ('held', 'x', 1)")
        .execute(tx.conn())
        .await
        .unwrap();
    if store.backend() == warga_store::Backend::Sqlite {
        // The writer is held by `tx`: this one waits, and is cancelled while waiting.
        let gave_up = tokio::time::timeout(Duration::from_millis(20), store.begin()).await;
        assert!(gave_up.is_err(), "a second writer got in while the first held it");
    }
    tx.commit().await.unwrap();
    assert_eq!(count(store, "SELECT COUNT(*) FROM notes WHERE id = 'held'").await, 1);
    insert_note(store, "next", "x").await.unwrap();
}

async fn ping_fails_once_closed(store: &Store) {
    store.ping(Duration::from_secs(2)).await.unwrap();
    store.close().await;
    let err = store.ping(Duration::from_secs(2)).await.unwrap_err();
    assert!(err.is_unavailable(), "{err:?}");
}

macro_rules! behaviour_suite {
    ($($scenario:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test]
                async fn $scenario() {
                    let db = warga_store::testing::TestDb::sqlite(&[super::NOTES]).await;
                    super::$scenario(&db.store).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test]
                async fn $scenario() {
                    let Some(db) = warga_store::testing::TestDb::postgres(&[super::NOTES]).await else { return };
                    super::$scenario(&db.store).await;
                }
            )*
        }
    };
}

behaviour_suite!(
    migrations_are_idempotent,
    outbox_commits_with_the_change,
    rollback_leaves_neither_change_nor_event,
    unique_violation_is_conflict_and_writes_nothing,
    missing_row_is_not_found,
    concurrent_writers_all_commit,
    text_round_trips_exactly,
    numbered_parameters_can_repeat,
    commit_with_events_wakes_the_relay,
    statements_run_together_in_order,
    a_failing_statement_fails_them_all,
    writes_commit_together,
    writes_fail_together,
    concurrent_transactions_commit_or_fail_alone,
    a_cancelled_begin_strands_nothing,
    ping_fails_once_closed,
);

#[tokio::test]
async fn sqlite_database_is_in_wal_mode() {
    let db = TestDb::sqlite(&[NOTES]).await;
    let mode: String = sqlx::query("PRAGMA journal_mode")
        .fetch_one(db.store.reader())
        .await
        .unwrap()
        .get(0);
    assert_eq!(mode, "wal");
}

#[test]
fn migration_plan_refuses_duplicate_versions_and_engine_drift() {
    let drift = MigrationSet {
        owner: "drift",
        sqlite: NOTES.sqlite,
        postgres: &[],
    };
    assert!(warga_store::migrate::plan(warga_store::Backend::Sqlite, &[drift]).is_err());
    let twice = MigrationSet {
        owner: "twice",
        ..NOTES
    };
    assert!(warga_store::migrate::plan(warga_store::Backend::Sqlite, &[NOTES, twice]).is_err());
    let plan = warga_store::migrate::plan(warga_store::Backend::Postgres, &[NOTES]).unwrap();
    assert_eq!(
        plan.iter().map(|s| s.version).collect::<Vec<_>>(),
        vec![2026010101, 2026112201, 2026112202, 2026120204]
    );
}

#[tokio::test]
async fn audit_records_commit_with_their_change_and_are_queryable() {
    use warga_store::audit::{AuditQuery, AuditRecord, Outcome, query, record_alone};
    let db = TestDb::sqlite(&[NOTES]).await;
    let store = &db.store;
    let record = |target: &'static str| AuditRecord {
        actor: "user:1",
        action: "test.note.create",
        target,
        outcome: Outcome::Success,
        details: Some(serde_json::json!({"reason": "test"})),
    };
    let mut tx = store.begin().await.unwrap();
    tx.audit(&record("note:a")).await.unwrap();
    tx.rollback().await.unwrap();
    let mut tx = store.begin().await.unwrap();
    tx.audit(&record("note:b")).await.unwrap();
    tx.commit().await.unwrap();
    record_alone(
        store,
        &AuditRecord {
            actor: "anonymous",
            outcome: Outcome::Denied,
            ..record("note:c")
        },
    )
    .await
    .unwrap();

    let all = query(
        store,
        &AuditQuery {
            limit: 100,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let targets: Vec<_> = all.iter().map(|e| e.target.as_str()).collect();
    assert_eq!(
        targets,
        vec!["note:b", "note:c"],
        "the rolled-back change left no record"
    );
    assert_eq!(all[0].details.as_ref().unwrap()["reason"], "test");
    let denied = query(
        store,
        &AuditQuery {
            actor: Some("anonymous".into()),
            limit: 100,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(denied.len(), 1);
    assert_eq!(denied[0].outcome, "denied");
    let page = query(
        store,
        &AuditQuery {
            after_seq: Some(all[0].seq),
            limit: 100,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(page.len(), 1, "paging by sequence");
}
