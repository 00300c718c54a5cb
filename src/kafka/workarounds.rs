//! Every workaround for a broker's or a client library's behaviour, each
//! with what it answers, the upstream report it follows where there is
//! one, and the test that fails without it. Nothing else in the crate
//! works around anything.

use std::time::Duration;

use rdkafka::consumer::{BaseConsumer, Consumer as _, ConsumerContext, Rebalance};
use rdkafka::error::KafkaError;
use rdkafka::types::RDKafkaErrorCode as C;

/// **The rebalance protocol, known from the configuration.** rdkafka's
/// default `ConsumerContext::rebalance` asks librdkafka for the protocol
/// (`rd_kafka_rebalance_protocol`), a request to the group's thread with no
/// timeout, which never returns when the revoke comes from a consumer being
/// closed as its group shuts down: the consumer's drop then hangs forever
/// (seen on Tansu; rust-rdkafka's issues #453, #509 and #611 describe such
/// close hangs). This is rdkafka's own callback with the protocol taken
/// from `partition.assignment.strategy` instead (`cooperative`). Tested by
/// every group test that shuts a group down on Tansu (`tests/kafka.rs`,
/// `tests/partitioned.rs`), which hang without it.
pub(crate) fn rebalance<Ctx: ConsumerContext>(
    context: &Ctx,
    consumer: &BaseConsumer<Ctx>,
    err: rdkafka::types::RDKafkaRespErr,
    tpl: &mut rdkafka::TopicPartitionList,
    cooperative: bool,
) {
    use rdkafka::types::RDKafkaRespErr as E;
    let rebalance = match err {
        E::RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS => Rebalance::Assign(tpl),
        E::RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS => Rebalance::Revoke(tpl),
        _ => Rebalance::Error(KafkaError::Rebalance(err.into())),
    };
    context.pre_rebalance(consumer, &rebalance);
    let done = match (err, cooperative) {
        (E::RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS, false) => consumer.assign(tpl),
        (E::RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS, true) => consumer.incremental_assign(tpl),
        (E::RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS, true) => consumer.incremental_unassign(tpl),
        _ => consumer.unassign(),
    };
    if let Err(e) = done {
        tracing::warn!(error = %e, "applying a rebalance failed");
    }
}

/// **Tansu 0.6 forgets idempotent producers and says "unknown error".**
/// Restarted, Tansu 0.6 no longer knows the producer ids it gave out, and
/// answers their next records with `UNKNOWN_SERVER_ERROR` where Kafka
/// answers `UNKNOWN_PRODUCER_ID` (no upstream report found; seen in
/// `tests/broker_restart.rs`, which fails with thousands of refused sends
/// without this). Taken as lost idempotence state only when the producer
/// opted in ([`ProducerBuilder::unknown_error_is_lost_state`](super::ProducerBuilder::unknown_error_is_lost_state)):
/// elsewhere an unknown error is a broker failing, and sending again on a
/// new producer id could write a record twice.
pub(crate) fn unknown_error_is_lost_state(code: C, opted_in: bool) -> bool {
    opted_in && code == C::Unknown
}

/// **Closing a consumer off the runtime.** A consumer's close blocks its
/// thread: librdkafka leaves the group, and the revoke's callback must
/// unassign, a request to librdkafka's group thread with no timeout. On
/// Tansu such a request was seen never to be answered as a group shut down;
/// closed on a runtime's worker, that close stopped the worker and, with
/// it, the runtime's timers. rust-rdkafka's issues #453, #509 and #611
/// describe the same close hangs. So each member is dropped on a thread of
/// its own, all at once, and waited for up to `wait`: a close that hangs
/// costs a thread and a warning, and the run returns. Tested below: a close
/// that never returns does not hold the runtime.
pub(crate) async fn leave_within<M: Send + 'static>(members: Vec<M>, wait: Duration) {
    let count = members.len();
    let mut left = Vec::with_capacity(count);
    for member in members {
        let (done, gone) = tokio::sync::oneshot::channel::<()>();
        let closing = std::thread::Builder::new()
            .name("kafka-codec-leave".into())
            .spawn(move || {
                drop(member);
                let _ = done.send(());
            });
        match closing {
            Ok(_) => left.push(gone),
            // The member was dropped with the closure: closed here.
            Err(e) => tracing::warn!(
                target: "kafka_codec",
                error = %e,
                "no thread to close a group member on; it was closed on the runtime's"
            ),
        }
    }
    let waited = tokio::time::timeout(wait, futures::future::join_all(left)).await;
    if waited.is_err() {
        tracing::warn!(
            target: "kafka_codec",
            members = count,
            "a group member did not leave within {wait:?}; its close goes on on its own thread"
        );
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{mpsc, Arc};
    use std::time::{Duration, Instant};

    use super::leave_within;

    /// A member whose close (drop) takes `takes`, then counts itself closed.
    struct Slow {
        takes: Duration,
        closed: Arc<AtomicUsize>,
    }

    impl Drop for Slow {
        fn drop(&mut self) {
            std::thread::sleep(self.takes);
            self.closed.fetch_add(1, Ordering::SeqCst);
        }
    }

    /// A member whose close blocks until released.
    struct Stuck(mpsc::Receiver<()>);

    impl Drop for Stuck {
        fn drop(&mut self) {
            let _ = self.0.recv();
        }
    }

    #[tokio::test(flavor = "current_thread")]
    async fn members_leave_together_and_are_waited_for() {
        let closed = Arc::new(AtomicUsize::new(0));
        let members: Vec<Slow> = (0..3)
            .map(|_| Slow {
                takes: Duration::from_millis(300),
                closed: closed.clone(),
            })
            .collect();
        let started = Instant::now();
        leave_within(members, Duration::from_secs(10)).await;
        assert_eq!(closed.load(Ordering::SeqCst), 3, "every close awaited");
        // Together, not one after the other (3 × 300 ms).
        assert!(
            started.elapsed() < Duration::from_millis(850),
            "{:?}",
            started.elapsed()
        );
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_close_that_hangs_does_not_hold_the_runtime() {
        let (release, stuck) = mpsc::channel::<()>();
        // Released after 5 s, so that a close run in place fails the test
        // instead of hanging it.
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_secs(5));
            drop(release);
        });
        let started = Instant::now();
        leave_within(vec![Stuck(stuck)], Duration::from_millis(200)).await;
        let waited = started.elapsed();
        // The runtime's timers still run.
        tokio::time::sleep(Duration::from_millis(10)).await;
        assert!(
            waited >= Duration::from_millis(200) && waited < Duration::from_secs(2),
            "{waited:?}"
        );
    }
}
