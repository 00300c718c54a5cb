//! Dead letters: the original record, byte for byte, republished to another
//! topic with headers saying what failed and where the record came from;
//! and the limit that stops a consumer from draining a topic into it.

use std::sync::atomic::{AtomicU64, Ordering};

use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::ClientConfig;

use super::outbox::Outbox;
use super::policy::DeadLetterLimit;
use super::producer::Producer;
use crate::error::{Error, ErrorKind, RecordMeta, Result};
use crate::headers;

/// librdkafka properties that only a consumer reads; everything else of a
/// consumer's configuration (brokers, security, client id, ...) is what its
/// dead-letter producer needs too.
const CONSUMER_ONLY: &[&str] = &[
    "group.id",
    "group.instance.id",
    "group.protocol",
    "group.protocol.type",
    "group.remote.assignor",
    "partition.assignment.strategy",
    "session.timeout.ms",
    "heartbeat.interval.ms",
    "coordinator.query.interval.ms",
    "max.poll.interval.ms",
    "enable.auto.commit",
    "auto.commit.enable",
    "auto.commit.interval.ms",
    "enable.auto.offset.store",
    "auto.offset.reset",
    "queued.min.messages",
    "queued.max.messages.kbytes",
    "fetch.wait.max.ms",
    "fetch.queue.backoff.ms",
    "fetch.message.max.bytes",
    "max.partition.fetch.bytes",
    "fetch.max.bytes",
    "fetch.min.bytes",
    "fetch.error.backoff.ms",
    "offset.store.method",
    "offset.store.path",
    "offset.store.sync.interval.ms",
    "isolation.level",
    "enable.partition.eof",
    "check.crcs",
    "allow.auto.create.topics",
    "consume.callback.max.messages",
];

/// The producer's configuration from a consumer's: everything but the
/// consumer-only properties, with idempotence on unless set.
pub(crate) fn producer_config(consumer: &ClientConfig) -> ClientConfig {
    let mut config = ClientConfig::new();
    for (k, v) in consumer.config_map() {
        if !CONSUMER_ONLY.contains(&k) {
            config.set(k, v);
        }
    }
    if config.get("enable.idempotence").is_none() {
        config.set("enable.idempotence", "true");
    }
    config
}

/// What failed, for the dead letter's headers.
pub(crate) struct Failure<'a> {
    pub(crate) kind: &'static str,
    pub(crate) message: &'a str,
    pub(crate) attempts: u32,
}

/// Counts records and dead letters against a [`DeadLetterLimit`].
#[derive(Debug, Default)]
struct Guard {
    limit: DeadLetterLimit,
    seen: AtomicU64,
    total: AtomicU64,
    consecutive: AtomicU64,
}

impl Guard {
    /// Refuses one more dead letter when it would pass the limit.
    fn admit(&self) -> Result<()> {
        let consecutive = self.consecutive.load(Ordering::Relaxed) + 1;
        let total = self.total.load(Ordering::Relaxed) + 1;
        let seen = self.seen.load(Ordering::Relaxed).max(total);
        let over_consecutive = self.limit.max_consecutive.is_some_and(|m| consecutive > m);
        #[allow(clippy::cast_precision_loss)]
        let over_ratio = self
            .limit
            .max_ratio
            .is_some_and(|(ratio, min)| seen >= min && total as f64 > ratio * seen as f64);
        if over_consecutive || over_ratio {
            return Err(Error::new(ErrorKind::DeadLetterLimit {
                consecutive,
                total,
                seen,
            }));
        }
        Ok(())
    }

    fn sent(&self) {
        self.total.fetch_add(1, Ordering::Relaxed);
        self.consecutive.fetch_add(1, Ordering::Relaxed);
    }
}

/// A consumer's dead-letter producer and limit.
#[derive(Debug)]
pub(crate) struct DeadLetters {
    sink: Sink,
    guard: Guard,
}

/// Where dead letters go.
#[derive(Debug)]
enum Sink {
    /// Sent at once; the source offset is stored once acknowledged.
    Producer(Producer),
    /// Kept until the transaction of their batch sends them (an exactly-once
    /// pipeline): an aborted attempt leaves nothing behind.
    Deferred(std::sync::Mutex<Outbox>),
}

impl DeadLetters {
    pub(crate) fn new(producer: Producer, limit: DeadLetterLimit) -> Self {
        Self::with_sink(Sink::Producer(producer), limit)
    }

    /// Dead letters kept for the current transaction: see
    /// [`take_deferred`](Self::take_deferred).
    pub(crate) fn deferred(limit: DeadLetterLimit) -> Self {
        Self::with_sink(Sink::Deferred(std::sync::Mutex::default()), limit)
    }

    fn with_sink(sink: Sink, limit: DeadLetterLimit) -> Self {
        DeadLetters {
            sink,
            guard: Guard {
                limit,
                ..Guard::default()
            },
        }
    }

    /// The dead letters kept since the last call (deferred sink only).
    pub(crate) fn take_deferred(&self) -> Outbox {
        match &self.sink {
            Sink::Producer(_) => Outbox::new(),
            Sink::Deferred(kept) => std::mem::take(
                &mut *kept
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner),
            ),
        }
    }

    /// A record was read (decoded or not).
    pub(crate) fn saw_one(&self) {
        self.guard.seen.fetch_add(1, Ordering::Relaxed);
    }

    /// A record was handled: the run of dead letters is broken.
    pub(crate) fn handled_one(&self) {
        self.guard.consecutive.store(0, Ordering::Relaxed);
    }

    /// Republishes the record to `topic` and waits for the acknowledgement.
    pub(crate) async fn send(
        &self,
        topic: &str,
        meta: &RecordMeta,
        payload: Option<&[u8]>,
        failure: &Failure<'_>,
    ) -> Result<()> {
        self.guard.admit()?;
        let mut hs = OwnedHeaders::new_with_capacity(meta.headers.len() + 6);
        for (k, v) in &meta.headers {
            hs = hs.insert(Header {
                key: k,
                value: v.as_deref(),
            });
        }
        let partition = meta.partition.to_string();
        let offset = meta.offset.to_string();
        let attempts = failure.attempts.to_string();
        for (key, value) in [
            (headers::DLQ_ERROR_KIND, failure.kind),
            (headers::DLQ_ERROR_MESSAGE, failure.message),
            (headers::DLQ_TOPIC, &*meta.topic),
            (headers::DLQ_PARTITION, partition.as_str()),
            (headers::DLQ_OFFSET, offset.as_str()),
            (headers::DLQ_ATTEMPTS, attempts.as_str()),
        ] {
            hs = hs.insert(Header {
                key,
                value: Some(value),
            });
        }
        match &self.sink {
            Sink::Producer(producer) => {
                producer
                    .send_raw(topic, meta.key.as_deref(), payload, hs)
                    .await
                    .map_err(|e| {
                        tracing::error!(error = %e, "dead-lettering failed; the record stays unhandled");
                        e
                    })?;
            }
            Sink::Deferred(kept) => kept
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .send_raw(topic, meta.key.as_deref(), payload, hs),
        }
        self.guard.sent();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ratio_limit_counts_once_enough_records_were_seen() {
        let g = Guard {
            limit: DeadLetterLimit::none().max_ratio(0.1, 20),
            ..Guard::default()
        };
        // Below the minimum, any ratio passes.
        for _ in 0..5 {
            g.seen.fetch_add(1, Ordering::Relaxed);
            g.admit().unwrap();
            g.sent();
        }
        g.seen.store(60, Ordering::Relaxed);
        g.admit().unwrap(); // 6 of 60 is 10 %
        g.sent();
        let err = g.admit().unwrap_err(); // 7 of 60 is over
        assert!(matches!(
            err.kind(),
            ErrorKind::DeadLetterLimit {
                total: 7,
                seen: 60,
                ..
            }
        ));
    }

    #[test]
    fn the_consecutive_limit_resets_on_a_handled_record() {
        let g = Guard {
            limit: DeadLetterLimit::none().max_consecutive(2),
            ..Guard::default()
        };
        g.sent();
        g.sent();
        assert!(g.admit().is_err());
        g.consecutive.store(0, Ordering::Relaxed);
        assert!(g.admit().is_ok());
    }

    #[test]
    fn the_producer_keeps_security_settings_and_drops_consumer_ones() {
        let mut c = ClientConfig::new();
        c.set("bootstrap.servers", "b:9092")
            .set("security.protocol", "SASL_SSL")
            .set("sasl.username", "u")
            .set("group.id", "g")
            .set("auto.offset.reset", "earliest")
            .set("session.timeout.ms", "6000");
        let p = producer_config(&c);
        assert_eq!(p.get("bootstrap.servers"), Some("b:9092"));
        assert_eq!(p.get("security.protocol"), Some("SASL_SSL"));
        assert_eq!(p.get("sasl.username"), Some("u"));
        assert_eq!(p.get("enable.idempotence"), Some("true"));
        assert_eq!(p.get("group.id"), None);
        assert_eq!(p.get("auto.offset.reset"), None);
        assert_eq!(p.get("session.timeout.ms"), None);
    }
}
