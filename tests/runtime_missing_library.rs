// SPDX-License-Identifier: MIT OR Apache-2.0
//! A runtime library that is missing or broken is an error, never a panic. Each case needs a
//! process of its own (one ORT environment per process), hence this separate test binary that
//! runs itself as a child for the second case.

use gstghost::runtime::{environment, load_session, ExecutionProvider, SessionOptions};

fn check_error_mentions(path: &str) {
    let err = environment().unwrap_err().to_string();
    assert!(err.contains(path), "{err}");
    assert!(err.contains("GHOST_ORT_LIBRARY"), "the message says what to do: {err}");
    // Later calls get the same error, still without panicking.
    let model = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("models/test/swapper_identity.onnx");
    let err =
        load_session(&model, &SessionOptions { provider: ExecutionProvider::Cpu, ..Default::default() }).unwrap_err();
    assert!(err.to_string().contains(path), "{err}");
}

#[test]
fn missing_and_broken_libraries_give_errors() {
    if let Ok(path) = std::env::var("GHOST_TEST_BROKEN_LIBRARY") {
        // Child process: GHOST_ORT_LIBRARY points at a file that is not a library.
        check_error_mentions(&path);
        return;
    }
    let missing = "/nonexistent/libonnxruntime.so.1.31.1";
    std::env::set_var("GHOST_ORT_LIBRARY", missing);
    check_error_mentions(missing);

    let broken = std::env::temp_dir().join(format!("ghost-broken-{}.so", std::process::id()));
    std::fs::write(&broken, b"not an ELF file").unwrap();
    let status = std::process::Command::new(std::env::current_exe().unwrap())
        .arg("--exact")
        .arg("missing_and_broken_libraries_give_errors")
        .env("GHOST_ORT_LIBRARY", &broken)
        .env("GHOST_TEST_BROKEN_LIBRARY", &broken)
        .status()
        .unwrap();
    let _ = std::fs::remove_file(&broken);
    assert!(status.success(), "the broken-library child process failed");
}
