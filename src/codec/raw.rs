//! Pass-through codecs for payloads that are already bytes or text.

use super::{Hints, KafkaCodec, Limits};
use crate::error::{Error, ErrorKind, Position, Result};
use crate::message::KafkaMessage;

/// Raw bytes, passed through untouched: `application/octet-stream`.
///
/// Works for `Vec<u8>` and [`bytes::Bytes`]. Only the size limit applies,
/// and it reads records of any content type: bytes are what every record
/// is, so a consumer of `Vec<u8>` (an inspection tool, a forwarder) reads
/// them all.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Bytes {
    limits: Limits,
}

impl Bytes {
    /// The content type this codec writes.
    pub const CONTENT_TYPE: &'static str = "application/octet-stream";

    /// Sets the largest payload accepted, in bytes.
    #[must_use]
    pub const fn max_payload(mut self, bytes: usize) -> Self {
        self.limits.max_payload = bytes;
        self
    }
}

impl KafkaCodec<Vec<u8>> for Bytes {
    fn content_type(&self) -> &str {
        Self::CONTENT_TYPE
    }
    fn accepts(&self, _content_type: &str) -> bool {
        true
    }
    fn encode(&self, value: &Vec<u8>, buf: &mut Vec<u8>) -> Result<()> {
        buf.extend_from_slice(value);
        Ok(())
    }
    fn decode(&self, bytes: &[u8]) -> Result<Vec<u8>> {
        self.limits.check_size(bytes)?;
        Ok(bytes.to_vec())
    }
}

impl KafkaCodec<bytes::Bytes> for Bytes {
    fn content_type(&self) -> &str {
        Self::CONTENT_TYPE
    }
    fn accepts(&self, _content_type: &str) -> bool {
        true
    }
    fn encode(&self, value: &bytes::Bytes, buf: &mut Vec<u8>) -> Result<()> {
        buf.extend_from_slice(value);
        Ok(())
    }
    fn decode(&self, bytes: &[u8]) -> Result<bytes::Bytes> {
        self.limits.check_size(bytes)?;
        Ok(bytes::Bytes::copy_from_slice(bytes))
    }
}

/// UTF-8 text, validated on decode: `text/plain; charset=utf-8`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Utf8 {
    limits: Limits,
}

impl Utf8 {
    /// The content type this codec writes.
    pub const CONTENT_TYPE: &'static str = "text/plain; charset=utf-8";

    /// Sets the largest payload accepted, in bytes.
    #[must_use]
    pub const fn max_payload(mut self, bytes: usize) -> Self {
        self.limits.max_payload = bytes;
        self
    }
}

impl KafkaCodec<String> for Utf8 {
    fn content_type(&self) -> &str {
        Self::CONTENT_TYPE
    }
    fn encode(&self, value: &String, buf: &mut Vec<u8>) -> Result<()> {
        buf.extend_from_slice(value.as_bytes());
        Ok(())
    }
    fn decode(&self, bytes: &[u8]) -> Result<String> {
        self.limits.check_size(bytes)?;
        match std::str::from_utf8(bytes) {
            Ok(s) => Ok(s.to_owned()),
            Err(e) => Err(Error::malformed(
                Self::CONTENT_TYPE,
                Position::Offset(e.valid_up_to()),
                e,
                bytes,
            )),
        }
    }
}

/// The codec of `Option<T>`: `T`'s codec `C` for values, and `None` for a
/// record without one (a tombstone, which the consumer hands over without
/// decoding). A tombstone has no bytes to encode: send it with
/// [`Producer::tombstone`](crate::kafka::Producer::tombstone).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OrTombstone<C>(pub C);

impl<T: KafkaMessage, C: KafkaCodec<T>> KafkaCodec<Option<T>> for OrTombstone<C> {
    fn content_type(&self) -> &str {
        self.0.content_type()
    }
    fn accepts(&self, content_type: &str) -> bool {
        self.0.accepts(content_type)
    }
    fn encode(&self, value: &Option<T>, buf: &mut Vec<u8>) -> Result<()> {
        match value {
            Some(value) => value.encode_with(&self.0, buf),
            None => Err(Error::new(ErrorKind::Encode {
                content_type: self.0.content_type().to_owned().into(),
                source: "a tombstone has no value to encode: send it with Producer::tombstone"
                    .into(),
            })),
        }
    }
    fn decode(&self, bytes: &[u8]) -> Result<Option<T>> {
        T::decode_with(&self.0, bytes, &Hints::NONE).map(Some)
    }
    fn decode_hinted(&self, bytes: &[u8], hints: &Hints<'_>) -> Result<Option<T>> {
        T::decode_with(&self.0, bytes, hints).map(Some)
    }
}
