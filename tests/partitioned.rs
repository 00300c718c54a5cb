//! Group-managed partition-parallel consumers, group members that fail,
//! and consumers riding out broker outages.
//!
//! The outage tests take the embedded mock cluster's broker down and up, so
//! they always run on it; the others run on the broker under test.

#[path = "support/groups.rs"]
mod groups;
#[path = "support/kafka.rs"]
mod kafka;

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use groups::{check_commits, distinct, drive, max_times, max_times_after, seen_by, Seen, NO_FAULT};
use kafka::{committed_offsets, Numbered};
use kafka_codec::kafka::embedded::Embedded;
use kafka_codec::kafka::Shutdown;
use kafka_codec::kafka::{CommitMode, ConsumerBuilder, Group};
use rdkafka::mocking::MockCoordinator;

/// The embedded cluster's only broker goes away for three seconds.
async fn outage(cluster: &Embedded) {
    cluster.cluster().broker_down(1).unwrap();
    tokio::time::sleep(Duration::from_secs(3)).await;
    cluster.cluster().broker_up(1).unwrap();
}

async fn within<F: Future>(f: F) -> F::Output {
    tokio::time::timeout(Duration::from_secs(150), f)
        .await
        .expect("timed out")
}

fn builder(servers: &str, group: &str, topic: &str) -> ConsumerBuilder {
    ConsumerBuilder::new(servers, group)
        .set("session.timeout.ms", "6000")
        .set("heartbeat.interval.ms", "500")
        .set("auto.commit.interval.ms", "200")
        .topics(&[topic])
        .commit_mode(CommitMode::AtLeastOnce)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partitioned_rides_out_a_broker_outage() {
    const N: u32 = 2_000;
    let cluster = Embedded::start(1).unwrap();
    let servers = cluster.bootstrap_servers().to_owned();
    let (topic, group) = (kafka::fresh("outage"), kafka::fresh("g"));
    cluster.create_topic(&topic, 4).unwrap();
    kafka::produce_numbered(&servers, &topic, N).await;
    let partitioned = builder(&servers, &group, &topic)
        .build_partitioned::<Numbered>()
        .unwrap()
        .max_in_flight(4);
    let seen = Seen::default();
    let done = Shutdown::new();
    let handler = seen_by(&seen);
    let slow = move |r| {
        let h = handler.clone();
        async move {
            tokio::time::sleep(Duration::from_millis(1)).await;
            h(r).await
        }
    };
    let (report, ()) = within(futures::future::join(
        partitioned.run(done.clone(), slow),
        drive(&seen, N as usize, Some((300, outage(&cluster))), &done),
    ))
    .await;
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    assert_eq!(distinct(&seen), N as usize, "none lost");
    drop(partitioned);
    let committed = committed_offsets(&servers, &group, &topic);
    let duplicates = check_commits(&seen, &committed, N as usize, max_times(true));
    println!("partitioned through an outage: {N} handled, {duplicates} duplicates, committed {committed:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partitioned_rides_out_coordinator_and_leader_moves() {
    const N: u32 = 2_000;
    let cluster = Embedded::start(3).unwrap();
    let servers = cluster.bootstrap_servers().to_owned();
    let (topic, group) = (kafka::fresh("moves"), kafka::fresh("g"));
    cluster.create_topic(&topic, 4).unwrap();
    kafka::produce_numbered(&servers, &topic, N).await;
    let partitioned = builder(&servers, &group, &topic)
        .build_partitioned::<Numbered>()
        .unwrap()
        .max_in_flight(4);
    let seen = Seen::default();
    let done = Shutdown::new();
    let moves = async {
        let mock = cluster.cluster();
        for broker in [2, 3] {
            mock.coordinator(MockCoordinator::Group(group.clone()), broker)
                .unwrap();
            for p in 0..4 {
                mock.partition_leader(&topic, p, Some(broker)).unwrap();
            }
            // The old coordinator is gone for a moment as well.
            let old = broker - 1;
            mock.broker_down(old).unwrap();
            tokio::time::sleep(Duration::from_secs(2)).await;
            mock.broker_up(old).unwrap();
        }
    };
    let (report, ()) = within(futures::future::join(
        partitioned.run(done.clone(), seen_by(&seen)),
        drive(&seen, N as usize, Some((300, moves)), &done),
    ))
    .await;
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    assert_eq!(distinct(&seen), N as usize, "none lost");
    drop(partitioned);
    let committed = committed_offsets(&servers, &group, &topic);
    let duplicates = check_commits(&seen, &committed, N as usize, max_times(true));
    println!("partitioned through coordinator moves: {N} handled, {duplicates} duplicates");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_rides_out_a_broker_outage() {
    const N: u32 = 2_000;
    let cluster = Embedded::start(1).unwrap();
    let servers = cluster.bootstrap_servers().to_owned();
    let (topic, group) = (kafka::fresh("outage"), kafka::fresh("g"));
    cluster.create_topic(&topic, 4).unwrap();
    kafka::produce_numbered(&servers, &topic, N).await;
    let seen = Seen::default();
    let done = Shutdown::new();
    let handler = seen_by(&seen);
    let (report, ()) = within(futures::future::join(
        Group::new(builder(&servers, &group, &topic), 2).run(done.clone(), handler),
        drive(&seen, N as usize, Some((300, outage(&cluster))), &done),
    ))
    .await;
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    assert_eq!(distinct(&seen), N as usize, "none lost");
    let committed = committed_offsets(&servers, &group, &topic);
    let duplicates = check_commits(&seen, &committed, N as usize, max_times(true));
    println!(
        "group through an outage: members handled {:?}, {duplicates} duplicates",
        report.partitions
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_partitioned_members_share_a_topic_through_a_rebalance_in_flight() {
    const N: u32 = 1_000;
    let broker = kafka::broker();
    let (topic, group) = (kafka::fresh("share"), kafka::fresh("g"));
    kafka::create_topic(&broker, &topic, 4).await;
    kafka::produce_numbered(&broker.servers, &topic, N).await;
    let seen = Seen::default();
    let done = Shutdown::new();
    let slow = |seen: &Seen| {
        let handler = seen_by(seen);
        move |r| {
            let h = handler.clone();
            async move {
                tokio::time::sleep(Duration::from_millis(3)).await;
                h(r).await
            }
        }
    };
    let first = builder(&broker.servers, &group, &topic)
        .build_partitioned::<Numbered>()
        .unwrap()
        .max_in_flight(4);
    // The second member joins (subscribes) while the first is handling
    // records, so the group rebalances with records in flight.
    let join_later = async {
        while distinct(&seen) < 150 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        println!("second member joins after {} records", distinct(&seen));
        let second = builder(&broker.servers, &group, &topic)
            .build_partitioned::<Numbered>()
            .unwrap()
            .max_in_flight(4);
        let report = second.run(done.clone(), slow(&seen)).await;
        (report, second.partitions(), second)
    };
    let (a, (b, pb, second), ()) = within(futures::future::join3(
        first.run(done.clone(), slow(&seen)),
        join_later,
        drive(&seen, N as usize, NO_FAULT, &done),
    ))
    .await;
    assert!(a.errors.is_empty() && b.errors.is_empty(), "{a:?} {b:?}");
    assert_eq!(distinct(&seen), N as usize, "none lost");
    assert!(
        a.handled() > 0 && b.handled() > 0,
        "both members handled records: {a:?} {b:?}"
    );
    let pa = first.partitions();
    assert!(
        !pa.is_empty() && !pb.is_empty(),
        "both members hold partitions: {pa:?} {pb:?}"
    );
    let revocations = first.consumer().revocations() + second.consumer().revocations();
    assert!(
        revocations >= 1,
        "the join took partitions from the first member"
    );
    drop((first, second));
    let committed = committed_offsets(&broker.servers, &group, &topic);
    let duplicates = check_commits(&seen, &committed, N as usize, max_times_after(revocations));
    println!(
        "{}: first {:?} second {:?}, {revocations} revocations, {duplicates} duplicates",
        broker.kind(),
        a.partitions,
        b.partitions
    );
    // Drained and committed on revoke, so a real broker repeats at most the
    // records in hand; the mock cluster refuses commits while the group
    // rebalances (one join can take it through several), so what was handled
    // since the last accepted commit repeats there, once per revocation
    // (`max_times_after`).
    if broker.embedded.is_none() {
        assert!(duplicates <= 8, "{duplicates} duplicates on a real broker");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_group_member_leaves_at_once_and_reports_what_it_handled() {
    const N: u32 = 400;
    const FAILS: u32 = 57;
    let broker = kafka::broker();
    let (topic, group) = (kafka::fresh("leave"), kafka::fresh("g"));
    kafka::create_topic(&broker, &topic, 4).await;
    kafka::produce_numbered(&broker.servers, &topic, N).await;
    let seen = Seen::default();
    let done = Shutdown::new();
    // Record FAILS fails the first time, on whichever member gets it: that
    // member stops and leaves; the other takes its partitions, the record
    // included (it was not committed), and handles it.
    let failed_once = Arc::new(Mutex::new(None::<usize>));
    let (record, failed) = (seen_by(&seen), failed_once.clone());
    let (report, ()) = within(futures::future::join(
        Group::new(builder(&broker.servers, &group, &topic), 2).run(
            done.clone(),
            move |r: kafka_codec::kafka::Record<Numbered>| {
                let outcome: Result<(), kafka_codec::BoxError> = {
                    let mut failed = failed.lock().unwrap();
                    if r.value().seq == FAILS && failed.is_none() {
                        *failed = Group::member();
                        Err(format!("a member fails at record {FAILS}").into())
                    } else {
                        Ok(())
                    }
                };
                let record = record.clone();
                async move {
                    outcome?;
                    record(r).await
                }
            },
        ),
        drive(&seen, N as usize, NO_FAULT, &done),
    ))
    .await;
    assert_eq!(report.errors.len(), 1, "{:?}", report.errors);
    let error = &report.errors[0];
    assert!(error.to_string().contains("a member fails"), "{error}");
    assert_eq!(
        error.record().map(|m| &*m.topic),
        Some(topic.as_str()),
        "the error names its record"
    );
    let member = failed_once
        .lock()
        .unwrap()
        .expect("Group::member() inside a member");
    assert!(member < 2, "{member}");
    assert_eq!(
        distinct(&seen),
        N as usize,
        "the other member took over: none lost"
    );
    assert!(
        seen.lock().unwrap().iter().any(|&(_, _, seq)| seq == FAILS),
        "the failed record was handled by the other member"
    );
    let committed = committed_offsets(&broker.servers, &group, &topic);
    let duplicates = check_commits(
        &seen,
        &committed,
        N as usize,
        max_times(broker.embedded.is_some()),
    );
    println!(
        "{}: member {member} failed; per partition {:?}, {duplicates} duplicates",
        broker.kind(),
        report.partitions
    );
}

/// The consumer shapes the outage matrix runs.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Shape {
    Run,
    Group,
    Partitioned,
    Batches,
}

/// When the broker goes away.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Moment {
    /// As the consumer joins its group.
    Joining,
    /// A third of the way through the records.
    Flowing,
    /// As a second member joins and the group rebalances.
    Rebalance,
    /// Once every record was handled, as the run stops and commits.
    FinalCommit,
}

/// Runs `shape` with its defaults (at least once) on the embedded cluster
/// through an outage at `moment`: every record handled, nothing committed
/// that was not handled, and after a final commit that waited the outage
/// out, every record committed.
async fn ride_out(shape: Shape, moment: Moment) {
    const N: u32 = 600;
    let cluster = Embedded::start(1).unwrap();
    let servers = cluster.bootstrap_servers().to_owned();
    let (topic, group) = (kafka::fresh("moment"), kafka::fresh("g"));
    cluster.create_topic(&topic, 4).unwrap();
    kafka::produce_numbered(&servers, &topic, N).await;
    let seen = Seen::default();
    let done = Shutdown::new();
    let handler = seen_by(&seen);
    let consumers = ConsumerBuilder::new(&servers, &group)
        .set("session.timeout.ms", "6000")
        .set("heartbeat.interval.ms", "500")
        .set("auto.commit.interval.ms", "200")
        .topics(&[&topic]);
    let second = consumers.clone();
    let run = {
        let (consumers, handler, done) = (consumers, handler.clone(), done.clone());
        async move {
            match shape {
                Shape::Run => {
                    let consumer = consumers.build::<Numbered>().unwrap();
                    consumer.run(done, handler).await
                }
                Shape::Group => Group::new(consumers, 2).run(done, handler).await,
                Shape::Partitioned => {
                    let partitioned = consumers.build_partitioned::<Numbered>().unwrap();
                    partitioned.run(done, handler).await
                }
                Shape::Batches => {
                    let consumer = consumers.build::<Numbered>().unwrap();
                    let batch = move |batch: kafka_codec::kafka::Batch<Numbered>| {
                        for record in batch.iter() {
                            drop(handler(record.clone()));
                        }
                        std::future::ready(Ok::<_, kafka_codec::BoxError>(()))
                    };
                    consumer
                        .run_batches(done, 50, Duration::from_millis(100), batch)
                        .await
                }
            }
        }
    };
    let all_handled = || async {
        while distinct(&seen) < N as usize {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    let a_third = || async {
        while distinct(&seen) < N as usize / 3 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    };
    let fault = async {
        let mut joined = None;
        match moment {
            Moment::Joining => outage(&cluster).await,
            Moment::Flowing => {
                a_third().await;
                outage(&cluster).await;
            }
            Moment::Rebalance => {
                a_third().await;
                // A second member subscribes: the group rebalances, and the
                // broker goes away meanwhile.
                let member = second.build::<Numbered>().unwrap();
                let (stop, h) = (done.clone(), handler.clone());
                joined = Some(tokio::spawn(async move { member.run(stop, h).await }));
                outage(&cluster).await;
            }
            Moment::FinalCommit => {}
        }
        all_handled().await;
        if moment == Moment::FinalCommit {
            cluster.cluster().broker_down(1).unwrap();
            done.trigger();
            tokio::time::sleep(Duration::from_secs(3)).await;
            cluster.cluster().broker_up(1).unwrap();
        } else {
            done.trigger();
        }
        match joined {
            Some(member) => Some(member.await.unwrap()),
            None => None,
        }
    };
    let (report, second_report) = within(futures::future::join(run, fault)).await;
    assert!(
        report.errors.is_empty(),
        "{shape:?} at {moment:?}: {:?}",
        report.errors
    );
    if let Some(second) = second_report {
        assert!(
            second.errors.is_empty(),
            "{shape:?} at {moment:?}, second member: {:?}",
            second.errors
        );
    }
    assert_eq!(
        distinct(&seen),
        N as usize,
        "{shape:?} at {moment:?}: none lost"
    );
    let committed = committed_offsets(&servers, &group, &topic);
    let duplicates = check_commits(&seen, &committed, N as usize, max_times(true) + 1);
    // What the group did not commit (a final commit the mock cluster
    // refused, its member gone after the outage) goes to its next member:
    // read it again, every record of it, so nothing was lost.
    let uncommitted = i64::from(N) - committed.values().sum::<i64>();
    if uncommitted > 0 {
        let next = ConsumerBuilder::new(&servers, &group)
            .set("session.timeout.ms", "6000")
            .topics(&[&topic])
            .commit_mode(CommitMode::AtMostOnce)
            .build::<Numbered>()
            .unwrap();
        let mut again = std::collections::HashSet::new();
        while again.len() < usize::try_from(uncommitted).unwrap() {
            let r = within(next.next()).await.unwrap();
            let from = committed.get(&r.partition()).copied().unwrap_or(0);
            assert!(
                r.offset() >= from,
                "{shape:?} at {moment:?}: {}@{} was committed",
                r.partition(),
                r.offset()
            );
            again.insert((r.partition(), r.offset()));
        }
    }
    println!("{shape:?} through an outage at {moment:?}: {N} handled, {duplicates} duplicates, committed {committed:?}, {uncommitted} delivered again to the next member");
}

macro_rules! outage_matrix {
    ($($name:ident: $shape:ident at $moment:ident;)*) => {$(
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $name() {
            ride_out(Shape::$shape, Moment::$moment).await;
        }
    )*};
}

outage_matrix! {
    run_rides_out_an_outage_while_joining: Run at Joining;
    run_rides_out_an_outage_while_records_flow: Run at Flowing;
    run_rides_out_an_outage_during_a_rebalance: Run at Rebalance;
    run_rides_out_an_outage_during_the_final_commit: Run at FinalCommit;
    group_rides_out_an_outage_while_joining: Group at Joining;
    group_rides_out_an_outage_while_records_flow: Group at Flowing;
    group_rides_out_an_outage_during_a_rebalance: Group at Rebalance;
    group_rides_out_an_outage_during_the_final_commit: Group at FinalCommit;
    partitioned_rides_out_an_outage_while_joining: Partitioned at Joining;
    partitioned_rides_out_an_outage_while_records_flow: Partitioned at Flowing;
    partitioned_rides_out_an_outage_during_a_rebalance: Partitioned at Rebalance;
    partitioned_rides_out_an_outage_during_the_final_commit: Partitioned at FinalCommit;
    batches_ride_out_an_outage_while_joining: Batches at Joining;
    batches_ride_out_an_outage_while_records_flow: Batches at Flowing;
    batches_ride_out_an_outage_during_a_rebalance: Batches at Rebalance;
    batches_ride_out_an_outage_during_the_final_commit: Batches at FinalCommit;
}
