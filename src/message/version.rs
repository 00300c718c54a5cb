//! Schema evolution: versions, upcasters, and records newer than the reader.
//!
//! Kafka topics live for years, so a consumer deployed today must read every
//! record every past version of its types wrote. A type declares its current
//! version and, for each older one, how a record of that version becomes the
//! next: a chain of *upcasters*, run on old records only.
//!
//! ```
//! use kafka_codec::KafkaMessage;
//! use serde::{Deserialize, Serialize};
//! use serde_json::{json, Value};
//!
//! /// Version 1 had `name`; version 2 split it in two; version 3 added `email`.
//! #[derive(Debug, PartialEq, Serialize, Deserialize, KafkaMessage)]
//! #[kafka(version = 3)]
//! #[kafka(upcast(from = 1, value = split_name))]
//! #[kafka(upcast(from = 2, typed = UserV2))]
//! struct User {
//!     first: String,
//!     last: String,
//!     email: Option<String>,
//! }
//!
//! /// A step over the JSON tree: version 1 in, version 2 out.
//! fn split_name(mut v: Value) -> Result<Value, String> {
//!     let name = v["name"].as_str().ok_or("no name")?.to_owned();
//!     let (first, last) = name.split_once(' ').unwrap_or((&name, ""));
//!     v["first"] = json!(first);
//!     v["last"] = json!(last);
//!     Ok(v)
//! }
//!
//! /// A typed step: version 2 as it was written, and how it becomes version 3.
//! #[derive(Deserialize)]
//! struct UserV2 { first: String, last: String }
//!
//! impl From<UserV2> for User {
//!     fn from(v2: UserV2) -> Self {
//!         User { first: v2.first, last: v2.last, email: None }
//!     }
//! }
//!
//! use kafka_codec::{Hints, Json};
//! // A record without a version header is of the oldest version, 1.
//! let v1 = br#"{"name":"Ada Lovelace"}"#;
//! let user = User::decode_with(&Json::new(), v1, &Hints::record(None, None, None))?;
//! assert_eq!((user.first.as_str(), user.last.as_str()), ("Ada", "Lovelace"));
//! // A version 3 record decodes as it always did: no upcast, no detour.
//! let v3 = br#"{"first":"Ada","last":"L","email":"ada@example.com"}"#;
//! let user = User::decode_with(&Json::new(), v3, &Hints::record(None, None, Some("3")))?;
//! assert_eq!(user.email.as_deref(), Some("ada@example.com"));
//! // A version 4 record is refused, never guessed at.
//! let err = User::decode_with(&Json::new(), v3, &Hints::record(None, None, Some("4"))).unwrap_err();
//! assert_eq!(err.kind().name(), "newer_version");
//! # Ok::<(), kafka_codec::Error>(())
//! ```
//!
//! # Declaring versions
//!
//! On `#[derive(KafkaMessage)]`:
//!
//! * `version = N`: the current version, written to the `ce_schemaversion`
//!   header of every record a producer sends.
//! * `upcast(from = K, value = path)`: version `K` becomes `K + 1` by a
//!   function over the JSON tree, `fn(serde_json::Value) -> Value`, or
//!   `-> Result<Value, E>` with `E: Display` for a step that can fail (see
//!   `TreeStepOutput`). Cheap to write for renames, defaults and moves.
//! * `upcast(from = K, typed = OldType)`: version `K` is read as `OldType`
//!   (any `Deserialize` type) and becomes version `K + 1` with `TryFrom`
//!   (`From` gives it), into the type of version `K + 1`: the next typed
//!   step's type, or the message type itself for `K + 1 = N`.
//! * `version_field = "name"`: where the payload says its version, for
//!   records written without the header (a field of the type, or one older
//!   writers added).
//! * `forward = path`: how to read a record of version `N + 1` as version
//!   `N`, a function over the JSON tree like a `value` step. For rolling
//!   deploys, where a newer producer may be live before every consumer is.
//!
//! The chain is checked at compile time: the steps must run without a gap
//! from the oldest up to `N - 1`, each version once, and JSON-tree steps come
//! before typed ones (once a version is a Rust type, it stays one). A
//! mistake is a compile error at the step.
//!
//! # Reading a record
//!
//! The record's version comes from its `ce_schemaversion` header; without
//! one, from the payload field named with `version_field`; **a record with
//! neither is of the type's oldest version**: the first step's `from`, or
//! the current version for a type without steps. That is what lets records
//! written before versions existed (by the original Python producer, for
//! one) be read through the first step. Bytes decoded with
//! [`from_bytes`](crate::KafkaMessage::from_bytes) have no headers at all,
//! and are taken as the current version unless their payload says
//! otherwise.
//!
//! Then:
//!
//! * **the current version** decodes exactly as a type without versions
//!   does: no tree, no copy, the same monomorphic decoder;
//! * **an older version** the chain reaches back to is read once, as a JSON
//!   tree or as the first typed step's type, and goes up the chain. Only old
//!   records pay for it;
//! * **a newer version** is an [`ErrorKind::NewerVersion`] error (type,
//!   version found, newest known), poison like any undecodable record:
//!   consumers apply their poison policy, and a dead letter keeps the record
//!   byte for byte. With `forward`, version `N + 1` is read through it;
//!   anything newer is still an error;
//! * a version older than the chain reaches is an
//!   [`ErrorKind::OlderVersion`] error, and a failing step an
//!   [`ErrorKind::Upcast`] one.
//!
//! Upcasting reads the old record with the codec's
//! [`SerdeCodec`](crate::codec::SerdeCodec) side (the built-in `Json` and
//! `MsgPack` have it): directly for the built-ins, through a JSON tree for
//! others. A codec without it reads the current version only.
//!
//! # Trait objects
//!
//! Each concrete type registered for a polymorphic trait has its own version
//! and chain, declared on its own derive; the type header or the payload's
//! tag picks the type, then its version picks the way. The fast path stays
//! for current records. A JSON-tree step of such a type sees the tag entry
//! too (`{"type":"Employee",...}`), and may leave it.
//!
//! A concrete type that was renamed keeps its old tags readable with
//! `#[kafka_codec::polymorphic(alias = "OldName")]` on its impl: decoding
//! accepts them (on the fast path: the built-in codecs and those the trait
//! names), encoding writes the canonical tag.
//!
//! # Keeping old records readable
//!
//! Freeze a few records of each version under `tests/fixtures/` before the
//! type moves on, and replay them in a test: see the crate's
//! `tests/wire_samples.rs` for the workflow.

use std::marker::PhantomData;

use serde::de::{DeserializeSeed, IgnoredAny, MapAccess, Visitor};
use serde::Deserializer;

use crate::codec::{FastPath, Hints, KafkaCodec, VersionHint};
use crate::error::{Error, ErrorKind, Result};
use crate::fast::{BuiltinCodecs, FastCodecs};
use crate::KafkaMessage;

pub(crate) mod generated;
pub(crate) use generated::{from_tree, Evolution, Old};

/// Where a record stands against its type's current version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum At {
    /// Decode as today.
    Current,
    /// Up the chain from this version (older than the current one, or the
    /// one after it, through `forward`).
    Other(u32),
}

/// Finds the record's version and what to do with it.
#[inline]
pub(crate) fn position<T: KafkaMessage, L: FastCodecs>(
    fast: Option<FastPath<'_>>,
    bytes: &[u8],
    hints: &Hints<'_>,
) -> Result<At> {
    let Some(current) = T::VERSION else {
        return Ok(At::Current);
    };
    let found = match hints.version {
        VersionHint::Header(text) => parse_header(text, bytes)?,
        seen => {
            let from_payload = match T::__EVOLUTION.field {
                Some(field) => probe::<T, L>(fast, field, bytes)?,
                None => None,
            };
            match (from_payload, seen) {
                (Some(v), _) => v,
                (None, VersionHint::Absent) => T::__EVOLUTION.oldest.unwrap_or(current),
                (None, _) => return Ok(At::Current),
            }
        }
    };
    if found == current {
        return Ok(At::Current);
    }
    check_range::<T>(found, current, bytes)?;
    Ok(At::Other(found))
}

#[cold]
fn check_range<T: KafkaMessage>(found: u32, current: u32, bytes: &[u8]) -> Result<()> {
    let ev = T::__EVOLUTION;
    if found > current && !(ev.forward && found == current + 1) {
        return Err(Error::with_payload(
            ErrorKind::NewerVersion {
                type_name: T::NAME,
                found,
                newest: current,
            },
            bytes,
        ));
    }
    let oldest = ev.oldest.unwrap_or(current);
    if found < oldest {
        return Err(Error::with_payload(
            ErrorKind::OlderVersion {
                type_name: T::NAME,
                found,
                oldest,
            },
            bytes,
        ));
    }
    Ok(())
}

/// Decodes a plain (not polymorphic) versioned type.
pub(crate) fn decode<T, C>(codec: &C, bytes: &[u8], hints: &Hints<'_>) -> Result<T>
where
    T: KafkaMessage,
    C: KafkaCodec<T> + ?Sized,
{
    let fast = codec.serde_codec(hints);
    match position::<T, BuiltinCodecs>(fast, bytes, hints)? {
        At::Current => codec.decode_hinted(bytes, hints),
        At::Other(from) => decode_other::<T, BuiltinCodecs>(fast, from, bytes),
    }
}

/// Reads a record of another version than the current one: up the chain,
/// or through the `forward` step.
#[cold]
pub(crate) fn decode_other<T: KafkaMessage, L: FastCodecs>(
    fast: Option<FastPath<'_>>,
    from: u32,
    bytes: &[u8],
) -> Result<T> {
    let Some(fast) = fast else {
        return Err(Error::with_payload(
            ErrorKind::Upcast {
                type_name: T::NAME,
                from,
                source: "the codec has no SerdeCodec side, so it reads the current version only"
                    .into(),
            },
            bytes,
        ));
    };
    fast.check(bytes)?;
    T::__upcast(Old::<L> {
        fast,
        bytes,
        from,
        codecs: PhantomData,
    })
    .map_err(|e| {
        if e.payload().is_some() {
            e
        } else {
            e.payload_bytes(bytes::Bytes::copy_from_slice(bytes))
        }
    })
}

fn parse_header(text: &str, bytes: &[u8]) -> Result<u32> {
    text.trim().parse().map_err(|_| {
        Error::with_payload(
            ErrorKind::Header {
                name: crate::headers::VERSION.to_owned(),
                reason: format!("`{text}` is not a version number"),
            },
            bytes,
        )
    })
}

#[cold]
fn upcast_error<T: KafkaMessage>(from: u32, reason: String) -> Error {
    Error::new(ErrorKind::Upcast {
        type_name: T::NAME,
        from,
        source: reason.into(),
    })
}

/// The version written in the payload's field `field`, if it has one.
#[cold]
fn probe<T: KafkaMessage, L: FastCodecs>(
    fast: Option<FastPath<'_>>,
    field: &'static str,
    bytes: &[u8],
) -> Result<Option<u32>> {
    let Some(fast) = fast else {
        return Err(Error::with_payload(
            ErrorKind::Header {
                name: crate::headers::VERSION.to_owned(),
                reason: format!(
                    "the record has no version header, and the codec cannot read the payload's \
                     `{field}` field: it has no SerdeCodec side"
                ),
            },
            bytes,
        ));
    };
    fast.check(bytes)?;
    let probe = match L::decode_as::<Probe<T>>(fast.as_any(), bytes) {
        Some(done) => done?,
        None => from_tree::<T, Probe<T>>(0, fast.decode_value(bytes)?)?,
    };
    Ok(probe.0)
}

/// The version field of a payload's top-level map, every other entry
/// skipped.
struct Probe<T>(Option<u32>, PhantomData<T>);

impl<'de, T: KafkaMessage> serde::Deserialize<'de> for Probe<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        d.deserialize_map(ProbeVisitor::<T>(PhantomData))
    }
}

struct ProbeVisitor<T>(PhantomData<T>);

impl<'de, T: KafkaMessage> Visitor<'de> for ProbeVisitor<T> {
    type Value = Probe<T>;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a map")
    }

    fn visit_map<A: MapAccess<'de>>(
        self,
        mut map: A,
    ) -> std::result::Result<Self::Value, A::Error> {
        let field = T::__EVOLUTION.field.unwrap_or_default();
        let mut found = None;
        while let Some(is_field) = map.next_key_seed(KeyIs(field))? {
            if is_field && found.is_none() {
                found = Some(map.next_value_seed(VersionNumber)?);
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(Probe(found, PhantomData))
    }
}

/// A map key, compared with `self.0` without allocating.
struct KeyIs(&'static str);

impl<'de> DeserializeSeed<'de> for KeyIs {
    type Value = bool;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> std::result::Result<bool, D::Error> {
        d.deserialize_str(self)
    }
}

impl Visitor<'_> for KeyIs {
    type Value = bool;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a string key")
    }

    fn visit_str<E: serde::de::Error>(self, v: &str) -> std::result::Result<bool, E> {
        Ok(v == self.0)
    }

    fn visit_bytes<E: serde::de::Error>(self, v: &[u8]) -> std::result::Result<bool, E> {
        Ok(v == self.0.as_bytes())
    }

    fn visit_u64<E: serde::de::Error>(self, _: u64) -> std::result::Result<bool, E> {
        Ok(false)
    }

    fn visit_i64<E: serde::de::Error>(self, _: i64) -> std::result::Result<bool, E> {
        Ok(false)
    }
}

/// A version number, written as a number or as its decimal text.
struct VersionNumber;

impl<'de> DeserializeSeed<'de> for VersionNumber {
    type Value = u32;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> std::result::Result<u32, D::Error> {
        d.deserialize_any(self)
    }
}

impl Visitor<'_> for VersionNumber {
    type Value = u32;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a version number")
    }

    fn visit_u64<E: serde::de::Error>(self, v: u64) -> std::result::Result<u32, E> {
        u32::try_from(v).map_err(|_| E::custom(format!("version {v} is out of range")))
    }

    fn visit_i64<E: serde::de::Error>(self, v: i64) -> std::result::Result<u32, E> {
        u32::try_from(v).map_err(|_| E::custom(format!("version {v} is out of range")))
    }

    fn visit_str<E: serde::de::Error>(self, v: &str) -> std::result::Result<u32, E> {
        v.trim()
            .parse()
            .map_err(|_| E::custom(format!("`{v}` is not a version number")))
    }
}
