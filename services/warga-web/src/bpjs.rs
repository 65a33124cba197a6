//! Screens of the BPJS ledger for people: the facility counter's card check (the answer a
//! receptionist needs in one glance — active or not, class, valid until) and a patient's
//! own card, visits and referrals. Both call the ledger service's library with the
//! signed-in account as its principal: the officer's check signs with their own ledger
//! identity, the patient's record is read by BPJS's patient portal and audited.

use std::collections::HashMap;

use askama::Template;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::get;
use axum::{Extension, Router};
use serde_json::Value;
use warga_core::identity::Role;
use warga_http::{ApiError, Platform};
use warga_ledger::access::Gateway;

use crate::i18n::Lang;
use crate::{Context, Layout, Stop, context, message, page, see_other};

pub(crate) fn router(platform: &Platform) -> Router<Platform> {
    Router::new()
        .route("/bpjs", get(counter))
        .route("/bpjs/saya", get(mine))
        .layer(Extension(Gateway::new(platform)))
}

/// A card as the screens show it.
struct CardView {
    nik: String,
    status: &'static str,
    /// Whether the card covers care today.
    usable: bool,
    class: String,
    valid_until: String,
    reason: String,
}

fn card_view(context: &Context, card: &Value) -> CardView {
    let status = card["status"].as_str().unwrap_or_default();
    CardView {
        nik: card["nik"].as_str().unwrap_or_default().to_owned(),
        status: match status {
            "active" => context.t("bpjs.active"),
            "suspended" => context.t("bpjs.suspended"),
            _ => context.t("bpjs.expired"),
        },
        usable: status == "active",
        class: card["class"].to_string(),
        valid_until: card["valid_until"].as_str().unwrap_or_default().to_owned(),
        reason: card["reason"].as_str().unwrap_or_default().to_owned(),
    }
}

fn forbidden(context: &Context) -> Stop {
    Stop::Page(Box::new(message(
        context,
        StatusCode::FORBIDDEN,
        context.t("error.role"),
    )))
}

#[derive(Template)]
#[template(path = "bpjs_counter.html")]
struct CounterPage {
    layout: Layout,
    nik: String,
    checked: bool,
    card: Option<CardView>,
    error_field: String,
    error_text: String,
}

/// The counter: a NIK in, the card's state out.
pub async fn counter(
    State(platform): State<Platform>,
    Extension(gateway): Extension<Gateway>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, Stop> {
    let context = context(&platform, &headers, &query).await?;
    let Some(session) = context.session.as_ref() else {
        return Ok(see_other("/masuk"));
    };
    if !session.account.roles.contains(&Role::LedgerMember) {
        if session.account.roles.contains(&Role::Citizen) {
            return Ok(see_other("/bpjs/saya"));
        }
        return Err(forbidden(&context));
    }
    let nik = query.get("nik").map(|n| n.trim().to_owned()).unwrap_or_default();
    let mut template = CounterPage {
        layout: context.layout(),
        nik: nik.clone(),
        checked: false,
        card: None,
        error_field: String::new(),
        error_text: String::new(),
    };
    if nik.is_empty() {
        return Ok(page(&context, &template, StatusCode::OK));
    }
    let principal = crate::reports::principal(&platform, session);
    match warga_ledger::portal::check_card(&gateway, &principal, &nik).await {
        Ok(card) => {
            template.checked = true;
            template.card = card.as_ref().map(|c| card_view(&context, c));
            Ok(page(&context, &template, StatusCode::OK))
        }
        Err(error @ ApiError::Validation { .. }) => {
            template.error_field = "nik".into();
            template.error_text = error.detail_in(context.lang == Lang::En);
            Ok(page(&context, &template, StatusCode::BAD_REQUEST))
        }
        Err(other) => Err(other.into()),
    }
}

#[derive(Template)]
#[template(path = "bpjs_mine.html")]
struct MinePage {
    layout: Layout,
    card: Option<CardView>,
    /// (day, facility, diagnosis)
    visits: Vec<(String, String, String)>,
    /// (from, to, reason, status)
    referrals: Vec<(String, String, String, &'static str)>,
}

/// A patient's own card, visits and referrals.
pub async fn mine(
    State(platform): State<Platform>,
    Extension(gateway): Extension<Gateway>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, Stop> {
    let context = context(&platform, &headers, &query).await?;
    let Some(session) = context.session.as_ref() else {
        return Ok(see_other("/masuk"));
    };
    if !session.account.roles.contains(&Role::Citizen) {
        return Err(forbidden(&context));
    }
    let principal = crate::reports::principal(&platform, session);
    let record = match warga_ledger::portal::my_record(&gateway, &principal).await {
        Ok(record) => record,
        Err(ApiError::NotFound(_)) => {
            return Ok(message(&context, StatusCode::NOT_FOUND, context.t("bpjs.not_linked")));
        }
        Err(other) => return Err(other.into()),
    };
    let text = |v: &Value, key: &str| v[key].as_str().unwrap_or_default().to_owned();
    let template = MinePage {
        layout: context.layout(),
        card: (!record.card.is_null()).then(|| card_view(&context, &record.card)),
        visits: record
            .visits
            .as_array()
            .map(|visits| {
                visits
                    .iter()
                    .map(|v| (text(v, "day"), text(v, "facility"), text(v, "diagnosis")))
                    .collect()
            })
            .unwrap_or_default(),
        referrals: record
            .referrals
            .as_array()
            .map(|referrals| {
                referrals
                    .iter()
                    .map(|r| {
                        let status = if r["status"] == "approved" {
                            context.t("bpjs.approved")
                        } else {
                            context.t("bpjs.pending")
                        };
                        (
                            text(r, "from_facility"),
                            text(r, "to_facility"),
                            text(r, "reason"),
                            status,
                        )
                    })
                    .collect()
            })
            .unwrap_or_default(),
    };
    Ok(page(&context, &template, StatusCode::OK))
}
