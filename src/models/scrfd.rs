//! SCRFD face detector (insightface; GHOST-FACTS §1.2 and §11).
//!
//! Pre-processing: letterbox to the top-left of an S×S canvas (aspect kept, zero padding, bilinear
//! resize like `cv2.resize`), RGB, (x-127.5)/128, NCHW. Post-processing: nine outputs (scores, box
//! distances, keypoint offsets for strides 8/16/32, two anchors per cell, with or without a leading
//! batch dim), score threshold, greedy NMS, division by the letterbox scale.

use std::path::Path;
use std::sync::Arc;

use super::detector::{Detection, DetectorParams};
use crate::runtime::{load_session, Dim, ModelSession, RuntimeError, SessionOptions, TensorSpec};
use crate::vision::resize::resize_packed;
use crate::vision::{unpack_rgb, Filter, PackedFrame, Rect, RgbImage};

const STRIDES: [usize; 3] = [8, 16, 32];
const ROLE: &str = "SCRFD face detector";

/// A loaded SCRFD model and its reusable input buffer.
pub struct Scrfd {
    session: Arc<ModelSession>,
    input_name: String,
    /// (width, height) when the model declares a fixed input size.
    fixed: Option<(usize, usize)>,
    input: Vec<f32>,
}

fn specs(batched: bool) -> (Vec<TensorSpec>, Vec<TensorSpec>) {
    let input = vec![TensorSpec::new(
        &[],
        &[Dim::Any, Dim::Fixed(3), Dim::Any, Dim::Any],
    )];
    let mut outputs = Vec::new();
    for k in [1, 4, 10] {
        for _ in STRIDES {
            let dims: &[Dim] = if batched {
                &[Dim::Fixed(1), Dim::Any, Dim::Fixed(k)]
            } else {
                &[Dim::Any, Dim::Fixed(k)]
            };
            outputs.push(TensorSpec::new(&[], dims));
        }
    }
    (input, outputs)
}

/// Letterbox geometry (insightface `SCRFD.detect`): the resized size and the scale.
pub(crate) fn letterbox_geometry(
    w: usize,
    h: usize,
    net_w: usize,
    net_h: usize,
) -> (usize, usize, f32) {
    let im_ratio = h as f64 / w as f64;
    let model_ratio = net_h as f64 / net_w as f64;
    let (new_w, new_h) = if im_ratio > model_ratio {
        let new_h = net_h;
        ((new_h as f64 / im_ratio) as usize, new_h)
    } else {
        let new_w = net_w;
        (new_w, (new_w as f64 * im_ratio) as usize)
    };
    let (new_w, new_h) = (new_w.clamp(1, net_w), new_h.clamp(1, net_h));
    (new_w, new_h, (new_h as f64 / h as f64) as f32)
}

impl Scrfd {
    /// Loads and checks an SCRFD file.
    pub fn open(path: &Path, options: &SessionOptions) -> Result<Scrfd, RuntimeError> {
        let session = load_session(path, options)?;
        if session.outputs.len() == 6 {
            return Err(RuntimeError::Model {
                path: session.path.display().to_string(),
                message: "this SCRFD detector has six outputs (scores and boxes only) and no keypoint outputs; \
                          the five keypoints are needed by every later stage (alignment, identity, swap, paste-back), \
                          so use a detector with keypoints (nine outputs, e.g. det_10g.onnx or scrfd_*_bnkps) or mtcnn"
                    .into(),
            });
        }
        let (inp, out_plain) = specs(false);
        let plain = session.check(ROLE, &inp, &out_plain);
        if let Err(e) = plain {
            let (inp_b, out_b) = specs(true);
            if session.check(ROLE, &inp_b, &out_b).is_err() {
                return Err(e);
            }
        }
        let dims = &session.inputs[0].dims;
        let fixed = (dims[2] > 0 && dims[3] > 0).then(|| (dims[3] as usize, dims[2] as usize));
        if let Some((w, h)) = fixed {
            if w % 32 != 0 || h % 32 != 0 {
                return Err(session
                    .model_error(format!("fixed input size {w}x{h} is not a multiple of 32")));
            }
        }
        let input_name = session.inputs[0].name.clone();
        Ok(Scrfd {
            session,
            input_name,
            fixed,
            input: Vec::new(),
        })
    }

    /// Network input size (width, height) used for the given parameters.
    pub fn net_size(&self, params: &DetectorParams) -> (usize, usize) {
        self.fixed.unwrap_or_else(|| {
            let s = ((params.input_size as usize + 16) / 32 * 32).max(32);
            (s, s)
        })
    }

    /// Runs the detector on a frame.
    pub fn detect(
        &mut self,
        frame: &PackedFrame,
        params: &DetectorParams,
    ) -> Result<Vec<Detection>, RuntimeError> {
        if frame.width == 0 || frame.height == 0 {
            return Ok(Vec::new());
        }
        let (net_w, net_h) = self.net_size(params);
        let (new_w, new_h, scale) = letterbox_geometry(frame.width, frame.height, net_w, net_h);
        let resized: RgbImage = if new_w == frame.width && new_h == frame.height {
            unpack_rgb(frame, Rect::new(0, 0, frame.width, frame.height))
        } else {
            resize_packed(frame, new_w, new_h, Filter::Bilinear)
        };
        // NCHW, zero canvas → (0-127.5)/128 outside the image.
        let plane = net_w * net_h;
        self.input.clear();
        self.input.resize(3 * plane, -127.5 / 128.0);
        for y in 0..new_h {
            let row = resized.row(y);
            for c in 0..3 {
                let dst = &mut self.input[c * plane + y * net_w..c * plane + y * net_w + new_w];
                for (d, px) in dst.iter_mut().zip(row.chunks_exact(3)) {
                    *d = (px[c] as f32 - 127.5) / 128.0;
                }
            }
        }

        let session = self.session.clone();
        let run_err = |e: ort::Error| session.model_error(e);
        let mut candidates: Vec<Detection> = Vec::new();
        {
            let tensor = ort::value::TensorRef::from_array_view((
                [1usize, 3, net_h, net_w],
                &self.input[..],
            ))
            .map_err(run_err)?;
            let mut guard = session.lock();
            let outputs = guard
                .run(ort::inputs![self.input_name.as_str() => tensor])
                .map_err(run_err)?;
            for (si, &s) in STRIDES.iter().enumerate() {
                let (cols, rows) = (net_w / s, net_h / s);
                let n = cols * rows * 2;
                let (_, scores) = outputs[si].try_extract_tensor::<f32>().map_err(run_err)?;
                let (_, boxes) = outputs[3 + si]
                    .try_extract_tensor::<f32>()
                    .map_err(run_err)?;
                let (_, kps) = outputs[6 + si]
                    .try_extract_tensor::<f32>()
                    .map_err(run_err)?;
                if scores.len() < n || boxes.len() < n * 4 || kps.len() < n * 10 {
                    return Err(session.model_error(format!(
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
                    if !(score >= params.score_threshold) {
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
                        *p = [
                            (cx + o[2 * k] * sf) / scale,
                            (cy + o[2 * k + 1] * sf) / scale,
                        ];
                    }
                    candidates.push(Detection {
                        bbox,
                        keypoints,
                        score,
                    });
                }
            }
        }
        candidates.sort_by(|a, b| b.score.total_cmp(&a.score));
        Ok(greedy_nms(candidates, params.nms_threshold))
    }
}

/// insightface's greedy NMS (pixel-inclusive areas, keeps overlaps ≤ threshold) on score-sorted input.
fn greedy_nms(sorted: Vec<Detection>, thresh: f32) -> Vec<Detection> {
    let area = |b: &[f32; 4]| (b[2] - b[0] + 1.0) * (b[3] - b[1] + 1.0);
    let mut keep: Vec<Detection> = Vec::new();
    for d in sorted {
        let suppressed = keep.iter().any(|k| {
            let w = (k.bbox[2].min(d.bbox[2]) - k.bbox[0].max(d.bbox[0]) + 1.0).max(0.0);
            let h = (k.bbox[3].min(d.bbox[3]) - k.bbox[1].max(d.bbox[1]) + 1.0).max(0.0);
            let inter = w * h;
            inter / (area(&k.bbox) + area(&d.bbox) - inter) > thresh
        });
        if !suppressed {
            keep.push(d);
        }
    }
    keep
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn letterbox_rule() {
        assert_eq!(letterbox_geometry(1280, 720, 640, 640), (640, 360, 0.5));
        assert_eq!(letterbox_geometry(480, 640, 640, 640), (480, 640, 1.0));
        assert_eq!(letterbox_geometry(640, 640, 640, 640), (640, 640, 1.0));
        let (w, h, _) = letterbox_geometry(1, 1, 640, 640);
        assert_eq!((w, h), (640, 640));
    }

    #[test]
    fn nms_suppresses_overlaps() {
        let d = |x: f32, s: f32| Detection {
            bbox: [x, 0.0, x + 10.0, 10.0],
            keypoints: [[0.0; 2]; 5],
            score: s,
        };
        let kept = greedy_nms(vec![d(0.0, 0.9), d(1.0, 0.8), d(50.0, 0.7)], 0.4);
        assert_eq!(kept.len(), 2);
        assert_eq!(kept[1].bbox[0], 50.0);
    }
}
