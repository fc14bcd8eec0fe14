// SPDX-License-Identifier: MIT OR Apache-2.0
//! ghostfaceenhance: identity enhancers of each family leave the crop unchanged (through the
//! template round trip for the FFHQ families), `blend`, and bad or missing models.

mod common;

use common::{photo, run_frames, test_model};
use gstghost::meta::{FacesMeta, SwapResult};
use gstghost::models::align::resize_affine;
use gstghost::vision::{resize_rgb, Filter, RgbImage};

/// A zero identity file for the identity swapper.
fn embedding_file() -> String {
    static PATH: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    PATH.get_or_init(|| {
        let path = common::output_dir().join("enhance-embedding.npy");
        // Any valid identity: the identity swapper ignores it (an all-zero one is refused as no identity).
        let values: Vec<f32> = (0..512).map(|i| (i as f32 * 0.1).sin()).collect();
        gstghost::models::identity::write_embedding(&path, &values).unwrap();
        path.display().to_string()
    })
    .clone()
}

fn swap_chain() -> String {
    format!(
        "ghostfacedetect ! ghostfaceswap model={} source-embedding={}",
        test_model("swapper_identity.onnx"),
        embedding_file()
    )
}

/// The swap results of the faces of the single output frame.
fn swaps(middle: &str, img: &RgbImage) -> Vec<SwapResult> {
    let out = run_frames(middle, std::slice::from_ref(img)).unwrap();
    let faces = FacesMeta::from_buffer(&out[0]).expect("face meta").faces;
    let swaps: Vec<SwapResult> = faces.into_iter().filter_map(|f| f.swap).collect();
    assert!(!swaps.is_empty(), "no swapped face");
    swaps
}

fn psnr(a: &RgbImage, b: &RgbImage) -> f64 {
    assert_eq!((a.width, a.height), (b.width, b.height));
    let mse: f64 =
        a.data.iter().zip(&b.data).map(|(&x, &y)| (x as f64 - y as f64).powi(2)).sum::<f64>() / a.data.len() as f64;
    10.0 * (255.0f64 * 255.0 / mse.max(1e-12)).log10()
}

#[test]
fn identity_enhancers_leave_the_crops_unchanged() {
    let img = photo("obama.jpg");
    let base = swaps(&swap_chain(), &img);

    // GHOST SR: same geometry, bit-exact.
    let sr = swaps(
        &format!("{} ! ghostfaceenhance model={}", swap_chain(), test_model("enhancer_ghostsr_identity.onnx")),
        &img,
    );
    assert_eq!(sr, base);

    // FFHQ-template families: the crop at the model's size, in the same geometry (the affine is
    // the old one followed by the cv2.resize-consistent scale), within the round trip's error.
    // The 256 template is smaller than the face in a 256 crop (a 0.85 downscale and back), so
    // GPEN-256's round trip loses fine detail: a lower bound there.
    for (file, size, min_db) in
        [("enhancer_gfpgan_identity.onnx", 512, 45.0), ("enhancer_gpen256_identity.onnx", 256, 35.0)]
    {
        let enhanced = swaps(&format!("{} ! ghostfaceenhance model={}", swap_chain(), test_model(file)), &img);
        assert_eq!(enhanced.len(), base.len());
        for (k, (e, b)) in enhanced.iter().zip(&base).enumerate() {
            assert_eq!((e.crop.width, e.crop.height), (size, size), "{file}");
            let expected = b.frame_to_crop.then(&resize_affine(b.crop.width, size));
            assert!(e.frame_to_crop.0.iter().zip(&expected.0).all(|(x, y)| (x - y).abs() < 1e-9), "{file}: affine");
            let reference = resize_rgb(&b.crop, size, size, Filter::Bilinear);
            let db = psnr(&e.crop, &reference);
            eprintln!("{file} face {k}: {db:.2} dB");
            assert!(db >= min_db, "{file} face {k}: {db:.2} dB");
            if k == 0 {
                common::save_png(&e.crop, &format!("enhance_{size}_{}.png", file.split('_').nth(1).unwrap()));
            }
        }
    }
}

#[test]
fn blend_zero_keeps_the_crop_and_half_averages() {
    let img = photo("biden.jpg");
    let base = swaps(&swap_chain(), &img);
    let with = |model: &str, blend: &str| {
        swaps(&format!("{} ! ghostfaceenhance model={} blend={blend}", swap_chain(), test_model(model)), &img)
    };
    // blend=0: the original crop and affine, bit for bit, even for a 512 model.
    assert_eq!(with("enhancer_gfpgan_identity.onnx", "0"), base);
    // blend=0.5 with an identity model: the average of two equal crops is the crop.
    // (The average of differing crops is checked in the model module's unit tests.)
    assert_eq!(with("enhancer_ghostsr_identity.onnx", "0.5"), base);
}

#[test]
fn bad_and_missing_models_fail_at_start_naming_the_file() {
    let img = photo("biden.jpg");
    let run =
        |props: &str| run_frames(&format!("{} ! ghostfaceenhance {props}", swap_chain()), std::slice::from_ref(&img));
    let err = run(&format!("model={}", test_model("enhancer_wrong.onnx"))).unwrap_err();
    assert!(err.contains("enhancer_wrong.onnx"), "{err}");
    let err = run("model=/nonexistent/enhancer_gone.onnx").unwrap_err();
    assert!(err.contains("/nonexistent/enhancer_gone.onnx"), "{err}");
    let err = run("model=no_such_enhancer").unwrap_err();
    assert!(err.contains("no_such_enhancer"), "{err}");
    let err = run("").unwrap_err();
    assert!(err.contains("no enhancer model"), "{err}");
    // A model of another role is refused too.
    let err = run(&format!("model={}", test_model("swapper_identity.onnx"))).unwrap_err();
    assert!(err.contains("swapper_identity.onnx"), "{err}");
}

#[test]
fn the_full_chain_with_a_512_enhancer_reproduces_the_frame() {
    // detect → swap (identity) → enhance (identity, 512) → blend (box, no blur): the enhanced crop
    // and its updated affine must paste back onto the very same pixels.
    // A smooth frame (downscaled, then upscaled): on a sharp one the four bilinear resamplings of the
    // round trip (frame → 256 crop → 512 template → 512 crop → frame) would blur fine detail, and
    // that loss is not what this test is about; a wrong affine would still show at once.
    let small = resize_rgb(&photo("obama.jpg"), 228, 284, Filter::Area);
    let img = resize_rgb(&small, 455, 568, Filter::Bilinear);
    let middle = format!(
        "{} ! ghostfaceenhance model={} ! ghostfaceblend mask=box erode=0 blur=0",
        swap_chain(),
        test_model("enhancer_gfpgan_identity.onnx")
    );
    let out = run_frames(&middle, std::slice::from_ref(&img)).unwrap();
    let faces = FacesMeta::from_buffer(&out[0]).unwrap().faces;
    assert!(faces.iter().any(|f| f.swap.as_ref().is_some_and(|s| s.crop.width == 512)), "the crop was enhanced to 512");
    let result = common::buffer_to_rgb(&out[0], img.width, img.height);
    let p = psnr(&result, &img);
    let within_one =
        result.data.iter().zip(&img.data).filter(|(a, b)| a.abs_diff(**b) <= 1).count() as f64 / img.data.len() as f64;
    eprintln!("chain PSNR {p:.1} dB, {:.1} % of values within one level", within_one * 100.0);
    // Not every value within one level as in the blend round trip: the 512 template round trip
    // adds two bilinear resamplings, which soften edges by a few levels. The paste-back position is
    // what this test proves: the unshifted frame matches better than any one-pixel shift.
    assert!(p >= 45.0, "PSNR {p:.1} dB");
    // Inside the face, where the crop was pasted.
    let face = faces.iter().find(|f| f.swap.is_some()).unwrap();
    let (x0, y0) = ((face.bbox[0].max(1.0)) as usize, (face.bbox[1].max(1.0)) as usize);
    let (x1, y1) = ((face.bbox[2] as usize).min(img.width - 2), (face.bbox[3] as usize).min(img.height - 2));
    let shifted_psnr = |dx: isize, dy: isize| {
        let mut mse = 0.0;
        let mut n = 0usize;
        for y in y0..y1 {
            for x in x0..x1 {
                let (sx, sy) = ((x as isize + dx) as usize, (y as isize + dy) as usize);
                for c in 0..3 {
                    let d = result.get(x, y)[c] as f64 - img.get(sx, sy)[c] as f64;
                    mse += d * d;
                    n += 1;
                }
            }
        }
        10.0 * (255.0f64 * 255.0 / (mse / n as f64).max(1e-12)).log10()
    };
    let centre = shifted_psnr(0, 0);
    eprintln!("face region: {centre:.1} dB unshifted, {:.1} dB shifted by one pixel", shifted_psnr(1, 0));
    for (dx, dy) in [(-1, 0), (1, 0), (0, -1), (0, 1)] {
        let shifted = shifted_psnr(dx, dy);
        assert!(
            shifted < centre - 3.0,
            "a shift of ({dx},{dy}) fits as well ({shifted:.1} vs {centre:.1} dB): the affine is off"
        );
    }
}
