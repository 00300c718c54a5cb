//! The [`KafkaMessage`] trait: everything the Kafka wrappers need to know to
//! send and receive a type, usually derived.

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::codec::{Hints, KafkaCodec};
use crate::error::Result;
use crate::poly::FastCodecs;
use crate::version::{Evolution, Old};

/// A type that can travel over Kafka: its codec, type name, default topic,
/// version and record key.
///
/// Derive it with `#[derive(KafkaMessage)]` (see the crate docs for the
/// attributes); trait objects get it from `#[kafka_codec::polymorphic]`.
/// Implementing it by hand is fine too: only `Codec` and `NAME` are required.
pub trait KafkaMessage: Serialize + DeserializeOwned + Send + Sync + 'static {
    /// The codec used when none is given explicitly.
    type Codec: KafkaCodec<Self> + Default + Clone + 'static;

    /// The type name written to the type header (`ce_type`), and the tag of
    /// the type when it takes part in a polymorphic hierarchy.
    const NAME: &'static str;

    /// The default topic, overridable at send time.
    const TOPIC: Option<&'static str> = None;

    /// The schema version written to the version header, when set: the
    /// current version (see [`crate::version`]).
    const VERSION: Option<u32> = None;

    /// How older versions are read: generated from the derive's `upcast`,
    /// `version_field` and `forward` attributes.
    #[doc(hidden)]
    const __EVOLUTION: Evolution = Evolution::NONE;

    /// Reads a record of another version than the current one, up the
    /// upcast chain. Generated with [`__EVOLUTION`](KafkaMessage::__EVOLUTION).
    #[doc(hidden)]
    fn __upcast<L: FastCodecs>(old: Old<'_, L>) -> Result<Self> {
        Err(crate::version::no_step::<Self>(old.from()))
    }

    /// The type name of this value. For trait objects, the concrete type's
    /// tag.
    fn type_name(&self) -> &str {
        Self::NAME
    }

    /// The schema version of this value.
    fn version(&self) -> Option<u32> {
        Self::VERSION
    }

    /// Appends the record key to `buf` and returns `true`, or returns `false`
    /// when the type has no key.
    fn write_key(&self, buf: &mut Vec<u8>) -> bool {
        let _ = buf;
        false
    }

    /// Appends the encoding of `value` with `codec` to `buf`: what producers
    /// and [`to_bytes`](KafkaMessage::to_bytes) call.
    ///
    /// The default calls [`KafkaCodec::encode`]. Trait objects override it
    /// to encode the concrete value with its own serde code, the tag written
    /// first (the [fast path](crate::poly#the-fast-path)), writing the same
    /// bytes as `codec.encode`. On error, `buf` may hold a partial encoding.
    fn encode_with<C: KafkaCodec<Self> + ?Sized>(
        &self,
        codec: &C,
        buf: &mut Vec<u8>,
    ) -> Result<()> {
        codec.encode(self, buf)
    }

    /// Decodes a value with `codec`, using what the headers say: a content
    /// type the codec does not read is refused here, and a record of another
    /// version than the current one is read up the type's upcast chain (see
    /// [`crate::version`]).
    ///
    /// Trait objects override this to decode straight into the concrete type
    /// named by the type header or the payload's leading tag; an override
    /// must make the same check ([`codec::check_content_type`](crate::codec::check_content_type)).
    fn decode_with<C: KafkaCodec<Self> + ?Sized>(
        codec: &C,
        bytes: &[u8],
        hints: &Hints<'_>,
    ) -> Result<Self> {
        crate::codec::check_content_type(codec, hints, bytes)?;
        if Self::VERSION.is_some() {
            return crate::version::decode(codec, bytes, hints);
        }
        codec.decode_hinted(bytes, hints)
    }

    /// Checks that the type can be used at all: for trait objects, that no two
    /// registered types share a tag. Producers and consumers call it once at
    /// construction.
    fn check() -> Result<()> {
        Ok(())
    }

    /// Encodes with the default codec, using the fast path where there is one.
    fn to_bytes(&self) -> Result<Vec<u8>> {
        // As serde_json::to_vec does: small payloads then fit in one allocation.
        let mut buf = Vec::with_capacity(128);
        self.encode_with(&Self::Codec::default(), &mut buf)?;
        Ok(buf)
    }

    /// Decodes with the default codec, using the fast path where there is one.
    fn from_bytes(bytes: &[u8]) -> Result<Self> {
        Self::decode_with(&Self::Codec::default(), bytes, &Hints::NONE)
    }
}

/// A value that can be a record key. Keys are written so that any Kafka
/// client reads them: text as UTF-8, numbers and UUIDs as their decimal or
/// hyphenated text, bytes as they are.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be a Kafka record key",
    label = "this field is marked `#[kafka(key)]`",
    note = "keys must be text, integers, UUIDs (feature `uuid`), bytes, or an `Option` of those; \
            implement `kafka_codec::ToKey` for your own key types"
)]
pub trait ToKey {
    /// Appends the key's bytes to `buf`; returns `false` for "no key".
    fn write_key(&self, buf: &mut Vec<u8>) -> bool;
}

impl ToKey for str {
    fn write_key(&self, buf: &mut Vec<u8>) -> bool {
        buf.extend_from_slice(self.as_bytes());
        true
    }
}

impl ToKey for String {
    fn write_key(&self, buf: &mut Vec<u8>) -> bool {
        self.as_str().write_key(buf)
    }
}

impl ToKey for [u8] {
    fn write_key(&self, buf: &mut Vec<u8>) -> bool {
        buf.extend_from_slice(self);
        true
    }
}

impl ToKey for Vec<u8> {
    fn write_key(&self, buf: &mut Vec<u8>) -> bool {
        self.as_slice().write_key(buf)
    }
}

impl ToKey for bytes::Bytes {
    fn write_key(&self, buf: &mut Vec<u8>) -> bool {
        self.as_ref().write_key(buf)
    }
}

impl<T: ToKey + ?Sized> ToKey for &T {
    fn write_key(&self, buf: &mut Vec<u8>) -> bool {
        (**self).write_key(buf)
    }
}

impl<T: ToKey + ?Sized> ToKey for Box<T> {
    fn write_key(&self, buf: &mut Vec<u8>) -> bool {
        (**self).write_key(buf)
    }
}

impl<T: ToKey> ToKey for Option<T> {
    fn write_key(&self, buf: &mut Vec<u8>) -> bool {
        self.as_ref().is_some_and(|k| k.write_key(buf))
    }
}

macro_rules! int_keys {
    ($($t:ty),*) => {$(
        impl ToKey for $t {
            fn write_key(&self, buf: &mut Vec<u8>) -> bool {
                use std::io::Write as _;
                // Writing to a Vec cannot fail.
                let _ = write!(buf, "{self}");
                true
            }
        }
    )*};
}

int_keys!(u8, u16, u32, u64, u128, usize, i8, i16, i32, i64, i128, isize, char, bool);

#[cfg(feature = "uuid")]
impl ToKey for uuid::Uuid {
    fn write_key(&self, buf: &mut Vec<u8>) -> bool {
        let mut text = uuid::Uuid::encode_buffer();
        buf.extend_from_slice(self.hyphenated().encode_lower(&mut text).as_bytes());
        true
    }
}
