// SPDX-License-Identifier: MIT OR Apache-2.0
//! `ghostfacetrack`: gives the faces of the face meta track ids, smooths their boxes and
//! keypoints, and keeps them alive through detector misses (predicted faces); pixels untouched.
//! The numerics live in [`crate::track`].

use gst::glib;
use gst::prelude::*;

mod imp;

/// How `ghostfacetrack` smooths positions.
#[derive(Debug, Default, Eq, PartialEq, Ord, PartialOrd, Hash, Clone, Copy, glib::Enum)]
#[repr(u32)]
#[enum_type(name = "GstGhostTrackMethod")]
pub enum TrackMethod {
    #[default]
    #[enum_value(
        name = "Kalman: box, keypoint centroid and shape similarity with speed-adaptive noise; with lookahead, fixed-lag RTS smoother",
        nick = "kalman"
    )]
    Kalman = 0,
    #[enum_value(
        name = "GHOST: the reference rule, centred ±2-frame mean of the keypoints, reset on a jump over 5 px (needs lookahead >= 2)",
        nick = "ghost"
    )]
    Ghost = 1,
    #[enum_value(
        name = "One Euro: speed-adaptive low-pass filter per coordinate, causal (needs lookahead=0)",
        nick = "one-euro"
    )]
    OneEuro = 2,
}

glib::wrapper! {
    pub struct FaceTrack(ObjectSubclass<imp::FaceTrack>) @extends gst::Element, gst::Object;
}

pub fn register(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    gst::Element::register(Some(plugin), "ghostfacetrack", gst::Rank::NONE, FaceTrack::static_type())
}
