//! Catching up after a snapshot, as Fabric's onboarding does: a snapshot carries only the
//! chain's tip, so an orderer that installed one pulls the blocks below it that it lacks
//! from the other orderers over Deliver, a bounded number at a time, each checked to chain
//! to the one before and the last to the tip ([`crate::store::OrdererDb::fill_gap`]).
//! Building and sending a snapshot therefore cost the same at any chain length.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;

use crate::store::OrdererDb;

/// Most blocks asked for in one pull.
pub const PULL_BLOCKS_MAX: u64 = 256;
/// How long one pull may take before another orderer is asked.
pub const PULL_DEADLINE: Duration = Duration::from_secs(10);
/// How long to wait before asking again when no orderer gave blocks.
const RETRY: Duration = Duration::from_millis(500);

/// A pull's answer: blocks (encoded `v1::Block`), in order from the first asked for.
pub type Pulled<'a> = Pin<Box<dyn Future<Output = Result<Vec<Vec<u8>>, String>> + Send + 'a>>;

/// Where an orderer pulls blocks from: the other orderers of its channel.
pub trait Puller: Send + Sync + 'static {
    /// Blocks `from..to` from one of the other orderers (fewer if it has fewer); each call
    /// may ask another one.
    fn pull(&self, from: u64, to: u64) -> Pulled<'_>;
}

/// What an orderer's Raft transport also provides: a way to pull blocks from the others.
pub trait BlockSource {
    /// The puller of orderer `me`.
    fn clone_source(&self, me: u64) -> Arc<dyn Puller>;
}

/// Fills the gap a snapshot left, whenever there is one (at start too: a gap survives a
/// crash); runs until aborted.
pub async fn run(db: OrdererDb, gap: Arc<Notify>, source: Arc<dyn Puller>, filled: tokio::sync::watch::Sender<u64>) {
    let mut failures = 0u64;
    loop {
        match db.gap() {
            Ok(Some((from, to))) => {
                let ask = to.min(from + PULL_BLOCKS_MAX);
                let outcome = match tokio::time::timeout(PULL_DEADLINE, source.pull(from, ask)).await {
                    Ok(Ok(blocks)) if blocks.is_empty() => Err(format!("no orderer had blocks {from}..{ask}")),
                    Ok(Ok(blocks)) => db.fill_gap(&blocks).map_err(|e| format!("refused pulled blocks: {e}")),
                    Ok(Err(error)) => Err(error),
                    Err(_) => Err(format!("no blocks within {} s", PULL_DEADLINE.as_secs())),
                };
                match outcome {
                    Ok(None) => {
                        failures = 0;
                        filled.send_modify(|n| *n += 1);
                        tracing::info!(to, "caught up: every block below the snapshot's tip is here");
                    }
                    Ok(Some(_)) => {
                        failures = 0;
                        filled.send_modify(|n| *n += 1);
                    }
                    Err(error) => {
                        failures += 1;
                        if failures == 1 || failures.is_multiple_of(20) {
                            tracing::warn!(%error, from, to, failures, "cannot pull the blocks below the snapshot's tip yet; retrying");
                        }
                        tokio::time::sleep(RETRY).await;
                    }
                }
                continue;
            }
            Ok(None) => {}
            Err(error) => {
                tracing::error!(%error, "cannot read the orderer's gap; catching up stops");
                return;
            }
        }
        gap.notified().await;
    }
}
