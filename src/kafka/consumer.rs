use std::future::Future;
use std::marker::PhantomData;
use std::sync::Arc;
use std::time::Duration;

use futures::stream::BoxStream;
use futures::TryFutureExt as _;
use rdkafka::consumer::Consumer as _;
use rdkafka::message::{BorrowedMessage, Message as _};
use rdkafka::util::Timeout;
use rdkafka::{ClientConfig, Offset};

use super::client::{self, blocking, Client, CodecContext};
use super::context::UserContext;
use super::core::{Core, End, HeaderLimits};
use super::dead_letter::{producer_config, DeadLetters};
use super::health::Health;
use super::partitioned::Router;
use super::policy::{DeadLetterLimit, FailurePolicy, Recover};
use super::producer::Producer;
use super::record::Record;
use super::report::Report;
use super::shutdown::Shutdown;
use super::stats::ConsumerStats;
use super::telemetry::{Sampler, Sampling, TraceContext};
use super::tracker::Tracker;
use crate::codec::KafkaCodec;
use crate::error::{BoxError, Error, ErrorKind, Result};
use crate::message::KafkaMessage;

/// When offsets are committed: at least once (the default) or at most once.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CommitMode {
    /// At least once, the default: an offset is stored only when the record
    /// was settled (handled, skipped or dead-lettered: automatically by the
    /// runs, by [`Consumer::ack`] for records from
    /// [`next`](Consumer::next) and [`stream`](Consumer::stream)), and
    /// never past a record handed out earlier that is not settled yet
    /// (tracked commits). Stored offsets are committed in the background
    /// (`auto.commit.interval.ms`), synchronously when partitions are
    /// revoked, and at the end of a run. A broker that refuses the commit
    /// during a rebalance makes the next owner repeat what was handled since
    /// the last commit: duplicates, never losses.
    #[default]
    AtLeastOnce,
    /// librdkafka's own default: offsets are stored as records are handed to
    /// the application and committed in the background, whether or not
    /// they were handled. A crash loses the records in hand; nothing is
    /// tracked, and `ack` does nothing.
    AtMostOnce,
}

/// Where a consumer group with no committed offset starts reading.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum StartFrom {
    /// The oldest record still in the topic. The default of this crate.
    #[default]
    Earliest,
    /// Only records written after the group joined.
    Latest,
}

/// Builds a [`Consumer`].
#[derive(Debug, Clone)]
pub struct ConsumerBuilder {
    config: ClientConfig,
    poison: Option<Recover>,
    dead_letter_topic: Option<String>,
    failure: FailurePolicy,
    dead_letter_limit: DeadLetterLimit,
    commit: CommitMode,
    topics: Vec<String>,
    limits: HeaderLimits,
    max_unsettled: usize,
    commit_patience: Duration,
    trace: TraceContext,
    sampling: Sampling,
    health: Option<Health>,
    context: UserContext,
}

impl ConsumerBuilder {
    /// A builder for `group_id` on `bootstrap_servers`, reading from the
    /// earliest offset when the group has none.
    pub fn new(bootstrap_servers: &str, group_id: &str) -> Self {
        let mut config = ClientConfig::new();
        config
            .set("bootstrap.servers", bootstrap_servers)
            .set("group.id", group_id)
            .set("auto.offset.reset", "earliest");
        Self::from_config(config)
    }

    /// A builder from a full rdkafka configuration (`group.id` required).
    /// A dead-letter producer gets the same configuration (security
    /// settings included) less the consumer-only properties.
    pub fn from_config(config: ClientConfig) -> Self {
        ConsumerBuilder {
            config,
            poison: None,
            dead_letter_topic: None,
            failure: FailurePolicy::default(),
            dead_letter_limit: DeadLetterLimit::default(),
            commit: CommitMode::AtLeastOnce,
            topics: Vec::new(),
            limits: HeaderLimits::default(),
            max_unsettled: 1000,
            commit_patience: Duration::from_secs(10),
            trace: TraceContext::default(),
            sampling: Sampling::ALL,
            health: None,
            context: UserContext::default(),
        }
    }

    /// The most headers a record may carry (default 64).
    #[must_use]
    pub fn max_headers(mut self, count: usize) -> Self {
        self.limits.count = count;
        self
    }

    /// The most bytes a record's header names and values may take together
    /// (default 64 KiB).
    #[must_use]
    pub fn max_header_bytes(mut self, bytes: usize) -> Self {
        self.limits.bytes = bytes;
        self
    }

    /// Sets any librdkafka property.
    #[must_use]
    pub fn set(mut self, key: &str, value: impl Into<String>) -> Self {
        self.config.set(key, value);
        self
    }

    /// Where dead letters go: records that do not decode (poison pills) and
    /// records whose handler failed for the last time. Once it is set, both
    /// are dead-lettered unless [`on_poison`](Self::on_poison) or
    /// [`FailurePolicy::recover`] say otherwise.
    #[must_use]
    pub fn dead_letter_topic(mut self, topic: impl Into<String>) -> Self {
        self.dead_letter_topic = Some(topic.into());
        self
    }

    /// What becomes of records that do not decode (poison pills). Default:
    /// [`Recover::DeadLetter`] with a [`dead_letter_topic`](Self::dead_letter_topic),
    /// else [`Recover::Fail`] (the run stops with an error that carries the
    /// record, and `next` returns it).
    #[must_use]
    pub fn on_poison(mut self, recover: Recover) -> Self {
        self.poison = Some(recover);
        self
    }

    /// The failure policy: what happens when a handler run by the consumer
    /// ([`Consumer::run`], [`Group`](super::Group),
    /// [`Partitioned`](super::Partitioned), [`Consumer::run_batches`])
    /// fails.
    #[must_use]
    pub fn on_failure(mut self, policy: FailurePolicy) -> Self {
        self.failure = policy;
        self
    }

    /// Stops the consumer rather than dead-letter past this limit.
    #[must_use]
    pub fn dead_letter_limit(mut self, limit: DeadLetterLimit) -> Self {
        self.dead_letter_limit = limit;
        self
    }

    /// The commit mode.
    #[must_use]
    pub fn commit_mode(mut self, mode: CommitMode) -> Self {
        self.commit = mode;
        self
    }

    /// In [`CommitMode::AtLeastOnce`], how many records of one partition may be
    /// handed out and not yet settled before the partition is paused
    /// (default 1000); it resumes when half of them are settled. This bounds
    /// how far a consumer runs ahead of its commits (and so what a rebalance
    /// repeats); a consumer of [`next`](Consumer::next) that never acks
    /// stops there, with a warning.
    #[must_use]
    pub fn max_unsettled_per_partition(mut self, records: usize) -> Self {
        self.max_unsettled = records;
        self
    }

    /// How long the commit at the end of a run keeps retrying while the
    /// group coordinator is unreachable (default 10 s).
    #[must_use]
    pub fn final_commit_patience(mut self, patience: Duration) -> Self {
        self.commit_patience = patience;
        self
    }

    /// How each record's `process` span relates to the span that sent it,
    /// named by the record's `traceparent` header (feature `otel`): a link
    /// (the default) or a child.
    #[must_use]
    pub fn trace_context(mut self, trace: TraceContext) -> Self {
        self.trace = trace;
        self
    }

    /// Which records the consumer runs in a `process` span (default: all):
    /// one in `N`, and with feature `otel` every record whose
    /// `traceparent` says sampled (in place of the count's next choice);
    /// the others run in no span at all, so tracing them costs nothing. A
    /// [batch](super::Batch) is one decision. Metrics count every record.
    /// See [`Sampling`].
    ///
    /// ```no_run
    /// # #[derive(Debug, serde::Serialize, serde::Deserialize, kafka_codec::KafkaMessage)]
    /// # #[kafka(topic = "orders")]
    /// # struct Order { id: u32 }
    /// use kafka_codec::kafka::{ConsumerBuilder, Sampling};
    /// let consumer = ConsumerBuilder::new("localhost:9092", "billing")
    ///     .span_sampling(Sampling::ratio(0.01)) // one record in 100
    ///     .build::<Order>()?;
    /// # Ok::<_, kafka_codec::Error>(())
    /// ```
    #[must_use]
    pub fn span_sampling(mut self, sampling: Sampling) -> Self {
        self.sampling = sampling;
        self
    }

    /// An rdkafka client context of your own: its log, error and
    /// statistics callbacks, and its OAUTHBEARER token refresh, for the
    /// consumer and its dead-letter producer. See [`UserContext`].
    #[must_use]
    pub fn context(mut self, context: impl rdkafka::ClientContext + 'static) -> Self {
        self.context = UserContext::new(context);
        self
    }

    /// Reports to `health` (every consumer built from this builder, so every
    /// member of a [`Group`](super::Group)): their assignment, when they last
    /// asked for a record, their lag.
    #[must_use]
    pub fn health(mut self, health: &Health) -> Self {
        self.health = Some(health.clone());
        self
    }

    /// Where a group with no committed offset starts (`auto.offset.reset`).
    #[must_use]
    pub fn start_from(self, start: StartFrom) -> Self {
        let reset = match start {
            StartFrom::Earliest => "earliest",
            StartFrom::Latest => "latest",
        };
        self.set("auto.offset.reset", reset)
    }

    /// Topics to subscribe to; default: the type's topic.
    #[must_use]
    pub fn topics<S: AsRef<str>>(mut self, topics: &[S]) -> Self {
        self.topics = topics.iter().map(|t| t.as_ref().to_owned()).collect();
        self
    }

    /// Creates and subscribes a consumer of `T` with its default codec.
    pub fn build<T: KafkaMessage>(self) -> Result<Consumer<T>> {
        self.build_with(T::Codec::default())
    }

    /// Creates and subscribes a consumer of `T` with `codec`.
    pub fn build_with<T: KafkaMessage, C: KafkaCodec<T>>(self, codec: C) -> Result<Consumer<T, C>> {
        self.create(codec, None, false)
    }

    /// Creates an [`ExactlyOnce`](super::ExactlyOnce) pipeline reading `T`
    /// and writing through `producer`: the consumer reads with
    /// `isolation.level=read_committed` (unless set otherwise) and commits
    /// no offset itself (`enable.auto.commit=false`, whatever the
    /// [`CommitMode`]); its offsets are committed in the pipeline's
    /// transactions, and so are its dead letters.
    pub fn build_exactly_once<T: KafkaMessage>(
        self,
        producer: super::TransactionalProducer,
    ) -> Result<super::ExactlyOnce<T>> {
        self.build_exactly_once_with(T::Codec::default(), producer)
    }

    /// [`build_exactly_once`](Self::build_exactly_once) with an explicit
    /// codec.
    pub fn build_exactly_once_with<T: KafkaMessage, C: KafkaCodec<T>>(
        self,
        codec: C,
        producer: super::TransactionalProducer,
    ) -> Result<super::ExactlyOnce<T, C>> {
        let consumer = self.create(codec, None, true)?;
        Ok(super::ExactlyOnce::new(consumer, producer))
    }

    /// Creates a consumer of `T` that processes its partitions concurrently
    /// through one rdkafka client. See [`Partitioned`](super::Partitioned).
    pub fn build_partitioned<T: KafkaMessage>(self) -> Result<super::Partitioned<T>> {
        self.build_partitioned_with(T::Codec::default())
    }

    /// [`build_partitioned`](Self::build_partitioned) with an explicit codec.
    pub fn build_partitioned_with<T: KafkaMessage, C: KafkaCodec<T> + 'static>(
        self,
        codec: C,
    ) -> Result<super::Partitioned<T, C>> {
        let router = Arc::new(Router::default());
        let consumer = self.create(codec, Some(router.clone()), false)?;
        Ok(super::Partitioned::new(consumer, router))
    }

    /// Creates the consumer; `transactional`: for an exactly-once pipeline
    /// (offsets and dead letters go through its transactions).
    fn create<T: KafkaMessage, C: KafkaCodec<T>>(
        mut self,
        codec: C,
        router: Option<Arc<Router>>,
        transactional: bool,
    ) -> Result<Consumer<T, C>> {
        T::check()?;
        let topics: Vec<String> = if self.topics.is_empty() {
            T::TOPIC.into_iter().map(str::to_owned).collect()
        } else {
            self.topics.clone()
        };
        if topics.is_empty() {
            return Err(Error::new(ErrorKind::NoTopic { type_name: T::NAME }));
        }
        let dead_letter_topic = self.dead_letter_topic.take();
        let poison = Recover::resolve(self.poison, dead_letter_topic.is_some());
        let recover = Recover::resolve(self.failure.recover, dead_letter_topic.is_some());
        let dead_letters = poison == Recover::DeadLetter || recover == Recover::DeadLetter;
        if dead_letters && dead_letter_topic.is_none() {
            return Err(Error::new(ErrorKind::Config(
                "Recover::DeadLetter needs a dead-letter topic: ConsumerBuilder::dead_letter_topic"
                    .into(),
            )));
        }
        if transactional {
            // Offsets go through the pipeline's transactions instead.
            self.commit = CommitMode::AtMostOnce;
            self.config.set("enable.auto.commit", "false");
            // Nothing to commit outside a transaction, even by hand.
            self.config.set("enable.auto.offset.store", "false");
            if self.config.get("isolation.level").is_none() {
                self.config.set("isolation.level", "read_committed");
            }
        }
        let mut config = self.config.clone();
        super::metrics::configure(&mut config);
        if self.commit == CommitMode::AtLeastOnce {
            config.set("enable.auto.offset.store", "false");
        }
        let tracker = Arc::new(Tracker::new(self.max_unsettled));
        let client: Arc<Client> = Arc::new(
            config.create_with_context(CodecContext {
                commit_on_revoke: self.commit == CommitMode::AtLeastOnce,
                closing: std::sync::atomic::AtomicBool::new(false),
                tracker: tracker.clone(),
                router: router.clone(),
                revocations: client::Revocations::default(),
                group: config.get("group.id").unwrap_or_default().to_owned(),
                cooperative: config
                    .get("partition.assignment.strategy")
                    .is_some_and(|s| s.contains("cooperative")),
                user: self.context.clone(),
            })?,
        );
        if let Some(router) = &router {
            router.attach(&client);
        }
        if let Some(health) = &self.health {
            health.attach(&client);
        }
        let dead_letters = if dead_letters && transactional {
            Some(DeadLetters::deferred(self.dead_letter_limit))
        } else if dead_letters {
            let producer = Producer::create(
                producer_config(&self.config),
                self.context.clone(),
                Duration::from_secs(30),
                3,
                Sampling::ALL,
            )?;
            Some(DeadLetters::new(producer, self.dead_letter_limit))
        } else {
            None
        };
        let topic_refs: Vec<&str> = topics.iter().map(String::as_str).collect();
        client.subscribe(&topic_refs)?;
        Ok(Consumer {
            core: Arc::new(Core {
                client,
                codec,
                poison,
                failure: self.failure,
                recover,
                dead_letter_topic,
                commit: self.commit,
                limits: self.limits,
                dead_letters,
                stats: ConsumerStats::default(),
                tracker,
                trace: self.trace,
                sampler: Sampler::new(self.sampling),
                health: self.health,
                _marker: PhantomData,
            }),
            commit_patience: self.commit_patience,
            stashed: std::sync::Mutex::new(None),
        })
    }
}

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
    commit_patience: Duration,
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
                Err(e) => client::wait_out(e).await?,
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
    /// returned under [`Recover::Fail`] that the caller dealt with), so
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
        client::commit(&self.core.client)
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
    /// [`FailurePolicy`] (by default, with no dead-letter topic: the run
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
            client::commit_final(&self.core.client, self.commit_patience).await
        } else {
            Ok(())
        }
    }
}
