// SPDX-License-Identifier: MIT OR Apache-2.0
//! 2-D affine transforms in OpenCV's 2x3 row-major convention.

/// Affine map `x' = m0 x + m1 y + m2`, `y' = m3 x + m4 y + m5` (the same layout as OpenCV's 2x3 `M`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Affine2(pub [f64; 6]);

impl Default for Affine2 {
    fn default() -> Self {
        Self::identity()
    }
}

impl Affine2 {
    /// Identity transform.
    pub const fn identity() -> Self {
        Affine2([1.0, 0.0, 0.0, 0.0, 1.0, 0.0])
    }

    /// Builds from the two rows `[[m0, m1, m2], [m3, m4, m5]]`.
    pub const fn from_rows(r: [[f64; 3]; 2]) -> Self {
        Affine2([r[0][0], r[0][1], r[0][2], r[1][0], r[1][1], r[1][2]])
    }

    /// The two rows of the 2x3 matrix.
    pub const fn rows(&self) -> [[f64; 3]; 2] {
        let m = self.0;
        [[m[0], m[1], m[2]], [m[3], m[4], m[5]]]
    }

    /// Single-precision copy (e.g. for GPU uniforms).
    pub fn to_f32(&self) -> [f32; 6] {
        self.0.map(|v| v as f32)
    }

    /// Pure scaling about the origin.
    pub const fn scale(sx: f64, sy: f64) -> Self {
        Affine2([sx, 0.0, 0.0, 0.0, sy, 0.0])
    }

    /// Pure translation.
    pub const fn translate(tx: f64, ty: f64) -> Self {
        Affine2([1.0, 0.0, tx, 0.0, 1.0, ty])
    }

    /// Maps a point.
    #[inline]
    pub fn apply(&self, x: f64, y: f64) -> (f64, f64) {
        let m = &self.0;
        (m[0] * x + m[1] * y + m[2], m[3] * x + m[4] * y + m[5])
    }

    /// Determinant of the linear part.
    pub fn det(&self) -> f64 {
        self.0[0] * self.0[4] - self.0[1] * self.0[3]
    }

    /// Inverse map (as `cv2.invertAffineTransform`); `None` when the linear part is (nearly) singular or not finite.
    pub fn invert(&self) -> Option<Affine2> {
        let m = &self.0;
        let d = self.det();
        // Relative test: scale-invariant, catches rank-deficient matrices without rejecting tiny-but-valid scales.
        let norm = m[0].abs().max(m[1].abs()).max(m[3].abs()).max(m[4].abs());
        if !d.is_finite() || norm == 0.0 || d.abs() <= 1e-12 * norm * norm {
            return None;
        }
        let id = 1.0 / d;
        let a11 = m[4] * id;
        let a12 = -m[1] * id;
        let a21 = -m[3] * id;
        let a22 = m[0] * id;
        let b1 = -a11 * m[2] - a12 * m[5];
        let b2 = -a21 * m[2] - a22 * m[5];
        let r = Affine2([a11, a12, b1, a21, a22, b2]);
        r.0.iter().all(|v| v.is_finite()).then_some(r)
    }

    /// Composition: applies `self` first, then `next` (matrix product `next · self`).
    pub fn then(&self, next: &Affine2) -> Affine2 {
        let a = &next.0;
        let b = &self.0;
        Affine2([
            a[0] * b[0] + a[1] * b[3],
            a[0] * b[1] + a[1] * b[4],
            a[0] * b[2] + a[1] * b[5] + a[2],
            a[3] * b[0] + a[4] * b[3],
            a[3] * b[1] + a[4] * b[4],
            a[3] * b[2] + a[4] * b[5] + a[5],
        ])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: &Affine2, b: &Affine2) -> bool {
        a.0.iter().zip(&b.0).all(|(x, y)| (x - y).abs() < 1e-12)
    }

    #[test]
    fn invert_matches_hand_values() {
        // docs/reference.md#landmarks-on-the-crop: M = [[128/224,0,32],[0,128/224,32]] has inverse
        // [[1.75,0,-56],[0,1.75,-56]].
        let m = Affine2([128.0 / 224.0, 0.0, 32.0, 0.0, 128.0 / 224.0, 32.0]);
        assert!(close(&m.invert().unwrap(), &Affine2([1.75, 0.0, -56.0, 0.0, 1.75, -56.0])));
        let r = Affine2([0.8, -0.3, 5.5, 0.25, 0.9, -3.2]);
        assert!(close(&r.then(&r.invert().unwrap()), &Affine2::identity()));
    }

    #[test]
    fn singular_is_none() {
        assert!(Affine2([1.0, 2.0, 0.0, 2.0, 4.0, 1.0]).invert().is_none());
        assert!(Affine2([0.0; 6]).invert().is_none());
        assert!(Affine2([f64::NAN, 0.0, 0.0, 0.0, 1.0, 0.0]).invert().is_none());
        assert!(Affine2::scale(1e-4, 1e-4).invert().is_some());
    }

    #[test]
    fn then_order() {
        let t = Affine2::scale(2.0, 3.0).then(&Affine2::translate(1.0, -1.0));
        assert_eq!(t.apply(1.0, 1.0), (3.0, 2.0));
        let u = Affine2::translate(1.0, -1.0).then(&Affine2::scale(2.0, 3.0));
        assert_eq!(u.apply(1.0, 1.0), (4.0, 0.0));
        assert_eq!(Affine2::from_rows(t.rows()), t);
    }
}
