//! What people see of the ledger without being its members: a patient's own card, visits
//! and referrals, and the one-glance card check a facility's counter needs — shared by the
//! API and the web screens.

use std::collections::BTreeMap;

use axum::http::StatusCode;
use serde::Serialize;
use serde_json::{Value, json};
use warga_core::identity::{Principal, Role};
use warga_http::{ApiError, Detail};

use crate::LedgerError;
use crate::access::{Gateway, LedgerAccess, require_member};

/// What a patient sees of themself on the ledger.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct MyRecord {
    /// Their BPJS card (class, status, valid until), or null when they have none.
    #[schema(value_type = Object)]
    pub card: Value,
    /// Their visits, each with its facility, day and diagnosis code.
    #[schema(value_type = Vec<Object>)]
    pub visits: Value,
    /// Their referrals, each with its facilities, reason and status.
    #[schema(value_type = Vec<Object>)]
    pub referrals: Value,
}

/// The BPJS service identity that reads a patient's own record for them.
const PATIENT_PORTAL: &str = "bpjs-patient-portal";

async fn evaluate(
    access: &LedgerAccess,
    client: &warga_ledger_node::client::Client,
    function: &str,
    args: &[String],
) -> Result<Value, LedgerError> {
    match tokio::time::timeout(access.timeout, client.evaluate(function, args)).await {
        Ok(Ok(bytes)) if bytes.is_empty() => Ok(Value::Null),
        Ok(Ok(bytes)) => Ok(warga_ledger_node::render::bytes(&bytes)),
        Ok(Err(status)) => Err(LedgerError::Ledger(status)),
        Err(_) => Err(LedgerError::Timeout(access.timeout.as_millis() as u64)),
    }
}

/// `citizen`'s own record, for an account linked to its resident record.
pub async fn my_record(gateway: &Gateway, citizen: &Principal) -> Result<MyRecord, ApiError> {
    if !citizen.has_role(Role::Citizen) {
        return Err(ApiError::Forbidden("hanya untuk warga (peran citizen)".into()));
    }
    let platform = gateway.platform();
    let not_linked = || {
        ApiError::NotFound(Detail::new(
            "your account is not linked to a resident record yet (ask for the link on your account page)",
            "akun Anda belum ditautkan ke data kependudukan (ajukan tautan di halaman akun)",
        ))
    };
    let resident = warga_population::links::linked_resident(&platform.store, &citizen.subject)
        .await?
        .ok_or_else(not_linked)?;
    let nik = warga_population::residents::nik_of(platform, &resident)
        .await
        .map_err(LedgerError::from)?
        .ok_or_else(not_linked)?;
    let access = gateway.access().await?;
    let client = access.signer(&crate::access::bpjs_service(PATIENT_PORTAL)).await?;
    let args = [nik];
    let card = match evaluate(&access, &client, "VerifyCard", &args).await {
        Ok(card) => card,
        Err(LedgerError::Ledger(status)) if status.code() == tonic::Code::NotFound => Value::Null,
        Err(other) => return Err(other.into()),
    };
    let visits = evaluate(&access, &client, "GetPatientHistory", &args).await?;
    let referrals = evaluate(&access, &client, "GetPatientReferrals", &args).await?;
    warga_store::audit::record_alone(
        &platform.store,
        &warga_store::audit::AuditRecord {
            actor: &citizen.audit_actor(),
            action: "ledger.patient.read_own",
            target: &format!("resident:{resident}"),
            outcome: warga_store::audit::Outcome::Success,
            details: None,
        },
    )
    .await?;
    Ok(MyRecord {
        card,
        visits: if visits.is_null() { json!([]) } else { visits },
        referrals: if referrals.is_null() { json!([]) } else { referrals },
    })
}

/// The card of `nik` as a member's officer checks it at the counter (`VerifyCard` under
/// their own identity); `None` when the NIK has no card.
pub async fn check_card(gateway: &Gateway, officer: &Principal, nik: &str) -> Result<Option<Value>, ApiError> {
    require_member(officer)?;
    let nik = nik.trim();
    if nik.len() != 16 || !nik.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ApiError::validation_in(
            "nik",
            "a NIK is 16 digits",
            "NIK terdiri atas 16 angka",
        ));
    }
    let access = gateway.access().await?;
    let client = access.signer(officer).await?;
    match evaluate(&access, &client, "VerifyCard", &[nik.to_owned()]).await {
        Ok(card) => Ok(Some(card)),
        Err(LedgerError::Ledger(status)) if status.code() == tonic::Code::NotFound => Ok(None),
        Err(other) => Err(other.into()),
    }
}

/// A committed, valid transaction.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Committed {
    pub tx_id: String,
    /// The block that holds it.
    pub block: u64,
    /// `VALID`.
    pub code: String,
    /// What the function returned (JSON when it is JSON).
    #[schema(value_type = Object)]
    pub result: Value,
}

/// Submits `function(args)` as `officer` — the registry vouching for a card's holder first —
/// and waits for the commit on their organisation's peer; a transaction committed invalid
/// is an error (`transaction-invalid`).
pub async fn submit(
    gateway: &Gateway,
    officer: &Principal,
    function: &str,
    args: &[String],
) -> Result<Committed, ApiError> {
    submit_with(gateway, officer, function, args, BTreeMap::new()).await
}

/// [`submit`] with transient data: private inputs (a visit's clinical details) that reach
/// only the endorsing peers — never the transaction, the blocks or this server's logs. A
/// `clinical` object without a `salt` gets a random one, so the hash the chain carries gives
/// nothing away.
pub async fn submit_with(
    gateway: &Gateway,
    officer: &Principal,
    function: &str,
    args: &[String],
    transient: BTreeMap<String, Vec<u8>>,
) -> Result<Committed, ApiError> {
    require_member(officer)?;
    let access = gateway.access().await?;
    let attested;
    let args = match crate::registry::vouch(gateway.platform(), &access, function, args).await? {
        Some(attestation) => {
            attested = [args, &[attestation]].concat();
            &attested[..]
        }
        None => args,
    };
    let transient = salted(transient)?;
    let client = access.signer(officer).await?;
    let submitted = client.submit_with_transient(function, args, transient);
    let status = match tokio::time::timeout(access.timeout, submitted).await {
        Ok(answer) => answer.map_err(LedgerError::Ledger)?,
        Err(_) => return Err(LedgerError::Timeout(access.timeout.as_millis() as u64).into()),
    };
    tracing::info!(
        tx_id = %status.tx_id,
        block = status.block,
        code = %status.code_name,
        function,
        "ledger transaction submitted over the web gateway"
    );
    if status.code_name != "VALID" {
        return Err(ApiError::Downstream {
            status: StatusCode::CONFLICT,
            slug: "transaction-invalid",
            title: "The transaction was committed as invalid",
            title_id: "Transaksi tercatat sebagai tidak sah",
            detail: Detail::new(
                format!(
                    "transaction {} is in block {} with code {}; nothing it wrote took effect",
                    status.tx_id, status.block, status.code_name
                ),
                format!(
                    "transaksi {} ada di blok {} dengan kode {}; tidak ada tulisannya yang berlaku",
                    status.tx_id, status.block, status.code_name
                ),
            ),
        });
    }
    Ok(Committed {
        result: if status.result.is_empty() {
            Value::Null
        } else {
            warga_ledger_node::render::bytes(&status.result)
        },
        tx_id: status.tx_id,
        block: status.block,
        code: status.code_name,
    })
}

/// Evaluates `function(args)` as `officer`, under their own ledger identity.
pub async fn evaluate_as(
    gateway: &Gateway,
    officer: &Principal,
    function: &str,
    args: &[String],
) -> Result<Value, ApiError> {
    require_member(officer)?;
    let access = gateway.access().await?;
    let client = access.signer(officer).await?;
    Ok(evaluate(&access, &client, function, args).await?)
}

/// The most blocks "verify this ledger" replays from the web; a longer chain is verified
/// with `warga ledger verify` on the peer's file.
pub const VERIFY_BLOCKS_MAX: u64 = 20_000;

/// The chain as an auditor reads it: the channel, the latest blocks (newest first, at most
/// `count`).
pub async fn explore(gateway: &Gateway, member: &Principal, count: u64) -> Result<(Value, Vec<Value>), ApiError> {
    let access = gateway.access().await?;
    let client = access.reader(member)?;
    let info = read(&access, client.info()).await?;
    let mut blocks = Vec::new();
    for number in (info.height.saturating_sub(count)..info.height).rev() {
        let block = read(&access, client.block(number)).await?;
        blocks.push(warga_ledger_node::render::block(block).map_err(ApiError::internal)?);
    }
    Ok((warga_ledger_node::render::channel_info(&info), blocks))
}

/// One block, rendered.
pub async fn block(gateway: &Gateway, member: &Principal, number: u64) -> Result<Value, ApiError> {
    let access = gateway.access().await?;
    let client = access.reader(member)?;
    let block = read(&access, client.block(number)).await?;
    warga_ledger_node::render::block(block).map_err(ApiError::internal)
}

/// Every committed change of the key of `object_type` and `parts`, oldest first.
pub async fn history(
    gateway: &Gateway,
    member: &Principal,
    object_type: &str,
    parts: &[&str],
) -> Result<Vec<Value>, ApiError> {
    let access = gateway.access().await?;
    let client = access.reader(member)?;
    let key = warga_ledger_core::chaincode::composite_key(object_type, parts).map_err(|e| {
        LedgerError::invalid(
            "object_type",
            format!("not a key: {e}"),
            format!("bukan kunci yang sah: {e}"),
        )
    })?;
    let changes = read(&access, client.history(&key)).await?;
    Ok(changes
        .iter()
        .map(warga_ledger_node::render::key_modification)
        .collect())
}

/// "Verify this ledger": every block the member's peer serves, replayed from the genesis of
/// the network file and judged with the organisations' CAs — links, data hashes, orderer
/// signatures, every transaction's code and every commit hash — trusting nothing the peer
/// says. `Err` names the first thing wrong.
pub async fn verify(
    gateway: &Gateway,
    member: &Principal,
) -> Result<Result<warga_ledger_peer::verify::Verified, String>, ApiError> {
    let access = gateway.access().await?;
    let client = access.reader(member)?;
    let info = read(&access, client.info()).await?;
    if info.height > VERIFY_BLOCKS_MAX {
        return Err(LedgerError::invalid(
            "height",
            format!(
                "{} blocks: more than {VERIFY_BLOCKS_MAX}; verify the peer's file with `warga ledger verify`",
                info.height
            ),
            format!(
                "{} blok: lebih dari {VERIFY_BLOCKS_MAX}; verifikasi berkas peer dengan `warga ledger verify`",
                info.height
            ),
        )
        .into());
    }
    let channel = access
        .network
        .channel(&access.channel)
        .ok_or_else(|| ApiError::internal("the gateway's channel left the network file"))?;
    // Block 0 must be the genesis block the network file and the organisations' CA
    // certificates give; every later configuration is judged from there.
    let genesis = warga_ledger_msp::channel::genesis_block(&access.network, channel, &access.crypto)
        .map_err(|e| ApiError::internal(format!("the channel's genesis block: {e}")))?;
    let mut replay = warga_ledger_peer::verify::ChainReplay::new(genesis);
    for number in 0..info.height {
        let wire = read(&access, client.block(number)).await?;
        let block = match warga_ledger_core::block::Block::try_from(wire) {
            Ok(block) => block,
            Err(error) => return Ok(Err(format!("block {number} does not decode: {error}"))),
        };
        if let Err(error) = replay.push(&block) {
            return Ok(Err(error.to_string()));
        }
    }
    Ok(Ok(replay.report().clone()))
}

/// Runs `call` within the gateway's deadline.
pub(crate) async fn read<T>(
    access: &LedgerAccess,
    call: impl std::future::Future<Output = Result<T, tonic::Status>>,
) -> Result<T, LedgerError> {
    match tokio::time::timeout(access.timeout, call).await {
        Ok(answer) => answer.map_err(LedgerError::Ledger),
        Err(_) => Err(LedgerError::Timeout(access.timeout.as_millis() as u64)),
    }
}

/// Adds a random salt to a `clinical` JSON object that has none.
fn salted(mut transient: BTreeMap<String, Vec<u8>>) -> Result<BTreeMap<String, Vec<u8>>, ApiError> {
    use ring::rand::SecureRandom;
    let mut salt = [0u8; 24];
    ring::rand::SystemRandom::new()
        .fill(&mut salt)
        .map_err(|_| ApiError::Unavailable("no randomness for the salt".into()))?;
    warga_ledger_core::bpjs::salt_clinical(&mut transient, &warga_ledger_core::tx::hex(&salt));
    Ok(transient)
}
