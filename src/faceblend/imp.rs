// SPDX-License-Identifier: MIT OR Apache-2.0
use std::sync::{LazyLock, Mutex};

use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;
use gst_base::prelude::*;
use gst_base::subclass::prelude::*;

use crate::blend::{BlendConfig, Blender, ColorCorrect, MaskMode, MissingMaskModel, Skip};
use crate::common::{
    log_property_change, map_frame_mut, optional_string, rgb_pad_templates, warn_no_face_meta, warn_unreadable_frame,
    ElementError, ModelProps, ServerOutage,
};
use crate::meta::FacesMeta;
use crate::models::landmark106::Landmarker;
use crate::models::locate_model;
use crate::models::parser::FaceParser;
use crate::runtime::SessionOptions;

static CAT: LazyLock<gst::DebugCategory> = LazyLock::new(|| {
    gst::DebugCategory::new("ghostfaceblend", gst::DebugColorFlags::empty(), Some("GHOST face blender"))
});

const DEFAULT_MASK: MaskMode = MaskMode::Auto;
/// -1: GHOST's table (landmark mask) or 5 (template, box).
const DEFAULT_ERODE: i32 = -1;
const DEFAULT_BLUR: f64 = -1.0;
const DEFAULT_MASK_SCALE: f64 = 1.0;
const DEFAULT_COLOR_CORRECT: ColorCorrect = ColorCorrect::None;
const DEFAULT_OPACITY: f64 = 1.0;
const DEFAULT_DEBUG: bool = false;

#[derive(Debug, Clone)]
struct Settings {
    mask: MaskMode,
    landmarker: Option<String>,
    parser: Option<String>,
    erode: i32,
    blur: f64,
    mask_scale: f64,
    color_correct: ColorCorrect,
    opacity: f64,
    debug: bool,
    props: ModelProps,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            mask: DEFAULT_MASK,
            landmarker: None,
            parser: None,
            erode: DEFAULT_ERODE,
            blur: DEFAULT_BLUR,
            mask_scale: DEFAULT_MASK_SCALE,
            color_correct: DEFAULT_COLOR_CORRECT,
            opacity: DEFAULT_OPACITY,
            debug: DEFAULT_DEBUG,
            props: ModelProps::default(),
        }
    }
}

impl Settings {
    fn config(&self, has_landmarker: bool, has_parser: bool) -> Result<BlendConfig, MissingMaskModel> {
        let (shape, use_parser, debug_mode) = BlendConfig::resolve(self.mask, has_landmarker, has_parser)?;
        Ok(BlendConfig {
            shape,
            use_parser,
            erode: self.erode,
            blur: self.blur,
            mask_scale: self.mask_scale,
            color: self.color_correct,
            opacity: self.opacity as f32,
            debug: self.debug || debug_mode,
        })
    }
}

struct State {
    blender: Blender,
    info: Option<gst_video::VideoInfo>,
    outage: ServerOutage,
    /// Frames without face meta; warned once per run.
    warned_no_meta: bool,
    /// A frame could not be mapped as its caps say; warned once per stream.
    warned_frame: bool,
}

#[derive(Default)]
pub struct FaceBlend {
    settings: Mutex<Settings>,
    state: Mutex<Option<State>>,
}

#[glib::object_subclass]
impl ObjectSubclass for FaceBlend {
    const NAME: &'static str = "GstGhostFaceBlend";
    type Type = super::FaceBlend;
    type ParentType = gst_base::BaseTransform;
}

impl ObjectImpl for FaceBlend {
    fn properties() -> &'static [glib::ParamSpec] {
        static PROPS: LazyLock<Vec<glib::ParamSpec>> = LazyLock::new(|| {
            let mut v = vec![
                glib::ParamSpecEnum::builder_with_default("mask", DEFAULT_MASK)
                    .nick("Mask")
                    .blurb("Mask shape: auto (landmarks when a landmarker is set, else template; cut by the parser when one is set), template, landmarks (GHOST's adaptive mask), box (whole crop, soft border), parser (auto mask cut to the face classes), debug (draw instead of blending)")
                    .mutable_playing()
                    .build(),
                glib::ParamSpecString::builder("landmarker")
                    .nick("Landmarker model")
                    .blurb("2d106det model (known name or path) for GHOST's landmark-adaptive mask; unset = template mask")
                    .mutable_ready()
                    .build(),
                glib::ParamSpecString::builder("parser")
                    .nick("Face parser model")
                    .blurb("BiSeNet face-parsing model (known name or path); keeps only skin, brows, eyes, nose, mouth and lips in the mask so that hands, hair and glasses in front of the face stay visible")
                    .mutable_ready()
                    .build(),
                glib::ParamSpecInt::builder("erode")
                    .nick("Erode")
                    .blurb("Erosion kernel in pixels of GHOST's 224 crop (-1 = automatic: GHOST's table, 5 for template/box)")
                    .minimum(-1)
                    .maximum(100)
                    .default_value(DEFAULT_ERODE)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecDouble::builder("blur")
                    .nick("Blur")
                    .blurb("Gaussian sigma of the mask edge in pixels of GHOST's 224 crop, both axes; also sets the faded border (2 sigma). -1 = automatic (GHOST's table, 5 for template/box), 0 = hard edge")
                    .minimum(-1.0)
                    .maximum(100.0)
                    .default_value(DEFAULT_BLUR)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecDouble::builder("mask-scale")
                    .nick("Mask scale")
                    .blurb("Enlarges (>1) or shrinks (<1) the mask shape about its centre before erode and blur")
                    .minimum(0.1)
                    .maximum(3.0)
                    .default_value(DEFAULT_MASK_SCALE)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecEnum::builder_with_default("color-correct", DEFAULT_COLOR_CORRECT)
                    .nick("Colour correction")
                    .blurb("none (as GHOST) or reinhard: match the swapped face's Lab mean/std to the target face inside the mask")
                    .mutable_playing()
                    .build(),
                glib::ParamSpecDouble::builder("opacity")
                    .nick("Opacity")
                    .blurb("Strength of the paste-back (0 = original frame, 1 = full swap)")
                    .minimum(0.0)
                    .maximum(1.0)
                    .default_value(DEFAULT_OPACITY)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecBoolean::builder("debug")
                    .nick("Debug overlay")
                    .blurb("Draw boxes (green selected, yellow not selected, grey predicted), keypoints, track ids and the mask outline instead of blending")
                    .default_value(DEFAULT_DEBUG)
                    .mutable_playing()
                    .build(),
            ];
            v.extend(ModelProps::param_specs());
            v
        });
        PROPS.as_ref()
    }

    fn set_property(&self, _id: usize, value: &glib::Value, pspec: &glib::ParamSpec) {
        log_property_change(*CAT, self.obj().upcast_ref(), pspec, value);
        if pspec.name() == "mask" {
            // While running, a mask whose model was not loaded is refused (the stream goes on).
            let loaded = self
                .state
                .lock()
                .unwrap()
                .as_ref()
                .map(|s| (s.blender.landmarker.is_some(), s.blender.parser.is_some()));
            if let Some((has_landmarker, has_parser)) = loaded {
                let mask: MaskMode = value.get().expect("type checked upstream");
                if let Err(e) = BlendConfig::resolve(mask, has_landmarker, has_parser) {
                    let kept = self.settings.lock().unwrap().mask;
                    gst::element_imp_warning!(
                        self,
                        gst::LibraryError::Settings,
                        ("{}, which this run did not load; mask stays {:?}", e, kept),
                        ["set the model before the pipeline starts"]
                    );
                    return;
                }
            }
        }
        let mut s = self.settings.lock().unwrap();
        if s.props.set(value, pspec) {
            return;
        }
        match pspec.name() {
            "mask" => s.mask = value.get().unwrap(),
            "landmarker" => s.landmarker = optional_string(value),
            "parser" => s.parser = optional_string(value),
            "erode" => s.erode = value.get().unwrap(),
            "blur" => s.blur = value.get().unwrap(),
            "mask-scale" => s.mask_scale = value.get().unwrap(),
            "color-correct" => s.color_correct = value.get().unwrap(),
            "opacity" => s.opacity = value.get().unwrap(),
            "debug" => s.debug = value.get().unwrap(),
            other => unreachable!("unknown property {other}"),
        }
    }

    fn property(&self, _id: usize, pspec: &glib::ParamSpec) -> glib::Value {
        let s = self.settings.lock().unwrap();
        if let Some(v) = s.props.get(pspec) {
            return v;
        }
        match pspec.name() {
            "mask" => s.mask.to_value(),
            "landmarker" => s.landmarker.to_value(),
            "parser" => s.parser.to_value(),
            "erode" => s.erode.to_value(),
            "blur" => s.blur.to_value(),
            "mask-scale" => s.mask_scale.to_value(),
            "color-correct" => s.color_correct.to_value(),
            "opacity" => s.opacity.to_value(),
            "debug" => s.debug.to_value(),
            other => unreachable!("unknown property {other}"),
        }
    }
}

impl GstObjectImpl for FaceBlend {}

impl ElementImpl for FaceBlend {
    fn metadata() -> Option<&'static gst::subclass::ElementMetadata> {
        static META: LazyLock<gst::subclass::ElementMetadata> = LazyLock::new(|| {
            gst::subclass::ElementMetadata::new(
                "GHOST face blender",
                "Filter/Effect/Video",
                "Pastes swapped face crops back into the frame through a soft mask (GHOST's landmark-adaptive mask, a template or a box, optionally face parsing), with optional colour matching",
                "gst-ghost developers",
            )
        });
        Some(&META)
    }

    fn pad_templates() -> &'static [gst::PadTemplate] {
        static T: LazyLock<Vec<gst::PadTemplate>> = LazyLock::new(rgb_pad_templates);
        T.as_ref()
    }
}

/// Opens an optional model named by a property.
fn open_model<T>(
    value: &Option<String>,
    options: &SessionOptions,
    open: impl FnOnce(&std::path::Path) -> Result<T, crate::runtime::RuntimeError>,
) -> Result<Option<T>, ElementError> {
    let Some(value) = value else { return Ok(None) };
    Ok(Some(open(locate_model(value, options)?.path())?))
}

impl BaseTransformImpl for FaceBlend {
    const MODE: gst_base::subclass::BaseTransformMode = gst_base::subclass::BaseTransformMode::AlwaysInPlace;
    const PASSTHROUGH_ON_SAME_CAPS: bool = false;
    const TRANSFORM_IP_ON_PASSTHROUGH: bool = false;

    fn start(&self) -> Result<(), gst::ErrorMessage> {
        crate::common::forget_fallbacks();
        let settings = self.settings.lock().unwrap().clone();
        let opts = settings.props.session_options();
        let landmarker = open_model(&settings.landmarker, &opts, |p| Landmarker::open(p, &opts))
            .map_err(|e| e.to_error_message())?;
        let parser =
            open_model(&settings.parser, &opts, |p| FaceParser::open(p, &opts)).map_err(|e| e.to_error_message())?;
        settings
            .config(landmarker.is_some(), parser.is_some())
            .map_err(|e| ElementError::Settings(e.to_string()).to_error_message())?;
        crate::common::post_fallback_warnings(self.obj().upcast_ref());
        *self.state.lock().unwrap() = Some(State {
            blender: Blender::new(landmarker, parser),
            info: None,
            outage: ServerOutage::default(),
            warned_no_meta: false,
            warned_frame: false,
        });
        Ok(())
    }

    fn stop(&self) -> Result<(), gst::ErrorMessage> {
        *self.state.lock().unwrap() = None;
        Ok(())
    }

    fn set_caps(&self, incaps: &gst::Caps, _outcaps: &gst::Caps) -> Result<(), gst::LoggableError> {
        let info =
            gst_video::VideoInfo::from_caps(incaps).map_err(|_| gst::loggable_error!(CAT, "invalid caps {incaps}"))?;
        if let Some(state) = self.state.lock().unwrap().as_mut() {
            state.info = Some(info);
        }
        Ok(())
    }

    fn sink_event(&self, event: gst::Event) -> bool {
        if let gst::EventView::FlushStop(_) = event.view() {
            if let Some(state) = self.state.lock().unwrap().as_mut() {
                state.blender.reset();
            }
        }
        self.parent_sink_event(event)
    }

    /// Frames with nothing to do pass through untouched: no writable copy, no mapping.
    fn before_transform(&self, inbuf: &gst::BufferRef) {
        let (debug, opacity) = {
            let s = self.settings.lock().unwrap();
            (s.debug || s.mask == MaskMode::Debug, s.opacity)
        };
        if inbuf.meta::<FacesMeta>().is_none() {
            let mut guard = self.state.lock().unwrap();
            if let Some(state) = guard.as_mut().filter(|s| !s.warned_no_meta) {
                state.warned_no_meta = true;
                drop(guard);
                warn_no_face_meta(self.obj().upcast_ref(), "ghostfacedetect, ghostfacetrack and ghostfaceswap");
            }
        }
        let work = inbuf.meta::<FacesMeta>().is_some_and(|m| {
            let faces = &m.faces().faces;
            (debug && !faces.is_empty())
                || (opacity > 0.0 && faces.iter().any(|f| f.swap.as_ref().is_some_and(|s| !s.applied)))
        });
        self.obj().set_passthrough(!work);
    }

    fn transform_ip(&self, buffer: &mut gst::BufferRef) -> Result<gst::FlowSuccess, gst::FlowError> {
        let Some(mut faces) = FacesMeta::from_buffer(buffer) else { return Ok(gst::FlowSuccess::Ok) };
        let settings = self.settings.lock().unwrap().clone();
        let mut state_guard = self.state.lock().unwrap();
        let state = state_guard.as_mut().ok_or(gst::FlowError::Flushing)?;
        let info = state.info.clone().ok_or(gst::FlowError::NotNegotiated)?;
        // set_property refuses masks whose model is not loaded, so this holds while running.
        let cfg = settings.config(state.blender.landmarker.is_some(), state.blender.parser.is_some()).map_err(|e| {
            gst::element_imp_error!(self, gst::LibraryError::Settings, ("{}", e));
            gst::FlowError::Error
        })?;
        let report = {
            let mut mapped = match map_frame_mut(buffer, &info) {
                Ok(mapped) => mapped,
                Err(e) => {
                    let first = !std::mem::replace(&mut state.warned_frame, true);
                    drop(state_guard);
                    if first {
                        warn_unreadable_frame(self.obj().upcast_ref(), &e);
                    }
                    return Ok(gst::FlowSuccess::Ok);
                }
            };
            match state.blender.process(&mut mapped.frame_mut(), &faces.faces, &cfg) {
                Ok(report) => {
                    state.outage.on_success(&*self.obj(), *CAT);
                    report
                }
                Err(e) => {
                    // A served landmarker or parser that is away. Faces composited before the failing one
                    // stay; the rest of the frame is as it came.
                    if let Some(notice) = state.outage.on_error(&e) {
                        drop(mapped);
                        drop(state_guard);
                        notice.post(&*self.obj(), *CAT);
                        return Ok(gst::FlowSuccess::Ok);
                    }
                    gst::element_imp_error!(self, gst::StreamError::Failed, ("blending failed: {}", e));
                    return Err(gst::FlowError::Error);
                }
            }
        };
        for (i, why) in &report.skipped {
            if *why != Skip::NoSwap {
                gst::debug!(CAT, imp = self, "face {i} skipped: {why:?}");
            }
        }
        gst::trace!(CAT, imp = self, "{} faces blended", report.blended);
        if !cfg.debug && report.blended > 0 {
            // A second ghostfaceblend downstream must not paste the same swap again.
            for &i in &report.pasted {
                if let Some(swap) = faces.faces[i].swap.as_mut() {
                    swap.applied = true;
                }
            }
            FacesMeta::set(buffer, faces);
        }
        Ok(gst::FlowSuccess::Ok)
    }
}
