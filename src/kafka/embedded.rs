//! An in-process Kafka cluster: librdkafka's mock cluster.
//!
//! Good for examples, quickstarts and fast tests: no broker to install, and
//! it speaks the real protocol to real rdkafka clients (consumer groups
//! included). It is not a broker: no persistence, simplified semantics. The
//! integration tests also run against a real broker (see the README).

use rdkafka::mocking::MockCluster;
use rdkafka::producer::DefaultProducerContext;

use crate::error::{Error, Result};

/// A running mock cluster. Dropping it stops the cluster.
pub struct Embedded {
    cluster: MockCluster<'static, DefaultProducerContext>,
    servers: String,
}

impl std::fmt::Debug for Embedded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Embedded")
            .field("bootstrap_servers", &self.servers)
            .finish()
    }
}

impl Embedded {
    /// Starts a cluster of `brokers` brokers.
    pub fn start(brokers: i32) -> Result<Self> {
        let cluster = MockCluster::new(brokers)?;
        let servers = cluster.bootstrap_servers();
        Ok(Embedded { cluster, servers })
    }

    /// The `bootstrap.servers` value for clients.
    pub fn bootstrap_servers(&self) -> &str {
        &self.servers
    }

    /// Creates a topic.
    pub fn create_topic(&self, topic: &str, partitions: i32) -> Result<()> {
        self.cluster
            .create_topic(topic, partitions, 1)
            .map_err(Error::from)
    }

    /// Creates a topic with a name no other test of this process uses:
    /// `prefix`, the process id and a count. For tests that share a cluster.
    ///
    /// ```
    /// # fn main() -> kafka_codec::Result<()> {
    /// let cluster = kafka_codec::kafka::embedded::Embedded::start(1)?;
    /// let (a, b) = (cluster.fresh_topic("orders", 4)?, cluster.fresh_topic("orders", 4)?);
    /// assert!(a.starts_with("orders-") && a != b);
    /// # Ok(()) }
    /// ```
    pub fn fresh_topic(&self, prefix: &str, partitions: i32) -> Result<String> {
        let topic = unique(prefix);
        self.create_topic(&topic, partitions)?;
        Ok(topic)
    }

    /// The underlying mock cluster, for fault injection
    /// (`broker_down`, `request_errors`, ...).
    pub fn cluster(&self) -> &MockCluster<'static, DefaultProducerContext> {
        &self.cluster
    }
}

/// A name no other call in this process gets: `prefix`, the process id and
/// a count.
pub(crate) fn unique(prefix: &str) -> String {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    format!("{prefix}-{}-{n}", std::process::id())
}

/// Brokers to use: `KAFKA_BROKERS` when set, else a fresh embedded cluster
/// (returned so the caller keeps it alive).
pub fn brokers_from_env() -> Result<(String, Option<Embedded>)> {
    match std::env::var("KAFKA_BROKERS") {
        Ok(brokers) if !brokers.trim().is_empty() => Ok((brokers, None)),
        _ => {
            let embedded = Embedded::start(1)?;
            Ok((embedded.bootstrap_servers().to_owned(), Some(embedded)))
        }
    }
}
