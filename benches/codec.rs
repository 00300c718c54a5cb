//! Codec benchmarks. Every group measures the crate next to the raw baseline
//! it wraps (plain serde_json, plain rmp-serde, a plain struct), in the same
//! run, on the same bytes, so the ratio is the result and the absolute times
//! are only context.
//!
//! ```text
//! cargo bench --bench codec --all-features
//! ```
//!
//! Payloads come from the sample hierarchy of the `kafka-codec-sample` crate
//! (`sample/`), with a fixed seed, at about 100 B, 1 KB and 10 KB; their
//! exact sizes are printed first.
//!
//! At the end the run prints a table of ratios, framework throughput over
//! baseline throughput (= baseline time / framework time), two ways:
//!
//! * **criterion**: the ratio of the mean times of criterion's samples (the
//!   figure criterion reports as its mean point estimate);
//! * **paired**: measured once more right after criterion, alternating short
//!   batches of the two routines and taking the median of the per-batch
//!   ratios. Both routines see the same machine load, which criterion's
//!   back-to-back runs seconds apart do not on a shared machine; the verdict
//!   against the target uses this one.
//!
//! The same table is written as `ratios.csv` into the criterion home, where
//! `scripts/bench-chart.py --from-criterion` reads it. `BENCHMARKS.md` holds
//! the results of a run and what they mean.
//!
//! How the bench gets criterion's means, and why this way: criterion 0.5
//! has no public API for its results (its `Report` trait is private), and
//! the files it writes (`<group>/<function>/<payload>/new/estimates.json`)
//! are, in its own words, private implementation details whose structure
//! may change without warning; this bench used to read them. The stable,
//! machine-readable alternatives need something a plain `cargo bench` does
//! not have: `cargo-criterion --message-format=json` (a separate tool to
//! install) or the `raw.csv` of criterion's `csv_output` feature (being
//! deprecated, and in the same private directory layout). So each routine
//! is timed through `Bencher::iter_custom` (public API), with the same loop
//! and clock as `Bencher::iter`, and the bench keeps the iteration count and
//! time of every call criterion makes. Criterion's sample is the last of
//! those calls (see [`criterion_sample`]), and the mean of their times per
//! iteration is the mean criterion computes from the same numbers.

use kafka_codec_sample as sample;

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::fmt::Write as _;
use std::hint::black_box;
use std::path::PathBuf;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use chrono::{DateTime, NaiveDate, Utc};
use criterion::measurement::WallTime;
use criterion::{criterion_group, BenchmarkGroup, BenchmarkId, Criterion, Throughput};
use kafka_codec::codec::{FastPath, Hints, SerdeCodec};
#[cfg(feature = "msgpack")]
use kafka_codec::MsgPack;
use kafka_codec::{Error, ErrorKind, Json, KafkaCodec, KafkaMessage, Position};
use rand::rngs::StdRng;
use rand::SeedableRng;
use rust_decimal::Decimal;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use sample::{Address, Department, Employee, Entity, EntityBase, Order};

const SEED: u64 = 0x006b_6166_6b61;

fn rng() -> StdRng {
    StdRng::seed_from_u64(SEED)
}

fn config() -> Criterion {
    Criterion::default()
        .measurement_time(Duration::from_secs(2))
        .warm_up_time(Duration::from_millis(500))
        .sample_size(30)
        // The default 100 000 bootstrap resamples cost more than the
        // measurement itself at this sample size.
        .nresamples(10_000)
}

// ---------------------------------------------------------------------------
// Payloads

/// One value to encode and decode, with a stable label for the report.
struct Payload<T> {
    label: &'static str,
    value: T,
}

fn json_len<T: Serialize>(value: &T) -> usize {
    serde_json::to_vec(value)
        .expect("sample values encode")
        .len()
}

/// The smallest order, same seed, whose JSON is at least `target` bytes.
fn order_of_size(target: usize) -> (Order, usize) {
    (0..10_000)
        .map(|n| (sample::order_with(&mut rng(), n), n))
        .find(|(order, _)| json_len(order) >= target)
        .expect("orders grow with their items")
}

/// An entity base (~100 B), an order of ~1 KB and one of ~10 KB.
struct Payloads {
    small: Payload<EntityBase>,
    medium: Payload<Order>,
    large: Payload<Order>,
}

/// Built once, printed once.
fn payloads() -> &'static Payloads {
    static PAYLOADS: OnceLock<Payloads> = OnceLock::new();
    PAYLOADS.get_or_init(|| {
        let small = sample::entity_base(&mut rng());
        let (medium, n_medium) = order_of_size(1024);
        let (large, n_large) = order_of_size(10 * 1024);
        println!("payloads (JSON bytes):");
        println!("  100B  EntityBase               {:>6}", json_len(&small));
        println!(
            "  1KB   Order, {n_medium:>3} line items    {:>6}",
            json_len(&medium)
        );
        println!(
            "  10KB  Order, {n_large:>3} line items    {:>6}",
            json_len(&large)
        );
        Payloads {
            small: Payload {
                label: "100B",
                value: small,
            },
            medium: Payload {
                label: "1KB",
                value: medium,
            },
            large: Payload {
                label: "10KB",
                value: large,
            },
        }
    })
}

fn employee() -> Employee {
    sample::employee(&mut rng())
}

/// A routine that encodes into a buffer of its own, reused across calls, as
/// a producer does.
fn encoder(mut encode: impl FnMut(&mut Vec<u8>)) -> impl FnMut() {
    let mut buf = Vec::with_capacity(16 * 1024);
    move || {
        buf.clear();
        encode(&mut buf);
    }
}

// ---------------------------------------------------------------------------
// Measuring

/// A criterion group that also re-measures its pairs side by side.
struct Group<'a> {
    inner: BenchmarkGroup<'a, WallTime>,
    name: &'static str,
    /// (function, payload) measured by criterion in this run.
    measured: HashSet<(String, String)>,
}

impl<'a> Group<'a> {
    fn new(c: &'a mut Criterion, name: &'static str) -> Self {
        Group {
            inner: c.benchmark_group(name),
            name,
            measured: HashSet::new(),
        }
    }

    /// Measures `routine` with criterion; `bytes` is the payload size it
    /// reads or writes. Keeps the mean of criterion's sample in [`MEANS`].
    fn bench<R>(
        &mut self,
        function: &str,
        payload: &str,
        bytes: usize,
        routine: &mut impl FnMut() -> R,
    ) {
        self.inner.throughput(Throughput::Bytes(bytes as u64));
        // Every call criterion makes, warm-up included: (iterations, time).
        let mut calls: Vec<(u64, Duration)> = Vec::with_capacity(64);
        self.inner
            .bench_function(BenchmarkId::new(function, payload), |b| {
                // The loop and the clock of `Bencher::iter`, which this
                // bench used before.
                b.iter_custom(|iters| {
                    let start = Instant::now();
                    for _ in 0..iters {
                        criterion::black_box(routine());
                    }
                    let elapsed = start.elapsed();
                    calls.push((iters, elapsed));
                    elapsed
                });
            });
        // Skipped by a filter, or only run once by `--test`: no sample.
        if let Some(mean) = criterion_sample(&calls).map(mean_ns) {
            self.measured
                .insert((function.to_owned(), payload.to_owned()));
            MEANS
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .insert((self.name, function.to_owned(), payload.to_owned()), mean);
        }
    }

    /// Measures `framework` against `baseline` once more, interleaved, if
    /// criterion measured both in this run.
    fn paired<RA, RB>(
        &self,
        (framework, fw): (&'static str, &mut impl FnMut() -> RA),
        (baseline, base): (&'static str, &mut impl FnMut() -> RB),
        payload: &str,
    ) {
        let measured = |f: &str| self.measured.contains(&(f.to_owned(), payload.to_owned()));
        if !(measured(framework) && measured(baseline)) {
            return;
        }
        let ratio = paired_ratio(fw, base);
        PAIRED
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert((self.name, framework, baseline, payload.to_owned()), ratio);
    }

    fn finish(self) {
        self.inner.finish();
    }
}

/// Paired ratios: (group, framework, baseline, payload) → ratio.
static PAIRED: Mutex<PairedRatios> = Mutex::new(BTreeMap::new());
type PairedRatios = BTreeMap<(&'static str, &'static str, &'static str, String), f64>;

/// The mean of criterion's sample, ns per iteration: (group, function,
/// payload) → mean, for every benchmark criterion measured in this run.
static MEANS: Mutex<Means> = Mutex::new(BTreeMap::new());
type Means = BTreeMap<(&'static str, String, String), f64>;

/// Criterion's sample among the calls it made to a routine, in order.
///
/// Criterion 0.5 warms up with 1, 2, 4, … iterations, then makes one call
/// per sample, at least 10: d, 2d, 3d, … iterations (linear sampling, which
/// it picks for every routine here: they take microseconds) or n × d (flat,
/// for routines of milliseconds). With `--quick` it doubles from 1 until the
/// times settle and keeps the last two calls (d, 2d). `--test` makes one call,
/// and a benchmark a filter leaves out none: no sample. The d, 2d, 3d, …
/// calls cannot extend back into the warm-up (x, 2x, 4x is not linear), so
/// the longest such run at the end is the sample exactly. A flat run of n
/// calls at d may take in one warm-up call as well, if it too had d
/// iterations: one sample more than criterion's, where flat sampling is
/// chosen at all.
fn criterion_sample(calls: &[(u64, Duration)]) -> Option<&[(u64, Duration)]> {
    const MIN_SAMPLES: usize = 10;
    let doubling = |c: &[(u64, Duration)]| {
        c.iter()
            .enumerate()
            .all(|(i, &(n, _))| u32::try_from(i).ok().and_then(|i| 1u64.checked_shl(i)) == Some(n))
    };
    if calls.len() >= 2 && doubling(calls) {
        return Some(&calls[calls.len() - 2..]);
    }
    let linear = |c: &[(u64, Duration)]| {
        let d = c[0].0;
        c.iter()
            .zip(1u64..)
            .all(|(&(n, _), k)| d.checked_mul(k) == Some(n))
    };
    let flat = |c: &[(u64, Duration)]| c.iter().all(|&(n, _)| n == c[0].0);
    (0..calls.len().saturating_sub(MIN_SAMPLES - 1))
        .map(|start| &calls[start..])
        .find(|tail| linear(tail) || flat(tail))
}

/// Criterion's mean: the mean over the sample of each call's time per
/// iteration, in nanoseconds, computed as criterion computes it.
#[allow(clippy::cast_precision_loss)] // as criterion's own conversion
fn mean_ns(sample: &[(u64, Duration)]) -> f64 {
    let sum = sample
        .iter()
        .map(|&(iters, time)| time.as_nanos() as f64 / iters as f64)
        .fold(0.0, |a, b| a + b);
    sum / sample.len() as f64
}

/// baseline time / framework time, as the median over alternating batches.
fn paired_ratio<RA, RB>(fw: &mut impl FnMut() -> RA, base: &mut impl FnMut() -> RB) -> f64 {
    fn batch<R>(f: &mut impl FnMut() -> R, n: u32) -> f64 {
        let start = Instant::now();
        for _ in 0..n {
            black_box(f());
        }
        start.elapsed().as_secs_f64()
    }
    // Batches of about a millisecond: long enough for the clock, short
    // enough that load changes hit both sides alike.
    let mut n = 1;
    while batch(fw, n) < 1e-3 && n < 1 << 20 {
        n *= 2;
    }
    let deadline = Instant::now() + Duration::from_millis(500);
    let mut ratios = Vec::new();
    while ratios.len() < 20 || Instant::now() < deadline {
        // Alternate which goes first, so neither always runs on a warm cache.
        let (a, b) = if ratios.len() % 2 == 0 {
            let a = batch(fw, n);
            (a, batch(base, n))
        } else {
            let b = batch(base, n);
            (batch(fw, n), b)
        };
        ratios.push(b / a);
    }
    ratios.sort_by(f64::total_cmp);
    ratios[ratios.len() / 2]
}

// ---------------------------------------------------------------------------
// 1. The Json codec against serde_json on the same concrete type

fn json_encode_one<T: KafkaMessage>(g: &mut Group<'_>, p: &Payload<T>) {
    let v = &p.value;
    let len = json_len(v);
    let mut codec =
        encoder(|buf| KafkaCodec::<T>::encode(&Json::new(), black_box(v), buf).unwrap());
    let mut serde = encoder(|buf| serde_json::to_writer(buf, black_box(v)).unwrap());
    // The allocating forms, for a caller without a buffer of its own.
    let mut to_bytes = || black_box(v).to_bytes().unwrap();
    let mut to_vec = || serde_json::to_vec(black_box(v)).unwrap();
    g.bench("Json", p.label, len, &mut codec);
    g.bench("serde_json::to_writer", p.label, len, &mut serde);
    g.bench("to_bytes", p.label, len, &mut to_bytes);
    g.bench("serde_json::to_vec", p.label, len, &mut to_vec);
    g.paired(
        ("Json", &mut codec),
        ("serde_json::to_writer", &mut serde),
        p.label,
    );
    g.paired(
        ("to_bytes", &mut to_bytes),
        ("serde_json::to_vec", &mut to_vec),
        p.label,
    );
}

fn json_decode_one<T: KafkaMessage>(g: &mut Group<'_>, p: &Payload<T>) {
    let bytes = serde_json::to_vec(&p.value).unwrap();
    let mut codec = || KafkaCodec::<T>::decode(&Json::new(), black_box(&bytes)).unwrap();
    let mut from_bytes = || T::from_bytes(black_box(&bytes)).unwrap();
    let mut serde = || serde_json::from_slice::<T>(black_box(&bytes)).unwrap();
    g.bench("Json", p.label, bytes.len(), &mut codec);
    g.bench("from_bytes", p.label, bytes.len(), &mut from_bytes);
    g.bench("serde_json::from_slice", p.label, bytes.len(), &mut serde);
    g.paired(
        ("Json", &mut codec),
        ("serde_json::from_slice", &mut serde),
        p.label,
    );
    g.paired(
        ("from_bytes", &mut from_bytes),
        ("serde_json::from_slice", &mut serde),
        p.label,
    );
}

fn json_encode(c: &mut Criterion) {
    let p = payloads();
    let mut g = Group::new(c, "json/encode");
    json_encode_one(&mut g, &p.small);
    json_encode_one(&mut g, &p.medium);
    json_encode_one(&mut g, &p.large);
    g.finish();
}

fn json_decode(c: &mut Criterion) {
    let p = payloads();
    let mut g = Group::new(c, "json/decode");
    json_decode_one(&mut g, &p.small);
    json_decode_one(&mut g, &p.medium);
    json_decode_one(&mut g, &p.large);
    g.finish();
}

// ---------------------------------------------------------------------------
// 2. Trait objects: typetag, the fast path, and the concrete type

fn poly_decode_one<T>(g: &mut Group<'_>, label: &'static str, value: T)
where
    T: Entity + KafkaMessage + PartialEq + std::fmt::Debug,
{
    let boxed: Box<dyn Entity> = Box::new(value);
    let bytes = boxed.to_bytes().unwrap();
    println!("  {label:<10} tagged JSON {:>6} bytes", bytes.len());
    let expected = boxed.downcast_ref::<T>().unwrap();
    // All three read the same value from the same bytes.
    let via_typetag = <Json as KafkaCodec<Box<dyn Entity>>>::decode(&Json::new(), &bytes).unwrap();
    let via_fast_path = <Box<dyn Entity>>::from_bytes(&bytes).unwrap();
    assert_eq!(via_typetag.downcast_ref::<T>(), Some(expected));
    assert_eq!(via_fast_path.downcast_ref::<T>(), Some(expected));
    assert_eq!(&serde_json::from_slice::<T>(&bytes).unwrap(), expected);

    let mut typetag =
        || <Json as KafkaCodec<Box<dyn Entity>>>::decode(&Json::new(), black_box(&bytes)).unwrap();
    let mut fast_path = || <Box<dyn Entity>>::from_bytes(black_box(&bytes)).unwrap();
    // serde skips the "type" key the concrete type does not have.
    let mut concrete = || serde_json::from_slice::<T>(black_box(&bytes)).unwrap();
    three_ways(
        g,
        label,
        bytes.len(),
        &mut typetag,
        &mut fast_path,
        &mut concrete,
    );
    g.paired(
        ("fast_path", &mut fast_path),
        ("typetag", &mut typetag),
        label,
    );
}

/// Times one trait-object decode three ways and pairs the first two with
/// the concrete one.
fn three_ways<A, B, C>(
    g: &mut Group<'_>,
    label: &'static str,
    len: usize,
    typetag: &mut impl FnMut() -> A,
    fast_path: &mut impl FnMut() -> B,
    concrete: &mut impl FnMut() -> C,
) {
    g.bench("typetag", label, len, typetag);
    g.bench("fast_path", label, len, fast_path);
    g.bench("concrete", label, len, concrete);
    g.paired(("fast_path", fast_path), ("concrete", concrete), label);
    g.paired(("typetag", typetag), ("concrete", concrete), label);
}

fn poly_decode(c: &mut Criterion) {
    let p = payloads();
    println!("trait-object payloads:");
    let mut g = Group::new(c, "poly/decode");
    poly_decode_one(&mut g, "Order-0", sample::order_with(&mut rng(), 0));
    poly_decode_one(&mut g, "Employee", employee());
    poly_decode_one(&mut g, "Order-1KB", p.medium.value.clone());
    poly_decode_one(&mut g, "Order-10KB", p.large.value.clone());
    g.finish();
}

/// The sample's types as serde's own internally tagged enum: what a closed
/// hierarchy would write without trait objects, the baseline of
/// trait-object encoding.
#[derive(Serialize)]
#[serde(tag = "type")]
enum TaggedEntity {
    Order(Order),
    Employee(Employee),
}

/// Encodes one trait object four ways: `fast_path` (`to_bytes`, the
/// monomorphic encoder), `typetag` (`serde_json::to_vec` of the box, through
/// erased-serde), `tagged_enum` (the same value in a `#[serde(tag = "type")]`
/// enum) and `concrete` (the struct alone, without the tag).
fn poly_encode_one<T>(g: &mut Group<'_>, label: &'static str, value: T, tagged: &TaggedEntity)
where
    T: Entity + KafkaMessage,
{
    let boxed: Box<dyn Entity> = Box::new(value);
    let bytes = boxed.to_bytes().unwrap();
    // The first three write the same bytes.
    assert_eq!(serde_json::to_vec(&boxed).unwrap(), bytes);
    assert_eq!(serde_json::to_vec(tagged).unwrap(), bytes);
    let concrete = boxed.downcast_ref::<T>().unwrap();

    let mut fast_path = || black_box(&boxed).to_bytes().unwrap();
    let mut typetag = || serde_json::to_vec(black_box(&boxed)).unwrap();
    let mut tagged_enum = || serde_json::to_vec(black_box(tagged)).unwrap();
    let mut untagged = || serde_json::to_vec(black_box(concrete)).unwrap();
    let len = bytes.len();
    g.bench("fast_path", label, len, &mut fast_path);
    g.bench("typetag", label, len, &mut typetag);
    g.bench("tagged_enum", label, len, &mut tagged_enum);
    g.bench("concrete", label, len, &mut untagged);
    g.paired(
        ("fast_path", &mut fast_path),
        ("tagged_enum", &mut tagged_enum),
        label,
    );
    g.paired(
        ("typetag", &mut typetag),
        ("tagged_enum", &mut tagged_enum),
        label,
    );
    g.paired(
        ("fast_path", &mut fast_path),
        ("typetag", &mut typetag),
        label,
    );
    g.paired(
        ("fast_path", &mut fast_path),
        ("concrete", &mut untagged),
        label,
    );
}

fn poly_encode(c: &mut Criterion) {
    let p = payloads();
    let mut g = Group::new(c, "poly/encode");
    let order = |label, order: Order, g: &mut Group<'_>| {
        let tagged = TaggedEntity::Order(order.clone());
        poly_encode_one(g, label, order, &tagged);
    };
    order("Order-0", sample::order_with(&mut rng(), 0), &mut g);
    let tagged = TaggedEntity::Employee(employee());
    poly_encode_one(&mut g, "Employee", employee(), &tagged);
    order("Order-1KB", p.medium.value.clone(), &mut g);
    order("Order-10KB", p.large.value.clone(), &mut g);
    g.finish();
}

// ---------------------------------------------------------------------------
// 3. Hierarchies: #[kafka(base)] against the same fields inline, and against
//    #[serde(flatten)]

/// `Employee`'s wire shape, every field of EntityBase, Person and Employee
/// declared in one struct: the best serde's derive can do.
#[derive(Debug, PartialEq, Serialize, Deserialize)]
struct EmployeeInline {
    id: Uuid,
    created_at: DateTime<Utc>,
    name: String,
    email: String,
    birth_date: NaiveDate,
    address: Address,
    tags: BTreeSet<String>,
    phone: Option<String>,
    employee_no: u32,
    department: Department,
    salary: Decimal,
    manager_id: Option<Uuid>,
    skills: BTreeSet<String>,
}

/// The same three levels with serde's own `#[serde(flatten)]`: what
/// `#[kafka(base)]` replaces.
#[derive(Debug, PartialEq, Serialize, Deserialize)]
struct EntityBaseFlat {
    id: Uuid,
    created_at: DateTime<Utc>,
}

#[derive(Debug, PartialEq, Serialize, Deserialize)]
struct PersonFlat {
    #[serde(flatten)]
    entity: EntityBaseFlat,
    name: String,
    email: String,
    birth_date: NaiveDate,
    address: Address,
    tags: BTreeSet<String>,
    phone: Option<String>,
}

#[derive(Debug, PartialEq, Serialize, Deserialize)]
struct EmployeeFlat {
    #[serde(flatten)]
    person: PersonFlat,
    employee_no: u32,
    department: Department,
    salary: Decimal,
    manager_id: Option<Uuid>,
    skills: BTreeSet<String>,
}

/// Decodes `bytes` as `T` and checks it writes the very same bytes back.
fn same_wire<T: Serialize + DeserializeOwned>(bytes: &[u8]) -> T {
    let value: T = serde_json::from_slice(bytes).unwrap();
    assert_eq!(serde_json::to_vec(&value).unwrap(), bytes);
    value
}

fn hierarchy(c: &mut Criterion) {
    let bytes = serde_json::to_vec(&employee()).unwrap();
    let len = bytes.len();
    println!("hierarchy payload: Employee, {len} JSON bytes");
    let derived: Employee = same_wire(&bytes);
    let inline: EmployeeInline = same_wire(&bytes);
    let flat: EmployeeFlat = same_wire(&bytes);

    let mut g = Group::new(c, "hierarchy/decode");
    let mut de_derived = || serde_json::from_slice::<Employee>(black_box(&bytes)).unwrap();
    let mut de_inline = || serde_json::from_slice::<EmployeeInline>(black_box(&bytes)).unwrap();
    let mut de_flat = || serde_json::from_slice::<EmployeeFlat>(black_box(&bytes)).unwrap();
    g.bench("kafka(base)", "Employee", len, &mut de_derived);
    g.bench("inline", "Employee", len, &mut de_inline);
    g.bench("serde(flatten)", "Employee", len, &mut de_flat);
    g.paired(
        ("kafka(base)", &mut de_derived),
        ("inline", &mut de_inline),
        "Employee",
    );
    g.paired(
        ("serde(flatten)", &mut de_flat),
        ("inline", &mut de_inline),
        "Employee",
    );
    g.finish();

    let mut g = Group::new(c, "hierarchy/encode");
    let mut ser_derived = encoder(|buf| serde_json::to_writer(buf, black_box(&derived)).unwrap());
    let mut ser_inline = encoder(|buf| serde_json::to_writer(buf, black_box(&inline)).unwrap());
    let mut ser_flat = encoder(|buf| serde_json::to_writer(buf, black_box(&flat)).unwrap());
    g.bench("kafka(base)", "Employee", len, &mut ser_derived);
    g.bench("inline", "Employee", len, &mut ser_inline);
    g.bench("serde(flatten)", "Employee", len, &mut ser_flat);
    g.paired(
        ("kafka(base)", &mut ser_derived),
        ("inline", &mut ser_inline),
        "Employee",
    );
    g.paired(
        ("serde(flatten)", &mut ser_flat),
        ("inline", &mut ser_inline),
        "Employee",
    );
    g.finish();
}

// ---------------------------------------------------------------------------
// 4a. MessagePack: the MsgPack codec against rmp-serde, and against JSON
// (with feature `msgpack`: `cargo bench --all-features`)
//
// Each function's throughput counts the bytes of its own format; the ratios
// compare time per message.

#[cfg(feature = "msgpack")]
fn msgpack_encode_one<T: KafkaMessage>(g: &mut Group<'_>, p: &Payload<T>) {
    let v = &p.value;
    let json_len = json_len(v);
    let mp_len = rmp_serde::to_vec_named(v).unwrap().len();
    println!(
        "  {:<5} JSON {json_len:>6} bytes, MessagePack {mp_len:>6} bytes ({:.0}%)",
        p.label,
        percent(mp_len, json_len)
    );
    let mut codec =
        encoder(|buf| KafkaCodec::<T>::encode(&MsgPack::new(), black_box(v), buf).unwrap());
    let mut rmp = encoder(|buf| rmp_serde::encode::write_named(buf, black_box(v)).unwrap());
    let mut json = encoder(|buf| KafkaCodec::<T>::encode(&Json::new(), black_box(v), buf).unwrap());
    g.bench("MsgPack", p.label, mp_len, &mut codec);
    g.bench("rmp_serde::write_named", p.label, mp_len, &mut rmp);
    g.bench("Json", p.label, json_len, &mut json);
    g.paired(
        ("MsgPack", &mut codec),
        ("rmp_serde::write_named", &mut rmp),
        p.label,
    );
    g.paired(("MsgPack", &mut codec), ("Json", &mut json), p.label);
}

#[cfg(feature = "msgpack")]
fn msgpack_decode_one<T: KafkaMessage>(g: &mut Group<'_>, p: &Payload<T>) {
    let json_bytes = serde_json::to_vec(&p.value).unwrap();
    let mp_bytes = rmp_serde::to_vec_named(&p.value).unwrap();
    let mut codec = || KafkaCodec::<T>::decode(&MsgPack::new(), black_box(&mp_bytes)).unwrap();
    let mut rmp = || rmp_serde::from_slice::<T>(black_box(&mp_bytes)).unwrap();
    let mut json = || KafkaCodec::<T>::decode(&Json::new(), black_box(&json_bytes)).unwrap();
    g.bench("MsgPack", p.label, mp_bytes.len(), &mut codec);
    g.bench("rmp_serde::from_slice", p.label, mp_bytes.len(), &mut rmp);
    g.bench("Json", p.label, json_bytes.len(), &mut json);
    g.paired(
        ("MsgPack", &mut codec),
        ("rmp_serde::from_slice", &mut rmp),
        p.label,
    );
    g.paired(("MsgPack", &mut codec), ("Json", &mut json), p.label);
}

#[cfg(feature = "msgpack")]
#[allow(clippy::cast_precision_loss)] // sizes of a few KB
fn percent(part: usize, whole: usize) -> f64 {
    100.0 * part as f64 / whole as f64
}

#[cfg(feature = "msgpack")]
fn msgpack(c: &mut Criterion) {
    let p = payloads();
    println!("encoded sizes:");
    let mut g = Group::new(c, "msgpack/encode");
    msgpack_encode_one(&mut g, &p.small);
    msgpack_encode_one(&mut g, &p.medium);
    msgpack_encode_one(&mut g, &p.large);
    g.finish();
    let mut g = Group::new(c, "msgpack/decode");
    msgpack_decode_one(&mut g, &p.small);
    msgpack_decode_one(&mut g, &p.medium);
    msgpack_decode_one(&mut g, &p.large);
    g.finish();
}

// ---------------------------------------------------------------------------
// 4b. A codec written outside the crate, against plain serde_json

/// JSON behind a one-byte schema version, a common framing for topics that
/// predate record headers. Written as any user would, with the public API only.
#[derive(Debug, Clone, Copy)]
pub struct VersionedJson {
    version: u8,
}

impl VersionedJson {
    const CONTENT_TYPE: &'static str = "application/vnd.example.v+json";

    fn body(self, bytes: &[u8]) -> Result<&[u8], Error> {
        match bytes.split_first() {
            Some((&v, body)) if v == self.version => Ok(body),
            _ => Err(Error::with_payload(
                ErrorKind::Malformed {
                    content_type: Self::CONTENT_TYPE.into(),
                    position: Position::Offset(0),
                    source: format!("expected schema version {}", self.version).into(),
                },
                bytes,
            )),
        }
    }
}

impl<T: Serialize + DeserializeOwned> KafkaCodec<T> for VersionedJson {
    fn content_type(&self) -> &str {
        Self::CONTENT_TYPE
    }

    fn encode(&self, value: &T, buf: &mut Vec<u8>) -> Result<(), Error> {
        self.encode_value(value, buf)
    }

    fn decode(&self, bytes: &[u8]) -> Result<T, Error> {
        self.decode_checked(bytes)
    }

    fn serde_codec(&self, _: &Hints<'_>) -> Option<FastPath<'_>> {
        Some(FastPath::new(self))
    }
}

/// What takes the codec onto the trait-object fast path.
impl SerdeCodec for VersionedJson {
    fn find_tag<'a>(
        &self,
        bytes: &'a [u8],
        tag_key: &'static str,
    ) -> Result<Option<std::borrow::Cow<'a, str>>, Error> {
        Json::new().find_tag(self.body(bytes)?, tag_key)
    }

    fn encode_value<T: Serialize + ?Sized>(
        &self,
        value: &T,
        buf: &mut Vec<u8>,
    ) -> Result<(), Error> {
        buf.push(self.version);
        serde_json::to_writer(buf, value).map_err(|e| Error::encode(Self::CONTENT_TYPE, e))
    }

    fn decode_checked<T: DeserializeOwned>(&self, bytes: &[u8]) -> Result<T, Error> {
        serde_json::from_slice(self.body(bytes)?).map_err(|e| {
            let at = Position::LineColumn {
                line: e.line(),
                column: e.column(),
            };
            Error::malformed(Self::CONTENT_TYPE, at, e, bytes)
        })
    }
}

/// The sample's types behind a trait that names the user codec, so its
/// objects decode on the fast path with it.
#[kafka_codec::polymorphic(codecs(VersionedJson))]
pub trait Framed: std::fmt::Debug {}

#[kafka_codec::polymorphic]
impl Framed for Order {}
#[kafka_codec::polymorphic]
impl Framed for Employee {}

const USER_CODEC: VersionedJson = VersionedJson { version: 3 };

fn user_codec_encode_one<T: KafkaMessage>(g: &mut Group<'_>, p: &Payload<T>) {
    let v = &p.value;
    let len = json_len(v);
    let mut codec = encoder(|buf| USER_CODEC.encode(black_box(v), buf).unwrap());
    let mut serde = encoder(|buf| serde_json::to_writer(buf, black_box(v)).unwrap());
    g.bench("VersionedJson", p.label, len, &mut codec);
    g.bench("serde_json::to_writer", p.label, len, &mut serde);
    g.paired(
        ("VersionedJson", &mut codec),
        ("serde_json::to_writer", &mut serde),
        p.label,
    );
}

fn user_codec_decode_one<T: KafkaMessage>(g: &mut Group<'_>, p: &Payload<T>) {
    let mut framed = Vec::new();
    USER_CODEC.encode(&p.value, &mut framed).unwrap();
    let json = &framed[1..];
    let mut codec = || KafkaCodec::<T>::decode(&USER_CODEC, black_box(&framed)).unwrap();
    let mut serde = || serde_json::from_slice::<T>(black_box(json)).unwrap();
    g.bench("VersionedJson", p.label, json.len(), &mut codec);
    g.bench("serde_json::from_slice", p.label, json.len(), &mut serde);
    g.paired(
        ("VersionedJson", &mut codec),
        ("serde_json::from_slice", &mut serde),
        p.label,
    );
}

/// A trait object through the user codec: on the fast path, through
/// typetag, and the concrete type through the same codec.
fn user_codec_poly_one<T>(g: &mut Group<'_>, label: &'static str, value: T)
where
    T: Framed + KafkaMessage + PartialEq + std::fmt::Debug,
{
    let boxed: Box<dyn Framed> = Box::new(value);
    let mut framed = Vec::new();
    USER_CODEC.encode(&boxed, &mut framed).unwrap();
    let expected = boxed.downcast_ref::<T>().unwrap();
    let via_typetag = KafkaCodec::<Box<dyn Framed>>::decode(&USER_CODEC, &framed).unwrap();
    let via_fast_path = <Box<dyn Framed>>::decode_with(&USER_CODEC, &framed, &Hints::NONE).unwrap();
    assert_eq!(via_typetag.downcast_ref::<T>(), Some(expected));
    assert_eq!(via_fast_path.downcast_ref::<T>(), Some(expected));
    assert_eq!(
        &KafkaCodec::<T>::decode(&USER_CODEC, &framed).unwrap(),
        expected
    );

    let mut typetag =
        || KafkaCodec::<Box<dyn Framed>>::decode(&USER_CODEC, black_box(&framed)).unwrap();
    let mut fast_path =
        || <Box<dyn Framed>>::decode_with(&USER_CODEC, black_box(&framed), &Hints::NONE).unwrap();
    let mut concrete = || KafkaCodec::<T>::decode(&USER_CODEC, black_box(&framed)).unwrap();
    three_ways(
        g,
        label,
        framed.len(),
        &mut typetag,
        &mut fast_path,
        &mut concrete,
    );
}

fn user_codec(c: &mut Criterion) {
    let p = payloads();
    let mut g = Group::new(c, "user_codec/encode");
    user_codec_encode_one(&mut g, &p.small);
    user_codec_encode_one(&mut g, &p.medium);
    user_codec_encode_one(&mut g, &p.large);
    g.finish();
    let mut g = Group::new(c, "user_codec/decode");
    user_codec_decode_one(&mut g, &p.small);
    user_codec_decode_one(&mut g, &p.medium);
    user_codec_decode_one(&mut g, &p.large);
    g.finish();
    let mut g = Group::new(c, "user_codec/poly_decode");
    user_codec_poly_one(&mut g, "Employee", employee());
    user_codec_poly_one(&mut g, "Order-1KB", p.medium.value.clone());
    user_codec_poly_one(&mut g, "Order-10KB", p.large.value.clone());
    g.finish();
}

// ---------------------------------------------------------------------------
// 5. Schema evolution: a versioned type decoding current and old records,
//    against the same type without a version

/// Where a payment stands (version 3 had `captured: bool` instead).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum PaymentStatus {
    Authorized,
    Captured,
}

/// A card payment, ~350 B of JSON, without a version: the baseline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, KafkaMessage)]
#[kafka(name = "Payment")]
struct PaymentUnversioned {
    id: Uuid,
    order_id: Uuid,
    created_at: DateTime<Utc>,
    amount_cents: i64,
    currency: String,
    method: String,
    card_brand: String,
    card_last4: String,
    customer_email: String,
    status: PaymentStatus,
    attempts: u32,
    risk_score: f64,
}

/// The same fields at version 4. Version 1 called `amount_cents` `amount`,
/// version 2 had no `attempts`, version 3 had `captured` for `status`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, KafkaMessage)]
#[kafka(version = 4)]
#[kafka(upcast(from = 1, value = rename_amount))]
#[kafka(upcast(from = 2, value = add_attempts))]
#[kafka(upcast(from = 3, typed = PaymentV3))]
struct Payment {
    id: Uuid,
    order_id: Uuid,
    created_at: DateTime<Utc>,
    amount_cents: i64,
    currency: String,
    method: String,
    card_brand: String,
    card_last4: String,
    customer_email: String,
    status: PaymentStatus,
    attempts: u32,
    risk_score: f64,
}

/// Version 3 as it was written.
#[derive(Debug, Serialize, Deserialize)]
struct PaymentV3 {
    id: Uuid,
    order_id: Uuid,
    created_at: DateTime<Utc>,
    amount_cents: i64,
    currency: String,
    method: String,
    card_brand: String,
    card_last4: String,
    customer_email: String,
    captured: bool,
    attempts: u32,
    risk_score: f64,
}

fn rename_amount(mut v: serde_json::Value) -> Result<serde_json::Value, &'static str> {
    let map = v.as_object_mut().ok_or("not a map")?;
    let amount = map.remove("amount").ok_or("no `amount`")?;
    map.insert("amount_cents".into(), amount);
    Ok(v)
}

fn add_attempts(mut v: serde_json::Value) -> serde_json::Value {
    v["attempts"] = 1.into();
    v
}

impl From<PaymentV3> for Payment {
    fn from(v3: PaymentV3) -> Self {
        Payment {
            id: v3.id,
            order_id: v3.order_id,
            created_at: v3.created_at,
            amount_cents: v3.amount_cents,
            currency: v3.currency,
            method: v3.method,
            card_brand: v3.card_brand,
            card_last4: v3.card_last4,
            customer_email: v3.customer_email,
            status: if v3.captured {
                PaymentStatus::Captured
            } else {
                PaymentStatus::Authorized
            },
            attempts: v3.attempts,
            risk_score: v3.risk_score,
        }
    }
}

/// Today's payment, and the records versions 4, 3 and 1 wrote of it.
fn payment_records() -> (Payment, [Vec<u8>; 3]) {
    let payment = Payment {
        id: Uuid::from_u128(0x0193_2c4e_7a1b_7c3d_9e8f_a0b1_c2d3_e4f5),
        order_id: Uuid::from_u128(0x0193_2c4e_6f00_7abc_8def_0123_4567_89ab),
        created_at: DateTime::from_timestamp_millis(1_732_000_000_123).unwrap(),
        amount_cents: 12_999,
        currency: "EUR".into(),
        method: "card".into(),
        card_brand: "visa".into(),
        card_last4: "4242".into(),
        customer_email: "ada.lovelace@example.com".into(),
        status: PaymentStatus::Captured,
        attempts: 1,
        risk_score: 0.137,
    };
    let v4 = serde_json::to_vec(&payment).unwrap();
    let mut tree = serde_json::to_value(&payment).unwrap();
    let map = tree.as_object_mut().unwrap();
    map.remove("status");
    map.insert("captured".into(), true.into());
    // Through the struct, so the fields are in the order its writer had.
    let v3: PaymentV3 = serde_json::from_value(tree.clone()).unwrap();
    let v3 = serde_json::to_vec(&v3).unwrap();
    let map = tree.as_object_mut().unwrap();
    map.remove("attempts");
    let amount = map.remove("amount_cents").unwrap();
    map.insert("amount".into(), amount);
    let v1 = serde_json::to_vec(&tree).unwrap();
    (payment, [v4, v3, v1])
}

fn evolution(c: &mut Criterion) {
    let (payment, [v4, v3, v1]) = payment_records();
    println!(
        "evolution payload: Payment, JSON bytes v4 {}, v3 {}, v1 {}",
        v4.len(),
        v3.len(),
        v1.len()
    );
    let json = Json::new();
    let decode = |bytes: &[u8], version| {
        Payment::decode_with(&json, bytes, &Hints::record(None, None, version)).unwrap()
    };
    // All four read the same payment.
    for (bytes, version) in [(&v4, "4"), (&v3, "3"), (&v1, "1")] {
        assert_eq!(decode(bytes, Some(version)), payment, "version {version}");
    }
    let plain = PaymentUnversioned::decode_with(&json, &v4, &Hints::record(None, None, None));
    assert_eq!(serde_json::to_vec(&plain.unwrap()).unwrap(), v4);

    let mut unversioned = || {
        PaymentUnversioned::decode_with(&json, black_box(&v4), &Hints::record(None, None, None))
            .unwrap()
    };
    let mut current = || decode(black_box(&v4), Some("4"));
    let mut one_step = || decode(black_box(&v3), Some("3"));
    let mut three_steps = || decode(black_box(&v1), Some("1"));
    let mut g = Group::new(c, "evolution/decode");
    g.bench("unversioned", "Payment", v4.len(), &mut unversioned);
    g.bench("current", "Payment", v4.len(), &mut current);
    g.bench("one_step", "Payment", v3.len(), &mut one_step);
    g.bench("three_steps", "Payment", v1.len(), &mut three_steps);
    let baseline = "unversioned";
    g.paired(
        ("current", &mut current),
        (baseline, &mut unversioned),
        "Payment",
    );
    g.paired(
        ("one_step", &mut one_step),
        (baseline, &mut unversioned),
        "Payment",
    );
    g.paired(
        ("three_steps", &mut three_steps),
        (baseline, &mut unversioned),
        "Payment",
    );
    g.finish();
}

#[cfg(feature = "msgpack")]
criterion_group! {
    name = benches;
    config = config();
    targets = json_encode, json_decode, poly_decode, poly_encode, hierarchy, msgpack, user_codec,
        evolution
}

#[cfg(not(feature = "msgpack"))]
criterion_group! {
    name = benches;
    config = config();
    targets = json_encode, json_decode, poly_decode, poly_encode, hierarchy, user_codec, evolution
}

// ---------------------------------------------------------------------------
// The ratio table

/// A ratio to report: `framework` against `baseline`, in `group`, for every
/// payload both were measured on.
struct Pair {
    group: &'static str,
    framework: &'static str,
    baseline: &'static str,
    /// The ratio the crate promises, if any; the rest are context.
    target: Option<f64>,
}

const fn pair(
    group: &'static str,
    framework: &'static str,
    baseline: &'static str,
    target: Option<f64>,
) -> Pair {
    Pair {
        group,
        framework,
        baseline,
        target,
    }
}

const PAIRS: &[Pair] = &[
    pair("json/encode", "Json", "serde_json::to_writer", Some(0.95)),
    pair("json/encode", "to_bytes", "serde_json::to_vec", Some(0.95)),
    pair("json/decode", "Json", "serde_json::from_slice", Some(0.95)),
    pair(
        "json/decode",
        "from_bytes",
        "serde_json::from_slice",
        Some(0.95),
    ),
    pair("poly/decode", "fast_path", "concrete", Some(0.8)),
    pair("poly/decode", "typetag", "concrete", None),
    pair("poly/decode", "fast_path", "typetag", None),
    pair("poly/encode", "fast_path", "tagged_enum", Some(0.95)),
    pair("poly/encode", "typetag", "tagged_enum", None),
    pair("poly/encode", "fast_path", "typetag", None),
    pair("poly/encode", "fast_path", "concrete", None),
    pair("hierarchy/decode", "kafka(base)", "inline", Some(0.9)),
    pair("hierarchy/decode", "serde(flatten)", "inline", None),
    pair("hierarchy/encode", "kafka(base)", "inline", Some(0.9)),
    pair("hierarchy/encode", "serde(flatten)", "inline", None),
    pair(
        "msgpack/encode",
        "MsgPack",
        "rmp_serde::write_named",
        Some(0.95),
    ),
    pair("msgpack/encode", "MsgPack", "Json", None),
    pair(
        "msgpack/decode",
        "MsgPack",
        "rmp_serde::from_slice",
        Some(0.95),
    ),
    pair("msgpack/decode", "MsgPack", "Json", None),
    pair(
        "user_codec/encode",
        "VersionedJson",
        "serde_json::to_writer",
        Some(0.95),
    ),
    pair(
        "user_codec/decode",
        "VersionedJson",
        "serde_json::from_slice",
        Some(0.95),
    ),
    pair("user_codec/poly_decode", "fast_path", "concrete", Some(0.9)),
    pair("user_codec/poly_decode", "typetag", "concrete", None),
    pair("evolution/decode", "current", "unversioned", Some(0.95)),
    pair("evolution/decode", "one_step", "unversioned", None),
    pair("evolution/decode", "three_steps", "unversioned", None),
];

/// Where criterion writes its results, found the way criterion finds it:
/// the bench writes its `ratios.csv` beside them.
fn criterion_home() -> PathBuf {
    if let Some(home) = std::env::var_os("CRITERION_HOME") {
        return home.into();
    }
    if let Some(target) = std::env::var_os("CARGO_TARGET_DIR") {
        return PathBuf::from(target).join("criterion");
    }
    // The bench runs as <target>/<profile>/deps/codec-<hash>.
    std::env::current_exe()
        .ok()
        .and_then(|exe| exe.ancestors().nth(3).map(|t| t.join("criterion")))
        .unwrap_or_else(|| PathBuf::from("target/criterion"))
}

fn fmt_time(ns: f64) -> String {
    if ns >= 1e6 {
        format!("{:.2} ms", ns / 1e6)
    } else if ns >= 1e3 {
        format!("{:.2} µs", ns / 1e3)
    } else {
        format!("{ns:.1} ns")
    }
}

const PAYLOAD_ORDER: &[&str] = &[
    "100B",
    "Order-0",
    "Payment",
    "Employee",
    "1KB",
    "Order-1KB",
    "10KB",
    "Order-10KB",
];

/// Prints the ratio of every pair measured in this run, and writes them as
/// CSV into the criterion home.
fn report_ratios() {
    let paired = PAIRED
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let means = MEANS
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let mut csv = String::from(
        "group,framework,baseline,payload,framework_ns,baseline_ns,ratio_criterion,ratio_paired,target\n",
    );
    let mut table = String::new();
    for pair in PAIRS {
        for &payload in PAYLOAD_ORDER {
            let mean = |f: &str| {
                means
                    .get(&(pair.group, f.to_owned(), payload.to_owned()))
                    .copied()
            };
            let (Some(fw), Some(base)) = (mean(pair.framework), mean(pair.baseline)) else {
                continue;
            };
            let ratio = base / fw;
            let key = (
                pair.group,
                pair.framework,
                pair.baseline,
                payload.to_owned(),
            );
            let paired_ratio = paired.get(&key).copied();
            let verdict = match (pair.target, paired_ratio.unwrap_or(ratio)) {
                (Some(t), r) if r >= t => format!(">= {t:.2} ok"),
                (Some(t), _) => format!(">= {t:.2} MISSED"),
                (None, _) => String::new(),
            };
            let shown = paired_ratio.map_or_else(|| "-".to_owned(), |r| format!("{r:.2}"));
            let _ = writeln!(
                table,
                "{:<18} {:<15} {:<23} {:<10} {:>10} {:>10} {:>6.2} {:>6}  {verdict}",
                pair.group,
                pair.framework,
                pair.baseline,
                payload,
                fmt_time(fw),
                fmt_time(base),
                ratio,
                shown
            );
            let _ = writeln!(
                csv,
                "{},{},{},{payload},{fw:.1},{base:.1},{ratio:.4},{},{}",
                pair.group,
                pair.framework,
                pair.baseline,
                paired_ratio.map_or_else(String::new, |r| format!("{r:.4}")),
                pair.target.map_or_else(String::new, |t| t.to_string())
            );
        }
    }
    if table.is_empty() {
        // `--test`, `--list`, or a filter that left no pair whole.
        return;
    }
    println!();
    println!("Ratios: framework throughput / baseline throughput = baseline time / framework time");
    println!(
        "  criterion: from the mean estimates; paired: median of interleaved batches (verdict)"
    );
    println!(
        "{:<18} {:<15} {:<23} {:<10} {:>10} {:>10} {:>6} {:>6}  target",
        "group", "framework", "baseline", "payload", "framework", "baseline", "crit.", "paired"
    );
    print!("{table}");
    let out = criterion_home().join("ratios.csv");
    match std::fs::write(&out, csv) {
        Ok(()) => println!("(also written to {})", out.display()),
        Err(e) => eprintln!("could not write {}: {e}", out.display()),
    }
}

fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
    report_ratios();
}
