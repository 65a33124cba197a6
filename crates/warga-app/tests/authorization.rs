//! The authorization matrix: every protected route × every role, from one table.

use warga_testkit as common;

use std::sync::atomic::{AtomicUsize, Ordering};

use axum::Router;
use common::{Engine, TestApp, spawn_app_with};
use warga_core::identity::Role;

/// Who may call a route: everyone (public), or only callers with one of these roles.
enum Allowed {
    Public,
    Roles(&'static [Role]),
}

const ANY_USER: &[Role] = &[
    Role::Citizen,
    Role::Officer,
    Role::RegistryOfficer,
    Role::Admin,
    Role::LedgerMember,
    Role::LedgerAuditor,
    Role::Service,
];
/// Who reads the ledger: its members' officers and auditors.
const LEDGER_READERS: &[Role] = &[Role::LedgerMember, Role::LedgerAuditor];
const ADMIN: &[Role] = &[Role::Admin];

/// (method, path, JSON body with `{n}` replaced by a unique number, who may call it)
const ROUTES: &[(&str, &str, &str, Allowed)] = &[
    ("GET", "/api/v1/identity/whoami", "", Allowed::Roles(ANY_USER)),
    ("GET", "/api/v1/identity/me", "", Allowed::Roles(ANY_USER)),
    (
        "POST",
        "/api/v1/identity/me/password",
        r#"{"current_password": "not-it", "new_password": "Kopi-Tubruk-Sore"}"#,
        Allowed::Roles(ANY_USER),
    ),
    (
        "GET",
        "/api/v1/identity/departments",
        "",
        Allowed::Roles(&[Role::Admin, Role::Officer, Role::RegistryOfficer]),
    ),
    (
        "POST",
        "/api/v1/identity/departments",
        r#"{"id": "dept-{n}", "name": "Dinas {n}"}"#,
        Allowed::Roles(ADMIN),
    ),
    (
        "POST",
        "/api/v1/identity/officers",
        r#"{"username": "officer{n}", "display_name": "Petugas {n}", "department": "dinas-pu", "level": "staff"}"#,
        Allowed::Roles(ADMIN),
    ),
    ("GET", "/api/v1/identity/accounts", "", Allowed::Roles(ADMIN)),
    (
        "POST",
        "/api/v1/identity/accounts/no-such-account/disable",
        "",
        Allowed::Roles(ADMIN),
    ),
    (
        "POST",
        "/api/v1/identity/accounts/no-such-account/enable",
        "",
        Allowed::Roles(ADMIN),
    ),
    (
        "POST",
        "/api/v1/identity/accounts/no-such-account/reset-password",
        "",
        Allowed::Roles(ADMIN),
    ),
    (
        "POST",
        "/api/v1/identity/clients",
        r#"{"client_id": "client{n}", "name": "Client {n}", "confidential": true, "grant_types": ["client_credentials"]}"#,
        Allowed::Roles(ADMIN),
    ),
    ("POST", "/api/v1/identity/keys/rotate", "", Allowed::Roles(ADMIN)),
    ("GET", "/api/v1/audit", "", Allowed::Roles(ADMIN)),
    (
        "POST",
        "/api/v1/system/probes",
        "{}",
        Allowed::Roles(&[Role::Admin, Role::Service]),
    ),
    (
        "GET",
        "/api/v1/system/probes/01a200a2-30c3-71c1-80d9-b313e4124880",
        "",
        Allowed::Roles(&[Role::Admin, Role::Service]),
    ),
    ("GET", "/api/v1/regions/provinces", "", Allowed::Public),
    (
        "POST",
        "/api/v1/population/residents",
        r#"{"nik": "3171075203950004", "full_name": "Siti", "birth_place": "Jakarta", "birth_date": "1995-03-12",
            "sex": "female", "address": "Jl. Melati 1", "rt_rw": "001/002", "village": "3171071006",
            "district": "317107", "religion": "Islam", "marital_status": "Kawin", "occupation": "Guru"}"#,
        Allowed::Roles(&[Role::RegistryOfficer]),
    ),
    (
        "POST",
        "/api/v1/population/residents/lookup",
        r#"{"nik": "3171075203950004", "purpose": "pelayanan KTP-el"}"#,
        Allowed::Roles(&[Role::RegistryOfficer]),
    ),
    (
        "GET",
        "/api/v1/stats",
        "",
        Allowed::Roles(&[Role::Admin, Role::Officer, Role::RegistryOfficer]),
    ),
    (
        "POST",
        "/api/v1/population/nik/check",
        r#"{"nik": "3171075203950004"}"#,
        Allowed::Roles(&[Role::RegistryOfficer, Role::Officer, Role::Admin]),
    ),
    ("GET", "/api/v1/regions/provinces/31/regencies", "", Allowed::Public),
    ("GET", "/api/v1/regions/regencies/3171/districts", "", Allowed::Public),
    ("GET", "/api/v1/regions/districts/317107/villages", "", Allowed::Public),
    (
        "GET",
        "/api/v1/population/residents?name=siti&purpose=pelayanan+KK",
        "",
        Allowed::Roles(&[Role::RegistryOfficer]),
    ),
    (
        "GET",
        "/api/v1/population/residents/no-such-resident?purpose=pelayanan+KK",
        "",
        Allowed::Roles(&[Role::RegistryOfficer]),
    ),
    (
        "POST",
        "/api/v1/population/residents/no-such-resident/move",
        r#"{"address": "Jl. Mawar 2", "rt_rw": "003/004", "village": "3171061004", "district": "317106"}"#,
        Allowed::Roles(&[Role::RegistryOfficer]),
    ),
    (
        "POST",
        "/api/v1/population/residents/no-such-resident/death",
        "{}",
        Allowed::Roles(&[Role::RegistryOfficer]),
    ),
    (
        "GET",
        "/api/v1/population/sms-outbox",
        "",
        Allowed::Roles(&[Role::Admin, Role::RegistryOfficer]),
    ),
    ("GET", "/api/v1/population/notify-desks", "", Allowed::Roles(ADMIN)),
    (
        "POST",
        "/api/v1/population/notify-desks",
        r#"{"regency": "3171", "phone": "+6281234567890", "label": "Meja"}"#,
        Allowed::Roles(ADMIN),
    ),
    (
        "DELETE",
        "/api/v1/population/notify-desks/3171/+6281299999999",
        "",
        Allowed::Roles(ADMIN),
    ),
    ("GET", "/api/v1/population/me", "", Allowed::Roles(&[Role::Citizen])),
    (
        "POST",
        "/api/v1/population/me/link",
        r#"{"nik": "3171075203950004", "birth_date": "1995-03-12"}"#,
        Allowed::Roles(&[Role::Citizen]),
    ),
    (
        "GET",
        "/api/v1/population/link-requests",
        "",
        Allowed::Roles(&[Role::RegistryOfficer]),
    ),
    (
        "POST",
        "/api/v1/population/link-requests/no-such-request/decision",
        r#"{"approve": false, "reason": "tidak cocok"}"#,
        Allowed::Roles(&[Role::RegistryOfficer]),
    ),
    (
        "POST",
        "/api/v1/population/families",
        r#"{"head": "no-such-resident"}"#,
        Allowed::Roles(&[Role::RegistryOfficer]),
    ),
    (
        "POST",
        "/api/v1/population/families/lookup",
        r#"{"kk_number": "3171071203150001", "purpose": "pelayanan KK"}"#,
        Allowed::Roles(&[Role::RegistryOfficer]),
    ),
    // A citizen reads only a card they are on; this one is no one's.
    (
        "GET",
        "/api/v1/population/families/no-such-family?purpose=pelayanan+KK",
        "",
        Allowed::Roles(&[Role::RegistryOfficer]),
    ),
    (
        "POST",
        "/api/v1/population/families/no-such-family/members",
        r#"{"resident_id": "no-such-resident", "relationship": "anak", "reason": "pindah_datang"}"#,
        Allowed::Roles(&[Role::RegistryOfficer]),
    ),
    (
        "POST",
        "/api/v1/population/families/no-such-family/split",
        r#"{"members": [{"resident_id": "no-such-resident", "relationship": "kepala_keluarga"}], "reason": "pisah_kk"}"#,
        Allowed::Roles(&[Role::RegistryOfficer]),
    ),
    (
        "POST",
        "/api/v1/population/families/no-such-family/head",
        r#"{"resident_id": "no-such-resident"}"#,
        Allowed::Roles(&[Role::RegistryOfficer]),
    ),
    (
        "POST",
        "/api/v1/population/families/no-such-family/move",
        r#"{"to": {"address": "Jl. Mawar 2", "rt_rw": "003/004", "village": "3171061004", "district": "317106"},
            "moved_on": "2026-01-02", "reason": "pekerjaan"}"#,
        Allowed::Roles(&[Role::RegistryOfficer]),
    ),
    (
        "GET",
        "/api/v1/population/families/no-such-family/moves/no-such-move?purpose=pelayanan+KK",
        "",
        Allowed::Roles(&[Role::RegistryOfficer]),
    ),
    ("GET", "/api/v1/reports/categories", "", Allowed::Public),
    ("GET", "/api/v1/reports?category=jalan-rusak", "", Allowed::Public),
    (
        "POST",
        "/api/v1/reports",
        r#"{"title": "Jalan berlubang", "description": "Lubang besar di tengah jalan", "category": "jalan-rusak",
            "latitude": -6.2, "longitude": 106.8, "district": "317107", "visibility": "public"}"#,
        Allowed::Roles(&[Role::Citizen]),
    ),
    (
        "POST",
        "/api/v1/reports/anonymous",
        r#"{"title": "Jalan berlubang", "description": "Lubang besar di tengah jalan", "category": "jalan-rusak",
            "latitude": -6.2, "longitude": 106.8, "district": "317107", "visibility": "anonymous"}"#,
        Allowed::Roles(&[Role::Citizen]),
    ),
    ("GET", "/api/v1/reports/mine", "", Allowed::Roles(&[Role::Citizen])),
    ("GET", "/api/v1/reports/inbox", "", Allowed::Roles(&[Role::Citizen])),
    ("GET", "/api/v1/reports/contact", "", Allowed::Roles(&[Role::Citizen])),
    (
        "PUT",
        "/api/v1/reports/contact",
        r#"{"phone": "081234567890"}"#,
        Allowed::Roles(&[Role::Citizen]),
    ),
    (
        "DELETE",
        "/api/v1/reports/contact",
        "",
        Allowed::Roles(&[Role::Citizen]),
    ),
    (
        "POST",
        "/api/v1/reports/inbox/read",
        "",
        Allowed::Roles(&[Role::Citizen]),
    ),
    (
        "POST",
        "/api/v1/reports/receipt",
        r#"{"code": "no-such.receipt"}"#,
        Allowed::Public,
    ),
    (
        "POST",
        "/api/v1/reports/receipt/reply",
        r#"{"code": "no-such.receipt", "note": "Lokasinya di depan masjid."}"#,
        Allowed::Public,
    ),
    (
        "POST",
        "/api/v1/reports/no-such-report/reply",
        r#"{"note": "Lokasinya di depan masjid."}"#,
        Allowed::Roles(&[Role::Citizen]),
    ),
    ("GET", "/api/v1/reports/queue", "", Allowed::Roles(&[Role::Officer])),
    (
        "GET",
        "/api/v1/reports/queue/live",
        "",
        Allowed::Roles(&[Role::Officer]),
    ),
    (
        "GET",
        "/api/v1/reports/inbox/live",
        "",
        Allowed::Roles(&[Role::Citizen]),
    ),
    (
        "GET",
        "/api/v1/reports/webhook-deliveries",
        "",
        Allowed::Roles(&[Role::Admin]),
    ),
    (
        "POST",
        "/api/v1/reports/webhook-deliveries/no-such-delivery/retry",
        "",
        Allowed::Roles(&[Role::Admin]),
    ),
    (
        "GET",
        "/api/v1/reports/analytics",
        "",
        Allowed::Roles(&[Role::Officer, Role::Admin]),
    ),
    (
        "GET",
        "/api/v1/reports/analytics/departments",
        "",
        Allowed::Roles(&[Role::Officer, Role::Admin]),
    ),
    (
        "GET",
        "/api/v1/reports/analytics/heatmap.geojson",
        "",
        Allowed::Roles(&[Role::Officer, Role::Admin]),
    ),
    (
        "GET",
        "/api/v1/reports/analytics/heatmap.svg",
        "",
        Allowed::Roles(&[Role::Officer, Role::Admin]),
    ),
    (
        "GET",
        "/api/v1/reports/analytics/export.csv",
        "",
        Allowed::Roles(&[Role::Officer, Role::Admin]),
    ),
    (
        "GET",
        "/api/v1/reports/officer-inbox",
        "",
        Allowed::Roles(&[Role::Officer]),
    ),
    ("GET", "/api/v1/reports/no-such-report", "", Allowed::Public),
    ("GET", "/api/v1/reports/no-such-report/photos/1", "", Allowed::Public),
    // Open311 GeoReport v2: reading is public; filing is by api_key (services/warga-reports/tests/open311.rs).
    ("GET", "/open311/v2/services.json", "", Allowed::Public),
    ("GET", "/open311/v2/services/jalan-rusak.xml", "", Allowed::Public),
    ("GET", "/open311/v2/requests.json", "", Allowed::Public),
    ("GET", "/open311/v2/requests/no-such-report.xml", "", Allowed::Public),
    ("GET", "/open311/v2/tokens/no-such-report.json", "", Allowed::Public),
    (
        "POST",
        "/api/v1/reports/receipt/photos/1",
        r#"{"code": "no-such.receipt"}"#,
        Allowed::Public,
    ),
    (
        "PATCH",
        "/api/v1/reports/no-such-report",
        r#"{"title": "Jalan berlubang parah"}"#,
        Allowed::Roles(&[Role::Citizen]),
    ),
    (
        "PUT",
        "/api/v1/reports/no-such-report/upvote",
        "",
        Allowed::Roles(&[Role::Citizen]),
    ),
    (
        "DELETE",
        "/api/v1/reports/no-such-report/upvote",
        "",
        Allowed::Roles(&[Role::Citizen]),
    ),
    (
        "POST",
        "/api/v1/reports/no-such-report/withdraw",
        "{}",
        Allowed::Roles(&[Role::Citizen]),
    ),
    (
        "POST",
        "/api/v1/reports/no-such-report/triage",
        r#"{"action": "acknowledge"}"#,
        Allowed::Roles(&[Role::Officer]),
    ),
    (
        "POST",
        "/api/v1/ledger/transactions",
        r#"{"function": "IssueCard", "args": []}"#,
        Allowed::Roles(&[Role::LedgerMember]),
    ),
    (
        "POST",
        "/api/v1/ledger/evaluate",
        r#"{"function": "VerifyCard", "args": []}"#,
        Allowed::Roles(&[Role::LedgerMember]),
    ),
    (
        "GET",
        "/api/v1/ledger/transactions/0000000000000000000000000000000000000000000000000000000000000000",
        "",
        Allowed::Roles(LEDGER_READERS),
    ),
    (
        "GET",
        "/api/v1/ledger/transactions/0000000000000000000000000000000000000000000000000000000000000000/block",
        "",
        Allowed::Roles(LEDGER_READERS),
    ),
    ("GET", "/api/v1/ledger/blocks/0", "", Allowed::Roles(LEDGER_READERS)),
    ("GET", "/api/v1/ledger/channel", "", Allowed::Roles(LEDGER_READERS)),
    (
        "GET",
        "/api/v1/ledger/history/card/3578010101900001",
        "",
        Allowed::Roles(LEDGER_READERS),
    ),
    ("GET", "/api/v1/ledger/events", "", Allowed::Roles(LEDGER_READERS)),
    ("GET", "/api/v1/ledger/me", "", Allowed::Roles(&[Role::Citizen])),
    ("GET", "/healthz", "", Allowed::Public),
    ("GET", "/readyz", "", Allowed::Public),
    ("GET", "/metrics", "", Allowed::Public),
    (
        "POST",
        "/api/v1/identity/register",
        r#"{"username": "warga{n}", "display_name": "Warga {n}", "password": "Kopi-Tubruk-Pagi"}"#,
        Allowed::Public,
    ),
];

static UNIQUE: AtomicUsize = AtomicUsize::new(0);

async fn token_for(app: &TestApp, role: Role) -> String {
    let claims = warga_auth::AccessClaims {
        client_id: Some("matrix".into()),
        roles: vec![role.as_str().to_owned()],
        department: (role == Role::Officer).then(|| "dinas-pu".to_owned()),
        officer_level: (role == Role::Officer).then(|| "staff".to_owned()),
        msp_id: matches!(role, Role::LedgerMember | Role::LedgerAuditor).then(|| "BPJSMSP".to_owned()),
        ..warga_auth::AccessClaims::new(format!("{role}-subject"), "warga")
    };
    app.token_with(claims).await
}

#[tokio::test]
async fn every_protected_route_allows_exactly_its_roles() {
    let app = spawn_app_with(Engine::Sqlite, Router::new(), vec![], |config| {
        config.gateway.user_per_minute = 100_000;
        config.gateway.anonymous_per_minute = 100_000;
    })
    .await
    .unwrap();
    let mut tx = app.platform.store.begin().await.unwrap();
    warga_identity::accounts::create_department(&mut tx, "dinas-pu", "Dinas Pekerjaan Umum", "system")
        .await
        .unwrap();
    tx.commit().await.unwrap();

    let callers: Vec<(String, Option<Role>)> = std::iter::once(("anonymous".to_owned(), None))
        .chain(Role::ALL.iter().map(|r| (r.to_string(), Some(*r))))
        .collect();
    let mut failures = Vec::new();
    let mut checked = 0;
    for (method, path, body, allowed) in ROUTES {
        for (name, role) in &callers {
            let n = UNIQUE.fetch_add(1, Ordering::Relaxed).to_string();
            let mut request = app
                .client
                .request(method.parse().unwrap(), format!("{}{path}", app.url));
            if !body.is_empty() {
                request = request
                    .header("content-type", "application/json")
                    .body(body.replace("{n}", &n));
            }
            if let Some(role) = role {
                request = request.bearer_auth(token_for(&app, *role).await);
            }
            let status = request.send().await.unwrap().status().as_u16();
            let expected = match (allowed, role) {
                (Allowed::Public, _) => "allowed",
                (Allowed::Roles(_), None) => "401",
                (Allowed::Roles(roles), Some(role)) if roles.contains(role) => "allowed",
                (Allowed::Roles(_), Some(_)) => "403",
            };
            let got = match status {
                401 => "401",
                403 => "403",
                _ => "allowed",
            };
            checked += 1;
            if got != expected {
                failures.push(format!("{method} {path} as {name}: expected {expected}, got {status}"));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {checked} cases wrong:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert_eq!(
        checked,
        ROUTES.len() * (Role::ALL.len() + 1),
        "every route as every role and anonymous"
    );

    // Authorization comes before the body: a caller without the role is refused as such even
    // when what they send is not JSON at all (the body is not read for them).
    for (method, path, body, allowed) in ROUTES {
        let Allowed::Roles(roles) = allowed else { continue };
        if body.is_empty() {
            continue;
        }
        for (name, role) in &callers {
            if role.is_some_and(|r| roles.contains(&r)) {
                continue;
            }
            let mut request = app
                .client
                .request(method.parse().unwrap(), format!("{}{path}", app.url))
                .header("content-type", "application/json")
                .body(r#"{"not": json"#);
            if let Some(role) = role {
                request = request.bearer_auth(token_for(&app, *role).await);
            }
            let status = request.send().await.unwrap().status().as_u16();
            let expected = if role.is_some() { 403 } else { 401 };
            if status != expected {
                failures.push(format!(
                    "{method} {path} as {name} with a broken body: expected {expected}, got {status}"
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Whether the concrete `path` of a row (its query aside) is an instance of the OpenAPI path `template`
/// (`{name}` standing for one segment).
fn instance_of(template: &str, path: &str) -> bool {
    let path = path.split('?').next().unwrap_or(path);
    let (template, path): (Vec<&str>, Vec<&str>) = (template.split('/').collect(), path.split('/').collect());
    template.len() == path.len()
        && template
            .iter()
            .zip(&path)
            .all(|(t, p)| (t.starts_with('{') && t.ends_with('}') && !p.is_empty()) || t == p)
}

/// The matrix is complete: every operation of the OpenAPI document — the platform's whole
/// public API, merged from every service — has a row above, so a new route cannot ship
/// without saying who may call it.
#[tokio::test]
async fn every_route_of_the_openapi_document_has_a_row_in_the_matrix() {
    let app = spawn_app_with(Engine::Sqlite, Router::new(), vec![], |_| {})
        .await
        .unwrap();
    let document: serde_json::Value = app.get("/api/openapi.json").await.json().await.unwrap();
    let paths = document["paths"].as_object().expect("paths in the OpenAPI document");
    let mut operations = 0;
    let mut missing = Vec::new();
    for (template, item) in paths {
        for method in ["get", "post", "put", "patch", "delete"] {
            if item.get(method).is_none() {
                continue;
            }
            operations += 1;
            let covered = ROUTES
                .iter()
                .any(|(m, path, _, _)| m.eq_ignore_ascii_case(method) && instance_of(template, path));
            if !covered {
                missing.push(format!("{} {template}", method.to_uppercase()));
            }
        }
    }
    assert!(
        operations > 10,
        "the document lists the platform's operations: {document}"
    );
    assert!(
        missing.is_empty(),
        "operations without a row in the authorization matrix:\n{}",
        missing.join("\n")
    );
}
