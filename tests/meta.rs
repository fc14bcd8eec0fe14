// SPDX-License-Identifier: MIT OR Apache-2.0
//! The face meta through queue, tee, videoconvert and videoscale.

mod common;

use std::sync::Arc;

use gst::prelude::*;
use gstghost::meta::{Face, FacesMeta, FrameFaces, SwapResult};
use gstghost::vision::{Affine2, RgbImage};

fn sample_faces() -> FrameFaces {
    FrameFaces {
        detection_ran: true,
        faces: vec![Face {
            track_id: 7,
            score: 0.93,
            bbox: [400.0, 200.0, 640.0, 520.0],
            keypoints: [[470.0, 320.0], [570.0, 318.0], [520.0, 380.0], [480.0, 440.0], [560.0, 438.0]],
            landmarks: Some(vec![[410.0, 300.0], [630.0, 300.0]]),
            embedding: Some(Arc::from(vec![0.5f32; 4])),
            selected: true,
            predicted: false,
            swap: Some(SwapResult::new(Arc::new(RgbImage::new(8, 8)), Affine2([0.8, 0.1, -300.0, -0.1, 0.8, -100.0]))),
        }],
    }
}

/// A playing `appsrc ! {middle} ! appsink` pipeline for RGBA 1280x720 at 30 fps.
fn playing(middle: &str) -> (gst::Pipeline, gst_app::AppSrc, gst_app::AppSink) {
    common::init();
    let pipeline = gst::parse::launch(&format!(
        "appsrc name=src format=time caps=video/x-raw,format=RGBA,width=1280,height=720,framerate=30/1 ! {middle} ! appsink name=sink sync=false"
    ))
    .unwrap()
    .downcast::<gst::Pipeline>()
    .unwrap();
    let src = pipeline.by_name("src").unwrap().downcast::<gst_app::AppSrc>().unwrap();
    let sink = pipeline.by_name("sink").unwrap().downcast::<gst_app::AppSink>().unwrap();
    pipeline.set_state(gst::State::Playing).unwrap();
    (pipeline, src, sink)
}

/// Pushes one RGBA 1280x720 frame with the meta through `middle` and returns what arrives.
fn through(middle: &str) -> (FrameFaces, (i32, i32)) {
    let (pipeline, src, sink) = playing(middle);
    let mut buffer = gst::Buffer::with_size(1280 * 720 * 4).unwrap();
    FacesMeta::set(buffer.get_mut().unwrap(), sample_faces());
    src.push_buffer(buffer).unwrap();
    let sample = sink.pull_sample().unwrap();
    let caps = sample.caps().unwrap().structure(0).unwrap().to_owned();
    let faces = FacesMeta::from_buffer(sample.buffer().unwrap()).expect("the meta survived");
    pipeline.set_state(gst::State::Null).unwrap();
    (faces, (caps.get("width").unwrap(), caps.get("height").unwrap()))
}

#[test]
fn survives_queue_tee_and_a_format_round_trip() {
    let (faces, size) = through(
        "queue ! tee ! queue ! videoconvert ! video/x-raw,format=I420 ! videoconvert ! video/x-raw,format=RGBA",
    );
    assert_eq!(size, (1280, 720));
    assert_eq!(faces, sample_faces());
}

#[test]
fn videoscale_scales_boxes_keypoints_and_the_crop_affine() {
    let (faces, size) = through("videoscale ! video/x-raw,width=640,height=360");
    assert_eq!(size, (640, 360));
    let before = &sample_faces().faces[0];
    let after = &faces.faces[0];
    assert_eq!(after.bbox, before.bbox.map(|v| v * 0.5));
    assert_eq!(after.keypoints, before.keypoints.map(|p| [p[0] * 0.5, p[1] * 0.5]));
    assert_eq!(after.landmarks.as_ref().unwrap()[1], [315.0, 150.0]);
    // The same scene point maps to the same crop pixel.
    let (a, b) = (before.swap.as_ref().unwrap(), after.swap.as_ref().unwrap());
    let (x0, y0) = a.frame_to_crop.apply(520.0, 380.0);
    let (x1, y1) = b.frame_to_crop.apply(260.0, 190.0);
    assert!((x0 - x1).abs() < 1e-9 && (y0 - y1).abs() < 1e-9);
    assert_eq!(after.track_id, 7);
    assert!(after.selected);
}

/// Whether the meta comes out of `middle` (which keeps RGBA) on each of three frames, and whether
/// the frame's first pixel moved (the element did transform the frame, not pass it through).
fn survives(middle: &str) -> Vec<(bool, bool)> {
    let (pipeline, src, sink) = playing(&format!("{middle} ! video/x-raw,format=RGBA"));
    let mut out = Vec::new();
    for i in 0..3u64 {
        let mut data = vec![0u8; 1280 * 720 * 4];
        data[..4].copy_from_slice(&[255, 0, 0, 255]);
        let mut buffer = gst::Buffer::from_mut_slice(data);
        buffer.get_mut().unwrap().set_pts(gst::ClockTime::from_mseconds(33 * i));
        buffer.get_mut().unwrap().set_duration(gst::ClockTime::from_mseconds(33));
        FacesMeta::set(buffer.get_mut().unwrap(), sample_faces());
        src.push_buffer(buffer).unwrap();
        // videorate holds a frame until the next one arrives, hence the timeout.
        let Some(sample) = sink.try_pull_sample(gst::ClockTime::from_seconds(5)) else { continue };
        let buffer = sample.buffer().unwrap();
        let map = buffer.map_readable().unwrap();
        out.push((FacesMeta::from_buffer(buffer).is_some(), map[..4] != [255, 0, 0, 255]));
    }
    pipeline.set_state(gst::State::Null).unwrap();
    out
}

/// The README's list: elements that keep the meta (they do not move pixels, or they are video
/// filters that copy metas tagged "video"/"size") and elements that drop it (a flip, a crop or a
/// border would make its coordinates wrong, and they do not transform it).
#[test]
fn which_elements_keep_the_meta() {
    for middle in ["capsfilter caps=video/x-raw", "videorate", "queue", "gamma gamma=2"] {
        let frames = survives(middle);
        assert!(!frames.is_empty() && frames.iter().all(|&(kept, _)| kept), "{middle} keeps the meta: {frames:?}");
    }
    for middle in
        ["videoflip video-direction=horiz", "videoflip video-direction=90r", "videocrop left=10", "videobox left=10"]
    {
        let frames = survives(middle);
        // The frame was really transformed (not passed through), and the meta is gone.
        assert!(
            frames.len() == 3 && frames.iter().all(|&(kept, moved)| !kept && moved),
            "{middle} drops the meta: {frames:?}"
        );
    }
}
