// SPDX-License-Identifier: MIT OR Apache-2.0
//! Swappers: the GHOST AEI-Net generator, and `paste`, the model-free baseline.
//!
//! Generator contract (docs/reference.md#generator-input-and-output): inputs `target` (N,3,256,256) and
//! `source` (N,512) — or the official export's `Xt` / `z_id` — with the target crop in RGB mapped to [-1,1];
//! output (N,3,256,256) from tanh, turned into pixels as (y·0.5+0.5)·255.

use std::path::Path;

use super::align::GENERATOR_SIZE;
use super::recognizer::EMBEDDING_SIZE;
use crate::runtime::{load_model, Dim, Input, Model, RuntimeError, SessionOptions, TensorSpec};
use crate::vision::color::reinhard_transfer_whole;
use crate::vision::{MaskF32, RgbImage};

const PLANE: usize = GENERATOR_SIZE * GENERATOR_SIZE;

#[derive(Clone)]
pub struct GhostGenerator {
    model: Model,
    target_name: String,
    source_name: String,
    /// Whether the batch dimension is dynamic (all faces in one run) or fixed at 1.
    pub batched: bool,
}

impl GhostGenerator {
    pub fn open(path: &Path, options: &SessionOptions) -> Result<Self, RuntimeError> {
        let model = load_model(path, options)?;
        let image = [Dim::Any, Dim::Fixed(3), Dim::Fixed(GENERATOR_SIZE as i64), Dim::Fixed(GENERATOR_SIZE as i64)];
        let identity = [Dim::Any, Dim::Fixed(EMBEDDING_SIZE as i64)];
        // Inputs may come in either order; check each name set.
        let by_name = |names: &[&'static str]| model.inputs().iter().position(|i| names.contains(&i.name.as_str()));
        let (t, s) = (by_name(&["target", "Xt"]), by_name(&["source", "z_id"]));
        let (inputs, ti, si) = match (t, s) {
            (Some(0), Some(1)) => (
                vec![TensorSpec::new(&["target", "Xt"], &image), TensorSpec::new(&["source", "z_id"], &identity)],
                0,
                1,
            ),
            (Some(1), Some(0)) => (
                vec![TensorSpec::new(&["source", "z_id"], &identity), TensorSpec::new(&["target", "Xt"], &image)],
                1,
                0,
            ),
            _ => (
                vec![TensorSpec::new(&["target", "Xt"], &image), TensorSpec::new(&["source", "z_id"], &identity)],
                0,
                1,
            ),
        };
        model.check("GHOST generator", &inputs, &[TensorSpec::new(&[], &image)])?;
        let batched = model.inputs()[ti].dims[0] < 0;
        Ok(Self {
            target_name: model.inputs()[ti].name.clone(),
            source_name: model.inputs()[si].name.clone(),
            batched,
            model,
        })
    }

    /// The model (in-process or served).
    pub fn model(&self) -> &Model {
        &self.model
    }

    /// Swaps the identity into each 256 crop; one run for all crops when the batch is dynamic (split
    /// at a server's `max_batch_size`). A face whose output is not finite (a broken model or identity)
    /// is `None`: never pasted.
    pub fn swap(&self, crops: &[&RgbImage], identity: &[f32]) -> Result<Vec<Option<RgbImage>>, RuntimeError> {
        let mut out = Vec::with_capacity(crops.len());
        let chunk = self.model.chunk(crops.len());
        let mut target = Vec::new();
        let mut source = Vec::new();
        for group in crops.chunks(chunk) {
            target.clear();
            source.clear();
            for crop in group {
                generator_input(crop, &mut target);
                source.extend_from_slice(identity);
            }
            let n = group.len();
            let inputs = [
                Input::new(&self.target_name, &[n, 3, GENERATOR_SIZE, GENERATOR_SIZE], &target),
                Input::new(&self.source_name, &[n, EMBEDDING_SIZE], &source),
            ];
            self.model.run(&inputs, |outputs| {
                let y = outputs.get(0)?.data;
                if y.len() != n * 3 * PLANE {
                    return Err(self
                        .model
                        .run_error(format!("expected {n}x3x256x256 outputs, got {} values", y.len())));
                }
                out.extend(
                    y.chunks_exact(3 * PLANE).map(|y| y.iter().all(|v| v.is_finite()).then(|| generator_output(y))),
                );
                Ok(())
            })?;
        }
        Ok(out)
    }
}

/// Appends the generator input of one crop: RGB, NCHW, (x/255 - 0.5)/0.5.
pub fn generator_input(crop: &RgbImage, out: &mut Vec<f32>) {
    let start = out.len();
    out.resize(start + 3 * PLANE, 0.0);
    let planes = &mut out[start..];
    for (i, px) in crop.data.chunks_exact(3).enumerate() {
        for c in 0..3 {
            planes[c * PLANE + i] = px[c] as f32 * (2.0 / 255.0) - 1.0;
        }
    }
}

/// Turns one (3,256,256) tanh output into pixels: (y·0.5+0.5)·255, clamped and *rounded*.
/// The reference truncates (`.type(uint8)`), which darkens every pixel by half a level on
/// average; rounding is the unbiased choice and the only deliberate difference.
pub fn generator_output(y: &[f32]) -> RgbImage {
    let mut img = RgbImage::new(GENERATOR_SIZE, GENERATOR_SIZE);
    for (i, px) in img.data.chunks_exact_mut(3).enumerate() {
        for c in 0..3 {
            px[c] = ((y[c * PLANE + i] * 0.5 + 0.5) * 255.0).round().clamp(0.0, 255.0) as u8;
        }
    }
    img
}

/// The `paste` baseline: the source face, aligned into the target's crop frame with the same
/// template, colour-matched (Reinhard, in Lab) to the target over the central face region.
pub fn paste_swap(source_crop: &RgbImage, target_crop: &RgbImage) -> RgbImage {
    let mut out = source_crop.clone();
    if out.width == target_crop.width && out.height == target_crop.height {
        let region = face_region(out.width, out.height);
        reinhard_transfer_whole(&mut out, target_crop, &region);
    }
    out
}

/// An ellipse over the aligned face (brows to chin) used for colour statistics.
fn face_region(w: usize, h: usize) -> MaskF32 {
    let mut m = MaskF32::new(w, h);
    let (cx, cy, rx, ry) = (0.5 * w as f32, 0.56 * h as f32, 0.32 * w as f32, 0.36 * h as f32);
    for y in 0..h {
        for x in 0..w {
            let dx = (x as f32 - cx) / rx;
            let dy = (y as f32 - cy) / ry;
            if dx * dx + dy * dy <= 1.0 {
                m.data[y * w + x] = 1.0;
            }
        }
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn input_and_output_conversions_invert_each_other() {
        let mut crop = RgbImage::new(256, 256);
        for (i, v) in crop.data.iter_mut().enumerate() {
            *v = (i * 7 % 256) as u8;
        }
        let mut t = Vec::new();
        generator_input(&crop, &mut t);
        assert_eq!(t.len(), 3 * PLANE);
        // Pixel (0,1) green = data[4]; planes are R, G, B.
        assert!((t[PLANE + 1] - (crop.data[4] as f32 / 127.5 - 1.0)).abs() < 1e-6);
        assert_eq!(generator_output(&t), crop);
    }

    #[test]
    fn output_is_clamped_and_rounded() {
        let mut y = vec![0.0f32; 3 * PLANE];
        y[0] = 1.5; // beyond tanh's range
        y[1] = -2.0;
        y[2] = 0.001; // 127.6275 rounds to 128 (the reference truncates to 127)
        let img = generator_output(&y);
        assert_eq!(img.data[0], 255);
        assert_eq!(img.data[3], 0);
        assert_eq!(img.data[6], 128);
    }

    #[test]
    fn paste_moves_colour_statistics_towards_the_target() {
        let source = RgbImage::from_raw(64, 64, vec![200; 64 * 64 * 3]);
        let mut target = RgbImage::from_raw(64, 64, vec![0; 64 * 64 * 3]);
        for px in target.data.chunks_exact_mut(3) {
            px.copy_from_slice(&[90, 60, 40]);
        }
        let out = paste_swap(&source, &target);
        let centre = out.get(32, 36);
        assert!(centre.iter().zip([90, 60, 40]).all(|(&a, b)| (a as i32 - b).abs() <= 2), "{centre:?}");
    }

    /// The int8 and fp16 test generators that `./ghost.sh setup` makes with quantize_ghost.py (the tool
    /// users run on real generators) are what their names say.
    #[test]
    fn the_variant_test_generators_are_quantized_and_half_precision() {
        use crate::models::mtcnn::weights::Graph;
        let read = |name: &str| {
            let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("models/test").join(name);
            Graph::read(&path).unwrap_or_else(|e| panic!("{}: {e} (run ./ghost.sh setup)", path.display()))
        };
        let count = |g: &Graph, op: &str| g.nodes.iter().filter(|n| n.op_type == op).count();
        let (fp32, int8, fp16) =
            (read("swapper_conv.onnx"), read("swapper_conv_int8.onnx"), read("swapper_conv_fp16.onnx"));
        let convs = count(&fp32, "Conv");
        assert_eq!(convs, 8);
        // Every conv of the int8 file reads int8 weights through a DequantizeLinear, but one: the last conv
        // (16 -> 3, 3x3) becomes an int8 1x1 conv to its 27 taps plus a float shift of one-hot 3x3 kernels
        // (quantize_ghost.py's thin_convs_to_taps), so there is one conv more.
        assert_eq!(count(&int8, "Conv"), convs + 1);
        let float_convs: Vec<_> =
            int8.nodes.iter().filter(|n| n.op_type == "Conv" && int8.weight(n, 1).is_some()).collect();
        assert_eq!(float_convs.len(), 1);
        let shift = int8.weight(float_convs[0], 1).unwrap();
        assert_eq!(shift.dims, [3, 9, 3, 3]);
        assert_eq!(shift.data.iter().filter(|&&v| v == 1.0).count(), 27, "one-hot kernels");
        assert_eq!(shift.data.iter().filter(|&&v| v == 0.0).count(), 27 * 8);
        assert!(count(&int8, "QuantizeLinear") >= convs && count(&int8, "DequantizeLinear") >= 2 * convs);
        // The fp16 file holds no float32 conv weight and casts its float32 inputs and output.
        assert!(fp16.nodes.iter().filter(|n| n.op_type == "Conv").all(|n| fp16.weight(n, 1).is_none()));
        assert!(count(&fp16, "Cast") >= 3, "keep_io_types casts target, source and output");
        // The wrong-contract variant is quantized too (its rejection is tested through the element).
        assert!(count(&read("swapper_conv_half_int8.onnx"), "QuantizeLinear") > 0);
    }
}
