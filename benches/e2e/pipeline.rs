//! The pipeline side: an `ExactlyOnce` pipeline against an at-least-once
//! `run_batches` one, reading the same input and writing one record per
//! input.

use std::time::{Duration, Instant};

use kafka_codec::kafka::{ConsumerBuilder, Producer};

use crate::clock::rate;
use crate::kafka;
use crate::report::{log_run, Row};
use crate::setup::{bounded, consumer_config, producer_config, AnyEntity, Settings};

/// Reads `topic` (N + 1 records) and writes one record per input to a
/// fresh topic, `transactional` (an [`ExactlyOnce`] pipeline: each batch's
/// outputs and offsets in one transaction) or not (`run_batches` in manual
/// commit mode, the batch's outputs sent concurrently before it is acked:
/// at least once). Same batch size (500 records or 100 ms) both ways. Timed
/// from the first record handled to the end of the run (the last batch
/// committed).
async fn pipe(servers: &str, input: &str, total: usize, transactional: bool) -> Duration {
    use kafka_codec::kafka::{CommitMode, Outbox, TransactionalProducer};
    use std::sync::atomic::{AtomicUsize, Ordering};
    let output = kafka::fresh("e2e-pipe-out");
    let (seen, stop) = (AtomicUsize::new(0), kafka_codec::kafka::Shutdown::new());
    let started = std::sync::OnceLock::new();
    let tick = |n: usize| {
        started.get_or_init(Instant::now);
        if seen.fetch_add(n, Ordering::Relaxed) + n >= total {
            stop.trigger();
        }
    };
    let consumer = ConsumerBuilder::from_config(consumer_config(servers)).topics(&[input]);
    let batch = (500, Duration::from_millis(100));
    if transactional {
        let producer = TransactionalProducer::builder(servers, &kafka::fresh("e2e-eos"))
            .build()
            .await
            .expect("transactional producer");
        let mut pipeline = consumer
            .build_exactly_once::<AnyEntity>(producer)
            .expect("pipeline")
            .batch(batch.0, batch.1);
        let output = output.as_str();
        bounded(
            "exactly-once pipeline",
            pipeline.run(stop.clone(), |record| {
                tick(1);
                async move {
                    let mut out = Outbox::new();
                    out.send_to(output, record.value())?;
                    Ok(out)
                }
            }),
        )
        .await
        .into_result()
        .expect("exactly-once run");
    } else {
        let producer = Producer::new(&producer_config(servers)).expect("producer");
        let consumer = consumer
            .commit_mode(CommitMode::AtLeastOnce)
            .build::<AnyEntity>()
            .expect("consumer");
        let (producer, output) = (&producer, output.as_str());
        bounded(
            "at-least-once pipeline",
            consumer.run_batches(stop.clone(), batch.0, batch.1, |records| {
                tick(records.len());
                async move {
                    let sends = records.iter().map(|r| producer.send_to(output, r.value()));
                    for sent in futures::future::join_all(sends).await {
                        sent.map_err(|e| kafka_codec::kafka::BatchFailure::at(0, e))?;
                    }
                    Ok::<_, kafka_codec::kafka::BatchFailure>(())
                }
            }),
        )
        .await
        .into_result()
        .expect("at-least-once run");
    }
    started.get().map_or(Duration::ZERO, Instant::elapsed)
}

/// Rounds of the exactly-once pipeline against the at-least-once one on the
/// same input, alternating which goes first.
pub(crate) async fn pipeline_side(
    name: &'static str,
    broker: &kafka::Broker,
    settings: &Settings,
    input: &str,
    total: usize,
) -> Row {
    let (mut best_eos, mut best_alo) = (0f64, 0f64);
    for round in 0..settings.rounds {
        let eos_first = round % 2 == 0;
        for eos in [eos_first, !eos_first] {
            let elapsed = pipe(&broker.servers, input, total, eos).await;
            let label = if eos {
                best_eos = best_eos.max(rate(total, elapsed));
                "exactly-once ExactlyOnce"
            } else {
                best_alo = best_alo.max(rate(total, elapsed));
                "at-least-once run_batches"
            };
            log_run(name, "pipeline", round + 1, label, total, elapsed);
            println!();
        }
    }
    Row {
        broker: name,
        side: "pipeline: exactly-once vs at-least-once",
        typed: best_eos,
        raw: best_alo,
        target: None,
    }
}
