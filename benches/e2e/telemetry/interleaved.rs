//! The interleaved side: telemetry off against on in chunks of one
//! producer's and one consumer's run (off, on, on, off, ...), each chunk
//! timed by the CPU of the process and of the clients' thread, with a
//! bootstrap interval of the ratio and, over `E2E_RUNS` runs, their median.

use std::sync::atomic::Ordering;
use std::time::Duration;

use kafka_codec::kafka::Shutdown;
use kafka_codec::kafka::{ConsumerBuilder, Producer};
use opentelemetry::trace::TracerProvider as _;
use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::Layer;

use super::{inputs, installed, lean_layer, median, otel_layer, range, set, Mode, CPU_GOAL};
use crate::clock::{process_cpu, thread_cpu};
use crate::kafka;
use crate::producer::produce_with;
use crate::report::load_average;
use crate::setup::{bounded, consumer_config, env_usize, fresh_topic, AnyEntity, Settings};

/// The pairs the interleaved measure compares: off against one mode with
/// the 5 % goal, within one producer's and one consumer's run.
const PAIRS: [Mode; 2] = [Mode::Recorded, Mode::OtelHeadSampled];

/// Chunk `i`'s mode in the interleaved measure: off, on, on, off, and
/// again (ABBA, so a drift through the run falls on both alike).
fn chunk_on(i: usize) -> bool {
    matches!(i % 4, 1 | 2)
}

/// Sets the layer and metrics for one interleaved chunk: off, or `mode`
/// with its OpenTelemetry layer built on `tracer` (made once per run, so
/// a switch starts no exporter).
fn set_chunk(mode: Mode, on: bool, tracer: &opentelemetry_sdk::trace::SdkTracer) {
    let installed = installed();
    let (spans, metrics) = switched();
    let layer = match (on && spans, mode) {
        (false, _) => LevelFilter::OFF.boxed(),
        (true, Mode::OtelHeadSampled) => otel_layer(tracer.clone(), lean_layer()),
        (true, _) => LevelFilter::INFO.boxed(),
    };
    installed.layer.reload(layer).expect("reload the layer");
    installed.metrics.store(on && metrics, Ordering::SeqCst);
}

/// With `E2E_MARKS=1`, the monotonic time at which a chunk starts, on
/// stderr (`mark <ns> <side> <on|off>`), to split a `perf record -k
/// CLOCK_MONOTONIC` profile by chunk.
fn mark_chunk(side: &str, on: bool) {
    if std::env::var_os("E2E_MARKS").is_some() {
        let t = rustix::time::clock_gettime(rustix::time::ClockId::Monotonic);
        eprintln!(
            "mark {}{:09} {side} {}",
            t.tv_sec,
            t.tv_nsec,
            if on { "on" } else { "off" }
        );
    }
}

/// What the "on" chunks switch on: `E2E_ON=spans` or `metrics` (to
/// tell their costs apart), both by default; `none` compares off with
/// off (an A/A run: how far the measure strays with nothing to find).
fn switched() -> (bool, bool) {
    match std::env::var("E2E_ON").as_deref().map(str::trim) {
        Ok("spans") => (true, false),
        Ok("metrics") => (false, true),
        Ok("none") => (false, false),
        _ => (true, true),
    }
}

/// CPU per record of the chunks of one interleaved run, by mode.
struct Chunks {
    /// Records in a whole chunk: a shorter one (the run's tail) is not
    /// counted, as it has no like-sized neighbour to pair with.
    size: usize,
    /// [off, on]: CPU µs and records of the counted chunks.
    cpu: [f64; 2],
    records: [usize; 2],
    /// µs per record of each counted chunk, in order (ABBA pairs).
    each: Vec<(bool, f64)>,
}

impl Chunks {
    fn new(size: usize) -> Self {
        Chunks {
            size,
            cpu: [0.0; 2],
            records: [0; 2],
            each: Vec::new(),
        }
    }

    /// Counts chunk `i` (the first two, one of each mode, are the
    /// warm-up and are not counted, nor is a chunk short of the size).
    #[allow(clippy::cast_precision_loss)]
    fn push(&mut self, i: usize, records: usize, cpu: Duration) {
        if i < 2 || records < self.size {
            return;
        }
        let on = chunk_on(i);
        let us = cpu.as_secs_f64() * 1e6;
        self.cpu[usize::from(on)] += us;
        self.records[usize::from(on)] += records;
        self.each.push((on, us / records as f64));
    }

    /// On against off: the totals' ratio, and each ABBA pair's (a chunk
    /// on against its neighbour off).
    #[allow(clippy::cast_precision_loss)]
    fn ratios(&self) -> (f64, Vec<f64>) {
        let per = |m: usize| self.cpu[m] / self.records[m] as f64;
        let pairs = self
            .each
            .chunks_exact(2)
            .map(|p| match (p[0], p[1]) {
                ((true, on), (false, off)) | ((false, off), (true, on)) => on / off,
                _ => f64::NAN,
            })
            .filter(|r| r.is_finite())
            .collect();
        (per(1) / per(0), pairs)
    }

    /// A 95 % interval of the totals' ratio: the ABBA pairs resampled
    /// with replacement (a seeded bootstrap, 2 000 draws), each draw's
    /// ratio of mean CPU per record on to off.
    #[allow(clippy::cast_precision_loss)]
    fn interval(&self) -> Option<(f64, f64)> {
        use rand::{Rng as _, SeedableRng as _};
        let pairs: Vec<(f64, f64)> = self
            .each
            .chunks_exact(2)
            .filter_map(|p| match (p[0], p[1]) {
                ((true, on), (false, off)) | ((false, off), (true, on)) => Some((on, off)),
                _ => None,
            })
            .collect();
        if pairs.len() < 4 {
            return None;
        }
        let mut rng = rand::rngs::StdRng::seed_from_u64(0x5eed);
        let mut draws: Vec<f64> = (0..2000)
            .map(|_| {
                let (on, off) = (0..pairs.len()).fold((0.0, 0.0), |(on, off), _| {
                    let (a, b) = pairs[rng.gen_range(0..pairs.len())];
                    (on + a, off + b)
                });
                on / off
            })
            .collect();
        draws.sort_by(f64::total_cmp);
        Some((draws[50], draws[1949]))
    }
}

/// Telemetry on against off within one run: the producer sends, and the
/// consumer handles, chunks of `E2E_CHUNK` records (default 25 000),
/// switching between off and the mode at every chunk (off, on, on, off,
/// ...), each chunk timed by this process's CPU. Metrics handles stay
/// registered and are switched at each use, spans by reloading the
/// layer. Rounds of separate runs drift by more than the 5 % to
/// resolve; chunks next to each other share the machine's state.
pub(crate) async fn interleaved(
    name: &'static str,
    broker: &kafka::Broker,
    settings: &Settings,
    messages: &[AnyEntity],
    tables: &mut String,
) {
    use opentelemetry_sdk::trace::SdkTracerProvider;
    use std::fmt::Write as _;

    let chunk = env_usize("E2E_CHUNK", 25_000).max(1);
    let topics = &inputs(broker, settings, messages).await;
    let total = topics.len() * (messages.len() + 1);
    let installed = installed();
    let mut table = format!(
        "\nTelemetry on against off, interleaved, {name}: chunks of {chunk} records, \
         off/on/on/off..., the first two not counted; CPU per record of this process \
         ({}) and of the thread that runs the producer and the consumer (their own code \
         and the telemetry, without librdkafka's threads).\n\n| broker | side | mode | \
         CPU of | chunks off + on | CPU µs/record off | on | ratio of the totals | \
         its 95 % interval (bootstrap over the pairs) | pairs: median | min–max | \
         goal ≤ 1.05 (by the interval) |\n\
         |---|---|---|---|---:|---:|---:|---:|---|---:|---|---|\n",
        if broker.embedded.is_some() {
            "the mock cluster's CPU included"
        } else {
            "the client's alone"
        }
    );
    let only = std::env::var("E2E_PAIRS").unwrap_or_default();
    let runs = env_usize("E2E_RUNS", 1).max(1);
    // The totals' ratio of each run, by line (mode, side, clock).
    let mut by_line: Vec<(Line, Vec<f64>)> = Vec::new();
    for (run, mode) in (0..runs).flat_map(|run| {
        PAIRS
            .into_iter()
            .filter(|m| m.short().contains(only.trim()))
            .map(move |m| (run, m))
    }) {
        if runs > 1 {
            println!(
                "\n  run {} of {runs}, {}; load average {}",
                run + 1,
                mode.label(),
                load_average()
            );
        }
        let provider = SdkTracerProvider::builder()
            .with_batch_exporter(opentelemetry_sdk::testing::trace::NoopSpanExporter::new())
            .build();
        let tracer = provider.tracer("e2e");
        // Handles registered from here on ask the switch at each use.
        installed.gated.store(true, Ordering::SeqCst);
        let mut sides = Vec::new();

        let producer = Producer::builder(&broker.servers)
            .span_sampling(mode.sampling())
            .build()
            .expect("typed producer");
        let topic = fresh_topic(broker, "e2e-interleaved").await;
        let (mut sent, mut sent_thread) = (Chunks::new(chunk), Chunks::new(chunk));
        for (i, part) in messages.chunks(chunk).enumerate() {
            set_chunk(mode, chunk_on(i), &tracer);
            mark_chunk("producer", chunk_on(i));
            let t = produce_with(producer.clone(), &topic, part, settings.concurrency).await;
            if let Some(cpu) = t.cpu {
                sent.push(i, part.len(), cpu);
            }
            if let Some(cpu) = t.thread {
                sent_thread.push(i, part.len(), cpu);
            }
        }
        sides.push(("producer", "process", sent));
        sides.push(("producer", "thread", sent_thread));

        set_chunk(mode, false, &tracer);
        let consumer = ConsumerBuilder::from_config(consumer_config(&broker.servers))
            .topics(topics)
            .span_sampling(mode.sampling())
            .build::<AnyEntity>()
            .expect("typed consumer");
        let done = Shutdown::new();
        let (mut read, mut read_thread) = (Chunks::new(chunk), Chunks::new(chunk));
        // Records handled, and (at the last switch) that count and the
        // CPU of the process and of this thread.
        let (mut seen, mut last, mut mark, mut mark_thread) = (0, 0, None, None);
        bounded(
            "interleaved consumer",
            consumer.run(done.clone(), |r| {
                std::hint::black_box(r.value());
                seen += 1;
                // The first record starts chunk 0; every `chunk`
                // records one ends and the next starts in the other mode.
                if seen == 1 || seen % chunk == 0 || seen == total {
                    let (now, now_thread) = (process_cpu(), thread_cpu());
                    let i = (seen - 1) / chunk;
                    if let (Some(now), Some(before)) = (now, mark) {
                        read.push(i, seen - last, now.saturating_sub(before));
                    }
                    if let Some(before) = mark_thread {
                        read_thread.push(i, seen - last, now_thread.saturating_sub(before));
                    }
                    // The switch itself (a layer rebuilt, the callsites'
                    // interest with it) is in neither chunk, as for the
                    // producer, whose chunks start after it.
                    set_chunk(mode, chunk_on(seen / chunk), &tracer);
                    mark_chunk("consumer", chunk_on(seen / chunk));
                    (last, mark, mark_thread) = (seen, process_cpu(), Some(thread_cpu()));
                }
                if seen == total {
                    done.trigger();
                }
                async { Ok::<_, kafka_codec::BoxError>(()) }
            }),
        )
        .await
        .into_result()
        .expect("interleaved consumer run");
        sides.push(("consumer", "process", read));
        sides.push(("consumer", "thread", read_thread));
        installed.gated.store(false, Ordering::SeqCst);
        set(Mode::Off);
        let _ = provider.shutdown();

        for (side, of, chunks) in &sides {
            let (ratio, pairs) = chunks.ratios();
            let (lo, hi) = range(&pairs);
            let pair = median(&pairs);
            let interval = chunks.interval();
            let goal = match interval {
                _ if !(ratio.is_finite() && pair.is_finite()) => {
                    "too few chunks: E2E_MESSAGES ≥ 4 × E2E_CHUNK"
                }
                None => "too few pairs for an interval",
                Some((_, hi)) if hi <= CPU_GOAL => "met",
                Some((lo, _)) if lo > CPU_GOAL => "MISSED",
                Some(_) => "unresolved: the interval holds 1.05",
            };
            let interval =
                interval.map_or_else(|| "–".to_owned(), |(lo, hi)| format!("{lo:.3}–{hi:.3}"));
            #[allow(clippy::cast_precision_loss)]
            let per = |m: usize| chunks.cpu[m] / chunks.records[m].max(1) as f64;
            let on = match switched() {
                (true, false) => " (spans alone)",
                (false, true) => " (metrics alone)",
                (false, false) => " (A/A: nothing switched on)",
                (true, true) => "",
            };
            let line = format!(
                "| {name} | {side} | {}{on} | {of} | {} | {:.2} | {:.2} | {ratio:.3} | \
                 {interval} | {pair:.3} | {lo:.3}–{hi:.3} | {goal} |",
                mode.label(),
                chunks.each.len(),
                per(0),
                per(1),
            );
            println!("  {line}");
            let _ = writeln!(table, "{line}");
            let key = (format!("{}{on}", mode.label()), *side, *of);
            match by_line.iter_mut().find(|(k, _)| *k == key) {
                Some((_, ratios)) => ratios.push(ratio),
                None => by_line.push((key, vec![ratio])),
            }
        }
    }
    if runs > 1 {
        table.push_str(&across_runs(name, runs, &by_line));
    }
    println!("{table}");
    tables.push_str(&table);
}

/// A line of the interleaved measure: mode, side, and whose CPU.
type Line = (String, &'static str, &'static str);

/// The verdict over `runs` interleaved runs: one run's interval is
/// narrower than the spread between runs (the same pair has moved by 6
/// points from one run to the next), so the median of the runs' ratios
/// decides, and the range shows the spread.
fn across_runs(name: &str, runs: usize, by_line: &[(Line, Vec<f64>)]) -> String {
    use std::fmt::Write as _;

    let mut out = format!(
        "\nAcross {runs} runs, {name}: the ratio of the totals of each run, their \
         median and range.\n\n| broker | side | mode | CPU of | runs | median | \
         min–max | each run | goal ≤ 1.05 (by the median) |\n\
         |---|---|---|---|---:|---:|---|---|---|\n"
    );
    for ((mode, side, of), ratios) in by_line {
        let (lo, hi) = range(ratios);
        let mid = median(ratios);
        let each = ratios
            .iter()
            .map(|r| format!("{r:.3}"))
            .collect::<Vec<_>>()
            .join(", ");
        let goal = if !mid.is_finite() {
            "too few chunks"
        } else if mid <= CPU_GOAL {
            "met"
        } else {
            "MISSED"
        };
        let _ = writeln!(
            out,
            "| {name} | {side} | {mode} | {of} | {} | **{mid:.3}** | {lo:.3}–{hi:.3} | \
             {each} | {goal} |",
            ratios.len()
        );
    }
    out
}
