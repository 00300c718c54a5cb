//! [`Outbox`]: records encoded now and sent later, in a transaction; and
//! the offsets a batch of records commits.

use rdkafka::message::OwnedHeaders;
use rdkafka::{Offset, TopicPartitionList};
use serde::Serialize;

use super::producer::{default_topic, encode_message, encode_raw, encode_value, Encoded};
use crate::codec::KafkaCodec;
use crate::error::Result;
use crate::message::{KafkaMessage, ToKey};

/// Records to send in a transaction, encoded as they are added.
///
/// The handler of an [`ExactlyOnce`](super::ExactlyOnce) pipeline returns
/// one per input record; [`Transaction::send_all`](super::Transaction::send_all) sends one.
#[derive(Debug, Default)]
pub struct Outbox {
    pub(crate) records: Vec<Outgoing>,
}

#[derive(Debug)]
pub(crate) struct Outgoing {
    pub(crate) topic: String,
    pub(crate) buf: Vec<u8>,
    pub(crate) encoded: Encoded,
}

impl Outbox {
    /// An empty outbox.
    pub fn new() -> Self {
        Outbox::default()
    }

    /// How many records it holds.
    pub fn len(&self) -> usize {
        self.records.len()
    }

    /// Whether it holds no record.
    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    fn push(
        &mut self,
        topic: &str,
        encode: impl FnOnce(&mut Vec<u8>) -> Result<Encoded>,
    ) -> Result<()> {
        let mut buf = Vec::new();
        let mut encoded = encode(&mut buf)?;
        // The span handling the record that produced this one (a
        // pipeline's `process` span) is the trace the output continues.
        encoded.headers = super::telemetry::inject(encoded.headers);
        self.records.push(Outgoing {
            topic: topic.to_owned(),
            buf,
            encoded,
        });
        Ok(())
    }

    /// Adds a message for its type's default topic.
    pub fn send<T: KafkaMessage>(&mut self, message: &T) -> Result<()> {
        self.send_to(default_topic::<T>()?, message)
    }

    /// Adds a message for `topic`, with the key, codec and headers of its
    /// type.
    pub fn send_to<T: KafkaMessage>(&mut self, topic: &str, message: &T) -> Result<()> {
        self.send_with(topic, message, &T::Codec::default())
    }

    /// Adds a message encoded with an explicit codec.
    pub fn send_with<T, C>(&mut self, topic: &str, message: &T, codec: &C) -> Result<()>
    where
        T: KafkaMessage,
        C: KafkaCodec<T> + ?Sized,
    {
        self.push(topic, |buf| encode_message(message, codec, buf))
    }

    /// Adds any serializable value as JSON, with an optional key.
    pub fn send_value<K, V>(&mut self, topic: &str, key: Option<&K>, value: &V) -> Result<()>
    where
        K: ToKey + ?Sized,
        V: Serialize + ?Sized,
    {
        self.push(topic, |buf| encode_value(key, value, buf))
    }

    /// Adds bytes as they are.
    pub fn send_raw(
        &mut self,
        topic: &str,
        key: Option<&[u8]>,
        payload: Option<&[u8]>,
        headers: OwnedHeaders,
    ) {
        let mut buf = Vec::new();
        let encoded = encode_raw(key, payload, headers, &mut buf);
        self.records.push(Outgoing {
            topic: topic.to_owned(),
            buf,
            encoded,
        });
    }

    /// Moves the records of `other` to the end of this one.
    pub fn append(&mut self, other: Outbox) {
        self.records.extend(other.records);
    }
}

/// The offsets a batch of records moves its partitions to: the last offset
/// of each partition plus one, as Kafka commits them.
pub(crate) fn next_offsets<'a>(
    records: impl IntoIterator<Item = (&'a str, i32, i64)>,
) -> Result<TopicPartitionList> {
    let mut last: Vec<(&str, i32, i64)> = Vec::new();
    for (topic, partition, offset) in records {
        match last
            .iter_mut()
            .find(|(t, p, _)| *t == topic && *p == partition)
        {
            Some(entry) => entry.2 = entry.2.max(offset),
            None => last.push((topic, partition, offset)),
        }
    }
    let mut tpl = TopicPartitionList::with_capacity(last.len());
    for (topic, partition, offset) in last {
        tpl.add_partition_offset(topic, partition, Offset::Offset(offset + 1))?;
    }
    Ok(tpl)
}
