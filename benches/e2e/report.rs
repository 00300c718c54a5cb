//! What the run prints: the per-run log lines, the closing table of
//! ratios, the machine's load average, the real broker's name, and the
//! codec alone on one thread.

use std::fmt::Write as _;
use std::hint::black_box;
use std::time::{Duration, Instant};

use kafka_codec::{KafkaCodec, KafkaMessage};

use crate::clock::rate;
use crate::setup::{AnyEntity, Encoded};

/// One line of the closing table.
pub(crate) struct Row {
    pub(crate) broker: &'static str,
    pub(crate) side: &'static str,
    pub(crate) typed: f64,
    pub(crate) raw: f64,
    /// The ratio to reach; `None`: reported only.
    pub(crate) target: Option<f64>,
}

pub(crate) fn log_run(
    broker: &str,
    side: &str,
    round: usize,
    label: &str,
    n: usize,
    elapsed: Duration,
) {
    print!(
        "  {broker:<13} {side:<8} round {round}  {label:<26} {n:>6} msgs in {:>7.3} s = {:>9.0} msgs/s",
        elapsed.as_secs_f64(),
        rate(n, elapsed)
    );
}

pub(crate) fn table(rows: &[Row]) -> String {
    let mut out = String::new();
    out.push_str("| broker | side | typed msgs/s | raw msgs/s | ratio | target |\n");
    out.push_str("|---|---|---:|---:|---:|---|\n");
    for r in rows {
        let ratio = r.typed / r.raw;
        let target = match r.target {
            Some(t) if ratio >= t => format!("≥ {t} (met)"),
            Some(t) => format!("≥ {t} (MISSED)"),
            None => "reported".into(),
        };
        let _ = writeln!(
            out,
            "| {} | {} | {:.0} | {:.0} | {ratio:.3} | {target} |",
            r.broker, r.side, r.typed, r.raw
        );
    }
    out
}

/// The 1, 5 and 15 minute load averages, where Linux tells them: other work
/// on the machine shows in the rates.
pub(crate) fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg").map_or_else(
        |_| "unknown".into(),
        |s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "),
    )
}

/// The real broker's name in the output: `E2E_BROKER_NAME`, e.g. `tansu`.
pub(crate) fn real_name() -> &'static str {
    match std::env::var("E2E_BROKER_NAME") {
        Ok(name) if !name.trim().is_empty() => Box::leak(name.into_boxed_str()),
        _ => "KAFKA_BROKERS",
    }
}

/// The codec work alone, on one thread, no Kafka: what the typed side does
/// on top of the raw one at best, to read the ratios against.
#[allow(clippy::cast_precision_loss)]
pub(crate) fn cpu_floor(messages: &[AnyEntity], encoded: &[Encoded]) {
    let n = messages.len();
    let codec = <AnyEntity as KafkaMessage>::Codec::default();
    let mut buf = Vec::new();
    let best = |f: &mut dyn FnMut()| {
        (0..3)
            .map(|_| {
                let start = Instant::now();
                f();
                start.elapsed()
            })
            .min()
            .unwrap_or_default()
    };
    let encode = best(&mut || {
        for m in messages {
            buf.clear();
            codec.encode(m, &mut buf).expect("encodes");
            black_box(&buf);
        }
    });
    let from_bytes = best(&mut || {
        for e in encoded {
            black_box(AnyEntity::from_bytes(&e.payload).expect("decodes"));
        }
    });
    let typetag = best(&mut || {
        for e in encoded {
            black_box(serde_json::from_slice::<AnyEntity>(&e.payload).expect("decodes"));
        }
    });
    let per = |d: Duration| d.as_secs_f64() * 1e6 / n.max(1) as f64;
    println!(
        "codec alone, one thread, best of 3: encode {:.2} µs/record, decode {:.2} µs/record \
         (fast path, from_bytes), {:.2} µs/record (typetag)",
        per(encode),
        per(from_bytes),
        per(typetag)
    );
}
