// SPDX-License-Identifier: MIT OR Apache-2.0
//! Packed video-frame views (GStreamer raw RGB-family formats) and RGB unpack/pack of a region.

use super::image::RgbImage;

/// Byte layout of one pixel in a packed frame (names follow GStreamer's `video/x-raw` formats, byte order in memory).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PixelLayout {
    Rgb,
    Bgr,
    Rgba,
    Bgra,
    Rgbx,
    Bgrx,
    Xrgb,
    Xbgr,
    Argb,
    Abgr,
}

impl PixelLayout {
    /// Bytes per pixel (3 or 4).
    #[inline]
    pub const fn bytes_per_pixel(self) -> usize {
        match self {
            PixelLayout::Rgb | PixelLayout::Bgr => 3,
            _ => 4,
        }
    }

    /// Byte offsets of R, G and B within one pixel.
    #[inline]
    pub const fn rgb_offsets(self) -> [usize; 3] {
        match self {
            PixelLayout::Rgb | PixelLayout::Rgba | PixelLayout::Rgbx => [0, 1, 2],
            PixelLayout::Bgr | PixelLayout::Bgra | PixelLayout::Bgrx => [2, 1, 0],
            PixelLayout::Xrgb | PixelLayout::Argb => [1, 2, 3],
            PixelLayout::Xbgr | PixelLayout::Abgr => [3, 2, 1],
        }
    }

    /// Byte offset of a real alpha channel (padding `x` bytes report `None`).
    #[inline]
    pub const fn alpha_offset(self) -> Option<usize> {
        match self {
            PixelLayout::Rgba | PixelLayout::Bgra => Some(3),
            PixelLayout::Argb | PixelLayout::Abgr => Some(0),
            _ => None,
        }
    }
}

/// Integer pixel region of interest (top-left corner plus size).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Rect {
    pub x: usize,
    pub y: usize,
    pub width: usize,
    pub height: usize,
}

impl Rect {
    /// Constructs a rectangle.
    pub const fn new(x: usize, y: usize, width: usize, height: usize) -> Self {
        Self { x, y, width, height }
    }

    /// Grows the rectangle by `dx`/`dy` on every side and clips it to `[0,w) x [0,h)`.
    pub fn expand_clip(&self, dx: usize, dy: usize, w: usize, h: usize) -> Rect {
        let x0 = self.x.saturating_sub(dx).min(w);
        let y0 = self.y.saturating_sub(dy).min(h);
        let x1 = (self.x + self.width + dx).min(w).max(x0);
        let y1 = (self.y + self.height + dy).min(h).max(y0);
        Rect::new(x0, y0, x1 - x0, y1 - y0)
    }

    /// Clips the rectangle to `[0,w) x [0,h)`.
    pub fn clip(&self, w: usize, h: usize) -> Rect {
        self.expand_clip(0, 0, w, h)
    }
}

/// Read-only view of a packed frame with an arbitrary row stride (bytes, ≥ `width * bpp`).
#[derive(Clone, Copy, Debug)]
pub struct PackedFrame<'a> {
    pub data: &'a [u8],
    pub width: usize,
    pub height: usize,
    pub stride: usize,
    pub layout: PixelLayout,
}

/// Mutable view of a packed frame with an arbitrary row stride.
#[derive(Debug)]
pub struct PackedFrameMut<'a> {
    pub data: &'a mut [u8],
    pub width: usize,
    pub height: usize,
    pub stride: usize,
    pub layout: PixelLayout,
}

/// A frame geometry that the memory cannot hold.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GeometryError {
    #[error("a row stride of {stride} bytes is shorter than a row of {width} pixels ({row} bytes)")]
    StrideTooShort { stride: usize, width: usize, row: usize },
    #[error("{width}x{height} pixels with a stride of {stride} bytes need {needed} bytes; the memory holds {len}")]
    TooSmall { width: usize, height: usize, stride: usize, needed: usize, len: usize },
}

/// Checks that `len` bytes hold `height` rows of `width` pixels, `stride` bytes apart (the last row
/// only needs its pixels), without overflowing.
fn check_geometry(
    len: usize,
    width: usize,
    height: usize,
    stride: usize,
    layout: PixelLayout,
) -> Result<(), GeometryError> {
    let row = width.saturating_mul(layout.bytes_per_pixel());
    if stride < row {
        return Err(GeometryError::StrideTooShort { stride, width, row });
    }
    if height > 0 && width > 0 {
        let needed = (height - 1).checked_mul(stride).and_then(|v| v.checked_add(row)).unwrap_or(usize::MAX);
        if len < needed {
            return Err(GeometryError::TooSmall { width, height, stride, needed, len });
        }
    }
    Ok(())
}

impl<'a> PackedFrame<'a> {
    /// The checked constructor: the view only exists when `data` holds the whole frame.
    pub fn try_new(
        data: &'a [u8],
        width: usize,
        height: usize,
        stride: usize,
        layout: PixelLayout,
    ) -> Result<Self, GeometryError> {
        check_geometry(data.len(), width, height, stride, layout)?;
        Ok(Self { data, width, height, stride, layout })
    }

    /// As [`PackedFrame::try_new`], for geometries known to be right; panics otherwise.
    pub fn new(data: &'a [u8], width: usize, height: usize, stride: usize, layout: PixelLayout) -> Self {
        Self::try_new(data, width, height, stride, layout).unwrap_or_else(|e| panic!("packed frame: {e}"))
    }

    /// Views an [`RgbImage`] as a packed RGB frame (no copy).
    pub fn from_rgb(img: &'a RgbImage) -> Self {
        Self { data: &img.data, width: img.width, height: img.height, stride: img.width * 3, layout: PixelLayout::Rgb }
    }

    /// Pixel (x, y) as [R, G, B]; panics when out of bounds.
    #[inline]
    pub fn rgb(&self, x: usize, y: usize) -> [u8; 3] {
        assert!(x < self.width && y < self.height);
        let o = self.layout.rgb_offsets();
        let i = y * self.stride + x * self.layout.bytes_per_pixel();
        [self.data[i + o[0]], self.data[i + o[1]], self.data[i + o[2]]]
    }
}

impl<'a> PackedFrameMut<'a> {
    /// The checked constructor: the view only exists when `data` holds the whole frame.
    pub fn try_new(
        data: &'a mut [u8],
        width: usize,
        height: usize,
        stride: usize,
        layout: PixelLayout,
    ) -> Result<Self, GeometryError> {
        check_geometry(data.len(), width, height, stride, layout)?;
        Ok(Self { data, width, height, stride, layout })
    }

    /// As [`PackedFrameMut::try_new`], for geometries known to be right; panics otherwise.
    pub fn new(data: &'a mut [u8], width: usize, height: usize, stride: usize, layout: PixelLayout) -> Self {
        Self::try_new(data, width, height, stride, layout).unwrap_or_else(|e| panic!("packed frame: {e}"))
    }

    /// Views an [`RgbImage`] mutably as a packed RGB frame.
    pub fn from_rgb(img: &'a mut RgbImage) -> Self {
        let (width, height) = (img.width, img.height);
        Self { data: &mut img.data, width, height, stride: width * 3, layout: PixelLayout::Rgb }
    }

    /// Read-only view of the same frame.
    pub fn as_frame(&self) -> PackedFrame<'_> {
        let Self { width, height, stride, layout, .. } = *self;
        PackedFrame { data: self.data, width, height, stride, layout }
    }
}

/// Copies `count` pixels of one packed row into RGB triples (monomorphised per layout so the loop vectorises).
#[inline(always)]
fn unpack_row_generic<const BPP: usize, const R: usize, const G: usize, const B: usize>(src: &[u8], dst: &mut [u8]) {
    for (s, d) in src.chunks_exact(BPP).zip(dst.chunks_exact_mut(3)) {
        d[0] = s[R];
        d[1] = s[G];
        d[2] = s[B];
    }
}

#[inline(always)]
fn pack_row_generic<const BPP: usize, const R: usize, const G: usize, const B: usize>(src: &[u8], dst: &mut [u8]) {
    for (s, d) in src.chunks_exact(3).zip(dst.chunks_exact_mut(BPP)) {
        d[R] = s[0];
        d[G] = s[1];
        d[B] = s[2];
    }
}

/// Unpacks `src` (a row slice starting at the first wanted pixel) into `dst` RGB bytes (`dst.len()/3` pixels).
pub(crate) fn unpack_row(layout: PixelLayout, src: &[u8], dst: &mut [u8]) {
    match (layout.bytes_per_pixel(), layout.rgb_offsets()) {
        (3, [0, 1, 2]) => dst.copy_from_slice(&src[..dst.len()]),
        (3, _) => unpack_row_generic::<3, 2, 1, 0>(src, dst),
        (4, [0, 1, 2]) => unpack_row_generic::<4, 0, 1, 2>(src, dst),
        (4, [2, 1, 0]) => unpack_row_generic::<4, 2, 1, 0>(src, dst),
        (4, [1, 2, 3]) => unpack_row_generic::<4, 1, 2, 3>(src, dst),
        _ => unpack_row_generic::<4, 3, 2, 1>(src, dst),
    }
}

/// Packs RGB bytes into a packed row, leaving alpha/padding bytes untouched.
pub(crate) fn pack_row(layout: PixelLayout, src: &[u8], dst: &mut [u8]) {
    match (layout.bytes_per_pixel(), layout.rgb_offsets()) {
        (3, [0, 1, 2]) => dst[..src.len()].copy_from_slice(src),
        (3, _) => pack_row_generic::<3, 2, 1, 0>(src, dst),
        (4, [0, 1, 2]) => pack_row_generic::<4, 0, 1, 2>(src, dst),
        (4, [2, 1, 0]) => pack_row_generic::<4, 2, 1, 0>(src, dst),
        (4, [1, 2, 3]) => pack_row_generic::<4, 1, 2, 3>(src, dst),
        _ => pack_row_generic::<4, 3, 2, 1>(src, dst),
    }
}

/// Copies the region `roi` of a packed frame into a new RGB image (panics if `roi` exceeds the frame).
pub fn unpack_rgb(frame: &PackedFrame, roi: Rect) -> RgbImage {
    assert!(roi.x + roi.width <= frame.width && roi.y + roi.height <= frame.height, "unpack_rgb: roi outside frame");
    let bpp = frame.layout.bytes_per_pixel();
    let mut out = RgbImage::new(roi.width, roi.height);
    if roi.width == 0 {
        return out;
    }
    for (r, dst) in out.data.chunks_exact_mut(roi.width * 3).enumerate() {
        let start = (roi.y + r) * frame.stride + roi.x * bpp;
        unpack_row(frame.layout, &frame.data[start..start + roi.width * bpp], dst);
    }
    out
}

/// Writes `img` into the frame with its top-left at (x0, y0); parts outside the frame are skipped,
/// alpha/padding bytes are left untouched.
pub fn pack_rgb(img: &RgbImage, frame: &mut PackedFrameMut, x0: usize, y0: usize) {
    if x0 >= frame.width || y0 >= frame.height {
        return;
    }
    let w = img.width.min(frame.width - x0);
    let h = img.height.min(frame.height - y0);
    let bpp = frame.layout.bytes_per_pixel();
    for r in 0..h {
        let start = (y0 + r) * frame.stride + x0 * bpp;
        pack_row(frame.layout, &img.row(r)[..w * 3], &mut frame.data[start..start + w * bpp]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: [PixelLayout; 10] = [
        PixelLayout::Rgb,
        PixelLayout::Bgr,
        PixelLayout::Rgba,
        PixelLayout::Bgra,
        PixelLayout::Rgbx,
        PixelLayout::Bgrx,
        PixelLayout::Xrgb,
        PixelLayout::Xbgr,
        PixelLayout::Argb,
        PixelLayout::Abgr,
    ];

    #[test]
    fn layout_offsets() {
        assert_eq!(PixelLayout::Bgra.rgb_offsets(), [2, 1, 0]);
        assert_eq!(PixelLayout::Argb.alpha_offset(), Some(0));
        assert_eq!(PixelLayout::Xbgr.rgb_offsets(), [3, 2, 1]);
        assert_eq!(PixelLayout::Rgbx.alpha_offset(), None);
        for l in ALL {
            let mut used: Vec<usize> = l.rgb_offsets().to_vec();
            used.extend(l.alpha_offset());
            assert!(used.iter().all(|&o| o < l.bytes_per_pixel()));
        }
    }

    /// Builds a frame of width 5, height 4, odd stride, where pixel (x,y) has R=10x+y, G=100+x, B=200+y, alpha/x = 77.
    fn make(layout: PixelLayout) -> (Vec<u8>, usize) {
        let bpp = layout.bytes_per_pixel();
        let stride = 5 * bpp + 3;
        let mut d = vec![77u8; stride * 4];
        let o = layout.rgb_offsets();
        for y in 0..4 {
            for x in 0..5 {
                let i = y * stride + x * bpp;
                d[i + o[0]] = (10 * x + y) as u8;
                d[i + o[1]] = (100 + x) as u8;
                d[i + o[2]] = (200 + y) as u8;
            }
        }
        (d, stride)
    }

    #[test]
    fn unpack_pack_roundtrip_all_layouts() {
        for l in ALL {
            let (mut d, stride) = make(l);
            let orig = d.clone();
            let f = PackedFrame::new(&d, 5, 4, stride, l);
            let img = unpack_rgb(&f, Rect::new(1, 2, 3, 2));
            assert_eq!(img.get(0, 0), [12, 101, 202], "{l:?}");
            assert_eq!(img.get(2, 1), [33, 103, 203], "{l:?}");
            assert_eq!(f.rgb(4, 3), [43, 104, 203]);
            // Write a modified image back: only the RGB bytes of the ROI change.
            let mut img2 = img.clone();
            img2.data.iter_mut().for_each(|v| *v = v.wrapping_add(1));
            let mut fm = PackedFrameMut::new(&mut d, 5, 4, stride, l);
            pack_rgb(&img2, &mut fm, 1, 2);
            let back = unpack_rgb(&fm.as_frame(), Rect::new(1, 2, 3, 2));
            assert_eq!(back, img2);
            let changed = d.iter().zip(&orig).filter(|(a, b)| a != b).count();
            assert_eq!(changed, 3 * 6, "{l:?}: only 6 pixels x 3 channels may change");
            assert!(d.iter().filter(|&&v| v == 77).count() >= orig.iter().filter(|&&v| v == 77).count());
        }
    }

    #[test]
    fn pack_clips_at_frame_edge() {
        let mut img = RgbImage::new(4, 4);
        img.data.fill(9);
        let mut buf = vec![0u8; 3 * 3 * 3];
        let mut f = PackedFrameMut::new(&mut buf, 3, 3, 9, PixelLayout::Rgb);
        pack_rgb(&img, &mut f, 2, 1);
        assert_eq!(buf.iter().filter(|&&v| v == 9).count(), 2 * 3);
    }

    #[test]
    fn rect_expand_clip() {
        assert_eq!(Rect::new(2, 3, 4, 5).expand_clip(3, 1, 8, 100), Rect::new(0, 2, 8, 7));
    }
}
