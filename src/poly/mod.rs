//! Trait objects and inheritance-like hierarchies.
//!
//! # Trait objects
//!
//! Mark a trait with `#[kafka_codec::polymorphic]` and each implementation
//! with the same attribute. `Box<dyn Trait>` then encodes as the concrete
//! value's fields with a type tag written first (`{"type":"Employee",...}`,
//! tag key configurable with `tag = "..."`), and decodes back into the right
//! concrete type. This is [typetag]'s internally tagged representation; you
//! never name typetag yourself.
//!
//! Only types compiled into the consumer and registered with the attribute
//! can ever be created by decoding: an unknown tag is an
//! [`ErrorKind::UnknownType`] error carrying
//! the tag and the raw bytes, never a guess.
//!
//! # The fast path
//!
//! Plain typetag decoding goes through `erased-serde`, which costs a virtual
//! call per token. When the concrete type is known up front, from the type
//! header a producer wrote or from the payload's leading tag, and the codec is
//! a built-in one, this crate decodes straight into the concrete struct with
//! monomorphic code instead, through a registry of decoders collected at link
//! time. Anything else falls back to typetag.
//!
//! # Hierarchies
//!
//! A struct extends another by holding it in a field marked
//! `#[kafka(base)]` (see [`KafkaMessage`](derive@crate::KafkaMessage)): its
//! wire form has the base's fields flattened in, exactly like a Python
//! subclass's `vars()`, it derefs to the base, and it converts into it.
//!
//! [typetag]: https://docs.rs/typetag

use std::any::Any;
use std::sync::OnceLock;

use crate::codec::{Builtin, Hints, Json, KafkaCodec};
use crate::error::{Error, ErrorKind, Result};

mod tag;

pub use tag::{json_leading_tag, scan_tag};

/// Implemented for `dyn Trait` by `#[kafka_codec::polymorphic]`: where the
/// trait's registry lives and which key holds the tag.
pub trait Polymorphic: 'static {
    /// The key of the type tag (default `"type"`).
    const TAG_KEY: &'static str;

    /// The trait object's name, for error messages.
    const TRAIT_NAME: &'static str;

    /// The registry of every type registered for this trait.
    fn registry() -> &'static Registry<Self>;

    /// The tag of a value's concrete type.
    fn tag_of(value: &Self) -> &'static str;
}

/// Downcasting for trait objects. Every `#[kafka_codec::polymorphic]` trait
/// has it as a supertrait; it is implemented for every `'static` type.
pub trait Downcast: Any + Send + Sync {
    /// The value as `&dyn Any`.
    fn as_any(&self) -> &dyn Any;
    /// The value as `&mut dyn Any`.
    fn as_any_mut(&mut self) -> &mut dyn Any;
    /// The boxed value as `Box<dyn Any>`.
    fn into_any(self: Box<Self>) -> Box<dyn Any + Send + Sync>;
}

impl<T: Any + Send + Sync> Downcast for T {
    fn as_any(&self) -> &dyn Any {
        self
    }
    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
    fn into_any(self: Box<Self>) -> Box<dyn Any + Send + Sync> {
        self
    }
}

/// Turns a concrete value into the trait object. Generated for each
/// registered implementation.
#[doc(hidden)]
pub trait Upcast<Tr: ?Sized> {
    fn upcast(self) -> Box<Tr>;
}

type DecodeFn<Tr, C> = fn(&C, &[u8]) -> Result<Box<Tr>>;

/// One registered type: its tag and its monomorphic decoders.
#[doc(hidden)]
#[allow(missing_debug_implementations)]
pub struct Entry<Tr: ?Sized + 'static> {
    tag: &'static str,
    rust_name: fn() -> &'static str,
    json: DecodeFn<Tr, Json>,
    #[cfg(feature = "msgpack")]
    msgpack: DecodeFn<Tr, crate::codec::MsgPack>,
}

impl<Tr: ?Sized + 'static> Entry<Tr> {
    /// The entry for `T`, registered under `tag`.
    pub const fn new<T>(tag: &'static str) -> Self
    where
        T: Upcast<Tr> + serde::Serialize + serde::de::DeserializeOwned + 'static,
    {
        Entry {
            tag,
            rust_name: std::any::type_name::<T>,
            json: decode_json::<T, Tr>,
            #[cfg(feature = "msgpack")]
            msgpack: decode_msgpack::<T, Tr>,
        }
    }
}

/// `decode` checked the limits already; don't scan the payload twice.
fn decode_json<T, Tr>(_: &Json, bytes: &[u8]) -> Result<Box<Tr>>
where
    T: Upcast<Tr> + serde::Serialize + serde::de::DeserializeOwned,
    Tr: ?Sized,
{
    Json::decode_checked::<T>(bytes).map(Upcast::upcast)
}

/// `decode` checked the limits already.
#[cfg(feature = "msgpack")]
fn decode_msgpack<T, Tr>(codec: &crate::codec::MsgPack, bytes: &[u8]) -> Result<Box<Tr>>
where
    T: Upcast<Tr> + serde::Serialize + serde::de::DeserializeOwned,
    Tr: ?Sized,
{
    codec.decode_checked::<T>(bytes).map(Upcast::upcast)
}

/// The types registered for one trait, sorted by tag.
pub struct Registry<Tr: ?Sized + 'static> {
    entries: Vec<&'static Entry<Tr>>,
    duplicates: Vec<(&'static str, usize)>,
}

impl<Tr: ?Sized + 'static> std::fmt::Debug for Registry<Tr> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry")
            .field("tags", &self.tags().collect::<Vec<_>>())
            .field("duplicates", &self.duplicates)
            .finish()
    }
}

impl<Tr: ?Sized + 'static> Registry<Tr> {
    /// Builds a registry from entries, noting tags claimed more than once.
    #[doc(hidden)]
    pub fn build(entries: impl IntoIterator<Item = &'static Entry<Tr>>) -> Self {
        let mut entries: Vec<_> = entries.into_iter().collect();
        entries.sort_by(|a, b| {
            a.tag
                .cmp(b.tag)
                .then_with(|| (a.rust_name)().cmp((b.rust_name)()))
        });
        let mut duplicates: Vec<(&'static str, usize)> = Vec::new();
        for pair in entries.windows(2) {
            if pair[0].tag == pair[1].tag {
                match duplicates.last_mut() {
                    Some((tag, count)) if *tag == pair[0].tag => *count += 1,
                    _ => duplicates.push((pair[0].tag, 2)),
                }
            }
        }
        for (tag, count) in &duplicates {
            tracing::error!(tag, count, "type tag registered more than once");
        }
        Registry {
            entries,
            duplicates,
        }
    }

    /// Builds a registry once and keeps it for the life of the program.
    #[doc(hidden)]
    pub fn get_or_build(
        cell: &'static OnceLock<Self>,
        entries: impl FnOnce() -> Vec<&'static Entry<Tr>>,
    ) -> &'static Self {
        cell.get_or_init(|| Self::build(entries()))
    }

    /// The registered tags, sorted.
    pub fn tags(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.entries.iter().map(|e| e.tag)
    }

    /// Whether `tag` is registered (exactly once).
    pub fn contains(&self, tag: &str) -> bool {
        self.find(tag).is_ok()
    }

    /// Tags claimed by more than one type, with how many claim each.
    pub fn duplicates(&self) -> &[(&'static str, usize)] {
        &self.duplicates
    }

    fn find(&self, tag: &str) -> std::result::Result<&'static Entry<Tr>, Option<usize>> {
        let i = self
            .entries
            .binary_search_by(|e| e.tag.cmp(tag))
            .map_err(|_| None)?;
        let entry = self.entries[i];
        if self.duplicates.iter().any(|(t, _)| *t == tag) {
            let count = self.entries.iter().filter(|e| e.tag == tag).count();
            return Err(Some(count));
        }
        Ok(entry)
    }
}

/// Fails with [`ErrorKind::DuplicateTag`] if two types claim one tag.
pub fn check<Tr: Polymorphic + ?Sized>() -> Result<()> {
    match Tr::registry().duplicates().first() {
        None => Ok(()),
        Some(&(tag, count)) => Err(Error::new(ErrorKind::DuplicateTag {
            tag: tag.to_owned(),
            target: Tr::TRAIT_NAME,
            count,
        })),
    }
}

/// Decodes a trait object, by the fast path where it can.
///
/// The tag comes from the payload's leading tag when there is one, else
/// from the type header hint, else from a scan of the payload. The payload and
/// the header must agree when both name a type.
#[doc(hidden)]
pub fn decode<Tr, C>(codec: &C, bytes: &[u8], hints: &Hints<'_>) -> Result<Box<Tr>>
where
    Tr: Polymorphic + ?Sized,
    C: KafkaCodec<Box<Tr>> + ?Sized,
{
    crate::codec::check_content_type(codec, hints, bytes)?;
    let Some(builtin) = codec.__builtin() else {
        // A user codec: check the tag we were told about, then let typetag
        // do the work.
        let Some(header) = hints.type_name else {
            return codec.decode_hinted(bytes, hints);
        };
        entry_for::<Tr>(header, bytes)?;
        let value = codec.decode_hinted(bytes, hints)?;
        let tag = Tr::tag_of(&value);
        if tag != header {
            return Err(disagree(header, tag, bytes));
        }
        return Ok(value);
    };
    let leading = match builtin {
        Builtin::Json(json) => {
            json.check_limits(bytes)?;
            json_leading_tag(bytes, Tr::TAG_KEY)
        }
        #[cfg(feature = "msgpack")]
        Builtin::MsgPack(mp) => {
            mp.check_limits(bytes)?;
            tag::msgpack_leading_tag(bytes, Tr::TAG_KEY)
        }
    };
    let tag: std::borrow::Cow<'_, str> = match (leading, hints.type_name) {
        (Some(payload_tag), Some(header)) if payload_tag != header => {
            return Err(disagree(header, payload_tag, bytes));
        }
        (Some(tag), _) => tag.into(),
        // The tag is not where this crate's producers put it: look for it,
        // so header and payload cannot disagree unnoticed.
        (None, Some(header)) => match scan_tag(builtin, bytes, Tr::TAG_KEY)? {
            Some(payload_tag) if payload_tag != header => {
                return Err(disagree(header, &payload_tag, bytes));
            }
            _ => header.into(),
        },
        (None, None) => match scan_tag(builtin, bytes, Tr::TAG_KEY)? {
            Some(tag) => tag.into(),
            None => {
                return Err(Error::with_payload(
                    ErrorKind::MissingTag {
                        tag_key: Tr::TAG_KEY,
                        target: Tr::TRAIT_NAME,
                    },
                    bytes,
                ))
            }
        },
    };
    let entry = entry_for::<Tr>(&tag, bytes)?;
    match builtin {
        Builtin::Json(json) => (entry.json)(json, bytes),
        #[cfg(feature = "msgpack")]
        Builtin::MsgPack(mp) => (entry.msgpack)(mp, bytes),
    }
}

#[cold]
fn disagree(header: &str, payload_tag: &str, bytes: &[u8]) -> Error {
    Error::with_payload(
        ErrorKind::Header {
            name: crate::headers::TYPE.to_owned(),
            reason: format!(
                "the header names type `{header}` but the payload is tagged `{payload_tag}`"
            ),
        },
        bytes,
    )
}

fn entry_for<Tr: Polymorphic + ?Sized>(tag: &str, bytes: &[u8]) -> Result<&'static Entry<Tr>> {
    Tr::registry().find(tag).map_err(|dup| {
        let kind = match dup {
            Some(count) => ErrorKind::DuplicateTag {
                tag: tag.to_owned(),
                target: Tr::TRAIT_NAME,
                count,
            },
            None => ErrorKind::UnknownType {
                tag: tag.to_owned(),
                target: Tr::TRAIT_NAME,
            },
        };
        Error::with_payload(kind, bytes)
    })
}
