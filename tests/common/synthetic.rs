// SPDX-License-Identifier: MIT OR Apache-2.0
//! Synthetic face video with ground truth, and detector stand-ins.
//!
//! The clips ([`Clip`]): the face of a photo from `tests/data` (both public-domain White House
//! photos; the face's box and keypoints as MTCNN finds them on the photo are the source truth)
//! moved along a known path ([`Motion`]: translation, zoom, roll) over a grey background at 30
//! fps. Every frame is an exact similarity transform of the photo, so the true keypoints are
//! known. Used by `tests/track_accuracy.rs` and `examples/bench_track.rs`.
#![allow(dead_code)]

use std::f64::consts::PI;

use gstghost::track::Detection;
use gstghost::vision::{warp_affine_rgb, Affine2, Border, RgbImage};

/// The photo's face, from mtcnn_reference.json (obama.jpg, face 0).
const SRC_BOX: [f64; 4] = [373.016, 82.990, 609.791, 422.850];
const SRC_KPS: [[f64; 2]; 5] =
    [[444.985, 214.894], [547.618, 212.874], [496.226, 277.273], [437.764, 319.935], [552.598, 317.040]];
/// The part of the photo that is rendered (keeps the photo's second, tiny face out).
const CROP: [usize; 4] = [250, 0, 730, 560];
/// biden.jpg's face as the built-in MTCNN finds it on the whole photo, and the part rendered.
const BIDEN_BOX: [f64; 4] = [425.218, 168.409, 711.323, 559.303];
const BIDEN_KPS: [[f64; 2]; 5] =
    [[534.161, 319.386], [653.812, 344.039], [597.491, 405.983], [517.816, 461.021], [624.502, 479.005]];
const BIDEN_CROP: [usize; 4] = [200, 0, 950, 820];

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

/// A photo to render clips from: the cropped image and its face (box and keypoints, photo pixels).
pub struct Photo {
    pub name: &'static str,
    /// The rendered part of the photo.
    pub image: RgbImage,
    /// Top-left corner of `image` in the photo.
    pub origin: [f64; 2],
    pub face_box: [f64; 4],
    pub face_keypoints: [[f64; 2]; 5],
}

impl Photo {
    fn load(name: &'static str, crop: [usize; 4], face_box: [f64; 4], face_keypoints: [[f64; 2]; 5]) -> Photo {
        let path = format!("{}/tests/data/{name}", env!("CARGO_MANIFEST_DIR"));
        let img = image::open(&path).unwrap_or_else(|e| panic!("{path}: {e}")).to_rgb8();
        let (w, h) = (crop[2] - crop[0], crop[3] - crop[1]);
        let mut data = Vec::with_capacity(w * h * 3);
        for y in crop[1]..crop[3] {
            for x in crop[0]..crop[2] {
                data.extend_from_slice(&img.get_pixel(x as u32, y as u32).0);
            }
        }
        Photo {
            name,
            image: RgbImage::from_raw(w, h, data),
            origin: [crop[0] as f64, crop[1] as f64],
            face_box,
            face_keypoints,
        }
    }

    /// `tests/data/obama.jpg` (public domain, official White House portrait); its face from
    /// mtcnn_reference.json.
    pub fn obama() -> Photo {
        Photo::load("obama.jpg", CROP, SRC_BOX, SRC_KPS)
    }

    /// `tests/data/biden.jpg` (public domain, White House photo); its face as the built-in MTCNN
    /// finds it on the whole photo.
    pub fn biden() -> Photo {
        Photo::load("biden.jpg", BIDEN_CROP, BIDEN_BOX, BIDEN_KPS)
    }

    pub fn by_name(name: &str) -> Photo {
        match name {
            "obama" => Photo::obama(),
            "biden" => Photo::biden(),
            other => panic!("unknown photo {other} (obama, biden)"),
        }
    }

    fn face_centre(&self) -> [f64; 2] {
        [(self.face_box[0] + self.face_box[2]) / 2.0, (self.face_box[1] + self.face_box[3]) / 2.0]
    }

    fn eye_distance(&self) -> f64 {
        let [l, r] = [self.face_keypoints[0], self.face_keypoints[1]];
        (r[0] - l[0]).hypot(r[1] - l[1])
    }
}

/// How the face moves in a [`Clip`]. Speeds are in eye distances per frame, so that a clip means
/// the same motion at any size.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Motion {
    /// Not moving at all.
    Still,
    /// Smooth drift, at most ~2 % of the eye distance per frame, small scale and angle changes.
    Slow,
    /// Lissajous path at up to ~10 % of the eye distance per frame.
    Fast,
    /// A sway whose frequency rises over the clip: from nearly still to ~12 % of the eye distance
    /// per frame, with the largest accelerations at the end.
    Accelerating,
    /// Zoom (±25 %) and roll (±8°) about a slowly drifting centre.
    ZoomRotate,
    /// Fast translation (up to ~10 % of the eye distance per frame) with ±25 % zoom and ±8° roll.
    Mixed,
}

impl Motion {
    pub const ALL: [Motion; 6] =
        [Motion::Still, Motion::Slow, Motion::Fast, Motion::Accelerating, Motion::ZoomRotate, Motion::Mixed];

    pub fn name(self) -> &'static str {
        match self {
            Motion::Still => "still",
            Motion::Slow => "slow",
            Motion::Fast => "fast",
            Motion::Accelerating => "accelerating",
            Motion::ZoomRotate => "zoom-rotate",
            Motion::Mixed => "mixed",
        }
    }
}

/// The face's pose at one frame: centre offset from the frame centre (eye distances), zoom
/// factor, roll (radians).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Pose {
    pub dx: f64,
    pub dy: f64,
    pub zoom: f64,
    pub roll: f64,
}

/// A rendered clip with exact ground truth: a photo's face moved by `motion`, the face's mean eye
/// distance `eye_px`, on a `width` x `height` frame. `phase` shifts every periodic term (a
/// different path with the same kind of motion). `pixel_noise` adds Gaussian noise of that
/// standard deviation (grey levels) to every frame, like a camera's: without it a still face
/// renders identical frames and the detector gives identical answers.
#[derive(Clone, Debug, PartialEq)]
pub struct Clip {
    pub width: usize,
    pub height: usize,
    pub frames: usize,
    pub eye_px: f64,
    pub motion: Motion,
    pub phase: f64,
    pub pixel_noise: f64,
}

impl Clip {
    /// The kind of clip of the issue: 960x540, 150 frames, a face 90 px between the eyes; a
    /// still face with camera noise (σ = 3 grey levels), the moving ones clean.
    pub fn standard(motion: Motion) -> Clip {
        let pixel_noise = if motion == Motion::Still { 3.0 } else { 0.0 };
        Clip { width: 960, height: 540, frames: 150, eye_px: 90.0, motion, phase: 0.0, pixel_noise }
    }

    pub fn pose(&self, i: usize) -> Pose {
        let t = i as f64;
        let p = self.phase;
        let s = |period: f64, ph: f64| (2.0 * PI * t / period + ph + p).sin();
        let still = Pose { dx: 0.0, dy: 0.0, zoom: 1.0, roll: 0.0 };
        match self.motion {
            Motion::Still => still,
            // Peak speeds: x 0.8 * 2π/300 ≈ 0.017, y 0.4 * 2π/240 ≈ 0.010 eye distances per frame.
            Motion::Slow => Pose {
                dx: 0.8 * s(300.0, 0.3),
                dy: 0.4 * s(240.0, 1.1),
                zoom: 1.0 + 0.05 * s(280.0, 0.0),
                roll: 0.03 * s(260.0, 2.0),
            },
            // Peak speeds: x 1.8 * 2π/120 ≈ 0.094, y 0.6 * 2π/90 ≈ 0.042 eye distances per frame.
            Motion::Fast => Pose {
                dx: 1.8 * s(120.0, 0.0),
                dy: 0.6 * s(90.0, 0.7),
                zoom: 1.0 + 0.05 * s(200.0, 0.0),
                roll: 0.02 * s(170.0, 1.0),
            },
            // Phase 2π(t/400 + t²/(2·80·150)): frequency from 1/400 to 1/67 cycles per frame;
            // peak speed 1.3 * 2π/67 ≈ 0.12 at the very end.
            Motion::Accelerating => {
                let phi = 2.0 * PI * (t / 400.0 + t * t / (2.0 * 80.0 * 150.0)) + p;
                Pose {
                    dx: 1.3 * phi.sin(),
                    dy: 0.3 * (0.7 * phi + 1.0).sin(),
                    zoom: 1.0 + 0.05 * s(300.0, 0.0),
                    roll: 0.0,
                }
            }
            Motion::ZoomRotate => Pose {
                dx: 0.3 * s(250.0, 0.5),
                dy: 0.2 * s(220.0, 0.0),
                zoom: 1.0 + 0.25 * s(110.0, 0.0),
                roll: 8f64.to_radians() * s(90.0, 1.3),
            },
            // Peak speeds: x 1.5 * 2π/110 ≈ 0.086, y 0.5 * 2π/80 ≈ 0.039, and the zoom's share.
            Motion::Mixed => Pose {
                dx: 1.5 * s(110.0, 0.0),
                dy: 0.5 * s(80.0, 2.0),
                zoom: 1.0 + 0.25 * s(130.0, 0.9),
                roll: 8f64.to_radians() * s(100.0, 0.4),
            },
        }
    }

    /// Photo → frame transform at frame `i`.
    pub fn transform(&self, photo: &Photo, i: usize) -> Affine2 {
        let pose = self.pose(i);
        let scale = self.eye_px / photo.eye_distance() * pose.zoom;
        let (a, b) = (scale * pose.roll.cos(), scale * pose.roll.sin());
        let [sx, sy] = photo.face_centre();
        let cx = self.width as f64 / 2.0 + pose.dx * self.eye_px;
        let cy = self.height as f64 / 2.0 + pose.dy * self.eye_px;
        Affine2([a, -b, cx - (a * sx - b * sy), b, a, cy - (b * sx + a * sy)])
    }

    pub fn truth(&self, photo: &Photo, i: usize) -> Truth {
        let m = self.transform(photo, i);
        let s = (m.0[0] * m.0[0] + m.0[3] * m.0[3]).sqrt();
        let [fx, fy] = photo.face_centre();
        let (cx, cy) = m.apply(fx, fy);
        let (w, h) = ((photo.face_box[2] - photo.face_box[0]) * s, (photo.face_box[3] - photo.face_box[1]) * s);
        let bbox = [cx - w / 2.0, cy - h / 2.0, cx + w / 2.0, cy + h / 2.0].map(|v| v as f32);
        let keypoints = photo.face_keypoints.map(|p| {
            let (x, y) = m.apply(p[0], p[1]);
            [x as f32, y as f32]
        });
        Truth { bbox, keypoints }
    }

    pub fn render(&self, photo: &Photo, i: usize) -> RgbImage {
        let m = Affine2::translate(photo.origin[0], photo.origin[1]).then(&self.transform(photo, i));
        let mut img = warp_affine_rgb(&photo.image, &m, self.width, self.height, Border::Constant([96, 110, 96]));
        if self.pixel_noise > 0.0 {
            let mut rng = Rng::new(0x5EED ^ (i as u64).wrapping_mul(0x9E37_79B9));
            for v in img.data.iter_mut() {
                *v = (*v as f64 + self.pixel_noise * rng.normal()).round().clamp(0.0, 255.0) as u8;
            }
        }
        img
    }
}

/// Eye distance of a set of keypoints (left eye to right eye).
pub fn eye_distance(k: &[[f32; 2]; 5]) -> f64 {
    ((k[1][0] - k[0][0]) as f64).hypot((k[1][1] - k[0][1]) as f64)
}

/// The figures, both in units of the true eye distance: `error` is the mean distance of a
/// keypoint from its true position, `jitter` the mean length of a keypoint's second difference
/// (`p[i-1] - 2 p[i] + p[i+1]`) over runs of three frames. Only the frames where `mask` has an
/// entry count (the raw detections' frames, so that ratios compare like with like).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Figures {
    pub error: f64,
    pub jitter: f64,
}

pub fn figures(estimates: &[Option<[[f32; 2]; 5]>], mask: &[Option<[[f32; 2]; 5]>], truth: &[Truth]) -> Figures {
    let at = |i: usize| mask[i].and(estimates[i]);
    let (mut err, mut n_err) = (0.0, 0usize);
    let (mut jit, mut n_jit) = (0.0, 0usize);
    for (i, t) in truth.iter().enumerate() {
        let eye = eye_distance(&t.keypoints);
        if let Some(e) = at(i) {
            for (p, q) in e.iter().zip(&t.keypoints) {
                err += ((p[0] - q[0]) as f64).hypot((p[1] - q[1]) as f64) / eye;
                n_err += 1;
            }
        }
        if i >= 1 && i + 1 < truth.len() {
            if let (Some(a), Some(b), Some(c)) = (at(i - 1), at(i), at(i + 1)) {
                for k in 0..5 {
                    let d = |j: usize| (a[k][j] - 2.0 * b[k][j] + c[k][j]) as f64;
                    jit += d(0).hypot(d(1)) / eye;
                    n_jit += 1;
                }
            }
        }
    }
    Figures { error: err / n_err.max(1) as f64, jitter: jit / n_jit.max(1) as f64 }
}

/// A detector stand-in with MTCNN's kind of error, in units of the true eye distance: every
/// keypoint off by a fixed `bias` (its own direction, drawn once from the seed) plus white noise
/// of `noise` per coordinate; the box off by white noise of `box_noise` × the face height;
/// random misses at `miss_rate` and none at all on the `dropout` frames. Measured on the rendered
/// clips of `examples/bench_track.rs`: MTCNN's keypoints sit 1.4-2.1 % of the eye distance off
/// the truth (mean 1.75 %) with 0.8-1.5 % of frame-to-frame noise per coordinate (mean 1.15 %).
pub struct KeypointDetector {
    pub rng: Rng,
    pub noise: f64,
    pub bias: [[f64; 2]; 5],
    pub box_noise: f64,
    pub miss_rate: f64,
    pub dropout: std::ops::Range<usize>,
}

impl KeypointDetector {
    pub fn mtcnn_like(seed: u64) -> Self {
        let mut rng = Rng::new(seed);
        let bias = std::array::from_fn(|_| {
            let a = rng.uniform() * 2.0 * PI;
            [0.0175 * a.cos(), 0.0175 * a.sin()]
        });
        Self { rng, noise: 0.0115, bias, box_noise: 0.01, miss_rate: 0.1, dropout: 70..78 }
    }

    pub fn detect(&mut self, frame: usize, t: &Truth) -> Option<Detection> {
        let eye = eye_distance(&t.keypoints);
        let h = t.height() as f64;
        // Draw the noise even for misses so that the noise does not depend on the misses.
        let mut keypoints = t.keypoints;
        for (p, b) in keypoints.iter_mut().zip(self.bias) {
            for c in 0..2 {
                p[c] = (p[c] as f64 + eye * (b[c] + self.noise * self.rng.normal())) as f32;
            }
        }
        let bbox = t.bbox.map(|v| (v as f64 + h * self.box_noise * self.rng.normal()) as f32);
        let missed = self.rng.uniform() < self.miss_rate;
        (!missed && !self.dropout.contains(&frame)).then_some(Detection { bbox, keypoints })
    }
}
