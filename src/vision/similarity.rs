// SPDX-License-Identifier: MIT OR Apache-2.0
//! Least-squares similarity fitting (Umeyama) and the five-point face templates used for alignment.

use super::affine::Affine2;

const fn f(v: f32) -> f64 {
    v as f64
}

/// Rounds each coordinate through f32, because insightface stores its templates as `np.float32` arrays.
const fn tpl(p: [[f32; 2]; 5]) -> [[f64; 2]; 5] {
    [
        [f(p[0][0]), f(p[0][1])],
        [f(p[1][0]), f(p[1][1])],
        [f(p[2][0]), f(p[2][1])],
        [f(p[3][0]), f(p[3][1])],
        [f(p[4][0]), f(p[4][1])],
    ]
}

/// GHOST / insightface 0.2.1 multi-pose templates src1..src5 (left profile, left, frontal, right, right profile),
/// 112-pixel units, points: left eye, right eye, nose, left mouth, right mouth. Values are f32-rounded like insightface.
pub const GHOST_TEMPLATES_112: [[[f64; 2]; 5]; 5] = [
    tpl([[51.642, 50.115], [57.617, 49.990], [35.740, 69.007], [51.157, 89.050], [57.025, 89.702]]),
    tpl([[45.031, 50.118], [65.568, 50.872], [39.677, 68.111], [45.177, 86.190], [64.246, 86.758]]),
    tpl([[39.730, 51.138], [72.270, 51.138], [56.000, 68.493], [42.463, 87.010], [69.537, 87.010]]),
    tpl([[46.845, 50.872], [67.382, 50.118], [72.737, 68.111], [48.167, 86.758], [67.236, 86.190]]),
    tpl([[54.796, 49.990], [60.771, 50.115], [76.673, 69.007], [55.388, 89.702], [61.257, 89.050]]),
];

/// `arcface_112_v1` (identical to the frontal GHOST template src3), 112-pixel units.
pub const ARCFACE_112_V1: [[f64; 2]; 5] = GHOST_TEMPLATES_112[2];

/// Standard ArcFace recognition template (`arcface_112_v2`), 112-pixel units, f32-rounded like insightface.
pub const ARCFACE_112_V2: [[f64; 2]; 5] =
    tpl([[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366], [41.5493, 92.3655], [70.7299, 92.2041]]);

/// FFHQ 512 template (GFPGAN, CodeFormer, GPEN-512), 512-pixel units.
pub const FFHQ_512: [[f64; 2]; 5] =
    [[192.98, 239.95], [318.90, 240.19], [256.63, 314.02], [201.26, 371.41], [313.09, 371.15]];

/// Scales a template by `factor` and shifts x by `offset_x` (e.g. `(t, 2.0, 0.0)` = insightface `src_map[224]`,
/// `(ARCFACE_112_V2, 1.0, 8.0)` = arcface_128).
pub fn scaled_template(t: &[[f64; 2]; 5], factor: f64, offset_x: f64) -> [[f64; 2]; 5] {
    t.map(|[x, y]| [x * factor + offset_x, y * factor])
}

/// Least-squares similarity (rotation, uniform scale, translation; never a reflection) mapping `src` onto `dst`,
/// equal to skimage `SimilarityTransform.estimate` (Umeyama 1991). Uses the closed 2-D form, which equals
/// Umeyama's SVD solution with the reflection guard. Degenerate `src` (all points equal) gives a pure translation
/// between the centroids (skimage returns NaNs there). Panics if the slices differ in length or are empty.
pub fn umeyama(src: &[[f64; 2]], dst: &[[f64; 2]]) -> Affine2 {
    assert_eq!(src.len(), dst.len(), "umeyama: point count mismatch");
    assert!(!src.is_empty(), "umeyama: no points");
    let n = src.len() as f64;
    let mean = |p: &[[f64; 2]]| {
        let (sx, sy) = p.iter().fold((0.0, 0.0), |(a, b), q| (a + q[0], b + q[1]));
        (sx / n, sy / n)
    };
    let (smx, smy) = mean(src);
    let (dmx, dmy) = mean(dst);
    let (mut a, mut b, mut var) = (0.0, 0.0, 0.0);
    for (s, d) in src.iter().zip(dst) {
        let (sx, sy) = (s[0] - smx, s[1] - smy);
        let (dx, dy) = (d[0] - dmx, d[1] - dmy);
        a += sx * dx + sy * dy;
        b += sx * dy - sy * dx;
        var += sx * sx + sy * sy;
    }
    let norm = a.hypot(b);
    if var <= 0.0 || norm <= 0.0 {
        return Affine2::translate(dmx - smx, dmy - smy);
    }
    // scale*R = (1/var) * [[a, -b], [b, a]]
    let c = a / var;
    let s = b / var;
    Affine2([c, -s, dmx - (c * smx - s * smy), s, c, dmy - (s * smx + c * smy)])
}

/// insightface 0.2.1 `estimate_norm`: fits every template and keeps the one with the lowest summed point
/// distance (first wins on ties). Returns (transform frame→template coordinates, template index, error).
/// Pass templates already scaled to the crop size (e.g. `scaled_template(t, 2.0, 0.0)` for a 224 crop).
pub fn best_template_fit(points: &[[f64; 2]; 5], templates: &[[[f64; 2]; 5]]) -> (Affine2, usize, f64) {
    let mut best = (Affine2::identity(), 0usize, f64::INFINITY);
    for (i, t) in templates.iter().enumerate() {
        let m = umeyama(points, t);
        let err: f64 = points
            .iter()
            .zip(t)
            .map(|(p, q)| {
                let (x, y) = m.apply(p[0], p[1]);
                (x - q[0]).hypot(y - q[1])
            })
            .sum();
        if err < best.2 {
            best = (m, i, err);
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::super::testdata::rows;
    use super::*;

    #[test]
    fn umeyama_matches_skimage() {
        let data = rows(include_str!("../../tests/data/vision/umeyama.txt"));
        assert_eq!(data.len(), 12);
        for r in data {
            let n = r[0] as usize;
            let pts = |o: usize| (0..n).map(|i| [r[o + 2 * i], r[o + 2 * i + 1]]).collect::<Vec<_>>();
            let (s, d) = (pts(1), pts(1 + 2 * n));
            let m = umeyama(&s, &d);
            let want = &r[1 + 4 * n..1 + 4 * n + 6];
            for (k, (got, want)) in m.0.iter().zip(want).enumerate() {
                assert!((got - want).abs() < 1e-9 * (1.0 + want.abs()), "n={n} k={k}: {got} vs {want}");
            }
        }
    }

    #[test]
    fn umeyama_exact_similarity_and_degenerate() {
        let truth = Affine2([0.6, -0.8, 10.0, 0.8, 0.6, -5.0]);
        let s = [[0.0, 0.0], [10.0, 0.0], [3.0, 7.0]];
        let d: Vec<_> = s.iter().map(|p| truth.apply(p[0], p[1])).map(|(x, y)| [x, y]).collect();
        let m = umeyama(&s, &d);
        assert!(m.0.iter().zip(&truth.0).all(|(a, b)| (a - b).abs() < 1e-12));
        assert_eq!(umeyama(&[[1.0, 1.0], [1.0, 1.0]], &[[3.0, 4.0], [5.0, 4.0]]), Affine2::translate(3.0, 3.0));
    }

    #[test]
    fn estimate_norm_matches_insightface() {
        let tpls: Vec<_> = GHOST_TEMPLATES_112.iter().map(|t| scaled_template(t, 2.0, 0.0)).collect();
        let data = rows(include_str!("../../tests/data/vision/estimate_norm.txt"));
        assert_eq!(data.len(), 6);
        for r in data {
            let mut p = [[0.0; 2]; 5];
            for i in 0..5 {
                p[i] = [r[2 * i], r[2 * i + 1]];
            }
            let (m, idx, err) = best_template_fit(&p, &tpls);
            assert_eq!(idx, r[16] as usize);
            assert!((err - r[17]).abs() < 1e-6, "{err} vs {}", r[17]);
            for k in 0..6 {
                assert!((m.0[k] - r[10 + k]).abs() < 1e-9 * (1.0 + r[10 + k].abs()));
            }
        }
    }

    #[test]
    fn templates() {
        assert_eq!(ARCFACE_112_V1, GHOST_TEMPLATES_112[2]);
        assert!((ARCFACE_112_V2[0][0] - 38.2946).abs() < 1e-5);
        let t = scaled_template(&ARCFACE_112_V2, 1.0, 8.0);
        assert!((t[1][0] - 81.5318).abs() < 1e-5 && (t[1][1] - 51.5014).abs() < 1e-5);
        let s = scaled_template(&GHOST_TEMPLATES_112[0], 2.0, 0.0);
        assert!((s[2][1] - 138.014).abs() < 1e-4);
    }
}
