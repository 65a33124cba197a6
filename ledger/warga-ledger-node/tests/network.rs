//! The client API end to end on an embedded network (three Raft orderers and a peer per
//! organisation, each serving gRPC with mutual TLS on its own port): every BPJS function
//! through the gateway, ledger queries, resumable events, and refusals.

use std::time::Duration;

use tokio_stream::StreamExt as _;
use tonic::Code;
use warga_ledger_core::chaincode::composite_key;
use warga_ledger_core::network::{BPJS_EXAMPLE, Network};
use warga_ledger_node::RunningNode as _;
use warga_ledger_node::client::Client;
use warga_ledger_node::embedded::{EmbeddedNetwork, client_of};

const NIK: &str = "3171075203950004";

/// A visit's clinical details as transient data.
fn clinical(diagnosis: &str) -> std::collections::BTreeMap<String, Vec<u8>> {
    warga_ledger_core::bpjs::clinical_transient(diagnosis, "", "node-test-salt-0000001")
}

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

async fn start(channel: &str) -> (tempfile::TempDir, EmbeddedNetwork) {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let dir = tempfile::tempdir().unwrap();
    let network = Network::parse(BPJS_EXAMPLE).unwrap();
    let net = EmbeddedNetwork::start(network, channel, dir.path(), true)
        .await
        .unwrap();
    (dir, net)
}

async fn submit_ok(client: &Client, function: &str, args: &[&str]) -> warga_ledger_proto::v1::CommitStatus {
    let status = client
        .submit(function, &s(args))
        .await
        .unwrap_or_else(|e| panic!("{function}: {e}"));
    assert_eq!(status.code_name, "VALID", "{function}: {status:?}");
    status
}

async fn visit_ok(client: &Client, args: &[&str], diagnosis: &str) -> warga_ledger_proto::v1::CommitStatus {
    let status = client
        .submit_with_transient("RecordVisit", &s(args), clinical(diagnosis))
        .await
        .unwrap_or_else(|e| panic!("RecordVisit: {e}"));
    assert_eq!(status.code_name, "VALID", "RecordVisit: {status:?}");
    status
}

/// Peers commit at their own pace and a gateway endorses on its own peer's state: before
/// another organisation acts on a change, every peer has committed its block.
async fn everywhere(
    peers: &[&Client],
    status: warga_ledger_proto::v1::CommitStatus,
) -> warga_ledger_proto::v1::CommitStatus {
    for peer in peers {
        for waited in 0.. {
            if peer.info().await.unwrap().height > status.block {
                break;
            }
            assert!(waited < 500, "a peer did not commit block {}", status.block);
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    status
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_bpjs_function_through_the_gateway() {
    let (_dir, net) = start("bpjs-main").await;
    let bpjs = net.client("BPJSMSP", "User1").unwrap();
    let puskesmas = net.client("PuskesmasMSP", "User1").unwrap();
    let hospital = net.client("RumahSakitMSP", "User1").unwrap();
    let all = [&bpjs, &puskesmas, &hospital];
    let mut events = bpjs.events(0, false).await.unwrap();

    // IssueCard: MAJORITY of the three organisations.
    let issued = everywhere(
        &all,
        submit_ok(
            &bpjs,
            "IssueCard",
            &[NIK, "1", "2030-12-31", &net.attest_alive(NIK).unwrap()],
        )
        .await,
    )
    .await;
    assert!(issued.block >= 1);
    let card = json(&issued.result);
    assert_eq!(card["status"], "active");

    // VerifyCard: evaluated on one peer, nothing ordered.
    let height = bpjs.info().await.unwrap().height;
    let verified = json(&puskesmas.evaluate("VerifyCard", &s(&[NIK])).await.unwrap());
    assert_eq!(verified["status"], "active");
    assert_eq!(bpjs.info().await.unwrap().height, height, "evaluate orders nothing");

    // SuspendCard / ReactivateCard, by BPJS.
    everywhere(&all, submit_ok(&bpjs, "SuspendCard", &[NIK, "iuran tertunggak"]).await).await;
    let verified = json(&hospital.evaluate("VerifyCard", &s(&[NIK])).await.unwrap());
    assert_eq!(verified["status"], "suspended");
    let refused = puskesmas
        .submit_with_transient("RecordVisit", &s(&["V-1", NIK, &today()]), clinical("J06.9"))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::FailedPrecondition, "{refused}");
    assert!(refused.message().contains("suspended"), "{refused}");
    everywhere(&all, submit_ok(&bpjs, "ReactivateCard", &[NIK, "2031-06-30"]).await).await;

    // RecordVisit: BPJS and the facility's organisation — the Puskesmas gateway asks the
    // BPJS peer.
    let visit = everywhere(&all, visit_ok(&puskesmas, &["V-1", NIK, &today()], "J06.9").await).await;
    let block = bpjs.block_by_tx_id(&visit.tx_id).await.unwrap();
    let tx = block_transactions(&block)
        .into_iter()
        .find(|t| t.proposal.tx_id == visit.tx_id)
        .expect("the visit is in its block");
    let endorsers: Vec<&str> = tx.endorsements.iter().map(|e| e.endorser.msp_id.as_str()).collect();
    assert_eq!(
        endorsers,
        ["BPJSMSP", "PuskesmasMSP"],
        "the policy's organisations endorsed"
    );
    everywhere(&all, visit_ok(&hospital, &["V-2", NIK, &today()], "K35.8").await).await;

    // Facilities (certificate attributes): a user of Puskesmas B, of the same organisation,
    // cannot claim, overwrite or approve what Puskesmas A did.
    let puskesmas_b = net.client("PuskesmasMSP", "User2").unwrap();
    let refused = puskesmas_b
        .submit("SubmitClaim", &s(&["C-B", "V-1", "1000000", "I"]))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::PermissionDenied, "{refused}");
    assert!(refused.message().contains("P3578010"), "{refused}");
    let refused = puskesmas_b
        .submit_with_transient("RecordVisit", &s(&["V-1", NIK, &today()]), clinical("A09"))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::FailedPrecondition, "{refused}");

    // GetPatientHistory.
    let history = json(&bpjs.evaluate("GetPatientHistory", &s(&[NIK])).await.unwrap());
    assert_eq!(history.as_array().map(Vec::len), Some(2), "{history}");

    // SubmitClaim by the hospital that recorded the visit; ProcessClaim AND(BPJS, RumahSakit).
    everywhere(
        &all,
        submit_ok(&hospital, "SubmitClaim", &["C-1", "V-2", "4000000", "II"]).await,
    )
    .await;
    let too_much = bpjs
        .submit("ProcessClaim", &s(&["C-1", "approve", "6000000"]))
        .await
        .unwrap_err();
    assert!(too_much.message().contains("tariff"), "{too_much}");
    let processed = everywhere(
        &all,
        submit_ok(&bpjs, "ProcessClaim", &["C-1", "approve", "3500000"]).await,
    )
    .await;
    assert_eq!(json(&processed.result)["approved_amount"], 3500000);

    // CreateReferral by the Puskesmas; ApproveReferral OR(Puskesmas, RumahSakit).
    everywhere(
        &all,
        submit_ok(&puskesmas, "CreateReferral", &["R-1", NIK, "R3578001", "apendisitis"]).await,
    )
    .await;
    let refused = puskesmas_b.submit("ApproveReferral", &s(&["R-1"])).await.unwrap_err();
    assert_eq!(
        refused.code(),
        Code::PermissionDenied,
        "only the receiving facility: {refused}"
    );
    let referral = everywhere(&all, submit_ok(&hospital, "ApproveReferral", &["R-1"]).await).await;
    let referral = json(&referral.result);
    assert_eq!(
        (referral["from_facility"].as_str(), referral["to_facility"].as_str()),
        (Some("P3578010"), Some("R3578001"))
    );
    everywhere(
        &all,
        submit_ok(&puskesmas_b, "CreateReferral", &["R-2", NIK, "P3578010", "kontrol"]).await,
    )
    .await;
    let refused = hospital.submit("ApproveReferral", &s(&["R-2"])).await.unwrap_err();
    assert_eq!(refused.code(), Code::PermissionDenied, "{refused}");
    everywhere(&all, submit_ok(&puskesmas, "ApproveReferral", &["R-2"]).await).await;

    // GetHistoryForKey (chaincode) and the peer's key history (ledger query) agree.
    let card_history = json(&bpjs.evaluate("GetHistoryForKey", &s(&["card", NIK])).await.unwrap());
    assert_eq!(card_history.as_array().map(Vec::len), Some(3), "{card_history}");
    let key = composite_key("card", &[NIK]).unwrap();
    let modifications = hospital.history(&key).await.unwrap();
    assert_eq!(modifications.len(), 3);
    assert_eq!(modifications[0].tx_id, issued.tx_id);

    // Status, info and blocks.
    let status = hospital.status(&visit.tx_id).await.unwrap();
    assert_eq!((status.block, status.code_name.as_str()), (visit.block, "VALID"));
    let info = bpjs.info().await.unwrap();
    let tip = bpjs.block(info.height - 1).await.unwrap();
    let header = tip.header.unwrap();
    assert_eq!(header.previous_hash, info.previous_hash);
    assert!(bpjs.block(info.height + 5).await.unwrap_err().code() == Code::NotFound);

    // Events: the nine committed transactions once, in order, with their chaincode events.
    let mut seen = Vec::new();
    while seen.len() < 9 {
        let event = tokio::time::timeout(Duration::from_secs(10), events.next())
            .await
            .expect("events keep coming")
            .expect("stream open")
            .unwrap();
        for tx in event.transactions {
            seen.push((tx.function.clone(), tx.code_name.clone(), tx.event.map(|e| e.name)));
        }
    }
    assert_eq!(seen.len(), 9, "each transaction once: {seen:?}");
    assert_eq!(seen[0], ("IssueCard".into(), "VALID".into(), Some("CardIssued".into())));
    assert!(seen.iter().any(|e| e.2.as_deref() == Some("ClaimProcessed")));

    // Resumable: from the visit's block, the visit comes first again.
    let mut resumed = hospital.events(visit.block, true).await.unwrap();
    let first = resumed.next().await.unwrap().unwrap();
    assert_eq!(first.number, visit.block);
    assert!(first.transactions.iter().any(|t| t.tx_id == visit.tx_id));
    assert!(first.block.is_some(), "full blocks when asked");

    // Every peer holds the same chain.
    let tip_hash = info.current_hash.clone();
    for client in [&puskesmas, &hospital] {
        let mut waited = 0;
        loop {
            let theirs = client.info().await.unwrap();
            if theirs.height >= info.height {
                assert_eq!(
                    client.block(info.height - 1).await.unwrap().header,
                    Some(header.clone())
                );
                break;
            }
            waited += 1;
            assert!(waited < 100, "a peer did not catch up");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    assert!(!tip_hash.is_empty());
    net.shutdown().await;
}

fn block_transactions(block: &warga_ledger_proto::v1::Block) -> Vec<warga_ledger_core::tx::Transaction> {
    warga_ledger_core::block::Block::try_from(block.clone())
        .unwrap()
        .data
        .transactions()
        .to_vec()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_gateway_satisfies_the_policy_with_the_organisations_it_can_reach() {
    let (_dir, mut net) = start("bpjs-main").await;
    let bpjs = net.client("BPJSMSP", "User1").unwrap();
    submit_ok(
        &bpjs,
        "IssueCard",
        &[NIK, "2", "2030-12-31", &net.attest_alive(NIK).unwrap()],
    )
    .await;

    // The Puskesmas peer goes down.
    let position = net
        .peers
        .iter()
        .position(|p| p.organization.msp_id == "PuskesmasMSP")
        .unwrap();
    net.peers.remove(position).shutdown().await;

    // MAJORITY: BPJS and RumahSakit still make two of three.
    let issued = submit_ok(
        &bpjs,
        "IssueCard",
        &[
            "3171075203950012",
            "1",
            "2030-12-31",
            &net.attest_alive("3171075203950012").unwrap(),
        ],
    )
    .await;
    let block = bpjs.block_by_tx_id(&issued.tx_id).await.unwrap();
    let tx = block_transactions(&block)
        .into_iter()
        .find(|t| t.proposal.tx_id == issued.tx_id)
        .unwrap();
    let endorsers: Vec<&str> = tx.endorsements.iter().map(|e| e.endorser.msp_id.as_str()).collect();
    assert_eq!(endorsers, ["BPJSMSP", "RumahSakitMSP"]);

    // A Puskesmas visit needs BPJS and Puskesmas — the members of its clinical collection:
    // the hospital, which could satisfy the policy, may not see the private inputs, and with
    // the Puskesmas peer down its private data cannot reach a member peer. The error says so.
    let bpjs_peer = net.peer("BPJSMSP").unwrap();
    let puskesmas_via_bpjs = warga_ledger_node::embedded::client_of(
        &net.network,
        &net.crypto,
        "PuskesmasMSP",
        "User1",
        bpjs_peer.node.listen,
        &bpjs_peer.node.host,
        &net.channel,
    )
    .unwrap();
    let refused = puskesmas_via_bpjs
        .submit_with_transient("RecordVisit", &s(&["V-9", NIK, &today()]), clinical("J06.9"))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::Unavailable, "{refused}");
    assert!(
        refused.message().contains("clinical-puskesmas"),
        "the refusal names the collection: {refused}"
    );
    // The hospital's own visits go on: BPJS and the hospital hold their collection.
    let hospital = net.client("RumahSakitMSP", "User1").unwrap();
    visit_ok(&hospital, &["V-10", NIK, &today()], "K35.8").await;
    net.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn non_members_can_neither_query_nor_invoke_a_channel() {
    // The regional channel: BPJS and Puskesmas only.
    let (_dir, net) = start("jatim-puskesmas").await;
    let member = net.client("BPJSMSP", "User1").unwrap();
    submit_ok(
        &member,
        "IssueCard",
        &[NIK, "3", "2030-12-31", &net.attest_alive(NIK).unwrap()],
    )
    .await;

    let bpjs_peer = net.peer("BPJSMSP").unwrap();
    let outsider = client_of(
        &net.network,
        &net.crypto,
        "RumahSakitMSP",
        "User1",
        bpjs_peer.node.listen,
        &bpjs_peer.node.host,
        "jatim-puskesmas",
    )
    .unwrap();
    assert_eq!(outsider.info().await.unwrap_err().code(), Code::PermissionDenied);
    assert_eq!(outsider.block(0).await.unwrap_err().code(), Code::PermissionDenied);
    assert_eq!(
        outsider.events(0, false).await.unwrap_err().code(),
        Code::PermissionDenied
    );
    let evaluated = outsider.evaluate("VerifyCard", &s(&[NIK])).await.unwrap_err();
    assert_eq!(evaluated.code(), Code::PermissionDenied, "{evaluated}");
    let submitted = outsider
        .submit(
            "IssueCard",
            &s(&[
                "3171075203950012",
                "1",
                "2030-12-31",
                &net.attest_alive("3171075203950012").unwrap(),
            ]),
        )
        .await
        .unwrap_err();
    assert_eq!(submitted.code(), Code::PermissionDenied, "{submitted}");
    net.shutdown().await;
}
