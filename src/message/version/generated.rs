//! What the code `#[derive(KafkaMessage)]` generates for an upcast chain
//! calls: the type's evolution, the record of an old version, the steps.
//! Public only through `__private::version`.

use std::fmt::Display;
use std::marker::PhantomData;

use serde::de::DeserializeOwned;

use super::upcast_error;
use crate::codec::FastPath;
use crate::error::{Error, Result};
use crate::fast::FastCodecs;
use crate::KafkaMessage;

/// How a type evolves, as declared on its derive. Not public API: generated
/// code sets it.
#[doc(hidden)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Evolution {
    /// The oldest version the upcast chain starts from.
    pub oldest: Option<u32>,
    /// The payload field holding the version, for records without the header.
    pub field: Option<&'static str>,
    /// Whether version `current + 1` is read through a `forward` step.
    pub forward: bool,
}

impl Evolution {
    /// No steps, no field, no forward step.
    pub const NONE: Evolution = Evolution {
        oldest: None,
        field: None,
        forward: false,
    };
}

/// A record of an old version, on its way up the chain. Generated
/// `__upcast` functions read it.
#[doc(hidden)]
#[allow(missing_debug_implementations)]
pub struct Old<'a, L> {
    pub(crate) fast: FastPath<'a>,
    pub(crate) bytes: &'a [u8],
    pub(crate) from: u32,
    pub(crate) codecs: PhantomData<L>,
}

impl<L: FastCodecs> Old<'_, L> {
    /// The record's version.
    pub fn from(&self) -> u32 {
        self.from
    }

    /// The record read as a `V`: the type of its version.
    pub fn typed<T: KafkaMessage, V: DeserializeOwned>(&self) -> Result<V> {
        match L::decode_as::<V>(self.fast.as_any(), self.bytes) {
            Some(done) => done,
            None => from_tree::<T, V>(self.from, self.tree::<T>()?),
        }
    }

    /// The record read as a JSON tree.
    pub fn tree<T: KafkaMessage>(&self) -> Result<serde_json::Value> {
        match L::decode_as::<serde_json::Value>(self.fast.as_any(), self.bytes) {
            Some(done) => done,
            None => self.fast.decode_value(self.bytes),
        }
    }
}

/// What a JSON-tree step returns: the next version's tree, or
/// `Result<Value, E>` with `E: Display` for a step that can fail.
pub trait TreeStepOutput {
    /// The tree, or why the step failed.
    fn into_tree(self) -> std::result::Result<serde_json::Value, String>;
}

impl TreeStepOutput for serde_json::Value {
    fn into_tree(self) -> std::result::Result<serde_json::Value, String> {
        Ok(self)
    }
}

impl<E: Display> TreeStepOutput for std::result::Result<serde_json::Value, E> {
    fn into_tree(self) -> std::result::Result<serde_json::Value, String> {
        self.map_err(|e| e.to_string())
    }
}

/// The result of a JSON-tree step from version `from`.
#[doc(hidden)]
pub fn tree_step<T: KafkaMessage, O: TreeStepOutput>(
    from: u32,
    out: O,
) -> Result<serde_json::Value> {
    out.into_tree().map_err(|e| upcast_error::<T>(from, e))
}

/// A tree of version `version` read as `V`, the type of that version.
#[doc(hidden)]
pub fn from_tree<T: KafkaMessage, V: DeserializeOwned>(
    version: u32,
    tree: serde_json::Value,
) -> Result<V> {
    serde_json::from_value(tree).map_err(|e| {
        upcast_error::<T>(
            version,
            format!(
                "version {version} does not read as `{}`: {e}",
                std::any::type_name::<V>()
            ),
        )
    })
}

/// A typed step from version `from`: `A` becomes `B`.
#[doc(hidden)]
pub fn typed_step<T: KafkaMessage, A, B>(from: u32, a: A) -> Result<B>
where
    B: TryFrom<A>,
    B::Error: Display,
{
    B::try_from(a).map_err(|e| upcast_error::<T>(from, e.to_string()))
}

/// The error for a step that cannot run (a bug in generated code if ever
/// seen: versions are checked before the chain runs).
#[doc(hidden)]
#[cold]
pub fn no_step<T: KafkaMessage>(from: u32) -> Error {
    upcast_error::<T>(from, format!("no upcast step reads version {from}"))
}
