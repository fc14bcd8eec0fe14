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
}
