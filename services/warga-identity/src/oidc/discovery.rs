//! Discovery, the JWKS and the provider pages' stylesheet.

use super::*;

pub async fn discovery(State(state): State<IdentityState>) -> Json<serde_json::Value> {
    let issuer = state.issuer_url();
    Json(serde_json::json!({
        "issuer": issuer,
        "authorization_endpoint": format!("{issuer}/oauth2/authorize"),
        "token_endpoint": format!("{issuer}/oauth2/token"),
        "jwks_uri": format!("{issuer}/oauth2/jwks"),
        "userinfo_endpoint": format!("{issuer}/oauth2/userinfo"),
        "revocation_endpoint": format!("{issuer}/oauth2/revoke"),
        "introspection_endpoint": format!("{issuer}/oauth2/introspect"),
        "end_session_endpoint": format!("{issuer}/oauth2/logout"),
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": [clients::GRANT_AUTHORIZATION_CODE, clients::GRANT_REFRESH_TOKEN, clients::GRANT_CLIENT_CREDENTIALS],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["ES256"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
        "revocation_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
        "introspection_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "code_challenge_methods_supported": ["S256"],
        "scopes_supported": SCOPES,
        "claims_supported": ["sub", "iss", "aud", "exp", "iat", "auth_time", "nonce", "preferred_username", "name", "email", "roles", "department", "officer_level", "msp_id", "facility"],
        "authorization_response_iss_parameter_supported": true,
        "ui_locales_supported": ["id", "en"],
    }))
}

pub async fn jwks(State(state): State<IdentityState>) -> Result<Response, ApiError> {
    let keys = state.issuer.keyring.jwks().await?;
    let mut response = Json(keys).into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=60"));
    Ok(response)
}

pub async fn stylesheet() -> Response {
    warga_http::web::stylesheet(pages::STYLESHEET)
}
