//! The routes of `/api/v1/ledger`.

use std::convert::Infallible;
use std::time::Duration;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::sse::Event;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use futures::{Stream, StreamExt};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::OpenApi;
use warga_core::identity::Principal;
use warga_http::{ApiError, Auth, Json, JsonBody, Problem, Query};
use warga_ledger_node::render;

use crate::LedgerError;
use crate::access::{Gateway, require_member, require_reader};
use crate::portal::{Committed, MyRecord, read};

/// Most arguments of one chaincode call.
pub const ARGS_MAX: usize = 32;
/// Longest argument, in bytes.
pub const ARG_BYTES_MAX: usize = 16 * 1024;
/// The longest an event stream stays open (the client reconnects with `Last-Event-ID`).
const STREAM_LIFETIME: Duration = Duration::from_secs(600);

pub(crate) fn router(gateway: Gateway) -> Router {
    Router::new()
        .route("/api/v1/ledger/transactions", post(submit))
        .route("/api/v1/ledger/evaluate", post(evaluate))
        .route("/api/v1/ledger/transactions/{tx_id}", get(transaction))
        .route("/api/v1/ledger/transactions/{tx_id}/block", get(block_of_transaction))
        .route("/api/v1/ledger/blocks/{number}", get(block))
        .route("/api/v1/ledger/channel", get(channel))
        .route("/api/v1/ledger/history/{object_type}/{*parts}", get(history))
        .route("/api/v1/ledger/events", get(events))
        .route("/api/v1/ledger/me", get(my_record))
        .with_state(gateway)
}

#[derive(OpenApi)]
#[openapi(
    paths(submit, evaluate, transaction, block_of_transaction, block, channel, history, events, my_record),
    components(schemas(Invocation, Committed, Evaluated, TxStatus, MyRecord)),
    tags((name = "ledger", description = "The BPJS ledger through its web gateway, under the caller's own ledger identity"))
)]
struct LedgerApi;

pub(crate) fn openapi() -> utoipa::openapi::OpenApi {
    LedgerApi::openapi()
}

/// A chaincode function and its arguments.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Invocation {
    /// The contract's function, e.g. `IssueCard`.
    pub function: String,
    /// Its arguments, as strings (at most 32, each at most 16 KiB).
    #[serde(default)]
    pub args: Vec<String>,
    /// Private inputs (Fabric's transient map), at most 16 of at most 64 KiB each: a string
    /// as its UTF-8 bytes, anything else as its JSON. They reach only the endorsing peers —
    /// never the transaction or any block. `RecordVisit` takes the visit's clinical details
    /// here: `{"clinical": {"diagnosis": "J06.9", "notes": "…"}}` (a random `salt` is added
    /// when none is given).
    #[serde(default)]
    #[schema(value_type = Object)]
    pub transient: std::collections::BTreeMap<String, Value>,
}

/// Most transient entries, and most bytes of one.
const TRANSIENT_MAX: usize = 16;
const TRANSIENT_BYTES_MAX: usize = 64 * 1024;

impl Invocation {
    fn check(&self) -> Result<(), LedgerError> {
        let function_ok = (1..=64).contains(&self.function.len())
            && self.function.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
        if !function_ok {
            return Err(LedgerError::invalid(
                "function",
                "a function name is 1–64 of A–Z, a–z, 0–9, '_'",
                "nama fungsi 1–64 karakter A–Z, a–z, 0–9, '_'",
            ));
        }
        if self.args.len() > ARGS_MAX {
            return Err(LedgerError::invalid(
                "args",
                format!("at most {ARGS_MAX} arguments"),
                format!("paling banyak {ARGS_MAX} argumen"),
            ));
        }
        if let Some(i) = self.args.iter().position(|a| a.len() > ARG_BYTES_MAX) {
            return Err(LedgerError::Invalid {
                field: "args",
                en: format!("argument {i} is longer than {ARG_BYTES_MAX} bytes"),
                id: format!("argumen {i} lebih dari {ARG_BYTES_MAX} byte"),
            });
        }
        let transient = self.transient_bytes();
        let names_ok = transient.keys().all(|name| {
            (1..=64).contains(&name.len())
                && name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
        });
        if transient.len() > TRANSIENT_MAX || !names_ok || transient.values().any(|v| v.len() > TRANSIENT_BYTES_MAX) {
            return Err(LedgerError::invalid(
                "transient",
                format!(
                    "at most {TRANSIENT_MAX} entries, named with 1–64 of A–Z, a–z, 0–9, '_', '-', '.', each at most {TRANSIENT_BYTES_MAX} bytes"
                ),
                format!(
                    "paling banyak {TRANSIENT_MAX} entri, bernama 1–64 karakter A–Z, a–z, 0–9, '_', '-', '.', masing-masing paling banyak {TRANSIENT_BYTES_MAX} byte"
                ),
            ));
        }
        Ok(())
    }

    /// The transient map as bytes: a string as its UTF-8, anything else as its JSON.
    pub fn transient_bytes(&self) -> std::collections::BTreeMap<String, Vec<u8>> {
        self.transient
            .iter()
            .map(|(name, value)| {
                let bytes = match value {
                    Value::String(text) => text.clone().into_bytes(),
                    other => other.to_string().into_bytes(),
                };
                (name.clone(), bytes)
            })
            .collect()
    }
}

/// What an evaluation returned.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Evaluated {
    #[schema(value_type = Object)]
    pub result: Value,
}

/// A transaction's validation outcome.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TxStatus {
    pub tx_id: String,
    pub block: u64,
    /// Fabric's validation code, e.g. `VALID` or `MVCC_READ_CONFLICT`.
    pub code: String,
    pub valid: bool,
    #[schema(value_type = Object)]
    pub result: Value,
}

fn result_value(bytes: &[u8]) -> Value {
    if bytes.is_empty() {
        Value::Null
    } else {
        render::bytes(bytes)
    }
}

/// Submit a transaction: endorsed by the peers its policy needs, signed with your ledger
/// identity, ordered, and answered once committed on your organisation's peer.
#[utoipa::path(post, path = "/api/v1/ledger/transactions", tag = "ledger", request_body = Invocation,
    security(("bearer" = [])), responses(
    (status = 201, body = Committed, description = "Committed and valid"),
    (status = 400, body = Problem, content_type = "application/problem+json", description = "A bad request, or the contract refused its arguments (`urn:warga:problem:ledger-refused`)"),
    (status = 403, body = Problem, content_type = "application/problem+json", description = "Not a member of the channel, or the contract refused the caller"),
    (status = 409, body = Problem, content_type = "application/problem+json", description = "The contract refused it in the current state, the endorsers disagreed, or it was committed invalid (`urn:warga:problem:transaction-invalid`)"),
    (status = 502, body = Problem, content_type = "application/problem+json", description = "The ledger or the organisation's CA cannot be reached"),
    (status = 503, body = Problem, content_type = "application/problem+json", description = "The endorsement policy cannot be satisfied (`urn:warga:problem:endorsement-unsatisfiable`)"),
    (status = 504, body = Problem, content_type = "application/problem+json", description = "No commit within the gateway's deadline (`urn:warga:problem:ledger-timeout`)"),
))]
async fn submit(State(gateway): State<Gateway>, auth: Auth, body: JsonBody) -> Result<Response, ApiError> {
    require_member(&auth.0)?;
    let access = gateway.access().await?;
    // Membership before the body: a stranger learns nothing about what would be accepted.
    access.reader(&auth.0)?;
    let invocation: Invocation = body.parse()?;
    invocation.check()?;
    let committed = crate::portal::submit_with(
        &gateway,
        &auth.0,
        &invocation.function,
        &invocation.args,
        invocation.transient_bytes(),
    )
    .await?;
    Ok((StatusCode::CREATED, Json(committed)).into_response())
}

/// Evaluate a function on your organisation's peer without ordering anything (a query).
#[utoipa::path(post, path = "/api/v1/ledger/evaluate", tag = "ledger", request_body = Invocation,
    security(("bearer" = [])), responses(
    (status = 200, body = Evaluated),
    (status = 400, body = Problem, content_type = "application/problem+json"),
    (status = 403, body = Problem, content_type = "application/problem+json"),
    (status = 404, body = Problem, content_type = "application/problem+json"),
    (status = 504, body = Problem, content_type = "application/problem+json"),
))]
async fn evaluate(State(gateway): State<Gateway>, auth: Auth, body: JsonBody) -> Result<Json<Evaluated>, ApiError> {
    require_member(&auth.0)?;
    let access = gateway.access().await?;
    access.reader(&auth.0)?;
    let invocation: Invocation = body.parse()?;
    invocation.check()?;
    let client = access.signer(&auth.0).await?;
    let evaluated = async {
        let signed = client
            .proposal_with_transient(&invocation.function, &invocation.args, invocation.transient_bytes())
            .await?;
        client.evaluate_proposal(signed).await
    };
    let result = read(&access, evaluated).await?;
    Ok(Json(Evaluated {
        result: result_value(&result),
    }))
}

fn check_tx_id(tx_id: &str) -> Result<(), LedgerError> {
    if tx_id.len() == 64 && tx_id.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(())
    } else {
        Err(LedgerError::invalid(
            "tx_id",
            "a transaction id is 64 hexadecimal digits",
            "id transaksi terdiri atas 64 digit heksadesimal",
        ))
    }
}

/// A transaction's validation code and block.
#[utoipa::path(get, path = "/api/v1/ledger/transactions/{tx_id}", tag = "ledger", security(("bearer" = [])),
    params(("tx_id" = String, Path, description = "The transaction id (64 hex digits)")),
    responses(
        (status = 200, body = TxStatus),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    ))]
async fn transaction(
    State(gateway): State<Gateway>,
    auth: Auth,
    Path(tx_id): Path<String>,
) -> Result<Json<TxStatus>, ApiError> {
    require_reader(&auth.0)?;
    let access = gateway.access().await?;
    let client = access.reader(&auth.0)?;
    check_tx_id(&tx_id)?;
    let status = read(&access, client.status(&tx_id)).await?;
    Ok(Json(TxStatus {
        valid: status.code_name == "VALID",
        result: result_value(&status.result),
        tx_id: status.tx_id,
        block: status.block,
        code: status.code_name,
    }))
}

fn block_json(block: warga_ledger_proto::v1::Block) -> Result<Json<Value>, ApiError> {
    render::block(block).map(Json).map_err(ApiError::internal)
}

/// The block holding a transaction.
#[utoipa::path(get, path = "/api/v1/ledger/transactions/{tx_id}/block", tag = "ledger", security(("bearer" = [])),
    params(("tx_id" = String, Path, description = "The transaction id (64 hex digits)")),
    responses(
        (status = 200, description = "The block: header hashes, orderer, each transaction with its code", body = Object),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    ))]
async fn block_of_transaction(
    State(gateway): State<Gateway>,
    auth: Auth,
    Path(tx_id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    require_reader(&auth.0)?;
    let access = gateway.access().await?;
    let client = access.reader(&auth.0)?;
    check_tx_id(&tx_id)?;
    block_json(read(&access, client.block_by_tx_id(&tx_id)).await?)
}

/// A block by number.
#[utoipa::path(get, path = "/api/v1/ledger/blocks/{number}", tag = "ledger", security(("bearer" = [])),
    params(("number" = u64, Path, description = "The block number (0 is the genesis block)")),
    responses(
        (status = 200, description = "The block: header hashes, orderer, each transaction with its code", body = Object),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    ))]
async fn block(
    State(gateway): State<Gateway>,
    auth: Auth,
    Path(number): Path<String>,
) -> Result<Json<Value>, ApiError> {
    require_reader(&auth.0)?;
    let access = gateway.access().await?;
    let client = access.reader(&auth.0)?;
    let number: u64 = number.parse().map_err(|_| {
        LedgerError::invalid(
            "number",
            "a block number is a whole number from 0",
            "nomor blok adalah bilangan bulat mulai 0",
        )
    })?;
    block_json(read(&access, client.block(number)).await?)
}

/// The channel: its height and the hashes at its top.
#[utoipa::path(get, path = "/api/v1/ledger/channel", tag = "ledger", security(("bearer" = [])),
    responses(
        (status = 200, description = "channel, height, current_hash, previous_hash, commit_hash", body = Object),
        (status = 403, body = Problem, content_type = "application/problem+json"),
    ))]
async fn channel(State(gateway): State<Gateway>, auth: Auth) -> Result<Json<Value>, ApiError> {
    require_reader(&auth.0)?;
    let access = gateway.access().await?;
    let client = access.reader(&auth.0)?;
    let info = read(&access, client.info()).await?;
    Ok(Json(render::channel_info(&info)))
}

/// Every committed change of a key — an object type and its key parts, as the contract
/// composes them (`card/3578010101900001`, `claim/<claim id>`) — oldest first.
#[utoipa::path(get, path = "/api/v1/ledger/history/{object_type}/{parts}", tag = "ledger", security(("bearer" = [])),
    params(
        ("object_type" = String, Path, description = "The object type, e.g. `card`"),
        ("parts" = String, Path, description = "Its key parts, separated by `/`, e.g. a NIK"),
    ),
    responses(
        (status = 200, description = "object_type, parts and the modifications (tx_id, block, tx, timestamp_ms, deleted, value)", body = Object),
        (status = 400, body = Problem, content_type = "application/problem+json"),
    ))]
async fn history(
    State(gateway): State<Gateway>,
    auth: Auth,
    Path((object_type, parts)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    require_reader(&auth.0)?;
    let access = gateway.access().await?;
    let client = access.reader(&auth.0)?;
    let parts: Vec<&str> = parts.split('/').filter(|p| !p.is_empty()).collect();
    let key = warga_ledger_core::chaincode::composite_key(&object_type, &parts).map_err(|e| {
        LedgerError::invalid(
            "object_type",
            format!("not a key: {e}"),
            format!("bukan kunci yang sah: {e}"),
        )
    })?;
    let changes = read(&access, client.history(&key)).await?;
    Ok(Json(json!({
        "object_type": object_type,
        "parts": parts,
        "modifications": changes.iter().map(render::key_modification).collect::<Vec<_>>(),
    })))
}

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
struct EventsQuery {
    /// The first block to send; absent: the next block to be committed. A `Last-Event-ID`
    /// header (the last block received) wins: the stream resumes after it.
    from: Option<u64>,
    /// Whether each `block` event carries the whole block under `full`.
    #[serde(default)]
    full: bool,
}

/// The block number a `Last-Event-ID` header names, if any.
fn last_event_id(headers: &HeaderMap) -> Result<Option<u64>, LedgerError> {
    let Some(value) = headers.get("last-event-id") else {
        return Ok(None);
    };
    value
        .to_str()
        .ok()
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Some)
        .ok_or_else(|| {
            LedgerError::invalid(
                "Last-Event-ID",
                "the last event id is a block number",
                "Last-Event-ID adalah nomor blok",
            )
        })
}

/// Committed blocks and chaincode events as server-sent events. Each block gives a
/// `chaincode` event per transaction that emitted one (`block`, `tx_id`, `code`, `name`,
/// `payload`), then a `block` event whose id is the block number — so a client that
/// reconnects with `Last-Event-ID` resumes at the next block. A stream ends after ten
/// minutes or when the token expires, whichever is first.
#[utoipa::path(get, path = "/api/v1/ledger/events", tag = "ledger", security(("bearer" = [])),
    params(EventsQuery, ("Last-Event-ID" = Option<u64>, Header, description = "The last block received; the stream resumes after it")),
    responses(
        (status = 200, description = "server-sent events", content_type = "text/event-stream"),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
    ))]
async fn events(
    State(gateway): State<Gateway>,
    auth: Auth,
    headers: HeaderMap,
    Query(query): Query<EventsQuery>,
) -> Result<Response, ApiError> {
    require_reader(&auth.0)?;
    let access = gateway.access().await?;
    let client = access.reader(&auth.0)?;
    let start = match (last_event_id(&headers)?, query.from) {
        (Some(last), _) => last.saturating_add(1),
        (None, Some(from)) => from,
        (None, None) => read(&access, client.info()).await?.height,
    };
    let blocks = read(&access, client.events(start, query.full)).await?;
    let until = tokio::time::Instant::now() + lifetime(&auth.0);
    let stream = block_events(blocks).take_until(tokio::time::sleep_until(until));
    Ok(axum::response::sse::Sse::new(stream)
        .keep_alive(axum::response::sse::KeepAlive::default())
        .into_response())
}

fn lifetime(principal: &Principal) -> Duration {
    let now_s = warga_core::time::now_ms() / 1000;
    let left = u64::try_from(principal.expires_at.saturating_sub(now_s)).unwrap_or(0);
    STREAM_LIFETIME.min(Duration::from_secs(left))
}

/// The SSE events of a peer's block stream; the stream ends at the first error (the client
/// reconnects and resumes).
fn block_events(
    blocks: tonic::Streaming<warga_ledger_proto::v1::BlockEvent>,
) -> impl Stream<Item = Result<Event, Infallible>> {
    blocks
        .take_while(|item| {
            let ok = item.is_ok();
            if let Err(error) = item {
                tracing::warn!(%error, "a ledger event stream ended");
            }
            std::future::ready(ok)
        })
        .filter_map(|item| std::future::ready(item.ok()))
        .flat_map(|block| futures::stream::iter(sse_of_block(block)))
        .map(Ok)
}

fn sse_of_block(block: warga_ledger_proto::v1::BlockEvent) -> Vec<Event> {
    let number = block.number;
    let mut events: Vec<Event> = block
        .transactions
        .iter()
        .filter_map(|tx| {
            tx.event.as_ref().map(|event| {
                let data = json!({
                    "block": number,
                    "tx_id": tx.tx_id,
                    "code": tx.code_name,
                    "name": event.name,
                    "payload": render::bytes(&event.payload),
                });
                Event::default().event("chaincode").data(data.to_string())
            })
        })
        .collect();
    match render::block_event(block) {
        Ok(line) => events.push(
            Event::default()
                .event("block")
                .id(number.to_string())
                .data(line.to_string()),
        ),
        Err(error) => tracing::warn!(%error, block = number, "a block event could not be rendered"),
    }
    events
}

/// A citizen's own BPJS card, visits and referrals — for an account linked to its resident
/// record (the registry's NIK is the key), read by BPJS's patient portal identity; each
/// read is in the audit log.
#[utoipa::path(get, path = "/api/v1/ledger/me", tag = "ledger", security(("bearer" = [])),
    responses(
        (status = 200, body = MyRecord),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json", description = "The account is not linked to a resident record"),
    ))]
async fn my_record(State(gateway): State<Gateway>, auth: Auth) -> Result<Json<MyRecord>, ApiError> {
    Ok(Json(crate::portal::my_record(&gateway, &auth.0).await?))
}
