//! Metrics through the [`metrics`](https://docs.rs/metrics) facade (feature
//! `metrics`). The crate only records: the application installs a recorder
//! (an exporter such as `metrics-exporter-prometheus`), as libraries should.
//! Without the feature every function here is an empty inline one, and
//! without a recorder the facade drops everything.
//!
//! # Names
//!
//! The names follow the OpenTelemetry
//! [messaging metrics](https://opentelemetry.io/docs/specs/semconv/messaging/messaging-metrics/)
//! where they exist; the others are this crate's, under `kafka_codec.`.
//! Exporters rewrite them in their own style: the Prometheus exporter turns
//! dots into underscores, and with its recommended naming adds `_total` to
//! counters and the unit to the duration (`messaging_process_duration_seconds`).
//!
//! | name | Prometheus (recommended naming) | kind | unit | what | labels |
//! |---|---|---|---|---|---|
//! | `messaging.client.sent.messages` | `messaging_client_sent_messages_total` | counter | records | records a [`Producer`](super::Producer) sent (acknowledged by the broker, or failed for good: then with `error.type`), dead letters included | S, D, O=`send`, E |
//! | `messaging.client.consumed.messages` | `messaging_client_consumed_messages_total` | counter | records | records a consumer took from Kafka, before decoding (records that do not decode included) | S, D, P, G, O=`poll` |
//! | `messaging.process.duration` | `messaging_process_duration_seconds` | histogram | seconds | how long a run loop took over a record (decoding, the handler with its retries, the failure policy) or over a [`Batch`](super::Batch) | S, D, G, O=`process`, E |
//! | `kafka_codec.decode.failures` | `kafka_codec_decode_failures_total` | counter | records | records that did not decode, by error kind (`error.type`: `malformed`, `unknown_type`, `content_type_mismatch`, ...), whatever the poison recovery then did | S, D, G, E |
//! | `kafka_codec.process.retries` | `kafka_codec_process_retries_total` | counter | attempts | handler failures that are tried again under the [`FailurePolicy`](super::FailurePolicy) | S, D, G |
//! | `kafka_codec.dead_letters` | `kafka_codec_dead_letters_total` | counter | records | records written to a dead-letter topic (poison records and handlers that failed for good) | S, D, G, `kafka_codec.dead_letter.topic` |
//! | `kafka_codec.consumer.lag` | `kafka_codec_consumer_lag` | gauge | records | consumer lag of a partition assigned to a consumer of this process: see below | S, D, P, G |
//!
//! Labels (OpenTelemetry attribute names):
//!
//! * S: `messaging.system` = `kafka`;
//! * D: `messaging.destination.name`, the topic (for dead letters: the
//!   topic the record came from; the dead-letter topic is in
//!   `kafka_codec.dead_letter.topic`);
//! * P: `messaging.destination.partition.id`;
//! * G: `messaging.consumer.group.name`;
//! * O: `messaging.operation.name`;
//! * E: `error.type`, only on failures: the [`ErrorKind`] name
//!   (`kafka`, `handler`, `malformed`, ...).
//!
//! A Prometheus exporter renders histograms as summaries unless given
//! buckets; the OpenTelemetry advice for `messaging.process.duration` is
//! `[0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10]`
//! seconds (`examples/metrics.rs` sets them; the exporter's `Matcher` sees
//! the name with underscores and no unit suffix:
//! `Matcher::Full("messaging_process_duration".into())`).
//!
//! # Consumer lag
//!
//! `kafka_codec.consumer.lag` is librdkafka's `consumer_lag` from its
//! [statistics](https://github.com/confluentinc/librdkafka/blob/master/STATISTICS.md):
//! the partition's high watermark (the last stable offset under
//! `isolation.level=read_committed`) less the group's **committed** offset,
//! the figure `kafka-consumer-groups --describe` shows. It moves when
//! offsets are committed (`auto.commit.interval.ms`, 5 s by default) and is
//! sampled every `statistics.interval.ms`.
//!
//! * librdkafka emits statistics only when `statistics.interval.ms` is set.
//!   With the feature `metrics` a consumer that does not set it gets
//!   5000 ms; set it with [`ConsumerBuilder::set`](super::ConsumerBuilder::set)
//!   to sample more or less often (`"0"` turns statistics, and so the lag,
//!   off).
//! * A partition is reported while it is assigned to the consumer and both
//!   offsets are known: nothing before the group's first commit on it, nor
//!   before the first fetch brought its high watermark.
//! * The members of a [`Group`](super::Group) write the same series: a
//!   partition has one owner at a time. A partition that leaves this process
//!   keeps its last value (the facade cannot remove a series); an exporter's
//!   idle timeout for gauges removes it (for Prometheus:
//!   `PrometheusBuilder::idle_timeout(MetricKindMask::GAUGE, Some(..))`,
//!   longer than the statistics interval).
//!
//! # Cost
//!
//! The hot paths (a record sent, consumed or processed) keep the facade's
//! handles in a per-thread table keyed by borrowed topic and group names:
//! after a series' first record no label is built and nothing is
//! allocated. The table is rebuilt when the thread's recorder changes (one
//! installed late, or a local recorder in a test). With the Prometheus
//! recorder (release build, one thread) a consumed record costs about
//! 35 ns, a sent one 25 ns, a processed one 100 ns (45 of them the
//! exporter's histogram), where the `counter!` macro with the same labels
//! takes 550 ns. A record a run loop handles is counted as consumed with
//! its process duration, once it is processed: one look at the table per
//! record. The statistics are parsed for the lag alone, once per
//! interval.
//!
//! [`ErrorKind`]: crate::ErrorKind

#[cfg(feature = "metrics")]
pub(crate) use on::*;

#[cfg(not(feature = "metrics"))]
pub(crate) use off::*;

/// `messaging.client.sent.messages`.
pub const SENT: &str = "messaging.client.sent.messages";
/// `messaging.client.consumed.messages`.
pub const CONSUMED: &str = "messaging.client.consumed.messages";
/// `messaging.process.duration`.
pub const PROCESS_DURATION: &str = "messaging.process.duration";
/// `kafka_codec.decode.failures`.
pub const DECODE_FAILURES: &str = "kafka_codec.decode.failures";
/// `kafka_codec.process.retries`.
pub const RETRIES: &str = "kafka_codec.process.retries";
/// `kafka_codec.dead_letters`.
pub const DEAD_LETTERS: &str = "kafka_codec.dead_letters";
/// `kafka_codec.consumer.lag`.
pub const CONSUMER_LAG: &str = "kafka_codec.consumer.lag";

/// The `statistics.interval.ms` a consumer gets with the feature `metrics`
/// when it sets none.
#[allow(dead_code)]
pub(crate) const DEFAULT_STATISTICS_INTERVAL_MS: &str = "5000";

#[cfg(not(feature = "metrics"))]
mod off {
    use std::time::Duration;

    /// A record was sent to `topic` (`error_type`: why it failed, if it did).
    #[inline]
    pub(crate) fn sent(topic: &str, error_type: Option<&str>) {
        let _ = (topic, error_type);
    }

    /// A record of `topic`/`partition` was handed out by a consumer of `group`.
    #[inline]
    pub(crate) fn consumed(topic: &str, partition: i32, group: &str) {
        let _ = (topic, partition, group);
    }

    /// A handler processed a record (or a batch) of `topic` in `duration`
    /// (`error_type`: why it failed for good, if it did).
    #[inline]
    pub(crate) fn processed(
        topic: &str,
        group: &str,
        duration: Duration,
        error_type: Option<&str>,
    ) {
        let _ = (topic, group, duration, error_type);
    }

    /// [`consumed`] and [`processed`] of one record, together.
    #[inline]
    pub(crate) fn consumed_and_processed(
        topic: &str,
        partition: i32,
        group: &str,
        duration: Duration,
        error_type: Option<&str>,
    ) {
        let _ = (topic, partition, group, duration, error_type);
    }

    /// A record of `topic` could not be decoded (`kind`: the error kind's name).
    #[inline]
    pub(crate) fn decode_failed(topic: &str, group: &str, kind: &str) {
        let _ = (topic, group, kind);
    }

    /// A handler failed on a record of `topic` and is tried again.
    #[inline]
    pub(crate) fn retried(topic: &str, group: &str) {
        let _ = (topic, group);
    }

    /// A record of `topic` went to the dead-letter topic `dlq`.
    #[inline]
    pub(crate) fn dead_lettered(topic: &str, group: &str, dlq: &str) {
        let _ = (topic, group, dlq);
    }

    /// Whether a processing time is wanted (a recorder may be listening).
    #[inline]
    pub(crate) fn timing() -> bool {
        false
    }

    /// Sets the defaults a consumer configuration needs for metrics: none
    /// without the feature.
    #[inline]
    pub(crate) fn configure(config: &mut rdkafka::ClientConfig) {
        let _ = config;
    }
}

#[cfg(feature = "metrics")]
mod on {
    use std::borrow::Cow;
    use std::cell::RefCell;
    use std::collections::HashMap;
    use std::hash::{BuildHasherDefault, Hasher};
    use std::time::Duration;

    use metrics::{Counter, Histogram, Key, KeyName, Label, Level, Metadata, Recorder, Unit};

    use super::{
        CONSUMED, CONSUMER_LAG, DEAD_LETTERS, DECODE_FAILURES, DEFAULT_STATISTICS_INTERVAL_MS,
        PROCESS_DURATION, RETRIES, SENT,
    };

    const SYSTEM: &str = "messaging.system";
    const TOPIC: &str = "messaging.destination.name";
    const PARTITION: &str = "messaging.destination.partition.id";
    const GROUP: &str = "messaging.consumer.group.name";
    const OPERATION: &str = "messaging.operation.name";
    const ERROR: &str = "error.type";
    const DEAD_LETTER_TOPIC: &str = "kafka_codec.dead_letter.topic";

    static META: Metadata<'static> =
        Metadata::new(module_path!(), Level::INFO, Some(module_path!()));

    /// A record was sent to `topic` (`error_type`: why it failed, if it did).
    #[inline]
    pub(crate) fn sent(topic: &str, error_type: Option<&str>) {
        match error_type {
            None => with_handles(|r, h| {
                h.sent
                    .get_or_insert_with("", topic, || {
                        r.register_counter(&key(SENT, "send", topic, None, None, None), &META)
                    })
                    .increment(1);
            }),
            Some(e) => with_handles(|r, _| {
                let key = key(SENT, "send", topic, None, None, Some(e));
                r.register_counter(&key, &META).increment(1);
            }),
        }
    }

    /// A record of `topic`/`partition` was handed out by a consumer of `group`.
    #[inline]
    pub(crate) fn consumed(topic: &str, partition: i32, group: &str) {
        with_handles(|r, h| count_consumed(r, h, topic, partition, group));
    }

    /// A handler processed a record (or a batch) of `topic` in `duration`
    /// (`error_type`: why it failed for good, if it did).
    #[inline]
    pub(crate) fn processed(
        topic: &str,
        group: &str,
        duration: Duration,
        error_type: Option<&str>,
    ) {
        with_handles(|r, h| record_processed(r, h, topic, group, duration, error_type));
    }

    /// [`consumed`] and [`processed`] of one record, with one look at the
    /// thread's handles instead of two.
    #[inline]
    pub(crate) fn consumed_and_processed(
        topic: &str,
        partition: i32,
        group: &str,
        duration: Duration,
        error_type: Option<&str>,
    ) {
        with_handles(|r, h| {
            count_consumed(r, h, topic, partition, group);
            record_processed(r, h, topic, group, duration, error_type);
        });
    }

    #[inline]
    fn count_consumed(r: &dyn Recorder, h: &mut Handles, topic: &str, partition: i32, group: &str) {
        let register = || {
            let key = key(CONSUMED, "poll", topic, Some(partition), Some(group), None);
            r.register_counter(&key, &META)
        };
        // Partitions are numbered from 0: their handles are indexed.
        let index = usize::try_from(partition).ok().filter(|&i| i < 1 << 16);
        let Some(index) = index else {
            return register().increment(1);
        };
        let partitions = h.consumed.get_or_insert_with(group, topic, Vec::new);
        if partitions.len() <= index {
            partitions.resize(index + 1, None);
        }
        partitions[index].get_or_insert_with(register).increment(1);
    }

    #[inline]
    fn record_processed(
        r: &dyn Recorder,
        h: &mut Handles,
        topic: &str,
        group: &str,
        duration: Duration,
        error_type: Option<&str>,
    ) {
        let seconds = duration.as_secs_f64();
        match error_type {
            None => h
                .processed
                .get_or_insert_with(group, topic, || {
                    let key = key(PROCESS_DURATION, "process", topic, None, Some(group), None);
                    r.register_histogram(&key, &META)
                })
                .record(seconds),
            Some(e) => {
                let key = key(
                    PROCESS_DURATION,
                    "process",
                    topic,
                    None,
                    Some(group),
                    Some(e),
                );
                r.register_histogram(&key, &META).record(seconds);
            }
        }
    }

    /// A record of `topic` could not be decoded (`kind`: the error kind's name).
    pub(crate) fn decode_failed(topic: &str, group: &str, kind: &str) {
        with_handles(|r, _| {
            let key = key(DECODE_FAILURES, "", topic, None, Some(group), Some(kind));
            r.register_counter(&key, &META).increment(1);
        });
    }

    /// A handler failed on a record of `topic` and is tried again.
    pub(crate) fn retried(topic: &str, group: &str) {
        with_handles(|r, h| {
            h.retried
                .get_or_insert_with(group, topic, || {
                    let key = key(RETRIES, "", topic, None, Some(group), None);
                    r.register_counter(&key, &META)
                })
                .increment(1);
        });
    }

    /// A record of `topic` went to the dead-letter topic `dlq`.
    pub(crate) fn dead_lettered(topic: &str, group: &str, dlq: &str) {
        with_handles(|r, _| {
            let key = key(DEAD_LETTERS, "", topic, None, Some(group), None)
                .with_extra_labels(vec![Label::new(DEAD_LETTER_TOPIC, dlq.to_owned())]);
            r.register_counter(&key, &META).increment(1);
        });
    }

    /// Whether a processing time is wanted (a recorder may be listening).
    #[inline]
    pub(crate) fn timing() -> bool {
        true
    }

    /// Sets the defaults a consumer configuration needs for metrics:
    /// statistics every [`DEFAULT_STATISTICS_INTERVAL_MS`] unless set, for
    /// the consumer lag.
    pub(crate) fn configure(config: &mut rdkafka::ClientConfig) {
        if config.get("statistics.interval.ms").is_none() {
            config.set("statistics.interval.ms", DEFAULT_STATISTICS_INTERVAL_MS);
        }
    }

    /// Sets the lag gauge of every partition the statistics of a consumer
    /// of `group` report with a known lag (librdkafka's JSON, as given to
    /// `ClientContext::stats_raw`).
    pub(crate) fn statistics(json: &[u8], group: &str) {
        let stats: Statistics<'_> = match serde_json::from_slice(json) {
            Ok(stats) => stats,
            Err(e) => {
                tracing::debug!(error = %e, "librdkafka statistics not understood; no lag");
                return;
            }
        };
        with_handles(|r, _| {
            for (topic, t) in &stats.topics {
                for p in t.partitions.values() {
                    if let Some(lag) = p.lag() {
                        let key = key(
                            CONSUMER_LAG,
                            "",
                            topic,
                            Some(p.partition),
                            Some(group),
                            None,
                        );
                        #[allow(clippy::cast_precision_loss)]
                        r.register_gauge(&key, &META).set(lag as f64);
                    }
                }
            }
        });
    }

    /// The part of librdkafka's statistics the lag needs.
    #[derive(serde::Deserialize)]
    pub(super) struct Statistics<'a> {
        #[serde(default, borrow)]
        pub(super) topics: HashMap<Cow<'a, str>, TopicStats<'a>>,
    }

    #[derive(serde::Deserialize)]
    pub(super) struct TopicStats<'a> {
        #[serde(default, borrow)]
        pub(super) partitions: HashMap<Cow<'a, str>, PartitionStats<'a>>,
    }

    #[derive(serde::Deserialize)]
    pub(super) struct PartitionStats<'a> {
        pub(super) partition: i32,
        #[serde(borrow)]
        fetch_state: Cow<'a, str>,
        consumer_lag: i64,
    }

    impl PartitionStats<'_> {
        /// The lag, if this is a real partition, assigned (being fetched),
        /// and its lag is known (-1: no committed offset or no high
        /// watermark yet).
        pub(super) fn lag(&self) -> Option<i64> {
            let assigned = !matches!(&*self.fetch_state, "none" | "stopping" | "stopped");
            (self.partition >= 0 && assigned && self.consumer_lag >= 0).then_some(self.consumer_lag)
        }
    }

    /// The key of a messaging metric: system, operation (unless empty),
    /// topic, then what applies.
    fn key(
        name: &'static str,
        operation: &'static str,
        topic: &str,
        partition: Option<i32>,
        group: Option<&str>,
        error: Option<&str>,
    ) -> Key {
        let mut labels = Vec::with_capacity(6);
        labels.push(Label::from_static_parts(SYSTEM, "kafka"));
        if !operation.is_empty() {
            labels.push(Label::from_static_parts(OPERATION, operation));
        }
        labels.push(Label::new(TOPIC, topic.to_owned()));
        if let Some(p) = partition {
            labels.push(Label::new(PARTITION, p.to_string()));
        }
        if let Some(g) = group {
            labels.push(Label::new(GROUP, g.to_owned()));
        }
        if let Some(e) = error {
            labels.push(Label::new(ERROR, e.to_owned()));
        }
        Key::from_parts(name, labels)
    }

    /// Names and units, given to each recorder once per thread.
    fn describe(r: &dyn Recorder) {
        let count = Some(Unit::Count);
        r.describe_counter(
            KeyName::from_const_str(SENT),
            count,
            "Records sent by producers (error.type set when the send failed)".into(),
        );
        r.describe_counter(
            KeyName::from_const_str(CONSUMED),
            count,
            "Records taken from Kafka by consumers, before decoding".into(),
        );
        r.describe_histogram(
            KeyName::from_const_str(PROCESS_DURATION),
            Some(Unit::Seconds),
            "Time to process a record or a batch (decode, handler with retries, failure policy)"
                .into(),
        );
        r.describe_counter(
            KeyName::from_const_str(DECODE_FAILURES),
            count,
            "Records that did not decode, by error kind".into(),
        );
        r.describe_counter(
            KeyName::from_const_str(RETRIES),
            count,
            "Handler failures tried again".into(),
        );
        r.describe_counter(
            KeyName::from_const_str(DEAD_LETTERS),
            count,
            "Records written to a dead-letter topic".into(),
        );
        r.describe_gauge(
            KeyName::from_const_str(CONSUMER_LAG),
            count,
            "High watermark less the committed offset, per assigned partition (librdkafka consumer_lag)"
                .into(),
        );
    }

    /// Handles by (group, topic), looked up with borrowed names: first the
    /// pair used last (a consumer mostly reads one topic), then a map with a
    /// cheap hash.
    struct Table<V> {
        entries: Vec<(Pair, V)>,
        index: HashMap<Pair, usize, BuildHasherDefault<NameHasher>>,
        last: usize,
    }

    impl<V> Default for Table<V> {
        fn default() -> Self {
            Table {
                entries: Vec::new(),
                index: HashMap::default(),
                last: 0,
            }
        }
    }

    impl<V> Table<V> {
        /// The value for (`group`, `topic`), made with `make` on first use.
        #[inline]
        fn get_or_insert_with(
            &mut self,
            group: &str,
            topic: &str,
            make: impl FnOnce() -> V,
        ) -> &mut V {
            let last = self.last;
            if let Some((names, _)) = self.entries.get(last) {
                if *names.1 == *topic && *names.0 == *group {
                    return &mut self.entries[last].1;
                }
            }
            let i = match self.index.get(&(group, topic) as &dyn Names) {
                Some(&i) => i,
                None => {
                    let i = self.entries.len();
                    self.entries.push((Pair::new(group, topic), make()));
                    self.index.insert(Pair::new(group, topic), i);
                    i
                }
            };
            self.last = i;
            &mut self.entries[i].1
        }
    }

    /// The handles of one thread for one recorder.
    #[derive(Default)]
    struct Handles {
        /// The recorder the handles belong to (its address: the global
        /// recorder never moves; a local recorder dropped and another made
        /// at the same address on the same thread would be taken for the
        /// same one, which only a test could do).
        recorder: Option<*const ()>,
        /// By topic (the group is empty).
        sent: Table<Counter>,
        /// By group and topic, then partition.
        consumed: Table<Vec<Option<Counter>>>,
        /// By group and topic.
        processed: Table<Histogram>,
        /// By group and topic.
        retried: Table<Counter>,
    }

    thread_local! {
        static HANDLES: RefCell<Handles> = RefCell::new(Handles::default());
    }

    /// Runs `f` with the current recorder and this thread's handles for it
    /// (a fresh, uncached table if the thread's is unavailable).
    #[inline]
    fn with_handles(f: impl FnOnce(&dyn Recorder, &mut Handles)) {
        metrics::with_recorder(|r| {
            let id = std::ptr::from_ref(r).cast::<()>();
            let mut f = Some(f);
            let _ = HANDLES.try_with(|cell| {
                if let Ok(mut h) = cell.try_borrow_mut() {
                    if h.recorder != Some(id) {
                        *h = Handles {
                            recorder: Some(id),
                            ..Handles::default()
                        };
                        describe(r);
                    }
                    if let Some(f) = f.take() {
                        f(r, &mut h);
                    }
                }
            });
            if let Some(f) = f {
                f(r, &mut Handles::default());
            }
        });
    }

    /// An owned (group, topic) key.
    #[derive(PartialEq, Eq, Hash)]
    struct Pair(Box<str>, Box<str>);

    impl Pair {
        fn new(group: &str, topic: &str) -> Self {
            Pair(group.into(), topic.into())
        }
    }

    /// A (group, topic) key, owned or borrowed: the map is looked up
    /// without building a [`Pair`].
    trait Names {
        fn names(&self) -> (&str, &str);
    }

    impl Names for Pair {
        fn names(&self) -> (&str, &str) {
            (&self.0, &self.1)
        }
    }

    impl Names for (&str, &str) {
        fn names(&self) -> (&str, &str) {
            *self
        }
    }

    impl<'a> std::borrow::Borrow<dyn Names + 'a> for Pair {
        fn borrow(&self) -> &(dyn Names + 'a) {
            self
        }
    }

    // Hashes as `Pair`'s derived `Hash` does: one name, then the other.
    impl std::hash::Hash for dyn Names + '_ {
        fn hash<S: Hasher>(&self, state: &mut S) {
            let (group, topic) = self.names();
            group.hash(state);
            topic.hash(state);
        }
    }

    impl PartialEq for dyn Names + '_ {
        fn eq(&self, other: &Self) -> bool {
            self.names() == other.names()
        }
    }

    impl Eq for dyn Names + '_ {}

    /// FxHash-style hasher for short names (not exposed to untrusted
    /// input: topic and group names come from the configuration).
    #[derive(Default, Clone, Copy)]
    struct NameHasher(u64);

    impl Hasher for NameHasher {
        #[inline]
        fn write(&mut self, bytes: &[u8]) {
            const K: u64 = 0xf135_7aea_2e62_a9c5;
            let mut chunks = bytes.chunks_exact(8);
            for c in &mut chunks {
                let word = u64::from_le_bytes(c.try_into().expect("8 bytes"));
                self.0 = (self.0.rotate_left(26) ^ word).wrapping_mul(K);
            }
            let mut tail = [0u8; 8];
            let rest = chunks.remainder();
            tail[..rest.len()].copy_from_slice(rest);
            self.0 = (self.0.rotate_left(26) ^ u64::from_le_bytes(tail) ^ rest.len() as u64)
                .wrapping_mul(K);
        }

        #[inline]
        fn write_u8(&mut self, i: u8) {
            self.0 = (self.0.rotate_left(26) ^ u64::from(i)).wrapping_mul(0xf135_7aea_2e62_a9c5);
        }

        #[inline]
        fn finish(&self) -> u64 {
            self.0
        }
    }
}

#[cfg(all(test, feature = "metrics"))]
mod tests {
    use std::collections::HashMap;
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    use metrics::{
        Counter, CounterFn, Gauge, Histogram, HistogramFn, Key, KeyName, Metadata, Recorder,
        SharedString, Unit,
    };

    /// Counts what goes to each series, by `name{label=value,...}`.
    #[derive(Default)]
    struct Counting {
        series: Mutex<HashMap<String, Arc<Tally>>>,
        registrations: AtomicU64,
    }

    #[derive(Default)]
    struct Tally(AtomicU64);

    impl CounterFn for Tally {
        fn increment(&self, value: u64) {
            self.0.fetch_add(value, Ordering::Relaxed);
        }
        fn absolute(&self, value: u64) {
            self.0.store(value, Ordering::Relaxed);
        }
    }

    impl HistogramFn for Tally {
        fn record(&self, _value: f64) {
            self.0.fetch_add(1, Ordering::Relaxed);
        }
    }

    impl Counting {
        fn tally(&self, key: &Key) -> Arc<Tally> {
            self.registrations.fetch_add(1, Ordering::Relaxed);
            let labels: Vec<String> = key
                .labels()
                .map(|l| format!("{}={}", l.key(), l.value()))
                .collect();
            let name = format!("{}{{{}}}", key.name(), labels.join(","));
            self.series.lock().unwrap().entry(name).or_default().clone()
        }

        fn get(&self, name: &str) -> u64 {
            self.series
                .lock()
                .unwrap()
                .get(name)
                .map_or(0, |t| t.0.load(Ordering::Relaxed))
        }
    }

    impl Recorder for Counting {
        fn describe_counter(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
        fn describe_gauge(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
        fn describe_histogram(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
        fn register_counter(&self, key: &Key, _: &Metadata<'_>) -> Counter {
            Counter::from_arc(self.tally(key))
        }
        fn register_gauge(&self, _: &Key, _: &Metadata<'_>) -> Gauge {
            Gauge::noop()
        }
        fn register_histogram(&self, key: &Key, _: &Metadata<'_>) -> Histogram {
            Histogram::from_arc(self.tally(key))
        }
    }

    const T0: &str = "messaging.client.consumed.messages{messaging.system=kafka,messaging.operation.name=poll,messaging.destination.name=t,messaging.destination.partition.id=0,messaging.consumer.group.name=g}";
    const T1: &str = "messaging.client.consumed.messages{messaging.system=kafka,messaging.operation.name=poll,messaging.destination.name=t,messaging.destination.partition.id=1,messaging.consumer.group.name=g}";
    const U0: &str = "messaging.client.consumed.messages{messaging.system=kafka,messaging.operation.name=poll,messaging.destination.name=u,messaging.destination.partition.id=0,messaging.consumer.group.name=g}";
    const H0: &str = "messaging.client.consumed.messages{messaging.system=kafka,messaging.operation.name=poll,messaging.destination.name=t,messaging.destination.partition.id=0,messaging.consumer.group.name=h}";

    #[test]
    fn handles_are_cached_per_series_and_per_recorder() {
        let first = Counting::default();
        metrics::with_local_recorder(&first, || {
            for _ in 0..3 {
                super::consumed("t", 0, "g");
            }
            super::consumed("t", 1, "g");
            super::consumed("u", 0, "g");
            super::consumed("t", 0, "h");
            super::processed("t", "g", Duration::from_millis(1), None);
            super::processed("t", "g", Duration::from_millis(2), None);
            super::processed("t", "g", Duration::from_millis(2), Some("handler"));
        });
        assert_eq!(
            (first.get(T0), first.get(T1), first.get(U0), first.get(H0)),
            (3, 1, 1, 1)
        );
        let ok = "messaging.process.duration{messaging.system=kafka,messaging.operation.name=process,messaging.destination.name=t,messaging.consumer.group.name=g}";
        assert_eq!(first.get(ok), 2);
        let failed = "messaging.process.duration{messaging.system=kafka,messaging.operation.name=process,messaging.destination.name=t,messaging.consumer.group.name=g,error.type=handler}";
        assert_eq!(first.get(failed), 1);
        // Registered once per series (the failure is not cached).
        assert_eq!(first.registrations.load(Ordering::Relaxed), 6);

        // Another recorder: the handles are registered anew with it.
        let second = Counting::default();
        metrics::with_local_recorder(&second, || super::consumed("t", 0, "g"));
        assert_eq!((first.get(T0), second.get(T0)), (3, 1));
    }

    #[test]
    fn lag_is_read_for_assigned_partitions_with_a_known_lag() {
        let json = br#"{"name":"c","topics":{"t":{"topic":"t","partitions":{
            "0":{"partition":0,"fetch_state":"active","consumer_lag":5,"hi_offset":9},
            "1":{"partition":1,"fetch_state":"active","consumer_lag":-1},
            "2":{"partition":2,"fetch_state":"stopped","consumer_lag":7},
            "-1":{"partition":-1,"fetch_state":"none","consumer_lag":-1}}}}}"#;
        let stats: super::on::Statistics<'_> = serde_json::from_slice(json).unwrap();
        let mut lags: Vec<(i32, i64)> = stats.topics["t"]
            .partitions
            .values()
            .filter_map(|p| p.lag().map(|l| (p.partition, l)))
            .collect();
        lags.sort_unstable();
        assert_eq!(lags, [(0, 5)]);
    }
}
