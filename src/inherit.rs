//! The machinery behind `#[kafka(base)]`: a struct's fields, flattened into
//! the struct that extends it, without serde's `#[serde(flatten)]`.
//!
//! `#[serde(flatten)]` buffers every unknown key into an intermediate
//! `Content` tree before handing it to the base, which makes decoding a
//! hierarchy markedly slower than decoding the same fields declared inline.
//! Instead, the derive generates for each struct a field matcher and a
//! partial builder: the derived struct's `Deserialize` asks its own fields
//! first, then its base (which asks its own base, and so on), and fills the
//! matching slot straight from the decoder. The cost is one extra string
//! match per inherited field and no allocation.

use serde::de::{Error as DeError, MapAccess};
use serde::ser::SerializeStruct;

/// A struct whose fields can be flattened into another struct.
///
/// Derived by `#[derive(KafkaMessage)]` for structs with named fields; not
/// meant to be implemented by hand.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be used as a `#[kafka(base)]`",
    note = "derive `KafkaMessage` on `{Self}`: a base must be a non-generic struct with named fields"
)]
pub trait Flatten: Sized {
    /// Identifies one field, own or inherited.
    type Field: Copy;
    /// The fields decoded so far.
    type Partial: Default;
    /// How many fields the struct writes, inherited ones included.
    const LEN: usize;
    /// The wire names of those fields, inherited ones first.
    const NAMES: &'static [&'static str];

    /// The field called `name` on the wire, if any.
    fn field(name: &str) -> Option<Self::Field>;

    /// Decodes the value of `field` from `map` into `partial`.
    fn fill<'de, A: MapAccess<'de>>(
        partial: &mut Self::Partial,
        field: Self::Field,
        map: &mut A,
    ) -> Result<(), A::Error>;

    /// Builds the value once every key was read.
    fn finish<E: DeError>(partial: Self::Partial) -> Result<Self, E>;

    /// Writes the fields, inherited ones first.
    fn serialize_fields<S: SerializeStruct>(&self, s: &mut S) -> Result<(), S::Error>;

    /// Hands `f` this value, then its base, then the base's base, ... until
    /// `f` returns `true`: the views of a value as its own type and each of
    /// its bases (`isinstance` in Python). Returns whether `f` did.
    fn visit_views<'a>(&'a self, f: &mut dyn FnMut(&'a dyn std::any::Any) -> bool) -> bool;
}

/// Views of a polymorphic value (see [`Flatten::visit_views`]): through
/// its bases for types that have them, else the value alone. The derive
/// picks the first that applies (`(&&Views(value)).views(f)`).
#[doc(hidden)]
#[derive(Debug)]
pub struct Views<'a, T>(pub &'a T);

/// For types with bases.
#[doc(hidden)]
pub trait ViewsFlatten<'a> {
    fn views(&self, f: &mut dyn FnMut(&'a dyn std::any::Any) -> bool) -> bool;
}

impl<'a, T: Flatten + 'static> ViewsFlatten<'a> for &Views<'a, T> {
    fn views(&self, f: &mut dyn FnMut(&'a dyn std::any::Any) -> bool) -> bool {
        self.0.visit_views(f)
    }
}

/// For any other type: the value alone.
#[doc(hidden)]
pub trait ViewsAny<'a> {
    fn views(&self, f: &mut dyn FnMut(&'a dyn std::any::Any) -> bool) -> bool;
}

impl<'a, T: 'static> ViewsAny<'a> for Views<'a, T> {
    fn views(&self, f: &mut dyn FnMut(&'a dyn std::any::Any) -> bool) -> bool {
        f(self.0)
    }
}

/// Whether `names` holds `name`: the derive's compile-time check that a
/// struct's own field does not take a name its base already writes.
#[doc(hidden)]
pub const fn contains(names: &[&str], name: &str) -> bool {
    let mut i = 0;
    while i < names.len() {
        let (a, b) = (names[i].as_bytes(), name.as_bytes());
        if a.len() == b.len() {
            let mut j = 0;
            while j < a.len() && a[j] == b[j] {
                j += 1;
            }
            if j == a.len() {
                return true;
            }
        }
        i += 1;
    }
    false
}

/// Fills one slot, refusing a key seen twice.
#[doc(hidden)]
#[inline]
pub fn fill_slot<'de, T, A>(
    slot: &mut Option<T>,
    name: &'static str,
    map: &mut A,
) -> Result<(), A::Error>
where
    T: serde::Deserialize<'de>,
    A: MapAccess<'de>,
{
    if slot.is_some() {
        return Err(A::Error::duplicate_field(name));
    }
    *slot = Some(map.next_value()?);
    Ok(())
}

/// Takes a required slot.
#[doc(hidden)]
#[inline]
pub fn required<T, E: DeError>(slot: Option<T>, name: &'static str) -> Result<T, E> {
    slot.ok_or_else(|| E::missing_field(name))
}

/// Reads a map key as one of `T`'s fields; `None` for keys `T` does not
/// have, whose values the caller skips.
#[doc(hidden)]
#[allow(missing_debug_implementations)]
pub struct FieldSeed<T>(std::marker::PhantomData<fn() -> T>);

impl<T> FieldSeed<T> {
    #[inline]
    pub fn new() -> Self {
        FieldSeed(std::marker::PhantomData)
    }
}

impl<T> Default for FieldSeed<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<'de, T: Flatten> serde::de::DeserializeSeed<'de> for FieldSeed<T> {
    type Value = Option<T::Field>;

    #[inline]
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_identifier(self)
    }
}

impl<T: Flatten> serde::de::Visitor<'_> for FieldSeed<T> {
    type Value = Option<T::Field>;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a field name")
    }

    #[inline]
    fn visit_str<E: DeError>(self, v: &str) -> Result<Self::Value, E> {
        Ok(T::field(v))
    }

    fn visit_bytes<E: DeError>(self, v: &[u8]) -> Result<Self::Value, E> {
        Ok(std::str::from_utf8(v).ok().and_then(T::field))
    }
}
