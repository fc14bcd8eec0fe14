// SPDX-License-Identifier: MIT OR Apache-2.0
//! Where models run: in-process ONNX Runtime (one process-wide environment, execution-provider choice
//! with fallback, a process-wide cache of sessions shared by element instances) or an inference server
//! over KServe v2 gRPC ([`triton`]), both behind [`Model`]; and the tensor-contract checks.
//!
//! Nothing here runs at plugin load: the runtime library is located and loaded on the first
//! [`environment()`] call, which elements make in `start()`; the gRPC client starts with the first
//! served model.

mod contract;
mod library;
mod model;
mod session;
pub mod triton;

pub use contract::{Dim, TensorSig, TensorSpec};
pub use library::{candidate_libraries, environment, LibraryCandidate, LIB_VERSIONED};
pub use model::{load_model, served_name, Input, Model, Outputs, TensorView};
pub use session::{load_session, take_fallbacks, ModelSession, SessionOptions};
pub use triton::{ServerAddress, ServerOptions};

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
///
/// `path` in `Model`, `Contract` and `Run` is the model as messages name it: `model file PATH` for a
/// file, `model 'NAME' on grpc://HOST:PORT` for a served model (`Model::label`), so that both say the
/// same after the name.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RuntimeError {
    #[error("could not load the ONNX Runtime library: {0}")]
    Library(String),
    #[error("{path}: {message}")]
    Model { path: String, message: String },
    #[error("execution provider {provider} is not available for {path}: {message}")]
    Provider { provider: String, path: String, message: String },
    #[error("{path} does not match the {role} contract: expected {expected}; found {found}")]
    Contract { path: String, role: String, expected: String, found: String },
    #[error("inference failed on {path}: {message}")]
    Run { path: String, message: String },
    /// An `inference-server` value that is not an address.
    #[error("{0}")]
    Address(String),
    /// The server cannot be reached (or does not answer) at start.
    #[error("cannot reach the inference server {address} for model '{model}': {message}")]
    Server { address: String, model: String, message: String },
    /// The server answers but has no (ready) model of that name.
    #[error("model '{model}' is not on the inference server {address}: {message}")]
    NotServed { address: String, model: String, message: String },
    /// The server went away while streaming (or restarts): frames pass through until it is back.
    #[error("the inference server {address} is unavailable for model '{model}': {message}")]
    Unavailable { address: String, model: String, message: String },
}

impl RuntimeError {
    /// Whether this is a served model that is temporarily unavailable (the element passes frames
    /// through and the model comes back by itself), rather than a failure.
    pub fn is_unavailable(&self) -> bool {
        matches!(self, RuntimeError::Unavailable { .. })
    }
}
