// SPDX-License-Identifier: MIT OR Apache-2.0
//! Sessions: created with the requested execution provider, cached process-wide by
//! (file, provider, device, threads) so that element instances and pipelines share one copy.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, LazyLock, Mutex, MutexGuard, Weak};

use ort::ep::{self, ExecutionProvider as _};
use ort::session::Session;

use super::contract::{all_match, describe, TensorSig, TensorSpec};
use super::model::file_label;
use super::{environment, ExecutionProvider, RuntimeError, ServerOptions};

/// How a session is created; part of the cache key.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SessionOptions {
    pub provider: ExecutionProvider,
    pub device_id: i32,
    /// Intra-op threads; 0 = ONNX Runtime's default.
    pub threads: u32,
    /// TensorRT engine cache folder (only used with `TensorRt`).
    pub trt_cache_dir: Option<PathBuf>,
    /// Whether idle intra-op workers spin (ORT's default) instead of sleeping. Turn off for models run
    /// many times per frame with CPU work in between: the spinning workers then take the cores from
    /// that work and from other sessions' workers (MTCNN on 2 cores: P-Net ran 2-3x slower).
    pub intra_op_spinning: bool,
    /// Serve the models from this inference server instead of running them in-process (see
    /// `runtime::load_model`); the ONNX Runtime options above then do not apply.
    pub server: Option<ServerOptions>,
}

impl Default for SessionOptions {
    fn default() -> Self {
        Self {
            provider: ExecutionProvider::Auto,
            device_id: 0,
            threads: 0,
            trt_cache_dir: None,
            intra_op_spinning: true,
            server: None,
        }
    }
}

/// A loaded model: the ORT session behind a mutex (`run` takes `&mut`), its declared signature,
/// its custom metadata, and the provider it actually runs on.
pub struct ModelSession {
    session: Mutex<Session>,
    pub path: PathBuf,
    pub provider: ExecutionProvider,
    pub inputs: Vec<TensorSig>,
    pub outputs: Vec<TensorSig>,
    pub metadata: HashMap<String, String>,
    /// Set when `Auto` wanted CUDA and fell back to the CPU: the reason, for a warning.
    pub fallback_reason: Option<String>,
}

impl std::fmt::Debug for ModelSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ModelSession")
            .field("path", &self.path)
            .field("provider", &self.provider)
            .field("inputs", &self.inputs)
            .field("outputs", &self.outputs)
            .finish()
    }
}

impl ModelSession {
    /// Exclusive access for `run`; a poisoned lock (a panic inside ORT glue) is recovered because
    /// the session itself holds no Rust invariants.
    pub fn lock(&self) -> MutexGuard<'_, Session> {
        self.session.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Checks the declared inputs and outputs against a role's contract.
    pub fn check(&self, role: &str, inputs: &[TensorSpec], outputs: &[TensorSpec]) -> Result<(), RuntimeError> {
        if all_match(inputs, &self.inputs) && all_match(outputs, &self.outputs) {
            return Ok(());
        }
        Err(RuntimeError::Contract {
            path: file_label(&self.path),
            role: role.into(),
            expected: format!("inputs {} and outputs {}", describe(inputs), describe(outputs)),
            found: format!("inputs {} and outputs {}", describe(&self.inputs), describe(&self.outputs)),
        })
    }

    /// A custom metadata value of the model file (`metadata_props`).
    pub fn meta(&self, key: &str) -> Option<&str> {
        self.metadata.get(key).map(String::as_str)
    }

    pub fn model_error(&self, message: impl std::fmt::Display) -> RuntimeError {
        RuntimeError::Run { path: file_label(&self.path), message: message.to_string() }
    }
}

type CacheKey = (PathBuf, SessionOptions);

thread_local! {
    /// Sessions that `Auto` put on the CPU on this thread since the last `take_fallbacks`, with the
    /// reason. Per thread, because an element loads its models in `start` on the calling thread: what
    /// it takes after loading is its own, not what another element or the application loaded.
    static FALLBACKS: std::cell::RefCell<Vec<(PathBuf, String)>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// The CPU fallbacks of `execution-provider=auto` loaded on this thread since the last call (the
/// elements clear this before loading their models and post each one as a warning after).
pub fn take_fallbacks() -> Vec<(PathBuf, String)> {
    FALLBACKS.with(|f| std::mem::take(&mut *f.borrow_mut()))
}

static CACHE: LazyLock<Mutex<HashMap<CacheKey, Weak<ModelSession>>>> = LazyLock::new(Default::default);

/// Loads a model, or returns the live session already loaded with the same options.
///
/// The cache holds weak references: a model is freed when the last element using it stops.
pub fn load_session(path: &Path, options: &SessionOptions) -> Result<Arc<ModelSession>, RuntimeError> {
    let model_error = |message: String| RuntimeError::Model { path: file_label(path), message };
    let canonical = path.canonicalize().map_err(|e| model_error(format!("cannot open: {e}")))?;
    let key = (canonical.clone(), options.clone());
    // Loading holds the cache lock: two elements starting together must not load a large model twice.
    let mut cache = CACHE.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(existing) = cache.get(&key).and_then(Weak::upgrade) {
        return Ok(existing);
    }
    let session = Arc::new(create(&canonical, options)?);
    if let Some(reason) = &session.fallback_reason {
        FALLBACKS.with(|f| f.borrow_mut().push((canonical.clone(), reason.clone())));
    }
    cache.retain(|_, weak| weak.strong_count() > 0);
    cache.insert(key, Arc::downgrade(&session));
    Ok(session)
}

fn create(path: &Path, options: &SessionOptions) -> Result<ModelSession, RuntimeError> {
    let env = environment()?;
    let shown = path.display().to_string();
    // Builder errors carry the builder back and are not Send: turn them into strings at once.
    let model_error = |message: String| RuntimeError::Model { path: file_label(path), message };
    let provider_error = |provider: &str, message: String| RuntimeError::Provider {
        provider: provider.into(),
        path: shown.clone(),
        message,
    };

    let mut builder = Session::builder(env).map_err(|e| model_error(e.to_string()))?;
    if options.threads > 0 {
        builder = builder.with_intra_threads(options.threads as usize).map_err(|e| model_error(e.to_string()))?;
    }

    if !options.intra_op_spinning {
        builder = builder.with_intra_op_spinning(false).map_err(|e| model_error(e.to_string()))?;
    }

    let mut used = ExecutionProvider::Cpu;
    let mut fallback_reason = None;
    match options.provider {
        ExecutionProvider::Cpu => {}
        ExecutionProvider::Cuda => {
            builder = builder
                .with_execution_providers([cuda(options.device_id).error_on_failure()])
                .map_err(|e| provider_error("cuda", e.to_string()))?;
            used = ExecutionProvider::Cuda;
        }
        ExecutionProvider::TensorRt => {
            let mut trt = ep::TensorRT::default().with_device_id(options.device_id);
            if let Some(dir) = &options.trt_cache_dir {
                trt = trt.with_engine_cache(true).with_engine_cache_path(dir.display());
            }
            builder = builder
                .with_execution_providers([trt.build().error_on_failure(), cuda(options.device_id).error_on_failure()])
                .map_err(|e| provider_error("tensorrt", e.to_string()))?;
            used = ExecutionProvider::TensorRt;
        }
        ExecutionProvider::Auto => {
            let available = ep::CUDA::is_available().unwrap_or(false);
            if !available {
                fallback_reason = Some(
                    "this ONNX Runtime library has no CUDA provider (install onnxruntime-gpu for GPU inference)"
                        .to_string(),
                );
            } else {
                match builder.with_execution_providers([cuda(options.device_id).error_on_failure()]) {
                    Ok(b) => {
                        builder = b;
                        used = ExecutionProvider::Cuda;
                    }
                    Err(e) => {
                        fallback_reason = Some(format!("CUDA did not register: {e}"));
                        builder = e.recover();
                    }
                }
            }
        }
    }

    let session = builder.commit_from_file(path).map_err(|e| model_error(e.to_string()))?;
    let sig = |outlet: &ort::value::Outlet| TensorSig {
        name: outlet.name().to_string(),
        dims: outlet.dtype().tensor_shape().map(|s| s.to_vec()).unwrap_or_default(),
    };
    let inputs = session.inputs().iter().map(sig).collect();
    let outputs = session.outputs().iter().map(sig).collect();
    let metadata = session
        .metadata()
        .ok()
        .map(|m| {
            let keys = m.custom_keys().unwrap_or_default();
            keys.into_iter().filter_map(|k| m.custom(&k).map(|v| (k, v))).collect()
        })
        .unwrap_or_default();
    Ok(ModelSession {
        session: Mutex::new(session),
        path: path.to_path_buf(),
        provider: used,
        inputs,
        outputs,
        metadata,
        fallback_reason,
    })
}

fn cuda(device_id: i32) -> ep::ExecutionProviderDispatch {
    ep::CUDA::default().with_device_id(device_id).build()
}
