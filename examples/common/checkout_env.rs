// SPDX-License-Identifier: MIT OR Apache-2.0
//! Without `./ghost.sh` (a plain `cargo run --example` or `cargo test`), points the plugin at what
//! this checkout's set-up installed. The library itself has no path of the checkout compiled in;
//! examples and tests run inside the checkout, so they may.

use std::path::Path;

/// Sets `GHOST_ORT_LIBRARY`, `GHOST_MODEL_PATH` and `GHOST_TRITON_PYTHON` (the test inference server's
/// interpreter) to the checkout's set-up where they are unset.
/// Call before anything starts threads that read the environment.
pub fn default_environment() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    if std::env::var_os("GHOST_ORT_LIBRARY").is_none() {
        std::env::set_var("GHOST_ORT_LIBRARY", root.join(".deps/onnxruntime").join(gstghost::runtime::LIB_VERSIONED));
    }
    if std::env::var_os("GHOST_MODEL_PATH").is_none() {
        let dirs = [root.join("models"), root.join("models/test")];
        std::env::set_var("GHOST_MODEL_PATH", std::env::join_paths(dirs).unwrap());
    }
    if std::env::var_os("GHOST_TRITON_PYTHON").is_none() {
        std::env::set_var("GHOST_TRITON_PYTHON", root.join(".deps/triton/bin/python"));
    }
}
