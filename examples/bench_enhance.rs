// SPDX-License-Identifier: MIT OR Apache-2.0
//! Face-enhancer timing: `cargo run --release --example bench_enhance` (the dev profile is
//! optimised too). For the identity-sized test models — GHOST SR at 256 and GFPGAN at 512 — prints
//! the median milliseconds per face of the whole enhancement, of the network alone, and of the
//! work around it (input warp/normalisation and the one output warp with fallback and blend),
//! for batches of 1 and 4 faces, over many runs after warm-up, on the CPU provider (set
//! BENCH_PROVIDER=cuda for the GPU, BENCH_THREADS=N for the intra-op threads).

use std::path::PathBuf;
use std::time::Instant;

use gstghost::models::align::{generator_crop, CropMode};
use gstghost::models::enhancer::{EnhanceJob, Enhancer, Prepared};
use gstghost::runtime::{ExecutionProvider, SessionOptions};
use gstghost::vision::{PackedFrame, RgbImage};

#[path = "common/checkout_env.rs"]
mod checkout_env;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    checkout_env::default_environment();
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let threads = std::env::var("BENCH_THREADS").ok().and_then(|v| v.parse().ok()).unwrap_or(0);
    let provider = match std::env::var("BENCH_PROVIDER").as_deref() {
        Ok("cuda") => ExecutionProvider::Cuda,
        _ => ExecutionProvider::Cpu,
    };
    let runs: usize = std::env::var("BENCH_RUNS").ok().and_then(|v| v.parse().ok()).unwrap_or(40);
    let opts = SessionOptions { provider, threads, ..Default::default() };

    // A real 256 generator crop of a face (as ghostfaceswap makes it), with its affine and keypoints.
    let photo = image::open(root.join("tests/data/obama.jpg")).unwrap().to_rgb8();
    let img = RgbImage::from_raw(photo.width() as usize, photo.height() as usize, photo.into_raw());
    let frame = PackedFrame::from_rgb(&img);
    // MTCNN keypoints of the main face (tests/data/mtcnn_reference.json, obama.jpg), rounded.
    let kps: [[f32; 2]; 5] = {
        let json: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(root.join("tests/data/mtcnn_reference.json")).unwrap())
                .unwrap();
        let k = &json["files"]["obama.jpg"]["faces"][0]["keypoints"];
        std::array::from_fn(|i| [k[i][0].as_f64().unwrap() as f32, k[i][1].as_f64().unwrap() as f32])
    };
    let (crop, frame_to_crop) = generator_crop(&frame, &kps, CropMode::Ghost);
    let job = EnhanceJob { crop: &crop, frame_to_crop, keypoints: kps };

    println!("provider {provider:?}, threads {threads}, {runs} runs, median ms per face");
    println!(
        "{:<34} {:>5} {:>9} {:>9} {:>9} {:>9} {:>9}",
        "model", "batch", "total", "network", "overhead", "prepare", "finish"
    );
    for file in ["enhancer_ghostsr_identity.onnx", "enhancer_gfpgan_identity.onnx"] {
        let enhancer = Enhancer::open(&root.join("models/test").join(file), None, &opts).expect("open");
        let spec = enhancer.spec;
        for batch in [1usize, 4] {
            let jobs = vec![job; batch];
            let (mut total, mut net, mut pre, mut post) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
            // The input tensor is reused across frames, as `Enhancer::enhance` does.
            let mut input = Vec::new();
            for r in 0..runs + 3 {
                let t0 = Instant::now();
                input.clear();
                let prepared: Vec<Prepared> = jobs.iter().map(|j| spec.prepare(j, &mut input)).collect();
                let t1 = Instant::now();
                let y = enhancer.run(&input, batch).expect("run");
                let t2 = Instant::now();
                let plane = 3 * spec.out_size * spec.out_size;
                let out: Vec<_> = jobs
                    .iter()
                    .zip(&prepared)
                    .zip(y.chunks_exact(plane))
                    .map(|((j, p), y)| spec.finish(j, p, y, 1.0))
                    .collect();
                let t3 = Instant::now();
                assert_eq!(out.len(), batch);
                if r >= 3 {
                    let ms = |a: Instant, b: Instant| (b - a).as_secs_f64() * 1000.0 / batch as f64;
                    total.push(ms(t0, t3));
                    net.push(ms(t1, t2));
                    pre.push(ms(t0, t1));
                    post.push(ms(t2, t3));
                }
            }
            let (p, f) = (median(pre), median(post));
            println!(
                "{:<34} {:>5} {:>9.3} {:>9.3} {:>9.3} {:>9.3} {:>9.3}",
                format!("{} ({}→{})", spec.family.name(), spec.in_size, spec.out_size),
                batch,
                median(total),
                median(net),
                p + f,
                p,
                f
            );
        }
    }
}
