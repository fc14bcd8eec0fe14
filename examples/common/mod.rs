// SPDX-License-Identifier: MIT OR Apache-2.0
//! Shared by the examples: the swap chain (explicit elements or `ghostfaceswapbin`), the model
//! choice, and running a pipeline to its end.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use gst::prelude::*;

pub mod checkout_env;
pub mod frames;

/// `false`: the explicit `ghostfacedetect ! ghostfacetrack ! ghostfaceswap ! ghostfaceblend` chain.
/// `true`: the one-element `ghostfaceswapbin` (switch once the bin is merged).
pub const USE_SWAPBIN: bool = true;

/// Registers the statically linked plugin (once per process).
pub fn init() -> Result<()> {
    static ONCE: std::sync::OnceLock<Result<(), String>> = std::sync::OnceLock::new();
    ONCE.get_or_init(|| {
        checkout_env::default_environment();
        gst::init().map_err(|e| e.to_string())?;
        // Tolerates a second registration (tests include several examples in one process).
        match gstghost::plugin_register_static() {
            Err(_) if gst::ElementFactory::find("ghostfacedetect").is_some() => Ok(()),
            r => r.map_err(|e| e.to_string()),
        }
    })
    .clone()
    .map_err(|e| anyhow!("GStreamer initialisation failed: {e}"))
}

/// The swap options every example shares (names as the element properties).
#[derive(clap::Args, Debug, Clone, Default)]
pub struct SwapOpts {
    /// Photo of the person whose face is put in (PNG/JPEG; the largest face is used)
    #[arg(long)]
    pub source: PathBuf,
    /// Swapper: a GHOST generator (path or known name) or `paste` (model-free baseline).
    /// Default: ghost_2_256 when it is installed, else paste
    #[arg(long)]
    pub model: Option<String>,
    /// Blend mask: auto, template, landmarks, box, parser, debug
    #[arg(long)]
    pub mask: Option<String>,
    /// Colour correction: none or reinhard
    #[arg(long)]
    pub color_correct: Option<String>,
    /// Face detector: mtcnn (built in) or an SCRFD model
    #[arg(long)]
    pub detector: Option<String>,
    /// ArcFace recognizer model (needed by GHOST generators)
    #[arg(long)]
    pub recognizer: Option<String>,
    /// Embedding converter for w600k recognizers
    #[arg(long)]
    pub converter: Option<String>,
    /// Face enhancer model (adds ghostfaceenhance)
    #[arg(long)]
    pub enhancer: Option<String>,
    /// 2d106det landmarker for GHOST's adaptive mask
    #[arg(long)]
    pub landmarker: Option<String>,
    /// BiSeNet face parser for occlusion-aware masks
    #[arg(long)]
    pub parser: Option<String>,
    /// Which faces are swapped: all, largest, reference
    #[arg(long)]
    pub targets: Option<String>,
    /// Detect every N-th frame (the tracker fills in between)
    #[arg(long)]
    pub interval: Option<u32>,
    /// auto, cuda, tensorrt or cpu
    #[arg(long)]
    pub execution_provider: Option<String>,
    /// CUDA/TensorRT device index
    #[arg(long)]
    pub device_id: Option<u32>,
}

/// The swapper to use: the one asked for, else ghost_2_256 when it resolves, else `paste` (with a note).
pub fn choose_model(requested: Option<&str>) -> String {
    if let Some(m) = requested {
        return m.to_string();
    }
    match gstghost::models::resolve_model("ghost_2_256") {
        Ok(_) => "ghost_2_256".into(),
        Err(_) => {
            eprintln!(
                "note: ghost_2_256 is not installed; using the model-free `paste` baseline (pass --model to choose)"
            );
            "paste".into()
        }
    }
}

/// Quotes a property value for `gst::parse::launch`.
pub fn q(value: impl AsRef<str>) -> String {
    let v = value.as_ref();
    if v.chars().all(|c| c.is_ascii_alphanumeric() || "/._-+:,".contains(c)) {
        v.to_string()
    } else {
        format!("\"{}\"", v.replace('\\', "\\\\").replace('"', "\\\""))
    }
}

fn prop(out: &mut String, name: &str, value: Option<impl ToString>) {
    if let Some(v) = value {
        out.push_str(&format!(" {name}={}", q(v.to_string())));
    }
}

/// The pipeline fragment that swaps faces: raw video of any format in, the same format out.
/// Element names: `detect`, `track`, `swap`, `blend` (the bin names its children the same).
pub fn swap_chain(o: &SwapOpts, model: &str) -> String {
    let ep = o.execution_provider.as_deref();
    let dev = o.device_id;
    if USE_SWAPBIN {
        let mut s =
            format!("ghostfaceswapbin name=swapbin source={} model={}", q(o.source.display().to_string()), q(model));
        for (n, v) in [
            ("detector", &o.detector),
            ("recognizer", &o.recognizer),
            ("converter", &o.converter),
            ("enhancer", &o.enhancer),
            ("landmarker", &o.landmarker),
            ("parser", &o.parser),
            ("targets", &o.targets),
            ("mask", &o.mask),
            ("color-correct", &o.color_correct),
            ("execution-provider", &o.execution_provider),
        ] {
            prop(&mut s, n, v.as_deref());
        }
        prop(&mut s, "interval", o.interval);
        prop(&mut s, "device-id", dev);
        // The bin returns the input's format; the converter lets downstream ask for another.
        s.push_str(" ! videoconvert");
        return s;
    }
    let mut detect = String::from("ghostfacedetect name=detect");
    prop(&mut detect, "model", o.detector.as_deref());
    prop(&mut detect, "interval", o.interval);
    let mut swap = format!("ghostfaceswap name=swap source={} model={}", q(o.source.display().to_string()), q(model));
    prop(&mut swap, "detector", o.detector.as_deref());
    prop(&mut swap, "recognizer", o.recognizer.as_deref());
    prop(&mut swap, "converter", o.converter.as_deref());
    prop(&mut swap, "targets", o.targets.as_deref());
    let mut blend = String::from("ghostfaceblend name=blend");
    prop(&mut blend, "mask", o.mask.as_deref());
    prop(&mut blend, "color-correct", o.color_correct.as_deref());
    prop(&mut blend, "landmarker", o.landmarker.as_deref());
    prop(&mut blend, "parser", o.parser.as_deref());
    let mut enhance = String::new();
    if let Some(e) = &o.enhancer {
        enhance = format!("ghostfaceenhance name=enhance model={}", q(e));
    }
    for el in [&mut detect, &mut swap, &mut blend, &mut enhance] {
        if !el.is_empty() {
            prop(el, "execution-provider", ep);
            prop(el, "device-id", dev);
        }
    }
    let enhance = if enhance.is_empty() { String::new() } else { format!("{enhance} ! queue ! ") };
    format!("videoconvert ! {detect} ! queue ! ghostfacetrack name=track ! queue ! {swap} ! queue ! {enhance}{blend} ! videoconvert")
}

/// Fails early, with a hint, when an element the chain needs is not in this build or install.
pub fn require(factories: &[&str]) -> Result<()> {
    for f in factories {
        if gst::ElementFactory::find(f).is_none() {
            let hint = match *f {
                "ghostfaceenhance" => "this build has no face enhancer yet",
                "ghostfaceswapbin" => "this build has no ghostfaceswapbin yet",
                "x264enc" => "install gstreamer1.0-plugins-ugly",
                "srtsink" | "srtsrc" => "install gstreamer1.0-plugins-bad",
                _ => "install the GStreamer plugin that provides it",
            };
            bail!("GStreamer element `{f}` is not available: {hint}");
        }
    }
    Ok(())
}

pub fn has(factory: &str) -> bool {
    gst::ElementFactory::find(factory).is_some()
}

/// Parses `desc`, plays it to EOS (or `timeout`) and returns the pipeline, stopped.
pub fn parse(desc: &str) -> Result<gst::Pipeline> {
    let el = gst::parse::launch(desc).with_context(|| format!("cannot build the pipeline: {desc}"))?;
    el.downcast::<gst::Pipeline>().map_err(|_| anyhow!("not a pipeline: {desc}"))
}

/// Plays a pipeline until EOS, an error, or `timeout` (None: forever); Ctrl-C is left to the OS.
pub fn play(pipeline: &gst::Pipeline, timeout: Option<Duration>) -> Result<()> {
    let bus = pipeline.bus().context("pipeline without a bus")?;
    let result = (|| {
        pipeline.set_state(gst::State::Playing).map_err(|_| match first_error(&bus) {
            Some(e) => anyhow!(e),
            None => anyhow!("the pipeline did not start"),
        })?;
        let deadline = timeout.map(|t| std::time::Instant::now() + t);
        loop {
            let wait = match deadline {
                Some(d) => {
                    let left = d.saturating_duration_since(std::time::Instant::now());
                    if left.is_zero() {
                        bail!("timed out after {:?}", timeout.unwrap());
                    }
                    gst::ClockTime::from_mseconds(left.as_millis() as u64)
                }
                None => gst::ClockTime::from_seconds(1),
            };
            let Some(msg) = bus.timed_pop(wait) else { continue };
            match msg.view() {
                gst::MessageView::Eos(_) => return Ok(()),
                gst::MessageView::Error(e) => bail!(
                    "{}: {}{}",
                    e.src().map(|s| s.path_string().to_string()).unwrap_or_default(),
                    e.error(),
                    e.debug().map(|d| format!(" ({d})")).unwrap_or_default()
                ),
                gst::MessageView::Warning(w) => eprintln!("warning: {}", w.error()),
                _ => {}
            }
        }
    })();
    let _ = pipeline.set_state(gst::State::Null);
    result
}

fn first_error(bus: &gst::Bus) -> Option<String> {
    while let Some(msg) = bus.timed_pop(gst::ClockTime::from_mseconds(200)) {
        if let gst::MessageView::Error(e) = msg.view() {
            return Some(format!("{}{}", e.error(), e.debug().map(|d| format!(" ({d})")).unwrap_or_default()));
        }
    }
    None
}

/// Counts the faces that carry a swap result on every buffer leaving `element`'s sink pad.
pub fn count_swapped_faces(pipeline: &gst::Pipeline, element: &str) -> std::sync::Arc<std::sync::atomic::AtomicUsize> {
    let count = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    if let Some(pad) = pipeline.by_name(element).and_then(|e| e.static_pad("sink")) {
        let c = count.clone();
        pad.add_probe(gst::PadProbeType::BUFFER, move |_, info| {
            if let Some(buffer) = info.buffer() {
                if let Some(faces) = gstghost::meta::FacesMeta::from_buffer(buffer) {
                    let n = faces.faces.iter().filter(|f| f.swap.is_some()).count();
                    c.fetch_add(n, std::sync::atomic::Ordering::Relaxed);
                }
            }
            gst::PadProbeReturn::Ok
        });
    }
    count
}

/// The extension of a path, lower case.
pub fn extension(path: &Path) -> String {
    path.extension().map(|e| e.to_string_lossy().to_lowercase()).unwrap_or_default()
}

/// Median milliseconds of `runs` calls of `f`, after `warmup` untimed calls (the bench examples).
pub fn median_ms(warmup: usize, runs: usize, mut f: impl FnMut()) -> f64 {
    for _ in 0..warmup {
        f();
    }
    let mut t: Vec<f64> = (0..runs)
        .map(|_| {
            let s = std::time::Instant::now();
            f();
            s.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    t.sort_by(f64::total_cmp);
    t[runs / 2]
}
