// SPDX-License-Identifier: MIT OR Apache-2.0
//! Synthetic face video with ground truth, and a noisy detector stand-in.
//!
//! The clip: the face of `tests/data/obama.jpg` (its MTCNN box and keypoints from
//! `tests/data/mtcnn_reference.json` are the source truth) moved along a known smooth path
//! (translation, scale, small rotation) over a grey background, 640x480 at 30 fps. Every frame
//! has an exact similarity transform from the photo to the frame, so the true keypoints are known.
#![allow(dead_code)]

use std::f64::consts::PI;

use gstghost::track::Detection;
use gstghost::vision::{warp_affine_rgb, Affine2, Border, RgbImage};

pub const WIDTH: usize = 640;
pub const HEIGHT: usize = 480;
pub const FPS: u32 = 30;

/// The photo's face, from mtcnn_reference.json (obama.jpg, face 0).
const SRC_BOX: [f64; 4] = [373.016, 82.990, 609.791, 422.850];
const SRC_KPS: [[f64; 2]; 5] =
    [[444.985, 214.894], [547.618, 212.874], [496.226, 277.273], [437.764, 319.935], [552.598, 317.040]];
/// The part of the photo that is rendered (keeps the photo's second, tiny face out).
const CROP: [usize; 4] = [250, 0, 730, 560];

/// Where a face is on one frame.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Truth {
    pub bbox: [f32; 4],
    pub keypoints: [[f32; 2]; 5],
}

impl Truth {
    pub fn height(&self) -> f32 {
        self.bbox[3] - self.bbox[1]
    }

    /// The same face on the clip rendered at `scale` × its size (`render_scaled`).
    pub fn scaled(&self, scale: f32) -> Truth {
        Truth { bbox: self.bbox.map(|v| v * scale), keypoints: self.keypoints.map(|p| p.map(|v| v * scale)) }
    }
}

/// The photo → frame transform at frame `i`: scale and rotation about the face centre, then the
/// face centre placed on the path.
pub fn path(i: usize) -> Affine2 {
    let t = i as f64;
    let cx = 320.0 + 110.0 * (2.0 * PI * t / 200.0).sin();
    let cy = 240.0 + 40.0 * (2.0 * PI * t / 150.0 + 0.5).sin();
    let s = 0.45 * (1.0 + 0.15 * (2.0 * PI * t / 250.0).sin());
    let th = 0.08 * (2.0 * PI * t / 180.0).sin();
    let (sx, sy) = ((SRC_BOX[0] + SRC_BOX[2]) / 2.0, (SRC_BOX[1] + SRC_BOX[3]) / 2.0);
    let (a, b) = (s * th.cos(), s * th.sin());
    // p' = s R (p - c_src) + c
    Affine2([a, -b, cx - (a * sx - b * sy), b, a, cy - (b * sx + a * sy)])
}

/// The true face at frame `i` of the single-face clip.
pub fn truth(i: usize) -> Truth {
    let m = path(i);
    let s = (m.0[0] * m.0[0] + m.0[3] * m.0[3]).sqrt();
    let (cx, cy) = m.apply((SRC_BOX[0] + SRC_BOX[2]) / 2.0, (SRC_BOX[1] + SRC_BOX[3]) / 2.0);
    let (w, h) = ((SRC_BOX[2] - SRC_BOX[0]) * s, (SRC_BOX[3] - SRC_BOX[1]) * s);
    let bbox = [cx - w / 2.0, cy - h / 2.0, cx + w / 2.0, cy + h / 2.0].map(|v| v as f32);
    let keypoints = SRC_KPS.map(|p| {
        let (x, y) = m.apply(p[0], p[1]);
        [x as f32, y as f32]
    });
    Truth { bbox, keypoints }
}

/// The cropped photo, loaded once.
pub fn photo() -> RgbImage {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/obama.jpg");
    let img = image::open(path).expect("tests/data/obama.jpg").to_rgb8();
    let (w, h) = (CROP[2] - CROP[0], CROP[3] - CROP[1]);
    let mut data = Vec::with_capacity(w * h * 3);
    for y in CROP[1]..CROP[3] {
        for x in CROP[0]..CROP[2] {
            data.extend_from_slice(&img.get_pixel(x as u32, y as u32).0);
        }
    }
    RgbImage::from_raw(w, h, data)
}

/// Frame `i` of the single-face clip, rendered from the cropped photo.
pub fn render(photo: &RgbImage, i: usize) -> RgbImage {
    let crop_to_photo = Affine2::translate(CROP[0] as f64, CROP[1] as f64);
    let m = crop_to_photo.then(&path(i));
    warp_affine_rgb(photo, &m, WIDTH, HEIGHT, Border::Constant([96, 110, 96]))
}

/// Frame `i` rendered at `scale` × the clip's size (the true face: `truth(i).scaled(scale)`).
pub fn render_scaled(photo: &RgbImage, i: usize, scale: f64) -> RgbImage {
    let m = Affine2::translate(CROP[0] as f64, CROP[1] as f64).then(&path(i)).then(&Affine2::scale(scale, scale));
    let (w, h) = ((WIDTH as f64 * scale).round() as usize, (HEIGHT as f64 * scale).round() as usize);
    warp_affine_rgb(photo, &m, w, h, Border::Constant([96, 110, 96]))
}

/// Two faces crossing paths: A left → right, B right → left, 20 px apart vertically, 100 px boxes.
pub fn crossing_truth(i: usize, frames: usize) -> [Truth; 2] {
    let f = i as f32 / (frames - 1) as f32;
    let face = |x: f32, y: f32| {
        let s = 100.0;
        Truth {
            bbox: [x - s / 2.0, y - s / 2.0, x + s / 2.0, y + s / 2.0],
            keypoints: [[-0.2, -0.1], [0.2, -0.1], [0.0, 0.1], [-0.15, 0.3], [0.15, 0.3]]
                .map(|[u, v]| [x + u * s, y + v * s]),
        }
    };
    [face(80.0 + 480.0 * f, 200.0), face(560.0 - 480.0 * f, 280.0)]
}

/// A small deterministic generator (SplitMix64) with normal deviates (Box–Muller).
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    pub fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    pub fn normal(&mut self) -> f64 {
        let u1 = self.uniform().max(1e-300);
        let u2 = self.uniform();
        (-2.0 * u1.ln()).sqrt() * (2.0 * PI * u2).cos()
    }
}

/// The detector stand-in: Gaussian noise of `noise` × the face height on every box and keypoint
/// coordinate, random misses at `miss_rate`, and no detection at all on the `dropout` frames.
pub struct NoisyDetector {
    pub rng: Rng,
    pub noise: f64,
    pub miss_rate: f64,
    pub dropout: std::ops::Range<usize>,
}

impl NoisyDetector {
    pub fn standard(seed: u64) -> Self {
        Self { rng: Rng::new(seed), noise: 0.03, miss_rate: 0.10, dropout: 150..158 }
    }

    pub fn detect(&mut self, frame: usize, faces: &[Truth]) -> Vec<Detection> {
        let mut out = Vec::new();
        for t in faces {
            // Draw the noise even for misses so that the noise does not depend on the misses.
            let sigma = self.noise * t.height() as f64;
            let mut jitter = |v: f32| (v as f64 + sigma * self.rng.normal()) as f32;
            let bbox = t.bbox.map(&mut jitter);
            let keypoints = t.keypoints.map(|p| p.map(&mut jitter));
            let missed = self.rng.uniform() < self.miss_rate;
            if !missed && !self.dropout.contains(&frame) {
                out.push(Detection { bbox, keypoints });
            }
        }
        out
    }
}

/// Root-mean-square distance between matching keypoints over the frames where both exist.
pub fn keypoint_rms(estimates: &[Option<[[f32; 2]; 5]>], truth: &[Truth], shift: isize) -> f64 {
    let (mut sum, mut n) = (0.0, 0usize);
    for (i, t) in truth.iter().enumerate() {
        let j = i as isize + shift;
        if j < 0 || j as usize >= estimates.len() {
            continue;
        }
        if let Some(e) = estimates[j as usize] {
            for (p, q) in e.iter().zip(&t.keypoints) {
                let (dx, dy) = ((p[0] - q[0]) as f64, (p[1] - q[1]) as f64);
                sum += dx * dx + dy * dy;
                n += 1;
            }
        }
    }
    (sum / n.max(1) as f64).sqrt()
}

/// The shift (frames) that best aligns `estimates` with `truth`: estimates[i + lag] ≈ truth[i].
/// Only the frames `range` of the truth are compared, so every shift sees the same frames.
pub fn best_lag(estimates: &[Option<[[f32; 2]; 5]>], truth: &[Truth], max: isize) -> isize {
    let inner = &truth[max as usize..truth.len() - max as usize];
    (-max..=max)
        .min_by(|&a, &b| {
            let ea = keypoint_rms(&estimates[(max + a) as usize..], inner, 0);
            let eb = keypoint_rms(&estimates[(max + b) as usize..], inner, 0);
            ea.total_cmp(&eb)
        })
        .unwrap()
}
