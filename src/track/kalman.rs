// SPDX-License-Identifier: MIT OR Apache-2.0
//! Kalman filtering of one coordinate at a time: a polynomial motion model of order `N - 1`
//! (`N = 2`: position and velocity, constant velocity; `N = 3`: with acceleration, constant
//! acceleration), measured in its position only.
//!
//! The tracker filters every coordinate of a face on its own (see [`super::tracker`]): each
//! coordinate moves by its own derivatives, the process noise of one coordinate is independent
//! of the others' and each is measured directly with independent noise, so the joint covariance
//! stays block-diagonal and the joint filter is exactly the product of these small ones.
//! Time is counted in frames: velocities are pixels per frame.

/// Position and its derivatives with their covariance.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Kf<const N: usize> {
    /// Position, velocity (, acceleration).
    pub x: [f64; N],
    pub p: [[f64; N]; N],
}

/// The constant-velocity filter.
pub type Cv1 = Kf<2>;

/// `F`: one frame of the polynomial motion model, `x_i += Σ_{j>i} x_j / (j - i)!`.
fn transition<const N: usize>() -> [[f64; N]; N] {
    let mut f = [[0.0; N]; N];
    for (i, row) in f.iter_mut().enumerate() {
        let mut fact = 1.0;
        for (j, v) in row.iter_mut().enumerate().skip(i) {
            if j > i {
                fact *= (j - i) as f64;
            }
            *v = 1.0 / fact;
        }
    }
    f
}

fn mul<const N: usize>(a: &[[f64; N]; N], b: &[[f64; N]; N]) -> [[f64; N]; N] {
    std::array::from_fn(|i| std::array::from_fn(|j| (0..N).map(|k| a[i][k] * b[k][j]).sum()))
}

fn transpose<const N: usize>(a: &[[f64; N]; N]) -> [[f64; N]; N] {
    std::array::from_fn(|i| std::array::from_fn(|j| a[j][i]))
}

/// Inverse by Gauss–Jordan elimination with partial pivoting; `None` when (nearly) singular.
fn inverse<const N: usize>(a: &[[f64; N]; N]) -> Option<[[f64; N]; N]> {
    let mut m = *a;
    let mut inv: [[f64; N]; N] = std::array::from_fn(|i| std::array::from_fn(|j| if i == j { 1.0 } else { 0.0 }));
    let scale = a.iter().flatten().fold(0.0f64, |s, v| s.max(v.abs()));
    for c in 0..N {
        let pivot = (c..N).max_by(|&i, &j| m[i][c].abs().total_cmp(&m[j][c].abs()))?;
        if m[pivot][c].is_nan() || m[pivot][c].abs() <= 1e-14 * scale {
            return None;
        }
        m.swap(c, pivot);
        inv.swap(c, pivot);
        let d = m[c][c];
        for j in 0..N {
            m[c][j] /= d;
            inv[c][j] /= d;
        }
        for r in 0..N {
            if r != c {
                let f = m[r][c];
                for j in 0..N {
                    m[r][j] -= f * m[c][j];
                    inv[r][j] -= f * inv[c][j];
                }
            }
        }
    }
    Some(inv)
}

/// Process noise of a random change of the highest derivative per frame with standard deviation
/// `q` (discrete white-noise model): `Q = q² g gᵀ` with `g = [1/N!, …, 1/2, 1]`, i.e. how a
/// unit kick of the highest derivative spread over one frame moves each state.
pub fn white_noise<const N: usize>(q: f64) -> [[f64; N]; N] {
    let g: [f64; N] = std::array::from_fn(|i| (1..=N - i).map(|k| k as f64).product::<f64>().recip());
    std::array::from_fn(|i| std::array::from_fn(|j| q * q * g[i] * g[j]))
}

impl<const N: usize> Kf<N> {
    /// Starts at `x` with zero derivatives and independent standard deviations `std` (position
    /// first).
    pub fn new(x: f64, std: [f64; N]) -> Self {
        let mut s = Self { x: [0.0; N], p: [[0.0; N]; N] };
        s.x[0] = x;
        for (i, v) in std.iter().enumerate() {
            s.p[i][i] = v * v;
        }
        s
    }

    pub fn pos(&self) -> f64 {
        self.x[0]
    }

    /// One frame ahead: `x = F x`, `P = F P Fᵀ + Q`.
    pub fn predict(&mut self, q: &[[f64; N]; N]) {
        let f = transition::<N>();
        self.x = std::array::from_fn(|i| (0..N).map(|j| f[i][j] * self.x[j]).sum());
        let fp = mul(&f, &self.p);
        let mut p = mul(&fp, &transpose(&f));
        for i in 0..N {
            for j in 0..N {
                p[i][j] += q[i][j];
            }
        }
        self.p = p;
    }

    /// Measurement `z` of the position with standard deviation `r_std` (`H = [1, 0, …]`); a
    /// non-finite one is ignored.
    pub fn update(&mut self, z: f64, r_std: f64) {
        let s = self.p[0][0] + r_std * r_std;
        if s.is_nan() || s <= 0.0 || !z.is_finite() {
            return;
        }
        let k: [f64; N] = std::array::from_fn(|i| self.p[i][0] / s);
        let innovation = z - self.x[0];
        for (x, k) in self.x.iter_mut().zip(k) {
            *x += k * innovation;
        }
        // P = (I - K H) P: row i loses k_i × row 0.
        let row0 = self.p[0];
        for (row, k) in self.p.iter_mut().zip(k) {
            for (v, r0) in row.iter_mut().zip(row0) {
                *v -= k * r0;
            }
        }
    }
}

/// One Rauch–Tung–Striebel backward step: the smoothed state at step k from the filtered state
/// at k, the prediction for k+1 made from it (`prior_next`, before the k+1 update) and the
/// smoothed state at k+1. Only the mean is smoothed (the emitted estimate).
pub fn rts_step<const N: usize>(filtered: &Kf<N>, prior_next: &Kf<N>, smoothed_next: [f64; N]) -> [f64; N] {
    // C = P_f Fᵀ P_prior⁻¹
    let Some(inv) = inverse(&prior_next.p) else { return filtered.x };
    let c = mul(&mul(&filtered.p, &transpose(&transition::<N>())), &inv);
    let d: [f64; N] = std::array::from_fn(|i| smoothed_next[i] - prior_next.x[i]);
    std::array::from_fn(|i| filtered.x[i] + (0..N).map(|j| c[i][j] * d[j]).sum::<f64>())
}

/// One coordinate's filter, of either order.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Coord {
    /// Constant velocity: position, velocity.
    Cv(Kf<2>),
    /// Constant acceleration: position, velocity, acceleration.
    Ca(Kf<3>),
}

impl Coord {
    /// A filter of `order` 2 (constant velocity) or 3 (constant acceleration) at `x`, at rest,
    /// with independent standard deviations `std` (position, velocity, acceleration).
    pub fn new(order: usize, x: f64, std: [f64; 3]) -> Self {
        if order >= 3 {
            Coord::Ca(Kf::new(x, std))
        } else {
            Coord::Cv(Kf::new(x, [std[0], std[1]]))
        }
    }

    pub fn pos(&self) -> f64 {
        match self {
            Coord::Cv(f) => f.x[0],
            Coord::Ca(f) => f.x[0],
        }
    }

    /// Position, velocity, acceleration (0 for constant velocity).
    pub fn mean(&self) -> [f64; 3] {
        match self {
            Coord::Cv(f) => [f.x[0], f.x[1], 0.0],
            Coord::Ca(f) => f.x,
        }
    }

    /// One frame ahead, the highest derivative changing by `q` (standard deviation) per frame.
    pub fn predict(&mut self, q: f64) {
        match self {
            Coord::Cv(f) => f.predict(&white_noise(q)),
            Coord::Ca(f) => f.predict(&white_noise(q)),
        }
    }

    pub fn update(&mut self, z: f64, r_std: f64) {
        match self {
            Coord::Cv(f) => f.update(z, r_std),
            Coord::Ca(f) => f.update(z, r_std),
        }
    }

    /// [`rts_step`] for either order; `prior_next` must be of the same order.
    pub fn rts(&self, prior_next: &Coord, smoothed_next: [f64; 3]) -> [f64; 3] {
        match (self, prior_next) {
            (Coord::Cv(f), Coord::Cv(p)) => {
                let [x, v] = rts_step(f, p, [smoothed_next[0], smoothed_next[1]]);
                [x, v, 0.0]
            }
            (Coord::Ca(f), Coord::Ca(p)) => rts_step(f, p, smoothed_next),
            _ => self.mean(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9
    }

    fn diag_q(q_pos: f64, q_vel: f64) -> [[f64; 2]; 2] {
        [[q_pos * q_pos, 0.0], [0.0, q_vel * q_vel]]
    }

    #[test]
    fn transition_and_white_noise_of_hand_computed_shape() {
        assert_eq!(transition::<2>(), [[1.0, 1.0], [0.0, 1.0]]);
        assert_eq!(transition::<3>(), [[1.0, 1.0, 0.5], [0.0, 1.0, 1.0], [0.0, 0.0, 1.0]]);
        // g = [1/2, 1] (velocity kick over one frame moves the position by half of it).
        assert_eq!(white_noise::<2>(2.0), [[1.0, 2.0], [2.0, 4.0]]);
        // g = [1/6, 1/2, 1].
        let q = white_noise::<3>(6.0);
        assert!(close(q[0][0], 1.0) && close(q[0][1], 3.0) && close(q[0][2], 6.0));
        assert!(close(q[1][1], 9.0) && close(q[1][2], 18.0) && close(q[2][2], 36.0));
    }

    #[test]
    fn inverse_of_a_known_matrix() {
        let a = [[2.0, 1.0, 0.0], [1.0, 3.0, 1.0], [0.0, 1.0, 4.0]];
        // det = 2(12 - 1) - 1(4 - 0) = 18; adjugate / det.
        let inv = inverse(&a).unwrap();
        let expect = [[11.0, -4.0, 1.0], [-4.0, 8.0, -2.0], [1.0, -2.0, 5.0]].map(|r| r.map(|v| v / 18.0));
        for i in 0..3 {
            for j in 0..3 {
                assert!(close(inv[i][j], expect[i][j]), "{inv:?}");
            }
        }
        assert!(inverse(&[[1.0, 2.0], [2.0, 4.0]]).is_none());
    }

    #[test]
    fn one_step_matches_hand_computation() {
        // x = 10, v = 1, P = [[4, 1], [1, 2]]; q_pos = 1, q_vel = 0.5.
        let mut f = Cv1 { x: [10.0, 1.0], p: [[4.0, 1.0], [1.0, 2.0]] };
        f.predict(&diag_q(1.0, 0.5));
        // x = 11; P = [[4 + 2 + 2 + 1, 1 + 2], [3, 2 + 0.25]] = [[9, 3], [3, 2.25]].
        assert!(close(f.x[0], 11.0) && close(f.x[1], 1.0));
        assert_eq!(f.p, [[9.0, 3.0], [3.0, 2.25]]);
        // z = 14, r = 3 → S = 18, K = [0.5, 1/6], innovation 3.
        f.update(14.0, 3.0);
        assert!(close(f.x[0], 12.5));
        assert!(close(f.x[1], 1.5));
        // P = [[9 - 4.5, 3 - 1.5], [., 2.25 - 0.5]] = [[4.5, 1.5], [1.5, 1.75]].
        assert!(close(f.p[0][0], 4.5) && close(f.p[0][1], 1.5) && close(f.p[1][0], 1.5) && close(f.p[1][1], 1.75));
    }

    #[test]
    fn constant_acceleration_step_matches_hand_computation() {
        // x = [0, 1, 2], P = I, no process noise: x' = [0 + 1 + 1, 1 + 2, 2] = [2, 3, 2];
        // P' = F Fᵀ = [[1 + 1 + 1/4, 1 + 1/2, 1/2], [., 2, 1], [., ., 1]].
        let mut f = Kf::<3> { x: [0.0, 1.0, 2.0], p: [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]] };
        f.predict(&[[0.0; 3]; 3]);
        assert_eq!(f.x, [2.0, 3.0, 2.0]);
        assert_eq!(f.p, [[2.25, 1.5, 0.5], [1.5, 2.0, 1.0], [0.5, 1.0, 1.0]]);
        // z = 3.2, r² = 0.75 → S = 3, K = [0.75, 0.5, 1/6], innovation 1.2.
        f.update(3.2, 0.75f64.sqrt());
        assert!(close(f.x[0], 2.9) && close(f.x[1], 3.6) && close(f.x[2], 2.2), "{:?}", f.x);
        // P[2][2] = 1 - (1/6) * 0.5 = 11/12.
        assert!(close(f.p[2][2], 11.0 / 12.0));
    }

    #[test]
    fn converges_to_a_constant_velocity_path() {
        let mut f = Cv1::new(0.0, [1.0, 10.0]);
        for k in 1..200 {
            f.predict(&diag_q(0.01, 0.001));
            f.update(3.0 * k as f64, 1.0);
        }
        assert!((f.x[0] - 597.0).abs() < 1e-3 && (f.x[1] - 3.0).abs() < 1e-3);
    }

    #[test]
    fn constant_acceleration_filter_has_no_lag_on_a_parabola() {
        let mut f = Kf::<3>::new(0.0, [1.0, 10.0, 1.0]);
        for k in 1..300 {
            f.predict(&white_noise(0.001));
            let t = k as f64;
            f.update(0.05 * t * t, 1.0);
        }
        let t = 299.0;
        assert!((f.x[0] - 0.05 * t * t).abs() < 1e-3 && (f.x[1] - 0.1 * t).abs() < 1e-4, "{:?}", f.x);
    }

    #[test]
    fn rts_on_a_noiseless_constant_velocity_path_returns_the_path() {
        // Measurements exactly on x = 5 + 2k; after convergence the filter is exact and the RTS
        // backward pass must return the path itself.
        let mut filtered = Vec::new();
        let mut priors = Vec::new();
        let mut f = Cv1::new(5.0, [0.5, 5.0]);
        f.x[1] = 2.0;
        filtered.push(f);
        priors.push(f);
        for k in 1..30 {
            f.predict(&diag_q(0.1, 0.05));
            priors.push(f);
            f.update(5.0 + 2.0 * k as f64, 0.5);
            filtered.push(f);
        }
        let mut s = filtered[29].x;
        for k in (20..29).rev() {
            s = rts_step(&filtered[k], &priors[k + 1], s);
            assert!(close(s[0], 5.0 + 2.0 * k as f64), "k {k}: {}", s[0]);
            assert!(close(s[1], 2.0));
        }
    }

    #[test]
    fn rts_one_step_matches_hand_computation() {
        // Filtered x = 0, v = 0, P = I; the prior for k+1 is F I Fᵀ (no process noise).
        let filtered = Cv1 { x: [0.0, 0.0], p: [[1.0, 0.0], [0.0, 1.0]] };
        let mut prior = filtered;
        prior.predict(&[[0.0; 2]; 2]);
        assert_eq!(prior.p, [[2.0, 1.0], [1.0, 1.0]]);
        // With P_prior = [[2, 1], [1, 1]]: inverse [[1, -1], [-1, 2]]; P Fᵀ = [[1, 0], [1, 1]]
        // → C = [[1, -1], [0, 1]]. Smoothed next (2, 1): (0 + 2 - 1, 0 + 1) = (1, 1).
        let s = rts_step(&filtered, &prior, [2.0, 1.0]);
        assert!(close(s[0], 1.0) && close(s[1], 1.0), "{s:?}");
    }
}
