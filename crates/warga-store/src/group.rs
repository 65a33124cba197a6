//! Group commit on SQLite: concurrent write transactions share one SQLite transaction.
//!
//! SQLite has one writer, and each commit appends every page it dirtied to the WAL (and
//! now and then checkpoints the WAL into the database file): committing once per request
//! makes that one writer the platform's limit. Here each [`crate::Tx`] is a *member*: it
//! takes the group's lock (one member runs at a time, as with one connection), works inside
//! a savepoint of the shared transaction, and on commit releases its savepoint. If another
//! member is already waiting for the lock, the group stays open and passes on; the last
//! member in line (or the 64th) commits for all. Every member learns the outcome of the one
//! `COMMIT` that made its work durable before its own `commit` returns, so nothing is
//! acknowledged before it is stored. A member that fails or is dropped rolls back to its
//! savepoint, leaving the others' work in place.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use sqlx::pool::PoolConnection;
use sqlx::{Any, AnyPool, Executor};
use tokio::sync::{Mutex, OwnedMutexGuard, oneshot};

use crate::StoreError;

/// Members committed together at most.
const MAX_MEMBERS: usize = 64;

pub(crate) struct GroupCommit {
    state: Arc<Mutex<Group>>,
    /// Members waiting for the lock: while there are some, a finished member passes on.
    waiting: Arc<AtomicUsize>,
    writer: AnyPool,
    acquire_timeout: Duration,
}

#[derive(Default)]
pub(crate) struct Group {
    /// The writer connection while a shared transaction is open.
    conn: Option<PoolConnection<Any>>,
    /// Members whose work is in the open transaction, told the outcome of its commit.
    released: Vec<oneshot::Sender<Result<(), String>>>,
}

/// One member's hold on the group: the connection, inside its savepoint.
pub(crate) struct Member {
    guard: Option<OwnedMutexGuard<Group>>,
    waiting: Arc<AtomicUsize>,
    /// Its savepoint is open (what a rollback undoes).
    in_savepoint: bool,
}

impl GroupCommit {
    pub(crate) fn new(writer: AnyPool, acquire_timeout: Duration) -> Self {
        Self {
            state: Arc::new(Mutex::new(Group::default())),
            waiting: Arc::new(AtomicUsize::new(0)),
            writer,
            acquire_timeout,
        }
    }

    /// Joins the open transaction (or opens one) in a savepoint of its own.
    pub(crate) async fn begin(&self) -> Result<Member, StoreError> {
        let waiting = Waiting::new(self.waiting.clone(), self.state.clone());
        let locked = tokio::time::timeout(self.acquire_timeout, self.state.clone().lock_owned()).await;
        let Ok(guard) = locked else {
            return Err(StoreError::Unavailable(sqlx::Error::PoolTimedOut));
        };
        waiting.done();
        // From here the member owns the turn: a begin that fails or is cancelled ends it
        // through `finish` or the member's drop, so the group is never left open unattended.
        let mut member = Member {
            guard: Some(guard),
            waiting: self.waiting.clone(),
            in_savepoint: false,
        };
        if let Err(error) = self.start(&mut member).await {
            member.finish().await;
            return Err(error);
        }
        Ok(member)
    }

    async fn start(&self, member: &mut Member) -> Result<(), StoreError> {
        let Some(group) = member.guard.as_mut() else {
            return Err(StoreError::Unavailable(sqlx::Error::PoolClosed));
        };
        if group.conn.is_none() {
            let mut conn = match tokio::time::timeout(self.acquire_timeout, self.writer.acquire()).await {
                Ok(conn) => conn?,
                Err(_) => return Err(StoreError::Unavailable(sqlx::Error::PoolTimedOut)),
            };
            conn.execute("BEGIN").await?;
            group.conn = Some(conn);
        }
        if let Some(conn) = group.conn.as_mut() {
            conn.execute("SAVEPOINT warga_member").await?;
            member.in_savepoint = true;
        }
        Ok(())
    }
}

impl Member {
    pub(crate) fn conn(&mut self) -> &mut sqlx::AnyConnection {
        match self.guard.as_mut().and_then(|g| g.conn.as_mut()) {
            Some(conn) => conn,
            // A member holds the guard and its open connection from `begin` until it ends.
            None => unreachable!("a group member without its connection"),
        }
    }

    /// Releases this member's savepoint and waits until the shared transaction committed.
    /// The release and the commit run on a task of their own: a caller that stops waiting
    /// (a cancelled request) cannot leave the group half-way through its commit.
    pub(crate) async fn commit(mut self) -> Result<(), StoreError> {
        let (told, outcome) = oneshot::channel();
        let Some(mut guard) = self.guard.take() else {
            return Err(StoreError::Unavailable(sqlx::Error::PoolClosed));
        };
        let waiting = self.waiting.clone();
        tokio::spawn(async move {
            let released = match guard.conn.as_mut() {
                Some(conn) => conn.execute("RELEASE warga_member").await.map(|_| ()),
                None => Err(sqlx::Error::PoolClosed),
            };
            match released {
                Ok(()) => guard.released.push(told),
                Err(error) => {
                    roll_back_member(&mut guard).await;
                    let _ = told.send(Err(error.to_string()));
                }
            }
            pass_or_commit(guard, &waiting).await;
        });
        match outcome.await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(message)) => Err(StoreError::Unavailable(sqlx::Error::Protocol(message))),
            Err(_) => Err(StoreError::Unavailable(sqlx::Error::PoolClosed)),
        }
    }

    /// Undoes this member's work (its savepoint) and ends its turn.
    pub(crate) async fn rollback(mut self) -> Result<(), StoreError> {
        self.finish().await;
        Ok(())
    }

    /// Rolls this member back and ends its turn, on a task of its own (which may commit the
    /// group: a cancelled caller must not interrupt that).
    async fn finish(&mut self) {
        if let Some(mut guard) = self.guard.take() {
            let waiting = self.waiting.clone();
            let in_savepoint = self.in_savepoint;
            let _ = tokio::spawn(async move {
                if in_savepoint {
                    roll_back_member(&mut guard).await;
                }
                pass_or_commit(guard, &waiting).await;
            })
            .await;
        }
    }
}

impl Drop for Member {
    fn drop(&mut self) {
        // Dropped inside its turn (an error returned early, a cancelled request): its
        // savepoint is rolled back and the group passed on or committed, on the runtime.
        if let Some(mut guard) = self.guard.take() {
            let waiting = self.waiting.clone();
            let in_savepoint = self.in_savepoint;
            if let Ok(runtime) = tokio::runtime::Handle::try_current() {
                runtime.spawn(async move {
                    if in_savepoint {
                        roll_back_member(&mut guard).await;
                    }
                    pass_or_commit(guard, &waiting).await;
                });
            }
        }
    }
}

async fn roll_back_member(group: &mut Group) {
    let undone = match group.conn.as_mut() {
        Some(conn) => conn
            .execute("ROLLBACK TO warga_member; RELEASE warga_member")
            .await
            .map(|_| ()),
        None => Ok(()),
    };
    if let Err(error) = undone {
        // The shared transaction is no longer usable: every member in it fails.
        tracing::warn!(%error, "rolling a transaction back to its savepoint failed; the group's transaction is abandoned");
        abandon(group, &error.to_string()).await;
    }
}

/// Ends a member's turn: the next member in line continues the open transaction, or — when
/// none waits or the group is full — it commits and every member in it is told.
async fn pass_or_commit(mut group: OwnedMutexGuard<Group>, waiting: &AtomicUsize) {
    if group.conn.is_none() {
        return;
    }
    if waiting.load(Ordering::SeqCst) > 0 && group.released.len() < MAX_MEMBERS {
        return; // the guard passes to the next member
    }
    let outcome = match group.conn.as_mut() {
        Some(conn) => conn.execute("COMMIT").await.map(|_| ()).map_err(|e| e.to_string()),
        None => Ok(()),
    };
    if let Err(message) = &outcome {
        tracing::warn!(error = %message, members = group.released.len(), "a group commit failed");
        abandon(&mut group, message).await;
        return;
    }
    group.conn = None; // back to the pool
    for member in group.released.drain(..) {
        let _ = member.send(outcome.clone());
    }
}

/// Rolls the shared transaction back and fails every member in it.
async fn abandon(group: &mut Group, message: &str) {
    if let Some(mut conn) = group.conn.take() {
        let _ = conn.execute("ROLLBACK").await;
    }
    for member in group.released.drain(..) {
        let _ = member.send(Err(message.to_owned()));
    }
}

/// Counts a member waiting for the lock; one that gives up (timed out, cancelled) makes sure
/// the transaction it might have been passed is not left open.
struct Waiting {
    count: Arc<AtomicUsize>,
    state: Arc<Mutex<Group>>,
    done: bool,
}

impl Waiting {
    fn new(count: Arc<AtomicUsize>, state: Arc<Mutex<Group>>) -> Self {
        count.fetch_add(1, Ordering::SeqCst);
        Self {
            count,
            state,
            done: false,
        }
    }

    fn done(mut self) {
        self.count.fetch_sub(1, Ordering::SeqCst);
        self.done = true;
    }
}

impl Drop for Waiting {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        self.count.fetch_sub(1, Ordering::SeqCst);
        let state = self.state.clone();
        let count = self.count.clone();
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move {
                let group = state.lock_owned().await;
                pass_or_commit(group, &count).await;
            });
        }
    }
}
