//! Handler failures: retries with back-off, dead letters byte for byte, the
//! dead-letter limit, and batches that fail at an index. On the broker under
//! test (`KAFKA_BROKERS`, else the embedded mock cluster).

#[path = "support/kafka.rs"]
mod kafka;

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use kafka::{committed_offsets, parse, read_dead_letters, Numbered};
use kafka_codec::kafka::Shutdown;
use kafka_codec::kafka::{
    Backoff, BatchFailure, CommitMode, DeadLetterLimit, FailurePolicy, Permanent, Recover,
};
use kafka_codec::{headers, ErrorKind};
use rdkafka::message::Message;

/// The records of `topic` as sent: (partition, offset) -> (key, payload, headers).
type Originals = HashMap<(i32, i64), (Vec<u8>, Vec<u8>, Vec<(String, Vec<u8>)>)>;

async fn originals(servers: &str, topic: &str, n: usize) -> Originals {
    let reader = kafka::raw_reader(servers, topic);
    let mut out = Originals::new();
    while out.len() < n {
        let m = tokio::time::timeout(kafka::LIMIT, reader.recv())
            .await
            .expect("timed out reading the source topic")
            .expect("read");
        let hs = kafka::header_pairs(&m);
        out.insert(
            (m.partition(), m.offset()),
            (
                m.key().unwrap_or_default().to_vec(),
                m.payload().unwrap_or_default().to_vec(),
                hs,
            ),
        );
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_handlers_are_retried_then_dead_lettered_byte_for_byte() {
    const N: u32 = 200;
    let broker = kafka::broker();
    let (topic, dlq) = (kafka::fresh("retry"), kafka::fresh("retry-dlq"));
    kafka::create_topic(&broker, &topic, 2).await;
    kafka::create_topic(&broker, &dlq, 1).await;
    kafka::produce_numbered(&broker.servers, &topic, N).await;
    let always = |seq: u32| seq % 20 == 7;
    let flaky = |seq: u32| seq % 20 == 3;
    let permanent = |seq: u32| seq % 50 == 11;

    let group = kafka::fresh("g");
    let consumer = kafka::consumer(&broker, &group)
        .topics(&[&topic])
        .commit_mode(CommitMode::AtLeastOnce)
        .dead_letter_topic(dlq.clone())
        .on_failure(
            FailurePolicy::new()
                .max_attempts(3)
                .backoff(Backoff::fixed(Duration::from_millis(5)))
                .recover(Recover::DeadLetter),
        )
        .build::<Numbered>()
        .unwrap();
    let attempts: Arc<Mutex<HashMap<u32, u32>>> = Arc::default();
    let done = Shutdown::new();
    let a = attempts.clone();
    let run = consumer.run(done.clone(), move |record| {
        let seq = record.value().seq;
        let tries = {
            let mut a = a.lock().unwrap();
            let t = a.entry(seq).or_default();
            *t += 1;
            *t
        };
        async move {
            if always(seq) {
                return Err::<(), kafka_codec::BoxError>(
                    format!("record {seq} always fails").into(),
                );
            }
            if flaky(seq) && tries < 3 {
                return Err(format!("record {seq} fails on try {tries}").into());
            }
            if permanent(seq) {
                return Err(Permanent::new(format!("record {seq} is invalid")).into());
            }
            Ok(())
        }
    });
    let (handled, ()) = kafka::within(
        &broker,
        futures::future::join(run, settled(&consumer, N, &done)),
    )
    .await;
    let report = handled.into_result().unwrap();
    let handled = report.handled();
    let bad: HashSet<u32> = (0..N).filter(|&s| always(s) || permanent(s)).collect();
    assert_eq!(handled, u64::from(N) - bad.len() as u64);
    // The report counts what became of each record, by partition.
    let totals = report.totals();
    assert_eq!(totals.dead_lettered, bad.len() as u64, "{report:?}");
    let retried = (0..N).filter(|&s| always(s) || flaky(s)).count() as u64 * 2;
    assert_eq!(totals.retried, retried, "{report:?}");

    let attempts = attempts.lock().unwrap().clone();
    for seq in 0..N {
        let expected = if always(seq) || flaky(seq) { 3 } else { 1 };
        assert_eq!(attempts[&seq], expected, "attempts of record {seq}");
    }
    let letters = read_dead_letters(&broker.servers, &dlq, bad.len()).await;
    let sent = originals(&broker.servers, &topic, N as usize).await;
    let mut lettered = HashSet::new();
    for (key, payload, hs) in &letters {
        let at = (
            parse::<i32>(&hs[headers::DLQ_PARTITION]),
            parse::<i64>(&hs[headers::DLQ_OFFSET]),
        );
        let (k, p, original_headers) = &sent[&at];
        assert_eq!((key, payload), (k, p), "key and value byte for byte");
        for (name, value) in original_headers {
            assert_eq!(&hs[name], value, "original header {name} kept");
        }
        assert_eq!(hs[headers::DLQ_TOPIC], topic.as_bytes());
        assert_eq!(hs[headers::DLQ_ERROR_KIND], b"handler");
        let seq: u32 = parse(key);
        let tries: u32 = parse(&hs[headers::DLQ_ATTEMPTS]);
        assert_eq!(tries, if permanent(seq) { 1 } else { 3 }, "record {seq}");
        let message = String::from_utf8_lossy(&hs[headers::DLQ_ERROR_MESSAGE]);
        assert!(message.contains(&format!("record {seq}")), "{message}");
        lettered.insert(seq);
    }
    assert_eq!(lettered, bad, "exactly the failing records dead-lettered");
    assert_eq!(letters.len(), bad.len(), "each once");
    assert_eq!(consumer.stats().dead_lettered(), bad.len() as u64);
    drop(consumer);
    let committed: i64 = committed_offsets(&broker.servers, &group, &topic)
        .values()
        .sum();
    assert_eq!(
        committed,
        i64::from(N),
        "every record settled and committed"
    );
    println!(
        "{}: {handled} handled, {} retried then handled, {} dead-lettered",
        broker.kind(),
        (0..N).filter(|&s| flaky(s)).count(),
        bad.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dead_letter_limit_stops_the_consumer_instead_of_draining_the_topic() {
    let broker = kafka::broker();
    let (topic, dlq) = (kafka::fresh("limit"), kafka::fresh("limit-dlq"));
    kafka::create_topic(&broker, &topic, 1).await;
    kafka::create_topic(&broker, &dlq, 1).await;
    kafka::produce_numbered(&broker.servers, &topic, 50).await;
    let group = kafka::fresh("g");
    let consumer = kafka::consumer(&broker, &group)
        .topics(&[&topic])
        .commit_mode(CommitMode::AtLeastOnce)
        .dead_letter_topic(dlq.clone())
        .on_failure(FailurePolicy::new().recover(Recover::DeadLetter))
        .dead_letter_limit(DeadLetterLimit::none().max_consecutive(5))
        .build::<Numbered>()
        .unwrap();
    let err = kafka::within(
        &broker,
        consumer.run(Shutdown::new(), |_record| async {
            Err::<(), kafka_codec::BoxError>("a bad deploy".into())
        }),
    )
    .await
    .into_result()
    .unwrap_err();
    assert!(
        matches!(
            err.kind(),
            ErrorKind::DeadLetterLimit {
                consecutive: 6,
                total: 6,
                ..
            }
        ),
        "{err}"
    );
    let record = err.record().expect("the record that was refused");
    assert_eq!(record.offset, 5);
    assert!(err.payload().is_some(), "its bytes kept");
    let letters = read_dead_letters(&broker.servers, &dlq, 5).await;
    assert_eq!(letters.len(), 5, "five dead letters, then a stop");
    drop(consumer);
    let committed = committed_offsets(&broker.servers, &group, &topic);
    assert_eq!(
        committed.get(&0),
        Some(&5),
        "committed up to the refused record"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_that_fails_at_an_index_commits_before_it_and_recovers_the_record() {
    const N: u32 = 100;
    let broker = kafka::broker();
    let (topic, dlq) = (kafka::fresh("batch"), kafka::fresh("batch-dlq"));
    kafka::create_topic(&broker, &topic, 1).await;
    kafka::create_topic(&broker, &dlq, 1).await;
    kafka::produce_numbered(&broker.servers, &topic, N).await;
    // Sent concurrently: the order in the partition is the offsets' order.
    let group = kafka::fresh("g");
    let consumer = kafka::consumer(&broker, &group)
        .topics(&[&topic])
        .commit_mode(CommitMode::AtLeastOnce)
        .dead_letter_topic(dlq.clone())
        .on_failure(
            FailurePolicy::new()
                .max_attempts(2)
                .backoff(Backoff::fixed(Duration::from_millis(5)))
                .recover(Recover::DeadLetter),
        )
        .build::<Numbered>()
        .unwrap();
    let processed: Arc<Mutex<Vec<i64>>> = Arc::default();
    let failed_once: Arc<Mutex<HashSet<i64>>> = Arc::default();
    let batch_sizes: Arc<Mutex<Vec<usize>>> = Arc::default();
    let done = Shutdown::new();
    let (p, f, b) = (processed.clone(), failed_once.clone(), batch_sizes.clone());
    let always = |offset: i64| offset % 25 == 24;
    let once = |offset: i64| offset % 10 == 5;
    let run = consumer.run_batches(done.clone(), 16, Duration::from_millis(200), move |batch| {
        b.lock().unwrap().push(batch.len());
        let outcome = (|| {
            for (i, record) in batch.iter().enumerate() {
                let offset = record.offset();
                if always(offset) {
                    return Err(BatchFailure::at(i, format!("offset {offset} fails")));
                }
                if once(offset) && f.lock().unwrap().insert(offset) {
                    return Err(BatchFailure::at(i, "try again"));
                }
                p.lock().unwrap().push(offset);
            }
            Ok(())
        })();
        async move { outcome }
    });
    let (handled, ()) = kafka::within(
        &broker,
        futures::future::join(run, settled(&consumer, N, &done)),
    )
    .await;
    let handled = handled.into_result().unwrap().handled();
    let processed = processed.lock().unwrap().clone();
    let expected: Vec<i64> = (0..i64::from(N)).filter(|&o| !always(o)).collect();
    assert_eq!(processed, expected, "each good record once, in order");
    assert_eq!(handled, expected.len() as u64);
    assert!(
        batch_sizes.lock().unwrap().iter().all(|&n| n <= 16),
        "batches of at most 16"
    );
    let letters = read_dead_letters(&broker.servers, &dlq, 4).await;
    let offsets: HashSet<i64> = letters
        .iter()
        .map(|(_, _, hs)| parse(&hs[headers::DLQ_OFFSET]))
        .collect();
    assert_eq!(offsets, HashSet::from([24, 49, 74, 99]));
    assert!(letters
        .iter()
        .all(|(_, _, hs)| hs[headers::DLQ_ATTEMPTS] == b"2"));
    drop(consumer);
    let committed = committed_offsets(&broker.servers, &group, &topic);
    assert_eq!(committed.get(&0), Some(&i64::from(N)));
}

/// Cancels `done` once `n` records were handled or dead-lettered.
async fn settled<T: kafka_codec::KafkaMessage>(
    consumer: &kafka_codec::kafka::Consumer<T>,
    n: u32,
    done: &Shutdown,
) {
    while consumer.stats().handled() + consumer.stats().dead_lettered() < u64::from(n) {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    done.trigger();
}

/// The test kit reads what a consumer dead-lettered, with its error, on a
/// fresh topic of the embedded cluster (or of the broker under test).
#[cfg(feature = "testing")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_test_kit_reads_dead_letters_with_their_error() {
    use kafka_codec::kafka::testing::read_dead_letters;
    let broker = kafka::broker();
    let (topic, dlq) = (kafka::fresh("kit"), kafka::fresh("kit-dlq"));
    kafka::create_topic(&broker, &topic, 1).await;
    kafka::create_topic(&broker, &dlq, 1).await;
    kafka::produce_numbered(&broker.servers, &topic, 3).await;
    let consumer = kafka::consumer(&broker, &kafka::fresh("g"))
        .topics(&[&topic])
        .dead_letter_topic(&dlq)
        .build::<Numbered>()
        .unwrap();
    let done = Shutdown::new();
    let stop = done.clone();
    let report = kafka::within(
        &broker,
        consumer.run(done, move |r: kafka_codec::kafka::Record<Numbered>| {
            let stop = stop.clone();
            async move {
                if r.value().seq == 1 {
                    return Err(format!("record {} is refused", r.value().seq).into());
                }
                if r.value().seq == 2 {
                    stop.trigger();
                }
                Ok::<_, kafka_codec::BoxError>(())
            }
        }),
    )
    .await
    .into_result()
    .unwrap();
    assert_eq!(
        (report.totals().handled, report.totals().dead_lettered),
        (2, 1)
    );
    let letters = read_dead_letters(&broker.servers, &dlq, 1, Duration::from_secs(60))
        .await
        .unwrap();
    let letter = &letters[0];
    assert_eq!(letter.kind, "handler");
    assert!(
        letter.message.contains("record 1 is refused"),
        "{}",
        letter.message
    );
    assert_eq!(letter.source.topic, topic);
    assert_eq!(letter.attempts, 1);
    let original: Numbered = serde_json::from_slice(letter.record.value()).unwrap();
    assert_eq!(original.seq, 1, "the original bytes");
    assert_eq!(
        letter.record.key_as::<u32>().unwrap(),
        Some(1),
        "the original key"
    );
}
