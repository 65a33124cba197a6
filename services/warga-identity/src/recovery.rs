//! Recovering a forgotten password with a one-time code sent by SMS.
//!
//! An account may keep a phone number for this. Asking for a code never says whether the
//! username exists or has a phone: the caller shows the same answer either way. A code is six
//! digits, valid for ten minutes, tried at most five times, and at most one is sent a minute;
//! only a keyed hash of it is stored. Using it sets the new password (under the usual policy),
//! ends the account's sessions and refresh tokens, and lifts a sign-in lockout. Sending the
//! SMS is the caller's (the web UI uses the platform's SMS provider).

use sqlx::Row;
use warga_http::Platform;
use warga_store::StoreError;
use warga_store::audit::{AuditRecord, Outcome};

use crate::IdentityError;
use crate::accounts::{self, Account};

/// How long a code is valid.
pub const CODE_TTL_MS: i64 = 10 * 60 * 1000;
/// Tries allowed per code.
pub const MAX_ATTEMPTS: i64 = 5;
/// Time between two codes for one account.
pub const RESEND_AFTER_MS: i64 = 60 * 1000;

/// `+62…` from `+62…`, `62…` or `08…`, or why not.
pub fn normalize_phone(phone: &str) -> Result<String, IdentityError> {
    let digits: String = phone.chars().filter(|c| !matches!(c, ' ' | '-' | '.')).collect();
    let national = digits
        .strip_prefix("+62")
        .or_else(|| digits.strip_prefix("62"))
        .or_else(|| digits.strip_prefix('0'))
        .unwrap_or("");
    if national.starts_with('8') && (9..=12).contains(&national.len()) && national.bytes().all(|b| b.is_ascii_digit()) {
        Ok(format!("+62{national}"))
    } else {
        Err(IdentityError::invalid(
            "phone",
            "must be an Indonesian mobile number, e.g. 0812 3456 7890",
        ))
    }
}

/// Sets (or, with `None`, removes) the account's recovery phone.
pub async fn set_phone(platform: &Platform, account_id: &str, phone: Option<&str>) -> Result<(), IdentityError> {
    let phone = phone
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(normalize_phone)
        .transpose()?;
    let mut tx = platform.store.begin().await?;
    sqlx::query("DELETE FROM identity_account_phones WHERE account_id = $1")
        .bind(account_id)
        .execute(tx.conn())
        .await
        .map_err(StoreError::from)?;
    if let Some(phone) = &phone {
        sqlx::query("INSERT INTO identity_account_phones (account_id, phone, updated_at_ms) VALUES ($1, $2, $3)")
            .bind(account_id)
            .bind(phone)
            .bind(platform.clock.now_ms())
            .execute(tx.conn())
            .await
            .map_err(StoreError::from)?;
    }
    tx.audit(&AuditRecord {
        actor: &format!("user:{account_id}"),
        action: "identity.phone.set",
        target: &format!("account:{account_id}"),
        outcome: Outcome::Success,
        details: Some(serde_json::json!({ "removed": phone.is_none() })),
    })
    .await?;
    tx.commit().await?;
    Ok(())
}

/// The account's recovery phone, if it gave one.
pub async fn phone_of(platform: &Platform, account_id: &str) -> Result<Option<String>, IdentityError> {
    let row = sqlx::query("SELECT phone FROM identity_account_phones WHERE account_id = $1")
        .bind(account_id)
        .fetch_optional(platform.store.reader())
        .await
        .map_err(StoreError::from)?;
    Ok(row.map(|r| r.get(0)))
}

/// A code to send, and where.
#[derive(Debug)]
pub struct CodeToSend {
    pub phone: String,
    pub code: String,
}

async fn code_index(platform: &Platform, account_id: &str, code: &str) -> Result<String, IdentityError> {
    Ok(platform
        .vault
        .index(&format!("password-reset:{account_id}:{code}"))
        .await?)
}

async fn active_account(platform: &Platform, username: &str) -> Result<Option<Account>, IdentityError> {
    Ok(
        accounts::by_username(platform.store.reader(), &username.trim().to_lowercase())
            .await?
            .filter(Account::is_active),
    )
}

/// Issues a code for `username` when the account exists, is active, has a phone, and got no
/// code in the last minute; `None` otherwise (the caller answers the same either way).
pub async fn begin(platform: &Platform, username: &str) -> Result<Option<CodeToSend>, IdentityError> {
    let Some(account) = active_account(platform, username).await? else {
        return Ok(None);
    };
    let Some(phone) = phone_of(platform, &account.id).await? else {
        return Ok(None);
    };
    let now = platform.clock.now_ms();
    let recent = sqlx::query("SELECT 1 FROM identity_password_resets WHERE account_id = $1 AND sent_at_ms > $2")
        .bind(&account.id)
        .bind(now - RESEND_AFTER_MS)
        .fetch_optional(platform.store.reader())
        .await
        .map_err(StoreError::from)?;
    if recent.is_some() {
        return Ok(None);
    }
    let code = warga_auth::random_code(6)?;
    let index = code_index(platform, &account.id, &code).await?;
    let mut tx = platform.store.begin().await?;
    sqlx::query("DELETE FROM identity_password_resets WHERE account_id = $1")
        .bind(&account.id)
        .execute(tx.conn())
        .await
        .map_err(StoreError::from)?;
    sqlx::query(
        "INSERT INTO identity_password_resets (account_id, code_index, expires_at_ms, attempts, sent_at_ms) \
         VALUES ($1, $2, $3, 0, $4)",
    )
    .bind(&account.id)
    .bind(&index)
    .bind(now + CODE_TTL_MS)
    .bind(now)
    .execute(tx.conn())
    .await
    .map_err(StoreError::from)?;
    tx.audit(&AuditRecord {
        actor: &format!("user:{}", account.id),
        action: "identity.password.recovery_code",
        target: &format!("account:{}", account.id),
        outcome: Outcome::Success,
        details: None,
    })
    .await?;
    tx.commit().await?;
    Ok(Some(CodeToSend { phone, code }))
}

/// Sets a new password with a code from [`begin`]. A wrong, expired or used-up code is
/// refused at field `code` (each wrong try counts).
pub async fn finish(platform: &Platform, username: &str, code: &str, new_password: &str) -> Result<(), IdentityError> {
    let refused = || IdentityError::invalid("code", "is wrong or expired; ask for a new one");
    let account = active_account(platform, username).await?.ok_or_else(refused)?;
    let row =
        sqlx::query("SELECT code_index, expires_at_ms, attempts FROM identity_password_resets WHERE account_id = $1")
            .bind(&account.id)
            .fetch_optional(platform.store.reader())
            .await
            .map_err(StoreError::from)?
            .ok_or_else(refused)?;
    let (stored, expires_at_ms, attempts): (String, i64, i64) = (row.get(0), row.get(1), row.get(2));
    let now = platform.clock.now_ms();
    if expires_at_ms <= now || attempts >= MAX_ATTEMPTS {
        return Err(refused());
    }
    let presented = code_index(platform, &account.id, code.trim()).await?;
    if !warga_auth::constant_time_eq(presented.as_bytes(), stored.as_bytes()) {
        let mut tx = platform.store.begin().await?;
        sqlx::query("UPDATE identity_password_resets SET attempts = attempts + 1 WHERE account_id = $1")
            .bind(&account.id)
            .execute(tx.conn())
            .await
            .map_err(StoreError::from)?;
        tx.commit().await?;
        return Err(refused());
    }
    crate::password::check_policy(new_password, &account.username).map_err(|error| error.refusing("new_password"))?;
    accounts::set_password_after_recovery(&platform.store, &account.id, new_password).await
}
