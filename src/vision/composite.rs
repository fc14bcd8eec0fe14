// SPDX-License-Identifier: MIT OR Apache-2.0
//! Pasting a face crop back into a frame through a soft mask: [`composite_packed`], the plain
//! reference, and [`composite_support`], the fast kernel the blender uses (bit-identical results).
//! The kernel is written by hand (SSE2 lanes over padded copies) because it runs on every face of
//! every frame and no crate composites through an affine map with these border rules.

use super::facemask;
use super::pixel::PackedFrameMut;
use super::warp::to_u8;
use super::{Affine2, MaskF32, RgbImage};

/// The frame pixels whose images can fall in the crop rectangle `(u0, v0, u1, v1)`: the bounding box of
/// its corners mapped by `crop_to_frame`, rounded outwards and clipped to the `width`×`height` frame, as
/// inclusive bounds `(x0, y0, x1, y1)`; `None` when it misses the frame.
pub fn frame_box(
    crop_to_frame: &Affine2,
    (u0, v0, u1, v1): (f64, f64, f64, f64),
    (width, height): (usize, usize),
) -> Option<(usize, usize, usize, usize)> {
    let (mut x0, mut y0, mut x1, mut y1) = (f64::INFINITY, f64::INFINITY, f64::NEG_INFINITY, f64::NEG_INFINITY);
    for (u, v) in [(u0, v0), (u1, v0), (u0, v1), (u1, v1)] {
        let (x, y) = crop_to_frame.apply(u, v);
        x0 = x0.min(x);
        y0 = y0.min(y);
        x1 = x1.max(x);
        y1 = y1.max(y);
    }
    let (x0, y0) = (x0.floor().max(0.0), y0.floor().max(0.0));
    let (x1, y1) = (x1.ceil().min(width as f64 - 1.0), y1.ceil().min(height as f64 - 1.0));
    // Written so that NaN bounds (a degenerate map) give None too.
    if !(x0 <= x1 && y0 <= y1) {
        return None;
    }
    Some((x0 as usize, y0 as usize, x1 as usize, y1 as usize))
}

/// Pastes a warped crop back into the frame: for every frame pixel in the bounding box of the crop's footprint
/// (clipped to the frame, no wrap-around) it samples `crop` (replicated border) and `mask` (zero border)
/// bilinearly at `frame_to_crop(x, y)` and writes `m*crop + (1-m)*frame` rounded, with `m = mask * opacity`.
/// Only that ROI is touched; pixels where `m == 0` stay bit-exact; alpha/padding bytes are never written.
/// Returns `false` (and does nothing) when `frame_to_crop` is not invertible or the footprint misses the frame.
/// Panics if `mask` and `crop` differ in size.
pub fn composite_packed(
    frame: &mut PackedFrameMut,
    crop: &RgbImage,
    mask: &MaskF32,
    frame_to_crop: &Affine2,
    opacity: f32,
) -> bool {
    assert!(mask.width == crop.width && mask.height == crop.height, "composite_packed: mask/crop size mismatch");
    let (cw, ch) = (crop.width, crop.height);
    let Some(inv) = frame_to_crop.invert() else {
        return false;
    };
    if cw == 0 || ch == 0 || frame.width == 0 || frame.height == 0 || opacity <= 0.0 {
        return false;
    }
    // The zero-border mask can be non-zero for crop coordinates in (-1, cw) x (-1, ch).
    let crop_area = (-1.0, -1.0, cw as f64, ch as f64);
    let Some((bx0, by0, bx1, by1)) = frame_box(&inv, crop_area, (frame.width, frame.height)) else {
        return false;
    };
    let opacity = opacity.min(1.0);
    let bpp = frame.layout.bytes_per_pixel();
    let off = frame.layout.rgb_offsets();
    let m = &frame_to_crop.0;
    let (cwi, chi) = (cw as i64, ch as i64);
    let mtap = |x: i64, y: i64| -> f32 {
        if x >= 0 && y >= 0 && x < cwi && y < chi {
            mask.data[y as usize * cw + x as usize]
        } else {
            0.0
        }
    };
    let ctap = |x: i64, y: i64, c: usize| -> f32 {
        let (x, y) = (x.clamp(0, cwi - 1) as usize, y.clamp(0, chi - 1) as usize);
        crop.data[(y * cw + x) * 3 + c] as f32
    };
    for y in by0..=by1 {
        let row = &mut frame.data[y * frame.stride..];
        for x in bx0..=bx1 {
            let u = m[0] * x as f64 + m[1] * y as f64 + m[2];
            let v = m[3] * x as f64 + m[4] * y as f64 + m[5];
            if !(u > -1.0 && v > -1.0 && u < cw as f64 && v < ch as f64) {
                continue;
            }
            let (iu, iv) = (u.floor() as i64, v.floor() as i64);
            let (fu, fv) = ((u - iu as f64) as f32, (v - iv as f64) as f32);
            let w00 = (1.0 - fu) * (1.0 - fv);
            let w01 = fu * (1.0 - fv);
            let w10 = (1.0 - fu) * fv;
            let w11 = fu * fv;
            let a = (w00 * mtap(iu, iv) + w01 * mtap(iu + 1, iv) + w10 * mtap(iu, iv + 1) + w11 * mtap(iu + 1, iv + 1))
                .clamp(0.0, 1.0)
                * opacity;
            if a <= 0.0 {
                continue;
            }
            let px = &mut row[x * bpp..x * bpp + bpp];
            for (c, &o) in off.iter().enumerate() {
                let s = w00 * ctap(iu, iv, c)
                    + w01 * ctap(iu + 1, iv, c)
                    + w10 * ctap(iu, iv + 1, c)
                    + w11 * ctap(iu + 1, iv + 1, c);
                px[o] = to_u8(a * s + (1.0 - a) * px[o] as f32);
            }
        }
    }
    true
}

/// Pastes `crop` into the frame through `mask` like [`composite_packed`] (same sampling, same rounding: bilinear
/// crop with replicated border, bilinear mask with zero border, `m*crop + (1-m)*frame`, `m = mask*opacity`), but
/// only over the mask's support: crop and mask are cut to the support's bounding box and padded by one pixel
/// (replicate / zero), so the inner loop has no bounds checks or clamping, and each frame row only visits the
/// x-range whose crop coordinates fall inside. Returns `false` when nothing could be touched.
pub fn composite_support(
    frame: &mut PackedFrameMut,
    crop: &RgbImage,
    mask: &MaskF32,
    frame_to_crop: &Affine2,
    opacity: f32,
) -> bool {
    assert!(mask.width == crop.width && mask.height == crop.height, "composite_support: mask/crop size mismatch");
    if opacity <= 0.0 || frame.width == 0 || frame.height == 0 {
        return false;
    }
    let Some(inv) = frame_to_crop.invert() else { return false };
    let Some((sx0, sy0, sx1, sy1)) = facemask::support_bbox(mask, 0.0) else { return false };
    let (cw, ch) = (crop.width, crop.height);
    // Sub-rectangle [bx0, bx1] x [by0, by1] of the crop: the support grown by one pixel (the bilinear footprint).
    let (bx0, by0) = (sx0.saturating_sub(1), sy0.saturating_sub(1));
    let (bx1, by1) = ((sx1 + 1).min(cw - 1), (sy1 + 1).min(ch - 1));
    let (sw, sh) = (bx1 - bx0 + 1, by1 - by0 + 1);
    // Padded copies: index (x+1, y+1) holds sub-pixel (x, y); the ring is replicate (crop) / zero (mask), but
    // only where the sub-rectangle touches the crop's edge. Elsewhere the ring holds the real neighbours.
    let (pw, ph) = (sw + 2, sh + 2);
    // One [R, G, B, mask] lane group per padded pixel: a tap is one 16-byte load, the bilinear runs on all four.
    // For 4-byte pixels the lanes follow the frame's byte order (mask in the alpha/x byte's lane), so the
    // composite can run lane-wise on the whole pixel; `lanes[c]` is where channel c (R, G, B, mask) lives.
    let offs = frame.layout.rgb_offsets();
    let lanes = if frame.layout.bytes_per_pixel() == 4 {
        [offs[0], offs[1], offs[2], 6 - offs[0] - offs[1] - offs[2]]
    } else {
        [0, 1, 2, 3]
    };
    let mut pc = vec![[0f32; 4]; pw * ph];
    // The lane order as constants (a run-time lane index costs a stack round trip per value).
    match lanes {
        [0, 1, 2, 3] => fill_padded::<0, 1, 2, 3>(&mut pc, crop, mask, bx0, by0, pw),
        [2, 1, 0, 3] => fill_padded::<2, 1, 0, 3>(&mut pc, crop, mask, bx0, by0, pw),
        [1, 2, 3, 0] => fill_padded::<1, 2, 3, 0>(&mut pc, crop, mask, bx0, by0, pw),
        [3, 2, 1, 0] => fill_padded::<3, 2, 1, 0>(&mut pc, crop, mask, bx0, by0, pw),
        _ => unreachable!("rgb_offsets gives one of the four orders above"),
    }
    // Frame bounding box of the sub-rectangle's sample domain (u in (bx0-1, bx1+1), v likewise).
    let (u0, v0, u1, v1) = (bx0 as f64 - 1.0, by0 as f64 - 1.0, bx1 as f64 + 1.0, by1 as f64 + 1.0);
    let Some((fx0, fy0, fx1, fy1)) = frame_box(&inv, (u0, v0, u1, v1), (frame.width, frame.height)) else {
        return false;
    };
    let (rx0, rx1) = (fx0 as i64, fx1 as i64);
    let bpp = frame.layout.bytes_per_pixel();
    let m = &frame_to_crop.0;
    let opacity = opacity.min(1.0);
    // The sample domain u in (u0, u1), v in (v0, v1) lies inside composite_packed's (-1, cw) x (-1, ch), since
    // u0 = bx0 - 1 >= -1 and u1 = bx1 + 1 <= cw, so this one test is the whole per-pixel condition.
    let inside = |u: f64, v: f64| u > u0 && v > v0 && u < u1 && v < v1;
    for y in fy0..=fy1 {
        let yf = y as f64;
        let (bu, bv) = (m[1] * yf + m[2], m[4] * yf + m[5]);
        // x-range where u in (u0, u1) and v in (v0, v1), widened by a pixel...
        let (mut lo, mut hi) = (rx0 as f64, rx1 as f64);
        for (coef, base, a, b) in [(m[0], bu, u0, u1), (m[3], bv, v0, v1)] {
            if coef.abs() < 1e-12 {
                if !(base > a && base < b) {
                    hi = lo - 1.0;
                }
            } else {
                let (t0, t1) = ((a - base) / coef, (b - base) / coef);
                lo = lo.max(t0.min(t1).floor() - 1.0);
                hi = hi.min(t0.max(t1).ceil() + 1.0);
            }
        }
        if lo > hi {
            continue;
        }
        // ...then trimmed to the exact range with the per-pixel formula below. u and v are rounded linear
        // functions of x, hence monotone, so the pixels passing `inside` form one interval and trimming the ends
        // finds it; the inner loop needs no test.
        let (mut lo, mut hi) = (lo as usize, hi as usize);
        let uv = |x: usize| (m[0] * x as f64 + bu, m[3] * x as f64 + bv);
        while lo <= hi && !inside(uv(lo).0, uv(lo).1) {
            lo += 1;
        }
        while hi > lo && !inside(uv(hi).0, uv(hi).1) {
            hi -= 1;
        }
        if lo > hi || !inside(uv(hi).0, uv(hi).1) {
            continue;
        }
        let row = &mut frame.data[y * frame.stride + lo * bpp..y * frame.stride + (hi + 1) * bpp];
        let span = Span { pc: &pc, pw, ph, bx0, by0, m, bu, bv, opacity, offs, lanes };
        // One monomorphised loop per pixel size and mask lane, so the pixel stride and the lane holding the mask
        // are constants (a run-time lane index sends the vector through the stack).
        match (bpp, lanes[3]) {
            (4, 0) => span.run::<4, 0>(row, lo),
            (4, _) => span.run::<4, 3>(row, lo),
            _ => span.run::<3, 3>(row, lo),
        }
    }
    true
}

/// Fills the padded copy (see composite_support): `pc[py * pw + px]` holds crop pixel (bx0 + px - 1, by0 + py - 1)
/// with R, G, B, mask in lanes R, G, B, M; crop coordinates are clamped (replicate border), the mask is 0 outside.
fn fill_padded<const R: usize, const G: usize, const B: usize, const M: usize>(
    pc: &mut [[f32; 4]],
    crop: &RgbImage,
    mask: &MaskF32,
    bx0: usize,
    by0: usize,
    pw: usize,
) {
    let (cw, ch) = (crop.width, crop.height);
    for (py, prow) in pc.chunks_exact_mut(pw).enumerate() {
        let cy = (by0 + py) as i64 - 1;
        let cyc = cy.clamp(0, ch as i64 - 1) as usize;
        let (crow, mrow) = (&crop.data[cyc * cw * 3..(cyc + 1) * cw * 3], &mask.data[cyc * cw..(cyc + 1) * cw]);
        let row_inside = cy >= 0 && (cy as usize) < ch;
        for (px, e) in prow.iter_mut().enumerate() {
            let cx = (bx0 + px) as i64 - 1;
            let cxc = cx.clamp(0, cw as i64 - 1) as usize;
            let rgb = &crow[cxc * 3..cxc * 3 + 3];
            let inside = row_inside && cx >= 0 && (cx as usize) < cw;
            e[R] = rgb[0] as f32;
            e[G] = rgb[1] as f32;
            e[B] = rgb[2] as f32;
            e[M] = if inside { mrow[cxc] } else { 0.0 };
        }
    }
}

/// One frame row's run of pixels whose crop coordinates all lie in the padded sub-image (see composite_support).
struct Span<'a> {
    pc: &'a [[f32; 4]],
    pw: usize,
    ph: usize,
    bx0: usize,
    by0: usize,
    m: &'a [f64; 6],
    bu: f64,
    bv: f64,
    opacity: f32,
    offs: [usize; 3],
    lanes: [usize; 4],
}

impl Span<'_> {
    #[inline(always)]
    fn run<const BPP: usize, const ML: usize>(&self, row: &mut [u8], x0: usize) {
        let Span { pc, pw, ph: _ph, bx0, by0, m, bu, bv, opacity, offs, lanes } = *self;
        #[cfg(target_arch = "x86_64")]
        let keep = 0xffu32 << (8 * ML);
        // Offsets that turn floor(u), floor(v) into padded indices; wrapping arithmetic because the dev profile
        // checks overflow, and it cannot overflow: floor(u) is in [bx0 - 1, bx1] (see below).
        let (ub, vb) = (bx0 as i64 - 1, by0 as i64 - 1);
        // x as f64, stepped by 1.0 (exact for integers): no u64 -> f64 conversion per pixel.
        let mut xf = x0 as f64 - 1.0;
        for px in row.chunks_exact_mut(BPP) {
            xf += 1.0;
            // Crop coordinates exactly as composite_packed computes them (so the result is bit-identical).
            let u = m[0] * xf + bu;
            let v = m[3] * xf + bv;
            let ((flu, flu_f), (flv, flv_f)) = (floor_i64(u), floor_i64(v));
            let iu = flu.wrapping_sub(ub) as usize;
            let iv = flv.wrapping_sub(vb) as usize;
            let i00 = iv.wrapping_mul(pw).wrapping_add(iu);
            // Checked in unit tests only: in the dev profile (used by the benchmark) a debug_assert costs ~3%.
            #[cfg(test)]
            assert!(iu + 1 < pw && iv + 1 < _ph);
            // SAFETY: the caller trimmed the row to u in (bx0 - 1, bx1 + 1), v in (by0 - 1, by1 + 1), using this
            // same formula for u and v, and floor_i64 is exact. So flu in [bx0 - 1, bx1], iu in [0, sw] and
            // iu + 1 <= sw + 1 = pw - 1; likewise iv + 1 <= ph - 1. All four taps, up to (iv + 1) * pw + iu + 1 < pw * ph, are in `pc`.
            let (t0, t1, b0, b1) = unsafe {
                (
                    pc.get_unchecked(i00),
                    pc.get_unchecked(i00 + 1),
                    pc.get_unchecked(i00 + pw),
                    pc.get_unchecked(i00 + pw + 1),
                )
            };
            // Outside the mask's support no mask tap is > 0, so neither is their bilinear mix (the weights are
            // >= 0): composite_packed leaves such a pixel alone (a <= 0); skip it before any weight is computed.
            // (`|` rather than `||` or f32::max: four compares and no branches or NaN handling.)
            if !((t0[ML] > 0.0) | (t1[ML] > 0.0) | (b0[ML] > 0.0) | (b1[ML] > 0.0)) {
                continue;
            }
            let (fu, fv) = ((u - flu_f) as f32, (v - flv_f) as f32);
            let w00 = (1.0 - fu) * (1.0 - fv);
            let w01 = fu * (1.0 - fv);
            let w10 = (1.0 - fu) * fv;
            let w11 = fu * fv;
            let v4 = bilerp4([t0, t1, b0, b1], [w00, w01, w10, w11]);
            let a = v4[ML].clamp(0.0, 1.0) * opacity;
            if a <= 0.0 {
                continue;
            }
            #[cfg(target_arch = "x86_64")]
            if BPP == 4 {
                let px: &mut [u8; 4] = px.try_into().unwrap();
                *px = composite4(*px, v4, a, keep).to_le_bytes();
                continue;
            }
            for c in 0..3 {
                let o = offs[c];
                // a in (0, 1] and v4 a convex mix of [0, 255] values, so the sum is in [0.5, 256): no clamp
                // needed, and truncating through i32 equals the saturating `as u8`.
                let out = a * v4[lanes[c]] + (1.0 - a) * px[o] as f32 + 0.5;
                // SAFETY: `out` is finite and in [0.5, 256), so it fits an i32; this skips the saturating cast's
                // range and NaN checks. Truncating equals the old `clamp(0, 255) as u8`.
                px[o] = unsafe { out.to_int_unchecked::<i32>() } as u8;
            }
        }
    }
}

/// `x.floor() as i64` for |x| < 2^53 without the libm call `floor` is on baseline x86-64: truncate, then step
/// down where truncation rounded up (negative non-integers). (Truncating `x + 1` instead is wrong where the
/// addition rounds up to an integer, which put a tap one pixel outside the padded copy.)
/// Returns the floor as i64 and as f64.
#[inline(always)]
fn floor_i64(x: f64) -> (i64, f64) {
    let t = x as i64;
    let tf = t as f64;
    let down = tf > x;
    (t.wrapping_sub(down as i64), tf - down as u8 as f64)
}

/// `w[0]*t[0] + w[1]*t[1] + w[2]*t[2] + w[3]*t[3]` on all four lanes of [R, G, B, mask], in that order of
/// operations (so both versions round identically). LLVM leaves the array version scalar here, hence SSE on
/// x86-64, where SSE2 is always available.
#[inline(always)]
fn bilerp4(t: [&[f32; 4]; 4], w: [f32; 4]) -> [f32; 4] {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::*;
        // SAFETY: SSE2 is part of the x86-64 baseline; the loads read exactly the four f32 of each array, and
        // __m128 and [f32; 4] have the same size.
        unsafe {
            let tap = |k: usize| _mm_mul_ps(_mm_loadu_ps(t[k].as_ptr()), _mm_set1_ps(w[k]));
            let sum = _mm_add_ps(_mm_add_ps(_mm_add_ps(tap(0), tap(1)), tap(2)), tap(3));
            // A bit cast, not a store: through memory (and the dev profile's copy checks) the vector missed store
            // forwarding on the lane read that follows.
            std::mem::transmute::<__m128, [f32; 4]>(sum)
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        std::array::from_fn(|c| w[0] * t[0][c] + w[1] * t[1][c] + w[2] * t[2][c] + w[3] * t[3][c])
    }
}

/// One 4-byte pixel composited lane-wise with `v` (already in the pixel's byte order): the same
/// `a * v + (1 - a) * p + 0.5`, truncated, as the scalar path, per byte; the bits of `keep` (the alpha / x byte)
/// are left as they were. Returns the pixel as a little-endian u32.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn composite4(px: [u8; 4], v: [f32; 4], a: f32, keep: u32) -> u32 {
    use std::arch::x86_64::*;
    let p32 = u32::from_le_bytes(px);
    // SAFETY: SSE2 is part of the x86-64 baseline; every intrinsic here works on registers; [f32; 4] and
    // __m128 have the same size.
    let out = unsafe {
        let zero = _mm_setzero_si128();
        let p = _mm_cvtsi32_si128(p32 as i32);
        let pf = _mm_cvtepi32_ps(_mm_unpacklo_epi16(_mm_unpacklo_epi8(p, zero), zero));
        let vf = std::mem::transmute::<[f32; 4], __m128>(v);
        let sum = _mm_add_ps(
            _mm_add_ps(_mm_mul_ps(_mm_set1_ps(a), vf), _mm_mul_ps(_mm_set1_ps(1.0 - a), pf)),
            _mm_set1_ps(0.5),
        );
        // Colour lanes are in [0.5, 256): truncation, then the saturating packs change nothing.
        let i = _mm_cvttps_epi32(sum);
        _mm_cvtsi128_si32(_mm_packus_epi16(_mm_packs_epi32(i, i), zero)) as u32
    };
    // A bit mask rather than `out[keep] = px[keep]`: indexing bytes by a run-time lane goes through the stack
    // and stalls store forwarding, which cost more than the whole blend.
    (out & !keep) | (p32 & keep)
}

#[cfg(test)]
mod tests {
    use super::super::pixel::{PackedFrame, PixelLayout};
    use super::super::testdata::src_rgb;
    use super::super::{warp_affine_rgb, Border};
    use super::*;

    /// A 6x5 BGRx frame with an odd stride; a 2x2 crop placed at frame (2,1) by a pure translation.
    #[test]
    fn composite_basic() {
        let (w, h, stride) = (6, 5, 6 * 4 + 1);
        let mut buf: Vec<u8> = (0..stride * h).map(|i| (i * 7 % 251) as u8).collect();
        let orig = buf.clone();
        let crop = RgbImage::from_raw(2, 2, vec![200, 100, 50, 200, 100, 50, 200, 100, 50, 200, 100, 50]);
        let mut mask = MaskF32::from_raw(2, 2, vec![1.0, 0.5, 0.0, 1.0]);
        let to_crop = Affine2::translate(-2.0, -1.0);
        let mut f = PackedFrameMut::new(&mut buf, w, h, stride, PixelLayout::Bgrx);
        assert!(composite_packed(&mut f, &crop, &mask, &to_crop, 1.0));
        let fr = f.as_frame();
        assert_eq!(fr.rgb(2, 1), [200, 100, 50]);
        assert_eq!(fr.rgb(3, 2), [200, 100, 50]);
        let o = PackedFrame::new(&orig, w, h, stride, PixelLayout::Bgrx);
        let half = |c: u8, f: u8| ((c as f32 + f as f32) * 0.5 + 0.5) as u8;
        let (a, b) = (o.rgb(3, 1), fr.rgb(3, 1));
        assert_eq!(b, [half(200, a[0]), half(100, a[1]), half(50, a[2])]);
        // Mask 0 → untouched; padding bytes and everything outside the 2x2 footprint untouched.
        let changed: Vec<usize> = (0..buf.len()).filter(|&i| buf[i] != orig[i]).collect();
        for i in &changed {
            let (y, x) = (i / stride, (i % stride) / 4);
            assert!((i % stride) % 4 != 3 && (1..=2).contains(&y) && (2..=3).contains(&x) && !(x == 2 && y == 2));
        }
        // Zero mask or singular transform → no change.
        mask.data.fill(0.0);
        let snapshot = buf.clone();
        let mut f = PackedFrameMut::new(&mut buf, w, h, stride, PixelLayout::Bgrx);
        assert!(composite_packed(&mut f, &crop, &mask, &to_crop, 1.0));
        assert!(!composite_packed(&mut f, &crop, &mask, &Affine2([0.0; 6]), 1.0));
        assert_eq!(buf, snapshot);
    }

    /// Round trip: warping a frame into a crop and compositing it back with a full mask reproduces the frame
    /// (±1) inside the footprint, and frames far away from the crop are unaffected.
    #[test]
    fn composite_roundtrip_and_clipping() {
        let src = src_rgb();
        // 90-degree rotation plus integer shift: every sample lands on a pixel centre, so the round trip is exact.
        let m = Affine2([0.0, 1.0, -5.0, -1.0, 0.0, 40.0]);
        let crop = warp_affine_rgb(&src, &m, 30, 30, Border::Replicate);
        let mask = MaskF32::from_raw(30, 30, vec![1.0; 900]);
        let mut out = src.clone();
        let mut f = PackedFrameMut::from_rgb(&mut out);
        assert!(composite_packed(&mut f, &crop, &mask, &m, 1.0));
        for y in 0..47 {
            for x in 0..61 {
                let (u, v) = m.apply(x as f64, y as f64);
                if u >= 1.0 && v >= 1.0 && u <= 28.0 && v <= 28.0 {
                    let (a, b) = (src.get(x, y), out.get(x, y));
                    assert_eq!(a, b, "({x},{y})");
                } else if u < -1.5 || v < -1.5 || u > 30.5 || v > 30.5 {
                    assert_eq!(src.get(x, y), out.get(x, y));
                }
            }
        }
        // Footprint entirely outside the frame → false, no change.
        let mut f = PackedFrameMut::from_rgb(&mut out);
        assert!(!composite_packed(&mut f, &crop, &mask, &Affine2::translate(500.0, 500.0), 1.0));
    }

    #[test]
    fn composite_support_equals_composite_packed() {
        use crate::vision::PixelLayout;
        let (w, h, stride) = (173, 141, 173 * 4 + 3);
        let base: Vec<u8> = (0..stride * h).map(|i| (i * 37 % 253) as u8).collect();
        let mut crop = RgbImage::new(64, 64);
        crop.data.iter_mut().enumerate().for_each(|(i, v)| *v = (i * 13 % 241) as u8);
        let mut mask = MaskF32::new(64, 64);
        for y in 0..64 {
            for x in 0..64 {
                let d = ((x as f32 - 30.0).powi(2) + (y as f32 - 34.0).powi(2)).sqrt();
                mask.data[y * 64 + x] = (1.0 - (d - 15.0) / 10.0).clamp(0.0, 1.0);
            }
        }
        let full = {
            let mut m = MaskF32::new(64, 64);
            m.data.fill(1.0);
            m
        };
        for (k, m) in [
            Affine2([0.8, 0.3, -40.0, -0.3, 0.8, -20.0]),
            Affine2([0.3, -0.1, 5.0, 0.1, 0.3, 2.0]),
            Affine2([2.5, 0.0, -100.0, 0.0, 2.5, -300.0]),
            Affine2::translate(-150.0, -120.0),
            Affine2::translate(-3.5, 10.25),
        ]
        .iter()
        .enumerate()
        {
            for (mk, mm) in [&mask, &full].into_iter().enumerate() {
                let (mut a, mut b) = (base.clone(), base.clone());
                let ra = composite_packed(
                    &mut PackedFrameMut::new(&mut a, w, h, stride, PixelLayout::Bgra),
                    &crop,
                    mm,
                    m,
                    0.9,
                );
                let rb = composite_support(
                    &mut PackedFrameMut::new(&mut b, w, h, stride, PixelLayout::Bgra),
                    &crop,
                    mm,
                    m,
                    0.9,
                );
                assert_eq!(a, b, "case {k} mask {mk}");
                assert!(ra || !rb);
            }
        }
    }
}
