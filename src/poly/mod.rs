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
//! [`ErrorKind::UnknownType`](crate::ErrorKind::UnknownType) error carrying
//! the tag and the raw bytes, never a guess.
//!
//! # The fast path
//!
//! Plain typetag goes through `erased-serde`, which costs a virtual call per
//! field to encode and per token to decode. With a [`SerdeCodec`](crate::codec::SerdeCodec) the trait
//! names (the built-in ones always; others with
//! `#[kafka_codec::polymorphic(codecs(MyCodec))]`), this crate uses the
//! concrete type's own monomorphic serde code instead, both ways:
//!
//! * **Decoding**: when the concrete type is known up front, from the type
//!   header a producer wrote or from the payload's tag, the payload decodes
//!   straight into the concrete struct, through a registry of decoders
//!   collected at link time. That needs a type that reads typetag's form as
//!   written, a map with the tag entry beside its fields: structs, maps,
//!   newtypes of those, internally tagged enums. Types typetag writes
//!   otherwise (unit structs, newtypes of numbers or strings, externally
//!   tagged enums, tuple structs) or that refuse the tag entry
//!   (`deny_unknown_fields`) are found once, when the registry is built, and
//!   decode through typetag.
//! * **Encoding** ([`KafkaMessage::encode_with`](crate::KafkaMessage::encode_with),
//!   which producers and `to_bytes` call): one virtual call reaches the
//!   registered type's encoder, compiled for each codec the trait names,
//!   which writes the tag entry and then the value's fields with the
//!   codec's serializer. The bytes are typetag's, exactly: structs, maps,
//!   unit values, newtypes, primitives and enum variants holding at most one
//!   value are written this way; sequences, tuples, tuple and struct
//!   variants (which typetag buffers first) and structs with a field named
//!   like the tag key go through typetag.
//!
//! Anything else falls back to typetag: a codec that is not a `SerdeCodec`,
//! or one the trait does not name. Calling a codec's own
//! [`KafkaCodec::encode`](crate::codec::KafkaCodec::encode) or `decode` on a `Box<dyn Trait>` takes typetag's
//! way too (the codec is generic over the value and cannot know it holds a
//! trait object).
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

use crate::error::Result;

pub(crate) mod generated;
mod shape;
mod tag;

pub use crate::fast::{BuiltinCodecs, FastCodecs};
pub(crate) use generated::Entry;
pub(crate) use tag::leading_or_scan;
#[cfg(feature = "msgpack")]
pub(crate) use tag::msgpack_leading_tag;
pub use tag::{json_leading_tag, scan_tag};

/// Implemented for `dyn Trait` by `#[kafka_codec::polymorphic]`: where the
/// trait's registry lives and which key holds the tag.
pub trait Polymorphic: 'static {
    /// The key of the type tag (default `"type"`).
    const TAG_KEY: &'static str;

    /// The trait object's name, for error messages.
    const TRAIT_NAME: &'static str;

    /// The codecs registered types decode with on the fast path:
    /// [`BuiltinCodecs`], after those named with `codecs(...)`.
    type Codecs: FastCodecs;

    /// The registry of every type registered for this trait.
    fn registry() -> &'static Registry<Self>;

    /// The tag of a value's concrete type.
    fn tag_of(value: &Self) -> &'static str;

    /// Encodes `value` tagged, with its concrete type's own serde code, if
    /// `codec` is one of [`Codecs`](Polymorphic::Codecs) and the value's shape
    /// allows (else `None`, with `buf` as it was). Generated: one virtual
    /// call to the registered type's encoder.
    #[doc(hidden)]
    fn encode_fast(value: &Self, codec: &dyn Any, buf: &mut Vec<u8>) -> Option<Result<()>> {
        let _ = (value, codec, buf);
        None
    }

    /// Calls `f` with `value`'s concrete type, then each base it extends
    /// (`#[kafka(base)]`), until `f` returns `true`: what `view` and
    /// [`Dispatch::on_base`](crate::kafka::Dispatch::on_base) use.
    #[doc(hidden)]
    fn views<'a>(value: &'a Self, f: &mut dyn FnMut(&'a dyn Any) -> bool) -> bool {
        let _ = (value, f);
        false
    }
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
/// registered implementation: `T: Upcast<dyn Trait>` says `T` is one.
#[doc(hidden)]
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a registered implementation of `{Tr}`",
    label = "no `#[kafka_codec::polymorphic] impl` of the trait for this type",
    note = "add `#[kafka_codec::polymorphic]` to the type's `impl` of the trait, or route it with `fallback`"
)]
pub trait Upcast<Tr: ?Sized> {
    fn upcast(self) -> Box<Tr>;
}

/// The types registered for one trait, sorted by tag.
pub struct Registry<Tr: ?Sized + 'static> {
    entries: Vec<&'static Entry<Tr>>,
    /// Every name a type is read under, tags and aliases, sorted, with
    /// the type's entry and whether the fast path decodes it.
    names: Vec<(&'static str, Slot<Tr>)>,
    duplicates: Vec<(&'static str, usize)>,
}

impl<Tr: ?Sized + 'static> std::fmt::Debug for Registry<Tr> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry")
            .field("tags", &self.tags().collect::<Vec<_>>())
            .field("aliases", &self.aliases().collect::<Vec<_>>())
            .field("duplicates", &self.duplicates)
            .finish()
    }
}

/// A registered type, as the registry finds it.
struct Slot<Tr: ?Sized + 'static> {
    entry: &'static Entry<Tr>,
    /// Whether its `Deserialize` reads typetag's form as written (see
    /// [`shape`]): the fast path decodes those only.
    map_shaped: bool,
}

impl<Tr: ?Sized> Clone for Slot<Tr> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<Tr: ?Sized> Copy for Slot<Tr> {}

impl<Tr: Polymorphic + ?Sized> Registry<Tr> {
    /// Builds a registry from entries, noting names (tags or aliases)
    /// claimed more than once, and finding which types the fast path reads.
    #[doc(hidden)]
    pub fn build(entries: impl IntoIterator<Item = &'static Entry<Tr>>) -> Self {
        let mut entries: Vec<_> = entries.into_iter().collect();
        let order = |a: &Entry<Tr>, b: &Entry<Tr>| {
            a.tag
                .cmp(b.tag)
                .then_with(|| (a.rust_name)().cmp((b.rust_name)()))
        };
        entries.sort_by(|a, b| order(a, b));
        let mut names: Vec<(&'static str, Slot<Tr>)> = entries
            .iter()
            .flat_map(|&entry| {
                let slot = Slot {
                    entry,
                    map_shaped: (entry.probe)(Tr::TAG_KEY),
                };
                std::iter::once(entry.tag)
                    .chain(entry.aliases.iter().copied())
                    .map(move |n| (n, slot))
            })
            .collect();
        names.sort_by(|a, b| a.0.cmp(b.0).then_with(|| order(a.1.entry, b.1.entry)));
        let mut duplicates: Vec<(&'static str, usize)> = Vec::new();
        for pair in names.windows(2) {
            if pair[0].0 == pair[1].0 {
                match duplicates.last_mut() {
                    Some((name, count)) if *name == pair[0].0 => *count += 1,
                    _ => duplicates.push((pair[0].0, 2)),
                }
            }
        }
        for (tag, count) in &duplicates {
            tracing::error!(tag, count, "type tag registered more than once");
        }
        Registry {
            entries,
            names,
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
}

impl<Tr: ?Sized + 'static> Registry<Tr> {
    /// The registered tags, sorted (aliases are not tags).
    pub fn tags(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.entries.iter().map(|e| e.tag)
    }

    /// The old tags still read, each with the tag it stands for, sorted.
    pub fn aliases(&self) -> impl Iterator<Item = (&'static str, &'static str)> + '_ {
        self.names
            .iter()
            .filter(|(name, slot)| *name != slot.entry.tag)
            .map(|(name, slot)| (*name, slot.entry.tag))
    }

    /// The current version of the type registered under `tag` (or an alias
    /// of it), if it declares one.
    pub fn version_of(&self, tag: &str) -> Option<u32> {
        self.find(tag).ok().and_then(|slot| slot.entry.version)
    }

    /// Whether `tag` is registered (exactly once), as a tag or an alias.
    pub fn contains(&self, tag: &str) -> bool {
        self.find(tag).is_ok()
    }

    /// Tags and aliases claimed by more than one type, with how many claim
    /// each.
    pub fn duplicates(&self) -> &[(&'static str, usize)] {
        &self.duplicates
    }

    fn find(&self, tag: &str) -> std::result::Result<Slot<Tr>, Option<usize>> {
        let i = self
            .names
            .binary_search_by(|(name, _)| (*name).cmp(tag))
            .map_err(|_| None)?;
        let slot = self.names[i].1;
        if let Some(&(_, count)) = self.duplicates.iter().find(|(t, _)| *t == tag) {
            return Err(Some(count));
        }
        Ok(slot)
    }
}
