//! Execute → order → validate with real certificates: clients sign proposals, peers of each
//! organisation simulate the BPJS contract and sign endorsements, and a committing peer's
//! checks give Fabric's validation codes — policies, signatures, revocation, expiry,
//! membership of the channel, MVCC and phantom reads, duplicate ids.

use warga_ledger_core::network::{ChannelView, Network};
use warga_ledger_core::rwset::{MemoryState, Version};
use warga_ledger_core::tx::Transaction;
use warga_ledger_core::validate::{BlockValidator, Membership, ValidationCode, check_transaction};
use warga_ledger_msp::generate::organization_dir;
use warga_ledger_msp::testing::TestNetwork;
use warga_ledger_msp::{Msps, SigningIdentity, revocation_list};

const NIK: &str = "3171075203950004";

struct World {
    net: TestNetwork,
    network: Network,
    msps: Msps,
    state: MemoryState,
}

impl World {
    fn new() -> World {
        let net = TestNetwork::new();
        World {
            network: net.network.clone(),
            msps: net.msps.clone(),
            net,
            state: MemoryState::default(),
        }
    }

    fn client(&self, msp: &str) -> SigningIdentity {
        self.net.client(msp)
    }

    fn peer(&self, msp: &str) -> SigningIdentity {
        self.net.peer(msp)
    }

    fn transact(
        &mut self,
        channel: &str,
        client: &SigningIdentity,
        function: &str,
        args: &[&str],
        endorsers: &[&str],
    ) -> Transaction {
        self.net
            .transact(&self.state, channel, client, function, args, endorsers)
    }

    /// Validates a block of transactions and commits the valid ones.
    fn commit(&mut self, number: u64, txs: &[Transaction]) -> Vec<ValidationCode> {
        let channel_name = txs[0].proposal.channel.clone();
        let channel = self.network.channel(&channel_name).unwrap().clone();
        let stateless: Vec<ValidationCode> = txs
            .iter()
            .map(|tx| {
                check_transaction(
                    tx,
                    &channel,
                    &ChannelView {
                        network: &self.network,
                        channel: &channel,
                    },
                    &self.msps,
                )
            })
            .collect();
        let committed_ids: Vec<String> = self
            .state
            .histories
            .values()
            .flatten()
            .map(|h| h.tx_id.clone())
            .collect();
        let is_committed = |id: &str| committed_ids.iter().any(|c| c == id);
        let codes = BlockValidator::new(number, &self.state, &is_committed).validate_all(txs, stateless);
        for (i, (tx, code)) in txs.iter().zip(&codes).enumerate() {
            if *code == ValidationCode::Valid {
                let version = Version {
                    block: number,
                    tx: i as u64,
                };
                self.state.apply(
                    &tx.response.rwset,
                    version,
                    &tx.proposal.tx_id,
                    tx.proposal.timestamp_ms,
                );
            }
        }
        codes
    }
}

#[test]
fn endorsement_policies_decide_with_real_identities() {
    let mut w = World::new();
    let bpjs = w.client("BPJSMSP");
    let puskesmas = w.client("PuskesmasMSP");
    let issue = |w: &mut World, endorsers: &[&str]| {
        w.transact("bpjs-main", &bpjs, "IssueCard", &[NIK, "1", "2027-12-31"], endorsers)
    };

    // IssueCard: MAJORITY Endorsement — one of three is not enough, two are.
    let alone = issue(&mut w, &["BPJSMSP"]);
    assert_eq!(w.commit(1, &[alone]), [ValidationCode::EndorsementPolicyFailure]);
    let two = issue(&mut w, &["BPJSMSP", "RumahSakitMSP"]);
    assert_eq!(w.commit(2, std::slice::from_ref(&two)), [ValidationCode::Valid]);
    assert_eq!(
        w.commit(3, &[two]),
        [ValidationCode::DuplicateTxId],
        "a transaction commits once"
    );

    // RecordVisit: AND(BPJS, OR(Puskesmas, RumahSakit)).
    let day = "2026-01-15";
    let wrong = w.transact(
        "bpjs-main",
        &puskesmas,
        "RecordVisit",
        &["v1", NIK, day, "J06.9"],
        &["PuskesmasMSP", "RumahSakitMSP"],
    );
    let right = w.transact(
        "bpjs-main",
        &puskesmas,
        "RecordVisit",
        &["v2", NIK, day, "J06.9"],
        &["PuskesmasMSP", "BPJSMSP"],
    );
    assert_eq!(
        w.commit(4, &[wrong, right]),
        [ValidationCode::EndorsementPolicyFailure, ValidationCode::Valid]
    );

    // ApproveReferral: OR(Puskesmas, RumahSakit).
    let referral = w.transact(
        "bpjs-main",
        &puskesmas,
        "CreateReferral",
        &["r1", NIK, "R3578001", "apendisitis"],
        &["BPJSMSP", "PuskesmasMSP"],
    );
    assert_eq!(w.commit(5, &[referral]), [ValidationCode::Valid]);
    let hospital = w.client("RumahSakitMSP");
    let by_bpjs = w.transact("bpjs-main", &hospital, "ApproveReferral", &["r1"], &["BPJSMSP"]);
    let by_hospital = w.transact("bpjs-main", &hospital, "ApproveReferral", &["r1"], &["RumahSakitMSP"]);
    assert_eq!(
        w.commit(6, &[by_bpjs, by_hospital]),
        [ValidationCode::EndorsementPolicyFailure, ValidationCode::Valid]
    );
}

#[test]
fn signatures_identities_and_channels_are_checked() {
    let mut w = World::new();
    let bpjs = w.client("BPJSMSP");
    let endorsers = ["BPJSMSP", "PuskesmasMSP"];

    let mut forged = w.transact("bpjs-main", &bpjs, "IssueCard", &[NIK, "1", "2027-12-31"], &endorsers);
    forged.proposal.args[1] = "3".into();
    forged.response.proposal_hash = forged.proposal.hash();
    assert_eq!(
        w.commit(1, &[forged]),
        [ValidationCode::BadCreatorSignature],
        "the creator signed other args"
    );

    let mut bad_id = w.transact("bpjs-main", &bpjs, "IssueCard", &[NIK, "1", "2027-12-31"], &endorsers);
    bad_id.proposal.tx_id = "f".repeat(64);
    assert_eq!(w.commit(2, &[bad_id]), [ValidationCode::BadProposalTxId]);

    // An endorsement whose signature does not cover this response does not count.
    let mut stolen = w.transact("bpjs-main", &bpjs, "IssueCard", &[NIK, "1", "2027-12-31"], &endorsers);
    let other = w.transact(
        "bpjs-main",
        &bpjs,
        "IssueCard",
        &["3171071203950005", "1", "2027-12-31"],
        &endorsers,
    );
    stolen.endorsements[1] = other.endorsements[1].clone();
    stolen.signature = bpjs
        .sign(&Transaction::signed_bytes(
            &stolen.proposal,
            &stolen.response,
            &stolen.endorsements,
        ))
        .unwrap();
    assert_eq!(w.commit(3, &[stolen]), [ValidationCode::EndorsementPolicyFailure]);

    // RumahSakit is not a member of the regional channel.
    let outsider = w.client("RumahSakitMSP");
    let foreign = w.transact("jatim-puskesmas", &outsider, "GetPatientHistory", &[NIK], &["BPJSMSP"]);
    assert_eq!(w.commit(4, &[foreign]), [ValidationCode::BadCreatorSignature]);

    // A revoked endorser no longer counts; an expired creator is refused.
    let tx = w.transact("bpjs-main", &bpjs, "IssueCard", &[NIK, "1", "2027-12-31"], &endorsers);
    let org = organization_dir(w.net.dir.path(), false, "puskesmas.warga.local");
    let peer_serial = w.msps.identity(&w.peer("PuskesmasMSP").creator()).unwrap().serial;
    let crl = revocation_list(
        &std::fs::read_to_string(org.join("ca/ca.puskesmas.warga.local-cert.pem")).unwrap(),
        &std::fs::read_to_string(org.join("ca/priv_sk")).unwrap(),
        &[peer_serial],
        1,
        time::OffsetDateTime::now_utc(),
    )
    .unwrap();
    let mut revoked = w.msps.clone();
    revoked
        .get_mut("PuskesmasMSP")
        .unwrap()
        .apply_revocation_list(&crl)
        .unwrap();
    let channel = w.network.channel("bpjs-main").unwrap();
    let view = ChannelView {
        network: &w.network,
        channel,
    };
    assert_eq!(
        check_transaction(&tx, channel, &view, &revoked),
        ValidationCode::EndorsementPolicyFailure
    );
    let mut later = w.msps.clone();
    later.now_s += 400 * 86_400;
    assert!(later.identify(&bpjs.creator()).is_err());
    assert_eq!(
        check_transaction(&tx, channel, &view, &later),
        ValidationCode::BadCreatorSignature
    );
    // Commit-time validation reads no clock: the same transaction replayed two years later
    // (its creator's certificate long expired) gets the code it got when committed.
    let mut two_years_on = w.msps.timeless();
    two_years_on.now_s += 2 * 365 * 86_400;
    assert_eq!(
        check_transaction(&tx, channel, &view, &two_years_on),
        ValidationCode::Valid
    );
    assert_eq!(check_transaction(&tx, channel, &view, &w.msps), ValidationCode::Valid);
}

#[test]
fn mvcc_and_phantom_reads_invalidate_stale_simulations() {
    let mut w = World::new();
    let bpjs = w.client("BPJSMSP");
    let puskesmas = w.client("PuskesmasMSP");
    let majority = ["BPJSMSP", "PuskesmasMSP"];
    let issued = w.transact("bpjs-main", &bpjs, "IssueCard", &[NIK, "2", "2027-12-31"], &majority);
    assert_eq!(w.commit(1, &[issued]), [ValidationCode::Valid]);

    // Two suspensions simulated against the same card version: the first wins.
    let first = w.transact("bpjs-main", &bpjs, "SuspendCard", &[NIK, "iuran menunggak"], &majority);
    let second = w.transact("bpjs-main", &bpjs, "SuspendCard", &[NIK, "data ganda"], &majority);
    assert_eq!(
        w.commit(2, &[first, second]),
        [ValidationCode::Valid, ValidationCode::MvccReadConflict]
    );
    let reactivated = w.transact("bpjs-main", &bpjs, "ReactivateCard", &[NIK, "2027-12-31"], &majority);
    assert_eq!(w.commit(3, &[reactivated]), [ValidationCode::Valid]);

    // A history query simulated before a visit of the same patient commits: a phantom.
    let history = w.transact("bpjs-main", &bpjs, "GetPatientHistory", &[NIK], &majority);
    let visit = w.transact(
        "bpjs-main",
        &puskesmas,
        "RecordVisit",
        &["v1", NIK, "2026-02-01", "J06.9"],
        &majority,
    );
    assert_eq!(
        w.commit(4, &[visit, history]),
        [ValidationCode::Valid, ValidationCode::PhantomReadConflict]
    );
    let fresh = w.transact("bpjs-main", &bpjs, "GetPatientHistory", &[NIK], &majority);
    assert_eq!(w.commit(5, &[fresh]), [ValidationCode::Valid]);
}
