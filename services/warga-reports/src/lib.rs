//! JagaWarga (SPEC R1–R9): citizens report city problems — public, private or anonymous —
//! and the department responsible sees and triages only its own.
//!
//! - [`categories`]: what can be reported and which department acts on it;
//! - [`scrub`]: personal data taken out of a report's text before it is stored;
//! - [`reports`]: submitting, the reporter's list, the public feed, following an anonymous
//!   report by receipt, the departments' queue and triage — with who may see what;
//! - [`inbox`]: each status change reaches the reporter's inbox through the bus;
//! - [`sla`]: working-day deadlines, durable leased timers, warnings and escalation.
//!
//! Anonymous reports are filed at their own route, `POST /api/v1/reports/anonymous`, which
//! the platform's edge never attributes to an account in logs or traces
//! ([`warga_http::UNATTRIBUTED_PATHS`]).

#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

pub mod analytics;
pub mod attachments;
pub mod calendar;
pub mod categories;
pub mod config;
pub mod contacts;
pub mod deliveries;
mod error;
pub mod inbox;
pub mod live;
pub mod messages;
pub mod open311;
pub mod photos;
pub mod reports;
pub mod scrub;
pub mod sla;
pub mod timeline;
pub mod webhooks;

pub use error::ReportsError;

use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use utoipa::OpenApi;
use warga_bus::Handler;
use warga_core::identity::Role;
use warga_http::{
    ApiError, Auth, Authorized, Citizens, Json, JsonBody, JsonWithFiles, MaybeAuth, Officers, Platform, Problem, Query,
    Service,
};
use warga_store::MigrationSet;

use crate::categories::{CATEGORIES, Category};
use crate::reports::{FeedPage, FeedQuery, NewReport, ReportView, Submitted, Triage, Visibility};

pub struct ReportsService;

/// Portable DDL: the same step for SQLite and PostgreSQL.
const STEPS: &[warga_store::MigrationStep] = &[
    warga_store::MigrationStep {
        version: 2026120100,
        description: "reports, their timelines and the anonymous quota",
        sql: include_str!("../migrations/2026120100_reports.sql"),
    },
    warga_store::MigrationStep {
        version: 2026120101,
        description: "reports' photos",
        sql: include_str!("../migrations/2026120101_report_photos.sql"),
    },
    warga_store::MigrationStep {
        version: 2026120102,
        description: "reports' webhook deliveries",
        sql: include_str!("../migrations/2026120102_report_webhooks.sql"),
    },
];

/// Portable, after the engine-specific step 2026120103.
const IDEMPOTENCY: warga_store::MigrationStep = warga_store::MigrationStep {
    version: 2026120104,
    description: "idempotency keys of report submissions",
    sql: include_str!("../migrations/2026120104_report_idempotency.sql"),
};

/// Portable, after the idempotency keys.
const CONTACTS: warga_store::MigrationStep = warga_store::MigrationStep {
    version: 2026120105,
    description: "reporters' contacts; messages to reporters among the deliveries",
    sql: include_str!("../migrations/2026120105_report_contacts.sql"),
};

/// SQLite: the portable steps, then the row-level security step's placeholder.
const SQLITE_STEPS: &[warga_store::MigrationStep] = &[
    STEPS[0],
    STEPS[1],
    STEPS[2],
    warga_store::MigrationStep {
        version: 2026120103,
        description: "row-level security of reports by department (PostgreSQL only)",
        sql: include_str!("../migrations/sqlite/2026120103_report_rls.sql"),
    },
    IDEMPOTENCY,
    CONTACTS,
];

/// PostgreSQL: the portable steps, then row-level security by department.
const POSTGRES_STEPS: &[warga_store::MigrationStep] = &[
    STEPS[0],
    STEPS[1],
    STEPS[2],
    warga_store::MigrationStep {
        version: 2026120103,
        description: "row-level security of reports by department (PostgreSQL only)",
        sql: include_str!("../migrations/postgres/2026120103_report_rls.sql"),
    },
    IDEMPOTENCY,
    CONTACTS,
];

#[derive(OpenApi)]
#[openapi(
    paths(list_categories, my_contact, set_contact, remove_contact, queue_live, inbox_live, webhook_deliveries, retry_webhook, analytics_summary, analytics_departments, analytics_geojson, analytics_svg, analytics_csv, photo, photo_by_receipt, officer_inbox, reply, reply_by_receipt, submit, submit_anonymous, feed, mine, my_inbox, read_inbox, get_report, edit, upvote, unvote, withdraw, follow, queue,
          triage),
    components(schemas(Category, contacts::Contact, NewReport, ReportView, reports::TimelineEntry, Submitted, Visibility, FeedPage,
                       Triage, reports::Action, reports::ReportEdit, Receipt, Answer, ReceiptAnswer,
                       inbox::Inbox, inbox::Notification, inbox::OfficerNotification,
                       attachments::PhotoView, analytics::Summary, analytics::Count, analytics::Durations,
                       analytics::Compliance, analytics::DepartmentTrend, analytics::DepartmentWeek, deliveries::Delivery)),
    tags((name = "reports", description = "JagaWarga: city problems reported by citizens, triaged by departments"))
)]
struct ReportsApi;

impl Service for ReportsService {
    fn name(&self) -> &'static str {
        "reports"
    }
    fn summary(&self) -> &'static str {
        "JagaWarga: citizen reports of city problems, department triage"
    }
    fn migrations(&self) -> MigrationSet {
        MigrationSet {
            owner: "reports",
            sqlite: SQLITE_STEPS,
            postgres: POSTGRES_STEPS,
        }
    }
    fn router(&self, platform: &Platform) -> Router {
        // Forms with photos may be larger than the platform's body limit.
        let uploads = axum::extract::DefaultBodyLimit::max(settings(platform).upload_body_limit());
        Router::new()
            .route("/api/v1/reports/categories", get(list_categories))
            .route("/api/v1/reports", get(feed).post(submit).layer(uploads))
            .route("/api/v1/reports/anonymous", post(submit_anonymous).layer(uploads))
            .route("/api/v1/reports/{id}/photos/{number}", get(photo))
            .route("/api/v1/reports/receipt/photos/{number}", post(photo_by_receipt))
            .route("/api/v1/reports/mine", get(mine))
            .route("/api/v1/reports/inbox", get(my_inbox))
            .route("/api/v1/reports/inbox/read", post(read_inbox))
            .route(
                "/api/v1/reports/contact",
                get(my_contact).put(set_contact).delete(remove_contact),
            )
            .route("/api/v1/reports/receipt", post(follow))
            .route("/api/v1/reports/receipt/reply", post(reply_by_receipt))
            .route("/api/v1/reports/queue", get(queue))
            .route("/api/v1/reports/queue/live", get(queue_live))
            .route("/api/v1/reports/inbox/live", get(inbox_live))
            .route("/api/v1/reports/webhook-deliveries", get(webhook_deliveries))
            .route("/api/v1/reports/webhook-deliveries/{id}/retry", post(retry_webhook))
            .route("/api/v1/reports/analytics", get(analytics_summary))
            .route("/api/v1/reports/analytics/departments", get(analytics_departments))
            .route("/api/v1/reports/analytics/heatmap.geojson", get(analytics_geojson))
            .route("/api/v1/reports/analytics/heatmap.svg", get(analytics_svg))
            .route("/api/v1/reports/analytics/export.csv", get(analytics_csv))
            .route("/api/v1/reports/officer-inbox", get(officer_inbox))
            .route("/api/v1/reports/{id}", get(get_report).patch(edit))
            .route("/api/v1/reports/{id}/upvote", axum::routing::put(upvote).delete(unvote))
            .route("/api/v1/reports/{id}/withdraw", post(withdraw))
            .route("/api/v1/reports/{id}/reply", post(reply))
            .route("/api/v1/reports/{id}/triage", post(triage).layer(uploads))
            .route(
                "/open311/v2/{file}",
                get(open311::get_collection).post(open311::post_request),
            )
            .route("/open311/v2/{collection}/{file}", get(open311::get_item))
            .with_state(platform.clone())
    }
    fn openapi(&self) -> utoipa::openapi::OpenApi {
        ReportsApi::openapi()
    }
    fn sections(&self, sections: warga_config::Sections) -> warga_config::Sections {
        // `[population.sms]` too: messages to reporters use the population's SMS provider.
        sections
            .with::<config::ReportsConfig>()
            .with::<warga_population::config::PopulationConfig>()
    }
    fn handlers(&self, platform: &Platform) -> Vec<Arc<dyn Handler>> {
        vec![
            Arc::new(inbox::ReporterNotifier {
                public_url: platform.public_url.trim_end_matches('/').to_owned(),
            }),
            Arc::new(inbox::OfficerNotifier),
            Arc::new(webhooks::WebhookOutbox::new(settings(platform).webhooks.clone())),
        ]
    }
    fn jobs(&self, platform: &Platform) -> Vec<Arc<dyn warga_http::Job>> {
        // A lease owner unique to this process (replicas share the timers).
        let owner = format!(
            "{}-{}",
            std::process::id(),
            warga_auth::random_token(6).unwrap_or_default()
        );
        let mut jobs: Vec<Arc<dyn warga_http::Job>> = vec![
            Arc::new(sla::SlaJob::new(platform.clone(), owner.clone())),
            Arc::new(attachments::PhotoSweepJob {
                platform: platform.clone(),
            }),
        ];
        match channels(platform) {
            Ok(channels) => jobs.push(Arc::new(deliveries::DeliveryJob::new(
                platform.clone(),
                owner,
                channels,
            ))),
            Err(error) => tracing::error!(%error, "deliveries (webhooks, SMS, e-mail) cannot run"),
        }
        jobs
    }
}

/// The ways deliveries leave, as the configuration sets them up: webhooks, SMS (the
/// population service's provider, `[population.sms]`) and, with `[reports.email]`, e-mail.
pub fn channels(platform: &Platform) -> Result<Vec<Arc<dyn deliveries::Channel>>, ReportsError> {
    let mut channels: Vec<Arc<dyn deliveries::Channel>> = vec![
        Arc::new(webhooks::WebhookChannel::new()?),
        Arc::new(messages::SmsChannel::from_config(platform)),
    ];
    if let Some(email) = messages::EmailChannel::from_config(platform)? {
        channels.push(Arc::new(email));
    }
    Ok(channels)
}

/// What can be reported, and the department that acts on each.
#[utoipa::path(get, path = "/api/v1/reports/categories", tag = "reports", responses((status = 200, body = [Category])))]
async fn list_categories() -> Json<&'static [Category]> {
    Json(CATEGORIES)
}

pub(crate) fn settings(platform: &Platform) -> std::borrow::Cow<'_, config::ReportsConfig> {
    platform.config.section::<config::ReportsConfig>()
}

/// Files a public or private report (a citizen linked to a living resident).
#[utoipa::path(post, path = "/api/v1/reports", tag = "reports", security(("bearer" = [])),
    request_body = NewReport, responses(
    (status = 201, body = Submitted),
    (status = 400, body = Problem, content_type = "application/problem+json"),
    (status = 403, body = Problem, content_type = "application/problem+json"),
))]
async fn submit(
    State(platform): State<Platform>,
    auth: Authorized<Citizens>,
    headers: axum::http::HeaderMap,
    form: JsonWithFiles<NewReport>,
) -> Result<Response, ApiError> {
    let new = form.value;
    if new.visibility == Visibility::Anonymous {
        return Err(ApiError::validation(
            "visibility",
            "laporan anonim dikirim ke /api/v1/reports/anonymous",
        ));
    }
    let key = idempotency_key(&headers)?;
    if let Some(key) = &key
        && let Some(earlier) = reports::by_idempotency_key(&platform, &auth.0, key).await?
    {
        return Ok(replayed(earlier));
    }
    let photos = uploads(form.files)?;
    match reports::submit(&platform, &auth.0, &new, photos, &settings(&platform), key.as_deref()).await {
        Ok(submitted) => Ok((axum::http::StatusCode::CREATED, Json(submitted)).into_response()),
        // The same key raced this request and won: answer with its report.
        Err(ReportsError::Store(warga_store::StoreError::Conflict { .. })) if key.is_some() => {
            let key = key.as_deref().unwrap_or_default();
            // On SQLite the winner may still be in the group of transactions this one was
            // in, not yet committed: an empty transaction's commit returns once that group
            // committed, so the winner's report is then readable (and durable).
            platform
                .store
                .begin()
                .await
                .map_err(ReportsError::from)?
                .commit()
                .await
                .map_err(ReportsError::from)?;
            match reports::by_idempotency_key(&platform, &auth.0, key).await? {
                Some(earlier) => Ok(replayed(earlier)),
                None => Err(ApiError::Conflict("laporan dengan kunci ini sedang diproses".into())),
            }
        }
        Err(error) => Err(error.into()),
    }
}

/// The `Idempotency-Key` header, when sent: 8 to 128 visible ASCII characters.
fn idempotency_key(headers: &axum::http::HeaderMap) -> Result<Option<String>, ApiError> {
    let Some(value) = headers.get("idempotency-key") else {
        return Ok(None);
    };
    let key = value.to_str().unwrap_or_default().trim();
    if !(8..=128).contains(&key.len()) || !key.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(ApiError::validation(
            "Idempotency-Key",
            "8 sampai 128 karakter ASCII tanpa spasi",
        ));
    }
    Ok(Some(key.to_owned()))
}

/// The answer to a repeated submission: the report the key filed first.
fn replayed(report: ReportView) -> Response {
    let mut response = (
        axum::http::StatusCode::CREATED,
        Json(Submitted { report, receipt: None }),
    )
        .into_response();
    response
        .headers_mut()
        .insert("idempotent-replayed", axum::http::HeaderValue::from_static("true"));
    response
}

/// Files an anonymous report: nothing stored, logged or published names the account; the
/// answer carries the receipt code, shown once.
#[utoipa::path(post, path = "/api/v1/reports/anonymous", tag = "reports", security(("bearer" = [])),
    request_body = NewReport, responses(
    (status = 201, body = Submitted),
    (status = 400, body = Problem, content_type = "application/problem+json"),
    (status = 403, body = Problem, content_type = "application/problem+json"),
    (status = 429, body = Problem, content_type = "application/problem+json"),
))]
async fn submit_anonymous(
    State(platform): State<Platform>,
    auth: Authorized<Citizens>,
    headers: axum::http::HeaderMap,
    form: JsonWithFiles<NewReport>,
) -> Result<Response, ApiError> {
    if headers.contains_key("idempotency-key") {
        return Err(ApiError::validation(
            "Idempotency-Key",
            "laporan anonim tidak menerima kunci idempotensi: kunci itu akan mengaitkan akun dengan laporan",
        ));
    }
    let mut new = form.value;
    new.visibility = Visibility::Anonymous;
    let photos = uploads(form.files)?;
    let submitted = reports::submit(&platform, &auth.0, &new, photos, &settings(&platform), None).await?;
    Ok((axum::http::StatusCode::CREATED, Json(submitted)).into_response())
}

/// Public reports, newest first.
#[utoipa::path(get, path = "/api/v1/reports", tag = "reports", params(FeedQuery), responses(
    (status = 200, body = FeedPage),
    (status = 400, body = Problem, content_type = "application/problem+json"),
))]
async fn feed(State(platform): State<Platform>, Query(query): Query<FeedQuery>) -> Result<Json<FeedPage>, ApiError> {
    Ok(Json(reports::feed(&platform, &query).await?))
}

/// The caller's own public and private reports.
#[utoipa::path(get, path = "/api/v1/reports/mine", tag = "reports", security(("bearer" = [])),
    responses((status = 200, body = [ReportView])))]
async fn mine(State(platform): State<Platform>, auth: Auth) -> Result<Json<Vec<ReportView>>, ApiError> {
    auth.require_any(&[Role::Citizen])?;
    Ok(Json(reports::mine(&platform, &auth.0.subject).await?))
}

/// The citizen's notifications: every status change of their reports.
#[utoipa::path(get, path = "/api/v1/reports/inbox", tag = "reports", security(("bearer" = [])),
    responses((status = 200, body = inbox::Inbox)))]
async fn my_inbox(State(platform): State<Platform>, auth: Auth) -> Result<Json<inbox::Inbox>, ApiError> {
    auth.require_any(&[Role::Citizen])?;
    Ok(Json(inbox::inbox(&platform, &auth.0.subject).await?))
}

/// Where the citizen receives their reports' updates besides the inbox (SMS).
#[utoipa::path(get, path = "/api/v1/reports/contact", tag = "reports", security(("bearer" = [])),
    responses((status = 200, body = contacts::Contact)))]
async fn my_contact(State(platform): State<Platform>, auth: Auth) -> Result<Json<contacts::Contact>, ApiError> {
    auth.require_any(&[Role::Citizen])?;
    Ok(Json(contacts::get(&platform, &auth.0.subject).await?))
}

/// Sets the citizen's contact for updates (sealed; removed by sending neither).
#[utoipa::path(put, path = "/api/v1/reports/contact", tag = "reports", security(("bearer" = [])),
    request_body = contacts::Contact, responses(
    (status = 200, body = contacts::Contact),
    (status = 400, body = Problem, content_type = "application/problem+json"),
))]
async fn set_contact(
    State(platform): State<Platform>,
    auth: Auth,
    body: JsonBody,
) -> Result<Json<contacts::Contact>, ApiError> {
    auth.require_any(&[Role::Citizen])?;
    let contact: contacts::Contact = body.parse()?;
    Ok(Json(contacts::set(&platform, &auth.0, contact).await?))
}

/// Removes the citizen's contact: updates reach only the inbox.
#[utoipa::path(delete, path = "/api/v1/reports/contact", tag = "reports", security(("bearer" = [])),
    responses((status = 200, body = contacts::Contact)))]
async fn remove_contact(State(platform): State<Platform>, auth: Auth) -> Result<Json<contacts::Contact>, ApiError> {
    auth.require_any(&[Role::Citizen])?;
    Ok(Json(
        contacts::set(&platform, &auth.0, contacts::Contact::default()).await?,
    ))
}

/// Marks the citizen's notifications read.
#[utoipa::path(post, path = "/api/v1/reports/inbox/read", tag = "reports", security(("bearer" = [])),
    responses((status = 200, body = inbox::Inbox)))]
async fn read_inbox(State(platform): State<Platform>, auth: Auth) -> Result<Json<inbox::Inbox>, ApiError> {
    auth.require_any(&[Role::Citizen])?;
    Ok(Json(inbox::mark_read(&platform, &auth.0.subject).await?))
}

/// One report, if the caller may see it.
#[utoipa::path(get, path = "/api/v1/reports/{id}", tag = "reports", responses(
    (status = 200, body = ReportView),
    (status = 404, body = Problem, content_type = "application/problem+json"),
))]
async fn get_report(
    State(platform): State<Platform>,
    MaybeAuth(viewer): MaybeAuth,
    Path(id): Path<String>,
) -> Result<Json<ReportView>, ApiError> {
    Ok(Json(reports::get(&platform, viewer.as_ref(), &id).await?))
}

/// The reporter edits their report (title, description, category) until a department acts.
#[utoipa::path(patch, path = "/api/v1/reports/{id}", tag = "reports", security(("bearer" = [])),
    request_body = reports::ReportEdit, responses(
    (status = 200, body = ReportView),
    (status = 400, body = Problem, content_type = "application/problem+json"),
    (status = 404, body = Problem, content_type = "application/problem+json"),
    (status = 409, body = Problem, content_type = "application/problem+json"),
))]
async fn edit(
    State(platform): State<Platform>,
    auth: Auth,
    Path(id): Path<String>,
    body: JsonBody,
) -> Result<Json<ReportView>, ApiError> {
    auth.require_any(&[Role::Citizen])?;
    let change: reports::ReportEdit = body.parse()?;
    Ok(Json(reports::edit(&platform, &auth.0, &id, &change).await?))
}

/// Supports a public report: one upvote per citizen, idempotent.
#[utoipa::path(put, path = "/api/v1/reports/{id}/upvote", tag = "reports", security(("bearer" = [])), responses(
    (status = 200, body = ReportView),
    (status = 404, body = Problem, content_type = "application/problem+json"),
))]
async fn upvote(
    State(platform): State<Platform>,
    auth: Auth,
    Path(id): Path<String>,
) -> Result<Json<ReportView>, ApiError> {
    auth.require_any(&[Role::Citizen])?;
    Ok(Json(reports::vote(&platform, &auth.0, &id, true).await?))
}

/// Takes an upvote back (idempotent).
#[utoipa::path(delete, path = "/api/v1/reports/{id}/upvote", tag = "reports", security(("bearer" = [])), responses(
    (status = 200, body = ReportView),
    (status = 404, body = Problem, content_type = "application/problem+json"),
))]
async fn unvote(
    State(platform): State<Platform>,
    auth: Auth,
    Path(id): Path<String>,
) -> Result<Json<ReportView>, ApiError> {
    auth.require_any(&[Role::Citizen])?;
    Ok(Json(reports::vote(&platform, &auth.0, &id, false).await?))
}

/// The reporter withdraws a report no department has acted on yet.
#[utoipa::path(post, path = "/api/v1/reports/{id}/withdraw", tag = "reports", security(("bearer" = [])), responses(
    (status = 200, body = ReportView),
    (status = 404, body = Problem, content_type = "application/problem+json"),
    (status = 409, body = Problem, content_type = "application/problem+json"),
))]
async fn withdraw(
    State(platform): State<Platform>,
    auth: Auth,
    Path(id): Path<String>,
) -> Result<Json<ReportView>, ApiError> {
    auth.require_any(&[Role::Citizen])?;
    Ok(Json(reports::withdraw(&platform, &auth.0, &id).await?))
}

/// A receipt code (in the body, so it stays out of URLs and access logs).
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct Receipt {
    code: String,
}

/// What the officer's department and level are told: warnings, escalations, re-routed
/// reports.
#[utoipa::path(get, path = "/api/v1/reports/officer-inbox", tag = "reports", security(("bearer" = [])), responses(
    (status = 200, body = [inbox::OfficerNotification]),
    (status = 403, body = Problem, content_type = "application/problem+json"),
))]
async fn officer_inbox(
    State(platform): State<Platform>,
    auth: Auth,
) -> Result<Json<Vec<inbox::OfficerNotification>>, ApiError> {
    Ok(Json(inbox::officer_inbox(&platform, &auth.0).await?))
}

/// The reporter's answer to a department's question.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct Answer {
    note: String,
}

/// An anonymous reporter's answer, with the receipt code.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct ReceiptAnswer {
    code: String,
    note: String,
}

/// The reporter answers the department's question; the report's deadlines run again.
#[utoipa::path(post, path = "/api/v1/reports/{id}/reply", tag = "reports", security(("bearer" = [])),
    request_body = Answer, responses(
    (status = 200, body = ReportView),
    (status = 404, body = Problem, content_type = "application/problem+json"),
    (status = 409, body = Problem, content_type = "application/problem+json"),
))]
async fn reply(
    State(platform): State<Platform>,
    auth: Auth,
    Path(id): Path<String>,
    body: JsonBody,
) -> Result<Json<ReportView>, ApiError> {
    auth.require_any(&[Role::Citizen])?;
    let answer: Answer = body.parse()?;
    Ok(Json(
        reports::reply(&platform, reports::Replier::Reporter(&auth.0), &id, &answer.note).await?,
    ))
}

/// An anonymous reporter answers the department's question with the receipt code.
#[utoipa::path(post, path = "/api/v1/reports/receipt/reply", tag = "reports", request_body = ReceiptAnswer, responses(
    (status = 200, body = ReportView),
    (status = 400, body = Problem, content_type = "application/problem+json"),
    (status = 409, body = Problem, content_type = "application/problem+json"),
))]
async fn reply_by_receipt(
    State(platform): State<Platform>,
    Json(answer): Json<ReceiptAnswer>,
) -> Result<Json<ReportView>, ApiError> {
    let id = answer.code.split('.').next().unwrap_or_default().to_owned();
    Ok(Json(
        reports::reply(&platform, reports::Replier::Receipt(&answer.code), &id, &answer.note).await?,
    ))
}

/// Follows an anonymous report by its receipt code, without signing in.
#[utoipa::path(post, path = "/api/v1/reports/receipt", tag = "reports", request_body = Receipt, responses(
    (status = 200, body = ReportView),
    (status = 400, body = Problem, content_type = "application/problem+json"),
))]
async fn follow(State(platform): State<Platform>, Json(receipt): Json<Receipt>) -> Result<Json<ReportView>, ApiError> {
    Ok(Json(reports::by_receipt(&platform, &receipt.code).await?))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
struct QueueQuery {
    status: Option<String>,
}

/// The officer's department's reports (every department's for the top office).
#[utoipa::path(get, path = "/api/v1/reports/queue", tag = "reports", security(("bearer" = [])), params(QueueQuery),
    responses(
    (status = 200, body = [ReportView]),
    (status = 403, body = Problem, content_type = "application/problem+json"),
))]
async fn queue(
    State(platform): State<Platform>,
    auth: Auth,
    Query(query): Query<QueueQuery>,
) -> Result<Json<Vec<ReportView>>, ApiError> {
    Ok(Json(reports::queue(&platform, &auth.0, query.status.as_deref()).await?))
}

/// A department acknowledges, starts, resolves, rejects or comments on its report.
#[utoipa::path(post, path = "/api/v1/reports/{id}/triage", tag = "reports", security(("bearer" = [])),
    request_body = Triage, responses(
    (status = 200, body = ReportView),
    (status = 400, body = Problem, content_type = "application/problem+json"),
    (status = 403, body = Problem, content_type = "application/problem+json"),
    (status = 404, body = Problem, content_type = "application/problem+json"),
    (status = 409, body = Problem, content_type = "application/problem+json"),
))]
async fn triage(
    State(platform): State<Platform>,
    auth: Authorized<Officers>,
    Path(id): Path<String>,
    form: JsonWithFiles<Triage>,
) -> Result<Json<ReportView>, ApiError> {
    let photos = uploads(form.files)?;
    Ok(Json(
        reports::triage(&platform, &auth.0, &id, &form.value, photos).await?,
    ))
}

/// A form's files as photos: parts named `photos`, numbered in errors as `photos[i]`.
fn uploads(files: Vec<warga_http::FormFile>) -> Result<Vec<attachments::Upload>, ApiError> {
    files
        .into_iter()
        .enumerate()
        .map(|(i, file)| {
            if file.name != "photos" {
                return Err(ApiError::validation(
                    file.name,
                    "bagian formulir tidak dikenal; foto dikirim sebagai `photos`",
                ));
            }
            Ok(attachments::Upload {
                field: format!("photos[{i}]"),
                bytes: file.bytes,
            })
        })
        .collect()
}

/// A photo's bytes, as the browser should treat them: never sniffed, never cached by
/// shared caches (a private report's photo is personal data).
pub fn photo_response(content_type: String, bytes: Vec<u8>) -> Response {
    (
        [
            (axum::http::header::CONTENT_TYPE, content_type),
            (axum::http::header::CACHE_CONTROL, "private, no-store".to_owned()),
            (axum::http::header::X_CONTENT_TYPE_OPTIONS, "nosniff".to_owned()),
            (axum::http::header::CONTENT_DISPOSITION, "inline".to_owned()),
        ],
        bytes,
    )
        .into_response()
}

/// One of a report's photos, for a reader who may see the report.
#[utoipa::path(get, path = "/api/v1/reports/{id}/photos/{number}", tag = "reports", responses(
    (status = 200, description = "the photo (JPEG or PNG), re-encoded without metadata", content_type = "image/jpeg"),
    (status = 404, body = Problem, content_type = "application/problem+json"),
))]
async fn photo(
    State(platform): State<Platform>,
    MaybeAuth(viewer): MaybeAuth,
    Path((id, number)): Path<(String, i64)>,
) -> Result<Response, ApiError> {
    let (content_type, bytes) = reports::photo(&platform, viewer.as_ref(), &id, number).await?;
    Ok(photo_response(content_type, bytes))
}

/// One of an anonymous report's photos, for the holder of its receipt code.
#[utoipa::path(post, path = "/api/v1/reports/receipt/photos/{number}", tag = "reports", request_body = Receipt,
    responses(
    (status = 200, description = "the photo (JPEG or PNG), re-encoded without metadata", content_type = "image/jpeg"),
    (status = 400, body = Problem, content_type = "application/problem+json"),
    (status = 404, body = Problem, content_type = "application/problem+json"),
))]
async fn photo_by_receipt(
    State(platform): State<Platform>,
    Path(number): Path<i64>,
    Json(receipt): Json<Receipt>,
) -> Result<Response, ApiError> {
    let (content_type, bytes) = reports::photo_by_receipt(&platform, &receipt.code, number).await?;
    Ok(photo_response(content_type, bytes))
}

/// Counts, times and service-level compliance of the reports in the caller's scope (a
/// department's officers: their own; the top office and administrators: every one).
#[utoipa::path(get, path = "/api/v1/reports/analytics", tag = "reports", security(("bearer" = [])),
    params(analytics::AnalyticsQuery), responses(
    (status = 200, body = analytics::Summary),
    (status = 400, body = Problem, content_type = "application/problem+json"),
    (status = 403, body = Problem, content_type = "application/problem+json"),
))]
async fn analytics_summary(
    State(platform): State<Platform>,
    auth: Auth,
    Query(query): Query<analytics::AnalyticsQuery>,
) -> Result<Json<analytics::Summary>, ApiError> {
    Ok(Json(analytics::summary(&platform, &auth.0, &query).await?))
}

/// The departments compared, over the window and week by week (the mayor's dashboard).
#[utoipa::path(get, path = "/api/v1/reports/analytics/departments", tag = "reports", security(("bearer" = [])),
    params(analytics::AnalyticsQuery), responses(
    (status = 200, body = [analytics::DepartmentTrend]),
    (status = 400, body = Problem, content_type = "application/problem+json"),
    (status = 403, body = Problem, content_type = "application/problem+json"),
))]
async fn analytics_departments(
    State(platform): State<Platform>,
    auth: Auth,
    Query(query): Query<analytics::AnalyticsQuery>,
) -> Result<Json<Vec<analytics::DepartmentTrend>>, ApiError> {
    Ok(Json(analytics::departments(&platform, &auth.0, &query).await?))
}

/// Reports per grid cell as GeoJSON (cells of `cell` degrees, never points).
#[utoipa::path(get, path = "/api/v1/reports/analytics/heatmap.geojson", tag = "reports", security(("bearer" = [])),
    params(analytics::AnalyticsQuery), responses(
    (status = 200, description = "a GeoJSON FeatureCollection", content_type = "application/geo+json"),
    (status = 403, body = Problem, content_type = "application/problem+json"),
))]
async fn analytics_geojson(
    State(platform): State<Platform>,
    auth: Auth,
    Query(query): Query<analytics::AnalyticsQuery>,
) -> Result<Response, ApiError> {
    let collection = analytics::heatmap_geojson(&platform, &auth.0, &query).await?;
    Ok((
        [(axum::http::header::CONTENT_TYPE, "application/geo+json")],
        collection.to_string(),
    )
        .into_response())
}

/// The heatmap drawn on the server as an SVG map (Natural Earth's outline of Indonesia).
#[utoipa::path(get, path = "/api/v1/reports/analytics/heatmap.svg", tag = "reports", security(("bearer" = [])),
    params(analytics::AnalyticsQuery), responses(
    (status = 200, description = "an SVG map", content_type = "image/svg+xml"),
    (status = 403, body = Problem, content_type = "application/problem+json"),
))]
async fn analytics_svg(
    State(platform): State<Platform>,
    auth: Auth,
    Query(query): Query<analytics::AnalyticsQuery>,
) -> Result<Response, ApiError> {
    Ok(svg_response(analytics::heatmap_svg(&platform, &auth.0, &query).await?))
}

/// An SVG drawn by warga: no script may run in it, even opened on its own.
pub fn svg_response(svg: String) -> Response {
    (
        [
            (axum::http::header::CONTENT_TYPE, "image/svg+xml"),
            (axum::http::header::CONTENT_SECURITY_POLICY, "default-src 'none'"),
            (axum::http::header::CACHE_CONTROL, "private, no-store"),
        ],
        svg,
    )
        .into_response()
}

/// The reports in scope as CSV (codes and times; no text, no reporter).
#[utoipa::path(get, path = "/api/v1/reports/analytics/export.csv", tag = "reports", security(("bearer" = [])),
    params(analytics::AnalyticsQuery), responses(
    (status = 200, description = "CSV, one report per line", content_type = "text/csv"),
    (status = 403, body = Problem, content_type = "application/problem+json"),
))]
async fn analytics_csv(
    State(platform): State<Platform>,
    auth: Auth,
    Query(query): Query<analytics::AnalyticsQuery>,
) -> Result<Response, ApiError> {
    Ok(csv_response(analytics::export_csv(&platform, &auth.0, &query).await?))
}

/// A CSV download.
pub fn csv_response(csv: String) -> Response {
    (
        [
            (axum::http::header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (
                axum::http::header::CONTENT_DISPOSITION,
                "attachment; filename=\"laporan-jagawarga.csv\"",
            ),
            (axum::http::header::CACHE_CONTROL, "private, no-store"),
        ],
        csv,
    )
        .into_response()
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
struct DeliveryQuery {
    /// `pending`, `delivered` or `dead` (the default: the dead letters).
    state: Option<String>,
}

/// Webhook deliveries by state (administrators): the dead letters by default.
#[utoipa::path(get, path = "/api/v1/reports/webhook-deliveries", tag = "reports", security(("bearer" = [])),
    params(DeliveryQuery), responses(
    (status = 200, body = [deliveries::Delivery]),
    (status = 403, body = Problem, content_type = "application/problem+json"),
))]
async fn webhook_deliveries(
    State(platform): State<Platform>,
    auth: Auth,
    Query(query): Query<DeliveryQuery>,
) -> Result<Json<Vec<deliveries::Delivery>>, ApiError> {
    let state = query.state.as_deref().unwrap_or("dead");
    Ok(Json(deliveries::deliveries(&platform, &auth.0, state).await?))
}

/// Sends a dead-lettered webhook delivery again (administrators).
#[utoipa::path(post, path = "/api/v1/reports/webhook-deliveries/{id}/retry", tag = "reports", security(("bearer" = [])),
    responses(
    (status = 204),
    (status = 403, body = Problem, content_type = "application/problem+json"),
    (status = 404, body = Problem, content_type = "application/problem+json"),
))]
async fn retry_webhook(
    State(platform): State<Platform>,
    auth: Auth,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    deliveries::retry(&platform, &auth.0, &id).await?;
    Ok(axum::http::StatusCode::NO_CONTENT.into_response())
}

/// The officer's department's queue as server-sent events: a `snapshot`, then `report` and
/// `removed` events as reports arrive and change.
#[utoipa::path(get, path = "/api/v1/reports/queue/live", tag = "reports", security(("bearer" = [])), responses(
    (status = 200, description = "server-sent events", content_type = "text/event-stream"),
    (status = 403, body = Problem, content_type = "application/problem+json"),
))]
async fn queue_live(State(platform): State<Platform>, auth: Auth) -> Result<Response, ApiError> {
    Ok(event_stream(live::queue(&platform, &auth.0).await?))
}

/// Server-sent events with keep-alive comments.
fn event_stream(
    stream: impl futures::Stream<Item = Result<axum::response::sse::Event, std::convert::Infallible>> + Send + 'static,
) -> Response {
    axum::response::sse::Sse::new(stream)
        .keep_alive(axum::response::sse::KeepAlive::default())
        .into_response()
}

/// The citizen's notifications as server-sent events: a `snapshot`, then a `notification`
/// for each status change of their reports.
#[utoipa::path(get, path = "/api/v1/reports/inbox/live", tag = "reports", security(("bearer" = [])), responses(
    (status = 200, description = "server-sent events", content_type = "text/event-stream"),
    (status = 403, body = Problem, content_type = "application/problem+json"),
))]
async fn inbox_live(State(platform): State<Platform>, auth: Auth) -> Result<Response, ApiError> {
    Ok(event_stream(live::notifications(&platform, &auth.0).await?))
}
