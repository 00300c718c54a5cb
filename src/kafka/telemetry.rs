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
//! is UTF-8), `messaging.consumer.group.name` and, on failure,
//! `error.type` (the [`ErrorKind`](crate::ErrorKind)'s name, or
//! `handler`). Decode failures, retries, skips and dead letters are
//! events inside them. Their target is `kafka_codec`; with no subscriber
//! interested, creating one costs a cached callsite check.
//!
//! With feature `otel` and a `tracing-opentelemetry` layer installed, a
//! send writes its span's context into the record's headers through the
//! installed OpenTelemetry propagator (`opentelemetry::global::set_text_map_propagator`:
//! `TraceContextPropagator` writes the W3C `traceparent` and `tracestate`; a
//! composite with `BaggagePropagator` writes `baggage` too), replacing any
//! header of those names the record had, and a process span is linked to
//! the context the propagator reads from a record's headers, or made its
//! child, baggage included ([`TraceContext`]). With OpenTelemetry's default
//! (no-op) propagator nothing is written or read. Dead letters keep the
//! original record's headers, trace context included.
//!
//! # Head sampling
//!
//! An OpenTelemetry sampler decides too late to save much: by then
//! `tracing-opentelemetry` has built the span and its attributes, whether
//! the sampler keeps it or not. [`Sampling`]
//! ([`ConsumerBuilder::span_sampling`](super::ConsumerBuilder::span_sampling),
//! [`ProducerBuilder::span_sampling`](super::ProducerBuilder::span_sampling))
//! decides before: a record not chosen runs in [`Span::none`], so neither
//! a span, nor its attributes, nor any `traceparent` work is done for it.
//! The default spans every record.
//!
//! The choice is a counter per consumer (per producer): one record in `N`,
//! the first included, counted with one relaxed atomic add, so a ratio of
//! 1/10 over 100 records gives exactly 10 spans. It is exact and cheaper
//! than a random draw, and Kafka gives no reason to fear its regularity: a
//! record's place in the count says nothing about its content. With feature
//! `otel` the choice is also parent-based, so that traces stay whole: a
//! record whose `traceparent` header says *sampled* always gets its
//! `process` span, and a send whose current span is a sampled OpenTelemetry
//! span always gets its `send` span (and so writes the `traceparent`). Such
//! a span, taken for the upstream's sake where the count did not choose,
//! stands in for the count's next choice, which is skipped: a consumer
//! whose producers sample at its own ratio spans about that ratio of its
//! records, not twice it, and favours the ones whose traces are whole. A
//! send not chosen has no span to name and writes no `traceparent`, so its
//! consumers span the record only if their own count chooses it. Without
//! feature `otel` the count alone decides.
//!
//! A [batch](super::Batch) has one `process` span and so one decision: one
//! batch in `N` is spanned, counted apart from single records, and its
//! records' `traceparent` headers are not read (a batch span is linked to
//! none of them). Metrics are recorded for every record and batch, sampled
//! or not.
//!
//! # Cost
//!
//! A record (send) not sampled costs this crate a relaxed atomic add and,
//! for a record, a look for a `traceparent` header. A sampled one costs
//! `tracing-opentelemetry` and the SDK 10–20 µs on the record's thread in
//! the end-to-end bench, 7–11 µs with a lean layer (no location, thread or
//! busy/idle attributes, no context activation: the README shows it; this
//! crate needs no context activation, as it finds a span's trace through
//! `tracing`). With every metric recorded too and a handler that does
//! nothing, 0.1 % head sampling costs a consumer about 3 % more CPU per
//! record, and 1 % about 6–9 % (BENCHMARKS.md, telemetry run H).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use tracing::field::Empty;
use tracing::Span;

use super::record::HeaderRef;

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

/// Which records get a `process` (consumer) or `send` (producer) span:
/// head sampling at the source, for when exporting every span through
/// OpenTelemetry costs too much.
///
/// A record not chosen runs in no span ([`Span::none`]): no span, no
/// attributes, no `traceparent` work, where an OpenTelemetry sampler only
/// decides once `tracing-opentelemetry` has built the span. The choice is a
/// counter per consumer (per producer, shared by its clones): one record in
/// `N`, the first included, one relaxed atomic add each; exact (1/10 of 100
/// records spans 10) and cheaper than a random draw. With feature `otel` it
/// is also parent-based, so traces stay whole: a record whose `traceparent`
/// header says *sampled* always gets its `process` span, and a send whose
/// current span is a sampled OpenTelemetry span always gets its `send` span
/// (and writes the `traceparent`); it then stands in for the count's next
/// choice, so the ratio is kept when upstream samples at it too. A send not
/// chosen writes no `traceparent`.
///
/// A [batch](super::Batch) has one `process` span, so one decision: one
/// batch in `N` (counted apart from single records), its records'
/// `traceparent` headers not read. Metrics count every record and batch,
/// sampled or not.
///
/// ```
/// use kafka_codec::kafka::Sampling;
/// assert_eq!(Sampling::default(), Sampling::ALL);
/// assert_eq!(Sampling::ratio(0.01), Sampling::one_in(100));
/// assert_eq!(Sampling::ratio(0.0), Sampling::NONE);
/// assert_eq!(Sampling::ratio(0.3).period(), Some(3)); // 1/3, the nearest one in N
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Sampling {
    /// One record in `every`; 0: none by count.
    every: u64,
}

impl Sampling {
    /// Every record (the default).
    pub const ALL: Sampling = Sampling { every: 1 };
    /// None by count: with feature `otel`, only the records (sends) whose
    /// trace is sampled upstream; without it, none.
    pub const NONE: Sampling = Sampling { every: 0 };

    /// One record in `n`, the first included; `one_in(0)` is
    /// [`NONE`](Self::NONE).
    pub const fn one_in(n: u64) -> Self {
        Sampling { every: n }
    }

    /// About `ratio` of the records: one in `round(1 / ratio)`. 1 and over
    /// is [`ALL`](Self::ALL); 0, less, or NaN is [`NONE`](Self::NONE).
    #[allow(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        clippy::cast_precision_loss
    )]
    pub fn ratio(ratio: f64) -> Self {
        if ratio >= 1.0 {
            Self::ALL
        } else if ratio > 0.0 {
            // Saturates for ratios below 1 / u64::MAX.
            Self::one_in((1.0 / ratio).round() as u64)
        } else {
            Self::NONE
        }
    }

    /// `N` when one record in `N` is chosen by count; `None` for
    /// [`NONE`](Self::NONE).
    pub const fn period(self) -> Option<u64> {
        match self.every {
            0 => None,
            n => Some(n),
        }
    }
}

impl Default for Sampling {
    fn default() -> Self {
        Self::ALL
    }
}

/// A [`Sampling`] with its count: one per consumer (shared by its
/// partitions' tasks) or producer (shared by its clones).
#[derive(Debug)]
pub(crate) struct Sampler {
    every: u64,
    seen: AtomicU64,
    batches: AtomicU64,
    /// A record (send) sampled upstream took a span the count had not
    /// chosen: the count's next choice is skipped, so that the spans stay
    /// about one in `every` when upstream samples at the same ratio.
    owed: AtomicBool,
}

impl Sampler {
    pub(crate) fn new(sampling: Sampling) -> Self {
        Sampler {
            every: sampling.every,
            seen: AtomicU64::new(0),
            batches: AtomicU64::new(0),
            owed: AtomicBool::new(false),
        }
    }

    /// Whether the count chooses the next one.
    #[inline]
    fn count(&self, seen: &AtomicU64) -> bool {
        match self.every {
            1 => true,
            0 => false,
            n => seen.fetch_add(1, Ordering::Relaxed) % n == 0,
        }
    }

    /// Whether `msg` gets a `process` span: (feature `otel`) always when
    /// its `traceparent` says sampled, else when chosen by count.
    #[inline]
    pub(crate) fn record(&self, headers: &[HeaderRef<'_>]) -> bool {
        self.choose(|| sampled_upstream(headers))
    }

    /// Whether a send gets a `send` span: (feature `otel`) always when the
    /// current span is a sampled OpenTelemetry span, else when chosen by
    /// count.
    #[inline]
    pub(crate) fn send(&self) -> bool {
        self.choose(current_sampled)
    }

    /// Chosen when `upstream` says so, or by count. Every one is counted;
    /// one taken for `upstream` alone stands in for the count's next
    /// choice, which is skipped (one skip at most is owed).
    #[inline]
    fn choose(&self, upstream: impl FnOnce() -> bool) -> bool {
        let counted = self.count(&self.seen);
        if self.every == 1 {
            return true;
        }
        if upstream() {
            if !counted {
                self.owed.store(true, Ordering::Relaxed);
            }
            return true;
        }
        counted && !self.owed.swap(false, Ordering::Relaxed)
    }

    /// Whether a batch gets a `process` span: chosen by its own count.
    #[inline]
    pub(crate) fn batch(&self) -> bool {
        self.count(&self.batches)
    }
}

/// The `send {topic}` span of a producer.
pub(crate) fn send_span(topic: &str) -> Span {
    tracing::info_span!(
        target: "kafka_codec",
        "send",
        otel.name = span_name("send", topic).as_str(),
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
///
/// It has 11 fields, and should not grow: `tracing-opentelemetry` sizes
/// each span's attribute vector by its field count plus 6 (its default
/// location, thread and target attributes), 56 bytes each. With 12 fields
/// that was 18 × 56 = 1 008 bytes, over glibc's small-request limit
/// (1 000), and each sampled span's allocation then consolidated the
/// allocator's free lists, which the decoder's small allocations keep
/// full: about a third of the span's creation. `messaging.message.body.size`,
/// opt-in in the conventions, is the field left out for it.
pub(crate) fn process_span(
    msg: &impl rdkafka::Message,
    topic: &str,
    headers: &[HeaderRef<'_>],
    group: &str,
    trace: TraceContext,
) -> Span {
    let span = tracing::info_span!(
        target: "kafka_codec",
        "process",
        otel.name = span_name("process", topic).as_str(),
        otel.kind = "consumer",
        messaging.system = "kafka",
        messaging.operation.type = "process",
        messaging.operation.name = "process",
        messaging.destination.name = topic,
        messaging.destination.partition.id = msg.partition(),
        messaging.kafka.offset = msg.offset(),
        messaging.kafka.message.key = msg.key().and_then(|k| std::str::from_utf8(k).ok()),
        messaging.consumer.group.name = group,
        error.type = Empty,
    );
    if !span.is_disabled() {
        follow(&span, headers, trace);
    }
    span
}

/// The `process {topic}` span of a batch of `count` records.
pub(crate) fn batch_span(topic: &str, count: usize, group: &str) -> Span {
    tracing::info_span!(
        target: "kafka_codec",
        "process",
        otel.name = span_name("process", topic).as_str(),
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

/// `{operation} {topic}`, made only when a span is recorded (field values
/// are evaluated then), in one allocation of the right size: a `Display`
/// value would be formatted by `tracing-opentelemetry` into a string that
/// grows from empty, three or four allocations.
fn span_name(operation: &str, topic: &str) -> String {
    let mut name = String::with_capacity(operation.len() + 1 + topic.len());
    name.push_str(operation);
    name.push(' ');
    name.push_str(topic);
    name
}

#[cfg(not(feature = "otel"))]
fn follow(_: &Span, _: &[HeaderRef<'_>], _: TraceContext) {}

#[cfg(not(feature = "otel"))]
#[inline]
fn sampled_upstream(_: &[HeaderRef<'_>]) -> bool {
    false
}

#[cfg(not(feature = "otel"))]
#[inline]
fn current_sampled() -> bool {
    false
}

/// The trace context a record's headers carry, read by the installed
/// OpenTelemetry propagator; `None` when they name no valid span.
#[cfg(feature = "otel")]
fn remote(headers: &[HeaderRef<'_>]) -> Option<opentelemetry::Context> {
    use opentelemetry::trace::TraceContextExt as _;

    if headers.is_empty() {
        return None;
    }
    let cx = opentelemetry::global::get_text_map_propagator(|p| p.extract(&Extract(headers)));
    cx.span().span_context().is_valid().then_some(cx)
}

/// Whether a record's trace context names a sampled span.
#[cfg(feature = "otel")]
fn sampled_upstream(headers: &[HeaderRef<'_>]) -> bool {
    use opentelemetry::trace::TraceContextExt as _;

    remote(headers).is_some_and(|cx| cx.span().span_context().is_sampled())
}

/// A record's headers as the propagator reads them: the last header of a
/// name counts, and only text.
#[cfg(feature = "otel")]
struct Extract<'h, 'a>(&'h [HeaderRef<'a>]);

#[cfg(feature = "otel")]
impl opentelemetry::propagation::Extractor for Extract<'_, '_> {
    fn get(&self, key: &str) -> Option<&str> {
        let (_, value) = self
            .0
            .iter()
            .rev()
            .find(|(name, _)| name.eq_ignore_ascii_case(key))?;
        std::str::from_utf8((*value)?).ok()
    }

    fn keys(&self) -> Vec<&str> {
        self.0.iter().map(|(name, _)| *name).collect()
    }
}

/// Whether the current span is an OpenTelemetry span that is sampled.
#[cfg(feature = "otel")]
fn current_sampled() -> bool {
    use opentelemetry::trace::TraceContextExt as _;

    current_context().is_some_and(|cx| cx.span().span_context().is_sampled())
}

/// The OpenTelemetry context of the current span; `None` when there is no
/// current span, or no OpenTelemetry layer.
///
/// Asked of the dispatcher by the span's id: `Span::current()` would clone
/// the span (a reference count up in the registry) and close the clone, a
/// cost paid at every send the count does not choose, and at every send
/// whose span no subscriber wants.
#[cfg(feature = "otel")]
fn current_context() -> Option<opentelemetry::Context> {
    tracing::dispatcher::get_default(|dispatch| {
        let current = dispatch.current_span();
        tracing_opentelemetry::get_otel_context(current.id()?, dispatch)
    })
}

/// Links `span` to (or makes it a child of, baggage included) the trace
/// context in a record's headers.
#[cfg(feature = "otel")]
fn follow(span: &Span, headers: &[HeaderRef<'_>], trace: TraceContext) {
    use opentelemetry::trace::TraceContextExt as _;
    use tracing_opentelemetry::OpenTelemetrySpanExt as _;

    let Some(remote) = remote(headers) else {
        return;
    };
    match trace {
        TraceContext::Link => span.add_link(remote.span().span_context().clone()),
        TraceContext::Child => {
            if let Err(e) = span.set_parent(remote) {
                tracing::debug!(error = %e, "cannot make the process span a child of the producer's");
            }
        }
    }
}

/// A span's trace context as the installed OpenTelemetry propagator writes
/// it (`traceparent` and `tracestate` for W3C trace context; `baggage` too
/// with a baggage propagator), to write into records: `None` without feature
/// `otel`, or when the span is not an OpenTelemetry span.
pub(crate) type Trace = Option<Vec<(String, String)>>;

/// The propagator's fields for `cx`, if it names a valid span.
#[cfg(feature = "otel")]
fn fields(cx: &opentelemetry::Context) -> Trace {
    use opentelemetry::trace::TraceContextExt as _;

    if !cx.span().span_context().is_valid() {
        return None;
    }
    let mut fields = Fields(Vec::with_capacity(2));
    opentelemetry::global::get_text_map_propagator(|p| p.inject_context(cx, &mut fields));
    Some(fields.0)
}

/// Header name and value pairs, as the propagator sets them.
#[cfg(feature = "otel")]
struct Fields(Vec<(String, String)>);

#[cfg(feature = "otel")]
impl opentelemetry::propagation::Injector for Fields {
    fn set(&mut self, key: &str, value: String) {
        self.0.push((key.to_owned(), value));
    }
}

/// The trace context `span` would propagate.
#[cfg(feature = "otel")]
pub(crate) fn trace_of(span: &Span) -> Trace {
    use tracing_opentelemetry::OpenTelemetrySpanExt as _;

    if span.is_disabled() {
        return None;
    }
    fields(&span.context())
}

/// The trace context `span` would propagate: none without feature `otel`.
#[cfg(not(feature = "otel"))]
#[inline]
pub(crate) fn trace_of(_: &Span) -> Trace {
    None
}

/// The trace context the current span would propagate.
#[cfg(feature = "otel")]
pub(crate) fn current_trace() -> Trace {
    fields(&current_context()?)
}

/// The trace context the current span would propagate: none without
/// feature `otel`.
#[cfg(not(feature = "otel"))]
#[inline]
pub(crate) fn current_trace() -> Trace {
    None
}

/// `headers` with `trace`'s fields written into them, replacing any header
/// of the same name they had; as they were when there is none.
pub(crate) fn with_trace(
    headers: rdkafka::message::OwnedHeaders,
    trace: &Trace,
) -> rdkafka::message::OwnedHeaders {
    use rdkafka::message::{Header, Headers as _, OwnedHeaders};

    let Some(fields) = trace else {
        return headers;
    };
    let stale = |key: &str| fields.iter().any(|(name, _)| name == key);
    let mut out = if headers.iter().any(|h| stale(h.key)) {
        let mut kept = OwnedHeaders::new_with_capacity(headers.count() + fields.len());
        for h in headers.iter().filter(|h| !stale(h.key)) {
            kept = kept.insert(h);
        }
        kept
    } else {
        headers
    };
    for (key, value) in fields {
        out = out.insert(Header {
            key,
            value: Some(value),
        });
    }
    out
}

/// The trace context headers of the current span, written into a record's
/// (replacing any it had). Nothing without feature `otel`, or when the
/// current span is not an OpenTelemetry span.
pub(crate) fn inject(headers: rdkafka::message::OwnedHeaders) -> rdkafka::message::OwnedHeaders {
    with_trace(headers, &current_trace())
}

#[cfg(test)]
mod tests {
    use super::{with_trace, Sampler, Sampling};
    use rdkafka::message::{Header, Headers as _, OwnedHeaders};

    #[test]
    fn a_choice_from_upstream_stands_in_for_the_counts_next() {
        let sampler = Sampler::new(Sampling::one_in(3));
        let upstream = [false, true, false, false, false, false, false, true, true];
        let picks: Vec<bool> = upstream.iter().map(|&u| sampler.choose(|| u)).collect();
        // The count chooses 0, 3 and 6; 1 stands in for 3. 7 and 8, both
        // from upstream, owe one skip between them (the count's choice at
        // 9), not two.
        assert_eq!(
            picks,
            [true, true, false, false, false, false, true, true, true]
        );
        let all = Sampler::new(Sampling::ALL);
        assert!((0..4).all(|i| all.choose(|| i % 2 == 0)));
        let none = Sampler::new(Sampling::NONE);
        let picks: Vec<bool> = [true, false, true]
            .iter()
            .map(|&u| none.choose(|| u))
            .collect();
        assert_eq!(picks, [true, false, true]);
    }

    #[test]
    fn one_in_n_counts_from_the_first() {
        let picks = |sampling: Sampling| {
            let sampler = Sampler::new(sampling);
            (0..7).map(|_| sampler.batch()).collect::<Vec<_>>()
        };
        assert_eq!(picks(Sampling::ALL), [true; 7]);
        assert_eq!(picks(Sampling::NONE), [false; 7]);
        assert_eq!(
            picks(Sampling::one_in(3)),
            [true, false, false, true, false, false, true]
        );
        assert_eq!(Sampling::ratio(f64::NAN), Sampling::NONE);
        assert_eq!(Sampling::ratio(-1.0), Sampling::NONE);
        assert_eq!(Sampling::ratio(2.0), Sampling::ALL);
        assert_eq!(Sampling::ratio(0.1).period(), Some(10));
        assert_eq!(Sampling::NONE.period(), None);
    }

    #[test]
    fn trace_fields_replace_headers_of_their_names_and_keep_the_rest() {
        let old = OwnedHeaders::new()
            .insert(Header {
                key: "a",
                value: Some("1"),
            })
            .insert(Header {
                key: "traceparent",
                value: Some("old-parent"),
            })
            .insert(Header {
                key: "b",
                value: Some("2"),
            });
        let trace = Some(vec![
            ("traceparent".to_owned(), "new-parent".to_owned()),
            ("baggage".to_owned(), "k=v".to_owned()),
        ]);
        let new = with_trace(old, &trace);
        let pairs: Vec<(&str, &[u8])> = new
            .iter()
            .map(|h| (h.key, h.value.unwrap_or_default()))
            .collect();
        assert_eq!(
            pairs,
            [
                ("a", &b"1"[..]),
                ("b", b"2"),
                ("traceparent", b"new-parent"),
                ("baggage", b"k=v")
            ]
        );
        let same = with_trace(
            OwnedHeaders::new().insert(Header {
                key: "a",
                value: Some("1"),
            }),
            &None,
        );
        assert_eq!(same.count(), 1);
    }
}
