// SPDX-License-Identifier: MIT OR Apache-2.0
//! Soak benchmark (issue 14): does memory stay flat over a long run and over many restarts?
//!
//! `cargo run --example soak -- --frames 100000 --size 320x240` pushes N frames (a face photo on a
//! background, moving a little) through `ghostfacedetect ! ghostfacetrack ! ghostfaceswap ! ghostfaceblend`
//! and samples the process's resident memory (VmRSS, /proc/self/status) every second: it prints RSS at
//! the start, after warm-up, in the middle and at the end, and the growth per 1,000 and per 10,000
//! frames after warm-up (least-squares slope over the samples, and end minus warm-up).
//!
//! `--cycles M` runs M NULL -> PLAYING -> EOS -> NULL cycles of `ghostfaceswapbin` with property
//! toggles between them (the enhancer set and unset, the source switched between two photos, the mask
//! switched) and prints RSS and the thread count every 50 cycles.
//!
//! To find out what holds memory: `MALLOC_ARENA_MAX=2` (glibc arenas), `--trim` (malloc_trim(0)
//! before each sample: freed-but-kept heap vs live data), `--model models/test/swapper_identity.onnx`
//! (a generator in ONNX Runtime instead of `paste`).

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use clap::Parser;
use gst::prelude::*;
use gstghost::meta::FacesMeta;

#[path = "common/mod.rs"]
mod common;

#[derive(Parser, Debug, Clone)]
#[command(about = "Memory over a long run and over many restarts of the swap chain")]
pub struct Args {
    /// Frames through the chain (0: skip the frame run)
    #[arg(long, default_value_t = 100_000)]
    pub frames: u64,
    /// NULL <-> PLAYING cycles of ghostfaceswapbin with property toggles (0: skip)
    #[arg(long, default_value_t = 500)]
    pub cycles: u64,
    /// Frame size, WIDTHxHEIGHT
    #[arg(long, default_value = "320x240", value_parser = parse_size)]
    pub size: (u32, u32),
    /// Swapper: `paste` or a generator file (e.g. models/test/swapper_identity.onnx; then the
    /// identity comes from --recognizer)
    #[arg(long, default_value = "paste")]
    pub model: String,
    /// Recognizer for generator models
    #[arg(long, default_value = "models/test/arcface_ghost_test.onnx")]
    pub recognizer: String,
    /// The source photo (the frame run, and the first of the two in the cycles)
    #[arg(long, default_value = "tests/data/biden.jpg")]
    pub source: PathBuf,
    /// The second source photo the cycles switch to
    #[arg(long, default_value = "tests/data/obama.jpg")]
    pub source_b: PathBuf,
    /// The target face drawn into the frames
    #[arg(long, default_value = "tests/data/obama.jpg")]
    pub target: PathBuf,
    /// The enhancer the cycles set and unset on the bin
    #[arg(long, default_value = "models/test/enhancer_ghostsr_identity.onnx")]
    pub enhancer: String,
    /// Frames counted as warm-up (default: a tenth of --frames, at most 10,000)
    #[arg(long)]
    pub warmup: Option<u64>,
    /// Frames pushed per cycle
    #[arg(long, default_value_t = 5)]
    pub cycle_frames: u64,
    /// Milliseconds between RSS samples
    #[arg(long, default_value_t = 1000)]
    pub sample_ms: u64,
    /// Call glibc's malloc_trim(0) before each sample
    #[arg(long)]
    pub trim: bool,
    /// What the cycles change between two starts (comma-separated): enhancer, source, mask
    #[arg(long, default_value = "enhancer,source,mask", value_delimiter = ',')]
    pub toggle: Vec<String>,
    /// Print RSS every this many cycles
    #[arg(long, default_value_t = 50)]
    pub report_every: u64,
    /// Smallest face MTCNN looks for
    #[arg(long, default_value_t = 40)]
    pub min_face_size: u32,
}

fn parse_size(s: &str) -> Result<(u32, u32), String> {
    let (w, h) = s.split_once('x').ok_or("expected WIDTHxHEIGHT")?;
    let n = |v: &str| v.parse::<u32>().map_err(|e| format!("{v}: {e}"));
    let (w, h) = (n(w)?, n(h)?);
    if w < 64 || h < 64 {
        return Err("at least 64x64 (the face must be found)".into());
    }
    Ok((w, h))
}

/// Resident memory now: (VmRSS, RssAnon) in kB.
fn rss_kb() -> (u64, u64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next()?.parse().ok())
            .unwrap_or(0)
    };
    (field("VmRSS:"), field("RssAnon:"))
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

fn threads() -> usize {
    std::fs::read_dir("/proc/self/task").map(|d| d.count()).unwrap_or(0)
}

fn trim_heap() {
    extern "C" {
        fn malloc_trim(pad: usize) -> i32;
    }
    // SAFETY: glibc's malloc_trim only returns free heap pages to the system; it takes no pointers.
    unsafe {
        malloc_trim(0);
    }
}

fn mb(kb: u64) -> f64 {
    kb as f64 / 1024.0
}

/// K frames of the target face on a background, the face shifted a little from frame to frame.
fn make_frames(args: &Args, root: &std::path::Path) -> Result<Vec<gst::Buffer>> {
    let (w, h) = (args.size.0 as usize, args.size.1 as usize);
    let photo = image::open(root.join(&args.target)).with_context(|| format!("{}", args.target.display()))?;
    let face_h = h * 9 / 10;
    let face_w = (photo.width() as usize * face_h / photo.height() as usize).min(w * 8 / 10);
    let face = photo.resize_exact(face_w as u32, face_h as u32, image::imageops::FilterType::Triangle).to_rgb8();
    let stride = (w * 3).div_ceil(4) * 4;
    let mut frames = Vec::new();
    for k in 0..32usize {
        let dx = (k as i64 - 16).unsigned_abs() as usize / 2; // 0..8 px back and forth
        let x0 = (w - face_w) / 2 - 4 + dx;
        let y0 = (h - face_h) / 2;
        let mut data = vec![0u8; stride * h];
        for y in 0..h {
            for x in 0..w {
                let p = y * stride + x * 3;
                let v = if (x0..x0 + face_w).contains(&x) && (y0..y0 + face_h).contains(&y) {
                    face.get_pixel((x - x0) as u32, (y - y0) as u32).0
                } else {
                    [(60 + x * 80 / w) as u8, (70 + y * 60 / h) as u8, 90]
                };
                data[p..p + 3].copy_from_slice(&v);
            }
        }
        frames.push(gst::Buffer::from_mut_slice(data));
    }
    Ok(frames)
}

fn timed(buffer: &gst::Buffer, i: u64) -> gst::Buffer {
    let mut b = buffer.copy();
    {
        let b = b.get_mut().unwrap();
        let t = gst::ClockTime::SECOND.mul_div_floor(i, 30).unwrap();
        b.set_pts(t);
        b.set_duration(gst::ClockTime::SECOND.mul_div_floor(1, 30).unwrap());
    }
    b
}

fn caps(args: &Args) -> String {
    format!("video/x-raw,format=RGB,width={},height={},framerate=30/1", args.size.0, args.size.1)
}

fn swapper(args: &Args, root: &std::path::Path, source: &std::path::Path) -> String {
    let source = root.join(source).display().to_string();
    if args.model == "paste" {
        format!("model=paste source=\"{source}\"")
    } else {
        let m = root.join(&args.model).display().to_string();
        let r = root.join(&args.recognizer).display().to_string();
        format!("model=\"{m}\" recognizer=\"{r}\" source=\"{source}\"")
    }
}

/// Waits for EOS; an error (or no EOS within the timeout) ends the run.
fn wait_eos(pipeline: &gst::Pipeline, timeout: Duration) -> Result<()> {
    let bus = pipeline.bus().unwrap();
    let msg = bus
        .timed_pop_filtered(
            gst::ClockTime::from_nseconds(timeout.as_nanos() as u64),
            &[gst::MessageType::Eos, gst::MessageType::Error],
        )
        .ok_or_else(|| anyhow!("no EOS within {timeout:?}"))?;
    match msg.view() {
        gst::MessageView::Error(e) => bail!("{} ({:?})", e.error(), e.debug()),
        _ => Ok(()),
    }
}

/// What the frame run measured (RSS in kB).
#[derive(Clone, Debug)]
pub struct FrameReport {
    pub frames: u64,
    pub swapped: u64,
    pub rss_start: u64,
    pub rss_warm: u64,
    pub rss_middle: u64,
    pub rss_end: u64,
    /// MB per 10,000 frames after warm-up (least-squares slope).
    pub growth_per_10k_mb: f64,
}

/// RSS (kB) and threads after a cycle.
#[derive(Clone, Debug)]
pub struct CyclePoint {
    pub cycle: u64,
    pub rss: u64,
    pub threads: usize,
    /// ghost elements still alive, of all that the bin has made so far (an element kept after the
    /// bin dropped it would show here).
    pub elements_alive: usize,
    pub elements_made: usize,
}

#[derive(Clone, Debug, Default)]
pub struct CycleReport {
    pub points: Vec<CyclePoint>,
    /// Cycles after which the bin's enhancer was not there although set (or there although unset).
    pub enhancer_mismatches: u64,
}

#[derive(Clone, Debug, Default)]
pub struct Soak {
    pub frames: Option<FrameReport>,
    pub cycles: Option<CycleReport>,
}

#[derive(Clone, Copy, Debug)]
struct Sample {
    secs: f64,
    frames: u64,
    rss: u64,
    anon: u64,
}

/// Least-squares slope of RSS (kB) per frame.
fn slope(samples: &[Sample]) -> f64 {
    let n = samples.len() as f64;
    if n < 2.0 {
        return 0.0;
    }
    let mx = samples.iter().map(|s| s.frames as f64).sum::<f64>() / n;
    let my = samples.iter().map(|s| s.rss as f64).sum::<f64>() / n;
    let sxy: f64 = samples.iter().map(|s| (s.frames as f64 - mx) * (s.rss as f64 - my)).sum();
    let sxx: f64 = samples.iter().map(|s| (s.frames as f64 - mx).powi(2)).sum();
    if sxx == 0.0 {
        0.0
    } else {
        sxy / sxx
    }
}

fn run_frames(args: &Args, root: &std::path::Path) -> Result<FrameReport> {
    let frames = make_frames(args, root)?;
    let desc = format!(
        "appsrc name=src format=time block=true max-buffers=8 caps={} ! \
         ghostfacedetect min-face-size={} ! queue max-size-buffers=4 ! ghostfacetrack ! queue max-size-buffers=4 ! \
         ghostfaceswap {} ! queue max-size-buffers=4 ! ghostfaceblend ! fakesink name=sink sync=false",
        caps(args),
        args.min_face_size,
        swapper(args, root, &args.source)
    );
    let pipeline = common::parse(&desc)?;
    let src = pipeline.by_name("src").unwrap().downcast::<gst_app::AppSrc>().unwrap();
    let done = Arc::new(AtomicU64::new(0));
    let swapped = Arc::new(AtomicU64::new(0));
    let (d, sw) = (done.clone(), swapped.clone());
    pipeline.by_name("sink").unwrap().static_pad("sink").unwrap().add_probe(
        gst::PadProbeType::BUFFER,
        move |_, info| {
            d.fetch_add(1, Ordering::Relaxed);
            if let Some(gst::PadProbeData::Buffer(b)) = &info.data {
                let faces = FacesMeta::from_buffer(b).map(|m| m.faces).unwrap_or_default();
                if faces.iter().any(|f| f.swap.is_some()) {
                    sw.fetch_add(1, Ordering::Relaxed);
                }
            }
            gst::PadProbeReturn::Ok
        },
    );

    let samples = Arc::new(Mutex::new(Vec::<Sample>::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let sampler = {
        let (samples, stop, done, trim, every) =
            (samples.clone(), stop.clone(), done.clone(), args.trim, args.sample_ms);
        std::thread::spawn(move || {
            let mut last_print = Instant::now();
            while !stop.load(Ordering::SeqCst) {
                if trim {
                    trim_heap();
                }
                let (rss, anon) = rss_kb();
                let s =
                    Sample { secs: started.elapsed().as_secs_f64(), frames: done.load(Ordering::Relaxed), rss, anon };
                samples.lock().unwrap().push(s);
                if last_print.elapsed() > Duration::from_secs(30) {
                    last_print = Instant::now();
                    println!(
                        "  {:>7.0} s {:>8} frames {:>6.1} fps  RSS {:>7.1} MB (anon {:.1} MB), {} threads",
                        s.secs,
                        s.frames,
                        s.frames as f64 / s.secs,
                        mb(rss),
                        mb(anon),
                        threads()
                    );
                }
                std::thread::sleep(Duration::from_millis(every));
            }
        })
    };

    let (rss0, anon0) = rss_kb();
    println!(
        "frames: {} at {}x{}, model {}, {} threads, load average {}; RSS at start {:.1} MB (anon {:.1} MB)",
        args.frames,
        args.size.0,
        args.size.1,
        args.model,
        threads(),
        load_average(),
        mb(rss0),
        mb(anon0)
    );
    pipeline.set_state(gst::State::Playing).context("PLAYING")?;
    let pusher = {
        let (src, n) = (src.clone(), args.frames);
        std::thread::spawn(move || {
            for i in 0..n {
                if src.push_buffer(timed(&frames[(i % frames.len() as u64) as usize], i)).is_err() {
                    break;
                }
            }
            let _ = src.end_of_stream();
        })
    };
    // A long run: an hour per 100,000 frames at worst before calling it a hang.
    let result = wait_eos(&pipeline, Duration::from_secs(60 + args.frames * 36 / 1000));
    pipeline.set_state(gst::State::Null).unwrap();
    pusher.join().unwrap();
    stop.store(true, Ordering::SeqCst);
    sampler.join().unwrap();
    result?;

    let elapsed = started.elapsed().as_secs_f64();
    let mut samples = samples.lock().unwrap().clone();
    let (rss, anon) = rss_kb();
    samples.push(Sample { secs: elapsed, frames: done.load(Ordering::Relaxed), rss, anon });
    let n = samples.last().unwrap().frames;
    let warmup = args.warmup.unwrap_or((args.frames / 10).min(10_000));
    let at = |f: u64| *samples.iter().find(|s| s.frames >= f).unwrap_or(samples.last().unwrap());
    let (warm, middle, end) = (at(warmup), at(n / 2), *samples.last().unwrap());
    let after: Vec<Sample> = samples.iter().copied().filter(|s| s.frames >= warm.frames).collect();
    let peak = after.iter().map(|s| s.rss).max().unwrap_or(0);
    let per_frame = slope(&after);
    let span = (end.frames - warm.frames).max(1) as f64;
    let endpoint = (end.rss as f64 - warm.rss as f64) / span;
    println!(
        "{n} frames in {elapsed:.0} s ({:.1} fps), {} with a swapped face; load average {}",
        n as f64 / elapsed,
        swapped.load(Ordering::Relaxed),
        load_average()
    );
    let show = |name: &str, s: Sample| {
        println!(
            "  RSS {name:<16} {:>8.1} MB (anon {:>7.1} MB) at frame {:>7}, {:>6.0} s",
            mb(s.rss),
            mb(s.anon),
            s.frames,
            s.secs
        )
    };
    show("at start", Sample { secs: 0.0, frames: 0, rss: rss0, anon: anon0 });
    show("after warm-up", warm);
    show("middle", middle);
    show("end", end);
    println!("  peak RSS after warm-up {:.1} MB", mb(peak));
    println!(
        "  growth after warm-up: {:+.3} MB per 1,000 frames, {:+.2} MB per 10,000 frames (slope over {} samples); \
         end - warm-up: {:+.2} MB per 10,000 frames",
        per_frame * 1000.0 / 1024.0,
        per_frame * 10_000.0 / 1024.0,
        after.len(),
        endpoint * 10_000.0 / 1024.0
    );
    Ok(FrameReport {
        frames: n,
        swapped: swapped.load(Ordering::Relaxed),
        rss_start: rss0,
        rss_warm: warm.rss,
        rss_middle: middle.rss,
        rss_end: end.rss,
        growth_per_10k_mb: per_frame * 10_000.0 / 1024.0,
    })
}

/// Remembers (weakly) every ghost element the bin has had.
fn note_elements(bin: &gst::Element, seen: &mut Vec<gst::glib::WeakRef<gst::Element>>) {
    for e in bin.downcast_ref::<gst::Bin>().unwrap().iterate_recurse().into_iter().flatten() {
        let ghost = e.type_().name().starts_with("GstGhostFace");
        if ghost && !seen.iter().any(|w| w.upgrade().as_ref() == Some(&e)) {
            seen.push(e.downgrade());
        }
    }
}

fn has_enhancer(bin: &gst::Element) -> bool {
    bin.downcast_ref::<gst::Bin>()
        .unwrap()
        .iterate_recurse()
        .into_iter()
        .flatten()
        // By type name: `factory()` once tripped a GLib type assertion here (a bin child whose class
        // held no valid factory pointer).
        .any(|e| e.type_().name() == "GstGhostFaceEnhance")
}

fn run_cycles(args: &Args, root: &std::path::Path) -> Result<CycleReport> {
    let frames = make_frames(args, root)?;
    let pipeline = common::parse(&format!(
        "appsrc name=src format=time caps={} ! ghostfaceswapbin name=bin {} ! fakesink sync=false",
        caps(args),
        swapper(args, root, &args.source)
    ))?;
    let src = pipeline.by_name("src").unwrap().downcast::<gst_app::AppSrc>().unwrap();
    let bin = pipeline.by_name("bin").unwrap();
    let sources = [root.join(&args.source).display().to_string(), root.join(&args.source_b).display().to_string()];
    let enhancer = root.join(&args.enhancer).display().to_string();
    let masks = ["template", "box", "auto"];
    let (rss0, _) = rss_kb();
    println!(
        "cycles: {} of {} frames at {}x{}, model {}, toggling {}; RSS at start {:.1} MB, {} threads",
        args.cycles,
        args.cycle_frames,
        args.size.0,
        args.size.1,
        args.model,
        args.toggle.join(","),
        mb(rss0),
        threads()
    );
    let started = Instant::now();
    let mut report = CycleReport::default();
    let mut seen = Vec::new();
    for c in 0..args.cycles {
        // Toggles in NULL, where every property may change.
        let toggles = |what: &str| args.toggle.iter().any(|t| t == what);
        let with_enhancer = toggles("enhancer") && c % 2 == 0;
        bin.set_property("enhancer", if with_enhancer { Some(enhancer.as_str()) } else { None });
        if toggles("source") {
            bin.set_property("source", &sources[(c / 2 % 2) as usize]);
        }
        if toggles("mask") {
            bin.set_property_from_str("mask", masks[(c % 3) as usize]);
        }
        pipeline.set_state(gst::State::Playing).with_context(|| format!("cycle {c}: PLAYING"))?;
        for i in 0..args.cycle_frames {
            let _ = src.push_buffer(timed(&frames[(i % frames.len() as u64) as usize], i));
        }
        let _ = src.end_of_stream();
        let ended = wait_eos(&pipeline, Duration::from_secs(120));
        let enhanced = has_enhancer(&bin);
        note_elements(&bin, &mut seen);
        pipeline.set_state(gst::State::Null).unwrap();
        ended.with_context(|| format!("cycle {c}"))?;
        if enhanced != with_enhancer {
            report.enhancer_mismatches += 1;
        }
        if (c + 1) % args.report_every.max(1) == 0 || c == 0 {
            if args.trim {
                trim_heap();
            }
            let (rss, anon) = rss_kb();
            let alive = seen.iter().filter(|w| w.upgrade().is_some()).count();
            report.points.push(CyclePoint {
                cycle: c + 1,
                rss,
                threads: threads(),
                elements_alive: alive,
                elements_made: seen.len(),
            });
            println!(
                "  cycle {:>5}: RSS {:>7.1} MB (anon {:>7.1} MB), {:>3} threads, {} of {} ghost elements alive, \
                 {:.2} s per cycle",
                c + 1,
                mb(rss),
                mb(anon),
                threads(),
                alive,
                seen.len(),
                started.elapsed().as_secs_f64() / (c + 1) as f64
            );
        }
    }
    let points = &report.points;
    if let (Some(first), Some(last)) = (points.iter().find(|p| p.cycle > 1), points.last()) {
        if last.cycle > first.cycle {
            println!(
                "  from cycle {} to {}: {:+.1} MB ({:+.3} MB per cycle); peak {:.1} MB",
                first.cycle,
                last.cycle,
                mb(last.rss) - mb(first.rss),
                (mb(last.rss) - mb(first.rss)) / (last.cycle - first.cycle) as f64,
                mb(points.iter().map(|p| p.rss).max().unwrap_or(0))
            );
        }
    }
    if report.enhancer_mismatches > 0 {
        println!("  the enhancer was not as set after {} of {} cycles", report.enhancer_mismatches, args.cycles);
    }
    Ok(report)
}

pub fn run(args: &Args) -> Result<Soak> {
    common::init()?;
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    println!(
        "MALLOC_ARENA_MAX={}, trim: {}",
        std::env::var("MALLOC_ARENA_MAX").unwrap_or_else(|_| "(unset)".into()),
        args.trim
    );
    let mut soak = Soak::default();
    if args.frames > 0 {
        soak.frames = Some(run_frames(args, &root)?);
    }
    if args.cycles > 0 {
        soak.cycles = Some(run_cycles(args, &root)?);
    }
    Ok(soak)
}

fn main() -> Result<()> {
    run(&Args::parse()).map(|_| ())
}
