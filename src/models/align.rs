// SPDX-License-Identifier: MIT OR Apache-2.0
//! Crop geometry shared by the swapper and the recognizers: which affine takes a face from frame
//! pixels into the crop a model expects (docs/reference.md#crop-geometry, docs/reference.md#five-point-templates).

use crate::vision::{
    best_template_fit, resize_rgb, scaled_template, umeyama, warp_affine_packed, Affine2, Border, Filter, PackedFrame,
    RgbImage, ARCFACE_112_V1, ARCFACE_112_V2, GHOST_TEMPLATES_112,
};

/// The generator's crop size.
pub const GENERATOR_SIZE: usize = 256;
/// GHOST's own crop size before the resize to 256.
pub const GHOST_CROP_SIZE: usize = 224;

/// How the generator crop is aligned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum CropMode {
    /// GHOST: the best of the five multi-pose templates at 224, then resized to 256.
    #[default]
    Ghost,
    /// `arcface_112_v1` scaled straight to 256 (how other tools run the ghost_*_256 files).
    Frontal,
}

fn points_f64(kps: &[[f32; 2]; 5]) -> [[f64; 2]; 5] {
    kps.map(|p| [p[0] as f64, p[1] as f64])
}

/// Frame → GHOST 224 crop: insightface 0.2.1 `estimate_norm(kps, 224, mode='None')`.
pub fn ghost_224_transform(kps: &[[f32; 2]; 5]) -> (Affine2, usize) {
    let templates = GHOST_TEMPLATES_112.map(|t| scaled_template(&t, 2.0, 0.0));
    let (m, index, _) = best_template_fit(&points_f64(kps), &templates);
    (m, index)
}

/// The affine equivalent of `cv2.resize` from `from` to `to` pixels (pixel centres at +0.5).
pub fn resize_affine(from: usize, to: usize) -> Affine2 {
    let s = to as f64 / from as f64;
    Affine2([s, 0.0, 0.5 * s - 0.5, 0.0, s, 0.5 * s - 0.5])
}

/// Frame → generator crop (256) coordinates for a crop mode.
pub fn crop_transform(kps: &[[f32; 2]; 5], mode: CropMode) -> Affine2 {
    match mode {
        CropMode::Ghost => ghost_224_transform(kps).0.then(&resize_affine(GHOST_CROP_SIZE, GENERATOR_SIZE)),
        CropMode::Frontal => {
            let template = scaled_template(&ARCFACE_112_V1, GENERATOR_SIZE as f64 / 112.0, 0.0);
            umeyama(&points_f64(kps), &template)
        }
    }
}

/// The frame → 256 crop transform with a given template: GHOST's five multi-pose templates are
/// indices 0..5 (`ghost_224_transform` picks the best one), the frontal template is index 0. A crop
/// made on one frame is placed on a later one with the later keypoints fitted to the *same*
/// template, so the face keeps its place in the crop when the best template changes in between.
pub fn crop_transform_with(kps: &[[f32; 2]; 5], mode: CropMode, template: usize) -> Affine2 {
    match mode {
        CropMode::Ghost => {
            let t = scaled_template(&GHOST_TEMPLATES_112[template.min(GHOST_TEMPLATES_112.len() - 1)], 2.0, 0.0);
            umeyama(&points_f64(kps), &t).then(&resize_affine(GHOST_CROP_SIZE, GENERATOR_SIZE))
        }
        CropMode::Frontal => crop_transform(kps, mode),
    }
}

/// The template `crop_transform` (and `generator_crop`) uses for these keypoints.
pub fn crop_template(kps: &[[f32; 2]; 5], mode: CropMode) -> usize {
    match mode {
        CropMode::Ghost => ghost_224_transform(kps).1,
        CropMode::Frontal => 0,
    }
}

/// The 256 generator crop of a face and its frame → crop affine.
///
/// `Ghost` follows the reference exactly (warp to 224, then a bilinear resize to 256) because a
/// trained generator is sensitive to the resampling; the border is replicated (the reference pads
/// with black, which puts a black edge into crops of faces at the frame border).
pub fn generator_crop(frame: &PackedFrame, kps: &[[f32; 2]; 5], mode: CropMode) -> (RgbImage, Affine2) {
    match mode {
        CropMode::Ghost => {
            let (m224, _) = ghost_224_transform(kps);
            let crop224 = warp_affine_packed(frame, &m224, GHOST_CROP_SIZE, GHOST_CROP_SIZE, Border::Replicate);
            let crop = resize_rgb(&crop224, GENERATOR_SIZE, GENERATOR_SIZE, Filter::Bilinear);
            (crop, m224.then(&resize_affine(GHOST_CROP_SIZE, GENERATOR_SIZE)))
        }
        CropMode::Frontal => {
            let m = crop_transform(kps, mode);
            (warp_affine_packed(frame, &m, GENERATOR_SIZE, GENERATOR_SIZE, Border::Replicate), m)
        }
    }
}

/// Frame → 112 crop on the standard ArcFace template (`arcface_112_v2`), for w600k-style recognizers.
pub fn arcface_112_transform(kps: &[[f32; 2]; 5]) -> Affine2 {
    umeyama(&points_f64(kps), &ARCFACE_112_V2)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Keypoints of a face: a template moved by a known similarity (angle, scale, shift).
    fn posed(template: &[[f64; 2]; 5], angle_deg: f64, scale: f64, tx: f64, ty: f64) -> [[f32; 2]; 5] {
        let (s, c) = angle_deg.to_radians().sin_cos();
        template.map(|p| {
            let (x, y) = (p[0] * scale, p[1] * scale);
            [(c * x - s * y + tx) as f32, (s * x + c * y + ty) as f32]
        })
    }

    #[test]
    fn keypoints_land_on_the_chosen_template() {
        for &(angle, scale, tx, ty) in &[(0.0, 1.0, 0.0, 0.0), (25.0, 2.5, 300.0, 80.0), (-40.0, 0.7, 50.0, 400.0)] {
            for (i, template) in GHOST_TEMPLATES_112.iter().enumerate() {
                let kps = posed(template, angle, scale, tx, ty);
                let (m, chosen) = ghost_224_transform(&kps);
                assert_eq!(chosen, i, "pose {i} at angle {angle}");
                let m256 = crop_transform(&kps, CropMode::Ghost);
                for (k, p) in kps.iter().enumerate() {
                    let (x, y) = m.apply(p[0] as f64, p[1] as f64);
                    assert!((x - template[k][0] * 2.0).abs() < 1e-3 && (y - template[k][1] * 2.0).abs() < 1e-3);
                    // In the 256 crop, the point sits where cv2.resize moves the 224 pixel.
                    let (x2, y2) = m256.apply(p[0] as f64, p[1] as f64);
                    let expect = |v: f64| (v * 2.0 + 0.5) * 256.0 / 224.0 - 0.5;
                    assert!((x2 - expect(template[k][0])).abs() < 1e-3 && (y2 - expect(template[k][1])).abs() < 1e-3);
                }
            }
        }
    }

    #[test]
    fn frontal_and_arcface_crops_put_keypoints_on_their_templates() {
        let kps = posed(&ARCFACE_112_V1, -20.0, 3.0, 500.0, 100.0);
        let m = crop_transform(&kps, CropMode::Frontal);
        for (k, p) in kps.iter().enumerate() {
            let (x, y) = m.apply(p[0] as f64, p[1] as f64);
            assert!((x - ARCFACE_112_V1[k][0] * 256.0 / 112.0).abs() < 1e-3);
            assert!((y - ARCFACE_112_V1[k][1] * 256.0 / 112.0).abs() < 1e-3);
        }
        let kps = posed(&ARCFACE_112_V2, 15.0, 1.5, 10.0, 20.0);
        let m = arcface_112_transform(&kps);
        let (x, y) = m.apply(kps[2][0] as f64, kps[2][1] as f64);
        assert!((x - ARCFACE_112_V2[2][0]).abs() < 1e-3 && (y - ARCFACE_112_V2[2][1]).abs() < 1e-3);
    }

    #[test]
    fn a_mirrored_pose_picks_the_mirrored_template() {
        // Mirror src2 (left) horizontally around x=56 and swap left/right labels: that is src4 (right).
        let t = GHOST_TEMPLATES_112[1];
        let m = |p: [f64; 2]| [112.0 - p[0], p[1]];
        let mirrored = [m(t[1]), m(t[0]), m(t[2]), m(t[4]), m(t[3])];
        let kps = posed(&mirrored, 5.0, 2.0, 100.0, 100.0);
        assert_eq!(ghost_224_transform(&kps).1, 3);
    }

    #[test]
    fn a_fixed_template_gives_the_best_fit_when_it_is_the_best() {
        // A frontal face and one turned to the side pick different templates.
        let frontal = [[90.0, 110.0], [150.0, 110.0], [120.0, 145.0], [96.0, 180.0], [144.0, 180.0]];
        let turned = [[100.0, 110.0], [132.0, 111.0], [95.0, 146.0], [101.0, 180.0], [128.0, 181.0]];
        let (tf, tt) = (crop_template(&frontal, CropMode::Ghost), crop_template(&turned, CropMode::Ghost));
        assert_ne!(tf, tt, "the two poses pick different templates");
        for kps in [frontal, turned] {
            let t = crop_template(&kps, CropMode::Ghost);
            assert_eq!(crop_transform_with(&kps, CropMode::Ghost, t), crop_transform(&kps, CropMode::Ghost));
        }
        // Placing the turned face with the frontal face's template differs from its own best fit.
        assert_ne!(crop_transform_with(&turned, CropMode::Ghost, tf), crop_transform(&turned, CropMode::Ghost));
        assert_eq!(crop_template(&turned, CropMode::Frontal), 0);
    }
}
