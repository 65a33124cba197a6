//! What the family cards are made of in the database: the card (its sealed number and
//! address), membership rows with their relationship and reasons, the serials of numbers
//! issued here, the family events and the household counter that keeps households per
//! regency from them. Below the operations (`family`) and below `residents`, which asks
//! here for a resident's memberships, a death's or a lone move's effect on their card, and
//! the household counts.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};
use sqlx::Row;
use warga_bus::HandlerError;
use warga_core::{Envelope, Event};
use warga_http::Platform;
use warga_store::audit::{AuditRecord, Outcome};
use warga_store::{Backend, StoreError, Tx};

use crate::address::{Address, Place};
use crate::error::PopulationError;

/// A member's relationship to the head of the family (SHDK, status hubungan dalam keluarga).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Relationship {
    KepalaKeluarga,
    Suami,
    Istri,
    Anak,
    Menantu,
    Cucu,
    OrangTua,
    Mertua,
    FamiliLain,
    Pembantu,
    Lainnya,
}

impl Relationship {
    pub const ALL: [Relationship; 11] = [
        Relationship::KepalaKeluarga,
        Relationship::Suami,
        Relationship::Istri,
        Relationship::Anak,
        Relationship::Menantu,
        Relationship::Cucu,
        Relationship::OrangTua,
        Relationship::Mertua,
        Relationship::FamiliLain,
        Relationship::Pembantu,
        Relationship::Lainnya,
    ];

    pub fn code(self) -> &'static str {
        match self {
            Relationship::KepalaKeluarga => "kepala_keluarga",
            Relationship::Suami => "suami",
            Relationship::Istri => "istri",
            Relationship::Anak => "anak",
            Relationship::Menantu => "menantu",
            Relationship::Cucu => "cucu",
            Relationship::OrangTua => "orang_tua",
            Relationship::Mertua => "mertua",
            Relationship::FamiliLain => "famili_lain",
            Relationship::Pembantu => "pembantu",
            Relationship::Lainnya => "lainnya",
        }
    }

    pub fn from_code(code: &str) -> Option<Relationship> {
        Relationship::ALL.into_iter().find(|r| r.code() == code)
    }

    /// As the KK prints it.
    pub fn label_id(self) -> &'static str {
        match self {
            Relationship::KepalaKeluarga => "Kepala Keluarga",
            Relationship::Suami => "Suami",
            Relationship::Istri => "Istri",
            Relationship::Anak => "Anak",
            Relationship::Menantu => "Menantu",
            Relationship::Cucu => "Cucu",
            Relationship::OrangTua => "Orang Tua",
            Relationship::Mertua => "Mertua",
            Relationship::FamiliLain => "Famili Lain",
            Relationship::Pembantu => "Pembantu",
            Relationship::Lainnya => "Lainnya",
        }
    }

    pub fn label_en(self) -> &'static str {
        match self {
            Relationship::KepalaKeluarga => "Head of family",
            Relationship::Suami => "Husband",
            Relationship::Istri => "Wife",
            Relationship::Anak => "Child",
            Relationship::Menantu => "Child-in-law",
            Relationship::Cucu => "Grandchild",
            Relationship::OrangTua => "Parent",
            Relationship::Mertua => "Parent-in-law",
            Relationship::FamiliLain => "Other relative",
            Relationship::Pembantu => "Household help",
            Relationship::Lainnya => "Other",
        }
    }
}

/// Why a membership began or ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    /// A new card made for residents who had none.
    KkBaru,
    Kelahiran,
    /// An incoming member (pindah datang).
    PindahDatang,
    Perkawinan,
    /// Split off to a card of their own (pisah KK), e.g. a grown child moving out.
    PisahKk,
    Kematian,
    Lainnya,
}

impl Reason {
    pub const ALL: [Reason; 7] = [
        Reason::KkBaru,
        Reason::Kelahiran,
        Reason::PindahDatang,
        Reason::Perkawinan,
        Reason::PisahKk,
        Reason::Kematian,
        Reason::Lainnya,
    ];

    pub fn code(self) -> &'static str {
        match self {
            Reason::KkBaru => "kk_baru",
            Reason::Kelahiran => "kelahiran",
            Reason::PindahDatang => "pindah_datang",
            Reason::Perkawinan => "perkawinan",
            Reason::PisahKk => "pisah_kk",
            Reason::Kematian => "kematian",
            Reason::Lainnya => "lainnya",
        }
    }

    pub fn from_code(code: &str) -> Option<Reason> {
        Reason::ALL.into_iter().find(|r| r.code() == code)
    }

    pub fn label_id(self) -> &'static str {
        match self {
            Reason::KkBaru => "Pembuatan KK baru",
            Reason::Kelahiran => "Kelahiran",
            Reason::PindahDatang => "Pindah datang",
            Reason::Perkawinan => "Perkawinan",
            Reason::PisahKk => "Pisah KK",
            Reason::Kematian => "Kematian",
            Reason::Lainnya => "Lainnya",
        }
    }

    pub fn label_en(self) -> &'static str {
        match self {
            Reason::KkBaru => "New card",
            Reason::Kelahiran => "Birth",
            Reason::PindahDatang => "Moved in",
            Reason::Perkawinan => "Marriage",
            Reason::PisahKk => "Split off",
            Reason::Kematian => "Death",
            Reason::Lainnya => "Other",
        }
    }
}

/// A resident's place on a card, now or before.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct Membership {
    pub family_id: String,
    pub relationship: Relationship,
    pub joined_at_ms: i64,
    pub joined_reason: Reason,
    pub left_at_ms: Option<i64>,
    pub left_reason: Option<Reason>,
}

/// What is sealed of a card: its number and address.
#[derive(Serialize, Deserialize)]
struct Sealed {
    kk_number: String,
    address: Address,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct FamilyCreated {
    pub family_id: String,
    pub place: Place,
}

impl Event for FamilyCreated {
    const TOPIC: &'static str = "population.family.created";
    const VERSION: u32 = 1;
}

#[derive(Debug, Serialize, Deserialize)]
pub struct FamilyMemberJoined {
    pub family_id: String,
    pub resident_id: String,
    pub relationship: Relationship,
    pub reason: Reason,
    pub place: Place,
}

impl Event for FamilyMemberJoined {
    const TOPIC: &'static str = "population.family.member_joined";
    const VERSION: u32 = 1;
}

#[derive(Debug, Serialize, Deserialize)]
pub struct FamilyMemberLeft {
    pub family_id: String,
    pub resident_id: String,
    pub reason: Reason,
    pub place: Place,
}

impl Event for FamilyMemberLeft {
    const TOPIC: &'static str = "population.family.member_left";
    const VERSION: u32 = 1;
}

#[derive(Debug, Serialize, Deserialize)]
pub struct FamilyHeadChanged {
    pub family_id: String,
    /// Absent when the head died and no one is named yet.
    pub head: Option<String>,
}

impl Event for FamilyHeadChanged {
    const TOPIC: &'static str = "population.family.head_changed";
    const VERSION: u32 = 1;
}

#[derive(Debug, Serialize, Deserialize)]
pub struct FamilyMoved {
    pub family_id: String,
    pub from: Place,
    pub to: Place,
    pub members: i64,
    /// The move letter's id, when the whole family moved by one.
    pub letter: Option<String>,
}

impl Event for FamilyMoved {
    const TOPIC: &'static str = "population.family.moved";
    const VERSION: u32 = 1;
}

#[derive(Debug, Serialize, Deserialize)]
pub struct FamilyClosed {
    pub family_id: String,
    pub place: Place,
}

impl Event for FamilyClosed {
    const TOPIC: &'static str = "population.family.closed";
    const VERSION: u32 = 1;
}

pub(crate) struct Card {
    pub(crate) id: String,
    pub(crate) kk_number: String,
    pub(crate) address: Address,
    pub(crate) status: String,
    pub(crate) created_at_ms: i64,
}

/// A card. With `for_update`, locked for the rest of `tx` on PostgreSQL (SQLite serializes
/// writers anyway), so two changes of one family never interleave.
pub(crate) async fn load_card(
    tx: &mut Tx,
    platform: &Platform,
    id: &str,
    for_update: bool,
) -> Result<Card, PopulationError> {
    let lock = if for_update && tx.backend() == Backend::Postgres {
        " FOR UPDATE"
    } else {
        ""
    };
    let row = sqlx::query(&format!(
        "SELECT key_id, sealed, status, created_at_ms FROM population_families WHERE id = $1{lock}"
    ))
    .bind(id)
    .fetch_optional(tx.conn())
    .await
    .map_err(StoreError::from)?
    .ok_or_else(|| {
        PopulationError::not_found(format!("no family card {id}"), format!("tidak ada kartu keluarga {id}"))
    })?;
    let sealed = warga_auth::Sealed {
        key_id: row.get(0),
        ciphertext: row.get(1),
    };
    let open: Sealed = serde_json::from_slice(&platform.vault.open(&sealed, &format!("family:{id}")).await?)
        .map_err(PopulationError::corrupt)?;
    Ok(Card {
        id: id.to_owned(),
        kk_number: open.kk_number,
        address: open.address,
        status: row.get(2),
        created_at_ms: row.get(3),
    })
}

pub(crate) async fn lock_active(tx: &mut Tx, platform: &Platform, id: &str) -> Result<Card, PopulationError> {
    let card = load_card(tx, platform, id, true).await?;
    if card.status != "active" {
        return Err(PopulationError::conflict(
            "the family card is closed: its last member left",
            "kartu keluarga ini sudah ditutup: anggota terakhirnya telah keluar",
        ));
    }
    Ok(card)
}

/// Writes a card's sealed number and address and its region codes.
pub(crate) async fn store_card(
    tx: &mut Tx,
    platform: &Platform,
    card: &Card,
    insert: bool,
) -> Result<(), PopulationError> {
    let json = serde_json::to_vec(&Sealed {
        kk_number: card.kk_number.clone(),
        address: card.address.clone(),
    })
    .map_err(PopulationError::corrupt)?;
    let sealed = platform.vault.seal(&json, &format!("family:{}", card.id)).await?;
    let place = Place::of(&card.address.district);
    let now = warga_core::time::now_ms();
    if insert {
        let kk_index = platform.vault.index(&format!("kk:{}", card.kk_number)).await?;
        sqlx::query(
            "INSERT INTO population_families (id, kk_index, key_id, sealed, province, regency, district, status, \
             created_at_ms, updated_at_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, 'active', $8, $8)",
        )
        .bind(&card.id)
        .bind(&kk_index)
        .bind(&sealed.key_id)
        .bind(&sealed.ciphertext)
        .bind(&place.province)
        .bind(&place.regency)
        .bind(&place.district)
        .bind(now)
        .execute(tx.conn())
        .await
        .map_err(|e| match StoreError::from(e) {
            StoreError::Conflict { .. } => PopulationError::conflict(
                "a family card with this number is registered",
                "kartu keluarga dengan nomor ini sudah terdaftar",
            ),
            other => other.into(),
        })?;
    } else {
        sqlx::query(
            "UPDATE population_families SET key_id = $1, sealed = $2, province = $3, regency = $4, district = $5, \
             updated_at_ms = $6 WHERE id = $7",
        )
        .bind(&sealed.key_id)
        .bind(&sealed.ciphertext)
        .bind(&place.province)
        .bind(&place.regency)
        .bind(&place.district)
        .bind(now)
        .bind(&card.id)
        .execute(tx.conn())
        .await
        .map_err(StoreError::from)?;
    }
    Ok(())
}

/// The next serial under `prefix` (numbers issued here: KK numbers, move letters).
pub(crate) async fn next_serial(tx: &mut Tx, prefix: &str) -> Result<i64, PopulationError> {
    let row = sqlx::query(
        "INSERT INTO population_serials (prefix, last) VALUES ($1, 1) \
         ON CONFLICT (prefix) DO UPDATE SET last = population_serials.last + 1 RETURNING last",
    )
    .bind(prefix)
    .fetch_one(tx.conn())
    .await
    .map_err(StoreError::from)?;
    Ok(row.get(0))
}

/// Today in WIB as (`ddmmyy`, `YYYYMMDD`).
pub(crate) fn today_wib() -> (String, String) {
    let day = warga_core::time::format_wib(warga_core::time::now_ms());
    let (y, m, d) = (&day[0..4], &day[5..7], &day[8..10]);
    (format!("{d}{m}{}", &y[2..]), format!("{y}{m}{d}"))
}

pub(crate) async fn number_taken(tx: &mut Tx, platform: &Platform, number: &str) -> Result<bool, PopulationError> {
    let kk_index = platform.vault.index(&format!("kk:{number}")).await?;
    let row = sqlx::query("SELECT 1 FROM population_families WHERE kk_index = $1")
        .bind(kk_index)
        .fetch_optional(tx.conn())
        .await
        .map_err(StoreError::from)?;
    Ok(row.is_some())
}

/// The card's number: the one given (checked, and free), or a new one issued in `district`
/// today (skipping numbers already brought in by hand).
pub(crate) async fn card_number(
    tx: &mut Tx,
    platform: &Platform,
    given: Option<&str>,
    district: &str,
) -> Result<String, PopulationError> {
    if let Some(number) = given {
        if number_taken(tx, platform, number).await? {
            return Err(PopulationError::conflict(
                "a family card with this number is registered",
                "kartu keluarga dengan nomor ini sudah terdaftar",
            ));
        }
        return Ok(number.to_owned());
    }
    let (ddmmyy, _) = today_wib();
    loop {
        let serial = next_serial(tx, &format!("kk:{district}{ddmmyy}")).await?;
        if serial > 9999 {
            return Err(PopulationError::conflict(
                format!("district {district} issued 9999 family cards today; bring in the number by hand"),
                format!("kecamatan {district} sudah menerbitkan 9999 KK hari ini; masukkan nomor secara manual"),
            ));
        }
        let number = format!("{district}{ddmmyy}{serial:04}");
        if !number_taken(tx, platform, &number).await? {
            return Ok(number);
        }
    }
}

/// A resident's current card and relationship on it.
pub(crate) async fn current_card_of(
    tx: &mut Tx,
    resident_id: &str,
) -> Result<Option<(String, Relationship)>, PopulationError> {
    let row = sqlx::query(
        "SELECT family_id, relationship FROM population_family_members WHERE resident_id = $1 AND left_at_ms IS NULL",
    )
    .bind(resident_id)
    .fetch_optional(tx.conn())
    .await
    .map_err(StoreError::from)?;
    row.map(|row| Ok((row.get::<String, _>(0), relationship(&row.get::<String, _>(1))?)))
        .transpose()
}

pub(crate) fn relationship(code: &str) -> Result<Relationship, PopulationError> {
    Relationship::from_code(code).ok_or_else(|| PopulationError::corrupt(format!("relationship {code}")))
}

pub(crate) fn reason(code: &str) -> Result<Reason, PopulationError> {
    Reason::from_code(code).ok_or_else(|| PopulationError::corrupt(format!("reason {code}")))
}

/// The current members of a card: (resident id, relationship).
pub(crate) async fn current_members(
    tx: &mut Tx,
    family_id: &str,
) -> Result<Vec<(String, Relationship)>, PopulationError> {
    let rows = sqlx::query(
        "SELECT resident_id, relationship FROM population_family_members WHERE family_id = $1 AND left_at_ms IS NULL \
         ORDER BY joined_at_ms, resident_id",
    )
    .bind(family_id)
    .fetch_all(tx.conn())
    .await
    .map_err(StoreError::from)?;
    rows.iter()
        .map(|row| Ok((row.get::<String, _>(0), relationship(&row.get::<String, _>(1))?)))
        .collect()
}

pub(crate) async fn join(
    tx: &mut Tx,
    card: &Card,
    resident_id: &str,
    relationship: Relationship,
    why: Reason,
) -> Result<(), PopulationError> {
    sqlx::query(
        "INSERT INTO population_family_members (id, family_id, resident_id, relationship, joined_at_ms, joined_reason) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(uuid::Uuid::now_v7().hyphenated().to_string())
    .bind(&card.id)
    .bind(resident_id)
    .bind(relationship.code())
    .bind(warga_core::time::now_ms())
    .bind(why.code())
    .execute(tx.conn())
    .await
    .map_err(|e| match StoreError::from(e) {
        StoreError::Conflict { .. } => PopulationError::conflict(
            format!("resident {resident_id} is already on a family card, or the card already has a head"),
            format!("penduduk {resident_id} sudah tercatat dalam KK lain, atau KK ini sudah memiliki kepala keluarga"),
        ),
        other => other.into(),
    })?;
    tx.append_event(&FamilyMemberJoined {
        family_id: card.id.clone(),
        resident_id: resident_id.to_owned(),
        relationship,
        reason: why,
        place: Place::of(&card.address.district),
    })
    .await?;
    Ok(())
}

/// Ends a resident's current membership of `family_id`; a card left without members closes.
pub(crate) async fn leave(
    tx: &mut Tx,
    family_id: &str,
    district: &str,
    resident_id: &str,
    why: Reason,
) -> Result<(), PopulationError> {
    let now = warga_core::time::now_ms();
    sqlx::query(
        "UPDATE population_family_members SET left_at_ms = $1, left_reason = $2 \
         WHERE family_id = $3 AND resident_id = $4 AND left_at_ms IS NULL",
    )
    .bind(now)
    .bind(why.code())
    .bind(family_id)
    .bind(resident_id)
    .execute(tx.conn())
    .await
    .map_err(StoreError::from)?;
    tx.append_event(&FamilyMemberLeft {
        family_id: family_id.to_owned(),
        resident_id: resident_id.to_owned(),
        reason: why,
        place: Place::of(district),
    })
    .await?;
    if current_members(tx, family_id).await?.is_empty() {
        sqlx::query("UPDATE population_families SET status = 'closed', updated_at_ms = $1 WHERE id = $2")
            .bind(now)
            .bind(family_id)
            .execute(tx.conn())
            .await
            .map_err(StoreError::from)?;
        tx.append_event(&FamilyClosed {
            family_id: family_id.to_owned(),
            place: Place::of(district),
        })
        .await?;
    }
    Ok(())
}

/// The district of a card, read in `tx`.
pub(crate) async fn card_district(tx: &mut Tx, family_id: &str) -> Result<String, PopulationError> {
    let row = sqlx::query("SELECT district FROM population_families WHERE id = $1")
        .bind(family_id)
        .fetch_one(tx.conn())
        .await
        .map_err(StoreError::from)?;
    Ok(row.get(0))
}

pub(crate) async fn audit(
    tx: &mut Tx,
    actor: &str,
    action: &str,
    family_id: &str,
    details: serde_json::Value,
) -> Result<(), PopulationError> {
    tx.audit(&AuditRecord {
        actor,
        action,
        target: &format!("family:{family_id}"),
        outcome: Outcome::Success,
        details: Some(details),
    })
    .await?;
    Ok(())
}

pub(crate) async fn set_relationship(
    tx: &mut Tx,
    family_id: &str,
    resident_id: &str,
    relationship: Relationship,
) -> Result<(), PopulationError> {
    sqlx::query(
        "UPDATE population_family_members SET relationship = $1 \
         WHERE family_id = $2 AND resident_id = $3 AND left_at_ms IS NULL",
    )
    .bind(relationship.code())
    .bind(family_id)
    .bind(resident_id)
    .execute(tx.conn())
    .await
    .map_err(|e| match StoreError::from(e) {
        StoreError::Conflict { .. } => {
            PopulationError::conflict("the card already has a head", "KK ini sudah memiliki kepala keluarga")
        }
        other => other.into(),
    })?;
    Ok(())
}

/// In the transaction of a resident's own move: one who shares a card with others cannot
/// move alone (the family moves, or they are split off to a card at the new address); one
/// alone on their card takes it along.
pub(crate) async fn moving_alone(
    tx: &mut Tx,
    platform: &Platform,
    resident_id: &str,
    to: &Address,
    actor: &str,
) -> Result<(), PopulationError> {
    let Some((family_id, _)) = current_card_of(tx, resident_id).await? else {
        return Ok(());
    };
    let mut card = lock_active(tx, platform, &family_id).await?;
    if current_members(tx, &family_id).await?.len() > 1 {
        return Err(PopulationError::conflict(
            "the resident shares a family card: move the whole family, or split them off to a card at the new address",
            "penduduk ini tercatat dalam KK bersama anggota lain: pindahkan sekeluarga, atau pisahkan ke KK baru di alamat baru",
        ));
    }
    let from = Place::of(&card.address.district);
    card.address = to.clone();
    store_card(tx, platform, &card, false).await?;
    tx.append_event(&FamilyMoved {
        family_id: card.id.clone(),
        from,
        to: Place::of(&to.district),
        members: 1,
        letter: None,
    })
    .await?;
    audit(
        tx,
        actor,
        "population.family.move",
        &card.id,
        serde_json::json!({ "with": resident_id }),
    )
    .await
}

/// In the transaction recording a death: the resident leaves their card. A card whose head
/// died has no head until one is named.
pub(crate) async fn leave_on_death(tx: &mut Tx, resident_id: &str, actor: &str) -> Result<(), PopulationError> {
    let Some((family_id, relationship)) = current_card_of(tx, resident_id).await? else {
        return Ok(());
    };
    let district = card_district(tx, &family_id).await?;
    leave(tx, &family_id, &district, resident_id, Reason::Kematian).await?;
    if relationship == Relationship::KepalaKeluarga {
        tx.append_event(&FamilyHeadChanged {
            family_id: family_id.clone(),
            head: None,
        })
        .await?;
    }
    audit(
        tx,
        actor,
        "population.family.member.death",
        &family_id,
        serde_json::json!({ "resident": resident_id }),
    )
    .await
}

/// A resident's memberships, the current one first, then the most recent.
pub(crate) async fn memberships(tx: &mut Tx, resident_id: &str) -> Result<Vec<Membership>, PopulationError> {
    let rows = sqlx::query(
        "SELECT family_id, relationship, joined_at_ms, joined_reason, left_at_ms, left_reason \
         FROM population_family_members WHERE resident_id = $1 ORDER BY joined_at_ms DESC",
    )
    .bind(resident_id)
    .fetch_all(tx.conn())
    .await
    .map_err(StoreError::from)?;
    let mut list = rows
        .iter()
        .map(|row| {
            let left_reason: Option<String> = row.get(5);
            Ok(Membership {
                family_id: row.get(0),
                relationship: relationship(&row.get::<String, _>(1))?,
                joined_at_ms: row.get(2),
                joined_reason: reason(&row.get::<String, _>(3))?,
                left_at_ms: row.get(4),
                left_reason: left_reason.as_deref().map(reason).transpose()?,
            })
        })
        .collect::<Result<Vec<_>, PopulationError>>()?;
    list.sort_by_key(|m| m.left_at_ms.is_some());
    Ok(list)
}

/// Keeps `population_household_stats` (households and their members per regency) in step
/// with the family events.
pub struct HouseholdCounter;

pub(crate) const HOUSEHOLD_TOPICS: [&str; 5] = [
    FamilyCreated::TOPIC,
    FamilyMemberJoined::TOPIC,
    FamilyMemberLeft::TOPIC,
    FamilyMoved::TOPIC,
    FamilyClosed::TOPIC,
];

#[async_trait::async_trait]
impl warga_bus::Handler for HouseholdCounter {
    fn name(&self) -> &'static str {
        "population-households"
    }
    fn topics(&self) -> &'static [&'static str] {
        &HOUSEHOLD_TOPICS
    }
    async fn handle(&self, tx: &mut Tx, event: &Envelope) -> Result<(), HandlerError> {
        match event.topic.as_str() {
            FamilyCreated::TOPIC => {
                let e: FamilyCreated = event.decode()?;
                count(tx, &e.place, 1, 0).await?;
            }
            FamilyMemberJoined::TOPIC => {
                let e: FamilyMemberJoined = event.decode()?;
                count(tx, &e.place, 0, 1).await?;
            }
            FamilyMemberLeft::TOPIC => {
                let e: FamilyMemberLeft = event.decode()?;
                count(tx, &e.place, 0, -1).await?;
            }
            FamilyMoved::TOPIC => {
                let e: FamilyMoved = event.decode()?;
                count(tx, &e.from, -1, -e.members).await?;
                count(tx, &e.to, 1, e.members).await?;
            }
            FamilyClosed::TOPIC => {
                let e: FamilyClosed = event.decode()?;
                count(tx, &e.place, -1, 0).await?;
            }
            other => return Err(format!("unexpected topic {other}").into()),
        }
        Ok(())
    }
}

pub(crate) async fn count(tx: &mut Tx, place: &Place, households: i64, members: i64) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO population_household_stats (province, regency, households, members) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (province, regency) DO UPDATE SET households = population_household_stats.households + $3, \
         members = population_household_stats.members + $4",
    )
    .bind(&place.province)
    .bind(&place.regency)
    .bind(households)
    .bind(members)
    .execute(tx.conn())
    .await?;
    Ok(())
}

/// Households and their members per province (or per regency of one province).
pub(crate) async fn households(
    platform: &Platform,
    province: Option<&str>,
) -> Result<std::collections::BTreeMap<String, (i64, i64)>, PopulationError> {
    let rows = sqlx::query(
        "SELECT province, regency, households, members FROM population_household_stats \
         WHERE ($1 IS NULL OR province = $1)",
    )
    .bind(province)
    .fetch_all(platform.store.reader())
    .await
    .map_err(StoreError::from)?;
    let mut by_region = std::collections::BTreeMap::<String, (i64, i64)>::new();
    for row in rows {
        let (p, r, households, members): (String, String, i64, i64) = (row.get(0), row.get(1), row.get(2), row.get(3));
        let entry = by_region.entry(if province.is_some() { r } else { p }).or_default();
        entry.0 += households;
        entry.1 += members;
    }
    Ok(by_region)
}

/// In the statistics rebuild's transaction: recomputes the household counts from the cards
/// and marks every family event as counted. Returns (households, rows that differed).
pub(crate) async fn rebuild_households(tx: &mut Tx) -> Result<(i64, usize), StoreError> {
    let key =
        |row: &sqlx::any::AnyRow| -> (String, String, i64, i64) { (row.get(0), row.get(1), row.get(2), row.get(3)) };
    let before: BTreeSet<_> = sqlx::query(
        "SELECT province, regency, households, members FROM population_household_stats \
         WHERE households <> 0 OR members <> 0",
    )
    .fetch_all(tx.conn())
    .await?
    .iter()
    .map(key)
    .collect();
    sqlx::query("DELETE FROM population_household_stats")
        .execute(tx.conn())
        .await?;
    sqlx::query(
        "INSERT INTO population_household_stats (province, regency, households, members) \
         SELECT f.province, f.regency, COUNT(DISTINCT f.id), COUNT(m.resident_id) FROM population_families f \
         LEFT JOIN population_family_members m ON m.family_id = f.id AND m.left_at_ms IS NULL \
         WHERE f.status = 'active' GROUP BY f.province, f.regency",
    )
    .execute(tx.conn())
    .await?;
    sqlx::query(
        "INSERT INTO processed_events (consumer, event_id, processed_at_ms) \
         SELECT $1, event_id, $2 FROM outbox WHERE topic IN ($3, $4, $5, $6, $7) \
         ON CONFLICT (consumer, event_id) DO NOTHING",
    )
    .bind("population-households")
    .bind(warga_core::time::hour_ceiling(warga_core::time::now_ms()))
    .bind(HOUSEHOLD_TOPICS[0])
    .bind(HOUSEHOLD_TOPICS[1])
    .bind(HOUSEHOLD_TOPICS[2])
    .bind(HOUSEHOLD_TOPICS[3])
    .bind(HOUSEHOLD_TOPICS[4])
    .execute(tx.conn())
    .await?;
    let after: BTreeSet<_> =
        sqlx::query("SELECT province, regency, households, members FROM population_household_stats")
            .fetch_all(tx.conn())
            .await?
            .iter()
            .map(key)
            .collect();
    let households = after.iter().map(|row| row.2).sum();
    Ok((households, before.symmetric_difference(&after).count()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_relationship_and_reason_reads_back_from_its_code() {
        for r in Relationship::ALL {
            assert_eq!(Relationship::from_code(r.code()), Some(r));
            assert_eq!(serde_json::to_value(r).unwrap(), r.code());
        }
        for r in Reason::ALL {
            assert_eq!(Reason::from_code(r.code()), Some(r));
            assert_eq!(serde_json::to_value(r).unwrap(), r.code());
        }
    }
}
