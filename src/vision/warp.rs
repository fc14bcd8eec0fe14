// SPDX-License-Identifier: MIT OR Apache-2.0
//! Bilinear affine warping with OpenCV `warpAffine` semantics, and the masked paste-back (compositing) primitive.

use super::affine::Affine2;
use super::image::{MaskF32, RgbImage};
use super::pixel::PackedFrame;

/// How samples outside the source image are obtained.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Border {
    /// A constant RGB value (`cv2.BORDER_CONSTANT` with `borderValue`), blended into edge pixels like OpenCV does.
    Constant([u8; 3]),
    /// Clamp coordinates to the nearest edge pixel (`cv2.BORDER_REPLICATE`).
    Replicate,
}

/// Source coordinate of destination column `x` on a row: (integer part, fraction), in plain floating point
/// (used for float masks; 8-bit images go through the fixed-point path of OpenCV 4.x).
#[inline(always)]
fn src_coord(m_x: f64, x: usize, row_term: f64) -> (i64, f32) {
    let v = m_x * x as f64 + row_term;
    let f = v.floor();
    (f as i64, (v - f) as f32)
}

/// Generic bilinear warp over a source with `C` channels read through `fetch(x, y)` (always in bounds).
/// `border = None` means replicate; `Some(v)` is a constant. Calls `emit(x, y, value)` for every destination pixel.
#[allow(clippy::too_many_arguments, reason = "a kernel: plain buffers and sizes, no struct worth naming")]
#[inline(always)]
fn warp_core<const C: usize>(
    sw: usize,
    sh: usize,
    inv: &Affine2,
    dst_w: usize,
    dst_h: usize,
    border: Option<[f32; C]>,
    fetch: impl Fn(usize, usize) -> [f32; C],
    mut emit: impl FnMut(usize, usize, [f32; C]),
) {
    let m = &inv.0;
    let (w, h) = (sw as i64, sh as i64);
    let tap = |x: i64, y: i64| -> [f32; C] {
        if x >= 0 && y >= 0 && x < w && y < h {
            fetch(x as usize, y as usize)
        } else {
            match border {
                Some(v) => v,
                None => fetch(x.clamp(0, w - 1) as usize, y.clamp(0, h - 1) as usize),
            }
        }
    };
    for dy in 0..dst_h {
        let rx = m[1] * dy as f64 + m[2];
        let ry = m[4] * dy as f64 + m[5];
        for dx in 0..dst_w {
            let (ix, fx) = src_coord(m[0], dx, rx);
            let (iy, fy) = src_coord(m[3], dx, ry);
            let inside = ix >= 0 && iy >= 0 && ix + 1 < w && iy + 1 < h;
            let (p00, p01, p10, p11) = if inside {
                let (x, y) = (ix as usize, iy as usize);
                (fetch(x, y), fetch(x + 1, y), fetch(x, y + 1), fetch(x + 1, y + 1))
            } else {
                if w == 0 || h == 0 || (border.is_some() && (ix < -1 || iy < -1 || ix >= w || iy >= h)) {
                    emit(dx, dy, border.unwrap_or([0.0; C]));
                    continue;
                }
                (tap(ix, iy), tap(ix + 1, iy), tap(ix, iy + 1), tap(ix + 1, iy + 1))
            };
            let mut out = [0.0f32; C];
            for c in 0..C {
                let top = p00[c] + (p01[c] - p00[c]) * fx;
                let bot = p10[c] + (p11[c] - p10[c]) * fx;
                out[c] = top + (bot - top) * fy;
            }
            emit(dx, dy, out);
        }
    }
}

#[inline(always)]
pub(super) fn to_u8(v: f32) -> u8 {
    (v + 0.5).clamp(0.0, 255.0) as u8
}

/// Warps a packed frame into a `dst_w x dst_h` RGB image like `cv2.warpAffine(src, m, (dst_w, dst_h))` with
/// INTER_LINEAR (`m` maps source → destination). Reads only the source pixels it samples (no full-frame
/// conversion). A non-invertible `m` yields an image filled with the border colour (black for `Replicate`).
pub fn warp_affine_packed(src: &PackedFrame, m: &Affine2, dst_w: usize, dst_h: usize, border: Border) -> RgbImage {
    let mut out = RgbImage::new(dst_w, dst_h);
    let Some(inv) = m.invert() else {
        if let Border::Constant(v) = border {
            out.data.chunks_exact_mut(3).for_each(|p| p.copy_from_slice(&v));
        }
        return out;
    };
    if src.width == 0 || src.height == 0 {
        return out;
    }
    warp_fixed_u8(src, &inv, border, &mut out);
    out
}

/// OpenCV 4.x `warpAffine` (INTER_LINEAR, 8-bit) bit for bit: source positions in 1/1024 pixel
/// fixed point, rounded to 1/32 pixel, and the 32x32 table of 15-bit bilinear weights. Written by
/// hand because a generator trained on OpenCV crops must get the very same pixels; no crate does it.
fn warp_fixed_u8(src: &PackedFrame, inv: &Affine2, border: Border, out: &mut RgbImage) {
    const AB_SCALE: f64 = 1024.0;
    const ROUND_DELTA: i64 = 16; // AB_SCALE / 32 / 2
    let m = &inv.0;
    let (w, h) = (src.width as i64, src.height as i64);
    let bpp = src.layout.bytes_per_pixel();
    let [or, og, ob] = src.layout.rgb_offsets();
    let (data, stride) = (src.data, src.stride);
    let fetch = |x: i64, y: i64| -> [i64; 3] {
        let i = y as usize * stride + x as usize * bpp;
        [data[i + or] as i64, data[i + og] as i64, data[i + ob] as i64]
    };
    let tap = |x: i64, y: i64| -> [i64; 3] {
        if x >= 0 && y >= 0 && x < w && y < h {
            fetch(x, y)
        } else {
            match border {
                Border::Constant(v) => v.map(i64::from),
                Border::Replicate => fetch(x.clamp(0, w - 1), y.clamp(0, h - 1)),
            }
        }
    };
    let dst_w = out.width;
    let adelta: Vec<(i64, i64)> = (0..dst_w)
        .map(|x| {
            (
                (m[0] * x as f64 * AB_SCALE).round_ties_even() as i64,
                (m[3] * x as f64 * AB_SCALE).round_ties_even() as i64,
            )
        })
        .collect();
    for (dy, row) in out.data.chunks_exact_mut(dst_w * 3).enumerate() {
        let x0 = ((m[1] * dy as f64 + m[2]) * AB_SCALE).round_ties_even() as i64 + ROUND_DELTA;
        let y0 = ((m[4] * dy as f64 + m[5]) * AB_SCALE).round_ties_even() as i64 + ROUND_DELTA;
        for (px, &(ax, ay)) in row.chunks_exact_mut(3).zip(&adelta) {
            let (fx, fy) = ((x0 + ax) >> 5, (y0 + ay) >> 5);
            let (sx, sy, ux, uy) = (fx >> 5, fy >> 5, fx & 31, fy & 31);
            let inside = sx >= 0 && sy >= 0 && sx + 1 < w && sy + 1 < h;
            if !inside {
                if let Border::Constant(v) = border {
                    if sx >= w || sx + 1 < 0 || sy >= h || sy + 1 < 0 {
                        px.copy_from_slice(&v);
                        continue;
                    }
                }
            }
            let (p00, p01, p10, p11) = if inside {
                (fetch(sx, sy), fetch(sx + 1, sy), fetch(sx, sy + 1), fetch(sx + 1, sy + 1))
            } else {
                (tap(sx, sy), tap(sx + 1, sy), tap(sx, sy + 1), tap(sx + 1, sy + 1))
            };
            let (w00, w01, w10, w11) =
                ((32 - ux) * (32 - uy) * 32, ux * (32 - uy) * 32, (32 - ux) * uy * 32, ux * uy * 32);
            for c in 0..3 {
                let v = p00[c] * w00 + p01[c] * w01 + p10[c] * w10 + p11[c] * w11;
                px[c] = ((v + (1 << 14)) >> 15).clamp(0, 255) as u8;
            }
        }
    }
}

/// [`warp_affine_packed`] for an owned RGB image.
pub fn warp_affine_rgb(src: &RgbImage, m: &Affine2, dst_w: usize, dst_h: usize, border: Border) -> RgbImage {
    warp_affine_packed(&PackedFrame::from_rgb(src), m, dst_w, dst_h, border)
}

/// Warps a float mask like `cv2.warpAffine(mask, m, (dst_w, dst_h))` (bilinear, constant-0 border).
pub fn warp_affine_mask(src: &MaskF32, m: &Affine2, dst_w: usize, dst_h: usize) -> MaskF32 {
    let mut out = MaskF32::new(dst_w, dst_h);
    let Some(inv) = m.invert() else { return out };
    let (sd, sw) = (&src.data, src.width);
    let od = &mut out.data;
    warp_core::<1>(
        src.width,
        src.height,
        &inv,
        dst_w,
        dst_h,
        Some([0.0]),
        |x, y| [sd[y * sw + x]],
        |x, y, v| {
            od[y * dst_w + x] = v[0];
        },
    );
    out
}

#[cfg(test)]
mod tests {
    use super::super::pixel::PixelLayout;
    use super::super::testdata::{f32s, max_diff_f32, max_diff_u8, rows, src_mask, src_rgb};
    use super::*;

    fn mats() -> Vec<Affine2> {
        rows(include_str!("../../tests/data/vision/warp_mats.txt"))
            .into_iter()
            .map(|r| Affine2([r[0], r[1], r[2], r[3], r[4], r[5]]))
            .collect()
    }

    const CONST: [&[u8]; 3] = [
        include_bytes!("../../tests/data/vision/warp0_const.bin"),
        include_bytes!("../../tests/data/vision/warp1_const.bin"),
        include_bytes!("../../tests/data/vision/warp2_const.bin"),
    ];
    const REPL: [&[u8]; 3] = [
        include_bytes!("../../tests/data/vision/warp0_repl.bin"),
        include_bytes!("../../tests/data/vision/warp1_repl.bin"),
        include_bytes!("../../tests/data/vision/warp2_repl.bin"),
    ];

    #[test]
    fn warp_rgb_matches_opencv() {
        let src = src_rgb();
        for (i, m) in mats().iter().enumerate() {
            let c = warp_affine_rgb(&src, m, 40, 32, Border::Constant([10, 200, 30]));
            // Bit-exact with OpenCV 4.x's fixed-point warp.
            assert_eq!(max_diff_u8(&c.data, CONST[i]), 0, "const {i}");
            let r = warp_affine_rgb(&src, m, 40, 32, Border::Replicate);
            assert_eq!(max_diff_u8(&r.data, REPL[i]), 0, "repl {i}");
        }
    }

    #[test]
    fn warp_packed_bgra_odd_stride_equals_rgb() {
        let src = src_rgb();
        let stride = 61 * 4 + 5;
        let mut buf = vec![0xAAu8; stride * 47];
        for y in 0..47 {
            for x in 0..61 {
                let p = src.get(x, y);
                buf[y * stride + x * 4..y * stride + x * 4 + 3].copy_from_slice(&[p[2], p[1], p[0]]);
            }
        }
        let f = PackedFrame::new(&buf, 61, 47, stride, PixelLayout::Bgra);
        let m = mats()[0];
        assert_eq!(
            warp_affine_packed(&f, &m, 40, 32, Border::Constant([1, 2, 3])),
            warp_affine_rgb(&src, &m, 40, 32, Border::Constant([1, 2, 3]))
        );
    }

    #[test]
    fn warp_mask_matches_opencv() {
        // OpenCV 4.x rounds float sample positions to 1/32 px; masks use exact positions, which
        // stays within 1 % of a full-scale mask step.
        let want = f32s(include_bytes!("../../tests/data/vision/warp0_mask_f32.bin"));
        let got = warp_affine_mask(&src_mask(), &mats()[0], 40, 32);
        assert!(max_diff_f32(&got.data, &want) < 0.01, "{}", max_diff_f32(&got.data, &want));
    }

    #[test]
    fn warp_degenerate_fills_border() {
        let src = src_rgb();
        let out = warp_affine_rgb(&src, &Affine2([0.0; 6]), 3, 2, Border::Constant([5, 6, 7]));
        assert!(out.data.chunks(3).all(|p| p == [5, 6, 7]));
    }
}
