//! The consumer side: `Consumer::next` and a `Partitioned` consumer
//! against `StreamConsumer::recv` draining the same topics, with no decode,
//! typetag, the crate's `from_bytes`, or serde_json into the type the
//! `ce_type` header names.

use std::hint::black_box;
use std::time::{Duration, Instant};

use kafka_codec::kafka::ConsumerBuilder;
use kafka_codec::{headers, KafkaMessage};
use rdkafka::consumer::{Consumer as _, StreamConsumer};
use rdkafka::message::{BorrowedMessage, Message};
use rdkafka::ClientConfig;

use crate::clock::{cpu_since, process_cpu, rate};
use crate::kafka;
use crate::report::{log_run, Row};
use crate::sample::{self, Entity};
use crate::setup::{bounded, consumer_config, AnyEntity, Settings, TARGET};

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

/// Rounds of the four drains of every topic the producer side wrote (each N
/// records plus the warm-up one), the order reversed every other round.
pub(crate) async fn consumer_side(
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
