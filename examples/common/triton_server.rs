// SPDX-License-Identifier: MIT OR Apache-2.0
//! A real NVIDIA Triton Inference Server for the tests and the benchmark: a model repository written by
//! `ghost_models::triton_repo` (python backend) served by `plugin-data/tools/serve_triton.py` with the
//! `tritonserver` of the nvidia-pytriton wheel that `./ghost.sh` installs (`GHOST_TRITON_PYTHON`).
//!
//! The server runs in its own process group on 127.0.0.1 with free ports; it is stopped (and whatever is
//! left of its group killed, its shared memory removed) when dropped, and it stops by itself when this
//! process dies (its stdin is a pipe from here).
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use ghost_models::triton_repo::{self, Backend, RepoModel, RepoOptions};

const READY_TIMEOUT: Duration = Duration::from_secs(180);

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The interpreter of the test-server venv.
pub fn python() -> PathBuf {
    std::env::var_os("GHOST_TRITON_PYTHON").map(PathBuf::from).unwrap_or_else(|| root().join(".deps/triton/bin/python"))
}

/// Writes a python-backend repository serving `files` (model files, or an MTCNN folder) into `dir`, each
/// under `prefix` + the name `triton-repo` gives it (a prefix makes sure a test cannot pass by running the
/// model in-process: the served names do not resolve to local files).
pub fn write_repo(dir: &Path, files: &[PathBuf], options: RepoOptions, prefix: &str) -> Vec<String> {
    let _ = std::fs::remove_dir_all(dir);
    let mut models: Vec<RepoModel> = Vec::new();
    for f in files {
        models.extend(triton_repo::repo_models(f).unwrap_or_else(|e| panic!("{e}")));
    }
    for m in &mut models {
        m.name = format!("{prefix}{}", m.name);
    }
    let options = RepoOptions { backend: Backend::Python, link: true, ..options };
    let written = triton_repo::write_repository(dir, &models, &options).unwrap_or_else(|e| panic!("{e}"));
    written.into_iter().map(|w| w.name).collect()
}

pub struct TritonServer {
    child: Child,
    stdin: Option<ChildStdin>,
    repo: PathBuf,
    log: PathBuf,
    /// `grpc://127.0.0.1:PORT`
    pub address: String,
    pub grpc_port: u16,
    /// The prefix of the python backend's shared-memory regions and the script's work folder (removed after
    /// a kill).
    shm_prefix: String,
    work: String,
    pub started_in: Duration,
}

impl TritonServer {
    /// Starts a server on `repo` (gRPC on `grpc_port`, or a free one), retrying once (a free port can be
    /// taken between its choice and the bind). Panics with the server's log when it cannot start:
    /// skipping is not an option.
    pub fn start(repo: &Path, grpc_port: Option<u16>, log: &Path) -> Self {
        match Self::try_start(repo, grpc_port, log) {
            Ok(s) => s,
            Err(first) => {
                eprintln!("the test inference server did not start ({first}); trying once more");
                Self::try_start(repo, grpc_port, log).unwrap_or_else(|e| {
                    let text = std::fs::read_to_string(log).unwrap_or_default();
                    let tail: Vec<&str> = text.lines().rev().take(40).collect();
                    panic!(
                        "the test inference server did not start: {e}\n(./ghost.sh setup installs it into \
                         .deps/triton; GHOST_TRITON_PYTHON={})\nlast lines of {}:\n{}",
                        python().display(),
                        log.display(),
                        tail.into_iter().rev().collect::<Vec<_>>().join("\n")
                    )
                })
            }
        }
    }

    fn try_start(repo: &Path, grpc_port: Option<u16>, log: &Path) -> Result<Self, String> {
        let t0 = Instant::now();
        let script = root().join("plugin-data/tools/serve_triton.py");
        let log_file = std::fs::File::create(log).map_err(|e| format!("{}: {e}", log.display()))?;
        let mut cmd = Command::new(python());
        cmd.arg(&script).arg(repo).arg("--exit-on-stdin-eof");
        if let Some(p) = grpc_port {
            cmd.arg(format!("--grpc-port={p}"));
        }
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(log_file)
            .process_group(0)
            .spawn()
            .map_err(|e| format!("cannot run {}: {e}", python().display()))?;
        let stdout = child.stdout.take().expect("piped");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let ready = loop {
            match rx.recv_timeout(READY_TIMEOUT.saturating_sub(t0.elapsed())) {
                Ok(line) if line.starts_with("READY ") => break line,
                Ok(_) => continue,
                Err(_) => {
                    kill_group(child.id(), libc::SIGKILL);
                    let _ = child.wait();
                    return Err(format!("no READY line within {READY_TIMEOUT:?}"));
                }
            }
        };
        let field = |key: &str| {
            ready.split_whitespace().find_map(|kv| kv.strip_prefix(key)).map(str::to_string).unwrap_or_default()
        };
        let grpc = field("grpc=");
        let grpc_port = grpc.rsplit(':').next().and_then(|p| p.parse().ok()).ok_or(format!("bad line {ready}"))?;
        Ok(Self {
            stdin: child.stdin.take(),
            child,
            repo: repo.to_path_buf(),
            log: log.to_path_buf(),
            address: format!("grpc://{grpc}"),
            grpc_port,
            shm_prefix: field("shm_prefix="),
            work: field("work="),
            started_in: t0.elapsed(),
        })
    }

    /// A crash: SIGKILL to the whole group (script, tritonserver, backend stubs).
    pub fn kill(&mut self) {
        kill_group(self.child.id(), libc::SIGKILL);
        let _ = self.child.wait();
        self.remove_leftovers();
    }

    /// Starts the server again on the same port (after `kill`).
    pub fn restart(&mut self) {
        let log = self.log.with_extension("restart.log");
        let fresh = Self::start(&self.repo, Some(self.grpc_port), &log);
        let old = std::mem::replace(self, fresh);
        drop(old);
    }

    /// A hung server: SIGSTOP (true) or SIGCONT (false) to the whole group.
    pub fn pause(&self, stop: bool) {
        kill_group(self.child.id(), if stop { libc::SIGSTOP } else { libc::SIGCONT });
    }

    /// Clean stop: stdin closed (the script stops tritonserver), then the group is killed after 30 s at most.
    pub fn stop(&mut self) {
        self.stdin.take();
        let t0 = Instant::now();
        while t0.elapsed() < Duration::from_secs(30) {
            if !matches!(self.child.try_wait(), Ok(None)) {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        kill_group(self.child.id(), libc::SIGKILL);
        let _ = self.child.wait();
        self.remove_leftovers();
    }

    fn remove_leftovers(&self) {
        if !self.work.is_empty() {
            let _ = std::fs::remove_dir_all(&self.work);
        }
        if self.shm_prefix.is_empty() {
            return;
        }
        if let Ok(entries) = std::fs::read_dir("/dev/shm") {
            for e in entries.flatten() {
                if e.file_name().to_string_lossy().starts_with(&self.shm_prefix) {
                    let _ = std::fs::remove_file(e.path());
                }
            }
        }
    }
}

impl Drop for TritonServer {
    fn drop(&mut self) {
        // Continue a paused group first: a stopped process does not act on the stdin EOF.
        self.pause(false);
        self.stop();
    }
}

fn kill_group(pid: u32, signal: i32) {
    // SAFETY: kill(2) with a negative pid signals the process group that `process_group(0)` made for the
    // child (its id is the group's id); no memory is involved.
    unsafe {
        libc::kill(-(pid as i32), signal);
    }
}
