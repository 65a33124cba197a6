//! Sign-in with brute-force protection, per account and per client address.
//!
//! As Keycloak does: failures are counted in a window; past the threshold the account (or
//! the address) is locked for a while, during which even the right password is refused.
//! An unknown username costs the same password hashing as a wrong password and counts
//! against the address.

use std::net::IpAddr;

use sqlx::Row;
use warga_config::IdentityConfig;
use warga_core::time::Clock;
use warga_store::audit::{AuditRecord, Outcome, record_alone};
use warga_store::{Store, StoreError};

use crate::accounts::{self, Account};
use crate::password;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoginFailure {
    /// Wrong username or password (the two are not told apart).
    InvalidCredentials,
    /// Too many failures for this account: locked until the window passes.
    AccountLocked,
    /// Too many failures from this address.
    AddressLocked,
    /// The account is disabled.
    Disabled,
}

/// Checks `username` / `password` from `ip`, counting failures and locking as configured.
pub async fn sign_in(
    store: &Store,
    config: &IdentityConfig,
    clock: &dyn Clock,
    username: &str,
    password: &str,
    ip: IpAddr,
) -> Result<Result<Account, LoginFailure>, StoreError> {
    let now = clock.now_ms();
    let ip_text = ip.to_string();
    let address_locked = sqlx::query("SELECT locked_until_ms FROM identity_ip_failures WHERE ip = $1")
        .bind(&ip_text)
        .fetch_optional(store.reader())
        .await?
        .is_some_and(|row| row.get::<i64, _>(0) > now);
    if address_locked {
        audit_failure(store, "anonymous", "address_locked").await?;
        return Ok(Err(LoginFailure::AddressLocked));
    }
    let account = accounts::by_username(store.reader(), username).await?;
    if let Some(account) = &account
        && account.locked_until_ms > now
    {
        audit_failure(store, &format!("account:{}", account.id), "account_locked").await?;
        return Ok(Err(LoginFailure::AccountLocked));
    }
    let verified = password::verify(password.to_owned(), account.as_ref().map(|a| a.password_hash.clone())).await;
    match account {
        Some(account) if verified => {
            if !account.is_active() {
                audit_failure(store, &format!("account:{}", account.id), "disabled").await?;
                return Ok(Err(LoginFailure::Disabled));
            }
            if account.failed_logins > 0 {
                let mut tx = store.begin().await?;
                sqlx::query("UPDATE identity_accounts SET failed_logins = 0, locked_until_ms = 0 WHERE id = $1")
                    .bind(&account.id)
                    .execute(tx.conn())
                    .await?;
                tx.commit().await?;
            }
            Ok(Ok(account))
        }
        account => {
            let window_ms = config.lockout_window_s as i64 * 1000;
            let lock_ms = config.lockout_duration_s as i64 * 1000;
            let mut tx = store.begin().await?;
            let target = match &account {
                Some(account) => {
                    let (failures, window_start) = if now - account.failure_window_start_ms > window_ms {
                        (1, now)
                    } else {
                        (account.failed_logins + 1, account.failure_window_start_ms)
                    };
                    let locked_until = if failures >= i64::from(config.lockout_account_failures) {
                        now + lock_ms
                    } else {
                        0
                    };
                    sqlx::query(
                        "UPDATE identity_accounts SET failed_logins = $1, failure_window_start_ms = $2, \
                         locked_until_ms = $3 WHERE id = $4",
                    )
                    .bind(failures)
                    .bind(window_start)
                    .bind(locked_until)
                    .bind(&account.id)
                    .execute(tx.conn())
                    .await?;
                    format!("account:{}", account.id)
                }
                None => "account:unknown".to_owned(),
            };
            let row = sqlx::query("SELECT failures, window_start_ms FROM identity_ip_failures WHERE ip = $1")
                .bind(&ip_text)
                .fetch_optional(tx.conn())
                .await?;
            let (failures, window_start) = match row {
                Some(row) if now - row.get::<i64, _>(1) <= window_ms => (row.get::<i64, _>(0) + 1, row.get(1)),
                _ => (1, now),
            };
            let locked_until = if failures >= i64::from(config.lockout_ip_failures) {
                now + lock_ms
            } else {
                0
            };
            sqlx::query(
                "INSERT INTO identity_ip_failures (ip, failures, window_start_ms, locked_until_ms) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (ip) DO UPDATE SET failures = excluded.failures, window_start_ms = excluded.window_start_ms, \
                 locked_until_ms = excluded.locked_until_ms",
            )
            .bind(&ip_text)
            .bind(failures)
            .bind(window_start)
            .bind(locked_until)
            .execute(tx.conn())
            .await?;
            tx.audit(&AuditRecord {
                actor: "anonymous",
                action: "identity.login",
                target: &target,
                outcome: Outcome::Denied,
                details: Some(serde_json::json!({ "reason": "invalid_credentials" })),
            })
            .await?;
            tx.commit().await?;
            Ok(Err(LoginFailure::InvalidCredentials))
        }
    }
}

async fn audit_failure(store: &Store, target: &str, reason: &str) -> Result<(), StoreError> {
    record_alone(
        store,
        &AuditRecord {
            actor: "anonymous",
            action: "identity.login",
            target,
            outcome: Outcome::Denied,
            details: Some(serde_json::json!({ "reason": reason })),
        },
    )
    .await
}
