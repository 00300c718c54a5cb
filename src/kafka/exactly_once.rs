//! Consume-transform-produce, exactly once: each batch of input records is
//! handled, and its outputs, its dead letters and its input offsets are
//! committed in one Kafka transaction.

use std::future::Future;
use std::pin::Pin;
use std::sync::Mutex;
use std::time::Duration;

use rdkafka::consumer::Consumer as _;
use rdkafka::message::{BorrowedMessage, Message};
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::Offset;

use super::consumer::Consumer;
use super::core::Outcome;
use super::policy::Backoff;
use super::record::Record;
use super::transaction::{
    next_offsets, Outbox, Transaction, TransactionAction, TransactionalProducer,
};
use crate::codec::KafkaCodec;
use crate::error::{BoxError, Error, ErrorKind, Result};
use crate::message::KafkaMessage;

/// What a run of an [`ExactlyOnce`] pipeline did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ExactlyOnceReport {
    /// Transactions committed.
    pub transactions: u64,
    /// Input records whose offsets were committed (handled, skipped or
    /// dead-lettered).
    pub records: u64,
    /// Records written by committed transactions (outputs and dead
    /// letters).
    pub outputs: u64,
    /// Transactions aborted (each batch was processed again, or given up
    /// when the run stopped).
    pub aborts: u64,
    /// Input records read and then left to the partition's next owner
    /// because the partition was revoked before they were committed.
    pub dropped: u64,
}

/// A consume-transform-produce pipeline with exactly-once effect: for each
/// input record the handler returns the records to write ([`Outbox`]), and
/// each batch's outputs, dead letters and input offsets commit in one
/// transaction. A `read_committed` reader of the outputs sees every input's
/// effect once, across crashes, restarts, aborts and rebalances.
///
/// Built by [`ConsumerBuilder::build_exactly_once`](super::ConsumerBuilder::build_exactly_once).
/// The consumer's [`PoisonPolicy`](super::PoisonPolicy) and
/// [`FailurePolicy`](super::FailurePolicy) apply inside the transaction:
/// a record is retried in place, then skipped, dead-lettered (the dead letter
/// commits with the batch) or, under `Recover::Fail`, the transaction is
/// aborted and the run stops with the error.
///
/// When a transaction must be aborted (a record that could not be
/// delivered, a refused offset commit, a coordinator failing the commit), the
/// batch is processed again from the same records in a new transaction, up
/// to [`max_aborts`](Self::max_aborts) times in a row, with a back-off. A
/// fatal error (the producer fenced by another with the same
/// `transactional.id`) stops the run.
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
///     .run(kafka_codec::kafka::shutdown_on_ctrl_c().cancelled_owned(), |order| async move {
///         let mut out = Outbox::new();
///         out.send(&Invoice { order: order.value().id, cents: order.value().cents })?;
///         Ok(out)
///     })
///     .await?;
/// println!("{} orders invoiced in {} transactions", report.records, report.transactions);
/// # Ok(()) }
/// ```
pub struct ExactlyOnce<T: KafkaMessage, C: KafkaCodec<T> = <T as KafkaMessage>::Codec> {
    consumer: Consumer<T, C>,
    producer: TransactionalProducer,
    max_records: usize,
    max_wait: Duration,
    max_aborts: u32,
    abort_backoff: Backoff,
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

/// How a batch's transaction ended.
enum End {
    Committed,
    /// The run stopped during a back-off: aborted, nothing committed.
    Abandoned,
    /// The group moved the partitions on: aborted, left to their next owner.
    Dropped,
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
    /// the batch processed again before the run stops with the error
    /// (default 5), and the back-off between (default exponential from
    /// 100 ms to 5 s).
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
    /// finished or aborted first) or an error stops it. On an error, the
    /// open transaction is aborted and the partitions of its batch are moved
    /// back to their committed offsets, so a later run (or the next owner)
    /// processes the batch again.
    pub async fn run<F, Fut>(
        &mut self,
        shutdown: impl Future<Output = ()>,
        mut handler: F,
    ) -> Result<ExactlyOnceReport>
    where
        F: FnMut(Record<T>) -> Fut,
        Fut: Future<Output = std::result::Result<Outbox, BoxError>>,
    {
        // Fused: the batch in hand when it completes is still finished,
        // polling it again must not panic.
        let shutdown = futures::FutureExt::fuse(shutdown);
        tokio::pin!(shutdown);
        let mut report = ExactlyOnceReport::default();
        let settings = Settings {
            max_aborts: self.max_aborts,
            backoff: &self.abort_backoff,
        };
        loop {
            let (batch, stopped) = collect(
                &self.consumer,
                self.max_records,
                self.max_wait,
                shutdown.as_mut(),
            )
            .await?;
            let batch = still_owned(&self.consumer, batch, &mut report);
            if !batch.is_empty() {
                let end = transact(
                    &self.consumer,
                    &mut self.producer,
                    &batch,
                    &mut handler,
                    shutdown.as_mut(),
                    &settings,
                    &mut report,
                )
                .await;
                match end {
                    Ok(End::Committed) => {}
                    Ok(End::Dropped) => rewind(&self.consumer, &batch).await,
                    Ok(End::Abandoned) => {
                        rewind(&self.consumer, &batch).await;
                        return Ok(report);
                    }
                    Err(e) => {
                        rewind(&self.consumer, &batch).await;
                        return Err(e);
                    }
                }
            }
            if stopped {
                return Ok(report);
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
/// with the revocation epoch it was read in. `true`: `stop` completed.
async fn collect<'c, T, C, S>(
    consumer: &'c Consumer<T, C>,
    max_records: usize,
    max_wait: Duration,
    mut stop: Pin<&mut S>,
) -> Result<(Vec<(BorrowedMessage<'c>, u64)>, bool)>
where
    T: KafkaMessage,
    C: KafkaCodec<T>,
    S: Future<Output = ()>,
{
    let revocations = &consumer.core.client.context().revocations;
    let mut batch = Vec::new();
    let first = tokio::select! {
        biased;
        () = stop.as_mut() => return Ok((batch, true)),
        msg = consumer.recv() => msg?,
    };
    batch.push((first, revocations.epoch()));
    let deadline = tokio::time::Instant::now() + max_wait;
    while batch.len() < max_records {
        let msg = tokio::select! {
            biased;
            () = stop.as_mut() => return Ok((batch, true)),
            () = tokio::time::sleep_until(deadline) => break,
            msg = consumer.recv() => msg?,
        };
        batch.push((msg, revocations.epoch()));
    }
    Ok((batch, false))
}

/// Drops the records whose partition was revoked after they were read: the
/// partition's next owner (maybe this consumer again) reads them from the
/// committed offset.
fn still_owned<'c, T: KafkaMessage, C: KafkaCodec<T>>(
    consumer: &Consumer<T, C>,
    batch: Vec<(BorrowedMessage<'c>, u64)>,
    report: &mut ExactlyOnceReport,
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
        report.dropped += dropped;
    }
    kept
}

/// Processes a batch in transactions until one commits, aborting and
/// starting again on abortable failures.
async fn transact<T, C, F, Fut, S>(
    consumer: &Consumer<T, C>,
    producer: &mut TransactionalProducer,
    batch: &[BorrowedMessage<'_>],
    handler: &mut F,
    mut stop: Pin<&mut S>,
    settings: &Settings<'_>,
    report: &mut ExactlyOnceReport,
) -> Result<End>
where
    T: KafkaMessage,
    C: KafkaCodec<T>,
    F: FnMut(Record<T>) -> Fut,
    Fut: Future<Output = std::result::Result<Outbox, BoxError>>,
    S: Future<Output = ()>,
{
    let mut aborts = 0;
    loop {
        let txn = producer.begin()?;
        let error = match attempt(consumer, &txn, batch, handler, stop.as_mut()).await {
            Ok(Some(outputs)) => match txn.commit().await {
                Ok(()) => {
                    report.transactions += 1;
                    report.records += batch.len() as u64;
                    report.outputs += outputs;
                    return Ok(End::Committed);
                }
                // An abortable commit failure was aborted by `commit`.
                Err(e) => e,
            },
            Ok(None) => {
                txn.abort().await?;
                report.aborts += 1;
                return Ok(End::Abandoned);
            }
            Err(e) => {
                if let Err(abort) = txn.abort().await {
                    tracing::error!(error = %abort, cause = %e, "aborting the transaction failed");
                    return Err(abort);
                }
                e
            }
        };
        if error.transaction_action() != Some(TransactionAction::Abort) {
            return Err(error);
        }
        report.aborts += 1;
        if group_moved_on(&error) {
            tracing::warn!(error = %error, "transaction aborted: the group moved on; the batch is left to the partitions' owners");
            return Ok(End::Dropped);
        }
        aborts += 1;
        if aborts > settings.max_aborts {
            return Err(error);
        }
        let delay = settings.backoff.delay(aborts);
        tracing::warn!(error = %error, aborts, ?delay, "transaction aborted; processing the batch again");
        tokio::select! {
            () = stop.as_mut() => return Ok(End::Abandoned),
            () = tokio::time::sleep(delay) => {}
        }
    }
}

/// One try at a batch inside `txn`: handles every record (outputs collected),
/// adds the offsets, then sends outputs and dead letters. `None`: `stop`
/// completed during a retry back-off. Returns how many records it wrote.
async fn attempt<T, C, F, Fut, S>(
    consumer: &Consumer<T, C>,
    txn: &Transaction<'_>,
    batch: &[BorrowedMessage<'_>],
    handler: &mut F,
    mut stop: Pin<&mut S>,
) -> Result<Option<u64>>
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
    // Dead letters left by an aborted attempt are not sent.
    drop(dead_letters());
    let outputs = Mutex::new(Outbox::new());
    let mut collect = |record: Record<T>| {
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
    for msg in batch {
        if core.process(msg, &mut collect, stop.as_mut()).await? == Outcome::Abandoned {
            return Ok(None);
        }
    }
    // Offsets first: a refused offset commit aborts before anything is
    // written.
    let offsets = next_offsets(batch.iter().map(|m| (m.topic(), m.partition(), m.offset())))?;
    txn.send_offsets(consumer, &offsets).await?;
    let mut out = outputs
        .into_inner()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    out.append(dead_letters());
    let written = out.len() as u64;
    txn.send_all(out).await?;
    Ok(Some(written))
}

/// Whether an aborted transaction's error says this member's generation
/// is over (a rebalance took the partitions).
fn group_moved_on(error: &Error) -> bool {
    let ErrorKind::Transaction { source, .. } = error.kind() else {
        return false;
    };
    matches!(
        source.rdkafka_error_code(),
        Some(
            RDKafkaErrorCode::IllegalGeneration
                | RDKafkaErrorCode::UnknownMemberId
                | RDKafkaErrorCode::FencedInstanceId
                | RDKafkaErrorCode::RebalanceInProgress
        )
    )
}

/// Moves each partition of `batch` that is still assigned back to the
/// batch's first record there (its committed offset), so the records are
/// read again. Partitions no longer assigned start there for their next
/// owner anyway.
async fn rewind<T: KafkaMessage, C: KafkaCodec<T>>(
    consumer: &Consumer<T, C>,
    batch: &[BorrowedMessage<'_>],
) {
    let mut first: Vec<(&str, i32, i64)> = Vec::new();
    for m in batch {
        if !first
            .iter()
            .any(|(t, p, _)| *t == m.topic() && *p == m.partition())
        {
            first.push((m.topic(), m.partition(), m.offset()));
        }
    }
    let assigned = consumer.inner().assignment().ok();
    for (topic, partition, offset) in first {
        let owned = assigned
            .as_ref()
            .is_some_and(|a| a.find_partition(topic, partition).is_some());
        if !owned {
            continue;
        }
        if let Err(e) = consumer
            .seek_to(topic, partition, Offset::Offset(offset))
            .await
        {
            tracing::warn!(topic, partition, offset, error = %e, "rewinding after an abort failed; the records are read again after a restart or rebalance");
        }
    }
}
