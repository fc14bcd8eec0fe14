// SPDX-License-Identifier: MIT OR Apache-2.0
//! Model roles and families. Each module owns its pre- and post-processing and states its tensor
//! contract; none of them touches GStreamer.

pub mod align;
pub mod detector;
pub mod enhancer;
mod error;
pub mod identity;
pub mod landmark106;
pub mod locate;
pub mod mtcnn;
pub mod parser;
pub mod recognizer;
pub mod scrfd;
pub mod swapper;

pub use crate::dirs::user_model_dir;
pub use detector::{Detection, Detector, DetectorParams};
pub use error::{ModelError, PhotoKind};
pub use locate::{known_file, locate_model, model_search_dirs, resolve_model, ModelLocation};
