//! Port of the sample's producer: sends randomly created instances of the
//! hierarchy to the `entities` topic, as many as the first argument says
//! (default 100).
//!
//! ```sh
//! KAFKA_BROKERS=127.0.0.1:19092 cargo run --example sample_producer -- 1000
//! ```
//! Without `KAFKA_BROKERS` it sends to an embedded mock cluster, which ends
//! with the program.

use kafka_codec_sample as sample;

use kafka_codec::kafka::{embedded, Producer};
use kafka_codec::KafkaMessage as _;
use sample::{random_entity, Entity};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let count: usize = std::env::args().nth(1).map_or(Ok(100), |n| n.parse())?;
    let (brokers, _embedded) = embedded::brokers_from_env()?;
    let producer = Producer::builder(&brokers).build()?;
    let mut rng = rand::thread_rng();
    let started = std::time::Instant::now();
    let sends = (0..count).map(|_| {
        let entity: Box<dyn Entity> = random_entity(&mut rng);
        let producer = &producer;
        async move {
            let d = producer.send(&entity).await?;
            Ok::<_, kafka_codec::Error>((entity.type_name().to_owned(), d))
        }
    });
    // Many sends in flight at once, as aiokafka's send_and_wait in a gather.
    for result in futures::future::join_all(sends).await {
        let (kind, d) = result?;
        println!("{kind:<8} partition {} offset {}", d.partition, d.offset);
    }
    println!("sent {count} in {:?}", started.elapsed());
    Ok(())
}
