//! Shared helpers for the tests that talk to Kafka: the broker under test
//! (`KAFKA_BROKERS`, else an embedded mock cluster), fresh topics, and a
//! consumer configuration with a short session timeout.
#![allow(dead_code, unreachable_pub)]

use std::time::Duration;

use kafka_codec::kafka::embedded::Embedded;
use kafka_codec::kafka::ConsumerBuilder;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{Consumer as _, StreamConsumer};
use rdkafka::ClientConfig;

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

/// The broker under test.
pub fn broker() -> Broker {
    match std::env::var("KAFKA_BROKERS") {
        Ok(servers) if !servers.trim().is_empty() => Broker {
            servers,
            embedded: None,
        },
        _ => {
            let embedded = Embedded::start(1).expect("start the mock cluster");
            Broker {
                servers: embedded.bootstrap_servers().to_owned(),
                embedded: Some(embedded),
            }
        }
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
