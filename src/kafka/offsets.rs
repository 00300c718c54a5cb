//! Offsets: storing a handled record's offset, committing, the final commit
//! of a run, and which consumer errors a run waits out.

use std::sync::Arc;
use std::time::Duration;

use rdkafka::consumer::{CommitMode as RdCommitMode, Consumer as _};
use rdkafka::error::KafkaError;
use rdkafka::types::RDKafkaErrorCode as C;

use super::codes::{lost_generation, retriable};
use super::policy::Backoff;
use super::rebalance::Client;
use super::rt::task_failed;
use crate::error::{Error, ErrorKind, Result};

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
    let code = |e: &Error| match e.kind() {
        ErrorKind::Kafka(k) => k.rdkafka_error_code(),
        _ => None,
    };
    let attempt = || async {
        // A synchronous commit waits for the coordinator: off the workers.
        let c = client.clone();
        match tokio::task::spawn_blocking(move || commit(&c)).await {
            Ok(Err(e)) if code(&e).is_some_and(lost_generation) => {
                tracing::warn!(error = %e, "final commit refused: the partitions moved on");
                Ok(())
            }
            Ok(done) => done,
            Err(join) => Err(task_failed("commit", &join)),
        }
    };
    let deadline = tokio::time::Instant::now() + patience;
    Backoff::fixed(Duration::from_millis(200))
        .retry_until(deadline, attempt, |e| code(e).is_some_and(retriable))
        .await
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
