//! Screens of JagaWarga: a citizen reports a problem (with photos, publicly, privately or
//! anonymously), follows their reports and notifications, supports public reports, and
//! follows an anonymous report by its receipt code without signing in; a department's
//! officers work through their queue and act on a report (a photo with the resolution).
//!
//! Every screen calls the reports library with the signed-in account as its principal, so
//! it carries the same checks (isolation between departments, the reporter's link to a
//! resident, scrubbing, the anonymous quota), audit records and events as the API. Forms
//! with photos are `multipart/form-data`; the rest are plain forms. No client script: the
//! queue refreshes itself every 30 seconds, and region pickers cascade through the server.

use std::collections::{BTreeSet, HashMap};

use askama::Template;
use axum::Form;
use axum::extract::{Multipart, Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use serde::Deserialize;
use warga_core::identity::{Principal, PrincipalKind, Role};
use warga_core::time::format_wib;
use warga_http::{ApiError, Platform};
use warga_reports::attachments::Upload;
use warga_reports::categories::{CATEGORIES, TOP_AUTHORITY};
use warga_reports::reports::{self, Action, FeedQuery, NewReport, ReportView, Triage, Visibility};
use warga_reports::{ReportsError, inbox};

use crate::population::{Choice, RegionPicker, picker};
use crate::{Context, Layout, Session, Stop, context, csrf_matches, message, page, see_other};

/// The signed-in account as the reports library's principal.
pub(crate) fn principal(platform: &Platform, session: &Session) -> Principal {
    let account = &session.account;
    Principal {
        subject: account.id.clone(),
        kind: PrincipalKind::User,
        username: Some(account.username.clone()),
        roles: account.roles.iter().copied().collect::<BTreeSet<_>>(),
        department: account.department_id.clone(),
        level: account.officer_level,
        msp_id: account.msp_id.clone(),
        facility: account.facility.clone(),
        client_id: Some(warga_identity::WEB_CLIENT_ID.to_owned()),
        token_id: None,
        issuer: platform.public_url.clone(),
        expires_at: i64::MAX,
    }
}

fn signed_in(context: &Context) -> Result<&Session, Stop> {
    context
        .session
        .as_ref()
        .ok_or_else(|| Stop::Page(Box::new(see_other("/masuk"))))
}

fn citizen(context: &Context) -> Result<&Session, Stop> {
    let session = signed_in(context)?;
    if session.account.roles.contains(&Role::Citizen) {
        Ok(session)
    } else {
        Err(Stop::Page(Box::new(message(
            context,
            StatusCode::FORBIDDEN,
            context.t("error.role"),
        ))))
    }
}

fn department_officer(context: &Context) -> Result<&Session, Stop> {
    let session = signed_in(context)?;
    if session.account.roles.contains(&Role::Officer) && session.account.department_id.is_some() {
        Ok(session)
    } else {
        Err(Stop::Page(Box::new(message(
            context,
            StatusCode::FORBIDDEN,
            context.t("error.role"),
        ))))
    }
}

/// A refusal the user can act on (a field, a state), or an error that is not theirs.
fn refusal(error: ReportsError) -> Result<(String, String, StatusCode), Stop> {
    match error {
        ReportsError::Invalid { field, detail } => Ok((field, detail, StatusCode::BAD_REQUEST)),
        ReportsError::Conflict(detail) => Ok((String::new(), detail, StatusCode::CONFLICT)),
        ReportsError::Forbidden(detail) => Ok((String::new(), detail, StatusCode::FORBIDDEN)),
        ReportsError::TooMany(detail) => Ok((String::new(), detail, StatusCode::TOO_MANY_REQUESTS)),
        other => Err(Stop::Error(ApiError::from(other))),
    }
}

/// [`refusal`] as one line, the field first.
fn refusal_text(error: ReportsError) -> Result<(String, StatusCode), Stop> {
    let (field, text, status) = refusal(error)?;
    Ok((
        if field.is_empty() {
            text
        } else {
            format!("{field}: {text}")
        },
        status,
    ))
}

fn status_label(context: &Context, status: &str) -> String {
    crate::i18n::Tr(context.lang)
        .find(&format!("report.status.{status}"))
        .map_or_else(|| status.to_owned(), str::to_owned)
}

fn category_name(context: &Context, id: &str) -> String {
    CATEGORIES
        .iter()
        .find(|c| c.id == id)
        .map(|c| {
            if context.lang.code() == "en" {
                c.name_en.to_owned()
            } else {
                c.name.to_owned()
            }
        })
        .unwrap_or_else(|| id.to_owned())
}

fn category_choices(context: &Context, selected: &str) -> Vec<Choice> {
    CATEGORIES
        .iter()
        .map(|c| Choice {
            value: c.id.to_owned(),
            label: category_name(context, c.id),
            selected: c.id == selected,
        })
        .collect()
}

/// A report as a page shows it.
pub struct ReportItem {
    id: String,
    title: String,
    description: String,
    category: String,
    department: String,
    status: String,
    status_label: String,
    visibility: &'static str,
    place: String,
    upvotes: i64,
    escalation_level: i64,
    created: String,
    timeline: Vec<Step>,
    photos: Vec<PhotoItem>,
}

pub struct Step {
    label: String,
    note: String,
    internal: bool,
    department: String,
    at: String,
}

pub struct PhotoItem {
    url: String,
    number: i64,
    from_department: bool,
}

impl ReportItem {
    fn of(context: &Context, report: ReportView) -> ReportItem {
        let id = report.id.clone();
        ReportItem {
            status_label: status_label(context, &report.status),
            category: category_name(context, &report.category),
            visibility: match report.visibility {
                Visibility::Public => context.t("report.visibility.public"),
                Visibility::Private => context.t("report.visibility.private"),
                Visibility::Anonymous => context.t("report.visibility.anonymous"),
            },
            place: warga_population::search::place_name(&report.district),
            created: format_wib(report.created_at_ms),
            timeline: report
                .timeline
                .into_iter()
                .map(|step| Step {
                    label: status_label(context, &step.status),
                    note: step.note.unwrap_or_default(),
                    internal: step.internal,
                    department: step.department.unwrap_or_default(),
                    at: format_wib(step.at_ms),
                })
                .collect(),
            photos: report
                .photos
                .iter()
                .map(|p| PhotoItem {
                    url: format!("/laporan/{id}/foto/{}", p.number),
                    number: p.number,
                    from_department: p.source == "department",
                })
                .collect(),
            id,
            title: report.title,
            description: report.description,
            department: warga_reports::categories::department_name(&report.department).to_owned(),
            status: report.status,
            upvotes: report.upvotes,
            escalation_level: report.escalation_level,
        }
    }
}

// ---------------------------------------------------------------------------------------
// Filing a report

/// What the report form holds, kept when it comes back with an error.
#[derive(Default)]
pub struct ReportForm {
    title: String,
    description: String,
    category: String,
    latitude: String,
    longitude: String,
    visibility: String,
}

#[derive(Template)]
#[template(path = "report_new.html")]
struct NewReportPage {
    layout: Layout,
    form: ReportForm,
    categories: Vec<Choice>,
    regions: RegionPicker,
    error_field: String,
    error_text: String,
    max_photos: usize,
    max_mb: usize,
}

fn new_report_page(
    context: &Context,
    platform: &Platform,
    form: ReportForm,
    regions: (&str, &str, &str),
    error: Option<(String, String)>,
    status: StatusCode,
) -> Response {
    let (error_field, error_text) = error.unwrap_or_default();
    let settings = platform.config.section::<warga_reports::config::ReportsConfig>();
    let template = NewReportPage {
        layout: context.layout(),
        categories: category_choices(context, &form.category),
        form,
        regions: picker(regions.0, regions.1, regions.2),
        error_field,
        error_text,
        max_photos: warga_reports::attachments::MAX_PHOTOS,
        max_mb: settings.photo_max_bytes.div_ceil(1024 * 1024),
    };
    // The one page with a script: warga's own "use my location" (never inline script).
    let policy = warga_http::web::PagePolicy {
        own_scripts: true,
        ..warga_http::web::PagePolicy::default()
    };
    crate::page_with(context, &template, status, policy)
}

pub async fn new_report_form(
    State(platform): State<Platform>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, Stop> {
    let context = context(&platform, &headers, &query).await?;
    citizen(&context)?;
    let form = ReportForm {
        visibility: "public".into(),
        ..ReportForm::default()
    };
    Ok(new_report_page(
        &context,
        &platform,
        form,
        ("", "", ""),
        None,
        StatusCode::OK,
    ))
}

/// A multipart form's text fields and its photos (empty file inputs skipped).
async fn read_form(mut multipart: Multipart) -> Result<(HashMap<String, String>, Vec<Upload>), ApiError> {
    let mut fields = HashMap::new();
    let mut photos = Vec::new();
    let bad = |e: axum::extract::multipart::MultipartError| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::PayloadTooLarge
        } else {
            ApiError::BadRequest(format!("formulir tidak valid: {}", e.body_text()))
        }
    };
    let mut parts = 0;
    while let Some(field) = multipart.next_field().await.map_err(bad)? {
        parts += 1;
        if parts > 32 {
            return Err(ApiError::validation("body", "formulir terlalu banyak bagian"));
        }
        let name = field.name().unwrap_or_default().to_owned();
        let is_file = field.file_name().is_some();
        let bytes = field.bytes().await.map_err(bad)?;
        if name == "photos" && is_file {
            if !bytes.is_empty() {
                photos.push(Upload {
                    field: format!("photos[{}]", photos.len()),
                    bytes,
                });
            }
        } else if !is_file {
            let text = String::from_utf8(bytes.to_vec())
                .map_err(|_| ApiError::validation(name.clone(), "teks bukan UTF-8"))?;
            fields.insert(name, text);
        }
    }
    Ok((fields, photos))
}

pub async fn submit_report(
    State(platform): State<Platform>,
    headers: HeaderMap,
    multipart: Multipart,
) -> Result<Response, Stop> {
    let context = context(&platform, &headers, &HashMap::new()).await?;
    let session = citizen(&context)?;
    let (fields, photos) = read_form(multipart).await?;
    let get = |name: &str| fields.get(name).cloned().unwrap_or_default();
    if !csrf_matches(session, &get("csrf")) {
        return Ok(message(&context, StatusCode::FORBIDDEN, context.t("error.form")));
    }
    let form = ReportForm {
        title: get("title"),
        description: get("description"),
        category: get("category"),
        latitude: get("latitude"),
        longitude: get("longitude"),
        visibility: get("visibility"),
    };
    let (province, regency, district) = (get("province"), get("regency"), get("district"));
    let regions = (province.as_str(), regency.as_str(), district.as_str());
    if get("action") == "pick" {
        return Ok(new_report_page(
            &context,
            &platform,
            form,
            regions,
            None,
            StatusCode::OK,
        ));
    }
    let coordinate = |name: &str, text: &str| {
        text.trim()
            .replace(',', ".")
            .parse::<f64>()
            .map_err(|_| (name.to_owned(), context.t("report.error.coordinate").to_owned()))
    };
    let parsed = coordinate("latitude", &form.latitude)
        .and_then(|lat| coordinate("longitude", &form.longitude).map(|long| (lat, long)));
    let (latitude, longitude) = match parsed {
        Ok(point) => point,
        Err(error) => {
            return Ok(new_report_page(
                &context,
                &platform,
                form,
                regions,
                Some(error),
                StatusCode::BAD_REQUEST,
            ));
        }
    };
    let visibility = match form.visibility.as_str() {
        "private" => Visibility::Private,
        "anonymous" => Visibility::Anonymous,
        _ => Visibility::Public,
    };
    let new = NewReport {
        title: form.title.clone(),
        description: form.description.clone(),
        category: form.category.clone(),
        latitude,
        longitude,
        district: district.clone(),
        visibility,
    };
    let settings = platform.config.section::<warga_reports::config::ReportsConfig>();
    let principal = principal(&platform, session);
    match reports::submit(&platform, &principal, &new, photos, &settings, None).await {
        Ok(submitted) => match submitted.receipt {
            Some(code) => {
                let template = ReceiptPage {
                    layout: context.layout(),
                    code,
                };
                Ok(page(&context, &template, StatusCode::CREATED))
            }
            None => Ok(see_other(&format!("/laporan/{}?m=submitted", submitted.report.id))),
        },
        Err(error) => {
            let (field, text, status) = refusal(error)?;
            Ok(new_report_page(
                &context,
                &platform,
                form,
                regions,
                Some((field, text)),
                status,
            ))
        }
    }
}

/// The receipt code of an anonymous report, shown once.
#[derive(Template)]
#[template(path = "report_receipt.html")]
struct ReceiptPage {
    layout: Layout,
    code: String,
}

// ---------------------------------------------------------------------------------------
// The citizen's reports and notifications

#[derive(Template)]
#[template(path = "reports_mine.html")]
struct MinePage {
    layout: Layout,
    reports: Vec<ReportItem>,
    unread: i64,
    notifications: Vec<NotificationItem>,
    contact: ContactForm,
    /// The deployment has a mail server: the e-mail field is offered.
    email_available: bool,
    notice: Option<String>,
    error_field: String,
    error_text: String,
}

pub struct NotificationItem {
    report_id: String,
    message: String,
    at: String,
    read: bool,
}

/// The citizen's contact for updates, as the form holds it.
#[derive(Debug, Default, Deserialize)]
pub struct ContactForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    phone: String,
    #[serde(default)]
    email: String,
}

async fn mine_page(
    context: &Context,
    platform: &Platform,
    contact: Option<ContactForm>,
    notice: Option<String>,
    error: Option<(String, String, StatusCode)>,
) -> Result<Response, Stop> {
    let session = citizen(context)?;
    let reports = reports::mine(platform, &session.account.id)
        .await
        .map_err(ApiError::from)?;
    let inbox = inbox::inbox(platform, &session.account.id)
        .await
        .map_err(ApiError::from)?;
    let contact = match contact {
        Some(form) => form,
        None => {
            let stored = warga_reports::contacts::get(platform, &session.account.id)
                .await
                .map_err(ApiError::from)?;
            ContactForm {
                csrf: String::new(),
                phone: stored.phone.unwrap_or_default(),
                email: stored.email.unwrap_or_default(),
            }
        }
    };
    let (error_field, error_text, status) = error.unwrap_or((String::new(), String::new(), StatusCode::OK));
    let template = MinePage {
        layout: context.layout(),
        reports: reports.into_iter().map(|r| ReportItem::of(context, r)).collect(),
        unread: inbox.unread,
        notifications: inbox
            .notifications
            .into_iter()
            .map(|n| NotificationItem {
                report_id: n.report_id,
                message: n.message,
                at: format_wib(n.at_ms),
                read: n.read,
            })
            .collect(),
        contact,
        email_available: platform
            .config
            .section::<warga_reports::config::ReportsConfig>()
            .email
            .smtp_url
            .is_some(),
        notice,
        error_field,
        error_text,
    };
    Ok(page(context, &template, status))
}

pub async fn mine(
    State(platform): State<Platform>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, Stop> {
    let context = context(&platform, &headers, &query).await?;
    let notice = query.get("kontak").map(|_| context.t("contact.saved").to_owned());
    mine_page(&context, &platform, None, notice, None).await
}

/// Saves (or, emptied, removes) where the citizen receives updates.
pub async fn save_contact(
    State(platform): State<Platform>,
    headers: HeaderMap,
    Form(form): Form<ContactForm>,
) -> Result<Response, Stop> {
    let context = context(&platform, &headers, &HashMap::new()).await?;
    let session = citizen(&context)?;
    if !csrf_matches(session, &form.csrf) {
        return Ok(message(&context, StatusCode::FORBIDDEN, context.t("error.form")));
    }
    let principal = principal(&platform, session);
    let contact = warga_reports::contacts::Contact {
        phone: Some(form.phone.clone()),
        email: Some(form.email.clone()),
    };
    match warga_reports::contacts::set(&platform, &principal, contact).await {
        Ok(_) => Ok(see_other("/laporan?kontak=1#kontak")),
        Err(error) => {
            let (field, text, status) = refusal(error)?;
            mine_page(&context, &platform, Some(form), None, Some((field, text, status))).await
        }
    }
}

#[derive(Debug, Deserialize)]
pub struct CsrfOnly {
    csrf: String,
}

pub async fn read_inbox(
    State(platform): State<Platform>,
    headers: HeaderMap,
    Form(form): Form<CsrfOnly>,
) -> Result<Response, Stop> {
    let context = context(&platform, &headers, &HashMap::new()).await?;
    let session = citizen(&context)?;
    if !csrf_matches(session, &form.csrf) {
        return Ok(message(&context, StatusCode::FORBIDDEN, context.t("error.form")));
    }
    inbox::mark_read(&platform, &session.account.id)
        .await
        .map_err(ApiError::from)?;
    Ok(see_other("/laporan"))
}

// ---------------------------------------------------------------------------------------
// One report

#[derive(Template)]
#[template(path = "report.html")]
struct ReportPage {
    layout: Layout,
    report: ReportItem,
    notice: Option<String>,
    error: Option<String>,
    is_reporter: bool,
    can_vote: bool,
    /// The officer's department acts on it now.
    can_triage: bool,
    departments: Vec<Choice>,
}

async fn report_page(
    context: &Context,
    platform: &Platform,
    id: &str,
    notice: Option<String>,
    error: Option<(String, StatusCode)>,
) -> Result<Response, Stop> {
    let viewer = context.session.as_ref().map(|s| principal(platform, s));
    let report = match reports::get(platform, viewer.as_ref(), id).await {
        Ok(report) => report,
        Err(ReportsError::NotFound) => {
            return Ok(message(context, StatusCode::NOT_FOUND, context.t("error.not_found")));
        }
        Err(other) => return Err(Stop::Error(other.into())),
    };
    let session = context.session.as_ref();
    let is_reporter = match session {
        Some(s) if report.visibility != Visibility::Anonymous => reports::is_reporter(platform, &s.account.id, id)
            .await
            .map_err(ApiError::from)?,
        _ => false,
    };
    let department = session.and_then(|s| s.account.department_id.clone());
    let can_triage = session.is_some_and(|s| s.account.roles.contains(&Role::Officer))
        && match department.as_deref() {
            Some(TOP_AUTHORITY) => report.escalation_level >= 2,
            Some(d) => d == report.department,
            None => false,
        };
    let can_vote =
        report.visibility == Visibility::Public && session.is_some_and(|s| s.account.roles.contains(&Role::Citizen));
    let departments = warga_reports::categories::DEPARTMENTS
        .iter()
        .filter(|(d, _)| *d != report.department)
        .map(|(id, name)| Choice {
            value: (*id).to_owned(),
            label: (*name).to_owned(),
            selected: false,
        })
        .collect();
    let status = error.as_ref().map_or(StatusCode::OK, |(_, s)| *s);
    let template = ReportPage {
        layout: context.layout(),
        report: ReportItem::of(context, report),
        notice,
        error: error.map(|(text, _)| text),
        is_reporter,
        can_vote,
        can_triage,
        departments,
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
    let notice = match query.get("m").map(String::as_str) {
        Some("submitted") => Some(context.t("report.submitted").to_owned()),
        Some("done") => Some(context.t("report.done").to_owned()),
        _ => None,
    };
    report_page(&context, &platform, &id, notice, None).await
}

/// A report's photo for the signed-in reader (or anyone, for a public report).
pub async fn photo(
    State(platform): State<Platform>,
    headers: HeaderMap,
    Path((id, number)): Path<(String, i64)>,
) -> Result<Response, Stop> {
    let context = context(&platform, &headers, &HashMap::new()).await?;
    let viewer = context.session.as_ref().map(|s| principal(&platform, s));
    let (content_type, bytes) = reports::photo(&platform, viewer.as_ref(), &id, number)
        .await
        .map_err(ApiError::from)?;
    Ok(warga_reports::photo_response(content_type, bytes))
}

#[derive(Debug, Deserialize)]
pub struct NoteForm {
    csrf: String,
    #[serde(default)]
    note: String,
}

/// The reporter withdraws, answers, or (un)supports: one handler per button.
pub async fn withdraw(
    State(platform): State<Platform>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(form): Form<NoteForm>,
) -> Result<Response, Stop> {
    citizen_step(&platform, &headers, &id, &form, |platform, principal, id, _| {
        Box::pin(async move { reports::withdraw(platform, principal, id).await.map(|_| ()) })
    })
    .await
}

pub async fn answer(
    State(platform): State<Platform>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(form): Form<NoteForm>,
) -> Result<Response, Stop> {
    citizen_step(&platform, &headers, &id, &form, |platform, principal, id, note| {
        Box::pin(async move {
            reports::reply(platform, reports::Replier::Reporter(principal), id, note)
                .await
                .map(|_| ())
        })
    })
    .await
}

pub async fn vote(
    State(platform): State<Platform>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(form): Form<NoteForm>,
) -> Result<Response, Stop> {
    // `note` carries the choice: "up" or "down".
    citizen_step(&platform, &headers, &id, &form, |platform, principal, id, note| {
        let up = note != "down";
        Box::pin(async move { reports::vote(platform, principal, id, up).await.map(|_| ()) })
    })
    .await
}

type StepFuture<'a> = std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), ReportsError>> + Send + 'a>>;

async fn citizen_step(
    platform: &Platform,
    headers: &HeaderMap,
    id: &str,
    form: &NoteForm,
    step: impl for<'a> FnOnce(&'a Platform, &'a Principal, &'a str, &'a str) -> StepFuture<'a>,
) -> Result<Response, Stop> {
    let context = context(platform, headers, &HashMap::new()).await?;
    let session = citizen(&context)?;
    if !csrf_matches(session, &form.csrf) {
        return Ok(message(&context, StatusCode::FORBIDDEN, context.t("error.form")));
    }
    let principal = principal(platform, session);
    match step(platform, &principal, id, &form.note).await {
        Ok(()) => Ok(see_other(&format!("/laporan/{id}?m=done"))),
        Err(error) => {
            let (text, status) = refusal_text(error)?;
            report_page(&context, platform, id, None, Some((text, status))).await
        }
    }
}

/// An officer's step on a report (multipart: a resolution may carry a photo).
pub async fn act(
    State(platform): State<Platform>,
    headers: HeaderMap,
    Path(id): Path<String>,
    multipart: Multipart,
) -> Result<Response, Stop> {
    let context = context(&platform, &headers, &HashMap::new()).await?;
    let session = department_officer(&context)?;
    let (fields, photos) = read_form(multipart).await?;
    let get = |name: &str| fields.get(name).cloned().unwrap_or_default();
    if !csrf_matches(session, &get("csrf")) {
        return Ok(message(&context, StatusCode::FORBIDDEN, context.t("error.form")));
    }
    let action: Result<Action, _> = serde_json::from_value(serde_json::Value::String(get("action")));
    let Ok(action) = action else {
        let text = context.t("report.error.action").to_owned();
        return report_page(&context, &platform, &id, None, Some((text, StatusCode::BAD_REQUEST))).await;
    };
    let note = get("note");
    let target = get("department");
    let step = Triage {
        action,
        note: Some(note).filter(|n| !n.trim().is_empty()),
        internal: get("internal") == "on",
        department: Some(target).filter(|d| !d.is_empty() && matches!(action, Action::NotOurs)),
    };
    let principal = principal(&platform, session);
    match reports::triage(&platform, &principal, &id, &step, photos).await {
        Ok(_) => Ok(see_other(&format!("/laporan/{id}?m=done"))),
        Err(error) => {
            let (text, status) = refusal_text(error)?;
            report_page(&context, &platform, &id, None, Some((text, status))).await
        }
    }
}

// ---------------------------------------------------------------------------------------
// The public feed

#[derive(Template)]
#[template(path = "reports_feed.html")]
struct FeedPage {
    layout: Layout,
    reports: Vec<ReportItem>,
    categories: Vec<Choice>,
    statuses: Vec<Choice>,
    sort_upvotes: bool,
    next: Option<String>,
    error: Option<String>,
}

const FEED_STATUSES: &[&str] = &["submitted", "acknowledged", "in_progress", "resolved", "rejected"];

pub async fn feed(
    State(platform): State<Platform>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, Stop> {
    let context = context(&platform, &headers, &query).await?;
    let pick = |name: &str| query.get(name).filter(|v| !v.is_empty()).cloned();
    let feed_query = FeedQuery {
        category: pick("kategori"),
        status: pick("status"),
        sort: pick("urut"),
        cursor: pick("kursor"),
        limit: Some(20),
        ..FeedQuery::default()
    };
    let (reports, next, error) = match reports::feed(&platform, &feed_query).await {
        Ok(page) => (page.reports, page.next, None),
        Err(ReportsError::Invalid { field, detail }) => (Vec::new(), None, Some(format!("{field}: {detail}"))),
        Err(other) => return Err(Stop::Error(other.into())),
    };
    let next = next.map(|cursor| {
        let mut params: Vec<(&str, String)> = vec![("kursor", cursor)];
        for name in ["kategori", "status", "urut"] {
            if let Some(value) = pick(name) {
                params.push((name, value));
            }
        }
        serde_urlencoded::to_string(params).unwrap_or_default()
    });
    let status = if error.is_some() {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    let template = FeedPage {
        layout: context.layout(),
        reports: reports.into_iter().map(|r| ReportItem::of(&context, r)).collect(),
        categories: category_choices(&context, query.get("kategori").map_or("", String::as_str)),
        statuses: FEED_STATUSES
            .iter()
            .map(|s| Choice {
                value: (*s).to_owned(),
                label: status_label(&context, s),
                selected: query.get("status").is_some_and(|v| v == s),
            })
            .collect(),
        sort_upvotes: query.get("urut").is_some_and(|v| v == "upvotes"),
        next,
        error,
    };
    Ok(page(&context, &template, status))
}

// ---------------------------------------------------------------------------------------
// Following an anonymous report by its receipt

#[derive(Template)]
#[template(path = "report_follow.html")]
struct FollowPage {
    layout: Layout,
    form_csrf: String,
    code: String,
    report: Option<ReportItem>,
    error: Option<String>,
    notice: Option<String>,
}

const FOLLOW_COOKIE: &str = "__Host-warga_form";

fn follow_page(
    context: &Context,
    code: String,
    report: Option<ReportItem>,
    error: Option<String>,
    notice: Option<String>,
    status: StatusCode,
) -> Result<Response, Stop> {
    let form_csrf = warga_auth::random_token(24).map_err(ApiError::from)?;
    let template = FollowPage {
        layout: context.layout(),
        form_csrf: form_csrf.clone(),
        code,
        report,
        error,
        notice,
    };
    let mut response = page(context, &template, status);
    response.headers_mut().append(
        header::SET_COOKIE,
        warga_http::web::set_cookie(FOLLOW_COOKIE, &form_csrf, 3_600),
    );
    // The code is in the form, never in a URL; the page is not kept by the browser.
    Ok(response)
}

pub async fn follow_form(
    State(platform): State<Platform>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, Stop> {
    let context = context(&platform, &headers, &query).await?;
    follow_page(&context, String::new(), None, None, None, StatusCode::OK)
}

#[derive(Debug, Deserialize)]
pub struct FollowForm {
    csrf: String,
    code: String,
    #[serde(default)]
    note: String,
    #[serde(default)]
    action: String,
}

pub async fn follow(
    State(platform): State<Platform>,
    headers: HeaderMap,
    Form(form): Form<FollowForm>,
) -> Result<Response, Stop> {
    let context = context(&platform, &headers, &HashMap::new()).await?;
    if !warga_http::web::double_submit_matches(&headers, FOLLOW_COOKIE, &form.csrf) {
        return follow_page(
            &context,
            String::new(),
            None,
            Some(context.t("error.form").into()),
            None,
            StatusCode::BAD_REQUEST,
        );
    }
    let code = form.code.trim().to_owned();
    let mut notice = None;
    if form.action == "reply" {
        let id = code.split('.').next().unwrap_or_default().to_owned();
        match reports::reply(&platform, reports::Replier::Receipt(&code), &id, &form.note).await {
            Ok(_) => notice = Some(context.t("report.done").to_owned()),
            Err(error) => {
                let (text, status) = refusal_text(error)?;
                return follow_page(&context, code, None, Some(text), None, status);
            }
        }
    }
    match reports::by_receipt(&platform, &code).await {
        Ok(report) => {
            let item = ReportItem::of(&context, report);
            follow_page(&context, code, Some(item), None, notice, StatusCode::OK)
        }
        Err(error) => {
            let (_, text, status) = refusal(error)?;
            follow_page(&context, String::new(), None, Some(text), None, status)
        }
    }
}

// ---------------------------------------------------------------------------------------
// The department's queue

#[derive(Template)]
#[template(path = "department_queue.html")]
struct QueuePage {
    layout: Layout,
    department: String,
    reports: Vec<ReportItem>,
    statuses: Vec<Choice>,
    alerts: Vec<NotificationItem>,
}

pub async fn queue(
    State(platform): State<Platform>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, Stop> {
    let context = context(&platform, &headers, &query).await?;
    let session = department_officer(&context)?;
    let principal = principal(&platform, session);
    let status = query.get("status").filter(|s| !s.is_empty()).cloned();
    let reports = reports::queue(&platform, &principal, status.as_deref())
        .await
        .map_err(ApiError::from)?;
    let alerts = inbox::officer_inbox(&platform, &principal)
        .await
        .map_err(ApiError::from)?;
    let template = QueuePage {
        layout: context.layout(),
        department: principal.department.clone().unwrap_or_default(),
        reports: reports.into_iter().map(|r| ReportItem::of(&context, r)).collect(),
        statuses: reports::OPEN_STATUSES
            .iter()
            .chain(["resolved", "rejected"].iter())
            .map(|s| Choice {
                value: (*s).to_owned(),
                label: status_label(&context, s),
                selected: status.as_deref() == Some(*s),
            })
            .collect(),
        alerts: alerts
            .into_iter()
            .take(20)
            .map(|n| NotificationItem {
                report_id: n.report_id,
                message: n.message,
                at: format_wib(n.at_ms),
                read: false,
            })
            .collect(),
    };
    let mut response = page(&context, &template, StatusCode::OK);
    // The queue stays current without script.
    response
        .headers_mut()
        .insert("refresh", axum::http::HeaderValue::from_static("30"));
    Ok(response)
}

// ---------------------------------------------------------------------------------------
// The dashboard: a department's, or every department's for the mayor's office

use crate::charts::{Chart, LineChart, chart, counts, lines};
use warga_reports::analytics::{self, AnalyticsQuery};

fn officer_or_admin(context: &Context) -> Result<&Session, Stop> {
    let session = signed_in(context)?;
    let roles = &session.account.roles;
    if roles.contains(&Role::Admin) || (roles.contains(&Role::Officer) && session.account.department_id.is_some()) {
        Ok(session)
    } else {
        Err(Stop::Page(Box::new(message(
            context,
            StatusCode::FORBIDDEN,
            context.t("error.role"),
        ))))
    }
}

fn analytics_query(query: &HashMap<String, String>) -> AnalyticsQuery {
    let pick = |name: &str| query.get(name).filter(|v| !v.is_empty()).cloned();
    AnalyticsQuery {
        from: pick("dari"),
        to: pick("sampai"),
        department: pick("dinas"),
        ..AnalyticsQuery::default()
    }
}

/// One department's row of a week.
pub struct WeekRow {
    department: String,
    week: String,
    filed: i64,
    backlog: i64,
    escalations: i64,
    compliance: String,
}

#[derive(Template)]
#[template(path = "dashboard.html")]
struct DashboardPage {
    layout: Layout,
    from: String,
    to: String,
    departments: Vec<Choice>,
    all_departments: bool,
    total: i64,
    open: i64,
    escalated: i64,
    compliance: String,
    response: String,
    resolution: String,
    charts: Vec<Chart>,
    /// The departments over time: filed, and deadlines met, week by week.
    trends: Vec<LineChart>,
    weeks: Vec<WeekRow>,
    query: String,
    error: Option<String>,
}

fn hours(value: Option<f64>) -> String {
    value.map_or_else(|| "–".to_owned(), |h| format!("{h:.1} jam"))
}

fn percent(value: Option<f64>) -> String {
    value.map_or_else(|| "–".to_owned(), |p| format!("{p:.0}%"))
}

pub async fn dashboard(
    State(platform): State<Platform>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, Stop> {
    let context = context(&platform, &headers, &query).await?;
    let session = officer_or_admin(&context)?;
    let principal = principal(&platform, session);
    let asked = analytics_query(&query);
    let all_departments = analytics::scope(&principal).map_err(ApiError::from)?.is_none();
    let (summary, trends) = match analytics::summary(&platform, &principal, &asked).await {
        Ok(summary) => (
            summary,
            analytics::departments(&platform, &principal, &asked)
                .await
                .map_err(ApiError::from)?,
        ),
        Err(ReportsError::Invalid { field, detail }) => {
            let retry = analytics::summary(&platform, &principal, &AnalyticsQuery::default())
                .await
                .map_err(ApiError::from)?;
            let trends = analytics::departments(&platform, &principal, &AnalyticsQuery::default())
                .await
                .map_err(ApiError::from)?;
            return Ok(dashboard_page(
                &context,
                retry,
                trends,
                all_departments,
                &HashMap::new(),
                Some(format!("{field}: {detail}")),
            ));
        }
        Err(other) => return Err(Stop::Error(other.into())),
    };
    Ok(dashboard_page(&context, summary, trends, all_departments, &query, None))
}

fn dashboard_page(
    context: &Context,
    summary: analytics::Summary,
    trends: Vec<analytics::DepartmentTrend>,
    all_departments: bool,
    query: &HashMap<String, String>,
    error: Option<String>,
) -> Response {
    let per_department =
        |title: &str, value: fn(&analytics::DepartmentTrend) -> Option<f64>, shown: fn(Option<f64>) -> String| {
            chart(
                title,
                trends
                    .iter()
                    .map(|t| (t.name.clone(), value(t).unwrap_or(0.0), shown(value(t)), None))
                    .collect(),
            )
        };
    let charts = vec![
        per_department(context.t("dashboard.compliance"), |t| t.compliance_percent, percent),
        per_department(
            context.t("dashboard.median_response"),
            |t| t.median_response_hours,
            hours,
        ),
        per_department(
            context.t("dashboard.median_resolution"),
            |t| t.median_resolution_hours,
            hours,
        ),
        per_department(
            context.t("dashboard.backlog"),
            |t| Some(t.backlog as f64),
            |v| format!("{}", v.unwrap_or(0.0) as i64),
        ),
        per_department(
            context.t("dashboard.escalations"),
            |t| Some(t.escalations as f64),
            |v| format!("{}", v.unwrap_or(0.0) as i64),
        ),
        counts(
            context.t("dashboard.by_category"),
            summary
                .by_category
                .iter()
                .map(|c| (category_name(context, &c.key), c.count, None))
                .collect(),
        ),
        counts(
            context.t("dashboard.by_status"),
            summary
                .by_status
                .iter()
                .map(|c| (status_label(context, &c.key), c.count, None))
                .collect(),
        ),
        counts(
            context.t("dashboard.by_district"),
            summary
                .by_district
                .iter()
                .take(15)
                .map(|c| (format!("{} ({})", c.name, c.key), c.count, None))
                .collect(),
        ),
    ];
    let week_labels: Vec<String> = trends
        .first()
        .map(|t| t.weeks.iter().map(|w| w.week[5..].to_owned()).collect())
        .unwrap_or_default();
    let over_time = vec![
        lines(
            context.t("dashboard.filed_weekly"),
            &week_labels,
            trends
                .iter()
                .map(|t| (t.name.clone(), t.weeks.iter().map(|w| Some(w.filed as f64)).collect()))
                .collect(),
            None,
        ),
        lines(
            context.t("dashboard.compliance_weekly"),
            &week_labels,
            trends
                .iter()
                .map(|t| (t.name.clone(), t.weeks.iter().map(|w| w.compliance_percent).collect()))
                .collect(),
            Some(100.0),
        ),
    ];
    let weeks = trends
        .iter()
        .flat_map(|t| {
            t.weeks.iter().map(|w| WeekRow {
                department: t.name.clone(),
                week: w.week.clone(),
                filed: w.filed,
                backlog: w.backlog,
                escalations: w.escalations,
                compliance: percent(w.compliance_percent),
            })
        })
        .collect();
    let selected = query.get("dinas").cloned().unwrap_or_default();
    let params: Vec<(&str, &str)> = [("dari", &summary.from), ("sampai", &summary.to)]
        .into_iter()
        .map(|(k, v)| (k, v.as_str()))
        .chain((!selected.is_empty()).then_some(("dinas", selected.as_str())))
        .collect();
    let template = DashboardPage {
        layout: context.layout(),
        departments: warga_reports::categories::DEPARTMENTS
            .iter()
            .map(|(id, name)| Choice {
                value: (*id).to_owned(),
                label: (*name).to_owned(),
                selected: *id == selected,
            })
            .collect(),
        all_departments,
        total: summary.total,
        open: summary.open,
        escalated: summary.escalated,
        compliance: percent(summary.compliance.percent),
        response: format!(
            "{} / {}",
            hours(summary.response.p50_hours),
            hours(summary.response.p90_hours)
        ),
        resolution: format!(
            "{} / {}",
            hours(summary.resolution.p50_hours),
            hours(summary.resolution.p90_hours)
        ),
        query: serde_urlencoded::to_string(&params).unwrap_or_default(),
        from: summary.from,
        to: summary.to,
        charts,
        trends: over_time,
        weeks,
        error,
    };
    let status = if template.error.is_some() {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    page(context, &template, status)
}

/// The dashboard's map, for the signed-in officer's scope.
pub async fn dashboard_map(
    State(platform): State<Platform>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, Stop> {
    let context = context(&platform, &headers, &query).await?;
    let session = officer_or_admin(&context)?;
    let svg = analytics::heatmap_svg(&platform, &principal(&platform, session), &analytics_query(&query))
        .await
        .map_err(ApiError::from)?;
    Ok(warga_reports::svg_response(svg))
}

/// The dashboard's reports as CSV.
pub async fn dashboard_csv(
    State(platform): State<Platform>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, Stop> {
    let context = context(&platform, &headers, &query).await?;
    let session = officer_or_admin(&context)?;
    let csv = analytics::export_csv(&platform, &principal(&platform, session), &analytics_query(&query))
        .await
        .map_err(ApiError::from)?;
    Ok(warga_reports::csv_response(csv))
}
