// SPDX-License-Identifier: MIT OR Apache-2.0
//! `ghostfacetrack` on its own, in a `gst_check::Harness`, with hand-made face meta.

mod common;

use gst::prelude::*;
use gst_check::Harness;
use gstghost::meta::{Face, FacesMeta, FrameFaces};

const FPS: i32 = 25;

/// The tracker with `props`, its caps set (25 fps) and the stream started.
fn harness(props: &[(&str, &dyn ToValue)]) -> Harness {
    common::init();
    // Properties first: the harness starts the element at once.
    let track = gst::ElementFactory::make("ghostfacetrack").build().unwrap();
    for (name, value) in props {
        track.set_property_from_value(name, &value.to_value());
    }
    started(&track)
}

/// The same with properties given as strings (`gst-launch` style; enums by nick).
fn harness_str(props: &[(&str, &str)]) -> Harness {
    common::init();
    let track = gst::ElementFactory::make("ghostfacetrack").build().unwrap();
    for (name, value) in props {
        track.set_property_from_str(name, value);
    }
    started(&track)
}

fn started(track: &gst::Element) -> Harness {
    let mut h = Harness::with_element(track, Some("sink"), Some("src"));
    h.set_src_caps_str(&format!("video/x-raw,format=RGB,width=64,height=48,framerate={FPS}/1"));
    h
}

fn face_at(x: f32) -> Face {
    Face {
        score: 0.9,
        bbox: [x, 10.0, x + 20.0, 34.0],
        keypoints: [[x + 6.0, 18.0], [x + 14.0, 18.0], [x + 10.0, 23.0], [x + 7.0, 28.0], [x + 13.0, 28.0]],
        landmarks: Some(vec![[x + 10.0, 20.0]]),
        ..Default::default()
    }
}

fn frame_time(i: u64) -> gst::ClockTime {
    gst::ClockTime::SECOND.mul_div_floor(i, FPS as u64).unwrap()
}

fn frame(i: u64, faces: Option<Vec<Face>>) -> gst::Buffer {
    let mut buffer = gst::Buffer::from_mut_slice(vec![i as u8; 64 * 48 * 3]);
    {
        let b = buffer.get_mut().unwrap();
        b.set_pts(frame_time(i));
        b.set_duration(frame_time(1));
        if let Some(faces) = faces {
            FacesMeta::set(b, FrameFaces { faces, detection_ran: true });
        }
    }
    buffer
}

#[test]
fn ids_are_assigned_and_a_dropout_is_filled_with_predicted_faces() {
    let mut h = harness(&[]);
    for i in 0..20u64 {
        let faces = if (8..12).contains(&i) { vec![] } else { vec![face_at(2.0 * i as f32)] };
        let b = h.push_and_pull(frame(i, Some(faces))).expect("a buffer per input buffer");
        let meta = FacesMeta::from_buffer(&b).expect("face meta");
        assert_eq!(meta.faces.len(), 1, "frame {i}");
        let f = &meta.faces[0];
        assert_eq!(f.track_id, 1);
        assert_eq!(f.predicted, (8..12).contains(&i), "frame {i}");
        // Landmarks follow the keypoints (the landmark sits 2 px below keypoint 2's x line).
        let lm = f.landmarks.as_ref().unwrap()[0];
        assert!((lm[0] - f.keypoints[2][0]).abs() < 0.5, "frame {i}: {lm:?} vs {:?}", f.keypoints[2]);
        // The ROI mirror carries the track id.
        let roi = b.meta::<gst_video::VideoRegionOfInterestMeta>().expect("ROI meta");
        assert_eq!(roi.id(), 1);
        if i >= 12 {
            // Moving at 2 px/frame: the prediction through the gap stayed on the path.
            assert!((f.bbox[0] - 2.0 * i as f32).abs() < 2.0, "frame {i}: {:?}", f.bbox);
        }
    }
}

#[test]
fn lookahead_holds_n_buffers_and_drains_them_on_eos() {
    let mut h = harness(&[("lookahead", &3u32)]);
    // The stream's first frame leaves at once (so that a sink behind can preroll), the later ones
    // wait for three more.
    h.push(frame(0, Some(vec![face_at(10.0)]))).unwrap();
    assert_eq!(h.buffers_received(), 1, "the first frame leaves at once");
    let first = h.pull().unwrap();
    assert_eq!(first.pts(), Some(gst::ClockTime::ZERO));
    for i in 1..4u64 {
        h.push(frame(i, Some(vec![face_at(10.0)]))).unwrap();
    }
    assert_eq!(h.buffers_received(), 1, "frames 1..=3 are held");
    h.push(frame(4, Some(vec![face_at(10.0)]))).unwrap();
    assert_eq!(h.buffers_received(), 2, "the fifth frame releases the second");
    let second = h.pull().unwrap();
    assert_eq!(second.pts(), Some(frame_time(1)));
    h.push(frame(5, None)).unwrap();
    assert!(h.push_event(gst::event::Eos::new()));
    let mut pts = vec![first.pts().unwrap(), second.pts().unwrap()];
    for _ in 0..4 {
        let b = h.pull().expect("drained on EOS");
        pts.push(b.pts().unwrap());
        if b.pts() == Some(frame_time(5)) {
            assert!(FacesMeta::from_buffer(&b).is_none(), "buffer without meta stays without");
        } else {
            assert_eq!(FacesMeta::from_buffer(&b).unwrap().faces[0].track_id, 1);
        }
    }
    assert!(pts.windows(2).all(|w| w[0] < w[1]), "in order: {pts:?}");
    assert!(h.try_pull().is_none(), "nothing more than was pushed");
}

#[test]
fn a_tee_with_a_long_lookahead_on_one_branch_prerolls_and_finishes() {
    common::init();
    // Each branch has a default queue, which holds 1 s (30 frames): fewer than the 60 frames held back.
    // Before the first frame left at once, this never prerolled.
    let pipeline = gst::parse::launch(
        "videotestsrc num-buffers=150 ! video/x-raw,format=RGB,width=64,height=48,framerate=30/1 ! ghostfacedetect ! \
         tee name=t t. ! queue ! ghostfacetrack lookahead=60 ! fakesink t. ! queue ! fakesink",
    )
    .unwrap();
    pipeline.set_state(gst::State::Playing).unwrap();
    let end = pipeline
        .bus()
        .unwrap()
        .timed_pop_filtered(gst::ClockTime::from_seconds(60), &[gst::MessageType::Eos, gst::MessageType::Error]);
    pipeline.set_state(gst::State::Null).unwrap();
    let end = end.expect("the pipeline hung (no EOS within 60 s)");
    assert!(matches!(end.view(), gst::MessageView::Eos(_)), "{end:?}");
}

#[test]
fn latency_query_adds_n_frame_durations_for_every_method() {
    for (method, lookahead) in
        [("kalman", 0u64), ("kalman", 2), ("kalman", 5), ("ghost", 2), ("ghost", 3), ("one-euro", 0)]
    {
        let mut h = harness_str(&[("method", method), ("lookahead", &lookahead.to_string())]);
        h.set_upstream_latency(gst::ClockTime::from_mseconds(10));
        // Caps (and so the frame rate) are known once the stream started.
        h.push(frame(0, Some(vec![face_at(10.0)]))).unwrap();
        let expected = gst::ClockTime::from_mseconds(10) + frame_time(lookahead);
        assert_eq!(h.query_latency(), Some(expected), "method={method} lookahead={lookahead} at {FPS} fps");
    }
}

#[test]
fn one_euro_tracks_through_a_dropout() {
    let mut h = harness_str(&[("method", "one-euro"), ("min-cutoff", "0.5"), ("beta", "50"), ("d-cutoff", "2")]);
    assert_eq!(h.element().unwrap().property::<f64>("beta"), 50.0);
    for i in 0..30u64 {
        let faces = if (12..20).contains(&i) { vec![] } else { vec![face_at(i as f32)] };
        let b = h.push_and_pull(frame(i, Some(faces))).expect("a buffer per input buffer");
        let f = &FacesMeta::from_buffer(&b).expect("face meta").faces[0];
        assert_eq!(f.track_id, 1, "frame {i}: the id survives the 8-frame dropout");
        assert_eq!(f.predicted, (12..20).contains(&i), "frame {i}");
        // Moving at 1 px/frame: the filter stays near the path through the gap and after it.
        assert!((f.bbox[0] - i as f32).abs() < 3.0, "frame {i}: {:?}", f.bbox);
    }
}

#[test]
fn one_euro_with_lookahead_is_refused() {
    common::init();
    let track = gst::ElementFactory::make("ghostfacetrack")
        .property_from_str("method", "one-euro")
        .property("lookahead", 2u32)
        .build()
        .unwrap();
    assert!(track.set_state(gst::State::Paused).is_err());
    let _ = track.set_state(gst::State::Null);
    let ok = gst::ElementFactory::make("ghostfacetrack").property_from_str("method", "one-euro").build().unwrap();
    assert!(ok.set_state(gst::State::Paused).is_ok());
    let _ = ok.set_state(gst::State::Null);
}

#[test]
fn a_buffer_without_meta_passes_through_untouched() {
    let mut h = harness(&[]);
    let b = h.push_and_pull(frame(7, None)).unwrap();
    assert!(FacesMeta::from_buffer(&b).is_none());
    assert!(b.meta::<gst_video::VideoRegionOfInterestMeta>().is_none());
    assert_eq!(b.map_readable().unwrap()[0], 7);
    // Then tracking goes on normally.
    let b = h.push_and_pull(frame(8, Some(vec![face_at(10.0)]))).unwrap();
    assert_eq!(FacesMeta::from_buffer(&b).unwrap().faces[0].track_id, 1);
}

#[test]
fn ghost_method_without_lookahead_is_refused() {
    common::init();
    let track = gst::ElementFactory::make("ghostfacetrack").property_from_str("method", "ghost").build().unwrap();
    assert!(track.set_state(gst::State::Paused).is_err());
    let _ = track.set_state(gst::State::Null);
}

#[test]
fn a_jump_in_time_starts_new_tracks_and_lost_frames_do_not() {
    let mut h = harness(&[]);
    let mut ids = Vec::new();
    // Frames 0..3, then frame 6 flagged DISCONT (a live source lost 4 and 5): the track goes on;
    // then frame 200 flagged DISCONT (a cut: over a second later): a new track.
    for i in [0u64, 1, 2, 3, 6, 7, 200, 201] {
        let mut b = frame(i, Some(vec![face_at(10.0)]));
        if i == 6 || i == 200 {
            b.get_mut().unwrap().set_flags(gst::BufferFlags::DISCONT);
        }
        ids.push(FacesMeta::from_buffer(&h.push_and_pull(b).unwrap()).unwrap().faces[0].track_id);
    }
    assert_eq!(ids, vec![1, 1, 1, 1, 1, 1, 2, 2], "ids are never reused; only the cut starts a new track");
    // Time running backwards starts new tracks too, flagged or not.
    let b = frame(10, Some(vec![face_at(10.0)]));
    assert_eq!(FacesMeta::from_buffer(&h.push_and_pull(b).unwrap()).unwrap().faces[0].track_id, 3);
}
