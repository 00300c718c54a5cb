use std::future::Future;
use std::time::Duration;

use super::builder::ConsumerBuilder;
use super::handler::Handler;
use super::record::Record;
use super::report::Report;
use super::shutdown::Shutdown;
use super::workarounds;
use crate::error::BoxError;
use crate::message::KafkaMessage;

/// N members of one consumer group, each its own rdkafka consumer, run as
/// tokio tasks on the current runtime: the Python sample's coroutines, with
/// no thread per consumer beyond librdkafka's own.
///
/// ```no_run
/// # async fn demo() -> kafka_codec::Result<()> {
/// use kafka_codec::kafka::{ConsumerBuilder, Group, Record, Shutdown};
/// # #[derive(Debug, serde::Serialize, serde::Deserialize, kafka_codec::KafkaMessage)]
/// # #[kafka(topic = "orders")]
/// # struct Order { id: u32 }
/// let group = Group::new(ConsumerBuilder::new("localhost:9092", "billing"), 3);
/// let report = group
///     .run(Shutdown::on_signals()?, |record: Record<Order>| async move {
///         println!("{:?}", record.value());
///         Ok::<_, std::io::Error>(())
///     })
///     .await
///     .into_result()?;
/// println!("handled {}", report.handled());
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct Group {
    builder: ConsumerBuilder,
    members: usize,
}

tokio::task_local! {
    /// The index of the group member whose task this is.
    static MEMBER: usize;
}

impl Group {
    /// A group of `members` consumers built from `builder`.
    pub fn new(builder: ConsumerBuilder, members: usize) -> Self {
        Group { builder, members }
    }

    /// Inside a handler that a [`Group`] runs: the index of the member
    /// calling it (`0..members`), for logs and per-member counts. `None`
    /// outside a group's member.
    pub fn member() -> Option<usize> {
        MEMBER.try_with(|m| *m).ok()
    }

    /// Runs every member until `shutdown` fires or the member fails for
    /// good (its [`FailurePolicy`](super::FailurePolicy) says fail, or the
    /// dead-letter limit is reached). Each member commits what it handled
    /// before stopping. A member that fails leaves the group at once, so
    /// the others take its partitions; the report keeps what it handled and
    /// its error. Members stopped by `shutdown` leave together, after all of
    /// them committed. A member leaves on a thread of its own (a consumer's
    /// close blocks); the run returns once all have left, or after 30 s
    /// with a warning, a close that hangs left to go on on its thread.
    #[must_use = "the report carries the error that stopped the run"]
    pub async fn run<T, H, Fut, E>(self, shutdown: Shutdown, handler: H) -> Report
    where
        T: KafkaMessage,
        H: Fn(Record<T>) -> Fut + Clone + Send + Sync + 'static,
        Fut: Future<Output = std::result::Result<(), E>> + Send + 'static,
        E: Into<BoxError> + 'static,
    {
        let mut report = Report::default();
        // Fired when a member cannot be built, without firing the caller's
        // signal (its clones may stop other runs).
        let shutdown = shutdown.child();
        let mut tasks = Vec::with_capacity(self.members);
        for member in 0..self.members {
            let consumer = match self.builder.clone().build::<T>() {
                Ok(consumer) => consumer,
                Err(e) => {
                    report.failed(e);
                    shutdown.trigger();
                    break;
                }
            };
            let handler = handler.clone();
            let shutdown = shutdown.clone();
            tasks.push(tokio::spawn(MEMBER.scope(member, async move {
                let mut report = Report::default();
                let ran = consumer
                    .run_into(
                        shutdown.token().cancelled(),
                        &mut |r| handler.handle(r),
                        &mut report,
                    )
                    .await;
                let ran = report.check(ran);
                // What it handled is committed, failed or not.
                let committed = report.check(consumer.finish().await);
                // A failed member leaves now. The others are handed back,
                // not dropped: a member leaving starts a rebalance, which
                // would refuse the others' final commits.
                if ran && committed {
                    return (report, Some(consumer));
                }
                if let Some(e) = report.error() {
                    tracing::error!(target: "kafka_codec", member, error = %e, "a group member stopped");
                }
                leave(vec![consumer]).await;
                (report, None)
            })));
        }
        let mut stopped = Vec::with_capacity(tasks.len());
        for task in tasks {
            match task.await {
                Ok((member, consumer)) => {
                    report.merge(member);
                    stopped.extend(consumer);
                }
                Err(join) => report.failed(super::rt::task_failed("member task", &join)),
            }
        }
        // Every member has committed; now they may leave.
        leave(stopped).await;
        report
    }
}

/// How long a group waits for its members to leave.
const LEAVE_WAIT: Duration = Duration::from_secs(30);

/// The `members` leave the group: each consumer is closed on a thread of
/// its own, all at once, and waited for up to [`LEAVE_WAIT`].
///
/// Each on a thread of its own: see [`workarounds::leave_within`].
async fn leave<M: Send + 'static>(members: Vec<M>) {
    workarounds::leave_within(members, LEAVE_WAIT).await;
}
