//! The web UI of warga: server-rendered pages that need no client script, every asset
//! served by warga itself (it must work on an intranet without a CDN).
//!
//! Bahasa Indonesia by default, English on request (`?lang=en`, remembered in a cookie).
//! Signing in is single sign-on through warga's own OpenID Connect provider: `/masuk`
//! starts an authorization code flow with PKCE for the public client `warga-web`, and
//! `/web/callback` redeems the code in-process and opens a session (a `__Host-` cookie
//! whose hash is stored). Signing out ends this session and the provider's.
//!
//! Every page carries a strict Content-Security-Policy (no script, styles and forms from
//! warga only; the report form alone loads one script file of warga's, `lokasi.js`, for
//! "use my location", and works without it); every form is protected against CSRF (the session's token, or a
//! double-submit cookie before sign-in); authorization is checked on every request.

#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

mod bpjs;
mod charts;
mod family;
mod i18n;
mod population;
mod recovery;
mod reports;

use std::collections::HashMap;
use std::sync::Arc;

use askama::Template;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::{Form, Router};
use base64::Engine;
use serde::Deserialize;
use sqlx::Row;
use warga_bus::Handler;
use warga_core::identity::{OfficerLevel, Role};
use warga_http::{ApiError, Platform, Service};
use warga_identity::accounts::{self, Account, Department};
use warga_store::{MigrationSet, MigrationStep, StoreError};

use crate::i18n::{Lang, Tr};

const SESSION_COOKIE: &str = "__Host-warga_web";
const FORM_COOKIE: &str = "__Host-warga_form";
const LANG_COOKIE: &str = "__Host-warga_lang";
const LOGIN_TTL_MS: i64 = 10 * 60 * 1000;
const STYLESHEET: &str = include_str!("../assets/warga.css");

pub struct WebService;

/// Portable DDL: the same step for SQLite and PostgreSQL.
const STEPS: &[MigrationStep] = &[MigrationStep {
    version: 2026112240,
    description: "web sessions",
    sql: include_str!("../migrations/2026112240_web_sessions.sql"),
}];

const MIGRATIONS: MigrationSet = MigrationSet {
    owner: "web",
    sqlite: STEPS,
    postgres: STEPS,
};

impl Service for WebService {
    fn name(&self) -> &'static str {
        "web"
    }
    fn summary(&self) -> &'static str {
        "the web UI (Bahasa Indonesia, English)"
    }
    fn migrations(&self) -> MigrationSet {
        MIGRATIONS
    }
    fn router(&self, platform: &Platform) -> Router {
        // Signed-in pages count against their account's rate budget, not their address's.
        platform.limiter.recognise_sessions(Arc::new(SessionAccounts {
            store: platform.store.clone(),
            clock: platform.clock.clone(),
        }));
        // Report forms carry photos: a larger body than the platform's default.
        let uploads = axum::extract::DefaultBodyLimit::max(
            platform
                .config
                .section::<warga_reports::config::ReportsConfig>()
                .upload_body_limit(),
        );
        Router::new()
            .route("/", get(home))
            .route("/static/warga.css", get(stylesheet))
            .route("/static/lokasi.js", get(location_script))
            .route("/daftar", get(signup_form).post(signup))
            .route("/masuk", get(sign_in))
            .route("/web/callback", get(callback))
            .route("/keluar", axum::routing::post(sign_out))
            .route("/akun", get(account))
            .route("/akun/tautan", axum::routing::post(population::ask_link))
            .route("/akun/sandi", axum::routing::post(change_password))
            .route("/akun/telepon", axum::routing::post(set_phone))
            .route("/lupa-sandi", get(recovery::form).post(recovery::ask))
            .route("/lupa-sandi/kode", axum::routing::post(recovery::reset))
            .route("/penduduk", get(population::search_page))
            .route(
                "/penduduk/baru",
                get(population::register_form).post(population::register),
            )
            .route("/penduduk/nik", axum::routing::post(population::find_by_nik))
            .route("/penduduk/tautan", get(population::link_requests))
            .route("/penduduk/tautan/{id}", axum::routing::post(population::decide_link))
            .route("/penduduk/sms", get(population::sms_outbox))
            .route("/penduduk/{id}", get(population::resident))
            .route("/penduduk/{id}/pindah", axum::routing::post(population::move_resident))
            .route(
                "/penduduk/{id}/meninggal",
                axum::routing::post(population::record_death),
            )
            .route("/kk", axum::routing::post(family::create))
            .route("/kk/{id}", get(family::show))
            .route("/kk/{id}/anggota", axum::routing::post(family::add_member))
            .route("/kk/{id}/lahir", axum::routing::post(family::add_newborn))
            .route("/kk/{id}/pisah", axum::routing::post(family::split))
            .route("/kk/{id}/kepala", axum::routing::post(family::change_head))
            .route("/kk/{id}/pindah", axum::routing::post(family::move_family))
            .route("/kk/{id}/pindah/{move_id}", get(family::letter))
            .route("/statistik", get(population::statistics))
            .route("/admin/departemen", get(departments_page).post(create_department))
            .route("/admin/petugas", get(officers_page).post(create_officer))
            .route("/admin/petugas/{id}", axum::routing::post(change_officer))
            .route(
                "/admin/meja-dukcapil",
                get(population::desks).post(population::change_desks),
            )
            .route(
                "/lapor",
                get(reports::new_report_form)
                    .post(reports::submit_report)
                    .layer(uploads),
            )
            .route("/laporan", get(reports::mine))
            .route("/laporan/kotak-masuk/baca", axum::routing::post(reports::read_inbox))
            .route("/laporan/kontak", axum::routing::post(reports::save_contact))
            .route("/laporan/publik", get(reports::feed))
            .route("/laporan/tanda-terima", get(reports::follow_form).post(reports::follow))
            .route("/laporan/{id}", get(reports::show))
            .route("/laporan/{id}/foto/{number}", get(reports::photo))
            .route("/laporan/{id}/tarik", axum::routing::post(reports::withdraw))
            .route("/laporan/{id}/jawab", axum::routing::post(reports::answer))
            .route("/laporan/{id}/dukung", axum::routing::post(reports::vote))
            .route("/laporan/{id}/tindak", axum::routing::post(reports::act).layer(uploads))
            .route("/dinas", get(reports::queue))
            .route("/dasbor", get(reports::dashboard))
            .route("/dasbor/peta.svg", get(reports::dashboard_map))
            .route("/dasbor/laporan.csv", get(reports::dashboard_csv))
            .merge(bpjs::router(platform))
            .with_state(platform.clone())
    }
    fn openapi(&self) -> utoipa::openapi::OpenApi {
        utoipa::openapi::OpenApiBuilder::new().build()
    }
    fn handlers(&self, _: &Platform) -> Vec<Arc<dyn Handler>> {
        Vec::new()
    }
}

// ---------------------------------------------------------------------------------------
// Request context: language, session, layout

use warga_http::web::{cookie, set_cookie};

/// Why a page handler stops before its page: a page to show instead (sign in first, a
/// role the account lacks), or an error for the problem renderer. Handlers return
/// `Result<Response, Stop>` and use `?` for both.
pub(crate) enum Stop {
    Page(Box<Response>),
    Error(ApiError),
}

impl<E: Into<ApiError>> From<E> for Stop {
    fn from(error: E) -> Stop {
        Stop::Error(error.into())
    }
}

impl IntoResponse for Stop {
    fn into_response(self) -> Response {
        match self {
            Stop::Page(page) => *page,
            Stop::Error(error) => error.into_response(),
        }
    }
}

fn random(bytes: usize) -> Result<String, ApiError> {
    Ok(warga_auth::random_token(bytes)?)
}

/// The account of a request's web session, for the edge's rate limiter (one indexed read of
/// the session; an unknown or expired cookie counts as no session).
struct SessionAccounts {
    store: warga_store::Store,
    clock: Arc<dyn warga_core::time::Clock>,
}

impl warga_http::ratelimit::SessionSubject for SessionAccounts {
    fn subject<'a>(
        &'a self,
        cookies: &'a HeaderMap,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Option<String>> + Send + 'a>> {
        Box::pin(async move {
            let value = cookie(cookies, SESSION_COOKIE).filter(|v| !v.is_empty())?;
            sqlx::query_scalar::<_, String>(
                "SELECT account_id FROM web_sessions WHERE id_hash = $1 AND expires_at_ms > $2",
            )
            .bind(warga_auth::token_hash(value))
            .bind(self.clock.now_ms())
            .fetch_optional(self.store.reader())
            .await
            .ok()
            .flatten()
        })
    }
}

struct Session {
    id_hash: String,
    account: Account,
    csrf: String,
    id_token: String,
}

struct Context {
    lang: Lang,
    /// Set when the request changed the language (remember it in a cookie).
    lang_changed: bool,
    session: Option<Session>,
}

async fn context(
    platform: &Platform,
    headers: &HeaderMap,
    query: &HashMap<String, String>,
) -> Result<Context, ApiError> {
    let asked = Lang::parse(query.get("lang").map(String::as_str));
    let remembered = Lang::parse(cookie(headers, LANG_COOKIE));
    let lang = asked.or(remembered).unwrap_or(Lang::Id);
    let session = match cookie(headers, SESSION_COOKIE) {
        Some(value) if !value.is_empty() => {
            let id_hash = warga_auth::token_hash(value);
            let row = sqlx::query(
                "SELECT account_id, csrf, id_token FROM web_sessions WHERE id_hash = $1 AND expires_at_ms > $2",
            )
            .bind(&id_hash)
            .bind(platform.clock.now_ms())
            .fetch_optional(platform.store.reader())
            .await
            .map_err(StoreError::from)?;
            match row {
                Some(row) => accounts::by_id(platform.store.reader(), &row.get::<String, _>(0))
                    .await?
                    .filter(Account::is_active)
                    .map(|account| Session {
                        id_hash,
                        account,
                        csrf: row.get(1),
                        id_token: row.get(2),
                    }),
                None => None,
            }
        }
        _ => None,
    };
    Ok(Context {
        lang,
        lang_changed: asked.is_some() && asked != remembered,
        session,
    })
}

/// What every page's layout shows.
pub struct Layout {
    lang: &'static str,
    t: Tr,
    user: Option<UserView>,
    csrf: String,
}

pub struct UserView {
    display_name: String,
    is_citizen: bool,
    /// An officer of a department (the reports queue).
    is_department: bool,
    is_admin: bool,
    /// Sees the reports dashboard (a department's officer, the top office, an administrator).
    sees_dashboard: bool,
    is_registrar: bool,
    reads_population: bool,
    /// An officer of a ledger organisation (the BPJS card check).
    is_ledger_member: bool,
    /// Reads the ledger (a member's officer or an auditor): the explorer.
    reads_ledger: bool,
}

impl Context {
    fn layout(&self) -> Layout {
        Layout {
            lang: self.lang.code(),
            t: Tr(self.lang),
            user: self.session.as_ref().map(|s| UserView {
                display_name: s.account.display_name.clone(),
                is_citizen: s.account.roles.contains(&Role::Citizen),
                is_ledger_member: s.account.roles.contains(&Role::LedgerMember),
                reads_ledger: s.account.roles.contains(&Role::LedgerMember)
                    || s.account.roles.contains(&Role::LedgerAuditor),
                is_department: s.account.roles.contains(&Role::Officer) && s.account.department_id.is_some(),
                sees_dashboard: s.account.roles.contains(&Role::Admin)
                    || (s.account.roles.contains(&Role::Officer) && s.account.department_id.is_some()),
                is_admin: s.account.roles.contains(&Role::Admin),
                is_registrar: s.account.roles.contains(&Role::RegistryOfficer),
                reads_population: [Role::Admin, Role::Officer, Role::RegistryOfficer]
                    .iter()
                    .any(|r| s.account.roles.contains(r)),
            }),
            csrf: self.session.as_ref().map(|s| s.csrf.clone()).unwrap_or_default(),
        }
    }

    fn t(&self, key: &str) -> &'static str {
        Tr(self.lang).get(key)
    }

    fn admin(&self) -> Option<&Session> {
        self.session.as_ref().filter(|s| s.account.roles.contains(&Role::Admin))
    }
}

/// Renders a page with the security headers every page carries.
fn page(context: &Context, template: &impl Template, status: StatusCode) -> Response {
    page_with(context, template, status, warga_http::web::PagePolicy::default())
}

/// [`page`] under a policy of its own (a page that loads warga's own script files).
fn page_with(
    context: &Context,
    template: &impl Template,
    status: StatusCode,
    policy: warga_http::web::PagePolicy<'_>,
) -> Response {
    let html = match template.render() {
        Ok(html) => html,
        Err(error) => return ApiError::internal(format!("template failed: {error}")).into_response(),
    };
    let mut response = warga_http::web::html_page(status, html, policy);
    let headers = response.headers_mut();
    if context.lang_changed {
        headers.append(
            header::SET_COOKIE,
            set_cookie(LANG_COOKIE, context.lang.code(), 365 * 86_400),
        );
    }
    response
}

#[derive(Template)]
#[template(path = "message.html")]
struct MessagePage {
    layout: Layout,
    title: &'static str,
    message: String,
}

fn message(context: &Context, status: StatusCode, message: impl Into<String>) -> Response {
    let template = MessagePage {
        layout: context.layout(),
        title: context.t("error.title"),
        message: message.into(),
    };
    page(context, &template, status)
}

fn see_other(location: &str) -> Response {
    Redirect::to(location).into_response()
}

// ---------------------------------------------------------------------------------------
// Pages

async fn stylesheet() -> Response {
    warga_http::web::stylesheet(STYLESHEET)
}

/// The report form's "use my location" button: the only script warga serves.
async fn location_script() -> Response {
    warga_http::web::script(include_str!("../assets/lokasi.js"))
}

#[derive(Template)]
#[template(path = "home.html")]
struct HomePage {
    layout: Layout,
    notice: Option<&'static str>,
}

async fn home(
    State(platform): State<Platform>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, Stop> {
    let context = context(&platform, &headers, &query).await?;
    let notice = match (
        query.get("m").map(String::as_str),
        query.get("state").map(String::as_str),
    ) {
        (Some("registered"), _) => Some(context.t("signup.done")),
        (Some("password-recovered"), _) => Some(context.t("forgot.done")),
        (_, Some("signedout")) => Some(context.t("signout.done")),
        _ => None,
    };
    Ok(page(
        &context,
        &HomePage {
            layout: context.layout(),
            notice,
        },
        StatusCode::OK,
    ))
}

#[derive(Template)]
#[template(path = "signup.html")]
struct SignUpPage {
    layout: Layout,
    form_csrf: String,
    /// A refusal of the whole form (an expired form, a taken username).
    error: Option<String>,
    /// The refused field and why, shown beside it.
    error_field: String,
    error_text: String,
    username: String,
    display_name: String,
    email: String,
}

impl SignUpPage {
    /// Whether the refusal is shown beside one of the form's fields.
    fn beside_a_field(&self) -> bool {
        ["display_name", "username", "email", "password"].contains(&self.error_field.as_str())
    }
}

fn signup_page(
    context: &Context,
    error: Option<String>,
    form: Option<&SignUpForm>,
    status: StatusCode,
) -> Result<Response, Stop> {
    signup_page_with(context, error, (String::new(), String::new()), form, status)
}

fn signup_page_with(
    context: &Context,
    error: Option<String>,
    (error_field, error_text): (String, String),
    form: Option<&SignUpForm>,
    status: StatusCode,
) -> Result<Response, Stop> {
    let form_csrf = random(24)?;
    let template = SignUpPage {
        layout: context.layout(),
        form_csrf: form_csrf.clone(),
        error,
        error_field,
        error_text,
        username: form.map(|f| f.username.clone()).unwrap_or_default(),
        display_name: form.map(|f| f.display_name.clone()).unwrap_or_default(),
        email: form.map(|f| f.email.clone()).unwrap_or_default(),
    };
    let mut response = page(context, &template, status);
    response
        .headers_mut()
        .append(header::SET_COOKIE, set_cookie(FORM_COOKIE, &form_csrf, 3_600));
    Ok(response)
}

async fn signup_form(
    State(platform): State<Platform>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, Stop> {
    let context = context(&platform, &headers, &query).await?;
    signup_page(&context, None, None, StatusCode::OK)
}

#[derive(Debug, Deserialize)]
struct SignUpForm {
    csrf: String,
    username: String,
    display_name: String,
    #[serde(default)]
    email: String,
    password: String,
}

async fn signup(
    State(platform): State<Platform>,
    headers: HeaderMap,
    Form(form): Form<SignUpForm>,
) -> Result<Response, Stop> {
    let context = context(&platform, &headers, &HashMap::new()).await?;
    let csrf_ok = warga_http::web::double_submit_matches(&headers, FORM_COOKIE, &form.csrf);
    if !csrf_ok {
        return signup_page(
            &context,
            Some(context.t("error.form").into()),
            Some(&form),
            StatusCode::BAD_REQUEST,
        );
    }
    let mut tx = platform.store.begin().await?;
    let created = accounts::create(
        &mut tx,
        accounts::NewAccount {
            username: form.username.clone(),
            display_name: form.display_name.clone(),
            email: Some(form.email.clone()).filter(|e| !e.trim().is_empty()),
            password: form.password.clone(),
            roles: [Role::Citizen].into_iter().collect(),
            ..Default::default()
        },
        "anonymous",
    )
    .await
    .map_err(ApiError::from);
    match created {
        Ok(account) => {
            tx.commit().await?;
            // Signed up is signed in: a provider session, then the ordinary sign-in, which
            // completes without asking again and lands on the account page.
            let cookie = warga_identity::oidc::sign_in_created_account(&platform, &account).await?;
            let mut response = see_other("/masuk");
            response.headers_mut().append(header::SET_COOKIE, cookie);
            Ok(response)
        }
        Err(ApiError::Validation {
            field,
            detail,
            detail_id,
        }) => {
            let text = detail_id.filter(|_| context.lang == Lang::Id).unwrap_or(detail);
            signup_page_with(&context, None, (field, text), Some(&form), StatusCode::BAD_REQUEST)
        }
        Err(ApiError::Conflict(detail)) => signup_page(
            &context,
            Some(detail.in_lang(context.lang == Lang::En).to_owned()),
            Some(&form),
            StatusCode::CONFLICT,
        ),
        Err(other) => Err(other.into()),
    }
}

/// Where a person lands after signing in: an officer on their work — the top office on the
/// dashboard, a department's officer on the queue, a registry officer on the link requests
/// waiting for them; everyone else on their account.
fn landing(account: &warga_identity::accounts::Account) -> &'static str {
    let roles = &account.roles;
    if roles.contains(&Role::Officer) && account.officer_level == Some(warga_core::identity::OfficerLevel::Top) {
        "/dasbor"
    } else if roles.contains(&Role::Officer) && account.department_id.is_some() {
        "/dinas"
    } else if roles.contains(&Role::RegistryOfficer) {
        "/penduduk/tautan"
    } else if roles.contains(&Role::LedgerMember) {
        "/bpjs"
    } else if roles.contains(&Role::LedgerAuditor) {
        "/bpjs/ledger"
    } else {
        "/akun"
    }
}

/// Starts single sign-on at warga's provider (authorization code with PKCE).
async fn sign_in(
    State(platform): State<Platform>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, Stop> {
    let context = context(&platform, &headers, &query).await?;
    if let Some(session) = &context.session {
        return Ok(see_other(landing(&session.account)));
    }
    let state = random(24)?;
    let verifier = random(48)?;
    let nonce = random(16)?;
    let mut tx = platform.store.begin().await?;
    sqlx::query(
        "INSERT INTO web_logins (state, code_verifier, nonce, lang, expires_at_ms) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(&state)
    .bind(&verifier)
    .bind(&nonce)
    .bind(context.lang.code())
    .bind(platform.clock.now_ms() + LOGIN_TTL_MS)
    .execute(tx.conn())
    .await
    .map_err(StoreError::from)?;
    tx.commit().await?;
    let digest = ring::digest::digest(&ring::digest::SHA256, verifier.as_bytes());
    let challenge = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest.as_ref());
    let redirect_uri = format!("{}/web/callback", platform.public_url);
    let query = serde_urlencoded::to_string([
        ("response_type", "code"),
        ("client_id", warga_identity::WEB_CLIENT_ID),
        ("redirect_uri", redirect_uri.as_str()),
        ("scope", "openid profile roles"),
        ("state", state.as_str()),
        ("nonce", nonce.as_str()),
        ("code_challenge", challenge.as_str()),
        ("code_challenge_method", "S256"),
        ("ui_locales", context.lang.code()),
    ])
    .map_err(|e| ApiError::Internal(e.into()))?;
    Ok(see_other(&format!("/oauth2/authorize?{query}")))
}

async fn callback(
    State(platform): State<Platform>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, Stop> {
    let context = context(&platform, &headers, &query).await?;
    let (Some(code), Some(state)) = (query.get("code"), query.get("state")) else {
        return Ok(message(&context, StatusCode::BAD_REQUEST, context.t("error.signin")));
    };
    let mut tx = platform.store.begin().await?;
    let row = sqlx::query("SELECT code_verifier, nonce, expires_at_ms FROM web_logins WHERE state = $1")
        .bind(state)
        .fetch_optional(tx.conn())
        .await
        .map_err(StoreError::from)?;
    sqlx::query("DELETE FROM web_logins WHERE state = $1 OR expires_at_ms < $2")
        .bind(state)
        .bind(platform.clock.now_ms())
        .execute(tx.conn())
        .await
        .map_err(StoreError::from)?;
    tx.commit().await?;
    let Some(row) = row.filter(|r| r.get::<i64, _>(2) > platform.clock.now_ms()) else {
        return Ok(message(&context, StatusCode::BAD_REQUEST, context.t("error.signin")));
    };
    let redirect_uri = format!("{}/web/callback", platform.public_url);
    let verifier: String = row.get(0);
    let expected_nonce: String = row.get(1);
    let redeemed = warga_identity::oidc::redeem_in_process(
        &platform,
        warga_identity::WEB_CLIENT_ID,
        code,
        &verifier,
        &redirect_uri,
    )
    .await;
    let (account, id_token, nonce) = match redeemed {
        Ok(redeemed) => redeemed,
        Err(error) => {
            tracing::warn!(%error, "web sign-in failed");
            return Ok(message(&context, StatusCode::BAD_REQUEST, context.t("error.signin")));
        }
    };
    if nonce.as_deref() != Some(expected_nonce.as_str()) {
        return Ok(message(&context, StatusCode::BAD_REQUEST, context.t("error.signin")));
    }
    let session = random(32)?;
    let now = platform.clock.now_ms();
    let ttl_s = platform.config.identity.session_ttl_s as i64;
    let mut tx = platform.store.begin().await?;
    sqlx::query(
        "INSERT INTO web_sessions (id_hash, account_id, csrf, id_token, created_at_ms, expires_at_ms) VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(warga_auth::token_hash(&session))
    .bind(&account.id)
    .bind(random(24)?)
    .bind(&id_token)
    .bind(now)
    .bind(now + ttl_s * 1000)
    .execute(tx.conn())
    .await
    .map_err(StoreError::from)?;
    tx.commit().await?;
    let mut response = see_other(landing(&account));
    response
        .headers_mut()
        .append(header::SET_COOKIE, set_cookie(SESSION_COOKIE, &session, ttl_s));
    Ok(response)
}

#[derive(Debug, Deserialize)]
struct CsrfForm {
    csrf: String,
}

fn csrf_matches(session: &Session, presented: &str) -> bool {
    warga_http::web::csrf_matches(&session.csrf, presented)
}

/// Ends the web session, then the provider's session (RP-initiated logout).
async fn sign_out(
    State(platform): State<Platform>,
    headers: HeaderMap,
    Form(form): Form<CsrfForm>,
) -> Result<Response, Stop> {
    let context = context(&platform, &headers, &HashMap::new()).await?;
    let Some(session) = &context.session else {
        return Ok(see_other("/"));
    };
    if !csrf_matches(session, &form.csrf) {
        return Ok(message(&context, StatusCode::BAD_REQUEST, context.t("error.form")));
    }
    let mut tx = platform.store.begin().await?;
    sqlx::query("DELETE FROM web_sessions WHERE id_hash = $1")
        .bind(&session.id_hash)
        .execute(tx.conn())
        .await
        .map_err(StoreError::from)?;
    tx.commit().await?;
    let after = format!("{}/", platform.public_url);
    let query = serde_urlencoded::to_string([
        ("id_token_hint", session.id_token.as_str()),
        ("post_logout_redirect_uri", after.as_str()),
        ("state", "signedout"),
    ])
    .map_err(|e| ApiError::Internal(e.into()))?;
    let mut response = see_other(&format!("/oauth2/logout?{query}"));
    response
        .headers_mut()
        .append(header::SET_COOKIE, set_cookie(SESSION_COOKIE, "", 0));
    Ok(response)
}

#[derive(Template)]
#[template(path = "account.html")]
struct AccountPage {
    layout: Layout,
    account: accounts::AccountView,
    roles: String,
    citizen: Option<population::CitizenLink>,
    notice: Option<&'static str>,
    /// The password form's outcome: a notice, or the field at fault and why.
    password_notice: Option<&'static str>,
    password_field: String,
    password_error: String,
    /// The recovery phone, and the outcome of its form.
    phone: String,
    phone_notice: Option<&'static str>,
    phone_error: Option<&'static str>,
}

async fn account(
    State(platform): State<Platform>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, Stop> {
    let context = context(&platform, &headers, &query).await?;
    let Some(session) = &context.session else {
        return Ok(see_other("/masuk"));
    };
    let notice = (query.get("m").map(String::as_str) == Some("link-asked")).then(|| context.t("link.asked"));
    let password = (query.get("m").map(String::as_str) == Some("password")).then(|| context.t("password.changed"));
    let phone = (query.get("m").map(String::as_str) == Some("phone")).then(|| context.t("phone.saved"));
    let shown = Shown {
        password: (password, None),
        phone: (phone, None),
    };
    account_page_full(&platform, &context, session, None, notice, shown, StatusCode::OK).await
}

/// The account page, with an error of the link form.
async fn account_page(
    platform: &Platform,
    context: &Context,
    session: &Session,
    error: Option<String>,
    status: StatusCode,
) -> Result<Response, Stop> {
    account_page_with(platform, context, session, error, None, status).await
}

async fn account_page_with(
    platform: &Platform,
    context: &Context,
    session: &Session,
    error: Option<String>,
    notice: Option<&'static str>,
    status: StatusCode,
) -> Result<Response, Stop> {
    account_page_full(platform, context, session, error, notice, Shown::default(), status).await
}

/// The outcomes of the account page's own forms: the password (a notice, or the field at
/// fault and why) and the recovery phone (a notice or an error).
#[derive(Default)]
struct Shown {
    password: (Option<&'static str>, Option<(String, String)>),
    phone: (Option<&'static str>, Option<&'static str>),
}

async fn account_page_full(
    platform: &Platform,
    context: &Context,
    session: &Session,
    error: Option<String>,
    notice: Option<&'static str>,
    shown: Shown,
    status: StatusCode,
) -> Result<Response, Stop> {
    let (password_notice, password_error) = shown.password;
    let (phone_notice, phone_error) = shown.phone;
    let phone = warga_identity::recovery::phone_of(platform, &session.account.id)
        .await
        .map_err(ApiError::from)?
        .unwrap_or_default();
    let (password_field, password_error) = password_error.unwrap_or_default();
    let view = accounts::AccountView::from(&session.account);
    let roles = view.roles.iter().map(|r| r.as_str()).collect::<Vec<_>>().join(", ");
    let citizen = population::citizen_link(platform, session).await?.map(|mut link| {
        link.error = error;
        link
    });
    Ok(page(
        context,
        &AccountPage {
            layout: context.layout(),
            account: view,
            roles,
            citizen,
            notice,
            password_notice,
            password_field,
            password_error,
            phone,
            phone_notice,
            phone_error,
        },
        status,
    ))
}

#[derive(Debug, Deserialize)]
struct PhoneForm {
    csrf: String,
    #[serde(default)]
    phone: String,
}

/// `/akun/telepon`: sets or removes the account's recovery phone.
async fn set_phone(
    State(platform): State<Platform>,
    headers: HeaderMap,
    Form(form): Form<PhoneForm>,
) -> Result<Response, Stop> {
    let context = context(&platform, &headers, &HashMap::new()).await?;
    let Some(session) = &context.session else {
        return Ok(see_other("/masuk"));
    };
    let error = if !csrf_matches(session, &form.csrf) {
        context.t("error.form")
    } else {
        match warga_identity::recovery::set_phone(&platform, &session.account.id, Some(&form.phone)).await {
            Ok(()) => return Ok(see_other("/akun?m=phone")),
            Err(warga_identity::IdentityError::Invalid { .. }) => context.t("phone.invalid"),
            Err(other) => return Err(ApiError::from(other).into()),
        }
    };
    let shown = Shown {
        password: (None, None),
        phone: (None, Some(error)),
    };
    account_page_full(&platform, &context, session, None, None, shown, StatusCode::BAD_REQUEST).await
}

#[derive(Debug, Deserialize)]
struct PasswordForm {
    csrf: String,
    current_password: String,
    new_password: String,
    confirm: String,
}

/// `/akun/sandi`: the signed-in person changes their password.
async fn change_password(
    State(platform): State<Platform>,
    headers: HeaderMap,
    Form(form): Form<PasswordForm>,
) -> Result<Response, Stop> {
    let context = context(&platform, &headers, &HashMap::new()).await?;
    let Some(session) = &context.session else {
        return Ok(see_other("/masuk"));
    };
    let refuse = |field: &str, text: String| (None, Some((field.to_owned(), text)));
    let outcome = if !csrf_matches(session, &form.csrf) {
        refuse("", context.t("error.form").to_owned())
    } else if form.new_password != form.confirm {
        refuse("confirm", context.t("password.differ").to_owned())
    } else {
        match accounts::change_password(
            &platform.store,
            &session.account.id,
            &form.current_password,
            &form.new_password,
        )
        .await
        {
            Ok(()) => return Ok(see_other("/akun?m=password")),
            Err(warga_identity::IdentityError::Invalid {
                field,
                detail,
                detail_id,
            }) => {
                let detail = detail_id.filter(|_| context.lang == Lang::Id).unwrap_or(detail);
                let text = match field.as_str() {
                    "current_password" => context.t("password.wrong_current").to_owned(),
                    _ => format!("{}: {detail}", context.t("password.weak")),
                };
                refuse(&field, text)
            }
            Err(other) => return Err(ApiError::from(other).into()),
        }
    };
    let shown = Shown {
        password: outcome,
        phone: (None, None),
    };
    account_page_full(&platform, &context, session, None, None, shown, StatusCode::BAD_REQUEST).await
}

// ---------------------------------------------------------------------------------------
// Administration

#[derive(Template)]
#[template(path = "departments.html")]
struct DepartmentsPage {
    layout: Layout,
    departments: Vec<Department>,
    notice: Option<String>,
    error: Option<String>,
}

async fn departments_response(
    platform: &Platform,
    context: &Context,
    notice: Option<String>,
    error: Option<String>,
    status: StatusCode,
) -> Result<Response, Stop> {
    let departments = accounts::departments(&platform.store).await?;
    Ok(page(
        context,
        &DepartmentsPage {
            layout: context.layout(),
            departments,
            notice,
            error,
        },
        status,
    ))
}

/// What a form page shows after a submission: the notice on success; the error, naming the
/// field, with 400 or 409 otherwise. Other errors are not the user's and propagate.
fn form_outcome(
    context: &Context,
    result: Result<String, ApiError>,
) -> Result<(Option<String>, Option<String>, StatusCode), ApiError> {
    let english = context.lang == Lang::En;
    match result {
        Ok(notice) => Ok((Some(notice), None, StatusCode::OK)),
        Err(error @ ApiError::Validation { .. }) => {
            let ApiError::Validation { field, .. } = &error else {
                return Err(error);
            };
            Ok((
                None,
                Some(format!("{field}: {}", error.detail_in(english))),
                StatusCode::BAD_REQUEST,
            ))
        }
        Err(ApiError::Conflict(detail)) => Ok((None, Some(detail.in_lang(english).to_owned()), StatusCode::CONFLICT)),
        Err(other) => Err(other),
    }
}

/// The administrator's session, or the response for anyone else (sign in first, or 403).
fn require_admin(context: &Context) -> Result<&Session, Stop> {
    match (&context.session, context.admin()) {
        (None, _) => Err(Stop::Page(Box::new(see_other("/masuk")))),
        (Some(_), None) => Err(Stop::Page(Box::new(message(
            context,
            StatusCode::FORBIDDEN,
            context.t("error.forbidden"),
        )))),
        (Some(_), Some(session)) => Ok(session),
    }
}

async fn departments_page(
    State(platform): State<Platform>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, Stop> {
    let context = context(&platform, &headers, &query).await?;
    require_admin(&context)?;
    departments_response(&platform, &context, None, None, StatusCode::OK).await
}

#[derive(Debug, Deserialize)]
struct DepartmentForm {
    csrf: String,
    id: String,
    name: String,
}

async fn create_department(
    State(platform): State<Platform>,
    headers: HeaderMap,
    Form(form): Form<DepartmentForm>,
) -> Result<Response, Stop> {
    let context = context(&platform, &headers, &HashMap::new()).await?;
    let session = require_admin(&context)?;
    if !csrf_matches(session, &form.csrf) {
        return departments_response(
            &platform,
            &context,
            None,
            Some(context.t("error.form").into()),
            StatusCode::BAD_REQUEST,
        )
        .await;
    }
    let actor = format!("user:{}", session.account.id);
    let mut tx = platform.store.begin().await?;
    let created = accounts::create_department(&mut tx, &form.id, &form.name, &actor)
        .await
        .map_err(ApiError::from);
    if created.is_ok() {
        tx.commit().await?;
    }
    let (notice, error, status) = form_outcome(
        &context,
        created.map(|()| format!("{}: {}", context.t("departments.created"), form.name.trim())),
    )?;
    departments_response(&platform, &context, notice, error, status).await
}

pub struct OfficerRow {
    id: String,
    username: String,
    display_name: String,
    role: &'static str,
    department: String,
    level: &'static str,
    active: bool,
}

#[derive(Template)]
#[template(path = "officers.html")]
struct OfficersPage {
    layout: Layout,
    officers: Vec<OfficerRow>,
    departments: Vec<Department>,
    notice: Option<String>,
    error: Option<String>,
}

async fn officers_response(
    platform: &Platform,
    context: &Context,
    notice: Option<String>,
    error: Option<String>,
    status: StatusCode,
) -> Result<Response, Stop> {
    let tr = Tr(context.lang);
    // Staff accounts: department officers and registry officers, by username.
    let mut staff = accounts::list(&platform.store, Some(Role::Officer), None, None, 500).await?;
    staff.extend(accounts::list(&platform.store, Some(Role::RegistryOfficer), None, None, 500).await?);
    staff.extend(accounts::list(&platform.store, Some(Role::LedgerMember), None, None, 500).await?);
    staff.extend(accounts::list(&platform.store, Some(Role::LedgerAuditor), None, None, 500).await?);
    staff.sort_by(|a, b| a.username.cmp(&b.username));
    staff.dedup_by(|a, b| a.id == b.id);
    let officers = staff
        .into_iter()
        .map(|a| OfficerRow {
            role: if a.roles.contains(&Role::RegistryOfficer) {
                tr.get("role.registry_officer")
            } else if a.roles.contains(&Role::LedgerMember) {
                tr.get("role.ledger_member")
            } else if a.roles.contains(&Role::LedgerAuditor) {
                tr.get("role.ledger_auditor")
            } else {
                tr.get("role.officer")
            },
            active: a.is_active(),
            id: a.id,
            username: a.username,
            display_name: a.display_name,
            department: a
                .department_id
                .or(a.msp_id.map(|m| match a.facility {
                    Some(f) => format!("{m} · {f}"),
                    None => m,
                }))
                .unwrap_or_default(),
            level: match a.officer_level {
                Some(OfficerLevel::Staff) => tr.get("level.staff"),
                Some(OfficerLevel::Head) => tr.get("level.head"),
                Some(OfficerLevel::Top) => tr.get("level.top"),
                None => "",
            },
        })
        .collect();
    let departments = accounts::departments(&platform.store).await?;
    Ok(page(
        context,
        &OfficersPage {
            layout: context.layout(),
            officers,
            departments,
            notice,
            error,
        },
        status,
    ))
}

async fn officers_page(
    State(platform): State<Platform>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, Stop> {
    let context = context(&platform, &headers, &query).await?;
    require_admin(&context)?;
    officers_response(&platform, &context, None, None, StatusCode::OK).await
}

#[derive(Debug, Deserialize)]
struct OfficerForm {
    csrf: String,
    username: String,
    display_name: String,
    /// `officer` (a department's) or `registry_officer` (Dukcapil).
    #[serde(default)]
    role: String,
    #[serde(default)]
    department: String,
    level: String,
    /// A ledger member's organisation and facility.
    #[serde(default)]
    msp_id: String,
    #[serde(default)]
    facility: String,
}

#[derive(Debug, Deserialize)]
struct AccountActionForm {
    csrf: String,
    /// `disable`, `enable` or `reset`.
    action: String,
}

/// `/admin/petugas/{id}`: disable, enable, or reset the password of a staff account.
async fn change_officer(
    State(platform): State<Platform>,
    headers: HeaderMap,
    axum::extract::Path(id): axum::extract::Path<String>,
    Form(form): Form<AccountActionForm>,
) -> Result<Response, Stop> {
    let context = context(&platform, &headers, &HashMap::new()).await?;
    let session = require_admin(&context)?;
    if !csrf_matches(session, &form.csrf) {
        let error = Some(context.t("error.form").into());
        return officers_response(&platform, &context, None, error, StatusCode::BAD_REQUEST).await;
    }
    let actor = format!("user:{}", session.account.id);
    let outcome: Result<String, ApiError> = match form.action.as_str() {
        "disable" if id == session.account.id => Err(ApiError::validation("id", context.t("officers.not_self"))),
        "disable" | "enable" => async {
            let mut tx = platform.store.begin().await?;
            if form.action == "disable" {
                accounts::disable(&mut tx, &id, &actor).await?;
            } else {
                accounts::enable(&mut tx, &id, &actor).await?;
            }
            tx.commit().await?;
            Ok(context
                .t(if form.action == "disable" {
                    "officers.disabled"
                } else {
                    "officers.enabled"
                })
                .to_owned())
        }
        .await
        .map_err(|e: warga_identity::IdentityError| ApiError::from(e)),
        "reset" => accounts::reset_password(&platform.store, &id, &actor)
            .await
            .map(|password| format!("{} {password}", context.t("officers.reset")))
            .map_err(ApiError::from),
        _ => Err(ApiError::validation("action", "disable, enable or reset")),
    };
    let outcome = match outcome {
        Err(ApiError::NotFound(detail)) => Err(ApiError::Conflict(detail)),
        other => other,
    };
    let (notice, error, status) = form_outcome(&context, outcome)?;
    officers_response(&platform, &context, notice, error, status).await
}

async fn create_officer(
    State(platform): State<Platform>,
    headers: HeaderMap,
    Form(form): Form<OfficerForm>,
) -> Result<Response, Stop> {
    let context = context(&platform, &headers, &HashMap::new()).await?;
    let session = require_admin(&context)?;
    if !csrf_matches(session, &form.csrf) {
        return officers_response(
            &platform,
            &context,
            None,
            Some(context.t("error.form").into()),
            StatusCode::BAD_REQUEST,
        )
        .await;
    }
    let Ok(level) = form.level.parse::<OfficerLevel>() else {
        return officers_response(
            &platform,
            &context,
            None,
            Some("level: staff, head or top".into()),
            StatusCode::BAD_REQUEST,
        )
        .await;
    };
    let actor = format!("user:{}", session.account.id);
    let created = warga_identity::create_officer_account(
        &platform,
        if form.role == "ledger_member" || form.role == "ledger_auditor" {
            let auditor = form.role == "ledger_auditor";
            warga_identity::NewOfficer {
                username: form.username,
                display_name: form.display_name,
                email: None,
                password: None,
                roles: vec![if auditor {
                    Role::LedgerAuditor
                } else {
                    Role::LedgerMember
                }],
                department: None,
                level: None,
                msp_id: Some(form.msp_id.trim().to_owned()).filter(|m| !m.is_empty()),
                // An auditor acts for no facility (a facility given is refused by name).
                facility: Some(form.facility.trim().to_owned()).filter(|f| !f.is_empty()),
            }
        } else if form.role == "registry_officer" {
            warga_identity::NewOfficer {
                username: form.username,
                display_name: form.display_name,
                email: None,
                password: None,
                roles: vec![Role::RegistryOfficer],
                department: Some(form.department).filter(|d| !d.is_empty()),
                level: None,
                msp_id: None,
                facility: None,
            }
        } else {
            warga_identity::NewOfficer {
                username: form.username,
                display_name: form.display_name,
                email: None,
                password: None,
                roles: vec![Role::Officer],
                department: Some(form.department),
                level: Some(level),
                msp_id: None,
                facility: None,
            }
        },
        &actor,
    )
    .await
    .map_err(ApiError::from);
    let (notice, error, status) = form_outcome(
        &context,
        created.map(|created| {
            let password = created.one_time_password.unwrap_or_default();
            format!(
                "{} {password} — {}",
                context.t("officers.created"),
                created.account.username
            )
        }),
    )?;
    officers_response(&platform, &context, notice, error, status).await
}
