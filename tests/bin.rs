// SPDX-License-Identifier: MIT OR Apache-2.0
//! ghostfaceswapbin: formats in and out, a whole clip through the chain, live latency, proxies.

mod common;

use common::{photo, test_model};
use gst::prelude::*;
use gstghost::meta::FacesMeta;
use gstghost::vision::{resize_rgb, unpack_rgb, Filter, PackedFrame, Rect, RgbImage};

fn source_arg() -> String {
    format!("model=paste source={}", common::data("obama.jpg").display())
}

/// Output caps and buffer count of `videotestsrc ! caps ! ghostfaceswapbin ! appsink`.
fn run_format(format: &str) -> (String, usize) {
    common::init();
    let pipeline = gst::parse::launch(&format!(
        "videotestsrc num-buffers=4 ! video/x-raw,format={format},width=320,height=240 ! ghostfaceswapbin {} ! appsink name=sink sync=false",
        source_arg()
    ))
    .unwrap()
    .downcast::<gst::Pipeline>()
    .unwrap();
    let sink = pipeline.by_name("sink").unwrap().downcast::<gst_app::AppSink>().unwrap();
    pipeline.set_state(gst::State::Playing).unwrap();
    let mut count = 0;
    let mut out_format = String::new();
    while let Ok(sample) = sink.pull_sample() {
        out_format = sample.caps().unwrap().structure(0).unwrap().get::<String>("format").unwrap();
        count += 1;
    }
    pipeline.set_state(gst::State::Null).unwrap();
    (out_format, count)
}

#[test]
fn any_raw_format_in_gives_the_same_format_out() {
    for format in ["I420", "NV12", "YUY2", "RGBA", "BGRx"] {
        assert_eq!(run_format(format), (format.to_string(), 4), "{format}");
    }
}

/// Biden's face region moving across a 320x240 frame.
fn clip(frames: usize) -> Vec<RgbImage> {
    let img = photo("biden.jpg");
    let frame = PackedFrame::from_rgb(&img);
    let face = resize_rgb(&unpack_rgb(&frame, Rect::new(300, 40, 540, 600)), 162, 180, Filter::Area);
    (0..frames)
        .map(|i| {
            let mut canvas = RgbImage::from_raw(320, 240, vec![70; 320 * 240 * 3]);
            let x0 = 20 + (i * 2) % 130;
            for y in 0..face.height {
                let dst = ((y + 30) * 320 + x0) * 3;
                canvas.data[dst..dst + face.width * 3].copy_from_slice(face.row(y));
            }
            canvas
        })
        .collect()
}

#[test]
fn a_clip_runs_through_the_whole_chain_without_losing_frames() {
    let frames = clip(60);
    let middle = format!(
        "ghostfaceswapbin model={} source-embedding={} lookahead=2 interval=2",
        test_model("swapper_mix.onnx"),
        embedding()
    );
    let out = common::run_frames(&middle, &frames).unwrap();
    assert_eq!(out.len(), 60, "no frame dropped");
    let mut swapped = 0;
    for (i, buffer) in out.iter().enumerate() {
        assert_eq!(buffer.pts(), Some(gst::ClockTime::from_mseconds(i as u64 * 33)), "order kept");
        let faces = FacesMeta::from_buffer(buffer).unwrap().faces;
        if faces.iter().any(|f| f.swap.is_some()) {
            swapped += 1;
            // The face's pixels changed (the mixing model tints the face).
            let img = common::buffer_to_rgb(buffer, 320, 240);
            let f = &faces[0];
            let (cx, cy) = (((f.bbox[0] + f.bbox[2]) / 2.0) as usize, ((f.bbox[1] + f.bbox[3]) / 2.0) as usize);
            assert_ne!(img.get(cx, cy), frames[i].get(cx, cy), "frame {i}: face unchanged");
        }
        // Tracked faces have ids; frames the detector skipped are filled in by the tracker.
        assert!(faces.iter().all(|f| f.track_id >= 1), "frame {i}");
    }
    assert!(swapped >= 58, "only {swapped} of 60 frames swapped");
}

fn embedding() -> String {
    let path = common::output_dir().join("bin-embedding.npy");
    let values: Vec<f32> = (0..512).map(|i| ((i * 29 % 83) as f32 / 41.0) - 1.0).collect();
    gstghost::models::identity::write_embedding(&path, &values).unwrap();
    path.display().to_string()
}

#[test]
fn a_live_pipeline_reports_the_lookahead_as_latency() {
    common::init();
    for lookahead in [0u32, 3] {
        let pipeline = gst::parse::launch(&format!(
            "videotestsrc is-live=true num-buffers=15 ! video/x-raw,format=I420,width=160,height=120,framerate=30/1 ! \
             ghostfaceswapbin name=bin lookahead={lookahead} {} ! fakesink name=sink sync=true",
            source_arg()
        ))
        .unwrap()
        .downcast::<gst::Pipeline>()
        .unwrap();
        pipeline.set_state(gst::State::Playing).unwrap();
        let bus = pipeline.bus().unwrap();
        let mut eos = false;
        for msg in bus.iter_timed(gst::ClockTime::from_seconds(60)) {
            match msg.view() {
                gst::MessageView::Eos(_) => {
                    eos = true;
                    break;
                }
                gst::MessageView::Error(e) => panic!("{}", e.error()),
                _ => {}
            }
        }
        let mut q = gst::query::Latency::new();
        assert!(pipeline.by_name("sink").unwrap().static_pad("sink").unwrap().peer_query(&mut q));
        let (live, min, _) = q.result();
        pipeline.set_state(gst::State::Null).unwrap();
        assert!(eos && live);
        // videotestsrc itself reports one frame; the bin adds exactly `lookahead` frames.
        let frame = gst::ClockTime::from_nseconds(1_000_000_000 / 30);
        let expected = frame + frame * lookahead as u64;
        let diff = min.nseconds() as i64 - expected.nseconds() as i64;
        assert!(diff.abs() < 1_000_000, "lookahead {lookahead}: latency {min} expected {expected}");
    }
}

#[test]
fn properties_reach_the_children() {
    common::init();
    let bin = gst::ElementFactory::make("ghostfaceswapbin")
        .property("interval", 4u32)
        .property("detector", "mtcnn")
        .property("similarity-threshold", 0.4f32)
        .property_from_str("mask", "box")
        .property_from_str("execution-provider", "cpu")
        .property_from_str("track-method", "one-euro")
        .property_from_str("swap-mode", "realtime")
        .property("swap-max-age", 12u32)
        .build()
        .unwrap()
        .downcast::<gst::Bin>()
        .unwrap();
    let child = |name: &str| bin.by_name(name).unwrap();
    assert_eq!(child("detect").property::<u32>("interval"), 4);
    assert_eq!(child("swap").property::<Option<String>>("detector").as_deref(), Some("mtcnn"));
    assert_eq!(child("swap").property::<f32>("similarity-threshold"), 0.4);
    assert_eq!(bin.property::<u32>("interval"), 4);
    for name in ["detect", "swap", "blend"] {
        assert_eq!(child(name).property_value("execution-provider").serialize().unwrap().as_str(), "cpu", "{name}");
    }
    assert_eq!(child("blend").property_value("mask").serialize().unwrap().as_str(), "box");
    assert_eq!(child("track").property_value("method").serialize().unwrap().as_str(), "one-euro");
    assert_eq!(child("swap").property_value("mode").serialize().unwrap().as_str(), "realtime");
    assert_eq!(child("swap").property::<u32>("max-age"), 12);
    // Defaults come from the children.
    assert_eq!(bin.property::<Option<String>>("model").as_deref(), Some("ghost_2_256"));
    // No enhancer unless one is set.
    assert!(bin.by_name("enhance").is_none());
}

#[test]
fn a_missing_model_is_an_error_message_not_a_crash() {
    let err = common::run_frames("ghostfaceswapbin source=x.jpg", &clip(1)).unwrap_err();
    assert!(err.contains("ghost_2_256") && err.contains("paste"), "{err}");
}

#[test]
fn an_enhancer_is_spliced_in_only_when_set() {
    let frames = clip(3);
    let middle = format!(
        "ghostfaceswapbin name=bin model={} source-embedding={} enhancer={}",
        test_model("swapper_identity.onnx"),
        embedding(),
        test_model("enhancer_gfpgan_identity.onnx")
    );
    let out = common::run_frames(&middle, &frames).unwrap();
    assert_eq!(out.len(), 3);
    let faces = FacesMeta::from_buffer(&out[2]).unwrap().faces;
    assert!(
        faces.iter().any(|f| f.swap.as_ref().is_some_and(|s| s.crop.width == 512)),
        "crops went through the enhancer"
    );
}
