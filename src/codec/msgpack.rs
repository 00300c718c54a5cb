//! MessagePack through rmp-serde (feature `msgpack`).

use std::borrow::Cow;
use std::io::Cursor;

use serde::de::{DeserializeOwned, Deserializer, Visitor};
use serde::{Deserialize as _, Serialize};

use super::depth::{Depth, Limited};
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
/// [`Limits::max_depth`] the nesting depth of arrays and maps, enums written
/// as maps included (default 128, at most 1024), counted as the decoder
/// nests, which refuses to go deeper; a payload must be exactly one value.
/// Declared collection lengths do not pre-allocate more than the payload can
/// hold.
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
    pub(crate) fn decode_value<T: DeserializeOwned>(&self, bytes: &[u8]) -> Result<T> {
        self.limits.check_size(bytes)?;
        SerdeCodec::decode_checked(self, bytes)
    }

    #[cold]
    fn error_at(&self, e: rmp_serde::decode::Error, depth: Option<&Depth>, bytes: &[u8]) -> Error {
        if depth.is_some_and(Depth::exceeded) {
            return self.too_deep(bytes);
        }
        self.error(e, self.end_of_value(bytes), bytes)
    }

    /// Where the payload's first value ends, or where reading it fails.
    #[cold]
    fn end_of_value(&self, bytes: &[u8]) -> usize {
        // rmp-serde counts maps and arrays read as `IgnoredAny` (enums are
        // only maps to it), so this stops at the limit too.
        let mut de = rmp_serde::Deserializer::new(Cursor::new(bytes));
        de.set_max_depth(self.limits.max_depth + 1);
        let _ = serde::de::IgnoredAny::deserialize(&mut de);
        usize::try_from(de.position()).unwrap_or(usize::MAX)
    }

    #[cold]
    fn trailing(&self, bytes: &[u8]) -> Error {
        Error::malformed(
            Self::CONTENT_TYPE,
            Position::Offset(self.end_of_value(bytes)),
            "trailing bytes after the value",
            bytes,
        )
    }

    #[cold]
    fn too_deep(&self, bytes: &[u8]) -> Error {
        Error::with_payload(
            ErrorKind::TooDeep {
                limit: self.limits.max_depth,
            },
            bytes,
        )
    }

    #[cold]
    fn error(&self, e: rmp_serde::decode::Error, offset: usize, bytes: &[u8]) -> Error {
        if matches!(e, rmp_serde::decode::Error::DepthLimitExceeded) {
            return self.too_deep(bytes);
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
    /// The size limit; the decode itself checks depth and trailing bytes.
    #[inline]
    fn check(&self, bytes: &[u8]) -> Result<()> {
        self.limits.check_size(bytes)
    }

    /// The leading tag when the map starts with it, else a scan of the
    /// top-level map (depth limited as a decode is).
    #[inline]
    fn find_tag<'a>(&self, bytes: &'a [u8], tag_key: &'static str) -> Result<Option<Cow<'a, str>>> {
        crate::poly::leading_or_scan(crate::poly::msgpack_leading_tag(bytes, tag_key), || {
            let mut de = rmp_serde::Deserializer::from_read_ref(bytes);
            let depth = Depth::new(self.limits.max_depth);
            crate::poly::scan_tag(Limited::new(&mut de, &depth), tag_key).map_err(|e| {
                if depth.exceeded() {
                    self.too_deep(bytes)
                } else {
                    Error::malformed(Self::CONTENT_TYPE, Position::Unknown, e, bytes)
                }
            })
        })
    }

    /// Decodes in one pass that counts how deep the payload nests (arrays,
    /// maps and enums: rmp-serde's own count misses enums) and then checks
    /// that nothing follows the value.
    #[inline]
    fn decode_checked<T: DeserializeOwned>(&self, bytes: &[u8]) -> Result<T> {
        let mut de = rmp_serde::Deserializer::from_read_ref(bytes);
        let value = if bytes.len() <= self.limits.max_depth {
            // Every level counted takes a marker byte of its own: a payload
            // this short cannot nest past the limit.
            T::deserialize(&mut de).map_err(|e| self.error_at(e, None, bytes))?
        } else {
            let depth = Depth::new(self.limits.max_depth);
            T::deserialize(Limited::new(&mut de, &depth))
                .map_err(|e| self.error_at(e, Some(&depth), bytes))?
        };
        if has_more(&mut de) {
            return Err(self.trailing(bytes));
        }
        Ok(value)
    }

    fn encode_value<T: Serialize + ?Sized>(&self, value: &T, buf: &mut Vec<u8>) -> Result<()> {
        let mut ser = rmp_serde::Serializer::new(buf).with_struct_map();
        value
            .serialize(&mut ser)
            .map_err(|e| Error::encode(Self::CONTENT_TYPE, e))
    }
}

/// Whether the deserializer has bytes left. rmp-serde's borrowing reader
/// does not tell how far it got, but `deserialize_option` reads exactly one
/// marker, and fails only when there is none.
#[inline]
fn has_more<'de, R: rmp_serde::decode::ReadSlice<'de>>(
    de: &mut rmp_serde::Deserializer<R>,
) -> bool {
    struct Probe;

    impl<'de> Visitor<'de> for Probe {
        type Value = ();

        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("anything")
        }
        fn visit_none<E: serde::de::Error>(self) -> std::result::Result<(), E> {
            Ok(())
        }
        fn visit_some<D: Deserializer<'de>>(self, _: D) -> std::result::Result<(), D::Error> {
            Ok(())
        }
    }

    de.deserialize_option(Probe).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(bytes: &[u8], max_depth: usize) -> Result<serde_json::Value> {
        KafkaCodec::decode(&MsgPack::new().max_depth(max_depth), bytes)
    }

    fn too_deep(bytes: &[u8], max_depth: usize) -> bool {
        decode(bytes, max_depth)
            .is_err_and(|e| matches!(e.kind(), ErrorKind::TooDeep { limit } if *limit == max_depth))
    }

    /// Malformed, at `offset` if given.
    fn malformed(bytes: &[u8], offset: Option<usize>) -> bool {
        decode(bytes, 128).is_err_and(|e| match e.kind() {
            ErrorKind::Malformed { position, .. } => {
                offset.map_or(true, |n| *position == Position::Offset(n))
            }
            _ => false,
        })
    }

    #[test]
    fn one_pass_finds_the_end_and_the_depth() {
        let v = serde_json::json!({"a": [1, 2.5, "x", null, true, {"b": [[], {}]}], "c": "ü".repeat(40)});
        let bytes = rmp_serde::to_vec_named(&v).unwrap_or_default();
        assert_eq!(decode(&bytes, 128).ok(), Some(v));
        let mut longer = bytes.clone();
        longer.push(0x01);
        assert!(malformed(&longer, Some(bytes.len())));
        assert!(malformed(&bytes[..bytes.len() - 1], None));
        // Three arrays deep: fine at 3, too deep at 2.
        assert!(decode(&[0x91, 0x91, 0x91, 0x01], 3).is_ok());
        assert!(too_deep(&[0x91, 0x91, 0x91, 0x01], 2));
        // Empty containers count too, as in JSON.
        assert!(too_deep(&[0x91, 0x90], 1));
        // A declared length far beyond the bytes ends at the end of input.
        assert!(malformed(&[0xdd, 0xff, 0xff, 0xff, 0xff, 0x01], None));
        let mut deep = vec![0x91; 100];
        deep.push(0x01);
        assert!(decode(&deep, 100).is_ok());
        assert!(too_deep(&deep, 99));
        // Anything after the value is refused where the value ends: a nil,
        // a value cut short.
        assert!(malformed(&[0x01, 0xc0], Some(1)));
        assert!(malformed(&[0x01, 0x92, 0x01], Some(1)));
    }

    #[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize)]
    enum Tree {
        Leaf,
        Node(Box<Tree>),
        Pair(Box<Tree>, u8),
        Named { child: Box<Tree> },
    }

    #[test]
    fn enums_count_as_deep_as_they_are_written() {
        // Decodes at `ok` levels, not at one less.
        let check = |tree: &Tree, ok: usize| {
            let bytes = rmp_serde::to_vec_named(tree).unwrap_or_default();
            let back: Result<Tree> = KafkaCodec::decode(&MsgPack::new().max_depth(ok), &bytes);
            assert_eq!(back.ok().as_ref(), Some(tree), "{tree:?} at {ok}");
            let err = KafkaCodec::<Tree>::decode(&MsgPack::new().max_depth(ok - 1), &bytes);
            assert!(
                err.is_err_and(|e| matches!(e.kind(), ErrorKind::TooDeep { .. })),
                "{tree:?} at {}",
                ok - 1
            );
        };
        // A unit variant is a string: no container.
        let leaf = || Box::new(Tree::Leaf);
        check(&Tree::Node(Box::new(Tree::Node(leaf()))), 2);
        check(
            &Tree::Node(Box::new(Tree::Node(Box::new(Tree::Node(leaf()))))),
            3,
        );
        // `{"Pair": [leaf, 1]}`: a map, then an array.
        check(&Tree::Pair(leaf(), 1), 2);
        // `{"Named": {"child": leaf}}`: a map, then a map.
        check(&Tree::Named { child: leaf() }, 2);
    }
}
