// SPDX-License-Identifier: MIT OR Apache-2.0
//! GHOST generator timing: `cargo run --example bench_generator -- MODEL.onnx [OTHER.onnx ...] [RUNS] [THREADS]`.
//! Loads each generator (a path or a known name such as `ghost_2_256`), then times
//! `GhostGenerator::swap` on 1 and on 4 crops of 256x256 (CPU), printing the median ms per call and
//! per face. With several files (e.g. fp32 and its int8 variant) the calls alternate between them,
//! RUNS rounds per batch size, so a busy machine slows all of them alike; each line gives the speed-up
//! over the first file. The load average is printed before and after.
//! Export a generator of the real GHOST size from random weights with
//! `plugin-data/tools/export_ghost.py --random-from-shapes --generator - --blocks 2 --out DIR`,
//! and its int8 variant with `plugin-data/tools/quantize_ghost.py DIR/ghost_unet_2blocks.onnx --int8 CROPS`.

use std::time::Instant;

use gstghost::models::resolve_model;
use gstghost::models::swapper::GhostGenerator;
use gstghost::runtime::{ExecutionProvider, SessionOptions};
use gstghost::vision::RgbImage;

#[path = "common/checkout_env.rs"]
mod checkout_env;

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg").map(|s| s.trim().to_string()).unwrap_or_else(|_| "n/a".into())
}

fn main() {
    checkout_env::default_environment();
    let (mut models, mut numbers) = (Vec::new(), Vec::new());
    for arg in std::env::args().skip(1) {
        match arg.parse::<u32>() {
            Ok(n) => numbers.push(n),
            Err(_) => models.push(arg),
        }
    }
    if models.is_empty() {
        models.push("ghost_2_256".into());
    }
    let runs = numbers.first().copied().unwrap_or(3).max(1) as usize;
    let threads = numbers.get(1).copied().unwrap_or(0);
    let options = SessionOptions { provider: ExecutionProvider::Cpu, threads, ..Default::default() };
    let gens: Vec<(String, GhostGenerator)> = models
        .iter()
        .map(|model| {
            let path = resolve_model(model).unwrap_or_else(|e| panic!("{e}"));
            let t0 = Instant::now();
            let gen = GhostGenerator::open(path.path(), &options).unwrap_or_else(|e| panic!("{e}"));
            println!(
                "{}: loaded in {:.1} s (batched: {})",
                path.path().display(),
                t0.elapsed().as_secs_f64(),
                gen.batched
            );
            (path.path().file_name().unwrap_or_default().to_string_lossy().into_owned(), gen)
        })
        .collect();

    let crops: Vec<RgbImage> = (0..4)
        .map(|k| {
            let mut img = RgbImage::new(256, 256);
            for (i, px) in img.data.iter_mut().enumerate() {
                *px = ((i * 7 + k * 31) % 251) as u8;
            }
            img
        })
        .collect();
    let identity: Vec<f32> = (0..512).map(|i| ((i as f32) * 0.37).sin()).collect();
    println!("load average before: {}", loadavg());
    for n in [1usize, 4] {
        let refs: Vec<&RgbImage> = crops.iter().take(n).collect();
        for (_, gen) in &gens {
            let out = gen.swap(&refs, &identity).expect("swap"); // warm-up
            assert_eq!(out.len(), n);
        }
        let mut ms = vec![Vec::with_capacity(runs); gens.len()];
        for _ in 0..runs {
            for (k, (_, gen)) in gens.iter().enumerate() {
                let t = Instant::now();
                gen.swap(&refs, &identity).expect("swap");
                ms[k].push(t.elapsed().as_secs_f64() * 1000.0);
            }
        }
        let medians: Vec<f64> = ms
            .iter_mut()
            .map(|v| {
                v.sort_by(|a, b| a.total_cmp(b));
                v[v.len() / 2]
            })
            .collect();
        for ((name, _), med) in gens.iter().zip(&medians) {
            let ratio =
                if gens.len() > 1 { format!(", x{:.2} vs {}", medians[0] / med, gens[0].0) } else { String::new() };
            println!(
                "batch {n}: {name}: median {med:.0} ms per call, {:.1} ms per face ({runs} runs{ratio})",
                med / n as f64
            );
        }
    }
    println!("load average after: {}", loadavg());
}
