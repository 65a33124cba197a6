//! Three orderers talking Raft over gRPC with mutual TLS on local ports; clients broadcast
//! and peers pull blocks through Fabric's AtomicBroadcast. Only orderers may speak Raft, only
//! members of the channel may pull its blocks, a certificate from outside the network does
//! not get past the handshake, and a restarted orderer catches up through a snapshot
//! streamed in pieces.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use openraft::BasicNode;
use tokio_stream::StreamExt;
use warga_ledger_core::rwset::MemoryState;
use warga_ledger_msp::generate::organization_dir;
use warga_ledger_msp::testing::TestNetwork;
use warga_ledger_orderer::OrdererNode;
use warga_ledger_orderer::grpc::{Consenters, GrpcNetwork, OrdererServices, TlsMaterial, client_channel, serve};
use warga_ledger_proto::v1;
use warga_ledger_proto::v1::atomic_broadcast_client::AtomicBroadcastClient;
use warga_ledger_proto::v1::orderer_raft_client::OrdererRaftClient;

const CHANNEL: &str = "jatim-puskesmas";

fn tls(net: &TestNetwork, dir: &Path, server: bool) -> TlsMaterial {
    TlsMaterial::from_crypto(&net.network, net.dir.path(), dir, server).unwrap()
}

/// A client certificate chain (leaf, then an intermediate CA) and key, PEM: the intermediate
/// is issued by RumahSakit's TLS CA (whose key that organisation holds) with the subject of
/// BPJS's TLS CA.
fn forged_intermediate_identity(crypto: &Path) -> (String, String) {
    use rcgen::{
        BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
        KeyUsagePurpose,
    };
    let name = |domain: &str, cn: &str| {
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CountryName, "ID");
        dn.push(DnType::StateOrProvinceName, "DKI Jakarta");
        dn.push(DnType::LocalityName, "Jakarta");
        dn.push(DnType::OrganizationName, domain);
        dn.push(DnType::CommonName, cn);
        dn
    };
    let hospital = organization_dir(crypto, false, "rumahsakit.warga.local").join("tlsca");
    let hospital_key = KeyPair::from_pem(&std::fs::read_to_string(hospital.join("priv_sk")).unwrap()).unwrap();
    let mut hospital_params = CertificateParams::default();
    hospital_params.distinguished_name = name("rumahsakit.warga.local", "tlsca.rumahsakit.warga.local");
    let hospital_ca = Issuer::new(hospital_params, hospital_key);

    let intermediate_key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let mut intermediate = CertificateParams::default();
    intermediate.distinguished_name = name("bpjs.warga.local", "tlsca.bpjs.warga.local");
    intermediate.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    intermediate.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::DigitalSignature];
    let intermediate_cert = intermediate.clone().signed_by(&intermediate_key, &hospital_ca).unwrap();
    let intermediate_ca = Issuer::new(intermediate, intermediate_key);

    let leaf_key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let mut leaf = CertificateParams::new(vec!["peer0.bpjs.warga.local".to_owned()]).unwrap();
    leaf.distinguished_name = name("bpjs.warga.local", "peer0.bpjs.warga.local");
    leaf.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    leaf.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    let leaf_cert = leaf.signed_by(&leaf_key, &intermediate_ca).unwrap();
    (
        format!("{}{}", leaf_cert.pem(), intermediate_cert.pem()),
        leaf_key.serialize_pem(),
    )
}

struct Running {
    node: Arc<OrdererNode>,
    addr: SocketAddr,
    stop: tokio::sync::oneshot::Sender<()>,
}

/// The leader the running orderers agree on, once one is elected (Raft's own metrics, with a
/// deadline).
async fn current_leader(running: &BTreeMap<u64, Running>) -> u64 {
    let ids: Vec<u64> = running.keys().copied().collect();
    let (first, node) = running.iter().next().unwrap();
    let metrics = node
        .node
        .raft
        .wait(Some(Duration::from_secs(60)))
        .metrics(
            |m| m.current_leader.is_some_and(|l| ids.contains(&l)),
            &format!("a leader among {ids:?} seen by {first}"),
        )
        .await
        .unwrap();
    metrics.current_leader.unwrap()
}

/// Orders `tx`, expected in block `expected`, as a client of a Raft service must: it sends
/// to the leader once the leader has applied its whole log (which settles every entry of
/// earlier terms); when leadership moves in the middle of a broadcast it asks the next leader,
/// and sends again only if the transaction did not make it into a block.
async fn order(
    running: &BTreeMap<u64, Running>,
    channel_to: &dyn Fn(u64) -> tonic::transport::Channel,
    tx: &warga_ledger_core::tx::Transaction,
    expected: u64,
) -> u64 {
    let ids: Vec<u64> = running.keys().copied().collect();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    // The leader the former one learnt of when it stepped down, if any.
    let mut next = None;
    while tokio::time::Instant::now() < deadline {
        let leader = match next.take() {
            Some(leader) => leader,
            None => current_leader(running).await,
        };
        let settled = running[&leader]
            .node
            .raft
            .wait(Some(Duration::from_secs(60)))
            .metrics(
                |m| m.current_leader != Some(m.id) || m.last_applied.map(|l| l.index) == m.last_log_index,
                "the leader applied its whole log, or stepped down",
            )
            .await
            .unwrap();
        if settled.current_leader != Some(leader) {
            // Leadership moved: follow it once the former leader knows who leads now (Raft's
            // own metrics, with a deadline).
            let known = running[&leader]
                .node
                .raft
                .wait(Some(Duration::from_secs(60)))
                .metrics(
                    |m| m.current_leader.is_some_and(|l| ids.contains(&l)),
                    "the former leader knows the new one",
                )
                .await
                .unwrap();
            next = known.current_leader;
            continue;
        }
        if running[&leader].node.height() > expected {
            return expected;
        }
        match AtomicBroadcastClient::new(channel_to(leader))
            .broadcast(v1::Transaction::from(tx.clone()))
            .await
        {
            Ok(ordered) => return ordered.into_inner().block,
            Err(status) if matches!(status.code(), tonic::Code::Unavailable | tonic::Code::Aborted) => continue,
            Err(other) => panic!("broadcast refused: {other}"),
        }
    }
    panic!("not ordered within a minute of leadership changes")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn orderers_speak_raft_and_atomic_broadcast_over_mutual_tls() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut net = TestNetwork::new();
    let orderer_org = organization_dir(net.dir.path(), true, "orderer.warga.local");
    let host = |i: u64| format!("orderer{}.orderer.warga.local", i - 1);
    let mut listeners = BTreeMap::new();
    for id in 1..=3u64 {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        listeners.insert(id, listener);
    }
    let peers: BTreeMap<u64, (String, String)> = listeners
        .iter()
        .map(|(id, l)| (*id, (l.local_addr().unwrap().to_string(), host(*id))))
        .collect();
    let mut settings = net.network.orderer.clone();
    settings.batch_timeout_ms = 100;
    settings.raft.tick_interval_ms = 100;
    let channel = net.network.channel(CHANNEL).unwrap().clone();
    let genesis = net.genesis(&channel);
    let data = tempfile::tempdir().unwrap();
    let consenters = Consenters::from_crypto(&net.network, net.dir.path()).unwrap();
    let mut running = BTreeMap::new();
    for (id, listener) in listeners {
        let dir = orderer_org.join("orderers").join(host(id));
        let material = tls(&net, &dir, true);
        let network = GrpcNetwork {
            tls: material.clone(),
            peers: peers.clone(),
            channel: CHANNEL.into(),
        };
        let signer = Arc::new(net.orderer_n(id as usize - 1));
        let path = data.path().join(format!("orderer{id}.redb"));
        let node = Arc::new(
            OrdererNode::start(id, CHANNEL, &settings, &genesis, signer, &path, network)
                .await
                .unwrap(),
        );
        let services = OrdererServices {
            channels: one_channel(&node),
            tls: material,
            orderer_msp: "OrdererMSP".into(),
            consenters: consenters.clone(),
            msps: warga_ledger_msp::EdgeMsps::new(net.msps.clone()),
            participation: None,
        };
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let addr: SocketAddr = peers[&id].0.parse().unwrap();
        tokio::spawn(serve(services, listener, async {
            let _ = stopped.await;
        }));
        running.insert(id, Running { node, addr, stop });
    }
    let members: BTreeMap<u64, BasicNode> = peers
        .iter()
        .map(|(id, (a, _))| (*id, BasicNode::new(a.to_string())))
        .collect();
    running[&1].node.raft.initialize(members).await.unwrap();
    let leader = loop {
        if let Some(leader) = running[&1].node.raft.current_leader().await {
            break leader;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };

    // A BPJS client broadcasts to the leader over mutual TLS.
    let bpjs_user = organization_dir(net.dir.path(), false, "bpjs.warga.local").join("users/User1@bpjs.warga.local");
    let client_tls = tls(&net, &bpjs_user, false);
    let addresses: BTreeMap<u64, SocketAddr> = running.iter().map(|(id, r)| (*id, r.addr)).collect();
    let to = |id: u64, tls: &TlsMaterial| client_channel(tls, addresses[&id], &host(id)).unwrap();
    let client = net.client("BPJSMSP");
    let state = MemoryState::default();
    let tx = net.transact(
        &state,
        CHANNEL,
        &client,
        "GetPatientHistory",
        &["3171075203950004"],
        &["BPJSMSP"],
    );
    let mut broadcast = AtomicBroadcastClient::new(to(leader, &client_tls));
    let ordered = broadcast
        .broadcast(v1::Transaction::from(tx.clone()))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(ordered.block, 1);
    // Fabric's Writers check: a transaction its creator did not sign is not ordered.
    let mut forged = v1::Transaction::from(tx.clone());
    forged.proposal.as_mut().unwrap().args[0] = "3171075203950012".into();
    let refused = broadcast.broadcast(forged).await.unwrap_err();
    assert_eq!(refused.code(), tonic::Code::PermissionDenied, "{refused}");
    let follower = (1..=3).find(|id| *id != leader).unwrap();
    let refused = AtomicBroadcastClient::new(to(follower, &client_tls))
        .broadcast(v1::Transaction::from(tx.clone()))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), tonic::Code::Unavailable);
    assert_eq!(
        refused.metadata().get("x-warga-leader").unwrap().to_str().unwrap(),
        leader.to_string()
    );

    // A Puskesmas peer pulls from a follower; blocks ordered later arrive on the same stream.
    let puskesmas_peer =
        organization_dir(net.dir.path(), false, "puskesmas.warga.local").join("peers/peer0.puskesmas.warga.local");
    let peer_tls = tls(&net, &puskesmas_peer, true);
    let mut stream = AtomicBroadcastClient::new(to(follower, &peer_tls))
        .deliver(v1::DeliverRequest {
            channel: CHANNEL.into(),
            start: 0,
        })
        .await
        .unwrap()
        .into_inner();
    let genesis_back: warga_ledger_core::block::Block = stream.next().await.unwrap().unwrap().try_into().unwrap();
    assert_eq!(genesis_back.header, genesis.header);
    let first: warga_ledger_core::block::Block = stream.next().await.unwrap().unwrap().try_into().unwrap();
    assert_eq!(first.data.transactions()[0].proposal.tx_id, tx.proposal.tx_id);
    let later = net.transact(
        &state,
        CHANNEL,
        &client,
        "GetPatientHistory",
        &["3171071203950005"],
        &["BPJSMSP"],
    );
    broadcast.broadcast(v1::Transaction::from(later.clone())).await.unwrap();
    let second: warga_ledger_core::block::Block = tokio::time::timeout(Duration::from_secs(5), stream.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap()
        .try_into()
        .unwrap();
    assert_eq!(second.header.number, 2);
    assert!(second.links_to(Some(&first.header)));

    // The channel's Readers policy becomes BPJS's members only (a channel policy: both
    // members' admins sign). From that configuration block on, Puskesmas's stream ends and a
    // new one is refused; BPJS reads on.
    let (_, current) = running[&leader].node.config().unwrap();
    let mut next = current.clone();
    next.policies.insert("Readers".into(), "'BPJSMSP.member'".into());
    let update = net.config_update(&current, next, &["BPJSMSP", "PuskesmasMSP"]);
    let ordered = broadcast
        .broadcast_config(v1::ConfigTransaction { json: update.to_json() })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(ordered.block, 3);
    let ended = tokio::time::timeout(Duration::from_secs(5), stream.next())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(ended.unwrap_err().code(), tonic::Code::PermissionDenied);
    let refused = AtomicBroadcastClient::new(to(follower, &peer_tls))
        .deliver(v1::DeliverRequest {
            channel: CHANNEL.into(),
            start: 0,
        })
        .await;
    let refused = match refused {
        Err(status) => status,
        Ok(stream) => stream.into_inner().next().await.unwrap().unwrap_err(),
    };
    assert_eq!(refused.code(), tonic::Code::PermissionDenied, "{refused}");
    let bpjs_peer = organization_dir(net.dir.path(), false, "bpjs.warga.local").join("peers/peer0.bpjs.warga.local");
    let mut reader = AtomicBroadcastClient::new(to(follower, &tls(&net, &bpjs_peer, true)))
        .deliver(v1::DeliverRequest {
            channel: CHANNEL.into(),
            start: 3,
        })
        .await
        .unwrap()
        .into_inner();
    let config_block: warga_ledger_core::block::Block = tokio::time::timeout(Duration::from_secs(5), reader.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap()
        .try_into()
        .unwrap();
    assert!(matches!(
        config_block.data,
        warga_ledger_core::block::BlockData::ConfigUpdate(_)
    ));

    // RumahSakit is not a member of this channel; a peer may not speak Raft.
    let hospital_peer =
        organization_dir(net.dir.path(), false, "rumahsakit.warga.local").join("peers/peer0.rumahsakit.warga.local");
    let denied = AtomicBroadcastClient::new(to(follower, &tls(&net, &hospital_peer, true)))
        .deliver(v1::DeliverRequest {
            channel: CHANNEL.into(),
            start: 0,
        })
        .await
        .unwrap_err();
    assert_eq!(denied.code(), tonic::Code::PermissionDenied);
    let not_raft = OrdererRaftClient::new(to(follower, &peer_tls))
        .vote(v1::RaftPayload {
            json: b"{}".to_vec(),
            channel: CHANNEL.into(),
        })
        .await
        .unwrap_err();
    assert_eq!(not_raft.code(), tonic::Code::PermissionDenied);

    // Raft is pinned to each consenter's own certificate (as etcdraft): the orderer
    // organisation's Admin — a valid certificate of that organisation — can neither vote
    // nor append, and an orderer cannot speak for another; nothing changes.
    let term_before = running[&follower].node.raft.metrics().borrow().current_term;
    let admin_tls = tls(&net, &orderer_org.join("users/Admin@orderer.warga.local"), false);
    let other = (1..=3).find(|id| *id != leader && *id != follower).unwrap();
    let vote = |term: u64, candidate: u64| v1::RaftPayload {
        json: serde_json::to_vec(&openraft::raft::VoteRequest::new(
            openraft::Vote::new(term, candidate),
            None,
        ))
        .unwrap(),
        channel: CHANNEL.into(),
    };
    let append = |term: u64, leader: u64| v1::RaftPayload {
        json: serde_json::to_vec(
            &openraft::raft::AppendEntriesRequest::<warga_ledger_orderer::TypeConfig> {
                vote: openraft::Vote::new_committed(term, leader),
                prev_log_id: None,
                entries: vec![],
                leader_commit: None,
            },
        )
        .unwrap(),
        channel: CHANNEL.into(),
    };
    for (who, tls, claimed) in [
        ("the orderer organisation's Admin", &admin_tls, other),
        (
            "an orderer speaking for another",
            &tls(&net, &orderer_org.join("orderers").join(host(other)), true),
            leader,
        ),
    ] {
        let mut raft = OrdererRaftClient::new(to(follower, tls));
        let refused = raft.vote(vote(term_before + 10, claimed)).await.unwrap_err();
        assert_eq!(refused.code(), tonic::Code::PermissionDenied, "{who}: {refused}");
        let refused = raft
            .append_entries(append(term_before + 10, claimed))
            .await
            .unwrap_err();
        assert_eq!(refused.code(), tonic::Code::PermissionDenied, "{who}: {refused}");
    }
    let after = running[&follower].node.raft.metrics().borrow().clone();
    assert_eq!(after.current_term, term_before, "no step-down, no new term");
    assert_eq!(after.current_leader, Some(leader));

    // An organisation that holds its own TLS CA key (RumahSakit, no member of this channel)
    // mints an intermediate CA named like BPJS's TLS CA and a client certificate under it.
    // The handshake accepts the chain (it ends at RumahSakit's CA), but the certificate was
    // signed by no organisation's TLS CA: it may neither read the channel nor speak Raft.
    let forged = forged_intermediate_identity(net.dir.path());
    let forged_tls = TlsMaterial::new(forged.0.into_bytes(), forged.1.into_bytes(), client_tls.trusted.clone());
    let denied = AtomicBroadcastClient::new(to(follower, &forged_tls))
        .deliver(v1::DeliverRequest {
            channel: CHANNEL.into(),
            start: 0,
        })
        .await
        .unwrap_err();
    assert_eq!(denied.code(), tonic::Code::PermissionDenied, "{denied}");
    let denied = OrdererRaftClient::new(to(follower, &forged_tls))
        .vote(vote(term_before + 10, leader))
        .await
        .unwrap_err();
    assert_eq!(denied.code(), tonic::Code::PermissionDenied, "{denied}");

    // A certificate from no CA of the network does not get through the handshake.
    let stranger = rcgen::generate_simple_self_signed(vec!["stranger".into()]).unwrap();
    let outsider = TlsMaterial::new(
        stranger.cert.pem().into_bytes(),
        stranger.signing_key.serialize_pem().into_bytes(),
        client_tls.trusted.clone(),
    );
    let result = tokio::time::timeout(
        Duration::from_secs(5),
        AtomicBroadcastClient::new(to(leader, &outsider)).broadcast(v1::Transaction::from(tx.clone())),
    )
    .await
    .unwrap();
    assert!(result.is_err(), "an outsider's certificate is refused");

    // The leader goes down: the others elect a new one over gRPC and go on.
    let old = running.remove(&leader).unwrap();
    let _ = old.stop.send(());
    old.node.shutdown().await;
    let old_addr = old.addr;
    let old_last_index = old.node.raft.metrics().borrow().last_log_index.unwrap_or(0);
    drop(old.node);
    // The survivors elect a new leader among themselves.
    current_leader(&running).await;
    // Ordered by whichever survivor leads at the time: on a busy machine the two may trade
    // leadership (a delayed heartbeat), which a client rides out as Fabric's do.
    let channel_to = |id: u64| to(id, &client_tls);
    for (expected, nik) in [
        (4, "3171071508600001"),
        (5, "3171071508600002"),
        (6, "3171071508600003"),
    ] {
        let more = net.transact(&state, CHANNEL, &client, "GetPatientHistory", &[nik], &["BPJSMSP"]);
        assert_eq!(order(&running, &channel_to, &more, expected).await, expected);
    }
    // Whoever leads now compacts.
    let new_leader = current_leader(&running).await;
    // The new leader snapshots and compacts its log past what the old leader has, so the old
    // leader, back from its disk, catches up through a snapshot streamed over gRPC.
    let leader_raft = running[&new_leader].node.raft.clone();
    let applied = leader_raft.metrics().borrow().last_applied.map_or(0, |l| l.index);
    leader_raft.trigger().snapshot().await.unwrap();
    // Waits on Raft's own metrics (a watch channel): no fixed number of polls to run out
    // of on a busy machine. (A snapshot taken earlier by policy does not count.)
    let snapshot = leader_raft
        .wait(Some(Duration::from_secs(60)))
        .metrics(
            |m| m.snapshot.is_some_and(|s| s.index >= applied),
            "the leader's snapshot",
        )
        .await
        .unwrap()
        .snapshot
        .unwrap()
        .index;
    assert!(snapshot > old_last_index);
    // The policy may have purged past an earlier snapshot already; purging never goes back.
    if leader_raft.metrics().borrow().purged.is_none_or(|p| p.index < snapshot) {
        leader_raft.trigger().purge_log(snapshot).await.unwrap();
    }
    leader_raft
        .wait(Some(Duration::from_secs(60)))
        .metrics(
            |m| m.purged.is_some_and(|p| p.index >= snapshot),
            "the leader's log purged up to its snapshot",
        )
        .await
        .unwrap();
    let listener = tokio::net::TcpListener::bind(old_addr).await.unwrap();
    let dir = orderer_org.join("orderers").join(host(leader));
    let material = tls(&net, &dir, true);
    let node = Arc::new(
        OrdererNode::start(
            leader,
            CHANNEL,
            &settings,
            &genesis,
            Arc::new(net.orderer_n(leader as usize - 1)),
            &data.path().join(format!("orderer{leader}.redb")),
            GrpcNetwork {
                tls: material.clone(),
                peers: peers.clone(),
                channel: CHANNEL.into(),
            },
        )
        .await
        .unwrap(),
    );
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(serve(
        OrdererServices {
            channels: one_channel(&node),
            tls: material,
            orderer_msp: "OrdererMSP".into(),
            consenters: consenters.clone(),
            msps: warga_ledger_msp::EdgeMsps::new(net.msps.clone()),
            participation: None,
        },
        listener,
        async {
            let _ = stopped.await;
        },
    ));
    let target = running[&new_leader].node.height();
    let leader_applied = leader_raft.metrics().borrow().last_applied.map(|l| l.index);
    node.raft
        .wait(Some(Duration::from_secs(60)))
        .metrics(
            |m| m.last_applied.map(|l| l.index) >= leader_applied,
            "the restarted orderer applied what the leader had",
        )
        .await
        .unwrap();
    assert_eq!(node.height(), target, "the restarted orderer has the tip");
    // The snapshot was the tip only: the blocks below it came over Deliver, chained.
    tokio::time::timeout(Duration::from_secs(60), node.caught_up())
        .await
        .expect("the blocks below the tip were pulled");
    for number in 0..target {
        assert_eq!(
            node.db.block(number).unwrap().map(|b| b.header),
            running[&new_leader].node.db.block(number).unwrap().map(|b| b.header),
            "block {number}"
        );
    }
    let own = net.orderer_n(leader as usize - 1).certificate_der;
    let pulled = node.db.block(4).unwrap().unwrap();
    let signer = pulled.metadata.orderer.as_ref().map(|o| o.certificate.clone());
    assert!(
        signer.is_some_and(|c| c != own),
        "block 4 came from another orderer, with its signature"
    );
    assert!(
        node.raft
            .metrics()
            .borrow()
            .snapshot
            .is_some_and(|s| s.index >= snapshot),
        "it installed the snapshot"
    );
    let _ = stop.send(());
    node.shutdown().await;
    for (_, r) in running {
        let _ = r.stop.send(());
    }
}

/// The channels of an orderer process serving `node`'s channel alone.
fn one_channel(node: &Arc<OrdererNode>) -> Arc<warga_ledger_orderer::channels::Channels> {
    let channels = Arc::new(warga_ledger_orderer::channels::Channels::default());
    channels.insert(node.clone()).unwrap();
    channels
}
