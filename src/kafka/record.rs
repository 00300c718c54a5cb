use bytes::Bytes;
use rdkafka::message::{BorrowedMessage, Headers, Message};

use crate::error::RecordMeta;

/// A decoded record: the value plus everything Kafka said about it.
#[derive(Debug, Clone)]
pub struct Record<T> {
    meta: RecordMeta,
    payload: Bytes,
    value: T,
}

impl<T> Record<T> {
    pub(crate) fn new(meta: RecordMeta, payload: Bytes, value: T) -> Self {
        Record {
            meta,
            payload,
            value,
        }
    }

    /// The decoded value.
    pub fn value(&self) -> &T {
        &self.value
    }

    /// Takes the decoded value.
    pub fn into_value(self) -> T {
        self.value
    }

    /// Splits into metadata, raw payload and value.
    pub fn into_parts(self) -> (RecordMeta, Bytes, T) {
        (self.meta, self.payload, self.value)
    }

    /// Topic, partition, offset, key, headers and timestamp.
    pub fn meta(&self) -> &RecordMeta {
        &self.meta
    }

    /// The topic.
    pub fn topic(&self) -> &str {
        &self.meta.topic
    }

    /// The partition.
    pub fn partition(&self) -> i32 {
        self.meta.partition
    }

    /// The offset.
    pub fn offset(&self) -> i64 {
        self.meta.offset
    }

    /// The key's raw bytes.
    pub fn key(&self) -> Option<&[u8]> {
        self.meta.key.as_deref()
    }

    /// The timestamp in milliseconds since the Unix epoch, when known.
    pub fn timestamp(&self) -> Option<i64> {
        self.meta.timestamp
    }

    /// The first header called `name`.
    pub fn header(&self, name: &str) -> Option<&[u8]> {
        header(&self.meta, name)
    }

    /// The raw payload the value was decoded from.
    pub fn payload(&self) -> &[u8] {
        &self.payload
    }
}

pub(crate) fn header<'a>(meta: &'a RecordMeta, name: &str) -> Option<&'a [u8]> {
    meta.headers
        .iter()
        .find(|(k, _)| k == name)
        .and_then(|(_, v)| v.as_deref())
}

/// Copies what a record's decoding or dead-lettering may need out of
/// librdkafka's buffer.
pub(crate) fn meta_of(msg: &BorrowedMessage<'_>) -> RecordMeta {
    let headers = msg
        .headers()
        .map(|hs| {
            hs.iter()
                .map(|h| (h.key.to_owned(), h.value.map(Bytes::copy_from_slice)))
                .collect()
        })
        .unwrap_or_default();
    RecordMeta {
        topic: msg.topic().to_owned(),
        partition: msg.partition(),
        offset: msg.offset(),
        key: msg.key().map(Bytes::copy_from_slice),
        headers,
        timestamp: msg.timestamp().to_millis(),
    }
}
