// SPDX-License-Identifier: MIT OR Apache-2.0
//! Live face swap from a camera to a window, a v4l2loopback virtual camera, or a UDP/SRT stream,
//! printing the measured frames per second every second.
//!
//!     cargo run --example live -- --source me.jpg                       # /dev/video0 to a window
//!     cargo run --example live -- --source me.jpg --v4l2-out /dev/video10
//!     cargo run --example live -- --source me.jpg --udp 127.0.0.1:5000
//!     cargo run --example live -- --source tests/data/biden.jpg --test-source --num-buffers 30 --fake-sink

#[path = "common/mod.rs"]
mod common;

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use anyhow::{Context, Result};
use clap::Parser;
use gst::prelude::*;

#[derive(Parser, Debug, Clone)]
#[command(about = "Live face swap: camera (or a test source) to a window, a virtual camera or a network stream")]
pub struct Args {
    #[command(flatten)]
    pub swap: common::SwapOpts,
    /// Camera device
    #[arg(long, default_value = "/dev/video0")]
    pub device: String,
    /// No camera: videotestsrc (is-live) with a face photo overlaid
    #[arg(long)]
    pub test_source: bool,
    /// Face photo overlaid on the test source
    #[arg(long, default_value = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/obama.jpg"))]
    pub test_face: PathBuf,
    /// Stop after this many frames (0 = run until interrupted)
    #[arg(long, default_value_t = 0)]
    pub num_buffers: u32,
    #[arg(long, default_value_t = 640)]
    pub width: u32,
    #[arg(long, default_value_t = 480)]
    pub height: u32,
    #[arg(long, default_value_t = 30)]
    pub fps: u32,
    /// Write to a v4l2loopback device (e.g. /dev/video10) instead of a window
    #[arg(long)]
    pub v4l2_out: Option<String>,
    /// Stream RTP over UDP to host:port (H.264 when x264enc exists, else VP8)
    #[arg(long)]
    pub udp: Option<String>,
    /// Stream MPEG-TS/H.264 over SRT to this URI (needs srtsink and x264enc)
    #[arg(long)]
    pub srt: Option<String>,
    /// Discard the frames (no window; for tests and headless measurements)
    #[arg(long)]
    pub fake_sink: bool,
}

fn source(a: &Args) -> String {
    let caps = format!("video/x-raw,width={},height={},framerate={}/1", a.width, a.height, a.fps);
    let nb = if a.num_buffers > 0 { format!(" num-buffers={}", a.num_buffers) } else { String::new() };
    if a.test_source {
        // The photo is scaled to 3/4 of the frame height and drawn over a moving test pattern.
        let h = a.height * 3 / 4;
        format!(
            "videotestsrc is-live=true pattern=ball{nb} ! {caps} ! videoconvert ! \
             gdkpixbufoverlay location={} offset-x={} offset-y={} overlay-height={h} overlay-width={}",
            common::q(a.test_face.display().to_string()),
            a.width / 4,
            a.height / 8,
            h * 4 / 5
        )
    } else {
        format!("v4l2src device={}{nb} ! videoconvert ! videoscale ! videorate ! {caps}", common::q(&a.device))
    }
}

fn sink(a: &Args) -> Result<String> {
    if let Some(dev) = &a.v4l2_out {
        common::require(&["v4l2sink"])?;
        return Ok(format!(
            "videoconvert ! video/x-raw,format=YUY2 ! v4l2sink name=out device={} sync=false",
            common::q(dev)
        ));
    }
    if let Some(hp) = &a.udp {
        let (host, port) = hp.rsplit_once(':').context("--udp wants host:port")?;
        let enc = if common::has("x264enc") {
            "x264enc tune=zerolatency speed-preset=ultrafast key-int-max=30 ! rtph264pay config-interval=1 pt=96"
        } else {
            common::require(&["vp8enc", "rtpvp8pay"])?;
            "vp8enc deadline=1 cpu-used=8 keyframe-max-dist=30 ! rtpvp8pay pt=96"
        };
        eprintln!("receive with: gst-launch-1.0 udpsrc port={port} caps=\"application/x-rtp,media=video,encoding-name={},payload=96,clock-rate=90000\" ! rtpjitterbuffer ! {} ! videoconvert ! autovideosink",
            if enc.starts_with("x264") { "H264" } else { "VP8" },
            if enc.starts_with("x264") { "rtph264depay ! avdec_h264" } else { "rtpvp8depay ! vp8dec" });
        return Ok(format!("videoconvert ! {enc} ! udpsink name=out host={} port={port} sync=false", common::q(host)));
    }
    if let Some(uri) = &a.srt {
        common::require(&["srtsink", "x264enc", "mpegtsmux"])?;
        return Ok(format!(
            "videoconvert ! x264enc tune=zerolatency speed-preset=ultrafast ! mpegtsmux ! srtsink name=out uri={} sync=false",
            common::q(uri)
        ));
    }
    if a.fake_sink {
        return Ok("fakesink name=out sync=false".into());
    }
    Ok("videoconvert ! autovideosink name=out sync=false".into())
}

/// Runs until EOS (with --num-buffers) or an error; returns the frames shown and the average fps.
pub fn run(a: &Args) -> Result<(u64, f64)> {
    common::init()?;
    anyhow::ensure!(a.swap.source.is_file(), "source photo {} not found", a.swap.source.display());
    if a.test_source {
        common::require(&["gdkpixbufoverlay"])?;
        anyhow::ensure!(a.test_face.is_file(), "test face {} not found", a.test_face.display());
    }
    let model = common::choose_model(a.swap.model.as_deref());
    let desc = format!("{} ! {} ! queue name=last ! {}", source(a), common::swap_chain(&a.swap, &model), sink(a)?);
    let pipeline = common::parse(&desc)?;
    // fps: count buffers entering the last queue, report once a second.
    struct Fps {
        start: Option<Instant>,
        window: Instant,
        in_window: u64,
        total: u64,
    }
    let fps = Arc::new(Mutex::new(Fps { start: None, window: Instant::now(), in_window: 0, total: 0 }));
    let f2 = fps.clone();
    pipeline.by_name("last").unwrap().static_pad("sink").unwrap().add_probe(gst::PadProbeType::BUFFER, move |_, _| {
        let mut f = f2.lock().unwrap();
        let now = Instant::now();
        if f.start.is_none() {
            f.start = Some(now);
            f.window = now;
        }
        f.total += 1;
        f.in_window += 1;
        let dt = now.duration_since(f.window).as_secs_f64();
        if dt >= 1.0 {
            println!("fps: {:.1}", f.in_window as f64 / dt);
            f.window = now;
            f.in_window = 0;
        }
        gst::PadProbeReturn::Ok
    });
    common::play(&pipeline, None)?;
    let f = fps.lock().unwrap();
    let secs = f.start.map(|s| s.elapsed().as_secs_f64()).unwrap_or(0.0);
    let avg = if secs > 0.0 { (f.total.saturating_sub(1)) as f64 / secs } else { 0.0 };
    println!("{} frames, average {avg:.1} fps (model {model})", f.total);
    Ok((f.total, avg))
}

#[allow(dead_code)]
fn main() -> Result<()> {
    run(&Args::parse()).map(|_| ())
}
