//! Metrics in Prometheus format while a consumer group works (feature
//! `metrics`): a producer writes the sample hierarchy faster than a
//! two-member group handles it, so the consumer lag climbs, then drains.
//! Scrape the URL it prints meanwhile:
//!
//! ```sh
//! cargo run --example metrics --features metrics            # port 9000
//! cargo run --example metrics --features metrics -- 9100    # or METRICS_PORT=9100
//! curl -s localhost:9000/metrics | grep -E '^(messaging|kafka_codec)'
//! KAFKA_BROKERS=127.0.0.1:9092 cargo run --example metrics --features metrics
//! ```
//!
//! Runs on librdkafka's embedded mock cluster unless `KAFKA_BROKERS` is
//! set. The crate only records through the `metrics` facade; installing the
//! exporter (the recorder) is the application's part, done here. The names
//! are listed in the crate's `kafka::metrics` module docs.

use kafka_codec_sample as sample;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use kafka_codec::kafka::{embedded, ConsumerBuilder, Group, Producer, Record, Recover, Shutdown};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder};
use rand::SeedableRng as _;
use rdkafka::message::OwnedHeaders;
use sample::{random_entity, Entity};

/// Records produced (plus a few that do not decode).
const RECORDS: usize = 600;
/// How often the producer writes one, and how long a handler takes.
const PRODUCE_EVERY: Duration = Duration::from_millis(10);
const HANDLE_TIME: Duration = Duration::from_millis(40);
/// Members of the consumer group.
const MEMBERS: usize = 2;
/// The OpenTelemetry advice for `messaging.process.duration`, in seconds.
const BUCKETS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
];

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let port: u16 = match std::env::args()
        .nth(1)
        .or_else(|| std::env::var("METRICS_PORT").ok())
    {
        Some(p) => p.parse()?,
        None => 9000,
    };
    // The application's part: the recorder, serving /metrics.
    PrometheusBuilder::new()
        .with_http_listener(([127, 0, 0, 1], port))
        .with_recommended_naming(true)
        .set_buckets_for_metric(Matcher::Full("messaging_process_duration".into()), BUCKETS)?
        .install()?;
    println!("metrics at http://127.0.0.1:{port}/metrics");

    let (brokers, embedded) = embedded::brokers_from_env()?;
    let topic = format!("metrics-{}", uuid::Uuid::new_v4().simple());
    match &embedded {
        Some(cluster) => {
            println!("embedded mock cluster at {brokers}");
            cluster.create_topic(&topic, 4)?;
        }
        None => println!("broker at {brokers} (KAFKA_BROKERS)"),
    }

    // The producer writes meanwhile, a record every 10 ms, and one
    // that does not decode every 100 (counted in kafka_codec.decode.failures).
    let producer = Producer::builder(&brokers).build()?;
    let produce = {
        let topic = topic.clone();
        async move {
            let mut rng = rand::rngs::StdRng::from_entropy();
            let mut tick = tokio::time::interval(PRODUCE_EVERY);
            for i in 0..RECORDS {
                tick.tick().await;
                if i % 100 == 99 {
                    let bad: &[u8] = b"{not json";
                    producer
                        .send_raw(&topic, Some(b"bad"), Some(bad), OwnedHeaders::new())
                        .await?;
                }
                let entity: Box<dyn Entity> = random_entity(&mut rng);
                producer.send_to(&topic, &entity).await?;
            }
            Ok::<_, kafka_codec::Error>(())
        }
    };

    // The group handles a record in 40 ms per member: slower than the
    // producer, so the lag shows. Statistics (the lag) every second, and
    // commits every second (the lag is measured from the committed offset).
    let handled = Arc::new(AtomicUsize::new(0));
    let shutdown = Shutdown::on_signals()?;
    let consumers = ConsumerBuilder::new(&brokers, &format!("{topic}-group"))
        .set("session.timeout.ms", "6000")
        .set("statistics.interval.ms", "1000")
        .set("auto.commit.interval.ms", "1000")
        .topics(&[&topic])
        .on_poison(Recover::Skip);
    let (count, stop) = (handled.clone(), shutdown.clone());
    let run = Group::new(consumers, MEMBERS).run(
        shutdown.clone(),
        move |_record: Record<Box<dyn Entity>>| {
            let (count, stop) = (count.clone(), stop.clone());
            async move {
                tokio::time::sleep(HANDLE_TIME).await;
                let n = count.fetch_add(1, Ordering::SeqCst) + 1;
                if n % 100 == 0 {
                    println!("handled {n} of {RECORDS}");
                }
                if n == RECORDS {
                    // Leave time for a last commit and statistics: the lag
                    // reads 0 before the group stops.
                    tokio::spawn(async move {
                        tokio::time::sleep(Duration::from_secs(3)).await;
                        stop.trigger();
                    });
                }
                Ok::<_, kafka_codec::Error>(())
            }
        },
    );
    // Both on this task (the producer's future holds `dyn Entity`
    // references, not `Send`); the group's members are tasks of their own.
    let (produced, report) = tokio::time::timeout(Duration::from_secs(300), async {
        tokio::join!(produce, run)
    })
    .await?;
    produced?;
    let report = report.into_result()?;
    println!(
        "handled {} of {RECORDS} records; per partition {:?}",
        report.handled(),
        report.partitions
    );
    // What a scrape shows at the end (histogram buckets left out).
    let url = format!("http://127.0.0.1:{port}/metrics");
    let body =
        tokio::task::spawn_blocking(move || ureq::get(&url).call()?.body_mut().read_to_string())
            .await??;
    for line in body.lines() {
        let ours = line.starts_with("messaging_") || line.starts_with("kafka_codec_");
        if ours && !line.contains("_bucket{") {
            println!("{line}");
        }
    }
    Ok(())
}
