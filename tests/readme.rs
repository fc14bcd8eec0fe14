// SPDX-License-Identifier: MIT OR Apache-2.0
//! Keeps the README honest: the element reference between the props markers must equal what
//! `cargo run --example gen_docs` prints, and every ```sh block marked `<!-- run-in-test -->`
//! must run (with GST_PLUGIN_PATH pointing at the freshly built plugin).

#![allow(dead_code)]

#[path = "../examples/gen_docs.rs"]
mod gen_docs;

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

const RUN_MARKER: &str = "<!-- run-in-test -->";

fn readme() -> (PathBuf, String) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("README.md");
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains(gen_docs::BEGIN) && text.contains(RUN_MARKER), "README.md lost its markers");
    (path, text)
}

#[test]
fn element_reference_is_up_to_date() {
    let (path, text) = readme();
    let generated = gen_docs::generate().unwrap();
    let updated = gen_docs::replace_block(&text, &generated).unwrap();
    assert!(
        updated == text,
        "the element reference in {} is out of date: run `cargo run --example gen_docs -- --update {}`",
        path.display(),
        path.display()
    );
}

fn marked_blocks(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = text;
    // The marker counts only on a line of its own, right above the block.
    let marker = format!("\n{RUN_MARKER}\n");
    while let Some(i) = rest.find(&marker) {
        rest = &rest[i + marker.len()..];
        assert!(rest.starts_with("```sh\n"), "the run-in-test marker must sit right above a ```sh block");
        let start = rest.find("```sh\n").expect("a ```sh block after the marker") + 6;
        let end = rest[start..].find("```").unwrap() + start;
        out.push(rest[start..end].to_string());
        rest = &rest[end..];
    }
    out
}

fn plugin_dir() -> PathBuf {
    let target = option_env!("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target"));
    target.join("debug")
}

#[test]
fn marked_recipes_run() {
    let (path, text) = readme();
    let blocks = marked_blocks(&text);
    assert!(blocks.len() >= 3, "{}: expected the run-in-test recipes", path.display());
    let dir = plugin_dir();
    assert!(dir.join("libgstghost.so").exists(), "build the plugin first (cargo build --lib): {}", dir.display());
    for block in blocks {
        for line in block.lines() {
            let l = line.trim();
            if l.starts_with("gst-launch-1.0") {
                assert!(block.contains("model=paste"), "recipes run in tests use model=paste: {block}");
            }
            let _ = l;
        }
        let script = block.replace("gst-launch-1.0", "gst-launch-1.0 -q");
        let started = Instant::now();
        let mut child = Command::new("timeout")
            .args(["180", "sh", "-ec", &script])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .env("GST_PLUGIN_PATH", &dir)
            .env("GST_REGISTRY", std::env::temp_dir().join(format!("ghost-readme-registry-{}.bin", std::process::id())))
            .spawn()
            .unwrap();
        let status = child.wait().unwrap();
        assert!(status.success(), "recipe failed ({status}) after {:?}:\n{block}", started.elapsed());
        assert!(started.elapsed() < Duration::from_secs(180));
    }
    for f in ["/tmp/ghost-photo.png", "/tmp/ghost-clip.webm"] {
        assert!(std::fs::metadata(f).map(|m| m.len() > 0).unwrap_or(false), "{f} was not written");
    }
}
