//! The sample's consumer as a service: three members of one consumer group,
//! handlers by type (a concrete type, a base as Python's `isinstance`, a
//! fallback), retries with back-off, one dead-letter topic for poison pills
//! and exhausted retries, at-least-once commits, a health handle, and a
//! clean stop on SIGTERM or ctrl-c that commits what was handled. It exits
//! non-zero when a member failed.
//!
//! ```sh
//! cargo run --example service                                   # embedded cluster, demo records
//! KAFKA_BROKERS=127.0.0.1:19092 cargo run --example service     # a real broker
//! ```
//!
//! The service is `main` and `say`, down to `// end`: 15 lines as rustfmt
//! lays them out, leaving out `main`'s demo block (records and a stop for
//! the embedded cluster), its closing `Ok(())` and the braces.
//! `health_endpoint`, below, stands for the web framework that serves the
//! health handle.

use kafka_codec_sample as sample;

use std::time::Duration;

use kafka_codec::kafka::{
    embedded, ConsumerBuilder, Dispatch, FailurePolicy, Group, Health, Producer, Shutdown,
};
use kafka_codec::{BoxError, KafkaMessage as _};
use rand::SeedableRng as _;
use sample::{Employee, Entity, Person};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let (brokers, embedded) = embedded::brokers_from_env()?;
    let shutdown = Shutdown::on_signals()?;
    if let Some(cluster) = &embedded {
        demo(cluster, &brokers, &shutdown).await?; // not the service: demo records and stop
    }
    let consumers = ConsumerBuilder::new(&brokers, "sample-service")
        .dead_letter_topic("entities.dlq")
        .on_failure(FailurePolicy::new().max_attempts(3))
        .health(&health_endpoint());
    let handlers = Dispatch::<dyn Entity>::new()
        .on(|_, e: Employee| say(format!("employee {} earns {}", e.person.name, e.salary)))
        .on_base(|_, p: Person| say(format!("person {} <{}>", p.name, p.email)))
        .fallback(|meta, e| say(format!("{} at offset {}", e.type_name(), meta.offset)));
    let run = Group::new(consumers, 3).run(shutdown, move |r| handlers.handle(r));
    println!("{:?}", run.await.into_result()?.totals());
    Ok(())
}

fn say(line: String) -> std::future::Ready<Result<(), BoxError>> {
    println!("{line}");
    std::future::ready(Ok(()))
}
// end

/// A health handle, served where a web framework would serve it (a
/// readiness and a liveness endpoint); here, a line every five seconds.
fn health_endpoint() -> Health {
    let health = Health::new();
    let served = health.clone();
    tokio::spawn(async move {
        let health = served;
        loop {
            tokio::time::sleep(Duration::from_secs(5)).await;
            let live = health.is_live(Duration::from_secs(30));
            println!("health: live {live}, assigned {:?}", health.assigned());
        }
    });
    health
}

/// The demo on the embedded cluster: a topic of four partitions with 40
/// random entities of the sample's hierarchy, and a stop after 15 s (a
/// service waits for SIGTERM).
async fn demo(
    cluster: &embedded::Embedded,
    brokers: &str,
    shutdown: &Shutdown,
) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let stop = shutdown.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_secs(15)).await;
        stop.trigger();
    });
    let topic = <Box<dyn Entity>>::TOPIC.unwrap_or("entities");
    cluster.create_topic(topic, 4)?;
    let producer = Producer::builder(brokers).build()?;
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    for _ in 0..40 {
        producer.send(&sample::random_entity(&mut rng)).await?;
    }
    Ok(())
}
