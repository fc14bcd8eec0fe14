// SPDX-License-Identifier: MIT OR Apache-2.0
//! `ghostfacetrack` in a pipeline: appsrc (hand-made face meta) ! ghostfacetrack ! appsink.

mod util;

use gst::prelude::*;
use gstghost::meta::{Face, FacesMeta, FrameFaces};

fn init() {
    util::init();
}

const FPS: i32 = 25;

struct Harness {
    pipeline: gst::Pipeline,
    src: gst_app::AppSrc,
    sink: gst_app::AppSink,
    track: gst::Element,
}

fn harness(props: &[(&str, &dyn ToValue)]) -> Harness {
    init();
    let pipeline = gst::Pipeline::new();
    let caps = gst::Caps::builder("video/x-raw")
        .field("format", "RGB")
        .field("width", 64)
        .field("height", 48)
        .field("framerate", gst::Fraction::new(FPS, 1))
        .build();
    let src = gst_app::AppSrc::builder().caps(&caps).format(gst::Format::Time).is_live(true).build();
    let track = gst::ElementFactory::make("ghostfacetrack").build().unwrap();
    for (name, value) in props {
        track.set_property_from_value(name, &value.to_value());
    }
    let sink = gst_app::AppSink::builder().sync(false).build();
    pipeline.add_many([src.upcast_ref(), &track, sink.upcast_ref()]).unwrap();
    gst::Element::link_many([src.upcast_ref(), &track, sink.upcast_ref()]).unwrap();
    pipeline.set_state(gst::State::Playing).unwrap();
    Harness { pipeline, src, sink, track }
}

impl Drop for Harness {
    fn drop(&mut self) {
        let _ = self.pipeline.set_state(gst::State::Null);
    }
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

fn frame(i: u64, faces: Option<Vec<Face>>) -> gst::Buffer {
    let mut buffer = gst::Buffer::from_mut_slice(vec![i as u8; 64 * 48 * 3]);
    {
        let b = buffer.get_mut().unwrap();
        b.set_pts(gst::ClockTime::SECOND.mul_div_floor(i, FPS as u64).unwrap());
        b.set_duration(gst::ClockTime::SECOND.mul_div_floor(1, FPS as u64).unwrap());
        if let Some(faces) = faces {
            FacesMeta::set(b, FrameFaces { faces, detection_ran: true });
        }
    }
    buffer
}

fn pull(h: &Harness, timeout_ms: u64) -> Option<gst::Buffer> {
    h.sink.try_pull_sample(gst::ClockTime::from_mseconds(timeout_ms)).map(|s| s.buffer_owned().unwrap())
}

#[test]
fn ids_are_assigned_and_a_dropout_is_filled_with_predicted_faces() {
    let h = harness(&[]);
    for i in 0..20u64 {
        let faces = if (8..12).contains(&i) { vec![] } else { vec![face_at(2.0 * i as f32)] };
        h.src.push_buffer(frame(i, Some(faces))).unwrap();
    }
    for i in 0..20u64 {
        let b = pull(&h, 5000).expect("a buffer per input buffer");
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
    let h = harness(&[("lookahead", &3u32)]);
    for i in 0..3u64 {
        h.src.push_buffer(frame(i, Some(vec![face_at(10.0)]))).unwrap();
    }
    assert!(pull(&h, 300).is_none(), "three buffers are held");
    h.src.push_buffer(frame(3, Some(vec![face_at(10.0)]))).unwrap();
    let first = pull(&h, 5000).expect("the fourth buffer releases the first");
    assert_eq!(first.pts(), Some(gst::ClockTime::ZERO));
    assert!(pull(&h, 300).is_none());
    h.src.push_buffer(frame(4, None)).unwrap();
    h.src.end_of_stream().unwrap();
    let mut pts = vec![first.pts().unwrap()];
    for _ in 0..4 {
        let b = pull(&h, 5000).expect("drained on EOS");
        pts.push(b.pts().unwrap());
        if b.pts() == Some(gst::ClockTime::SECOND.mul_div_floor(4, FPS as u64).unwrap()) {
            assert!(FacesMeta::from_buffer(&b).is_none(), "buffer without meta stays without");
        } else {
            assert_eq!(FacesMeta::from_buffer(&b).unwrap().faces[0].track_id, 1);
        }
    }
    assert!(pts.windows(2).all(|w| w[0] < w[1]), "in order: {pts:?}");
    assert!(h.sink.is_eos() || h.sink.try_pull_sample(gst::ClockTime::from_mseconds(1000)).is_none());
}

fn latency_min(pad: &gst::Pad) -> gst::ClockTime {
    let mut q = gst::query::Latency::new();
    assert!(pad.query(&mut q));
    q.result().1
}

#[test]
fn latency_query_adds_n_frame_durations() {
    let h = harness(&[("lookahead", &2u32)]);
    // Caps are negotiated with the first buffer.
    h.src.push_buffer(frame(0, Some(vec![face_at(10.0)]))).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(200));
    let upstream = latency_min(&h.src.static_pad("src").unwrap());
    let ours = latency_min(&h.track.static_pad("src").unwrap());
    assert_eq!(ours - upstream, gst::ClockTime::from_mseconds(80), "2 frames at 25 fps");
    let h0 = harness(&[]);
    h0.src.push_buffer(frame(0, Some(vec![face_at(10.0)]))).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(200));
    assert_eq!(latency_min(&h0.track.static_pad("src").unwrap()), latency_min(&h0.src.static_pad("src").unwrap()));
}

#[test]
fn a_buffer_without_meta_passes_through_untouched() {
    let h = harness(&[]);
    h.src.push_buffer(frame(7, None)).unwrap();
    let b = pull(&h, 5000).unwrap();
    assert!(FacesMeta::from_buffer(&b).is_none());
    assert!(b.meta::<gst_video::VideoRegionOfInterestMeta>().is_none());
    assert_eq!(b.map_readable().unwrap()[0], 7);
    // Then tracking goes on normally.
    h.src.push_buffer(frame(8, Some(vec![face_at(10.0)]))).unwrap();
    let b = pull(&h, 5000).unwrap();
    assert_eq!(FacesMeta::from_buffer(&b).unwrap().faces[0].track_id, 1);
}

#[test]
fn ghost_method_without_lookahead_is_refused() {
    init();
    let track = gst::ElementFactory::make("ghostfacetrack").property_from_str("method", "ghost").build().unwrap();
    assert!(track.set_state(gst::State::Paused).is_err());
    let _ = track.set_state(gst::State::Null);
}

#[test]
fn a_timestamp_discontinuity_starts_new_tracks() {
    let h = harness(&[]);
    for i in 0..3u64 {
        h.src.push_buffer(frame(i, Some(vec![face_at(10.0)]))).unwrap();
    }
    let mut cut = frame(3, Some(vec![face_at(10.0)]));
    cut.get_mut().unwrap().set_flags(gst::BufferFlags::DISCONT);
    h.src.push_buffer(cut).unwrap();
    let ids: Vec<u64> =
        (0..4).map(|_| FacesMeta::from_buffer(&pull(&h, 5000).unwrap()).unwrap().faces[0].track_id).collect();
    assert_eq!(ids, vec![1, 1, 1, 2], "ids are never reused, the old track is dropped");
}
