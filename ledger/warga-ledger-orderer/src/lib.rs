//! The ordering service, with etcdraft's semantics on openraft (an established Raft library;
//! nothing of consensus is written here):
//!
//! - a client broadcasts a transaction to the leader; the leader's block cutter (Fabric's
//!   BatchSize and BatchTimeout) groups transactions into batches; each batch is one Raft
//!   entry, proposed in order;
//! - every orderer applies committed entries to its state machine, which builds block `n`
//!   from batch and block `n − 1` — the same header everywhere — and signs it with its own
//!   orderer identity ([`store`]);
//! - `broadcast` answers only once the transaction's batch is committed by a majority, so an
//!   acknowledged transaction survives the leader's crash;
//! - leader election, failover, log replication, snapshots and log compaction are
//!   openraft's; the log and the blocks live in one redb file per orderer. A snapshot is the
//!   chain's tip, not the chain; an orderer that installs one pulls the blocks below it from
//!   the others over Deliver ([`catch_up`]).
//!
//! [`network::Router`] connects orderers in one process (for deterministic tests of
//! elections and partitions); [`grpc`] connects orderer processes. One process serves many
//! channels, one [`OrdererNode`] (Raft group, chain, cutter) each ([`channels`]); Raft
//! messages name their channel. [`participation`] is Fabric's channel participation API
//! (join with a genesis block, list, remove).

#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

pub mod catch_up;
pub mod channels;
pub mod grpc;
pub mod network;
pub mod participation;
pub mod store;
#[cfg(feature = "testing")]
pub mod testing;
pub mod tls;

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use openraft::{BasicNode, Config, Raft, SnapshotPolicy};
use prost::Message;
use std::sync::Mutex;

use tokio::sync::{mpsc, oneshot};
use warga_ledger_core::block::Block;
use warga_ledger_core::config::{ChannelConfig, ConfigEnvelope, ResolvedConfig};
use warga_ledger_core::cutter::BlockCutter;
use warga_ledger_core::network::Orderer as OrdererSettings;
use warga_ledger_core::tx::Transaction;
use warga_ledger_msp::SigningIdentity;
use warga_ledger_proto::v1;

use crate::store::{BlockMachine, ChainSnapshot, LogStore, OrdererDb};

/// A Raft entry: one batch of transactions (protobuf-encoded), one block.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Batch {
    /// Base64 in the JSON Raft messages and log (a third larger than the bytes, where a JSON
    /// array of numbers would be three times larger).
    #[serde(with = "base64_list")]
    pub transactions: Vec<Vec<u8>>,
    /// A configuration transaction (a `ConfigEnvelope` as JSON), ordered alone: a batch with
    /// one has no transactions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<String>,
}

impl Batch {
    fn of(transactions: Vec<Vec<u8>>) -> Batch {
        Batch {
            transactions,
            config: None,
        }
    }
}

pub(crate) mod base64_list {
    use base64::Engine as _;
    use base64::engine::general_purpose::STANDARD;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(list: &[Vec<u8>], s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(list.iter().map(|bytes| STANDARD.encode(bytes)))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Vec<u8>>, D::Error> {
        Vec::<String>::deserialize(d)?
            .iter()
            .map(|text| STANDARD.decode(text).map_err(serde::de::Error::custom))
            .collect()
    }
}

pub(crate) mod base64_bytes {
    use base64::Engine as _;
    use base64::engine::general_purpose::STANDARD;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&STANDARD.encode(bytes))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        STANDARD
            .decode(String::deserialize(d)?)
            .map_err(serde::de::Error::custom)
    }
}

/// What applying an entry produced: the block it became, if any.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Ordered {
    pub block: Option<u64>,
    /// Why a configuration transaction made no block (it no longer applied when ordered).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refused: Option<String>,
}

openraft::declare_raft_types!(
    /// warga's Raft types: batches in, block numbers out, blocks as snapshots.
    pub TypeConfig:
        D = Batch,
        R = Ordered,
        NodeId = u64,
        Node = BasicNode,
        SnapshotData = ChainSnapshot,
);

/// Why a broadcast was not ordered.
#[derive(Debug, thiserror::Error)]
pub enum BroadcastError {
    #[error("this orderer is not the leader; the leader is {leader:?}")]
    NotLeader { leader: Option<u64> },
    #[error(transparent)]
    TooLarge(#[from] warga_ledger_core::cutter::TooLarge),
    #[error("the transaction is for channel {got}, this orderer serves {channel}")]
    WrongChannel { channel: String, got: String },
    #[error("ordering stopped before the transaction was committed: {0}")]
    Interrupted(String),
    #[error("the configuration update does not apply: {0}")]
    ConfigRefused(String),
}

/// The Raft timing of a network file's orderer settings: heartbeat = tick × heartbeat_tick;
/// a follower that hears no leader for about the election timeout E = tick × election_tick
/// campaigns — openraft waits out a leader lease (its `election_timeout_max`) and then its
/// own timeout (between `election_timeout_min` and the max), so those are set to E/2 and
/// E/3: a silent leader is replaced after 5/6 E to E, as etcd's E, not openraft's default of
/// two to three E; snapshots every `snapshot_interval_bytes` of batches, counted as entries
/// of `preferred_max_bytes`.
pub fn raft_config(settings: &OrdererSettings) -> Result<Config, Box<openraft::ConfigError>> {
    let tick = settings.raft.tick_interval_ms;
    let heartbeat = tick * u64::from(settings.raft.heartbeat_tick);
    let election = tick * u64::from(settings.raft.election_tick);
    let timeout_min = (election / 3).max(heartbeat + 1);
    let timeout_max = (election / 2).max(timeout_min + 1);
    let entries =
        (settings.raft.snapshot_interval_bytes / u64::from(settings.batch_size.preferred_max_bytes).max(1)).max(8);
    Config {
        cluster_name: "warga-orderer".into(),
        heartbeat_interval: heartbeat,
        election_timeout_min: timeout_min,
        election_timeout_max: timeout_max,
        snapshot_policy: SnapshotPolicy::LogsSinceLast(entries),
        max_in_snapshot_log_to_keep: entries / 2,
        // An AppendEntries message must stay within the gRPC limit: batches of up to
        // absolute_max_bytes each, a third larger as base64 in JSON.
        max_payload_entries: (grpc::MESSAGE_LIMIT as u64 * 3
            / 4
            / u64::from(settings.batch_size.absolute_max_bytes).max(1))
        .clamp(1, 64),
        ..Default::default()
    }
    .validate()
    .map_err(Box::new)
}

type Waiter = oneshot::Sender<Result<u64, String>>;

/// How a waiter's error says the state machine refused a configuration transaction.
const REFUSED: &str = "refused: ";

struct Pending {
    cutter: BlockCutter,
    /// The configuration block whose batch settings the cutter follows.
    config: tokio::sync::watch::Receiver<u64>,
    /// One per transaction in the cutter, in the same order.
    waiters: VecDeque<Waiter>,
}

impl Pending {
    /// Takes up the batch settings of a configuration applied since the last look (a
    /// watch read: nothing is read from storage unless one was).
    fn follow_config(&mut self, db: &OrdererDb) {
        if !self.config.has_changed().unwrap_or(false) {
            return;
        }
        self.config.borrow_and_update();
        match db.config() {
            Ok((_, config)) => self
                .cutter
                .set_limits(batch_size(&config), config.orderer.batch_timeout_ms),
            Err(error) => tracing::error!(%error, "the channel's configuration is unreadable"),
        }
    }
}

fn batch_size(config: &ChannelConfig) -> warga_ledger_core::network::BatchSize {
    let b = config.orderer.batch_size;
    warga_ledger_core::network::BatchSize {
        max_message_count: b.max_message_count,
        absolute_max_bytes: b.absolute_max_bytes,
        preferred_max_bytes: b.preferred_max_bytes,
    }
}

/// Makes Raft's voters the consenters of the configuration in force (as the leader).
async fn match_consenters(
    raft: &Raft<TypeConfig>,
    db: &OrdererDb,
    me: u64,
    members: &std::collections::BTreeMap<String, (u64, BasicNode)>,
) -> Result<(), String> {
    const STEP: Duration = Duration::from_secs(30);
    let (_, config) = db.config()?;
    let mut wanted = std::collections::BTreeSet::new();
    for host in &config.orderer.consenters {
        match members.get(host) {
            Some((id, _)) => {
                wanted.insert(*id);
            }
            None => {
                tracing::error!(consenter = %host, "a consenter of the configuration is no orderer this node knows")
            }
        }
    }
    if wanted.is_empty() {
        return Err("no consenter of the configuration is known here".into());
    }
    let membership = raft.metrics().borrow().membership_config.clone();
    let voters: std::collections::BTreeSet<u64> = membership.membership().voter_ids().collect();
    if voters == wanted {
        return Ok(());
    }
    let known: std::collections::BTreeSet<u64> = membership.membership().nodes().map(|(id, _)| *id).collect();
    for (id, node) in members.values() {
        if wanted.contains(id) && !known.contains(id) {
            tokio::time::timeout(STEP, raft.add_learner(*id, node.clone(), true))
                .await
                .map_err(|_| format!("orderer {id} did not catch up within {STEP:?}"))?
                .map_err(|e| e.to_string())?;
        }
    }
    tokio::time::timeout(STEP, raft.change_membership(wanted.clone(), false))
        .await
        .map_err(|_| format!("the membership change did not commit within {STEP:?}"))?
        .map_err(|e| e.to_string())?;
    tracing::info!(orderer = me, voters = ?wanted, previous = ?voters, "Raft's voters follow the configuration's consenters");
    Ok(())
}

/// One orderer of a channel.
pub struct OrdererNode {
    pub id: u64,
    pub channel: String,
    pub raft: Raft<TypeConfig>,
    pub db: OrdererDb,
    /// Held only for cutting (never across an await).
    pending: Arc<Mutex<Pending>>,
    /// Unbounded: every batch holds broadcasters that wait for its commit, which bounds it.
    batches: mpsc::UnboundedSender<(Batch, Vec<Waiter>)>,
    /// Where this node's batching clock starts.
    origin: tokio::time::Instant,
    /// Counts the pulls that filled part of a snapshot's gap.
    filled: tokio::sync::watch::Receiver<u64>,
    /// The channel's configuration in force, parsed for Broadcast's and Deliver's policy
    /// checks; read again when one is applied (the watch says so).
    policies: Mutex<(tokio::sync::watch::Receiver<u64>, Option<Arc<ResolvedConfig>>)>,
    /// Told the block of each configuration applied.
    config_applied: tokio::sync::watch::Receiver<u64>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

/// Milliseconds since `origin` on the runtime's monotonic clock — tokio's, which tests pause
/// and advance — for BatchTimeout, which needs a duration, not the wall time.
fn now_ms(origin: tokio::time::Instant) -> i64 {
    origin.elapsed().as_millis() as i64
}

impl OrdererNode {
    /// Starts orderer `id` of `channel` on the database at `path`.
    pub async fn start<N: openraft::network::RaftNetworkFactory<TypeConfig> + catch_up::BlockSource>(
        id: u64,
        channel: &str,
        settings: &OrdererSettings,
        genesis: &Block,
        signer: Arc<SigningIdentity>,
        path: &std::path::Path,
        network: N,
    ) -> Result<OrdererNode, String> {
        let db = OrdererDb::open(path).map_err(|e| e.to_string())?;
        let machine = BlockMachine::new(db.clone(), genesis, signer).map_err(|e| e.to_string())?;
        let applied_config = machine.config_watch();
        let policies = Mutex::new((machine.config_watch(), None));
        let config_applied = machine.config_watch();
        let (filled_tx, filled) = tokio::sync::watch::channel(0);
        let catch_up = tokio::spawn(catch_up::run(
            db.clone(),
            machine.gap_notify(),
            network.clone_source(id),
            filled_tx,
        ));
        let config = Arc::new(raft_config(settings).map_err(|e| e.to_string())?);
        let raft = Raft::new(id, config, network, LogStore(db.clone()), machine)
            .await
            .map_err(|e| e.to_string())?;
        let mut cutter = BlockCutter::new(settings.batch_size, settings.batch_timeout_ms);
        // The channel's configuration in the chain decides the batch settings once it has
        // been updated; the network file's give the genesis block's.
        if let Ok((_, current)) = db.config() {
            cutter.set_limits(batch_size(&current), current.orderer.batch_timeout_ms);
        }
        let pending = Arc::new(Mutex::new(Pending {
            cutter,
            config: applied_config,
            waiters: VecDeque::new(),
        }));
        // Batches are proposed one after another, in the order they were cut.
        let (batches, mut queue) = mpsc::unbounded_channel::<(Batch, Vec<Waiter>)>();
        let proposer_raft = raft.clone();
        let proposer = tokio::spawn(async move {
            while let Some((batch, waiters)) = queue.recv().await {
                let answer = match proposer_raft.client_write_ff(batch).await {
                    Ok(receiver) => receiver,
                    Err(error) => {
                        for waiter in waiters {
                            let _ = waiter.send(Err(error.to_string()));
                        }
                        continue;
                    }
                };
                tokio::spawn(async move {
                    let result = match answer.await {
                        Ok(Ok(written)) => match written.data {
                            Ordered { block: Some(block), .. } => Ok(block),
                            Ordered {
                                refused: Some(reason), ..
                            } => Err(format!("{REFUSED}{reason}")),
                            Ordered { .. } => Err("the batch made no block".to_owned()),
                        },
                        Ok(Err(error)) => Err(error.to_string()),
                        Err(error) => Err(error.to_string()),
                    };
                    for waiter in waiters {
                        let _ = waiter.send(result.clone());
                    }
                });
            }
        });
        // BatchTimeout: cut what waits when its deadline passes.
        let origin = tokio::time::Instant::now();
        let timer_pending = pending.clone();
        let timer_db = db.clone();
        let timer_batches = batches.clone();
        let timer = tokio::spawn(async move {
            loop {
                let deadline = timer_pending.lock().ok().and_then(|p| p.cutter.deadline_ms());
                let wait = deadline.map_or(Duration::from_millis(50), |d| {
                    Duration::from_millis((d - now_ms(origin)).clamp(0, 50) as u64)
                });
                tokio::time::sleep(wait).await;
                let Ok(mut p) = timer_pending.lock() else { return };
                p.follow_config(&timer_db);
                if let Some(batch) = p.cutter.timed_out(now_ms(origin)) {
                    let waiters: Vec<Waiter> = p.waiters.drain(..batch.len()).collect();
                    // Sent under the lock, so batches reach Raft in the order they were cut.
                    if timer_batches.send((Batch::of(batch), waiters)).is_err() {
                        return;
                    }
                }
            }
        });
        Ok(OrdererNode {
            id,
            channel: channel.to_owned(),
            raft,
            db,
            pending,
            batches,
            origin,
            filled,
            policies,
            config_applied,
            tasks: vec![proposer, timer, catch_up],
        })
    }

    /// Orders a transaction: answers with its block number once a majority committed it.
    pub async fn broadcast(&self, tx: &Transaction) -> Result<u64, BroadcastError> {
        if tx.proposal.channel != self.channel {
            return Err(BroadcastError::WrongChannel {
                channel: self.channel.clone(),
                got: tx.proposal.channel.clone(),
            });
        }
        let leader = self.raft.current_leader().await;
        if leader != Some(self.id) {
            return Err(BroadcastError::NotLeader { leader });
        }
        let bytes = v1::Transaction::from(tx.clone()).encode_to_vec();
        let (sender, receiver) = oneshot::channel();
        {
            let mut p = self
                .pending
                .lock()
                .map_err(|_| BroadcastError::Interrupted("the batching state is poisoned".into()))?;
            p.follow_config(&self.db);
            let cut = p.cutter.ordered(bytes, now_ms(self.origin))?;
            p.waiters.push_back(sender);
            for batch in cut {
                let waiters: Vec<Waiter> = p.waiters.drain(..batch.len()).collect();
                self.batches
                    .send((Batch::of(batch), waiters))
                    .map_err(|e| BroadcastError::Interrupted(e.to_string()))?;
            }
        }
        match receiver.await {
            Ok(Ok(block)) => Ok(block),
            Ok(Err(error)) => Err(BroadcastError::Interrupted(error)),
            Err(error) => Err(BroadcastError::Interrupted(error.to_string())),
        }
    }

    /// Orders a configuration transaction into a block of its own: what waits to be cut goes
    /// first, then the update alone. It is judged against the channel's configuration now
    /// (a refusal answers at once) and again by every orderer when it is applied, against
    /// the configuration of that moment — so of two updates of the same sequence, only the
    /// first ordered makes a block. Answers with the block once a majority committed it.
    pub async fn broadcast_config(&self, envelope: &ConfigEnvelope) -> Result<u64, BroadcastError> {
        if envelope.update.channel != self.channel {
            return Err(BroadcastError::WrongChannel {
                channel: self.channel.clone(),
                got: envelope.update.channel.clone(),
            });
        }
        let leader = self.raft.current_leader().await;
        if leader != Some(self.id) {
            return Err(BroadcastError::NotLeader { leader });
        }
        let (_, current) = self
            .db
            .config()
            .map_err(|e| BroadcastError::Interrupted(e.to_string()))?;
        warga_ledger_msp::channel::judge_update(&current, envelope).map_err(BroadcastError::ConfigRefused)?;
        let (sender, receiver) = oneshot::channel();
        {
            let mut p = self
                .pending
                .lock()
                .map_err(|_| BroadcastError::Interrupted("the batching state is poisoned".into()))?;
            if let Some(batch) = p.cutter.cut() {
                let waiters: Vec<Waiter> = p.waiters.drain(..batch.len()).collect();
                self.batches
                    .send((Batch::of(batch), waiters))
                    .map_err(|e| BroadcastError::Interrupted(e.to_string()))?;
            }
            let batch = Batch {
                transactions: Vec::new(),
                config: Some(envelope.to_json()),
            };
            self.batches
                .send((batch, vec![sender]))
                .map_err(|e| BroadcastError::Interrupted(e.to_string()))?;
        }
        match receiver.await {
            Ok(Ok(block)) => Ok(block),
            Ok(Err(error)) => match error.strip_prefix(REFUSED) {
                Some(reason) => Err(BroadcastError::ConfigRefused(reason.to_owned())),
                None => Err(BroadcastError::Interrupted(error)),
            },
            Err(error) => Err(BroadcastError::Interrupted(error.to_string())),
        }
    }

    /// The channel's configuration in force, parsed: its policies (`Readers`, `Writers`)
    /// decide who pulls blocks and who broadcasts. Read from storage only after a
    /// configuration was applied.
    pub fn channel_policies(&self) -> Result<Arc<ResolvedConfig>, String> {
        let mut cached = self
            .policies
            .lock()
            .map_err(|_| "the configuration cache is poisoned".to_owned())?;
        let (watch, resolved) = &mut *cached;
        let stale = watch.has_changed().unwrap_or(false);
        match resolved {
            Some(current) if !stale => Ok(current.clone()),
            _ => {
                watch.borrow_and_update();
                let (_, config) = self.db.config()?;
                let fresh = Arc::new(config.resolve().map_err(|e| e.to_string())?);
                *resolved = Some(fresh.clone());
                Ok(fresh)
            }
        }
    }

    /// Follows the consenters of the channel's configuration: whenever a configuration is
    /// applied or leadership moves, the leader makes Raft's voters the configuration's
    /// consenters — a new one joins as a learner first and votes once it caught up
    /// (openraft's joint consensus; ordering goes on throughout). `members`: every orderer
    /// this node can reach, by host name (a consenter it does not know is logged and left
    /// out).
    pub fn follow_consenters(
        &self,
        members: std::collections::BTreeMap<String, (u64, BasicNode)>,
    ) -> tokio::task::JoinHandle<()> {
        let (raft, db, id) = (self.raft.clone(), self.db.clone(), self.id);
        let mut applied = self.config_applied.clone();
        tokio::spawn(async move {
            let mut metrics = raft.metrics();
            loop {
                let leader = metrics.borrow_and_update().current_leader;
                let mut failed = false;
                if leader == Some(id)
                    && let Err(error) = match_consenters(&raft, &db, id, &members).await
                {
                    tracing::warn!(orderer = id, %error, "Raft's voters do not follow the configuration's consenters yet");
                    failed = true;
                }
                // A configuration applied, another leader, or a retry after a failure.
                let retry = tokio::time::sleep(Duration::from_secs(5));
                tokio::pin!(retry);
                loop {
                    tokio::select! {
                        changed = applied.changed() => {
                            if changed.is_err() { return; }
                            break;
                        }
                        changed = metrics.changed() => {
                            if changed.is_err() { return; }
                            if metrics.borrow().current_leader != leader { break; }
                        }
                        () = &mut retry, if failed => break,
                    }
                }
            }
        })
    }

    /// The channel's configuration in force and the block that made it.
    pub fn config(&self) -> Result<(u64, ChannelConfig), String> {
        self.db.config().map_err(|e| e.to_string())
    }

    /// The number of the next block (the tip's + 1). After a snapshot, blocks below the
    /// tip may still be on their way: see [`OrdererNode::caught_up`].
    pub fn height(&self) -> u64 {
        self.db.height().unwrap_or(0)
    }

    /// Returns once no block below the tip is missing (at once when none is).
    pub async fn caught_up(&self) {
        let mut filled = self.filled.clone();
        loop {
            filled.borrow_and_update();
            if !matches!(self.db.gap(), Ok(Some(_))) {
                return;
            }
            if filled.changed().await.is_err() {
                return;
            }
        }
    }

    /// Stops Raft and the batching tasks (as a crash would, minus the process exit).
    pub async fn shutdown(&self) {
        for task in &self.tasks {
            task.abort();
        }
        let _ = self.raft.shutdown().await;
    }
}
