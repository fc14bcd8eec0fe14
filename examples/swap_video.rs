// SPDX-License-Identifier: MIT OR Apache-2.0
//! Swaps faces in a video file and keeps its audio.
//!
//!     cargo run --example swap_video -- --source tests/data/biden.jpg --input in.webm --out out/swapped.webm
//!
//! The container follows the output extension: .webm (VP8 + Opus/Vorbis), .mkv (H.264 when
//! x264enc exists, else VP8; Opus/Vorbis), .mp4 (needs x264enc from gstreamer1.0-plugins-ugly).

#[path = "common/mod.rs"]
mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use clap::Parser;
use gst::prelude::*;

#[derive(Parser, Debug, Clone)]
#[command(about = "Swap the face of --source onto the faces in a video file, keeping its audio")]
pub struct Args {
    #[command(flatten)]
    pub swap: common::SwapOpts,
    /// Input video file (anything decodebin plays)
    #[arg(long)]
    pub input: PathBuf,
    /// Output file; its extension picks the container (.webm, .mkv, .mp4).
    /// Default: out/swapped.mp4 when x264enc and mp4mux exist, else out/swapped.webm
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Video bitrate in kbit/s
    #[arg(long, default_value_t = 4000)]
    pub bitrate: u32,
}

/// What ran: output file, video frames written, whether audio was kept.
#[derive(Debug)]
pub struct Outcome {
    pub out: PathBuf,
    pub frames: u64,
    pub audio: bool,
}

/// Finds out whether the input has audio and video streams (prerolls decodebin into fakesinks).
pub fn probe_streams(input: &Path) -> Result<(bool, bool)> {
    let pipeline = gst::Pipeline::new();
    let src =
        gst::ElementFactory::make("filesrc").property("location", input.to_str().context("path not UTF-8")?).build()?;
    let decode = gst::ElementFactory::make("decodebin").build()?;
    pipeline.add_many([&src, &decode])?;
    src.link(&decode)?;
    let found = std::sync::Arc::new(std::sync::Mutex::new((false, false)));
    let found2 = found.clone();
    let pipe_weak = pipeline.downgrade();
    decode.connect_pad_added(move |_, pad| {
        let Some(pipeline) = pipe_weak.upgrade() else { return };
        let caps = pad.current_caps().unwrap_or_else(|| pad.query_caps(None));
        let name = caps.structure(0).map(|s| s.name().to_string()).unwrap_or_default();
        let mut f = found2.lock().unwrap();
        if name.starts_with("audio/") {
            f.0 = true;
        } else if name.starts_with("video/") {
            f.1 = true;
        }
        let sink = gst::ElementFactory::make("fakesink").build().unwrap();
        pipeline.add(&sink).unwrap();
        sink.sync_state_with_parent().unwrap();
        let _ = pad.link(&sink.static_pad("sink").unwrap());
    });
    pipeline.set_state(gst::State::Paused).context("cannot open the input")?;
    let bus = pipeline.bus().unwrap();
    let mut result = Ok(());
    for msg in bus.iter_timed(gst::ClockTime::from_seconds(30)) {
        match msg.view() {
            gst::MessageView::AsyncDone(_) => break,
            gst::MessageView::Error(e) => {
                result = Err(anyhow::anyhow!("cannot read {}: {}", input.display(), e.error()));
                break;
            }
            _ => {}
        }
    }
    let _ = pipeline.set_state(gst::State::Null);
    result?;
    let f = *found.lock().unwrap();
    Ok(f)
}

fn first_available(list: &[&'static str]) -> Option<&'static str> {
    list.iter().copied().find(|f| common::has(f))
}

/// (video encoder fragment, muxer, audio encoder fragment) for the output extension.
fn encoders(ext: &str, kbps: u32) -> Result<(String, &'static str, Option<String>)> {
    let vp8 = format!("vp8enc deadline=1 cpu-used=8 target-bitrate={}", kbps * 1000);
    let h264 = format!("x264enc tune=zerolatency speed-preset=veryfast bitrate={kbps} ! h264parse");
    let opus_vorbis = first_available(&["opusenc", "vorbisenc"]).map(|e| e.to_string());
    Ok(match ext {
        "webm" => {
            common::require(&["vp8enc", "webmmux"])?;
            (vp8, "webmmux", opus_vorbis)
        }
        "mkv" => {
            common::require(&["matroskamux"])?;
            let video = if common::has("x264enc") && common::has("h264parse") {
                h264
            } else {
                common::require(&["vp8enc"])?;
                vp8
            };
            (video, "matroskamux", opus_vorbis)
        }
        "mp4" | "mov" => {
            common::require(&["x264enc", "h264parse", "mp4mux"])?;
            let audio = first_available(&["fdkaacenc", "avenc_aac", "voaacenc", "lamemp3enc", "opusenc"])
                .map(|e| e.to_string());
            (h264, "mp4mux", audio)
        }
        other => bail!("unsupported output extension `.{other}`: use .webm, .mkv or .mp4"),
    })
}

pub fn run(args: &Args) -> Result<Outcome> {
    common::init()?;
    anyhow::ensure!(args.swap.source.is_file(), "source photo {} not found", args.swap.source.display());
    anyhow::ensure!(args.input.is_file(), "input video {} not found", args.input.display());
    let out = args.out.clone().unwrap_or_else(|| {
        if common::has("x264enc") && common::has("mp4mux") {
            "out/swapped.mp4".into()
        } else {
            "out/swapped.webm".into()
        }
    });
    if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    if args.swap.enhancer.is_some() {
        common::require(&["ghostfaceenhance"])?;
    }
    let (video_enc, mux, audio_enc) = encoders(&common::extension(&out), args.bitrate)?;
    let (has_audio, has_video) = probe_streams(&args.input)?;
    anyhow::ensure!(has_video, "{} has no video stream", args.input.display());
    let audio = match (has_audio, &audio_enc) {
        (false, _) => {
            eprintln!("warning: {} has no audio; writing video only", args.input.display());
            false
        }
        (true, None) => {
            eprintln!("warning: no audio encoder for {mux} (install opusenc/vorbisenc); dropping the audio");
            false
        }
        (true, Some(_)) => true,
    };
    let model = common::choose_model(args.swap.model.as_deref());
    let mut desc = format!(
        "filesrc location={} ! decodebin name=dec \
         dec. ! queue ! {} ! identity name=counter ! {video_enc} ! queue ! {mux} name=mux ! filesink location={}",
        common::q(args.input.display().to_string()),
        common::swap_chain(&args.swap, &model),
        common::q(out.display().to_string())
    );
    if audio {
        desc += &format!(" dec. ! queue ! audioconvert ! audioresample ! {} ! queue ! mux.", audio_enc.unwrap());
    }
    let pipeline = common::parse(&desc)?;
    let frames = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let f2 = frames.clone();
    pipeline.by_name("counter").unwrap().static_pad("src").unwrap().add_probe(
        gst::PadProbeType::BUFFER,
        move |_, _| {
            f2.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            gst::PadProbeReturn::Ok
        },
    );
    let swapped = common::count_swapped_faces(&pipeline, "blend");
    let started = std::time::Instant::now();
    common::play(&pipeline, None::<Duration>)?;
    let frames = frames.load(std::sync::atomic::Ordering::Relaxed);
    println!(
        "wrote {} ({frames} frames, {} swapped faces, audio {}, model {model}) in {:.1} s",
        out.display(),
        swapped.load(std::sync::atomic::Ordering::Relaxed),
        if audio { "kept" } else { "none" },
        started.elapsed().as_secs_f64()
    );
    Ok(Outcome { out, frames, audio })
}

#[allow(dead_code)]
fn main() -> Result<()> {
    run(&Args::parse()).map(|_| ())
}
