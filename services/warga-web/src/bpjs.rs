//! Screens of the BPJS ledger for people: the facility counter's card check (the answer a
//! receptionist needs in one glance — active or not, class, valid until) and a patient's
//! own card, visits and referrals. Both call the ledger service's library with the
//! signed-in account as its principal: the officer's check signs with their own ledger
//! identity, the patient's record is read by BPJS's patient portal and audited.

use std::collections::HashMap;

use askama::Template;
use axum::extract::{Path, Query, State};
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
        .route("/bpjs/klaim", post(submit_claim))
        .route("/bpjs/status", post(change_status))
        .route("/bpjs/ledger", get(explorer))
        .route("/bpjs/ledger/verifikasi", post(verify))
        .route("/bpjs/ledger/blok/{number}", get(block))
        .route("/bpjs/rujukan", post(refer))
        .route("/bpjs/rujukan/{id}", post(approve_referral))
        .route("/bpjs/klaim/{id}", post(process_claim))
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
    /// The number the notice names (a visit's, a claim's).
    notice_id: String,
    /// BPJS's queue of submitted claims.
    claims: Vec<ClaimRow>,
    /// Referrals to the officer's facility.
    incoming: Vec<ReferralRow>,
    /// BPJS's officers issue cards.
    can_issue: bool,
    /// A facility's staff record visits for it.
    facility: String,
    default_valid_until: String,
    /// What a refused form sends back.
    filled_nik: String,
    filled_diagnosis: String,
    filled_notes: String,
    filled_visit: String,
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
            notice_id: String::new(),
            claims: Vec::new(),
            incoming: Vec::new(),
            can_issue: session.account.msp_id.as_deref() == Some(warga_ledger_core::bpjs::BPJS_MSP),
            facility: session.account.facility.clone().unwrap_or_default(),
            default_valid_until: format!("{next_year:04}-12-31"),
            filled_nik: String::new(),
            filled_diagnosis: String::new(),
            filled_notes: String::new(),
            filled_visit: String::new(),
            error_form: "",
            error_field: String::new(),
            error_text: String::new(),
            form_error: String::new(),
        }
    }
}

/// A referral to the officer's facility.
struct ReferralRow {
    id: String,
    from: String,
    reason: String,
    pending: bool,
}

/// The referrals to `officer`'s facility.
async fn incoming_referrals(
    gateway: &Gateway,
    officer: &warga_core::identity::Principal,
) -> Result<Vec<ReferralRow>, ApiError> {
    let listed = warga_ledger::portal::evaluate_as(gateway, officer, "GetIncomingReferrals", &[]).await?;
    let text = |v: &Value, key: &str| v[key].as_str().unwrap_or_default().to_owned();
    Ok(listed
        .as_array()
        .map(|referrals| {
            referrals
                .iter()
                .map(|r| ReferralRow {
                    id: text(r, "referral_id"),
                    from: text(r, "from_facility"),
                    reason: text(r, "reason"),
                    pending: r["status"] != "approved",
                })
                .collect()
        })
        .unwrap_or_default())
}

/// Fills what the counter page lists for `session`: BPJS's claims queue, a facility's
/// incoming referrals.
async fn fill_lists(
    gateway: &Gateway,
    platform: &Platform,
    session: &Session,
    template: &mut CounterPage,
) -> Result<(), ApiError> {
    let principal = crate::reports::principal(platform, session);
    if template.can_issue {
        template.claims = claims_queue(gateway, &principal).await?;
    }
    if !template.facility.is_empty() {
        template.incoming = incoming_referrals(gateway, &principal).await?;
    }
    Ok(())
}

/// A claim waiting in BPJS's queue.
struct ClaimRow {
    id: String,
    facility: String,
    amount: String,
    class: String,
    tariff: String,
    /// What approving it at most pays: the claim within its class's tariff.
    suggested: u64,
}

/// Rupiah with dots between thousands, as Indonesians write them.
fn rupiah(amount: u64) -> String {
    let digits = amount.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push('.');
        }
        out.push(c);
    }
    out
}

/// BPJS's queue: the submitted claims, read under the officer's identity.
async fn claims_queue(gateway: &Gateway, officer: &warga_core::identity::Principal) -> Result<Vec<ClaimRow>, ApiError> {
    let listed = warga_ledger::portal::evaluate_as(gateway, officer, "GetClaims", &["submitted".to_owned()]).await?;
    let tariffs = warga_ledger_core::bpjs::TARIFFS;
    Ok(listed
        .as_array()
        .map(|claims| {
            claims
                .iter()
                .map(|c| {
                    let amount = c["amount"].as_u64().unwrap_or(0);
                    let class = c["diagnosis_class"].as_str().unwrap_or_default().to_owned();
                    let tariff = tariffs.iter().find(|(k, _)| *k == class).map(|(_, t)| *t).unwrap_or(0);
                    ClaimRow {
                        id: c["claim_id"].as_str().unwrap_or_default().to_owned(),
                        facility: c["facility"].as_str().unwrap_or_default().to_owned(),
                        amount: rupiah(amount),
                        tariff: rupiah(tariff),
                        class,
                        suggested: amount.min(tariff),
                    }
                })
                .collect()
        })
        .unwrap_or_default())
}

/// The signed-in ledger member or auditor (who read the chain), or the page to show instead.
fn ledger_reader(context: &Context) -> Result<&Session, Stop> {
    let Some(session) = context.session.as_ref() else {
        return Err(Stop::Page(Box::new(see_other("/masuk"))));
    };
    let roles = &session.account.roles;
    if roles.contains(&Role::LedgerMember) || roles.contains(&Role::LedgerAuditor) {
        Ok(session)
    } else {
        Err(forbidden(context))
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
        if session.account.roles.contains(&Role::LedgerAuditor) {
            return Ok(see_other("/bpjs/ledger"));
        }
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
        Some("claim") => Some(context.t("bpjs.claim_submitted")),
        Some("processed") => Some(context.t("bpjs.claim_processed")),
        Some("status") => Some(context.t("bpjs.status_changed")),
        Some("referred") => Some(context.t("bpjs.referred")),
        Some("referral") => Some(context.t("bpjs.referral_approved")),
        _ => None,
    };
    template.notice_id = query.get("id").cloned().unwrap_or_default();
    template.filled_visit = query.get("visit").cloned().unwrap_or_default();
    fill_lists(&gateway, &platform, session, &mut template).await?;
    let principal = crate::reports::principal(&platform, session);
    if nik.is_empty() {
        return Ok(page(&context, &template, StatusCode::OK));
    }
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

/// One counter form's transaction: who may send it, what it asks the ledger, where to go
/// once it is committed.
struct Submission<'a> {
    /// The form's name (its error's anchor), e.g. `issue`.
    form: &'static str,
    csrf: &'a str,
    filled: Filled<'a>,
    function: &'static str,
    args: Vec<String>,
    /// Private inputs (a visit's clinical details).
    transient: std::collections::BTreeMap<String, Vec<u8>>,
    /// The page after the commit.
    done: String,
}

/// Sends `submission` as the signed-in ledger member — its CSRF token checked first — and
/// goes on to its page, or shows the form again with what was filled in and why it was
/// refused.
async fn submit_form(
    platform: &Platform,
    gateway: &Gateway,
    headers: &HeaderMap,
    submission: Submission<'_>,
) -> Result<Response, Stop> {
    let context = context(platform, headers, &HashMap::new()).await?;
    let session = ledger_member(&context)?;
    let Submission {
        form,
        csrf,
        filled,
        function,
        args,
        transient,
        done,
    } = submission;
    if !csrf_matches(session, csrf) {
        return refused_form(gateway, &context, session, form, filled, form_expired(&context)).await;
    }
    let principal = crate::reports::principal(platform, session);
    match warga_ledger::portal::submit_with(gateway, &principal, function, &args, transient).await {
        Ok(_) => Ok(see_other(&done)),
        Err(error) => refused_form(gateway, &context, session, form, filled, error).await,
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct IssueForm {
    csrf: String,
    nik: String,
    class: String,
    valid_until: String,
}

/// What a refused form had filled in, shown again.
#[derive(Clone, Copy, Default)]
struct Filled<'a> {
    nik: &'a str,
    diagnosis: &'a str,
    notes: &'a str,
}

impl<'a> Filled<'a> {
    fn nik(nik: &'a str) -> Filled<'a> {
        Filled {
            nik,
            ..Filled::default()
        }
    }
}

/// A refused form, shown again with its error: beside the NIK when the NIK is at fault,
/// above the form otherwise.
async fn refused_form(
    gateway: &Gateway,
    context: &Context,
    session: &Session,
    form: &'static str,
    filled: Filled<'_>,
    error: ApiError,
) -> Result<Response, Stop> {
    let Filled { nik, diagnosis, notes } = filled;
    let mut template = CounterPage::new(context, session);
    fill_lists(gateway, gateway.platform(), session, &mut template).await?;
    template.filled_nik = nik.to_owned();
    template.filled_diagnosis = diagnosis.to_owned();
    template.filled_notes = notes.to_owned();
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
    let nik = form.nik.trim().to_owned();
    let submission = Submission {
        form: "issue",
        csrf: &form.csrf,
        filled: Filled::nik(&nik),
        function: "IssueCard",
        args: vec![nik.clone(), form.class.clone(), form.valid_until.clone()],
        transient: Default::default(),
        done: format!("/bpjs?nik={nik}&m=issued"),
    };
    submit_form(&platform, &gateway, &headers, submission).await
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct VisitForm {
    csrf: String,
    nik: String,
    diagnosis: String,
    /// Clinical notes: private to BPJS and the facility, as the diagnosis.
    notes: String,
}

/// A facility's counter records today's visit of a card holder: the diagnosis and notes go
/// to the ledger as private data of BPJS and the facility's organisation (the chain keeps
/// only their salted hash).
pub async fn record_visit(
    State(platform): State<Platform>,
    Extension(gateway): Extension<Gateway>,
    headers: HeaderMap,
    Form(form): Form<VisitForm>,
) -> Result<Response, Stop> {
    let nik = form.nik.trim().to_owned();
    let diagnosis = form.diagnosis.trim().to_uppercase();
    let notes = form.notes.trim().to_owned();
    // Today as the counter's clock says it (WIB, the screens' zone); the contract accepts a
    // visit dated up to the day in Indonesia's easternmost zone.
    let day = warga_core::time::format_wib(warga_core::time::now_ms())[..10].to_owned();
    let visit_id = format!("V-{}", uuid::Uuid::now_v7().simple());
    let clinical = serde_json::json!({ "diagnosis": diagnosis, "notes": notes });
    let submission = Submission {
        form: "visit",
        csrf: &form.csrf,
        filled: Filled {
            nik: &nik,
            diagnosis: &diagnosis,
            notes: &notes,
        },
        function: "RecordVisit",
        args: vec![visit_id.clone(), nik.clone(), day],
        transient: std::collections::BTreeMap::from([(
            warga_ledger_core::bpjs::CLINICAL_TRANSIENT.to_owned(),
            clinical.to_string().into_bytes(),
        )]),
        done: format!("/bpjs?m=visit&id={visit_id}&visit={visit_id}"),
    };
    submit_form(&platform, &gateway, &headers, submission).await
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct ClaimForm {
    csrf: String,
    visit_id: String,
    amount: String,
    class: String,
}

/// A facility claims a visit it recorded.
pub async fn submit_claim(
    State(platform): State<Platform>,
    Extension(gateway): Extension<Gateway>,
    headers: HeaderMap,
    Form(form): Form<ClaimForm>,
) -> Result<Response, Stop> {
    let claim_id = format!("K-{}", uuid::Uuid::now_v7().simple());
    let amount: String = form.amount.chars().filter(char::is_ascii_digit).collect();
    let submission = Submission {
        form: "claim",
        csrf: &form.csrf,
        filled: Filled::default(),
        function: "SubmitClaim",
        args: vec![
            claim_id.clone(),
            form.visit_id.trim().to_owned(),
            amount,
            form.class.clone(),
        ],
        transient: Default::default(),
        done: format!("/bpjs?m=claim&id={claim_id}"),
    };
    submit_form(&platform, &gateway, &headers, submission).await
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct DecisionForm {
    csrf: String,
    decision: String,
    value: String,
}

/// BPJS approves (within the tariff of the diagnosis class) or rejects a claim.
pub async fn process_claim(
    State(platform): State<Platform>,
    Extension(gateway): Extension<Gateway>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(form): Form<DecisionForm>,
) -> Result<Response, Stop> {
    let value = if form.decision == "approve" {
        form.value.chars().filter(char::is_ascii_digit).collect()
    } else {
        form.value.trim().to_owned()
    };
    let submission = Submission {
        form: "process",
        csrf: &form.csrf,
        filled: Filled::default(),
        function: "ProcessClaim",
        args: vec![id.clone(), form.decision.clone(), value],
        transient: Default::default(),
        done: format!("/bpjs?m=processed&id={id}"),
    };
    submit_form(&platform, &gateway, &headers, submission).await
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct StatusForm {
    csrf: String,
    nik: String,
    /// `suspend` (value: the reason) or `reactivate` (value: valid until).
    action: String,
    value: String,
}

/// BPJS suspends a card (with a reason) or reactivates it (until a date).
pub async fn change_status(
    State(platform): State<Platform>,
    Extension(gateway): Extension<Gateway>,
    headers: HeaderMap,
    Form(form): Form<StatusForm>,
) -> Result<Response, Stop> {
    let nik = form.nik.trim().to_owned();
    let submission = Submission {
        form: "status",
        csrf: &form.csrf,
        filled: Filled::nik(&nik),
        function: if form.action == "reactivate" {
            "ReactivateCard"
        } else {
            "SuspendCard"
        },
        args: vec![nik.clone(), form.value.trim().to_owned()],
        transient: Default::default(),
        done: format!("/bpjs?nik={nik}&m=status"),
    };
    submit_form(&platform, &gateway, &headers, submission).await
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct ReferralForm {
    csrf: String,
    nik: String,
    to_facility: String,
    reason: String,
}

/// A Puskesmas refers a card holder to another facility.
pub async fn refer(
    State(platform): State<Platform>,
    Extension(gateway): Extension<Gateway>,
    headers: HeaderMap,
    Form(form): Form<ReferralForm>,
) -> Result<Response, Stop> {
    let nik = form.nik.trim().to_owned();
    let referral_id = format!("R-{}", uuid::Uuid::now_v7().simple());
    let submission = Submission {
        form: "referral",
        csrf: &form.csrf,
        filled: Filled::nik(&nik),
        function: "CreateReferral",
        args: vec![
            referral_id.clone(),
            nik.clone(),
            form.to_facility.trim().to_uppercase(),
            form.reason.trim().to_owned(),
        ],
        transient: Default::default(),
        done: format!("/bpjs?m=referred&id={referral_id}"),
    };
    submit_form(&platform, &gateway, &headers, submission).await
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct CsrfForm {
    csrf: String,
}

/// The receiving facility approves a referral.
pub async fn approve_referral(
    State(platform): State<Platform>,
    Extension(gateway): Extension<Gateway>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(form): Form<CsrfForm>,
) -> Result<Response, Stop> {
    let submission = Submission {
        form: "referral",
        csrf: &form.csrf,
        filled: Filled::default(),
        function: "ApproveReferral",
        args: vec![id.clone()],
        transient: Default::default(),
        done: format!("/bpjs?m=referral&id={id}"),
    };
    submit_form(&platform, &gateway, &headers, submission).await
}

// ---------------------------------------------------------------------------------------
// The auditor's explorer

/// How many of the latest blocks the explorer lists.
const LATEST_BLOCKS: u64 = 10;
/// Object types whose history the explorer looks up.
const OBJECT_TYPES: [&str; 3] = ["card", "claim", "referral"];

#[derive(Template)]
#[template(path = "bpjs_ledger.html")]
struct ExplorerPage {
    layout: Layout,
    channel: String,
    height: u64,
    current_hash: String,
    commit_hash: String,
    verified: Option<String>,
    problem: Option<String>,
    /// (number, transactions, hash)
    blocks: Vec<(u64, usize, String)>,
    object_types: [&'static str; 3],
    object_type: String,
    key: String,
    /// (block, tx id, value)
    history: Vec<(u64, String, String)>,
}

async fn explorer_page(
    platform: &Platform,
    gateway: &Gateway,
    context: &Context,
    session: &Session,
    query: &HashMap<String, String>,
    outcome: (Option<String>, Option<String>),
) -> Result<Response, Stop> {
    let principal = crate::reports::principal(platform, session);
    let (info, latest) = warga_ledger::portal::explore(gateway, &principal, LATEST_BLOCKS).await?;
    let object_type = query
        .get("jenis")
        .filter(|t| OBJECT_TYPES.contains(&t.as_str()))
        .cloned()
        .unwrap_or_else(|| "card".to_owned());
    let key = query.get("kunci").map(|k| k.trim().to_owned()).unwrap_or_default();
    let history = if key.is_empty() {
        Vec::new()
    } else {
        warga_ledger::portal::history(gateway, &principal, &object_type, &[key.as_str()])
            .await?
            .into_iter()
            .map(|h| {
                let value = if h["deleted"] == true {
                    "—".to_owned()
                } else {
                    h["value"].to_string()
                };
                (
                    h["block"].as_u64().unwrap_or(0),
                    h["tx_id"].as_str().unwrap_or_default().to_owned(),
                    value,
                )
            })
            .collect()
    };
    let text = |v: &Value, key: &str| v[key].as_str().unwrap_or_default().to_owned();
    let template = ExplorerPage {
        layout: context.layout(),
        channel: text(&info, "channel"),
        height: info["height"].as_u64().unwrap_or(0),
        current_hash: text(&info, "current_hash"),
        commit_hash: text(&info, "commit_hash"),
        verified: outcome.0,
        problem: outcome.1,
        blocks: latest
            .iter()
            .map(|b| {
                (
                    b["number"].as_u64().unwrap_or(0),
                    b["transactions"].as_array().map_or(0, Vec::len),
                    text(b, "hash"),
                )
            })
            .collect(),
        object_types: OBJECT_TYPES,
        object_type,
        key,
        history,
    };
    Ok(page(context, &template, StatusCode::OK))
}

/// The explorer: the channel, its latest blocks, a key's history.
pub async fn explorer(
    State(platform): State<Platform>,
    Extension(gateway): Extension<Gateway>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, Stop> {
    let context = context(&platform, &headers, &query).await?;
    let session = ledger_reader(&context)?;
    explorer_page(&platform, &gateway, &context, session, &query, (None, None)).await
}

/// "Verify this ledger": the peer's chain replayed from its genesis by the gateway.
pub async fn verify(
    State(platform): State<Platform>,
    Extension(gateway): Extension<Gateway>,
    headers: HeaderMap,
    Form(form): Form<CsrfForm>,
) -> Result<Response, Stop> {
    let context = context(&platform, &headers, &HashMap::new()).await?;
    let session = ledger_reader(&context)?;
    if !csrf_matches(session, &form.csrf) {
        return Err(form_expired(&context).into());
    }
    let principal = crate::reports::principal(&platform, session);
    let outcome = match warga_ledger::portal::verify(&gateway, &principal).await? {
        Ok(report) => (
            Some(format!(
                "{} {} · {} · {}",
                context.t("explorer.verified"),
                report.blocks,
                report.transactions,
                report.valid
            )),
            None,
        ),
        Err(problem) => (None, Some(format!("{} {problem}", context.t("explorer.problem")))),
    };
    tracing::info!(verified = outcome.0.is_some(), "the ledger verified from the web");
    explorer_page(&platform, &gateway, &context, session, &HashMap::new(), outcome).await
}

#[derive(Template)]
#[template(path = "bpjs_block.html")]
struct BlockPage {
    layout: Layout,
    number: u64,
    hash: String,
    previous_hash: String,
    data_hash: String,
    commit_hash: String,
    orderer: String,
    /// (tx id, function, creator, endorsers, code, private data's hashes)
    transactions: Vec<(String, String, String, String, String, String)>,
}

/// One block: its hashes and each transaction with its validation code.
pub async fn block(
    State(platform): State<Platform>,
    Extension(gateway): Extension<Gateway>,
    headers: HeaderMap,
    Path(number): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, Stop> {
    let context = context(&platform, &headers, &query).await?;
    let session = ledger_reader(&context)?;
    let Ok(number) = number.parse::<u64>() else {
        return Ok(message(&context, StatusCode::NOT_FOUND, context.t("error.not_found")));
    };
    let principal = crate::reports::principal(&platform, session);
    let block = match warga_ledger::portal::block(&gateway, &principal, number).await {
        Ok(block) => block,
        Err(ApiError::NotFound(_)) => {
            return Ok(message(&context, StatusCode::NOT_FOUND, context.t("error.not_found")));
        }
        Err(other) => return Err(other.into()),
    };
    let text = |v: &Value, key: &str| v[key].as_str().unwrap_or_default().to_owned();
    let template = BlockPage {
        layout: context.layout(),
        number,
        hash: text(&block, "hash"),
        previous_hash: text(&block, "previous_hash"),
        data_hash: text(&block, "data_hash"),
        commit_hash: text(&block, "commit_hash"),
        orderer: text(&block, "orderer"),
        transactions: block["transactions"]
            .as_array()
            .map(|txs| {
                txs.iter()
                    .map(|t| {
                        let endorsers: Vec<&str> = t["endorsers"]
                            .as_array()
                            .map(|e| e.iter().filter_map(Value::as_str).collect())
                            .unwrap_or_default();
                        // Each collection written, with the first bytes of its value hashes.
                        let private: Vec<String> = t["private"]
                            .as_array()
                            .map(|collections| {
                                collections
                                    .iter()
                                    .map(|c| {
                                        let hashes: Vec<String> = c["writes"]
                                            .as_array()
                                            .map(|w| {
                                                w.iter()
                                                    .map(|w| {
                                                        let hash = w["value_hash"].as_str().unwrap_or("—");
                                                        format!("{}…", &hash[..hash.len().min(12)])
                                                    })
                                                    .collect()
                                            })
                                            .unwrap_or_default();
                                        format!("{}: {}", text(c, "collection"), hashes.join(", "))
                                    })
                                    .collect()
                            })
                            .unwrap_or_default();
                        (
                            text(t, "tx_id"),
                            text(t, "function"),
                            text(t, "creator"),
                            endorsers.join(", "),
                            text(t, "code"),
                            private.join("; "),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default(),
    };
    Ok(page(&context, &template, StatusCode::OK))
}
