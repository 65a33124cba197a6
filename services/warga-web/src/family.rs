//! Screens of the family card (Kartu Keluarga) for registry officers: a card made from a
//! resident's record, its members and their history, adding a member by NIK or a newborn
//! (registered and added at once, at the card's address), splitting members
//! off to a card of their own, naming a new head, moving the whole family, and the printable
//! letter of that move. Each calls the population library directly, with its checks, audit
//! records and events.

use std::collections::HashMap;

use askama::Template;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde::Deserialize;
use warga_core::time::format_wib;
use warga_http::{ApiError, Platform};
use warga_population::family::{self, MoveReason, Reason, Relationship};
use warga_population::residents;

use crate::i18n::Lang;
use crate::population::{
    Choice, RELIGIONS, RegionPicker, address_picker, field_error, field_errors, fixed_choices, require_registrar,
    sex_label,
};
use crate::{Context, Layout, Session, Stop, context, csrf_matches, message, page, see_other};

/// The purpose recorded when a card is shown on the registry's screen.
const SCREEN_PURPOSE: &str = "pelayanan Dukcapil: kartu keluarga di layar petugas";

fn actor(session: &Session) -> String {
    format!("user:{}", session.account.id)
}

fn relationship_label(context: &Context, r: Relationship) -> &'static str {
    if context.lang == Lang::En {
        r.label_en()
    } else {
        r.label_id()
    }
}

fn reason_label(context: &Context, r: Reason) -> &'static str {
    if context.lang == Lang::En {
        r.label_en()
    } else {
        r.label_id()
    }
}

/// The relationships a member other than the head can have.
fn relationship_choices(context: &Context, selected: &str) -> Vec<Choice> {
    Relationship::ALL
        .into_iter()
        .filter(|r| *r != Relationship::KepalaKeluarga)
        .map(|r| Choice {
            value: r.code().to_owned(),
            label: relationship_label(context, r).to_owned(),
            selected: r.code() == selected,
        })
        .collect()
}

fn reason_choices(context: &Context, reasons: &[Reason], selected: &str) -> Vec<Choice> {
    reasons
        .iter()
        .map(|r| Choice {
            value: r.code().to_owned(),
            label: reason_label(context, *r).to_owned(),
            selected: r.code() == selected,
        })
        .collect()
}

fn move_reason_choices(selected: &str) -> Vec<Choice> {
    MoveReason::ALL
        .into_iter()
        .map(|r| Choice {
            value: r.code().to_owned(),
            label: r.label_id().to_owned(),
            selected: r.code() == selected,
        })
        .collect()
}

// ---------------------------------------------------------------------------------------
// A new card, from a resident's record

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct NewCardForm {
    csrf: String,
    head: String,
    kk_number: String,
}

/// Makes a card with the resident as its head (and the number they bring, if any).
pub async fn create(
    State(platform): State<Platform>,
    headers: HeaderMap,
    Form(form): Form<NewCardForm>,
) -> Result<Response, Stop> {
    let context = context(&platform, &headers, &HashMap::new()).await?;
    let session = require_registrar(&context)?;
    if !csrf_matches(session, &form.csrf) {
        return Ok(message(&context, StatusCode::BAD_REQUEST, context.t("error.form")));
    }
    let new = family::NewFamily {
        kk_number: Some(form.kk_number.clone()).filter(|n| !n.trim().is_empty()),
        head: form.head.clone(),
        members: Vec::new(),
        address: None,
    };
    match family::create(&platform, &new, &actor(session))
        .await
        .map_err(ApiError::from)
    {
        Ok(card) => Ok(see_other(&format!("/kk/{}?m=created", card.id))),
        Err(error) => {
            let status = status_of(&error);
            let (_, text) = field_error(&context, error)?;
            Ok(message(
                &context,
                status,
                format!("{}: {text}", context.t("family.refused")),
            ))
        }
    }
}

fn status_of(error: &ApiError) -> StatusCode {
    match error {
        ApiError::Conflict(_) => StatusCode::CONFLICT,
        ApiError::NotFound(_) => StatusCode::NOT_FOUND,
        _ => StatusCode::BAD_REQUEST,
    }
}

// ---------------------------------------------------------------------------------------
// The card

pub struct MemberRow {
    id: String,
    name: String,
    nik: String,
    relationship: &'static str,
    sex: &'static str,
    born: String,
    joined: String,
    left: String,
}

pub struct MoveRow {
    id: String,
    number: String,
    moved_on: String,
    to: String,
}

/// The newborn form's fields, each with its error beside it.
const NEWBORN_FIELDS: [&str; 7] = [
    "nik",
    "full_name",
    "birth_place",
    "birth_date",
    "sex",
    "religion",
    "relationship",
];

/// A refusal shown on the card page: which form, which field, and why.
#[derive(Default)]
struct Refusal {
    form: &'static str,
    /// Every refused field (an empty field is about the whole form) and why.
    errors: Vec<(String, String)>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct MoveForm {
    csrf: String,
    action: String,
    address: String,
    rt_rw: String,
    village: String,
    postal_code: String,
    province: String,
    regency: String,
    district: String,
    moved_on: String,
    reason: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct NewbornForm {
    csrf: String,
    nik: String,
    full_name: String,
    birth_place: String,
    birth_date: String,
    sex: String,
    religion: String,
    relationship: String,
}

/// What the card page's forms show again after a refusal.
#[derive(Default)]
struct Filled {
    move_form: MoveForm,
    newborn: NewbornForm,
}

#[derive(Template)]
#[template(path = "family.html")]
struct FamilyPage {
    layout: Layout,
    id: String,
    kk_number: String,
    address: String,
    place: String,
    active: bool,
    has_head: bool,
    members: Vec<MemberRow>,
    former: Vec<MemberRow>,
    moves: Vec<MoveRow>,
    notice: Option<&'static str>,
    relationships: Vec<Choice>,
    join_reasons: Vec<Choice>,
    split_reasons: Vec<Choice>,
    move_reasons: Vec<Choice>,
    move_form: MoveForm,
    newborn: NewbornForm,
    newborn_relationships: Vec<Choice>,
    religions: Vec<Choice>,
    regions: RegionPicker,
    error_form: &'static str,
    /// The first refusal of `error_form`.
    error_field: String,
    error_text: String,
    errors: Vec<(String, String)>,
    /// The region picker's error (district or village of the move), for its macro.
    picker_field: String,
    picker_text: String,
}

impl FamilyPage {
    fn invalid(&self, form: &str, field: &str) -> bool {
        self.error_for(form, field).is_some()
    }

    /// Whether the move form shows `field`'s error beside the field itself.
    fn on_move_form(&self, field: &str) -> bool {
        ["address", "rt_rw", "district", "village", "postal_code", "moved_on"].contains(&field)
    }

    /// Whether the newborn form shows `field`'s error beside the field itself.
    fn on_newborn_form(&self, field: &str) -> bool {
        NEWBORN_FIELDS.contains(&field)
    }

    fn error_for(&self, form: &str, field: &str) -> Option<&str> {
        (self.error_form == form)
            .then(|| {
                self.errors
                    .iter()
                    .find(|(name, _)| name == field)
                    .map(|(_, text)| text.as_str())
            })
            .flatten()
    }
}

async fn family_page(
    platform: &Platform,
    context: &Context,
    id: &str,
    notice: Option<&'static str>,
    filled: Filled,
    refusal: Refusal,
    status: StatusCode,
) -> Result<Response, Stop> {
    let Filled { move_form, newborn } = filled;
    let card = match family::read(platform, id).await.map_err(ApiError::from) {
        Ok(card) => card,
        Err(ApiError::NotFound(_)) => return Ok(message(context, StatusCode::NOT_FOUND, context.t("error.not_found"))),
        Err(other) => return Err(other.into()),
    };
    let row = |m: family::Member| MemberRow {
        relationship: relationship_label(context, m.relationship),
        sex: sex_label(context, m.sex),
        born: format!("{}, {}", m.birth_place, m.birth_date),
        joined: format!(
            "{} ({})",
            format_wib(m.joined_at_ms),
            reason_label(context, m.joined_reason)
        ),
        left: match (m.left_at_ms, m.left_reason) {
            (Some(at), Some(why)) => format!("{} ({})", format_wib(at), reason_label(context, why)),
            _ => String::new(),
        },
        id: m.resident_id,
        name: m.full_name,
        nik: m.nik,
    };
    let (picker_field, picker_text) = refusal
        .errors
        .iter()
        .find(|(field, _)| refusal.form == "move" && (field == "district" || field == "village"))
        .cloned()
        .unwrap_or_default();
    let (error_field, error_text) = refusal.errors.first().cloned().unwrap_or_default();
    let template = FamilyPage {
        layout: context.layout(),
        kk_number: card.kk_number,
        address: format!("{}, RT/RW {}", card.address.address, card.address.rt_rw),
        place: card.place,
        active: card.status == "active",
        has_head: card.head.is_some(),
        members: card.members.into_iter().map(row).collect(),
        former: card.former_members.into_iter().map(row).collect(),
        moves: card
            .moves
            .into_iter()
            .map(|m| MoveRow {
                to: warga_population::search::place_name(&m.to_district),
                id: m.id,
                number: m.number,
                moved_on: m.moved_on,
            })
            .collect(),
        notice,
        relationships: relationship_choices(context, ""),
        join_reasons: reason_choices(
            context,
            &[
                Reason::PindahDatang,
                Reason::Perkawinan,
                Reason::Kelahiran,
                Reason::Lainnya,
            ],
            "",
        ),
        split_reasons: reason_choices(context, &[Reason::PisahKk, Reason::Perkawinan, Reason::Lainnya], ""),
        move_reasons: move_reason_choices(&move_form.reason),
        newborn_relationships: relationship_choices(
            context,
            if newborn.relationship.is_empty() {
                Relationship::Anak.code()
            } else {
                &newborn.relationship
            },
        ),
        religions: fixed_choices(RELIGIONS, &newborn.religion),
        newborn,
        regions: address_picker(
            &move_form.province,
            &move_form.regency,
            &move_form.district,
            &move_form.village,
        ),
        move_form,
        error_form: refusal.form,
        error_field,
        error_text,
        errors: refusal.errors,
        picker_field,
        picker_text,
        id: card.id,
    };
    Ok(page(context, &template, status))
}

pub async fn show(
    State(platform): State<Platform>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, Stop> {
    let context = context(&platform, &headers, &query).await?;
    let session = require_registrar(&context)?;
    let notice = match query.get("m").map(String::as_str) {
        Some("created") => Some(context.t("family.created")),
        Some("added") => Some(context.t("family.added")),
        Some("head") => Some(context.t("family.head_changed")),
        Some("split") => Some(context.t("family.split_done")),
        Some("born") => Some(context.t("family.born")),
        _ => None,
    };
    let shown = family_page(
        &platform,
        &context,
        &id,
        notice,
        Filled::default(),
        Refusal::default(),
        StatusCode::OK,
    )
    .await?;
    if shown.status() == StatusCode::OK {
        family::audit_read(&platform, &actor(session), &id, SCREEN_PURPOSE)
            .await
            .map_err(ApiError::from)?;
    }
    Ok(shown)
}

/// Shows the card again with a refusal of one of its forms.
async fn refused(
    platform: &Platform,
    context: &Context,
    id: &str,
    form: &'static str,
    error: ApiError,
    filled: Filled,
) -> Result<Response, Stop> {
    if let ApiError::NotFound(_) = error {
        return Ok(message(context, StatusCode::NOT_FOUND, context.t("error.not_found")));
    }
    let status = status_of(&error);
    let errors = field_errors(context, error)?
        .into_iter()
        .map(|(field, text)| (field.strip_prefix("to.").map(str::to_owned).unwrap_or(field), text))
        .collect();
    family_page(platform, context, id, None, filled, Refusal { form, errors }, status).await
}

/// The refusal with its field named as the form names it (`rename` gives the form's field for
/// the library's, or `None` to keep it).
fn on_form_field(error: ApiError, rename: impl Fn(&str) -> Option<&'static str>) -> ApiError {
    match error {
        ApiError::Validation {
            field,
            detail,
            detail_id,
        } => ApiError::Validation {
            field: rename(&field).map_or(field, str::to_owned),
            detail,
            detail_id,
        },
        other => other,
    }
}

fn form_expired(context: &Context) -> ApiError {
    ApiError::validation("", context.t("error.form"))
}

// ---------------------------------------------------------------------------------------
// Adding a member by NIK

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct AddForm {
    csrf: String,
    nik: String,
    relationship: String,
    reason: String,
}

pub async fn add_member(
    State(platform): State<Platform>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(form): Form<AddForm>,
) -> Result<Response, Stop> {
    let context = context(&platform, &headers, &HashMap::new()).await?;
    let session = require_registrar(&context)?;
    if !csrf_matches(session, &form.csrf) {
        return refused(
            &platform,
            &context,
            &id,
            "add",
            form_expired(&context),
            Filled::default(),
        )
        .await;
    }
    let (Some(relationship), Some(reason)) = (
        Relationship::from_code(&form.relationship),
        Reason::from_code(&form.reason),
    ) else {
        let error = ApiError::validation("relationship", context.t("error.choose"));
        return refused(&platform, &context, &id, "add", error, Filled::default()).await;
    };
    let resident = match residents::by_nik(&platform, &form.nik).await.map_err(ApiError::from)? {
        Some(resident) => resident,
        None => {
            let error = ApiError::validation("nik", context.t("residents.no_nik"));
            return refused(&platform, &context, &id, "add", error, Filled::default()).await;
        }
    };
    residents::audit_read(
        &platform,
        &actor(session),
        &resident.id,
        "penambahan anggota kartu keluarga",
    )
    .await
    .map_err(ApiError::from)?;
    let input = family::AddMember {
        relationship,
        reason,
        resident_id: Some(resident.id),
        newborn: None,
    };
    match family::add_member(&platform, &id, &input, &actor(session))
        .await
        .map_err(ApiError::from)
    {
        Ok(_) => Ok(see_other(&format!("/kk/{id}?m=added"))),
        Err(error) => {
            // The form names the resident by NIK.
            let error = on_form_field(error, |field| (field == "resident_id").then_some("nik"));
            refused(&platform, &context, &id, "add", error, Filled::default()).await
        }
    }
}

// ---------------------------------------------------------------------------------------
// A newborn, registered and added at once

/// Registers a newborn at the card's address and adds them (reason: kelahiran) in one
/// transaction; every refused field is shown beside it, the form filled in again.
pub async fn add_newborn(
    State(platform): State<Platform>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(form): Form<NewbornForm>,
) -> Result<Response, Stop> {
    let context = context(&platform, &headers, &HashMap::new()).await?;
    let session = require_registrar(&context)?;
    let again = |form: NewbornForm| Filled {
        newborn: form,
        ..Default::default()
    };
    if !csrf_matches(session, &form.csrf) {
        return refused(&platform, &context, &id, "newborn", form_expired(&context), again(form)).await;
    }
    let mut choose = Vec::new();
    let sex = match form.sex.as_str() {
        "male" => Some(warga_population::nik::Sex::Male),
        "female" => Some(warga_population::nik::Sex::Female),
        _ => {
            choose.push(ApiError::validation("sex", context.t("error.choose")));
            None
        }
    };
    let relationship = Relationship::from_code(&form.relationship).filter(|r| *r != Relationship::KepalaKeluarga);
    if relationship.is_none() {
        choose.push(ApiError::validation("relationship", context.t("error.choose")));
    }
    let (Some(sex), Some(relationship)) = (sex, relationship) else {
        return refused(
            &platform,
            &context,
            &id,
            "newborn",
            ApiError::Fields(choose),
            again(form),
        )
        .await;
    };
    let input = family::AddMember {
        relationship,
        reason: Reason::Kelahiran,
        resident_id: None,
        newborn: Some(family::Newborn {
            nik: form.nik.clone(),
            full_name: form.full_name.clone(),
            birth_place: form.birth_place.clone(),
            birth_date: form.birth_date.clone(),
            sex,
            religion: form.religion.clone(),
        }),
    };
    match family::add_member(&platform, &id, &input, &actor(session))
        .await
        .map_err(ApiError::from)
    {
        Ok(_) => Ok(see_other(&format!("/kk/{id}?m=born"))),
        Err(error) => refused(&platform, &context, &id, "newborn", error, again(form)).await,
    }
}

// ---------------------------------------------------------------------------------------
// Splitting members off

/// Splits the ticked members off to a new card. The form's fields: `leave` (a resident id,
/// once per ticked member), `new_head`, `rel_<resident id>` (the relationship on the new
/// card), `reason`, `remaining_head`.
pub async fn split(
    State(platform): State<Platform>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Result<Response, Stop> {
    let context = context(&platform, &headers, &HashMap::new()).await?;
    let session = require_registrar(&context)?;
    let value = |name: &str| {
        pairs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    if !csrf_matches(session, &value("csrf")) {
        return refused(
            &platform,
            &context,
            &id,
            "split",
            form_expired(&context),
            Filled::default(),
        )
        .await;
    }
    let new_head = value("new_head");
    let mut leaving: Vec<String> = pairs
        .iter()
        .filter(|(k, _)| k == "leave")
        .map(|(_, v)| v.clone())
        .collect();
    if !new_head.is_empty() && !leaving.contains(&new_head) {
        leaving.push(new_head.clone());
    }
    let mut members = Vec::with_capacity(leaving.len());
    for resident in &leaving {
        let relationship = if *resident == new_head {
            Some(Relationship::KepalaKeluarga)
        } else {
            Relationship::from_code(&value(&format!("rel_{resident}")))
        };
        let Some(relationship) = relationship.filter(|r| *resident == new_head || *r != Relationship::KepalaKeluarga)
        else {
            let error = ApiError::validation("members", context.t("family.split_relationship"));
            return refused(&platform, &context, &id, "split", error, Filled::default()).await;
        };
        members.push(family::NewMember {
            resident_id: resident.clone(),
            relationship,
        });
    }
    let Some(reason) = Reason::from_code(&value("reason")) else {
        let error = ApiError::validation("reason", context.t("error.choose"));
        return refused(&platform, &context, &id, "split", error, Filled::default()).await;
    };
    let input = family::Split {
        members,
        reason,
        kk_number: None,
        address: None,
        remaining_head: Some(value("remaining_head")).filter(|v| !v.is_empty()),
    };
    match family::split(&platform, &id, &input, &actor(session))
        .await
        .map_err(ApiError::from)
    {
        Ok(card) => Ok(see_other(&format!("/kk/{}?m=split", card.id))),
        Err(error) => {
            let error = on_form_field(error, |field| field.starts_with("members[").then_some("members"));
            refused(&platform, &context, &id, "split", error, Filled::default()).await
        }
    }
}

// ---------------------------------------------------------------------------------------
// A new head

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct HeadForm {
    csrf: String,
    head: String,
    former_becomes: String,
}

pub async fn change_head(
    State(platform): State<Platform>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(form): Form<HeadForm>,
) -> Result<Response, Stop> {
    let context = context(&platform, &headers, &HashMap::new()).await?;
    let session = require_registrar(&context)?;
    if !csrf_matches(session, &form.csrf) {
        return refused(
            &platform,
            &context,
            &id,
            "head",
            form_expired(&context),
            Filled::default(),
        )
        .await;
    }
    let input = family::NewHead {
        resident_id: form.head.clone(),
        former_head_becomes: Relationship::from_code(&form.former_becomes),
    };
    match family::change_head(&platform, &id, &input, &actor(session))
        .await
        .map_err(ApiError::from)
    {
        Ok(_) => Ok(see_other(&format!("/kk/{id}?m=head"))),
        Err(error) => {
            let error = on_form_field(error, |field| {
                Some(if field == "resident_id" {
                    "head"
                } else {
                    "former_becomes"
                })
            });
            refused(&platform, &context, &id, "head", error, Filled::default()).await
        }
    }
}

// ---------------------------------------------------------------------------------------
// The whole family moves

pub async fn move_family(
    State(platform): State<Platform>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(form): Form<MoveForm>,
) -> Result<Response, Stop> {
    let context = context(&platform, &headers, &HashMap::new()).await?;
    let session = require_registrar(&context)?;
    if !csrf_matches(session, &form.csrf) {
        return refused(
            &platform,
            &context,
            &id,
            "move",
            form_expired(&context),
            Filled {
                move_form: form,
                ..Default::default()
            },
        )
        .await;
    }
    if form.action == "pick" {
        let filled = Filled {
            move_form: form,
            ..Default::default()
        };
        return family_page(
            &platform,
            &context,
            &id,
            None,
            filled,
            Refusal::default(),
            StatusCode::OK,
        )
        .await;
    }
    let Some(reason) = MoveReason::from_code(&form.reason) else {
        let error = ApiError::validation("reason", context.t("error.choose"));
        return refused(
            &platform,
            &context,
            &id,
            "move",
            error,
            Filled {
                move_form: form,
                ..Default::default()
            },
        )
        .await;
    };
    let input = family::FamilyMove {
        to: residents::Address {
            address: form.address.clone(),
            rt_rw: form.rt_rw.clone(),
            village: form.village.clone(),
            district: form.district.clone(),
            postal_code: Some(form.postal_code.clone()),
        },
        moved_on: form.moved_on.clone(),
        reason,
    };
    match family::move_family(&platform, &id, &input, &actor(session))
        .await
        .map_err(ApiError::from)
    {
        Ok(letter) => Ok(see_other(&format!("/kk/{id}/pindah/{}", letter.id))),
        Err(error) => {
            refused(
                &platform,
                &context,
                &id,
                "move",
                error,
                Filled {
                    move_form: form,
                    ..Default::default()
                },
            )
            .await
        }
    }
}

#[derive(Template)]
#[template(path = "family_letter.html")]
struct LetterPage {
    layout: Layout,
    letter: family::MoveLetter,
    classification: &'static str,
    reason: &'static str,
    members: Vec<(String, String, &'static str)>,
    issued_at: String,
}

/// The letter of a family's move, laid out to print.
pub async fn letter(
    State(platform): State<Platform>,
    headers: HeaderMap,
    Path((id, move_id)): Path<(String, String)>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, Stop> {
    let context = context(&platform, &headers, &query).await?;
    let session = require_registrar(&context)?;
    let letter = match family::letter(&platform, &id, &move_id).await.map_err(ApiError::from) {
        Ok(letter) => letter,
        Err(ApiError::NotFound(_)) => {
            return Ok(message(&context, StatusCode::NOT_FOUND, context.t("error.not_found")));
        }
        Err(other) => return Err(other.into()),
    };
    family::audit_read(&platform, &actor(session), &id, "surat keterangan pindah: cetak")
        .await
        .map_err(ApiError::from)?;
    let template = LetterPage {
        layout: context.layout(),
        classification: letter.classification.label_id(),
        reason: letter.reason.label_id(),
        members: letter
            .members
            .iter()
            .map(|m| (m.nik.clone(), m.full_name.clone(), m.relationship.label_id()))
            .collect(),
        issued_at: format_wib(letter.issued_at_ms),
        letter,
    };
    Ok(page(&context, &template, StatusCode::OK))
}
