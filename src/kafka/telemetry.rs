//! Traces: `tracing` spans that follow the OpenTelemetry semantic
//! conventions for messaging (Kafka), and, with feature `otel`, W3C trace
//! context carried in record headers.
//!
//! A producer's send runs in a `send {topic}` span (kind producer); a
//! consumer runs each record it hands to a handler in a `process {topic}`
//! span (kind consumer), or each batch in one such span. The spans carry
//! `messaging.system`, `messaging.operation.type`/`.name`,
//! `messaging.destination.name`, `messaging.destination.partition.id`,
//! `messaging.kafka.offset`, `messaging.kafka.message.key` (when the key
//! is UTF-8), `messaging.consumer.group.name`, `messaging.message.body.size`
//! and, on failure, `error.type` (the [`ErrorKind`](crate::ErrorKind)'s
//! name, or `handler`). Decode failures, retries, skips and dead letters are
//! events inside them. Their target is `kafka_codec`; with no subscriber
//! interested, creating one costs a cached callsite check.
//!
//! With feature `otel` and a `tracing-opentelemetry` layer installed, a
//! send writes the W3C `traceparent` (and `tracestate`) headers of its span,
//! replacing any the record had, and a process span is linked to the trace
//! those headers name, or made its child ([`TraceContext`]). Dead letters
//! keep the original record's headers, trace context included.

use std::fmt;

use tracing::field::Empty;
use tracing::Span;

/// How a consumer's `process` span relates to the producer's span named by
/// a record's `traceparent` header (feature `otel`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum TraceContext {
    /// A link to the producer's span, in a trace of its own: the
    /// OpenTelemetry messaging conventions' default, as a record may be
    /// processed long after it was sent.
    #[default]
    Link,
    /// A child of the producer's span, in the producer's trace.
    Child,
}

/// The `send {topic}` span of a producer.
pub(crate) fn send_span(topic: &str) -> Span {
    tracing::info_span!(
        target: "kafka_codec",
        "send",
        otel.name = %Named("send", topic),
        otel.kind = "producer",
        messaging.system = "kafka",
        messaging.operation.type = "send",
        messaging.operation.name = "send",
        messaging.destination.name = topic,
        messaging.destination.partition.id = Empty,
        messaging.kafka.offset = Empty,
        error.type = Empty,
    )
}

/// The `process {topic}` span of one record.
pub(crate) fn process_span(msg: &impl rdkafka::Message, group: &str, trace: TraceContext) -> Span {
    let span = tracing::info_span!(
        target: "kafka_codec",
        "process",
        otel.name = %Named("process", msg.topic()),
        otel.kind = "consumer",
        messaging.system = "kafka",
        messaging.operation.type = "process",
        messaging.operation.name = "process",
        messaging.destination.name = msg.topic(),
        messaging.destination.partition.id = msg.partition(),
        messaging.kafka.offset = msg.offset(),
        messaging.kafka.message.key = Empty,
        messaging.consumer.group.name = group,
        messaging.message.body.size = msg.payload().map_or(0, <[u8]>::len),
        error.type = Empty,
    );
    if !span.is_disabled() {
        if let Some(key) = msg.key().and_then(|k| std::str::from_utf8(k).ok()) {
            span.record("messaging.kafka.message.key", key);
        }
        follow(&span, msg, trace);
    }
    span
}

/// The `process {topic}` span of a batch of `count` records.
pub(crate) fn batch_span(topic: &str, count: usize, group: &str) -> Span {
    tracing::info_span!(
        target: "kafka_codec",
        "process",
        otel.name = %Named("process", topic),
        otel.kind = "consumer",
        messaging.system = "kafka",
        messaging.operation.type = "process",
        messaging.operation.name = "process",
        messaging.destination.name = topic,
        messaging.batch.message_count = count,
        messaging.consumer.group.name = group,
        error.type = Empty,
    )
}

/// Records why `span`'s operation failed.
pub(crate) fn failed(span: &Span, error_type: &str) {
    span.record("error.type", error_type);
}

/// Records why the current span's operation failed, if it is one of this
/// crate's (a record read with `Consumer::next` runs in the caller's span,
/// which is left alone).
pub(crate) fn current_failed(error_type: &str) {
    let span = Span::current();
    if span.metadata().is_some_and(|m| m.target() == "kafka_codec") {
        failed(&span, error_type);
    }
}

/// `{operation} {topic}`, written only when a span is recorded.
struct Named<'a>(&'static str, &'a str);

impl fmt::Display for Named<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.0, self.1)
    }
}

#[cfg(not(feature = "otel"))]
fn follow(_: &Span, _: &impl rdkafka::Message, _: TraceContext) {}

/// Links `span` to (or makes it a child of) the trace context in `msg`'s
/// headers.
#[cfg(feature = "otel")]
fn follow(span: &Span, msg: &impl rdkafka::Message, trace: TraceContext) {
    use opentelemetry::trace::TraceContextExt as _;
    use rdkafka::message::Headers as _;
    use tracing_opentelemetry::OpenTelemetrySpanExt as _;

    let Some(headers) = msg.headers() else {
        return;
    };
    let value = |name: &str| {
        headers
            .iter()
            .filter(|h| h.key == name)
            .last()
            .and_then(|h| h.value)
            .and_then(|v| std::str::from_utf8(v).ok())
    };
    let Some(remote) = w3c::extract(value(w3c::TRACEPARENT), value(w3c::TRACESTATE)) else {
        return;
    };
    match trace {
        TraceContext::Link => span.add_link(remote),
        TraceContext::Child => {
            let cx = opentelemetry::Context::new().with_remote_span_context(remote);
            if let Err(e) = span.set_parent(cx) {
                tracing::debug!(error = %e, "cannot make the process span a child of the producer's");
            }
        }
    }
}

/// The W3C trace context headers of the current span, to write into a
/// record (replacing any it had). Nothing without feature `otel`, or when
/// the current span is not sampled by an OpenTelemetry layer.
#[cfg(feature = "otel")]
pub(crate) fn inject(headers: rdkafka::message::OwnedHeaders) -> rdkafka::message::OwnedHeaders {
    use opentelemetry::trace::TraceContextExt as _;
    use tracing_opentelemetry::OpenTelemetrySpanExt as _;

    let span = Span::current();
    if span.is_disabled() {
        return headers;
    }
    let cx = span.context();
    match w3c::encode(cx.span().span_context()) {
        Some((parent, state)) => w3c::replace(headers, &parent, &state),
        None => headers,
    }
}

#[cfg(not(feature = "otel"))]
#[inline]
pub(crate) fn inject(headers: rdkafka::message::OwnedHeaders) -> rdkafka::message::OwnedHeaders {
    headers
}

/// W3C Trace Context (`traceparent`, `tracestate`), version 00.
#[cfg(feature = "otel")]
pub(crate) mod w3c {
    use opentelemetry::trace::{SpanContext, SpanId, TraceFlags, TraceId, TraceState};
    use rdkafka::message::{Header, Headers as _, OwnedHeaders};

    pub(crate) const TRACEPARENT: &str = "traceparent";
    pub(crate) const TRACESTATE: &str = "tracestate";

    /// `traceparent` and `tracestate` for `cx`; `None` if it is not valid.
    pub(crate) fn encode(cx: &SpanContext) -> Option<(String, String)> {
        if !cx.is_valid() {
            return None;
        }
        let parent = format!(
            "00-{}-{}-{:02x}",
            cx.trace_id(),
            cx.span_id(),
            cx.trace_flags().to_u8() & TraceFlags::SAMPLED.to_u8()
        );
        Some((parent, cx.trace_state().header()))
    }

    /// `headers` with `traceparent` (and `tracestate`, when not empty) set
    /// to these, replacing any they had.
    pub(crate) fn replace(headers: OwnedHeaders, parent: &str, state: &str) -> OwnedHeaders {
        let stale = headers
            .iter()
            .any(|h| h.key == TRACEPARENT || h.key == TRACESTATE);
        let mut out = if stale {
            let mut kept = OwnedHeaders::new_with_capacity(headers.count() + 2);
            for h in headers.iter() {
                if h.key != TRACEPARENT && h.key != TRACESTATE {
                    kept = kept.insert(h);
                }
            }
            kept
        } else {
            headers
        };
        out = out.insert(Header {
            key: TRACEPARENT,
            value: Some(parent),
        });
        if !state.is_empty() {
            out = out.insert(Header {
                key: TRACESTATE,
                value: Some(state),
            });
        }
        out
    }

    /// The remote span context a `traceparent` names; `None` if it is
    /// absent or malformed (then the record starts no link).
    pub(crate) fn extract(parent: Option<&str>, state: Option<&str>) -> Option<SpanContext> {
        let mut parts = parent?.trim().split('-');
        let (version, trace, span, flags) =
            (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
        // Version 00 has exactly four parts; later versions may add more.
        if version.len() != 2
            || version == "ff"
            || (version == "00" && parts.next().is_some())
            || trace.len() != 32
            || span.len() != 16
            || flags.len() != 2
        {
            return None;
        }
        let hex = |s: &str| {
            s.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        };
        if !(hex(version) && hex(trace) && hex(span) && hex(flags)) {
            return None;
        }
        let trace_id = TraceId::from_hex(trace).ok()?;
        let span_id = SpanId::from_hex(span).ok()?;
        let flags =
            TraceFlags::new(u8::from_str_radix(flags, 16).ok()? & TraceFlags::SAMPLED.to_u8());
        let state = state
            .and_then(|s| s.parse::<TraceState>().ok())
            .unwrap_or_default();
        let cx = SpanContext::new(trace_id, span_id, flags, true, state);
        cx.is_valid().then_some(cx)
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn traceparent_round_trips_and_refuses_garbage() {
            let parent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
            let cx = extract(Some(parent), Some("congo=t61rcWkgMzE")).unwrap();
            assert!(cx.is_sampled() && cx.is_remote());
            let (back, state) = encode(&cx).unwrap();
            assert_eq!(back, parent);
            assert_eq!(state, "congo=t61rcWkgMzE");
            for bad in [
                "",
                "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
                "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
                "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
                "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
                "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
                "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-x",
            ] {
                assert!(extract(Some(bad), None).is_none(), "{bad}");
            }
        }

        #[test]
        fn new_trace_headers_replace_old_ones_and_keep_the_rest() {
            let old = OwnedHeaders::new()
                .insert(Header {
                    key: "a",
                    value: Some("1"),
                })
                .insert(Header {
                    key: TRACEPARENT,
                    value: Some("old-parent"),
                })
                .insert(Header {
                    key: TRACESTATE,
                    value: Some("old=state"),
                })
                .insert(Header {
                    key: "b",
                    value: Some("2"),
                });
            let new = replace(old, "new-parent", "");
            let pairs: Vec<(&str, &[u8])> = new
                .iter()
                .map(|h| (h.key, h.value.unwrap_or_default()))
                .collect();
            assert_eq!(
                pairs,
                [("a", &b"1"[..]), ("b", b"2"), (TRACEPARENT, b"new-parent")]
            );
        }
    }
}
