//! Helpers for tests that run consumers until every record was seen: what
//! handlers saw, a driver that injects a fault part-way, and the check that
//! nothing was committed before it was handled.
#![allow(dead_code, unreachable_pub)]

use std::collections::{BTreeMap, HashSet};
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use kafka_codec::kafka::Record;
use kafka_codec::kafka::Shutdown;

use super::kafka::Numbered;

/// What handlers saw: (partition, offset, seq), in the order handled.
pub type Seen = Arc<Mutex<Vec<(i32, i64, u32)>>>;

pub fn seen_by(
    seen: &Seen,
) -> impl Fn(Record<Numbered>) -> std::future::Ready<Result<(), kafka_codec::BoxError>> + Clone {
    let seen = seen.clone();
    move |record| {
        seen.lock()
            .unwrap()
            .push((record.partition(), record.offset(), record.value().seq));
        std::future::ready(Ok(()))
    }
}

pub fn distinct(seen: &Seen) -> usize {
    seen.lock()
        .unwrap()
        .iter()
        .map(|(_, _, s)| *s)
        .collect::<HashSet<_>>()
        .len()
}

/// Waits until `seen` holds `n` distinct records, running `fault` once `at`
/// were handled, then cancels `done`.
pub async fn drive<F: Future<Output = ()>>(
    seen: &Seen,
    n: usize,
    fault: Option<(usize, F)>,
    done: &Shutdown,
) {
    let mut fault = fault;
    while distinct(seen) < n {
        if fault.as_ref().is_some_and(|(at, _)| distinct(seen) >= *at) {
            if let Some((_, f)) = fault.take() {
                println!("fault after {} records", distinct(seen));
                f.await;
            }
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    done.trigger();
}

/// How often a record may be handled: once, plus once more for the
/// rebalance or restart a test causes. The mock cluster refuses commits while
/// its group rebalances, and one join can take it through two rebalances, so
/// there a record may come round once more.
pub fn max_times(on_mock_cluster: bool) -> u32 {
    if on_mock_cluster {
        3
    } else {
        2
    }
}

/// How often a record may be handled when the members' consumers saw
/// `revocations` revocations between them: once, plus once for each time
/// its partition was taken from a member (a commit the broker refused, or
/// records in hand, are delivered again to the next owner). Nothing else
/// delivers a record again.
pub fn max_times_after(revocations: u64) -> u32 {
    1 + u32::try_from(revocations).unwrap()
}

/// No fault.
pub const NO_FAULT: Option<(usize, std::future::Ready<()>)> = None;

/// Nothing committed that was not handled (every offset below a partition's
/// committed offset was handled), and no record handled more than
/// `max_times`.
/// Returns the duplicates.
pub fn check_commits(
    seen: &Seen,
    committed: &BTreeMap<i32, i64>,
    n: usize,
    max_times: u32,
) -> usize {
    let seen = seen.lock().unwrap();
    let mut handled: BTreeMap<i32, HashSet<i64>> = BTreeMap::new();
    for (p, o, _) in seen.iter() {
        handled.entry(*p).or_default().insert(*o);
    }
    let total: i64 = committed.values().sum();
    for (p, c) in committed {
        let h = handled.get(p).cloned().unwrap_or_default();
        assert!(
            (0..*c).all(|o| h.contains(&o)),
            "partition {p}: committed {c} but not every offset below it was handled"
        );
    }
    // A final commit the broker refuses during a rebalance (the mock cluster
    // does, when a member rejoins after an outage) leaves the tail
    // uncommitted: delivered again to the next owner, never lost.
    let n_i64 = i64::try_from(n).unwrap();
    assert!(total <= n_i64, "committed {total} of {n}");
    if total < n_i64 {
        println!(
            "{} handled records left uncommitted at the end",
            n_i64 - total
        );
    }
    let mut times: BTreeMap<u32, u32> = BTreeMap::new();
    for (_, _, seq) in seen.iter() {
        *times.entry(*seq).or_default() += 1;
    }
    let most = times.values().max().copied().unwrap_or(0);
    assert!(
        most <= max_times,
        "a record handled {most} times: more than {max_times}"
    );
    seen.len() - n
}
