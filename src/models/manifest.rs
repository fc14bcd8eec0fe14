//! The model manifest (`plugin-data/models.toml`) and the downloader behind `ghost-models`.
//!
//! The manifest is compiled in, so element properties resolve the same names as the command
//! (`ghost_2_256` → `ghost_2_256.onnx`, `w600k_r50` → the member of buffalo_l.zip, ...).
//! Downloads go into the user model directory (`$XDG_DATA_HOME/gst-ghost/models`, DESIGN.md §5)
//! through `FILE.part`, resume with HTTP Range requests, are checked against the published size and
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

use serde::Deserialize;
use sha2::Digest;

/// The manifest shipped with this build.
pub const BUILTIN_MANIFEST: &str = include_str!("../../plugin-data/models.toml");

/// The exporter that turns official `.pth` checkpoints into ONNX.
pub fn exporter_script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("plugin-data/tools/export_ghost.py")
}

/// The pip line that installs what the exporter needs.
pub const EXPORTER_PIP: &str =
    "python3 -m pip install torch onnx   (or: pip install -r plugin-data/tools/requirements-export.txt)";

#[derive(Debug, Clone, Deserialize)]
pub struct Manifest {
    #[serde(rename = "model")]
    pub models: Vec<ModelEntry>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelEntry {
    pub name: String,
    pub role: String,
    pub family: String,
    /// The file (or folder) installed and loaded by the elements.
    pub file: String,
    /// The downloaded file when it differs from `file` (a .pth checkpoint or a .zip pack).
    pub source: Option<String>,
    /// The file inside a .zip `source` that becomes `file`.
    pub member: Option<String>,
    /// What the exporter builds from a .pth source.
    pub export: Option<String>,
    pub size: Option<u64>,
    pub sha256: Option<String>,
    pub crc32: Option<String>,
    /// What is not known about the entry, said instead of invented.
    pub unknown: Option<String>,
    pub licence: String,
    #[serde(default)]
    pub urls: Vec<String>,
    #[serde(default)]
    pub chains: Vec<String>,
    #[serde(default)]
    pub builtin: bool,
    #[serde(default)]
    pub members: Vec<Member>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Member {
    pub file: String,
    pub sha256: Option<String>,
}

/// A published checksum of a downloaded file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Checksum {
    Sha256(String),
    Crc32(String),
}

impl fmt::Display for Checksum {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Checksum::Sha256(h) => write!(f, "sha256:{h}"),
            Checksum::Crc32(h) => write!(f, "crc32:{h}"),
        }
    }
}

impl ModelEntry {
    /// The file that is downloaded: `source`, else `file`.
    pub fn download_name(&self) -> &str {
        self.source.as_deref().unwrap_or(&self.file)
    }

    /// The strongest published checksum of the downloaded file.
    pub fn checksum(&self) -> Option<Checksum> {
        if let Some(h) = &self.sha256 {
            return Some(Checksum::Sha256(h.to_ascii_lowercase()));
        }
        self.crc32.as_ref().map(|h| Checksum::Crc32(h.to_ascii_lowercase()))
    }

    /// Whether the installed file is the downloaded one (so its checksum applies to it).
    pub fn installed_is_download(&self) -> bool {
        self.source.is_none()
    }

    pub fn is_pth(&self) -> bool {
        self.download_name().ends_with(".pth")
    }
}

impl Manifest {
    pub fn parse(text: &str) -> Result<Self, String> {
        let m: Manifest = toml::from_str(text).map_err(|e| format!("models.toml: {e}"))?;
        let mut seen = std::collections::HashSet::new();
        for e in &m.models {
            if !seen.insert(e.name.as_str()) {
                return Err(format!("models.toml: the name '{}' appears twice", e.name));
            }
            if e.member.is_some() && !e.download_name().ends_with(".zip") {
                return Err(format!("models.toml: '{}' has a member but its source is not a .zip", e.name));
            }
            if e.is_pth() && e.export.is_none() {
                return Err(format!("models.toml: '{}' downloads a .pth but says nothing to export", e.name));
            }
        }
        Ok(m)
    }

    /// The manifest compiled into this build.
    pub fn builtin() -> &'static Manifest {
        static M: std::sync::OnceLock<Manifest> = std::sync::OnceLock::new();
        M.get_or_init(|| Manifest::parse(BUILTIN_MANIFEST).expect("plugin-data/models.toml is valid"))
    }

    pub fn load(path: &Path) -> Result<Self, String> {
        let text = fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        Self::parse(&text)
    }

    pub fn get(&self, name: &str) -> Option<&ModelEntry> {
        self.models.iter().find(|e| e.name == name)
    }

    /// The entries of a chain (`fetch --all-for CHAIN`), in manifest order.
    pub fn chain(&self, chain: &str) -> Vec<&ModelEntry> {
        self.models.iter().filter(|e| e.chains.iter().any(|c| c == chain)).collect()
    }

    pub fn chains(&self) -> Vec<String> {
        let mut all: Vec<String> = Vec::new();
        for e in &self.models {
            for c in &e.chains {
                if !all.contains(c) {
                    all.push(c.clone());
                }
            }
        }
        all
    }
}

/// The file name a known model name installs as, for `resolve_model`.
pub fn known_file(name: &str) -> Option<&'static str> {
    Manifest::builtin().get(name).map(|e| e.file.as_str())
}

/// The user model directory (DESIGN.md §5): `$XDG_DATA_HOME/gst-ghost/models`, default
/// `~/.local/share/gst-ghost/models`. `fetch` installs here.
pub fn user_model_dir() -> Option<PathBuf> {
    std::env::var_os("XDG_DATA_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".local/share")))
        .map(|d| d.join("gst-ghost/models"))
}

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
            let checkout = Path::new(env!("CARGO_MANIFEST_DIR")).join("models").join(&entry.file);
            if checkout.exists() {
                return Ok(Fetched::AlreadyInstalled(checkout));
            }
            return Err(FetchError::Other(format!(
                "{name} is built in: `./ghost.sh setup` installs it from {} into {}",
                entry.urls.join(", "),
                checkout.display()
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

/// The checksum of a file, of the same kind as `like`.
pub fn file_checksum(path: &Path, like: &Checksum) -> std::io::Result<Checksum> {
    let mut f = File::open(path)?;
    let mut buf = vec![0u8; 1 << 20];
    match like {
        Checksum::Sha256(_) => {
            let mut h = sha2::Sha256::new();
            loop {
                let n = f.read(&mut buf)?;
                if n == 0 {
                    break;
                }
                h.update(&buf[..n]);
            }
            Ok(Checksum::Sha256(h.finalize().iter().map(|b| format!("{b:02x}")).collect()))
        }
        Checksum::Crc32(_) => {
            let mut h = crc32fast::Hasher::new();
            loop {
                let n = f.read(&mut buf)?;
                if n == 0 {
                    break;
                }
                h.update(&buf[..n]);
            }
            Ok(Checksum::Crc32(format!("{:08x}", h.finalize())))
        }
    }
}

/// The state of one installed model, for `verify` and `list`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InstallState {
    Missing,
    /// Present and matching the published checksum.
    Verified(PathBuf),
    /// Present; no published checksum applies (exported from a .pth, unpacked, or none published).
    Unverified(PathBuf),
    /// Present with the wrong checksum.
    Corrupt {
        path: PathBuf,
        expected: String,
        found: String,
    },
}

/// Finds an installed model in the given folders (the element search order) and checks it.
pub fn install_state(entry: &ModelEntry, dirs: &[PathBuf]) -> std::io::Result<InstallState> {
    let Some(path) = dirs.iter().map(|d| d.join(&entry.file)).find(|p| p.exists()) else {
        return Ok(InstallState::Missing);
    };
    if !entry.members.is_empty() {
        for m in &entry.members {
            let p = path.join(&m.file);
            if !p.is_file() {
                return Ok(InstallState::Corrupt { path, expected: m.file.clone(), found: "missing".into() });
            }
            if let Some(h) = &m.sha256 {
                let sum = Checksum::Sha256(h.to_ascii_lowercase());
                let found = file_checksum(&p, &sum)?;
                if found != sum {
                    return Ok(InstallState::Corrupt { path: p, expected: sum.to_string(), found: found.to_string() });
                }
            }
        }
        return Ok(InstallState::Verified(path));
    }
    match (entry.installed_is_download(), entry.checksum()) {
        (true, Some(sum)) => {
            let found = file_checksum(&path, &sum)?;
            if found == sum {
                Ok(InstallState::Verified(path))
            } else {
                Ok(InstallState::Corrupt { path, expected: sum.to_string(), found: found.to_string() })
            }
        }
        _ => Ok(InstallState::Unverified(path)),
    }
}

/// Human-readable byte count.
pub fn human_size(n: u64) -> String {
    const UNITS: [&str; 4] = ["B", "KB", "MB", "GB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1000.0 && u < UNITS.len() - 1 {
        v /= 1000.0;
        u += 1;
    }
    if u == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_manifest_parses_and_names_the_issue_models() {
        let m = Manifest::builtin();
        for name in [
            "ghost_unet_1block",
            "ghost_unet_2blocks",
            "ghost_unet_3blocks",
            "arcface_ghost_iresnet100",
            "ghost_sr_lipspade",
            "scrfd_10g_bnkps",
            "ghost_1_256",
            "ghost_2_256",
            "ghost_3_256",
            "arcface_w600k_r50",
            "crossface_ghost",
            "arcface_converter_ghost",
            "det_10g",
            "2d106det",
            "w600k_r50",
            "gfpgan_1.4",
            "gpen_bfr_512",
            "bisenet_resnet_34",
            "mtcnn",
        ] {
            let e = m.get(name).unwrap_or_else(|| panic!("{name} missing"));
            // Every entry either has a checksum (or is exported/unpacked) or says what is unknown.
            assert!(e.checksum().is_some() || e.unknown.is_some() || !e.members.is_empty(), "{name}");
            assert!(!e.urls.is_empty(), "{name}");
        }
        assert_eq!(m.get("ghost_2_256").unwrap().checksum(), Some(Checksum::Crc32("72136a0e".into())));
        let swap: Vec<&str> = m.chain("swap").iter().map(|e| e.name.as_str()).collect();
        assert_eq!(swap, ["ghost_2_256", "arcface_w600k_r50", "crossface_ghost"]);
        assert_eq!(known_file("w600k_r50"), Some("w600k_r50.onnx"));
    }

    #[test]
    fn content_range_and_checksums() {
        assert_eq!(parse_content_range("bytes 100-199/200"), Some((100, Some(200))));
        assert_eq!(parse_content_range("bytes 5-9/*"), Some((5, None)));
        assert_eq!(parse_content_range("items 1-2/3"), None);
        let dir = std::env::temp_dir().join(format!("ghost-manifest-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let p = dir.join("x.bin");
        fs::write(&p, b"The quick brown fox jumps over the lazy dog").unwrap();
        assert_eq!(file_checksum(&p, &Checksum::Crc32(String::new())).unwrap(), Checksum::Crc32("414fa339".into()));
        assert_eq!(
            file_checksum(&p, &Checksum::Sha256(String::new())).unwrap(),
            Checksum::Sha256("d7a8fbb307d7809469ca9abcb0082e4f8d5651e46d3cdb762d02d0bf37c9e592".into())
        );
        fs::remove_dir_all(&dir).ok();
        assert_eq!(part_path(Path::new("/a/b.onnx")), PathBuf::from("/a/b.onnx.part"));
    }
}
