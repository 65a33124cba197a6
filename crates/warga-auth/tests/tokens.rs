//! Token minting and validation: what must be accepted, and everything that must not.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use warga_auth::{AccessClaims, AuthError, KeyRing, MasterKey, Minter, Revocations, TokenValidator};
use warga_core::identity::{OfficerLevel, PrincipalKind, Role};
use warga_store::testing::TestDb;

const ISSUER: &str = "https://warga.test";
const AUDIENCE: &str = "warga";

struct Fixture {
    db: TestDb,
    keyring: KeyRing,
    minter: Minter,
    revocations: Revocations,
    validator: TokenValidator,
}

async fn fixture() -> Fixture {
    let db = TestDb::sqlite(&[warga_auth::MIGRATIONS]).await;
    let master = Arc::new(MasterKey::from_bytes(&[7u8; 32]).unwrap());
    let keyring = KeyRing::new(
        db.store.clone(),
        master,
        Duration::from_secs(86_400),
        Duration::from_secs(600),
    );
    let minter = Minter::new(keyring.clone(), ISSUER.into());
    let revocations = Revocations::new(db.store.clone());
    let validator = TokenValidator::local(ISSUER.into(), AUDIENCE.into(), keyring.clone(), revocations.clone());
    Fixture {
        db,
        keyring,
        minter,
        revocations,
        validator,
    }
}

fn now() -> i64 {
    warga_core::time::now_ms() / 1000
}

fn claims() -> AccessClaims {
    AccessClaims {
        iss: ISSUER.into(),
        sub: "0193a0f2-aaaa-7000-8000-000000000001".into(),
        aud: serde_json::json!(AUDIENCE),
        exp: now() + 300,
        iat: now(),
        nbf: Some(now()),
        jti: Some("jti-1".into()),
        client_id: Some("warga-web".into()),
        azp: None,
        scope: Some("openid".into()),
        roles: vec!["officer".into(), "not-a-warga-role".into()],
        realm_access: None,
        preferred_username: Some("siti".into()),
        department: Some("dinas-pu".into()),
        officer_level: Some("head".into()),
        msp_id: None,
        facility: None,
    }
}

async fn signed(f: &Fixture, claims: &AccessClaims) -> String {
    f.minter.sign("at+jwt", claims).await.unwrap()
}

#[tokio::test]
async fn a_minted_token_validates_into_a_principal() {
    let f = fixture().await;
    let minted = f.minter.access_token(claims(), 300).await.unwrap();
    let principal = f.validator.validate(&minted.token).await.unwrap();
    assert_eq!(principal.subject, "0193a0f2-aaaa-7000-8000-000000000001");
    assert_eq!(principal.kind, PrincipalKind::User);
    assert_eq!(principal.roles.iter().copied().collect::<Vec<_>>(), vec![Role::Officer]);
    assert_eq!(principal.level, Some(OfficerLevel::Head));
    assert_eq!(principal.department.as_deref(), Some("dinas-pu"));
    assert_eq!(principal.token_id.as_deref(), Some(minted.jti.as_str()));
    assert_eq!(principal.issuer, ISSUER);
    let header = jsonwebtoken::decode_header(&minted.token).unwrap();
    assert_eq!(header.alg, Algorithm::ES256);
    assert_eq!(header.typ.as_deref(), Some("at+jwt"));
}

fn unsigned_with_alg_none(claims: &AccessClaims) -> String {
    let header = URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT"}"#);
    let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(claims).unwrap());
    format!("{header}.{payload}.")
}

#[tokio::test]
async fn bad_tokens_are_refused_for_the_right_reason() {
    let f = fixture().await;
    let good = f.minter.access_token(claims(), 300).await.unwrap().token;
    let kid = jsonwebtoken::decode_header(&good).unwrap().kid.unwrap();

    let expired = AccessClaims {
        exp: now() - 120,
        iat: now() - 420,
        nbf: Some(now() - 420),
        ..claims()
    };
    let not_yet = AccessClaims {
        nbf: Some(now() + 120),
        ..claims()
    };
    let wrong_issuer = AccessClaims {
        iss: "https://evil.test".into(),
        ..claims()
    };
    let wrong_audience = AccessClaims {
        aud: serde_json::json!(["account"]),
        ..claims()
    };

    // HS256 keyed with the public key: the classic algorithm-confusion forgery.
    let jwks = f.keyring.jwks().await.unwrap();
    let public_key_text = jwks["keys"][0].to_string();
    let mut hs_header = Header::new(Algorithm::HS256);
    hs_header.kid = Some(kid.clone());
    let hs256 = jsonwebtoken::encode(
        &hs_header,
        &claims(),
        &EncodingKey::from_secret(public_key_text.as_bytes()),
    )
    .unwrap();

    // A payload changed after signing.
    let mut parts: Vec<String> = good.split('.').map(str::to_owned).collect();
    let mut tampered_claims = claims();
    tampered_claims.roles = vec!["admin".into()];
    parts[1] = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&tampered_claims).unwrap());
    let tampered = parts.join(".");

    // Signed by a key warga never published.
    let other = fixture().await;
    let foreign = signed(&other, &claims()).await;

    let mut no_kid_header = Header::new(Algorithm::ES256);
    no_kid_header.kid = None;
    let (_, key) = f.keyring.signing_key().await.unwrap();
    let no_kid = jsonwebtoken::encode(&no_kid_header, &claims(), &key).unwrap();

    type Expected = fn(&AuthError) -> bool;
    let cases: Vec<(&str, String, Expected)> = vec![
        ("expired", signed(&f, &expired).await, |e| {
            matches!(e, AuthError::Expired)
        }),
        ("not yet valid", signed(&f, &not_yet).await, |e| {
            matches!(e, AuthError::NotYetValid)
        }),
        ("wrong issuer", signed(&f, &wrong_issuer).await, |e| {
            matches!(e, AuthError::WrongIssuer)
        }),
        ("wrong audience", signed(&f, &wrong_audience).await, |e| {
            matches!(e, AuthError::WrongAudience)
        }),
        ("alg none", unsigned_with_alg_none(&claims()), |e| {
            matches!(e, AuthError::UnsupportedAlgorithm(_))
        }),
        ("HS256 with the public key", hs256, |e| {
            matches!(e, AuthError::UnsupportedAlgorithm(_))
        }),
        ("tampered payload", tampered, |e| matches!(e, AuthError::BadSignature)),
        ("unknown kid", foreign, |e| matches!(e, AuthError::UnknownKey)),
        ("no kid", no_kid, |e| matches!(e, AuthError::MissingKeyId)),
        ("garbage", "not.a.token".into(), |e| matches!(e, AuthError::Malformed)),
        ("empty", String::new(), |e| matches!(e, AuthError::Malformed)),
    ];
    for (name, token, expected) in cases {
        match f.validator.validate(&token).await {
            Ok(_) => panic!("{name}: accepted"),
            Err(error) => {
                assert!(expected(&error), "{name}: refused for the wrong reason: {error:?}");
                assert!(error.is_client_error(), "{name}: {error:?} must be a 401");
            }
        }
    }
}

#[tokio::test]
async fn revoked_tokens_are_refused() {
    let f = fixture().await;
    let minted = f.minter.access_token(claims(), 300).await.unwrap();
    f.validator.validate(&minted.token).await.unwrap();
    let mut tx = f.db.store.begin().await.unwrap();
    f.revocations
        .revoke(&mut tx, &minted.jti, minted.expires_at)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    assert!(matches!(
        f.validator.validate(&minted.token).await,
        Err(AuthError::Revoked)
    ));

    // Another process learns of it from the database.
    let elsewhere = Revocations::new(f.db.store.clone());
    let validator = TokenValidator::local(ISSUER.into(), AUDIENCE.into(), f.keyring.clone(), elsewhere);
    assert!(matches!(
        validator.validate(&minted.token).await,
        Err(AuthError::Revoked)
    ));
}

#[tokio::test]
async fn rotation_keeps_old_tokens_valid_until_their_key_is_unpublished() {
    let db = TestDb::sqlite(&[warga_auth::MIGRATIONS]).await;
    let master = Arc::new(MasterKey::from_bytes(&[9u8; 32]).unwrap());
    // Retired keys stay published for 300 ms (the longest token lifetime in this test), on
    // a clock the test moves.
    let clock = warga_core::time::ManualClock::new(warga_core::time::now_ms());
    let keyring = KeyRing::new(
        db.store.clone(),
        master.clone(),
        Duration::from_secs(86_400),
        Duration::from_millis(300),
    )
    .with_clock(Arc::new(clock.clone()));
    let minter = Minter::new(keyring.clone(), ISSUER.into());
    let validator = TokenValidator::local(
        ISSUER.into(),
        AUDIENCE.into(),
        keyring.clone(),
        Revocations::new(db.store.clone()),
    );

    let old = minter.access_token(claims(), 300).await.unwrap().token;
    let old_kid = jsonwebtoken::decode_header(&old).unwrap().kid.unwrap();
    let new_kid = keyring.rotate().await.unwrap();
    assert_ne!(old_kid, new_kid);
    let new = minter.access_token(claims(), 300).await.unwrap().token;
    assert_eq!(
        jsonwebtoken::decode_header(&new).unwrap().kid.unwrap(),
        new_kid,
        "new tokens use the new key"
    );
    let published: Vec<String> = keyring.jwks().await.unwrap()["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap().to_owned())
        .collect();
    assert!(
        published.contains(&old_kid) && published.contains(&new_kid),
        "{published:?}"
    );
    validator.validate(&old).await.unwrap();
    validator.validate(&new).await.unwrap();

    clock.advance_ms(400);
    // A process that reads the keys now no longer finds the retired one.
    let later = KeyRing::new(
        db.store.clone(),
        master,
        Duration::from_secs(86_400),
        Duration::from_millis(300),
    )
    .with_clock(Arc::new(clock));
    let later_validator = TokenValidator::local(
        ISSUER.into(),
        AUDIENCE.into(),
        later,
        Revocations::new(db.store.clone()),
    );
    assert!(matches!(
        later_validator.validate(&old).await,
        Err(AuthError::UnknownKey)
    ));
    later_validator.validate(&new).await.unwrap();
}

#[tokio::test]
async fn sealed_keys_need_the_right_master_key() {
    let f = fixture().await;
    f.minter.access_token(claims(), 300).await.unwrap();
    let wrong = Arc::new(MasterKey::from_bytes(&[8u8; 32]).unwrap());
    let keyring = KeyRing::new(
        f.db.store.clone(),
        wrong,
        Duration::from_secs(86_400),
        Duration::from_secs(600),
    );
    let error = keyring
        .signing_key()
        .await
        .err()
        .expect("a key sealed with another master key cannot be opened");
    assert!(matches!(error, AuthError::Keys(_)), "{error:?}");
    let private: String = sqlx::query_scalar::<_, String>("SELECT private_sealed FROM auth_signing_keys")
        .fetch_one(f.db.store.reader())
        .await
        .unwrap();
    assert!(!private.contains("BEGIN"), "the private key is not stored in clear");
}

#[tokio::test]
async fn an_external_issuer_is_found_by_discovery_and_its_keys_refetched_on_rotation() {
    use axum::routing::get;
    let f = fixture().await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let issuer = format!("{base}/realms/warga");
    let keyring = f.keyring.clone();
    let discovery = serde_json::json!({ "issuer": issuer, "jwks_uri": format!("{base}/realms/warga/certs") });
    let app = axum::Router::new()
        .route(
            "/realms/warga/.well-known/openid-configuration",
            get(move || async move { axum::Json(discovery) }),
        )
        .route(
            "/realms/warga/certs",
            get(move || {
                let keyring = keyring.clone();
                async move { axum::Json(keyring.jwks().await.unwrap()) }
            }),
        );
    tokio::spawn(async move { axum::serve(listener, app).await });

    let minter = Minter::new(f.keyring.clone(), issuer.clone());
    // No minimum between refetches here: the refetch on an unknown kid is what is tested.
    let validator = TokenValidator::remote_with_refetch(&issuer, AUDIENCE.into(), None, Duration::ZERO).unwrap();
    // Keycloak puts roles in realm_access and the client in azp.
    let keycloak_style = AccessClaims {
        roles: vec![],
        realm_access: Some(warga_auth::claims::RealmAccess {
            roles: vec!["admin".into(), "offline_access".into(), "default-roles-warga".into()],
        }),
        client_id: None,
        azp: Some("warga-web".into()),
        ..claims()
    };
    let token = minter.access_token(keycloak_style.clone(), 300).await.unwrap().token;
    let principal = validator.validate(&token).await.unwrap();
    assert_eq!(principal.roles.iter().copied().collect::<Vec<_>>(), vec![Role::Admin]);
    assert_eq!(principal.client_id.as_deref(), Some("warga-web"));

    f.keyring.rotate().await.unwrap();
    let rotated = minter.access_token(keycloak_style, 300).await.unwrap().token;
    validator
        .validate(&rotated)
        .await
        .expect("an unknown kid refetches the JWKS");

    let other = fixture().await;
    let forged = Minter::new(other.keyring.clone(), issuer.clone())
        .access_token(claims(), 300)
        .await
        .unwrap()
        .token;
    assert!(matches!(validator.validate(&forged).await, Err(AuthError::UnknownKey)));
}

#[tokio::test]
async fn an_unreachable_issuer_is_retried_then_the_circuit_opens() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let hits = Arc::new(AtomicUsize::new(0));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let issuer = format!("http://{}", listener.local_addr().unwrap());
    let counter = hits.clone();
    let app = axum::Router::new().fallback(move || {
        let counter = counter.clone();
        async move {
            counter.fetch_add(1, Ordering::SeqCst);
            (axum::http::StatusCode::SERVICE_UNAVAILABLE, "down")
        }
    });
    tokio::spawn(async move { axum::serve(listener, app).await });

    let f = fixture().await;
    let token = f.minter.access_token(claims(), 300).await.unwrap().token;
    let validator = TokenValidator::remote_with_refetch(&issuer, AUDIENCE.into(), None, Duration::ZERO).unwrap();
    // First validation: three attempts (with backoff), all failing.
    let error = validator.validate(&token).await.err().unwrap();
    assert!(matches!(error, AuthError::IssuerUnavailable(_)), "{error:?}");
    assert!(
        !error.is_client_error(),
        "our trouble, not the client's: a 5xx, not a 401"
    );
    assert_eq!(hits.load(Ordering::SeqCst), 3, "retried");
    // The fifth consecutive failure opens the circuit; after that the issuer is left alone.
    let _ = validator.validate(&token).await;
    assert_eq!(hits.load(Ordering::SeqCst), 5);
    for _ in 0..5 {
        let error = validator.validate(&token).await.err().unwrap();
        assert!(error.to_string().contains("circuit open"), "{error}");
    }
    assert_eq!(hits.load(Ordering::SeqCst), 5, "no calls while the circuit is open");
}
