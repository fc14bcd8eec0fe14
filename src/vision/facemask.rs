// SPDX-License-Identifier: MIT OR Apache-2.0
//! Face masks in crop space, following GHOST's `utils/inference/masks.py` (docs/reference.md#face-mask):
//! the offset rule and parameter table, eyebrow expansion with int32 truncation, convex-hull fill,
//! erode/dilate, the 2σY border zeroing and the Gaussian blur. Everything is built on GHOST's
//! 224-pixel canvas (the landmark coordinates, kernel sizes and sigmas are all in 224 units) and
//! then resized to the crop size, exactly as if the crop had been resized to 224 like GHOST does.
//!
//! Differences from the reference: the blur runs on floats (cv2 blurs the uint8 mask; ≤ 2/255 apart).

use super::blur::gaussian_blur_mask;
use super::hull::{convex_hull, fill_convex_poly};
use super::image::{GrayImage, MaskF32};
use super::morph::{dilate, erode};
use super::resize::resize_mask;

/// GHOST's mask canvas size: every mask parameter is in these units.
pub const GHOST_SIZE: usize = 224;

/// A mean face in the 2d106det layout, in 224-crop pixels of GHOST's aligned crop (the frontal template
/// `src3 * 2`: eyes at (79.5, 102.3) / (144.5, 102.3), mouth corners at y = 174). Used for the template mask.
#[rustfmt::skip]
pub const MEAN_FACE_106: [[f32; 2]; 106] = [
    [112.0, 210.0], [40.0, 100.0], [66.3, 185.0], [72.0, 191.5], [78.1, 197.0], [84.4, 201.6],
    [91.1, 205.3], [98.0, 207.9], [104.9, 209.5], [40.3, 110.8], [41.4, 121.5], [43.1, 131.9],
    [45.5, 142.1], [48.5, 151.9], [52.1, 161.1], [56.3, 169.8], [61.1, 177.8], [184.0, 100.0],
    [157.7, 185.0], [152.0, 191.5], [145.9, 197.0], [139.6, 201.6], [132.9, 205.3], [126.0, 207.9],
    [119.1, 209.5], [183.7, 110.8], [182.6, 121.5], [180.9, 131.9], [178.5, 142.1], [175.5, 151.9],
    [171.9, 161.1], [167.7, 169.8], [162.9, 177.8], [76.0, 108.0], [83.0, 108.0], [65.0, 102.5],
    [70.0, 106.0], [89.0, 106.0], [79.5, 102.5], [94.0, 102.5], [79.5, 96.0], [72.0, 97.5],
    [87.0, 97.5], [60.0, 84.0], [64.0, 87.0], [72.0, 83.0], [81.0, 82.0], [91.0, 83.0],
    [69.0, 79.0], [79.0, 77.0], [99.0, 81.0], [89.0, 78.0], [85.0, 174.0], [112.0, 187.0],
    [103.0, 177.0], [94.0, 182.0], [103.0, 186.0], [121.0, 177.0], [130.0, 182.0], [121.0, 186.0],
    [112.0, 178.0], [139.0, 174.0], [112.0, 171.0], [103.0, 163.0], [94.0, 167.0], [90.0, 174.0],
    [103.0, 171.0], [121.0, 163.0], [130.0, 167.0], [134.0, 174.0], [121.0, 171.0], [112.0, 165.0],
    [112.0, 105.0], [112.0, 115.0], [112.0, 125.0], [104.0, 120.0], [102.0, 130.0], [100.0, 140.0],
    [98.0, 145.0], [105.0, 147.0], [112.0, 148.0], [120.0, 120.0], [122.0, 130.0], [124.0, 140.0],
    [126.0, 145.0], [119.0, 147.0], [112.0, 137.0], [148.0, 108.0], [144.5, 102.5], [130.0, 102.5],
    [135.0, 106.0], [154.0, 106.0], [141.0, 108.0], [159.0, 102.5], [144.5, 96.0], [137.0, 97.5],
    [152.0, 97.5], [160.0, 87.0], [152.0, 83.0], [143.0, 82.0], [133.0, 83.0], [164.0, 84.0],
    [125.0, 81.0], [135.0, 78.0], [145.0, 77.0], [155.0, 79.0],
];

/// Brow points and their "eye-top" partners (masks.py `expand_eyebrows`).
const BROW_L: [usize; 5] = [43, 48, 49, 51, 50];
const EYE_L: [usize; 5] = [35, 41, 40, 42, 39];
const BROW_R: [usize; 5] = [102, 103, 104, 105, 101];
const EYE_R: [usize; 5] = [89, 95, 94, 96, 93];

/// The mask parameters GHOST chooses per face (and freezes per continuous appearance in video).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MaskParams {
    /// Square kernel size: > 0 erodes, < 0 dilates by `-erode`, 0 leaves the hull as it is.
    pub erode: i32,
    pub sigma_x: f64,
    pub sigma_y: f64,
    pub eyebrow_mod: f64,
}

impl MaskParams {
    /// GHOST's "otherwise" row (|offset| small): erode 5, σ 5/5, eyebrow 2.0. Also the template mask's row.
    pub const DEFAULT: MaskParams = MaskParams { erode: 5, sigma_x: 5.0, sigma_y: 5.0, eyebrow_mod: 2.0 };

    /// The parameter table of masks.py L49-64.
    pub fn from_offset(offset: f64) -> Self {
        if offset > 6.0 {
            MaskParams { erode: 15, sigma_x: 15.0, sigma_y: 10.0, eyebrow_mod: 2.7 }
        } else if offset > 3.0 {
            MaskParams { erode: 10, sigma_x: 10.0, sigma_y: 8.0, eyebrow_mod: 2.0 }
        } else if offset < -3.0 {
            MaskParams { erode: -5, sigma_x: 5.0, sigma_y: 10.0, eyebrow_mod: 0.5 }
        } else {
            Self::DEFAULT
        }
    }

    /// Frozen parameters (masks.py L66-76): [erode, σX, σY] given, the eyebrow mod re-derived from erode.
    pub fn from_frozen(erode: i32, sigma_x: f64, sigma_y: f64) -> Self {
        let eyebrow_mod = match erode {
            15 => 2.7,
            -5 => 0.5,
            _ => 2.0,
        };
        MaskParams { erode, sigma_x, sigma_y, eyebrow_mod }
    }
}

/// GHOST's contour offset (masks.py L44-47), in 224-crop pixels: `max(Σ_{1,2,13}(x_gen − x_tgt),
/// Σ_{17,18,29}(x_tgt − x_gen))`. Both sets must hold 106 points.
pub fn landmark_offset(gen: &[[f32; 2]], tgt: &[[f32; 2]]) -> f64 {
    let left: f64 = [1, 2, 13].iter().map(|&i| gen[i][0] as f64 - tgt[i][0] as f64).sum();
    let right: f64 = [17, 18, 29].iter().map(|&i| tgt[i][0] as f64 - gen[i][0] as f64).sum();
    left.max(right)
}

/// masks.py `expand_eyebrows`: the points cast to int32 (truncation toward zero), each brow point moved to
/// `brow + mod*0.5*(brow − eye)` and truncated back to int32.
pub fn expand_eyebrows(landmarks: &[[f32; 2]], eyebrow_mod: f64) -> Vec<[i32; 2]> {
    let mut p: Vec<[i32; 2]> = landmarks.iter().map(|q| [q[0] as i32, q[1] as i32]).collect();
    if p.len() < 106 {
        return p;
    }
    for (brows, eyes) in [(BROW_L, EYE_L), (BROW_R, EYE_R)] {
        let top = brows.map(|i| p[i]);
        let bot = eyes.map(|i| p[i]);
        for k in 0..5 {
            for c in 0..2 {
                let t = top[k][c] as f64;
                p[brows[k]][c] = (t + eyebrow_mod * 0.5 * (t - bot[k][c] as f64)) as i32;
            }
        }
    }
    p
}

/// Scales integer points about their centroid (`mask-scale`); 1.0 returns them unchanged.
pub fn scale_points(points: &mut [[i32; 2]], scale: f64) {
    if (scale - 1.0).abs() < 1e-9 || points.is_empty() {
        return;
    }
    let n = points.len() as f64;
    let cx = points.iter().map(|p| p[0] as f64).sum::<f64>() / n;
    let cy = points.iter().map(|p| p[1] as f64).sum::<f64>() / n;
    for p in points {
        p[0] = (cx + (p[0] as f64 - cx) * scale).round() as i32;
        p[1] = (cy + (p[1] as f64 - cy) * scale).round() as i32;
    }
}

/// masks.py `get_mask`: the convex hull of the points filled with 255 on a `size`x`size` canvas.
pub fn hull_mask(points: &[[i32; 2]], size: usize) -> GrayImage {
    let mut m = GrayImage::new(size, size);
    let hull = convex_hull(points);
    if hull.len() >= 3 {
        fill_convex_poly(&mut m, &hull, 255);
    }
    m
}

/// masks.py `erode_and_blur` with `fade_to_border=True`: erode (or dilate for negative sizes), zero a
/// border of `round(2σY)` pixels (skipped when σY is 0: no blur means no fade), Gaussian blur, scale to 0..1.
pub fn erode_and_blur(mut mask: GrayImage, erode_size: i32, sigma_x: f64, sigma_y: f64) -> MaskF32 {
    if erode_size > 0 {
        erode(&mut mask, erode_size as usize);
    } else if erode_size < 0 {
        dilate(&mut mask, (-erode_size) as usize);
    }
    let (w, h) = (mask.width, mask.height);
    let clip = (2.0 * sigma_y).round().max(0.0) as usize;
    if clip > 0 {
        for y in 0..h {
            let row = &mut mask.data[y * w..(y + 1) * w];
            if y < clip || y + clip >= h {
                row.fill(0);
            } else {
                let c = clip.min(w);
                row[..c].fill(0);
                row[w.saturating_sub(clip)..].fill(0);
            }
        }
    }
    let mut out = mask.to_mask();
    if sigma_x > 0.0 || sigma_y > 0.0 {
        gaussian_blur_mask(&mut out, sigma_x, sigma_y);
    }
    out
}

/// GHOST's `face_mask_static` on the 224 canvas: eyebrow expansion of the generated face's 106 points,
/// convex hull (optionally scaled by `scale` about the centroid), optionally intersected with `keep`
/// (a 224x224 0/255 map of pixels allowed in the mask, e.g. the face-parsing classes), then erode and blur.
pub fn ghost_mask(gen_landmarks: &[[f32; 2]], params: &MaskParams, scale: f64, keep: Option<&GrayImage>) -> MaskF32 {
    let mut points = expand_eyebrows(gen_landmarks, params.eyebrow_mod);
    scale_points(&mut points, scale);
    let mut hull = hull_mask(&points, GHOST_SIZE);
    if let Some(keep) = keep {
        intersect(&mut hull, keep);
    }
    erode_and_blur(hull, params.erode, params.sigma_x, params.sigma_y)
}

/// The template mask: [`ghost_mask`] of the mean face (a face-shaped region from above the brows to the chin,
/// fixed in crop space since the crop is aligned).
pub fn template_mask(params: &MaskParams, scale: f64, keep: Option<&GrayImage>) -> MaskF32 {
    ghost_mask(&MEAN_FACE_106, params, scale, keep)
}

/// The whole crop (optionally scaled about the centre) with the same erode / border / blur treatment.
pub fn box_mask(params: &MaskParams, scale: f64, keep: Option<&GrayImage>) -> MaskF32 {
    let s = GHOST_SIZE as f64;
    let (lo, hi) = ((s - 1.0) * 0.5 * (1.0 - scale), (s - 1.0) * 0.5 * (1.0 + scale));
    let mut m = GrayImage::new(GHOST_SIZE, GHOST_SIZE);
    for y in 0..GHOST_SIZE {
        for x in 0..GHOST_SIZE {
            let (xf, yf) = (x as f64, y as f64);
            if xf >= lo - 1e-9 && xf <= hi + 1e-9 && yf >= lo - 1e-9 && yf <= hi + 1e-9 {
                m.data[y * GHOST_SIZE + x] = 255;
            }
        }
    }
    if let Some(keep) = keep {
        intersect(&mut m, keep);
    }
    erode_and_blur(m, params.erode, params.sigma_x, params.sigma_y)
}

fn intersect(m: &mut GrayImage, keep: &GrayImage) {
    assert!(keep.width == m.width && keep.height == m.height, "keep map size mismatch");
    for (v, &k) in m.data.iter_mut().zip(&keep.data) {
        *v = (*v).min(k);
    }
}

/// Resizes a 224 mask to the crop size like `cv2.resize` (the same geometry as GHOST's 256 → 224 crop resize).
pub fn to_crop_size(mask: MaskF32, size: usize) -> MaskF32 {
    if mask.width == size && mask.height == size {
        mask
    } else {
        resize_mask(&mask, size, size)
    }
}

/// Bounding box (x0, y0, x1, y1 inclusive) of the pixels above `threshold`; `None` when there are none.
pub fn support_bbox(mask: &MaskF32, threshold: f32) -> Option<(usize, usize, usize, usize)> {
    let w = mask.width;
    let mut bb: Option<(usize, usize, usize, usize)> = None;
    for (y, row) in mask.data.chunks_exact(w.max(1)).enumerate() {
        let first = row.iter().position(|&v| v > threshold);
        if let Some(x0) = first {
            let x1 = row.iter().rposition(|&v| v > threshold).unwrap_or(x0);
            bb = Some(match bb {
                None => (x0, y, x1, y),
                Some((a, b, c, _)) => (a.min(x0), b, c.max(x1), y),
            });
        }
    }
    bb
}

/// Outline of a mask at level `level`: the pixels above it with a 4-neighbour at or below it.
pub fn outline(mask: &MaskF32, level: f32) -> Vec<(usize, usize)> {
    let (w, h) = (mask.width, mask.height);
    let mut out = Vec::new();
    for y in 0..h {
        for x in 0..w {
            if mask.data[y * w + x] <= level {
                continue;
            }
            let edge = x == 0
                || y == 0
                || x + 1 == w
                || y + 1 == h
                || mask.data[y * w + x - 1] <= level
                || mask.data[y * w + x + 1] <= level
                || mask.data[(y - 1) * w + x] <= level
                || mask.data[(y + 1) * w + x] <= level;
            if edge {
                out.push((x, y));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `landmark106_wide.onnx`: contour 1..16 8 px further left, 17..32 8 px further right.
    fn wide() -> Vec<[f32; 2]> {
        let mut p = MEAN_FACE_106.to_vec();
        for (i, q) in p.iter_mut().enumerate() {
            if (1..=16).contains(&i) {
                q[0] -= 8.0;
            } else if (17..=32).contains(&i) {
                q[0] += 8.0;
            }
        }
        p
    }

    fn shifted(dx_left: f32, dx_right: f32) -> Vec<[f32; 2]> {
        let mut p = MEAN_FACE_106.to_vec();
        for i in [1, 2, 13] {
            p[i][0] += dx_left;
        }
        for i in [17, 18, 29] {
            p[i][0] += dx_right;
        }
        p
    }

    #[test]
    fn offset_rule_follows_the_table() {
        let t = MEAN_FACE_106.to_vec();
        // The cases of plugin-data/tools/TEST_MODELS.md: gen wide/tgt test → −24, gen test/tgt wide → +24.
        assert_eq!(landmark_offset(&wide(), &t), -24.0);
        assert_eq!(landmark_offset(&t, &wide()), 24.0);
        assert_eq!(
            MaskParams::from_offset(-24.0),
            MaskParams { erode: -5, sigma_x: 5.0, sigma_y: 10.0, eyebrow_mod: 0.5 }
        );
        assert_eq!(
            MaskParams::from_offset(24.0),
            MaskParams { erode: 15, sigma_x: 15.0, sigma_y: 10.0, eyebrow_mod: 2.7 }
        );
        // Known offsets from synthetic shifts of the generated face's left contour (3 points).
        for (dx, want) in [(0.9f32, 5), (1.5, 10), (1.9, 10), (2.1, 15), (0.0, 5), (-2.0, 5)] {
            let gen = shifted(dx, 0.0);
            let off = landmark_offset(&gen, &t);
            // max(left, right): the unchanged right side contributes 0.
            assert!((off - (3.0 * dx as f64).max(0.0)).abs() < 1e-4, "{dx}: {off}");
            assert_eq!(MaskParams::from_offset(off).erode, want, "dx {dx} offset {off}");
        }
        // The right side counts the other way round: gen further right = negative offset.
        let off = landmark_offset(&shifted(0.0, 3.0), &t);
        assert!((off - 0.0).abs() < 1e-9, "max(0, -9) = 0: {off}");
        let off = landmark_offset(&shifted(-3.0, 3.0), &t);
        assert!((off + 9.0).abs() < 1e-4);
        assert_eq!(MaskParams::from_offset(off).eyebrow_mod, 0.5);
        // Boundaries: exactly 6 → middle row, exactly 3 → default, exactly −3 → default.
        assert_eq!(MaskParams::from_offset(6.0).erode, 10);
        assert_eq!(MaskParams::from_offset(3.0).erode, 5);
        assert_eq!(MaskParams::from_offset(-3.0).erode, 5);
        assert_eq!(MaskParams::from_offset(4.0).sigma_y, 8.0);
    }

    #[test]
    fn frozen_params_rederive_the_eyebrow_mod() {
        for off in [24.0, 5.0, 0.0, -24.0] {
            let p = MaskParams::from_offset(off);
            assert_eq!(MaskParams::from_frozen(p.erode, p.sigma_x, p.sigma_y), p);
        }
    }

    #[test]
    fn eyebrows_move_away_from_the_eyes_with_truncation() {
        let p = expand_eyebrows(&MEAN_FACE_106, 2.0);
        // 49 (79,77) with eye-top 40 (79.5→79, 96): 79 + 1.0*(0) = 79, 77 + 1.0*(77-96) = 58.
        assert_eq!(p[49], [79, 58]);
        // 43 (60,84) with 35 (65,102.5→102): x 60 + (60-65) = 55, y 84 + (84-102) = 66.
        assert_eq!(p[43], [55, 66]);
        // mod 2.7: 48 (69,79) with 41 (72,97.5→97): x = 69 + 1.35*(-3) = 64.95 → 64; y = 79 + 1.35*(-18) = 54.7 → 54.
        let q = expand_eyebrows(&MEAN_FACE_106, 2.7);
        assert_eq!(q[48], [64, 54]);
        // Right brow 102 (125,81) with 89 (130,102.5→102): mod 0.5: 125 + 0.25*(-5) = 123.75 → 123, 81 - 5.25 = 75.75 → 75.
        let r = expand_eyebrows(&MEAN_FACE_106, 0.5);
        assert_eq!(r[102], [123, 75]);
        // Non-brow points are just truncated.
        assert_eq!(p[2], [66, 185]);
    }

    #[test]
    fn template_mask_shape_border_and_blur() {
        let m = template_mask(&MaskParams::DEFAULT, 1.0, None);
        assert_eq!((m.width, m.height), (224, 224));
        // Centre of the face fully in; corners and the 10 px border fade to ~0 (blur of zeros near the border).
        assert!(m.get(112, 130) > 0.999);
        assert!(m.get(0, 0) < 1e-6 && m.get(223, 223) < 1e-6);
        // Left/right edge of the face (x=40 at eye height) is a soft transition.
        let e = m.get(44, 110);
        assert!(e > 0.05 && e < 0.95, "{e}");
        // Symmetric about x = 112 (the mean face is symmetric up to rounding).
        assert!((m.get(70, 150) - m.get(154, 150)).abs() < 0.05);
        // Scaling the mask shrinks its support.
        let area = |m: &MaskF32| m.data.iter().map(|&v| v as f64).sum::<f64>();
        let small = template_mask(&MaskParams::DEFAULT, 0.8, None);
        assert!(area(&small) < 0.75 * area(&m) && area(&small) > 0.5 * area(&m));
        // Resize to 256 keeps the range.
        let big = to_crop_size(m, 256);
        assert_eq!(big.width, 256);
        assert!(big.data.iter().all(|&v| (0.0..=1.0001).contains(&v)));
    }

    #[test]
    fn border_zeroing_is_two_sigma_y() {
        let mut full = GrayImage::new(224, 224);
        full.data.fill(255);
        // σ 0 blur but σY used for the border: use a tiny σX and check the zeroed border before blur by σY=8 → 16 px.
        let m = erode_and_blur(full.clone(), 0, 1e-9, 8.0);
        // With σX ~ 0 only the vertical blur applies; rows inside the 16 px border at the image centre column are
        // blurred zeros except near the edge of the zeroed band.
        assert!(m.get(15, 112) < 1e-6 && m.get(16, 112) > 0.99);
        let n = erode_and_blur(full, 0, 0.0, 0.0);
        assert!(n.data.iter().all(|&v| v == 1.0), "no blur: no border, no change");
    }

    #[test]
    fn dilate_grows_and_erode_shrinks() {
        let hull = hull_mask(&expand_eyebrows(&MEAN_FACE_106, 2.0), 224);
        let count = |m: &MaskF32| m.data.iter().filter(|&&v| v > 0.5).count();
        let base = count(&erode_and_blur(hull.clone(), 0, 0.0, 0.0));
        assert!(count(&erode_and_blur(hull.clone(), 15, 0.0, 0.0)) < base);
        assert!(count(&erode_and_blur(hull, -5, 0.0, 0.0)) > base);
    }

    #[test]
    fn box_mask_no_blur_is_all_ones() {
        let p = MaskParams { erode: 0, sigma_x: 0.0, sigma_y: 0.0, eyebrow_mod: 2.0 };
        let m = box_mask(&p, 1.0, None);
        assert!(m.data.iter().all(|&v| v == 1.0));
        let soft = box_mask(&MaskParams::DEFAULT, 1.0, None);
        assert!(soft.get(112, 112) > 0.999 && soft.get(0, 112) < 0.1, "{} {}", soft.get(112, 112), soft.get(0, 112));
        assert_eq!(support_bbox(&m, 0.0), Some((0, 0, 223, 223)));
    }

    #[test]
    fn keep_map_cuts_the_mask() {
        let mut keep = GrayImage::new(224, 224);
        keep.data.fill(255);
        for y in 0..224 {
            for x in 0..112 {
                keep.data[y * 224 + x] = 0;
            }
        }
        let p = MaskParams { erode: 0, sigma_x: 0.0, sigma_y: 0.0, eyebrow_mod: 2.0 };
        let m = template_mask(&p, 1.0, Some(&keep));
        assert_eq!(m.get(100, 130), 0.0);
        assert_eq!(m.get(130, 130), 1.0);
    }
}
