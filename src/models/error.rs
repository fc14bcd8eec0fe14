// SPDX-License-Identifier: MIT OR Apache-2.0
//! The errors of the model layer: a model that cannot be found, an input file (photo, embedding)
//! that cannot be used, and everything the runtime reports. Elements map each kind onto the
//! GStreamer error domain that fits (see `common::ElementError`).

use std::path::PathBuf;

use crate::runtime::RuntimeError;

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ModelError {
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
    /// A model name or path that resolves to no file; the message names the places searched.
    #[error("{0}")]
    NotFound(String),
    /// An input file (photo, embedding) that does not exist.
    #[error("{what} {} does not exist", path.display())]
    Missing { what: &'static str, path: PathBuf },
    /// An input file that cannot be read or decoded, or does not hold what it should.
    #[error("cannot read {what} {}: {reason}", path.display())]
    Unreadable { what: &'static str, path: PathBuf, reason: String },
    /// A photo in which the detector finds no face.
    #[error("no face found in {what} {}; use a clear, frontal photo of one person", path.display())]
    NoFace { what: &'static str, path: PathBuf },
    /// An output file that cannot be written.
    #[error("cannot write {what} {}: {reason}", path.display())]
    Unwritable { what: &'static str, path: PathBuf, reason: String },
    /// Something the model file does not say, which a property must say instead.
    #[error("{0}")]
    Ambiguous(String),
}

/// Which photo a face is taken from, for messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PhotoKind {
    /// The person whose face is put in.
    Source,
    /// The person to replace (`targets=reference`).
    Reference,
}

impl PhotoKind {
    pub fn as_str(self) -> &'static str {
        match self {
            PhotoKind::Source => "source photo",
            PhotoKind::Reference => "reference photo",
        }
    }
}
