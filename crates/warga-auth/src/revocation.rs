//! Access tokens revoked before they expire.
//!
//! Revocation writes a row; every process keeps the set of revoked token ids in memory and
//! reads new rows at most once a second, so a revocation takes effect everywhere within a
//! second and costs a validation nothing in between. Rows go when their token has expired.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use sqlx::Row;
use tokio::sync::Mutex;
use warga_store::{Store, StoreError, Tx};

use crate::AuthError;

const POLL_INTERVAL: Duration = Duration::from_secs(1);

struct Seen {
    /// jti → expiry (ms).
    revoked: HashMap<String, i64>,
    /// Highest `revoked_at_ms` read so far.
    high_water_ms: i64,
    polled_at: Option<Instant>,
}

#[derive(Clone)]
pub struct Revocations {
    store: Store,
    seen: Arc<Mutex<Seen>>,
}

impl Revocations {
    pub fn new(store: Store) -> Self {
        Self {
            store,
            seen: Arc::new(Mutex::new(Seen {
                revoked: HashMap::new(),
                high_water_ms: 0,
                polled_at: None,
            })),
        }
    }

    /// Records the revocation of token `jti` (expiring at `expires_at` seconds) in `tx`.
    pub async fn revoke(&self, tx: &mut Tx, jti: &str, expires_at: i64) -> Result<(), AuthError> {
        let now = warga_core::time::now_ms();
        sqlx::query(
            "INSERT INTO auth_revoked_tokens (jti, expires_at_ms, revoked_at_ms) VALUES ($1, $2, $3) \
             ON CONFLICT (jti) DO NOTHING",
        )
        .bind(jti)
        .bind(expires_at * 1000)
        .bind(now)
        .execute(tx.conn())
        .await
        .map_err(StoreError::from)?;
        self.seen.lock().await.revoked.insert(jti.to_owned(), expires_at * 1000);
        Ok(())
    }

    pub async fn is_revoked(&self, jti: &str) -> Result<bool, AuthError> {
        let mut seen = self.seen.lock().await;
        if seen.polled_at.is_none_or(|at| at.elapsed() >= POLL_INTERVAL) {
            // Overlap the window a little: rows committed out of order are still read.
            let since = seen.high_water_ms - 5_000;
            let rows = sqlx::query(
                "SELECT jti, expires_at_ms, revoked_at_ms FROM auth_revoked_tokens WHERE revoked_at_ms > $1",
            )
            .bind(since)
            .fetch_all(self.store.reader())
            .await
            .map_err(StoreError::from)?;
            for row in rows {
                seen.revoked.insert(row.get(0), row.get(1));
                seen.high_water_ms = seen.high_water_ms.max(row.get(2));
            }
            let now = warga_core::time::now_ms();
            seen.revoked.retain(|_, expires| *expires > now);
            seen.polled_at = Some(Instant::now());
        }
        Ok(seen.revoked.contains_key(jti))
    }

    /// Deletes rows of tokens that have expired anyway.
    pub async fn purge_expired(&self) -> Result<u64, AuthError> {
        let mut tx = self.store.begin().await?;
        let deleted = sqlx::query("DELETE FROM auth_revoked_tokens WHERE expires_at_ms < $1")
            .bind(warga_core::time::now_ms())
            .execute(tx.conn())
            .await
            .map_err(StoreError::from)?
            .rows_affected();
        tx.commit().await?;
        Ok(deleted)
    }
}
