//! Resident registration (P2) and the live statistics (P3) built from its events.
//!
//! A resident's KTP fields are sealed together with the vault (the row keeps only the data
//! key's id); the NIK is found through its keyed hash and never stored in clear. Region
//! codes, sex and birth year stay readable for statistics and search by region. Each
//! registration emits `population.resident.registered` carrying ids, codes, sex and birth
//! year only; the statistics consumer counts it once, whatever the bus redelivers.

use serde::{Deserialize, Serialize};
use sqlx::Row;
use warga_bus::HandlerError;
use warga_core::{Envelope, Event};
use warga_http::Platform;

use crate::error::PopulationError;
use warga_store::audit::{AuditRecord, Outcome};
use warga_store::{StoreError, Tx, Writes};

use crate::nik::{self, Date, Sex};
use crate::regions::REGIONS;

use crate::address::text;
pub use crate::address::{Address, Place};
pub use crate::ktp::NewResident;

/// A resident as officers see it.
#[derive(Clone, Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Resident {
    pub id: String,
    #[serde(flatten)]
    pub fields: NewResident,
    /// The address's province and regency (where the resident lives).
    pub province: String,
    pub regency: String,
    pub status: String,
    pub created_at_ms: i64,
    /// Where the NIK was issued, and that region today when its codes were replaced.
    pub nik_region: nik::NikRegion,
}

/// Event: a resident was registered. No name, NIK or address.
#[derive(Debug, Serialize, Deserialize)]
pub struct ResidentRegistered {
    pub resident_id: String,
    pub province: String,
    pub regency: String,
    pub district: String,
    pub sex: Sex,
    pub birth_year: i32,
}

impl Event for ResidentRegistered {
    const TOPIC: &'static str = "population.resident.registered";
    const VERSION: u32 = 1;
}

/// Event: a resident moved. Region codes only.
#[derive(Debug, Serialize, Deserialize)]
pub struct ResidentMoved {
    pub resident_id: String,
    pub from: Place,
    pub to: Place,
    pub sex: Sex,
    pub birth_year: i32,
}

impl Event for ResidentMoved {
    const TOPIC: &'static str = "population.resident.moved";
    const VERSION: u32 = 1;
}

/// Event: a resident died.
#[derive(Debug, Serialize, Deserialize)]
pub struct ResidentDied {
    pub resident_id: String,
    pub place: Place,
    pub sex: Sex,
    pub birth_year: i32,
}

impl Event for ResidentDied {
    const TOPIC: &'static str = "population.resident.died";
    const VERSION: u32 = 1;
}

fn sex_code(sex: Sex) -> &'static str {
    match sex {
        Sex::Male => "male",
        Sex::Female => "female",
    }
}

/// Validates a registration: every field, the NIK against the region table, the birth date
/// and the sex, and the address district.
pub fn check(new: &NewResident) -> Result<(NewResident, Date), PopulationError> {
    // Every field is checked, so that a form shows all its errors at once.
    let mut errors = Vec::new();
    fn keep(errors: &mut Vec<PopulationError>, result: Result<String, PopulationError>) -> String {
        result.unwrap_or_else(|error| {
            errors.push(error);
            String::new()
        })
    }
    let today = warga_core::time::now_ms() / 86_400_000;
    let birth_date = Date::parse_iso(new.birth_date.trim());
    let birth_date_error = match birth_date {
        None => {
            Some(PopulationError::invalid("birth_date", "must be a date, YYYY-MM-DD").id("harus tanggal, TTTT-BB-HH"))
        }
        Some(date) if date.year < 1880 || i64::from(date.year) > 1970 + today / 365 + 1 => Some(
            PopulationError::invalid("birth_date", "is not a plausible birth date")
                .id("bukan tanggal lahir yang masuk akal"),
        ),
        Some(_) => None,
    };
    let nik_checked = match (&birth_date_error, birth_date) {
        (None, Some(date)) => nik::validate(new.nik.trim(), &REGIONS, date, new.sex).map(|_| ()),
        _ => nik::parse(new.nik.trim(), &REGIONS).map(|_| ()),
    };
    if let Err(error) = nik_checked {
        errors.push(error.into());
    }
    if let Some(error) = birth_date_error {
        errors.push(error);
    }
    // The address as any address is checked (its refused fields join the others).
    let address = Address::of(new).checked().unwrap_or_else(|error| {
        match error {
            PopulationError::Fields(all) => errors.extend(all),
            one => errors.push(one),
        }
        Address::of(new)
    });
    let full_name = keep(&mut errors, text("full_name", &new.full_name, 120));
    let birth_place = keep(&mut errors, text("birth_place", &new.birth_place, 80));
    let religion = keep(&mut errors, text("religion", &new.religion, 40));
    let marital_status = keep(&mut errors, text("marital_status", &new.marital_status, 40));
    let occupation = keep(&mut errors, text("occupation", &new.occupation, 80));
    match (errors.len(), birth_date) {
        (0, Some(birth_date)) => Ok((
            NewResident {
                nik: new.nik.trim().to_owned(),
                full_name,
                birth_place,
                birth_date: new.birth_date.trim().to_owned(),
                sex: new.sex,
                address: address.address,
                rt_rw: address.rt_rw,
                village: address.village,
                district: address.district,
                postal_code: address.postal_code,
                religion,
                marital_status,
                occupation,
            },
            birth_date,
        )),
        (1, _) => Err(errors.remove(0)),
        _ => Err(PopulationError::Fields(errors)),
    }
}

/// The keyed hash a waiting request keeps of the NIK and birth date it gave.
pub async fn link_match_index(platform: &Platform, nik: &str, birth_date: &str) -> Result<String, PopulationError> {
    Ok(platform
        .vault
        .index(&format!("link-request:{nik}:{birth_date}"))
        .await?)
}

/// A registration checked and sealed, ready to be written in a transaction: the vault's work
/// is done before the transaction opens, so it holds no lock while sealing.
pub(crate) struct Prepared {
    id: String,
    fields: NewResident,
    birth_year: i32,
    nik_index: String,
    sealed: warga_auth::Sealed,
    name_tokens: std::collections::BTreeSet<String>,
    link_index: String,
}

pub(crate) async fn prepare(platform: &Platform, new: &NewResident) -> Result<Prepared, PopulationError> {
    let (fields, birth_date) = check(new)?;
    let id = uuid::Uuid::now_v7().hyphenated().to_string();
    let nik_index = platform.vault.index(&fields.nik).await?;
    let json = serde_json::to_vec(&fields).map_err(PopulationError::corrupt)?;
    let sealed = platform.vault.seal(&json, &format!("resident:{id}")).await?;
    let name_tokens = crate::search::name_tokens(platform, &fields.full_name).await?;
    let link_index = link_match_index(platform, &fields.nik, &fields.birth_date).await?;
    Ok(Prepared {
        id,
        fields,
        birth_year: birth_date.year,
        nik_index,
        sealed,
        name_tokens,
        link_index,
    })
}

/// The writes of a prepared registration: the resident, their name tokens (`tokens_sql`
/// from [`crate::search::tokens_insert_sql`]), the audit record and the event; link requests
/// that waited for this resident now match them. Independent of one another, so they can
/// commit as one statement ([`warga_store::Store::commit_writes`]).
fn registration<'q>(prepared: Prepared, actor: &str, tokens_sql: &'q str) -> (Writes<'q>, Resident) {
    let Prepared {
        id,
        fields,
        birth_year,
        nik_index,
        sealed,
        name_tokens,
        link_index,
    } = prepared;
    let district = fields.district.clone();
    let (province, regency) = (district[..2].to_owned(), district[..4].to_owned());
    let now = warga_core::time::now_ms();
    let mut writes = Writes::new();
    writes.push(
        sqlx::query(
            "INSERT INTO population_residents (id, nik_index, key_id, sealed, province, regency, district, sex, \
             birth_year, status, created_at_ms, updated_at_ms) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'alive', $10, $10)",
        )
        .bind(id.clone())
        .bind(nik_index)
        .bind(sealed.key_id)
        .bind(sealed.ciphertext)
        .bind(province.clone())
        .bind(regency.clone())
        .bind(district.clone())
        .bind(sex_code(fields.sex))
        .bind(i64::from(birth_year))
        .bind(now),
    );
    if let Some(tokens) = crate::search::tokens_insert(tokens_sql, &id, &name_tokens) {
        writes.push(tokens);
    }
    writes.audit(&AuditRecord {
        actor,
        action: "population.resident.register",
        target: &format!("resident:{id}"),
        outcome: Outcome::Success,
        details: Some(serde_json::json!({ "district": district })),
    });
    writes.event(&ResidentRegistered {
        resident_id: id.clone(),
        province: province.clone(),
        regency: regency.clone(),
        district,
        sex: fields.sex,
        birth_year,
    });
    // Waiting requests that gave this resident's NIK and birth date now match them.
    writes.push(
        sqlx::query(
            "UPDATE population_link_requests SET resident_id = $1, match_index = NULL \
             WHERE match_index = $2 AND status = 'pending' AND resident_id IS NULL",
        )
        .bind(id.clone())
        .bind(link_index),
    );
    let resident = Resident {
        id,
        nik_region: nik::NikRegion::of(&fields.nik, &REGIONS),
        fields,
        province,
        regency,
        status: "alive".into(),
        created_at_ms: now,
    };
    (writes, resident)
}

/// A registration refused by the database: the NIK's unique index (nothing else in it can
/// conflict).
fn registration_refused(error: StoreError) -> PopulationError {
    match error {
        StoreError::Conflict { .. } => PopulationError::conflict(
            "a resident with this NIK is registered",
            "penduduk dengan NIK ini sudah terdaftar",
        ),
        other => other.into(),
    }
}

/// Writes a prepared registration in `tx` (see [`registration`]).
pub(crate) async fn insert(tx: &mut Tx, prepared: Prepared, actor: &str) -> Result<Resident, PopulationError> {
    let tokens_sql = crate::search::tokens_insert_sql(prepared.name_tokens.len());
    let (writes, resident) = registration(prepared, actor, &tokens_sql);
    tx.write(writes).await.map_err(registration_refused)?;
    Ok(resident)
}

/// Registers a resident with their audit record and event, atomically and in one round trip
/// to the database; link requests that waited for this resident now match them.
pub async fn register(platform: &Platform, new: &NewResident, actor: &str) -> Result<Resident, PopulationError> {
    let prepared = prepare(platform, new).await?;
    let tokens_sql = crate::search::tokens_insert_sql(prepared.name_tokens.len());
    let (writes, resident) = registration(prepared, actor, &tokens_sql);
    platform
        .store
        .commit_writes(writes)
        .await
        .map_err(registration_refused)?;
    crate::metrics::REGISTRATIONS.inc();
    Ok(resident)
}

/// Finds a resident by NIK (through its keyed hash) and opens the sealed fields.
pub async fn by_nik(platform: &Platform, nik: &str) -> Result<Option<Resident>, PopulationError> {
    let index = platform.vault.index(nik.trim()).await?;
    let row = sqlx::query(
        "SELECT id, key_id, sealed, province, regency, status, created_at_ms FROM population_residents WHERE nik_index = $1",
    )
    .bind(index)
    .fetch_optional(platform.store.reader())
    .await
    .map_err(StoreError::from)?;
    let Some(row) = row else { return Ok(None) };
    let id: String = row.get(0);
    let sealed = warga_auth::Sealed {
        key_id: row.get(1),
        ciphertext: row.get(2),
    };
    let json = platform.vault.open(&sealed, &format!("resident:{id}")).await?;
    let fields: NewResident = serde_json::from_slice(&json).map_err(PopulationError::corrupt)?;
    Ok(Some(Resident {
        id,
        nik_region: nik::NikRegion::of(&fields.nik, &REGIONS),
        fields,
        province: row.get(3),
        regency: row.get(4),
        status: row.get(5),
        created_at_ms: row.get(6),
    }))
}

/// Whether `nik` belongs to a registered resident, and their status (`alive`, `dead`) —
/// what another service needs to vouch for a NIK, without opening the record.
pub async fn status_by_nik(platform: &Platform, nik: &str) -> Result<Option<String>, PopulationError> {
    let index = platform.vault.index(nik.trim()).await?;
    let row = sqlx::query("SELECT status FROM population_residents WHERE nik_index = $1")
        .bind(index)
        .fetch_optional(platform.store.reader())
        .await
        .map_err(StoreError::from)?;
    Ok(row.map(|row| row.get(0)))
}

/// The NIK of resident `id`, opened from the sealed record — for a service that acts on the
/// resident's behalf by law (BPJS suspending a card at death); the caller audits why.
pub async fn nik_of(platform: &Platform, id: &str) -> Result<Option<String>, PopulationError> {
    let row = sqlx::query("SELECT key_id, sealed FROM population_residents WHERE id = $1")
        .bind(id)
        .fetch_optional(platform.store.reader())
        .await
        .map_err(StoreError::from)?;
    let Some(row) = row else { return Ok(None) };
    let sealed = warga_auth::Sealed {
        key_id: row.get(0),
        ciphertext: row.get(1),
    };
    let json = platform.vault.open(&sealed, &format!("resident:{id}")).await?;
    let fields: NewResident = serde_json::from_slice(&json).map_err(PopulationError::corrupt)?;
    Ok(Some(fields.nik))
}

/// Records that `actor` read a resident's personal record, and why (UU PDP 27/2022).
pub async fn audit_read(
    platform: &Platform,
    actor: &str,
    resident_id: &str,
    purpose: &str,
) -> Result<(), PopulationError> {
    audit_personal_read(
        platform,
        actor,
        "population.resident.read",
        &format!("resident:{resident_id}"),
        purpose,
    )
    .await
}

/// Records a read of personal data (`target`) with its purpose, as `action`.
pub(crate) async fn audit_personal_read(
    platform: &Platform,
    actor: &str,
    action: &str,
    target: &str,
    purpose: &str,
) -> Result<(), PopulationError> {
    warga_store::audit::record_alone(
        &platform.store,
        &AuditRecord {
            actor,
            action,
            target,
            outcome: Outcome::Success,
            details: Some(serde_json::json!({ "purpose": purpose })),
        },
    )
    .await?;
    Ok(())
}

/// Keeps `population_stats` in step with registrations.
pub struct StatsCounter;

#[async_trait::async_trait]
impl warga_bus::Handler for StatsCounter {
    fn name(&self) -> &'static str {
        "population-stats"
    }
    fn topics(&self) -> &'static [&'static str] {
        &[ResidentRegistered::TOPIC, ResidentMoved::TOPIC, ResidentDied::TOPIC]
    }
    async fn handle(&self, tx: &mut Tx, event: &Envelope) -> Result<(), HandlerError> {
        match event.topic.as_str() {
            ResidentRegistered::TOPIC => {
                let e: ResidentRegistered = event.decode()?;
                count(tx, &e.province, &e.regency, e.sex, e.birth_year, 1).await?;
            }
            ResidentMoved::TOPIC => {
                let e: ResidentMoved = event.decode()?;
                count(tx, &e.from.province, &e.from.regency, e.sex, e.birth_year, -1).await?;
                count(tx, &e.to.province, &e.to.regency, e.sex, e.birth_year, 1).await?;
            }
            ResidentDied::TOPIC => {
                let e: ResidentDied = event.decode()?;
                count(tx, &e.place.province, &e.place.regency, e.sex, e.birth_year, -1).await?;
            }
            other => return Err(format!("unexpected topic {other}").into()),
        }
        Ok(())
    }

    /// A lease's changes summed per statistics row and written in one statement.
    async fn handle_batch(&self, tx: &mut Tx, events: &[&Envelope]) -> Result<(), HandlerError> {
        let mut deltas: std::collections::BTreeMap<(String, String, &'static str, i32), i64> = Default::default();
        let mut add = |province: &str, regency: &str, sex: Sex, birth_year: i32, delta: i64| {
            *deltas
                .entry((province.to_owned(), regency.to_owned(), sex_code(sex), birth_year))
                .or_default() += delta;
        };
        for event in events {
            match event.topic.as_str() {
                ResidentRegistered::TOPIC => {
                    let e: ResidentRegistered = event.decode()?;
                    add(&e.province, &e.regency, e.sex, e.birth_year, 1);
                }
                ResidentMoved::TOPIC => {
                    let e: ResidentMoved = event.decode()?;
                    add(&e.from.province, &e.from.regency, e.sex, e.birth_year, -1);
                    add(&e.to.province, &e.to.regency, e.sex, e.birth_year, 1);
                }
                ResidentDied::TOPIC => {
                    let e: ResidentDied = event.decode()?;
                    add(&e.place.province, &e.place.regency, e.sex, e.birth_year, -1);
                }
                other => return Err(format!("unexpected topic {other}").into()),
            }
        }
        let rows: Vec<_> = deltas.into_iter().filter(|(_, delta)| *delta != 0).collect();
        for chunk in rows.chunks(STATS_ROWS_PER_STATEMENT) {
            let values = (0..chunk.len())
                .map(|i| {
                    let p = 5 * i;
                    format!("(${}, ${}, ${}, ${}, ${})", p + 1, p + 2, p + 3, p + 4, p + 5)
                })
                .collect::<Vec<_>>()
                .join(", ");
            let sql = format!(
                "INSERT INTO population_stats (province, regency, sex, birth_year, residents) VALUES {values} \
                 ON CONFLICT (province, regency, sex, birth_year) \
                 DO UPDATE SET residents = population_stats.residents + excluded.residents"
            );
            let mut query = sqlx::query(&sql);
            for ((province, regency, sex, birth_year), delta) in chunk {
                query = query
                    .bind(province.as_str())
                    .bind(regency.as_str())
                    .bind(*sex)
                    .bind(i64::from(*birth_year))
                    .bind(*delta);
            }
            query.execute(tx.conn()).await?;
        }
        Ok(())
    }
}

/// Statistics rows one upsert writes (five parameters each, well under SQLite's limit).
const STATS_ROWS_PER_STATEMENT: usize = 100;

async fn count(
    tx: &mut Tx,
    province: &str,
    regency: &str,
    sex: Sex,
    birth_year: i32,
    delta: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO population_stats (province, regency, sex, birth_year, residents) VALUES ($1, $2, $3, $4, $5) \
         ON CONFLICT (province, regency, sex, birth_year) DO UPDATE SET residents = population_stats.residents + $5",
    )
    .bind(province)
    .bind(regency)
    .bind(sex_code(sex))
    .bind(i64::from(birth_year))
    .bind(delta)
    .execute(tx.conn())
    .await?;
    Ok(())
}

/// Age bands of the statistics, in years.
pub const AGE_BANDS: [(&str, u32, u32); 5] = [
    ("0-14", 0, 14),
    ("15-24", 15, 24),
    ("25-54", 25, 54),
    ("55-64", 55, 64),
    ("65+", 65, 200),
];

#[derive(Debug, Default, Serialize, utoipa::ToSchema)]
pub struct Stats {
    pub total: i64,
    /// Households: family cards in use.
    pub households: i64,
    /// Residents on those cards.
    pub household_members: i64,
    /// Per province, or per regency/city when a province was asked for.
    pub by_region: Vec<RegionCount>,
    pub by_sex: Vec<Count>,
    pub by_age_band: Vec<Count>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct RegionCount {
    pub code: String,
    pub name: String,
    pub residents: i64,
    pub households: i64,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Count {
    pub key: String,
    pub residents: i64,
}

/// The live counts, for the country or one province.
pub async fn stats(platform: &Platform, province: Option<&str>) -> Result<Stats, PopulationError> {
    let rows = sqlx::query(
        "SELECT province, regency, sex, birth_year, residents FROM population_stats WHERE ($1 IS NULL OR province = $1)",
    )
    .bind(province)
    .fetch_all(platform.store.reader())
    .await
    .map_err(StoreError::from)?;
    let days_since_1970 = warga_core::time::now_ms() / 86_400_000;
    let this_year = 1970 + (days_since_1970 * 100 / 36_525) as i32;
    let mut by_region = std::collections::BTreeMap::<String, i64>::new();
    let mut by_sex = std::collections::BTreeMap::<String, i64>::new();
    let mut by_band = std::collections::BTreeMap::<&str, i64>::new();
    let mut total = 0;
    for row in rows {
        let (p, r, sex, year, n): (String, String, String, i64, i64) =
            (row.get(0), row.get(1), row.get(2), row.get(3), row.get(4));
        total += n;
        *by_region.entry(if province.is_some() { r } else { p }).or_default() += n;
        *by_sex.entry(sex).or_default() += n;
        let age = (i64::from(this_year) - year).max(0) as u32;
        let band = AGE_BANDS
            .iter()
            .find(|(_, lo, hi)| (*lo..=*hi).contains(&age))
            .map(|b| b.0)
            .unwrap_or("65+");
        *by_band.entry(band).or_default() += n;
    }
    let households = crate::family::cards::households(platform, province).await?;
    for code in households.keys() {
        by_region.entry(code.clone()).or_default();
    }
    let name = |code: &str| {
        REGIONS
            .province(code)
            .or_else(|| REGIONS.regency(code))
            .unwrap_or("")
            .to_owned()
    };
    Ok(Stats {
        total,
        households: households.values().map(|h| h.0).sum(),
        household_members: households.values().map(|h| h.1).sum(),
        by_region: by_region
            .into_iter()
            .map(|(code, residents)| RegionCount {
                name: name(&code),
                households: households.get(&code).map_or(0, |h| h.0),
                code,
                residents,
            })
            .collect(),
        by_sex: by_sex
            .into_iter()
            .map(|(key, residents)| Count { key, residents })
            .collect(),
        by_age_band: AGE_BANDS
            .iter()
            .map(|(band, _, _)| Count {
                key: (*band).to_owned(),
                residents: by_band.get(band).copied().unwrap_or(0),
            })
            .collect(),
    })
}

/// The outcome of [`rebuild_stats`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Rebuilt {
    pub residents: i64,
    /// Family cards in use.
    pub households: i64,
    /// Rows (province, regency, sex, birth year) whose live count differed from the rebuilt one.
    pub rows_differing: usize,
}

/// Recomputes the statistics from the residents table (and the household counts from the
/// family cards), in one transaction that also marks
/// every registration event already counted as processed for the statistics consumer (so a
/// pending one is not counted twice). On PostgreSQL the transaction reads one snapshot
/// (REPEATABLE READ); on SQLite writers are serialized anyway.
pub async fn rebuild_stats(store: &warga_store::Store) -> Result<Rebuilt, StoreError> {
    let mut tx = store.begin().await?;
    if tx.backend() == warga_store::Backend::Postgres {
        sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            .execute(tx.conn())
            .await?;
    }
    let key = |row: &sqlx::any::AnyRow| -> (String, String, String, i64, i64) {
        (row.get(0), row.get(1), row.get(2), row.get(3), row.get(4))
    };
    // Rows the consumer brought down to zero mean the same as no row.
    let before: std::collections::BTreeSet<_> =
        sqlx::query("SELECT province, regency, sex, birth_year, residents FROM population_stats WHERE residents <> 0")
            .fetch_all(tx.conn())
            .await?
            .iter()
            .map(key)
            .collect();
    sqlx::query("DELETE FROM population_stats").execute(tx.conn()).await?;
    sqlx::query(
        "INSERT INTO population_stats (province, regency, sex, birth_year, residents) \
         SELECT province, regency, sex, birth_year, COUNT(*) FROM population_residents WHERE status = 'alive' \
         GROUP BY province, regency, sex, birth_year",
    )
    .execute(tx.conn())
    .await?;
    sqlx::query(
        "INSERT INTO processed_events (consumer, event_id, processed_at_ms) \
         SELECT $1, event_id, $2 FROM outbox WHERE topic IN ($3, $4, $5) \
         ON CONFLICT (consumer, event_id) DO NOTHING",
    )
    .bind("population-stats")
    .bind(warga_core::time::hour_ceiling(warga_core::time::now_ms()))
    .bind(ResidentRegistered::TOPIC)
    .bind(ResidentMoved::TOPIC)
    .bind(ResidentDied::TOPIC)
    .execute(tx.conn())
    .await?;
    let after: std::collections::BTreeSet<_> =
        sqlx::query("SELECT province, regency, sex, birth_year, residents FROM population_stats")
            .fetch_all(tx.conn())
            .await?
            .iter()
            .map(key)
            .collect();
    let residents = after.iter().map(|row| row.4).sum();
    let (households, household_rows_differing) = crate::family::cards::rebuild_households(&mut tx).await?;
    let rows_differing = before.symmetric_difference(&after).count() + household_rows_differing;
    tx.audit(&AuditRecord {
        actor: "system:cli",
        action: "population.stats.rebuild",
        target: "population_stats",
        outcome: Outcome::Success,
        details: Some(serde_json::json!({ "residents": residents, "households": households,
                                          "rows_differing": rows_differing })),
    })
    .await?;
    tx.commit().await?;
    Ok(Rebuilt {
        residents,
        households,
        rows_differing,
    })
}

/// An earlier address.
#[derive(Clone, Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PastAddress {
    pub address: String,
    pub rt_rw: String,
    pub village: String,
    pub district: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub postal_code: Option<String>,
    pub moved_at_ms: i64,
}

/// A resident with their earlier addresses, newest first.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct ResidentRecord {
    #[serde(flatten)]
    pub resident: Resident,
    pub previous_addresses: Vec<PastAddress>,
    /// The family cards (KK) the resident belongs or belonged to, the current one first.
    pub families: Vec<crate::family::cards::Membership>,
}

pub(crate) struct Loaded {
    pub(crate) resident: Resident,
    pub(crate) birth_year: i32,
}

pub(crate) async fn load(tx: &mut Tx, platform: &Platform, id: &str) -> Result<Loaded, PopulationError> {
    let row = sqlx::query(
        "SELECT key_id, sealed, province, regency, status, created_at_ms, birth_year FROM population_residents WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(tx.conn())
    .await
    .map_err(StoreError::from)?
    .ok_or_else(|| PopulationError::not_found(format!("no resident {id}"), format!("tidak ada penduduk {id}")))?;
    let sealed = warga_auth::Sealed {
        key_id: row.get(0),
        ciphertext: row.get(1),
    };
    let fields: NewResident = serde_json::from_slice(&platform.vault.open(&sealed, &format!("resident:{id}")).await?)
        .map_err(PopulationError::corrupt)?;
    Ok(Loaded {
        resident: Resident {
            id: id.to_owned(),
            nik_region: nik::NikRegion::of(&fields.nik, &REGIONS),
            fields,
            province: row.get(2),
            regency: row.get(3),
            status: row.get(4),
            created_at_ms: row.get(5),
        },
        birth_year: row.get::<i64, _>(6) as i32,
    })
}

async fn store_fields(
    tx: &mut Tx,
    platform: &Platform,
    resident: &Resident,
    status: &str,
) -> Result<(), PopulationError> {
    let json = serde_json::to_vec(&resident.fields).map_err(PopulationError::corrupt)?;
    let sealed = platform.vault.seal(&json, &format!("resident:{}", resident.id)).await?;
    let place = Place::of(&resident.fields.district);
    sqlx::query(
        "UPDATE population_residents SET key_id = $1, sealed = $2, province = $3, regency = $4, district = $5, \
         status = $6, updated_at_ms = $7 WHERE id = $8",
    )
    .bind(&sealed.key_id)
    .bind(&sealed.ciphertext)
    .bind(&place.province)
    .bind(&place.regency)
    .bind(&place.district)
    .bind(status)
    .bind(warga_core::time::now_ms())
    .bind(&resident.id)
    .execute(tx.conn())
    .await
    .map_err(StoreError::from)?;
    Ok(())
}

/// Records a move: the old address goes to the history, the new one replaces it. A resident
/// who shares a family card with others moves with it (`family::move_family`) or is split off
/// to a card of their own; one alone on their card takes the card along.
pub async fn move_resident(
    platform: &Platform,
    id: &str,
    to: &Address,
    actor: &str,
) -> Result<ResidentRecord, PopulationError> {
    let to = to.checked()?;
    let mut tx = platform.store.begin().await?;
    let mut loaded = load(&mut tx, platform, id).await?;
    if loaded.resident.status != "alive" {
        return Err(PopulationError::conflict(
            "the resident is recorded as deceased",
            "penduduk ini tercatat telah meninggal",
        ));
    }
    crate::family::cards::moving_alone(&mut tx, platform, id, &to, actor).await?;
    relocate(&mut tx, platform, &mut loaded, &to, actor).await?;
    tx.commit().await?;
    record(platform, id).await
}

/// In `tx`: moves a loaded resident to `to` (checked): the old address to the history, the
/// new one in place, with its audit record and event.
pub(crate) async fn relocate(
    tx: &mut Tx,
    platform: &Platform,
    loaded: &mut Loaded,
    to: &Address,
    actor: &str,
) -> Result<(), PopulationError> {
    let resident = &mut loaded.resident;
    let id = resident.id.clone();
    let now = warga_core::time::now_ms();
    let past = PastAddress {
        address: resident.fields.address.clone(),
        rt_rw: resident.fields.rt_rw.clone(),
        village: resident.fields.village.clone(),
        district: resident.fields.district.clone(),
        postal_code: resident.fields.postal_code.clone(),
        moved_at_ms: now,
    };
    let past_json = serde_json::to_vec(&past).map_err(PopulationError::corrupt)?;
    let sealed_past = platform
        .vault
        .seal(&past_json, &format!("resident:{id}:address:{now}"))
        .await?;
    sqlx::query(
        "INSERT INTO population_address_history (resident_id, moved_at_ms, key_id, sealed, district) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(&id)
    .bind(now)
    .bind(&sealed_past.key_id)
    .bind(&sealed_past.ciphertext)
    .bind(&past.district)
    .execute(tx.conn())
    .await
    .map_err(|e| match StoreError::from(e) {
        StoreError::Conflict { .. } => {
            PopulationError::conflict(
                "the resident moved a moment ago; try again",
                "penduduk ini baru saja pindah; coba lagi",
            )
        }
        other => other.into(),
    })?;
    let from = Place::of(&resident.fields.district);
    resident.fields.address = to.address.clone();
    resident.fields.rt_rw = to.rt_rw.clone();
    resident.fields.village = to.village.clone();
    resident.fields.district = to.district.clone();
    resident.fields.postal_code = to.postal_code.clone();
    store_fields(tx, platform, resident, "alive").await?;
    let to_place = Place::of(&resident.fields.district);
    resident.province = to_place.province.clone();
    resident.regency = to_place.regency.clone();
    tx.audit(&AuditRecord {
        actor,
        action: "population.resident.move",
        target: &format!("resident:{id}"),
        outcome: Outcome::Success,
        details: Some(serde_json::json!({ "from": from.district, "to": to_place.district })),
    })
    .await?;
    tx.append_event(&ResidentMoved {
        resident_id: id,
        from,
        to: to_place,
        sex: resident.fields.sex,
        birth_year: loaded.birth_year,
    })
    .await?;
    Ok(())
}

/// Records a death.
pub async fn record_death(platform: &Platform, id: &str, actor: &str) -> Result<ResidentRecord, PopulationError> {
    let mut tx = platform.store.begin().await?;
    let Loaded { resident, birth_year } = load(&mut tx, platform, id).await?;
    if resident.status != "alive" {
        return Err(PopulationError::conflict(
            "the death is already recorded",
            "kematian penduduk ini sudah dicatat",
        ));
    }
    store_fields(&mut tx, platform, &resident, "deceased").await?;
    crate::family::cards::leave_on_death(&mut tx, id, actor).await?;
    tx.audit(&AuditRecord {
        actor,
        action: "population.resident.death",
        target: &format!("resident:{id}"),
        outcome: Outcome::Success,
        details: None,
    })
    .await?;
    tx.append_event(&ResidentDied {
        resident_id: id.to_owned(),
        place: Place::of(&resident.fields.district),
        sex: resident.fields.sex,
        birth_year,
    })
    .await?;
    tx.commit().await?;
    crate::metrics::DEATHS.inc();
    record(platform, id).await
}

/// A resident as they are now, read without a transaction (from the read pool: it does not
/// wait for, or hold up, writers). For services that need the current record only, such as
/// the reports service checking that its reporter is alive and scrubbing their name.
pub async fn current(platform: &Platform, id: &str) -> Result<Resident, PopulationError> {
    let row = sqlx::query(
        "SELECT key_id, sealed, province, regency, status, created_at_ms FROM population_residents WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(platform.store.reader())
    .await
    .map_err(StoreError::from)?
    .ok_or_else(|| PopulationError::not_found(format!("no resident {id}"), format!("tidak ada penduduk {id}")))?;
    let sealed = warga_auth::Sealed {
        key_id: row.get(0),
        ciphertext: row.get(1),
    };
    let fields: NewResident = serde_json::from_slice(&platform.vault.open(&sealed, &format!("resident:{id}")).await?)
        .map_err(PopulationError::corrupt)?;
    Ok(Resident {
        id: id.to_owned(),
        nik_region: nik::NikRegion::of(&fields.nik, &REGIONS),
        fields,
        province: row.get(2),
        regency: row.get(3),
        status: row.get(4),
        created_at_ms: row.get(5),
    })
}

/// A resident with their address history.
pub async fn record(platform: &Platform, id: &str) -> Result<ResidentRecord, PopulationError> {
    let mut tx = platform.store.begin().await?;
    let Loaded { resident, .. } = load(&mut tx, platform, id).await?;
    let rows = sqlx::query(
        "SELECT moved_at_ms, key_id, sealed FROM population_address_history WHERE resident_id = $1 ORDER BY moved_at_ms DESC",
    )
    .bind(id)
    .fetch_all(tx.conn())
    .await
    .map_err(StoreError::from)?;
    let families = crate::family::cards::memberships(&mut tx, id).await?;
    tx.rollback().await?;
    let mut previous_addresses = Vec::with_capacity(rows.len());
    for row in rows {
        let moved_at: i64 = row.get(0);
        let sealed = warga_auth::Sealed {
            key_id: row.get(1),
            ciphertext: row.get(2),
        };
        let json = platform
            .vault
            .open(&sealed, &format!("resident:{id}:address:{moved_at}"))
            .await?;
        previous_addresses.push(serde_json::from_slice(&json).map_err(PopulationError::corrupt)?);
    }
    Ok(ResidentRecord {
        resident,
        previous_addresses,
        families,
    })
}

/// The demo's residents (`warga up --demo`): ten people of Tanah Abang, Jakarta Pusat —
/// (name, place of birth, date of birth, sex) — each with the NIK these give.
pub const DEMO_RESIDENTS: [(&str, &str, &str, crate::nik::Sex); 10] = {
    use crate::nik::Sex::{Female, Male};
    [
        ("Siti Aminah", "Jakarta", "1995-03-12", Female),
        ("Budi Santoso", "Bandung", "1988-07-01", Male),
        ("Dewi Lestari", "Surabaya", "1992-11-23", Female),
        ("Agus Wijaya", "Semarang", "1979-05-30", Male),
        ("Rina Saputra", "Medan", "2001-01-15", Female),
        ("Joko Hasibuan", "Jakarta", "1965-09-09", Male),
        ("Ayu Siregar", "Bogor", "1999-12-31", Female),
        ("Bambang Nugroho", "Yogyakarta", "1983-04-04", Male),
        ("Fitri Pratama", "Makassar", "2010-06-18", Female),
        ("Hendra Kusuma", "Jakarta", "1970-02-28", Male),
    ]
};

/// The NIK of demo resident `i`: Tanah Abang (317107), the birth date as `ddmmyy` (a woman's
/// day plus 40), and a serial from 9001.
pub fn demo_nik(i: usize) -> Option<String> {
    let (_, _, birth_date, sex) = DEMO_RESIDENTS.get(i)?;
    let (year, rest) = birth_date.split_once('-')?;
    let (month, day) = rest.split_once('-')?;
    let day: u32 = day.parse().ok()?;
    let day = if *sex == crate::nik::Sex::Female { day + 40 } else { day };
    Some(format!("317107{day:02}{month}{}{:04}", &year[2..], 9001 + i))
}

/// Registers the demo's residents (seeding again changes nothing).
pub async fn seed_demo_residents(platform: &Platform) -> Result<(), PopulationError> {
    let villages = REGIONS.villages_of("317107");
    for (i, (name, place, birth_date, sex)) in DEMO_RESIDENTS.iter().enumerate() {
        let Some(nik) = demo_nik(i) else { continue };
        if by_nik(platform, &nik).await?.is_some() {
            continue;
        }
        let village = villages
            .get(i % villages.len().max(1))
            .map(|v| v.code.clone())
            .unwrap_or_default();
        let new = NewResident {
            nik,
            full_name: (*name).to_owned(),
            birth_place: (*place).to_owned(),
            birth_date: (*birth_date).to_owned(),
            sex: *sex,
            address: format!("Jl. Kebon Kacang {} No. {}", i + 1, 10 + i),
            rt_rw: format!("{:03}/{:03}", i % 5 + 1, i % 3 + 1),
            village,
            district: "317107".to_owned(),
            postal_code: Some("10240".to_owned()),
            religion: "Islam".to_owned(),
            marital_status: if matches!(i, 1 | 4 | 6 | 8) {
                "Belum Kawin"
            } else {
                "Kawin"
            }
            .to_owned(),
            occupation: "Karyawan Swasta".to_owned(),
        };
        register(platform, &new, "system:demo").await?;
    }
    Ok(())
}
