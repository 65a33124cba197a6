//! Open311 GeoReport v2 (R7): existing civic tools list JagaWarga's services, read public
//! reports and file new ones, in JSON or XML, at `/open311/v2/…`.
//!
//! - `GET services.{json,xml}`: the categories, each with `metadata=true`;
//! - `GET services/{code}.{fmt}`: a service definition — the attributes warga needs beyond
//!   the standard's fields: `district` (required: the kecamatan code), `title`, `visibility`;
//! - `GET requests.{fmt}`: public reports (`service_request_id`, `service_code`, `status`
//!   `open`/`closed`, `start_date`, `end_date`; the last 90 days by default, at most 1000);
//! - `GET requests/{id}.{fmt}`: one public report;
//! - `POST requests.{fmt}` (form-encoded): files a report for the citizen whose access token
//!   is the `api_key` (or the bearer token) — the same checks as `POST /api/v1/reports`:
//!   linked to a living resident, text scrubbed. The standard's personal fields (`email`,
//!   `first_name`, `last_name`, `phone`, `device_id`, `account_id`) are ignored, never
//!   stored: the account already says who reports. `media_url` is not fetched (a server
//!   fetching a caller's URL is a door into the intranet); photos are sent to the API.
//! - `GET tokens/{token}.{fmt}`: requests are created at once, so a token is the request's
//!   id.
//!
//! Errors follow the standard: a list of `{code, description}` (`<errors><error>…`), with
//! the HTTP status of the code; descriptions in Bahasa Indonesia.

use std::collections::HashMap;

use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use warga_core::identity::Principal;
use warga_http::{MaybeAuth, Platform};

use crate::attachments::Upload;
use crate::categories::{self, CATEGORIES};
use crate::error::ReportsError;
use crate::reports::{self, NewReport, OPEN_STATUSES, PublicFilter, ReportView, Visibility};

/// The answer's format, from the path's extension.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Format {
    Json,
    Xml,
}

/// `name.json` → (`name`, Json).
fn split(file: &str) -> Option<(&str, Format)> {
    let (name, ext) = file.rsplit_once('.')?;
    let format = match ext {
        "json" => Format::Json,
        "xml" => Format::Xml,
        _ => return None,
    };
    Some((name, format))
}

/// An Open311 error.
pub(crate) struct Failure {
    status: StatusCode,
    description: String,
    format: Format,
}

impl Failure {
    fn new(status: StatusCode, description: impl Into<String>, format: Format) -> Failure {
        Failure {
            status,
            description: description.into(),
            format,
        }
    }

    fn from_reports(error: ReportsError, format: Format) -> Failure {
        let (status, description) = match error {
            ReportsError::Invalid { field, detail } => (StatusCode::BAD_REQUEST, format!("{field}: {detail}")),
            ReportsError::Forbidden(message) => (StatusCode::FORBIDDEN, message),
            ReportsError::NotFound => (StatusCode::NOT_FOUND, "laporan tidak ditemukan".into()),
            ReportsError::Conflict(message) => (StatusCode::FORBIDDEN, message),
            ReportsError::TooMany(message) => (StatusCode::TOO_MANY_REQUESTS, message),
            other => {
                tracing::error!(error = %other, "open311 request failed");
                (StatusCode::INTERNAL_SERVER_ERROR, "kesalahan internal".into())
            }
        };
        Failure::new(status, description, format)
    }
}

impl IntoResponse for Failure {
    fn into_response(self) -> Response {
        let code = self.status.as_u16();
        let body = json!([{ "code": code, "description": self.description }]);
        let mut response = render(self.status, &body, self.format, "errors", "error");
        // The standard's error list, not a problem document.
        response.extensions_mut().insert(warga_http::ProtocolError);
        response
    }
}

/// A JSON value as the standard's JSON, or as its XML: `root` holding one `item` element per
/// entry of a list.
fn render(status: StatusCode, body: &Value, format: Format, root: &str, item: &str) -> Response {
    match format {
        Format::Json => (status, axum::Json(body)).into_response(),
        Format::Xml => {
            let mut xml = String::from("<?xml version=\"1.0\" encoding=\"utf-8\"?>");
            xml.push_str(&format!("<{root}>"));
            match body {
                Value::Array(items) => {
                    for entry in items {
                        element(&mut xml, item, entry);
                    }
                }
                other => {
                    if let Value::Object(fields) = other {
                        for (name, value) in fields {
                            element(&mut xml, name, value);
                        }
                    }
                }
            }
            xml.push_str(&format!("</{root}>"));
            (status, [(header::CONTENT_TYPE, "text/xml; charset=utf-8")], xml).into_response()
        }
    }
}

/// Singular element names for the standard's lists inside an element.
fn list_item(name: &str) -> &str {
    match name {
        "attributes" => "attribute",
        "values" => "value",
        _ => "item",
    }
}

fn element(out: &mut String, name: &str, value: &Value) {
    out.push_str(&format!("<{name}>"));
    match value {
        Value::Null => {}
        Value::String(text) => escape(out, text),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => out.push_str(&n.to_string()),
        Value::Array(items) => {
            for item in items {
                element(out, list_item(name), item);
            }
        }
        Value::Object(fields) => {
            for (child, v) in fields {
                element(out, child, v);
            }
        }
    }
    out.push_str(&format!("</{name}>"));
}

fn escape(out: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // Characters XML 1.0 cannot carry at all.
            c if (c as u32) < 0x20 && !matches!(c, '\n' | '\t' | '\r') => {}
            c => out.push(c),
        }
    }
}

/// ISO 8601 with the WIB offset, as the standard's datetimes.
fn datetime(ms: i64) -> String {
    let wib = time::UtcOffset::from_hms(7, 0, 0).unwrap_or(time::UtcOffset::UTC);
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .map(|t| t.to_offset(wib))
        .ok()
        .and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok())
        .unwrap_or_default()
}

fn parse_datetime(text: &str) -> Option<i64> {
    let t = time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339).ok()?;
    i64::try_from(t.unix_timestamp_nanos() / 1_000_000).ok()
}

fn service(category: &categories::Category) -> Value {
    json!({
        "service_code": category.id,
        "service_name": category.name,
        "description": format!("{} ({})", category.name, category.name_en),
        "metadata": true,
        "type": "realtime",
        "keywords": category.id.replace('-', ","),
        "group": categories::department_name(category.department),
    })
}

fn definition(category: &categories::Category) -> Value {
    json!({
        "service_code": category.id,
        "attributes": [
            {
                "variable": true, "code": "district", "datatype": "string", "required": true,
                "datatype_description": "Kode kecamatan, 6 angka (tabel wilayah Kemendagri), mis. 317107",
                "order": 1, "description": "Kecamatan lokasi masalah",
            },
            {
                "variable": true, "code": "title", "datatype": "string", "required": false,
                "datatype_description": "5 sampai 120 karakter; bila kosong diambil dari awal uraian",
                "order": 2, "description": "Judul laporan",
            },
            {
                "variable": true, "code": "visibility", "datatype": "singlevaluelist", "required": false,
                "datatype_description": "public (bawaan) atau private",
                "order": 3, "description": "Siapa yang dapat melihat laporan",
                "values": [{ "key": "public", "name": "Publik" }, { "key": "private", "name": "Privat" }],
            },
        ],
    })
}

fn request(platform: &Platform, report: &ReportView) -> Value {
    let open = OPEN_STATUSES.contains(&report.status.as_str());
    let notes = report
        .timeline
        .iter()
        .rev()
        .find_map(|step| step.note.clone())
        .unwrap_or_default();
    let media = report.photos.first().map(|p| {
        format!(
            "{}/api/v1/reports/{}/photos/{}",
            platform.public_url, report.id, p.number
        )
    });
    let service_name = categories::by_id(&report.category).map_or("", |c| c.name);
    json!({
        "service_request_id": report.id,
        "status": if open { "open" } else { "closed" },
        "status_notes": notes,
        "service_name": service_name,
        "service_code": report.category,
        "description": format!("{}\n\n{}", report.title, report.description),
        "agency_responsible": categories::department_name(&report.department),
        "service_notice": "",
        "requested_datetime": datetime(report.created_at_ms),
        "updated_datetime": datetime(report.updated_at_ms),
        "expected_datetime": Value::Null,
        "address": format!("Kecamatan {}", report.district),
        "address_id": report.district,
        "zipcode": Value::Null,
        "lat": report.latitude,
        "long": report.longitude,
        "media_url": media,
    })
}

/// `GET /open311/v2/{file}`: `services.{fmt}` or `requests.{fmt}`.
pub(crate) async fn get_collection(
    State(platform): State<Platform>,
    Path(file): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, Failure> {
    let (name, format) =
        split(&file).ok_or_else(|| Failure::new(StatusCode::NOT_FOUND, "format tidak dikenal", Format::Json))?;
    match name {
        "services" => {
            let list: Vec<Value> = CATEGORIES.iter().map(service).collect();
            Ok(render(
                StatusCode::OK,
                &Value::Array(list),
                format,
                "services",
                "service",
            ))
        }
        "requests" => list_requests(&platform, &query, format).await,
        _ => Err(Failure::new(StatusCode::NOT_FOUND, "sumber tidak dikenal", format)),
    }
}

async fn list_requests(
    platform: &Platform,
    query: &HashMap<String, String>,
    format: Format,
) -> Result<Response, Failure> {
    let bad = |text: &str| Failure::new(StatusCode::BAD_REQUEST, text, format);
    for key in query.keys() {
        if !matches!(
            key.as_str(),
            "service_request_id"
                | "service_code"
                | "status"
                | "start_date"
                | "end_date"
                | "jurisdiction_id"
                | "api_key"
        ) {
            return Err(bad(&format!("parameter tidak dikenal: {key}")));
        }
    }
    let now = platform.clock.now_ms();
    let to_ms = match query.get("end_date") {
        Some(text) => parse_datetime(text).ok_or_else(|| bad("end_date: bukan waktu ISO 8601"))?,
        None => now + 1,
    };
    let from_ms = match query.get("start_date") {
        Some(text) => parse_datetime(text).ok_or_else(|| bad("start_date: bukan waktu ISO 8601"))?,
        None => to_ms - 90 * 86_400_000,
    };
    let ids: Vec<String> = query
        .get("service_request_id")
        .map(|ids| {
            ids.split(',')
                .map(|s| s.trim().to_owned())
                .filter(|s| !s.is_empty())
                .collect()
        })
        .unwrap_or_default();
    if ids.len() > 100 {
        return Err(bad("service_request_id: paling banyak 100"));
    }
    let category = match query.get("service_code") {
        Some(code) if categories::by_id(code).is_none() => return Err(bad("service_code tidak dikenal")),
        other => other.cloned(),
    };
    let open = match query.get("status").map(String::as_str) {
        None | Some("") => None,
        Some("open") => Some(true),
        Some("closed") => Some(false),
        Some(_) => return Err(bad("status: open atau closed")),
    };
    let filter = PublicFilter {
        // A list of ids is answered whatever their dates.
        from_ms: if ids.is_empty() { from_ms } else { i64::MIN },
        to_ms: if ids.is_empty() { to_ms } else { i64::MAX },
        ids,
        category,
        open,
        limit: 1000,
    };
    let found = reports::public_reports(platform, &filter)
        .await
        .map_err(|e| Failure::from_reports(e, format))?;
    let list: Vec<Value> = found.iter().map(|r| request(platform, r)).collect();
    Ok(render(
        StatusCode::OK,
        &Value::Array(list),
        format,
        "service_requests",
        "request",
    ))
}

/// `GET /open311/v2/{collection}/{file}`: a service definition, a request, or a token.
pub(crate) async fn get_item(
    State(platform): State<Platform>,
    Path((collection, file)): Path<(String, String)>,
) -> Result<Response, Failure> {
    let (name, format) =
        split(&file).ok_or_else(|| Failure::new(StatusCode::NOT_FOUND, "format tidak dikenal", Format::Json))?;
    let not_found = |what: &str| Failure::new(StatusCode::NOT_FOUND, what, format);
    match collection.as_str() {
        "services" => {
            let category = categories::by_id(name).ok_or_else(|| not_found("layanan tidak dikenal"))?;
            Ok(render(
                StatusCode::OK,
                &definition(category),
                format,
                "service_definition",
                "attribute",
            ))
        }
        "requests" => {
            let filter = PublicFilter {
                ids: vec![name.to_owned()],
                from_ms: i64::MIN,
                to_ms: i64::MAX,
                limit: 1,
                ..PublicFilter::default()
            };
            let found = reports::public_reports(&platform, &filter)
                .await
                .map_err(|e| Failure::from_reports(e, format))?;
            let report = found.first().ok_or_else(|| not_found("laporan tidak ditemukan"))?;
            let list = Value::Array(vec![request(&platform, report)]);
            Ok(render(StatusCode::OK, &list, format, "service_requests", "request"))
        }
        "tokens" => {
            let filter = PublicFilter {
                ids: vec![name.to_owned()],
                from_ms: i64::MIN,
                to_ms: i64::MAX,
                limit: 1,
                ..PublicFilter::default()
            };
            let found = reports::public_reports(&platform, &filter)
                .await
                .map_err(|e| Failure::from_reports(e, format))?;
            let report = found.first().ok_or_else(|| not_found("token tidak dikenal"))?;
            let list = json!([{ "service_request_id": report.id, "token": report.id }]);
            Ok(render(StatusCode::OK, &list, format, "service_requests", "request"))
        }
        _ => Err(not_found("sumber tidak dikenal")),
    }
}

/// The caller: the `api_key` (a warga access token), or the request's bearer token.
async fn caller(
    platform: &Platform,
    api_key: Option<&String>,
    bearer: Option<Principal>,
    format: Format,
) -> Result<Principal, Failure> {
    match api_key.filter(|k| !k.is_empty()) {
        Some(key) => platform
            .auth
            .validator
            .validate(key)
            .await
            .map_err(|_| Failure::new(StatusCode::FORBIDDEN, "api_key tidak valid atau kedaluwarsa", format)),
        None => bearer.ok_or_else(|| {
            Failure::new(
                StatusCode::FORBIDDEN,
                "api_key wajib: token akses warga yang akunnya tertaut ke data kependudukan",
                format,
            )
        }),
    }
}

/// `POST /open311/v2/requests.{fmt}`: files a report.
pub(crate) async fn post_request(
    State(platform): State<Platform>,
    MaybeAuth(bearer): MaybeAuth,
    Path(file): Path<String>,
    form: Result<Form<HashMap<String, String>>, axum::extract::rejection::FormRejection>,
) -> Result<Response, Failure> {
    let (name, format) =
        split(&file).ok_or_else(|| Failure::new(StatusCode::NOT_FOUND, "format tidak dikenal", Format::Json))?;
    if name != "requests" {
        return Err(Failure::new(StatusCode::NOT_FOUND, "sumber tidak dikenal", format));
    }
    let Form(form) = form.map_err(|e| {
        Failure::new(
            StatusCode::BAD_REQUEST,
            format!("formulir tidak valid: {}", e.body_text()),
            format,
        )
    })?;
    let citizen = caller(&platform, form.get("api_key"), bearer, format).await?;
    let bad = |text: String| Failure::new(StatusCode::BAD_REQUEST, text, format);
    let required = |key: &str| {
        form.get(key)
            .map(|v| v.trim())
            .filter(|v| !v.is_empty())
            .ok_or_else(|| bad(format!("{key} wajib diisi")))
    };
    let service_code = required("service_code")?;
    let description = required("description")?;
    let latitude: f64 = required("lat")?.parse().map_err(|_| bad("lat: bukan angka".into()))?;
    let longitude: f64 = required("long")?.parse().map_err(|_| bad("long: bukan angka".into()))?;
    let district = required("attribute[district]")?;
    let title = match form.get("attribute[title]").map(|t| t.trim()).filter(|t| !t.is_empty()) {
        Some(title) => title.to_owned(),
        None => {
            let first_line = description.lines().next().unwrap_or(description);
            let mut title: String = first_line.chars().take(80).collect();
            if title.chars().count() < 5 {
                title = format!("Laporan: {title}");
            }
            title
        }
    };
    let visibility = match form.get("attribute[visibility]").map(String::as_str) {
        None | Some("") | Some("public") => Visibility::Public,
        Some("private") => Visibility::Private,
        Some(_) => return Err(bad("attribute[visibility]: public atau private".into())),
    };
    let new = NewReport {
        title,
        description: description.to_owned(),
        category: service_code.to_owned(),
        latitude,
        longitude,
        district: district.to_owned(),
        visibility,
    };
    let config = crate::settings(&platform);
    let submitted = reports::submit(&platform, &citizen, &new, Vec::<Upload>::new(), &config, None)
        .await
        .map_err(|e| Failure::from_reports(e, format))?;
    let body = json!([{
        "service_request_id": submitted.report.id,
        "service_notice": format!(
            "Diteruskan ke {}; diverifikasi dalam 3 hari kerja",
            categories::department_name(&submitted.report.department)
        ),
        "account_id": Value::Null,
    }]);
    Ok(render(
        StatusCode::CREATED,
        &body,
        format,
        "service_requests",
        "request",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xml_is_escaped_and_lists_are_singular() {
        let body = json!([{ "service_code": "a<b>&\"c\"", "attributes": [{ "code": "x" }], "n": 1.5, "ok": true }]);
        let mut xml = String::new();
        element(&mut xml, "service", &body[0]);
        assert_eq!(
            xml,
            "<service><attributes><attribute><code>x</code></attribute></attributes><n>1.5</n><ok>true</ok>\
             <service_code>a&lt;b&gt;&amp;&quot;c&quot;</service_code></service>"
        );
    }

    #[test]
    fn datetimes_are_iso_8601_in_wib() {
        assert_eq!(datetime(0), "1970-01-01T07:00:00+07:00");
        assert_eq!(parse_datetime("1970-01-01T07:00:00+07:00"), Some(0));
        assert_eq!(parse_datetime("2026-12-01T00:00:00Z"), Some(1_796_083_200_000));
        assert_eq!(parse_datetime("kemarin"), None);
        assert_eq!(split("requests.xml").map(|(n, _)| n), Some("requests"));
        assert!(split("requests.html").is_none());
    }
}
