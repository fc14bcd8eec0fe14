// SPDX-License-Identifier: MIT OR Apache-2.0
//! insightface 2d106det, GHOST's mask landmarker (docs/reference.md#landmarks-on-the-crop): 106 points on a face crop.
//!
//! GHOST runs it on 224 crops: a crop of another size is first resized to 224 (`cv2.resize`, bilinear),
//! then warped with the fixed M = [[0.5714286, 0, 32], [0, 0.5714286, 32]] into the 192 input (zero border),
//! RGB float 0..255 NCHW (`data`, the graph normalises itself). The output `fc1` holds 212 values in [-1, 1];
//! points = (pred + 1) * 96 mapped back with IM = [[1.75, 0, -56], [0, 1.75, -56]] into 224-crop pixels.

use std::path::Path;

use crate::runtime::{load_model, Dim, Input, Model, RuntimeError, SessionOptions, TensorSpec};
use crate::vision::{resize_rgb, warp_affine_rgb, Affine2, Border, Filter, RgbImage};

pub const INPUT_SIZE: usize = 192;
/// The crop size GHOST runs the landmarker on; points are returned in these pixels.
pub const CROP_SIZE: usize = 224;
pub const POINTS: usize = 106;

/// The fixed 224 → 192 matrix of `get_without_detection_without_transform`.
pub const M: Affine2 = Affine2([0.5714286, 0.0, 32.0, 0.0, 0.5714286, 32.0]);
/// Its inverse as GHOST writes it.
pub const IM: Affine2 = Affine2([1.75, 0.0, -56.0, 0.0, 1.75, -56.0]);

pub fn input_spec() -> TensorSpec {
    TensorSpec::new(&["data"], &[Dim::Any, Dim::Fixed(3), Dim::Fixed(INPUT_SIZE as i64), Dim::Fixed(INPUT_SIZE as i64)])
}

pub fn output_spec() -> TensorSpec {
    TensorSpec::new(&["fc1"], &[Dim::Any, Dim::Fixed(2 * POINTS as i64)])
}

/// The network input (1x3x192x192, RGB 0..255) for a square RGB crop of any size.
pub fn preprocess(crop: &RgbImage, out: &mut Vec<f32>) {
    let resized;
    let c224 = if crop.width == CROP_SIZE && crop.height == CROP_SIZE {
        crop
    } else {
        resized = resize_rgb(crop, CROP_SIZE, CROP_SIZE, Filter::Bilinear);
        &resized
    };
    let img = warp_affine_rgb(c224, &M, INPUT_SIZE, INPUT_SIZE, Border::Constant([0, 0, 0]));
    let plane = INPUT_SIZE * INPUT_SIZE;
    out.clear();
    out.resize(3 * plane, 0.0);
    for (i, px) in img.data.chunks_exact(3).enumerate() {
        out[i] = px[0] as f32;
        out[plane + i] = px[1] as f32;
        out[2 * plane + i] = px[2] as f32;
    }
}

/// `fc1` → 106 points in 224-crop pixels.
pub fn postprocess(pred: &[f32]) -> Vec<[f32; 2]> {
    pred.chunks_exact(2)
        .take(POINTS)
        .map(|p| {
            let (x, y) = ((p[0] as f64 + 1.0) * 96.0, (p[1] as f64 + 1.0) * 96.0);
            let (u, v) = IM.apply(x, y);
            [u as f32, v as f32]
        })
        .collect()
}

/// A loaded 2d106det model.
pub struct Landmarker {
    model: Model,
    input: Vec<f32>,
}

impl Landmarker {
    /// Loads the model and checks its contract (a mismatch names the file).
    pub fn open(path: &Path, options: &SessionOptions) -> Result<Self, RuntimeError> {
        let model = load_model(path, options)?;
        model.check("2d106det landmarker", &[input_spec()], &[output_spec()])?;
        Ok(Self { model, input: Vec::new() })
    }

    pub fn model(&self) -> &Model {
        &self.model
    }

    /// The 106 points of a square RGB face crop, in 224-crop pixels.
    pub fn landmarks(&mut self, crop: &RgbImage) -> Result<Vec<[f32; 2]>, RuntimeError> {
        preprocess(crop, &mut self.input);
        let model = &self.model;
        model.run(&[Input::new("data", &[1, 3, INPUT_SIZE, INPUT_SIZE], &self.input)], |out| {
            let pred = out.by_name("fc1")?.data;
            if pred.len() < 2 * POINTS {
                return Err(model.run_error(format!("fc1 holds {} values, expected {}", pred.len(), 2 * POINTS)));
            }
            Ok(postprocess(pred))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn m_and_im_are_inverse() {
        let (x, y) = M.apply(10.0, 200.0);
        let (u, v) = IM.apply(x, y);
        assert!((u - 10.0).abs() < 1e-4 && (v - 200.0).abs() < 1e-4);
    }

    #[test]
    fn postprocess_maps_the_192_grid_to_224() {
        // pred 0 → 96 px in 192 → 1.75*96 - 56 = 112 (the crop centre); pred -1 → -56; pred 1 → 280.
        let mut pred = vec![0.0f32; 212];
        pred[2] = -1.0;
        pred[3] = 1.0;
        let p = postprocess(&pred);
        assert_eq!(p.len(), 106);
        assert_eq!(p[0], [112.0, 112.0]);
        assert_eq!(p[1], [-56.0, 280.0]);
    }

    #[test]
    fn preprocess_places_the_224_crop_in_the_centre() {
        let mut crop = RgbImage::new(224, 224);
        crop.data.fill(200);
        let mut input = Vec::new();
        preprocess(&crop, &mut input);
        assert_eq!(input.len(), 3 * 192 * 192);
        // Centre 128x128 holds the crop, the margin of 32 is black.
        assert_eq!(input[96 * 192 + 96], 200.0);
        assert_eq!(input[10 * 192 + 10], 0.0);
        assert_eq!(input[2 * 192 * 192 + 96 * 192 + 20], 0.0);
        // A 256 crop is resized first.
        let mut big = RgbImage::new(256, 256);
        big.data.fill(50);
        preprocess(&big, &mut input);
        assert_eq!(input[96 * 192 + 96], 50.0);
    }
}
