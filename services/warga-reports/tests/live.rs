//! Live views over server-sent events on SQLite and PostgreSQL: a department's queue shows a
//! new report as it is filed and its change as it is verified; another department's stream
//! shows neither; the reporter's stream brings the notification of the change.

use std::time::Duration;

use axum::Router;
use serde_json::json;
use warga_testkit::{Engine, TestApp, spawn_app_with};

mod support;
use support::*;

/// An open event stream, read until a marker arrives (or the deadline passes).
struct Stream {
    response: reqwest::Response,
    seen: String,
}

impl Stream {
    async fn open(app: &TestApp, path: &str, token: &str) -> Stream {
        let response = app
            .client
            .get(format!("{}{path}", app.url))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{path}");
        assert_eq!(response.headers()["content-type"], "text/event-stream");
        Stream {
            response,
            seen: String::new(),
        }
    }

    /// Reads until `marker` is in what arrived after `from`; returns that part.
    async fn until(&mut self, from: usize, marker: &str) -> String {
        let read = async {
            while !self.seen[from..].contains(marker) {
                let chunk = self.response.chunk().await.unwrap().expect("the stream stays open");
                self.seen.push_str(&String::from_utf8_lossy(&chunk));
            }
        };
        tokio::time::timeout(Duration::from_secs(20), read)
            .await
            .unwrap_or_else(|_| panic!("no {marker:?} within 20 s; got {:?}", &self.seen[from..]));
        self.seen[from..].to_owned()
    }
}

async fn live(engine: Engine) {
    let Some(app) = spawn_app_with(engine, Router::new(), vec![], |config| {
        config
            .section_mut::<warga_reports::config::ReportsConfig>()
            .live_poll_ms = 100;
    })
    .await
    else {
        return;
    };
    let siti = linked_citizen(&app, "citizen-siti", NIK_A, "1995-03-12", "female", "Siti Aminah").await;
    let pu = officer(&app, "officer-pu", "dinas-pu").await;
    let dlh = officer(&app, "officer-dlh", "dlh").await;

    let mut queue = Stream::open(&app, "/api/v1/reports/queue/live", &pu).await;
    let opening = queue.until(0, "event: snapshot").await;
    assert!(opening.contains("\"reports\":[]"), "{opening}");
    let mut other = Stream::open(&app, "/api/v1/reports/queue/live", &dlh).await;
    other.until(0, "event: snapshot").await;
    let mut inbox = Stream::open(&app, "/api/v1/reports/inbox/live", &siti).await;
    inbox.until(0, "event: snapshot").await;

    let filed: serde_json::Value = post(
        &app,
        "/api/v1/reports",
        Some(&siti),
        report("Jalan amblas di pasar", "jalan-rusak", "public"),
    )
    .await
    .json()
    .await
    .unwrap();
    let id = filed["report"]["id"].as_str().unwrap().to_owned();
    let mark = queue.seen.len();
    let arrived = queue.until(mark, "Jalan amblas di pasar").await;
    assert!(
        arrived.contains("event: report") && arrived.contains("\"status\":\"submitted\""),
        "{arrived}"
    );

    let verified = post(
        &app,
        &format!("/api/v1/reports/{id}/triage"),
        Some(&pu),
        json!({ "action": "acknowledge" }),
    )
    .await;
    assert_eq!(verified.status(), 200);
    let mark = queue.seen.len();
    let changed = queue.until(mark, "\"status\":\"acknowledged\"").await;
    assert!(changed.contains(&id));
    let mark = inbox.seen.len();
    let told = inbox.until(mark, "event: notification").await;
    assert!(told.contains("sudah diverifikasi dinas"), "{told}");

    // DLH's stream: its own report arrives (the positive marker), Dinas PU's never did.
    let dumping = post(
        &app,
        "/api/v1/reports",
        Some(&siti),
        report("Sampah liar di kali", "sampah-liar", "public"),
    )
    .await;
    assert_eq!(dumping.status(), 201);
    let theirs = other.until(0, "Sampah liar di kali").await;
    assert!(!theirs.contains(&id) && !theirs.contains("Jalan amblas"), "{theirs}");
    assert_eq!(
        get(&app, "/api/v1/reports/queue/live", Some(&siti)).await.status(),
        403,
        "a citizen has no queue"
    );
}

#[tokio::test]
async fn live_on_sqlite() {
    live(Engine::Sqlite).await;
}

#[tokio::test]
async fn live_on_postgres() {
    live(Engine::Postgres).await;
}
