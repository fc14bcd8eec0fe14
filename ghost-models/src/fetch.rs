// SPDX-License-Identifier: MIT OR Apache-2.0
//! Downloading, verifying and installing manifest entries.
//!
//! Downloads go into the user model directory (`$XDG_DATA_HOME/gst-ghost/models`,
//! docs/architecture.md#name-resolution) through
//! `FILE.part`, resume with HTTP Range requests, are checked against the published size and
//! checksum (sha256, or CRC32 where only that is published) and then renamed into place. A `.pth`
//! source is turned into ONNX by `plugin-data/tools/export_ghost.py`; a `.zip` source gives up one member.
//!
//! `GHOST_MODELS_MIRROR=BASE` replaces every download location with `BASE/<file>` (a local mirror,
//! and how the tests point the downloader at a server on 127.0.0.1).

use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use gstghost::models::{model_search_dirs, user_model_dir};

use crate::manifest::{exporter_script, file_checksum, ModelEntry, EXPORTER_PIP};

#[derive(Debug)]
pub enum FetchError {
    /// No location answered: names the URLs and where to put a manually downloaded file.
    Unreachable {
        name: String,
        urls: Vec<String>,
        errors: Vec<String>,
        manual: PathBuf,
    },
    /// The body stopped early on every attempt; the partial file is kept for the next run.
    Interrupted {
        name: String,
        url: String,
        have: u64,
        part: PathBuf,
        error: String,
    },
    /// The file is complete but its checksum or size is wrong; nothing was installed.
    Mismatch {
        name: String,
        url: String,
        expected: String,
        found: String,
    },
    /// The exporter or archive extraction failed.
    Convert {
        name: String,
        message: String,
    },
    Io {
        name: String,
        message: String,
    },
    Other(String),
}

impl fmt::Display for FetchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FetchError::Unreachable { name, urls, errors, manual } => {
                write!(f, "{name}: could not download")?;
                for (u, e) in urls.iter().zip(errors) {
                    write!(f, "\n  {u}: {e}")?;
                }
                write!(
                    f,
                    "\nIf this machine is offline, download {} on another machine and put it at\n  {}\nthen run this command again (it verifies the file and installs it).",
                    urls.first().map(String::as_str).unwrap_or("the file"),
                    manual.display()
                )
            }
            FetchError::Interrupted { name, url, have, part, error } => write!(
                f,
                "{name}: the download from {url} was interrupted after {have} bytes ({error}); the partial file {} is kept, run the same command again to resume",
                part.display()
            ),
            FetchError::Mismatch { name, url, expected, found } => write!(
                f,
                "{name}: the file downloaded from {url} does not match the manifest (expected {expected}, found {found}); it was deleted and not installed"
            ),
            FetchError::Convert { name, message } => write!(f, "{name}: {message}"),
            FetchError::Io { name, message } => write!(f, "{name}: {message}"),
            FetchError::Other(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for FetchError {}

/// What `fetch` did for one model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fetched {
    AlreadyInstalled(PathBuf),
    Installed(PathBuf),
}

impl Fetched {
    pub fn path(&self) -> &Path {
        match self {
            Fetched::AlreadyInstalled(p) | Fetched::Installed(p) => p,
        }
    }
}

/// Downloads, verifies and installs manifest entries.
pub struct Fetcher {
    pub install_dir: PathBuf,
    /// Replaces every download location with `mirror/<download name>`.
    pub mirror: Option<String>,
    pub progress: bool,
    /// Download attempts per location; each one after the first resumes the partial file.
    pub attempts: u32,
    pub connect_timeout: Duration,
    /// Python interpreter for the exporter and archive extraction.
    pub python: String,
    /// Extra arguments for the exporter (e.g. `--fp16`).
    pub export_args: Vec<String>,
}

impl Fetcher {
    /// A fetcher for the user model directory, honouring `GHOST_MODELS_MIRROR` and `GHOST_PYTHON`.
    pub fn from_env() -> Result<Self, String> {
        let install_dir = user_model_dir().ok_or("neither XDG_DATA_HOME nor HOME is set: no user model directory")?;
        Ok(Self::new(install_dir))
    }

    pub fn new(install_dir: PathBuf) -> Self {
        Self {
            install_dir,
            mirror: std::env::var("GHOST_MODELS_MIRROR").ok().filter(|m| !m.is_empty()),
            progress: true,
            attempts: 3,
            connect_timeout: Duration::from_secs(20),
            python: std::env::var("GHOST_PYTHON").unwrap_or_else(|_| "python3".into()),
            export_args: Vec::new(),
        }
    }

    pub fn installed_path(&self, entry: &ModelEntry) -> PathBuf {
        self.install_dir.join(&entry.file)
    }

    pub fn urls(&self, entry: &ModelEntry) -> Vec<String> {
        match &self.mirror {
            Some(m) => vec![format!("{}/{}", m.trim_end_matches('/'), entry.download_name())],
            None => entry.urls.clone(),
        }
    }

    /// Fetches one entry: download (resuming), verify, install; export or extract where needed.
    pub fn fetch(&self, entry: &ModelEntry) -> Result<Fetched, FetchError> {
        let name = entry.name.clone();
        let io = |e: std::io::Error| FetchError::Io { name: name.clone(), message: e.to_string() };
        let target = self.installed_path(entry);
        if entry.builtin {
            // Built-in models are installed by the set-up, not downloaded here: find them where the
            // elements look.
            if let Some(found) = model_search_dirs().iter().map(|d| d.join(&entry.file)).find(|p| p.exists()) {
                return Ok(Fetched::AlreadyInstalled(found));
            }
            return Err(FetchError::Other(format!(
                "{name} is built in: `./ghost.sh setup` installs it from {} into the checkout's models/ folder \
                 (or put it in a folder of GHOST_MODEL_PATH)",
                entry.urls.join(", ")
            )));
        }
        if target.exists() {
            if entry.installed_is_download() {
                if let Some(sum) = entry.checksum() {
                    let found = file_checksum(&target, &sum).map_err(io)?;
                    if found != sum {
                        return Err(FetchError::Mismatch {
                            name,
                            url: target.display().to_string(),
                            expected: sum.to_string(),
                            found: found.to_string(),
                        });
                    }
                }
            }
            return Ok(Fetched::AlreadyInstalled(target));
        }
        fs::create_dir_all(&self.install_dir).map_err(io)?;
        let download = self.install_dir.join(entry.download_name());
        if !download.exists() {
            self.download(entry, &download)?;
        } else if let Some(sum) = entry.checksum() {
            // A file the user put there by hand: check it like a download.
            let found = file_checksum(&download, &sum).map_err(io)?;
            if found != sum {
                return Err(FetchError::Mismatch {
                    name,
                    url: download.display().to_string(),
                    expected: sum.to_string(),
                    found: found.to_string(),
                });
            }
        }
        if entry.is_pth() {
            self.export(entry, &download, &target)?;
        } else if let Some(member) = &entry.member {
            self.extract(entry, &download, member, &target)?;
        }
        Ok(Fetched::Installed(target))
    }

    fn agent(&self) -> ureq::Agent {
        ureq::Agent::config_builder()
            .timeout_connect(Some(self.connect_timeout))
            .timeout_recv_response(Some(Duration::from_secs(60)))
            .timeout_recv_body(None)
            .build()
            .into()
    }

    /// Downloads into `dest` through `dest.part`, resuming, then verifies and renames.
    fn download(&self, entry: &ModelEntry, dest: &Path) -> Result<(), FetchError> {
        let name = &entry.name;
        let part = part_path(dest);
        let urls = self.urls(entry);
        if urls.is_empty() || urls.iter().all(|u| !u.starts_with("http")) {
            return Err(FetchError::Other(format!("{name}: no download location; put the file at {}", dest.display())));
        }
        let agent = self.agent();
        let mut errors = Vec::new();
        let mut tried = Vec::new();
        for url in urls.iter().filter(|u| u.starts_with("http")) {
            tried.push(url.clone());
            let mut last_interrupt = None;
            let mut reached = false;
            for _ in 0..self.attempts.max(1) {
                match self.download_once(&agent, url, &part, entry.size) {
                    Ok(()) => {
                        return self.finish(entry, url, &part, dest);
                    }
                    Err(Attempt::Unreachable(e)) => {
                        if reached {
                            last_interrupt = Some(e);
                            continue;
                        }
                        errors.push(e);
                        break;
                    }
                    Err(Attempt::Interrupted(e)) => {
                        reached = true;
                        last_interrupt = Some(e);
                    }
                    Err(Attempt::Io(e)) => return Err(FetchError::Io { name: name.clone(), message: e }),
                }
            }
            if let Some(e) = last_interrupt {
                let have = fs::metadata(&part).map(|m| m.len()).unwrap_or(0);
                return Err(FetchError::Interrupted { name: name.clone(), url: url.clone(), have, part, error: e });
            }
        }
        Err(FetchError::Unreachable { name: name.clone(), urls: tried, errors, manual: dest.to_path_buf() })
    }

    /// One request: appends to `part` from its current length.
    fn download_once(&self, agent: &ureq::Agent, url: &str, part: &Path, size: Option<u64>) -> Result<(), Attempt> {
        let have = fs::metadata(part).map(|m| m.len()).unwrap_or(0);
        if let Some(size) = size {
            if have == size {
                return Ok(());
            }
        }
        let mut req = agent.get(url);
        if have > 0 {
            req = req.header("Range", format!("bytes={have}-"));
        }
        let mut resp = match req.call() {
            Ok(r) => r,
            Err(ureq::Error::StatusCode(416)) if have > 0 => {
                // The server has nothing past what we hold: the part file is complete
                // (the checksum decides), unless the size says otherwise.
                return Ok(());
            }
            Err(ureq::Error::StatusCode(code)) => return Err(Attempt::Unreachable(format!("HTTP status {code}"))),
            Err(e) => return Err(Attempt::Unreachable(e.to_string())),
        };
        let status = resp.status().as_u16();
        let header = |n: &str| resp.headers().get(n).and_then(|v| v.to_str().ok()).map(str::to_owned);
        let (start, total) = if status == 206 {
            match header("content-range").as_deref().and_then(parse_content_range) {
                Some((start, total)) if start == have => (start, total),
                _ => {
                    return Err(Attempt::Interrupted(
                        "the server answered the range request with a different range".into(),
                    ))
                }
            }
        } else {
            (0, header("content-length").and_then(|l| l.parse::<u64>().ok()))
        };
        let mut file = if start == 0 { File::create(part) } else { OpenOptions::new().append(true).open(part) }
            .map_err(|e| Attempt::Io(format!("{}: {e}", part.display())))?;
        let total = total.or(size);
        let bar = if self.progress {
            let bar = match total {
                Some(t) => indicatif::ProgressBar::new(t),
                None => indicatif::ProgressBar::new_spinner(),
            };
            bar.set_style(
                indicatif::ProgressStyle::with_template(
                    "{msg:24!} [{bar:32}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
                )
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
                .progress_chars("=> "),
            );
            bar.set_message(
                part.file_name().map(|n| n.to_string_lossy().trim_end_matches(".part").to_string()).unwrap_or_default(),
            );
            bar.set_position(start);
            bar
        } else {
            indicatif::ProgressBar::hidden()
        };
        let mut reader = resp.body_mut().as_reader();
        let mut buf = vec![0u8; 1 << 16];
        let mut got = start;
        loop {
            let n = match reader.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) => {
                    let _ = file.flush();
                    bar.abandon();
                    return Err(Attempt::Interrupted(e.to_string()));
                }
            };
            file.write_all(&buf[..n]).map_err(|e| Attempt::Io(format!("{}: {e}", part.display())))?;
            got += n as u64;
            bar.set_position(got);
        }
        file.flush().map_err(|e| Attempt::Io(e.to_string()))?;
        file.sync_all().ok();
        bar.finish();
        if let Some(t) = total {
            if got < t {
                return Err(Attempt::Interrupted(format!("the body ended at {got} of {t} bytes")));
            }
        }
        Ok(())
    }

    /// Verifies the complete part file and renames it into place.
    fn finish(&self, entry: &ModelEntry, url: &str, part: &Path, dest: &Path) -> Result<(), FetchError> {
        let name = entry.name.clone();
        let io = |e: std::io::Error| FetchError::Io { name: name.clone(), message: e.to_string() };
        let len = fs::metadata(part).map_err(io)?.len();
        if let Some(size) = entry.size {
            if len != size {
                let _ = fs::remove_file(part);
                return Err(FetchError::Mismatch {
                    name,
                    url: url.into(),
                    expected: format!("{size} bytes"),
                    found: format!("{len} bytes"),
                });
            }
        }
        if let Some(sum) = entry.checksum() {
            let found = file_checksum(part, &sum).map_err(io)?;
            if found != sum {
                let _ = fs::remove_file(part);
                return Err(FetchError::Mismatch {
                    name,
                    url: url.into(),
                    expected: sum.to_string(),
                    found: found.to_string(),
                });
            }
        }
        fs::rename(part, dest).map_err(io)
    }

    fn export(&self, entry: &ModelEntry, pth: &Path, target: &Path) -> Result<(), FetchError> {
        let name = entry.name.clone();
        let kind = entry.export.as_deref().unwrap_or_default();
        let mut args: Vec<String> = vec![exporter_script().display().to_string()];
        match kind {
            "generator-1" | "generator-2" | "generator-3" => {
                args.extend([
                    "--generator".into(),
                    pth.display().to_string(),
                    "--blocks".into(),
                    kind[10..].to_string(),
                ]);
            }
            "arcface" => args.extend(["--arcface".into(), pth.display().to_string()]),
            "sr" => args.extend(["--sr".into(), pth.display().to_string()]),
            other => return Err(FetchError::Convert { name, message: format!("unknown export kind '{other}'") }),
        }
        let out_dir = target.parent().unwrap_or(Path::new("."));
        let file_name = target.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        args.extend(["--out".into(), out_dir.display().to_string(), "--name".into(), file_name]);
        args.extend(self.export_args.iter().cloned());
        let probe = Command::new(&self.python).args(["-c", "import torch, onnx"]).output();
        match probe {
            Ok(o) if o.status.success() => {}
            Ok(_) => {
                return Err(FetchError::Convert {
                    name,
                    message: format!(
                        "{} is downloaded to {}; exporting it to ONNX needs PyTorch and onnx for {}:\n  {EXPORTER_PIP}\nthen run this command again",
                        entry.download_name(),
                        pth.display(),
                        self.python
                    ),
                })
            }
            Err(e) => {
                return Err(FetchError::Convert {
                    name,
                    message: format!("cannot run {} for the exporter ({e}); set GHOST_PYTHON to a Python with torch and onnx", self.python),
                })
            }
        }
        eprintln!("exporting {} with {} {}", pth.display(), self.python, args.join(" "));
        let status = Command::new(&self.python).args(&args).status().map_err(|e| FetchError::Convert {
            name: name.clone(),
            message: format!("cannot run the exporter: {e}"),
        })?;
        if !status.success() || !target.is_file() {
            return Err(FetchError::Convert {
                name,
                message: format!("the exporter failed ({status}); see its output above"),
            });
        }
        Ok(())
    }

    fn extract(&self, entry: &ModelEntry, archive: &Path, member: &str, target: &Path) -> Result<(), FetchError> {
        let name = entry.name.clone();
        let tmp = part_path(target);
        const SCRIPT: &str = "import sys, zipfile, os\nz = zipfile.ZipFile(sys.argv[1])\nm = [n for n in z.namelist() if os.path.basename(n) == sys.argv[2]]\nif not m: sys.exit('no member ' + sys.argv[2] + ' in ' + sys.argv[1])\nopen(sys.argv[3], 'wb').write(z.read(m[0]))\n";
        let out = Command::new(&self.python).args(["-c", SCRIPT]).arg(archive).arg(member).arg(&tmp).output().map_err(
            |e| FetchError::Convert {
                name: name.clone(),
                message: format!("cannot run {} to unpack {}: {e}", self.python, archive.display()),
            },
        )?;
        if !out.status.success() {
            let _ = fs::remove_file(&tmp);
            return Err(FetchError::Convert {
                name,
                message: format!(
                    "unpacking {member} from {} failed: {}",
                    archive.display(),
                    String::from_utf8_lossy(&out.stderr).trim()
                ),
            });
        }
        fs::rename(&tmp, target).map_err(|e| FetchError::Io { name, message: e.to_string() })
    }
}

enum Attempt {
    /// Nothing came back (connection refused, DNS, HTTP error status).
    Unreachable(String),
    /// The body started but stopped early.
    Interrupted(String),
    Io(String),
}

/// `dest` with `.part` appended to its file name.
pub fn part_path(dest: &Path) -> PathBuf {
    let mut name = dest.file_name().map(|n| n.to_os_string()).unwrap_or_default();
    name.push(".part");
    dest.with_file_name(name)
}

/// Parses `bytes START-END/TOTAL` (TOTAL may be `*`).
fn parse_content_range(v: &str) -> Option<(u64, Option<u64>)> {
    let rest = v.trim().strip_prefix("bytes")?.trim();
    let (range, total) = rest.split_once('/')?;
    let (start, _) = range.split_once('-')?;
    Some((start.trim().parse().ok()?, total.trim().parse().ok()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_ranges_and_part_paths() {
        assert_eq!(parse_content_range("bytes 100-199/200"), Some((100, Some(200))));
        assert_eq!(parse_content_range("bytes 5-9/*"), Some((5, None)));
        assert_eq!(parse_content_range("items 1-2/3"), None);
        assert_eq!(part_path(Path::new("/a/b.onnx")), PathBuf::from("/a/b.onnx.part"));
    }
}
