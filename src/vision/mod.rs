// SPDX-License-Identifier: MIT OR Apache-2.0
//! Pure-Rust image primitives for the face-swap pipeline (alignment, warping, masks, detection post-processing).
//!
//! Everything follows OpenCV / insightface conventions (see docs/reference.md) so that results
//! match the Python reference within ±1 grey level. The module is self-contained (no `crate::` paths).

pub mod affine;
pub mod blur;
pub mod color;
pub mod composite;
pub mod draw;
pub mod facemask;
pub mod hull;
pub mod image;
pub mod letterbox;
pub mod morph;
pub mod nms;
pub mod pixel;
pub mod resize;
pub mod similarity;
pub mod template_warp;
pub mod warp;

#[cfg(test)]
pub(crate) mod testdata;

pub use affine::Affine2;
pub use blur::{gaussian_blur_mask, gaussian_blur_mask_roi, gaussian_kernel};
pub use color::{lab_to_cv8, lab_to_rgb, reinhard_transfer, rgb_to_lab};
pub use composite::{composite_packed, composite_support};
pub use hull::{convex_hull, fill_convex_poly};
pub use image::{GrayImage, MaskF32, RgbImage};
pub use letterbox::letterbox_packed;
pub use morph::{dilate, erode};
pub use nms::{nms, BoxF};
pub use pixel::{pack_rgb, unpack_rgb, PackedFrame, PackedFrameMut, PixelLayout, Rect};
pub use resize::{resize_mask, resize_rgb, Filter};
pub use similarity::{
    best_template_fit, scaled_template, umeyama, ARCFACE_112_V1, ARCFACE_112_V2, FFHQ_512, GHOST_TEMPLATES_112,
};
pub use warp::{warp_affine_mask, warp_affine_packed, warp_affine_rgb, Border};
