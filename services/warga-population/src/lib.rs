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
use utoipa::OpenApi;
use warga_bus::Handler;
use warga_http::{ApiError, Json, Platform, Problem, Service};
use warga_store::MigrationSet;

use crate::regions::{REGIONS, Region};

pub struct PopulationService;

#[derive(OpenApi)]
#[openapi(
    paths(provinces, regencies, districts),
    components(schemas(Region)),
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
