//! Batches: up to N decoded records, or whatever arrived within a wait
//! (aiokafka's `getmany`, Spring's batch listeners).
//!
//! A batch handler that fails names the index of the record that failed
//! ([`BatchFailure`]): the records before it are settled (committed in
//! [`CommitMode::AtLeastOnce`](super::CommitMode)), the failed one goes through
//! the consumer's [`FailurePolicy`](super::FailurePolicy) (retried by
//! handing the handler the batch again from that record, then recovered),
//! and the handler then gets the rest.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use futures::stream::BoxStream;
use futures::TryFutureExt as _;
use rdkafka::Message as _;
use tracing::Instrument as _;

use super::consumer::Consumer;
use super::core::{End, Outcome};
use super::record::Record;
use super::report::Report;
use super::shutdown::Shutdown;
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
fn failed_at(error: BoxError) -> (usize, BoxError) {
    match error.downcast::<BatchFailure>() {
        Ok(failure) => (failure.index, failure.error),
        Err(error) => (0, error),
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
        self.fill(first, max_records, max_wait, |_, _, _| {}).await
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

    /// Handles batches with `handler` until `shutdown` fires, then commits
    /// what was handled. The handler returns `Ok`, a [`BatchFailure`]
    /// naming the record that failed, or any other error (the batch failed
    /// from its first record).
    ///
    /// ```no_run
    /// # #[derive(Debug, serde::Serialize, serde::Deserialize, kafka_codec::KafkaMessage)]
    /// # #[kafka(topic = "orders")]
    /// # struct Order { id: u32 }
    /// # async fn demo(consumer: kafka_codec::kafka::Consumer<Order>) -> kafka_codec::Result<()> {
    /// use std::time::Duration;
    /// use kafka_codec::kafka::{Batch, BatchFailure, Shutdown};
    /// consumer
    ///     .run_batches(Shutdown::on_signals()?, 500, Duration::from_millis(100), |batch: Batch<Order>| async move {
    ///         for (i, record) in batch.iter().enumerate() {
    ///             if record.value().id == 0 {
    ///                 return Err(BatchFailure::at(i, "order 0 is not valid"));
    ///             }
    ///         }
    ///         Ok(())
    ///     })
    ///     .await
    ///     .into_result()?;
    /// # Ok(()) }
    /// ```
    #[must_use = "the report carries the error that stopped the run"]
    pub async fn run_batches<H, Fut, E>(
        &self,
        shutdown: Shutdown,
        max_records: usize,
        max_wait: Duration,
        mut handler: H,
    ) -> Report
    where
        H: FnMut(Batch<T>) -> Fut,
        Fut: Future<Output = std::result::Result<(), E>>,
        E: Into<BoxError>,
    {
        let mut report = Report::default();
        let mut handler = |b| handler(b).map_err(Into::into);
        let ran = self
            .batches_into(shutdown, max_records, max_wait, &mut handler, &mut report)
            .await;
        report.check(ran);
        report.check(self.finish().await);
        report
    }

    /// The loop of [`run_batches`](Self::run_batches), counting into
    /// `report`, without the final commit.
    async fn batches_into<F, Fut>(
        &self,
        shutdown: Shutdown,
        max_records: usize,
        max_wait: Duration,
        handler: &mut F,
        report: &mut Report,
    ) -> Result<()>
    where
        F: FnMut(Batch<T>) -> Fut,
        Fut: Future<Output = std::result::Result<(), BoxError>>,
    {
        let shutdown = shutdown.token().cancelled();
        tokio::pin!(shutdown);
        loop {
            if let Some(e) = self.take_stashed() {
                return Err(e);
            }
            let batch = tokio::select! {
                biased;
                () = &mut shutdown => return Ok(()),
                // Cancelled only while waiting for the first record.
                first = self.recv() => {
                    let msg = first?;
                    match self.core.take_ended(&msg).await? {
                        Ok(first) => {
                            let count = |topic: &str, partition, end| {
                                report.count(topic, partition, Outcome::new(end, 0));
                            };
                            self.fill(first, max_records, max_wait, count).await?
                        }
                        Err(end) => {
                            report.count(msg.topic(), msg.partition(), Outcome::new(end, 0));
                            continue;
                        }
                    }
                }
            };
            let topic: Arc<str> = Arc::from(batch[0].topic());
            let span = if self.core.sampler.batch() {
                telemetry::batch_span(&topic, batch.len(), self.core.group())
            } else {
                tracing::Span::none()
            };
            let started = metrics::timing().then(std::time::Instant::now);
            let mut work = std::pin::pin!(self
                .handle_batch(batch, handler, shutdown.as_mut(), report)
                .instrument(span));
            let done = work.as_mut().await;
            let error = done.as_ref().err().map(|e| e.kind().name());
            if let Some(kind) = error {
                telemetry::failed(work.span(), kind);
            }
            if let Some(started) = started {
                metrics::processed(&topic, self.core.group(), started.elapsed(), error);
            }
            if !done? {
                return Ok(());
            }
        }
    }

    /// Fills a batch after its `first` record; `ended` is told of the
    /// records skipped or dead-lettered meanwhile.
    async fn fill(
        &self,
        first: Record<T>,
        max_records: usize,
        max_wait: Duration,
        mut ended: impl FnMut(&str, i32, End),
    ) -> Result<Batch<T>> {
        let max_records = max_records.max(1);
        let mut records = Vec::with_capacity(max_records.min(1024));
        records.push(first);
        let deadline = tokio::time::Instant::now() + max_wait;
        while records.len() < max_records {
            let Ok(msg) = tokio::time::timeout_at(deadline, self.recv()).await else {
                break;
            };
            let taken = async {
                let msg = msg?;
                let taken = self.core.take_ended(&msg).await?;
                if let Err(end) = taken {
                    ended(msg.topic(), msg.partition(), end);
                }
                Ok::<_, Error>(taken.ok())
            }
            .await;
            match taken {
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
    /// recovered, counting them into `report`. Returns `false` when `stop`
    /// completed during a back-off (the rest stays unsettled).
    async fn handle_batch<F, Fut, S>(
        &self,
        batch: Batch<T>,
        handler: &mut F,
        mut stop: std::pin::Pin<&mut S>,
        report: &mut Report,
    ) -> Result<bool>
    where
        F: FnMut(Batch<T>) -> Fut,
        Fut: Future<Output = std::result::Result<(), BoxError>>,
        S: Future<Output = ()>,
    {
        let core = &self.core;
        let mut rest = batch;
        let mut attempt = 1;
        let handled = |r: &Record<T>, report: &mut Report, attempt: u32| {
            report.count(
                r.topic(),
                r.partition(),
                Outcome::new(End::Handled, attempt - 1),
            );
            core.handled(r.topic(), r.partition(), r.offset())
        };
        while !rest.is_empty() {
            let (index, error) = match handler(rest.clone()).await {
                Ok(()) => {
                    for r in rest.iter() {
                        handled(r, report, attempt)?;
                    }
                    return Ok(true);
                }
                Err(error) => failed_at(error),
            };
            let index = if index < rest.len() { index } else { 0 };
            for r in &rest[..index] {
                handled(r, report, attempt)?;
            }
            if index > 0 {
                attempt = 1;
            }
            rest = rest.from(index);
            if core.failure.retries(attempt, &error) {
                let delay = core.failure.backoff.delay(attempt);
                let r = &rest[0];
                tracing::warn!(
                    topic = r.topic(),
                    partition = r.partition(),
                    offset = r.offset(),
                    attempt,
                    ?delay,
                    error = %error,
                    "batch handler failed; retrying from the failed record"
                );
                super::stats::bump(&core.stats.retries);
                metrics::retried(r.topic(), core.group());
                tokio::select! {
                    () = stop.as_mut() => return Ok(false),
                    () = tokio::time::sleep(delay) => {}
                }
                attempt += 1;
                continue;
            }
            let failed = &rest[0];
            let end = core
                .fail(
                    failed.meta().clone(),
                    Some(failed.payload()),
                    error,
                    attempt,
                )
                .await?;
            report.count(
                failed.topic(),
                failed.partition(),
                Outcome::new(end, attempt - 1),
            );
            rest = rest.from(1);
            attempt = 1;
        }
        Ok(true)
    }
}
