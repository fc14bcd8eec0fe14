// SPDX-License-Identifier: MIT OR Apache-2.0
//! Face detection: one entry point over the two supported families (MTCNN cascade, SCRFD).
//!
//! Every detector returns boxes and five keypoints in frame pixels, keypoints in *image* order
//! (left eye = the eye on the image's left), sorted by descending score.

use std::path::Path;

use super::locate::{resolve_model, ModelLocation};
use super::mtcnn::Mtcnn;
use super::scrfd::Scrfd;
use crate::runtime::{RuntimeError, SessionOptions};
use crate::vision::PackedFrame;

/// One detected face.
#[derive(Clone, Debug, PartialEq)]
pub struct Detection {
    /// x0, y0, x1, y1 in frame pixels.
    pub bbox: [f32; 4],
    /// Left eye, right eye, nose, left mouth corner, right mouth corner, in image order.
    pub keypoints: [[f32; 2]; 5],
    pub score: f32,
}

/// Detection parameters (element properties).
#[derive(Clone, Debug)]
pub struct DetectorParams {
    /// Final score threshold (SCRFD: anchor score; MTCNN: O-Net score, on top of its fixed stage thresholds).
    pub score_threshold: f32,
    /// SCRFD greedy-NMS IoU threshold (MTCNN uses its own fixed NMS thresholds).
    pub nms_threshold: f32,
    /// SCRFD network input size (square, multiple of 32; ignored for a fixed-size model).
    pub input_size: u32,
    /// MTCNN minimum face size in pixels (values below 12 are treated as 12).
    pub min_face_size: u32,
}

impl DetectorParams {
    /// SCRFD's threshold and NMS (docs/reference.md#scrfd-decoding), its usual input size, and
    /// MTCNN's usual smallest face.
    pub const DEFAULT: Self = Self { score_threshold: 0.5, nms_threshold: 0.4, input_size: 640, min_face_size: 20 };
}

impl Default for DetectorParams {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// A loaded face detector.
pub enum Detector {
    Mtcnn(Box<Mtcnn>),
    Scrfd(Scrfd),
}

impl std::fmt::Debug for Detector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Detector({})", self.family())
    }
}

impl Detector {
    /// Opens a detector from a resolved location: a folder (or a `pnet.onnx` file, meaning its folder) is
    /// MTCNN; any other file is SCRFD, checked by signature (nine outputs; six-output models without
    /// keypoints are rejected).
    ///
    /// With an inference server (a `Served` location): `PNET,RNET,ONET` is the MTCNN cascade with its
    /// three networks served under those names; a value that resolves to a local MTCNN folder (the
    /// default `mtcnn`) stays in-process with its native kernels (a frame's image pyramid is a poor fit
    /// for a network round trip per level); anything else is an SCRFD model on the server.
    pub fn open(location: &ModelLocation, options: &SessionOptions) -> Result<Detector, RuntimeError> {
        match location {
            ModelLocation::Served(value) => {
                let parts: Vec<&str> = value.split(',').map(str::trim).collect();
                if let [p, r, o] = parts[..] {
                    return Ok(Detector::Mtcnn(Box::new(Mtcnn::open_served([p, r, o], options)?)));
                }
                let local = SessionOptions { server: None, ..options.clone() };
                match resolve_model(value) {
                    Ok(loc @ ModelLocation::Dir(_)) => Detector::open(&loc, &local),
                    Ok(ModelLocation::File(f)) if is_pnet(&f) => Detector::open(&ModelLocation::File(f), &local),
                    _ => Ok(Detector::Scrfd(Scrfd::open(Path::new(value), options)?)),
                }
            }
            ModelLocation::Dir(dir) => Ok(Detector::Mtcnn(Box::new(Mtcnn::open(dir, options)?))),
            ModelLocation::File(file) => {
                if is_pnet(file) {
                    let dir = file.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
                    Ok(Detector::Mtcnn(Box::new(Mtcnn::open(dir, options)?)))
                } else {
                    Ok(Detector::Scrfd(Scrfd::open(file, options)?))
                }
            }
        }
    }

    /// Whether the networks run on an inference server.
    pub fn served(&self) -> bool {
        match self {
            Detector::Mtcnn(m) => m.served(),
            Detector::Scrfd(s) => s.served(),
        }
    }

    /// Detects faces; sorted by descending score. SCRFD boxes are clipped to the frame (its anchors
    /// can decode far outside a small frame), faces whose box is empty after that, and any with a
    /// non-finite number (a broken model), are dropped. MTCNN's boxes stay as the reference gives them.
    pub fn detect(&mut self, frame: &PackedFrame, params: &DetectorParams) -> Result<Vec<Detection>, RuntimeError> {
        let mut faces = match self {
            Detector::Mtcnn(m) => m.detect(frame, params)?,
            Detector::Scrfd(s) => {
                let (w, h) = (frame.width as f32, frame.height as f32);
                let mut faces = s.detect(frame, params)?;
                for f in &mut faces {
                    f.bbox = [
                        f.bbox[0].clamp(0.0, w),
                        f.bbox[1].clamp(0.0, h),
                        f.bbox[2].clamp(0.0, w),
                        f.bbox[3].clamp(0.0, h),
                    ];
                }
                faces.retain(|f| f.bbox[2] > f.bbox[0] && f.bbox[3] > f.bbox[1]);
                faces
            }
        };
        faces.retain(|f| {
            f.score.is_finite() && f.bbox.iter().chain(f.keypoints.iter().flatten()).all(|v| v.is_finite())
        });
        faces.sort_by(|a, b| b.score.total_cmp(&a.score));
        Ok(faces)
    }

    /// Where the networks run, when that is not just the session's provider (MTCNN's native P-Net).
    pub fn backend_note(&self) -> Option<&str> {
        match self {
            Detector::Mtcnn(m) => Some(m.note()),
            Detector::Scrfd(_) => None,
        }
    }

    /// "mtcnn" or "scrfd".
    pub fn family(&self) -> &'static str {
        match self {
            Detector::Mtcnn(_) => "mtcnn",
            Detector::Scrfd(_) => "scrfd",
        }
    }
}

fn is_pnet(file: &Path) -> bool {
    file.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.eq_ignore_ascii_case("pnet.onnx"))
}
