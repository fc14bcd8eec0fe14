// SPDX-License-Identifier: MIT OR Apache-2.0
//! ghostfaceswap's two workers, in a `gst_check::Harness`: the identity worker (the latest `source`
//! wins, a failure keeps the previous identity, joined on stop, nothing stale after a restart) and the
//! realtime mode (the streaming thread never waits for the generator, results follow the current
//! alignment, stale results expire, flush / caps / source changes drop them).

mod common;

use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use gst::prelude::*;
use gst_check::Harness;
use gstghost::meta::{Face, FacesMeta, FrameFaces, SwapResult};
use gstghost::models::align::{crop_template, crop_transform_with, CropMode};
use gstghost::models::{resolve_model, Detector, DetectorParams};
use gstghost::runtime::{ExecutionProvider, SessionOptions};
use gstghost::vision::{resize_rgb, unpack_rgb, Filter, PackedFrame, Rect, RgbImage};

const W: usize = 216;
const H: usize = 240;

/// The tests count this process's worker threads: one at a time.
fn serial() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

/// A 216x240 frame with Obama's face, and that face as the detector finds it.
fn scene() -> (RgbImage, Face) {
    common::init();
    let big = common::photo("obama.jpg");
    let img = resize_rgb(&unpack_rgb(&PackedFrame::from_rgb(&big), Rect::new(300, 40, 540, 600)), W, H, Filter::Area);
    let opts = SessionOptions { provider: ExecutionProvider::Cpu, ..Default::default() };
    let mut detector = Detector::open(&resolve_model("mtcnn").unwrap(), &opts).unwrap();
    let found = detector.detect(&PackedFrame::from_rgb(&img), &DetectorParams::default()).unwrap();
    let d = found.iter().max_by(|a, b| (a.bbox[2] - a.bbox[0]).total_cmp(&(b.bbox[2] - b.bbox[0]))).unwrap();
    (img, Face { track_id: 1, score: d.score, bbox: d.bbox, keypoints: d.keypoints, ..Default::default() })
}

/// The scene moved by (dx, dy) whole pixels (edges replicated), and its face moved along.
fn shifted(img: &RgbImage, face: &Face, dx: i32, dy: i32) -> (RgbImage, Face) {
    let mut out = RgbImage::new(img.width, img.height);
    for y in 0..img.height as i32 {
        for x in 0..img.width as i32 {
            let sx = (x - dx).clamp(0, img.width as i32 - 1) as usize;
            let sy = (y - dy).clamp(0, img.height as i32 - 1) as usize;
            out.set(x as usize, y as usize, img.get(sx, sy));
        }
    }
    let mut f = face.clone();
    f.bbox = [f.bbox[0] + dx as f32, f.bbox[1] + dy as f32, f.bbox[2] + dx as f32, f.bbox[3] + dy as f32];
    f.keypoints = f.keypoints.map(|p| [p[0] + dx as f32, p[1] + dy as f32]);
    (out, f)
}

fn buffer(img: &RgbImage, face: &Face, i: u64) -> gst::Buffer {
    let mut b = common::frames::rgb_buffer(img, i * 33);
    FacesMeta::set(b.get_mut().unwrap(), FrameFaces { faces: vec![face.clone()], detection_ran: true });
    b
}

/// ghostfaceswap model=paste with `props`, started, its messages on `bus`.
fn harness(props: &[(&str, &str)]) -> (Harness, gst::Bus) {
    common::init();
    let swap = gst::ElementFactory::make("ghostfaceswap")
        .property("model", "paste")
        .property("source", common::data("biden.jpg").display().to_string())
        .build()
        .unwrap();
    for (name, value) in props {
        swap.set_property_from_str(name, value);
    }
    let bus = gst::Bus::new();
    swap.set_bus(Some(&bus));
    let mut h = Harness::with_element(&swap, Some("sink"), Some("src"));
    h.set_src_caps_str(&format!("video/x-raw,format=RGB,width={W},height={H},framerate=30/1"));
    (h, bus)
}

fn swap_of(b: &gst::Buffer) -> Option<SwapResult> {
    FacesMeta::from_buffer(b).unwrap().faces[0].swap.clone()
}

/// Pushes frames of the scene until one comes out swapped (the worker had time in between).
fn until_swapped(h: &mut Harness, img: &RgbImage, face: &Face, first: u64) -> (u64, SwapResult) {
    let deadline = Instant::now() + Duration::from_secs(30);
    for i in first.. {
        let out = h.push_and_pull(buffer(img, face, i)).unwrap();
        if let Some(s) = swap_of(&out) {
            return (i, s);
        }
        assert!(Instant::now() < deadline, "no realtime result within 30 s");
        std::thread::sleep(Duration::from_millis(20));
    }
    unreachable!()
}

/// Threads of this process whose name starts with `prefix` (names are cut at 15 characters).
fn threads(prefix: &str) -> usize {
    std::fs::read_dir("/proc/self/task")
        .unwrap()
        .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("comm")).ok())
        .filter(|name| name.starts_with(prefix))
        .count()
}

/// Whether the count of `prefix` threads reaches `expected` within 5 s (a new thread takes its name
/// itself, a moment after it was spawned; a joined one is gone at once).
fn threads_reach(prefix: &str, expected: usize) -> bool {
    let deadline = Instant::now() + Duration::from_secs(5);
    while threads(prefix) != expected {
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    true
}

fn wait_for_source_ready(bus: &gst::Bus, source: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if let Some(m) = bus.timed_pop_filtered(gst::ClockTime::from_mseconds(100), &[gst::MessageType::Element]) {
            let s = m.structure().unwrap();
            if s.name() == "ghost-source-ready" && s.get::<&str>("source").unwrap() == source {
                return;
            }
        }
    }
    panic!("no ghost-source-ready for {source}");
}

#[test]
fn realtime_frames_never_wait_and_results_follow_the_current_alignment() {
    let _serial = serial();
    let (img, face) = scene();
    let (mut h, _bus) = harness(&[("mode", "realtime")]);
    // The first frame cannot have a swap: the streaming thread never runs the generator.
    let out = h.push_and_pull(buffer(&img, &face, 0)).unwrap();
    let meta = FacesMeta::from_buffer(&out).unwrap();
    assert!(meta.faces[0].selected && meta.faces[0].swap.is_none(), "frame 0 went out before any swap existed");
    let (at, _) = until_swapped(&mut h, &img, &face, 1);

    // The head moves by (7, -4): the crop made from an earlier frame is placed with this frame's alignment.
    let (moved_img, moved) = shifted(&img, &face, 7, -4);
    let out = h.push_and_pull(buffer(&moved_img, &moved, at + 1)).unwrap();
    let s = swap_of(&out).expect("a recent result is reused");
    assert!(s.age >= 1, "made from an earlier frame, age {}", s.age);
    let template = crop_template(&face.keypoints, CropMode::Ghost);
    assert_eq!(s.frame_to_crop, crop_transform_with(&moved.keypoints, CropMode::Ghost, template));
    // The same face point lands on the same crop pixel in both frames.
    let (before, after) = (crop_transform_with(&face.keypoints, CropMode::Ghost, template), s.frame_to_crop);
    for p in face.keypoints {
        let (a, b) = (before.apply(p[0] as f64, p[1] as f64), after.apply(p[0] as f64 + 7.0, p[1] as f64 - 4.0));
        assert!((a.0 - b.0).abs() < 1e-3 && (a.1 - b.1).abs() < 1e-3, "{a:?} vs {b:?}");
    }
    // ghostfaceblend needs nothing else: the crop is a full 256 swap.
    assert_eq!((s.crop.width, s.crop.height), (256, 256));
}

#[test]
fn realtime_results_older_than_max_age_are_not_shown() {
    let _serial = serial();
    let (img, face) = scene();
    // Realtime results are at least one frame old, so max-age=0 shows none of them.
    let (mut h, _bus) = harness(&[("mode", "realtime"), ("max-age", "0")]);
    for i in 0..8 {
        assert!(swap_of(&h.push_and_pull(buffer(&img, &face, i)).unwrap()).is_none(), "frame {i}");
        std::thread::sleep(Duration::from_millis(40));
    }
    // The same stream with max-age raised shows them.
    h.element().unwrap().set_property("max-age", 30u32);
    until_swapped(&mut h, &img, &face, 8);
}

#[test]
fn flush_caps_and_source_changes_drop_realtime_results() {
    let _serial = serial();
    let (img, face) = scene();
    let (mut h, bus) = harness(&[("mode", "realtime")]);
    let (at, _) = until_swapped(&mut h, &img, &face, 0);

    // A flushing seek: nothing from before it.
    assert!(h.push_event(gst::event::FlushStart::new()));
    assert!(h.push_event(gst::event::FlushStop::new(true)));
    assert!(h.push_event(gst::event::Segment::new(&gst::FormattedSegment::<gst::ClockTime>::new())));
    assert!(swap_of(&h.push_and_pull(buffer(&img, &face, at + 1)).unwrap()).is_none(), "after a flush");
    let (at, _) = until_swapped(&mut h, &img, &face, at + 2);

    // New caps (another frame size): nothing from before them.
    let (w2, h2) = (W - 8, H - 8);
    let small = resize_rgb(&img, w2, h2, Filter::Area);
    h.set_src_caps_str(&format!("video/x-raw,format=RGB,width={w2},height={h2},framerate=30/1"));
    let mut f2 = face.clone();
    f2.keypoints = f2.keypoints.map(|p| [p[0] * w2 as f32 / W as f32, p[1] * h2 as f32 / H as f32]);
    f2.bbox = [f2.bbox[0] * 0.96, f2.bbox[1] * 0.96, f2.bbox[2] * 0.96, f2.bbox[3] * 0.96];
    assert!(swap_of(&h.push_and_pull(buffer(&small, &f2, at + 1)).unwrap()).is_none(), "after new caps");
    let (at, old) = until_swapped(&mut h, &small, &f2, at + 2);

    // A new source identity: the swaps made with the old one go, the next ones use the new one.
    let obama = common::data("obama.jpg").display().to_string();
    h.element().unwrap().set_property("source", &obama);
    wait_for_source_ready(&bus, &obama);
    assert!(swap_of(&h.push_and_pull(buffer(&small, &f2, at + 1)).unwrap()).is_none(), "after a source change");
    let (_, new) = until_swapped(&mut h, &small, &f2, at + 2);
    assert_ne!(old.crop, new.crop, "the new identity's face");
}

#[test]
fn the_last_source_set_wins_and_the_worker_is_joined_on_stop() {
    let _serial = serial();
    let (img, face) = scene();
    let before = threads("ghostswap-");
    let (mut h, bus) = harness(&[("mode", "every-frame")]);
    assert!(threads_reach("ghostswap-", before + 2), "one identity worker and one generator worker per element");
    let swap = h.element().unwrap();
    let (obama, biden) =
        (common::data("obama.jpg").display().to_string(), common::data("biden.jpg").display().to_string());
    let biden_crop = swap_of(&h.push_and_pull(buffer(&img, &face, 0)).unwrap()).unwrap().crop;

    // 30 quick sets, alternating, with frames in between; the last one is Obama.
    for k in 0..30 {
        swap.set_property("source", if k % 2 == 0 { &biden } else { &obama });
        if k % 5 == 0 {
            h.push_and_pull(buffer(&img, &face, 1 + k)).unwrap();
        }
    }
    wait_for_source_ready(&bus, &obama);
    // Give a wrong straggler every chance to land: none may.
    std::thread::sleep(Duration::from_millis(500));
    let crop = swap_of(&h.push_and_pull(buffer(&img, &face, 40)).unwrap()).unwrap().crop;
    let (mut reference, _bus) = harness(&[("mode", "every-frame"), ("source", obama.as_str())]);
    let obama_crop = swap_of(&reference.push_and_pull(buffer(&img, &face, 0)).unwrap()).unwrap().crop;
    assert_eq!(crop, obama_crop, "the identity in use is the last one set");
    assert_ne!(crop, biden_crop);
    drop(reference);

    // A photo that fails keeps the previous identity, with a warning.
    let grey = common::output_dir().join("workers-grey.png");
    image::RgbImage::from_pixel(120, 120, image::Rgb([128, 128, 128])).save(&grey).unwrap();
    swap.set_property("source", grey.display().to_string());
    let warning = bus
        .timed_pop_filtered(gst::ClockTime::from_seconds(30), &[gst::MessageType::Warning])
        .expect("a warning for the faceless photo");
    let gst::MessageView::Warning(w) = warning.view() else { unreachable!() };
    assert!(w.error().message().contains("no face found in source photo"), "{}", w.error());
    assert_eq!(swap_of(&h.push_and_pull(buffer(&img, &face, 41)).unwrap()).unwrap().crop, obama_crop);

    // A request still running when the element stops is not installed after a restart: the new
    // run computes the identity of the settings it starts with.
    swap.set_property("source", &biden);
    swap.set_state(gst::State::Null).unwrap();
    assert_eq!(threads("ghostswap-"), before, "the workers are joined on stop (at once, not eventually)");
    swap.set_property("source", &obama);
    swap.set_state(gst::State::Playing).unwrap();
    let crop = swap_of(&h.push_and_pull(buffer(&img, &face, 0)).unwrap()).unwrap().crop;
    assert_eq!(crop, obama_crop, "the restart uses the source it started with");
    drop(h);
    assert_eq!(threads("ghostswap-"), before);
}

#[test]
fn auto_mode_follows_whether_the_pipeline_is_live() {
    let _serial = serial();
    let (img, face) = scene();
    for (live, realtime) in [(false, false), (true, true)] {
        let (mut h, _bus) = harness(&[]);
        h.set_live(live);
        let out = h.push_and_pull(buffer(&img, &face, 0)).unwrap();
        // Every-frame mode swaps the first frame itself; realtime mode cannot have a result yet.
        assert_eq!(swap_of(&out).is_none(), realtime, "live {live}");
    }
}

#[test]
fn swap_ages_are_in_the_meta_and_the_message() {
    let _serial = serial();
    let (img, face) = scene();
    let (mut h, bus) = harness(&[("mode", "realtime"), ("post-messages", "true")]);
    let (_, s) = until_swapped(&mut h, &img, &face, 0);
    let messages: Vec<_> = bus
        .iter_filtered(&[gst::MessageType::Element])
        .filter_map(|m| gstghost::message::FacesMessage::try_from(m.structure()?).ok())
        .collect();
    let last = messages.last().expect("ghost-faces messages");
    assert_eq!(last.faces[0].swap_age, Some(s.age));
    assert!(messages[0].faces[0].swap_age.is_none(), "the first frame had no swap");
}
