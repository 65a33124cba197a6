//! The orderer's block cutter, with Fabric's rules: a batch is cut when it holds
//! `MaxMessageCount` transactions, when the next transaction would take it past
//! `PreferredMaxBytes` (a transaction larger than that goes in a batch of its own), or when
//! `BatchTimeout` has passed since its first transaction; a transaction larger than
//! `AbsoluteMaxBytes` is refused. Time is an argument, so the cutter is deterministic.

use crate::network::BatchSize;

/// Why a transaction is not accepted for ordering.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("the transaction is {size} bytes; the channel accepts at most {max}")]
pub struct TooLarge {
    pub size: usize,
    pub max: usize,
}

/// Pending transactions (as encoded bytes) and when the first arrived.
#[derive(Debug)]
pub struct BlockCutter {
    batch_size: BatchSize,
    batch_timeout_ms: u64,
    pending: Vec<Vec<u8>>,
    pending_bytes: usize,
    first_at_ms: Option<i64>,
}

impl BlockCutter {
    pub fn new(batch_size: BatchSize, batch_timeout_ms: u64) -> Self {
        BlockCutter {
            batch_size,
            batch_timeout_ms,
            pending: Vec::new(),
            pending_bytes: 0,
            first_at_ms: None,
        }
    }

    /// Adds a transaction at `now_ms`; returns the batches it caused to be cut (zero, one
    /// or two), in order.
    pub fn ordered(&mut self, tx: Vec<u8>, now_ms: i64) -> Result<Vec<Vec<Vec<u8>>>, TooLarge> {
        let size = tx.len();
        let absolute = self.batch_size.absolute_max_bytes as usize;
        if size > absolute {
            return Err(TooLarge { size, max: absolute });
        }
        let preferred = self.batch_size.preferred_max_bytes as usize;
        let mut cut = Vec::new();
        if size > preferred {
            // Fabric: what is pending goes first, then the large one alone.
            if !self.pending.is_empty() {
                cut.push(self.take());
            }
            cut.push(vec![tx]);
            return Ok(cut);
        }
        if self.pending_bytes + size > preferred && !self.pending.is_empty() {
            cut.push(self.take());
        }
        if self.pending.is_empty() {
            self.first_at_ms = Some(now_ms);
        }
        self.pending.push(tx);
        self.pending_bytes += size;
        if self.pending.len() >= self.batch_size.max_message_count as usize {
            cut.push(self.take());
        }
        Ok(cut)
    }

    /// When the pending batch times out, if there is one.
    pub fn deadline_ms(&self) -> Option<i64> {
        self.first_at_ms.map(|t| t + self.batch_timeout_ms as i64)
    }

    /// The pending batch if its timeout has passed at `now_ms`.
    pub fn timed_out(&mut self, now_ms: i64) -> Option<Vec<Vec<u8>>> {
        match self.deadline_ms() {
            Some(deadline) if now_ms >= deadline && !self.pending.is_empty() => Some(self.take()),
            _ => None,
        }
    }

    /// Cuts by new limits from now on (a configuration update changed them); what is
    /// pending stays.
    pub fn set_limits(&mut self, batch_size: BatchSize, batch_timeout_ms: u64) {
        self.batch_size = batch_size;
        self.batch_timeout_ms = batch_timeout_ms;
    }

    /// Whatever is pending, cut now (before a configuration transaction, which is ordered
    /// alone).
    pub fn cut(&mut self) -> Option<Vec<Vec<u8>>> {
        (!self.pending.is_empty()).then(|| self.take())
    }

    pub fn pending(&self) -> usize {
        self.pending.len()
    }

    fn take(&mut self) -> Vec<Vec<u8>> {
        self.pending_bytes = 0;
        self.first_at_ms = None;
        std::mem::take(&mut self.pending)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cutter() -> BlockCutter {
        BlockCutter::new(
            BatchSize {
                max_message_count: 3,
                absolute_max_bytes: 100,
                preferred_max_bytes: 50,
            },
            250,
        )
    }

    fn tx(size: usize) -> Vec<u8> {
        vec![7; size]
    }

    fn sizes(batches: &[Vec<Vec<u8>>]) -> Vec<Vec<usize>> {
        batches.iter().map(|b| b.iter().map(Vec::len).collect()).collect()
    }

    #[test]
    fn batches_are_cut_by_count_size_and_time() {
        let mut c = cutter();
        assert!(c.ordered(tx(10), 0).unwrap().is_empty());
        assert!(c.ordered(tx(10), 1).unwrap().is_empty());
        assert_eq!(
            sizes(&c.ordered(tx(10), 2).unwrap()),
            [vec![10, 10, 10]],
            "MaxMessageCount"
        );

        assert!(c.ordered(tx(30), 10).unwrap().is_empty());
        assert_eq!(
            sizes(&c.ordered(tx(30), 11).unwrap()),
            [vec![30]],
            "PreferredMaxBytes: the pending batch goes"
        );
        assert_eq!(c.pending(), 1);
        assert_eq!(
            sizes(&c.ordered(tx(60), 12).unwrap()),
            [vec![30], vec![60]],
            "a large one alone"
        );
        assert_eq!(c.ordered(tx(101), 13), Err(TooLarge { size: 101, max: 100 }));

        assert!(c.ordered(tx(5), 1_000).unwrap().is_empty());
        assert_eq!(c.deadline_ms(), Some(1_250));
        assert!(c.timed_out(1_249).is_none());
        assert_eq!(c.timed_out(1_250).map(|b| b.len()), Some(1), "BatchTimeout");
        assert!(c.timed_out(5_000).is_none() && c.deadline_ms().is_none());
    }
}
