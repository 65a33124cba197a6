//! Configuration in the chain: a configuration transaction is judged by every peer against
//! the configuration of its block — the right sequence, the signatures its modification
//! policies ask for — and, when valid, applies from the next block on: a revocation list
//! in it makes the revoked endorser's and creator's transactions invalid on every peer
//! alike, and a replay reaches the same codes.

use warga_ledger_core::block::{Block, BlockData};
use warga_ledger_core::config::ConfigEnvelope;
use warga_ledger_core::tx::Transaction;
use warga_ledger_core::validate::ValidationCode;
use warga_ledger_msp::testing::TestNetwork;
use warga_ledger_peer::{PeerLedger, Prechecked};

/// The example network, `bpjs-main`'s genesis block, and a directory for ledgers.
fn network() -> (TestNetwork, Block, tempfile::TempDir) {
    let net = TestNetwork::new();
    let channel = net.network.channel("bpjs-main").unwrap().clone();
    let genesis = net.genesis(&channel);
    (net, genesis, tempfile::tempdir().unwrap())
}

fn block_after(previous: &Block, data: BlockData, net: &TestNetwork) -> Block {
    let mut block = Block::next_with(&previous.header, data);
    warga_ledger_msp::sign_block(&mut block, &net.orderer()).unwrap();
    block
}

fn config_block(previous: &Block, envelope: &ConfigEnvelope, net: &TestNetwork) -> Block {
    block_after(previous, BlockData::ConfigUpdate(envelope.to_json()), net)
}

fn txs_block(previous: &Block, txs: Vec<Transaction>, net: &TestNetwork) -> Block {
    block_after(previous, BlockData::Transactions(txs), net)
}

#[test]
fn a_revocation_list_applies_at_its_block_on_every_peer_and_on_replay() {
    let (mut net, genesis, dir) = network();
    let path_a = dir.path().join("a.redb");
    let a = PeerLedger::open(&path_a, "bpjs-main", &genesis).unwrap();
    let b = PeerLedger::open(&dir.path().join("b.redb"), "bpjs-main", &genesis).unwrap();
    let bpjs = net.client("BPJSMSP");
    let puskesmas_peer = net.peer("PuskesmasMSP");
    let initial = a.config().resolved.config.clone();
    assert_eq!(initial.sequence, 0);

    // Everything simulated against the genesis state (distinct cards, no conflicts).
    let snapshot = a.snapshot().unwrap();
    let card = |net: &mut TestNetwork, nik: &str, endorsers: &[&str]| {
        net.transact(
            &snapshot,
            "bpjs-main",
            &bpjs,
            "IssueCard",
            &[nik, "2", "2027-12-31"],
            endorsers,
        )
    };
    let before = card(&mut net, "3171075203950004", &["BPJSMSP", "PuskesmasMSP"]);
    let by_revoked_peer = card(&mut net, "3171071203950005", &["BPJSMSP", "PuskesmasMSP"]);
    let by_others = card(&mut net, "3171075203950006", &["BPJSMSP", "RumahSakitMSP"]);
    let by_revoked_client = card(&mut net, "3171075203950007", &["BPJSMSP", "RumahSakitMSP"]);
    drop(snapshot);

    // Puskesmas revokes its peer: its own section, so its own admin must sign.
    let mut revoked = initial.clone();
    let crl = net.revocation_list("PuskesmasMSP", &[&puskesmas_peer]);
    revoked.organizations[1].crls.push(crl);
    let unsigned = net.config_update(&initial, revoked.clone(), &["BPJSMSP"]);
    let signed = net.config_update(&initial, revoked.clone(), &["PuskesmasMSP"]);
    // Then BPJS revokes its client (sequence 1 → 2), signed by BPJS's admin.
    let mut client_revoked = signed.update.config.clone();
    let crl = net.revocation_list("BPJSMSP", &[&bpjs]);
    client_revoked.organizations[0].crls.push(crl);
    let second = net.config_update(&signed.update.config, client_revoked, &["BPJSMSP"]);

    let b1 = txs_block(&genesis, vec![before], &net);
    let b2 = config_block(&b1, &unsigned, &net);
    let b3 = config_block(&b2, &signed, &net);
    let b4 = config_block(&b3, &signed, &net); // the same update again: its sequence is past
    let b5 = txs_block(&b4, vec![by_revoked_peer, by_others], &net);
    let b6 = config_block(&b5, &second, &net);
    let b7 = txs_block(&b6, vec![by_revoked_client], &net);
    let blocks = [b1, b2, b3, b4, b5, b6, b7];

    // Peer a prechecks block 5 before block 3 (the update) commits, as a peer reading
    // ahead does: the checks run again under the configuration in force when it commits.
    let mut codes_a = Vec::new();
    let early = Prechecked::new(blocks[4].clone(), &a.config());
    for block in &blocks[..4] {
        codes_a.push(a.validate_and_commit(block.clone()).unwrap());
    }
    codes_a.push(a.commit_prechecked(early).unwrap());
    for block in &blocks[5..] {
        codes_a.push(a.validate_and_commit(block.clone()).unwrap());
    }
    let codes_b: Vec<_> = blocks
        .iter()
        .map(|b_| b.validate_and_commit(b_.clone()).unwrap())
        .collect();
    use ValidationCode::*;
    assert_eq!(
        codes_a,
        [
            vec![Valid],
            vec![InvalidConfigTransaction],
            vec![Valid],
            vec![InvalidConfigTransaction],
            vec![EndorsementPolicyFailure, Valid],
            vec![Valid],
            vec![BadCreatorSignature],
        ]
    );
    assert_eq!(codes_a, codes_b, "every peer reaches the same codes");
    assert_eq!(a.first_divergence(&b).unwrap(), None);
    assert_eq!(a.config().sequence(), 2);
    assert_eq!(a.config().block, 6);
    assert_eq!(a.configs().unwrap().keys().copied().collect::<Vec<_>>(), [0, 3, 6]);

    // Reopened, the ledger is under the configuration its blocks made.
    drop(a);
    let a = PeerLedger::open(&path_a, "bpjs-main", &genesis).unwrap();
    assert_eq!(a.config().sequence(), 2);
    drop(a);
    // A replay reaches the same codes, configurations included.
    let report = warga_ledger_peer::verify::verify(&path_a, "bpjs-main", genesis.clone()).unwrap();
    assert_eq!((report.blocks, report.transactions, report.valid), (8, 4, 2));
}

#[test]
fn channel_wide_changes_need_a_majority_of_the_members_admins() {
    let (net, genesis, dir) = network();
    let ledger = PeerLedger::open(&dir.path().join("l.redb"), "bpjs-main", &genesis).unwrap();
    let initial = ledger.config().resolved.config.clone();
    // Readers becomes every member's readers: a channel policy (MAJORITY Admins).
    let mut next = initial.clone();
    next.policies.insert("Readers".into(), "ALL Readers".into());
    let one = net.config_update(&initial, next.clone(), &["BPJSMSP"]);
    // A signature of a non-admin (a peer) does not count either.
    let mut by_peer = net.config_update(&initial, next.clone(), &["BPJSMSP"]);
    let peer = net.peer("PuskesmasMSP");
    by_peer.signatures.push(warga_ledger_core::config::ConfigSignature {
        signer: peer.creator(),
        signature: peer.sign(&by_peer.update.signed_bytes()).unwrap(),
    });
    // A signature over another update does not count.
    let mut other = next.clone();
    other.policies.insert("Writers".into(), "ALL Writers".into());
    let mut borrowed = net.config_update(&initial, next.clone(), &["BPJSMSP"]);
    borrowed
        .signatures
        .extend(net.config_update(&initial, other, &["RumahSakitMSP"]).signatures);
    let two = net.config_update(&initial, next, &["BPJSMSP", "RumahSakitMSP"]);
    let mut previous = genesis.clone();
    let mut codes = Vec::new();
    for envelope in [&one, &by_peer, &borrowed, &two] {
        let block = config_block(&previous, envelope, &net);
        codes.push(ledger.validate_and_commit(block.clone()).unwrap()[0]);
        previous = block;
    }
    use ValidationCode::*;
    assert_eq!(
        codes,
        [
            InvalidConfigTransaction,
            InvalidConfigTransaction,
            InvalidConfigTransaction,
            Valid
        ]
    );
    let readers = ledger.config().resolved.channel_policy("Readers").unwrap().to_string();
    assert_eq!(readers, "ALL Readers");
}

/// Fabric's chaincode lifecycle through configuration: a new definition of `bpjs`
/// (sequence 2: IssueCard now needs all three organisations) approved by a majority of the
/// members' admins applies at its block; a transaction endorsed under sequence 1 and
/// committed after it is EXPIRED_CHAINCODE, one endorsed under sequence 2 is judged by the
/// new policy; a definition skipping a sequence, or approved by one organisation, is refused.
#[test]
fn a_new_chaincode_definition_applies_at_its_block_and_expires_older_endorsements() {
    let (mut net, genesis, dir) = network();
    let path = dir.path().join("l.redb");
    let ledger = PeerLedger::open(&path, "bpjs-main", &genesis).unwrap();
    let initial = ledger.config().resolved.config.clone();
    assert_eq!(initial.chaincodes[0].sequence, 1);
    let bpjs = net.client("BPJSMSP");
    let snapshot = ledger.snapshot().unwrap();
    let old = net.transact(
        &snapshot,
        "bpjs-main",
        &bpjs,
        "IssueCard",
        &["3171075203950004", "2", "2027-12-31"],
        &["BPJSMSP", "PuskesmasMSP"],
    );
    net.chaincode_sequence = 2;
    let all = net.transact(
        &snapshot,
        "bpjs-main",
        &bpjs,
        "IssueCard",
        &["3171071203950005", "2", "2027-12-31"],
        &["BPJSMSP", "PuskesmasMSP", "RumahSakitMSP"],
    );
    let two = net.transact(
        &snapshot,
        "bpjs-main",
        &bpjs,
        "IssueCard",
        &["3171075203950006", "2", "2027-12-31"],
        &["BPJSMSP", "PuskesmasMSP"],
    );
    drop(snapshot);

    let mut next = initial.clone();
    next.chaincodes[0].sequence = 2;
    next.chaincodes[0].functions.insert(
        "IssueCard".into(),
        "AND('BPJSMSP.peer', 'PuskesmasMSP.peer', 'RumahSakitMSP.peer')".into(),
    );
    let mut skipping = next.clone();
    skipping.chaincodes[0].sequence = 3;
    let skipped = net.config_update(&initial, skipping, &["BPJSMSP", "PuskesmasMSP"]);
    let alone = net.config_update(&initial, next.clone(), &["BPJSMSP"]);
    let approved = net.config_update(&initial, next, &["BPJSMSP", "PuskesmasMSP"]);
    let b1 = config_block(&genesis, &skipped, &net);
    let b2 = config_block(&b1, &alone, &net);
    let b3 = config_block(&b2, &approved, &net);
    let b4 = txs_block(&b3, vec![old, all, two], &net);
    use ValidationCode::*;
    let codes: Vec<_> = [b1, b2, b3, b4]
        .into_iter()
        .map(|b| ledger.validate_and_commit(b).unwrap())
        .collect();
    assert_eq!(
        codes,
        [
            vec![InvalidConfigTransaction],
            vec![InvalidConfigTransaction],
            vec![Valid],
            vec![ExpiredChaincode, Valid, EndorsementPolicyFailure],
        ]
    );
    let committed = &ledger.config().resolved.config.chaincodes[0];
    assert_eq!((committed.sequence, committed.version.as_str()), (2, "1.0"));
    drop(ledger);
    let report = warga_ledger_peer::verify::verify(&path, "bpjs-main", genesis).unwrap();
    assert_eq!((report.transactions, report.valid), (3, 1));
}

/// Admitting a fourth organisation — a new hospital, RSUD, with a CA of its own — is a
/// configuration update signed by a majority of the members' admins. Before it, the new
/// hospital's peer endorses nothing that counts; from its block on, it is a member whose
/// endorsement counts towards `MAJORITY Endorsement` (now three of four).
#[test]
fn an_admitted_organisation_endorses_from_its_block_on() {
    use warga_ledger_core::network::{BPJS_EXAMPLE, Network};
    use warga_ledger_core::tx::Endorsement;
    let (mut net, genesis, dir) = network();
    let path = dir.path().join("l.redb");
    let ledger = PeerLedger::open(&path, "bpjs-main", &genesis).unwrap();
    let initial = ledger.config().resolved.config.clone();

    // RSUD's crypto material, made by its own CA (a network file naming it, generated apart).
    let rsud_text = BPJS_EXAMPLE
        .replace("RumahSakit", "RSUD")
        .replace("rumahsakit.warga.local", "rsud.warga.local");
    let rsud_network = Network::parse(&rsud_text).unwrap();
    let rsud_dir = tempfile::tempdir().unwrap();
    warga_ledger_msp::generate::generate(&rsud_network, rsud_dir.path(), time::OffsetDateTime::now_utc()).unwrap();
    let roots = warga_ledger_msp::channel::msp_roots(&rsud_network, rsud_dir.path()).unwrap();
    let org = warga_ledger_msp::generate::organization_dir(rsud_dir.path(), false, "rsud.warga.local");
    let peer_msp = org.join("peers/peer0.rsud.warga.local/msp");
    let rsud_peer = warga_ledger_msp::SigningIdentity::from_pem(
        "RSUDMSP",
        &std::fs::read(peer_msp.join("signcerts/peer0.rsud.warga.local-cert.pem")).unwrap(),
        &std::fs::read(peer_msp.join("keystore/priv_sk")).unwrap(),
    )
    .unwrap();

    let mut admitted = initial.clone();
    let mut rsud = admitted.organizations[2].clone();
    rsud.msp_id = "RSUDMSP".into();
    rsud.name = "RSUD".into();
    rsud.domain = "rsud.warga.local".into();
    rsud.root_certs = roots["RSUDMSP"].root_certs.clone();
    rsud.tls_root_certs = roots["RSUDMSP"].tls_root_certs.clone();
    rsud.policies = rsud
        .policies
        .iter()
        .map(|(k, v)| (k.clone(), v.replace("RumahSakitMSP", "RSUDMSP")))
        .collect();
    admitted.organizations.push(rsud);
    let by_one = net.config_update(&initial, admitted.clone(), &["BPJSMSP"]);
    let by_majority = net.config_update(&initial, admitted, &["BPJSMSP", "PuskesmasMSP"]);

    // IssueCard's MAJORITY Endorsement: BPJS and Puskesmas are two of three before, and two of
    // four after; with RSUD's peer, three of four.
    let bpjs = net.client("BPJSMSP");
    let snapshot = ledger.snapshot().unwrap();
    let with_rsud = |net: &mut TestNetwork, nik: &str| {
        let mut tx = net.transact(
            &snapshot,
            "bpjs-main",
            &bpjs,
            "IssueCard",
            &[nik, "2", "2027-12-31"],
            &["BPJSMSP"],
        );
        let puskesmas = net.peer("PuskesmasMSP");
        for endorser in [&puskesmas, &rsud_peer] {
            let creator = endorser.creator();
            tx.endorsements.push(Endorsement {
                signature: endorser
                    .sign(&Endorsement::signed_bytes(&tx.response, &creator))
                    .unwrap(),
                endorser: creator,
            });
        }
        tx.signature = bpjs
            .sign(&Transaction::signed_bytes(&tx.proposal, &tx.response, &tx.endorsements))
            .unwrap();
        tx
    };
    let early = with_rsud(&mut net, "3171075203950004");
    let late = with_rsud(&mut net, "3171071203950005");
    let two_of_four = net.transact(
        &snapshot,
        "bpjs-main",
        &bpjs,
        "IssueCard",
        &["3171075203950006", "2", "2027-12-31"],
        &["BPJSMSP", "PuskesmasMSP"],
    );
    drop(snapshot);

    let b1 = config_block(&genesis, &by_one, &net);
    let b2 = txs_block(&b1, vec![early], &net);
    let b3 = config_block(&b2, &by_majority, &net);
    let b4 = txs_block(&b3, vec![late, two_of_four], &net);
    use ValidationCode::*;
    let codes: Vec<_> = [b1, b2, b3, b4]
        .into_iter()
        .map(|b| ledger.validate_and_commit(b).unwrap())
        .collect();
    assert_eq!(
        codes,
        [
            vec![InvalidConfigTransaction],
            // BPJS and Puskesmas are a majority of three; RSUD's endorsement is ignored.
            vec![Valid],
            vec![Valid],
            vec![Valid, EndorsementPolicyFailure],
        ]
    );
    assert_eq!(ledger.config().resolved.channel.members.len(), 4);
    drop(ledger);
    warga_ledger_peer::verify::verify(&path, "bpjs-main", genesis).unwrap();
}
