// SPDX-License-Identifier: MIT OR Apache-2.0
//! Prints the Markdown reference of every ghost element and its properties, from the registry.
//!
//!     cargo run --example gen_docs                       # print
//!     cargo run --example gen_docs -- --update README.md  # rewrite the block between the markers
//!
//! `tests/readme.rs` fails when the block in the README differs from this output.

#[path = "common/mod.rs"]
mod common;

use anyhow::{Context, Result};
use clap::Parser;
use gst::glib;
use gst::prelude::*;

pub const BEGIN: &str = "<!-- props:begin -->";
pub const END: &str = "<!-- props:end -->";

#[derive(Parser, Debug)]
#[command(about = "Print (or update in a README) the Markdown table of the ghost elements' properties")]
pub struct Args {
    /// Replace the text between `<!-- props:begin -->` and `<!-- props:end -->` in this file
    #[arg(long)]
    pub update: Option<std::path::PathBuf>,
}

fn cell(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

fn type_and_default(p: &glib::ParamSpec) -> (String, String) {
    let v = p.default_value();
    if let Some(e) = p.downcast_ref::<glib::ParamSpecEnum>() {
        let class = e.enum_class();
        let nicks: Vec<&str> = class.values().iter().map(|v| v.nick()).collect();
        let def = class.value(e.default_value_as_i32()).map(|v| v.nick().to_string()).unwrap_or_default();
        return (format!("enum: {}", nicks.join(", ")), format!("`{def}`"));
    }
    macro_rules! num {
        ($t:ty, $name:expr) => {
            if let Some(s) = p.downcast_ref::<$t>() {
                return (format!("{} ({} to {})", $name, s.minimum(), s.maximum()), format!("`{}`", s.default_value()));
            }
        };
    }
    num!(glib::ParamSpecInt, "int");
    num!(glib::ParamSpecUInt, "uint");
    num!(glib::ParamSpecInt64, "int64");
    num!(glib::ParamSpecUInt64, "uint64");
    num!(glib::ParamSpecFloat, "float");
    num!(glib::ParamSpecDouble, "double");
    if p.value_type() == glib::Type::BOOL {
        return ("bool".into(), format!("`{}`", v.get::<bool>().unwrap_or(false)));
    }
    if p.value_type() == glib::Type::STRING {
        let d = v.get::<Option<String>>().ok().flatten();
        return ("string".into(), d.map(|d| format!("`{d}`")).unwrap_or_else(|| "(none)".into()));
    }
    (p.value_type().name().to_string(), "".into())
}

/// The Markdown text: one section per element (sorted), one table row per own property (sorted).
pub fn generate() -> Result<String> {
    common::init()?;
    let registry = gst::Registry::get();
    let mut names: Vec<String> = registry
        .features_by_plugin("ghost")
        .into_iter()
        .filter(|f| f.is::<gst::ElementFactory>())
        .map(|f| f.name().to_string())
        .collect();
    names.sort();
    let mut out = String::new();
    for name in names {
        let factory = gst::ElementFactory::find(&name).unwrap();
        let element = factory.create().build().with_context(|| format!("cannot create {name}"))?;
        let ty = element.type_();
        out += &format!("### `{name}`\n\n{}\n\n", factory.metadata(gst::ELEMENT_METADATA_DESCRIPTION).unwrap_or(""));
        out += "| property | type | default | changeable | description |\n|---|---|---|---|---|\n";
        let mut props: Vec<glib::ParamSpec> =
            element.list_properties().iter().filter(|p| p.owner_type() == ty).cloned().collect();
        props.sort_by(|a, b| a.name().cmp(b.name()));
        for p in props {
            let (t, d) = type_and_default(&p);
            let flags = p.flags();
            let when = if !flags.contains(glib::ParamFlags::WRITABLE) {
                "read-only"
            } else if flags.contains(gst::PARAM_FLAG_MUTABLE_PLAYING) {
                "playing"
            } else if flags.contains(gst::PARAM_FLAG_MUTABLE_PAUSED) {
                "paused"
            } else {
                "ready"
            };
            out += &format!(
                "| `{}` | {} | {} | {} | {} |\n",
                p.name(),
                cell(&t),
                cell(&d),
                when,
                cell(p.blurb().unwrap_or(""))
            );
        }
        out += "\n";
    }
    Ok(out)
}

/// Replaces the marked block of `text` with `generated`.
pub fn replace_block(text: &str, generated: &str) -> Result<String> {
    let b = text.find(BEGIN).context("no <!-- props:begin --> marker")? + BEGIN.len();
    let e = text[b..].find(END).context("no <!-- props:end --> marker")? + b;
    Ok(format!("{}\n{}{}", &text[..b], generated, &text[e..]))
}

#[allow(dead_code)]
fn main() -> Result<()> {
    let args = Args::parse();
    let generated = generate()?;
    match args.update {
        Some(path) => {
            let text = std::fs::read_to_string(&path).with_context(|| format!("cannot read {}", path.display()))?;
            std::fs::write(&path, replace_block(&text, &generated)?)?;
            eprintln!("updated {}", path.display());
        }
        None => print!("{generated}"),
    }
    Ok(())
}
