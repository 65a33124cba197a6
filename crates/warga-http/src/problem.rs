//! Errors as RFC 9457 problem documents with stable `type` URIs.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use warga_store::StoreError;

pub const PROBLEM_CONTENT_TYPE: &str = "application/problem+json";

/// The catalogue of problem types. The `type` URIs are part of the API: never rename one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProblemType {
    BadRequest,
    InvalidJson,
    Validation,
    Unauthorized,
    Forbidden,
    NotFound,
    MethodNotAllowed,
    RequestTimeout,
    Conflict,
    PayloadTooLarge,
    UnsupportedMediaType,
    RateLimited,
    Internal,
    Unavailable,
}

impl ProblemType {
    pub fn uri(self) -> &'static str {
        match self {
            ProblemType::BadRequest => "urn:warga:problem:bad-request",
            ProblemType::InvalidJson => "urn:warga:problem:invalid-json",
            ProblemType::Validation => "urn:warga:problem:validation",
            ProblemType::Unauthorized => "urn:warga:problem:unauthorized",
            ProblemType::Forbidden => "urn:warga:problem:forbidden",
            ProblemType::NotFound => "urn:warga:problem:not-found",
            ProblemType::MethodNotAllowed => "urn:warga:problem:method-not-allowed",
            ProblemType::RequestTimeout => "urn:warga:problem:request-timeout",
            ProblemType::Conflict => "urn:warga:problem:conflict",
            ProblemType::PayloadTooLarge => "urn:warga:problem:payload-too-large",
            ProblemType::UnsupportedMediaType => "urn:warga:problem:unsupported-media-type",
            ProblemType::RateLimited => "urn:warga:problem:rate-limited",
            ProblemType::Internal => "urn:warga:problem:internal",
            ProblemType::Unavailable => "urn:warga:problem:unavailable",
        }
    }

    pub fn status(self) -> StatusCode {
        match self {
            ProblemType::BadRequest | ProblemType::InvalidJson | ProblemType::Validation => StatusCode::BAD_REQUEST,
            ProblemType::Unauthorized => StatusCode::UNAUTHORIZED,
            ProblemType::Forbidden => StatusCode::FORBIDDEN,
            ProblemType::NotFound => StatusCode::NOT_FOUND,
            ProblemType::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ProblemType::RequestTimeout => StatusCode::REQUEST_TIMEOUT,
            ProblemType::Conflict => StatusCode::CONFLICT,
            ProblemType::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ProblemType::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ProblemType::RateLimited => StatusCode::TOO_MANY_REQUESTS,
            ProblemType::Internal => StatusCode::INTERNAL_SERVER_ERROR,
            ProblemType::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    pub fn title(self) -> &'static str {
        match self {
            ProblemType::BadRequest => "Bad request",
            ProblemType::InvalidJson => "Request body is not valid JSON",
            ProblemType::Validation => "A field is invalid",
            ProblemType::Unauthorized => "Authentication required",
            ProblemType::Forbidden => "Not allowed",
            ProblemType::NotFound => "Not found",
            ProblemType::MethodNotAllowed => "Method not allowed",
            ProblemType::RequestTimeout => "Request took too long",
            ProblemType::Conflict => "Conflicts with the current state",
            ProblemType::PayloadTooLarge => "Request body too large",
            ProblemType::UnsupportedMediaType => "Unsupported media type",
            ProblemType::RateLimited => "Too many requests",
            ProblemType::Internal => "Internal error",
            ProblemType::Unavailable => "Service unavailable",
        }
    }

    /// The title in Bahasa Indonesia, which problem documents carry unless the client asks
    /// for English (`Accept-Language` or the language cookie).
    pub fn title_id(self) -> &'static str {
        match self {
            ProblemType::BadRequest => "Permintaan tidak dapat diproses",
            ProblemType::InvalidJson => "Isi permintaan bukan JSON yang sah",
            ProblemType::Validation => "Ada isian yang tidak sah",
            ProblemType::Unauthorized => "Perlu masuk terlebih dahulu",
            ProblemType::Forbidden => "Tidak diizinkan",
            ProblemType::NotFound => "Tidak ditemukan",
            ProblemType::MethodNotAllowed => "Metode tidak didukung",
            ProblemType::RequestTimeout => "Permintaan terlalu lama",
            ProblemType::Conflict => "Bertentangan dengan keadaan saat ini",
            ProblemType::PayloadTooLarge => "Isi permintaan terlalu besar",
            ProblemType::UnsupportedMediaType => "Jenis isi tidak didukung",
            ProblemType::RateLimited => "Terlalu banyak permintaan",
            ProblemType::Internal => "Terjadi kesalahan di server",
            ProblemType::Unavailable => "Layanan sedang tidak tersedia",
        }
    }

    /// The problem type a bare status code stands for (for responses made by layers).
    pub fn from_status(status: StatusCode) -> ProblemType {
        match status.as_u16() {
            401 => ProblemType::Unauthorized,
            403 => ProblemType::Forbidden,
            404 => ProblemType::NotFound,
            405 => ProblemType::MethodNotAllowed,
            408 => ProblemType::RequestTimeout,
            409 => ProblemType::Conflict,
            413 => ProblemType::PayloadTooLarge,
            415 => ProblemType::UnsupportedMediaType,
            429 => ProblemType::RateLimited,
            503 => ProblemType::Unavailable,
            400..=499 => ProblemType::BadRequest,
            _ => ProblemType::Internal,
        }
    }
}

/// A problem document (RFC 9457) as sent to clients.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct Problem {
    /// Stable identifier of the kind of problem, e.g. `urn:warga:problem:validation`.
    #[serde(rename = "type")]
    pub type_uri: String,
    pub title: String,
    pub status: u16,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// The request field at fault, as a JSON path (`address.postal_code`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trace_id: Option<String>,
    /// Extra members, such as the state of each readiness check.
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Object)]
    pub extra: Option<serde_json::Map<String, serde_json::Value>>,
    /// The title in Bahasa Indonesia, put in `title` at the edge unless the client asks for
    /// English.
    #[serde(skip)]
    pub title_id: Option<&'static str>,
    /// The detail in Bahasa Indonesia, put in `detail` at the edge unless the client asks for
    /// English.
    #[serde(skip)]
    pub detail_id: Option<String>,
    /// The `errors` member (every refused field) with Indonesian details, used likewise.
    #[serde(skip)]
    pub errors_id: Option<serde_json::Value>,
}

impl Problem {
    pub fn new(kind: ProblemType, detail: Option<String>) -> Self {
        Self {
            type_uri: kind.uri().to_owned(),
            title: kind.title().to_owned(),
            status: kind.status().as_u16(),
            detail,
            field: None,
            request_id: None,
            trace_id: None,
            extra: None,
            title_id: Some(kind.title_id()),
            detail_id: None,
            errors_id: None,
        }
    }

    /// Renders the document; the status and content type come with it.
    pub fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = serde_json::to_vec(&self).unwrap_or_default();
        let mut response = (status, body).into_response();
        response
            .headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_CONTENT_TYPE));
        response.extensions_mut().insert(self);
        response
    }
}

/// A refusal's text for people: in English and, when the refusing code gave one, in Bahasa
/// Indonesia (which problem documents and screens show unless English is asked for).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Detail {
    pub en: String,
    pub id: Option<String>,
}

impl Detail {
    pub fn new(en: impl Into<String>, id: impl Into<String>) -> Detail {
        Detail {
            en: en.into(),
            id: Some(id.into()),
        }
    }

    /// The text in Bahasa Indonesia unless `english` (or none was given).
    pub fn in_lang(&self, english: bool) -> &str {
        match &self.id {
            Some(id) if !english => id,
            _ => &self.en,
        }
    }
}

impl std::fmt::Display for Detail {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.en)
    }
}

impl From<String> for Detail {
    fn from(en: String) -> Detail {
        Detail { en, id: None }
    }
}

impl From<&str> for Detail {
    fn from(en: &str) -> Detail {
        Detail {
            en: en.to_owned(),
            id: None,
        }
    }
}

/// What a handler returns on failure.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{detail}")]
    Validation {
        field: String,
        detail: String,
        /// The detail in Bahasa Indonesia, when the refusing code gave one.
        detail_id: Option<String>,
    },
    /// A domain rule refused a field, with a problem type of its own
    /// (`urn:warga:problem:<slug>`, status 400), e.g. a NIK whose district does not exist.
    #[error("{detail}")]
    Rule {
        slug: &'static str,
        title: &'static str,
        /// The title in Bahasa Indonesia.
        title_id: &'static str,
        field: &'static str,
        detail: String,
        /// The detail in Bahasa Indonesia, when the refusing code gave one.
        detail_id: Option<String>,
    },
    /// Several fields refused at once (a form's every error, not just the first): the
    /// problem is the first one's, with all of them under `errors` (`field`, `detail`).
    #[error("{} fields are invalid", .0.len())]
    Fields(Vec<ApiError>),
    #[error("invalid JSON: {0}")]
    InvalidJson(String),
    #[error("{0}")]
    BadRequest(String),
    /// No valid credentials; `WWW-Authenticate: Bearer` is added.
    #[error("{0}")]
    Unauthorized(String),
    /// Authenticated, but not allowed.
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(Detail),
    /// The change contradicts what is recorded.
    #[error("{0}")]
    Conflict(Detail),
    #[error("request body exceeds the limit")]
    PayloadTooLarge,
    #[error("{0}")]
    UnsupportedMediaType(String),
    #[error("{0}")]
    Unavailable(String),
    /// A per-account quota is used up (429).
    #[error("{0}")]
    TooManyRequests(String),
    /// A system behind this one refused or failed — the ledger's endorsers or orderers —
    /// with a problem type of its own (`urn:warga:problem:<slug>`) and the status that
    /// fits (a refusal 4xx, an unreachable or silent system 502–504).
    #[error("{}", .detail.en)]
    Downstream {
        status: StatusCode,
        slug: &'static str,
        title: &'static str,
        /// The title in Bahasa Indonesia.
        title_id: &'static str,
        detail: Detail,
    },
    /// Anything unexpected; its text is logged and never sent.
    #[error(transparent)]
    Internal(#[from] Box<dyn std::error::Error + Send + Sync>),
}

impl ApiError {
    /// Something unexpected, described for the log (never for the client).
    pub fn internal(error: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        ApiError::Internal(error.into())
    }

    pub fn validation(field: impl Into<String>, detail: impl Into<String>) -> Self {
        ApiError::Validation {
            field: field.into(),
            detail: detail.into(),
            detail_id: None,
        }
    }

    /// A refused field, explained in English and in Bahasa Indonesia.
    pub fn validation_in(field: impl Into<String>, detail: impl Into<String>, detail_id: impl Into<String>) -> Self {
        ApiError::Validation {
            field: field.into(),
            detail: detail.into(),
            detail_id: Some(detail_id.into()),
        }
    }

    /// The detail a person reads: in Bahasa Indonesia unless `english` (or none was given).
    pub fn detail_in(&self, english: bool) -> String {
        match self {
            ApiError::Validation {
                detail_id: Some(id), ..
            }
            | ApiError::Rule {
                detail_id: Some(id), ..
            } if !english => id.clone(),
            ApiError::Conflict(detail) | ApiError::NotFound(detail) | ApiError::Downstream { detail, .. } => {
                detail.in_lang(english).to_owned()
            }
            other => other.to_string(),
        }
    }

    pub fn kind(&self) -> ProblemType {
        match self {
            ApiError::Validation { .. } | ApiError::Rule { .. } | ApiError::Fields(_) => ProblemType::Validation,
            ApiError::InvalidJson(_) => ProblemType::InvalidJson,
            ApiError::BadRequest(_) => ProblemType::BadRequest,
            ApiError::Unauthorized(_) => ProblemType::Unauthorized,
            ApiError::Forbidden(_) => ProblemType::Forbidden,
            ApiError::NotFound(_) => ProblemType::NotFound,
            ApiError::Conflict(_) => ProblemType::Conflict,
            ApiError::PayloadTooLarge => ProblemType::PayloadTooLarge,
            ApiError::UnsupportedMediaType(_) => ProblemType::UnsupportedMediaType,
            ApiError::Unavailable(_) => ProblemType::Unavailable,
            ApiError::TooManyRequests(_) => ProblemType::RateLimited,
            ApiError::Downstream { status, .. } => ProblemType::from_status(*status),
            ApiError::Internal(_) => ProblemType::Internal,
        }
    }

    pub fn to_problem(&self) -> Problem {
        if let ApiError::Fields(errors) = self {
            let Some(first) = errors.first() else {
                return Problem::new(ProblemType::Validation, None);
            };
            let mut problem = first.to_problem();
            let each: Vec<Problem> = errors.iter().map(ApiError::to_problem).collect();
            let all = each
                .iter()
                .map(|each| serde_json::json!({ "field": each.field, "detail": each.detail, "type": each.type_uri }))
                .collect();
            let all_id = each
                .iter()
                .map(|each| {
                    let detail = each.detail_id.as_ref().or(each.detail.as_ref());
                    serde_json::json!({ "field": each.field, "detail": detail, "type": each.type_uri })
                })
                .collect();
            problem
                .extra
                .get_or_insert_with(Default::default)
                .insert("errors".into(), serde_json::Value::Array(all));
            problem.errors_id = Some(serde_json::Value::Array(all_id));
            return problem;
        }
        let kind = self.kind();
        let detail = match self {
            ApiError::Internal(error) => {
                tracing::error!(error = format!("{error:#}"), "internal error");
                None
            }
            ApiError::Unavailable(detail) => {
                tracing::warn!(%detail, "dependency unavailable");
                None
            }
            other => Some(other.to_string()),
        };
        let mut problem = Problem::new(kind, detail);
        match self {
            ApiError::Validation { field, detail_id, .. } => {
                problem.field = Some(field.clone());
                problem.detail_id = detail_id.clone();
            }
            ApiError::Conflict(detail) | ApiError::NotFound(detail) => problem.detail_id = detail.id.clone(),
            ApiError::Rule {
                slug,
                title,
                title_id,
                field,
                detail_id,
                ..
            } => {
                problem.type_uri = format!("urn:warga:problem:{slug}");
                problem.title = (*title).to_owned();
                problem.title_id = Some(title_id);
                problem.field = Some((*field).to_owned());
                problem.detail_id = detail_id.clone();
            }
            ApiError::Downstream {
                status,
                slug,
                title,
                title_id,
                detail,
            } => {
                tracing::warn!(status = status.as_u16(), slug, detail = %detail.en, "a downstream system refused or failed");
                problem.type_uri = format!("urn:warga:problem:{slug}");
                problem.title = (*title).to_owned();
                problem.title_id = Some(title_id);
                problem.status = status.as_u16();
                problem.detail_id = detail.id.clone();
            }
            _ => {}
        }
        problem
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let unauthorized = matches!(self, ApiError::Unauthorized(_));
        let mut response = self.to_problem().into_response();
        if unauthorized {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"warga\""),
            );
        }
        response
    }
}

impl From<warga_auth::AuthError> for ApiError {
    fn from(error: warga_auth::AuthError) -> Self {
        if error.is_client_error() {
            ApiError::Unauthorized(error.to_string())
        } else {
            ApiError::Unavailable(error.to_string())
        }
    }
}

/// Marks an error response whose body is already in the format its protocol requires
/// (OAuth's `{"error": …}`), so it is not turned into a problem document.
#[derive(Clone, Copy, Debug)]
pub struct ProtocolError;

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::NotFound => ApiError::NotFound(Detail::new("no such record", "data tidak ditemukan")),
            StoreError::Conflict { .. } => ApiError::Conflict(Detail::new(
                "a record with the same key exists",
                "data dengan kunci yang sama sudah ada",
            )),
            StoreError::Unavailable(e) => ApiError::Unavailable(format!("database unavailable: {e}")),
            other => ApiError::Internal(other.into()),
        }
    }
}
