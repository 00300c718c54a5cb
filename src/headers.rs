//! The record headers this crate writes and reads.
//!
//! The names are those of the [CloudEvents Kafka protocol binding][ce] in
//! binary mode, but the records are not CloudEvents: the attributes that
//! binding requires besides `ce_type` (`ce_specversion`, `ce_id`,
//! `ce_source`) are not written, so CloudEvents tools do not read them as
//! events.
//!
//! | header | value |
//! |---|---|
//! | `content-type` | the codec's media type, e.g. `application/json` |
//! | `ce_type` | the type name: the concrete type's tag for trait objects |
//! | `ce_schemaversion` | the schema version, when the type declares one (a CloudEvents extension attribute) |
//!
//! Dead-lettered records keep all their original headers and gain the
//! `kc_dlq_*` headers below.
//!
//! [ce]: https://github.com/cloudevents/spec/blob/main/cloudevents/bindings/kafka-protocol-binding.md

/// The codec's media type.
pub const CONTENT_TYPE: &str = "content-type";
/// The type name (tag) of the payload.
pub const TYPE: &str = "ce_type";
/// The schema version of the payload.
pub const VERSION: &str = "ce_schemaversion";

/// Dead letter: the error kind (`malformed`, `unknown_type`, ...).
pub const DLQ_ERROR_KIND: &str = "kc_dlq_error_kind";
/// Dead letter: the error message.
pub const DLQ_ERROR_MESSAGE: &str = "kc_dlq_error_message";
/// Dead letter: the source topic.
pub const DLQ_TOPIC: &str = "kc_dlq_topic";
/// Dead letter: the source partition, as decimal text.
pub const DLQ_PARTITION: &str = "kc_dlq_partition";
/// Dead letter: the source offset, as decimal text.
pub const DLQ_OFFSET: &str = "kc_dlq_offset";
/// Dead letter: how many times the handler was tried, as decimal text
/// (`1` for records that did not decode).
pub const DLQ_ATTEMPTS: &str = "kc_dlq_attempts";
