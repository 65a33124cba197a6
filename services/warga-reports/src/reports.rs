//! Reports: submitting (R1) with anonymity before anything is stored (R-S2/S4), the
//! reporter's own list and withdrawal (R2), the public feed (R3), and the departments'
//! queue and triage with isolation (R5, R-S1).
//!
//! Who sees a report:
//! - **public**: everyone (the reporter's account is never shown);
//! - **private**: the reporter, the responsible department and the city's top office;
//! - **anonymous**: the responsible department and the top office; the reporter only by
//!   the receipt code. Nothing stored links it to an account: no reporter, no audit record,
//!   a random id, times coarsened to the hour, an outbox event without trace context.

use serde::{Deserialize, Serialize};
use sqlx::Row;
use warga_core::Event;
use warga_core::identity::{Principal, Role};
use warga_http::Platform;
use warga_population::regions::REGIONS;
use warga_store::StoreError;
use warga_store::audit::{AuditRecord, Outcome};

use crate::attachments::{MAX_PHOTOS, Upload};
use crate::categories::{self, TOP_AUTHORITY};
use crate::error::ReportsError;
use crate::scrub::scrub;

/// An hour, the grain of an anonymous report's times.
const HOUR_MS: i64 = 3_600_000;
/// A day, the window of the anonymous-report quota.
const DAY_MS: i64 = 86_400_000;

/// Who may see a report.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Visibility {
    Public,
    Private,
    Anonymous,
}

impl Visibility {
    fn as_str(self) -> &'static str {
        match self {
            Visibility::Public => "public",
            Visibility::Private => "private",
            Visibility::Anonymous => "anonymous",
        }
    }

    fn parse(value: &str) -> Visibility {
        match value {
            "public" => Visibility::Public,
            "anonymous" => Visibility::Anonymous,
            _ => Visibility::Private,
        }
    }
}

/// What a citizen sends.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewReport {
    pub title: String,
    pub description: String,
    /// A category id (`GET /api/v1/reports/categories`).
    pub category: String,
    pub latitude: f64,
    pub longitude: f64,
    /// The district (kecamatan) code, 6 digits, from the region table.
    pub district: String,
    pub visibility: Visibility,
}

/// A report as its reader may see it.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct ReportView {
    pub id: String,
    pub title: String,
    pub description: String,
    pub category: String,
    pub department: String,
    pub latitude: f64,
    pub longitude: f64,
    pub district: String,
    pub visibility: Visibility,
    /// `submitted`, `acknowledged`, `in_progress`, `waiting_reporter`, `resolved`, `rejected`
    /// or `withdrawn`.
    pub status: String,
    pub upvotes: i64,
    /// 0: with the department; 1: escalated to its head; 2: to the city's top office.
    pub escalation_level: i64,
    pub created_at_ms: i64,
    pub updated_at_ms: i64,
    /// Status changes and comments, oldest first (internal notes only for departments).
    pub timeline: Vec<TimelineEntry>,
    /// Photos, at `/api/v1/reports/{id}/photos/{number}` (by receipt for an anonymous
    /// report's reporter: `POST /api/v1/reports/receipt/photos/{number}`).
    pub photos: Vec<crate::attachments::PhotoView>,
}

/// One step of a report's life.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct TimelineEntry {
    pub status: String,
    pub note: Option<String>,
    /// Seen only by departments and the top office.
    pub internal: bool,
    /// The acting department (none for the reporter's own steps).
    pub department: Option<String>,
    pub at_ms: i64,
}

/// The answer to a submission.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Submitted {
    pub report: ReportView,
    /// For an anonymous report only: the code to follow it without signing in. Shown once;
    /// warga keeps only a slow hash of it.
    pub receipt: Option<String>,
}

/// Event: a report was filed. No account, no text.
#[derive(Debug, Serialize, Deserialize)]
pub struct ReportSubmitted {
    pub report_id: String,
    pub category: String,
    pub department: String,
    pub district: String,
    pub visibility: Visibility,
}

impl Event for ReportSubmitted {
    const TOPIC: &'static str = "reports.report.submitted";
    const VERSION: u32 = 1;
}

/// Event: a report's status changed.
#[derive(Debug, Serialize, Deserialize)]
pub struct ReportStatusChanged {
    pub report_id: String,
    pub department: String,
    pub from: String,
    pub to: String,
}

impl Event for ReportStatusChanged {
    const TOPIC: &'static str = "reports.report.status_changed";
    const VERSION: u32 = 1;
}

fn char_len(text: &str) -> usize {
    text.chars().count()
}

/// Checks the fields; returns them trimmed.
fn check(new: &NewReport) -> Result<(String, String, &'static categories::Category), ReportsError> {
    let title = new.title.trim().to_owned();
    let description = new.description.trim().to_owned();
    if !(5..=120).contains(&char_len(&title)) {
        return Err(ReportsError::invalid("title", "judul harus 5 sampai 120 karakter"));
    }
    if !(10..=5000).contains(&char_len(&description)) {
        return Err(ReportsError::invalid(
            "description",
            "uraian harus 10 sampai 5.000 karakter",
        ));
    }
    if title
        .chars()
        .chain(description.chars())
        .any(|c| c.is_control() && c != '\n' && c != '\t')
    {
        return Err(ReportsError::invalid("description", "teks berisi karakter kendali"));
    }
    let category =
        categories::by_id(&new.category).ok_or_else(|| ReportsError::invalid("category", "kategori tidak dikenal"))?;
    // Indonesia's extent, with its outer islands.
    if !(new.latitude.is_finite() && (-11.5..=6.5).contains(&new.latitude)) {
        return Err(ReportsError::invalid("latitude", "lokasi di luar wilayah Indonesia"));
    }
    if !(new.longitude.is_finite() && (94.5..=141.5).contains(&new.longitude)) {
        return Err(ReportsError::invalid("longitude", "lokasi di luar wilayah Indonesia"));
    }
    if new.district.len() != 6 || REGIONS.district(&new.district).is_none() {
        return Err(ReportsError::invalid("district", "kode kecamatan tidak dikenal"));
    }
    Ok((title, description, category))
}

/// The reporter's resident record, which must exist and be alive (R-S3).
async fn reporter_names(platform: &Platform, subject: &str) -> Result<Vec<String>, ReportsError> {
    let resident_id = warga_population::links::linked_resident(&platform.store, subject)
        .await?
        .ok_or_else(|| {
            // The account's state, not its role: a citizen may report once linked.
            ReportsError::Conflict(
                "hanya warga yang akunnya sudah ditautkan ke data kependudukan yang dapat melapor".into(),
            )
        })?;
    let resident = warga_population::residents::current(platform, &resident_id)
        .await
        .map_err(|e| ReportsError::Internal(e.to_string()))?;
    if resident.status != "alive" {
        return Err(ReportsError::Conflict("data kependudukan akun ini tidak aktif".into()));
    }
    Ok(vec![resident.fields.full_name])
}

/// Counts an anonymous report against the account's daily quota, under a keyed hash of
/// the account and the day that is never stored with the report.
async fn spend_anonymous_quota(platform: &Platform, subject: &str, per_day: u32, now: i64) -> Result<(), ReportsError> {
    let window = now - now.rem_euclid(DAY_MS);
    let key = platform
        .vault
        .index(&format!("reports:anonymous-quota:{window}:{subject}"))
        .await?;
    let mut tx = platform.store.begin().await?;
    sqlx::query("DELETE FROM report_anonymous_quota WHERE window_start_ms < $1")
        .bind(window)
        .execute(tx.conn())
        .await
        .map_err(StoreError::from)?;
    sqlx::query(
        "INSERT INTO report_anonymous_quota (window_start_ms, account_key, used) VALUES ($1, $2, 1) \
         ON CONFLICT (window_start_ms, account_key) DO UPDATE SET used = report_anonymous_quota.used + 1",
    )
    .bind(window)
    .bind(&key)
    .execute(tx.conn())
    .await
    .map_err(StoreError::from)?;
    let used: i64 =
        sqlx::query("SELECT used FROM report_anonymous_quota WHERE window_start_ms = $1 AND account_key = $2")
            .bind(window)
            .bind(&key)
            .fetch_one(tx.conn())
            .await
            .map_err(StoreError::from)?
            .get(0);
    if used > i64::from(per_day) {
        tx.rollback().await?;
        return Err(ReportsError::TooMany(format!(
            "batas {per_day} laporan anonim per hari sudah tercapai"
        )));
    }
    tx.commit().await?;
    Ok(())
}

/// Files a report for a citizen linked to a living resident.
pub async fn submit(
    platform: &Platform,
    citizen: &Principal,
    new: &NewReport,
    uploads: Vec<Upload>,
    config: &crate::config::ReportsConfig,
    idempotency_key: Option<&str>,
) -> Result<Submitted, ReportsError> {
    if !citizen.has_role(Role::Citizen) {
        return Err(ReportsError::Forbidden("hanya warga yang dapat melapor".into()));
    }
    let (title, description, category) = check(new)?;
    if uploads.len() > MAX_PHOTOS {
        return Err(ReportsError::invalid(
            "photos",
            format!("paling banyak {MAX_PHOTOS} foto per laporan"),
        ));
    }
    // Every photo is checked before anything is stored or counted.
    let photos = crate::attachments::prepare(uploads, config.photo_limits()).await?;
    let names = reporter_names(platform, &citizen.subject).await?;
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    let title = scrub(&title, &names);
    let description = scrub(&description, &names);
    let anonymous = new.visibility == Visibility::Anonymous;
    let exact_now = platform.clock.now_ms();
    if anonymous {
        spend_anonymous_quota(platform, &citizen.subject, config.anonymous_per_day, exact_now).await?;
    }
    let now = if anonymous {
        exact_now - exact_now.rem_euclid(HOUR_MS)
    } else {
        exact_now
    };
    // Random, so an id tells nothing of when or by whom (a time-ordered id would).
    let id = warga_auth::random_token(16)?;
    let (receipt, receipt_hash) = if anonymous {
        let secret = warga_auth::random_token(16)?;
        let hash = warga_auth::slow_hash::hash(secret.clone())
            .await
            .map_err(ReportsError::Internal)?;
        (Some(format!("{id}.{secret}")), Some(hash))
    } else {
        (None, None)
    };
    let reporter = (!anonymous).then(|| citizen.subject.clone());
    let latitude_e6 = (new.latitude * 1e6).round() as i64;
    let longitude_e6 = (new.longitude * 1e6).round() as i64;
    let event = ReportSubmitted {
        report_id: id.clone(),
        category: category.id.to_owned(),
        department: category.department.to_owned(),
        district: new.district.clone(),
        visibility: new.visibility,
    };
    let mut tx = platform.store.begin().await?;
    // The report, its first step, its timers, the event and the audit record in one round
    // trip (SQLite's one writer is held for each).
    let mut writes = vec![
        sqlx::query(
            "INSERT INTO reports (id, reporter, visibility, category, department, title, description, latitude_e6, \
             longitude_e6, district, status, receipt_hash, upvotes, created_at_ms, updated_at_ms) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 'submitted', $11, 0, $12, $12)",
        )
        .bind(id.clone())
        .bind(reporter.clone())
        .bind(new.visibility.as_str())
        .bind(category.id)
        .bind(category.department)
        .bind(title.clone())
        .bind(description.clone())
        .bind(latitude_e6)
        .bind(longitude_e6)
        .bind(new.district.clone())
        .bind(receipt_hash.clone())
        .bind(now),
        crate::timeline::step_insert(&id, "submitted", None, false, None, None, now),
        crate::sla::timers_insert(&config.sla, &id, category, now),
    ];
    if anonymous {
        // No audit record (it would name the account), and an event with the coarse time
        // and no trace context (which would lead back to the request).
        writes.push(tx.envelope_insert(&warga_core::Envelope::untraced(&event, now)));
    } else {
        writes.push(warga_store::audit::insert(&AuditRecord {
            actor: &citizen.audit_actor(),
            action: "reports.report.submit",
            target: &format!("report:{id}"),
            outcome: Outcome::Success,
            details: Some(serde_json::json!({ "category": category.id, "visibility": new.visibility.as_str() })),
        }));
        writes.push(tx.event_insert(&event));
    }
    tx.execute_all(writes).await?;
    if let Some(key) = idempotency_key {
        if anonymous {
            return Err(ReportsError::invalid("Idempotency-Key", "tidak untuk laporan anonim"));
        }
        let key_hash = idempotency_hash(platform, citizen, key).await?;
        sqlx::query("DELETE FROM report_idempotency WHERE created_at_ms < $1")
            .bind(now - DAY_MS)
            .execute(tx.conn())
            .await
            .map_err(StoreError::from)?;
        // A second request with the key conflicts here and is answered with the first's report.
        sqlx::query("INSERT INTO report_idempotency (key_hash, report_id, created_at_ms) VALUES ($1, $2, $3)")
            .bind(&key_hash)
            .bind(&id)
            .bind(now)
            .execute(tx.conn())
            .await
            .map_err(StoreError::from)?;
    }
    let written = crate::attachments::attach(platform, &mut tx, &id, "reporter", photos, now).await?;
    if let Err(error) = tx.commit().await {
        written.discard().await;
        return Err(error.into());
    }
    // The answer is built from what was just committed, not read back: once the report is
    // stored, the reporter is told so (a failed read-back would make them file it twice).
    let report = ReportView {
        id,
        title,
        description,
        category: category.id.to_owned(),
        department: category.department.to_owned(),
        latitude: latitude_e6 as f64 / 1e6,
        longitude: longitude_e6 as f64 / 1e6,
        district: new.district.clone(),
        visibility: new.visibility,
        status: "submitted".into(),
        upvotes: 0,
        escalation_level: 0,
        created_at_ms: now,
        updated_at_ms: now,
        timeline: vec![TimelineEntry {
            status: "submitted".into(),
            note: None,
            internal: false,
            department: None,
            at_ms: now,
        }],
        photos: written.views,
    };
    Ok(Submitted { report, receipt })
}

async fn idempotency_hash(platform: &Platform, citizen: &Principal, key: &str) -> Result<String, ReportsError> {
    Ok(platform
        .vault
        .index(&format!("reports:idempotency:{}:{key}", citizen.subject))
        .await?)
}

/// The report a citizen's earlier submission with `key` filed (within a day), if any.
pub async fn by_idempotency_key(
    platform: &Platform,
    citizen: &Principal,
    key: &str,
) -> Result<Option<ReportView>, ReportsError> {
    let key_hash = idempotency_hash(platform, citizen, key).await?;
    let row = sqlx::query("SELECT report_id FROM report_idempotency WHERE key_hash = $1 AND created_at_ms >= $2")
        .bind(&key_hash)
        .bind(platform.clock.now_ms() - DAY_MS)
        .fetch_optional(platform.store.reader())
        .await
        .map_err(StoreError::from)?;
    match row {
        Some(row) => Ok(Some(get(platform, Some(citizen), &row.get::<String, _>(0)).await?)),
        None => Ok(None),
    }
}

/// A stored report with what decides who may see it.
struct Stored {
    view: ReportView,
    reporter: Option<String>,
    receipt_hash: Option<String>,
}

impl Stored {
    fn into_view(self, with_internal: bool) -> ReportView {
        let mut view = self.view;
        if !with_internal {
            view.timeline.retain(|e| !e.internal);
        }
        view
    }

    /// Whether `viewer` may read it, and whether as the department (internal notes).
    fn access(&self, viewer: Option<&Principal>) -> Option<bool> {
        if let Some(p) = viewer
            && p.has_role(Role::Officer)
            && let Some(dept) = p.department.as_deref()
            && (dept == self.view.department || dept == TOP_AUTHORITY)
        {
            return Some(true);
        }
        match self.view.visibility {
            Visibility::Public => Some(false),
            Visibility::Private => viewer
                .is_some_and(|p| self.reporter.as_deref() == Some(p.subject.as_str()))
                .then_some(false),
            Visibility::Anonymous => None,
        }
    }
}

const COLUMNS: &str = "id, reporter, visibility, category, department, title, description, latitude_e6, longitude_e6, \
                       district, status, receipt_hash, upvotes, created_at_ms, updated_at_ms, escalation_level";

fn from_row(row: &sqlx::any::AnyRow) -> Stored {
    Stored {
        reporter: row.get(1),
        receipt_hash: row.get(11),
        view: ReportView {
            id: row.get(0),
            visibility: Visibility::parse(row.get(2)),
            category: row.get(3),
            department: row.get(4),
            title: row.get(5),
            description: row.get(6),
            latitude: row.get::<i64, _>(7) as f64 / 1e6,
            longitude: row.get::<i64, _>(8) as f64 / 1e6,
            district: row.get(9),
            status: row.get(10),
            upvotes: row.get(12),
            created_at_ms: row.get(13),
            updated_at_ms: row.get(14),
            escalation_level: row.get(15),
            timeline: Vec::new(),
            photos: Vec::new(),
        },
    }
}

async fn load(platform: &Platform, id: &str, with_timeline: bool) -> Result<Option<Stored>, ReportsError> {
    let row = sqlx::query(&format!("SELECT {COLUMNS} FROM reports WHERE id = $1"))
        .bind(id)
        .fetch_optional(platform.store.reader())
        .await
        .map_err(StoreError::from)?;
    let Some(row) = row else { return Ok(None) };
    let mut stored = from_row(&row);
    if with_timeline {
        stored.view.timeline = timeline(platform, id).await?;
        stored.view.photos = crate::attachments::list(platform, id).await?;
    }
    Ok(Some(stored))
}

async fn timeline(platform: &Platform, id: &str) -> Result<Vec<TimelineEntry>, ReportsError> {
    let rows = sqlx::query(
        "SELECT status, note, internal, department, at_ms FROM report_events WHERE report_id = $1 ORDER BY seq",
    )
    .bind(id)
    .fetch_all(platform.store.reader())
    .await
    .map_err(StoreError::from)?;
    Ok(rows
        .iter()
        .map(|r| TimelineEntry {
            status: r.get(0),
            note: r.get(1),
            internal: r.get::<i64, _>(2) != 0,
            department: r.get(3),
            at_ms: r.get(4),
        })
        .collect())
}

/// One report, as `viewer` may see it; not found when they may not (a private report's
/// existence is not confirmed to others).
pub async fn get(platform: &Platform, viewer: Option<&Principal>, id: &str) -> Result<ReportView, ReportsError> {
    let stored = load(platform, id, true).await?.ok_or(ReportsError::NotFound)?;
    match stored.access(viewer) {
        Some(as_department) => Ok(stored.into_view(as_department)),
        None => Err(ReportsError::NotFound),
    }
}

/// A report's photo (content type, bytes), for a reader who may see the report.
pub async fn photo(
    platform: &Platform,
    viewer: Option<&Principal>,
    id: &str,
    number: i64,
) -> Result<(String, Vec<u8>), ReportsError> {
    let stored = load(platform, id, false).await?.ok_or(ReportsError::NotFound)?;
    stored.access(viewer).ok_or(ReportsError::NotFound)?;
    crate::attachments::open(platform, id, number).await
}

/// An anonymous report's photo, for the holder of its receipt code.
pub async fn photo_by_receipt(platform: &Platform, code: &str, number: i64) -> Result<(String, Vec<u8>), ReportsError> {
    let report = by_receipt(platform, code).await?;
    crate::attachments::open(platform, &report.id, number).await
}

/// An anonymous report followed by its receipt code (`<id>.<secret>`).
pub async fn by_receipt(platform: &Platform, code: &str) -> Result<ReportView, ReportsError> {
    let refused = || ReportsError::invalid("receipt", "kode tanda terima tidak dikenali");
    let (id, secret) = code.trim().split_once('.').ok_or_else(refused)?;
    if id.len() > 64 || secret.len() > 64 {
        return Err(refused());
    }
    let stored = load(platform, id, true).await?;
    // The same slow check whether or not the report exists (a dummy hash when it does not).
    let hash = stored.as_ref().and_then(|s| s.receipt_hash.clone());
    let valid = warga_auth::slow_hash::verify(secret.to_owned(), hash).await;
    match stored {
        Some(stored) if valid && stored.receipt_hash.is_some() => Ok(stored.into_view(false)),
        _ => Err(refused()),
    }
}

/// Whether `subject` filed report `id` (under their name: anonymous reports are no one's).
pub async fn is_reporter(platform: &Platform, subject: &str, id: &str) -> Result<bool, ReportsError> {
    let row = sqlx::query("SELECT 1 FROM reports WHERE id = $1 AND reporter = $2")
        .bind(id)
        .bind(subject)
        .fetch_optional(platform.store.reader())
        .await
        .map_err(StoreError::from)?;
    Ok(row.is_some())
}

/// The reporter's own reports (public and private; anonymous ones are not theirs to list).
pub async fn mine(platform: &Platform, subject: &str) -> Result<Vec<ReportView>, ReportsError> {
    let rows = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM reports WHERE reporter = $1 ORDER BY created_at_ms DESC, id DESC LIMIT 200"
    ))
    .bind(subject)
    .fetch_all(platform.store.reader())
    .await
    .map_err(StoreError::from)?;
    let mut out = Vec::with_capacity(rows.len());
    for row in &rows {
        let mut stored = from_row(row);
        stored.view.timeline = timeline(platform, &stored.view.id).await?;
        out.push(stored.into_view(false));
    }
    Ok(out)
}

/// Filters of the public feed.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct FeedQuery {
    pub category: Option<String>,
    pub status: Option<String>,
    /// A province (2 digits), regency (4) or district (6) code.
    pub region: Option<String>,
    /// An area: `west,south,east,north` in degrees (longitude, latitude).
    pub bbox: Option<String>,
    /// Filed at or after this time (Unix milliseconds).
    pub since: Option<i64>,
    /// Filed before this time (Unix milliseconds).
    pub until: Option<i64>,
    /// `recent` (newest first, the default) or `upvotes` (most supported first).
    pub sort: Option<String>,
    /// From a previous page's `next`.
    pub cursor: Option<String>,
    /// At most 100; 20 by default.
    pub limit: Option<i64>,
}

/// A page of the public feed, newest first.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct FeedPage {
    pub reports: Vec<ReportView>,
    /// The cursor of the next page; none on the last.
    pub next: Option<String>,
}

/// Public reports, newest first, filtered; cursor pagination on (time, id).
pub async fn feed(platform: &Platform, query: &FeedQuery) -> Result<FeedPage, ReportsError> {
    let limit = query.limit.unwrap_or(20);
    if !(1..=100).contains(&limit) {
        return Err(ReportsError::invalid("limit", "antara 1 dan 100"));
    }
    if let Some(category) = &query.category
        && categories::by_id(category).is_none()
    {
        return Err(ReportsError::invalid("category", "kategori tidak dikenal"));
    }
    let region = match &query.region {
        Some(code) if matches!(code.len(), 2 | 4 | 6) && code.bytes().all(|b| b.is_ascii_digit()) => {
            format!("{code}%")
        }
        Some(_) => return Err(ReportsError::invalid("region", "kode wilayah 2, 4 atau 6 angka")),
        None => "%".to_owned(),
    };
    // The area as microdegrees: (west, south, east, north).
    let area = match &query.bbox {
        None => (i64::MIN, i64::MIN, i64::MAX, i64::MAX),
        Some(text) => {
            let bad = || ReportsError::invalid("bbox", "west,south,east,north dalam derajat");
            let parts: Vec<f64> = text
                .split(',')
                .map(|p| p.trim().parse::<f64>().map_err(|_| bad()))
                .collect::<Result<_, _>>()?;
            let [west, south, east, north] = parts[..] else {
                return Err(bad());
            };
            if !(parts.iter().all(|v| v.is_finite()) && west < east && south < north) {
                return Err(bad());
            }
            let e6 = |v: f64| (v * 1e6).round() as i64;
            (e6(west), e6(south), e6(east), e6(north))
        }
    };
    let (since, until) = (query.since.unwrap_or(i64::MIN), query.until.unwrap_or(i64::MAX));
    if since >= until {
        return Err(ReportsError::invalid("since", "harus sebelum `until`"));
    }
    let by_upvotes = match query.sort.as_deref() {
        None | Some("recent") => false,
        Some("upvotes") => true,
        Some(_) => return Err(ReportsError::invalid("sort", "recent atau upvotes")),
    };
    // The cursor is the last row's sort key: (time, id), or (upvotes, time, id).
    let bad_cursor = || ReportsError::invalid("cursor", "kursor tidak valid");
    let (before_votes, before_ms, before_id) = match &query.cursor {
        Some(cursor) => {
            let parts: Vec<&str> = cursor.split('~').collect();
            match (by_upvotes, parts.as_slice()) {
                (false, [ms, id]) => (i64::MAX, ms.parse::<i64>().map_err(|_| bad_cursor())?, (*id).to_owned()),
                (true, [votes, ms, id]) => (
                    votes.parse::<i64>().map_err(|_| bad_cursor())?,
                    ms.parse::<i64>().map_err(|_| bad_cursor())?,
                    (*id).to_owned(),
                ),
                _ => return Err(bad_cursor()),
            }
        }
        None => (i64::MAX, i64::MAX, String::new()),
    };
    let after_cursor = if by_upvotes {
        "(upvotes < $7 OR (upvotes = $7 AND (created_at_ms < $4 OR (created_at_ms = $4 AND ($5 = '' OR id < $5)))))"
    } else {
        "($7 = $7 AND (created_at_ms < $4 OR (created_at_ms = $4 AND ($5 = '' OR id < $5))))"
    };
    let order = if by_upvotes {
        "upvotes DESC, created_at_ms DESC, id DESC"
    } else {
        "created_at_ms DESC, id DESC"
    };
    let rows = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM reports WHERE visibility = 'public' \
         AND ($1 = '' OR category = $1) AND ($2 = '' OR status = $2) AND district LIKE $3 \
         AND longitude_e6 >= $8 AND latitude_e6 >= $9 AND longitude_e6 <= $10 AND latitude_e6 <= $11 \
         AND created_at_ms >= $12 AND created_at_ms < $13 \
         AND {after_cursor} ORDER BY {order} LIMIT $6"
    ))
    .bind(query.category.as_deref().unwrap_or(""))
    .bind(query.status.as_deref().unwrap_or(""))
    .bind(&region)
    .bind(before_ms)
    .bind(&before_id)
    .bind(limit + 1)
    .bind(before_votes)
    .bind(area.0)
    .bind(area.1)
    .bind(area.2)
    .bind(area.3)
    .bind(since)
    .bind(until)
    .fetch_all(platform.store.reader())
    .await
    .map_err(StoreError::from)?;
    let mut reports: Vec<ReportView> = rows.iter().map(|r| from_row(r).into_view(false)).collect();
    let next = if reports.len() as i64 > limit {
        reports.truncate(limit as usize);
        reports.last().map(|r| {
            if by_upvotes {
                format!("{}~{}~{}", r.upvotes, r.created_at_ms, r.id)
            } else {
                format!("{}~{}", r.created_at_ms, r.id)
            }
        })
    } else {
        None
    };
    Ok(FeedPage { reports, next })
}

/// What a public listing outside the feed (Open311) asks for.
#[derive(Debug, Default)]
pub struct PublicFilter {
    /// Only these reports (none: any).
    pub ids: Vec<String>,
    pub category: Option<String>,
    /// `Some(true)`: still open; `Some(false)`: closed (resolved, rejected, withdrawn).
    pub open: Option<bool>,
    /// Filed at or after, before (ms).
    pub from_ms: i64,
    pub to_ms: i64,
    pub limit: i64,
}

/// The statuses in which a report still waits for an answer.
pub const OPEN_STATUSES: &[&str] = &["submitted", "acknowledged", "in_progress", "waiting_reporter"];

/// Public reports by filter, newest first, with their public timeline and photos.
pub async fn public_reports(platform: &Platform, filter: &PublicFilter) -> Result<Vec<ReportView>, ReportsError> {
    let open_list = OPEN_STATUSES
        .iter()
        .map(|s| format!("'{s}'"))
        .collect::<Vec<_>>()
        .join(", ");
    let ids = (0..filter.ids.len())
        .map(|i| format!("${}", i + 6))
        .collect::<Vec<_>>()
        .join(", ");
    let by_id = if filter.ids.is_empty() {
        String::new()
    } else {
        format!(" AND id IN ({ids})")
    };
    let sql = format!(
        "SELECT id FROM reports WHERE visibility = 'public' AND created_at_ms >= $1 AND created_at_ms < $2          AND ($3 = '' OR category = $3)          AND ($4 = 'any' OR ($4 = 'open' AND status IN ({open_list})) OR ($4 = 'closed' AND status NOT IN ({open_list}))){by_id}          ORDER BY created_at_ms DESC, id DESC LIMIT $5"
    );
    let mut query = sqlx::query(&sql)
        .bind(filter.from_ms)
        .bind(filter.to_ms)
        .bind(filter.category.as_deref().unwrap_or(""))
        .bind(match filter.open {
            None => "any",
            Some(true) => "open",
            Some(false) => "closed",
        })
        .bind(filter.limit);
    for id in &filter.ids {
        query = query.bind(id);
    }
    let rows = query
        .fetch_all(platform.store.reader())
        .await
        .map_err(StoreError::from)?;
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        if let Some(stored) = load(platform, &row.get::<String, _>(0), true).await? {
            out.push(stored.into_view(false));
        }
    }
    Ok(out)
}

/// The department's reports (every department's for the top office), newest first.
pub async fn queue(
    platform: &Platform,
    officer: &Principal,
    status: Option<&str>,
) -> Result<Vec<ReportView>, ReportsError> {
    let department = officer_department(officer)?;
    // The department is checked here and, on PostgreSQL, by row-level security as well.
    let mut read = platform.store.reader().begin().await.map_err(StoreError::from)?;
    scope_to_department(platform, &mut read, department).await?;
    let rows = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM reports WHERE ($1 = '{TOP_AUTHORITY}' OR department = $1) AND ($2 = '' OR status = $2) \
         ORDER BY created_at_ms DESC, id DESC LIMIT 500"
    ))
    .bind(department)
    .bind(status.unwrap_or(""))
    .fetch_all(&mut *read)
    .await
    .map_err(StoreError::from)?;
    read.rollback().await.map_err(StoreError::from)?;
    Ok(rows.iter().map(|r| from_row(r).into_view(true)).collect())
}

/// On PostgreSQL, limits what `conn`'s transaction sees and changes to `department`'s
/// reports by row-level security (migration `2026120103`); nothing on SQLite, which has
/// none. The top office's department sees every report.
pub async fn scope_to_department(
    platform: &Platform,
    conn: &mut sqlx::AnyConnection,
    department: &str,
) -> Result<(), ReportsError> {
    if platform.store.backend() == warga_store::Backend::Postgres {
        sqlx::query("SELECT set_config('warga.department', $1, true)")
            .bind(department)
            .execute(conn)
            .await
            .map_err(StoreError::from)?;
    }
    Ok(())
}

fn officer_department(officer: &Principal) -> Result<&str, ReportsError> {
    match officer.department.as_deref() {
        Some(department)
            if officer.has_role(Role::Officer)
                && (department == TOP_AUTHORITY || categories::is_department(department)) =>
        {
            Ok(department)
        }
        _ => Err(ReportsError::Forbidden(
            "hanya petugas dinas yang menangani laporan yang dapat melihat antrean".into(),
        )),
    }
}

/// What a department does to a report.
#[derive(Clone, Copy, Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Verified: it is ours and real.
    Acknowledge,
    /// Work has started.
    Start,
    /// Done (a note for the reporter is required).
    Resolve,
    /// Not a real problem, or not actionable (a note is required).
    Reject,
    /// A comment without a status change.
    Comment,
    /// Ask the reporter something (the note is the question): the report waits for their
    /// answer and its deadlines stop until then.
    AskReporter,
    /// Not this department's: send it to `department` (a note is required). The report
    /// returns to `submitted` there; its deadlines keep running from the filing.
    NotOurs,
}

/// Event: a department sent a report on to another.
#[derive(Debug, Serialize, Deserialize)]
pub struct ReportRerouted {
    pub report_id: String,
    pub from_department: String,
    pub to_department: String,
}

impl Event for ReportRerouted {
    const TOPIC: &'static str = "reports.report.rerouted";
    const VERSION: u32 = 1;
}

/// A department's step on a report.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Triage {
    pub action: Action,
    pub note: Option<String>,
    /// For the departments only (not shown to the reporter or the public).
    #[serde(default)]
    pub internal: bool,
    /// For `not_ours`: the department that should act.
    pub department: Option<String>,
}

/// Applies a department's step; only officers of the report's own department may.
pub async fn triage(
    platform: &Platform,
    officer: &Principal,
    id: &str,
    step: &Triage,
    uploads: Vec<Upload>,
) -> Result<ReportView, ReportsError> {
    let department = officer_department(officer)?;
    if !uploads.is_empty() && !matches!(step.action, Action::Resolve) {
        return Err(ReportsError::invalid(
            "photos",
            "foto hanya dilampirkan saat laporan diselesaikan",
        ));
    }
    if uploads.len() > 1 {
        return Err(ReportsError::invalid("photos", "satu foto hasil penyelesaian"));
    }
    let note = step.note.as_deref().map(str::trim).filter(|n| !n.is_empty());
    if let Some(note) = note
        && char_len(note) > 2000
    {
        return Err(ReportsError::invalid("note", "catatan paling banyak 2.000 karakter"));
    }
    // Decoded before the transaction, which must stay short.
    let photos = crate::attachments::prepare(uploads, crate::settings(platform).photo_limits()).await?;
    let mut tx = platform.store.begin().await?;
    scope_to_department(platform, tx.conn(), department).await?;
    let row = sqlx::query("SELECT department, status, escalation_level FROM reports WHERE id = $1")
        .bind(id)
        .fetch_optional(tx.conn())
        .await
        .map_err(StoreError::from)?;
    let Some(row) = row else {
        return Err(ReportsError::NotFound);
    };
    let (owner, from, level): (String, String, i64) = (row.get(0), row.get(1), row.get(2));
    if department == TOP_AUTHORITY {
        // The top office watches every report and acts once one is escalated to it.
        if level < 2 {
            return Err(ReportsError::Forbidden(
                "Pemerintah Kota menindaklanjuti laporan setelah dieskalasi kepadanya".into(),
            ));
        }
    } else if owner != department {
        // Another department's report does not exist for this officer.
        return Err(ReportsError::NotFound);
    }
    let to = match (step.action, from.as_str()) {
        (Action::Comment, _) => from.clone(),
        (Action::Acknowledge, "submitted") => "acknowledged".into(),
        (Action::Start, "submitted" | "acknowledged") => "in_progress".into(),
        (Action::Resolve, "acknowledged" | "in_progress") => "resolved".into(),
        (Action::Reject, "submitted" | "acknowledged" | "waiting_reporter") => "rejected".into(),
        (Action::AskReporter, "submitted" | "acknowledged" | "in_progress") => "waiting_reporter".into(),
        (Action::NotOurs, "submitted" | "acknowledged") => "submitted".into(),
        (action, status) => {
            return Err(ReportsError::Conflict(format!(
                "tindakan {action:?} tidak berlaku untuk laporan berstatus {status}"
            )));
        }
    };
    if matches!(
        step.action,
        Action::Resolve | Action::Reject | Action::Comment | Action::NotOurs
    ) && note.is_none()
    {
        return Err(ReportsError::invalid("note", "catatan wajib diisi untuk tindakan ini"));
    }
    if step.internal && !matches!(step.action, Action::Comment) {
        return Err(ReportsError::invalid(
            "internal",
            "hanya komentar yang dapat bersifat internal",
        ));
    }
    let now = platform.clock.now_ms();
    if let Action::NotOurs = step.action {
        let target = step.department.as_deref().unwrap_or_default();
        if !categories::is_department(target) || target == owner {
            return Err(ReportsError::invalid("department", "dinas tujuan tidak dikenal"));
        }
        sqlx::query("UPDATE reports SET department = $1, status = 'submitted', updated_at_ms = $2 WHERE id = $3")
            .bind(target)
            .bind(now)
            .bind(id)
            .execute(tx.conn())
            .await
            .map_err(StoreError::from)?;
        crate::timeline::append_step(
            &mut tx,
            id,
            "rerouted",
            note,
            false,
            Some(&officer.subject),
            Some(department),
            now,
        )
        .await?;
        tx.audit(&AuditRecord {
            actor: &officer.audit_actor(),
            action: "reports.report.reroute",
            target: &format!("report:{id}"),
            outcome: Outcome::Success,
            details: Some(serde_json::json!({ "from": owner, "to": target })),
        })
        .await?;
        tx.append_event(&ReportRerouted {
            report_id: id.to_owned(),
            from_department: owner,
            to_department: target.to_owned(),
        })
        .await?;
        tx.commit().await?;
        let stored = load(platform, id, true).await?.ok_or(ReportsError::NotFound)?;
        return Ok(stored.into_view(true));
    }
    if step.department.is_some() {
        return Err(ReportsError::invalid("department", "hanya untuk tindakan not_ours"));
    }

    match to.as_str() {
        "resolved" | "rejected" => crate::sla::cancel_timers(&mut tx, id, true).await?,
        "acknowledged" | "in_progress" => crate::sla::cancel_timers(&mut tx, id, false).await?,
        "waiting_reporter" => {
            crate::sla::pause_timers(&mut tx, id, now).await?;
            sqlx::query("UPDATE reports SET paused_status = $1 WHERE id = $2")
                .bind(&from)
                .bind(id)
                .execute(tx.conn())
                .await
                .map_err(StoreError::from)?;
        }
        _ => {}
    }
    if to != from {
        sqlx::query("UPDATE reports SET status = $1, updated_at_ms = $2 WHERE id = $3 AND status = $4")
            .bind(&to)
            .bind(now)
            .bind(id)
            .bind(&from)
            .execute(tx.conn())
            .await
            .map_err(StoreError::from)?;
    }
    crate::timeline::append_step(
        &mut tx,
        id,
        &to,
        note,
        step.internal,
        Some(&officer.subject),
        Some(department),
        now,
    )
    .await?;
    tx.audit(&AuditRecord {
        actor: &officer.audit_actor(),
        action: "reports.report.triage",
        target: &format!("report:{id}"),
        outcome: Outcome::Success,
        details: Some(serde_json::json!({ "from": from, "to": to })),
    })
    .await?;
    if to != from {
        tx.append_event(&ReportStatusChanged {
            report_id: id.to_owned(),
            department: department.to_owned(),
            from,
            to,
        })
        .await?;
    }
    let written = crate::attachments::attach(platform, &mut tx, id, "department", photos, now).await?;
    if let Err(error) = tx.commit().await {
        written.discard().await;
        return Err(error.into());
    }
    let stored = load(platform, id, true).await?.ok_or(ReportsError::NotFound)?;
    Ok(stored.into_view(true))
}

/// The reporter withdraws their own report while no department has acted on it.
pub async fn withdraw(platform: &Platform, citizen: &Principal, id: &str) -> Result<ReportView, ReportsError> {
    let mut tx = platform.store.begin().await?;
    let row = sqlx::query("SELECT reporter, status, department FROM reports WHERE id = $1")
        .bind(id)
        .fetch_optional(tx.conn())
        .await
        .map_err(StoreError::from)?;
    let Some(row) = row else {
        return Err(ReportsError::NotFound);
    };
    let (reporter, status, department): (Option<String>, String, String) = (row.get(0), row.get(1), row.get(2));
    if reporter.as_deref() != Some(citizen.subject.as_str()) {
        return Err(ReportsError::NotFound);
    }
    if status != "submitted" {
        return Err(ReportsError::Conflict(
            "laporan yang sudah ditangani dinas tidak dapat ditarik".into(),
        ));
    }
    let now = platform.clock.now_ms();
    sqlx::query("UPDATE reports SET status = 'withdrawn', updated_at_ms = $1 WHERE id = $2 AND status = 'submitted'")
        .bind(now)
        .bind(id)
        .execute(tx.conn())
        .await
        .map_err(StoreError::from)?;
    crate::timeline::append_step(&mut tx, id, "withdrawn", None, false, None, None, now).await?;
    crate::sla::cancel_timers(&mut tx, id, true).await?;
    tx.audit(&AuditRecord {
        actor: &citizen.audit_actor(),
        action: "reports.report.withdraw",
        target: &format!("report:{id}"),
        outcome: Outcome::Success,
        details: None,
    })
    .await?;
    tx.append_event(&ReportStatusChanged {
        report_id: id.to_owned(),
        department,
        from: status,
        to: "withdrawn".into(),
    })
    .await?;
    tx.commit().await?;
    get(platform, Some(citizen), id).await
}

/// Upvotes a public report (`up`) or takes the upvote back; idempotent both ways. Returns
/// the report with its count.
pub async fn vote(platform: &Platform, citizen: &Principal, id: &str, up: bool) -> Result<ReportView, ReportsError> {
    if !citizen.has_role(Role::Citizen) {
        return Err(ReportsError::Forbidden(
            "hanya warga yang dapat mendukung laporan".into(),
        ));
    }
    let voter = platform
        .vault
        .index(&format!("reports:upvote:{id}:{}", citizen.subject))
        .await?;
    let mut tx = platform.store.begin().await?;
    let visibility: Option<String> = sqlx::query("SELECT visibility FROM reports WHERE id = $1")
        .bind(id)
        .fetch_optional(tx.conn())
        .await
        .map_err(StoreError::from)?
        .map(|r| r.get(0));
    if visibility.as_deref() != Some("public") {
        return Err(ReportsError::NotFound);
    }
    let changed = if up {
        sqlx::query("INSERT INTO report_upvotes (report_id, voter_key) VALUES ($1, $2) ON CONFLICT DO NOTHING")
    } else {
        sqlx::query("DELETE FROM report_upvotes WHERE report_id = $1 AND voter_key = $2")
    }
    .bind(id)
    .bind(&voter)
    .execute(tx.conn())
    .await
    .map_err(StoreError::from)?
    .rows_affected();
    if changed == 1 {
        // The count moves only with the row that changed, in the same transaction: right
        // under concurrent votes.
        sqlx::query("UPDATE reports SET upvotes = upvotes + $1 WHERE id = $2")
            .bind(if up { 1i64 } else { -1 })
            .bind(id)
            .execute(tx.conn())
            .await
            .map_err(StoreError::from)?;
    }
    tx.commit().await?;
    get(platform, Some(citizen), id).await
}

/// What a reporter may change before a department acts.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReportEdit {
    pub title: Option<String>,
    pub description: Option<String>,
    /// A new category (and so, perhaps, a new department).
    pub category: Option<String>,
}

/// The reporter edits their own (public or private) report while it is `submitted`.
pub async fn edit(
    platform: &Platform,
    citizen: &Principal,
    id: &str,
    change: &ReportEdit,
) -> Result<ReportView, ReportsError> {
    let current = load(platform, id, false).await?.ok_or(ReportsError::NotFound)?;
    if current.reporter.as_deref() != Some(citizen.subject.as_str()) {
        return Err(ReportsError::NotFound);
    }
    let view = &current.view;
    let new = NewReport {
        title: change.title.clone().unwrap_or_else(|| view.title.clone()),
        description: change.description.clone().unwrap_or_else(|| view.description.clone()),
        category: change.category.clone().unwrap_or_else(|| view.category.clone()),
        latitude: view.latitude,
        longitude: view.longitude,
        district: view.district.clone(),
        visibility: view.visibility,
    };
    let (title, description, category) = check(&new)?;
    let names = reporter_names(platform, &citizen.subject).await?;
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    let (title, description) = (scrub(&title, &names), scrub(&description, &names));
    let now = platform.clock.now_ms();
    let mut tx = platform.store.begin().await?;
    let updated = sqlx::query(
        "UPDATE reports SET title = $1, description = $2, category = $3, department = $4, updated_at_ms = $5 \
         WHERE id = $6 AND reporter = $7 AND status = 'submitted'",
    )
    .bind(&title)
    .bind(&description)
    .bind(category.id)
    .bind(category.department)
    .bind(now)
    .bind(id)
    .bind(&citizen.subject)
    .execute(tx.conn())
    .await
    .map_err(StoreError::from)?
    .rows_affected();
    if updated != 1 {
        return Err(ReportsError::Conflict(
            "laporan yang sudah ditangani dinas tidak dapat diubah".into(),
        ));
    }
    crate::timeline::append_step(&mut tx, id, "edited", None, false, None, None, now).await?;
    tx.audit(&AuditRecord {
        actor: &citizen.audit_actor(),
        action: "reports.report.edit",
        target: &format!("report:{id}"),
        outcome: Outcome::Success,
        details: Some(serde_json::json!({ "category": category.id })),
    })
    .await?;
    tx.commit().await?;
    get(platform, Some(citizen), id).await
}

/// Who answers a department's question: the signed-in reporter, or an anonymous report's
/// receipt holder.
pub enum Replier<'a> {
    Reporter(&'a Principal),
    Receipt(&'a str),
}

/// The reporter's answer to a department's question: the report returns to the status it
/// had and its deadlines run again with what was left of them.
pub async fn reply(platform: &Platform, who: Replier<'_>, id: &str, note: &str) -> Result<ReportView, ReportsError> {
    let note = note.trim();
    if !(1..=2000).contains(&char_len(note)) {
        return Err(ReportsError::invalid("note", "jawaban 1 sampai 2.000 karakter"));
    }
    let (id, names) = match who {
        Replier::Reporter(citizen) => {
            let stored = load(platform, id, false).await?.ok_or(ReportsError::NotFound)?;
            if stored.reporter.as_deref() != Some(citizen.subject.as_str()) {
                return Err(ReportsError::NotFound);
            }
            (id.to_owned(), reporter_names(platform, &citizen.subject).await?)
        }
        Replier::Receipt(code) => (by_receipt(platform, code).await?.id, Vec::new()),
    };
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    let note = scrub(note, &names);
    let now = platform.clock.now_ms();
    let mut tx = platform.store.begin().await?;
    let row = sqlx::query("SELECT status, paused_status, department FROM reports WHERE id = $1")
        .bind(&id)
        .fetch_one(tx.conn())
        .await
        .map_err(StoreError::from)?;
    let (status, paused, department): (String, Option<String>, String) = (row.get(0), row.get(1), row.get(2));
    let (Some(back), "waiting_reporter") = (paused, status.as_str()) else {
        return Err(ReportsError::Conflict(
            "dinas tidak sedang menunggu jawaban untuk laporan ini".into(),
        ));
    };
    sqlx::query(
        "UPDATE reports SET status = $1, paused_status = NULL, updated_at_ms = $2 WHERE id = $3 AND status = 'waiting_reporter'",
    )
    .bind(&back)
    .bind(now)
    .bind(&id)
    .execute(tx.conn())
    .await
    .map_err(StoreError::from)?;
    crate::sla::resume_timers(&mut tx, &id, now).await?;
    crate::timeline::append_step(&mut tx, &id, "reporter_replied", Some(&note), false, None, None, now).await?;
    tx.append_event(&ReportStatusChanged {
        report_id: id.clone(),
        department,
        from: status,
        to: back,
    })
    .await?;
    tx.commit().await?;
    let stored = load(platform, &id, true).await?.ok_or(ReportsError::NotFound)?;
    Ok(stored.into_view(false))
}
