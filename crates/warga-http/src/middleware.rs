//! Middleware every request passes through.

use std::sync::LazyLock;
use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::http::header;
use axum::middleware::Next;
use axum::response::Response;
use prometheus::{HistogramOpts, HistogramVec, IntCounterVec, Opts};
use tracing::Instrument;

use crate::problem::{PROBLEM_CONTENT_TYPE, Problem, ProblemType};

/// Header carrying the request id, generated when the client sent none.
pub const REQUEST_ID_HEADER: &str = "x-request-id";

static HTTP_REQUESTS: LazyLock<IntCounterVec> = LazyLock::new(|| {
    warga_telemetry::register(IntCounterVec::new(
        Opts::new(
            "warga_http_requests_total",
            "HTTP requests by route template, method and status.",
        ),
        &["method", "route", "status"],
    ))
});

static HTTP_DURATION: LazyLock<HistogramVec> = LazyLock::new(|| {
    warga_telemetry::register(HistogramVec::new(
        HistogramOpts::new(
            "warga_http_request_duration_seconds",
            "HTTP request latency by route, method and status.",
        )
        .buckets(vec![
            0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
        ]),
        &["method", "route", "status"],
    ))
});

/// Refused bearer tokens by reason: security monitoring without content.
pub(crate) static AUTH_FAILURES: LazyLock<IntCounterVec> = LazyLock::new(|| {
    warga_telemetry::register(IntCounterVec::new(
        Opts::new("warga_auth_failures_total", "Bearer tokens refused, by reason."),
        &["reason"],
    ))
});

pub(crate) fn describe() {
    LazyLock::force(&AUTH_FAILURES);
    LazyLock::force(&HTTP_REQUESTS);
    LazyLock::force(&HTTP_DURATION);
}

fn request_id(req: &Request) -> Option<String> {
    req.headers()
        .get(REQUEST_ID_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// Opens the request's span (continuing an incoming W3C `traceparent`), logs the outcome,
/// and records count and latency under the route *template*, so metrics stay bounded
/// whatever paths clients send.
pub(crate) async fn observe(req: Request, next: Next) -> Response {
    let method = req.method().as_str().to_owned();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".into());
    let span = tracing::info_span!(
        "http_request",
        http.method = %method,
        http.route = %route,
        request_id = request_id(&req).unwrap_or_default(),
        subject = tracing::field::Empty,
        http.status = tracing::field::Empty,
        otel.kind = "server",
    );
    let traceparent = req.headers().get("traceparent").and_then(|v| v.to_str().ok());
    warga_telemetry::set_parent_from_traceparent(&span, traceparent);
    let started = Instant::now();
    let response = next.run(req).instrument(span.clone()).await;
    let elapsed = started.elapsed();
    let status = response.status();
    let labels = [method.as_str(), route.as_str(), status.as_str()];
    HTTP_REQUESTS.with_label_values(&labels).inc();
    HTTP_DURATION.with_label_values(&labels).observe(elapsed.as_secs_f64());
    span.record("http.status", status.as_u16());
    let latency_ms = elapsed.as_secs_f64() * 1000.0;
    if status.is_server_error() {
        tracing::warn!(parent: &span, status = status.as_u16(), latency_ms, "request failed");
    } else {
        tracing::info!(parent: &span, status = status.as_u16(), latency_ms, "request finished");
    }
    response
}

/// Makes every error response a problem document carrying the request and trace ids,
/// including the ones produced by axum itself and by layers (404, 405, 408, 413, panics).
pub(crate) async fn problems(req: Request, next: Next) -> Response {
    let request_id = request_id(&req);
    let english = crate::web::wants_english(req.headers());
    let mut response = next.run(req).await;
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    if response.extensions().get::<crate::problem::ProtocolError>().is_some() {
        return response;
    }
    let mut problem = match response.extensions_mut().remove::<Problem>() {
        Some(problem) => problem,
        None => {
            let is_problem = response
                .headers()
                .get(header::CONTENT_TYPE)
                .is_some_and(|v| v.as_bytes().starts_with(PROBLEM_CONTENT_TYPE.as_bytes()));
            if is_problem {
                return response;
            }
            Problem::new(ProblemType::from_status(status), None)
        }
    };
    problem.request_id = request_id;
    problem.trace_id = warga_telemetry::current_trace_id();
    if !english {
        if let Some(title) = problem.title_id {
            problem.title = title.to_owned();
        }
        if let Some(detail) = problem.detail_id.take() {
            problem.detail = Some(detail);
        }
        if let Some(errors) = problem.errors_id.take() {
            problem
                .extra
                .get_or_insert_with(Default::default)
                .insert("errors".into(), errors);
        }
    }
    let mut rendered = problem.into_response();
    *rendered.status_mut() = status;
    for (name, value) in response.headers() {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            rendered.headers_mut().insert(name.clone(), value.clone());
        }
    }
    rendered
}
