//! Counters of one consumer, shared by its run loops and partition tasks.

use std::sync::atomic::{AtomicU64, Ordering};

/// Counters of one consumer.
#[derive(Debug, Default)]
pub struct ConsumerStats {
    pub(crate) decoded: AtomicU64,
    pub(crate) handled: AtomicU64,
    pub(crate) retries: AtomicU64,
    pub(crate) skipped: AtomicU64,
    pub(crate) dead_lettered: AtomicU64,
}

impl ConsumerStats {
    /// Records decoded and handed out.
    pub fn decoded(&self) -> u64 {
        self.decoded.load(Ordering::Relaxed)
    }
    /// Records a handler run by the consumer accepted.
    pub fn handled(&self) -> u64 {
        self.handled.load(Ordering::Relaxed)
    }
    /// Handler attempts that failed and were tried again.
    pub fn retries(&self) -> u64 {
        self.retries.load(Ordering::Relaxed)
    }
    /// Records skipped: poison pills under [`Recover::Skip`](super::Recover::Skip)
    /// and handler failures under [`Recover::Skip`](super::Recover::Skip).
    pub fn skipped(&self) -> u64 {
        self.skipped.load(Ordering::Relaxed)
    }
    /// Records dead-lettered: poison pills and handler failures.
    pub fn dead_lettered(&self) -> u64 {
        self.dead_lettered.load(Ordering::Relaxed)
    }
}

pub(crate) fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}
