//! Fault isolation (R-R1). First with no consumer running at all: a process that serves
//! requests without event workers accepts reports and triage, and when a worker process
//! starts on the same database every notification arrives, once. Then over NATS JetStream:
//! a nats-server this test starts on its own port is killed while citizens keep reporting
//! and a department keeps working — every report is still accepted and triaged — and
//! started again on the same store; then every notification arrives, each exactly once.

use std::process::{Child, Command};
use std::time::Duration;

use axum::Router;
use serde_json::{Value, json};
use warga_testkit::{Engine, TestApp, port_for_child, spawn_app_with, start_replica, wait_for};

mod support;
use support::*;

/// A nats-server with JetStream, its store in `dir`.
struct Broker {
    child: Option<Child>,
    port: u16,
    dir: tempfile::TempDir,
}

impl Broker {
    fn start(&mut self) {
        let child = Command::new("nats-server")
            .args(["-a", "127.0.0.1", "-p", &self.port.to_string(), "-js", "-sd"])
            .arg(self.dir.path())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("nats-server starts");
        self.child = Some(child);
    }

    async fn ready(&self) {
        let port = self.port;
        wait_for("nats-server to listen", Duration::from_secs(20), || async move {
            tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_ok()
        })
        .await;
    }

    /// Kills it at once (no clean shutdown), as a crash would.
    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        self.kill();
    }
}

async fn count(app: &TestApp, sql: &str) -> i64 {
    support::count(app, sql).await
}

async fn broker_down(engine: Engine) {
    if Command::new("nats-server").arg("--version").output().is_err() {
        assert!(
            std::env::var("CI").is_err(),
            "CI=true and no nats-server: the fault isolation test cannot run"
        );
        eprintln!("skipped: no nats-server");
        return;
    }
    let mut broker = Broker {
        child: None,
        port: port_for_child(),
        dir: tempfile::tempdir().unwrap(),
    };
    broker.start();
    broker.ready().await;
    let url = format!("nats://127.0.0.1:{}", broker.port);
    let Some(app) = spawn_app_with(engine, Router::new(), vec![], move |config| {
        config.bus.backend = warga_config::BusBackend::Nats;
        config.bus.nats_url = Some(warga_config::Secret::new(url));
        config.bus.nats_prefix = "faults".into();
    })
    .await
    else {
        return;
    };
    let siti = linked_citizen(&app, "citizen-siti", NIK_A, "1995-03-12", "female", "Siti Aminah").await;
    let pu = officer(&app, "officer-pu", "dinas-pu").await;
    let submitted = "SELECT COUNT(*) FROM report_officer_inbox WHERE kind = 'submitted'";
    let file = |n: usize| {
        let (app, siti) = (&app, siti.clone());
        async move {
            let response = post(
                app,
                "/api/v1/reports",
                Some(&siti),
                report(&format!("Jalan rusak nomor {n}"), "jalan-rusak", "public"),
            )
            .await;
            assert_eq!(response.status(), 201, "report {n} accepted");
            let filed: Value = response.json().await.unwrap();
            filed["report"]["id"].as_str().unwrap().to_owned()
        }
    };

    // The broker up: the department is told.
    file(0).await;
    wait_for("the first announcement", Duration::from_secs(20), || async {
        count(&app, submitted).await == 1
    })
    .await;

    // The broker down: reports are still accepted, and the department still acts.
    broker.kill();
    let mut ids = Vec::new();
    for n in 1..=10 {
        ids.push(file(n).await);
    }
    for id in ids.iter().take(5) {
        let verified = post(
            &app,
            &format!("/api/v1/reports/{id}/triage"),
            Some(&pu),
            json!({ "action": "acknowledge" }),
        )
        .await;
        assert_eq!(verified.status(), 200);
    }

    // The broker back on the same store: everything arrives, once.
    broker.start();
    broker.ready().await;
    wait_for(
        "every announcement and notification",
        Duration::from_secs(90),
        || async {
            count(&app, submitted).await == 11
                && count(&app, "SELECT COUNT(*) FROM report_inbox WHERE status = 'acknowledged'").await == 5
        },
    )
    .await;
    app.settled().await;
    assert_eq!(count(&app, submitted).await, 11, "each report announced once");
    assert_eq!(
        count(&app, "SELECT COUNT(*) FROM report_inbox").await,
        5,
        "each status change told once"
    );
    assert_eq!(
        count(&app, "SELECT COUNT(*) FROM outbox WHERE published_at_ms IS NULL").await,
        0,
        "nothing left unpublished"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broker_down_on_sqlite() {
    broker_down(Engine::Sqlite).await;
}

async fn consumers_stopped(engine: Engine) {
    // A front door without event workers: the consumers are stopped.
    let Some(app) = spawn_app_with(engine, Router::new(), vec![], |config| {
        config.workers.enabled = false;
    })
    .await
    else {
        return;
    };
    let siti = linked_citizen(&app, "citizen-siti", NIK_A, "1995-03-12", "female", "Siti Aminah").await;
    let pu = officer(&app, "officer-pu", "dinas-pu").await;
    let mut ids = Vec::new();
    for n in 0..5 {
        let response = post(
            &app,
            "/api/v1/reports",
            Some(&siti),
            report(&format!("Got tersumbat nomor {n}"), "saluran-tersumbat", "public"),
        )
        .await;
        assert_eq!(response.status(), 201, "accepted while no consumer runs");
        let filed: Value = response.json().await.unwrap();
        ids.push(filed["report"]["id"].as_str().unwrap().to_owned());
    }
    for id in ids.iter().take(3) {
        let verified = post(
            &app,
            &format!("/api/v1/reports/{id}/triage"),
            Some(&pu),
            json!({ "action": "acknowledge" }),
        )
        .await;
        assert_eq!(verified.status(), 200);
    }
    let submitted = "SELECT COUNT(*) FROM report_officer_inbox WHERE kind = 'submitted'";
    let told = "SELECT COUNT(*) FROM report_inbox WHERE status = 'acknowledged'";
    assert_eq!(
        (count(&app, submitted).await, count(&app, told).await),
        (0, 0),
        "no worker anywhere yet"
    );

    // A worker process starts on the same database: everything arrives, once.
    let worker = start_replica(&app, |_| {}).await;
    wait_for("the stopped consumers' backlog", Duration::from_secs(60), || async {
        count(&app, submitted).await == 5 && count(&app, told).await == 3
    })
    .await;
    worker.shutdown(Duration::from_secs(10)).await.unwrap();
    assert_eq!(
        (count(&app, submitted).await, count(&app, told).await),
        (5, 3),
        "once each"
    );
    assert_eq!(count(&app, "SELECT COUNT(*) FROM report_inbox").await, 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consumers_stopped_on_sqlite() {
    consumers_stopped(Engine::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consumers_stopped_on_postgres() {
    consumers_stopped(Engine::Postgres).await;
}
