//! Accounts, departments and their rules.

use std::collections::BTreeSet;

use crate::error::IdentityError;
use serde::{Deserialize, Serialize};
use sqlx::Row;
use warga_core::Event;
use warga_core::identity::{OfficerLevel, Role};
use warga_store::audit::{AuditRecord, Outcome};
use warga_store::{StoreError, Tx};

use crate::password;

pub const USERNAME_CHARS_MAX: usize = 64;
pub const DISPLAY_NAME_CHARS_MAX: usize = 100;

/// A stored account. The password hash never leaves this crate's responses.
#[derive(Clone, Debug)]
pub struct Account {
    pub id: String,
    pub username: String,
    pub display_name: String,
    pub email: Option<String>,
    pub password_hash: String,
    pub roles: BTreeSet<Role>,
    pub department_id: Option<String>,
    pub officer_level: Option<OfficerLevel>,
    pub msp_id: Option<String>,
    /// The health facility a ledger member acts for (BPJS's kode faskes).
    pub facility: Option<String>,
    pub status: String,
    pub must_change_password: bool,
    pub failed_logins: i64,
    pub failure_window_start_ms: i64,
    pub locked_until_ms: i64,
    pub created_at_ms: i64,
}

impl Account {
    pub fn is_active(&self) -> bool {
        self.status == "active"
    }
}

/// What clients see of an account.
#[derive(Clone, Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AccountView {
    pub id: String,
    pub username: String,
    pub display_name: String,
    pub email: Option<String>,
    #[schema(value_type = Vec<String>)]
    pub roles: Vec<Role>,
    pub department: Option<String>,
    #[schema(value_type = Option<String>)]
    pub officer_level: Option<OfficerLevel>,
    pub msp_id: Option<String>,
    pub facility: Option<String>,
    pub status: String,
    pub must_change_password: bool,
    pub created_at_ms: i64,
}

impl From<&Account> for AccountView {
    fn from(a: &Account) -> Self {
        AccountView {
            id: a.id.clone(),
            username: a.username.clone(),
            display_name: a.display_name.clone(),
            email: a.email.clone(),
            roles: a.roles.iter().copied().collect(),
            department: a.department_id.clone(),
            officer_level: a.officer_level,
            msp_id: a.msp_id.clone(),
            facility: a.facility.clone(),
            status: a.status.clone(),
            must_change_password: a.must_change_password,
            created_at_ms: a.created_at_ms,
        }
    }
}

/// Event: an account was created. Carries ids and roles only.
#[derive(Debug, Serialize, Deserialize)]
pub struct AccountCreated {
    pub account_id: String,
    pub roles: Vec<Role>,
    pub department: Option<String>,
}

impl Event for AccountCreated {
    const TOPIC: &'static str = "identity.account.created";
    const VERSION: u32 = 1;
}

/// Event: an account was disabled (its sessions ended; what it holds elsewhere, such as a
/// ledger certificate, is revoked by the services that issued it).
#[derive(Debug, Serialize, Deserialize)]
pub struct AccountDisabled {
    pub account_id: String,
}

impl Event for AccountDisabled {
    const TOPIC: &'static str = "identity.account.disabled";
    const VERSION: u32 = 1;
}

const COLUMNS: &str = "id, username, display_name, email, password_hash, roles, department_id, officer_level, msp_id, \
     status, must_change_password, failed_logins, failure_window_start_ms, locked_until_ms, created_at_ms, facility";

fn from_row(row: &sqlx::any::AnyRow) -> Account {
    let roles: String = row.get(5);
    Account {
        id: row.get(0),
        username: row.get(1),
        display_name: row.get(2),
        email: row.get(3),
        password_hash: row.get(4),
        roles: warga_core::identity::known_roles(roles.split(',').filter(|r| !r.is_empty())),
        department_id: row.get(6),
        officer_level: row.get::<Option<String>, _>(7).and_then(|l| l.parse().ok()),
        msp_id: row.get(8),
        status: row.get(9),
        must_change_password: row.get::<i64, _>(10) != 0,
        failed_logins: row.get(11),
        failure_window_start_ms: row.get(12),
        locked_until_ms: row.get(13),
        created_at_ms: row.get(14),
        facility: row.get(15),
    }
}

pub async fn by_username<'e, E: sqlx::Executor<'e, Database = sqlx::Any>>(
    executor: E,
    username: &str,
) -> Result<Option<Account>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM identity_accounts WHERE username = $1");
    let row = sqlx::query(&sql)
        .bind(username.to_lowercase())
        .fetch_optional(executor)
        .await?;
    Ok(row.as_ref().map(from_row))
}

pub async fn by_id<'e, E: sqlx::Executor<'e, Database = sqlx::Any>>(
    executor: E,
    id: &str,
) -> Result<Option<Account>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM identity_accounts WHERE id = $1");
    let row = sqlx::query(&sql).bind(id).fetch_optional(executor).await?;
    Ok(row.as_ref().map(from_row))
}

/// Accounts, optionally only those with `role` or in `department`, ordered by username.
pub async fn list(
    store: &warga_store::Store,
    role: Option<Role>,
    department: Option<&str>,
    after_username: Option<&str>,
    limit: i64,
) -> Result<Vec<Account>, StoreError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM identity_accounts WHERE ($1 IS NULL OR department_id = $1) AND username > $2 \
         ORDER BY username LIMIT $3"
    );
    let rows = sqlx::query(&sql)
        .bind(department)
        .bind(after_username.unwrap_or(""))
        .bind(limit.clamp(1, 500) * if role.is_some() { 4 } else { 1 })
        .fetch_all(store.reader())
        .await?;
    let mut accounts: Vec<Account> = rows.iter().map(from_row).collect();
    if let Some(role) = role {
        accounts.retain(|a| a.roles.contains(&role));
    }
    accounts.truncate(limit.clamp(1, 500) as usize);
    Ok(accounts)
}

/// Lowercases and checks a username: 3–64 of `a-z 0-9 . _ -`, starting with a letter or digit.
pub fn normalize_username(username: &str) -> Result<String, IdentityError> {
    let username = username.trim().to_lowercase();
    let len = username.chars().count();
    if !(3..=USERNAME_CHARS_MAX).contains(&len) {
        return Err(
            IdentityError::invalid("username", format!("must be 3 to {USERNAME_CHARS_MAX} characters"))
                .id(format!("harus 3 sampai {USERNAME_CHARS_MAX} karakter")),
        );
    }
    let ok = username
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-'))
        && username.chars().next().is_some_and(|c| c.is_ascii_alphanumeric());
    if !ok {
        return Err(IdentityError::invalid(
            "username",
            "may contain only a-z, 0-9, '.', '_' and '-', and must start with a letter or digit",
        )
        .id("hanya boleh memuat a-z, 0-9, '.', '_' dan '-', dan diawali huruf atau angka"));
    }
    Ok(username)
}

pub fn check_display_name(name: &str) -> Result<String, IdentityError> {
    let name = name.trim();
    let len = name.chars().count();
    if len == 0 || len > DISPLAY_NAME_CHARS_MAX {
        return Err(IdentityError::invalid(
            "display_name",
            format!("must be 1 to {DISPLAY_NAME_CHARS_MAX} characters"),
        )
        .id(format!("harus 1 sampai {DISPLAY_NAME_CHARS_MAX} karakter")));
    }
    if let Some(hidden) = warga_core::text::hidden_character(name) {
        return Err(IdentityError::invalid(
            "display_name",
            format!(
                "must not contain invisible or control characters (U+{:04X})",
                u32::from(hidden)
            ),
        )
        .id(format!(
            "tidak boleh memuat karakter tak terlihat atau karakter kendali (U+{:04X})",
            u32::from(hidden)
        )));
    }
    Ok(name.to_owned())
}

fn check_email(email: &str) -> Result<String, IdentityError> {
    let email = email.trim();
    let valid = email.len() <= 254
        && email
            .split_once('@')
            .is_some_and(|(local, domain)| !local.is_empty() && domain.contains('.'))
        && !email.chars().any(|c| c.is_whitespace() || c.is_control());
    if !valid {
        return Err(IdentityError::invalid("email", "is not an e-mail address").id("bukan alamat surel"));
    }
    Ok(email.to_owned())
}

/// A department id: a short slug such as `dinas-pu`.
pub fn check_department_id(id: &str) -> Result<String, IdentityError> {
    let id = id.trim().to_lowercase();
    let ok = (2..=48).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !id.starts_with('-')
        && !id.ends_with('-');
    if !ok {
        return Err(IdentityError::invalid("id", "must be 2 to 48 of a-z, 0-9 and '-'"));
    }
    Ok(id)
}

/// A new account, before validation.
#[derive(Clone, Debug, Default)]
pub struct NewAccount {
    pub username: String,
    pub display_name: String,
    pub email: Option<String>,
    pub password: String,
    pub roles: BTreeSet<Role>,
    pub department_id: Option<String>,
    pub officer_level: Option<OfficerLevel>,
    pub msp_id: Option<String>,
    /// A ledger member's facility code (1–32 of A–Z, a–z, 0–9, `-`, `_`, `.`).
    pub facility: Option<String>,
    pub must_change_password: bool,
}

/// Validates, hashes and stores `new` in `tx`, with its audit record and event.
pub async fn create(tx: &mut Tx, new: NewAccount, actor: &str) -> Result<Account, IdentityError> {
    create_inner(tx, new, None, actor).await
}

/// As [`create`], with the password already hashed (the demo seed hashes its one password
/// once). `new.password` is still checked against the policy.
pub async fn create_with_hash(
    tx: &mut Tx,
    new: NewAccount,
    hash: String,
    actor: &str,
) -> Result<Account, IdentityError> {
    create_inner(tx, new, Some(hash), actor).await
}

async fn create_inner(
    tx: &mut Tx,
    new: NewAccount,
    hash: Option<String>,
    actor: &str,
) -> Result<Account, IdentityError> {
    let username = normalize_username(&new.username)?;
    let display_name = check_display_name(&new.display_name)?;
    let email = new
        .email
        .as_deref()
        .filter(|e| !e.trim().is_empty())
        .map(check_email)
        .transpose()?;
    password::check_policy(&new.password, &username).map_err(|e| e.refusing("password"))?;
    if new.roles.is_empty() {
        return Err(IdentityError::invalid("roles", "at least one role is required"));
    }
    if new.roles.contains(&Role::Service) {
        return Err(IdentityError::invalid(
            "roles",
            "service is for OAuth clients, not accounts",
        ));
    }
    let is_officer = new.roles.contains(&Role::Officer);
    if is_officer && (new.department_id.is_none() || new.officer_level.is_none()) {
        return Err(IdentityError::invalid(
            "department",
            "an officer needs a department and a level",
        ));
    }
    let in_ledger = new.roles.contains(&Role::LedgerMember) || new.roles.contains(&Role::LedgerAuditor);
    if in_ledger && new.msp_id.as_deref().is_none_or(str::is_empty) {
        return Err(IdentityError::invalid(
            "msp_id",
            "a ledger organisation's member or auditor needs an MSP id",
        ));
    }
    if let Some(facility) = new.facility.as_deref().filter(|f| !f.is_empty()) {
        let ok = facility.len() <= 32
            && facility
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
        if !ok {
            return Err(IdentityError::invalid(
                "facility",
                "a facility code is 1–32 of A–Z, a–z, 0–9, '-', '_', '.'",
            ));
        }
        if !new.roles.contains(&Role::LedgerMember) {
            return Err(IdentityError::invalid(
                "facility",
                "only a ledger organisation member acts for a facility",
            ));
        }
    }
    if let Some(department) = &new.department_id {
        let exists = sqlx::query("SELECT 1 FROM identity_departments WHERE id = $1")
            .bind(department)
            .fetch_optional(tx.conn())
            .await
            .map_err(StoreError::from)?
            .is_some();
        if !exists {
            return Err(IdentityError::invalid(
                "department",
                format!("no department {department}"),
            ));
        }
    }
    if by_username(tx.conn(), &username).await?.is_some() {
        return Err(IdentityError::conflict(
            format!("the username {username} is taken"),
            format!("nama pengguna {username} sudah dipakai"),
        ));
    }
    let password_hash = match hash {
        Some(hash) => hash,
        None => password::hash(new.password)
            .await
            .map_err(|e| IdentityError::Internal(e.to_string()))?,
    };
    let id = uuid::Uuid::now_v7().hyphenated().to_string();
    let now = warga_core::time::now_ms();
    let roles: Vec<&str> = new.roles.iter().map(|r| r.as_str()).collect();
    sqlx::query(
        "INSERT INTO identity_accounts (id, username, display_name, email, password_hash, roles, department_id, \
         officer_level, msp_id, facility, status, must_change_password, created_at_ms, updated_at_ms) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 'active', $11, $12, $12)",
    )
    .bind(&id)
    .bind(&username)
    .bind(&display_name)
    .bind(email.as_deref())
    .bind(&password_hash)
    .bind(roles.join(","))
    .bind(new.department_id.as_deref())
    .bind(new.officer_level.map(|l| l.as_str()))
    .bind(new.msp_id.as_deref())
    .bind(new.facility.as_deref().filter(|f| !f.is_empty()))
    .bind(i64::from(new.must_change_password))
    .bind(now)
    .execute(tx.conn())
    .await
    .map_err(StoreError::from)?;
    tx.audit(&AuditRecord {
        actor,
        action: "identity.account.create",
        target: &format!("account:{id}"),
        outcome: Outcome::Success,
        details: Some(serde_json::json!({ "roles": roles, "department": new.department_id })),
    })
    .await?;
    tx.append_event(&AccountCreated {
        account_id: id.clone(),
        roles: new.roles.iter().copied().collect(),
        department: new.department_id.clone(),
    })
    .await?;
    by_id(tx.conn(), &id)
        .await?
        .ok_or_else(|| IdentityError::Internal("account vanished after insert".into()))
}

/// Creates a department.
pub async fn create_department(tx: &mut Tx, id: &str, name: &str, actor: &str) -> Result<(), IdentityError> {
    let id = check_department_id(id)?;
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 120 || name.chars().any(char::is_control) {
        return Err(IdentityError::invalid("name", "must be 1 to 120 characters"));
    }
    sqlx::query("INSERT INTO identity_departments (id, name, created_at_ms) VALUES ($1, $2, $3)")
        .bind(&id)
        .bind(name)
        .bind(warga_core::time::now_ms())
        .execute(tx.conn())
        .await
        .map_err(|e| match StoreError::from(e) {
            StoreError::Conflict { .. } => {
                IdentityError::conflict(format!("department {id} exists"), format!("dinas {id} sudah ada"))
            }
            other => other.into(),
        })?;
    tx.audit(&AuditRecord {
        actor,
        action: "identity.department.create",
        target: &format!("department:{id}"),
        outcome: Outcome::Success,
        details: None,
    })
    .await?;
    Ok(())
}

#[derive(Clone, Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Department {
    pub id: String,
    pub name: String,
    pub created_at_ms: i64,
}

pub async fn departments(store: &warga_store::Store) -> Result<Vec<Department>, StoreError> {
    let rows = sqlx::query("SELECT id, name, created_at_ms FROM identity_departments ORDER BY id")
        .fetch_all(store.reader())
        .await?;
    Ok(rows
        .iter()
        .map(|r| Department {
            id: r.get(0),
            name: r.get(1),
            created_at_ms: r.get(2),
        })
        .collect())
}

/// Disables an account: it can no longer sign in, and its refresh tokens stop working.
/// A signed-in person changes their own password: the current one is checked, the new one
/// must pass the policy and differ. Other devices' refresh tokens are revoked (they sign in
/// again with the new password); the change is audited.
pub async fn change_password(
    store: &warga_store::Store,
    account_id: &str,
    current: &str,
    new: &str,
) -> Result<(), IdentityError> {
    let account = by_id(store.reader(), account_id)
        .await?
        .filter(Account::is_active)
        .ok_or_else(|| {
            IdentityError::not_found(
                format!("no account {account_id}"),
                format!("tidak ada akun {account_id}"),
            )
        })?;
    if !crate::password::verify(current.to_owned(), Some(account.password_hash.clone())).await {
        return Err(
            IdentityError::invalid("current_password", "is not this account's password")
                .id("bukan kata sandi akun ini"),
        );
    }
    if new == current {
        return Err(
            IdentityError::invalid("new_password", "must differ from the current password")
                .id("harus berbeda dari kata sandi sekarang"),
        );
    }
    crate::password::check_policy(new, &account.username).map_err(|error| error.refusing("new_password"))?;
    let hash = crate::password::hash(new.to_owned())
        .await
        .map_err(IdentityError::Internal)?;
    let now = warga_core::time::now_ms();
    let mut tx = store.begin().await?;
    sqlx::query(
        "UPDATE identity_accounts SET password_hash = $1, must_change_password = 0, updated_at_ms = $2 WHERE id = $3",
    )
    .bind(hash)
    .bind(now)
    .bind(account_id)
    .execute(tx.conn())
    .await
    .map_err(StoreError::from)?;
    revoke(&mut tx, account_id, now, &[REFRESH_TOKENS]).await?;
    tx.audit(&AuditRecord {
        actor: &format!("user:{account_id}"),
        action: "identity.password.change",
        target: &format!("account:{account_id}"),
        outcome: Outcome::Success,
        details: None,
    })
    .await?;
    tx.commit().await?;
    Ok(())
}

const REFRESH_TOKENS: &str = "identity_refresh_tokens";
const SESSIONS: &str = "identity_sessions";

/// Stores a new password hash, clears failed sign-ins and a lockout, and sets whether the
/// password must be changed at the next sign-in. Returns the rows changed (0: no account).
async fn write_password(tx: &mut Tx, id: &str, hash: &str, must_change: bool, now: i64) -> Result<u64, IdentityError> {
    let done = sqlx::query(
        "UPDATE identity_accounts SET password_hash = $1, must_change_password = $2, failed_logins = 0, \
         locked_until_ms = 0, updated_at_ms = $3 WHERE id = $4",
    )
    .bind(hash)
    .bind(i64::from(must_change))
    .bind(now)
    .bind(id)
    .execute(tx.conn())
    .await
    .map_err(StoreError::from)?;
    Ok(done.rows_affected())
}

/// Ends an account's refresh tokens and/or provider sessions (`tables`) as of `now`.
async fn revoke(tx: &mut Tx, account_id: &str, now: i64, tables: &[&str]) -> Result<(), IdentityError> {
    for table in tables {
        sqlx::query(&format!(
            "UPDATE {table} SET revoked_at_ms = $1 WHERE account_id = $2 AND revoked_at_ms IS NULL"
        ))
        .bind(now)
        .bind(account_id)
        .execute(tx.conn())
        .await
        .map_err(StoreError::from)?;
    }
    Ok(())
}

/// Sets the password chosen with a recovery code (already checked by the caller): the code
/// is used up, a lockout lifted, the account's sessions and refresh tokens end; audited.
pub async fn set_password_after_recovery(
    store: &warga_store::Store,
    account_id: &str,
    new_password: &str,
) -> Result<(), IdentityError> {
    let hash = crate::password::hash(new_password.to_owned())
        .await
        .map_err(IdentityError::Internal)?;
    let now = warga_core::time::now_ms();
    let mut tx = store.begin().await?;
    write_password(&mut tx, account_id, &hash, false, now).await?;
    sqlx::query("DELETE FROM identity_password_resets WHERE account_id = $1")
        .bind(account_id)
        .execute(tx.conn())
        .await
        .map_err(StoreError::from)?;
    revoke(&mut tx, account_id, now, &[REFRESH_TOKENS, SESSIONS]).await?;
    tx.audit(&AuditRecord {
        actor: &format!("user:{account_id}"),
        action: "identity.password.recovered",
        target: &format!("account:{account_id}"),
        outcome: Outcome::Success,
        details: None,
    })
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Lets a disabled account sign in again.
pub async fn enable(tx: &mut Tx, id: &str, actor: &str) -> Result<(), IdentityError> {
    let updated = sqlx::query("UPDATE identity_accounts SET status = 'active', updated_at_ms = $1 WHERE id = $2")
        .bind(warga_core::time::now_ms())
        .bind(id)
        .execute(tx.conn())
        .await
        .map_err(StoreError::from)?
        .rows_affected();
    if updated == 0 {
        return Err(IdentityError::not_found(
            format!("no account {id}"),
            format!("tidak ada akun {id}"),
        ));
    }
    tx.audit(&AuditRecord {
        actor,
        action: "identity.account.enable",
        target: &format!("account:{id}"),
        outcome: Outcome::Success,
        details: None,
    })
    .await?;
    Ok(())
}

/// An administrator resets an account's password: a one-time password (returned, shown
/// once) that must be changed at the next sign-in; the account's sessions and refresh tokens
/// end.
pub async fn reset_password(store: &warga_store::Store, id: &str, actor: &str) -> Result<String, IdentityError> {
    let password = crate::password::one_time_password();
    let hash = crate::password::hash(password.clone())
        .await
        .map_err(IdentityError::Internal)?;
    let now = warga_core::time::now_ms();
    let mut tx = store.begin().await?;
    if write_password(&mut tx, id, &hash, true, now).await? == 0 {
        return Err(IdentityError::not_found(
            format!("no account {id}"),
            format!("tidak ada akun {id}"),
        ));
    }
    revoke(&mut tx, id, now, &[REFRESH_TOKENS, SESSIONS]).await?;
    tx.audit(&AuditRecord {
        actor,
        action: "identity.password.reset",
        target: &format!("account:{id}"),
        outcome: Outcome::Success,
        details: None,
    })
    .await?;
    tx.commit().await?;
    Ok(password)
}

pub async fn disable(tx: &mut Tx, id: &str, actor: &str) -> Result<(), IdentityError> {
    let now = warga_core::time::now_ms();
    let updated = sqlx::query("UPDATE identity_accounts SET status = 'disabled', updated_at_ms = $1 WHERE id = $2")
        .bind(now)
        .bind(id)
        .execute(tx.conn())
        .await
        .map_err(StoreError::from)?
        .rows_affected();
    if updated == 0 {
        return Err(IdentityError::not_found(
            format!("no account {id}"),
            format!("tidak ada akun {id}"),
        ));
    }
    revoke(tx, id, now, &[REFRESH_TOKENS, SESSIONS]).await?;
    tx.append_event(&AccountDisabled {
        account_id: id.to_owned(),
    })
    .await?;
    tx.audit(&AuditRecord {
        actor,
        action: "identity.account.disable",
        target: &format!("account:{id}"),
        outcome: Outcome::Success,
        details: None,
    })
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames_are_normalised_and_checked() {
        assert_eq!(normalize_username("  Siti.Aminah ").unwrap(), "siti.aminah");
        for bad in ["ab", ".siti", "siti aminah", "siti@x", "sïti", &"a".repeat(65)] {
            assert!(normalize_username(bad).is_err(), "{bad}");
        }
        assert_eq!(check_department_id("Dinas-PU").unwrap(), "dinas-pu");
        assert!(check_department_id("-x").is_err());
        assert!(check_email("a@b.id").is_ok() && check_email("nope").is_err());
    }
}
