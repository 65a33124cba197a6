//! JagaWarga through HTTPS on SQLite and PostgreSQL: who may report, what is stored of an
//! anonymous report (nothing that names its reporter), who sees which report, the public
//! feed, triage by the responsible department only, withdrawal, and the anonymous quota.

use warga_testkit as common;

use axum::Router;
use common::{Engine, TestApp};
use futures::future::join_all;
use serde_json::{Value, json};
use sqlx::Row;

mod support;
use support::*;

/// Every text the reports service wrote: its tables, its events and its audit records.
async fn written_by_reports(app: &TestApp) -> String {
    let queries = [
        "SELECT COALESCE(reporter, '') || ' ' || id || ' ' || title || ' ' || description || ' ' || \
         COALESCE(receipt_hash, '') FROM reports",
        "SELECT COALESCE(note, '') || ' ' || COALESCE(actor, '') || ' ' || COALESCE(department, '') FROM report_events",
        "SELECT CAST(payload AS TEXT) || ' ' || COALESCE(traceparent, '') FROM outbox WHERE topic LIKE 'reports.%'",
        "SELECT actor || ' ' || target || ' ' || COALESCE(CAST(details AS TEXT), '') || ' ' || COALESCE(trace_id, '') \
         FROM audit_log WHERE action LIKE 'reports.%'",
        "SELECT account_key FROM report_anonymous_quota",
    ];
    let mut all = String::new();
    for sql in queries {
        for row in sqlx::query(sql).fetch_all(app.platform.store.reader()).await.unwrap() {
            all.push_str(&row.get::<String, _>(0));
            all.push('\n');
        }
    }
    all
}

/// Ten more linked citizens, to vote at once.
async fn futures_voters(app: &TestApp) -> Vec<String> {
    let mut tokens = Vec::new();
    for i in 0..10 {
        let nik = format!("31710712039500{:02}", 10 + i);
        tokens.push(
            linked_citizen(
                app,
                &format!("citizen-voter-{i}"),
                &nik,
                "1995-03-12",
                "male",
                "Pemilih Setia",
            )
            .await,
        );
    }
    tokens
}

async fn reports_end_to_end(engine: Engine) {
    let Some(app) = common::spawn_app_with(engine, Router::new(), vec![], |config| {
        config
            .section_mut::<warga_reports::config::ReportsConfig>()
            .anonymous_per_day = 2;
    })
    .await
    else {
        eprintln!("skipped: engine not configured");
        return;
    };
    let siti = linked_citizen(&app, "citizen-siti", NIK_A, "1995-03-12", "female", "Siti Aminah").await;
    let budi = linked_citizen(&app, "citizen-budi", NIK_B, "1995-03-12", "male", "Budi Santoso").await;
    let stranger = app.token("citizen-unlinked", &["citizen"]).await;
    let pu = officer(&app, "officer-pu", "dinas-pu").await;
    let dlh = officer(&app, "officer-dlh", "dlh").await;
    let mayor = officer(&app, "officer-mayor", "pemkot").await;

    // Categories for the form, in Bahasa Indonesia.
    let categories: Vec<Value> = get(&app, "/api/v1/reports/categories", None)
        .await
        .json()
        .await
        .unwrap();
    assert!(
        categories
            .iter()
            .any(|c| c["id"] == "jalan-rusak" && c["department"] == "dinas-pu")
    );

    // Only a citizen (403 otherwise) linked to a resident (409 otherwise) may report.
    let refused = post(
        &app,
        "/api/v1/reports",
        Some(&stranger),
        report("Jalan berlubang", "jalan-rusak", "public"),
    )
    .await;
    assert_eq!(refused.status(), 409, "a citizen, but not yet linked to a resident");
    let problem: Value = refused.json().await.unwrap();
    assert!(problem["detail"].as_str().unwrap().contains("ditautkan"), "{problem}");
    assert_eq!(
        post(
            &app,
            "/api/v1/reports",
            Some(&pu),
            report("Jalan berlubang", "jalan-rusak", "public")
        )
        .await
        .status(),
        403
    );

    // Bad input names the field; nothing is stored.
    for (body, field) in [
        (report("Jalan berlubang", "nope", "public"), "category"),
        (report("Ja", "jalan-rusak", "public"), "title"),
        (
            json!({"title": "Jalan berlubang", "description": "x".repeat(10_000), "category": "jalan-rusak",
                "latitude": -6.2, "longitude": 106.8, "district": "317107", "visibility": "public"}),
            "description",
        ),
        (
            json!({"title": "Jalan berlubang", "description": "Lubang besar sekali di sini", "category": "jalan-rusak",
                "latitude": 51.5, "longitude": 106.8, "district": "317107", "visibility": "public"}),
            "latitude",
        ),
        (
            json!({"title": "Jalan berlubang", "description": "Lubang besar sekali di sini", "category": "jalan-rusak",
                "latitude": -6.2, "longitude": 106.8, "district": "999999", "visibility": "public"}),
            "district",
        ),
    ] {
        let response = post(&app, "/api/v1/reports", Some(&siti), body).await;
        assert_eq!(response.status(), 400);
        assert_eq!(response.json::<Value>().await.unwrap()["field"], field);
    }
    assert_eq!(
        count(&app, "SELECT COUNT(*) FROM reports").await,
        0,
        "nothing half-written"
    );

    // Siti files a public and a private report; Budi a public one about rubbish.
    let public: Value = {
        let response = post(
            &app,
            "/api/v1/reports",
            Some(&siti),
            report("Jalan berlubang di Kebon Kacang", "jalan-rusak", "public"),
        )
        .await;
        assert_eq!(response.status(), 201);
        response.json().await.unwrap()
    };
    assert!(public["receipt"].is_null(), "only anonymous reports get a receipt");
    let public_id = public["report"]["id"].as_str().unwrap().to_owned();
    let private: Value = post(
        &app,
        "/api/v1/reports",
        Some(&siti),
        report("Got mampet depan rumah", "saluran-tersumbat", "private"),
    )
    .await
    .json()
    .await
    .unwrap();
    let private_id = private["report"]["id"].as_str().unwrap().to_owned();
    let rubbish: Value = post(
        &app,
        "/api/v1/reports",
        Some(&budi),
        report("Sampah menumpuk di taman", "sampah-liar", "public"),
    )
    .await
    .json()
    .await
    .unwrap();
    let rubbish_id = rubbish["report"]["id"].as_str().unwrap().to_owned();

    // Who sees the private report: its reporter, its department, the top office.
    for (token, status) in [
        (Some(siti.as_str()), 200),
        (Some(budi.as_str()), 404),
        (None, 404),
        (Some(pu.as_str()), 200),
        (Some(dlh.as_str()), 404),
        (Some(mayor.as_str()), 200),
    ] {
        assert_eq!(
            get(&app, &format!("/api/v1/reports/{private_id}"), token)
                .await
                .status(),
            status
        );
    }
    assert_eq!(
        get(&app, &format!("/api/v1/reports/{public_id}"), None).await.status(),
        200
    );

    // The public feed: public reports only, filtered, paged by cursor.
    let page: Value = get(&app, "/api/v1/reports?limit=1", None).await.json().await.unwrap();
    assert_eq!(page["reports"].as_array().unwrap().len(), 1);
    let next = page["next"].as_str().unwrap().to_owned();
    let rest: Value = get(&app, &format!("/api/v1/reports?limit=1&cursor={next}"), None)
        .await
        .json()
        .await
        .unwrap();
    let mut seen: Vec<String> = [&page, &rest]
        .iter()
        .flat_map(|p| {
            p["reports"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r["id"].as_str().unwrap().to_owned())
        })
        .collect();
    seen.sort();
    let mut expected = vec![public_id.clone(), rubbish_id.clone()];
    expected.sort();
    assert_eq!(seen, expected, "both public reports, once each; never the private one");
    assert!(rest["next"].is_null());
    let roads: Value = get(&app, "/api/v1/reports?category=jalan-rusak&region=3171", None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(roads["reports"].as_array().unwrap().len(), 1);
    assert_eq!(get(&app, "/api/v1/reports?region=31x", None).await.status(), 400);
    // By area and time.
    let listed = |query: &'static str| {
        let app = &app;
        async move {
            let page: Value = get(app, &format!("/api/v1/reports?{query}"), None)
                .await
                .json()
                .await
                .unwrap();
            page["reports"].as_array().map_or(usize::MAX, Vec::len)
        }
    };
    assert_eq!(listed("bbox=106.7,-6.3,106.9,-6.1").await, 2, "around Tanah Abang");
    assert_eq!(listed("bbox=112.6,-7.4,112.9,-7.1").await, 0, "Surabaya");
    assert_eq!(listed("since=0&until=1").await, 0, "filed long after 1970");
    assert_eq!(listed("since=0").await, 2);
    for (query, field) in [
        ("bbox=106.9,-6.3,106.7,-6.1", "bbox"),
        ("bbox=1,2,3", "bbox"),
        ("since=5&until=5", "since"),
    ] {
        let refused = get(&app, &format!("/api/v1/reports?{query}"), None).await;
        assert_eq!(refused.status(), 400, "{query}");
        assert_eq!(refused.json::<Value>().await.unwrap()["field"], field);
    }

    // Upvotes: one per citizen, idempotent, revocable, right under concurrency; public only.
    let vote = |token: String, up: bool| {
        let (app, id) = (&app, rubbish_id.clone());
        async move {
            let request = if up {
                app.client.put(format!("{}/api/v1/reports/{id}/upvote", app.url))
            } else {
                app.client.delete(format!("{}/api/v1/reports/{id}/upvote", app.url))
            };
            let response = request.bearer_auth(token).send().await.unwrap();
            assert_eq!(response.status(), 200);
            response.json::<Value>().await.unwrap()["upvotes"].as_i64().unwrap()
        }
    };
    let voters: Vec<String> = futures_voters(&app).await;
    let votes = voters
        .iter()
        .map(|t| vote(t.clone(), true))
        .chain(voters.iter().map(|t| vote(t.clone(), true)));
    let _ = join_all(votes).await;
    assert_eq!(
        vote(siti.clone(), true).await,
        voters.len() as i64 + 1,
        "each citizen counted once"
    );
    assert_eq!(vote(siti.clone(), false).await, voters.len() as i64);
    assert_eq!(
        vote(siti.clone(), false).await,
        voters.len() as i64,
        "taking back twice changes nothing"
    );
    assert_eq!(
        app.client
            .put(format!("{}/api/v1/reports/{private_id}/upvote", app.url))
            .bearer_auth(&budi)
            .send()
            .await
            .unwrap()
            .status(),
        404,
        "private reports take no votes"
    );
    let top: Value = get(&app, "/api/v1/reports?sort=upvotes&limit=1", None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(top["reports"][0]["id"], rubbish_id.as_str());
    let second: Value = get(
        &app,
        &format!(
            "/api/v1/reports?sort=upvotes&limit=1&cursor={}",
            top["next"].as_str().unwrap()
        ),
        None,
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(second["reports"][0]["id"], public_id.as_str());
    assert_eq!(get(&app, "/api/v1/reports?sort=loudest", None).await.status(), 400);

    // Editing: the reporter only, until a department acts; the text is scrubbed again.
    let edited = app
        .client
        .patch(format!("{}/api/v1/reports/{private_id}", app.url))
        .bearer_auth(&siti)
        .json(&json!({"description": "Got mampet, hubungi Siti di 081234567890 kalau perlu."}))
        .send()
        .await
        .unwrap();
    assert_eq!(edited.status(), 200);
    let edited: Value = edited.json().await.unwrap();
    assert!(
        !edited["description"].as_str().unwrap().contains("081234567890"),
        "{edited}"
    );
    assert!(!edited["description"].as_str().unwrap().contains("Siti"), "{edited}");
    assert_eq!(
        app.client
            .patch(format!("{}/api/v1/reports/{private_id}", app.url))
            .bearer_auth(&budi)
            .json(&json!({"title": "Bukan laporan saya"}))
            .send()
            .await
            .unwrap()
            .status(),
        404
    );

    // My reports: Siti's two.
    let mine: Vec<Value> = get(&app, "/api/v1/reports/mine", Some(&siti))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(mine.len(), 2);

    // Departments see only their own queue; the top office sees all.
    let queue = |token: String| {
        let app = &app;
        async move {
            let list: Vec<Value> = get(app, "/api/v1/reports/queue", Some(&token))
                .await
                .json()
                .await
                .unwrap();
            let mut ids: Vec<String> = list.iter().map(|r| r["id"].as_str().unwrap().to_owned()).collect();
            ids.sort();
            ids
        }
    };
    let mut pu_expected = vec![public_id.clone(), private_id.clone()];
    pu_expected.sort();
    assert_eq!(queue(pu.clone()).await, pu_expected);
    assert_eq!(queue(dlh.clone()).await, vec![rubbish_id.clone()]);
    assert_eq!(queue(mayor.clone()).await.len(), 3);
    assert_eq!(get(&app, "/api/v1/reports/queue", Some(&siti)).await.status(), 403);

    // Triage: only the responsible department; notes where the step needs one.
    let triage = |id: String, token: String, body: Value| {
        let app = &app;
        async move { post(app, &format!("/api/v1/reports/{id}/triage"), Some(&token), body).await }
    };
    assert_eq!(
        triage(public_id.clone(), dlh.clone(), json!({"action": "acknowledge"}))
            .await
            .status(),
        404
    );
    assert_eq!(
        triage(public_id.clone(), pu.clone(), json!({"action": "resolve"}))
            .await
            .status(),
        409
    );
    assert_eq!(
        triage(public_id.clone(), pu.clone(), json!({"action": "acknowledge"}))
            .await
            .status(),
        200
    );
    let no_note = triage(public_id.clone(), pu.clone(), json!({"action": "resolve"})).await;
    assert_eq!(
        (
            no_note.status().as_u16(),
            no_note.json::<Value>().await.unwrap()["field"].clone()
        ),
        (400, json!("note"))
    );
    assert_eq!(
        triage(
            public_id.clone(),
            pu.clone(),
            json!({"action": "comment", "note": "tim survei besok", "internal": true})
        )
        .await
        .status(),
        200
    );
    let resolved: Value = triage(
        public_id.clone(),
        pu.clone(),
        json!({"action": "resolve", "note": "Sudah ditambal."}),
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(resolved["status"], "resolved");
    // The reporter sees the public steps, not the internal note.
    let seen_by_siti: Value = get(&app, &format!("/api/v1/reports/{public_id}"), Some(&siti))
        .await
        .json()
        .await
        .unwrap();
    let steps: Vec<&str> = seen_by_siti["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["status"].as_str().unwrap())
        .collect();
    assert_eq!(steps, ["submitted", "acknowledged", "resolved"]);
    assert!(!seen_by_siti.to_string().contains("tim survei"));
    assert_eq!(
        count(
            &app,
            "SELECT COUNT(*) FROM outbox WHERE topic = 'reports.report.status_changed'"
        )
        .await,
        2
    );

    // Each status change reached Siti's inbox through the bus, once; an internal comment did not.
    app.settled().await;
    let inbox: Value = get(&app, "/api/v1/reports/inbox", Some(&siti))
        .await
        .json()
        .await
        .unwrap();
    let statuses: Vec<&str> = inbox["notifications"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["resolved", "acknowledged"], "{inbox}");
    assert_eq!(inbox["unread"], 2);
    assert!(
        inbox["notifications"][0]["message"]
            .as_str()
            .unwrap()
            .contains("sudah diselesaikan")
    );
    let read: Value = post(&app, "/api/v1/reports/inbox/read", Some(&siti), json!({}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(read["unread"], 0);
    let budis_inbox: Value = get(&app, "/api/v1/reports/inbox", Some(&budi))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        budis_inbox["notifications"].as_array().unwrap().len(),
        0,
        "only the reporter is told"
    );

    // "Not ours": Dinas PU sends the drain report on to DLH, which now has it in its queue.
    assert_eq!(
        triage(
            private_id.clone(),
            pu.clone(),
            json!({"action": "not_ours", "department": "dinas-pu", "note": "x"})
        )
        .await
        .status(),
        400,
        "not to itself"
    );
    assert_eq!(
        triage(
            private_id.clone(),
            pu.clone(),
            json!({"action": "not_ours", "department": "dlh"})
        )
        .await
        .status(),
        400
    );
    let rerouted: Value = triage(
        private_id.clone(),
        pu.clone(),
        json!({"action": "not_ours", "department": "dlh", "note": "Saluran lingkungan: DLH."}),
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(
        (rerouted["department"].as_str(), rerouted["status"].as_str()),
        (Some("dlh"), Some("submitted"))
    );
    assert_eq!(queue(dlh.clone()).await.len(), 2);
    assert_eq!(
        get(&app, &format!("/api/v1/reports/{private_id}"), Some(&pu))
            .await
            .status(),
        404,
        "no longer Dinas PU's"
    );
    assert_eq!(
        count(
            &app,
            "SELECT COUNT(*) FROM outbox WHERE topic = 'reports.report.rerouted'"
        )
        .await,
        1
    );
    app.settled().await;
    let told: Vec<Value> = get(&app, "/api/v1/reports/officer-inbox", Some(&dlh))
        .await
        .json()
        .await
        .unwrap();
    assert!(
        told.iter()
            .any(|n| n["kind"] == "rerouted" && n["report_id"] == private_id.as_str()),
        "DLH is told: {told:?}"
    );

    // Withdrawal: only the reporter, only before a department acted.
    assert_eq!(
        post(
            &app,
            &format!("/api/v1/reports/{public_id}/withdraw"),
            Some(&siti),
            json!({})
        )
        .await
        .status(),
        409
    );
    assert_eq!(
        post(
            &app,
            &format!("/api/v1/reports/{private_id}/withdraw"),
            Some(&budi),
            json!({})
        )
        .await
        .status(),
        404
    );
    let withdrawn: Value = post(
        &app,
        &format!("/api/v1/reports/{private_id}/withdraw"),
        Some(&siti),
        json!({}),
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(withdrawn["status"], "withdrawn");

    // Anonymous: Budi writes who he is into the text; nothing that names him is stored.
    let before = written_by_reports(&app).await;
    let anonymous = post(
        &app,
        "/api/v1/reports/anonymous",
        Some(&budi),
        json!({
            "title": "Pungutan liar pedagang di trotoar",
            "description": format!("Saya Budi Santoso, NIK {NIK_B}, HP 0812-3456-7890, email budi.s@contoh.co.id. \
                                    Pedagang ditarik uang setiap hari."),
            "category": "pedagang-liar", "latitude": -6.19, "longitude": 106.81, "district": "317107",
            "visibility": "public"
        }),
    )
    .await;
    assert_eq!(anonymous.status(), 201);
    let anonymous: Value = anonymous.json().await.unwrap();
    let receipt = anonymous["receipt"].as_str().unwrap().to_owned();
    let anonymous_id = anonymous["report"]["id"].as_str().unwrap().to_owned();
    assert_eq!(anonymous["report"]["visibility"], "anonymous");
    assert_eq!(
        anonymous["report"]["created_at_ms"].as_i64().unwrap() % 3_600_000,
        0,
        "coarsened to the hour"
    );
    let after = written_by_reports(&app).await;
    let earlier: std::collections::HashSet<&str> = before.lines().collect();
    let new_text: String = after
        .lines()
        .filter(|line| !earlier.contains(line))
        .collect::<Vec<_>>()
        .join("\n");
    for secret in [
        "citizen-budi",
        "Budi",
        "Santoso",
        NIK_B,
        "3456",
        "7890",
        "budi.s",
        "contoh.co.id",
    ] {
        assert!(
            !new_text.contains(secret),
            "{secret:?} was stored with the anonymous report:\n{new_text}"
        );
    }
    assert!(
        new_text.contains("[NIK disembunyikan]") && new_text.contains("[nama disembunyikan]"),
        "{new_text}"
    );
    assert!(
        !new_text.contains(&receipt) && !new_text.contains(receipt.split_once('.').unwrap().1),
        "only a hash of the receipt"
    );
    assert_eq!(
        count(
            &app,
            &format!("SELECT COUNT(*) FROM reports WHERE id = '{anonymous_id}' AND reporter IS NULL")
        )
        .await,
        1
    );
    // Its event's id keeps no more of the time than the hour (a UUIDv7's first 48 bits are
    // its milliseconds).
    let row = sqlx::query("SELECT event_id, occurred_at_ms FROM outbox WHERE payload LIKE $1")
        .bind(format!("%{anonymous_id}%"))
        .fetch_one(app.platform.store.reader())
        .await
        .unwrap();
    let (event_id, occurred): (String, i64) = (row.get(0), row.get(1));
    let id_ms = i64::from_str_radix(&event_id.replace('-', "")[..12], 16).unwrap();
    assert_eq!(
        (id_ms, occurred % 3_600_000),
        (occurred, 0),
        "the event id is the coarse hour"
    );
    // Not in Budi's list, not in the public feed; the department and the receipt see it.
    let budis: Vec<Value> = get(&app, "/api/v1/reports/mine", Some(&budi))
        .await
        .json()
        .await
        .unwrap();
    assert!(budis.iter().all(|r| r["id"] != anonymous_id.as_str()));
    assert_eq!(
        get(&app, &format!("/api/v1/reports/{anonymous_id}"), Some(&budi))
            .await
            .status(),
        404
    );
    let satpol = officer(&app, "officer-satpol", "satpol-pp").await;
    assert_eq!(
        get(&app, &format!("/api/v1/reports/{anonymous_id}"), Some(&satpol))
            .await
            .status(),
        200
    );
    let followed: Value = post(&app, "/api/v1/reports/receipt", None, json!({ "code": receipt }))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(followed["id"], anonymous_id.as_str());
    let forged = format!("{anonymous_id}.AAAAAAAAAAAAAAAAAAAAAA");
    assert_eq!(
        post(&app, "/api/v1/reports/receipt", None, json!({ "code": forged }))
            .await
            .status(),
        400
    );
    assert_eq!(
        post(&app, "/api/v1/reports/receipt", None, json!({ "code": "no-dot" }))
            .await
            .status(),
        400
    );

    // The quota (two a day here): the third anonymous report is refused, with a 429.
    let second = post(
        &app,
        "/api/v1/reports/anonymous",
        Some(&budi),
        report("Lampu jalan mati total", "lampu-jalan", "anonymous"),
    )
    .await;
    assert_eq!(second.status(), 201);
    let third = post(
        &app,
        "/api/v1/reports/anonymous",
        Some(&budi),
        report("Lampu jalan mati lagi", "lampu-jalan", "anonymous"),
    )
    .await;
    assert_eq!(third.status(), 429);
    assert_eq!(
        post(
            &app,
            "/api/v1/reports",
            Some(&budi),
            report("Lampu jalan mati", "lampu-jalan", "anonymous")
        )
        .await
        .status(),
        400,
        "anonymous reports have their own route"
    );
    let doc: Value = app.get("/api/openapi.json").await.json().await.unwrap();
    assert!(doc["paths"].get("/api/v1/reports/anonymous").is_some());
}

#[tokio::test]
async fn reports_on_sqlite() {
    reports_end_to_end(Engine::Sqlite).await;
}

#[tokio::test]
async fn reports_on_postgres() {
    reports_end_to_end(Engine::Postgres).await;
}

/// A platform whose working "days" last a minute, for the service-level tests. Its own
/// timer job passes once at start, then waits an hour: the tests drive the passes.
async fn minute_days(engine: Engine) -> Option<TestApp> {
    common::spawn_app_with(engine, Router::new(), vec![], |config| {
        let reports = config.section_mut::<warga_reports::config::ReportsConfig>();
        reports.sla.working_day_seconds = Some(60);
        reports.sla.poll_interval_ms = 3_600_000;
    })
    .await
}

/// Service levels with a manual clock (a "working day" is a minute here): warned, breached,
/// escalated to the department head and then to the top office — each timer fired exactly
/// once by two workers racing for it — and cancelled by the department's steps.
async fn sla_escalation(engine: Engine) {
    let Some(app) = minute_days(engine).await else {
        eprintln!("skipped: engine not configured");
        return;
    };
    let siti = linked_citizen(&app, "citizen-siti", NIK_A, "1995-03-12", "female", "Siti Aminah").await;
    let pu = officer(&app, "officer-pu", "dinas-pu").await;
    let mayor = officer(&app, "officer-mayor", "pemkot").await;
    let filed: Value = post(
        &app,
        "/api/v1/reports",
        Some(&siti),
        report("Jalan amblas di Kebon Kacang", "jalan-rusak", "public"),
    )
    .await
    .json()
    .await
    .unwrap();
    let id = filed["report"]["id"].as_str().unwrap().to_owned();
    let other: Value = post(
        &app,
        "/api/v1/reports",
        Some(&siti),
        report("Got meluap di Kebon Kacang", "saluran-tersumbat", "public"),
    )
    .await
    .json()
    .await
    .unwrap();
    let other_id = other["report"]["id"].as_str().unwrap().to_owned();
    let (a, b) = (
        warga_reports::sla::SlaJob::new(app.platform.clone(), "worker-a"),
        warga_reports::sla::SlaJob::new(app.platform.clone(), "worker-b"),
    );
    let race = || async {
        let (x, y) = tokio::join!(a.fire_due(), b.fire_due());
        x.unwrap() + y.unwrap()
    };
    let steps = |token: String| {
        let (app, id) = (&app, id.clone());
        async move {
            let view: Value = get(app, &format!("/api/v1/reports/{id}"), Some(&token))
                .await
                .json()
                .await
                .unwrap();
            let steps: Vec<String> = view["timeline"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e["status"].as_str().unwrap().to_owned())
                .collect();
            (steps, view["escalation_level"].as_i64().unwrap())
        }
    };

    // Response: 3 "days" = 180 s; warned at 80 % (144 s).
    app.clock.advance_ms(100_000);
    assert_eq!(race().await, 0, "nothing due yet");
    app.clock.advance_ms(50_000);
    assert_eq!(race().await, 2, "the response warning of each report, once");
    let (seen, level) = steps(pu.clone()).await;
    assert_eq!(
        (seen.as_slice(), level),
        (["submitted", "sla_warning"].map(String::from).as_slice(), 0)
    );
    assert_eq!(steps(siti.clone()).await.0, ["submitted"], "warnings are internal");

    // The department acknowledges the other report: its response deadline is met.
    assert_eq!(
        post(
            &app,
            &format!("/api/v1/reports/{other_id}/triage"),
            Some(&pu),
            json!({"action": "acknowledge"})
        )
        .await
        .status(),
        200
    );
    app.clock.advance_ms(50_000); // 200 s: the first report's response deadline passed.
    assert_eq!(race().await, 1, "one escalation, by one of the two workers");
    assert_eq!(race().await, 0, "and never again");
    let (seen, level) = steps(siti.clone()).await;
    assert_eq!(seen.last().map(String::as_str), Some("escalated"));
    assert_eq!(level, 1, "to the department head");
    // The department's staff were warned; its head is told of the escalation.
    app.settled().await;
    let kinds = |token: String| {
        let app = &app;
        async move {
            let inbox: Vec<Value> = get(app, "/api/v1/reports/officer-inbox", Some(&token))
                .await
                .json()
                .await
                .unwrap();
            let mut kinds: Vec<String> = inbox.iter().map(|n| n["kind"].as_str().unwrap().to_owned()).collect();
            kinds.sort();
            kinds
        }
    };
    let head = officer_at(&app, "officer-pu-head", "dinas-pu", "head").await;
    // Each new report was announced to the department too.
    assert_eq!(
        kinds(pu.clone()).await,
        ["sla_warning", "sla_warning", "submitted", "submitted"]
    );
    assert_eq!(
        kinds(head.clone()).await,
        ["escalated", "sla_warning", "sla_warning", "submitted", "submitted"]
    );
    assert!(kinds(mayor.clone()).await.is_empty(), "not yet the top office's");
    // The top office may not act before the report reaches it.
    assert_eq!(
        post(
            &app,
            &format!("/api/v1/reports/{id}/triage"),
            Some(&mayor),
            json!({"action": "acknowledge"})
        )
        .await
        .status(),
        403
    );

    // Resolution: 5 "days" = 300 s, warned at 240 s; both reports' timers run on.
    app.clock.advance_ms(50_000); // 250 s
    assert_eq!(race().await, 2, "both resolution warnings");
    app.clock.advance_ms(60_000); // 310 s
    assert_eq!(race().await, 2, "both resolutions missed");
    assert_eq!(steps(pu.clone()).await.1, 2, "to the top office");
    assert_eq!(
        count(
            &app,
            "SELECT COUNT(*) FROM outbox WHERE topic = 'reports.report.escalated'"
        )
        .await,
        3
    );
    assert_eq!(
        count(
            &app,
            "SELECT COUNT(*) FROM outbox WHERE topic = 'reports.report.sla_warning'"
        )
        .await,
        4
    );
    app.settled().await;
    assert_eq!(
        kinds(mayor.clone()).await,
        ["escalated", "escalated"],
        "both missed resolutions reach the top office"
    );
    // Now the top office acts; a closed report's timers are cancelled.
    assert_eq!(
        post(
            &app,
            &format!("/api/v1/reports/{id}/triage"),
            Some(&mayor),
            json!({"action": "acknowledge"})
        )
        .await
        .status(),
        200
    );
    let resolved = post(
        &app,
        &format!("/api/v1/reports/{id}/triage"),
        Some(&mayor),
        json!({"action": "resolve", "note": "Ditangani langsung oleh Pemerintah Kota."}),
    )
    .await;
    assert_eq!(resolved.status(), 200);
    assert_eq!(
        count(
            &app,
            &format!("SELECT COUNT(*) FROM report_timers WHERE report_id = '{id}' AND state = 'pending'")
        )
        .await,
        0
    );
    app.clock.advance_ms(10 * 60_000);
    assert_eq!(race().await, 0);
}

#[tokio::test]
async fn sla_on_sqlite() {
    sla_escalation(Engine::Sqlite).await;
}

#[tokio::test]
async fn sla_on_postgres() {
    sla_escalation(Engine::Postgres).await;
}

/// Waiting for the reporter stops the clock: nothing fires however long they take; their
/// answer (signed in, or by receipt for an anonymous report) restarts it with what was left.
async fn sla_pauses_while_waiting(engine: Engine) {
    let Some(app) = minute_days(engine).await else {
        eprintln!("skipped: engine not configured");
        return;
    };
    let siti = linked_citizen(&app, "citizen-siti", NIK_A, "1995-03-12", "female", "Siti Aminah").await;
    let pu = officer(&app, "officer-pu", "dinas-pu").await;
    let satpol = officer(&app, "officer-satpol", "satpol-pp").await;
    let job = warga_reports::sla::SlaJob::new(app.platform.clone(), "worker-a");
    let filed: Value = post(
        &app,
        "/api/v1/reports",
        Some(&siti),
        report("Jalan amblas dekat pasar", "jalan-rusak", "public"),
    )
    .await
    .json()
    .await
    .unwrap();
    let id = filed["report"]["id"].as_str().unwrap().to_owned();
    let ask = |id: String, token: String| {
        let app = &app;
        async move {
            post(
                app,
                &format!("/api/v1/reports/{id}/triage"),
                Some(&token),
                json!({"action": "ask_reporter", "note": "Di sebelah mana tepatnya?"}),
            )
            .await
        }
    };
    assert_eq!(
        post(
            &app,
            &format!("/api/v1/reports/{id}/reply"),
            Some(&siti),
            json!({"note": "Di depan pasar."})
        )
        .await
        .status(),
        409,
        "nothing was asked yet"
    );
    app.clock.advance_ms(100_000); // 44 s left to the response warning, 80 s to the deadline.
    let asked = ask(id.clone(), pu.clone()).await;
    assert_eq!(asked.status(), 200);
    assert_eq!(asked.json::<Value>().await.unwrap()["status"], "waiting_reporter");
    app.clock.advance_ms(1_000_000);
    assert_eq!(job.fire_due().await.unwrap(), 0, "the clock is stopped while waiting");
    app.settled().await;
    let inbox: Value = get(&app, "/api/v1/reports/inbox", Some(&siti))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(inbox["notifications"][0]["status"], "waiting_reporter");
    let answered = post(
        &app,
        &format!("/api/v1/reports/{id}/reply"),
        Some(&siti),
        json!({"note": "Di depan pasar, HP saya 081234567890."}),
    )
    .await;
    assert_eq!(answered.status(), 200);
    let answered: Value = answered.json().await.unwrap();
    assert_eq!(answered["status"], "submitted", "back where it was");
    assert!(
        !answered.to_string().contains("081234567890"),
        "the answer is scrubbed too"
    );
    app.clock.advance_ms(40_000);
    assert_eq!(
        job.fire_due().await.unwrap(),
        0,
        "4 s of the warning's time are still left"
    );
    app.clock.advance_ms(5_000);
    assert_eq!(
        job.fire_due().await.unwrap(),
        1,
        "the response warning, with the time that was left"
    );

    // An anonymous reporter answers with the receipt code.
    let anonymous: Value = post(
        &app,
        "/api/v1/reports/anonymous",
        Some(&siti),
        report("Pedagang menutup trotoar", "pedagang-liar", "anonymous"),
    )
    .await
    .json()
    .await
    .unwrap();
    let anonymous_id = anonymous["report"]["id"].as_str().unwrap().to_owned();
    let receipt = anonymous["receipt"].as_str().unwrap().to_owned();
    assert_eq!(ask(anonymous_id.clone(), satpol.clone()).await.status(), 200);
    let forged = format!("{anonymous_id}.AAAAAAAAAAAAAAAAAAAAAA");
    assert_eq!(
        post(
            &app,
            "/api/v1/reports/receipt/reply",
            None,
            json!({"code": forged, "note": "x"})
        )
        .await
        .status(),
        400
    );
    let answered: Value = post(
        &app,
        "/api/v1/reports/receipt/reply",
        None,
        json!({"code": receipt, "note": "Setiap sore jam 4."}),
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(answered["status"], "submitted");
    assert_eq!(
        answered["timeline"].as_array().unwrap().last().unwrap()["status"],
        "reporter_replied"
    );
}

#[tokio::test]
async fn sla_pause_on_sqlite() {
    sla_pauses_while_waiting(Engine::Sqlite).await;
}

#[tokio::test]
async fn sla_pause_on_postgres() {
    sla_pauses_while_waiting(Engine::Postgres).await;
}
