// SPDX-License-Identifier: MIT OR Apache-2.0
//! `ghost-models`: list, fetch, verify and locate the models of gst-ghost.
//!
//! ```text
//! cargo run -p ghost-models -- list
//! cargo run -p ghost-models -- fetch ghost_2_256 crossface_ghost
//! cargo run -p ghost-models -- fetch --all-for swap
//! cargo run -p ghost-models -- verify
//! cargo run -p ghost-models -- path
//! cargo run -p ghost-models -- export ghost_2_256 --int8 [PHOTOS_DIR]    # or --fp16
//! cargo run -p ghost-models -- calibration-crops --augment 8 --out DIR [PHOTOS]
//! cargo run -p ghost-models -- triton-repo DIR [--gpu] [--max-batch N] [MODEL ...]
//! ```
//! Environment: `GHOST_MODELS_MIRROR=BASE` downloads every file from `BASE/<file>` instead;
//! `GHOST_PYTHON` is the interpreter for the .pth exporter and the quantizer (default: the checkout's
//! .venv for the quantizer, python3 for the exporter).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use ghost_models::manifest::{self, InstallState, Manifest};
use ghost_models::variants::{self, Variant};
use ghost_models::{triton_repo, Fetched, Fetcher};
use gstghost::models::{model_search_dirs, resolve_model};

#[derive(Parser)]
#[command(name = "ghost-models", about = "List, download, export and verify the models of gst-ghost")]
struct Cli {
    /// Use this manifest instead of the built-in plugin-data/models.toml.
    #[arg(long, global = true)]
    manifest: Option<PathBuf>,
    /// Install into this folder instead of the user model directory.
    #[arg(long, global = true)]
    dir: Option<PathBuf>,
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Print every known model with its role, file, size, checksum and whether it is installed.
    List,
    /// Download (resuming), verify and install models; .pth checkpoints are exported to ONNX.
    Fetch {
        /// Model names (see `list`).
        names: Vec<String>,
        /// Fetch everything a chain needs (swap, swap-official, enhance, mask, detect, ...).
        #[arg(long, value_name = "CHAIN")]
        all_for: Option<String>,
        /// Export .pth checkpoints in fp16 as well as checking them in fp32.
        #[arg(long)]
        fp16: bool,
        /// No progress bar.
        #[arg(long, short)]
        quiet: bool,
    },
    /// Check the checksums of installed models.
    Verify,
    /// Print where models are searched and where `fetch` installs them.
    Path,
    /// Make the int8 (CPUs with VNNI) or fp16 (GPUs) variant of a generator: a known name or an
    /// ONNX file; written next to it (or --out).
    Export {
        /// The fp32 generator: an installed name (ghost_2_256, ...) or a path.
        model: String,
        /// int8, calibrated on aligned crops of the photos in CALIBRATION_DIR (default: the test
        /// photos with augmentations).
        #[arg(long, num_args = 0..=1, value_name = "CALIBRATION_DIR", conflicts_with = "fp16")]
        int8: Option<Option<PathBuf>>,
        /// fp16, with float32 inputs and outputs kept.
        #[arg(long)]
        fp16: bool,
        /// Output file.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Write the aligned 256x256 generator crops of the faces in photos (int8 calibration data).
    CalibrationCrops(ghost_models::calibration::Args),
    /// Write a Triton model repository (DIR/<name>/config.pbtxt, DIR/<name>/1/model.onnx) for the
    /// installed models, or for the models named. MTCNN's networks are served as <folder>_pnet,
    /// <folder>_rnet, <folder>_onet.
    TritonRepo {
        /// The repository folder (created; models of the same name in it are replaced).
        dir: PathBuf,
        /// Model names or paths (files, or folders); default: every installed model of the manifest.
        models: Vec<String>,
        /// GPU instances, with the TensorRT execution accelerator (see --no-tensorrt).
        #[arg(long)]
        gpu: bool,
        /// With --gpu: plain CUDA, no TensorRT accelerator.
        #[arg(long)]
        no_tensorrt: bool,
        /// With --gpu: TensorRT in FP16.
        #[arg(long)]
        fp16: bool,
        /// max_batch_size of the models that take a batch (the dynamic batcher merges requests up to it).
        #[arg(long, default_value_t = 8)]
        max_batch: u32,
        /// The dynamic batcher's max_queue_delay_microseconds (added to a lone stream's latency).
        #[arg(long, default_value_t = 100)]
        queue_delay_us: u32,
        /// Instances per model.
        #[arg(long, default_value_t = 1)]
        instances: u32,
        /// ONNX Runtime intra-op threads per instance.
        #[arg(long, default_value_t = 1)]
        threads: u32,
        /// onnxruntime (deployment) or python (onnxruntime inside Triton's python backend, CPU only:
        /// the variant the tests serve).
        #[arg(long, default_value = "onnxruntime")]
        backend: String,
        /// Symlink model.onnx to the installed file instead of copying it.
        #[arg(long)]
        link: bool,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let manifest = match &cli.manifest {
        Some(p) => match Manifest::load(p) {
            Ok(m) => m,
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::FAILURE;
            }
        },
        None => Manifest::builtin().clone(),
    };
    let fetcher = match &cli.dir {
        Some(d) => Fetcher::new(d.clone()),
        None => match Fetcher::from_env() {
            Ok(f) => f,
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::FAILURE;
            }
        },
    };
    let mut dirs = model_search_dirs();
    if !dirs.contains(&fetcher.install_dir) {
        dirs.insert(0, fetcher.install_dir.clone());
    }
    match cli.command {
        Cmd::List => list(&manifest, &dirs),
        Cmd::Path => {
            println!("install directory (fetch): {}", fetcher.install_dir.display());
            println!("search order for model names:");
            for d in &dirs {
                println!("  {}{}", d.display(), if d.is_dir() { "" } else { "  (absent)" });
            }
            if let Some(m) = &fetcher.mirror {
                println!("mirror (GHOST_MODELS_MIRROR): {m}");
            }
            ExitCode::SUCCESS
        }
        Cmd::Verify => verify(&manifest, &dirs),
        Cmd::Export { model, int8, fp16, out } => {
            let variant = match (&int8, fp16) {
                (Some(_), _) => Variant::Int8,
                (None, true) => Variant::Fp16,
                (None, false) => {
                    eprintln!("error: say which variant: --int8 [CALIBRATION_DIR] or --fp16");
                    return ExitCode::FAILURE;
                }
            };
            let photos: Vec<PathBuf> = int8.flatten().into_iter().collect();
            match variants::export(&model, variant, &photos, out.as_deref()) {
                Ok(path) => {
                    println!("{model}: {} variant written to {}", variant.suffix(), path.display());
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("error: {e:#}");
                    ExitCode::FAILURE
                }
            }
        }
        Cmd::CalibrationCrops(args) => match ghost_models::calibration::run(&args) {
            Ok(files) => {
                println!("wrote {} crops to {}", files.len(), args.out.display());
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("error: {e:#}");
                ExitCode::FAILURE
            }
        },
        Cmd::TritonRepo {
            dir,
            models,
            gpu,
            no_tensorrt,
            fp16,
            max_batch,
            queue_delay_us,
            instances,
            threads,
            backend,
            link,
        } => {
            let backend = match backend.as_str() {
                "onnxruntime" => triton_repo::Backend::OnnxRuntime,
                "python" if !gpu => triton_repo::Backend::Python,
                "python" => {
                    eprintln!("error: the python test backend runs on the CPU; drop --gpu");
                    return ExitCode::FAILURE;
                }
                other => {
                    eprintln!("error: unknown backend '{other}' (onnxruntime or python)");
                    return ExitCode::FAILURE;
                }
            };
            let options = triton_repo::RepoOptions {
                backend,
                gpu,
                tensorrt: !no_tensorrt,
                fp16,
                max_batch,
                queue_delay_us,
                instances,
                threads,
                link,
            };
            triton_repository(&manifest, &dirs, &dir, &models, &options)
        }
        Cmd::Fetch { names, all_for, fp16, quiet } => {
            let mut fetcher = fetcher;
            fetcher.progress = !quiet;
            if fp16 {
                fetcher.export_args.push("--fp16".into());
            }
            let mut wanted: Vec<&manifest::ModelEntry> = Vec::new();
            if let Some(chain) = &all_for {
                let entries = manifest.chain(chain);
                if entries.is_empty() {
                    eprintln!("error: no chain '{chain}'; known chains: {}", manifest.chains().join(", "));
                    return ExitCode::FAILURE;
                }
                wanted.extend(entries);
            }
            for n in &names {
                match manifest.get(n) {
                    Some(e) => wanted.push(e),
                    None => {
                        eprintln!("error: unknown model '{n}'; `ghost-models list` shows the known names");
                        return ExitCode::FAILURE;
                    }
                }
            }
            if wanted.is_empty() {
                eprintln!(
                    "error: name models to fetch, or use --all-for CHAIN (chains: {})",
                    manifest.chains().join(", ")
                );
                return ExitCode::FAILURE;
            }
            let mut failed = 0;
            for e in wanted {
                let fetched = if e.from.is_some() {
                    variants::fetch_variant(&fetcher, &manifest, e).map_err(|e| format!("{e:#}"))
                } else {
                    fetcher.fetch(e).map_err(|e| e.to_string())
                };
                match fetched {
                    Ok(Fetched::AlreadyInstalled(p)) => println!("{}: already installed at {}", e.name, p.display()),
                    Ok(Fetched::Installed(p)) => println!("{}: installed at {}", e.name, p.display()),
                    Err(err) => {
                        eprintln!("error: {err}");
                        failed += 1;
                    }
                }
            }
            if failed > 0 {
                ExitCode::FAILURE
            } else {
                ExitCode::SUCCESS
            }
        }
    }
}

fn list(manifest: &Manifest, dirs: &[PathBuf]) -> ExitCode {
    println!(
        "{:<26} {:<11} {:<18} {:<44} {:<10} {:<17} INSTALLED",
        "NAME", "ROLE", "FAMILY", "FILE", "SIZE", "CHECKSUM"
    );
    for e in &manifest.models {
        let file = match (&e.source, &e.from) {
            (Some(s), _) => format!("{} ({s})", e.file),
            (None, Some(from)) => format!("{} (from {from})", e.file),
            _ => e.file.clone(),
        };
        let size =
            e.size.map(manifest::human_size).unwrap_or_else(|| if e.builtin { "-".into() } else { "unknown".into() });
        let sum = match e.checksum() {
            Some(c) => c.to_string(),
            None if !e.members.is_empty() => "sha256 (files)".into(),
            None => "unknown".into(),
        };
        let installed = match manifest::install_state(e, dirs) {
            Ok(InstallState::Missing) => "no".to_string(),
            Ok(InstallState::Verified(_)) => "yes (verified)".into(),
            Ok(InstallState::Unverified(_)) => "yes".into(),
            Ok(InstallState::Corrupt { .. }) => "CHECKSUM MISMATCH".into(),
            Err(err) => format!("error: {err}"),
        };
        println!("{:<26} {:<11} {:<18} {:<44} {:<10} {:<17} {}", e.name, e.role, e.family, file, size, sum, installed);
    }
    println!();
    println!("chains for `fetch --all-for`: {}", manifest.chains().join(", "));
    println!("sources in parentheses are downloaded and then exported (.pth, needs torch) or unpacked (.zip)");
    ExitCode::SUCCESS
}

fn verify(manifest: &Manifest, dirs: &[PathBuf]) -> ExitCode {
    let (mut bad, mut present) = (0, 0);
    for e in &manifest.models {
        match manifest::install_state(e, dirs) {
            Ok(InstallState::Missing) => {}
            Ok(InstallState::Verified(p)) => {
                present += 1;
                println!("ok          {:<26} {}", e.name, p.display());
            }
            Ok(InstallState::Unverified(p)) => {
                present += 1;
                let why = if !e.installed_is_download() {
                    "exported or unpacked, no published checksum"
                } else {
                    "no published checksum"
                };
                println!("unverified  {:<26} {} ({why})", e.name, p.display());
            }
            Ok(InstallState::Corrupt { path, expected, found }) => {
                present += 1;
                bad += 1;
                println!(
                    "MISMATCH    {:<26} {} (expected {expected}, found {found}); delete it and fetch again",
                    e.name,
                    path.display()
                );
            }
            Err(err) => {
                bad += 1;
                println!("ERROR       {:<26} {err}", e.name);
            }
        }
    }
    println!("{present} installed, {bad} bad");
    if bad > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

fn triton_repository(
    manifest: &Manifest,
    dirs: &[PathBuf],
    out: &std::path::Path,
    names: &[String],
    options: &triton_repo::RepoOptions,
) -> ExitCode {
    let mut paths = Vec::new();
    if names.is_empty() {
        for e in &manifest.models {
            match manifest::install_state(e, dirs) {
                Ok(InstallState::Verified(p) | InstallState::Unverified(p)) => paths.push(p),
                Ok(InstallState::Missing) => {}
                Ok(InstallState::Corrupt { path, .. }) => {
                    eprintln!("skipping {} ({}): checksum mismatch", e.name, path.display())
                }
                Err(err) => eprintln!("skipping {}: {err}", e.name),
            }
        }
        if paths.is_empty() {
            eprintln!("error: no models are installed; fetch some (`ghost-models fetch ...`) or name them");
            return ExitCode::FAILURE;
        }
    }
    for n in names {
        match resolve_model(n) {
            Ok(loc) => paths.push(loc.path().to_path_buf()),
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::FAILURE;
            }
        }
    }
    let mut models = Vec::new();
    for p in &paths {
        match triton_repo::repo_models(p) {
            Ok(m) => models.extend(m),
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::FAILURE;
            }
        }
    }
    match triton_repo::write_repository(out, &models, options) {
        Ok(written) => {
            for w in &written {
                let batching = if w.max_batch > 0 {
                    format!("max_batch_size {}, dynamic batching", w.max_batch)
                } else {
                    "fixed batch".into()
                };
                println!("{}: {batching}", w.name);
            }
            println!("wrote {} models into {}", written.len(), out.display());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
