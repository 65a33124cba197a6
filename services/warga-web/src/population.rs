//! Screens of the population registry: search, registration with region pickers and NIK
//! checks, a resident's record with moves and death, link requests of citizens, the
//! statistics dashboard (server-rendered SVG) and the SMS outbox.
//!
//! Without client script, region pickers cascade through the server: "Muat wilayah" posts
//! the form, which comes back with every typed value kept and the next list filled in.
//! "Periksa NIK" checks the NIK the same way and fills birth date, sex and region from it.
//! Every screen calls the population library directly, with the same checks, audit records
//! and events as its HTTP API.

use std::collections::HashMap;

use askama::Template;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde::Deserialize;
use warga_core::identity::Role;
use warga_core::time::format_wib;
use warga_http::{ApiError, Platform};
use warga_population::nik::{self, Sex};
use warga_population::regions::REGIONS;
use warga_population::{links, notify, residents, search};

use crate::{Context, Layout, Session, Stop, context, csrf_matches, message, page, see_other};

/// The purpose recorded for a search from the registry's screen.
const SEARCH_PURPOSE: &str = "pelayanan Dukcapil: pencarian penduduk di layar petugas";

/// Who sees population statistics (no personal data).
const STATS_READERS: &[Role] = &[Role::Admin, Role::Officer, Role::RegistryOfficer];
const REGISTRARS: &[Role] = &[Role::RegistryOfficer];

/// The session if it holds one of `roles`, or the response for anyone else.
fn require<'a>(context: &'a Context, roles: &[Role]) -> Result<&'a Session, Stop> {
    match &context.session {
        None => Err(Stop::Page(Box::new(see_other("/masuk")))),
        Some(session) if roles.iter().any(|r| session.account.roles.contains(r)) => Ok(session),
        Some(_) => Err(Stop::Page(Box::new(message(
            context,
            StatusCode::FORBIDDEN,
            context.t("error.role"),
        )))),
    }
}

/// The session of a registry officer, or the response for anyone else.
pub(crate) fn require_registrar(context: &Context) -> Result<&Session, Stop> {
    require(context, REGISTRARS)
}

fn actor(session: &Session) -> String {
    format!("user:{}", session.account.id)
}

/// An option of a select.
pub struct Choice {
    pub(crate) value: String,
    pub(crate) label: String,
    pub(crate) selected: bool,
}

fn choices(list: Vec<warga_population::regions::Region>, selected: &str) -> Vec<Choice> {
    list.into_iter()
        .map(|r| Choice {
            selected: r.code == selected,
            label: format!("{} — {}", r.name, r.code),
            value: r.code,
        })
        .collect()
}

pub(crate) fn fixed_choices(values: &[&str], selected: &str) -> Vec<Choice> {
    values
        .iter()
        .map(|v| Choice {
            value: (*v).to_owned(),
            label: (*v).to_owned(),
            selected: *v == selected,
        })
        .collect()
}

/// The cascading region lists for a form: province, regency, district and — for an address —
/// village.
pub struct RegionPicker {
    pub(crate) provinces: Vec<Choice>,
    pub(crate) regencies: Vec<Choice>,
    pub(crate) districts: Vec<Choice>,
    pub(crate) with_villages: bool,
    pub(crate) villages: Vec<Choice>,
}

pub(crate) fn picker(province: &str, regency: &str, district: &str) -> RegionPicker {
    let regency_ok = regency.len() == 4 && regency.starts_with(province) && !province.is_empty();
    let district_ok = district.len() == 6 && district.starts_with(regency) && regency_ok;
    RegionPicker {
        provinces: choices(REGIONS.provinces(), province),
        regencies: if REGIONS.province(province).is_some() {
            choices(REGIONS.regencies_of(province), if regency_ok { regency } else { "" })
        } else {
            Vec::new()
        },
        districts: if regency_ok {
            choices(REGIONS.districts_of(regency), if district_ok { district } else { "" })
        } else {
            Vec::new()
        },
        with_villages: false,
        villages: Vec::new(),
    }
}

/// The picker of an address, down to its village (desa or kelurahan).
pub(crate) fn address_picker(province: &str, regency: &str, district: &str, village: &str) -> RegionPicker {
    let mut regions = picker(province, regency, district);
    regions.with_villages = true;
    if regions.districts.iter().any(|d| d.selected) {
        regions.villages = choices(REGIONS.villages_of(district), village);
    }
    regions
}

/// A village's name from its code; an address registered before villages were coded holds
/// the name itself.
fn village_name(village: &str) -> &str {
    REGIONS.village(village).unwrap_or(village)
}

/// The field a refusal names, and its text; other errors are not the user's and propagate.
/// Every field a refusal names, each with its text in the page's language (a form shows
/// them all at once).
pub(crate) fn field_errors(context: &Context, error: ApiError) -> Result<Vec<(String, String)>, ApiError> {
    match error {
        ApiError::Fields(all) => all.into_iter().map(|e| field_error(context, e)).collect(),
        one => Ok(vec![field_error(context, one)?]),
    }
}

/// The field a refusal names and its text in the page's language.
pub(crate) fn field_error(context: &Context, error: ApiError) -> Result<(String, String), ApiError> {
    let english = context.lang == crate::i18n::Lang::En;
    match error {
        ApiError::Validation { ref field, .. } => Ok((field.clone(), error.detail_in(english))),
        ApiError::Rule { field, .. } => Ok((field.to_owned(), error.detail_in(english))),
        ApiError::Conflict(detail) | ApiError::NotFound(detail) => {
            Ok((String::new(), detail.in_lang(english).to_owned()))
        }
        // Forms that show one error show the first.
        ApiError::Fields(all) => match all.into_iter().next() {
            Some(first) => field_error(context, first),
            None => Ok((String::new(), String::new())),
        },
        other => Err(other),
    }
}

pub(crate) fn sex_label(context: &Context, sex: Sex) -> &'static str {
    match sex {
        Sex::Male => context.t("sex.male"),
        Sex::Female => context.t("sex.female"),
    }
}

fn status_label(context: &Context, status: &str) -> &'static str {
    match status {
        "alive" => context.t("status.alive"),
        _ => context.t("status.deceased"),
    }
}

// ---------------------------------------------------------------------------------------
// Search

pub struct Row {
    id: String,
    full_name: String,
    birth_date: String,
    sex: &'static str,
    place: String,
    status: &'static str,
}

impl Row {
    fn of(context: &Context, r: search::ResidentSummary) -> Row {
        Row {
            sex: sex_label(context, r.sex),
            status: status_label(context, &r.status),
            id: r.id,
            full_name: r.full_name,
            birth_date: r.birth_date,
            place: r.place,
        }
    }
}

#[derive(Template)]
#[template(path = "residents.html")]
struct SearchPage {
    layout: Layout,
    name: String,
    provinces: Vec<Choice>,
    searched: bool,
    rows: Vec<Row>,
    next: Option<String>,
    error: Option<String>,
    can_register: bool,
}

pub async fn search_page(
    State(platform): State<Platform>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, Stop> {
    let context = context(&platform, &headers, &query).await?;
    let session = require(&context, REGISTRARS)?;
    let name = query.get("nama").cloned().unwrap_or_default();
    let region = query.get("wilayah").cloned().unwrap_or_default();
    let searched = !name.trim().is_empty() || !region.is_empty();
    let mut page_data = SearchPage {
        layout: context.layout(),
        provinces: choices(REGIONS.provinces(), &region),
        name: name.clone(),
        searched,
        rows: Vec::new(),
        next: None,
        error: None,
        can_register: session.account.roles.contains(&Role::RegistryOfficer),
    };
    let mut status = StatusCode::OK;
    if searched {
        let wanted = search::SearchQuery {
            name: Some(name.clone()).filter(|n| !n.trim().is_empty()),
            region: Some(region.clone()).filter(|r| !r.is_empty()),
            after: query.get("setelah").cloned(),
            limit: Some(25),
            purpose: Some(SEARCH_PURPOSE.into()),
        };
        match search::search(&platform, &wanted).await.map_err(ApiError::from) {
            Ok(found) => {
                warga_store::audit::record_alone(
                    &platform.store,
                    &warga_store::audit::AuditRecord {
                        actor: &actor(session),
                        action: "population.resident.search",
                        target: "residents",
                        outcome: warga_store::audit::Outcome::Success,
                        details: Some(serde_json::json!({
                            "by_name": wanted.name.is_some(), "region": wanted.region, "results": found.residents.len(),
                            "purpose": SEARCH_PURPOSE,
                        })),
                    },
                )
                .await?;
                page_data.rows = found.residents.into_iter().map(|r| Row::of(&context, r)).collect();
                page_data.next = found.next.map(|after| {
                    serde_urlencoded::to_string([
                        ("nama", name.as_str()),
                        ("wilayah", region.as_str()),
                        ("setelah", after.as_str()),
                    ])
                    .unwrap_or_default()
                });
            }
            Err(error) => {
                let (_, text) = field_error(&context, error)?;
                page_data.error = Some(text);
                status = StatusCode::BAD_REQUEST;
            }
        }
    }
    Ok(page(&context, &page_data, status))
}

#[derive(Debug, Deserialize)]
pub struct NikForm {
    csrf: String,
    nik: String,
}

/// Finds a resident by NIK: posted, so the NIK stays out of URLs and access logs.
pub async fn find_by_nik(
    State(platform): State<Platform>,
    headers: HeaderMap,
    Form(form): Form<NikForm>,
) -> Result<Response, Stop> {
    let context = context(&platform, &headers, &HashMap::new()).await?;
    let session = require(&context, REGISTRARS)?;
    if !csrf_matches(session, &form.csrf) {
        return Ok(message(&context, StatusCode::BAD_REQUEST, context.t("error.form")));
    }
    match residents::by_nik(&platform, &form.nik).await? {
        Some(resident) => Ok(see_other(&format!("/penduduk/{}", resident.id))),
        None => Ok(message(&context, StatusCode::NOT_FOUND, context.t("residents.no_nik"))),
    }
}

// ---------------------------------------------------------------------------------------
// Registration

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct ResidentForm {
    csrf: String,
    action: String,
    nik: String,
    full_name: String,
    birth_place: String,
    birth_date: String,
    sex: String,
    address: String,
    rt_rw: String,
    village: String,
    postal_code: String,
    province: String,
    regency: String,
    district: String,
    religion: String,
    marital_status: String,
    occupation: String,
}

pub(crate) const RELIGIONS: &[&str] = &[
    "Islam",
    "Kristen",
    "Katolik",
    "Hindu",
    "Buddha",
    "Khonghucu",
    "Kepercayaan terhadap Tuhan YME",
];
const MARITAL: &[&str] = &["Belum Kawin", "Kawin", "Cerai Hidup", "Cerai Mati"];

#[derive(Template)]
#[template(path = "resident_new.html")]
struct RegisterPage {
    layout: Layout,
    form: ResidentForm,
    regions: RegionPicker,
    religions: Vec<Choice>,
    marital: Vec<Choice>,
    /// Every refused field and why (all at once); an empty field is about the whole form.
    errors: Vec<(String, String)>,
    /// The region picker's own error (district or village), for its macro.
    error_field: String,
    error_text: String,
    nik_info: Option<String>,
}

impl RegisterPage {
    fn invalid(&self, field: &str) -> bool {
        self.errors.iter().any(|(name, _)| name == field)
    }
}

fn register_page(
    context: &Context,
    form: ResidentForm,
    error: Option<(String, String)>,
    status: StatusCode,
) -> Response {
    register_page_with(context, form, error.into_iter().collect(), None, status)
}

fn register_page_with(
    context: &Context,
    form: ResidentForm,
    errors: Vec<(String, String)>,
    nik_info: Option<String>,
    status: StatusCode,
) -> Response {
    let (error_field, error_text) = errors
        .iter()
        .find(|(field, _)| field == "district" || field == "village")
        .cloned()
        .unwrap_or_default();
    let template = RegisterPage {
        errors,
        layout: context.layout(),
        regions: address_picker(&form.province, &form.regency, &form.district, &form.village),
        religions: fixed_choices(RELIGIONS, &form.religion),
        marital: fixed_choices(MARITAL, &form.marital_status),
        form,
        error_field,
        error_text,
        nik_info,
    };
    page(context, &template, status)
}

pub async fn register_form(
    State(platform): State<Platform>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, Stop> {
    let context = context(&platform, &headers, &query).await?;
    require(&context, REGISTRARS)?;
    Ok(register_page(&context, ResidentForm::default(), None, StatusCode::OK))
}

/// What a NIK says, filling the fields it determines where they are empty.
fn check_nik(context: &Context, form: &mut ResidentForm) -> Result<String, (String, String)> {
    let parsed = nik::parse(form.nik.trim(), &REGIONS).map_err(|e| (e.field().to_owned(), e.to_string()))?;
    let this_year_2 = (format_wib(warga_core::time::now_ms())[2..4])
        .parse::<u32>()
        .unwrap_or(0);
    let century = if parsed.birth_year_2 <= this_year_2 { 2000 } else { 1900 };
    let birth_date = format!(
        "{:04}-{:02}-{:02}",
        century + parsed.birth_year_2,
        parsed.birth_month,
        parsed.birth_day
    );
    if form.birth_date.trim().is_empty() {
        form.birth_date = birth_date.clone();
    }
    if form.sex.is_empty() {
        form.sex = match parsed.sex {
            Sex::Male => "male".into(),
            Sex::Female => "female".into(),
        };
    }
    // The address starts where the NIK was issued, under today's codes.
    if form.district.is_empty() {
        match &parsed.current {
            None => {
                form.province = parsed.province.clone();
                form.regency = parsed.regency.clone();
                form.district = parsed.district.clone();
            }
            Some(now) => {
                form.province = now.province.clone();
                form.regency = now.regency.clone();
                form.district = now.district.clone().unwrap_or_default();
            }
        }
    }
    let today = match &parsed.current {
        Some(now) => format!(" ({} {}: {})", context.t("nik.since"), now.since, now.place),
        None => String::new(),
    };
    Ok(format!(
        "{} {} · {} {} · {} {}{today}",
        context.t("nik.valid"),
        sex_label(context, parsed.sex),
        context.t("nik.born"),
        birth_date,
        context.t("nik.issued_in"),
        parsed.issued_in
    ))
}

pub async fn register(
    State(platform): State<Platform>,
    headers: HeaderMap,
    Form(mut form): Form<ResidentForm>,
) -> Result<Response, Stop> {
    let context = context(&platform, &headers, &HashMap::new()).await?;
    let session = require(&context, REGISTRARS)?;
    if !csrf_matches(session, &form.csrf) {
        let error = Some((String::new(), context.t("error.form").to_owned()));
        return Ok(register_page(&context, form, error, StatusCode::BAD_REQUEST));
    }
    match form.action.as_str() {
        "pick" => return Ok(register_page(&context, form, None, StatusCode::OK)),
        "check" => {
            return Ok(match check_nik(&context, &mut form) {
                Ok(info) => register_page_with(&context, form, Vec::new(), Some(info), StatusCode::OK),
                Err(error) => register_page(&context, form, Some(error), StatusCode::BAD_REQUEST),
            });
        }
        _ => {}
    }
    let sex = match form.sex.as_str() {
        "male" => Some(Sex::Male),
        "female" => Some(Sex::Female),
        _ => None,
    };
    let new = residents::NewResident {
        nik: form.nik.clone(),
        full_name: form.full_name.clone(),
        birth_place: form.birth_place.clone(),
        birth_date: form.birth_date.clone(),
        sex: sex.unwrap_or(Sex::Male),
        address: form.address.clone(),
        rt_rw: form.rt_rw.clone(),
        village: form.village.clone(),
        district: form.district.clone(),
        postal_code: Some(form.postal_code.clone()),
        religion: form.religion.clone(),
        marital_status: form.marital_status.clone(),
        occupation: form.occupation.clone(),
    };
    if sex.is_none() {
        // Every other field is still checked, so that the form shows all its errors at once.
        let mut errors = vec![("sex".to_owned(), context.t("error.choose").to_owned())];
        if let Err(error) = residents::check(&new) {
            let all = match ApiError::from(error) {
                ApiError::Fields(all) => all,
                one => vec![one],
            };
            for error in all {
                let (field, text) = field_error(&context, error)?;
                if field != "sex" {
                    errors.push((field, text));
                }
            }
        }
        return Ok(register_page_with(
            &context,
            form,
            errors,
            None,
            StatusCode::BAD_REQUEST,
        ));
    }
    match residents::register(&platform, &new, &actor(session))
        .await
        .map_err(ApiError::from)
    {
        Ok(resident) => Ok(see_other(&format!("/penduduk/{}?m=registered", resident.id))),
        Err(error) => {
            let status = if matches!(error, ApiError::Conflict(_)) {
                StatusCode::CONFLICT
            } else {
                StatusCode::BAD_REQUEST
            };
            let errors = match error {
                ApiError::Fields(all) => all
                    .into_iter()
                    .map(|e| field_error(&context, e))
                    .collect::<Result<Vec<_>, _>>()?,
                ApiError::Conflict(detail) => {
                    vec![(
                        "nik".to_owned(),
                        detail.in_lang(context.lang == crate::i18n::Lang::En).to_owned(),
                    )]
                }
                one => vec![field_error(&context, one)?],
            };
            Ok(register_page_with(&context, form, errors, None, status))
        }
    }
}

// ---------------------------------------------------------------------------------------
// A resident's record, moves and death

pub struct Past {
    when: String,
    address: String,
    place: String,
}

/// A line of a resident's family-card history.
pub struct CardLine {
    family_id: String,
    relationship: &'static str,
    since: String,
    /// When and why they left; empty while current.
    until: String,
}

#[derive(Template)]
#[template(path = "resident.html")]
struct ResidentPage {
    layout: Layout,
    resident: residents::Resident,
    sex: &'static str,
    status: &'static str,
    alive: bool,
    place: String,
    village: String,
    registered_at: String,
    history: Vec<Past>,
    /// The resident's family cards: the current one first.
    families: Vec<CardLine>,
    on_a_card: bool,
    can_change: bool,
    notice: Option<&'static str>,
    move_form: MoveForm,
    regions: RegionPicker,
    /// The first refusal (the banner, the death form's confirmation).
    error_field: String,
    error_text: String,
    /// Every refused field of the move form.
    errors: Vec<(String, String)>,
    /// The region picker's refusal (district or village).
    picker_field: String,
    picker_text: String,
}

impl ResidentPage {
    fn invalid(&self, field: &str) -> bool {
        self.errors.iter().any(|(name, _)| name == field)
    }
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
    confirm: String,
}

/// What the record page shows besides the record: a notice, the move form as typed, and the
/// field a refusal names.
struct Shown {
    notice: Option<&'static str>,
    move_form: MoveForm,
    errors: Vec<(String, String)>,
    status: StatusCode,
}

impl Shown {
    fn error(move_form: MoveForm, error: (String, String), status: StatusCode) -> Shown {
        Shown::errors(move_form, vec![error], status)
    }

    fn errors(move_form: MoveForm, errors: Vec<(String, String)>, status: StatusCode) -> Shown {
        Shown {
            notice: None,
            move_form,
            errors,
            status,
        }
    }
}

async fn resident_page(
    platform: &Platform,
    context: &Context,
    session: &Session,
    id: &str,
    shown: Shown,
) -> Result<Response, Stop> {
    let Shown {
        notice,
        move_form,
        errors,
        status,
    } = shown;
    let record = match residents::record(platform, id).await.map_err(ApiError::from) {
        Ok(record) => record,
        Err(ApiError::NotFound(_)) => return Ok(message(context, StatusCode::NOT_FOUND, context.t("error.not_found"))),
        Err(other) => return Err(other.into()),
    };
    let resident = record.resident;
    let history = record
        .previous_addresses
        .into_iter()
        .map(|p| Past {
            when: format_wib(p.moved_at_ms),
            address: format!("{}, RT/RW {}, {}", p.address, p.rt_rw, village_name(&p.village)),
            place: search::place_name(&p.district),
        })
        .collect();
    // The region picker shows its own field's error; the page's banner the first of the rest.
    let (picker_field, picker_text) = errors
        .iter()
        .find(|(field, _)| field == "district" || field == "village")
        .cloned()
        .unwrap_or_default();
    let (error_field, error_text) = errors.first().cloned().unwrap_or_default();
    let english = context.lang == crate::i18n::Lang::En;
    let families: Vec<CardLine> = record
        .families
        .into_iter()
        .map(|m| CardLine {
            relationship: if english {
                m.relationship.label_en()
            } else {
                m.relationship.label_id()
            },
            since: format_wib(m.joined_at_ms),
            until: match (m.left_at_ms, m.left_reason) {
                (Some(at), Some(why)) => {
                    format!(
                        "{} ({})",
                        format_wib(at),
                        if english { why.label_en() } else { why.label_id() }
                    )
                }
                _ => String::new(),
            },
            family_id: m.family_id,
        })
        .collect();
    let template = ResidentPage {
        on_a_card: families.first().is_some_and(|f| f.until.is_empty()),
        families,
        layout: context.layout(),
        sex: sex_label(context, resident.fields.sex),
        status: status_label(context, &resident.status),
        alive: resident.status == "alive",
        place: search::place_name(&resident.fields.district),
        village: village_name(&resident.fields.village).to_owned(),
        registered_at: format_wib(resident.created_at_ms),
        history,
        can_change: session.account.roles.contains(&Role::RegistryOfficer),
        notice,
        regions: address_picker(
            &move_form.province,
            &move_form.regency,
            &move_form.district,
            &move_form.village,
        ),
        move_form,
        error_field,
        error_text,
        errors,
        picker_field,
        picker_text,
        resident,
    };
    Ok(page(context, &template, status))
}

pub async fn resident(
    State(platform): State<Platform>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, Stop> {
    let context = context(&platform, &headers, &query).await?;
    let session = require(&context, REGISTRARS)?;
    let notice = match query.get("m").map(String::as_str) {
        Some("registered") => Some(context.t("resident.registered")),
        Some("moved") => Some(context.t("resident.moved")),
        Some("died") => Some(context.t("resident.died")),
        _ => None,
    };
    // The purpose of a read from the registry's own screens is the work the screen is for.
    let purpose = match query.get("m").map(String::as_str) {
        Some("registered") => "pendaftaran penduduk",
        Some("moved") => "pencatatan pindah alamat",
        Some("died") => "pencatatan kematian",
        _ => "pelayanan Dukcapil: data penduduk di layar petugas",
    };
    residents::audit_read(&platform, &actor(session), &id, purpose)
        .await
        .map_err(ApiError::from)?;
    let shown = Shown {
        notice,
        move_form: MoveForm::default(),
        errors: Vec::new(),
        status: StatusCode::OK,
    };
    resident_page(&platform, &context, session, &id, shown).await
}

pub async fn move_resident(
    State(platform): State<Platform>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(form): Form<MoveForm>,
) -> Result<Response, Stop> {
    let context = context(&platform, &headers, &HashMap::new()).await?;
    let session = require(&context, REGISTRARS)?;
    if !csrf_matches(session, &form.csrf) {
        let error = (String::new(), context.t("error.form").to_owned());
        let shown = Shown::error(form, error, StatusCode::BAD_REQUEST);
        return resident_page(&platform, &context, session, &id, shown).await;
    }
    if form.action == "pick" {
        let shown = Shown {
            notice: None,
            move_form: form,
            errors: Vec::new(),
            status: StatusCode::OK,
        };
        return resident_page(&platform, &context, session, &id, shown).await;
    }
    let to = residents::Address {
        address: form.address.clone(),
        rt_rw: form.rt_rw.clone(),
        village: form.village.clone(),
        district: form.district.clone(),
        postal_code: Some(form.postal_code.clone()),
    };
    match residents::move_resident(&platform, &id, &to, &actor(session))
        .await
        .map_err(ApiError::from)
    {
        Ok(_) => Ok(see_other(&format!("/penduduk/{id}?m=moved"))),
        Err(ApiError::NotFound(_)) => Ok(message(&context, StatusCode::NOT_FOUND, context.t("error.not_found"))),
        Err(error) => {
            let status = if matches!(error, ApiError::Conflict(_)) {
                StatusCode::CONFLICT
            } else {
                StatusCode::BAD_REQUEST
            };
            let shown = Shown::errors(form, field_errors(&context, error)?, status);
            resident_page(&platform, &context, session, &id, shown).await
        }
    }
}

pub async fn record_death(
    State(platform): State<Platform>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(form): Form<MoveForm>,
) -> Result<Response, Stop> {
    let context = context(&platform, &headers, &HashMap::new()).await?;
    let session = require(&context, REGISTRARS)?;
    if !csrf_matches(session, &form.csrf) || form.confirm != "yes" {
        let error = ("confirm".to_owned(), context.t("death.confirm_needed").to_owned());
        let shown = Shown::error(MoveForm::default(), error, StatusCode::BAD_REQUEST);
        return resident_page(&platform, &context, session, &id, shown).await;
    }
    match residents::record_death(&platform, &id, &actor(session))
        .await
        .map_err(ApiError::from)
    {
        Ok(_) => Ok(see_other(&format!("/penduduk/{id}?m=died"))),
        Err(ApiError::NotFound(_)) => Ok(message(&context, StatusCode::NOT_FOUND, context.t("error.not_found"))),
        Err(error) => {
            let shown = Shown::error(MoveForm::default(), field_error(&context, error)?, StatusCode::CONFLICT);
            resident_page(&platform, &context, session, &id, shown).await
        }
    }
}

// ---------------------------------------------------------------------------------------
// Citizen links

pub struct LinkRow {
    id: String,
    username: String,
    /// The account's full name, as the citizen gave it at sign-up.
    account_name: String,
    /// The account's name and the resident's differ (beyond case and spacing): look twice.
    name_differs: bool,
    asked_at: String,
    resident: Option<Row>,
}

/// A name compared loosely: case, spacing and punctuation aside.
fn name_key(name: &str) -> String {
    name.chars()
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_lowercase)
        .collect()
}

#[derive(Template)]
#[template(path = "links.html")]
struct LinksPage {
    layout: Layout,
    requests: Vec<LinkRow>,
    notice: Option<&'static str>,
    error: Option<String>,
}

async fn links_page(
    platform: &Platform,
    context: &Context,
    notice: Option<&'static str>,
    error: Option<String>,
    status: StatusCode,
) -> Result<Response, Stop> {
    let mut requests = Vec::new();
    for p in links::pending(platform, 100).await? {
        let account_name = warga_identity::accounts::by_id(platform.store.reader(), &p.subject)
            .await
            .map_err(ApiError::from)?
            .map(|a| a.display_name)
            .unwrap_or_default();
        let name_differs = p
            .resident
            .as_ref()
            .is_some_and(|r| name_key(&r.full_name) != name_key(&account_name));
        requests.push(LinkRow {
            id: p.id,
            username: p.username,
            account_name,
            name_differs,
            asked_at: format_wib(p.created_at_ms),
            resident: p.resident.map(|r| Row::of(context, r)),
        });
    }
    let template = LinksPage {
        layout: context.layout(),
        requests,
        notice,
        error,
    };
    Ok(page(context, &template, status))
}

pub async fn link_requests(
    State(platform): State<Platform>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, Stop> {
    let context = context(&platform, &headers, &query).await?;
    require(&context, REGISTRARS)?;
    links_page(&platform, &context, None, None, StatusCode::OK).await
}

#[derive(Debug, Deserialize)]
pub struct DecisionForm {
    csrf: String,
    decision: String,
    #[serde(default)]
    reason: String,
}

pub async fn decide_link(
    State(platform): State<Platform>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(form): Form<DecisionForm>,
) -> Result<Response, Stop> {
    let context = context(&platform, &headers, &HashMap::new()).await?;
    let session = require(&context, REGISTRARS)?;
    if !csrf_matches(session, &form.csrf) {
        return links_page(
            &platform,
            &context,
            None,
            Some(context.t("error.form").into()),
            StatusCode::BAD_REQUEST,
        )
        .await;
    }
    let decision = links::LinkDecision {
        approve: form.decision == "approve",
        reason: Some(form.reason),
    };
    match links::decide(&platform, &id, &decision, &actor(session))
        .await
        .map_err(ApiError::from)
    {
        Ok(()) => {
            let notice = if decision.approve {
                context.t("links.approved")
            } else {
                context.t("links.refused")
            };
            links_page(&platform, &context, Some(notice), None, StatusCode::OK).await
        }
        Err(error) => {
            let status = match &error {
                ApiError::Conflict(_) => StatusCode::CONFLICT,
                ApiError::NotFound(_) => StatusCode::NOT_FOUND,
                _ => StatusCode::BAD_REQUEST,
            };
            let text = field_error(&context, error)?.1;
            links_page(&platform, &context, None, Some(text), status).await
        }
    }
}

/// A citizen's link, for the account page.
pub struct CitizenLink {
    pub status: String,
    pub reason: Option<String>,
    pub name: String,
    pub nik: String,
    pub place: String,
    pub error: Option<String>,
    /// The family card the citizen is on, if any.
    pub family: Option<OwnFamily>,
}

/// A citizen's own family card, as their account page shows it.
pub struct OwnFamily {
    pub kk_number: String,
    pub place: String,
    /// (name, relationship) of each member, the head first.
    pub members: Vec<(String, &'static str)>,
}

pub async fn citizen_link(platform: &Platform, session: &Session) -> Result<Option<CitizenLink>, ApiError> {
    if !session.account.roles.contains(&Role::Citizen) {
        return Ok(None);
    }
    let mine = links::mine(platform, &session.account.id).await?;
    let (name, nik, place) = match &mine.resident {
        Some(record) => (
            record.resident.fields.full_name.clone(),
            record.resident.fields.nik.clone(),
            search::place_name(&record.resident.fields.district),
        ),
        None => Default::default(),
    };
    let current_card = mine
        .resident
        .as_ref()
        .and_then(|record| record.families.first())
        .filter(|membership| membership.left_at_ms.is_none())
        .map(|membership| membership.family_id.clone());
    let family = match current_card {
        None => None,
        Some(id) => {
            let card = warga_population::family::read(platform, &id).await?;
            warga_population::family::audit_read(platform, &actor(session), &id, "own family card").await?;
            Some(OwnFamily {
                kk_number: card.kk_number,
                place: card.place,
                members: card
                    .members
                    .into_iter()
                    .map(|m| (m.full_name, m.relationship.label_id()))
                    .collect(),
            })
        }
    };
    Ok(Some(CitizenLink {
        status: mine.status,
        reason: mine.reason,
        name,
        nik,
        place,
        error: None,
        family,
    }))
}

#[derive(Debug, Deserialize)]
pub struct AskForm {
    csrf: String,
    nik: String,
    birth_date: String,
}

pub async fn ask_link(
    State(platform): State<Platform>,
    headers: HeaderMap,
    Form(form): Form<AskForm>,
) -> Result<Response, Stop> {
    let context = context(&platform, &headers, &HashMap::new()).await?;
    let session = require(&context, &[Role::Citizen])?;
    let error = if !csrf_matches(session, &form.csrf) {
        Some(context.t("error.form").to_owned())
    } else {
        let ask = links::LinkAsk {
            nik: form.nik,
            birth_date: form.birth_date,
        };
        match links::ask(&platform, &session.account.id, &session.account.username, &ask)
            .await
            .map_err(ApiError::from)
        {
            Ok(_) => None,
            Err(error) => Some(field_error(&context, error).map(|(field, text)| {
                if field.is_empty() {
                    text
                } else {
                    format!("{field}: {text}")
                }
            })?),
        }
    };
    match error {
        None => Ok(see_other("/akun?m=link-asked")),
        Some(error) => crate::account_page(&platform, &context, session, Some(error), StatusCode::BAD_REQUEST).await,
    }
}

// ---------------------------------------------------------------------------------------
// Statistics

#[derive(Template)]
#[template(path = "stats.html")]
struct StatsPage {
    layout: Layout,
    total: i64,
    households: i64,
    /// Residents per household, to one decimal ("3,2"); empty without households.
    household_size: String,
    scope: String,
    provinces: Vec<Choice>,
    charts: Vec<crate::charts::Chart>,
}

pub async fn statistics(
    State(platform): State<Platform>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, Stop> {
    let context = context(&platform, &headers, &query).await?;
    require(&context, STATS_READERS)?;
    let province = query
        .get("provinsi")
        .filter(|code| REGIONS.province(code).is_some())
        .cloned();
    let stats = residents::stats(&platform, province.as_deref()).await?;
    let regions = stats
        .by_region
        .iter()
        .filter(|r| r.residents != 0)
        .map(|r| {
            let href = province.is_none().then(|| format!("/statistik?provinsi={}", r.code));
            (r.name.clone(), r.residents, href)
        })
        .collect();
    let sexes = stats
        .by_sex
        .iter()
        .map(|c| {
            let label = match c.key.as_str() {
                "male" => context.t("sex.male"),
                _ => context.t("sex.female"),
            };
            (label.to_owned(), c.residents, None)
        })
        .collect();
    let bands = stats
        .by_age_band
        .iter()
        .map(|c| (c.key.clone(), c.residents, None))
        .collect();
    let households = stats
        .by_region
        .iter()
        .filter(|r| r.households != 0)
        .map(|r| (r.name.clone(), r.households, None))
        .collect();
    let region_title = if province.is_some() {
        context.t("stats.by_regency")
    } else {
        context.t("stats.by_province")
    };
    let household_size = if stats.households > 0 {
        let tenths = (stats.household_members * 10 + stats.households / 2) / stats.households;
        let separator = if context.lang == crate::i18n::Lang::En {
            '.'
        } else {
            ','
        };
        format!("{}{separator}{}", tenths / 10, tenths % 10)
    } else {
        String::new()
    };
    let template = StatsPage {
        layout: context.layout(),
        total: stats.total,
        households: stats.households,
        household_size,
        scope: province
            .as_deref()
            .and_then(|p| REGIONS.province(p))
            .unwrap_or(context.t("stats.indonesia"))
            .to_owned(),
        provinces: choices(REGIONS.provinces(), province.as_deref().unwrap_or("")),
        charts: vec![
            crate::charts::counts(region_title, regions),
            crate::charts::counts(context.t("stats.by_sex"), sexes),
            crate::charts::counts(context.t("stats.by_age"), bands),
            crate::charts::counts(context.t("stats.households_by_region"), households),
        ],
    };
    Ok(page(&context, &template, StatusCode::OK))
}

// ---------------------------------------------------------------------------------------
// SMS outbox

pub struct Sms {
    to: String,
    body: String,
    at: String,
}

#[derive(Template)]
#[template(path = "sms.html")]
struct SmsPage {
    layout: Layout,
    messages: Vec<Sms>,
    /// The link to older messages, if there may be some.
    older: Option<String>,
}

pub async fn sms_outbox(
    State(platform): State<Platform>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, Stop> {
    let context = context(&platform, &headers, &query).await?;
    let session = require(&context, &[Role::Admin, Role::RegistryOfficer])?;
    let reader = if session.account.roles.contains(&Role::Admin) {
        notify::OutboxReader::Everything
    } else {
        notify::OutboxReader::DesksOnly
    };
    let before = query.get("sebelum").map(String::as_str);
    let outbox = notify::outbox(&platform.store, reader, before, 50).await?;
    let messages = outbox
        .messages
        .into_iter()
        .map(|m| Sms {
            to: m.to,
            body: m.body,
            at: format_wib(m.created_at_ms),
        })
        .collect();
    let template = SmsPage {
        layout: context.layout(),
        messages,
        older: outbox.next.map(|id| format!("/penduduk/sms?sebelum={id}")),
    };
    Ok(page(&context, &template, StatusCode::OK))
}

// ---------------------------------------------------------------------------------------
// Registry desks (administrators)

#[derive(Template)]
#[template(path = "desks.html")]
struct DesksPage {
    layout: Layout,
    desks: Vec<notify::Desk>,
    regencies: Vec<Choice>,
    form: DeskForm,
    notice: Option<&'static str>,
    error_field: String,
    error_text: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct DeskForm {
    csrf: String,
    action: String,
    regency: String,
    phone: String,
    label: String,
}

async fn desks_response(
    platform: &Platform,
    context: &Context,
    form: DeskForm,
    notice: Option<&'static str>,
    error: Option<(String, String)>,
    status: StatusCode,
) -> Result<Response, Stop> {
    let regencies = REGIONS
        .provinces()
        .into_iter()
        .flat_map(|p| REGIONS.regencies_of(&p.code))
        .collect();
    let (error_field, error_text) = error.unwrap_or_default();
    let template = DesksPage {
        layout: context.layout(),
        desks: notify::desks(&platform.store).await?,
        regencies: choices(regencies, &form.regency),
        form,
        notice,
        error_field,
        error_text,
    };
    Ok(page(context, &template, status))
}

pub async fn desks(
    State(platform): State<Platform>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, Stop> {
    let context = context(&platform, &headers, &query).await?;
    crate::require_admin(&context)?;
    desks_response(&platform, &context, DeskForm::default(), None, None, StatusCode::OK).await
}

/// Adds a desk (`action=add`) or stops texting one (`action=remove`).
pub async fn change_desks(
    State(platform): State<Platform>,
    headers: HeaderMap,
    Form(form): Form<DeskForm>,
) -> Result<Response, Stop> {
    let context = context(&platform, &headers, &HashMap::new()).await?;
    let session = crate::require_admin(&context)?;
    if !csrf_matches(session, &form.csrf) {
        let error = Some((String::new(), context.t("error.form").to_owned()));
        return desks_response(&platform, &context, form, None, error, StatusCode::BAD_REQUEST).await;
    }
    let actor = actor(session);
    let (regency, phone) = (form.regency.trim().to_owned(), form.phone.trim().to_owned());
    let (done, notice) = if form.action == "remove" {
        (
            notify::remove_desk_audited(&platform, &actor, &regency, &phone).await,
            context.t("desks.removed"),
        )
    } else {
        (
            notify::add_desk_audited(&platform, &actor, &regency, &phone, &form.label).await,
            context.t("desks.added"),
        )
    };
    match done.map_err(ApiError::from) {
        Ok(()) => {
            desks_response(
                &platform,
                &context,
                DeskForm::default(),
                Some(notice),
                None,
                StatusCode::OK,
            )
            .await
        }
        Err(error @ ApiError::NotFound(_)) => {
            let error = Some(field_error(&context, error)?);
            desks_response(&platform, &context, form, None, error, StatusCode::NOT_FOUND).await
        }
        Err(error) => {
            let status = if matches!(error, ApiError::Conflict(_)) {
                StatusCode::CONFLICT
            } else {
                StatusCode::BAD_REQUEST
            };
            let error = Some(field_error(&context, error)?);
            desks_response(&platform, &context, form, None, error, status).await
        }
    }
}

#[cfg(test)]
mod tests {
    use super::name_key;

    #[test]
    fn names_are_compared_loosely_but_not_too_loosely() {
        assert_eq!(name_key("Siti  Aminah"), name_key("SITI AMINAH"));
        assert_eq!(name_key("Nur'aini"), name_key("Nuraini"));
        assert_ne!(name_key("Siti Aminah"), name_key("Siti Aminah Putri"));
        assert_ne!(name_key("Budi Santoso"), name_key("Budi Susanto"));
    }
}
