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
    NotFound(warga_http::Detail),
    /// A username, department or client id that exists.
    #[error("{0}")]
    Conflict(warga_http::Detail),
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

    /// A record that is not there, said in English and in Bahasa Indonesia.
    pub fn not_found(en: impl Into<String>, id: impl Into<String>) -> IdentityError {
        IdentityError::NotFound(warga_http::Detail::new(en, id))
    }

    /// A change that contradicts what is recorded, in English and in Bahasa Indonesia.
    pub fn conflict(en: impl Into<String>, id: impl Into<String>) -> IdentityError {
        IdentityError::Conflict(warga_http::Detail::new(en, id))
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
            IdentityError::NotFound(detail) => ApiError::NotFound(detail),
            IdentityError::Conflict(detail) => ApiError::Conflict(detail),
            IdentityError::Store(error) => error.into(),
            IdentityError::Auth(error) => error.into(),
            IdentityError::Internal(message) => ApiError::internal(message),
        }
    }
}
