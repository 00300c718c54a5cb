//! The producer side: `Producer::send_to` against `FutureProducer::send`,
//! of records encoded before the clock starts and of records encoded in
//! the timed loop (`serde_json::to_vec` of a tagged enum).

use std::time::{Duration, Instant};

use futures::StreamExt;
use kafka_codec::kafka::Producer;
use kafka_codec::{headers, KafkaCodec, KafkaMessage};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};

use crate::clock::{rate, Stopwatch, Timed};
use crate::kafka;
use crate::report::{log_run, Row};
use crate::sample;
use crate::setup::{
    bounded, fresh_topic, producer_config, AnyEntity, Encoded, Settings, QUEUE_TIMEOUT, TARGET,
};

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

pub(crate) async fn produce_typed(
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
pub(crate) async fn produce_with(
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
/// trait objects: the producer baseline encodes these.
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

/// Rounds of typed and raw producer runs, alternating which goes first.
/// Returns the table row and the topics written, each with the same N + 1
/// records (key, payload and headers alike).
pub(crate) async fn producer_side(
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
                    // The baseline, encoding in the loop (its topics
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
