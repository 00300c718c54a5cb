//! Progress for the examples: a live line while they run, drawn only when
//! stdout is a terminal (a pipe or a CI log gets nothing extra), and a
//! summary table per member at the end.
//!
//! Each example includes it with `#[path = "support/progress.rs"] mod
//! progress;` and uses the part it needs.
#![allow(dead_code, unreachable_pub)]

use std::collections::BTreeMap;
use std::fmt::{self, Write as _};
use std::io::{IsTerminal as _, Write as _};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::{Duration, Instant};

use kafka_codec::kafka::{Record, Report};
use kafka_codec::RecordMeta;
use rdkafka::consumer::{BaseConsumer, Consumer as _};
use rdkafka::error::KafkaError;
use rdkafka::{ClientConfig, Offset, TopicPartitionList};

/// How often the live line is redrawn.
const TICK: Duration = Duration::from_millis(250);
/// The live line's records/s: records over the last this long.
const WINDOW: Duration = Duration::from_secs(1);
/// The lag is not known.
const NO_LAG: u64 = u64::MAX;

/// What one run did, counted per member (the producer, or each member of a
/// consumer group), with a live line drawn from the counts. Cheap to clone.
#[derive(Clone)]
pub struct Progress(Arc<Shared>);

struct Shared {
    /// What is counted: "sent", "handled".
    verb: &'static str,
    /// The records expected, when known.
    expected: Option<u64>,
    members: Vec<Member>,
    total: AtomicU64,
    lag: AtomicU64,
    started: Instant,
    /// Set by `finish`: the live line is gone.
    elapsed: OnceLock<Duration>,
    live: bool,
    /// Samples (time, total) of the last `WINDOW`, for the records/s.
    samples: Mutex<Vec<(Instant, u64)>>,
}

#[derive(Default)]
struct Member {
    records: AtomicU64,
    bytes: AtomicU64,
    errors: AtomicU64,
    /// The next offset of each partition this member handled records of.
    positions: Mutex<BTreeMap<i32, i64>>,
}

impl Progress {
    /// Starts counting for `members` members; `verb` says what is counted
    /// and `expected` how many records, when known. On a terminal, a task
    /// redraws the live line a few times a second until [`finish`](Self::finish).
    pub fn start(verb: &'static str, expected: Option<u64>, members: usize) -> Self {
        let started = Instant::now();
        let shared = Arc::new(Shared {
            verb,
            expected,
            members: (0..members).map(|_| Member::default()).collect(),
            total: AtomicU64::new(0),
            lag: AtomicU64::new(NO_LAG),
            started,
            elapsed: OnceLock::new(),
            live: std::io::stdout().is_terminal(),
            samples: Mutex::new(vec![(started, 0)]),
        });
        if shared.live {
            let shared = Arc::downgrade(&shared);
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(TICK);
                loop {
                    tick.tick().await;
                    match shared.upgrade() {
                        Some(shared) if shared.elapsed.get().is_none() => Progress(shared).redraw(),
                        _ => break,
                    }
                }
            });
        }
        Progress(shared)
    }

    /// Counts a record `member` sent, of `bytes` bytes.
    pub fn sent(&self, member: usize, bytes: usize) {
        let m = &self.0.members[member];
        m.bytes.fetch_add(bytes as u64, Ordering::Relaxed);
        m.records.fetch_add(1, Ordering::Relaxed);
        self.0.total.fetch_add(1, Ordering::SeqCst);
    }

    /// Counts a record `member` handled; returns the records handled by
    /// all members so far, this one included.
    pub fn handled<T>(&self, member: usize, record: &Record<T>) -> u64 {
        self.handled_at(member, record.meta())
    }

    /// [`handled`](Self::handled) from a record's metadata.
    pub fn handled_at(&self, member: usize, record: &RecordMeta) -> u64 {
        let m = &self.0.members[member % self.0.members.len()];
        let mut positions = m.positions.lock().unwrap();
        let next = positions.entry(record.partition).or_default();
        *next = (*next).max(record.offset + 1);
        drop(positions);
        m.records.fetch_add(1, Ordering::Relaxed);
        self.0.total.fetch_add(1, Ordering::SeqCst) + 1
    }

    /// Counts an error of `member`.
    pub fn failed(&self, member: usize) {
        self.0.members[member]
            .errors
            .fetch_add(1, Ordering::Relaxed);
    }

    /// Sets the consumer lag the live line shows.
    pub fn set_lag(&self, lag: u64) {
        self.0.lag.store(lag, Ordering::Relaxed);
    }

    /// Prints a line above the live line.
    pub fn println(&self, line: fmt::Arguments<'_>) {
        let mut out = std::io::stdout().lock();
        // As println!, but a closed pipe does not panic.
        let _ = if self.is_live() {
            write!(out, "\r\x1b[K{line}\n{}", self.status(self.rate()))
        } else {
            writeln!(out, "{line}")
        };
        let _ = out.flush();
    }

    /// Removes the live line and stops the clock; returns how long the run
    /// took.
    pub fn finish(&self) -> Duration {
        let mut out = std::io::stdout().lock();
        if self.is_live() {
            let _ = write!(out, "\r\x1b[K");
            let _ = out.flush();
        }
        *self.0.elapsed.get_or_init(|| self.0.started.elapsed())
    }

    /// On a terminal, keeps the live line's lag up to date for `group`
    /// reading `topic`: the sum over its partitions of the high watermark
    /// less where the group is (its committed offset, or past the last
    /// record handled here when that is further). A client of its own (it
    /// never joins the group) asks the broker once a second, on a thread.
    pub fn watch_lag(&self, brokers: &str, group: &str, topic: &str) -> Result<(), KafkaError> {
        if !self.0.live {
            return Ok(());
        }
        let client: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", brokers)
            .set("group.id", group)
            .create()?;
        let (shared, topic) = (Arc::downgrade(&self.0), topic.to_owned());
        std::thread::spawn(move || {
            while let Some(progress) = upgrade(&shared) {
                if let Some(lag) = group_lag(&client, &topic, &progress.positions()) {
                    progress.set_lag(lag);
                }
                drop(progress);
                std::thread::sleep(Duration::from_secs(1));
            }
        });
        Ok(())
    }

    /// The producer's summary: records, bytes, records/s, errors.
    pub fn producer_table(&self) {
        let secs = self.finish().as_secs_f64();
        println!("producer, {secs:.2}s:");
        let rows: Vec<Vec<String>> = (self.0.members.iter().enumerate())
            .map(|(i, m)| {
                let records = m.records.load(Ordering::Relaxed);
                vec![
                    i.to_string(),
                    records.to_string(),
                    bytes(m.bytes.load(Ordering::Relaxed)),
                    per_second(records, secs),
                    m.errors.load(Ordering::Relaxed).to_string(),
                ]
            })
            .collect();
        table(
            &["producer", "records", "bytes", "records/s", "errors"],
            &rows,
        );
    }

    /// A consumer group's summary, one row per member: records handled,
    /// the partitions they came from, records/s; then the run's totals and
    /// the errors that stopped members (printed in full below the table).
    pub fn group_table(&self, report: &Report) {
        let secs = self.finish().as_secs_f64();
        println!(
            "consumer group, {} members, {secs:.2}s:",
            self.0.members.len()
        );
        let mut rows: Vec<Vec<String>> = (self.0.members.iter().enumerate())
            .map(|(i, member)| {
                let records = member.records.load(Ordering::Relaxed);
                vec![
                    i.to_string(),
                    records.to_string(),
                    member.partitions(),
                    per_second(records, secs),
                ]
            })
            .collect();
        let totals = report.totals();
        if rows.len() > 1 {
            rows.push(vec![
                "all".into(),
                totals.handled.to_string(),
                joined(self.positions().keys()),
                per_second(totals.handled, secs),
            ]);
        }
        table(&["member", "records", "partitions", "records/s"], &rows);
        println!(
            "skipped {}, dead-lettered {}, retried {}, errors {}",
            totals.skipped,
            totals.dead_lettered,
            totals.retried,
            report.errors.len()
        );
        for error in &report.errors {
            println!("stopped: {error}");
        }
    }

    fn is_live(&self) -> bool {
        self.0.live && self.0.elapsed.get().is_none()
    }

    /// Redraws the live line, with the records/s of the last `WINDOW`.
    fn redraw(&self) {
        let rate = self.rate();
        let mut out = std::io::stdout().lock();
        if self.is_live() {
            let _ = write!(out, "\r\x1b[K{}", self.status(rate));
            let _ = out.flush();
        }
    }

    /// Records/s over the last `WINDOW`.
    fn rate(&self) -> String {
        let (now, total) = (Instant::now(), self.0.total.load(Ordering::SeqCst));
        let mut samples = self.0.samples.lock().unwrap();
        // Keeps the last sample older than WINDOW, so there is always one.
        let fresh = (samples.iter())
            .position(|(at, _)| now.duration_since(*at) < WINDOW)
            .unwrap_or(samples.len());
        samples.drain(..fresh.saturating_sub(1));
        // println (a line per record) samples at most twice a tick.
        if samples
            .last()
            .is_some_and(|(at, _)| now.duration_since(*at) >= TICK / 2)
        {
            samples.push((now, total));
        }
        let (since, then) = samples[0];
        per_second(total - then, now.duration_since(since).as_secs_f64())
    }

    /// The live line: records so far (of how many), records/s, bytes, lag,
    /// errors, time.
    fn status(&self, rate: String) -> String {
        let s = &self.0;
        let mut line = format!("{} {}", s.verb, s.total.load(Ordering::SeqCst));
        if let Some(expected) = s.expected {
            let _ = write!(line, "/{expected}");
        }
        let _ = write!(line, " records  {rate}/s");
        let sum = |field: fn(&Member) -> &AtomicU64| -> u64 {
            s.members
                .iter()
                .map(|m| field(m).load(Ordering::Relaxed))
                .sum()
        };
        let sent = sum(|m| &m.bytes);
        if sent > 0 {
            let _ = write!(line, "  {}", bytes(sent));
        }
        let lag = s.lag.load(Ordering::Relaxed);
        if lag != NO_LAG {
            let _ = write!(line, "  lag {lag}");
        }
        let errors = sum(|m| &m.errors);
        if errors > 0 {
            let _ = write!(line, "  errors {errors}");
        }
        let _ = write!(line, "  {:.1}s", s.started.elapsed().as_secs_f64());
        line
    }

    /// The next offset of each partition handled, over all members.
    fn positions(&self) -> BTreeMap<i32, i64> {
        let mut all = BTreeMap::new();
        for m in &self.0.members {
            for (&partition, &next) in m.positions.lock().unwrap().iter() {
                let at: &mut i64 = all.entry(partition).or_default();
                *at = (*at).max(next);
            }
        }
        all
    }
}

impl Member {
    fn partitions(&self) -> String {
        joined(self.positions.lock().unwrap().keys())
    }
}

/// Partitions as `0,2,3`, or `-` for none.
fn joined<'a>(partitions: impl Iterator<Item = &'a i32>) -> String {
    let partitions: Vec<String> = partitions.map(i32::to_string).collect();
    if partitions.is_empty() {
        "-".to_owned()
    } else {
        partitions.join(",")
    }
}

impl Drop for Shared {
    /// A run that stopped early (an error) leaves no half line behind.
    fn drop(&mut self) {
        if self.live && self.elapsed.get().is_none() {
            let mut out = std::io::stdout().lock();
            let _ = write!(out, "\r\x1b[K");
            let _ = out.flush();
        }
    }
}

/// The run, while it is not finished.
fn upgrade(shared: &Weak<Shared>) -> Option<Progress> {
    let shared = shared.upgrade()?;
    shared.elapsed.get().is_none().then_some(Progress(shared))
}

/// The group's lag on `topic` (see [`Progress::watch_lag`]), or `None` when
/// the broker does not say.
fn group_lag(client: &BaseConsumer, topic: &str, handled: &BTreeMap<i32, i64>) -> Option<u64> {
    const TIMEOUT: Duration = Duration::from_secs(1);
    let metadata = client.fetch_metadata(Some(topic), TIMEOUT).ok()?;
    let partitions = metadata.topics().first().filter(|t| t.error().is_none())?;
    let mut list = TopicPartitionList::new();
    for p in partitions.partitions() {
        list.add_partition(topic, p.id());
    }
    let committed = client.committed_offsets(list, TIMEOUT).ok()?;
    let mut lag = 0;
    for p in committed.elements() {
        let (low, high) = client
            .fetch_watermarks(topic, p.partition(), TIMEOUT)
            .ok()?;
        let committed = match p.offset() {
            Offset::Offset(at) => at,
            // No commit yet: the group starts from the earliest offset.
            _ => low,
        };
        let at = committed.max(handled.get(&p.partition()).copied().unwrap_or(low));
        lag += u64::try_from(high - at).unwrap_or(0);
    }
    Some(lag)
}

#[allow(clippy::cast_precision_loss)] // a rate for people to read
fn per_second(records: u64, secs: f64) -> String {
    let rate = if secs > 0.0 {
        records as f64 / secs
    } else {
        0.0
    };
    format!("{rate:.0}")
}

#[allow(clippy::cast_precision_loss)] // a size for people to read
fn bytes(n: u64) -> String {
    match n {
        0..1024 => format!("{n} B"),
        1024..1_048_576 => format!("{:.1} KiB", n as f64 / 1024.0),
        _ => format!("{:.1} MiB", n as f64 / 1_048_576.0),
    }
}

/// Prints a table, columns right-aligned, with a rule under the head.
fn table(head: &[&str], rows: &[Vec<String>]) {
    let head: Vec<String> = head.iter().map(|h| (*h).to_owned()).collect();
    let widths: Vec<usize> = (0..head.len())
        .map(|c| {
            rows.iter()
                .map(|r| r[c].len())
                .fold(head[c].len(), usize::max)
        })
        .collect();
    let rule: Vec<String> = widths.iter().map(|w| "-".repeat(*w)).collect();
    for row in [&head, &rule].into_iter().chain(rows) {
        let cells: Vec<String> = (row.iter().zip(&widths))
            .map(|(cell, w)| format!("{cell:>w$}"))
            .collect();
        println!("  {}", cells.join("  "));
    }
}
