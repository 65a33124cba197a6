//! Reporters' updates by SMS (R4) on SQLite and PostgreSQL. A citizen gives a phone number
//! (sealed, normalised, refused by field when it is not an Indonesian mobile number); each
//! status change of their report then reaches the population service's SMS provider once
//! — the embedded outbox, recorded in the same transaction that marks the delivery done —
//! and a removed contact is no longer used. Through a Twilio-compatible provider this test
//! runs, a failing send is retried after its backoff and the message arrives once.

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::http::StatusCode;
use serde_json::{Value, json};
use warga_testkit::{Engine, TestApp, spawn_app_with};

mod support;
use support::*;

async fn put(app: &TestApp, path: &str, token: &str, body: Value) -> reqwest::Response {
    app.client
        .put(format!("{}{path}", app.url))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap()
}

async fn file_report(app: &TestApp, citizen: &str, title: &str) -> String {
    let response = post(
        app,
        "/api/v1/reports",
        Some(citizen),
        report(title, "jalan-rusak", "public"),
    )
    .await;
    assert_eq!(response.status(), 201);
    let filed: Value = response.json().await.unwrap();
    filed["report"]["id"].as_str().unwrap().to_owned()
}

async fn sms_by_outbox(engine: Engine) {
    let Some(app) = spawn_app_with(engine, Router::new(), vec![], |config| {
        config
            .section_mut::<warga_reports::config::ReportsConfig>()
            .webhook_poll_ms = 3_600_000;
    })
    .await
    else {
        return;
    };
    let siti = linked_citizen(&app, "citizen-siti", NIK_A, "1995-03-12", "female", "Siti Aminah").await;
    let budi = linked_citizen(&app, "citizen-budi", NIK_B, "1995-03-12", "male", "Budi Santoso").await;
    let pu = officer(&app, "officer-pu", "dinas-pu").await;
    let job = warga_reports::deliveries::DeliveryJob::new(
        app.platform.clone(),
        "worker-a",
        warga_reports::channels(&app.platform).unwrap(),
    );

    // Bad numbers are refused by field, with nothing stored.
    for (body, field) in [
        (json!({ "phone": "021-345678" }), "phone"),
        (json!({ "email": "siti@" }), "email"),
        // A well-formed address, but this deployment has no mail server.
        (json!({ "email": "siti@contoh.go.id" }), "email"),
    ] {
        let response = put(&app, "/api/v1/reports/contact", &siti, body).await;
        assert_eq!(response.status(), 400);
        let problem: Value = response.json().await.unwrap();
        assert_eq!(problem["field"], field);
    }
    assert_eq!(count(&app, "SELECT COUNT(*) FROM report_contacts").await, 0);
    let anonymous = app
        .client
        .put(format!("{}/api/v1/reports/contact", app.url))
        .json(&json!({ "phone": "081234567890" }))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 401);

    // Siti gives her number as Indonesians write it; it is kept as +62…, sealed.
    let response = put(
        &app,
        "/api/v1/reports/contact",
        &siti,
        json!({ "phone": "0812-3456-7890" }),
    )
    .await;
    assert_eq!(response.status(), 200);
    let contact: Value = response.json().await.unwrap();
    assert_eq!(contact["phone"], "+6281234567890");
    let mine: Value = get(&app, "/api/v1/reports/contact", Some(&siti))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(mine["phone"], "+6281234567890");
    let theirs: Value = get(&app, "/api/v1/reports/contact", Some(&budi))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(theirs["phone"], Value::Null, "each citizen sees only their own");
    assert_eq!(
        count(
            &app,
            "SELECT COUNT(*) FROM report_contacts WHERE phone_sealed LIKE '%1234567890%'"
        )
        .await,
        0,
        "the number is sealed"
    );

    // Two status changes of Siti's report, one of Budi's (who gave no number).
    let road = file_report(&app, &siti, "Jalan berlubang di Jalan Kenanga").await;
    let other = file_report(&app, &budi, "Jalan retak di Jalan Dahlia").await;
    triage(&app, &pu, &road, "acknowledge").await;
    triage(&app, &pu, &road, "start").await;
    triage(&app, &pu, &other, "acknowledge").await;
    app.settled().await;
    assert_eq!(job.deliver_due().await.unwrap(), 2);
    assert_eq!(job.deliver_due().await.unwrap(), 0, "each message once");
    let messages = "SELECT COUNT(*) FROM population_sms_outbox WHERE to_phone = '+6281234567890'";
    assert_eq!(count(&app, messages).await, 2);
    assert_eq!(
        count(&app, "SELECT COUNT(*) FROM population_sms_outbox").await,
        2,
        "none for Budi"
    );
    assert_eq!(
        count(
            &app,
            "SELECT COUNT(*) FROM population_sms_outbox WHERE body LIKE '%sudah diverifikasi dinas%'"
        )
        .await,
        1
    );
    assert_eq!(
        count(
            &app,
            "SELECT COUNT(*) FROM report_webhook_deliveries WHERE channel = 'sms' AND state = 'delivered'"
        )
        .await,
        2
    );
    // Redelivered events write no second message.
    app.settled().await;
    assert_eq!(job.deliver_due().await.unwrap(), 0);

    // Siti removes her number: the next change reaches her inbox only.
    let response = app
        .client
        .delete(format!("{}/api/v1/reports/contact", app.url))
        .bearer_auth(&siti)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(count(&app, "SELECT COUNT(*) FROM report_contacts").await, 0);
    triage(&app, &pu, &road, "resolve").await;
    app.settled().await;
    job.deliver_due().await.unwrap();
    assert_eq!(count(&app, messages).await, 2);
    let inbox: Value = get(&app, "/api/v1/reports/inbox", Some(&siti))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(inbox["notifications"].as_array().unwrap().len(), 3);
}

#[tokio::test]
async fn sms_on_sqlite() {
    sms_by_outbox(Engine::Sqlite).await;
}

#[tokio::test]
async fn sms_on_postgres() {
    sms_by_outbox(Engine::Postgres).await;
}

/// What the Twilio-compatible gateway received: (`To`, `Body`).
type Received = Arc<Mutex<Vec<(String, String)>>>;

async fn gateway(
    axum::extract::State((received, failures)): axum::extract::State<(Received, Arc<Mutex<u32>>)>,
    axum::extract::Form(form): axum::extract::Form<std::collections::HashMap<String, String>>,
) -> StatusCode {
    let mut failures = failures.lock().unwrap();
    if *failures == 0 {
        // The gateway fails once.
        *failures += 1;
        return StatusCode::BAD_GATEWAY;
    }
    received
        .lock()
        .unwrap()
        .push((form["To"].clone(), form["Body"].clone()));
    StatusCode::CREATED
}

#[tokio::test]
async fn sms_through_a_remote_provider_is_retried() {
    let received: Received = Arc::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let provider = Router::new()
        .route("/2010-04-01/Accounts/{sid}/Messages.json", axum::routing::post(gateway))
        .with_state((received.clone(), Arc::new(Mutex::new(0u32))));
    tokio::spawn(async move { axum::serve(listener, provider).await });
    let Some(app) = spawn_app_with(Engine::Sqlite, Router::new(), vec![], move |config| {
        config
            .section_mut::<warga_reports::config::ReportsConfig>()
            .webhook_poll_ms = 3_600_000;
        let sms = &mut config.section_mut::<warga_population::config::PopulationConfig>().sms;
        sms.provider = warga_population::config::SmsProviderKind::Twilio;
        sms.twilio_base_url = Some(format!("http://127.0.0.1:{port}"));
        sms.twilio_account_sid = Some("AC-jagawarga".into());
        sms.twilio_auth_token = Some(warga_config::Secret::new("token-uji".into()));
        sms.twilio_from = Some("JAGAWARGA".into());
    })
    .await
    else {
        return;
    };
    let siti = linked_citizen(&app, "citizen-siti", NIK_A, "1995-03-12", "female", "Siti Aminah").await;
    let pu = officer(&app, "officer-pu", "dinas-pu").await;
    let job = warga_reports::deliveries::DeliveryJob::new(
        app.platform.clone(),
        "worker-a",
        warga_reports::channels(&app.platform).unwrap(),
    );
    let response = put(
        &app,
        "/api/v1/reports/contact",
        &siti,
        json!({ "phone": "+62 812 3456 7890" }),
    )
    .await;
    assert_eq!(response.status(), 200);
    let road = file_report(&app, &siti, "Lampu jalan padam di Jalan Cempaka").await;
    triage(&app, &pu, &road, "acknowledge").await;
    app.settled().await;

    assert_eq!(job.deliver_due().await.unwrap(), 0, "the gateway failed");
    assert_eq!(job.deliver_due().await.unwrap(), 0, "not due before its backoff");
    app.clock.advance_ms(2_000);
    assert_eq!(job.deliver_due().await.unwrap(), 1);
    let received = received.lock().unwrap().clone();
    assert_eq!(received.len(), 1, "once");
    assert_eq!(received[0].0, "+6281234567890");
    assert!(received[0].1.contains("sudah diverifikasi dinas"), "{}", received[0].1);
    assert_eq!(
        count(&app, "SELECT COUNT(*) FROM population_sms_outbox").await,
        0,
        "a remote provider keeps no outbox"
    );
}
