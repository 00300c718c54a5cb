//! A user's rdkafka client context (log lines, errors, statistics,
//! OAUTHBEARER tokens), brought to this crate's producers and consumers.

use std::error::Error as StdError;
use std::fmt;
use std::sync::Arc;

use rdkafka::client::{ClientContext, DefaultClientContext, OAuthToken};
use rdkafka::config::RDKafkaLogLevel;
use rdkafka::error::KafkaError;

/// The client context a user gave a producer or a consumer
/// ([`ProducerBuilder::context`](super::ProducerBuilder::context),
/// [`ConsumerBuilder::context`](super::ConsumerBuilder::context)), or
/// rdkafka's [`DefaultClientContext`] when none was given (whose statistics
/// callback is then not called: the `statistics.interval.ms` that feature
/// `metrics` sets feeds the metrics, not the log).
///
/// rdkafka's [`ClientContext`] cannot be a trait object (its
/// `ENABLE_REFRESH_OAUTH_TOKEN` is a constant), so this holds any context
/// behind one type and forwards every callback to it. It always takes
/// rdkafka's token-refresh events: when the user's context does not refresh
/// tokens, the refresh fails with an error that says so (rdkafka would drop
/// the event and leave the client waiting).
///
/// ```
/// use kafka_codec::kafka::{ConsumerBuilder, Producer};
/// use rdkafka::client::{ClientContext, OAuthToken};
///
/// struct Tokens;
/// impl ClientContext for Tokens {
///     const ENABLE_REFRESH_OAUTH_TOKEN: bool = true;
///     fn generate_oauth_token(
///         &self,
///         _config: Option<&str>,
///     ) -> Result<OAuthToken, Box<dyn std::error::Error>> {
///         Ok(OAuthToken {
///             token: "a-token-from-your-identity-provider".into(),
///             principal_name: "billing".into(),
///             lifetime_ms: i64::MAX,
///         })
///     }
/// }
///
/// let producer = Producer::builder("localhost:9092")
///     .set("security.protocol", "SASL_SSL")
///     .set("sasl.mechanism", "OAUTHBEARER")
///     .context(Tokens);
/// let consumer = ConsumerBuilder::new("localhost:9092", "billing").context(Tokens);
/// # let _ = (producer, consumer);
/// ```
#[derive(Clone, Default)]
pub struct UserContext(Option<Arc<dyn Callbacks>>);

impl UserContext {
    pub(crate) fn new(context: impl ClientContext + 'static) -> Self {
        UserContext(Some(Arc::new(context)))
    }

    fn callbacks(&self) -> &dyn Callbacks {
        match &self.0 {
            Some(user) => user.as_ref(),
            None => &DefaultClientContext,
        }
    }
}

impl fmt::Debug for UserContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.is_some() {
            "UserContext(user)"
        } else {
            "UserContext(default)"
        })
    }
}

/// [`ClientContext`]'s callbacks as a trait object.
trait Callbacks: Send + Sync {
    fn log(&self, level: RDKafkaLogLevel, fac: &str, message: &str);
    fn stats_raw(&self, statistics: &[u8]);
    fn error(&self, error: KafkaError, reason: &str);
    fn token(&self, config: Option<&str>) -> Result<OAuthToken, Box<dyn StdError>>;
}

impl<C: ClientContext> Callbacks for C {
    fn log(&self, level: RDKafkaLogLevel, fac: &str, message: &str) {
        ClientContext::log(self, level, fac, message);
    }
    fn stats_raw(&self, statistics: &[u8]) {
        ClientContext::stats_raw(self, statistics);
    }
    fn error(&self, error: KafkaError, reason: &str) {
        ClientContext::error(self, error, reason);
    }
    fn token(&self, config: Option<&str>) -> Result<OAuthToken, Box<dyn StdError>> {
        if C::ENABLE_REFRESH_OAUTH_TOKEN {
            self.generate_oauth_token(config)
        } else {
            Err(
                "no OAUTHBEARER token source: give the client a context whose \
                 ENABLE_REFRESH_OAUTH_TOKEN is true (ProducerBuilder::context, \
                 ConsumerBuilder::context)"
                    .into(),
            )
        }
    }
}

impl ClientContext for UserContext {
    const ENABLE_REFRESH_OAUTH_TOKEN: bool = true;

    fn log(&self, level: RDKafkaLogLevel, fac: &str, message: &str) {
        self.callbacks().log(level, fac, message);
    }

    fn stats_raw(&self, statistics: &[u8]) {
        if let Some(user) = &self.0 {
            user.stats_raw(statistics);
        }
    }

    fn error(&self, error: KafkaError, reason: &str) {
        self.callbacks().error(error, reason);
    }

    fn generate_oauth_token(&self, config: Option<&str>) -> Result<OAuthToken, Box<dyn StdError>> {
        self.callbacks().token(config)
    }
}
