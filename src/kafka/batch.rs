//! Batches: up to N decoded records, or whatever arrived within a wait
//! (aiokafka's `getmany`, Spring's batch listeners).
//!
//! A batch handler that fails names the index of the record that failed
//! ([`BatchFailure`]): the records before it are settled (committed in
//! [`CommitMode::Manual`](super::CommitMode)), the failed one goes through
//! the consumer's [`FailurePolicy`](super::FailurePolicy) (retried by
//! handing the handler the batch again from that record, then recovered),
//! and the handler then gets the rest.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use futures::stream::BoxStream;
use tracing::Instrument as _;

use super::consumer::Consumer;
use super::record::Record;
use super::{metrics, telemetry};
use crate::codec::KafkaCodec;
use crate::error::{BoxError, Error, Result};
use crate::message::KafkaMessage;

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
    fn new(records: Vec<Record<T>>) -> Self {
        Batch {
            records: records.into(),
            start: 0,
        }
    }

    /// The records from `index` on.
    fn from(&self, index: usize) -> Self {
        Batch {
            records: self.records.clone(),
            start: (self.start + index).min(self.records.len()),
        }
    }
}

/// A batch handler's failure: the record at `index` (in the batch it was
/// given) failed with `error`; the records before it were handled.
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

impl<T: KafkaMessage, C: KafkaCodec<T>> Consumer<T, C> {
    /// The next batch: waits for one record, then takes more until there are
    /// `max_records` or `max_wait` has passed since the first. Records that
    /// do not decode go through the poison policy as usual.
    pub async fn next_batch(&self, max_records: usize, max_wait: Duration) -> Result<Batch<T>> {
        if let Some(e) = self.take_stashed() {
            return Err(e);
        }
        let first = self.next().await?;
        self.fill(first, max_records, max_wait).await
    }

    /// Batches as a stream. Ack each record (or run them through
    /// [`run_batches`](Self::run_batches), which settles them for you).
    pub fn batches(
        &self,
        max_records: usize,
        max_wait: Duration,
    ) -> BoxStream<'_, Result<Batch<T>>> {
        Box::pin(futures::stream::unfold(self, move |c| async move {
            Some((c.next_batch(max_records, max_wait).await, c))
        }))
    }

    /// Handles batches with `handler` until `shutdown` completes, then
    /// commits what was handled. Returns how many records were handled.
    ///
    /// ```no_run
    /// # #[derive(Debug, serde::Serialize, serde::Deserialize, kafka_codec::KafkaMessage)]
    /// # #[kafka(topic = "orders")]
    /// # struct Order { id: u32 }
    /// # async fn demo(consumer: kafka_codec::kafka::Consumer<Order>) -> kafka_codec::Result<()> {
    /// use std::time::Duration;
    /// use kafka_codec::kafka::BatchFailure;
    /// consumer
    ///     .run_batches(std::future::pending(), 500, Duration::from_millis(100), |batch| async move {
    ///         for (i, record) in batch.iter().enumerate() {
    ///             if record.value().id == 0 {
    ///                 return Err(BatchFailure::at(i, "order 0 is not valid"));
    ///             }
    ///         }
    ///         Ok(())
    ///     })
    ///     .await?;
    /// # Ok(()) }
    /// ```
    pub async fn run_batches<F, Fut>(
        &self,
        shutdown: impl Future<Output = ()>,
        max_records: usize,
        max_wait: Duration,
        mut handler: F,
    ) -> Result<u64>
    where
        F: FnMut(Batch<T>) -> Fut,
        Fut: Future<Output = std::result::Result<(), BatchFailure>>,
    {
        tokio::pin!(shutdown);
        let mut handled = 0u64;
        let outcome = loop {
            if let Some(e) = self.take_stashed() {
                break Err(e);
            }
            let batch = tokio::select! {
                biased;
                () = &mut shutdown => break Ok(()),
                // Cancelled only while waiting for the first record.
                first = self.recv() => match first {
                    Ok(msg) => match self.core.take(&msg).await {
                        Ok(Some(first)) => self.fill(first, max_records, max_wait).await,
                        Ok(None) => continue,
                        Err(e) => Err(e),
                    },
                    Err(e) => Err(e),
                },
            };
            let batch = match batch {
                Ok(batch) => batch,
                Err(e) => break Err(e),
            };
            let topic: Arc<str> = Arc::from(batch[0].topic());
            let span = if self.core.sampler.batch() {
                telemetry::batch_span(&topic, batch.len(), self.core.group())
            } else {
                tracing::Span::none()
            };
            let started = metrics::timing().then(std::time::Instant::now);
            let mut work = std::pin::pin!(self
                .handle_batch(batch, &mut handler, shutdown.as_mut())
                .instrument(span));
            let done = work.as_mut().await;
            let error = done.as_ref().err().map(|e| e.kind().name());
            if let Some(kind) = error {
                telemetry::failed(work.span(), kind);
            }
            if let Some(started) = started {
                metrics::processed(&topic, self.core.group(), started.elapsed(), error);
            }
            match done {
                Ok((n, finished)) => {
                    handled += n;
                    if !finished {
                        break Ok(());
                    }
                }
                Err(e) => break Err(e),
            }
        };
        outcome.and(self.finish().await).map(|()| handled)
    }

    async fn fill(
        &self,
        first: Record<T>,
        max_records: usize,
        max_wait: Duration,
    ) -> Result<Batch<T>> {
        let max_records = max_records.max(1);
        let mut records = Vec::with_capacity(max_records.min(1024));
        records.push(first);
        let deadline = tokio::time::Instant::now() + max_wait;
        while records.len() < max_records {
            let Ok(msg) = tokio::time::timeout_at(deadline, self.recv()).await else {
                break;
            };
            match async { self.core.take(&msg?).await }.await {
                Ok(Some(record)) => records.push(record),
                Ok(None) => {}
                Err(e) => {
                    // The records taken so far go out first; the error next.
                    *self
                        .stashed
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(e);
                    break;
                }
            }
        }
        Ok(Batch::new(records))
    }

    fn take_stashed(&self) -> Option<Error> {
        self.stashed
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take()
    }

    /// Runs the handler on a batch until every record is handled or
    /// recovered. Returns the records handled and `false` when `stop`
    /// completed during a back-off (the rest stays unsettled).
    async fn handle_batch<F, Fut, S>(
        &self,
        batch: Batch<T>,
        handler: &mut F,
        mut stop: std::pin::Pin<&mut S>,
    ) -> Result<(u64, bool)>
    where
        F: FnMut(Batch<T>) -> Fut,
        Fut: Future<Output = std::result::Result<(), BatchFailure>>,
        S: Future<Output = ()>,
    {
        let core = &self.core;
        let mut rest = batch;
        let mut handled = 0u64;
        let mut attempt = 1;
        while !rest.is_empty() {
            let failure = match handler(rest.clone()).await {
                Ok(()) => {
                    for r in rest.iter() {
                        core.handled(r.topic(), r.partition(), r.offset())?;
                    }
                    return Ok((handled + rest.len() as u64, true));
                }
                Err(failure) => failure,
            };
            let index = if failure.index < rest.len() {
                failure.index
            } else {
                0
            };
            for r in &rest[..index] {
                core.handled(r.topic(), r.partition(), r.offset())?;
            }
            handled += index as u64;
            if index > 0 {
                attempt = 1;
            }
            rest = rest.from(index);
            if core.failure.retries(attempt, &failure.error) {
                let delay = core.failure.backoff.delay(attempt);
                let r = &rest[0];
                tracing::warn!(
                    topic = r.topic(),
                    partition = r.partition(),
                    offset = r.offset(),
                    attempt,
                    ?delay,
                    error = %failure.error,
                    "batch handler failed; retrying from the failed record"
                );
                super::stats::bump(&core.stats.retries);
                metrics::retried(r.topic(), core.group());
                tokio::select! {
                    () = stop.as_mut() => return Ok((handled, false)),
                    () = tokio::time::sleep(delay) => {}
                }
                attempt += 1;
                continue;
            }
            let failed = &rest[0];
            core.fail(
                failed.meta().clone(),
                Some(failed.payload()),
                failure.error,
                attempt,
            )
            .await?;
            rest = rest.from(1);
            attempt = 1;
        }
        Ok((handled, true))
    }
}
