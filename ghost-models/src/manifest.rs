// SPDX-License-Identifier: MIT OR Apache-2.0
//! The model manifest (`plugin-data/models.toml`): every known model with its role, file, size,
//! checksum and download locations, and the checks of what is installed.
//!
//! The same file is read by the plugin's build script, so element properties resolve the same
//! names as this command (`ghost_2_256` → `ghost_2_256.onnx`, `w600k_r50` → the member of
//! buffalo_l.zip, ...).

use std::fmt;
use std::fs::{self, File};
use std::io::Read;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use sha2::Digest;

/// The manifest shipped with this build.
pub const BUILTIN_MANIFEST: &str = include_str!("../../plugin-data/models.toml");

/// The exporter that turns official `.pth` checkpoints into ONNX (this command runs from the checkout).
pub fn exporter_script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../plugin-data/tools/export_ghost.py")
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
    /// For a variant made locally: the generator it is made from, and which variant (int8, fp16).
    pub from: Option<String>,
    pub variant: Option<String>,
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
        self.source.is_none() && self.from.is_none()
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
            if e.from.is_some() != e.variant.is_some() {
                return Err(format!("models.toml: '{}' needs both `from` and `variant`, or neither", e.name));
            }
            if let (Some(from), Some(variant)) = (&e.from, &e.variant) {
                if !m.models.iter().any(|b| &b.name == from && b.from.is_none()) {
                    return Err(format!(
                        "models.toml: '{}' is made from '{from}', which is not a downloadable model",
                        e.name
                    ));
                }
                if crate::variants::Variant::from_name(variant).is_none() {
                    return Err(format!("models.toml: '{}' has variant '{variant}'; known: int8, fp16", e.name));
                }
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
        assert_eq!(m.get("w600k_r50").unwrap().file, "w600k_r50.onnx");
    }

    #[test]
    fn checksums_of_a_known_text() {
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
    }
}
