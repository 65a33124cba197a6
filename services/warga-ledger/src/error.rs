//! Why a call through the ledger's web gateway failed, and the problem document it becomes.

use axum::http::StatusCode;
use tonic::Code;
use warga_http::{ApiError, Detail};

#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    /// A request field is wrong (English, Bahasa Indonesia).
    #[error("{field}: {en}")]
    Invalid {
        field: &'static str,
        en: String,
        id: String,
    },
    /// The caller may not do this here (English, Bahasa Indonesia).
    #[error("{0}")]
    Forbidden(String, String),
    /// This process has no ledger to reach, or its configuration lacks a part.
    #[error("{0}")]
    Unconfigured(String),
    /// A peer or orderer answered with a refusal or an error.
    #[error("{}", .0.message())]
    Ledger(tonic::Status),
    /// The ledger did not answer within the gateway's deadline.
    #[error("no answer from the ledger within {0} ms")]
    Timeout(u64),
    /// The organisation's CA refused or could not be reached while enrolling.
    #[error("the CA of {msp_id}: {detail}")]
    Ca { msp_id: String, detail: String },
    #[error(transparent)]
    Population(#[from] warga_population::PopulationError),
    #[error(transparent)]
    Store(#[from] warga_store::StoreError),
    #[error(transparent)]
    Auth(#[from] warga_auth::AuthError),
    #[error("{0}")]
    Internal(String),
}

impl LedgerError {
    pub fn invalid(field: &'static str, en: impl Into<String>, id: impl Into<String>) -> LedgerError {
        LedgerError::Invalid {
            field,
            en: en.into(),
            id: id.into(),
        }
    }
}

/// A refusal of the ledger (endorsers, contract, orderers), by its gRPC code.
fn ledger_problem(status: &tonic::Status) -> ApiError {
    let message = status.message().to_owned();
    let refused = |status_code: StatusCode| ApiError::Downstream {
        status: status_code,
        slug: "ledger-refused",
        title: "The ledger refused the transaction",
        title_id: "Ledger menolak transaksi",
        detail: Detail {
            en: message.clone(),
            id: None,
        },
    };
    match status.code() {
        Code::InvalidArgument | Code::OutOfRange => refused(StatusCode::BAD_REQUEST),
        Code::PermissionDenied | Code::Unauthenticated => refused(StatusCode::FORBIDDEN),
        Code::NotFound => ApiError::NotFound(Detail { en: message, id: None }),
        Code::FailedPrecondition | Code::AlreadyExists => refused(StatusCode::CONFLICT),
        Code::Aborted => ApiError::Downstream {
            status: StatusCode::CONFLICT,
            slug: "endorsement-mismatch",
            title: "The endorsing peers disagree",
            title_id: "Peer pengesah tidak sepakat",
            detail: Detail {
                en: message,
                id: Some("hasil simulasi para peer pengesah berbeda; ulangi transaksi".into()),
            },
        },
        Code::Unavailable if message.contains("endorsement policy") => ApiError::Downstream {
            status: StatusCode::SERVICE_UNAVAILABLE,
            slug: "endorsement-unsatisfiable",
            title: "The endorsement policy cannot be satisfied",
            title_id: "Kebijakan pengesahan tidak dapat dipenuhi",
            detail: Detail { en: message, id: None },
        },
        Code::DeadlineExceeded => timeout(message),
        _ => ApiError::Downstream {
            status: StatusCode::BAD_GATEWAY,
            slug: "ledger-unavailable",
            title: "The ledger cannot be reached",
            title_id: "Ledger tidak dapat dihubungi",
            detail: Detail { en: message, id: None },
        },
    }
}

fn timeout(en: String) -> ApiError {
    ApiError::Downstream {
        status: StatusCode::GATEWAY_TIMEOUT,
        slug: "ledger-timeout",
        title: "The ledger did not answer in time",
        title_id: "Ledger tidak menjawab tepat waktu",
        detail: Detail {
            en,
            id: Some("ledger tidak menjawab dalam batas waktu; periksa status transaksi sebelum mengulang".into()),
        },
    }
}

impl From<LedgerError> for ApiError {
    fn from(error: LedgerError) -> Self {
        match error {
            LedgerError::Invalid { field, en, id } => ApiError::validation_in(field, en, id),
            LedgerError::Forbidden(_, id) => ApiError::Forbidden(id),
            LedgerError::Unconfigured(detail) => ApiError::Unavailable(detail),
            LedgerError::Ledger(status) => ledger_problem(&status),
            LedgerError::Timeout(ms) => timeout(format!(
                "no answer from the ledger within {ms} ms; check the transaction's status before retrying"
            )),
            LedgerError::Ca { msp_id, detail } => ApiError::Downstream {
                status: StatusCode::BAD_GATEWAY,
                slug: "ca-unavailable",
                title: "The organisation's CA could not enrol you",
                title_id: "CA organisasi tidak dapat mendaftarkan Anda",
                detail: Detail {
                    en: format!("the CA of {msp_id}: {detail}"),
                    id: Some(format!("CA {msp_id}: {detail}")),
                },
            },
            LedgerError::Population(error) => error.into(),
            LedgerError::Store(error) => error.into(),
            LedgerError::Auth(error) => error.into(),
            LedgerError::Internal(detail) => ApiError::internal(detail),
        }
    }
}
