// SPDX-License-Identifier: MIT OR Apache-2.0
//! Blending swapped faces back into the frame, without GStreamer (the `ghostfaceblend` element is a
//! thin wrapper around [`Blender`]): a soft mask per swapped face (GHOST's landmark-adaptive mask, a
//! template or a box, optionally cut by face parsing), optional colour matching, and the paste-back
//! through the inverse of the crop affine; or, in debug mode, an overlay of boxes, keypoints, ids and
//! mask outlines.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use gst::glib;

use crate::meta::{Face, SwapResult};
use crate::models::landmark106::Landmarker;
use crate::models::parser::FaceParser;
use crate::runtime::RuntimeError;
use crate::vision::composite::composite_support;
use crate::vision::draw::{dot, put, rect, text_number};
use crate::vision::facemask::{self, MaskParams, GHOST_SIZE};
use crate::vision::{
    reinhard_transfer, warp_affine_packed, Affine2, Border, GrayImage, MaskF32, PackedFrame, PackedFrameMut, RgbImage,
};

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
    pub fn resolve(
        mode: MaskMode,
        has_landmarker: bool,
        has_parser: bool,
    ) -> Result<(Shape, bool, bool), MissingMaskModel> {
        let auto = if has_landmarker { Shape::Landmarks } else { Shape::Template };
        Ok(match mode {
            MaskMode::Auto => (auto, has_parser, false),
            MaskMode::Template => (Shape::Template, false, false),
            MaskMode::Landmarks if has_landmarker => (Shape::Landmarks, false, false),
            MaskMode::Landmarks => return Err(MissingMaskModel::LANDMARKER),
            MaskMode::Box => (Shape::Box, false, false),
            MaskMode::Parser if has_parser => (auto, true, false),
            MaskMode::Parser => return Err(MissingMaskModel::PARSER),
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

/// A mask mode that needs a model the blender was not given.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("mask={mask} needs a '{property}' model ({model})")]
pub struct MissingMaskModel {
    pub mask: &'static str,
    /// The element property that names the model.
    pub property: &'static str,
    pub model: &'static str,
}

impl MissingMaskModel {
    const LANDMARKER: Self = Self { mask: "landmarks", property: "landmarker", model: "2d106det" };
    const PARSER: Self = Self { mask: "parser", property: "parser", model: "BiSeNet face parsing" };
}

/// Why a face was not blended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Skip {
    NoSwap,
    /// Pasted already by an earlier blender.
    Applied,
    /// Singular, non-finite or sub-pixel crop affine, or an empty crop.
    Degenerate,
    /// The crop's footprint misses the frame.
    Outside,
}

/// What the blender did with one frame.
#[derive(Debug, Default, Clone)]
pub struct FrameReport {
    pub blended: usize,
    /// The faces pasted into the frame (indices).
    pub pasted: Vec<usize>,
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
            if swap.applied && !cfg.debug {
                report.skipped.push((i, Skip::Applied));
                continue;
            }
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
                report.pasted.push(i);
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
            dot(frame, kp[0].round() as i64, kp[1].round() as i64, 2, RED);
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

    #[test]
    fn resolve_modes() {
        assert_eq!(BlendConfig::resolve(MaskMode::Auto, false, false).unwrap(), (Shape::Template, false, false));
        assert_eq!(BlendConfig::resolve(MaskMode::Auto, true, true).unwrap(), (Shape::Landmarks, true, false));
        assert!(BlendConfig::resolve(MaskMode::Landmarks, false, false).is_err());
        assert!(BlendConfig::resolve(MaskMode::Parser, true, false).is_err());
        assert_eq!(BlendConfig::resolve(MaskMode::Debug, false, false).unwrap(), (Shape::Template, false, true));
    }

    #[test]
    fn degenerate_affines_are_detected() {
        let crop = Arc::new(RgbImage::new(256, 256));
        let ok = SwapResult::new(crop.clone(), Affine2::scale(2.0, 2.0));
        assert!(affine_ok(&ok));
        let zero = SwapResult::new(crop.clone(), Affine2([0.0; 6]));
        assert!(!affine_ok(&zero));
        // A zero-size face: the 256 crop would cover a 1e-4 px patch.
        let tiny = SwapResult::new(crop.clone(), Affine2::scale(1e6, 1e6));
        assert!(!affine_ok(&tiny));
        let nan = SwapResult::new(crop, Affine2([f64::NAN, 0.0, 0.0, 0.0, 1.0, 0.0]));
        assert!(!affine_ok(&nan));
    }
}
