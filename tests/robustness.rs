// SPDX-License-Identifier: MIT OR Apache-2.0
//! The robustness matrix (issue 14): bad or unusual inputs through every element, each row with
//! the outcome that the reliability rules promise (README "Reliability"): an error at start in the
//! right domain naming the file, a warning with the stream going on, frame bytes untouched, or a
//! swapped frame.
//!
//! Every row runs in a child process of this test binary (the same test, re-run with
//! `--exact NAME` and `GHOST_ROBUSTNESS_CASE=NAME`): a segfault, an abort or a hang then fails that
//! row alone, with its signal or "HANG" and the child's output, instead of taking the whole file down.
//! Inside the child every pipeline wait is bounded ([`PIPELINE_TIMEOUT`]); the parent kills a child
//! that outlives [`CASE_TIMEOUT`]. The child also counts panics (even caught ones, e.g. in a
//! streaming thread): any panic fails the row.
//!
//! Cheap faces: `models/test/scrfd_const.onnx` reports one face at a known place whatever the frame
//! holds, and `model=paste` swaps without a generator.

mod common;

use std::collections::BTreeMap;
use std::io::Read;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use gst::glib;
use gst::prelude::*;
use gst_video::VideoFormat;
use gstghost::meta::{FacesMeta, FrameFaces};
use gstghost::vision::{PixelLayout, RgbImage};

const CASE_ENV: &str = "GHOST_ROBUSTNESS_CASE";
/// The parent's limit for one row; a row that runs longer is a hang.
const CASE_TIMEOUT: Duration = Duration::from_secs(100);
/// Every wait for EOS, an error, an output buffer or a state change inside a row.
const PIPELINE_TIMEOUT: Duration = Duration::from_secs(25);

// ------------------------------------------------------------------------------------------------
// Running a row in a child process

/// Runs `case` in a child process (see the module doc); in the child, runs it and checks that
/// nothing panicked.
fn isolated(name: &str, case: impl FnOnce()) {
    if std::env::var(CASE_ENV).as_deref() == Ok(name) {
        count_panics();
        common::init();
        case();
        let panics = PANICS.lock().unwrap_or_else(|e| e.into_inner()).clone();
        assert!(panics.is_empty(), "{name}: {} panic(s), the first: {}", panics.len(), panics[0]);
        return;
    }
    let exe = std::env::current_exe().expect("the test binary's path");
    let mut child = Command::new(exe)
        .args([name, "--exact", "--nocapture", "--test-threads=1"])
        .env(CASE_ENV, name)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the row's child process");
    let drain = |mut r: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            let _ = r.read_to_end(&mut bytes);
            String::from_utf8_lossy(&bytes).into_owned()
        })
    };
    let out = drain(Box::new(child.stdout.take().unwrap()));
    let err = drain(Box::new(child.stderr.take().unwrap()));
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for the child") {
            break Some(status);
        }
        if started.elapsed() > CASE_TIMEOUT {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let (stdout, stderr) = (out.join().unwrap(), err.join().unwrap());
    eprintln!("{name}: {:.1?}", started.elapsed());
    let output = format!("{stdout}\n--- stderr ---\n{stderr}");
    let tail = tail_of(&output, 8000);
    match status {
        None => panic!("{name}: HANG: no result after {CASE_TIMEOUT:?}; the child was killed\n{tail}"),
        Some(status) if !status.success() => panic!("{name}: {}\n{tail}", describe_exit(status)),
        Some(_) => assert!(stdout.contains("1 passed"), "{name}: the child did not run the row\n{tail}"),
    }
}

fn describe_exit(status: std::process::ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (status.signal(), status.code()) {
        (Some(11), _) => "CRASH: segmentation fault (SIGSEGV)".into(),
        (Some(6), _) => "CRASH: aborted (SIGABRT)".into(),
        (Some(7), _) => "CRASH: bus error (SIGBUS)".into(),
        (Some(s), _) => format!("CRASH: killed by signal {s}"),
        (None, Some(101)) => "FAILED (an assertion or a panic, see below)".into(),
        (None, code) => format!("the child exited with {code:?}"),
    }
}

fn tail_of(s: &str, n: usize) -> &str {
    let mut start = s.len().saturating_sub(n);
    while !s.is_char_boundary(start) {
        start += 1;
    }
    &s[start..]
}

static PANICS: Mutex<Vec<String>> = Mutex::new(Vec::new());

fn count_panics() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let thread = std::thread::current().name().unwrap_or("unnamed").to_string();
        PANICS.lock().unwrap_or_else(|e| e.into_inner()).push(format!("in thread {thread}: {info}"));
        default(info);
    }));
}

/// One `#[test]` per row, each run isolated.
macro_rules! rows {
    ($($name:ident => $body:expr;)*) => {
        $(
            #[test]
            fn $name() {
                isolated(stringify!($name), || $body);
            }
        )*
    };
}

// ------------------------------------------------------------------------------------------------
// Files made at run time

fn data(name: &str) -> String {
    common::data(name).display().to_string()
}

fn model(name: &str) -> String {
    common::test_model(name)
}

/// Writes a file atomically (rows run in parallel processes and may make the same file).
fn write_file(name: &str, bytes: &[u8]) -> String {
    let path = common::output_dir().join("robustness").join(name);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    std::fs::write(&tmp, bytes).unwrap();
    std::fs::rename(&tmp, &path).unwrap();
    path.display().to_string()
}

fn png_bytes(img: &image::RgbImage) -> Vec<u8> {
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Png).unwrap();
    out.into_inner()
}

fn jpeg_bytes(img: &image::DynamicImage) -> Vec<u8> {
    let mut out = std::io::Cursor::new(Vec::new());
    img.to_rgb8().write_to(&mut out, image::ImageFormat::Jpeg).unwrap();
    out.into_inner()
}

/// A `.npy` file of float32 values with the given shape.
fn npy(shape: &str, values: &[f32]) -> Vec<u8> {
    let mut header = format!("{{'descr': '<f4', 'fortran_order': False, 'shape': {shape}, }}");
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut out = b"\x93NUMPY\x01\x00".to_vec();
    out.extend((header.len() as u16).to_le_bytes());
    out.extend(header.as_bytes());
    out.extend(values.iter().flat_map(|v| v.to_le_bytes()));
    out
}

fn raw_f32(values: &[f32]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
}

/// A plausible identity: 512 values of mixed sign.
fn good_identity() -> Vec<f32> {
    (0..512).map(|i| ((i * 37 % 101) as f32 / 50.0) - 1.0).collect()
}

/// The bad (and a few good) input files, made on first use; `{name}` in a row's launch line.
fn fixture(name: &str) -> String {
    match name {
        "empty.onnx" | "empty.jpg" | "empty.npy" => write_file(name, b""),
        "text.onnx" | "text.jpg" => write_file(name, b"this is a text file, not what the property wants\n"),
        "garbage.onnx" => {
            // Deterministic noise (an LCG), with ONNX's leading protobuf tag byte to look plausible.
            let mut x = 0x2545_f491_u32;
            let bytes: Vec<u8> = std::iter::once(0x08)
                .chain((0..8191).map(|_| {
                    x = x.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                    (x >> 24) as u8
                }))
                .collect();
            write_file(name, &bytes)
        }
        "grey.png" => write_file(name, &png_bytes(&image::RgbImage::from_pixel(200, 200, image::Rgb([128; 3])))),
        "tiny.png" => write_file(name, &png_bytes(&image::RgbImage::from_pixel(1, 1, image::Rgb([200, 150, 120])))),
        "truncated.jpg" => {
            // The first 70% of the file: the face (upper half of the portrait) is in the decoded part.
            let bytes = std::fs::read(common::data("obama.jpg")).unwrap();
            write_file(name, &bytes[..bytes.len() * 7 / 10])
        }
        "obama-small.jpg" | "biden-small.jpg" => {
            // Smaller copies: computing an identity from them is quick (rows that recompute it often).
            let img = image::open(common::data(&name.replace("-small", ""))).unwrap();
            write_file(name, &jpeg_bytes(&img.resize(240, 1000, image::imageops::FilterType::Triangle)))
        }
        "identity.npy" => write_file(name, &npy("(512,)", &good_identity())),
        "identity-2x256.npy" => write_file(name, &npy("(2, 256)", &good_identity())),
        "identity-nan.npy" => write_file(name, &npy("(512,)", &[f32::NAN; 512])),
        "identity-inf.f32" => {
            let mut v = good_identity();
            v[7] = f32::INFINITY;
            write_file(name, &raw_f32(&v))
        }
        "identity-zeros.npy" => write_file(name, &npy("(512,)", &[0.0; 512])),
        "identity-short.f32" => write_file(name, &raw_f32(&good_identity()[..100])),
        other => panic!("no fixture {other}"),
    }
}

/// Expands `{model:FILE}` (a test model), `{data:FILE}` (tests/data) and `{FIXTURE}` in a row's text.
fn expand(template: &str) -> String {
    let mut out = String::new();
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let close = open + rest[open..].find('}').expect("closing brace");
        let key = &rest[open + 1..close];
        out.push_str(&match key.split_once(':') {
            Some(("model", f)) => model(f),
            Some(("data", f)) => data(f),
            _ => fixture(key),
        });
        rest = &rest[close + 1..];
    }
    out.push_str(rest);
    out
}

// ------------------------------------------------------------------------------------------------
// Pipelines and what the bus said

#[derive(Debug, Clone)]
struct Posted {
    source: String,
    error: glib::Error,
    debug: Option<String>,
}

impl Posted {
    fn text(&self) -> String {
        self.error.message().to_string()
    }
}

impl std::fmt::Display for Posted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "[{}] {} ({:?})", self.source, self.error.message(), self.debug)
    }
}

#[derive(Debug, Default)]
struct Report {
    eos: bool,
    async_done: bool,
    error: Option<Posted>,
    warnings: Vec<Posted>,
}

impl Report {
    /// The warnings posted by elements whose name starts with `prefix`.
    fn warnings_from(&self, prefix: &str) -> Vec<&Posted> {
        self.warnings.iter().filter(|w| w.source.starts_with(prefix)).collect()
    }

    fn assert_clean_eos(&self, what: &str) {
        if let Some(e) = &self.error {
            panic!("{what}: ERROR {e}");
        }
        assert!(self.eos, "{what}: no EOS within {PIPELINE_TIMEOUT:?} (a hang); warnings: {:?}", self.warnings);
    }
}

/// A launched pipeline; an `appsink name=sink` in it collects its buffers.
struct Run {
    pipeline: gst::Pipeline,
    report: Report,
    outputs: Arc<Mutex<Vec<gst::Buffer>>>,
    taken: usize,
}

impl Run {
    /// Launches `desc` after [`expand`]ing its placeholders.
    fn launch(desc: &str) -> Run {
        common::init();
        let desc = &expand(desc);
        let pipeline = gst::parse::launch(desc)
            .unwrap_or_else(|e| panic!("launch line '{desc}': {e}"))
            .downcast::<gst::Pipeline>()
            .unwrap();
        let outputs = Arc::new(Mutex::new(Vec::new()));
        if let Some(sink) = pipeline.by_name("sink").and_then(|s| s.downcast::<gst_app::AppSink>().ok()) {
            let store = outputs.clone();
            sink.set_callbacks(
                gst_app::AppSinkCallbacks::builder()
                    .new_sample(move |s| {
                        let sample = s.pull_sample().map_err(|_| gst::FlowError::Eos)?;
                        store.lock().unwrap().push(sample.buffer_owned().unwrap());
                        Ok(gst::FlowSuccess::Ok)
                    })
                    .build(),
            );
        }
        Run { pipeline, report: Report::default(), outputs, taken: 0 }
    }

    fn by_name(&self, name: &str) -> gst::Element {
        self.pipeline.by_name(name).unwrap_or_else(|| panic!("no element {name}"))
    }

    fn src(&self) -> gst_app::AppSrc {
        self.by_name("src").downcast().unwrap()
    }

    fn play(&mut self) -> Result<(), gst::StateChangeError> {
        self.pipeline.set_state(gst::State::Playing).map(|_| ())
    }

    fn push(&self, buffer: gst::Buffer) {
        // After an error the flow return says so; the bus has the reason.
        let _ = self.src().push_buffer(buffer);
    }

    fn end_of_stream(&self) {
        let _ = self.src().end_of_stream();
    }

    fn absorb(&mut self, msg: &gst::Message) {
        let source = msg.src().map(|s| s.name().to_string()).unwrap_or_default();
        match msg.view() {
            gst::MessageView::Eos(_) => self.report.eos = true,
            gst::MessageView::AsyncDone(_) => self.report.async_done = true,
            gst::MessageView::Error(e) if self.report.error.is_none() => {
                self.report.error = Some(Posted { source, error: e.error(), debug: e.debug().map(Into::into) });
            }
            gst::MessageView::Warning(w) => {
                self.report.warnings.push(Posted { source, error: w.error(), debug: w.debug().map(Into::into) })
            }
            _ => {}
        }
    }

    /// Reads what the bus holds now.
    fn pump(&mut self) {
        let bus = self.pipeline.bus().unwrap();
        while let Some(msg) = bus.pop() {
            self.absorb(&msg);
        }
    }

    /// Waits until `done` holds, an error comes, or the timeout; returns whether `done` held.
    fn wait_for(&mut self, timeout: Duration, done: impl Fn(&Report) -> bool) -> bool {
        let bus = self.pipeline.bus().unwrap();
        let deadline = Instant::now() + timeout;
        loop {
            self.pump();
            if done(&self.report) {
                return true;
            }
            if self.report.error.is_some() {
                return false;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            if let Some(msg) = bus.timed_pop(gst::ClockTime::from_nseconds(left.as_nanos() as u64)) {
                self.absorb(&msg);
            }
        }
    }

    fn wait_end(&mut self) {
        self.wait_for(PIPELINE_TIMEOUT, |r| r.eos);
    }

    /// The next output buffer (in order), or None after an error or the timeout.
    fn next_output(&mut self) -> Option<gst::Buffer> {
        let deadline = Instant::now() + PIPELINE_TIMEOUT;
        loop {
            if let Some(b) = self.outputs.lock().unwrap().get(self.taken).cloned() {
                self.taken += 1;
                return Some(b);
            }
            self.pump();
            if self.report.error.is_some() || Instant::now() > deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    /// Pushes one buffer and returns its output (pipelines without queues keep the order).
    fn step(&mut self, buffer: gst::Buffer) -> gst::Buffer {
        self.push(buffer);
        match self.next_output() {
            Some(b) => b,
            None => panic!("no output buffer: {:?}", self.report),
        }
    }

    /// EOS (when there is an appsrc), waits for it, stops; returns the report and every output.
    fn finish(mut self) -> (Report, Vec<gst::Buffer>) {
        if self.pipeline.by_name("src").is_some_and(|s| s.is::<gst_app::AppSrc>()) {
            self.end_of_stream();
        }
        self.wait_end();
        self.stop()
    }

    fn stop(mut self) -> (Report, Vec<gst::Buffer>) {
        self.pump();
        self.pipeline.set_state(gst::State::Null).expect("NULL always succeeds");
        self.pump();
        let outputs = std::mem::take(&mut *self.outputs.lock().unwrap());
        (std::mem::take(&mut self.report), outputs)
    }
}

/// `appsrc ! {middle} ! appsink`: pushes `inputs`, EOS, and returns the report and the outputs.
fn stream(caps: &str, middle: &str, inputs: Vec<gst::Buffer>) -> (Report, Vec<gst::Buffer>) {
    let mut run = Run::launch(&format!(
        "appsrc name=src format=time caps={caps} ! {} ! appsink name=sink sync=false",
        expand(middle)
    ));
    if run.play().is_err() {
        return run.stop();
    }
    for b in inputs {
        run.push(b);
    }
    run.finish()
}

// ------------------------------------------------------------------------------------------------
// Frames

fn caps_of(format: VideoFormat, w: u32, h: u32) -> String {
    format!("video/x-raw,format={},width={w},height={h},framerate=30/1", format.to_str())
}

fn layout(format: VideoFormat) -> PixelLayout {
    match format {
        VideoFormat::Rgb => PixelLayout::Rgb,
        VideoFormat::Bgr => PixelLayout::Bgr,
        VideoFormat::Rgba => PixelLayout::Rgba,
        VideoFormat::Bgra => PixelLayout::Bgra,
        VideoFormat::Rgbx => PixelLayout::Rgbx,
        VideoFormat::Bgrx => PixelLayout::Bgrx,
        VideoFormat::Xrgb => PixelLayout::Xrgb,
        VideoFormat::Xbgr => PixelLayout::Xbgr,
        VideoFormat::Argb => PixelLayout::Argb,
        VideoFormat::Abgr => PixelLayout::Abgr,
        other => panic!("{other:?} is not a packed RGB format"),
    }
}

/// A smooth, face-free test picture.
fn pattern(w: usize, h: usize) -> RgbImage {
    let mut img = RgbImage::new(w, h);
    for y in 0..h {
        for x in 0..w {
            let v = [(x * 255 / w.max(1)) as u8, (y * 255 / h.max(1)) as u8, ((x + y) % 64 + 96) as u8];
            img.data[(y * w + x) * 3..(y * w + x) * 3 + 3].copy_from_slice(&v);
        }
    }
    img
}

/// Obama's portrait scaled to `w`x`h` (a real face for the detectors that look).
fn portrait(w: usize, h: usize) -> RgbImage {
    let img = image::open(common::data("obama.jpg")).unwrap();
    let img = img.resize_exact(w as u32, h as u32, image::imageops::FilterType::Triangle).to_rgb8();
    RgbImage::from_raw(w, h, img.into_raw())
}

const FILL: u8 = 0xC8;
const PADDING: u8 = 0x5A;

/// Packs `img` into `format` with the given stride and offset in a buffer of `size` bytes; the
/// non-colour byte of 4-byte formats is FILL, bytes outside the pixels are PADDING.
fn pack(img: &RgbImage, format: VideoFormat, stride: usize, offset: usize, size: usize) -> Vec<u8> {
    let l = layout(format);
    let (bpp, o) = (l.bytes_per_pixel(), l.rgb_offsets());
    let mut data = vec![PADDING; size];
    if format == VideoFormat::Rgb {
        for y in 0..img.height {
            data[offset + y * stride..][..img.width * 3].copy_from_slice(img.row(y));
        }
        return data;
    }
    for y in 0..img.height {
        for x in 0..img.width {
            let p = offset + y * stride + x * bpp;
            data[p..p + bpp].fill(FILL);
            let rgb = img.get(x, y);
            for c in 0..3 {
                data[p + o[c]] = rgb[c];
            }
        }
    }
    data
}

fn unpack(data: &[u8], format: VideoFormat, w: usize, h: usize, stride: usize, offset: usize) -> RgbImage {
    let l = layout(format);
    let (bpp, o) = (l.bytes_per_pixel(), l.rgb_offsets());
    let mut img = RgbImage::new(w, h);
    for y in 0..h {
        for x in 0..w {
            let p = offset + y * stride + x * bpp;
            for c in 0..3 {
                img.data[(y * w + x) * 3 + c] = data[p + o[c]];
            }
        }
    }
    img
}

fn with_pts(data: Vec<u8>, i: u64) -> gst::Buffer {
    let mut buffer = gst::Buffer::from_mut_slice(data);
    {
        let b = buffer.get_mut().unwrap();
        b.set_pts(gst::ClockTime::from_mseconds(i * 33));
        b.set_duration(gst::ClockTime::from_mseconds(33));
    }
    buffer
}

/// `img` as a buffer in `format` with GStreamer's default strides (no video meta).
fn frame(img: &RgbImage, format: VideoFormat, i: u64) -> gst::Buffer {
    let info = gst_video::VideoInfo::builder(format, img.width as u32, img.height as u32).build().unwrap();
    with_pts(pack(img, format, info.stride()[0] as usize, 0, info.size()), i)
}

/// A buffer of `size` bytes whose GstVideoMeta says `stride` and `offset` (true or not).
fn frame_with_meta(
    img: &RgbImage,
    format: VideoFormat,
    i: u64,
    (stride, offset, size): (i32, usize, usize),
) -> gst::Buffer {
    // The pixels are written where a sane reading of the meta would find them (as far as they fit).
    let honest = (stride.max(0) as usize).max(img.width * layout(format).bytes_per_pixel());
    let mut data = vec![PADDING; size];
    let packed = pack(img, format, honest, 0, honest * img.height);
    let n = packed.len().min(size.saturating_sub(offset));
    data[offset..offset + n].copy_from_slice(&packed[..n]);
    let mut buffer = with_pts(data, i);
    gst_video::VideoMeta::add_full(
        buffer.get_mut().unwrap(),
        gst_video::VideoFrameFlags::empty(),
        format,
        img.width as u32,
        img.height as u32,
        &[offset],
        &[stride],
    )
    .unwrap();
    buffer
}

fn bytes(buffer: &gst::BufferRef) -> Vec<u8> {
    buffer.map_readable().unwrap().to_vec()
}

fn swap_crop(buffer: &gst::BufferRef) -> Option<RgbImage> {
    FacesMeta::from_buffer(buffer)?.faces.iter().find_map(|f| f.swap.as_ref().map(|s| (*s.crop).clone()))
}

const SCRFD: &str = "ghostfacedetect model={model:scrfd_const.onnx}";
const MTCNN: &str = "ghostfacedetect";
const PASTE: &str = "ghostfaceswap model=paste source={data:biden.jpg}";

/// detect (constant face) ! track ! swap (paste) ! blend.
fn chain() -> String {
    format!("{SCRFD} ! ghostfacetrack ! {PASTE} ! ghostfaceblend")
}

// ------------------------------------------------------------------------------------------------
// Start-time errors: the state change to PAUSED fails, with an ERROR in the right domain

#[derive(Debug, Clone, Copy)]
enum Domain {
    Settings,
    NotFound,
    OpenRead,
    Failed,
}

impl Domain {
    fn matches(self, e: &glib::Error) -> bool {
        match self {
            Domain::Settings => e.matches(gst::LibraryError::Settings),
            Domain::NotFound => e.matches(gst::ResourceError::NotFound),
            Domain::OpenRead => e.matches(gst::ResourceError::OpenRead),
            Domain::Failed => e.matches(gst::ResourceError::Failed),
        }
    }
}

fn start_error(middle: &str, domain: Domain, texts: &[&str]) {
    let middle = expand(middle);
    let mut run = Run::launch(&format!(
        "videotestsrc num-buffers=2 ! video/x-raw,format=RGB,width=64,height=48 ! {middle} ! fakesink"
    ));
    let changed = run.pipeline.set_state(gst::State::Paused);
    if changed.is_ok() {
        // Not refused at start: play on, to see whether (and when) it fails.
        let _ = run.play();
    }
    run.wait_for(PIPELINE_TIMEOUT, |r| r.error.is_some() || r.eos);
    let (report, _) = run.stop();
    let e = report.error.unwrap_or_else(|| panic!("{middle}: no ERROR (state change: {changed:?})"));
    assert!(changed.is_err(), "{middle}: the error {e} came after start, not from the state change to PAUSED");
    assert!(domain.matches(&e.error), "{middle}: {e} is not in the {domain:?} domain ({:?})", e.error.domain());
    for text in texts {
        let text = expand(text);
        // A file is named by its name (the message may show the path the model was resolved to).
        let needle = match text.starts_with('/') {
            true => std::path::Path::new(&text).file_name().unwrap().to_string_lossy().into_owned(),
            false => text,
        };
        assert!(e.text().contains(&needle), "{middle}: '{}' lacks '{needle}'", e.text());
    }
    assert!(!e.text().starts_with("ghostface"), "{middle}: '{}' names the element", e.text());
}

/// One row per bad start: `name: launch-line fragment => domain, [texts the message holds]`.
macro_rules! start_errors {
    ($($name:ident: $middle:expr => $domain:ident, [$($text:expr),* $(,)?];)*) => {
        rows! { $($name => start_error($middle, Domain::$domain, &[$($text),*]);)* }
    };
}

start_errors! {
    // Detector role.
    detector_missing: "ghostfacedetect model=/nonexistent/detector.onnx" => NotFound, ["/nonexistent/detector.onnx"];
    detector_empty_file: "ghostfacedetect model={empty.onnx}" => OpenRead, ["{empty.onnx}"];
    detector_text_file: "ghostfacedetect model={text.onnx}" => OpenRead, ["{text.onnx}"];
    detector_garbage_file: "ghostfacedetect model={garbage.onnx}" => OpenRead, ["{garbage.onnx}"];
    detector_wrong_contract: "ghostfacedetect model={model:wrong_signature.onnx}" => OpenRead,
        ["{model:wrong_signature.onnx}", "does not match"];
    detector_given_a_generator: "ghostfacedetect model={model:swapper_identity.onnx}" => OpenRead,
        ["{model:swapper_identity.onnx}", "does not match"];
    // Generator role.
    generator_missing: "ghostfaceswap model=/nonexistent/generator.onnx source-embedding={identity.npy}" => NotFound,
        ["/nonexistent/generator.onnx"];
    generator_empty_file: "ghostfaceswap model={empty.onnx} source-embedding={identity.npy}" => OpenRead, ["{empty.onnx}"];
    generator_garbage_file: "ghostfaceswap model={garbage.onnx} source-embedding={identity.npy}" => OpenRead,
        ["{garbage.onnx}"];
    generator_given_a_detector: "ghostfaceswap model={model:scrfd_test.onnx} source-embedding={identity.npy}" => OpenRead,
        ["{model:scrfd_test.onnx}", "does not match"];
    // The detector ghostfaceswap runs on the photos.
    photo_detector_empty_file: "ghostfaceswap model=paste source={data:biden.jpg} detector={empty.onnx}" => OpenRead,
        ["{empty.onnx}"];
    // Recognizer and converter roles.
    recognizer_missing:
        "ghostfaceswap model={model:swapper_identity.onnx} recognizer=/nonexistent/arcface.onnx source={data:biden.jpg}"
        => NotFound, ["/nonexistent/arcface.onnx"];
    recognizer_empty_file:
        "ghostfaceswap model={model:swapper_identity.onnx} recognizer={empty.onnx} source={data:biden.jpg}"
        => OpenRead, ["{empty.onnx}"];
    recognizer_given_a_parser:
        "ghostfaceswap model={model:swapper_identity.onnx} recognizer={model:parser_test.onnx} source={data:biden.jpg}"
        => OpenRead, ["{model:parser_test.onnx}", "does not match"];
    converter_text_file: "ghostfaceswap model={model:swapper_identity.onnx} recognizer={model:arcface_w600k_test.onnx} \
        converter={text.onnx} source={data:biden.jpg}" => OpenRead, ["{text.onnx}"];
    converter_given_a_recognizer: "ghostfaceswap model={model:swapper_identity.onnx} \
        recognizer={model:arcface_w600k_test.onnx} converter={model:arcface_ghost_test.onnx} source={data:biden.jpg}"
        => OpenRead, ["{model:arcface_ghost_test.onnx}", "does not match"];
    // Enhancer role.
    enhancer_missing: "ghostfaceenhance model=/nonexistent/enhancer.onnx" => NotFound, ["/nonexistent/enhancer.onnx"];
    enhancer_garbage_file: "ghostfaceenhance model={garbage.onnx}" => OpenRead, ["{garbage.onnx}"];
    enhancer_wrong_contract: "ghostfaceenhance model={model:enhancer_wrong.onnx}" => OpenRead,
        ["{model:enhancer_wrong.onnx}", "does not match"];
    enhancer_given_a_detector: "ghostfaceenhance model={model:scrfd_test.onnx} family=ghost-sr" => OpenRead,
        ["{model:scrfd_test.onnx}", "does not match"];
    // Blend's landmarker and parser roles.
    landmarker_missing: "ghostfaceblend landmarker=/nonexistent/2d106det.onnx" => NotFound, ["/nonexistent/2d106det.onnx"];
    landmarker_text_file: "ghostfaceblend landmarker={text.onnx}" => OpenRead, ["{text.onnx}"];
    landmarker_given_a_parser: "ghostfaceblend landmarker={model:parser_test.onnx}" => OpenRead,
        ["{model:parser_test.onnx}", "does not match"];
    parser_empty_file: "ghostfaceblend parser={empty.onnx}" => OpenRead, ["{empty.onnx}"];
    parser_given_a_landmarker: "ghostfaceblend parser={model:landmark106_test.onnx}" => OpenRead,
        ["{model:landmark106_test.onnx}", "does not match"];
    // The bin passes its models on.
    bin_enhancer_missing: "ghostfaceswapbin model=paste source={data:biden.jpg} enhancer=/nonexistent/enhancer.onnx"
        => NotFound, ["/nonexistent/enhancer.onnx"];
    bin_detector_wrong_contract:
        "ghostfaceswapbin model=paste source={data:biden.jpg} detector={model:wrong_signature.onnx}"
        => OpenRead, ["does not match"];
    // Source and reference photos.
    source_missing: "ghostfaceswap model=paste source=/nonexistent/me.jpg" => NotFound, ["source photo", "/nonexistent/me.jpg"];
    source_empty_file: "ghostfaceswap model=paste source={empty.jpg}" => OpenRead, ["cannot read source photo", "{empty.jpg}"];
    source_text_file: "ghostfaceswap model=paste source={text.jpg}" => OpenRead, ["cannot read source photo", "{text.jpg}"];
    source_without_face: "ghostfaceswap model=paste source={grey.png}" => Failed,
        ["no face found in source photo", "{grey.png}"];
    source_one_pixel: "ghostfaceswap model=paste source={tiny.png}" => Failed, ["no face found in source photo", "{tiny.png}"];
    source_second_photo_without_face: "ghostfaceswap model=paste source={data:biden.jpg};{grey.png}" => Failed,
        ["no face found in source photo", "{grey.png}"];
    reference_missing: "ghostfaceswap model=paste source={data:biden.jpg} recognizer={model:arcface_ghost_test.onnx} \
        targets=reference reference=/nonexistent/them.jpg" => NotFound, ["reference photo", "/nonexistent/them.jpg"];
    reference_text_file: "ghostfaceswap model=paste source={data:biden.jpg} recognizer={model:arcface_ghost_test.onnx} \
        targets=reference reference={text.jpg}" => OpenRead, ["cannot read reference photo", "{text.jpg}"];
    reference_without_face: "ghostfaceswap model=paste source={data:biden.jpg} recognizer={model:arcface_ghost_test.onnx} \
        targets=reference reference={grey.png}" => Failed, ["no face found in reference photo", "{grey.png}"];
    // Identity files.
    embedding_missing: "ghostfaceswap model={model:swapper_identity.onnx} source-embedding=/nonexistent/id.npy" => NotFound,
        ["/nonexistent/id.npy"];
    embedding_empty_file: "ghostfaceswap model={model:swapper_identity.onnx} source-embedding={empty.npy}" => OpenRead,
        ["{empty.npy}"];
    embedding_wrong_size: "ghostfaceswap model={model:swapper_identity.onnx} source-embedding={identity-short.f32}"
        => OpenRead, ["{identity-short.f32}"];
    embedding_npy_shape_2x256: "ghostfaceswap model={model:swapper_identity.onnx} source-embedding={identity-2x256.npy}"
        => OpenRead, ["{identity-2x256.npy}", "shape"];
    embedding_nan: "ghostfaceswap model={model:swapper_identity.onnx} source-embedding={identity-nan.npy}" => OpenRead,
        ["{identity-nan.npy}", "not finite"];
    embedding_inf: "ghostfaceswap model={model:swapper_identity.onnx} source-embedding={identity-inf.f32}" => OpenRead,
        ["{identity-inf.f32}", "not finite"];
    embedding_zeros: "ghostfaceswap model={model:swapper_identity.onnx} source-embedding={identity-zeros.npy}" => OpenRead,
        ["{identity-zeros.npy}", "zero norm"];
    // Properties that cannot work together.
    paste_without_source: "ghostfaceswap model=paste" => Settings, ["source"];
    generator_without_identity: "ghostfaceswap model={model:swapper_identity.onnx} source={data:biden.jpg}" => Settings,
        ["recognizer", "source-embedding"];
    targets_reference_without_reference:
        "ghostfaceswap model=paste source={data:biden.jpg} recognizer={model:arcface_ghost_test.onnx} targets=reference"
        => Settings, ["reference"];
    targets_reference_without_recognizer:
        "ghostfaceswap model=paste source={data:biden.jpg} targets=reference reference={data:obama.jpg}"
        => Settings, ["recognizer"];
    mask_landmarks_without_landmarker: "ghostfaceblend mask=landmarks" => Settings, ["landmarker"];
    mask_parser_without_parser: "ghostfaceblend mask=parser" => Settings, ["parser"];
    enhance_without_model: "ghostfaceenhance" => Settings, ["model"];
    track_ghost_method_short_lookahead: "ghostfacetrack method=ghost lookahead=1" => Settings, ["lookahead"];
    bin_paste_without_source: "ghostfaceswapbin model=paste" => Settings, ["source"];
}

/// A truncated JPEG that still decodes is used, with a WARNING that says so; one that cannot
/// decode is an OpenRead error naming the source photo.
fn truncated_source_photo() {
    let photo = fixture("truncated.jpg");
    let img = portrait(160, 200);
    let (report, out) = stream(
        &caps_of(VideoFormat::Rgb, 160, 200),
        &format!("{SCRFD} ! ghostfaceswap model=paste source={photo} ! ghostfaceblend"),
        (0..2).map(|i| frame(&img, VideoFormat::Rgb, i)).collect(),
    );
    if let Some(e) = &report.error {
        assert!(e.error.matches(gst::ResourceError::OpenRead), "{e}");
        assert!(e.text().contains("source photo") && e.text().contains(&photo), "{e}");
        return;
    }
    report.assert_clean_eos("truncated source photo");
    let warned = report.warnings_from("ghostfaceswap").iter().any(|w| w.text().contains("truncated"));
    assert!(warned, "no WARNING that {photo} is truncated; warnings: {:?}", report.warnings);
    assert_eq!(out.len(), 2);
    assert!(bytes(&out[0]) != bytes(&frame(&img, VideoFormat::Rgb, 0)), "the frame was not swapped");
}

rows! {
    source_truncated_jpeg => truncated_source_photo();
}

// ------------------------------------------------------------------------------------------------
// Frame sizes and formats

/// Face-free frames of `w`x`h` through the whole chain (MTCNN): EOS, no error, bytes untouched.
/// (At 8192x8192 the pyramid starts at 200 px faces: from 20 px it takes 10 s here, for the same
/// frame handling.)
fn size_passes_untouched(w: usize, h: usize, frames: u64, detect: &str) {
    let img = pattern(w, h);
    let inputs: Vec<_> = (0..frames).map(|i| frame(&img, VideoFormat::Rgb, i)).collect();
    let expected: Vec<_> = inputs.iter().map(|b| bytes(b)).collect();
    let (report, out) = stream(
        &caps_of(VideoFormat::Rgb, w as u32, h as u32),
        &format!("{detect} ! ghostfacetrack ! {PASTE} ! ghostfaceblend"),
        inputs,
    );
    report.assert_clean_eos(&format!("{w}x{h}"));
    assert_eq!(out.len(), frames as usize, "{w}x{h}: every frame comes out");
    for (i, (o, e)) in out.iter().zip(&expected).enumerate() {
        assert!(bytes(o) == *e, "{w}x{h}: frame {i} was changed although it has no face");
    }
}

/// The constant detector's face on a frame where it falls outside: boxes are clipped to the frame
/// (or the face dropped), and the chain goes on.
fn scrfd_boxes_inside(w: usize, h: usize) {
    let img = pattern(w, h);
    let (report, out) = stream(
        &caps_of(VideoFormat::Rgb, w as u32, h as u32),
        &format!("{SCRFD} ! ghostfacetrack ! {PASTE} ! ghostfaceblend"),
        (0..2).map(|i| frame(&img, VideoFormat::Rgb, i)).collect(),
    );
    report.assert_clean_eos(&format!("{w}x{h}"));
    assert_eq!(out.len(), 2);
    for b in &out {
        for f in FacesMeta::from_buffer(b).map(|m| m.faces).unwrap_or_default() {
            let [x0, y0, x1, y1] = f.bbox;
            let inside = x0 >= 0.0 && y0 >= 0.0 && x1 <= w as f32 && y1 <= h as f32 && x0 <= x1 && y0 <= y1;
            assert!(inside, "{w}x{h}: box {:?} reaches outside the frame", f.bbox);
        }
    }
}

rows! {
    size_1x1 => size_passes_untouched(1, 1, 2, MTCNN);
    size_2x2 => size_passes_untouched(2, 2, 2, MTCNN);
    size_13x7 => size_passes_untouched(13, 7, 2, MTCNN);
    size_4000x16 => size_passes_untouched(4000, 16, 2, MTCNN);
    size_16x4000 => size_passes_untouched(16, 4000, 2, MTCNN);
    size_8192x8192 => size_passes_untouched(8192, 8192, 1, "ghostfacedetect min-face-size=200");
    scrfd_boxes_clipped_4000x16 => scrfd_boxes_inside(4000, 16);
    scrfd_boxes_clipped_16x4000 => scrfd_boxes_inside(16, 4000);
}

const FACE_W: usize = 160;
const FACE_H: usize = 120;

/// The chain's output for the portrait in RGB (the reference for the other formats).
fn swapped_rgb() -> (RgbImage, RgbImage) {
    let img = portrait(FACE_W, FACE_H);
    let (report, out) = stream(
        &caps_of(VideoFormat::Rgb, FACE_W as u32, FACE_H as u32),
        &chain(),
        vec![frame(&img, VideoFormat::Rgb, 0)],
    );
    report.assert_clean_eos("RGB reference");
    let stride = gst_video::VideoInfo::builder(VideoFormat::Rgb, FACE_W as u32, FACE_H as u32).build().unwrap().stride()
        [0] as usize;
    (img, unpack(&bytes(&out[0]), VideoFormat::Rgb, FACE_W, FACE_H, stride, 0))
}

/// A face in `format`: swapped (changed near the face, untouched far from it), the same picture as
/// in RGB, and the alpha / padding byte of 4-byte formats left as it was.
fn format_is_swapped(format: VideoFormat) {
    let (img, reference) = swapped_rgb();
    let info = gst_video::VideoInfo::builder(format, FACE_W as u32, FACE_H as u32).build().unwrap();
    let stride = info.stride()[0] as usize;
    let input = frame(&img, format, 0);
    let (report, out) = stream(&caps_of(format, FACE_W as u32, FACE_H as u32), &chain(), vec![input]);
    report.assert_clean_eos(format.to_str());
    assert_eq!(out.len(), 1);
    let after = bytes(&out[0]);
    let got = unpack(&after, format, FACE_W, FACE_H, stride, 0);
    let changed = got.data.iter().zip(&img.data).filter(|(a, b)| a != b).count();
    assert!(changed > 300, "{}: only {changed} values changed: not swapped", format.to_str());
    // The constant face sits at x 50..82, y 40..80 of this frame: the left 10 columns are far from it.
    for y in 0..FACE_H {
        for x in 0..10 {
            assert_eq!(got.get(x, y), img.get(x, y), "{}: pixel ({x},{y}) far from the face changed", format.to_str());
        }
    }
    assert!(got == reference, "{}: the picture differs from the RGB run's", format.to_str());
    let l = layout(format);
    if l.bytes_per_pixel() == 4 {
        let extra = (0..4).find(|c| !l.rgb_offsets().contains(c)).unwrap();
        for y in 0..FACE_H {
            for x in 0..FACE_W {
                assert_eq!(after[y * stride + x * 4 + extra], FILL, "{}: alpha/x byte at ({x},{y})", format.to_str());
            }
        }
    }
}

rows! {
    format_rgb => format_is_swapped(VideoFormat::Rgb);
    format_bgr => format_is_swapped(VideoFormat::Bgr);
    format_rgba => format_is_swapped(VideoFormat::Rgba);
    format_bgra => format_is_swapped(VideoFormat::Bgra);
    format_rgbx => format_is_swapped(VideoFormat::Rgbx);
    format_bgrx => format_is_swapped(VideoFormat::Bgrx);
    format_xrgb => format_is_swapped(VideoFormat::Xrgb);
    format_xbgr => format_is_swapped(VideoFormat::Xbgr);
    format_argb => format_is_swapped(VideoFormat::Argb);
    format_abgr => format_is_swapped(VideoFormat::Abgr);
}

/// A true GstVideoMeta with a padded (odd) stride and an offset: the same picture as with
/// GStreamer's default layout, no warning, and the padding bytes untouched.
fn padded_stride(format: VideoFormat, pad: usize, offset: usize) {
    let (img, reference) = swapped_rgb();
    let bpp = layout(format).bytes_per_pixel();
    let stride = FACE_W * bpp + pad;
    let size = offset + stride * FACE_H + 16;
    let input = frame_with_meta(&img, format, 0, (stride as i32, offset, size));
    let before = bytes(&input);
    let (report, out) = stream(&caps_of(format, FACE_W as u32, FACE_H as u32), &chain(), vec![input]);
    report.assert_clean_eos("padded stride");
    let geometry = report.warnings.iter().filter(|w| {
        let t = w.text().to_lowercase();
        t.contains("stride") || t.contains("geometry")
    });
    assert_eq!(geometry.count(), 0, "a valid layout got warnings: {:?}", report.warnings);
    let after = bytes(&out[0]);
    assert_eq!(after.len(), before.len());
    assert!(unpack(&after, format, FACE_W, FACE_H, stride, offset) == reference, "the picture differs from RGB's");
    for (i, (a, b)) in after.iter().zip(&before).enumerate() {
        let inside = i >= offset && (i - offset) % stride < FACE_W * bpp && (i - offset) / stride < FACE_H;
        assert!(inside || a == b, "byte {i} outside the pixels changed");
    }
}

rows! {
    stride_padded_odd_rgb => padded_stride(VideoFormat::Rgb, 5, 0);
    stride_padded_with_offset_bgrx => padded_stride(VideoFormat::Bgrx, 12, 64);
}

// ------------------------------------------------------------------------------------------------
// GstVideoMeta geometries that lie: a WARNING once per element, the frame passes untouched

const GEO_W: usize = 64;
const GEO_H: usize = 48;
/// RGB rows of 64 pixels: 192 bytes; the buffer holds exactly the frame.
const GEO_SIZE: usize = GEO_W * 3 * GEO_H;

#[derive(Debug, Clone, Copy)]
enum Lie {
    /// 1 MiB per row in a 9 KiB buffer.
    StrideBeyondBuffer,
    StrideZero,
    /// 100 bytes per row of 192.
    StrideBelowRow,
    StrideNegative,
    /// True stride, but the plane starts 96 bytes in: the last row runs past the end.
    OffsetPastEnd,
}

impl Lie {
    fn geometry(self) -> (i32, usize, usize) {
        match self {
            Lie::StrideBeyondBuffer => (1 << 20, 0, GEO_SIZE),
            Lie::StrideZero => (0, 0, GEO_SIZE),
            Lie::StrideBelowRow => (100, 0, GEO_SIZE),
            Lie::StrideNegative => (-(GEO_W as i32 * 3), 0, GEO_SIZE),
            Lie::OffsetPastEnd => (GEO_W as i32 * 3, 96, GEO_SIZE),
        }
    }
}

/// Which element sees the lying buffer first (with the meta it needs to do its work).
#[derive(Debug, Clone, Copy)]
enum Victim {
    Detect,
    Swap,
    Blend,
    Chain,
}

/// The faces (with a swap) that the chain attaches to the portrait at GEO_W x GEO_H.
fn swapped_faces() -> FrameFaces {
    let img = portrait(GEO_W, GEO_H);
    let (report, out) = stream(
        &caps_of(VideoFormat::Rgb, GEO_W as u32, GEO_H as u32),
        &format!("{SCRFD} ! {PASTE}"),
        vec![frame(&img, VideoFormat::Rgb, 0)],
    );
    report.assert_clean_eos("making face meta");
    let faces = FacesMeta::from_buffer(&out[0]).expect("face meta");
    assert!(faces.faces.iter().any(|f| f.swap.is_some()), "the constant face was swapped");
    faces
}

fn lying_geometry(victim: Victim, lie: Lie) {
    let img = portrait(GEO_W, GEO_H);
    let (middle, meta, warner) = match victim {
        Victim::Detect => (SCRFD.to_string(), None, "ghostfacedetect"),
        Victim::Swap => {
            let mut faces = swapped_faces();
            faces.faces.iter_mut().for_each(|f| f.swap = None);
            (PASTE.to_string(), Some(faces), "ghostfaceswap")
        }
        Victim::Blend => ("ghostfaceblend".to_string(), Some(swapped_faces()), "ghostfaceblend"),
        Victim::Chain => (chain(), None, "ghostface"),
    };
    let inputs: Vec<gst::Buffer> = (0..3)
        .map(|i| {
            let mut b = frame_with_meta(&img, VideoFormat::Rgb, i, lie.geometry());
            if let Some(faces) = &meta {
                FacesMeta::set(b.get_mut().unwrap(), faces.clone());
            }
            b
        })
        .collect();
    let expected: Vec<_> = inputs.iter().map(|b| bytes(b)).collect();
    let (report, out) = stream(&caps_of(VideoFormat::Rgb, GEO_W as u32, GEO_H as u32), &middle, inputs);
    report.assert_clean_eos(&format!("{victim:?} with {lie:?}"));
    assert_eq!(out.len(), 3, "every frame comes out");
    for (i, (o, e)) in out.iter().zip(&expected).enumerate() {
        assert!(bytes(o) == *e, "{victim:?} with {lie:?}: frame {i} was changed");
    }
    let geometry: Vec<_> =
        report.warnings_from(warner).into_iter().filter(|w| w.text().to_lowercase().contains("stride")).collect();
    match victim {
        Victim::Chain => assert!(!geometry.is_empty(), "no WARNING naming the geometry: {:?}", report.warnings),
        _ => assert_eq!(geometry.len(), 1, "one WARNING naming the geometry per stream: {:?}", report.warnings),
    }
}

rows! {
    geometry_detect_stride_beyond_buffer => lying_geometry(Victim::Detect, Lie::StrideBeyondBuffer);
    geometry_detect_stride_zero => lying_geometry(Victim::Detect, Lie::StrideZero);
    geometry_detect_stride_below_row => lying_geometry(Victim::Detect, Lie::StrideBelowRow);
    geometry_detect_stride_negative => lying_geometry(Victim::Detect, Lie::StrideNegative);
    geometry_detect_offset_past_end => lying_geometry(Victim::Detect, Lie::OffsetPastEnd);
    geometry_swap_stride_beyond_buffer => lying_geometry(Victim::Swap, Lie::StrideBeyondBuffer);
    geometry_swap_stride_zero => lying_geometry(Victim::Swap, Lie::StrideZero);
    geometry_swap_stride_below_row => lying_geometry(Victim::Swap, Lie::StrideBelowRow);
    geometry_swap_stride_negative => lying_geometry(Victim::Swap, Lie::StrideNegative);
    geometry_swap_offset_past_end => lying_geometry(Victim::Swap, Lie::OffsetPastEnd);
    geometry_blend_stride_beyond_buffer => lying_geometry(Victim::Blend, Lie::StrideBeyondBuffer);
    geometry_blend_stride_zero => lying_geometry(Victim::Blend, Lie::StrideZero);
    geometry_blend_stride_below_row => lying_geometry(Victim::Blend, Lie::StrideBelowRow);
    geometry_blend_stride_negative => lying_geometry(Victim::Blend, Lie::StrideNegative);
    geometry_blend_offset_past_end => lying_geometry(Victim::Blend, Lie::OffsetPastEnd);
    geometry_chain_stride_beyond_buffer => lying_geometry(Victim::Chain, Lie::StrideBeyondBuffer);
}

// ------------------------------------------------------------------------------------------------
// Stream events: caps changes, flushing seeks, EOS at once

fn caps_change_midstream() {
    let (a, b) = (portrait(64, 48), portrait(96, 72));
    let mut run = Run::launch(&format!(
        "appsrc name=src format=time caps={} ! {SCRFD} ! ghostfacetrack lookahead=2 ! {PASTE} ! ghostfaceblend ! \
         appsink name=sink sync=false",
        caps_of(VideoFormat::Rgb, 64, 48)
    ));
    run.play().expect("PLAYING");
    for i in 0..3 {
        run.push(frame(&a, VideoFormat::Rgb, i));
    }
    run.src().set_caps(Some(&caps_of(VideoFormat::Rgb, 96, 72).parse::<gst::Caps>().unwrap()));
    for i in 3..6 {
        run.push(frame(&b, VideoFormat::Rgb, i));
    }
    let (report, out) = run.finish();
    report.assert_clean_eos("caps change");
    let sizes: Vec<usize> = out.iter().map(|b| b.size()).collect();
    let (small, large) = (frame(&a, VideoFormat::Rgb, 0).size(), frame(&b, VideoFormat::Rgb, 0).size());
    assert_eq!(sizes, [small, small, small, large, large, large]);
}

fn bin_format_change_midstream() {
    let a = portrait(64, 48);
    let b = portrait(80, 60);
    let (report, out) = {
        let mut run = Run::launch(&expand(&format!(
            "appsrc name=src format=time caps={} ! ghostfaceswapbin model=paste source={{data:biden.jpg}} ! \
             appsink name=sink sync=false",
            caps_of(VideoFormat::Rgb, 64, 48)
        )));
        run.play().expect("PLAYING");
        for i in 0..3 {
            run.push(frame(&a, VideoFormat::Rgb, i));
        }
        run.src().set_caps(Some(&caps_of(VideoFormat::Bgrx, 80, 60).parse::<gst::Caps>().unwrap()));
        for i in 3..6 {
            run.push(frame(&b, VideoFormat::Bgrx, i));
        }
        run.finish()
    };
    report.assert_clean_eos("format change through the bin");
    assert_eq!(out.len(), 6);
    assert_eq!(out[5].size(), 80 * 60 * 4, "the output follows the new format");
}

/// A flushing seek in PAUSED (after preroll) and one while PLAYING, with frames held by lookahead.
fn flushing_seeks(while_playing: bool) {
    let counted = Arc::new(AtomicUsize::new(0));
    let mut run = Run::launch(&expand(&format!(
        "videotestsrc num-buffers=30 ! {} ! {SCRFD} ! ghostfacetrack lookahead=5 ! {PASTE} ! ghostfaceblend ! \
         fakesink name=out sync=false",
        caps_of(VideoFormat::Rgb, 64, 48)
    )));
    let c = counted.clone();
    run.by_name("out").static_pad("sink").unwrap().add_probe(gst::PadProbeType::BUFFER, move |_, _| {
        c.fetch_add(1, Ordering::SeqCst);
        gst::PadProbeReturn::Ok
    });
    if while_playing {
        run.play().expect("PLAYING");
        let deadline = Instant::now() + PIPELINE_TIMEOUT;
        while counted.load(Ordering::SeqCst) < 10 && Instant::now() < deadline && run.report.error.is_none() {
            run.pump();
            std::thread::sleep(Duration::from_millis(2));
        }
    } else {
        run.pipeline.set_state(gst::State::Paused).expect("PAUSED");
        assert!(run.wait_for(PIPELINE_TIMEOUT, |r| r.async_done), "no preroll: {:?}", run.report);
    }
    run.report.async_done = false;
    let before_seek = counted.swap(0, Ordering::SeqCst);
    let seek = gst::SeekFlags::FLUSH | gst::SeekFlags::ACCURATE;
    run.pipeline.seek_simple(seek, gst::ClockTime::ZERO).expect("the seek is accepted");
    assert!(run.wait_for(PIPELINE_TIMEOUT, |r| r.async_done || r.eos), "the seek never completed: {:?}", run.report);
    run.play().expect("PLAYING");
    run.wait_end();
    let (report, _) = run.stop();
    report.assert_clean_eos("flushing seek");
    let after_seek = counted.load(Ordering::SeqCst);
    eprintln!("{before_seek} frames before the seek, {after_seek} after");
    assert!(after_seek > 0, "no frame came out after the seek ({before_seek} before it)");
}

/// EOS before any buffer.
fn eos_at_once(middle: &str) {
    let (report, out) = stream(&caps_of(VideoFormat::Rgb, 64, 48), middle, Vec::new());
    report.assert_clean_eos(middle);
    assert!(out.is_empty());
}

/// Fewer frames than the lookahead holds: all come out at EOS.
fn eos_before_lookahead_filled() {
    let img = portrait(64, 48);
    let (report, out) = stream(
        &caps_of(VideoFormat::Rgb, 64, 48),
        &format!("{SCRFD} ! ghostfacetrack lookahead=60 ! {PASTE} ! ghostfaceblend"),
        (0..5).map(|i| frame(&img, VideoFormat::Rgb, i)).collect(),
    );
    report.assert_clean_eos("short stream");
    assert_eq!(out.len(), 5);
}

rows! {
    caps_change_resolution_midstream => caps_change_midstream();
    caps_change_format_through_bin => bin_format_change_midstream();
    flushing_seek_in_paused => flushing_seeks(false);
    flushing_seek_while_playing => flushing_seeks(true);
    eos_at_once_chain => eos_at_once(&chain());
    eos_at_once_lookahead_60 => eos_at_once(&format!("{SCRFD} ! ghostfacetrack lookahead=60 ! {PASTE} ! ghostfaceblend"));
    eos_at_once_bin => eos_at_once("ghostfaceswapbin model=paste source={data:biden.jpg}");
    eos_with_lookahead_not_filled => eos_before_lookahead_filled();
}

// ------------------------------------------------------------------------------------------------
// Out-of-range property values

/// g_object_set_property with a value outside the range, as a C application would: GLib warns and
/// keeps the old value; the element goes on.
fn out_of_range_gobject_set() {
    common::init();
    let mut run = Run::launch(&expand(&format!(
        "appsrc name=src format=time caps={} ! {SCRFD} name=detect ! ghostfacetrack name=track ! \
         ghostfaceswap name=swap model=paste source={{data:biden.jpg}} ! ghostfaceenhance name=enhance \
         model={{model:enhancer_ghostsr_identity.onnx}} ! ghostfaceblend name=blend ! appsink name=sink sync=false",
        caps_of(VideoFormat::Rgb, 64, 48)
    )));
    let cases: [(&str, &str, glib::Value); 9] = [
        ("detect", "interval", 0u32.to_value()),
        ("detect", "min-face-size", 5u32.to_value()),
        ("detect", "score-threshold", 1.5f32.to_value()),
        ("track", "lookahead", 61u32.to_value()),
        ("swap", "similarity-threshold", 3.0f32.to_value()),
        ("swap", "recheck-interval", 0u32.to_value()),
        ("enhance", "blend", (-1.0f64).to_value()),
        ("blend", "opacity", 2.0f64.to_value()),
        ("blend", "mask-scale", 10.0f64.to_value()),
    ];
    for (element, property, value) in &cases {
        let e = run.by_name(element);
        let before = e.property_value(property);
        let name = std::ffi::CString::new(*property).unwrap();
        // SAFETY: a live GObject, a NUL-terminated property name and an initialised GValue of the
        // property's type; g_object_set_property validates the value against the pspec itself.
        unsafe {
            glib::gobject_ffi::g_object_set_property(
                e.as_ptr() as *mut glib::gobject_ffi::GObject,
                name.as_ptr(),
                glib::translate::ToGlibPtr::to_glib_none(value).0,
            );
        }
        let after = e.property_value(property);
        assert_eq!(
            format!("{:?}", after),
            format!("{:?}", before),
            "{element}.{property}: an out-of-range value changed it"
        );
    }
    run.play().expect("PLAYING");
    let img = portrait(64, 48);
    for i in 0..3 {
        run.push(frame(&img, VideoFormat::Rgb, i));
    }
    let (report, out) = run.finish();
    report.assert_clean_eos("after out-of-range sets");
    assert_eq!(out.len(), 3);
}

/// In a launch line an out-of-range value is refused by the parser (or keeps the default); never a
/// panic, and a pipeline that was made still runs.
fn out_of_range_launch_line() {
    common::init();
    let lines = [
        ("ghostfacedetect interval=0", "interval", "ghostfacedetect"),
        ("ghostfaceblend opacity=7.5", "opacity", "ghostfaceblend"),
        ("ghostfacetrack lookahead=1000", "lookahead", "ghostfacetrack"),
        ("ghostfaceswapbin model=paste source={data:biden.jpg} lookahead=99", "lookahead", "ghostfaceswapbin"),
        ("ghostfaceblend mask=sideways", "mask", "ghostfaceblend"),
    ];
    for (fragment, property, factory) in lines {
        let desc = format!(
            "videotestsrc num-buffers=2 ! {} ! {} ! fakesink",
            caps_of(VideoFormat::Rgb, 64, 48),
            expand(fragment)
        );
        match gst::parse::launch(&desc) {
            Err(e) => {
                eprintln!("'{fragment}': refused by the parser: {e}");
                assert!(e.message().contains(property), "'{fragment}': the parser's error '{e}' names no property")
            }
            Ok(p) => {
                let p = p.downcast::<gst::Pipeline>().unwrap();
                let e = p
                    .iterate_elements()
                    .into_iter()
                    .flatten()
                    .find(|e| e.factory().is_some_and(|f| f.name() == factory));
                let e = e.expect("the element");
                let default = e.find_property(property).unwrap().default_value().clone();
                eprintln!("'{fragment}': accepted by the parser, {property} = {:?}", e.property_value(property));
                assert_eq!(
                    format!("{:?}", e.property_value(property)),
                    format!("{default:?}"),
                    "'{fragment}': an out-of-range value was taken"
                );
                let mut run = Run { pipeline: p, report: Report::default(), outputs: Default::default(), taken: 0 };
                run.play().expect("PLAYING");
                run.wait_end();
                run.stop().0.assert_clean_eos(fragment);
            }
        }
    }
}

rows! {
    out_of_range_values_via_gobject => out_of_range_gobject_set();
    out_of_range_values_in_launch_lines => out_of_range_launch_line();
}

// ------------------------------------------------------------------------------------------------
// Property changes while PLAYING

/// appsrc ! {middle} ! appsink, one buffer at a time (no queue: outputs in order, property changes
/// between two steps apply to the second).
fn stepper(caps: &str, middle: &str) -> Run {
    let mut run = Run::launch(&format!(
        "appsrc name=src format=time caps={caps} ! {} ! appsink name=sink sync=false",
        expand(middle)
    ));
    run.play().expect("PLAYING");
    run
}

const FACE_CAPS_W: u32 = 160;
const FACE_CAPS_H: u32 = 120;

fn face_caps() -> String {
    caps_of(VideoFormat::Rgb, FACE_CAPS_W, FACE_CAPS_H)
}

fn face_frame(i: u64) -> gst::Buffer {
    frame(&portrait(FACE_CAPS_W as usize, FACE_CAPS_H as usize), VideoFormat::Rgb, i)
}

fn opacity_blur_erode_take_effect() {
    let mut run = stepper(&face_caps(), &format!("{SCRFD} ! {PASTE} ! ghostfaceblend name=blend"));
    let blend = run.by_name("blend");
    let input = bytes(&face_frame(0));
    let swapped = bytes(&run.step(face_frame(0)));
    assert!(swapped != input, "the face is swapped");
    blend.set_property("opacity", 0.0f64);
    assert!(bytes(&run.step(face_frame(1))) == input, "opacity=0 leaves the frame as it was");
    blend.set_property("opacity", 1.0f64);
    assert!(bytes(&run.step(face_frame(2))) == swapped, "opacity=1 again");
    blend.set_property("blur", 0.0f64);
    let hard = bytes(&run.step(face_frame(3)));
    assert!(hard != swapped && hard != input, "blur=0 gives a hard edge");
    blend.set_property("blur", -1.0f64);
    blend.set_property("erode", 30i32);
    let eroded = bytes(&run.step(face_frame(4)));
    assert!(eroded != swapped && eroded != hard, "erode changes the mask");
    blend.set_property("erode", -1i32);
    assert!(bytes(&run.step(face_frame(5))) == swapped, "back to the automatic mask");
    let (report, _) = run.finish();
    report.assert_clean_eos("blend properties while playing");
}

fn detector_settings_take_effect() {
    let mut run = stepper(&face_caps(), "ghostfacedetect name=detect min-face-size=40");
    let detect = run.by_name("detect");
    let faces = |b: &gst::Buffer| FacesMeta::from_buffer(b).map(|m| (m.faces.len(), m.detection_ran));
    assert_eq!(faces(&run.step(face_frame(0))).map(|f| f.0 > 0), Some(true), "the portrait's face is found");
    detect.set_property("score-threshold", 1.0f32);
    assert_eq!(faces(&run.step(face_frame(1))), Some((0, true)), "score-threshold=1 finds nothing");
    detect.set_property("score-threshold", 0.5f32);
    detect.set_property("interval", 1000u32);
    let runs_before: u64 = detect.property("detections-run");
    for i in 2..6 {
        run.step(face_frame(i));
    }
    let runs_after: u64 = detect.property("detections-run");
    assert!(runs_after - runs_before <= 1, "interval=1000 runs the detector once in 1000 frames");
    let (report, _) = run.finish();
    report.assert_clean_eos("detector properties while playing");
}

/// `mask` set while playing to a mode whose model is missing: WARNING, the previous mask kept.
fn mask_refused_while_playing(mask: &str, model_prop: &str) {
    let mut run = stepper(&face_caps(), &format!("{SCRFD} ! {PASTE} ! ghostfaceblend name=blend"));
    let blend = run.by_name("blend");
    let first = bytes(&run.step(face_frame(0)));
    blend.set_property_from_str("mask", mask);
    for i in 1..4 {
        let out = run.step(face_frame(i));
        assert!(bytes(&out) == first, "frame {i} after mask={mask}: not blended with the previous mask");
    }
    let (report, _) = run.finish();
    report.assert_clean_eos(&format!("mask={mask} while playing"));
    let warned = report.warnings_from("blend").iter().any(|w| w.text().contains(model_prop));
    assert!(warned, "no WARNING about the missing {model_prop}: {:?}", report.warnings);
}

fn targets_reference_refused_while_playing() {
    let mut run =
        stepper(&face_caps(), &format!("{SCRFD} ! ghostfaceswap name=swap model=paste source={{data:biden.jpg}}"));
    let swap = run.by_name("swap");
    let first = swap_crop(&run.step(face_frame(0))).expect("swapped");
    swap.set_property_from_str("targets", "reference");
    for i in 1..4 {
        assert_eq!(
            swap_crop(&run.step(face_frame(i))).as_ref(),
            Some(&first),
            "frame {i}: targets changed to reference"
        );
    }
    let (report, _) = run.finish();
    report.assert_clean_eos("targets=reference while playing");
    let warned = report.warnings_from("swap").iter().any(|w| w.text().contains("reference"));
    assert!(warned, "no WARNING that targets=reference cannot be honoured: {:?}", report.warnings);
}

/// Steps frames until the swapped crop equals `want` (the background identity arrived).
fn step_until_crop(run: &mut Run, i: &mut u64, want: &RgbImage, what: &str) -> Duration {
    let started = Instant::now();
    loop {
        *i += 1;
        if swap_crop(&run.step(face_frame(*i))).as_ref() == Some(want) {
            return started.elapsed();
        }
        assert!(started.elapsed() < PIPELINE_TIMEOUT, "{what}: the identity never arrived");
    }
}

/// 30 quick alternating `source` sets from another thread: the last one set is the identity used
/// afterwards, and stays so (no older result lands later).
fn source_race_last_set_wins() {
    let (a, b) = (fixture("obama-small.jpg"), fixture("biden-small.jpg"));
    let mut run = stepper(&face_caps(), &format!("{SCRFD} ! ghostfaceswap name=swap model=paste source={a}"));
    let swap = run.by_name("swap");
    let mut i = 0;
    let crop_a = swap_crop(&run.step(face_frame(0))).expect("swapped");
    swap.set_property("source", &b);
    let crop_b = {
        let started = Instant::now();
        loop {
            i += 1;
            match swap_crop(&run.step(face_frame(i))) {
                Some(c) if c != crop_a => break c,
                _ => assert!(started.elapsed() < PIPELINE_TIMEOUT, "source B never arrived"),
            }
        }
    };
    for (round, last) in [&a, &b, &a].into_iter().enumerate() {
        let (swap2, a2, b2, last2) = (swap.clone(), a.clone(), b.clone(), last.clone());
        std::thread::spawn(move || {
            for k in 0..30 {
                // Alternating, ending with `last`.
                let other = if last2 == a2 { &b2 } else { &a2 };
                swap2.set_property("source", if (30 - k) % 2 == 1 { &last2 } else { other });
            }
        })
        .join()
        .unwrap();
        assert_eq!(swap.property::<String>("source"), *last);
        let want = if *last == a { &crop_a } else { &crop_b };
        let took = step_until_crop(&mut run, &mut i, want, &format!("round {round}"));
        // Keep going a while (three times as long as the last identity took): nothing older may land.
        let until = Instant::now() + (took * 3).max(Duration::from_secs(2));
        while Instant::now() < until {
            i += 1;
            let got = swap_crop(&run.step(face_frame(i)));
            assert!(got.as_ref() == Some(want), "round {round}: frame {i} used an older source than the last one set");
        }
    }
    let (report, _) = run.finish();
    report.assert_clean_eos("source race");
}

/// A `source` change just before a restart: after the restart only the new run's identity is used.
fn source_no_stale_identity_after_restart() {
    let (a, b) = (fixture("obama-small.jpg"), fixture("biden-small.jpg"));
    let desc = format!(
        "appsrc name=src format=time caps={} ! {SCRFD} ! ghostfaceswap name=swap model=paste source={a} ! \
         appsink name=sink sync=false",
        face_caps()
    );
    let mut run = Run::launch(&expand(&desc));
    run.play().expect("PLAYING");
    let crop_a = swap_crop(&run.step(face_frame(0))).expect("swapped");
    let swap = run.by_name("swap");
    // Start a recomputation for B, then stop at once and restart with A.
    swap.set_property("source", &b);
    run.pipeline.set_state(gst::State::Null).unwrap();
    swap.set_property("source", &a);
    run.outputs.lock().unwrap().clear();
    run.taken = 0;
    run.play().expect("PLAYING again");
    let until = Instant::now() + Duration::from_secs(3);
    let mut i = 0;
    while Instant::now() < until {
        i += 1;
        assert!(
            swap_crop(&run.step(face_frame(i))).as_ref() == Some(&crop_a),
            "frame {i} after the restart used the identity computed before it"
        );
    }
    let (report, _) = run.finish();
    report.assert_clean_eos("restart");
}

fn task_count() -> usize {
    std::fs::read_dir("/proc/self/task").unwrap().count()
}

fn task_names() -> BTreeMap<String, usize> {
    let mut names = BTreeMap::new();
    for entry in std::fs::read_dir("/proc/self/task").unwrap().flatten() {
        let comm = std::fs::read_to_string(entry.path().join("comm")).unwrap_or_default();
        *names.entry(comm.trim().to_string()).or_insert(0) += 1;
    }
    names
}

/// After NULL, no identity worker is left running, however many `source` sets came before (the
/// full-size photos: each recomputation takes long enough that a detached worker is still alive).
fn source_workers_joined() {
    let (a, b) = (data("obama.jpg"), data("biden.jpg"));
    let mut run = Run::launch(&format!(
        "appsrc name=src format=time caps={} ! {SCRFD} ! ghostfaceswap name=swap model=paste source={a} ! \
         appsink name=sink sync=false",
        face_caps()
    ));
    let swap = run.by_name("swap");
    let mut cycle = |sets: usize, wait: bool| {
        run.outputs.lock().unwrap().clear();
        run.taken = 0;
        run.play().expect("PLAYING");
        run.step(face_frame(0));
        for k in 0..sets {
            swap.set_property("source", if k % 2 == 0 { &b } else { &a });
        }
        if wait {
            std::thread::sleep(Duration::from_secs(2));
        }
        run.step(face_frame(1));
        run.pipeline.set_state(gst::State::Null).unwrap();
    };
    // A first cycle (one recomputation, waited for) starts every pool that stays for the process.
    cycle(1, true);
    std::thread::sleep(Duration::from_millis(300));
    let (baseline, baseline_names) = (task_count(), task_names());
    cycle(10, false);
    cycle(20, false);
    // NULL has returned: stop() has run. Only GLib's idle pool threads may differ (by one).
    std::thread::sleep(Duration::from_millis(50));
    let (after, after_names) = (task_count(), task_names());
    let (report, _) = run.stop();
    assert!(report.error.is_none(), "{:?}", report.error);
    assert!(
        after <= baseline + 1,
        "{after} threads after NULL, {baseline} before: workers not joined\nbefore {baseline_names:?}\nafter  {after_names:?}"
    );
}

/// A bad photo set as `source` while playing: WARNING naming it, the previous identity kept.
fn source_bad_photo_while_playing() {
    let grey = fixture("grey.png");
    let mut run =
        stepper(&face_caps(), &format!("{SCRFD} ! ghostfaceswap name=swap model=paste source={{data:biden.jpg}}"));
    let swap = run.by_name("swap");
    let first = swap_crop(&run.step(face_frame(0))).expect("swapped");
    swap.set_property("source", &grey);
    let started = Instant::now();
    let mut i = 0;
    while !run.report.warnings.iter().any(|w| w.text().contains(&grey)) {
        i += 1;
        assert_eq!(swap_crop(&run.step(face_frame(i))).as_ref(), Some(&first), "frame {i}: the identity changed");
        assert!(started.elapsed() < PIPELINE_TIMEOUT, "no WARNING naming {grey}: {:?}", run.report.warnings);
    }
    for _ in 0..3 {
        i += 1;
        assert_eq!(swap_crop(&run.step(face_frame(i))).as_ref(), Some(&first), "frame {i}: the identity changed");
    }
    let (report, _) = run.finish();
    report.assert_clean_eos("bad source while playing");
}

/// Thousands of property sets from another thread while frames flow through queues.
fn quick_sets_from_another_thread() {
    let mut run = Run::launch(&expand(&format!(
        "videotestsrc num-buffers=60 ! {} ! {SCRFD} name=detect ! queue ! ghostfacetrack ! queue ! \
         ghostfaceswap name=swap model=paste source={{data:biden.jpg}} ! queue ! ghostfaceblend name=blend ! \
         fakesink sync=false",
        caps_of(VideoFormat::Rgb, 96, 72)
    )));
    let (detect, swap, blend) = (run.by_name("detect"), run.by_name("swap"), run.by_name("blend"));
    let stop = Arc::new(AtomicBool::new(false));
    let stop2 = stop.clone();
    let setter = std::thread::spawn(move || {
        let mut sets = 0u32;
        while !stop2.load(Ordering::SeqCst) {
            let k = sets % 11;
            blend.set_property("opacity", k as f64 / 10.0);
            blend.set_property("blur", k as f64);
            blend.set_property("erode", k as i32);
            blend.set_property("mask-scale", 0.5 + k as f64 / 10.0);
            blend.set_property_from_str("color-correct", if k.is_multiple_of(2) { "reinhard" } else { "none" });
            blend.set_property_from_str("mask", ["auto", "template", "box"][k as usize % 3]);
            detect.set_property("score-threshold", 0.3 + k as f32 / 20.0);
            detect.set_property("interval", 1 + k % 3);
            detect.set_property("max-faces", k % 3);
            swap.set_property("similarity-threshold", k as f32 / 10.0);
            swap.set_property_from_str("targets", if k.is_multiple_of(2) { "all" } else { "largest" });
            sets += 11;
        }
        sets
    });
    run.play().expect("PLAYING");
    run.wait_end();
    stop.store(true, Ordering::SeqCst);
    let sets = setter.join().unwrap();
    let (report, _) = run.stop();
    report.assert_clean_eos("quick sets");
    assert!(sets > 100, "only {sets} sets happened while playing");
}

fn has_enhancer(bin: &gst::Element) -> bool {
    bin.downcast_ref::<gst::Bin>()
        .unwrap()
        .iterate_recurse()
        .into_iter()
        .flatten()
        // By type name: `factory()` once tripped a GLib type assertion on a bin child (see soak.rs).
        .any(|e| e.type_().name() == "GstGhostFaceEnhance")
}

/// The bin's `enhancer` changed where its flags allow it (READY, else NULL) takes effect at the
/// next start; set and unset over several restarts.
fn bin_enhancer_applied_where_allowed() {
    let mut run = Run::launch(&expand(&format!(
        "videotestsrc num-buffers=3 ! {} ! ghostfaceswapbin name=bin model=paste source={{data:biden.jpg}} ! \
         fakesink sync=false",
        caps_of(VideoFormat::Rgb, 64, 48)
    )));
    let bin = run.by_name("bin");
    let flags = bin.find_property("enhancer").unwrap().flags();
    let settable_in = if flags.contains(gst::PARAM_FLAG_MUTABLE_READY) { gst::State::Ready } else { gst::State::Null };
    let enhancer = model("enhancer_ghostsr_identity.onnx");
    for (k, wanted) in [true, false, true, false].into_iter().enumerate() {
        run.pipeline.set_state(gst::State::Null).unwrap();
        run.pipeline.set_state(settable_in).unwrap();
        bin.set_property("enhancer", if wanted { Some(enhancer.as_str()) } else { None });
        run.report = Report::default();
        run.play().expect("PLAYING");
        run.wait_end();
        assert!(run.report.error.is_none() && run.report.eos, "cycle {k}: {:?}", run.report);
        assert_eq!(has_enhancer(&bin), wanted, "cycle {k}: enhancer set in {settable_in:?} not applied");
    }
    run.stop();
}

/// `execution-provider=auto` without CUDA: a WARNING (once) that the model runs on the CPU.
fn auto_provider_fallback_warns() {
    common::init();
    // Another model than the element's, so that the session cache does not hide the element's load.
    let probe = gstghost::runtime::load_session(
        std::path::Path::new(&model("scrfd_const_batched.onnx")),
        &gstghost::runtime::SessionOptions::default(),
    )
    .expect("the probe session");
    let img = portrait(64, 48);
    let (report, _) = stream(
        &caps_of(VideoFormat::Rgb, 64, 48),
        &format!("{SCRFD} name=detect execution-provider=auto"),
        (0..3).map(|i| frame(&img, VideoFormat::Rgb, i)).collect(),
    );
    report.assert_clean_eos("auto provider");
    let fallback: Vec<_> = report
        .warnings_from("detect")
        .into_iter()
        .filter(|w| {
            let t = w.text().to_lowercase();
            t.contains("cpu") || t.contains("cuda")
        })
        .collect();
    match &probe.fallback_reason {
        Some(reason) => assert_eq!(fallback.len(), 1, "one WARNING for the fallback ({reason}): {:?}", report.warnings),
        None => assert!(fallback.is_empty(), "CUDA is in use, yet: {fallback:?}"),
    }
}

rows! {
    playing_opacity_blur_erode_take_effect => opacity_blur_erode_take_effect();
    playing_detector_settings_take_effect => detector_settings_take_effect();
    playing_mask_parser_without_parser => mask_refused_while_playing("parser", "parser");
    playing_mask_landmarks_without_landmarker => mask_refused_while_playing("landmarks", "landmarker");
    playing_targets_reference_without_recognizer => targets_reference_refused_while_playing();
    playing_source_race_last_set_wins => source_race_last_set_wins();
    playing_source_no_stale_identity_after_restart => source_no_stale_identity_after_restart();
    playing_source_workers_joined_after_null => source_workers_joined();
    playing_source_bad_photo_keeps_identity => source_bad_photo_while_playing();
    playing_quick_sets_from_another_thread => quick_sets_from_another_thread();
    bin_enhancer_set_and_unset_across_restarts => bin_enhancer_applied_where_allowed();
    auto_provider_without_cuda_warns => auto_provider_fallback_warns();
}

// ------------------------------------------------------------------------------------------------
// Unusual orders, tee, several instances

/// An element with nothing upstream to give it faces: one WARNING that says to put ghostfacedetect
/// before it; frames untouched.
fn without_detector(middle: &str, element: &str) {
    let img = portrait(64, 48);
    let inputs: Vec<_> = (0..3).map(|i| frame(&img, VideoFormat::Rgb, i)).collect();
    let expected: Vec<_> = inputs.iter().map(|b| bytes(b)).collect();
    let (report, out) = stream(&caps_of(VideoFormat::Rgb, 64, 48), middle, inputs);
    report.assert_clean_eos(middle);
    assert_eq!(out.len(), 3);
    for (o, e) in out.iter().zip(&expected) {
        assert!(bytes(o) == *e, "{middle}: frame changed");
    }
    let told: Vec<_> = report
        .warnings_from(element)
        .into_iter()
        .filter(|w| w.text().contains("face meta") && w.text().contains("ghostfacedetect"))
        .collect();
    assert_eq!(told.len(), 1, "{middle}: one WARNING naming ghostfacedetect: {:?}", report.warnings);
}

fn blend_twice_equals_once() {
    let img = portrait(FACE_W, FACE_H);
    let caps = caps_of(VideoFormat::Rgb, FACE_W as u32, FACE_H as u32);
    let run = |middle: String| {
        let (report, out) = stream(&caps, &middle, vec![frame(&img, VideoFormat::Rgb, 0)]);
        report.assert_clean_eos(&middle);
        bytes(&out[0])
    };
    let once = run(format!("{SCRFD} ! {PASTE} ! ghostfaceblend"));
    let twice = run(format!("{SCRFD} ! {PASTE} ! ghostfaceblend ! ghostfaceblend"));
    assert!(once != bytes(&frame(&img, VideoFormat::Rgb, 0)), "swapped");
    assert!(twice == once, "a second ghostfaceblend blended the same swap again");
}

fn doubled_analysis(middle: &str) {
    let img = portrait(64, 48);
    let (report, out) =
        stream(&caps_of(VideoFormat::Rgb, 64, 48), middle, (0..4).map(|i| frame(&img, VideoFormat::Rgb, i)).collect());
    report.assert_clean_eos(middle);
    assert_eq!(out.len(), 4);
    for b in &out {
        let faces = FacesMeta::from_buffer(b).expect("face meta").faces;
        assert_eq!(faces.len(), 1, "{middle}: the constant face once");
        if middle.contains("track") {
            assert_eq!(faces[0].track_id, 1, "{middle}: one track");
        }
    }
}

/// Blend before swap: nothing to blend yet, frames untouched.
fn blend_before_swap() {
    let img = portrait(64, 48);
    let inputs: Vec<_> = (0..2).map(|i| frame(&img, VideoFormat::Rgb, i)).collect();
    let expected: Vec<_> = inputs.iter().map(|b| bytes(b)).collect();
    let (report, out) =
        stream(&caps_of(VideoFormat::Rgb, 64, 48), &format!("{SCRFD} ! ghostfaceblend ! {PASTE}"), inputs);
    report.assert_clean_eos("blend before swap");
    for (o, e) in out.iter().zip(&expected) {
        assert!(bytes(o) == *e, "frame changed");
    }
}

fn pipeline_reaches_eos(desc: &str) {
    let mut run = Run::launch(&expand(desc));
    run.play().expect("PLAYING");
    run.wait_end();
    run.stop().0.assert_clean_eos(desc);
}

/// Several bins in parallel pipelines of one process.
fn bins_in_parallel() {
    common::init();
    let desc = expand(&format!(
        "videotestsrc num-buffers=8 ! {} ! ghostfaceswapbin model=paste source={{data:biden.jpg}} ! fakesink sync=false",
        caps_of(VideoFormat::Rgb, 64, 48)
    ));
    let threads: Vec<_> = (0..3)
        .map(|_| {
            let desc = desc.clone();
            std::thread::spawn(move || {
                let mut run = Run::launch(&desc);
                run.play().expect("PLAYING");
                run.wait_end();
                run.stop().0
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap().assert_clean_eos("bin instance");
    }
}

/// tee with `ghostfacetrack lookahead=60` on one branch and a default queue on the other, not
/// live: prerolls and reaches EOS, or fails with a message that says what to do. A hang fails.
fn tee_lookahead_preroll() {
    let desc = format!(
        "videotestsrc num-buffers=200 ! {} ! ghostfacedetect ! tee name=t \
         t. ! queue ! ghostfacetrack lookahead=60 ! fakesink sync=false \
         t. ! queue ! fakesink sync=false",
        caps_of(VideoFormat::Rgb, 64, 48)
    );
    let mut run = Run::launch(&desc);
    let _ = run.play();
    run.wait_end();
    let (report, _) = run.stop();
    if let Some(e) = &report.error {
        let t = e.text();
        assert!(t.contains("lookahead") && t.contains("queue"), "an error that does not say what to do: {e}");
        return;
    }
    report.assert_clean_eos("tee with lookahead=60");
}

rows! {
    order_swap_without_detect => without_detector(PASTE, "ghostfaceswap");
    order_blend_without_detect => without_detector("ghostfaceblend", "ghostfaceblend");
    order_track_without_detect => without_detector("ghostfacetrack", "ghostfacetrack");
    order_enhance_without_detect =>
        without_detector("ghostfaceenhance model={model:enhancer_ghostsr_identity.onnx}", "ghostfaceenhance");
    order_blend_twice_blends_once => blend_twice_equals_once();
    order_track_twice => doubled_analysis(&format!("{SCRFD} ! ghostfacetrack ! ghostfacetrack"));
    order_detect_twice => doubled_analysis(&format!("{SCRFD} ! {SCRFD}"));
    order_blend_before_swap => blend_before_swap();
    order_enhance_in_chain => pipeline_reaches_eos(&format!(
        "videotestsrc num-buffers=4 ! {} ! {SCRFD} ! ghostfacetrack ! {PASTE} ! ghostfaceenhance \
         model={{model:enhancer_ghostsr_identity.onnx}} ! ghostfaceblend ! fakesink sync=false",
        caps_of(VideoFormat::Rgb, 96, 72)
    ));
    tee_two_chains => pipeline_reaches_eos(&format!(
        "videotestsrc num-buffers=10 ! {} ! tee name=t \
         t. ! queue ! {SCRFD} ! ghostfacetrack ! {PASTE} ! ghostfaceblend ! fakesink sync=false \
         t. ! queue ! ghostfacedetect ! ghostfacetrack lookahead=3 ! {PASTE} ! ghostfaceblend ! fakesink sync=false",
        caps_of(VideoFormat::Rgb, 64, 48)
    ));
    bin_three_instances => bins_in_parallel();
    tee_lookahead_60_prerolls => tee_lookahead_preroll();
}
