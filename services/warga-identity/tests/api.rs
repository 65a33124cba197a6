//! The identity service through HTTPS: the OpenID Connect provider's flows, brute-force
//! protection, administration, roles, the audit log, and a second instance trusting the
//! first as its external issuer.

use warga_testkit as common;

use std::collections::HashMap;

use axum::Router;
use base64::Engine;
use common::{Engine as Db, TestApp, client_builder_trusting, spawn_app_with};
use serde_json::Value;
use warga_config::Secret;

const ADMIN_PASSWORD: &str = "Rahasia-Kepala-2026";
const APP: &str = "test-app";
const REDIRECT: &str = "http://127.0.0.1:9/callback";
const AFTER_LOGOUT: &str = "http://127.0.0.1:9/bye";

async fn app() -> TestApp {
    let app = spawn_app_with(Db::Sqlite, Router::new(), vec![], |config| {
        config.identity.admin_password = Some(Secret::new(ADMIN_PASSWORD.into()));
        config.identity.lockout_account_failures = 3;
        config.identity.lockout_ip_failures = 50;
        config.identity.lockout_duration_s = 600;
    })
    .await
    .unwrap();
    assert_eq!(
        warga_identity::bootstrap(&app.platform).await.unwrap(),
        None,
        "the configured password is used"
    );
    let mut tx = app.platform.store.begin().await.unwrap();
    warga_identity::clients::create(
        &mut tx,
        warga_identity::clients::NewClient {
            client_id: APP.into(),
            name: "Aplikasi Uji".into(),
            confidential: false,
            redirect_uris: vec![REDIRECT.into()],
            post_logout_redirect_uris: vec![AFTER_LOGOUT.into()],
            grant_types: vec!["authorization_code".into(), "refresh_token".into()],
            service_roles: vec![],
        },
        "system",
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    app
}

fn browser(app: &TestApp) -> reqwest::Client {
    client_builder_trusting(&app.dir.path().join("tls/cert.pem"))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

fn pkce() -> (String, String) {
    let verifier = warga_auth::random_token(48).unwrap();
    let digest = ring::digest::digest(&ring::digest::SHA256, verifier.as_bytes());
    (
        verifier,
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest.as_ref()),
    )
}

fn set_cookie(response: &reqwest::Response, name: &str) -> Option<String> {
    response
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|c| {
            c.strip_prefix(&format!("{name}="))
                .map(|rest| rest.split(';').next().unwrap_or("").to_owned())
        })
}

fn hidden(html: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html.find(&marker).unwrap_or_else(|| panic!("no {name} in {html}")) + marker.len();
    html[start..].split('"').next().unwrap().to_owned()
}

fn query_of(location: &str) -> HashMap<String, String> {
    let query = location.split_once('?').map(|(_, q)| q).unwrap_or("");
    serde_urlencoded::from_str(query).unwrap()
}

struct Login {
    csrf_cookie: Option<String>,
    session: Option<String>,
    location: String,
    status: u16,
    body: String,
}

fn authorize_url(app: &TestApp, challenge: &str, extra: &[(&str, &str)]) -> String {
    let mut pairs = vec![
        ("response_type", "code"),
        ("client_id", APP),
        ("redirect_uri", REDIRECT),
        ("scope", "openid profile roles"),
        ("state", "st-123"),
        ("nonce", "n-456"),
        ("code_challenge", challenge),
        ("code_challenge_method", "S256"),
    ];
    pairs.extend_from_slice(extra);
    format!(
        "{}/oauth2/authorize?{}",
        app.url,
        serde_urlencoded::to_string(&pairs).unwrap()
    )
}

/// Opens the sign-in page and submits it.
async fn sign_in(app: &TestApp, client: &reqwest::Client, username: &str, password: &str, challenge: &str) -> Login {
    let page = client.get(authorize_url(app, challenge, &[])).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let csp = page.headers()["content-security-policy"].to_str().unwrap().to_owned();
    assert!(
        csp.contains("default-src 'none'") && csp.contains("frame-ancestors 'none'"),
        "{csp}"
    );
    let csrf_cookie = set_cookie(&page, "__Host-warga_csrf").expect("csrf cookie");
    let html = page.text().await.unwrap();
    assert!(html.contains("Masuk ke warga"), "Bahasa Indonesia first");
    assert!(html.contains("Aplikasi Uji"));
    let mut form: Vec<(String, String)> = [
        "response_type",
        "client_id",
        "redirect_uri",
        "scope",
        "state",
        "nonce",
        "code_challenge",
        "code_challenge_method",
    ]
    .iter()
    .map(|name| (name.to_string(), hidden(&html, name)))
    .collect();
    form.push(("csrf".into(), hidden(&html, "csrf")));
    form.push(("username".into(), username.into()));
    form.push(("password".into(), password.into()));
    let response = client
        .post(format!("{}/oauth2/authorize", app.url))
        .header("cookie", format!("__Host-warga_csrf={csrf_cookie}"))
        .form(&form)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let session = set_cookie(&response, "__Host-warga_sid").filter(|s| !s.is_empty());
    let next_csrf = set_cookie(&response, "__Host-warga_csrf").filter(|s| !s.is_empty());
    let location = response
        .headers()
        .get("location")
        .map(|l| l.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let body = response.text().await.unwrap();
    Login {
        csrf_cookie: next_csrf,
        session,
        location,
        status,
        body,
    }
}

async fn token(app: &TestApp, form: &[(&str, &str)]) -> (u16, Value) {
    let response = app
        .client
        .post(format!("{}/oauth2/token", app.url))
        .form(form)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    assert_eq!(response.headers()["cache-control"], "no-store");
    (status, response.json().await.unwrap())
}

async fn exchange(app: &TestApp, code: &str, verifier: &str) -> (u16, Value) {
    token(
        app,
        &[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", REDIRECT),
            ("client_id", APP),
            ("code_verifier", verifier),
        ],
    )
    .await
}

async fn bearer_get(app: &TestApp, path: &str, token: &str) -> reqwest::Response {
    app.client
        .get(format!("{}{path}", app.url))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
}

/// Signs in as `username` and returns the token response.
async fn tokens_for(app: &TestApp, username: &str, password: &str) -> Value {
    let (verifier, challenge) = pkce();
    let login = sign_in(app, &browser(app), username, password, &challenge).await;
    assert_eq!(login.status, 303, "{}", login.body);
    let code = query_of(&login.location)["code"].clone();
    let (status, body) = exchange(app, &code, &verifier).await;
    assert_eq!(status, 200, "{body}");
    body
}

#[tokio::test]
async fn discovery_and_keys_are_published() {
    let app = app().await;
    let discovery: Value = app.get("/.well-known/openid-configuration").await.json().await.unwrap();
    assert_eq!(discovery["issuer"], app.url);
    assert_eq!(
        discovery["code_challenge_methods_supported"],
        serde_json::json!(["S256"])
    );
    assert_eq!(discovery["token_endpoint"], format!("{}/oauth2/token", app.url));
    let jwks: Value = app.get("/oauth2/jwks").await.json().await.unwrap();
    let key = &jwks["keys"][0];
    assert_eq!(
        (key["kty"].as_str(), key["crv"].as_str(), key["alg"].as_str()),
        (Some("EC"), Some("P-256"), Some("ES256"))
    );
    assert!(key.get("d").is_none(), "no private part is published");
}

#[tokio::test]
async fn code_flow_with_pkce_then_refresh_rotation_revocation_and_logout() {
    let app = app().await;
    let client = browser(&app);
    let (verifier, challenge) = pkce();
    let login = sign_in(&app, &client, "admin", ADMIN_PASSWORD, &challenge).await;
    assert_eq!(login.status, 303, "{}", login.body);
    assert!(login.location.starts_with(REDIRECT));
    let params = query_of(&login.location);
    assert_eq!(params["state"], "st-123");
    assert_eq!(params["iss"], app.url, "RFC 9207 issuer in the response");
    let session = login.session.expect("a provider session");

    let (status, tokens) = exchange(&app, &params["code"], &verifier).await;
    assert_eq!(status, 200, "{tokens}");
    assert_eq!(tokens["token_type"], "Bearer");
    let access = tokens["access_token"].as_str().unwrap();
    let id_token = tokens["id_token"].as_str().unwrap().to_owned();
    let claims: Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(id_token.split('.').nth(1).unwrap())
            .unwrap(),
    )
    .unwrap();
    assert_eq!(
        (claims["aud"].as_str(), claims["nonce"].as_str()),
        (Some(APP), Some("n-456"))
    );

    let me: Value = bearer_get(&app, "/api/v1/identity/me", access)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(me["username"], "admin");
    assert_eq!(me["roles"], serde_json::json!(["admin"]));

    // The code is single use.
    let (status, body) = exchange(&app, &params["code"], &verifier).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid_grant")));

    // Single sign-on: with the session cookie the next authorization needs no password.
    let (verifier2, challenge2) = pkce();
    let again = client
        .get(authorize_url(&app, &challenge2, &[]))
        .header("cookie", format!("__Host-warga_sid={session}"))
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 303);
    let code2 = query_of(again.headers()["location"].to_str().unwrap())["code"].clone();
    let (status, tokens2) = exchange(&app, &code2, &verifier2).await;
    assert_eq!(status, 200);

    // Refresh rotates; presenting the old refresh token again revokes the family.
    let first_refresh = tokens2["refresh_token"].as_str().unwrap().to_owned();
    let refresh = |rt: String| {
        let app = &app;
        async move {
            token(
                app,
                &[
                    ("grant_type", "refresh_token"),
                    ("refresh_token", &rt),
                    ("client_id", APP),
                ],
            )
            .await
        }
    };
    let (status, rotated) = refresh(first_refresh.clone()).await;
    assert_eq!(status, 200, "{rotated}");
    let second_refresh = rotated["refresh_token"].as_str().unwrap().to_owned();
    assert_ne!(second_refresh, first_refresh);
    let (status, reused) = refresh(first_refresh).await;
    assert_eq!((status, reused["error"].as_str()), (400, Some("invalid_grant")));
    let (status, _) = refresh(second_refresh).await;
    assert_eq!(status, 400, "reuse revoked the whole family");

    // Revoking the access token makes every service refuse it.
    let access2 = rotated["access_token"].as_str().unwrap();
    assert_eq!(bearer_get(&app, "/api/v1/identity/me", access2).await.status(), 200);
    let revoked = app
        .client
        .post(format!("{}/oauth2/revoke", app.url))
        .form(&[("token", access2), ("client_id", APP)])
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status(), 200);
    let refused = bearer_get(&app, "/api/v1/identity/me", access2).await;
    assert_eq!(refused.status(), 401);
    assert!(
        refused.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .starts_with("Bearer")
    );

    // RP-initiated logout ends the session and the session's refresh tokens.
    let logout = client
        .get(format!(
            "{}/oauth2/logout?{}",
            app.url,
            serde_urlencoded::to_string([
                ("id_token_hint", id_token.as_str()),
                ("post_logout_redirect_uri", AFTER_LOGOUT),
                ("state", "bye-1")
            ])
            .unwrap()
        ))
        .header("cookie", format!("__Host-warga_sid={session}"))
        .send()
        .await
        .unwrap();
    assert_eq!(logout.status(), 303);
    assert_eq!(logout.headers()["location"], format!("{AFTER_LOGOUT}?state=bye-1"));
    let (status, _) = refresh(tokens["refresh_token"].as_str().unwrap().to_owned()).await;
    assert_eq!(status, 400, "the session's refresh tokens ended with it");
    let (_, challenge3) = pkce();
    let after = client
        .get(authorize_url(&app, &challenge3, &[]))
        .header("cookie", format!("__Host-warga_sid={session}"))
        .send()
        .await
        .unwrap();
    assert_eq!(after.status(), 200, "signed out: the sign-in page again");
}

#[tokio::test]
async fn authorization_requests_are_checked() {
    let app = app().await;
    let client = browser(&app);
    let (_, challenge) = pkce();
    let page = |url: String| {
        let client = client.clone();
        async move { client.get(url).send().await.unwrap() }
    };
    // Unknown client or unregistered redirect: a page, never a redirect.
    let unknown = page(authorize_url(&app, &challenge, &[]).replace("client_id=test-app", "client_id=nope")).await;
    assert_eq!(unknown.status(), 400);
    assert!(unknown.headers().get("location").is_none());
    let evil = page(authorize_url(&app, &challenge, &[]).replace("%2Fcallback", "%2Fevil")).await;
    assert_eq!(evil.status(), 400);
    assert!(evil.headers().get("location").is_none());

    // Without S256 PKCE: an error at the client's redirect URI.
    for (from, to) in [
        ("code_challenge_method=S256", "code_challenge_method=plain"),
        ("&code_challenge_method=S256", ""),
    ] {
        let response = page(authorize_url(&app, &challenge, &[]).replace(from, to)).await;
        assert_eq!(response.status(), 303);
        let params = query_of(response.headers()["location"].to_str().unwrap());
        assert_eq!(params["error"], "invalid_request");
        assert_eq!(params["state"], "st-123");
    }

    // A wrong verifier does not redeem the code.
    let (verifier, challenge) = pkce();
    let login = sign_in(&app, &client, "admin", ADMIN_PASSWORD, &challenge).await;
    let code = query_of(&login.location)["code"].clone();
    let (status, body) = exchange(&app, &code, &format!("{verifier}x")).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid_grant")));
    // A forged CSRF token is refused.
    let (_, challenge) = pkce();
    let page = client.get(authorize_url(&app, &challenge, &[])).send().await.unwrap();
    let html = page.text().await.unwrap();
    let forged = client
        .post(format!("{}/oauth2/authorize", app.url))
        .header("cookie", "__Host-warga_csrf=attacker")
        .form(&[
            ("response_type", "code"),
            ("client_id", APP),
            ("redirect_uri", REDIRECT),
            ("code_challenge", hidden(&html, "code_challenge").as_str()),
            ("code_challenge_method", "S256"),
            ("csrf", hidden(&html, "csrf").as_str()),
            ("username", "admin"),
            ("password", ADMIN_PASSWORD),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 400);
    assert!(forged.headers().get("location").is_none());
}

#[tokio::test]
async fn client_credentials_introspection_and_revocation() {
    let app = app().await;
    let mut tx = app.platform.store.begin().await.unwrap();
    let registered = warga_identity::clients::create(
        &mut tx,
        warga_identity::clients::NewClient {
            client_id: "registry-sync".into(),
            name: "Registry sync".into(),
            confidential: true,
            grant_types: vec!["client_credentials".into()],
            service_roles: vec![warga_core::identity::Role::RegistryOfficer],
            ..Default::default()
        },
        "system",
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    let secret = registered.client_secret.unwrap();

    let wrong = app
        .client
        .post(format!("{}/oauth2/token", app.url))
        .basic_auth("registry-sync", Some("wrong"))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);
    assert_eq!(wrong.json::<Value>().await.unwrap()["error"], "invalid_client");

    let response = app
        .client
        .post(format!("{}/oauth2/token", app.url))
        .basic_auth("registry-sync", Some(&secret))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let access = response.json::<Value>().await.unwrap()["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let who: Value = bearer_get(&app, "/api/v1/identity/whoami", &access)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(who["kind"], "service");
    assert_eq!(who["roles"], serde_json::json!(["registry_officer", "service"]));

    let introspect = |token: String| {
        let (app, secret) = (&app, secret.clone());
        async move {
            let response = app
                .client
                .post(format!("{}/oauth2/introspect", app.url))
                .basic_auth("registry-sync", Some(&secret))
                .form(&[("token", token.as_str())])
                .send()
                .await
                .unwrap();
            response.json::<Value>().await.unwrap()
        }
    };
    let active = introspect(access.clone()).await;
    assert_eq!(active["active"], true);
    assert_eq!(active["client_id"], "registry-sync");
    app.client
        .post(format!("{}/oauth2/revoke", app.url))
        .basic_auth("registry-sync", Some(&secret))
        .form(&[("token", access.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(introspect(access).await["active"], false);
    assert_eq!(introspect("garbage".into()).await["active"], false);
    // A public client may not introspect.
    let public = app
        .client
        .post(format!("{}/oauth2/introspect", app.url))
        .form(&[("token", "x"), ("client_id", APP)])
        .send()
        .await
        .unwrap();
    assert_eq!(public.status(), 401);
}

#[tokio::test]
async fn brute_force_locks_the_account_then_it_recovers() {
    let app = app().await;
    let client = browser(&app);
    let (_, challenge) = pkce();
    for attempt in 1..=3 {
        let login = sign_in(&app, &client, "admin", "salah-sekali-lagi", &challenge).await;
        assert_eq!(login.status, 401, "attempt {attempt}");
        assert!(login.body.contains("Nama pengguna atau kata sandi salah"));
    }
    // Locked: even the right password is refused.
    let locked = sign_in(&app, &client, "admin", ADMIN_PASSWORD, &challenge).await;
    assert_eq!(locked.status, 429);
    assert!(locked.body.contains("Terlalu banyak percobaan gagal"));
    assert!(locked.session.is_none());

    app.clock.advance_ms(601_000);
    let recovered = sign_in(&app, &client, "admin", ADMIN_PASSWORD, &challenge).await;
    assert_eq!(recovered.status, 303, "the lock expired");

    // An unknown username gets the same answer as a wrong password.
    let unknown = sign_in(&app, &client, "tidak-ada", "apa-saja-boleh", &challenge).await;
    assert_eq!(unknown.status, 401);
}

#[tokio::test]
async fn administrators_manage_departments_and_officers_and_roles_are_enforced() {
    let app = app().await;
    let admin = tokens_for(&app, "admin", ADMIN_PASSWORD).await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let post = |path: &'static str, token: Option<String>, body: Value| {
        let app = &app;
        async move {
            let mut request = app.client.post(format!("{}{path}", app.url)).json(&body);
            if let Some(token) = token {
                request = request.bearer_auth(token);
            }
            request.send().await.unwrap()
        }
    };
    let created = post(
        "/api/v1/identity/departments",
        Some(admin.clone()),
        serde_json::json!({"id": "dinas-pu", "name": "Dinas Pekerjaan Umum"}),
    )
    .await;
    assert_eq!(created.status(), 201);
    let again = post(
        "/api/v1/identity/departments",
        Some(admin.clone()),
        serde_json::json!({"id": "dinas-pu", "name": "x"}),
    )
    .await;
    assert_eq!(again.status(), 409);

    let officer = post(
        "/api/v1/identity/officers",
        Some(admin.clone()),
        serde_json::json!({"username": "budi.pu", "display_name": "Budi Santoso", "department": "dinas-pu", "level": "head"}),
    )
    .await;
    assert_eq!(officer.status(), 201);
    let officer: Value = officer.json().await.unwrap();
    let one_time = officer["one_time_password"].as_str().unwrap().to_owned();
    assert_eq!(officer["account"]["roles"], serde_json::json!(["officer"]));
    let bad = post(
        "/api/v1/identity/officers",
        Some(admin.clone()),
        serde_json::json!({"username": "x1", "display_name": "X", "department": "nope", "level": "staff"}),
    )
    .await;
    assert_eq!(bad.status(), 400);
    assert_eq!(bad.json::<Value>().await.unwrap()["field"], "username");

    // The officer signs in and sees their role and department in every token.
    let (_, challenge) = pkce();
    let first = sign_in(&app, &browser(&app), "budi.pu", &one_time, &challenge).await;
    change_password(
        &app,
        &first,
        &one_time,
        "Jalan-Rusak-Diperbaiki",
        "Jalan-Rusak-Diperbaiki",
    )
    .await;
    let officer_token = tokens_for(&app, "budi.pu", "Jalan-Rusak-Diperbaiki").await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let who: Value = bearer_get(&app, "/api/v1/identity/whoami", &officer_token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        (who["department"].as_str(), who["level"].as_str()),
        (Some("dinas-pu"), Some("head"))
    );

    // A citizen signs up; neither they nor the officer may administer.
    let signup = post(
        "/api/v1/identity/register",
        None,
        serde_json::json!({"username": "siti", "display_name": "Siti Aminah", "password": "Kopi-Tubruk-Pagi"}),
    )
    .await;
    assert_eq!(signup.status(), 201);
    let weak = post(
        "/api/v1/identity/register",
        None,
        serde_json::json!({"username": "ani", "display_name": "Ani", "password": "password123"}),
    )
    .await;
    let weak: Value = weak.json().await.unwrap();
    assert_eq!(
        (weak["field"].as_str(), weak["detail"].as_str()),
        (Some("password"), Some("terlalu umum; pilih yang lain")),
        "explained in Bahasa Indonesia: {weak}"
    );
    let reversed = post(
        "/api/v1/identity/register",
        None,
        serde_json::json!({"username": "ani", "display_name": "Ani \u{202E}nimdA", "password": "Kopi-Tubruk-Pagi"}),
    )
    .await;
    assert_eq!(
        reversed.json::<Value>().await.unwrap()["field"],
        "display_name",
        "a right-to-left override in a name is refused"
    );
    // Siti changes her password herself: the current one is checked, the new one must pass
    // the policy; afterwards only the new one signs in, and her other refresh tokens are gone.
    let first = tokens_for(&app, "siti", "Kopi-Tubruk-Pagi").await;
    let access = first["access_token"].as_str().unwrap().to_owned();
    let change = |current: &'static str, new: &'static str| {
        post(
            "/api/v1/identity/me/password",
            Some(access.clone()),
            serde_json::json!({"current_password": current, "new_password": new}),
        )
    };
    let wrong = change("Salah-Sandi-1", "Teh-Manis-Hangat-2").await;
    assert_eq!(wrong.json::<Value>().await.unwrap()["field"], "current_password");
    let weak = change("Kopi-Tubruk-Pagi", "password123").await;
    assert_eq!(weak.json::<Value>().await.unwrap()["field"], "new_password");
    assert_eq!(change("Kopi-Tubruk-Pagi", "Teh-Manis-Hangat-2").await.status(), 204);
    let refresh_with = |token_value: String| {
        let app = &app;
        async move {
            token(
                app,
                &[
                    ("grant_type", "refresh_token"),
                    ("refresh_token", &token_value),
                    ("client_id", APP),
                ],
            )
            .await
            .0
        }
    };
    let before = first["refresh_token"].as_str().unwrap().to_owned();
    assert_eq!(
        refresh_with(before).await,
        400,
        "the refresh token from before the change is revoked"
    );
    let after = tokens_for(&app, "siti", "Teh-Manis-Hangat-2").await["refresh_token"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(refresh_with(after).await, 200, "one issued after the change works");
    let (_, challenge) = pkce();
    let old_password = sign_in(&app, &browser(&app), "siti", "Kopi-Tubruk-Pagi", &challenge).await;
    assert_ne!(old_password.status, 303, "the old password no longer signs in");
    let citizen = tokens_for(&app, "siti", "Teh-Manis-Hangat-2").await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    for token in [citizen, officer_token] {
        let denied = post(
            "/api/v1/identity/departments",
            Some(token),
            serde_json::json!({"id": "x-y", "name": "X"}),
        )
        .await;
        assert_eq!(denied.status(), 403);
        assert_eq!(
            denied.json::<Value>().await.unwrap()["type"],
            "urn:warga:problem:forbidden"
        );
    }
    let anonymous = post(
        "/api/v1/identity/departments",
        None,
        serde_json::json!({"id": "x-y", "name": "X"}),
    )
    .await;
    assert_eq!(anonymous.status(), 401);

    // Everything above is in the audit log, without secrets.
    let audit: Value = bearer_get(&app, "/api/v1/audit?limit=1000", &admin)
        .await
        .json()
        .await
        .unwrap();
    let text = audit.to_string();
    let actions: Vec<&str> = audit["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    for action in [
        "identity.department.create",
        "identity.account.create",
        "identity.login",
        "identity.token.issue",
    ] {
        assert!(actions.contains(&action), "{action} missing from {actions:?}");
    }
    for secret in [ADMIN_PASSWORD, "Kopi-Tubruk-Pagi", one_time.as_str(), admin.as_str()] {
        assert!(!text.contains(secret), "a secret reached the audit log");
    }
}

#[tokio::test]
async fn a_second_instance_trusts_the_first_as_its_external_issuer() {
    let first = app().await;
    let cert = first.dir.path().join("tls/cert.pem");
    let issuer = first.url.clone();
    let second = spawn_app_with(Db::Sqlite, Router::new(), vec![], |config| {
        config.identity.issuer = Some(issuer);
        config.identity.issuer_ca_path = Some(cert);
    })
    .await
    .unwrap();
    assert_eq!(
        second.get("/.well-known/openid-configuration").await.status(),
        404,
        "no provider of its own"
    );

    let token = tokens_for(&first, "admin", ADMIN_PASSWORD).await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let who = bearer_get(&second, "/api/v1/identity/whoami", &token).await;
    assert_eq!(who.status(), 200);
    let who: Value = who.json().await.unwrap();
    assert_eq!(who["roles"], serde_json::json!(["admin"]));
    assert_eq!(who["issuer"], first.url);

    // Its own tokens mean nothing to the first instance's issuer settings in reverse.
    let forged = bearer_get(&second, "/api/v1/identity/whoami", "eyJhbGciOiJFUzI1NiJ9.e30.c2ln").await;
    assert_eq!(forged.status(), 401);
}

#[tokio::test]
async fn bad_bearer_tokens_are_refused_with_a_401_problem() {
    use warga_auth::AccessClaims;
    let app = app().await;
    let local = app.platform.auth.local.clone().unwrap();
    let now = warga_core::time::now_ms() / 1000;
    let claims = |edit: &dyn Fn(&mut AccessClaims)| {
        let mut claims = AccessClaims {
            iss: app.url.clone(),
            sub: "someone".into(),
            aud: serde_json::json!("warga"),
            exp: now + 300,
            iat: now,
            nbf: Some(now),
            jti: None,
            client_id: Some(APP.into()),
            azp: None,
            scope: None,
            roles: vec!["admin".into()],
            realm_access: None,
            preferred_username: None,
            department: None,
            officer_level: None,
            msp_id: None,
            facility: None,
        };
        edit(&mut claims);
        claims
    };
    let sign = |c: AccessClaims| {
        let minter = local.minter.clone();
        async move { minter.sign("at+jwt", &c).await.unwrap() }
    };
    let good = sign(claims(&|_| {})).await;
    assert_eq!(bearer_get(&app, "/api/v1/identity/whoami", &good).await.status(), 200);

    let b64 = |v: &Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
    let mut parts: Vec<String> = good.split('.').map(str::to_owned).collect();
    parts[1] = b64(&serde_json::to_value(claims(&|c| c.sub = "admin-impostor".into())).unwrap());
    let tampered = parts.join(".");
    let none = format!(
        "{}.{}.",
        b64(&serde_json::json!({"alg": "none"})),
        b64(&serde_json::to_value(claims(&|_| {})).unwrap())
    );

    // HS256 keyed with the published public key, naming the real kid: algorithm confusion.
    let jwks: Value = app.get("/oauth2/jwks").await.json().await.unwrap();
    let kid = jwks["keys"][0]["kid"].as_str().unwrap().to_owned();
    let mut hs_header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
    hs_header.kid = Some(kid);
    let hs256 = jsonwebtoken::encode(
        &hs_header,
        &claims(&|_| {}),
        &jsonwebtoken::EncodingKey::from_secret(jwks["keys"][0].to_string().as_bytes()),
    )
    .unwrap();
    // Signed by a key this deployment never published.
    let stranger = spawn_app_with(Db::Sqlite, Router::new(), vec![], |_| {}).await.unwrap();
    let foreign = stranger
        .platform
        .auth
        .local
        .clone()
        .unwrap()
        .minter
        .sign("at+jwt", &claims(&|_| {}))
        .await
        .unwrap();

    let cases = [
        ("HS256 with the public key", hs256, "algorithm"),
        ("unknown kid", foreign, "signing key is unknown"),
        ("expired", sign(claims(&|c| c.exp = now - 120)).await, "expired"),
        (
            "not yet valid",
            sign(claims(&|c| c.nbf = Some(now + 120))).await,
            "not valid yet",
        ),
        (
            "wrong issuer",
            sign(claims(&|c| c.iss = "https://evil.example".into())).await,
            "another issuer",
        ),
        (
            "wrong audience",
            sign(claims(&|c| c.aud = serde_json::json!("account"))).await,
            "another audience",
        ),
        ("alg none", none, "algorithm"),
        ("tampered", tampered, "signature"),
    ];
    for (name, token, detail) in cases {
        let response = bearer_get(&app, "/api/v1/identity/whoami", &token).await;
        assert_eq!(response.status(), 401, "{name}");
        assert!(
            response.headers()["www-authenticate"]
                .to_str()
                .unwrap()
                .starts_with("Bearer"),
            "{name}"
        );
        assert_eq!(response.headers()["content-type"], "application/problem+json", "{name}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["type"], "urn:warga:problem:unauthorized", "{name}");
        assert!(body["detail"].as_str().unwrap().contains(detail), "{name}: {body}");
    }
    let metrics = app.get("/metrics").await.text().await.unwrap();
    assert!(
        metrics.contains("warga_auth_failures_total{reason=\"expired\"}"),
        "refusals are counted by reason"
    );
}

#[tokio::test]
async fn the_demo_world_is_seeded_once_and_its_users_can_sign_in() {
    use warga_core::identity::Role;
    let app = app().await;
    let first = warga_identity::demo::seed(&app.platform).await.unwrap();
    assert!(first.created);
    let again = warga_identity::demo::seed(&app.platform).await.unwrap();
    assert!(!again.created, "seeding twice changes nothing");
    let store = &app.platform.store;
    let citizens = warga_identity::accounts::list(store, Some(Role::Citizen), None, None, 500)
        .await
        .unwrap();
    assert_eq!(citizens.len(), warga_identity::demo::CITIZENS);
    let departments = warga_identity::accounts::departments(store).await.unwrap();
    for (id, _) in warga_identity::demo::AUTHORITIES {
        assert!(departments.iter().any(|d| d.id == id), "{id}");
        let officers = warga_identity::accounts::list(store, Some(Role::Officer), Some(id), None, 50)
            .await
            .unwrap();
        assert_eq!(officers.len(), 2, "a head and a staff member in {id}");
    }
    for (_, username) in &first.logins {
        let tokens = tokens_for(&app, username, warga_identity::demo::DEMO_PASSWORD).await;
        assert!(tokens["access_token"].is_string(), "{username} signs in");
    }
    let mayor = tokens_for(&app, "walikota", warga_identity::demo::DEMO_PASSWORD).await;
    let who: Value = bearer_get(&app, "/api/v1/identity/whoami", mayor["access_token"].as_str().unwrap())
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(who["level"], "top");
}

/// Answers the change-password page shown after a sign-in with a one-time password.
async fn change_password(app: &TestApp, login: &Login, current: &str, new: &str, confirm: &str) -> Login {
    let client = browser(app);
    let mut form: Vec<(String, String)> = [
        "response_type",
        "client_id",
        "redirect_uri",
        "scope",
        "state",
        "nonce",
        "code_challenge",
        "code_challenge_method",
        "username",
        "csrf",
    ]
    .iter()
    .map(|name| (name.to_string(), hidden(&login.body, name)))
    .collect();
    form.push(("password".into(), current.into()));
    form.push(("new_password".into(), new.into()));
    form.push(("confirm".into(), confirm.into()));
    let response = client
        .post(format!("{}/oauth2/password", app.url))
        .header(
            "cookie",
            format!("__Host-warga_csrf={}", login.csrf_cookie.clone().unwrap()),
        )
        .form(&form)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let session = set_cookie(&response, "__Host-warga_sid").filter(|s| !s.is_empty());
    let csrf_cookie = set_cookie(&response, "__Host-warga_csrf").filter(|s| !s.is_empty());
    let location = response
        .headers()
        .get("location")
        .map(|l| l.to_str().unwrap().to_owned())
        .unwrap_or_default();
    Login {
        csrf_cookie,
        session,
        location,
        status,
        body: response.text().await.unwrap(),
    }
}

#[tokio::test]
async fn a_one_time_password_must_be_changed_at_first_sign_in() {
    let app = app().await;
    let created = warga_identity::create_officer_account(
        &app.platform,
        warga_identity::NewOfficer {
            username: "ani.capil".into(),
            display_name: "Ani".into(),
            email: None,
            password: None,
            roles: vec![warga_core::identity::Role::RegistryOfficer],
            department: None,
            level: None,
            msp_id: None,
            facility: None,
        },
        "system",
    )
    .await
    .unwrap();
    let one_time = created.one_time_password.unwrap();
    let (verifier, challenge) = pkce();
    let login = sign_in(&app, &browser(&app), "ani.capil", &one_time, &challenge).await;
    assert_eq!(login.status, 200, "no code yet");
    assert!(
        login.body.contains("Ganti kata sandi") && login.session.is_none(),
        "{}",
        login.body
    );

    let differ = change_password(&app, &login, &one_time, "Teh-Manis-Hangat-1", "Teh-Manis-Hangat-2").await;
    assert_eq!(differ.status, 400);
    assert!(differ.body.contains("tidak sama"));
    let weak = change_password(&app, &differ, &one_time, "merdeka1945", "merdeka1945").await;
    assert_eq!(weak.status, 400);
    let done = change_password(&app, &weak, &one_time, "Teh-Manis-Hangat-1", "Teh-Manis-Hangat-1").await;
    assert_eq!(done.status, 303, "{}", done.body);
    assert!(done.session.is_some());
    let code = query_of(&done.location)["code"].clone();
    let (status, _) = exchange(&app, &code, &verifier).await;
    assert_eq!(status, 200);

    let (_, challenge) = pkce();
    assert_eq!(
        sign_in(&app, &browser(&app), "ani.capil", &one_time, &challenge)
            .await
            .status,
        401,
        "the old one is gone"
    );
    assert!(tokens_for(&app, "ani.capil", "Teh-Manis-Hangat-1").await["access_token"].is_string());
}

#[tokio::test]
async fn a_recovery_code_is_good_for_five_tries_ten_minutes_and_once() {
    use warga_identity::recovery;
    let app = app().await;
    let mut tx = app.platform.store.begin().await.unwrap();
    let account = warga_identity::accounts::create(
        &mut tx,
        warga_identity::accounts::NewAccount {
            username: "dewi".into(),
            display_name: "Dewi Lestari".into(),
            password: "Kopi-Tubruk-Pagi".into(),
            roles: [warga_core::identity::Role::Citizen].into_iter().collect(),
            ..Default::default()
        },
        "test",
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    assert!(
        recovery::begin(&app.platform, "dewi").await.unwrap().is_none(),
        "no phone, no code"
    );
    assert!(
        recovery::set_phone(&app.platform, &account.id, Some("12345"))
            .await
            .is_err()
    );
    recovery::set_phone(&app.platform, &account.id, Some("0812-3456-7890"))
        .await
        .unwrap();
    assert_eq!(
        recovery::phone_of(&app.platform, &account.id).await.unwrap().as_deref(),
        Some("+6281234567890")
    );

    // Five wrong tries use the code up, the right one included.
    let sent = recovery::begin(&app.platform, "dewi").await.unwrap().unwrap();
    let wrong = if sent.code == "000000" { "111111" } else { "000000" };
    for _ in 0..recovery::MAX_ATTEMPTS {
        assert!(
            recovery::finish(&app.platform, "dewi", wrong, "Teh-Manis-Hangat-2")
                .await
                .is_err()
        );
    }
    let spent = recovery::finish(&app.platform, "dewi", &sent.code, "Teh-Manis-Hangat-2").await;
    assert!(matches!(spent, Err(warga_identity::IdentityError::Invalid { ref field, .. }) if field == "code"));

    // A new code a minute later; it expires after ten minutes.
    assert!(
        recovery::begin(&app.platform, "dewi").await.unwrap().is_none(),
        "one code a minute"
    );
    app.clock.advance_ms(recovery::RESEND_AFTER_MS + 1);
    let sent = recovery::begin(&app.platform, "dewi").await.unwrap().unwrap();
    app.clock.advance_ms(recovery::CODE_TTL_MS);
    assert!(
        recovery::finish(&app.platform, "dewi", &sent.code, "Teh-Manis-Hangat-2")
            .await
            .is_err(),
        "expired"
    );

    // A fresh code works once, under the password policy.
    app.clock.advance_ms(recovery::RESEND_AFTER_MS + 1);
    let sent = recovery::begin(&app.platform, "dewi").await.unwrap().unwrap();
    let weak = recovery::finish(&app.platform, "dewi", &sent.code, "password123").await;
    assert!(matches!(weak, Err(warga_identity::IdentityError::Invalid { ref field, .. }) if field == "new_password"));
    recovery::finish(&app.platform, "dewi", &sent.code, "Teh-Manis-Hangat-2")
        .await
        .unwrap();
    assert!(
        recovery::finish(&app.platform, "dewi", &sent.code, "Teh-Manis-Hangat-3")
            .await
            .is_err(),
        "used once"
    );
}
