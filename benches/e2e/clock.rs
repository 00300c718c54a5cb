//! The clocks a timed section reads: wall time, the process's CPU time
//! (every thread) and the calling thread's, in nanoseconds.

use std::time::{Duration, Instant};

/// This process's CPU time, user + system, every thread (those that
/// exited included): `CLOCK_PROCESS_CPUTIME_ID`, through rustix's safe
/// `clock_gettime` (the workspace forbids `unsafe`). The kernel sums the
/// scheduler's runtime of the thread group in nanoseconds, so a chunk of a
/// few thousand records is timed exactly; `/proc/self/stat`, used before,
/// counts in clock ticks of 10 ms, which put ±10 % on a 100 ms chunk.
#[allow(clippy::unnecessary_wraps)]
pub(crate) fn process_cpu() -> Option<Duration> {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::ProcessCPUTime);
    let secs = u64::try_from(t.tv_sec).ok()?;
    let nanos = u32::try_from(t.tv_nsec).ok()?;
    Some(Duration::new(secs, nanos))
}

/// The calling thread's CPU time (`CLOCK_THREAD_CPUTIME_ID`, nanoseconds).
/// The bench's producers and consumers run on the thread that runs the
/// runtime's `block_on`, so this is their own code: encoding, decoding,
/// rdkafka's calls and futures, and the telemetry, without librdkafka's
/// broker threads, whose work per record moves with the timing of fetches
/// and batches.
pub(crate) fn thread_cpu() -> Duration {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::ThreadCPUTime);
    Duration::new(
        u64::try_from(t.tv_sec).unwrap_or_default(),
        u32::try_from(t.tv_nsec).unwrap_or_default(),
    )
}

/// Wall-clock and process CPU time from the same point on.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Stopwatch {
    pub(crate) wall: Instant,
    pub(crate) cpu: Option<Duration>,
    pub(crate) thread: Duration,
}

impl Stopwatch {
    pub(crate) fn start() -> Self {
        Stopwatch {
            wall: Instant::now(),
            cpu: process_cpu(),
            thread: thread_cpu(),
        }
    }

    pub(crate) fn stop(&self) -> Timed {
        Timed {
            wall: self.wall.elapsed(),
            cpu: process_cpu()
                .zip(self.cpu)
                .map(|(end, start)| end.saturating_sub(start)),
            thread: Some(thread_cpu().saturating_sub(self.thread)),
        }
    }
}

/// What a timed section took.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Timed {
    pub(crate) wall: Duration,
    /// This process's CPU time over it, all threads (see [`process_cpu`]);
    /// only the telemetry side reports it.
    #[cfg_attr(not(all(feature = "otel", feature = "metrics")), allow(dead_code))]
    pub(crate) cpu: Option<Duration>,
    /// The calling thread's CPU time over it (see [`thread_cpu`]), where
    /// the section ran on one thread; only the interleaved side reports it.
    #[cfg_attr(not(all(feature = "otel", feature = "metrics")), allow(dead_code))]
    pub(crate) thread: Option<Duration>,
}

/// The CPU time spent since `before`.
pub(crate) fn cpu_since(before: Option<Duration>) -> Option<Duration> {
    Some(process_cpu()?.saturating_sub(before?))
}

#[allow(clippy::cast_precision_loss)]
pub(crate) fn rate(records: usize, elapsed: Duration) -> f64 {
    records as f64 / elapsed.as_secs_f64()
}
