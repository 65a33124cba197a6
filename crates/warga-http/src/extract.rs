//! JSON and query-string extractors whose rejections are problem documents naming the field
//! or parameter at fault.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::ApiError;

/// Like `axum::Json`, but a bad body becomes `urn:warga:problem:invalid-json` (syntax) or
/// `urn:warga:problem:validation` with `field` set (a missing or mistyped member).
#[derive(Debug, Clone, Copy, Default)]
pub struct Json<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for Json<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        parse(&json_bytes(req, state).await?).map(Json)
    }
}

/// The body of a request that must be JSON, within the size limit.
async fn json_bytes<S: Send + Sync>(req: Request, state: &S) -> Result<Bytes, ApiError> {
    let json_content = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|mime| {
            let mime = mime.trim().to_ascii_lowercase();
            mime == "application/json" || (mime.starts_with("application/") && mime.ends_with("+json"))
        })
        .unwrap_or(false);
    if !json_content {
        return Err(ApiError::UnsupportedMediaType(
            "expected Content-Type: application/json".into(),
        ));
    }
    Bytes::from_request(req, state).await.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::PayloadTooLarge
        } else {
            ApiError::BadRequest(rejection.body_text())
        }
    })
}

/// A JSON body read but not yet parsed: for handlers that must decide authorization before
/// they look at what was sent (a caller without the role gets 403, whatever the body). The
/// content type and the size limit are checked on extraction, as [`Json`] does;
/// [`JsonBody::parse`] then gives the same problems as [`Json`].
#[derive(Debug, Clone)]
pub struct JsonBody(Bytes);

impl JsonBody {
    pub fn parse<T: DeserializeOwned>(&self) -> Result<T, ApiError> {
        parse(&self.0)
    }
}

impl<S: Send + Sync> FromRequest<S> for JsonBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        json_bytes(req, state).await.map(JsonBody)
    }
}

/// Deserializes `bytes`, naming the failing field. One JSON value and nothing after it
/// (whitespace aside): a body with trailing data is refused, not half-read.
pub(crate) fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let deserializer = &mut serde_json::Deserializer::from_slice(bytes);
    let value = deserialize(deserializer)?;
    deserializer
        .end()
        .map_err(|_| ApiError::InvalidJson("trailing data after the JSON value".into()))?;
    Ok(value)
}

fn deserialize<'de, T: DeserializeOwned>(
    deserializer: &mut serde_json::Deserializer<serde_json::de::SliceRead<'de>>,
) -> Result<T, ApiError> {
    serde_path_to_error::deserialize(deserializer).map_err(|error| {
        let path = error.path().to_string();
        let inner = error.into_inner();
        if inner.is_syntax() || inner.is_eof() {
            return ApiError::InvalidJson(inner.to_string());
        }
        let message = inner.to_string();
        // serde reports a missing member at its parent's path; name the member itself.
        let field = match message
            .strip_prefix("missing field `")
            .and_then(|rest| rest.split('`').next())
        {
            Some(missing) if path == "." => missing.to_owned(),
            Some(missing) => format!("{path}.{missing}"),
            None => path,
        };
        ApiError::validation(field, strip_position(&message))
    })
}

/// Like `axum::extract::Query`, but a bad query string becomes
/// `urn:warga:problem:validation` with `field` naming the parameter (a mistyped, missing or
/// unknown one).
#[derive(Debug, Clone, Copy, Default)]
pub struct Query<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> axum::extract::FromRequestParts<S> for Query<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut axum::http::request::Parts, _: &S) -> Result<Self, Self::Rejection> {
        parse_query(parts.uri.query().unwrap_or_default()).map(Query)
    }
}

/// Deserializes a query string, naming the failing parameter.
pub(crate) fn parse_query<T: DeserializeOwned>(query: &str) -> Result<T, ApiError> {
    let deserializer = serde_urlencoded::Deserializer::new(form_urlencoded::parse(query.as_bytes()));
    serde_path_to_error::deserialize(deserializer).map_err(|error| {
        let path = error.path().to_string();
        let message = error.into_inner().to_string();
        let named = ["missing field `", "unknown field `", "duplicate field `"]
            .iter()
            .find_map(|prefix| message.strip_prefix(prefix))
            .and_then(|rest| rest.split('`').next());
        let parameter = match named {
            Some(name) if path == "." => name.to_owned(),
            _ if path == "." => "query".to_owned(),
            _ => path,
        };
        ApiError::validation(parameter, message)
    })
}

/// serde_json appends " at line L column C"; the field name says more.
fn strip_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(index) => message[..index].to_owned(),
        None => message.to_owned(),
    }
}

impl<T: Serialize> IntoResponse for Json<T> {
    fn into_response(self) -> Response {
        axum::Json(self.0).into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    struct Resident {
        name: String,
        address: Address,
    }
    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    struct Address {
        rt: u16,
    }

    fn field_of(body: &str) -> (crate::ProblemType, Option<String>) {
        let error = parse::<Resident>(body.as_bytes()).unwrap_err();
        let problem = error.to_problem();
        (error.kind(), problem.field)
    }

    #[test]
    fn names_the_field_at_fault() {
        use crate::ProblemType::*;
        let cases: &[(&str, crate::ProblemType, Option<&str>)] = &[
            (r#"{"name": "Siti"}"#, Validation, Some("address")),
            (r#"{"name": 7, "address": {"rt": 1}}"#, Validation, Some("name")),
            (
                r#"{"name": "Siti", "address": {"rt": "satu"}}"#,
                Validation,
                Some("address.rt"),
            ),
            (r#"{"name": "Siti", "address": {}}"#, Validation, Some("address.rt")),
            (r#"{"name": "Siti", "#, InvalidJson, None),
            ("not json", InvalidJson, None),
            // One value, nothing after it.
            (
                r#"{"name": "Siti", "address": {"rt": 1}} {"name": "X"}"#,
                InvalidJson,
                None,
            ),
            (r#"{"name": "Siti", "address": {"rt": 1}}x"#, InvalidJson, None),
        ];
        for (body, kind, field) in cases {
            let (got_kind, got_field) = field_of(body);
            assert_eq!((got_kind, got_field.as_deref()), (*kind, *field), "{body}");
        }
        assert!(parse::<Resident>(b"{\"name\": \"Siti\", \"address\": {\"rt\": 1}}\n  ").is_ok());
    }

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Page {
        limit: Option<u32>,
        region: String,
    }

    #[test]
    fn names_the_query_parameter_at_fault() {
        let parameter = |query: &str| {
            let problem = parse_query::<Page>(query).unwrap_err().to_problem();
            problem.field
        };
        assert_eq!(parameter("region=31&limit=lima").as_deref(), Some("limit"));
        assert_eq!(parameter("limit=5").as_deref(), Some("region"));
        assert_eq!(parameter("region=31&sort=new").as_deref(), Some("sort"));
        assert_eq!(parameter("region=31&limit=-1").as_deref(), Some("limit"));
        let page: Page = parse_query("region=31&limit=5").unwrap();
        assert_eq!((page.limit, page.region.as_str()), (Some(5), "31"));
    }
}

/// A part of a multipart form other than its `data`: a file as it arrived, unchecked.
#[derive(Debug, Clone)]
pub struct FormFile {
    /// The part's name (`photos`).
    pub name: String,
    pub bytes: Bytes,
}

/// A JSON body (`application/json`), or a `multipart/form-data` body whose part `data`
/// holds the same JSON and whose other parts are files. Errors are problem documents: a
/// missing or malformed `data` names its field, as [`Json`] does.
#[derive(Debug)]
pub struct JsonWithFiles<T> {
    pub value: T,
    pub files: Vec<FormFile>,
}

/// Parts a form may have; a longer form is refused before more is read.
const MAX_FORM_PARTS: usize = 16;

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for JsonWithFiles<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let multipart = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.trim().to_ascii_lowercase().starts_with("multipart/form-data"));
        if !multipart {
            let Json(value) = Json::<T>::from_request(req, state).await?;
            return Ok(JsonWithFiles {
                value,
                files: Vec::new(),
            });
        }
        let form_error = |error: axum::extract::multipart::MultipartError| {
            if error.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::PayloadTooLarge
            } else {
                ApiError::BadRequest(format!("formulir multipart tidak valid: {}", error.body_text()))
            }
        };
        let mut form = axum::extract::Multipart::from_request(req, state)
            .await
            .map_err(|rejection| ApiError::BadRequest(rejection.body_text()))?;
        let mut data = None;
        let mut files = Vec::new();
        let mut parts = 0;
        while let Some(field) = form.next_field().await.map_err(form_error)? {
            parts += 1;
            if parts > MAX_FORM_PARTS {
                return Err(ApiError::validation(
                    "body",
                    format!("formulir paling banyak {MAX_FORM_PARTS} bagian"),
                ));
            }
            let name = field.name().unwrap_or_default().to_owned();
            let bytes = field.bytes().await.map_err(form_error)?;
            if name == "data" {
                data = Some(bytes);
            } else if name.is_empty() {
                return Err(ApiError::validation("body", "bagian formulir tanpa nama"));
            } else {
                files.push(FormFile { name, bytes });
            }
        }
        let data = data.ok_or_else(|| ApiError::validation("data", "bagian `data` (JSON) tidak ada"))?;
        Ok(JsonWithFiles {
            value: parse(&data)?,
            files,
        })
    }
}
