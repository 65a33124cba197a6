//! `/lupa-sandi`: a forgotten password recovered with a code sent by SMS, before sign-in.
//!
//! Step one asks for the username and, when the account has a recovery phone, texts a code
//! through the platform's SMS provider; the page says the same whether or not a code went
//! out. Step two takes the code and the new password. The forms carry the double-submit
//! CSRF token that pages before sign-in use.

use std::collections::HashMap;

use askama::Template;
use axum::Form;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use serde::Deserialize;
use warga_http::{ApiError, Platform};
use warga_identity::recovery;

use crate::{Context, FORM_COOKIE, Layout, Stop, context, page, random, see_other, set_cookie};

#[derive(Template)]
#[template(path = "forgot.html")]
struct ForgotPage {
    layout: Layout,
    form_csrf: String,
    /// Step two: the code was asked for this username.
    username: Option<String>,
    notice: Option<&'static str>,
    error_field: String,
    error_text: String,
}

fn forgot_page(
    context: &Context,
    username: Option<String>,
    notice: Option<&'static str>,
    error: Option<(String, String)>,
    status: StatusCode,
) -> Result<Response, Stop> {
    let form_csrf = random(24)?;
    let (error_field, error_text) = error.unwrap_or_default();
    let template = ForgotPage {
        layout: context.layout(),
        form_csrf: form_csrf.clone(),
        username,
        notice,
        error_field,
        error_text,
    };
    let mut response = page(context, &template, status);
    response
        .headers_mut()
        .append(header::SET_COOKIE, set_cookie(FORM_COOKIE, &form_csrf, 3_600));
    Ok(response)
}

pub async fn form(
    State(platform): State<Platform>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, Stop> {
    let context = context(&platform, &headers, &query).await?;
    forgot_page(&context, None, None, None, StatusCode::OK)
}

#[derive(Debug, Deserialize)]
pub struct AskForm {
    csrf: String,
    username: String,
}

/// Step one: texts a code when the account has a recovery phone; answers the same either way.
pub async fn ask(
    State(platform): State<Platform>,
    headers: HeaderMap,
    Form(form): Form<AskForm>,
) -> Result<Response, Stop> {
    let context = context(&platform, &headers, &HashMap::new()).await?;
    if !warga_http::web::double_submit_matches(&headers, FORM_COOKIE, &form.csrf) {
        let error = Some((String::new(), context.t("error.form").to_owned()));
        return forgot_page(&context, None, None, error, StatusCode::BAD_REQUEST);
    }
    if let Some(to_send) = recovery::begin(&platform, &form.username)
        .await
        .map_err(ApiError::from)?
    {
        send(&platform, &to_send).await?;
    }
    let username = form.username.trim().to_lowercase();
    forgot_page(
        &context,
        Some(username),
        Some(context.t("forgot.sent")),
        None,
        StatusCode::OK,
    )
}

/// Texts the code through the platform's SMS provider: a provider that keeps messages does so
/// in a transaction of its own; a remote one is called outside any.
async fn send(platform: &Platform, to_send: &recovery::CodeToSend) -> Result<(), ApiError> {
    let population = platform.config.section::<warga_population::config::PopulationConfig>();
    let provider = warga_population::notify::provider(&population.sms);
    let body = format!(
        "warga: kode pemulihan kata sandi Anda {}. Berlaku 10 menit. Jangan berikan kode ini kepada siapa pun.",
        to_send.code
    );
    let message_id = random(16)?;
    let sent = if provider.remote() {
        provider.send(None, &to_send.phone, &body, &message_id).await
    } else {
        let mut tx = platform.store.begin().await?;
        let sent = provider.send(Some(&mut tx), &to_send.phone, &body, &message_id).await;
        if sent.is_ok() {
            tx.commit().await?;
        }
        sent
    };
    sent.map_err(|error| ApiError::Unavailable(format!("the SMS could not be sent: {error}")))
}

#[derive(Debug, Deserialize)]
pub struct CodeForm {
    csrf: String,
    username: String,
    code: String,
    new_password: String,
    confirm: String,
}

/// Step two: the code and the new password.
pub async fn reset(
    State(platform): State<Platform>,
    headers: HeaderMap,
    Form(form): Form<CodeForm>,
) -> Result<Response, Stop> {
    let context = context(&platform, &headers, &HashMap::new()).await?;
    let username = Some(form.username.clone());
    let refuse = |field: &str, text: String| Some((field.to_owned(), text));
    let error = if !warga_http::web::double_submit_matches(&headers, FORM_COOKIE, &form.csrf) {
        refuse("", context.t("error.form").to_owned())
    } else if form.new_password != form.confirm {
        refuse("confirm", context.t("password.differ").to_owned())
    } else {
        match recovery::finish(&platform, &form.username, &form.code, &form.new_password).await {
            Ok(()) => return Ok(see_other("/?m=password-recovered")),
            Err(warga_identity::IdentityError::Invalid {
                field,
                detail,
                detail_id,
            }) => {
                let detail = detail_id
                    .filter(|_| context.lang == crate::i18n::Lang::Id)
                    .unwrap_or(detail);
                let text = match field.as_str() {
                    "code" => context.t("forgot.wrong_code").to_owned(),
                    _ => format!("{}: {detail}", context.t("password.weak")),
                };
                refuse(&field, text)
            }
            Err(other) => return Err(ApiError::from(other).into()),
        }
    };
    forgot_page(&context, username, None, error, StatusCode::BAD_REQUEST)
}
