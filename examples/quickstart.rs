//! The main job: produce a random stream of the sample hierarchy and consume
//! it with a three-member consumer group on one tokio runtime, printing each
//! record's metadata and concrete type.
//!
//! Runs on librdkafka's embedded mock cluster unless `KAFKA_BROKERS` is set;
//! the first argument is how many records to send (default 40):
//!
//! ```sh
//! cargo run --example quickstart
//! cargo run --example quickstart -- 5000
//! KAFKA_BROKERS=127.0.0.1:9092 cargo run --example quickstart
//! ```
//!
//! On a terminal a live line shows the records so far, records/s and the
//! group's lag (records sent less records handled); every run ends with a
//! summary table for the producer and one for the group's members.
//!
//! `RUST_LOG` shows the crate's spans and events on stderr, each `send` and
//! `process` span as a line when it closes, with its OpenTelemetry
//! attributes: `RUST_LOG=kafka_codec=info cargo run --example quickstart`.

#[path = "support/progress.rs"]
mod progress;

use kafka_codec_sample as sample;

use std::time::Duration;

use kafka_codec::kafka::{embedded, ConsumerBuilder, Group, Producer, Record, Shutdown};
use kafka_codec::KafkaMessage as _;
use progress::Progress;
use sample::{random_entity, Customer, Employee, Entity, Order, Person};

const MEMBERS: usize = 3;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    if let Ok(filter) = tracing_subscriber::EnvFilter::try_from_default_env() {
        tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_span_events(tracing_subscriber::fmt::format::FmtSpan::CLOSE)
            .with_writer(std::io::stderr)
            .init();
    }
    let messages: u64 = std::env::args().nth(1).map_or(Ok(40), |n| n.parse())?;
    let (brokers, embedded) = embedded::brokers_from_env()?;
    let topic = format!("quickstart-{}", uuid::Uuid::new_v4().simple());
    match &embedded {
        Some(cluster) => {
            println!("embedded mock cluster at {brokers}");
            cluster.create_topic(&topic, 4)?;
        }
        None => println!("broker at {brokers} (KAFKA_BROKERS)"),
    }

    let producer = Producer::builder(&brokers).build()?;
    let mut rng = rand::thread_rng();
    let producing = Progress::start("sent", Some(messages), 1);
    for _ in 0..messages {
        let entity: Box<dyn Entity> = random_entity(&mut rng);
        let delivery = producer.send_to(&topic, &entity).await?;
        producing.sent(0, entity.to_bytes()?.len());
        producing.println(format_args!(
            "sent {:<8} -> partition {} offset {}",
            entity.type_name(),
            delivery.partition,
            delivery.offset
        ));
    }
    producing.finish();

    let consuming = Progress::start("handled", Some(messages), MEMBERS);
    let shutdown = Shutdown::new();
    let consumers = ConsumerBuilder::new(&brokers, &format!("{topic}-group"))
        .set("session.timeout.ms", "6000")
        .topics(&[&topic]);
    let (progress, stop) = (consuming.clone(), shutdown.clone());
    let report = Group::new(consumers, MEMBERS).run(
        shutdown.clone(),
        move |record: Record<Box<dyn Entity>>| {
            let (progress, stop) = (progress.clone(), stop.clone());
            let member = Group::member().unwrap_or_default();
            async move {
                let entity = record.value();
                let kind = if let Some(e) = entity.downcast_ref::<Employee>() {
                    format!("Employee #{} in {:?}", e.employee_no, e.department)
                } else if let Some(c) = entity.downcast_ref::<Customer>() {
                    format!("Customer {:?}, limit {}", c.tier, c.credit_limit)
                } else if let Some(p) = entity.downcast_ref::<Person>() {
                    format!("Person {}", p.name)
                } else if let Some(o) = entity.downcast_ref::<Order>() {
                    format!("Order of {} items, total {}", o.items.len(), o.total)
                } else {
                    "unknown".to_owned()
                };
                progress.println(format_args!(
                    "member {member} got {}[{}]@{} id {}: {kind}",
                    record.topic(),
                    record.partition(),
                    record.offset(),
                    entity.base().id,
                ));
                let done = progress.handled(member, &record);
                progress.set_lag(messages.saturating_sub(done));
                if done == messages {
                    stop.trigger();
                }
                Ok::<_, kafka_codec::Error>(())
            }
        },
    );
    let report = tokio::time::timeout(Duration::from_secs(120), report).await?;
    consuming.finish();
    println!("handled {} of {messages} messages", report.handled());
    producing.producer_table();
    consuming.group_table(&report);
    let report = report.into_result()?;
    if report.handled() != messages {
        return Err(format!("incomplete run: {} of {messages}", report.handled()).into());
    }
    Ok(())
}
