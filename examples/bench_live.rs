// SPDX-License-Identifier: MIT OR Apache-2.0
//! The chain on a live camera: a live `appsrc` at 30 fps with the test photos moving on a canvas
//! (the faces move, so the tracker and the realtime placement are exercised) through
//! `ghostfacedetect ! queue ! ghostfacetrack ! queue ! ghostfaceswap mode=M ! queue ! ghostfaceblend`
//! into an `appsink`, for each swapper, size, face count and mode. Per run it prints the output
//! frame rate, the frames dropped (at the source, which drops like a camera when the chain does not
//! take a frame in time: with `leaky-type=downstream`; our elements never drop), swap refreshes per
//! second per face, the mean and 95th percentile age of the swap shown (frames), the share of faces
//! shown swapped, and the end-to-end latency (running time at the sink minus the buffer's).
//!
//! `--overhead`: the every-frame mode on a non-live source as fast as it goes, one face at
//! 960x540: the chain's ms per frame against the generator's own ms per face measured in the same
//! run (alternating), with detection on every frame and on every third.
//!
//! ```text
//! cargo run --example bench_live -- --models paste,/path/ghost_unet_2blocks.onnx,/path/ghost_unet_2blocks_int8.onnx
//! cargo run --example bench_live -- --overhead --models /path/ghost_unet_2blocks.onnx
//! ```
//! The real-size generators: `plugin-data/tools/export_ghost.py --random-from-shapes --generator - --blocks 2`
//! (seeded random weights) and `cargo run -p ghost-models -- export FILE --int8`.

#[path = "common/mod.rs"]
mod common;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::Parser;
use gst::prelude::*;
use gstghost::meta::FacesMeta;
use gstghost::models::align::{generator_crop, CropMode};
use gstghost::models::swapper::GhostGenerator;
use gstghost::models::{resolve_model, Detector, DetectorParams};
use gstghost::runtime::{ExecutionProvider, SessionOptions};
use gstghost::vision::{resize_rgb, Filter, PackedFrame, RgbImage};

#[derive(Parser, Debug, Clone)]
#[command(about = "The swap chain on a live 30 fps source: fps, drops, swap refreshes and ages, latency")]
struct Args {
    /// Swappers: paste, or generator files / names
    #[arg(long, value_delimiter = ',', default_value = "paste")]
    models: Vec<String>,
    /// Frame sizes, WxH
    #[arg(long, value_delimiter = ',', default_value = "960x540,1280x720")]
    sizes: Vec<String>,
    /// Faces on the canvas
    #[arg(long, value_delimiter = ',', default_value = "1,2")]
    faces: Vec<usize>,
    /// ghostfaceswap modes
    #[arg(long, value_delimiter = ',', default_value = "realtime,every-frame")]
    modes: Vec<String>,
    /// Seconds measured per run (after the warm-up)
    #[arg(long, default_value_t = 10.0)]
    seconds: f64,
    /// Seconds of warm-up per run (models loaded, first swaps made)
    #[arg(long, default_value_t = 4.0)]
    warmup: f64,
    /// The every-frame overhead measurement instead
    #[arg(long)]
    overhead: bool,
    /// Rounds of the overhead measurement (generator alone and chain, alternating)
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    /// Frames per chain run of the overhead measurement
    #[arg(long, default_value_t = 24)]
    frames: usize,
}

/// The faces of the canvas: the test photos' faces, cut out and scaled.
fn face_tiles(h: usize, n: usize) -> Vec<RgbImage> {
    let names = ["obama.jpg", "biden.jpg"];
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data");
    (0..n)
        .map(|i| {
            let p = image::open(data.join(names[i % 2])).expect("test photo").to_rgb8();
            let photo = RgbImage::from_raw(p.width() as usize, p.height() as usize, p.into_raw());
            // The head and shoulders region of both portraits.
            let region = gstghost::vision::Rect::new(
                photo.width / 4,
                0,
                photo.width / 2,
                (photo.height * 3 / 4).min(photo.height),
            );
            let cut = gstghost::vision::unpack_rgb(&PackedFrame::from_rgb(&photo), region);
            let th = h * 6 / 10;
            let tw = cut.width * th / cut.height;
            resize_rgb(&cut, tw, th, Filter::Area)
        })
        .collect()
}

/// Frame `i`: the tiles moving sideways and up and down on a grey gradient (about 4 px a frame).
fn render(w: usize, h: usize, tiles: &[RgbImage], i: usize, stride: usize) -> Vec<u8> {
    let mut data = vec![0u8; stride * h];
    for y in 0..h {
        let v = 80 + (y * 60 / h) as u8;
        data[y * stride..y * stride + w * 3].fill(v);
    }
    let n = tiles.len();
    for (k, tile) in tiles.iter().enumerate() {
        let t = i as f64 / 30.0;
        let slot = w / n;
        let room = slot.saturating_sub(tile.width) as f64;
        let x0 = (k * slot) as f64 + room / 2.0 * (1.0 + (2.0 * std::f64::consts::PI * t / 3.0 + k as f64).sin());
        let y0 = (h - tile.height) as f64 / 2.0 * (1.0 + 0.5 * (2.0 * std::f64::consts::PI * t / 4.0).sin());
        let (x0, y0) = (x0 as usize, y0 as usize);
        for ty in 0..tile.height.min(h - y0) {
            let cols = tile.width.min(w - x0);
            let dst = (y0 + ty) * stride + x0 * 3;
            data[dst..dst + cols * 3].copy_from_slice(&tile.row(ty)[..cols * 3]);
        }
    }
    data
}

/// A raw identity for generators (no recognizer is needed for a benchmark).
fn identity_file() -> Result<PathBuf> {
    let path = std::env::temp_dir().join(format!("ghost-bench-identity-{}.npy", std::process::id()));
    let v: Vec<f32> = (0..512).map(|i| ((i * 7919 % 1000) as f32 / 500.0 - 1.0) * 1.5).collect();
    gstghost::models::identity::write_embedding(&path, &v)?;
    Ok(path)
}

fn swap_props(model: &str, identity: &Path) -> String {
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/biden.jpg");
    if model == "paste" {
        format!("model=paste source={}", source.display())
    } else {
        format!("model={model} source-embedding={}", identity.display())
    }
}

#[derive(Default)]
struct Stats {
    arrivals: Vec<Instant>,
    latencies_ms: Vec<f64>,
    ages: Vec<u32>,
    faces: usize,
    swapped: usize,
    /// Per track, the frame its shown swap was made from: a change is a refresh.
    made_from: HashMap<u64, u64>,
    refreshes: usize,
}

fn percentile(v: &mut [f64], p: f64) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    v[((v.len() - 1) as f64 * p).round() as usize]
}

struct LiveRow {
    model: String,
    size: String,
    faces: usize,
    mode: String,
    fps: f64,
    dropped: usize,
    pushed: usize,
    refreshes_per_s: f64,
    mean_age: f64,
    p95_age: f64,
    swapped_share: f64,
    latency_ms: f64,
    latency_p95_ms: f64,
}

fn run_live(a: &Args, model: &str, (w, h): (usize, usize), n: usize, mode: &str, identity: &Path) -> Result<LiveRow> {
    let q = "queue max-size-buffers=3 max-size-bytes=0 max-size-time=0";
    let desc = format!(
        "appsrc name=src is-live=true format=time do-timestamp=true max-buffers=1 \
         caps=video/x-raw,format=RGB,width={w},height={h},framerate=30/1 ! \
         ghostfacedetect ! {q} ! ghostfacetrack ! {q} ! ghostfaceswap mode={mode} {} ! {q} ! ghostfaceblend ! \
         appsink name=sink sync=false emit-signals=false",
        swap_props(model, identity)
    );
    let pipeline = common::parse(&desc)?;
    let src = pipeline.by_name("src").unwrap().downcast::<gst_app::AppSrc>().unwrap();
    // A camera drops what the chain does not take in time; the queue of one buffer stands for it.
    src.set_leaky_type(gst_app::AppLeakyType::Downstream);
    let sink = pipeline.by_name("sink").unwrap().downcast::<gst_app::AppSink>().unwrap();
    let stats: Arc<Mutex<Stats>> = Arc::default();
    let measuring = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let frame_no = Arc::new(std::sync::atomic::AtomicU64::new(0));
    {
        let (stats, measuring, frame_no, p) = (stats.clone(), measuring.clone(), frame_no.clone(), pipeline.clone());
        sink.set_callbacks(
            gst_app::AppSinkCallbacks::builder()
                .new_sample(move |s| {
                    let sample = s.pull_sample().map_err(|_| gst::FlowError::Eos)?;
                    let buffer = sample.buffer().ok_or(gst::FlowError::Error)?;
                    let k = frame_no.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    if !measuring.load(std::sync::atomic::Ordering::Relaxed) {
                        return Ok(gst::FlowSuccess::Ok);
                    }
                    let mut st = stats.lock().unwrap();
                    st.arrivals.push(Instant::now());
                    if let (Some(clock), Some(base), Some(pts)) = (p.clock(), p.base_time(), buffer.pts()) {
                        let now = clock.time().saturating_sub(base);
                        st.latencies_ms.push(now.saturating_sub(pts).nseconds() as f64 / 1e6);
                    }
                    for f in FacesMeta::from_buffer(buffer).map(|m| m.faces).unwrap_or_default() {
                        st.faces += 1;
                        if let Some(swap) = &f.swap {
                            st.swapped += 1;
                            st.ages.push(swap.age);
                            let from = k.saturating_sub(swap.age as u64);
                            if st.made_from.insert(f.track_id, from) != Some(from) {
                                st.refreshes += 1;
                            }
                        }
                    }
                    Ok(gst::FlowSuccess::Ok)
                })
                .build(),
        );
    }
    pipeline.set_state(gst::State::Playing).context("the pipeline did not start")?;
    let tiles = face_tiles(h, n);
    let stride = (w * 3).div_ceil(4) * 4;
    let start = Instant::now();
    let (warmup, total) = (Duration::from_secs_f64(a.warmup), Duration::from_secs_f64(a.warmup + a.seconds));
    let mut pushed: usize = 0;
    let mut measure_start = None;
    for i in 0.. {
        let due = start + Duration::from_secs_f64(i as f64 / 30.0);
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
        let elapsed = start.elapsed();
        if elapsed >= total {
            break;
        }
        if elapsed >= warmup && measure_start.is_none() {
            measure_start = Some((Instant::now(), i));
            measuring.store(true, std::sync::atomic::Ordering::Relaxed);
        }
        if measure_start.is_some() {
            pushed += 1;
        }
        src.push_buffer(gst::Buffer::from_mut_slice(render(w, h, &tiles, i, stride))).context("push")?;
    }
    measuring.store(false, std::sync::atomic::Ordering::Relaxed);
    let window = measure_start.map(|(t, _)| t.elapsed().as_secs_f64()).unwrap_or(f64::NAN);
    if let Some(m) = pipeline.bus().unwrap().pop_filtered(&[gst::MessageType::Error]) {
        bail!("{m:?}");
    }
    pipeline.set_state(gst::State::Null)?;
    let mut st = std::mem::take(&mut *stats.lock().unwrap());
    let received = st.arrivals.len();
    let mut ages: Vec<f64> = st.ages.iter().map(|&a| a as f64).collect();
    let mean_age = ages.iter().sum::<f64>() / ages.len().max(1) as f64;
    Ok(LiveRow {
        model: Path::new(model).file_stem().map_or(model.into(), |s| s.to_string_lossy().into_owned()),
        size: format!("{w}x{h}"),
        faces: n,
        mode: mode.into(),
        fps: received as f64 / window,
        dropped: pushed.saturating_sub(received),
        pushed,
        // Per face on the frames (the detector may see more or fewer faces than were drawn).
        refreshes_per_s: st.refreshes as f64 / window / (st.faces as f64 / received.max(1) as f64).max(1.0),
        mean_age,
        p95_age: percentile(&mut ages, 0.95),
        swapped_share: st.swapped as f64 / st.faces.max(1) as f64,
        latency_ms: percentile(&mut st.latencies_ms, 0.5),
        latency_p95_ms: percentile(&mut st.latencies_ms, 0.95),
    })
}

/// The every-frame chain as fast as it goes on a non-live source: ms per frame after the first.
fn chain_ms_per_frame(a: &Args, model: &str, interval: u32, identity: &Path) -> Result<f64> {
    let (w, h): (usize, usize) = (960, 540);
    let q = "queue max-size-buffers=3 max-size-bytes=0 max-size-time=0";
    let desc = format!(
        "appsrc name=src format=time block=true max-buffers=3 caps=video/x-raw,format=RGB,width={w},height={h},framerate=30/1 ! \
         ghostfacedetect interval={interval} ! {q} ! ghostfacetrack ! {q} ! ghostfaceswap mode=every-frame {} ! {q} ! \
         ghostfaceblend ! fakesink name=sink sync=false",
        swap_props(model, identity)
    );
    let pipeline = common::parse(&desc)?;
    let src = pipeline.by_name("src").unwrap().downcast::<gst_app::AppSrc>().unwrap();
    let times: Arc<Mutex<Vec<Instant>>> = Arc::default();
    let swapped: Arc<Mutex<Vec<usize>>> = Arc::default();
    let (t2, s2) = (times.clone(), swapped.clone());
    pipeline.by_name("sink").unwrap().static_pad("sink").unwrap().add_probe(
        gst::PadProbeType::BUFFER,
        move |_, info| {
            t2.lock().unwrap().push(Instant::now());
            if let Some(buffer) = info.buffer() {
                let faces = FacesMeta::from_buffer(buffer).map(|m| m.faces).unwrap_or_default();
                s2.lock().unwrap().push(faces.iter().filter(|f| f.swap.is_some()).count());
            }
            gst::PadProbeReturn::Ok
        },
    );
    let tiles = face_tiles(h, 1);
    let stride = (w * 3).div_ceil(4) * 4;
    // Warm-up frames (sessions, identity) before the timed ones.
    let warm = 3;
    let frames = a.frames + warm;
    let feeder = std::thread::spawn(move || {
        for i in 0..frames {
            let mut b = gst::Buffer::from_mut_slice(render(w, h, &tiles, i, stride));
            b.get_mut().unwrap().set_pts(gst::ClockTime::from_nseconds(i as u64 * 33_333_333));
            if src.push_buffer(b).is_err() {
                break;
            }
        }
        let _ = src.end_of_stream();
    });
    common::play(&pipeline, Some(Duration::from_secs(900)))?;
    let _ = feeder.join();
    let t = times.lock().unwrap();
    if t.len() < warm + 2 {
        bail!("only {} frames came out", t.len());
    }
    // One face on the canvas: more swaps per frame would time the generator more than once.
    let swaps = swapped.lock().unwrap();
    if swaps.iter().any(|&n| n != 1) {
        eprintln!("interval {interval}: faces swapped per frame {:?}", *swaps);
    }
    Ok(t[t.len() - 1].duration_since(t[warm]).as_secs_f64() * 1000.0 / (t.len() - 1 - warm) as f64)
}

/// The generator alone on the aligned crop of the canvas face: median ms per face.
fn generator_ms(model: &str, identity: &[f32], runs: usize) -> Result<f64> {
    let opts = SessionOptions { provider: ExecutionProvider::Cpu, ..Default::default() };
    let generator = GhostGenerator::open(resolve_model(model)?.path(), &opts)?;
    let tiles = face_tiles(540, 1);
    let frame = RgbImage::from_raw(960, 540, {
        let stride = 960 * 3;
        render(960, 540, &tiles, 0, stride)
    });
    let mut detector = Detector::open(&resolve_model("mtcnn")?, &opts)?;
    let faces = detector.detect(&PackedFrame::from_rgb(&frame), &DetectorParams::default())?;
    let face = faces.first().context("no face on the canvas")?;
    let (crop, _) = generator_crop(&PackedFrame::from_rgb(&frame), &face.keypoints, CropMode::Ghost);
    Ok(common::median_ms(1, runs, || {
        generator.swap(&[&crop], identity).expect("swap");
    }))
}

fn overhead(a: &Args) -> Result<()> {
    let identity_path = identity_file()?;
    let identity = gstghost::models::identity::read_embedding(&identity_path)?;
    for model in a.models.iter().filter(|m| *m != "paste") {
        println!("every-frame overhead, {model}, one face at 960x540 ({} rounds, load {})", a.rounds, loadavg());
        let (mut gen, mut chain1, mut chain3) = (Vec::new(), Vec::new(), Vec::new());
        for round in 0..a.rounds {
            gen.push(generator_ms(model, &identity, 5)?);
            chain1.push(chain_ms_per_frame(a, model, 1, &identity_path)?);
            chain3.push(chain_ms_per_frame(a, model, 3, &identity_path)?);
            println!(
                "  round {round}: generator {:.1} ms/face, chain {:.1} ms/frame (interval 1), {:.1} ms/frame (interval 3)",
                gen[round], chain1[round], chain3[round]
            );
        }
        let (g, c1, c3) = (percentile(&mut gen, 0.5), percentile(&mut chain1, 0.5), percentile(&mut chain3, 0.5));
        println!(
            "  median: generator {g:.1} ms; chain/generator {:.3} (interval 1), {:.3} (interval 3)",
            c1 / g,
            c3 / g
        );
        println!("  load after: {}", loadavg());
    }
    Ok(())
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

fn main() -> Result<()> {
    let a = Args::parse();
    common::init()?;
    if a.overhead {
        return overhead(&a);
    }
    let identity = identity_file()?;
    println!("load before: {}", loadavg());
    println!("| swapper | size | faces | mode | output fps | dropped | swap refreshes/s per face | swap age mean / p95 (frames) | faces swapped | latency median / p95 (ms) |");
    println!("|---|---|---:|---|---:|---:|---:|---:|---:|---:|");
    for model in &a.models {
        for size in &a.sizes {
            let (w, h) = size.split_once('x').with_context(|| format!("size `{size}` is not WxH"))?;
            let (w, h): (usize, usize) = (w.parse()?, h.parse()?);
            for &n in &a.faces {
                for mode in &a.modes {
                    let r = run_live(&a, model, (w, h), n, mode, &identity)?;
                    println!(
                        "| {} | {} | {} | {} | {:.1} | {} of {} | {:.2} | {:.1} / {:.0} | {:.0} % | {:.0} / {:.0} |",
                        r.model,
                        r.size,
                        r.faces,
                        r.mode,
                        r.fps,
                        r.dropped,
                        r.pushed,
                        r.refreshes_per_s,
                        r.mean_age,
                        r.p95_age,
                        100.0 * r.swapped_share,
                        r.latency_ms,
                        r.latency_p95_ms
                    );
                }
            }
        }
    }
    println!("load after: {}", loadavg());
    Ok(())
}
