//! gst-ghost: GStreamer elements for one-shot face swapping with the GHOST method.
//!
//! The crate is both the plugin (`libgstghost.so`, plugin name `ghost`) and a Rust library:
//! applications read and write the face meta through [`meta::FacesMeta`], and the pixel,
//! model and tracking code is usable without GStreamer.

use gst::glib;

pub mod blend;
pub mod common;
pub mod dirs;
pub mod faceblend;
pub mod facedetect;
pub mod faceenhance;
pub mod faceswap;
pub mod faceswapbin;
pub mod facetrack;
pub mod meta;
pub mod models;
pub mod runtime;
pub mod track;
pub mod vision;

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
