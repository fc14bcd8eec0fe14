// SPDX-License-Identifier: MIT OR Apache-2.0
//! SCRFD face detector (insightface; docs/reference.md#scrfd-decoding).
//!
//! Pre-processing: letterbox to the top-left of an S×S canvas (aspect kept, zero padding, bilinear
//! resize like `cv2.resize`), RGB, (x-127.5)/128, NCHW. Post-processing: nine outputs (scores, box
//! distances, keypoint offsets for strides 8/16/32, two anchors per cell, with or without a leading
//! batch dim), score threshold, greedy NMS, division by the letterbox scale.

use std::path::Path;

use super::detector::{Detection, DetectorParams};
use crate::runtime::{load_model, Dim, Input, Model, RuntimeError, SessionOptions, TensorSpec};
use crate::vision::nms::{nms, BoxF};
use crate::vision::{letterbox_packed, PackedFrame};

const STRIDES: [usize; 3] = [8, 16, 32];
const ROLE: &str = "SCRFD face detector";

/// A loaded SCRFD model and its reusable input buffer.
pub struct Scrfd {
    model: Model,
    input_name: String,
    /// (width, height) when the model declares a fixed input size.
    fixed: Option<(usize, usize)>,
    input: Vec<f32>,
}

fn specs(batched: bool) -> (Vec<TensorSpec>, Vec<TensorSpec>) {
    let input = vec![TensorSpec::new(&[], &[Dim::Any, Dim::Fixed(3), Dim::Any, Dim::Any])];
    let mut outputs = Vec::new();
    for k in [1, 4, 10] {
        for _ in STRIDES {
            let dims: &[Dim] =
                if batched { &[Dim::Fixed(1), Dim::Any, Dim::Fixed(k)] } else { &[Dim::Any, Dim::Fixed(k)] };
            outputs.push(TensorSpec::new(&[], dims));
        }
    }
    (input, outputs)
}

impl Scrfd {
    /// Loads and checks an SCRFD file.
    pub fn open(path: &Path, options: &SessionOptions) -> Result<Scrfd, RuntimeError> {
        let model = load_model(path, options)?;
        if model.outputs().len() == 6 {
            return Err(model.model_error(
                "this SCRFD detector has six outputs (scores and boxes only) and no keypoint outputs; \
                 the five keypoints are needed by every later stage (alignment, identity, swap, paste-back), \
                 so use a detector with keypoints (nine outputs, e.g. det_10g.onnx or scrfd_*_bnkps) or mtcnn",
            ));
        }
        let (inp, out_plain) = specs(false);
        let plain = model.check(ROLE, &inp, &out_plain);
        if let Err(e) = plain {
            let (inp_b, out_b) = specs(true);
            if model.check(ROLE, &inp_b, &out_b).is_err() {
                return Err(e);
            }
        }
        let dims = &model.inputs()[0].dims;
        let fixed = (dims[2] > 0 && dims[3] > 0).then(|| (dims[3] as usize, dims[2] as usize));
        if let Some((w, h)) = fixed {
            if w % 32 != 0 || h % 32 != 0 {
                return Err(model.run_error(format!("fixed input size {w}x{h} is not a multiple of 32")));
            }
        }
        let input_name = model.inputs()[0].name.clone();
        Ok(Scrfd { model, input_name, fixed, input: Vec::new() })
    }

    /// Whether the model runs on an inference server.
    pub fn served(&self) -> bool {
        self.model.file().is_none()
    }

    /// Network input size (width, height) used for the given parameters.
    pub fn net_size(&self, params: &DetectorParams) -> (usize, usize) {
        self.fixed.unwrap_or_else(|| {
            let s = ((params.input_size as usize + 16) / 32 * 32).max(32);
            (s, s)
        })
    }

    /// Runs the detector on a frame.
    pub fn detect(&mut self, frame: &PackedFrame, params: &DetectorParams) -> Result<Vec<Detection>, RuntimeError> {
        if frame.width == 0 || frame.height == 0 {
            return Ok(Vec::new());
        }
        let (net_w, net_h) = self.net_size(params);
        let (canvas, scale) = letterbox_packed(frame, net_w, net_h);
        let scale = scale as f32;
        // NCHW, (x-127.5)/128; the zero padding of the canvas becomes -127.5/128 like the reference.
        let plane = net_w * net_h;
        self.input.resize(3 * plane, 0.0);
        for (i, px) in canvas.data.chunks_exact(3).enumerate() {
            for (c, &v) in px.iter().enumerate() {
                self.input[c * plane + i] = (v as f32 - 127.5) / 128.0;
            }
        }

        let model = &self.model;
        let mut candidates: Vec<Detection> = Vec::new();
        model.run(&[Input::new(&self.input_name, &[1, 3, net_h, net_w], &self.input)], |outputs| {
            for (si, &s) in STRIDES.iter().enumerate() {
                let (cols, rows) = (net_w / s, net_h / s);
                let n = cols * rows * 2;
                let scores = outputs.get(si)?.data;
                let boxes = outputs.get(3 + si)?.data;
                let kps = outputs.get(6 + si)?.data;
                if scores.len() < n || boxes.len() < n * 4 || kps.len() < n * 10 {
                    return Err(model.run_error(format!(
                        "stride {s} outputs hold {}/{}/{} values, expected {n}/{}/{} for a {net_w}x{net_h} input",
                        scores.len(),
                        boxes.len(),
                        kps.len(),
                        n * 4,
                        n * 10
                    )));
                }
                let sf = s as f32;
                for (i, &score) in scores[..n].iter().enumerate() {
                    // NaN scores (a broken model) count as below the threshold.
                    if score.is_nan() || score < params.score_threshold {
                        continue;
                    }
                    let cell = i / 2;
                    let (cx, cy) = (((cell % cols) * s) as f32, ((cell / cols) * s) as f32);
                    let d = &boxes[i * 4..i * 4 + 4];
                    let o = &kps[i * 10..i * 10 + 10];
                    let bbox = [
                        (cx - d[0] * sf) / scale,
                        (cy - d[1] * sf) / scale,
                        (cx + d[2] * sf) / scale,
                        (cy + d[3] * sf) / scale,
                    ];
                    let mut keypoints = [[0f32; 2]; 5];
                    for (k, p) in keypoints.iter_mut().enumerate() {
                        *p = [(cx + o[2 * k] * sf) / scale, (cy + o[2 * k + 1] * sf) / scale];
                    }
                    candidates.push(Detection { bbox, keypoints, score });
                }
            }
            Ok(())
        })?;
        let boxes: Vec<BoxF> =
            candidates.iter().map(|d| BoxF::new(d.bbox[0], d.bbox[1], d.bbox[2], d.bbox[3])).collect();
        let scores: Vec<f32> = candidates.iter().map(|d| d.score).collect();
        Ok(nms(&boxes, &scores, params.nms_threshold).into_iter().map(|i| candidates[i].clone()).collect())
    }
}
