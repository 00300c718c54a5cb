//! Fault injection and poison pills at scale: whatever the broker does and
//! whatever bytes arrive, nothing acknowledged or handled is lost.
//!
//! The outage tests need the embedded mock cluster (it can take a broker
//! down); the poison-pill test runs on the broker under test.

#[path = "support/kafka.rs"]
mod kafka;
use kafka_codec_sample as sample;

use kafka::{committed_offsets, parse, read_dead_letters, Numbered};

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt as _;
use kafka_codec::kafka::embedded::Embedded;
use kafka_codec::kafka::Shutdown;
use kafka_codec::kafka::{CommitMode, ConsumerBuilder, Group, Producer};
use kafka_codec::{headers, KafkaMessage};
use rand::{Rng, SeedableRng};
use rdkafka::message::{Message, OwnedHeaders};
use sample::*;
use tokio::time::timeout;

const LIMIT: Duration = Duration::from_secs(180);
/// Messages per test.
const N: u32 = 10_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn producer_loses_nothing_through_a_broker_outage() {
    let cluster = Embedded::start(1).unwrap();
    let topic = kafka::fresh("outage");
    cluster.create_topic(&topic, 4).unwrap();
    let producer = Arc::new(
        Producer::builder(cluster.bootstrap_servers())
            .build()
            .unwrap(),
    );

    let sends = futures::stream::iter(0..N).for_each_concurrent(500, |seq| {
        let producer = producer.clone();
        let topic = topic.clone();
        async move {
            let msg = Numbered {
                seq,
                body: format!("message {seq}"),
            };
            producer
                .send_to(&topic, &msg)
                .await
                .expect("acknowledged despite the outage");
        }
    });
    let outage = async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        cluster.cluster().broker_down(1).unwrap();
        tokio::time::sleep(Duration::from_secs(4)).await;
        cluster.cluster().broker_up(1).unwrap();
    };
    let started = std::time::Instant::now();
    timeout(LIMIT, futures::future::join(sends, outage))
        .await
        .expect("timed out");
    println!("sent {N} through a 4 s outage in {:?}", started.elapsed());

    let reader = kafka::raw_reader(cluster.bootstrap_servers(), &topic);
    let mut counts: HashMap<u32, u32> = HashMap::new();
    timeout(LIMIT, async {
        while counts.len() < N as usize {
            let m = reader.recv().await.unwrap();
            let msg = Numbered::from_bytes(m.payload().unwrap()).unwrap();
            *counts.entry(msg.seq).or_default() += 1;
        }
        // Anything duplicated would come right behind; give it a moment.
        while let Ok(Ok(m)) = timeout(Duration::from_secs(2), reader.recv()).await {
            let msg = Numbered::from_bytes(m.payload().unwrap()).unwrap();
            *counts.entry(msg.seq).or_default() += 1;
        }
    })
    .await
    .expect("timed out reading back");
    let duplicates: u32 = counts.values().map(|c| c - 1).sum();
    let lost = (0..N).filter(|s| !counts.contains_key(s)).count();
    println!(
        "sent {N}, received {}, duplicated {duplicates}, lost {lost}",
        counts.values().sum::<u32>()
    );
    assert_eq!(lost, 0);
    assert_eq!(
        duplicates, 0,
        "the idempotent producer writes each message once"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consumer_restarted_mid_stream_resumes_after_its_last_commit() {
    let cluster = Embedded::start(1).unwrap();
    let servers = cluster.bootstrap_servers().to_owned();
    let topic = kafka::fresh("restart");
    cluster.create_topic(&topic, 4).unwrap();
    let producer = Arc::new(Producer::builder(&servers).build().unwrap());
    futures::stream::iter(0..N)
        .for_each_concurrent(500, |seq| {
            let (producer, topic) = (producer.clone(), topic.clone());
            async move {
                producer
                    .send_to(
                        &topic,
                        &Numbered {
                            seq,
                            body: String::new(),
                        },
                    )
                    .await
                    .unwrap();
            }
        })
        .await;

    let group = kafka::fresh("g");
    let builder = ConsumerBuilder::new(&servers, &group)
        .set("session.timeout.ms", "6000")
        .topics(&[&topic])
        .commit_mode(CommitMode::AtLeastOnce);

    // First life: handle 4,000 records, with a broker outage in the middle,
    // commit, then die without a goodbye.
    let first = builder.clone().build::<Numbered>().unwrap();
    let mut handled: Vec<(i32, i64, u32)> = Vec::new();
    timeout(LIMIT, async {
        while handled.len() < 4_000 {
            if handled.len() == 2_000 {
                // The broker goes away for two seconds while records are in
                // the consumer's local queue.
                cluster.cluster().broker_down(1).unwrap();
                tokio::time::sleep(Duration::from_secs(2)).await;
                cluster.cluster().broker_up(1).unwrap();
            }
            let r = first.next().await.unwrap();
            first.ack(&r).unwrap();
            handled.push((r.partition(), r.offset(), r.value().seq));
        }
    })
    .await
    .expect("timed out in the first life");
    // The outage may have cost the member its assignment, in which case the
    // broker refuses this commit: what was handled since the last commit is
    // then delivered again (at least once), never lost.
    let mut commit_result = first.commit();
    for _ in 0..5 {
        if commit_result.is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
        commit_result = first.commit();
    }
    println!("final commit of the first life: {commit_result:?}");
    drop(first);
    let committed = committed_offsets(&servers, &group, &topic);

    // Second life: starts at the last committed offset of each partition.
    let second = builder.build::<Numbered>().unwrap();
    let mut rest: Vec<(i32, i64, u32)> = Vec::new();
    let mut first_offsets: BTreeMap<i32, i64> = BTreeMap::new();
    let seen_all = |rest: &[(i32, i64, u32)]| {
        let seen: HashSet<u32> = handled.iter().chain(rest).map(|(_, _, s)| *s).collect();
        seen.len() == N as usize
    };
    timeout(LIMIT, async {
        while !seen_all(&rest) {
            let r = second.next().await.unwrap();
            second.ack(&r).unwrap();
            first_offsets.entry(r.partition()).or_insert(r.offset());
            rest.push((r.partition(), r.offset(), r.value().seq));
        }
    })
    .await
    .expect("timed out in the second life: records lost?");
    for (p, first_offset) in &first_offsets {
        let expected = committed.get(p).copied().unwrap_or(0);
        assert_eq!(
            *first_offset, expected,
            "partition {p} resumes at its last commit"
        );
    }
    let seen: Vec<u32> = handled.iter().chain(&rest).map(|(_, _, s)| *s).collect();
    let distinct: HashSet<u32> = seen.iter().copied().collect();
    println!(
        "first life {}, second life {}, distinct {}, duplicated {} (handled after the last commit)",
        handled.len(),
        rest.len(),
        distinct.len(),
        seen.len() - distinct.len()
    );
    assert_eq!(distinct.len(), N as usize, "none lost");
    if commit_result.is_ok() {
        assert_eq!(
            seen.len(),
            N as usize,
            "with the final commit in, none repeated"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn poison_pills_at_scale_are_dead_lettered_and_nothing_is_lost() {
    let broker = kafka::broker();
    let topic = kafka::fresh("poison");
    let dlq = kafka::fresh("poison-dlq");
    kafka::create_topic(&broker, &topic, 4).await;
    kafka::create_topic(&broker, &dlq, 1).await;
    let producer = Arc::new(Producer::builder(&broker.servers).build().unwrap());
    let mut rng = rand::rngs::StdRng::seed_from_u64(10);
    // 10 % bad: half malformed bytes, half a well-formed unknown type.
    let n = N as usize;
    let mut plan: Vec<Result<Box<dyn Entity>, Vec<u8>>> = Vec::with_capacity(n);
    for i in 0..n {
        if i % 10 == 3 {
            let bad = if rng.gen_bool(0.5) {
                format!("{{\"type\":\"Robot\",\"serial\":{i}}}").into_bytes()
            } else {
                let mut b = format!("{{\"type\":\"Order\",\"broken\":{i}").into_bytes();
                b.push(rng.gen());
                b
            };
            plan.push(Err(bad));
        } else {
            plan.push(Ok(random_entity(&mut rng)));
        }
    }
    let plan = Arc::new(plan);
    // Where each bad message landed.
    let bad_at: Arc<Mutex<HashSet<(i32, i64)>>> = Arc::default();
    let sends = futures::stream::iter(0..n).for_each_concurrent(500, |i| {
        let (producer, topic, plan) = (producer.clone(), topic.clone(), plan.clone());
        let bad_at = bad_at.clone();
        async move {
            match &plan[i] {
                Ok(e) => {
                    producer.send_to(&topic, e).await.unwrap();
                }
                Err(bad) => {
                    let key = format!("bad-{i}");
                    let d = producer
                        .send_raw(&topic, Some(key.as_bytes()), Some(bad), OwnedHeaders::new())
                        .await
                        .unwrap();
                    bad_at.lock().unwrap().insert((d.partition, d.offset));
                }
            }
        }
    });
    timeout(LIMIT, sends)
        .await
        .expect("every record sent in time");
    let bad_at = bad_at.lock().unwrap().clone();
    let good: HashSet<uuid::Uuid> = plan
        .iter()
        .filter_map(|p| p.as_ref().ok())
        .map(|e| e.base().id)
        .collect();
    let bad: HashMap<Vec<u8>, Vec<u8>> = plan
        .iter()
        .enumerate()
        .filter_map(|(i, p)| {
            p.as_ref()
                .err()
                .map(|b| (format!("bad-{i}").into_bytes(), b.clone()))
        })
        .collect();

    let group = kafka::fresh("g");
    let builder = kafka::consumer(&broker, &group)
        .topics(&[&topic])
        .commit_mode(CommitMode::AtLeastOnce)
        .dead_letter_topic(dlq.clone());
    let handled: Arc<Mutex<HashMap<(i32, i64), uuid::Uuid>>> = Arc::default();

    // First run: stopped part-way, as a deploy would.
    let shutdown = Shutdown::new();
    let (h, stop) = (handled.clone(), shutdown.clone());
    let first = tokio::spawn(Group::new(builder.clone(), 3).run(
        shutdown.clone(),
        move |r: kafka_codec::kafka::Record<Box<dyn Entity>>| {
            let (h, stop) = (h.clone(), stop.clone());
            async move {
                let mut h = h.lock().unwrap();
                h.insert((r.partition(), r.offset()), r.value().base().id);
                if h.len() >= n / 3 {
                    stop.trigger();
                }
                Ok::<_, kafka_codec::BoxError>(())
            }
        },
    ));
    let report = timeout(LIMIT, first).await.expect("timed out").unwrap();
    assert!(report.errors.is_empty(), "{:?}", report.errors);

    // Every committed offset covers only records handled (good ones) or
    // already in the dead-letter topic (bad ones).
    let committed = committed_offsets(&broker.servers, &group, &topic);
    let bad_below = bad_at
        .iter()
        .filter(|(p, o)| committed.get(p).is_some_and(|end| o < end))
        .count();
    let letters = read_dead_letters(&broker.servers, &dlq, bad_below).await;
    let lettered: HashSet<(i32, i64)> = letters
        .iter()
        .map(|l| {
            (
                parse(&l.2[headers::DLQ_PARTITION]),
                parse::<i64>(&l.2[headers::DLQ_OFFSET]),
            )
        })
        .collect();
    {
        let h = handled.lock().unwrap();
        for (p, end) in &committed {
            for o in 0..*end {
                let ok = if bad_at.contains(&(*p, o)) {
                    lettered.contains(&(*p, o))
                } else {
                    h.contains_key(&(*p, o))
                };
                assert!(
                    ok,
                    "offset {o} of partition {p} committed before it was handled"
                );
            }
        }
    }
    println!(
        "after the first run: committed {committed:?}, {} dead letters",
        letters.len()
    );

    // Second run: to the end.
    let (h, stop, total_good) = (handled.clone(), shutdown.clone(), good.len());
    let shutdown = Shutdown::new();
    let stop2 = shutdown.clone();
    drop(stop);
    let second = tokio::spawn(Group::new(builder, 3).run(
        shutdown.clone(),
        move |r: kafka_codec::kafka::Record<Box<dyn Entity>>| {
            let (h, stop) = (h.clone(), stop2.clone());
            async move {
                let mut h = h.lock().unwrap();
                h.insert((r.partition(), r.offset()), r.value().base().id);
                let ids: HashSet<_> = h.values().collect();
                if ids.len() >= total_good {
                    stop.trigger();
                }
                Ok::<_, kafka_codec::BoxError>(())
            }
        },
    ));
    let report = timeout(LIMIT, second).await.expect("timed out").unwrap();
    assert!(report.errors.is_empty(), "{:?}", report.errors);

    let handled_ids: HashSet<uuid::Uuid> = handled.lock().unwrap().values().copied().collect();
    assert_eq!(handled_ids, good, "every good message handled");
    let letters = read_dead_letters(&broker.servers, &dlq, bad.len()).await;
    let mut lettered_keys: HashMap<Vec<u8>, u32> = HashMap::new();
    for (key, payload, hs) in &letters {
        assert_eq!(Some(payload), bad.get(key), "dead letter byte-identical");
        assert!(
            hs.contains_key(headers::DLQ_ERROR_KIND) && hs.contains_key(headers::DLQ_ERROR_MESSAGE)
        );
        *lettered_keys.entry(key.clone()).or_default() += 1;
    }
    assert_eq!(
        lettered_keys.len(),
        bad.len(),
        "every bad message dead-lettered"
    );
    let dup_letters: u32 = lettered_keys.values().map(|c| c - 1).sum();
    println!(
        "{}: {n} sent, {} good handled, {} bad dead-lettered ({} duplicated), 0 lost",
        broker.kind(),
        handled_ids.len(),
        lettered_keys.len(),
        dup_letters
    );
}

/// A send that finds librdkafka's queue full waits for room: it is queued
/// once an earlier record is acknowledged. With no room before
/// `queue_timeout`, it fails with the queue's error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_queue_makes_a_send_wait_for_room_then_time_out() {
    use kafka_codec::ErrorKind;
    use rdkafka::error::{KafkaError, RDKafkaErrorCode};

    let cluster = Embedded::start(1).unwrap();
    let topic = kafka::fresh("queue-full");
    cluster.create_topic(&topic, 1).unwrap();
    let records: Vec<Numbered> = (0..5)
        .map(|seq| Numbered {
            seq,
            body: "queued".into(),
        })
        .collect();

    // Five at once through a queue of one: four wait for room.
    let producer = Producer::builder(cluster.bootstrap_servers())
        .set("queue.buffering.max.messages", "1")
        .build()
        .unwrap();
    let sends = records.iter().map(|r| producer.send_to(&topic, r));
    let sent = timeout(LIMIT, futures::future::join_all(sends))
        .await
        .expect("every send done");
    let mut offsets: Vec<i64> = sent.into_iter().map(|d| d.unwrap().offset).collect();
    offsets.sort_unstable();
    assert_eq!(offsets, [0, 1, 2, 3, 4]);

    // The broker down: the first record stays in the queue, unacknowledged,
    // and the second finds no room before its 300 ms.
    let short = Producer::builder(cluster.bootstrap_servers())
        .set("queue.buffering.max.messages", "1")
        .queue_timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    short.send_to(&topic, &records[0]).await.unwrap();
    cluster.cluster().broker_down(1).unwrap();
    let waiting = short.send_to(&topic, &records[1]);
    let refused = async {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let started = std::time::Instant::now();
        let refused = short.send_to(&topic, &records[2]).await;
        let waited = started.elapsed();
        cluster.cluster().broker_up(1).unwrap();
        (refused, waited)
    };
    let (delivered, (refused, waited)) = timeout(LIMIT, futures::future::join(waiting, refused))
        .await
        .expect("both sends done");
    assert!(
        matches!(
            refused.as_ref().map_err(kafka_codec::Error::kind),
            Err(ErrorKind::Kafka(KafkaError::MessageProduction(
                RDKafkaErrorCode::QueueFull
            )))
        ),
        "{refused:?}"
    );
    assert!(waited >= Duration::from_millis(300), "{waited:?}");
    assert_eq!(delivered.unwrap().offset, 6, "sent once the broker is back");
}

/// The environment a [`killed_consumer_child`] reads its orders from.
const CHILD_SERVERS: &str = "KC_KILLED_CHILD_SERVERS";
const CHILD_TOPIC: &str = "KC_KILLED_CHILD_TOPIC";
const CHILD_GROUP: &str = "KC_KILLED_CHILD_GROUP";
const CHILD_OUT: &str = "KC_KILLED_CHILD_OUT";

/// The consumer process `a_consumer_killed_mid_run_loses_nothing` kills and
/// restarts: built with the default settings (a short session timeout
/// aside, so the group moves on from the killed member quickly), it writes
/// the sequence number of each record it handled to a file, flushed before
/// the handler returns, until SIGTERM.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "the child process of a_consumer_killed_mid_run_loses_nothing, which runs it"]
async fn killed_consumer_child() {
    use std::io::Write as _;
    let var = |name| std::env::var(name).expect("run by a_consumer_killed_mid_run_loses_nothing");
    let out = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(var(CHILD_OUT))
        .expect("the output file");
    let out = Arc::new(Mutex::new(out));
    let consumer: kafka_codec::kafka::Consumer<Numbered> =
        ConsumerBuilder::new(&var(CHILD_SERVERS), &var(CHILD_GROUP))
            .set("session.timeout.ms", "6000")
            .topics(&[var(CHILD_TOPIC)])
            .build()
            .expect("consumer");
    let report = consumer
        .run(
            Shutdown::on_signals().expect("signals"),
            move |r: kafka_codec::kafka::Record<Numbered>| {
                let out = out.clone();
                async move {
                    tokio::time::sleep(Duration::from_micros(500)).await;
                    let mut out = out.lock().unwrap();
                    writeln!(out, "{}", r.value().seq)?;
                    out.flush()?;
                    Ok::<_, std::io::Error>(())
                }
            },
        )
        .await;
    report.into_result().expect("the child's run");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_consumer_killed_mid_run_loses_nothing() {
    const N: u32 = 3_000;
    let broker = kafka::broker();
    let (topic, group) = (kafka::fresh("killed"), kafka::fresh("g"));
    kafka::create_topic(&broker, &topic, 4).await;
    kafka::produce_numbered(&broker.servers, &topic, N).await;
    let out = std::env::temp_dir().join(format!("{topic}.handled"));
    let spawn = || {
        std::process::Command::new(std::env::current_exe().unwrap())
            .args([
                "--ignored",
                "--exact",
                "killed_consumer_child",
                "--nocapture",
            ])
            .env(CHILD_SERVERS, &broker.servers)
            .env(CHILD_TOPIC, &topic)
            .env(CHILD_GROUP, &group)
            .env(CHILD_OUT, &out)
            .spawn()
            .expect("the child process")
    };
    let handled = || -> Vec<u32> {
        std::fs::read_to_string(&out)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.parse().ok())
            .collect()
    };
    let wait_for = |at_least: usize, what: &str| {
        let deadline = std::time::Instant::now() + LIMIT;
        loop {
            let distinct: HashSet<u32> = handled().into_iter().collect();
            if distinct.len() >= at_least {
                return distinct.len();
            }
            assert!(
                std::time::Instant::now() < deadline,
                "{what}: {} of {at_least} handled",
                distinct.len()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    };

    let mut first = spawn();
    wait_for(N as usize / 3, "before the kill");
    first.kill().expect("SIGKILL");
    first.wait().unwrap();
    let before = handled().len();

    let mut second = spawn();
    wait_for(N as usize, "after the restart");
    let stop = std::process::Command::new("kill")
        .args(["-TERM", &second.id().to_string()])
        .status()
        .unwrap();
    assert!(stop.success());
    let status = second.wait().unwrap();
    assert!(
        status.success(),
        "the restarted consumer stopped cleanly on SIGTERM: {status}"
    );

    let all = handled();
    let distinct: HashSet<u32> = all.iter().copied().collect();
    let _ = std::fs::remove_file(&out);
    assert_eq!(
        distinct.len(),
        N as usize,
        "every record handled: none lost to the kill"
    );
    assert!(distinct.iter().all(|&seq| seq < N));
    println!(
        "{}: killed after {before} records; {} handled in all, {} again after the restart (at least once)",
        kafka::broker_name(&broker),
        all.len(),
        all.len() - N as usize
    );
}
