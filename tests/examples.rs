// SPDX-License-Identifier: MIT OR Apache-2.0
//! Runs every example's logic (the same `run` its `main` calls, with arguments parsed by its clap
//! parser) on the test data, and checks the outputs by decoding them back with GStreamer.

#![allow(dead_code)]
// Each example is a program of its own with its own `mod common;`; here they share one process.
#![allow(clippy::duplicate_mod)]

#[path = "../examples/bench.rs"]
mod bench;
#[path = "../examples/live.rs"]
mod live;
#[path = "../examples/soak.rs"]
mod soak;
#[path = "../examples/swap_image.rs"]
mod swap_image;
#[path = "../examples/swap_video.rs"]
mod swap_video;

use clap::{CommandFactory, Parser};
use gst::prelude::*;

fn root() -> &'static str {
    env!("CARGO_MANIFEST_DIR")
}

fn out(name: &str) -> String {
    let dir = format!("{}/tests/output", root());
    std::fs::create_dir_all(&dir).unwrap();
    format!("{dir}/{name}")
}

/// Decodes a file with GStreamer; returns (video frames, width, height).
fn decode(path: &str) -> (u64, i32, i32) {
    let p = gst::parse::launch(&format!("filesrc location={path} ! decodebin ! videoconvert ! fakesink name=s"))
        .unwrap()
        .downcast::<gst::Pipeline>()
        .unwrap();
    let count = std::sync::Arc::new(std::sync::Mutex::new((0u64, 0, 0)));
    let c = count.clone();
    p.by_name("s").unwrap().static_pad("sink").unwrap().add_probe(gst::PadProbeType::BUFFER, move |pad, _| {
        let mut c = c.lock().unwrap();
        c.0 += 1;
        if let Some(s) = pad.current_caps().as_ref().and_then(|caps| caps.structure(0).map(|s| s.to_owned())) {
            c.1 = s.get::<i32>("width").unwrap_or(0);
            c.2 = s.get::<i32>("height").unwrap_or(0);
        }
        gst::PadProbeReturn::Ok
    });
    p.set_state(gst::State::Playing).unwrap();
    for msg in p.bus().unwrap().iter_timed(gst::ClockTime::from_seconds(60)) {
        match msg.view() {
            gst::MessageView::Eos(_) => break,
            gst::MessageView::Error(e) => panic!("{path} does not decode: {}", e.error()),
            _ => {}
        }
    }
    p.set_state(gst::State::Null).unwrap();
    let r = *count.lock().unwrap();
    r
}

#[test]
fn every_example_has_a_valid_help() {
    swap_image::Args::command().debug_assert();
    swap_video::Args::command().debug_assert();
    live::Args::command().debug_assert();
    bench::Args::command().debug_assert();
    soak::Args::command().debug_assert();
    assert!(swap_image::Args::try_parse_from(["swap_image", "--help"]).is_err());
    // --help exits via an "error"
}

#[test]
fn swap_image_writes_a_png_with_the_target_size() {
    let png = out("example-swap.png");
    let _ = std::fs::remove_file(&png);
    let args = swap_image::Args::parse_from([
        "swap_image",
        "--source",
        &format!("{}/tests/data/biden.jpg", root()),
        "--target",
        &format!("{}/tests/data/obama.jpg", root()),
        "--out",
        &png,
        "--model",
        "paste",
        "--color-correct",
        "reinhard",
    ]);
    let swapped = swap_image::run(&args).unwrap();
    assert!(swapped >= 1);
    let img = image::open(&png).unwrap();
    assert_eq!((img.width(), img.height()), (910, 1137));
}

fn make_clip(path: &str, audio: bool) {
    swap_image_common_init();
    let a = if audio { " audiotestsrc num-buffers=20 ! audioconvert ! opusenc ! queue ! m." } else { "" };
    let desc = format!(
        "filesrc location={}/tests/data/obama.jpg ! jpegdec ! imagefreeze num-buffers=6 ! videoscale ! videoconvert ! \
         video/x-raw,width=320,height=400,framerate=10/1 ! vp8enc deadline=1 ! queue ! webmmux name=m ! filesink location={path}{a}",
        root()
    );
    let p = gst::parse::launch(&desc).unwrap().downcast::<gst::Pipeline>().unwrap();
    p.set_state(gst::State::Playing).unwrap();
    for msg in p.bus().unwrap().iter_timed(gst::ClockTime::from_seconds(60)) {
        match msg.view() {
            gst::MessageView::Eos(_) => break,
            gst::MessageView::Error(e) => panic!("{}", e.error()),
            _ => {}
        }
    }
    p.set_state(gst::State::Null).unwrap();
}

fn swap_image_common_init() {
    gst::init().unwrap();
}

#[test]
fn swap_video_keeps_audio_and_all_frames() {
    for (audio, ext) in [(true, "webm"), (false, "mkv")] {
        let input = out(&format!("example-in-{audio}.webm"));
        make_clip(&input, audio);
        let output = out(&format!("example-swapped-{audio}.{ext}"));
        let args = swap_video::Args::parse_from([
            "swap_video",
            "--source",
            &format!("{}/tests/data/biden.jpg", root()),
            "--input",
            &input,
            "--out",
            &output,
            "--model",
            "paste",
        ]);
        let outcome = swap_video::run(&args).unwrap();
        assert_eq!(outcome.frames, 6);
        assert_eq!(outcome.audio, audio);
        assert!(swap_video::probe_streams(std::path::Path::new(&output)).unwrap() == (audio, true));
        assert_eq!(decode(&output), (6, 320, 400));
    }
}

#[test]
fn live_runs_on_the_test_source() {
    let args = live::Args::parse_from([
        "live",
        "--source",
        &format!("{}/tests/data/biden.jpg", root()),
        "--test-source",
        "--num-buffers",
        "5",
        "--fake-sink",
        "--model",
        "paste",
        "--width",
        "320",
        "--height",
        "240",
    ]);
    let (frames, fps) = live::run(&args).unwrap();
    assert_eq!(frames, 5);
    assert!(fps > 0.0);
}

#[test]
fn bench_prints_a_row_per_run() {
    let args = bench::Args::parse_from([
        "bench", "--sizes", "320x240", "--faces", "1,4", "--frames", "2", "--models", "paste",
    ]);
    let rows = bench::run(&args).unwrap();
    assert_eq!(rows.len(), 2);
    for r in &rows {
        assert!(r.fps > 0.0 && r.ms.iter().all(|m| m.is_finite()), "{r:?}");
    }
    assert!(bench::table(&rows).lines().count() == 4);
}

#[test]
fn soak_swaps_every_frame_and_reports_memory_per_cycle() {
    let args = soak::Args::parse_from([
        "soak",
        "--frames",
        "40",
        "--cycles",
        "4",
        "--report-every",
        "2",
        "--size",
        "160x120",
        "--sample-ms",
        "100",
    ]);
    let soak = soak::run(&args).unwrap();
    let frames = soak.frames.unwrap();
    assert_eq!((frames.frames, frames.swapped), (40, 40), "every frame through, every face swapped");
    assert!(frames.rss_end > frames.rss_start && frames.growth_per_10k_mb.is_finite(), "{frames:?}");
    let cycles = soak.cycles.unwrap();
    assert_eq!(cycles.points.iter().map(|p| p.cycle).collect::<Vec<_>>(), [1, 2, 4]);
    assert!(cycles.points.iter().all(|p| p.rss > 0 && p.threads > 0), "{cycles:?}");
    assert_eq!(cycles.enhancer_mismatches, 0, "the enhancer set in NULL is in the bin after the start");
    // detect, track, swap and blend, and an enhancer in cycles 1 and 3 (removed again at the start of
    // cycles 2 and 4): six made, the two enhancers freed.
    let last = cycles.points.last().unwrap();
    assert_eq!((last.elements_made, last.elements_alive), (6, 4), "{cycles:?}");
}
