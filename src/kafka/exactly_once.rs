//! Consume-transform-produce, exactly once: each batch of input records is
//! handled, and its outputs, its dead letters and its input offsets are
//! committed in one Kafka transaction.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rdkafka::consumer::{Consumer as _, ConsumerGroupMetadata};
use rdkafka::message::{BorrowedMessage, Message};
use rdkafka::{Offset, TopicPartitionList};

use super::consumer::Consumer;
use super::core::End as RecordEnd;
use super::outbox::{next_offsets, Outbox};
use super::policy::Backoff;
use super::record::Record;
use super::report::{Report, Transactions};
use super::shutdown::Shutdown;
use super::transaction::TransactionalProducer;
use crate::codec::KafkaCodec;
use crate::error::TransactionAction;
use crate::error::{BoxError, Error, ErrorKind, Result};
use crate::message::KafkaMessage;

/// A consume-transform-produce pipeline with exactly-once effect: for each
/// input record the handler returns the records to write ([`Outbox`]), and
/// each batch's outputs, dead letters and input offsets commit in one
/// transaction. A `read_committed` reader of the outputs sees every input's
/// effect once, across crashes, restarts, aborts and rebalances.
///
/// Built by [`ConsumerBuilder::build_exactly_once`](super::ConsumerBuilder::build_exactly_once).
/// The consumer's poison recovery and
/// [`FailurePolicy`](super::FailurePolicy) apply inside the transaction:
/// a record is retried in place, then skipped, dead-lettered (the dead letter
/// commits with the batch) or, under `Recover::Fail`, the transaction is
/// aborted and the run stops with the error.
///
/// Each batch is handled first (the handler runs once per record, outside
/// any transaction); then one transaction sends the batch's offsets, its
/// outputs and its dead letters, and commits. When that transaction must be
/// aborted (a record that could not be delivered, a refused offset commit, a
/// coordinator failing the commit), the same outputs are sent again in a new
/// transaction, up to [`max_aborts`](Self::max_aborts) times in a row, with
/// a back-off; the handler is not run again. When the group moved the
/// partitions on meanwhile, the batch is left to their next owner. A fatal
/// error (the producer fenced by another with the same `transactional.id`)
/// stops the run.
///
/// ```no_run
/// # async fn demo() -> kafka_codec::Result<()> {
/// use kafka_codec::kafka::{ConsumerBuilder, Outbox, TransactionalProducer};
/// # #[derive(Debug, serde::Serialize, serde::Deserialize, kafka_codec::KafkaMessage)]
/// # #[kafka(topic = "orders")]
/// # struct Order { id: u32, cents: u64 }
/// # #[derive(Debug, serde::Serialize, serde::Deserialize, kafka_codec::KafkaMessage)]
/// # #[kafka(topic = "invoices")]
/// # struct Invoice { order: u32, cents: u64 }
/// let producer = TransactionalProducer::builder("localhost:9092", "invoicing-1").build().await?;
/// let mut pipeline = ConsumerBuilder::new("localhost:9092", "invoicing")
///     .build_exactly_once::<Order>(producer)?;
/// let report = pipeline
///     .run(kafka_codec::kafka::Shutdown::on_signals()?, |order| async move {
///         let mut out = Outbox::new();
///         out.send(&Invoice { order: order.value().id, cents: order.value().cents })?;
///         Ok(out)
///     })
///     .await
///     .into_result()?;
/// let transactions = report.transactions.unwrap_or_default();
/// println!("{} orders invoiced in {} transactions", report.totals().records(), transactions.committed);
/// # Ok(()) }
/// ```
pub struct ExactlyOnce<T: KafkaMessage, C: KafkaCodec<T> = <T as KafkaMessage>::Codec> {
    consumer: Consumer<T, C>,
    producer: TransactionalProducer,
    max_records: usize,
    max_wait: Duration,
    max_aborts: u32,
    abort_backoff: Backoff,
    /// Where the partitions of a batch read and not committed stood when a
    /// run was dropped mid-batch: moved back there when the next run starts.
    unfinished: Vec<(String, i32, i64)>,
}

impl<T: KafkaMessage, C: KafkaCodec<T>> std::fmt::Debug for ExactlyOnce<T, C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExactlyOnce")
            .field("consumer", &self.consumer)
            .field("max_records", &self.max_records)
            .field("max_wait", &self.max_wait)
            .field("max_aborts", &self.max_aborts)
            .finish_non_exhaustive()
    }
}

/// How a batch ended.
enum End {
    Committed,
    /// The run stopped during a back-off: nothing committed.
    Abandoned,
    /// The group moved the partitions on: aborted, left to their next owner.
    Dropped,
}

/// Why a batch stopped growing.
enum Stop {
    /// It is full, or `max_wait` passed.
    No,
    /// The shutdown future completed.
    Shutdown,
    /// The consumer failed; the batch holds what was read before.
    Failed(Error),
}

impl<T: KafkaMessage, C: KafkaCodec<T>> ExactlyOnce<T, C> {
    pub(crate) fn new(consumer: Consumer<T, C>, producer: TransactionalProducer) -> Self {
        ExactlyOnce {
            consumer,
            producer,
            max_records: 500,
            max_wait: Duration::from_millis(100),
            max_aborts: 5,
            abort_backoff: Backoff::exponential(
                Duration::from_millis(100),
                2.0,
                Duration::from_secs(5),
            ),
            unfinished: Vec::new(),
        }
    }

    /// A transaction covers up to `max_records` input records, or what
    /// arrived within `max_wait` of the first (default 500 records, 100 ms).
    /// Larger batches amortize the commit; smaller ones repeat less after an
    /// abort.
    #[must_use]
    pub fn batch(mut self, max_records: usize, max_wait: Duration) -> Self {
        self.max_records = max_records.max(1);
        self.max_wait = max_wait;
        self
    }

    /// How many times in a row one batch's transaction may be aborted and
    /// sent again before the run stops with the error (default 5), and the
    /// back-off between (default exponential from 100 ms to 5 s).
    #[must_use]
    pub fn max_aborts(mut self, aborts: u32, backoff: Backoff) -> Self {
        self.max_aborts = aborts;
        self.abort_backoff = backoff;
        self
    }

    /// The consumer (its stats, its rdkafka client).
    pub fn consumer(&self) -> &Consumer<T, C> {
        &self.consumer
    }

    /// Runs the pipeline until `shutdown` completes (the batch in hand is
    /// finished first) or an error stops it. On an error, the batch in hand
    /// is not committed and its partitions are moved back to their committed
    /// offsets, so a later run (or the partitions' next owner) processes it
    /// again.
    ///
    /// The handler returns the records to write for its input, `Ok` with an
    /// [`Outbox`] (empty to write nothing), or a [`BoxError`] (so `?` takes
    /// any error with no annotation; the [`FailurePolicy`](super::FailurePolicy)
    /// applies). The [`Report`] counts a record once its transaction
    /// committed, and carries the run's [`Transactions`].
    ///
    /// Stop it with `shutdown`, not by dropping the future: a run dropped
    /// mid-batch leaves an open transaction to be aborted on drop and its
    /// partitions past the batch; they are moved back when the next run
    /// starts, or a new consumer starts from the committed offsets.
    pub async fn run<F, Fut>(&mut self, shutdown: Shutdown, mut handler: F) -> Report
    where
        F: FnMut(Record<T>) -> Fut,
        Fut: Future<Output = std::result::Result<Outbox, BoxError>>,
    {
        let mut report = Report {
            transactions: Some(Transactions::default()),
            ..Report::default()
        };
        let ran = self.run_until(shutdown, &mut handler, &mut report).await;
        report.check(ran);
        report
    }

    async fn run_until<F, Fut>(
        &mut self,
        shutdown: Shutdown,
        handler: &mut F,
        report: &mut Report,
    ) -> Result<()>
    where
        F: FnMut(Record<T>) -> Fut,
        Fut: Future<Output = std::result::Result<Outbox, BoxError>>,
    {
        // Fused: the batch in hand when it completes is still finished,
        // polling it again must not panic.
        let shutdown = futures::FutureExt::fuse(shutdown.token().cancelled());
        tokio::pin!(shutdown);
        let settings = Settings {
            max_aborts: self.max_aborts,
            backoff: &self.abort_backoff,
        };
        if !self.unfinished.is_empty() {
            // The last run was dropped mid-batch: its transaction may have
            // committed or not; settle it, then go back to what the broker
            // says is committed.
            self.producer.settle_dropped().await?;
            seek_committed(&self.consumer, &self.unfinished).await?;
            self.unfinished.clear();
        }
        loop {
            let (batch, stop) = collect(
                &self.consumer,
                self.max_records,
                self.max_wait,
                shutdown.as_mut(),
            )
            .await;
            let batch = still_owned(&self.consumer, batch, report);
            if !batch.is_empty() {
                // Taken now: if the generation moves on before the commit,
                // the broker refuses the offsets.
                let group = self.consumer.inner().group_metadata().map(Arc::new);
                self.unfinished = first_offsets(&batch);
                // Boxed (once per batch): it holds the handler's futures,
                // and the run's own future stays small.
                let end = Box::pin(process(
                    &self.consumer,
                    &mut self.producer,
                    &batch,
                    group,
                    handler,
                    shutdown.as_mut(),
                    &settings,
                    report,
                ))
                .await;
                let back = match &end {
                    Ok(End::Committed) => Ok(()),
                    _ => seek_back(&self.consumer, &self.unfinished).await,
                };
                self.unfinished.clear();
                match end {
                    Ok(End::Committed | End::Dropped) => back?,
                    Ok(End::Abandoned) => return back,
                    Err(e) => {
                        if let Err(seek) = back {
                            tracing::error!(error = %seek, "moving the partitions back failed");
                        }
                        return Err(e);
                    }
                }
            }
            match stop {
                Stop::No => {}
                Stop::Shutdown => return Ok(()),
                Stop::Failed(e) => return Err(e),
            }
        }
    }
}

struct Settings<'a> {
    max_aborts: u32,
    backoff: &'a Backoff,
}

/// Reads a batch: waits for a first record (or `stop`), then takes what
/// arrives within `max_wait`, up to `max_records`. Each message is stamped
/// with the revocation epoch it was read in.
async fn collect<'c, T, C, S>(
    consumer: &'c Consumer<T, C>,
    max_records: usize,
    max_wait: Duration,
    mut stop: Pin<&mut S>,
) -> (Vec<(BorrowedMessage<'c>, u64)>, Stop)
where
    T: KafkaMessage,
    C: KafkaCodec<T>,
    S: Future<Output = ()>,
{
    let revocations = &consumer.core.client.context().revocations;
    let mut batch = Vec::new();
    let first = tokio::select! {
        biased;
        () = stop.as_mut() => return (batch, Stop::Shutdown),
        msg = consumer.recv() => msg,
    };
    match first {
        Ok(msg) => batch.push((msg, revocations.epoch())),
        Err(e) => return (batch, Stop::Failed(e)),
    }
    let deadline = tokio::time::Instant::now() + max_wait;
    while batch.len() < max_records {
        let msg = tokio::select! {
            biased;
            () = stop.as_mut() => return (batch, Stop::Shutdown),
            () = tokio::time::sleep_until(deadline) => break,
            msg = consumer.recv() => msg,
        };
        match msg {
            Ok(msg) => batch.push((msg, revocations.epoch())),
            Err(e) => return (batch, Stop::Failed(e)),
        }
    }
    (batch, Stop::No)
}

/// Drops the records whose partition was revoked after they were read: the
/// partition's next owner (maybe this consumer again) reads them from the
/// committed offset.
fn still_owned<'c, T: KafkaMessage, C: KafkaCodec<T>>(
    consumer: &Consumer<T, C>,
    batch: Vec<(BorrowedMessage<'c>, u64)>,
    report: &mut Report,
) -> Vec<BorrowedMessage<'c>> {
    let revocations = &consumer.core.client.context().revocations;
    let read = batch.len();
    let kept: Vec<BorrowedMessage<'c>> = batch
        .into_iter()
        .filter(|(m, epoch)| !revocations.revoked_since(m.topic(), m.partition(), *epoch))
        .map(|(m, _)| m)
        .collect();
    let dropped = (read - kept.len()) as u64;
    if dropped > 0 {
        tracing::info!(
            dropped,
            "records of revoked partitions left to their next owner"
        );
        transactions(report).dropped += dropped;
    }
    kept
}

/// Handles a batch, then commits its outputs, dead letters and offsets in a
/// transaction, sending them again in a new one while transactions abort.
#[allow(clippy::too_many_arguments)]
async fn process<T, C, F, Fut, S>(
    consumer: &Consumer<T, C>,
    producer: &mut TransactionalProducer,
    batch: &[BorrowedMessage<'_>],
    group: Option<Arc<ConsumerGroupMetadata>>,
    handler: &mut F,
    mut stop: Pin<&mut S>,
    settings: &Settings<'_>,
    report: &mut Report,
) -> Result<End>
where
    T: KafkaMessage,
    C: KafkaCodec<T>,
    F: FnMut(Record<T>) -> Fut,
    Fut: Future<Output = std::result::Result<Outbox, BoxError>>,
    S: Future<Output = ()>,
{
    let Some(group) = group else {
        return Err(Error::new(ErrorKind::Config(
            "the consumer has no group metadata (no `group.id`?)".into(),
        )));
    };
    let Some((outbox, counts)) = handle(consumer, batch, handler, stop.as_mut()).await? else {
        return Ok(End::Abandoned);
    };
    let offsets = next_offsets(batch.iter().map(|m| (m.topic(), m.partition(), m.offset())))?;
    let mut aborts = 0;
    loop {
        let error = match commit(producer, &group, &offsets, &outbox).await {
            Ok(()) => {
                report.merge(counts);
                let transactions = transactions(report);
                transactions.committed += 1;
                transactions.outputs += outbox.len() as u64;
                return Ok(End::Committed);
            }
            Err(e) => e,
        };
        if !matches!(
            error.transaction_action(),
            Some(TransactionAction::Abort | TransactionAction::Retry)
        ) {
            return Err(error);
        }
        transactions(report).aborted += 1;
        if group_moved_on(&error) {
            tracing::warn!(error = %error, "transaction aborted: the group moved on; the batch is left to the partitions' owners");
            return Ok(End::Dropped);
        }
        aborts += 1;
        if aborts > settings.max_aborts {
            return Err(error);
        }
        let delay = settings.backoff.delay(aborts);
        tracing::warn!(error = %error, aborts, ?delay, "transaction aborted; sending the batch's outputs again");
        tokio::select! {
            () = stop.as_mut() => return Ok(End::Abandoned),
            () = tokio::time::sleep(delay) => {}
        }
    }
}

/// The transactions of a run's report.
fn transactions(report: &mut Report) -> &mut Transactions {
    report
        .transactions
        .get_or_insert_with(Transactions::default)
}

/// Runs the handler on every record of a batch (through the consumer's
/// poison and failure policies) and gathers what it returned, the dead
/// letters, and how each record ended. `None`: `stop` completed during a
/// retry back-off.
async fn handle<T, C, F, Fut, S>(
    consumer: &Consumer<T, C>,
    batch: &[BorrowedMessage<'_>],
    handler: &mut F,
    mut stop: Pin<&mut S>,
) -> Result<Option<(Outbox, Report)>>
where
    T: KafkaMessage,
    C: KafkaCodec<T>,
    F: FnMut(Record<T>) -> Fut,
    Fut: Future<Output = std::result::Result<Outbox, BoxError>>,
    S: Future<Output = ()>,
{
    let core = &consumer.core;
    let dead_letters = || {
        core.dead_letters
            .as_ref()
            .map(super::dead_letter::DeadLetters::take_deferred)
            .unwrap_or_default()
    };
    // Dead letters of a batch that did not finish are not sent.
    drop(dead_letters());
    let outputs = Mutex::new(Outbox::new());
    let mut gather = |record: Record<T>| {
        let handled = handler(record);
        let outputs = &outputs;
        async move {
            let out = handled.await?;
            outputs
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .append(out);
            Ok(())
        }
    };
    let mut counts = Report::default();
    for msg in batch {
        let outcome = core.process(msg, &mut gather, stop.as_mut()).await?;
        if outcome.end == RecordEnd::Abandoned {
            return Ok(None);
        }
        counts.count(msg.topic(), msg.partition(), outcome);
    }
    let mut out = outputs
        .into_inner()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    out.append(dead_letters());
    Ok(Some((out, counts)))
}

/// One transaction: the offsets first (a refused offset commit aborts
/// before anything is written), then the records, then the commit. Aborted
/// on failure.
async fn commit(
    producer: &mut TransactionalProducer,
    group: &Arc<ConsumerGroupMetadata>,
    offsets: &TopicPartitionList,
    outbox: &Outbox,
) -> Result<()> {
    let txn = producer.begin().await?;
    let sent = async {
        txn.send_offsets_as(group.clone(), offsets).await?;
        txn.send_all(outbox).await.map(drop)
    }
    .await;
    match sent {
        Ok(()) => txn.commit().await,
        Err(e) => {
            txn.abort().await?;
            Err(e)
        }
    }
}

/// Whether an aborted transaction's error says this member's generation
/// is over (a rebalance took the partitions).
fn group_moved_on(error: &Error) -> bool {
    let ErrorKind::Transaction { source, .. } = error.kind() else {
        return false;
    };
    source
        .rdkafka_error_code()
        .is_some_and(super::codes::generation_over)
}

/// The first offset of each partition in `batch`: where its committed
/// offset stands.
fn first_offsets(batch: &[BorrowedMessage<'_>]) -> Vec<(String, i32, i64)> {
    let mut first: Vec<(String, i32, i64)> = Vec::new();
    for m in batch {
        if !first
            .iter()
            .any(|(t, p, _)| t == m.topic() && *p == m.partition())
        {
            first.push((m.topic().to_owned(), m.partition(), m.offset()));
        }
    }
    first
}

/// Moves each partition still assigned back to `offset`, so its records are
/// read again. Partitions no longer assigned start at their committed
/// offset for their next owner anyway.
async fn seek_back<T: KafkaMessage, C: KafkaCodec<T>>(
    consumer: &Consumer<T, C>,
    first: &[(String, i32, i64)],
) -> Result<()> {
    let assigned = consumer.inner().assignment()?;
    for (topic, partition, offset) in first {
        if assigned.find_partition(topic, *partition).is_some() {
            consumer
                .seek_to(topic, *partition, Offset::Offset(*offset))
                .await?;
        }
    }
    Ok(())
}

/// Moves each partition still assigned back to its committed offset (the
/// batch's first offset, `first`, when the group has none).
async fn seek_committed<T: KafkaMessage, C: KafkaCodec<T>>(
    consumer: &Consumer<T, C>,
    first: &[(String, i32, i64)],
) -> Result<()> {
    let mut tpl = TopicPartitionList::new();
    for (topic, partition, _) in first {
        tpl.add_partition(topic, *partition);
    }
    let client = consumer.core.client.clone();
    let committed =
        super::rt::blocking(move || client.committed_offsets(tpl, Duration::from_secs(30))).await?;
    let at: Vec<(String, i32, i64)> = first
        .iter()
        .map(|(topic, partition, offset)| {
            let committed = committed
                .find_partition(topic, *partition)
                .and_then(|e| e.offset().to_raw())
                .filter(|o| *o >= 0);
            (topic.clone(), *partition, committed.unwrap_or(*offset))
        })
        .collect();
    seek_back(consumer, &at).await
}
