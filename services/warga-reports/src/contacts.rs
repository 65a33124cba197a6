//! A reporter's own contacts for notifications by SMS and e-mail (R4). The citizen gives
//! them, sees them and removes them; they are sealed by the vault, bound to the account,
//! and never stored with a report. Messages read the contact when they are sent, so a
//! contact removed before then is not used. Anonymous reports have no recipient: their
//! updates reach only the receipt holder.

use serde::{Deserialize, Serialize};
use sqlx::Row;
use warga_core::identity::Principal;
use warga_http::Platform;
use warga_store::audit::{AuditRecord, Outcome};
use warga_store::{StoreError, Tx};

use crate::error::ReportsError;

/// Where a citizen wants their reports' updates, besides the inbox.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq, Eq, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Contact {
    /// An Indonesian mobile number: `+62…`, `62…` or `08…` (kept as `+62…`).
    #[serde(default)]
    pub phone: Option<String>,
    #[serde(default)]
    pub email: Option<String>,
}

/// `+628…` from the ways Indonesians write a mobile number.
pub fn normalize_phone(raw: &str) -> Option<String> {
    let digits: String = raw
        .chars()
        .filter(|c| !matches!(c, ' ' | '-' | '.' | '(' | ')'))
        .collect();
    let national = if let Some(rest) = digits.strip_prefix("+62") {
        rest
    } else if let Some(rest) = digits.strip_prefix("62") {
        rest
    } else {
        digits.strip_prefix('0')?
    };
    let ok =
        national.starts_with('8') && (9..=12).contains(&national.len()) && national.bytes().all(|b| b.is_ascii_digit());
    ok.then(|| format!("+62{national}"))
}

/// A plausible address: one `@`, a dotted domain, no spaces or controls, at most 254.
pub fn valid_email(email: &str) -> bool {
    let Some((local, domain)) = email.split_once('@') else {
        return false;
    };
    email.len() <= 254
        && !local.is_empty()
        && local.len() <= 64
        && !domain.contains('@')
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && email.chars().all(|c| c.is_ascii_graphic())
}

fn context(subject: &str, what: &str) -> String {
    format!("report-contact:{subject}:{what}")
}

/// Checks and normalises what the citizen sent; an empty value is no contact.
pub fn checked(contact: Contact) -> Result<Contact, ReportsError> {
    let phone = match contact.phone.as_deref().map(str::trim).filter(|p| !p.is_empty()) {
        None => None,
        Some(raw) => Some(normalize_phone(raw).ok_or_else(|| {
            ReportsError::invalid(
                "phone",
                "bukan nomor ponsel Indonesia (contoh: 081234567890 atau +6281234567890)",
            )
        })?),
    };
    let email = match contact.email.as_deref().map(str::trim).filter(|e| !e.is_empty()) {
        None => None,
        Some(email) if valid_email(email) => Some(email.to_owned()),
        Some(_) => return Err(ReportsError::invalid("email", "bukan alamat e-mail yang valid")),
    };
    Ok(Contact { phone, email })
}

/// Sets (or, with neither, removes) the citizen's contact.
pub async fn set(platform: &Platform, citizen: &Principal, contact: Contact) -> Result<Contact, ReportsError> {
    let contact = checked(contact)?;
    if contact.email.is_some() && crate::settings(platform).email.smtp_url.is_none() {
        return Err(ReportsError::invalid(
            "email",
            "pemberitahuan lewat e-mail belum tersedia di layanan ini; gunakan nomor ponsel",
        ));
    }
    let subject = citizen.subject.as_str();
    let seal = |value: Option<String>, what: &'static str| async move {
        match value {
            None => Ok::<_, ReportsError>(None),
            Some(value) => Ok(Some(
                platform.vault.seal(value.as_bytes(), &context(subject, what)).await?,
            )),
        }
    };
    let phone = seal(contact.phone.clone(), "phone").await?;
    let email = seal(contact.email.clone(), "email").await?;
    let key_id = phone
        .as_ref()
        .or(email.as_ref())
        .map(|s| s.key_id.clone())
        .unwrap_or_default();
    let mut tx = platform.store.begin().await?;
    sqlx::query("DELETE FROM report_contacts WHERE subject = $1")
        .bind(subject)
        .execute(tx.conn())
        .await
        .map_err(StoreError::from)?;
    if phone.is_some() || email.is_some() {
        sqlx::query(
            "INSERT INTO report_contacts (subject, key_id, phone_sealed, email_sealed, updated_at_ms) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(subject)
        .bind(&key_id)
        .bind(phone.map(|s| s.ciphertext))
        .bind(email.map(|s| s.ciphertext))
        .bind(platform.clock.now_ms())
        .execute(tx.conn())
        .await
        .map_err(StoreError::from)?;
    }
    tx.audit(&AuditRecord {
        actor: &citizen.audit_actor(),
        action: "reports.contact.set",
        target: &format!("account:{subject}"),
        outcome: Outcome::Success,
        // Which channels, never the numbers or addresses.
        details: Some(serde_json::json!({ "sms": contact.phone.is_some(), "email": contact.email.is_some() })),
    })
    .await?;
    tx.commit().await?;
    Ok(contact)
}

/// The citizen's contact, opened (empty when none is set).
pub async fn get(platform: &Platform, subject: &str) -> Result<Contact, ReportsError> {
    let row = sqlx::query("SELECT key_id, phone_sealed, email_sealed FROM report_contacts WHERE subject = $1")
        .bind(subject)
        .fetch_optional(platform.store.reader())
        .await
        .map_err(StoreError::from)?;
    let Some(row) = row else {
        return Ok(Contact::default());
    };
    let key_id: String = row.get(0);
    let open = |ciphertext: Option<String>, what: &'static str| {
        let key_id = key_id.clone();
        async move {
            let Some(ciphertext) = ciphertext else {
                return Ok::<_, ReportsError>(None);
            };
            let sealed = warga_auth::Sealed { key_id, ciphertext };
            let bytes = platform.vault.open(&sealed, &context(subject, what)).await?;
            Ok(Some(String::from_utf8_lossy(&bytes).into_owned()))
        }
    };
    Ok(Contact {
        phone: open(row.get(1), "phone").await?,
        email: open(row.get(2), "email").await?,
    })
}

/// Whether the reporter wants messages by SMS and by e-mail, read in the consumer's
/// transaction.
pub async fn wants(tx: &mut Tx, subject: &str) -> Result<(bool, bool), StoreError> {
    let row = sqlx::query("SELECT COUNT(phone_sealed), COUNT(email_sealed) FROM report_contacts WHERE subject = $1")
        .bind(subject)
        .fetch_one(tx.conn())
        .await?;
    Ok((row.get::<i64, _>(0) > 0, row.get::<i64, _>(1) > 0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phones_are_read_as_indonesians_write_them() {
        for raw in [
            "081234567890",
            "+6281234567890",
            "6281234567890",
            "0812-3456-7890",
            "+62 812 3456 7890",
        ] {
            assert_eq!(normalize_phone(raw).as_deref(), Some("+6281234567890"), "{raw}");
        }
        for raw in [
            "021345678",
            "+6581234567",
            "08123",
            "0812345678901234",
            "08abc4567890",
            "",
        ] {
            assert_eq!(normalize_phone(raw), None, "{raw}");
        }
    }

    #[test]
    fn addresses_are_checked() {
        assert!(valid_email("siti.aminah@contoh.go.id"));
        for bad in [
            "siti",
            "@contoh.id",
            "siti@contoh",
            "siti@@contoh.id",
            "si ti@contoh.id",
            "siti@.id",
        ] {
            assert!(!valid_email(bad), "{bad}");
        }
    }
}
