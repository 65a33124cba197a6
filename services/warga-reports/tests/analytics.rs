//! Analytics and oversight through HTTPS on SQLite and PostgreSQL, with a manual clock and
//! minute-long working days: counts, response and resolution times, compliance from the
//! durable timers (one deadline met, one missed), the departments compared week by week,
//! the heatmap as GeoJSON cells and as an SVG map, the CSV export — and each caller's scope
//! (a department sees only its own; citizens nothing).

use axum::Router;
use serde_json::{Value, json};
use warga_testkit::{Engine, TestApp, spawn_app_with};

mod support;
use support::*;

async fn minute_days(engine: Engine) -> Option<TestApp> {
    spawn_app_with(engine, Router::new(), vec![], |config| {
        let reports = config.section_mut::<warga_reports::config::ReportsConfig>();
        reports.sla.working_day_seconds = Some(60);
        reports.sla.poll_interval_ms = 3_600_000;
    })
    .await
}

async fn json_of(app: &TestApp, path: &str, token: &str) -> Value {
    let response = get(app, path, Some(token)).await;
    assert_eq!(response.status(), 200, "{path}");
    response.json().await.unwrap()
}

async fn analytics(engine: Engine) {
    let Some(app) = minute_days(engine).await else {
        return;
    };
    let siti = linked_citizen(&app, "citizen-siti", NIK_A, "1995-03-12", "female", "Siti Aminah").await;
    let pu = officer(&app, "officer-pu", "dinas-pu").await;
    let dlh = officer(&app, "officer-dlh", "dlh").await;
    let mayor = officer(&app, "officer-mayor", "pemkot").await;
    let mut ids = Vec::new();
    for (title, category) in [
        ("Jalan amblas di Kebon Kacang", "jalan-rusak"),
        ("Got meluap di Kebon Kacang", "saluran-tersumbat"),
        ("Sampah liar di tepi kali", "sampah-liar"),
    ] {
        let filed: Value = post(&app, "/api/v1/reports", Some(&siti), report(title, category, "public"))
            .await
            .json()
            .await
            .unwrap();
        ids.push(filed["report"]["id"].as_str().unwrap().to_owned());
    }
    // Dinas PU verifies the road after 30 s and resolves it after 90 s; the drain is left
    // alone past its response deadline (3 "days" = 180 s), which fires.
    app.clock.advance_ms(30_000);
    let step = |id: &str, body: Value| {
        let (app, pu, id) = (&app, pu.clone(), id.to_owned());
        async move {
            let response = post(app, &format!("/api/v1/reports/{id}/triage"), Some(&pu), body).await;
            assert_eq!(response.status(), 200);
        }
    };
    step(&ids[0], json!({ "action": "acknowledge" })).await;
    app.clock.advance_ms(60_000);
    step(&ids[0], json!({ "action": "resolve", "note": "Sudah diperbaiki." })).await;
    app.clock.advance_ms(100_000);
    let job = warga_reports::sla::SlaJob::new(app.platform.clone(), "worker-a");
    assert!(
        job.fire_due().await.unwrap() >= 2,
        "warnings and the missed response fired"
    );

    // The top office sees every department.
    let all = json_of(&app, "/api/v1/reports/analytics", &mayor).await;
    assert_eq!(all["total"], 3);
    assert_eq!(all["open"], 2);
    let by_department: Vec<(String, i64)> = all["by_department"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["key"].as_str().unwrap().to_owned(), c["count"].as_i64().unwrap()))
        .collect();
    assert_eq!(by_department, [("dinas-pu".to_owned(), 2), ("dlh".to_owned(), 1)]);
    assert_eq!(all["by_district"][0]["key"], "317107");
    assert!(!all["by_district"][0]["name"].as_str().unwrap().is_empty());
    assert_eq!(all["by_day"].as_array().unwrap().len(), 30);
    assert_eq!(all["response"]["count"], 1);
    assert_eq!(all["response"]["p50_hours"], json!(0.01), "30 s");
    assert_eq!(all["resolution"]["p50_hours"], json!(0.03), "90 s");
    let compliance = &all["compliance"];
    assert_eq!(compliance["response_met"], 1);
    assert!(
        compliance["response_missed"].as_i64().unwrap() >= 2,
        "the drain and the dumping"
    );
    assert_eq!(compliance["resolution_met"], 1);

    // A department sees only its own, and may not ask for another's.
    let own = json_of(&app, "/api/v1/reports/analytics", &pu).await;
    assert_eq!(own["total"], 2);
    let refused = get(&app, "/api/v1/reports/analytics?department=dlh", Some(&pu)).await;
    assert_eq!(refused.status(), 403);
    let dlh_view = json_of(&app, "/api/v1/reports/analytics", &dlh).await;
    assert_eq!(dlh_view["total"], 1);
    assert_eq!(get(&app, "/api/v1/reports/analytics", Some(&siti)).await.status(), 403);
    let bad = get(&app, "/api/v1/reports/analytics?from=2026-13-01", Some(&mayor)).await;
    assert_eq!(bad.status(), 400);
    let problem: Value = bad.json().await.unwrap();
    assert_eq!(problem["field"], "from");

    // The mayor's comparison.
    let departments = json_of(&app, "/api/v1/reports/analytics/departments", &mayor).await;
    let pu_trend = departments
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["department"] == "dinas-pu")
        .unwrap();
    assert_eq!(pu_trend["filed"], 2);
    assert_eq!(pu_trend["backlog"], 1, "the drain is still open");
    assert!(pu_trend["escalations"].as_i64().unwrap() >= 1);
    assert_eq!(pu_trend["weeks"].as_array().unwrap().len(), 5, "30 days in weeks");
    assert_eq!(
        departments.as_array().unwrap().len(),
        5,
        "every department, even without reports"
    );
    let own = json_of(&app, "/api/v1/reports/analytics/departments", &pu).await;
    assert_eq!(own.as_array().unwrap().len(), 1);

    // The heatmap: cells, not points; and drawn as a map.
    let cells = json_of(&app, "/api/v1/reports/analytics/heatmap.geojson", &mayor).await;
    assert_eq!(cells["type"], "FeatureCollection");
    let features = cells["features"].as_array().unwrap();
    assert_eq!(features.len(), 1, "the three reports share a cell");
    assert_eq!(features[0]["properties"]["count"], 3);
    assert_eq!(features[0]["geometry"]["coordinates"][0].as_array().unwrap().len(), 5);
    let svg = get(&app, "/api/v1/reports/analytics/heatmap.svg", Some(&mayor)).await;
    assert_eq!(svg.headers()["content-type"], "image/svg+xml");
    assert_eq!(svg.headers()["content-security-policy"], "default-src 'none'");
    let svg = svg.text().await.unwrap();
    assert!(svg.contains("<title>3 laporan</title>") && svg.contains("Natural Earth"));
    assert!(!svg.contains("<script"));
    let bad_cell = get(&app, "/api/v1/reports/analytics/heatmap.svg?cell=0", Some(&mayor)).await;
    assert_eq!(bad_cell.status(), 400);

    // The export: one line per report, codes and times only.
    let csv = get(&app, "/api/v1/reports/analytics/export.csv", Some(&pu)).await;
    assert!(
        csv.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .starts_with("attachment")
    );
    let csv = csv.text().await.unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), 3, "a header and Dinas PU's two reports");
    assert!(lines[0].starts_with("id,filed_at,category"));
    assert!(csv.contains(&ids[0]) && !csv.contains(&ids[2]));
    assert!(
        !csv.contains("Jalan amblas") && !csv.contains("citizen-siti"),
        "no text, no reporter"
    );
    // An id that starts with `-` is written defused (`'-…`), as any such field.
    let resolved_line = lines
        .iter()
        .find(|l| l.trim_start_matches('\'').starts_with(&ids[0]))
        .unwrap();
    assert!(resolved_line.ends_with(",met,met"), "{resolved_line}");
}

#[tokio::test]
async fn analytics_on_sqlite() {
    analytics(Engine::Sqlite).await;
}

#[tokio::test]
async fn analytics_on_postgres() {
    analytics(Engine::Postgres).await;
}
