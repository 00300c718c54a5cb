use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use rdkafka::error::KafkaError;
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{DeliveryFuture, FutureProducer, FutureRecord, Producer as _};
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::util::Timeout;
use rdkafka::ClientConfig;
use serde::Serialize;

use super::context::UserContext;
use super::metrics;
use super::telemetry::{self, Sampler, Sampling};

use crate::codec::KafkaCodec;
use crate::error::{Error, ErrorKind, Result};
use crate::headers;
use crate::message::{KafkaMessage, ToKey};

/// Where an acknowledged record landed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Delivery {
    /// The partition.
    pub partition: i32,
    /// The offset.
    pub offset: i64,
    /// The record's timestamp in milliseconds since the Unix epoch (the
    /// producer's, or the broker's on a topic with `LogAppendTime`), when
    /// the broker said.
    pub timestamp: Option<i64>,
}

/// What a single send may set beyond its message: extra headers, a key in
/// place of the type's, a partition, a timestamp. See
/// [`Producer::send_opts`].
///
/// ```
/// use kafka_codec::kafka::SendOptions;
/// let options = SendOptions::new()
///     .header("tenant", "acme")
///     .key(&"order-42")
///     .partition(3)
///     .timestamp(1_700_000_000_000);
/// # let _ = options;
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SendOptions {
    headers: Vec<(String, Vec<u8>)>,
    key: Option<Vec<u8>>,
    partition: Option<i32>,
    timestamp: Option<i64>,
}

impl SendOptions {
    /// No options: the send as [`Producer::send_to`] makes it.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a header (after the ones the producer writes).
    #[must_use]
    pub fn header(mut self, name: impl Into<String>, value: impl Into<Vec<u8>>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// The record's key, in place of the one the type writes.
    #[must_use]
    pub fn key<K: ToKey + ?Sized>(mut self, key: &K) -> Self {
        self.key = crate::message::key_bytes(key);
        self
    }

    /// The partition, in place of the partitioner's choice.
    #[must_use]
    pub fn partition(mut self, partition: i32) -> Self {
        self.partition = Some(partition);
        self
    }

    /// The record's timestamp in milliseconds since the Unix epoch, in
    /// place of the send time.
    #[must_use]
    pub fn timestamp(mut self, millis: i64) -> Self {
        self.timestamp = Some(millis);
        self
    }

    /// Applies these options to a record encoded into `buf`.
    fn apply(&self, mut encoded: Encoded, buf: &mut Vec<u8>) -> Encoded {
        if let Some(key) = &self.key {
            // The key follows the payload in the buffer.
            buf.truncate(encoded.end().unwrap_or(0));
            buf.extend_from_slice(key);
            encoded.has_key = true;
        }
        for (name, value) in &self.headers {
            encoded.headers = encoded.headers.insert(Header {
                key: name,
                value: Some(value),
            });
        }
        if let Some(p) = self.partition {
            encoded.partition = p;
        }
        if let Some(t) = self.timestamp {
            encoded.timestamp = t;
        }
        encoded
    }
}

/// Buffers kept for reuse; more than this many in flight allocate afresh.
const POOL: usize = 64;
/// A buffer that grew beyond this is dropped rather than kept.
const POOL_MAX_CAPACITY: usize = 1 << 20;

/// A typed producer: encodes with the type's codec, writes the headers,
/// returns the delivery once acknowledged.
///
/// Cheap to clone (clones share one librdkafka producer); all methods take
/// `&self` and any number of sends can be in flight at once.
///
/// With idempotence on (the default of [`Producer::builder`]), a broker that
/// lost the producer's idempotence state (a broker restarted without it, as
/// Tansu 0.6 does, or a producer id expired on a quiet producer) refuses
/// every later record of that producer id. The producer then starts a new
/// librdkafka producer (a new producer id) and sends the refused records
/// again, up to [`ProducerBuilder::resends`] times each: at least once, so a
/// record the broker wrote before refusing may be written twice. Any other
/// refusal is returned to the caller.
///
/// ```no_run
/// # async fn demo() -> kafka_codec::Result<()> {
/// use kafka_codec::kafka::Producer;
/// # #[derive(serde::Serialize, serde::Deserialize, kafka_codec::KafkaMessage)]
/// # #[kafka(topic = "orders")]
/// # struct Order { id: u32 }
/// let producer = Producer::builder("localhost:9092").build()?;
/// let delivery = producer.send(&Order { id: 1 }).await?;
/// println!("partition {} offset {}", delivery.partition, delivery.offset);
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Producer {
    shared: Arc<Shared>,
}

struct Shared {
    client: RwLock<Arc<FutureProducer<UserContext>>>,
    config: ClientConfig,
    context: UserContext,
    idempotent: bool,
    queue_timeout: Duration,
    resends: u32,
    /// `UNKNOWN_SERVER_ERROR` counts as lost idempotence state (Tansu 0.6).
    unknown_is_lost: AtomicBool,
    resets: AtomicU64,
    pool: Mutex<Vec<Vec<u8>>>,
    sampler: Sampler,
}

impl std::fmt::Debug for Producer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Producer")
            .field("queue_timeout", &self.shared.queue_timeout)
            .field("idempotent", &self.shared.idempotent)
            .field("resets", &self.resets())
            .finish_non_exhaustive()
    }
}

/// Builds a [`Producer`] for the common case.
#[derive(Debug, Clone)]
pub struct ProducerBuilder {
    config: ClientConfig,
    queue_timeout: Duration,
    resends: u32,
    sampling: Sampling,
    context: UserContext,
    unknown_is_lost: bool,
}

impl ProducerBuilder {
    /// Sets any librdkafka property.
    #[must_use]
    pub fn set(mut self, key: &str, value: impl Into<String>) -> Self {
        self.config.set(key, value);
        self
    }

    /// How long `send` waits for room when librdkafka's queue is full.
    #[must_use]
    pub fn queue_timeout(mut self, timeout: Duration) -> Self {
        self.queue_timeout = timeout;
        self
    }

    /// How many times a record refused because the broker lost the
    /// producer's idempotence state is sent again on a new producer id
    /// (default 3; 0 returns the refusal to the caller).
    #[must_use]
    pub fn resends(mut self, attempts: u32) -> Self {
        self.resends = attempts;
        self
    }

    /// Takes the broker's `UNKNOWN_SERVER_ERROR` as lost idempotence state
    /// too (default: no): for Tansu 0.6, which answers so where Kafka
    /// answers `UNKNOWN_PRODUCER_ID` after a restart. Elsewhere an unknown
    /// error is a broker failing, and sending again on a new producer id
    /// could write a record twice.
    #[must_use]
    pub fn unknown_error_is_lost_state(mut self, yes: bool) -> Self {
        self.unknown_is_lost = yes;
        self
    }

    /// Which sends run in a `send` span (default: all): one in `N`, and
    /// with feature `otel` every send whose current span is a sampled
    /// OpenTelemetry span (in place of the count's next choice); the others
    /// run in no span at all and write no `traceparent`. Metrics count every
    /// send. See [`Sampling`].
    #[must_use]
    pub fn span_sampling(mut self, sampling: Sampling) -> Self {
        self.sampling = sampling;
        self
    }

    /// An rdkafka client context of your own: its log, error and
    /// statistics callbacks, and its OAUTHBEARER token refresh. See
    /// [`UserContext`].
    #[must_use]
    pub fn context(mut self, context: impl rdkafka::ClientContext + 'static) -> Self {
        self.context = UserContext::new(context);
        self
    }

    /// Creates the producer.
    pub fn build(self) -> Result<Producer> {
        let producer = Producer::create(
            self.config,
            self.context,
            self.queue_timeout,
            self.resends,
            self.sampling,
        )?;
        producer
            .shared
            .unknown_is_lost
            .store(self.unknown_is_lost, Ordering::Relaxed);
        Ok(producer)
    }
}

impl Producer {
    /// A builder with `bootstrap.servers` set and idempotence switched on
    /// (librdkafka's default is off): no duplicates from retries, `acks=all`.
    /// Everything else is librdkafka's default.
    pub fn builder(bootstrap_servers: &str) -> ProducerBuilder {
        let mut config = ClientConfig::new();
        config
            .set("bootstrap.servers", bootstrap_servers)
            .set("enable.idempotence", "true");
        ProducerBuilder {
            config,
            queue_timeout: Duration::from_secs(30),
            resends: 3,
            sampling: Sampling::ALL,
            context: UserContext::default(),
            unknown_is_lost: false,
        }
    }

    /// A producer from a full rdkafka configuration.
    pub fn new(config: &ClientConfig) -> Result<Self> {
        Self::with_context(config.clone(), UserContext::default())
    }

    /// [`new`](Self::new) with a user's client context.
    pub(crate) fn with_context(config: ClientConfig, context: UserContext) -> Result<Self> {
        Self::create(config, context, Duration::from_secs(30), 3, Sampling::ALL)
    }

    pub(crate) fn create(
        config: ClientConfig,
        context: UserContext,
        queue_timeout: Duration,
        resends: u32,
        sampling: Sampling,
    ) -> Result<Self> {
        let client = config.create_with_context(context.clone())?;
        let idempotent = config.get("enable.idempotence") == Some("true");
        Ok(Producer {
            shared: Arc::new(Shared {
                client: RwLock::new(Arc::new(client)),
                config,
                context,
                idempotent,
                queue_timeout,
                resends,
                unknown_is_lost: AtomicBool::new(false),
                resets: AtomicU64::new(0),
                pool: Mutex::new(Vec::new()),
                sampler: Sampler::new(sampling),
            }),
        })
    }

    /// The underlying rdkafka producer (the current one: see the type's docs
    /// on lost idempotence state).
    pub fn inner(&self) -> Arc<FutureProducer<UserContext>> {
        self.client()
    }

    /// How many times a new librdkafka producer replaced one whose
    /// idempotence state the broker had lost.
    pub fn resets(&self) -> u64 {
        self.shared.resets.load(Ordering::Relaxed)
    }

    fn client(&self) -> Arc<FutureProducer<UserContext>> {
        self.shared
            .client
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Sends a message to its type's default topic.
    ///
    /// Fails without sending when the type declares no topic; use
    /// [`send_to`](Self::send_to) then.
    pub async fn send<T: KafkaMessage>(&self, message: &T) -> Result<Delivery> {
        self.send_to(default_topic::<T>()?, message).await
    }

    /// Sends a message to `topic`, with the key, codec and headers of its type.
    pub async fn send_to<T: KafkaMessage>(&self, topic: &str, message: &T) -> Result<Delivery> {
        self.send_with(topic, message, &T::Codec::default()).await
    }

    /// Sends a message with an explicit codec.
    pub async fn send_with<T, C>(&self, topic: &str, message: &T, codec: &C) -> Result<Delivery>
    where
        T: KafkaMessage,
        C: KafkaCodec<T> + ?Sized,
    {
        self.send_encoded(
            topic,
            |buf| encode_message(message, codec, buf),
            Propagate::Trace,
        )
        .await
    }

    /// Sends a message to `topic` with per-send [`SendOptions`]: extra
    /// headers, a key, a partition, a timestamp.
    ///
    /// ```no_run
    /// # async fn demo(producer: kafka_codec::kafka::Producer) -> kafka_codec::Result<()> {
    /// use kafka_codec::kafka::SendOptions;
    /// # #[derive(Debug, serde::Serialize, serde::Deserialize, kafka_codec::KafkaMessage)]
    /// # struct Order { id: u32 }
    /// let options = SendOptions::new().header("tenant", "acme").partition(0);
    /// let delivery = producer.send_opts("orders", &Order { id: 7 }, &options).await?;
    /// println!("at {}@{}, time {:?}", delivery.partition, delivery.offset, delivery.timestamp);
    /// # Ok(()) }
    /// ```
    pub async fn send_opts<T: KafkaMessage>(
        &self,
        topic: &str,
        message: &T,
        options: &SendOptions,
    ) -> Result<Delivery> {
        let codec = T::Codec::default();
        self.send_encoded(
            topic,
            |buf| Ok(options.apply(encode_message(message, &codec, buf)?, buf)),
            Propagate::Trace,
        )
        .await
    }

    /// Sends any serializable value as JSON, with an optional key, for
    /// values without the derive.
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
        self.send_encoded(topic, |buf| encode_value(key, value, buf), Propagate::Trace)
            .await
    }

    /// Encodes into a pooled buffer with `encode`, which returns where the
    /// payload ends (the key follows it; `None`: no payload), whether there
    /// is a key, and the headers; queues the record, frees the buffer at once (librdkafka
    /// copied the record), then waits for the acknowledgement. A record
    /// refused for lost idempotence state is encoded and sent again on a new
    /// producer id.
    async fn send_encoded(
        &self,
        topic: &str,
        encode: impl Fn(&mut Vec<u8>) -> Result<Encoded>,
        propagate: Propagate,
    ) -> Result<Delivery> {
        let (span, propagate) = if self.shared.sampler.send() {
            (telemetry::send_span(topic), propagate)
        } else {
            // No span, so no trace context of its own to write.
            (tracing::Span::none(), Propagate::Keep)
        };
        // The trace context to write, found once for every attempt: the
        // send span's, or the caller's when the send span the sampler chose
        // is not an OpenTelemetry span (a filter left it out of every layer,
        // or of the OpenTelemetry layer alone); none when the sampler chose
        // no span.
        let trace = match propagate {
            Propagate::Trace => telemetry::trace_of(&span).or_else(telemetry::current_trace),
            Propagate::Keep => None,
        };
        // The span is entered only while the record is encoded (and a
        // resend is logged), not at every poll of the send: the registry
        // would push and pop it once when the record is queued and again
        // when it is acknowledged.
        let done = self
            .send_encoded_in_span(topic, encode, &trace, &span)
            .await;
        match &done {
            Ok(d) => {
                span.record("messaging.destination.partition.id", d.partition);
                span.record("messaging.kafka.offset", d.offset);
            }
            Err(e) => telemetry::failed(&span, e.kind().name()),
        }
        metrics::sent(topic, done.as_ref().err().map(|e| e.kind().name()));
        done
    }

    async fn send_encoded_in_span(
        &self,
        topic: &str,
        encode: impl Fn(&mut Vec<u8>) -> Result<Encoded>,
        trace: &telemetry::Trace,
        span: &tracing::Span,
    ) -> Result<Delivery> {
        let mut resends = 0;
        loop {
            let client = self.client();
            let mut buf = self.take_buffer();
            let queued = match span.in_scope(|| encode(&mut buf)) {
                Ok(mut encoded) => {
                    encoded.headers = telemetry::with_trace(encoded.headers, trace);
                    self.queue(&client, encoded.record(topic, &buf)).await
                }
                Err(e) => Err(e),
            };
            self.put_buffer(buf);
            let done = match queued {
                Ok(future) => delivered(future).await,
                Err(e) => Err(e),
            };
            match done {
                Err(e) if resends < self.shared.resends && self.session_lost(&e, &client) => {
                    span.in_scope(|| self.reset(&client, &e))?;
                    resends += 1;
                }
                done => return done,
            }
        }
    }

    /// Whether `e`, from `client`, says the broker no longer knows this
    /// producer's idempotence state, so every later record of it would be
    /// refused too: the broker's refusal itself, or, once librdkafka
    /// declared the producer fatally failed for that reason, what it does
    /// with the records behind it (fails them as fatal, purges them from its
    /// queue). A producer failed for any other reason, or a broker that
    /// merely fails, is not replaced: its error goes to the caller.
    fn session_lost(&self, e: &Error, client: &FutureProducer<UserContext>) -> bool {
        use RDKafkaErrorCode as C;
        let ErrorKind::Kafka(KafkaError::MessageProduction(code)) = e.kind() else {
            return false;
        };
        let unknown_is_lost = self.shared.unknown_is_lost.load(Ordering::Relaxed);
        let lost = |code: C| {
            super::codes::idempotence_lost(code)
                || super::workarounds::unknown_error_is_lost_state(code, unknown_is_lost)
        };
        let fatally_lost = || {
            client
                .client()
                .fatal_error()
                .is_some_and(|(cause, _)| lost(cause))
        };
        self.shared.idempotent
            && (lost(*code) || (matches!(code, C::Fatal | C::PurgeQueue) && fatally_lost()))
    }

    /// Replaces `failed` with a new librdkafka producer (a new producer id),
    /// unless another send already did.
    fn reset(&self, failed: &Arc<FutureProducer<UserContext>>, cause: &Error) -> Result<()> {
        let mut current = self
            .shared
            .client
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if Arc::ptr_eq(&current, failed) {
            tracing::warn!(error = %cause, "the broker lost this producer's idempotence state; starting a new producer id and sending again");
            *current = Arc::new(
                self.shared
                    .config
                    .create_with_context(self.shared.context.clone())?,
            );
            self.shared.resets.fetch_add(1, Ordering::Relaxed);
        }
        Ok(())
    }

    /// Sends a tombstone for `key` to `topic`: a record with the key and
    /// no value, how a compacted topic deletes a key. A consumer of
    /// `Option<T>` receives it as `None`; a consumer of `T` skips it.
    pub async fn tombstone<K: ToKey + ?Sized>(&self, topic: &str, key: &K) -> Result<Delivery> {
        self.send_encoded(
            topic,
            |buf| {
                let has_key = key.write_key(buf);
                Ok(Encoded::new(None, has_key, OwnedHeaders::new()))
            },
            Propagate::Trace,
        )
        .await
    }

    /// Sends bytes as they are, headers included (a `traceparent` among
    /// them stays): for dead letters and forwarding.
    pub async fn send_raw(
        &self,
        topic: &str,
        key: Option<&[u8]>,
        payload: Option<&[u8]>,
        headers: OwnedHeaders,
    ) -> Result<Delivery> {
        self.send_encoded(
            topic,
            |buf| Ok(encode_raw(key, payload, headers.clone(), buf)),
            Propagate::Keep,
        )
        .await
    }

    /// Queues the record (librdkafka copies key, payload and headers),
    /// waiting for room while the queue is full.
    pub(crate) async fn queue(
        &self,
        client: &FutureProducer<UserContext>,
        record: FutureRecord<'_, [u8], [u8]>,
    ) -> Result<DeliveryFuture> {
        // Only the record given back crosses the await (a `match` on the
        // result would keep the whole result alive through it), and the
        // wait is boxed: its timer and record would make every send's
        // future larger (this one: 480 bytes, against 112). A send's
        // future over about 1 000 bytes, boxed by a task or
        // `FuturesUnordered`, takes glibc's large-request path, which
        // consolidates the allocator's free lists at each send.
        let back = match client.send_result(record) {
            Ok(future) => return Ok(future),
            Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => back,
            Err((e, _)) => return Err(e.into()),
        };
        Box::pin(self.wait_to_queue(client, back)).await
    }

    /// Queues `record` once librdkafka's queue has room, or fails when
    /// `queue_timeout` passed first.
    async fn wait_to_queue(
        &self,
        client: &FutureProducer<UserContext>,
        mut record: FutureRecord<'_, [u8], [u8]>,
    ) -> Result<DeliveryFuture> {
        let deadline = tokio::time::Instant::now() + self.shared.queue_timeout;
        loop {
            tokio::time::sleep(Duration::from_millis(5)).await;
            match client.send_result(record) {
                Ok(future) => return Ok(future),
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back))
                    if tokio::time::Instant::now() < deadline =>
                {
                    record = back;
                }
                Err((e, _)) => return Err(e.into()),
            }
        }
    }

    /// Waits until every queued record was acknowledged or `timeout` passed.
    pub fn flush(&self, timeout: Duration) -> Result<()> {
        self.client()
            .flush(Timeout::After(timeout))
            .map_err(Error::from)
    }

    fn take_buffer(&self) -> Vec<u8> {
        self.shared
            .pool
            .lock()
            .ok()
            .and_then(|mut pool| pool.pop())
            .unwrap_or_default()
    }

    fn put_buffer(&self, mut buf: Vec<u8>) {
        if buf.capacity() > POOL_MAX_CAPACITY {
            return;
        }
        buf.clear();
        if let Ok(mut pool) = self.shared.pool.lock() {
            if pool.len() < POOL {
                pool.push(buf);
            }
        }
    }
}

impl Drop for Shared {
    fn drop(&mut self) {
        // Graceful close when the last clone goes: queued records get up to
        // 5 s to be delivered. Inside a runtime that wait (and librdkafka's
        // teardown) runs on the blocking pool, so no worker stalls, on a
        // current-thread runtime either; the runtime's shutdown waits for it.
        let client = Arc::clone(
            self.client
                .get_mut()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        );
        let close = move || {
            let _ = client.flush(Timeout::After(Duration::from_secs(5)));
        };
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => drop(runtime.spawn_blocking(close)),
            Err(_) => close(),
        }
    }
}

/// Whether a send writes the current trace context into the record's
/// headers (feature `otel`), or keeps the headers it was given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Propagate {
    Trace,
    Keep,
}

/// The type's default topic, or an error saying it has none.
pub(crate) fn default_topic<T: KafkaMessage>() -> Result<&'static str> {
    T::TOPIC.ok_or_else(|| Error::new(ErrorKind::NoTopic { type_name: T::NAME }))
}

/// A record encoded into a buffer: the payload (when there is one) up to
/// its end, then the key; plus its headers, and the partition and timestamp
/// a sender chose.
///
/// Laid out in 32 bytes, with sentinels in place of `Option`s: it is held
/// across the queueing await, so every byte here is a byte of each send's
/// future (see docs/bench-history.md: a future over glibc's small-request limit made
/// the allocator consolidate at each send).
#[derive(Debug)]
pub(crate) struct Encoded {
    /// Where the payload ends in the buffer; [`NO_PAYLOAD`]: no payload.
    end: usize,
    pub(crate) headers: OwnedHeaders,
    /// The sender's timestamp; [`NO_TIMESTAMP`]: none.
    timestamp: i64,
    /// The sender's partition; -1 (librdkafka's "unassigned"): none.
    partition: i32,
    /// Whether the rest of the buffer is a key.
    pub(crate) has_key: bool,
}

const NO_PAYLOAD: usize = usize::MAX;
const NO_TIMESTAMP: i64 = i64::MIN;
const NO_PARTITION: i32 = -1;

impl Encoded {
    pub(crate) fn new(end: Option<usize>, has_key: bool, headers: OwnedHeaders) -> Self {
        Encoded {
            end: end.unwrap_or(NO_PAYLOAD),
            headers,
            timestamp: NO_TIMESTAMP,
            partition: NO_PARTITION,
            has_key,
        }
    }

    /// Where the payload ends, if there is one.
    pub(crate) fn end(&self) -> Option<usize> {
        (self.end != NO_PAYLOAD).then_some(self.end)
    }

    fn place(&self) -> (Option<i32>, Option<i64>) {
        (
            (self.partition != NO_PARTITION).then_some(self.partition),
            (self.timestamp != NO_TIMESTAMP).then_some(self.timestamp),
        )
    }

    /// The record to queue, borrowing `buf`, the buffer it was encoded into.
    pub(crate) fn record<'a>(self, topic: &'a str, buf: &'a [u8]) -> FutureRecord<'a, [u8], [u8]> {
        let (partition, timestamp) = self.place();
        with_place(
            record_of(self.end(), self.has_key, topic, buf, self.headers),
            partition,
            timestamp,
        )
    }

    /// [`record`](Self::record) keeping this one (its headers copied): for
    /// records that may be sent again.
    pub(crate) fn record_ref<'a>(
        &self,
        topic: &'a str,
        buf: &'a [u8],
    ) -> FutureRecord<'a, [u8], [u8]> {
        let (partition, timestamp) = self.place();
        with_place(
            record_of(self.end(), self.has_key, topic, buf, self.headers.clone()),
            partition,
            timestamp,
        )
    }
}

/// Sets the partition and timestamp a sender chose.
fn with_place(
    mut record: FutureRecord<'_, [u8], [u8]>,
    partition: Option<i32>,
    timestamp: Option<i64>,
) -> FutureRecord<'_, [u8], [u8]> {
    if let Some(p) = partition {
        record = record.partition(p);
    }
    if let Some(t) = timestamp {
        record = record.timestamp(t);
    }
    record
}

fn record_of<'a>(
    end: Option<usize>,
    has_key: bool,
    topic: &'a str,
    buf: &'a [u8],
    headers: OwnedHeaders,
) -> FutureRecord<'a, [u8], [u8]> {
    let (payload, key) = buf.split_at(end.unwrap_or(0));
    let mut record = FutureRecord::<[u8], [u8]>::to(topic).headers(headers);
    if has_key {
        record = record.key(key);
    }
    if end.is_some() {
        record = record.payload(payload);
    }
    record
}

/// Encodes a message with `codec` into `buf`: payload, key, and the
/// `content-type`, `ce_type` and version headers.
pub(crate) fn encode_message<T, C>(message: &T, codec: &C, buf: &mut Vec<u8>) -> Result<Encoded>
where
    T: KafkaMessage,
    C: KafkaCodec<T> + ?Sized,
{
    message.encode_with(codec, buf)?;
    let end = buf.len();
    let has_key = message.write_key(buf);
    let mut hs = OwnedHeaders::new_with_capacity(3)
        .insert(Header {
            key: headers::CONTENT_TYPE,
            value: Some(codec.content_type()),
        })
        .insert(Header {
            key: headers::TYPE,
            value: Some(message.type_name()),
        });
    if let Some(v) = message.version() {
        let mut digits = [0u8; 10];
        let len = {
            use std::io::Write as _;
            let mut w = &mut digits[..];
            // A u32 has at most ten digits: this cannot fail.
            let _ = write!(w, "{v}");
            10 - w.len()
        };
        hs = hs.insert(Header {
            key: headers::VERSION,
            value: Some(&digits[..len]),
        });
    }
    Ok(Encoded::new(Some(end), has_key, hs))
}

/// Encodes any serializable value as JSON into `buf`, with an optional key.
pub(crate) fn encode_value<K, V>(key: Option<&K>, value: &V, buf: &mut Vec<u8>) -> Result<Encoded>
where
    K: ToKey + ?Sized,
    V: Serialize + ?Sized,
{
    serde_json::to_writer(&mut *buf, value)
        .map_err(|e| Error::encode(crate::Json::CONTENT_TYPE, e))?;
    let end = buf.len();
    let has_key = key.is_some_and(|k| k.write_key(buf));
    let hs = OwnedHeaders::new_with_capacity(1).insert(Header {
        key: headers::CONTENT_TYPE,
        value: Some(crate::Json::CONTENT_TYPE),
    });
    Ok(Encoded::new(Some(end), has_key, hs))
}

/// Copies raw bytes into `buf` as they are.
pub(crate) fn encode_raw(
    key: Option<&[u8]>,
    payload: Option<&[u8]>,
    headers: OwnedHeaders,
    buf: &mut Vec<u8>,
) -> Encoded {
    let end = payload.map(|p| {
        buf.extend_from_slice(p);
        buf.len()
    });
    if let Some(k) = key {
        buf.extend_from_slice(k);
    }
    Encoded::new(end, key.is_some(), headers)
}

/// Waits for the broker's acknowledgement of a queued record.
pub(crate) async fn delivered(future: DeliveryFuture) -> Result<Delivery> {
    match future.await {
        Ok(Ok(d)) => Ok(Delivery {
            partition: d.partition,
            offset: d.offset,
            timestamp: d.timestamp.to_millis(),
        }),
        Ok(Err((e, _))) => Err(e.into()),
        // The producer went before it reported the delivery.
        Err(_) => Err(KafkaError::Canceled.into()),
    }
}

#[cfg(test)]
mod size_tests {
    /// A send's future does not grow (see docs/bench-history.md: a 944-byte future
    /// made every `FuturesUnordered::push` consolidate the allocator).
    #[tokio::test(flavor = "current_thread")]
    async fn a_send_future_is_small() {
        let producer = super::Producer::builder("127.0.0.1:1").build().unwrap();
        let value = serde_json::json!({"id": 1});
        let send = producer.send_to("t", &value);
        let opts = super::SendOptions::new();
        let with_options = producer.send_opts("t", &value, &opts);
        println!(
            "send_to: {} bytes, send_opts: {} bytes",
            std::mem::size_of_val(&send),
            std::mem::size_of_val(&with_options)
        );
        // 576 bytes before per-send options (serde_json::Value, this test).
        assert!(std::mem::size_of_val(&send) <= 576);
        assert!(std::mem::size_of_val(&with_options) <= 576);
    }
}
