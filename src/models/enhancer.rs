//! Face enhancers (restoration / super-resolution of the swapped crops), GHOST-FACTS §4 and §10.
//!
//! Families and their tensor contracts (one input, one output, NCHW RGB, batch free or 1):
//!
//! | family | input | values | geometry |
//! |---|---|---|---|
//! | `ghost-sr` (GHOST LIPSPADE, `10_net_G`) | (N,3,256,256) | in [0,1], no mean/std; tanh output read as [0,1], clamped | the crop itself |
//! | `gfpgan` (GFPGAN, RestoreFormer, GPEN-512) | (N,3,512,512) | [-1,1] both ways | FFHQ 512 template |
//! | `gpen` (GPEN-BFR-256 / 512 / 1024) | (N,3,S,S) | [-1,1] both ways | FFHQ template scaled to S |
//!
//! The family comes from the file's `gst_ghost_family` metadata (`ghost-sr`, `gfpgan`, `gpen`),
//! else from its name (`10_net_G`, `ghost_sr`, `lipspade` → ghost-sr; `gfpgan`, `restoreformer`;
//! `gpen`), else from its size (512 → gfpgan; 256 is ambiguous between ghost-sr and GPEN-256 and
//! must be named with the element's `family` property).
//!
//! Geometry of the template families: the face's keypoints are mapped into crop coordinates, the
//! crop is warped onto the FFHQ template at the model's input size (replicated border), and the
//! model output is warped back, in one resampling, into a new crop of the model's output size in
//! *our* crop geometry: the old crop scaled by `out/old` with cv2.resize's pixel-centre mapping.
//! Where the new crop lies outside the template view it falls back to the (upscaled) old crop,
//! through a soft edge so there is no seam. The `blend` weight mixes the enhanced and the
//! un-enhanced crop in the same pass.

use std::cell::RefCell;
use std::mem::MaybeUninit;
use std::ops::Range;
use std::path::Path;
use std::sync::{Arc, Mutex};

use super::align::resize_affine;
use crate::runtime::{load_session, Dim, ModelSession, RuntimeError, SessionOptions, TensorSig, TensorSpec};
use crate::vision::{scaled_template, umeyama, Affine2, RgbImage, FFHQ_512};

/// Metadata key that names a model's family.
pub const FAMILY_KEY: &str = "gst_ghost_family";

/// An enhancer family: how its input is prepared and its output read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EnhancerFamily {
    /// GHOST's LIPSPADE restoration network: the crop as is, [0,1] in and out.
    GhostSr,
    /// GFPGAN-style: FFHQ 512 template, [-1,1].
    Gfpgan,
    /// GPEN: FFHQ template at the model's size (256, 512 or 1024), [-1,1].
    Gpen,
}

impl EnhancerFamily {
    pub fn name(self) -> &'static str {
        match self {
            Self::GhostSr => "ghost-sr",
            Self::Gfpgan => "gfpgan",
            Self::Gpen => "gpen",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        match name.trim().to_ascii_lowercase().replace('_', "-").as_str() {
            "ghost-sr" | "ghostsr" | "lipspade" => Some(Self::GhostSr),
            "gfpgan" => Some(Self::Gfpgan),
            "gpen" => Some(Self::Gpen),
            _ => None,
        }
    }

    /// Guesses the family from a file name.
    pub fn from_file_name(path: &Path) -> Option<Self> {
        let name = path.file_name()?.to_string_lossy().to_ascii_lowercase();
        if ["10_net_g", "ghost_sr", "ghost-sr", "ghostsr", "lipspade"].iter().any(|k| name.contains(k)) {
            Some(Self::GhostSr)
        } else if ["gfpgan", "restoreformer"].iter().any(|k| name.contains(k)) {
            Some(Self::Gfpgan)
        } else if name.contains("gpen") {
            Some(Self::Gpen)
        } else {
            None
        }
    }

    /// Whether the model works in FFHQ template space (rather than on the crop as is).
    pub fn uses_template(self) -> bool {
        !matches!(self, Self::GhostSr)
    }

    fn sizes(self) -> &'static [usize] {
        match self {
            Self::GhostSr => &[256],
            Self::Gfpgan => &[512],
            Self::Gpen => &[256, 512, 1024],
        }
    }

    fn default_size(self) -> usize {
        match self {
            Self::GhostSr => 256,
            Self::Gfpgan | Self::Gpen => 512,
        }
    }

    /// Model value → pixel: `v·a + b` before rounding.
    fn output_scale(self) -> (f32, f32) {
        match self {
            Self::GhostSr => (255.0, 0.0),
            Self::Gfpgan | Self::Gpen => (127.5, 127.5),
        }
    }
}

/// Decides the family: the explicit choice, else the file's metadata, else its name, else its size.
pub fn detect_family(
    requested: Option<EnhancerFamily>,
    metadata: Option<&str>,
    path: &Path,
    input_size: Option<usize>,
) -> Result<EnhancerFamily, String> {
    if let Some(f) = requested {
        return Ok(f);
    }
    if let Some(value) = metadata {
        return EnhancerFamily::from_name(value).ok_or_else(|| {
            format!(
                "model file {} is a '{value}' model ({FAMILY_KEY}), not an enhancer (ghost-sr, gfpgan or gpen)",
                path.display()
            )
        });
    }
    if let Some(f) = EnhancerFamily::from_file_name(path) {
        return Ok(f);
    }
    match input_size {
        Some(512) | Some(1024) => Ok(EnhancerFamily::Gfpgan),
        Some(256) => Err(format!(
            "model file {}: a 256-pixel enhancer may be GHOST SR ([0,1], the crop as is) or GPEN-256 ([-1,1], FFHQ template); \
             the file does not say which: set family=ghost-sr or family=gpen",
            path.display()
        )),
        _ => Err(format!(
            "model file {} does not match any enhancer contract: expected one input and one output (N,3,256,256) \
             (ghost-sr, gpen) or (N,3,512,512) (gfpgan, gpen); found {}",
            path.display(),
            input_size.map_or("no square RGB input".to_string(), |s| format!("a {s}x{s} input")),
        )),
    }
}

/// The numeric contract of an opened enhancer; pre- and post-processing need nothing else, so
/// they are testable without a runtime.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EnhancerSpec {
    pub family: EnhancerFamily,
    /// Model input side.
    pub in_size: usize,
    /// Model output side (= the new crop's side).
    pub out_size: usize,
}

/// One face to enhance: its current crop, crop affine and frame keypoints.
#[derive(Debug, Clone, Copy)]
pub struct EnhanceJob<'a> {
    pub crop: &'a RgbImage,
    pub frame_to_crop: Affine2,
    pub keypoints: [[f32; 2]; 5],
}

/// What `prepare` decided for one face and `finish` needs back.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Prepared {
    /// Old crop → model input pixels (identity-like for ghost-sr).
    pub crop_to_input: Affine2,
}

/// `floor` without the libm call (`f32::floor` is one on baseline x86-64): integer part and fraction.
#[inline(always)]
fn split(v: f32) -> (i32, f32) {
    let i = v as i32;
    let i = i - ((v < i as f32) as i32);
    (i, v - i as f32)
}

/// Samples an RGB8 image bilinearly at (x, y) with a replicated border.
#[inline(always)]
fn sample_rgb(img: &RgbImage, x: f32, y: f32) -> [f32; 3] {
    let (w, h) = (img.width as i32, img.height as i32);
    let ((x0, ax), (y0, ay)) = (split(x), split(y));
    let stride = img.width * 3;
    let (xa, xb, ya, yb) = if x0 >= 0 && y0 >= 0 && x0 + 1 < w && y0 + 1 < h {
        (x0 as usize, x0 as usize + 1, y0 as usize, y0 as usize + 1)
    } else {
        let cx = |v: i32| v.clamp(0, w - 1) as usize;
        let cy = |v: i32| v.clamp(0, h - 1) as usize;
        (cx(x0), cx(x0 + 1), cy(y0), cy(y0 + 1))
    };
    let d = &img.data;
    let (i00, i01, i10, i11) = (ya * stride + xa * 3, ya * stride + xb * 3, yb * stride + xa * 3, yb * stride + xb * 3);
    let (q00, q01, q10, q11) = (&d[i00..i00 + 3], &d[i01..i01 + 3], &d[i10..i10 + 3], &d[i11..i11 + 3]);
    let mut out = [0.0f32; 3];
    for c in 0..3 {
        let (p00, p01, p10, p11) = (q00[c] as f32, q01[c] as f32, q10[c] as f32, q11[c] as f32);
        let top = p00 + (p01 - p00) * ax;
        let bot = p10 + (p11 - p10) * ax;
        out[c] = top + (bot - top) * ay;
    }
    out
}

/// Samples three planes (CHW, side `n`) bilinearly at (x, y) with a replicated border.
#[inline(always)]
fn sample_planes(planes: &[f32], n: usize, x: f32, y: f32) -> [f32; 3] {
    let m = n as i32 - 1;
    let ((x0, ax), (y0, ay)) = (split(x), split(y));
    let (xa, xb, ya, yb) = if x0 >= 0 && y0 >= 0 && x0 < m && y0 < m {
        (x0 as usize, x0 as usize + 1, y0 as usize, y0 as usize + 1)
    } else {
        let c = |v: i32| v.clamp(0, m) as usize;
        (c(x0), c(x0 + 1), c(y0), c(y0 + 1))
    };
    let plane = n * n;
    let (i00, i01, i10, i11) = (ya * n + xa, ya * n + xb, yb * n + xa, yb * n + xb);
    let p = &planes[..3 * plane];
    let mut out = [0.0f32; 3];
    for (c, o) in out.iter_mut().enumerate() {
        let b = c * plane;
        let (p00, p01, p10, p11) = (p[b + i00], p[b + i01], p[b + i10], p[b + i11]);
        let top = p00 + (p01 - p00) * ax;
        let bot = p10 + (p11 - p10) * ax;
        *o = top + (bot - top) * ay;
    }
    out
}

/// Smooth 0→1 ramp over `feather` pixels from the edge of an `n`-pixel square, at (x, y).
#[inline(always)]
fn edge_weight(x: f32, y: f32, n: f32, feather: f32) -> f32 {
    // Pixel centres run from 0 to n-1; the view ends half a pixel beyond them.
    let d = (x + 0.5).min(n - 0.5 - x).min(y + 0.5).min(n - 0.5 - y);
    if d >= feather {
        1.0
    } else if d <= 0.0 {
        0.0
    } else {
        let t = d / feather;
        t * t * (3.0 - 2.0 * t)
    }
}

#[inline(always)]
fn to_u8(v: f32) -> u8 {
    // Round half up without the libm call; the clamp makes the truncation a floor.
    (v.clamp(0.0, 255.0) + 0.5) as u8
}

impl EnhancerSpec {
    /// The FFHQ template at a side of `n` pixels.
    fn template(n: usize) -> [[f64; 2]; 5] {
        scaled_template(&FFHQ_512, n as f64 / 512.0, 0.0)
    }

    /// Appends the model input of one face (CHW, `in_size`²) and returns its geometry.
    pub fn prepare(&self, job: &EnhanceJob, out: &mut Vec<f32>) -> Prepared {
        let n = self.in_size;
        let len = 3 * n * n;
        let start = out.len();
        out.reserve(len);
        let dst = &mut out.spare_capacity_mut()[..len];
        let prepared = self.prepare_into(job, dst);
        // SAFETY: `prepare_into` writes every one of the `len` values after `start` (whole planes).
        unsafe { out.set_len(start + len) };
        prepared
    }

    /// `prepare` into uninitialised memory (no zero-fill of the 3 MB of a 512 input): writes all
    /// of `dst` (`3·in_size²` values).
    fn prepare_into(&self, job: &EnhanceJob, dst: &mut [MaybeUninit<f32>]) -> Prepared {
        let n = self.in_size;
        let plane = n * n;
        let crop = job.crop;
        if !self.family.uses_template() {
            // ghost-sr: the crop itself in [0,1] (resampled only when it is not the model's size).
            let m = resize_affine(crop.width, n);
            if crop.width == n && crop.height == n {
                let (r, rest) = dst.split_at_mut(plane);
                let (g, b) = rest.split_at_mut(plane);
                for (i, px) in crop.data.chunks_exact(3).enumerate().take(plane) {
                    r[i].write(px[0] as f32 / 255.0);
                    g[i].write(px[1] as f32 / 255.0);
                    b[i].write(px[2] as f32 / 255.0);
                }
            } else {
                fill_warped(crop, &m, n, dst, 1.0 / 255.0, 0.0);
            }
            return Prepared { crop_to_input: m };
        }
        let kps: Vec<[f64; 2]> = job
            .keypoints
            .iter()
            .map(|p| {
                let (x, y) = job.frame_to_crop.apply(p[0] as f64, p[1] as f64);
                [x, y]
            })
            .collect();
        let m = umeyama(&kps, &Self::template(n));
        fill_warped(crop, &m, n, dst, 2.0 / 255.0, -1.0);
        Prepared { crop_to_input: m }
    }

    /// Turns one model output (CHW, `out_size`²) into the new crop and its frame → crop affine.
    /// `blend` mixes the enhanced (1) and the un-enhanced (0) crop.
    pub fn finish(&self, job: &EnhanceJob, prepared: &Prepared, y: &[f32], blend: f32) -> (RgbImage, Affine2) {
        let (o, crop) = (self.out_size, job.crop);
        let blend = blend.clamp(0.0, 1.0);
        let (a, b) = self.family.output_scale();
        let new_affine = job.frame_to_crop.then(&resize_affine(crop.width, o));
        let mut img = RgbImage::new(o, o);
        let plane = o * o;
        if !self.family.uses_template() && crop.width == o && crop.height == o {
            // Same geometry: a pointwise mix, no resampling.
            for (i, (px, old)) in img.data.chunks_exact_mut(3).zip(crop.data.chunks_exact(3)).enumerate() {
                for c in 0..3 {
                    let e = to_u8(y[c * plane + i] * a + b) as f32;
                    let v = old[c] as f32;
                    px[c] = to_u8(v + blend * (e - v));
                }
            }
            return (img, new_affine);
        }
        // New crop pixel → model output pixel: new → old crop → model input → model output.
        let new_to_old = resize_affine(o, crop.width);
        let new_to_out = if self.family.uses_template() {
            new_to_old.then(&prepared.crop_to_input).then(&resize_affine(self.in_size, o))
        } else {
            Affine2::identity()
        };
        let feather = if self.family.uses_template() { (o as f32 * 0.04).max(2.0) } else { 0.0 };
        let m = new_to_out.0.map(|v| v as f32);
        let r = new_to_old.0.map(|v| v as f32);
        let k = FinishKernel { y, o, crop, m, r, a, b, blend, feather };
        // Rows are independent: two halves on two threads (scoped, no allocation to share), each
        // with its window of the output in the calling thread's scratch.
        let half = (o / 2) * o * 3;
        let (top, bottom) = img.data.split_at_mut(half);
        with_scratch(1, |q0| {
            with_scratch(2, |q1| {
                std::thread::scope(|s| {
                    s.spawn(|| k.rows(0, top, q0));
                    k.rows(o / 2, bottom, q1);
                });
            })
        });
        (img, new_affine)
    }
}

/// The x in `0..n` where `lo ≤ c + d·x ≤ hi`, shrunk by a pixel (and a margin) at both ends so
/// that the f32 rounding of the per-pixel coordinate can never leave the range: inside it the
/// fast paths need no clamps or branches, the few pixels outside take the checked path.
fn span(c: f32, d: f32, lo: f32, hi: f32, n: usize) -> (usize, usize) {
    let (c, d, lo, hi) = (c as f64, d as f64, lo as f64 + 1e-3, hi as f64 - 1e-3);
    let (a, b) = if d.abs() < 1e-9 {
        if c >= lo && c <= hi {
            (0.0, n as f64)
        } else {
            return (0, 0);
        }
    } else {
        let (t0, t1) = ((lo - c) / d, (hi - c) / d);
        (t0.min(t1).ceil() + 1.0, t0.max(t1).floor())
    };
    let a = a.clamp(0.0, n as f64) as usize;
    let b = b.clamp(0.0, n as f64) as usize;
    if a < b {
        (a, b)
    } else {
        (0, 0)
    }
}

/// The integer part of a coordinate that `span` proved finite and within `0..n` (n ≤ 2^24):
/// a plain truncating conversion, without the saturation fix-ups of `as usize`.
#[inline(always)]
fn floor_in_span(v: f32) -> usize {
    debug_assert!((0.0..16_777_216.0).contains(&v));
    // SAFETY: `v` lies in a span (finite, non-negative, far below i32::MAX).
    unsafe { v.to_int_unchecked::<i32>() as usize }
}

/// Intersection of two spans (empty as `(0, 0)`).
fn meet(p: (usize, usize), q: (usize, usize)) -> (usize, usize) {
    let (a, b) = (p.0.max(q.0), p.1.min(q.1));
    if a < b {
        (a, b)
    } else {
        (0, 0)
    }
}

/// Everything `finish` needs per row of the new crop (template families).
struct FinishKernel<'a> {
    y: &'a [f32],
    o: usize,
    crop: &'a RgbImage,
    /// New crop → model output, new crop → old crop.
    m: [f32; 6],
    r: [f32; 6],
    a: f32,
    b: f32,
    blend: f32,
    feather: f32,
}

/// A window of a model output as RGBX floats `v·a + b` (X = 0): `width` columns from `x0`, rows
/// from `y0`.
struct Window<'a> {
    data: &'a [[f32; 4]],
    x0: usize,
    y0: usize,
    width: usize,
}

impl FinishKernel<'_> {
    /// The window of the output that the rows `y0..y1` of the new crop sample from (the bounding
    /// box of their corners' positions, two pixels more on each side), interleaved into `buf`.
    fn window<'b>(&self, y0: usize, y1: usize, buf: &'b mut Vec<[f32; 4]>) -> Window<'b> {
        let (o, m) = (self.o, self.m.map(f64::from));
        let corners = [(0.0, y0 as f64), ((o - 1) as f64, y0 as f64), (0.0, y1 as f64), ((o - 1) as f64, y1 as f64)];
        let (xs, ys) =
            (corners.map(|(x, y)| m[0] * x + m[1] * y + m[2]), corners.map(|(x, y)| m[3] * x + m[4] * y + m[5]));
        let range = |v: [f64; 4]| {
            let (lo, hi) =
                (v.iter().copied().fold(f64::INFINITY, f64::min), v.iter().copied().fold(f64::NEG_INFINITY, f64::max));
            let (lo, hi) =
                ((lo.floor() - 2.0).clamp(0.0, o as f64) as usize, (hi.ceil() + 3.0).clamp(0.0, o as f64) as usize);
            (lo, hi.max(lo))
        };
        let ((x0, x1), (ya, yb)) = (range(xs), range(ys));
        interleave(self.y, o, self.a, self.b, (x0..x1, ya..yb), buf);
        Window { data: buf, x0, y0: ya, width: x1 - x0 }
    }

    /// Fills the rows from `y0` on into `out` (whole RGB8 rows of the new crop); `buf`: scratch
    /// for the output window of these rows.
    fn rows(&self, y0: usize, out: &mut [u8], buf: &mut Vec<[f32; 4]>) {
        let (o, m, r, a, b, blend) = (self.o, self.m, self.r, self.a, self.b, self.blend);
        let on = o as f32;
        // Blend 1 (template families): the fast span reads the interleaved window.
        let window = (self.feather > 0.0 && blend >= 1.0).then(|| self.window(y0, y0 + out.len() / (3 * o), buf));
        let plane = o * o;
        let (p0, rest) = self.y[..3 * plane].split_at(plane);
        let (p1, p2) = rest.split_at(plane);
        for (dy, row) in out.chunks_exact_mut(o * 3).enumerate() {
            let yy = y0 + dy;
            let fy = yy as f32;
            let (cx, cy) = (m[1] * fy + m[2], m[4] * fy + m[5]);
            // Where the edge weight is exactly 1 (and the sample is interior since feather ≥ 2):
            // one sample of the output, no weight, and the old crop only when blend < 1.
            // (blend 0 keeps the checked path, which never reads the output.)
            let (lo, hi) = if self.feather > 0.0 && blend > 0.0 {
                let (lo, hi) = (self.feather - 0.5, on - 0.5 - self.feather);
                meet(span(cx, m[0], lo, hi, o), span(cy, m[3], lo, hi, o))
            } else {
                (0, 0)
            };
            let old_y = r[4] * fy + r[5];
            for xx in (0..lo).chain(hi..o) {
                let fx = xx as f32;
                let (sx, sy) = (m[0] * fx + cx, m[3] * fx + cy);
                let w = if self.feather > 0.0 { blend * edge_weight(sx, sy, on, self.feather) } else { blend };
                let enhanced = if w > 0.0 { sample_planes(self.y, o, sx, sy) } else { [0.0; 3] };
                let old = if w < 1.0 { sample_rgb(self.crop, r[0] * fx + r[2], old_y) } else { [0.0; 3] };
                let px = &mut row[xx * 3..xx * 3 + 3];
                for c in 0..3 {
                    let e = (enhanced[c] * a + b).clamp(0.0, 255.0);
                    px[c] = to_u8(old[c] + w * (e - old[c]));
                }
            }
            if let Some(win) = &window {
                // Blend 1: the enhanced value alone, from the interleaved output (to_u8 clamps).
                let c = [cx, m[0], cy, m[3]];
                #[cfg(target_arch = "x86_64")]
                let done = simd::finish_row(win, c, lo, hi, row);
                #[cfg(not(target_arch = "x86_64"))]
                let done = lo;
                for xx in done..hi {
                    row[xx * 3..xx * 3 + 3].copy_from_slice(&finish_px(win, c, xx));
                }
                continue;
            }
            let row = &mut row[lo * 3..hi * 3];
            for (i, px) in row.chunks_exact_mut(3).enumerate() {
                let fx = (lo + i) as f32;
                let (sx, sy) = (m[0] * fx + cx, m[3] * fx + cy);
                // In range by `span`: the cast floors, and x0+1, y0+1 stay inside the planes.
                let (x0, y0) = (floor_in_span(sx), floor_in_span(sy));
                let (ax, ay) = (sx - x0 as f32, sy - y0 as f32);
                let i0 = y0 * o + x0;
                let i1 = i0 + o;
                let mut enhanced = [0.0f32; 3];
                for (e, p) in enhanced.iter_mut().zip([p0, p1, p2]) {
                    let (t, u) = (&p[i0..i0 + 2], &p[i1..i1 + 2]);
                    let top = t[0] + (t[1] - t[0]) * ax;
                    let bot = u[0] + (u[1] - u[0]) * ax;
                    *e = top + (bot - top) * ay;
                }
                // (blend < 1 here: blend 1 took the interleaved path above)
                let old = sample_rgb(self.crop, r[0] * fx + r[2], old_y);
                for c in 0..3 {
                    let e = (enhanced[c] * a + b).clamp(0.0, 255.0);
                    px[c] = to_u8(old[c] + blend * (e - old[c]));
                }
            }
        }
    }
}

/// Warps an RGB8 image by `m` (source → destination) into `n`² CHW planes as `v·scale + offset`,
/// bilinear with a replicated border, in floating point, writing all of `dst` (`3n²` values).
///
/// A replicated border is a bilinear sample at the coordinate clamped into the image, so every
/// pixel takes the same branch-free path: the coordinate is clamped to `[0, w-1] × [0, h-1]` and
/// the taps are read from a copy of the source (RGBX floats, already scaled) with one replicated
/// column and row more (the second tap of a clamped coordinate has weight 0 there). The four
/// channels of a tap are one 16-byte load, the interpolation is lane-wise, four pixels at a time
/// (SSE2 on x86-64, `simd::warp_row`).
fn fill_warped(src: &RgbImage, m: &Affine2, n: usize, dst: &mut [MaybeUninit<f32>], scale: f32, offset: f32) {
    let plane = n * n;
    let inv = m.invert().unwrap_or_else(Affine2::identity).0.map(|v| v as f32);
    let (r, rest) = dst[..3 * plane].split_at_mut(plane);
    let (g, b) = rest.split_at_mut(plane);
    with_scratch(0, |buf| {
        let padded = PaddedRgbx::new(src, scale, offset, buf);
        // Rows are independent: two threads take blocks of 16 rows from a shared queue, so that
        // one of them running late (a busy machine) does not hold the other up at the end.
        const BLOCK: usize = 16;
        let step = BLOCK * n;
        let blocks = r.chunks_mut(step).zip(g.chunks_mut(step)).zip(b.chunks_mut(step)).enumerate();
        let queue = Mutex::new(blocks.map(|(k, ((r, g), b))| (k * BLOCK, [r, g, b])));
        let work = || loop {
            let next = queue.lock().unwrap_or_else(|e| e.into_inner()).next();
            let Some((y0, rows)) = next else { break };
            fill_rows(&padded, &inv, n, y0, rows);
        };
        std::thread::scope(|s| {
            s.spawn(work);
            work();
        });
    });
}

thread_local! {
    /// Per-thread scratch of the warps (the padded source of `prepare`, the two interleaved
    /// output windows of `finish`), reused across calls: no allocation, zero-fill or page faults
    /// per face.
    static SCRATCH: RefCell<[Vec<[f32; 4]>; 3]> = const { RefCell::new([Vec::new(), Vec::new(), Vec::new()]) };
}

/// Runs `f` on this thread's scratch vector `slot`, emptied (its capacity kept).
fn with_scratch<R>(slot: usize, f: impl FnOnce(&mut Vec<[f32; 4]>) -> R) -> R {
    let mut v = SCRATCH.with(|s| std::mem::take(&mut s.borrow_mut()[slot]));
    v.clear();
    let result = f(&mut v);
    SCRATCH.with(|s| s.borrow_mut()[slot] = v);
    result
}

/// An RGB8 image as RGBX floats `v·scale + offset` (X = 0) with its last column and row
/// replicated once more (`(w+1)·(h+1)` pixels, `stride = w+1`).
struct PaddedRgbx<'a> {
    data: &'a [[f32; 4]],
    width: usize,
    height: usize,
    stride: usize,
}

impl<'a> PaddedRgbx<'a> {
    fn new(src: &RgbImage, scale: f32, offset: f32, buf: &'a mut Vec<[f32; 4]>) -> Self {
        let (w, h) = (src.width, src.height);
        assert!(w > 0 && h > 0, "empty crop");
        let stride = w + 1;
        buf.clear();
        buf.reserve(stride * (h + 1));
        for y in 0..h {
            let row = src.row(y);
            buf.extend(row.chunks_exact(3).map(|p| {
                [p[0] as f32 * scale + offset, p[1] as f32 * scale + offset, p[2] as f32 * scale + offset, 0.0]
            }));
            buf.push(buf[buf.len() - 1]);
        }
        buf.extend_from_within((h - 1) * stride..h * stride);
        Self { data: buf, width: w, height: h, stride }
    }
}

/// Lane-wise bilinear mix of four RGBX taps (top left, top right, bottom left, bottom right),
/// in the same operation order as the SSE2 kernels (bit-identical results).
#[inline(always)]
fn lerp4(t0: &[f32; 4], t1: &[f32; 4], u0: &[f32; 4], u1: &[f32; 4], ax: f32, ay: f32) -> [f32; 4] {
    std::array::from_fn(|c| {
        let top = t0[c] + (t1[c] - t0[c]) * ax;
        let bot = u0[c] + (u1[c] - u0[c]) * ax;
        top + (bot - top) * ay
    })
}

/// `fill_warped` for the rows from `y0` on (`dst`: those rows of the three planes).
fn fill_rows(src: &PaddedRgbx, inv: &[f32; 6], n: usize, y0: usize, dst: [&mut [MaybeUninit<f32>]; 3]) {
    let [r, g, b] = dst;
    let rows = r.chunks_exact_mut(n).zip(g.chunks_exact_mut(n)).zip(b.chunks_exact_mut(n));
    for (row, ((rr, gr), br)) in rows.enumerate() {
        let fy = (y0 + row) as f32;
        let (rx, ry) = (inv[1] * fy + inv[2], inv[4] * fy + inv[5]);
        #[cfg(target_arch = "x86_64")]
        let done = simd::warp_row(src, [rx, inv[0], ry, inv[3]], [&mut *rr, &mut *gr, &mut *br]);
        #[cfg(not(target_arch = "x86_64"))]
        let done = 0;
        for x in done..n {
            let v = warp_px(src, [rx, inv[0], ry, inv[3]], x);
            rr[x].write(v[0]);
            gr[x].write(v[1]);
            br[x].write(v[2]);
        }
    }
}

/// One pixel of a `fill_rows` row: the sample at x = `c[0] + c[1]·x`, y = `c[2] + c[3]·x`,
/// clamped into the source (`simd::warp_row` computes the same, bit for bit).
#[inline(always)]
fn warp_px(src: &PaddedRgbx, c: [f32; 4], x: usize) -> [f32; 4] {
    let fx = x as f32;
    // `max` first: a NaN coordinate (degenerate map) becomes 0.
    let sx = (c[1] * fx + c[0]).max(0.0).min((src.width - 1) as f32);
    let sy = (c[3] * fx + c[2]).max(0.0).min((src.height - 1) as f32);
    let (tx, ty) = (floor_in_span(sx), floor_in_span(sy));
    // tx ≤ w-1 and ty ≤ h-1: both taps of both rows lie in the padded copy.
    let i = ty * src.stride + tx;
    let (t, u) = (&src.data[i..i + 2], &src.data[i + src.stride..i + src.stride + 2]);
    lerp4(&t[0], &t[1], &u[0], &u[1], sx - tx as f32, sy - ty as f32)
}

/// One pixel of the fast span of a `finish` row at blend 1, from the interleaved output window
/// at x = `c[0] + c[1]·x`, y = `c[2] + c[3]·x` (`simd::finish_row` computes the same).
#[inline(always)]
fn finish_px(win: &Window, c: [f32; 4], x: usize) -> [u8; 3] {
    let fx = x as f32;
    let (sx, sy) = (c[1] * fx + c[0], c[3] * fx + c[2]);
    // In range by `span`: the cast floors, and x0+1, y0+1 stay inside the output, and inside the
    // window (its margin exceeds the f32 rounding); outside it the subtraction or the slice panics.
    let (x0, y0) = (floor_in_span(sx), floor_in_span(sy));
    let (w, q) = (win.width, win.data);
    let i = (y0 - win.y0) * w + (x0 - win.x0);
    let (t, u) = (&q[i..i + 2], &q[i + w..i + w + 2]);
    let v = lerp4(&t[0], &t[1], &u[0], &u[1], sx - x0 as f32, sy - y0 as f32);
    [to_u8(v[0]), to_u8(v[1]), to_u8(v[2])]
}

/// The columns `xs` of the rows `ys` of the three CHW planes of a model output (side `n`) as
/// RGBX floats `v·a + b` (X = 0), row after row into `out`.
fn interleave(y: &[f32], n: usize, a: f32, b: f32, (xs, ys): (Range<usize>, Range<usize>), out: &mut Vec<[f32; 4]>) {
    let plane = n * n;
    let (p0, rest) = y[..3 * plane].split_at(plane);
    let (p1, p2) = rest.split_at(plane);
    let (w, len) = (xs.len(), xs.len() * ys.len());
    out.clear();
    out.reserve(len);
    for (row, dst) in ys.zip(out.spare_capacity_mut()[..len].chunks_exact_mut(w.max(1))) {
        let at = row * n + xs.start..row * n + xs.end;
        let (r, g, bl) = (&p0[at.clone()], &p1[at.clone()], &p2[at]);
        #[cfg(target_arch = "x86_64")]
        let done = simd::interleave([r, g, bl], a, b, dst);
        #[cfg(not(target_arch = "x86_64"))]
        let done = 0;
        for (i, px) in dst.iter_mut().enumerate().skip(done) {
            px.write([r[i] * a + b, g[i] * a + b, bl[i] * a + b, 0.0]);
        }
    }
    // SAFETY: the `len` values after the (cleared) start were all written just above (`len`
    // rows of `w`; with `w = 0` there are none).
    unsafe { out.set_len(len) };
}

/// Four-pixel SSE2 kernels of the warps (SSE2 is part of the x86-64 baseline). Each computes
/// exactly what the scalar loop after it computes (same formulas, same operation order), for
/// the first multiple of four pixels of a row, and returns how many it did.
///
/// A row goes in chunks of `CHUNK` pixels, in two passes: the tap positions and weights of the
/// whole chunk first (four pixels per step), then the samples. The second pass then has no
/// dependency from one pixel to the next (its addresses are ready early), so the out-of-order
/// core overlaps the tap loads and the interpolations of many pixels.
#[cfg(target_arch = "x86_64")]
mod simd {
    use std::arch::x86_64::*;
    use std::mem::MaybeUninit;

    use super::{PaddedRgbx, Window};

    const CHUNK: usize = 64;

    /// Tap positions of a chunk: the index of each pixel's top-left tap and its two weights.
    struct Taps {
        idx: [i32; CHUNK],
        ax: [f32; CHUNK],
        ay: [f32; CHUNK],
    }

    impl Taps {
        /// Positions of the `len` (a multiple of 4, ≤ CHUNK) pixels from `x` at source
        /// x = `c[0] + c[1]·x`, y = `c[2] + c[3]·x`; `clamp`: clamped into `[0, max.0] × [0, max.1]`
        /// (else the caller knows them inside); the index is `(ty - origin.1)·stride + tx - origin.0`
        /// (exact in f32 below 2^24; a negative one makes the sample's slice check panic).
        ///
        /// # Safety
        /// The CPU must support SSE2 (the x86-64 baseline); `len <= CHUNK`. Only registers and this
        /// struct's arrays are touched.
        #[inline(always)]
        unsafe fn new(
            c: [f32; 4],
            x: usize,
            len: usize,
            clamp: Option<(f32, f32)>,
            origin: (usize, usize),
            stride: usize,
        ) -> Self {
            let mut t = Taps { idx: [0; CHUNK], ax: [0.0; CHUNK], ay: [0.0; CHUNK] };
            let lanes = _mm_setr_ps(0.0, 1.0, 2.0, 3.0);
            let (cx, dx, cy, dy) = (_mm_set1_ps(c[0]), _mm_set1_ps(c[1]), _mm_set1_ps(c[2]), _mm_set1_ps(c[3]));
            let (xmax, ymax) = clamp.unwrap_or((0.0, 0.0));
            let (xmax, ymax, zero, st) =
                (_mm_set1_ps(xmax), _mm_set1_ps(ymax), _mm_setzero_ps(), _mm_set1_ps(stride as f32));
            let (ox, oy) = (_mm_set1_ps(origin.0 as f32), _mm_set1_ps(origin.1 as f32));
            for k in (0..len / 4).map(|k| 4 * k) {
                let fx = _mm_add_ps(_mm_set1_ps((x + k) as f32), lanes);
                let mut sx = _mm_add_ps(_mm_mul_ps(dx, fx), cx);
                let mut sy = _mm_add_ps(_mm_mul_ps(dy, fx), cy);
                if clamp.is_some() {
                    // maxps returns its second operand for a NaN first one: NaN → 0, as `f32::max`.
                    sx = _mm_min_ps(_mm_max_ps(sx, zero), xmax);
                    sy = _mm_min_ps(_mm_max_ps(sy, zero), ymax);
                }
                let (tx, ty) = (_mm_cvtepi32_ps(_mm_cvttps_epi32(sx)), _mm_cvtepi32_ps(_mm_cvttps_epi32(sy)));
                _mm_storeu_ps(t.ax[k..k + 4].as_mut_ptr(), _mm_sub_ps(sx, tx));
                _mm_storeu_ps(t.ay[k..k + 4].as_mut_ptr(), _mm_sub_ps(sy, ty));
                let idx = _mm_cvttps_epi32(_mm_add_ps(_mm_mul_ps(_mm_sub_ps(ty, oy), st), _mm_sub_ps(tx, ox)));
                _mm_storeu_si128(t.idx[k..k + 4].as_mut_ptr().cast(), idx);
            }
            t
        }

        /// The bilinear sample of pixel `k` from `d` (rows `stride` apart), as `lerp4`.
        ///
        /// # Safety
        /// SSE2 (the x86-64 baseline). The four taps are read through a bounds-checked slice.
        #[inline(always)]
        unsafe fn sample(&self, k: usize, d: &[[f32; 4]], stride: usize) -> __m128 {
            let i = self.idx[k] as usize;
            // One bounds check for the four taps.
            let w = &d[i..i + stride + 2];
            let (t0, t1) = (_mm_loadu_ps(w[0].as_ptr()), _mm_loadu_ps(w[1].as_ptr()));
            let (u0, u1) = (_mm_loadu_ps(w[stride].as_ptr()), _mm_loadu_ps(w[stride + 1].as_ptr()));
            let (ax, ay) = (_mm_set1_ps(self.ax[k]), _mm_set1_ps(self.ay[k]));
            let top = _mm_add_ps(t0, _mm_mul_ps(_mm_sub_ps(t1, t0), ax));
            let bot = _mm_add_ps(u0, _mm_mul_ps(_mm_sub_ps(u1, u0), ax));
            _mm_add_ps(top, _mm_mul_ps(_mm_sub_ps(bot, top), ay))
        }
    }

    /// `interleave` for the first multiple of four pixels (the same values, bit for bit).
    pub(super) fn interleave(planes: [&[f32]; 3], a: f32, b: f32, dst: &mut [MaybeUninit<[f32; 4]>]) -> usize {
        let [p0, p1, p2] = planes;
        let done = p0.len().min(p1.len()).min(p2.len()).min(dst.len()) / 4 * 4;
        // SAFETY: SSE2 register arithmetic; loads from checked four-element slices of the
        // planes, stores into checked four-pixel slices of `dst`.
        unsafe {
            let (va, vb, zero) = (_mm_set1_ps(a), _mm_set1_ps(b), _mm_setzero_ps());
            for i in (0..done).step_by(4) {
                let load = |p: &[f32]| _mm_add_ps(_mm_mul_ps(_mm_loadu_ps(p[i..i + 4].as_ptr()), va), vb);
                let (r, g, bl) = (load(p0), load(p1), load(p2));
                let (t0, t1) = (_mm_unpacklo_ps(r, g), _mm_unpackhi_ps(r, g)); // r0 g0 r1 g1, r2 g2 r3 g3
                let (t2, t3) = (_mm_unpacklo_ps(bl, zero), _mm_unpackhi_ps(bl, zero)); // b0 0 b1 0, b2 0 b3 0
                let out: *mut f32 = dst[i..i + 4].as_mut_ptr().cast();
                _mm_storeu_ps(out, _mm_movelh_ps(t0, t2));
                _mm_storeu_ps(out.add(4), _mm_movehl_ps(t2, t0));
                _mm_storeu_ps(out.add(8), _mm_movelh_ps(t1, t3));
                _mm_storeu_ps(out.add(12), _mm_movehl_ps(t3, t1));
            }
        }
        done
    }

    /// `fill_rows` for one row: source x = `c[0] + c[1]·x`, y = `c[2] + c[3]·x`, clamped.
    pub(super) fn warp_row(src: &PaddedRgbx, c: [f32; 4], dst: [&mut [MaybeUninit<f32>]; 3]) -> usize {
        let [r, g, b] = dst;
        let done = r.len().min(g.len()).min(b.len()) / 4 * 4;
        let (d, stride) = (src.data, src.stride);
        let max = ((src.width - 1) as f32, (src.height - 1) as f32);
        // SAFETY: SSE2 register arithmetic; loads through checked slices of the padded source
        // and of the chunk's arrays, stores into checked four-element slices.
        unsafe {
            for x0 in (0..done).step_by(CHUNK) {
                let len = CHUNK.min(done - x0);
                let taps = Taps::new(c, x0, len, Some(max), (0, 0), stride);
                for k in (0..len / 4).map(|k| 4 * k) {
                    let (p0, p1) = (taps.sample(k, d, stride), taps.sample(k + 1, d, stride));
                    let (p2, p3) = (taps.sample(k + 2, d, stride), taps.sample(k + 3, d, stride));
                    // RGBX × 4 → RRRR, GGGG, BBBB.
                    let (t0, t1) = (_mm_unpacklo_ps(p0, p1), _mm_unpackhi_ps(p0, p1)); // r0 r1 g0 g1, b0 b1 x x
                    let (t2, t3) = (_mm_unpacklo_ps(p2, p3), _mm_unpackhi_ps(p2, p3)); // r2 r3 g2 g3, b2 b3 x x
                    let x = x0 + k;
                    _mm_storeu_ps(r[x..x + 4].as_mut_ptr().cast(), _mm_movelh_ps(t0, t2));
                    _mm_storeu_ps(g[x..x + 4].as_mut_ptr().cast(), _mm_movehl_ps(t2, t0));
                    _mm_storeu_ps(b[x..x + 4].as_mut_ptr().cast(), _mm_movelh_ps(t1, t3));
                }
            }
        }
        done
    }

    /// The fast span of a `finish` row at blend 1: the pixels `lo..hi` of `row` (RGB8) from the
    /// interleaved output window at x = `c[0] + c[1]·x`, y = `c[2] + c[3]·x`, which `span` keeps
    /// inside (no clamp). Returns the first pixel it did not do.
    pub(super) fn finish_row(win: &Window, c: [f32; 4], lo: usize, hi: usize, row: &mut [u8]) -> usize {
        let (q, o) = (win.data, win.width);
        let done = lo + hi.saturating_sub(lo) / 4 * 4;
        // SAFETY: SSE2 register arithmetic; loads through checked slices of `q` and of the
        // chunk's arrays, stores into checked slices of `row`.
        unsafe {
            let (zero, top, half) = (_mm_setzero_ps(), _mm_set1_ps(255.0), _mm_set1_ps(0.5));
            // Byte masks of each 64-bit half: the first pixel's RGB, the second's after an 8-bit
            // shift; of the whole: the low six bytes.
            let (first, second) = (_mm_set1_epi64x(0xff_ffff), _mm_set1_epi64x(0xffff_ff00_0000));
            let low6 = _mm_set_epi64x(0, 0xffff_ffff_ffff);
            // `to_u8`: maxps returns its second operand for a NaN first one (NaN → 0).
            let to_u8 = |v: __m128| _mm_cvttps_epi32(_mm_add_ps(_mm_min_ps(_mm_max_ps(v, zero), top), half));
            for x0 in (lo..done).step_by(CHUNK) {
                let len = CHUNK.min(done - x0);
                let taps = Taps::new(c, x0, len, None, (win.x0, win.y0), o);
                for k in (0..len / 4).map(|k| 4 * k) {
                    let (p0, p1) = (to_u8(taps.sample(k, q, o)), to_u8(taps.sample(k + 1, q, o)));
                    let (p2, p3) = (to_u8(taps.sample(k + 2, q, o)), to_u8(taps.sample(k + 3, q, o)));
                    // RGBX RGBX | RGBX RGBX (X = 0) → RGBRGB.. | RGBRGB.. → 12 bytes, in registers.
                    let v = _mm_packus_epi16(_mm_packs_epi32(p0, p1), _mm_packs_epi32(p2, p3));
                    let v = _mm_or_si128(_mm_and_si128(v, first), _mm_and_si128(_mm_srli_epi64::<8>(v), second));
                    let v = _mm_or_si128(_mm_and_si128(v, low6), _mm_slli_si128::<6>(_mm_srli_si128::<8>(v)));
                    let x = 3 * (x0 + k);
                    let out = &mut row[x..x + 12];
                    out[..8].copy_from_slice(&(_mm_cvtsi128_si64(v) as u64).to_le_bytes());
                    out[8..].copy_from_slice(&(_mm_cvtsi128_si32(_mm_srli_si128::<8>(v)) as u32).to_le_bytes());
                }
            }
        }
        done
    }
}

/// An opened enhancer model.
pub struct Enhancer {
    session: Arc<ModelSession>,
    input_name: String,
    pub spec: EnhancerSpec,
    /// Whether the batch dimension is dynamic (all faces in one run) or fixed at 1.
    pub batched: bool,
    /// The input tensor, kept across calls: a 512 face is 3 MB that would otherwise be freshly
    /// allocated (page faults) every frame.
    input: Mutex<Vec<f32>>,
}

fn square_rgb_side(sig: &TensorSig) -> Option<Option<usize>> {
    if sig.dims.len() != 4 || !(sig.dims[1] == 3 || sig.dims[1] < 0) {
        return None;
    }
    match (sig.dims[2], sig.dims[3]) {
        (h, w) if h > 0 && h == w => Some(Some(h as usize)),
        (h, w) if h < 0 && w < 0 => Some(None),
        _ => None,
    }
}

impl Enhancer {
    /// Opens and checks a model; `family` = None detects it (see the module docs).
    pub fn open(path: &Path, family: Option<EnhancerFamily>, options: &SessionOptions) -> Result<Self, RuntimeError> {
        // `prepare` and `finish` run on two threads right before and after every run; spinning
        // intra-op workers would take the cores from them (see `SessionOptions::intra_op_spinning`).
        let options = &SessionOptions { intra_op_spinning: false, ..options.clone() };
        let session = load_session(path, options)?;
        let contract_error = |found_note: String| RuntimeError::Contract {
            path: path.display().to_string(),
            role: "enhancer".into(),
            expected: "one input and one output (N,3,256,256) (ghost-sr, gpen-256) or (N,3,512,512) (gfpgan, gpen)"
                .into(),
            found: found_note,
        };
        let found = || {
            let list = |v: &[TensorSig]| v.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ");
            format!("inputs [{}] and outputs [{}]", list(&session.inputs), list(&session.outputs))
        };
        if session.inputs.len() != 1 || session.outputs.is_empty() {
            return Err(contract_error(found()));
        }
        let Some(in_side) = square_rgb_side(&session.inputs[0]) else {
            return Err(contract_error(found()));
        };
        let family = detect_family(family, session.meta(FAMILY_KEY), path, in_side)
            .map_err(|message| RuntimeError::Model { path: path.display().to_string(), message })?;
        let in_size = in_side.unwrap_or(family.default_size());
        if !family.sizes().contains(&in_size) {
            return Err(RuntimeError::Contract {
                path: path.display().to_string(),
                role: format!("{} enhancer", family.name()),
                expected: format!("input (N,3,S,S) with S in {:?}", family.sizes()),
                found: found(),
            });
        }
        let out_size = match square_rgb_side(&session.outputs[0]) {
            Some(Some(s)) => s,
            Some(None) => in_size,
            None => return Err(contract_error(found())),
        };
        let image = |s: usize| [Dim::Any, Dim::Fixed(3), Dim::Fixed(s as i64), Dim::Fixed(s as i64)];
        // Extra outputs (some exports keep intermediate tensors) are ignored; the first is the image.
        if session.outputs.len() == 1 {
            let (i, o) = (TensorSpec::new(&[], &image(in_size)), TensorSpec::new(&[], &image(out_size)));
            session.check(&format!("{} enhancer", family.name()), &[i], &[o])?;
        }
        let batch = session.inputs[0].dims[0];
        if batch > 1 {
            return Err(contract_error(found()));
        }
        Ok(Self {
            input_name: session.inputs[0].name.clone(),
            batched: batch < 0,
            spec: EnhancerSpec { family, in_size, out_size },
            session,
            input: Mutex::new(Vec::new()),
        })
    }

    pub fn path(&self) -> &Path {
        &self.session.path
    }

    /// Runs the network on `n` prepared inputs; returns the `n` outputs back to back.
    pub fn run(&self, input: &[f32], n: usize) -> Result<Vec<f32>, RuntimeError> {
        let s = self.spec.in_size;
        let session = &self.session;
        let t = ort::value::TensorRef::from_array_view(([n, 3, s, s], input)).map_err(|e| session.model_error(e))?;
        let mut guard = session.lock();
        let outputs = guard.run(ort::inputs![self.input_name.as_str() => t]).map_err(|e| session.model_error(e))?;
        let (_, y) = outputs[0].try_extract_tensor::<f32>().map_err(|e| session.model_error(e))?;
        let o = self.spec.out_size;
        if y.len() != n * 3 * o * o {
            return Err(session.model_error(format!("expected {n}x3x{o}x{o} outputs, got {} values", y.len())));
        }
        Ok(y.to_vec())
    }

    /// Enhances every job (one run when the batch is dynamic); returns new crops and affines.
    pub fn enhance(&self, jobs: &[EnhanceJob], blend: f32) -> Result<Vec<(RgbImage, Affine2)>, RuntimeError> {
        let chunk = if self.batched { jobs.len().max(1) } else { 1 };
        let (plane_in, plane_out) = (3 * self.spec.in_size.pow(2), 3 * self.spec.out_size.pow(2));
        let mut results = Vec::with_capacity(jobs.len());
        let mut input = self.input.lock().unwrap_or_else(|e| e.into_inner());
        input.clear();
        input.reserve(chunk * plane_in);
        for group in jobs.chunks(chunk) {
            input.clear();
            let prepared: Vec<Prepared> = group.iter().map(|j| self.spec.prepare(j, &mut input)).collect();
            let y = self.run(&input, group.len())?;
            for ((job, p), out) in group.iter().zip(&prepared).zip(y.chunks_exact(plane_out)) {
                results.push(self.spec.finish(job, p, out, blend));
            }
        }
        Ok(results)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn textured(n: usize) -> RgbImage {
        let mut img = RgbImage::new(n, n);
        for y in 0..n {
            for x in 0..n {
                let (fx, fy) = (x as f32 / n as f32, y as f32 / n as f32);
                let r = 128.0 + 100.0 * (fx * 9.0).sin() * (fy * 7.0).cos();
                let g = 60.0 + 150.0 * fx * fy;
                let b = 128.0 + 90.0 * ((fx + fy) * 5.0).cos();
                img.set(x, y, [r as u8, g as u8, b as u8]);
            }
        }
        img
    }

    /// Keypoints of the GHOST frontal template in a 256 crop, pulled back into a frame by `frame_to_crop`.
    fn job_keypoints(frame_to_crop: &Affine2) -> [[f32; 2]; 5] {
        let inv = frame_to_crop.invert().unwrap();
        crate::vision::ARCFACE_112_V1.map(|p| {
            let (x, y) = inv.apply(p[0] * 256.0 / 112.0, p[1] * 256.0 / 112.0);
            [x as f32, y as f32]
        })
    }

    fn psnr(a: &RgbImage, b: &RgbImage) -> f64 {
        let mse: f64 =
            a.data.iter().zip(&b.data).map(|(&x, &y)| (x as f64 - y as f64).powi(2)).sum::<f64>() / a.data.len() as f64;
        10.0 * (255.0f64 * 255.0 / mse.max(1e-12)).log10()
    }

    #[test]
    fn families_come_from_metadata_then_name_then_size() {
        let p = Path::new("/m/enhancer.onnx");
        assert_eq!(detect_family(Some(EnhancerFamily::Gpen), Some("ghost-sr"), p, Some(256)), Ok(EnhancerFamily::Gpen));
        assert_eq!(
            detect_family(None, Some("ghost-sr"), Path::new("/m/gpen.onnx"), Some(256)),
            Ok(EnhancerFamily::GhostSr)
        );
        assert!(detect_family(None, Some("ghost-swapper"), p, Some(256)).unwrap_err().contains("not an enhancer"));
        assert_eq!(detect_family(None, None, Path::new("/m/10_net_G.onnx"), Some(256)), Ok(EnhancerFamily::GhostSr));
        assert_eq!(detect_family(None, None, Path::new("/m/GPEN-BFR-256.onnx"), Some(256)), Ok(EnhancerFamily::Gpen));
        assert_eq!(detect_family(None, None, Path::new("/m/GFPGANv1.4.onnx"), Some(512)), Ok(EnhancerFamily::Gfpgan));
        assert_eq!(detect_family(None, None, p, Some(512)), Ok(EnhancerFamily::Gfpgan));
        let e = detect_family(None, None, p, Some(256)).unwrap_err();
        assert!(e.contains("family=ghost-sr") && e.contains("/m/enhancer.onnx"), "{e}");
        let e = detect_family(None, None, p, Some(100)).unwrap_err();
        assert!(e.contains("/m/enhancer.onnx") && e.contains("100x100"), "{e}");
    }

    #[test]
    fn ghost_sr_identity_is_bit_exact_and_blend_mixes() {
        let spec = EnhancerSpec { family: EnhancerFamily::GhostSr, in_size: 256, out_size: 256 };
        let crop = textured(256);
        let f2c = Affine2([0.8, 0.1, -30.0, -0.1, 0.8, 12.0]);
        let job = EnhanceJob { crop: &crop, frame_to_crop: f2c, keypoints: job_keypoints(&f2c) };
        let mut x = Vec::new();
        let p = spec.prepare(&job, &mut x);
        assert!(x.iter().all(|v| (0.0..=1.0).contains(v)));
        let (out, affine) = spec.finish(&job, &p, &x, 1.0);
        assert_eq!(out, crop);
        assert_eq!(affine, f2c);
        // A negative tanh output clamps to 0; the inverted image averages to (e+o+1)/2 at blend 0.5.
        let inverted: Vec<f32> = x.iter().map(|v| 1.0 - v).collect();
        let (half, _) = spec.finish(&job, &p, &inverted, 0.5);
        for (h, o) in half.data.iter().zip(&crop.data) {
            assert_eq!(*h as u32, (255 - *o as u32 + *o as u32).div_ceil(2));
        }
        let (none, _) = spec.finish(&job, &p, &inverted, 0.0);
        assert_eq!(none, crop);
        let negative = vec![-0.5f32; x.len()];
        assert!(spec.finish(&job, &p, &negative, 1.0).0.data.iter().all(|&v| v == 0));
    }

    #[test]
    fn template_round_trip_keeps_the_crop_and_maps_keypoints_onto_ffhq() {
        let crop = textured(256);
        let f2c = Affine2([0.9, 0.2, -100.0, -0.2, 0.9, 40.0]);
        let job = EnhanceJob { crop: &crop, frame_to_crop: f2c, keypoints: job_keypoints(&f2c) };
        for (family, n) in [(EnhancerFamily::Gfpgan, 512), (EnhancerFamily::Gpen, 256)] {
            let spec = EnhancerSpec { family, in_size: n, out_size: n };
            let mut x = Vec::new();
            let p = spec.prepare(&job, &mut x);
            assert!(x.iter().all(|v| (-1.0..=1.0).contains(v)));
            // The keypoints land on the template (a least-squares fit: within a few pixels).
            let tpl = EnhancerSpec::template(n);
            for (k, kp) in job.keypoints.iter().enumerate() {
                let (cx, cy) = f2c.apply(kp[0] as f64, kp[1] as f64);
                let (tx, ty) = p.crop_to_input.apply(cx, cy);
                assert!(
                    (tx - tpl[k][0]).abs() < 12.0 * n as f64 / 512.0
                        && (ty - tpl[k][1]).abs() < 12.0 * n as f64 / 512.0,
                    "{family:?} kp {k}: {tx},{ty}"
                );
            }
            let (out, affine) = spec.finish(&job, &p, &x, 1.0);
            assert_eq!((out.width, out.height), (n, n));
            assert_eq!(affine, f2c.then(&resize_affine(256, n)));
            let reference = crate::vision::resize_rgb(&crop, n, n, crate::vision::Filter::Bilinear);
            let db = psnr(&out, &reference);
            assert!(db >= 40.0, "{family:?}: {db:.1} dB");
        }
    }

    #[test]
    fn fast_paths_match_the_per_pixel_reference() {
        // The plain per-pixel formulas (checked samples everywhere) against the span fast paths
        // and the threaded halves: prepare exact to float rounding, finish within one level.
        let crop = textured(256);
        let spec = EnhancerSpec { family: EnhancerFamily::Gfpgan, in_size: 512, out_size: 512 };
        let tilt = Affine2([0.5, 0.12, 50.0, -0.12, 0.5, 80.0]);
        let keypoints = job_keypoints(&Affine2::identity()).map(|p| {
            let (x, y) = tilt.apply(p[0] as f64, p[1] as f64);
            [x as f32, y as f32]
        });
        let job = EnhanceJob { crop: &crop, frame_to_crop: Affine2::identity(), keypoints };
        let mut x = Vec::new();
        let p = spec.prepare(&job, &mut x);
        let n = 512;
        let inv = p.crop_to_input.invert().unwrap().0.map(|v| v as f32);
        for (i, &v) in x[..n * n].iter().enumerate() {
            let (fx, fy) = ((i % n) as f32, (i / n) as f32);
            let q = sample_rgb(&crop, inv[0] * fx + (inv[1] * fy + inv[2]), inv[3] * fx + (inv[4] * fy + inv[5]));
            // (fixed-point weights: within a quarter level)
            assert!((q[0] * 2.0 / 255.0 - 1.0 - v).abs() < 0.3 * 2.0 / 255.0, "input pixel {i}");
        }
        // A model output with texture of its own (the input itself), at several blends.
        for blend in [1.0f32, 0.6] {
            let (out, _) = spec.finish(&job, &p, &x, blend);
            let new_to_old = resize_affine(n, 256);
            let m = new_to_old.then(&p.crop_to_input).then(&resize_affine(n, n)).0.map(|v| v as f32);
            let r = new_to_old.0.map(|v| v as f32);
            let feather = (n as f32 * 0.04).max(2.0);
            let mut worst = 0;
            for yy in 0..n {
                for xx in 0..n {
                    let (fx, fy) = (xx as f32, yy as f32);
                    let (sx, sy) = (m[0] * fx + m[1] * fy + m[2], m[3] * fx + m[4] * fy + m[5]);
                    let w = blend * edge_weight(sx, sy, n as f32, feather);
                    let e = sample_planes(&x, n, sx, sy);
                    let old = sample_rgb(&crop, r[0] * fx + r[2], r[4] * fy + r[5]);
                    for c in 0..3 {
                        let e = (e[c] * 127.5 + 127.5).clamp(0.0, 255.0);
                        let want = to_u8(old[c] + w * (e - old[c])) as i32;
                        worst = worst.max((out.get(xx, yy)[c] as i32 - want).abs());
                    }
                }
            }
            assert!(worst <= 1, "blend {blend}: off by {worst}");
        }
    }

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn sse2_rows_match_the_scalar_pixels() {
        // The four-pixel kernels against the one-pixel formulas they stand for, bit for bit:
        // maps that leave the source (the clamped border), degenerate ones (NaN, huge), a row
        // length that leaves a tail, model outputs beyond [0, 255] and NaN (the to_u8 clamp).
        let src = textured(37);
        let mut buf = Vec::new();
        let padded = PaddedRgbx::new(&src, 2.0 / 255.0, -1.0, &mut buf);
        let n = 150;
        let maps = [
            [-20.0, 0.31, -5.0, 0.07],
            [40.0, -0.29, 10.0, 0.11],
            [3.0, 0.2, 50.0, -0.4],
            [f32::NAN, 1.0, 0.0, f32::NAN],
            [1e30, 1e30, -1e30, 0.0],
        ];
        for c in maps {
            let mut planes = vec![MaybeUninit::new(7.0f32); 3 * n];
            let (r, rest) = planes.split_at_mut(n);
            let (g, b) = rest.split_at_mut(n);
            let done = simd::warp_row(&padded, c, [r, g, b]);
            assert_eq!(done, 148);
            for (x, want) in (0..n).map(|x| (x, warp_px(&padded, c, x))) {
                // SAFETY: every value was initialised at creation.
                let got = [0, 1, 2].map(|k| unsafe { planes[k * n + x].assume_init() });
                let want = if x < done { [want[0], want[1], want[2]] } else { [7.0; 3] };
                assert_eq!(got.map(f32::to_bits), want.map(f32::to_bits), "map {c:?}, pixel {x}");
            }
        }

        let o = 61;
        let y: Vec<f32> = (0..3 * o * o)
            .map(|i| match i % 97 {
                0 => f32::NAN,
                1 => 3.0,
                2 => -2.5,
                _ => (i * 37 % 101) as f32 / 50.0 - 1.0,
            })
            .collect();
        let mut q = Vec::new();
        interleave(&y, o, 127.5, 127.5, (0..o, 0..o), &mut q);
        assert_eq!(q.len(), o * o); // rows of 61: a tail of one pixel
        for (i, px) in q.iter().enumerate() {
            let want = [y[i], y[o * o + i], y[2 * o * o + i]].map(|v| v * 127.5 + 127.5);
            assert_eq!(px.map(f32::to_bits), [want[0], want[1], want[2], 0.0].map(f32::to_bits), "pixel {i}");
        }
        let mut part = Vec::new();
        interleave(&y, o, 127.5, 127.5, (3..50, 7..20), &mut part);
        assert_eq!(part.len(), 47 * 13);
        for (k, px) in part.iter().enumerate() {
            assert_eq!(px.map(f32::to_bits), q[(7 + k / 47) * o + 3 + k % 47].map(f32::to_bits), "window pixel {k}");
        }
        let w = 70;
        for c in [[0.7, 0.83, 5.2, 0.05], [57.0, -0.77, 40.0, -0.3], [30.0, 0.01, 2.0, 0.9]] {
            let (lo, hi) = (1.5, o as f32 - 2.5);
            let (lo, hi) = meet(span(c[0], c[1], lo, hi, w), span(c[2], c[3], lo, hi, w));
            assert!(hi > lo + 8, "map {c:?}: span {lo}..{hi}");
            let whole = Window { data: &q, x0: 0, y0: 0, width: o };
            let mut row = vec![0xaau8; 3 * w];
            let done = simd::finish_row(&whole, c, lo, hi, &mut row);
            assert_eq!(done, lo + (hi - lo) / 4 * 4);
            for x in 0..w {
                let want = if (lo..done).contains(&x) { finish_px(&whole, c, x) } else { [0xaa; 3] };
                assert_eq!(row[3 * x..3 * x + 3], want, "map {c:?}, pixel {x}");
            }
            // A window around the row's taps gives the same bytes.
            let (xs, ys) = ([c[0], c[0] + c[1] * w as f32], [c[2], c[2] + c[3] * w as f32]);
            let (xa, xb) = ((xs[0].min(xs[1]) as usize).saturating_sub(1), (xs[0].max(xs[1]) as usize + 3).min(o));
            let (ya, yb) = ((ys[0].min(ys[1]) as usize).saturating_sub(1), (ys[0].max(ys[1]) as usize + 3).min(o));
            let mut part = Vec::new();
            interleave(&y, o, 127.5, 127.5, (xa..xb, ya..yb), &mut part);
            let win = Window { data: &part, x0: xa, y0: ya, width: xb - xa };
            let mut row2 = vec![0xaau8; 3 * w];
            simd::finish_row(&win, c, lo, hi, &mut row2);
            assert_eq!(row2, row, "map {c:?} in the window {xa}..{xb} x {ya}..{yb}");
        }
    }

    #[test]
    fn outside_the_template_view_the_crop_falls_back_softly() {
        // A crop whose face is small: the template view covers only its middle.
        let crop = textured(256);
        let spec = EnhancerSpec { family: EnhancerFamily::Gfpgan, in_size: 512, out_size: 512 };
        let shrink = Affine2([0.4, 0.0, 77.0, 0.0, 0.4, 77.0]);
        let keypoints = job_keypoints(&Affine2::identity()).map(|p| {
            let (x, y) = shrink.apply(p[0] as f64, p[1] as f64);
            [x as f32, y as f32]
        });
        let job = EnhanceJob { crop: &crop, frame_to_crop: Affine2::identity(), keypoints };
        let mut x = Vec::new();
        let p = spec.prepare(&job, &mut x);
        // A model that outputs black: the border of the new crop keeps the old (upscaled) crop.
        let black = vec![-1.0f32; x.len()];
        let (out, _) = spec.finish(&job, &p, &black, 1.0);
        let reference = crate::vision::resize_rgb(&crop, 512, 512, crate::vision::Filter::Bilinear);
        assert!(out.get(5, 5).iter().zip(reference.get(5, 5)).all(|(a, b)| (*a as i32 - b as i32).abs() <= 1));
        assert_eq!(out.get(256, 256), [0, 0, 0]);
        // No hard step along a row crossing the view's edge.
        let row: Vec<i32> = (0..512).map(|x| out.get(x, 256)[1] as i32).collect();
        let worst = row.windows(2).map(|w| (w[1] - w[0]).abs()).max().unwrap();
        assert!(worst < 40, "largest step {worst}");
    }
}
