// SPDX-License-Identifier: MIT OR Apache-2.0
//! Resampling between an RGB8 face crop and a model's square CHW planes, for face enhancers
//! that work in a template geometry (FFHQ) of their own: [`warp_to_planes`] makes the model
//! input, [`warp_back`] turns the model output into a new crop in our geometry, mixed with the
//! old crop. Both are written for speed (they run on every face of every frame): branch-free
//! inner loops over padded copies, four-pixel SSE2 kernels on x86-64 (no crate offers warps
//! with this border handling and output layout), and two threads per call.

use std::cell::RefCell;
use std::mem::MaybeUninit;
use std::ops::Range;
use std::sync::Mutex;

use super::{Affine2, RgbImage};

/// Warps a planar model output back into a new square crop `img` (side `o`, RGB8), mixed with
/// the old crop: pixel (x, y) of the new crop samples the output at `new_to_out`·(x, y) (as
/// `v·a + b`, `scale = (a, b)`) and the old crop at `new_to_old`·(x, y). `blend` weighs the
/// enhanced value; within `feather` pixels of the edge of the output's view it fades to the old
/// crop (0 = no fade, the output covers the whole crop).
#[allow(clippy::too_many_arguments, reason = "the two maps, the scale and the mix are the geometry")]
pub fn warp_back(
    img: &mut RgbImage,
    y: &[f32],
    crop: &RgbImage,
    new_to_out: &Affine2,
    new_to_old: &Affine2,
    (a, b): (f32, f32),
    blend: f32,
    feather: f32,
) {
    let o = img.width;
    assert_eq!((img.height, y.len()), (o, 3 * o * o), "a square crop and three planes of its size");
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
pub(crate) fn sample_rgb(img: &RgbImage, x: f32, y: f32) -> [f32; 3] {
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
pub(crate) fn sample_planes(planes: &[f32], n: usize, x: f32, y: f32) -> [f32; 3] {
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
pub(crate) fn edge_weight(x: f32, y: f32, n: f32, feather: f32) -> f32 {
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
pub(crate) fn to_u8(v: f32) -> u8 {
    // Round half up without the libm call; the clamp makes the truncation a floor.
    (v.clamp(0.0, 255.0) + 0.5) as u8
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
pub fn warp_to_planes(src: &RgbImage, m: &Affine2, n: usize, dst: &mut [MaybeUninit<f32>], scale: f32, offset: f32) {
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

/// `warp_to_planes` for the rows from `y0` on (`dst`: those rows of the three planes).
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

#[cfg(test)]
mod tests {
    use super::super::testdata::textured;
    use super::*;

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
}
