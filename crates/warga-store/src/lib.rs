//! Relational storage for warga.
//!
//! One [`Store`] over two real engines through sqlx's `Any` driver: SQLite (the embedded
//! default, a WAL-mode file under `data_dir`) and PostgreSQL. SQL in warga is written once
//! in the subset the engines share — `$1` parameters, `BIGINT` milliseconds for time, `TEXT`
//! ids and JSON, `ON CONFLICT`, `RETURNING`, partial indexes — which is also the subset
//! CockroachDB speaks; only migrations (DDL) are written per engine.
//!
//! Invariants:
//! * every write happens in a [`Tx`]; an event appended with [`Tx::append_event`] commits
//!   or rolls back together with the change it describes (the transactional outbox);
//! * on SQLite all writes go through one connection (SQLite has one writer anyway; one
//!   connection avoids `SQLITE_BUSY` on lock upgrade) while reads use a pool;
//! * database errors are mapped in one place ([`StoreError::from`]): a missing row is
//!   `NotFound`, a unique violation is `Conflict`, a lost connection is `Unavailable`.

#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

pub mod audit;
mod error;
mod group;
mod metrics;
pub mod migrate;
#[cfg(feature = "testing")]
pub mod testing;

use std::path::Path;
use std::sync::{Arc, Once};
use std::time::Duration;

use sqlx::AnyConnection;
use sqlx::any::AnyPoolOptions;
use sqlx::{Any, AnyPool, Executor};
use tokio::sync::Notify;
use warga_config::Config;
use warga_core::{Envelope, Event};

pub use error::StoreError;
pub use migrate::{MigrationSet, MigrationStep};

/// The two engines warga runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn name(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }
}

/// Handle to the database; cheap to clone.
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

struct Inner {
    backend: Backend,
    writer: AnyPool,
    reader: AnyPool,
    /// Woken after a commit that appended events, so the relay publishes without waiting
    /// for its next poll.
    outbox_written: Notify,
    /// SQLite's write transactions, committed in groups ([`group`]).
    group: Option<group::GroupCommit>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("backend", &self.inner.backend)
            .finish_non_exhaustive()
    }
}

/// Connection settings independent of where they came from.
#[derive(Clone, Debug)]
pub struct ConnectOptions {
    pub max_connections: u32,
    pub acquire_timeout: Duration,
}

impl Default for ConnectOptions {
    fn default() -> Self {
        Self {
            max_connections: 16,
            acquire_timeout: Duration::from_secs(5),
        }
    }
}

static INSTALL_DRIVERS: Once = Once::new();

impl Store {
    /// Connects as configured: `database.url`, or SQLite at `data_dir/warga.db`.
    pub async fn connect(config: &Config) -> Result<Store, StoreError> {
        let options = ConnectOptions {
            max_connections: config.database.max_connections,
            acquire_timeout: Duration::from_millis(config.database.acquire_timeout_ms),
        };
        match &config.database.url {
            Some(url) => Store::connect_url(url.expose(), &options).await,
            None => {
                std::fs::create_dir_all(&config.data_dir).map_err(|e| {
                    StoreError::Config(format!("cannot create data_dir {}: {e}", config.data_dir.display()))
                })?;
                Store::connect_sqlite_file(&config.data_dir.join("warga.db"), &options).await
            }
        }
    }

    /// Opens (creating when missing) a SQLite database file.
    pub async fn connect_sqlite_file(path: &Path, options: &ConnectOptions) -> Result<Store, StoreError> {
        let url = format!("sqlite://{}?mode=rwc", path.display());
        Store::connect_url(&url, options).await
    }

    pub async fn connect_url(url: &str, options: &ConnectOptions) -> Result<Store, StoreError> {
        INSTALL_DRIVERS.call_once(sqlx::any::install_default_drivers);
        let backend = if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Backend::Postgres
        } else if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else {
            return Err(StoreError::Config(
                "database url must start with postgres:// or sqlite:".into(),
            ));
        };
        let (writer, reader) = match backend {
            Backend::Postgres => {
                let pool = AnyPoolOptions::new()
                    .max_connections(options.max_connections)
                    .acquire_timeout(options.acquire_timeout)
                    .connect(url)
                    .await?;
                (pool.clone(), pool)
            }
            Backend::Sqlite => {
                let writer = AnyPoolOptions::new()
                    .max_connections(1)
                    .acquire_timeout(options.acquire_timeout)
                    .after_connect(|conn, _| Box::pin(async move { sqlite_pragmas(conn, false).await }))
                    .connect(url)
                    .await?;
                let reader = AnyPoolOptions::new()
                    .max_connections(options.max_connections.max(2))
                    .acquire_timeout(options.acquire_timeout)
                    .after_connect(|conn, _| Box::pin(async move { sqlite_pragmas(conn, true).await }))
                    .connect(url)
                    .await?;
                (writer, reader)
            }
        };
        tracing::debug!(backend = backend.name(), "database connected");
        let group =
            (backend == Backend::Sqlite).then(|| group::GroupCommit::new(writer.clone(), options.acquire_timeout));
        Ok(Store {
            inner: Arc::new(Inner {
                backend,
                writer,
                reader,
                outbox_written: Notify::new(),
                group,
            }),
        })
    }

    pub fn backend(&self) -> Backend {
        self.inner.backend
    }

    /// Sets the pools' gauges (`warga_db_pool_connections`, `warga_db_pool_max_connections`):
    /// PostgreSQL's one pool as `main`, SQLite's as `writer` and `reader`.
    pub fn observe_pools(&self) {
        match self.inner.backend {
            Backend::Postgres => metrics::observe("main", &self.inner.writer),
            Backend::Sqlite => {
                metrics::observe("writer", &self.inner.writer);
                metrics::observe("reader", &self.inner.reader);
            }
        }
    }

    /// Pool for reads; on SQLite these connections are read-only.
    pub fn reader(&self) -> &AnyPool {
        &self.inner.reader
    }

    /// Pool for single-statement writes outside a [`Tx`].
    pub fn writer(&self) -> &AnyPool {
        &self.inner.writer
    }

    /// Starts a write transaction (on SQLite, a member of a group commit: its `commit`
    /// returns once the group's transaction, holding its work, committed).
    pub async fn begin(&self) -> Result<Tx, StoreError> {
        let inner = match &self.inner.group {
            Some(group) => TxConn::Member(group.begin().await?),
            None => TxConn::Own(self.inner.writer.begin().await?),
        };
        Ok(Tx {
            inner,
            events_appended: 0,
            store: self.clone(),
        })
    }

    /// Commits `writes` together, in one round trip to the database where the engine
    /// allows (see [`Writes`]), and wakes the relay when they appended events.
    pub async fn commit_writes(&self, writes: Writes<'_>) -> Result<(), StoreError> {
        if writes.statements.is_empty() {
            return Ok(());
        }
        let events = writes.events;
        match self.backend() {
            Backend::Postgres => {
                let (sql, arguments) = combine(writes.statements, true)?;
                sqlx::query_with(&sql, arguments).execute(&self.inner.writer).await?;
                if events > 0 {
                    self.notify_outbox_written();
                }
            }
            Backend::Sqlite => {
                let mut tx = self.begin().await?;
                tx.write(writes).await?;
                tx.commit().await?;
            }
        }
        Ok(())
    }

    /// Applies every pending migration of `sets` (warga's own outbox tables first).
    pub async fn migrate(&self, sets: &[MigrationSet]) -> Result<(), StoreError> {
        migrate::run(self, sets).await
    }

    /// A round trip to the database, bounded by `timeout`; used by `/readyz`.
    /// Writes a consistent copy of a SQLite database to `path` (`VACUUM INTO`: one read
    /// transaction's snapshot, taken while others write, compacted). PostgreSQL has its own
    /// tools for this (`pg_basebackup`, `pg_dump`): refused there.
    pub async fn copy_into(&self, path: &Path) -> Result<(), StoreError> {
        if self.inner.backend != Backend::Sqlite {
            return Err(StoreError::Config(
                "a PostgreSQL database is backed up with pg_basebackup or pg_dump, not by warga".into(),
            ));
        }
        let target = path
            .to_str()
            .ok_or_else(|| StoreError::Config(format!("{} is not UTF-8", path.display())))?;
        // A reader's connection, taken out of the pool: readers are `query_only`, which
        // VACUUM INTO (it writes the copy) needs off; this connection is closed after.
        let mut conn = self.inner.reader.acquire().await?.detach();
        conn.execute("PRAGMA query_only = OFF").await?;
        let copied = sqlx::query("VACUUM INTO ?")
            .bind(target.to_owned())
            .execute(&mut conn)
            .await;
        let _ = sqlx::Connection::close(conn).await;
        copied?;
        Ok(())
    }

    pub async fn ping(&self, timeout: Duration) -> Result<(), StoreError> {
        let probe = async {
            let mut conn = self.inner.writer.acquire().await?;
            conn.execute("SELECT 1").await?;
            Ok::<(), StoreError>(())
        };
        match tokio::time::timeout(timeout, probe).await {
            Ok(result) => result,
            Err(_) => Err(StoreError::Unavailable(sqlx::Error::PoolTimedOut)),
        }
    }

    /// Waits until some transaction that appended events commits (or returns at once when
    /// one committed since the last wait). Meant for the one relay of a process.
    pub async fn outbox_written(&self) {
        self.inner.outbox_written.notified().await;
    }

    /// Wakes whoever waits in [`Store::outbox_written`].
    pub fn notify_outbox_written(&self) {
        self.inner.outbox_written.notify_one();
    }

    /// Closes both pools; later calls fail with `Unavailable`.
    pub async fn close(&self) {
        self.inner.writer.close().await;
        self.inner.reader.close().await;
    }
}

async fn sqlite_pragmas(conn: &mut AnyConnection, read_only: bool) -> Result<(), sqlx::Error> {
    conn.execute("PRAGMA journal_mode = WAL").await?;
    conn.execute("PRAGMA synchronous = NORMAL").await?;
    conn.execute("PRAGMA busy_timeout = 5000").await?;
    conn.execute("PRAGMA foreign_keys = ON").await?;
    if read_only {
        conn.execute("PRAGMA query_only = ON").await?;
    }
    Ok(())
}

/// A statement with its parameters bound to owned values, for [`Tx::execute_all`].
pub type Statement = Query<'static>;

/// A statement whose SQL or parameters may borrow, for [`Tx::execute_all`] and [`Writes`].
pub type Query<'q> = sqlx::query::Query<'q, Any, sqlx::any::AnyArguments<'q>>;

/// Writes that need no answer and do not depend on one another, committed together by
/// [`Store::commit_writes`] in one round trip: on PostgreSQL as one statement (each write a
/// data-modifying `WITH` part) that is atomic on its own, with no `BEGIN` or `COMMIT`; on
/// SQLite as a member of the group commit. On PostgreSQL all parts run on one snapshot, so
/// no write may read what another wrote, and no row may be written by two of them.
#[derive(Default)]
pub struct Writes<'q> {
    statements: Vec<Query<'q>>,
    events: usize,
}

impl<'q> Writes<'q> {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn push(&mut self, statement: Query<'q>) {
        self.statements.push(statement);
    }

    /// Appends a typed event to the outbox, carrying the current trace.
    pub fn event<E: Event>(&mut self, event: &E) -> Envelope {
        let envelope = envelope_now(event);
        self.envelope(&envelope);
        envelope
    }

    /// Appends a prepared envelope to the outbox.
    pub fn envelope(&mut self, envelope: &Envelope) {
        self.statements.push(outbox_insert(envelope));
        self.events += 1;
    }

    /// Appends an audit record.
    pub fn audit(&mut self, record: &audit::AuditRecord<'_>) {
        self.statements.push(audit::insert(record));
    }
}

/// `event` in an envelope of now, carrying the current trace.
fn envelope_now<E: Event>(event: &E) -> Envelope {
    Envelope::new(
        event,
        warga_core::time::now_ms(),
        warga_telemetry::current_traceparent(),
    )
}

/// The outbox row of `envelope`.
fn outbox_insert<'q>(envelope: &Envelope) -> Query<'q> {
    sqlx::query(
        "INSERT INTO outbox (event_id, topic, version, payload, traceparent, occurred_at_ms) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(envelope.id.as_str().to_owned())
    .bind(envelope.topic.clone())
    .bind(i64::from(envelope.version))
    .bind(envelope.payload.to_string())
    .bind(envelope.traceparent.clone())
    .bind(envelope.occurred_at_ms)
}

/// `statements` as one SQL text with their parameters renumbered in turn: joined by `;`
/// (SQLite runs them in order), or as the parts of one PostgreSQL statement.
fn combine<'q>(statements: Vec<Query<'q>>, as_one: bool) -> Result<(String, sqlx::any::AnyArguments<'q>), StoreError> {
    use sqlx::Execute as _;
    let mut sql = String::new();
    let mut arguments = sqlx::any::AnyArguments::default();
    let parts = statements.len();
    for (i, mut statement) in statements.into_iter().enumerate() {
        let offset = arguments.values.0.len();
        let own = renumber(statement.sql(), offset);
        if !as_one {
            sql.push_str(&own);
            sql.push_str(";\n");
        } else if parts == 1 {
            sql.push_str(&own);
        } else {
            sql.push_str(if i == 0 { "WITH " } else { ", " });
            sql.push_str(&format!("w{i} AS ({own})"));
        }
        if let Some(mut own) = statement
            .take_arguments()
            .map_err(|e| StoreError::from(sqlx::Error::Encode(e)))?
        {
            arguments.values.0.append(&mut own.values.0);
        }
    }
    if as_one && parts > 1 {
        sql.push_str(" SELECT 1");
    }
    Ok((sql, arguments))
}

/// `sql` with every `$n` parameter outside quotes raised by `offset`.
fn renumber(sql: &str, offset: usize) -> String {
    if offset == 0 {
        return sql.to_owned();
    }
    let mut out = String::with_capacity(sql.len() + 8);
    let mut chars = sql.chars().peekable();
    let mut quote: Option<char> = None;
    while let Some(c) = chars.next() {
        match quote {
            Some(q) => {
                out.push(c);
                if c == q {
                    quote = None;
                }
            }
            None if c == '\'' || c == '"' => {
                quote = Some(c);
                out.push(c);
            }
            None if c == '$' && chars.peek().is_some_and(char::is_ascii_digit) => {
                let mut n = 0usize;
                while let Some(d) = chars.peek().and_then(|d| d.to_digit(10)) {
                    n = n * 10 + d as usize;
                    chars.next();
                }
                out.push('$');
                out.push_str(&(n + offset).to_string());
            }
            None => out.push(c),
        }
    }
    out
}

/// A transaction of its own (PostgreSQL), or a member of SQLite's group commit.
enum TxConn {
    Own(sqlx::Transaction<'static, Any>),
    Member(group::Member),
}

/// A write transaction. Dropping it without [`Tx::commit`] rolls back.
pub struct Tx {
    inner: TxConn,
    events_appended: usize,
    store: Store,
}

impl Tx {
    /// The connection to run statements on: `query(..).execute(tx.conn())`.
    pub fn conn(&mut self) -> &mut AnyConnection {
        match &mut self.inner {
            TxConn::Own(tx) => tx,
            TxConn::Member(member) => member.conn(),
        }
    }

    pub fn backend(&self) -> Backend {
        self.store.backend()
    }

    /// Appends a typed event to the outbox in this transaction, carrying the current trace.
    pub async fn append_event<E: Event>(&mut self, event: &E) -> Result<Envelope, StoreError> {
        let envelope = envelope_now(event);
        self.append_envelope(&envelope).await?;
        Ok(envelope)
    }

    /// Appends a prepared envelope to the outbox in this transaction.
    pub async fn append_envelope(&mut self, envelope: &Envelope) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO outbox (event_id, topic, version, payload, traceparent, occurred_at_ms) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(envelope.id.as_str())
        .bind(&envelope.topic)
        .bind(i64::from(envelope.version))
        .bind(envelope.payload.to_string())
        .bind(envelope.traceparent.as_deref())
        .bind(envelope.occurred_at_ms)
        .execute(self.conn())
        .await?;
        self.events_appended += 1;
        Ok(())
    }

    /// Appends an audit record in this transaction.
    pub async fn audit(&mut self, record: &audit::AuditRecord<'_>) -> Result<(), StoreError> {
        audit::append(self.conn(), record).await
    }

    /// The insert that [`Tx::append_event`] runs, for [`Tx::execute_all`].
    pub fn event_insert<E: Event>(&mut self, event: &E) -> Statement {
        let envelope = envelope_now(event);
        self.envelope_insert(&envelope)
    }

    /// The insert that [`Tx::append_envelope`] runs, for [`Tx::execute_all`]; the envelope
    /// counts as appended (the relay is woken after the commit).
    pub fn envelope_insert(&mut self, envelope: &Envelope) -> Statement {
        self.events_appended += 1;
        outbox_insert(envelope)
    }

    /// Runs `statements` in order, in one round trip to SQLite's connection thread (one
    /// multi-statement query whose parameters are renumbered); PostgreSQL runs them one by
    /// one. For a transaction's writes that need no answer: each hop to the single SQLite
    /// writer is time the writer is held while the task waits to be scheduled again.
    /// Statements are warga's own SQL (`$n` parameters, no `$` inside literals).
    pub async fn execute_all(&mut self, statements: Vec<Query<'_>>) -> Result<(), StoreError> {
        match self.backend() {
            Backend::Postgres => {
                for statement in statements {
                    statement.execute(self.conn()).await?;
                }
            }
            Backend::Sqlite => {
                let (sql, arguments) = combine(statements, false)?;
                sqlx::query_with(&sql, arguments).execute(self.conn()).await?;
            }
        }
        Ok(())
    }

    /// Runs `writes` in this transaction (in order, as [`Tx::execute_all`]); their events
    /// count as appended.
    pub async fn write(&mut self, writes: Writes<'_>) -> Result<(), StoreError> {
        self.events_appended += writes.events;
        self.execute_all(writes.statements).await
    }

    pub async fn commit(self) -> Result<(), StoreError> {
        let Tx {
            inner,
            events_appended,
            store,
        } = self;
        match inner {
            TxConn::Own(tx) => tx.commit().await?,
            TxConn::Member(member) => member.commit().await?,
        }
        if events_appended > 0 {
            store.notify_outbox_written();
        }
        Ok(())
    }

    pub async fn rollback(self) -> Result<(), StoreError> {
        match self.inner {
            TxConn::Own(tx) => tx.rollback().await?,
            TxConn::Member(member) => member.rollback().await?,
        }
        Ok(())
    }
}
