//! Typed producer and consumer over rdkafka and tokio (feature `kafka`).
//!
//! The wrappers are thin: rdkafka does the Kafka work, configured with any
//! librdkafka property through [`ClientConfig`]. This module adds types,
//! codecs, [headers](crate::headers), a poison-pill policy, commit modes and
//! consumer groups on one runtime.
//!
//! * [`Producer`] encodes with the type's codec into a pooled buffer, writes
//!   the `content-type`, `ce_type` and version headers, and returns the
//!   [`Delivery`] once the broker acknowledged the record.
//! * [`Consumer`] is a `futures::Stream` of decoded [`Record`]s: the Rust
//!   form of Python's `async for`. It checks `content-type`, uses `ce_type`
//!   for the polymorphic fast path, and applies its [`PoisonPolicy`] to
//!   records it cannot decode.
//! * [`Group`] runs N members of one consumer group as tokio tasks, each its
//!   own rdkafka consumer, with graceful shutdown that commits what was
//!   handled.
//! * [`Partitioned`] is one client whose partitions are processed
//!   concurrently, in order within each partition, with bounded concurrency.
//! * [`Dispatch`] routes trait-object records to handlers by concrete type.
//! * [`embedded`] starts librdkafka's in-process mock cluster, so examples
//!   and fast tests need no broker.
//!
//! [`ClientConfig`]: rdkafka::ClientConfig

mod consumer;
mod dispatch;
pub mod embedded;
mod group;
mod partitioned;
mod producer;
mod record;

pub use consumer::{
    CodecContext, CommitMode, Consumer, ConsumerBuilder, ConsumerStats, PoisonPolicy,
};
pub use dispatch::Dispatch;
pub use group::{shutdown_on_ctrl_c, Group, GroupReport};
pub use partitioned::{PartitionReport, Partitioned};
pub use producer::{Delivery, Producer, ProducerBuilder};
pub use record::Record;

pub use rdkafka::ClientConfig;
