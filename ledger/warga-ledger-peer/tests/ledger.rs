//! A peer's ledger on disk: blocks validated and committed with their codes, world state,
//! history and the transaction index in one write; reopened intact; out-of-order and
//! broken-chain blocks refused without a trace.

use warga_ledger_core::block::Block;
use warga_ledger_core::chaincode::composite_key;
use warga_ledger_core::rwset::StateReader;
use warga_ledger_core::validate::ValidationCode;
use warga_ledger_msp::testing::TestNetwork;
use warga_ledger_peer::{LedgerError, PeerLedger};

const NIK: &str = "3171075203950004";
const MAJORITY: [&str; 2] = ["BPJSMSP", "PuskesmasMSP"];

#[test]
fn blocks_commit_atomically_with_state_history_and_codes_and_survive_reopening() {
    let mut net = TestNetwork::new();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bpjs-main.redb");
    let genesis = Block::genesis("{\"channel\":\"bpjs-main\"}".into());
    let ledger = PeerLedger::open(&path, "bpjs-main", &genesis).unwrap();
    assert_eq!(ledger.height().unwrap(), 1);
    let network = net.network.clone();
    let channel = network.channel("bpjs-main").unwrap().clone();
    let msps = net.msps.clone();
    let bpjs = net.client("BPJSMSP");
    let puskesmas = net.client("PuskesmasMSP");

    // Block 1: a valid card, and one endorsed by BPJS alone.
    let snapshot = ledger.snapshot().unwrap();
    let issued = net.transact(
        &snapshot,
        "bpjs-main",
        &bpjs,
        "IssueCard",
        &[NIK, "1", "2027-12-31"],
        &MAJORITY,
    );
    let lonely = net.transact(
        &snapshot,
        "bpjs-main",
        &bpjs,
        "IssueCard",
        &["3171071203950005", "1", "2027-12-31"],
        &["BPJSMSP"],
    );
    drop(snapshot);
    let tip = ledger.block(0).unwrap().unwrap().header;
    let block = Block::next(&tip, vec![issued.clone(), lonely.clone()]);
    let codes = ledger.validate_and_commit(block, &network, &channel, &msps).unwrap();
    assert_eq!(codes, [ValidationCode::Valid, ValidationCode::EndorsementPolicyFailure]);
    let stored = ledger.block(1).unwrap().unwrap();
    assert_eq!(
        stored.code(1),
        Some(ValidationCode::EndorsementPolicyFailure),
        "codes stay with the block"
    );
    let status = ledger.tx_status(&lonely.proposal.tx_id).unwrap().unwrap();
    assert_eq!(
        (status.block, status.index, status.code),
        (1, 1, ValidationCode::EndorsementPolicyFailure)
    );
    let card_key = composite_key("card", &[NIK]).unwrap();
    let other_key = composite_key("card", &["3171071203950005"]).unwrap();
    let snapshot = ledger.snapshot().unwrap();
    assert!(snapshot.get("bpjs", &card_key).is_some());
    assert!(
        snapshot.get("bpjs", &other_key).is_none(),
        "an invalid transaction changes nothing"
    );

    // Block 2: two suspensions from one snapshot (MVCC), a visit; then a history query.
    let first = net.transact(
        &snapshot,
        "bpjs-main",
        &bpjs,
        "SuspendCard",
        &[NIK, "iuran menunggak"],
        &MAJORITY,
    );
    let second = net.transact(
        &snapshot,
        "bpjs-main",
        &bpjs,
        "SuspendCard",
        &[NIK, "data ganda"],
        &MAJORITY,
    );
    drop(snapshot);
    let block = Block::next(
        &ledger.block(1).unwrap().unwrap().header,
        vec![first, second, issued.clone()],
    );
    let codes = ledger.validate_and_commit(block, &network, &channel, &msps).unwrap();
    assert_eq!(
        codes,
        [
            ValidationCode::Valid,
            ValidationCode::MvccReadConflict,
            ValidationCode::DuplicateTxId
        ]
    );
    let snapshot = ledger.snapshot().unwrap();
    let history = snapshot.history("bpjs", &card_key);
    assert_eq!(history.len(), 2, "issued, then suspended");
    assert_eq!(history[0].tx_id, issued.proposal.tx_id);
    let reactivate = net.transact(
        &snapshot,
        "bpjs-main",
        &bpjs,
        "ReactivateCard",
        &[NIK, "2027-12-31"],
        &MAJORITY,
    );
    drop(snapshot);
    let block = Block::next(&ledger.block(2).unwrap().unwrap().header, vec![reactivate]);
    ledger.validate_and_commit(block, &network, &channel, &msps).unwrap();
    let snapshot = ledger.snapshot().unwrap();
    let visit = net.transact(
        &snapshot,
        "bpjs-main",
        &puskesmas,
        "RecordVisit",
        &["v1", NIK, "2026-02-01", "J06.9"],
        &MAJORITY,
    );
    drop(snapshot);
    let block = Block::next(&ledger.block(3).unwrap().unwrap().header, vec![visit]);
    assert_eq!(
        ledger.validate_and_commit(block, &network, &channel, &msps).unwrap(),
        [ValidationCode::Valid]
    );
    let snapshot = ledger.snapshot().unwrap();
    let visits = snapshot.range(
        "bpjs",
        &composite_key("visit", &[NIK]).unwrap(),
        &format!("{}\u{10FFFF}", composite_key("visit", &[NIK]).unwrap()),
        100,
    );
    assert_eq!(visits.len(), 1, "range queries read the stored state");
    drop(snapshot);

    // Out of order and broken links are refused and leave nothing behind.
    let tip = ledger.block(4).unwrap().unwrap();
    let mut skipped = Block::next(&tip.header, Vec::new());
    skipped.header.number += 1;
    assert!(matches!(
        ledger.commit(&skipped, &[]),
        Err(LedgerError::OutOfOrder { height: 5, got: 6 })
    ));
    let mut forged = Block::next(&tip.header, Vec::new());
    forged.header.previous_hash = [7; 32];
    assert!(matches!(ledger.commit(&forged, &[]), Err(LedgerError::BrokenChain(5))));
    assert_eq!(ledger.height().unwrap(), 5);
    drop(ledger);

    let reopened = PeerLedger::open(&path, "bpjs-main", &genesis).unwrap();
    assert_eq!(reopened.height().unwrap(), 5);
    assert_eq!(reopened.block(4).unwrap().unwrap(), tip);
    assert!(reopened.snapshot().unwrap().get("bpjs", &card_key).is_some());
    let other_genesis = Block::genesis("{\"channel\":\"other\"}".into());
    drop(reopened);
    assert!(matches!(
        PeerLedger::open(&path, "bpjs-main", &other_genesis),
        Err(LedgerError::BrokenChain(0))
    ));
}
