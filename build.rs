// SPDX-License-Identifier: MIT OR Apache-2.0
//! Version information for the plugin, and the table of known model names generated from
//! `plugin-data/models.toml` (the plugin resolves the same names as `ghost-models` without parsing
//! TOML at run time).

use std::fmt::Write;
use std::path::Path;

#[derive(serde::Deserialize)]
struct Manifest {
    model: Vec<Entry>,
}

/// Only the fields the plugin needs; the rest of an entry is for ghost-models.
#[derive(serde::Deserialize)]
struct Entry {
    name: String,
    file: String,
}

fn main() {
    gst_plugin_version_helper::info();

    let manifest_path = Path::new("plugin-data/models.toml");
    println!("cargo:rerun-if-changed={}", manifest_path.display());
    let text = std::fs::read_to_string(manifest_path).expect("reading plugin-data/models.toml");
    let manifest: Manifest = toml::from_str(&text).expect("plugin-data/models.toml is valid TOML");
    let mut table = String::from("/// (name, installed file) of every model in plugin-data/models.toml.\n");
    table.push_str("pub(crate) const KNOWN_MODELS: &[(&str, &str)] = &[\n");
    for e in &manifest.model {
        writeln!(table, "    ({:?}, {:?}),", e.name, e.file).unwrap();
    }
    table.push_str("];\n");
    let out = Path::new(&std::env::var("OUT_DIR").unwrap()).join("known_models.rs");
    std::fs::write(out, table).expect("writing known_models.rs");
    println!("cargo:rerun-if-changed=build.rs");

    compile_kserve_protocol();
}

/// The KServe v2 protocol subset (proto/inference.proto), compiled by protox (pure Rust, no protoc download)
/// into prost messages and a tonic client. The encoded descriptor set is kept so that a test can compare
/// every field number with the reference descriptors of the `tritonclient` package.
fn compile_kserve_protocol() {
    use prost::Message;
    let proto = "proto/inference.proto";
    println!("cargo:rerun-if-changed={proto}");
    let fds = protox::compile([proto], ["proto"]).expect("compiling proto/inference.proto");
    let out = Path::new(&std::env::var("OUT_DIR").unwrap()).join("inference.fds");
    std::fs::write(out, fds.encode_to_vec()).expect("writing inference.fds");
    // Tensor contents as `Bytes`: a response's raw outputs are slices of the received buffer, not copies.
    tonic_prost_build::configure()
        .build_server(false)
        .bytes(".")
        .compile_fds(fds)
        .expect("generating the KServe v2 client");
}
