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
