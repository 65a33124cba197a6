//! The HTTPS edge through the real stack: TLS, middleware, problem documents, health and
//! readiness, metrics, OpenAPI, trace propagation and graceful shutdown.

use warga_testkit as common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::routing::get;
use common::{Engine, spawn_app, spawn_app_with, wait_for};
use serde_json::Value;
use sqlx::Row;
use tokio::sync::Notify;
use warga_bus::{Handler, HandlerError};
use warga_core::Envelope;
use warga_store::Tx;

const PROBLEM: &str = "application/problem+json";

async fn problem(response: reqwest::Response, status: u16, type_suffix: &str) -> Value {
    assert_eq!(response.status().as_u16(), status);
    let content_type = response.headers()["content-type"].to_str().unwrap().to_owned();
    assert_eq!(content_type, PROBLEM);
    assert!(response.headers().contains_key("x-request-id"));
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["type"], format!("urn:warga:problem:{type_suffix}"), "{body}");
    assert_eq!(body["status"], status);
    assert!(body["request_id"].is_string(), "{body}");
    body
}

#[tokio::test]
async fn strict_edges_over_http_2_and_http_1_1() {
    let app = spawn_app(Engine::Sqlite, Router::new(), vec![]).await.unwrap();
    let token = app.operator_token().await;
    let cert = &app.running.as_ref().unwrap().tls.cert_path;
    let http1 = common::http1_client_trusting(cert);
    for (client, version) in [
        (&app.client, reqwest::Version::HTTP_2),
        (&http1, reqwest::Version::HTTP_11),
    ] {
        let post = |body: reqwest::Body| {
            client
                .post(format!("{}/api/v1/system/probes", app.url))
                .bearer_auth(&token)
                .header("content-type", "application/json")
                .body(body)
                .send()
        };
        // Oversize, with a Content-Length and streamed without one.
        let big = format!(r#"{{"note": "{}"}}"#, "x".repeat(2 * 1024 * 1024));
        let response = post(big.clone().into()).await.unwrap();
        assert_eq!(response.version(), version);
        problem(response, 413, "payload-too-large").await;
        let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
            big.into_bytes().chunks(64 * 1024).map(|c| Ok(c.to_vec())).collect();
        let streamed = reqwest::Body::wrap_stream(futures::stream::iter(chunks));
        problem(post(streamed).await.unwrap(), 413, "payload-too-large").await;
        // One JSON value and nothing after it.
        let trailing = post(r#"{"note": "a"} {"note": "b"}"#.into()).await.unwrap();
        let body = problem(trailing, 400, "invalid-json").await;
        assert!(body["detail"].as_str().unwrap().contains("trailing"), "{body}");
    }
    // A bad query parameter is named.
    let registrar = app.token("registrar-1", &["registry_officer", "admin"]).await;
    let outbox = |query: &str| {
        app.client
            .get(format!("{}/api/v1/population/sms-outbox?{query}", app.url))
            .bearer_auth(&registrar)
            .send()
    };
    let body = problem(outbox("limit=banyak").await.unwrap(), 400, "validation").await;
    assert_eq!(body["field"], "limit");
    let body = problem(outbox("limitt=5").await.unwrap(), 400, "validation").await;
    assert_eq!(body["field"], "limitt");
    let count: i64 = sqlx::query("SELECT COUNT(*) FROM outbox")
        .fetch_one(app.db.store.reader())
        .await
        .unwrap()
        .get(0);
    assert_eq!(count, 0, "no refused request wrote anything");
}

#[tokio::test]
async fn health_is_alive_and_every_response_has_a_request_id() {
    let app = spawn_app(Engine::Sqlite, Router::new(), vec![]).await.unwrap();
    let response = app.get("/healthz").await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.version(), reqwest::Version::HTTP_2, "ALPN negotiates HTTP/2");
    let generated = response.headers()["x-request-id"].to_str().unwrap().to_owned();
    assert_eq!(generated.len(), 36, "a UUID: {generated}");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["status"], "ok");

    let echoed = app
        .client
        .get(format!("{}/healthz", app.url))
        .header("x-request-id", "abc-123")
        .send()
        .await
        .unwrap();
    assert_eq!(
        echoed.headers()["x-request-id"],
        "abc-123",
        "a client's request id is kept"
    );
}

#[tokio::test]
async fn browsers_get_a_page_for_an_unknown_address_and_api_clients_a_problem() {
    let app = spawn_app(Engine::Sqlite, Router::new(), vec![]).await.unwrap();
    let browse = |path: &'static str, language: &'static str| {
        app.client
            .get(format!("{}{path}", app.url))
            .header("accept", "text/html,application/xhtml+xml,*/*;q=0.8")
            .header("accept-language", language)
            .send()
    };
    let page = browse("/tidak/ada", "id-ID,id;q=0.9").await.unwrap();
    assert_eq!(page.status(), 404);
    assert!(
        page.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    assert!(page.headers().contains_key("content-security-policy"));
    let body = page.text().await.unwrap();
    assert!(
        body.contains("Halaman tidak ditemukan") && body.contains("lang=\"id\""),
        "{body}"
    );
    let english = browse("/no/such/page", "en-GB,en;q=0.8")
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(english.contains("Page not found"), "{english}");
    // Under the APIs, and for clients that do not ask for HTML: a problem document, titled
    // in Bahasa Indonesia unless the client asks for English.
    let body = problem(browse("/api/v1/no-such", "id").await.unwrap(), 404, "not-found").await;
    assert_eq!(body["title"], "Tidak ditemukan");
    assert_eq!(body["detail"], "sumber daya tidak ditemukan");
    let body = problem(
        browse("/api/v1/no-such", "en-US,en;q=0.9").await.unwrap(),
        404,
        "not-found",
    )
    .await;
    assert_eq!(body["title"], "Not found");
    assert_eq!(body["detail"], "no such resource");
    problem(app.get("/tidak/ada").await, 404, "not-found").await;
}

#[tokio::test]
async fn errors_are_problem_documents() {
    let app = spawn_app(Engine::Sqlite, Router::new(), vec![]).await.unwrap();
    problem(app.get("/no/such/page").await, 404, "not-found").await;

    let response = app.client.delete(format!("{}/healthz", app.url)).send().await.unwrap();
    assert!(response.headers()["allow"].to_str().unwrap().contains("GET"));
    problem(response, 405, "method-not-allowed").await;

    let big = format!(r#"{{"note": "{}"}}"#, "x".repeat(100 * 1024));
    problem(
        app.post_json("/api/v1/system/probes", &big).await,
        413,
        "payload-too-large",
    )
    .await;

    let body = problem(
        app.post_json("/api/v1/system/probes", r#"{"note": "#).await,
        400,
        "invalid-json",
    )
    .await;
    assert!(body.get("field").is_none());

    let body = problem(
        app.post_json("/api/v1/system/probes", r#"{"note": 5}"#).await,
        400,
        "validation",
    )
    .await;
    assert_eq!(body["field"], "note");

    let long = format!(r#"{{"note": "{}"}}"#, "x".repeat(201));
    let body = problem(app.post_json("/api/v1/system/probes", &long).await, 400, "validation").await;
    assert_eq!(body["field"], "note");

    let unknown = problem(
        app.post_json("/api/v1/system/probes", r#"{"nota": "x"}"#).await,
        400,
        "validation",
    )
    .await;
    assert!(unknown["detail"].as_str().unwrap().contains("nota"), "{unknown}");

    let plain = app
        .client
        .post(format!("{}/api/v1/system/probes", app.url))
        .bearer_auth(app.operator_token().await)
        .body("{}")
        .send()
        .await
        .unwrap();
    problem(plain, 415, "unsupported-media-type").await;

    let body = problem(
        app.get_as_operator("/api/v1/system/probes/not-a-uuid").await,
        400,
        "validation",
    )
    .await;
    assert_eq!(body["field"], "probe_id");
    problem(
        app.get_as_operator("/api/v1/system/probes/01a200a2-30c3-71c1-80d9-b313e4124880")
            .await,
        404,
        "not-found",
    )
    .await;

    let count: i64 = sqlx::query("SELECT COUNT(*) FROM outbox")
        .fetch_one(app.db.store.reader())
        .await
        .unwrap()
        .get(0);
    assert_eq!(count, 0, "no bad request wrote anything");
}

async fn readiness_follows_the_database(engine: Engine) {
    let Some(app) = spawn_app(engine, Router::new(), vec![]).await else {
        return;
    };
    let ready = app.get("/readyz").await;
    assert_eq!(ready.status(), 200);
    let body: Value = ready.json().await.unwrap();
    assert_eq!(body["checks"]["database"], "ok");
    assert_eq!(body["checks"]["bus"], "ok");

    match engine {
        Engine::Sqlite => app.db.store.close().await,
        Engine::Postgres => app.db.drop_database().await,
    }
    let body = problem(app.get("/readyz").await, 503, "unavailable").await;
    assert_eq!(body["checks"]["database"], "unavailable");
    assert_eq!(body["checks"]["bus"], "ok");
    assert_eq!(app.get("/healthz").await.status(), 200, "alive even when not ready");
}

#[tokio::test]
async fn readiness_follows_the_database_sqlite() {
    readiness_follows_the_database(Engine::Sqlite).await;
}

#[tokio::test]
async fn readiness_follows_the_database_postgres() {
    readiness_follows_the_database(Engine::Postgres).await;
}

#[tokio::test]
async fn metrics_and_openapi_are_served() {
    let app = spawn_app(Engine::Sqlite, Router::new(), vec![]).await.unwrap();
    app.get("/healthz").await;
    let metrics = app.get("/metrics").await;
    assert_eq!(metrics.status(), 200);
    assert!(
        metrics.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    let text = metrics.text().await.unwrap();
    for family in [
        "warga_http_requests_total",
        "warga_http_request_duration_seconds_bucket",
        "warga_outbox_backlog",
        "warga_relay_lag_seconds",
        "warga_consumer_lag",
    ] {
        assert!(text.contains(family), "{family} missing from /metrics");
    }
    assert!(
        text.contains(r#"route="/healthz""#),
        "requests are labelled by route template"
    );

    let doc: Value = app.get("/api/openapi.json").await.json().await.unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    for path in [
        "/healthz",
        "/readyz",
        "/metrics",
        "/api/v1/system/probes",
        "/api/v1/system/probes/{probe_id}",
    ] {
        assert!(doc["paths"].get(path).is_some(), "{path} missing from OpenAPI");
    }
    assert!(doc["components"]["schemas"].get("Problem").is_some());
}

/// Remembers the trace id current while it handles probe events.
struct TraceWitness(Arc<Mutex<Vec<String>>>);

#[async_trait::async_trait]
impl Handler for TraceWitness {
    fn name(&self) -> &'static str {
        "test-trace-witness"
    }
    fn topics(&self) -> &'static [&'static str] {
        &["system.probe.requested"]
    }
    async fn handle(&self, _: &mut Tx, _: &Envelope) -> Result<(), HandlerError> {
        self.0
            .lock()
            .unwrap()
            .push(warga_telemetry::current_trace_id().unwrap_or_default());
        Ok(())
    }
}

#[tokio::test]
async fn one_trace_spans_request_outbox_and_consumer() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let app = spawn_app(
        Engine::Sqlite,
        Router::new(),
        vec![Arc::new(TraceWitness(seen.clone()))],
    )
    .await
    .unwrap();
    let trace_id = "0af7651916cd43dd8448eb211c80319c";
    let response = app
        .client
        .post(format!("{}/api/v1/system/probes", app.url))
        .bearer_auth(app.operator_token().await)
        .header("content-type", "application/json")
        .header("traceparent", format!("00-{trace_id}-b7ad6b7169203331-01"))
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 202);
    let view: Value = response.json().await.unwrap();

    let stored: Option<String> = sqlx::query("SELECT traceparent FROM outbox")
        .fetch_one(app.db.store.reader())
        .await
        .unwrap()
        .get(0);
    assert!(
        stored.unwrap().contains(trace_id),
        "the event carries the request's trace"
    );

    wait_for("the consumer", Duration::from_secs(10), || async {
        !seen.lock().unwrap().is_empty()
    })
    .await;
    assert_eq!(
        seen.lock().unwrap().as_slice(),
        [trace_id.to_owned()],
        "the consumer continues the trace"
    );

    let probe: Value = app
        .get_as_operator(
            view["probe_id"]
                .as_str()
                .map(|id| format!("/api/v1/system/probes/{id}"))
                .unwrap()
                .as_str(),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(probe["status"], "delivered");
    assert_eq!(probe["deliveries"], 1);

    let missing = app
        .client
        .get(format!("{}/nope", app.url))
        .header("traceparent", format!("00-{trace_id}-b7ad6b7169203331-01"))
        .send()
        .await
        .unwrap();
    let body = problem(missing, 404, "not-found").await;
    assert_eq!(body["trace_id"], trace_id, "problem documents name the trace");
}

#[derive(Clone)]
struct Gate {
    entered: Arc<Notify>,
    release: Arc<Notify>,
}

#[tokio::test]
async fn graceful_shutdown_finishes_in_flight_requests() {
    let gate = Gate {
        entered: Arc::new(Notify::new()),
        release: Arc::new(Notify::new()),
    };
    let slow = Router::new()
        .route(
            "/test/slow",
            get(|axum::extract::State(gate): axum::extract::State<Gate>| async move {
                gate.entered.notify_one();
                gate.release.notified().await;
                "finished"
            }),
        )
        .with_state(gate.clone());
    let mut app = spawn_app(Engine::Sqlite, slow, vec![]).await.unwrap();

    let in_flight = {
        let (client, url) = (app.client.clone(), app.url.clone());
        tokio::spawn(async move { client.get(format!("{url}/test/slow")).send().await })
    };
    gate.entered.notified().await;
    let running = app.running.take().unwrap();
    let shutdown = tokio::spawn(running.shutdown(Duration::from_secs(10)));
    // Draining has begun once new connections are refused (a positive marker, polled).
    let fresh = common::client_trusting(&app.dir.path().join("tls/cert.pem"));
    common::wait_for("the listener to close", Duration::from_secs(10), || async {
        fresh.get(format!("{}/healthz", app.url)).send().await.is_err()
    })
    .await;
    assert!(!shutdown.is_finished(), "shutdown waits for the in-flight request");

    gate.release.notify_one();
    let response = in_flight.await.unwrap().expect("the in-flight request completes");
    assert_eq!(response.status(), 200);
    assert_eq!(response.text().await.unwrap(), "finished");
    shutdown.await.unwrap().unwrap();
    app.shutdown().await;
}

#[tokio::test]
async fn concurrency_limit_queues_requests_and_slow_ones_time_out_as_problems() {
    let gate = Gate {
        entered: Arc::new(Notify::new()),
        release: Arc::new(Notify::new()),
    };
    let slow = Router::new()
        .route(
            "/test/slow",
            get(|axum::extract::State(gate): axum::extract::State<Gate>| async move {
                gate.entered.notify_one();
                gate.release.notified().await;
                "finished"
            }),
        )
        .with_state(gate.clone());
    let app = spawn_app_with(Engine::Sqlite, slow, vec![], |config| {
        config.http.concurrency_max = 1;
        config.http.request_timeout_ms = 3_000;
    })
    .await
    .unwrap();
    let get = |path: &'static str| {
        let (client, url) = (app.client.clone(), app.url.clone());
        tokio::spawn(async move { client.get(format!("{url}{path}")).send().await })
    };

    // The only slot is taken: the next request waits in line, then runs.
    let holder = get("/test/slow");
    gate.entered.notified().await;
    let queued = get("/healthz");
    // The positive marker: the second request is in line for the slot.
    common::wait_for("the second request in line", Duration::from_secs(10), || async {
        app.platform.concurrency.waiting() == 1
    })
    .await;
    assert!(!queued.is_finished(), "the second request waits for the slot");
    gate.release.notify_one();
    assert_eq!(holder.await.unwrap().unwrap().status(), 200);
    assert_eq!(queued.await.unwrap().unwrap().status(), 200, "and runs once it is free");

    // A request that outlives the timeout is cut off with a problem document.
    let stuck = get("/test/slow");
    gate.entered.notified().await;
    problem(stuck.await.unwrap().unwrap(), 408, "request-timeout").await;
    gate.release.notify_one();
}
