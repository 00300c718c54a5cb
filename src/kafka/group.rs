use std::future::Future;

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
    /// all of them committed.
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
                let consumer = result.is_ok().then_some(consumer);
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
        drop(stopped);
        Ok(report)
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
