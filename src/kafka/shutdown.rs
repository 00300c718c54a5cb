//! The one shutdown signal every run takes.

use std::future::Future;

use tokio_util::sync::CancellationToken;

use crate::error::{Error, ErrorKind, Result};

/// Tells a run to stop: it finishes the records in hand, commits what was
/// handled and returns its [`Report`](super::Report).
///
/// Every run takes one ([`Consumer::run`](super::Consumer::run),
/// [`Group::run`](super::Group::run), [`Partitioned::run`](super::Partitioned::run),
/// [`Consumer::run_batches`](super::Consumer::run_batches),
/// [`ExactlyOnce::run`](super::ExactlyOnce::run)). Clones share the signal:
/// trigger one and every run holding a clone stops.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> kafka_codec::Result<()> {
/// use kafka_codec::kafka::Shutdown;
/// let shutdown = Shutdown::new();
/// let stopper = shutdown.clone();
/// tokio::spawn(async move { stopper.trigger() });
/// shutdown.triggered().await;
/// assert!(shutdown.is_triggered());
/// // A service stops on SIGTERM (what Kubernetes and systemd send) or ctrl-c:
/// let service = Shutdown::on_signals()?;
/// # drop(service);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Default)]
pub struct Shutdown {
    token: CancellationToken,
}

impl Shutdown {
    /// A signal that fires when [`trigger`](Self::trigger)ed.
    pub fn new() -> Self {
        Self::default()
    }

    /// A signal that also fires on SIGTERM and SIGINT (ctrl-c; only ctrl-c
    /// off Unix). A second signal, while the runs stop, ends the process at
    /// once (exit status 130), as an impatient ctrl-c expects: once these
    /// handlers are installed, the signals no longer end it by themselves.
    /// Call it inside a tokio runtime: the signals are listened for by a task
    /// on it. Fails when the signal handlers cannot be installed, or with no
    /// runtime.
    pub fn on_signals() -> Result<Self> {
        let shutdown = Self::new();
        let runtime = tokio::runtime::Handle::try_current().map_err(|e| {
            Error::new(ErrorKind::Config(
                format!("Shutdown::on_signals needs a tokio runtime: {e}").into(),
            ))
        })?;
        let mut signalled = signals().map_err(|e| {
            Error::new(ErrorKind::Config(
                format!("cannot listen for SIGTERM and SIGINT: {e}").into(),
            ))
        })?;
        let token = shutdown.token.clone();
        runtime.spawn(async move {
            tokio::select! {
                () = signalled.next() => {
                    tracing::info!(target: "kafka_codec", "shutdown signal received");
                    token.cancel();
                }
                () = token.cancelled() => {}
            }
            signalled.next().await;
            tracing::warn!(target: "kafka_codec", "second shutdown signal: exiting now");
            std::process::exit(130);
        });
        Ok(shutdown)
    }

    /// A signal that fires when `future` completes (a timer, a channel, a
    /// test's condition). Call it inside a tokio runtime.
    pub fn when(future: impl Future<Output = ()> + Send + 'static) -> Self {
        let shutdown = Self::new();
        let token = shutdown.token.clone();
        tokio::spawn(async move {
            tokio::select! {
                () = future => token.cancel(),
                () = token.cancelled() => {}
            }
        });
        shutdown
    }

    /// Fires the signal.
    pub fn trigger(&self) {
        self.token.cancel();
    }

    /// Whether the signal fired.
    pub fn is_triggered(&self) -> bool {
        self.token.is_cancelled()
    }

    /// Completes once the signal fired.
    pub async fn triggered(&self) {
        self.token.cancelled().await;
    }

    /// A signal that fires with this one, and can also be fired alone.
    pub fn child(&self) -> Shutdown {
        Shutdown {
            token: self.token.child_token(),
        }
    }

    /// The token underneath.
    pub(crate) fn token(&self) -> &CancellationToken {
        &self.token
    }
}

impl From<CancellationToken> for Shutdown {
    fn from(token: CancellationToken) -> Self {
        Shutdown { token }
    }
}

/// The signals a service stops on.
struct Signals {
    #[cfg(unix)]
    term: tokio::signal::unix::Signal,
    #[cfg(unix)]
    int: tokio::signal::unix::Signal,
}

impl Signals {
    /// The next SIGTERM or SIGINT (ctrl-c off Unix).
    async fn next(&mut self) {
        #[cfg(unix)]
        tokio::select! {
            _ = self.term.recv() => {}
            _ = self.int.recv() => {}
        }
        #[cfg(not(unix))]
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// Installs the handlers of SIGTERM and SIGINT.
fn signals() -> std::io::Result<Signals> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        Ok(Signals {
            term: signal(SignalKind::terminate())?,
            int: signal(SignalKind::interrupt())?,
        })
    }
    #[cfg(not(unix))]
    Ok(Signals {})
}

#[cfg(all(test, unix))]
mod tests {
    use std::time::Duration;

    use super::Shutdown;

    #[tokio::test(flavor = "current_thread")]
    async fn sigterm_fires_the_signal() {
        let shutdown = Shutdown::on_signals().unwrap();
        assert!(!shutdown.is_triggered());
        terminate_self();
        tokio::time::timeout(Duration::from_secs(5), shutdown.triggered())
            .await
            .expect("SIGTERM fired the signal");
    }

    /// Sends SIGTERM to this process, through the `kill` command (the crate
    /// forbids `unsafe`, and std has no signal sending).
    fn terminate_self() {
        let status = std::process::Command::new("kill")
            .args(["-TERM", &std::process::id().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success());
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_future_fires_it_and_a_child_follows_its_parent() {
        let shutdown = Shutdown::when(tokio::time::sleep(Duration::from_millis(20)));
        let child = shutdown.child();
        tokio::time::timeout(Duration::from_secs(5), child.triggered())
            .await
            .expect("the child fired with its parent");
        assert!(shutdown.is_triggered());
    }
}
