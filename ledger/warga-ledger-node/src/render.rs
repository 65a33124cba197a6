//! Ledger data as JSON for people: what `warga ledger block|events|history` print.

use serde_json::{Value, json};
use warga_ledger_core::tx::hex;
use warga_ledger_proto::v1;

/// Bytes as JSON when they are JSON, else as a (lossy) string.
pub fn bytes(value: &[u8]) -> Value {
    serde_json::from_slice::<Value>(value).unwrap_or_else(|_| Value::from(String::from_utf8_lossy(value).into_owned()))
}

/// A block: header hashes, who ordered it, each transaction's outcome, and a configuration
/// block's configuration. An error when the wire block does not decode.
pub fn block(wire: v1::Block) -> Result<Value, String> {
    let block = warga_ledger_core::block::Block::try_from(wire).map_err(|e| format!("an unreadable block: {e}"))?;
    let transactions: Vec<Value> = block
        .data
        .transactions()
        .iter()
        .enumerate()
        .map(|(i, tx)| {
            json!({
                "tx_id": tx.proposal.tx_id,
                "code": block.code(i).map(|c| c.as_str()),
                "creator": tx.proposal.creator.msp_id,
                "chaincode": tx.proposal.chaincode,
                "function": tx.proposal.function,
                "args": tx.proposal.args,
                "timestamp_ms": tx.proposal.timestamp_ms,
                "endorsers": tx.endorsements.iter().map(|e| e.endorser.msp_id.as_str()).collect::<Vec<_>>(),
                "event": tx.response.event.as_ref().map(|e| e.name.as_str()),
                // Private data: what the chain holds of it — the hashes.
                "private": tx.response.rwset.collections.iter().map(|c| json!({
                    "collection": c.collection,
                    "writes": c.writes.iter().map(|w| json!({
                        "key_hash": w.key,
                        "value_hash": w.value.as_deref().map(hex),
                    })).collect::<Vec<_>>(),
                })).collect::<Vec<_>>(),
            })
        })
        .collect();
    let mut out = json!({
        "number": block.header.number,
        "hash": hex(&block.header.hash()),
        "previous_hash": hex(&block.header.previous_hash),
        "data_hash": hex(&block.header.data_hash),
        "orderer": block.metadata.orderer.as_ref().map(|o| o.msp_id.as_str()),
        "commit_hash": hex(&block.metadata.commit_hash),
        "transactions": transactions,
    });
    match &block.data {
        warga_ledger_core::block::BlockData::Config(config) => {
            out["config"] = serde_json::from_str(config).unwrap_or_default();
        }
        // A configuration update: its outcome, who signed, and the configuration it makes.
        warga_ledger_core::block::BlockData::ConfigUpdate(envelope) => {
            let parsed: Value = serde_json::from_str(envelope).unwrap_or_default();
            out["config_update"] = json!({
                "code": block.code(0).map(|c| c.as_str()),
                "sequence": parsed["update"]["config"]["sequence"],
                "signers": parsed["signatures"]
                    .as_array()
                    .map(|s| s.iter().map(|s| s["signer"]["msp_id"].clone()).collect::<Vec<_>>())
                    .unwrap_or_default(),
                "config": parsed["update"]["config"],
            });
        }
        warga_ledger_core::block::BlockData::Transactions(_) => {}
    }
    Ok(out)
}

/// A committed block's event: its number, hash, each transaction's code and chaincode
/// event, and — when the stream carries whole blocks — the block under `full`.
pub fn block_event(event: v1::BlockEvent) -> Result<Value, String> {
    let full = match event.block {
        Some(wire) => Some(block(wire)?),
        None => None,
    };
    let transactions: Vec<Value> = event
        .transactions
        .into_iter()
        .map(|t| {
            json!({
                "tx_id": t.tx_id,
                "code": t.code_name,
                "chaincode": t.chaincode,
                "function": t.function,
                "event": t.event.map(|e| json!({ "name": e.name, "payload": bytes(&e.payload) })),
            })
        })
        .collect();
    let mut line = json!({
        "block": event.number,
        "hash": hex(&event.hash),
        "transactions": transactions,
    });
    if let Some(full) = full {
        line["full"] = full;
    }
    Ok(line)
}

/// One change of a key: the transaction and block that made it, and the value written (or
/// that it was deleted).
pub fn key_modification(change: &v1::KeyModification) -> Value {
    json!({
        "tx_id": change.tx_id,
        "block": change.block,
        "tx": change.tx,
        "timestamp_ms": change.timestamp_ms,
        "deleted": change.value.is_none(),
        "value": change.value.as_deref().map(bytes),
    })
}

/// A channel's height and the hashes at its top.
pub fn channel_info(info: &v1::ChannelInfo) -> Value {
    json!({
        "channel": info.channel,
        "height": info.height,
        "current_hash": hex(&info.current_hash),
        "previous_hash": hex(&info.previous_hash),
        "commit_hash": hex(&info.commit_hash),
    })
}
