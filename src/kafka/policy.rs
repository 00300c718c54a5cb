//! What a consumer does when a record cannot be decoded or its handler fails.
//!
//! One recovery, [`Recover`] (fail, skip or dead-letter), for each kind of
//! failure:
//!
//! * a record that does not decode (a poison pill): no retry can fix bytes,
//!   so it goes straight to its recovery
//!   ([`ConsumerBuilder::on_poison`](super::ConsumerBuilder::on_poison));
//! * a handler that returned an error ([`FailurePolicy`]): the record is
//!   handled again after a [`Backoff`], up to a number of attempts, unless
//!   the error is declared not retryable ([`Permanent`], or a predicate);
//!   then its recovery. Retries happen in place, so records of one
//!   partition stay in order.
//!
//! One setting names the dead-letter topic for both,
//! [`ConsumerBuilder::dead_letter_topic`](super::ConsumerBuilder::dead_letter_topic);
//! once it is set, both recover by dead-lettering unless told otherwise.
//!
//! A [`DeadLetterLimit`] guards against draining a topic into its
//! dead-letter topic after a bad deploy: past a number of consecutive dead
//! letters, or a ratio of them, the consumer stops with
//! [`ErrorKind::DeadLetterLimit`](crate::ErrorKind::DeadLetterLimit).
//!
//! This is the shape of Spring Kafka's `DefaultErrorHandler` (back-off,
//! not-retryable exceptions, a recoverer) and of arroyo's dead-letter limits.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::error::BoxError;

/// When offsets are committed: at least once (the default) or at most once.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CommitMode {
    /// At least once, the default: an offset is stored only when the record
    /// was settled (handled, skipped or dead-lettered: automatically by the
    /// runs, by [`Consumer::ack`](super::Consumer::ack) for records from
    /// [`next`](super::Consumer::next) and [`stream`](super::Consumer::stream)), and
    /// never past a record handed out earlier that is not settled yet
    /// (tracked commits). Stored offsets are committed in the background
    /// (`auto.commit.interval.ms`), synchronously when partitions are
    /// revoked, and at the end of a run. A broker that refuses the commit
    /// during a rebalance makes the next owner repeat what was handled since
    /// the last commit: duplicates, never losses.
    #[default]
    AtLeastOnce,
    /// librdkafka's own default: offsets are stored as records are handed to
    /// the application and committed in the background, whether or not
    /// they were handled. A crash loses the records in hand; nothing is
    /// tracked, and `ack` does nothing.
    AtMostOnce,
}

/// Where a record goes that cannot be decoded (a poison pill), or whose
/// handler failed for the last time. Nothing is ever dropped silently.
///
/// The default for both is [`DeadLetter`](Self::DeadLetter) when the
/// consumer has a
/// [`dead_letter_topic`](super::ConsumerBuilder::dead_letter_topic), else
/// [`Fail`](Self::Fail).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recover {
    /// Stop: the run returns the error, which carries the record (topic,
    /// partition, offset and raw bytes); the record is not marked handled,
    /// so it is delivered again after a restart (`next` returns the error
    /// instead).
    Fail,
    /// Log it, count it, mark it handled and move on.
    Skip,
    /// Republish the original key, value and headers, byte for byte, to the
    /// consumer's [`dead_letter_topic`](super::ConsumerBuilder::dead_letter_topic)
    /// with error headers (see [`headers`](crate::headers): the kind, the
    /// message, the attempt count, the source topic, partition and offset);
    /// mark the source record handled only once the dead letter was
    /// acknowledged.
    DeadLetter,
}

impl Recover {
    /// `explicit` if one was chosen, else the default: dead letters when
    /// there is a topic for them.
    pub(crate) fn resolve(explicit: Option<Recover>, dead_letter_topic: bool) -> Recover {
        match explicit {
            Some(r) => r,
            None if dead_letter_topic => Recover::DeadLetter,
            None => Recover::Fail,
        }
    }
}

/// How long to wait before the next attempt.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Backoff {
    initial: Duration,
    multiplier: f64,
    max: Duration,
}

impl Backoff {
    /// The same wait before every retry.
    pub fn fixed(delay: Duration) -> Self {
        Backoff {
            initial: delay,
            multiplier: 1.0,
            max: delay,
        }
    }

    /// `initial`, then multiplied by `multiplier` after each attempt, never
    /// more than `max`.
    pub fn exponential(initial: Duration, multiplier: f64, max: Duration) -> Self {
        Backoff {
            initial,
            multiplier: multiplier.max(1.0),
            max: max.max(initial),
        }
    }

    /// The wait after the `attempt`-th failure (1-based).
    pub fn delay(&self, attempt: u32) -> Duration {
        let factor = self
            .multiplier
            .powi(i32::try_from(attempt.saturating_sub(1)).unwrap_or(i32::MAX));
        self.initial.mul_f64(factor.min(1e9)).min(self.max)
    }

    /// Runs `attempt` until it succeeds, fails with an error `retriable`
    /// refuses, or `deadline` passed, waiting this back-off between tries
    /// (never past the deadline): the one retry loop of the Kafka layer.
    pub(crate) async fn retry_until<T, Fut>(
        &self,
        deadline: tokio::time::Instant,
        mut attempt: impl FnMut() -> Fut,
        retriable: impl Fn(&crate::Error) -> bool,
    ) -> crate::Result<T>
    where
        Fut: std::future::Future<Output = crate::Result<T>>,
    {
        let mut failures = 0;
        loop {
            match attempt().await {
                Err(e) if retriable(&e) && tokio::time::Instant::now() < deadline => {
                    failures += 1;
                    tracing::warn!(error = %e, failures, "retrying");
                    let wait = deadline.min(tokio::time::Instant::now() + self.delay(failures));
                    tokio::time::sleep_until(wait).await;
                }
                done => return done,
            }
        }
    }
}

impl Default for Backoff {
    /// 100 ms, doubling, at most 10 s.
    fn default() -> Self {
        Backoff::exponential(Duration::from_millis(100), 2.0, Duration::from_secs(10))
    }
}

/// A handler error that no retry will fix: return it (`Err(Permanent(e).into())`)
/// to go straight to the recovery.
#[derive(Debug)]
pub struct Permanent(pub BoxError);

impl Permanent {
    /// Wraps any error.
    pub fn new(error: impl Into<BoxError>) -> Self {
        Permanent(error.into())
    }
}

impl fmt::Display for Permanent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl std::error::Error for Permanent {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&*self.0)
    }
}

type Classifier = Arc<dyn Fn(&BoxError) -> bool + Send + Sync>;

/// What a consumer does when its handler fails: retry, then recover.
///
/// The default retries nothing, then recovers as the consumer's default
/// (dead letters when it has a dead-letter topic, else fail).
///
/// ```
/// use std::time::Duration;
/// use kafka_codec::kafka::{Backoff, FailurePolicy, Recover};
///
/// let policy = FailurePolicy::new()
///     .max_attempts(4)                                   // 1 try + 3 retries
///     .backoff(Backoff::exponential(Duration::from_millis(50), 2.0, Duration::from_secs(2)))
///     .not_retryable::<std::num::ParseIntError>()
///     .recover(Recover::Skip);
/// # let _ = policy;
/// ```
#[derive(Clone, Default)]
pub struct FailurePolicy {
    pub(crate) max_attempts: u32,
    pub(crate) backoff: Backoff,
    not_retryable: Vec<Classifier>,
    pub(crate) recover: Option<Recover>,
}

impl fmt::Debug for FailurePolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FailurePolicy")
            .field("max_attempts", &self.attempts())
            .field("backoff", &self.backoff)
            .field("not_retryable", &self.not_retryable.len())
            .field("recover", &self.recover)
            .finish()
    }
}

impl FailurePolicy {
    /// No retries; a failure stops the run.
    pub fn new() -> Self {
        Self::default()
    }

    /// How many times a record is handled at most, the first try included
    /// (default 1: no retry).
    #[must_use]
    pub fn max_attempts(mut self, attempts: u32) -> Self {
        self.max_attempts = attempts.max(1);
        self
    }

    /// The wait between attempts (default: 100 ms doubling up to 10 s).
    #[must_use]
    pub fn backoff(mut self, backoff: Backoff) -> Self {
        self.backoff = backoff;
        self
    }

    /// Errors of type `E` (found by downcasting the handler's error, or the
    /// error inside a [`Permanent`]) are not retried.
    #[must_use]
    pub fn not_retryable<E: std::error::Error + 'static>(self) -> Self {
        self.not_retryable_if(|e| {
            e.is::<E>() || e.downcast_ref::<Permanent>().is_some_and(|p| p.0.is::<E>())
        })
    }

    /// Errors for which `classify` returns `true` are not retried.
    #[must_use]
    pub fn not_retryable_if(
        mut self,
        classify: impl Fn(&BoxError) -> bool + Send + Sync + 'static,
    ) -> Self {
        self.not_retryable.push(Arc::new(classify));
        self
    }

    /// Where a record goes after its last failed attempt (default: dead
    /// letters when the consumer has a dead-letter topic, else fail).
    #[must_use]
    pub fn recover(mut self, recover: Recover) -> Self {
        self.recover = Some(recover);
        self
    }

    pub(crate) fn attempts(&self) -> u32 {
        self.max_attempts.max(1)
    }

    /// Whether a record that failed `attempt` times with `error` is tried again.
    pub(crate) fn retries(&self, attempt: u32, error: &BoxError) -> bool {
        attempt < self.attempts()
            && !error.is::<Permanent>()
            && !self.not_retryable.iter().any(|c| c(error))
    }
}

/// Stops a consumer that dead-letters too much, instead of draining a topic
/// into its dead-letter topic (after a bad deploy, say). Counts dead letters
/// of both kinds: poison pills and handler failures. Off by default.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct DeadLetterLimit {
    pub(crate) max_consecutive: Option<u64>,
    pub(crate) max_ratio: Option<(f64, u64)>,
}

impl DeadLetterLimit {
    /// No limit.
    pub fn none() -> Self {
        Self::default()
    }

    /// Stop rather than dead-letter more than `count` records in a row
    /// (a handled record resets the count).
    #[must_use]
    pub fn max_consecutive(mut self, count: u64) -> Self {
        self.max_consecutive = Some(count);
        self
    }

    /// Stop rather than let dead letters exceed `ratio` of the records seen,
    /// once at least `min_records` were seen.
    #[must_use]
    pub fn max_ratio(mut self, ratio: f64, min_records: u64) -> Self {
        self.max_ratio = Some((ratio, min_records));
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exponential_backoff_grows_and_caps() {
        let b = Backoff::exponential(Duration::from_millis(10), 2.0, Duration::from_millis(50));
        let delays: Vec<_> = (1..=5).map(|a| b.delay(a).as_millis()).collect();
        assert_eq!(delays, [10, 20, 40, 50, 50]);
        assert_eq!(b.delay(u32::MAX), Duration::from_millis(50));
    }

    #[test]
    fn retries_stop_at_max_attempts_and_for_permanent_errors() {
        let policy = FailurePolicy::new()
            .max_attempts(3)
            .not_retryable::<std::num::ParseIntError>();
        let transient: BoxError = "try again".into();
        assert!(policy.retries(1, &transient));
        assert!(policy.retries(2, &transient));
        assert!(!policy.retries(3, &transient));
        let parse: BoxError = "x".parse::<i32>().unwrap_err().into();
        assert!(!policy.retries(1, &parse));
        let permanent: BoxError = Permanent::new("no").into();
        assert!(!policy.retries(1, &permanent));
        assert!(!FailurePolicy::new().retries(1, &transient));
    }
}
