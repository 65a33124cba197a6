//! A cluster of three orderers over the in-process router, with the example network's
//! crypto material, for tests of this crate and of the whole pipeline. Behind the `testing`
//! feature.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "a test harness (the `testing` feature): a failed setup must fail the test at once"
)]

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use openraft::BasicNode;
use warga_ledger_core::block::BlockHeader;
use warga_ledger_core::network::Orderer as OrdererSettings;
use warga_ledger_core::rwset::MemoryState;
use warga_ledger_core::tx::Transaction;
use warga_ledger_msp::testing::TestNetwork;

use crate::OrdererNode;
use crate::network::Router;

/// Three orderers, their router and the network they order for.
pub struct Cluster {
    pub net: TestNetwork,
    pub router: Router,
    pub dir: tempfile::TempDir,
    pub settings: OrdererSettings,
    pub nodes: BTreeMap<u64, OrdererNode>,
}

impl Cluster {
    pub async fn new() -> Cluster {
        let mut net = TestNetwork::new();
        // Small batches, quickly cut: the channel's genesis configuration says so.
        let settings = &mut net.network.orderer;
        settings.batch_size.max_message_count = 5;
        settings.batch_timeout_ms = 100;
        settings.raft.tick_interval_ms = 100;
        settings.raft.snapshot_interval_bytes = u64::from(settings.batch_size.preferred_max_bytes) * 8;
        let settings = settings.clone();
        let mut cluster = Cluster {
            net,
            router: Router::default(),
            dir: tempfile::tempdir().expect("cluster"),
            settings,
            nodes: BTreeMap::new(),
        };
        for id in 1..=3 {
            cluster.start(id).await;
        }
        let members: BTreeMap<u64, BasicNode> = (1..=3)
            .map(|id| (id, BasicNode::new(format!("orderer{}", id - 1))))
            .collect();
        cluster.nodes[&1].raft.initialize(members).await.expect("cluster");
        cluster
    }

    pub async fn start(&mut self, id: u64) {
        let channel = self.net.network.channel("bpjs-main").expect("cluster").clone();
        let genesis = self.net.genesis(&channel);
        let signer = Arc::new(self.net.orderer_n(id as usize - 1));
        let path = self.dir.path().join(format!("orderer{id}.redb"));
        let node = OrdererNode::start(
            id,
            "bpjs-main",
            &self.settings,
            &genesis,
            signer,
            &path,
            self.router.node(id),
        )
        .await
        .expect("cluster");
        self.router.add(id, node.raft.clone(), node.db.clone());
        // Raft's voters follow the configuration's consenters (ended with the node).
        let members = (1..=3u64)
            .map(|n| {
                (
                    format!("orderer{}.{}", n - 1, self.net.network.orderer.organization.domain),
                    (n, BasicNode::new(format!("orderer{}", n - 1))),
                )
            })
            .collect();
        drop(node.follow_consenters(members));
        self.nodes.insert(id, node);
    }

    pub async fn kill(&mut self, id: u64) {
        self.router.remove(id);
        if let Some(node) = self.nodes.remove(&id) {
            node.shutdown().await;
        }
    }

    /// The leader all running orderers agree on (other than `not`).
    pub async fn leader(&self, not: Option<u64>) -> u64 {
        for _ in 0..300 {
            let mut seen = Vec::new();
            for node in self.nodes.values() {
                seen.push(node.raft.current_leader().await);
            }
            if let Some(Some(leader)) = seen.first().copied()
                && seen.iter().all(|l| *l == Some(leader))
                && Some(leader) != not
                && self.nodes.contains_key(&leader)
            {
                return leader;
            }
            tokio::time::sleep(Duration::from_millis(30)).await;
        }
        panic!("no leader agreed on");
    }

    pub fn transactions(&mut self, n: usize) -> Vec<Transaction> {
        let client = self.net.client("BPJSMSP");
        let state = MemoryState::default();
        (0..n)
            .map(|_| {
                self.net.transact(
                    &state,
                    "bpjs-main",
                    &client,
                    "GetPatientHistory",
                    &["3171075203950004"],
                    &["BPJSMSP"],
                )
            })
            .collect()
    }

    /// Broadcasts every transaction to `leader`, as a client does: when leadership moves
    /// under load (a busy machine can miss a heartbeat), a refused or interrupted one is
    /// sent again to the leader of the moment. Returns each one's block.
    pub async fn order(&self, leader: u64, txs: &[Transaction]) -> Vec<u64> {
        let one = |tx: &Transaction| {
            let tx = tx.clone();
            async move {
                let mut target = leader;
                for _ in 0..20 {
                    match self.nodes[&target].broadcast(&tx).await {
                        Ok(block) => return block,
                        Err(_) => {
                            tokio::time::sleep(Duration::from_millis(100)).await;
                            target = self.leader(None).await;
                        }
                    }
                }
                panic!("{} was never ordered", tx.proposal.tx_id);
            }
        };
        futures::future::join_all(txs.iter().map(one)).await
    }

    pub async fn wait_height(&self, height: u64) {
        for _ in 0..300 {
            if self.nodes.values().all(|n| n.height() == height) {
                for node in self.nodes.values() {
                    node.caught_up().await;
                }
                return;
            }
            tokio::time::sleep(Duration::from_millis(30)).await;
        }
        let heights: Vec<u64> = self.nodes.values().map(|n| n.height()).collect();
        panic!("orderers did not reach height {height}: {heights:?}");
    }

    /// Every orderer has the same header at every height, linked and signed.
    pub fn same_chain(&self) -> Vec<BlockHeader> {
        let height = self.nodes.values().next().expect("cluster").height();
        let mut chain = Vec::new();
        for number in 0..height {
            let blocks: Vec<_> = self
                .nodes
                .values()
                .map(|n| n.db.block(number).expect("cluster").expect("cluster"))
                .collect();
            for block in &blocks {
                assert_eq!(
                    block.header, blocks[0].header,
                    "block {number} differs between orderers"
                );
                assert!(block.links_to(chain.last()), "block {number} links");
                if number > 0 {
                    warga_ledger_msp::verify_block_signature(
                        block,
                        &self.net.msps,
                        &self.net.network.orderer.organization.msp_id,
                    )
                    .expect("cluster");
                }
            }
            chain.push(blocks[0].header.clone());
        }
        chain
    }
}

/// An orderer's store holding a chain of `blocks` blocks after genesis, each of
/// `transactions` real (endorsed, signed) transactions and signed by orderer0 — written in
/// one database transaction, for measuring what costs grow with the chain.
pub fn chain(
    path: &std::path::Path,
    blocks: u64,
    transactions: usize,
) -> (crate::store::OrdererDb, crate::store::BlockMachine) {
    use prost::Message as _;
    let mut net = TestNetwork::new();
    let channel = net.network.channel("bpjs-main").expect("chain").clone();
    let genesis = net.genesis(&channel);
    let client = net.client("BPJSMSP");
    let state = MemoryState::default();
    let txs: Vec<Transaction> = (0..transactions)
        .map(|_| {
            net.transact(
                &state,
                "bpjs-main",
                &client,
                "GetPatientHistory",
                &["3171075203950004"],
                &["BPJSMSP"],
            )
        })
        .collect();
    let signer = Arc::new(net.orderer());
    let db = crate::store::OrdererDb::open(path).expect("chain");
    let machine = crate::store::BlockMachine::new(db.clone(), &genesis, signer.clone()).expect("chain");
    let mut tip = genesis.header.clone();
    let encoded: Vec<(u64, Vec<u8>)> = (0..blocks)
        .map(|_| {
            let mut block = warga_ledger_core::block::Block::next(&tip, txs.clone());
            warga_ledger_msp::sign_block(&mut block, &signer).expect("chain");
            tip = block.header.clone();
            (
                block.header.number,
                warga_ledger_proto::v1::Block::from(block).encode_to_vec(),
            )
        })
        .collect();
    db.insert_blocks(&encoded).expect("chain");
    (db, machine)
}
