// SPDX-License-Identifier: MIT OR Apache-2.0
//! The ONNX Runtime layer against the real library and the generated test models.

use std::path::PathBuf;
use std::sync::Arc;

use gstghost::runtime::{load_session, Dim, ExecutionProvider, RuntimeError, SessionOptions, TensorSpec};

fn test_model(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("models/test").join(name)
}

fn opts(provider: ExecutionProvider) -> SessionOptions {
    SessionOptions { provider, ..Default::default() }
}

#[test]
fn two_requests_for_the_same_model_share_one_session() {
    // A model no other test in this binary loads: they run in parallel and would hold it.
    let a = load_session(&test_model("converter_test.onnx"), &opts(ExecutionProvider::Cpu)).unwrap();
    let b = load_session(&test_model("converter_test.onnx"), &opts(ExecutionProvider::Cpu)).unwrap();
    assert!(Arc::ptr_eq(&a, &b));
    // Other options are another cache entry.
    let c = load_session(
        &test_model("converter_test.onnx"),
        &SessionOptions { threads: 1, ..opts(ExecutionProvider::Cpu) },
    )
    .unwrap();
    assert!(!Arc::ptr_eq(&a, &c));
    // Once every user is gone the session is freed and a new request loads it again.
    let weak = Arc::downgrade(&a);
    drop((a, b));
    assert!(weak.upgrade().is_none());
}

#[test]
fn cuda_on_a_cpu_only_runtime_is_an_error_and_auto_falls_back() {
    let err = load_session(&test_model("swapper_mix.onnx"), &opts(ExecutionProvider::Cuda)).unwrap_err();
    assert!(matches!(err, RuntimeError::Provider { .. }), "{err}");
    assert!(err.to_string().contains("swapper_mix.onnx"), "{err}");

    let auto = load_session(&test_model("swapper_mix.onnx"), &opts(ExecutionProvider::Auto)).unwrap();
    assert_eq!(auto.provider, ExecutionProvider::Cpu);
    assert!(auto.fallback_reason.as_deref().unwrap_or("").contains("CUDA"));
}

#[test]
fn a_model_with_the_wrong_signature_is_rejected_naming_the_file() {
    let session = load_session(&test_model("wrong_signature.onnx"), &opts(ExecutionProvider::Cpu)).unwrap();
    let inputs = [
        TensorSpec::new(&["target"], &[Dim::Any, Dim::Fixed(3), Dim::Fixed(256), Dim::Fixed(256)]),
        TensorSpec::new(&["source"], &[Dim::Any, Dim::Fixed(512)]),
    ];
    let outputs = [TensorSpec::new(&[], &[Dim::Any, Dim::Fixed(3), Dim::Fixed(256), Dim::Fixed(256)])];
    let err = session.check("swapper", &inputs, &outputs).unwrap_err().to_string();
    assert!(err.contains("wrong_signature.onnx"), "{err}");
    assert!(err.contains("target (?,3,256,256)") && err.contains("x (1,10)"), "{err}");

    let good = load_session(&test_model("swapper_identity.onnx"), &opts(ExecutionProvider::Cpu)).unwrap();
    good.check("swapper", &inputs, &outputs).unwrap();
    assert_eq!(good.meta("gst_ghost_family"), Some("ghost-swapper"));
}

#[test]
fn a_missing_or_unreadable_model_is_an_error() {
    let err = load_session(&test_model("does_not_exist.onnx"), &opts(ExecutionProvider::Cpu)).unwrap_err();
    assert!(err.to_string().contains("does_not_exist.onnx"), "{err}");
    let garbage = std::env::temp_dir().join(format!("ghost-garbage-{}.onnx", std::process::id()));
    std::fs::write(&garbage, b"this is not an onnx model").unwrap();
    let err = load_session(&garbage, &opts(ExecutionProvider::Cpu)).unwrap_err();
    assert!(matches!(err, RuntimeError::Model { .. }) && err.to_string().contains("ghost-garbage"), "{err}");
    let _ = std::fs::remove_file(garbage);
}
