//! The rdkafka side of a consumer: its client context (rebalance callbacks)
//! and commits.

use std::sync::Arc;
use std::time::Duration;

use rdkafka::consumer::{
    BaseConsumer, CommitMode as RdCommitMode, Consumer as _, ConsumerContext, Rebalance,
    StreamConsumer,
};
use rdkafka::error::KafkaError;
use rdkafka::types::RDKafkaErrorCode as C;
use rdkafka::ClientContext;

use super::codes::{lost_generation, retriable};
use super::context::UserContext;
use super::partitioned::Router;
use super::tracker::Tracker;
use crate::error::{Error, ErrorKind, Result};

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
    /// rdkafka's own, but for the protocol, known from the configuration:
    /// rdkafka asks librdkafka with `rd_kafka_rebalance_protocol`, a request
    /// to the group's thread without a timeout, which never returns when the
    /// revoke comes from a consumer being closed as the group shuts down (a
    /// consumer's drop then hangs forever, seen on Tansu).
    fn rebalance(
        &self,
        consumer: &BaseConsumer<Self>,
        err: rdkafka::types::RDKafkaRespErr,
        tpl: &mut rdkafka::TopicPartitionList,
    ) {
        use rdkafka::types::RDKafkaRespErr as E;
        let rebalance = match err {
            E::RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS => Rebalance::Assign(tpl),
            E::RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS => Rebalance::Revoke(tpl),
            _ => Rebalance::Error(KafkaError::Rebalance(err.into())),
        };
        self.pre_rebalance(consumer, &rebalance);
        let done = match (err, self.cooperative) {
            (E::RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS, false) => consumer.assign(tpl),
            (E::RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS, true) => consumer.incremental_assign(tpl),
            (E::RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS, true) => consumer.incremental_unassign(tpl),
            _ => consumer.unassign(),
        };
        if let Err(e) = done {
            tracing::warn!(error = %e, "applying a rebalance failed");
        }
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

/// Commits the stored offsets now and waits for the broker. Nothing stored
/// is not a failure.
pub(crate) fn commit(client: &Client) -> Result<()> {
    match client.commit_consumer_state(RdCommitMode::Sync) {
        Ok(()) => Ok(()),
        Err(e) if e.rdkafka_error_code() == Some(C::NoOffset) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// The commit at the end of a run. Transient refusals (the coordinator
/// moving or unreachable) are retried for up to `patience`. A refusal that
/// says the partitions moved on (a rebalance, a lost generation) is logged
/// and passed: the records stay uncommitted and are delivered again to the
/// next owner (at least once: duplicates possible, nothing lost).
pub(crate) async fn commit_final(client: &Arc<Client>, patience: Duration) -> Result<()> {
    let deadline = tokio::time::Instant::now() + patience;
    loop {
        // A synchronous commit waits for the coordinator: off the workers.
        let c = client.clone();
        let e = match tokio::task::spawn_blocking(move || commit(&c)).await {
            Ok(Ok(())) => return Ok(()),
            Ok(Err(e)) => e,
            Err(join) => return Err(task_failed("commit", &join)),
        };
        let code = match e.kind() {
            ErrorKind::Kafka(k) => k.rdkafka_error_code(),
            _ => None,
        };
        match code {
            Some(c) if lost_generation(c) => {
                tracing::warn!(error = %e, "final commit refused: the partitions moved on");
                return Ok(());
            }
            Some(c) if retriable(c) && tokio::time::Instant::now() < deadline => {
                tracing::warn!(error = %e, "final commit delayed; retrying");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            _ => return Err(e),
        }
    }
}

/// Passes a consumer error librdkafka recovers from by itself (logged),
/// returns one that needs the application: a fatal error, or missing
/// authorization. Everything else (brokers down, a transport failure, a name
/// that does not resolve, a poll interval exceeded during a long back-off, a
/// partition end) is waited out.
pub(crate) async fn wait_out(e: KafkaError) -> Result<()> {
    let fatal = matches!(e, KafkaError::MessageConsumptionFatal(_))
        || matches!(
            e.rdkafka_error_code(),
            Some(
                C::Fatal
                    | C::GroupAuthorizationFailed
                    | C::TopicAuthorizationFailed
                    | C::ClusterAuthorizationFailed
                    | C::SaslAuthenticationFailed
                    | C::Authentication
            )
        );
    if fatal {
        return Err(e.into());
    }
    let e = Error::from(e);
    if e.is_retriable() {
        tracing::warn!(error = %e, "transient consumer error; librdkafka is recovering");
    } else {
        tracing::warn!(error = %e, "consumer error; carrying on");
        // Not a hot loop if the same error comes back at once.
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok(())
}

/// Stores `offset` (the last handled) for the next commit. A partition that
/// was revoked meanwhile is not an error: its records go to the next owner.
pub(crate) fn store(client: &Client, topic: &str, partition: i32, offset: i64) -> Result<()> {
    match client.store_offset(topic, partition, offset) {
        Ok(()) => Ok(()),
        Err(e) if e.rdkafka_error_code().is_some_and(lost_generation) => {
            tracing::debug!(
                topic,
                partition,
                offset,
                "offset not stored: partition revoked"
            );
            Ok(())
        }
        Err(e) => Err(e.into()),
    }
}

/// Runs a blocking call: on a multi-threaded runtime the worker hands its
/// other tasks away first, so they go on meanwhile.
pub(crate) fn block<R>(f: impl FnOnce() -> R) -> R {
    match tokio::runtime::Handle::try_current() {
        Ok(_) if !on_current_thread_runtime() => tokio::task::block_in_place(f),
        _ => f(),
    }
}

/// Whether this thread runs a current-thread tokio runtime, where waiting
/// for other tasks blocks them too.
pub(crate) fn on_current_thread_runtime() -> bool {
    tokio::runtime::Handle::try_current()
        .is_ok_and(|h| h.runtime_flavor() == tokio::runtime::RuntimeFlavor::CurrentThread)
}

/// Runs a blocking librdkafka call off the async workers.
pub(crate) async fn blocking<R: Send + 'static>(
    f: impl FnOnce() -> rdkafka::error::KafkaResult<R> + Send + 'static,
) -> Result<R> {
    match tokio::task::spawn_blocking(f).await {
        Ok(r) => r.map_err(Error::from),
        Err(join) => Err(task_failed("blocking call", &join)),
    }
}

/// The error for a task of ours that panicked or was cancelled.
pub(crate) fn task_failed(what: &str, join: &tokio::task::JoinError) -> Error {
    Error::new(ErrorKind::Task(format!("{what}: {join}")))
}
