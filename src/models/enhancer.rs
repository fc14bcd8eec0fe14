// SPDX-License-Identifier: MIT OR Apache-2.0
//! Face enhancers (restoration / super-resolution of the swapped crops), docs/reference.md#enhancer-input-and-output.
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

use std::mem::MaybeUninit;
use std::path::Path;
use std::sync::Mutex;

use super::align::resize_affine;
use super::ModelError;
use crate::runtime::{load_model, Dim, Input, Model, RuntimeError, SessionOptions, TensorSig, TensorSpec};
use crate::vision::template_warp::{to_u8, warp_back, warp_to_planes};
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
) -> Result<EnhancerFamily, ModelError> {
    detect_family_of(requested, metadata, path, &format!("model file {}", path.display()), input_size)
}

/// [`detect_family`] with the model's label for messages (a served model is named by `path`'s file name).
fn detect_family_of(
    requested: Option<EnhancerFamily>,
    metadata: Option<&str>,
    path: &Path,
    label: &str,
    input_size: Option<usize>,
) -> Result<EnhancerFamily, ModelError> {
    if let Some(f) = requested {
        return Ok(f);
    }
    let model_error = |message: String| RuntimeError::Model { path: label.to_string(), message };
    if let Some(value) = metadata {
        return EnhancerFamily::from_name(value).ok_or_else(|| {
            model_error(format!("a '{value}' model ({FAMILY_KEY}), not an enhancer (ghost-sr, gfpgan or gpen)")).into()
        });
    }
    if let Some(f) = EnhancerFamily::from_file_name(path) {
        return Ok(f);
    }
    match input_size {
        Some(512) | Some(1024) => Ok(EnhancerFamily::Gfpgan),
        Some(256) => Err(ModelError::Ambiguous(format!(
            "{label}: a 256-pixel enhancer may be GHOST SR ([0,1], the crop as is) or GPEN-256 ([-1,1], FFHQ template); \
             the file does not say which: set family=ghost-sr or family=gpen"
        ))),
        _ => Err(model_error(format!(
            "does not match any enhancer contract: expected one input and one output (N,3,256,256) \
             (ghost-sr, gpen) or (N,3,512,512) (gfpgan, gpen); found {}",
            input_size.map_or("no square RGB input".to_string(), |s| format!("a {s}x{s} input")),
        ))
        .into()),
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
                warp_to_planes(crop, &m, n, dst, 1.0 / 255.0, 0.0);
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
        warp_to_planes(crop, &m, n, dst, 2.0 / 255.0, -1.0);
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
        warp_back(&mut img, y, crop, &new_to_out, &new_to_old, (a, b), blend, feather);
        (img, new_affine)
    }
}

/// An opened enhancer model.
pub struct Enhancer {
    model: Model,
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
    pub fn open(path: &Path, family: Option<EnhancerFamily>, options: &SessionOptions) -> Result<Self, ModelError> {
        // `prepare` and `finish` run on two threads right before and after every run; spinning
        // intra-op workers would take the cores from them (see `SessionOptions::intra_op_spinning`).
        let options = &SessionOptions { intra_op_spinning: false, ..options.clone() };
        let model = load_model(path, options)?;
        let contract_error = |found_note: String| {
            model.contract_error(
                "enhancer",
                "one input and one output (N,3,256,256) (ghost-sr, gpen-256) or (N,3,512,512) (gfpgan, gpen)".into(),
                found_note,
            )
        };
        let found = || {
            let list = |v: &[TensorSig]| v.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ");
            format!("inputs [{}] and outputs [{}]", list(model.inputs()), list(model.outputs()))
        };
        if model.inputs().len() != 1 || model.outputs().is_empty() {
            return Err(contract_error(found()).into());
        }
        let Some(in_side) = square_rgb_side(&model.inputs()[0]) else {
            return Err(contract_error(found()).into());
        };
        let family = detect_family_of(family, model.meta(FAMILY_KEY), path, &model.label(), in_side)?;
        let in_size = in_side.unwrap_or(family.default_size());
        if !family.sizes().contains(&in_size) {
            return Err(model
                .contract_error(
                    &format!("{} enhancer", family.name()),
                    format!("input (N,3,S,S) with S in {:?}", family.sizes()),
                    found(),
                )
                .into());
        }
        let out_size = match square_rgb_side(&model.outputs()[0]) {
            Some(Some(s)) => s,
            Some(None) => in_size,
            None => return Err(contract_error(found()).into()),
        };
        let image = |s: usize| [Dim::Any, Dim::Fixed(3), Dim::Fixed(s as i64), Dim::Fixed(s as i64)];
        // Extra outputs (some exports keep intermediate tensors) are ignored; the first is the image.
        if model.outputs().len() == 1 {
            let (i, o) = (TensorSpec::new(&[], &image(in_size)), TensorSpec::new(&[], &image(out_size)));
            model.check(&format!("{} enhancer", family.name()), &[i], &[o])?;
        }
        let batch = model.inputs()[0].dims[0];
        if batch > 1 {
            return Err(contract_error(found()).into());
        }
        Ok(Self {
            input_name: model.inputs()[0].name.clone(),
            batched: batch < 0,
            spec: EnhancerSpec { family, in_size, out_size },
            model,
            input: Mutex::new(Vec::new()),
        })
    }

    /// The model as messages name it (a file, or a model on a server).
    pub fn label(&self) -> String {
        self.model.label()
    }

    /// Runs the network on `n` prepared inputs and hands the `n` outputs, back to back, to `each`
    /// (no copy of an in-process output).
    fn run_with(&self, input: &[f32], n: usize, each: impl FnOnce(&[f32])) -> Result<(), RuntimeError> {
        let s = self.spec.in_size;
        self.model.run(&[Input::new(&self.input_name, &[n, 3, s, s], input)], |outputs| {
            let y = outputs.get(0)?.data;
            let o = self.spec.out_size;
            if y.len() != n * 3 * o * o {
                return Err(self.model.run_error(format!("expected {n}x3x{o}x{o} outputs, got {} values", y.len())));
            }
            each(y);
            Ok(())
        })
    }

    /// Runs the network on `n` prepared inputs; returns the `n` outputs back to back.
    pub fn run(&self, input: &[f32], n: usize) -> Result<Vec<f32>, RuntimeError> {
        let mut out = Vec::new();
        self.run_with(input, n, |y| out = y.to_vec())?;
        Ok(out)
    }

    /// Enhances every job (one run when the batch is dynamic, split at a server's `max_batch_size`);
    /// returns new crops and affines.
    pub fn enhance(&self, jobs: &[EnhanceJob], blend: f32) -> Result<Vec<(RgbImage, Affine2)>, RuntimeError> {
        let chunk = self.model.chunk(jobs.len());
        let (plane_in, plane_out) = (3 * self.spec.in_size.pow(2), 3 * self.spec.out_size.pow(2));
        let mut results = Vec::with_capacity(jobs.len());
        let mut input = self.input.lock().unwrap_or_else(|e| e.into_inner());
        input.clear();
        input.reserve(chunk * plane_in);
        for group in jobs.chunks(chunk) {
            input.clear();
            let prepared: Vec<Prepared> = group.iter().map(|j| self.spec.prepare(j, &mut input)).collect();
            self.run_with(&input, group.len(), |y| {
                for ((job, p), out) in group.iter().zip(&prepared).zip(y.chunks_exact(plane_out)) {
                    results.push(self.spec.finish(job, p, out, blend));
                }
            })?;
        }
        Ok(results)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vision::template_warp::{edge_weight, sample_planes, sample_rgb};
    use crate::vision::testdata::textured;

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
        let e = detect_family(None, Some("ghost-swapper"), p, Some(256)).unwrap_err();
        assert!(matches!(e, ModelError::Runtime(_)) && e.to_string().contains("not an enhancer"), "{e}");
        assert_eq!(detect_family(None, None, Path::new("/m/10_net_G.onnx"), Some(256)), Ok(EnhancerFamily::GhostSr));
        assert_eq!(detect_family(None, None, Path::new("/m/GPEN-BFR-256.onnx"), Some(256)), Ok(EnhancerFamily::Gpen));
        assert_eq!(detect_family(None, None, Path::new("/m/GFPGANv1.4.onnx"), Some(512)), Ok(EnhancerFamily::Gfpgan));
        assert_eq!(detect_family(None, None, p, Some(512)), Ok(EnhancerFamily::Gfpgan));
        // Undecidable from the file: a settings matter.
        let e = detect_family(None, None, p, Some(256)).unwrap_err();
        assert!(matches!(e, ModelError::Ambiguous(_)), "{e:?}");
        let e = e.to_string();
        assert!(e.contains("family=ghost-sr") && e.contains("/m/enhancer.onnx"), "{e}");
        let e = detect_family(None, None, p, Some(100)).unwrap_err().to_string();
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
