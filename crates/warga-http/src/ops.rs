//! The operational endpoints and the composition of services into one application.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{DefaultBodyLimit, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::timeout::TimeoutLayer;
use utoipa::OpenApi;

use crate::middleware;
use crate::problem::{Problem, ProblemType};
use crate::service::{Platform, Service};

/// How long `/readyz` waits for the database.
const READY_TIMEOUT: Duration = Duration::from_secs(2);

#[derive(OpenApi)]
#[openapi(
    info(title = "warga", description = "Indonesian public services: ledger, reports and population."),
    paths(healthz, readyz, metrics),
    components(schemas(Problem, Health, Readiness)),
    tags((name = "ops", description = "Health, readiness and metrics")),
    modifiers(&BearerScheme)
)]
struct OpsApi;

/// Declares the `bearer` security scheme (JWT access tokens) that protected paths name.
struct BearerScheme;

impl utoipa::Modify for BearerScheme {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
    }
}

#[derive(Serialize, utoipa::ToSchema)]
struct Health {
    status: &'static str,
    version: &'static str,
}

#[derive(Serialize, utoipa::ToSchema)]
struct Readiness {
    status: &'static str,
    /// `ok` or `unavailable` per dependency.
    #[schema(value_type = Object)]
    checks: serde_json::Map<String, serde_json::Value>,
}

/// The process is alive.
#[utoipa::path(get, path = "/healthz", tag = "ops", responses((status = 200, body = Health)))]
async fn healthz() -> Json<Health> {
    Json(Health {
        status: "ok",
        version: env!("CARGO_PKG_VERSION"),
    })
}

/// The process can serve: the database and the bus answer.
#[utoipa::path(get, path = "/readyz", tag = "ops", responses(
    (status = 200, body = Readiness),
    (status = 503, body = Problem, content_type = "application/problem+json"),
))]
async fn readyz(State(platform): State<Platform>) -> Response {
    let (database, bus) = tokio::join!(platform.store.ping(READY_TIMEOUT), platform.bus.ping());
    let mut checks = serde_json::Map::new();
    let mut failing = Vec::new();
    for (name, result) in [
        ("database", database.map_err(|e| e.to_string())),
        ("bus", bus.map_err(|e| e.to_string())),
    ] {
        let state = match result {
            Ok(()) => "ok",
            Err(error) => {
                tracing::warn!(check = name, %error, "not ready");
                failing.push(name);
                "unavailable"
            }
        };
        checks.insert(name.to_owned(), state.into());
    }
    if failing.is_empty() {
        return Json(Readiness {
            status: "ready",
            checks,
        })
        .into_response();
    }
    let mut problem = Problem::new(
        ProblemType::Unavailable,
        Some(format!("not ready: {} unavailable", failing.join(", "))),
    );
    problem.extra = Some(serde_json::Map::from_iter([(
        "checks".to_owned(),
        serde_json::Value::Object(checks),
    )]));
    problem.into_response()
}

/// Prometheus metrics of this process, in the text exposition format.
#[utoipa::path(get, path = "/metrics", tag = "ops", responses((status = 200, content_type = "text/plain")))]
async fn metrics(State(platform): State<Platform>) -> impl IntoResponse {
    platform.store.observe_pools();
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")],
        warga_telemetry::render_metrics(),
    )
}

/// An unknown path: a page for a browser, a problem document for everyone else (API clients
/// ask for JSON; paths under the APIs always get one).
async fn not_found(req: axum::extract::Request) -> Response {
    if wants_page(&req) {
        return crate::web::not_found_page(&req);
    }
    crate::ApiError::NotFound(crate::Detail::new("no such resource", "sumber daya tidak ditemukan")).into_response()
}

/// A browser navigating: a GET or HEAD that accepts HTML, outside the API prefixes.
fn wants_page(req: &axum::extract::Request) -> bool {
    const API_PREFIXES: [&str; 4] = ["/api/", "/open311/", "/oauth2/", "/.well-known/"];
    let path = req.uri().path();
    let accepts_html = req
        .headers()
        .get(axum::http::header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|accept| accept.contains("text/html"));
    (req.method() == axum::http::Method::GET || req.method() == axum::http::Method::HEAD)
        && accepts_html
        && !API_PREFIXES.iter().any(|prefix| path.starts_with(prefix))
}

async fn method_not_allowed() -> Response {
    Problem::new(
        ProblemType::MethodNotAllowed,
        Some("this resource does not support the method".into()),
    )
    .into_response()
}

fn panic_response(_: Box<dyn std::any::Any + Send + 'static>) -> Response {
    tracing::error!("request handler panicked");
    Problem::new(ProblemType::Internal, None).into_response()
}

/// The OpenAPI document of the ops endpoints merged with `services`'.
pub fn openapi(services: &[Arc<dyn Service>]) -> utoipa::openapi::OpenApi {
    let mut doc = OpsApi::openapi();
    doc.info.version = env!("CARGO_PKG_VERSION").to_owned();
    for service in services {
        doc.merge(service.openapi());
    }
    doc
}

/// Composes `services` and the ops endpoints into one application with warga's middleware.
pub fn app(platform: &Platform, services: &[Arc<dyn Service>]) -> Router {
    app_with(platform, services, Router::new())
}

/// As [`app`], with `extra` routes merged in (tests mount probes here).
pub fn app_with(platform: &Platform, services: &[Arc<dyn Service>], extra: Router) -> Router {
    middleware::describe();
    let document = Arc::new(openapi(services));
    let mut router = Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .with_state(platform.clone())
        .route(
            "/api/openapi.json",
            get(move || async move { Json(document.as_ref().clone()) }),
        )
        .merge(extra);
    for service in services {
        router = router.merge(service.router(platform));
    }
    let http = &platform.config.http;
    router
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(http.body_limit_bytes))
        .layer(axum::middleware::from_fn_with_state(
            platform.concurrency.clone(),
            crate::concurrency::limit,
        ))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            Duration::from_millis(http.request_timeout_ms),
        ))
        .layer(CatchPanicLayer::custom(panic_response))
        .layer(axum::middleware::from_fn_with_state(
            platform.limiter.clone(),
            crate::ratelimit::limit,
        ))
        .layer(axum::middleware::from_fn_with_state(
            platform.auth.validator.clone(),
            crate::auth::authenticate,
        ))
        .layer(axum::middleware::from_fn_with_state(
            std::sync::Arc::new(http.trusted_proxies.clone()),
            crate::client::attribute,
        ))
        .layer(axum::middleware::from_fn(middleware::problems))
        .layer(axum::middleware::from_fn(middleware::observe))
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
}
