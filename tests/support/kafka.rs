//! Shared helpers for the tests that talk to Kafka: the broker under test
//! (`KAFKA_BROKERS`, else an embedded mock cluster), fresh topics, and a
//! consumer configuration with a short session timeout.
#![allow(dead_code, unreachable_pub)]

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use kafka_codec::kafka::embedded::Embedded;
use kafka_codec::kafka::{ConsumerBuilder, Producer};
use kafka_codec::KafkaMessage;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{Consumer as _, StreamConsumer};
use rdkafka::message::{Headers, Message};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};
use serde::{Deserialize, Serialize};

pub struct Broker {
    pub servers: String,
    pub embedded: Option<Embedded>,
}

impl Broker {
    pub fn kind(&self) -> &'static str {
        if self.embedded.is_some() {
            "embedded mock cluster"
        } else {
            "KAFKA_BROKERS"
        }
    }
}

/// The name of the broker under test: `embedded`, else `KAFKA_BROKER_NAME`
/// (`tansu` in `scripts/test-all.sh`), else `kafka`. Tests use it where a
/// broker's documented limitation changes what can be checked.
pub fn broker_name(broker: &Broker) -> String {
    if broker.embedded.is_some() {
        return "embedded".into();
    }
    std::env::var("KAFKA_BROKER_NAME")
        .ok()
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| "kafka".into())
}

/// The broker under test.
pub fn broker() -> Broker {
    match std::env::var("KAFKA_BROKERS") {
        Ok(servers) if !servers.trim().is_empty() => Broker {
            servers,
            embedded: None,
        },
        _ => embedded_broker(),
    }
}

/// The real broker named by `KAFKA_BROKERS`, for a test the mock cluster
/// cannot run. Such a test is `#[ignore = "needs a real broker ..."]`;
/// `scripts/test-all.sh` runs it with `--ignored` on Tansu.
pub fn real_broker() -> Broker {
    let broker = broker();
    assert!(
        broker.embedded.is_none(),
        "this test needs a real broker: set KAFKA_BROKERS (scripts/test-all.sh starts Tansu)"
    );
    broker
}

/// A mock cluster of this test's own, whatever `KAFKA_BROKERS` says: for a
/// test that injects faults into it.
pub fn embedded_broker() -> Broker {
    let embedded = Embedded::start(1).expect("start the mock cluster");
    Broker {
        servers: embedded.bootstrap_servers().to_owned(),
        embedded: Some(embedded),
    }
}

/// A fresh topic name.
pub fn fresh(prefix: &str) -> String {
    format!("{prefix}-{}", uuid::Uuid::new_v4().simple())
}

/// Creates a topic and waits until it exists.
pub async fn create_topic(broker: &Broker, name: &str, partitions: i32) {
    if let Some(e) = &broker.embedded {
        e.create_topic(name, partitions).expect("create topic");
        return;
    }
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", &broker.servers)
        .create()
        .expect("admin client");
    let topic = NewTopic::new(name, partitions, TopicReplication::Fixed(1));
    let results = admin
        .create_topics(
            &[topic],
            &AdminOptions::new().operation_timeout(Some(Duration::from_secs(10))),
        )
        .await
        .expect("create topics");
    for r in results {
        r.expect("topic created");
    }
}

/// A consumer builder with a short session timeout, so group assignment is
/// quick on real brokers.
pub fn consumer(broker: &Broker, group: &str) -> ConsumerBuilder {
    ConsumerBuilder::new(&broker.servers, group)
        .set("session.timeout.ms", "6000")
        .set("heartbeat.interval.ms", "500")
        .set("topic.metadata.refresh.interval.ms", "1000")
}

/// How long any one step of a Kafka test may take.
pub const LIMIT: Duration = Duration::from_secs(90);

/// Runs `f`, failing the test with the broker's name if it takes longer
/// than [`LIMIT`].
pub async fn within<F: std::future::Future>(broker: &Broker, f: F) -> F::Output {
    match tokio::time::timeout(LIMIT, f).await {
        Ok(out) => out,
        Err(tokio::time::error::Elapsed { .. }) => {
            panic!("timed out after {LIMIT:?} on {}", broker.kind())
        }
    }
}

/// A plain rdkafka consumer of `topic` in a fresh group, from the start.
pub fn raw_reader(servers: &str, topic: &str) -> StreamConsumer {
    let c: StreamConsumer = ClientConfig::new()
        .set("bootstrap.servers", servers)
        .set("group.id", fresh("reader"))
        .set("auto.offset.reset", "earliest")
        .set("session.timeout.ms", "6000")
        .create()
        .expect("raw consumer");
    c.subscribe(&[topic]).expect("subscribe");
    c
}

/// A numbered message, so losses and duplicates can be counted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, KafkaMessage)]
pub struct Numbered {
    #[kafka(key)]
    pub seq: u32,
    pub body: String,
}

/// A plain rdkafka consumer of every partition of `topic`, from the start,
/// assigned rather than subscribed: no group coordinator involved (for
/// reading from a broker whose group coordination is busy recovering).
pub fn assigned_reader(servers: &str, topic: &str) -> StreamConsumer {
    let c: StreamConsumer = ClientConfig::new()
        .set("bootstrap.servers", servers)
        .set("group.id", fresh("reader"))
        .set("enable.auto.commit", "false")
        .create()
        .expect("raw consumer");
    let metadata = c
        .fetch_metadata(Some(topic), Duration::from_secs(10))
        .expect("metadata");
    let mut tpl = TopicPartitionList::new();
    for p in metadata.topics()[0].partitions() {
        tpl.add_partition_offset(topic, p.id(), Offset::Beginning)
            .expect("partition");
    }
    c.assign(&tpl).expect("assign");
    c
}

/// A record's headers as (name, value) pairs, in order.
pub fn header_pairs<M: Message>(m: &M) -> Vec<(String, Vec<u8>)> {
    m.headers()
        .map(|h| {
            h.iter()
                .map(|h| (h.key.to_owned(), h.value.unwrap_or_default().to_vec()))
                .collect()
        })
        .unwrap_or_default()
}

/// Sends `Numbered` records `0..n` to `topic`, many in flight at once.
pub async fn produce_numbered(servers: &str, topic: &str, n: u32) {
    use futures::StreamExt as _;
    let producer = Producer::builder(servers).build().expect("producer");
    futures::stream::iter(0..n)
        .for_each_concurrent(500, |seq| {
            let producer = &producer;
            async move {
                let body = format!("record {seq}");
                producer
                    .send_to(topic, &Numbered { seq, body })
                    .await
                    .expect("sent");
            }
        })
        .await;
}

pub type Letter = (Vec<u8>, Vec<u8>, HashMap<String, Vec<u8>>);

pub fn parse<T: std::str::FromStr>(bytes: &[u8]) -> T
where
    T::Err: std::fmt::Debug,
{
    std::str::from_utf8(bytes).unwrap().parse().unwrap()
}

/// Reads the dead-letter topic: at least `at_least` records, then whatever
/// else arrives within two seconds.
pub async fn read_dead_letters(servers: &str, topic: &str, at_least: usize) -> Vec<Letter> {
    let reader = raw_reader(servers, topic);
    let mut out = Vec::new();
    tokio::time::timeout(LIMIT, async {
        loop {
            let wait = if out.len() < at_least {
                LIMIT
            } else {
                Duration::from_secs(3)
            };
            match tokio::time::timeout(wait, reader.recv()).await {
                Ok(Ok(m)) => {
                    let hs = header_pairs(&m).into_iter().collect();
                    out.push((
                        m.key().unwrap_or_default().to_vec(),
                        m.payload().unwrap_or_default().to_vec(),
                        hs,
                    ));
                }
                Ok(Err(e)) => panic!("{e}"),
                Err(_) => break,
            }
        }
    })
    .await
    .expect("timed out reading dead letters");
    out
}

pub fn committed_offsets(servers: &str, group: &str, topic: &str) -> BTreeMap<i32, i64> {
    let c: StreamConsumer = ClientConfig::new()
        .set("bootstrap.servers", servers)
        .set("group.id", group)
        .create()
        .unwrap();
    let mut tpl = TopicPartitionList::new();
    let metadata = c
        .fetch_metadata(Some(topic), Duration::from_secs(10))
        .unwrap();
    for p in metadata.topics()[0].partitions() {
        tpl.add_partition(topic, p.id());
    }
    let got = c.committed_offsets(tpl, Duration::from_secs(10)).unwrap();
    got.elements()
        .iter()
        .map(|e| {
            (
                e.partition(),
                match e.offset() {
                    Offset::Offset(o) => o,
                    _ => 0,
                },
            )
        })
        .collect()
}
