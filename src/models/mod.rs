//! Model roles and families. Each module owns its pre- and post-processing and states its tensor
//! contract; none of them touches GStreamer.

pub mod locate;

pub use locate::{model_search_dirs, resolve_model, ModelLocation};
pub mod landmark106;
pub mod parser;
