use std::future::Future;
use std::marker::PhantomData;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use futures::stream::BoxStream;
use rdkafka::consumer::{
    BaseConsumer, CommitMode as RdCommitMode, Consumer as _, ConsumerContext, Rebalance,
    StreamConsumer,
};
use rdkafka::message::{BorrowedMessage, Header, Message, OwnedHeaders};
use rdkafka::ClientConfig;
use rdkafka::ClientContext;

use super::producer::Producer;
use super::record::{header, meta_of, Record, Topics};
use crate::codec::{Hints, KafkaCodec};
use crate::error::{BoxError, Error, ErrorKind, Position, Result};
use crate::headers;
use crate::message::KafkaMessage;

/// What a consumer does with a record it cannot decode (a poison pill).
/// Nothing is ever dropped silently.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PoisonPolicy {
    /// Yield the error, which carries the raw record. The default.
    Fail,
    /// Log it, count it, mark it handled and move on.
    Skip,
    /// Republish the raw key, value and headers to this topic with error
    /// headers (see [`headers`](crate::headers)); mark the source record
    /// handled only once the dead letter was acknowledged.
    DeadLetter(String),
}

/// When offsets are committed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CommitMode {
    /// librdkafka's default: offsets are stored as records are handed to the
    /// application and committed in the background (at most once).
    #[default]
    Auto,
    /// At least once: an offset is stored only when the record was handled
    /// ([`Consumer::ack`], or automatically by [`Consumer::run`]), committed
    /// in the background (`auto.commit.interval.ms`), synchronously when
    /// partitions are revoked, and synchronously on shutdown. A broker that
    /// refuses the commit during a rebalance (librdkafka's mock cluster
    /// does) makes the next owner repeat what was handled since the last
    /// periodic commit: duplicates, never losses.
    Manual,
}

/// The rdkafka context of this crate's consumers.
///
/// In [`CommitMode::Manual`] it commits the stored offsets synchronously
/// when partitions are revoked, before the group moves them: the next owner
/// then starts right after the last handled record instead of at the last
/// periodic commit, so a rebalance repeats nothing.
#[derive(Debug, Clone, Copy)]
pub struct CodecContext {
    commit_on_revoke: bool,
}

impl ClientContext for CodecContext {}

impl ConsumerContext for CodecContext {
    fn pre_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        let Rebalance::Revoke(partitions) = rebalance else {
            return;
        };
        if !self.commit_on_revoke || partitions.count() == 0 {
            return;
        }
        match consumer.commit_consumer_state(RdCommitMode::Sync) {
            Ok(()) => {}
            Err(e)
                if e.rdkafka_error_code() == Some(rdkafka::types::RDKafkaErrorCode::NoOffset) => {}
            Err(e) => {
                tracing::warn!(error = %e, "commit on revoke failed; records may be delivered again");
            }
        }
    }
}

/// Counters of one consumer.
#[derive(Debug, Default)]
pub struct ConsumerStats {
    decoded: AtomicU64,
    skipped: AtomicU64,
    dead_lettered: AtomicU64,
}

impl ConsumerStats {
    /// Records decoded and handed out.
    pub fn decoded(&self) -> u64 {
        self.decoded.load(Ordering::Relaxed)
    }
    /// Poison pills skipped.
    pub fn skipped(&self) -> u64 {
        self.skipped.load(Ordering::Relaxed)
    }
    /// Poison pills dead-lettered.
    pub fn dead_lettered(&self) -> u64 {
        self.dead_lettered.load(Ordering::Relaxed)
    }
}

/// Builds a [`Consumer`].
#[derive(Debug, Clone)]
pub struct ConsumerBuilder {
    config: ClientConfig,
    policy: PoisonPolicy,
    commit: CommitMode,
    topics: Vec<String>,
    limits: HeaderLimits,
}

/// Bounds on the headers of incoming records; a record over them is a
/// poison pill ([`ErrorKind::Header`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct HeaderLimits {
    count: usize,
    bytes: usize,
}

impl HeaderLimits {
    fn exceeded(&self, meta: &crate::RecordMeta) -> Option<String> {
        if meta.headers.len() > self.count {
            return Some(format!(
                "{} headers, more than the limit of {}",
                meta.headers.len(),
                self.count
            ));
        }
        let bytes: usize = meta
            .headers
            .iter()
            .map(|(k, v)| k.len() + v.as_ref().map_or(0, bytes::Bytes::len))
            .sum();
        (bytes > self.bytes).then(|| {
            format!(
                "{bytes} bytes of headers, more than the limit of {}",
                self.bytes
            )
        })
    }
}

impl Default for HeaderLimits {
    fn default() -> Self {
        HeaderLimits {
            count: 64,
            bytes: 64 * 1024,
        }
    }
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
    pub fn from_config(config: ClientConfig) -> Self {
        ConsumerBuilder {
            config,
            policy: PoisonPolicy::Fail,
            commit: CommitMode::Auto,
            topics: Vec::new(),
            limits: HeaderLimits::default(),
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

    /// The poison-pill policy.
    #[must_use]
    pub fn policy(mut self, policy: PoisonPolicy) -> Self {
        self.policy = policy;
        self
    }

    /// The commit mode.
    #[must_use]
    pub fn commit_mode(mut self, mode: CommitMode) -> Self {
        self.commit = mode;
        self
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
        let (consumer, topics) = self.create::<T, C>(codec)?;
        let topics: Vec<&str> = topics.iter().map(String::as_str).collect();
        consumer.inner.subscribe(&topics)?;
        Ok(consumer)
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
        let (consumer, topics) = self.create::<T, C>(codec)?;
        super::Partitioned::assign(consumer, &topics)
    }

    fn create<T: KafkaMessage, C: KafkaCodec<T>>(
        self,
        codec: C,
    ) -> Result<(Consumer<T, C>, Vec<String>)> {
        T::check()?;
        let mut config = self.config.clone();
        if self.commit == CommitMode::Manual {
            config.set("enable.auto.offset.store", "false");
        }
        let inner: StreamConsumer<CodecContext> = config.create_with_context(CodecContext {
            commit_on_revoke: self.commit == CommitMode::Manual,
        })?;
        let topics: Vec<String> = if self.topics.is_empty() {
            T::TOPIC.into_iter().map(str::to_owned).collect()
        } else {
            self.topics.clone()
        };
        if topics.is_empty() {
            return Err(Error::new(ErrorKind::Other(
                format!(
                    "no topic to subscribe to: `{}` has no default topic",
                    T::NAME
                )
                .into(),
            )));
        }
        let dead_letters = match &self.policy {
            PoisonPolicy::DeadLetter(_) => {
                let servers = self.config.get("bootstrap.servers").unwrap_or_default();
                Some(Producer::builder(servers).build()?)
            }
            _ => None,
        };
        let consumer = Consumer {
            inner: Arc::new(inner),
            codec,
            policy: self.policy,
            commit: self.commit,
            limits: self.limits,
            topics: Topics::default(),
            dead_letters,
            stats: ConsumerStats::default(),
            _marker: PhantomData,
        };
        Ok((consumer, topics))
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
/// }
/// # Ok(()) }
/// ```
pub struct Consumer<T: KafkaMessage, C: KafkaCodec<T> = <T as KafkaMessage>::Codec> {
    pub(crate) inner: Arc<StreamConsumer<CodecContext>>,
    codec: C,
    policy: PoisonPolicy,
    commit: CommitMode,
    limits: HeaderLimits,
    topics: Topics,
    dead_letters: Option<Producer>,
    stats: ConsumerStats,
    _marker: PhantomData<fn() -> T>,
}

impl<T: KafkaMessage, C: KafkaCodec<T>> std::fmt::Debug for Consumer<T, C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Consumer")
            .field("type", &T::NAME)
            .field("policy", &self.policy)
            .field("commit", &self.commit)
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

impl<T: KafkaMessage, C: KafkaCodec<T>> Consumer<T, C> {
    /// The underlying rdkafka consumer.
    pub fn inner(&self) -> &StreamConsumer<CodecContext> {
        &self.inner
    }

    /// Counters.
    pub fn stats(&self) -> &ConsumerStats {
        &self.stats
    }

    /// The next decoded record, applying the poison-pill policy to records
    /// that do not decode.
    ///
    /// Transient client errors that librdkafka reports while it reconnects
    /// (all brokers down, a transport failure, a timeout) are logged and
    /// waited out rather than returned, so a broker outage does not stop a
    /// [`run`](Self::run) loop or a [`Group`](super::Group) member.
    pub async fn next(&self) -> Result<Record<T>> {
        loop {
            let msg = match self.inner.recv().await {
                Ok(msg) => msg,
                Err(e) => {
                    wait_out(e)?;
                    continue;
                }
            };
            if let Some(record) = self.process(&msg).await? {
                return Ok(record);
            }
        }
    }

    /// Decodes one message; a poison pill is handled by the policy and gives
    /// `None` (or the error, under [`PoisonPolicy::Fail`]).
    pub(crate) async fn process(&self, msg: &BorrowedMessage<'_>) -> Result<Option<Record<T>>> {
        let err = match self.decode(msg) {
            Ok(record) => {
                self.stats.decoded.fetch_add(1, Ordering::Relaxed);
                return Ok(Some(record));
            }
            Err(err) => err,
        };
        match &self.policy {
            PoisonPolicy::Fail => return Err(err),
            PoisonPolicy::Skip => {
                tracing::warn!(
                    topic = msg.topic(),
                    partition = msg.partition(),
                    offset = msg.offset(),
                    error = %err,
                    "skipping a record that does not decode"
                );
                self.stats.skipped.fetch_add(1, Ordering::Relaxed);
            }
            PoisonPolicy::DeadLetter(topic) => {
                self.dead_letter(topic, msg, &err).await?;
                self.stats.dead_lettered.fetch_add(1, Ordering::Relaxed);
            }
        }
        self.mark_handled(msg.topic(), msg.partition(), msg.offset())?;
        Ok(None)
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

    /// Marks a record handled. In [`CommitMode::Manual`] this stores its
    /// offset for the next commit; in [`CommitMode::Auto`] it does nothing.
    pub fn ack(&self, record: &Record<T>) -> Result<()> {
        self.mark_handled(record.topic(), record.partition(), record.offset())
    }

    /// Commits the stored offsets now and waits for the broker.
    pub fn commit(&self) -> Result<()> {
        match self.inner.commit_consumer_state(RdCommitMode::Sync) {
            Ok(()) => Ok(()),
            // Nothing stored yet is not a failure.
            Err(e)
                if e.rdkafka_error_code() == Some(rdkafka::types::RDKafkaErrorCode::NoOffset) =>
            {
                Ok(())
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Handles records with `handler` until `shutdown` completes, then
    /// commits what was handled. A record counts as handled when the handler
    /// returned `Ok`; a handler error stops the loop and is returned, with the
    /// record's offset not stored. Returns how many records were handled.
    pub async fn run<F, Fut>(
        &self,
        shutdown: impl Future<Output = ()>,
        mut handler: F,
    ) -> Result<u64>
    where
        F: FnMut(Record<T>) -> Fut,
        Fut: Future<Output = std::result::Result<(), BoxError>>,
    {
        tokio::pin!(shutdown);
        let mut count = 0u64;
        let outcome = loop {
            let record = tokio::select! {
                biased;
                () = &mut shutdown => break Ok(()),
                next = self.next() => next,
            };
            let record = match record {
                Ok(r) => r,
                Err(e) => break Err(e),
            };
            let meta = record.meta().clone();
            if let Err(e) = handler(record).await {
                break Err(Error::new(ErrorKind::Handler(e)).at_record(meta));
            }
            if let Err(e) = self.mark_handled(&meta.topic, meta.partition, meta.offset) {
                break Err(e);
            }
            count += 1;
        };
        let committed = if self.commit == CommitMode::Manual {
            self.commit_at_shutdown()
        } else {
            Ok(())
        };
        outcome.and(committed).map(|()| count)
    }

    /// The commit at shutdown. When the group is rebalancing because members
    /// are leaving, or this member's generation is gone, the broker refuses
    /// the commit; the records stay uncommitted and are delivered again to
    /// the next owner (at least once: duplicates possible, nothing lost).
    /// librdkafka also commits stored offsets when the consumer closes.
    pub(crate) fn commit_at_shutdown(&self) -> Result<()> {
        use rdkafka::types::RDKafkaErrorCode as C;
        match self.commit() {
            Err(e)
                if matches!(
                    e.kind(),
                    ErrorKind::Kafka(k) if matches!(
                        k.rdkafka_error_code(),
                        Some(C::RebalanceInProgress | C::IllegalGeneration | C::UnknownMemberId)
                    )
                ) =>
            {
                tracing::warn!(error = %e, "final commit refused during a rebalance");
                Ok(())
            }
            other => other,
        }
    }

    pub(crate) fn mark_handled(&self, topic: &str, partition: i32, offset: i64) -> Result<()> {
        if self.commit == CommitMode::Manual {
            self.inner.store_offset(topic, partition, offset)?;
        }
        Ok(())
    }

    fn decode(&self, msg: &BorrowedMessage<'_>) -> Result<Record<T>> {
        let (meta, shared_payload) = meta_of(msg, &self.topics);
        if let Some(why) = self.limits.exceeded(&meta) {
            let mut e = Error::new(ErrorKind::Header {
                name: "*".into(),
                reason: why,
            });
            if let Some(p) = shared_payload {
                e = e.payload_bytes(p);
            }
            return Err(e.at_record(meta));
        }
        let Some(shared_payload) = shared_payload else {
            return Err(Error::malformed(
                self.codec.content_type().to_owned(),
                Position::Unknown,
                "the record has no value (a tombstone)",
                &[],
            )
            .at_record(meta));
        };
        let payload: &[u8] = &shared_payload;
        let text = |name: &str| -> Result<Option<&str>> {
            header(&meta, name)
                .map(|v| {
                    std::str::from_utf8(v).map_err(|_| {
                        Error::with_payload(
                            ErrorKind::Header {
                                name: name.to_owned(),
                                reason: "not UTF-8".into(),
                            },
                            payload,
                        )
                    })
                })
                .transpose()
        };
        let decoded = (|| {
            let content_type = text(headers::CONTENT_TYPE)?;
            let type_name = text(headers::TYPE)?;
            // `decode_with` refuses a content type the codec does not read.
            T::decode_with(&self.codec, payload, &Hints::new(content_type, type_name))
        })();
        match decoded {
            Ok(value) => Ok(Record::new(meta, shared_payload.clone(), value)),
            Err(e) => Err(e.at_record(meta)),
        }
    }

    async fn dead_letter(&self, topic: &str, msg: &BorrowedMessage<'_>, err: &Error) -> Result<()> {
        let producer = self
            .dead_letters
            .as_ref()
            .ok_or_else(|| Error::new(ErrorKind::Other("no dead-letter producer".into())))?;
        let mut hs = OwnedHeaders::new();
        if let Some(meta) = err.record() {
            for (k, v) in &meta.headers {
                hs = hs.insert(Header {
                    key: k,
                    value: v.as_deref(),
                });
            }
        }
        let partition = msg.partition().to_string();
        let offset = msg.offset().to_string();
        let message = err.to_string();
        for (key, value) in [
            (headers::DLQ_ERROR_KIND, kind_name(err.kind())),
            (headers::DLQ_ERROR_MESSAGE, message.as_str()),
            (headers::DLQ_TOPIC, msg.topic()),
            (headers::DLQ_PARTITION, partition.as_str()),
            (headers::DLQ_OFFSET, offset.as_str()),
        ] {
            hs = hs.insert(Header {
                key,
                value: Some(value),
            });
        }
        producer
            .send_raw(topic, msg.key(), msg.payload(), hs)
            .await
            .map(drop)
            .map_err(|e| {
                tracing::error!(error = %e, "dead-lettering failed; the record stays unhandled");
                e
            })
    }
}

/// Passes a transient client error (logged), returns any other.
pub(crate) fn wait_out(e: rdkafka::error::KafkaError) -> Result<()> {
    let e = Error::from(e);
    if e.is_retriable() {
        tracing::warn!(error = %e, "transient consumer error; librdkafka is recovering");
        Ok(())
    } else {
        Err(e)
    }
}

/// A short, stable name for an error kind, for the dead-letter header.
pub(crate) fn kind_name(kind: &ErrorKind) -> &'static str {
    match kind {
        ErrorKind::Malformed { .. } => "malformed",
        ErrorKind::ContentTypeMismatch { .. } => "content_type_mismatch",
        ErrorKind::UnknownType { .. } => "unknown_type",
        ErrorKind::MissingTag { .. } => "missing_tag",
        ErrorKind::DuplicateTag { .. } => "duplicate_tag",
        ErrorKind::TooLarge { .. } => "too_large",
        ErrorKind::TooDeep { .. } => "too_deep",
        ErrorKind::Encode { .. } => "encode",
        ErrorKind::Header { .. } => "header",
        ErrorKind::Kafka(_) => "kafka",
        ErrorKind::Handler(_) => "handler",
        ErrorKind::Other(_) => "other",
    }
}
