//! The [`KafkaMessage`] trait: everything the Kafka wrappers need to know to
//! send and receive a type, usually derived.

pub mod version;

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::codec::{Hints, KafkaCodec};
use crate::error::Result;
use crate::fast::FastCodecs;
use version::{Evolution, Old};

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
        Err(version::generated::no_step::<Self>(old.from()))
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

    /// The value a record without one (a tombstone) stands for: `None` for
    /// types that cannot stand for one (the consumer skips the record),
    /// `Some(None)` for `Option<T>`.
    #[doc(hidden)]
    fn __tombstone() -> Option<Self> {
        None
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

/// A message or a tombstone: a consumer of `Option<T>` receives records
/// without a value (tombstones, how compacted topics delete a key) as
/// `None`, and every other record as `T` would. Send a tombstone with
/// [`Producer::tombstone`](crate::kafka::Producer::tombstone).
///
/// That holds with its default codec, [`OrTombstone`](crate::codec::OrTombstone).
/// With a codec of `Option<T>` of your own (`Json` is one: it reads a JSON
/// `null` as `None`), versions are not upcast and sending `None` writes
/// whatever that codec writes.
///
/// ```no_run
/// # async fn demo() -> kafka_codec::Result<()> {
/// use kafka_codec::kafka::{Consumer, ConsumerBuilder};
/// # #[derive(Debug, serde::Serialize, serde::Deserialize, kafka_codec::KafkaMessage)]
/// # #[kafka(topic = "users")]
/// # struct User { #[kafka(key)] id: u64 }
/// let users: Consumer<Option<User>> = ConsumerBuilder::new("localhost:9092", "cache").build()?;
/// let record = users.next().await?;
/// match record.value() {
///     Some(user) => println!("upsert {}", user.id),
///     None => println!("delete {:?}", record.key_as::<u64>()?),
/// }
/// # Ok(()) }
/// ```
impl<T: KafkaMessage> KafkaMessage for Option<T> {
    type Codec = crate::codec::OrTombstone<T::Codec>;
    const NAME: &'static str = T::NAME;
    const TOPIC: Option<&'static str> = T::TOPIC;
    const VERSION: Option<u32> = T::VERSION;

    fn type_name(&self) -> &str {
        self.as_ref().map_or(T::NAME, KafkaMessage::type_name)
    }

    fn version(&self) -> Option<u32> {
        self.as_ref().map_or(T::VERSION, KafkaMessage::version)
    }

    fn write_key(&self, buf: &mut Vec<u8>) -> bool {
        self.as_ref().is_some_and(|v| v.write_key(buf))
    }

    fn decode_with<C: KafkaCodec<Self> + ?Sized>(
        codec: &C,
        bytes: &[u8],
        hints: &Hints<'_>,
    ) -> Result<Self> {
        // `OrTombstone` decodes through `T::decode_with`: its content-type
        // check, versions and fast path. Another codec of `Option<T>` is
        // held to the content type at least; versions and a `null` payload
        // are then its own business.
        crate::codec::check_content_type(codec, hints, bytes)?;
        codec.decode_hinted(bytes, hints)
    }

    fn check() -> Result<()> {
        T::check()
    }

    fn __tombstone() -> Option<Self> {
        Some(None)
    }
}

/// Raw bytes as a message: a consumer of `Vec<u8>` reads every record of
/// its topics, whatever its content type (for inspection tools and
/// forwarders); a producer sends the bytes as they are.
impl KafkaMessage for Vec<u8> {
    type Codec = crate::codec::Bytes;
    const NAME: &'static str = "bytes";
}

/// Any JSON as a message: a consumer of `serde_json::Value` reads every JSON
/// record of its topics, whatever its type, for inspection and routing.
impl KafkaMessage for serde_json::Value {
    type Codec = crate::codec::Json;
    const NAME: &'static str = "json";
}

/// A key's bytes as `ToKey` writes them, `None` for "no key".
#[cfg(feature = "kafka")]
pub(crate) fn key_bytes<K: ToKey + ?Sized>(key: &K) -> Option<Vec<u8>> {
    let mut bytes = Vec::new();
    key.write_key(&mut bytes).then_some(bytes)
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

/// A key read back from a record's bytes: the other half of [`ToKey`], as
/// [`Record::key_as`](crate::kafka::Record::key_as) uses it.
pub trait FromKey: Sized {
    /// Reads a key; `Err` says why the bytes are not one.
    fn from_key(bytes: &[u8]) -> std::result::Result<Self, String>;
}

fn key_text(bytes: &[u8]) -> std::result::Result<&str, String> {
    std::str::from_utf8(bytes).map_err(|e| format!("not UTF-8 text: {e}"))
}

impl FromKey for String {
    fn from_key(bytes: &[u8]) -> std::result::Result<Self, String> {
        key_text(bytes).map(str::to_owned)
    }
}

impl FromKey for Vec<u8> {
    fn from_key(bytes: &[u8]) -> std::result::Result<Self, String> {
        Ok(bytes.to_vec())
    }
}

impl FromKey for bytes::Bytes {
    fn from_key(bytes: &[u8]) -> std::result::Result<Self, String> {
        Ok(bytes::Bytes::copy_from_slice(bytes))
    }
}

macro_rules! parsed_keys {
    ($($t:ty),*) => {$(
        impl FromKey for $t {
            fn from_key(bytes: &[u8]) -> std::result::Result<Self, String> {
                let text = key_text(bytes)?;
                text.parse()
                    .map_err(|e| format!("{text:?} is not a {}: {e}", stringify!($t)))
            }
        }
    )*};
}

parsed_keys!(u8, u16, u32, u64, u128, usize, i8, i16, i32, i64, i128, isize, char, bool);

#[cfg(feature = "uuid")]
impl FromKey for uuid::Uuid {
    fn from_key(bytes: &[u8]) -> std::result::Result<Self, String> {
        let text = key_text(bytes)?;
        uuid::Uuid::parse_str(text).map_err(|e| format!("{text:?} is not a UUID: {e}"))
    }
}

#[cfg(test)]
mod key_tests {
    use super::{FromKey, ToKey};

    fn round_trip<K: ToKey + FromKey + PartialEq + std::fmt::Debug>(key: K) {
        let mut buf = Vec::new();
        assert!(key.write_key(&mut buf));
        assert_eq!(K::from_key(&buf).unwrap(), key);
    }

    #[test]
    fn keys_read_back_as_written() {
        round_trip("ada".to_owned());
        round_trip(-42i64);
        round_trip(u128::MAX);
        round_trip(true);
        round_trip(vec![0u8, 255]);
        #[cfg(feature = "uuid")]
        round_trip(uuid::Uuid::from_u128(7));
        assert!(u32::from_key(b"-1").unwrap_err().contains("not a u32"));
        assert!(String::from_key(&[0xff]).unwrap_err().contains("UTF-8"));
    }
}
