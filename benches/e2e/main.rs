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
//! each side (`E2E_SIDES`, default `producer,consumer,pipeline`):
//!
//! * **producer** (`producer.rs`): `Producer::send_to` against two raw
//!   rdkafka `FutureProducer::send` runs of the same records: the issue's
//!   baseline, `serde_json::to_vec` of a `#[serde(tag = "type")]` enum of the
//!   same structs and the headers built in the timed loop (the target), and a
//!   stricter one with every record encoded, keyed and with its headers
//!   *before* the clock starts (reported only). The typed side encodes as it
//!   sends, which is its job. All use one `ClientConfig` (what
//!   `Producer::builder` sets: `bootstrap.servers`, `enable.idempotence=true`;
//!   librdkafka defaults otherwise) and keep `E2E_CONCURRENCY` (default 1000)
//!   sends in flight with `for_each_concurrent`. Each producer sends one
//!   untimed record first, so connecting, metadata and the producer id are not
//!   timed.
//! * **consumer** (`consumer.rs`): `Consumer<Box<dyn Entity>>::next` draining
//!   the topics the producer side wrote (2 per producer round, each the same
//!   N + 1 records, so a drain is long enough to time: 240 012 records by
//!   default), against `StreamConsumer::recv` draining the same topics (a)
//!   touching only the payload length, (b) decoding the payload with
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
//! * **pipeline** (`pipeline.rs`): an `ExactlyOnce` pipeline (each batch's
//!   outputs and offsets in one transaction) against at least once
//!   (`run_batches` in manual commit mode), both reading one producer-side
//!   topic and writing one record per input to a fresh topic, with the same
//!   batches (500 records or 100 ms).
//! * **telemetry** (`telemetry.rs`; not in the default set; needs
//!   `--all-features`): the typed producer and `Consumer::run` with traces and
//!   metrics (a Prometheus recorder) on against off, the traces recorded, or
//!   exported through OpenTelemetry with 1 % head-sampled by the crate
//!   (`span_sampling`), 1 % sampled by OpenTelemetry, or every span; its runs
//!   are `E2E_MESSAGES` records produced and twice that consumed (use
//!   100 000 or more for runs long enough to time), each timed by the wall
//!   clock (records/s) and by this process's CPU time (user + system, all
//!   threads, µs per record), which the machine's other load and the waits on
//!   the broker move far less; with the mock cluster the broker's CPU is in
//!   it too. Every topic is fresh, with 4 partitions.
//! * **interleaved** (`telemetry/interleaved.rs`; also `--all-features`):
//!   compares off with the two modes the 5 % goal is for inside one
//!   producer's and one consumer's run instead: chunks of `E2E_CHUNK`
//!   records alternate off, on, on, off, ..., each timed by the CPU of the
//!   process and of the thread that runs the clients (nanosecond clocks),
//!   with a bootstrap interval of the ratio that decides the goal; over
//!   `E2E_RUNS` runs, the median of the runs decides (the same pair moves
//!   more between runs than one run's interval says).
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
//! other work moves single runs by ±30 %. A markdown table of ratios closes
//! the run (`scripts/bench-chart.py --from-e2e` reads it). With the defaults
//! a run takes about a minute per broker on two cores, most of it consumer
//! group joins.
//!
//! # Environment variables
//!
//! Every switch of the run, in one place. A count must be a positive
//! integer (the run stops on anything else); a list is comma-separated
//! words, each matched as a substring.
//!
//! | variable | default | what it does |
//! |---|---|---|
//! | `KAFKA_BROKERS` | unset: the embedded mock cluster only | bootstrap servers of a real broker; every side then runs against it too, after the mock cluster |
//! | `E2E_BROKER_NAME` | `KAFKA_BROKERS` | the real broker's name in the output and the closing table (e.g. `tansu`; `scripts/bench-chart.py --from-e2e` matches rows by it) |
//! | `E2E_EMBEDDED` | the mock cluster runs | `0` skips the embedded mock cluster, when `KAFKA_BROKERS` is set |
//! | `E2E_SIDES` | `producer,consumer,pipeline` | the sides to run, any of `producer`, `consumer`, `pipeline`, `telemetry`, `interleaved` (the last two need `--all-features`); without `producer`, the consumer and pipeline sides read 2 × `E2E_PRODUCER_ROUNDS` topics written untimed by the typed producer |
//! | `E2E_MESSAGES` | 20 000 | records per producer run (N); each topic holds N + 1 (the warm-up record); the telemetry and interleaved sides produce N and consume two topics of N + 1 |
//! | `E2E_CONCURRENCY` | 1000 | sends in flight (`for_each_concurrent`), typed and raw alike |
//! | `E2E_PRODUCER_ROUNDS` | 6 | rounds of the producer side (each contender first, second and third in turn); each round writes 2 topics the consumer side drains |
//! | `E2E_ROUNDS` | 3 | rounds of the consumer, pipeline and telemetry sides (the order reversed, or the first swapped, every other round) |
//! | `E2E_DRAINS` | every drain | consumer side: only the drains whose label holds one of the words (labels: `typed Consumer::next`, `typed Partitioned::run`, `raw recv (no decode)`, `raw recv + typetag decode`, `raw recv + from_bytes`, `raw recv + serde_json by ce_type`), to profile one alone |
//! | `E2E_HEAD_RATIO` | 0.01 | telemetry and interleaved sides: the ratio of the mode head-sampled by the crate (`Sampling::ratio`); the mode's label shows it |
//! | `E2E_LAYER` | `tracing_opentelemetry::layer()`'s defaults | `lean`: the head-sampled mode gets the README's lean OpenTelemetry layer (no location, thread or busy/idle attributes, no context activation) |
//! | `E2E_CHUNK` | 25 000 | interleaved side: records per chunk (use `E2E_MESSAGES` ≥ 4 × `E2E_CHUNK`) |
//! | `E2E_PAIRS` | both pairs | interleaved side: only the pair whose mode is named by the word, `recorded` (every span recorded + metrics) or `head` (OpenTelemetry head-sampled + metrics) |
//! | `E2E_ON` | spans and metrics | interleaved side: what the "on" chunks switch on: `spans` alone, `metrics` alone, or `none` (an A/A run: the measure's own bias and spread) |
//! | `E2E_RUNS` | 1 | interleaved side: repeats the measure N times in one process and closes with each line's median, range and runs (the median decides) |
//! | `E2E_MARKS` | unset | interleaved side: when set (to anything), prints each chunk's start on the monotonic clock to stderr (`mark <ns> <side> <on\|off>`), to split a `perf record -k CLOCK_MONOTONIC` profile by chunk |
//!
//! # Layout
//!
//! `main.rs` runs the sides against each broker and prints the closing
//! table; `setup.rs` holds the settings, the records and the clients'
//! configuration; `clock.rs` the wall and CPU clocks; `report.rs` the log
//! lines and tables; then one module per side: `producer.rs`, `consumer.rs`,
//! `pipeline.rs`, `telemetry.rs` and `telemetry/interleaved.rs` (features
//! `otel` and `metrics`; without them a stub says so).

#[path = "../../tests/support/kafka.rs"]
mod kafka;
use kafka_codec_sample as sample;

mod clock;
mod consumer;
mod pipeline;
mod producer;
mod report;
mod setup;
#[cfg(all(feature = "otel", feature = "metrics"))]
mod telemetry;

use std::time::Instant;

use kafka_codec::kafka::embedded::Embedded;
use rand::rngs::StdRng;
use rand::SeedableRng;

use crate::consumer::consumer_side;
use crate::pipeline::pipeline_side;
use crate::producer::{produce_typed, producer_side};
use crate::report::{cpu_floor, load_average, real_name, table, Row};
use crate::sample::random_entity;
use crate::setup::{encode_all, fresh_topic, AnyEntity, Encoded, Settings, PARTITIONS, SEED};

#[cfg(not(all(feature = "otel", feature = "metrics")))]
mod telemetry {
    use crate::kafka;
    use crate::report::Row;
    use crate::setup::{AnyEntity, Settings};

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
