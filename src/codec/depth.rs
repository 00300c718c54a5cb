//! A deserializer that counts how deep the payload's containers nest, for
//! decoders whose own count misses some (rmp-serde's misses enums).
//!
//! [`Limited`] wraps a deserializer, and every visitor, seed and access it
//! hands out, so that each container the payload opens is counted while the
//! value decodes: a sequence or a map when its visitor is called, an enum's
//! data when the variant is read. A container past the limit fails as soon
//! as anything inside it is read (its first element or key, a newtype
//! variant's value), before the decoder recurses into it, so no payload can
//! exhaust the stack, in the same pass as the decode itself. Everything else
//! is forwarded as it is.
//!
//! The check is where the elements are read rather than where the container
//! opens because that is where the decoder already branches on errors:
//! failing on opening made every container's visitor return through one
//! more error path, which cost 5–8 % of a 1–10 KB decode in time for under
//! 2 % more instructions (see BENCHMARKS.md). A visitor that reads a map's
//! value without its key (which serde forbids) is not checked.
//!
//! An enum is counted when its variant holds data, not when it is entered,
//! since the deserializer does not say whether it is a map (`{"V": data}`)
//! or a unit variant written as a plain string, which is no container. So a
//! unit variant written as a map (`{"V": nil}`, which rmp-serde never
//! writes) is not counted: it holds nothing to recurse into.

use std::cell::Cell;
use std::fmt;

use serde::de::{
    self, DeserializeSeed, Deserializer, EnumAccess, MapAccess, SeqAccess, VariantAccess, Visitor,
};

/// How many more containers may open (wrapping below zero while a container
/// past the limit is open), and whether a decode went past the limit.
pub(crate) struct Depth {
    left: Cell<usize>,
    max: usize,
    exceeded: Cell<bool>,
}

impl Depth {
    pub(crate) fn new(max: usize) -> Self {
        Depth {
            left: Cell::new(max),
            max,
            exceeded: Cell::new(false),
        }
    }

    /// Whether a container went past the limit: the error the decode
    /// returned comes from there.
    pub(crate) fn exceeded(&self) -> bool {
        self.exceeded.get()
    }

    /// Opens a container, without checking (see [`check`](Depth::check)):
    /// returns what to close it with.
    #[inline]
    fn open(&self) -> usize {
        let left = self.left.get();
        self.left.set(left.wrapping_sub(1));
        left
    }

    #[inline]
    fn close(&self, left: usize) {
        self.left.set(left);
    }

    /// Fails if the innermost open container is past the limit: called
    /// before anything inside it is read.
    #[inline]
    fn check<E: de::Error>(&self) -> Result<(), E> {
        if self.left.get() > self.max {
            return Err(self.too_deep());
        }
        Ok(())
    }

    #[cold]
    fn too_deep<E: de::Error>(&self) -> E {
        self.exceeded.set(true);
        E::custom(format_args!("nested deeper than {}", self.max))
    }
}

/// A deserializer whose containers count towards `depth`.
pub(crate) struct Limited<'a, D> {
    de: D,
    depth: &'a Depth,
}

impl<'a, D> Limited<'a, D> {
    pub(crate) fn new(de: D, depth: &'a Depth) -> Self {
        Limited { de, depth }
    }
}

/// The visitor, seed or access `inner` with its containers counted.
struct Counted<'a, X> {
    inner: X,
    depth: &'a Depth,
}

impl<'a, X> Counted<'a, X> {
    #[inline]
    fn new(inner: X, depth: &'a Depth) -> Self {
        Counted { inner, depth }
    }
}

macro_rules! forward_deserialize {
    ($($method:ident($($arg:ident: $ty:ty),*);)*) => {$(
        #[inline]
        fn $method<V: Visitor<'de>>(self, $($arg: $ty,)* visitor: V) -> Result<V::Value, D::Error> {
            self.de.$method($($arg,)* Counted::new(visitor, self.depth))
        }
    )*};
}

impl<'de, D: Deserializer<'de>> Deserializer<'de> for Limited<'_, D> {
    type Error = D::Error;

    forward_deserialize! {
        deserialize_any();
        deserialize_bool();
        deserialize_i8();
        deserialize_i16();
        deserialize_i32();
        deserialize_i64();
        deserialize_i128();
        deserialize_u8();
        deserialize_u16();
        deserialize_u32();
        deserialize_u64();
        deserialize_u128();
        deserialize_f32();
        deserialize_f64();
        deserialize_char();
        deserialize_str();
        deserialize_string();
        deserialize_bytes();
        deserialize_byte_buf();
        deserialize_option();
        deserialize_unit();
        deserialize_unit_struct(name: &'static str);
        deserialize_newtype_struct(name: &'static str);
        deserialize_seq();
        deserialize_tuple(len: usize);
        deserialize_tuple_struct(name: &'static str, len: usize);
        deserialize_map();
        deserialize_struct(name: &'static str, fields: &'static [&'static str]);
        deserialize_enum(name: &'static str, variants: &'static [&'static str]);
        deserialize_identifier();
        deserialize_ignored_any();
    }

    #[inline]
    fn is_human_readable(&self) -> bool {
        self.de.is_human_readable()
    }
}

macro_rules! forward_visit {
    ($($method:ident($ty:ty);)*) => {$(
        #[inline]
        fn $method<E: de::Error>(self, v: $ty) -> Result<Self::Value, E> {
            self.inner.$method(v)
        }
    )*};
}

impl<'de, V: Visitor<'de>> Visitor<'de> for Counted<'_, V> {
    type Value = V::Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.inner.expecting(f)
    }

    forward_visit! {
        visit_bool(bool);
        visit_i8(i8);
        visit_i16(i16);
        visit_i32(i32);
        visit_i64(i64);
        visit_i128(i128);
        visit_u8(u8);
        visit_u16(u16);
        visit_u32(u32);
        visit_u64(u64);
        visit_u128(u128);
        visit_f32(f32);
        visit_f64(f64);
        visit_char(char);
        visit_str(&str);
        visit_borrowed_str(&'de str);
        visit_string(String);
        visit_bytes(&[u8]);
        visit_borrowed_bytes(&'de [u8]);
        visit_byte_buf(Vec<u8>);
    }

    #[inline]
    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        self.inner.visit_none()
    }

    #[inline]
    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        self.inner.visit_unit()
    }

    #[inline]
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        self.inner.visit_some(Limited::new(d, self.depth))
    }

    #[inline]
    fn visit_newtype_struct<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        self.inner.visit_newtype_struct(Limited::new(d, self.depth))
    }

    #[inline]
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
        let left = self.depth.open();
        let value = self.inner.visit_seq(Counted::new(seq, self.depth));
        self.depth.close(left);
        value
    }

    #[inline]
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        let left = self.depth.open();
        let value = self.inner.visit_map(Counted::new(map, self.depth));
        self.depth.close(left);
        value
    }

    #[inline]
    fn visit_enum<A: EnumAccess<'de>>(self, data: A) -> Result<Self::Value, A::Error> {
        // Counted when the variant's data is read: a unit variant written
        // as a plain string is no container.
        self.inner.visit_enum(Counted::new(data, self.depth))
    }
}

impl<'de, S: DeserializeSeed<'de>> DeserializeSeed<'de> for Counted<'_, S> {
    type Value = S::Value;

    #[inline]
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<S::Value, D::Error> {
        self.inner.deserialize(Limited::new(d, self.depth))
    }
}

/// A newtype variant's value: checked before it is read, as the elements of
/// a sequence are.
struct Checked<'a, S>(Counted<'a, S>);

impl<'de, S: DeserializeSeed<'de>> DeserializeSeed<'de> for Checked<'_, S> {
    type Value = S::Value;

    #[inline]
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<S::Value, D::Error> {
        self.0.depth.check()?;
        self.0.deserialize(d)
    }
}

impl<'de, A: SeqAccess<'de>> SeqAccess<'de> for Counted<'_, A> {
    type Error = A::Error;

    #[inline]
    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, A::Error> {
        self.depth.check()?;
        self.inner.next_element_seed(Counted::new(seed, self.depth))
    }

    #[inline]
    fn size_hint(&self) -> Option<usize> {
        self.inner.size_hint()
    }
}

impl<'de, A: MapAccess<'de>> MapAccess<'de> for Counted<'_, A> {
    type Error = A::Error;

    #[inline]
    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, A::Error> {
        self.depth.check()?;
        self.inner.next_key_seed(Counted::new(seed, self.depth))
    }

    // Not checked again: a value comes after its key.
    #[inline]
    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, A::Error> {
        self.inner.next_value_seed(Counted::new(seed, self.depth))
    }

    #[inline]
    fn size_hint(&self) -> Option<usize> {
        self.inner.size_hint()
    }
}

impl<'a, 'de, A: EnumAccess<'de>> EnumAccess<'de> for Counted<'a, A> {
    type Error = A::Error;
    type Variant = Counted<'a, A::Variant>;

    #[inline]
    fn variant_seed<V: DeserializeSeed<'de>>(
        self,
        seed: V,
    ) -> Result<(V::Value, Self::Variant), A::Error> {
        let depth = self.depth;
        let (value, variant) = self.inner.variant_seed(Counted::new(seed, depth))?;
        Ok((value, Counted::new(variant, depth)))
    }
}

impl<'de, A: VariantAccess<'de>> VariantAccess<'de> for Counted<'_, A> {
    type Error = A::Error;

    #[inline]
    fn unit_variant(self) -> Result<(), A::Error> {
        self.inner.unit_variant()
    }

    #[inline]
    fn newtype_variant_seed<T: DeserializeSeed<'de>>(self, seed: T) -> Result<T::Value, A::Error> {
        let left = self.depth.open();
        let value = self
            .inner
            .newtype_variant_seed(Checked(Counted::new(seed, self.depth)));
        self.depth.close(left);
        value
    }

    // The fields of these are a sequence or a map, checked as any other.
    #[inline]
    fn tuple_variant<V: Visitor<'de>>(self, len: usize, visitor: V) -> Result<V::Value, A::Error> {
        let left = self.depth.open();
        let value = self
            .inner
            .tuple_variant(len, Counted::new(visitor, self.depth));
        self.depth.close(left);
        value
    }

    #[inline]
    fn struct_variant<V: Visitor<'de>>(
        self,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, A::Error> {
        let left = self.depth.open();
        let value = self
            .inner
            .struct_variant(fields, Counted::new(visitor, self.depth));
        self.depth.close(left);
        value
    }
}
