//! The family card (Kartu Keluarga, KK): who lives together as one household, under whom,
//! and how each member came and went.
//!
//! A KK has a 16-digit number (the district where it was issued, the date of issue, a
//! serial), an address, a head (kepala keluarga) and members, each with their relationship
//! to the head (SHDK: istri, suami, anak, …). A resident belongs to one KK at a time; every
//! membership row keeps when and why it began and ended, so the history is never lost.
//! The number and the address are sealed together like a resident's KTP fields (the number
//! is found through its keyed hash); region codes stay in clear for household statistics.
//!
//! Members live at the card's address: joining a card at another address, moving a whole
//! family, or splitting members off to a new address records a move of each resident (the
//! old address kept in their history). A whole family's move is written as a letter in the
//! manner of the SKPWNI (Surat Keterangan Pindah WNI), which the web screen prints.
//!
//! Every change emits an event with ids and region codes only; the household counter
//! (`HouseholdCounter`) keeps households and their members per regency from them.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};
use sqlx::Row;
use warga_bus::HandlerError;
use warga_core::{Envelope, Event};
use warga_http::Platform;
use warga_store::audit::{AuditRecord, Outcome};
use warga_store::{Backend, StoreError, Tx};

use crate::error::PopulationError;
use crate::nik::{self, CurrentRegion, Date, NikError, Sex};
use crate::regions::{REGIONS, Regions};
use crate::residents::{self, Address, Loaded, Place};

// ---------------------------------------------------------------------------------------
// The KK number

/// Why a KK number is refused; [`KkNumberError::problem`] is the problem type's last segment.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum KkNumberError {
    #[error("a KK number is 16 digits")]
    Format,
    #[error("no province has code {0}")]
    UnknownProvince(String),
    #[error("no regency or city has code {0}")]
    UnknownRegency(String),
    #[error("no district has code {0}")]
    UnknownDistrict(String),
    #[error("digits 7-12 are not a date of issue (ddmmyy)")]
    IssueDate,
    #[error("the serial number (last four digits) cannot be 0000")]
    Serial,
}

impl KkNumberError {
    pub fn problem(&self) -> &'static str {
        match self {
            KkNumberError::Format => "kk-format",
            KkNumberError::UnknownProvince(_) => "kk-province",
            KkNumberError::UnknownRegency(_) => "kk-regency",
            KkNumberError::UnknownDistrict(_) => "kk-district",
            KkNumberError::IssueDate => "kk-issue-date",
            KkNumberError::Serial => "kk-serial",
        }
    }

    pub fn title(&self) -> &'static str {
        match self {
            KkNumberError::Format => "A KK number is 16 digits",
            KkNumberError::UnknownProvince(_) => "Unknown province code in the KK number",
            KkNumberError::UnknownRegency(_) => "Unknown regency or city code in the KK number",
            KkNumberError::UnknownDistrict(_) => "Unknown district code in the KK number",
            KkNumberError::IssueDate => "The KK number holds no valid date of issue",
            KkNumberError::Serial => "The KK number's serial is 0000",
        }
    }

    /// The detail in Bahasa Indonesia.
    pub fn detail_id(&self) -> String {
        match self {
            KkNumberError::Format => "nomor KK terdiri atas 16 angka".into(),
            KkNumberError::UnknownProvince(code) => format!("tidak ada provinsi dengan kode {code}"),
            KkNumberError::UnknownRegency(code) => format!("tidak ada kabupaten/kota dengan kode {code}"),
            KkNumberError::UnknownDistrict(code) => format!("tidak ada kecamatan dengan kode {code}"),
            KkNumberError::IssueDate => "angka ke-7 sampai ke-12 bukan tanggal terbit (hhbbtt)".into(),
            KkNumberError::Serial => "nomor urut (empat angka terakhir) tidak boleh 0000".into(),
        }
    }

    pub fn title_id(&self) -> &'static str {
        match self {
            KkNumberError::Format => "Nomor KK terdiri atas 16 angka",
            KkNumberError::UnknownProvince(_) => "Kode provinsi dalam nomor KK tidak dikenal",
            KkNumberError::UnknownRegency(_) => "Kode kabupaten/kota dalam nomor KK tidak dikenal",
            KkNumberError::UnknownDistrict(_) => "Kode kecamatan dalam nomor KK tidak dikenal",
            KkNumberError::IssueDate => "Nomor KK tidak memuat tanggal terbit yang sah",
            KkNumberError::Serial => "Nomor urut KK tidak boleh 0000",
        }
    }
}

/// What a KK number says: where it was issued (by the names its codes had) and, when those
/// codes were later replaced, that region today.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct KkNumber {
    pub district: String,
    pub issued_in: String,
    pub current: Option<CurrentRegion>,
}

/// Checks a KK number as the NIK is checked: 16 digits, a district in the region table (today's
/// codes or former ones), a date of issue `ddmmyy`, a serial other than 0000.
pub fn parse_number(number: &str, regions: &Regions) -> Result<KkNumber, KkNumberError> {
    let bytes = number.as_bytes();
    if bytes.len() != 16 || !bytes.iter().all(u8::is_ascii_digit) {
        return Err(KkNumberError::Format);
    }
    if regions.province(&number[..2]).is_none() {
        return Err(KkNumberError::UnknownProvince(number[..2].to_owned()));
    }
    let current = nik::current_region(regions, &number[..4], &number[..6]).map_err(|error| match error {
        NikError::UnknownRegency(code) => KkNumberError::UnknownRegency(code),
        NikError::UnknownDistrict(code) => KkNumberError::UnknownDistrict(code),
        _ => KkNumberError::Format,
    })?;
    let two = |at: usize| u32::from(bytes[at] - b'0') * 10 + u32::from(bytes[at + 1] - b'0');
    let (day, month, year_2) = (two(6), two(8), two(10));
    let possible = [1900, 2000]
        .iter()
        .any(|century| Date::new(century + year_2 as i32, month, day).is_some());
    if !possible {
        return Err(KkNumberError::IssueDate);
    }
    if &number[12..] == "0000" {
        return Err(KkNumberError::Serial);
    }
    Ok(KkNumber {
        district: number[..6].to_owned(),
        issued_in: regions.place_name(&number[..6]),
        current,
    })
}

// ---------------------------------------------------------------------------------------
// Relationships and reasons

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

/// Why a family moves (the SKPWNI's "alasan pindah").
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum MoveReason {
    Pekerjaan,
    Pendidikan,
    Keamanan,
    Kesehatan,
    Perumahan,
    Keluarga,
    Lainnya,
}

impl MoveReason {
    pub const ALL: [MoveReason; 7] = [
        MoveReason::Pekerjaan,
        MoveReason::Pendidikan,
        MoveReason::Keamanan,
        MoveReason::Kesehatan,
        MoveReason::Perumahan,
        MoveReason::Keluarga,
        MoveReason::Lainnya,
    ];

    pub fn code(self) -> &'static str {
        match self {
            MoveReason::Pekerjaan => "pekerjaan",
            MoveReason::Pendidikan => "pendidikan",
            MoveReason::Keamanan => "keamanan",
            MoveReason::Kesehatan => "kesehatan",
            MoveReason::Perumahan => "perumahan",
            MoveReason::Keluarga => "keluarga",
            MoveReason::Lainnya => "lainnya",
        }
    }

    pub fn from_code(code: &str) -> Option<MoveReason> {
        MoveReason::ALL.into_iter().find(|r| r.code() == code)
    }

    pub fn label_id(self) -> &'static str {
        match self {
            MoveReason::Pekerjaan => "Pekerjaan",
            MoveReason::Pendidikan => "Pendidikan",
            MoveReason::Keamanan => "Keamanan",
            MoveReason::Kesehatan => "Kesehatan",
            MoveReason::Perumahan => "Perumahan",
            MoveReason::Keluarga => "Keluarga",
            MoveReason::Lainnya => "Lainnya",
        }
    }
}

/// How far a family moves (the SKPWNI's "klasifikasi pindah").
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Classification {
    DalamDesa,
    AntarDesa,
    AntarKecamatan,
    AntarKabupaten,
    AntarProvinsi,
}

impl Classification {
    pub fn between(from: &Address, to: &Address) -> Classification {
        if from.district[..2] != to.district[..2] {
            Classification::AntarProvinsi
        } else if from.district[..4] != to.district[..4] {
            Classification::AntarKabupaten
        } else if from.district != to.district {
            Classification::AntarKecamatan
        } else if from.village != to.village {
            Classification::AntarDesa
        } else {
            Classification::DalamDesa
        }
    }

    pub fn label_id(self) -> &'static str {
        match self {
            Classification::DalamDesa => "Dalam satu desa/kelurahan",
            Classification::AntarDesa => "Antar desa/kelurahan dalam satu kecamatan",
            Classification::AntarKecamatan => "Antar kecamatan dalam satu kabupaten/kota",
            Classification::AntarKabupaten => "Antar kabupaten/kota dalam satu provinsi",
            Classification::AntarProvinsi => "Antar provinsi",
        }
    }
}

// ---------------------------------------------------------------------------------------
// Requests

/// A member of a card being made, with their relationship to its head.
#[derive(Clone, Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewMember {
    pub resident_id: String,
    pub relationship: Relationship,
}

/// A new family card for registered residents who have none.
#[derive(Clone, Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewFamily {
    /// The number of a card the family already holds (16 digits); absent, warga issues one
    /// (the address's district, today's date, the next serial).
    #[serde(default)]
    pub kk_number: Option<String>,
    /// The head of the family (kepala keluarga): a resident id.
    pub head: String,
    /// The other members.
    #[serde(default)]
    pub members: Vec<NewMember>,
    /// The family's address; absent, the head's. Members living elsewhere move to it.
    #[serde(default)]
    pub address: Option<Address>,
}

/// A newborn registered and added to their family's card in one step: the address is the
/// card's, marital status "Belum Kawin" and occupation "Belum/Tidak Bekerja".
#[derive(Clone, Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Newborn {
    pub nik: String,
    pub full_name: String,
    pub birth_place: String,
    /// `YYYY-MM-DD`.
    pub birth_date: String,
    pub sex: Sex,
    pub religion: String,
}

/// A member joining a card: a newborn (registered with it) or a registered resident coming
/// in (who leaves their earlier card, and moves to this card's address).
#[derive(Clone, Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddMember {
    pub relationship: Relationship,
    /// `kelahiran`, `pindah_datang`, `perkawinan` or `lainnya`.
    pub reason: Reason,
    #[serde(default)]
    pub resident_id: Option<String>,
    #[serde(default)]
    pub newborn: Option<Newborn>,
}

/// Members leaving a card for a new one of their own (a marriage, a grown child moving out).
#[derive(Clone, Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Split {
    /// Who leaves, with their relationship on the new card: exactly one `kepala_keluarga`.
    pub members: Vec<NewMember>,
    /// `perkawinan`, `pisah_kk` or `lainnya`.
    pub reason: Reason,
    #[serde(default)]
    pub kk_number: Option<String>,
    /// The new card's address; absent, the old card's.
    #[serde(default)]
    pub address: Option<Address>,
    /// Who heads the old card when its head leaves and others stay.
    #[serde(default)]
    pub remaining_head: Option<String>,
}

/// A new head for a card (after the head's death, or by the family's choice).
#[derive(Clone, Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewHead {
    pub resident_id: String,
    /// The former head's relationship from now on, when they are still on the card.
    #[serde(default)]
    pub former_head_becomes: Option<Relationship>,
}

/// A whole family moving together.
#[derive(Clone, Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FamilyMove {
    pub to: Address,
    /// The day of the move, `YYYY-MM-DD`.
    pub moved_on: String,
    pub reason: MoveReason,
}

// ---------------------------------------------------------------------------------------
// Answers

/// A family card as registry officers and its members see it.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct Family {
    pub id: String,
    pub kk_number: String,
    pub address: Address,
    /// "Village, District, Regency, Province".
    pub place: String,
    /// `active`, or `closed` once its last member left.
    pub status: String,
    /// The head's resident id; absent after the head died until a new one is named.
    pub head: Option<String>,
    /// Current members, the head first.
    pub members: Vec<Member>,
    /// Members who left, most recent first.
    pub former_members: Vec<Member>,
    /// Moves of the whole family, most recent first.
    pub moves: Vec<MoveSummary>,
    pub created_at_ms: i64,
}

#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct Member {
    pub resident_id: String,
    pub nik: String,
    pub full_name: String,
    pub sex: Sex,
    pub birth_place: String,
    pub birth_date: String,
    pub relationship: Relationship,
    pub joined_at_ms: i64,
    pub joined_reason: Reason,
    pub left_at_ms: Option<i64>,
    pub left_reason: Option<Reason>,
}

#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct MoveSummary {
    pub id: String,
    pub number: String,
    pub moved_on: String,
    pub from_district: String,
    pub to_district: String,
    pub recorded_at_ms: i64,
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

/// The letter of a family's move, in the manner of the SKPWNI.
#[derive(Clone, Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct MoveLetter {
    pub id: String,
    /// `SKPWNI/<district of origin>/<YYYYMMDD>/<serial>`.
    pub number: String,
    pub family_id: String,
    pub kk_number: String,
    pub head_name: String,
    pub head_nik: String,
    pub from: Address,
    pub from_place: String,
    pub to: Address,
    pub to_place: String,
    pub classification: Classification,
    pub reason: MoveReason,
    pub moved_on: String,
    pub members: Vec<LetterMember>,
    pub issued_at_ms: i64,
}

#[derive(Clone, Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct LetterMember {
    pub nik: String,
    pub full_name: String,
    pub relationship: Relationship,
}

/// What is sealed of a card: its number and address.
#[derive(Serialize, Deserialize)]
struct Sealed {
    kk_number: String,
    address: Address,
}

// ---------------------------------------------------------------------------------------
// Events: ids and region codes only

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

// ---------------------------------------------------------------------------------------
// Storage

struct Card {
    id: String,
    kk_number: String,
    address: Address,
    status: String,
    created_at_ms: i64,
}

/// A card. With `for_update`, locked for the rest of `tx` on PostgreSQL (SQLite serializes
/// writers anyway), so two changes of one family never interleave.
async fn load_card(tx: &mut Tx, platform: &Platform, id: &str, for_update: bool) -> Result<Card, PopulationError> {
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
    .ok_or_else(|| PopulationError::NotFound(format!("no family card {id}")))?;
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

async fn lock_active(tx: &mut Tx, platform: &Platform, id: &str) -> Result<Card, PopulationError> {
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
async fn store_card(tx: &mut Tx, platform: &Platform, card: &Card, insert: bool) -> Result<(), PopulationError> {
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
async fn next_serial(tx: &mut Tx, prefix: &str) -> Result<i64, PopulationError> {
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
fn today_wib() -> (String, String) {
    let day = warga_core::time::format_wib(warga_core::time::now_ms());
    let (y, m, d) = (&day[0..4], &day[5..7], &day[8..10]);
    (format!("{d}{m}{}", &y[2..]), format!("{y}{m}{d}"))
}

async fn number_taken(tx: &mut Tx, platform: &Platform, number: &str) -> Result<bool, PopulationError> {
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
async fn card_number(
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
async fn current_card_of(tx: &mut Tx, resident_id: &str) -> Result<Option<(String, Relationship)>, PopulationError> {
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

fn relationship(code: &str) -> Result<Relationship, PopulationError> {
    Relationship::from_code(code).ok_or_else(|| PopulationError::corrupt(format!("relationship {code}")))
}

fn reason(code: &str) -> Result<Reason, PopulationError> {
    Reason::from_code(code).ok_or_else(|| PopulationError::corrupt(format!("reason {code}")))
}

/// The current members of a card: (resident id, relationship).
async fn current_members(tx: &mut Tx, family_id: &str) -> Result<Vec<(String, Relationship)>, PopulationError> {
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

async fn join(
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
async fn leave(
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
async fn card_district(tx: &mut Tx, family_id: &str) -> Result<String, PopulationError> {
    let row = sqlx::query("SELECT district FROM population_families WHERE id = $1")
        .bind(family_id)
        .fetch_one(tx.conn())
        .await
        .map_err(StoreError::from)?;
    Ok(row.get(0))
}

/// Loads a living resident to put on a card, named by the request field `field`.
async fn living(tx: &mut Tx, platform: &Platform, field: &str, id: &str) -> Result<Loaded, PopulationError> {
    let loaded = match residents::load(tx, platform, id).await {
        Err(PopulationError::NotFound(_)) => {
            return Err(PopulationError::invalid(field, format!("no resident has id {id}"))
                .id(format!("tidak ada penduduk dengan id {id}")));
        }
        other => other?,
    };
    if loaded.resident.status != "alive" {
        return Err(PopulationError::invalid(
            field,
            format!("{} is recorded as deceased", loaded.resident.fields.full_name),
        )
        .id(format!("{} tercatat telah meninggal", loaded.resident.fields.full_name)));
    }
    Ok(loaded)
}

/// Moves a member to the card's address when they live elsewhere.
async fn bring_home(
    tx: &mut Tx,
    platform: &Platform,
    loaded: &mut Loaded,
    card: &Card,
    actor: &str,
) -> Result<(), PopulationError> {
    if Address::of(&loaded.resident.fields) != card.address {
        residents::relocate(tx, platform, loaded, &card.address, actor).await?;
    }
    Ok(())
}

fn check_number(number: Option<&str>) -> Result<Option<String>, PopulationError> {
    match number.map(str::trim) {
        None | Some("") => Ok(None),
        Some(number) => {
            parse_number(number, &REGIONS)?;
            Ok(Some(number.to_owned()))
        }
    }
}

/// The members of a new card are distinct, and none but `head` is its head.
fn check_members(head: &str, members: &[NewMember]) -> Result<(), PopulationError> {
    let mut seen = BTreeSet::from([head.trim()]);
    for (i, member) in members.iter().enumerate() {
        if member.relationship == Relationship::KepalaKeluarga {
            return Err(PopulationError::invalid(
                format!("members[{i}].relationship"),
                "a card has one head, named in `head`",
            )
            .id("satu KK hanya memiliki satu kepala keluarga, yang disebut pada `head`"));
        }
        if !seen.insert(member.resident_id.trim()) {
            return Err(PopulationError::invalid(
                format!("members[{i}].resident_id"),
                "each resident is on a card once",
            )
            .id("setiap penduduk hanya sekali dalam satu KK"));
        }
    }
    Ok(())
}

async fn audit(
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

// ---------------------------------------------------------------------------------------
// Operations

/// Makes a family card for residents who are on none: the head and the members move to the
/// card's address where they live elsewhere.
pub async fn create(platform: &Platform, new: &NewFamily, actor: &str) -> Result<Family, PopulationError> {
    let kk_number = check_number(new.kk_number.as_deref())?;
    check_members(&new.head, &new.members)?;
    let address = new.address.as_ref().map(Address::checked).transpose()?;
    let mut tx = platform.store.begin().await?;
    let head = living(&mut tx, platform, "head", new.head.trim()).await?;
    let address = address.unwrap_or_else(|| Address::of(&head.resident.fields));
    let number = card_number(&mut tx, platform, kk_number.as_deref(), &address.district).await?;
    let card = Card {
        id: uuid::Uuid::now_v7().hyphenated().to_string(),
        kk_number: number,
        address,
        status: "active".into(),
        created_at_ms: warga_core::time::now_ms(),
    };
    store_card(&mut tx, platform, &card, true).await?;
    tx.append_event(&FamilyCreated {
        family_id: card.id.clone(),
        place: Place::of(&card.address.district),
    })
    .await?;
    enroll(&mut tx, platform, &card, head, Relationship::KepalaKeluarga, actor).await?;
    for (i, member) in new.members.iter().enumerate() {
        let field = format!("members[{i}].resident_id");
        let loaded = living(&mut tx, platform, &field, member.resident_id.trim()).await?;
        enroll(&mut tx, platform, &card, loaded, member.relationship, actor).await?;
    }
    audit(
        &mut tx,
        actor,
        "population.family.create",
        &card.id,
        serde_json::json!({ "district": card.address.district, "members": new.members.len() + 1,
                            "number_issued": kk_number.is_none() }),
    )
    .await?;
    tx.commit().await?;
    read(platform, &card.id).await
}

/// Puts a resident who is on no card on a new one, at its address.
async fn enroll(
    tx: &mut Tx,
    platform: &Platform,
    card: &Card,
    mut loaded: Loaded,
    relationship: Relationship,
    actor: &str,
) -> Result<(), PopulationError> {
    let id = loaded.resident.id.clone();
    if current_card_of(tx, &id).await?.is_some() {
        let name = &loaded.resident.fields.full_name;
        return Err(PopulationError::conflict(
            format!("{name} is already on a family card: add them from there (they leave it) or split them off"),
            format!(
                "{name} sudah tercatat dalam KK lain: tambahkan sebagai anggota (keluar dari KK lama) atau pisahkan"
            ),
        ));
    }
    bring_home(tx, platform, &mut loaded, card, actor).await?;
    join(tx, card, &id, relationship, Reason::KkBaru).await
}

/// Adds a member to a card: a newborn, registered in the same step, or a registered resident
/// coming in, who leaves their earlier card (closing it if they were its last member) and
/// moves to this card's address.
pub async fn add_member(
    platform: &Platform,
    family_id: &str,
    input: &AddMember,
    actor: &str,
) -> Result<Family, PopulationError> {
    if input.relationship == Relationship::KepalaKeluarga {
        return Err(PopulationError::invalid(
            "relationship",
            "a card has one head; name a new head with the head change",
        )
        .id("satu KK hanya memiliki satu kepala keluarga; gunakan penggantian kepala keluarga"));
    }
    if !matches!(
        input.reason,
        Reason::Kelahiran | Reason::PindahDatang | Reason::Perkawinan | Reason::Lainnya
    ) {
        return Err(PopulationError::invalid(
            "reason",
            "a member joins by kelahiran, pindah_datang, perkawinan or lainnya",
        )
        .id("anggota masuk karena kelahiran, pindah datang, perkawinan atau lainnya"));
    }
    match (&input.resident_id, &input.newborn) {
        (Some(_), Some(_)) | (None, None) => {
            return Err(PopulationError::invalid(
                "resident_id",
                "give either resident_id (a registered resident) or newborn",
            )
            .id("isi salah satu: resident_id (penduduk terdaftar) atau newborn (bayi baru lahir)"));
        }
        (None, Some(_)) if input.reason != Reason::Kelahiran => {
            return Err(PopulationError::invalid("reason", "a newborn joins by kelahiran")
                .id("bayi baru lahir masuk dengan alasan kelahiran"));
        }
        _ => {}
    }
    // The card's address is needed to register a newborn: read it first, sealing outside
    // the transaction, then check it did not change under us.
    let prepared = match &input.newborn {
        None => None,
        Some(newborn) => {
            let address = read_card(platform, family_id).await?.address;
            let new = residents::NewResident {
                nik: newborn.nik.clone(),
                full_name: newborn.full_name.clone(),
                birth_place: newborn.birth_place.clone(),
                birth_date: newborn.birth_date.clone(),
                sex: newborn.sex,
                address: address.address.clone(),
                rt_rw: address.rt_rw.clone(),
                village: address.village.clone(),
                district: address.district.clone(),
                postal_code: address.postal_code.clone(),
                religion: newborn.religion.clone(),
                marital_status: "Belum Kawin".into(),
                occupation: "Belum/Tidak Bekerja".into(),
            };
            Some((address, residents::prepare(platform, &new).await?))
        }
    };
    let mut tx = platform.store.begin().await?;
    let card = lock_active(&mut tx, platform, family_id).await?;
    let resident_id = if let Some((address, prepared)) = prepared {
        if address != card.address {
            return Err(PopulationError::conflict(
                "the family moved a moment ago; try again",
                "keluarga baru saja pindah; coba lagi",
            ));
        }
        residents::insert(&mut tx, prepared, actor).await?.id
    } else {
        let id = input.resident_id.as_deref().unwrap_or_default().trim();
        let mut loaded = living(&mut tx, platform, "resident_id", id).await?;
        if let Some((earlier, relationship)) = current_card_of(&mut tx, id).await? {
            if earlier == card.id {
                let name = &loaded.resident.fields.full_name;
                return Err(PopulationError::conflict(
                    format!("{name} is already on this card"),
                    format!("{name} sudah tercatat dalam KK ini"),
                ));
            }
            if relationship == Relationship::KepalaKeluarga && current_members(&mut tx, &earlier).await?.len() > 1 {
                let name = &loaded.resident.fields.full_name;
                return Err(PopulationError::conflict(
                    format!("{name} heads another card with other members: name a new head there first"),
                    format!(
                        "{name} adalah kepala keluarga KK lain yang masih beranggota: tunjuk kepala keluarga baru di sana dulu"
                    ),
                ));
            }
            let district = card_district(&mut tx, &earlier).await?;
            leave(&mut tx, &earlier, &district, id, input.reason).await?;
        }
        bring_home(&mut tx, platform, &mut loaded, &card, actor).await?;
        id.to_owned()
    };
    join(&mut tx, &card, &resident_id, input.relationship, input.reason).await?;
    audit(
        &mut tx,
        actor,
        "population.family.member.add",
        &card.id,
        serde_json::json!({ "resident": resident_id, "reason": input.reason.code(), "newborn": input.newborn.is_some() }),
    )
    .await?;
    tx.commit().await?;
    read(platform, family_id).await
}

/// Splits members off to a new card of their own, at the old card's address or a new one.
pub async fn split(
    platform: &Platform,
    family_id: &str,
    input: &Split,
    actor: &str,
) -> Result<Family, PopulationError> {
    if !matches!(input.reason, Reason::Perkawinan | Reason::PisahKk | Reason::Lainnya) {
        return Err(
            PopulationError::invalid("reason", "a family splits by perkawinan, pisah_kk or lainnya")
                .id("pisah KK karena perkawinan, pisah KK atau lainnya"),
        );
    }
    let heads: Vec<&NewMember> = input
        .members
        .iter()
        .filter(|m| m.relationship == Relationship::KepalaKeluarga)
        .collect();
    let [new_head] = heads.as_slice() else {
        return Err(
            PopulationError::invalid("members", "name exactly one member of the new card as kepala_keluarga")
                .id("tunjuk tepat satu anggota sebagai kepala keluarga KK baru"),
        );
    };
    let others: Vec<NewMember> = input
        .members
        .iter()
        .filter(|m| m.relationship != Relationship::KepalaKeluarga)
        .cloned()
        .collect();
    check_members(&new_head.resident_id, &others)?;
    let kk_number = check_number(input.kk_number.as_deref())?;
    let address = input.address.as_ref().map(Address::checked).transpose()?;
    let mut tx = platform.store.begin().await?;
    let old = lock_active(&mut tx, platform, family_id).await?;
    let current = current_members(&mut tx, family_id).await?;
    let leaving: BTreeSet<&str> = input.members.iter().map(|m| m.resident_id.trim()).collect();
    for (i, member) in input.members.iter().enumerate() {
        if !current.iter().any(|(id, _)| id == member.resident_id.trim()) {
            return Err(
                PopulationError::invalid(format!("members[{i}].resident_id"), "is not a member of this card")
                    .id("bukan anggota KK ini"),
            );
        }
    }
    let staying: Vec<&(String, Relationship)> = current
        .iter()
        .filter(|(id, _)| !leaving.contains(id.as_str()))
        .collect();
    if staying.is_empty() {
        return Err(
            PopulationError::invalid("members", "everyone would leave: move the whole family instead")
                .id("semua anggota akan keluar: gunakan pindah sekeluarga"),
        );
    }
    let old_head_leaves = current
        .iter()
        .any(|(id, r)| *r == Relationship::KepalaKeluarga && leaving.contains(id.as_str()));
    let remaining_head = input.remaining_head.as_deref().map(str::trim).filter(|s| !s.is_empty());
    match (old_head_leaves, remaining_head) {
        (true, None) => {
            return Err(PopulationError::invalid(
                "remaining_head",
                "the head leaves: name who heads the card of those who stay",
            )
            .id("kepala keluarga ikut pisah: tunjuk kepala keluarga bagi yang tetap"));
        }
        (true, Some(id)) if !staying.iter().any(|(staying, _)| staying == id) => {
            return Err(
                PopulationError::invalid("remaining_head", "must be a member who stays").id("harus anggota yang tetap")
            );
        }
        (false, Some(_)) => {
            return Err(
                PopulationError::invalid("remaining_head", "the head stays; change the head separately")
                    .id("kepala keluarga tetap; ganti kepala keluarga secara terpisah"),
            );
        }
        _ => {}
    }
    let address = address.unwrap_or_else(|| old.address.clone());
    let number = card_number(&mut tx, platform, kk_number.as_deref(), &address.district).await?;
    let card = Card {
        id: uuid::Uuid::now_v7().hyphenated().to_string(),
        kk_number: number,
        address,
        status: "active".into(),
        created_at_ms: warga_core::time::now_ms(),
    };
    store_card(&mut tx, platform, &card, true).await?;
    tx.append_event(&FamilyCreated {
        family_id: card.id.clone(),
        place: Place::of(&card.address.district),
    })
    .await?;
    // The head first: the new card's head row, and the old card's head leaving before another
    // is named there (one head per card at every step).
    let mut ordered: Vec<&NewMember> = vec![new_head];
    ordered.extend(
        input
            .members
            .iter()
            .filter(|m| m.relationship != Relationship::KepalaKeluarga),
    );
    for member in ordered {
        let id = member.resident_id.trim();
        let mut loaded = living(&mut tx, platform, "members", id).await?;
        leave(&mut tx, &old.id, &old.address.district, id, input.reason).await?;
        bring_home(&mut tx, platform, &mut loaded, &card, actor).await?;
        join(&mut tx, &card, id, member.relationship, input.reason).await?;
    }
    if let Some(id) = remaining_head.filter(|_| old_head_leaves) {
        set_relationship(&mut tx, &old.id, id, Relationship::KepalaKeluarga).await?;
        tx.append_event(&FamilyHeadChanged {
            family_id: old.id.clone(),
            head: Some(id.to_owned()),
        })
        .await?;
    }
    audit(
        &mut tx,
        actor,
        "population.family.split",
        &old.id,
        serde_json::json!({ "new_family": card.id, "members": input.members.len(), "reason": input.reason.code() }),
    )
    .await?;
    tx.commit().await?;
    read(platform, &card.id).await
}

async fn set_relationship(
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

/// Names a new head; the former head, when still on the card, takes the relationship given.
pub async fn change_head(
    platform: &Platform,
    family_id: &str,
    input: &NewHead,
    actor: &str,
) -> Result<Family, PopulationError> {
    let mut tx = platform.store.begin().await?;
    let card = lock_active(&mut tx, platform, family_id).await?;
    let current = current_members(&mut tx, family_id).await?;
    let new_head = input.resident_id.trim();
    match current.iter().find(|(id, _)| id == new_head) {
        None => {
            return Err(
                PopulationError::invalid("resident_id", "is not a member of this card").id("bukan anggota KK ini")
            );
        }
        Some((_, Relationship::KepalaKeluarga)) => {
            return Err(PopulationError::invalid("resident_id", "already heads this card")
                .id("sudah menjadi kepala keluarga KK ini"));
        }
        Some(_) => {}
    }
    if let Some((former, _)) = current.iter().find(|(_, r)| *r == Relationship::KepalaKeluarga) {
        let becomes = match input.former_head_becomes {
            None => {
                return Err(PopulationError::invalid(
                    "former_head_becomes",
                    "say what the former head is on the card from now on",
                )
                .id("pilih hubungan kepala keluarga lama dalam KK mulai sekarang"));
            }
            Some(Relationship::KepalaKeluarga) => {
                return Err(PopulationError::invalid("former_head_becomes", "a card has one head")
                    .id("satu KK hanya memiliki satu kepala keluarga"));
            }
            Some(relationship) => relationship,
        };
        set_relationship(&mut tx, &card.id, former, becomes).await?;
    }
    set_relationship(&mut tx, &card.id, new_head, Relationship::KepalaKeluarga).await?;
    tx.append_event(&FamilyHeadChanged {
        family_id: card.id.clone(),
        head: Some(new_head.to_owned()),
    })
    .await?;
    audit(
        &mut tx,
        actor,
        "population.family.head",
        &card.id,
        serde_json::json!({ "head": new_head }),
    )
    .await?;
    tx.commit().await?;
    read(platform, family_id).await
}

/// Moves a whole family: every member's address (each kept in their history), the card's
/// address, and a letter of the move.
pub async fn move_family(
    platform: &Platform,
    family_id: &str,
    input: &FamilyMove,
    actor: &str,
) -> Result<MoveLetter, PopulationError> {
    // The address's fields are named under `to`.
    let to = input.to.checked().map_err(|e| e.under("to"))?;
    let moved_on = Date::parse_iso(input.moved_on.trim())
        .filter(|d| d.year >= 1900)
        .ok_or_else(|| {
            PopulationError::invalid("moved_on", "must be a date, YYYY-MM-DD").id("harus tanggal, TTTT-BB-HH")
        })?;
    let today = today_wib().1;
    let moved_on_key = format!("{:04}{:02}{:02}", moved_on.year, moved_on.month, moved_on.day);
    if moved_on_key.as_str() > today.as_str() {
        return Err(
            PopulationError::invalid("moved_on", "a move is recorded on or after its day")
                .id("kepindahan dicatat pada hari pindah atau sesudahnya"),
        );
    }
    let mut tx = platform.store.begin().await?;
    let mut card = lock_active(&mut tx, platform, family_id).await?;
    if to == card.address {
        return Err(
            PopulationError::invalid("to", "the family already lives at this address")
                .id("keluarga sudah tinggal di alamat ini"),
        );
    }
    let current = current_members(&mut tx, family_id).await?;
    let Some((head_id, _)) = current.iter().find(|(_, r)| *r == Relationship::KepalaKeluarga) else {
        return Err(PopulationError::conflict(
            "the card has no head: name one before the family moves",
            "KK ini belum memiliki kepala keluarga: tunjuk dulu sebelum keluarga pindah",
        ));
    };
    let from = card.address.clone();
    let mut members = Vec::with_capacity(current.len());
    let (mut head_name, mut head_nik) = (String::new(), String::new());
    for (id, relationship) in &current {
        let mut loaded = residents::load(&mut tx, platform, id).await?;
        if id == head_id {
            head_name = loaded.resident.fields.full_name.clone();
            head_nik = loaded.resident.fields.nik.clone();
        }
        members.push(LetterMember {
            nik: loaded.resident.fields.nik.clone(),
            full_name: loaded.resident.fields.full_name.clone(),
            relationship: *relationship,
        });
        if Address::of(&loaded.resident.fields) != to {
            residents::relocate(&mut tx, platform, &mut loaded, &to, actor).await?;
        }
    }
    let serial = next_serial(&mut tx, &format!("letter:{}:{today}", from.district)).await?;
    let letter = MoveLetter {
        id: uuid::Uuid::now_v7().hyphenated().to_string(),
        number: format!("SKPWNI/{}/{today}/{serial:04}", from.district),
        family_id: card.id.clone(),
        kk_number: card.kk_number.clone(),
        head_name,
        head_nik,
        from_place: address_place(&from),
        to_place: address_place(&to),
        classification: Classification::between(&from, &to),
        from: from.clone(),
        to: to.clone(),
        reason: input.reason,
        moved_on: input.moved_on.trim().to_owned(),
        members,
        issued_at_ms: warga_core::time::now_ms(),
    };
    let json = serde_json::to_vec(&letter).map_err(PopulationError::corrupt)?;
    let sealed = platform
        .vault
        .seal(&json, &format!("family-move:{}", letter.id))
        .await?;
    sqlx::query(
        "INSERT INTO population_family_moves (id, family_id, number, key_id, sealed, from_district, to_district, moved_on, \
         recorded_at_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(&letter.id)
    .bind(&card.id)
    .bind(&letter.number)
    .bind(&sealed.key_id)
    .bind(&sealed.ciphertext)
    .bind(&from.district)
    .bind(&to.district)
    .bind(&letter.moved_on)
    .bind(letter.issued_at_ms)
    .execute(tx.conn())
    .await
    .map_err(StoreError::from)?;
    card.address = to;
    store_card(&mut tx, platform, &card, false).await?;
    tx.append_event(&FamilyMoved {
        family_id: card.id.clone(),
        from: Place::of(&from.district),
        to: Place::of(&card.address.district),
        members: current.len() as i64,
        letter: Some(letter.id.clone()),
    })
    .await?;
    audit(
        &mut tx,
        actor,
        "population.family.move",
        &card.id,
        serde_json::json!({ "from": from.district, "to": card.address.district, "letter": letter.number,
                            "reason": input.reason.code() }),
    )
    .await?;
    tx.commit().await?;
    Ok(letter)
}

/// "Village, District, Regency, Province" of an address.
pub fn address_place(address: &Address) -> String {
    let village = REGIONS.village(&address.village).unwrap_or(&address.village);
    format!("{village}, {}", REGIONS.place_name(&address.district))
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

// ---------------------------------------------------------------------------------------
// Reading

async fn read_card(platform: &Platform, family_id: &str) -> Result<Card, PopulationError> {
    let mut tx = platform.store.begin().await?;
    let card = load_card(&mut tx, platform, family_id, false).await;
    tx.rollback().await?;
    card
}

/// A family card with its members, former members and moves.
pub async fn read(platform: &Platform, family_id: &str) -> Result<Family, PopulationError> {
    let mut tx = platform.store.begin().await?;
    let card = load_card(&mut tx, platform, family_id, false).await?;
    let rows = sqlx::query(
        "SELECT resident_id, relationship, joined_at_ms, joined_reason, left_at_ms, left_reason \
         FROM population_family_members WHERE family_id = $1 ORDER BY joined_at_ms, resident_id",
    )
    .bind(family_id)
    .fetch_all(tx.conn())
    .await
    .map_err(StoreError::from)?;
    let mut members = Vec::new();
    let mut former_members = Vec::new();
    for row in rows {
        let resident_id: String = row.get(0);
        let loaded = residents::load(&mut tx, platform, &resident_id).await?;
        let fields = loaded.resident.fields;
        let left_reason: Option<String> = row.get(5);
        let member = Member {
            resident_id,
            nik: fields.nik,
            full_name: fields.full_name,
            sex: fields.sex,
            birth_place: fields.birth_place,
            birth_date: fields.birth_date,
            relationship: relationship(&row.get::<String, _>(1))?,
            joined_at_ms: row.get(2),
            joined_reason: reason(&row.get::<String, _>(3))?,
            left_at_ms: row.get(4),
            left_reason: left_reason.as_deref().map(reason).transpose()?,
        };
        if member.left_at_ms.is_none() {
            members.push(member);
        } else {
            former_members.push(member);
        }
    }
    members.sort_by_key(|m| m.relationship != Relationship::KepalaKeluarga);
    former_members.sort_by_key(|m| std::cmp::Reverse(m.left_at_ms));
    let moves = sqlx::query(
        "SELECT id, number, moved_on, from_district, to_district, recorded_at_ms FROM population_family_moves \
         WHERE family_id = $1 ORDER BY recorded_at_ms DESC",
    )
    .bind(family_id)
    .fetch_all(tx.conn())
    .await
    .map_err(StoreError::from)?
    .iter()
    .map(|row| MoveSummary {
        id: row.get(0),
        number: row.get(1),
        moved_on: row.get(2),
        from_district: row.get(3),
        to_district: row.get(4),
        recorded_at_ms: row.get(5),
    })
    .collect();
    tx.rollback().await?;
    Ok(Family {
        head: members
            .iter()
            .find(|m| m.relationship == Relationship::KepalaKeluarga)
            .map(|m| m.resident_id.clone()),
        place: address_place(&card.address),
        id: card.id,
        kk_number: card.kk_number,
        address: card.address,
        status: card.status,
        members,
        former_members,
        moves,
        created_at_ms: card.created_at_ms,
    })
}

/// The card with this number, if any.
pub async fn by_number(platform: &Platform, number: &str) -> Result<Option<Family>, PopulationError> {
    let kk_index = platform.vault.index(&format!("kk:{}", number.trim())).await?;
    let row = sqlx::query("SELECT id FROM population_families WHERE kk_index = $1")
        .bind(kk_index)
        .fetch_optional(platform.store.reader())
        .await
        .map_err(StoreError::from)?;
    match row {
        None => Ok(None),
        Some(row) => Ok(Some(read(platform, &row.get::<String, _>(0)).await?)),
    }
}

/// The letter of one of a family's moves.
pub async fn letter(platform: &Platform, family_id: &str, move_id: &str) -> Result<MoveLetter, PopulationError> {
    let row = sqlx::query("SELECT key_id, sealed FROM population_family_moves WHERE id = $1 AND family_id = $2")
        .bind(move_id)
        .bind(family_id)
        .fetch_optional(platform.store.reader())
        .await
        .map_err(StoreError::from)?
        .ok_or_else(|| PopulationError::NotFound(format!("no move {move_id} of family card {family_id}")))?;
    let sealed = warga_auth::Sealed {
        key_id: row.get(0),
        ciphertext: row.get(1),
    };
    let json = platform.vault.open(&sealed, &format!("family-move:{move_id}")).await?;
    serde_json::from_slice(&json).map_err(PopulationError::corrupt)
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

/// Whether `resident_id` is a current member of the card (a citizen reading their family).
pub async fn is_member(platform: &Platform, family_id: &str, resident_id: &str) -> Result<bool, PopulationError> {
    let row = sqlx::query(
        "SELECT 1 FROM population_family_members WHERE family_id = $1 AND resident_id = $2 AND left_at_ms IS NULL",
    )
    .bind(family_id)
    .bind(resident_id)
    .fetch_optional(platform.store.reader())
    .await
    .map_err(StoreError::from)?;
    Ok(row.is_some())
}

/// Records that `actor` read a family card, and why (UU PDP 27/2022).
pub async fn audit_read(
    platform: &Platform,
    actor: &str,
    family_id: &str,
    purpose: &str,
) -> Result<(), PopulationError> {
    residents::audit_personal_read(
        platform,
        actor,
        "population.family.read",
        &format!("family:{family_id}"),
        purpose,
    )
    .await
}

// ---------------------------------------------------------------------------------------
// Household statistics

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

async fn count(tx: &mut Tx, place: &Place, households: i64, members: i64) -> Result<(), sqlx::Error> {
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
    fn kk_numbers_are_checked_like_niks() {
        let regions = &*REGIONS;
        let ok = parse_number("3171071203150001", regions).unwrap();
        assert_eq!(ok.district, "317107");
        assert!(ok.current.is_none());
        assert_eq!(parse_number("317107120315000", regions), Err(KkNumberError::Format));
        assert_eq!(parse_number("31710712031500a1", regions), Err(KkNumberError::Format));
        assert_eq!(
            parse_number("9971071203150001", regions),
            Err(KkNumberError::UnknownProvince("99".into()))
        );
        assert_eq!(
            parse_number("3199071203150001", regions),
            Err(KkNumberError::UnknownRegency("3199".into()))
        );
        assert_eq!(
            parse_number("3171991203150001", regions),
            Err(KkNumberError::UnknownDistrict("317199".into()))
        );
        // No day +40 on a KK: it is a date of issue, not a birth date.
        assert_eq!(parse_number("3171075203150001", regions), Err(KkNumberError::IssueDate));
        assert_eq!(parse_number("3171073102150001", regions), Err(KkNumberError::IssueDate));
        assert_eq!(parse_number("3171071203150000", regions), Err(KkNumberError::Serial));
        // Issued in Kurulu, Papua, before the 2022 split: accepted, and where it is today.
        let former = parse_number("9102031203150001", regions).unwrap();
        assert_eq!(former.current.unwrap().district.as_deref(), Some("950102"));
    }

    #[test]
    fn every_relationship_and_reason_reads_back_from_its_code() {
        for r in Relationship::ALL {
            assert_eq!(Relationship::from_code(r.code()), Some(r));
            let json = serde_json::to_value(r).unwrap();
            assert_eq!(json, r.code());
        }
        for r in Reason::ALL {
            assert_eq!(Reason::from_code(r.code()), Some(r));
            assert_eq!(serde_json::to_value(r).unwrap(), r.code());
        }
        for r in MoveReason::ALL {
            assert_eq!(MoveReason::from_code(r.code()), Some(r));
            assert_eq!(serde_json::to_value(r).unwrap(), r.code());
        }
    }
}
