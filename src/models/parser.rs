// SPDX-License-Identifier: MIT OR Apache-2.0
//! BiSeNet face parsing (19 CelebAMask-HQ classes) for occlusion-aware masks.
//!
//! Input 1x3x512x512 RGB, ImageNet normalisation ((x/255 − mean) / std); output 1x19x512x512 logits;
//! the class is the argmax. Labels: 0 background, 1 skin, 2 l_brow, 3 r_brow, 4 l_eye, 5 r_eye,
//! 6 eye_g (glasses), 7 l_ear, 8 r_ear, 9 ear_r, 10 nose, 11 mouth, 12 u_lip, 13 l_lip, 14 neck,
//! 15 neck_l, 16 cloth, 17 hair, 18 hat. The face region kept by the mask is skin, brows, eyes, nose,
//! mouth and lips (not glasses, hair, hat or anything in front of the face).

use std::path::Path;

use crate::runtime::{load_model, Dim, Input, Model, RuntimeError, SessionOptions, TensorSpec};
use crate::vision::{resize_rgb, Filter, GrayImage, RgbImage};

pub const INPUT_SIZE: usize = 512;
pub const CLASSES: usize = 19;
/// skin, l_brow, r_brow, l_eye, r_eye, nose, mouth, u_lip, l_lip.
pub const FACE_CLASSES: [usize; 9] = [1, 2, 3, 4, 5, 10, 11, 12, 13];

const MEAN: [f32; 3] = [0.485, 0.456, 0.406];
const STD: [f32; 3] = [0.229, 0.224, 0.225];

pub fn input_spec() -> TensorSpec {
    TensorSpec::new(&[], &[Dim::Any, Dim::Fixed(3), Dim::Fixed(INPUT_SIZE as i64), Dim::Fixed(INPUT_SIZE as i64)])
}

pub fn output_spec() -> TensorSpec {
    TensorSpec::new(
        &[],
        &[Dim::Any, Dim::Fixed(CLASSES as i64), Dim::Fixed(INPUT_SIZE as i64), Dim::Fixed(INPUT_SIZE as i64)],
    )
}

pub fn is_face_class(c: usize) -> bool {
    FACE_CLASSES.contains(&c)
}

/// The network input for a square RGB crop of any size.
pub fn preprocess(crop: &RgbImage, out: &mut Vec<f32>) {
    let resized;
    let img = if crop.width == INPUT_SIZE && crop.height == INPUT_SIZE {
        crop
    } else {
        resized = resize_rgb(crop, INPUT_SIZE, INPUT_SIZE, Filter::Bilinear);
        &resized
    };
    let plane = INPUT_SIZE * INPUT_SIZE;
    out.clear();
    out.resize(3 * plane, 0.0);
    for (i, px) in img.data.chunks_exact(3).enumerate() {
        for c in 0..3 {
            out[c * plane + i] = (px[c] as f32 / 255.0 - MEAN[c]) / STD[c];
        }
    }
}

/// Argmax over the class planes of `logits` (19 x 512 x 512) sampled at `size` x `size` (nearest, cv2
/// INTER_NEAREST geometry); 255 where the class is a face class, 0 elsewhere.
pub fn face_map(logits: &[f32], size: usize) -> GrayImage {
    let plane = INPUT_SIZE * INPUT_SIZE;
    let mut out = GrayImage::new(size, size);
    let scale = INPUT_SIZE as f64 / size as f64;
    for y in 0..size {
        let sy = ((y as f64 * scale) as usize).min(INPUT_SIZE - 1);
        for x in 0..size {
            let sx = ((x as f64 * scale) as usize).min(INPUT_SIZE - 1);
            let i = sy * INPUT_SIZE + sx;
            let mut best = (0usize, f32::NEG_INFINITY);
            for c in 0..CLASSES {
                let v = logits[c * plane + i];
                if v > best.1 {
                    best = (c, v);
                }
            }
            if is_face_class(best.0) {
                out.data[y * size + x] = 255;
            }
        }
    }
    out
}

/// A loaded BiSeNet face parser.
pub struct FaceParser {
    model: Model,
    input_name: String,
    input: Vec<f32>,
}

impl FaceParser {
    pub fn open(path: &Path, options: &SessionOptions) -> Result<Self, RuntimeError> {
        let model = load_model(path, options)?;
        model.check("BiSeNet face parser", &[input_spec()], &[output_spec()])?;
        let input_name = model.inputs()[0].name.clone();
        Ok(Self { model, input_name, input: Vec::new() })
    }

    /// The face-class map (255 = keep) of a square RGB crop, at `size` x `size`.
    pub fn face_map(&mut self, crop: &RgbImage, size: usize) -> Result<GrayImage, RuntimeError> {
        preprocess(crop, &mut self.input);
        let model = &self.model;
        model.run(&[Input::new(&self.input_name, &[1, 3, INPUT_SIZE, INPUT_SIZE], &self.input)], |out| {
            let logits = out.get(0)?.data;
            if logits.len() < CLASSES * INPUT_SIZE * INPUT_SIZE {
                return Err(model.run_error(format!("output holds {} values, expected 19x512x512", logits.len())));
            }
            Ok(face_map(logits, size))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn face_classes_exclude_glasses_hair_and_background() {
        for c in [1, 2, 3, 4, 5, 10, 11, 12, 13] {
            assert!(is_face_class(c));
        }
        for c in [0, 6, 7, 8, 9, 14, 15, 16, 17, 18] {
            assert!(!is_face_class(c));
        }
    }

    #[test]
    fn argmax_map() {
        let plane = INPUT_SIZE * INPUT_SIZE;
        let mut logits = vec![0.0f32; CLASSES * plane];
        // Left half: hair (17) wins; right half: skin (1) wins.
        for y in 0..INPUT_SIZE {
            for x in 0..INPUT_SIZE {
                let c = if x < 256 { 17 } else { 1 };
                logits[c * plane + y * INPUT_SIZE + x] = 5.0;
            }
        }
        let m = face_map(&logits, 224);
        assert_eq!(m.get(10, 100), 0);
        assert_eq!(m.get(200, 100), 255);
    }
}
