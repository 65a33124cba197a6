//! What can go wrong in identity's domain — accounts, departments, clients, the first
//! administrator — in its own terms; mapped to the HTTP problem once, at the router
//! ([`From<IdentityError> for ApiError`]). The command line reads the same values.

use warga_http::ApiError;
use warga_store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    /// A field is missing, too long or malformed (a weak password included).
    #[error("{field}: {detail}")]
    Invalid {
        field: String,
        detail: String,
        /// The detail in Bahasa Indonesia (set with [`IdentityError::id`]).
        detail_id: Option<String>,
    },
    #[error("{0}")]
    NotFound(String),
    /// A username, department or client id that exists.
    #[error("{0}")]
    Conflict(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Keys, tokens or the vault.
    #[error(transparent)]
    Auth(#[from] warga_auth::AuthError),
    /// Something that cannot happen in a consistent database.
    #[error("{0}")]
    Internal(String),
}

impl IdentityError {
    pub fn invalid(field: impl Into<String>, detail: impl Into<String>) -> IdentityError {
        IdentityError::Invalid {
            field: field.into(),
            detail: detail.into(),
            detail_id: None,
        }
    }

    /// The refusal's detail in Bahasa Indonesia, shown unless English is asked for.
    pub fn id(self, text: impl Into<String>) -> IdentityError {
        match self {
            IdentityError::Invalid { field, detail, .. } => IdentityError::Invalid {
                field,
                detail,
                detail_id: Some(text.into()),
            },
            other => other,
        }
    }
}

impl From<IdentityError> for ApiError {
    fn from(error: IdentityError) -> ApiError {
        match error {
            IdentityError::Invalid {
                field,
                detail,
                detail_id,
            } => ApiError::Validation {
                field,
                detail,
                detail_id,
            },
            IdentityError::NotFound(message) => ApiError::NotFound(message),
            IdentityError::Conflict(message) => ApiError::Conflict(message.into()),
            IdentityError::Store(error) => error.into(),
            IdentityError::Auth(error) => error.into(),
            IdentityError::Internal(message) => ApiError::internal(message),
        }
    }
}
