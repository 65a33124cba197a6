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
//!
//! This module holds the operations and what they answer; `cards` the storage, events and
//! household counts beneath them; `crate::kk` the number's rules.

pub(crate) mod cards;

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};
use sqlx::Row;
use warga_http::Platform;
use warga_store::{StoreError, Tx};

use crate::error::PopulationError;
use crate::nik::{Date, Sex};
use crate::regions::REGIONS;
use crate::residents::{self, Address, Loaded, Place};

pub use crate::kk::{KkNumber, KkNumberError, parse_number};
use cards::{
    Card, audit, card_district, card_number, current_card_of, current_members, join, leave, load_card, lock_active,
    next_serial, reason, relationship, set_relationship, store_card, today_wib,
};
pub use cards::{
    FamilyClosed, FamilyCreated, FamilyHeadChanged, FamilyMemberJoined, FamilyMemberLeft, FamilyMoved,
    HouseholdCounter, Membership, Reason, Relationship,
};

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
        .ok_or_else(|| {
            PopulationError::not_found(
                format!("no move {move_id} of family card {family_id}"),
                format!("tidak ada kepindahan {move_id} dari kartu keluarga {family_id}"),
            )
        })?;
    let sealed = warga_auth::Sealed {
        key_id: row.get(0),
        ciphertext: row.get(1),
    };
    let json = platform.vault.open(&sealed, &format!("family-move:{move_id}")).await?;
    serde_json::from_slice(&json).map_err(PopulationError::corrupt)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_move_reason_reads_back_from_its_code() {
        for r in MoveReason::ALL {
            assert_eq!(MoveReason::from_code(r.code()), Some(r));
            assert_eq!(serde_json::to_value(r).unwrap(), r.code());
        }
    }
}
