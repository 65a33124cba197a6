//! What the reports service's tests share: linked citizens, officers' tokens, requests.

#![allow(dead_code)]

use serde_json::{Value, json};
use sqlx::Row;
use warga_population::links::{self, LinkAsk, LinkDecision};
use warga_population::residents::{self, NewResident};
use warga_testkit::TestApp;

pub const NIK_A: &str = "3171075203950004";
pub const NIK_B: &str = "3171071203950005";

pub fn resident(nik: &str, birth_date: &str, sex: &str, name: &str) -> NewResident {
    serde_json::from_value(json!({
        "nik": nik, "full_name": name, "birth_place": "Jakarta", "birth_date": birth_date, "sex": sex,
        "address": "Jl. Kebon Kacang Raya No. 5", "rt_rw": "003/007", "village": "3171071006", "district": "317107",
        "religion": "Islam", "marital_status": "Kawin", "occupation": "Guru"
    }))
    .unwrap()
}

/// Registers a resident and links the account `subject` to it, through the population
/// service's own functions (an officer's confirmation).
pub async fn linked_citizen(
    app: &TestApp,
    subject: &str,
    nik: &str,
    birth_date: &str,
    sex: &str,
    name: &str,
) -> String {
    residents::register(&app.platform, &resident(nik, birth_date, sex, name), "user:capil")
        .await
        .unwrap();
    let request = links::ask(
        &app.platform,
        subject,
        subject,
        &LinkAsk {
            nik: nik.into(),
            birth_date: birth_date.into(),
        },
    )
    .await
    .unwrap();
    links::decide(
        &app.platform,
        &request,
        &LinkDecision {
            approve: true,
            reason: None,
        },
        "user:capil",
    )
    .await
    .unwrap();
    app.token(subject, &["citizen"]).await
}

pub async fn officer(app: &TestApp, subject: &str, department: &str) -> String {
    officer_at(app, subject, department, "staff").await
}

pub async fn officer_at(app: &TestApp, subject: &str, department: &str, level: &str) -> String {
    let claims = warga_auth::AccessClaims {
        roles: vec!["officer".into()],
        department: Some(department.into()),
        officer_level: Some(level.into()),
        ..warga_auth::AccessClaims::new(subject, &app.platform.config.identity.audience)
    };
    app.token_with(claims).await
}

pub async fn post(app: &TestApp, path: &str, token: Option<&str>, body: Value) -> reqwest::Response {
    let mut request = app.client.post(format!("{}{path}", app.url)).json(&body);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    request.send().await.unwrap()
}

pub async fn get(app: &TestApp, path: &str, token: Option<&str>) -> reqwest::Response {
    let mut request = app.client.get(format!("{}{path}", app.url));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    request.send().await.unwrap()
}

pub fn report(title: &str, category: &str, visibility: &str) -> Value {
    json!({
        "title": title, "description": "Lubang besar di tengah jalan, berbahaya untuk motor.",
        "category": category, "latitude": -6.1862, "longitude": 106.8063, "district": "317107",
        "visibility": visibility
    })
}

pub async fn count(app: &TestApp, sql: &str) -> i64 {
    sqlx::query(sql)
        .fetch_one(app.platform.store.reader())
        .await
        .unwrap()
        .get(0)
}

/// A `multipart/form-data` body: the JSON `data` part, then files as
/// `(part name, file name, declared type, bytes)`. Returns the content type and the body.
pub fn form(data: &Value, files: &[(&str, &str, &str, Vec<u8>)]) -> (String, Vec<u8>) {
    let boundary = "warga-test-boundary-7MA4YWxkTrZu0gW";
    let mut body = Vec::new();
    body.extend_from_slice(
        format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"data\"\r\nContent-Type: application/json\r\n\r\n"
        )
        .as_bytes(),
    );
    body.extend_from_slice(data.to_string().as_bytes());
    body.extend_from_slice(b"\r\n");
    for (name, file_name, content_type, bytes) in files {
        body.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"; filename=\"{file_name}\"\r\n\
                 Content-Type: {content_type}\r\n\r\n"
            )
            .as_bytes(),
        );
        body.extend_from_slice(bytes);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

/// Posts a multipart form.
pub async fn post_form(
    app: &TestApp,
    path: &str,
    token: Option<&str>,
    data: &Value,
    files: &[(&str, &str, &str, Vec<u8>)],
) -> reqwest::Response {
    let (content_type, body) = form(data, files);
    let mut request = app
        .client
        .post(format!("{}{path}", app.url))
        .header("content-type", content_type)
        .body(body);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    request.send().await.unwrap()
}

/// A department's step on a report (with a note), which must succeed.
pub async fn triage(app: &TestApp, officer: &str, id: &str, action: &str) {
    let response = post(
        app,
        &format!("/api/v1/reports/{id}/triage"),
        Some(officer),
        json!({ "action": action, "note": "Ditangani." }),
    )
    .await;
    assert_eq!(response.status(), 200, "{action}");
}
