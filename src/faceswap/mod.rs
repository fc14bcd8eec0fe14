// SPDX-License-Identifier: MIT OR Apache-2.0
//! `ghostfaceswap`: computes the swapped face crop of every selected face and attaches it, with
//! its frame → crop affine, to the face meta. The frame itself is not changed (`ghostfaceblend`
//! pastes the crops back).

use gst::glib;
use gst::prelude::*;

mod imp;

glib::wrapper! {
    pub struct FaceSwap(ObjectSubclass<imp::FaceSwap>) @extends gst_base::BaseTransform, gst::Element, gst::Object;
}

/// How the generator crop is aligned.
#[derive(Debug, Eq, PartialEq, Hash, Clone, Copy, glib::Enum, Default)]
#[repr(u32)]
#[enum_type(name = "GstGhostCropMode")]
pub enum CropModeProp {
    #[default]
    #[enum_value(name = "GHOST: best of five multi-pose templates at 224, resized to 256", nick = "ghost")]
    Ghost = 0,
    #[enum_value(name = "Frontal: arcface_112_v1 scaled to 256 (other tools' ghost_*_256 runs)", nick = "frontal")]
    Frontal = 1,
}

/// When the generator runs.
#[derive(Debug, Eq, PartialEq, Hash, Clone, Copy, glib::Enum, Default)]
#[repr(u32)]
#[enum_type(name = "GstGhostSwapMode")]
pub enum SwapMode {
    #[default]
    #[enum_value(name = "Auto: realtime when the pipeline is live, else every frame", nick = "auto")]
    Auto = 0,
    #[enum_value(name = "Every frame: each frame waits for its own swap (files)", nick = "every-frame")]
    EveryFrame = 1,
    #[enum_value(
        name = "Realtime: a worker swaps the newest frame, others reuse its result (never delays a frame)",
        nick = "realtime"
    )]
    Realtime = 2,
}

/// Which faces are swapped.
#[derive(Debug, Eq, PartialEq, Hash, Clone, Copy, glib::Enum, Default)]
#[repr(u32)]
#[enum_type(name = "GstGhostTargets")]
pub enum Targets {
    #[default]
    #[enum_value(name = "All faces", nick = "all")]
    All = 0,
    #[enum_value(name = "The largest face", nick = "largest")]
    Largest = 1,
    #[enum_value(name = "Faces that match the reference photo(s)", nick = "reference")]
    Reference = 2,
}

pub fn register(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    gst::Element::register(Some(plugin), "ghostfaceswap", gst::Rank::NONE, FaceSwap::static_type())
}
