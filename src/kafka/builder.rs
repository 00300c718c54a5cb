//! [`ConsumerBuilder`]: every consumer shape is built here, from one
//! configuration.

use std::marker::PhantomData;
use std::sync::Arc;
use std::time::Duration;

use rdkafka::consumer::Consumer as _;
use rdkafka::ClientConfig;

use super::consumer::Consumer;
use super::context::UserContext;
use super::core::{Core, HeaderLimits};
use super::dead_letter::{producer_config, DeadLetters};
use super::exactly_once::ExactlyOnce;
use super::health::Health;
use super::partitioned::Partitioned;
use super::policy::{CommitMode, DeadLetterLimit, FailurePolicy, Recover};
use super::producer::Producer;
use super::rebalance::{self, Client, CodecContext, Router};
use super::stats::ConsumerStats;
use super::telemetry::{Sampler, Sampling, TraceContext};
use super::tracker::Tracker;
use super::transaction::TransactionalProducer;
use crate::codec::KafkaCodec;
use crate::error::{Error, ErrorKind, Result};
use crate::message::KafkaMessage;

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
    /// [`Partitioned`](Partitioned), [`Consumer::run_batches`])
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

    /// Creates an [`ExactlyOnce`](ExactlyOnce) pipeline reading `T`
    /// and writing through `producer`: the consumer reads with
    /// `isolation.level=read_committed` (unless set otherwise) and commits
    /// no offset itself (`enable.auto.commit=false`, whatever the
    /// [`CommitMode`]); its offsets are committed in the pipeline's
    /// transactions, and so are its dead letters.
    pub fn build_exactly_once<T: KafkaMessage>(
        self,
        producer: TransactionalProducer,
    ) -> Result<ExactlyOnce<T>> {
        self.build_exactly_once_with(T::Codec::default(), producer)
    }

    /// [`build_exactly_once`](Self::build_exactly_once) with an explicit
    /// codec.
    pub fn build_exactly_once_with<T: KafkaMessage, C: KafkaCodec<T>>(
        self,
        codec: C,
        producer: TransactionalProducer,
    ) -> Result<ExactlyOnce<T, C>> {
        let consumer = self.create(codec, None, true)?;
        Ok(ExactlyOnce::new(consumer, producer))
    }

    /// Creates a consumer of `T` that processes its partitions concurrently
    /// through one rdkafka client. See [`Partitioned`](Partitioned).
    pub fn build_partitioned<T: KafkaMessage>(self) -> Result<Partitioned<T>> {
        self.build_partitioned_with(T::Codec::default())
    }

    /// [`build_partitioned`](Self::build_partitioned) with an explicit codec.
    pub fn build_partitioned_with<T: KafkaMessage, C: KafkaCodec<T> + 'static>(
        self,
        codec: C,
    ) -> Result<Partitioned<T, C>> {
        let router = Arc::new(Router::default());
        let consumer = self.create(codec, Some(router.clone()), false)?;
        Ok(Partitioned::new(consumer, router))
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
                revocations: rebalance::Revocations::default(),
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
            let producer =
                Producer::with_context(producer_config(&self.config), self.context.clone())?;
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
