//! The typed producer and consumer against a broker: the real one named by
//! `KAFKA_BROKERS` (the test script starts Tansu), else the embedded mock
//! cluster. Each test uses fresh topics.

#[path = "support/kafka.rs"]
mod kafka;
use kafka_codec_sample as sample;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use kafka_codec::kafka::Shutdown;
use kafka_codec::kafka::{CommitMode, Group, Producer, Record};
use kafka_codec::{headers, ErrorKind, KafkaMessage};
use rand::SeedableRng;
use rdkafka::message::{Header, Message, OwnedHeaders};
use sample::*;

fn rng(seed: u64) -> rand::rngs::StdRng {
    rand::rngs::StdRng::seed_from_u64(seed)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn polymorphic_hierarchy_round_trips_with_headers() {
    let broker = kafka::broker();
    let topic = kafka::fresh("entities");
    kafka::create_topic(&broker, &topic, 4).await;
    let producer = Producer::builder(&broker.servers).build().unwrap();
    let mut rng = rng(1);
    let sent: Vec<Box<dyn Entity>> = (0..60).map(|_| random_entity(&mut rng)).collect();
    for entity in &sent {
        producer.send_to(&topic, entity).await.unwrap();
    }
    let consumer = kafka::consumer(&broker, &kafka::fresh("g"))
        .topics(&[&topic])
        .build::<Box<dyn Entity>>()
        .unwrap();
    let mut got = HashMap::new();
    kafka::within(&broker, async {
        while got.len() < sent.len() {
            let record = consumer.next().await.unwrap();
            let value = record.value();
            assert_eq!(
                record.header(headers::CONTENT_TYPE),
                Some(&b"application/json"[..])
            );
            assert_eq!(
                record.header(headers::TYPE),
                Some(value.type_name().as_bytes())
            );
            let mut key = Vec::new();
            assert_eq!(value.write_key(&mut key), record.key().is_some());
            if record.key().is_some() {
                assert_eq!(record.key(), Some(&key[..]));
            }
            // The borrowed accessors and the owned metadata built on demand
            // say the same.
            assert_eq!(record.topic(), topic);
            assert_eq!(record.payload(), &value.to_bytes().unwrap()[..]);
            let meta = record.meta();
            assert_eq!(
                (&*meta.topic, meta.partition, meta.offset),
                (topic.as_str(), record.partition(), record.offset())
            );
            assert_eq!(meta.key.as_deref(), record.key());
            let owned: Vec<_> = meta
                .headers
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_deref()))
                .collect();
            assert_eq!(owned, record.headers().collect::<Vec<_>>());
            assert!(
                owned.len() >= 2,
                "content type and type name at least: {owned:?}"
            );
            got.insert(value.base().id, format!("{value:?}"));
        }
    })
    .await;
    for entity in &sent {
        assert_eq!(got.get(&entity.base().id), Some(&format!("{entity:?}")));
    }
    assert_eq!(consumer.stats().decoded(), 60);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn group_of_three_handles_every_message_exactly_once() {
    let broker = kafka::broker();
    let topic = kafka::fresh("orders");
    kafka::create_topic(&broker, &topic, 4).await;
    let producer = Producer::builder(&broker.servers).build().unwrap();
    let mut rng = rng(2);
    let orders: Vec<Order> = (0..300).map(|_| order(&mut rng)).collect();
    let seen: Arc<Mutex<HashMap<uuid::Uuid, u32>>> = Arc::default();
    let members: Arc<Mutex<BTreeMap<usize, u64>>> = Arc::default();
    let shutdown = Shutdown::new();
    let group = Group::new(
        kafka::consumer(&broker, &kafka::fresh("g"))
            .topics(&[&topic])
            .commit_mode(CommitMode::AtLeastOnce),
        3,
    );
    let (s, m, stop, total) = (
        seen.clone(),
        members.clone(),
        shutdown.clone(),
        orders.len(),
    );
    let run = tokio::spawn(group.run(shutdown.clone(), move |record: Record<Order>| {
        let (s, m, stop) = (s.clone(), m.clone(), stop.clone());
        let member = Group::member().expect("a member's handler");
        async move {
            let mut s = s.lock().unwrap();
            *s.entry(record.value().entity.id).or_default() += 1;
            *m.lock().unwrap().entry(member).or_default() += 1;
            if s.len() == total {
                stop.trigger();
            }
            Ok::<_, kafka_codec::BoxError>(())
        }
    }));
    // Produce once the three members have joined: a member joining later
    // rebalances the group mid-stream, and the mock cluster refuses commits
    // during a rebalance, which would replay records (at least once) and
    // blur what this test checks.
    tokio::time::sleep(Duration::from_secs(4)).await;
    for o in &orders {
        producer.send_to(&topic, o).await.unwrap();
    }
    let report = kafka::within(&broker, run).await.unwrap();
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), orders.len());
    assert!(
        seen.values().all(|&n| n == 1),
        "a message was handled twice"
    );
    assert_eq!(report.handled(), 300);
    assert_eq!(
        members.lock().unwrap().values().sum::<u64>(),
        300,
        "Group::member() named a member for every record"
    );
    println!(
        "{}: per-member handled {:?}",
        broker.kind(),
        members.lock().unwrap()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn manual_commit_then_restart_resumes_after_the_last_commit() {
    let broker = kafka::broker();
    let topic = kafka::fresh("resume");
    kafka::create_topic(&broker, &topic, 1).await;
    let producer = Producer::builder(&broker.servers).build().unwrap();
    let mut rng = rng(3);
    let orders: Vec<Order> = (0..100).map(|_| order(&mut rng)).collect();
    for o in &orders {
        producer.send_to(&topic, o).await.unwrap();
    }
    let group = kafka::fresh("g");
    let builder = kafka::consumer(&broker, &group)
        .topics(&[&topic])
        .commit_mode(CommitMode::AtLeastOnce);

    // First run: handle 40, read 5 more without handling them, commit, stop.
    let first = builder.clone().build::<Order>().unwrap();
    let mut handled = Vec::new();
    kafka::within(&broker, async {
        while handled.len() < 40 {
            let r = first.next().await.unwrap();
            first.ack(&r).unwrap();
            handled.push(r.value().entity.id);
        }
        for _ in 0..5 {
            let _unhandled = first.next().await.unwrap();
        }
    })
    .await;
    first.commit().unwrap();
    drop(first);

    // Second run: starts right after the 40th record.
    let second = builder.build::<Order>().unwrap();
    let mut rest = Vec::new();
    kafka::within(&broker, async {
        while rest.len() < 60 {
            let r = second.next().await.unwrap();
            if rest.is_empty() {
                assert_eq!(r.offset(), 40, "resumed at the first unhandled offset");
            }
            rest.push(r.value().entity.id);
        }
    })
    .await;
    let all: Vec<_> = handled.iter().chain(&rest).copied().collect();
    let expected: Vec<_> = orders.iter().map(|o| o.entity.id).collect();
    assert_eq!(all, expected, "nothing lost, nothing repeated");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn poison_pills_are_dead_lettered_with_raw_bytes_intact() {
    let broker = kafka::broker();
    let topic = kafka::fresh("mixed");
    let dlq = kafka::fresh("dlq");
    kafka::create_topic(&broker, &topic, 1).await;
    kafka::create_topic(&broker, &dlq, 1).await;
    let producer = Producer::builder(&broker.servers).build().unwrap();
    let mut rng = rng(4);
    let bad: Vec<(&[u8], &[u8])> = vec![
        (b"k1", b"{not json"),
        (
            b"k2",
            br#"{"type":"Robot","id":"00000000-0000-0000-0000-000000000000"}"#,
        ),
        (b"k3", b"\xff\xfe binary \x00"),
    ];
    let mut good = Vec::new();
    for i in 0..12 {
        if i % 4 == 1 {
            let (key, payload) = bad[i / 4];
            let hs = OwnedHeaders::new().insert(Header {
                key: "trace",
                value: Some("abc"),
            });
            producer
                .send_raw(&topic, Some(key), Some(payload), hs)
                .await
                .unwrap();
        } else {
            let e = random_entity(&mut rng);
            good.push(e.base().id);
            producer.send_to(&topic, &e).await.unwrap();
        }
    }
    let consumer = kafka::consumer(&broker, &kafka::fresh("g"))
        .topics(&[&topic])
        .commit_mode(CommitMode::AtLeastOnce)
        .dead_letter_topic(dlq.clone())
        .build::<Box<dyn Entity>>()
        .unwrap();
    let mut got = Vec::new();
    kafka::within(&broker, async {
        while got.len() < good.len() {
            let r = consumer.next().await.unwrap();
            consumer.ack(&r).unwrap();
            got.push(r.value().base().id);
        }
    })
    .await;
    assert_eq!(got, good);
    assert_eq!(consumer.stats().dead_lettered(), 3);

    let raw = kafka::raw_reader(&broker.servers, &dlq);
    let mut letters = Vec::new();
    kafka::within(&broker, async {
        while letters.len() < 3 {
            let m = raw.recv().await.unwrap();
            let hs: HashMap<String, Vec<u8>> = kafka::header_pairs(&m).into_iter().collect();
            letters.push((m.key().unwrap().to_vec(), m.payload().unwrap().to_vec(), hs));
        }
    })
    .await;
    let kinds: HashSet<&[u8]> = letters
        .iter()
        .map(|(_, _, hs)| hs[headers::DLQ_ERROR_KIND].as_slice())
        .collect();
    assert!(kinds.contains(&b"malformed"[..]) && kinds.contains(&b"unknown_type"[..]));
    for ((key, payload, hs), (bad_key, bad_payload)) in letters.iter().zip(&bad) {
        assert_eq!(key, bad_key);
        assert_eq!(payload, bad_payload, "raw bytes intact");
        assert_eq!(hs["trace"], b"abc", "original headers kept");
        assert_eq!(hs[headers::DLQ_TOPIC], topic.as_bytes());
        assert!(hs.contains_key(headers::DLQ_OFFSET));
        assert!(!hs[headers::DLQ_ERROR_MESSAGE].is_empty());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fail_policy_returns_the_raw_record() {
    let broker = kafka::broker();
    let topic = kafka::fresh("fail");
    kafka::create_topic(&broker, &topic, 1).await;
    let producer = Producer::builder(&broker.servers).build().unwrap();
    producer
        .send_raw(
            &topic,
            Some(b"key"),
            Some(b"{\"type\":\"Ghost\"}"),
            OwnedHeaders::new(),
        )
        .await
        .unwrap();
    let consumer = kafka::consumer(&broker, &kafka::fresh("g"))
        .topics(&[&topic])
        .build::<Box<dyn Entity>>()
        .unwrap();
    let err = kafka::within(&broker, consumer.next()).await.unwrap_err();
    assert!(
        matches!(err.kind(), ErrorKind::UnknownType { tag, .. } if tag == "Ghost"),
        "{err}"
    );
    assert_eq!(err.payload(), Some(&b"{\"type\":\"Ghost\"}"[..]));
    let meta = err.record().expect("record metadata");
    assert_eq!(
        (&*meta.topic, meta.partition, meta.offset),
        (topic.as_str(), 0, 0)
    );
    assert_eq!(meta.key.as_deref(), Some(&b"key"[..]));
}

#[tokio::test]
async fn encode_errors_never_reach_the_broker() {
    let broker = kafka::broker();
    let producer = Producer::builder(&broker.servers).build().unwrap();
    let mut bad = std::collections::HashMap::new();
    bad.insert(vec![1u8], 2u8); // JSON maps need string keys
    let err = producer
        .send_value(&kafka::fresh("never"), None::<&str>, &bad)
        .await
        .unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::Encode { .. }), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partitioned_consumer_keeps_order_per_partition_and_bounds_concurrency() {
    let broker = kafka::broker();
    let topic = kafka::fresh("partitioned");
    kafka::create_topic(&broker, &topic, 4).await;
    let producer = Producer::builder(&broker.servers).build().unwrap();
    let mut rng = rng(5);
    let orders: Vec<Order> = (0..120).map(|_| order(&mut rng)).collect();
    for o in &orders {
        producer.send_to(&topic, o).await.unwrap();
    }
    let partitioned = kafka::consumer(&broker, &kafka::fresh("g"))
        .topics(&[&topic])
        .commit_mode(CommitMode::AtLeastOnce)
        .build_partitioned::<Order>()
        .unwrap()
        .max_in_flight(2);
    let seen: Arc<Mutex<Vec<(i32, i64, uuid::Uuid)>>> = Arc::default();
    let shutdown = Shutdown::new();
    let (s, stop, total) = (seen.clone(), shutdown.clone(), orders.len());
    let report = kafka::within(
        &broker,
        partitioned.run(shutdown.clone(), move |record| {
            let (s, stop) = (s.clone(), stop.clone());
            async move {
                tokio::time::sleep(Duration::from_millis(5)).await;
                let mut s = s.lock().unwrap();
                s.push((
                    record.partition(),
                    record.offset(),
                    record.value().entity.id,
                ));
                if s.len() == total {
                    stop.trigger();
                }
                Ok::<_, kafka_codec::BoxError>(())
            }
        }),
    )
    .await
    .into_result()
    .unwrap();
    assert_eq!(partitioned.partitions().len(), 4, "the only member has all");
    let seen = seen.lock().unwrap();
    assert_eq!(report.handled(), 120);
    assert_eq!(partitioned.peak_in_flight(), 2, "bounded, and concurrent");
    let ids: HashSet<_> = seen.iter().map(|(_, _, id)| *id).collect();
    assert_eq!(ids.len(), 120, "each handled once");
    for p in 0..4 {
        let offsets: Vec<i64> = seen
            .iter()
            .filter(|(q, _, _)| *q == p)
            .map(|(_, o, _)| *o)
            .collect();
        assert!(
            offsets.windows(2).all(|w| w[0] < w[1]),
            "in order in partition {p}: {offsets:?}"
        );
    }
    println!("{}: per partition {:?}", broker.kind(), report.partitions);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dispatch_routes_records_by_concrete_type() {
    use kafka_codec::kafka::Dispatch;
    use std::sync::atomic::{AtomicUsize, Ordering};

    let broker = kafka::broker();
    let topic = kafka::fresh("dispatch");
    kafka::create_topic(&broker, &topic, 2).await;
    let producer = Producer::builder(&broker.servers).build().unwrap();
    let mut rng = rng(6);
    let mut expected: HashMap<&str, usize> = HashMap::new();
    for _ in 0..40 {
        let e = random_entity(&mut rng);
        *expected
            .entry(match e.type_name() {
                "Employee" => "Employee",
                "Order" => "Order",
                _ => "other",
            })
            .or_default() += 1;
        producer.send_to(&topic, &e).await.unwrap();
    }
    let employees = Arc::new(AtomicUsize::new(0));
    let orders = Arc::new(AtomicUsize::new(0));
    let others = Arc::new(AtomicUsize::new(0));
    let (e, o, x) = (employees.clone(), orders.clone(), others.clone());
    let dispatch = Dispatch::<dyn Entity>::new()
        .on(move |_, emp: Employee| {
            assert!(emp.employee_no > 0);
            e.fetch_add(1, Ordering::SeqCst);
            async { Ok(()) }
        })
        .on(move |meta, order: Order| {
            assert_eq!(
                meta.key.as_deref(),
                Some(order.customer_id.to_string().as_bytes())
            );
            o.fetch_add(1, Ordering::SeqCst);
            async { Ok(()) }
        })
        .fallback(move |_, other| {
            assert!(other.is::<Person>() || other.is::<Customer>());
            x.fetch_add(1, Ordering::SeqCst);
            async { Ok(()) }
        });
    let consumer = kafka::consumer(&broker, &kafka::fresh("g"))
        .topics(&[&topic])
        .build::<Box<dyn Entity>>()
        .unwrap();
    let shutdown = Shutdown::new();
    let (stop, counts) = (
        shutdown.clone(),
        [employees.clone(), orders.clone(), others.clone()],
    );
    tokio::spawn(async move {
        while counts
            .iter()
            .map(|c| c.load(Ordering::SeqCst))
            .sum::<usize>()
            < 40
        {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        stop.trigger();
    });
    kafka::within(
        &broker,
        consumer.run(shutdown.clone(), move |r| dispatch.handle(r)),
    )
    .await
    .into_result()
    .unwrap();
    assert_eq!(
        employees.load(Ordering::SeqCst),
        expected.get("Employee").copied().unwrap_or(0)
    );
    assert_eq!(
        orders.load(Ordering::SeqCst),
        expected.get("Order").copied().unwrap_or(0)
    );
    assert_eq!(
        others.load(Ordering::SeqCst),
        expected.get("other").copied().unwrap_or(0)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_over_the_header_limits_are_poison() {
    let broker = kafka::broker();
    let topic = kafka::fresh("headers");
    kafka::create_topic(&broker, &topic, 1).await;
    let producer = Producer::builder(&broker.servers).build().unwrap();
    let mut hs = OwnedHeaders::new();
    for i in 0..10 {
        hs = hs.insert(Header {
            key: &format!("h{i}"),
            value: Some("v"),
        });
    }
    let order = order(&mut rng(7));
    let payload = order.to_bytes().unwrap();
    producer
        .send_raw(&topic, None, Some(&payload), hs)
        .await
        .unwrap();
    // One header of 2 KiB: under the count limit, over the size limit.
    let big = "x".repeat(2048);
    let hs = OwnedHeaders::new().insert(Header {
        key: "big",
        value: Some(&big),
    });
    producer
        .send_raw(&topic, None, Some(&payload), hs)
        .await
        .unwrap();
    producer.send_to(&topic, &order).await.unwrap();
    let consumer = kafka::consumer(&broker, &kafka::fresh("g"))
        .topics(&[&topic])
        .max_headers(5)
        .max_header_bytes(1024)
        .build::<Order>()
        .unwrap();
    for (limit, headers) in [
        ("headers, more than the limit of 5", 10),
        ("bytes of headers, more than the limit of 1024", 1),
    ] {
        let err = kafka::within(&broker, consumer.next()).await.unwrap_err();
        assert!(
            matches!(err.kind(), ErrorKind::Header { reason, .. } if reason.contains(limit)),
            "{err}"
        );
        assert_eq!(err.payload(), Some(&payload[..]));
        // What is needed to recover: every header, in order.
        let record = err.record().expect("the record's metadata");
        assert_eq!(record.headers.len(), headers, "{record:?}");
        assert_eq!(record.headers[0].0, if headers == 1 { "big" } else { "h0" });
    }
    let next = kafka::within(&broker, consumer.next()).await.unwrap();
    assert_eq!(
        next.value(),
        &order,
        "the consumer goes on after a poison pill"
    );
}

/// More headers than the consumer keeps on the stack (8): all are read,
/// in order, duplicates included, and the hints among them still count.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_record_with_many_headers_keeps_them_all() {
    let broker = kafka::broker();
    let topic = kafka::fresh("many-headers");
    kafka::create_topic(&broker, &topic, 1).await;
    let producer = Producer::builder(&broker.servers).build().unwrap();
    let order = order(&mut rng(11));
    let payload = order.to_bytes().unwrap();
    let mut sent: Vec<(String, Option<String>)> = (0..12)
        .map(|i| (format!("h{}", i % 7), (i % 5 != 0).then(|| format!("v{i}"))))
        .collect();
    // The content type last, after eleven others.
    sent.push((
        headers::CONTENT_TYPE.into(),
        Some("application/json".into()),
    ));
    let mut hs = OwnedHeaders::new();
    for (key, value) in &sent {
        hs = hs.insert(Header {
            key,
            value: value.as_deref(),
        });
    }
    producer
        .send_raw(&topic, None, Some(&payload), hs)
        .await
        .unwrap();
    // A content type the codec does not read, in the 10th place: refused.
    let mut hs = OwnedHeaders::new();
    for i in 0..9 {
        hs = hs.insert(Header {
            key: &format!("x{i}"),
            value: Some("v"),
        });
    }
    let hs = hs.insert(Header {
        key: headers::CONTENT_TYPE,
        value: Some("application/x-unknown"),
    });
    producer
        .send_raw(&topic, None, Some(&payload), hs)
        .await
        .unwrap();
    let consumer = kafka::consumer(&broker, &kafka::fresh("g"))
        .topics(&[&topic])
        .build::<Order>()
        .unwrap();
    let record = kafka::within(&broker, consumer.next()).await.unwrap();
    assert_eq!(record.value(), &order);
    let got: Vec<_> = record.headers().collect();
    let want: Vec<_> = sent
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_deref().map(str::as_bytes)))
        .collect();
    assert_eq!(got, want);
    assert_eq!(record.header("h1"), Some(&b"v1"[..]), "the first h1");
    let err = kafka::within(&broker, consumer.next()).await.unwrap_err();
    assert!(
        matches!(err.kind(), ErrorKind::ContentTypeMismatch { .. }),
        "{err:?}"
    );
    assert_eq!(err.record().unwrap().headers.len(), 10);
}

/// Mistakes a caller can act on have their own error kinds.
#[tokio::test]
async fn a_type_without_a_topic_and_a_missing_transactional_id_have_kinds() {
    #[derive(Debug, serde::Serialize, serde::Deserialize, kafka_codec::KafkaMessage)]
    struct Untargeted {
        n: u32,
    }
    let producer = kafka_codec::kafka::Producer::builder("127.0.0.1:1")
        .build()
        .unwrap();
    let err = producer.send(&Untargeted { n: 1 }).await.unwrap_err();
    assert!(
        matches!(err.kind(), kafka_codec::ErrorKind::NoTopic { type_name } if type_name.contains("Untargeted")),
        "{err}"
    );
    let err = kafka_codec::kafka::ConsumerBuilder::new("127.0.0.1:1", "g")
        .build::<Untargeted>()
        .unwrap_err();
    assert_eq!(err.kind().name(), "no_topic", "{err}");
    let err = kafka_codec::kafka::TransactionalProducer::new(
        rdkafka::ClientConfig::new().set("bootstrap.servers", "127.0.0.1:1"),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(err.kind(), kafka_codec::ErrorKind::Config(_)),
        "{err}"
    );
}

fn numbered(seq: u32) -> kafka::Numbered {
    kafka::Numbered {
        seq,
        body: format!("record {seq}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tombstones_reach_an_option_consumer_and_a_plain_one_skips_them() {
    let broker = kafka::broker();
    let topic = kafka::fresh("tombstones");
    kafka::create_topic(&broker, &topic, 1).await;
    let producer = Producer::builder(&broker.servers).build().unwrap();
    producer.send_to(&topic, &numbered(1)).await.unwrap();
    let deleted = producer.tombstone(&topic, &1u32).await.unwrap();
    producer.send_to(&topic, &numbered(2)).await.unwrap();

    // A consumer of Option<T>: the delete arrives as None, with its key.
    let options: kafka_codec::kafka::Consumer<Option<kafka::Numbered>> =
        kafka::consumer(&broker, &kafka::fresh("g"))
            .topics(&[&topic])
            .build()
            .unwrap();
    let mut got = Vec::new();
    for _ in 0..3 {
        let record = kafka::within(&broker, options.next()).await.unwrap();
        options.ack(&record).unwrap();
        got.push((record.key_as::<u32>().unwrap(), record.value().clone()));
    }
    assert_eq!(
        got,
        [
            (Some(1), Some(numbered(1))),
            (Some(1), None),
            (Some(2), Some(numbered(2))),
        ]
    );

    // A consumer of T: not poison (the default poison recovery fails the
    // run); skipped, counted, committed past.
    let group = kafka::fresh("g");
    let plain = kafka::consumer(&broker, &group)
        .topics(&[&topic])
        .build::<kafka::Numbered>()
        .unwrap();
    let shutdown = Shutdown::new();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let (stop, s) = (shutdown.clone(), seen.clone());
    let report = kafka::within(
        &broker,
        plain.run(shutdown, move |r: Record<kafka::Numbered>| {
            let mut s = s.lock().unwrap();
            s.push(r.value().seq);
            if s.len() == 2 {
                stop.trigger();
            }
            async { Ok::<_, kafka_codec::BoxError>(()) }
        }),
    )
    .await
    .into_result()
    .unwrap();
    assert_eq!(*seen.lock().unwrap(), [1, 2]);
    let counts = report.partitions[&kafka_codec::kafka::TopicPartition::new(&topic, 0)];
    assert_eq!((counts.handled, counts.skipped), (2, 1), "{report:?}");
    drop(plain);
    let committed = kafka::committed_offsets(&broker.servers, &group, &topic);
    assert!(
        committed.get(&0).is_some_and(|&next| next > deleted.offset),
        "committed past the tombstone: {committed:?}"
    );

    // Batches count it too.
    let batches = kafka::consumer(&broker, &kafka::fresh("g"))
        .topics(&[&topic])
        .build::<kafka::Numbered>()
        .unwrap();
    let shutdown = Shutdown::new();
    let stop = shutdown.clone();
    let report = kafka::within(
        &broker,
        batches.run_batches(
            shutdown,
            10,
            Duration::from_millis(200),
            move |batch: kafka_codec::kafka::Batch<kafka::Numbered>| {
                if batch.iter().any(|r| r.value().seq == 2) {
                    stop.trigger();
                }
                std::future::ready(Ok::<_, kafka_codec::BoxError>(()))
            },
        ),
    )
    .await
    .into_result()
    .unwrap();
    let totals = report.totals();
    assert_eq!((totals.handled, totals.skipped), (2, 1), "{report:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn per_send_options_and_typed_keys_round_trip() {
    let broker = kafka::broker();
    let topic = kafka::fresh("options");
    kafka::create_topic(&broker, &topic, 2).await;
    let producer = Producer::builder(&broker.servers).build().unwrap();
    let at = 1_700_000_000_123;
    let options = kafka_codec::kafka::SendOptions::new()
        .header("tenant", "acme")
        .key(&uuid::Uuid::from_u128(42))
        .partition(1)
        .timestamp(at);
    let delivery = producer
        .send_opts(&topic, &numbered(7), &options)
        .await
        .unwrap();
    assert_eq!(delivery.partition, 1);
    if broker.embedded.is_some() {
        // librdkafka's mock cluster answers every produce with a log-append
        // time of its own (1234), which librdkafka reports in its place.
        assert!(delivery.timestamp.is_some(), "{delivery:?}");
    } else {
        assert_eq!(
            delivery.timestamp,
            Some(at),
            "the delivery report carries the timestamp"
        );
    }
    let consumer: kafka_codec::kafka::Consumer<kafka::Numbered> =
        kafka::consumer(&broker, &kafka::fresh("g"))
            .topics(&[&topic])
            .build()
            .unwrap();
    let record = kafka::within(&broker, consumer.next()).await.unwrap();
    assert_eq!(record.value(), &numbered(7));
    assert_eq!(record.partition(), 1);
    assert_eq!(record.timestamp(), Some(at));
    assert_eq!(record.header("tenant"), Some(&b"acme"[..]));
    assert_eq!(
        record.header(headers::TYPE),
        Some(&b"Numbered"[..]),
        "the producer's own headers stay"
    );
    assert_eq!(
        record.key_as::<uuid::Uuid>().unwrap(),
        Some(uuid::Uuid::from_u128(42)),
        "the key set for this send, in place of the type's"
    );
    let err = record.key_as::<u64>().unwrap_err();
    assert_eq!(
        err.record().map(|m| m.offset),
        Some(record.offset()),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn untyped_consumers_read_any_record() {
    let broker = kafka::broker();
    let topic = kafka::fresh("untyped");
    kafka::create_topic(&broker, &topic, 1).await;
    let producer = Producer::builder(&broker.servers).build().unwrap();
    producer.send_to(&topic, &numbered(3)).await.unwrap();
    let json: kafka_codec::kafka::Consumer<serde_json::Value> =
        kafka::consumer(&broker, &kafka::fresh("g"))
            .topics(&[&topic])
            .build()
            .unwrap();
    let record = kafka::within(&broker, json.next()).await.unwrap();
    assert_eq!(record.value()["seq"], 3);
    assert_eq!(record.value()["body"], "record 3");
    let bytes: kafka_codec::kafka::Consumer<Vec<u8>> = kafka::consumer(&broker, &kafka::fresh("g"))
        .topics(&[&topic])
        .build()
        .unwrap();
    let record = kafka::within(&broker, bytes.next()).await.unwrap();
    assert_eq!(
        record.value(),
        &numbered(3).to_bytes().unwrap(),
        "a JSON record, read as bytes"
    );
}

/// Dispatch by type, unit-tested with hand-made records (no broker): a
/// concrete route, a base route (`isinstance`), the fallback, and an
/// unrouted type's error naming it.
#[tokio::test(flavor = "current_thread")]
async fn dispatch_routes_by_concrete_type_then_base_then_fallback() {
    use kafka_codec::kafka::Dispatch;
    let mut rng = rng(11);
    let took: Arc<Mutex<Vec<String>>> = Arc::default();
    let (a, b, c) = (took.clone(), took.clone(), took.clone());
    let dispatch = Dispatch::<dyn Entity>::new()
        .on(move |_meta, e: Employee| {
            a.lock()
                .unwrap()
                .push(format!("employee {}", e.employee_no));
            async { Ok(()) }
        })
        .on_base(move |meta, p: Person| {
            b.lock()
                .unwrap()
                .push(format!("person {} at {}", p.name, meta.offset));
            async { Ok(()) }
        })
        .fallback(move |_meta, other| {
            c.lock()
                .unwrap()
                .push(format!("other {}", other.type_name()));
            async { Ok(()) }
        });
    let record = |value: Box<dyn Entity>, offset| Record::builder(value).offset(offset).build();
    let employee = employee(&mut rng);
    let customer = customer(&mut rng);
    dispatch
        .handle(record(Box::new(employee.clone()), 1))
        .await
        .unwrap();
    dispatch
        .handle(record(Box::new(customer.clone()), 2))
        .await
        .unwrap();
    dispatch
        .handle(record(Box::new(order(&mut rng)), 3))
        .await
        .unwrap();
    assert_eq!(
        *took.lock().unwrap(),
        [
            format!("employee {}", employee.employee_no),
            format!("person {} at 2", customer.person.name),
            "other Order".to_owned(),
        ],
        "an Employee takes its own route, a Customer its base's (Person), an Order the fallback"
    );
    let unrouted = Record::builder(Box::new(order(&mut rng)) as Box<dyn Entity>)
        .header(headers::TYPE, "Order")
        .build();
    let error = Dispatch::<dyn Entity>::new()
        .handle(unrouted)
        .await
        .unwrap_err();
    assert!(
        error.to_string().contains("no handler for Order"),
        "{error}"
    );
}

/// A group's health handle: the whole assignment, live while waiting for
/// records, and no lag once every record was handled.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_groups_health_shows_its_assignment_liveness_and_lag() {
    const N: u32 = 40;
    let broker = kafka::broker();
    let topic = kafka::fresh("health");
    kafka::create_topic(&broker, &topic, 4).await;
    kafka::produce_numbered(&broker.servers, &topic, N).await;
    let health = kafka_codec::kafka::Health::new();
    assert!(
        !health.is_live(Duration::from_secs(60)),
        "nothing polled yet"
    );
    let builder = kafka::consumer(&broker, &kafka::fresh("g"))
        .topics(&[&topic])
        .health(&health);
    let shutdown = Shutdown::new();
    // At least once: a rebalance as the second member joins may hand a
    // partition's records to it again; each is seen at least once.
    let seen: Arc<Mutex<HashSet<u32>>> = Arc::default();
    let counter = seen.clone();
    let run = Group::new(builder, 2).run(shutdown.clone(), move |r: Record<kafka::Numbered>| {
        counter.lock().unwrap().insert(r.value().seq);
        async { Ok::<_, kafka_codec::BoxError>(()) }
    });
    let check = async {
        while seen.lock().unwrap().len() < N as usize {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        // Commits and positions settle as the members go back to waiting.
        tokio::time::sleep(Duration::from_millis(500)).await;
        let assigned = health.assigned();
        let live = health.is_live(Duration::from_secs(10));
        let lag = health.lag().await;
        shutdown.trigger();
        (assigned, live, lag)
    };
    let (report, (assigned, live, lag)) =
        kafka::within(&broker, futures::future::join(run, check)).await;
    let handled = report.into_result().unwrap().handled();
    assert!(handled >= u64::from(N), "{handled} handled");
    let partitions: Vec<i32> = assigned.iter().map(|tp| tp.partition).collect();
    assert_eq!(
        partitions,
        [0, 1, 2, 3],
        "the two members hold the four partitions"
    );
    assert!(live);
    let lag = lag.unwrap();
    assert_eq!(lag.len(), 4, "{lag:?}");
    assert_eq!(lag.values().sum::<i64>(), 0, "every record read: {lag:?}");
}

/// A user's client context, counting what librdkafka calls it for.
#[derive(Clone, Default)]
struct Counting {
    tokens: Arc<std::sync::atomic::AtomicUsize>,
    errors: Arc<Mutex<Vec<String>>>,
}

impl rdkafka::ClientContext for Counting {
    const ENABLE_REFRESH_OAUTH_TOKEN: bool = true;

    fn error(&self, error: rdkafka::error::KafkaError, reason: &str) {
        self.errors
            .lock()
            .unwrap()
            .push(format!("{error}: {reason}"));
    }

    fn generate_oauth_token(
        &self,
        _config: Option<&str>,
    ) -> Result<rdkafka::client::OAuthToken, Box<dyn std::error::Error>> {
        self.tokens
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        // A refusal: librdkafka reports it as an authentication error.
        Err("the identity provider is down".into())
    }
}

/// The context a user brings hears librdkafka's errors: a producer and a
/// consumer (which hears them as it polls) with no broker to reach.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_context_hears_the_clients_errors() {
    let context = Counting::default();
    let producer = Producer::builder("127.0.0.1:1")
        .context(context.clone())
        .build()
        .unwrap();
    let heard = |context: &Counting| !context.errors.lock().unwrap().is_empty();
    let waited = tokio::time::timeout(Duration::from_secs(20), async {
        while !heard(&context) {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
    assert!(waited.is_ok(), "producer: no error reached the context");
    drop(producer);

    let context = Counting::default();
    let consumer = kafka_codec::kafka::ConsumerBuilder::new("127.0.0.1:1", "unreachable")
        .context(context.clone())
        .topics(&["nowhere"])
        .build::<serde_json::Value>()
        .unwrap();
    let _ = tokio::time::timeout(Duration::from_secs(20), async {
        while !heard(&context) {
            let _ = tokio::time::timeout(Duration::from_millis(200), consumer.next()).await;
        }
    })
    .await;
    assert!(heard(&context), "consumer: no error reached the context");
}

/// The context a user brings reaches librdkafka's OAUTHBEARER token refresh
/// (which needs librdkafka built with TLS: feature `ssl`), for the producer
/// and for the consumer; its refusal is reported back through the error
/// callback. No broker: the refresh runs as the client starts.
#[cfg(feature = "ssl")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_context_refreshes_oauthbearer_tokens() {
    let sasl = |b: kafka_codec::kafka::ProducerBuilder| {
        b.set("security.protocol", "SASL_PLAINTEXT")
            .set("sasl.mechanism", "OAUTHBEARER")
    };
    let context = Counting::default();
    let producer = sasl(Producer::builder("127.0.0.1:1"))
        .context(context.clone())
        .build()
        .unwrap();
    let waited = tokio::time::timeout(Duration::from_secs(20), async {
        while context.tokens.load(std::sync::atomic::Ordering::SeqCst) == 0
            || context.errors.lock().unwrap().is_empty()
        {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
    assert!(
        waited.is_ok(),
        "producer: no token request or no error reached the context"
    );
    assert!(
        context
            .errors
            .lock()
            .unwrap()
            .iter()
            .any(|e| e.contains("identity provider is down")),
        "the refusal is reported back: {:?}",
        context.errors.lock().unwrap()
    );
    drop(producer);

    let context = Counting::default();
    let consumer = kafka_codec::kafka::ConsumerBuilder::new("127.0.0.1:1", "oauth")
        .set("security.protocol", "SASL_PLAINTEXT")
        .set("sasl.mechanism", "OAUTHBEARER")
        .context(context.clone())
        .topics(&["oauth"])
        .build::<serde_json::Value>()
        .unwrap();
    // The consumer's callbacks run as it polls.
    let _ = tokio::time::timeout(Duration::from_secs(20), async {
        while context.tokens.load(std::sync::atomic::Ordering::SeqCst) == 0 {
            let _ = tokio::time::timeout(Duration::from_millis(200), consumer.next()).await;
        }
    })
    .await;
    assert!(
        context.tokens.load(std::sync::atomic::Ordering::SeqCst) > 0,
        "consumer: no token request"
    );
}
