//! The one error type of the crate, and the kinds a caller can act on.
//!
//! Every failure is an [`Error`]. Its [`kind`](Error::kind) says what went
//! wrong in a form a caller can match on; the error also keeps what is needed
//! to recover: the raw payload that failed to decode
//! ([`payload`](Error::payload)) and, for records read from Kafka, where the
//! record lives ([`record`](Error::record)), so a caller can log, skip,
//! dead-letter or retry without losing anything.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

use bytes::Bytes;

/// A boxed error from a lower layer (serde, rdkafka, a user codec).
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Where in a payload a decoder gave up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Position {
    /// The decoder does not say.
    #[default]
    Unknown,
    /// A 1-based line and column, as serde_json reports them.
    LineColumn {
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
    },
    /// A byte offset from the start of the payload.
    Offset(usize),
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Position::Unknown => Ok(()),
            Position::LineColumn { line, column } => write!(f, " at line {line} column {column}"),
            Position::Offset(offset) => write!(f, " at byte {offset}"),
        }
    }
}

/// What went wrong. Match on it to decide what to do next.
///
/// Each variant says whether retrying the same input can help: decode errors
/// are properties of the bytes and never go away on retry; broker errors may.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The payload is not valid for the codec or does not match the target
    /// type. Retrying the same bytes will not help.
    #[error("malformed {content_type} payload{position}: {source}")]
    Malformed {
        /// The content type of the codec that failed.
        content_type: Cow<'static, str>,
        /// Where the decoder stopped, when it says.
        position: Position,
        /// The decoder's own error.
        #[source]
        source: BoxError,
    },
    /// The record's `content-type` header names a format the codec does not
    /// read. Retrying will not help; route the record to a matching codec.
    #[error("content type mismatch: expected `{expected}`, the record says `{found}`")]
    ContentTypeMismatch {
        /// What the codec reads.
        expected: Cow<'static, str>,
        /// What the record declared.
        found: String,
    },
    /// A polymorphic payload names a type that is not compiled in and
    /// registered for the target trait. Retrying will not help; a newer
    /// consumer build may know the type.
    #[error("unknown type tag `{tag}` for `{target}`")]
    UnknownType {
        /// The tag found in the payload or the type header.
        tag: String,
        /// The trait object type being decoded.
        target: &'static str,
    },
    /// A polymorphic payload carries no type tag at all.
    #[error("missing type tag `{tag_key}` for `{target}`")]
    MissingTag {
        /// The key the tag was expected under.
        tag_key: &'static str,
        /// The trait object type being decoded.
        target: &'static str,
    },
    /// Two registered types claim the same tag, so decoding it is ambiguous.
    /// A build problem: fix the `name`s.
    #[error("type tag `{tag}` is registered {count} times for `{target}`; give each type a unique `name`")]
    DuplicateTag {
        /// The contested tag.
        tag: String,
        /// The trait object type.
        target: &'static str,
        /// How many registrations claim it.
        count: usize,
    },
    /// The payload is larger than the codec's configured limit.
    #[error("payload of {size} bytes exceeds the limit of {limit} bytes")]
    TooLarge {
        /// Size of the payload.
        size: usize,
        /// The configured limit.
        limit: usize,
    },
    /// The payload nests deeper than the codec's configured limit.
    #[error("payload nests deeper than the limit of {limit} levels")]
    TooDeep {
        /// The configured limit.
        limit: usize,
    },
    /// A value could not be encoded (a map with non-string keys for JSON, a
    /// failing `Serialize` impl, ...). Nothing was sent.
    #[error("failed to encode a value as {content_type}: {source}")]
    Encode {
        /// The content type of the codec that failed.
        content_type: Cow<'static, str>,
        /// The encoder's own error.
        #[source]
        source: BoxError,
    },
    /// The record was written by a newer version of its type than this
    /// program knows. Never guessed at: retrying will not help; a consumer
    /// built with the newer type will read it (see [`crate::version`]).
    #[error(
        "`{type_name}` version {found} is newer than version {newest}, the newest this program reads"
    )]
    NewerVersion {
        /// The type's name (its tag, for a trait object's concrete type).
        type_name: &'static str,
        /// The version the record says it is.
        found: u32,
        /// The newest version this program reads.
        newest: u32,
    },
    /// The record is of a version older than the type's upcast chain
    /// reaches back to (see [`crate::version`]).
    #[error(
        "`{type_name}` version {found} is older than version {oldest}, the oldest this program reads"
    )]
    OlderVersion {
        /// The type's name (its tag, for a trait object's concrete type).
        type_name: &'static str,
        /// The version the record says it is.
        found: u32,
        /// The oldest version the type's upcast chain starts from.
        oldest: u32,
    },
    /// A step of the type's upcast chain failed, or its output did not
    /// decode as the next version (see [`crate::version`]).
    #[error("cannot upcast `{type_name}` from version {from}: {source}")]
    Upcast {
        /// The type's name (its tag, for a trait object's concrete type).
        type_name: &'static str,
        /// The version the failing step starts from.
        from: u32,
        /// What went wrong.
        #[source]
        source: BoxError,
    },
    /// A record header is missing, malformed or over a limit.
    #[error("invalid header `{name}`: {reason}")]
    Header {
        /// The header's name.
        name: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The broker or librdkafka reported an error. Some are transient:
    /// see [`Error::is_retriable`].
    #[cfg(feature = "kafka")]
    #[error("kafka: {0}")]
    Kafka(#[source] rdkafka::error::KafkaError),
    /// A step of a Kafka transaction failed; `action` says what the caller
    /// should do next (librdkafka's classification).
    #[cfg(feature = "kafka")]
    #[error("transaction failed ({action}): {source}")]
    Transaction {
        /// Retry the step, abort the transaction, or drop the producer.
        action: TransactionAction,
        /// librdkafka's error.
        #[source]
        source: rdkafka::error::KafkaError,
    },
    /// A handler or user callback failed (after its retries, when the
    /// consumer's [`FailurePolicy`](crate::kafka::FailurePolicy) has any).
    #[error("handler failed: {0}")]
    Handler(#[source] BoxError),
    /// A consumer stopped rather than dead-letter one more record: its
    /// [`DeadLetterLimit`](crate::kafka::DeadLetterLimit) was reached,
    /// which usually means a bad deploy rather than bad records. The
    /// record is not marked handled; fix the cause and restart.
    #[error("dead-letter limit reached: {consecutive} in a row, {total} of {seen} records")]
    DeadLetterLimit {
        /// Dead letters in a row, this one included.
        consecutive: u64,
        /// Dead letters since the consumer started, this one included.
        total: u64,
        /// Records read since the consumer started.
        seen: u64,
    },
    /// A message type has no default topic and none was given: add
    /// `#[kafka(topic = "...")]` to the type or name a topic.
    #[error("`{type_name}` has no default topic: add `#[kafka(topic = \"...\")]` or name a topic")]
    NoTopic {
        /// The message type.
        type_name: &'static str,
    },
    /// The record has no value: a tombstone, how a compacted topic deletes
    /// a key. A consumer of `T` skips it (counted as skipped); a consumer
    /// of `Option<T>` receives it as `None`.
    #[error("the record is a tombstone (no value); consume Option<T> to receive tombstones")]
    Tombstone,
    /// A client was configured or used in a way that cannot work (a
    /// required librdkafka property missing, a one-shot consumer run
    /// twice): fix the code or the configuration.
    #[error("configuration: {0}")]
    Config(Cow<'static, str>),
    /// A task of the crate's own (a group member, a partition task, a
    /// blocking librdkafka call handed to a thread) panicked or was
    /// cancelled by its runtime.
    #[error("task failed: {0}")]
    Task(String),
    /// Anything else, with a message saying what.
    #[error("{0}")]
    Other(Cow<'static, str>),
}

impl ErrorKind {
    /// A short, stable name for the kind (`malformed`, `unknown_type`,
    /// `handler`, ...), as written in the `kc_dlq_error_kind` header.
    pub fn name(&self) -> &'static str {
        match self {
            ErrorKind::Malformed { .. } => "malformed",
            ErrorKind::ContentTypeMismatch { .. } => "content_type_mismatch",
            ErrorKind::UnknownType { .. } => "unknown_type",
            ErrorKind::MissingTag { .. } => "missing_tag",
            ErrorKind::DuplicateTag { .. } => "duplicate_tag",
            ErrorKind::TooLarge { .. } => "too_large",
            ErrorKind::TooDeep { .. } => "too_deep",
            ErrorKind::Encode { .. } => "encode",
            ErrorKind::Header { .. } => "header",
            ErrorKind::NewerVersion { .. } => "newer_version",
            ErrorKind::OlderVersion { .. } => "older_version",
            ErrorKind::Upcast { .. } => "upcast",
            #[cfg(feature = "kafka")]
            ErrorKind::Kafka(_) => "kafka",
            #[cfg(feature = "kafka")]
            ErrorKind::Transaction { .. } => "transaction",
            ErrorKind::Handler(_) => "handler",
            ErrorKind::DeadLetterLimit { .. } => "dead_letter_limit",
            ErrorKind::NoTopic { .. } => "no_topic",
            ErrorKind::Tombstone => "tombstone",
            ErrorKind::Config(_) => "config",
            ErrorKind::Task(_) => "task",
            ErrorKind::Other(_) => "other",
        }
    }
}

/// Where a record came from: enough to find it again, commit past it, or
/// dead-letter it by hand.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordMeta {
    /// Topic of the record (shared: a consumer reads few topics).
    pub topic: Arc<str>,
    /// Partition of the record.
    pub partition: i32,
    /// Offset of the record.
    pub offset: i64,
    /// The record key, as raw bytes.
    pub key: Option<Bytes>,
    /// The record headers, in order, as raw bytes.
    pub headers: Vec<(String, Option<Bytes>)>,
    /// The record timestamp in milliseconds since the Unix epoch, when known.
    pub timestamp: Option<i64>,
}

/// The crate's error: an [`ErrorKind`] plus what is needed to recover.
pub struct Error {
    inner: Box<Inner>,
}

struct Inner {
    kind: ErrorKind,
    payload: Option<Bytes>,
    record: Option<RecordMeta>,
}

impl Error {
    /// An error of this kind with no payload attached.
    pub fn new(kind: ErrorKind) -> Self {
        Error {
            inner: Box::new(Inner {
                kind,
                payload: None,
                record: None,
            }),
        }
    }

    /// An error of this kind that keeps a copy of the offending payload.
    pub fn with_payload(kind: ErrorKind, payload: &[u8]) -> Self {
        Self::new(kind).payload_bytes(Bytes::copy_from_slice(payload))
    }

    /// A malformed-payload error, with the decoder's error and position.
    pub fn malformed(
        content_type: impl Into<Cow<'static, str>>,
        position: Position,
        source: impl Into<BoxError>,
        payload: &[u8],
    ) -> Self {
        Self::with_payload(
            ErrorKind::Malformed {
                content_type: content_type.into(),
                position,
                source: source.into(),
            },
            payload,
        )
    }

    /// An encode error.
    pub fn encode(content_type: impl Into<Cow<'static, str>>, source: impl Into<BoxError>) -> Self {
        Self::new(ErrorKind::Encode {
            content_type: content_type.into(),
            source: source.into(),
        })
    }

    /// Attaches (or replaces) the raw payload.
    #[must_use]
    pub fn payload_bytes(mut self, payload: Bytes) -> Self {
        self.inner.payload = Some(payload);
        self
    }

    /// Attaches where the record came from.
    #[must_use]
    pub fn at_record(mut self, meta: RecordMeta) -> Self {
        self.inner.record = Some(meta);
        self
    }

    /// What went wrong.
    pub fn kind(&self) -> &ErrorKind {
        &self.inner.kind
    }

    /// Consumes the error, returning its kind.
    pub fn into_kind(self) -> ErrorKind {
        self.inner.kind
    }

    /// The raw payload that failed, when the error came from decoding.
    pub fn payload(&self) -> Option<&[u8]> {
        self.inner.payload.as_deref()
    }

    /// Takes the raw payload out of the error.
    pub fn take_payload(&mut self) -> Option<Bytes> {
        self.inner.payload.take()
    }

    /// Where the failing record came from, for errors raised by a consumer.
    pub fn record(&self) -> Option<&RecordMeta> {
        self.inner.record.as_ref()
    }

    /// `true` for a payload the codec could not read (malformed, unknown
    /// or missing type, content type mismatch, over a limit, a version it
    /// does not read or cannot upcast): a poison pill
    /// that no retry will fix.
    pub fn is_poison(&self) -> bool {
        matches!(
            self.kind(),
            ErrorKind::Malformed { .. }
                | ErrorKind::ContentTypeMismatch { .. }
                | ErrorKind::UnknownType { .. }
                | ErrorKind::MissingTag { .. }
                | ErrorKind::DuplicateTag { .. }
                | ErrorKind::TooLarge { .. }
                | ErrorKind::TooDeep { .. }
                | ErrorKind::Header { .. }
                | ErrorKind::NewerVersion { .. }
                | ErrorKind::OlderVersion { .. }
                | ErrorKind::Upcast { .. }
        )
    }

    /// `true` when retrying the operation may succeed (a transient broker
    /// condition such as a queue full or a broker being down).
    pub fn is_retriable(&self) -> bool {
        match self.kind() {
            #[cfg(feature = "kafka")]
            ErrorKind::Kafka(e) => e
                .rdkafka_error_code()
                .is_some_and(crate::kafka::codes::retriable),
            #[cfg(feature = "kafka")]
            ErrorKind::Transaction { action, .. } => *action == TransactionAction::Retry,
            _ => false,
        }
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = f.debug_struct("Error");
        s.field("kind", &self.inner.kind);
        if let Some(p) = &self.inner.payload {
            s.field("payload_len", &p.len());
        }
        if let Some(r) = &self.inner.record {
            s.field("topic", &r.topic)
                .field("partition", &r.partition)
                .field("offset", &r.offset);
        }
        s.finish()
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.inner.kind, f)?;
        if let Some(r) = &self.inner.record {
            write!(
                f,
                " (topic `{}`, partition {}, offset {})",
                r.topic, r.partition, r.offset
            )?;
        }
        Ok(())
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        std::error::Error::source(&self.inner.kind)
    }
}

impl From<ErrorKind> for Error {
    fn from(kind: ErrorKind) -> Self {
        Error::new(kind)
    }
}

#[cfg(feature = "kafka")]
impl From<rdkafka::error::KafkaError> for Error {
    fn from(e: rdkafka::error::KafkaError) -> Self {
        Error::new(ErrorKind::Kafka(e))
    }
}

/// `Result` with the crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(feature = "kafka")]
/// What to do after a transaction step failed, as librdkafka classifies
/// the error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TransactionAction {
    /// Transient (a coordinator moving, a timeout): call the same step again.
    Retry,
    /// The transaction cannot commit: abort it, go back to the input it
    /// covered and process that again in a new transaction.
    Abort,
    /// The producer cannot go on (another instance with the same
    /// `transactional.id` fenced it, the broker refused it for good): drop
    /// it. A new producer with the same id fences what is left of this one.
    Fatal,
}

#[cfg(feature = "kafka")]
impl fmt::Display for TransactionAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TransactionAction::Retry => "retriable",
            TransactionAction::Abort => "abort the transaction",
            TransactionAction::Fatal => "fatal",
        })
    }
}

#[cfg(feature = "kafka")]
impl Error {
    /// For an error raised inside a transaction: what the caller should do.
    pub fn transaction_action(&self) -> Option<TransactionAction> {
        match self.kind() {
            ErrorKind::Transaction { action, .. } => Some(*action),
            _ => None,
        }
    }
}
