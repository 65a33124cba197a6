//! What the registry says of a patient before the gateway issues them a card: the gateway
//! refuses `IssueCard` unless the NIK belongs to a registered, living resident. It asks the
//! registry's library directly, on the platform's one database: the answer must be the
//! registry as it is *now* (a death recorded a moment ago stops a new card), which a read
//! model fed by events would give only after its consumer's delay — and events carry no NIK
//! or keyed hash of one, so such a model could not even be keyed by it. A
//! `serve --services ledger` process reads the same database; there is no call between
//! processes to protect. (What follows a death — the card suspended — is in
//! [`crate::vouch`].)

use warga_http::{ApiError, Platform};

use crate::LedgerError;

/// Refuses `IssueCard` for a NIK that is not a registered, living resident.
pub async fn vouch(platform: &Platform, function: &str, args: &[String]) -> Result<(), ApiError> {
    if function != "IssueCard" {
        return Ok(());
    }
    let Some(nik) = args.first() else {
        return Ok(()); // the contract names the missing argument
    };
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
