// SPDX-License-Identifier: MIT OR Apache-2.0
//! Glue shared by the element modules: the common model properties, caps for the packed RGB
//! family, mapping a video frame to a [`PackedFrame`], and the per-frame faces bus message.

use gst::glib;
use gst::prelude::*;
use gst_video::prelude::*;
use gst_video::VideoFormat;

use crate::models::ModelError;
use crate::runtime::{ExecutionProvider, RuntimeError, SessionOptions};
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
                    RuntimeError::Run { .. } => Domain::Stream,
                },
            },
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

/// Views a mapped video frame as a packed frame (plane 0 with its real stride).
pub fn packed_frame<'a>(frame: &'a gst_video::VideoFrameRef<&gst::BufferRef>) -> Option<PackedFrame<'a>> {
    let layout = layout_of(frame.format())?;
    Some(PackedFrame {
        data: frame.plane_data(0).ok()?,
        width: frame.width() as usize,
        height: frame.height() as usize,
        stride: frame.plane_stride()[0] as usize,
        layout,
    })
}

pub fn packed_frame_mut<'a>(
    frame: &'a mut gst_video::VideoFrameRef<&mut gst::BufferRef>,
) -> Option<PackedFrameMut<'a>> {
    let layout = layout_of(frame.format())?;
    let (width, height, stride) = (frame.width() as usize, frame.height() as usize, frame.plane_stride()[0] as usize);
    Some(PackedFrameMut { data: frame.plane_data_mut(0).ok()?, width, height, stride, layout })
}

const DEFAULT_EXECUTION_PROVIDER: ExecutionProvider = ExecutionProvider::Auto;
const DEFAULT_DEVICE_ID: i32 = 0;
/// 0: one per core.
const DEFAULT_THREADS: u32 = 0;

/// The `execution-provider`, `device-id` and `threads` properties of every model-running element.
#[derive(Debug, Clone)]
pub struct ModelProps {
    pub provider: ExecutionProvider,
    pub device_id: i32,
    pub threads: u32,
}

impl Default for ModelProps {
    fn default() -> Self {
        Self { provider: DEFAULT_EXECUTION_PROVIDER, device_id: DEFAULT_DEVICE_ID, threads: DEFAULT_THREADS }
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
        ]
    }

    /// Sets one of the common properties; returns false when `pspec` is not one of them.
    pub fn set(&mut self, value: &glib::Value, pspec: &glib::ParamSpec) -> bool {
        match pspec.name() {
            "execution-provider" => self.provider = value.get().expect("type checked upstream"),
            "device-id" => self.device_id = value.get().expect("type checked upstream"),
            "threads" => self.threads = value.get().expect("type checked upstream"),
            _ => return false,
        }
        true
    }

    pub fn get(&self, pspec: &glib::ParamSpec) -> Option<glib::Value> {
        Some(match pspec.name() {
            "execution-provider" => self.provider.to_value(),
            "device-id" => self.device_id.to_value(),
            "threads" => self.threads.to_value(),
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
    }
}
