use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use futures::stream::BoxStream;
use futures::TryFutureExt as _;
use rdkafka::consumer::Consumer as _;
use rdkafka::message::{BorrowedMessage, Message as _};
use rdkafka::util::Timeout;
use rdkafka::Offset;
use tracing::Instrument as _;

use super::batch::{failed_at, Batch};
use super::core::{Core, End, Outcome};
use super::health::Health;
use super::offsets;
use super::policy::CommitMode;
use super::rebalance::CodecContext;
use super::record::Record;
use super::report::Report;
use super::rt::blocking;
use super::shutdown::Shutdown;
use super::stats::ConsumerStats;
use super::{metrics, telemetry};
use crate::codec::KafkaCodec;
use crate::error::{BoxError, Error, Result};
use crate::message::KafkaMessage;

/// A typed consumer: a stream of decoded records.
///
/// ```no_run
/// # async fn demo() -> kafka_codec::Result<()> {
/// use futures::StreamExt;
/// use kafka_codec::kafka::ConsumerBuilder;
/// # #[derive(Debug, serde::Serialize, serde::Deserialize, kafka_codec::KafkaMessage)]
/// # #[kafka(topic = "orders")]
/// # struct Order { id: u32 }
/// let consumer = ConsumerBuilder::new("localhost:9092", "billing").build::<Order>()?;
/// let mut records = consumer.stream();
/// while let Some(record) = records.next().await {
///     let record = record?;
///     println!("{}@{}: {:?}", record.partition(), record.offset(), record.value());
///     consumer.ack(&record)?; // at least once: committed once handled
/// }
/// # Ok(()) }
/// ```
pub struct Consumer<T: KafkaMessage, C: KafkaCodec<T> = <T as KafkaMessage>::Codec> {
    pub(crate) core: Arc<Core<T, C>>,
    pub(crate) commit_patience: Duration,
    /// An error met while filling a batch, returned after that batch.
    pub(crate) stashed: std::sync::Mutex<Option<Error>>,
}

impl<T: KafkaMessage, C: KafkaCodec<T>> std::fmt::Debug for Consumer<T, C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Consumer")
            .field("type", &T::NAME)
            .field("poison", &self.core.poison)
            .field("failure", &self.core.failure)
            .field("commit", &self.core.commit)
            .field("stats", &self.core.stats)
            .finish_non_exhaustive()
    }
}

impl<T: KafkaMessage, C: KafkaCodec<T>> Consumer<T, C> {
    /// The underlying rdkafka consumer.
    pub fn inner(&self) -> &rdkafka::consumer::StreamConsumer<CodecContext> {
        &self.core.client
    }

    /// Counters.
    pub fn stats(&self) -> &ConsumerStats {
        &self.core.stats
    }

    /// How often the group took partitions from this consumer (rebalances
    /// that revoked at least one, and rebalance errors). Each may deliver
    /// again, to the partition's next owner, the records handled since the
    /// last commit the broker accepted.
    pub fn revocations(&self) -> u64 {
        self.core.client.context().revocations.taken()
    }

    /// In [`CommitMode::AtLeastOnce`], records handed out and not yet settled.
    pub fn unsettled(&self) -> usize {
        self.core.tracker.unsettled()
    }

    /// The next message from librdkafka. Transient client errors that
    /// librdkafka reports while it reconnects (all brokers down, a transport
    /// failure, a timeout) are logged and waited out rather than returned.
    /// Cancel-safe.
    pub(crate) async fn recv(&self) -> Result<BorrowedMessage<'_>> {
        let _polling = self.core.health.as_ref().map(Health::polling);
        self.recv_unwatched().await
    }

    /// [`recv`](Self::recv) without telling the health handle: for a main
    /// queue that serves rebalances while partition queues carry the
    /// records.
    pub(crate) async fn recv_unwatched(&self) -> Result<BorrowedMessage<'_>> {
        loop {
            match self.core.client.recv().await {
                Ok(msg) => return Ok(msg),
                Err(e) => offsets::wait_out(e).await?,
            }
        }
    }

    /// The next decoded record, applying the poison-pill policy to records
    /// that do not decode.
    ///
    /// Transient client errors (a broker outage, a coordinator moving) are
    /// waited out rather than returned, so an outage does not stop a
    /// [`run`](Self::run) loop or a [`Group`](super::Group) member.
    pub async fn next(&self) -> Result<Record<T>> {
        loop {
            let msg = self.recv().await?;
            if let Some(record) = self.core.take(&msg).await? {
                return Ok(record);
            }
        }
    }

    /// The records as a stream: the Rust form of Python's `async for`.
    ///
    /// The stream is boxed once, so it is `Unpin` and `Send`: call
    /// `.next().await` on it directly or spawn it.
    pub fn stream(&self) -> BoxStream<'_, Result<Record<T>>> {
        Box::pin(futures::stream::unfold(self, |c| async move {
            Some((c.next().await, c))
        }))
    }

    /// Marks a record handled. In [`CommitMode::AtLeastOnce`] the offset stored
    /// for the next commit moves up to just below the lowest record handed
    /// out and not yet acked, so records may be acked in any order; in
    /// [`CommitMode::AtMostOnce`] this does nothing.
    pub fn ack(&self, record: &Record<T>) -> Result<()> {
        self.core
            .settle(record.topic(), record.partition(), record.offset())
    }

    /// Marks the record an error was raised for handled (a poison pill
    /// returned under [`Recover::Fail`](super::Recover::Fail) that the caller dealt with), so
    /// commits can move past it. Errors without a record do nothing.
    pub fn ack_error(&self, error: &Error) -> Result<()> {
        match error.record() {
            Some(r) => self.core.settle(&r.topic, r.partition, r.offset),
            None => Ok(()),
        }
    }

    /// Commits the stored offsets now and waits for the broker (a blocking
    /// call: from async code, prefer letting a run loop commit).
    pub fn commit(&self) -> Result<()> {
        offsets::commit(&self.core.client)
    }

    /// Moves a partition (assigned to this consumer) to `offset`; the next
    /// records of that partition start there. Records of it handed out and
    /// not yet acked are forgotten: acking them stores nothing.
    pub async fn seek(&self, topic: &str, partition: i32, offset: i64) -> Result<()> {
        self.seek_to(topic, partition, Offset::Offset(offset)).await
    }

    /// Moves every assigned partition to the first record at or after
    /// `timestamp_ms` (milliseconds since the Unix epoch), or to its end when
    /// there is none: replay from a point in time.
    pub async fn seek_to_time(&self, timestamp_ms: i64) -> Result<()> {
        let client = self.core.client.clone();
        let tpl = blocking(move || {
            client.offsets_for_timestamp(timestamp_ms, Timeout::After(Duration::from_secs(10)))
        })
        .await?;
        for e in tpl.elements() {
            self.seek_to(e.topic(), e.partition(), e.offset()).await?;
        }
        Ok(())
    }

    pub(crate) async fn seek_to(&self, topic: &str, partition: i32, offset: Offset) -> Result<()> {
        // Forget first: a record from the new position may arrive as soon
        // as the seek is done.
        let was_paused = self.core.tracker.reset(topic, partition);
        let client = self.core.client.clone();
        let t = topic.to_owned();
        blocking(move || client.seek(&t, partition, offset, Duration::from_secs(10))).await?;
        if was_paused {
            let mut tpl = rdkafka::TopicPartitionList::new();
            tpl.add_partition(topic, partition);
            self.core.client.resume(&tpl)?;
        }
        Ok(())
    }

    /// Handles records with `handler` until `shutdown` fires, then commits
    /// what was handled. A record counts as handled when the handler
    /// returned `Ok`; a failing handler goes through the consumer's
    /// [`FailurePolicy`](super::FailurePolicy) (by default, with no dead-letter topic: the run
    /// stops with the error, the record's offset not stored). The report
    /// says what became of the records of each partition.
    ///
    /// ```no_run
    /// # async fn demo() -> kafka_codec::Result<()> {
    /// use kafka_codec::kafka::{ConsumerBuilder, Consumer, Record, Shutdown};
    /// # #[derive(Debug, serde::Serialize, serde::Deserialize, kafka_codec::KafkaMessage)]
    /// # #[kafka(topic = "orders")]
    /// # struct Order { id: u32 }
    /// async fn bill(record: Record<Order>) -> Result<(), std::io::Error> {
    ///     println!("{:?}", record.value());
    ///     Ok(())
    /// }
    /// let consumer: Consumer<Order> = ConsumerBuilder::new("localhost:9092", "billing").build()?;
    /// let report = consumer.run(Shutdown::on_signals()?, bill).await.into_result()?;
    /// println!("{} handled", report.handled());
    /// # Ok(()) }
    /// ```
    ///
    /// The handler runs on the caller's task, one record at a time, so it
    /// may borrow and mutate what is around it (`FnMut`, not `'static`);
    /// a handler for [`Group`](super::Group) or
    /// [`Partitioned`](super::Partitioned) runs here unchanged.
    #[must_use = "the report carries the error that stopped the run"]
    pub async fn run<H, Fut, E>(&self, shutdown: Shutdown, mut handler: H) -> Report
    where
        H: FnMut(Record<T>) -> Fut,
        Fut: Future<Output = std::result::Result<(), E>>,
        E: Into<BoxError>,
    {
        let mut report = Report::default();
        let mut handler = |r| handler(r).map_err(Into::into);
        let ran = self
            .run_into(shutdown.token().cancelled(), &mut handler, &mut report)
            .await;
        report.check(ran);
        report.check(self.finish().await);
        report
    }

    /// The loop of [`run`](Self::run), counting into `report`, without the
    /// final commit.
    pub(crate) async fn run_into<F, Fut>(
        &self,
        shutdown: impl Future<Output = ()>,
        handler: &mut F,
        report: &mut Report,
    ) -> Result<()>
    where
        F: FnMut(Record<T>) -> Fut,
        Fut: Future<Output = std::result::Result<(), BoxError>>,
    {
        tokio::pin!(shutdown);
        loop {
            let msg = tokio::select! {
                biased;
                () = &mut shutdown => return Ok(()),
                msg = self.recv() => msg?,
            };
            let outcome = self.core.process(&msg, handler, shutdown.as_mut()).await?;
            report.count(msg.topic(), msg.partition(), outcome);
            if outcome.end == End::Abandoned {
                return Ok(());
            }
        }
    }

    /// The commit at the end of a run (at least once).
    pub(crate) async fn finish(&self) -> Result<()> {
        if self.core.commit == CommitMode::AtLeastOnce {
            offsets::commit_final(&self.core.client, self.commit_patience).await
        } else {
            Ok(())
        }
    }
}

/// Batches (aiokafka's `getmany`, Spring's batch listeners): see [`Batch`].
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
    /// what was handled. The handler returns `Ok`, a [`BatchFailure`](super::BatchFailure)
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
