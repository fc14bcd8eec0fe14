// SPDX-License-Identifier: MIT OR Apache-2.0
//! Tensor contracts: what a model role expects of a file's inputs and outputs, checked once at
//! `start` so that a wrong file is a clear error instead of garbage pixels.

use std::fmt;

/// One dimension of an expected shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dim {
    /// Must be exactly this size (a dynamic dimension in the file is accepted too).
    Fixed(i64),
    /// Anything, including dynamic (batch, free image sizes).
    Any,
}

/// An expected tensor: any of several accepted names (empty = any name) and a shape.
#[derive(Debug, Clone, PartialEq)]
pub struct TensorSpec {
    pub names: Vec<&'static str>,
    pub dims: Vec<Dim>,
}

impl TensorSpec {
    pub fn new(names: &[&'static str], dims: &[Dim]) -> Self {
        Self { names: names.to_vec(), dims: dims.to_vec() }
    }

    /// Whether a tensor found in a file satisfies this spec.
    pub fn matches(&self, found: &TensorSig) -> bool {
        let name_ok = self.names.is_empty() || self.names.contains(&found.name.as_str());
        name_ok
            && found.dims.len() == self.dims.len()
            && self.dims.iter().zip(&found.dims).all(|(want, &got)| match want {
                Dim::Any => true,
                Dim::Fixed(n) => got == *n || got < 0,
            })
    }
}

impl fmt::Display for TensorSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = if self.names.is_empty() { "*".to_string() } else { self.names.join("|") };
        let dims: Vec<String> = self
            .dims
            .iter()
            .map(|d| match d {
                Dim::Fixed(n) => n.to_string(),
                Dim::Any => "?".into(),
            })
            .collect();
        write!(f, "{name} ({})", dims.join(","))
    }
}

/// A tensor as declared in a model file; dynamic dimensions are -1.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TensorSig {
    pub name: String,
    pub dims: Vec<i64>,
}

impl fmt::Display for TensorSig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let dims: Vec<String> = self.dims.iter().map(|d| if *d < 0 { "?".into() } else { d.to_string() }).collect();
        write!(f, "{} ({})", self.name, dims.join(","))
    }
}

/// Lists tensors for an error message.
pub(crate) fn describe<T: fmt::Display>(items: &[T]) -> String {
    let parts: Vec<String> = items.iter().map(ToString::to_string).collect();
    format!("[{}]", parts.join(", "))
}

/// Matches specs against found tensors in order; returns false on any mismatch or count difference.
pub(crate) fn all_match(specs: &[TensorSpec], found: &[TensorSig]) -> bool {
    specs.len() == found.len() && specs.iter().zip(found).all(|(s, f)| s.matches(f))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sig(name: &str, dims: &[i64]) -> TensorSig {
        TensorSig { name: name.into(), dims: dims.to_vec() }
    }

    #[test]
    fn fixed_dims_accept_dynamic_and_equal_sizes_only() {
        let spec = TensorSpec::new(&["target", "Xt"], &[Dim::Any, Dim::Fixed(3), Dim::Fixed(256), Dim::Fixed(256)]);
        assert!(spec.matches(&sig("target", &[-1, 3, 256, 256])));
        assert!(spec.matches(&sig("Xt", &[1, 3, -1, -1])));
        assert!(!spec.matches(&sig("target", &[1, 3, 128, 128])));
        assert!(!spec.matches(&sig("input", &[1, 3, 256, 256])));
        assert!(!spec.matches(&sig("target", &[3, 256, 256])));
    }

    #[test]
    fn descriptions_name_tensors_and_shapes() {
        let spec = TensorSpec::new(&["source"], &[Dim::Any, Dim::Fixed(512)]);
        assert_eq!(spec.to_string(), "source (?,512)");
        assert_eq!(describe(&[sig("x", &[1, 10]), sig("y", &[-1])]), "[x (1,10), y (?)]");
        assert!(all_match(std::slice::from_ref(&spec), &[sig("source", &[1, 512])]));
        assert!(!all_match(&[spec.clone(), spec], &[sig("source", &[1, 512])]));
    }
}
