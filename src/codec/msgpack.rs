//! MessagePack through rmp-serde (feature `msgpack`).

use std::io::Cursor;

use serde::de::DeserializeOwned;
use serde::Serialize;

use super::{Builtin, KafkaCodec, Limits};
use crate::error::{Error, ErrorKind, Position, Result};

/// MessagePack, with rmp-serde.
///
/// Content type `application/msgpack`. Structs are written as maps with
/// their field names (rmp-serde's "named" form), so the wire shape matches
/// JSON's: fields can be added, reordered or skipped, and internally tagged
/// trait objects work. Non-finite floats round-trip exactly.
///
/// **Limits.** [`Limits::max_payload`] bounds the payload size and
/// [`Limits::max_depth`] the nesting depth (rmp-serde enforces it while
/// decoding). Declared collection lengths do not pre-allocate more than the
/// payload can hold.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MsgPack {
    limits: Limits,
}

impl MsgPack {
    /// The content type this codec writes.
    pub const CONTENT_TYPE: &'static str = "application/msgpack";

    /// A MessagePack codec with the default limits.
    pub const fn new() -> Self {
        MsgPack {
            limits: Limits::DEFAULT,
        }
    }

    /// Sets the largest payload accepted, in bytes.
    #[must_use]
    pub const fn max_payload(mut self, bytes: usize) -> Self {
        self.limits.max_payload = bytes;
        self
    }

    /// Sets the deepest nesting accepted (at least 1, at most 65535).
    #[must_use]
    pub fn max_depth(mut self, depth: usize) -> Self {
        self.limits.max_depth = depth.clamp(1, usize::from(u16::MAX));
        self
    }

    /// The limits in force.
    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// Decodes any deserializable value, enforcing the limits.
    pub(crate) fn decode_value<T: DeserializeOwned>(&self, bytes: &[u8]) -> Result<T> {
        self.limits.check_size(bytes)?;
        let mut de = rmp_serde::Deserializer::new(Cursor::new(bytes));
        de.set_max_depth(self.limits.max_depth);
        let result = T::deserialize(&mut de);
        let consumed = usize::try_from(de.position()).unwrap_or(usize::MAX);
        let value = result.map_err(|e| self.error(e, consumed, bytes))?;
        if consumed != bytes.len() {
            return Err(Error::malformed(
                Self::CONTENT_TYPE,
                Position::Offset(consumed),
                "trailing bytes after the value",
                bytes,
            ));
        }
        Ok(value)
    }

    #[cold]
    fn error(&self, e: rmp_serde::decode::Error, offset: usize, bytes: &[u8]) -> Error {
        if matches!(e, rmp_serde::decode::Error::DepthLimitExceeded) {
            return Error::with_payload(
                ErrorKind::TooDeep {
                    limit: self.limits.max_depth,
                },
                bytes,
            );
        }
        Error::malformed(Self::CONTENT_TYPE, Position::Offset(offset), e, bytes)
    }
}

impl<T: Serialize + DeserializeOwned> KafkaCodec<T> for MsgPack {
    #[inline]
    fn content_type(&self) -> &str {
        Self::CONTENT_TYPE
    }

    fn encode(&self, value: &T, buf: &mut Vec<u8>) -> Result<()> {
        let mut ser = rmp_serde::Serializer::new(buf).with_struct_map();
        value
            .serialize(&mut ser)
            .map_err(|e| Error::encode(Self::CONTENT_TYPE, e))
    }

    #[inline]
    fn decode(&self, bytes: &[u8]) -> Result<T> {
        self.decode_value(bytes)
    }

    fn __builtin(&self) -> Option<Builtin<'_>> {
        Some(Builtin::MsgPack(self))
    }
}
