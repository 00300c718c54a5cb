//! Re-exports and helpers for generated code. Not public API: anything here
//! may change in any release.

pub use ::inventory;
pub use ::serde;
pub use ::typetag;

pub use crate::inherit::{
    contains, fill_slot, required, FieldSeed, Flatten, Views, ViewsAny, ViewsFlatten,
};
pub use crate::poly::generated::{check, decode, encode, encode_tagged, Entry};
pub use crate::poly::{BuiltinCodecs, Downcast, Polymorphic, Registry, Upcast};

/// What generated upcast chains call.
pub mod version {
    pub use crate::message::version::generated::{
        from_tree, no_step, tree_step, typed_step, Evolution, Old,
    };
    pub use serde_json::Value;
}

pub use core::any::Any;
pub use std::boxed::Box;
pub use std::option::Option;
pub use std::result::Result;
pub use std::sync::OnceLock;
pub use std::vec::Vec;

/// A glob-imported scope that makes typetag's generated paths
/// (`typetag::__private::...`) resolve to our re-export, so users need no
/// `typetag` dependency of their own.
pub mod typetag_scope {
    pub use ::typetag;
}

#[cfg(feature = "schema")]
pub use crate::schema::derive_support::{
    poly_schema, schema_property, schema_with_base, type_id, SchemaEntry, SchemaOf, SchemaOfAny,
    SchemaOfJson,
};
#[cfg(feature = "schema")]
pub use ::schemars;
#[cfg(feature = "schema")]
pub use std::any::type_name;
#[cfg(feature = "schema")]
pub use std::borrow::Cow;
