// SPDX-License-Identifier: MIT OR Apache-2.0
//! The README's first command: a face swap on the photos in tests/data, as a still image and as a
//! short generated clip in which the target face moves (so tracking and smoothing show).
//!
//! Usage: cargo run --example demo -- [--out DIR]
//! Writes DIR/swap_image.png, DIR/swap_clip.webm and DIR/swap_clip_frames.png (before/after).

use std::error::Error;
use std::path::{Path, PathBuf};

use gst::prelude::*;
use gstghost::models::resolve_model;
use gstghost::vision::{resize_rgb, Filter, RgbImage};

#[path = "common/checkout_env.rs"]
mod checkout_env;

const CLIP_FRAMES: usize = 90;
const CLIP_SIZE: (usize, usize) = (640, 480);

fn main() -> Result<(), Box<dyn Error>> {
    checkout_env::default_environment();
    let mut args = std::env::args().skip(1);
    let mut out = PathBuf::from("out");
    while let Some(a) = args.next() {
        match a.as_str() {
            "--out" => out = PathBuf::from(args.next().ok_or("--out needs a folder")?),
            "-h" | "--help" => {
                println!("usage: demo [--out DIR]\nSwaps the face of tests/data/biden.jpg into tests/data/obama.jpg (image) and into a generated clip.");
                return Ok(());
            }
            other => return Err(format!("unknown argument {other}").into()),
        }
    }
    std::fs::create_dir_all(&out)?;
    gst::init()?;
    gstghost::plugin_register_static()?;

    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data");
    let (source, target) = (data.join("biden.jpg"), data.join("obama.jpg"));
    let (swap_props, description) = choose_models();
    println!(
        "source face: {}\ntarget:      {}\nmodels:      MTCNN detector (built in), Kalman tracker, {description}",
        source.display(),
        target.display()
    );

    // 1. The still image, straight from gst-launch-style elements.
    let image_out = out.join("swap_image.png");
    run(&format!(
        "filesrc location={} ! decodebin ! videoconvert ! ghostfaceswapbin {swap_props} source={} ! videoconvert ! pngenc ! filesink location={}",
        target.display(),
        source.display(),
        image_out.display()
    ))?;

    // 2. A clip with the target face moving, swapped, encoded, plus a before/after sheet.
    let frames = moving_face_clip(&target)?;
    let swapped = swap_frames(&frames, &format!("{swap_props} source={} lookahead=2", source.display()))?;
    let clip_out = out.join("swap_clip.webm");
    encode_webm(&swapped, &clip_out)?;
    let sheet_out = out.join("swap_clip_frames.png");
    contact_sheet(&frames, &swapped, &sheet_out)?;

    println!("\nwrote:\n  {}\n  {}\n  {}", image_out.display(), clip_out.display(), sheet_out.display());
    if swap_props.contains("paste") {
        println!(
            "\nNote: no GHOST generator is installed, so this used `paste`, a model-free baseline (the aligned\n\
             source face, colour-matched). For the real GHOST swap fetch the models:\n  \
             cargo run -p ghost-models -- fetch --all-for swap\nand run this again."
        );
    }
    Ok(())
}

/// GHOST when its generator and a recognizer are installed, else the `paste` baseline.
fn choose_models() -> (String, String) {
    let ghost = resolve_model("ghost_2_256").ok();
    let w600k = resolve_model("arcface_w600k_r50").ok().zip(resolve_model("crossface_ghost").ok());
    match (ghost, w600k) {
        (Some(g), Some((r, c))) => (
            format!("model={} recognizer={} converter={}", g.path().display(), r.path().display(), c.path().display()),
            format!("GHOST generator {}", g.path().display()),
        ),
        _ => ("model=paste".to_string(), "swapper `paste` (baseline), template mask".to_string()),
    }
}

fn run(desc: &str) -> Result<(), Box<dyn Error>> {
    let pipeline = gst::parse::launch(desc)?;
    pipeline.set_state(gst::State::Playing)?;
    let bus = pipeline.bus().unwrap();
    let result = bus.iter_timed(gst::ClockTime::from_seconds(300)).find_map(|msg| match msg.view() {
        gst::MessageView::Eos(_) => Some(Ok(())),
        gst::MessageView::Error(e) => Some(Err(format!("{} ({:?})", e.error(), e.debug()))),
        _ => None,
    });
    pipeline.set_state(gst::State::Null)?;
    Ok(result.unwrap_or_else(|| Err("timed out".into()))?)
}

fn load(path: &Path) -> Result<RgbImage, Box<dyn Error>> {
    let img = image::open(path)?.to_rgb8();
    Ok(RgbImage::from_raw(img.width() as usize, img.height() as usize, img.into_raw()))
}

/// The target photo's upper part moving and zooming slowly over a 640x480 frame.
fn moving_face_clip(target: &Path) -> Result<Vec<RgbImage>, Box<dyn Error>> {
    let photo = load(target)?;
    let (w, h) = CLIP_SIZE;
    let mut frames = Vec::with_capacity(CLIP_FRAMES);
    for i in 0..CLIP_FRAMES {
        let t = i as f64 / CLIP_FRAMES as f64;
        let scale = 0.42 + 0.08 * (t * std::f64::consts::TAU).sin();
        let (pw, ph) = ((photo.width as f64 * scale) as usize, (photo.height as f64 * scale) as usize);
        let small = resize_rgb(&photo, pw, ph, Filter::Area);
        let x0 = (60.0 + 140.0 * t) as isize;
        let y0 = (-10.0 + 20.0 * (t * 3.0).sin()) as isize;
        let mut frame = RgbImage::from_raw(w, h, vec![40; w * h * 3]);
        for y in 0..h {
            let sy = y as isize - y0;
            if sy < 0 || sy >= ph as isize {
                continue;
            }
            for x in 0..w {
                let sx = x as isize - x0;
                if sx >= 0 && sx < pw as isize {
                    frame.set(x, y, small.get(sx as usize, sy as usize));
                }
            }
        }
        frames.push(frame);
    }
    Ok(frames)
}

fn swap_frames(frames: &[RgbImage], bin_props: &str) -> Result<Vec<RgbImage>, Box<dyn Error>> {
    let (w, h) = CLIP_SIZE;
    let pipeline = gst::parse::launch(&format!(
        "appsrc name=src format=time caps=video/x-raw,format=RGB,width={w},height={h},framerate=30/1 ! \
         ghostfaceswapbin {bin_props} ! video/x-raw,format=RGB ! appsink name=sink sync=false"
    ))?
    .downcast::<gst::Pipeline>()
    .unwrap();
    let src = pipeline.by_name("src").unwrap().downcast::<gst_app::AppSrc>().unwrap();
    let sink = pipeline.by_name("sink").unwrap().downcast::<gst_app::AppSink>().unwrap();
    pipeline.set_state(gst::State::Playing)?;
    let feeder = {
        let frames = frames.to_vec();
        std::thread::spawn(move || {
            for (i, f) in frames.iter().enumerate() {
                let mut buffer = gst::Buffer::from_mut_slice(f.data.clone());
                buffer.get_mut().unwrap().set_pts(gst::ClockTime::from_nseconds(i as u64 * 1_000_000_000 / 30));
                if src.push_buffer(buffer).is_err() {
                    break;
                }
            }
            let _ = src.end_of_stream();
        })
    };
    let mut out = Vec::with_capacity(frames.len());
    while let Ok(sample) = sink.pull_sample() {
        let map = sample.buffer().unwrap().map_readable()?;
        out.push(RgbImage::from_raw(w, h, map.to_vec()));
    }
    feeder.join().map_err(|_| "feeder thread panicked")?;
    let errors: Vec<String> = pipeline
        .bus()
        .unwrap()
        .iter()
        .filter_map(|m| match m.view() {
            gst::MessageView::Error(e) => Some(e.error().to_string()),
            _ => None,
        })
        .collect();
    pipeline.set_state(gst::State::Null)?;
    if let Some(e) = errors.first() {
        return Err(e.clone().into());
    }
    if out.len() != frames.len() {
        return Err(format!("{} of {} frames came out", out.len(), frames.len()).into());
    }
    Ok(out)
}

fn encode_webm(frames: &[RgbImage], path: &Path) -> Result<(), Box<dyn Error>> {
    let (w, h) = CLIP_SIZE;
    let pipeline = gst::parse::launch(&format!(
        "appsrc name=src format=time caps=video/x-raw,format=RGB,width={w},height={h},framerate=30/1 ! videoconvert ! \
         vp8enc deadline=1 target-bitrate=2000000 ! webmmux ! filesink location={}",
        path.display()
    ))?
    .downcast::<gst::Pipeline>()
    .unwrap();
    let src = pipeline.by_name("src").unwrap().downcast::<gst_app::AppSrc>().unwrap();
    pipeline.set_state(gst::State::Playing)?;
    for (i, f) in frames.iter().enumerate() {
        let mut buffer = gst::Buffer::from_mut_slice(f.data.clone());
        buffer.get_mut().unwrap().set_pts(gst::ClockTime::from_nseconds(i as u64 * 1_000_000_000 / 30));
        src.push_buffer(buffer)?;
    }
    src.end_of_stream()?;
    let bus = pipeline.bus().unwrap();
    let done = bus.iter_timed(gst::ClockTime::from_seconds(120)).find_map(|m| match m.view() {
        gst::MessageView::Eos(_) => Some(Ok(())),
        gst::MessageView::Error(e) => Some(Err(e.error().to_string())),
        _ => None,
    });
    pipeline.set_state(gst::State::Null)?;
    Ok(done.unwrap_or_else(|| Err("encoding timed out".into()))?)
}

/// Four frames of the clip, original above and swapped below.
fn contact_sheet(before: &[RgbImage], after: &[RgbImage], path: &Path) -> Result<(), Box<dyn Error>> {
    let picks = [0, before.len() / 3, 2 * before.len() / 3, before.len() - 1];
    let (w, h) = (CLIP_SIZE.0 / 2, CLIP_SIZE.1 / 2);
    let mut sheet = image::RgbImage::new((w * picks.len()) as u32, (h * 2) as u32);
    for (col, &i) in picks.iter().enumerate() {
        for (row, img) in [&before[i], &after[i]].into_iter().enumerate() {
            let small = resize_rgb(img, w, h, Filter::Area);
            for y in 0..h {
                for x in 0..w {
                    let p = small.get(x, y);
                    sheet.put_pixel((col * w + x) as u32, (row * h + y) as u32, image::Rgb(p));
                }
            }
        }
    }
    sheet.save(path)?;
    Ok(())
}
