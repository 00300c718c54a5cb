//! A test kit (feature `testing`): what a user's tests need around a
//! handler. [`Record::builder`](super::Record::builder) makes a record by
//! hand (no broker, no feature needed);
//! [`Embedded::fresh_topic`](super::embedded::Embedded::fresh_topic) gives
//! each test its own topic on the embedded cluster; [`read_dead_letters`]
//! reads what a consumer dead-lettered, with the error it recorded.

use std::time::Duration;

use super::builder::ConsumerBuilder;
use super::consumer::Consumer;
use super::policy::CommitMode;
use super::record::Record;
use super::report::TopicPartition;
use crate::error::{Error, ErrorKind, Result};
use crate::headers;

/// A record a consumer wrote to its dead-letter topic: the original key,
/// value and headers byte for byte, and what went wrong.
#[derive(Debug, Clone)]
pub struct DeadLetter {
    /// The dead letter as read: its payload is the original record's.
    pub record: Record<Vec<u8>>,
    /// The error kind (`handler`, `malformed`, `unknown_type`, ...).
    pub kind: String,
    /// The error message.
    pub message: String,
    /// Where the original record was.
    pub source: TopicPartition,
    /// The original record's offset.
    pub offset: i64,
    /// How many times its handler ran (1 for records that did not decode).
    pub attempts: u32,
}

impl DeadLetter {
    /// Reads the error headers of a dead letter; `None` if a header is
    /// missing (not a dead letter of this crate's).
    pub fn of(record: Record<Vec<u8>>) -> Option<Self> {
        fn text(record: &Record<Vec<u8>>, name: &str) -> Option<String> {
            record
                .header(name)
                .map(|v| String::from_utf8_lossy(v).into_owned())
        }
        fn number<N: std::str::FromStr>(record: &Record<Vec<u8>>, name: &str) -> Option<N> {
            text(record, name)?.parse().ok()
        }
        Some(DeadLetter {
            kind: text(&record, headers::DLQ_ERROR_KIND)?,
            message: text(&record, headers::DLQ_ERROR_MESSAGE)?,
            source: TopicPartition::new(
                text(&record, headers::DLQ_TOPIC)?,
                number(&record, headers::DLQ_PARTITION)?,
            ),
            offset: number(&record, headers::DLQ_OFFSET)?,
            attempts: number(&record, headers::DLQ_ATTEMPTS)?,
            record,
        })
    }
}

/// Reads `count` dead letters from `topic` (from its start, with a group of
/// its own), waiting `within` at most.
///
/// ```no_run
/// # async fn demo() -> kafka_codec::Result<()> {
/// use std::time::Duration;
/// use kafka_codec::kafka::testing::read_dead_letters;
/// let letters = read_dead_letters("localhost:9092", "orders.dlq", 1, Duration::from_secs(30)).await?;
/// assert_eq!(letters[0].kind, "handler");
/// assert_eq!(letters[0].source.topic, "orders");
/// # Ok(()) }
/// ```
pub async fn read_dead_letters(
    bootstrap_servers: &str,
    topic: &str,
    count: usize,
    within: Duration,
) -> Result<Vec<DeadLetter>> {
    let group = super::embedded::unique("kafka-codec-dead-letters");
    let reader: Consumer<Vec<u8>> = ConsumerBuilder::new(bootstrap_servers, &group)
        .commit_mode(CommitMode::AtMostOnce)
        .topics(&[topic])
        .build()?;
    let mut letters = Vec::with_capacity(count);
    let read = async {
        while letters.len() < count {
            let record = reader.next().await?;
            let at = (record.partition(), record.offset());
            let letter = DeadLetter::of(record).ok_or_else(|| {
                Error::new(ErrorKind::Other(
                    format!(
                        "{topic} {}@{}: not a dead letter (its error headers are missing)",
                        at.0, at.1
                    )
                    .into(),
                ))
            })?;
            letters.push(letter);
        }
        Ok::<_, Error>(())
    };
    match tokio::time::timeout(within, read).await {
        Ok(read) => read.map(|()| letters),
        Err(_) => Err(Error::new(ErrorKind::Other(
            format!("{count} dead letters not read from {topic} within {within:?}").into(),
        ))),
    }
}
