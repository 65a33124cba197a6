//! Submissions with an `Idempotency-Key`, on SQLite and PostgreSQL: a client that saw no
//! answer sends the same report again — one after the other or at once — and gets the first
//! report back, stored once; the key is the account's own; anonymous reports take none.

use axum::Router;
use futures::future::join_all;
use serde_json::Value;
use warga_testkit::{Engine, TestApp, spawn_app};

mod support;
use support::*;

async fn send(app: &TestApp, path: &str, token: &str, key: &str, body: &Value) -> reqwest::Response {
    app.client
        .post(format!("{}{path}", app.url))
        .bearer_auth(token)
        .header("idempotency-key", key)
        .json(body)
        .send()
        .await
        .unwrap()
}

async fn idempotency(engine: Engine) {
    let Some(app) = spawn_app(engine, Router::new(), vec![]).await else {
        return;
    };
    let siti = linked_citizen(&app, "citizen-siti", NIK_A, "1995-03-12", "female", "Siti Aminah").await;
    let budi = linked_citizen(&app, "citizen-budi", NIK_B, "1995-03-12", "male", "Budi Santoso").await;
    let body = report("Jalan amblas di pasar", "jalan-rusak", "public");
    let stored = || count(&app, "SELECT COUNT(*) FROM reports");

    let first = send(&app, "/api/v1/reports", &siti, "kunci-siti-0001", &body).await;
    assert_eq!(first.status(), 201);
    assert!(first.headers().get("idempotent-replayed").is_none());
    let first: Value = first.json().await.unwrap();
    let again = send(&app, "/api/v1/reports", &siti, "kunci-siti-0001", &body).await;
    assert_eq!(again.status(), 201);
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    let again: Value = again.json().await.unwrap();
    assert_eq!(again["report"]["id"], first["report"]["id"]);
    assert_eq!(stored().await, 1);

    // Five at once with a new key: one report, every answer names it.
    let answers = join_all((0..5).map(|_| send(&app, "/api/v1/reports", &siti, "kunci-siti-0002", &body))).await;
    let mut ids = Vec::new();
    for answer in answers {
        assert_eq!(answer.status(), 201);
        ids.push(answer.json::<Value>().await.unwrap()["report"]["id"].clone());
    }
    assert!(ids.iter().all(|id| *id == ids[0]), "{ids:?}");
    assert_eq!(stored().await, 2);

    // The key is the account's: another citizen's same key files their own report.
    let other = send(&app, "/api/v1/reports", &budi, "kunci-siti-0001", &body).await;
    assert_eq!(other.status(), 201);
    assert!(other.headers().get("idempotent-replayed").is_none());
    assert_eq!(stored().await, 3);

    // Anonymous reports take no key; a malformed key is refused by name.
    for (path, key) in [
        ("/api/v1/reports/anonymous", "kunci-anonim-0001"),
        ("/api/v1/reports", "pendek"),
    ] {
        let refused = send(&app, path, &siti, key, &body).await;
        assert_eq!(refused.status(), 400);
        let problem: Value = refused.json().await.unwrap();
        assert_eq!(problem["field"], "Idempotency-Key");
    }
    assert_eq!(stored().await, 3, "nothing stored of a refused submission");
}

#[tokio::test]
async fn idempotency_on_sqlite() {
    idempotency(Engine::Sqlite).await;
}

#[tokio::test]
async fn idempotency_on_postgres() {
    idempotency(Engine::Postgres).await;
}
