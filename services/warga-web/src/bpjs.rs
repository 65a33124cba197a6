//! Screens of the BPJS ledger for people: the facility counter's card check (the answer a
//! receptionist needs in one glance — active or not, class, valid until) and a patient's
//! own card, visits and referrals. Both call the ledger service's library with the
//! signed-in account as its principal: the officer's check signs with their own ledger
//! identity, the patient's record is read by BPJS's patient portal and audited.

use std::collections::HashMap;

use askama::Template;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::{get, post};
use axum::{Extension, Form, Router};
use serde::Deserialize;
use serde_json::Value;
use warga_core::identity::Role;
use warga_http::{ApiError, Platform};
use warga_ledger::access::Gateway;

use crate::i18n::Lang;
use crate::{Context, Layout, Session, Stop, context, csrf_matches, message, page, see_other};

pub(crate) fn router(platform: &Platform) -> Router<Platform> {
    Router::new()
        .route("/bpjs", get(counter))
        .route("/bpjs/saya", get(mine))
        .route("/bpjs/kartu", post(issue))
        .route("/bpjs/kunjungan", post(record_visit))
        .layer(Extension(Gateway::new(platform)))
}

/// A card as the screens show it.
struct CardView {
    nik: String,
    status: &'static str,
    /// Whether the card covers care today.
    usable: bool,
    class: String,
    valid_until: String,
    reason: String,
}

fn card_view(context: &Context, card: &Value) -> CardView {
    let status = card["status"].as_str().unwrap_or_default();
    CardView {
        nik: card["nik"].as_str().unwrap_or_default().to_owned(),
        status: match status {
            "active" => context.t("bpjs.active"),
            "suspended" => context.t("bpjs.suspended"),
            _ => context.t("bpjs.expired"),
        },
        usable: status == "active",
        class: card["class"].to_string(),
        valid_until: card["valid_until"].as_str().unwrap_or_default().to_owned(),
        reason: card["reason"].as_str().unwrap_or_default().to_owned(),
    }
}

fn forbidden(context: &Context) -> Stop {
    Stop::Page(Box::new(message(
        context,
        StatusCode::FORBIDDEN,
        context.t("error.role"),
    )))
}

#[derive(Template)]
#[template(path = "bpjs_counter.html")]
struct CounterPage {
    layout: Layout,
    nik: String,
    checked: bool,
    card: Option<CardView>,
    notice: Option<&'static str>,
    /// BPJS's officers issue cards.
    can_issue: bool,
    /// A facility's staff record visits for it.
    facility: String,
    default_valid_until: String,
    /// What a refused form sends back.
    filled_nik: String,
    filled_diagnosis: String,
    /// The form refused (`issue`, `visit`), its field error and its other error.
    error_form: &'static str,
    error_field: String,
    error_text: String,
    form_error: String,
}

impl CounterPage {
    fn new(context: &Context, session: &Session) -> CounterPage {
        let next_year = time::OffsetDateTime::now_utc().date().year() + 1;
        CounterPage {
            layout: context.layout(),
            nik: String::new(),
            checked: false,
            card: None,
            notice: None,
            can_issue: session.account.msp_id.as_deref() == Some(warga_ledger_core::bpjs::BPJS_MSP),
            facility: session.account.facility.clone().unwrap_or_default(),
            default_valid_until: format!("{next_year:04}-12-31"),
            filled_nik: String::new(),
            filled_diagnosis: String::new(),
            error_form: "",
            error_field: String::new(),
            error_text: String::new(),
            form_error: String::new(),
        }
    }
}

/// The signed-in ledger member, or the page to show instead.
fn ledger_member(context: &Context) -> Result<&Session, Stop> {
    let Some(session) = context.session.as_ref() else {
        return Err(Stop::Page(Box::new(see_other("/masuk"))));
    };
    if session.account.roles.contains(&Role::LedgerMember) {
        Ok(session)
    } else {
        Err(forbidden(context))
    }
}

/// The counter: a NIK in, the card's state out.
pub async fn counter(
    State(platform): State<Platform>,
    Extension(gateway): Extension<Gateway>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, Stop> {
    let context = context(&platform, &headers, &query).await?;
    let Some(session) = context.session.as_ref() else {
        return Ok(see_other("/masuk"));
    };
    if !session.account.roles.contains(&Role::LedgerMember) {
        if session.account.roles.contains(&Role::Citizen) {
            return Ok(see_other("/bpjs/saya"));
        }
        return Err(forbidden(&context));
    }
    let nik = query.get("nik").map(|n| n.trim().to_owned()).unwrap_or_default();
    let mut template = CounterPage::new(&context, session);
    template.nik = nik.clone();
    template.notice = match query.get("m").map(String::as_str) {
        Some("issued") => Some(context.t("bpjs.issued")),
        Some("visit") => Some(context.t("bpjs.visit_recorded")),
        _ => None,
    };
    if nik.is_empty() {
        return Ok(page(&context, &template, StatusCode::OK));
    }
    let principal = crate::reports::principal(&platform, session);
    match warga_ledger::portal::check_card(&gateway, &principal, &nik).await {
        Ok(card) => {
            template.checked = true;
            template.card = card.as_ref().map(|c| card_view(&context, c));
            Ok(page(&context, &template, StatusCode::OK))
        }
        Err(error @ ApiError::Validation { .. }) => {
            template.error_field = "nik".into();
            template.error_text = error.detail_in(context.lang == Lang::En);
            Ok(page(&context, &template, StatusCode::BAD_REQUEST))
        }
        Err(other) => Err(other.into()),
    }
}

#[derive(Template)]
#[template(path = "bpjs_mine.html")]
struct MinePage {
    layout: Layout,
    card: Option<CardView>,
    /// (day, facility, diagnosis)
    visits: Vec<(String, String, String)>,
    /// (from, to, reason, status)
    referrals: Vec<(String, String, String, &'static str)>,
}

/// A patient's own card, visits and referrals.
pub async fn mine(
    State(platform): State<Platform>,
    Extension(gateway): Extension<Gateway>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, Stop> {
    let context = context(&platform, &headers, &query).await?;
    let Some(session) = context.session.as_ref() else {
        return Ok(see_other("/masuk"));
    };
    if !session.account.roles.contains(&Role::Citizen) {
        return Err(forbidden(&context));
    }
    let principal = crate::reports::principal(&platform, session);
    let record = match warga_ledger::portal::my_record(&gateway, &principal).await {
        Ok(record) => record,
        Err(ApiError::NotFound(_)) => {
            return Ok(message(&context, StatusCode::NOT_FOUND, context.t("bpjs.not_linked")));
        }
        Err(other) => return Err(other.into()),
    };
    let text = |v: &Value, key: &str| v[key].as_str().unwrap_or_default().to_owned();
    let template = MinePage {
        layout: context.layout(),
        card: (!record.card.is_null()).then(|| card_view(&context, &record.card)),
        visits: record
            .visits
            .as_array()
            .map(|visits| {
                visits
                    .iter()
                    .map(|v| (text(v, "day"), text(v, "facility"), text(v, "diagnosis")))
                    .collect()
            })
            .unwrap_or_default(),
        referrals: record
            .referrals
            .as_array()
            .map(|referrals| {
                referrals
                    .iter()
                    .map(|r| {
                        let status = if r["status"] == "approved" {
                            context.t("bpjs.approved")
                        } else {
                            context.t("bpjs.pending")
                        };
                        (
                            text(r, "from_facility"),
                            text(r, "to_facility"),
                            text(r, "reason"),
                            status,
                        )
                    })
                    .collect()
            })
            .unwrap_or_default(),
    };
    Ok(page(&context, &template, StatusCode::OK))
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct IssueForm {
    csrf: String,
    nik: String,
    class: String,
    valid_until: String,
}

/// A refused form, shown again with its error: beside the NIK when the NIK is at fault,
/// above the form otherwise.
async fn refused_form(
    context: &Context,
    session: &Session,
    form: &'static str,
    nik: &str,
    diagnosis: &str,
    error: ApiError,
) -> Result<Response, Stop> {
    let mut template = CounterPage::new(context, session);
    template.filled_nik = nik.to_owned();
    template.filled_diagnosis = diagnosis.to_owned();
    template.error_form = form;
    let status = error.to_problem().status;
    let english = context.lang == Lang::En;
    let nik_at_fault = matches!(&error, ApiError::Rule { field: "args[0]", .. })
        || matches!(&error, ApiError::Validation { field, .. } if field == "nik");
    if nik_at_fault {
        template.error_field = format!("{form}-nik");
        template.error_text = error.detail_in(english);
    } else {
        template.form_error = error.detail_in(english);
    }
    Ok(page(
        context,
        &template,
        StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST),
    ))
}

fn form_expired(context: &Context) -> ApiError {
    ApiError::validation("", context.t("error.form"))
}

/// BPJS issues a card (the registry vouching for its holder).
pub async fn issue(
    State(platform): State<Platform>,
    Extension(gateway): Extension<Gateway>,
    headers: HeaderMap,
    Form(form): Form<IssueForm>,
) -> Result<Response, Stop> {
    let context = context(&platform, &headers, &HashMap::new()).await?;
    let session = ledger_member(&context)?;
    let nik = form.nik.trim().to_owned();
    if !csrf_matches(session, &form.csrf) {
        return refused_form(&context, session, "issue", &nik, "", form_expired(&context)).await;
    }
    let principal = crate::reports::principal(&platform, session);
    let args = [nik.clone(), form.class.clone(), form.valid_until.clone()];
    match warga_ledger::portal::submit(&gateway, &principal, "IssueCard", &args).await {
        Ok(_) => Ok(see_other(&format!("/bpjs?nik={nik}&m=issued"))),
        Err(error) => refused_form(&context, session, "issue", &nik, "", error).await,
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct VisitForm {
    csrf: String,
    nik: String,
    diagnosis: String,
}

/// A facility's counter records today's visit of a card holder.
pub async fn record_visit(
    State(platform): State<Platform>,
    Extension(gateway): Extension<Gateway>,
    headers: HeaderMap,
    Form(form): Form<VisitForm>,
) -> Result<Response, Stop> {
    let context = context(&platform, &headers, &HashMap::new()).await?;
    let session = ledger_member(&context)?;
    let nik = form.nik.trim().to_owned();
    let diagnosis = form.diagnosis.trim().to_uppercase();
    if !csrf_matches(session, &form.csrf) {
        return refused_form(&context, session, "visit", &nik, &diagnosis, form_expired(&context)).await;
    }
    let principal = crate::reports::principal(&platform, session);
    // The ledger's day is UTC's (the contract's clock is the proposal's timestamp).
    let today = time::OffsetDateTime::now_utc().date();
    let day = format!("{:04}-{:02}-{:02}", today.year(), u8::from(today.month()), today.day());
    let visit_id = format!("V-{}", uuid::Uuid::now_v7().simple());
    let args = [visit_id, nik.clone(), day, diagnosis.clone()];
    match warga_ledger::portal::submit(&gateway, &principal, "RecordVisit", &args).await {
        Ok(_) => Ok(see_other(&format!("/bpjs?nik={nik}&m=visit"))),
        Err(error) => refused_form(&context, session, "visit", &nik, &diagnosis, error).await,
    }
}
