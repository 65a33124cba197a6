//! Private data collections end to end on an embedded network: a visit's clinical details
//! reach only the peers of BPJS and the treating facility's organisation, the chain carries
//! their hash, a member peer that missed them reconciles, and `block_to_live` purges them.

use std::time::Duration;

use tonic::Code;
use warga_ledger_core::block::Block;
use warga_ledger_core::chaincode::composite_key;
use warga_ledger_core::network::{BPJS_EXAMPLE, Network};
use warga_ledger_core::tx::{hex, sha256};
use warga_ledger_node::client::Client;
use warga_ledger_node::embedded::EmbeddedNetwork;
use warga_ledger_peer::PrivateKey;
use warga_ledger_proto::v1;
use warga_ledger_proto::v1::private_data_client::PrivateDataClient;

const NIK: &str = "3171075203950004";
const COLLECTION: &str = "clinical-puskesmas";
/// Nowhere but in the clinical notes of the visit.
const MARKER: &str = "catatan-rahasia-7f3a9c";

fn s(args: &[&str]) -> Vec<String> {
    args.iter().map(|a| a.to_string()).collect()
}

fn today() -> String {
    let d = time::OffsetDateTime::now_utc().date();
    format!("{:04}-{:02}-{:02}", d.year(), u8::from(d.month()), d.day())
}

fn json(bytes: &[u8]) -> serde_json::Value {
    serde_json::from_slice(bytes).expect("JSON")
}

async fn start(network: Network, dir: &std::path::Path) -> EmbeddedNetwork {
    let _ = rustls::crypto::ring::default_provider().install_default();
    EmbeddedNetwork::start(network, "bpjs-main", dir, true).await.unwrap()
}

/// Every running peer has committed block `block`.
async fn committed_everywhere(net: &EmbeddedNetwork, block: u64) {
    for peer in &net.peers {
        let mut height = peer.peer("bpjs-main").unwrap().height();
        tokio::time::timeout(Duration::from_secs(30), height.wait_for(|h| *h > block))
            .await
            .unwrap_or_else(|_| panic!("{} did not commit block {block}", peer.node.host))
            .unwrap();
    }
}

async fn record_visit(puskesmas: &Client, visit_id: &str) -> v1::CommitStatus {
    let transient = warga_ledger_core::bpjs::clinical_transient("J06.9", MARKER, "salt-for-this-visit-0001");
    let status = puskesmas
        .submit_with_transient("RecordVisit", &s(&[visit_id, NIK, &today()]), transient)
        .await
        .unwrap();
    assert_eq!(status.code_name, "VALID", "{status:?}");
    status
}

/// The hash of the visit's clinical record as the block carries it.
fn chain_hash(block: &v1::Block, tx_id: &str) -> Vec<u8> {
    let block = Block::try_from(block.clone()).unwrap();
    let tx = block
        .data
        .transactions()
        .iter()
        .find(|t| t.proposal.tx_id == tx_id)
        .unwrap()
        .clone();
    let hashes = &tx.response.rwset.collections;
    assert_eq!(hashes.len(), 1);
    assert_eq!(hashes[0].collection, COLLECTION);
    assert!(
        !format!("{:?}", tx).contains(MARKER),
        "nothing clinical in the transaction"
    );
    hashes[0].writes[0].value.clone().unwrap()
}

fn clinical_key(visit_id: &str) -> String {
    composite_key("clinical", &[visit_id]).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_non_member_peer_holds_only_hashes_and_cannot_read() {
    let dir = tempfile::tempdir().unwrap();
    let net = start(Network::parse(BPJS_EXAMPLE).unwrap(), dir.path()).await;
    let bpjs = net.client("BPJSMSP", "User1").unwrap();
    let puskesmas = net.client("PuskesmasMSP", "User1").unwrap();
    let hospital = net.client("RumahSakitMSP", "User1").unwrap();
    let issued = bpjs
        .submit("IssueCard", &net.issue_card(NIK, "1").unwrap())
        .await
        .unwrap();
    committed_everywhere(&net, issued.block).await;

    let visit = record_visit(&puskesmas, "V-1").await;
    committed_everywhere(&net, visit.block).await;
    let block = hospital.block_by_tx_id(&visit.tx_id).await.unwrap();
    let on_chain = chain_hash(&block, &visit.tx_id);

    // Members hold the record, and it hashes to what the chain carries.
    for msp in ["BPJSMSP", "PuskesmasMSP"] {
        let (_, _, value) = net
            .peer(msp)
            .unwrap()
            .ledger
            .private_value("bpjs", COLLECTION, &clinical_key("V-1"))
            .unwrap()
            .unwrap_or_else(|| panic!("{msp} holds the private data"));
        assert_eq!(
            sha256(&value).to_vec(),
            on_chain,
            "{msp}: the hash on the chain matches"
        );
        assert!(String::from_utf8_lossy(&value).contains(MARKER));
    }
    let clinical = json(&bpjs.evaluate("GetVisitClinical", &s(&["V-1"])).await.unwrap());
    assert_eq!(clinical["diagnosis"], "J06.9");
    assert_eq!(clinical["notes"], MARKER);
    let history = json(&puskesmas.evaluate("GetPatientHistory", &s(&[NIK])).await.unwrap());
    assert_eq!(
        history[0]["diagnosis"], "J06.9",
        "the facility sees its own visit's diagnosis"
    );

    // The hospital's peer holds the hash only: nothing to read, nothing missing.
    let hospital_peer = net.peer("RumahSakitMSP").unwrap();
    assert!(
        hospital_peer
            .ledger
            .private_value("bpjs", COLLECTION, &clinical_key("V-1"))
            .unwrap()
            .is_none()
    );
    assert!(hospital_peer.ledger.missing_private(10).unwrap().is_empty());
    let refused = hospital.evaluate("GetVisitClinical", &s(&["V-1"])).await.unwrap_err();
    assert_eq!(refused.code(), Code::PermissionDenied, "{refused}");
    let history = json(&hospital.evaluate("GetPatientHistory", &s(&[NIK])).await.unwrap());
    assert!(history[0].get("diagnosis").is_none(), "{history}");
    // What any member may check: the hash.
    let hash = json(&hospital.evaluate("GetVisitClinicalHash", &s(&["V-1"])).await.unwrap());
    assert_eq!(hash["sha256"], hex(&on_chain));

    // Asking a member peer directly: the hospital's peer (pinned, but no member) and a
    // user's TLS certificate (no peer at all) are both refused.
    let bpjs_peer = net.peer("BPJSMSP").unwrap();
    let request = v1::PrivateDataRequest {
        channel: "bpjs-main".into(),
        keys: vec![v1::PrivateDataKey {
            block: visit.block,
            tx: 0,
            namespace: "bpjs".into(),
            collection: COLLECTION.into(),
        }],
    };
    let as_hospital_peer =
        warga_ledger_orderer::grpc::client_channel(&hospital_peer.tls, bpjs_peer.node.listen, &bpjs_peer.node.host)
            .unwrap();
    let refused = PrivateDataClient::new(as_hospital_peer)
        .fetch(request.clone())
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::PermissionDenied, "{refused}");
    let user_dir = warga_ledger_msp::generate::organization_dir(&net.crypto, false, "rumahsakit.warga.local")
        .join("users/User1@rumahsakit.warga.local");
    let user_tls =
        warga_ledger_orderer::grpc::TlsMaterial::from_crypto(&net.network, &net.crypto, &user_dir, false).unwrap();
    let as_user =
        warga_ledger_orderer::grpc::client_channel(&user_tls, bpjs_peer.node.listen, &bpjs_peer.node.host).unwrap();
    let refused = PrivateDataClient::new(as_user).fetch(request).await.unwrap_err();
    assert_eq!(refused.code(), Code::PermissionDenied, "{refused}");

    let network = net.network.clone();
    let crypto = net.crypto.clone();
    let hospital_host = hospital_peer.node.host.clone();
    drop(hospital_peer);
    net.shutdown().await;
    // Nowhere in the hospital peer's ledger file.
    let file = dir.path().join("peers").join(&hospital_host).join("bpjs-main.redb");
    let bytes = std::fs::read(&file).unwrap();
    assert!(
        !bytes.windows(MARKER.len()).any(|w| w == MARKER.as_bytes()),
        "the notes never reached a non-member peer"
    );
    // And the chain with its hashed state verifies.
    let channel = network.channel("bpjs-main").unwrap();
    let genesis = warga_ledger_msp::channel::genesis_block(&network, channel, &crypto).unwrap();
    let verified = warga_ledger_peer::verify::verify(&file, &channel.name, genesis).unwrap();
    assert!(verified.valid >= 2);
}

/// The example network with a second Puskesmas peer.
fn with_two_puskesmas_peers(text: &str) -> Network {
    let extended = text.replacen(
        "        listen: 127.0.0.1:7151\n        operations: 127.0.0.1:9551\n",
        "        listen: 127.0.0.1:7151\n        operations: 127.0.0.1:9551\n      - name: peer1\n        listen: 127.0.0.1:7161\n        operations: 127.0.0.1:9561\n",
        1,
    );
    assert_ne!(extended, text);
    Network::parse(&extended).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_peer_restarted_during_dissemination_reconciles() {
    let dir = tempfile::tempdir().unwrap();
    let mut net = start(with_two_puskesmas_peers(BPJS_EXAMPLE), dir.path()).await;
    let bpjs = net.client("BPJSMSP", "User1").unwrap();
    let puskesmas = net.client("PuskesmasMSP", "User1").unwrap();
    let issued = bpjs
        .submit("IssueCard", &net.issue_card(NIK, "1").unwrap())
        .await
        .unwrap();
    committed_everywhere(&net, issued.block).await;

    // peer1 of Puskesmas stops: its socket stays open and answers nothing (a push to it
    // waits for its deadline), then it starts again after the visit is ordered.
    let peer1 = "peer1.puskesmas.warga.local";
    net.stop_peer(peer1).await.unwrap();
    let visit = record_visit(&puskesmas, "V-1").await;
    committed_everywhere(&net, visit.block).await;
    net.start_peer(peer1).await.unwrap();
    committed_everywhere(&net, visit.block).await;

    let restarted = net
        .peers
        .iter()
        .find(|p| p.node.host == peer1)
        .unwrap()
        .peer("bpjs-main")
        .unwrap();
    let key = PrivateKey {
        block: visit.block,
        tx: 0,
        namespace: "bpjs".into(),
        collection: COLLECTION.into(),
    };
    // Woken by the reconciler itself: it counts what it kept.
    let mut reconciled = restarted.reconciled();
    tokio::time::timeout(Duration::from_secs(30), reconciled.wait_for(|kept| *kept >= 1))
        .await
        .expect("the restarted peer reconciles the private data it missed")
        .unwrap();
    assert!(restarted.ledger.missing_private(10).unwrap().is_empty());
    assert!(restarted.ledger.private_writes(&key).unwrap().is_some());
    let block = bpjs.block_by_tx_id(&visit.tx_id).await.unwrap();
    let (_, _, value) = restarted
        .ledger
        .private_value("bpjs", COLLECTION, &clinical_key("V-1"))
        .unwrap()
        .unwrap();
    assert_eq!(sha256(&value).to_vec(), chain_hash(&block, &visit.tx_id));
    assert!(
        restarted.ledger.missing_marked() >= 1,
        "it committed without the data first"
    );
    // It serves the diagnosis as the other members do.
    let peer = restarted.node.clone();
    let through_peer1 = warga_ledger_node::embedded::client_of(
        &net.network,
        &net.crypto,
        "PuskesmasMSP",
        "User1",
        peer.listen,
        &peer.host,
        "bpjs-main",
    )
    .unwrap();
    let clinical = json(&through_peer1.evaluate("GetVisitClinical", &s(&["V-1"])).await.unwrap());
    assert_eq!(clinical["notes"], MARKER);
    net.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn private_data_is_purged_after_block_to_live() {
    let dir = tempfile::tempdir().unwrap();
    let text = BPJS_EXAMPLE.replacen(
        "members: [BPJS, Puskesmas]\n            required_peer_count: 1\n            max_peer_count: 3\n            block_to_live: 0",
        "members: [BPJS, Puskesmas]\n            required_peer_count: 1\n            max_peer_count: 3\n            block_to_live: 2",
        1,
    );
    assert_ne!(text, BPJS_EXAMPLE);
    let net = start(Network::parse(&text).unwrap(), dir.path()).await;
    let bpjs = net.client("BPJSMSP", "User1").unwrap();
    let puskesmas = net.client("PuskesmasMSP", "User1").unwrap();
    let issued = bpjs
        .submit("IssueCard", &net.issue_card(NIK, "1").unwrap())
        .await
        .unwrap();
    committed_everywhere(&net, issued.block).await;
    let visit = record_visit(&puskesmas, "V-1").await;
    committed_everywhere(&net, visit.block).await;
    let members = [net.peer("BPJSMSP").unwrap(), net.peer("PuskesmasMSP").unwrap()];
    let held = |block: u64| {
        members.iter().all(|p| {
            p.ledger
                .private_value("bpjs", COLLECTION, &clinical_key("V-1"))
                .unwrap()
                .is_some()
        }) && members.iter().all(|p| {
            p.ledger
                .private_writes(&PrivateKey {
                    block,
                    tx: 0,
                    namespace: "bpjs".into(),
                    collection: COLLECTION.into(),
                })
                .unwrap()
                .is_some()
        })
    };
    assert!(held(visit.block));

    // Written at block b with block_to_live 2: kept through block b + 2, purged when
    // block b + 3 commits.
    let mut last = visit.block;
    let mut n = 0;
    while last < visit.block + 3 {
        n += 1;
        let nik = format!("31710752039500{n:02}");
        let status = bpjs
            .submit("IssueCard", &net.issue_card(&nik, "1").unwrap())
            .await
            .unwrap();
        committed_everywhere(&net, status.block).await;
        last = status.block;
        if last <= visit.block + 2 {
            assert!(held(visit.block), "still held at block {last}");
        }
    }
    for peer in &members {
        assert!(
            peer.ledger
                .private_value("bpjs", COLLECTION, &clinical_key("V-1"))
                .unwrap()
                .is_none(),
            "purged on {}",
            peer.node.host
        );
    }
    let refused = bpjs.evaluate("GetVisitClinical", &s(&["V-1"])).await.unwrap_err();
    assert_eq!(refused.code(), Code::FailedPrecondition, "{refused}");
    // The hash stays on the chain: what was recorded can still be checked against a copy.
    let hash = json(&bpjs.evaluate("GetVisitClinicalHash", &s(&["V-1"])).await.unwrap());
    assert_eq!(hash["sha256"].as_str().map(str::len), Some(64));
    net.shutdown().await;
}
