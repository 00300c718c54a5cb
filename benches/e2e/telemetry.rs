//! The cost of traces and metrics: the typed producer and a consumer run
//! (`Consumer::run`, where `process` spans are made) with a tracing
//! subscriber (recording spans, or exporting them through OpenTelemetry:
//! see [`Mode`]) and a Prometheus recorder, against the same without. The
//! records consumed were written untraced (no `traceparent`), so under the
//! crate's head sampling only its count chooses. Both are installed once, for the
//! whole process; "off" turns the subscriber's filter to OFF (every span
//! and event callsite is disabled again, as with no subscriber) and the
//! recorder's switch to no-op handles (the facade's cost stays: a global
//! recorder lookup per metric). Needs features `otel` and `metrics`.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use kafka_codec::kafka::Shutdown;
use kafka_codec::kafka::{ConsumerBuilder, Producer, Sampling};
use metrics::{
    Counter, CounterFn, Gauge, GaugeFn, Histogram, HistogramFn, Key, KeyName, Metadata, Recorder,
    SharedString, Unit,
};
use opentelemetry::trace::TracerProvider as _;
use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::{reload, Layer, Registry};

use crate::clock::{rate, Stopwatch, Timed};
use crate::kafka;
use crate::producer::{produce_typed, produce_with};
use crate::report::{log_run, Row};
use crate::setup::{bounded, consumer_config, fresh_topic, AnyEntity, Settings};

mod interleaved;
pub(super) use self::interleaved::interleaved;

/// Forwards to the Prometheus recorder while on; no-op handles while off.
/// While `gated`, every handle it registers is a [`Gated`] one instead,
/// which asks `on` at each use: the interleaved measure turns metrics on
/// and off within one run, after the crate has cached its handles.
struct Switch {
    on: Arc<AtomicBool>,
    gated: Arc<AtomicBool>,
    inner: metrics_exporter_prometheus::PrometheusRecorder,
}

/// A Prometheus handle used only while `on` is set.
struct Gated<H> {
    on: Arc<AtomicBool>,
    inner: H,
}

impl<H> Gated<H> {
    fn on(&self) -> bool {
        self.on.load(Ordering::Relaxed)
    }
}

impl CounterFn for Gated<Counter> {
    fn increment(&self, value: u64) {
        if self.on() {
            self.inner.increment(value);
        }
    }
    fn absolute(&self, value: u64) {
        if self.on() {
            self.inner.absolute(value);
        }
    }
}

impl GaugeFn for Gated<Gauge> {
    fn increment(&self, value: f64) {
        if self.on() {
            self.inner.increment(value);
        }
    }
    fn decrement(&self, value: f64) {
        if self.on() {
            self.inner.decrement(value);
        }
    }
    fn set(&self, value: f64) {
        if self.on() {
            self.inner.set(value);
        }
    }
}

impl HistogramFn for Gated<Histogram> {
    fn record(&self, value: f64) {
        if self.on() {
            self.inner.record(value);
        }
    }
}

impl Switch {
    fn gate<H>(&self, inner: H) -> Arc<Gated<H>> {
        Arc::new(Gated {
            on: self.on.clone(),
            inner,
        })
    }
}

impl Recorder for Switch {
    fn describe_counter(&self, key: KeyName, unit: Option<Unit>, text: SharedString) {
        self.inner.describe_counter(key, unit, text);
    }
    fn describe_gauge(&self, key: KeyName, unit: Option<Unit>, text: SharedString) {
        self.inner.describe_gauge(key, unit, text);
    }
    fn describe_histogram(&self, key: KeyName, unit: Option<Unit>, text: SharedString) {
        self.inner.describe_histogram(key, unit, text);
    }
    fn register_counter(&self, key: &Key, meta: &Metadata<'_>) -> Counter {
        if self.gated.load(Ordering::Relaxed) {
            return Counter::from_arc(self.gate(self.inner.register_counter(key, meta)));
        }
        if self.on.load(Ordering::Relaxed) {
            self.inner.register_counter(key, meta)
        } else {
            Counter::noop()
        }
    }
    fn register_gauge(&self, key: &Key, meta: &Metadata<'_>) -> Gauge {
        if self.gated.load(Ordering::Relaxed) {
            return Gauge::from_arc(self.gate(self.inner.register_gauge(key, meta)));
        }
        if self.on.load(Ordering::Relaxed) {
            self.inner.register_gauge(key, meta)
        } else {
            Gauge::noop()
        }
    }
    fn register_histogram(&self, key: &Key, meta: &Metadata<'_>) -> Histogram {
        if self.gated.load(Ordering::Relaxed) {
            return Histogram::from_arc(self.gate(self.inner.register_histogram(key, meta)));
        }
        if self.on.load(Ordering::Relaxed) {
            self.inner.register_histogram(key, meta)
        } else {
            Histogram::noop()
        }
    }
}

type BoxedLayer = Box<dyn Layer<Registry> + Send + Sync>;

/// What listens while a run is timed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Mode {
    /// No span or event enabled, metrics to no-op handles.
    Off,
    /// The crate's spans and events recorded by the subscriber (kept
    /// in its registry, not exported), metrics to a Prometheus recorder:
    /// what the instrumentation itself costs.
    Recorded,
    /// As `Recorded`, spans also built for OpenTelemetry with a 1 %
    /// trace-id ratio sampler, exported by a batch processor.
    OtelSampled,
    /// The crate makes a span for 1 % of the records and sends
    /// (`span_sampling(Sampling::ratio(0.01))`); OpenTelemetry keeps
    /// every span it is given, exported by a batch processor.
    OtelHeadSampled,
    /// Every span built and exported through OpenTelemetry (a simple
    /// processor and an exporter that drops them).
    OtelAll,
}

impl Mode {
    pub(super) const ALL: [Mode; 5] = [
        Mode::Off,
        Mode::Recorded,
        Mode::OtelHeadSampled,
        Mode::OtelSampled,
        Mode::OtelAll,
    ];

    fn label(self) -> &'static str {
        match self {
            Mode::Off => "telemetry off",
            Mode::Recorded => "spans + metrics recorded",
            Mode::OtelHeadSampled => head_label(),
            Mode::OtelSampled => "OpenTelemetry, 1 % sampled",
            Mode::OtelAll => "OpenTelemetry, every span",
        }
    }

    fn layer(self) -> BoxedLayer {
        use opentelemetry_sdk::trace::{Sampler, SdkTracerProvider};
        let lean = self == Mode::OtelHeadSampled && lean_layer();
        let otel = |provider: SdkTracerProvider| otel_layer(provider.tracer("e2e"), lean);
        match self {
            Mode::Off => LevelFilter::OFF.boxed(),
            Mode::Recorded => LevelFilter::INFO.boxed(),
            Mode::OtelHeadSampled => otel(
                SdkTracerProvider::builder()
                    .with_batch_exporter(opentelemetry_sdk::testing::trace::NoopSpanExporter::new())
                    .build(),
            ),
            Mode::OtelSampled => otel(
                SdkTracerProvider::builder()
                    .with_sampler(Sampler::TraceIdRatioBased(0.01))
                    .with_batch_exporter(opentelemetry_sdk::testing::trace::NoopSpanExporter::new())
                    .build(),
            ),
            Mode::OtelAll => {
                otel(
                    SdkTracerProvider::builder()
                        .with_simple_exporter(
                            opentelemetry_sdk::testing::trace::NoopSpanExporter::new(),
                        )
                        .build(),
                )
            }
        }
    }
}

impl Mode {
    /// A word for the mode, which `E2E_PAIRS` picks.
    fn short(self) -> &'static str {
        match self {
            Mode::Off => "off",
            Mode::Recorded => "recorded",
            Mode::OtelHeadSampled => "head",
            Mode::OtelSampled => "sampled",
            Mode::OtelAll => "all",
        }
    }

    /// Which records the crate spans.
    fn sampling(self) -> Sampling {
        match self {
            Mode::OtelHeadSampled => Sampling::ratio(head_ratio()),
            _ => Sampling::ALL,
        }
    }
}

/// The head-sampled mode's ratio: `E2E_HEAD_RATIO`, 1 % by default.
fn head_ratio() -> f64 {
    std::env::var("E2E_HEAD_RATIO")
        .ok()
        .and_then(|r| r.trim().parse().ok())
        .unwrap_or(0.01)
}

/// Whether the interleaved measure's OpenTelemetry layer is the lean
/// one the README recommends at high rates (`E2E_LAYER=lean`) rather
/// than `tracing_opentelemetry::layer()`'s defaults.
fn lean_layer() -> bool {
    std::env::var("E2E_LAYER").is_ok_and(|l| l.trim() == "lean")
}

/// An OpenTelemetry layer on `tracer`: `tracing_opentelemetry::layer()`'s
/// defaults, or the README's recipe for high rates (`lean`): no
/// per-span location, thread or busy/idle attributes, and no
/// OpenTelemetry context attached at each enter.
fn otel_layer(tracer: opentelemetry_sdk::trace::SdkTracer, lean: bool) -> BoxedLayer {
    let layer = tracing_opentelemetry::layer().with_tracer(tracer);
    let layer = if lean {
        layer
            .with_location(false)
            .with_threads(false)
            .with_tracked_inactivity(false)
            .with_context_activation(false)
    } else {
        layer
    };
    layer.with_filter(LevelFilter::INFO).boxed()
}

/// The head-sampled mode's name, with its ratio and layer.
fn head_label() -> &'static str {
    static LABEL: OnceLock<String> = OnceLock::new();
    LABEL.get_or_init(|| {
        format!(
            "OpenTelemetry, {} % head-sampled by the crate{}",
            head_ratio() * 100.0,
            if lean_layer() { ", lean layer" } else { "" }
        )
    })
}

struct Installed {
    layer: reload::Handle<BoxedLayer, Registry>,
    metrics: Arc<AtomicBool>,
    gated: Arc<AtomicBool>,
}

fn installed() -> &'static Installed {
    static INSTALLED: OnceLock<Installed> = OnceLock::new();
    INSTALLED.get_or_init(|| {
        let (layer, handle) = reload::Layer::new(Mode::Off.layer());
        tracing::subscriber::set_global_default(tracing_subscriber::registry().with(layer))
            .expect("one subscriber");
        // W3C trace context in the records' headers, as an application
        // installs it (the crate writes what the installed propagator does).
        opentelemetry::global::set_text_map_propagator(
            opentelemetry_sdk::propagation::TraceContextPropagator::new(),
        );
        let (on, gated) = (Arc::new(AtomicBool::new(false)), Arc::default());
        let inner = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
        // What `install` and the HTTP listener do: drain the histograms
        // every 5 s (their default), or their samples pile up without
        // bound, as they did in this bench before (a cost no scraped
        // exporter has).
        let prometheus = inner.handle();
        std::thread::Builder::new()
            .name("prometheus-upkeep".into())
            .spawn(move || loop {
                std::thread::sleep(Duration::from_secs(5));
                prometheus.run_upkeep();
            })
            .expect("upkeep thread");
        let recorder = Switch {
            on: on.clone(),
            gated: Arc::clone(&gated),
            inner,
        };
        metrics::set_global_recorder(recorder).expect("one recorder");
        Installed {
            layer: handle,
            metrics: on,
            gated,
        }
    })
}

fn set(mode: Mode) {
    let installed = installed();
    installed
        .layer
        .reload(mode.layer())
        .expect("reload the layer");
    installed.metrics.store(mode != Mode::Off, Ordering::SeqCst);
}

/// Handles every record of `topics` with `Consumer::run` (a handler that
/// only counts); timed, wall clock and CPU, from the first record.
async fn consume(servers: &str, topics: &[String], total: usize, mode: Mode) -> Timed {
    let consumer = ConsumerBuilder::from_config(consumer_config(servers))
        .topics(topics)
        .span_sampling(mode.sampling())
        .build::<AnyEntity>()
        .expect("typed consumer");
    let (seen, done) = (AtomicUsize::new(0), Shutdown::new());
    let started = OnceLock::new();
    bounded(
        "telemetry consumer",
        consumer.run(done.clone(), |r| {
            started.get_or_init(Stopwatch::start);
            std::hint::black_box(r.value());
            if seen.fetch_add(1, Ordering::Relaxed) + 1 == total {
                done.trigger();
            }
            async { Ok::<_, kafka_codec::BoxError>(()) }
        }),
    )
    .await
    .into_result()
    .expect("consumer run");
    started.get().map_or(
        Timed {
            wall: Duration::ZERO,
            cpu: None,
            thread: None,
        },
        Stopwatch::stop,
    )
}

/// Most records per partition of a topic the consumer drains: the mock
/// cluster keeps 5 MiB per partition (librdkafka's `max_size`) and
/// drops older records, which a drain would wait for forever.
const PER_PARTITION: usize = 5000;

/// Writes the two topics the consumer drains (N + 1 records each,
/// untimed, untraced: no `traceparent`), with enough partitions for
/// the mock cluster to keep them whole.
async fn inputs(
    broker: &kafka::Broker,
    settings: &Settings,
    messages: &[AnyEntity],
) -> Vec<String> {
    set(Mode::Off);
    let partitions = messages
        .len()
        .div_ceil(PER_PARTITION)
        .max(crate::setup::PARTITIONS as usize);
    let mut topics = Vec::new();
    for _ in 0..2 {
        let topic = kafka::fresh("e2e-telemetry-in");
        kafka::create_topic(
            broker,
            &topic,
            i32::try_from(partitions).expect("partitions"),
        )
        .await;
        produce_typed(&broker.servers, &topic, messages, settings.concurrency).await;
        topics.push(topic);
    }
    topics
}

/// Every round's figures for one side (producer or consumer) in one
/// mode.
#[derive(Default)]
struct Rounds {
    /// Records per second.
    rates: Vec<f64>,
    /// CPU µs per record, this whole process.
    cpu: Vec<f64>,
}

impl Rounds {
    #[allow(clippy::cast_precision_loss)]
    fn push(&mut self, records: usize, t: Timed) {
        self.rates.push(rate(records, t.wall));
        if let Some(cpu) = t.cpu {
            self.cpu.push(cpu.as_secs_f64() * 1e6 / records as f64);
        }
    }
}

fn best_rate(v: &[f64]) -> f64 {
    v.iter().copied().fold(0.0, f64::max)
}

fn best_cpu(v: &[f64]) -> f64 {
    v.iter().copied().fold(f64::INFINITY, f64::min)
}

/// The smallest and the largest of `v`.
fn range(v: &[f64]) -> (f64, f64) {
    (best_cpu(v), best_rate(v))
}

fn median(v: &[f64]) -> f64 {
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

/// What the 5 % goal allows a mode's CPU per record over `off`'s.
const CPU_GOAL: f64 = 1.05;

/// The modes the 5 % goal is for; the others are reported.
fn has_goal(mode: Mode) -> bool {
    matches!(mode, Mode::Recorded | Mode::OtelHeadSampled)
}

/// The CPU table: µs per record and the ratio to off, best (least CPU)
/// and median over the rounds, and the median of each round's own ratio
/// (the modes of a round run one after the other, so that one cancels
/// what drifts between rounds).
fn cpu_table(name: &str, in_process: bool, rounds: &[[Rounds; Mode::ALL.len()]; 2]) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "\nCPU per record, {name}: user + system time of this process, all threads, \
         over each timed section (CLOCK_PROCESS_CPUTIME_ID, nanoseconds), ÷ records; {}.",
        if in_process {
            "the mock cluster runs inside this process, so the broker's CPU counts too"
        } else {
            "the broker is another process, so this is the client's alone"
        },
    );
    out.push_str(
        "\n| broker | side | mode | CPU µs/record best | median | ratio to off best | \
         median | median of per-round ratios | goal: ≤ 1.05 on both medians |\n",
    );
    out.push_str("|---|---|---|---:|---:|---:|---:|---:|---|\n");
    for (side, modes) in ["producer", "consumer"].into_iter().zip(rounds) {
        let off = &modes[0].cpu;
        for (mode, r) in Mode::ALL.iter().zip(modes) {
            let paired: Vec<f64> = r.cpu.iter().zip(off).map(|(m, o)| m / o).collect();
            let (ratio, paired) = (median(&r.cpu) / median(off), median(&paired));
            // Met or missed only when both medians say so.
            let goal = match *mode {
                Mode::Off => "",
                m if !has_goal(m) => "reported",
                _ if ratio <= CPU_GOAL && paired <= CPU_GOAL => "met",
                _ if ratio > CPU_GOAL && paired > CPU_GOAL => "MISSED",
                _ => "unresolved",
            };
            let _ = writeln!(
                out,
                "| {name} | {side} | {} | {:.2} | {:.2} | {:.3} | {ratio:.3} | {paired:.3} | \
                 {goal} |",
                mode.label(),
                best_cpu(&r.cpu),
                median(&r.cpu),
                best_cpu(&r.cpu) / best_cpu(off),
            );
        }
    }
    out
}

/// Rounds of producing and consuming in every [`Mode`], the order
/// reversed every other round; the best rate of each counts, and each
/// mode is reported against `Off`, by rate in the rows and by CPU per
/// record in the table it prints and appends to `tables`.
pub(super) async fn side(
    name: &'static str,
    broker: &kafka::Broker,
    settings: &Settings,
    messages: &[AnyEntity],
    tables: &mut String,
) -> Vec<Row> {
    let n = messages.len();
    let topics = &inputs(broker, settings, messages).await;
    let total = topics.len() * (n + 1);
    // [producer, consumer][mode]
    let mut rounds: [[Rounds; Mode::ALL.len()]; 2] = Default::default();
    for round in 0..settings.rounds {
        let mut modes = Mode::ALL;
        if round % 2 == 1 {
            modes.reverse();
        }
        for mode in modes {
            set(mode);
            let topic = fresh_topic(broker, "e2e-telemetry").await;
            let producer = Producer::builder(&broker.servers)
                .span_sampling(mode.sampling())
                .build()
                .expect("typed producer");
            let sent = produce_with(producer, &topic, messages, settings.concurrency).await;
            log_run(name, "producer", round + 1, mode.label(), n, sent.wall);
            log_cpu(n, sent);
            let read = consume(&broker.servers, topics, total, mode).await;
            log_run(name, "consumer", round + 1, mode.label(), total, read.wall);
            log_cpu(total, read);
            let i = Mode::ALL
                .iter()
                .position(|&m| m == mode)
                .unwrap_or_default();
            rounds[0][i].push(n, sent);
            rounds[1][i].push(total, read);
        }
    }
    set(Mode::Off);
    let mut rows = Vec::new();
    for (side, modes) in [
        ("producer: send_to", &rounds[0]),
        ("consumer: run", &rounds[1]),
    ] {
        let off = &modes[0].rates;
        for (i, mode) in Mode::ALL.iter().enumerate().skip(1) {
            let rates = &modes[i].rates;
            rows.push(Row {
                broker: name,
                side: Box::leak(
                    format!(
                        "{side}, {} vs off (median ratio {:.3})",
                        mode.label(),
                        median(rates) / median(off)
                    )
                    .into_boxed_str(),
                ),
                typed: best_rate(rates),
                raw: best_rate(off),
                target: has_goal(*mode).then_some(0.95),
            });
        }
    }
    if rounds
        .iter()
        .flatten()
        .all(|r| r.cpu.len() == settings.rounds)
    {
        let table = cpu_table(name, broker.embedded.is_some(), &rounds);
        println!("{table}");
        tables.push_str(&table);
    } else {
        println!("(no CPU time: CLOCK_PROCESS_CPUTIME_ID could not be read)");
    }
    rows
}

/// The CPU part of a [`log_run`] line, and its end.
#[allow(clippy::cast_precision_loss)]
fn log_cpu(records: usize, t: Timed) {
    match t.cpu {
        Some(cpu) => println!(
            ", CPU {:>6.2} s = {:>5.2} µs/record",
            cpu.as_secs_f64(),
            cpu.as_secs_f64() * 1e6 / records as f64
        ),
        None => println!(),
    }
}
