// SPDX-License-Identifier: MIT OR Apache-2.0
//! Resolving a model property value (a path or a known name) to files on disk.
//!
//! Names are searched in `GHOST_MODEL_PATH` (colon-separated folders), then the user data folder
//! (`$XDG_DATA_HOME/gst-ghost/models`, default `~/.local/share/gst-ghost/models`). The checkout's
//! `models/` folders (the built-in detector and the test models that the set-up installs) are found
//! through `GHOST_MODEL_PATH`, which `./ghost.sh` sets: no path of the build is compiled in.

use std::path::{Path, PathBuf};

use super::ModelError;
use crate::runtime::SessionOptions;

/// Where a model value resolved to: one ONNX file, a folder (MTCNN's three networks), or a value
/// that names a model on the inference server (see [`locate_model`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModelLocation {
    File(PathBuf),
    Dir(PathBuf),
    Served(String),
}

impl ModelLocation {
    /// The file or folder; for a served model the value itself (its file stem is the served name).
    pub fn path(&self) -> &Path {
        match self {
            ModelLocation::File(p) | ModelLocation::Dir(p) => p,
            ModelLocation::Served(v) => Path::new(v),
        }
    }
}

/// Resolves a model property value for `options`: with an inference server the value names a model
/// there (nothing is looked up locally; `runtime::served_name` derives the name), else files through
/// [`resolve_model`].
pub fn locate_model(value: &str, options: &SessionOptions) -> Result<ModelLocation, ModelError> {
    match &options.server {
        Some(_) if value.trim().is_empty() => Err(ModelError::NotFound("no model given".into())),
        Some(_) => Ok(ModelLocation::Served(value.trim().to_string())),
        None => resolve_model(value),
    }
}

/// The folders searched for model names, in order.
pub fn model_search_dirs() -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::env::var_os("GHOST_MODEL_PATH")
        .map(|v| std::env::split_paths(&v).filter(|p| !p.as_os_str().is_empty()).collect())
        .unwrap_or_default();
    dirs.extend(crate::dirs::user_model_dir());
    dirs
}

include!(concat!(env!("OUT_DIR"), "/known_models.rs"));

/// The file name a known model name (plugin-data/models.toml) installs as.
pub fn known_file(name: &str) -> Option<&'static str> {
    KNOWN_MODELS.iter().find(|(n, _)| *n == name).map(|(_, file)| *file)
}

/// Resolves a model value. A value with a path separator or an `.onnx` suffix is a path; anything
/// else is a name looked up as `NAME`, `NAME.onnx` or `NAME/` in the search folders.
/// The error names every place searched, so the user knows where to put the file.
pub fn resolve_model(value: &str) -> Result<ModelLocation, ModelError> {
    let value = value.trim();
    if value.is_empty() {
        return Err(ModelError::NotFound("no model given".into()));
    }
    let as_path = Path::new(value);
    if value.contains('/') || value.ends_with(".onnx") {
        return if as_path.is_dir() {
            Ok(ModelLocation::Dir(as_path.to_path_buf()))
        } else if as_path.is_file() {
            Ok(ModelLocation::File(as_path.to_path_buf()))
        } else {
            Err(ModelError::NotFound(format!("model file {value} does not exist")))
        };
    }
    let dirs = model_search_dirs();
    for dir in &dirs {
        let file = dir.join(format!("{value}.onnx"));
        if file.is_file() {
            return Ok(ModelLocation::File(file));
        }
        let plain = dir.join(value);
        if plain.is_file() {
            return Ok(ModelLocation::File(plain));
        }
        if plain.is_dir() {
            return Ok(ModelLocation::Dir(plain));
        }
    }
    // A manifest name (plugin-data/models.toml) installs under its own file name.
    if let Some(file) = known_file(value).filter(|f| *f != value) {
        for dir in &dirs {
            let p = dir.join(file);
            if p.is_file() {
                return Ok(ModelLocation::File(p));
            }
            if p.is_dir() {
                return Ok(ModelLocation::Dir(p));
            }
        }
    }
    let searched: Vec<String> = dirs.iter().map(|d| d.display().to_string()).collect();
    let hint = if known_file(value).is_some() {
        format!("fetch it with `cargo run -p ghost-models -- fetch {value}`, or set GHOST_MODEL_PATH")
    } else {
        "set GHOST_MODEL_PATH, or run `./ghost.sh setup` for the built-in models; `cargo run -p ghost-models -- list` shows the known names".into()
    };
    Err(ModelError::NotFound(format!("model '{value}' not found; searched {} ({hint})", searched.join(", "))))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_and_missing_names_are_reported_clearly() {
        let err = resolve_model("/nonexistent/model.onnx").unwrap_err().to_string();
        assert!(err.contains("/nonexistent/model.onnx"), "{err}");
        let err = resolve_model("no-such-model-name").unwrap_err().to_string();
        assert!(err.contains("no-such-model-name") && err.contains("GHOST_MODEL_PATH"), "{err}");
        assert!(resolve_model("  ").is_err());
        let err = resolve_model("ghost_unet_3blocks").unwrap_err().to_string();
        assert!(err.contains("ghost-models -- fetch ghost_unet_3blocks") && err.contains("GHOST_MODEL_PATH"), "{err}");
        assert_eq!(known_file("w600k_r50"), Some("w600k_r50.onnx"));
        assert_eq!(known_file("ghost_2_256"), Some("ghost_2_256.onnx"));
        assert_eq!(known_file("no-such-model-name"), None);
    }

    #[test]
    fn checkout_models_resolve_by_name() {
        // The set-up installs these and `./ghost.sh test` puts their folders on GHOST_MODEL_PATH.
        let loc = resolve_model("mtcnn").unwrap();
        assert!(matches!(loc, ModelLocation::Dir(ref p) if p.join("pnet.onnx").is_file()), "{loc:?}");
        let loc = resolve_model("swapper_identity").unwrap();
        assert!(matches!(loc, ModelLocation::File(ref p) if p.ends_with("swapper_identity.onnx")));
    }
}
