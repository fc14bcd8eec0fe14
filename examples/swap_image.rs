// SPDX-License-Identifier: MIT OR Apache-2.0
//! Swaps the face of a source photo onto the faces of a target photo and writes a PNG.
//!
//!     cargo run --example swap_image -- --source tests/data/biden.jpg --target tests/data/obama.jpg --out out/swapped.png

#[path = "common/mod.rs"]
mod common;

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Parser;

#[derive(Parser, Debug, Clone)]
#[command(about = "Swap the face of --source onto the faces in --target and write a PNG")]
pub struct Args {
    #[command(flatten)]
    pub swap: common::SwapOpts,
    /// Photo whose faces are replaced (PNG/JPEG)
    #[arg(long)]
    pub target: PathBuf,
    /// Output PNG
    #[arg(long, default_value = "out/swapped.png")]
    pub out: PathBuf,
}

/// Runs the swap; returns the number of faces swapped.
pub fn run(args: &Args) -> Result<usize> {
    common::init()?;
    anyhow::ensure!(args.swap.source.is_file(), "source photo {} not found", args.swap.source.display());
    anyhow::ensure!(args.target.is_file(), "target photo {} not found", args.target.display());
    if let Some(dir) = args.out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let model = common::choose_model(args.swap.model.as_deref());
    if args.swap.enhancer.is_some() {
        common::require(&["ghostfaceenhance"])?;
    }
    let desc = format!(
        "filesrc location={} ! decodebin ! {} ! pngenc ! filesink location={}",
        common::q(args.target.display().to_string()),
        common::swap_chain(&args.swap, &model),
        common::q(args.out.display().to_string())
    );
    let pipeline = common::parse(&desc)?;
    let swapped = common::count_swapped_faces(&pipeline, "blend");
    common::play(&pipeline, Some(std::time::Duration::from_secs(300)))?;
    let n = swapped.load(std::sync::atomic::Ordering::Relaxed);
    if n == 0 {
        eprintln!("warning: no face was swapped (no face found in the target photo?)");
    }
    println!("swapped {n} face(s) with model {model}; wrote {}", args.out.display());
    Ok(n)
}

#[allow(dead_code)]
fn main() -> Result<()> {
    run(&Args::parse()).map(|_| ())
}
