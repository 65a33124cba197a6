//! Account administration and self-service over JSON: sign-up, "me", departments,
//! officers, accounts, OAuth clients, key rotation, and the audit log.

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::{Deserialize, Serialize};
use utoipa::OpenApi;
use warga_core::identity::{OfficerLevel, Role};
use warga_http::{ApiError, Auth, Json, JsonBody, Platform, Problem, Query};

use crate::error::IdentityError;
use warga_store::audit::{AuditEntry, AuditQuery, AuditRecord, Outcome};

use crate::accounts::{self, AccountView, Department, NewAccount};
use crate::clients::{self, NewClient, RegisteredClient};
use crate::password;

#[derive(OpenApi)]
#[openapi(
    paths(register, me, change_password, whoami, list_departments, create_department, create_officer, list_accounts, disable_account, enable_account, reset_password,
          create_client, rotate_keys, audit_log),
    components(schemas(SignUp, PasswordChange, PasswordReset, AccountView, Department, NewDepartment, NewOfficer, CreatedOfficer, NewClient,
                       RegisteredClient, AuditPage)),
    tags((name = "identity", description = "Accounts, departments, officers and OAuth clients"),
         (name = "audit", description = "The audit log"))
)]
pub struct IdentityApi;

pub(crate) fn router(platform: Platform) -> Router {
    Router::new()
        .route("/api/v1/identity/register", post(register))
        .route("/api/v1/identity/me", get(me))
        .route("/api/v1/identity/me/password", post(change_password))
        .route("/api/v1/identity/whoami", get(whoami))
        .route(
            "/api/v1/identity/departments",
            get(list_departments).post(create_department),
        )
        .route("/api/v1/identity/officers", post(create_officer))
        .route("/api/v1/identity/accounts", get(list_accounts))
        .route("/api/v1/identity/accounts/{id}/disable", post(disable_account))
        .route("/api/v1/identity/accounts/{id}/enable", post(enable_account))
        .route("/api/v1/identity/accounts/{id}/reset-password", post(reset_password))
        .route("/api/v1/identity/clients", post(create_client))
        .route("/api/v1/identity/keys/rotate", post(rotate_keys))
        .route("/api/v1/audit", get(audit_log))
        .with_state(platform)
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SignUp {
    pub username: String,
    pub display_name: String,
    pub password: String,
    #[serde(default)]
    pub email: Option<String>,
}

/// A citizen creates their own account.
#[utoipa::path(post, path = "/api/v1/identity/register", tag = "identity", request_body = SignUp, responses(
    (status = 201, body = AccountView),
    (status = 400, body = Problem, content_type = "application/problem+json"),
    (status = 409, body = Problem, content_type = "application/problem+json"),
))]
async fn register(State(platform): State<Platform>, Json(input): Json<SignUp>) -> Result<Response, ApiError> {
    let mut tx = platform.store.begin().await?;
    let account = accounts::create(
        &mut tx,
        NewAccount {
            username: input.username,
            display_name: input.display_name,
            email: input.email,
            password: input.password,
            roles: [Role::Citizen].into_iter().collect(),
            ..Default::default()
        },
        "anonymous",
    )
    .await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(AccountView::from(&account))).into_response())
}

/// A password change by the signed-in person.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordChange {
    pub current_password: String,
    pub new_password: String,
}

/// Changes the caller's own password (any signed-in person, at any time): the current
/// password is checked, the new one must pass the policy; refresh tokens of other devices
/// are revoked.
#[utoipa::path(post, path = "/api/v1/identity/me/password", tag = "identity", security(("bearer" = [])),
    request_body = PasswordChange, responses(
    (status = 204),
    (status = 400, body = Problem, content_type = "application/problem+json"),
    (status = 401, body = Problem, content_type = "application/problem+json"),
))]
async fn change_password(
    State(platform): State<Platform>,
    auth: Auth,
    Json(input): Json<PasswordChange>,
) -> Result<StatusCode, ApiError> {
    accounts::change_password(
        &platform.store,
        &auth.0.subject,
        &input.current_password,
        &input.new_password,
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The signed-in account.
#[utoipa::path(get, path = "/api/v1/identity/me", tag = "identity", security(("bearer" = [])), responses(
    (status = 200, body = AccountView),
    (status = 401, body = Problem, content_type = "application/problem+json"),
))]
async fn me(State(platform): State<Platform>, auth: Auth) -> Result<Json<AccountView>, ApiError> {
    let account = accounts::by_id(platform.store.reader(), &auth.0.subject)
        .await?
        .ok_or_else(|| {
            ApiError::NotFound(warga_http::Detail::new(
                "no account for this token (a service token?)",
                "tidak ada akun untuk token ini (token layanan?)",
            ))
        })?;
    Ok(Json(AccountView::from(&account)))
}

/// Who the presented token speaks for, as every warga service sees it (works with tokens
/// of an external issuer too).
#[utoipa::path(get, path = "/api/v1/identity/whoami", tag = "identity", security(("bearer" = [])), responses(
    (status = 200, description = "The principal"),
    (status = 401, body = Problem, content_type = "application/problem+json"),
))]
async fn whoami(auth: Auth) -> Json<warga_core::identity::Principal> {
    Json(auth.0)
}

/// Departments.
#[utoipa::path(get, path = "/api/v1/identity/departments", tag = "identity", security(("bearer" = [])), responses(
    (status = 200, body = Vec<Department>),
    (status = 401, body = Problem, content_type = "application/problem+json"),
    (status = 403, body = Problem, content_type = "application/problem+json"),
))]
async fn list_departments(State(platform): State<Platform>, auth: Auth) -> Result<Json<Vec<Department>>, ApiError> {
    auth.require_any(&[Role::Admin, Role::Officer, Role::RegistryOfficer])?;
    Ok(Json(accounts::departments(&platform.store).await?))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewDepartment {
    /// Short slug, e.g. `dinas-pu`.
    pub id: String,
    pub name: String,
}

/// An administrator creates a department.
#[utoipa::path(post, path = "/api/v1/identity/departments", tag = "identity", security(("bearer" = [])),
    request_body = NewDepartment, responses(
    (status = 201, body = Department),
    (status = 400, body = Problem, content_type = "application/problem+json"),
    (status = 403, body = Problem, content_type = "application/problem+json"),
    (status = 409, body = Problem, content_type = "application/problem+json"),
))]
async fn create_department(State(platform): State<Platform>, auth: Auth, body: JsonBody) -> Result<Response, ApiError> {
    let actor = auth.require_any(&[Role::Admin])?.audit_actor();
    let input: NewDepartment = body.parse()?;
    let mut tx = platform.store.begin().await?;
    accounts::create_department(&mut tx, &input.id, &input.name, &actor).await?;
    tx.commit().await?;
    let id = accounts::check_department_id(&input.id)?;
    let created = accounts::departments(&platform.store)
        .await?
        .into_iter()
        .find(|d| d.id == id);
    Ok((StatusCode::CREATED, Json(created)).into_response())
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewOfficer {
    pub username: String,
    pub display_name: String,
    #[serde(default)]
    pub email: Option<String>,
    /// Absent: a one-time password is generated and returned once.
    #[serde(default)]
    pub password: Option<String>,
    /// `officer` (default) and/or `registry_officer`, `ledger_member`.
    #[serde(default)]
    #[schema(value_type = Vec<String>)]
    pub roles: Vec<Role>,
    pub department: Option<String>,
    #[schema(value_type = Option<String>)]
    pub level: Option<OfficerLevel>,
    #[serde(default)]
    pub msp_id: Option<String>,
    /// A ledger member's health facility (BPJS's kode faskes), written into their ledger
    /// certificate.
    #[serde(default)]
    pub facility: Option<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CreatedOfficer {
    pub account: AccountView,
    /// Present when warga generated the password: shown once, to be changed at first sign-in.
    pub one_time_password: Option<String>,
}

/// Creates an officer account (department staff, registry officer, ledger member).
pub async fn create_officer_account(
    platform: &Platform,
    input: NewOfficer,
    actor: &str,
) -> Result<CreatedOfficer, IdentityError> {
    let mut roles: std::collections::BTreeSet<Role> = input.roles.into_iter().collect();
    if roles.is_empty() {
        roles.insert(Role::Officer);
    }
    if roles.contains(&Role::Admin) || roles.contains(&Role::Citizen) {
        return Err(IdentityError::invalid(
            "roles",
            "officers get officer, registry_officer or ledger_member roles",
        ));
    }
    let generated = input.password.is_none();
    let password = input.password.unwrap_or_else(password::one_time_password);
    let mut tx = platform.store.begin().await?;
    let account = accounts::create(
        &mut tx,
        NewAccount {
            username: input.username,
            display_name: input.display_name,
            email: input.email,
            password: password.clone(),
            roles,
            department_id: input.department,
            officer_level: input.level,
            msp_id: input.msp_id,
            facility: input.facility,
            must_change_password: generated,
        },
        actor,
    )
    .await?;
    tx.commit().await?;
    Ok(CreatedOfficer {
        account: AccountView::from(&account),
        one_time_password: generated.then_some(password),
    })
}

#[utoipa::path(post, path = "/api/v1/identity/officers", tag = "identity", security(("bearer" = [])),
    request_body = NewOfficer, responses(
    (status = 201, body = CreatedOfficer),
    (status = 400, body = Problem, content_type = "application/problem+json"),
    (status = 403, body = Problem, content_type = "application/problem+json"),
    (status = 409, body = Problem, content_type = "application/problem+json"),
))]
async fn create_officer(State(platform): State<Platform>, auth: Auth, body: JsonBody) -> Result<Response, ApiError> {
    let actor = auth.require_any(&[Role::Admin])?.audit_actor();
    let input: NewOfficer = body.parse()?;
    let created = create_officer_account(&platform, input, &actor).await?;
    Ok((StatusCode::CREATED, Json(created)).into_response())
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct AccountFilter {
    #[param(value_type = Option<String>)]
    pub role: Option<Role>,
    pub department: Option<String>,
    /// The last username of the previous page.
    pub after: Option<String>,
    pub limit: Option<i64>,
}

/// Accounts, by username, filtered by role or department.
#[utoipa::path(get, path = "/api/v1/identity/accounts", tag = "identity", security(("bearer" = [])),
    params(AccountFilter), responses(
    (status = 200, body = Vec<AccountView>),
    (status = 403, body = Problem, content_type = "application/problem+json"),
))]
async fn list_accounts(
    State(platform): State<Platform>,
    auth: Auth,
    Query(filter): Query<AccountFilter>,
) -> Result<Json<Vec<AccountView>>, ApiError> {
    auth.require_any(&[Role::Admin])?;
    let list = accounts::list(
        &platform.store,
        filter.role,
        filter.department.as_deref(),
        filter.after.as_deref(),
        filter.limit.unwrap_or(100),
    )
    .await?;
    Ok(Json(list.iter().map(AccountView::from).collect()))
}

/// Disables an account; its sessions and refresh tokens end.
/// Lets a disabled account sign in again (administrators).
#[utoipa::path(post, path = "/api/v1/identity/accounts/{id}/enable", tag = "identity", security(("bearer" = [])),
    params(("id" = String, Path)), responses(
    (status = 204),
    (status = 403, body = Problem, content_type = "application/problem+json"),
    (status = 404, body = Problem, content_type = "application/problem+json"),
))]
async fn enable_account(
    State(platform): State<Platform>,
    auth: Auth,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let principal = auth.require_any(&[Role::Admin])?;
    let mut tx = platform.store.begin().await?;
    accounts::enable(&mut tx, &id, &principal.audit_actor()).await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A one-time password set by an administrator, shown once.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PasswordReset {
    pub one_time_password: String,
}

/// Resets an account's password to a one-time password, to be changed at the next sign-in;
/// the account's sessions and refresh tokens end (administrators).
#[utoipa::path(post, path = "/api/v1/identity/accounts/{id}/reset-password", tag = "identity", security(("bearer" = [])),
    params(("id" = String, Path)), responses(
    (status = 200, body = PasswordReset),
    (status = 403, body = Problem, content_type = "application/problem+json"),
    (status = 404, body = Problem, content_type = "application/problem+json"),
))]
async fn reset_password(
    State(platform): State<Platform>,
    auth: Auth,
    Path(id): Path<String>,
) -> Result<Json<PasswordReset>, ApiError> {
    let principal = auth.require_any(&[Role::Admin])?;
    let one_time_password = accounts::reset_password(&platform.store, &id, &principal.audit_actor()).await?;
    Ok(Json(PasswordReset { one_time_password }))
}

#[utoipa::path(post, path = "/api/v1/identity/accounts/{id}/disable", tag = "identity", security(("bearer" = [])),
    params(("id" = String, Path)), responses(
    (status = 204),
    (status = 403, body = Problem, content_type = "application/problem+json"),
    (status = 404, body = Problem, content_type = "application/problem+json"),
))]
async fn disable_account(
    State(platform): State<Platform>,
    auth: Auth,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let principal = auth.require_any(&[Role::Admin])?;
    if principal.subject == id {
        return Err(ApiError::validation("id", "administrators cannot disable themselves"));
    }
    let mut tx = platform.store.begin().await?;
    accounts::disable(&mut tx, &id, &principal.audit_actor()).await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Registers an OAuth client (the secret of a confidential client is shown once).
#[utoipa::path(post, path = "/api/v1/identity/clients", tag = "identity", security(("bearer" = [])),
    request_body = NewClient, responses(
    (status = 201, body = RegisteredClient),
    (status = 400, body = Problem, content_type = "application/problem+json"),
    (status = 403, body = Problem, content_type = "application/problem+json"),
    (status = 409, body = Problem, content_type = "application/problem+json"),
))]
async fn create_client(State(platform): State<Platform>, auth: Auth, body: JsonBody) -> Result<Response, ApiError> {
    let actor = auth.require_any(&[Role::Admin])?.audit_actor();
    let input: NewClient = body.parse()?;
    let mut tx = platform.store.begin().await?;
    let registered = clients::create(&mut tx, input, &actor).await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(registered)).into_response())
}

/// Makes a new signing key now; the old one stays published until its tokens expire.
#[utoipa::path(post, path = "/api/v1/identity/keys/rotate", tag = "identity", security(("bearer" = [])), responses(
    (status = 200, description = "The new key id"),
    (status = 403, body = Problem, content_type = "application/problem+json"),
))]
async fn rotate_keys(State(platform): State<Platform>, auth: Auth) -> Result<Json<serde_json::Value>, ApiError> {
    let actor = auth.require_any(&[Role::Admin])?.audit_actor();
    let local = platform
        .auth
        .local
        .as_ref()
        .ok_or_else(|| ApiError::BadRequest("tokens come from an external issuer".into()))?;
    let kid = local.keyring.rotate().await?;
    warga_store::audit::record_alone(
        &platform.store,
        &AuditRecord {
            actor: &actor,
            action: "identity.keys.rotate",
            target: &format!("key:{kid}"),
            outcome: Outcome::Success,
            details: None,
        },
    )
    .await?;
    Ok(Json(serde_json::json!({ "kid": kid })))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct AuditFilter {
    pub actor: Option<String>,
    pub action: Option<String>,
    pub target: Option<String>,
    pub from_ms: Option<i64>,
    pub to_ms: Option<i64>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<i64>,
    pub limit: Option<i64>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AuditPage {
    #[schema(value_type = Vec<Object>)]
    pub entries: Vec<AuditEntry>,
    pub next_cursor: Option<i64>,
}

/// The audit log, oldest first, for administrators.
#[utoipa::path(get, path = "/api/v1/audit", tag = "audit", security(("bearer" = [])), params(AuditFilter), responses(
    (status = 200, body = AuditPage),
    (status = 403, body = Problem, content_type = "application/problem+json"),
))]
async fn audit_log(
    State(platform): State<Platform>,
    auth: Auth,
    Query(filter): Query<AuditFilter>,
) -> Result<Json<AuditPage>, ApiError> {
    auth.require_any(&[Role::Admin])?;
    let limit = filter.limit.unwrap_or(100).clamp(1, 1_000);
    let entries = warga_store::audit::query(
        &platform.store,
        &AuditQuery {
            actor: filter.actor,
            action: filter.action,
            target: filter.target,
            from_ms: filter.from_ms,
            to_ms: filter.to_ms,
            after_seq: filter.cursor,
            limit,
        },
    )
    .await?;
    let next_cursor = (entries.len() as i64 == limit)
        .then(|| entries.last().map(|e| e.seq))
        .flatten();
    Ok(Json(AuditPage { entries, next_cursor }))
}
