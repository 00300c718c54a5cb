//! Batches: up to N decoded records, or whatever arrived within a wait
//! (aiokafka's `getmany`, Spring's batch listeners).
//!
//! A batch handler that fails names the index of the record that failed
//! ([`BatchFailure`]): the records before it are settled (committed in
//! [`CommitMode::AtLeastOnce`](super::CommitMode)), the failed one goes through
//! the consumer's [`FailurePolicy`](super::FailurePolicy) (retried by
//! handing the handler the batch again from that record, then recovered),
//! and the handler then gets the rest.

use std::sync::Arc;

use super::record::Record;
use crate::error::BoxError;

/// Records handed to a batch handler: a cheap-to-clone view (shared, not
/// copied) that derefs to a slice of [`Record`]s.
pub struct Batch<T> {
    records: Arc<[Record<T>]>,
    start: usize,
}

impl<T> Clone for Batch<T> {
    fn clone(&self) -> Self {
        Batch {
            records: self.records.clone(),
            start: self.start,
        }
    }
}

impl<T: std::fmt::Debug> std::fmt::Debug for Batch<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl<T> std::ops::Deref for Batch<T> {
    type Target = [Record<T>];
    fn deref(&self) -> &[Record<T>] {
        &self.records[self.start..]
    }
}

impl<T> Batch<T> {
    pub(crate) fn new(records: Vec<Record<T>>) -> Self {
        Batch {
            records: records.into(),
            start: 0,
        }
    }

    /// The records from `index` on.
    pub(crate) fn from(&self, index: usize) -> Self {
        Batch {
            records: self.records.clone(),
            start: (self.start + index).min(self.records.len()),
        }
    }
}

/// A batch handler's failure: the record at `index` (in the batch it was
/// given) failed with `error`; the records before it were handled. Any
/// other error a batch handler returns fails the batch from its first
/// record.
#[derive(Debug)]
pub struct BatchFailure {
    /// Index of the failed record in the batch the handler got. An index
    /// past the end is taken as 0: nothing counts as handled.
    pub index: usize,
    /// Why.
    pub error: BoxError,
}

impl BatchFailure {
    /// The record at `index` failed with `error`.
    pub fn at(index: usize, error: impl Into<BoxError>) -> Self {
        BatchFailure {
            index,
            error: error.into(),
        }
    }
}

impl std::fmt::Display for BatchFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "record {} of the batch failed: {}",
            self.index, self.error
        )
    }
}

impl std::error::Error for BatchFailure {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&*self.error)
    }
}

/// The index and error of a batch handler's failure.
pub(crate) fn failed_at(error: BoxError) -> (usize, BoxError) {
    match error.downcast::<BatchFailure>() {
        Ok(failure) => (failure.index, failure.error),
        Err(error) => (0, error),
    }
}
