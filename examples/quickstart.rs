//! The main job: produce a random stream of the sample hierarchy and consume
//! it with a three-member consumer group on one tokio runtime, printing each
//! record's metadata and concrete type.
//!
//! Runs on librdkafka's embedded mock cluster unless `KAFKA_BROKERS` is set:
//!
//! ```sh
//! cargo run --example quickstart
//! KAFKA_BROKERS=127.0.0.1:9092 cargo run --example quickstart
//! ```

use kafka_codec_sample as sample;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use kafka_codec::kafka::{embedded, CommitMode, ConsumerBuilder, Group, Producer};
use kafka_codec::KafkaMessage as _;
use sample::{random_entity, Customer, Employee, Entity, Order, Person};
use tokio_util::sync::CancellationToken;

const MESSAGES: usize = 40;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
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
    for _ in 0..MESSAGES {
        let entity: Box<dyn Entity> = random_entity(&mut rng);
        let delivery = producer.send_to(&topic, &entity).await?;
        println!(
            "sent {:<8} -> partition {} offset {}",
            entity.type_name(),
            delivery.partition,
            delivery.offset
        );
    }

    let handled = Arc::new(AtomicUsize::new(0));
    let shutdown = CancellationToken::new();
    let consumers = ConsumerBuilder::new(&brokers, &format!("{topic}-group"))
        .set("session.timeout.ms", "6000")
        .topics(&[&topic])
        .commit_mode(CommitMode::Manual);
    let (count, stop) = (handled.clone(), shutdown.clone());
    let report = Group::new(consumers, 3).run::<Box<dyn Entity>, _, _>(
        shutdown.clone(),
        move |member, record| {
            let (count, stop) = (count.clone(), stop.clone());
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
                println!(
                    "member {member} got {}[{}]@{} id {}: {kind}",
                    record.topic(),
                    record.partition(),
                    record.offset(),
                    entity.base().id,
                );
                if count.fetch_add(1, Ordering::SeqCst) + 1 == MESSAGES {
                    stop.cancel();
                }
                Ok(())
            }
        },
    );
    let report = tokio::time::timeout(Duration::from_secs(120), report).await??;
    println!(
        "handled {} of {MESSAGES} messages; per member {:?}",
        report.total(),
        report.handled
    );
    if report.total() != MESSAGES as u64 || !report.errors.is_empty() {
        return Err(format!("incomplete run: {:?}", report.errors).into());
    }
    Ok(())
}
