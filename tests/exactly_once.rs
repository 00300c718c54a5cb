//! Exactly-once pipelines: the typed transactional producer and the
//! consume-transform-produce loop, with injected failures and aborts. On the
//! broker under test (`KAFKA_BROKERS`, else the embedded mock cluster).

#[path = "support/kafka.rs"]
mod kafka;

use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use kafka::{Broker, Numbered};
use kafka_codec::kafka::embedded::Embedded;
use kafka_codec::kafka::Shutdown;
use kafka_codec::kafka::{
    Backoff, DeadLetterLimit, FailurePolicy, Outbox, Permanent, Producer, Recover,
    TransactionAction, TransactionalProducer,
};
use kafka_codec::KafkaMessage;
use rdkafka::consumer::{Consumer as _, StreamConsumer};
use rdkafka::message::{Message, OwnedHeaders};
use rdkafka::ClientConfig;
use serde::{Deserialize, Serialize};

/// What the pipeline writes for each input.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, KafkaMessage)]
struct Doubled {
    #[kafka(key)]
    seq: u32,
    double: u64,
}

/// A reader of `topic` from the start, in a fresh group, with the given
/// isolation level.
fn reader(servers: &str, topic: &str, isolation: &str) -> StreamConsumer {
    let c: StreamConsumer = ClientConfig::new()
        .set("bootstrap.servers", servers)
        .set("group.id", kafka::fresh("reader"))
        .set("auto.offset.reset", "earliest")
        .set("session.timeout.ms", "6000")
        .set("isolation.level", isolation)
        .create()
        .expect("reader");
    c.subscribe(&[topic]).expect("subscribe");
    c
}

/// Reads `topic` until `at_least` records arrived, then what else arrives
/// within `quiet`; returns each record's key (as text) and count.
async fn read_keys(
    reader: &StreamConsumer,
    at_least: usize,
    quiet: Duration,
) -> BTreeMap<String, usize> {
    let mut seen = BTreeMap::new();
    let mut total = 0;
    loop {
        let wait = if total < at_least {
            kafka::LIMIT
        } else {
            quiet
        };
        match tokio::time::timeout(wait, reader.recv()).await {
            Ok(Ok(m)) => {
                let key = String::from_utf8_lossy(m.key().unwrap_or_default()).into_owned();
                *seen.entry(key).or_insert(0) += 1;
                total += 1;
            }
            Ok(Err(e)) => panic!("read: {e}"),
            Err(tokio::time::error::Elapsed { .. }) if total < at_least => {
                panic!("timed out with {total} of {at_least} records")
            }
            Err(tokio::time::error::Elapsed { .. }) => return seen,
        }
    }
}

async fn transactional(broker: &Broker, id: &str) -> TransactionalProducer {
    TransactionalProducer::builder(&broker.servers, id)
        .timeout(Duration::from_secs(20))
        .build()
        .await
        .expect("transactional producer")
}

/// Fresh input (4 partitions, holding `Numbered` records `0..n`), output
/// and dead-letter topics.
async fn topics(broker: &Broker, n: u32) -> (String, String, String) {
    let (input, output, dlq) = (
        kafka::fresh("eos-in"),
        kafka::fresh("eos-out"),
        kafka::fresh("eos-dlq"),
    );
    kafka::create_topic(broker, &input, 4).await;
    kafka::create_topic(broker, &output, 2).await;
    kafka::create_topic(broker, &dlq, 1).await;
    kafka::produce_numbered(&broker.servers, &input, n).await;
    (input, output, dlq)
}

/// Injected failures: which inputs fail once (retried in place), which fail
/// for good (dead-lettered in the transaction).
fn flaky(seq: u32) -> bool {
    seq % 97 == 3
}
fn permanent(seq: u32) -> bool {
    seq % 1000 == 999
}

/// 10,000 inputs on 4 partitions plus 20 undecodable ones go through a
/// pipeline whose handler fails (once for some inputs, for good for others)
/// and, on the embedded cluster, whose transactions are aborted by the
/// broker several times (the offsets refused: `AddOffsetsToTxn` fails,
/// injected; a real broker cannot be told to). Each input that decodes and
/// is handled appears exactly once in the output, each other one exactly
/// once in the dead-letter topic.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pipeline_with_failures_and_aborts_writes_each_input_once() {
    const N: u32 = 10_000;
    const POISON: u32 = 20;
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
    let broker = kafka::broker();
    let (input, output, dlq) = topics(&broker, N).await;
    let raw = Producer::builder(&broker.servers).build().unwrap();
    for i in 0..POISON {
        raw.send_raw(
            &input,
            Some(format!("poison-{i}").as_bytes()),
            Some(b"{not json"),
            OwnedHeaders::new(),
        )
        .await
        .unwrap();
    }

    // Three aborts before the first commit, and more while it runs.
    let mock = broker.embedded.as_ref().map(Embedded::cluster);
    let refuse = |n: usize| {
        if let Some(mock) = mock {
            mock.request_errors(
                rdkafka::types::RDKafkaApiKey::AddOffsetsToTxn,
                &vec![rdkafka::types::RDKafkaRespErr::RD_KAFKA_RESP_ERR_INVALID_REQUEST; n],
            );
        }
    };
    refuse(3);
    if let Some(mock) = mock {
        // A coordinator that is briefly unavailable: librdkafka retries it.
        mock.request_errors(
            rdkafka::types::RDKafkaApiKey::TxnOffsetCommit,
            &[rdkafka::types::RDKafkaRespErr::RD_KAFKA_RESP_ERR_COORDINATOR_NOT_AVAILABLE; 2],
        );
    }

    let producer = transactional(&broker, &kafka::fresh("eos")).await;
    let mut pipeline = doubling(&broker, &kafka::fresh("eos-g"), &input, &dlq, producer)
        .max_aborts(5, Backoff::fixed(Duration::from_millis(20)));

    let tried: Arc<Mutex<HashSet<u32>>> = Arc::default();
    let calls = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let stop = Shutdown::new();
    let mut run = {
        let (stop, output) = (stop.clone(), output.clone());
        let (tried, calls) = (tried.clone(), calls.clone());
        tokio::spawn(async move {
            let report = pipeline
                .run(stop, |record| {
                    let seq = record.value().seq;
                    let first = tried.lock().unwrap().insert(seq);
                    calls.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let output = output.clone();
                    async move { double(seq, first, &output) }
                })
                .await;
            (report, pipeline)
        })
    };
    let expected: HashSet<u32> = (0..N).filter(|s| !permanent(*s)).collect();
    let read = async {
        // More aborts while it runs: one each time another 2,000 records
        // were handled.
        for k in 1..=4 {
            while calls.load(std::sync::atomic::Ordering::Relaxed) < 2_000 * k {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            refuse(1);
        }
        let out = read_keys(
            &reader(&broker.servers, &output, "read_committed"),
            expected.len(),
            Duration::from_secs(3),
        )
        .await;
        let dead = read_keys(
            &reader(&broker.servers, &dlq, "read_committed"),
            (N as usize - expected.len()) + POISON as usize,
            Duration::from_secs(1),
        )
        .await;
        (out, dead)
    };
    let (out, dead) = tokio::select! {
        read = read => read,
        stopped = &mut run => panic!("the pipeline stopped early: {:?}", stopped.map(|r| r.0)),
    };
    stop.trigger();
    let (report, pipeline) = kafka::within(&broker, run).await.unwrap();
    let report = report.into_result().expect("the pipeline ran");
    let transactions = report.transactions.expect("an exactly-once report");

    let written: HashSet<u32> = out.keys().map(|k| k.parse().unwrap()).collect();
    assert_eq!(written, expected, "every handled input has an output");
    let repeated: Vec<_> = out.iter().filter(|(_, n)| **n > 1).collect();
    assert!(repeated.is_empty(), "outputs written twice: {repeated:?}");
    let mut dead_expected: BTreeMap<String, usize> = (0..N)
        .filter(|s| permanent(*s))
        .map(|s| (s.to_string(), 1))
        .collect();
    dead_expected.extend((0..POISON).map(|i| (format!("poison-{i}"), 1)));
    assert_eq!(dead, dead_expected, "each dead letter exactly once");

    assert_eq!(
        report.totals().records(),
        u64::from(N + POISON),
        "{report:?}"
    );
    let totals = report.totals();
    assert_eq!(
        (totals.handled, totals.dead_lettered),
        (
            u64::from(N) - (0..N).filter(|s| permanent(*s)).count() as u64,
            (0..N).filter(|s| permanent(*s)).count() as u64 + u64::from(POISON)
        ),
        "{report:?}"
    );
    assert_eq!(transactions.outputs, u64::from(N + POISON), "{report:?}");
    if mock.is_some() {
        assert!(
            transactions.aborted >= 4,
            "the injected aborts happened: {report:?}"
        );
    }
    assert!(pipeline.consumer().stats().retries() > 0);
}

/// A `read_committed` reader gets a committed transaction's records; an
/// aborted one's only from the brokers that show them (the mock cluster and
/// Tansu, see the README), never from Kafka.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_committed_gets_committed_records_and_aborted_ones_only_where_the_broker_shows_them() {
    let broker = kafka::broker();
    let topic = kafka::fresh("txn");
    kafka::create_topic(&broker, &topic, 1).await;
    let mut producer = transactional(&broker, &kafka::fresh("txn")).await;

    let txn = producer.begin().await.unwrap();
    for seq in 0..10 {
        txn.send_to(&topic, &Doubled { seq, double: 0 })
            .await
            .unwrap();
    }
    txn.abort().await.unwrap();
    let txn = producer.begin().await.unwrap();
    let mut out = Outbox::new();
    for seq in 10..20 {
        out.send_to(&topic, &Doubled { seq, double: 0 }).unwrap();
    }
    assert_eq!(txn.send_all(&out).await.unwrap().len(), 10);
    txn.commit().await.unwrap();

    let committed = read_keys(
        &reader(&broker.servers, &topic, "read_committed"),
        10,
        Duration::from_secs(2),
    )
    .await;
    let keys: HashSet<u32> = committed.keys().map(|k| k.parse().unwrap()).collect();
    match kafka::broker_name(&broker).as_str() {
        // librdkafka's mock cluster writes no transaction markers, and
        // Tansu writes them but sends an empty list of aborted transactions
        // with each fetch: both show aborted records to read_committed
        // readers (see the README).
        "embedded" | "tansu" => assert_eq!(keys, (0..20).collect(), "aborted records shown"),
        _ => assert_eq!(keys, (10..20).collect(), "only the committed transaction"),
    }
}

/// A producer fenced by a newer one with the same `transactional.id` cannot
/// commit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a real broker (KAFKA_BROKERS): the mock cluster does not fence producers"]
async fn a_fenced_producer_cannot_commit() {
    let broker = kafka::real_broker();
    let name = kafka::broker_name(&broker);
    let topic = kafka::fresh("fence");
    kafka::create_topic(&broker, &topic, 1).await;
    let id = kafka::fresh("fence");
    let mut old = TransactionalProducer::builder(&broker.servers, &id)
        .timeout(Duration::from_secs(5))
        .build()
        .await
        .unwrap();
    let txn = old.begin().await.unwrap();
    txn.send_to(&topic, &Doubled { seq: 1, double: 2 })
        .await
        .unwrap();
    let _new = transactional(&broker, &id).await;
    let err = txn.commit().await.expect_err("the old producer is fenced");
    let expected = if name == "tansu" {
        // Tansu closes the connection instead of answering PRODUCER_FENCED,
        // so librdkafka times out retrying (see the README).
        TransactionAction::Retry
    } else {
        TransactionAction::Fatal
    };
    assert_eq!(err.transaction_action(), Some(expected), "{err}");
}

/// The pipeline that doubles `Numbered` records into `output`, failing and
/// dead-lettering as `flaky` and `permanent` say; `calls` counts handler
/// calls.
fn doubling(
    broker: &Broker,
    group: &str,
    input: &str,
    dlq: &str,
    producer: TransactionalProducer,
) -> kafka_codec::kafka::ExactlyOnce<Numbered> {
    kafka::consumer(broker, group)
        .topics(&[input])
        .dead_letter_topic(dlq.to_owned())
        .on_failure(
            FailurePolicy::new()
                .max_attempts(3)
                .backoff(Backoff::fixed(Duration::from_millis(1)))
                .recover(Recover::DeadLetter),
        )
        .build_exactly_once::<Numbered>(producer)
        .unwrap()
        .batch(500, Duration::from_millis(50))
}

/// A pipeline stopped half-way and started again (a new producer with the
/// same `transactional.id`, the same group) goes on from the offsets its
/// transactions committed: every input once in the output. Real brokers
/// only: the mock cluster acknowledges offsets sent to a transaction without
/// storing them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a real broker (KAFKA_BROKERS): the mock cluster does not store transactional offsets"]
async fn a_restarted_pipeline_goes_on_from_its_committed_offsets() {
    const N: u32 = 6_000;
    let broker = kafka::real_broker();
    let (input, output, dlq) = topics(&broker, N).await;
    let (group, id) = (kafka::fresh("eos-g"), kafka::fresh("eos"));
    let tried: Arc<Mutex<HashSet<u32>>> = Arc::default();
    let mut reports = Vec::new();
    for last in [false, true] {
        let producer = transactional(&broker, &id).await;
        let mut pipeline = doubling(&broker, &group, &input, &dlq, producer);
        let stop = Shutdown::new();
        let (stop2, tried, output) = (stop.clone(), tried.clone(), output.clone());
        let run = pipeline.run(stop.clone(), move |record| {
            let seq = record.value().seq;
            let mut tried = tried.lock().unwrap();
            let first = tried.insert(seq);
            // The first run stops half-way, wherever it is.
            if !last && tried.len() >= N as usize / 2 {
                stop2.trigger();
            }
            let output = output.clone();
            async move { double(seq, first, &output) }
        });
        // The second stops once everything is committed.
        let watch = async {
            loop {
                tokio::time::sleep(Duration::from_millis(250)).await;
                let (servers, group, input) =
                    (broker.servers.clone(), group.clone(), input.clone());
                let offsets = tokio::task::spawn_blocking(move || {
                    kafka::committed_offsets(&servers, &group, &input)
                })
                .await
                .unwrap();
                if last && offsets.values().sum::<i64>() == i64::from(N) {
                    stop.trigger();
                    return;
                }
            }
        };
        let (report, ()) = kafka::within(&broker, async {
            tokio::join!(run, async {
                tokio::select! {
                    () = watch => {}
                    () = stop.triggered() => {}
                }
            })
        })
        .await;
        reports.push(report.into_result().expect("the pipeline ran"));
        drop(pipeline);
    }
    let expected: HashSet<u32> = (0..N).filter(|s| !permanent(*s)).collect();
    let out = read_keys(
        &reader(&broker.servers, &output, "read_committed"),
        expected.len(),
        Duration::from_secs(3),
    )
    .await;
    let written: HashSet<u32> = out.keys().map(|k| k.parse().unwrap()).collect();
    assert_eq!(written, expected, "every handled input has an output");
    let repeated: Vec<_> = out.iter().filter(|(_, n)| **n > 1).collect();
    assert!(repeated.is_empty(), "outputs written twice: {repeated:?}");
    let committed: u64 = reports.iter().map(|r| r.totals().records()).sum();
    assert_eq!(committed, u64::from(N), "{reports:?}");
    assert!(
        reports.iter().all(|r| r.totals().records() > 0),
        "both runs committed: {reports:?}"
    );
    let offsets = kafka::committed_offsets(&broker.servers, &group, &input);
    assert_eq!(offsets.values().sum::<i64>(), i64::from(N), "{offsets:?}");
}

/// The handler of the doubling pipeline.
fn double(seq: u32, first: bool, output: &str) -> Result<Outbox, kafka_codec::BoxError> {
    if permanent(seq) {
        return Err(Permanent::new(format!("{seq} is refused")).into());
    }
    if flaky(seq) && first {
        return Err(format!("{seq} failed once").into());
    }
    let mut out = Outbox::new();
    out.send_to(
        output,
        &Doubled {
            seq,
            double: u64::from(seq) * 2,
        },
    )?;
    Ok(out)
}

/// Two pipelines in one group, the second joining half-way: the partitions
/// move between them mid-run, and every input still appears once in the
/// output. Real brokers only (the mock cluster does not store transactional
/// offsets, so a moved partition starts over).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a real broker (KAFKA_BROKERS): the mock cluster does not store transactional offsets"]
async fn pipelines_sharing_a_group_write_each_input_once_across_a_rebalance() {
    const N: u32 = 4_000;
    let broker = kafka::real_broker();
    let (input, output, dlq) = topics(&broker, N).await;
    let group = kafka::fresh("eos-g");
    let tried: Arc<Mutex<HashSet<u32>>> = Arc::default();
    let stop = Shutdown::new();
    let member = |name: &'static str| {
        let (broker, group, input, dlq, output) = (&broker, &group, &input, &dlq, &output);
        let (tried, stop) = (tried.clone(), stop.clone());
        async move {
            let producer = transactional(broker, &kafka::fresh(name)).await;
            let mut pipeline =
                doubling(broker, group, input, dlq, producer).batch(100, Duration::from_millis(20));
            pipeline
                .run(stop, |record| {
                    let seq = record.value().seq;
                    let first = tried.lock().unwrap().insert(seq);
                    async move {
                        // Slow enough that the second member joins mid-run.
                        tokio::time::sleep(Duration::from_millis(1)).await;
                        double(seq, first, output)
                    }
                })
                .await
                .into_result()
        }
    };
    let expected: HashSet<u32> = (0..N).filter(|s| !permanent(*s)).collect();
    let second = async {
        while tried.lock().unwrap().len() < 500 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        member("eos-b").await
    };
    let read = async {
        let out = read_keys(
            &reader(&broker.servers, &output, "read_committed"),
            expected.len(),
            Duration::from_secs(3),
        )
        .await;
        stop.trigger();
        out
    };
    let (a, b, out) = kafka::within(&broker, async {
        tokio::join!(member("eos-a"), second, read)
    })
    .await;
    let (a, b) = (a.expect("first member"), b.expect("second member"));
    let written: HashSet<u32> = out.keys().map(|k| k.parse().unwrap()).collect();
    assert_eq!(written, expected, "every handled input has an output");
    let repeated: Vec<_> = out.iter().filter(|(_, n)| **n > 1).collect();
    assert!(repeated.is_empty(), "outputs written twice: {repeated:?}");
    let (a, b) = (a.totals().records(), b.totals().records());
    assert_eq!(a + b, u64::from(N), "{a:?} {b:?}");
    assert!(b > 0, "the second member took partitions: {a:?} {b:?}");
}

/// A run that fails (the handler gives up on a record) and a run dropped in
/// the middle of a batch leave their batch uncommitted and their partitions
/// moved back: the next run processes it, and every input is written once.
/// Real brokers only (the mock cluster does not fetch again after a seek).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a real broker (KAFKA_BROKERS): the mock cluster does not fetch again after a seek"]
async fn a_failed_or_dropped_run_is_picked_up_by_the_next() {
    const N: u32 = 3_000;
    const FAILS: u32 = 700;
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
    let broker = kafka::real_broker();
    let (input, output, _) = topics(&broker, N).await;
    let group = kafka::fresh("eos-g");
    let producer = transactional(&broker, &kafka::fresh("eos")).await;
    let mut pipeline = kafka::consumer(&broker, &group)
        .topics(&[&input])
        .build_exactly_once::<Numbered>(producer)
        .unwrap()
        .batch(200, Duration::from_millis(20));
    let handled = Arc::new(Mutex::new(Vec::<u32>::new()));
    let handler = |handled: Arc<Mutex<Vec<u32>>>, output: String| {
        move |record: kafka_codec::kafka::Record<Numbered>| {
            let seq = record.value().seq;
            let mut handled = handled.lock().unwrap();
            let first = !handled.contains(&seq);
            handled.push(seq);
            let output = output.clone();
            async move {
                if seq == FAILS && first {
                    return Err("gave up".into());
                }
                let mut out = Outbox::new();
                out.send_to(
                    &output,
                    &Doubled {
                        seq,
                        double: u64::from(seq) * 2,
                    },
                )?;
                Ok(out)
            }
        }
    };
    // 1. Fails at FAILS (the default failure policy: no retry, stop).
    let err = kafka::within(
        &broker,
        pipeline.run(Shutdown::new(), handler(handled.clone(), output.clone())),
    )
    .await
    .into_result()
    .expect_err("the handler gave up");
    assert!(
        matches!(err.kind(), kafka_codec::ErrorKind::Handler(_)),
        "{err}"
    );
    // 2. Dropped mid-batch, once 100 more records were handled.
    let before = handled.lock().unwrap().len();
    let enough = Shutdown::new();
    {
        let (handled, enough) = (handled.clone(), enough.clone());
        tokio::spawn(async move {
            while handled.lock().unwrap().len() < before + 100 {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            enough.trigger();
        });
    }
    let dropped = tokio::select! {
        r = pipeline.run(Shutdown::new(), handler(handled.clone(), output.clone())) => Some(r),
        () = enough.triggered() => None,
    };
    assert!(dropped.is_none(), "the second run was dropped: {dropped:?}");
    // 3. Runs to the end.
    let stop = Shutdown::new();
    let watch = {
        let (servers, group, input, stop) = (
            broker.servers.clone(),
            group.clone(),
            input.clone(),
            stop.clone(),
        );
        async move {
            loop {
                tokio::time::sleep(Duration::from_millis(250)).await;
                let (s, g, i) = (servers.clone(), group.clone(), input.clone());
                let offsets =
                    tokio::task::spawn_blocking(move || kafka::committed_offsets(&s, &g, &i))
                        .await
                        .unwrap();
                if offsets.values().sum::<i64>() == i64::from(N) {
                    stop.trigger();
                    return;
                }
            }
        }
    };
    let (report, ()) = kafka::within(&broker, async {
        tokio::join!(
            pipeline.run(stop.clone(), handler(handled.clone(), output.clone())),
            watch
        )
    })
    .await;
    report.into_result().expect("the last run");

    let out = read_keys(
        &reader(&broker.servers, &output, "read_committed"),
        N as usize,
        Duration::from_secs(3),
    )
    .await;
    let written: HashSet<u32> = out.keys().map(|k| k.parse().unwrap()).collect();
    assert_eq!(written, (0..N).collect(), "every input has an output");
    let repeated: Vec<_> = out.iter().filter(|(_, n)| **n > 1).collect();
    assert!(repeated.is_empty(), "outputs written twice: {repeated:?}");
    let handled = handled.lock().unwrap();
    assert!(
        handled.len() > N as usize,
        "batches were processed again: {}",
        handled.len()
    );
}

/// An aborted transaction is sent again without running the handlers
/// again: dead letters are counted once, so a dead-letter limit is not
/// reached by replays.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_aborted_batch_is_not_handled_twice() {
    const POISON: usize = 8;
    // Its own mock cluster, whatever the broker under test: the aborts are
    // injected into it.
    let broker = kafka::embedded_broker();
    let embedded = broker.embedded.as_ref().expect("a mock cluster");
    let (input, _, dlq) = topics(&broker, 0).await;
    let raw = Producer::builder(&broker.servers).build().unwrap();
    for i in 0..POISON {
        raw.send_raw(
            &input,
            Some(format!("poison-{i}").as_bytes()),
            Some(b"{"),
            OwnedHeaders::new(),
        )
        .await
        .unwrap();
    }
    embedded.cluster().request_errors(
        rdkafka::types::RDKafkaApiKey::AddOffsetsToTxn,
        &[rdkafka::types::RDKafkaRespErr::RD_KAFKA_RESP_ERR_INVALID_REQUEST; 2],
    );
    let producer = transactional(&broker, &kafka::fresh("eos")).await;
    let mut pipeline = kafka::consumer(&broker, &kafka::fresh("eos-g"))
        .topics(&[&input])
        .dead_letter_topic(dlq.clone())
        .dead_letter_limit(DeadLetterLimit::none().max_consecutive(POISON as u64))
        .build_exactly_once::<Numbered>(producer)
        .unwrap()
        .batch(100, Duration::from_millis(500))
        .max_aborts(5, Backoff::fixed(Duration::from_millis(10)));
    let stop = Shutdown::new();
    let dead = async {
        let dead = read_keys(
            &reader(&broker.servers, &dlq, "read_committed"),
            POISON,
            Duration::from_secs(1),
        )
        .await;
        stop.trigger();
        dead
    };
    let (report, dead) = kafka::within(&broker, async {
        tokio::join!(
            pipeline.run(stop.clone(), |_| async { Ok(Outbox::new()) }),
            dead
        )
    })
    .await;
    let report = report.into_result().expect("no dead-letter limit reached");
    assert_eq!(dead.len(), POISON, "{dead:?}");
    assert!(dead.values().all(|n| *n == 1), "{dead:?}");
    assert_eq!(report.transactions.unwrap().aborted, 2, "{report:?}");
    assert_eq!(report.totals().dead_lettered, POISON as u64, "{report:?}");
    assert_eq!(pipeline.consumer().stats().dead_lettered(), POISON as u64);
}
