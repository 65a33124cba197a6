//! Population services (SPEC P2–P4, P7). This first part holds what registration stands
//! on: the region table (`regions`) and NIK validation (`nik`), both pure, and the region
//! API that forms use. Resident registration, statistics and officer notifications follow.

#![forbid(unsafe_code)]

pub mod nik;
pub mod regions;

use std::sync::Arc;

use axum::Router;
use axum::extract::Path;
use axum::routing::get;
use serde::Deserialize;
use utoipa::OpenApi;
use warga_bus::Handler;
use warga_core::identity::Role;
use warga_http::{ApiError, Auth, Json, Platform, Problem, Service};
use warga_store::MigrationSet;

use crate::regions::{REGIONS, Region};

pub struct PopulationService;

#[derive(OpenApi)]
#[openapi(
    paths(provinces, regencies, districts, check_nik),
    components(schemas(Region, NikCheck, nik::Nik, nik::Sex)),
    tags((name = "regions", description = "Indonesia's provinces, regencies/cities and districts (data: idn-area-data, ODbL 1.0)"))
)]
struct PopulationApi;

impl Service for PopulationService {
    fn name(&self) -> &'static str {
        "population"
    }
    fn summary(&self) -> &'static str {
        "population services: regions and NIK validation (registration to come)"
    }
    fn migrations(&self) -> MigrationSet {
        MigrationSet {
            owner: "population",
            sqlite: &[],
            postgres: &[],
        }
    }
    fn router(&self, _: &Platform) -> Router {
        std::sync::LazyLock::force(&REGIONS);
        Router::new()
            .route("/api/v1/regions/provinces", get(provinces))
            .route("/api/v1/regions/provinces/{code}/regencies", get(regencies))
            .route("/api/v1/regions/regencies/{code}/districts", get(districts))
            .route("/api/v1/population/nik/check", axum::routing::post(check_nik))
    }
    fn openapi(&self) -> utoipa::openapi::OpenApi {
        PopulationApi::openapi()
    }
    fn handlers(&self, _: &Platform) -> Vec<Arc<dyn Handler>> {
        Vec::new()
    }
}

/// The 38 provinces.
#[utoipa::path(get, path = "/api/v1/regions/provinces", tag = "regions", responses((status = 200, body = Vec<Region>)))]
async fn provinces() -> Json<Vec<Region>> {
    Json(REGIONS.provinces())
}

/// The regencies and cities of a province.
#[utoipa::path(get, path = "/api/v1/regions/provinces/{code}/regencies", tag = "regions",
    params(("code" = String, Path, description = "Province code, 2 digits")),
    responses((status = 200, body = Vec<Region>), (status = 404, body = Problem, content_type = "application/problem+json")))]
async fn regencies(Path(code): Path<String>) -> Result<Json<Vec<Region>>, ApiError> {
    if REGIONS.province(&code).is_none() {
        return Err(ApiError::NotFound(format!("no province {code}")));
    }
    Ok(Json(REGIONS.regencies_of(&code)))
}

/// The districts of a regency or city.
#[utoipa::path(get, path = "/api/v1/regions/regencies/{code}/districts", tag = "regions",
    params(("code" = String, Path, description = "Regency or city code, 4 digits")),
    responses((status = 200, body = Vec<Region>), (status = 404, body = Problem, content_type = "application/problem+json")))]
async fn districts(Path(code): Path<String>) -> Result<Json<Vec<Region>>, ApiError> {
    if REGIONS.regency(&code).is_none() {
        return Err(ApiError::NotFound(format!("no regency or city {code}")));
    }
    Ok(Json(REGIONS.districts_of(&code)))
}

impl From<nik::NikError> for ApiError {
    fn from(error: nik::NikError) -> Self {
        ApiError::Rule {
            slug: error.problem(),
            title: error.title(),
            field: error.field(),
            detail: error.to_string(),
        }
    }
}

/// A NIK to check, optionally against the birth date and sex being registered.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NikCheck {
    pub nik: String,
    /// `YYYY-MM-DD`.
    #[serde(default)]
    pub birth_date: Option<String>,
    #[serde(default)]
    pub sex: Option<nik::Sex>,
}

/// Checks a NIK as a registration form types it: structure, region codes, birth date, serial,
/// and — when given — agreement with the birth date and sex. Every failure has its own
/// problem type (`urn:warga:problem:nik-…`) naming the field.
#[utoipa::path(post, path = "/api/v1/population/nik/check", tag = "regions", security(("bearer" = [])),
    request_body = NikCheck, responses(
    (status = 200, body = nik::Nik),
    (status = 400, body = Problem, content_type = "application/problem+json"),
    (status = 403, body = Problem, content_type = "application/problem+json"),
))]
async fn check_nik(auth: Auth, Json(input): Json<NikCheck>) -> Result<Json<nik::Nik>, ApiError> {
    auth.require_any(&[Role::RegistryOfficer, Role::Officer, Role::Admin])?;
    let parsed = match (&input.birth_date, input.sex) {
        (Some(date), Some(sex)) => {
            let date = nik::Date::parse_iso(date)
                .ok_or_else(|| ApiError::validation("birth_date", "must be a date, YYYY-MM-DD"))?;
            nik::validate(&input.nik, &REGIONS, date, sex)?
        }
        (None, None) => nik::parse(&input.nik, &REGIONS)?,
        _ => {
            return Err(ApiError::validation(
                "birth_date",
                "give both birth_date and sex, or neither",
            ));
        }
    };
    Ok(Json(parsed))
}
