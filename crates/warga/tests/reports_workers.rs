//! Service-level escalation (R8) with two worker processes on PostgreSQL: the front door
//! (this test's platform, no workers) files a report; two `warga serve --services reports`
//! processes on the same database and data directory race for its timers on the wall
//! clock, with a working day of two seconds. Each deadline warns once and escalates once;
//! one worker is killed with SIGKILL and another started, and the next deadline still fires
//! once.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use axum::Router;
use serde_json::{Value, json};
use sqlx::Row;
use warga_population::links::{self, LinkAsk, LinkDecision};
use warga_population::residents::{self, NewResident};
use warga_testkit::{Engine, TestApp, port_for_child, spawn_app_with, wait_for};

const BIN: &str = env!("CARGO_BIN_EXE_warga");

/// A worker process, killed when dropped.
struct Worker(Child);

impl Drop for Worker {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

async fn worker(app: &TestApp, log: &Path) -> Worker {
    let port = port_for_child();
    let mut command = Command::new(BIN);
    for (key, _) in std::env::vars().filter(|(k, _)| k.starts_with("WARGA_") && !k.starts_with("WARGA_TEST_")) {
        command.env_remove(key);
    }
    // The test database's URL.
    let url = app.db.location.clone();
    let child = command
        .args([
            "serve",
            "--services",
            "reports",
            "--listen",
            &format!("127.0.0.1:{port}"),
        ])
        .env("WARGA_DATABASE__URL", url)
        .env("WARGA_DATA_DIR", &app.platform.config.data_dir)
        .env("WARGA_REPORTS__SLA__WORKING_DAY_SECONDS", "2")
        .env("WARGA_REPORTS__SLA__POLL_INTERVAL_MS", "100")
        .env("WARGA_TELEMETRY__LOG_FORMAT", "json")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(log).unwrap())
        .spawn()
        .unwrap();
    let worker = Worker(child);
    wait_for("a worker process to listen", Duration::from_secs(60), || async move {
        tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_ok()
    })
    .await;
    worker
}

async fn count(app: &TestApp, sql: &str) -> i64 {
    sqlx::query(sql)
        .fetch_one(app.platform.store.reader())
        .await
        .unwrap()
        .get(0)
}

async fn steps(app: &TestApp, id: &str, status: &str) -> i64 {
    count(
        app,
        &format!("SELECT COUNT(*) FROM report_events WHERE report_id = '{id}' AND status = '{status}'"),
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_worker_processes_escalate_each_deadline_once() {
    let Some(app) = spawn_app_with(Engine::Postgres, Router::new(), vec![], |config| {
        config.workers.enabled = false;
        config
            .section_mut::<warga_reports::config::ReportsConfig>()
            .sla
            .working_day_seconds = Some(2);
    })
    .await
    else {
        return;
    };
    // A citizen linked to a registered resident.
    let resident: NewResident = serde_json::from_value(json!({
        "nik": "3171075203950004", "full_name": "Siti Aminah", "birth_place": "Jakarta",
        "birth_date": "1995-03-12", "sex": "female", "address": "Jl. Kebon Kacang Raya No. 5",
        "rt_rw": "003/007", "village": "3171071006", "district": "317107", "religion": "Islam",
        "marital_status": "Kawin", "occupation": "Guru"
    }))
    .unwrap();
    residents::register(&app.platform, &resident, "user:capil")
        .await
        .unwrap();
    let asked = LinkAsk {
        nik: "3171075203950004".into(),
        birth_date: "1995-03-12".into(),
    };
    let request = links::ask(&app.platform, "citizen-siti", "citizen-siti", &asked)
        .await
        .unwrap();
    let approve = LinkDecision {
        approve: true,
        reason: None,
    };
    links::decide(&app.platform, &request, &approve, "user:capil")
        .await
        .unwrap();
    let siti = app.token("citizen-siti", &["citizen"]).await;

    let logs = tempfile::tempdir().unwrap();
    // One at a time: the first also writes what the data directory still lacks.
    let first = worker(&app, &logs.path().join("a.log")).await;
    let _second = worker(&app, &logs.path().join("b.log")).await;

    let filed: Value = app
        .client
        .post(format!("{}/api/v1/reports", app.url))
        .bearer_auth(&siti)
        .json(&json!({
            "title": "Jalan amblas di pasar", "description": "Lubang besar di tengah jalan.",
            "category": "jalan-rusak", "latitude": -6.19, "longitude": 106.81,
            "district": "317107", "visibility": "public"
        }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = filed["report"]["id"].as_str().unwrap().to_owned();
    let level = format!("SELECT escalation_level FROM reports WHERE id = '{id}'");

    // Response: 3 working days of 2 s.
    wait_for("the response deadline to fire", Duration::from_secs(60), || async {
        count(&app, &level).await == 1
    })
    .await;

    // A worker dies (SIGKILL) and another starts; the resolution deadline (5 days) still
    // fires, once.
    drop(first);
    let _third = worker(&app, &logs.path().join("c.log")).await;
    wait_for("the resolution deadline to fire", Duration::from_secs(60), || async {
        count(&app, &level).await == 2
    })
    .await;
    wait_for("every timer of the report to fire", Duration::from_secs(60), || async {
        count(
            &app,
            &format!("SELECT COUNT(*) FROM report_timers WHERE report_id = '{id}' AND state <> 'fired'"),
        )
        .await
            == 0
    })
    .await;
    assert_eq!(steps(&app, &id, "escalated").await, 2, "each deadline escalated once");
    assert_eq!(steps(&app, &id, "sla_warning").await, 2, "each deadline warned once");
    assert_eq!(
        count(
            &app,
            "SELECT COUNT(*) FROM outbox WHERE topic = 'reports.report.escalated'"
        )
        .await,
        2
    );
    for log in ["a.log", "b.log", "c.log"] {
        let text = std::fs::read_to_string(logs.path().join(log)).unwrap();
        assert!(!text.is_empty(), "the worker {log} logs");
    }
}
