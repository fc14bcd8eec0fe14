// SPDX-License-Identifier: MIT OR Apache-2.0
//! Identity recognizers (ArcFace): the source identity for the generator and the embeddings used
//! for target selection.
//!
//! Two families (docs/reference.md#ghost-arcface-iresnet100, docs/reference.md#w600k-arcface-and-the-converter):
//! - `ArcfaceGhost`: GHOST's iresnet100 export. The GHOST 224 crop, RGB in [-1,1], bilinearly
//!   halved to 112 with align-corners semantics (`F.interpolate(scale_factor=0.5,
//!   align_corners=True)`); the raw 512-vector goes to the generator.
//! - `ArcfaceW600k`: insightface w600k_r50. The `arcface_112_v2` crop at 112, RGB,
//!   (x-127.5)/127.5; the raw vector is mapped into GHOST's space by a converter model.
//!
//! Contract: input (N,3,112,112), output (N,512); converter (N,512) → (N,512).

use std::path::Path;

use super::align::{arcface_112_transform, ghost_224_transform, GHOST_CROP_SIZE};
use crate::runtime::{load_model, Dim, Input, Model, RuntimeError, SessionOptions, TensorSpec};
use crate::vision::{warp_affine_packed, Border, PackedFrame, RgbImage};

pub const EMBEDDING_SIZE: usize = 512;
const SIZE: usize = 112;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecognizerFamily {
    ArcfaceGhost,
    ArcfaceW600k,
}

pub struct Recognizer {
    model: Model,
    pub family: RecognizerFamily,
    converter: Option<Model>,
}

fn image_spec() -> TensorSpec {
    TensorSpec::new(&[], &[Dim::Any, Dim::Fixed(3), Dim::Fixed(SIZE as i64), Dim::Fixed(SIZE as i64)])
}

fn vector_spec() -> TensorSpec {
    TensorSpec::new(&[], &[Dim::Any, Dim::Fixed(EMBEDDING_SIZE as i64)])
}

impl Recognizer {
    /// Opens a recognizer; the family comes from the file's `gst_ghost_family` metadata, else from a
    /// `w600k` file name or the presence of a converter. A w600k recognizer without a converter is
    /// an error: its embeddings mean nothing to a GHOST generator.
    pub fn open(model: &Path, converter: Option<&Path>, options: &SessionOptions) -> Result<Self, RuntimeError> {
        let path = model;
        let model = load_model(path, options)?;
        model.check("recognizer", &[image_spec()], &[vector_spec()])?;
        let name = path.file_name().map(|n| n.to_string_lossy().to_lowercase()).unwrap_or_default();
        let family = match model.meta("gst_ghost_family") {
            Some("arcface-w600k") => RecognizerFamily::ArcfaceW600k,
            Some("arcface-ghost") => RecognizerFamily::ArcfaceGhost,
            _ if name.contains("w600k") || converter.is_some() => RecognizerFamily::ArcfaceW600k,
            _ => RecognizerFamily::ArcfaceGhost,
        };
        let converter = match converter {
            Some(path) => {
                let c = load_model(path, options)?;
                c.check("embedding converter", &[vector_spec()], &[vector_spec()])?;
                Some(c)
            }
            None => None,
        };
        if family == RecognizerFamily::ArcfaceW600k && converter.is_none() {
            return Err(model.model_error(
                "a w600k ArcFace recognizer needs the `converter` model (crossface_ghost.onnx) to produce GHOST identities",
            ));
        }
        Ok(Self { model, family, converter })
    }

    /// The normalised 3x112x112 input (NCHW, RGB) for one face of a frame.
    pub fn input_tensor(&self, frame: &PackedFrame, kps: &[[f32; 2]; 5]) -> Vec<f32> {
        input_tensor(self.family, frame, kps)
    }

    /// Raw embeddings (before any converter) of faces given by their keypoints, in one batch (split
    /// at a server's `max_batch_size`, one face per run for a model with a fixed batch).
    pub fn embed(&self, frame: &PackedFrame, faces: &[[[f32; 2]; 5]]) -> Result<Vec<Vec<f32>>, RuntimeError> {
        let mut out = Vec::with_capacity(faces.len());
        let mut batch = Vec::new();
        for group in faces.chunks(self.model.chunk(faces.len())) {
            batch.clear();
            for kps in group {
                batch.extend(self.input_tensor(frame, kps));
            }
            out.extend(run_vectors(&self.model, &[group.len(), 3, SIZE, SIZE], &batch)?);
        }
        Ok(out)
    }

    /// Maps a raw (averaged) embedding into the generator's identity space: the converter for
    /// w600k, unchanged for GHOST's own recognizer. Not L2-normalised (GHOST feeds it raw).
    pub fn to_generator_identity(&self, raw: &[f32]) -> Result<Vec<f32>, RuntimeError> {
        match &self.converter {
            Some(c) => Ok(run_vectors(c, &[1, EMBEDDING_SIZE], raw)?.remove(0)),
            None => Ok(raw.to_vec()),
        }
    }
}

/// See [`Recognizer::input_tensor`]; public for the normalisation fixtures.
pub fn input_tensor(family: RecognizerFamily, frame: &PackedFrame, kps: &[[f32; 2]; 5]) -> Vec<f32> {
    match family {
        RecognizerFamily::ArcfaceGhost => {
            let crop = warp_affine_packed(
                frame,
                &ghost_224_transform(kps).0,
                GHOST_CROP_SIZE,
                GHOST_CROP_SIZE,
                Border::Replicate,
            );
            halve_align_corners_normalised(&crop)
        }
        RecognizerFamily::ArcfaceW600k => {
            let crop = warp_affine_packed(frame, &arcface_112_transform(kps), SIZE, SIZE, Border::Replicate);
            let mut out = vec![0.0; 3 * SIZE * SIZE];
            for (i, px) in crop.data.chunks_exact(3).enumerate() {
                for c in 0..3 {
                    out[c * SIZE * SIZE + i] = (px[c] as f32 - 127.5) / 127.5;
                }
            }
            out
        }
    }
}

/// `F.interpolate(x, size=112, mode='bilinear', align_corners=True)` of a 224 crop mapped to
/// [-1,1]: output pixel i samples input coordinate i·(224-1)/(112-1).
fn halve_align_corners_normalised(crop: &RgbImage) -> Vec<f32> {
    let (w, h) = (crop.width, crop.height);
    let sx = (w - 1) as f32 / (SIZE - 1) as f32;
    let sy = (h - 1) as f32 / (SIZE - 1) as f32;
    let mut out = vec![0.0; 3 * SIZE * SIZE];
    for oy in 0..SIZE {
        let fy = oy as f32 * sy;
        let y0 = (fy as usize).min(h - 1);
        let y1 = (y0 + 1).min(h - 1);
        let wy = fy - y0 as f32;
        for ox in 0..SIZE {
            let fx = ox as f32 * sx;
            let x0 = (fx as usize).min(w - 1);
            let x1 = (x0 + 1).min(w - 1);
            let wx = fx - x0 as f32;
            for c in 0..3 {
                let p = |x: usize, y: usize| crop.data[(y * w + x) * 3 + c] as f32;
                let top = p(x0, y0) * (1.0 - wx) + p(x1, y0) * wx;
                let bottom = p(x0, y1) * (1.0 - wx) + p(x1, y1) * wx;
                let v = top * (1.0 - wy) + bottom * wy;
                out[c * SIZE * SIZE + oy * SIZE + ox] = (v / 255.0 - 0.5) / 0.5;
            }
        }
    }
    out
}

/// Runs a single-input model and splits its (N,512) output into vectors.
fn run_vectors(model: &Model, shape: &[usize], data: &[f32]) -> Result<Vec<Vec<f32>>, RuntimeError> {
    let n = shape[0];
    model.run(&[Input::new(&model.inputs()[0].name, shape, data)], |outputs| {
        let values = outputs.get(0)?.data;
        if values.len() != n * EMBEDDING_SIZE {
            return Err(model.run_error(format!("expected {n}x{EMBEDDING_SIZE} outputs, got {}", values.len())));
        }
        Ok(values.chunks_exact(EMBEDDING_SIZE).map(<[f32]>::to_vec).collect())
    })
}

/// L2-normalised copy (for cosine similarity in target selection).
pub fn normalized(v: &[f32]) -> Vec<f32> {
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm > 0.0 {
        v.iter().map(|x| x / norm).collect()
    } else {
        v.to_vec()
    }
}

pub fn cosine(a: &[f32], b: &[f32]) -> f32 {
    let (na, nb) = (normalized(a), normalized(b));
    na.iter().zip(&nb).map(|(x, y)| x * y).sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn align_corners_halving_keeps_the_corners_and_interpolates_between() {
        // A horizontal ramp 0..223 in every channel: output x=i samples input 223·i/111.
        let mut crop = RgbImage::new(224, 224);
        for y in 0..224 {
            for x in 0..224 {
                crop.set(x, y, [x as u8, x as u8, x as u8]);
            }
        }
        let t = halve_align_corners_normalised(&crop);
        let at = |x: usize| t[5 * SIZE + x] * 0.5 * 255.0 + 0.5 * 255.0;
        assert!((at(0) - 0.0).abs() < 1e-3);
        assert!((at(111) - 223.0).abs() < 1e-3);
        assert!((at(50) - 223.0 * 50.0 / 111.0).abs() < 1e-3);
    }

    #[test]
    fn cosine_of_scaled_vectors_is_one() {
        assert!((cosine(&[1.0, 2.0, 3.0], &[2.0, 4.0, 6.0]) - 1.0).abs() < 1e-6);
        assert!(cosine(&[1.0, 0.0], &[0.0, 1.0]).abs() < 1e-6);
    }
}
