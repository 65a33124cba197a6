//! Population services (SPEC P2–P4, P7): the region table (`regions`) and NIK validation
//! (`nik`), both pure; resident registration and statistics (`residents`, `search`,
//! `links`); family cards (`family`, its API in `family_routes`); officer notifications
//! (`notify`).

#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

pub mod address;
pub mod config;
mod error;
pub mod family;
mod family_routes;
pub mod kk;
pub mod ktp;
pub mod links;
pub mod metrics;
pub mod nik;
pub mod notify;
pub mod regions;
pub mod residents;
pub mod search;

pub use error::PopulationError;

use std::sync::Arc;

use axum::Router;
use axum::extract::Path;
use axum::routing::get;
use serde::Deserialize;
use utoipa::OpenApi;
use warga_bus::Handler;
use warga_core::identity::Role;
use warga_http::{ApiError, Auth, Json, JsonBody, Platform, Problem, Service};
use warga_store::MigrationSet;

use crate::regions::{REGIONS, Region};

pub struct PopulationService;

/// Portable DDL: the same step for SQLite and PostgreSQL.
const STEPS: &[warga_store::MigrationStep] = &[
    warga_store::MigrationStep {
        version: 2026112250,
        description: "residents and statistics",
        sql: include_str!("../migrations/2026112250_residents.sql"),
    },
    warga_store::MigrationStep {
        version: 2026112251,
        description: "address history",
        sql: include_str!("../migrations/2026112251_moves.sql"),
    },
    warga_store::MigrationStep {
        version: 2026112252,
        description: "officer notifications",
        sql: include_str!("../migrations/2026112252_notifications.sql"),
    },
    warga_store::MigrationStep {
        version: 2026112253,
        description: "name search and citizen links",
        sql: include_str!("../migrations/2026112253_search_and_links.sql"),
    },
    warga_store::MigrationStep {
        version: 2026120201,
        description: "link requests matched at registration",
        sql: include_str!("../migrations/2026120201_link_rematch.sql"),
    },
    warga_store::MigrationStep {
        version: 2026120203,
        description: "family cards",
        sql: include_str!("../migrations/2026120203_families.sql"),
    },
];

#[derive(OpenApi)]
#[openapi(
    paths(provinces, regencies, districts, villages, check_nik, register_resident, lookup_resident, statistics, get_resident,
          move_resident, record_death, search_residents, my_resident, ask_link, pending_links, decide_link, sms_outbox,
          list_notify_desks, add_notify_desk, remove_notify_desk,
          family_routes::create_family, family_routes::lookup_family, family_routes::get_family,
          family_routes::add_family_member, family_routes::split_family, family_routes::change_family_head,
          family_routes::move_family, family_routes::family_move_letter),
    components(schemas(Region, NikCheck, nik::Nik, nik::Sex, residents::NewResident, residents::Resident, residents::Stats,
                       residents::RegionCount, residents::Count, NikLookup, residents::Address,
                       residents::PastAddress, residents::ResidentRecord,
                       search::ResidentSummary, search::SearchPage, links::LinkAsk, links::MyResident,
                       links::PendingLink, links::LinkDecision, LinkAsked, notify::OutboxMessage, notify::OutboxPage, notify::Desk, NotifyDesk,
                       family::NewFamily, family::NewMember, family::Newborn, family::AddMember, family::Split,
                       family::NewHead, family::FamilyMove, family::Family, family::Member, family::MoveSummary,
                       family::Membership, family::MoveLetter, family::LetterMember, family::Relationship,
                       family::Reason, family::MoveReason, family::Classification, family::KkNumber,
                       family_routes::KkLookup)),
    tags((name = "regions", description = "Indonesia's provinces, regencies/cities and districts (data: idn-area-data, ODbL 1.0)"),
         (name = "families", description = "Family cards (Kartu Keluarga): members, births, splits and moves of whole families"))
)]
struct PopulationApi;

impl Service for PopulationService {
    fn name(&self) -> &'static str {
        "population"
    }
    fn summary(&self) -> &'static str {
        "population services: regions, NIK validation, resident registry, statistics, officer notifications"
    }
    fn migrations(&self) -> MigrationSet {
        MigrationSet {
            owner: "population",
            sqlite: STEPS,
            postgres: STEPS,
        }
    }
    fn router(&self, platform: &Platform) -> Router {
        std::sync::LazyLock::force(&REGIONS);
        metrics::describe();
        Router::new()
            .route("/api/v1/regions/provinces", get(provinces))
            .route("/api/v1/regions/provinces/{code}/regencies", get(regencies))
            .route("/api/v1/regions/regencies/{code}/districts", get(districts))
            .route("/api/v1/regions/districts/{code}/villages", get(villages))
            .route("/api/v1/population/nik/check", axum::routing::post(check_nik))
            .merge(
                Router::new()
                    .route(
                        "/api/v1/population/residents",
                        get(search_residents).post(register_resident),
                    )
                    .route("/api/v1/population/me", get(my_resident))
                    .route("/api/v1/population/me/link", axum::routing::post(ask_link))
                    .route("/api/v1/population/link-requests", get(pending_links))
                    .route(
                        "/api/v1/population/link-requests/{id}/decision",
                        axum::routing::post(decide_link),
                    )
                    .route(
                        "/api/v1/population/residents/lookup",
                        axum::routing::post(lookup_resident),
                    )
                    .route("/api/v1/population/residents/{id}", get(get_resident))
                    .route(
                        "/api/v1/population/residents/{id}/move",
                        axum::routing::post(move_resident),
                    )
                    .route(
                        "/api/v1/population/residents/{id}/death",
                        axum::routing::post(record_death),
                    )
                    .route("/api/v1/stats", get(statistics))
                    .route(
                        "/api/v1/population/notify-desks",
                        get(list_notify_desks).post(add_notify_desk),
                    )
                    .route(
                        "/api/v1/population/notify-desks/{regency}/{phone}",
                        axum::routing::delete(remove_notify_desk),
                    )
                    .route("/api/v1/population/sms-outbox", get(sms_outbox))
                    .merge(family_routes::routes())
                    .with_state(platform.clone()),
            )
    }
    fn openapi(&self) -> utoipa::openapi::OpenApi {
        PopulationApi::openapi()
    }
    fn sections(&self, sections: warga_config::Sections) -> warga_config::Sections {
        sections.with::<config::PopulationConfig>()
    }
    fn handlers(&self, platform: &Platform) -> Vec<Arc<dyn Handler>> {
        let population = platform.config.section::<config::PopulationConfig>();
        let provider = notify::provider(&population.sms);
        vec![
            Arc::new(residents::StatsCounter),
            Arc::new(family::HouseholdCounter),
            Arc::new(notify::RegistrationNotifier::new(provider)),
        ]
    }
    fn seed_demo<'a>(
        &'a self,
        platform: &'a Platform,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), String>> + Send + 'a>> {
        Box::pin(async move {
            notify::seed_demo_desks(platform).await.map_err(|e| e.to_string())?;
            residents::seed_demo_residents(platform)
                .await
                .map_err(|e| e.to_string())
        })
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
        return Err(ApiError::NotFound(warga_http::Detail::new(
            format!("no province {code}"),
            format!("tidak ada provinsi {code}"),
        )));
    }
    Ok(Json(REGIONS.regencies_of(&code)))
}

/// The districts of a regency or city.
#[utoipa::path(get, path = "/api/v1/regions/regencies/{code}/districts", tag = "regions",
    params(("code" = String, Path, description = "Regency or city code, 4 digits")),
    responses((status = 200, body = Vec<Region>), (status = 404, body = Problem, content_type = "application/problem+json")))]
async fn districts(Path(code): Path<String>) -> Result<Json<Vec<Region>>, ApiError> {
    if REGIONS.regency(&code).is_none() {
        return Err(ApiError::NotFound(warga_http::Detail::new(
            format!("no regency or city {code}"),
            format!("tidak ada kabupaten/kota {code}"),
        )));
    }
    Ok(Json(REGIONS.districts_of(&code)))
}

/// The villages (desa and kelurahan) of a district: the codes an address uses.
#[utoipa::path(get, path = "/api/v1/regions/districts/{code}/villages", tag = "regions",
    params(("code" = String, Path, description = "District code, 6 digits")),
    responses((status = 200, body = Vec<Region>), (status = 404, body = Problem, content_type = "application/problem+json")))]
async fn villages(Path(code): Path<String>) -> Result<Json<Vec<Region>>, ApiError> {
    if REGIONS.district(&code).is_none() {
        return Err(ApiError::NotFound(warga_http::Detail::new(
            format!("no district {code}"),
            format!("tidak ada kecamatan {code}"),
        )));
    }
    Ok(Json(REGIONS.villages_of(&code)))
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
async fn check_nik(auth: Auth, body: JsonBody) -> Result<Json<nik::Nik>, ApiError> {
    auth.require_any(&[Role::RegistryOfficer, Role::Officer, Role::Admin])?;
    let input: NikCheck = body.parse()?;
    let parsed = match (&input.birth_date, input.sex) {
        (Some(date), Some(sex)) => {
            let date = nik::Date::parse_iso(date).ok_or_else(|| {
                ApiError::validation_in("birth_date", "must be a date, YYYY-MM-DD", "harus tanggal, TTTT-BB-HH")
            })?;
            nik::validate(&input.nik, &REGIONS, date, sex).map_err(PopulationError::from)?
        }
        (None, None) => nik::parse(&input.nik, &REGIONS).map_err(PopulationError::from)?,
        _ => {
            return Err(ApiError::validation_in(
                "birth_date",
                "give both birth_date and sex, or neither",
                "isi tanggal lahir dan jenis kelamin, atau keduanya kosong",
            ));
        }
    };
    Ok(Json(parsed))
}

/// Registers a resident (registry officers).
#[utoipa::path(post, path = "/api/v1/population/residents", tag = "residents", security(("bearer" = [])),
    request_body = residents::NewResident, responses(
    (status = 201, body = residents::Resident),
    (status = 400, body = Problem, content_type = "application/problem+json"),
    (status = 403, body = Problem, content_type = "application/problem+json"),
    (status = 409, body = Problem, content_type = "application/problem+json"),
))]
async fn register_resident(
    axum::extract::State(platform): axum::extract::State<Platform>,
    auth: Auth,
    body: JsonBody,
) -> Result<axum::response::Response, ApiError> {
    use axum::response::IntoResponse;
    let actor = auth.require_any(&[Role::RegistryOfficer])?.audit_actor();
    let input: residents::NewResident = body.parse()?;
    let resident = residents::register(&platform, &input, &actor).await?;
    Ok((axum::http::StatusCode::CREATED, Json(resident)).into_response())
}

/// A NIK to look up (in the body, so it stays out of URLs and access logs).
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NikLookup {
    pub nik: String,
    /// Why the record is read (UU PDP 27/2022): kept in the audit log, e.g. `pelayanan KTP-el`.
    pub purpose: String,
}

/// Why a personal record is read: 3 to 200 visible characters.
pub(crate) fn purpose(value: Option<&str>) -> Result<String, ApiError> {
    let value = value.map(str::trim).unwrap_or_default();
    let length = value.chars().count();
    if !(3..=200).contains(&length) || warga_core::text::hidden_character(value).is_some() {
        return Err(ApiError::validation_in(
            "purpose",
            "state why the record is read (3 to 200 characters); it is kept in the audit log",
            "sebutkan tujuan membaca data ini (3 sampai 200 karakter); tujuan dicatat dalam log audit",
        ));
    }
    Ok(value.to_owned())
}

/// Where a personal record is read, with its purpose.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ReadQuery {
    /// Why the record is read; required of registry officers (a resident reading their own
    /// record need not say).
    pub purpose: Option<String>,
}

/// A resident by NIK (registry officers; the purpose is kept in the audit log).
#[utoipa::path(post, path = "/api/v1/population/residents/lookup", tag = "residents", security(("bearer" = [])),
    request_body = NikLookup, responses(
    (status = 200, body = residents::Resident),
    (status = 403, body = Problem, content_type = "application/problem+json"),
    (status = 404, body = Problem, content_type = "application/problem+json"),
))]
async fn lookup_resident(
    axum::extract::State(platform): axum::extract::State<Platform>,
    auth: Auth,
    body: JsonBody,
) -> Result<Json<residents::Resident>, ApiError> {
    let actor = auth.require_any(&[Role::RegistryOfficer])?.audit_actor();
    let input: NikLookup = body.parse()?;
    let purpose = purpose(Some(&input.purpose))?;
    let resident = residents::by_nik(&platform, &input.nik).await?.ok_or_else(|| {
        ApiError::NotFound(warga_http::Detail::new(
            "no resident has this NIK",
            "tidak ada penduduk dengan NIK ini",
        ))
    })?;
    residents::audit_read(&platform, &actor, &resident.id, &purpose).await?;
    Ok(Json(resident))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct StatsFilter {
    /// A province code: counts per regency/city of that province.
    pub province: Option<String>,
}

/// Live population counts per region, sex and age band (officers and administrators).
#[utoipa::path(get, path = "/api/v1/stats", tag = "residents", security(("bearer" = [])), params(StatsFilter), responses(
    (status = 200, body = residents::Stats),
    (status = 403, body = Problem, content_type = "application/problem+json"),
))]
async fn statistics(
    axum::extract::State(platform): axum::extract::State<Platform>,
    auth: Auth,
    warga_http::Query(filter): warga_http::Query<StatsFilter>,
) -> Result<Json<residents::Stats>, ApiError> {
    auth.require_any(&[Role::Admin, Role::Officer, Role::RegistryOfficer])?;
    if let Some(code) = &filter.province
        && REGIONS.province(code).is_none()
    {
        return Err(ApiError::validation_in(
            "province",
            format!("no province {code}"),
            format!("tidak ada provinsi {code}"),
        ));
    }
    Ok(Json(residents::stats(&platform, filter.province.as_deref()).await?))
}

/// A resident with their address history (registry officers, stating the purpose, and the
/// linked citizen). Every read is in the audit log with its purpose.
#[utoipa::path(get, path = "/api/v1/population/residents/{id}", tag = "residents", security(("bearer" = [])),
    params(("id" = String, Path), ReadQuery), responses(
    (status = 200, body = residents::ResidentRecord),
    (status = 400, body = Problem, content_type = "application/problem+json"),
    (status = 403, body = Problem, content_type = "application/problem+json"),
    (status = 404, body = Problem, content_type = "application/problem+json"),
))]
async fn get_resident(
    axum::extract::State(platform): axum::extract::State<Platform>,
    auth: Auth,
    Path(id): Path<String>,
    warga_http::Query(query): warga_http::Query<ReadQuery>,
) -> Result<Json<residents::ResidentRecord>, ApiError> {
    let own = auth.0.has_role(Role::Citizen)
        && links::linked_resident(&platform.store, &auth.0.subject)
            .await?
            .as_deref()
            == Some(id.as_str());
    let purpose = if own {
        query.purpose.unwrap_or_else(|| "own record".into())
    } else {
        auth.require_any(&[Role::RegistryOfficer])?;
        purpose(query.purpose.as_deref())?
    };
    let record = residents::record(&platform, &id).await?;
    residents::audit_read(&platform, &auth.0.audit_actor(), &id, &purpose).await?;
    Ok(Json(record))
}

/// Records a move to a new address; the old one is kept in the history (registry officers).
#[utoipa::path(post, path = "/api/v1/population/residents/{id}/move", tag = "residents", security(("bearer" = [])),
    params(("id" = String, Path)), request_body = residents::Address, responses(
    (status = 200, body = residents::ResidentRecord),
    (status = 400, body = Problem, content_type = "application/problem+json"),
    (status = 403, body = Problem, content_type = "application/problem+json"),
    (status = 404, body = Problem, content_type = "application/problem+json"),
    (status = 409, body = Problem, content_type = "application/problem+json"),
))]
async fn move_resident(
    axum::extract::State(platform): axum::extract::State<Platform>,
    auth: Auth,
    Path(id): Path<String>,
    body: JsonBody,
) -> Result<Json<residents::ResidentRecord>, ApiError> {
    let actor = auth.require_any(&[Role::RegistryOfficer])?.audit_actor();
    let to: residents::Address = body.parse()?;
    Ok(Json(residents::move_resident(&platform, &id, &to, &actor).await?))
}

/// Records a resident's death (registry officers).
#[utoipa::path(post, path = "/api/v1/population/residents/{id}/death", tag = "residents", security(("bearer" = [])),
    params(("id" = String, Path)), responses(
    (status = 200, body = residents::ResidentRecord),
    (status = 403, body = Problem, content_type = "application/problem+json"),
    (status = 404, body = Problem, content_type = "application/problem+json"),
    (status = 409, body = Problem, content_type = "application/problem+json"),
))]
async fn record_death(
    axum::extract::State(platform): axum::extract::State<Platform>,
    auth: Auth,
    Path(id): Path<String>,
) -> Result<Json<residents::ResidentRecord>, ApiError> {
    let actor = auth.require_any(&[Role::RegistryOfficer])?.audit_actor();
    Ok(Json(residents::record_death(&platform, &id, &actor).await?))
}

/// A registry desk to notify of new registrations in a regency.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NotifyDesk {
    pub regency: String,
    /// E.164, e.g. `+6281234567890`.
    pub phone: String,
    pub label: String,
}

/// Adds a registry desk to text about new registrations in its regency (administrators).
#[utoipa::path(post, path = "/api/v1/population/notify-desks", tag = "residents", security(("bearer" = [])),
    request_body = NotifyDesk, responses(
    (status = 201),
    (status = 400, body = Problem, content_type = "application/problem+json"),
    (status = 403, body = Problem, content_type = "application/problem+json"),
    (status = 409, body = Problem, content_type = "application/problem+json"),
))]
async fn add_notify_desk(
    axum::extract::State(platform): axum::extract::State<Platform>,
    auth: Auth,
    body: JsonBody,
) -> Result<axum::http::StatusCode, ApiError> {
    let actor = auth.require_any(&[Role::Admin])?.audit_actor();
    let desk: NotifyDesk = body.parse()?;
    notify::add_desk_audited(&platform, &actor, desk.regency.trim(), desk.phone.trim(), &desk.label).await?;
    Ok(axum::http::StatusCode::CREATED)
}

/// The registry desks, by regency (administrators).
#[utoipa::path(get, path = "/api/v1/population/notify-desks", tag = "residents", security(("bearer" = [])), responses(
    (status = 200, body = Vec<notify::Desk>),
    (status = 403, body = Problem, content_type = "application/problem+json"),
))]
async fn list_notify_desks(
    axum::extract::State(platform): axum::extract::State<Platform>,
    auth: Auth,
) -> Result<Json<Vec<notify::Desk>>, ApiError> {
    auth.require_any(&[Role::Admin])?;
    Ok(Json(notify::desks(&platform.store).await?))
}

/// Stops texting a registry desk (administrators).
#[utoipa::path(delete, path = "/api/v1/population/notify-desks/{regency}/{phone}", tag = "residents", security(("bearer" = [])),
    params(("regency" = String, Path, description = "Regency or city code, 4 digits"),
           ("phone" = String, Path, description = "E.164, e.g. +6281234567890")),
    responses(
    (status = 204),
    (status = 403, body = Problem, content_type = "application/problem+json"),
    (status = 404, body = Problem, content_type = "application/problem+json"),
))]
async fn remove_notify_desk(
    axum::extract::State(platform): axum::extract::State<Platform>,
    auth: Auth,
    Path((regency, phone)): Path<(String, String)>,
) -> Result<axum::http::StatusCode, ApiError> {
    let actor = auth.require_any(&[Role::Admin])?.audit_actor();
    notify::remove_desk_audited(&platform, &actor, &regency, &phone).await?;
    Ok(axum::http::StatusCode::NO_CONTENT)
}

/// Where a page of the SMS outbox starts.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct OutboxQuery {
    /// The `next` of the previous page.
    pub before: Option<String>,
    /// 1–200; 50 by default.
    pub limit: Option<i64>,
}

/// The messages kept by the embedded SMS provider, newest first, a page at a time:
/// administrators see every message, registry officers those to registry desks.
#[utoipa::path(get, path = "/api/v1/population/sms-outbox", tag = "residents", security(("bearer" = [])),
    params(OutboxQuery), responses(
    (status = 200, body = notify::OutboxPage),
    (status = 403, body = Problem, content_type = "application/problem+json"),
))]
async fn sms_outbox(
    axum::extract::State(platform): axum::extract::State<Platform>,
    auth: Auth,
    warga_http::Query(query): warga_http::Query<OutboxQuery>,
) -> Result<Json<notify::OutboxPage>, ApiError> {
    auth.require_any(&[Role::Admin, Role::RegistryOfficer])?;
    let reader = if auth.0.has_role(Role::Admin) {
        notify::OutboxReader::Everything
    } else {
        notify::OutboxReader::DesksOnly
    };
    let page = notify::outbox(
        &platform.store,
        reader,
        query.before.as_deref(),
        query.limit.unwrap_or(50),
    )
    .await?;
    Ok(Json(page))
}

/// Residents by name prefix and/or region, in order of registration (administrators and
/// officers). Names are sealed; the search runs over a blind index (see `search`).
#[utoipa::path(get, path = "/api/v1/population/residents", tag = "residents", security(("bearer" = [])),
    params(search::SearchQuery), responses(
    (status = 200, body = search::SearchPage),
    (status = 400, body = Problem, content_type = "application/problem+json"),
    (status = 403, body = Problem, content_type = "application/problem+json"),
))]
async fn search_residents(
    axum::extract::State(platform): axum::extract::State<Platform>,
    auth: Auth,
    warga_http::Query(query): warga_http::Query<search::SearchQuery>,
) -> Result<Json<search::SearchPage>, ApiError> {
    let actor = auth.require_any(&[Role::RegistryOfficer])?.audit_actor();
    let purpose = purpose(query.purpose.as_deref())?;
    let page = search::search(&platform, &query).await?;
    warga_store::audit::record_alone(
        &platform.store,
        &warga_store::audit::AuditRecord {
            actor: &actor,
            action: "population.resident.search",
            target: "residents",
            outcome: warga_store::audit::Outcome::Success,
            details: Some(serde_json::json!({
                "by_name": query.name.is_some(), "region": query.region, "results": page.residents.len(),
                "purpose": purpose,
            })),
        },
    )
    .await?;
    Ok(Json(page))
}

/// The signed-in citizen's link to their resident record, and the record once linked.
#[utoipa::path(get, path = "/api/v1/population/me", tag = "residents", security(("bearer" = [])), responses(
    (status = 200, body = links::MyResident),
    (status = 403, body = Problem, content_type = "application/problem+json"),
))]
async fn my_resident(
    axum::extract::State(platform): axum::extract::State<Platform>,
    auth: Auth,
) -> Result<Json<links::MyResident>, ApiError> {
    let principal = auth.require_any(&[Role::Citizen])?;
    Ok(Json(links::mine(&platform, &principal.subject).await?))
}

/// The answer to a link request: it waits for a registry officer.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct LinkAsked {
    pub id: String,
    pub status: &'static str,
}

/// A citizen asks to be linked to their resident record; a registry officer confirms.
#[utoipa::path(post, path = "/api/v1/population/me/link", tag = "residents", security(("bearer" = [])),
    request_body = links::LinkAsk, responses(
    (status = 202, body = LinkAsked),
    (status = 400, body = Problem, content_type = "application/problem+json"),
    (status = 403, body = Problem, content_type = "application/problem+json"),
    (status = 409, body = Problem, content_type = "application/problem+json"),
))]
async fn ask_link(
    axum::extract::State(platform): axum::extract::State<Platform>,
    auth: Auth,
    body: JsonBody,
) -> Result<axum::response::Response, ApiError> {
    use axum::response::IntoResponse;
    let principal = auth.require_any(&[Role::Citizen])?;
    let input: links::LinkAsk = body.parse()?;
    let username = principal.username.clone().unwrap_or_else(|| principal.subject.clone());
    let id = links::ask(&platform, &principal.subject, &username, &input).await?;
    Ok((
        axum::http::StatusCode::ACCEPTED,
        Json(LinkAsked { id, status: "pending" }),
    )
        .into_response())
}

/// Link requests waiting for a decision (registry officers, administrators).
#[utoipa::path(get, path = "/api/v1/population/link-requests", tag = "residents", security(("bearer" = [])), responses(
    (status = 200, body = Vec<links::PendingLink>),
    (status = 403, body = Problem, content_type = "application/problem+json"),
))]
async fn pending_links(
    axum::extract::State(platform): axum::extract::State<Platform>,
    auth: Auth,
) -> Result<Json<Vec<links::PendingLink>>, ApiError> {
    auth.require_any(&[Role::RegistryOfficer])?;
    Ok(Json(links::pending(&platform, 100).await?))
}

/// Confirms or refuses a link request (registry officers).
#[utoipa::path(post, path = "/api/v1/population/link-requests/{id}/decision", tag = "residents",
    security(("bearer" = [])), params(("id" = String, Path)), request_body = links::LinkDecision, responses(
    (status = 204),
    (status = 403, body = Problem, content_type = "application/problem+json"),
    (status = 404, body = Problem, content_type = "application/problem+json"),
    (status = 409, body = Problem, content_type = "application/problem+json"),
))]
async fn decide_link(
    axum::extract::State(platform): axum::extract::State<Platform>,
    auth: Auth,
    Path(id): Path<String>,
    body: JsonBody,
) -> Result<axum::http::StatusCode, ApiError> {
    let actor = auth.require_any(&[Role::RegistryOfficer])?.audit_actor();
    let decision: links::LinkDecision = body.parse()?;
    links::decide(&platform, &id, &decision, &actor).await?;
    Ok(axum::http::StatusCode::NO_CONTENT)
}
