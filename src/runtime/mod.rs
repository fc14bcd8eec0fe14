// SPDX-License-Identifier: MIT OR Apache-2.0
//! ONNX Runtime: one process-wide environment, execution-provider choice with fallback, a
//! process-wide cache of sessions shared by element instances, and tensor-contract checks.
//!
//! Nothing here runs at plugin load: the runtime library is located and loaded on the first
//! [`environment()`] call, which elements make in `start()`.

mod contract;
mod library;
mod session;

pub use contract::{Dim, TensorSig, TensorSpec};
pub use library::{candidate_libraries, environment, LibraryCandidate, LIB_VERSIONED};
pub use session::{load_session, take_fallbacks, ModelSession, SessionOptions};

use gst::glib;

/// Where a model runs. `Auto` takes CUDA when it registers and falls back to the CPU with a warning;
/// an explicit provider that cannot register is an error.
#[derive(Debug, Eq, PartialEq, Ord, PartialOrd, Hash, Clone, Copy, glib::Enum, Default)]
#[repr(u32)]
#[enum_type(name = "GstGhostExecutionProvider")]
pub enum ExecutionProvider {
    #[default]
    #[enum_value(name = "Auto: CUDA when available, else CPU", nick = "auto")]
    Auto = 0,
    #[enum_value(name = "CUDA (onnxruntime-gpu)", nick = "cuda")]
    Cuda = 1,
    #[enum_value(name = "TensorRT (with an engine cache)", nick = "tensorrt")]
    TensorRt = 2,
    #[enum_value(name = "CPU", nick = "cpu")]
    Cpu = 3,
}

/// Every failure of the runtime layer, with a message that says what to do.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RuntimeError {
    #[error("could not load the ONNX Runtime library: {0}")]
    Library(String),
    #[error("model file {path}: {message}")]
    Model { path: String, message: String },
    #[error("execution provider {provider} is not available for {path}: {message}")]
    Provider { provider: String, path: String, message: String },
    #[error("model file {path} does not match the {role} contract: expected {expected}; found {found}")]
    Contract { path: String, role: String, expected: String, found: String },
    #[error("inference failed on {path}: {message}")]
    Run { path: String, message: String },
}
