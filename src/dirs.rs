// SPDX-License-Identifier: MIT OR Apache-2.0
//! The user's folders for gst-ghost, by the XDG base-directory rule.

use std::path::{Path, PathBuf};

/// `$VAR` when set and not empty, else `$HOME/<home_default>`.
fn xdg_dir(var: &str, home_default: &str) -> Option<PathBuf> {
    std::env::var_os(var)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(home_default)))
}

/// Where `ghost-models fetch` installs models and the elements look for them:
/// `$XDG_DATA_HOME/gst-ghost/models`, default `~/.local/share/gst-ghost/models`.
pub fn user_model_dir() -> Option<PathBuf> {
    xdg_dir("XDG_DATA_HOME", ".local/share").map(|d| d.join("gst-ghost/models"))
}

/// Caches (TensorRT engines): `$XDG_CACHE_HOME/gst-ghost`, default `~/.cache/gst-ghost`,
/// else the temporary folder.
pub fn user_cache_dir() -> PathBuf {
    xdg_dir("XDG_CACHE_HOME", ".cache").unwrap_or_else(std::env::temp_dir).join("gst-ghost")
}
