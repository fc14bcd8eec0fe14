// SPDX-License-Identifier: MIT OR Apache-2.0
//! Running the parts of one piece of work at once on scoped threads.

/// Runs every job, the last one on the calling thread and the others on scoped threads, and returns
/// when all have finished; a panic in any job is raised again here with its own payload.
pub(crate) fn run_all<F: FnOnce() + Send>(jobs: impl IntoIterator<Item = F>) {
    let mut jobs: Vec<F> = jobs.into_iter().collect();
    let last = jobs.pop();
    std::thread::scope(|s| {
        let workers: Vec<_> = jobs.into_iter().map(|job| s.spawn(job)).collect();
        if let Some(job) = last {
            job();
        }
        for worker in workers {
            if let Err(panic) = worker.join() {
                std::panic::resume_unwind(panic);
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_job_runs_and_a_panic_keeps_its_message() {
        let mut out = vec![0; 5];
        run_all(out.chunks_mut(2).enumerate().map(|(k, c)| move || c.fill(k + 1)));
        assert_eq!(out, [1, 1, 2, 2, 3]);
        let caught = std::panic::catch_unwind(|| run_all([|| panic!("first part failed"), || ()]));
        assert_eq!(caught.unwrap_err().downcast_ref::<&str>(), Some(&"first part failed"));
    }
}
