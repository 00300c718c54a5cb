//! MessagePack through rmp-serde (feature `msgpack`).

use std::io::Cursor;

use serde::de::DeserializeOwned;
use serde::{Deserialize as _, Serialize};

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
    ///
    /// Decodes from the slice, borrowing strings rather than copying them; the
    /// reader that would report a position copies every string, so the
    /// position of an error is found by decoding again, on the error path
    /// only.
    pub(crate) fn decode_value<T: DeserializeOwned>(&self, bytes: &[u8]) -> Result<T> {
        self.limits.check_size(bytes)?;
        let mut de = rmp_serde::Deserializer::from_read_ref(bytes);
        de.set_max_depth(self.limits.max_depth);
        let value = T::deserialize(&mut de).map_err(|e| self.error_at(e, bytes))?;
        // Nothing may follow the value: reading one more marker must hit the
        // end of the input, which costs one failed read.
        match serde::de::IgnoredAny::deserialize(&mut de) {
            Err(rmp_serde::decode::Error::InvalidMarkerRead(e))
                if e.kind() == std::io::ErrorKind::UnexpectedEof =>
            {
                Ok(value)
            }
            _ => Err(Error::malformed(
                Self::CONTENT_TYPE,
                value_len(bytes).map_or(Position::Unknown, Position::Offset),
                "trailing bytes after the value",
                bytes,
            )),
        }
    }

    #[cold]
    fn error_at(&self, e: rmp_serde::decode::Error, bytes: &[u8]) -> Error {
        let mut de = rmp_serde::Deserializer::new(Cursor::new(bytes));
        de.set_max_depth(self.limits.max_depth);
        let _ = serde::de::IgnoredAny::deserialize(&mut de);
        let offset = usize::try_from(de.position()).unwrap_or(usize::MAX);
        self.error(e, offset, bytes)
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

/// The length of the first MessagePack value in `bytes`, without decoding
/// it; `None` when it is cut short. Values are laid out in pre-order, so a
/// count of values still to read is all the state skipping needs: no stack,
/// no allocation, and each value takes at least one byte, so it ends.
fn value_len(bytes: &[u8]) -> Option<usize> {
    let mut pos = 0usize;
    let mut remaining: u64 = 1;
    while remaining > 0 {
        remaining -= 1;
        let marker = *bytes.get(pos)?;
        pos += 1;
        let read = |pos: usize, n: usize| -> Option<u64> {
            let b = bytes.get(pos..pos + n)?;
            Some(b.iter().fold(0u64, |acc, &x| (acc << 8) | u64::from(x)))
        };
        let (skip, children): (u64, u64) = match marker {
            0x00..=0x7f | 0xe0..=0xff | 0xc0 | 0xc2 | 0xc3 => (0, 0),
            0x80..=0x8f => (0, u64::from(marker & 0x0f) * 2),
            0x90..=0x9f => (0, u64::from(marker & 0x0f)),
            0xa0..=0xbf => (u64::from(marker & 0x1f), 0),
            0xc4 | 0xd9 => (read(pos, 1)? + 1, 0),
            0xc5 | 0xda => (read(pos, 2)? + 2, 0),
            0xc6 | 0xdb => (read(pos, 4)? + 4, 0),
            0xc7 => (read(pos, 1)? + 2, 0),
            0xc8 => (read(pos, 2)? + 3, 0),
            0xc9 => (read(pos, 4)? + 5, 0),
            // Fixed-size numbers: float 32/64, uint and int 8 to 64.
            0xcc | 0xd0 => (1, 0),
            0xcd | 0xd1 | 0xd4 => (2, 0),
            0xca | 0xce | 0xd2 => (4, 0),
            0xcb | 0xcf | 0xd3 => (8, 0),
            0xd5 => (3, 0),
            0xd6 => (5, 0),
            0xd7 => (9, 0),
            0xd8 => (17, 0),
            0xdc => (2, read(pos, 2)?),
            0xdd => (4, read(pos, 4)?),
            0xde => (2, read(pos, 2)? * 2),
            0xdf => (4, read(pos, 4)? * 2),
            0xc1 => return None,
        };
        pos = pos.checked_add(usize::try_from(skip).ok()?)?;
        if pos > bytes.len() {
            return None;
        }
        remaining += children;
    }
    Some(pos)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn value_len_matches_rmp() {
        let v = serde_json::json!({"a": [1, 2.5, "x", null, true, {"b": [[], {}]}], "c": "ü".repeat(40)});
        let bytes = rmp_serde::to_vec_named(&v).unwrap_or_default();
        assert_eq!(value_len(&bytes), Some(bytes.len()));
        let mut longer = bytes.clone();
        longer.push(0x01);
        assert_eq!(value_len(&longer), Some(bytes.len()));
        assert_eq!(value_len(&bytes[..bytes.len() - 1]), None);
        assert_eq!(value_len(&[0x91, 0x91, 0x91, 0x01]), Some(4));
        // A declared length far beyond the bytes ends at the end of input.
        assert_eq!(value_len(&[0xdd, 0xff, 0xff, 0xff, 0xff, 0x01]), None);
    }
}
