// SPDX-License-Identifier: MIT OR Apache-2.0
//! Glue shared by the element modules: the common model properties, caps for the packed RGB
//! family, mapping a video frame to a [`PackedFrame`], and the per-frame faces bus message.

use gst::glib;
use gst::prelude::*;
use gst_video::VideoFormat;

use crate::models::ModelError;
use crate::runtime::{ExecutionProvider, RuntimeError, ServerOptions, SessionOptions};
use crate::vision::{PackedFrame, PackedFrameMut, PixelLayout};

/// Why an element cannot start (or go on), mapped onto the GStreamer error domain that fits, so
/// that applications can tell a settings mistake from a missing file or a broken one. Messages do
/// not name the element: GStreamer does.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ElementError {
    /// A combination of properties that cannot work.
    #[error("{0}")]
    Settings(String),
    #[error(transparent)]
    Model(#[from] ModelError),
}

impl From<RuntimeError> for ElementError {
    fn from(e: RuntimeError) -> Self {
        ElementError::Model(ModelError::Runtime(e))
    }
}

impl ElementError {
    /// The error message for `start` (or the bus) in its domain.
    pub fn to_error_message(&self) -> gst::ErrorMessage {
        let text = self.to_string();
        match self.domain() {
            Domain::Settings => gst::error_msg!(gst::LibraryError::Settings, ("{}", text)),
            Domain::Init => gst::error_msg!(gst::LibraryError::Init, ("{}", text)),
            Domain::NotFound => gst::error_msg!(gst::ResourceError::NotFound, ("{}", text)),
            Domain::OpenRead => gst::error_msg!(gst::ResourceError::OpenRead, ("{}", text)),
            Domain::Write => gst::error_msg!(gst::ResourceError::Write, ("{}", text)),
            Domain::Resource => gst::error_msg!(gst::ResourceError::Failed, ("{}", text)),
            Domain::Stream => gst::error_msg!(gst::StreamError::Failed, ("{}", text)),
        }
    }

    /// Posts this as a WARNING on the bus (something the element survives).
    pub fn post_warning(&self, element: &impl IsA<gst::Element>) {
        let text = self.to_string();
        match self.domain() {
            Domain::Settings => gst::element_warning!(element, gst::LibraryError::Settings, ("{}", text)),
            Domain::Init => gst::element_warning!(element, gst::LibraryError::Init, ("{}", text)),
            Domain::NotFound => gst::element_warning!(element, gst::ResourceError::NotFound, ("{}", text)),
            Domain::OpenRead => gst::element_warning!(element, gst::ResourceError::OpenRead, ("{}", text)),
            Domain::Write => gst::element_warning!(element, gst::ResourceError::Write, ("{}", text)),
            Domain::Resource => gst::element_warning!(element, gst::ResourceError::Failed, ("{}", text)),
            Domain::Stream => gst::element_warning!(element, gst::StreamError::Failed, ("{}", text)),
        }
    }

    fn domain(&self) -> Domain {
        match self {
            ElementError::Settings(_) | ElementError::Model(ModelError::Ambiguous(_)) => Domain::Settings,
            ElementError::Model(e) => match e {
                ModelError::NotFound(_) | ModelError::Missing { .. } => Domain::NotFound,
                ModelError::Unreadable { .. } => Domain::OpenRead,
                ModelError::Unwritable { .. } => Domain::Write,
                ModelError::NoFace { .. } => Domain::Resource,
                ModelError::Ambiguous(_) => Domain::Settings,
                ModelError::Runtime(r) => match r {
                    RuntimeError::Library(_) | RuntimeError::Provider { .. } => Domain::Init,
                    RuntimeError::Model { .. } | RuntimeError::Contract { .. } => Domain::OpenRead,
                    RuntimeError::Run { .. } | RuntimeError::Unavailable { .. } => Domain::Stream,
                    RuntimeError::Address(_) => Domain::Settings,
                    // What a network source says when it cannot connect.
                    RuntimeError::Server { .. } => Domain::OpenRead,
                    RuntimeError::NotServed { .. } => Domain::NotFound,
                },
            },
        }
    }
}

/// Tracks an element's served models being unavailable: one WARNING on the bus per outage (frames pass
/// through unprocessed meanwhile), an INFO log when a run succeeds again. Not for in-process models.
#[derive(Debug, Default)]
pub struct ServerOutage {
    down: bool,
}

/// What to post after a run failed because the server is away: the warning, the first time of an
/// outage. Posted by the caller after releasing its state lock (as every warning of the elements).
#[must_use]
#[derive(Debug)]
pub struct OutageNotice {
    warning: Option<String>,
    error: String,
}

impl OutageNotice {
    pub fn post(self, element: &impl IsA<gst::Element>, cat: gst::DebugCategory) {
        if let Some(text) = self.warning {
            gst::element_warning!(element, gst::ResourceError::Read, ("{}", text));
        }
        gst::debug!(cat, obj = element, "passing a frame through: {}", self.error);
    }
}

impl ServerOutage {
    /// After a failed run: `Some` when the failure is an unavailable server the element rides out
    /// (the frame passes through unprocessed), `None` for a real error.
    pub fn on_error(&mut self, e: &RuntimeError) -> Option<OutageNotice> {
        if !e.is_unavailable() {
            return None;
        }
        let first = !std::mem::replace(&mut self.down, true);
        Some(OutageNotice {
            warning: first.then(|| format!("{e}; frames pass through unprocessed until it is back")),
            error: e.to_string(),
        })
    }

    /// After a successful run.
    pub fn on_success(&mut self, element: &impl IsA<gst::Element>, cat: gst::DebugCategory) {
        if std::mem::take(&mut self.down) {
            gst::info!(cat, obj = element, "the inference server is back; processing resumes");
        }
    }
}

/// The GStreamer error domains the elements use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Domain {
    Settings,
    Init,
    NotFound,
    OpenRead,
    Write,
    Resource,
    Stream,
}

/// A string property value, `None` when unset or empty.
pub fn optional_string(value: &glib::Value) -> Option<String> {
    value.get::<Option<String>>().expect("type checked upstream").filter(|s| !s.trim().is_empty())
}

/// Logs a property change at INFO (the new value as GStreamer serialises it).
pub fn log_property_change(cat: gst::DebugCategory, obj: &gst::Object, pspec: &glib::ParamSpec, value: &glib::Value) {
    let shown = value.serialize().map(|s| s.to_string()).unwrap_or_else(|_| format!("{value:?}"));
    gst::info!(cat, obj = obj, "{} set to {}", pspec.name(), shown);
}

/// Forgets the CPU fallbacks loaded on this thread so far: an element calls it before loading its
/// models so that `post_fallback_warnings` reports only its own.
pub fn forget_fallbacks() {
    crate::runtime::take_fallbacks();
}

/// Posts a WARNING for each model that `execution-provider=auto` put on the CPU because CUDA did not
/// register, among those loaded on this thread since `forget_fallbacks` (once per loaded session: a
/// model shared from the session cache does not warn again).
pub fn post_fallback_warnings(element: &gst::Element) {
    for (path, reason) in crate::runtime::take_fallbacks() {
        gst::element_warning!(
            element,
            gst::LibraryError::Init,
            ("{} runs on the CPU: {}", path.display(), reason),
            ["execution-provider=auto falls back to the CPU; set execution-provider=cpu to say that is intended"]
        );
    }
}

/// The packed 8-bit RGB formats every element accepts.
pub const RGB_FORMATS: [VideoFormat; 10] = [
    VideoFormat::Rgb,
    VideoFormat::Bgr,
    VideoFormat::Rgba,
    VideoFormat::Bgra,
    VideoFormat::Rgbx,
    VideoFormat::Bgrx,
    VideoFormat::Xrgb,
    VideoFormat::Xbgr,
    VideoFormat::Argb,
    VideoFormat::Abgr,
];

pub fn rgb_family_caps() -> gst::Caps {
    gst_video::VideoCapsBuilder::new().format_list(RGB_FORMATS).build()
}

/// Always and in both directions the same caps: pad templates of a pixel-preserving element.
pub fn rgb_pad_templates() -> Vec<gst::PadTemplate> {
    let caps = rgb_family_caps();
    vec![
        gst::PadTemplate::new("src", gst::PadDirection::Src, gst::PadPresence::Always, &caps).unwrap(),
        gst::PadTemplate::new("sink", gst::PadDirection::Sink, gst::PadPresence::Always, &caps).unwrap(),
    ]
}

pub fn layout_of(format: VideoFormat) -> Option<PixelLayout> {
    Some(match format {
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
        _ => return None,
    })
}

/// Why a buffer cannot be read as the frame its caps announce.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    #[error("{0} is not a packed RGB format")]
    Format(String),
    #[error("the buffer cannot be mapped")]
    Map,
    /// The buffer's layout (its caps, or the offset and stride of its GstVideoMeta) does not fit in it.
    #[error("the buffer does not hold the frame it announces: {0}")]
    Geometry(String),
}

/// Where plane 0 lies in a buffer of `info`'s format: (offset, stride), from the buffer's
/// GstVideoMeta when it has one (an upstream element may pad rows), else from the caps. Both are
/// only claims; [`PackedFrame::try_new`] checks them against the memory.
fn plane0(buffer: &gst::BufferRef, info: &gst_video::VideoInfo) -> Result<(usize, usize), FrameError> {
    let (offset, stride, meta_size) = match buffer.meta::<gst_video::VideoMeta>() {
        Some(meta) => (meta.offset()[0], meta.stride()[0], Some((meta.width(), meta.height()))),
        None => (info.offset()[0], info.stride()[0], None),
    };
    if let Some((w, h)) = meta_size.filter(|&s| s != (info.width(), info.height())) {
        return Err(FrameError::Geometry(format!(
            "its video meta says {w}x{h}, the caps {}x{}",
            info.width(),
            info.height()
        )));
    }
    let stride = usize::try_from(stride)
        .ok()
        .filter(|&s| s > 0)
        .ok_or_else(|| FrameError::Geometry(format!("a row stride of {stride} bytes")))?;
    if offset > buffer.size() {
        return Err(FrameError::Geometry(format!("plane 0 starts at byte {offset} of {}", buffer.size())));
    }
    Ok((offset, stride))
}

/// What the buffer and `info` claim about plane 0: (offset, stride, width, height, layout), still to
/// be checked against the mapped memory.
fn claimed_geometry(
    buffer: &gst::BufferRef,
    info: &gst_video::VideoInfo,
) -> Result<(usize, usize, usize, usize, PixelLayout), FrameError> {
    let (offset, stride) = plane0(buffer, info)?;
    let layout = layout_of(info.format()).ok_or_else(|| FrameError::Format(info.format().to_string()))?;
    Ok((offset, stride, info.width() as usize, info.height() as usize, layout))
}

/// A buffer mapped as a packed frame, checked: the view covers only memory the buffer has.
pub struct MappedFrame<'a, T> {
    map: gst::BufferMap<'a, T>,
    offset: usize,
    stride: usize,
    width: usize,
    height: usize,
    layout: PixelLayout,
}

impl MappedFrame<'_, gst::buffer::Readable> {
    pub fn frame(&self) -> PackedFrame<'_> {
        PackedFrame::new(&self.map[self.offset..], self.width, self.height, self.stride, self.layout)
    }
}

impl MappedFrame<'_, gst::buffer::Writable> {
    pub fn frame_mut(&mut self) -> PackedFrameMut<'_> {
        PackedFrameMut::new(&mut self.map[self.offset..], self.width, self.height, self.stride, self.layout)
    }
}

/// Maps a buffer for reading as the packed frame `info` describes; the checked constructor of
/// [`PackedFrame`] refuses a geometry the memory cannot hold before any pixel is read.
pub fn map_frame<'a>(
    buffer: &'a gst::BufferRef,
    info: &gst_video::VideoInfo,
) -> Result<MappedFrame<'a, gst::buffer::Readable>, FrameError> {
    let (offset, stride, width, height, layout) = claimed_geometry(buffer, info)?;
    let map = buffer.map_readable().map_err(|_| FrameError::Map)?;
    PackedFrame::try_new(&map[offset..], width, height, stride, layout)
        .map_err(|e| FrameError::Geometry(e.to_string()))?;
    Ok(MappedFrame { map, offset, stride, width, height, layout })
}

/// Maps a buffer for writing as the packed frame `info` describes (checked as [`map_frame`]).
pub fn map_frame_mut<'a>(
    buffer: &'a mut gst::BufferRef,
    info: &gst_video::VideoInfo,
) -> Result<MappedFrame<'a, gst::buffer::Writable>, FrameError> {
    let (offset, stride, width, height, layout) = claimed_geometry(buffer, info)?;
    let mut map = buffer.map_writable().map_err(|_| FrameError::Map)?;
    PackedFrameMut::try_new(&mut map[offset..], width, height, stride, layout)
        .map_err(|e| FrameError::Geometry(e.to_string()))?;
    Ok(MappedFrame { map, offset, stride, width, height, layout })
}

/// Posts the WARNING for frames without face meta (the element leaves them untouched); `upstream` is
/// the chain that should come before this element. Post it once per run, without holding a lock
/// that `set_property` takes (a bus sync handler may call it).
pub fn warn_no_face_meta(element: &gst::Element, upstream: &str) {
    gst::element_warning!(
        element,
        gst::CoreError::Pad,
        ("frames arrive without face meta: they pass through untouched; put {} before this element", upstream),
        ["elements that drop buffer meta (videoflip, videocrop, videobox) between them also lose it"]
    );
}

/// Posts the WARNING for a frame that cannot be read (passed on untouched); once per run, without
/// holding a lock that `set_property` takes.
pub fn warn_unreadable_frame(element: &gst::Element, error: &FrameError) {
    gst::element_warning!(
        element,
        gst::StreamError::Format,
        ("frame passed through untouched: {}", error),
        ["later frames with the same problem pass through without another warning"]
    );
}

const DEFAULT_EXECUTION_PROVIDER: ExecutionProvider = ExecutionProvider::Auto;
const DEFAULT_DEVICE_ID: i32 = 0;
/// 0: one per core.
const DEFAULT_THREADS: u32 = 0;
/// None (empty): models run in-process.
const DEFAULT_INFERENCE_SERVER: Option<&str> = None;
/// Long enough for a batch of generator crops on a busy GPU server; a hung server holds a frame this long
/// once, then frames pass through without waiting until it is back.
const DEFAULT_INFERENCE_TIMEOUT_MS: u32 = 1000;
const DEFAULT_INFERENCE_SHARED_MEMORY: bool = true;

/// The properties of every model-running element: `execution-provider`, `device-id`, `threads`
/// (in-process ONNX Runtime), and `inference-server`, `inference-timeout`, `inference-shared-memory`
/// (served models).
#[derive(Debug, Clone)]
pub struct ModelProps {
    pub provider: ExecutionProvider,
    pub device_id: i32,
    pub threads: u32,
    pub inference_server: Option<String>,
    pub inference_timeout_ms: u32,
    pub inference_shared_memory: bool,
}

impl Default for ModelProps {
    fn default() -> Self {
        Self {
            provider: DEFAULT_EXECUTION_PROVIDER,
            device_id: DEFAULT_DEVICE_ID,
            threads: DEFAULT_THREADS,
            inference_server: DEFAULT_INFERENCE_SERVER.map(Into::into),
            inference_timeout_ms: DEFAULT_INFERENCE_TIMEOUT_MS,
            inference_shared_memory: DEFAULT_INFERENCE_SHARED_MEMORY,
        }
    }
}

impl ModelProps {
    pub fn param_specs() -> Vec<glib::ParamSpec> {
        vec![
            glib::ParamSpecEnum::builder_with_default("execution-provider", DEFAULT_EXECUTION_PROVIDER)
                .nick("Execution provider")
                .blurb("Where the models run: auto (CUDA when it registers, else CPU with a warning), cuda, tensorrt or cpu. An explicit provider that cannot register is an error at start")
                .mutable_ready()
                .build(),
            glib::ParamSpecInt::builder("device-id")
                .nick("GPU device")
                .blurb("CUDA/TensorRT device index")
                .minimum(0)
                .default_value(DEFAULT_DEVICE_ID)
                .mutable_ready()
                .build(),
            glib::ParamSpecUInt::builder("threads")
                .nick("Threads")
                .blurb("Threads per model run: ONNX Runtime's intra-op threads, and those of the built-in MTCNN's own kernels (0 = one per core)")
                .maximum(256)
                .default_value(DEFAULT_THREADS)
                .mutable_ready()
                .build(),
            glib::ParamSpecString::builder("inference-server")
                .nick("Inference server")
                .blurb("Run this element's models on an NVIDIA Triton (KServe v2 gRPC) server, e.g. grpc://10.0.0.5:8001; model properties then name models on the server (the value, or the file stem of a path). Empty: in-process ONNX Runtime. The built-in MTCNN stays in-process unless its three networks are named (pnet,rnet,onet)")
                .default_value(DEFAULT_INFERENCE_SERVER)
                .mutable_ready()
                .build(),
            glib::ParamSpecUInt::builder("inference-timeout")
                .nick("Inference timeout")
                .blurb("Milliseconds a frame waits at most for the inference server; past it, or while the server is away, frames pass through unprocessed (with one warning) until it answers again")
                .minimum(1)
                .maximum(600_000)
                .default_value(DEFAULT_INFERENCE_TIMEOUT_MS)
                .mutable_ready()
                .build(),
            glib::ParamSpecBoolean::builder("inference-shared-memory")
                .nick("Inference shared memory")
                .blurb("Pass tensors through Triton's system shared memory when the inference server is on this host (a loopback address) and accepts it; else in the gRPC messages")
                .default_value(DEFAULT_INFERENCE_SHARED_MEMORY)
                .mutable_ready()
                .build(),
        ]
    }

    /// Sets one of the common properties; returns false when `pspec` is not one of them.
    pub fn set(&mut self, value: &glib::Value, pspec: &glib::ParamSpec) -> bool {
        match pspec.name() {
            "execution-provider" => self.provider = value.get().expect("type checked upstream"),
            "device-id" => self.device_id = value.get().expect("type checked upstream"),
            "threads" => self.threads = value.get().expect("type checked upstream"),
            "inference-server" => self.inference_server = optional_string(value).map(|s| s.trim().to_string()),
            "inference-timeout" => self.inference_timeout_ms = value.get().expect("type checked upstream"),
            "inference-shared-memory" => self.inference_shared_memory = value.get().expect("type checked upstream"),
            _ => return false,
        }
        true
    }

    pub fn get(&self, pspec: &glib::ParamSpec) -> Option<glib::Value> {
        Some(match pspec.name() {
            "execution-provider" => self.provider.to_value(),
            "device-id" => self.device_id.to_value(),
            "threads" => self.threads.to_value(),
            "inference-server" => self.inference_server.to_value(),
            "inference-timeout" => self.inference_timeout_ms.to_value(),
            "inference-shared-memory" => self.inference_shared_memory.to_value(),
            _ => return None,
        })
    }

    pub fn session_options(&self) -> SessionOptions {
        let trt_cache_dir =
            (self.provider == ExecutionProvider::TensorRt).then(|| crate::dirs::user_cache_dir().join("tensorrt"));
        SessionOptions {
            provider: self.provider,
            device_id: self.device_id,
            threads: self.threads,
            trt_cache_dir,
            server: self.inference_server.as_ref().map(|address| ServerOptions {
                address: address.clone(),
                timeout_ms: self.inference_timeout_ms,
                shared_memory: self.inference_shared_memory,
            }),
            ..Default::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_cause_has_its_domain() {
        let model = |e: ModelError| ElementError::Model(e);
        let path = std::path::PathBuf::from("/x");
        let runtime = |e: RuntimeError| ElementError::from(e).domain();
        assert_eq!(ElementError::Settings("a bad pair".into()).domain(), Domain::Settings);
        assert_eq!(model(ModelError::Ambiguous("which family?".into())).domain(), Domain::Settings);
        assert_eq!(model(ModelError::NotFound("m".into())).domain(), Domain::NotFound);
        assert_eq!(model(ModelError::Missing { what: "source photo", path: path.clone() }).domain(), Domain::NotFound);
        let unreadable = ModelError::Unreadable { what: "embedding file", path: path.clone(), reason: "short".into() };
        assert_eq!(model(unreadable).domain(), Domain::OpenRead);
        let unwritable = ModelError::Unwritable { what: "embedding file", path: path.clone(), reason: "ro".into() };
        assert_eq!(model(unwritable).domain(), Domain::Write);
        assert_eq!(model(ModelError::NoFace { what: "reference photo", path }).domain(), Domain::Resource);
        assert_eq!(runtime(RuntimeError::Library("no .so".into())), Domain::Init);
        let provider = RuntimeError::Provider { provider: "cuda".into(), path: "m".into(), message: "no".into() };
        assert_eq!(runtime(provider), Domain::Init);
        let contract =
            RuntimeError::Contract { path: "m".into(), role: "r".into(), expected: "e".into(), found: "f".into() };
        assert_eq!(runtime(contract), Domain::OpenRead);
        assert_eq!(runtime(RuntimeError::Run { path: "m".into(), message: "oom".into() }), Domain::Stream);
        let (address, model, message) = ("grpc://h:1".to_string(), "m".to_string(), "x".to_string());
        assert_eq!(runtime(RuntimeError::Address("bad".into())), Domain::Settings);
        let server = RuntimeError::Server { address: address.clone(), model: model.clone(), message: message.clone() };
        assert_eq!(runtime(server), Domain::OpenRead);
        let missing =
            RuntimeError::NotServed { address: address.clone(), model: model.clone(), message: message.clone() };
        assert_eq!(runtime(missing), Domain::NotFound);
        assert_eq!(runtime(RuntimeError::Unavailable { address, model, message }), Domain::Stream);
    }
}
