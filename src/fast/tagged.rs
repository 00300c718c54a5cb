//! Encoding a trait object's concrete value with the type tag written first,
//! monomorphically: the encode half of the fast path.
//!
//! [`Tagged`] writes what typetag's internally tagged serializer writes
//! (typetag 0.2's `InternallyTaggedSerializer`, through which
//! `Serialize for dyn Trait` goes), byte for byte, for the shapes it can
//! write as it goes: structs, maps, unit values, newtypes, primitives and
//! enum variants holding at most one value. typetag buffers the other shapes
//! (sequences, tuples, tuple and struct variants) into a tree first: for
//! those [`Tagged`] refuses before writing anything, and for a struct field
//! named like the tag key (which typetag checks against the tag) when it
//! reaches it. Either way the caller truncates the buffer back and lets
//! typetag encode the value.

use std::cell::Cell;

use serde::ser::{self, Impossible, Serialize, SerializeMap, SerializeStruct, Serializer};

use crate::codec::SerdeCodec;
use crate::error::Result;

/// The key typetag writes a value under when it is not a map (a string, a
/// number, an `Option`): `{"type":"Celsius","value":21.5}`.
const VALUE_KEY: &str = "value";

/// `value` with `tag_key: tag` written first, as typetag writes a trait
/// object of its type. Serializing it sets `refused` (and fails) for the
/// shapes it leaves to typetag.
pub(crate) struct Tagged<'a, T: ?Sized> {
    pub(crate) key: &'static str,
    pub(crate) tag: &'static str,
    pub(crate) value: &'a T,
    pub(crate) refused: &'a Cell<bool>,
}

impl<T: Serialize + ?Sized> Serialize for Tagged<'_, T> {
    #[inline]
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.value.serialize(TaggedSerializer {
            key: self.key,
            tag: self.tag,
            refused: self.refused,
            delegate: serializer,
        })
    }
}

/// Encodes `value` tagged with `codec`: `None` when its shape is one left to
/// typetag, with `buf` as it was.
#[inline]
pub(crate) fn encode<C, T>(
    codec: &C,
    key: &'static str,
    tag: &'static str,
    value: &T,
    buf: &mut Vec<u8>,
) -> Option<Result<()>>
where
    C: SerdeCodec,
    T: Serialize + ?Sized,
{
    let start = buf.len();
    let refused = Cell::new(false);
    let tagged = Tagged {
        key,
        tag,
        value,
        refused: &refused,
    };
    let result = codec.encode_value(&tagged, buf);
    if refused.get() {
        buf.truncate(start);
        return None;
    }
    Some(result)
}

struct TaggedSerializer<'a, S> {
    key: &'static str,
    tag: &'static str,
    refused: &'a Cell<bool>,
    delegate: S,
}

impl<S: Serializer> TaggedSerializer<'_, S> {
    /// `{tag, "value": value}`, for values that are not maps.
    fn with_value<T: Serialize + ?Sized>(self, value: &T) -> Result<S::Ok, S::Error> {
        let mut map = self.delegate.serialize_map(Some(2))?;
        map.serialize_entry(self.key, self.tag)?;
        map.serialize_entry(VALUE_KEY, value)?;
        map.end()
    }

    /// Leaves the value to typetag.
    #[cold]
    fn refuse<E: ser::Error>(refused: &Cell<bool>) -> E {
        refused.set(true);
        E::custom("left to typetag")
    }
}

// Not overridden, as in typetag: `is_human_readable` (typetag's serializer
// answers serde's default, `true`, whatever the codec says, and the value's
// own top-level `Serialize` sees that) and the `collect_*` methods.
impl<'a, S: Serializer> Serializer for TaggedSerializer<'a, S> {
    type Ok = S::Ok;
    type Error = S::Error;

    type SerializeSeq = Impossible<S::Ok, S::Error>;
    type SerializeTuple = Impossible<S::Ok, S::Error>;
    type SerializeTupleStruct = Impossible<S::Ok, S::Error>;
    type SerializeTupleVariant = Impossible<S::Ok, S::Error>;
    type SerializeMap = S::SerializeMap;
    type SerializeStruct = TaggedStruct<'a, S::SerializeMap>;
    type SerializeStructVariant = Impossible<S::Ok, S::Error>;

    fn serialize_bool(self, v: bool) -> Result<S::Ok, S::Error> {
        self.with_value(&v)
    }
    fn serialize_i8(self, v: i8) -> Result<S::Ok, S::Error> {
        self.with_value(&v)
    }
    fn serialize_i16(self, v: i16) -> Result<S::Ok, S::Error> {
        self.with_value(&v)
    }
    fn serialize_i32(self, v: i32) -> Result<S::Ok, S::Error> {
        self.with_value(&v)
    }
    fn serialize_i64(self, v: i64) -> Result<S::Ok, S::Error> {
        self.with_value(&v)
    }
    fn serialize_i128(self, v: i128) -> Result<S::Ok, S::Error> {
        self.with_value(&v)
    }
    fn serialize_u8(self, v: u8) -> Result<S::Ok, S::Error> {
        self.with_value(&v)
    }
    fn serialize_u16(self, v: u16) -> Result<S::Ok, S::Error> {
        self.with_value(&v)
    }
    fn serialize_u32(self, v: u32) -> Result<S::Ok, S::Error> {
        self.with_value(&v)
    }
    fn serialize_u64(self, v: u64) -> Result<S::Ok, S::Error> {
        self.with_value(&v)
    }
    fn serialize_u128(self, v: u128) -> Result<S::Ok, S::Error> {
        self.with_value(&v)
    }
    fn serialize_f32(self, v: f32) -> Result<S::Ok, S::Error> {
        self.with_value(&v)
    }
    fn serialize_f64(self, v: f64) -> Result<S::Ok, S::Error> {
        self.with_value(&v)
    }
    fn serialize_char(self, v: char) -> Result<S::Ok, S::Error> {
        self.with_value(&v)
    }
    fn serialize_str(self, v: &str) -> Result<S::Ok, S::Error> {
        self.with_value(v)
    }
    fn serialize_bytes(self, v: &[u8]) -> Result<S::Ok, S::Error> {
        // As typetag: the bytes as a `[u8]`, which serde writes as a
        // sequence.
        self.with_value(v)
    }
    fn serialize_none(self) -> Result<S::Ok, S::Error> {
        self.serialize_unit()
    }
    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<S::Ok, S::Error> {
        self.with_value(value)
    }

    fn serialize_unit(self) -> Result<S::Ok, S::Error> {
        let mut map = self.delegate.serialize_map(Some(1))?;
        map.serialize_entry(self.key, self.tag)?;
        map.end()
    }
    fn serialize_unit_struct(self, _: &'static str) -> Result<S::Ok, S::Error> {
        self.serialize_unit()
    }
    fn serialize_unit_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
    ) -> Result<S::Ok, S::Error> {
        let mut map = self.delegate.serialize_map(Some(2))?;
        map.serialize_entry(self.key, self.tag)?;
        map.serialize_entry(variant, &())?;
        map.end()
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        value: &T,
    ) -> Result<S::Ok, S::Error> {
        value.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        value: &T,
    ) -> Result<S::Ok, S::Error> {
        let mut map = self.delegate.serialize_map(Some(2))?;
        map.serialize_entry(self.key, self.tag)?;
        map.serialize_entry(variant, value)?;
        map.end()
    }

    fn serialize_map(self, len: Option<usize>) -> Result<S::SerializeMap, S::Error> {
        let mut map = self.delegate.serialize_map(len.map(|len| len + 1))?;
        map.serialize_entry(self.key, self.tag)?;
        Ok(map)
    }
    fn serialize_struct(
        self,
        _: &'static str,
        len: usize,
    ) -> Result<Self::SerializeStruct, S::Error> {
        let mut map = self.delegate.serialize_map(Some(len + 1))?;
        map.serialize_entry(self.key, self.tag)?;
        Ok(TaggedStruct {
            map,
            key: self.key,
            refused: self.refused,
        })
    }

    // The shapes typetag buffers: refused before anything is written.
    fn serialize_seq(self, _: Option<usize>) -> Result<Self::SerializeSeq, S::Error> {
        Err(Self::refuse(self.refused))
    }
    fn serialize_tuple(self, _: usize) -> Result<Self::SerializeTuple, S::Error> {
        Err(Self::refuse(self.refused))
    }
    fn serialize_tuple_struct(
        self,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleStruct, S::Error> {
        Err(Self::refuse(self.refused))
    }
    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleVariant, S::Error> {
        Err(Self::refuse(self.refused))
    }
    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeStructVariant, S::Error> {
        Err(Self::refuse(self.refused))
    }
}

/// A struct's fields after the tag.
struct TaggedStruct<'a, M> {
    map: M,
    key: &'static str,
    refused: &'a Cell<bool>,
}

impl<M: SerializeMap> SerializeStruct for TaggedStruct<'_, M> {
    type Ok = M::Ok;
    type Error = M::Error;

    #[inline]
    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), M::Error> {
        if key == self.key {
            // typetag skips a field named like the tag key when it holds the
            // tag, and fails otherwise: left to typetag, for both.
            self.refused.set(true);
            return Err(ser::Error::custom("left to typetag"));
        }
        self.map.serialize_entry(key, value)
    }

    #[inline]
    fn end(self) -> Result<M::Ok, M::Error> {
        self.map.end()
    }
}
