//! The OpenID Connect provider: discovery, JWKS, authorization code with PKCE (S256 only),
//! refresh tokens rotated on every use, client credentials, revocation (RFC 7009),
//! introspection (RFC 7662), userinfo, and RP-initiated logout.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Form, Json};
use base64::Engine;
use serde::Deserialize;
use sqlx::Row;
use warga_auth::{AccessClaims, token_hash};
use warga_core::identity::Role;
use warga_core::time::Clock;
use warga_http::{ApiError, Auth, LocalIssuer, Platform, ProtocolError};
use warga_store::StoreError;
use warga_store::audit::{AuditRecord, Outcome};

use crate::accounts::{self, Account};
use crate::clients::{self, Client, ClientAuthError};
use crate::lockout::{self, LoginFailure};
use crate::pages::{self, Lang, escape};

pub const SESSION_COOKIE: &str = "__Host-warga_sid";
pub const CSRF_COOKIE: &str = "__Host-warga_csrf";
const SCOPES: [&str; 5] = ["openid", "profile", "email", "roles", "offline_access"];

/// What the provider's handlers share.
#[derive(Clone)]
pub struct IdentityState {
    pub platform: Platform,
    pub issuer: LocalIssuer,
    pub clock: Arc<dyn Clock>,
}

impl IdentityState {
    fn config(&self) -> &warga_config::IdentityConfig {
        &self.platform.config.identity
    }
    fn store(&self) -> &warga_store::Store {
        &self.platform.store
    }
    fn now_ms(&self) -> i64 {
        self.clock.now_ms()
    }
    fn issuer_url(&self) -> &str {
        self.issuer.minter.issuer()
    }
}

/// An OAuth error response (`{"error": …}`), as RFC 6749 §5.2 requires.
pub struct OAuthError {
    status: StatusCode,
    error: &'static str,
    description: String,
}

impl OAuthError {
    fn new(status: StatusCode, error: &'static str, description: impl Into<String>) -> Self {
        Self {
            status,
            error,
            description: description.into(),
        }
    }
    fn invalid_request(description: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_request", description)
    }
    fn invalid_grant(description: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_grant", description)
    }
    fn invalid_client() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "client authentication failed",
        )
    }
    fn unauthorized_client(description: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "unauthorized_client", description)
    }
    fn server_error(error: impl std::fmt::Display) -> Self {
        tracing::error!(%error, "token endpoint failed");
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "server_error", "try again later")
    }
}

impl From<StoreError> for OAuthError {
    fn from(error: StoreError) -> Self {
        OAuthError::server_error(error)
    }
}

impl From<warga_auth::AuthError> for OAuthError {
    fn from(error: warga_auth::AuthError) -> Self {
        OAuthError::server_error(error)
    }
}

impl From<ClientAuthError> for OAuthError {
    fn from(error: ClientAuthError) -> Self {
        match error {
            ClientAuthError::Invalid => OAuthError::invalid_client(),
            ClientAuthError::Unavailable => OAuthError::server_error("client store unavailable"),
        }
    }
}

impl IntoResponse for OAuthError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({ "error": self.error, "error_description": self.description });
        let mut response = (self.status, Json(body)).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        if self.status == StatusCode::UNAUTHORIZED {
            headers.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"warga\""),
            );
        }
        response.extensions_mut().insert(ProtocolError);
        response
    }
}

fn no_store(mut response: Response) -> Response {
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

// ---------------------------------------------------------------------------------------
// Discovery and keys

pub async fn discovery(State(state): State<IdentityState>) -> Json<serde_json::Value> {
    let issuer = state.issuer_url();
    Json(serde_json::json!({
        "issuer": issuer,
        "authorization_endpoint": format!("{issuer}/oauth2/authorize"),
        "token_endpoint": format!("{issuer}/oauth2/token"),
        "jwks_uri": format!("{issuer}/oauth2/jwks"),
        "userinfo_endpoint": format!("{issuer}/oauth2/userinfo"),
        "revocation_endpoint": format!("{issuer}/oauth2/revoke"),
        "introspection_endpoint": format!("{issuer}/oauth2/introspect"),
        "end_session_endpoint": format!("{issuer}/oauth2/logout"),
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": [clients::GRANT_AUTHORIZATION_CODE, clients::GRANT_REFRESH_TOKEN, clients::GRANT_CLIENT_CREDENTIALS],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["ES256"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
        "revocation_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
        "introspection_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "code_challenge_methods_supported": ["S256"],
        "scopes_supported": SCOPES,
        "claims_supported": ["sub", "iss", "aud", "exp", "iat", "auth_time", "nonce", "preferred_username", "name", "email", "roles", "department", "officer_level", "msp_id"],
        "authorization_response_iss_parameter_supported": true,
        "ui_locales_supported": ["id", "en"],
    }))
}

pub async fn jwks(State(state): State<IdentityState>) -> Result<Response, ApiError> {
    let keys = state.issuer.keyring.jwks().await?;
    let mut response = Json(keys).into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=60"));
    Ok(response)
}

pub async fn stylesheet() -> Response {
    let mut response = pages::STYLESHEET.into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/css; charset=utf-8"),
    );
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=3600"));
    response
}

// ---------------------------------------------------------------------------------------
// Cookies and sessions

fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value)
}

fn set_cookie(name: &str, value: &str, max_age_s: i64) -> HeaderValue {
    let text = format!("{name}={value}; Path=/; Secure; HttpOnly; SameSite=Lax; Max-Age={max_age_s}");
    HeaderValue::from_str(&text).unwrap_or_else(|_| HeaderValue::from_static("invalid=1; Max-Age=0"))
}

/// The signed-in account of the browser's provider session, if any.
async fn current_session(state: &IdentityState, headers: &HeaderMap) -> Result<Option<(String, Account)>, StoreError> {
    let Some(session) = cookie(headers, SESSION_COOKIE) else {
        return Ok(None);
    };
    let session_hash = token_hash(session);
    let row = sqlx::query(
        "SELECT account_id FROM identity_sessions WHERE id_hash = $1 AND revoked_at_ms IS NULL AND expires_at_ms > $2",
    )
    .bind(&session_hash)
    .bind(state.now_ms())
    .fetch_optional(state.store().reader())
    .await?;
    let Some(row) = row else { return Ok(None) };
    let account = accounts::by_id(state.store().reader(), &row.get::<String, _>(0)).await?;
    Ok(account.filter(Account::is_active).map(|a| (session_hash, a)))
}

// ---------------------------------------------------------------------------------------
// Authorization endpoint

#[derive(Clone, Debug, Default, Deserialize)]
pub struct AuthorizeParams {
    response_type: Option<String>,
    client_id: Option<String>,
    redirect_uri: Option<String>,
    scope: Option<String>,
    state: Option<String>,
    nonce: Option<String>,
    code_challenge: Option<String>,
    code_challenge_method: Option<String>,
    prompt: Option<String>,
    lang: Option<String>,
    ui_locales: Option<String>,
}

impl AuthorizeParams {
    fn lang(&self) -> Lang {
        let ui = self.ui_locales.as_deref().and_then(|l| l.split(' ').next());
        Lang::from_param(self.lang.as_deref().or(ui))
    }
}

#[derive(Debug, Deserialize)]
pub struct LoginForm {
    #[serde(flatten)]
    params: AuthorizeParams,
    username: String,
    password: String,
    csrf: String,
}

/// A request that passed the checks which decide whether redirecting is safe.
struct Checked {
    client: Client,
    redirect_uri: String,
    scope: String,
    code_challenge: String,
}

enum Refusal {
    /// The client or redirect URI is wrong: never redirect, show a page.
    Page(Response),
    /// Tell the client, at its redirect URI.
    Redirect(Response),
}

fn with_query(base: &str, pairs: &[(&str, &str)]) -> String {
    let query = serde_urlencoded::to_string(pairs).unwrap_or_default();
    let separator = if base.contains('?') { '&' } else { '?' };
    format!("{base}{separator}{query}")
}

fn redirect_error(
    state: &IdentityState,
    redirect_uri: &str,
    error: &str,
    description: &str,
    client_state: Option<&str>,
) -> Response {
    let mut pairs = vec![
        ("error", error),
        ("error_description", description),
        ("iss", state.issuer_url()),
    ];
    if let Some(s) = client_state {
        pairs.push(("state", s));
    }
    no_store(Redirect::to(&with_query(redirect_uri, &pairs)).into_response())
}

async fn check_authorize(state: &IdentityState, params: &AuthorizeParams) -> Result<Checked, Refusal> {
    let lang = params.lang();
    let Some(client_id) = params.client_id.as_deref() else {
        return Err(Refusal::Page(pages::error_page(lang, "client_id is missing")));
    };
    let client = match clients::find(state.store(), client_id).await {
        Ok(Some(client)) => client,
        Ok(None) => return Err(Refusal::Page(pages::error_page(lang, "unknown client_id"))),
        Err(error) => return Err(Refusal::Page(ApiError::from(error).into_response())),
    };
    let redirect_uri = match params.redirect_uri.as_deref() {
        Some(uri) if client.has_redirect_uri(uri) => uri.to_owned(),
        _ => {
            return Err(Refusal::Page(pages::error_page(
                lang,
                "redirect_uri is not registered for this client",
            )));
        }
    };
    let error = |code: &str, text: &str| {
        Refusal::Redirect(redirect_error(
            state,
            &redirect_uri,
            code,
            text,
            params.state.as_deref(),
        ))
    };
    if !client.allows(clients::GRANT_AUTHORIZATION_CODE) {
        return Err(error(
            "unauthorized_client",
            "this client may not use the authorization code grant",
        ));
    }
    if params.response_type.as_deref() != Some("code") {
        return Err(error(
            "unsupported_response_type",
            "only response_type=code is supported",
        ));
    }
    if params.code_challenge_method.as_deref() != Some("S256") {
        return Err(error(
            "invalid_request",
            "PKCE with code_challenge_method=S256 is required",
        ));
    }
    let challenge = params.code_challenge.clone().unwrap_or_default();
    let challenge_ok = challenge.len() == 43
        && challenge
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if !challenge_ok {
        return Err(error(
            "invalid_request",
            "code_challenge must be a base64url SHA-256 (43 characters)",
        ));
    }
    let scope: Vec<&str> = params
        .scope
        .as_deref()
        .unwrap_or("openid")
        .split(' ')
        .filter(|s| SCOPES.contains(s))
        .collect();
    if params.nonce.as_deref().is_some_and(|n| n.len() > 512)
        || params.state.as_deref().is_some_and(|s| s.len() > 2_048)
    {
        return Err(error("invalid_request", "state or nonce too long"));
    }
    Ok(Checked {
        client,
        redirect_uri,
        scope: scope.join(" "),
        code_challenge: challenge,
    })
}

/// The authorization request's parameters as hidden form fields.
fn hidden_fields(params: &AuthorizeParams) -> String {
    let lang = params.lang();
    [
        ("response_type", params.response_type.as_deref()),
        ("client_id", params.client_id.as_deref()),
        ("redirect_uri", params.redirect_uri.as_deref()),
        ("scope", params.scope.as_deref()),
        ("state", params.state.as_deref()),
        ("nonce", params.nonce.as_deref()),
        ("code_challenge", params.code_challenge.as_deref()),
        ("code_challenge_method", params.code_challenge_method.as_deref()),
        ("lang", Some(lang.code())),
    ]
    .iter()
    .filter_map(|(name, value)| {
        value.map(|v| format!("<input type=\"hidden\" name=\"{name}\" value=\"{}\">", escape(v)))
    })
    .collect()
}

/// What a form of the provider's pages posts with: the authorization request is checked
/// again, then the CSRF token, then the credentials (with brute-force protection). `Err` is
/// the page to show instead.
async fn sign_in_from_form(
    state: &IdentityState,
    peer: SocketAddr,
    headers: &HeaderMap,
    params: &AuthorizeParams,
    csrf: &str,
    username: &str,
    password: &str,
) -> Result<(Checked, String, Account), Box<Response>> {
    let lang = params.lang();
    let checked = match check_authorize(state, params).await {
        Ok(checked) => checked,
        Err(Refusal::Page(response) | Refusal::Redirect(response)) => return Err(Box::new(response)),
    };
    let fresh_csrf = warga_auth::random_token(24).unwrap_or_default();
    let page = |message: &pages::Text, status| {
        Box::new(login_page(
            params,
            &checked.client,
            &checked.redirect_uri,
            &fresh_csrf,
            Some(message.get(lang)),
            status,
        ))
    };
    let csrf_ok = cookie(headers, CSRF_COOKIE)
        .is_some_and(|c| !c.is_empty() && warga_auth::constant_time_eq(c.as_bytes(), csrf.as_bytes()));
    if !csrf_ok {
        return Err(page(&pages::FORM_EXPIRED, StatusCode::BAD_REQUEST));
    }
    let outcome = lockout::sign_in(
        state.store(),
        state.config(),
        state.clock.as_ref(),
        username,
        password,
        peer.ip(),
    )
    .await;
    match outcome {
        Ok(Ok(account)) => Ok((checked, fresh_csrf, account)),
        Ok(Err(LoginFailure::InvalidCredentials)) => Err(page(&pages::INVALID_CREDENTIALS, StatusCode::UNAUTHORIZED)),
        Ok(Err(LoginFailure::AccountLocked | LoginFailure::AddressLocked)) => {
            Err(page(&pages::LOCKED, StatusCode::TOO_MANY_REQUESTS))
        }
        Ok(Err(LoginFailure::Disabled)) => Err(page(&pages::DISABLED, StatusCode::FORBIDDEN)),
        Err(error) => Err(Box::new(ApiError::from(error).into_response())),
    }
}

/// Asks an account that signed in with a one-time password for a new one.
fn change_password_page(
    params: &AuthorizeParams,
    redirect_uri: &str,
    csrf: &str,
    username: &str,
    message: Option<&str>,
    status: StatusCode,
) -> Response {
    let lang = params.lang();
    let hidden = hidden_fields(params);
    let error = message
        .map(|m| format!("<p class=\"error\" role=\"alert\">{}</p>", escape(m)))
        .unwrap_or_default();
    let body = format!(
        "<h1>{title}</h1><p>{why}</p>{error}\
         <form method=\"post\" action=\"/oauth2/password\">{hidden}\
         <input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\
         <input type=\"hidden\" name=\"username\" value=\"{username}\">\
         <label for=\"password\">{current}</label><input type=\"password\" id=\"password\" name=\"password\" autocomplete=\"current-password\" required>\
         <label for=\"new_password\">{new}</label><input type=\"password\" id=\"new_password\" name=\"new_password\" autocomplete=\"new-password\" minlength=\"10\" required>\
         <label for=\"confirm\">{confirm}</label><input type=\"password\" id=\"confirm\" name=\"confirm\" autocomplete=\"new-password\" minlength=\"10\" required>\
         <button type=\"submit\">{submit}</button></form>",
        title = pages::CHANGE_PASSWORD.get(lang),
        why = pages::CHANGE_PASSWORD_WHY.get(lang),
        csrf = escape(csrf),
        username = escape(username),
        current = pages::CURRENT_PASSWORD.get(lang),
        new = pages::NEW_PASSWORD.get(lang),
        confirm = pages::CONFIRM_PASSWORD.get(lang),
        submit = pages::SAVE_AND_CONTINUE.get(lang),
    );
    let mut response = pages::page(
        lang,
        pages::CHANGE_PASSWORD.get(lang),
        &body,
        status,
        pages::origin(redirect_uri).as_deref(),
    );
    response
        .headers_mut()
        .append(header::SET_COOKIE, set_cookie(CSRF_COOKIE, csrf, 3_600));
    response
}

#[derive(Debug, Deserialize)]
pub struct PasswordChangeForm {
    #[serde(flatten)]
    params: AuthorizeParams,
    username: String,
    password: String,
    new_password: String,
    confirm: String,
    csrf: String,
}

/// Sets a new password in place of a one-time one, then completes the sign-in.
pub async fn change_password(
    State(state): State<IdentityState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Form(form): Form<PasswordChangeForm>,
) -> Response {
    let params = &form.params;
    let lang = params.lang();
    let (checked, fresh_csrf, account) = match sign_in_from_form(
        &state,
        peer,
        &headers,
        params,
        &form.csrf,
        &form.username,
        &form.password,
    )
    .await
    {
        Ok(signed_in) => signed_in,
        Err(page) => return *page,
    };
    let refuse = |message: String| {
        change_password_page(
            params,
            &checked.redirect_uri,
            &fresh_csrf,
            &account.username,
            Some(&message),
            StatusCode::BAD_REQUEST,
        )
    };
    if form.new_password != form.confirm {
        return refuse(pages::PASSWORDS_DIFFER.get(lang).to_owned());
    }
    if form.new_password == form.password {
        return refuse(pages::SAME_PASSWORD.get(lang).to_owned());
    }
    if let Err(error) = crate::password::check_policy(&form.new_password, &account.username) {
        return refuse(format!("{}: {error}", pages::NEW_PASSWORD.get(lang)));
    }
    let changed: Result<(), ApiError> = async {
        let hash = crate::password::hash(form.new_password.clone()).await.map_err(|e| ApiError::Internal(anyhow::anyhow!(e)))?;
        let mut tx = state.store().begin().await?;
        sqlx::query("UPDATE identity_accounts SET password_hash = $1, must_change_password = 0, updated_at_ms = $2 WHERE id = $3")
            .bind(hash)
            .bind(state.now_ms())
            .bind(&account.id)
            .execute(tx.conn())
            .await
            .map_err(StoreError::from)?;
        tx.audit(&AuditRecord {
            actor: &format!("user:{}", account.id),
            action: "identity.password.change",
            target: &format!("account:{}", account.id),
            outcome: Outcome::Success,
            details: None,
        })
        .await?;
        tx.commit().await?;
        Ok(())
    }
    .await;
    if let Err(error) = changed {
        return error.into_response();
    }
    complete_sign_in(&state, &checked, params, &account).await
}

/// Opens the provider session and sends the browser back to the client with a code.
async fn complete_sign_in(
    state: &IdentityState,
    checked: &Checked,
    params: &AuthorizeParams,
    account: &Account,
) -> Response {
    let session = match create_session(state, account).await {
        Ok(session) => session,
        Err(error) => return error.into_response(),
    };
    let mut response = issue_code(state, checked, params, account, &token_hash(&session)).await;
    let max_age = state.config().session_ttl_s as i64;
    response
        .headers_mut()
        .append(header::SET_COOKIE, set_cookie(SESSION_COOKIE, &session, max_age));
    response
        .headers_mut()
        .append(header::SET_COOKIE, set_cookie(CSRF_COOKIE, "", 0));
    response
}

fn login_page(
    params: &AuthorizeParams,
    client: &Client,
    redirect_uri: &str,
    csrf: &str,
    message: Option<&str>,
    status: StatusCode,
) -> Response {
    let lang = params.lang();
    let hidden = hidden_fields(params);
    let error = message
        .map(|m| format!("<p class=\"error\" role=\"alert\">{}</p>", escape(m)))
        .unwrap_or_default();
    let body = format!(
        "<h1>{title}</h1><p>{for_} <strong>{client}</strong></p>{error}\
         <form method=\"post\" action=\"/oauth2/authorize\">{hidden}\
         <input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\
         <label for=\"username\">{user}</label><input type=\"text\" id=\"username\" name=\"username\" autocomplete=\"username\" required autofocus>\
         <label for=\"password\">{pass}</label><input type=\"password\" id=\"password\" name=\"password\" autocomplete=\"current-password\" required>\
         <button type=\"submit\">{submit}</button></form>",
        title = pages::SIGN_IN.get(lang),
        for_ = pages::SIGNING_IN_FOR.get(lang),
        client = escape(&client.name),
        user = pages::USERNAME.get(lang),
        pass = pages::PASSWORD.get(lang),
        submit = pages::SUBMIT.get(lang),
        csrf = escape(csrf),
    );
    let mut response = pages::page(
        lang,
        pages::SIGN_IN.get(lang),
        &body,
        status,
        pages::origin(redirect_uri).as_deref(),
    );
    response
        .headers_mut()
        .append(header::SET_COOKIE, set_cookie(CSRF_COOKIE, csrf, 3_600));
    response
}

pub async fn authorize_get(
    State(state): State<IdentityState>,
    headers: HeaderMap,
    Query(params): Query<AuthorizeParams>,
) -> Response {
    let checked = match check_authorize(&state, &params).await {
        Ok(checked) => checked,
        Err(Refusal::Page(response) | Refusal::Redirect(response)) => return response,
    };
    let prompt = params.prompt.as_deref().unwrap_or("");
    if prompt != "login" {
        match current_session(&state, &headers).await {
            Ok(Some((session_hash, account))) => {
                return issue_code(&state, &checked, &params, &account, &session_hash).await;
            }
            Ok(None) => {}
            Err(error) => return ApiError::from(error).into_response(),
        }
    }
    if prompt == "none" {
        return redirect_error(
            &state,
            &checked.redirect_uri,
            "login_required",
            "no session",
            params.state.as_deref(),
        );
    }
    let csrf = match warga_auth::random_token(24) {
        Ok(token) => token,
        Err(error) => return ApiError::from(error).into_response(),
    };
    login_page(
        &params,
        &checked.client,
        &checked.redirect_uri,
        &csrf,
        None,
        StatusCode::OK,
    )
}

pub async fn authorize_post(
    State(state): State<IdentityState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Form(form): Form<LoginForm>,
) -> Response {
    let params = &form.params;
    let (checked, fresh_csrf, account) = match sign_in_from_form(
        &state,
        peer,
        &headers,
        params,
        &form.csrf,
        &form.username,
        &form.password,
    )
    .await
    {
        Ok(signed_in) => signed_in,
        Err(page) => return *page,
    };
    if account.must_change_password {
        return change_password_page(
            params,
            &checked.redirect_uri,
            &fresh_csrf,
            &account.username,
            None,
            StatusCode::OK,
        );
    }
    complete_sign_in(&state, &checked, params, &account).await
}

async fn create_session(state: &IdentityState, account: &Account) -> Result<String, ApiError> {
    let session = warga_auth::random_token(32)?;
    let now = state.now_ms();
    let mut tx = state.store().begin().await?;
    sqlx::query(
        "INSERT INTO identity_sessions (id_hash, account_id, created_at_ms, expires_at_ms) VALUES ($1, $2, $3, $4)",
    )
    .bind(token_hash(&session))
    .bind(&account.id)
    .bind(now)
    .bind(now + state.config().session_ttl_s as i64 * 1000)
    .execute(tx.conn())
    .await
    .map_err(StoreError::from)?;
    tx.audit(&AuditRecord {
        actor: &format!("user:{}", account.id),
        action: "identity.login",
        target: &format!("account:{}", account.id),
        outcome: Outcome::Success,
        details: None,
    })
    .await?;
    tx.commit().await?;
    Ok(session)
}

async fn issue_code(
    state: &IdentityState,
    checked: &Checked,
    params: &AuthorizeParams,
    account: &Account,
    session_hash: &str,
) -> Response {
    let result: Result<String, ApiError> = async {
        let code = warga_auth::random_token(32)?;
        let now = state.now_ms();
        sqlx::query(
            "INSERT INTO identity_auth_codes (code_hash, client_id, account_id, session_hash, redirect_uri, code_challenge, \
             scope, nonce, auth_time_ms, expires_at_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(token_hash(&code))
        .bind(&checked.client.client_id)
        .bind(&account.id)
        .bind(session_hash)
        .bind(&checked.redirect_uri)
        .bind(&checked.code_challenge)
        .bind(&checked.scope)
        .bind(params.nonce.as_deref())
        .bind(now)
        .bind(now + state.config().authorization_code_ttl_s as i64 * 1000)
        .execute(state.store().writer())
        .await
        .map_err(StoreError::from)?;
        Ok(code)
    }
    .await;
    match result {
        Ok(code) => {
            let mut pairs = vec![("code", code.as_str()), ("iss", state.issuer_url())];
            if let Some(s) = params.state.as_deref() {
                pairs.push(("state", s));
            }
            no_store(Redirect::to(&with_query(&checked.redirect_uri, &pairs)).into_response())
        }
        Err(error) => error.into_response(),
    }
}

// ---------------------------------------------------------------------------------------
// Token endpoint

fn pkce_matches(verifier: &str, challenge: &str) -> bool {
    let valid = (43..=128).contains(&verifier.len())
        && verifier
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'));
    if !valid {
        return false;
    }
    let digest = ring::digest::digest(&ring::digest::SHA256, verifier.as_bytes());
    let computed = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest.as_ref());
    warga_auth::constant_time_eq(computed.as_bytes(), challenge.as_bytes())
}

fn user_claims(state: &IdentityState, account: &Account, client_id: &str, scope: &str) -> AccessClaims {
    AccessClaims {
        client_id: Some(client_id.to_owned()),
        scope: Some(scope.to_owned()),
        roles: account.roles.iter().map(|r| r.as_str().to_owned()).collect(),
        preferred_username: Some(account.username.clone()),
        department: account.department_id.clone(),
        officer_level: account.officer_level.map(|l| l.as_str().to_owned()),
        msp_id: account.msp_id.clone(),
        ..AccessClaims::new(account.id.clone(), &state.config().audience)
    }
}

async fn id_token(
    state: &IdentityState,
    account: &Account,
    client_id: &str,
    nonce: Option<&str>,
    auth_time_ms: i64,
) -> Result<String, OAuthError> {
    let now = state.now_ms() / 1000;
    let mut claims = serde_json::json!({
        "iss": state.issuer_url(),
        "sub": account.id,
        "aud": client_id,
        "azp": client_id,
        "iat": now,
        "exp": now + state.config().id_token_ttl_s as i64,
        "auth_time": auth_time_ms / 1000,
        "preferred_username": account.username,
        "name": account.display_name,
        "roles": account.roles.iter().map(|r| r.as_str()).collect::<Vec<_>>(),
    });
    if let Some(nonce) = nonce {
        claims["nonce"] = nonce.into();
    }
    if let Some(email) = &account.email {
        claims["email"] = email.as_str().into();
    }
    Ok(state.issuer.minter.sign("JWT", &claims).await?)
}

async fn token_response(
    state: &IdentityState,
    account: &Account,
    client: &Client,
    scope: &str,
    refresh_token: Option<&str>,
    nonce: Option<&str>,
    auth_time_ms: i64,
) -> Result<Response, OAuthError> {
    let ttl = state.config().access_token_ttl_s;
    let access = state
        .issuer
        .minter
        .access_token(user_claims(state, account, &client.client_id, scope), ttl)
        .await?;
    let mut body = serde_json::json!({
        "access_token": access.token,
        "token_type": "Bearer",
        "expires_in": ttl,
        "scope": scope,
    });
    if let Some(refresh) = refresh_token {
        body["refresh_token"] = refresh.into();
    }
    if scope.split(' ').any(|s| s == "openid") {
        body["id_token"] = id_token(state, account, &client.client_id, nonce, auth_time_ms)
            .await?
            .into();
    }
    Ok(no_store(Json(body).into_response()))
}

pub async fn token(
    State(state): State<IdentityState>,
    headers: HeaderMap,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let result = match form.get("grant_type").map(String::as_str) {
        Some(clients::GRANT_AUTHORIZATION_CODE) => authorization_code_grant(&state, &headers, &form).await,
        Some(clients::GRANT_REFRESH_TOKEN) => refresh_token_grant(&state, &headers, &form).await,
        Some(clients::GRANT_CLIENT_CREDENTIALS) => client_credentials_grant(&state, &headers, &form).await,
        Some(_) => Err(OAuthError::new(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            "unsupported grant_type",
        )),
        None => Err(OAuthError::invalid_request("grant_type is missing")),
    };
    result.unwrap_or_else(IntoResponse::into_response)
}

/// A redeemed authorization code.
pub struct Redeemed {
    pub account: Account,
    client: Client,
    scope: String,
    refresh: String,
    pub nonce: Option<String>,
    auth_time_ms: i64,
}

async fn authorization_code_grant(
    state: &IdentityState,
    headers: &HeaderMap,
    form: &HashMap<String, String>,
) -> Result<Response, OAuthError> {
    let client = clients::authenticate(state.store(), headers, form).await?;
    let code = form
        .get("code")
        .ok_or_else(|| OAuthError::invalid_request("code is missing"))?;
    let verifier = form
        .get("code_verifier")
        .ok_or_else(|| OAuthError::invalid_request("code_verifier is missing (PKCE)"))?;
    let redirect_uri = form.get("redirect_uri").map(String::as_str).unwrap_or("");
    let r = redeem(state, client, code, verifier, redirect_uri).await?;
    token_response(
        state,
        &r.account,
        &r.client,
        &r.scope,
        Some(&r.refresh),
        r.nonce.as_deref(),
        r.auth_time_ms,
    )
    .await
}

/// Redeems a code for an authenticated `client`: single use, unexpired, same redirect URI,
/// PKCE verifier matching.
async fn redeem(
    state: &IdentityState,
    client: Client,
    code: &str,
    verifier: &str,
    redirect_uri: &str,
) -> Result<Redeemed, OAuthError> {
    if !client.allows(clients::GRANT_AUTHORIZATION_CODE) {
        return Err(OAuthError::unauthorized_client(
            "this client may not use the authorization code grant",
        ));
    }
    let now = state.now_ms();
    let mut tx = state.store().begin().await?;
    let row = sqlx::query(
        "SELECT client_id, account_id, session_hash, redirect_uri, code_challenge, scope, nonce, auth_time_ms, \
         expires_at_ms, used_at_ms, family_id FROM identity_auth_codes WHERE code_hash = $1",
    )
    .bind(token_hash(code))
    .fetch_optional(tx.conn())
    .await
    .map_err(StoreError::from)?
    .ok_or_else(|| OAuthError::invalid_grant("unknown authorization code"))?;
    if row.get::<String, _>(0) != client.client_id {
        return Err(OAuthError::invalid_grant("the code was issued to another client"));
    }
    if row.get::<Option<i64>, _>(9).is_some() {
        // A code used twice: someone replays it. Revoke what the first use issued.
        if let Some(family) = row.get::<Option<String>, _>(10) {
            revoke_family(&mut tx, &family, now).await?;
        }
        tx.audit(&AuditRecord {
            actor: &format!("client:{}", client.client_id),
            action: "identity.code.replay",
            target: &format!("account:{}", row.get::<String, _>(1)),
            outcome: Outcome::Denied,
            details: None,
        })
        .await?;
        tx.commit().await?;
        return Err(OAuthError::invalid_grant("the authorization code was already used"));
    }
    if row.get::<i64, _>(8) <= now {
        return Err(OAuthError::invalid_grant("the authorization code has expired"));
    }
    if redirect_uri != row.get::<String, _>(3).as_str() {
        return Err(OAuthError::invalid_grant(
            "redirect_uri does not match the authorization request",
        ));
    }
    if !pkce_matches(verifier, &row.get::<String, _>(4)) {
        return Err(OAuthError::invalid_grant(
            "code_verifier does not match the code_challenge",
        ));
    }
    let account_id: String = row.get(1);
    let account = accounts::by_id(tx.conn(), &account_id)
        .await?
        .filter(Account::is_active)
        .ok_or_else(|| OAuthError::invalid_grant("the account is not active"))?;
    let family = uuid::Uuid::now_v7().hyphenated().to_string();
    sqlx::query("UPDATE identity_auth_codes SET used_at_ms = $1, family_id = $2 WHERE code_hash = $3")
        .bind(now)
        .bind(&family)
        .bind(token_hash(code))
        .execute(tx.conn())
        .await
        .map_err(StoreError::from)?;
    let scope: String = row.get(5);
    let session_hash: String = row.get(2);
    let refresh = insert_refresh(state, &mut tx, &family, &client, &account, Some(&session_hash), &scope).await?;
    audit_token(&mut tx, &account, &client, "identity.token.issue").await?;
    tx.commit().await?;
    Ok(Redeemed {
        account,
        client,
        scope,
        refresh,
        nonce: row.get(6),
        auth_time_ms: row.get(7),
    })
}

/// For a relying party in this process (the web UI): redeems `code` of the public client
/// `client_id` and returns the account and an ID token (the logout hint).
pub async fn redeem_in_process(
    platform: &Platform,
    client_id: &str,
    code: &str,
    verifier: &str,
    redirect_uri: &str,
) -> Result<(Account, String, Option<String>), String> {
    let issuer = platform
        .auth
        .local
        .clone()
        .ok_or("tokens come from an external issuer")?;
    let state = IdentityState {
        platform: platform.clone(),
        issuer,
        clock: platform.clock.clone(),
    };
    let client = clients::find(state.store(), client_id)
        .await
        .map_err(|e| e.to_string())?
        .filter(|c| !c.is_confidential())
        .ok_or("no such public client")?;
    let redeemed = redeem(&state, client, code, verifier, redirect_uri)
        .await
        .map_err(|e| e.description)?;
    let id_token = id_token(
        &state,
        &redeemed.account,
        client_id,
        redeemed.nonce.as_deref(),
        redeemed.auth_time_ms,
    )
    .await
    .map_err(|e| e.description)?;
    Ok((redeemed.account, id_token, redeemed.nonce))
}

async fn insert_refresh(
    state: &IdentityState,
    tx: &mut warga_store::Tx,
    family: &str,
    client: &Client,
    account: &Account,
    session_hash: Option<&str>,
    scope: &str,
) -> Result<String, OAuthError> {
    let token = warga_auth::random_token(32)?;
    let now = state.now_ms();
    sqlx::query(
        "INSERT INTO identity_refresh_tokens (token_hash, family_id, client_id, account_id, session_hash, scope, \
         issued_at_ms, expires_at_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(token_hash(&token))
    .bind(family)
    .bind(&client.client_id)
    .bind(&account.id)
    .bind(session_hash)
    .bind(scope)
    .bind(now)
    .bind(now + state.config().refresh_token_ttl_s as i64 * 1000)
    .execute(tx.conn())
    .await
    .map_err(StoreError::from)?;
    Ok(token)
}

async fn revoke_family(tx: &mut warga_store::Tx, family: &str, now: i64) -> Result<(), StoreError> {
    sqlx::query("UPDATE identity_refresh_tokens SET revoked_at_ms = $1 WHERE family_id = $2 AND revoked_at_ms IS NULL")
        .bind(now)
        .bind(family)
        .execute(tx.conn())
        .await?;
    Ok(())
}

async fn audit_token(
    tx: &mut warga_store::Tx,
    account: &Account,
    client: &Client,
    action: &str,
) -> Result<(), StoreError> {
    tx.audit(&AuditRecord {
        actor: &format!("user:{}", account.id),
        action,
        target: &format!("client:{}", client.client_id),
        outcome: Outcome::Success,
        details: None,
    })
    .await
}

async fn refresh_token_grant(
    state: &IdentityState,
    headers: &HeaderMap,
    form: &HashMap<String, String>,
) -> Result<Response, OAuthError> {
    let client = clients::authenticate(state.store(), headers, form).await?;
    if !client.allows(clients::GRANT_REFRESH_TOKEN) {
        return Err(OAuthError::unauthorized_client(
            "this client may not use refresh tokens",
        ));
    }
    let presented = form
        .get("refresh_token")
        .ok_or_else(|| OAuthError::invalid_request("refresh_token is missing"))?;
    let now = state.now_ms();
    let mut tx = state.store().begin().await?;
    let row = sqlx::query(
        "SELECT family_id, client_id, account_id, session_hash, scope, expires_at_ms, rotated_at_ms, revoked_at_ms \
         FROM identity_refresh_tokens WHERE token_hash = $1",
    )
    .bind(token_hash(presented))
    .fetch_optional(tx.conn())
    .await
    .map_err(StoreError::from)?
    .ok_or_else(|| OAuthError::invalid_grant("unknown refresh token"))?;
    let family: String = row.get(0);
    if row.get::<String, _>(1) != client.client_id {
        return Err(OAuthError::invalid_grant(
            "the refresh token was issued to another client",
        ));
    }
    if row.get::<Option<i64>, _>(7).is_some() {
        return Err(OAuthError::invalid_grant("the refresh token has been revoked"));
    }
    if row.get::<Option<i64>, _>(6).is_some() {
        // Reuse of a rotated token: it leaked. Revoke the whole family.
        revoke_family(&mut tx, &family, now).await?;
        tx.audit(&AuditRecord {
            actor: &format!("client:{}", client.client_id),
            action: "identity.refresh.reuse_detected",
            target: &format!("account:{}", row.get::<String, _>(2)),
            outcome: Outcome::Denied,
            details: None,
        })
        .await?;
        tx.commit().await?;
        return Err(OAuthError::invalid_grant(
            "the refresh token was already used; its family is revoked",
        ));
    }
    if row.get::<i64, _>(5) <= now {
        return Err(OAuthError::invalid_grant("the refresh token has expired"));
    }
    let account = accounts::by_id(tx.conn(), &row.get::<String, _>(2))
        .await?
        .filter(Account::is_active)
        .ok_or_else(|| OAuthError::invalid_grant("the account is not active"))?;
    let rotated = sqlx::query(
        "UPDATE identity_refresh_tokens SET rotated_at_ms = $1 WHERE token_hash = $2 AND rotated_at_ms IS NULL",
    )
    .bind(now)
    .bind(token_hash(presented))
    .execute(tx.conn())
    .await
    .map_err(StoreError::from)?
    .rows_affected();
    if rotated != 1 {
        return Err(OAuthError::invalid_grant("the refresh token was used concurrently"));
    }
    let scope: String = row.get(4);
    let session_hash: Option<String> = row.get(3);
    let next = insert_refresh(
        state,
        &mut tx,
        &family,
        &client,
        &account,
        session_hash.as_deref(),
        &scope,
    )
    .await?;
    audit_token(&mut tx, &account, &client, "identity.token.refresh").await?;
    tx.commit().await?;
    token_response(state, &account, &client, &scope, Some(&next), None, now).await
}

async fn client_credentials_grant(
    state: &IdentityState,
    headers: &HeaderMap,
    form: &HashMap<String, String>,
) -> Result<Response, OAuthError> {
    let client = clients::authenticate(state.store(), headers, form).await?;
    if !client.is_confidential() || !client.allows(clients::GRANT_CLIENT_CREDENTIALS) {
        return Err(OAuthError::unauthorized_client(
            "this client may not use client credentials",
        ));
    }
    let mut roles: Vec<String> = client.service_roles.iter().map(|r| r.as_str().to_owned()).collect();
    roles.push(Role::Service.as_str().to_owned());
    let claims = AccessClaims {
        client_id: Some(client.client_id.clone()),
        scope: form.get("scope").cloned(),
        roles,
        ..AccessClaims::new(client.client_id.clone(), &state.config().audience)
    };
    let ttl = state.config().access_token_ttl_s;
    let access = state.issuer.minter.access_token(claims, ttl).await?;
    Ok(no_store(
        Json(serde_json::json!({ "access_token": access.token, "token_type": "Bearer", "expires_in": ttl }))
            .into_response(),
    ))
}

// ---------------------------------------------------------------------------------------
// Revocation, introspection, userinfo

pub async fn revoke(
    State(state): State<IdentityState>,
    headers: HeaderMap,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let result: Result<Response, OAuthError> = async {
        let client = clients::authenticate(state.store(), &headers, &form).await?;
        let token = form
            .get("token")
            .ok_or_else(|| OAuthError::invalid_request("token is missing"))?;
        let now = state.now_ms();
        let mut tx = state.store().begin().await?;
        let refresh =
            sqlx::query("SELECT family_id, client_id, account_id FROM identity_refresh_tokens WHERE token_hash = $1")
                .bind(token_hash(token))
                .fetch_optional(tx.conn())
                .await
                .map_err(StoreError::from)?;
        if let Some(row) = refresh {
            if row.get::<String, _>(1) == client.client_id {
                revoke_family(&mut tx, &row.get::<String, _>(0), now).await?;
                tx.audit(&AuditRecord {
                    actor: &format!("client:{}", client.client_id),
                    action: "identity.token.revoke",
                    target: &format!("account:{}", row.get::<String, _>(2)),
                    outcome: Outcome::Success,
                    details: Some(serde_json::json!({ "token_type": "refresh_token" })),
                })
                .await?;
            }
        } else if let Ok(claims) = state.platform.auth.validator.validate_claims(token).await
            && claims.client_id.as_deref() == Some(client.client_id.as_str())
            && let Some(jti) = &claims.jti
        {
            state.issuer.revocations.revoke(&mut tx, jti, claims.exp).await?;
            tx.audit(&AuditRecord {
                actor: &format!("client:{}", client.client_id),
                action: "identity.token.revoke",
                target: &format!("account:{}", claims.sub),
                outcome: Outcome::Success,
                details: Some(serde_json::json!({ "token_type": "access_token" })),
            })
            .await?;
        }
        tx.commit().await?;
        // RFC 7009: an unknown or foreign token is answered like a revoked one.
        Ok(no_store(StatusCode::OK.into_response()))
    }
    .await;
    result.unwrap_or_else(IntoResponse::into_response)
}

pub async fn introspect(
    State(state): State<IdentityState>,
    headers: HeaderMap,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let result: Result<Response, OAuthError> = async {
        let client = clients::authenticate(state.store(), &headers, &form).await?;
        if !client.is_confidential() {
            return Err(OAuthError::invalid_client());
        }
        let token = form
            .get("token")
            .ok_or_else(|| OAuthError::invalid_request("token is missing"))?;
        if let Ok(claims) = state.platform.auth.validator.validate_claims(token).await {
            let roles: Vec<String> = claims.role_set().iter().map(|r| r.as_str().to_owned()).collect();
            return Ok(no_store(
                Json(serde_json::json!({
                    "active": true,
                    "token_type": "Bearer",
                    "iss": claims.iss, "sub": claims.sub, "aud": claims.aud, "exp": claims.exp, "iat": claims.iat,
                    "jti": claims.jti, "client_id": claims.client_id, "scope": claims.scope,
                    "username": claims.preferred_username, "roles": roles,
                }))
                .into_response(),
            ));
        }
        let row = sqlx::query(
            "SELECT client_id, account_id, scope, issued_at_ms, expires_at_ms FROM identity_refresh_tokens \
             WHERE token_hash = $1 AND revoked_at_ms IS NULL AND rotated_at_ms IS NULL AND expires_at_ms > $2",
        )
        .bind(token_hash(token))
        .bind(state.now_ms())
        .fetch_optional(state.store().reader())
        .await
        .map_err(StoreError::from)?;
        let body = match row {
            Some(row) => serde_json::json!({
                "active": true, "token_type": "refresh_token", "client_id": row.get::<String, _>(0),
                "sub": row.get::<String, _>(1), "scope": row.get::<String, _>(2),
                "iat": row.get::<i64, _>(3) / 1000, "exp": row.get::<i64, _>(4) / 1000, "iss": state.issuer_url(),
            }),
            None => serde_json::json!({ "active": false }),
        };
        Ok(no_store(Json(body).into_response()))
    }
    .await;
    result.unwrap_or_else(IntoResponse::into_response)
}

pub async fn userinfo(State(state): State<IdentityState>, auth: Auth) -> Result<Json<serde_json::Value>, ApiError> {
    let account = accounts::by_id(state.store().reader(), &auth.0.subject)
        .await?
        .filter(Account::is_active)
        .ok_or_else(|| ApiError::Unauthorized("the token's account is not active".into()))?;
    Ok(Json(serde_json::json!({
        "sub": account.id,
        "preferred_username": account.username,
        "name": account.display_name,
        "email": account.email,
        "roles": account.roles.iter().map(|r| r.as_str()).collect::<Vec<_>>(),
        "department": account.department_id,
        "officer_level": account.officer_level.map(|l| l.as_str()),
        "msp_id": account.msp_id,
    })))
}

// ---------------------------------------------------------------------------------------
// RP-initiated logout

#[derive(Debug, Default, Deserialize)]
pub struct LogoutParams {
    id_token_hint: Option<String>,
    client_id: Option<String>,
    post_logout_redirect_uri: Option<String>,
    state: Option<String>,
    lang: Option<String>,
}

/// The client an ID token was issued to, checking its signature but not its expiry (a
/// logout may come long after the ID token expired).
async fn hinted_client(state: &IdentityState, hint: &str) -> Option<String> {
    let header = jsonwebtoken::decode_header(hint).ok()?;
    let key = state.issuer.keyring.verify_key(header.kid.as_deref()?).await.ok()??;
    let mut validation = jsonwebtoken::Validation::new(key.algorithm);
    validation.validate_exp = false;
    validation.validate_aud = false;
    validation.set_issuer(&[state.issuer_url()]);
    validation.set_required_spec_claims(&["iss", "sub"]);
    let data = jsonwebtoken::decode::<serde_json::Value>(hint, &key.key, &validation).ok()?;
    data.claims.get("aud").and_then(|a| a.as_str()).map(str::to_owned)
}

pub async fn logout(
    State(state): State<IdentityState>,
    headers: HeaderMap,
    Query(params): Query<LogoutParams>,
) -> Response {
    let lang = Lang::from_param(params.lang.as_deref());
    let hinted = match &params.id_token_hint {
        Some(hint) => match hinted_client(&state, hint).await {
            Some(client) => Some(client),
            None => return pages::error_page(lang, "id_token_hint is not a token issued here"),
        },
        None => None,
    };
    let client_id = hinted.or(params.client_id.clone());
    let mut redirect = None;
    if let Some(uri) = &params.post_logout_redirect_uri {
        let registered = match &client_id {
            Some(id) => clients::find(state.store(), id)
                .await
                .ok()
                .flatten()
                .is_some_and(|c| c.has_post_logout_redirect_uri(uri)),
            None => false,
        };
        if !registered {
            return pages::error_page(lang, "post_logout_redirect_uri is not registered for this client");
        }
        redirect = Some(uri.clone());
    }
    if let Ok(Some((session_hash, account))) = current_session(&state, &headers).await {
        let now = state.now_ms();
        let ended: Result<(), StoreError> = async {
            let mut tx = state.store().begin().await?;
            sqlx::query("UPDATE identity_sessions SET revoked_at_ms = $1 WHERE id_hash = $2")
                .bind(now)
                .bind(&session_hash)
                .execute(tx.conn())
                .await?;
            sqlx::query("UPDATE identity_refresh_tokens SET revoked_at_ms = $1 WHERE session_hash = $2 AND revoked_at_ms IS NULL")
                .bind(now)
                .bind(&session_hash)
                .execute(tx.conn())
                .await?;
            tx.audit(&AuditRecord {
                actor: &format!("user:{}", account.id),
                action: "identity.logout",
                target: &format!("account:{}", account.id),
                outcome: Outcome::Success,
                details: None,
            })
            .await?;
            tx.commit().await
        }
        .await;
        if let Err(error) = ended {
            return ApiError::from(error).into_response();
        }
    }
    let mut response = match redirect {
        Some(uri) => {
            let target = match &params.state {
                Some(s) => with_query(&uri, &[("state", s.as_str())]),
                None => uri,
            };
            no_store(Redirect::to(&target).into_response())
        }
        None => {
            let body = format!("<h1>{}</h1>", pages::SIGNED_OUT.get(lang));
            pages::page(lang, pages::SIGNED_OUT.get(lang), &body, StatusCode::OK, None)
        }
    };
    response
        .headers_mut()
        .append(header::SET_COOKIE, set_cookie(SESSION_COOKIE, "", 0));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pkce_s256() {
        // RFC 7636, appendix B.
        let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
        let challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
        assert!(pkce_matches(verifier, challenge));
        assert!(!pkce_matches("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXx", challenge));
        assert!(!pkce_matches("short", challenge));
    }

    #[test]
    fn queries_are_appended_and_encoded() {
        assert_eq!(
            with_query("https://a/cb", &[("code", "x y"), ("state", "s&t")]),
            "https://a/cb?code=x+y&state=s%26t"
        );
        assert_eq!(
            with_query("https://a/cb?k=v", &[("code", "c")]),
            "https://a/cb?k=v&code=c"
        );
    }
}
