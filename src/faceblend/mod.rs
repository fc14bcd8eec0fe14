//! `ghostfaceblend`: builds a soft mask per swapped face (GHOST's landmark-adaptive mask, a template or a box,
//! optionally cut by face parsing), optionally matches colours, and pastes the swapped crop back into the
//! frame through the inverse of the crop affine. The element (`imp`) is thin; [`Blender`] does the work
//! without GStreamer so that tests and the benchmark can call it directly.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use gst::glib;
use gst::prelude::*;

use crate::meta::{Face, SwapResult};
use crate::models::landmark106::Landmarker;
use crate::models::parser::FaceParser;
use crate::runtime::RuntimeError;
use crate::vision::facemask::{self, MaskParams, GHOST_SIZE};
use crate::vision::warp::frame_box;
use crate::vision::{
    reinhard_transfer, warp_affine_packed, Affine2, Border, GrayImage, MaskF32, PackedFrame, PackedFrameMut, RgbImage,
};

mod imp;

glib::wrapper! {
    pub struct FaceBlend(ObjectSubclass<imp::FaceBlend>) @extends gst_base::BaseTransform, gst::Element, gst::Object;
}

pub fn register(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    gst::Element::register(Some(plugin), "ghostfaceblend", gst::Rank::NONE, FaceBlend::static_type())
}

/// The `mask` property.
#[derive(Debug, Eq, PartialEq, Hash, Clone, Copy, glib::Enum, Default)]
#[repr(u32)]
#[enum_type(name = "GstGhostBlendMask")]
pub enum MaskMode {
    #[default]
    #[enum_value(
        name = "Auto: landmarks when a landmarker is set, else template (cut by the parser when one is set)",
        nick = "auto"
    )]
    Auto = 0,
    #[enum_value(
        name = "Template: a fixed face-shaped region of the aligned crop, GHOST's default erode/blur",
        nick = "template"
    )]
    Template = 1,
    #[enum_value(name = "Landmarks: GHOST's adaptive mask from the 106-point landmarker", nick = "landmarks")]
    Landmarks = 2,
    #[enum_value(name = "Box: the whole crop with a soft border", nick = "box")]
    Box = 3,
    #[enum_value(name = "Parser: the auto mask intersected with the face classes of the face parser", nick = "parser")]
    Parser = 4,
    #[enum_value(name = "Debug: draw boxes, keypoints, ids and mask outlines instead of blending", nick = "debug")]
    Debug = 5,
}

/// The `color-correct` property.
#[derive(Debug, Eq, PartialEq, Hash, Clone, Copy, glib::Enum, Default)]
#[repr(u32)]
#[enum_type(name = "GstGhostColorCorrect")]
pub enum ColorCorrect {
    #[default]
    #[enum_value(name = "None (as the GHOST reference)", nick = "none")]
    None = 0,
    #[enum_value(name = "Reinhard: Lab mean/std transfer from the target crop, inside the mask", nick = "reinhard")]
    Reinhard = 1,
}

/// The mask shape actually built (after resolving `auto`).
#[derive(Debug, Eq, PartialEq, Hash, Clone, Copy)]
pub enum Shape {
    Template,
    Landmarks,
    Box,
}

/// Everything the blender needs from the element's properties, resolved against the loaded models.
#[derive(Debug, Clone, PartialEq)]
pub struct BlendConfig {
    pub shape: Shape,
    /// Cut the mask with the face parser (needs a parser).
    pub use_parser: bool,
    /// Kernel override in 224 units (−1 = automatic).
    pub erode: i32,
    /// σ override in 224 units for both axes (−1 = automatic, 0 = no blur and no border fade).
    pub blur: f64,
    pub mask_scale: f64,
    pub color: ColorCorrect,
    pub opacity: f32,
    pub debug: bool,
}

impl Default for BlendConfig {
    fn default() -> Self {
        Self {
            shape: Shape::Template,
            use_parser: false,
            erode: -1,
            blur: -1.0,
            mask_scale: 1.0,
            color: ColorCorrect::None,
            opacity: 1.0,
            debug: false,
        }
    }
}

impl BlendConfig {
    /// Resolves `mask` against the models that are loaded; an impossible combination is an error message.
    pub fn resolve(mode: MaskMode, has_landmarker: bool, has_parser: bool) -> Result<(Shape, bool, bool), String> {
        let auto = if has_landmarker { Shape::Landmarks } else { Shape::Template };
        Ok(match mode {
            MaskMode::Auto => (auto, has_parser, false),
            MaskMode::Template => (Shape::Template, false, false),
            MaskMode::Landmarks if has_landmarker => (Shape::Landmarks, false, false),
            MaskMode::Landmarks => return Err("mask=landmarks needs a 'landmarker' model (2d106det)".into()),
            MaskMode::Box => (Shape::Box, false, false),
            MaskMode::Parser if has_parser => (auto, true, false),
            MaskMode::Parser => return Err("mask=parser needs a 'parser' model (BiSeNet face parsing)".into()),
            MaskMode::Debug => (auto, has_parser, true),
        })
    }

    /// The table row with the `erode` / `blur` overrides applied.
    pub fn apply_overrides(&self, mut p: MaskParams) -> MaskParams {
        if self.erode >= 0 {
            p.erode = self.erode;
        }
        if self.blur >= 0.0 {
            p.sigma_x = self.blur;
            p.sigma_y = self.blur;
        }
        p
    }
}

/// Why a face was not blended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Skip {
    NoSwap,
    /// Singular, non-finite or sub-pixel crop affine, or an empty crop.
    Degenerate,
    /// The crop's footprint misses the frame.
    Outside,
}

/// What the blender did with one frame.
#[derive(Debug, Default, Clone)]
pub struct FrameReport {
    pub blended: usize,
    pub skipped: Vec<(usize, Skip)>,
    /// (face index, mask parameters used), for the landmark mask.
    pub params: Vec<(usize, MaskParams)>,
}

type CacheKey = (Shape, usize, i32, u64, u64, u64);

/// The per-stream blending state: models, frozen per-track mask parameters, cached fixed masks.
#[derive(Default)]
pub struct Blender {
    pub landmarker: Option<Landmarker>,
    pub parser: Option<FaceParser>,
    frozen: HashMap<u64, MaskParams>,
    cache: HashMap<CacheKey, Arc<MaskF32>>,
}

/// Whether a crop affine is usable: invertible, finite, and the crop covers at least about one frame pixel.
pub fn affine_ok(swap: &SwapResult) -> bool {
    let m = &swap.frame_to_crop;
    let (w, h) = (swap.crop.width, swap.crop.height);
    if w == 0 || h == 0 || swap.crop.data.len() != w * h * 3 || !m.0.iter().all(|v| v.is_finite()) {
        return false;
    }
    let Some(inv) = m.invert() else { return false };
    // Frame area covered by the crop = crop area * |det(inverse)|.
    let area = (w * h) as f64 * inv.det().abs();
    area.is_finite() && area >= 1.0 && inv.0.iter().all(|v| v.is_finite())
}

/// Maps crop-pixel coordinates (crop of `size`) to GHOST's 224 canvas, with cv2.resize geometry.
pub fn crop_to_224(p: [f32; 2], size: usize) -> [f32; 2] {
    let s = GHOST_SIZE as f32 / size as f32;
    [(p[0] + 0.5) * s - 0.5, (p[1] + 0.5) * s - 0.5]
}

impl Blender {
    pub fn new(landmarker: Option<Landmarker>, parser: Option<FaceParser>) -> Self {
        Self { landmarker, parser, ..Default::default() }
    }

    /// Forgets frozen parameters (flush, stop).
    pub fn reset(&mut self) {
        self.frozen.clear();
    }

    /// The frozen parameters of a track, if any.
    pub fn frozen(&self, track_id: u64) -> Option<MaskParams> {
        self.frozen.get(&track_id).copied()
    }

    /// Blends every face with a swap result into the frame, one after another (or draws the debug overlay).
    pub fn process(
        &mut self,
        frame: &mut PackedFrameMut,
        faces: &[Face],
        cfg: &BlendConfig,
    ) -> Result<FrameReport, RuntimeError> {
        let mut report = FrameReport::default();
        // GHOST resets a target's parameters on a frame without it.
        let present: HashSet<u64> =
            faces.iter().filter(|f| f.swap.is_some() && f.track_id != 0).map(|f| f.track_id).collect();
        self.frozen.retain(|id, _| present.contains(id));
        let mut outlines: Vec<Vec<(f64, f64)>> = Vec::new();
        for (i, face) in faces.iter().enumerate() {
            let Some(swap) = &face.swap else {
                report.skipped.push((i, Skip::NoSwap));
                continue;
            };
            if !affine_ok(swap) {
                report.skipped.push((i, Skip::Degenerate));
                continue;
            }
            let (mask, params) = self.face_mask(&frame.as_frame(), face, swap, cfg)?;
            if let Some(p) = params {
                report.params.push((i, p));
            }
            if cfg.debug {
                outlines.push(mask_outline_in_frame(&mask, &swap.frame_to_crop));
                continue;
            }
            let crop_owned;
            let crop: &RgbImage = if cfg.color == ColorCorrect::Reinhard {
                let target = target_crop(&frame.as_frame(), swap);
                let mut c = (*swap.crop).clone();
                reinhard_transfer(&mut c, &target, &mask);
                crop_owned = c;
                &crop_owned
            } else {
                &swap.crop
            };
            if composite_support(frame, crop, &mask, &swap.frame_to_crop, cfg.opacity) {
                report.blended += 1;
            } else {
                report.skipped.push((i, Skip::Outside));
            }
        }
        if cfg.debug {
            draw_debug(frame, faces, &outlines);
        }
        Ok(report)
    }

    /// The crop-size mask of one face and, for the landmark mask, the parameters used.
    pub fn face_mask(
        &mut self,
        frame: &PackedFrame,
        face: &Face,
        swap: &SwapResult,
        cfg: &BlendConfig,
    ) -> Result<(Arc<MaskF32>, Option<MaskParams>), RuntimeError> {
        let size = swap.crop.width;
        let mut target: Option<RgbImage> = None;
        let keep: Option<GrayImage> = match (&mut self.parser, cfg.use_parser) {
            (Some(parser), true) => {
                let t = target.get_or_insert_with(|| target_crop(frame, swap));
                Some(parser.face_map(t, GHOST_SIZE)?)
            }
            _ => None,
        };
        let shape =
            if cfg.shape == Shape::Landmarks && self.landmarker.is_none() { Shape::Template } else { cfg.shape };
        match shape {
            Shape::Template | Shape::Box => {
                let p = cfg.apply_overrides(MaskParams::DEFAULT);
                let key: CacheKey =
                    (shape, size, p.erode, p.sigma_x.to_bits(), p.sigma_y.to_bits(), cfg.mask_scale.to_bits());
                if keep.is_none() {
                    if let Some(m) = self.cache.get(&key) {
                        return Ok((m.clone(), None));
                    }
                }
                let m224 = if shape == Shape::Box {
                    facemask::box_mask(&p, cfg.mask_scale, keep.as_ref())
                } else {
                    facemask::template_mask(&p, cfg.mask_scale, keep.as_ref())
                };
                let m = Arc::new(facemask::to_crop_size(m224, size));
                if keep.is_none() {
                    if self.cache.len() > 16 {
                        self.cache.clear();
                    }
                    self.cache.insert(key, m.clone());
                }
                Ok((m, None))
            }
            Shape::Landmarks => {
                let lm = self.landmarker.as_mut().expect("checked above");
                let gen = lm.landmarks(&swap.crop)?;
                let frozen = (face.track_id != 0).then(|| self.frozen.get(&face.track_id).copied()).flatten();
                let table = match frozen {
                    Some(p) => p,
                    None => {
                        let tgt = match target_landmarks_from_meta(face, swap) {
                            Some(t) => t,
                            None => {
                                let t = target.get_or_insert_with(|| target_crop(frame, swap));
                                lm.landmarks(t)?
                            }
                        };
                        let p = MaskParams::from_offset(facemask::landmark_offset(&gen, &tgt));
                        if face.track_id != 0 {
                            self.frozen.insert(face.track_id, p);
                        }
                        p
                    }
                };
                let p = cfg.apply_overrides(table);
                let m224 = facemask::ghost_mask(&gen, &p, cfg.mask_scale, keep.as_ref());
                Ok((Arc::new(facemask::to_crop_size(m224, size)), Some(table)))
            }
        }
    }
}

/// The target crop: the incoming frame warped with the face's affine (replicate border), crop-sized.
pub fn target_crop(frame: &PackedFrame, swap: &SwapResult) -> RgbImage {
    warp_affine_packed(frame, &swap.frame_to_crop, swap.crop.width, swap.crop.height, Border::Replicate)
}

/// 106 landmarks already in the meta (frame pixels), mapped onto the 224 canvas of this crop.
fn target_landmarks_from_meta(face: &Face, swap: &SwapResult) -> Option<Vec<[f32; 2]>> {
    let lms = face.landmarks.as_ref().filter(|l| l.len() == 106)?;
    let size = swap.crop.width;
    Some(
        lms.iter()
            .map(|p| {
                let (x, y) = swap.frame_to_crop.apply(p[0] as f64, p[1] as f64);
                crop_to_224([x as f32, y as f32], size)
            })
            .collect(),
    )
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

fn mask_outline_in_frame(mask: &MaskF32, frame_to_crop: &Affine2) -> Vec<(f64, f64)> {
    let Some(inv) = frame_to_crop.invert() else { return Vec::new() };
    facemask::outline(mask, 0.5).into_iter().map(|(x, y)| inv.apply(x as f64, y as f64)).collect()
}

// ---- debug overlay ----

const GREEN: [u8; 3] = [0, 255, 0];
const YELLOW: [u8; 3] = [255, 220, 0];
const GREY: [u8; 3] = [160, 160, 160];
const RED: [u8; 3] = [255, 40, 40];
const MAGENTA: [u8; 3] = [255, 0, 255];

fn put(frame: &mut PackedFrameMut, x: i64, y: i64, c: [u8; 3]) {
    if x < 0 || y < 0 || x >= frame.width as i64 || y >= frame.height as i64 {
        return;
    }
    let bpp = frame.layout.bytes_per_pixel();
    let i = y as usize * frame.stride + x as usize * bpp;
    for (k, &o) in frame.layout.rgb_offsets().iter().enumerate() {
        frame.data[i + o] = c[k];
    }
}

fn rect(frame: &mut PackedFrameMut, x0: i64, y0: i64, x1: i64, y1: i64, c: [u8; 3], t: i64) {
    // Clamp the loops to the frame so huge boxes cost nothing.
    let (fw, fh) = (frame.width as i64, frame.height as i64);
    for k in 0..t {
        for x in x0.max(-1)..=x1.min(fw) {
            put(frame, x, y0 + k, c);
            put(frame, x, y1 - k, c);
        }
        for y in y0.max(-1)..=y1.min(fh) {
            put(frame, x0 + k, y, c);
            put(frame, x1 - k, y, c);
        }
    }
}

/// 3x5 digit glyphs, one row per 3 bits.
const DIGITS: [[u8; 5]; 10] = [
    [7, 5, 5, 5, 7],
    [2, 6, 2, 2, 7],
    [7, 1, 7, 4, 7],
    [7, 1, 7, 1, 7],
    [5, 5, 7, 1, 1],
    [7, 4, 7, 1, 7],
    [7, 4, 7, 5, 7],
    [7, 1, 1, 1, 1],
    [7, 5, 7, 5, 7],
    [7, 5, 7, 1, 7],
];

fn text_number(frame: &mut PackedFrameMut, x: i64, y: i64, n: u64, c: [u8; 3], s: i64) {
    for (k, ch) in n.to_string().bytes().enumerate() {
        let g = DIGITS[(ch - b'0') as usize];
        let ox = x + k as i64 * 4 * s;
        for (r, bits) in g.iter().enumerate() {
            for col in 0..3 {
                if bits & (4 >> col) != 0 {
                    for dy in 0..s {
                        for dx in 0..s {
                            put(frame, ox + col * s + dx, y + r as i64 * s + dy, c);
                        }
                    }
                }
            }
        }
    }
}

/// Boxes (green = selected, yellow = not selected, grey = predicted by the tracker), the five keypoints (red),
/// the track id above the box and the mask outline at 0.5 (magenta).
fn draw_debug(frame: &mut PackedFrameMut, faces: &[Face], outlines: &[Vec<(f64, f64)>]) {
    for face in faces {
        let c = if face.predicted {
            GREY
        } else if face.selected {
            GREEN
        } else {
            YELLOW
        };
        let b = face.bbox.map(|v| if v.is_finite() { v.round() as i64 } else { 0 });
        rect(frame, b[0], b[1], b[2], b[3], c, 2);
        for kp in &face.keypoints {
            let (x, y) = (kp[0].round() as i64, kp[1].round() as i64);
            for dy in -2..=2 {
                for dx in -2..=2 {
                    put(frame, x + dx, y + dy, RED);
                }
            }
        }
        if face.track_id != 0 {
            text_number(frame, b[0], b[1] - 14, face.track_id, c, 2);
        }
    }
    for o in outlines {
        for &(x, y) in o {
            put(frame, x.round() as i64, y.round() as i64, MAGENTA);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vision::composite_packed;

    #[test]
    fn resolve_modes() {
        assert_eq!(BlendConfig::resolve(MaskMode::Auto, false, false).unwrap(), (Shape::Template, false, false));
        assert_eq!(BlendConfig::resolve(MaskMode::Auto, true, true).unwrap(), (Shape::Landmarks, true, false));
        assert!(BlendConfig::resolve(MaskMode::Landmarks, false, false).is_err());
        assert!(BlendConfig::resolve(MaskMode::Parser, true, false).is_err());
        assert_eq!(BlendConfig::resolve(MaskMode::Debug, false, false).unwrap(), (Shape::Template, false, true));
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

    #[test]
    fn degenerate_affines_are_detected() {
        let crop = Arc::new(RgbImage::new(256, 256));
        let ok = SwapResult { crop: crop.clone(), frame_to_crop: Affine2::scale(2.0, 2.0) };
        assert!(affine_ok(&ok));
        let zero = SwapResult { crop: crop.clone(), frame_to_crop: Affine2([0.0; 6]) };
        assert!(!affine_ok(&zero));
        // A zero-size face: the 256 crop would cover a 1e-4 px patch.
        let tiny = SwapResult { crop: crop.clone(), frame_to_crop: Affine2::scale(1e6, 1e6) };
        assert!(!affine_ok(&tiny));
        let nan = SwapResult { crop, frame_to_crop: Affine2([f64::NAN, 0.0, 0.0, 0.0, 1.0, 0.0]) };
        assert!(!affine_ok(&nan));
    }
}
