//! The extension point that lets a codec encode and decode trait objects
//! with their concrete types' own serde code.

use std::any::Any;
use std::borrow::Cow;

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::error::Result;

/// A codec that encodes and decodes any serde type: with it, a
/// `Box<dyn Trait>` decodes straight into the registered concrete type, and
/// encodes from it, with that type's own monomorphic serde code instead of
/// through typetag's type-erased serializer and deserializer (a virtual call
/// per field or token: about a third of the speed to decode, two thirds to
/// encode).
///
/// The built-in [`Json`](super::Json) and `MsgPack` (feature `msgpack`)
/// implement it. A codec of your own takes it in three steps:
///
/// 1. implement `SerdeCodec` ([`find_tag`](SerdeCodec::find_tag),
///    [`decode_checked`](SerdeCodec::decode_checked) and
///    [`encode_value`](SerdeCodec::encode_value) are required);
/// 2. return `Some(self)` from
///    [`KafkaCodec::serde_codec`](super::KafkaCodec::serde_codec) as a
///    [`FastPath`];
/// 3. name the codec on the trait: `#[kafka_codec::polymorphic(codecs(MyCodec))]`.
///    The fast path is monomorphised for each codec the trait names (the
///    built-ins always), because a registered type's encoder and decoder
///    must be compiled for the codec's serializer and deserializer, so the
///    codec must be at least as visible as the trait. A codec the trait does
///    not name still encodes and decodes, through typetag.
///
/// A trait object takes the fast path to encode through
/// [`KafkaMessage::encode_with`](crate::KafkaMessage::encode_with) (which
/// the producers and [`to_bytes`](crate::KafkaMessage::to_bytes) call) and to
/// decode through [`KafkaMessage::decode_with`](crate::KafkaMessage::decode_with);
/// calling the codec's own `KafkaCodec::encode` or `decode` on a
/// `Box<dyn Trait>` goes through typetag. Both paths write the same bytes.
///
/// ```
/// use std::borrow::Cow;
/// use kafka_codec::codec::{FastPath, Hints, SerdeCodec};
/// use kafka_codec::{Error, Json, KafkaCodec, Position, Result};
///
/// /// JSON behind a one-byte format version.
/// #[derive(Clone, Copy, Default)]
/// pub struct Prefixed;
///
/// fn body(bytes: &[u8]) -> Result<&[u8]> {
///     match bytes.split_first() {
///         Some((1, rest)) => Ok(rest),
///         _ => Err(Error::malformed("prefixed", Position::Offset(0), "no version byte", bytes)),
///     }
/// }
///
/// impl SerdeCodec for Prefixed {
///     fn find_tag<'a>(&self, bytes: &'a [u8], tag_key: &'static str) -> Result<Option<Cow<'a, str>>> {
///         Json::new().find_tag(body(bytes)?, tag_key)
///     }
///     fn decode_checked<T: serde::de::DeserializeOwned>(&self, bytes: &[u8]) -> Result<T> {
///         Json::new().decode_checked(body(bytes)?)
///     }
///     fn encode_value<T: serde::Serialize + ?Sized>(&self, value: &T, buf: &mut Vec<u8>) -> Result<()> {
///         buf.push(1);
///         Json::new().encode_value(value, buf)
///     }
/// }
///
/// impl<T: serde::Serialize + serde::de::DeserializeOwned> KafkaCodec<T> for Prefixed {
///     fn content_type(&self) -> &str {
///         "application/vnd.example.v1+json"
///     }
///     fn encode(&self, value: &T, buf: &mut Vec<u8>) -> Result<()> {
///         self.encode_value(value, buf)
///     }
///     fn decode(&self, bytes: &[u8]) -> Result<T> {
///         self.decode_checked(bytes)
///     }
///     fn serde_codec(&self, _: &Hints<'_>) -> Option<FastPath<'_>> {
///         Some(FastPath::new(self))
///     }
/// }
///
/// #[kafka_codec::polymorphic(codecs(Prefixed))]
/// pub trait Shape {}
///
/// #[derive(kafka_codec::KafkaMessage, serde::Serialize, serde::Deserialize)]
/// struct Circle { r: f64 }
///
/// #[kafka_codec::polymorphic]
/// impl Shape for Circle {}
///
/// use kafka_codec::KafkaMessage as _;
/// let shape: Box<dyn Shape> = Box::new(Circle { r: 1.5 });
/// let mut bytes = Vec::new();
/// shape.encode_with(&Prefixed, &mut bytes)?;
/// assert_eq!(bytes, b"\x01{\"type\":\"Circle\",\"r\":1.5}");
/// // Through typetag, the same bytes.
/// let mut typetag = Vec::new();
/// Prefixed.encode(&shape, &mut typetag)?;
/// assert_eq!(typetag, bytes);
/// let back = <Box<dyn Shape>>::decode_with(&Prefixed, &bytes, &Hints::NONE)?;
/// assert_eq!(back.downcast_ref::<Circle>().map(|c| c.r), Some(1.5));
/// # Ok::<(), kafka_codec::Error>(())
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a `SerdeCodec`, so trait objects cannot take the fast path with it",
    label = "named in `codecs(...)`",
    note = "implement `kafka_codec::codec::SerdeCodec` for it, or leave it out of `codecs(...)`: trait objects still encode and decode with it, through typetag"
)]
pub trait SerdeCodec: Send + Sync + 'static {
    /// Checks `bytes` against the codec's limits before anything else reads
    /// them. The default accepts everything.
    fn check(&self, bytes: &[u8]) -> Result<()> {
        let _ = bytes;
        Ok(())
    }

    /// The string value of `tag_key` in the payload's top-level map, if it
    /// has one. Called once per record, before any decoding: make the common
    /// case cheap (the built-ins look at the first key first, and read the
    /// whole map only when the tag is not there). [`crate::poly::scan_tag`]
    /// does the thorough part for any serde deserializer.
    fn find_tag<'a>(&self, bytes: &'a [u8], tag_key: &'static str) -> Result<Option<Cow<'a, str>>>;

    /// Decodes a `T` from `bytes` that [`check`](SerdeCodec::check) accepted.
    fn decode_checked<T: DeserializeOwned>(&self, bytes: &[u8]) -> Result<T>;

    /// Appends the encoding of `value` to `buf`. Must write exactly what
    /// this codec's [`KafkaCodec::encode`](super::KafkaCodec::encode)
    /// writes for the same value: a trait object takes this way or typetag's
    /// depending on the value's shape (see [`crate::poly`]), and a reader
    /// cannot tell which. Implement `KafkaCodec::encode` by calling it.
    ///
    /// `value` is a serde wrapper around the concrete value that writes the
    /// type tag first; encode it as any other value.
    fn encode_value<T: Serialize + ?Sized>(&self, value: &T, buf: &mut Vec<u8>) -> Result<()>;
}

/// A codec's way onto the fast path: what
/// [`KafkaCodec::serde_codec`](super::KafkaCodec::serde_codec) returns.
#[derive(Clone, Copy)]
pub struct FastPath<'a> {
    codec: &'a dyn Erased,
}

impl<'a> FastPath<'a> {
    /// The fast path of a [`SerdeCodec`].
    pub fn new<C: SerdeCodec>(codec: &'a C) -> Self {
        FastPath { codec }
    }

    /// The codec, for finding its monomorphic decoders by type.
    pub(crate) fn as_any(&self) -> &'a dyn Any {
        self.codec.as_any()
    }

    pub(crate) fn check(&self, bytes: &[u8]) -> Result<()> {
        self.codec.check_erased(bytes)
    }

    /// Decodes `bytes` into a JSON tree: how a value of a type no
    /// monomorphic decoder was compiled for is read, such as an old version
    /// on its way up an upcast chain.
    pub(crate) fn decode_value(&self, bytes: &[u8]) -> Result<serde_json::Value> {
        self.codec.decode_value_erased(bytes)
    }

    pub(crate) fn find_tag<'b>(
        &self,
        bytes: &'b [u8],
        tag_key: &'static str,
    ) -> Result<Option<Cow<'b, str>>> {
        self.codec.find_tag_erased(bytes, tag_key)
    }
}

impl std::fmt::Debug for FastPath<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FastPath").finish_non_exhaustive()
    }
}

/// A [`SerdeCodec`] as a trait object.
trait Erased: Send + Sync {
    fn as_any(&self) -> &dyn Any;
    fn check_erased(&self, bytes: &[u8]) -> Result<()>;
    fn decode_value_erased(&self, bytes: &[u8]) -> Result<serde_json::Value>;
    fn find_tag_erased<'a>(
        &self,
        bytes: &'a [u8],
        tag_key: &'static str,
    ) -> Result<Option<Cow<'a, str>>>;
}

impl<C: SerdeCodec> Erased for C {
    #[inline]
    fn as_any(&self) -> &dyn Any {
        self
    }
    #[inline]
    fn check_erased(&self, bytes: &[u8]) -> Result<()> {
        self.check(bytes)
    }
    fn decode_value_erased(&self, bytes: &[u8]) -> Result<serde_json::Value> {
        self.decode_checked(bytes)
    }
    #[inline]
    fn find_tag_erased<'a>(
        &self,
        bytes: &'a [u8],
        tag_key: &'static str,
    ) -> Result<Option<Cow<'a, str>>> {
        self.find_tag(bytes, tag_key)
    }
}
