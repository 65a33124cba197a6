//! The family card's HTTP API (registry officers; a citizen reads the card they are on).

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use warga_core::identity::Role;
use warga_http::{ApiError, Auth, Json, JsonBody, Platform, Problem};

use crate::family::{self, Family, MoveLetter};
use crate::{ReadQuery, links, purpose};

pub(crate) fn routes() -> Router<Platform> {
    Router::new()
        .route("/api/v1/population/families", post(create_family))
        .route("/api/v1/population/families/lookup", post(lookup_family))
        .route("/api/v1/population/families/{id}", get(get_family))
        .route("/api/v1/population/families/{id}/members", post(add_family_member))
        .route("/api/v1/population/families/{id}/split", post(split_family))
        .route("/api/v1/population/families/{id}/head", post(change_family_head))
        .route("/api/v1/population/families/{id}/move", post(move_family))
        .route(
            "/api/v1/population/families/{id}/moves/{move_id}",
            get(family_move_letter),
        )
}

/// Makes a family card (KK) for registered residents who are on none; warga issues the
/// number unless the family brings one (registry officers).
#[utoipa::path(post, path = "/api/v1/population/families", tag = "families", security(("bearer" = [])),
    request_body = family::NewFamily, responses(
    (status = 201, body = Family),
    (status = 400, body = Problem, content_type = "application/problem+json"),
    (status = 403, body = Problem, content_type = "application/problem+json"),
    (status = 409, body = Problem, content_type = "application/problem+json"),
))]
pub(crate) async fn create_family(
    State(platform): State<Platform>,
    auth: Auth,
    body: JsonBody,
) -> Result<Response, ApiError> {
    let actor = auth.require_any(&[Role::RegistryOfficer])?.audit_actor();
    let input: family::NewFamily = body.parse()?;
    let created = family::create(&platform, &input, &actor).await?;
    Ok((StatusCode::CREATED, Json(created)).into_response())
}

/// A KK number to look up (in the body, so it stays out of URLs and access logs).
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct KkLookup {
    pub kk_number: String,
    /// Why the card is read (UU PDP 27/2022): kept in the audit log.
    pub purpose: String,
}

/// A family card by its number (registry officers; the purpose is kept in the audit log).
#[utoipa::path(post, path = "/api/v1/population/families/lookup", tag = "families", security(("bearer" = [])),
    request_body = KkLookup, responses(
    (status = 200, body = Family),
    (status = 400, body = Problem, content_type = "application/problem+json"),
    (status = 403, body = Problem, content_type = "application/problem+json"),
    (status = 404, body = Problem, content_type = "application/problem+json"),
))]
pub(crate) async fn lookup_family(
    State(platform): State<Platform>,
    auth: Auth,
    body: JsonBody,
) -> Result<Json<Family>, ApiError> {
    let actor = auth.require_any(&[Role::RegistryOfficer])?.audit_actor();
    let input: KkLookup = body.parse()?;
    let purpose = purpose(Some(&input.purpose))?;
    let found = family::by_number(&platform, &input.kk_number).await?.ok_or_else(|| {
        ApiError::NotFound(warga_http::Detail::new(
            "no family card has this number",
            "tidak ada kartu keluarga dengan nomor ini",
        ))
    })?;
    family::audit_read(&platform, &actor, &found.id, &purpose).await?;
    Ok(Json(found))
}

/// Whether the caller may read the card `id`, and why: a registry officer stating the purpose,
/// or a citizen on the card.
async fn reading(platform: &Platform, auth: &Auth, id: &str, query: ReadQuery) -> Result<String, ApiError> {
    if auth.0.has_role(Role::Citizen)
        && let Some(resident) = links::linked_resident(&platform.store, &auth.0.subject).await?
        && family::is_member(platform, id, &resident).await?
    {
        return Ok(query.purpose.unwrap_or_else(|| "own family card".into()));
    }
    auth.require_any(&[Role::RegistryOfficer])?;
    purpose(query.purpose.as_deref())
}

/// A family card with its members, former members and moves (registry officers, stating the
/// purpose; a citizen on the card). Every read is in the audit log.
#[utoipa::path(get, path = "/api/v1/population/families/{id}", tag = "families", security(("bearer" = [])),
    params(("id" = String, Path), ReadQuery), responses(
    (status = 200, body = Family),
    (status = 400, body = Problem, content_type = "application/problem+json"),
    (status = 403, body = Problem, content_type = "application/problem+json"),
    (status = 404, body = Problem, content_type = "application/problem+json"),
))]
pub(crate) async fn get_family(
    State(platform): State<Platform>,
    auth: Auth,
    Path(id): Path<String>,
    warga_http::Query(query): warga_http::Query<ReadQuery>,
) -> Result<Json<Family>, ApiError> {
    let purpose = reading(&platform, &auth, &id, query).await?;
    let card = family::read(&platform, &id).await?;
    family::audit_read(&platform, &auth.0.audit_actor(), &id, &purpose).await?;
    Ok(Json(card))
}

/// Adds a member: a newborn registered with the card in one step, or a registered resident
/// coming in (who leaves their earlier card and moves to this one's address).
#[utoipa::path(post, path = "/api/v1/population/families/{id}/members", tag = "families", security(("bearer" = [])),
    params(("id" = String, Path)), request_body = family::AddMember, responses(
    (status = 200, body = Family),
    (status = 400, body = Problem, content_type = "application/problem+json"),
    (status = 403, body = Problem, content_type = "application/problem+json"),
    (status = 404, body = Problem, content_type = "application/problem+json"),
    (status = 409, body = Problem, content_type = "application/problem+json"),
))]
pub(crate) async fn add_family_member(
    State(platform): State<Platform>,
    auth: Auth,
    Path(id): Path<String>,
    body: JsonBody,
) -> Result<Json<Family>, ApiError> {
    let actor = auth.require_any(&[Role::RegistryOfficer])?.audit_actor();
    let input: family::AddMember = body.parse()?;
    Ok(Json(family::add_member(&platform, &id, &input, &actor).await?))
}

/// Splits members off to a new card of their own (a marriage, a grown child moving out);
/// answers with the new card.
#[utoipa::path(post, path = "/api/v1/population/families/{id}/split", tag = "families", security(("bearer" = [])),
    params(("id" = String, Path)), request_body = family::Split, responses(
    (status = 201, body = Family),
    (status = 400, body = Problem, content_type = "application/problem+json"),
    (status = 403, body = Problem, content_type = "application/problem+json"),
    (status = 404, body = Problem, content_type = "application/problem+json"),
    (status = 409, body = Problem, content_type = "application/problem+json"),
))]
pub(crate) async fn split_family(
    State(platform): State<Platform>,
    auth: Auth,
    Path(id): Path<String>,
    body: JsonBody,
) -> Result<Response, ApiError> {
    let actor = auth.require_any(&[Role::RegistryOfficer])?.audit_actor();
    let input: family::Split = body.parse()?;
    let created = family::split(&platform, &id, &input, &actor).await?;
    Ok((StatusCode::CREATED, Json(created)).into_response())
}

/// Names a new head of the family.
#[utoipa::path(post, path = "/api/v1/population/families/{id}/head", tag = "families", security(("bearer" = [])),
    params(("id" = String, Path)), request_body = family::NewHead, responses(
    (status = 200, body = Family),
    (status = 400, body = Problem, content_type = "application/problem+json"),
    (status = 403, body = Problem, content_type = "application/problem+json"),
    (status = 404, body = Problem, content_type = "application/problem+json"),
    (status = 409, body = Problem, content_type = "application/problem+json"),
))]
pub(crate) async fn change_family_head(
    State(platform): State<Platform>,
    auth: Auth,
    Path(id): Path<String>,
    body: JsonBody,
) -> Result<Json<Family>, ApiError> {
    let actor = auth.require_any(&[Role::RegistryOfficer])?.audit_actor();
    let input: family::NewHead = body.parse()?;
    Ok(Json(family::change_head(&platform, &id, &input, &actor).await?))
}

/// Moves the whole family to a new address; answers with the letter of the move (in the
/// manner of the SKPWNI).
#[utoipa::path(post, path = "/api/v1/population/families/{id}/move", tag = "families", security(("bearer" = [])),
    params(("id" = String, Path)), request_body = family::FamilyMove, responses(
    (status = 201, body = MoveLetter),
    (status = 400, body = Problem, content_type = "application/problem+json"),
    (status = 403, body = Problem, content_type = "application/problem+json"),
    (status = 404, body = Problem, content_type = "application/problem+json"),
    (status = 409, body = Problem, content_type = "application/problem+json"),
))]
pub(crate) async fn move_family(
    State(platform): State<Platform>,
    auth: Auth,
    Path(id): Path<String>,
    body: JsonBody,
) -> Result<Response, ApiError> {
    let actor = auth.require_any(&[Role::RegistryOfficer])?.audit_actor();
    let input: family::FamilyMove = body.parse()?;
    let letter = family::move_family(&platform, &id, &input, &actor).await?;
    Ok((StatusCode::CREATED, Json(letter)).into_response())
}

/// The letter of one of a family's moves (registry officers, stating the purpose; a citizen
/// on the card).
#[utoipa::path(get, path = "/api/v1/population/families/{id}/moves/{move_id}", tag = "families",
    security(("bearer" = [])), params(("id" = String, Path), ("move_id" = String, Path), ReadQuery), responses(
    (status = 200, body = MoveLetter),
    (status = 400, body = Problem, content_type = "application/problem+json"),
    (status = 403, body = Problem, content_type = "application/problem+json"),
    (status = 404, body = Problem, content_type = "application/problem+json"),
))]
pub(crate) async fn family_move_letter(
    State(platform): State<Platform>,
    auth: Auth,
    Path((id, move_id)): Path<(String, String)>,
    warga_http::Query(query): warga_http::Query<ReadQuery>,
) -> Result<Json<MoveLetter>, ApiError> {
    let purpose = reading(&platform, &auth, &id, query).await?;
    let letter = family::letter(&platform, &id, &move_id).await?;
    family::audit_read(&platform, &auth.0.audit_actor(), &id, &purpose).await?;
    Ok(Json(letter))
}
