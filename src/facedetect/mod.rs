// SPDX-License-Identifier: MIT OR Apache-2.0
//! `ghostfacedetect`: finds faces and attaches the face meta (and ROI metas); never changes pixels.

use gst::glib;
use gst::prelude::*;

mod imp;

glib::wrapper! {
    pub struct FaceDetect(ObjectSubclass<imp::FaceDetect>) @extends gst_base::BaseTransform, gst::Element, gst::Object;
}

pub fn register(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    gst::Element::register(Some(plugin), "ghostfacedetect", gst::Rank::NONE, FaceDetect::static_type())
}
