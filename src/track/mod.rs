// SPDX-License-Identifier: MIT OR Apache-2.0
//! Face tracking without GStreamer: constant-velocity Kalman filtering of boxes and keypoints
//! ([`kalman`]), IoU association and track lifecycle ([`tracker`]), and fixed-lag smoothing
//! (RTS, or GHOST's reference rule) over a few frames of lookahead ([`smoother`]).

pub mod kalman;
pub mod smoother;
pub mod tracker;

pub use tracker::{follow_points, iou, Detection, Method, TrackedFace, Tracker, TrackerParams};
