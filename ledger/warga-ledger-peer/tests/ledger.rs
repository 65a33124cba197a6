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
    let network = net.network.clone();
    let channel = network.channel("bpjs-main").unwrap().clone();
    let genesis = net.genesis(&channel);
    let ledger = PeerLedger::open(&path, "bpjs-main", &genesis).unwrap();
    assert_eq!(ledger.height().unwrap(), 1);
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
    let codes = ledger.validate_and_commit(block).unwrap();
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
    let codes = ledger.validate_and_commit(block).unwrap();
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
    ledger.validate_and_commit(block).unwrap();
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
    assert_eq!(ledger.validate_and_commit(block).unwrap(), [ValidationCode::Valid]);
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
    let other_genesis = net.genesis(network.channel("jatim-puskesmas").unwrap());
    drop(reopened);
    assert!(matches!(
        PeerLedger::open(&path, "bpjs-main", &other_genesis),
        Err(LedgerError::BrokenChain(0))
    ));
}

/// `verify` replays a ledger from its genesis block and refuses one whose stored codes lie,
/// whose block is unsigned or signed by a non-orderer.
#[test]
fn verify_replays_the_ledger_and_catches_lies() {
    use warga_ledger_msp::sign_block;
    use warga_ledger_peer::verify::{VerifyError, verify};

    let mut net = TestNetwork::new();
    let network = net.network.clone();
    let channel = network.channel("bpjs-main").unwrap().clone();
    let genesis = net.genesis(&channel);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ledger.redb");
    let ledger = PeerLedger::open(&path, "bpjs-main", &genesis).unwrap();
    let orderer = net.orderer();
    let bpjs = net.client("BPJSMSP");
    for (i, nik) in ["3171075203950004", "3171071203950005"].into_iter().enumerate() {
        let snapshot = ledger.snapshot().unwrap();
        let good = net.transact(
            &snapshot,
            "bpjs-main",
            &bpjs,
            "IssueCard",
            &[nik, "2", "2027-12-31"],
            &MAJORITY,
        );
        let bad = net.transact(
            &snapshot,
            "bpjs-main",
            &bpjs,
            "IssueCard",
            &[nik, "1", "2027-12-31"],
            &["BPJSMSP"],
        );
        drop(snapshot);
        let mut block = Block::next(&ledger.block(i as u64).unwrap().unwrap().header, vec![good, bad]);
        sign_block(&mut block, &orderer).unwrap();
        ledger.validate_and_commit(block).unwrap();
    }
    drop(ledger);
    let report = verify(&path, "bpjs-main", genesis.clone()).unwrap();
    assert_eq!(
        (report.blocks, report.transactions, report.valid, report.state_keys),
        (3, 4, 2, 2)
    );

    // A changed byte in any table of the file is caught.
    tamper_each_table(&path, dir.path(), &genesis);

    // A ledger whose block 1 claims the policy failure was valid.
    let lies = dir.path().join("lies.redb");
    let liar = PeerLedger::open(&lies, "bpjs-main", &genesis).unwrap();
    let snapshot = liar.snapshot().unwrap();
    let weak = net.transact(
        &snapshot,
        "bpjs-main",
        &bpjs,
        "IssueCard",
        &[NIK, "1", "2027-12-31"],
        &["BPJSMSP"],
    );
    drop(snapshot);
    let mut block = Block::next(&genesis.header, vec![weak]);
    sign_block(&mut block, &orderer).unwrap();
    block.metadata.validation_codes = vec![ValidationCode::Valid as u8];
    liar.commit(&block, &[ValidationCode::Valid]).unwrap();
    drop(liar);
    let error = verify(&lies, "bpjs-main", genesis.clone()).unwrap_err();
    assert!(
        matches!(
            &error,
            VerifyError::Code {
                block: 1,
                index: 0,
                recomputed: "ENDORSEMENT_POLICY_FAILURE",
                ..
            }
        ),
        "{error}"
    );

    // Unsigned, and signed by a peer instead of an orderer.
    for signer in [None, Some(net.peer("BPJSMSP"))] {
        let copy = dir.path().join(format!("unsigned-{}.redb", signer.is_some()));
        let unsigned = PeerLedger::open(&copy, "bpjs-main", &genesis).unwrap();
        let mut block = Block::next(&genesis.header, Vec::new());
        if let Some(signer) = &signer {
            sign_block(&mut block, signer).unwrap();
        }
        unsigned.commit(&block, &[]).unwrap();
        drop(unsigned);
        let error = verify(&copy, "bpjs-main", genesis.clone()).unwrap_err();
        assert!(
            matches!(error, VerifyError::OrdererSignature { block: 1, .. }),
            "{error}"
        );
    }
    // Re-signed by an application organisation's certificate whose OU says "orderer" (minted
    // with BPJS's CA key): only the orderer organisation orders.
    let fake_orderer = bpjs_certificate_claiming_orderer(net.dir.path());
    let copy = dir.path().join("resigned.redb");
    let resigned = PeerLedger::open(&copy, "bpjs-main", &genesis).unwrap();
    let mut block = Block::next(&genesis.header, Vec::new());
    sign_block(&mut block, &fake_orderer).unwrap();
    resigned.commit(&block, &[]).unwrap();
    drop(resigned);
    let error = verify(&copy, "bpjs-main", genesis.clone()).unwrap_err();
    assert!(
        matches!(error, VerifyError::OrdererSignature { block: 1, .. }),
        "{error}"
    );
    let other = net.genesis(network.channel("jatim-puskesmas").unwrap());
    let wrong = dir.path().join("wrong-genesis.redb");
    drop(PeerLedger::open(&wrong, "bpjs-main", &other).unwrap());
    assert!(matches!(
        verify(&wrong, "bpjs-main", genesis.clone()),
        Err(VerifyError::Genesis)
    ));
}

/// Nothing a client chooses and no clock moves a verdict. A proposal timestamped ten years
/// ahead — which an endorser refuses — is committed valid by a peer (timestamps and
/// validity windows are not judged at commit), and `verify` agrees now and with the clock
/// moved two years on, when every certificate involved has expired.
#[test]
fn no_clock_and_no_client_timestamp_changes_a_verdict() {
    use warga_ledger_core::tx::SignedProposal;
    use warga_ledger_peer::endorse::{EndorseError, Endorser};
    use warga_ledger_peer::verify::verify;

    let mut net = TestNetwork::new();
    let network = net.network.clone();
    let channel = network.channel("bpjs-main").unwrap().clone();
    let genesis = net.genesis(&channel);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ledger.redb");
    let ledger = PeerLedger::open(&path, "bpjs-main", &genesis).unwrap();
    let msps = net.msps.clone();
    let bpjs = net.client("BPJSMSP");
    let ten_years_ms = 10 * 365 * 86_400 * 1_000;
    let future = msps.now_s * 1_000 + ten_years_ms;
    let snapshot = ledger.snapshot().unwrap();
    let tx = net.transact_at(
        &snapshot,
        "bpjs-main",
        &bpjs,
        "IssueCard",
        &[NIK, "2", "2099-12-31"],
        &MAJORITY,
        future,
    );
    drop(snapshot);

    // The endorser reads its clock and refuses the proposal.
    let signed = SignedProposal {
        signature: bpjs.sign(&tx.proposal.encode()).unwrap(),
        proposal: tx.proposal.clone(),
        transient: Default::default(),
    };
    let endorser_key = net.peer("BPJSMSP");
    let refused = Endorser {
        ledger: &ledger,
        channel: &channel,
        msps: &msps,
        contract: &net.contract(),
        signer: &endorser_key,
    }
    .endorse(&signed)
    .unwrap_err();
    assert!(matches!(refused, EndorseError::Skewed { .. }), "{refused}");

    // Committed anyway (endorsed elsewhere), it is judged without a clock: valid.
    let mut block = Block::next(&genesis.header, vec![tx]);
    warga_ledger_msp::sign_block(&mut block, &net.orderer()).unwrap();
    let codes = ledger.validate_and_commit(block).unwrap();
    assert_eq!(codes, vec![ValidationCode::Valid]);
    drop(ledger);

    // `verify` takes no clock at all: a second replay, whenever it runs, agrees.
    let now = verify(&path, "bpjs-main", genesis.clone()).unwrap();
    let replayed = verify(&path, "bpjs-main", genesis.clone()).unwrap();
    assert_eq!(
        (now.blocks, now.transactions, now.valid, now.state_keys),
        (
            replayed.blocks,
            replayed.transactions,
            replayed.valid,
            replayed.state_keys
        )
    );
    assert_eq!((now.blocks, now.transactions, now.valid), (2, 1, 1));
}

/// Copies the verified ledger at `good` once per table, changes one byte of one entry in
/// the copy, and expects `verify` to name what differs.
fn tamper_each_table(good: &std::path::Path, dir: &std::path::Path, genesis: &Block) {
    use redb::{ReadableTable, TableDefinition};
    use warga_ledger_peer::verify::{VerifyError, verify};
    // The ledger's tables, as the file names them.
    const BLOCKS: TableDefinition<u64, &[u8]> = TableDefinition::new("blocks");
    const TXS: TableDefinition<&str, (u64, u64, u8)> = TableDefinition::new("txs");
    const STATE: TableDefinition<&str, (u64, u64, &[u8])> = TableDefinition::new("state");
    type HistoryKey<'a> = (&'a str, u64, u64);
    type HistoryValue<'a> = (&'a str, i64, bool, &'a [u8]);
    const HISTORY: TableDefinition<HistoryKey, HistoryValue> = TableDefinition::new("history");

    let flip = |bytes: &[u8]| {
        let mut changed = bytes.to_vec();
        let last = changed.len() - 1;
        changed[last] ^= 1;
        changed
    };
    for table in ["blocks", "txs", "state", "history"] {
        let copy = dir.join(format!("tampered-{table}.redb"));
        std::fs::copy(good, &copy).unwrap();
        let db = redb::Database::open(&copy).unwrap();
        let write = db.begin_write().unwrap();
        match table {
            "blocks" => {
                let mut t = write.open_table(BLOCKS).unwrap();
                let bytes = t.get(1).unwrap().unwrap().value().to_vec();
                t.insert(1, flip(&bytes).as_slice()).unwrap();
            }
            "txs" => {
                let mut t = write.open_table(TXS).unwrap();
                let (id, (block, index, code)) = {
                    let (k, v) = t.iter().unwrap().next().unwrap().unwrap();
                    (k.value().to_owned(), v.value())
                };
                t.insert(id.as_str(), (block, index, code ^ 1)).unwrap();
            }
            "state" => {
                let mut t = write.open_table(STATE).unwrap();
                let (key, (block, tx, value)) = {
                    let (k, v) = t.iter().unwrap().next().unwrap().unwrap();
                    let (b, i, val) = v.value();
                    (k.value().to_owned(), (b, i, val.to_vec()))
                };
                t.insert(key.as_str(), (block, tx, flip(&value).as_slice())).unwrap();
            }
            _ => {
                let mut t = write.open_table(HISTORY).unwrap();
                let ((key, block, tx), (id, ts, deleted, value)) = {
                    let (k, v) = t.iter().unwrap().next().unwrap().unwrap();
                    let (key, block, tx) = k.value();
                    let (id, ts, deleted, value) = v.value();
                    (
                        (key.to_owned(), block, tx),
                        (id.to_owned(), ts, deleted, value.to_vec()),
                    )
                };
                t.insert(
                    (key.as_str(), block, tx),
                    (id.as_str(), ts, deleted, flip(&value).as_slice()),
                )
                .unwrap();
            }
        }
        write.commit().unwrap();
        drop(db);
        let error = verify(&copy, "bpjs-main", genesis.clone()).unwrap_err();
        let named = match table {
            // The last byte of block 1 is in its metadata (a validation code): recomputed.
            "blocks" => matches!(
                error,
                VerifyError::Chain(1)
                    | VerifyError::Ledger(_)
                    | VerifyError::OrdererSignature { .. }
                    | VerifyError::Code { block: 1, .. }
                    | VerifyError::CommitHash(1)
            ),
            "txs" => matches!(error, VerifyError::TxIndex(_)),
            "state" => matches!(error, VerifyError::State(_)),
            _ => matches!(error, VerifyError::History { .. }),
        };
        assert!(named, "{table}: {error}");
    }
}

/// A BPJS identity with the orderer role in its OU, issued with BPJS's own CA key.
fn bpjs_certificate_claiming_orderer(crypto: &std::path::Path) -> warga_ledger_msp::SigningIdentity {
    use rcgen::{DistinguishedName, DnType, Issuer, KeyPair};
    use warga_ledger_msp::generate::{identity_params, organization_dir};
    let ca_dir = organization_dir(crypto, false, "bpjs.warga.local").join("ca");
    let ca_key = KeyPair::from_pem(&std::fs::read_to_string(ca_dir.join("priv_sk")).unwrap()).unwrap();
    let mut ca_params = rcgen::CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CountryName, "ID");
    dn.push(DnType::StateOrProvinceName, "DKI Jakarta");
    dn.push(DnType::LocalityName, "Jakarta");
    dn.push(DnType::OrganizationName, "bpjs.warga.local");
    dn.push(DnType::CommonName, "ca.bpjs.warga.local");
    ca_params.distinguished_name = dn;
    let ca = Issuer::new(ca_params, ca_key);
    let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let params = identity_params(
        "bpjs.warga.local",
        "orderer-palsu.bpjs.warga.local",
        Some(warga_ledger_core::policy::MspRole::Orderer),
        &Default::default(),
        time::OffsetDateTime::now_utc(),
    )
    .unwrap();
    let certificate = params.signed_by(&key, &ca).unwrap();
    warga_ledger_msp::SigningIdentity::from_pem("BPJSMSP", certificate.pem().as_bytes(), key.serialize_pem().as_bytes())
        .unwrap()
}

/// Fork evidence: every committed block carries a commit hash chained over the previous
/// one, its codes and its writes. Two peers that validated a block differently (here, one
/// recorded other codes for it) agree up to it and differ from it on, and the comparison
/// names that block.
#[test]
fn commit_hashes_name_the_first_divergent_block() {
    let mut net = TestNetwork::new();
    let network = net.network.clone();
    let channel = network.channel("bpjs-main").unwrap().clone();
    let genesis = net.genesis(&channel);
    let dir = tempfile::tempdir().unwrap();
    let a = PeerLedger::open(&dir.path().join("a.redb"), "bpjs-main", &genesis).unwrap();
    let b = PeerLedger::open(&dir.path().join("b.redb"), "bpjs-main", &genesis).unwrap();
    let orderer = net.orderer();
    let bpjs = net.client("BPJSMSP");
    let niks = ["3171075203950004", "3171071203950005", "3171075203950006"];
    let mut previous = genesis.header.clone();
    for (i, nik) in niks.into_iter().enumerate() {
        let snapshot = a.snapshot().unwrap();
        let tx = net.transact(
            &snapshot,
            "bpjs-main",
            &bpjs,
            "IssueCard",
            &[nik, "2", "2027-12-31"],
            &MAJORITY,
        );
        drop(snapshot);
        let mut block = Block::next(&previous, vec![tx]);
        warga_ledger_msp::sign_block(&mut block, &orderer).unwrap();
        previous = block.header.clone();
        let codes = a.validate_and_commit(block.clone()).unwrap();
        if i == 0 {
            b.validate_and_commit(block).unwrap();
        } else {
            // Peer b judged blocks 2 and 3 otherwise.
            let other = vec![ValidationCode::EndorsementPolicyFailure; codes.len()];
            let parent = b.commit_hash(block.header.number - 1).unwrap();
            block.metadata.validation_codes = other.iter().map(|c| *c as u8).collect();
            block.metadata.commit_hash = warga_ledger_core::block::commit_hash(&parent, &block, &other).to_vec();
            b.commit(&block, &other).unwrap();
        }
    }
    assert_eq!(a.commit_hash(1).unwrap(), b.commit_hash(1).unwrap());
    assert_ne!(a.commit_hash(2).unwrap(), b.commit_hash(2).unwrap());
    assert_ne!(a.commit_hash(3).unwrap(), b.commit_hash(3).unwrap());
    assert!(!a.commit_hash(1).unwrap().is_empty());
    assert_eq!(a.first_divergence(&b).unwrap(), Some(2));
    assert_eq!(a.first_divergence(&a).unwrap(), None);
}

/// A peer checks block n + 1's signatures while block n commits; MVCC and duplicates must
/// still be judged against the state block n leaves, and a prechecked block whose data was
/// changed after it was hashed is refused.
#[test]
fn a_block_prechecked_before_its_predecessor_commits_is_judged_against_that_predecessor() {
    use warga_ledger_peer::Prechecked;
    let mut net = TestNetwork::new();
    let dir = tempfile::tempdir().unwrap();
    let network = net.network.clone();
    let channel = network.channel("bpjs-main").unwrap().clone();
    let genesis = net.genesis(&channel);
    let ledger = PeerLedger::open(&dir.path().join("bpjs-main.redb"), "bpjs-main", &genesis).unwrap();
    let bpjs = net.client("BPJSMSP");

    // Both blocks simulated against the genesis state: block 2 suspends the card block 1
    // issues (read of a key block 1 writes) and repeats block 1's transaction.
    let snapshot = ledger.snapshot().unwrap();
    let issued = net.transact(
        &snapshot,
        "bpjs-main",
        &bpjs,
        "IssueCard",
        &[NIK, "1", "2027-12-31"],
        &MAJORITY,
    );
    let stale = net.transact(
        &snapshot,
        "bpjs-main",
        &bpjs,
        "IssueCard",
        &[NIK, "2", "2028-12-31"],
        &MAJORITY,
    );
    drop(snapshot);
    let one = Block::next(&genesis.header, vec![issued.clone()]);
    let two = Block::next(&one.header, vec![stale, issued]);
    let mut tampered = Block::next(&one.header, vec![]);
    tampered.data = one.data.clone();

    let first = Prechecked::new(one, &ledger.config());
    let second = Prechecked::new(two, &ledger.config());
    let forged = Prechecked::new(tampered, &ledger.config());
    assert_eq!(ledger.commit_prechecked(first).unwrap(), [ValidationCode::Valid]);
    assert!(matches!(
        ledger.commit_prechecked(forged),
        Err(LedgerError::BrokenChain(2))
    ));
    assert_eq!(ledger.height().unwrap(), 2, "nothing of the forged block was written");
    assert_eq!(
        ledger.commit_prechecked(second).unwrap(),
        [ValidationCode::MvccReadConflict, ValidationCode::DuplicateTxId],
        "judged against block 1's writes, not the state at precheck time"
    );
    assert_eq!(ledger.height().unwrap(), 3);
}
