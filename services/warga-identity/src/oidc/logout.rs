//! RP-initiated logout.

use super::*;

#[derive(Debug, Default, Deserialize)]
pub struct LogoutParams {
    id_token_hint: Option<String>,
    client_id: Option<String>,
    post_logout_redirect_uri: Option<String>,
    state: Option<String>,
    lang: Option<String>,
}

/// The client an ID token was issued to, checking its signature but not its expiry (a
/// logout may come long after the ID token expired).
pub(super) async fn hinted_client(state: &IdentityState, hint: &str) -> Option<String> {
    let header = jsonwebtoken::decode_header(hint).ok()?;
    let key = state.issuer.keyring.verify_key(header.kid.as_deref()?).await.ok()??;
    let mut validation = jsonwebtoken::Validation::new(key.algorithm);
    validation.validate_exp = false;
    validation.validate_aud = false;
    validation.set_issuer(&[state.issuer_url()]);
    validation.set_required_spec_claims(&["iss", "sub"]);
    let data = jsonwebtoken::decode::<serde_json::Value>(hint, &key.key, &validation).ok()?;
    data.claims.get("aud").and_then(|a| a.as_str()).map(str::to_owned)
}

pub async fn logout(
    State(state): State<IdentityState>,
    headers: HeaderMap,
    Query(params): Query<LogoutParams>,
) -> Response {
    let lang = Lang::from_param(params.lang.as_deref());
    let hinted = match &params.id_token_hint {
        Some(hint) => match hinted_client(&state, hint).await {
            Some(client) => Some(client),
            None => return pages::error_page(lang, "id_token_hint is not a token issued here"),
        },
        None => None,
    };
    let client_id = hinted.or(params.client_id.clone());
    let mut redirect = None;
    if let Some(uri) = &params.post_logout_redirect_uri {
        let registered = match &client_id {
            Some(id) => clients::find(state.store(), id)
                .await
                .ok()
                .flatten()
                .is_some_and(|c| c.has_post_logout_redirect_uri(uri)),
            None => false,
        };
        if !registered {
            return pages::error_page(lang, "post_logout_redirect_uri is not registered for this client");
        }
        redirect = Some(uri.clone());
    }
    if let Ok(Some((session_hash, account))) = current_session(&state, &headers).await {
        let now = state.now_ms();
        let ended: Result<(), StoreError> = async {
            let mut tx = state.store().begin().await?;
            sqlx::query("UPDATE identity_sessions SET revoked_at_ms = $1 WHERE id_hash = $2")
                .bind(now)
                .bind(&session_hash)
                .execute(tx.conn())
                .await?;
            sqlx::query("UPDATE identity_refresh_tokens SET revoked_at_ms = $1 WHERE session_hash = $2 AND revoked_at_ms IS NULL")
                .bind(now)
                .bind(&session_hash)
                .execute(tx.conn())
                .await?;
            tx.audit(&AuditRecord {
                actor: &format!("user:{}", account.id),
                action: "identity.logout",
                target: &format!("account:{}", account.id),
                outcome: Outcome::Success,
                details: None,
            })
            .await?;
            tx.commit().await
        }
        .await;
        if let Err(error) = ended {
            return ApiError::from(error).into_response();
        }
    }
    let mut response = match redirect {
        Some(uri) => {
            let target = match &params.state {
                Some(s) => with_query(&uri, &[("state", s.as_str())]),
                None => uri,
            };
            no_store(Redirect::to(&target).into_response())
        }
        None => {
            let body = format!("<h1>{}</h1>", pages::SIGNED_OUT.get(lang));
            pages::page(lang, pages::SIGNED_OUT.get(lang), &body, StatusCode::OK, None)
        }
    };
    response
        .headers_mut()
        .append(header::SET_COOKIE, set_cookie(SESSION_COOKIE, "", 0));
    response
}
