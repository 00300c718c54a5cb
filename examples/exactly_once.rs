//! Exactly once: read the sample hierarchy, write one summary per entity,
//! and commit each batch's summaries together with the input offsets in one
//! Kafka transaction. A `read_committed` reader of the summaries sees every
//! entity once, whatever fails in between.
//!
//! Runs on librdkafka's embedded mock cluster unless `KAFKA_BROKERS` is set:
//!
//! ```sh
//! cargo run --example exactly_once
//! KAFKA_BROKERS=127.0.0.1:9092 cargo run --example exactly_once
//! ```

use kafka_codec_sample as sample;

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use kafka_codec::kafka::{
    embedded, ConsumerBuilder, Outbox, Producer, Shutdown, TransactionalProducer,
};
use kafka_codec::KafkaMessage;
use sample::{random_entity, Entity};
use serde::{Deserialize, Serialize};

const ENTITIES: usize = 2_000;

/// What the pipeline writes for each entity.
#[derive(Debug, Serialize, Deserialize, KafkaMessage)]
struct Summary {
    #[kafka(key)]
    id: uuid::Uuid,
    kind: String,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let (brokers, embedded) = embedded::brokers_from_env()?;
    let run = uuid::Uuid::new_v4().simple().to_string();
    let (entities, summaries, dead) = (
        format!("entities-{run}"),
        format!("summaries-{run}"),
        format!("entities-dlq-{run}"),
    );
    match &embedded {
        Some(cluster) => {
            println!("embedded mock cluster at {brokers}");
            cluster.create_topic(&entities, 4)?;
            cluster.create_topic(&summaries, 4)?;
            cluster.create_topic(&dead, 1)?;
        }
        None => println!("broker at {brokers} (KAFKA_BROKERS)"),
    }

    // The input: random entities of the sample hierarchy.
    let producer = Producer::builder(&brokers).build()?;
    let mut rng = rand::thread_rng();
    for _ in 0..ENTITIES {
        let entity: Box<dyn Entity> = random_entity(&mut rng);
        producer.send_to(&entities, &entity).await?;
    }
    println!("sent {ENTITIES} entities to {entities}");

    // The pipeline: one transactional producer per running instance, with a
    // stable id; the consumer's offsets commit in its transactions.
    let transactional = TransactionalProducer::builder(&brokers, "summaries-1")
        .build()
        .await?;
    let mut pipeline = ConsumerBuilder::new(&brokers, &format!("summaries-{run}"))
        .set("session.timeout.ms", "6000")
        .topics(&[&entities])
        .dead_letter_topic(dead.clone())
        .build_exactly_once::<Box<dyn Entity>>(transactional)?
        .batch(500, Duration::from_millis(100));
    let (seen, stop) = (Arc::new(AtomicUsize::new(0)), Shutdown::new());
    let (count, done) = (seen.clone(), stop.clone());
    let summaries_topic = summaries.clone();
    let report = pipeline.run(stop, move |record| {
        if count.fetch_add(1, Ordering::Relaxed) + 1 == ENTITIES {
            done.trigger(); // the batch in hand still commits
        }
        let topic = summaries_topic.clone();
        async move {
            let entity = record.value();
            let mut out = Outbox::new();
            out.send_to(
                &topic,
                &Summary {
                    id: entity.base().id,
                    kind: entity.type_name().to_owned(),
                },
            )?;
            Ok(out)
        }
    });
    let report = tokio::time::timeout(Duration::from_secs(120), report)
        .await?
        .into_result()?;
    let (records, transactions) = (
        report.totals().records(),
        report.transactions.unwrap_or_default(),
    );
    println!(
        "committed {records} entities and {} summaries in {} transactions ({} aborted)",
        transactions.outputs, transactions.committed, transactions.aborted
    );

    // Read the summaries back as a read_committed consumer would.
    let reader = ConsumerBuilder::new(&brokers, &format!("reader-{run}"))
        .set("session.timeout.ms", "6000")
        .set("isolation.level", "read_committed")
        .topics(&[&summaries])
        .build::<Summary>()?;
    let mut kinds: HashMap<String, usize> = HashMap::new();
    for _ in 0..ENTITIES {
        let record = tokio::time::timeout(Duration::from_secs(60), reader.next()).await??;
        *kinds.entry(record.value().kind.clone()).or_default() += 1;
    }
    println!("read {ENTITIES} summaries back: {kinds:?}");
    if records != ENTITIES as u64 {
        return Err(format!("committed {records} of {ENTITIES} entities").into());
    }
    Ok(())
}
