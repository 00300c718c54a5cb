//! Rebalances, in one place: the rdkafka context of this crate's consumers
//! (the user's callbacks, the revoke-time commit, the rebalance protocol
//! known from the configuration), the record of what was revoked when, and
//! the partition queues of a [`Partitioned`](super::Partitioned) consumer,
//! split on assign and drained on revoke.

use std::collections::HashMap;
use std::sync::{Arc, Condvar, Mutex, OnceLock, Weak};
use std::time::{Duration, Instant};

use rdkafka::consumer::stream_consumer::StreamPartitionQueue;
use rdkafka::consumer::{
    BaseConsumer, CommitMode as RdCommitMode, Consumer as _, ConsumerContext, Rebalance,
    StreamConsumer,
};
use rdkafka::error::KafkaError;
use rdkafka::types::RDKafkaErrorCode as C;
use rdkafka::{ClientContext, TopicPartitionList};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::context::UserContext;
use super::rt;
use super::tracker::Tracker;

/// The rdkafka client of this crate's consumers.
pub(crate) type Client = StreamConsumer<CodecContext>;

/// The rdkafka context of this crate's consumers.
///
/// On revoke it stops the partition tasks of a
/// [`Partitioned`](super::Partitioned) consumer and waits for the records
/// they are handling, then (in [`CommitMode::AtLeastOnce`](super::CommitMode))
/// commits what was handled synchronously, before the group moves the
/// partitions: the next owner starts right after the last handled record.
/// On assign it splits the partition queues of a `Partitioned` consumer
/// before librdkafka starts fetching.
pub struct CodecContext {
    pub(crate) commit_on_revoke: bool,
    /// Set when the consumer is being dropped: librdkafka's close runs the
    /// revoke callback, and a synchronous commit from there can wait
    /// forever. The close commits the stored offsets itself
    /// (`enable.auto.commit`, on by default, commits on unassign).
    pub(crate) closing: std::sync::atomic::AtomicBool,
    pub(crate) tracker: Arc<Tracker>,
    pub(crate) router: Option<Arc<Router>>,
    pub(crate) revocations: Revocations,
    /// The consumer's `group.id`, for spans and metrics.
    pub(crate) group: String,
    /// Whether the group rebalances incrementally
    /// (`partition.assignment.strategy` `cooperative-sticky`).
    pub(crate) cooperative: bool,
    /// The user's callbacks (log lines, errors, statistics, tokens).
    pub(crate) user: UserContext,
}

/// When partitions were last revoked, counted in rebalances, so that a
/// record read before its partition was revoked can be told apart from one
/// read after (a transactional pipeline must drop the first kind: the
/// partition's next owner starts from the committed offset).
#[derive(Debug, Default)]
pub(crate) struct Revocations {
    inner: std::sync::Mutex<RevocationLog>,
}

#[derive(Debug, Default)]
struct RevocationLog {
    /// Revocations so far.
    epoch: u64,
    /// Revocations that took at least one partition (rebalance errors
    /// included).
    taken: u64,
    /// The epoch every partition was last revoked at (a rebalance error).
    all: u64,
    /// The epoch each partition was last revoked at.
    each: std::collections::HashMap<(String, i32), u64>,
}

impl Revocations {
    fn log(&self) -> std::sync::MutexGuard<'_, RevocationLog> {
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The current epoch: stamp a record read now with it.
    pub(crate) fn epoch(&self) -> u64 {
        self.log().epoch
    }

    /// Revocations that took at least one partition.
    pub(crate) fn taken(&self) -> u64 {
        self.log().taken
    }

    /// Whether `topic`/`partition` was revoked after `epoch`.
    pub(crate) fn revoked_since(&self, topic: &str, partition: i32, epoch: u64) -> bool {
        let log = self.log();
        log.all > epoch
            || log
                .each
                .get(&(topic.to_owned(), partition))
                .is_some_and(|&at| at > epoch)
    }

    fn revoke(&self, tpl: &rdkafka::TopicPartitionList) {
        let mut log = self.log();
        log.epoch += 1;
        let epoch = log.epoch;
        if tpl.count() > 0 {
            log.taken += 1;
        }
        for e in tpl.elements() {
            log.each
                .insert((e.topic().to_owned(), e.partition()), epoch);
        }
    }

    fn revoke_all(&self) {
        let mut log = self.log();
        log.epoch += 1;
        log.taken += 1;
        log.all = log.epoch;
    }
}

impl std::fmt::Debug for CodecContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CodecContext")
            .field("commit_on_revoke", &self.commit_on_revoke)
            .field("partitioned", &self.router.is_some())
            .field("group", &self.group)
            .finish_non_exhaustive()
    }
}

impl ClientContext for CodecContext {
    const ENABLE_REFRESH_OAUTH_TOKEN: bool = true;

    /// librdkafka's statistics (every `statistics.interval.ms`; with the
    /// feature `metrics` a consumer gets 5 s unless it sets it): the
    /// consumer lag of each assigned partition goes to the
    /// `kafka_codec.consumer.lag` gauge, then the JSON to the user's context.
    fn stats_raw(&self, statistics: &[u8]) {
        #[cfg(feature = "metrics")]
        super::metrics::statistics(statistics, &self.group);
        self.user.stats_raw(statistics);
    }

    fn log(&self, level: rdkafka::config::RDKafkaLogLevel, fac: &str, message: &str) {
        self.user.log(level, fac, message);
    }

    fn error(&self, error: KafkaError, reason: &str) {
        self.user.error(error, reason);
    }

    fn generate_oauth_token(
        &self,
        config: Option<&str>,
    ) -> std::result::Result<rdkafka::client::OAuthToken, Box<dyn std::error::Error>> {
        self.user.generate_oauth_token(config)
    }
}

impl ConsumerContext for CodecContext {
    /// rdkafka's own, but for the rebalance protocol, taken from the
    /// configuration (`src/kafka/workarounds.rs` says why).
    fn rebalance(
        &self,
        consumer: &BaseConsumer<Self>,
        err: rdkafka::types::RDKafkaRespErr,
        tpl: &mut rdkafka::TopicPartitionList,
    ) {
        super::workarounds::rebalance(self, consumer, err, tpl, self.cooperative);
    }

    fn pre_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        match rebalance {
            Rebalance::Assign(tpl) => {
                if let Some(router) = &self.router {
                    router.assign(tpl);
                }
            }
            Rebalance::Revoke(tpl) => {
                self.revocations.revoke(tpl);
                if let Some(router) = &self.router {
                    router.revoke(tpl);
                }
                let closing = self.closing.load(std::sync::atomic::Ordering::SeqCst);
                if self.commit_on_revoke && tpl.count() > 0 && !closing {
                    match consumer.commit_consumer_state(RdCommitMode::Sync) {
                        Ok(()) => {}
                        Err(e) if e.rdkafka_error_code() == Some(C::NoOffset) => {}
                        Err(e) => tracing::warn!(
                            error = %e,
                            "commit on revoke failed; records handled since the last commit may be delivered again"
                        ),
                    }
                }
                resume(consumer, &self.tracker.revoke(tpl));
            }
            Rebalance::Error(e) => {
                // rdkafka unassigns everything after a rebalance error.
                tracing::warn!(error = %e, "rebalance error; the assignment is dropped");
                self.revocations.revoke_all();
                if let Some(router) = &self.router {
                    router.revoke_all();
                }
                resume(consumer, &self.tracker.clear());
            }
        }
    }
}

/// librdkafka keeps a partition paused across a rebalance: resume those the
/// tracker paused before they leave, so they come back fetching.
fn resume(consumer: &BaseConsumer<CodecContext>, paused: &[(String, i32)]) {
    if paused.is_empty() {
        return;
    }
    let mut tpl = rdkafka::TopicPartitionList::new();
    for (topic, partition) in paused {
        tpl.add_partition(topic, *partition);
    }
    if let Err(e) = consumer.resume(&tpl) {
        tracing::warn!(error = %e, "resuming revoked partitions failed");
    }
}

/// A partition handed to this member, with its own queue.
pub(crate) struct Assigned {
    pub(crate) queue: StreamPartitionQueue<CodecContext>,
    pub(crate) slot: Slot,
}

const PENDING: u8 = 0;
const RUNNING: u8 = 1;
const DONE: u8 = 2;

/// A partition task's stop signal and state, shared with the rebalance
/// callback that waits for it to finish.
#[derive(Clone)]
pub(crate) struct Slot {
    pub(crate) stop: CancellationToken,
    state: Arc<(Mutex<u8>, Condvar)>,
}

impl Slot {
    fn new(stop: CancellationToken) -> Self {
        Slot {
            stop,
            state: Arc::new((Mutex::new(PENDING), Condvar::new())),
        }
    }

    fn set(&self, to: u8) {
        let (state, changed) = &*self.state;
        *state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = to;
        changed.notify_all();
    }

    /// The task starts; it is marked done when the guard drops (a panic
    /// included). Checked against the stop signal under the lock, so a
    /// revoke either sees the task running and waits, or the task sees the
    /// revoke and does nothing.
    pub(crate) fn started(&self) -> impl Drop + '_ {
        struct Done<'a>(&'a Slot);
        impl Drop for Done<'_> {
            fn drop(&mut self) {
                self.0.set(DONE);
            }
        }
        {
            let (state, _) = &*self.state;
            let mut s = state
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if *s == PENDING {
                *s = RUNNING;
            }
        }
        Done(self)
    }

    /// Waits until the task is not running, or `deadline`. `true` if it
    /// finished.
    fn wait(&self, deadline: Instant) -> bool {
        let (state, changed) = &*self.state;
        let mut s = state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        while *s == RUNNING {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            s = changed
                .wait_timeout(s, left)
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .0;
        }
        true
    }
}

/// The link between the rebalance callbacks and a running [`Partitioned`]:
/// queues split on assign go to the run loop; tasks are stopped and waited
/// for on revoke.
pub(crate) struct Router {
    client: OnceLock<Weak<Client>>,
    tx: mpsc::UnboundedSender<Assigned>,
    rx: Mutex<Option<mpsc::UnboundedReceiver<Assigned>>>,
    run: Mutex<Option<CancellationToken>>,
    slots: Mutex<HashMap<(String, i32), Slot>>,
    drain: Duration,
}

impl Default for Router {
    fn default() -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        Router {
            client: OnceLock::new(),
            tx,
            rx: Mutex::new(Some(rx)),
            run: Mutex::new(None),
            slots: Mutex::new(HashMap::new()),
            drain: Duration::from_secs(30),
        }
    }
}

impl Router {
    pub(crate) fn attach(&self, client: &Arc<Client>) {
        let _ = self.client.set(Arc::downgrade(client));
    }

    pub(crate) fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<(String, i32), Slot>> {
        self.slots
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// A run starts: its stop token parents the partition tasks.
    pub(crate) fn start(
        &self,
        stop: CancellationToken,
    ) -> Option<mpsc::UnboundedReceiver<Assigned>> {
        let rx = self
            .rx
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take()?;
        *self
            .run
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(stop);
        Some(rx)
    }

    /// Called before librdkafka assigns `tpl`: splits each partition's queue.
    pub(crate) fn assign(&self, tpl: &TopicPartitionList) {
        let Some(client) = self.client.get().and_then(Weak::upgrade) else {
            return;
        };
        let parent = self
            .run
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
            .unwrap_or_default();
        for e in tpl.elements() {
            let (topic, partition) = (e.topic().to_owned(), e.partition());
            let Some(queue) = client.split_partition_queue(&topic, partition) else {
                tracing::warn!(
                    topic,
                    partition,
                    "cannot split the partition queue; its records go to the main queue"
                );
                continue;
            };
            let slot = Slot::new(parent.child_token());
            self.lock().insert((topic.clone(), partition), slot.clone());
            tracing::debug!(topic, partition, "partition assigned");
            let _ = self.tx.send(Assigned { queue, slot });
        }
    }

    /// Called before librdkafka revokes `tpl`: stops those partitions' tasks
    /// and waits (at most the drain timeout) for the records in hand.
    pub(crate) fn revoke(&self, tpl: &TopicPartitionList) {
        let slots: Vec<Slot> = {
            let mut map = self.lock();
            tpl.elements()
                .iter()
                .filter_map(|e| map.remove(&(e.topic().to_owned(), e.partition())))
                .collect()
        };
        self.stop(&slots);
    }

    /// Every partition is gone (a rebalance error).
    pub(crate) fn revoke_all(&self) {
        let slots: Vec<Slot> = self.lock().drain().map(|(_, s)| s).collect();
        self.stop(&slots);
    }

    fn stop(&self, slots: &[Slot]) {
        for s in slots {
            s.stop.cancel();
        }
        if rt::on_current_thread_runtime() {
            // The tasks cannot run while this thread waits: do not wait.
            // Their records in hand stay unsettled and go to the next owner.
            return;
        }
        let deadline = Instant::now() + self.drain;
        let drained = rt::block(|| slots.iter().all(|s| s.wait(deadline)));
        if !drained {
            tracing::warn!(
                "partition tasks still busy after {:?}; their records go to the next owner",
                self.drain
            );
        }
    }
}
