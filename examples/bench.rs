// SPDX-License-Identifier: MIT OR Apache-2.0
//! Per-element milliseconds and end-to-end frames per second of the swap chain on generated frames
//! (the test photos composed onto a canvas), for every swapper it finds.
//!
//!     cargo run --release --example bench
//!     cargo run --example bench -- --sizes 640x480 --faces 1 --frames 5 --models paste

#[path = "common/mod.rs"]
mod common;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use clap::Parser;
use gst::prelude::*;

#[derive(Parser, Debug, Clone)]
#[command(about = "Benchmark the swap chain: per-element ms/frame and end-to-end fps")]
pub struct Args {
    /// Frame sizes, WxH, comma separated
    #[arg(long, value_delimiter = ',', default_value = "640x480,1280x720,1920x1080")]
    pub sizes: Vec<String>,
    /// Numbers of faces per frame, comma separated
    #[arg(long, value_delimiter = ',', default_value = "1,4")]
    pub faces: Vec<usize>,
    /// Frames per run (the first one is not timed: warm-up)
    #[arg(long, default_value_t = 6)]
    pub frames: usize,
    /// Swappers (default: paste, the test identity/mix swappers, and the GHOST models that are installed)
    #[arg(long, value_delimiter = ',')]
    pub models: Vec<String>,
    /// Face photo(s) used as the source identity and on the canvas
    #[arg(long, default_value = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data"))]
    pub data: std::path::PathBuf,
    /// auto, cuda, tensorrt or cpu
    #[arg(long)]
    pub execution_provider: Option<String>,
}

const STAGES: [&str; 4] = ["detect", "track", "swap", "blend"];

#[derive(Debug, Clone)]
pub struct Row {
    pub model: String,
    pub size: String,
    pub faces: usize,
    /// mean ms per frame for each of STAGES
    pub ms: [f64; 4],
    pub fps: f64,
    pub swapped: usize,
}

fn default_models() -> Vec<String> {
    let mut v = vec!["paste".to_string(), "swapper_identity".into(), "swapper_mix".into()];
    for m in ["ghost_1_256", "ghost_2_256", "ghost_3_256"] {
        if gstghost::models::resolve_model(m).is_ok() {
            v.push(m.into());
        }
    }
    v
}

/// A grey canvas with `n` faces (the test photos, cycled) on a grid.
fn canvas(data: &std::path::Path, w: u32, h: u32, n: usize) -> Result<image::RgbImage> {
    let photos: Vec<image::RgbImage> = ["obama.jpg", "biden.jpg"]
        .iter()
        .map(|f| image::open(data.join(f)).map(|i| i.to_rgb8()).with_context(|| format!("cannot read {f}")))
        .collect::<Result<_>>()?;
    let cols = (n as f64).sqrt().ceil() as u32;
    let rows = (n as u32).div_ceil(cols);
    let (cw, ch) = (w / cols, h / rows);
    let mut out = image::RgbImage::from_pixel(w, h, image::Rgb([128, 128, 128]));
    for i in 0..n as u32 {
        let p = &photos[i as usize % photos.len()];
        let scale = (cw as f64 / p.width() as f64).min(ch as f64 / p.height() as f64);
        let (pw, ph) = ((p.width() as f64 * scale) as u32, (p.height() as f64 * scale) as u32);
        let small = image::imageops::resize(p, pw.max(1), ph.max(1), image::imageops::FilterType::Triangle);
        let (x, y) = ((i % cols) * cw + (cw - pw) / 2, (i / cols) * ch + (ch - ph) / 2);
        image::imageops::overlay(&mut out, &small, x as i64, y as i64);
    }
    Ok(out)
}

fn run_one(a: &Args, model: &str, w: u32, h: u32, n: usize) -> Result<Row> {
    let img = canvas(&a.data, w, h, n)?;
    let mut opts = common::SwapOpts {
        source: a.data.join("biden.jpg"),
        execution_provider: a.execution_provider.clone(),
        ..Default::default()
    };
    if model.starts_with("swapper_") {
        opts.recognizer = Some("arcface_ghost_test".into());
    }
    let desc = format!(
        "appsrc name=src format=time caps=video/x-raw,format=RGB,width={w},height={h},framerate=30/1 ! {} ! fakesink name=sink sync=false",
        common::swap_chain(&opts, model)
    );
    let pipeline = common::parse(&desc)?;
    // Per element: time from a buffer entering the sink pad to it leaving the src pad (by PTS).
    let totals: Arc<Mutex<[(f64, usize); 4]>> = Arc::new(Mutex::new([(0.0, 0); 4]));
    for (i, name) in STAGES.iter().enumerate() {
        let el = pipeline.by_name(name).with_context(|| format!("no element {name}"))?;
        let pending: Arc<Mutex<HashMap<u64, Instant>>> = Arc::default();
        let p2 = pending.clone();
        el.static_pad("sink").unwrap().add_probe(gst::PadProbeType::BUFFER, move |_, info| {
            if let Some(pts) = info.buffer().and_then(|b| b.pts()) {
                p2.lock().unwrap().insert(pts.nseconds(), Instant::now());
            }
            gst::PadProbeReturn::Ok
        });
        let t2 = totals.clone();
        el.static_pad("src").unwrap().add_probe(gst::PadProbeType::BUFFER, move |_, info| {
            if let Some(pts) = info.buffer().and_then(|b| b.pts()) {
                if let Some(t0) = pending.lock().unwrap().remove(&pts.nseconds()) {
                    // frame 0 is the warm-up (sessions, source identity): not counted
                    if pts.nseconds() > 0 {
                        let mut t = t2.lock().unwrap();
                        t[i].0 += t0.elapsed().as_secs_f64() * 1000.0;
                        t[i].1 += 1;
                    }
                }
            }
            gst::PadProbeReturn::Ok
        });
    }
    let swapped = common::count_swapped_faces(&pipeline, "blend");
    // End to end: from the second frame leaving appsrc to the last reaching the sink.
    let first_timed: Arc<Mutex<Option<Instant>>> = Arc::default();
    let last: Arc<Mutex<(Option<Instant>, usize)>> = Arc::default();
    {
        let (f2, l2) = (first_timed.clone(), last.clone());
        pipeline.by_name("sink").unwrap().static_pad("sink").unwrap().add_probe(
            gst::PadProbeType::BUFFER,
            move |_, _| {
                let mut l = l2.lock().unwrap();
                l.1 += 1;
                if l.1 == 1 {
                    *f2.lock().unwrap() = Some(Instant::now());
                }
                l.0 = Some(Instant::now());
                gst::PadProbeReturn::Ok
            },
        );
    }
    let src = pipeline.by_name("src").unwrap().downcast::<gst_app::AppSrc>().unwrap();
    src.set_property("block", true);
    src.set_property("max-buffers", 4u64);
    let mut data = Vec::new();
    let stride = (w as usize * 3).div_ceil(4) * 4;
    for row in img.rows() {
        let mut line: Vec<u8> = row.flat_map(|p| p.0).collect();
        line.resize(stride, 0);
        data.extend_from_slice(&line);
    }
    let frames = a.frames.max(2);
    let feeder = std::thread::spawn(move || {
        for i in 0..frames {
            let mut b = gst::Buffer::from_slice(data.clone());
            b.get_mut().unwrap().set_pts(gst::ClockTime::from_nseconds(i as u64 * 33_333_333));
            if src.push_buffer(b).is_err() {
                break;
            }
        }
        let _ = src.end_of_stream();
    });
    let result = common::play(&pipeline, Some(Duration::from_secs(600)));
    let _ = feeder.join();
    result?;
    let t = totals.lock().unwrap();
    let ms = std::array::from_fn(|i| if t[i].1 > 0 { t[i].0 / t[i].1 as f64 } else { f64::NAN });
    let (end, count) = *last.lock().unwrap();
    let fps = match (*first_timed.lock().unwrap(), end) {
        (Some(s), Some(e)) if count > 1 => (count - 1) as f64 / e.duration_since(s).as_secs_f64(),
        _ => f64::NAN,
    };
    Ok(Row {
        model: model.into(),
        size: format!("{w}x{h}"),
        faces: n,
        ms,
        fps,
        swapped: swapped.load(std::sync::atomic::Ordering::Relaxed),
    })
}

pub fn table(rows: &[Row]) -> String {
    let mut s = String::from(
        "| model | size | faces | detect ms | track ms | swap ms | blend ms | end-to-end fps | faces swapped |\n",
    );
    s += "|---|---|---:|---:|---:|---:|---:|---:|---:|\n";
    for r in rows {
        s += &format!(
            "| {} | {} | {} | {:.1} | {:.2} | {:.1} | {:.1} | {:.2} | {} |\n",
            r.model, r.size, r.faces, r.ms[0], r.ms[1], r.ms[2], r.ms[3], r.fps, r.swapped
        );
    }
    s
}

pub fn run(a: &Args) -> Result<Vec<Row>> {
    common::init()?;
    let models = if a.models.is_empty() { default_models() } else { a.models.clone() };
    let mut rows = Vec::new();
    for model in &models {
        for size in &a.sizes {
            let (w, h) = size.split_once('x').with_context(|| format!("size `{size}` is not WxH"))?;
            let (w, h): (u32, u32) = (w.parse()?, h.parse()?);
            for &n in &a.faces {
                let row = run_one(a, model, w, h, n).with_context(|| format!("{model} at {size} with {n} faces"))?;
                eprintln!("{model} {size} {n} face(s): {:.2} fps", row.fps);
                rows.push(row);
            }
        }
    }
    println!("{}", table(&rows));
    println!(
        "(ms per frame inside each element, warm-up frame excluded; {} frames per run; {} CPU threads)",
        a.frames,
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
    );
    Ok(rows)
}

#[allow(dead_code)]
fn main() -> Result<()> {
    run(&Args::parse()).map(|_| ())
}
