// SPDX-License-Identifier: MIT OR Apache-2.0
//! A background thread that works on the latest job only: a job submitted while another waits
//! replaces it (the older one is dropped unstarted), so a burst of requests costs one run, and the
//! submitter is never blocked by the work. `stop` (or drop) joins the thread.

use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

struct Slot<J> {
    pending: Option<J>,
    running: bool,
    stop: bool,
}

struct Shared<J> {
    slot: Mutex<Slot<J>>,
    changed: Condvar,
}

impl<J> Shared<J> {
    fn lock(&self) -> MutexGuard<'_, Slot<J>> {
        // A job that panicked leaves no broken invariant in the slot (only flags and a queue of one).
        self.slot.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The worker; see the module documentation.
pub struct LatestWorker<J: Send + 'static> {
    shared: Arc<Shared<J>>,
    thread: Option<JoinHandle<()>>,
}

impl<J: Send + 'static> LatestWorker<J> {
    /// Starts the thread, which calls `run` on each job it takes.
    pub fn spawn(name: &str, mut run: impl FnMut(J) + Send + 'static) -> std::io::Result<Self> {
        let shared = Arc::new(Shared {
            slot: Mutex::new(Slot { pending: None, running: false, stop: false }),
            changed: Condvar::new(),
        });
        let worker = shared.clone();
        let thread = std::thread::Builder::new().name(name.into()).spawn(move || loop {
            let job = {
                let mut slot = worker.lock();
                loop {
                    if slot.stop {
                        return;
                    }
                    if let Some(job) = slot.pending.take() {
                        slot.running = true;
                        break job;
                    }
                    slot = worker.changed.wait(slot).unwrap_or_else(|e| e.into_inner());
                }
            };
            // A panicking job must not take the thread (and later jobs) with it.
            let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| run(job)));
            worker.lock().running = false;
            worker.changed.notify_all();
        })?;
        Ok(Self { shared, thread: Some(thread) })
    }

    /// Queues `job`, replacing the one not started yet (if any).
    pub fn submit(&self, job: J) {
        self.shared.lock().pending = Some(job);
        self.shared.changed.notify_all();
    }

    /// Queues the job that `merge` makes from the one not started yet (if any).
    pub fn submit_with(&self, merge: impl FnOnce(Option<J>) -> J) {
        let mut slot = self.shared.lock();
        let job = merge(slot.pending.take());
        slot.pending = Some(job);
        drop(slot);
        self.shared.changed.notify_all();
    }

    /// Drops the job not started yet.
    pub fn cancel_pending(&self) {
        self.shared.lock().pending = None;
    }

    /// Neither running nor waiting to run anything.
    pub fn is_idle(&self) -> bool {
        let slot = self.shared.lock();
        !slot.running && slot.pending.is_none()
    }

    /// Waits until the worker is idle, at most `timeout`; returns whether it is.
    pub fn wait_idle(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let mut slot = self.shared.lock();
        while slot.running || slot.pending.is_some() {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            slot = self.shared.changed.wait_timeout(slot, left).unwrap_or_else(|e| e.into_inner()).0;
        }
        true
    }

    /// Drops the pending job, lets the running one finish and joins the thread.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        {
            let mut slot = self.shared.lock();
            slot.stop = true;
            slot.pending = None;
        }
        self.shared.changed.notify_all();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl<J: Send + 'static> Drop for LatestWorker<J> {
    fn drop(&mut self) {
        self.shutdown();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;

    #[test]
    fn a_burst_runs_the_first_and_the_last_job_only() {
        let (started_tx, started_rx) = mpsc::channel();
        let (release_tx, release_rx) = mpsc::channel::<()>();
        let (done_tx, done_rx) = mpsc::channel();
        let release_rx = Mutex::new(release_rx);
        let worker = LatestWorker::spawn("test-worker", move |job: u32| {
            started_tx.send(job).unwrap();
            release_rx.lock().unwrap().recv().unwrap();
            done_tx.send(job).unwrap();
        })
        .unwrap();
        worker.submit(1);
        assert_eq!(started_rx.recv().unwrap(), 1);
        // While job 1 runs, 2..=30 arrive: each replaces the one before.
        for job in 2..=30 {
            worker.submit(job);
        }
        assert!(!worker.is_idle());
        release_tx.send(()).unwrap();
        assert_eq!(started_rx.recv().unwrap(), 30, "the latest job wins");
        release_tx.send(()).unwrap();
        assert!(worker.wait_idle(Duration::from_secs(5)));
        assert_eq!(done_rx.try_iter().collect::<Vec<_>>(), [1, 30]);
        // Merging: the pending job is handed to the merge function.
        worker.submit_with(|old| old.unwrap_or(0) + 100);
        assert_eq!(started_rx.recv().unwrap(), 100);
        release_tx.send(()).unwrap();
        assert!(worker.wait_idle(Duration::from_secs(5)));
    }

    #[test]
    fn stop_joins_the_thread_and_drops_the_pending_job() {
        let ran = Arc::new(Mutex::new(Vec::new()));
        let seen = ran.clone();
        let worker = LatestWorker::spawn("test-worker", move |job: u32| {
            std::thread::sleep(Duration::from_millis(50));
            seen.lock().unwrap().push(job);
        })
        .unwrap();
        worker.submit(1);
        std::thread::sleep(Duration::from_millis(10));
        worker.submit(2);
        worker.stop();
        // Job 1 was running and finished; job 2 never started; the thread is gone.
        assert_eq!(*ran.lock().unwrap(), [1]);
    }

    #[test]
    fn a_panicking_job_leaves_the_worker_usable() {
        let (tx, rx) = mpsc::channel();
        let worker = LatestWorker::spawn("test-worker", move |job: u32| {
            assert!(job != 13, "unlucky job");
            tx.send(job).unwrap();
        })
        .unwrap();
        worker.submit(13);
        assert!(worker.wait_idle(Duration::from_secs(5)));
        worker.submit(14);
        assert_eq!(rx.recv_timeout(Duration::from_secs(5)).unwrap(), 14);
    }
}
