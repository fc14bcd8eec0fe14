// SPDX-License-Identifier: MIT OR Apache-2.0
//! The repository stands on its own: every document that a comment or a document cites must be in it.
//!
//! Walks the text files of the repository (sources, tests, examples, tools, documents; not build output,
//! installed models or test data) and checks each citation of a document:
//! - a path ending in `.md` must name a file, relative to the repository root or to the citing file's folder;
//! - a `file.md#anchor` citation (or a `](#anchor)` link inside a document) must name a heading of that file,
//!   as GitHub turns headings into anchors;
//! - the notes that were never part of the repository (`GHOST-FACTS`) and bare `§` section numbers are not
//!   citations anyone can follow: cite `docs/<file>.md#<heading>` instead.

use std::collections::{HashMap, HashSet};
use std::fs;
use std::path::{Component, Path, PathBuf};

/// Folders (relative to the root) that hold no hand-written text: build output, installed or generated files.
const SKIP_PATHS: [&str; 8] = [".git", ".venv", ".deps", "models", "out", "target", "tests/output", "tests/data"];
/// Folder names skipped wherever they are.
const SKIP_NAMES: [&str; 3] = ["target", "__pycache__", "node_modules"];
/// Extensions of the text files that are read.
const TEXT_EXTENSIONS: [&str; 8] = ["rs", "md", "py", "sh", "toml", "txt", "yml", "yaml"];
/// This file: its examples of bad citations are not citations.
const SELF: &str = "tests/doc_references.rs";

/// What a walk found.
#[derive(Debug, Default)]
struct Report {
    files: usize,
    citations: usize,
    problems: Vec<String>,
}

/// A citation found on one line: a path, with an optional anchor.
#[derive(Debug, PartialEq)]
struct Citation {
    path: String,
    anchor: Option<String>,
}

/// What one line holds: document citations, same-file anchors (`](#x)` in documents), and the problems that need
/// no file system (old note names, section signs, absolute paths).
#[derive(Debug, Default, PartialEq)]
struct LineScan {
    citations: Vec<Citation>,
    local_anchors: Vec<String>,
    problems: Vec<String>,
}

fn is_path_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '/')
}

fn is_anchor_char(c: char) -> bool {
    c.is_alphanumeric() || matches!(c, '_' | '-')
}

/// Blanks out URLs (they cite the web, not the repository) and, in Markdown, link texts (`[text](target)`: the
/// target is the citation; the text is only what the reader sees).
fn strip_non_citations(line: &str, markdown: bool) -> Vec<char> {
    let mut chars: Vec<char> = line.chars().collect();
    let text: String = chars.iter().collect();
    for scheme in ["http://", "https://", "file://"] {
        let mut from = 0;
        while let Some(pos) = text[from..].find(scheme) {
            let start = text[..from + pos].chars().count();
            let mut i = start;
            while i < chars.len() && !chars[i].is_whitespace() && !matches!(chars[i], ')' | '>' | '"' | '\'' | '`') {
                chars[i] = ' ';
                i += 1;
            }
            from += pos + scheme.len();
        }
    }
    if markdown {
        let mut i = 0;
        while i + 1 < chars.len() {
            if chars[i] == ']' && chars[i + 1] == '(' {
                if let Some(open) = chars[..i].iter().rposition(|&c| c == '[') {
                    chars[open + 1..i].iter_mut().for_each(|c| *c = ' ');
                }
            }
            i += 1;
        }
    }
    chars
}

/// The citations and path-free problems of one line.
fn scan_line(line: &str, markdown: bool) -> LineScan {
    let mut scan = LineScan::default();
    let chars = strip_non_citations(line, markdown);
    let text: String = chars.iter().collect();
    if text.contains("GHOST-FACTS") {
        scan.problems.push("cites GHOST-FACTS, a note that is not in the repository".into());
    }
    if text.contains('§') {
        scan.problems.push("cites a numbered section (§) of a document; cite docs/<file>.md#<heading>".into());
    }
    let n = chars.len();
    let mut i = 0;
    while i + 3 <= n {
        let is_md = chars[i] == '.' && chars[i + 1] == 'm' && chars[i + 2] == 'd';
        let ends = i + 3 == n || !(chars[i + 3].is_ascii_alphanumeric() || chars[i + 3] == '_');
        if !(is_md && ends) {
            i += 1;
            continue;
        }
        let mut start = i;
        while start > 0 && is_path_char(chars[start - 1]) {
            start -= 1;
        }
        let path: String = chars[start..i + 3].iter().collect();
        let mut end = i + 3;
        let mut anchor = None;
        if end < n && chars[end] == '#' {
            let a_end = (end + 1..n).find(|&k| !is_anchor_char(chars[k])).unwrap_or(n);
            anchor = Some(chars[end + 1..a_end].iter().collect::<String>()).filter(|a| !a.is_empty());
            end = a_end;
        }
        let stem_ok = path.trim_end_matches(".md").chars().any(|c| c != '.' && c != '/');
        if stem_ok {
            if path.starts_with('/') {
                scan.problems.push(format!("{path} is an absolute path: cite a file of the repository"));
            } else {
                scan.citations.push(Citation { path, anchor });
            }
        }
        i = end.max(i + 1);
    }
    if markdown {
        let mut from = 0;
        while let Some(pos) = text[from..].find("](#") {
            let start = from + pos + 3;
            let anchor: String = text[start..].chars().take_while(|&c| is_anchor_char(c)).collect();
            if !anchor.is_empty() {
                scan.local_anchors.push(anchor);
            }
            from = start;
        }
    }
    scan
}

/// GitHub's anchor for a heading: lower case, only letters, digits, `-` and `_` kept, spaces turned into `-`.
fn slug(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter_map(|c| match c {
            ' ' => Some('-'),
            c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
            _ => None,
        })
        .collect()
}

/// The anchors of a Markdown text's headings (`#`…`######` outside fenced code), with GitHub's `-1`, `-2`
/// suffixes for repeated headings.
fn anchors(text: &str) -> HashSet<String> {
    let mut seen: HashMap<String, usize> = HashMap::new();
    let mut out = HashSet::new();
    let mut fenced = false;
    for line in text.lines() {
        let t = line.trim_start();
        if t.starts_with("```") || t.starts_with("~~~") {
            fenced = !fenced;
            continue;
        }
        if fenced {
            continue;
        }
        let level = t.chars().take_while(|&c| c == '#').count();
        if !(1..=6).contains(&level) || !t[level..].starts_with(' ') {
            continue;
        }
        let title = t[level..].trim().trim_end_matches('#').trim_end();
        let base = slug(title);
        let count = seen.entry(base.clone()).or_insert(0);
        out.insert(if *count == 0 { base.clone() } else { format!("{base}-{count}") });
        *count += 1;
    }
    out
}

/// `path` without `.` and `..` components, or `None` when it climbs out of its base.
fn normalize(path: &Path) -> Option<PathBuf> {
    let mut out = PathBuf::new();
    for part in path.components() {
        match part {
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    return None;
                }
            }
            Component::Normal(p) => out.push(p),
            Component::RootDir | Component::Prefix(_) => return None,
        }
    }
    Some(out)
}

/// The text files under `dir` (relative paths, sorted), without the skipped folders and without following links.
fn text_files(root: &Path, dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = fs::read_dir(root.join(dir)) else { return };
    let mut entries: Vec<_> = entries.flatten().collect();
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let rel = dir.join(entry.file_name());
        let Ok(meta) = fs::symlink_metadata(entry.path()) else { continue };
        let name = entry.file_name().to_string_lossy().into_owned();
        if meta.is_dir() {
            let skipped = SKIP_PATHS.iter().any(|s| rel == Path::new(s)) || SKIP_NAMES.contains(&name.as_str());
            if !skipped {
                text_files(root, &rel, out);
            }
        } else if meta.is_file() {
            let ext = rel.extension().map(|e| e.to_string_lossy().into_owned()).unwrap_or_default();
            let ci_script = rel.starts_with(".ci");
            if (TEXT_EXTENSIONS.contains(&ext.as_str()) || ci_script) && rel != Path::new(SELF) {
                out.push(rel);
            }
        }
    }
}

/// Checks every citation in the text files under `root`.
fn check_tree(root: &Path) -> Report {
    let mut files = Vec::new();
    text_files(root, Path::new(""), &mut files);
    let mut report = Report { files: files.len(), ..Default::default() };
    let mut anchor_cache: HashMap<PathBuf, HashSet<String>> = HashMap::new();
    let mut anchors_of = |file: &Path| -> HashSet<String> {
        anchor_cache
            .entry(file.to_path_buf())
            .or_insert_with(|| anchors(&fs::read_to_string(root.join(file)).unwrap_or_default()))
            .clone()
    };
    for file in &files {
        let Ok(text) = fs::read_to_string(root.join(file)) else { continue };
        let markdown = file.extension().is_some_and(|e| e == "md");
        let folder = file.parent().unwrap_or(Path::new(""));
        for (n, line) in text.lines().enumerate() {
            let at = format!("{}:{}", file.display(), n + 1);
            let scan = scan_line(line, markdown);
            report.problems.extend(scan.problems.iter().map(|p| format!("{at}: {p}")));
            for anchor in &scan.local_anchors {
                report.citations += 1;
                if !anchors_of(file).contains(anchor) {
                    report.problems.push(format!("{at}: #{anchor} is not a heading of this file"));
                }
            }
            for c in &scan.citations {
                report.citations += 1;
                let target = [Path::new("").join(&c.path), folder.join(&c.path)]
                    .into_iter()
                    .filter_map(|p| normalize(&p))
                    .find(|p| root.join(p).is_file());
                let Some(target) = target else {
                    report.problems.push(format!(
                        "{at}: {} does not exist (relative to the repository root or to {}/)",
                        c.path,
                        folder.display()
                    ));
                    continue;
                };
                if let Some(anchor) = &c.anchor {
                    if !anchors_of(&target).contains(anchor) {
                        report.problems.push(format!("{at}: #{anchor} is not a heading of {}", target.display()));
                    }
                }
            }
        }
    }
    report
}

#[test]
fn every_cited_document_exists() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let report = check_tree(root);
    eprintln!("checked {} citations in {} text files", report.citations, report.files);
    // A walk that read nothing would pass vacuously: the tree has dozens of sources and cites its documents.
    assert!(report.files > 50, "only {} text files found under {}", report.files, root.display());
    assert!(report.citations > 20, "only {} citations found", report.citations);
    assert!(
        report.problems.is_empty(),
        "{} citation(s) of documents that are not in the repository:\n{}",
        report.problems.len(),
        report.problems.join("\n")
    );
}

#[test]
fn lines_yield_citations_anchors_and_problems() {
    let scan = scan_line("see docs/a.md#some-part, ./b.md and https://example.org/c.md (GHOST-FACTS §3)", false);
    assert_eq!(
        scan.citations,
        [
            Citation { path: "docs/a.md".into(), anchor: Some("some-part".into()) },
            Citation { path: "./b.md".into(), anchor: None }
        ]
    );
    assert_eq!(scan.problems.len(), 2, "{:?}", scan.problems);
    // In a document the link text is not a citation, the link target is; `](#x)` is a same-file anchor.
    let scan = scan_line("[MODELS.md](../plugin-data/MODELS.md) and [above](#a-heading); {}.md, x.mdx", true);
    assert_eq!(scan.citations, [Citation { path: "../plugin-data/MODELS.md".into(), anchor: None }]);
    assert_eq!(scan.local_anchors, ["a-heading"]);
    assert!(scan_line("/work/shared/DESIGN.md", false).problems[0].contains("absolute path"));
}

#[test]
fn anchors_follow_github() {
    assert_eq!(slug("GHOST's rule"), "ghosts-rule");
    assert_eq!(slug("Hull, erode and dilate"), "hull-erode-and-dilate");
    assert_eq!(
        slug("Landmarker (2d106det contract; family `2d106det`)"),
        "landmarker-2d106det-contract-family-2d106det"
    );
    let text = "# Title\n## Part A\n```sh\n# not a heading\n```\n## Part A\n####### too deep\n#nospace\n";
    let found = anchors(text);
    let want: HashSet<String> = ["title", "part-a", "part-a-1"].map(String::from).into();
    assert_eq!(found, want);
}

#[test]
fn a_tree_with_bad_citations_is_reported() {
    let root = std::env::temp_dir().join(format!("gst-ghost-doc-references-{}", std::process::id()));
    let _ = fs::remove_dir_all(&root);
    let write = |rel: &str, text: &str| {
        let path = root.join(rel);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, text).unwrap();
    };
    write("docs/a.md", "# Title\n\n## Some Section\n\n[up](#some-section), [gone](#nope)\n");
    write(
        "src/x.rs",
        "// docs/a.md#some-section and ../docs/a.md are fine (root and folder relative)\n\
         // docs/a.md#missing, docs/gone.md, DESIGN.md, GHOST-FACTS\n",
    );
    write("target/ignored.rs", "// docs/gone.md\n");
    let report = check_tree(&root);
    fs::remove_dir_all(&root).unwrap();
    assert_eq!(report.files, 2);
    let problems = report.problems.join("\n");
    for expected in [
        "docs/a.md:5: #nope is not a heading of this file",
        "src/x.rs:2: #missing is not a heading of docs/a.md",
        "src/x.rs:2: docs/gone.md does not exist",
        "src/x.rs:2: DESIGN.md does not exist",
        "src/x.rs:2: cites GHOST-FACTS",
    ] {
        assert!(problems.contains(expected), "missing {expected:?} in:\n{problems}");
    }
    assert_eq!(report.problems.len(), 5, "{problems}");
}
