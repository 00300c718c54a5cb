//! What the code `#[kafka_codec::polymorphic]` generates calls: each
//! registered type's entry, the trait object's decoder and encoder, the
//! duplicate-tag check. Public only through `__private`.

use std::any::Any;

use super::{shape, FastCodecs, Polymorphic, Slot, Upcast};
use crate::codec::{FastPath, Hints, KafkaCodec, VersionHint};
use crate::error::{Error, ErrorKind, Result};

/// The body of each registered type's encoder: `value`, a `T` registered
/// for `Tr` under `tag`, encoded with `codec` on the fast path if it can be.
#[doc(hidden)]
#[inline]
pub fn encode_tagged<Tr, T>(
    codec: &dyn Any,
    tag: &'static str,
    value: &T,
    buf: &mut Vec<u8>,
) -> Option<Result<()>>
where
    Tr: Polymorphic + ?Sized,
    T: serde::Serialize,
{
    <Tr::Codecs as FastCodecs>::encode(codec, Tr::TAG_KEY, tag, value, buf)
}

type DecodeFn<Tr> = fn(FastPath<'_>, &[u8], &Hints<'_>) -> Option<Result<Box<Tr>>>;

/// One registered type: its tag, the old tags it is still read under, its
/// version and its monomorphic decoders.
#[doc(hidden)]
#[allow(missing_debug_implementations)]
pub struct Entry<Tr: ?Sized + 'static> {
    pub(crate) tag: &'static str,
    pub(crate) aliases: &'static [&'static str],
    pub(crate) rust_name: fn() -> &'static str,
    pub(crate) version: Option<u32>,
    pub(crate) decode: DecodeFn<Tr>,
    /// Whether the type reads a map with the tag entry beside its fields:
    /// the fast path decodes those only. Found once, when the registry is
    /// built.
    pub(crate) probe: fn(&'static str) -> bool,
}

impl<Tr: Polymorphic + ?Sized> Entry<Tr> {
    /// The entry for `T`, registered under `tag`.
    pub const fn new<T>(tag: &'static str) -> Self
    where
        T: Upcast<Tr> + crate::KafkaMessage,
    {
        Entry {
            tag,
            aliases: &[],
            rust_name: std::any::type_name::<T>,
            version: T::VERSION,
            decode: decode_entry::<Tr, T>,
            probe: shape::map_shaped::<T>,
        }
    }

    /// The same entry, also read under the old tags `aliases`.
    pub const fn aliases(mut self, aliases: &'static [&'static str]) -> Self {
        self.aliases = aliases;
        self
    }
}

/// A registered type's decoder: its version decides between the type's
/// monomorphic decoder and its upcast chain.
#[inline]
fn decode_entry<Tr, T>(
    fast: FastPath<'_>,
    bytes: &[u8],
    hints: &Hints<'_>,
) -> Option<Result<Box<Tr>>>
where
    Tr: Polymorphic + ?Sized,
    T: Upcast<Tr> + crate::KafkaMessage,
{
    use crate::version::{decode_other, position, At};
    match position::<T, Tr::Codecs>(Some(fast), bytes, hints) {
        Ok(At::Current) => <Tr::Codecs as FastCodecs>::decode_as::<T>(fast.as_any(), bytes)
            .map(|r| r.map(Upcast::upcast)),
        Ok(At::Other(from)) => {
            Some(decode_other::<T, Tr::Codecs>(Some(fast), from, bytes).map(Upcast::upcast))
        }
        Err(e) => Some(Err(e)),
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
    let Some(fast) = codec.serde_codec(hints) else {
        // A codec without the fast path: check the tag we were told about,
        // then let typetag do the work.
        let Some(header) = hints.type_name else {
            return codec.decode_hinted(bytes, hints);
        };
        let entry = entry_for::<Tr>(header, bytes)?.entry;
        if header != entry.tag {
            // typetag knows no aliases: they are read on the fast path only.
            return Err(Error::with_payload(
                ErrorKind::UnknownType {
                    tag: header.to_owned(),
                    target: Tr::TRAIT_NAME,
                },
                bytes,
            ));
        }
        typetag_reads_version(entry, hints, bytes)?;
        let value = codec.decode_hinted(bytes, hints)?;
        let tag = Tr::tag_of(&value);
        if tag != header {
            return Err(disagree(header, tag, bytes));
        }
        return Ok(value);
    };
    fast.check(bytes)?;
    // The payload's tag, even when a header names the type, so header and
    // payload cannot disagree unnoticed.
    let slot = match (fast.find_tag(bytes, Tr::TAG_KEY)?, hints.type_name) {
        (Some(payload_tag), Some(header)) if payload_tag != header => {
            // They agree only if one is an alias of the other.
            let registry = Tr::registry();
            match (registry.find(&payload_tag), registry.find(header)) {
                (Ok(a), Ok(b)) if std::ptr::eq(a.entry, b.entry) => a,
                _ => return Err(disagree(header, &payload_tag, bytes)),
            }
        }
        (Some(tag), _) => entry_for::<Tr>(&tag, bytes)?,
        (None, Some(header)) => entry_for::<Tr>(header, bytes)?,
        (None, None) => {
            return Err(Error::with_payload(
                ErrorKind::MissingTag {
                    tag_key: Tr::TAG_KEY,
                    target: Tr::TRAIT_NAME,
                },
                bytes,
            ))
        }
    };
    if !slot.map_shaped {
        // Typetag's form of this type (a unit, a number, an enum, a tuple,
        // a struct refusing unknown fields) is one only typetag reads.
        return decode_by_typetag(codec, slot.entry, bytes, hints);
    }
    match (slot.entry.decode)(fast, bytes, hints) {
        Some(decoded) => decoded,
        // A `SerdeCodec` the trait does not name: typetag, on a payload
        // already checked.
        None => codec.decode_hinted(bytes, hints),
    }
}

/// Decodes a type the fast path cannot read through typetag, checking the
/// tag and version the entry was found by.
#[cold]
fn decode_by_typetag<Tr, C>(
    codec: &C,
    entry: &Entry<Tr>,
    bytes: &[u8],
    hints: &Hints<'_>,
) -> Result<Box<Tr>>
where
    Tr: Polymorphic + ?Sized,
    C: KafkaCodec<Box<Tr>> + ?Sized,
{
    typetag_reads_version(entry, hints, bytes)?;
    let value = codec.decode_hinted(bytes, hints)?;
    let tag = Tr::tag_of(&value);
    if tag != entry.tag {
        return Err(disagree(entry.tag, tag, bytes));
    }
    Ok(value)
}

/// Fails when the record's version header names another version than the
/// type's current one: typetag reads the current form only, it does not
/// upcast.
fn typetag_reads_version<Tr: ?Sized>(
    entry: &Entry<Tr>,
    hints: &Hints<'_>,
    bytes: &[u8],
) -> Result<()> {
    match hints.version {
        VersionHint::Header(version)
            if entry
                .version
                .is_some_and(|v| version.trim() != v.to_string()) =>
        {
            Err(version_without_fast_path(entry.tag, version, bytes))
        }
        _ => Ok(()),
    }
}

#[cold]
fn version_without_fast_path(tag: &'static str, version: &str, bytes: &[u8]) -> Error {
    Error::with_payload(
        ErrorKind::Upcast {
            type_name: tag,
            from: version.trim().parse().unwrap_or(0),
            source: format!(
                "`{tag}` version {version} is not the current one, and it can only be read \
                 through typetag, which does not upcast (a codec without a SerdeCodec side, or \
                 a type not written as a map)"
            )
            .into(),
        },
        bytes,
    )
}

/// Encodes a trait object, by the fast path where it can: with the
/// [`SerdeCodec`] of the content type `codec` writes, if the trait names it,
/// else with `codec` itself (through typetag). The same bytes either way.
#[doc(hidden)]
#[allow(clippy::borrowed_box)] // typetag's way needs the box itself
pub fn encode<Tr, C>(codec: &C, value: &Box<Tr>, buf: &mut Vec<u8>) -> Result<()>
where
    Tr: Polymorphic + ?Sized,
    C: KafkaCodec<Box<Tr>> + ?Sized,
{
    let hints = Hints::new(Some(codec.content_type()), None);
    if let Some(fast) = codec.serde_codec(&hints) {
        if let Some(done) = Tr::encode_fast(&**value, fast.as_any(), buf) {
            return done;
        }
    }
    codec.encode(value, buf)
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

fn entry_for<Tr: Polymorphic + ?Sized>(tag: &str, bytes: &[u8]) -> Result<Slot<Tr>> {
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
