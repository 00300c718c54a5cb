use std::sync::{Arc, OnceLock};

use bytes::Bytes;
use rdkafka::message::{BorrowedHeaders, BorrowedMessage, Headers, Message};

use crate::error::RecordMeta;

/// A decoded record: the value plus everything Kafka said about it.
///
/// What Kafka said is kept as librdkafka gave it, copied once into one
/// buffer (topic, payload, key, header names and values): the accessors
/// borrow from it, and the owned [`RecordMeta`] is built only when asked
/// for, by [`meta`](Self::meta) or [`into_parts`](Self::into_parts).
#[derive(Debug, Clone)]
pub struct Record<T> {
    value: T,
    raw: Raw,
    meta: OnceLock<RecordMeta>,
}

impl<T> Record<T> {
    pub(crate) fn new(raw: Raw, value: T) -> Self {
        Record {
            value,
            raw,
            meta: OnceLock::new(),
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
        let payload = self.raw.payload_bytes();
        let meta = match self.meta.into_inner() {
            Some(meta) => meta,
            None => self.raw.meta(),
        };
        (meta, payload, self.value)
    }

    /// Topic, partition, offset, key, headers and timestamp, as owned
    /// values (built on the first call).
    pub fn meta(&self) -> &RecordMeta {
        self.meta.get_or_init(|| self.raw.meta())
    }

    /// The topic.
    pub fn topic(&self) -> &str {
        self.raw.topic()
    }

    /// The partition.
    pub fn partition(&self) -> i32 {
        self.raw.partition
    }

    /// The offset.
    pub fn offset(&self) -> i64 {
        self.raw.offset
    }

    /// The key's raw bytes.
    pub fn key(&self) -> Option<&[u8]> {
        self.raw.key()
    }

    /// The key read back as `K`, as a [`ToKey`](crate::ToKey) wrote it:
    /// `Ok(None)` for a record without a key, an error (kind
    /// [`Header`](crate::ErrorKind::Header), named `key`) for one that is
    /// not a `K`.
    ///
    /// ```
    /// use kafka_codec::kafka::Record;
    /// let record = Record::builder(()).key(&42u64).build();
    /// assert_eq!(record.key_as::<u64>()?, Some(42));
    /// assert!(record.key_as::<uuid::Uuid>().is_err());
    /// # Ok::<_, kafka_codec::Error>(())
    /// ```
    pub fn key_as<K: crate::FromKey>(&self) -> crate::Result<Option<K>> {
        self.key()
            .map(|bytes| {
                K::from_key(bytes).map_err(|reason| {
                    crate::Error::new(crate::ErrorKind::Header {
                        name: "key".into(),
                        reason,
                    })
                    .at_record(self.raw.meta())
                })
            })
            .transpose()
    }

    /// The timestamp in milliseconds since the Unix epoch, when known.
    pub fn timestamp(&self) -> Option<i64> {
        self.raw.timestamp
    }

    /// The first header called `name`.
    pub fn header(&self, name: &str) -> Option<&[u8]> {
        self.headers()
            .find(|(k, _)| *k == name)
            .and_then(|(_, v)| v)
    }

    /// The version the record's `ce_schemaversion` header declares. `None`
    /// for a record without one (or one that is not a number): it was read
    /// as the version its payload's `version_field` names, else as its
    /// type's oldest version (see [`crate::version`]). The value is always
    /// of the current version, upcast if needed.
    pub fn version(&self) -> Option<u32> {
        let text = std::str::from_utf8(self.header(crate::headers::VERSION)?).ok()?;
        text.trim().parse().ok()
    }

    /// The headers, in order: name and raw value (`None` for a header
    /// without a value).
    pub fn headers(&self) -> impl Iterator<Item = (&str, Option<&[u8]>)> + '_ {
        self.raw.headers()
    }

    /// The raw payload the value was decoded from.
    pub fn payload(&self) -> &[u8] {
        &self.raw.bytes[self.raw.topic_end..self.raw.payload_end]
    }
}

impl<T> Record<T> {
    /// A record made by hand: to unit-test a handler with no broker.
    /// Topic `test`, partition 0, offset 0, no key, no headers, an empty
    /// payload unless set.
    ///
    /// ```
    /// use kafka_codec::kafka::Record;
    /// # #[derive(Debug, serde::Serialize, serde::Deserialize, kafka_codec::KafkaMessage)]
    /// # #[kafka(topic = "orders")]
    /// # struct Order { id: u32 }
    /// async fn bill(record: Record<Order>) -> Result<(), String> {
    ///     if record.value().id == 0 { Err(format!("order 0 at {}", record.offset())) } else { Ok(()) }
    /// }
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let record = Record::builder(Order { id: 0 }).topic("orders").offset(7).build();
    /// assert_eq!(bill(record).await, Err("order 0 at 7".to_owned()));
    /// # }
    /// ```
    pub fn builder(value: T) -> RecordBuilder<T> {
        RecordBuilder {
            value,
            topic: "test".into(),
            partition: 0,
            offset: 0,
            timestamp: None,
            key: None,
            payload: Vec::new(),
            headers: Vec::new(),
        }
    }
}

/// Builds a [`Record`] by hand; see [`Record::builder`].
#[derive(Debug, Clone)]
pub struct RecordBuilder<T> {
    value: T,
    topic: String,
    partition: i32,
    offset: i64,
    timestamp: Option<i64>,
    key: Option<Vec<u8>>,
    payload: Vec<u8>,
    headers: Vec<(String, Option<Vec<u8>>)>,
}

impl<T> RecordBuilder<T> {
    /// The topic.
    #[must_use]
    pub fn topic(mut self, topic: impl Into<String>) -> Self {
        self.topic = topic.into();
        self
    }

    /// The partition.
    #[must_use]
    pub fn partition(mut self, partition: i32) -> Self {
        self.partition = partition;
        self
    }

    /// The offset.
    #[must_use]
    pub fn offset(mut self, offset: i64) -> Self {
        self.offset = offset;
        self
    }

    /// The timestamp, in milliseconds since the Unix epoch.
    #[must_use]
    pub fn timestamp(mut self, millis: i64) -> Self {
        self.timestamp = Some(millis);
        self
    }

    /// The key, written as a producer would write it.
    #[must_use]
    pub fn key<K: crate::ToKey + ?Sized>(mut self, key: &K) -> Self {
        self.key = crate::message::key_bytes(key);
        self
    }

    /// The raw payload (what a dead letter would carry).
    #[must_use]
    pub fn payload(mut self, payload: impl Into<Vec<u8>>) -> Self {
        self.payload = payload.into();
        self
    }

    /// A header.
    #[must_use]
    pub fn header(mut self, name: impl Into<String>, value: impl Into<Vec<u8>>) -> Self {
        self.headers.push((name.into(), Some(value.into())));
        self
    }

    /// The record.
    pub fn build(self) -> Record<T> {
        let headers: Vec<HeaderRef<'_>> = self
            .headers
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_deref()))
            .collect();
        let raw = Raw::new(
            &self.topic,
            self.partition,
            self.offset,
            self.timestamp,
            &self.payload,
            self.key.as_deref(),
            &headers,
        );
        Record::new(raw, self.value)
    }
}

pub(crate) fn header<'a>(meta: &'a RecordMeta, name: &str) -> Option<&'a [u8]> {
    meta.headers
        .iter()
        .find(|(k, _)| k == name)
        .and_then(|(_, v)| v.as_deref())
}

/// The owned metadata of a message (a copy, for errors and dead letters).
pub(crate) fn meta_of(msg: &BorrowedMessage<'_>) -> RecordMeta {
    Raw::of(msg).meta()
}

/// A header as librdkafka gives it: name and value (`None` when it has
/// none).
pub(crate) type HeaderRef<'a> = (&'a str, Option<&'a [u8]>);

/// The bytes of some headers: names and values.
pub(crate) fn header_bytes(headers: &[HeaderRef<'_>]) -> usize {
    headers
        .iter()
        .map(|(k, v)| k.len() + v.map_or(0, <[u8]>::len))
        .sum()
}

/// How many headers [`HeaderList`] keeps without allocating.
const INLINE_HEADERS: usize = 8;

/// A message's headers read from librdkafka in one pass, so the limits,
/// the hints and the copy do not each walk librdkafka's list (every
/// lookup is a call into C and a UTF-8 check of the name). Up to
/// [`INLINE_HEADERS`] sit on the stack; more take one allocation.
pub(crate) struct HeaderList<'a> {
    inline: [HeaderRef<'a>; INLINE_HEADERS],
    len: usize,
    spilled: Vec<HeaderRef<'a>>,
}

impl<'a> HeaderList<'a> {
    pub(crate) fn of(headers: Option<&'a BorrowedHeaders>) -> Self {
        let mut list = HeaderList {
            inline: [("", None); INLINE_HEADERS],
            len: 0,
            spilled: Vec::new(),
        };
        let Some(headers) = headers else {
            return list;
        };
        // By index: rdkafka's iterator asks librdkafka for the count again
        // at every step.
        let count = headers.count();
        let read = |i| headers.try_get(i).map(|h| (h.key, h.value));
        if count > INLINE_HEADERS {
            list.spilled = (0..count).map_while(read).collect();
            return list;
        }
        for (slot, header) in list.inline.iter_mut().zip((0..count).map_while(read)) {
            *slot = header;
            list.len += 1;
        }
        list
    }

    pub(crate) fn as_slice(&self) -> &[HeaderRef<'a>] {
        if self.spilled.is_empty() {
            &self.inline[..self.len]
        } else {
            &self.spilled
        }
    }
}

/// Marks a header without a value in [`Raw`]'s length table.
const NO_VALUE: u32 = u32::MAX;

/// A message copied out of librdkafka's buffer in one allocation: the
/// topic, the payload, the key, a table of the headers' lengths (two
/// little-endian `u32`s each), then each header's name and value.
#[derive(Debug, Clone)]
pub(crate) struct Raw {
    bytes: Bytes,
    partition: i32,
    offset: i64,
    timestamp: Option<i64>,
    topic_end: usize,
    payload_end: usize,
    /// `None` when the record has no key.
    key_end: Option<usize>,
    table_start: usize,
    /// Where the header names and values start, after the table.
    headers_start: usize,
}

impl Raw {
    /// Copies a message; a missing payload is kept as an empty one.
    pub(crate) fn of(msg: &BorrowedMessage<'_>) -> Raw {
        Raw::copy(msg, msg.topic(), HeaderList::of(msg.headers()).as_slice())
    }

    /// Copies a message whose topic and headers were already read.
    pub(crate) fn copy(msg: &BorrowedMessage<'_>, topic: &str, headers: &[HeaderRef<'_>]) -> Raw {
        Raw::new(
            topic,
            msg.partition(),
            msg.offset(),
            msg.timestamp().to_millis(),
            msg.payload().unwrap_or_default(),
            msg.key(),
            headers,
        )
    }

    /// Copies the parts of a record.
    pub(crate) fn new(
        topic: &str,
        partition: i32,
        offset: i64,
        timestamp: Option<i64>,
        payload: &[u8],
        key: Option<&[u8]>,
        headers: &[HeaderRef<'_>],
    ) -> Raw {
        let count = headers.len();
        let header_bytes = header_bytes(headers);
        let mut buf = Vec::with_capacity(
            topic.len() + payload.len() + key.map_or(0, <[u8]>::len) + header_bytes + 8 * count,
        );
        buf.extend_from_slice(topic.as_bytes());
        let topic_end = buf.len();
        buf.extend_from_slice(payload);
        let payload_end = buf.len();
        let key_end = key.map(|k| {
            buf.extend_from_slice(k);
            buf.len()
        });
        // The length table first, filled as the names and values follow it.
        let table_start = buf.len();
        buf.resize(table_start + 8 * count, 0);
        for (i, &(k, v)) in headers.iter().enumerate() {
            // Kafka bounds a record far below 4 GiB.
            let len = |n: usize| u32::try_from(n).unwrap_or(NO_VALUE - 1);
            let value_len = v.map_or(NO_VALUE, |v| len(v.len()));
            let at = table_start + 8 * i;
            buf[at..at + 4].copy_from_slice(&len(k.len()).to_le_bytes());
            buf[at + 4..at + 8].copy_from_slice(&value_len.to_le_bytes());
            buf.extend_from_slice(k.as_bytes());
            buf.extend_from_slice(v.unwrap_or_default());
        }
        Raw {
            bytes: Bytes::from(buf),
            partition,
            offset,
            timestamp,
            topic_end,
            payload_end,
            key_end,
            table_start,
            headers_start: table_start + 8 * count,
        }
    }

    fn topic(&self) -> &str {
        // Copied from a `&str`: always UTF-8.
        std::str::from_utf8(&self.bytes[..self.topic_end]).unwrap_or_default()
    }

    fn key(&self) -> Option<&[u8]> {
        self.key_end.map(|end| &self.bytes[self.payload_end..end])
    }

    pub(crate) fn payload_bytes(&self) -> Bytes {
        self.bytes.slice(self.topic_end..self.payload_end)
    }

    fn headers(&self) -> impl Iterator<Item = (&str, Option<&[u8]>)> + '_ {
        let mut at = self.headers_start;
        self.bytes[self.table_start..self.headers_start]
            .chunks_exact(8)
            .map(move |lens| {
                let word =
                    |i: usize| u32::from_le_bytes([lens[i], lens[i + 1], lens[i + 2], lens[i + 3]]);
                let (name_len, value_len) = (word(0) as usize, word(4));
                let name = &self.bytes[at..at + name_len];
                at += name_len;
                let value = (value_len != NO_VALUE).then(|| {
                    let v = &self.bytes[at..at + value_len as usize];
                    at += v.len();
                    v
                });
                // Copied from a `&str`: always UTF-8.
                (std::str::from_utf8(name).unwrap_or_default(), value)
            })
    }

    /// The owned metadata.
    pub(crate) fn meta(&self) -> RecordMeta {
        let range_of = |part: &[u8]| {
            let start = part.as_ptr() as usize - self.bytes.as_ptr() as usize;
            self.bytes.slice(start..start + part.len())
        };
        RecordMeta {
            topic: Arc::from(self.topic()),
            partition: self.partition,
            offset: self.offset,
            key: self.key().map(range_of),
            headers: self
                .headers()
                .map(|(k, v)| (k.to_owned(), v.map(range_of)))
                .collect(),
            timestamp: self.timestamp,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_keeps_every_part_in_place() {
        let headers = [
            ("content-type", Some(&b"application/json"[..])),
            ("empty", None),
            ("ce_type", Some(&b""[..])),
            ("content-type", Some(&b"second"[..])),
        ];
        let raw = Raw::new(
            "orders",
            3,
            42,
            Some(7),
            b"{\"a\":1}",
            Some(b"k1"),
            &headers,
        );
        let record = Record::new(raw, ());
        assert_eq!(record.topic(), "orders");
        assert_eq!(
            (record.partition(), record.offset(), record.timestamp()),
            (3, 42, Some(7))
        );
        assert_eq!(record.payload(), b"{\"a\":1}");
        assert_eq!(record.key(), Some(&b"k1"[..]));
        assert_eq!(record.headers().collect::<Vec<_>>(), headers);
        assert_eq!(
            record.header("content-type"),
            Some(&b"application/json"[..])
        );
        assert_eq!(record.header("empty"), None);
        assert_eq!(record.header("ce_type"), Some(&b""[..]));
        let meta = record.meta().clone();
        assert_eq!(&*meta.topic, "orders");
        assert_eq!(meta.key.as_deref(), Some(&b"k1"[..]));
        let owned: Vec<_> = meta
            .headers
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_deref()))
            .collect();
        assert_eq!(owned, headers);
        let (parts, payload, ()) = record.into_parts();
        assert_eq!(&payload[..], b"{\"a\":1}");
        assert_eq!(parts.offset, 42);
    }

    #[test]
    fn raw_without_key_or_headers() {
        let raw = Raw::new("t", 0, 0, None, b"", None, &[]);
        let record = Record::new(raw, 1u8);
        assert_eq!(record.key(), None);
        assert_eq!(record.payload(), b"");
        assert_eq!(record.headers().count(), 0);
        assert!(record.meta().headers.is_empty());
        assert_eq!(record.meta().key, None);
    }
}
