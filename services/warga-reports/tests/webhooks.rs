//! Departments' webhooks (R7) on SQLite and PostgreSQL, against a receiver this test runs:
//! each department's reports reach its own hook only, signed (HMAC-SHA-256 over the
//! timestamp and body) with the event's id on every attempt; a failing receiver is retried
//! with backoff and, after the last attempt, the delivery is dead-lettered, listed for
//! administrators and sent again on request. Deliveries are driven by the job's passes
//! under a manual clock.

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use serde_json::{Value, json};
use warga_testkit::{Engine, spawn_app_with};

mod support;
use support::*;

const SECRET_PU: &str = "rahasia-webhook-dinas-pu-0123456789abcdef";
const SECRET_DLH: &str = "rahasia-webhook-dlh-0123456789abcdef-xyz";

/// What the receiver saw: (hook, event id, timestamp, signature, body).
type Seen = Arc<Mutex<Vec<(String, String, i64, String, String)>>>;

async fn receive(
    State(state): State<(Seen, Arc<Mutex<u32>>)>,
    Path(hook): Path<String>,
    headers: HeaderMap,
    body: String,
) -> StatusCode {
    let header = |name: &str| {
        headers
            .get(name)
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default()
    };
    state.0.lock().unwrap().push((
        hook.clone(),
        header("warga-webhook-id"),
        header("warga-webhook-timestamp").parse().unwrap_or(0),
        header("warga-webhook-signature"),
        body,
    ));
    match hook.as_str() {
        // Dinas PU's system fails once, then works; DLH's is down.
        "pu" => {
            let mut failures = state.1.lock().unwrap();
            if *failures == 0 {
                *failures += 1;
                StatusCode::INTERNAL_SERVER_ERROR
            } else {
                StatusCode::NO_CONTENT
            }
        }
        _ => StatusCode::SERVICE_UNAVAILABLE,
    }
}

async fn webhooks(engine: Engine) {
    let seen: Seen = Arc::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let receiver = Router::new()
        .route("/hooks/{hook}", axum::routing::post(receive))
        .with_state((seen.clone(), Arc::new(Mutex::new(0u32))));
    tokio::spawn(async move { axum::serve(listener, receiver).await });

    let Some(app) = spawn_app_with(engine, Router::new(), vec![], |config| {
        let reports = config.section_mut::<warga_reports::config::ReportsConfig>();
        reports.webhook_poll_ms = 3_600_000;
        for (name, department, secret) in [("pu", "dinas-pu", SECRET_PU), ("dlh", "dlh", SECRET_DLH)] {
            reports.webhooks.push(warga_reports::webhooks::WebhookConfig {
                name: name.into(),
                department: department.into(),
                url: format!("http://127.0.0.1:{port}/hooks/{name}"),
                secret: warga_config::Secret::new(secret.into()),
            });
        }
    })
    .await
    else {
        return;
    };
    let siti = linked_citizen(&app, "citizen-siti", NIK_A, "1995-03-12", "female", "Siti Aminah").await;
    let pu = officer(&app, "officer-pu", "dinas-pu").await;
    let admin = app.token("admin-1", &["admin"]).await;
    let road: Value = post(
        &app,
        "/api/v1/reports",
        Some(&siti),
        report("Jalan amblas di pasar", "jalan-rusak", "public"),
    )
    .await
    .json()
    .await
    .unwrap();
    let road_id = road["report"]["id"].as_str().unwrap().to_owned();
    let dumping: Value = post(
        &app,
        "/api/v1/reports",
        Some(&siti),
        report("Sampah liar di kali", "sampah-liar", "public"),
    )
    .await
    .json()
    .await
    .unwrap();
    let dumping_id = dumping["report"]["id"].as_str().unwrap().to_owned();
    app.settled().await;

    let job = warga_reports::deliveries::DeliveryJob::new(
        app.platform.clone(),
        "worker-a",
        warga_reports::channels(&app.platform).unwrap(),
    );
    assert_eq!(job.deliver_due().await.unwrap(), 0, "both receivers failed");
    assert_eq!(job.deliver_due().await.unwrap(), 0, "nothing is due before its backoff");
    app.clock.advance_ms(2_000);
    assert_eq!(job.deliver_due().await.unwrap(), 1, "Dinas PU's second attempt");
    {
        let seen = seen.lock().unwrap();
        let pu_seen: Vec<_> = seen.iter().filter(|s| s.0 == "pu").collect();
        assert_eq!(pu_seen.len(), 2);
        assert_eq!(pu_seen[0].1, pu_seen[1].1, "the same event id on a retry");
        for (_, event_id, timestamp, signature, body) in &pu_seen {
            let now = warga_core::time::Clock::now_ms(&app.clock) / 1000;
            assert!(warga_reports::webhooks::verify(
                SECRET_PU, *timestamp, body, signature, now
            ));
            assert!(!warga_reports::webhooks::verify(
                SECRET_DLH, *timestamp, body, signature, now
            ));
            // The same check with ring directly.
            let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, SECRET_PU.as_bytes());
            let tag = ring::hmac::sign(&key, format!("{timestamp}.{body}").as_bytes());
            let hex: String = tag.as_ref().iter().map(|b| format!("{b:02x}")).collect();
            assert_eq!(signature, &format!("v1={hex}"));
            let payload: Value = serde_json::from_str(body).unwrap();
            assert_eq!(payload["id"], event_id.as_str());
            assert_eq!(payload["topic"], "reports.report.submitted");
            assert_eq!(payload["data"]["report_id"], road_id.as_str());
            assert!(!body.contains("citizen-siti") && !body.contains("Siti"), "no reporter");
        }
        assert!(
            seen.iter().all(|s| (s.0 == "pu") == s.4.contains(&road_id)),
            "each department's reports reach its own hook only"
        );
        assert!(seen.iter().filter(|s| s.0 == "dlh").all(|s| s.4.contains(&dumping_id)));
    }

    // A status change is forwarded too.
    let acknowledged = post(
        &app,
        &format!("/api/v1/reports/{road_id}/triage"),
        Some(&pu),
        json!({ "action": "acknowledge" }),
    )
    .await;
    assert_eq!(acknowledged.status(), 200);
    app.settled().await;
    assert_eq!(job.deliver_due().await.unwrap(), 1);
    assert!(
        seen.lock()
            .unwrap()
            .iter()
            .any(|s| s.0 == "pu" && s.4.contains("reports.report.status_changed") && s.4.contains("acknowledged"))
    );

    // DLH's receiver stays down: after the last attempt, a dead letter.
    for _ in 0..10 {
        app.clock.advance_ms(3_600_000);
        job.deliver_due().await.unwrap();
    }
    let attempts = seen.lock().unwrap().iter().filter(|s| s.0 == "dlh").count();
    assert_eq!(attempts, 8, "eight attempts, then no more");
    let dead: Vec<Value> = get(&app, "/api/v1/reports/webhook-deliveries", Some(&admin))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0]["hook"], "dlh");
    assert_eq!(dead[0]["attempts"], 8);
    assert!(dead[0]["last_error"].as_str().unwrap().contains("503"));
    assert_eq!(
        get(&app, "/api/v1/reports/webhook-deliveries", Some(&pu))
            .await
            .status(),
        403
    );
    let delivered: Vec<Value> = get(&app, "/api/v1/reports/webhook-deliveries?state=delivered", Some(&admin))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(delivered.len(), 2);
    let id = dead[0]["id"].as_str().unwrap();
    let retried = app
        .client
        .post(format!("{}/api/v1/reports/webhook-deliveries/{id}/retry", app.url))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(retried.status(), 204);
    job.deliver_due().await.unwrap();
    assert_eq!(
        seen.lock().unwrap().iter().filter(|s| s.0 == "dlh").count(),
        9,
        "sent again on request"
    );
}

#[tokio::test]
async fn webhooks_on_sqlite() {
    webhooks(Engine::Sqlite).await;
}

#[tokio::test]
async fn webhooks_on_postgres() {
    webhooks(Engine::Postgres).await;
}
