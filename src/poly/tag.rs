//! Finding a payload's type tag without decoding the payload.

use std::borrow::Cow;
use std::fmt;

use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, Visitor};

use crate::error::Result;

/// The tag of a JSON object whose first key is `tag_key`, read without
/// parsing the rest: `{"type":"Employee",...}` gives `Employee`.
///
/// Returns `None` when the object does not start with the tag or the tag
/// holds escapes; callers then fall back to [`scan_tag`]. Public for codecs whose body
/// is JSON behind a frame of their own (see [`SerdeCodec`](crate::codec::SerdeCodec)).
pub fn json_leading_tag<'a>(bytes: &'a [u8], tag_key: &str) -> Option<&'a str> {
    let mut rest = skip_ws(bytes).strip_prefix(b"{")?;
    rest = skip_ws(rest).strip_prefix(b"\"")?;
    rest = rest.strip_prefix(tag_key.as_bytes())?;
    rest = rest.strip_prefix(b"\"")?;
    rest = skip_ws(rest).strip_prefix(b":")?;
    rest = skip_ws(rest).strip_prefix(b"\"")?;
    let end = rest.iter().position(|&b| b == b'"' || b == b'\\')?;
    if rest[end] != b'"' {
        return None;
    }
    std::str::from_utf8(&rest[..end]).ok()
}

fn skip_ws(mut bytes: &[u8]) -> &[u8] {
    while let [b' ' | b'\t' | b'\n' | b'\r', rest @ ..] = bytes {
        bytes = rest;
    }
    bytes
}

/// The tag of a MessagePack map whose first key is `tag_key`.
#[cfg(feature = "msgpack")]
pub(crate) fn msgpack_leading_tag<'a>(bytes: &'a [u8], tag_key: &str) -> Option<&'a str> {
    let rest = match bytes.split_first()? {
        (0x81..=0x8f, rest) => rest,
        (0xde, rest) => rest.get(2..)?,
        (0xdf, rest) => rest.get(4..)?,
        _ => return None,
    };
    let (key, rest) = msgpack_str(rest)?;
    if key != tag_key.as_bytes() {
        return None;
    }
    let (tag, _) = msgpack_str(rest)?;
    std::str::from_utf8(tag).ok()
}

#[cfg(feature = "msgpack")]
fn msgpack_str(bytes: &[u8]) -> Option<(&[u8], &[u8])> {
    let (len, rest) = match bytes.split_first()? {
        (&b @ 0xa0..=0xbf, rest) => (usize::from(b & 0x1f), rest),
        (0xd9, rest) => (usize::from(*rest.first()?), &rest[1..]),
        (0xda, rest) => (
            usize::from(u16::from_be_bytes(rest.get(..2)?.try_into().ok()?)),
            &rest[2..],
        ),
        (0xdb, rest) => (
            usize::try_from(u32::from_be_bytes(rest.get(..4)?.try_into().ok()?)).ok()?,
            &rest[4..],
        ),
        _ => return None,
    };
    Some((rest.get(..len)?, rest.get(len..)?))
}

/// The leading tag when there is one, else what `scan` finds (the two
/// halves of the built-ins' `find_tag`).
pub(crate) fn leading_or_scan(
    leading: Option<&str>,
    scan: impl FnOnce() -> Result<Option<String>>,
) -> Result<Option<Cow<'_, str>>> {
    match leading {
        Some(tag) => Ok(Some(Cow::Borrowed(tag))),
        None => Ok(scan()?.map(Cow::Owned)),
    }
}

/// The string value of `tag_key` in the top-level map read by `de`,
/// wherever it is: the thorough half of
/// [`SerdeCodec::find_tag`](crate::codec::SerdeCodec::find_tag), for any
/// serde deserializer. Reads the whole value, skipping everything else
/// without building it.
pub fn scan_tag<'de, D: Deserializer<'de>>(
    de: D,
    tag_key: &'static str,
) -> std::result::Result<Option<String>, D::Error> {
    TagSeed { tag_key }.deserialize(de)
}

struct TagSeed {
    tag_key: &'static str,
}

impl<'de> DeserializeSeed<'de> for TagSeed {
    type Value = Option<String>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> std::result::Result<Self::Value, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for TagSeed {
    type Value = Option<String>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "a map with a `{}` key", self.tag_key)
    }

    fn visit_map<A: MapAccess<'de>>(
        self,
        mut map: A,
    ) -> std::result::Result<Self::Value, A::Error> {
        let mut found = None;
        while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
            if key == self.tag_key && found.is_none() {
                found = Some(map.next_value::<String>()?);
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(found)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leading_tag() {
        assert_eq!(
            json_leading_tag(br#"{"type":"A","x":1}"#, "type"),
            Some("A")
        );
        assert_eq!(
            json_leading_tag(b" {\n \"type\" : \"B\" }", "type"),
            Some("B")
        );
        assert_eq!(json_leading_tag(br#"{"x":1,"type":"A"}"#, "type"), None);
        assert_eq!(json_leading_tag(br#"{"type":"A\"B"}"#, "type"), None);
        assert_eq!(json_leading_tag(br#"{"types":"A"}"#, "type"), None);
        assert_eq!(json_leading_tag(br#"{"type":"A"#, "type"), None);
        assert_eq!(json_leading_tag(b"", "type"), None);
    }
}
