//! MessagePack through rmp-serde (feature `msgpack`).

use std::io::Cursor;

use serde::de::DeserializeOwned;
use serde::{Deserialize as _, Serialize};

use std::borrow::Cow;

use super::{FastPath, Hints, KafkaCodec, Limits, SerdeCodec};
use crate::error::{Error, ErrorKind, Position, Result};

/// The deepest nesting `max_depth` allows.
const MAX_DEPTH: usize = 1024;

/// MessagePack, with rmp-serde.
///
/// Content type `application/msgpack`. Structs are written as maps with
/// their field names (rmp-serde's "named" form), so the wire shape matches
/// JSON's: fields can be added, reordered or skipped, and internally tagged
/// trait objects work. Non-finite floats round-trip exactly.
///
/// **Limits.** [`Limits::max_payload`] bounds the payload size and
/// [`Limits::max_depth`] the nesting depth (default 128, at most 1024),
/// checked by a non-recursive pass before decoding; a payload must be exactly
/// one value. Declared collection lengths do not pre-allocate more than the
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

    /// Sets the deepest nesting accepted, clamped to 1..=1024 so that
    /// decoding stays well within a tokio worker's stack.
    #[must_use]
    pub fn max_depth(mut self, depth: usize) -> Self {
        self.limits.max_depth = depth.clamp(1, MAX_DEPTH);
        self
    }

    /// The limits in force.
    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// Decodes any deserializable value, enforcing the limits.
    ///
    /// A first pass walks the value's structure without recursion: it finds
    /// where the value ends (anything after it is refused) and how deep it
    /// nests, before the recursive decoder runs, so no payload can exhaust
    /// the stack. rmp-serde's own depth counter misses enums written as
    /// maps, which is why this does not rely on it. The decode then borrows
    /// strings from the slice rather than copying them.
    pub(crate) fn decode_value<T: DeserializeOwned>(&self, bytes: &[u8]) -> Result<T> {
        self.check_limits(bytes)?;
        SerdeCodec::decode_checked(self, bytes)
    }

    /// Checks size, depth and that the payload is exactly one value.
    pub(crate) fn check_limits(&self, bytes: &[u8]) -> Result<()> {
        self.limits.check_size(bytes)?;
        match scan(bytes, self.limits.max_depth) {
            Scan::Len(len) if len == bytes.len() => Ok(()),
            Scan::Len(len) => Err(Error::malformed(
                Self::CONTENT_TYPE,
                Position::Offset(len),
                "trailing bytes after the value",
                bytes,
            )),
            Scan::TooDeep => Err(Error::with_payload(
                ErrorKind::TooDeep {
                    limit: self.limits.max_depth,
                },
                bytes,
            )),
            // Cut short or invalid: the decoder reports where and why.
            Scan::Invalid => Ok(()),
        }
    }

    #[cold]
    fn error_at(&self, e: rmp_serde::decode::Error, bytes: &[u8]) -> Error {
        let mut de = rmp_serde::Deserializer::new(Cursor::new(bytes));
        de.set_max_depth(self.limits.max_depth + 1);
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

    #[inline]
    fn encode(&self, value: &T, buf: &mut Vec<u8>) -> Result<()> {
        SerdeCodec::encode_value(self, value, buf)
    }

    #[inline]
    fn decode(&self, bytes: &[u8]) -> Result<T> {
        self.decode_value(bytes)
    }

    #[inline]
    fn serde_codec(&self, _: &Hints<'_>) -> Option<FastPath<'_>> {
        Some(FastPath::new(self))
    }
}

impl SerdeCodec for MsgPack {
    #[inline]
    fn check(&self, bytes: &[u8]) -> Result<()> {
        self.check_limits(bytes)
    }

    /// The leading tag when the map starts with it, else a scan of the
    /// top-level map.
    #[inline]
    fn find_tag<'a>(&self, bytes: &'a [u8], tag_key: &'static str) -> Result<Option<Cow<'a, str>>> {
        crate::poly::leading_or_scan(crate::poly::msgpack_leading_tag(bytes, tag_key), || {
            let mut de = rmp_serde::Deserializer::from_read_ref(bytes);
            crate::poly::scan_tag(&mut de, tag_key)
                .map_err(|e| Error::malformed(Self::CONTENT_TYPE, Position::Unknown, e, bytes))
        })
    }

    #[inline]
    fn decode_checked<T: DeserializeOwned>(&self, bytes: &[u8]) -> Result<T> {
        let mut de = rmp_serde::Deserializer::from_read_ref(bytes);
        // rmp-serde refuses at its limit, not past it; `check` enforced ours.
        de.set_max_depth(self.limits.max_depth + 1);
        T::deserialize(&mut de).map_err(|e| self.error_at(e, bytes))
    }

    fn encode_value<T: Serialize + ?Sized>(&self, value: &T, buf: &mut Vec<u8>) -> Result<()> {
        let mut ser = rmp_serde::Serializer::new(buf).with_struct_map();
        value
            .serialize(&mut ser)
            .map_err(|e| Error::encode(Self::CONTENT_TYPE, e))
    }
}

enum Scan {
    /// The first value ends here.
    Len(usize),
    /// It nests deeper than allowed.
    TooDeep,
    /// It is cut short or holds an invalid marker.
    Invalid,
}

/// Open containers and how many values each still holds; the first levels
/// live on the stack, so a scan allocates only for deep payloads.
struct Levels {
    inline: [u64; 32],
    spill: Vec<u64>,
    len: usize,
}

impl Levels {
    fn push(&mut self, n: u64) {
        if self.len < self.inline.len() {
            self.inline[self.len] = n;
        } else {
            self.spill.push(n);
        }
        self.len += 1;
    }

    fn pop(&mut self) {
        self.len -= 1;
        if self.len >= self.inline.len() {
            self.spill.pop();
        }
    }

    fn last(&mut self) -> &mut u64 {
        if self.len > self.inline.len() {
            self.spill.last_mut().unwrap_or(&mut self.inline[0])
        } else {
            &mut self.inline[self.len - 1]
        }
    }
}

/// Walks the first MessagePack value in `bytes` without decoding it and
/// without recursion: where it ends, and whether arrays and maps (enums
/// included) nest deeper than `max_depth`.
fn scan(bytes: &[u8], max_depth: usize) -> Scan {
    let mut pos = 0usize;
    let mut levels = Levels {
        inline: [0; 32],
        spill: Vec::new(),
        len: 0,
    };
    levels.push(1);
    let read = |pos: usize, n: usize| -> Option<u64> {
        let b = bytes.get(pos..pos.checked_add(n)?)?;
        Some(b.iter().fold(0u64, |acc, &x| (acc << 8) | u64::from(x)))
    };
    while levels.len > 0 {
        let left = levels.last();
        if *left == 0 {
            levels.pop();
            continue;
        }
        *left -= 1;
        let Some(&marker) = bytes.get(pos) else {
            return Scan::Invalid;
        };
        pos += 1;
        let step = match marker {
            0x00..=0x7f | 0xe0..=0xff | 0xc0 | 0xc2 | 0xc3 => Some((0, None)),
            0x80..=0x8f => Some((0, Some(u64::from(marker & 0x0f) * 2))),
            0x90..=0x9f => Some((0, Some(u64::from(marker & 0x0f)))),
            0xa0..=0xbf => Some((u64::from(marker & 0x1f), None)),
            0xc4 | 0xd9 => read(pos, 1).map(|n| (n + 1, None)),
            0xc5 | 0xda => read(pos, 2).map(|n| (n + 2, None)),
            0xc6 | 0xdb => read(pos, 4).map(|n| (n + 4, None)),
            0xc7 => read(pos, 1).map(|n| (n + 2, None)),
            0xc8 => read(pos, 2).map(|n| (n + 3, None)),
            0xc9 => read(pos, 4).map(|n| (n + 5, None)),
            // Fixed-size numbers: float 32/64, uint and int 8 to 64; fixext.
            0xcc | 0xd0 => Some((1, None)),
            0xcd | 0xd1 | 0xd4 => Some((2, None)),
            0xd5 => Some((3, None)),
            0xca | 0xce | 0xd2 => Some((4, None)),
            0xd6 => Some((5, None)),
            0xcb | 0xcf | 0xd3 => Some((8, None)),
            0xd7 => Some((9, None)),
            0xd8 => Some((17, None)),
            0xdc => read(pos, 2).map(|n| (2, Some(n))),
            0xdd => read(pos, 4).map(|n| (4, Some(n))),
            0xde => read(pos, 2).map(|n| (2, Some(n * 2))),
            0xdf => read(pos, 4).map(|n| (4, Some(n * 2))),
            0xc1 => None,
        };
        let Some((skip, children)) = step else {
            return Scan::Invalid;
        };
        match usize::try_from(skip).ok().and_then(|s| pos.checked_add(s)) {
            Some(end) if end <= bytes.len() => pos = end,
            _ => return Scan::Invalid,
        }
        if let Some(children) = children {
            // `levels.len` counts the top level, so it is this container's depth.
            if levels.len > max_depth {
                return Scan::TooDeep;
            }
            if children > 0 {
                levels.push(children);
            }
        }
    }
    Scan::Len(pos)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scan_finds_the_end_and_the_depth() {
        let v = serde_json::json!({"a": [1, 2.5, "x", null, true, {"b": [[], {}]}], "c": "ü".repeat(40)});
        let bytes = rmp_serde::to_vec_named(&v).unwrap_or_default();
        assert!(matches!(scan(&bytes, 128), Scan::Len(n) if n == bytes.len()));
        let mut longer = bytes.clone();
        longer.push(0x01);
        assert!(matches!(scan(&longer, 128), Scan::Len(n) if n == bytes.len()));
        assert!(matches!(
            scan(&bytes[..bytes.len() - 1], 128),
            Scan::Invalid
        ));
        // Three arrays deep: fine at 3, too deep at 2.
        assert!(matches!(scan(&[0x91, 0x91, 0x91, 0x01], 3), Scan::Len(4)));
        assert!(matches!(scan(&[0x91, 0x91, 0x91, 0x01], 2), Scan::TooDeep));
        // Empty containers count too, as in JSON.
        assert!(matches!(scan(&[0x91, 0x90], 1), Scan::TooDeep));
        // A declared length far beyond the bytes ends at the end of input.
        assert!(matches!(
            scan(&[0xdd, 0xff, 0xff, 0xff, 0xff, 0x01], 8),
            Scan::Invalid
        ));
        // Deeper than the inline levels.
        let mut deep = vec![0x91; 100];
        deep.push(0x01);
        assert!(matches!(scan(&deep, 100), Scan::Len(101)));
        assert!(matches!(scan(&deep, 99), Scan::TooDeep));
    }
}
