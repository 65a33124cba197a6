//! What can go wrong in the reports service, in its own terms; mapped to the HTTP problem
//! once ([`From<ReportsError> for ApiError`]). Details are in Bahasa Indonesia: they are
//! shown to citizens and officers as they are.

use warga_http::ApiError;
use warga_store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum ReportsError {
    /// A field is missing, too long or malformed.
    #[error("{field}: {detail}")]
    Invalid { field: String, detail: String },
    #[error("{0}")]
    Forbidden(String),
    /// Not there, or not for this reader (the same answer, so existence is not confirmed).
    #[error("laporan tidak ditemukan")]
    NotFound,
    /// The step contradicts the report's state.
    #[error("{0}")]
    Conflict(String),
    /// A quota is used up.
    #[error("{0}")]
    TooMany(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Vault(#[from] warga_auth::AuthError),
    /// A store the service depends on (the photo store) does not answer in time.
    #[error("{0}")]
    Unavailable(String),
    #[error("{0}")]
    Internal(String),
}

impl ReportsError {
    pub fn invalid(field: impl Into<String>, detail: impl Into<String>) -> ReportsError {
        ReportsError::Invalid {
            field: field.into(),
            detail: detail.into(),
        }
    }
}

impl From<ReportsError> for ApiError {
    fn from(error: ReportsError) -> ApiError {
        match error {
            ReportsError::Invalid { field, detail } => ApiError::Validation {
                field,
                detail,
                detail_id: None,
            },
            ReportsError::Forbidden(message) => ApiError::Forbidden(message),
            ReportsError::NotFound => {
                ApiError::NotFound(warga_http::Detail::new("no such report", "laporan tidak ditemukan"))
            }
            ReportsError::Conflict(message) => ApiError::Conflict(message.into()),
            ReportsError::TooMany(message) => ApiError::TooManyRequests(message),
            ReportsError::Store(error) => error.into(),
            ReportsError::Vault(error) => error.into(),
            ReportsError::Unavailable(message) => ApiError::Unavailable(message),
            ReportsError::Internal(message) => ApiError::internal(message),
        }
    }
}
