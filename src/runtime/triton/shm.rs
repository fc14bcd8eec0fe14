// SPDX-License-Identifier: MIT OR Apache-2.0
//! POSIX shared memory for Triton's system shared-memory extension (the same-host fast path).
//!
//! On Linux `shm_open("/NAME")` is the file /dev/shm/NAME, so a file created there and mapped with
//! memmap2 is the object the server opens with the key "/NAME". Names carry this process's id; a region
//! is unlinked when dropped, and regions left by processes that no longer exist are removed when the
//! first region of a process is made.

use std::fs::{self, OpenOptions};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Once;

use memmap2::MmapMut;

const DIR: &str = "/dev/shm";
const PREFIX: &str = "gst-ghost-";

pub(crate) struct ShmRegion {
    name: String,
    path: PathBuf,
    map: MmapMut,
}

impl std::fmt::Debug for ShmRegion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ShmRegion({}, {} bytes)", self.name, self.map.len())
    }
}

/// Removes /dev/shm/gst-ghost-PID-* of processes that are gone (a crashed pipeline cannot unlink its own).
fn sweep_stale() {
    let Ok(entries) = fs::read_dir(DIR) else { return };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(rest) = name.to_str().and_then(|n| n.strip_prefix(PREFIX)) else { continue };
        let Some(pid) = rest.split('-').next().and_then(|p| p.parse::<u32>().ok()) else { continue };
        if !std::path::Path::new(&format!("/proc/{pid}")).exists() {
            let _ = fs::remove_file(entry.path());
        }
    }
}

impl ShmRegion {
    /// Creates a new region of `len` bytes (a fresh name each time: a region is never reused after a
    /// server restart, so a late write of an abandoned request cannot land in a live one).
    pub(crate) fn create(len: usize) -> Result<Self, String> {
        static SWEEP: Once = Once::new();
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        SWEEP.call_once(sweep_stale);
        let name = format!("{PREFIX}{}-{}", std::process::id(), COUNTER.fetch_add(1, Ordering::Relaxed));
        let path = PathBuf::from(DIR).join(&name);
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&path)
            .map_err(|e| format!("cannot create {}: {e}", path.display()))?;
        let mapped = file.set_len(len.max(1) as u64).and_then(|_| {
            // SAFETY: the file was created just now with O_EXCL under a name unique to this process and has
            // the length set above. The only other writer is the inference server, which writes the output
            // ranges a request names while that request is in flight; the region is read only after the
            // response arrived, and a region whose request was abandoned is replaced, never read again.
            unsafe { MmapMut::map_mut(&file) }
        });
        match mapped {
            Ok(map) => Ok(Self { name, path, map }),
            Err(e) => {
                let _ = fs::remove_file(&path);
                Err(format!("cannot map {}: {e}", path.display()))
            }
        }
    }

    /// The region's name on the server.
    pub(crate) fn name(&self) -> &str {
        &self.name
    }

    /// The key the server passes to shm_open.
    pub(crate) fn key(&self) -> String {
        format!("/{}", self.name)
    }

    pub(crate) fn len(&self) -> usize {
        self.map.len()
    }

    /// Copies `data` to `offset` (little-endian f32, the protocol's byte order).
    pub(crate) fn write(&mut self, offset: usize, data: &[f32]) -> Result<(), String> {
        let bytes: &[u8] = bytemuck::cast_slice(data);
        let len = self.map.len();
        let dst = self
            .map
            .get_mut(offset..offset + bytes.len())
            .ok_or_else(|| format!("{} bytes at {offset} do not fit the region of {len}", bytes.len()))?;
        dst.copy_from_slice(bytes);
        Ok(())
    }

    /// `count` floats at `offset` (a multiple of 4 in a page-aligned mapping).
    pub(crate) fn read(&self, offset: usize, count: usize) -> Result<&[f32], String> {
        let bytes = self
            .map
            .get(offset..offset + count * 4)
            .ok_or_else(|| format!("{count} floats at {offset} lie outside the region of {}", self.map.len()))?;
        bytemuck::try_cast_slice(bytes).map_err(|e| format!("unaligned shared-memory output at {offset}: {e}"))
    }
}

impl Drop for ShmRegion {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_region_round_trips_floats_and_is_unlinked_on_drop() {
        let mut r = ShmRegion::create(64).unwrap();
        assert!(r.name().starts_with(&format!("gst-ghost-{}-", std::process::id())));
        assert_eq!(r.key(), format!("/{}", r.name()));
        let path = PathBuf::from(DIR).join(r.name());
        assert!(path.exists());
        r.write(8, &[1.5, -2.0]).unwrap();
        assert_eq!(r.read(8, 2).unwrap(), &[1.5, -2.0]);
        assert!(r.write(60, &[1.0, 2.0]).is_err());
        assert!(r.read(64, 1).is_err());
        drop(r);
        assert!(!path.exists());
    }

    #[test]
    fn regions_of_dead_processes_are_swept() {
        // No process has pid 4_000_000_000 (pid_max is at most 2^22).
        let stale = PathBuf::from(DIR).join(format!("{PREFIX}4000000000-0"));
        fs::write(&stale, b"x").unwrap();
        let own = ShmRegion::create(8).unwrap();
        sweep_stale();
        assert!(!stale.exists());
        assert!(PathBuf::from(DIR).join(own.name()).exists());
    }
}
