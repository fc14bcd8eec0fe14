fn main() {
    gst_plugin_version_helper::info();
    // The set-up script installs the ONNX Runtime library into the checkout; remember where, as the
    // last place the runtime looks (so `cargo test` works without environment variables).
    let dir = std::path::Path::new(&std::env::var("CARGO_MANIFEST_DIR").unwrap()).join(".deps/onnxruntime");
    println!("cargo:rustc-env=GHOST_CHECKOUT_ORT_DIR={}", dir.display());
    println!("cargo:rerun-if-changed=build.rs");
}
