// SPDX-License-Identifier: MIT OR Apache-2.0
//! sRGB ↔ CIE Lab (D65, OpenCV's matrices) and Reinhard mean/std colour transfer.

use super::image::{MaskF32, RgbImage};

const RGB2XYZ: [[f32; 3]; 3] =
    [[0.412453, 0.357580, 0.180423], [0.212671, 0.715160, 0.072169], [0.019334, 0.119193, 0.950227]];
const XYZ2RGB: [[f32; 3]; 3] =
    [[3.240479, -1.53715, -0.498535], [-0.969256, 1.875991, 0.041556], [0.055648, -0.204043, 1.057311]];
const XN: f32 = 0.950456;
const ZN: f32 = 1.088754;

fn srgb_to_linear(v: f32) -> f32 {
    if v <= 0.04045 {
        v / 12.92
    } else {
        ((v + 0.055) / 1.055).powf(2.4)
    }
}

fn linear_to_srgb(v: f32) -> f32 {
    if v <= 0.0031308 {
        v * 12.92
    } else {
        1.055 * v.powf(1.0 / 2.4) - 0.055
    }
}

fn lab_f(t: f32) -> f32 {
    if t > 0.008856 {
        t.cbrt()
    } else {
        7.787 * t + 16.0 / 116.0
    }
}

fn lab_finv(f: f32) -> f32 {
    if f > 0.206893 {
        f * f * f
    } else {
        (f - 16.0 / 116.0) / 7.787
    }
}

/// sRGB8 pixel → float CIE Lab (D65; L in 0..100, a/b roughly -128..127), the same formulas and constants as
/// OpenCV's `COLOR_RGB2Lab`. OpenCV's 8-bit encoding is `(L*255/100, a+128, b+128)`, see [`lab_to_cv8`].
pub fn rgb_to_lab(rgb: [u8; 3]) -> [f32; 3] {
    let l = rgb.map(|c| srgb_to_linear(c as f32 / 255.0));
    let xyz = RGB2XYZ.map(|r| r[0] * l[0] + r[1] * l[1] + r[2] * l[2]);
    let (fx, fy, fz) = (lab_f(xyz[0] / XN), lab_f(xyz[1]), lab_f(xyz[2] / ZN));
    let lstar = if xyz[1] > 0.008856 { 116.0 * fy - 16.0 } else { 903.3 * xyz[1] };
    [lstar, 500.0 * (fx - fy), 200.0 * (fy - fz)]
}

/// Float CIE Lab → sRGB8 (inverse of [`rgb_to_lab`], rounded and clamped like `COLOR_Lab2RGB`).
pub fn lab_to_rgb(lab: [f32; 3]) -> [u8; 3] {
    let fy = (lab[0] + 16.0) / 116.0;
    let y = if lab[0] > 7.9996 { fy * fy * fy } else { lab[0] / 903.3 };
    let fy = if lab[0] > 7.9996 { fy } else { 7.787 * y + 16.0 / 116.0 };
    let xyz = [lab_finv(fy + lab[1] / 500.0) * XN, y, lab_finv(fy - lab[2] / 200.0) * ZN];
    XYZ2RGB.map(|r| {
        let v = linear_to_srgb((r[0] * xyz[0] + r[1] * xyz[1] + r[2] * xyz[2]).clamp(0.0, 1.0));
        (v * 255.0 + 0.5).clamp(0.0, 255.0) as u8
    })
}

/// OpenCV's 8-bit Lab encoding of a float Lab value: `(round(L*255/100), round(a+128), round(b+128))`.
pub fn lab_to_cv8(lab: [f32; 3]) -> [u8; 3] {
    let q = |v: f32| (v + 0.5).clamp(0.0, 255.0) as u8;
    [q(lab[0] * 255.0 / 100.0), q(lab[1] + 128.0), q(lab[2] + 128.0)]
}

/// Mask-weighted per-channel mean and standard deviation of Lab values.
fn lab_stats(img: &RgbImage, mask: &MaskF32) -> Option<([f64; 3], [f64; 3])> {
    let (mut wsum, mut s1, mut s2) = (0f64, [0f64; 3], [0f64; 3]);
    for (px, &m) in img.data.chunks_exact(3).zip(&mask.data) {
        if m <= 0.0 {
            continue;
        }
        let lab = rgb_to_lab([px[0], px[1], px[2]]);
        wsum += m as f64;
        for c in 0..3 {
            s1[c] += m as f64 * lab[c] as f64;
            s2[c] += m as f64 * (lab[c] as f64).powi(2);
        }
    }
    if wsum <= 0.0 {
        return None;
    }
    let mean = s1.map(|v| v / wsum);
    let std = [0, 1, 2].map(|c| (s2[c] / wsum - mean[c] * mean[c]).max(0.0).sqrt());
    Some((mean, std))
}

/// Reinhard colour transfer in Lab: shifts/scales `src` so its mask-weighted Lab mean and std match those of
/// `reference` (same mask), then blends by the mask (`m*transferred + (1-m)*src`). All three must be the same
/// size (panics otherwise); an all-zero mask is a no-op. Not part of GHOST itself
/// (docs/reference.md#colour-correction).
pub fn reinhard_transfer(src: &mut RgbImage, reference: &RgbImage, mask: &MaskF32) {
    transfer(src, reference, mask, true);
}

/// Like [`reinhard_transfer`], with statistics from inside the mask but the correction applied to
/// every pixel (no edge where the mask ends; for crops that are masked again later).
pub fn reinhard_transfer_whole(src: &mut RgbImage, reference: &RgbImage, mask: &MaskF32) {
    transfer(src, reference, mask, false);
}

fn transfer(src: &mut RgbImage, reference: &RgbImage, mask: &MaskF32, blend_by_mask: bool) {
    assert!(src.width == reference.width && src.height == reference.height, "reinhard_transfer: size mismatch");
    assert!(src.width == mask.width && src.height == mask.height, "reinhard_transfer: mask size mismatch");
    let (Some((ms, ss)), Some((mr, sr))) = (lab_stats(src, mask), lab_stats(reference, mask)) else {
        return;
    };
    let gain = [0, 1, 2].map(|c| if ss[c] > 1e-6 { sr[c] / ss[c] } else { 1.0 });
    for (px, &m) in src.data.chunks_exact_mut(3).zip(&mask.data) {
        let m = if blend_by_mask { m.min(1.0) } else { 1.0 };
        if m <= 0.0 {
            continue;
        }
        let lab = rgb_to_lab([px[0], px[1], px[2]]);
        let t = [0, 1, 2].map(|c| ((lab[c] as f64 - ms[c]) * gain[c] + mr[c]) as f32);
        let out = lab_to_rgb([t[0].clamp(0.0, 100.0), t[1], t[2]]);
        for c in 0..3 {
            px[c] = (m * out[c] as f32 + (1.0 - m) * px[c] as f32 + 0.5) as u8;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::testdata::rows;
    use super::*;

    #[test]
    fn matches_opencv_lab8() {
        let data = rows(include_str!("../../tests/data/vision/lab.txt"));
        assert_eq!(data.len(), 64);
        for r in data {
            let rgb = [r[0] as u8, r[1] as u8, r[2] as u8];
            let want = [r[3] as u8, r[4] as u8, r[5] as u8];
            let got = lab_to_cv8(rgb_to_lab(rgb));
            assert!((0..3).all(|c| got[c].abs_diff(want[c]) <= 1), "{rgb:?}: {got:?} vs {want:?}");
            // Float round trip is (near) lossless.
            let back = lab_to_rgb(rgb_to_lab(rgb));
            assert!((0..3).all(|c| back[c].abs_diff(rgb[c]) <= 1), "{rgb:?} → {back:?}");
        }
        let w = rgb_to_lab([255, 255, 255]);
        assert!((w[0] - 100.0).abs() < 0.01 && w[1].abs() < 0.01 && w[2].abs() < 0.01);
    }

    #[test]
    fn reinhard_matches_reference_statistics() {
        let (w, h) = (16, 16);
        let mut src = RgbImage::new(w, h);
        let mut reference = RgbImage::new(w, h);
        for i in 0..w * h {
            src.data[i * 3..i * 3 + 3].copy_from_slice(&[(60 + i % 40) as u8, 90, (100 + i % 17) as u8]);
            reference.data[i * 3..i * 3 + 3].copy_from_slice(&[(150 + i % 60) as u8, 120, (70 + i % 23) as u8]);
        }
        let mut mask = MaskF32::new(w, h);
        mask.data[..w * h / 2].fill(1.0);
        let before = src.clone();
        reinhard_transfer(&mut src, &reference, &mask);
        let (m1, s1) = lab_stats(&src, &mask).unwrap();
        let (m2, s2) = lab_stats(&reference, &mask).unwrap();
        for c in 0..3 {
            assert!((m1[c] - m2[c]).abs() < 1.0, "mean {c}: {} vs {}", m1[c], m2[c]);
            assert!((s1[c] - s2[c]).abs() < 1.0, "std {c}: {} vs {}", s1[c], s2[c]);
        }
        assert_eq!(&src.data[w * h / 2 * 3..], &before.data[w * h / 2 * 3..]);
    }
}
