// SPDX-License-Identifier: MIT OR Apache-2.0
//! `ghostfaceenhance`: face restoration / super-resolution of the swapped crops. The frame is not
//! changed; every face with a swap result gets an enhanced (possibly larger) crop and the matching
//! frame → crop affine, so that `ghostfaceblend` pastes it at the right place.

use gst::glib;
use gst::prelude::*;

use crate::models::enhancer::EnhancerFamily;

mod imp;

glib::wrapper! {
    pub struct FaceEnhance(ObjectSubclass<imp::FaceEnhance>) @extends gst_base::BaseTransform, gst::Element, gst::Object;
}

/// Which enhancer family the model file is.
#[derive(Debug, Eq, PartialEq, Hash, Clone, Copy, glib::Enum, Default)]
#[repr(u32)]
#[enum_type(name = "GstGhostEnhancerFamily")]
pub enum FamilyProp {
    #[default]
    #[enum_value(name = "Auto: from the file's gst_ghost_family metadata, its name, or its size", nick = "auto")]
    Auto = 0,
    #[enum_value(name = "GHOST SR (LIPSPADE, 256, [0,1], the crop as is)", nick = "ghost-sr")]
    GhostSr = 1,
    #[enum_value(name = "GFPGAN style (512, [-1,1], FFHQ template)", nick = "gfpgan")]
    Gfpgan = 2,
    #[enum_value(name = "GPEN (256/512/1024, [-1,1], FFHQ template)", nick = "gpen")]
    Gpen = 3,
}

impl FamilyProp {
    pub fn family(self) -> Option<EnhancerFamily> {
        match self {
            Self::Auto => None,
            Self::GhostSr => Some(EnhancerFamily::GhostSr),
            Self::Gfpgan => Some(EnhancerFamily::Gfpgan),
            Self::Gpen => Some(EnhancerFamily::Gpen),
        }
    }
}

pub fn register(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    gst::Element::register(Some(plugin), "ghostfaceenhance", gst::Rank::NONE, FaceEnhance::static_type())
}
