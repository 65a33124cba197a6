//! Many channels per node on an embedded network: orderers and peers started for
//! `bpjs-main` join `jatim-puskesmas` through the participation API (signed by their
//! organisations' admins), order and commit it beside `bpjs-main`, and a peer restarted
//! from its data serves the channel it joined again. Stale and forged requests are refused.

use warga_ledger_node::configtx::{Admin, genesis_bytes, participate, participation_request};
use warga_ledger_node::embedded::{EmbeddedNetwork, client_of};
use warga_ledger_proto::v1;

const REGIONAL: &str = "jatim-puskesmas";

fn issue_card(net: &EmbeddedNetwork, nik: &str) -> Vec<String> {
    net.issue_card(nik, "3").unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_join_a_channel_and_serve_it_again_after_a_restart() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let dir = tempfile::tempdir().unwrap();
    let network = warga_ledger_core::network::Network::parse(warga_ledger_core::network::BPJS_EXAMPLE).unwrap();
    let mut net = EmbeddedNetwork::start(network, "bpjs-main", dir.path(), true)
        .await
        .unwrap();
    let genesis = genesis_bytes(&net.network, REGIONAL, &net.crypto).unwrap();
    let orderer_admin = Admin::load(&net.network, &net.crypto, "Orderer", "Admin").unwrap();
    let first = net.network.orderer.nodes[0].clone();

    // A request signed ten minutes ago, and one whose signature covers another request,
    // are refused; nothing is joined.
    let mut stale = participation_request(&orderer_admin, "join", "", genesis.clone()).unwrap();
    stale.signed_at -= 600;
    stale.signature = orderer_admin
        .identity
        .sign(&warga_ledger_orderer::participation::signed_bytes(
            "join",
            "",
            &genesis,
            stale.signed_at,
        ))
        .unwrap();
    let refused = participate(&orderer_admin, &first.address, &first.host, stale)
        .await
        .unwrap_err();
    assert!(refused.to_string().contains("sign it again"), "{refused}");
    let mut forged = participation_request(&orderer_admin, "list", "", Vec::new()).unwrap();
    forged.action = "join".into();
    forged.genesis = genesis.clone();
    let refused = participate(&orderer_admin, &first.address, &first.host, forged)
        .await
        .unwrap_err();
    assert!(refused.to_string().contains("does not verify"), "{refused}");

    // The three orderers join, then BPJS's and Puskesmas's peers.
    for orderer in &net.network.orderer.nodes {
        let request = participation_request(&orderer_admin, "join", "", genesis.clone()).unwrap();
        let list = participate(&orderer_admin, &orderer.address, &orderer.host, request)
            .await
            .unwrap();
        let names: Vec<&str> = list.channels.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["bpjs-main", REGIONAL]);
    }
    for (org, msp) in [("BPJS", "BPJSMSP"), ("Puskesmas", "PuskesmasMSP")] {
        let admin = Admin::load(&net.network, &net.crypto, org, "Admin").unwrap();
        let peer = net.network.organization(msp).unwrap().peers[0].clone();
        let request = participation_request(&admin, "join", "", genesis.clone()).unwrap();
        let list = participate(&admin, &peer.address, &peer.host, request).await.unwrap();
        assert!(list.channels.iter().any(|c| c.name == REGIONAL && c.status == "member"));
    }

    let regional = |net: &EmbeddedNetwork| {
        let peer = &net.network.organization("BPJSMSP").unwrap().peers[0];
        client_of(
            &net.network,
            &net.crypto,
            "BPJSMSP",
            "User1",
            &peer.address,
            &peer.host,
            REGIONAL,
        )
        .unwrap()
    };
    let issued = regional(&net)
        .submit("IssueCard", &issue_card(&net, "3578010101900011"))
        .await
        .unwrap();
    assert_eq!(issued.code_name, "VALID", "{issued:?}");

    // The Puskesmas peer, restarted on its data (its configuration names bpjs-main only),
    // serves the channel it joined again, and endorses on it.
    let host = net.network.organization("PuskesmasMSP").unwrap().peers[0].host.clone();
    net.stop_peer(&host).await.unwrap();
    net.start_peer(&host).await.unwrap();
    let peer = net
        .peer_of("PuskesmasMSP", REGIONAL)
        .expect("the joined channel is served again");
    // It catches up on what it missed while stopped.
    tokio::time::timeout(
        std::time::Duration::from_secs(30),
        peer.height().wait_for(|h| *h > issued.block),
    )
    .await
    .expect("the restarted peer commits the regional block")
    .unwrap();
    let again = regional(&net)
        .submit("IssueCard", &issue_card(&net, "3578010101900012"))
        .await
        .unwrap();
    assert_eq!(again.code_name, "VALID", "{again:?}");
    // The orderers list both channels with the regional chain's height.
    let request = participation_request(&orderer_admin, "list", "", Vec::new()).unwrap();
    let list: v1::ChannelList = participate(&orderer_admin, &first.address, &first.host, request)
        .await
        .unwrap();
    let regional_height = list.channels.iter().find(|c| c.name == REGIONAL).unwrap().height;
    assert!(regional_height > again.block, "{list:?}");
    net.shutdown().await;
}
