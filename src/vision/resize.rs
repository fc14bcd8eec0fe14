// SPDX-License-Identifier: MIT OR Apache-2.0
//! Image resizing matching `cv2.resize` (INTER_LINEAR / INTER_AREA), hand-written because
//! `fast_image_resize`'s bilinear filter antialiases on downscale and differs from OpenCV.

use std::ops::Range;

use super::image::{MaskF32, RgbImage};
use super::pixel::{unpack_row, PackedFrame};

/// Resampling filter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Filter {
    /// `cv2.INTER_LINEAR`: half-pixel-centre bilinear, no antialiasing (aliases on strong downscale, like OpenCV).
    Bilinear,
    /// `cv2.INTER_AREA`: exact pixel-area averaging when shrinking both axes; otherwise OpenCV's
    /// area-style bilinear coefficients.
    Area,
}

/// One bilinear tap pair per destination index: (first source index, second source index, weight of second).
fn linear_tab(src: usize, dst: usize, area_coeffs: bool) -> Vec<(usize, usize, f32)> {
    let scale = src as f64 / dst as f64;
    let inv = dst as f64 / src as f64;
    (0..dst)
        .map(|d| {
            let (mut s, mut f);
            if area_coeffs {
                s = (d as f64 * scale).floor() as i64;
                let v = ((d + 1) as f64 - (s + 1) as f64 * inv) as f32;
                f = if v <= 0.0 { 0.0 } else { v - v.floor() };
            } else {
                let v = ((d as f64 + 0.5) * scale - 0.5) as f32;
                s = v.floor() as i64;
                f = v - s as f32;
            }
            if s < 0 {
                s = 0;
                f = 0.0;
            }
            if s >= src as i64 - 1 {
                s = src as i64 - 1;
                f = 0.0;
            }
            let s = s as usize;
            (s, (s + 1).min(src - 1), f)
        })
        .collect()
}

/// OpenCV `computeResizeAreaTab`: (source index, destination index, weight), grouped by destination index.
fn area_tab(src: usize, dst: usize) -> Vec<(usize, usize, f32)> {
    let scale = src as f64 / dst as f64;
    let mut tab = Vec::with_capacity(src * 2);
    for d in 0..dst {
        let fs1 = d as f64 * scale;
        let fs2 = fs1 + scale;
        let cell = scale.min(src as f64 - fs1);
        let mut s2 = fs2.floor() as usize;
        s2 = s2.min(src - 1);
        let s1 = (fs1.ceil() as usize).min(s2);
        if s1 as f64 - fs1 > 1e-3 {
            tab.push((s1 - 1, d, ((s1 as f64 - fs1) / cell) as f32));
        }
        for s in s1..s2 {
            tab.push((s, d, (1.0 / cell) as f32));
        }
        if fs2 - s2 as f64 > 1e-3 {
            tab.push((s2, d, ((fs2 - s2 as f64).min(1.0).min(cell) / cell) as f32));
        }
    }
    tab
}

/// [`area_tab`] regrouped for a gather: every destination index gets the same number of taps `k`
/// (the widest cell; short cells are padded with weight-0 taps on a valid source index), so the
/// loop has no data-dependent trip count and no scattered read-modify-write (the entry-by-entry
/// scatter into one accumulator was a store-to-load dependency chain and most of the resize time).
/// Adding `x * 0.0` leaves a finite sum unchanged and the real taps keep their order, so the sums
/// are bit-identical to OpenCV's entry-by-entry accumulation.
struct AreaGather {
    k: usize,
    /// `idx[d * k + t]`: source index (already multiplied by the channel count) of tap `t` of `d`.
    idx: Vec<usize>,
    /// `w[d * k + t]`: weight of that tap.
    w: Vec<f32>,
}

impl AreaGather {
    fn new(tab: &[(usize, usize, f32)], dst: usize, channels: usize) -> AreaGather {
        let mut count = vec![0usize; dst];
        for &(_, d, _) in tab {
            count[d] += 1;
        }
        let k = count.iter().copied().max().unwrap_or(0);
        let mut idx = vec![usize::MAX; k * dst];
        let mut w = vec![0f32; k * dst];
        count.fill(0);
        for &(s, d, wt) in tab {
            idx[d * k + count[d]] = s * channels;
            w[d * k + count[d]] = wt;
            count[d] += 1;
        }
        // Padding taps read the cell's first pixel (any valid index would do).
        for d in 0..dst {
            for t in count[d]..k {
                idx[d * k + t] = idx[d * k];
            }
        }
        AreaGather { k, idx, w }
    }

    /// Horizontal area sum of one source row into `dst` (`C` interleaved channels). Each destination
    /// pixel is summed in registers; consecutive pixels are independent, so their add chains overlap
    /// (a tap-major loop over the destination row measured slower even for 70-tap cells).
    fn apply<const C: usize>(&self, src: &[f32], dst: &mut [f32]) {
        let k = self.k;
        for ((d, idx), w) in dst.chunks_exact_mut(C).zip(self.idx.chunks_exact(k)).zip(self.w.chunks_exact(k)) {
            let mut acc = [0f32; C];
            for (&i, &wx) in idx.iter().zip(w) {
                let s = &src[i..i + C];
                for c in 0..C {
                    acc[c] += s[c] * wx;
                }
            }
            // Per-element stores: a block copy of the array reloads it through mismatched-width
            // stores and stalls store forwarding.
            #[allow(clippy::manual_memcpy, reason = "a block copy here is slower (store forwarding)")]
            for c in 0..C {
                d[c] = acc[c];
            }
        }
    }
}

/// INTER_AREA shrink (both axes) of f32 rows with `C` interleaved channels, in OpenCV's order:
/// horizontal sums per source row, then the weighted sum of those rows. A source row on a cell
/// boundary feeds two destination rows but is summed once.
fn area_shrink<const C: usize>(
    (sw, sh): (usize, usize),
    (dw, dh): (usize, usize),
    rows: Range<usize>,
    mut fetch: impl FnMut(usize, &mut [f32]),
    mut emit: impl FnMut(usize, &[f32]),
) {
    let xg = AreaGather::new(&area_tab(sw, dw), dw, C);
    // Each destination row is a sum over its own table entries: a row range is the same rows.
    let yt: Vec<_> = area_tab(sh, dh).into_iter().filter(|e| rows.contains(&e.1)).collect();
    if yt.is_empty() {
        return;
    }
    let mut srow = vec![0f32; sw * C];
    let mut hbuf = vec![0f32; dw * C];
    let mut out = vec![0f32; dw * C];
    let mut have = usize::MAX;
    let mut cur = usize::MAX;
    for &(sy, dy, wy) in &yt {
        if dy != cur {
            if cur != usize::MAX {
                emit(cur, &out);
            }
            out.fill(0.0);
            cur = dy;
        }
        if sy != have {
            fetch(sy, &mut srow);
            xg.apply::<C>(&srow, &mut hbuf);
            have = sy;
        }
        for (o, h) in out.iter_mut().zip(&hbuf) {
            *o += h * wy;
        }
    }
    emit(cur, &out);
}

/// INTER_AREA shrink of tightly packed RGB (`sw`×`sh` → `dw`×`dh`, both axes shrinking) with OpenCV's
/// weights and rounding but the vertical pass first, for the destination rows in `rows`. Summing whole
/// source rows is a streaming multiply-add that vectorises (OpenCV's horizontal-first order is a gather
/// per source row); for the MTCNN pyramid, which shrinks the full frame about ten times, this is most of
/// the resize time. The other order rounds differently, so a pixel whose sum lands on a rounding tie
/// can come out one level off `cv2.resize` (tested: rare and never more than one).
pub(crate) fn area_shrink_rgb_rows(
    src: &[u8],
    (sw, sh): (usize, usize),
    (dw, dh): (usize, usize),
    rows: Range<usize>,
    mut emit: impl FnMut(usize, &[u8]),
) {
    assert!(sw >= dw && sh >= dh && dw > 0 && dh > 0 && src.len() >= sw * sh * 3);
    let xg = AreaGather::new(&area_tab(sw, dw), dw, 3);
    let yt = area_tab(sh, dh);
    let mut column_sums = vec![0f32; sw * 3];
    let mut row = vec![0f32; dw * 3];
    let mut out = vec![0u8; dw * 3];
    let mut i = yt.partition_point(|e| e.1 < rows.start);
    while i < yt.len() && yt[i].1 < rows.end {
        let dy = yt[i].1;
        let mut first = true;
        while i < yt.len() && yt[i].1 == dy {
            let (sy, _, wy) = yt[i];
            add_scaled_row(&mut column_sums, &src[sy * sw * 3..(sy + 1) * sw * 3], wy, first);
            first = false;
            i += 1;
        }
        xg.apply::<3>(&column_sums, &mut row);
        for (o, &v) in out.iter_mut().zip(&row) {
            *o = to_u8(v);
        }
        emit(dy, &out);
    }
}

/// `acc += row * w` (`acc = row * w` when `first`), element by element; AVX2 when the CPU has it
/// (8 lanes instead of SSE2's 4).
fn add_scaled_row(acc: &mut [f32], row: &[u8], w: f32, first: bool) {
    #[inline(always)]
    fn plain(acc: &mut [f32], row: &[u8], w: f32, first: bool) {
        if first {
            for (a, &v) in acc.iter_mut().zip(row) {
                *a = v as f32 * w;
            }
        } else {
            for (a, &v) in acc.iter_mut().zip(row) {
                *a += v as f32 * w;
            }
        }
    }
    #[cfg(target_arch = "x86_64")]
    {
        /// `plain` compiled for AVX2.
        ///
        /// # Safety
        /// The CPU must support AVX2.
        #[target_feature(enable = "avx2")]
        unsafe fn avx2(acc: &mut [f32], row: &[u8], w: f32, first: bool) {
            plain(acc, row, w, first)
        }
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU has AVX2.
            return unsafe { avx2(acc, row, w, first) };
        }
    }
    plain(acc, row, w, first)
}

/// Separable resize core on f32 rows with `C` interleaved channels. `fetch(y, row)` fills source row `y`
/// (`sw * C` floats); `emit(y, row)` receives destination row `y` (`dw * C` floats) for `y` in `rows`.
fn resize_core<const C: usize>(
    (sw, sh): (usize, usize),
    (dw, dh): (usize, usize),
    filter: Filter,
    out_rows: Range<usize>,
    mut fetch: impl FnMut(usize, &mut [f32]),
    mut emit: impl FnMut(usize, &[f32]),
) {
    if dw == 0 || dh == 0 || sw == 0 || sh == 0 {
        return;
    }
    let shrink = sw >= dw && sh >= dh;
    if filter == Filter::Area && shrink {
        return area_shrink::<C>((sw, sh), (dw, dh), out_rows, fetch, emit);
    }
    let mut srow = vec![0f32; sw * C];
    let mut out = vec![0f32; dw * C];
    let area = filter == Filter::Area;
    let xt = linear_tab(sw, dw, area);
    let yt = linear_tab(sh, dh, area);
    // Horizontally resampled rows for the two source rows currently in use (cached across destination rows).
    let mut rows = [vec![0f32; dw * C], vec![0f32; dw * C]];
    let mut have = [usize::MAX, usize::MAX];
    let hresize = |srow: &[f32], dst: &mut [f32]| {
        for (d, &(x0, x1, f)) in dst.chunks_exact_mut(C).zip(&xt) {
            for c in 0..C {
                let a = srow[x0 * C + c];
                d[c] = a + (srow[x1 * C + c] - a) * f;
            }
        }
    };
    for (dy, &(y0, y1, fy)) in yt.iter().enumerate() {
        if !out_rows.contains(&dy) {
            continue;
        }
        if have[0] != y0 {
            if have[1] == y0 {
                rows.swap(0, 1);
                have.swap(0, 1);
            } else {
                fetch(y0, &mut srow);
                hresize(&srow, &mut rows[0]);
                have[0] = y0;
            }
        }
        if y1 != y0 && have[1] != y1 {
            fetch(y1, &mut srow);
            hresize(&srow, &mut rows[1]);
            have[1] = y1;
        }
        let r0 = &rows[0];
        let r1 = if y1 == y0 { &rows[0] } else { &rows[1] };
        for ((o, a), b) in out.iter_mut().zip(r0).zip(r1) {
            *o = a + (b - a) * fy;
        }
        emit(dy, &out);
    }
}

/// OpenCV's 8-bit INTER_LINEAR, bit for bit: weights in 11-bit fixed point (rounded half to
/// even), a horizontal pass into i32 rows, and the vertical pass of its SIMD kernel
/// (`((r0>>4)*b0 >> 16) + ((r1>>4)*b1 >> 16) + 2) >> 2`). Written by hand because a trained
/// generator's input must match the reference's resize exactly; no crate reproduces it.
/// Columns clamp their weights at the borders; rows keep theirs and clamp the row index, as OpenCV.
fn resize_linear_u8(
    (sw, sh): (usize, usize),
    (dw, dh): (usize, usize),
    out_rows: Range<usize>,
    mut fetch: impl FnMut(usize, &mut [u8]),
    mut emit: impl FnMut(usize, &[u8]),
) {
    const C: usize = 3;
    if dw == 0 || dh == 0 || sw == 0 || sh == 0 {
        return;
    }
    let weights = |f: f32| {
        let a0 = ((1.0 - f) * 2048.0).round_ties_even() as i32;
        let a1 = (f * 2048.0).round_ties_even() as i32;
        (a0, a1)
    };
    let position = |d: usize, src: usize, dst: usize| {
        let scale = 1.0 / (dst as f64 / src as f64);
        let v = ((d as f64 + 0.5) * scale - 0.5) as f32;
        let s = v.floor();
        (s as i64, v - s)
    };
    let xt: Vec<(usize, usize, i32, i32)> = (0..dw)
        .map(|d| {
            let (mut s, mut f) = position(d, sw, dw);
            if s < 0 {
                (s, f) = (0, 0.0);
            }
            if s >= sw as i64 - 1 {
                (s, f) = (sw as i64 - 1, 0.0);
            }
            let (a0, a1) = weights(f);
            (s as usize, (s as usize + 1).min(sw - 1), a0, a1)
        })
        .collect();
    let clamp_row = |y: i64| y.clamp(0, sh as i64 - 1) as usize;
    let mut srow = vec![0u8; sw * C];
    let mut rows = [vec![0i32; dw * C], vec![0i32; dw * C]];
    let mut have = [usize::MAX, usize::MAX];
    let mut out = vec![0u8; dw * C];
    let hresize = |srow: &[u8], dst: &mut [i32]| {
        for (d, &(x0, x1, a0, a1)) in dst.chunks_exact_mut(C).zip(&xt) {
            for c in 0..C {
                d[c] = srow[x0 * C + c] as i32 * a0 + srow[x1 * C + c] as i32 * a1;
            }
        }
    };
    for dy in out_rows.start..out_rows.end.min(dh) {
        let (sy, fy) = position(dy, sh, dh);
        let (b0, b1) = weights(fy);
        let (y0, y1) = (clamp_row(sy), clamp_row(sy + 1));
        for (slot, y) in [y0, y1].into_iter().enumerate() {
            if have[slot] != y {
                if have[1 - slot] == y {
                    let (first, second) = rows.split_at_mut(1);
                    let (dst, src) = if slot == 0 { (&mut first[0], &second[0]) } else { (&mut second[0], &first[0]) };
                    dst.copy_from_slice(src);
                } else {
                    fetch(y, &mut srow);
                    hresize(&srow, &mut rows[slot]);
                }
                have[slot] = y;
            }
        }
        for ((o, &r0), &r1) in out.iter_mut().zip(&rows[0]).zip(&rows[1]) {
            let v = (((r0 >> 4) * b0) >> 16) + (((r1 >> 4) * b1) >> 16);
            *o = ((v + 2) >> 2).clamp(0, 255) as u8;
        }
        emit(dy, &out);
    }
}

#[inline(always)]
fn to_u8(v: f32) -> u8 {
    (v + 0.5).clamp(0.0, 255.0) as u8
}

/// Resizes a whole packed frame straight into an RGB image (one pass; only the source rows that are sampled
/// are unpacked, one at a time).
pub fn resize_packed(src: &PackedFrame, w: usize, h: usize, filter: Filter) -> RgbImage {
    let mut out = RgbImage::new(w, h);
    resize_packed_into(src, w, h, filter, &mut out.data, w * 3);
    out
}

/// Like [`resize_packed`] but writes the `w x h` RGB result into `dst` with row stride `dst_stride` bytes.
pub(super) fn resize_packed_into(
    src: &PackedFrame,
    w: usize,
    h: usize,
    filter: Filter,
    dst: &mut [u8],
    dst_stride: usize,
) {
    resize_packed_rows(src, w, h, filter, |y, row| dst[y * dst_stride..y * dst_stride + w * 3].copy_from_slice(row));
}

/// Resizes a packed frame to `w x h` RGB and hands each finished row to `emit(y, row)` (`w * 3` bytes),
/// so that callers can convert or lay out the result without an intermediate image.
pub(crate) fn resize_packed_rows(
    src: &PackedFrame,
    w: usize,
    h: usize,
    filter: Filter,
    emit: impl FnMut(usize, &[u8]),
) {
    resize_packed_rows_in(src, w, h, filter, 0..h, emit);
}

/// [`resize_packed_rows`] for the destination rows in `rows` only (the same values as the whole resize).
pub(crate) fn resize_packed_rows_in(
    src: &PackedFrame,
    w: usize,
    h: usize,
    filter: Filter,
    rows: Range<usize>,
    mut emit: impl FnMut(usize, &[u8]),
) {
    if w == 0 || h == 0 || src.width == 0 || src.height == 0 {
        return;
    }
    let bpp = src.layout.bytes_per_pixel();
    let fetch_u8 = |y: usize, row: &mut [u8]| {
        let start = y * src.stride;
        unpack_row(src.layout, &src.data[start..start + src.width * bpp], row);
    };
    if (w, h) == (src.width, src.height) {
        // Same size: cv2.resize copies, whatever the filter.
        let mut row = vec![0u8; w * 3];
        for y in rows.start..rows.end.min(h) {
            fetch_u8(y, &mut row);
            emit(y, &row);
        }
        return;
    }
    // OpenCV turns an exact 2x bilinear shrink of 8-bit images into INTER_AREA.
    let halving = src.width == 2 * w && src.height == 2 * h;
    if filter == Filter::Bilinear && !halving {
        return resize_linear_u8((src.width, src.height), (w, h), rows, fetch_u8, emit);
    }
    let mut out = vec![0u8; w * 3];
    let emit_f32 = |y: usize, row: &[f32]| {
        for (d, s) in out.iter_mut().zip(row) {
            *d = to_u8(*s);
        }
        emit(y, &out);
    };
    let mut tmp = vec![0u8; src.width * 3];
    // Exact 2x bilinear shrinks are INTER_AREA too (resize_core takes the area path for any shrink).
    let filter = if halving { Filter::Area } else { filter };
    resize_core::<3>(
        (src.width, src.height),
        (w, h),
        filter,
        rows,
        |y, row| {
            fetch_u8(y, &mut tmp);
            for (d, s) in row.iter_mut().zip(&tmp) {
                *d = *s as f32;
            }
        },
        emit_f32,
    );
}

/// Resizes an RGB image like `cv2.resize(src, (w, h), interpolation=INTER_LINEAR | INTER_AREA)` (±1 level).
pub fn resize_rgb(src: &RgbImage, w: usize, h: usize, filter: Filter) -> RgbImage {
    resize_packed(&PackedFrame::from_rgb(src), w, h, filter)
}

/// Resizes a float RGB image (3 interleaved channels, no rounding) like `cv2.resize` on a float32
/// image: `src` is `sw x sh`, `dst` receives `dw x dh`.
pub fn resize_f32_rgb(
    src: &[f32],
    (sw, sh): (usize, usize),
    dst: &mut [f32],
    (dw, dh): (usize, usize),
    filter: Filter,
) {
    resize_core::<3>(
        (sw, sh),
        (dw, dh),
        filter,
        0..dh,
        |y, row| row.copy_from_slice(&src[y * sw * 3..(y + 1) * sw * 3]),
        |y, row| dst[y * dw * 3..(y + 1) * dw * 3].copy_from_slice(row),
    );
}

/// [`resize_f32_rgb`] with the source rows made on demand (`fetch(y, row)` fills `sw * 3` floats) and
/// the destination rows handed to `emit(y, row)`: no source or destination image in memory.
pub(crate) fn resize_f32_rgb_rows(
    (sw, sh): (usize, usize),
    (dw, dh): (usize, usize),
    filter: Filter,
    fetch: impl FnMut(usize, &mut [f32]),
    emit: impl FnMut(usize, &[f32]),
) {
    resize_core::<3>((sw, sh), (dw, dh), filter, 0..dh, fetch, emit);
}

/// Bilinear resize of a float mask like `cv2.resize(mask, (w, h))` (INTER_LINEAR).
pub fn resize_mask(src: &MaskF32, w: usize, h: usize) -> MaskF32 {
    let mut out = MaskF32::new(w, h);
    let od = &mut out.data;
    resize_core::<1>(
        (src.width, src.height),
        (w, h),
        Filter::Bilinear,
        0..h,
        |y, row| row.copy_from_slice(&src.data[y * src.width..(y + 1) * src.width]),
        |y, row| od[y * w..(y + 1) * w].copy_from_slice(row),
    );
    out
}

#[cfg(test)]
mod tests {
    use super::super::testdata::{f32s, max_diff_f32, max_diff_u8, src_mask, src_rgb};
    use super::*;

    #[test]
    fn float_area_shrink_by_two_averages_blocks() {
        let src: Vec<f32> = (0..4 * 4 * 3).map(|i| (i / 3) as f32).collect();
        let mut out = vec![0f32; 2 * 2 * 3];
        resize_f32_rgb(&src, (4, 4), &mut out, (2, 2), Filter::Area);
        // Top-left 2x2 block of pixel indices 0,1,4,5 → 2.5; bottom-right 10,11,14,15 → 12.5.
        assert!((out[0] - 2.5).abs() < 1e-5);
        assert!((out[9] - 12.5).abs() < 1e-5);
    }

    #[test]
    fn same_size_is_a_copy() {
        let src = src_rgb();
        for filter in [Filter::Bilinear, Filter::Area] {
            assert_eq!(resize_rgb(&src, src.width, src.height, filter).data, src.data);
        }
    }

    #[test]
    fn a_row_range_gives_the_same_rows_as_the_whole_resize() {
        let src = src_rgb();
        let frame = PackedFrame::from_rgb(&src);
        for (filter, w, h) in
            [(Filter::Area, 29, 21), (Filter::Area, 90, 60), (Filter::Bilinear, 29, 21), (Filter::Bilinear, 130, 90)]
        {
            let mut whole = vec![0u8; w * h * 3];
            resize_packed_rows(&frame, w, h, filter, |y, row| whole[y * w * 3..(y + 1) * w * 3].copy_from_slice(row));
            for range in [0..h, 0..1, 3..11, h - 5..h] {
                let mut seen = Vec::new();
                resize_packed_rows_in(&frame, w, h, filter, range.clone(), |y, row| {
                    assert_eq!(row, &whole[y * w * 3..(y + 1) * w * 3], "{filter:?} {w}x{h} row {y} of {range:?}");
                    seen.push(y);
                });
                assert_eq!(seen, range.collect::<Vec<_>>());
            }
        }
    }

    #[test]
    fn vertical_first_area_shrink_is_within_one_level_of_opencv() {
        let src = src_rgb();
        let frame = PackedFrame::from_rgb(&src);
        let (mut differing, mut total) = (0, 0);
        for (w, h) in [(src.width, src.height), (29, 21), (45, 30), (61, 40), (12, 12), (1, 1)] {
            let mut exact = vec![0u8; w * h * 3];
            resize_packed_rows(&frame, w, h, Filter::Area, |y, row| {
                exact[y * w * 3..(y + 1) * w * 3].copy_from_slice(row)
            });
            for rows in [0..h, h / 2..h] {
                let mut seen = Vec::new();
                area_shrink_rgb_rows(&src.data, (src.width, src.height), (w, h), rows.clone(), |y, row| {
                    let want = &exact[y * w * 3..(y + 1) * w * 3];
                    assert!(max_diff_u8(row, want) <= 1, "{w}x{h} row {y}");
                    differing += row.iter().zip(want).filter(|(a, b)| a != b).count();
                    total += row.len();
                    seen.push(y);
                });
                assert_eq!(seen, rows.collect::<Vec<_>>());
            }
        }
        assert!(differing * 1000 <= total, "{differing} of {total} values off by one");
    }

    #[test]
    fn bilinear_matches_opencv() {
        let src = src_rgb();
        let cases: [(usize, usize, &[u8]); 3] = [
            (29, 21, include_bytes!("../../tests/data/vision/resize_lin_29x21.bin")),
            (90, 60, include_bytes!("../../tests/data/vision/resize_lin_90x60.bin")),
            (30, 23, include_bytes!("../../tests/data/vision/resize_lin_30x23.bin")),
        ];
        for (w, h, want) in cases {
            let d = max_diff_u8(&resize_rgb(&src, w, h, Filter::Bilinear).data, want);
            assert_eq!(d, 0, "{w}x{h}: bit-exact with OpenCV");
        }
    }

    #[test]
    fn area_matches_opencv() {
        let src = src_rgb();
        let cases: [(usize, usize, &[u8]); 4] = [
            (29, 21, include_bytes!("../../tests/data/vision/resize_area_29x21.bin")),
            (20, 15, include_bytes!("../../tests/data/vision/resize_area_20x15.bin")),
            (90, 60, include_bytes!("../../tests/data/vision/resize_area_90x60.bin")),
            (80, 30, include_bytes!("../../tests/data/vision/resize_area_80x30.bin")),
        ];
        for (w, h, want) in cases {
            let d = max_diff_u8(&resize_rgb(&src, w, h, Filter::Area).data, want);
            assert!(d <= 1, "{w}x{h}: {d}");
        }
    }

    #[test]
    fn mask_matches_opencv() {
        let m = src_mask();
        let a = f32s(include_bytes!("../../tests/data/vision/resize_mask_37x29_f32.bin"));
        let b = f32s(include_bytes!("../../tests/data/vision/resize_mask_80x60_f32.bin"));
        assert!(max_diff_f32(&resize_mask(&m, 37, 29).data, &a) < 1e-5);
        assert!(max_diff_f32(&resize_mask(&m, 80, 60).data, &b) < 1e-5);
    }

    #[test]
    fn area_integer_factor_is_block_mean() {
        let src = RgbImage::from_raw(4, 2, (0..24).map(|v| v as u8 * 10).collect());
        let out = resize_rgb(&src, 2, 1, Filter::Area);
        // Block of pixels (0,0),(1,0),(0,1),(1,1): channel 0 values 0,30,120,150 → mean 75.
        assert_eq!(out.get(0, 0)[0], 75);
        assert_eq!(resize_rgb(&src, 4, 2, Filter::Bilinear), src);
    }
}
