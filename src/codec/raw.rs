//! Pass-through codecs for payloads that are already bytes or text.

use super::{KafkaCodec, Limits};
use crate::error::{Error, Position, Result};

/// Raw bytes, passed through untouched: `application/octet-stream`.
///
/// Works for `Vec<u8>` and [`bytes::Bytes`]. Only the size limit applies.
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
