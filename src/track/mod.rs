// SPDX-License-Identifier: MIT OR Apache-2.0
//! Face tracking without GStreamer: Kalman filtering of boxes and keypoints ([`kalman`]), the One
//! Euro filter ([`one_euro`]), IoU association and track lifecycle ([`tracker`]), and fixed-lag
//! smoothing (RTS, or GHOST's reference rule) over a few frames of lookahead ([`smoother`]).

pub mod kalman;
pub mod one_euro;
pub mod shape;
pub mod smoother;
pub mod tracker;

pub use one_euro::OneEuroParams;
pub use tracker::{follow_points, iou, Detection, KalmanTuning, Method, TrackedFace, Tracker, TrackerParams};
