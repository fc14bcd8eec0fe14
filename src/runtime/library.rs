// SPDX-License-Identifier: MIT OR Apache-2.0
//! Locating and loading the ONNX Runtime shared library, and the single ORT environment.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use super::RuntimeError;

/// The library's file name as shipped in the PyPI `onnxruntime` wheel (version 1.31.1, the one
/// the `ort` bindings are built for).
pub const LIB_VERSIONED: &str = "libonnxruntime.so.1.31.1";
/// Names tried on the system library path, most specific first.
const LIB_SYSTEM_NAMES: [&str; 3] = [LIB_VERSIONED, "libonnxruntime.so.1", "libonnxruntime.so"];

/// One place the runtime library may be, with why it is tried.
#[derive(Debug, Clone, PartialEq)]
pub struct LibraryCandidate {
    pub path: PathBuf,
    pub origin: &'static str,
}

/// The places searched, in order: `GHOST_ORT_LIBRARY`, `ORT_DYLIB_PATH`, next to the plugin file,
/// then the system library path. (`./ghost.sh` sets `GHOST_ORT_LIBRARY` to the copy its set-up
/// installs; no path of the build is compiled in.)
///
/// When one of the two variables is set, only that path is tried: a user who names a library
/// must not silently get another one.
pub fn candidate_libraries() -> Vec<LibraryCandidate> {
    for var in ["GHOST_ORT_LIBRARY", "ORT_DYLIB_PATH"] {
        if let Some(value) = std::env::var_os(var).filter(|v| !v.is_empty()) {
            return vec![LibraryCandidate {
                path: PathBuf::from(value),
                origin: if var == "GHOST_ORT_LIBRARY" { "$GHOST_ORT_LIBRARY" } else { "$ORT_DYLIB_PATH" },
            }];
        }
    }
    let mut out = Vec::new();
    if let Some(dir) = plugin_directory() {
        for name in [LIB_VERSIONED, "libonnxruntime.so"] {
            let path = dir.join(name);
            if path.exists() {
                out.push(LibraryCandidate { path, origin: "next to the plugin" });
            }
        }
    }
    for name in LIB_SYSTEM_NAMES {
        out.push(LibraryCandidate { path: PathBuf::from(name), origin: "system library path" });
    }
    out
}

/// The folder that holds `libgstghost.so`, when the plugin was loaded through the registry.
fn plugin_directory() -> Option<PathBuf> {
    if !gst::INITIALIZED.load(std::sync::atomic::Ordering::SeqCst) {
        return None;
    }
    let plugin = gst::Registry::get().find_plugin("ghost")?;
    let file = plugin.filename()?;
    file.parent().map(Path::to_path_buf)
}

static ENVIRONMENT: OnceLock<Result<ort::environment::Environment, RuntimeError>> = OnceLock::new();

/// The process-wide ORT environment, created on first use from the first library that loads.
///
/// ort allows a single environment per process and panics when it has to load its library
/// implicitly and fails, so the library is always loaded here, explicitly, before any other
/// ort call; a failure is remembered and returned to every later caller.
pub fn environment() -> Result<&'static ort::environment::Environment, RuntimeError> {
    ENVIRONMENT.get_or_init(create_environment).as_ref().map_err(Clone::clone)
}

fn create_environment() -> Result<ort::environment::Environment, RuntimeError> {
    let candidates = candidate_libraries();
    let mut failures = Vec::new();
    for candidate in &candidates {
        // A bare file name is resolved by the dynamic loader on the system path; anything else must exist.
        let bare = candidate.path.components().count() == 1;
        if !bare && !candidate.path.exists() {
            failures.push(format!("{} ({}): no such file", candidate.path.display(), candidate.origin));
            continue;
        }
        match ort::init_from(&candidate.path) {
            Ok(builder) => {
                return builder.with_name("gst-ghost").build().map_err(|e| {
                    RuntimeError::Library(format!(
                        "{} loaded but the environment failed: {e}",
                        candidate.path.display()
                    ))
                });
            }
            Err(e) => failures.push(format!("{} ({}): {e}", candidate.path.display(), candidate.origin)),
        }
    }
    Err(RuntimeError::Library(format!(
        "tried {}. Run the project's set-up (`./ghost.sh test` installs it into .deps/onnxruntime), \
         or point GHOST_ORT_LIBRARY at {LIB_VERSIONED} from the PyPI onnxruntime (or onnxruntime-gpu) wheel",
        failures.join("; ")
    )))
}
