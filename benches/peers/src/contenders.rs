//! Each contender's producer and consumer, written the way its own docs
//! show: kafka-codec's typed `Producer::send_to` / `Consumer::next`,
//! ruststream's publish builder and a `Handle` mounted on a `KafkaTopic`
//! subscription, and rdkafka's `FutureProducer` / `StreamConsumer` with
//! serde_json by hand.
//!
//! A producer sends record 0 untimed (connection, metadata, producer id),
//! then the rest with at most [`IN_FLIGHT`] sends awaiting their delivery
//! report. Consumers (one or a group, on one runtime) count into a shared
//! [`Tally`]; the clock runs from the first record to the last.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use kafka_codec::kafka::{ConsumerBuilder, Producer};
use kafka_codec::KafkaMessage as _;
use rdkafka::consumer::{Consumer as _, StreamConsumer};
use rdkafka::message::Message;
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::ClientConfig;
use ruststream::ConnectedBroker as _;
use ruststream_rdkafka::prelude::*;
use ruststream_rdkafka::{KafkaPublisher, PARTITION_KEY_HEADER};

use crate::records::{self, AnyEntity, Tally};
use kafka_codec_sample::Entity;

/// Sends awaiting their delivery report at a time (as in the e2e bench, benches/e2e/).
const IN_FLIGHT: usize = 1000;
const QUEUE_TIMEOUT: Duration = Duration::from_secs(30);

type Error = Box<dyn std::error::Error + Send + Sync>;

/// The group settings every consumer gets, whatever its client: the short
/// session timeout keeps Tansu's first assignment quick.
const GROUP: [(&str, &str); 2] = [
    ("session.timeout.ms", "6000"),
    ("heartbeat.interval.ms", "1000"),
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Contender {
    KafkaCodec,
    Ruststream,
    Raw,
}

impl Contender {
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "kafka-codec" => Some(Contender::KafkaCodec),
            "ruststream" => Some(Contender::Ruststream),
            "raw" => Some(Contender::Raw),
            _ => None,
        }
    }
}

/// Sends `n` records to `topic`; returns the time of all but the first and
/// the average payload size.
pub async fn produce(
    who: Contender,
    servers: &str,
    topic: &str,
    n: usize,
) -> Result<(Duration, usize), Error> {
    match who {
        Contender::KafkaCodec => {
            let messages = records::boxed(n);
            let producer = Producer::builder(servers).build()?;
            producer.send_to(topic, &messages[0]).await?;
            let start = Instant::now();
            concurrently(&messages[1..], |m| async {
                producer
                    .send_to(topic, m)
                    .await
                    .map(drop)
                    .map_err(Error::from)
            })
            .await?;
            let elapsed = start.elapsed();
            let bytes: usize = messages
                .iter()
                .map(|m| m.to_bytes().map_or(0, |b| b.len()))
                .sum();
            Ok((elapsed, bytes / n))
        }
        Contender::Raw => {
            let messages = records::tagged(n);
            let producer: FutureProducer = ClientConfig::new()
                .set("bootstrap.servers", servers)
                .create()?;
            send_raw(&producer, topic, &messages[0]).await?;
            let start = Instant::now();
            concurrently(&messages[1..], |m| send_raw(&producer, topic, m)).await?;
            Ok((start.elapsed(), json_bytes(&messages) / n))
        }
        Contender::Ruststream => {
            let messages = records::tagged(n);
            let broker = KafkaBroker::new([servers.to_owned()]).connect().await?;
            let publisher = broker.publisher(Publish::default());
            publish(&publisher, topic, &messages[0]).await?;
            let start = Instant::now();
            concurrently(&messages[1..], |m| publish(&publisher, topic, m)).await?;
            let elapsed = start.elapsed();
            broker.shutdown().await?;
            Ok((elapsed, json_bytes(&messages) / n))
        }
    }
}

/// What a user of plain rdkafka writes: serde_json, the key, `send`.
async fn send_raw(producer: &FutureProducer, topic: &str, m: &AnyEntity) -> Result<(), Error> {
    let (key, payload) = (m.key(), serde_json::to_vec(m)?);
    let mut record = FutureRecord::to(topic).payload(&payload);
    if let Some(key) = &key {
        record = record.key(key);
    }
    producer
        .send(record, QUEUE_TIMEOUT)
        .await
        .map_err(|(e, _)| e)?;
    Ok(())
}

/// ruststream's publish builder with its default (JSON) codec; the
/// partition-key header becomes the record key.
async fn publish(publisher: &KafkaPublisher, topic: &str, m: &AnyEntity) -> Result<(), Error> {
    let mut headers = HeaderMap::new();
    if let Some(key) = m.key() {
        headers.insert(PARTITION_KEY_HEADER, key);
    }
    publisher
        .message(m)
        .to(topic)
        .with_headers(headers)
        .publish()
        .await?;
    Ok(())
}

fn json_bytes(messages: &[AnyEntity]) -> usize {
    messages
        .iter()
        .map(|m| serde_json::to_vec(m).map_or(0, |b| b.len()))
        .sum()
}

/// Runs `send` on every message, [`IN_FLIGHT`] at a time; the first error
/// ends the run.
async fn concurrently<'a, T, F, Fut>(messages: &'a [T], send: F) -> Result<(), Error>
where
    F: Fn(&'a T) -> Fut,
    Fut: std::future::Future<Output = Result<(), Error>>,
{
    let mut results = futures::stream::iter(messages)
        .map(send)
        .buffer_unordered(IN_FLIGHT);
    while let Some(result) = results.next().await {
        result?;
    }
    Ok(())
}

/// Reads `topic` with `members` consumers of one group until all of its
/// records were seen; returns the tally and the time the first record took.
pub async fn consume(
    who: Contender,
    servers: &str,
    topic: &str,
    group: &str,
    members: usize,
    tally: Arc<Tally>,
) -> Result<Duration, Error> {
    let created = Instant::now();
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", servers)
        .set("group.id", group)
        .set("auto.offset.reset", "earliest");
    for (key, value) in GROUP {
        config.set(key, value);
    }
    match who {
        Contender::KafkaCodec => {
            for _ in 0..members {
                let consumer = ConsumerBuilder::from_config(config.clone())
                    .topics(&[topic])
                    .build::<Box<dyn Entity>>()?;
                let tally = tally.clone();
                tokio::spawn(async move {
                    loop {
                        let record = consumer.next().await.expect("a record");
                        if tally.record(record.value().base().id) {
                            break;
                        }
                    }
                });
            }
            tally.wait().await;
        }
        Contender::Raw => {
            for _ in 0..members {
                let consumer: StreamConsumer = config.create()?;
                consumer.subscribe(&[topic])?;
                let tally = tally.clone();
                tokio::spawn(async move {
                    loop {
                        let message = consumer.recv().await.expect("a record");
                        let payload = message.payload().expect("a payload");
                        let entity: AnyEntity = serde_json::from_slice(payload).expect("decodes");
                        if tally.record(entity.id()) {
                            break;
                        }
                    }
                });
            }
            tally.wait().await;
        }
        Contender::Ruststream => {
            let app = RustStream::new(AppInfo::new("peers", "0.0.0")).with_broker(
                KafkaBroker::new([servers.to_owned()]),
                |b| {
                    for _ in 0..members {
                        let mut source = KafkaTopic::new(topic)
                            .group(group)
                            .start(StartOffset::Earliest);
                        for (key, value) in GROUP {
                            source = source.config(key, value);
                        }
                        b.include(subscriber(source, Count(tally.clone())).build());
                    }
                },
            );
            let waiting = tally.clone();
            app.run_until(async move { waiting.wait().await }).await?;
        }
    }
    let (first, _, _) = tally.span();
    Ok(first - created)
}

/// ruststream's handler: a decoded record, counted.
struct Count(Arc<Tally>);

impl Handle<AnyEntity> for Count {
    fn handle(
        &self,
        entity: &AnyEntity,
        _outs: &(),
        _ctx: &mut Context<'_>,
    ) -> impl std::future::Future<Output = Result<(), HandlerOutcome>> + Send {
        self.0.record(entity.id());
        std::future::ready(Ok(()))
    }
}
