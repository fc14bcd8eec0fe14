// SPDX-License-Identifier: MIT OR Apache-2.0
//! `ghostfaceswapbin`: the whole chain in one element — detect → track → swap → (enhance, when an
//! enhancer is set) → blend, with queues between the stages so they run in parallel threads and
//! format conversion inside only where the input is not already packed RGB. The output has the
//! input's format.

use gst::glib;
use gst::prelude::*;

mod imp;

glib::wrapper! {
    pub struct FaceSwapBin(ObjectSubclass<imp::FaceSwapBin>) @extends gst::Bin, gst::Element, gst::Object;
}

pub fn register(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    gst::Element::register(Some(plugin), "ghostfaceswapbin", gst::Rank::NONE, FaceSwapBin::static_type())
}
