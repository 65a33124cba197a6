//! Row-level security on PostgreSQL (R-S1): the same reads and writes a department's
//! officer could try directly in SQL, under each department's session, reach only that
//! department's reports and what hangs on them — the database refuses the rest even when
//! the service's own checks are bypassed. (The service's checks are tested through HTTP in
//! the authorization matrix and `api.rs`.)

use axum::Router;
use serde_json::{Value, json};
use sqlx::{Connection, Row};
use warga_testkit::{Engine, spawn_app};

mod support;
use support::*;

#[tokio::test]
async fn each_department_session_sees_only_its_own_reports() {
    let Some(app) = spawn_app(Engine::Postgres, Router::new(), vec![]).await else {
        return;
    };
    let siti = linked_citizen(&app, "citizen-siti", NIK_A, "1995-03-12", "female", "Siti Aminah").await;
    let pu = officer(&app, "officer-pu", "dinas-pu").await;
    let road: Value = post(
        &app,
        "/api/v1/reports",
        Some(&siti),
        report("Jalan amblas di pasar", "jalan-rusak", "private"),
    )
    .await
    .json()
    .await
    .unwrap();
    let road_id = road["report"]["id"].as_str().unwrap().to_owned();
    let dumping = post(
        &app,
        "/api/v1/reports",
        Some(&siti),
        report("Sampah liar di kali", "sampah-liar", "private"),
    )
    .await;
    assert_eq!(dumping.status(), 201);
    let acted = post(
        &app,
        &format!("/api/v1/reports/{road_id}/triage"),
        Some(&pu),
        json!({ "action": "acknowledge" }),
    )
    .await;
    assert_eq!(acted.status(), 200, "the service's own scoped transaction works");
    app.settled().await;

    // A role that is neither superuser nor owner, as a department's direct session would be.
    let role = format!("warga_rls_probe_{}", std::process::id());
    let mut conn = sqlx::AnyConnection::connect(&app.db.location).await.unwrap();
    sqlx::query(&format!("CREATE ROLE {role} NOLOGIN"))
        .execute(&mut conn)
        .await
        .unwrap();
    for table in [
        "reports",
        "report_events",
        "report_photos",
        "report_officer_inbox",
        "report_timers",
    ] {
        sqlx::query(&format!("GRANT SELECT, UPDATE, DELETE ON {table} TO {role}"))
            .execute(&mut conn)
            .await
            .unwrap();
    }
    let count = |sql: &'static str| sql;
    for (department, reports, road_rows, updated) in [
        ("dlh", 1, 0, 0),
        ("dinas-pu", 1, 1, 1),
        ("pemkot", 2, 1, 1),
        ("", 2, 1, 1),
    ] {
        let mut tx = conn.begin().await.unwrap();
        sqlx::query(&format!("SET LOCAL ROLE {role}"))
            .execute(&mut *tx)
            .await
            .unwrap();
        if !department.is_empty() {
            sqlx::query("SELECT set_config('warga.department', $1, true)")
                .bind(department)
                .execute(&mut *tx)
                .await
                .unwrap();
        }
        let scalar = |row: sqlx::any::AnyRow| row.get::<i64, _>(0);
        let seen = scalar(
            sqlx::query(count("SELECT COUNT(*) FROM reports"))
                .fetch_one(&mut *tx)
                .await
                .unwrap(),
        );
        assert_eq!(seen, reports, "{department:?} sees {seen} reports");
        for sql in [
            "SELECT COUNT(*) FROM reports WHERE id = $1",
            "SELECT COUNT(*) FROM report_timers WHERE report_id = $1 AND kind = 'response'",
            "SELECT COUNT(DISTINCT report_id) FROM report_events WHERE report_id = $1",
            "SELECT COUNT(DISTINCT report_id) FROM report_officer_inbox WHERE report_id = $1",
        ] {
            let found = scalar(sqlx::query(sql).bind(&road_id).fetch_one(&mut *tx).await.unwrap());
            assert_eq!(found, road_rows, "{department:?}: {sql}");
        }
        let changed = sqlx::query("UPDATE reports SET title = 'diubah langsung' WHERE id = $1")
            .bind(&road_id)
            .execute(&mut *tx)
            .await
            .unwrap()
            .rows_affected();
        assert_eq!(changed, updated, "{department:?} updates Dinas PU's report");
        tx.rollback().await.unwrap();
    }
    sqlx::query(&format!("DROP OWNED BY {role}"))
        .execute(&mut conn)
        .await
        .unwrap();
    sqlx::query(&format!("DROP ROLE {role}"))
        .execute(&mut conn)
        .await
        .unwrap();
}
