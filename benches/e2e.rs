//! End-to-end throughput: the typed producer and consumer next to plain
//! rdkafka, in the same run, on the same records, so the ratio is the result
//! and the absolute rates are only context.
//!
//! ```text
//! cargo bench --bench e2e --all-features
//! export "$(scripts/tansu.sh start 19095)"     # also against a real broker
//! E2E_BROKER_NAME=tansu cargo bench --bench e2e --all-features
//! scripts/tansu.sh stop
//! ```
//!
//! Every run uses the embedded mock cluster; when `KAFKA_BROKERS` is set it
//! runs against that broker too (called `E2E_BROKER_NAME` in the output).
//! N records (`E2E_MESSAGES`, default 20 000) of the sample hierarchy
//! (`Box<dyn Entity>` from `random_entity`, fixed seed; JSON of 218 to 559
//! bytes, 379 on average, plus a key and two or three headers) go through
//! each side:
//!
//! * **producer**: [`Producer::send_to`] against two raw rdkafka
//!   `FutureProducer::send` runs of the same records: the issue's baseline,
//!   `serde_json::to_vec` of a `#[serde(tag = "type")]` enum of the same
//!   structs and the headers built in the timed loop (the target), and a
//!   stricter one with every record encoded, keyed and with its headers
//!   *before* the clock starts (reported only). The typed side encodes as it
//!   sends, which is its job. All use one `ClientConfig` (what
//!   `Producer::builder` sets: `bootstrap.servers`, `enable.idempotence=true`;
//!   librdkafka defaults otherwise) and keep `E2E_CONCURRENCY` (default 1000)
//!   sends in flight with `for_each_concurrent`. Each producer sends one
//!   untimed record first, so connecting, metadata and the producer id are not
//!   timed.
//! * **consumer**: `Consumer<Box<dyn Entity>>::next` draining the topics the
//!   producer side wrote (2 per producer round, each the same N + 1 records,
//!   so a drain is long enough to time: 240 012 records by default), against
//!   `StreamConsumer::recv` draining the same topics (a) touching only the
//!   payload length, (b) decoding the payload with
//!   plain `serde_json::from_slice::<Box<dyn Entity>>` (typetag), (c)
//!   decoding it with the crate's own `from_bytes` (the polymorphic fast
//!   path), and (d) decoding it with plain `serde_json` into the concrete
//!   struct named by the `ce_type` header (hand-written dispatch, what a user
//!   of rdkafka writes without a framework): (a) is the floor, (b) what a
//!   user would write by hand for trait objects, (c) isolates what the
//!   consumer wrapper costs on top of the codec, and (d) is the raw
//!   baseline. A `Partitioned` consumer (one task per partition, so decoding
//!   spreads over both cores) drains them too, against `next`. Each
//!   consumer has a fresh group and the same `ClientConfig`; the clock starts
//!   at its first record, so the group join (about 3 s on both brokers) is not
//!   timed.
//!
//! Before any Kafka work the run prints the codec alone (encode, fast-path
//! decode, typetag decode, µs per record on one thread): the floor of what the
//! typed side adds, to read the ratios against.
//!
//! The producer side runs `E2E_PRODUCER_ROUNDS` (default 6) rounds, the
//! consumer side `E2E_ROUNDS` (default 3), the order alternating (typed first,
//! then raw first) and the best rate of each contender counting, which takes
//! most of the warm-up and noise bias out of the ratio. The machine's load
//! average is printed at the start and the end: on a shared two-core machine
//! other work moves single runs by ±30 %.
//! `E2E_SIDES=producer` or `consumer` runs one side only; `telemetry` (not
//! in the default set; needs `--all-features`) measures the typed producer
//! and `Consumer::run` with traces and metrics (a Prometheus recorder) on
//! against off, the traces recorded, or exported through OpenTelemetry
//! with 1 % head-sampled by the crate (`span_sampling`), 1 % sampled by
//! OpenTelemetry, or every span; its runs are `E2E_MESSAGES` records
//! produced and twice that consumed (use 100 000 or more for runs long
//! enough to time), each timed by the wall clock (records/s) and by this
//! process's CPU time (user + system, all threads, µs per record), which
//! the machine's other load and the waits on the broker move far less;
//! with the mock cluster the broker's CPU is in it too. Every topic is
//! fresh, with 4 partitions. `E2E_SIDES=interleaved` (also `--all-features`)
//! compares off with the two modes the 5 % goal is for inside one
//! producer's and one consumer's run instead: chunks of `E2E_CHUNK` records
//! (default 25 000) alternate off, on, on, off, ..., each timed by the CPU
//! of the process and of the thread that runs the clients (nanosecond
//! clocks), with a bootstrap interval of the ratio that decides the goal;
//! `E2E_PAIRS=recorded` or `head` runs one of the two (for profiling), and
//! `E2E_ON=spans`, `metrics` or `none` switches on only the spans, only the
//! metrics, or nothing (an A/A run, the measure's own spread);
//! `E2E_HEAD_RATIO` sets the head-sampled mode's ratio (0.01 by default)
//! and `E2E_LAYER=lean` gives it the README's lean OpenTelemetry layer;
//! `E2E_RUNS=N` repeats the measure N times and closes with each line's
//! median over the runs, which decides (the same pair moves more between
//! runs than one run's interval says).
//! `E2E_EMBEDDED=0` skips the mock cluster when `KAFKA_BROKERS` is set.
//! A markdown table of ratios closes the run. With
//! the defaults a run takes about a minute per broker on two cores, most of
//! it consumer group joins.

#[path = "../tests/support/kafka.rs"]
mod kafka;
use kafka_codec_sample as sample;

use std::fmt::Write as _;
use std::future::Future;
use std::hint::black_box;
use std::time::{Duration, Instant};

use futures::StreamExt;
use kafka_codec::kafka::embedded::Embedded;
use kafka_codec::kafka::{ConsumerBuilder, Producer};
use kafka_codec::{headers, KafkaCodec, KafkaMessage};
use rand::rngs::StdRng;
use rand::SeedableRng;
use rdkafka::consumer::{Consumer as _, StreamConsumer};
use rdkafka::message::{BorrowedMessage, Header, Message, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::ClientConfig;

use sample::{random_entity, Entity};

const SEED: u64 = 0x0065_3265;
const PARTITIONS: i32 = 4;
const TARGET: f64 = 0.95;
/// A drain or a produce run that takes longer than this is stuck.
const STUCK: Duration = Duration::from_secs(120);
/// What `Producer::send_to` waits for room in librdkafka's queue; the raw
/// run gets the same.
const QUEUE_TIMEOUT: Duration = Duration::from_secs(30);

/// What travels: any entity of the sample hierarchy, as a trait object.
type AnyEntity = Box<dyn Entity>;

/// One switch per side of the run.
#[allow(clippy::struct_excessive_bools)]
struct Settings {
    messages: usize,
    concurrency: usize,
    rounds: usize,
    producer_rounds: usize,
    producer: bool,
    consumer: bool,
    pipeline: bool,
    telemetry: bool,
    /// Telemetry on against off in chunks of one run (`E2E_SIDES=interleaved`).
    interleaved: bool,
}

fn env_usize(name: &str, default: usize) -> usize {
    match std::env::var(name) {
        Ok(v) => v
            .trim()
            .parse()
            .ok()
            .filter(|&n| n > 0)
            .unwrap_or_else(|| panic!("{name}={v} is not a positive integer")),
        Err(_) => default,
    }
}

impl Settings {
    fn from_env() -> Self {
        let sides =
            std::env::var("E2E_SIDES").unwrap_or_else(|_| "producer,consumer,pipeline".into());
        Settings {
            messages: env_usize("E2E_MESSAGES", 20_000),
            concurrency: env_usize("E2E_CONCURRENCY", 1000),
            rounds: env_usize("E2E_ROUNDS", 3),
            producer_rounds: env_usize("E2E_PRODUCER_ROUNDS", 6),
            producer: sides.contains("producer"),
            consumer: sides.contains("consumer"),
            pipeline: sides.contains("pipeline"),
            telemetry: sides.contains("telemetry"),
            interleaved: sides.contains("interleaved"),
        }
    }
}

/// A record as the typed producer would send it, encoded ahead of time for
/// the raw baseline.
struct Encoded {
    key: Option<Vec<u8>>,
    payload: Vec<u8>,
    type_name: String,
    version: Option<String>,
}

fn encode_all(messages: &[AnyEntity]) -> Vec<Encoded> {
    let codec = <AnyEntity as KafkaMessage>::Codec::default();
    messages
        .iter()
        .map(|m| {
            let mut payload = Vec::new();
            codec
                .encode(m, &mut payload)
                .expect("sample entities encode");
            let mut key = Vec::new();
            let has_key = m.write_key(&mut key);
            Encoded {
                key: has_key.then_some(key),
                payload,
                type_name: m.type_name().to_owned(),
                version: m.version().map(|v| v.to_string()),
            }
        })
        .collect()
}

/// The same three headers the typed producer writes.
fn headers_of(e: &Encoded) -> OwnedHeaders {
    let codec = <AnyEntity as KafkaMessage>::Codec::default();
    let content_type = KafkaCodec::<AnyEntity>::content_type(&codec);
    let hs = OwnedHeaders::new_with_capacity(3)
        .insert(Header {
            key: headers::CONTENT_TYPE,
            value: Some(content_type),
        })
        .insert(Header {
            key: headers::TYPE,
            value: Some(e.type_name.as_str()),
        });
    match &e.version {
        Some(v) => hs.insert(Header {
            key: headers::VERSION,
            value: Some(v.as_str()),
        }),
        None => hs,
    }
}

fn record_of<'a>(topic: &'a str, e: &'a Encoded, hs: OwnedHeaders) -> FutureRecord<'a, [u8], [u8]> {
    let record = FutureRecord::<[u8], [u8]>::to(topic)
        .payload(e.payload.as_slice())
        .headers(hs);
    match &e.key {
        Some(k) => record.key(k.as_slice()),
        None => record,
    }
}

/// What `Producer::builder` configures; shared by both producers so the
/// only difference is the wrapper.
fn producer_config(servers: &str) -> ClientConfig {
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", servers)
        .set("enable.idempotence", "true");
    config
}

/// A fresh group reading from the start; the short session timeout makes
/// the group join quick on Tansu (see scripts/README-tansu.md).
fn consumer_config(servers: &str) -> ClientConfig {
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", servers)
        .set("group.id", kafka::fresh("e2e-group"))
        .set("auto.offset.reset", "earliest")
        .set("session.timeout.ms", "6000")
        .set("heartbeat.interval.ms", "1000");
    config
}

async fn bounded<T>(what: &str, f: impl Future<Output = T>) -> T {
    tokio::time::timeout(STUCK, f)
        .await
        .unwrap_or_else(|_| panic!("{what}: no progress within {STUCK:?}"))
}

async fn produce_typed(
    servers: &str,
    topic: &str,
    messages: &[AnyEntity],
    concurrency: usize,
) -> Duration {
    let producer = Producer::new(&producer_config(servers)).expect("typed producer");
    produce_with(producer, topic, messages, concurrency)
        .await
        .wall
}

/// Sends `messages` to `topic` with `producer`, `concurrency` in flight,
/// after one untimed warm-up send.
async fn produce_with(
    producer: Producer,
    topic: &str,
    messages: &[AnyEntity],
    concurrency: usize,
) -> Timed {
    bounded("typed warm-up", producer.send_to(topic, &messages[0]))
        .await
        .expect("typed warm-up send");
    let producer = &producer;
    let clock = Stopwatch::start();
    bounded(
        "typed producer",
        futures::stream::iter(messages).for_each_concurrent(concurrency, |m| async move {
            producer.send_to(topic, m).await.expect("typed send");
        }),
    )
    .await;
    clock.stop()
}

/// This process's CPU time, user + system, every thread (those that
/// exited included): `CLOCK_PROCESS_CPUTIME_ID`, through rustix's safe
/// `clock_gettime` (the workspace forbids `unsafe`). The kernel sums the
/// scheduler's runtime of the thread group in nanoseconds, so a chunk of a
/// few thousand records is timed exactly; `/proc/self/stat`, used before,
/// counts in clock ticks of 10 ms, which put ±10 % on a 100 ms chunk.
#[allow(clippy::unnecessary_wraps)]
fn process_cpu() -> Option<Duration> {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::ProcessCPUTime);
    let secs = u64::try_from(t.tv_sec).ok()?;
    let nanos = u32::try_from(t.tv_nsec).ok()?;
    Some(Duration::new(secs, nanos))
}

/// The calling thread's CPU time (`CLOCK_THREAD_CPUTIME_ID`, nanoseconds).
/// The bench's producers and consumers run on the thread that runs the
/// runtime's `block_on`, so this is their own code: encoding, decoding,
/// rdkafka's calls and futures, and the telemetry, without librdkafka's
/// broker threads, whose work per record moves with the timing of fetches
/// and batches.
fn thread_cpu() -> Duration {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::ThreadCPUTime);
    Duration::new(
        u64::try_from(t.tv_sec).unwrap_or_default(),
        u32::try_from(t.tv_nsec).unwrap_or_default(),
    )
}

/// Wall-clock and process CPU time from the same point on.
#[derive(Debug, Clone, Copy)]
struct Stopwatch {
    wall: Instant,
    cpu: Option<Duration>,
    thread: Duration,
}

impl Stopwatch {
    fn start() -> Self {
        Stopwatch {
            wall: Instant::now(),
            cpu: process_cpu(),
            thread: thread_cpu(),
        }
    }

    fn stop(&self) -> Timed {
        Timed {
            wall: self.wall.elapsed(),
            cpu: process_cpu()
                .zip(self.cpu)
                .map(|(end, start)| end.saturating_sub(start)),
            thread: Some(thread_cpu().saturating_sub(self.thread)),
        }
    }
}

/// What a timed section took.
#[derive(Debug, Clone, Copy)]
struct Timed {
    wall: Duration,
    /// This process's CPU time over it, all threads (see [`process_cpu`]);
    /// only the telemetry side reports it.
    #[cfg_attr(not(all(feature = "otel", feature = "metrics")), allow(dead_code))]
    cpu: Option<Duration>,
    /// The calling thread's CPU time over it (see [`thread_cpu`]), where
    /// the section ran on one thread; only the interleaved side reports it.
    #[cfg_attr(not(all(feature = "otel", feature = "metrics")), allow(dead_code))]
    thread: Option<Duration>,
}

/// One untimed send, so connecting, metadata and the producer id are not
/// timed.
async fn raw_warm_up(producer: &FutureProducer, topic: &str, first: &Encoded) {
    bounded(
        "raw warm-up",
        producer.send(record_of(topic, first, headers_of(first)), QUEUE_TIMEOUT),
    )
    .await
    .map_err(|(e, _)| e)
    .expect("raw warm-up send");
}

async fn produce_raw(
    servers: &str,
    topic: &str,
    encoded: &[Encoded],
    concurrency: usize,
) -> Duration {
    let producer: FutureProducer = producer_config(servers).create().expect("raw producer");
    raw_warm_up(&producer, topic, &encoded[0]).await;
    // Everything but the send itself is done before the clock starts.
    let hs: Vec<OwnedHeaders> = encoded.iter().map(headers_of).collect();
    let producer = &producer;
    let start = Instant::now();
    bounded(
        "raw producer",
        futures::stream::iter(encoded.iter().zip(hs)).for_each_concurrent(
            concurrency,
            |(e, hs)| async move {
                producer
                    .send(record_of(topic, e, hs), QUEUE_TIMEOUT)
                    .await
                    .map_err(|(e, _)| e)
                    .expect("raw send");
            },
        ),
    )
    .await;
    start.elapsed()
}

/// The sample hierarchy as a user of plain serde would tag it without
/// trait objects: the issue's producer baseline encodes these.
#[derive(serde::Serialize)]
#[serde(tag = "type")]
enum Tagged<'a> {
    Person(&'a sample::Person),
    Employee(&'a sample::Employee),
    Customer(&'a sample::Customer),
    Order(&'a sample::Order),
}

impl<'a> Tagged<'a> {
    fn of(entity: &'a AnyEntity) -> Self {
        if let Some(v) = entity.downcast_ref::<sample::Person>() {
            Tagged::Person(v)
        } else if let Some(v) = entity.downcast_ref::<sample::Employee>() {
            Tagged::Employee(v)
        } else if let Some(v) = entity.downcast_ref::<sample::Customer>() {
            Tagged::Customer(v)
        } else if let Some(v) = entity.downcast_ref::<sample::Order>() {
            Tagged::Order(v)
        } else {
            unreachable!("the sample has four types")
        }
    }
}

/// `FutureProducer` with the encoding in the timed loop, as a raw user
/// writes it: `serde_json::to_vec` of the tagged enum, the headers, the
/// send. Only the enum's borrow of each entity and the keys (the bytes the
/// typed producer writes) are made before the clock starts.
async fn produce_raw_encoding(
    servers: &str,
    topic: &str,
    messages: &[AnyEntity],
    encoded: &[Encoded],
    concurrency: usize,
) -> Duration {
    let producer: FutureProducer = producer_config(servers).create().expect("raw producer");
    let tagged: Vec<Tagged<'_>> = messages.iter().map(Tagged::of).collect();
    for (t, e) in tagged.iter().zip(encoded).take(64) {
        assert_eq!(serde_json::to_vec(t).unwrap(), e.payload, "the same bytes");
    }
    raw_warm_up(&producer, topic, &encoded[0]).await;
    let producer = &producer;
    let start = Instant::now();
    bounded(
        "raw encoding producer",
        futures::stream::iter(tagged.iter().zip(encoded)).for_each_concurrent(
            concurrency,
            |(t, e)| async move {
                let payload = serde_json::to_vec(t).expect("encode");
                let mut record = FutureRecord::<[u8], [u8]>::to(topic)
                    .payload(payload.as_slice())
                    .headers(headers_of(e));
                if let Some(k) = &e.key {
                    record = record.key(k.as_slice());
                }
                producer
                    .send(record, QUEUE_TIMEOUT)
                    .await
                    .map_err(|(e, _)| e)
                    .expect("raw send");
            },
        ),
    )
    .await;
    start.elapsed()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Drain {
    Typed,
    Partitioned,
    RawNothing,
    RawTypetag,
    RawFastPath,
    RawConcrete,
}

impl Drain {
    const ALL: [Drain; 6] = [
        Drain::Typed,
        Drain::Partitioned,
        Drain::RawNothing,
        Drain::RawTypetag,
        Drain::RawFastPath,
        Drain::RawConcrete,
    ];

    fn label(self) -> &'static str {
        match self {
            Drain::Typed => "typed Consumer::next",
            Drain::Partitioned => "typed Partitioned::run",
            Drain::RawNothing => "raw recv (no decode)",
            Drain::RawTypetag => "raw recv + typetag decode",
            Drain::RawFastPath => "raw recv + from_bytes",
            Drain::RawConcrete => "raw recv + serde_json by ce_type",
        }
    }
}

fn boxed<T: Entity + serde::de::DeserializeOwned>(payload: &[u8]) -> AnyEntity {
    Box::new(serde_json::from_slice::<T>(payload).expect("serde_json decodes"))
}

/// What a user of plain rdkafka writes without a framework: the concrete
/// type picked by hand from the `ce_type` header, then plain `serde_json`
/// into it.
fn decode_by_header(m: &BorrowedMessage<'_>, payload: &[u8]) -> AnyEntity {
    use rdkafka::message::Headers as _;
    let name = m
        .headers()
        .and_then(|hs| hs.iter().find(|h| h.key == headers::TYPE)?.value)
        .expect("a type header");
    match name {
        b"Person" => boxed::<sample::Person>(payload),
        b"Employee" => boxed::<sample::Employee>(payload),
        b"Customer" => boxed::<sample::Customer>(payload),
        b"Order" => boxed::<sample::Order>(payload),
        other => panic!("unknown type {}", String::from_utf8_lossy(other)),
    }
}

/// Drains with a `Partitioned` consumer: one task per partition decodes
/// and handles its records.
async fn drain_partitioned(config: ClientConfig, topics: &[String], total: usize) -> Drained {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{Arc, Mutex};
    let created = Instant::now();
    let consumer = ConsumerBuilder::from_config(config)
        .topics(topics)
        .build_partitioned::<AnyEntity>()
        .expect("partitioned consumer")
        .max_in_flight(64);
    let stop = kafka_codec::kafka::Shutdown::new();
    let seen = Arc::new(AtomicUsize::new(0));
    let started: Arc<Mutex<Option<Instant>>> = Arc::default();
    let handler = {
        let (seen, started, stop) = (seen.clone(), started.clone(), stop.clone());
        move |record: kafka_codec::kafka::Record<AnyEntity>| {
            black_box(record.value());
            let n = seen.fetch_add(1, Ordering::Relaxed) + 1;
            if n == 1 {
                *started.lock().expect("not poisoned") = Some(Instant::now());
            }
            if n == total {
                stop.trigger();
            }
            async { Ok::<_, kafka_codec::BoxError>(()) }
        }
    };
    let report = bounded("partitioned consumer", consumer.run(stop, handler)).await;
    let end = Instant::now();
    let report = report.into_result().expect("the partitioned run");
    assert!(usize::try_from(report.handled()).unwrap_or(usize::MAX) >= total);
    let start = started
        .lock()
        .expect("not poisoned")
        .expect("a first record");
    Drained {
        first: start - created,
        rest: end - start,
        cpu: None,
    }
}

/// How long a drain took to get its first record (group join, first fetch)
/// and to read the rest.
struct Drained {
    first: Duration,
    rest: Duration,
    /// The process's CPU time over `rest` (`None` where not measured).
    cpu: Option<Duration>,
}

/// Reads `total` records from `topics` with a fresh group; times all but the
/// first.
async fn drain(servers: &str, topics: &[String], total: usize, how: Drain) -> Drained {
    let config = consumer_config(servers);
    if how == Drain::Partitioned {
        return drain_partitioned(config, topics, total).await;
    }
    let created = Instant::now();
    if how == Drain::Typed {
        // At most once, as the raw loops it is measured against (librdkafka
        // stores offsets as it hands records out); at least once, `next`
        // would wait for acks this loop does not give.
        let consumer = ConsumerBuilder::from_config(config)
            .topics(topics)
            .commit_mode(kafka_codec::kafka::CommitMode::AtMostOnce)
            .build::<AnyEntity>()
            .expect("typed consumer");
        bounded("typed consumer, first record", consumer.next())
            .await
            .expect("typed record");
        let first = created.elapsed();
        let (start, cpu) = (Instant::now(), process_cpu());
        bounded("typed consumer", async {
            for _ in 1..total {
                black_box(consumer.next().await.expect("typed record"));
            }
        })
        .await;
        return Drained {
            first,
            rest: start.elapsed(),
            cpu: cpu_since(cpu),
        };
    }
    let consumer: StreamConsumer = config.create().expect("raw consumer");
    let names: Vec<&str> = topics.iter().map(String::as_str).collect();
    consumer.subscribe(&names).expect("subscribe");
    let handle = |m: &BorrowedMessage<'_>| {
        let payload = m.payload().expect("a payload");
        match how {
            Drain::RawTypetag => {
                black_box(serde_json::from_slice::<AnyEntity>(payload).expect("typetag decodes"));
            }
            // The crate's decoder, fast path included, without the consumer
            // around it: what the wrapper adds is the difference to `Typed`.
            Drain::RawFastPath => {
                black_box(AnyEntity::from_bytes(payload).expect("the fast path decodes"));
            }
            Drain::RawConcrete => {
                black_box(decode_by_header(m, payload));
            }
            Drain::RawNothing | Drain::Typed | Drain::Partitioned => {
                black_box(payload.len());
            }
        }
    };
    handle(
        &bounded("raw consumer, first record", consumer.recv())
            .await
            .expect("raw record"),
    );
    let first = created.elapsed();
    let (start, cpu) = (Instant::now(), process_cpu());
    bounded("raw consumer", async {
        for _ in 1..total {
            handle(&consumer.recv().await.expect("raw record"));
        }
    })
    .await;
    Drained {
        first,
        rest: start.elapsed(),
        cpu: cpu_since(cpu),
    }
}

/// The CPU time spent since `before`.
fn cpu_since(before: Option<Duration>) -> Option<Duration> {
    Some(process_cpu()?.saturating_sub(before?))
}

#[allow(clippy::cast_precision_loss)]
fn rate(records: usize, elapsed: Duration) -> f64 {
    records as f64 / elapsed.as_secs_f64()
}

/// One line of the closing table.
struct Row {
    broker: &'static str,
    side: &'static str,
    typed: f64,
    raw: f64,
    /// The ratio to reach; `None`: reported only.
    target: Option<f64>,
}

/// Creates a fresh topic and waits for it.
async fn fresh_topic(broker: &kafka::Broker, prefix: &str) -> String {
    let topic = kafka::fresh(prefix);
    kafka::create_topic(broker, &topic, PARTITIONS).await;
    topic
}

fn log_run(broker: &str, side: &str, round: usize, label: &str, n: usize, elapsed: Duration) {
    print!(
        "  {broker:<13} {side:<8} round {round}  {label:<26} {n:>6} msgs in {:>7.3} s = {:>9.0} msgs/s",
        elapsed.as_secs_f64(),
        rate(n, elapsed)
    );
}

/// Rounds of typed and raw producer runs, alternating which goes first.
/// Returns the table row and the topics written, each with the same N + 1
/// records (key, payload and headers alike).
async fn producer_side(
    name: &'static str,
    broker: &kafka::Broker,
    settings: &Settings,
    messages: &[AnyEntity],
    encoded: &[Encoded],
) -> (Vec<Row>, Vec<String>) {
    let n = messages.len();
    let servers = broker.servers.as_str();
    let (mut best_typed, mut best_raw, mut best_encoding) = (0f64, 0f64, 0f64);
    let mut topics = Vec::new();
    for round in 0..settings.producer_rounds {
        // Each contender first, second and third in turn.
        let mut order = [0usize, 1, 2];
        order.rotate_left(round % 3);
        if round % 6 >= 3 {
            order.swap(1, 2);
        }
        for who in order {
            match who {
                0 => {
                    let topic = fresh_topic(broker, "e2e-typed").await;
                    let elapsed =
                        produce_typed(servers, &topic, messages, settings.concurrency).await;
                    best_typed = best_typed.max(rate(n, elapsed));
                    log_run(
                        name,
                        "producer",
                        round + 1,
                        "typed Producer::send_to",
                        n,
                        elapsed,
                    );
                    topics.push(topic);
                }
                1 => {
                    let topic = fresh_topic(broker, "e2e-raw").await;
                    let elapsed = produce_raw(servers, &topic, encoded, settings.concurrency).await;
                    best_raw = best_raw.max(rate(n, elapsed));
                    log_run(
                        name,
                        "producer",
                        round + 1,
                        "raw FutureProducer::send",
                        n,
                        elapsed,
                    );
                    topics.push(topic);
                }
                _ => {
                    // The issue's baseline, encoding in the loop (its topics
                    // are not consumed).
                    let topic = fresh_topic(broker, "e2e-raw-encoding").await;
                    let elapsed = produce_raw_encoding(
                        servers,
                        &topic,
                        messages,
                        encoded,
                        settings.concurrency,
                    )
                    .await;
                    best_encoding = best_encoding.max(rate(n, elapsed));
                    log_run(
                        name,
                        "producer",
                        round + 1,
                        "raw FutureProducer + to_vec",
                        n,
                        elapsed,
                    );
                }
            }
            println!();
        }
    }
    let rows = vec![
        Row {
            broker: name,
            side: "producer: send_to vs FutureProducer + serde_json::to_vec",
            typed: best_typed,
            raw: best_encoding,
            target: Some(TARGET),
        },
        Row {
            broker: name,
            side: "producer: send_to vs FutureProducer of pre-encoded records",
            typed: best_typed,
            raw: best_raw,
            target: None,
        },
    ];
    (rows, topics)
}

/// Rounds of the four drains of every topic the producer side wrote (each N
/// records plus the warm-up one), the order reversed every other round.
async fn consumer_side(
    name: &'static str,
    broker: &kafka::Broker,
    settings: &Settings,
    topics: &[String],
    total: usize,
) -> Vec<Row> {
    let mut best = [0f64; Drain::ALL.len()];
    // Records per CPU-second of this process (the embedded broker's threads
    // included when it runs in-process), best round.
    let mut best_cpu = [0f64; Drain::ALL.len()];
    for round in 0..settings.rounds {
        let mut this_round = Drain::ALL;
        if round % 2 == 1 {
            this_round.reverse();
        }
        // `E2E_DRAINS=typed,by ce_type` runs the drains whose label holds
        // one of the words (for profiling one drain alone).
        let only = std::env::var("E2E_DRAINS").unwrap_or_default();
        for how in this_round.into_iter().filter(|how| {
            only.is_empty() || only.split(',').any(|w| how.label().contains(w.trim()))
        }) {
            let d = drain(&broker.servers, topics, total, how).await;
            log_run(name, "consumer", round + 1, how.label(), total - 1, d.rest);
            print!("  (first after {:.2} s)", d.first.as_secs_f64());
            let i = Drain::ALL
                .iter()
                .position(|&x| x == how)
                .unwrap_or_default();
            best[i] = best[i].max(rate(total - 1, d.rest));
            if let Some(cpu) = d.cpu.filter(|c| !c.is_zero()) {
                #[allow(clippy::cast_precision_loss)]
                let per_record = cpu.as_secs_f64() * 1e6 / (total - 1) as f64;
                print!(
                    "  CPU {:.2} s = {per_record:.2} µs/record",
                    cpu.as_secs_f64()
                );
                best_cpu[i] = best_cpu[i].max(rate(total - 1, cpu));
            }
            println!();
        }
    }
    let at = |how: Drain| {
        let i = Drain::ALL
            .iter()
            .position(|&x| x == how)
            .unwrap_or_default();
        best[i]
    };
    [
        (
            "consumer: next vs recv (no decode)",
            Drain::Typed,
            Drain::RawNothing,
            None,
        ),
        (
            "consumer: next vs recv + typetag decode",
            Drain::Typed,
            Drain::RawTypetag,
            Some(TARGET),
        ),
        (
            "consumer: next vs recv + from_bytes",
            Drain::Typed,
            Drain::RawFastPath,
            Some(TARGET),
        ),
        (
            "consumer: next vs recv + serde_json by ce_type",
            Drain::Typed,
            Drain::RawConcrete,
            Some(TARGET),
        ),
        (
            "consumer: Partitioned::run vs next (second core)",
            Drain::Partitioned,
            Drain::Typed,
            Some(1.3),
        ),
    ]
    .into_iter()
    .map(|(side, typed, raw, target)| Row {
        broker: name,
        side,
        typed: at(typed),
        raw: at(raw),
        target,
    })
    .chain(
        [
            (
                "consumer, records per CPU-second: next vs recv + serde_json by ce_type",
                Drain::Typed,
                Drain::RawConcrete,
            ),
            (
                "consumer, records per CPU-second: next vs recv + from_bytes",
                Drain::Typed,
                Drain::RawFastPath,
            ),
        ]
        .into_iter()
        .map(|(side, typed, raw)| {
            let cpu_at = |how: Drain| {
                let i = Drain::ALL
                    .iter()
                    .position(|&x| x == how)
                    .unwrap_or_default();
                best_cpu[i]
            };
            Row {
                broker: name,
                side,
                typed: cpu_at(typed),
                raw: cpu_at(raw),
                target: None,
            }
        }),
    )
    .collect()
}

/// Every side `settings` asks for against `broker`: the rows of the closing
/// table; tables of their own (the telemetry side's CPU) go to `tables`.
async fn run_broker(
    name: &'static str,
    broker: &kafka::Broker,
    settings: &Settings,
    messages: &[AnyEntity],
    encoded: &[Encoded],
    tables: &mut String,
) -> Vec<Row> {
    println!("\n## {name} ({})\n", broker.servers);
    let mut rows = Vec::new();
    let topics = if settings.producer {
        let (sent, topics) = producer_side(name, broker, settings, messages, encoded).await;
        rows.extend(sent);
        topics
    } else if settings.consumer || settings.pipeline {
        // The same topics to consume, written by the typed producer, untimed.
        let mut topics = Vec::new();
        for _ in 0..2 * settings.producer_rounds {
            let topic = fresh_topic(broker, "e2e-typed").await;
            produce_typed(&broker.servers, &topic, messages, settings.concurrency).await;
            topics.push(topic);
        }
        topics
    } else {
        Vec::new()
    };
    if settings.consumer {
        let total = topics.len() * (messages.len() + 1);
        rows.extend(consumer_side(name, broker, settings, &topics, total).await);
    }
    if settings.pipeline {
        rows.push(pipeline_side(name, broker, settings, &topics[0], messages.len() + 1).await);
    }
    if settings.telemetry {
        rows.extend(telemetry::side(name, broker, settings, messages, tables).await);
    }
    if settings.interleaved {
        telemetry::interleaved(name, broker, settings, messages, tables).await;
    }
    rows
}

/// Reads `topic` (N + 1 records) and writes one record per input to a
/// fresh topic, `transactional` (an [`ExactlyOnce`] pipeline: each batch's
/// outputs and offsets in one transaction) or not (`run_batches` in manual
/// commit mode, the batch's outputs sent concurrently before it is acked:
/// at least once). Same batch size (500 records or 100 ms) both ways. Timed
/// from the first record handled to the end of the run (the last batch
/// committed).
async fn pipe(servers: &str, input: &str, total: usize, transactional: bool) -> Duration {
    use kafka_codec::kafka::{CommitMode, Outbox, TransactionalProducer};
    use std::sync::atomic::{AtomicUsize, Ordering};
    let output = kafka::fresh("e2e-pipe-out");
    let (seen, stop) = (AtomicUsize::new(0), kafka_codec::kafka::Shutdown::new());
    let started = std::sync::OnceLock::new();
    let tick = |n: usize| {
        started.get_or_init(Instant::now);
        if seen.fetch_add(n, Ordering::Relaxed) + n >= total {
            stop.trigger();
        }
    };
    let consumer = ConsumerBuilder::from_config(consumer_config(servers)).topics(&[input]);
    let batch = (500, Duration::from_millis(100));
    if transactional {
        let producer = TransactionalProducer::builder(servers, &kafka::fresh("e2e-eos"))
            .build()
            .await
            .expect("transactional producer");
        let mut pipeline = consumer
            .build_exactly_once::<AnyEntity>(producer)
            .expect("pipeline")
            .batch(batch.0, batch.1);
        let output = output.as_str();
        bounded(
            "exactly-once pipeline",
            pipeline.run(stop.clone(), |record| {
                tick(1);
                async move {
                    let mut out = Outbox::new();
                    out.send_to(output, record.value())?;
                    Ok(out)
                }
            }),
        )
        .await
        .into_result()
        .expect("exactly-once run");
    } else {
        let producer = Producer::new(&producer_config(servers)).expect("producer");
        let consumer = consumer
            .commit_mode(CommitMode::AtLeastOnce)
            .build::<AnyEntity>()
            .expect("consumer");
        let (producer, output) = (&producer, output.as_str());
        bounded(
            "at-least-once pipeline",
            consumer.run_batches(stop.clone(), batch.0, batch.1, |records| {
                tick(records.len());
                async move {
                    let sends = records.iter().map(|r| producer.send_to(output, r.value()));
                    for sent in futures::future::join_all(sends).await {
                        sent.map_err(|e| kafka_codec::kafka::BatchFailure::at(0, e))?;
                    }
                    Ok::<_, kafka_codec::kafka::BatchFailure>(())
                }
            }),
        )
        .await
        .into_result()
        .expect("at-least-once run");
    }
    started.get().map_or(Duration::ZERO, Instant::elapsed)
}

/// Rounds of the exactly-once pipeline against the at-least-once one on the
/// same input, alternating which goes first.
async fn pipeline_side(
    name: &'static str,
    broker: &kafka::Broker,
    settings: &Settings,
    input: &str,
    total: usize,
) -> Row {
    let (mut best_eos, mut best_alo) = (0f64, 0f64);
    for round in 0..settings.rounds {
        let eos_first = round % 2 == 0;
        for eos in [eos_first, !eos_first] {
            let elapsed = pipe(&broker.servers, input, total, eos).await;
            let label = if eos {
                best_eos = best_eos.max(rate(total, elapsed));
                "exactly-once ExactlyOnce"
            } else {
                best_alo = best_alo.max(rate(total, elapsed));
                "at-least-once run_batches"
            };
            log_run(name, "pipeline", round + 1, label, total, elapsed);
            println!();
        }
    }
    Row {
        broker: name,
        side: "pipeline: exactly-once vs at-least-once",
        typed: best_eos,
        raw: best_alo,
        target: None,
    }
}

/// The cost of traces and metrics: the typed producer and a consumer run
/// (`Consumer::run`, where `process` spans are made) with a tracing
/// subscriber (recording spans, or exporting them through OpenTelemetry:
/// see [`Mode`]) and a Prometheus recorder, against the same without. The
/// records consumed were written untraced (no `traceparent`), so under the
/// crate's head sampling only its count chooses. Both are installed once, for the
/// whole process; "off" turns the subscriber's filter to OFF (every span
/// and event callsite is disabled again, as with no subscriber) and the
/// recorder's switch to no-op handles (the facade's cost stays: a global
/// recorder lookup per metric). Needs features `otel` and `metrics`.
#[cfg(all(feature = "otel", feature = "metrics"))]
mod telemetry {
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    use std::sync::{Arc, OnceLock};
    use std::time::Duration;

    use kafka_codec::kafka::Shutdown;
    use kafka_codec::kafka::{ConsumerBuilder, Producer, Sampling};
    use metrics::{
        Counter, CounterFn, Gauge, GaugeFn, Histogram, HistogramFn, Key, KeyName, Metadata,
        Recorder, SharedString, Unit,
    };
    use opentelemetry::trace::TracerProvider as _;
    use tracing_subscriber::filter::LevelFilter;
    use tracing_subscriber::layer::SubscriberExt as _;
    use tracing_subscriber::{reload, Layer, Registry};

    use super::{
        bounded, consumer_config, fresh_topic, kafka, log_run, produce_typed, produce_with, rate,
        AnyEntity, Row, Settings, Stopwatch, Timed,
    };

    /// Forwards to the Prometheus recorder while on; no-op handles while off.
    /// While `gated`, every handle it registers is a [`Gated`] one instead,
    /// which asks `on` at each use: the interleaved measure turns metrics on
    /// and off within one run, after the crate has cached its handles.
    struct Switch {
        on: Arc<AtomicBool>,
        gated: Arc<AtomicBool>,
        inner: metrics_exporter_prometheus::PrometheusRecorder,
    }

    /// A Prometheus handle used only while `on` is set.
    struct Gated<H> {
        on: Arc<AtomicBool>,
        inner: H,
    }

    impl<H> Gated<H> {
        fn on(&self) -> bool {
            self.on.load(Ordering::Relaxed)
        }
    }

    impl CounterFn for Gated<Counter> {
        fn increment(&self, value: u64) {
            if self.on() {
                self.inner.increment(value);
            }
        }
        fn absolute(&self, value: u64) {
            if self.on() {
                self.inner.absolute(value);
            }
        }
    }

    impl GaugeFn for Gated<Gauge> {
        fn increment(&self, value: f64) {
            if self.on() {
                self.inner.increment(value);
            }
        }
        fn decrement(&self, value: f64) {
            if self.on() {
                self.inner.decrement(value);
            }
        }
        fn set(&self, value: f64) {
            if self.on() {
                self.inner.set(value);
            }
        }
    }

    impl HistogramFn for Gated<Histogram> {
        fn record(&self, value: f64) {
            if self.on() {
                self.inner.record(value);
            }
        }
    }

    impl Switch {
        fn gate<H>(&self, inner: H) -> Arc<Gated<H>> {
            Arc::new(Gated {
                on: self.on.clone(),
                inner,
            })
        }
    }

    impl Recorder for Switch {
        fn describe_counter(&self, key: KeyName, unit: Option<Unit>, text: SharedString) {
            self.inner.describe_counter(key, unit, text);
        }
        fn describe_gauge(&self, key: KeyName, unit: Option<Unit>, text: SharedString) {
            self.inner.describe_gauge(key, unit, text);
        }
        fn describe_histogram(&self, key: KeyName, unit: Option<Unit>, text: SharedString) {
            self.inner.describe_histogram(key, unit, text);
        }
        fn register_counter(&self, key: &Key, meta: &Metadata<'_>) -> Counter {
            if self.gated.load(Ordering::Relaxed) {
                return Counter::from_arc(self.gate(self.inner.register_counter(key, meta)));
            }
            if self.on.load(Ordering::Relaxed) {
                self.inner.register_counter(key, meta)
            } else {
                Counter::noop()
            }
        }
        fn register_gauge(&self, key: &Key, meta: &Metadata<'_>) -> Gauge {
            if self.gated.load(Ordering::Relaxed) {
                return Gauge::from_arc(self.gate(self.inner.register_gauge(key, meta)));
            }
            if self.on.load(Ordering::Relaxed) {
                self.inner.register_gauge(key, meta)
            } else {
                Gauge::noop()
            }
        }
        fn register_histogram(&self, key: &Key, meta: &Metadata<'_>) -> Histogram {
            if self.gated.load(Ordering::Relaxed) {
                return Histogram::from_arc(self.gate(self.inner.register_histogram(key, meta)));
            }
            if self.on.load(Ordering::Relaxed) {
                self.inner.register_histogram(key, meta)
            } else {
                Histogram::noop()
            }
        }
    }

    type BoxedLayer = Box<dyn Layer<Registry> + Send + Sync>;

    /// What listens while a run is timed.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub(super) enum Mode {
        /// No span or event enabled, metrics to no-op handles.
        Off,
        /// The crate's spans and events recorded by the subscriber (kept
        /// in its registry, not exported), metrics to a Prometheus recorder:
        /// what the instrumentation itself costs.
        Recorded,
        /// As `Recorded`, spans also built for OpenTelemetry with a 1 %
        /// trace-id ratio sampler, exported by a batch processor.
        OtelSampled,
        /// The crate makes a span for 1 % of the records and sends
        /// (`span_sampling(Sampling::ratio(0.01))`); OpenTelemetry keeps
        /// every span it is given, exported by a batch processor.
        OtelHeadSampled,
        /// Every span built and exported through OpenTelemetry (a simple
        /// processor and an exporter that drops them).
        OtelAll,
    }

    impl Mode {
        pub(super) const ALL: [Mode; 5] = [
            Mode::Off,
            Mode::Recorded,
            Mode::OtelHeadSampled,
            Mode::OtelSampled,
            Mode::OtelAll,
        ];

        fn label(self) -> &'static str {
            match self {
                Mode::Off => "telemetry off",
                Mode::Recorded => "spans + metrics recorded",
                Mode::OtelHeadSampled => head_label(),
                Mode::OtelSampled => "OpenTelemetry, 1 % sampled",
                Mode::OtelAll => "OpenTelemetry, every span",
            }
        }

        fn layer(self) -> BoxedLayer {
            use opentelemetry_sdk::trace::{Sampler, SdkTracerProvider};
            let lean = self == Mode::OtelHeadSampled && lean_layer();
            let otel = |provider: SdkTracerProvider| otel_layer(provider.tracer("e2e"), lean);
            match self {
                Mode::Off => LevelFilter::OFF.boxed(),
                Mode::Recorded => LevelFilter::INFO.boxed(),
                Mode::OtelHeadSampled => otel(
                    SdkTracerProvider::builder()
                        .with_batch_exporter(
                            opentelemetry_sdk::testing::trace::NoopSpanExporter::new(),
                        )
                        .build(),
                ),
                Mode::OtelSampled => otel(
                    SdkTracerProvider::builder()
                        .with_sampler(Sampler::TraceIdRatioBased(0.01))
                        .with_batch_exporter(
                            opentelemetry_sdk::testing::trace::NoopSpanExporter::new(),
                        )
                        .build(),
                ),
                Mode::OtelAll => otel(
                    SdkTracerProvider::builder()
                        .with_simple_exporter(
                            opentelemetry_sdk::testing::trace::NoopSpanExporter::new(),
                        )
                        .build(),
                ),
            }
        }
    }

    impl Mode {
        /// A word for the mode, which `E2E_PAIRS` picks.
        fn short(self) -> &'static str {
            match self {
                Mode::Off => "off",
                Mode::Recorded => "recorded",
                Mode::OtelHeadSampled => "head",
                Mode::OtelSampled => "sampled",
                Mode::OtelAll => "all",
            }
        }

        /// Which records the crate spans.
        fn sampling(self) -> Sampling {
            match self {
                Mode::OtelHeadSampled => Sampling::ratio(head_ratio()),
                _ => Sampling::ALL,
            }
        }
    }

    /// The head-sampled mode's ratio: `E2E_HEAD_RATIO`, 1 % by default.
    fn head_ratio() -> f64 {
        std::env::var("E2E_HEAD_RATIO")
            .ok()
            .and_then(|r| r.trim().parse().ok())
            .unwrap_or(0.01)
    }

    /// Whether the interleaved measure's OpenTelemetry layer is the lean
    /// one the README recommends at high rates (`E2E_LAYER=lean`) rather
    /// than `tracing_opentelemetry::layer()`'s defaults.
    fn lean_layer() -> bool {
        std::env::var("E2E_LAYER").is_ok_and(|l| l.trim() == "lean")
    }

    /// An OpenTelemetry layer on `tracer`: `tracing_opentelemetry::layer()`'s
    /// defaults, or the README's recipe for high rates (`lean`): no
    /// per-span location, thread or busy/idle attributes, and no
    /// OpenTelemetry context attached at each enter.
    fn otel_layer(tracer: opentelemetry_sdk::trace::SdkTracer, lean: bool) -> BoxedLayer {
        let layer = tracing_opentelemetry::layer().with_tracer(tracer);
        let layer = if lean {
            layer
                .with_location(false)
                .with_threads(false)
                .with_tracked_inactivity(false)
                .with_context_activation(false)
        } else {
            layer
        };
        layer.with_filter(LevelFilter::INFO).boxed()
    }

    /// The head-sampled mode's name, with its ratio and layer.
    fn head_label() -> &'static str {
        static LABEL: OnceLock<String> = OnceLock::new();
        LABEL.get_or_init(|| {
            format!(
                "OpenTelemetry, {} % head-sampled by the crate{}",
                head_ratio() * 100.0,
                if lean_layer() { ", lean layer" } else { "" }
            )
        })
    }

    struct Installed {
        layer: reload::Handle<BoxedLayer, Registry>,
        metrics: Arc<AtomicBool>,
        gated: Arc<AtomicBool>,
    }

    fn installed() -> &'static Installed {
        static INSTALLED: OnceLock<Installed> = OnceLock::new();
        INSTALLED.get_or_init(|| {
            let (layer, handle) = reload::Layer::new(Mode::Off.layer());
            tracing::subscriber::set_global_default(tracing_subscriber::registry().with(layer))
                .expect("one subscriber");
            let (on, gated) = (Arc::new(AtomicBool::new(false)), Arc::default());
            let inner = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
            // What `install` and the HTTP listener do: drain the histograms
            // every 5 s (their default), or their samples pile up without
            // bound, as they did in this bench before (a cost no scraped
            // exporter has).
            let prometheus = inner.handle();
            std::thread::Builder::new()
                .name("prometheus-upkeep".into())
                .spawn(move || loop {
                    std::thread::sleep(Duration::from_secs(5));
                    prometheus.run_upkeep();
                })
                .expect("upkeep thread");
            let recorder = Switch {
                on: on.clone(),
                gated: Arc::clone(&gated),
                inner,
            };
            metrics::set_global_recorder(recorder).expect("one recorder");
            Installed {
                layer: handle,
                metrics: on,
                gated,
            }
        })
    }

    fn set(mode: Mode) {
        let installed = installed();
        installed
            .layer
            .reload(mode.layer())
            .expect("reload the layer");
        installed.metrics.store(mode != Mode::Off, Ordering::SeqCst);
    }

    /// Handles every record of `topics` with `Consumer::run` (a handler that
    /// only counts); timed, wall clock and CPU, from the first record.
    async fn consume(servers: &str, topics: &[String], total: usize, mode: Mode) -> Timed {
        let consumer = ConsumerBuilder::from_config(consumer_config(servers))
            .topics(topics)
            .span_sampling(mode.sampling())
            .build::<AnyEntity>()
            .expect("typed consumer");
        let (seen, done) = (AtomicUsize::new(0), Shutdown::new());
        let started = OnceLock::new();
        bounded(
            "telemetry consumer",
            consumer.run(done.clone(), |r| {
                started.get_or_init(Stopwatch::start);
                std::hint::black_box(r.value());
                if seen.fetch_add(1, Ordering::Relaxed) + 1 == total {
                    done.trigger();
                }
                async { Ok::<_, kafka_codec::BoxError>(()) }
            }),
        )
        .await
        .into_result()
        .expect("consumer run");
        started.get().map_or(
            Timed {
                wall: Duration::ZERO,
                cpu: None,
                thread: None,
            },
            Stopwatch::stop,
        )
    }

    /// Most records per partition of a topic the consumer drains: the mock
    /// cluster keeps 5 MiB per partition (librdkafka's `max_size`) and
    /// drops older records, which a drain would wait for forever.
    const PER_PARTITION: usize = 5000;

    /// Writes the two topics the consumer drains (N + 1 records each,
    /// untimed, untraced: no `traceparent`), with enough partitions for
    /// the mock cluster to keep them whole.
    async fn inputs(
        broker: &kafka::Broker,
        settings: &Settings,
        messages: &[AnyEntity],
    ) -> Vec<String> {
        set(Mode::Off);
        let partitions = messages
            .len()
            .div_ceil(PER_PARTITION)
            .max(super::PARTITIONS as usize);
        let mut topics = Vec::new();
        for _ in 0..2 {
            let topic = kafka::fresh("e2e-telemetry-in");
            kafka::create_topic(
                broker,
                &topic,
                i32::try_from(partitions).expect("partitions"),
            )
            .await;
            produce_typed(&broker.servers, &topic, messages, settings.concurrency).await;
            topics.push(topic);
        }
        topics
    }

    /// Every round's figures for one side (producer or consumer) in one
    /// mode.
    #[derive(Default)]
    struct Rounds {
        /// Records per second.
        rates: Vec<f64>,
        /// CPU µs per record, this whole process.
        cpu: Vec<f64>,
    }

    impl Rounds {
        #[allow(clippy::cast_precision_loss)]
        fn push(&mut self, records: usize, t: Timed) {
            self.rates.push(rate(records, t.wall));
            if let Some(cpu) = t.cpu {
                self.cpu.push(cpu.as_secs_f64() * 1e6 / records as f64);
            }
        }
    }

    fn best_rate(v: &[f64]) -> f64 {
        v.iter().copied().fold(0.0, f64::max)
    }

    fn best_cpu(v: &[f64]) -> f64 {
        v.iter().copied().fold(f64::INFINITY, f64::min)
    }

    /// The smallest and the largest of `v`.
    fn range(v: &[f64]) -> (f64, f64) {
        (best_cpu(v), best_rate(v))
    }

    fn median(v: &[f64]) -> f64 {
        let mut v = v.to_vec();
        v.sort_by(f64::total_cmp);
        match v.len() {
            0 => f64::NAN,
            n if n % 2 == 1 => v[n / 2],
            n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
        }
    }

    /// What the 5 % goal allows a mode's CPU per record over `off`'s.
    const CPU_GOAL: f64 = 1.05;

    /// The modes the 5 % goal is for; the others are reported.
    fn has_goal(mode: Mode) -> bool {
        matches!(mode, Mode::Recorded | Mode::OtelHeadSampled)
    }

    /// The CPU table: µs per record and the ratio to off, best (least CPU)
    /// and median over the rounds, and the median of each round's own ratio
    /// (the modes of a round run one after the other, so that one cancels
    /// what drifts between rounds).
    fn cpu_table(name: &str, in_process: bool, rounds: &[[Rounds; Mode::ALL.len()]; 2]) -> String {
        use std::fmt::Write as _;
        let mut out = String::new();
        let _ = writeln!(
            out,
            "\nCPU per record, {name}: user + system time of this process, all threads, \
             over each timed section (CLOCK_PROCESS_CPUTIME_ID, nanoseconds), ÷ records; {}.",
            if in_process {
                "the mock cluster runs inside this process, so the broker's CPU counts too"
            } else {
                "the broker is another process, so this is the client's alone"
            },
        );
        out.push_str(
            "\n| broker | side | mode | CPU µs/record best | median | ratio to off best | \
             median | median of per-round ratios | goal: ≤ 1.05 on both medians |\n",
        );
        out.push_str("|---|---|---|---:|---:|---:|---:|---:|---|\n");
        for (side, modes) in ["producer", "consumer"].into_iter().zip(rounds) {
            let off = &modes[0].cpu;
            for (mode, r) in Mode::ALL.iter().zip(modes) {
                let paired: Vec<f64> = r.cpu.iter().zip(off).map(|(m, o)| m / o).collect();
                let (ratio, paired) = (median(&r.cpu) / median(off), median(&paired));
                // Met or missed only when both medians say so.
                let goal = match *mode {
                    Mode::Off => "",
                    m if !has_goal(m) => "reported",
                    _ if ratio <= CPU_GOAL && paired <= CPU_GOAL => "met",
                    _ if ratio > CPU_GOAL && paired > CPU_GOAL => "MISSED",
                    _ => "unresolved",
                };
                let _ = writeln!(
                    out,
                    "| {name} | {side} | {} | {:.2} | {:.2} | {:.3} | {ratio:.3} | {paired:.3} | \
                     {goal} |",
                    mode.label(),
                    best_cpu(&r.cpu),
                    median(&r.cpu),
                    best_cpu(&r.cpu) / best_cpu(off),
                );
            }
        }
        out
    }

    /// Rounds of producing and consuming in every [`Mode`], the order
    /// reversed every other round; the best rate of each counts, and each
    /// mode is reported against `Off`, by rate in the rows and by CPU per
    /// record in the table it prints and appends to `tables`.
    pub(super) async fn side(
        name: &'static str,
        broker: &kafka::Broker,
        settings: &Settings,
        messages: &[AnyEntity],
        tables: &mut String,
    ) -> Vec<Row> {
        let n = messages.len();
        let topics = &inputs(broker, settings, messages).await;
        let total = topics.len() * (n + 1);
        // [producer, consumer][mode]
        let mut rounds: [[Rounds; Mode::ALL.len()]; 2] = Default::default();
        for round in 0..settings.rounds {
            let mut modes = Mode::ALL;
            if round % 2 == 1 {
                modes.reverse();
            }
            for mode in modes {
                set(mode);
                let topic = fresh_topic(broker, "e2e-telemetry").await;
                let producer = Producer::builder(&broker.servers)
                    .span_sampling(mode.sampling())
                    .build()
                    .expect("typed producer");
                let sent = produce_with(producer, &topic, messages, settings.concurrency).await;
                log_run(name, "producer", round + 1, mode.label(), n, sent.wall);
                log_cpu(n, sent);
                let read = consume(&broker.servers, topics, total, mode).await;
                log_run(name, "consumer", round + 1, mode.label(), total, read.wall);
                log_cpu(total, read);
                let i = Mode::ALL
                    .iter()
                    .position(|&m| m == mode)
                    .unwrap_or_default();
                rounds[0][i].push(n, sent);
                rounds[1][i].push(total, read);
            }
        }
        set(Mode::Off);
        let mut rows = Vec::new();
        for (side, modes) in [
            ("producer: send_to", &rounds[0]),
            ("consumer: run", &rounds[1]),
        ] {
            let off = &modes[0].rates;
            for (i, mode) in Mode::ALL.iter().enumerate().skip(1) {
                let rates = &modes[i].rates;
                rows.push(Row {
                    broker: name,
                    side: Box::leak(
                        format!(
                            "{side}, {} vs off (median ratio {:.3})",
                            mode.label(),
                            median(rates) / median(off)
                        )
                        .into_boxed_str(),
                    ),
                    typed: best_rate(rates),
                    raw: best_rate(off),
                    target: has_goal(*mode).then_some(0.95),
                });
            }
        }
        if rounds
            .iter()
            .flatten()
            .all(|r| r.cpu.len() == settings.rounds)
        {
            let table = cpu_table(name, broker.embedded.is_some(), &rounds);
            println!("{table}");
            tables.push_str(&table);
        } else {
            println!("(no CPU time: CLOCK_PROCESS_CPUTIME_ID could not be read)");
        }
        rows
    }

    /// The pairs the interleaved measure compares: off against one mode with
    /// the 5 % goal, within one producer's and one consumer's run.
    const PAIRS: [Mode; 2] = [Mode::Recorded, Mode::OtelHeadSampled];

    /// Chunk `i`'s mode in the interleaved measure: off, on, on, off, and
    /// again (ABBA, so a drift through the run falls on both alike).
    fn chunk_on(i: usize) -> bool {
        matches!(i % 4, 1 | 2)
    }

    /// Sets the layer and metrics for one interleaved chunk: off, or `mode`
    /// with its OpenTelemetry layer built on `tracer` (made once per run, so
    /// a switch starts no exporter).
    fn set_chunk(mode: Mode, on: bool, tracer: &opentelemetry_sdk::trace::SdkTracer) {
        let installed = installed();
        let (spans, metrics) = switched();
        let layer = match (on && spans, mode) {
            (false, _) => LevelFilter::OFF.boxed(),
            (true, Mode::OtelHeadSampled) => otel_layer(tracer.clone(), lean_layer()),
            (true, _) => LevelFilter::INFO.boxed(),
        };
        installed.layer.reload(layer).expect("reload the layer");
        installed.metrics.store(on && metrics, Ordering::SeqCst);
    }

    /// With `E2E_MARKS=1`, the monotonic time at which a chunk starts, on
    /// stderr (`mark <ns> <side> <on|off>`), to split a `perf record -k
    /// CLOCK_MONOTONIC` profile by chunk.
    fn mark_chunk(side: &str, on: bool) {
        if std::env::var_os("E2E_MARKS").is_some() {
            let t = rustix::time::clock_gettime(rustix::time::ClockId::Monotonic);
            eprintln!(
                "mark {}{:09} {side} {}",
                t.tv_sec,
                t.tv_nsec,
                if on { "on" } else { "off" }
            );
        }
    }

    /// What the "on" chunks switch on: `E2E_ON=spans` or `metrics` (to
    /// tell their costs apart), both by default; `none` compares off with
    /// off (an A/A run: how far the measure strays with nothing to find).
    fn switched() -> (bool, bool) {
        match std::env::var("E2E_ON").as_deref().map(str::trim) {
            Ok("spans") => (true, false),
            Ok("metrics") => (false, true),
            Ok("none") => (false, false),
            _ => (true, true),
        }
    }

    /// CPU per record of the chunks of one interleaved run, by mode.
    struct Chunks {
        /// Records in a whole chunk: a shorter one (the run's tail) is not
        /// counted, as it has no like-sized neighbour to pair with.
        size: usize,
        /// [off, on]: CPU µs and records of the counted chunks.
        cpu: [f64; 2],
        records: [usize; 2],
        /// µs per record of each counted chunk, in order (ABBA pairs).
        each: Vec<(bool, f64)>,
    }

    impl Chunks {
        fn new(size: usize) -> Self {
            Chunks {
                size,
                cpu: [0.0; 2],
                records: [0; 2],
                each: Vec::new(),
            }
        }

        /// Counts chunk `i` (the first two, one of each mode, are the
        /// warm-up and are not counted, nor is a chunk short of the size).
        #[allow(clippy::cast_precision_loss)]
        fn push(&mut self, i: usize, records: usize, cpu: Duration) {
            if i < 2 || records < self.size {
                return;
            }
            let on = chunk_on(i);
            let us = cpu.as_secs_f64() * 1e6;
            self.cpu[usize::from(on)] += us;
            self.records[usize::from(on)] += records;
            self.each.push((on, us / records as f64));
        }

        /// On against off: the totals' ratio, and each ABBA pair's (a chunk
        /// on against its neighbour off).
        #[allow(clippy::cast_precision_loss)]
        fn ratios(&self) -> (f64, Vec<f64>) {
            let per = |m: usize| self.cpu[m] / self.records[m] as f64;
            let pairs = self
                .each
                .chunks_exact(2)
                .map(|p| match (p[0], p[1]) {
                    ((true, on), (false, off)) | ((false, off), (true, on)) => on / off,
                    _ => f64::NAN,
                })
                .filter(|r| r.is_finite())
                .collect();
            (per(1) / per(0), pairs)
        }

        /// A 95 % interval of the totals' ratio: the ABBA pairs resampled
        /// with replacement (a seeded bootstrap, 2 000 draws), each draw's
        /// ratio of mean CPU per record on to off.
        #[allow(clippy::cast_precision_loss)]
        fn interval(&self) -> Option<(f64, f64)> {
            use rand::{Rng as _, SeedableRng as _};
            let pairs: Vec<(f64, f64)> = self
                .each
                .chunks_exact(2)
                .filter_map(|p| match (p[0], p[1]) {
                    ((true, on), (false, off)) | ((false, off), (true, on)) => Some((on, off)),
                    _ => None,
                })
                .collect();
            if pairs.len() < 4 {
                return None;
            }
            let mut rng = rand::rngs::StdRng::seed_from_u64(0x5eed);
            let mut draws: Vec<f64> = (0..2000)
                .map(|_| {
                    let (on, off) = (0..pairs.len()).fold((0.0, 0.0), |(on, off), _| {
                        let (a, b) = pairs[rng.gen_range(0..pairs.len())];
                        (on + a, off + b)
                    });
                    on / off
                })
                .collect();
            draws.sort_by(f64::total_cmp);
            Some((draws[50], draws[1949]))
        }
    }

    /// Telemetry on against off within one run: the producer sends, and the
    /// consumer handles, chunks of `E2E_CHUNK` records (default 25 000),
    /// switching between off and the mode at every chunk (off, on, on, off,
    /// ...), each chunk timed by this process's CPU. Metrics handles stay
    /// registered and are switched at each use, spans by reloading the
    /// layer. Rounds of separate runs drift by more than the 5 % to
    /// resolve; chunks next to each other share the machine's state.
    pub(super) async fn interleaved(
        name: &'static str,
        broker: &kafka::Broker,
        settings: &Settings,
        messages: &[AnyEntity],
        tables: &mut String,
    ) {
        use opentelemetry_sdk::trace::SdkTracerProvider;
        use std::fmt::Write as _;

        let chunk = super::env_usize("E2E_CHUNK", 25_000).max(1);
        let topics = &inputs(broker, settings, messages).await;
        let total = topics.len() * (messages.len() + 1);
        let installed = installed();
        let mut table = format!(
            "\nTelemetry on against off, interleaved, {name}: chunks of {chunk} records, \
             off/on/on/off..., the first two not counted; CPU per record of this process \
             ({}) and of the thread that runs the producer and the consumer (their own code \
             and the telemetry, without librdkafka's threads).\n\n| broker | side | mode | \
             CPU of | chunks off + on | CPU µs/record off | on | ratio of the totals | \
             its 95 % interval (bootstrap over the pairs) | pairs: median | min–max | \
             goal ≤ 1.05 (by the interval) |\n\
             |---|---|---|---|---:|---:|---:|---:|---|---:|---|---|\n",
            if broker.embedded.is_some() {
                "the mock cluster's CPU included"
            } else {
                "the client's alone"
            }
        );
        let only = std::env::var("E2E_PAIRS").unwrap_or_default();
        let runs = super::env_usize("E2E_RUNS", 1).max(1);
        // The totals' ratio of each run, by line (mode, side, clock).
        let mut by_line: Vec<(Line, Vec<f64>)> = Vec::new();
        for (run, mode) in (0..runs).flat_map(|run| {
            PAIRS
                .into_iter()
                .filter(|m| m.short().contains(only.trim()))
                .map(move |m| (run, m))
        }) {
            if runs > 1 {
                println!(
                    "\n  run {} of {runs}, {}; load average {}",
                    run + 1,
                    mode.label(),
                    super::load_average()
                );
            }
            let provider = SdkTracerProvider::builder()
                .with_batch_exporter(opentelemetry_sdk::testing::trace::NoopSpanExporter::new())
                .build();
            let tracer = provider.tracer("e2e");
            // Handles registered from here on ask the switch at each use.
            installed.gated.store(true, Ordering::SeqCst);
            let mut sides = Vec::new();

            let producer = Producer::builder(&broker.servers)
                .span_sampling(mode.sampling())
                .build()
                .expect("typed producer");
            let topic = fresh_topic(broker, "e2e-interleaved").await;
            let (mut sent, mut sent_thread) = (Chunks::new(chunk), Chunks::new(chunk));
            for (i, part) in messages.chunks(chunk).enumerate() {
                set_chunk(mode, chunk_on(i), &tracer);
                mark_chunk("producer", chunk_on(i));
                let t = produce_with(producer.clone(), &topic, part, settings.concurrency).await;
                if let Some(cpu) = t.cpu {
                    sent.push(i, part.len(), cpu);
                }
                if let Some(cpu) = t.thread {
                    sent_thread.push(i, part.len(), cpu);
                }
            }
            sides.push(("producer", "process", sent));
            sides.push(("producer", "thread", sent_thread));

            set_chunk(mode, false, &tracer);
            let consumer = ConsumerBuilder::from_config(consumer_config(&broker.servers))
                .topics(topics)
                .span_sampling(mode.sampling())
                .build::<AnyEntity>()
                .expect("typed consumer");
            let done = Shutdown::new();
            let (mut read, mut read_thread) = (Chunks::new(chunk), Chunks::new(chunk));
            // Records handled, and (at the last switch) that count and the
            // CPU of the process and of this thread.
            let (mut seen, mut last, mut mark, mut mark_thread) = (0, 0, None, None);
            bounded(
                "interleaved consumer",
                consumer.run(done.clone(), |r| {
                    std::hint::black_box(r.value());
                    seen += 1;
                    // The first record starts chunk 0; every `chunk`
                    // records one ends and the next starts in the other mode.
                    if seen == 1 || seen % chunk == 0 || seen == total {
                        let (now, now_thread) = (super::process_cpu(), super::thread_cpu());
                        let i = (seen - 1) / chunk;
                        if let (Some(now), Some(before)) = (now, mark) {
                            read.push(i, seen - last, now.saturating_sub(before));
                        }
                        if let Some(before) = mark_thread {
                            read_thread.push(i, seen - last, now_thread.saturating_sub(before));
                        }
                        // The switch itself (a layer rebuilt, the callsites'
                        // interest with it) is in neither chunk, as for the
                        // producer, whose chunks start after it.
                        set_chunk(mode, chunk_on(seen / chunk), &tracer);
                        mark_chunk("consumer", chunk_on(seen / chunk));
                        (last, mark, mark_thread) =
                            (seen, super::process_cpu(), Some(super::thread_cpu()));
                    }
                    if seen == total {
                        done.trigger();
                    }
                    async { Ok::<_, kafka_codec::BoxError>(()) }
                }),
            )
            .await
            .into_result()
            .expect("interleaved consumer run");
            sides.push(("consumer", "process", read));
            sides.push(("consumer", "thread", read_thread));
            installed.gated.store(false, Ordering::SeqCst);
            set(Mode::Off);
            let _ = provider.shutdown();

            for (side, of, chunks) in &sides {
                let (ratio, pairs) = chunks.ratios();
                let (lo, hi) = range(&pairs);
                let pair = median(&pairs);
                let interval = chunks.interval();
                let goal = match interval {
                    _ if !(ratio.is_finite() && pair.is_finite()) => {
                        "too few chunks: E2E_MESSAGES ≥ 4 × E2E_CHUNK"
                    }
                    None => "too few pairs for an interval",
                    Some((_, hi)) if hi <= CPU_GOAL => "met",
                    Some((lo, _)) if lo > CPU_GOAL => "MISSED",
                    Some(_) => "unresolved: the interval holds 1.05",
                };
                let interval =
                    interval.map_or_else(|| "–".to_owned(), |(lo, hi)| format!("{lo:.3}–{hi:.3}"));
                #[allow(clippy::cast_precision_loss)]
                let per = |m: usize| chunks.cpu[m] / chunks.records[m].max(1) as f64;
                let on = match switched() {
                    (true, false) => " (spans alone)",
                    (false, true) => " (metrics alone)",
                    (false, false) => " (A/A: nothing switched on)",
                    (true, true) => "",
                };
                let line = format!(
                    "| {name} | {side} | {}{on} | {of} | {} | {:.2} | {:.2} | {ratio:.3} | \
                     {interval} | {pair:.3} | {lo:.3}–{hi:.3} | {goal} |",
                    mode.label(),
                    chunks.each.len(),
                    per(0),
                    per(1),
                );
                println!("  {line}");
                let _ = writeln!(table, "{line}");
                let key = (format!("{}{on}", mode.label()), *side, *of);
                match by_line.iter_mut().find(|(k, _)| *k == key) {
                    Some((_, ratios)) => ratios.push(ratio),
                    None => by_line.push((key, vec![ratio])),
                }
            }
        }
        if runs > 1 {
            table.push_str(&across_runs(name, runs, &by_line));
        }
        println!("{table}");
        tables.push_str(&table);
    }

    /// A line of the interleaved measure: mode, side, and whose CPU.
    type Line = (String, &'static str, &'static str);

    /// The verdict over `runs` interleaved runs: one run's interval is
    /// narrower than the spread between runs (the same pair has moved by 6
    /// points from one run to the next), so the median of the runs' ratios
    /// decides, and the range shows the spread.
    fn across_runs(name: &str, runs: usize, by_line: &[(Line, Vec<f64>)]) -> String {
        use std::fmt::Write as _;

        let mut out = format!(
            "\nAcross {runs} runs, {name}: the ratio of the totals of each run, their \
             median and range.\n\n| broker | side | mode | CPU of | runs | median | \
             min–max | each run | goal ≤ 1.05 (by the median) |\n\
             |---|---|---|---|---:|---:|---|---|---|\n"
        );
        for ((mode, side, of), ratios) in by_line {
            let (lo, hi) = range(ratios);
            let mid = median(ratios);
            let each = ratios
                .iter()
                .map(|r| format!("{r:.3}"))
                .collect::<Vec<_>>()
                .join(", ");
            let goal = if !mid.is_finite() {
                "too few chunks"
            } else if mid <= CPU_GOAL {
                "met"
            } else {
                "MISSED"
            };
            let _ = writeln!(
                out,
                "| {name} | {side} | {mode} | {of} | {} | **{mid:.3}** | {lo:.3}–{hi:.3} | \
                 {each} | {goal} |",
                ratios.len()
            );
        }
        out
    }

    /// The CPU part of a [`log_run`] line, and its end.
    #[allow(clippy::cast_precision_loss)]
    fn log_cpu(records: usize, t: Timed) {
        match t.cpu {
            Some(cpu) => println!(
                ", CPU {:>6.2} s = {:>5.2} µs/record",
                cpu.as_secs_f64(),
                cpu.as_secs_f64() * 1e6 / records as f64
            ),
            None => println!(),
        }
    }
}

#[cfg(not(all(feature = "otel", feature = "metrics")))]
mod telemetry {
    use super::{kafka, AnyEntity, Row, Settings};

    // The real one's signature, so the caller is the same.
    #[allow(clippy::unused_async)]
    pub(super) async fn side(
        _: &'static str,
        _: &kafka::Broker,
        _: &Settings,
        _: &[AnyEntity],
        _: &mut String,
    ) -> Vec<Row> {
        println!("(the telemetry side needs features otel and metrics: --all-features)");
        Vec::new()
    }

    #[allow(clippy::unused_async)]
    pub(super) async fn interleaved(
        _: &'static str,
        _: &kafka::Broker,
        _: &Settings,
        _: &[AnyEntity],
        _: &mut String,
    ) {
        println!("(the interleaved side needs features otel and metrics: --all-features)");
    }
}

fn table(rows: &[Row]) -> String {
    let mut out = String::new();
    out.push_str("| broker | side | typed msgs/s | raw msgs/s | ratio | target |\n");
    out.push_str("|---|---|---:|---:|---:|---|\n");
    for r in rows {
        let ratio = r.typed / r.raw;
        let target = match r.target {
            Some(t) if ratio >= t => format!("≥ {t} (met)"),
            Some(t) => format!("≥ {t} (MISSED)"),
            None => "reported".into(),
        };
        let _ = writeln!(
            out,
            "| {} | {} | {:.0} | {:.0} | {ratio:.3} | {target} |",
            r.broker, r.side, r.typed, r.raw
        );
    }
    out
}

/// The codec work alone, on one thread, no Kafka: what the typed side does
/// on top of the raw one at best, to read the ratios against.
/// The 1, 5 and 15 minute load averages, where Linux tells them: other work
/// on the machine shows in the rates.
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg").map_or_else(
        |_| "unknown".into(),
        |s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "),
    )
}

/// The real broker's name in the output: `E2E_BROKER_NAME`, e.g. `tansu`.
fn real_name() -> &'static str {
    match std::env::var("E2E_BROKER_NAME") {
        Ok(name) if !name.trim().is_empty() => Box::leak(name.into_boxed_str()),
        _ => "KAFKA_BROKERS",
    }
}

#[allow(clippy::cast_precision_loss)]
fn cpu_floor(messages: &[AnyEntity], encoded: &[Encoded]) {
    let n = messages.len();
    let codec = <AnyEntity as KafkaMessage>::Codec::default();
    let mut buf = Vec::new();
    let best = |f: &mut dyn FnMut()| {
        (0..3)
            .map(|_| {
                let start = Instant::now();
                f();
                start.elapsed()
            })
            .min()
            .unwrap_or_default()
    };
    let encode = best(&mut || {
        for m in messages {
            buf.clear();
            codec.encode(m, &mut buf).expect("encodes");
            black_box(&buf);
        }
    });
    let from_bytes = best(&mut || {
        for e in encoded {
            black_box(AnyEntity::from_bytes(&e.payload).expect("decodes"));
        }
    });
    let typetag = best(&mut || {
        for e in encoded {
            black_box(serde_json::from_slice::<AnyEntity>(&e.payload).expect("decodes"));
        }
    });
    let per = |d: Duration| d.as_secs_f64() * 1e6 / n.max(1) as f64;
    println!(
        "codec alone, one thread, best of 3: encode {:.2} µs/record, decode {:.2} µs/record \
         (fast path, from_bytes), {:.2} µs/record (typetag)",
        per(encode),
        per(from_bytes),
        per(typetag)
    );
}

fn main() {
    let settings = Settings::from_env();
    let wall = Instant::now();
    let mut rng = StdRng::seed_from_u64(SEED);
    let messages: Vec<AnyEntity> = (0..settings.messages)
        .map(|_| random_entity(&mut rng))
        .collect();
    let encoded = encode_all(&messages);
    let sizes: Vec<usize> = encoded.iter().map(|e| e.payload.len()).collect();
    let bytes: usize = sizes.iter().sum();
    println!(
        "e2e: {} records of the sample hierarchy, JSON payload {}..{} B (mean {} B), \
         {} in flight; best of {} producer rounds and {} consumer rounds; topics with \
         {PARTITIONS} partitions; load average {}",
        settings.messages,
        sizes.iter().min().copied().unwrap_or_default(),
        sizes.iter().max().copied().unwrap_or_default(),
        bytes / sizes.len().max(1),
        settings.concurrency,
        settings.producer_rounds,
        settings.rounds,
        load_average(),
    );
    cpu_floor(&messages, &encoded);

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let mut tables = String::new();
    let rows = runtime.block_on(async {
        let real_set = std::env::var("KAFKA_BROKERS").is_ok_and(|s| !s.trim().is_empty());
        let mut rows = Vec::new();
        if !(real_set && std::env::var("E2E_EMBEDDED").as_deref() == Ok("0")) {
            let embedded = Embedded::start(1).expect("start the mock cluster");
            let mock = kafka::Broker {
                servers: embedded.bootstrap_servers().to_owned(),
                embedded: Some(embedded),
            };
            rows = run_broker(
                "embedded",
                &mock,
                &settings,
                &messages,
                &encoded,
                &mut tables,
            )
            .await;
        }
        match std::env::var("KAFKA_BROKERS") {
            Ok(servers) if !servers.trim().is_empty() => {
                let real = kafka::Broker {
                    servers,
                    embedded: None,
                };
                rows.extend(
                    run_broker(
                        real_name(),
                        &real,
                        &settings,
                        &messages,
                        &encoded,
                        &mut tables,
                    )
                    .await,
                );
            }
            _ => println!("\n(KAFKA_BROKERS not set: embedded mock cluster only)"),
        }
        rows
    });

    println!("\n{}{tables}", table(&rows));
    if settings.consumer {
        println!(
            "The typed consumer decodes every record; `recv (no decode)` does not, so that \
             ratio is bounded by recv / (recv + decode) and is the floor, not a like-for-like \
             target. `recv + from_bytes` runs the same decoder as the typed consumer: its ratio \
             is what the consumer wrapper costs."
        );
    }
    println!(
        "wall time {:.1} s; load average {}",
        wall.elapsed().as_secs_f64(),
        load_average()
    );
}
