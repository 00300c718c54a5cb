//! Exactly-once pipelines: a typed transactional producer, and a
//! consume-transform-produce loop that commits its input offsets in the same
//! transaction that writes its outputs.
//!
//! librdkafka's transaction calls that wait for the transaction coordinator
//! (init, sending offsets, commit, abort) run off the async worker threads;
//! `begin` is local and immediate.

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use rdkafka::consumer::{ConsumerContext, ConsumerGroupMetadata};
use rdkafka::error::KafkaError;
use rdkafka::producer::{FutureProducer, Producer as _};

use super::context::UserContext;
use rdkafka::{ClientConfig, TopicPartitionList};
use serde::Serialize;

use super::outbox::Outbox;
use super::policy::Backoff;
use super::producer::{delivered, Delivery, Producer};
use super::rt::blocking;
use super::telemetry::Sampling;
use crate::codec::KafkaCodec;
use crate::error::TransactionAction;
use crate::error::{Error, ErrorKind, Result};
use crate::message::{KafkaMessage, ToKey};

/// Whether `e` is librdkafka's `State` error: the call is not valid in the
/// transaction's state.
fn wrong_state(e: &Error) -> bool {
    matches!(
        e.kind(),
        ErrorKind::Transaction { source, .. }
            if source.rdkafka_error_code() == Some(rdkafka::types::RDKafkaErrorCode::State)
    )
}

/// An error from a transaction step, classified. librdkafka's transaction
/// calls flag their errors; a record that failed to deliver inside a
/// transaction makes it abortable; anything unflagged is treated as
/// abortable too (the abort says whether the producer can go on).
fn classify(e: Error) -> Error {
    let ErrorKind::Kafka(_) = e.kind() else {
        return e;
    };
    let ErrorKind::Kafka(source) = e.into_kind() else {
        unreachable!("matched above")
    };
    let action = match &source {
        KafkaError::Transaction(t) if t.is_fatal() => TransactionAction::Fatal,
        KafkaError::Transaction(t) if t.txn_requires_abort() => TransactionAction::Abort,
        KafkaError::Transaction(t) if t.is_retriable() => TransactionAction::Retry,
        _ => TransactionAction::Abort,
    };
    Error::new(ErrorKind::Transaction { action, source })
}

/// Builds a [`TransactionalProducer`].
#[derive(Debug, Clone)]
pub struct TransactionalProducerBuilder {
    config: ClientConfig,
    timeout: Duration,
    queue_timeout: Duration,
    context: UserContext,
}

impl TransactionalProducerBuilder {
    /// Sets any librdkafka property (`transaction.timeout.ms`, ...).
    #[must_use]
    pub fn set(mut self, key: &str, value: impl Into<String>) -> Self {
        self.config.set(key, value);
        self
    }

    /// How long each transaction call (init, sending offsets, commit,
    /// abort) may wait for the coordinator (default 30 s); commit and abort
    /// retry retriable failures within it.
    #[must_use]
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// An rdkafka client context of your own (callbacks, OAUTHBEARER
    /// tokens). See [`UserContext`].
    #[must_use]
    pub fn context(mut self, context: impl rdkafka::ClientContext + 'static) -> Self {
        self.context = UserContext::new(context);
        self
    }

    /// Creates the producer and initializes its transactions: registers the
    /// `transactional.id` with the coordinator, which fences any older
    /// producer with the same id and settles its open transaction.
    pub async fn build(self) -> Result<TransactionalProducer> {
        TransactionalProducer::create(self.config, self.context, self.timeout, self.queue_timeout)
            .await
    }
}

/// A typed transactional producer: sends encode like [`Producer`]'s, inside
/// a [`Transaction`] that commits them all or none.
///
/// One transaction at a time ([`begin`](Self::begin) borrows the producer
/// mutably). Give each running instance its own stable `transactional.id`
/// (say, the application name and the instance's number): a restarted
/// instance then fences its predecessor instead of running beside it.
///
/// ```no_run
/// # async fn demo() -> kafka_codec::Result<()> {
/// use kafka_codec::kafka::TransactionalProducer;
/// # #[derive(serde::Serialize, serde::Deserialize, kafka_codec::KafkaMessage)]
/// # #[kafka(topic = "orders")]
/// # struct Order { id: u32 }
/// let mut producer = TransactionalProducer::builder("localhost:9092", "billing-1")
///     .build()
///     .await?;
/// let txn = producer.begin().await?;
/// txn.send(&Order { id: 1 }).await?;
/// txn.send(&Order { id: 2 }).await?;
/// txn.commit().await?; // both or neither, for read_committed consumers
/// # Ok(()) }
/// ```
pub struct TransactionalProducer {
    producer: Producer,
    timeout: Duration,
    /// A transaction was dropped while open: abort it before the next.
    dropped_open: AtomicBool,
}

impl fmt::Debug for TransactionalProducer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TransactionalProducer")
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl TransactionalProducer {
    /// A builder with `bootstrap.servers` and `transactional.id` set
    /// (which switches idempotence on) and `linger.ms=1` (a transaction's
    /// records are sent in one burst and the commit waits for them, so
    /// lingering only delays it); librdkafka's defaults otherwise.
    pub fn builder(
        bootstrap_servers: &str,
        transactional_id: &str,
    ) -> TransactionalProducerBuilder {
        let mut config = ClientConfig::new();
        config
            .set("bootstrap.servers", bootstrap_servers)
            .set("transactional.id", transactional_id)
            .set("linger.ms", "1");
        TransactionalProducerBuilder {
            config,
            timeout: Duration::from_secs(30),
            queue_timeout: Duration::from_secs(30),
            context: UserContext::default(),
        }
    }

    /// A producer from a full rdkafka configuration, which must set
    /// `transactional.id`.
    pub async fn new(config: &ClientConfig) -> Result<Self> {
        Self::create(
            config.clone(),
            UserContext::default(),
            Duration::from_secs(30),
            Duration::from_secs(30),
        )
        .await
    }

    async fn create(
        config: ClientConfig,
        context: UserContext,
        timeout: Duration,
        queue_timeout: Duration,
    ) -> Result<Self> {
        if !config
            .get("transactional.id")
            .is_some_and(|id| !id.is_empty())
        {
            return Err(Error::new(ErrorKind::Config(
                "a transactional producer needs `transactional.id`".into(),
            )));
        }
        // No resends on a new producer id: a transactional producer that lost
        // its state must be dropped (its error is fatal), not replaced behind
        // the caller's back.
        let producer = Producer::create(config, context, queue_timeout, 0, Sampling::ALL)?;
        let client = producer.inner();
        blocking(move || client.init_transactions(timeout))
            .await
            .map_err(classify)?;
        Ok(TransactionalProducer {
            producer,
            timeout,
            dropped_open: AtomicBool::new(false),
        })
    }

    /// Begins a transaction. Everything sent through it, and the consumer
    /// offsets given to [`Transaction::send_offsets`], becomes visible to
    /// `read_committed` consumers when it commits, and never if it aborts.
    ///
    /// A transaction dropped while open is aborted here first.
    pub async fn begin(&mut self) -> Result<Transaction<'_>> {
        self.settle_dropped().await?;
        self.producer
            .inner()
            .begin_transaction()
            .map_err(|e| classify(e.into()))?;
        Ok(Transaction {
            producer: self,
            open: true,
        })
    }

    /// Aborts a transaction that was dropped while open, if any. A call it
    /// was in the middle of (a commit, say) may still be running: retried
    /// until the producer's timeout. A transaction that finished meanwhile
    /// is left as it ended.
    pub(crate) async fn settle_dropped(&self) -> Result<()> {
        if !self.dropped_open.swap(false, Ordering::SeqCst) {
            return Ok(());
        }
        let deadline = tokio::time::Instant::now() + self.timeout;
        let attempt = || async {
            let e = match self.end(false).await {
                Ok(()) => return Ok(()),
                Err(e) => e,
            };
            if wrong_state(&e) && self.nothing_open().await {
                Ok(())
            } else {
                Err(e)
            }
        };
        let done = Backoff::fixed(Duration::from_millis(50))
            .retry_until(deadline, attempt, |e| {
                e.transaction_action() != Some(TransactionAction::Fatal)
            })
            .await;
        if done.is_err() {
            self.dropped_open.store(true, Ordering::SeqCst);
        }
        done
    }

    /// Whether no transaction is open, after an abort refused for the
    /// transaction's state: librdkafka says `State` both when nothing is
    /// open and while a call it was in the middle of still runs, and only
    /// its message text names the state. A transaction begins only when
    /// none is open, so one is begun and aborted at once: locally, as no
    /// partition joined it (librdkafka sends no `EndTxn` then).
    async fn nothing_open(&self) -> bool {
        let client = self.inner();
        let timeout = self.timeout;
        blocking(move || {
            client.begin_transaction()?;
            client.abort_transaction(timeout)
        })
        .await
        .is_ok()
    }

    /// The underlying rdkafka producer.
    pub fn inner(&self) -> Arc<FutureProducer<UserContext>> {
        self.producer.inner()
    }

    /// Commits or aborts the open transaction, retrying retriable failures
    /// until the timeout.
    async fn end(&self, commit: bool) -> Result<()> {
        let deadline = tokio::time::Instant::now() + self.timeout;
        if commit {
            // rdkafka's commit first flushes, and a flush that finds anything
            // outstanding (a delivery report not yet served by the producer's
            // polling thread, a record in flight) blocks in a poll of up to
            // 100 ms on this thread, which gets no event: wait here instead,
            // without holding a thread.
            let client = self.inner();
            while client.in_flight_count() > 0 && tokio::time::Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        }
        let attempt = || {
            let client = self.inner();
            let timeout = deadline
                .saturating_duration_since(tokio::time::Instant::now())
                .max(Duration::from_millis(1));
            async move {
                blocking(move || {
                    if commit {
                        client.commit_transaction(timeout)
                    } else {
                        client.abort_transaction(timeout)
                    }
                })
                .await
                .map_err(classify)
            }
        };
        Backoff::fixed(Duration::from_millis(100))
            .retry_until(deadline, attempt, |e| {
                e.transaction_action() == Some(TransactionAction::Retry)
            })
            .await
    }
}

/// An open transaction of a [`TransactionalProducer`].
///
/// End it with [`commit`](Self::commit) or [`abort`](Self::abort). A
/// transaction dropped while open is aborted by the producer's next
/// [`begin`](TransactionalProducer::begin) (or, if the producer is dropped
/// too, by the broker when `transaction.timeout.ms` passes, or at once by
/// the next producer with the same `transactional.id`).
pub struct Transaction<'p> {
    producer: &'p TransactionalProducer,
    open: bool,
}

impl fmt::Debug for Transaction<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Transaction")
            .field("open", &self.open)
            .finish_non_exhaustive()
    }
}

/// A delivery that failed inside a transaction makes the transaction
/// abortable; other errors (encoding: nothing was sent) stay as they are.
fn in_transaction(e: Error) -> Error {
    match e.kind() {
        ErrorKind::Kafka(_) => {
            let ErrorKind::Kafka(source) = e.into_kind() else {
                unreachable!("matched above")
            };
            let action = match &source {
                KafkaError::Transaction(t) if t.is_fatal() => TransactionAction::Fatal,
                _ => TransactionAction::Abort,
            };
            Error::new(ErrorKind::Transaction { action, source })
        }
        _ => e,
    }
}

impl Transaction<'_> {
    /// Sends a message to its type's default topic, in this transaction.
    pub async fn send<T: KafkaMessage>(&self, message: &T) -> Result<Delivery> {
        self.producer
            .producer
            .send(message)
            .await
            .map_err(in_transaction)
    }

    /// Sends a message to `topic`, in this transaction.
    pub async fn send_to<T: KafkaMessage>(&self, topic: &str, message: &T) -> Result<Delivery> {
        self.producer
            .producer
            .send_to(topic, message)
            .await
            .map_err(in_transaction)
    }

    /// Sends a message with an explicit codec, in this transaction.
    pub async fn send_with<T, C>(&self, topic: &str, message: &T, codec: &C) -> Result<Delivery>
    where
        T: KafkaMessage,
        C: KafkaCodec<T> + ?Sized,
    {
        self.producer
            .producer
            .send_with(topic, message, codec)
            .await
            .map_err(in_transaction)
    }

    /// Sends any serializable value as JSON, in this transaction.
    pub async fn send_value<K, V>(
        &self,
        topic: &str,
        key: Option<&K>,
        value: &V,
    ) -> Result<Delivery>
    where
        K: ToKey + ?Sized,
        V: Serialize + ?Sized,
    {
        self.producer
            .producer
            .send_value(topic, key, value)
            .await
            .map_err(in_transaction)
    }

    /// Sends every record of `outbox` (queued at once, then acknowledged
    /// together), in this transaction. The outbox is kept: after an abort,
    /// the same records can be sent in the next transaction.
    pub async fn send_all(&self, outbox: &Outbox) -> Result<Vec<Delivery>> {
        let producer = &self.producer.producer;
        let client = producer.inner();
        let mut pending = Vec::with_capacity(outbox.records.len());
        for out in &outbox.records {
            let record = out.encoded.record_ref(&out.topic, &out.buf);
            pending.push(
                producer
                    .queue(&client, record)
                    .await
                    .map_err(in_transaction)?,
            );
        }
        let mut deliveries = Vec::with_capacity(pending.len());
        for future in pending {
            deliveries.push(delivered(future).await.map_err(in_transaction)?);
        }
        Ok(deliveries)
    }

    /// Adds a consumer's offsets to the transaction: committed for the
    /// consumer's group if, and only if, the transaction commits. `offsets`
    /// are the next records to read (the last one handled plus one), as
    /// Kafka commits them. `consumer` is any rdkafka consumer, this crate's
    /// through [`Consumer::inner`](super::Consumer::inner).
    pub async fn send_offsets<Ctx: ConsumerContext + 'static>(
        &self,
        consumer: &impl rdkafka::consumer::Consumer<Ctx>,
        offsets: &TopicPartitionList,
    ) -> Result<()> {
        let Some(group) = consumer.group_metadata() else {
            return Err(Error::new(ErrorKind::Config(
                "the consumer has no group metadata (no `group.id`?)".into(),
            )));
        };
        self.send_offsets_as(Arc::new(group), offsets).await
    }

    /// [`send_offsets`](Self::send_offsets) with group metadata taken
    /// earlier (when the records were read).
    pub(crate) async fn send_offsets_as(
        &self,
        group: Arc<ConsumerGroupMetadata>,
        offsets: &TopicPartitionList,
    ) -> Result<()> {
        let client = self.producer.inner();
        let offsets = offsets.clone();
        let timeout = self.producer.timeout;
        blocking(move || client.send_offsets_to_transaction(&offsets, &group, timeout))
            .await
            .map_err(classify)
    }

    /// Commits: waits until every record sent in the transaction is
    /// acknowledged, then makes them and the offsets visible at once.
    ///
    /// When the commit fails with [`TransactionAction::Abort`], the
    /// transaction has been aborted before the error is returned: go back
    /// to the input it covered and process it again. A
    /// [`TransactionAction::Retry`] error means the coordinator did not
    /// answer within the producer's timeout (retried until then): the
    /// outcome is unknown, and librdkafka accepts no other transaction call
    /// until a commit completes; drop the producer, and a new one with the
    /// same `transactional.id` settles it (aborts it, if it did not commit).
    pub async fn commit(mut self) -> Result<()> {
        let done = self.producer.end(true).await;
        // Whatever happened, the transaction is no longer this value's to
        // abort on drop: committed, aborted below, or with a commit still in
        // progress that a new abort would conflict with.
        self.open = false;
        match done {
            Err(e) if e.transaction_action() == Some(TransactionAction::Abort) => {
                if let Err(abort) = self.producer.end(false).await {
                    tracing::error!(error = %abort, cause = %e, "aborting after a failed commit failed");
                    return Err(abort);
                }
                Err(e)
            }
            done => done,
        }
    }

    /// Aborts: nothing sent in the transaction becomes visible to
    /// `read_committed` consumers, and its offsets are not committed.
    pub async fn abort(mut self) -> Result<()> {
        let done = self.producer.end(false).await;
        self.open = false;
        done
    }
}

impl Drop for Transaction<'_> {
    fn drop(&mut self) {
        if self.open {
            // Not aborted here: a drop cannot wait, and a call of this
            // transaction may still be running off the async workers.
            tracing::warn!("a transaction was dropped while open; it is aborted when the producer begins the next");
            self.producer.dropped_open.store(true, Ordering::SeqCst);
        }
    }
}
