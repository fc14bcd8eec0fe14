// SPDX-License-Identifier: MIT OR Apache-2.0
//! ghostfacedetect as an element: real photos through several formats, the interval, bus
//! messages, frames without faces, odd sizes, caps changes and bad models.

mod common;

use common::{photo, run_frames, test_model};
use gst::prelude::*;
use gstghost::message::FacesMessage;
use gstghost::meta::{FacesMeta, ROI_PARAM_NAME};
use gstghost::vision::{resize_rgb, unpack_rgb, Filter, PackedFrame, Rect, RgbImage};

/// Biden's face region, scaled to `w x h` (aspect kept: 540x600 source region).
fn small_face(w: usize, h: usize) -> RgbImage {
    let img = photo("biden.jpg");
    let frame = PackedFrame::from_rgb(&img);
    resize_rgb(&unpack_rgb(&frame, Rect::new(300, 40, 540, 600)), w, h, Filter::Area)
}

fn main_face(buffer: &gst::BufferRef) -> gstghost::meta::Face {
    let faces = FacesMeta::from_buffer(buffer).expect("face meta").faces;
    faces.into_iter().max_by(|a, b| (a.width() * a.height()).total_cmp(&(b.width() * b.height()))).expect("a face")
}

fn assert_close(a: &gstghost::meta::Face, b: &gstghost::meta::Face, scale: f32, tolerance: f32) {
    let size = a.width();
    let tol = tolerance * size;
    for i in 0..4 {
        assert!((a.bbox[i] - b.bbox[i] * scale).abs() <= tol, "box {i}: {:?} vs {:?}", a.bbox, b.bbox);
    }
    for k in 0..5 {
        for c in 0..2 {
            assert!(
                (a.keypoints[k][c] - b.keypoints[k][c] * scale).abs() <= tol,
                "keypoint {k}: {:?} vs {:?}",
                a.keypoints,
                b.keypoints
            );
        }
    }
}

#[test]
fn the_same_faces_through_bgrx_odd_sizes_and_videoscale() {
    // An odd width (909) gives padded RGB rows; BGRx and a 2x downscale go through videoconvert/videoscale.
    let img = photo("obama.jpg");
    let img = resize_rgb(&img, 909, 1136, Filter::Area);
    let rgb = run_frames("ghostfacedetect", std::slice::from_ref(&img)).unwrap();
    let reference = main_face(&rgb[0]);
    assert!(reference.score > 0.99 && reference.width() > 200.0, "{reference:?}");

    let bgrx =
        run_frames("videoconvert ! video/x-raw,format=BGRx ! ghostfacedetect", std::slice::from_ref(&img)).unwrap();
    assert_close(&main_face(&bgrx[0]), &reference, 1.0, 0.01);

    let half =
        run_frames("videoscale ! video/x-raw,width=454,height=568 ! ghostfacedetect", std::slice::from_ref(&img))
            .unwrap();
    // The detector sees a different image: MTCNN is not scale-invariant (the Python reference
    // itself moves its box by ~2 % between full and half size), so this path gets 5 %.
    assert_close(&main_face(&half[0]), &reference, 454.0 / 909.0, 0.05);
}

#[test]
fn interval_runs_the_network_on_every_nth_frame_and_says_so() {
    common::init();
    let img = small_face(216, 240);
    let pipeline = gst::parse::launch(
        "appsrc name=src format=time caps=video/x-raw,format=RGB,width=216,height=240,framerate=30/1 ! \
         ghostfacedetect name=det interval=3 ! appsink name=sink sync=false",
    )
    .unwrap()
    .downcast::<gst::Pipeline>()
    .unwrap();
    let src = pipeline.by_name("src").unwrap().downcast::<gst_app::AppSrc>().unwrap();
    let sink = pipeline.by_name("sink").unwrap().downcast::<gst_app::AppSink>().unwrap();
    pipeline.set_state(gst::State::Playing).unwrap();
    let mut ran = Vec::new();
    for i in 0..8u64 {
        src.push_buffer(common::frames::rgb_buffer(&img, i * 33)).unwrap();
        let sample = sink.pull_sample().unwrap();
        let faces = FacesMeta::from_buffer(sample.buffer().unwrap()).unwrap();
        ran.push(faces.detection_ran);
        // Frames the detector skipped carry no faces of their own (the tracker fills them).
        assert_eq!(faces.detection_ran, !faces.faces.is_empty(), "frame {i}");
    }
    let runs: u64 = pipeline.by_name("det").unwrap().property("detections-run");
    pipeline.set_state(gst::State::Null).unwrap();
    assert_eq!(ran, [true, false, false, true, false, false, true, false]);
    assert_eq!(runs, 3);
}

#[test]
fn a_test_pattern_has_no_faces_and_passes_untouched() {
    common::init();
    let pipeline = gst::parse::launch(
        "videotestsrc num-buffers=3 ! video/x-raw,format=RGBA,width=320,height=240 ! tee name=t \
         t. ! queue ! ghostfacedetect ! appsink name=det sync=false \
         t. ! queue ! appsink name=raw sync=false",
    )
    .unwrap()
    .downcast::<gst::Pipeline>()
    .unwrap();
    let det = pipeline.by_name("det").unwrap().downcast::<gst_app::AppSink>().unwrap();
    let raw = pipeline.by_name("raw").unwrap().downcast::<gst_app::AppSink>().unwrap();
    pipeline.set_state(gst::State::Playing).unwrap();
    for _ in 0..3 {
        let a = det.pull_sample().unwrap();
        let b = raw.pull_sample().unwrap();
        let faces = FacesMeta::from_buffer(a.buffer().unwrap()).unwrap();
        assert!(faces.detection_ran && faces.faces.is_empty());
        assert_eq!(*a.buffer().unwrap().map_readable().unwrap(), *b.buffer().unwrap().map_readable().unwrap());
    }
    pipeline.set_state(gst::State::Null).unwrap();
}

#[test]
fn bus_messages_and_roi_metas_carry_the_meta_values() {
    common::init();
    let img = photo("biden.jpg");
    let (w, h) = (img.width, img.height);
    let pipeline = gst::parse::launch(&format!(
        "appsrc name=src format=time caps=video/x-raw,format=RGB,width={w},height={h},framerate=30/1 ! \
         ghostfacedetect post-messages=true ! appsink name=sink sync=false"
    ))
    .unwrap()
    .downcast::<gst::Pipeline>()
    .unwrap();
    let src = pipeline.by_name("src").unwrap().downcast::<gst_app::AppSrc>().unwrap();
    let sink = pipeline.by_name("sink").unwrap().downcast::<gst_app::AppSink>().unwrap();
    pipeline.set_state(gst::State::Playing).unwrap();
    src.push_buffer(common::frames::rgb_buffer(&img, 100)).unwrap();
    let sample = sink.pull_sample().unwrap();
    let buffer = sample.buffer().unwrap();
    let face = main_face(buffer);
    let msg = pipeline
        .bus()
        .unwrap()
        .iter_timed_filtered(gst::ClockTime::from_seconds(10), &[gst::MessageType::Element])
        .find(|m| m.structure().is_some_and(|s| s.name() == "ghost-faces"))
        .expect("a ghost-faces message");
    pipeline.set_state(gst::State::Null).unwrap();
    let s = msg.structure().unwrap();
    assert_eq!(s.get::<gst::ClockTime>("running-time").unwrap(), gst::ClockTime::from_mseconds(100));
    let faces = s.get::<gst::List>("faces").unwrap();
    let first = faces
        .iter()
        .map(|v| v.get::<gst::Structure>().unwrap())
        .max_by(|a, b| a.get::<f64>("width").unwrap().total_cmp(&b.get::<f64>("width").unwrap()));
    let first = first.unwrap();
    assert_eq!(first.get::<f64>("x").unwrap(), face.bbox[0] as f64);
    assert_eq!(first.get::<f64>("width").unwrap(), face.width() as f64);
    assert_eq!(first.get::<f64>("score").unwrap(), face.score as f64);
    let kps = first.get::<gst::Array>("keypoints").unwrap();
    assert_eq!(kps.len(), 10);
    assert_eq!(kps.as_slice()[2].get::<f64>().unwrap(), face.keypoints[1][0] as f64);
    // Applications read the same message back as typed Rust.
    let typed = FacesMessage::try_from(s).unwrap();
    assert_eq!(typed.running_time, Some(gst::ClockTime::from_mseconds(100)));
    let widest = typed.faces.iter().max_by(|a, b| a.width.total_cmp(&b.width)).unwrap();
    assert_eq!((widest.x, widest.keypoints[1][0]), (face.bbox[0] as f64, face.keypoints[1][0] as f64));

    let rois: Vec<_> = buffer.iter_meta::<gst_video::VideoRegionOfInterestMeta>().collect();
    assert_eq!(rois.len(), FacesMeta::from_buffer(buffer).unwrap().faces.len());
    assert!(rois.iter().all(|r| r.roi_type() == "face" && r.param(ROI_PARAM_NAME).is_some()));
}

#[test]
fn tiny_frames_and_a_caps_change_mid_stream_are_handled() {
    common::init();
    let pipeline = gst::parse::launch("appsrc name=src format=time ! ghostfacedetect ! appsink name=sink sync=false")
        .unwrap()
        .downcast::<gst::Pipeline>()
        .unwrap();
    let src = pipeline.by_name("src").unwrap().downcast::<gst_app::AppSrc>().unwrap();
    let sink = pipeline.by_name("sink").unwrap().downcast::<gst_app::AppSink>().unwrap();
    pipeline.set_state(gst::State::Playing).unwrap();
    let face = small_face(243, 270);
    let frames = [RgbImage::new(1, 1), RgbImage::from_raw(13, 7, vec![200; 13 * 7 * 3]), face];
    for (i, img) in frames.iter().enumerate() {
        src.set_caps(Some(
            &gst_video::VideoInfo::builder(gst_video::VideoFormat::Rgb, img.width as u32, img.height as u32)
                .fps(gst::Fraction::new(30, 1))
                .build()
                .unwrap()
                .to_caps()
                .unwrap(),
        ));
        src.push_buffer(common::frames::rgb_buffer(img, i as u64 * 33)).unwrap();
        let sample = sink.pull_sample().unwrap();
        let faces = FacesMeta::from_buffer(sample.buffer().unwrap()).unwrap().faces;
        assert_eq!(faces.is_empty(), i < 2, "frame {i}: {faces:?}");
    }
    pipeline.set_state(gst::State::Null).unwrap();
}

#[test]
fn missing_and_wrong_models_fail_at_start_naming_the_file() {
    let img = RgbImage::new(32, 32);
    let err = run_frames("ghostfacedetect model=/nonexistent/det.onnx", std::slice::from_ref(&img)).unwrap_err();
    assert!(err.contains("/nonexistent/det.onnx"), "{err}");
    let err = run_frames(
        &format!("ghostfacedetect model={}", test_model("wrong_signature.onnx")),
        std::slice::from_ref(&img),
    )
    .unwrap_err();
    assert!(err.contains("wrong_signature.onnx"), "{err}");
    let err =
        run_frames(&format!("ghostfacedetect model={}", test_model("scrfd_nokps.onnx")), std::slice::from_ref(&img))
            .unwrap_err();
    assert!(err.contains("scrfd_nokps.onnx") && err.contains("keypoints"), "{err}");
}

#[test]
fn scrfd_through_the_element_maps_the_letterbox_back() {
    // The constant model reports one face at a known place in 640x640 network pixels; a 1280x720
    // frame is letterboxed at scale 0.5, so the face lands at twice those coordinates.
    let img = RgbImage::new(1280, 720);
    let out =
        run_frames(&format!("ghostfacedetect model={}", test_model("scrfd_const.onnx")), std::slice::from_ref(&img))
            .unwrap();
    let faces = FacesMeta::from_buffer(&out[0]).unwrap().faces;
    assert_eq!(faces.len(), 1);
    let expected = [400.0, 320.0, 656.0, 640.0];
    for (got, want) in faces[0].bbox.iter().zip(expected) {
        assert!((got - want).abs() < 1e-2, "{:?}", faces[0].bbox);
    }
    assert!((faces[0].keypoints[2][0] - 528.0).abs() < 1e-2 && (faces[0].keypoints[2][1] - 512.0).abs() < 1e-2);
}
