//! Population services through HTTPS: the region table that forms use.

use warga_testkit as common;

use axum::Router;
use common::{Engine, spawn_app};
use serde_json::Value;

#[tokio::test]
async fn regions_are_served_for_forms() {
    let app = spawn_app(Engine::Sqlite, Router::new(), vec![]).await.unwrap();
    let provinces: Vec<Value> = app.get("/api/v1/regions/provinces").await.json().await.unwrap();
    assert_eq!(provinces.len(), 38);
    assert!(
        provinces
            .iter()
            .any(|p| p["code"] == "31" && p["name"] == "Daerah Khusus Ibukota Jakarta")
    );
    let cities: Vec<Value> = app
        .get("/api/v1/regions/provinces/31/regencies")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(cities.len(), 6);
    let districts: Vec<Value> = app
        .get("/api/v1/regions/regencies/3174/districts")
        .await
        .json()
        .await
        .unwrap();
    assert!(
        districts
            .iter()
            .any(|d| d["code"] == "317405" || d["name"] == "Kebayoran Baru")
    );
    let missing = app.get("/api/v1/regions/provinces/99/regencies").await;
    assert_eq!(missing.status(), 404);
    let missing: Value = missing.json().await.unwrap();
    assert_eq!(missing["type"], "urn:warga:problem:not-found");
    assert_eq!(missing["detail"], "tidak ada provinsi 99", "in Bahasa Indonesia first");
    let english: Value = app
        .client
        .get(format!("{}/api/v1/regions/provinces/99/regencies", app.url))
        .header("accept-language", "en")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(english["detail"], "no province 99");
    let doc: Value = app.get("/api/openapi.json").await.json().await.unwrap();
    assert!(doc["paths"].get("/api/v1/regions/provinces").is_some());
}

#[tokio::test]
async fn nik_checks_name_their_problem_and_field() {
    let app = spawn_app(Engine::Sqlite, Router::new(), vec![]).await.unwrap();
    let token = |role: &'static str| {
        let app = &app;
        async move { app.token(&format!("{role}-1"), &[role]).await }
    };
    let registrar = token("registry_officer").await;
    let check = |body: Value, bearer: String| {
        let (client, url) = (app.client.clone(), app.url.clone());
        async move {
            client
                .post(format!("{url}/api/v1/population/nik/check"))
                .bearer_auth(bearer)
                .json(&body)
                .send()
                .await
                .unwrap()
        }
    };
    let ok = check(
        serde_json::json!({"nik": "3171075203950004", "birth_date": "1995-03-12", "sex": "female"}),
        registrar.clone(),
    )
    .await;
    assert_eq!(ok.status(), 200);
    let parts: Value = ok.json().await.unwrap();
    assert_eq!(
        (parts["district"].as_str(), parts["sex"].as_str()),
        (Some("317107"), Some("female"))
    );

    let cases = [
        (serde_json::json!({"nik": "31710752039500"}), "nik-format", "nik"),
        (serde_json::json!({"nik": "3199075203950004"}), "nik-regency", "nik"),
        (serde_json::json!({"nik": "3171999203950004"}), "nik-district", "nik"),
        (serde_json::json!({"nik": "3171073203950004"}), "nik-birth-date", "nik"),
        (serde_json::json!({"nik": "3171075203950000"}), "nik-serial", "nik"),
        (
            serde_json::json!({"nik": "3171075203950004", "birth_date": "1995-03-13", "sex": "female"}),
            "nik-birth-date-mismatch",
            "birth_date",
        ),
        (
            serde_json::json!({"nik": "3171075203950004", "birth_date": "1995-03-12", "sex": "male"}),
            "nik-sex-mismatch",
            "sex",
        ),
    ];
    for (body, slug, field) in cases {
        let response = check(body.clone(), registrar.clone()).await;
        assert_eq!(response.status(), 400, "{body}");
        let problem: Value = response.json().await.unwrap();
        assert_eq!(problem["type"], format!("urn:warga:problem:{slug}"), "{body}");
        let title = problem["title"].as_str().unwrap();
        assert!(
            !["Unknown", "The NIK", "A NIK"]
                .iter()
                .any(|english| title.starts_with(english)),
            "titled in Bahasa Indonesia: {problem}"
        );
        if slug == "nik-district" {
            assert_eq!(title, "Kode kecamatan dalam NIK tidak dikenal");
        }
        assert_eq!(problem["field"], field, "{body}");
    }
    let citizen = token("citizen").await;
    assert_eq!(
        check(serde_json::json!({"nik": "3171075203950004"}), citizen)
            .await
            .status(),
        403
    );
}

#[tokio::test]
async fn niks_issued_before_a_split_are_registered_and_show_todays_region() {
    let app = spawn_app(Engine::Sqlite, Router::new(), vec![]).await.unwrap();
    let registrar = token_with(&app, "registry_officer").await;
    // Kurulu, Jayawijaya: Papua (9102 03) until Papua Pegunungan (9501 02) in 2022.
    let (status, parts) = call(
        &app,
        "POST",
        "/api/v1/population/nik/check",
        &registrar,
        Some(serde_json::json!({"nik": "9102035203950004"})),
    )
    .await;
    assert_eq!(status, 200, "{parts}");
    assert_eq!(parts["district"], "910203", "the NIK's own codes are kept");
    assert_eq!(parts["issued_in"], "Kurulu, Kabupaten Jayawijaya, Papua");
    assert_eq!(parts["current"]["district"], "950102");
    assert_eq!(
        parts["current"]["place"],
        "Kurulu, Kabupaten Jayawijaya, Papua Pegunungan"
    );
    assert_eq!(parts["current"]["since"], 2022);
    // Tarakan, before Kalimantan Utara (2012): accepted, its district digits not checkable.
    let (status, parts) = call(
        &app,
        "POST",
        "/api/v1/population/nik/check",
        &registrar,
        Some(serde_json::json!({"nik": "6473021203800004", "birth_date": "1980-03-12", "sex": "male"})),
    )
    .await;
    assert_eq!(status, 200, "{parts}");
    assert_eq!(
        (&parts["current"]["regency"], &parts["current"]["district"]),
        (&serde_json::json!("6571"), &Value::Null)
    );
    // Unknown codes are still refused.
    let (status, problem) = call(
        &app,
        "POST",
        "/api/v1/population/nik/check",
        &registrar,
        Some(serde_json::json!({"nik": "9102995203950004"})),
    )
    .await;
    assert_eq!(
        (status, problem["type"].as_str()),
        (400, Some("urn:warga:problem:nik-district"))
    );

    // A woman with that NIK who lives in Tanah Abang: registered; the NIK's region is where
    // it was issued, the address (and the statistics) where she lives.
    let (status, created) = call(
        &app,
        "POST",
        "/api/v1/population/residents",
        &registrar,
        Some(resident("9102035203950004", "1995-03-12", "female", "Maria Wenda")),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(
        (created["province"].as_str(), created["regency"].as_str()),
        (Some("31"), Some("3171"))
    );
    assert_eq!(created["nik_region"]["current"]["regency"], "9501");
    let (_, found) = call(
        &app,
        "POST",
        "/api/v1/population/residents/lookup",
        &registrar,
        Some(serde_json::json!({"nik": "9102035203950004", "purpose": "pelayanan KTP-el"})),
    )
    .await;
    assert_eq!(
        found["nik_region"]["issued_in"], "Kurulu, Kabupaten Jayawijaya, Papua",
        "{found}"
    );
}

#[tokio::test]
async fn addresses_use_village_codes_from_the_table() {
    let app = spawn_app(Engine::Sqlite, Router::new(), vec![]).await.unwrap();
    let villages: Vec<Value> = app
        .get("/api/v1/regions/districts/317107/villages")
        .await
        .json()
        .await
        .unwrap();
    assert!(
        villages
            .iter()
            .any(|v| v["code"] == "3171071006" && v["name"] == "Kebon Kacang")
    );
    assert_eq!(app.get("/api/v1/regions/districts/999999/villages").await.status(), 404);

    let registrar = token_with(&app, "registry_officer").await;
    let with = |field: &str, value: Value| {
        let mut body = resident("3171075203950004", "1995-03-12", "female", "Siti Aminah");
        body[field] = value;
        body
    };
    for (field, value, why) in [
        ("village", serde_json::json!("Kebon Kacang"), "a name, not a code"),
        ("village", serde_json::json!("3171079999"), "no such village"),
        (
            "village",
            serde_json::json!("3171061004"),
            "Gondangdia is in another district",
        ),
        ("postal_code", serde_json::json!("1025"), "four digits"),
        ("postal_code", serde_json::json!("10a50"), "not digits"),
        (
            "full_name",
            serde_json::json!("Siti \u{202E}hanimA"),
            "a right-to-left override",
        ),
        (
            "full_name",
            serde_json::json!("Siti\u{200B}Aminah"),
            "a zero-width space",
        ),
        (
            "birth_place",
            serde_json::json!("Jakarta\u{2066}"),
            "a bidirectional isolate",
        ),
    ] {
        let (status, problem) = call(
            &app,
            "POST",
            "/api/v1/population/residents",
            &registrar,
            Some(with(field, value)),
        )
        .await;
        assert_eq!(
            (status, problem["field"].as_str()),
            (400, Some(field)),
            "{why}: {problem}"
        );
    }
    // A form's every error at once: the first as the problem's field, all under `errors`.
    let mut two = with("postal_code", serde_json::json!("1025"));
    two["village"] = serde_json::json!("3171061004");
    two["full_name"] = serde_json::json!("");
    let (status, problem) = call(&app, "POST", "/api/v1/population/residents", &registrar, Some(two)).await;
    assert_eq!(status, 400);
    let fields: Vec<&str> = problem["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["village", "postal_code", "full_name"], "{problem}");
    assert_eq!(problem["field"], "village");
    // Every detail in Bahasa Indonesia, unless the client asks for English.
    assert_eq!(
        problem["detail"],
        "kelurahan/desa 3171061004 tidak berada di kecamatan 317107"
    );
    let details: Vec<&str> = problem["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["detail"].as_str().unwrap())
        .collect();
    assert_eq!(
        details[1..],
        ["harus 5 angka", "harus 1 sampai 120 karakter"],
        "{problem}"
    );
    let english: Value = app
        .client
        .post(format!("{}/api/v1/population/residents", app.url))
        .bearer_auth(&registrar)
        .header("accept-language", "en-US,en;q=0.9")
        .json(&with("postal_code", serde_json::json!("1025")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        (english["field"].as_str(), english["detail"].as_str()),
        (Some("postal_code"), Some("must be 5 digits"))
    );
    let (status, created) = call(
        &app,
        "POST",
        "/api/v1/population/residents",
        &registrar,
        Some(with("postal_code", serde_json::json!("10250"))),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(
        (created["village"].as_str(), created["postal_code"].as_str()),
        (Some("3171071006"), Some("10250"))
    );
}

#[tokio::test]
async fn registry_desks_are_managed_and_each_sms_names_its_own_registration() {
    let app = spawn_app(Engine::Sqlite, Router::new(), vec![]).await.unwrap();
    let admin = token_with(&app, "admin").await;
    let registrar = token_with(&app, "registry_officer").await;
    let desk = serde_json::json!({"regency": "3171", "phone": "+6281234567890", "label": "Dukcapil Jakarta Pusat"});
    let (status, _) = call(&app, "POST", "/api/v1/population/notify-desks", &admin, Some(desk)).await;
    assert_eq!(status, 201);
    let (_, desks) = call(&app, "GET", "/api/v1/population/notify-desks", &admin, None).await;
    assert_eq!(desks[0]["regency_name"], "Kota Administrasi Jakarta Pusat", "{desks}");

    // Three registrations in the same minute: three SMS, each naming its own resident.
    let people = [
        ("3171075203950004", "female", "Siti Aminah"),
        ("3171071203950005", "male", "Budi Santoso"),
        ("3171075203950006", "female", "Dewi Lestari"),
    ];
    let mut ids = Vec::new();
    for (nik, sex, name) in people {
        let (status, created) = call(
            &app,
            "POST",
            "/api/v1/population/residents",
            &registrar,
            Some(resident(nik, "1995-03-12", sex, name)),
        )
        .await;
        assert_eq!(status, 201);
        ids.push(created["id"].as_str().unwrap().to_owned());
    }
    // A message that is not to a desk (a reporter's update, say): administrators only.
    sqlx::query(
        "INSERT INTO population_sms_outbox (id, to_phone, body, event_id, created_at_ms) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind("00000000-0000-7000-8000-000000000001")
    .bind("+6289999999999")
    .bind("warga: laporan Anda diselesaikan")
    .bind("e-1")
    .bind(1_i64)
    .execute(app.db.store.writer())
    .await
    .unwrap();
    let outbox = |token: String, query: &'static str| {
        let app = &app;
        async move {
            call(
                app,
                "GET",
                &format!("/api/v1/population/sms-outbox{query}"),
                &token,
                None,
            )
            .await
            .1
        }
    };
    common::wait_for("three SMS", std::time::Duration::from_secs(10), || async {
        outbox(registrar.clone(), "").await["messages"]
            .as_array()
            .unwrap()
            .len()
            == 3
    })
    .await;
    let seen = outbox(registrar.clone(), "").await;
    for id in &ids {
        assert_eq!(
            seen["messages"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|m| m["body"].as_str().unwrap().ends_with(&format!("Ref {id}")))
                .count(),
            1,
            "one SMS names {id}: {seen}"
        );
    }
    assert_eq!(seen["next"], Value::Null);
    // Administrators see all four, two at a time.
    let first = outbox(admin.clone(), "?limit=2").await;
    assert_eq!(first["messages"].as_array().unwrap().len(), 2);
    let next = first["next"].as_str().unwrap().to_owned();
    let (_, second) = call(
        &app,
        "GET",
        &format!("/api/v1/population/sms-outbox?limit=2&before={next}"),
        &admin,
        None,
    )
    .await;
    let second = second["messages"].as_array().unwrap();
    assert_eq!(second.len(), 2);
    assert_eq!(second[1]["to"], "+6289999999999", "the oldest last");

    let remove = "/api/v1/population/notify-desks/3171/+6281234567890";
    assert_eq!(call(&app, "DELETE", remove, &admin, None).await.0, 204);
    let (status, problem) = call(&app, "DELETE", remove, &admin, None).await;
    assert_eq!(
        (status, problem["type"].as_str()),
        (404, Some("urn:warga:problem:not-found"))
    );
    let (_, desks) = call(&app, "GET", "/api/v1/population/notify-desks", &admin, None).await;
    assert_eq!(desks, serde_json::json!([]));

    // `warga up --demo` seeds a desk for each city of Jakarta, once however often it runs.
    use warga_http::Service as _;
    for _ in 0..2 {
        warga_population::PopulationService
            .seed_demo(&app.platform)
            .await
            .unwrap();
    }
    let (_, desks) = call(&app, "GET", "/api/v1/population/notify-desks", &admin, None).await;
    let regencies: Vec<&str> = desks
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["regency"].as_str().unwrap())
        .collect();
    assert_eq!(regencies, ["3171", "3172", "3173", "3174", "3175"]);
}

#[tokio::test]
async fn a_request_made_before_the_registration_matches_once_the_resident_is_registered_sqlite() {
    a_request_made_before_the_registration_matches_once_the_resident_is_registered(Engine::Sqlite).await;
}

/// On PostgreSQL the registration is one statement: the waiting request's update sees the
/// resident inserted beside it (its foreign key holds).
#[tokio::test]
async fn a_request_made_before_the_registration_matches_once_the_resident_is_registered_postgres() {
    a_request_made_before_the_registration_matches_once_the_resident_is_registered(Engine::Postgres).await;
}

async fn a_request_made_before_the_registration_matches_once_the_resident_is_registered(engine: Engine) {
    let Some(app) = spawn_app(engine, Router::new(), vec![]).await else {
        return;
    };
    let registrar = token_with(&app, "registry_officer").await;
    let early = app.token("citizen-7", &["citizen"]).await;
    let wrong = app.token("citizen-8", &["citizen"]).await;
    let ask = |token: String, date: &'static str| {
        let app = &app;
        async move {
            call(
                app,
                "POST",
                "/api/v1/population/me/link",
                &token,
                Some(serde_json::json!({"nik": "3171075203950004", "birth_date": date})),
            )
            .await
            .0
        }
    };
    // Both ask before the registry office has registered Siti; one gives a wrong birth date.
    assert_eq!(ask(early, "1995-03-12").await, 202);
    assert_eq!(ask(wrong, "1995-03-13").await, 202);
    let waiting = || async {
        call(&app, "GET", "/api/v1/population/link-requests", &registrar, None)
            .await
            .1
    };
    assert!(
        waiting()
            .await
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["resident"].is_null())
    );
    // Nothing of what they typed is kept in clear.
    let kept: Vec<String> = sqlx::query_scalar("SELECT COALESCE(match_index, '') FROM population_link_requests")
        .fetch_all(app.db.store.reader())
        .await
        .unwrap();
    assert!(kept.iter().all(|k| !k.is_empty() && !k.contains("3171075203950004")));

    let (status, created) = call(
        &app,
        "POST",
        "/api/v1/population/residents",
        &registrar,
        Some(resident("3171075203950004", "1995-03-12", "female", "Siti Aminah")),
    )
    .await;
    assert_eq!(status, 201);
    let now = waiting().await;
    let by_subject = |subject: &str| {
        now.as_array()
            .unwrap()
            .iter()
            .find(|r| r["subject"] == subject)
            .unwrap()
            .clone()
    };
    assert_eq!(by_subject("citizen-7")["resident"]["id"], created["id"], "{now}");
    assert!(
        by_subject("citizen-8")["resident"].is_null(),
        "a wrong birth date still matches nothing"
    );
}

async fn token_with(app: &common::TestApp, role: &str) -> String {
    app.token(&format!("{role}-7"), &[role]).await
}

fn resident(nik: &str, birth_date: &str, sex: &str, name: &str) -> Value {
    serde_json::json!({
        "nik": nik, "full_name": name, "birth_place": "Jakarta", "birth_date": birth_date, "sex": sex,
        "address": "Jl. Kebon Kacang Raya No. 5", "rt_rw": "003/007", "village": "3171071006", "district": "317107",
        "religion": "Islam", "marital_status": "Kawin", "occupation": "Guru"
    })
}

#[tokio::test]
async fn registrations_are_sealed_counted_once_and_found_by_nik_sqlite() {
    registrations_are_sealed_counted_once_and_found_by_nik(Engine::Sqlite).await;
}

#[tokio::test]
async fn registrations_are_sealed_counted_once_and_found_by_nik_postgres() {
    registrations_are_sealed_counted_once_and_found_by_nik(Engine::Postgres).await;
}

async fn registrations_are_sealed_counted_once_and_found_by_nik(engine: Engine) {
    let Some(app) = spawn_app(engine, Router::new(), vec![]).await else {
        return;
    };
    let registrar = token_with(&app, "registry_officer").await;
    let officer = token_with(&app, "officer").await;
    let post = |path: &'static str, token: String, body: Value| {
        let (client, url) = (app.client.clone(), app.url.clone());
        async move {
            client
                .post(format!("{url}{path}"))
                .bearer_auth(token)
                .json(&body)
                .send()
                .await
                .unwrap()
        }
    };
    let people = [
        ("3171075203950004", "1995-03-12", "female", "Siti Aminah"),
        ("3171071203950005", "1995-03-12", "male", "Budi Santoso"),
        ("3171071508600001", "1960-08-15", "male", "Made Wijaya"),
    ];
    for (nik, date, sex, name) in people {
        let created = post(
            "/api/v1/population/residents",
            registrar.clone(),
            resident(nik, date, sex, name),
        )
        .await;
        assert_eq!(created.status(), 201, "{name}");
    }
    let again = post(
        "/api/v1/population/residents",
        registrar.clone(),
        resident(people[0].0, people[0].1, "female", "X"),
    )
    .await;
    assert_eq!(again.status(), 409, "a NIK is registered once");
    let bad = post(
        "/api/v1/population/residents",
        registrar.clone(),
        resident("3171075203950004", "1995-03-12", "male", "Y"),
    )
    .await;
    assert_eq!(
        bad.json::<Value>().await.unwrap()["type"],
        "urn:warga:problem:nik-sex-mismatch"
    );
    assert_eq!(
        post(
            "/api/v1/population/residents",
            officer.clone(),
            resident("3171071203950009", "1995-03-12", "male", "Z")
        )
        .await
        .status(),
        403
    );

    // Nothing personal is stored in clear.
    let rows: Vec<String> = sqlx::query_scalar("SELECT nik_index || sealed FROM population_residents")
        .fetch_all(app.db.store.reader())
        .await
        .unwrap();
    for row in &rows {
        assert!(
            !row.contains("3171075203950004") && !row.contains("Siti") && !row.contains("Kebon"),
            "{row}"
        );
    }

    // Need to know (UU PDP 27/2022): a department officer sees statistics, not people; a
    // registry officer reads a record only stating why, and the read is audited with it.
    let refused = post(
        "/api/v1/population/residents/lookup",
        officer.clone(),
        serde_json::json!({"nik": "3171075203950004", "purpose": "ingin tahu"}),
    )
    .await;
    assert_eq!(refused.status(), 403);
    let no_purpose = post(
        "/api/v1/population/residents/lookup",
        registrar.clone(),
        serde_json::json!({"nik": "3171075203950004", "purpose": " "}),
    )
    .await;
    assert_eq!(no_purpose.json::<Value>().await.unwrap()["field"], "purpose");
    let found = post(
        "/api/v1/population/residents/lookup",
        registrar.clone(),
        serde_json::json!({"nik": "3171075203950004", "purpose": "pelayanan KTP-el"}),
    )
    .await;
    assert_eq!(found.status(), 200);
    let purposes: Vec<String> =
        sqlx::query_scalar("SELECT details FROM audit_log WHERE action = 'population.resident.read'")
            .fetch_all(app.db.store.reader())
            .await
            .unwrap();
    assert!(
        purposes.iter().any(|d| d.contains("pelayanan KTP-el")),
        "the read is audited with its purpose: {purposes:?}"
    );
    let found: Value = found.json().await.unwrap();
    assert_eq!(
        (found["full_name"].as_str(), found["province"].as_str()),
        (Some("Siti Aminah"), Some("31"))
    );

    // The statistics consumer counts each registration once.
    common::wait_for("statistics", std::time::Duration::from_secs(10), || {
        let (client, url, officer) = (app.client.clone(), app.url.clone(), officer.clone());
        async move {
            let stats: Value = client
                .get(format!("{url}/api/v1/stats"))
                .bearer_auth(officer)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            stats["total"] == 3
        }
    })
    .await;
    let stats: Value = app
        .client
        .get(format!("{}/api/v1/stats?province=31", app.url))
        .bearer_auth(&officer)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(stats["by_region"][0]["code"], "3171");
    assert_eq!(stats["by_region"][0]["residents"], 3);
    let sexes: Vec<(String, i64)> = stats["by_sex"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["key"].as_str().unwrap().to_owned(), c["residents"].as_i64().unwrap()))
        .collect();
    assert_eq!(sexes, vec![("female".to_owned(), 1), ("male".to_owned(), 2)]);
    let bands: Vec<i64> = stats["by_age_band"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["residents"].as_i64().unwrap())
        .collect();
    assert_eq!(bands, vec![0, 0, 2, 0, 1], "two aged 31, one aged 66");
    let citizen = token_with(&app, "citizen").await;
    assert_eq!(
        app.client
            .get(format!("{}/api/v1/stats", app.url))
            .bearer_auth(citizen)
            .send()
            .await
            .unwrap()
            .status(),
        403
    );
}

#[tokio::test]
async fn moves_keep_history_and_deaths_leave_the_counts() {
    let app = spawn_app(Engine::Sqlite, Router::new(), vec![]).await.unwrap();
    let registrar = token_with(&app, "registry_officer").await;
    let client = app.client.clone();
    let url = app.url.clone();
    let post = |path: String, body: Value| {
        let (client, registrar) = (client.clone(), registrar.clone());
        async move {
            client
                .post(path)
                .bearer_auth(registrar)
                .json(&body)
                .send()
                .await
                .unwrap()
        }
    };
    let created: Value = post(
        format!("{url}/api/v1/population/residents"),
        resident("3171075203950004", "1995-03-12", "female", "Siti Aminah"),
    )
    .await
    .json()
    .await
    .unwrap();
    let id = created["id"].as_str().unwrap().to_owned();
    let stats = |province: &'static str| {
        let (client, url, registrar) = (client.clone(), url.clone(), registrar.clone());
        async move {
            let stats: Value = client
                .get(format!("{url}/api/v1/stats?province={province}"))
                .bearer_auth(registrar)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            stats["total"].as_i64().unwrap()
        }
    };
    common::wait_for("registration counted", std::time::Duration::from_secs(10), || async {
        stats("31").await == 1
    })
    .await;

    // Moving to Kota Bandung (3273, Jawa Barat) moves the count and keeps the old address.
    let moved = post(
        format!("{url}/api/v1/population/residents/{id}/move"),
        serde_json::json!({"address": "Jl. Braga 10", "rt_rw": "002/004", "village": "3273191001", "district": "327319"}),
    )
    .await;
    assert_eq!(moved.status(), 200);
    let record: Value = moved.json().await.unwrap();
    assert_eq!(record["province"], "32");
    assert_eq!(record["previous_addresses"][0]["district"], "317107");
    assert_eq!(
        record["previous_addresses"][0]["address"],
        "Jl. Kebon Kacang Raya No. 5"
    );
    common::wait_for("move counted", std::time::Duration::from_secs(10), || async {
        stats("32").await == 1 && stats("31").await == 0
    })
    .await;
    let nowhere = post(
        format!("{url}/api/v1/population/residents/{id}/move"),
        serde_json::json!({"address": "x", "rt_rw": "001/001", "village": "x", "district": "999999"}),
    )
    .await;
    assert_eq!(nowhere.json::<Value>().await.unwrap()["field"], "district");

    let died = post(
        format!("{url}/api/v1/population/residents/{id}/death"),
        serde_json::json!({}),
    )
    .await;
    assert_eq!(died.status(), 200);
    common::wait_for("death counted", std::time::Duration::from_secs(10), || async {
        stats("32").await == 0
    })
    .await;
    assert_eq!(
        post(
            format!("{url}/api/v1/population/residents/{id}/death"),
            serde_json::json!({})
        )
        .await
        .status(),
        409
    );
    let rebuilt = warga_population::residents::rebuild_stats(&app.db.store).await.unwrap();
    assert_eq!(
        (rebuilt.residents, rebuilt.rows_differing),
        (0, 0),
        "the live counts agree with the residents"
    );
}

async fn register_in_tanah_abang(app: &common::TestApp, nik: &str) {
    let registrar = token_with(app, "registry_officer").await;
    let admin = token_with(app, "admin").await;
    let desk = app
        .client
        .post(format!("{}/api/v1/population/notify-desks", app.url))
        .bearer_auth(&admin)
        .json(&serde_json::json!({"regency": "3171", "phone": "+6281234567890", "label": "Disdukcapil Jakarta Pusat"}))
        .send()
        .await
        .unwrap();
    assert_eq!(desk.status(), 201);
    let created = app
        .client
        .post(format!("{}/api/v1/population/residents", app.url))
        .bearer_auth(&registrar)
        .json(&resident(nik, "1995-03-12", "female", "Siti Aminah"))
        .send()
        .await
        .unwrap();
    // Texting is a consumer's work after the commit: a registration succeeds whatever the
    // provider does (the tests below make it refuse first).
    assert_eq!(created.status(), 201, "the registration does not wait for the SMS");
}

#[tokio::test]
async fn new_registrations_notify_the_regency_desk_through_the_embedded_outbox() {
    let app = spawn_app(Engine::Sqlite, Router::new(), vec![]).await.unwrap();
    register_in_tanah_abang(&app, "3171075203950004").await;
    let admin = token_with(&app, "admin").await;
    common::wait_for("the SMS", std::time::Duration::from_secs(10), || {
        let (client, url, admin) = (app.client.clone(), app.url.clone(), admin.clone());
        async move {
            let page: Value = client
                .get(format!("{url}/api/v1/population/sms-outbox"))
                .bearer_auth(admin)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            page["messages"].as_array().unwrap().len() == 1
        }
    })
    .await;
    let page: Value = app
        .client
        .get(format!("{}/api/v1/population/sms-outbox", app.url))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let messages = page["messages"].as_array().unwrap();
    assert_eq!(messages[0]["to"], "+6281234567890");
    let body = messages[0]["body"].as_str().unwrap();
    assert!(body.contains("Tanah Abang"), "{body}");
    assert!(
        !body.contains("Siti") && !body.contains("3171075203950004"),
        "no name or NIK in an SMS: {body}"
    );
}

#[tokio::test]
async fn a_twilio_compatible_provider_is_retried_until_it_accepts() {
    use wiremock::matchers::{body_string_contains, header_exists, method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};
    let provider = MockServer::start().await;
    let messages_path = "/2010-04-01/Accounts/AC0123/Messages.json";
    Mock::given(method("POST"))
        .and(path(messages_path))
        .respond_with(ResponseTemplate::new(503))
        .up_to_n_times(2)
        .with_priority(1)
        .mount(&provider)
        .await;
    Mock::given(method("POST"))
        .and(path(messages_path))
        .and(header_exists("authorization"))
        .and(body_string_contains("To=%2B6281234567890"))
        .respond_with(ResponseTemplate::new(201).set_body_json(serde_json::json!({"sid": "SM1"})))
        .expect(1)
        .with_priority(2)
        .mount(&provider)
        .await;
    let base = provider.uri();
    let app = common::spawn_app_with(Engine::Sqlite, Router::new(), vec![], |config| {
        let sms = &mut config.section_mut::<warga_population::config::PopulationConfig>().sms;
        sms.provider = warga_population::config::SmsProviderKind::Twilio;
        sms.twilio_base_url = Some(base.clone());
        sms.twilio_account_sid = Some("AC0123".into());
        sms.twilio_auth_token = Some(warga_config::Secret::new("token".into()));
        sms.twilio_from = Some("WARGA".into());
        config.bus.backoff_base_ms = 20;
        config.bus.backoff_max_ms = 100;
    })
    .await
    .unwrap();
    register_in_tanah_abang(&app, "3171075203950004").await;
    common::wait_for(
        "delivery after two failures",
        std::time::Duration::from_secs(15),
        || {
            let provider = &provider;
            async move { provider.received_requests().await.unwrap_or_default().len() >= 3 }
        },
    )
    .await;
    app.settled().await;
    assert_eq!(
        provider.received_requests().await.unwrap().len(),
        3,
        "sent once it was accepted, not again"
    );
    provider.verify().await;
}

/// Sends a request as `token` and returns the status and the JSON body (Null when empty).
async fn call(app: &common::TestApp, method: &str, path: &str, token: &str, body: Option<Value>) -> (u16, Value) {
    let url = format!("{}{path}", app.url);
    let request = match method {
        "GET" => app.client.get(url),
        "DELETE" => app.client.delete(url),
        _ => app.client.post(url),
    };
    let request = match body {
        Some(body) => request.json(&body),
        None => request,
    };
    let response = request.bearer_auth(token).send().await.unwrap();
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

fn names(page: &Value) -> Vec<String> {
    page["residents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["full_name"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn sealed_names_are_found_by_prefix_and_region_sqlite() {
    sealed_names_are_found_by_prefix_and_region(Engine::Sqlite).await;
}

#[tokio::test]
async fn sealed_names_are_found_by_prefix_and_region_postgres() {
    sealed_names_are_found_by_prefix_and_region(Engine::Postgres).await;
}

async fn sealed_names_are_found_by_prefix_and_region(engine: Engine) {
    let Some(app) = spawn_app(engine, Router::new(), vec![]).await else {
        return;
    };
    let registrar = token_with(&app, "registry_officer").await;
    let officer = token_with(&app, "officer").await;
    let people = [
        ("3171075203950004", "1995-03-12", "female", "Siti Aminah", "317107"),
        ("3171071203950005", "1995-03-12", "male", "Budi Santoso", "317107"),
        ("3171071508600001", "1960-08-15", "male", "Made Wijaya", "317107"),
        ("3273011001900001", "1990-01-10", "male", "Siti Badriah", "327301"),
    ];
    for (nik, date, sex, name, district) in people {
        let mut body = resident(nik, date, sex, name);
        body["district"] = district.into();
        body["village"] = format!("{district}1001").into();
        let (status, _) = call(&app, "POST", "/api/v1/population/residents", &registrar, Some(body)).await;
        assert_eq!(status, 201, "{name}");
    }
    let search = |query: &'static str| {
        let (app, registrar) = (&app, registrar.clone());
        async move {
            call(
                app,
                "GET",
                &format!("/api/v1/population/residents?purpose=pelayanan+KK&{query}"),
                &registrar,
                None,
            )
            .await
        }
    };
    let (status, _) = call(&app, "GET", "/api/v1/population/residents?name=siti", &officer, None).await;
    assert_eq!(status, 403, "department officers see statistics only");
    let (status, problem) = call(&app, "GET", "/api/v1/population/residents?name=siti", &registrar, None).await;
    assert_eq!((status, problem["field"].as_str()), (400, Some("purpose")));
    let (status, page) = search("name=siti").await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(names(&page), ["Siti Aminah", "Siti Badriah"]);
    assert_eq!(page["residents"][1]["place"], "Sukasari, Kota Bandung, Jawa Barat");
    assert!(page["residents"][0].get("nik").is_none(), "lists carry no NIK");
    assert_eq!(names(&search("name=siti&region=31").await.1), ["Siti Aminah"]);
    assert_eq!(
        names(&search("name=AMI%20sit").await.1),
        ["Siti Aminah"],
        "any order, any case"
    );
    assert_eq!(names(&search("name=santo").await.1), ["Budi Santoso"]);
    assert!(names(&search("name=santoz").await.1).is_empty());
    assert_eq!(names(&search("region=3171").await.1).len(), 3);

    let (_, first) = search("region=317107&limit=2").await;
    assert_eq!(names(&first), ["Siti Aminah", "Budi Santoso"]);
    let after = first["next"].as_str().unwrap().to_owned();
    let (_, second) = call(
        &app,
        "GET",
        &format!("/api/v1/population/residents?purpose=pelayanan+KK&region=317107&limit=2&after={after}"),
        &registrar,
        None,
    )
    .await;
    assert_eq!(names(&second), ["Made Wijaya"]);
    assert!(second["next"].is_null());

    for (query, field) in [
        ("name=si", "name"),
        ("region=99", "region"),
        ("", "name"),
        ("region=31&limit=0", "limit"),
    ] {
        let (status, problem) = search(query).await;
        assert_eq!(
            (status, problem["field"].as_str()),
            (400, Some(field)),
            "{query}: {problem}"
        );
    }
    let citizen = token_with(&app, "citizen").await;
    let (status, _) = call(&app, "GET", "/api/v1/population/residents?name=siti", &citizen, None).await;
    assert_eq!(status, 403);

    // The index holds keyed hashes, not prefixes.
    let tokens: Vec<String> = sqlx::query_scalar("SELECT token FROM population_name_tokens")
        .fetch_all(app.db.store.reader())
        .await
        .unwrap();
    assert!(tokens.len() > 20);
    assert!(tokens.iter().all(|t| t.len() == 16 && !t.contains("sit")));
}

#[tokio::test]
async fn a_citizen_is_linked_to_their_record_when_a_registry_officer_confirms() {
    let app = spawn_app(Engine::Sqlite, Router::new(), vec![]).await.unwrap();
    let registrar = token_with(&app, "registry_officer").await;
    let citizen = app.token("citizen-42", &["citizen"]).await;
    let (_, created) = call(
        &app,
        "POST",
        "/api/v1/population/residents",
        &registrar,
        Some(resident("3171075203950004", "1995-03-12", "female", "Siti Aminah")),
    )
    .await;
    let resident_id = created["id"].as_str().unwrap().to_owned();
    let (_, other) = call(
        &app,
        "POST",
        "/api/v1/population/residents",
        &registrar,
        Some(resident("3171071203950005", "1995-03-12", "male", "Budi Santoso")),
    )
    .await;
    let me = || async { call(&app, "GET", "/api/v1/population/me", &citizen, None).await.1 };
    assert_eq!(me().await["status"], "none");

    let ask = |token: String, nik: &'static str, date: &'static str| {
        let app = &app;
        async move {
            call(
                app,
                "POST",
                "/api/v1/population/me/link",
                &token,
                Some(serde_json::json!({"nik": nik, "birth_date": date})),
            )
            .await
        }
    };
    let (status, problem) = ask(citizen.clone(), "31710752", "1995-03-12").await;
    assert_eq!((status, problem["field"].as_str()), (400, Some("nik")));
    // A wrong birth date is not revealed to the citizen; the officer sees no match.
    let (status, asked) = ask(citizen.clone(), "3171075203950004", "1995-03-13").await;
    assert_eq!((status, asked["status"].as_str()), (202, Some("pending")));
    assert_eq!(me().await["status"], "pending");
    let (status, _) = ask(citizen.clone(), "3171075203950004", "1995-03-12").await;
    assert_eq!(status, 409, "one request at a time");
    let (_, waiting) = call(&app, "GET", "/api/v1/population/link-requests", &registrar, None).await;
    assert_eq!(waiting[0]["username"], "citizen-42");
    assert!(waiting[0]["resident"].is_null());
    let request = waiting[0]["id"].as_str().unwrap().to_owned();
    let decide = |id: String, body: Value| {
        let (app, registrar) = (&app, registrar.clone());
        async move {
            call(
                app,
                "POST",
                &format!("/api/v1/population/link-requests/{id}/decision"),
                &registrar,
                Some(body),
            )
            .await
            .0
        }
    };
    assert_eq!(decide(request.clone(), serde_json::json!({"approve": true})).await, 409);
    let refusal = serde_json::json!({"approve": false, "reason": "Tanggal lahir tidak sesuai KTP"});
    assert_eq!(decide(request.clone(), refusal.clone()).await, 204);
    assert_eq!(decide(request, refusal).await, 409, "decided once");
    let mine = me().await;
    assert_eq!(
        (mine["status"].as_str(), mine["reason"].as_str()),
        (Some("rejected"), Some("Tanggal lahir tidak sesuai KTP"))
    );

    let (status, _) = ask(citizen.clone(), "3171075203950004", "1995-03-12").await;
    assert_eq!(status, 202);
    let (_, waiting) = call(&app, "GET", "/api/v1/population/link-requests", &registrar, None).await;
    assert_eq!(waiting[0]["resident"]["full_name"], "Siti Aminah");
    let request = waiting[0]["id"].as_str().unwrap().to_owned();
    let (status, _) = call(
        &app,
        "POST",
        &format!("/api/v1/population/link-requests/{request}/decision"),
        &citizen,
        Some(serde_json::json!({"approve": true})),
    )
    .await;
    assert_eq!(status, 403, "citizens do not decide");
    assert_eq!(decide(request, serde_json::json!({"approve": true})).await, 204);
    let mine = me().await;
    assert_eq!(mine["status"], "linked");
    assert_eq!(mine["resident"]["full_name"], "Siti Aminah");
    assert_eq!(mine["resident"]["nik"], "3171075203950004");
    let own = format!("/api/v1/population/residents/{resident_id}");
    assert_eq!(
        call(&app, "GET", &own, &citizen, None).await.0,
        200,
        "a citizen reads their own"
    );
    let theirs = format!("/api/v1/population/residents/{}", other["id"].as_str().unwrap());
    assert_eq!(call(&app, "GET", &theirs, &citizen, None).await.0, 403);
    assert_eq!(
        ask(citizen.clone(), "3171071203950005", "1995-03-12").await.0,
        409,
        "linked once"
    );
    assert_eq!(
        warga_population::links::linked_resident(&app.db.store, "citizen-42")
            .await
            .unwrap(),
        Some(resident_id)
    );

    // Another account cannot take the same record.
    let impostor = app.token("citizen-43", &["citizen"]).await;
    assert_eq!(ask(impostor, "3171075203950004", "1995-03-12").await.0, 202);
    let (_, waiting) = call(&app, "GET", "/api/v1/population/link-requests", &registrar, None).await;
    let request = waiting[0]["id"].as_str().unwrap().to_owned();
    assert_eq!(decide(request, serde_json::json!({"approve": true})).await, 409);
    let linked: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM outbox WHERE topic = 'population.citizen.linked'")
        .fetch_one(app.db.store.reader())
        .await
        .unwrap();
    assert_eq!(linked, 1);
}

/// The statistics consumer and the officer notifier over NATS JetStream, on PostgreSQL: each
/// registration counted once and texted once.
#[tokio::test]
async fn on_jetstream_each_registration_is_counted_and_texted_once() {
    let Some(nats_url) = warga_store::testing::engine_url("WARGA_TEST_NATS_URL") else {
        return;
    };
    let prefix = format!("pop{}", &uuid::Uuid::now_v7().simple().to_string()[20..]);
    let (url, stream_prefix) = (nats_url.clone(), prefix.clone());
    let Some(mut app) = common::spawn_app_with(Engine::Postgres, Router::new(), vec![], move |config| {
        config.bus.backend = warga_config::BusBackend::Nats;
        config.bus.nats_url = Some(warga_config::Secret::new(url));
        config.bus.nats_prefix = stream_prefix;
    })
    .await
    else {
        return;
    };
    let registrar = token_with(&app, "registry_officer").await;
    let admin = token_with(&app, "admin").await;
    let desk = serde_json::json!({"regency": "3171", "phone": "+6281234567890", "label": "Disdukcapil Jakarta Pusat"});
    assert_eq!(
        call(&app, "POST", "/api/v1/population/notify-desks", &admin, Some(desk))
            .await
            .0,
        201
    );
    let people = [
        ("3171075203950004", "female", "Siti Aminah"),
        ("3171071203950005", "male", "Budi Santoso"),
        ("3171075203950006", "female", "Dewi Lestari"),
    ];
    for (nik, sex, name) in people {
        let body = resident(nik, "1995-03-12", sex, name);
        assert_eq!(
            call(&app, "POST", "/api/v1/population/residents", &registrar, Some(body))
                .await
                .0,
            201
        );
    }
    let counts = || async {
        let (_, stats) = call(&app, "GET", "/api/v1/stats?province=31", &admin, None).await;
        let (_, sms) = call(&app, "GET", "/api/v1/population/sms-outbox", &admin, None).await;
        (
            stats["total"].as_i64().unwrap(),
            sms["messages"].as_array().unwrap().len(),
        )
    };
    common::wait_for("counted and texted", std::time::Duration::from_secs(20), || async {
        counts().await == (3, 3)
    })
    .await;
    app.settled().await;
    assert_eq!(counts().await, (3, 3), "once each");
    let rebuilt = warga_population::residents::rebuild_stats(&app.db.store).await.unwrap();
    assert_eq!((rebuilt.residents, rebuilt.rows_differing), (3, 0));
    app.shutdown().await;

    let client = async_nats::connect(nats_url).await.unwrap();
    let js = async_nats::jetstream::new(client);
    let upper = prefix.to_ascii_uppercase();
    let _ = js.delete_stream(format!("{upper}_EVENTS")).await;
    let _ = js.delete_stream(format!("{upper}_DLQ")).await;
}

/// A lease's events summed per statistics row and written together give the table that
/// applying them one by one gives: registrations, a move to another province and a death.
#[tokio::test]
async fn statistics_counted_together_match_counted_one_by_one_sqlite() {
    statistics_counted_together_match_counted_one_by_one(Engine::Sqlite).await;
}

#[tokio::test]
async fn statistics_counted_together_match_counted_one_by_one_postgres() {
    statistics_counted_together_match_counted_one_by_one(Engine::Postgres).await;
}

async fn statistics_counted_together_match_counted_one_by_one(engine: Engine) {
    use warga_bus::Handler as _;
    use warga_core::Envelope;
    use warga_population::address::Place;
    use warga_population::nik::Sex;
    use warga_population::residents::{ResidentDied, ResidentMoved, ResidentRegistered, StatsCounter};
    let Some(app) = spawn_app(engine, Router::new(), vec![]).await else {
        return;
    };
    let place = |district: &str| Place {
        province: district[..2].to_owned(),
        regency: district[..4].to_owned(),
        district: district.to_owned(),
    };
    let registered = |id: &str, district: &str, sex: Sex, birth_year: i32| {
        Envelope::new(
            &ResidentRegistered {
                resident_id: id.into(),
                province: district[..2].into(),
                regency: district[..4].into(),
                district: district.into(),
                sex,
                birth_year,
            },
            1,
            None,
        )
    };
    let events = vec![
        registered("a1", "317101", Sex::Male, 1990),
        registered("a2", "317101", Sex::Male, 1990),
        registered("a3", "317101", Sex::Male, 1990),
        registered("b1", "327301", Sex::Female, 2000),
        Envelope::new(
            &ResidentMoved {
                resident_id: "a3".into(),
                from: place("317101"),
                to: place("327301"),
                sex: Sex::Male,
                birth_year: 1990,
            },
            2,
            None,
        ),
        Envelope::new(
            &ResidentDied {
                resident_id: "b1".into(),
                place: place("327301"),
                sex: Sex::Female,
                birth_year: 2000,
            },
            3,
            None,
        ),
    ];
    let store = &app.db.store;
    let table = || async {
        let rows = sqlx::query(
            "SELECT province, regency, sex, birth_year, residents FROM population_stats \
             WHERE residents <> 0 ORDER BY province, regency, sex, birth_year",
        )
        .fetch_all(store.reader())
        .await
        .unwrap();
        rows.iter()
            .map(|r| {
                use sqlx::Row;
                format!(
                    "{} {} {} {} {}",
                    r.get::<String, _>(0),
                    r.get::<String, _>(1),
                    r.get::<String, _>(2),
                    r.get::<i64, _>(3),
                    r.get::<i64, _>(4)
                )
            })
            .collect::<Vec<_>>()
    };
    let clear = || async {
        sqlx::query("DELETE FROM population_stats")
            .execute(store.writer())
            .await
            .unwrap();
    };

    clear().await;
    let mut tx = store.begin().await.unwrap();
    let all: Vec<&Envelope> = events.iter().collect();
    StatsCounter.handle_batch(&mut tx, &all).await.unwrap();
    tx.commit().await.unwrap();
    let together = table().await;

    clear().await;
    let mut tx = store.begin().await.unwrap();
    for event in &events {
        StatsCounter.handle(&mut tx, event).await.unwrap();
    }
    tx.commit().await.unwrap();
    let one_by_one = table().await;

    assert_eq!(together, ["31 3171 male 1990 2", "32 3273 male 1990 1"]);
    assert_eq!(together, one_by_one);
}
