#![doc = include_str!("../docs/crate.md")]
#![cfg_attr(docsrs, feature(doc_cfg))]
#![warn(missing_docs)]

pub mod codec;
mod error;
mod fast;
pub mod headers;
mod inherit;
#[cfg(feature = "kafka")]
pub mod kafka;
mod message;
pub mod poly;
pub mod samples;
#[cfg(feature = "schema")]
pub mod schema;
pub use message::version;

#[doc(hidden)]
#[path = "private.rs"]
pub mod __private;

#[cfg(feature = "msgpack")]
pub use codec::MsgPack;
pub use codec::{Codecs, Hints, Json, KafkaCodec, Limits};
pub use error::{BoxError, Error, ErrorKind, Position, RecordMeta, Result};
pub use inherit::Flatten;
pub use message::{FromKey, KafkaMessage, ToKey};
pub use poly::{Downcast, Polymorphic, Registry};

/// Derives [`KafkaMessage`](trait@KafkaMessage). See the crate docs for the
/// attributes.
#[cfg(feature = "derive")]
pub use kafka_codec_derive::KafkaMessage;

/// Makes a trait polymorphic (on the trait) or registers an implementation
/// (on an `impl Trait for Type` block). See [`poly`].
#[cfg(feature = "derive")]
pub use kafka_codec_derive::polymorphic;

/// README.md's Rust code blocks, compiled and run as doctests (it needs the
/// default features `derive` and `kafka`).
#[cfg(all(doctest, feature = "derive", feature = "kafka"))]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
