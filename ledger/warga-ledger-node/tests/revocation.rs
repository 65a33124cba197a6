//! Revocation at the edge: a user revoked through the organisation's `warga ca` is refused
//! by the endorsers and by the orderers' Broadcast once the nodes refresh their lists, and a
//! list in the crypto directory is honoured from the start.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::path::Path;
use std::time::Duration;

use tonic::Code;
use warga_ledger_ca::client::CaClient;
use warga_ledger_ca::{Ca, CaConfig};
use warga_ledger_core::network::{BPJS_EXAMPLE, Network};
use warga_ledger_msp::generate::{generate, organization_dir};
use warga_ledger_msp::{MspError, revocation_list};
use warga_ledger_node::RunningNode as _;
use warga_ledger_node::embedded::EmbeddedNetwork;
use warga_ledger_node::peer::signing_identity;
use warga_ledger_node::revocation::Revocations;

const NIK: &str = "3171075203950004";
const DOMAIN: &str = "puskesmas.warga.local";

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

/// Serves the CA of `org_dir` over HTTPS on a free port; its URL.
async fn serve_ca(org_dir: &Path) -> String {
    let ca = Ca::open(CaConfig {
        msp_id: "PuskesmasMSP".into(),
        domain: DOMAIN.into(),
        orderer_organization: false,
        org_dir: org_dir.to_path_buf(),
        dns_names: Vec::new(),
    })
    .unwrap();
    let listener = std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move { ca.serve(listener, std::future::pending()).await });
    format!("https://localhost:{port}")
}

/// Writes an enrolled identity where `client_of` looks for users, with User1's TLS
/// material (transport only: the enrolled certificate is what signs).
fn install_user(org_dir: &Path, user: &str, certificate_pem: &str, key_pem: &str) {
    let dir = org_dir.join("users").join(format!("{user}@{DOMAIN}"));
    std::fs::create_dir_all(dir.join("msp/signcerts")).unwrap();
    std::fs::create_dir_all(dir.join("msp/keystore")).unwrap();
    std::fs::create_dir_all(dir.join("tls")).unwrap();
    std::fs::write(dir.join(format!("msp/signcerts/{user}-cert.pem")), certificate_pem).unwrap();
    std::fs::write(dir.join("msp/keystore/priv_sk"), key_pem).unwrap();
    let user1 = org_dir.join(format!("users/User1@{DOMAIN}/tls"));
    for file in ["client.crt", "client.key", "ca.crt"] {
        std::fs::copy(user1.join(file), dir.join("tls").join(file)).unwrap();
    }
}

/// Waits until every node of the network holds at least one revoked serial.
async fn every_node_knows_a_revocation(net: &EmbeddedNetwork) {
    let nodes: Vec<std::sync::Arc<Revocations>> = net
        .peers
        .iter()
        .map(|p| p.revocations())
        .chain(net.orderers.iter().map(|o| o.revocations()))
        .collect();
    for revocations in nodes {
        let mut refreshed = revocations.refreshed();
        tokio::time::timeout(Duration::from_secs(20), async {
            while revocations.edge().revoked_count() == 0 {
                refreshed.changed().await.unwrap();
            }
        })
        .await
        .expect("a node did not refresh its revocation list");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_revoked_at_the_ca_is_refused_at_endorsement_and_broadcast() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let dir = tempfile::tempdir().unwrap();
    let mut network = Network::parse(BPJS_EXAMPLE).unwrap();
    let crypto = dir.path().join("crypto");
    generate(&network, &crypto, time::OffsetDateTime::now_utc()).unwrap();
    let org_dir = organization_dir(&crypto, false, DOMAIN);
    let url = serve_ca(&org_dir).await;
    network
        .organizations
        .iter_mut()
        .find(|o| o.msp_id == "PuskesmasMSP")
        .unwrap()
        .ca_url = Some(url.clone());
    let net = EmbeddedNetwork::start_refreshing(network, "bpjs-main", dir.path(), true, Duration::from_millis(200))
        .await
        .unwrap();

    // The organisation's admin registers a midwife of Puskesmas P3578030; she enrolls.
    let tls_ca = std::fs::read(org_dir.join(format!("tlsca/tlsca.{DOMAIN}-cert.pem"))).unwrap();
    let ca = CaClient::new(&url, &tls_ca, Duration::from_secs(5)).unwrap();
    let admin = signing_identity(&org_dir.join(format!("users/Admin@{DOMAIN}/msp")), "PuskesmasMSP").unwrap();
    let attributes = BTreeMap::from([("facility".to_owned(), "P3578030".to_owned())]);
    let secret = ca.register(&admin, "bidan-01", "client", &attributes).await.unwrap();
    let enrolled = ca.enroll("bidan-01", &secret).await.unwrap();
    install_user(&org_dir, "bidan-01", &enrolled.certificate_pem, &enrolled.key_pem);
    let bidan = net.client("PuskesmasMSP", "bidan-01").unwrap();

    let bpjs = net.client("BPJSMSP", "User1").unwrap();
    let issued = bpjs
        .submit("IssueCard", &net.issue_card(NIK, "1").unwrap())
        .await
        .unwrap();
    for peer in &net.peers {
        let mut height = peer.peer("bpjs-main").unwrap().height();
        height.wait_for(|h| *h > issued.block).await.unwrap();
    }
    let visit = bidan
        .submit_with_transient("RecordVisit", &s(&["V-1", NIK, &today()]), clinical("J06.9"))
        .await
        .unwrap();
    assert_eq!(visit.code_name, "VALID");
    let recorded: serde_json::Value = serde_json::from_slice(&visit.result).unwrap();
    assert_eq!(recorded["facility"], "P3578030", "the facility of her certificate");
    // Endorsed and signed before the revocation, broadcast after it.
    let late = bidan
        .endorse(
            bidan
                .proposal_with_transient("RecordVisit", &s(&["V-2", NIK, &today()]), clinical("J06.9"))
                .await
                .unwrap(),
        )
        .await
        .unwrap();

    let revoked = ca.revoke(&admin, "bidan-01").await.unwrap();
    assert_eq!(revoked.as_array().map(Vec::len), Some(1), "{revoked}");
    every_node_knows_a_revocation(&net).await;

    let refused = bidan
        .submit_with_transient("RecordVisit", &s(&["V-3", NIK, &today()]), clinical("J06.9"))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::Unauthenticated, "{refused}");
    assert!(refused.message().contains("revoked"), "{refused}");
    let refused = bidan.submit_transaction(late).await.unwrap_err();
    assert_eq!(
        refused.code(),
        Code::PermissionDenied,
        "the orderers' Writers check: {refused}"
    );
    assert!(refused.message().contains("revoked"), "{refused}");

    // Everyone else goes on.
    let puskesmas = net.client("PuskesmasMSP", "User1").unwrap();
    let other = puskesmas
        .submit_with_transient("RecordVisit", &s(&["V-4", NIK, &today()]), clinical("J06.9"))
        .await
        .unwrap();
    assert_eq!(other.code_name, "VALID");
    net.shutdown().await;
}

#[test]
fn revocation_lists_in_the_crypto_directory_are_honoured_and_forged_ones_refused() {
    let dir = tempfile::tempdir().unwrap();
    let network = Network::parse(BPJS_EXAMPLE).unwrap();
    let now = time::OffsetDateTime::now_utc();
    generate(&network, dir.path(), now).unwrap();
    let org_dir = organization_dir(dir.path(), false, DOMAIN);
    let user =
        |name: &str| signing_identity(&org_dir.join(format!("users/{name}@{DOMAIN}/msp")), "PuskesmasMSP").unwrap();
    let (user1, user2) = (user("User1"), user("User2"));
    let serial = Revocations::load(&network, dir.path())
        .unwrap()
        .edge()
        .identity_at(&user2.creator(), now.unix_timestamp())
        .unwrap()
        .serial;

    let ca_pem = std::fs::read_to_string(org_dir.join(format!("ca/ca.{DOMAIN}-cert.pem"))).unwrap();
    let ca_key = std::fs::read_to_string(org_dir.join("ca/priv_sk")).unwrap();
    let crl = revocation_list(&ca_pem, &ca_key, std::slice::from_ref(&serial), 1, now).unwrap();
    std::fs::create_dir_all(org_dir.join("msp/crls")).unwrap();
    std::fs::write(org_dir.join("msp/crls/crl.der"), &crl).unwrap();
    let edge = Revocations::load(&network, dir.path()).unwrap();
    assert_eq!(
        edge.edge().identity_at(&user2.creator(), now.unix_timestamp()),
        Err(MspError::Revoked { serial })
    );
    assert!(edge.edge().identity_at(&user1.creator(), now.unix_timestamp()).is_ok());

    // A list signed by another organisation's CA stops the node from starting, naming it.
    let bpjs = organization_dir(dir.path(), false, "bpjs.warga.local");
    let forged = revocation_list(
        &std::fs::read_to_string(bpjs.join("ca/ca.bpjs.warga.local-cert.pem")).unwrap(),
        &std::fs::read_to_string(bpjs.join("ca/priv_sk")).unwrap(),
        &[],
        2,
        now,
    )
    .unwrap();
    std::fs::write(org_dir.join("msp/crls/zz-forged.der"), forged).unwrap();
    let error = Revocations::load(&network, dir.path())
        .err()
        .expect("a forged list is refused");
    assert!(error.to_string().contains("zz-forged.der"), "{error}");
}
