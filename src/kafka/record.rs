use std::sync::Arc;

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

/// The topic names a consumer has seen, shared by its records.
#[derive(Debug, Default)]
pub(crate) struct Topics(std::sync::Mutex<Vec<Arc<str>>>);

impl Topics {
    fn get(&self, topic: &str) -> Arc<str> {
        let Ok(mut seen) = self.0.lock() else {
            return topic.into();
        };
        if let Some(t) = seen.iter().find(|t| ***t == *topic) {
            return t.clone();
        }
        let t: Arc<str> = topic.into();
        // Bounded: a consumer subscribed by pattern may see many topics.
        if seen.len() < 1024 {
            seen.push(t.clone());
        }
        t
    }
}

/// Copies what a record's decoding or dead-lettering may need out of
/// librdkafka's buffer: key, header values and payload into one shared
/// buffer (one allocation), the metadata pointing into it.
pub(crate) fn meta_of(msg: &BorrowedMessage<'_>, topics: &Topics) -> (RecordMeta, Option<Bytes>) {
    let key = msg.key();
    let payload = msg.payload();
    let hs = msg.headers();
    let header_bytes: usize = hs.map_or(0, |hs| {
        hs.iter().map(|h| h.value.map_or(0, <[u8]>::len)).sum()
    });
    let mut buf = Vec::with_capacity(
        key.map_or(0, <[u8]>::len) + payload.map_or(0, <[u8]>::len) + header_bytes,
    );
    let mut put = |part: &[u8]| {
        let start = buf.len();
        buf.extend_from_slice(part);
        start..buf.len()
    };
    let key_at = key.map(&mut put);
    let payload_at = payload.map(&mut put);
    let header_at: Vec<(String, Option<std::ops::Range<usize>>)> = hs
        .map(|hs| {
            hs.iter()
                .map(|h| (h.key.to_owned(), h.value.map(&mut put)))
                .collect()
        })
        .unwrap_or_default();
    let shared = Bytes::from(buf);
    let meta = RecordMeta {
        topic: topics.get(msg.topic()),
        partition: msg.partition(),
        offset: msg.offset(),
        key: key_at.map(|r| shared.slice(r)),
        headers: header_at
            .into_iter()
            .map(|(k, v)| (k, v.map(|r| shared.slice(r))))
            .collect(),
        timestamp: msg.timestamp().to_millis(),
    };
    (meta, payload_at.map(|r| shared.slice(r)))
}
