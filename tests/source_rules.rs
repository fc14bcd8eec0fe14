// SPDX-License-Identifier: MIT OR Apache-2.0
//! Rules for the source that the compiler and clippy do not check: every `unsafe fn` (private ones
//! and `extern "C"` callbacks included, which clippy's `missing_safety_doc` skips) documents its
//! contract in a `# Safety` section, and every Rust file starts with its SPDX licence line.

use std::path::{Path, PathBuf};

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if path.is_dir() {
            if !matches!(name.as_str(), "target" | "output" | "data" | ".git") {
                rust_files(&path, out);
            }
        } else if name.ends_with(".rs") {
            out.push(path);
        }
    }
}

/// The doc comment lines directly above an item whose preceding lines are `above`, skipping its
/// attributes (multi-line ones included).
fn doc_above<'a>(above: &[&'a str]) -> Vec<&'a str> {
    let mut doc = Vec::new();
    let mut lines = above.iter().rev().map(|l| l.trim());
    while let Some(line) = lines.next() {
        if line.starts_with("///") {
            doc.push(line);
        } else if line.starts_with("#[") {
            continue;
        } else if line.ends_with(")]") {
            // The last line of a multi-line attribute: skip up to its `#[`.
            for inner in lines.by_ref() {
                if inner.starts_with("#[") {
                    break;
                }
            }
        } else {
            break;
        }
    }
    doc
}

/// `unsafe fn` declarations (line numbers, 1-based) whose doc comment lacks a `# Safety` section.
fn undocumented_unsafe_fns(source: &str) -> Vec<usize> {
    let lines: Vec<&str> = source.lines().collect();
    let mut missing = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let code = line.split("//").next().unwrap_or("");
        let declares = code.split_whitespace().collect::<Vec<_>>().windows(2).any(|w| w == ["unsafe", "fn"])
            || code.contains("unsafe extern \"C\" fn");
        if !declares {
            continue;
        }
        if !doc_above(&lines[..i]).iter().any(|l| l.starts_with("/// # Safety")) {
            missing.push(i + 1);
        }
    }
    missing
}

#[test]
fn the_rule_sees_a_missing_safety_section() {
    let bad = "/// Adds.\n#[inline]\nunsafe fn add() {}\n";
    let good = "/// Adds.\n///\n/// # Safety\n/// None.\n#[inline]\npub(super) unsafe fn add() {}\n";
    let long_attribute =
        "/// # Safety\n/// None.\n#[allow(\n    clippy::x,\n    reason = \"y\"\n)]\nunsafe fn f() {}\n";
    assert!(undocumented_unsafe_fns(long_attribute).is_empty());
    let callback = "unsafe extern \"C\" fn init() {}\n";
    assert_eq!(undocumented_unsafe_fns(bad), [3]);
    assert!(undocumented_unsafe_fns(good).is_empty());
    assert_eq!(undocumented_unsafe_fns(callback), [1]);
    // Calls and comments are not declarations.
    assert!(undocumented_unsafe_fns("let x = unsafe { f() }; // an unsafe fn call\n").is_empty());
}

#[test]
fn every_unsafe_fn_has_a_safety_section() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    for dir in ["src", "tests", "examples", "ghost-models"] {
        rust_files(&root.join(dir), &mut files);
    }
    assert!(files.len() > 50, "the walk found the sources ({})", files.len());
    let mut problems = Vec::new();
    for file in &files {
        let source = std::fs::read_to_string(file).unwrap();
        for line in undocumented_unsafe_fns(&source) {
            problems.push(format!("{}:{line}", file.strip_prefix(root).unwrap().display()));
        }
    }
    assert!(problems.is_empty(), "unsafe fn without a `# Safety` doc section: {problems:#?}");
}

#[test]
fn every_rust_file_starts_with_its_licence() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    for dir in ["src", "tests", "examples", "ghost-models"] {
        rust_files(&root.join(dir), &mut files);
    }
    rust_files_in(root, &mut files);
    let missing: Vec<_> = files
        .iter()
        .filter(|f| !std::fs::read_to_string(f).unwrap().starts_with("// SPDX-License-Identifier: MIT OR Apache-2.0\n"))
        .map(|f| f.strip_prefix(root).unwrap().display().to_string())
        .collect();
    assert!(missing.is_empty(), "Rust files without the SPDX line: {missing:?}");
}

/// The Rust files directly in `dir` (build.rs).
fn rust_files_in(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() && path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}
