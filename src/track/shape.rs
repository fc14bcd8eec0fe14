// SPDX-License-Identifier: MIT OR Apache-2.0
//! The five keypoints as a rigid shape: centroid + similarity (scale, rotation) × template.
//!
//! Offsets of the keypoints from their centroid change with the face's scale and roll (fast)
//! and with its yaw, pitch and expression (slower). The tracker filters the similarity's two
//! coefficients `α = s cos θ`, `β = s sin θ` (in pixels: the template has unit RMS length) and
//! lets the template follow the measured shape slowly: two well-measured numbers (each the
//! least-squares fit of ten coordinates) instead of ten noisy offsets, so the shape is smoothed
//! hard while zoom and roll are still followed closely.

pub type Points = [[f64; 2]; 5];

/// Mean of the five points.
pub fn centroid(p: &Points) -> [f64; 2] {
    let s = p.iter().fold([0.0, 0.0], |s, q| [s[0] + q[0], s[1] + q[1]]);
    [s[0] / 5.0, s[1] / 5.0]
}

/// The points relative to their centroid.
pub fn offsets(p: &Points) -> Points {
    let c = centroid(p);
    p.map(|q| [q[0] - c[0], q[1] - c[1]])
}

/// `(α, β)` minimising `Σ |o_k - [[α, -β], [β, α]] m_k|²` (least squares; `m` centred).
pub fn fit(m: &Points, o: &Points) -> (f64, f64) {
    let norm: f64 = m.iter().map(|p| p[0] * p[0] + p[1] * p[1]).sum();
    if norm.is_nan() || norm <= 0.0 {
        return (0.0, 0.0);
    }
    let a: f64 = m.iter().zip(o).map(|(m, o)| m[0] * o[0] + m[1] * o[1]).sum();
    let b: f64 = m.iter().zip(o).map(|(m, o)| m[0] * o[1] - m[1] * o[0]).sum();
    (a / norm, b / norm)
}

/// `[[α, -β], [β, α]] m_k` for every point.
pub fn apply(m: &Points, alpha: f64, beta: f64) -> Points {
    m.map(|p| [alpha * p[0] - beta * p[1], beta * p[0] + alpha * p[1]])
}

/// The track's shape template: centred, unit RMS length, its orientation tied to the first one.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Template {
    pub m: Points,
    first: Points,
}

fn normalised(o: &Points) -> Option<(Points, f64)> {
    let rms = (o.iter().map(|p| p[0] * p[0] + p[1] * p[1]).sum::<f64>() / 5.0).sqrt();
    (rms > 1e-9 && rms.is_finite()).then(|| (o.map(|p| [p[0] / rms, p[1] / rms]), rms))
}

impl Template {
    /// The template of a first measurement and its `α` (its RMS offset length; `β` = 0).
    pub fn new(keypoints: &Points) -> (Template, f64) {
        match normalised(&offsets(keypoints)) {
            Some((m, rms)) => (Template { m, first: m }, rms),
            // Degenerate (all points equal): a unit pentagon keeps the algebra defined.
            None => {
                let m = std::array::from_fn(|k| {
                    let a = k as f64 * std::f64::consts::TAU / 5.0;
                    [a.cos(), a.sin()]
                });
                (Template { m, first: m }, 0.0)
            }
        }
    }

    /// The measured `(α, β)` of a detection's keypoints against this template.
    pub fn measure(&self, keypoints: &Points) -> (f64, f64) {
        fit(&self.m, &offsets(keypoints))
    }

    /// Moves the template a fraction `rate` towards the measured shape as seen through the
    /// current similarity `(α, β)`, then restores its unit length and its orientation against
    /// the first template (so the template cannot take over the similarity's scale or roll).
    pub fn adapt(&mut self, keypoints: &Points, alpha: f64, beta: f64, rate: f64) {
        let det = alpha * alpha + beta * beta;
        let finite = keypoints.iter().flatten().all(|v| v.is_finite());
        if !finite || det.is_nan() || det <= 1e-12 || rate <= 0.0 {
            return;
        }
        // The inverse similarity: [[α, β], [-β, α]] / (α² + β²).
        let seen = apply(&offsets(keypoints), alpha / det, -beta / det);
        let mut m = self.m;
        for (m, s) in m.iter_mut().zip(seen) {
            m[0] += rate * (s[0] - m[0]);
            m[1] += rate * (s[1] - m[1]);
        }
        let (a, b) = fit(&self.first, &m);
        let turn = (a * a + b * b).sqrt();
        if turn > 1e-12 {
            // Undo the rotation that the fit to the first template found.
            m = apply(&m, a / turn, -b / turn);
        }
        if let Some((m, _)) = normalised(&m) {
            self.m = m;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FACE: Points = [[30.0, 40.0], [70.0, 40.0], [50.0, 60.0], [35.0, 80.0], [65.0, 80.0]];

    fn similar(p: &Points, s: f64, theta: f64, t: [f64; 2]) -> Points {
        let (a, b) = (s * theta.cos(), s * theta.sin());
        p.map(|q| [a * q[0] - b * q[1] + t[0], b * q[0] + a * q[1] + t[1]])
    }

    #[test]
    fn fit_recovers_a_similarity() {
        let m = offsets(&FACE);
        let o = offsets(&similar(&FACE, 1.5, 0.2, [3.0, -7.0]));
        let (a, b) = fit(&m, &o);
        assert!((a - 1.5 * 0.2f64.cos()).abs() < 1e-12 && (b - 1.5 * 0.2f64.sin()).abs() < 1e-12);
        let back = apply(&m, a, b);
        for (p, q) in back.iter().zip(&o) {
            assert!((p[0] - q[0]).abs() < 1e-9 && (p[1] - q[1]).abs() < 1e-9);
        }
    }

    #[test]
    fn template_has_unit_length_and_reproduces_the_first_shape() {
        let (t, alpha) = Template::new(&FACE);
        let rms = (t.m.iter().map(|p| p[0] * p[0] + p[1] * p[1]).sum::<f64>() / 5.0).sqrt();
        assert!((rms - 1.0).abs() < 1e-12);
        // Centroid (50, 60); offsets (-20, -20), (20, -20), (0, 0), (-15, 20), (15, 20):
        // squared lengths 800 + 800 + 0 + 625 + 625 = 2850 → RMS √570.
        assert!((alpha - 570f64.sqrt()).abs() < 1e-9);
        let c = centroid(&FACE);
        let rebuilt = apply(&t.m, alpha, 0.0).map(|p| [p[0] + c[0], p[1] + c[1]]);
        for (p, q) in rebuilt.iter().zip(&FACE) {
            assert!((p[0] - q[0]).abs() < 1e-9 && (p[1] - q[1]).abs() < 1e-9);
        }
        // A scaled, turned, moved copy measures as that similarity.
        let (a, b) = t.measure(&similar(&FACE, 0.5, -0.1, [100.0, 5.0]));
        assert!((a - alpha * 0.5 * 0.1f64.cos()).abs() < 1e-9 && (b + alpha * 0.5 * 0.1f64.sin()).abs() < 1e-9);
    }

    #[test]
    fn adapting_to_a_turned_copy_keeps_the_template() {
        // The measured shape is the same face turned by 0.3 rad and seen through that very
        // similarity: nothing to learn, the template stays.
        let (mut t, alpha) = Template::new(&FACE);
        let before = t.m;
        let turned = similar(&FACE, 1.0, 0.3, [0.0, 0.0]);
        t.adapt(&turned, alpha * 0.3f64.cos(), alpha * 0.3f64.sin(), 0.5);
        for (p, q) in t.m.iter().zip(&before) {
            assert!((p[0] - q[0]).abs() < 1e-9 && (p[1] - q[1]).abs() < 1e-9);
        }
    }

    #[test]
    fn adapting_follows_a_new_shape_without_turning_or_growing() {
        let (mut t, alpha) = Template::new(&FACE);
        // The mouth opens: mouth corners 10 px lower. Seen through the identity similarity
        // many times, the template converges to the new shape's own template, up to the roll
        // that the first template fixes.
        let mut open = FACE;
        open[3][1] += 10.0;
        open[4][1] += 10.0;
        for _ in 0..200 {
            t.adapt(&open, alpha, 0.0, 0.2);
        }
        let (target, _) = Template::new(&open);
        let (a, b) = fit(&target.m, &t.m);
        assert!((a * a + b * b - 1.0).abs() < 1e-6, "same length");
        let (_, turn) = fit(&t.first, &t.m);
        assert!(turn.abs() < 1e-9, "no roll against the first template");
        let residual: f64 =
            apply(&target.m, a, b).iter().zip(&t.m).map(|(p, q)| (p[0] - q[0]).hypot(p[1] - q[1])).sum();
        assert!(residual < 1e-6, "the new shape: {residual}");
    }

    #[test]
    fn a_measurement_with_nan_leaves_the_template_alone() {
        let (mut t, alpha) = Template::new(&FACE);
        let before = t.m;
        let mut bad = FACE;
        bad[2][0] = f64::NAN;
        t.adapt(&bad, alpha, 0.0, 0.5);
        assert_eq!(t.m, before);
    }
}
