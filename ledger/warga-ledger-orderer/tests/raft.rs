//! Three orderers in one process over the in-process router: blocks cut by the batch rules
//! and identical on every orderer; the leader killed — ordering resumes under a new one and
//! nothing acknowledged is lost; the old leader restarted from disk catches up (through a
//! snapshot once the log was compacted); a minority cannot order, and after healing every
//! orderer holds the same chain.
//!
//! Deterministic in time as in network: the runtime's clock is paused and only advances when
//! every task waits (elections, heartbeats and BatchTimeout run on it), and the router cuts
//! and heals links on command.

use std::time::Duration;

use warga_ledger_orderer::testing::Cluster;

#[tokio::test(start_paused = true)]
async fn blocks_are_cut_replicated_and_survive_the_leader() {
    let mut cluster = Cluster::new().await;
    let leader = cluster.leader(None).await;
    let txs = cluster.transactions(12);
    let blocks = cluster.order(leader, &txs).await;
    assert_eq!(
        blocks.iter().filter(|b| **b == 1).count(),
        5,
        "MaxMessageCount cuts at 5"
    );
    assert_eq!(*blocks.iter().max().unwrap(), 3, "5 + 5 + 2 (the last by BatchTimeout)");
    cluster.wait_height(4).await;
    cluster.same_chain();
    let follower = *cluster.nodes.keys().find(|id| **id != leader).unwrap();
    assert!(matches!(
        cluster.nodes[&follower].broadcast(&txs[0]).await,
        Err(warga_ledger_orderer::BroadcastError::NotLeader { leader: Some(l) }) if l == leader
    ));

    // The leader dies; a new one is elected and ordering resumes; every acknowledged
    // transaction is in the chain exactly once.
    let killed_last_index = cluster.nodes[&leader]
        .raft
        .metrics()
        .borrow()
        .last_log_index
        .unwrap_or(0);
    cluster.kill(leader).await;
    let new_leader = cluster.leader(Some(leader)).await;
    let more = cluster.transactions(60);
    cluster.order(new_leader, &more).await;
    let survivors_height = cluster.nodes[&new_leader].height();
    assert!(survivors_height >= 16, "{survivors_height}");
    cluster.wait_height(survivors_height).await;
    let chain = cluster.same_chain();
    let mut ordered = Vec::new();
    for number in 1..chain.len() as u64 {
        let block = cluster.nodes[&new_leader].db.block(number).unwrap().unwrap();
        ordered.extend(block.data.transactions().iter().map(|t| t.proposal.tx_id.clone()));
    }
    for tx in txs.iter().chain(&more) {
        // A client that resent after a lost answer may have it twice; peers mark the second
        // DUPLICATE_TXID. What was acknowledged is never missing.
        assert!(
            ordered.contains(&tx.proposal.tx_id),
            "an acknowledged transaction is in the chain"
        );
    }

    // Snapshots were taken by policy; the leader compacts its log past what the dead
    // orderer has (openraft alone keeps a log a follower may still need), so the old leader,
    // back from its disk, can only catch up through a snapshot.
    let leader_raft = cluster.nodes[&new_leader].raft.clone();
    let snapshot = leader_raft.metrics().borrow().snapshot.map(|l| l.index);
    let snapshot = snapshot.expect("a snapshot was taken by policy");
    assert!(snapshot > killed_last_index);
    leader_raft.trigger().purge_log(snapshot).await.unwrap();
    for _ in 0..100 {
        if leader_raft
            .metrics()
            .borrow()
            .purged
            .is_some_and(|p| p.index > killed_last_index)
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
    let purged = leader_raft.metrics().borrow().purged.map(|p| p.index);
    assert!(purged.is_some_and(|p| p > killed_last_index), "{purged:?}");
    cluster.start(leader).await;
    cluster.wait_height(survivors_height).await;
    cluster.same_chain();
    let restarted = cluster.nodes[&leader].raft.metrics().borrow().snapshot.map(|l| l.index);
    assert!(
        restarted.is_some_and(|s| s >= snapshot),
        "installed a snapshot: {restarted:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_minority_cannot_order_and_heals_to_the_same_chain() {
    let mut cluster = Cluster::new().await;
    let leader = cluster.leader(None).await;
    let txs = cluster.transactions(3);
    cluster.order(leader, &txs).await;
    cluster.wait_height(2).await;

    // The leader is cut off: what it is given is not acknowledged; the majority elects
    // another leader and goes on.
    cluster.router.isolate(leader);
    let stranded = cluster.transactions(1);
    let attempt = tokio::time::timeout(Duration::from_secs(2), cluster.nodes[&leader].broadcast(&stranded[0])).await;
    assert!(!matches!(attempt, Ok(Ok(_))), "an isolated leader acknowledges nothing");
    let mut majority_leader = None;
    for _ in 0..300 {
        for (id, node) in &cluster.nodes {
            if *id != leader && node.raft.current_leader().await == Some(*id) {
                majority_leader = Some(*id);
            }
        }
        if majority_leader.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
    let majority_leader = majority_leader.expect("the majority elects a leader");
    let after = cluster.transactions(4);
    let blocks = cluster.order(majority_leader, &after).await;
    assert!(blocks.iter().all(|b| *b >= 2));

    cluster.router.heal();
    let height = cluster.nodes[&majority_leader].height();
    cluster.wait_height(height).await;
    cluster.same_chain();
}

/// What a backup keeps of the orderers — one orderer's copy, its Raft log cut at the last
/// applied entry — given to every orderer of a restored network: the restored orderers
/// elect a leader, hold the chain as copied, and order on.
#[tokio::test(start_paused = true)]
async fn a_network_restored_from_one_orderers_copy_orders_on() {
    let mut cluster = Cluster::new().await;
    let leader = cluster.leader(None).await;
    let txs = cluster.transactions(12);
    cluster.order(leader, &txs).await;
    cluster.wait_height(4).await;
    let backup = tempfile::tempdir().unwrap();
    let copy = backup.path().join("orderer.redb");
    let copied = cluster.nodes[&leader].db.copy_to(&copy).unwrap();
    assert_eq!(copied.height, 4, "genesis and three blocks");
    assert!(!copied.gap && copied.applied.is_some());
    assert!(
        cluster.nodes[&leader].db.copy_to(&copy).is_err(),
        "a copy never overwrites a file"
    );

    for id in 1..=3 {
        cluster.kill(id).await;
        std::fs::copy(&copy, cluster.dir.path().join(format!("orderer{id}.redb"))).unwrap();
    }
    for id in 1..=3 {
        cluster.start(id).await;
    }
    let leader = cluster.leader(None).await;
    assert_eq!(cluster.nodes[&leader].height(), 4);
    let more = cluster.transactions(5);
    cluster.order(leader, &more).await;
    cluster.wait_height(5).await;
    cluster.same_chain();
}

/// A configuration update is ordered into a block of its own — what waited in the cutter
/// goes first — and becomes the configuration of every orderer; two updates of the same
/// sequence, only the first ordered applies; an update whose leader is killed mid-way is
/// applied exactly once or not at all, everywhere, and a client's resubmission settles it.
#[tokio::test(start_paused = true)]
async fn configuration_updates_are_ordered_alone_and_applied_once() {
    use warga_ledger_core::block::BlockData;
    use warga_ledger_orderer::BroadcastError;

    let mut cluster = Cluster::new().await;
    let leader = cluster.leader(None).await;
    let (_, initial) = cluster.nodes[&leader].config().unwrap();
    assert_eq!(initial.sequence, 0);
    let mut faster = initial.clone();
    faster.orderer.batch_timeout_ms = 50;
    let update = cluster.net.config_update(&initial, faster.clone(), &["OrdererMSP"]);
    let mut slower = initial.clone();
    slower.orderer.batch_timeout_ms = 500;
    let rival = cluster.net.config_update(&initial, slower, &["OrdererMSP"]);
    // Refused at once: the ordering service's section needs the ordering admin.
    let unsigned = cluster.net.config_update(&initial, faster.clone(), &["BPJSMSP"]);
    assert!(matches!(
        cluster.nodes[&leader].broadcast_config(&unsigned).await,
        Err(BroadcastError::ConfigRefused(reason)) if reason.contains("OrdererMSP.admin")
    ));

    let txs = cluster.transactions(3);
    let node = &cluster.nodes[&leader];
    let (tx_blocks, first, second) = futures::join!(
        cluster.order(leader, &txs),
        node.broadcast_config(&update),
        node.broadcast_config(&rival)
    );
    let applied = first.expect("the first update is ordered");
    assert!(
        matches!(&second, Err(BroadcastError::ConfigRefused(_))),
        "its rival of the same sequence is not: {second:?}"
    );
    assert!(!tx_blocks.contains(&applied), "the update is alone in its block");
    let height = cluster.nodes[&leader].height();
    cluster.wait_height(height).await;
    cluster.same_chain();
    for node in cluster.nodes.values() {
        let (block, config) = node.config().unwrap();
        assert_eq!(
            (block, config.sequence, config.orderer.batch_timeout_ms),
            (applied, 1, 50)
        );
        assert!(matches!(
            node.db.block(applied).unwrap().unwrap().data,
            BlockData::ConfigUpdate(_)
        ));
    }
    assert!(matches!(
        cluster.nodes[&leader].broadcast_config(&update).await,
        Err(BroadcastError::ConfigRefused(reason)) if reason.contains("replaces configuration 0")
    ));

    // The leader is killed while it orders the next update.
    let (_, current) = cluster.nodes[&leader].config().unwrap();
    let mut next = current.clone();
    next.orderer.batch_size.max_message_count = 4;
    let update = cluster.net.config_update(&current, next, &["OrdererMSP"]);
    let attempt = tokio::time::timeout(
        Duration::from_millis(1),
        cluster.nodes[&leader].broadcast_config(&update),
    )
    .await;
    cluster.kill(leader).await;
    let new_leader = cluster.leader(Some(leader)).await;
    // The client did not hear back (or did): it submits again to the new leader.
    let again = cluster.nodes[&new_leader].broadcast_config(&update).await;
    match (&attempt, &again) {
        (_, Ok(_)) => {}
        (_, Err(BroadcastError::ConfigRefused(reason))) if reason.contains("replaces configuration 1") => {}
        other => panic!("{other:?}"),
    }
    cluster.start(leader).await;
    let height = cluster.nodes[&new_leader].height();
    cluster.wait_height(height).await;
    cluster.same_chain();
    let updates: Vec<u64> = (1..height)
        .filter(|n| {
            matches!(
                cluster.nodes[&new_leader].db.block(*n).unwrap().unwrap().data,
                BlockData::ConfigUpdate(_)
            )
        })
        .collect();
    assert_eq!(updates.len(), 2, "each update applied exactly once: {updates:?}");
    for node in cluster.nodes.values() {
        let (block, config) = node.config().unwrap();
        assert_eq!(
            (block, config.sequence, config.orderer.batch_size.max_message_count),
            (updates[1], 2, 4)
        );
    }
    // The block cutter follows the configuration: MaxMessageCount is 4 now.
    let leader = cluster.leader(None).await;
    let txs = cluster.transactions(8);
    let blocks = cluster.order(leader, &txs).await;
    let first = *blocks.iter().min().unwrap();
    assert_eq!(blocks.iter().filter(|b| **b == first).count(), 4, "{blocks:?}");
}

/// Consenters change through configuration updates: removing one makes Raft's voters the
/// other two (openraft's joint consensus, run by the leader), ordering goes on; adding it
/// back makes it a learner that catches up, then a voter again — the same chain on all.
#[tokio::test(start_paused = true)]
async fn consenters_follow_the_configuration() {
    let mut cluster = Cluster::new().await;
    let leader = cluster.leader(None).await;
    let txs = cluster.transactions(3);
    cluster.order(leader, &txs).await;
    // Waits on Raft's own metrics (a watch channel) of orderer 1, never removed, until its
    // membership is exactly `wanted` (no longer joint).
    let voters_become = |cluster: &Cluster, wanted: Vec<u64>, what: &'static str| {
        let raft = cluster.nodes[&1].raft.clone();
        async move {
            raft.wait(Some(Duration::from_secs(60)))
                .metrics(
                    |m| {
                        let membership = m.membership_config.membership();
                        membership.get_joint_config().len() == 1 && membership.voter_ids().collect::<Vec<_>>() == wanted
                    },
                    what,
                )
                .await
                .unwrap_or_else(|e| panic!("{what}: {e}"));
        }
    };
    let (_, initial) = cluster.nodes[&leader].config().unwrap();
    let removed_host = initial.orderer.consenters[2].clone();
    let mut two = initial.clone();
    two.orderer.consenters.retain(|h| *h != removed_host);
    let update = cluster.net.config_update(&initial, two.clone(), &["OrdererMSP"]);
    cluster.nodes[&leader].broadcast_config(&update).await.unwrap();
    voters_become(&cluster, vec![1, 2], "Raft's voters became the two consenters").await;
    let leader = cluster.leader(Some(3)).await;
    let more = cluster.transactions(4);
    cluster.order(leader, &more).await;

    // Back to three: orderer 3 catches up as a learner, then votes.
    let (_, current) = cluster.nodes[&leader].config().unwrap();
    let update = cluster.net.config_update(&current, initial.clone(), &["OrdererMSP"]);
    cluster.nodes[&leader].broadcast_config(&update).await.unwrap();
    voters_become(&cluster, vec![1, 2, 3], "orderer 3 votes again").await;
    let leader = cluster.leader(None).await;
    let last = cluster.transactions(2);
    cluster.order(leader, &last).await;
    let height = cluster.nodes[&leader].height();
    cluster.wait_height(height).await;
    cluster.same_chain();
}
