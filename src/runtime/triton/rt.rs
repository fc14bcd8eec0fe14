// SPDX-License-Identifier: MIT OR Apache-2.0
//! The process-wide async runtime of the gRPC client, and calling it from a streaming thread with a
//! deadline (docs/architecture.md#the-backend-layer).
//!
//! The runtime is created on the first use of an inference server, never for in-process models. A call
//! is spawned on it and the caller waits on a channel: the caller's thread is blocked at most until the
//! deadline, even when the server hangs, and the request is cancelled (its task aborted) past it.
//! Spawning measured faster than `block_on` on the caller's thread for multi-megabyte tensors.

use std::future::Future;
use std::sync::mpsc;
use std::sync::OnceLock;
use std::time::Duration;

use tokio::runtime::Runtime;

static RUNTIME: OnceLock<Result<Runtime, String>> = OnceLock::new();

/// The runtime: two workers (one drives the connections, one runs background probes); gRPC work is
/// I/O-bound.
pub(crate) fn runtime() -> Result<&'static Runtime, String> {
    RUNTIME
        .get_or_init(|| {
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .thread_name("gst-ghost-grpc")
                .enable_all()
                .build()
                .map_err(|e| format!("cannot start the gRPC client runtime: {e}"))
        })
        .as_ref()
        .map_err(Clone::clone)
}

/// The call did not finish before its deadline (it was cancelled).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TimedOut;

/// Runs `fut` on the runtime and waits for it at most `deadline`.
pub(crate) fn call<T, F>(fut: F, deadline: Duration) -> Result<T, TimedOut>
where
    T: Send + 'static,
    F: Future<Output = T> + Send + 'static,
{
    let Ok(rt) = runtime() else { return Err(TimedOut) };
    let (tx, rx) = mpsc::sync_channel(1);
    let task = rt.spawn(async move {
        let _ = tx.send(fut.await);
    });
    match rx.recv_timeout(deadline) {
        Ok(v) => Ok(v),
        Err(_) => {
            task.abort();
            Err(TimedOut)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_call_returns_its_value_or_times_out_at_the_deadline() {
        assert_eq!(call(async { 7 }, Duration::from_secs(5)), Ok(7));
        let start = std::time::Instant::now();
        // The timer is made inside the task: futures are built lazily, on the runtime.
        let r = call(async { tokio::time::sleep(Duration::from_secs(30)).await }, Duration::from_millis(50));
        assert_eq!(r, Err(TimedOut));
        assert!(start.elapsed() < Duration::from_secs(10), "{:?}", start.elapsed());
    }
}
