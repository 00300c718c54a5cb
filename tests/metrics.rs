//! The `metrics` feature end to end: a Prometheus exporter in this process
//! (its HTTP listener on a free port) while a consumer works through a
//! topic slowly, scraped over HTTP with a real client during the run and at
//! its end. Runs on the broker under test (`KAFKA_BROKERS`, else the
//! embedded mock cluster).
#![cfg(feature = "metrics")]

#[path = "support/kafka.rs"]
mod kafka;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use kafka::Numbered;
use kafka_codec::kafka::Shutdown;
use kafka_codec::kafka::{Backoff, CommitMode, FailurePolicy, Producer, Recover};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder};
use rdkafka::message::OwnedHeaders;

/// One series of a scrape: its labels and value.
#[derive(Debug, Clone)]
struct Series {
    name: String,
    labels: BTreeMap<String, String>,
    value: f64,
}

/// A scrape, parsed (Prometheus text format; our label values hold no
/// quotes, commas or escapes).
#[derive(Debug, Clone, Default)]
struct Scrape {
    series: Vec<Series>,
}

impl Scrape {
    fn parse(text: &str) -> Scrape {
        let mut series = Vec::new();
        for line in text.lines() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (head, value) = line.rsplit_once(' ').expect("name and value");
            let value: f64 = value.parse().expect("a number");
            let (name, labels) = match head.split_once('{') {
                Some((name, rest)) => {
                    let rest = rest.strip_suffix('}').expect("closing brace");
                    let labels = rest
                        .split(',')
                        .filter(|kv| !kv.is_empty())
                        .map(|kv| {
                            let (k, v) = kv.split_once('=').expect("label=value");
                            (k.to_owned(), v.trim_matches('"').to_owned())
                        })
                        .collect();
                    (name, labels)
                }
                None => (head, BTreeMap::new()),
            };
            series.push(Series {
                name: name.to_owned(),
                labels,
                value,
            });
        }
        Scrape { series }
    }

    /// The series of `name` whose labels include `with`.
    fn find<'s>(
        &'s self,
        name: &'s str,
        with: &'s [(&'s str, &'s str)],
    ) -> impl Iterator<Item = &'s Series> + 's {
        self.series.iter().filter(move |s| {
            s.name == name
                && with
                    .iter()
                    .all(|(k, v)| s.labels.get(*k).is_some_and(|x| x == v))
        })
    }

    /// The sum of those series, `None` when there is none.
    fn sum(&self, name: &str, with: &[(&str, &str)]) -> Option<f64> {
        self.find(name, with)
            .map(|s| s.value)
            .fold(None, |acc, v| Some(acc.unwrap_or(0.0) + v))
    }
}

/// GETs `url` with ureq, off the async workers.
async fn scrape(url: &str) -> Scrape {
    let url = url.to_owned();
    let text = tokio::task::spawn_blocking(move || {
        // The listener may still be starting on the first scrape.
        let mut last = None;
        for _ in 0..50 {
            match ureq::get(&url).call() {
                Ok(mut response) => {
                    return response
                        .body_mut()
                        .read_to_string()
                        .expect("a scrape's body");
                }
                Err(e) => last = Some(e),
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("scraping {url} failed: {last:?}");
    })
    .await
    .expect("scrape task");
    Scrape::parse(&text)
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("address")
        .port()
}

const CONSUMED: &str = "messaging_client_consumed_messages_total";
const SENT: &str = "messaging_client_sent_messages_total";
const PROCESS_COUNT: &str = "messaging_process_duration_seconds_count";
const PROCESS_BUCKET: &str = "messaging_process_duration_seconds_bucket";
const DECODE_FAILURES: &str = "kafka_codec_decode_failures_total";
const RETRIES: &str = "kafka_codec_process_retries_total";
const DEAD_LETTERS: &str = "kafka_codec_dead_letters_total";
const LAG: &str = "kafka_codec_consumer_lag";

const TOPIC: &str = "messaging_destination_name";
const GROUP: &str = "messaging_consumer_group_name";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_are_served_and_move_while_a_consumer_works() {
    const N: u32 = 200;
    /// The record whose handler always fails: retried once, then
    /// dead-lettered.
    const FAILING: u32 = 7;
    const HANDLE_TIME: Duration = Duration::from_millis(15);

    let port = free_port();
    PrometheusBuilder::new()
        .with_http_listener(([127, 0, 0, 1], port))
        .with_recommended_naming(true)
        .set_buckets_for_metric(
            Matcher::Full("messaging_process_duration".into()),
            &[0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0],
        )
        .unwrap()
        .install()
        .expect("install the Prometheus exporter");
    let url = format!("http://127.0.0.1:{port}/metrics");

    let broker = kafka::broker();
    let name = kafka::broker_name(&broker);
    let (topic, dlq, group) = (
        kafka::fresh("metrics"),
        kafka::fresh("metrics-dlq"),
        kafka::fresh("g"),
    );
    kafka::create_topic(&broker, &topic, 2).await;
    kafka::create_topic(&broker, &dlq, 1).await;

    // N records, then one that does not decode.
    kafka::produce_numbered(&broker.servers, &topic, N).await;
    let producer = Producer::builder(&broker.servers).build().unwrap();
    producer
        .send_raw(
            &topic,
            Some(b"poison"),
            Some(b"{not json"),
            OwnedHeaders::new(),
        )
        .await
        .unwrap();
    let on_topic = [(TOPIC, topic.as_str())];
    let sent = scrape(&url).await.sum(SENT, &on_topic);
    assert_eq!(sent, Some(f64::from(N + 1)), "sent counter on {name}");

    let consumer = kafka::consumer(&broker, &group)
        .topics(&[&topic])
        .commit_mode(CommitMode::AtLeastOnce)
        .on_poison(Recover::Skip)
        .dead_letter_topic(dlq.clone())
        .on_failure(
            FailurePolicy::new()
                .max_attempts(2)
                .backoff(Backoff::fixed(Duration::from_millis(10)))
                .recover(Recover::DeadLetter),
        )
        // Statistics (the lag) and commits (the lag is the high watermark
        // less the committed offset) often, so the lag moves within the run.
        .set("statistics.interval.ms", "200")
        .set("auto.commit.interval.ms", "200")
        .build::<Numbered>()
        .unwrap();

    let stop = Shutdown::new();
    let run = consumer.run(stop.clone(), |record| async move {
        tokio::time::sleep(HANDLE_TIME).await;
        if record.value().seq == FAILING {
            return Err::<(), kafka_codec::BoxError>("this one always fails".into());
        }
        Ok(())
    });

    let ours = [(TOPIC, topic.as_str()), (GROUP, group.as_str())];
    let total = f64::from(N + 1);
    // Scrapes every 250 ms until everything was consumed and the lag read
    // 0 (or a deadline), then stops the consumer.
    let watch = async {
        let started = Instant::now();
        let mut scrapes: Vec<Scrape> = Vec::new();
        loop {
            tokio::time::sleep(Duration::from_millis(250)).await;
            let s = scrape(&url).await;
            let consumed = s.sum(CONSUMED, &ours).unwrap_or(0.0);
            let lag = s.sum(LAG, &ours);
            println!(
                "{name} t={:>5}ms consumed {consumed:>3} processed {:>3} lag {lag:?}",
                started.elapsed().as_millis(),
                s.sum(PROCESS_COUNT, &ours).unwrap_or(0.0),
            );
            scrapes.push(s);
            let done = consumed >= total && lag == Some(0.0);
            if done || started.elapsed() > kafka::LIMIT {
                break;
            }
        }
        stop.trigger();
        scrapes
    };
    let (outcome, scrapes) = tokio::join!(run, watch);
    let handled = outcome.into_result().expect("the consumer's run").handled();
    assert_eq!(handled, u64::from(N - 1), "all but the failing one handled");
    let last = scrape(&url).await;
    println!("{name}: {} scrapes during the run", scrapes.len());
    for s in last.series.iter().filter(|s| {
        s.name != PROCESS_BUCKET
            && (s.name.starts_with("messaging_") || s.name.starts_with("kafka_codec_"))
            && s.labels.values().any(|v| *v == topic || *v == dlq)
    }) {
        println!("{name}: {} {:?} = {}", s.name, s.labels, s.value);
    }

    // Consumed: grew between scrapes during the run, and reached every
    // record (the poison one included: it was consumed, then skipped).
    let consumed: Vec<f64> = scrapes
        .iter()
        .map(|s| s.sum(CONSUMED, &ours).unwrap_or(0.0))
        .collect();
    let midway = consumed.iter().filter(|&&c| c > 0.0 && c < total).count();
    assert!(
        midway >= 2,
        "at least two scrapes while consuming on {name}: {consumed:?}"
    );
    assert!(
        consumed.windows(2).any(|w| w[1] > w[0]),
        "consumed grows between scrapes on {name}: {consumed:?}"
    );
    assert!(
        consumed.windows(2).all(|w| w[1] >= w[0]),
        "a counter never goes down: {consumed:?}"
    );
    assert_eq!(last.sum(CONSUMED, &ours), Some(total), "consumed on {name}");
    // Per partition: both partitions were read.
    assert_eq!(
        last.find(CONSUMED, &ours).count(),
        2,
        "a series per partition"
    );

    // Sent: the N records and the poison one; the dead letter on its topic.
    assert_eq!(last.sum(SENT, &on_topic), Some(total), "sent on {name}");
    assert_eq!(
        last.sum(SENT, &[(TOPIC, dlq.as_str())]),
        Some(1.0),
        "the dead letter was sent on {name}"
    );

    // Process duration: one observation per record, as a histogram.
    assert_eq!(
        last.sum(PROCESS_COUNT, &ours),
        Some(total),
        "process count on {name}"
    );
    assert!(
        last.find(PROCESS_BUCKET, &ours)
            .any(|s| s.labels.get("le").is_some_and(|le| le == "+Inf")),
        "rendered with buckets"
    );

    // Failures: the poison record by its error kind, the failing handler's
    // retry and dead letter.
    let malformed = [
        (TOPIC, topic.as_str()),
        (GROUP, group.as_str()),
        ("error_type", "malformed"),
    ];
    assert_eq!(
        last.sum(DECODE_FAILURES, &malformed),
        Some(1.0),
        "decode failure on {name}"
    );
    assert_eq!(last.sum(RETRIES, &ours), Some(1.0), "retry on {name}");
    let dead = [
        (TOPIC, topic.as_str()),
        (GROUP, group.as_str()),
        ("kafka_codec_dead_letter_topic", dlq.as_str()),
    ];
    assert_eq!(
        last.sum(DEAD_LETTERS, &dead),
        Some(1.0),
        "dead letter on {name}"
    );

    // Lag: librdkafka's consumer_lag, the high watermark less the committed
    // offset, present once the group committed on a partition; above 0
    // while the consumer works through the backlog, 0 at the end (every
    // record settled and committed).
    let lags: Vec<Option<f64>> = scrapes.iter().map(|s| s.sum(LAG, &ours)).collect();
    let peak = lags.iter().flatten().copied().fold(0.0, f64::max);
    assert!(
        peak > 0.0,
        "a lag above 0 during the run on {name}: {lags:?}"
    );
    assert_eq!(
        lags.last().copied().flatten(),
        Some(0.0),
        "the lag drained to 0 on {name}: {lags:?}"
    );
    assert!(
        lags.iter().flatten().any(|&l| l > 0.0 && l < peak),
        "the lag moved down through the run on {name}: {lags:?}"
    );
    assert_eq!(last.find(LAG, &ours).count(), 2, "a lag per partition");
}
