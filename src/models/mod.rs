//! Model roles and families. Each module owns its pre- and post-processing and states its tensor
//! contract; none of them touches GStreamer.

pub mod detector;
pub mod locate;
pub mod mtcnn;
pub mod scrfd;

pub use detector::{Detection, Detector, DetectorParams};
pub use locate::{model_search_dirs, resolve_model, ModelLocation};
pub mod align;
pub mod recognizer;
pub mod swapper;
pub mod identity;
pub mod enhancer;
