//! The link between a citizen's account and their resident record.
//!
//! A citizen asks with their NIK and birth date; a registry officer confirms (or refuses)
//! after seeing the KTP — in person or on a call. We chose an officer's confirmation over
//! knowledge-based proof (NIK + birth date + mother's maiden name): those three facts sit
//! together on family cards (KK) and in leaked datasets, so knowing them proves little,
//! while later services (reports, BPJS) act on the link as the person's identity.
//!
//! The citizen's answers are compared with the record when they ask and then forgotten;
//! the request keeps only the matching resident (if any), which the officer sees. When no
//! resident matches yet — the citizen asked before the registry office registered them —
//! the request keeps a keyed hash of the NIK and birth date (never the values), and the
//! registration of that resident completes the match (`residents::register`). The
//! citizen is told only that the request waits, so the form is no oracle for whether a
//! NIK exists. A confirmed link emits `population.citizen.linked` (ids only).

use serde::{Deserialize, Serialize};
use sqlx::Row;
use warga_core::Event;
use warga_http::Platform;

use crate::error::PopulationError;
use warga_store::audit::{AuditRecord, Outcome};
use warga_store::{Store, StoreError};

use crate::residents::{self, ResidentRecord};
use crate::search::{ResidentSummary, place_name};

/// What a citizen types to ask for the link.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LinkAsk {
    pub nik: String,
    /// `YYYY-MM-DD`.
    pub birth_date: String,
}

/// A citizen's view of their link.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct MyResident {
    /// `none`, `pending`, `linked` or `rejected` (the latest request's outcome).
    pub status: String,
    /// Why the latest request was refused.
    pub reason: Option<String>,
    pub resident: Option<ResidentRecord>,
}

/// A request waiting for a registry officer.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PendingLink {
    pub id: String,
    /// The account that asked.
    pub subject: String,
    pub username: String,
    pub created_at_ms: i64,
    /// The living resident whose NIK and birth date the citizen gave, if any.
    pub resident: Option<ResidentSummary>,
}

/// An officer's decision.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LinkDecision {
    pub approve: bool,
    /// Told to the citizen when refusing.
    #[serde(default)]
    pub reason: Option<String>,
}

/// Event: a citizen account was linked to a resident.
#[derive(Debug, Serialize, Deserialize)]
pub struct CitizenLinked {
    pub subject: String,
    pub resident_id: String,
}

impl Event for CitizenLinked {
    const TOPIC: &'static str = "population.citizen.linked";
    const VERSION: u32 = 1;
}

/// The resident an account is linked to, for services that act on a citizen's identity.
pub async fn linked_resident(store: &Store, subject: &str) -> Result<Option<String>, StoreError> {
    let row = sqlx::query("SELECT resident_id FROM population_citizen_links WHERE subject = $1")
        .bind(subject)
        .fetch_optional(store.reader())
        .await?;
    Ok(row.map(|r| r.get(0)))
}

/// Files a citizen's request. Refused when the account is linked or a request waits.
pub async fn ask(
    platform: &Platform,
    subject: &str,
    username: &str,
    input: &LinkAsk,
) -> Result<String, PopulationError> {
    let nik = input.nik.trim();
    if nik.len() != 16 || !nik.bytes().all(|b| b.is_ascii_digit()) {
        return Err(PopulationError::invalid("nik", "must be 16 digits").id("harus 16 angka"));
    }
    let birth_date = input.birth_date.trim();
    if crate::nik::Date::parse_iso(birth_date).is_none() {
        return Err(
            PopulationError::invalid("birth_date", "must be a date, YYYY-MM-DD").id("harus tanggal, TTTT-BB-HH")
        );
    }
    let matched = residents::by_nik(platform, nik)
        .await?
        .filter(|r| r.status == "alive" && r.fields.birth_date == birth_date)
        .map(|r| r.id);
    let match_index = match matched {
        Some(_) => None,
        None => Some(residents::link_match_index(platform, nik, birth_date).await?),
    };
    let id = uuid::Uuid::now_v7().hyphenated().to_string();
    let mut tx = platform.store.begin().await?;
    let linked = sqlx::query("SELECT 1 FROM population_citizen_links WHERE subject = $1")
        .bind(subject)
        .fetch_optional(tx.conn())
        .await
        .map_err(StoreError::from)?;
    if linked.is_some() {
        return Err(PopulationError::conflict(
            "this account is already linked to a resident",
            "akun ini sudah tertaut ke data penduduk",
        ));
    }
    let waiting = sqlx::query("SELECT 1 FROM population_link_requests WHERE subject = $1 AND status = 'pending'")
        .bind(subject)
        .fetch_optional(tx.conn())
        .await
        .map_err(StoreError::from)?;
    if waiting.is_some() {
        return Err(PopulationError::conflict(
            "a request of this account is already waiting",
            "permintaan dari akun ini masih menunggu",
        ));
    }
    sqlx::query(
        "INSERT INTO population_link_requests (id, subject, username, resident_id, status, created_at_ms, match_index) \
         VALUES ($1, $2, $3, $4, 'pending', $5, $6)",
    )
    .bind(&id)
    .bind(subject)
    .bind(username)
    .bind(&matched)
    .bind(platform.clock.now_ms())
    .bind(&match_index)
    .execute(tx.conn())
    .await
    .map_err(StoreError::from)?;
    tx.audit(&AuditRecord {
        actor: &format!("user:{subject}"),
        action: "population.link.request",
        target: &format!("link-request:{id}"),
        outcome: Outcome::Success,
        details: Some(serde_json::json!({ "matched": matched.is_some() })),
    })
    .await?;
    tx.commit().await?;
    Ok(id)
}

/// A citizen's link and, once linked, their own record.
pub async fn mine(platform: &Platform, subject: &str) -> Result<MyResident, PopulationError> {
    if let Some(resident_id) = linked_resident(&platform.store, subject).await? {
        return Ok(MyResident {
            status: "linked".into(),
            reason: None,
            resident: Some(residents::record(platform, &resident_id).await?),
        });
    }
    let latest = sqlx::query(
        "SELECT status, reason FROM population_link_requests WHERE subject = $1 ORDER BY created_at_ms DESC, id DESC LIMIT 1",
    )
    .bind(subject)
    .fetch_optional(platform.store.reader())
    .await
    .map_err(StoreError::from)?;
    Ok(match latest {
        Some(row) => MyResident {
            status: row.get(0),
            reason: row.get(1),
            resident: None,
        },
        None => MyResident {
            status: "none".into(),
            reason: None,
            resident: None,
        },
    })
}

/// Requests waiting for a decision, oldest first.
pub async fn pending(platform: &Platform, limit: i64) -> Result<Vec<PendingLink>, PopulationError> {
    let rows = sqlx::query(
        "SELECT id, username, created_at_ms, resident_id, subject FROM population_link_requests WHERE status = 'pending' \
         ORDER BY created_at_ms, id LIMIT $1",
    )
    .bind(limit)
    .fetch_all(platform.store.reader())
    .await
    .map_err(StoreError::from)?;
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        let resident = match row.get::<Option<String>, _>(3) {
            Some(id) => {
                let record = residents::record(platform, &id).await?.resident;
                Some(ResidentSummary {
                    id: record.id,
                    full_name: record.fields.full_name,
                    birth_date: record.fields.birth_date,
                    sex: record.fields.sex,
                    place: place_name(&record.fields.district),
                    district: record.fields.district,
                    status: record.status,
                })
            }
            None => None,
        };
        out.push(PendingLink {
            id: row.get(0),
            subject: row.get(4),
            username: row.get(1),
            created_at_ms: row.get(2),
            resident,
        });
    }
    Ok(out)
}

/// Confirms or refuses a request (registry officers).
pub async fn decide(
    platform: &Platform,
    id: &str,
    decision: &LinkDecision,
    actor: &str,
) -> Result<(), PopulationError> {
    let reason = decision
        .reason
        .as_deref()
        .map(str::trim)
        .filter(|r| !r.is_empty())
        .map(str::to_owned);
    if reason.as_ref().is_some_and(|r| r.chars().count() > 200) {
        return Err(PopulationError::invalid("reason", "at most 200 characters").id("paling banyak 200 karakter"));
    }
    let mut tx = platform.store.begin().await?;
    let row = sqlx::query("SELECT subject, resident_id, status FROM population_link_requests WHERE id = $1")
        .bind(id)
        .fetch_optional(tx.conn())
        .await
        .map_err(StoreError::from)?
        .ok_or_else(|| {
            PopulationError::not_found(
                format!("no link request {id}"),
                format!("tidak ada permintaan tautan {id}"),
            )
        })?;
    let (subject, resident_id, status): (String, Option<String>, String) = (row.get(0), row.get(1), row.get(2));
    if status != "pending" {
        let status_id = match status.as_str() {
            "linked" => "disetujui",
            "rejected" => "ditolak",
            other => other,
        };
        return Err(PopulationError::conflict(
            format!("the request is already {status}"),
            format!("permintaan ini sudah {status_id}"),
        ));
    }
    let now = platform.clock.now_ms();
    if decision.approve {
        let Some(resident_id) = resident_id else {
            return Err(PopulationError::conflict(
                "the NIK and birth date given match no living resident; refuse the request",
                "NIK dan tanggal lahir yang diberikan tidak cocok dengan penduduk yang hidup; tolak permintaan ini",
            ));
        };
        sqlx::query(
            "INSERT INTO population_citizen_links (subject, resident_id, request_id, linked_by, linked_at_ms) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&subject)
        .bind(&resident_id)
        .bind(id)
        .bind(actor)
        .bind(now)
        .execute(tx.conn())
        .await
        .map_err(|e| match StoreError::from(e) {
            StoreError::Conflict { .. } => PopulationError::conflict(
                "this resident is already linked to another account",
                "data penduduk ini sudah tertaut ke akun lain",
            ),
            other => other.into(),
        })?;
        tx.append_event(&CitizenLinked {
            subject: subject.clone(),
            resident_id,
        })
        .await?;
    }
    let status = if decision.approve { "linked" } else { "rejected" };
    sqlx::query(
        "UPDATE population_link_requests SET status = $1, decided_by = $2, decided_at_ms = $3, reason = $4 WHERE id = $5",
    )
    .bind(status)
    .bind(actor)
    .bind(now)
    .bind(&reason)
    .bind(id)
    .execute(tx.conn())
    .await
    .map_err(StoreError::from)?;
    tx.audit(&AuditRecord {
        actor,
        action: if decision.approve {
            "population.link.confirm"
        } else {
            "population.link.refuse"
        },
        target: &format!("link-request:{id}"),
        outcome: Outcome::Success,
        details: None,
    })
    .await?;
    tx.commit().await?;
    Ok(())
}
