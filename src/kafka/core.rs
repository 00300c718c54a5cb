//! The record-processing core that every consumer shape shares:
//! decode -> poison policy -> handler (with retries) -> recovery -> settle.
//!
//! [`Consumer`](super::Consumer) (one record at a time or as a stream),
//! [`Group`](super::Group) (members that are each a `Consumer`),
//! [`Partitioned`](super::Partitioned) (one task per assigned partition) and
//! [batches](super::Batch) all go through [`Core`], so a policy, a counter or
//! a commit rule is written once.

use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::Arc;

use rdkafka::consumer::Consumer as _;
use rdkafka::message::{BorrowedHeaders, BorrowedMessage, Headers as _, Message};
use rdkafka::TopicPartitionList;
use tracing::Instrument as _;

use super::dead_letter::{DeadLetters, Failure};
use super::metrics;
use super::offsets;
use super::policy::CommitMode;
use super::policy::{FailurePolicy, Recover};
use super::rebalance::Client;
use super::record::{self, meta_of, HeaderList, HeaderRef, Raw, Record};
pub(crate) use super::report::{End, Outcome};
use super::stats::{bump, ConsumerStats};
use super::telemetry::{self, Sampler, TraceContext};
use super::tracker::{Step, Tracker};
use crate::codec::{Hints, KafkaCodec};
use crate::error::{BoxError, Error, ErrorKind, RecordMeta, Result};
use crate::headers;
use crate::message::KafkaMessage;

/// Bounds on the headers of incoming records; a record over them is a
/// poison pill ([`ErrorKind::Header`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct HeaderLimits {
    pub(crate) count: usize,
    pub(crate) bytes: usize,
}

impl HeaderLimits {
    /// Why a record with `count` headers is over the limits, before its
    /// headers are read.
    fn too_many(&self, count: usize) -> Option<String> {
        (count > self.count)
            .then(|| format!("{count} headers, more than the limit of {}", self.count))
    }

    /// Why a record with these headers (their count already checked) is
    /// over the limits.
    fn too_large(&self, headers: &[HeaderRef<'_>]) -> Option<String> {
        let bytes = record::header_bytes(headers);
        (bytes > self.bytes).then(|| {
            format!(
                "{bytes} bytes of headers, more than the limit of {}",
                self.bytes
            )
        })
    }
}

impl Default for HeaderLimits {
    fn default() -> Self {
        HeaderLimits {
            count: 64,
            bytes: 64 * 1024,
        }
    }
}

/// A message's headers as the core reads them: once, or not at all when
/// there are more than the limit (the reason).
pub(crate) type Headers<'a> = std::result::Result<HeaderList<'a>, String>;

/// Everything a consumer needs to turn rdkafka messages into handled,
/// settled records.
pub(crate) struct Core<T: KafkaMessage, C: KafkaCodec<T>> {
    pub(crate) client: Arc<Client>,
    pub(crate) codec: C,
    /// What becomes of records that do not decode.
    pub(crate) poison: Recover,
    /// Retries, then what becomes of records whose handler failed.
    pub(crate) failure: FailurePolicy,
    /// `failure`'s recovery, resolved against the dead-letter topic.
    pub(crate) recover: Recover,
    /// Where dead letters go.
    pub(crate) dead_letter_topic: Option<String>,
    pub(crate) commit: CommitMode,
    pub(crate) limits: HeaderLimits,
    pub(crate) dead_letters: Option<DeadLetters>,
    pub(crate) stats: ConsumerStats,
    pub(crate) tracker: Arc<Tracker>,
    /// How a `process` span relates to the producer's.
    pub(crate) trace: TraceContext,
    /// Which records (batches) get a `process` span.
    pub(crate) sampler: Sampler,
    /// Told when the consumer asks for records.
    pub(crate) health: Option<super::health::Health>,
    pub(crate) _marker: PhantomData<fn() -> T>,
}

impl<T: KafkaMessage, C: KafkaCodec<T>> Drop for Core<T, C> {
    fn drop(&mut self) {
        // The consumer goes (its last partition queue may outlive this):
        // its close must not commit synchronously from the revoke callback.
        use rdkafka::consumer::Consumer as _;
        self.client
            .context()
            .closing
            .store(true, std::sync::atomic::Ordering::SeqCst);
    }
}

impl<T: KafkaMessage, C: KafkaCodec<T>> Core<T, C> {
    /// The consumer group, for spans and metrics.
    pub(crate) fn group(&self) -> &str {
        &self.client.context().group
    }

    /// Takes one message: decodes it, or applies the poison policy and gives
    /// `None` (or the error, under [`Recover::Fail`]).
    pub(crate) async fn take(&self, msg: &BorrowedMessage<'_>) -> Result<Option<Record<T>>> {
        Ok(self.take_ended(msg).await?.ok())
    }

    /// [`take`](Self::take), keeping how a record that is not handed out
    /// ended (skipped or dead-lettered), for a run's report.
    pub(crate) async fn take_ended(
        &self,
        msg: &BorrowedMessage<'_>,
    ) -> Result<std::result::Result<Record<T>, End>> {
        self.take_read(msg, msg.topic(), &self.read_headers(msg), true)
            .await
    }

    /// The headers of `msg`, read from librdkafka once for everything the
    /// core does with them, or why there are too many to read.
    pub(crate) fn read_headers<'a>(&self, msg: &'a BorrowedMessage<'_>) -> Headers<'a> {
        let headers = msg.headers();
        match self
            .limits
            .too_many(headers.map_or(0, BorrowedHeaders::count))
        {
            Some(why) => Err(why),
            None => Ok(HeaderList::of(headers)),
        }
    }

    /// [`take`](Self::take) with the headers already read: the record, or
    /// how the poison pill it was ended.
    /// (`topic`: the message's, read from librdkafka and checked as UTF-8
    /// once; `count`: whether to count it as consumed here, or the caller
    /// counts it with its process duration.)
    async fn take_read(
        &self,
        msg: &BorrowedMessage<'_>,
        topic: &str,
        headers: &Headers<'_>,
        count: bool,
    ) -> Result<std::result::Result<Record<T>, End>> {
        if let Some(dl) = &self.dead_letters {
            dl.saw_one();
        }
        self.track(topic, msg.partition(), msg.offset());
        if count {
            metrics::consumed(topic, msg.partition(), self.group());
        }
        let err = match self.decode(msg, topic, headers) {
            Ok(record) => {
                bump(&self.stats.decoded);
                return Ok(Ok(record));
            }
            Err(err) => err,
        };
        if matches!(err.kind(), ErrorKind::Tombstone) {
            // Not poison: a delete this consumer's type cannot stand for.
            tracing::debug!(
                target: "kafka_codec",
                topic,
                partition = msg.partition(),
                offset = msg.offset(),
                "skipping a tombstone (consume Option<T> to receive them)"
            );
            bump(&self.stats.skipped);
            self.settle(topic, msg.partition(), msg.offset())?;
            return Ok(Err(End::Skipped));
        }
        let kind = err.kind().name();
        metrics::decode_failed(topic, self.group(), kind);
        telemetry::current_failed(kind);
        tracing::warn!(
            target: "kafka_codec",
            topic,
            partition = msg.partition(),
            offset = msg.offset(),
            error.type = kind,
            error = %err,
            "record could not be decoded"
        );
        if self.poison == Recover::Fail {
            return Err(err);
        }
        let meta = err.record().cloned();
        let meta = meta.unwrap_or_else(|| meta_of(msg));
        let message = err.to_string();
        let failure = Failure {
            kind: err.kind().name(),
            message: &message,
            attempts: 1,
        };
        let end = self
            .recover(self.poison, &meta, msg.payload(), &failure)
            .await
            .map_err(|e| carry(e, &err))?;
        Ok(Err(end))
    }

    /// Takes one message and, when it decodes, runs `handler` on it under
    /// the failure policy; settles it unless it failed or was abandoned.
    pub(crate) async fn process<F, Fut, S>(
        &self,
        msg: &BorrowedMessage<'_>,
        handler: &mut F,
        stop: Pin<&mut S>,
    ) -> Result<Outcome>
    where
        F: FnMut(Record<T>) -> Fut,
        Fut: Future<Output = std::result::Result<(), BoxError>>,
        S: Future<Output = ()>,
    {
        let headers = self.read_headers(msg);
        let topic = msg.topic();
        // A record over the header count is poison, and still traced: its
        // headers are read for the sampler and the span's link alone.
        let over;
        let read = match &headers {
            Ok(list) => list.as_slice(),
            Err(_) => {
                over = HeaderList::of(msg.headers());
                over.as_slice()
            }
        };
        let span = if self.sampler.record(read) {
            telemetry::process_span(msg, topic, read, self.group(), self.trace)
        } else {
            tracing::Span::none()
        };
        let started = metrics::timing().then(std::time::Instant::now);
        // With a processing time wanted, the record is counted as consumed
        // with it, at the end: one look at the metrics handles per record.
        let timed = started.is_some();
        // The span is moved into the future and read back from it: a clone
        // would cost a reference count up and down per record.
        let mut work = std::pin::pin!(async {
            match self.take_read(msg, topic, &headers, !timed).await? {
                Ok(record) => self.handle(msg, record, handler, stop).await,
                Err(end) => Ok(Outcome::new(end, 0)),
            }
        }
        .instrument(span));
        let outcome = work.as_mut().await;
        if let Err(e) = &outcome {
            telemetry::failed(work.span(), e.kind().name());
        }
        if let Some(started) = started {
            let error = outcome.as_ref().err().map(|e| e.kind().name());
            let partition = msg.partition();
            metrics::consumed_and_processed(
                topic,
                partition,
                self.group(),
                started.elapsed(),
                error,
            );
        }
        outcome
    }

    /// Runs `handler` on a record decoded from `msg`: retries with back-off
    /// while the failure policy allows (decoding again from the same bytes),
    /// then recovers. Gives up, unsettled, when `stop` completes during a
    /// back-off.
    async fn handle<F, Fut, S>(
        &self,
        msg: &BorrowedMessage<'_>,
        record: Record<T>,
        handler: &mut F,
        mut stop: Pin<&mut S>,
    ) -> Result<Outcome>
    where
        F: FnMut(Record<T>) -> Fut,
        Fut: Future<Output = std::result::Result<(), BoxError>>,
        S: Future<Output = ()>,
    {
        let mut record = Some(record);
        let mut attempt = 1;
        loop {
            let next = match record.take() {
                Some(r) => r,
                None => self.decode(msg, msg.topic(), &self.read_headers(msg))?,
            };
            let error = match handler(next).await {
                Ok(()) => {
                    self.handled(msg.topic(), msg.partition(), msg.offset())?;
                    return Ok(Outcome::new(End::Handled, attempt - 1));
                }
                Err(e) => e,
            };
            if !self.failure.retries(attempt, &error) {
                let meta = meta_of(msg);
                let end = self.fail(meta, msg.payload(), error, attempt).await?;
                return Ok(Outcome::new(end, attempt - 1));
            }
            let delay = self.failure.backoff.delay(attempt);
            metrics::retried(msg.topic(), self.group());
            tracing::warn!(
                topic = msg.topic(),
                partition = msg.partition(),
                offset = msg.offset(),
                attempt,
                ?delay,
                error = %error,
                "handler failed; retrying"
            );
            bump(&self.stats.retries);
            tokio::select! {
                () = stop.as_mut() => return Ok(Outcome::new(End::Abandoned, attempt - 1)),
                () = tokio::time::sleep(delay) => {}
            }
            attempt += 1;
        }
    }

    /// A handler accepted the record at `offset`.
    pub(crate) fn handled(&self, topic: &str, partition: i32, offset: i64) -> Result<()> {
        bump(&self.stats.handled);
        if let Some(dl) = &self.dead_letters {
            dl.handled_one();
        }
        self.settle(topic, partition, offset)
    }

    /// A record's handler failed for the last time after `attempts` tries:
    /// recover it as the failure policy says (how it ended), or return the
    /// handler's error.
    pub(crate) async fn fail(
        &self,
        meta: RecordMeta,
        payload: Option<&[u8]>,
        error: BoxError,
        attempts: u32,
    ) -> Result<End> {
        telemetry::current_failed("handler");
        let outcome = match self.recover {
            Recover::Fail => Err(Error::new(ErrorKind::Handler(error))),
            recover => {
                let message = error.to_string();
                let failure = Failure {
                    kind: "handler",
                    message: &message,
                    attempts,
                };
                self.recover(recover, &meta, payload, &failure).await
            }
        };
        // Whatever stopped the record keeps it, bytes included.
        outcome.map_err(|e| {
            let e = e.at_record(meta);
            match payload {
                Some(p) => e.payload_bytes(bytes::Bytes::copy_from_slice(p)),
                None => e,
            }
        })
    }

    /// Skips or dead-letters a record (`how`, not [`Recover::Fail`]), then
    /// settles it.
    async fn recover(
        &self,
        how: Recover,
        meta: &RecordMeta,
        payload: Option<&[u8]>,
        failure: &Failure<'_>,
    ) -> Result<End> {
        let end = match (how, self.dead_letter_topic.as_deref()) {
            (Recover::DeadLetter, Some(dlq)) => {
                let dl = self.dead_letters.as_ref().ok_or_else(|| {
                    Error::new(ErrorKind::Config("no dead-letter producer".into()))
                })?;
                dl.send(dlq, meta, payload, failure).await?;
                bump(&self.stats.dead_lettered);
                metrics::dead_lettered(&meta.topic, self.group(), dlq);
                tracing::info!(
                    target: "kafka_codec",
                    topic = &*meta.topic,
                    partition = meta.partition,
                    offset = meta.offset,
                    dead_letter_topic = dlq,
                    kind = failure.kind,
                    "record dead-lettered"
                );
                End::DeadLettered
            }
            // The builder refuses dead letters with no topic for them.
            (Recover::DeadLetter | Recover::Fail, _) => {
                return Err(Error::new(ErrorKind::Config(
                    "no dead-letter topic for this recovery".into(),
                )))
            }
            (Recover::Skip, _) => {
                tracing::warn!(
                    topic = &*meta.topic,
                    partition = meta.partition,
                    offset = meta.offset,
                    kind = failure.kind,
                    error = failure.message,
                    "skipping a record"
                );
                bump(&self.stats.skipped);
                End::Skipped
            }
        };
        self.settle(&meta.topic, meta.partition, meta.offset)?;
        Ok(end)
    }

    /// A record was handed out: track it (manual commits), pausing its
    /// partition when too many of its records are unsettled.
    pub(crate) fn track(&self, topic: &str, partition: i32, offset: i64) {
        if self.commit == CommitMode::AtLeastOnce {
            self.tracker.deliver(topic, partition, offset, |step| {
                pause_or_resume(&self.client, topic, partition, step);
            });
        }
    }

    /// A record is done with: in [`CommitMode::AtLeastOnce`] the offset just
    /// below the lowest unsettled one is stored for the next commit.
    pub(crate) fn settle(&self, topic: &str, partition: i32, offset: i64) -> Result<()> {
        if self.commit != CommitMode::AtLeastOnce {
            return Ok(());
        }
        let step = self.tracker.settle(topic, partition, offset, |step| {
            pause_or_resume(&self.client, topic, partition, step);
        });
        match step.store {
            Some(last) => offsets::store(&self.client, topic, partition, last),
            None => Ok(()),
        }
    }

    /// Decodes one message into a record, or an error carrying the raw
    /// record. The payload is decoded where librdkafka keeps it; the record
    /// is copied out only once it decoded.
    pub(crate) fn decode(
        &self,
        msg: &BorrowedMessage<'_>,
        topic: &str,
        headers: &Headers<'_>,
    ) -> Result<Record<T>> {
        let over = |why: String, raw: Raw| {
            Error::new(ErrorKind::Header {
                name: "*".into(),
                reason: why,
            })
            .payload_bytes(raw.payload_bytes())
            .at_record(raw.meta())
        };
        let headers = match headers {
            Ok(headers) => headers.as_slice(),
            // Too many to have been read: they are, for the error.
            Err(why) => return Err(over(why.clone(), Raw::of(msg))),
        };
        if let Some(why) = self.limits.too_large(headers) {
            return Err(over(why, Raw::copy(msg, topic, headers)));
        }
        let Some(payload) = msg.payload() else {
            let raw = Raw::copy(msg, topic, headers);
            return match T::__tombstone() {
                Some(value) => Ok(Record::new(raw, value)),
                None => Err(Error::new(ErrorKind::Tombstone).at_record(raw.meta())),
            };
        };
        let decoded = (|| {
            // `decode_with` refuses a content type the codec does not read.
            T::decode_with(&self.codec, payload, &record_hints(headers, payload)?)
        })();
        match decoded {
            Ok(value) => Ok(Record::new(Raw::copy(msg, topic, headers), value)),
            Err(e) => Err(e.at_record(Raw::copy(msg, topic, headers).meta())),
        }
    }
}

/// What the record's headers say about its payload, in one pass over
/// them: the first `content-type`, `ce_type` and `ce_schemaversion` each.
/// A value that is not UTF-8 is an error carrying the payload.
fn record_hints<'a>(headers: &[HeaderRef<'a>], payload: &[u8]) -> Result<Hints<'a>> {
    let (mut content_type, mut type_name, mut version) = (None, None, None);
    for &(name, value) in headers {
        let slot = match name {
            headers::CONTENT_TYPE => &mut content_type,
            headers::TYPE => &mut type_name,
            headers::VERSION => &mut version,
            _ => continue,
        };
        if slot.is_none() {
            *slot = Some(text(name, value, payload)?);
        }
    }
    Ok(Hints::record(
        content_type.flatten(),
        type_name.flatten(),
        version.flatten(),
    ))
}

/// A header's value as text; not UTF-8 is an error carrying the payload.
fn text<'a>(name: &str, value: Option<&'a [u8]>, payload: &[u8]) -> Result<Option<&'a str>> {
    let Some(value) = value else {
        return Ok(None);
    };
    match std::str::from_utf8(value) {
        Ok(text) => Ok(Some(text)),
        Err(_) => Err(Error::with_payload(
            ErrorKind::Header {
                name: name.to_owned(),
                reason: "not UTF-8".into(),
            },
            payload,
        )),
    }
}

/// Pauses or resumes a partition as the tracker decided.
pub(crate) fn pause_or_resume(client: &Client, topic: &str, partition: i32, step: &Step) {
    if !(step.pause || step.resume) {
        return;
    }
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition(topic, partition);
    let done = if step.pause {
        tracing::warn!(
            topic,
            partition,
            "pausing the partition: too many records handed out and not acked"
        );
        client.pause(&tpl)
    } else {
        tracing::debug!(topic, partition, "resuming");
        client.resume(&tpl)
    };
    if let Err(e) = done {
        tracing::warn!(topic, partition, error = %e, "pause/resume failed");
    }
}

/// A recovery failure (the dead-letter producer refused, the limit was
/// reached) keeps the record and payload of the error that caused it.
fn carry(mut e: Error, cause: &Error) -> Error {
    if let Some(meta) = cause.record() {
        e = e.at_record(meta.clone());
    }
    if let Some(p) = cause.payload() {
        e = e.payload_bytes(bytes::Bytes::copy_from_slice(p));
    }
    e
}
