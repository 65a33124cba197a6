//! The gateway's protections: per-user and per-address rate limits (in memory and shared
//! through Redis), with a test clock instead of sleeping.

use warga_testkit as common;

use axum::Router;
use common::{Engine, TestApp, spawn_app_with};
use serde_json::Value;
use warga_config::Secret;
use warga_core::time::Clock;

async fn user_token(app: &TestApp, subject: &str) -> String {
    app.token(subject, &["citizen"]).await
}

async fn whoami(app: &TestApp, token: &str) -> reqwest::Response {
    app.client
        .get(format!("{}/api/v1/identity/whoami", app.url))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn the_101st_request_in_a_minute_gets_429_then_the_budget_returns() {
    let app = spawn_app_with(Engine::Sqlite, Router::new(), vec![], |_| {})
        .await
        .unwrap();
    let siti = user_token(&app, "siti").await;
    let budi = user_token(&app, "budi").await;
    for i in 0..100 {
        let response = whoami(&app, &siti).await;
        assert_eq!(response.status(), 200, "request {}", i + 1);
        assert_eq!(response.headers()["ratelimit-remaining"], (99 - i).to_string().as_str());
    }
    let refused = whoami(&app, &siti).await;
    assert_eq!(refused.status(), 429);
    assert_eq!(
        refused.headers()["retry-after"],
        "60",
        "the first request leaves the rolling minute"
    );
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["type"], "urn:warga:problem:rate-limited");
    assert_eq!(
        whoami(&app, &budi).await.status(),
        200,
        "another user has their own budget"
    );
    assert_eq!(app.get("/healthz").await.status(), 200, "probes are never limited");

    app.clock.advance_ms(60_000);
    assert_eq!(
        whoami(&app, &siti).await.status(),
        200,
        "a minute later the budget is back"
    );
    let metrics = app.get("/metrics").await.text().await.unwrap();
    assert!(
        metrics.contains("warga_rate_limited_total{class=\"default\",kind=\"user\"}"),
        "counted"
    );
}

#[tokio::test]
async fn anonymous_callers_are_limited_per_address_and_route_class() {
    let app = spawn_app_with(Engine::Sqlite, Router::new(), vec![], |config| {
        config.gateway.anonymous_per_minute = 10;
        config.gateway.route_classes[0].anonymous_per_minute = 3;
    })
    .await
    .unwrap();
    for _ in 0..3 {
        assert_eq!(app.get("/oauth2/jwks").await.status(), 200);
    }
    let refused = app.get("/oauth2/jwks").await.status();
    assert_eq!(refused, 429, "the sign-in class allows 3 per minute");
    for i in 0..10 {
        let status = app
            .get("/api/v1/system/probes/01a200a2-30c3-71c1-80d9-b313e4124880")
            .await
            .status();
        assert_eq!(status, 401, "request {i} is counted, then refused for want of a token");
    }
    assert_eq!(
        app.get("/api/v1/system/probes/01a200a2-30c3-71c1-80d9-b313e4124880")
            .await
            .status(),
        429
    );
}

#[tokio::test]
async fn behind_a_trusted_proxy_each_forwarded_client_has_its_own_budget() {
    let jwks = |app: &TestApp, client: &'static str| {
        app.client
            .get(format!("{}/oauth2/jwks", app.url))
            .header("x-forwarded-for", client)
            .send()
    };
    // Not configured: the header is the client's own claim, and everyone here is 127.0.0.1.
    let direct = spawn_app_with(Engine::Sqlite, Router::new(), vec![], |config| {
        config.gateway.route_classes[0].anonymous_per_minute = 2;
    })
    .await
    .unwrap();
    for client in ["203.0.113.1", "203.0.113.2"] {
        assert_eq!(jwks(&direct, client).await.unwrap().status(), 200);
    }
    assert_eq!(
        jwks(&direct, "203.0.113.3").await.unwrap().status(),
        429,
        "a forged header does not buy a new budget"
    );
    // Behind a proxy at 127.0.0.0/8: the forwarded client counts.
    let proxied = spawn_app_with(Engine::Sqlite, Router::new(), vec![], |config| {
        config.gateway.route_classes[0].anonymous_per_minute = 2;
        config.http.trusted_proxies = vec!["127.0.0.0/8".parse().unwrap()];
    })
    .await
    .unwrap();
    for _ in 0..2 {
        assert_eq!(jwks(&proxied, "203.0.113.1").await.unwrap().status(), 200);
    }
    let refused = jwks(&proxied, "203.0.113.1").await.unwrap();
    assert_eq!(refused.status(), 429);
    let problem: Value = refused.json().await.unwrap();
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("at most 2 requests in any 60 seconds"),
        "{problem}"
    );
    assert_eq!(
        jwks(&proxied, "203.0.113.2").await.unwrap().status(),
        200,
        "another client behind the same proxy"
    );
}

#[tokio::test]
async fn replicas_sharing_redis_share_the_budget() {
    let Some(redis) = warga_store::testing::engine_url("WARGA_TEST_REDIS_URL") else {
        return;
    };
    let prefix = format!("warga-test:{}", uuid::Uuid::now_v7().simple());
    let tune = |config: &mut warga_config::Config| {
        config.gateway.redis_url = Some(Secret::new(redis.clone()));
        config.gateway.redis_prefix = prefix.clone();
    };
    let first = spawn_app_with(Engine::Sqlite, Router::new(), vec![], tune)
        .await
        .unwrap();
    let second = spawn_app_with(Engine::Sqlite, Router::new(), vec![], tune)
        .await
        .unwrap();
    assert_eq!(first.platform.limiter.backend_name(), "redis");
    // One deployment, one time: each test app's manual clock starts at the wall clock when it
    // is made, and a budget refills with time, so the replicas' clocks are made to agree.
    use warga_core::time::Clock as _;
    first.clock.advance_ms(second.clock.now_ms() - first.clock.now_ms());
    // The same subject on both replicas (each trusts its own keys; the budget is per subject).
    let on_first = user_token(&first, "shared-user").await;
    let on_second = user_token(&second, "shared-user").await;
    for _ in 0..60 {
        assert_eq!(whoami(&first, &on_first).await.status(), 200);
    }
    for _ in 0..40 {
        assert_eq!(whoami(&second, &on_second).await.status(), 200);
    }
    assert_eq!(
        whoami(&second, &on_second).await.status(),
        429,
        "the 101st, wherever it lands"
    );
    assert_eq!(whoami(&first, &on_first).await.status(), 429);
    // The rolling minute holds in Redis too: half a minute on, nothing has left the window.
    first.clock.advance_ms(30_000);
    second.clock.advance_ms(30_000);
    assert_eq!(whoami(&second, &on_second).await.status(), 429);
    first.clock.advance_ms(30_000);
    second.clock.advance_ms(30_000);
    assert_eq!(
        whoami(&second, &on_second).await.status(),
        200,
        "a minute after the first"
    );
}

/// Signed-in pages count against their account's budget, not their address's: officers of
/// one office behind one NAT address each have their own; a cookie that is no session counts
/// as anonymous.
#[tokio::test]
async fn signed_in_pages_count_per_account_not_per_address() {
    let app = spawn_app_with(Engine::Sqlite, Router::new(), vec![], |config| {
        config.gateway.user_per_minute = 5;
        config.gateway.anonymous_per_minute = 3;
    })
    .await
    .unwrap();
    let now = app.clock.now_ms();
    for (cookie, account) in [("sesi-ani", "account-ani"), ("sesi-budi", "account-budi")] {
        sqlx::query(
            "INSERT INTO web_sessions (id_hash, account_id, csrf, id_token, created_at_ms, expires_at_ms) \
             VALUES ($1, $2, 'csrf', 'id-token', $3, $4)",
        )
        .bind(warga_auth::token_hash(cookie))
        .bind(account)
        .bind(now)
        .bind(now + 3_600_000)
        .execute(app.db.store.writer())
        .await
        .unwrap();
    }
    let page = |cookie: Option<&'static str>| {
        let (client, url) = (app.client.clone(), app.url.clone());
        async move {
            let request = client.get(format!("{url}/"));
            let request = match cookie {
                Some(value) => request.header("cookie", format!("__Host-warga_web={value}")),
                None => request,
            };
            request.send().await.unwrap().status().as_u16()
        }
    };
    for i in 0..5 {
        assert_eq!(page(Some("sesi-ani")).await, 200, "Ani's page {}", i + 1);
    }
    assert_eq!(page(Some("sesi-ani")).await, 429, "Ani's sixth page in the minute");
    for i in 0..5 {
        assert_eq!(page(Some("sesi-budi")).await, 200, "Budi, same address, page {}", i + 1);
    }
    for i in 0..3 {
        assert_eq!(page(None).await, 200, "anonymous page {}", i + 1);
    }
    assert_eq!(page(None).await, 429, "the address's anonymous budget is its own");
    assert_eq!(
        page(Some("no-such-session")).await,
        429,
        "a cookie that is no session is anonymous"
    );
}
