// SPDX-License-Identifier: MIT OR Apache-2.0
//! The One Euro filter (Casiez, Roussel, Vogel: "1€ Filter: A Simple Speed-based Low-pass Filter
//! for Noisy Input in Interactive Systems", CHI 2012), one coordinate at a time.
//!
//! A first-order low-pass filter whose cutoff rises with the speed: `fc = min_cutoff + beta ·
//! |speed|`, the speed itself low-passed at `d_cutoff`. Slow motion is smoothed hard (little
//! jitter), fast motion is followed closely (little lag). Here the speed is measured in face
//! sizes per second (as MediaPipe's landmark smoother scales values by the object size), so one
//! `beta` suits faces of any size at any resolution.

/// The filter's three settings: cutoffs in Hz, `beta` in Hz per (face size per second).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct OneEuroParams {
    pub min_cutoff: f64,
    pub beta: f64,
    pub d_cutoff: f64,
}

impl OneEuroParams {
    /// Tuned on rendered clips with the built-in MTCNN (`examples/bench_track.rs`): the lowest
    /// jitter at which the error on moving faces stays about that of the raw detections.
    pub const DEFAULT: OneEuroParams = OneEuroParams { min_cutoff: 0.3, beta: 100.0, d_cutoff: 1.0 };
}

impl Default for OneEuroParams {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// Smoothing factor of a first-order low-pass filter with cutoff `cutoff` Hz sampled at `rate`
/// Hz: `1 / (1 + τ / Tₑ)`, `τ = 1 / (2π fc)`.
pub fn smoothing_factor(cutoff: f64, rate: f64) -> f64 {
    let tau = 1.0 / (2.0 * std::f64::consts::PI * cutoff.max(1e-9));
    1.0 / (1.0 + tau * rate)
}

/// One coordinate.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct OneEuro {
    /// The filtered position.
    pub x: f64,
    /// The filtered speed, pixels per frame.
    pub dx: f64,
    /// The last measurement, and the frames since it.
    z_prev: f64,
    gap: u32,
}

impl OneEuro {
    /// Starts at the first measurement, at rest.
    pub fn new(z: f64) -> Self {
        Self { x: z, dx: 0.0, z_prev: z, gap: 0 }
    }

    /// Filters the measurement `z` of the next frame. `rate` is the frame rate (Hz) and `size`
    /// the face size in pixels that speeds are measured in. As in the reference implementation
    /// the speed is that of the raw measurements; after frames without one ([`Self::predict`])
    /// the step spans them all.
    pub fn update(&mut self, z: f64, rate: f64, size: f64, p: &OneEuroParams) -> f64 {
        if !z.is_finite() {
            self.predict();
            return self.x;
        }
        let frames = (self.gap + 1) as f64;
        let step_rate = rate / frames;
        let raw_dx = (z - self.z_prev) / frames;
        self.dx += smoothing_factor(p.d_cutoff, step_rate) * (raw_dx - self.dx);
        let speed = self.dx.abs() * rate / size.max(1e-9);
        let cutoff = p.min_cutoff + p.beta * speed;
        self.x += smoothing_factor(cutoff, step_rate) * (z - self.x);
        self.z_prev = z;
        self.gap = 0;
        self.x
    }

    /// A frame without a measurement: the position moves on at the filtered speed.
    pub fn predict(&mut self) {
        self.x += self.dx;
        self.gap += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn smoothing_factor_of_known_cutoffs() {
        // fc = rate / (2π): τ = 1 / rate → α = 1/2.
        let rate = 30.0;
        assert!((smoothing_factor(rate / (2.0 * std::f64::consts::PI), rate) - 0.5).abs() < 1e-12);
        // fc = 1 Hz at 30 Hz: α = 1 / (1 + 30 / 2π) = 0.1731707…
        assert!((smoothing_factor(1.0, 30.0) - 0.17317072).abs() < 1e-8);
    }

    #[test]
    fn two_steps_match_hand_computation() {
        // rate 2π Hz makes τ·rate = 1/fc: α(fc) = fc / (1 + fc).
        let rate = 2.0 * std::f64::consts::PI;
        let p = OneEuroParams { min_cutoff: 1.0, beta: 2.0, d_cutoff: 1.0 };
        let mut f = OneEuro::new(0.0);
        // Step 1: z = 2, size 2π (so speed = |dx| · rate / size = |dx|).
        // dx = α(1) · 2 = 1; fc = 1 + 2 · 1 = 3, α = 3/4 → x = 1.5.
        let x = f.update(2.0, rate, rate, &p);
        assert!((f.dx - 1.0).abs() < 1e-12 && (x - 1.5).abs() < 1e-12, "{f:?}");
        // Step 2: z = 1.5: raw dx = 1.5 - 2 (from the last measurement) → dx = 1 + (-0.5 - 1) / 2
        // = 0.25; fc = 1.5, α = 0.6 → x = 1.5 + 0.6 · 0 = 1.5.
        let x = f.update(1.5, rate, rate, &p);
        assert!((f.dx - 0.25).abs() < 1e-12 && (x - 1.5).abs() < 1e-12, "{f:?}");
        // A miss moves on at the filtered speed.
        f.predict();
        assert!((f.x - 1.75).abs() < 1e-12);
        // The next measurement spans two frames: rate π, α(fc) = 2fc / (2fc + 1). z = 3.5:
        // raw dx = (3.5 - 1.5) / 2 = 1 → dx = 0.25 + (2/3)(0.75) = 0.75; fc = 2.5, α = 5/6 →
        // x = 1.75 + (5/6)(3.5 - 1.75) = 77/24.
        let x = f.update(3.5, rate, rate, &p);
        assert!((f.dx - 0.75).abs() < 1e-12 && (x - 77.0 / 24.0).abs() < 1e-12, "{f:?}");
    }

    #[test]
    fn speed_is_measured_in_face_sizes() {
        // The same motion at twice the size (twice the pixels) gives exactly twice the output.
        let p = OneEuroParams { min_cutoff: 0.5, beta: 3.0, d_cutoff: 1.0 };
        let (mut a, mut b) = (OneEuro::new(0.0), OneEuro::new(0.0));
        for k in 1..50 {
            let z = (k as f64 * 0.2).sin() * 30.0 + if k % 2 == 0 { 1.0 } else { -1.0 };
            let xa = a.update(z, 30.0, 100.0, &p);
            let xb = b.update(2.0 * z, 30.0, 200.0, &p);
            assert!((xb - 2.0 * xa).abs() < 1e-9);
        }
    }

    #[test]
    fn still_input_is_smoothed_and_fast_input_followed() {
        let p = OneEuroParams { min_cutoff: 1.0, beta: 1.0, d_cutoff: 1.0 };
        // Alternating ±1 noise around a still point: the output swings much less than the input.
        let mut f = OneEuro::new(0.0);
        let mut swing: f64 = 0.0;
        for k in 0..100 {
            let x = f.update(if k % 2 == 0 { 1.0 } else { -1.0 }, 30.0, 100.0, &p);
            if k > 50 {
                swing = swing.max(x.abs());
            }
        }
        assert!(swing < 0.2, "{swing}");
        // A ramp of one face size per second: after settling, the lag is small.
        let mut f = OneEuro::new(0.0);
        let mut x = 0.0;
        for k in 1..200 {
            x = f.update(k as f64 * 100.0 / 30.0, 30.0, 100.0, &p);
        }
        let lag = 199.0 * 100.0 / 30.0 - x;
        // fc = 1 + 1 = 2 Hz → the low-pass lags by τ = 1/(4π) s, i.e. (1 - α)/α frames.
        let alpha = smoothing_factor(2.0, 30.0);
        assert!((lag - (1.0 - alpha) / alpha * 100.0 / 30.0).abs() < 1e-6, "{lag}");
    }
}
