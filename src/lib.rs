// SPDX-License-Identifier: MIT OR Apache-2.0
//! gst-ghost: GStreamer elements for one-shot face swapping with the GHOST method.
//!
//! The crate is both the plugin (`libgstghost.so`, plugin name `ghost`) and a Rust library:
//! applications read and write the face meta through [`meta::FacesMeta`], and the pixel,
//! model and tracking code is usable without GStreamer. The design is in `docs/architecture.md`.

use gst::glib;

// The public API: the face meta and the bus message (what applications read), and the plain
// modules that the examples, the tests and the ghost-models tool use (models, pixels, tracking,
// runtime, blending). The elements themselves are reached through GStreamer.
pub mod blend;
pub mod message;
pub mod meta;
pub mod models;
pub mod runtime;
pub mod swap;
pub mod track;
pub mod vision;

mod common;
mod dirs;
mod faceblend;
mod facedetect;
mod faceenhance;
mod faceswap;
mod faceswapbin;
mod facetrack;

fn plugin_init(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    // Registering the meta API here makes it known before any element uses it. The ONNX Runtime
    // library is deliberately *not* touched: the registry scanner must not load it.
    meta::register();
    facedetect::register(plugin)?;
    faceenhance::register(plugin)?;
    faceswap::register(plugin)?;
    facetrack::register(plugin)?;
    faceblend::register(plugin)?;
    faceswapbin::register(plugin)?;
    Ok(())
}

gst::plugin_define!(
    ghost,
    env!("CARGO_PKG_DESCRIPTION"),
    plugin_init,
    concat!(env!("CARGO_PKG_VERSION"), "-", env!("COMMIT_ID")),
    "MIT/X11",
    env!("CARGO_PKG_NAME"),
    env!("CARGO_PKG_NAME"),
    env!("CARGO_PKG_REPOSITORY"),
    env!("BUILD_REL_DATE")
);
