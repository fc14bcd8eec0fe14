// SPDX-License-Identifier: MIT OR Apache-2.0
//! Constant-velocity Kalman filtering, one coordinate at a time.
//!
//! The tracker's state is, per face, the box (centre x, centre y, width, height) and the five
//! keypoints (x, y each), every coordinate with its velocity. The motion model moves each
//! coordinate by its own velocity, the process noise is diagonal (ByteTrack-style, standard
//! deviations proportional to the box height) and each coordinate is measured directly with
//! independent noise. Under these conditions the joint covariance stays block-diagonal, so the
//! full 28-state filter is exactly the product of 14 independent two-state filters
//! `[position, velocity]`; that is what [`Cv1`] is, with its 2x2 algebra written out by hand.
//! Time is counted in frames: velocities are pixels per frame.

/// A symmetric 2x2 covariance `[[pp, pv], [pv, vv]]`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Cov2 {
    pub pp: f64,
    pub pv: f64,
    pub vv: f64,
}

/// One coordinate: position and velocity with their covariance.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Cv1 {
    pub x: f64,
    pub v: f64,
    pub p: Cov2,
}

impl Cv1 {
    /// Starts at `x` with zero velocity, position standard deviation `pos_std` and velocity
    /// standard deviation `vel_std`.
    pub fn new(x: f64, pos_std: f64, vel_std: f64) -> Self {
        Self { x, v: 0.0, p: Cov2 { pp: pos_std * pos_std, pv: 0.0, vv: vel_std * vel_std } }
    }

    /// One frame ahead: `x += v`, `P = F P Fᵀ + diag(q_pos², q_vel²)` with `F = [[1, 1], [0, 1]]`.
    pub fn predict(&mut self, q_pos: f64, q_vel: f64) {
        let Cov2 { pp, pv, vv } = self.p;
        self.x += self.v;
        self.p = Cov2 { pp: pp + 2.0 * pv + vv + q_pos * q_pos, pv: pv + vv, vv: vv + q_vel * q_vel };
    }

    /// Measurement `z` of the position with standard deviation `r_std` (`H = [1, 0]`).
    pub fn update(&mut self, z: f64, r_std: f64) {
        let Cov2 { pp, pv, vv } = self.p;
        let s = pp + r_std * r_std;
        if s.is_nan() || s <= 0.0 || !z.is_finite() {
            return;
        }
        let (kx, kv) = (pp / s, pv / s);
        let innovation = z - self.x;
        self.x += kx * innovation;
        self.v += kv * innovation;
        // P = (I - K H) P
        self.p = Cov2 { pp: pp - kx * pp, pv: pv - kx * pv, vv: vv - kv * pv };
    }
}

/// One Rauch–Tung–Striebel backward step: the smoothed state at step k from the filtered state
/// at k, the prediction for k+1 made from it (`prior_next`, before the k+1 update) and the
/// smoothed state at k+1. Only the mean is smoothed (the emitted estimate).
pub fn rts_step(filtered: &Cv1, prior_next: &Cv1, smoothed_next: (f64, f64)) -> (f64, f64) {
    // C = P_f Fᵀ P_prior⁻¹; P_f Fᵀ = [[pp + pv, pv], [pv + vv, vv]].
    let Cov2 { pp, pv, vv } = filtered.p;
    let a = [[pp + pv, pv], [pv + vv, vv]];
    let Cov2 { pp: qpp, pv: qpv, vv: qvv } = prior_next.p;
    let det = qpp * qvv - qpv * qpv;
    if det.is_nan() || det.abs() <= 1e-300 {
        return (filtered.x, filtered.v);
    }
    let inv = [[qvv / det, -qpv / det], [-qpv / det, qpp / det]];
    let c = [
        [a[0][0] * inv[0][0] + a[0][1] * inv[1][0], a[0][0] * inv[0][1] + a[0][1] * inv[1][1]],
        [a[1][0] * inv[0][0] + a[1][1] * inv[1][0], a[1][0] * inv[0][1] + a[1][1] * inv[1][1]],
    ];
    let (dx, dv) = (smoothed_next.0 - prior_next.x, smoothed_next.1 - prior_next.v);
    (filtered.x + c[0][0] * dx + c[0][1] * dv, filtered.v + c[1][0] * dx + c[1][1] * dv)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9
    }

    #[test]
    fn one_step_matches_hand_computation() {
        // x = 10, v = 1, P = [[4, 1], [1, 2]]; q_pos = 1, q_vel = 0.5.
        let mut f = Cv1 { x: 10.0, v: 1.0, p: Cov2 { pp: 4.0, pv: 1.0, vv: 2.0 } };
        f.predict(1.0, 0.5);
        // x = 11; P = [[4 + 2 + 2 + 1, 1 + 2], [3, 2 + 0.25]] = [[9, 3], [3, 2.25]].
        assert!(close(f.x, 11.0) && close(f.v, 1.0));
        assert_eq!(f.p, Cov2 { pp: 9.0, pv: 3.0, vv: 2.25 });
        // z = 14, r = 3 → S = 18, K = [0.5, 1/6], innovation 3.
        f.update(14.0, 3.0);
        assert!(close(f.x, 12.5));
        assert!(close(f.v, 1.5));
        // P = [[9 - 4.5, 3 - 1.5], [., 2.25 - 0.5]] = [[4.5, 1.5], [1.5, 1.75]].
        assert!(close(f.p.pp, 4.5) && close(f.p.pv, 1.5) && close(f.p.vv, 1.75));
    }

    #[test]
    fn converges_to_a_constant_velocity_path() {
        let mut f = Cv1::new(0.0, 1.0, 10.0);
        for k in 1..200 {
            f.predict(0.01, 0.001);
            f.update(3.0 * k as f64, 1.0);
        }
        assert!((f.x - 597.0).abs() < 1e-3 && (f.v - 3.0).abs() < 1e-3);
    }

    #[test]
    fn rts_on_a_noiseless_constant_velocity_path_returns_the_path() {
        // Measurements exactly on x = 5 + 2k; after convergence the filter is exact and the RTS
        // backward pass must return the path itself.
        let mut filtered = Vec::new();
        let mut priors = Vec::new();
        let mut f = Cv1::new(5.0, 0.5, 5.0);
        f.v = 2.0;
        filtered.push(f);
        priors.push(f);
        for k in 1..30 {
            f.predict(0.1, 0.05);
            priors.push(f);
            f.update(5.0 + 2.0 * k as f64, 0.5);
            filtered.push(f);
        }
        let mut s = (filtered[29].x, filtered[29].v);
        for k in (20..29).rev() {
            s = rts_step(&filtered[k], &priors[k + 1], s);
            assert!(close(s.0, 5.0 + 2.0 * k as f64), "k {k}: {}", s.0);
            assert!(close(s.1, 2.0));
        }
    }

    #[test]
    fn rts_one_step_matches_hand_computation() {
        // Filtered x = 0, v = 0, P = I; the prior for k+1 is F I Fᵀ (no process noise).
        let filtered = Cv1 { x: 0.0, v: 0.0, p: Cov2 { pp: 1.0, pv: 0.0, vv: 1.0 } };
        let mut prior = filtered;
        prior.predict(0.0, 0.0);
        assert_eq!(prior.p, Cov2 { pp: 2.0, pv: 1.0, vv: 1.0 });
        // With P_prior = [[2, 1], [1, 1]]: inverse [[1, -1], [-1, 2]]; P Fᵀ = [[1, 0], [1, 1]]
        // → C = [[1, -1], [0, 1]]. Smoothed next (2, 1): (0 + 2 - 1, 0 + 1) = (1, 1).
        let s = rts_step(&filtered, &prior, (2.0, 1.0));
        assert!(close(s.0, 1.0) && close(s.1, 1.0), "{s:?}");
    }
}
