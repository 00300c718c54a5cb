//! What every side shares: the settings read from the environment, the
//! records encoded ahead of time, the clients' configuration, fresh topics,
//! and the bound on a stuck run.

use std::future::Future;
use std::time::Duration;

use kafka_codec::{KafkaCodec, KafkaMessage};
use rdkafka::ClientConfig;

use crate::kafka;
use crate::sample::Entity;

pub(crate) const SEED: u64 = 0x0065_3265;
pub(crate) const PARTITIONS: i32 = 4;
pub(crate) const TARGET: f64 = 0.95;
/// A drain or a produce run that takes longer than this is stuck.
pub(crate) const STUCK: Duration = Duration::from_secs(120);
/// What `Producer::send_to` waits for room in librdkafka's queue; the raw
/// run gets the same.
pub(crate) const QUEUE_TIMEOUT: Duration = Duration::from_secs(30);

/// What travels: any entity of the sample hierarchy, as a trait object.
pub(crate) type AnyEntity = Box<dyn Entity>;

/// One switch per side of the run.
#[allow(clippy::struct_excessive_bools)]
pub(crate) struct Settings {
    pub(crate) messages: usize,
    pub(crate) concurrency: usize,
    pub(crate) rounds: usize,
    pub(crate) producer_rounds: usize,
    pub(crate) producer: bool,
    pub(crate) consumer: bool,
    pub(crate) pipeline: bool,
    pub(crate) telemetry: bool,
    /// Telemetry on against off in chunks of one run (`E2E_SIDES=interleaved`).
    pub(crate) interleaved: bool,
}

pub(crate) fn env_usize(name: &str, default: usize) -> usize {
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
    pub(crate) fn from_env() -> Self {
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
pub(crate) struct Encoded {
    pub(crate) key: Option<Vec<u8>>,
    pub(crate) payload: Vec<u8>,
    pub(crate) type_name: String,
    pub(crate) version: Option<String>,
}

pub(crate) fn encode_all(messages: &[AnyEntity]) -> Vec<Encoded> {
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

/// What `Producer::builder` configures; shared by both producers so the
/// only difference is the wrapper.
pub(crate) fn producer_config(servers: &str) -> ClientConfig {
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", servers)
        .set("enable.idempotence", "true");
    config
}

/// A fresh group reading from the start; the short session timeout makes
/// the group join quick on Tansu (see scripts/README-tansu.md).
pub(crate) fn consumer_config(servers: &str) -> ClientConfig {
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", servers)
        .set("group.id", kafka::fresh("e2e-group"))
        .set("auto.offset.reset", "earliest")
        .set("session.timeout.ms", "6000")
        .set("heartbeat.interval.ms", "1000");
    config
}

pub(crate) async fn bounded<T>(what: &str, f: impl Future<Output = T>) -> T {
    tokio::time::timeout(STUCK, f)
        .await
        .unwrap_or_else(|_| panic!("{what}: no progress within {STUCK:?}"))
}

/// Creates a fresh topic and waits for it.
pub(crate) async fn fresh_topic(broker: &kafka::Broker, prefix: &str) -> String {
    let topic = kafka::fresh(prefix);
    kafka::create_topic(broker, &topic, PARTITIONS).await;
    topic
}
