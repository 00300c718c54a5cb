//! The [`KafkaCodec`] trait and the built-in codecs.
//!
//! A codec turns values of one type into bytes and back, and names the
//! content type it writes. The Kafka wrappers write that name to the
//! `content-type` header of every record and check it when reading, so a
//! consumer never feeds MessagePack to a JSON decoder.
//!
//! Codecs are used in two ways:
//!
//! * **statically**, as a type parameter (`Producer<T, Json>`): every call is
//!   monomorphised and inlined, with no cost over calling serde directly;
//! * **dynamically**, as `Arc<dyn KafkaCodec<T>>`: the trait is object safe,
//!   and [`Codecs`] picks one of several codecs at run time from a record's
//!   content type.
//!
//! Writing your own takes a few lines: name a content type, encode into the
//! caller's buffer, decode from a slice. Anything that accepts a built-in codec
//! accepts yours.
//!
//! ```
//! use kafka_codec::{Error, KafkaCodec, Position};
//!
//! /// Comma-separated integers, for a legacy producer.
//! #[derive(Clone, Copy, Default)]
//! struct Csv;
//!
//! impl KafkaCodec<Vec<i64>> for Csv {
//!     fn content_type(&self) -> &str {
//!         "text/csv"
//!     }
//!     fn encode(&self, value: &Vec<i64>, buf: &mut Vec<u8>) -> Result<(), Error> {
//!         let text: Vec<String> = value.iter().map(i64::to_string).collect();
//!         buf.extend_from_slice(text.join(",").as_bytes());
//!         Ok(())
//!     }
//!     fn decode(&self, bytes: &[u8]) -> Result<Vec<i64>, Error> {
//!         let bad = |e: Box<dyn std::error::Error + Send + Sync>| {
//!             Error::malformed("text/csv", Position::Unknown, e, bytes)
//!         };
//!         let text = std::str::from_utf8(bytes).map_err(|e| bad(e.into()))?;
//!         text.split(',').map(|n| n.parse().map_err(|e: std::num::ParseIntError| bad(e.into()))).collect()
//!     }
//! }
//!
//! let mut buf = Vec::new();
//! Csv.encode(&vec![1, -2, 3], &mut buf)?;
//! assert_eq!(buf, b"1,-2,3");
//! assert_eq!(Csv.decode(b"4,5")?, vec![4, 5]);
//! assert!(Csv.decode(b"4,x").unwrap_err().payload() == Some(&b"4,x"[..]));
//! # Ok::<(), kafka_codec::Error>(())
//! ```

use std::sync::Arc;

use crate::error::{Error, ErrorKind, Result};

#[cfg(feature = "msgpack")]
mod depth;
mod fast_path;
mod json;
#[cfg(feature = "msgpack")]
mod msgpack;
mod raw;

pub use fast_path::{FastPath, SerdeCodec};
pub use json::Json;
#[cfg(feature = "msgpack")]
pub use msgpack::MsgPack;
pub use raw::{Bytes, OrTombstone, Utf8};

/// Encodes values of type `T` into bytes and decodes them back.
///
/// Implementations must be cheap to share (`Send + Sync`); the built-in ones
/// are `Copy`-sized configuration structs. The provided methods have sensible
/// defaults; override [`accepts`](KafkaCodec::accepts) to read more than one
/// content type, and [`decode_hinted`](KafkaCodec::decode_hinted) to use what
/// the record headers say.
pub trait KafkaCodec<T>: Send + Sync {
    /// The media type this codec writes, such as `application/json`.
    fn content_type(&self) -> &str;

    /// Appends the encoding of `value` to `buf`.
    ///
    /// The buffer is the caller's, so producers can reuse one allocation for
    /// many records. On error, the buffer may hold a partial encoding; callers
    /// discard it.
    fn encode(&self, value: &T, buf: &mut Vec<u8>) -> Result<()>;

    /// Decodes a value from `bytes`. Errors keep a copy of `bytes`.
    fn decode(&self, bytes: &[u8]) -> Result<T>;

    /// Whether this codec reads records declared as `content_type`.
    ///
    /// The default compares media types without their parameters, ignoring
    /// ASCII case, so `application/json; charset=utf-8` matches
    /// `application/json`.
    fn accepts(&self, content_type: &str) -> bool {
        same_media_type(self.content_type(), content_type)
    }

    /// Decodes with what the record's headers say about it.
    ///
    /// The default ignores the hints and calls [`decode`](KafkaCodec::decode).
    fn decode_hinted(&self, bytes: &[u8], hints: &Hints<'_>) -> Result<T> {
        let _ = hints;
        self.decode(bytes)
    }

    /// This codec as a [`SerdeCodec`], for a record with these hints: what
    /// lets trait objects decode straight into their concrete types (see
    /// [`SerdeCodec`]). The default, `None`, decodes them through typetag.
    /// A codec that implements `SerdeCodec` returns
    /// `Some(FastPath::new(self))`.
    fn serde_codec(&self, hints: &Hints<'_>) -> Option<FastPath<'_>> {
        let _ = hints;
        None
    }
}

/// What a record's headers say about its payload.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Hints<'a> {
    /// The record's `content-type` header.
    pub content_type: Option<&'a str>,
    /// The record's type header: the concrete type's tag.
    pub type_name: Option<&'a str>,
    /// What is known of the record's schema version header
    /// (`ce_schemaversion`): see [`crate::version`].
    pub version: VersionHint<'a>,
}

impl<'a> Hints<'a> {
    /// No hints: nothing is known of the bytes' headers (what
    /// [`from_bytes`](crate::KafkaMessage::from_bytes) passes). Bytes without
    /// a version in their payload are then taken as the current version.
    pub const NONE: Hints<'static> = Hints {
        content_type: None,
        type_name: None,
        version: VersionHint::Unknown,
    };

    /// Hints with the given content type and type name, and nothing known
    /// of the version.
    pub fn new(content_type: Option<&'a str>, type_name: Option<&'a str>) -> Self {
        Hints {
            content_type,
            type_name,
            version: VersionHint::Unknown,
        }
    }

    /// The hints of a Kafka record's headers: its `content-type`, `ce_type`
    /// and `ce_schemaversion` values, `None` for a header the record does not
    /// have. A record without a version header (in its headers or its
    /// payload) is of its type's oldest version (see [`crate::version`]).
    pub fn record(
        content_type: Option<&'a str>,
        type_name: Option<&'a str>,
        version: Option<&'a str>,
    ) -> Self {
        Hints {
            content_type,
            type_name,
            version: version.map_or(VersionHint::Absent, VersionHint::Header),
        }
    }
}

/// What is known of a record's schema version header.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum VersionHint<'a> {
    /// Nothing is known of the record's headers (bytes decoded with
    /// [`from_bytes`](crate::KafkaMessage::from_bytes)): without a version in
    /// the payload they are taken as the current version.
    #[default]
    Unknown,
    /// The record has no version header: without a version in the payload
    /// it is of its type's oldest version.
    Absent,
    /// The version header's text, such as `"2"`.
    Header(&'a str),
}

/// Fails with [`ErrorKind::ContentTypeMismatch`] when the hints name a
/// content type `codec` does not read. Every decode that takes hints makes
/// this check once: [`KafkaMessage::decode_with`](crate::KafkaMessage::decode_with)
/// and the polymorphic fast path.
pub fn check_content_type<T, C: KafkaCodec<T> + ?Sized>(
    codec: &C,
    hints: &Hints<'_>,
    bytes: &[u8],
) -> Result<()> {
    match hints.content_type {
        Some(ct) if !codec.accepts(ct) => Err(Error::with_payload(
            ErrorKind::ContentTypeMismatch {
                expected: codec.content_type().to_owned().into(),
                found: ct.to_owned(),
            },
            bytes,
        )),
        _ => Ok(()),
    }
}

/// Compares two media types by their essence (`type/subtype`), ignoring
/// parameters, surrounding white space and ASCII case.
pub fn same_media_type(a: &str, b: &str) -> bool {
    fn essence(s: &str) -> &str {
        s.split(';').next().unwrap_or(s).trim()
    }
    // The common case, a header written by this crate, without parsing.
    a == b || essence(a).eq_ignore_ascii_case(essence(b))
}

/// Limits a codec enforces on untrusted input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Limits {
    /// Largest payload accepted, in bytes. Default 4 MiB.
    pub max_payload: usize,
    /// Deepest nesting of arrays and objects accepted. Default 128; the
    /// JSON codec accepts at most 127 (serde_json's own limit), which is
    /// also its default.
    pub max_depth: usize,
}

impl Limits {
    /// The default limits.
    pub const DEFAULT: Limits = Limits {
        max_payload: 4 * 1024 * 1024,
        max_depth: 128,
    };

    /// Fails with [`ErrorKind::TooLarge`] when `bytes` is over the size limit.
    pub fn check_size(&self, bytes: &[u8]) -> Result<()> {
        if bytes.len() > self.max_payload {
            return Err(Error::with_payload(
                ErrorKind::TooLarge {
                    size: bytes.len(),
                    limit: self.max_payload,
                },
                bytes,
            ));
        }
        Ok(())
    }
}

impl Default for Limits {
    fn default() -> Self {
        Self::DEFAULT
    }
}

macro_rules! forward_codec {
    ($($ptr:ty),*) => {$(
        impl<T, C: KafkaCodec<T> + ?Sized> KafkaCodec<T> for $ptr {
            #[inline]
            fn content_type(&self) -> &str {
                (**self).content_type()
            }
            #[inline]
            fn encode(&self, value: &T, buf: &mut Vec<u8>) -> Result<()> {
                (**self).encode(value, buf)
            }
            #[inline]
            fn decode(&self, bytes: &[u8]) -> Result<T> {
                (**self).decode(bytes)
            }
            #[inline]
            fn accepts(&self, content_type: &str) -> bool {
                (**self).accepts(content_type)
            }
            #[inline]
            fn decode_hinted(&self, bytes: &[u8], hints: &Hints<'_>) -> Result<T> {
                (**self).decode_hinted(bytes, hints)
            }
            #[inline]
            fn serde_codec(&self, hints: &Hints<'_>) -> Option<FastPath<'_>> {
                (**self).serde_codec(hints)
            }
        }
    )*};
}

forward_codec!(&C, Box<C>, Arc<C>);

/// Several codecs for one type, chosen at run time by content type.
///
/// Encodes with the first codec; decodes with the first codec that accepts
/// the record's content type (the first one when the record declares none).
///
/// ```
/// use kafka_codec::codec::{Codecs, Hints, Json};
/// use kafka_codec::KafkaCodec;
///
/// let codecs: Codecs<Vec<u32>> = Codecs::new(Json::default());
/// let hints = Hints::new(Some("application/json"), None);
/// assert_eq!(codecs.decode_hinted(b"[1,2]", &hints)?, vec![1, 2]);
/// let hints = Hints::new(Some("application/xml"), None);
/// assert!(codecs.decode_hinted(b"<a/>", &hints).is_err());
/// # Ok::<(), kafka_codec::Error>(())
/// ```
pub struct Codecs<T> {
    codecs: Vec<Arc<dyn KafkaCodec<T>>>,
}

impl<T> Clone for Codecs<T> {
    fn clone(&self) -> Self {
        Codecs {
            codecs: self.codecs.clone(),
        }
    }
}

impl<T> std::fmt::Debug for Codecs<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.codecs.iter().map(|c| KafkaCodec::content_type(&**c)))
            .finish()
    }
}

impl<T> Codecs<T> {
    /// A set whose first (encoding) codec is `first`.
    pub fn new(first: impl KafkaCodec<T> + 'static) -> Self {
        Codecs {
            codecs: vec![Arc::new(first)],
        }
    }

    /// Adds a codec that decoding may pick.
    #[must_use]
    pub fn with(mut self, codec: impl KafkaCodec<T> + 'static) -> Self {
        self.codecs.push(Arc::new(codec));
        self
    }

    /// Adds a shared codec that decoding may pick.
    #[must_use]
    pub fn with_shared(mut self, codec: Arc<dyn KafkaCodec<T>>) -> Self {
        self.codecs.push(codec);
        self
    }

    /// The codec that reads `content_type`, if any.
    pub fn for_content_type(&self, content_type: &str) -> Option<&dyn KafkaCodec<T>> {
        self.codecs
            .iter()
            .find(|c| c.accepts(content_type))
            .map(|c| &**c)
    }

    /// The codec that decodes a record with these hints: the one that
    /// reads its content type, the first one if it declares none.
    fn pick(&self, hints: &Hints<'_>) -> Option<&dyn KafkaCodec<T>> {
        match hints.content_type {
            None => Some(self.first()),
            Some(ct) => self.for_content_type(ct),
        }
    }

    #[cold]
    fn mismatch(&self, found: &str, bytes: &[u8]) -> Error {
        let expected = self
            .codecs
            .iter()
            .map(|c| KafkaCodec::content_type(&**c))
            .collect::<Vec<_>>()
            .join(" | ");
        Error::with_payload(
            ErrorKind::ContentTypeMismatch {
                expected: expected.into(),
                found: found.to_owned(),
            },
            bytes,
        )
    }

    fn first(&self) -> &dyn KafkaCodec<T> {
        // `new` guarantees one codec.
        &*self.codecs[0]
    }
}

impl<T> KafkaCodec<T> for Codecs<T> {
    fn content_type(&self) -> &str {
        self.first().content_type()
    }

    fn encode(&self, value: &T, buf: &mut Vec<u8>) -> Result<()> {
        self.first().encode(value, buf)
    }

    fn decode(&self, bytes: &[u8]) -> Result<T> {
        self.first().decode(bytes)
    }

    fn accepts(&self, content_type: &str) -> bool {
        self.for_content_type(content_type).is_some()
    }

    fn decode_hinted(&self, bytes: &[u8], hints: &Hints<'_>) -> Result<T> {
        match self.pick(hints) {
            Some(codec) => codec.decode_hinted(bytes, hints),
            None => Err(self.mismatch(hints.content_type.unwrap_or_default(), bytes)),
        }
    }

    fn serde_codec(&self, hints: &Hints<'_>) -> Option<FastPath<'_>> {
        self.pick(hints)?.serde_codec(hints)
    }
}
