use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use rdkafka::consumer::stream_consumer::StreamPartitionQueue;
use rdkafka::consumer::Consumer as _;
use rdkafka::Message as _;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

use super::consumer::Consumer;
use super::core::{Core, End};
use super::handler::Handler;
use super::offsets;
use super::rebalance::{Assigned, CodecContext, Router};
use super::record::Record;
use super::report::{Report, TopicPartition};
use super::rt;
use super::shutdown::Shutdown;
use crate::codec::KafkaCodec;
use crate::error::{BoxError, Error, ErrorKind, Result};
use crate::message::KafkaMessage;

/// One rdkafka client, a member of its consumer group like any other,
/// whose assigned partitions are processed concurrently: each partition's
/// records in order by its own tokio task, at most `max_in_flight` handlers
/// at once across partitions. Many handlers, one librdkafka instance (and
/// its threads), instead of a client per handler.
///
/// Partitions come and go with the group's rebalances, so several
/// processes (or several `Partitioned` in one process) share a topic. When
/// partitions are assigned, their queues are split off
/// (`split_partition_queue`) before librdkafka starts fetching them; when
/// they are revoked, their tasks finish the record in hand (a retry back-off
/// is cut short and that record left to the next owner) and, in
/// [`CommitMode::AtLeastOnce`](super::CommitMode), what was handled is committed
/// before the partitions move. Broker outages and coordinator moves are
/// waited out.
///
/// Built with [`ConsumerBuilder::build_partitioned`](super::ConsumerBuilder::build_partitioned).
///
/// ```no_run
/// # async fn demo() -> kafka_codec::Result<()> {
/// use kafka_codec::kafka::{ConsumerBuilder, Partitioned, Record, Shutdown};
/// # #[derive(Debug, serde::Serialize, serde::Deserialize, kafka_codec::KafkaMessage)]
/// # #[kafka(topic = "orders")]
/// # struct Order { id: u32 }
/// let orders: Partitioned<Order> = ConsumerBuilder::new("localhost:9092", "billing")
///     .build_partitioned()?
///     .max_in_flight(8);
/// let report = orders
///     .run(Shutdown::on_signals()?, |record: Record<Order>| async move {
///         println!("{:?}", record.value());
///         Ok::<_, std::io::Error>(())
///     })
///     .await
///     .into_result()?;
/// println!("{:?}", report.partitions);
/// # Ok(()) }
/// ```
pub struct Partitioned<T: KafkaMessage, C: KafkaCodec<T> = <T as KafkaMessage>::Codec> {
    consumer: Consumer<T, C>,
    router: Arc<Router>,
    /// The bound on handlers at once and their count, shared with the
    /// partition tasks of its (one) run.
    shared: Arc<Shared>,
}

impl<T: KafkaMessage, C: KafkaCodec<T>> std::fmt::Debug for Partitioned<T, C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Partitioned")
            .field("consumer", &self.consumer)
            .field("partitions", &self.partitions())
            .finish()
    }
}

impl<T: KafkaMessage, C: KafkaCodec<T>> Partitioned<T, C> {
    /// Handles a record that arrived on the main queue, in order.
    async fn on_main_queue<F, Fut>(
        &self,
        msg: &rdkafka::message::BorrowedMessage<'_>,
        handler: &mut F,
        stop: &CancellationToken,
        report: &mut Report,
    ) -> Result<()>
    where
        F: FnMut(Record<T>) -> Fut,
        Fut: Future<Output = std::result::Result<(), BoxError>>,
    {
        let stopped = stop.cancelled();
        tokio::pin!(stopped);
        let outcome = self.consumer.core.process(msg, handler, stopped).await?;
        report.count(msg.topic(), msg.partition(), outcome);
        Ok(())
    }

    pub(crate) fn new(consumer: Consumer<T, C>, router: Arc<Router>) -> Self {
        Partitioned {
            consumer,
            router,
            shared: Arc::new(Shared::new(8)),
        }
    }

    /// How many handlers may run at once across the partitions (default 8).
    #[must_use]
    pub fn max_in_flight(mut self, handlers: usize) -> Self {
        self.shared = Arc::new(Shared::new(handlers.max(1)));
        self
    }

    /// The most handlers that ran at once in the last run.
    pub fn peak_in_flight(&self) -> usize {
        self.shared.peak.load(Ordering::SeqCst)
    }

    /// The partitions assigned to this member now.
    pub fn partitions(&self) -> Vec<TopicPartition> {
        let mut parts: Vec<_> = self
            .router
            .lock()
            .keys()
            .map(|(topic, partition)| TopicPartition::new(topic.clone(), *partition))
            .collect();
        parts.sort();
        parts
    }

    /// The consumer underneath, for its stats, commits and seeks.
    pub fn consumer(&self) -> &Consumer<T, C> {
        &self.consumer
    }
}

impl<T: KafkaMessage, C: KafkaCodec<T> + 'static> Partitioned<T, C> {
    /// Runs `handler` on every record of the partitions this member is
    /// assigned, once, until `shutdown` is cancelled or a record fails for good
    /// (its [`FailurePolicy`](super::FailurePolicy) says fail, or the
    /// dead-letter limit is reached); then commits what was handled. After
    /// a failure the consumer leaves the group, so its partitions move to
    /// the other members at once.
    #[must_use = "the report carries the error that stopped the run"]
    pub async fn run<H, Fut, E>(&self, shutdown: Shutdown, handler: H) -> Report
    where
        H: Fn(Record<T>) -> Fut + Clone + Send + Sync + 'static,
        Fut: Future<Output = std::result::Result<(), E>> + Send + 'static,
        E: Into<BoxError> + 'static,
    {
        let stop = shutdown.token().child_token();
        let mut report = Report::default();
        let Some(mut assigned) = self.router.start(stop.clone()) else {
            report.failed(Error::new(ErrorKind::Config(
                "a Partitioned consumer runs once; build another".into(),
            )));
            return report;
        };
        let shared = &self.shared;
        let mut tasks = tokio::task::JoinSet::new();
        let mut main_handler = |r| handler.handle(r);
        loop {
            tokio::select! {
                biased;
                () = stop.cancelled() => break,
                Some(joined) = tasks.join_next(), if !tasks.is_empty() => {
                    record_task(&mut report, joined, &stop);
                }
                Some(partition) = assigned.recv() => {
                    let task = PartitionTask {
                        core: self.consumer.core.clone(),
                        shared: shared.clone(),
                        assigned: partition,
                    };
                    tasks.spawn(task.run(handler.clone()));
                }
                // The main queue serves rebalances and errors; a record
                // arrives here only for a partition whose queue could not be
                // split, and is handled here, in order.
                msg = self.consumer.recv_unwatched() => {
                    let outcome = match msg {
                        Ok(msg) => self.on_main_queue(&msg, &mut main_handler, &stop, &mut report).await,
                        Err(e) => Err(e),
                    };
                    if let Err(e) = outcome {
                        report.failed(e);
                        stop.cancel();
                    }
                }
            }
        }
        while let Some(joined) = tasks.join_next().await {
            record_task(&mut report, joined, &stop);
        }
        // Its partition queues are gone with its tasks, so there is no
        // second run: queues split from now on are dropped at once.
        drop(assigned);
        report.check(self.consumer.finish().await);
        if !report.errors.is_empty() {
            self.leave().await;
        }
        report
    }
}

impl<T: KafkaMessage, C: KafkaCodec<T>> Partitioned<T, C> {
    /// Leaves the group now, so the other members take the partitions: the
    /// revoke is served by polling the main queue (at most 10 s).
    async fn leave(&self) {
        let client = &self.consumer.core.client;
        client.unsubscribe();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while client.assignment().is_ok_and(|a| a.count() > 0)
            && tokio::time::Instant::now() < deadline
        {
            // Polling serves the revoke. Nothing is handled now: a record
            // here stays uncommitted and goes to the next owner.
            let _ = tokio::time::timeout(Duration::from_millis(100), client.recv()).await;
        }
    }
}

fn record_task(
    report: &mut Report,
    joined: std::result::Result<Report, tokio::task::JoinError>,
    stop: &CancellationToken,
) {
    match joined {
        Ok(task) => {
            if !task.errors.is_empty() {
                stop.cancel();
            }
            report.merge(task);
        }
        Err(join) => {
            report.failed(rt::task_failed("partition task", &join));
            stop.cancel();
        }
    }
}

struct Shared {
    permits: Semaphore,
    in_flight: AtomicUsize,
    peak: AtomicUsize,
}

impl Shared {
    fn new(max_in_flight: usize) -> Self {
        Shared {
            permits: Semaphore::new(max_in_flight),
            in_flight: AtomicUsize::new(0),
            peak: AtomicUsize::new(0),
        }
    }
}

struct PartitionTask<T: KafkaMessage, C: KafkaCodec<T>> {
    core: Arc<Core<T, C>>,
    shared: Arc<Shared>,
    assigned: Assigned,
}

impl<T: KafkaMessage, C: KafkaCodec<T>> PartitionTask<T, C> {
    async fn run(self, handler: impl Handler<Record<T>>) -> Report {
        let PartitionTask {
            core,
            shared,
            assigned,
        } = self;
        let Assigned { queue, slot } = assigned;
        let _done = slot.started();
        let mut report = Report::default();
        if !slot.stop.is_cancelled() {
            let served = serve(
                &core,
                &shared,
                &queue,
                &slot.stop,
                &mut |r| handler.handle(r),
                &mut report,
            )
            .await;
            if let Err(e) = served {
                report.failed(e);
            }
        }
        report
    }
}

async fn serve<T, C, F, Fut>(
    core: &Core<T, C>,
    shared: &Shared,
    queue: &StreamPartitionQueue<CodecContext>,
    stop: &CancellationToken,
    handler: &mut F,
    report: &mut Report,
) -> Result<()>
where
    T: KafkaMessage,
    C: KafkaCodec<T>,
    F: FnMut(Record<T>) -> Fut,
    Fut: Future<Output = std::result::Result<(), BoxError>>,
{
    loop {
        let polling = core.health.as_ref().map(super::health::Health::polling);
        let msg = tokio::select! {
            biased;
            () = stop.cancelled() => return Ok(()),
            msg = queue.recv() => match msg {
                Ok(msg) => msg,
                Err(e) => {
                    offsets::wait_out(e).await?;
                    continue;
                }
            },
        };
        drop(polling);
        // Not yet taken: left unsettled for the next owner when stopped.
        let _permit = tokio::select! {
            biased;
            () = stop.cancelled() => return Ok(()),
            permit = shared.permits.acquire() => permit
                .map_err(|_| Error::new(ErrorKind::Task("the run is over".into())))?,
        };
        let now = shared.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        shared.peak.fetch_max(now, Ordering::SeqCst);
        let stopped = stop.cancelled();
        tokio::pin!(stopped);
        let outcome = core.process(&msg, handler, stopped).await;
        shared.in_flight.fetch_sub(1, Ordering::SeqCst);
        let outcome = outcome?;
        report.count(msg.topic(), msg.partition(), outcome);
        if outcome.end == End::Abandoned {
            return Ok(());
        }
    }
}
