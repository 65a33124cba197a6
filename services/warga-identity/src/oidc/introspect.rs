//! Revocation (RFC 7009), introspection (RFC 7662) and userinfo.

use super::*;

pub async fn revoke(
    State(state): State<IdentityState>,
    headers: HeaderMap,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let result: Result<Response, OAuthError> = async {
        let client = clients::authenticate(state.store(), &headers, &form).await?;
        let token = form
            .get("token")
            .ok_or_else(|| OAuthError::invalid_request("token is missing"))?;
        let now = state.now_ms();
        let mut tx = state.store().begin().await?;
        let refresh =
            sqlx::query("SELECT family_id, client_id, account_id FROM identity_refresh_tokens WHERE token_hash = $1")
                .bind(token_hash(token))
                .fetch_optional(tx.conn())
                .await
                .map_err(StoreError::from)?;
        if let Some(row) = refresh {
            if row.get::<String, _>(1) == client.client_id {
                revoke_family(&mut tx, &row.get::<String, _>(0), now).await?;
                tx.audit(&AuditRecord {
                    actor: &format!("client:{}", client.client_id),
                    action: "identity.token.revoke",
                    target: &format!("account:{}", row.get::<String, _>(2)),
                    outcome: Outcome::Success,
                    details: Some(serde_json::json!({ "token_type": "refresh_token" })),
                })
                .await?;
            }
        } else if let Ok(claims) = state.platform.auth.validator.validate_claims(token).await
            && claims.client_id.as_deref() == Some(client.client_id.as_str())
            && let Some(jti) = &claims.jti
        {
            state.issuer.revocations.revoke(&mut tx, jti, claims.exp).await?;
            tx.audit(&AuditRecord {
                actor: &format!("client:{}", client.client_id),
                action: "identity.token.revoke",
                target: &format!("account:{}", claims.sub),
                outcome: Outcome::Success,
                details: Some(serde_json::json!({ "token_type": "access_token" })),
            })
            .await?;
        }
        tx.commit().await?;
        // RFC 7009: an unknown or foreign token is answered like a revoked one.
        Ok(no_store(StatusCode::OK.into_response()))
    }
    .await;
    result.unwrap_or_else(IntoResponse::into_response)
}

pub async fn introspect(
    State(state): State<IdentityState>,
    headers: HeaderMap,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let result: Result<Response, OAuthError> = async {
        let client = clients::authenticate(state.store(), &headers, &form).await?;
        if !client.is_confidential() {
            return Err(OAuthError::invalid_client());
        }
        let token = form
            .get("token")
            .ok_or_else(|| OAuthError::invalid_request("token is missing"))?;
        if let Ok(claims) = state.platform.auth.validator.validate_claims(token).await {
            let roles: Vec<String> = claims.role_set().iter().map(|r| r.as_str().to_owned()).collect();
            return Ok(no_store(
                Json(serde_json::json!({
                    "active": true,
                    "token_type": "Bearer",
                    "iss": claims.iss, "sub": claims.sub, "aud": claims.aud, "exp": claims.exp, "iat": claims.iat,
                    "jti": claims.jti, "client_id": claims.client_id, "scope": claims.scope,
                    "username": claims.preferred_username, "roles": roles,
                }))
                .into_response(),
            ));
        }
        let row = sqlx::query(
            "SELECT client_id, account_id, scope, issued_at_ms, expires_at_ms FROM identity_refresh_tokens \
             WHERE token_hash = $1 AND revoked_at_ms IS NULL AND rotated_at_ms IS NULL AND expires_at_ms > $2",
        )
        .bind(token_hash(token))
        .bind(state.now_ms())
        .fetch_optional(state.store().reader())
        .await
        .map_err(StoreError::from)?;
        let body = match row {
            Some(row) => serde_json::json!({
                "active": true, "token_type": "refresh_token", "client_id": row.get::<String, _>(0),
                "sub": row.get::<String, _>(1), "scope": row.get::<String, _>(2),
                "iat": row.get::<i64, _>(3) / 1000, "exp": row.get::<i64, _>(4) / 1000, "iss": state.issuer_url(),
            }),
            None => serde_json::json!({ "active": false }),
        };
        Ok(no_store(Json(body).into_response()))
    }
    .await;
    result.unwrap_or_else(IntoResponse::into_response)
}

pub async fn userinfo(State(state): State<IdentityState>, auth: Auth) -> Result<Json<serde_json::Value>, ApiError> {
    let account = accounts::by_id(state.store().reader(), &auth.0.subject)
        .await?
        .filter(Account::is_active)
        .ok_or_else(|| ApiError::Unauthorized("the token's account is not active".into()))?;
    Ok(Json(serde_json::json!({
        "sub": account.id,
        "preferred_username": account.username,
        "name": account.display_name,
        "email": account.email,
        "roles": account.roles.iter().map(|r| r.as_str()).collect::<Vec<_>>(),
        "department": account.department_id,
        "officer_level": account.officer_level.map(|l| l.as_str()),
        "msp_id": account.msp_id,
        "facility": account.facility,
    })))
}
