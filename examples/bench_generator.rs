// SPDX-License-Identifier: MIT OR Apache-2.0
//! GHOST generator timing: `cargo run --example bench_generator -- MODEL.onnx [RUNS] [THREADS]`.
//! Loads the generator (a path or a known name such as `ghost_2_256`), then times
//! `GhostGenerator::swap` on 1 and on 4 crops of 256x256 (CPU), printing the median ms per call and
//! per face. Export a generator of the real GHOST size from random weights with
//! `plugin-data/tools/export_ghost.py --random-from-shapes --generator - --blocks 2 --out DIR`.

use std::time::Instant;

use gstghost::models::resolve_model;
use gstghost::models::swapper::GhostGenerator;
use gstghost::runtime::{ExecutionProvider, SessionOptions};
use gstghost::vision::RgbImage;

#[path = "common/checkout_env.rs"]
mod checkout_env;

fn main() {
    checkout_env::default_environment();
    let mut args = std::env::args().skip(1);
    let model = args.next().unwrap_or_else(|| "ghost_2_256".into());
    let runs: usize = args.next().and_then(|v| v.parse().ok()).unwrap_or(3);
    let threads: u32 = args.next().and_then(|v| v.parse().ok()).unwrap_or(0);
    let path = resolve_model(&model).unwrap_or_else(|e| panic!("{e}"));
    let options = SessionOptions { provider: ExecutionProvider::Cpu, threads, ..Default::default() };
    let t0 = Instant::now();
    let gen = GhostGenerator::open(path.path(), &options).unwrap_or_else(|e| panic!("{e}"));
    println!("{}: loaded in {:.1} s (batched: {})", path.path().display(), t0.elapsed().as_secs_f64(), gen.batched);

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
    for n in [1usize, 4] {
        let refs: Vec<&RgbImage> = crops.iter().take(n).collect();
        let out = gen.swap(&refs, &identity).expect("swap"); // warm-up
        assert_eq!(out.len(), n);
        let mut ms: Vec<f64> = (0..runs)
            .map(|_| {
                let t = Instant::now();
                gen.swap(&refs, &identity).expect("swap");
                t.elapsed().as_secs_f64() * 1000.0
            })
            .collect();
        ms.sort_by(|a, b| a.partial_cmp(b).unwrap());
        let med = ms[ms.len() / 2];
        println!("batch {n}: median {med:.0} ms per call, {:.0} ms per face ({runs} runs)", med / n as f64);
    }
}
