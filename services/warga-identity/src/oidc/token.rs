//! The token endpoint: authorization code, refresh token (rotated, with reuse
//! detection) and client credentials grants.

use super::*;

pub(super) fn pkce_matches(verifier: &str, challenge: &str) -> bool {
    let valid = (43..=128).contains(&verifier.len())
        && verifier
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'));
    if !valid {
        return false;
    }
    let digest = ring::digest::digest(&ring::digest::SHA256, verifier.as_bytes());
    let computed = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest.as_ref());
    warga_auth::constant_time_eq(computed.as_bytes(), challenge.as_bytes())
}

pub(super) fn user_claims(state: &IdentityState, account: &Account, client_id: &str, scope: &str) -> AccessClaims {
    AccessClaims {
        client_id: Some(client_id.to_owned()),
        scope: Some(scope.to_owned()),
        roles: account.roles.iter().map(|r| r.as_str().to_owned()).collect(),
        preferred_username: Some(account.username.clone()),
        department: account.department_id.clone(),
        officer_level: account.officer_level.map(|l| l.as_str().to_owned()),
        msp_id: account.msp_id.clone(),
        facility: account.facility.clone(),
        ..AccessClaims::new(account.id.clone(), &state.config().audience)
    }
}

pub(super) async fn id_token(
    state: &IdentityState,
    account: &Account,
    client_id: &str,
    nonce: Option<&str>,
    auth_time_ms: i64,
) -> Result<String, OAuthError> {
    let now = state.now_ms() / 1000;
    let mut claims = serde_json::json!({
        "iss": state.issuer_url(),
        "sub": account.id,
        "aud": client_id,
        "azp": client_id,
        "iat": now,
        "exp": now + state.config().id_token_ttl_s as i64,
        "auth_time": auth_time_ms / 1000,
        "preferred_username": account.username,
        "name": account.display_name,
        "roles": account.roles.iter().map(|r| r.as_str()).collect::<Vec<_>>(),
    });
    if let Some(nonce) = nonce {
        claims["nonce"] = nonce.into();
    }
    if let Some(email) = &account.email {
        claims["email"] = email.as_str().into();
    }
    Ok(state.issuer.minter.sign("JWT", &claims).await?)
}

pub(super) async fn token_response(
    state: &IdentityState,
    account: &Account,
    client: &Client,
    scope: &str,
    refresh_token: Option<&str>,
    nonce: Option<&str>,
    auth_time_ms: i64,
) -> Result<Response, OAuthError> {
    let ttl = state.config().access_token_ttl_s;
    let access = state
        .issuer
        .minter
        .access_token(user_claims(state, account, &client.client_id, scope), ttl)
        .await?;
    let mut body = serde_json::json!({
        "access_token": access.token,
        "token_type": "Bearer",
        "expires_in": ttl,
        "scope": scope,
    });
    if let Some(refresh) = refresh_token {
        body["refresh_token"] = refresh.into();
    }
    if scope.split(' ').any(|s| s == "openid") {
        body["id_token"] = id_token(state, account, &client.client_id, nonce, auth_time_ms)
            .await?
            .into();
    }
    Ok(no_store(Json(body).into_response()))
}

pub async fn token(
    State(state): State<IdentityState>,
    headers: HeaderMap,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let result = match form.get("grant_type").map(String::as_str) {
        Some(clients::GRANT_AUTHORIZATION_CODE) => authorization_code_grant(&state, &headers, &form).await,
        Some(clients::GRANT_REFRESH_TOKEN) => refresh_token_grant(&state, &headers, &form).await,
        Some(clients::GRANT_CLIENT_CREDENTIALS) => client_credentials_grant(&state, &headers, &form).await,
        Some(_) => Err(OAuthError::new(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            "unsupported grant_type",
        )),
        None => Err(OAuthError::invalid_request("grant_type is missing")),
    };
    result.unwrap_or_else(IntoResponse::into_response)
}

/// A redeemed authorization code.
pub struct Redeemed {
    pub account: Account,
    client: Client,
    scope: String,
    refresh: String,
    pub nonce: Option<String>,
    auth_time_ms: i64,
}

pub(super) async fn authorization_code_grant(
    state: &IdentityState,
    headers: &HeaderMap,
    form: &HashMap<String, String>,
) -> Result<Response, OAuthError> {
    let client = clients::authenticate(state.store(), headers, form).await?;
    let code = form
        .get("code")
        .ok_or_else(|| OAuthError::invalid_request("code is missing"))?;
    let verifier = form
        .get("code_verifier")
        .ok_or_else(|| OAuthError::invalid_request("code_verifier is missing (PKCE)"))?;
    let redirect_uri = form.get("redirect_uri").map(String::as_str).unwrap_or("");
    let r = redeem(state, client, code, verifier, redirect_uri).await?;
    token_response(
        state,
        &r.account,
        &r.client,
        &r.scope,
        Some(&r.refresh),
        r.nonce.as_deref(),
        r.auth_time_ms,
    )
    .await
}

/// Redeems a code for an authenticated `client`: single use, unexpired, same redirect URI,
/// PKCE verifier matching.
pub(super) async fn redeem(
    state: &IdentityState,
    client: Client,
    code: &str,
    verifier: &str,
    redirect_uri: &str,
) -> Result<Redeemed, OAuthError> {
    if !client.allows(clients::GRANT_AUTHORIZATION_CODE) {
        return Err(OAuthError::unauthorized_client(
            "this client may not use the authorization code grant",
        ));
    }
    let now = state.now_ms();
    let mut tx = state.store().begin().await?;
    let row = sqlx::query(
        "SELECT client_id, account_id, session_hash, redirect_uri, code_challenge, scope, nonce, auth_time_ms, \
         expires_at_ms, used_at_ms, family_id FROM identity_auth_codes WHERE code_hash = $1",
    )
    .bind(token_hash(code))
    .fetch_optional(tx.conn())
    .await
    .map_err(StoreError::from)?
    .ok_or_else(|| OAuthError::invalid_grant("unknown authorization code"))?;
    if row.get::<String, _>(0) != client.client_id {
        return Err(OAuthError::invalid_grant("the code was issued to another client"));
    }
    if row.get::<Option<i64>, _>(9).is_some() {
        // A code used twice: someone replays it. Revoke what the first use issued.
        if let Some(family) = row.get::<Option<String>, _>(10) {
            revoke_family(&mut tx, &family, now).await?;
        }
        tx.audit(&AuditRecord {
            actor: &format!("client:{}", client.client_id),
            action: "identity.code.replay",
            target: &format!("account:{}", row.get::<String, _>(1)),
            outcome: Outcome::Denied,
            details: None,
        })
        .await?;
        tx.commit().await?;
        return Err(OAuthError::invalid_grant("the authorization code was already used"));
    }
    if row.get::<i64, _>(8) <= now {
        return Err(OAuthError::invalid_grant("the authorization code has expired"));
    }
    if redirect_uri != row.get::<String, _>(3).as_str() {
        return Err(OAuthError::invalid_grant(
            "redirect_uri does not match the authorization request",
        ));
    }
    if !pkce_matches(verifier, &row.get::<String, _>(4)) {
        return Err(OAuthError::invalid_grant(
            "code_verifier does not match the code_challenge",
        ));
    }
    let account_id: String = row.get(1);
    let account = accounts::by_id(tx.conn(), &account_id)
        .await?
        .filter(Account::is_active)
        .ok_or_else(|| OAuthError::invalid_grant("the account is not active"))?;
    let family = uuid::Uuid::now_v7().hyphenated().to_string();
    sqlx::query("UPDATE identity_auth_codes SET used_at_ms = $1, family_id = $2 WHERE code_hash = $3")
        .bind(now)
        .bind(&family)
        .bind(token_hash(code))
        .execute(tx.conn())
        .await
        .map_err(StoreError::from)?;
    let scope: String = row.get(5);
    let session_hash: String = row.get(2);
    let refresh = insert_refresh(state, &mut tx, &family, &client, &account, Some(&session_hash), &scope).await?;
    audit_token(&mut tx, &account, &client, "identity.token.issue").await?;
    tx.commit().await?;
    Ok(Redeemed {
        account,
        client,
        scope,
        refresh,
        nonce: row.get(6),
        auth_time_ms: row.get(7),
    })
}

/// For a relying party in this process (the web UI): redeems `code` of the public client
/// `client_id` and returns the account and an ID token (the logout hint).
pub async fn redeem_in_process(
    platform: &Platform,
    client_id: &str,
    code: &str,
    verifier: &str,
    redirect_uri: &str,
) -> Result<(Account, String, Option<String>), String> {
    let issuer = platform
        .auth
        .local
        .clone()
        .ok_or("tokens come from an external issuer")?;
    let state = IdentityState {
        platform: platform.clone(),
        issuer,
        clock: platform.clock.clone(),
    };
    let client = clients::find(state.store(), client_id)
        .await
        .map_err(|e| e.to_string())?
        .filter(|c| !c.is_confidential())
        .ok_or("no such public client")?;
    let redeemed = redeem(&state, client, code, verifier, redirect_uri)
        .await
        .map_err(|e| e.description)?;
    let id_token = id_token(
        &state,
        &redeemed.account,
        client_id,
        redeemed.nonce.as_deref(),
        redeemed.auth_time_ms,
    )
    .await
    .map_err(|e| e.description)?;
    Ok((redeemed.account, id_token, redeemed.nonce))
}

pub(super) async fn insert_refresh(
    state: &IdentityState,
    tx: &mut warga_store::Tx,
    family: &str,
    client: &Client,
    account: &Account,
    session_hash: Option<&str>,
    scope: &str,
) -> Result<String, OAuthError> {
    let token = warga_auth::random_token(32)?;
    let now = state.now_ms();
    sqlx::query(
        "INSERT INTO identity_refresh_tokens (token_hash, family_id, client_id, account_id, session_hash, scope, \
         issued_at_ms, expires_at_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(token_hash(&token))
    .bind(family)
    .bind(&client.client_id)
    .bind(&account.id)
    .bind(session_hash)
    .bind(scope)
    .bind(now)
    .bind(now + state.config().refresh_token_ttl_s as i64 * 1000)
    .execute(tx.conn())
    .await
    .map_err(StoreError::from)?;
    Ok(token)
}

pub(super) async fn revoke_family(tx: &mut warga_store::Tx, family: &str, now: i64) -> Result<(), StoreError> {
    sqlx::query("UPDATE identity_refresh_tokens SET revoked_at_ms = $1 WHERE family_id = $2 AND revoked_at_ms IS NULL")
        .bind(now)
        .bind(family)
        .execute(tx.conn())
        .await?;
    Ok(())
}

pub(super) async fn audit_token(
    tx: &mut warga_store::Tx,
    account: &Account,
    client: &Client,
    action: &str,
) -> Result<(), StoreError> {
    tx.audit(&AuditRecord {
        actor: &format!("user:{}", account.id),
        action,
        target: &format!("client:{}", client.client_id),
        outcome: Outcome::Success,
        details: None,
    })
    .await
}

pub(super) async fn refresh_token_grant(
    state: &IdentityState,
    headers: &HeaderMap,
    form: &HashMap<String, String>,
) -> Result<Response, OAuthError> {
    let client = clients::authenticate(state.store(), headers, form).await?;
    if !client.allows(clients::GRANT_REFRESH_TOKEN) {
        return Err(OAuthError::unauthorized_client(
            "this client may not use refresh tokens",
        ));
    }
    let presented = form
        .get("refresh_token")
        .ok_or_else(|| OAuthError::invalid_request("refresh_token is missing"))?;
    let now = state.now_ms();
    let mut tx = state.store().begin().await?;
    let row = sqlx::query(
        "SELECT family_id, client_id, account_id, session_hash, scope, expires_at_ms, rotated_at_ms, revoked_at_ms \
         FROM identity_refresh_tokens WHERE token_hash = $1",
    )
    .bind(token_hash(presented))
    .fetch_optional(tx.conn())
    .await
    .map_err(StoreError::from)?
    .ok_or_else(|| OAuthError::invalid_grant("unknown refresh token"))?;
    let family: String = row.get(0);
    if row.get::<String, _>(1) != client.client_id {
        return Err(OAuthError::invalid_grant(
            "the refresh token was issued to another client",
        ));
    }
    if row.get::<Option<i64>, _>(7).is_some() {
        return Err(OAuthError::invalid_grant("the refresh token has been revoked"));
    }
    if row.get::<Option<i64>, _>(6).is_some() {
        // Reuse of a rotated token: it leaked. Revoke the whole family.
        revoke_family(&mut tx, &family, now).await?;
        tx.audit(&AuditRecord {
            actor: &format!("client:{}", client.client_id),
            action: "identity.refresh.reuse_detected",
            target: &format!("account:{}", row.get::<String, _>(2)),
            outcome: Outcome::Denied,
            details: None,
        })
        .await?;
        tx.commit().await?;
        return Err(OAuthError::invalid_grant(
            "the refresh token was already used; its family is revoked",
        ));
    }
    if row.get::<i64, _>(5) <= now {
        return Err(OAuthError::invalid_grant("the refresh token has expired"));
    }
    let account = accounts::by_id(tx.conn(), &row.get::<String, _>(2))
        .await?
        .filter(Account::is_active)
        .ok_or_else(|| OAuthError::invalid_grant("the account is not active"))?;
    let rotated = sqlx::query(
        "UPDATE identity_refresh_tokens SET rotated_at_ms = $1 WHERE token_hash = $2 AND rotated_at_ms IS NULL",
    )
    .bind(now)
    .bind(token_hash(presented))
    .execute(tx.conn())
    .await
    .map_err(StoreError::from)?
    .rows_affected();
    if rotated != 1 {
        return Err(OAuthError::invalid_grant("the refresh token was used concurrently"));
    }
    let scope: String = row.get(4);
    let session_hash: Option<String> = row.get(3);
    let next = insert_refresh(
        state,
        &mut tx,
        &family,
        &client,
        &account,
        session_hash.as_deref(),
        &scope,
    )
    .await?;
    audit_token(&mut tx, &account, &client, "identity.token.refresh").await?;
    tx.commit().await?;
    token_response(state, &account, &client, &scope, Some(&next), None, now).await
}

pub(super) async fn client_credentials_grant(
    state: &IdentityState,
    headers: &HeaderMap,
    form: &HashMap<String, String>,
) -> Result<Response, OAuthError> {
    let client = clients::authenticate(state.store(), headers, form).await?;
    if !client.is_confidential() || !client.allows(clients::GRANT_CLIENT_CREDENTIALS) {
        return Err(OAuthError::unauthorized_client(
            "this client may not use client credentials",
        ));
    }
    let mut roles: Vec<String> = client.service_roles.iter().map(|r| r.as_str().to_owned()).collect();
    roles.push(Role::Service.as_str().to_owned());
    let claims = AccessClaims {
        client_id: Some(client.client_id.clone()),
        scope: form.get("scope").cloned(),
        roles,
        ..AccessClaims::new(client.client_id.clone(), &state.config().audience)
    };
    let ttl = state.config().access_token_ttl_s;
    let access = state.issuer.minter.access_token(claims, ttl).await?;
    Ok(no_store(
        Json(serde_json::json!({ "access_token": access.token, "token_type": "Bearer", "expires_in": ttl }))
            .into_response(),
    ))
}
