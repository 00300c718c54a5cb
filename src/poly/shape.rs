//! Which registered types the decode fast path can read: those whose
//! `Deserialize` takes typetag's form as written, a map with the tag entry
//! beside the fields.
//!
//! The fast path hands the whole payload, tag included, to the concrete
//! type's own decoder. A struct (or a map, or a newtype of either, or an
//! internally tagged enum) reads it and skips the tag. A unit struct, a
//! newtype of a number or string, an externally tagged enum, a tuple struct
//! or a struct with `deny_unknown_fields` cannot: typetag writes those as
//! `{"type": "T", "value": ...}` or refuses the extra key, and only typetag
//! reads them back. The shape is a property of the type, so it is found once
//! per registered type, by letting its `Deserialize` meet a map holding only
//! the tag entry: it is map-shaped if it accepts the map, or fails only for a
//! missing field.

use std::fmt;

use serde::de::value::StrDeserializer;
use serde::de::{DeserializeOwned, DeserializeSeed, MapAccess, Visitor};
use serde::forward_to_deserialize_any;

/// Whether `T` reads a map holding `tag_key` beside its fields.
pub(crate) fn map_shaped<T: DeserializeOwned>(tag_key: &'static str) -> bool {
    match T::deserialize(TagOnly { tag_key }) {
        Ok(_) => true,
        Err(e) => e.missing_field,
    }
}

/// A deserializer that, whatever it is asked for, offers a map of one
/// entry: `tag_key: "?"`.
struct TagOnly {
    tag_key: &'static str,
}

impl<'de> serde::Deserializer<'de> for TagOnly {
    type Error = ProbeError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ProbeError> {
        visitor.visit_map(OneEntry {
            key: Some(self.tag_key),
        })
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        visitor: V,
    ) -> Result<V::Value, ProbeError> {
        // A newtype reads as what it wraps, on the fast path as in typetag.
        visitor.visit_newtype_struct(self)
    }

    forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf option unit unit_struct seq tuple
        tuple_struct map struct enum identifier ignored_any
    }
}

/// The map of one entry.
struct OneEntry {
    key: Option<&'static str>,
}

impl<'de> MapAccess<'de> for OneEntry {
    type Error = ProbeError;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, ProbeError> {
        match self.key.take() {
            Some(key) => seed.deserialize(StrDeserializer::new(key)).map(Some),
            None => Ok(None),
        }
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(
        &mut self,
        seed: V,
    ) -> Result<V::Value, ProbeError> {
        seed.deserialize(StrDeserializer::new("?"))
    }
}

/// Why the probe failed: only a missing field means "a struct".
#[derive(Debug)]
struct ProbeError {
    missing_field: bool,
}

impl fmt::Display for ProbeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.missing_field {
            "missing field"
        } else {
            "not map-shaped"
        })
    }
}

impl std::error::Error for ProbeError {}

impl serde::de::Error for ProbeError {
    fn custom<T: fmt::Display>(_: T) -> Self {
        ProbeError {
            missing_field: false,
        }
    }

    fn missing_field(_: &'static str) -> Self {
        ProbeError {
            missing_field: true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::map_shaped;
    use serde::Deserialize;
    use std::collections::HashMap;

    #[derive(Deserialize)]
    #[allow(dead_code)]
    struct Plain {
        a: u32,
    }

    #[derive(Deserialize)]
    #[allow(dead_code)]
    struct AllDefault {
        #[serde(default)]
        a: u32,
    }

    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Strict {
        a: u32,
    }

    #[derive(Deserialize)]
    struct Unit;

    #[derive(Deserialize)]
    #[allow(dead_code)]
    struct NewtypeOfStruct(Plain);

    #[derive(Deserialize)]
    #[allow(dead_code)]
    struct NewtypeOfNumber(f64);

    #[derive(Deserialize)]
    #[allow(dead_code)]
    struct Pair(u8, u8);

    #[derive(Deserialize)]
    #[allow(dead_code)]
    enum External {
        A,
        B(u8),
    }

    #[derive(Deserialize)]
    #[serde(tag = "kind")]
    #[allow(dead_code)]
    enum Internal {
        A { x: u8 },
    }

    #[test]
    fn structs_and_maps_are_map_shaped_the_rest_not() {
        assert!(map_shaped::<Plain>("type"));
        assert!(map_shaped::<AllDefault>("type"));
        assert!(map_shaped::<NewtypeOfStruct>("type"));
        assert!(map_shaped::<HashMap<String, String>>("type"));
        assert!(map_shaped::<Internal>("type"));
        assert!(!map_shaped::<Strict>("type"));
        assert!(!map_shaped::<Unit>("type"));
        assert!(!map_shaped::<NewtypeOfNumber>("type"));
        assert!(!map_shaped::<Pair>("type"));
        assert!(!map_shaped::<External>("type"));
        assert!(!map_shaped::<String>("type"));
    }
}
