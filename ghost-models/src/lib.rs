// SPDX-License-Identifier: MIT OR Apache-2.0
//! `ghost-models`: the model manifest of gst-ghost, the downloader behind the `ghost-models` command,
//! and the writer of Triton model repositories. None of this is linked into the plugin, which only
//! resolves names and files.

pub mod calibration;
pub mod fetch;
pub mod manifest;
pub mod triton_repo;
pub mod variants;

pub use fetch::{FetchError, Fetched, Fetcher};
pub use manifest::{install_state, InstallState, Manifest, ModelEntry};
