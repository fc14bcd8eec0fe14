// SPDX-License-Identifier: MIT OR Apache-2.0
//! The test helpers shared by the integration tests: plugin registration and the environment,
//! test data, and running frames through a pipeline between an appsrc and an appsink;
//! [`synthetic`] renders a moving face with known truth for the tracker tests.
#![allow(dead_code)]

#[path = "../../examples/common/checkout_env.rs"]
mod checkout_env;
#[path = "../../examples/common/frames.rs"]
pub mod frames;
pub mod synthetic;
#[path = "../../examples/common/triton_server.rs"]
pub mod triton_server;

pub use checkout_env::default_environment;

use std::path::PathBuf;

use gst::prelude::*;
use gstghost::vision::RgbImage;

pub fn init() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        default_environment();
        // Only the statically registered plugin of this build: never a libgstghost.so found
        // through GST_PLUGIN_PATH or a registry cache made by another build.
        std::env::remove_var("GST_PLUGIN_PATH");
        std::env::set_var("GST_REGISTRY", output_dir().join("gst-registry-tests.bin"));
        gst::init().unwrap();
        gstghost::plugin_register_static().unwrap();
    });
}

pub fn data(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data").join(name)
}

pub fn test_model(name: &str) -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("models/test").join(name).display().to_string()
}

pub fn output_dir() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/output");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

pub fn photo(name: &str) -> RgbImage {
    let img = image::open(data(name)).unwrap().to_rgb8();
    RgbImage::from_raw(img.width() as usize, img.height() as usize, img.into_raw())
}

pub fn save_png(img: &RgbImage, name: &str) -> PathBuf {
    let path = output_dir().join(name);
    image::RgbImage::from_raw(img.width as u32, img.height as u32, img.data.clone()).unwrap().save(&path).unwrap();
    path
}

/// Places images side by side on a grey canvas (for frames with several faces).
pub fn side_by_side(images: &[&RgbImage]) -> RgbImage {
    let w: usize = images.iter().map(|i| i.width).sum();
    let h = images.iter().map(|i| i.height).max().unwrap();
    let mut out = RgbImage::from_raw(w, h, vec![128; w * h * 3]);
    let mut x0 = 0;
    for img in images {
        for y in 0..img.height {
            let dst = (y * w + x0) * 3;
            out.data[dst..dst + img.width * 3].copy_from_slice(img.row(y));
        }
        x0 += img.width;
    }
    out
}

/// Reads an RGB buffer (with GStreamer's row padding) back into an image.
pub fn buffer_to_rgb(buffer: &gst::BufferRef, width: usize, height: usize) -> RgbImage {
    let map = buffer.map_readable().unwrap();
    let stride = (width * 3).div_ceil(4) * 4;
    let mut out = RgbImage::new(width, height);
    for y in 0..height {
        out.data[y * width * 3..(y + 1) * width * 3].copy_from_slice(&map[y * stride..y * stride + width * 3]);
    }
    out
}

/// Runs RGB frames through `appsrc ! {middle} ! appsink` and returns the output buffers, or the
/// first error message posted on the bus.
pub fn run_frames(middle: &str, frames: &[RgbImage]) -> Result<Vec<gst::Buffer>, String> {
    init();
    let (w, h) = (frames[0].width, frames[0].height);
    let desc = format!(
        "appsrc name=src format=time caps=video/x-raw,format=RGB,width={w},height={h},framerate=30/1 ! {middle} ! appsink name=sink sync=false"
    );
    let pipeline = gst::parse::launch(&desc).map_err(|e| e.to_string())?.downcast::<gst::Pipeline>().unwrap();
    let src = pipeline.by_name("src").unwrap().downcast::<gst_app::AppSrc>().unwrap();
    let sink = pipeline.by_name("sink").unwrap().downcast::<gst_app::AppSink>().unwrap();
    let out = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let out2 = out.clone();
    sink.set_callbacks(
        gst_app::AppSinkCallbacks::builder()
            .new_sample(move |s| {
                let sample = s.pull_sample().map_err(|_| gst::FlowError::Eos)?;
                out2.lock().unwrap().push(sample.buffer_owned().unwrap());
                Ok(gst::FlowSuccess::Ok)
            })
            .build(),
    );
    let result = (|| {
        pipeline
            .set_state(gst::State::Playing)
            .map_err(|_| bus_error(&pipeline).unwrap_or_else(|| "state change failed".into()))?;
        for (i, f) in frames.iter().enumerate() {
            if src.push_buffer(frames::rgb_buffer(f, i as u64 * 33)).is_err() {
                break;
            }
        }
        let _ = src.end_of_stream();
        let bus = pipeline.bus().unwrap();
        for msg in bus.iter_timed(gst::ClockTime::from_seconds(120)) {
            match msg.view() {
                gst::MessageView::Eos(_) => return Ok(()),
                gst::MessageView::Error(e) => return Err(format!("{} ({:?})", e.error(), e.debug())),
                _ => {}
            }
        }
        Err("timeout".into())
    })();
    let _ = pipeline.set_state(gst::State::Null);
    result.map(|_| std::mem::take(&mut *out.lock().unwrap()))
}

fn bus_error(pipeline: &gst::Pipeline) -> Option<String> {
    let bus = pipeline.bus()?;
    while let Some(msg) = bus.pop() {
        if let gst::MessageView::Error(e) = msg.view() {
            return Some(format!("{} ({:?})", e.error(), e.debug()));
        }
    }
    None
}

/// Runs `videotestsrc num-buffers=2 ! {middle} ! fakesink` and returns the error it posts, waiting at
/// most `timeout_s` seconds for an error or EOS.
pub fn start_error(middle: &str, timeout_s: u64) -> gst::glib::Error {
    init();
    let pipeline = gst::parse::launch(&format!(
        "videotestsrc num-buffers=2 ! video/x-raw,format=RGB,width=64,height=48 ! {middle} ! fakesink"
    ))
    .unwrap()
    .downcast::<gst::Pipeline>()
    .unwrap();
    let _ = pipeline.set_state(gst::State::Playing);
    let error = pipeline
        .bus()
        .unwrap()
        .timed_pop_filtered(gst::ClockTime::from_seconds(timeout_s), &[gst::MessageType::Error, gst::MessageType::Eos])
        .and_then(|m| match m.view() {
            gst::MessageView::Error(e) => Some(e.error()),
            _ => None,
        });
    pipeline.set_state(gst::State::Null).unwrap();
    error.unwrap_or_else(|| panic!("{middle}: no error"))
}
