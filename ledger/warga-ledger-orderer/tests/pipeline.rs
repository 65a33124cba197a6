//! Execute → order → validate end to end, in one process with real certificates: clients
//! sign proposals; peers of BPJS, Puskesmas and RumahSakit check and simulate them and sign
//! endorsements; the client assembles and broadcasts the transaction to the Raft orderers;
//! every peer pulls the blocks, validates and commits them. All peers end with the same
//! chain, the same state and the same validation codes, and the ledger verifies offline.

use std::collections::BTreeMap;

use warga_ledger_core::block::Block;
use warga_ledger_core::bpjs::Bpjs;
use warga_ledger_core::network::Channel;
use warga_ledger_core::tx::{Proposal, SignedProposal, Transaction};
use warga_ledger_core::validate::ValidationCode;
use warga_ledger_msp::SigningIdentity;
use warga_ledger_orderer::testing::Cluster;
use warga_ledger_peer::PeerLedger;
use warga_ledger_peer::endorse::{EndorseError, Endorser};

const NIK: &str = "3171075203950004";
const ORGS: [&str; 3] = ["BPJSMSP", "PuskesmasMSP", "RumahSakitMSP"];

struct Peers {
    channel: Channel,
    ledgers: BTreeMap<&'static str, PeerLedger>,
    signers: BTreeMap<&'static str, SigningIdentity>,
    contract: Bpjs,
    _dir: tempfile::TempDir,
}

impl Peers {
    fn new(cluster: &Cluster) -> Peers {
        let channel = cluster.net.network.channel("bpjs-main").unwrap().clone();
        let genesis = cluster.net.genesis(&channel);
        let dir = tempfile::tempdir().unwrap();
        let mut ledgers = BTreeMap::new();
        let mut signers = BTreeMap::new();
        for org in ORGS {
            let ledger = PeerLedger::open(&dir.path().join(format!("{org}.redb")), "bpjs-main", &genesis).unwrap();
            ledgers.insert(org, ledger);
            signers.insert(org, cluster.net.peer(org));
        }
        Peers {
            channel,
            ledgers,
            signers,
            contract: cluster.net.contract(),
            _dir: dir,
        }
    }

    fn endorser<'a>(&'a self, cluster: &'a Cluster, org: &str) -> Endorser<'a> {
        Endorser {
            ledger: &self.ledgers[org],
            channel: &self.channel,
            msps: &cluster.net.msps,
            contract: &self.contract,
            signer: &self.signers[org],
        }
    }

    /// Every peer pulls what it lacks from orderer 1 and commits it.
    async fn deliver(&self, cluster: &Cluster, height: u64) {
        cluster.wait_height(height).await;
        let orderer = cluster.nodes.values().next().unwrap();
        for ledger in self.ledgers.values() {
            for number in ledger.height().unwrap()..height {
                let block: Block = orderer.db.block(number).unwrap().unwrap();
                ledger.validate_and_commit(block).unwrap();
            }
        }
    }
}

fn propose(client: &SigningIdentity, function: &str, args: &[&str], nonce: u64) -> SignedProposal {
    let creator = client.creator();
    let nonce = nonce.to_be_bytes().to_vec();
    let proposal = Proposal {
        channel: "bpjs-main".into(),
        chaincode: "bpjs".into(),
        function: function.into(),
        args: args.iter().map(|a| a.to_string()).collect(),
        tx_id: Proposal::compute_tx_id(&nonce, &creator),
        timestamp_ms: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis() as i64,
        nonce,
        creator,
    };
    // A visit's diagnosis (the fourth argument here) travels as transient data.
    let mut proposal = proposal;
    let mut transient = Default::default();
    if function == "RecordVisit" && proposal.args.len() == 4 {
        let diagnosis = proposal.args.pop().unwrap();
        transient = warga_ledger_core::bpjs::clinical_transient(&diagnosis, "", "pipeline-test-salt-0001");
    }
    let signature = client
        .sign(&SignedProposal::signed_bytes(&proposal, &transient))
        .unwrap();
    SignedProposal {
        proposal,
        transient,
        signature,
    }
}

/// Endorsements from the peers of `orgs`, which must agree; the assembled, signed transaction.
fn endorse_and_assemble(
    peers: &Peers,
    cluster: &Cluster,
    client: &SigningIdentity,
    signed: &SignedProposal,
    orgs: &[&str],
) -> Transaction {
    let mut endorsements = Vec::new();
    let mut response = None;
    for org in orgs {
        let (r, e, _) = peers.endorser(cluster, org).endorse(signed).unwrap();
        if let Some(first) = &response {
            assert_eq!(&r, first, "endorsers agree on the outcome");
        }
        response = Some(r);
        endorsements.push(e);
    }
    let response = response.unwrap();
    let signature = client
        .sign(&Transaction::signed_bytes(&signed.proposal, &response, &endorsements))
        .unwrap();
    Transaction {
        proposal: signed.proposal.clone(),
        response,
        endorsements,
        signature,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proposals_are_endorsed_ordered_by_raft_and_committed_alike_on_every_peer() {
    let cluster = Cluster::new().await;
    let leader = cluster.leader(None).await;
    let peers = Peers::new(&cluster);
    let bpjs = cluster.net.client("BPJSMSP");
    let puskesmas = cluster.net.client("PuskesmasMSP");

    // The registry's word that NIK is a living resident, which IssueCard needs.
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let attested = cluster.net.attest(NIK, now_ms);

    // Endorsers refuse what is not right.
    let mut forged = propose(&bpjs, "IssueCard", &[NIK, "1", "2027-12-31", &attested], 1);
    forged.proposal.args[1] = "3".into();
    assert!(matches!(
        peers.endorser(&cluster, "BPJSMSP").endorse(&forged),
        Err(EndorseError::BadSignature)
    ));
    let refused = propose(&puskesmas, "IssueCard", &[NIK, "1", "2027-12-31", &attested], 2);
    assert!(matches!(
        peers.endorser(&cluster, "BPJSMSP").endorse(&refused),
        Err(EndorseError::Refused(_))
    ));

    // IssueCard: MAJORITY of the three.
    let issue = propose(&bpjs, "IssueCard", &[NIK, "2", "2027-12-31", &attested], 3);
    let tx = endorse_and_assemble(&peers, &cluster, &bpjs, &issue, &["BPJSMSP", "RumahSakitMSP"]);
    let block = cluster.order(leader, std::slice::from_ref(&tx)).await[0];
    peers.deliver(&cluster, block + 1).await;
    for ledger in peers.ledgers.values() {
        assert_eq!(
            ledger.tx_status(&tx.proposal.tx_id).unwrap().unwrap().code,
            ValidationCode::Valid
        );
    }
    assert!(matches!(
        peers.endorser(&cluster, "PuskesmasMSP").endorse(&issue),
        Err(EndorseError::Duplicate(_))
    ));

    // RecordVisit needs BPJS and a facility organisation: one right, one endorsed by the
    // wrong pair (no BPJS).
    let right = propose(&puskesmas, "RecordVisit", &["v1", NIK, "2026-02-01", "J06.9"], 4);
    let wrong = propose(&puskesmas, "RecordVisit", &["v2", NIK, "2026-02-02", "J06.9"], 5);
    let right = endorse_and_assemble(&peers, &cluster, &puskesmas, &right, &["BPJSMSP", "PuskesmasMSP"]);
    let wrong = endorse_and_assemble(&peers, &cluster, &puskesmas, &wrong, &["PuskesmasMSP", "RumahSakitMSP"]);
    let blocks = cluster.order(leader, &[right.clone(), wrong.clone()]).await;
    let height = blocks.iter().max().unwrap() + 1;
    peers.deliver(&cluster, height).await;

    let reference = &peers.ledgers["BPJSMSP"];
    for ledger in peers.ledgers.values() {
        assert_eq!(
            ledger.tx_status(&right.proposal.tx_id).unwrap().unwrap().code,
            ValidationCode::Valid
        );
        assert_eq!(
            ledger.tx_status(&wrong.proposal.tx_id).unwrap().unwrap().code,
            ValidationCode::EndorsementPolicyFailure
        );
        for number in 0..height {
            assert_eq!(
                ledger.block(number).unwrap().unwrap().header.hash(),
                reference.block(number).unwrap().unwrap().header.hash(),
                "block {number}"
            );
        }
    }
    let history = peers
        .endorser(&cluster, "RumahSakitMSP")
        .endorse(&propose(&bpjs, "GetPatientHistory", &[NIK], 6))
        .unwrap()
        .0;
    let visits: serde_json::Value = serde_json::from_slice(&history.result).unwrap();
    assert_eq!(
        visits.as_array().unwrap().len(),
        1,
        "only the valid visit is in the state"
    );

    // The ledger file verifies offline once the peer has let go of it.
    let Peers {
        channel, ledgers, _dir, ..
    } = peers;
    drop(ledgers);
    let path = _dir.path().join("BPJSMSP.redb");
    let report = warga_ledger_peer::verify::verify(&path, &channel.name, cluster.net.genesis(&channel)).unwrap();
    assert_eq!((report.transactions, report.valid), (3, 2));
}
