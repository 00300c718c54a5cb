//! A health handle a web framework can serve: what the consumers built with
//! it are assigned, when they last asked for a record, and their lag.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use rdkafka::consumer::Consumer as _;

use super::rebalance::Client;
use super::report::TopicPartition;
use super::rt::blocking;
use crate::error::Result;

/// Health of the consumers built with it
/// ([`ConsumerBuilder::health`](super::ConsumerBuilder::health)): every
/// member of a [`Group`](super::Group) shares the one handle. Cheap to
/// clone; read it from a readiness or liveness endpoint.
///
/// ```no_run
/// # async fn demo() -> kafka_codec::Result<()> {
/// use std::time::Duration;
/// use kafka_codec::kafka::{ConsumerBuilder, Group, Health};
/// let health = Health::new();
/// let builder = ConsumerBuilder::new("localhost:9092", "billing").health(&health);
/// # let _ = builder;
/// // In a /healthz handler:
/// let live = health.is_live(Duration::from_secs(30));
/// let assigned = health.assigned();
/// let lag = health.lag().await?;          // asks the broker for the high watermarks
/// println!("live {live}, {} partitions, lag {:?}", assigned.len(), lag.values().sum::<i64>());
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Default)]
pub struct Health {
    inner: Arc<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    /// When the handle was made: `last_poll` counts from here.
    start: StartTime,
    /// Milliseconds after `start` (plus one) of the last time a consumer
    /// asked for a record; 0: never.
    last_poll: AtomicU64,
    /// Consumers waiting for a record now.
    waiting: AtomicUsize,
    clients: Mutex<Vec<Weak<Client>>>,
}

#[derive(Debug)]
struct StartTime(Instant);

impl Default for StartTime {
    fn default() -> Self {
        StartTime(Instant::now())
    }
}

impl Health {
    /// A handle with no consumer yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// The partitions assigned to its consumers now.
    pub fn assigned(&self) -> Vec<TopicPartition> {
        let mut assigned = Vec::new();
        for client in self.clients() {
            if let Ok(tpl) = client.assignment() {
                assigned.extend(
                    tpl.elements()
                        .iter()
                        .map(|e| TopicPartition::new(e.topic(), e.partition())),
                );
            }
        }
        assigned.sort();
        assigned
    }

    /// How long ago a consumer last asked for a record (`None`: never).
    pub fn since_last_poll(&self) -> Option<Duration> {
        let at = self.inner.last_poll.load(Ordering::Relaxed);
        (at > 0).then(|| {
            let polled = self.inner.start.0 + Duration::from_millis(at - 1);
            polled.elapsed()
        })
    }

    /// Whether a consumer is waiting for records now, or asked for one
    /// within `max_idle`: `false` when every consumer is stuck in a
    /// handler (or never started).
    pub fn is_live(&self, max_idle: Duration) -> bool {
        self.inner.waiting.load(Ordering::Relaxed) > 0
            || self.since_last_poll().is_some_and(|idle| idle <= max_idle)
    }

    /// The lag of each assigned partition: its high watermark less where
    /// the consumer reads next (its position; before it handed out a record
    /// of the partition, the group's committed offset; with neither, the
    /// low watermark). Asks the broker for the watermarks and committed
    /// offsets, on tokio's blocking pool, 5 s at most each.
    pub async fn lag(&self) -> Result<BTreeMap<TopicPartition, i64>> {
        const WAIT: Duration = Duration::from_secs(5);
        let clients = self.clients();
        blocking(move || {
            let mut lag = BTreeMap::new();
            for client in clients {
                let position = client.position()?;
                let committed = client.committed_offsets(position.clone(), WAIT)?;
                for e in position.elements() {
                    let (low, high) = client.fetch_watermarks(e.topic(), e.partition(), WAIT)?;
                    let valid = |o: rdkafka::Offset| o.to_raw().filter(|&o| o >= 0);
                    let next = valid(e.offset())
                        .or_else(|| {
                            committed
                                .find_partition(e.topic(), e.partition())
                                .and_then(|c| valid(c.offset()))
                        })
                        .unwrap_or(low);
                    let behind = (high - next).max(0);
                    lag.insert(TopicPartition::new(e.topic(), e.partition()), behind);
                }
            }
            Ok(lag)
        })
        .await
    }

    /// A consumer of this handle's was built.
    pub(crate) fn attach(&self, client: &Arc<Client>) {
        let mut clients = self
            .inner
            .clients
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        clients.retain(|c| c.strong_count() > 0);
        clients.push(Arc::downgrade(client));
    }

    /// A consumer asks for a record: call the returned guard's drop when it
    /// has one.
    pub(crate) fn polling(&self) -> Polling<'_> {
        self.inner.waiting.fetch_add(1, Ordering::Relaxed);
        self.polled();
        Polling(self)
    }

    fn polled(&self) {
        let since = self.inner.start.0.elapsed().as_millis();
        let at = u64::try_from(since).unwrap_or(u64::MAX - 1) + 1;
        self.inner.last_poll.store(at, Ordering::Relaxed);
    }

    fn clients(&self) -> Vec<Arc<Client>> {
        self.inner
            .clients
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .iter()
            .filter_map(Weak::upgrade)
            .collect()
    }
}

/// A consumer waiting for a record; done when dropped.
pub(crate) struct Polling<'a>(&'a Health);

impl Drop for Polling<'_> {
    fn drop(&mut self) {
        self.0.polled();
        self.0.inner.waiting.fetch_sub(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::Health;

    #[test]
    fn live_while_waiting_and_for_a_while_after() {
        let health = Health::new();
        assert!(!health.is_live(Duration::from_secs(60)), "never polled");
        assert_eq!(health.since_last_poll(), None);
        let waiting = health.polling();
        std::thread::sleep(Duration::from_millis(30));
        assert!(health.is_live(Duration::ZERO), "waiting for records");
        drop(waiting);
        assert!(health.since_last_poll().unwrap() < Duration::from_millis(20));
        std::thread::sleep(Duration::from_millis(30));
        assert!(health.is_live(Duration::from_secs(60)));
        assert!(
            !health.is_live(Duration::from_millis(10)),
            "stuck in a handler"
        );
    }
}
