// SPDX-License-Identifier: MIT OR Apache-2.0
//! Face-detector timing: `cargo run --release --example bench_detect` (or plain `cargo run --example
//! bench_detect`; the dev profile is optimised too). Prints the median ms/frame of ~20 runs after warm-up
//! for MTCNN on obama.jpg letterboxed to 640x480, 1280x720 and 1920x1080, and for the SCRFD-shaped
//! `scrfd_test.onnx` at 640. `BENCH_MTCNN=ort` runs MTCNN's networks in ONNX Runtime instead of natively.

use std::path::PathBuf;
use std::time::Instant;

use gstghost::models::{resolve_model, Detector, DetectorParams, ModelLocation};
use gstghost::runtime::{ExecutionProvider, SessionOptions};
use gstghost::vision::{resize_rgb, Filter, PackedFrame, RgbImage};

#[path = "common/checkout_env.rs"]
mod checkout_env;

/// The photo scaled to fit w×h (INTER_AREA), centred on black.
fn letterbox_centre(img: &RgbImage, w: usize, h: usize) -> RgbImage {
    let s = (w as f64 / img.width as f64).min(h as f64 / img.height as f64);
    let (nw, nh) = ((img.width as f64 * s) as usize, (img.height as f64 * s) as usize);
    let r = resize_rgb(img, nw, nh, Filter::Area);
    let mut out = RgbImage::new(w, h);
    let (x0, y0) = ((w - nw) / 2, (h - nh) / 2);
    for y in 0..nh {
        let d = ((y0 + y) * w + x0) * 3;
        out.data[d..d + nw * 3].copy_from_slice(r.row(y));
    }
    out
}

/// CPU time of this process so far (user + system, all threads), from /proc; NaN elsewhere. The
/// benchmark reports it next to the wall time: on a busy machine it still says how much work a frame is.
fn process_cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name (which is in parentheses): utime and stime are the 12th and 13th.
    let fields: Vec<&str> = stat.rsplit(')').next().unwrap_or("").split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(f64::NAN);
    (ticks(11) + ticks(12)) / 100.0
}

/// (median wall ms, mean CPU ms, faces) per frame.
fn median_ms(det: &mut Detector, img: &RgbImage, params: &DetectorParams, runs: usize) -> (f64, f64, usize) {
    let f = PackedFrame::from_rgb(img);
    let mut n = 0;
    for _ in 0..3 {
        n = det.detect(&f, params).expect("detect").len();
    }
    let cpu = process_cpu_seconds();
    let mut t: Vec<f64> = (0..runs)
        .map(|_| {
            let s = Instant::now();
            det.detect(&f, params).expect("detect");
            s.elapsed().as_secs_f64() * 1000.0
        })
        .collect();
    let cpu = (process_cpu_seconds() - cpu) * 1000.0 / runs as f64;
    t.sort_by(f64::total_cmp);
    (t[t.len() / 2], cpu, n)
}

fn main() {
    checkout_env::default_environment();
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let threads: u32 = std::env::var("BENCH_THREADS").ok().and_then(|v| v.parse().ok()).unwrap_or(0);
    let opts = SessionOptions { provider: ExecutionProvider::Cpu, threads, ..Default::default() };
    let photo = image::open(root.join("tests/data/obama.jpg")).expect("obama.jpg").to_rgb8();
    let (pw, ph) = photo.dimensions();
    let photo = RgbImage::from_raw(pw as usize, ph as usize, photo.into_raw());
    let params = DetectorParams::default();
    let runs = std::env::var("BENCH_RUNS").ok().and_then(|v| v.parse().ok()).unwrap_or(20);

    println!("{:<28} {:>11} {:>10} {:>7} {:>6}", "detector", "frame", "median ms", "cpu ms", "faces");
    let mut mtcnn = Detector::open(&resolve_model("mtcnn").expect("mtcnn"), &opts).expect("open mtcnn");
    if let Detector::Mtcnn(m) = &mut mtcnn {
        // BENCH_MTCNN=ort: the networks in ONNX Runtime even where the native kernels run.
        m.set_native(std::env::var("BENCH_MTCNN").as_deref() != Ok("ort"));
        println!("MTCNN: {}", if m.native() { m.note() } else { "networks run in ONNX Runtime (BENCH_MTCNN=ort)" });
    }
    // BENCH_ONLY=1280x720 times one size (for profiling).
    let only = std::env::var("BENCH_ONLY").ok();
    for (w, h) in [(640, 480), (1280, 720), (1920, 1080)] {
        if only.as_ref().is_some_and(|o| *o != format!("{w}x{h}")) {
            continue;
        }
        let img = letterbox_centre(&photo, w, h);
        let (ms, cpu, n) = median_ms(&mut mtcnn, &img, &params, runs);
        println!("{:<28} {:>11} {:>10.2} {:>7.1} {:>6}", "mtcnn (min face 20)", format!("{w}x{h}"), ms, cpu, n);
    }
    let mut scrfd =
        Detector::open(&ModelLocation::File(root.join("models/test/scrfd_test.onnx")), &opts).expect("open scrfd_test");
    for (w, h) in [(640, 480), (1280, 720)] {
        if only.as_ref().is_some_and(|o| *o != format!("{w}x{h}")) {
            continue;
        }
        let img = letterbox_centre(&photo, w, h);
        let (ms, cpu, n) = median_ms(&mut scrfd, &img, &params, runs);
        println!("{:<28} {:>11} {:>10.2} {:>7.1} {:>6}", "scrfd_test.onnx @640", format!("{w}x{h}"), ms, cpu, n);
    }
}
