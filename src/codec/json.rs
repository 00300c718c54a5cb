//! JSON through serde_json: the default codec.

use serde::de::DeserializeOwned;
use serde::Serialize;

use std::borrow::Cow;

use super::{FastPath, Hints, KafkaCodec, Limits, SerdeCodec};
use crate::error::{Error, ErrorKind, Position, Result};

/// serde_json refuses to nest deeper than this on its own (its counter
/// starts at 128 and fails on reaching zero).
const SERDE_JSON_MAX_DEPTH: usize = 127;

/// JSON, with serde_json: the default codec.
///
/// Content type `application/json`. Encoding appends to the caller's buffer;
/// decoding reads from a slice with serde_json's fastest reader.
///
/// **Floats.** JSON has no NaN or infinity: serde_json writes them as
/// `null`, which decodes back into `Option<f64>` as `None` and fails with a
/// malformed-payload error for a plain `f64`. Use [`MsgPack`](super::MsgPack)
/// when non-finite floats must survive. Finite `f64` values round-trip
/// exactly.
///
/// **Limits.** Payloads over [`Limits::max_payload`] fail with
/// [`ErrorKind::TooLarge`]. Nesting is limited to [`Limits::max_depth`]
/// levels, at most 127 (serde_json's own hard limit, which protects the
/// stack, and the default); below that a quick pre-scan enforces the
/// lower limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Json {
    limits: Limits,
}

impl Json {
    /// The content type this codec writes.
    pub const CONTENT_TYPE: &'static str = "application/json";

    /// A JSON codec with the default limits.
    pub const fn new() -> Self {
        Json {
            limits: Limits {
                max_payload: Limits::DEFAULT.max_payload,
                max_depth: SERDE_JSON_MAX_DEPTH,
            },
        }
    }

    /// Sets the largest payload accepted, in bytes.
    #[must_use]
    pub const fn max_payload(mut self, bytes: usize) -> Self {
        self.limits.max_payload = bytes;
        self
    }

    /// Sets the deepest nesting accepted, clamped to 1..=127.
    #[must_use]
    pub fn max_depth(mut self, depth: usize) -> Self {
        self.limits.max_depth = depth.clamp(1, SERDE_JSON_MAX_DEPTH);
        self
    }

    /// The limits in force.
    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// Checks size and depth limits before any parsing.
    #[inline]
    pub(crate) fn check_limits(&self, bytes: &[u8]) -> Result<()> {
        self.limits.check_size(bytes)?;
        if self.limits.max_depth < SERDE_JSON_MAX_DEPTH {
            check_depth(bytes, self.limits.max_depth)?;
        }
        Ok(())
    }

    /// Turns a serde_json error into the crate's error, keeping the payload.
    #[cold]
    pub(crate) fn error(e: serde_json::Error, bytes: &[u8]) -> Error {
        // serde_json names no error code: its recursion limit is told by
        // the structure (the input up to where it stopped nests deeper than
        // the limit), not by the message's text.
        if e.is_syntax()
            && check_depth(up_to(bytes, e.line(), e.column()), SERDE_JSON_MAX_DEPTH).is_err()
        {
            return Error::with_payload(
                ErrorKind::TooDeep {
                    limit: SERDE_JSON_MAX_DEPTH,
                },
                bytes,
            );
        }
        let position = if e.line() == 0 {
            Position::Unknown
        } else {
            Position::LineColumn {
                line: e.line(),
                column: e.column(),
            }
        };
        Error::malformed(Self::CONTENT_TYPE, position, e, bytes)
    }
}

impl Default for Json {
    fn default() -> Self {
        Self::new()
    }
}

impl<T: Serialize + DeserializeOwned> KafkaCodec<T> for Json {
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
        self.check_limits(bytes)?;
        SerdeCodec::decode_checked(self, bytes)
    }

    #[inline]
    fn serde_codec(&self, _: &Hints<'_>) -> Option<FastPath<'_>> {
        Some(FastPath::new(self))
    }
}

impl SerdeCodec for Json {
    #[inline]
    fn check(&self, bytes: &[u8]) -> Result<()> {
        self.check_limits(bytes)
    }

    /// The leading tag when the object starts with it
    /// ([`json_leading_tag`](crate::poly::json_leading_tag)), else a scan of
    /// the top-level object.
    #[inline]
    fn find_tag<'a>(&self, bytes: &'a [u8], tag_key: &'static str) -> Result<Option<Cow<'a, str>>> {
        crate::poly::leading_or_scan(crate::poly::json_leading_tag(bytes, tag_key), || {
            let mut de = serde_json::Deserializer::from_slice(bytes);
            crate::poly::scan_tag(&mut de, tag_key).map_err(|e| Self::error(e, bytes))
        })
    }

    #[inline]
    fn decode_checked<T: DeserializeOwned>(&self, bytes: &[u8]) -> Result<T> {
        serde_json::from_slice(bytes).map_err(|e| Self::error(e, bytes))
    }

    #[inline]
    fn encode_value<T: Serialize + ?Sized>(&self, value: &T, buf: &mut Vec<u8>) -> Result<()> {
        serde_json::to_writer(buf, value).map_err(|e| Error::encode(Self::CONTENT_TYPE, e))
    }
}

/// `bytes` up to and including serde_json's 1-based `line` and `column`.
fn up_to(bytes: &[u8], line: usize, column: usize) -> &[u8] {
    let start = if line <= 1 {
        0
    } else {
        memchr::memchr_iter(b'\n', bytes)
            .nth(line - 2)
            .map_or(bytes.len(), |i| i + 1)
    };
    &bytes[..bytes.len().min(start + column)]
}

/// Fails with [`ErrorKind::TooDeep`] when arrays and objects in `bytes` nest
/// deeper than `limit`. Brackets inside strings do not count.
fn check_depth(bytes: &[u8], limit: usize) -> Result<()> {
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        i += 1;
        if in_string {
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                in_string = false;
            } else {
                // Jump over the rest of the string's plain bytes at once.
                i = memchr::memchr2(b'"', b'\\', &bytes[i..]).map_or(bytes.len(), |n| i + n);
            }
            continue;
        }
        match b {
            b'"' => {
                in_string = true;
                i = memchr::memchr2(b'"', b'\\', &bytes[i..]).map_or(bytes.len(), |n| i + n);
            }
            b'[' | b'{' => {
                depth += 1;
                if depth > limit {
                    return Err(Error::with_payload(ErrorKind::TooDeep { limit }, bytes));
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn depth_scan_ignores_brackets_in_strings() {
        assert!(check_depth(br#"{"a":"[[[[[["}"#, 1).is_ok());
        assert!(check_depth(br#"{"a":"\"[[[[[["}"#, 1).is_ok());
        assert!(check_depth(br#"{"a":[[1]]}"#, 2).is_err());
        assert!(check_depth(br#"{"a":[1]}"#, 2).is_ok());
    }
}
