//! Service-level timers across replicas and a restart (R8): the front door runs no workers;
//! two worker replicas (each a whole platform on the same database, as two processes would
//! be) poll the timers every 50 ms under one manual clock. Each deadline fires exactly once
//! — one warning, one escalation per deadline — whichever replica claims it; then one
//! replica stops and a fresh one starts, and the next deadlines still fire once. On SQLite
//! and on PostgreSQL.

use std::time::Duration;

use axum::Router;
use serde_json::Value;
use warga_testkit::{Engine, TestApp, spawn_app_with, start_replica, wait_for};

mod support;
use support::*;

fn minute_days_workers(config: &mut warga_config::Config) {
    let reports = config.section_mut::<warga_reports::config::ReportsConfig>();
    reports.sla.working_day_seconds = Some(60);
    reports.sla.poll_interval_ms = 50;
}

async fn escalation_level(app: &TestApp, id: &str) -> i64 {
    count(app, &format!("SELECT escalation_level FROM reports WHERE id = '{id}'")).await
}

async fn steps(app: &TestApp, id: &str, status: &str) -> i64 {
    count(
        app,
        &format!("SELECT COUNT(*) FROM report_events WHERE report_id = '{id}' AND status = '{status}'"),
    )
    .await
}

async fn replicas(engine: Engine) {
    let Some(app) = spawn_app_with(engine, Router::new(), vec![], |config| {
        config.workers.enabled = false;
        minute_days_workers(config);
    })
    .await
    else {
        return;
    };
    let siti = linked_citizen(&app, "citizen-siti", NIK_A, "1995-03-12", "female", "Siti Aminah").await;
    let filed: Value = post(
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
    let a = start_replica(&app, minute_days_workers).await;
    let b = start_replica(&app, minute_days_workers).await;

    // Response: 3 "days" = 180 s. Past it, both replicas race for the warning and the breach.
    app.clock.advance_ms(200_000);
    wait_for("the response deadline to fire", Duration::from_secs(30), || async {
        escalation_level(&app, &id).await == 1
    })
    .await;
    wait_for("the response warning", Duration::from_secs(30), || async {
        steps(&app, &id, "sla_warning").await == 1
    })
    .await;
    // Both replicas have polled again since (a positive marker: their leases are gone).
    wait_for("the timers to rest", Duration::from_secs(30), || async {
        count(
            &app,
            "SELECT COUNT(*) FROM report_timers WHERE lease_owner IS NOT NULL AND state = 'pending'",
        )
        .await
            == 0
    })
    .await;
    assert_eq!(steps(&app, &id, "escalated").await, 1, "escalated once");
    assert_eq!(steps(&app, &id, "sla_warning").await, 1, "warned once");

    // A restart: one replica stops, a fresh one starts.
    a.shutdown(Duration::from_secs(10)).await.unwrap();
    let c = start_replica(&app, minute_days_workers).await;
    // Resolution: 5 "days" = 300 s.
    app.clock.advance_ms(150_000);
    wait_for("the resolution deadline to fire", Duration::from_secs(30), || async {
        escalation_level(&app, &id).await == 2
    })
    .await;
    wait_for("the timers to rest", Duration::from_secs(30), || async {
        count(
            &app,
            &format!("SELECT COUNT(*) FROM report_timers WHERE report_id = '{id}' AND state = 'pending'"),
        )
        .await
            == 0
    })
    .await;
    b.shutdown(Duration::from_secs(10)).await.unwrap();
    c.shutdown(Duration::from_secs(10)).await.unwrap();
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
    assert_eq!(
        count(&app, "SELECT COUNT(*) FROM report_timers WHERE state = 'fired'").await,
        4,
        "two warnings, two breaches"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sla_replicas_on_sqlite() {
    replicas(Engine::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sla_replicas_on_postgres() {
    replicas(Engine::Postgres).await;
}
