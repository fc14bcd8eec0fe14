// SPDX-License-Identifier: MIT OR Apache-2.0
//! `ghost-models export`: the fp16 and int8 variants of a generator are written where asked and load
//! in the plugin as generators; the manifest's variant entries name their generator.

use std::path::Path;
use std::process::Command;

use ghost_models::variants::{variant_path, Variant};
use ghost_models::Manifest;
use gstghost::models::swapper::GhostGenerator;
use gstghost::runtime::{ExecutionProvider, SessionOptions};

fn checkout() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
}

#[test]
fn export_writes_variants_that_load_as_generators() {
    let base = checkout().join("models/test/swapper_conv.onnx");
    assert!(base.is_file(), "{} (run ./ghost.sh setup)", base.display());
    let out = std::env::temp_dir().join(format!("ghost-export-{}", std::process::id()));
    std::fs::create_dir_all(&out).unwrap();
    let lib = checkout().join(".deps/onnxruntime").join(gstghost::runtime::LIB_VERSIONED);
    for (flags, variant) in
        [(vec!["--fp16"], Variant::Fp16), (vec!["--int8", "../tests/data/obama.jpg"], Variant::Int8)]
    {
        let file = variant_path(&base, variant, Some(&out));
        let status = Command::new(env!("CARGO_BIN_EXE_ghost-models"))
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .arg("export")
            .arg(&base)
            .args(&flags)
            .arg("--out")
            .arg(&file)
            .env("GHOST_ORT_LIBRARY", &lib)
            .env("GHOST_MODEL_PATH", checkout().join("models"))
            .status()
            .unwrap();
        assert!(status.success(), "{flags:?}");
        std::env::set_var("GHOST_ORT_LIBRARY", &lib);
        let opts = SessionOptions { provider: ExecutionProvider::Cpu, ..Default::default() };
        GhostGenerator::open(&file, &opts).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
    }
    // Without a variant flag: a clear error.
    let out = Command::new(env!("CARGO_BIN_EXE_ghost-models")).arg("export").arg(&base).output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--int8"), "{}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn variant_entries_name_their_generator() {
    let m = Manifest::builtin();
    let e = m.get("ghost_2_256_int8").expect("ghost_2_256_int8 is known");
    assert_eq!(
        (e.from.as_deref(), e.variant.as_deref(), e.file.as_str()),
        (Some("ghost_2_256"), Some("int8"), "ghost_2_256_int8.onnx")
    );
    assert!(e.urls.is_empty() && !e.installed_is_download(), "made locally, never downloaded");
    assert!(m.get("ghost_unet_2blocks_fp16").is_some());
    // A variant of an unknown generator is refused.
    let bad = "[[model]]\nname = \"x_int8\"\nrole = \"swapper\"\nfamily = \"ghost-aei\"\nfile = \"x_int8.onnx\"\nfrom = \"x\"\nvariant = \"int8\"\nlicence = \"-\"\n";
    assert!(Manifest::parse(bad).unwrap_err().contains("made from 'x'"));
}
