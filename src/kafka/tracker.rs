//! Tracked commits: which offsets of each partition are handed out but not
//! yet settled, so that a commit never passes an unsettled record.
//!
//! Records of one partition arrive in offset order but may be settled in any
//! order (a batch, a stream processed with `buffer_unordered`, a retry). The
//! offset stored for the next commit is always just below the lowest
//! unsettled one. The tracker also bounds how many records of a partition
//! may be unsettled at once: past the bound the partition is paused (no
//! fetching, no buffering) until half of them are settled.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};

use rdkafka::TopicPartitionList;

/// What the caller must do after a tracker call.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Step {
    /// Store this offset (the last settled one in an unbroken run).
    pub(crate) store: Option<i64>,
    /// Pause the partition.
    pub(crate) pause: bool,
    /// Resume the partition.
    pub(crate) resume: bool,
}

#[derive(Debug, Default)]
struct Partition {
    /// Handed-out offsets in order, with whether each is settled.
    pending: VecDeque<(i64, bool)>,
    paused: bool,
}

/// The tracker of one consumer.
#[derive(Debug)]
pub(crate) struct Tracker {
    parts: Mutex<HashMap<Arc<str>, HashMap<i32, Partition>>>,
    /// Unsettled records per partition before it is paused.
    max_unsettled: usize,
}

impl Tracker {
    pub(crate) fn new(max_unsettled: usize) -> Self {
        Tracker {
            parts: Mutex::new(HashMap::new()),
            max_unsettled: max_unsettled.max(1),
        }
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<Arc<str>, HashMap<i32, Partition>>> {
        // A panic while holding this lock leaves consistent data behind
        // (each method changes one partition in one step).
        self.parts
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// A record was handed out. `apply` runs under the tracker's lock, so
    /// pauses and resumes reach librdkafka in the order they were decided.
    pub(crate) fn deliver(
        &self,
        topic: &str,
        partition: i32,
        offset: i64,
        apply: impl FnOnce(&Step),
    ) -> Step {
        let mut parts = self.lock();
        let part = match parts.get_mut(topic) {
            Some(t) => t.entry(partition).or_default(),
            None => parts
                .entry(topic.into())
                .or_default()
                .entry(partition)
                .or_default(),
        };
        // Offsets only go back after a seek or a rebalance, which reset the
        // partition; if one does anyway, start over rather than mis-order.
        if part.pending.back().is_some_and(|&(last, _)| last >= offset) {
            part.pending.clear();
        }
        part.pending.push_back((offset, false));
        let pause = !part.paused && part.pending.len() >= self.max_unsettled;
        part.paused |= pause;
        let step = Step {
            pause,
            ..Step::default()
        };
        apply(&step);
        step
    }

    /// A record was settled (handled, skipped or dead-lettered). `apply`
    /// runs under the tracker's lock.
    pub(crate) fn settle(
        &self,
        topic: &str,
        partition: i32,
        offset: i64,
        apply: impl FnOnce(&Step),
    ) -> Step {
        let mut parts = self.lock();
        let Some(part) = parts.get_mut(topic).and_then(|t| t.get_mut(&partition)) else {
            return Step::default();
        };
        let Ok(i) = part.pending.binary_search_by_key(&offset, |&(o, _)| o) else {
            // Not handed out since the last rebalance or seek: nothing to store.
            return Step::default();
        };
        part.pending[i].1 = true;
        let mut store = None;
        while let Some(&(o, true)) = part.pending.front() {
            store = Some(o);
            part.pending.pop_front();
        }
        let resume = part.paused && part.pending.len() <= self.max_unsettled / 2;
        part.paused &= !resume;
        let step = Step {
            store,
            resume,
            pause: false,
        };
        apply(&step);
        step
    }

    /// The partitions left this consumer: forget what was handed out.
    /// Returns those it had paused (librdkafka keeps a partition paused
    /// across a rebalance until it is resumed).
    pub(crate) fn revoke(&self, tpl: &TopicPartitionList) -> Vec<(String, i32)> {
        let mut parts = self.lock();
        let mut paused = Vec::new();
        for e in tpl.elements() {
            let removed = parts
                .get_mut(e.topic())
                .and_then(|t| t.remove(&e.partition()));
            if removed.is_some_and(|p| p.paused) {
                paused.push((e.topic().to_owned(), e.partition()));
            }
        }
        paused
    }

    /// Every partition left (a rebalance error unassigned them all).
    pub(crate) fn clear(&self) -> Vec<(String, i32)> {
        let mut parts = self.lock();
        let paused = parts
            .iter()
            .flat_map(|(t, ps)| {
                ps.iter()
                    .filter(|(_, p)| p.paused)
                    .map(move |(p, _)| (t.to_string(), *p))
            })
            .collect();
        parts.clear();
        paused
    }

    /// The partition was rewound or moved forward: forget what was handed
    /// out. Returns whether it was paused by the tracker.
    pub(crate) fn reset(&self, topic: &str, partition: i32) -> bool {
        let mut parts = self.lock();
        parts
            .get_mut(topic)
            .and_then(|t| t.remove(&partition))
            .is_some_and(|p| p.paused)
    }

    /// Unsettled records, over all partitions.
    pub(crate) fn unsettled(&self) -> usize {
        self.lock()
            .values()
            .flat_map(HashMap::values)
            .map(|p| p.pending.iter().filter(|(_, done)| !done).count())
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stores_just_below_the_lowest_unsettled_offset() {
        let t = Tracker::new(100);
        for o in 10..15 {
            t.deliver("t", 0, o, |_| {});
        }
        assert_eq!(t.settle("t", 0, 12, |_| {}).store, None);
        assert_eq!(t.settle("t", 0, 11, |_| {}).store, None);
        assert_eq!(t.settle("t", 0, 10, |_| {}).store, Some(12));
        assert_eq!(t.settle("t", 0, 14, |_| {}).store, None);
        assert_eq!(t.unsettled(), 1);
        assert_eq!(t.settle("t", 0, 13, |_| {}).store, Some(14));
        // Unknown offsets and partitions store nothing.
        assert_eq!(t.settle("t", 0, 13, |_| {}), Step::default());
        assert_eq!(t.settle("t", 1, 0, |_| {}), Step::default());
    }

    #[test]
    fn pauses_at_the_bound_and_resumes_at_half() {
        let t = Tracker::new(4);
        let pauses: Vec<bool> = (0..6).map(|o| t.deliver("t", 0, o, |_| {}).pause).collect();
        assert_eq!(pauses, [false, false, false, true, false, false]);
        assert!(!t.settle("t", 0, 0, |_| {}).resume);
        assert!(!t.settle("t", 0, 1, |_| {}).resume);
        assert!(!t.settle("t", 0, 2, |_| {}).resume);
        let step = t.settle("t", 0, 3, |_| {});
        assert!(step.resume);
        assert_eq!(step.store, Some(3));
        for o in 6..10 {
            t.deliver("t", 0, o, |_| {});
        }
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition("t", 0);
        assert_eq!(t.revoke(&tpl), [("t".to_owned(), 0)], "paused when revoked");
    }

    #[test]
    fn a_revoked_or_reset_partition_stores_nothing_more() {
        let t = Tracker::new(100);
        t.deliver("t", 0, 5, |_| {});
        t.deliver("t", 1, 7, |_| {});
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition("t", 0);
        assert!(t.revoke(&tpl).is_empty());
        assert_eq!(t.settle("t", 0, 5, |_| {}).store, None);
        assert!(!t.reset("t", 1));
        assert_eq!(t.settle("t", 1, 7, |_| {}).store, None);
        assert_eq!(t.unsettled(), 0);
    }
}
