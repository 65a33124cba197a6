//! Open311 GeoReport v2 through a client warga did not shape: `tests/open311/conformance.py`
//! (Python's standard library only, written against the specification) lists the services
//! and their definitions, files a request with a citizen's access token as its `api_key`,
//! reads it back by id, list and token in JSON and XML, and checks the error format. Then
//! the request is checked where it landed: a report of the citizen, routed to its
//! department, with the standard's personal fields not stored.

use std::time::Duration;

use axum::Router;
use serde_json::Value;
use warga_testkit::{Engine, spawn_app};

mod support;
use support::*;

async fn open311_conformance(engine: Engine) {
    let Some(app) = spawn_app(engine, Router::new(), vec![]).await else {
        return;
    };
    let python = std::env::var("PYTHON").unwrap_or_else(|_| "python3".into());
    if std::process::Command::new(&python).arg("--version").output().is_err() {
        assert!(
            std::env::var("CI").is_err(),
            "CI=true and no {python}: the Open311 conformance client cannot run"
        );
        eprintln!("skipped: no {python} for the Open311 conformance client");
        return;
    }
    let citizen = linked_citizen(&app, "citizen-311", NIK_A, "1995-03-12", "female", "Siti Aminah").await;
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/open311/conformance.py");
    let cert = app.dir.path().join("tls").join("cert.pem");
    assert!(cert.exists(), "the app's certificate at {}", cert.display());
    let run = tokio::process::Command::new(&python)
        .arg(script)
        .args(["--base", &format!("{}/open311/v2", app.url)])
        .args(["--cafile", cert.to_str().unwrap()])
        .args(["--api-key", &citizen])
        .args(["--service", "jalan-rusak", "--lat", "-6.1862", "--long", "106.8063"])
        .args(["--attribute", "district=317107"])
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(Duration::from_secs(120), run)
        .await
        .expect("the conformance client finished within its deadline")
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "conformance client: {stderr}");
    eprintln!("{stderr}");
    let id = String::from_utf8(output.stdout).unwrap().trim().to_owned();

    // Where the request landed: the citizen's own report, routed to Dinas PU.
    let mine: Value = get(&app, "/api/v1/reports/mine", Some(&citizen))
        .await
        .json()
        .await
        .unwrap();
    let mine = mine.as_array().unwrap();
    assert_eq!(mine.len(), 1, "one report filed (the refused ones stored nothing)");
    assert_eq!(mine[0]["id"], id.as_str());
    assert_eq!(mine[0]["department"], "dinas-pu");
    assert_eq!(mine[0]["visibility"], "public");
    assert_eq!(
        count(
            &app,
            "SELECT COUNT(*) FROM reports WHERE description LIKE '%081234567890%' OR title LIKE '%Nama%'"
        )
        .await,
        0,
        "the standard's personal fields are not stored"
    );
}

#[tokio::test]
async fn open311_on_sqlite() {
    open311_conformance(Engine::Sqlite).await;
}

#[tokio::test]
async fn open311_on_postgres() {
    open311_conformance(Engine::Postgres).await;
}
