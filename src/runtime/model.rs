// SPDX-License-Identifier: MIT OR Apache-2.0
//! The backend-neutral model: named f32 tensors in, named f32 tensors out, run either in-process by
//! ONNX Runtime or on an inference server over KServe v2 gRPC. [`load_model`] is the one place that
//! decides where a model runs (docs/architecture.md#the-backend-layer); the model wrappers only see a
//! [`Model`].

use std::borrow::Cow;
use std::path::Path;
use std::sync::Arc;

use super::contract::{all_match, describe, TensorSig, TensorSpec};
use super::session::{load_session, ModelSession, SessionOptions};
use super::triton::ServedModel;
use super::{ExecutionProvider, RuntimeError};

/// One input of a run: the model's input name, its shape and its values (row-major).
#[derive(Debug, Clone)]
pub struct Input<'a> {
    pub name: &'a str,
    pub shape: Vec<usize>,
    pub data: &'a [f32],
}

impl<'a> Input<'a> {
    pub fn new(name: &'a str, shape: &[usize], data: &'a [f32]) -> Self {
        Self { name, shape: shape.to_vec(), data }
    }
}

/// One output of a run, borrowed from the backend's own buffer (ONNX Runtime's output, the gRPC
/// response, or the shared-memory region) for as long as the reading closure runs.
#[derive(Debug, Clone, Copy)]
pub struct TensorView<'a> {
    pub shape: &'a [i64],
    pub data: &'a [f32],
}

/// A served output: name, shape and values (copied out of the response, or a view of shared memory).
pub(crate) struct ServedOutput<'a> {
    pub name: &'a str,
    pub shape: Vec<i64>,
    pub data: Cow<'a, [f32]>,
}

/// ONNX Runtime's outputs behind a trait object: `SessionOutputs` has a destructor and a lifetime of
/// its own, which a plain reference in `Outputs` could not name.
trait LocalOutputs {
    fn count(&self) -> usize;
    fn at(&self, index: usize) -> Option<&ort::value::DynValue>;
    fn named(&self, name: &str) -> Option<&ort::value::DynValue>;
}

impl LocalOutputs for ort::session::SessionOutputs<'_> {
    fn count(&self) -> usize {
        self.len()
    }

    fn at(&self, index: usize) -> Option<&ort::value::DynValue> {
        (index < self.len()).then(|| &self[index])
    }

    fn named(&self, name: &str) -> Option<&ort::value::DynValue> {
        self.get(name)
    }
}

enum OutputsInner<'a> {
    Local(&'a dyn LocalOutputs),
    Served(&'a [ServedOutput<'a>]),
}

/// The outputs of one run, in the order the model declares them (`Model::outputs`).
pub struct Outputs<'a> {
    inner: OutputsInner<'a>,
    model: &'a Model,
}

impl<'a> Outputs<'a> {
    pub(crate) fn served(outputs: &'a [ServedOutput<'a>], model: &'a Model) -> Self {
        Self { inner: OutputsInner::Served(outputs), model }
    }

    pub fn len(&self) -> usize {
        match &self.inner {
            OutputsInner::Local(o) => o.count(),
            OutputsInner::Served(o) => o.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The `index`-th output.
    pub fn get(&self, index: usize) -> Result<TensorView<'_>, RuntimeError> {
        let missing = || self.model.run_error(format!("the model returned {} outputs, no output {index}", self.len()));
        match &self.inner {
            OutputsInner::Local(o) => {
                let value = o.at(index).ok_or_else(missing)?;
                let (shape, data) = value.try_extract_tensor::<f32>().map_err(|e| self.model.run_error(e))?;
                Ok(TensorView { shape, data })
            }
            OutputsInner::Served(o) => {
                let t = o.get(index).ok_or_else(missing)?;
                Ok(TensorView { shape: &t.shape, data: &t.data })
            }
        }
    }

    /// The output called `name`.
    pub fn by_name(&self, name: &str) -> Result<TensorView<'_>, RuntimeError> {
        let missing = || self.model.run_error(format!("the model returned no output {name}"));
        match &self.inner {
            OutputsInner::Local(o) => {
                let value = o.named(name).ok_or_else(missing)?;
                let (shape, data) = value.try_extract_tensor::<f32>().map_err(|e| self.model.run_error(e))?;
                Ok(TensorView { shape, data })
            }
            OutputsInner::Served(o) => {
                let t = o.iter().find(|t| t.name == name).ok_or_else(missing)?;
                Ok(TensorView { shape: &t.shape, data: &t.data })
            }
        }
    }
}

#[derive(Clone)]
enum Backend {
    Local(Arc<ModelSession>),
    Served(Arc<ServedModel>),
}

/// A loaded model, in-process or served. Cheap to clone (the backends are shared).
#[derive(Clone)]
pub struct Model {
    backend: Backend,
}

impl std::fmt::Debug for Model {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Model")
            .field("label", &self.label())
            .field("inputs", &self.inputs())
            .field("outputs", &self.outputs())
            .finish()
    }
}

/// Loads a model where `options` says: in-process (the session cache) when no inference server is set,
/// else the model of that name on the server (the value as given, or the file stem of a path: see
/// [`served_name`]), checked for reachability and read (metadata, config) at once.
pub fn load_model(path: &Path, options: &SessionOptions) -> Result<Model, RuntimeError> {
    let backend = match &options.server {
        None => Backend::Local(load_session(path, options)?),
        Some(server) => Backend::Served(Arc::new(ServedModel::open(&served_name(path), server)?)),
    };
    Ok(Model { backend })
}

/// The name of a model on a server: the file stem of a path (a value with a `/` or an `.onnx` suffix),
/// else the value as given.
pub fn served_name(value: &Path) -> String {
    let text = value.to_string_lossy();
    if text.contains('/') || text.ends_with(".onnx") {
        value.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| text.into_owned())
    } else {
        text.trim().to_string()
    }
}

impl Model {
    pub fn from_session(session: Arc<ModelSession>) -> Self {
        Self { backend: Backend::Local(session) }
    }

    /// The declared inputs (for a served model: its metadata, with -1 for the batch dimension).
    pub fn inputs(&self) -> &[TensorSig] {
        match &self.backend {
            Backend::Local(s) => &s.inputs,
            Backend::Served(m) => m.inputs(),
        }
    }

    pub fn outputs(&self) -> &[TensorSig] {
        match &self.backend {
            Backend::Local(s) => &s.outputs,
            Backend::Served(m) => m.outputs(),
        }
    }

    /// A custom metadata value: the ONNX file's `metadata_props`, or a served model's config parameter.
    pub fn meta(&self, key: &str) -> Option<&str> {
        match &self.backend {
            Backend::Local(s) => s.meta(key),
            Backend::Served(m) => m.meta(key),
        }
    }

    /// The model as messages name it: `model file PATH`, or `model 'NAME' on ADDRESS`.
    pub fn label(&self) -> String {
        match &self.backend {
            Backend::Local(s) => file_label(&s.path),
            Backend::Served(m) => m.label().to_string(),
        }
    }

    /// The file of an in-process model (native kernels read their weights from it).
    pub fn file(&self) -> Option<&Path> {
        match &self.backend {
            Backend::Local(s) => Some(&s.path),
            Backend::Served(_) => None,
        }
    }

    /// Where an in-process model runs; None for a served one.
    pub fn provider(&self) -> Option<ExecutionProvider> {
        match &self.backend {
            Backend::Local(s) => Some(s.provider),
            Backend::Served(_) => None,
        }
    }

    /// Set when `Auto` wanted CUDA and fell back to the CPU: the reason, for a warning.
    pub fn fallback_reason(&self) -> Option<&str> {
        match &self.backend {
            Backend::Local(s) => s.fallback_reason.as_deref(),
            Backend::Served(_) => None,
        }
    }

    /// The most items one run may hold: a served model's `max_batch_size` (requests are split at it);
    /// None = no limit beyond the declared shapes.
    pub fn max_batch(&self) -> Option<usize> {
        match &self.backend {
            Backend::Local(_) => None,
            Backend::Served(m) => m.max_batch(),
        }
    }

    /// Whether a served model passes its tensors through shared memory (now).
    pub fn uses_shared_memory(&self) -> bool {
        match &self.backend {
            Backend::Local(_) => false,
            Backend::Served(m) => m.uses_shared_memory(),
        }
    }

    /// How many of `n` items go into one run: all of them when the batch dimension is free (split at
    /// the server's `max_batch_size`), else one.
    pub fn chunk(&self, n: usize) -> usize {
        let free = self.inputs().first().and_then(|i| i.dims.first()).is_some_and(|&d| d < 0);
        if !free {
            return 1;
        }
        self.max_batch().map_or(n, |m| n.min(m)).max(1)
    }

    /// Checks the declared inputs and outputs against a role's contract (in order).
    pub fn check(&self, role: &str, inputs: &[TensorSpec], outputs: &[TensorSpec]) -> Result<(), RuntimeError> {
        if all_match(inputs, self.inputs()) && all_match(outputs, self.outputs()) {
            return Ok(());
        }
        Err(self.contract_error(
            role,
            format!("inputs {} and outputs {}", describe(inputs), describe(outputs)),
            self.found(),
        ))
    }

    /// "inputs [...] and outputs [...]" as declared, for contract errors.
    pub fn found(&self) -> String {
        format!("inputs {} and outputs {}", describe(self.inputs()), describe(self.outputs()))
    }

    pub fn contract_error(&self, role: &str, expected: String, found: String) -> RuntimeError {
        RuntimeError::Contract { path: self.label(), role: role.into(), expected, found }
    }

    /// A model that loaded but cannot be used (a message that names it).
    pub fn model_error(&self, message: impl std::fmt::Display) -> RuntimeError {
        RuntimeError::Model { path: self.label(), message: message.to_string() }
    }

    /// A failed run.
    pub fn run_error(&self, message: impl std::fmt::Display) -> RuntimeError {
        RuntimeError::Run { path: self.label(), message: message.to_string() }
    }

    /// Runs the model on `inputs` and hands all its outputs to `read`, which returns what the caller
    /// keeps. The outputs are borrowed from the backend (no copy for in-process runs); a served model
    /// that cannot be reached returns [`RuntimeError::Unavailable`] within the inference timeout.
    pub fn run<R>(
        &self,
        inputs: &[Input<'_>],
        read: impl FnOnce(&Outputs<'_>) -> Result<R, RuntimeError>,
    ) -> Result<R, RuntimeError> {
        match &self.backend {
            Backend::Local(session) => {
                let mut values = Vec::with_capacity(inputs.len());
                for input in inputs {
                    let tensor = ort::value::TensorRef::from_array_view((input.shape.clone(), input.data))
                        .map_err(|e| self.run_error(e))?;
                    values.push((input.name, ort::session::SessionInputValue::from(tensor)));
                }
                let mut guard = session.lock();
                let outputs = guard.run(values).map_err(|e| self.run_error(e))?;
                read(&Outputs { inner: OutputsInner::Local(&outputs), model: self })
            }
            Backend::Served(m) => m.run(self, inputs, read),
        }
    }
}

/// How messages name a model file (the texts of in-process errors).
pub(crate) fn file_label(path: &Path) -> String {
    format!("model file {}", path.display())
}
