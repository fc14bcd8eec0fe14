// SPDX-License-Identifier: MIT OR Apache-2.0
//! int8 and fp16 generators. `./ghost.sh setup` makes them from the conv test generator
//! (models/test/swapper_conv.onnx) with plugin-data/tools/quantize_ghost.py, the tool users run on real
//! generators, calibrated on the committed crops of tests/data/calibration (obama.jpg and biden.jpg made by
//! `ghost-models calibration-crops`, whose own tests check that they are re-made identically). Here they must load like any generator, through `GhostGenerator` and
//! inside `ghostfaceswap`, and match the fp32 file on a crop the calibration never saw (the face of
//! 32bit.png); a quantized file with a wrong contract must still be rejected. (That the files really are
//! quantized, graph by graph, is a unit test of `models::swapper`.)

mod common;

use std::path::Path;

use common::{photo, run_frames, test_model};
use gstghost::meta::FacesMeta;
use gstghost::models::align::{generator_crop, CropMode};
use gstghost::models::swapper::GhostGenerator;
use gstghost::models::{resolve_model, Detector, DetectorParams};
use gstghost::runtime::{ExecutionProvider, RuntimeError, SessionOptions};
use gstghost::vision::{PackedFrame, RgbImage};

const FP32: &str = "swapper_conv.onnx";
const INT8: &str = "swapper_conv_int8.onnx";
const FP16: &str = "swapper_conv_fp16.onnx";

fn cpu() -> SessionOptions {
    SessionOptions { provider: ExecutionProvider::Cpu, ..Default::default() }
}

fn open(name: &str) -> GhostGenerator {
    GhostGenerator::open(Path::new(&test_model(name)), &cpu()).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// The aligned 256 crop of the largest face of a photo, as the element makes it.
fn aligned_crop(name: &str) -> RgbImage {
    let img = photo(name);
    let mut detector = Detector::open(&resolve_model("mtcnn").unwrap(), &cpu()).unwrap();
    let faces = detector.detect(&PackedFrame::from_rgb(&img), &DetectorParams::default()).unwrap();
    let area = |b: &[f32; 4]| (b[2] - b[0]) * (b[3] - b[1]);
    let face = faces.iter().max_by(|a, b| area(&a.bbox).total_cmp(&area(&b.bbox))).expect("a face");
    generator_crop(&PackedFrame::from_rgb(&img), &face.keypoints, CropMode::Ghost).0
}

/// A raw ArcFace-like identity (norm 20, as quantize_ghost.py's synthetic ones): fixed pseudo-random values.
fn identity(seed: u64) -> Vec<f32> {
    // A plain linear congruential sequence: any fixed, varied values do.
    let mut state = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
    let v: Vec<f32> = (0..512)
        .map(|_| {
            state = state.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
            (state >> 40) as f32 / (1u64 << 24) as f32 - 0.5
        })
        .collect();
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    v.iter().map(|x| x * 20.0 / norm).collect()
}

/// (PSNR in dB, max abs difference, mean abs difference, share of values off by more than 8) in 8-bit levels.
fn difference(a: &RgbImage, b: &RgbImage) -> (f64, u8, f64, f64) {
    assert_eq!((a.width, a.height), (b.width, b.height));
    let d: Vec<i32> = a.data.iter().zip(&b.data).map(|(&x, &y)| x as i32 - y as i32).collect();
    let mse = d.iter().map(|&v| (v * v) as f64).sum::<f64>() / d.len() as f64;
    let psnr = if mse == 0.0 { f64::INFINITY } else { 10.0 * (255.0f64 * 255.0 / mse).log10() };
    let max = d.iter().map(|v| v.unsigned_abs()).max().unwrap() as u8;
    let mean = d.iter().map(|v| v.abs() as f64).sum::<f64>() / d.len() as f64;
    let far = d.iter().filter(|v| v.abs() > 8).count() as f64 / d.len() as f64;
    (psnr, max, mean, far)
}

#[test]
fn int8_and_fp16_match_fp32_on_a_held_out_crop() {
    let crops = [aligned_crop("32bit.png"), aligned_crop("obama_partial_face.jpg")];
    let refs: Vec<&RgbImage> = crops.iter().collect();
    let (id_a, id_b) = (identity(1), identity(2));
    let fp32 = open(FP32);
    let want: Vec<RgbImage> = fp32.swap(&refs, &id_a).unwrap().into_iter().map(Option::unwrap).collect();
    // How much the identity alone moves the output: the yardstick a broken variant would miss.
    let other: Vec<RgbImage> = fp32.swap(&refs, &id_b).unwrap().into_iter().map(Option::unwrap).collect();
    let (_, _, identity_effect, _) = difference(&want[0], &other[0]);
    assert!(identity_effect > 4.0, "the identity changes the fp32 output by {identity_effect:.2} levels on average");
    for (name, min_psnr, max_abs, max_mean, max_far) in
        [(INT8, INT8_MIN_PSNR, INT8_MAX_ABS, INT8_MAX_MEAN, INT8_MAX_FAR), (FP16, 55.0, 2, 0.05, 0.0)]
    {
        let gen = open(name);
        assert!(gen.batched, "{name} keeps the dynamic batch");
        let got: Vec<RgbImage> = gen.swap(&refs, &id_a).unwrap().into_iter().map(Option::unwrap).collect();
        for (k, (g, w)) in got.iter().zip(&want).enumerate() {
            let (psnr, max, mean, far) = difference(g, w);
            eprintln!(
                "{name} vs {FP32}, crop {k}: PSNR {psnr:.1} dB, max abs {max}, mean abs {mean:.3} levels, {:.3} % off by > 8",
                far * 100.0
            );
            assert!(psnr >= min_psnr && max <= max_abs && mean <= max_mean && far <= max_far, "{name} crop {k}");
            assert!(mean < identity_effect / 4.0, "{name} follows the identity");
        }
    }
}

// int8 tolerances for the conv test generator. Each 8-bit activation carries a rounding error of up to
// half a step (range/255) and eight quantized convs plus the AAD ops compound it: measured on these
// held-out crops 44-46 dB, mean abs 0.9-1.0 level, max abs 14-32 (a handful of pixels where the last conv's
// error lands on tanh's steep part), 0.03-0.4 % of values off by more than 8 levels (the last conv as int8
// taps plus a float shift, quantize_ghost.py's thin_convs_to_taps: on 12 held-out crops 45.1 dB either way). The bounds leave room
// for another CPU's rounding, and a broken file (wrong scales, a dropped branch: tens of levels
// everywhere, like the identity's own effect) fails all of them.
const INT8_MIN_PSNR: f64 = 38.0;
const INT8_MAX_ABS: u8 = 64;
const INT8_MAX_MEAN: f64 = 2.0;
const INT8_MAX_FAR: f64 = 0.01;

#[test]
fn variants_swap_inside_ghostfaceswap_like_the_fp32_file() {
    let img = photo("32bit.png");
    let embedding = common::output_dir().join("variants-identity.npy");
    gstghost::models::identity::write_embedding(&embedding, &identity(3)).unwrap();
    let swap = |name: &str| {
        let middle = format!(
            "ghostfacedetect ! ghostfaceswap model={} source-embedding={}",
            test_model(name),
            embedding.display()
        );
        let out = run_frames(&middle, std::slice::from_ref(&img)).unwrap();
        let meta = FacesMeta::from_buffer(&out[0]).expect("face meta");
        let face = meta.faces.iter().find(|f| f.score > 0.99).expect("the main face");
        (*face.swap.as_ref().expect("swapped").crop).clone()
    };
    let want = swap(FP32);
    for (name, min_psnr) in [(INT8, INT8_MIN_PSNR), (FP16, 55.0)] {
        let (psnr, _, _, _) = difference(&swap(name), &want);
        assert!(psnr >= min_psnr, "{name} inside ghostfaceswap: PSNR {psnr:.1} dB vs {FP32}");
    }
}

#[test]
fn a_quantized_generator_with_a_wrong_contract_is_rejected() {
    let name = "swapper_conv_half_int8.onnx";
    match GhostGenerator::open(Path::new(&test_model(name)), &cpu()) {
        Err(RuntimeError::Contract { path, role, .. }) => {
            assert!(path.ends_with(name) && role == "GHOST generator", "{path} {role}");
        }
        Err(e) => panic!("expected a contract error, got {e}"),
        Ok(_) => panic!("a 128x128 generator was accepted"),
    }
    let blank = RgbImage::from_raw(64, 48, vec![90; 64 * 48 * 3]);
    let middle = format!(
        "ghostfacedetect ! ghostfaceswap model={} source-embedding={}",
        test_model(name),
        common::output_dir().join("variants-identity-any.npy").display()
    );
    gstghost::models::identity::write_embedding(&common::output_dir().join("variants-identity-any.npy"), &identity(4))
        .unwrap();
    let err = run_frames(&middle, &[blank]).expect_err("the pipeline must not start");
    assert!(err.contains(name) && err.contains("GHOST generator"), "{err}");
}
