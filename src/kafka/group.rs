use std::future::Future;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::consumer::ConsumerBuilder;
use super::record::Record;
use crate::error::{BoxError, Error, Result};
use crate::message::KafkaMessage;

/// N members of one consumer group, each its own rdkafka consumer, run as
/// tokio tasks on the current runtime: the Python sample's coroutines, with
/// no thread per consumer beyond librdkafka's own.
///
/// ```no_run
/// # async fn demo() -> kafka_codec::Result<()> {
/// use kafka_codec::kafka::{ConsumerBuilder, Group};
/// use tokio_util::sync::CancellationToken;
/// # #[derive(Debug, serde::Serialize, serde::Deserialize, kafka_codec::KafkaMessage)]
/// # #[kafka(topic = "orders")]
/// # struct Order { id: u32 }
/// let shutdown = CancellationToken::new();
/// let group = Group::new(ConsumerBuilder::new("localhost:9092", "billing"), 3);
/// let report = group
///     .run::<Order, _, _>(shutdown.clone(), |member, record| async move {
///         println!("member {member}: {:?}", record.value());
///         Ok(())
///     })
///     .await?;
/// println!("handled {:?}", report.handled);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct Group {
    builder: ConsumerBuilder,
    members: usize,
}

/// What a group did.
#[derive(Debug, Default)]
pub struct GroupReport {
    /// Records handled by each member.
    pub handled: Vec<u64>,
    /// Errors that stopped members, by member index.
    pub errors: Vec<(usize, Error)>,
}

impl GroupReport {
    /// Records handled by all members.
    pub fn total(&self) -> u64 {
        self.handled.iter().sum()
    }
}

impl Group {
    /// A group of `members` consumers built from `builder`.
    pub fn new(builder: ConsumerBuilder, members: usize) -> Self {
        Group { builder, members }
    }

    /// Runs every member until `shutdown` is cancelled or the member fails
    /// for good (its [`FailurePolicy`](super::FailurePolicy) says fail, or
    /// the dead-letter limit is reached). Each member commits what it
    /// handled before stopping. A member that fails leaves the group at once,
    /// so the others take its partitions; the report keeps what it handled
    /// and its error. Members stopped by `shutdown` leave together, after
    /// all of them committed. A member leaves on a thread of its own (a
    /// consumer's close blocks); the run returns once all have left, or
    /// after 30 s with a warning, a close that hangs left to go on on its
    /// thread.
    pub async fn run<T, F, Fut>(
        self,
        shutdown: CancellationToken,
        handler: F,
    ) -> Result<GroupReport>
    where
        T: KafkaMessage,
        F: Fn(usize, Record<T>) -> Fut + Clone + Send + Sync + 'static,
        Fut: Future<Output = std::result::Result<(), BoxError>> + Send + 'static,
    {
        let mut tasks = Vec::with_capacity(self.members);
        for member in 0..self.members {
            let consumer = self.builder.clone().build::<T>()?;
            let handler = handler.clone();
            let shutdown = shutdown.clone();
            tasks.push(tokio::spawn(async move {
                let (handled, result) = consumer
                    .run_counted(shutdown.cancelled(), |record| handler(member, record))
                    .await;
                // A failed member leaves now. The others are handed back,
                // not dropped: a member leaving starts a rebalance, which
                // would refuse the others' final commits.
                let consumer = if result.is_ok() {
                    Some(consumer)
                } else {
                    leave(vec![consumer]).await;
                    None
                };
                (handled, result, consumer)
            }));
        }
        let mut report = GroupReport::default();
        let mut stopped = Vec::with_capacity(tasks.len());
        for (member, task) in tasks.into_iter().enumerate() {
            match task.await {
                Ok((handled, result, consumer)) => {
                    report.handled.push(handled);
                    stopped.extend(consumer);
                    if let Err(e) = result {
                        report.errors.push((member, e));
                    }
                }
                Err(join) => {
                    report.handled.push(0);
                    report
                        .errors
                        .push((member, super::client::task_failed("member task", &join)));
                }
            }
        }
        // Every member has committed; now they may leave.
        leave(stopped).await;
        Ok(report)
    }
}

/// How long a group waits for its members to leave.
const LEAVE_WAIT: Duration = Duration::from_secs(30);

/// The `members` leave the group: each consumer is closed on a thread of
/// its own, all at once, and waited for up to [`LEAVE_WAIT`].
///
/// A consumer's close blocks its thread: librdkafka leaves the group, and
/// the revoke's callback must unassign, a request to librdkafka's group
/// thread with no timeout. On Tansu such a request was seen never to be
/// answered as a group shut down; closed on a runtime's worker, that close
/// stopped the worker and, with it, the runtime's timers. Off the runtime, a
/// close that hangs costs a thread and a warning, and the run returns.
async fn leave<M: Send + 'static>(members: Vec<M>) {
    leave_within(members, LEAVE_WAIT).await;
}

/// [`leave`], waiting up to `wait`.
async fn leave_within<M: Send + 'static>(members: Vec<M>, wait: Duration) {
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

/// A token cancelled on ctrl-c, for graceful shutdown.
pub fn shutdown_on_ctrl_c() -> CancellationToken {
    let token = CancellationToken::new();
    let t = token.clone();
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            t.cancel();
        }
    });
    token
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
