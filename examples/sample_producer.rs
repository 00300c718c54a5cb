//! Port of the sample's producer: sends randomly created instances of the
//! hierarchy to the `entities` topic, as many as the first argument says
//! (default 100).
//!
//! ```sh
//! KAFKA_BROKERS=127.0.0.1:19092 cargo run --example sample_producer -- 1000
//! ```
//! Without `KAFKA_BROKERS` it sends to an embedded mock cluster, which ends
//! with the program.
//!
//! On a terminal a live line shows the records acknowledged so far,
//! records/s and bytes; every run ends with a summary table (records, value
//! bytes, records/s, errors).

#[path = "support/progress.rs"]
mod progress;

use kafka_codec_sample as sample;

use kafka_codec::kafka::{embedded, Producer};
use kafka_codec::KafkaMessage as _;
use progress::Progress;
use sample::{random_entity, Entity};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let count: usize = std::env::args().nth(1).map_or(Ok(100), |n| n.parse())?;
    let (brokers, _embedded) = embedded::brokers_from_env()?;
    let producer = Producer::builder(&brokers).build()?;
    let mut rng = rand::thread_rng();
    let progress = Progress::start("sent", Some(count as u64), 1);
    let sends = (0..count).map(|_| {
        let entity: Box<dyn Entity> = random_entity(&mut rng);
        let (producer, progress) = (&producer, &progress);
        async move {
            // The value's size, encoded once more here: a Delivery does not say.
            let bytes = entity.to_bytes()?.len();
            match producer.send(&entity).await {
                Ok(d) => {
                    progress.sent(0, bytes);
                    Ok((entity.type_name().to_owned(), d))
                }
                Err(e) => {
                    progress.failed(0);
                    Err(e)
                }
            }
        }
    });
    // Many sends in flight at once, as aiokafka's send_and_wait in a gather.
    let results = futures::future::join_all(sends).await;
    progress.finish();
    let mut failed = None;
    for result in results {
        match result {
            Ok((kind, d)) => println!("{kind:<8} partition {} offset {}", d.partition, d.offset),
            Err(e) => {
                println!("not sent: {e}");
                failed.get_or_insert(e);
            }
        }
    }
    progress.producer_table();
    failed.map_or(Ok(()), |e| Err(e.into()))
}
