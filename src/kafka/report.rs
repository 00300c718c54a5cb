//! The one report every run returns, and the topic-partition it is keyed by.

use std::collections::BTreeMap;
use std::fmt;

use crate::error::{Error, Result};

/// A topic and one of its partitions.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TopicPartition {
    /// The topic.
    pub topic: String,
    /// The partition.
    pub partition: i32,
}

impl TopicPartition {
    /// `topic`'s partition `partition`.
    pub fn new(topic: impl Into<String>, partition: i32) -> Self {
        TopicPartition {
            topic: topic.into(),
            partition,
        }
    }
}

impl fmt::Display for TopicPartition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.topic, self.partition)
    }
}

/// What happened to the records of one partition in a run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// Records the handler accepted.
    pub handled: u64,
    /// Records skipped (poison pills or exhausted retries under
    /// [`Recover::Skip`](super::Recover::Skip)).
    pub skipped: u64,
    /// Records written to the dead-letter topic.
    pub dead_lettered: u64,
    /// Retries: handler calls after the first for a record.
    pub retried: u64,
}

impl Counts {
    /// Records settled: handled, skipped or dead-lettered (their offsets
    /// may be committed).
    pub fn records(&self) -> u64 {
        self.handled + self.skipped + self.dead_lettered
    }

    fn add(&mut self, other: Counts) {
        self.handled += other.handled;
        self.skipped += other.skipped;
        self.dead_lettered += other.dead_lettered;
        self.retried += other.retried;
    }
}

/// What the transactions of an [`ExactlyOnce`](super::ExactlyOnce) run did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Transactions {
    /// Transactions committed.
    pub committed: u64,
    /// Records written by committed transactions (outputs and dead
    /// letters).
    pub outputs: u64,
    /// Transactions aborted (each batch was sent again, left to the
    /// partitions' next owner, or given up when the run stopped).
    pub aborted: u64,
    /// Input records read and then left to the partition's next owner
    /// because the partition was revoked before they were committed.
    pub dropped: u64,
}

impl Transactions {
    fn add(&mut self, other: Transactions) {
        self.committed += other.committed;
        self.outputs += other.outputs;
        self.aborted += other.aborted;
        self.dropped += other.dropped;
    }
}

/// How a record left the record-processing core.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum End {
    /// The handler accepted it.
    Handled,
    /// It was skipped.
    Skipped,
    /// It was dead-lettered.
    DeadLettered,
    /// The run was stopped while the record waited for a retry; it is not
    /// settled and will be delivered again.
    Abandoned,
}

/// A record's way through the core: how it ended and after how many retries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Outcome {
    pub(crate) end: End,
    pub(crate) retries: u32,
}

impl Outcome {
    pub(crate) const fn new(end: End, retries: u32) -> Self {
        Outcome { end, retries }
    }
}

/// What a run did: per topic-partition counts, and the errors that stopped
/// it. Every run returns one: [`Consumer::run`](super::Consumer::run),
/// [`Group::run`](super::Group::run), [`Partitioned::run`](super::Partitioned::run),
/// [`Consumer::run_batches`](super::Consumer::run_batches),
/// [`ExactlyOnce::run`](super::ExactlyOnce::run) (which counts a record
/// once its transaction committed, and reports its transactions).
///
/// A single consumer and a [`Partitioned`](super::Partitioned) member stop
/// at their first error. In a [`Group`](super::Group), a member that fails
/// leaves the group and the others go on with its partitions, so a group
/// can report one error per member. Each error carries the record it
/// stopped at (topic, partition, offset, and the raw bytes).
///
/// ```
/// use kafka_codec::kafka::{Report, TopicPartition};
/// let report = Report::default();
/// assert_eq!(report.totals().handled, 0);
/// let report = report.into_result()?; // Err with the first error, if any
/// assert!(report.partitions.get(&TopicPartition::new("orders", 0)).is_none());
/// # Ok::<_, kafka_codec::Error>(())
/// ```
#[derive(Debug, Default)]
pub struct Report {
    /// Counts by topic-partition.
    pub partitions: BTreeMap<TopicPartition, Counts>,
    /// The errors that stopped the run (or, in a group, its members), in
    /// the order they happened.
    pub errors: Vec<Error>,
    /// An [`ExactlyOnce`](super::ExactlyOnce) run's transactions; `None`
    /// for the other runs.
    pub transactions: Option<Transactions>,
}

impl Report {
    /// The counts of every partition, summed.
    pub fn totals(&self) -> Counts {
        let mut totals = Counts::default();
        for counts in self.partitions.values() {
            totals.add(*counts);
        }
        totals
    }

    /// Records the handler accepted, in every partition.
    pub fn handled(&self) -> u64 {
        self.totals().handled
    }

    /// The first error that stopped the run, if one did.
    pub fn error(&self) -> Option<&Error> {
        self.errors.first()
    }

    /// `Err` with the first error that stopped the run, else the report.
    pub fn into_result(mut self) -> Result<Self> {
        if self.errors.is_empty() {
            Ok(self)
        } else {
            Err(self.errors.swap_remove(0))
        }
    }

    /// Counts one record of `topic`'s `partition`.
    pub(crate) fn count(&mut self, topic: &str, partition: i32, outcome: Outcome) {
        let counts = match self
            .partitions
            .iter_mut()
            .find(|(tp, _)| tp.partition == partition && tp.topic == topic)
        {
            Some((_, counts)) => counts,
            None => self
                .partitions
                .entry(TopicPartition::new(topic, partition))
                .or_default(),
        };
        counts.retried += u64::from(outcome.retries);
        match outcome.end {
            End::Handled => counts.handled += 1,
            End::Skipped => counts.skipped += 1,
            End::DeadLettered => counts.dead_lettered += 1,
            End::Abandoned => {}
        }
    }

    /// Adds `other`'s counts and errors to this report.
    pub(crate) fn merge(&mut self, other: Report) {
        for (tp, counts) in other.partitions {
            self.partitions.entry(tp).or_default().add(counts);
        }
        self.errors.extend(other.errors);
        if let Some(theirs) = other.transactions {
            self.transactions
                .get_or_insert_with(Default::default)
                .add(theirs);
        }
    }

    /// Records an error that stopped the run.
    pub(crate) fn failed(&mut self, error: Error) {
        self.errors.push(error);
    }

    /// Keeps the error of a step of the run (its loop, its final commit),
    /// if it failed; whether it went well.
    pub(crate) fn check(&mut self, step: Result<()>) -> bool {
        match step {
            Ok(()) => true,
            Err(e) => {
                self.failed(e);
                false
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;

    #[test]
    fn counts_by_partition_merge_and_the_first_error_wins() {
        let mut a = Report::default();
        a.count("t", 0, Outcome::new(End::Handled, 0));
        a.count("t", 0, Outcome::new(End::DeadLettered, 2));
        a.count("t", 1, Outcome::new(End::Skipped, 0));
        a.count("t", 1, Outcome::new(End::Abandoned, 1));
        let mut b = Report::default();
        b.count("t", 1, Outcome::new(End::Handled, 0));
        b.failed(Error::new(ErrorKind::Config("first".into())));
        a.merge(b);
        a.failed(Error::new(ErrorKind::Config("second".into())));
        let t0 = a.partitions[&TopicPartition::new("t", 0)];
        assert_eq!((t0.handled, t0.dead_lettered, t0.retried), (1, 1, 2));
        let t1 = a.partitions[&TopicPartition::new("t", 1)];
        assert_eq!((t1.handled, t1.skipped, t1.retried), (1, 1, 1));
        assert_eq!(a.handled(), 2);
        let error = a.into_result().unwrap_err();
        assert!(error.to_string().contains("first"), "{error}");
    }
}
