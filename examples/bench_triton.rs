// SPDX-License-Identifier: MIT OR Apache-2.0
//! Served (NVIDIA Triton, KServe v2 gRPC) against in-process generators, on this machine:
//!
//! 1. the cost of a served request per face at 256x256: `GhostGenerator::swap` on 1 and on 4 crops, in-process,
//!    served with the tensors in the gRPC messages, and served through shared memory; the overhead is the served
//!    time minus the in-process time (the generator's own work is the same);
//! 2. 1, 2 and 4 pipelines `appsrc ! ghostfaceswap ! appsink` (one face per frame, its meta attached up front)
//!    running at once, in-process or against one local server (its dynamic batcher merging their requests):
//!    aggregate frames per second.
//!
//! `cargo run --release --example bench_triton -- [--model FILE ...] [--rounds N] [--frames N] [--pipelines 1,2,4]
//! [--threads N]` (default model: the swapper_mix test model; pass the real-size generator made by
//! `plugin-data/tools/export_ghost.py --random-from-shapes`). Modes alternate within each round and the medians
//! are printed, with the load average before and after: other work on the machine slows every mode alike.
//! The server is the test server of tests/triton.rs (python backend, onnxruntime on the CPU, `--threads`
//! intra-op threads, as in-process), started here on a free port.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use clap::Parser;
use gst::prelude::*;
use gstghost::meta::{Face, FacesMeta, FrameFaces};
use gstghost::models::align::{generator_crop, CropMode};
use gstghost::models::swapper::GhostGenerator;
use gstghost::models::{resolve_model, Detector};
use gstghost::runtime::{ExecutionProvider, ServerOptions, SessionOptions};
use gstghost::vision::{resize_rgb, Filter, PackedFrame, RgbImage};

#[path = "common/mod.rs"]
mod common;
#[path = "common/triton_server.rs"]
mod triton_server;

#[derive(Parser)]
struct Args {
    /// Generator files (ONNX); each is served under its file stem.
    #[arg(long)]
    model: Vec<PathBuf>,
    /// Rounds (each runs every mode once, in alternating order).
    #[arg(long, default_value_t = 5)]
    rounds: usize,
    /// Swaps per mode and round in part 1.
    #[arg(long, default_value_t = 20)]
    calls: usize,
    /// Frames per pipeline and round in part 2.
    #[arg(long, default_value_t = 20)]
    frames: usize,
    /// Pipeline counts of part 2.
    #[arg(long, value_delimiter = ',', default_value = "1,2,4")]
    pipelines: Vec<usize>,
    /// ONNX Runtime intra-op threads, in-process and per server instance.
    #[arg(long, default_value_t = 2)]
    threads: u32,
    /// Skip part 2.
    #[arg(long)]
    no_pipelines: bool,
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg").map(|s| s.trim().to_string()).unwrap_or_else(|_| "n/a".into())
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Mode {
    InProcess,
    Raw,
    Shm,
}

impl Mode {
    const ALL: [Mode; 3] = [Mode::InProcess, Mode::Raw, Mode::Shm];

    fn name(self) -> &'static str {
        match self {
            Mode::InProcess => "in-process",
            Mode::Raw => "served, gRPC messages",
            Mode::Shm => "served, shared memory",
        }
    }

    fn server(self, address: &str) -> Option<ServerOptions> {
        (self != Mode::InProcess).then(|| ServerOptions {
            address: address.to_string(),
            timeout_ms: 600_000,
            shared_memory: self == Mode::Shm,
        })
    }
}

/// The modes of round `r`, in alternating order.
fn order<T: Copy>(items: &[T], r: usize) -> Vec<T> {
    let mut v = items.to_vec();
    if r % 2 == 1 {
        v.reverse();
    }
    v
}

fn main() -> Result<()> {
    let args = Args::parse();
    common::init()?;
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let models: Vec<PathBuf> =
        if args.model.is_empty() { vec![root.join("models/test/swapper_mix.onnx")] } else { args.model.clone() };
    for m in &models {
        if !m.is_file() {
            bail!("{} does not exist", m.display());
        }
    }
    println!("load average before: {}", loadavg());
    let work = std::env::temp_dir().join(format!("gst-ghost-bench-triton-{}", std::process::id()));
    let repo = work.join("repo");
    std::fs::create_dir_all(&work)?;
    let options = ghost_models::triton_repo::RepoOptions { threads: args.threads, ..Default::default() };
    triton_server::write_repo(&repo, &models, options, "");
    let server = triton_server::TritonServer::start(&repo, None, &work.join("server.log"));
    println!(
        "server {} ready in {:.1} s (python backend, {} intra-op threads)",
        server.address,
        server.started_in.as_secs_f64(),
        args.threads
    );

    // One face of a photo, as ghostfacedetect would attach it.
    let photo = common_photo(root, "obama.jpg");
    let mut detector = Detector::open(&resolve_model("mtcnn")?, &Default::default())?;
    let face =
        detector.detect(&PackedFrame::from_rgb(&photo), &Default::default())?.into_iter().next().context("no face")?;
    let crop = generator_crop(&PackedFrame::from_rgb(&photo), &face.keypoints, CropMode::Ghost).0;
    let identity: Vec<f32> = (0..512).map(|i| ((i * 37 % 101) as f32 - 50.0) / 50.0).collect();
    let embedding = work.join("identity.npy");
    gstghost::models::identity::write_embedding(&embedding, &identity)?;

    for model in &models {
        let name = model.file_stem().unwrap().to_string_lossy().into_owned();
        println!("\n== {name}");
        per_request(&args, model, &name, &server.address, &crop, &identity)?;
        if !args.no_pipelines {
            pipelines(&args, model, &name, &server.address, &photo, &face, &embedding)?;
        }
    }
    println!("\nload average after: {}", loadavg());
    drop(server);
    let _ = std::fs::remove_dir_all(&work);
    Ok(())
}

fn common_photo(root: &Path, name: &str) -> RgbImage {
    let img = image::open(root.join("tests/data").join(name)).expect("photo").to_rgb8();
    let img = RgbImage::from_raw(img.width() as usize, img.height() as usize, img.into_raw());
    let h = 540;
    resize_rgb(&img, (img.width * h / img.height) & !3, h, Filter::Area)
}

fn open(mode: Mode, model: &Path, name: &str, address: &str, threads: u32) -> Result<GhostGenerator> {
    let options = SessionOptions {
        provider: ExecutionProvider::Cpu,
        threads,
        server: mode.server(address),
        ..Default::default()
    };
    let path = if mode == Mode::InProcess { model.to_path_buf() } else { PathBuf::from(name) };
    let g = GhostGenerator::open(&path, &options)?;
    if mode == Mode::Shm && !g.model().uses_shared_memory() {
        bail!("the server did not take the shared-memory region");
    }
    Ok(g)
}

/// Part 1: ms per face of `swap` on batches of 1 and 4.
fn per_request(args: &Args, model: &Path, name: &str, address: &str, crop: &RgbImage, identity: &[f32]) -> Result<()> {
    let generators: Vec<(Mode, GhostGenerator)> = Mode::ALL
        .iter()
        .map(|&m| open(m, model, name, address, args.threads).map(|g| (m, g)))
        .collect::<Result<_>>()?;
    for batch in [1usize, 4] {
        let crops: Vec<&RgbImage> = vec![crop; batch];
        let mut times: Vec<Vec<f64>> = vec![Vec::new(); Mode::ALL.len()];
        for (_, g) in &generators {
            g.swap(&crops, identity)?; // warm-up (sessions, connections, the server's first run)
        }
        for r in 0..args.rounds {
            for i in order(&[0usize, 1, 2], r) {
                let g = &generators[i].1;
                let t0 = Instant::now();
                for _ in 0..args.calls {
                    g.swap(&crops, identity)?;
                }
                times[i].push(t0.elapsed().as_secs_f64() * 1e3 / (args.calls * batch) as f64);
            }
        }
        let base = median(times[0].clone());
        println!("batch {batch}: ms per face (median of {} rounds x {} calls)", args.rounds, args.calls);
        for (i, (mode, _)) in generators.iter().enumerate() {
            let m = median(times[i].clone());
            let extra = if *mode == Mode::InProcess {
                String::new()
            } else {
                format!("  overhead {:+.2} ms, ratio {:.2}x", m - base, m / base)
            };
            println!("  {:<24} {m:8.2}{extra}", mode.name());
        }
    }
    Ok(())
}

/// Part 2: `n` pipelines at once; aggregate frames per second.
fn pipelines(
    args: &Args,
    model: &Path,
    name: &str,
    address: &str,
    photo: &RgbImage,
    face: &gstghost::models::Detection,
    embedding: &Path,
) -> Result<()> {
    let modes = [Mode::InProcess, Mode::Shm, Mode::Raw];
    let mut fps: Vec<Vec<Vec<f64>>> = vec![vec![Vec::new(); modes.len()]; args.pipelines.len()];
    for r in 0..args.rounds {
        for (pi, &n) in args.pipelines.iter().enumerate() {
            for mi in order(&[0usize, 1, 2], r) {
                let mode = modes[mi];
                let (value, props) = match mode.server(address) {
                    None => (model.display().to_string(), format!("threads={}", args.threads)),
                    Some(s) => (
                        name.to_string(),
                        format!(
                            "inference-server={} inference-timeout={} inference-shared-memory={}",
                            s.address, s.timeout_ms, s.shared_memory
                        ),
                    ),
                };
                let desc = format!(
                    "appsrc name=src format=time caps=video/x-raw,format=RGB,width={},height={},framerate=30/1 ! \
                     ghostfaceswap mode=every-frame model={value} source-embedding={} execution-provider=cpu {props} ! appsink name=sink sync=false",
                    photo.width,
                    photo.height,
                    embedding.display()
                );
                fps[pi][mi].push(run_pipelines(&desc, n, args.frames, photo, face)?);
            }
        }
    }
    println!(
        "aggregate frames/s of N pipelines (one face per frame; median of {} rounds x {} frames per pipeline)",
        args.rounds, args.frames
    );
    println!("  {:<4} {:>12} {:>18} {:>18}", "N", "in-process", "served shm (x)", "served raw (x)");
    for (pi, &n) in args.pipelines.iter().enumerate() {
        let m: Vec<f64> = (0..modes.len()).map(|i| median(fps[pi][i].clone())).collect();
        println!("  {n:<4} {:>12.2} {:>11.2} ({:.2}x) {:>11.2} ({:.2}x)", m[0], m[1], m[1] / m[0], m[2], m[2] / m[0]);
    }
    Ok(())
}

/// Starts `n` copies of `desc`, pushes `frames` frames into each (as fast as they are taken) and returns
/// the aggregate frames per second from the first push to the last frame out (after one warm-up frame each).
fn run_pipelines(
    desc: &str,
    n: usize,
    frames: usize,
    photo: &RgbImage,
    face: &gstghost::models::Detection,
) -> Result<f64> {
    let mut stages = Vec::new();
    for _ in 0..n {
        let pipeline =
            gst::parse::launch(desc)?.downcast::<gst::Pipeline>().map_err(|_| anyhow::anyhow!("not a pipeline"))?;
        let src = pipeline.by_name("src").context("src")?.downcast::<gst_app::AppSrc>().unwrap();
        let sink = pipeline.by_name("sink").context("sink")?.downcast::<gst_app::AppSink>().unwrap();
        pipeline.set_state(gst::State::Playing)?;
        stages.push((pipeline, src, sink));
    }
    let buffer = |i: usize| {
        let mut b = common::frames::rgb_buffer(photo, i as u64 * 33);
        let f = Face { score: face.score, bbox: face.bbox, keypoints: face.keypoints, ..Default::default() };
        FacesMeta::set(b.get_mut().unwrap(), FrameFaces { faces: vec![f], detection_ran: true });
        b
    };
    // Warm-up: one frame through each pipeline (start, identity, first run).
    for (_, src, sink) in &stages {
        src.push_buffer(buffer(0))?;
        sink.try_pull_sample(gst::ClockTime::from_seconds(600)).context("warm-up frame")?;
    }
    let barrier = Arc::new(std::sync::Barrier::new(n));
    let t0 = Instant::now();
    std::thread::scope(|s| -> Result<()> {
        let handles: Vec<_> = stages
            .iter()
            .map(|(_, src, sink)| {
                let barrier = barrier.clone();
                let buffer = &buffer;
                s.spawn(move || -> Result<()> {
                    barrier.wait();
                    // Two frames in flight per pipeline: the next is queued while one is processed.
                    src.push_buffer(buffer(1))?;
                    for i in 0..frames {
                        if i + 1 < frames {
                            src.push_buffer(buffer(i + 2))?;
                        }
                        let sample = sink.try_pull_sample(gst::ClockTime::from_seconds(600)).context("frame")?;
                        let swapped =
                            FacesMeta::from_buffer(sample.buffer().unwrap()).is_some_and(|m| m.faces[0].swap.is_some());
                        if !swapped {
                            bail!("a frame left unswapped");
                        }
                    }
                    Ok(())
                })
            })
            .collect();
        for h in handles {
            h.join().map_err(|_| anyhow::anyhow!("a pipeline thread panicked"))??;
        }
        Ok(())
    })?;
    let fps = (n * frames) as f64 / t0.elapsed().as_secs_f64();
    for (p, _, _) in &stages {
        p.set_state(gst::State::Null)?;
    }
    Ok(fps)
}
