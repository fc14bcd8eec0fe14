// SPDX-License-Identifier: MIT OR Apache-2.0
//! `ghostfaceblend`: pastes the swapped crops of the face meta back into the frame through a soft
//! mask (see [`crate::blend`], which does the work), or draws the debug overlay.

use gst::glib;
use gst::prelude::*;

mod imp;

glib::wrapper! {
    pub struct FaceBlend(ObjectSubclass<imp::FaceBlend>) @extends gst_base::BaseTransform, gst::Element, gst::Object;
}

pub fn register(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    gst::Element::register(Some(plugin), "ghostfaceblend", gst::Rank::NONE, FaceBlend::static_type())
}
