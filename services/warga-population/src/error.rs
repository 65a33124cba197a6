//! What can go wrong in the population service, in its own terms; mapped to the HTTP
//! problem once, where the router hands it out ([`From<PopulationError> for ApiError`]).
//! The command line and the web screens read the same values (a rejected CSV row names the
//! field; a form shows the detail).

use warga_http::ApiError;
use warga_store::StoreError;

use crate::nik::NikError;

#[derive(Debug, thiserror::Error)]
pub enum PopulationError {
    /// A field is missing, too long or malformed.
    #[error("{field}: {detail}")]
    Invalid {
        field: String,
        detail: String,
        /// The detail in Bahasa Indonesia (set with [`PopulationError::id`]).
        detail_id: Option<String>,
    },
    /// The NIK breaks one of its rules (region, date, sex, serial).
    #[error(transparent)]
    Nik(#[from] NikError),
    /// The KK number breaks one of its rules (region, date of issue, serial).
    #[error(transparent)]
    Kk(#[from] crate::kk::KkNumberError),
    /// Several fields refused at once (every error of a form); each is `Invalid` or `Nik`.
    #[error("{}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
    Fields(Vec<PopulationError>),
    #[error("{0}")]
    NotFound(warga_http::Detail),
    /// The change contradicts what is recorded (a registered NIK, a recorded death, a link
    /// already decided).
    #[error("{0}")]
    Conflict(warga_http::Detail),
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Sealing, opening or indexing with the vault.
    #[error(transparent)]
    Vault(#[from] warga_auth::AuthError),
    /// A stored value that does not read back (sealed JSON of a resident).
    #[error("a stored record is unreadable: {0}")]
    Corrupt(String),
}

impl PopulationError {
    pub fn invalid(field: impl Into<String>, detail: impl Into<String>) -> PopulationError {
        PopulationError::Invalid {
            field: field.into(),
            detail: detail.into(),
            detail_id: None,
        }
    }

    /// A record that is not there, said in English and in Bahasa Indonesia.
    pub fn not_found(en: impl Into<String>, id: impl Into<String>) -> PopulationError {
        PopulationError::NotFound(warga_http::Detail::new(en, id))
    }

    /// The refusal's detail in Bahasa Indonesia, which screens and problem documents show
    /// unless English is asked for.
    pub fn id(self, text: impl Into<String>) -> PopulationError {
        match self {
            PopulationError::Invalid { field, detail, .. } => PopulationError::Invalid {
                field,
                detail,
                detail_id: Some(text.into()),
            },
            other => other,
        }
    }

    /// The same refusal with its fields named under `prefix` (`to.village`).
    pub fn under(self, prefix: &str) -> PopulationError {
        match self {
            PopulationError::Invalid {
                field,
                detail,
                detail_id,
            } => PopulationError::Invalid {
                field: format!("{prefix}.{field}"),
                detail,
                detail_id,
            },
            PopulationError::Fields(all) => PopulationError::Fields(all.into_iter().map(|e| e.under(prefix)).collect()),
            other => other,
        }
    }

    /// A contradiction with what is recorded, in English and Bahasa Indonesia.
    pub fn conflict(en: impl Into<String>, id: impl Into<String>) -> PopulationError {
        PopulationError::Conflict(warga_http::Detail::new(en, id))
    }

    pub(crate) fn corrupt(error: impl std::fmt::Display) -> PopulationError {
        PopulationError::Corrupt(error.to_string())
    }

    /// The field at fault, when the caller's input is (the CLI's reject report).
    pub fn field(&self) -> Option<&str> {
        match self {
            PopulationError::Invalid { field, .. } => Some(field),
            PopulationError::Nik(error) => Some(error.field()),
            PopulationError::Kk(_) => Some("kk_number"),
            PopulationError::Fields(errors) => errors.first().and_then(PopulationError::field),
            _ => None,
        }
    }
}

impl From<PopulationError> for ApiError {
    fn from(error: PopulationError) -> ApiError {
        match error {
            PopulationError::Invalid {
                field,
                detail,
                detail_id,
            } => ApiError::Validation {
                field,
                detail,
                detail_id,
            },
            PopulationError::Fields(errors) => ApiError::Fields(errors.into_iter().map(ApiError::from).collect()),
            PopulationError::Nik(error) => ApiError::Rule {
                slug: error.problem(),
                title: error.title(),
                title_id: error.title_id(),
                field: error.field(),
                detail: error.to_string(),
                detail_id: Some(error.detail_id()),
            },
            PopulationError::Kk(error) => ApiError::Rule {
                slug: error.problem(),
                title: error.title(),
                title_id: error.title_id(),
                field: "kk_number",
                detail: error.to_string(),
                detail_id: Some(error.detail_id()),
            },
            PopulationError::NotFound(detail) => ApiError::NotFound(detail),
            PopulationError::Conflict(message) => ApiError::Conflict(message),
            PopulationError::Store(error) => error.into(),
            PopulationError::Vault(error) => error.into(),
            PopulationError::Corrupt(message) => ApiError::internal(message),
        }
    }
}
