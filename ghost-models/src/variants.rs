// SPDX-License-Identifier: MIT OR Apache-2.0
//! int8 and fp16 variants of a generator, made on this machine from an installed one: the crops of
//! [`crate::calibration`] and `plugin-data/tools/quantize_ghost.py` (ONNX Runtime's static QDQ
//! quantization for int8; onnxconverter-common with float32 inputs and outputs kept for fp16).

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};

use crate::calibration;
use crate::manifest::{Manifest, ModelEntry};
use crate::{Fetched, Fetcher};

/// The variants `export` makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Variant {
    Int8,
    Fp16,
}

impl Variant {
    pub fn from_name(name: &str) -> Option<Variant> {
        match name {
            "int8" => Some(Variant::Int8),
            "fp16" => Some(Variant::Fp16),
            _ => None,
        }
    }

    pub fn suffix(self) -> &'static str {
        match self {
            Variant::Int8 => "int8",
            Variant::Fp16 => "fp16",
        }
    }
}

/// The quantizer script (this command runs from the checkout).
pub fn quantizer_script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../plugin-data/tools/quantize_ghost.py")
}

/// The Python for the tools: `GHOST_PYTHON`, else the checkout's tooling venv (which `./ghost.sh`
/// sets up with onnxruntime and onnxconverter-common), else `python3`.
pub fn tools_python() -> String {
    if let Ok(p) = std::env::var("GHOST_PYTHON") {
        return p;
    }
    let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join("../.venv/bin/python");
    if venv.exists() {
        return venv.display().to_string();
    }
    "python3".into()
}

/// `base` with `_int8` / `_fp16` before its extension.
pub fn variant_path(base: &Path, variant: Variant, out_dir: Option<&Path>) -> PathBuf {
    let stem = base.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "model".into());
    let dir = out_dir.map(Path::to_path_buf).unwrap_or_else(|| base.parent().unwrap_or(Path::new(".")).to_path_buf());
    dir.join(format!("{stem}_{}.onnx", variant.suffix()))
}

/// Makes the variant of the generator `base` at `out`. For int8, the calibration crops are made from
/// `photos` (default: the checkout's test photos, with 8 augmented variants each).
pub fn make_variant(base: &Path, variant: Variant, photos: &[PathBuf], out: &Path) -> Result<()> {
    let python = tools_python();
    let mut args = vec![quantizer_script().display().to_string(), base.display().to_string()];
    let crops_dir;
    match variant {
        Variant::Int8 => {
            crops_dir = tempdir("ghost-calibration")?;
            let crop_args = calibration::Args {
                inputs: photos.to_vec(),
                out: crops_dir.clone(),
                augment: if photos.is_empty() { 8 } else { 2 },
                no_flip: false,
                seed: 0,
                min_face_size: gstghost::models::DetectorParams::DEFAULT.min_face_size,
                score_threshold: 0.9,
            };
            let crops = calibration::run(&crop_args).context("making the calibration crops")?;
            eprintln!("calibrating on {} aligned crops in {}", crops.len(), crops_dir.display());
            args.extend(["--int8".into(), crops_dir.display().to_string()]);
        }
        Variant::Fp16 => args.push("--fp16".into()),
    }
    args.extend(["--out".into(), out.display().to_string()]);
    eprintln!("{python} {}", args.join(" "));
    let status = Command::new(&python)
        .args(&args)
        .status()
        .with_context(|| format!("cannot run {python}; set GHOST_PYTHON to a Python with onnxruntime"))?;
    if !status.success() {
        bail!(
            "{} failed ({status}); it needs onnx, onnxruntime and onnxconverter-common \
             (`./ghost.sh setup` installs them into .venv)",
            quantizer_script().display()
        );
    }
    if !out.is_file() {
        bail!("{} did not write {}", quantizer_script().display(), out.display());
    }
    Ok(())
}

/// A fresh folder under the system temporary folder.
fn tempdir(prefix: &str) -> Result<PathBuf> {
    let dir = std::env::temp_dir().join(format!("{prefix}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    Ok(dir)
}

/// `export`: the variant of `model` (a known name or a path) next to it, or at `out`.
pub fn export(model: &str, variant: Variant, photos: &[PathBuf], out: Option<&Path>) -> Result<PathBuf> {
    let base = gstghost::models::resolve_model(model)?.path().to_path_buf();
    let out = out.map(Path::to_path_buf).unwrap_or_else(|| variant_path(&base, variant, None));
    make_variant(&base, variant, photos, &out)?;
    Ok(out)
}

/// `fetch` of a variant entry: the generator it is made from first (downloaded or exported as
/// that entry says), then the variant from it, into the install folder.
pub fn fetch_variant(fetcher: &Fetcher, manifest: &Manifest, entry: &ModelEntry) -> Result<Fetched> {
    let (Some(from), Some(variant)) = (&entry.from, &entry.variant) else {
        bail!("{} is not a variant", entry.name);
    };
    let variant = Variant::from_name(variant).with_context(|| format!("{}: unknown variant", entry.name))?;
    let target = fetcher.installed_path(entry);
    if target.exists() {
        return Ok(Fetched::AlreadyInstalled(target));
    }
    let base = manifest.get(from).with_context(|| format!("{}: no model '{from}'", entry.name))?;
    let base_path = match fetcher.fetch(base).map_err(|e| anyhow::anyhow!("{e}"))? {
        Fetched::AlreadyInstalled(p) | Fetched::Installed(p) => p,
    };
    std::fs::create_dir_all(&fetcher.install_dir)?;
    make_variant(&base_path, variant, &[], &target)?;
    Ok(Fetched::Installed(target))
}
