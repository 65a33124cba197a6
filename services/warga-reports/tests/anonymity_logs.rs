//! An anonymous report leaves no trace of its reporter in the logs: the request that files
//! it is authenticated but never attributed. A public report's request, for contrast, is —
//! so the capture is shown to see what it should.

use std::io::Write;
use std::sync::{Arc, Mutex};

use axum::Router;
use serde_json::json;
use warga_population::links::{self, LinkAsk, LinkDecision};
use warga_population::residents::{self, NewResident};
use warga_testkit::{Engine, TestApp, spawn_app};

/// Everything the process logs, as JSON lines.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

async fn linked(app: &TestApp, subject: &str, nik: &str, name: &str) -> String {
    let resident: NewResident = serde_json::from_value(json!({
        "nik": nik, "full_name": name, "birth_place": "Jakarta", "birth_date": "1995-03-12", "sex": "male",
        "address": "Jl. Kebon Kacang Raya No. 5", "rt_rw": "003/007", "village": "Kebon Kacang", "district": "317107",
        "religion": "Islam", "marital_status": "Kawin", "occupation": "Guru"
    }))
    .unwrap();
    residents::register(&app.platform, &resident, "user:capil")
        .await
        .unwrap();
    let ask = LinkAsk {
        nik: nik.into(),
        birth_date: "1995-03-12".into(),
    };
    let request = links::ask(&app.platform, subject, subject, &ask).await.unwrap();
    let decision = LinkDecision {
        approve: true,
        reason: None,
    };
    links::decide(&app.platform, &request, &decision, "user:capil")
        .await
        .unwrap();
    app.token(subject, &["citizen"]).await
}

#[tokio::test]
async fn the_anonymous_route_logs_no_subject() {
    let captured = Captured::default();
    let writer = captured.clone();
    // Set before the test kit's own (which then stays out of the way).
    tracing_subscriber::fmt()
        .json()
        .with_current_span(true)
        .with_span_list(true)
        .with_max_level(tracing::Level::DEBUG)
        .with_writer(move || writer.clone())
        .init();
    let app = spawn_app(Engine::Sqlite, Router::new(), vec![]).await.unwrap();
    let public = linked(&app, "citizen-public-7f3a", "3171071203950005", "Budi Santoso").await;
    let anonymous = linked(&app, "citizen-anonymous-9c2e", "3171071203950013", "Agus Wijaya").await;
    let body = |title: &str| {
        json!({"title": title, "description": "Lubang besar di tengah jalan, berbahaya.", "category": "jalan-rusak",
               "latitude": -6.19, "longitude": 106.81, "district": "317107", "visibility": "public"})
    };
    let filed = app
        .client
        .post(format!("{}/api/v1/reports", app.url))
        .bearer_auth(&public)
        .json(&body("Jalan berlubang terbuka"))
        .send()
        .await
        .unwrap();
    assert_eq!(filed.status(), 201);
    let filed = app
        .client
        .post(format!("{}/api/v1/reports/anonymous", app.url))
        .bearer_auth(&anonymous)
        .json(&body("Jalan berlubang anonim"))
        .send()
        .await
        .unwrap();
    assert_eq!(filed.status(), 201);
    app.settled().await;
    let logs = captured.text();
    assert!(
        logs.contains("citizen-public-7f3a"),
        "the capture sees a public report's subject:\n{logs}"
    );
    assert!(
        logs.contains("/api/v1/reports/anonymous"),
        "the anonymous request was logged"
    );
    assert!(
        !logs.contains("citizen-anonymous-9c2e"),
        "the anonymous reporter's subject reached the logs:\n{logs}"
    );
    for personal in ["Agus", "Wijaya", "3171071203950013"] {
        assert!(!logs.contains(personal), "{personal} reached the logs");
    }
}
