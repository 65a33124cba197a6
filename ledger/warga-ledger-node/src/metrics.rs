//! The nodes' Prometheus metrics, labelled by node so that the embedded network (three
//! orderers and a peer per organisation in one process) reports each node apart.

use std::sync::LazyLock;

use prometheus::{HistogramOpts, HistogramVec, IntCounterVec, IntGaugeVec, Opts};
use warga_telemetry::register;

fn gauge(name: &str, help: &str, labels: &[&str]) -> IntGaugeVec {
    register(IntGaugeVec::new(Opts::new(name, help), labels))
}

fn counter(name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    register(IntCounterVec::new(Opts::new(name, help), labels))
}

pub static ORDERER_TERM: LazyLock<IntGaugeVec> = LazyLock::new(|| {
    gauge(
        "warga_orderer_raft_term",
        "The Raft term the orderer is in.",
        &["orderer", "channel"],
    )
});
pub static ORDERER_IS_LEADER: LazyLock<IntGaugeVec> = LazyLock::new(|| {
    gauge(
        "warga_orderer_is_leader",
        "1 while the orderer is the Raft leader (its role), 0 as follower or candidate.",
        &["orderer", "channel"],
    )
});
pub static ORDERER_RAFT_ROLE: LazyLock<IntGaugeVec> = LazyLock::new(|| {
    gauge(
        "warga_orderer_raft_role",
        "1 for the orderer's current Raft role (leader, follower, candidate, learner), 0 for the others.",
        &["orderer", "channel", "role"],
    )
});
pub static ORDERER_LEADER_CHANGES: LazyLock<IntCounterVec> = LazyLock::new(|| {
    counter(
        "warga_orderer_leader_changes_total",
        "Leaders the orderer saw change.",
        &["orderer", "channel"],
    )
});
pub static ORDERER_BLOCK: LazyLock<IntGaugeVec> = LazyLock::new(|| {
    gauge(
        "warga_orderer_committed_block",
        "The newest block the orderer holds.",
        &["orderer", "channel"],
    )
});

pub static PEER_BLOCK: LazyLock<IntGaugeVec> = LazyLock::new(|| {
    gauge(
        "warga_peer_committed_block",
        "The newest block the peer committed.",
        &["peer", "channel"],
    )
});
pub static PEER_COMMIT_SECONDS: LazyLock<HistogramVec> = LazyLock::new(|| {
    register(HistogramVec::new(
        HistogramOpts::new(
            "warga_peer_block_commit_seconds",
            "Validating and committing one block.",
        )
        .buckets(vec![0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5]),
        &["peer"],
    ))
});
pub static PEER_CODES: LazyLock<IntCounterVec> = LazyLock::new(|| {
    counter(
        "warga_peer_transactions_total",
        "Committed transactions by validation code.",
        &["peer", "code"],
    )
});
pub static PEER_PROPOSALS_RECEIVED: LazyLock<IntCounterVec> = LazyLock::new(|| {
    counter(
        "warga_peer_proposals_received_total",
        "Proposals the peer received to endorse or evaluate, by outcome.",
        &["peer", "outcome"],
    )
});
pub static PEER_PROPOSALS_FORWARDED: LazyLock<IntCounterVec> = LazyLock::new(|| {
    counter(
        "warga_peer_proposals_forwarded_total",
        "Proposals the peer's gateway forwarded to peers of other organisations.",
        &["peer", "organisation"],
    )
});
pub static PEER_SUBMITS: LazyLock<IntCounterVec> = LazyLock::new(|| {
    counter(
        "warga_peer_transactions_submitted_total",
        "Transactions the peer's gateway sent to the ordering service, by outcome.",
        &["peer", "outcome"],
    )
});
