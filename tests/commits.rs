//! Tracked commits, backpressure, seek and replay, on the broker under test.

#[path = "support/kafka.rs"]
mod kafka;

use std::time::Duration;

use kafka::{committed_offsets, Numbered};
use kafka_codec::kafka::{CommitMode, Consumer, ConsumerBuilder};

/// A manual-commit consumer of a fresh one-partition topic holding `n`
/// records, and its group.
async fn setup(
    broker: &kafka::Broker,
    n: u32,
    tweak: impl FnOnce(ConsumerBuilder) -> ConsumerBuilder,
) -> (Consumer<Numbered>, String, String) {
    let (topic, group) = (kafka::fresh("commits"), kafka::fresh("g"));
    kafka::create_topic(broker, &topic, 1).await;
    kafka::produce_numbered(&broker.servers, &topic, n).await;
    let builder = kafka::consumer(broker, &group)
        .topics(&[&topic])
        .commit_mode(CommitMode::AtLeastOnce);
    (tweak(builder).build().unwrap(), topic, group)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acks_in_any_order_commit_only_below_the_lowest_unacked_record() {
    let broker = kafka::broker();
    let (consumer, topic, group) = setup(&broker, 20, |b| b).await;
    let mut records = Vec::new();
    for _ in 0..10 {
        records.push(kafka::within(&broker, consumer.next()).await.unwrap());
    }
    let offsets: Vec<i64> = records
        .iter()
        .map(kafka_codec::kafka::Record::offset)
        .collect();
    assert_eq!(offsets, (0..10).collect::<Vec<_>>());
    for i in [7, 0, 2, 1, 5, 6] {
        consumer.ack(&records[i]).unwrap();
    }
    consumer.commit().unwrap();
    assert_eq!(
        committed_offsets(&broker.servers, &group, &topic)[&0],
        3,
        "3 and 4 are not acked: nothing past them is committed"
    );
    assert_eq!(consumer.unsettled(), 4);
    consumer.ack(&records[4]).unwrap();
    consumer.ack(&records[3]).unwrap();
    consumer.commit().unwrap();
    assert_eq!(committed_offsets(&broker.servers, &group, &topic)[&0], 8);
    assert_eq!(consumer.unsettled(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partition_with_too_many_unacked_records_pauses_until_they_are_acked() {
    let broker = kafka::broker();
    let (consumer, _, _) = setup(&broker, 50, |b| b.max_unsettled_per_partition(10)).await;
    let mut records = Vec::new();
    for _ in 0..10 {
        records.push(kafka::within(&broker, consumer.next()).await.unwrap());
    }
    let waited = tokio::time::timeout(Duration::from_secs(3), consumer.next()).await;
    assert!(
        waited.is_err(),
        "paused at 10 unacked records, got {:?}",
        waited.map(|r| r.map(|r| r.offset()))
    );
    for r in &records[..5] {
        consumer.ack(r).unwrap();
    }
    let next = kafka::within(&broker, consumer.next()).await.unwrap();
    assert_eq!(
        next.offset(),
        10,
        "resumed where it paused, nothing skipped"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a real broker (KAFKA_BROKERS): the mock cluster accepts a seek but never fetches the partition again"]
async fn seek_replays_from_an_offset_and_from_a_point_in_time() {
    let broker = kafka::real_broker();
    let (consumer, topic, _) = setup(&broker, 10, |b| b).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis();
    tokio::time::sleep(Duration::from_millis(100)).await;
    kafka::produce_numbered(&broker.servers, &topic, 10).await;
    for expected in 0..20 {
        let r = kafka::within(&broker, consumer.next()).await.unwrap();
        assert_eq!(r.offset(), expected);
        consumer.ack(&r).unwrap();
    }
    consumer.seek(&topic, 0, 4).await.unwrap();
    let r = kafka::within(&broker, consumer.next()).await.unwrap();
    assert_eq!(r.offset(), 4, "replayed from offset 4");
    consumer
        .seek_to_time(i64::try_from(since).unwrap())
        .await
        .unwrap();
    let r = kafka::within(&broker, consumer.next()).await.unwrap();
    assert_eq!(
        r.offset(),
        10,
        "replayed from the first record after `since`"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_poison_pill_returned_as_an_error_can_be_acked_past() {
    let broker = kafka::broker();
    let (topic, group) = (kafka::fresh("commits"), kafka::fresh("g"));
    kafka::create_topic(&broker, &topic, 1).await;
    let producer = kafka_codec::kafka::Producer::builder(&broker.servers)
        .build()
        .unwrap();
    for seq in 0..5 {
        if seq == 2 {
            let headers = rdkafka::message::OwnedHeaders::new();
            producer
                .send_raw(&topic, None, Some(b"{not json"), headers)
                .await
                .unwrap();
        } else {
            let body = String::new();
            producer
                .send_to(&topic, &Numbered { seq, body })
                .await
                .unwrap();
        }
    }
    let consumer = kafka::consumer(&broker, &group)
        .topics(&[&topic])
        .commit_mode(CommitMode::AtLeastOnce)
        .build::<Numbered>()
        .unwrap();
    for offset in 0..5 {
        match kafka::within(&broker, consumer.next()).await {
            Ok(r) => consumer.ack(&r).unwrap(),
            Err(e) => {
                assert_eq!(offset, 2, "{e}");
                assert_eq!(e.record().map(|r| r.offset), Some(2));
                consumer.ack_error(&e).unwrap();
            }
        }
    }
    consumer.commit().unwrap();
    assert_eq!(committed_offsets(&broker.servers, &group, &topic)[&0], 5);
    assert_eq!(consumer.unsettled(), 0);
}
