//! Typed producer and consumer over rdkafka and tokio (feature `kafka`).
//!
//! The wrappers are thin: rdkafka does the Kafka work, configured with any
//! librdkafka property through [`ClientConfig`]. This module adds types,
//! codecs, [headers](crate::headers), failure policies, tracked commits and
//! consumer groups on one runtime.
//!
//! * [`Producer`] encodes with the type's codec into a pooled buffer, writes
//!   the `content-type`, `ce_type` and version headers, and returns the
//!   [`Delivery`] once the broker acknowledged the record.
//! * [`Consumer`] gives decoded [`Record`]s one at a time, as a stream (the
//!   Rust form of Python's `async for`), in [`Batch`]es, or runs a handler
//!   for you. It checks `content-type` and uses `ce_type` for the
//!   polymorphic fast path.
//! * [`Group`] runs N members of one consumer group as tokio tasks, each its
//!   own rdkafka consumer, with graceful shutdown that commits what was
//!   handled.
//! * [`Partitioned`] is one group member whose assigned partitions are
//!   processed concurrently, in order within each partition.
//! * [`Dispatch`] routes trait-object records to handlers by concrete type.
//! * [`embedded`] starts librdkafka's in-process mock cluster, so examples
//!   and fast tests need no broker.
//!
//! # One contract for every run
//!
//! Every way of running a handler takes the same three things and returns
//! the same report:
//!
//! | shape | run |
//! |---|---|
//! | one consumer | [`Consumer::run`]`(shutdown, handler) -> Report` |
//! | N members of a group | [`Group::run`]`(shutdown, handler) -> Report` |
//! | partitions in parallel | [`Partitioned::run`]`(shutdown, handler) -> Report` |
//! | batches | [`Consumer::run_batches`]`(shutdown, max, wait, handler) -> Report` |
//! | exactly once | [`ExactlyOnce::run`]`(shutdown, handler) -> Report` |
//!
//! * [`Shutdown`]: one signal type, fired by hand, by a future, or by
//!   SIGTERM and ctrl-c ([`Shutdown::on_signals`]).
//! * [`Handler`]: an async function of a [`Record`] (or a [`Batch`]) that
//!   returns `Result<(), E>` for any `E: Into<BoxError>`; a [`Dispatch`]
//!   (handlers by concrete type) is one too.
//! * [`Report`]: counts per [`TopicPartition`] (handled, skipped,
//!   dead-lettered, retried) and the errors that stopped the run;
//!   [`Report::into_result`] turns it into a `Result`.
//!
//! [`Consumer::next`] and [`Consumer::stream`] stay for pull-style use.
//!
//! # When things fail
//!
//! Every consumer shape runs records through one core: decode, then the
//! poison recovery for records that do not decode, then the handler, then
//! the [`FailurePolicy`] for handlers that fail (retry with a [`Backoff`],
//! then [`Recover`]: fail, skip or dead-letter), then the commit. Commits
//! are at least once by default ([`CommitMode`]). One setting,
//! [`ConsumerBuilder::dead_letter_topic`], sends both kinds of failure to a
//! dead-letter topic. A [`DeadLetterLimit`] stops a consumer that
//! dead-letters too much.
//!
//! ```no_run
//! # async fn demo() -> kafka_codec::Result<()> {
//! use std::time::Duration;
//! use kafka_codec::kafka::{
//!     Backoff, Consumer, ConsumerBuilder, DeadLetterLimit, FailurePolicy, Record, Shutdown,
//! };
//! # #[derive(Debug, serde::Serialize, serde::Deserialize, kafka_codec::KafkaMessage)]
//! # #[kafka(topic = "orders")]
//! # struct Order { id: u32 }
//! let consumer: Consumer<Order> = ConsumerBuilder::new("localhost:9092", "billing")
//!     .dead_letter_topic("orders.dlq")                    // poison pills and failed records
//!     .on_failure(
//!         FailurePolicy::new()                              // failing handlers
//!             .max_attempts(5)
//!             .backoff(Backoff::exponential(Duration::from_millis(100), 2.0, Duration::from_secs(5))),
//!     )
//!     .dead_letter_limit(DeadLetterLimit::none().max_consecutive(100))
//!     .build()?;
//! consumer
//!     .run(Shutdown::on_signals()?, |record: Record<Order>| async move {
//!         println!("{:?}", record.value());
//!         Ok::<_, std::io::Error>(())
//!     })
//!     .await
//!     .into_result()?;
//! # Ok(()) }
//! ```
//!
//! [`ClientConfig`]: rdkafka::ClientConfig

mod batch;
mod builder;
pub(crate) mod codes;
mod consumer;
mod context;
mod core;
mod dead_letter;
mod dispatch;
pub mod embedded;
mod exactly_once;
mod group;
mod handler;
mod health;
pub mod metrics;
mod offsets;
mod outbox;
mod partitioned;
mod policy;
mod producer;
mod rebalance;
mod record;
mod report;
mod rt;
mod shutdown;
mod stats;
mod telemetry;
#[cfg(feature = "testing")]
pub mod testing;
mod tracker;
mod transaction;
mod workarounds;

pub use crate::error::TransactionAction;
pub use batch::{Batch, BatchFailure};
pub use builder::{ConsumerBuilder, StartFrom};
pub use consumer::Consumer;
pub use context::UserContext;
pub use dispatch::Dispatch;
pub use exactly_once::ExactlyOnce;
pub use group::Group;
pub use handler::Handler;
pub use health::Health;
pub use outbox::Outbox;
pub use partitioned::Partitioned;
pub use policy::{Backoff, CommitMode, DeadLetterLimit, FailurePolicy, Permanent, Recover};
pub use producer::{Delivery, Producer, ProducerBuilder, SendOptions};
pub use rebalance::CodecContext;
pub use record::{Record, RecordBuilder};
pub use report::{Counts, Report, TopicPartition, Transactions};
pub use shutdown::Shutdown;
pub use stats::ConsumerStats;
pub use telemetry::{Sampling, TraceContext};
pub use transaction::{Transaction, TransactionalProducer, TransactionalProducerBuilder};

pub use rdkafka::ClientConfig;
