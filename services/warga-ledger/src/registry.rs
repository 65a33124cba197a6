//! What the registry says of a patient before the gateway issues them a card: the gateway
//! refuses `IssueCard` unless the NIK belongs to a registered, living resident, and hands the
//! contract the registry's signed word for it (an attestation, see
//! [`warga_ledger_core::attestation`]) — without which the contract refuses, on every path
//! to the ledger (gRPC and the CLI included). It asks the
//! registry's library directly, on the platform's one database: the answer must be the
//! registry as it is *now* (a death recorded a moment ago stops a new card), which a read
//! model fed by events would give only after its consumer's delay — and events carry no NIK
//! or keyed hash of one, so such a model could not even be keyed by it. A
//! `serve --services ledger` process reads the same database; there is no call between
//! processes to protect. (What follows a death — the card suspended — is in
//! [`crate::vouch`].)

use warga_http::{ApiError, Platform};
use warga_ledger_msp::attestor::Attestor;

use crate::LedgerError;
use crate::access::LedgerAccess;

/// Refuses `IssueCard` for a NIK that is not a registered, living resident; for one that
/// is, and a call of the contract's three arguments (NIK, class, valid until), the
/// registry's attestation to add as the fourth.
pub(crate) async fn vouch(
    platform: &Platform,
    access: &LedgerAccess,
    function: &str,
    args: &[String],
) -> Result<Option<String>, ApiError> {
    if function != "IssueCard" {
        return Ok(None);
    }
    let Some(nik) = args.first() else {
        return Ok(None); // the contract names the missing argument
    };
    if args.len() == 3 {
        return Ok(Some(attest(platform, access.attestor()?, nik).await?));
    }
    living(platform, nik).await?;
    Ok(None)
}

/// The registry's attestation, made now, that `nik` is a registered, living resident: what
/// `IssueCard` takes as its fourth argument (`warga registry attest` prints one).
pub async fn attest(platform: &Platform, attestor: &Attestor, nik: &str) -> Result<String, ApiError> {
    living(platform, nik).await?;
    attestor
        .attest(nik, warga_ledger_core::attestation::ALIVE, warga_core::time::now_ms())
        .map_err(|e| LedgerError::Unconfigured(format!("the registry's attestation key: {e}")).into())
}

/// Refuses a NIK that is not a registered, living resident, as the registry is now.
async fn living(platform: &Platform, nik: &str) -> Result<(), ApiError> {
    let status = warga_population::residents::status_by_nik(platform, nik)
        .await
        .map_err(LedgerError::from)?;
    match status.as_deref() {
        Some("alive") => Ok(()),
        None => Err(ApiError::Rule {
            slug: "not-a-resident",
            title: "The NIK is not a registered resident",
            title_id: "NIK tidak terdaftar sebagai penduduk",
            field: "args[0]",
            detail: format!(
                "no resident with NIK {nik} is registered; a BPJS card is issued to registered residents only"
            ),
            detail_id: Some(format!(
                "tidak ada penduduk terdaftar dengan NIK {nik}; kartu BPJS hanya diterbitkan untuk penduduk terdaftar"
            )),
        }),
        Some(_) => Err(ApiError::Rule {
            slug: "resident-deceased",
            title: "The resident has died",
            title_id: "Penduduk sudah meninggal",
            field: "args[0]",
            detail: format!("the registry records the resident with NIK {nik} as deceased"),
            detail_id: Some(format!("Dukcapil mencatat penduduk dengan NIK {nik} sudah meninggal")),
        }),
    }
}
