//! Blocking calls on a tokio runtime, and the errors of our own tasks.

use crate::error::{Error, ErrorKind, Result};

/// Runs a blocking call: on a multi-threaded runtime the worker hands its
/// other tasks away first, so they go on meanwhile.
pub(crate) fn block<R>(f: impl FnOnce() -> R) -> R {
    match tokio::runtime::Handle::try_current() {
        Ok(_) if !on_current_thread_runtime() => tokio::task::block_in_place(f),
        _ => f(),
    }
}

/// Whether this thread runs a current-thread tokio runtime, where waiting
/// for other tasks blocks them too.
pub(crate) fn on_current_thread_runtime() -> bool {
    tokio::runtime::Handle::try_current()
        .is_ok_and(|h| h.runtime_flavor() == tokio::runtime::RuntimeFlavor::CurrentThread)
}

/// Runs a blocking librdkafka call off the async workers.
pub(crate) async fn blocking<R: Send + 'static>(
    f: impl FnOnce() -> rdkafka::error::KafkaResult<R> + Send + 'static,
) -> Result<R> {
    match tokio::task::spawn_blocking(f).await {
        Ok(r) => r.map_err(Error::from),
        Err(join) => Err(task_failed("blocking call", &join)),
    }
}

/// The error for a task of ours that panicked or was cancelled.
pub(crate) fn task_failed(what: &str, join: &tokio::task::JoinError) -> Error {
    Error::new(ErrorKind::Task(format!("{what}: {join}")))
}
