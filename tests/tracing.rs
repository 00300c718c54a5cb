//! Traces across producer and consumer (feature `otel`): spans exported to
//! an in-memory OpenTelemetry exporter through `tracing-opentelemetry`, on
//! the broker under test. The consumer's `process` span carries the
//! producer's trace: as a link by default, as a child on request; dead
//! letters keep the original record's trace headers. Head sampling
//! (`span_sampling`) spans one record in N, and always a record (a send)
//! whose trace is sampled upstream, in place of the count's next choice.
#![cfg(feature = "otel")]

#[path = "support/kafka.rs"]
mod kafka;

use std::sync::OnceLock;

use kafka_codec::kafka::Shutdown;
use kafka_codec::kafka::{Producer, Recover, Sampling, TraceContext};
use opentelemetry::trace::{SpanKind, TracerProvider as _};
use opentelemetry::Value;
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider, SpanData};
use tracing_subscriber::layer::SubscriberExt as _;

use kafka::{consumer, create_topic, fresh, within, Numbered};

/// One tracer for the whole test binary (the subscriber is global, as
/// records are handled on any worker thread).
fn spans() -> &'static (InMemorySpanExporter, SdkTracerProvider) {
    static SPANS: OnceLock<(InMemorySpanExporter, SdkTracerProvider)> = OnceLock::new();
    SPANS.get_or_init(|| {
        let (exporter, provider) = in_memory();
        let layer = tracing_opentelemetry::layer().with_tracer(provider.tracer("tests"));
        tracing::subscriber::set_global_default(tracing_subscriber::registry().with(layer))
            .expect("the only subscriber");
        (exporter, provider)
    })
}

/// An in-memory exporter, and a provider that exports each span to it as
/// it ends.
fn in_memory() -> (InMemorySpanExporter, SdkTracerProvider) {
    // W3C trace context and baggage, as an application installs them.
    opentelemetry::global::set_text_map_propagator(
        opentelemetry::propagation::TextMapCompositePropagator::new(vec![
            Box::new(opentelemetry_sdk::propagation::TraceContextPropagator::new()),
            Box::new(opentelemetry_sdk::propagation::BaggagePropagator::new()),
        ]),
    );
    let exporter = InMemorySpanExporter::default();
    let provider = SdkTracerProvider::builder()
        .with_simple_exporter(exporter.clone())
        .build();
    (exporter, provider)
}

/// Sends `record` to `topic` in a `request` span.
async fn send_in_request(producer: &Producer, topic: &str, record: &Numbered) {
    let request = tracing::info_span!("request");
    tracing::Instrument::instrument(producer.send_to(topic, record), request)
        .await
        .unwrap();
}

/// The `traceparent` header of the first record of `topic`.
async fn first_traceparent(broker: &kafka::Broker, topic: &str) -> Option<String> {
    first_header(broker, topic, "traceparent").await
}

/// The header `name` of the first record of `topic`.
async fn first_header(broker: &kafka::Broker, topic: &str, name: &str) -> Option<String> {
    let reader = kafka::raw_reader(&broker.servers, topic);
    let m = within(broker, reader.recv()).await.unwrap();
    kafka::header_pairs(&m)
        .into_iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| String::from_utf8(v).unwrap())
}

/// The propagator the application installed writes the record's trace
/// context: here W3C trace context and baggage, so a send in a span whose
/// context carries baggage writes a `baggage` header beside `traceparent`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_installed_propagator_writes_baggage_beside_the_trace() {
    use opentelemetry::baggage::BaggageExt as _;
    use tracing_opentelemetry::OpenTelemetrySpanExt as _;

    spans();
    let broker = kafka::broker();
    let topic = fresh("baggage");
    create_topic(&broker, &topic, 1).await;
    let producer = Producer::builder(&broker.servers).build().unwrap();
    let request = tracing::info_span!("request");
    let cx = opentelemetry::Context::new()
        .with_baggage(vec![opentelemetry::KeyValue::new("tenant", "acme")]);
    request.set_parent(cx).unwrap();
    tracing::Instrument::instrument(producer.send_to(&topic, &numbered(1)), request)
        .await
        .unwrap();
    assert_eq!(
        first_header(&broker, &topic, "baggage").await.as_deref(),
        Some("tenant=acme")
    );
    assert!(first_traceparent(&broker, &topic).await.is_some());
}

/// The finished spans named `name`.
fn finished(name: &str) -> Vec<SpanData> {
    let (exporter, provider) = spans();
    provider.force_flush().expect("flush");
    exporter
        .get_finished_spans()
        .expect("spans")
        .into_iter()
        .filter(|s| s.name == name)
        .collect()
}

fn attr<'a>(span: &'a SpanData, key: &str) -> Option<&'a Value> {
    span.attributes
        .iter()
        .find(|kv| kv.key.as_str() == key)
        .map(|kv| &kv.value)
}

/// Sends one record under a `request` span and handles it with a consumer
/// of `group`; returns the send span and the process span.
async fn send_and_process(
    broker: &kafka::Broker,
    topic: &str,
    group: &str,
    trace: TraceContext,
) -> (SpanData, SpanData) {
    spans();
    create_topic(broker, topic, 1).await;
    let producer = Producer::builder(&broker.servers).build().unwrap();
    let record = Numbered {
        seq: 7,
        body: "traced".into(),
    };
    send_in_request(&producer, topic, &record).await;
    let consumer = consumer(broker, group)
        .topics(&[topic])
        .trace_context(trace)
        .build::<Numbered>()
        .unwrap();
    let done = Shutdown::new();
    let stop = done.clone();
    within(
        broker,
        consumer.run(done, move |r| {
            assert_eq!(r.value().seq, 7);
            stop.trigger();
            async { Ok::<_, kafka_codec::BoxError>(()) }
        }),
    )
    .await
    .into_result()
    .unwrap();
    let send = finished(&format!("send {topic}"));
    let process = finished(&format!("process {topic}"));
    assert_eq!((send.len(), process.len()), (1, 1), "one of each");
    (
        send.into_iter().next().unwrap(),
        process.into_iter().next().unwrap(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_process_span_is_linked_to_the_send_span() {
    let broker = kafka::broker();
    let (topic, group) = (fresh("traced"), fresh("g"));
    let (send, process) = send_and_process(&broker, &topic, &group, TraceContext::Link).await;

    assert_eq!(send.span_kind, SpanKind::Producer);
    assert_eq!(process.span_kind, SpanKind::Consumer);
    let links: Vec<_> = process.links.iter().map(|l| &l.span_context).collect();
    assert_eq!(links.len(), 1, "{links:?}");
    assert_eq!(links[0].trace_id(), send.span_context.trace_id());
    assert_eq!(links[0].span_id(), send.span_context.span_id());
    assert_ne!(
        process.span_context.trace_id(),
        send.span_context.trace_id(),
        "a link starts a trace of its own"
    );
    // The send span is the request's child.
    assert!(
        finished("request").iter().any(|r| {
            r.span_context.span_id() == send.parent_span_id
                && r.span_context.trace_id() == send.span_context.trace_id()
        }),
        "{send:?}"
    );

    for span in [&send, &process] {
        assert_eq!(attr(span, "messaging.system"), Some(&Value::from("kafka")));
        assert_eq!(
            attr(span, "messaging.destination.name"),
            Some(&Value::from(topic.clone()))
        );
        assert!(attr(span, "messaging.kafka.offset").is_some(), "{span:?}");
        assert!(attr(span, "error.type").is_none(), "{span:?}");
    }
    assert_eq!(
        attr(&process, "messaging.consumer.group.name"),
        Some(&Value::from(group.clone()))
    );
    assert_eq!(
        attr(&process, "messaging.kafka.message.key"),
        Some(&Value::from("7"))
    );
    assert_eq!(
        attr(&process, "messaging.operation.type"),
        Some(&Value::from("process"))
    );
    assert_eq!(
        attr(&send, "messaging.operation.type"),
        Some(&Value::from("send"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_request_the_process_span_is_a_child_of_the_send_span() {
    let broker = kafka::broker();
    let (topic, group) = (fresh("child"), fresh("g"));
    let (send, process) = send_and_process(&broker, &topic, &group, TraceContext::Child).await;
    assert_eq!(
        process.span_context.trace_id(),
        send.span_context.trace_id()
    );
    assert_eq!(process.parent_span_id, send.span_context.span_id());
    assert!(process.links.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_record_marks_its_span_and_its_dead_letter_keeps_the_trace() {
    spans();
    let broker = kafka::broker();
    let (topic, dlq, group) = (fresh("fails"), fresh("fails-dlq"), fresh("g"));
    create_topic(&broker, &topic, 1).await;
    create_topic(&broker, &dlq, 1).await;
    let producer = Producer::builder(&broker.servers).build().unwrap();
    let record = Numbered {
        seq: 1,
        body: "refused".into(),
    };
    producer.send_to(&topic, &record).await.unwrap();
    // Poison too: a record that is not a `Numbered`.
    producer
        .send_value(&topic, None::<&str>, &"not a record")
        .await
        .unwrap();
    let original = {
        let reader = kafka::raw_reader(&broker.servers, &topic);
        let m = within(&broker, reader.recv()).await.unwrap();
        kafka::header_pairs(&m)
            .into_iter()
            .find(|(k, _)| k == "traceparent")
            .expect("the send wrote a traceparent")
            .1
    };
    let consumer = consumer(&broker, &group)
        .topics(&[&topic])
        .on_poison(Recover::Skip)
        .dead_letter_topic(dlq.clone())
        .on_failure(
            kafka_codec::kafka::FailurePolicy::new()
                .max_attempts(1)
                .recover(Recover::DeadLetter),
        )
        .build::<Numbered>()
        .unwrap();
    let done = Shutdown::new();
    let both_went_by = async {
        let stats = consumer.stats();
        while stats.dead_lettered() + stats.skipped() < 2 {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        done.trigger();
    };
    let (handled, ()) = within(
        &broker,
        futures::future::join(
            consumer.run(done.clone(), |_| async {
                Err::<(), kafka_codec::BoxError>("refused".into())
            }),
            both_went_by,
        ),
    )
    .await;
    assert_eq!(handled.into_result().unwrap().handled(), 0);
    let letters = kafka::read_dead_letters(&broker.servers, &dlq, 1).await;
    assert_eq!(letters.len(), 1);
    assert_eq!(
        letters[0].2.get("traceparent"),
        Some(&original),
        "the dead letter keeps the original record's trace context"
    );
    let process = finished(&format!("process {topic}"));
    let mut errors: Vec<String> = process
        .iter()
        .filter_map(|s| attr(s, "error.type").map(|v| v.as_str().into_owned()))
        .collect();
    errors.sort();
    assert_eq!(errors, ["handler", "malformed"], "{process:?}");
    let dead_letter_send = finished(&format!("send {dlq}"));
    assert_eq!(dead_letter_send.len(), 1);
}

/// Runs a consumer of `group` with `sampling` on `topic` until it handled
/// `n` records; returns the `process` spans of `topic`, by offset.
async fn process_all(
    broker: &kafka::Broker,
    topic: &str,
    group: &str,
    sampling: Sampling,
    n: usize,
) -> Vec<SpanData> {
    let consumer = consumer(broker, group)
        .topics(&[topic])
        .span_sampling(sampling)
        .build::<Numbered>()
        .unwrap();
    let done = Shutdown::new();
    let stop = done.clone();
    let seen = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let handled = within(
        broker,
        consumer.run(done, move |_| {
            if seen.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1 == n {
                stop.trigger();
            }
            async { Ok::<_, kafka_codec::BoxError>(()) }
        }),
    )
    .await
    .into_result()
    .unwrap()
    .handled();
    assert_eq!(handled, n as u64);
    let mut spans = finished(&format!("process {topic}"));
    spans.sort_by_key(offset);
    spans
}

fn offset(span: &SpanData) -> i64 {
    match attr(span, "messaging.kafka.offset") {
        Some(Value::I64(o)) => *o,
        other => panic!("offset {other:?}"),
    }
}

fn numbered(seq: u32) -> Numbered {
    Numbered {
        seq,
        body: "sampled".into(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_record_in_ten_gets_a_process_span() {
    spans();
    let broker = kafka::broker();
    let (topic, group) = (fresh("one-in-ten"), fresh("g"));
    create_topic(&broker, &topic, 1).await;
    // A producer that spans none of its sends, so its records carry no
    // sampled trace that would make the consumer span them all.
    let producer = Producer::builder(&broker.servers)
        .span_sampling(Sampling::NONE)
        .build()
        .unwrap();
    let records: Vec<Numbered> = (0..100).map(numbered).collect();
    let sends = records.iter().map(|r| producer.send_to(&topic, r));
    for sent in futures::future::join_all(sends).await {
        sent.unwrap();
    }
    assert!(finished(&format!("send {topic}")).is_empty());
    assert_eq!(
        first_traceparent(&broker, &topic).await,
        None,
        "a send not spanned writes no trace context"
    );

    let process = process_all(&broker, &topic, &group, Sampling::ratio(0.1), 100).await;
    let offsets: Vec<i64> = process.iter().map(offset).collect();
    assert_eq!(offsets, [0, 10, 20, 30, 40, 50, 60, 70, 80, 90]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sampled_trace_keeps_its_spans_under_a_low_ratio() {
    spans();
    let broker = kafka::broker();
    let (topic, group) = (fresh("parent-based"), fresh("g"));
    create_topic(&broker, &topic, 1).await;
    let producer = Producer::builder(&broker.servers)
        .span_sampling(Sampling::NONE)
        .build()
        .unwrap();
    for seq in 0..11 {
        let record = numbered(seq);
        if seq == 2 {
            // Inside a sampled span: spanned whatever the ratio, and its
            // trace context written.
            send_in_request(&producer, &topic, &record).await;
        } else {
            producer.send_to(&topic, &record).await.unwrap();
        }
    }
    let send = finished(&format!("send {topic}"));
    assert_eq!(send.len(), 1, "only the send inside a sampled span");
    assert_eq!(offset(&send[0]), 2);

    // One in 4 by count would choose 0, 4 and 8; the traced record is
    // spanned whatever the count says, and stands in for 4.
    let process = process_all(&broker, &topic, &group, Sampling::one_in(4), 11).await;
    let offsets: Vec<i64> = process.iter().map(offset).collect();
    assert_eq!(offsets, [0, 2, 8]);
    assert!(process[0].links.is_empty() && process[2].links.is_empty());
    let links: Vec<_> = process[1].links.iter().map(|l| &l.span_context).collect();
    assert_eq!(links.len(), 1, "{links:?}");
    assert_eq!(links[0].trace_id(), send[0].span_context.trace_id());
    assert_eq!(links[0].span_id(), send[0].span_context.span_id());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn by_default_every_record_gets_its_spans() {
    spans();
    let broker = kafka::broker();
    let (topic, group) = (fresh("every"), fresh("g"));
    create_topic(&broker, &topic, 1).await;
    let producer = Producer::builder(&broker.servers).build().unwrap();
    let records: Vec<Numbered> = (0..20).map(numbered).collect();
    let sends = records.iter().map(|r| producer.send_to(&topic, r));
    for sent in futures::future::join_all(sends).await {
        sent.unwrap();
    }
    assert_eq!(finished(&format!("send {topic}")).len(), 20);
    let process = process_all(&broker, &topic, &group, Sampling::default(), 20).await;
    let offsets: Vec<i64> = process.iter().map(offset).collect();
    assert_eq!(offsets, (0..20).collect::<Vec<i64>>());
    assert!(process.iter().all(|p| p.links.len() == 1), "{process:?}");
}

/// A `send` span that a filter leaves out of the OpenTelemetry layer (kept
/// by another layer: here a log layer) still writes the caller's trace
/// context, so the record stays in the caller's trace.
#[tokio::test(flavor = "current_thread")]
async fn a_send_span_filtered_out_writes_the_callers_trace() {
    use tracing_subscriber::Layer as _;

    let (exporter, provider) = in_memory();
    let layer = tracing_opentelemetry::layer()
        .with_tracer(provider.tracer("filtered"))
        .with_filter(tracing_subscriber::filter::filter_fn(|m| {
            m.target() != "kafka_codec"
        }));
    let log = tracing_subscriber::fmt::layer().with_writer(std::io::sink);
    // This thread's alone: the runtime runs every poll of the send on it.
    let _scoped =
        tracing::subscriber::set_default(tracing_subscriber::registry().with(layer).with(log));
    let broker = kafka::broker();
    let topic = fresh("filtered-send");
    create_topic(&broker, &topic, 1).await;
    let producer = Producer::builder(&broker.servers).build().unwrap();
    send_in_request(&producer, &topic, &numbered(1)).await;
    provider.force_flush().unwrap();
    let spans = exporter.get_finished_spans().unwrap();
    let names: Vec<&str> = spans.iter().map(|s| s.name.as_ref()).collect();
    assert_eq!(names, ["request"], "the send span is filtered out");
    let request = &spans[0].span_context;

    let parent = first_traceparent(&broker, &topic).await;
    assert_eq!(
        parent.as_deref(),
        Some(format!("00-{}-{}-01", request.trace_id(), request.span_id()).as_str())
    );
}

/// The README's lean layer for high rates (no location, thread or
/// busy/idle attributes, no OpenTelemetry context activation) keeps traces
/// whole: a send is the child of the caller's span, the consumer's span the
/// child of the send (on request), and a send from the handler the child of
/// the `process` span, its record carrying that send's `traceparent`. The
/// handler's producer spans no send by count (`Sampling::NONE`), so its send
/// is spanned only because the `process` span is sampled: without context
/// activation the crate must find that through the `tracing` span, as
/// `opentelemetry::Context::current()` is empty.
#[tokio::test(flavor = "current_thread")]
async fn the_lean_layer_keeps_traces_whole() {
    let (exporter, provider) = in_memory();
    let layer = tracing_opentelemetry::layer()
        .with_tracer(provider.tracer("lean"))
        .with_location(false)
        .with_threads(false)
        .with_tracked_inactivity(false)
        .with_context_activation(false);
    // This thread's alone: the runtime runs every task on it.
    let _scoped = tracing::subscriber::set_default(tracing_subscriber::registry().with(layer));
    let broker = kafka::broker();
    let (first, second, group) = (fresh("lean-in"), fresh("lean-out"), fresh("g"));
    create_topic(&broker, &first, 1).await;
    create_topic(&broker, &second, 1).await;
    let producer = Producer::builder(&broker.servers).build().unwrap();
    send_in_request(&producer, &first, &numbered(1)).await;
    let downstream = Producer::builder(&broker.servers)
        .span_sampling(Sampling::NONE)
        .build()
        .unwrap();
    let consumer = consumer(&broker, &group)
        .topics(&[&first])
        .trace_context(TraceContext::Child)
        .build::<Numbered>()
        .unwrap();
    let done = Shutdown::new();
    let stop = done.clone();
    within(
        &broker,
        consumer.run(done, {
            let (downstream, second) = (downstream.clone(), second.clone());
            move |r| {
                let (producer, second, stop) = (downstream.clone(), second.clone(), stop.clone());
                async move {
                    producer.send_to(&second, r.value()).await?;
                    stop.trigger();
                    Ok::<_, kafka_codec::BoxError>(())
                }
            }
        }),
    )
    .await
    .into_result()
    .unwrap();

    provider.force_flush().unwrap();
    let spans = exporter.get_finished_spans().unwrap();
    let named = |name: &str| -> &SpanData {
        let found: Vec<_> = spans.iter().filter(|s| s.name == name).collect();
        assert_eq!(found.len(), 1, "one span {name}: {spans:?}");
        found[0]
    };
    let request = named("request");
    let send = named(&format!("send {first}"));
    let process = named(&format!("process {first}"));
    let resend = named(&format!("send {second}"));
    let trace = request.span_context.trace_id();
    for (child, parent) in [(send, request), (process, send), (resend, process)] {
        assert_eq!(child.span_context.trace_id(), trace, "{child:?}");
        assert_eq!(
            child.parent_span_id,
            parent.span_context.span_id(),
            "{child:?}"
        );
    }
    assert!(
        attr(process, "code.file.path").is_none(),
        "lean: {process:?}"
    );

    let parent = first_traceparent(&broker, &second).await;
    let cx = &resend.span_context;
    assert_eq!(
        parent.as_deref(),
        Some(format!("00-{}-{}-01", cx.trace_id(), cx.span_id()).as_str())
    );
}
