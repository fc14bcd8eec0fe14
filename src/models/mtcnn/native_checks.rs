// SPDX-License-Identifier: MIT OR Apache-2.0
//! The native MTCNN networks against ONNX Runtime running the same `pnet.onnx`: cell by cell on pyramid
//! levels of real photos (odd and minimal sizes included), whole detections, and the graph check
//! that keeps other files on ONNX Runtime.

use std::path::PathBuf;

use super::pnet::{self, CellMaps, PnetWeights};
use super::weights::{Attribute, Graph};
use crate::models::{resolve_model, Detector, DetectorParams, ModelLocation};
use crate::runtime::{ExecutionProvider, SessionOptions};
use crate::vision::{PackedFrame, RgbImage};

/// A photo of tests/data (these unit tests run inside the checkout, after its set-up).
fn photo(name: &str) -> RgbImage {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data").join(name);
    let img = image::open(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display())).to_rgb8();
    RgbImage::from_raw(img.width() as usize, img.height() as usize, img.into_raw())
}

fn mtcnn() -> Detector {
    let opts = SessionOptions { provider: ExecutionProvider::Cpu, ..Default::default() };
    Detector::open(&resolve_model("mtcnn").expect("mtcnn models (run ./ghost.sh setup)"), &opts).expect("open mtcnn")
}

fn pnet_path() -> PathBuf {
    match resolve_model("mtcnn").unwrap() {
        ModelLocation::Dir(d) => d.join("pnet.onnx"),
        ModelLocation::File(f) => f,
        ModelLocation::Served(_) => unreachable!("resolve_model finds files"),
    }
}

fn max_diff(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
}

#[test]
fn native_pnet_matches_onnxruntime_cell_by_cell() {
    let mut det = mtcnn();
    let Detector::Mtcnn(m) = &mut det else { panic!("mtcnn is an MTCNN") };
    // This machine (and CI's) has AVX2/FMA: the native kernels must be in use, not silently skipped.
    assert_eq!(m.native(), pnet::supported(), "{}", m.note());
    assert!(pnet::supported(), "the native P-Net is what this test checks; this CPU lacks AVX2/FMA");
    let mut faces_seen = 0;
    for name in ["obama.jpg", "biden.jpg"] {
        let img = photo(name);
        let frame = PackedFrame::from_rgb(&img);
        let (w, h) = (img.width, img.height);
        // Pyramid-like sizes, odd sizes (the last pool window one pixel wide), a band split with
        // few rows per band, and the smallest level.
        for (ws, hs) in
            [(w * 3 / 5, h * 3 / 5), (w / 4 + 1, h / 4), (w / 4, h / 4 + 1), (97, 131), (40, 13), (12, 12), (13, 12)]
        {
            m.set_native(true);
            let native: CellMaps = m.pnet_cells(&frame, ws, hs).unwrap().clone();
            m.set_native(false);
            let ort = m.pnet_cells(&frame, ws, hs).unwrap().clone();
            assert_eq!((native.wc, native.hc), (ort.wc, ort.hc), "{name} {ws}x{hs}: cell grid");
            assert_eq!((native.wc, native.hc), pnet::cell_grid(ws, hs));
            assert_eq!((native.prob.len(), native.reg.len()), (ort.prob.len(), ort.reg.len()));
            let (dp, dr) = (max_diff(&native.prob, &ort.prob), max_diff(&native.reg, &ort.reg));
            assert!(dp < 1e-4 && dr < 1e-4, "{name} {ws}x{hs}: prob differs by {dp}, regression by {dr}");
            faces_seen += ort.prob.iter().filter(|&&p| p >= 0.6).count();
        }
    }
    assert!(faces_seen > 20, "the compared maps hold candidate cells ({faces_seen})");
}

#[test]
fn native_rnet_and_onet_match_onnxruntime_crop_by_crop() {
    let mut det = mtcnn();
    let Detector::Mtcnn(m) = &mut det else { panic!("mtcnn is an MTCNN") };
    assert!(m.native(), "{}", m.note());
    let img = photo("obama.jpg");
    // Crops of the photo (nearest-neighbour samples of square boxes around the face, which MTCNN
    // finds at x 373-610, y 83-423, and off it), normalised.
    let boxes: Vec<(usize, usize, usize)> = (0..37)
        .map(|k| {
            if k % 2 == 0 {
                (310 + k * 3 % 30, 75 + k * 5 % 30, 320 + k * 7 % 50)
            } else {
                (40 + k * 9 % 200, 60 + k * 13 % 220, 150 + k * 7 % 180)
            }
        })
        .collect();
    let mut faces = 0;
    for size in [24, 48] {
        let mut crops = Vec::new();
        for &(x0, y0, side) in &boxes {
            for y in 0..size {
                for x in 0..size {
                    let (sx, sy) =
                        ((x0 + x * side / size).min(img.width - 1), (y0 + y * side / size).min(img.height - 1));
                    let p = &img.data[(sy * img.width + sx) * 3..][..3];
                    crops.extend(p.iter().map(|&v| (v as f32 - 127.5) / 128.0));
                }
            }
        }
        // Batches split over threads and with a tail that is not a whole kernel block.
        for n in [boxes.len(), 1, 7] {
            m.set_native(true);
            let native = m.stage_outputs(size, &crops, n).unwrap();
            m.set_native(false);
            let ort = m.stage_outputs(size, &crops, n).unwrap();
            assert_eq!(native.len(), ort.len());
            for ((name, a), (_, b)) in native.iter().zip(&ort) {
                assert_eq!(a.len(), b.len(), "{size} {name}");
                let d = max_diff(a, b);
                assert!(d < 1e-4, "{size}x{size} {name}, {n} crops: differs by {d}");
            }
            let prob = &ort.last().unwrap().1;
            faces += prob.chunks(2).filter(|p| p[1] > 0.7).count();
        }
    }
    assert!(faces > 3, "some crops are faces to the networks ({faces})");
}

#[test]
fn native_and_onnxruntime_pnet_find_the_same_faces() {
    let mut det = mtcnn();
    let params = DetectorParams::default();
    for name in ["obama.jpg", "obama_partial_face.jpg", "biden.jpg"] {
        let img = photo(name);
        let frame = PackedFrame::from_rgb(&img);
        let Detector::Mtcnn(m) = &mut det else { unreachable!() };
        m.set_native(true);
        let native = det.detect(&frame, &params).unwrap();
        let Detector::Mtcnn(m) = &mut det else { unreachable!() };
        m.set_native(false);
        let ort = det.detect(&frame, &params).unwrap();
        assert!(!native.is_empty(), "{name}");
        assert_eq!(native.len(), ort.len(), "{name}");
        for (a, b) in native.iter().zip(&ort) {
            let d = a.bbox.iter().zip(&b.bbox).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max);
            let k = a
                .keypoints
                .iter()
                .flatten()
                .zip(b.keypoints.iter().flatten())
                .map(|(x, y)| (x - y).abs())
                .fold(0.0, f32::max);
            assert!(d < 0.01 && k < 0.01 && (a.score - b.score).abs() < 1e-4, "{name}: {a:?} vs {b:?}");
        }
    }
}

#[test]
fn one_thread_and_several_give_the_same_faces() {
    let open = |threads| {
        let opts = SessionOptions { provider: ExecutionProvider::Cpu, threads, ..Default::default() };
        Detector::open(&resolve_model("mtcnn").unwrap(), &opts).unwrap()
    };
    // 1 band per level and batch, 2, and 5 (more bands than this machine has cores; uneven splits).
    let mut dets = [open(1), open(2), open(5)];
    let params = DetectorParams { min_face_size: 14, ..Default::default() };
    for name in ["obama.jpg", "biden.jpg"] {
        let img = photo(name);
        let frame = PackedFrame::from_rgb(&img);
        let faces: Vec<_> = dets.iter_mut().map(|d| d.detect(&frame, &params).unwrap()).collect();
        assert!(!faces[0].is_empty(), "{name}");
        for other in &faces[1..] {
            assert_eq!(
                format!("{:?}", faces[0]),
                format!("{other:?}"),
                "{name}: bands and batch splits change nothing"
            );
        }
    }
}

#[test]
fn only_the_expected_pnet_graph_is_taken() {
    let graph = Graph::read(&pnet_path()).unwrap();
    assert!(PnetWeights::from_graph(&graph).is_ok());

    let broken = |edit: &dyn Fn(&mut Graph)| {
        let mut g = graph.clone();
        edit(&mut g);
        PnetWeights::from_graph(&g).err().expect("an edited graph is refused")
    };
    // A ReLU where the first PReLU was.
    let e = broken(&|g| g.nodes.iter_mut().filter(|n| n.op_type == "PRelu").for_each(|n| n.op_type = "Relu".into()));
    assert!(e.contains("PRelu"), "{e}");
    // Other pool geometry.
    let e = broken(&|g| {
        let pool = g.nodes.iter_mut().find(|n| n.op_type == "MaxPool").unwrap();
        pool.attributes.insert("strides".into(), Attribute::Ints(vec![1, 1]));
    });
    assert!(e.contains("max-pool"), "{e}");
    // Wider first layer.
    let e = broken(&|g| {
        let conv = g.nodes.iter().find(|n| n.op_type == "Conv").unwrap().inputs[1].clone();
        let w = g.weights.get_mut(&conv).unwrap();
        w.dims[0] = 20;
        w.data.extend_from_within(..);
    });
    assert!(e.contains("expected [10, 3, 3, 3]"), "{e}");
    // A different output name.
    let e = broken(&|g| {
        for n in &mut g.nodes {
            for o in &mut n.outputs {
                if o == "softmax" {
                    *o = "prob".into();
                }
            }
        }
    });
    assert!(e.contains("softmax"), "{e}");
}
