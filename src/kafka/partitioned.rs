use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use rdkafka::consumer::Consumer as _;
use rdkafka::{Offset, TopicPartitionList};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

use super::consumer::Consumer;
use super::record::Record;
use crate::codec::KafkaCodec;
use crate::error::{BoxError, Error, ErrorKind, Result};
use crate::message::KafkaMessage;

/// One rdkafka client whose partitions are processed concurrently: each
/// partition's records in order, at most `max_in_flight` handlers at once
/// across partitions. Many handlers, one librdkafka instance (and its
/// threads), instead of a client per handler.
///
/// Built with [`ConsumerBuilder::build_partitioned`](super::ConsumerBuilder::build_partitioned).
/// It assigns itself every partition of its topics (resuming from the
/// group's committed offsets) rather than joining the group's rebalancing:
/// run one per group, or use [`Group`](super::Group) for several processes
/// sharing partitions. Each partition gets its own queue
/// (`split_partition_queue`) served by its own tokio task.
///
/// ```no_run
/// # async fn demo() -> kafka_codec::Result<()> {
/// use kafka_codec::kafka::{CommitMode, ConsumerBuilder};
/// use tokio_util::sync::CancellationToken;
/// # #[derive(Debug, serde::Serialize, serde::Deserialize, kafka_codec::KafkaMessage)]
/// # #[kafka(topic = "orders")]
/// # struct Order { id: u32 }
/// let orders = ConsumerBuilder::new("localhost:9092", "billing")
///     .commit_mode(CommitMode::Manual)
///     .build_partitioned::<Order>()?;
/// let report = orders
///     .run(CancellationToken::new(), 8, |record| async move {
///         println!("{:?}", record.value());
///         Ok(())
///     })
///     .await?;
/// println!("{:?}", report.handled);
/// # Ok(()) }
/// ```
pub struct Partitioned<T: KafkaMessage, C: KafkaCodec<T> = <T as KafkaMessage>::Codec> {
    consumer: Arc<Consumer<T, C>>,
    partitions: Vec<(String, i32)>,
}

impl<T: KafkaMessage, C: KafkaCodec<T>> std::fmt::Debug for Partitioned<T, C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Partitioned")
            .field("consumer", &self.consumer)
            .field("partitions", &self.partitions)
            .finish()
    }
}

/// What a [`Partitioned`] run did.
#[derive(Debug, Default)]
pub struct PartitionReport {
    /// Records handled, by topic and partition.
    pub handled: BTreeMap<(String, i32), u64>,
    /// The most handlers that ran at once.
    pub max_concurrency: usize,
}

impl PartitionReport {
    /// Records handled in all partitions.
    pub fn total(&self) -> u64 {
        self.handled.values().sum()
    }
}

impl<T: KafkaMessage, C: KafkaCodec<T> + 'static> Partitioned<T, C> {
    pub(crate) fn assign(consumer: Consumer<T, C>, topics: &[String]) -> Result<Self> {
        let mut tpl = TopicPartitionList::new();
        let mut partitions = Vec::new();
        for topic in topics {
            let metadata = consumer
                .inner
                .fetch_metadata(Some(topic), Duration::from_secs(10))?;
            for t in metadata.topics() {
                if let Some(e) = t.error() {
                    return Err(Error::new(ErrorKind::Other(
                        format!("topic `{}`: {:?}", t.name(), e).into(),
                    )));
                }
                for p in t.partitions() {
                    tpl.add_partition_offset(t.name(), p.id(), Offset::Stored)?;
                    partitions.push((t.name().to_owned(), p.id()));
                }
            }
        }
        consumer.inner.assign(&tpl)?;
        Ok(Partitioned {
            consumer: Arc::new(consumer),
            partitions,
        })
    }

    /// The assigned partitions.
    pub fn partitions(&self) -> &[(String, i32)] {
        &self.partitions
    }

    /// The consumer underneath, for its stats and manual commits.
    pub fn consumer(&self) -> &Consumer<T, C> {
        &self.consumer
    }

    /// Runs `handler` on every record until `shutdown` is cancelled or a
    /// partition fails, with at most `max_in_flight` handlers at once, then
    /// commits what was handled. A handler error stops its partition and is
    /// returned, with that record not marked handled.
    pub async fn run<F, Fut>(
        &self,
        shutdown: CancellationToken,
        max_in_flight: usize,
        handler: F,
    ) -> Result<PartitionReport>
    where
        F: Fn(Record<T>) -> Fut + Clone + Send + Sync + 'static,
        Fut: Future<Output = std::result::Result<(), BoxError>> + Send + 'static,
    {
        let permits = Arc::new(Semaphore::new(max_in_flight.max(1)));
        let stop = shutdown.child_token();
        let in_flight = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let peak = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let mut tasks = tokio::task::JoinSet::new();
        for (topic, partition) in &self.partitions {
            let queue = self
                .consumer
                .inner
                .split_partition_queue(topic, *partition)
                .ok_or_else(|| {
                    Error::new(ErrorKind::Other(
                        format!("cannot split the queue of {topic}[{partition}]").into(),
                    ))
                })?;
            let consumer = self.consumer.clone();
            let (handler, permits, stop) = (handler.clone(), permits.clone(), stop.clone());
            let (in_flight, peak) = (in_flight.clone(), peak.clone());
            let key = (topic.clone(), *partition);
            tasks.spawn(async move {
                let mut handled = 0u64;
                let outcome: Result<()> = async {
                    loop {
                        let msg = tokio::select! {
                            biased;
                            () = stop.cancelled() => return Ok(()),
                            msg = queue.recv() => match msg {
                                Ok(msg) => msg,
                                Err(e) => {
                                    super::consumer::wait_out(e)?;
                                    continue;
                                }
                            },
                        };
                        let Some(record) = consumer.process(&msg).await? else {
                            continue;
                        };
                        let meta = record.meta().clone();
                        let _permit = permits
                            .acquire()
                            .await
                            .map_err(|e| Error::new(ErrorKind::Other(e.to_string().into())))?;
                        let now = in_flight.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
                        peak.fetch_max(now, std::sync::atomic::Ordering::SeqCst);
                        let result = handler(record).await;
                        in_flight.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
                        result.map_err(|e| {
                            Error::new(ErrorKind::Handler(e)).at_record(meta.clone())
                        })?;
                        consumer.mark_handled(&meta.topic, meta.partition, meta.offset)?;
                        handled += 1;
                    }
                }
                .await;
                if outcome.is_err() {
                    // One partition failing stops the others, as one consumer would.
                    stop.cancel();
                }
                (key, handled, outcome)
            });
        }
        // The main queue must be served for events even though records go to
        // the partition queues.
        let main = {
            let consumer = self.consumer.clone();
            let stop = stop.clone();
            tokio::spawn(async move {
                tokio::select! {
                    () = stop.cancelled() => {}
                    msg = consumer.inner.recv() => {
                        if let Ok(m) = msg {
                            tracing::error!(
                                partition = rdkafka::Message::partition(&m),
                                "a record reached the main queue of a partitioned consumer"
                            );
                        }
                        stop.cancel();
                    }
                }
            })
        };
        let mut report = PartitionReport::default();
        let mut first_error = None;
        while let Some(joined) = tasks.join_next().await {
            match joined {
                Ok((key, handled, outcome)) => {
                    report.handled.insert(key, handled);
                    if let Err(e) = outcome {
                        first_error.get_or_insert(e);
                    }
                }
                Err(join) => {
                    first_error.get_or_insert(Error::new(ErrorKind::Other(
                        format!("partition task failed: {join}").into(),
                    )));
                }
            }
        }
        stop.cancel();
        let _ = main.await;
        report.max_concurrency = peak.load(std::sync::atomic::Ordering::SeqCst);
        self.consumer.commit_at_shutdown()?;
        match first_error {
            Some(e) => Err(e),
            None => Ok(report),
        }
    }
}
