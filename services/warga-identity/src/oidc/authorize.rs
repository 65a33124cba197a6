//! The authorization endpoint: the sign-in page, password changes forced at first
//! sign-in, and authorization codes bound to PKCE.

use super::*;

#[derive(Clone, Debug, Default, Deserialize)]
pub struct AuthorizeParams {
    response_type: Option<String>,
    client_id: Option<String>,
    redirect_uri: Option<String>,
    scope: Option<String>,
    state: Option<String>,
    nonce: Option<String>,
    code_challenge: Option<String>,
    code_challenge_method: Option<String>,
    prompt: Option<String>,
    lang: Option<String>,
    ui_locales: Option<String>,
}

impl AuthorizeParams {
    fn lang(&self) -> Lang {
        let ui = self.ui_locales.as_deref().and_then(|l| l.split(' ').next());
        Lang::from_param(self.lang.as_deref().or(ui))
    }
}

#[derive(Debug, Deserialize)]
pub struct LoginForm {
    #[serde(flatten)]
    params: AuthorizeParams,
    username: String,
    password: String,
    csrf: String,
}

/// A request that passed the checks which decide whether redirecting is safe.
pub(super) struct Checked {
    client: Client,
    redirect_uri: String,
    scope: String,
    code_challenge: String,
}

pub(super) enum Refusal {
    /// The client or redirect URI is wrong: never redirect, show a page.
    Page(Response),
    /// Tell the client, at its redirect URI.
    Redirect(Response),
}

pub(super) fn with_query(base: &str, pairs: &[(&str, &str)]) -> String {
    let query = serde_urlencoded::to_string(pairs).unwrap_or_default();
    let separator = if base.contains('?') { '&' } else { '?' };
    format!("{base}{separator}{query}")
}

pub(super) fn redirect_error(
    state: &IdentityState,
    redirect_uri: &str,
    error: &str,
    description: &str,
    client_state: Option<&str>,
) -> Response {
    let mut pairs = vec![
        ("error", error),
        ("error_description", description),
        ("iss", state.issuer_url()),
    ];
    if let Some(s) = client_state {
        pairs.push(("state", s));
    }
    no_store(Redirect::to(&with_query(redirect_uri, &pairs)).into_response())
}

pub(super) async fn check_authorize(state: &IdentityState, params: &AuthorizeParams) -> Result<Checked, Refusal> {
    let lang = params.lang();
    let Some(client_id) = params.client_id.as_deref() else {
        return Err(Refusal::Page(pages::error_page(lang, "client_id is missing")));
    };
    let client = match clients::find(state.store(), client_id).await {
        Ok(Some(client)) => client,
        Ok(None) => return Err(Refusal::Page(pages::error_page(lang, "unknown client_id"))),
        Err(error) => return Err(Refusal::Page(ApiError::from(error).into_response())),
    };
    let redirect_uri = match params.redirect_uri.as_deref() {
        Some(uri) if client.has_redirect_uri(uri) => uri.to_owned(),
        _ => {
            return Err(Refusal::Page(pages::error_page(
                lang,
                "redirect_uri is not registered for this client",
            )));
        }
    };
    let error = |code: &str, text: &str| {
        Refusal::Redirect(redirect_error(
            state,
            &redirect_uri,
            code,
            text,
            params.state.as_deref(),
        ))
    };
    if !client.allows(clients::GRANT_AUTHORIZATION_CODE) {
        return Err(error(
            "unauthorized_client",
            "this client may not use the authorization code grant",
        ));
    }
    if params.response_type.as_deref() != Some("code") {
        return Err(error(
            "unsupported_response_type",
            "only response_type=code is supported",
        ));
    }
    if params.code_challenge_method.as_deref() != Some("S256") {
        return Err(error(
            "invalid_request",
            "PKCE with code_challenge_method=S256 is required",
        ));
    }
    let challenge = params.code_challenge.clone().unwrap_or_default();
    let challenge_ok = challenge.len() == 43
        && challenge
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if !challenge_ok {
        return Err(error(
            "invalid_request",
            "code_challenge must be a base64url SHA-256 (43 characters)",
        ));
    }
    let scope: Vec<&str> = params
        .scope
        .as_deref()
        .unwrap_or("openid")
        .split(' ')
        .filter(|s| SCOPES.contains(s))
        .collect();
    if params.nonce.as_deref().is_some_and(|n| n.len() > 512)
        || params.state.as_deref().is_some_and(|s| s.len() > 2_048)
    {
        return Err(error("invalid_request", "state or nonce too long"));
    }
    Ok(Checked {
        client,
        redirect_uri,
        scope: scope.join(" "),
        code_challenge: challenge,
    })
}

/// The authorization request's parameters as hidden form fields.
pub(super) fn hidden_fields(params: &AuthorizeParams) -> String {
    let lang = params.lang();
    [
        ("response_type", params.response_type.as_deref()),
        ("client_id", params.client_id.as_deref()),
        ("redirect_uri", params.redirect_uri.as_deref()),
        ("scope", params.scope.as_deref()),
        ("state", params.state.as_deref()),
        ("nonce", params.nonce.as_deref()),
        ("code_challenge", params.code_challenge.as_deref()),
        ("code_challenge_method", params.code_challenge_method.as_deref()),
        ("lang", Some(lang.code())),
    ]
    .iter()
    .filter_map(|(name, value)| {
        value.map(|v| format!("<input type=\"hidden\" name=\"{name}\" value=\"{}\">", escape(v)))
    })
    .collect()
}

/// What a form of the provider's pages posts with: the authorization request is checked
/// again, then the CSRF token, then the credentials (with brute-force protection). `Err` is
/// the page to show instead.
pub(super) async fn sign_in_from_form(
    state: &IdentityState,
    client: std::net::IpAddr,
    headers: &HeaderMap,
    params: &AuthorizeParams,
    csrf: &str,
    username: &str,
    password: &str,
) -> Result<(Checked, String, Account), Box<Response>> {
    let lang = params.lang();
    let checked = match check_authorize(state, params).await {
        Ok(checked) => checked,
        Err(Refusal::Page(response) | Refusal::Redirect(response)) => return Err(Box::new(response)),
    };
    let fresh_csrf = warga_auth::random_token(24).unwrap_or_default();
    let page = |message: &pages::Text, status| {
        Box::new(login_page(
            params,
            &checked.client,
            &checked.redirect_uri,
            &fresh_csrf,
            Some(message.get(lang)),
            status,
        ))
    };
    let csrf_ok = warga_http::web::double_submit_matches(headers, CSRF_COOKIE, csrf);
    if !csrf_ok {
        return Err(page(&pages::FORM_EXPIRED, StatusCode::BAD_REQUEST));
    }
    let outcome = lockout::sign_in(
        state.store(),
        state.config(),
        state.clock.as_ref(),
        username,
        password,
        client,
    )
    .await;
    match outcome {
        Ok(Ok(account)) => Ok((checked, fresh_csrf, account)),
        Ok(Err(LoginFailure::InvalidCredentials)) => Err(page(&pages::INVALID_CREDENTIALS, StatusCode::UNAUTHORIZED)),
        Ok(Err(LoginFailure::AccountLocked | LoginFailure::AddressLocked)) => {
            Err(page(&pages::LOCKED, StatusCode::TOO_MANY_REQUESTS))
        }
        Ok(Err(LoginFailure::Disabled)) => Err(page(&pages::DISABLED, StatusCode::FORBIDDEN)),
        Err(error) => Err(Box::new(ApiError::from(error).into_response())),
    }
}

/// Asks an account that signed in with a one-time password for a new one.
pub(super) fn change_password_page(
    params: &AuthorizeParams,
    redirect_uri: &str,
    csrf: &str,
    username: &str,
    message: Option<&str>,
    status: StatusCode,
) -> Response {
    let lang = params.lang();
    let hidden = hidden_fields(params);
    let error = message
        .map(|m| format!("<p class=\"error\" role=\"alert\">{}</p>", escape(m)))
        .unwrap_or_default();
    let body = format!(
        "<h1>{title}</h1><p>{why}</p>{error}\
         <form method=\"post\" action=\"/oauth2/password\">{hidden}\
         <input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\
         <input type=\"hidden\" name=\"username\" value=\"{username}\">\
         <label for=\"password\">{current}</label><input type=\"password\" id=\"password\" name=\"password\" autocomplete=\"current-password\" required>\
         <label for=\"new_password\">{new}</label><input type=\"password\" id=\"new_password\" name=\"new_password\" autocomplete=\"new-password\" minlength=\"10\" required>\
         <label for=\"confirm\">{confirm}</label><input type=\"password\" id=\"confirm\" name=\"confirm\" autocomplete=\"new-password\" minlength=\"10\" required>\
         <button type=\"submit\">{submit}</button></form>",
        title = pages::CHANGE_PASSWORD.get(lang),
        why = pages::CHANGE_PASSWORD_WHY.get(lang),
        csrf = escape(csrf),
        username = escape(username),
        current = pages::CURRENT_PASSWORD.get(lang),
        new = pages::NEW_PASSWORD.get(lang),
        confirm = pages::CONFIRM_PASSWORD.get(lang),
        submit = pages::SAVE_AND_CONTINUE.get(lang),
    );
    let mut response = pages::page(
        lang,
        pages::CHANGE_PASSWORD.get(lang),
        &body,
        status,
        pages::origin(redirect_uri).as_deref(),
    );
    response
        .headers_mut()
        .append(header::SET_COOKIE, set_cookie(CSRF_COOKIE, csrf, 3_600));
    response
}

#[derive(Debug, Deserialize)]
pub struct PasswordChangeForm {
    #[serde(flatten)]
    params: AuthorizeParams,
    username: String,
    password: String,
    new_password: String,
    confirm: String,
    csrf: String,
}

/// Sets a new password in place of a one-time one, then completes the sign-in.
pub async fn change_password(
    State(state): State<IdentityState>,
    axum::Extension(ClientAddr(client)): axum::Extension<ClientAddr>,
    headers: HeaderMap,
    Form(form): Form<PasswordChangeForm>,
) -> Response {
    let params = &form.params;
    let lang = params.lang();
    let (checked, fresh_csrf, account) = match sign_in_from_form(
        &state,
        client,
        &headers,
        params,
        &form.csrf,
        &form.username,
        &form.password,
    )
    .await
    {
        Ok(signed_in) => signed_in,
        Err(page) => return *page,
    };
    let refuse = |message: String| {
        change_password_page(
            params,
            &checked.redirect_uri,
            &fresh_csrf,
            &account.username,
            Some(&message),
            StatusCode::BAD_REQUEST,
        )
    };
    if form.new_password != form.confirm {
        return refuse(pages::PASSWORDS_DIFFER.get(lang).to_owned());
    }
    if form.new_password == form.password {
        return refuse(pages::SAME_PASSWORD.get(lang).to_owned());
    }
    if let Err(error) = crate::password::check_policy(&form.new_password, &account.username) {
        let why = match lang {
            pages::Lang::Id => error.text_id(),
            pages::Lang::En => error.to_string(),
        };
        return refuse(format!("{}: {why}", pages::NEW_PASSWORD.get(lang)));
    }
    let changed: Result<(), ApiError> = async {
        let hash = crate::password::hash(form.new_password.clone()).await.map_err(|e| ApiError::internal(e.to_string()))?;
        let mut tx = state.store().begin().await?;
        sqlx::query("UPDATE identity_accounts SET password_hash = $1, must_change_password = 0, updated_at_ms = $2 WHERE id = $3")
            .bind(hash)
            .bind(state.now_ms())
            .bind(&account.id)
            .execute(tx.conn())
            .await
            .map_err(StoreError::from)?;
        tx.audit(&AuditRecord {
            actor: &format!("user:{}", account.id),
            action: "identity.password.change",
            target: &format!("account:{}", account.id),
            outcome: Outcome::Success,
            details: None,
        })
        .await?;
        tx.commit().await?;
        Ok(())
    }
    .await;
    if let Err(error) = changed {
        return error.into_response();
    }
    complete_sign_in(&state, &checked, params, &account).await
}

/// Opens the provider session and sends the browser back to the client with a code.
pub(super) async fn complete_sign_in(
    state: &IdentityState,
    checked: &Checked,
    params: &AuthorizeParams,
    account: &Account,
) -> Response {
    let session = match create_session(state, account).await {
        Ok(session) => session,
        Err(error) => return error.into_response(),
    };
    let mut response = issue_code(state, checked, params, account, &token_hash(&session)).await;
    let max_age = state.config().session_ttl_s as i64;
    response
        .headers_mut()
        .append(header::SET_COOKIE, set_cookie(SESSION_COOKIE, &session, max_age));
    response
        .headers_mut()
        .append(header::SET_COOKIE, set_cookie(CSRF_COOKIE, "", 0));
    response
}

pub(super) fn login_page(
    params: &AuthorizeParams,
    client: &Client,
    redirect_uri: &str,
    csrf: &str,
    message: Option<&str>,
    status: StatusCode,
) -> Response {
    let lang = params.lang();
    let hidden = hidden_fields(params);
    let error = message
        .map(|m| format!("<p class=\"error\" role=\"alert\">{}</p>", escape(m)))
        .unwrap_or_default();
    let body = format!(
        "<h1>{title}</h1><p>{for_} <strong>{client}</strong></p>{error}\
         <form method=\"post\" action=\"/oauth2/authorize\">{hidden}\
         <input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\
         <label for=\"username\">{user}</label><input type=\"text\" id=\"username\" name=\"username\" autocomplete=\"username\" required autofocus>\
         <label for=\"password\">{pass}</label><input type=\"password\" id=\"password\" name=\"password\" autocomplete=\"current-password\" required>\
         <button type=\"submit\">{submit}</button></form>\
         <p><a href=\"/lupa-sandi\">{forgot}</a></p>\
         <p>{no_account} <a href=\"/daftar\">{sign_up}</a></p>",
        forgot = pages::FORGOT.get(lang),
        no_account = pages::NO_ACCOUNT.get(lang),
        sign_up = pages::SIGN_UP.get(lang),
        title = pages::SIGN_IN.get(lang),
        for_ = pages::SIGNING_IN_FOR.get(lang),
        client = escape(&client.name),
        user = pages::USERNAME.get(lang),
        pass = pages::PASSWORD.get(lang),
        submit = pages::SUBMIT.get(lang),
        csrf = escape(csrf),
    );
    let mut response = pages::page(
        lang,
        pages::SIGN_IN.get(lang),
        &body,
        status,
        pages::origin(redirect_uri).as_deref(),
    );
    response
        .headers_mut()
        .append(header::SET_COOKIE, set_cookie(CSRF_COOKIE, csrf, 3_600));
    response
}

pub async fn authorize_get(
    State(state): State<IdentityState>,
    headers: HeaderMap,
    Query(params): Query<AuthorizeParams>,
) -> Response {
    let checked = match check_authorize(&state, &params).await {
        Ok(checked) => checked,
        Err(Refusal::Page(response) | Refusal::Redirect(response)) => return response,
    };
    let prompt = params.prompt.as_deref().unwrap_or("");
    if prompt != "login" {
        match current_session(&state, &headers).await {
            Ok(Some((session_hash, account))) => {
                return issue_code(&state, &checked, &params, &account, &session_hash).await;
            }
            Ok(None) => {}
            Err(error) => return ApiError::from(error).into_response(),
        }
    }
    if prompt == "none" {
        return redirect_error(
            &state,
            &checked.redirect_uri,
            "login_required",
            "no session",
            params.state.as_deref(),
        );
    }
    let csrf = match warga_auth::random_token(24) {
        Ok(token) => token,
        Err(error) => return ApiError::from(error).into_response(),
    };
    login_page(
        &params,
        &checked.client,
        &checked.redirect_uri,
        &csrf,
        None,
        StatusCode::OK,
    )
}

pub async fn authorize_post(
    State(state): State<IdentityState>,
    axum::Extension(ClientAddr(client)): axum::Extension<ClientAddr>,
    headers: HeaderMap,
    Form(form): Form<LoginForm>,
) -> Response {
    let params = &form.params;
    let (checked, fresh_csrf, account) = match sign_in_from_form(
        &state,
        client,
        &headers,
        params,
        &form.csrf,
        &form.username,
        &form.password,
    )
    .await
    {
        Ok(signed_in) => signed_in,
        Err(page) => return *page,
    };
    if account.must_change_password {
        return change_password_page(
            params,
            &checked.redirect_uri,
            &fresh_csrf,
            &account.username,
            None,
            StatusCode::OK,
        );
    }
    complete_sign_in(&state, &checked, params, &account).await
}

/// Signs a just-created account in at the provider, for a page of the same deployment (the
/// web UI's sign-up): a provider session, returned as the `Set-Cookie` value to send. The
/// browser then completes an ordinary authorization request without being asked again.
pub async fn sign_in_created_account(platform: &Platform, account: &Account) -> Result<HeaderValue, ApiError> {
    let issuer = platform
        .auth
        .local
        .clone()
        .ok_or_else(|| ApiError::internal("tokens come from an external issuer"))?;
    let state = IdentityState {
        platform: platform.clone(),
        issuer,
        clock: platform.clock.clone(),
    };
    let session = create_session(&state, account).await?;
    Ok(warga_http::web::set_cookie(
        SESSION_COOKIE,
        &session,
        state.config().session_ttl_s as i64,
    ))
}

pub(super) async fn create_session(state: &IdentityState, account: &Account) -> Result<String, ApiError> {
    let session = warga_auth::random_token(32)?;
    let now = state.now_ms();
    let mut tx = state.store().begin().await?;
    sqlx::query(
        "INSERT INTO identity_sessions (id_hash, account_id, created_at_ms, expires_at_ms) VALUES ($1, $2, $3, $4)",
    )
    .bind(token_hash(&session))
    .bind(&account.id)
    .bind(now)
    .bind(now + state.config().session_ttl_s as i64 * 1000)
    .execute(tx.conn())
    .await
    .map_err(StoreError::from)?;
    tx.audit(&AuditRecord {
        actor: &format!("user:{}", account.id),
        action: "identity.login",
        target: &format!("account:{}", account.id),
        outcome: Outcome::Success,
        details: None,
    })
    .await?;
    tx.commit().await?;
    Ok(session)
}

pub(super) async fn issue_code(
    state: &IdentityState,
    checked: &Checked,
    params: &AuthorizeParams,
    account: &Account,
    session_hash: &str,
) -> Response {
    let result: Result<String, ApiError> = async {
        let code = warga_auth::random_token(32)?;
        let now = state.now_ms();
        let mut tx = state.store().begin().await?;
        sqlx::query(
            "INSERT INTO identity_auth_codes (code_hash, client_id, account_id, session_hash, redirect_uri, code_challenge, \
             scope, nonce, auth_time_ms, expires_at_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(token_hash(&code))
        .bind(&checked.client.client_id)
        .bind(&account.id)
        .bind(session_hash)
        .bind(&checked.redirect_uri)
        .bind(&checked.code_challenge)
        .bind(&checked.scope)
        .bind(params.nonce.as_deref())
        .bind(now)
        .bind(now + state.config().authorization_code_ttl_s as i64 * 1000)
        .execute(tx.conn())
        .await
        .map_err(StoreError::from)?;
        tx.commit().await?;
        Ok(code)
    }
    .await;
    match result {
        Ok(code) => {
            let mut pairs = vec![("code", code.as_str()), ("iss", state.issuer_url())];
            if let Some(s) = params.state.as_deref() {
                pairs.push(("state", s));
            }
            no_store(Redirect::to(&with_query(&checked.redirect_uri, &pairs)).into_response())
        }
        Err(error) => error.into_response(),
    }
}
