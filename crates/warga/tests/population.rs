//! Population services through HTTPS: the region table that forms use.

mod common;

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
    assert_eq!(
        missing.json::<Value>().await.unwrap()["type"],
        "urn:warga:problem:not-found"
    );
    let doc: Value = app.get("/api/openapi.json").await.json().await.unwrap();
    assert!(doc["paths"].get("/api/v1/regions/provinces").is_some());
}

#[tokio::test]
async fn nik_checks_name_their_problem_and_field() {
    let app = spawn_app(Engine::Sqlite, Router::new(), vec![]).await.unwrap();
    let local = app.platform.auth.local.clone().unwrap();
    let token = |role: &'static str| {
        let minter = local.minter.clone();
        async move {
            let claims = warga_auth::AccessClaims {
                iss: String::new(),
                sub: format!("{role}-1"),
                aud: serde_json::json!("warga"),
                exp: 0,
                iat: 0,
                nbf: None,
                jti: None,
                client_id: None,
                azp: None,
                scope: None,
                roles: vec![role.into()],
                realm_access: None,
                preferred_username: None,
                department: None,
                officer_level: None,
                msp_id: None,
            };
            minter.access_token(claims, 600).await.unwrap().token
        }
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
