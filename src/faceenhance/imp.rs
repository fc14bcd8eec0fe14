// SPDX-License-Identifier: MIT OR Apache-2.0
use std::sync::{Arc, LazyLock, Mutex};

use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;
use gst_base::subclass::prelude::*;

use super::FamilyProp;
use crate::common::{
    log_property_change, optional_string, rgb_pad_templates, warn_no_face_meta, ElementError, ModelProps, ServerOutage,
};
use crate::meta::FacesMeta;
use crate::models::enhancer::{EnhanceJob, Enhancer};
use crate::models::locate_model;

static CAT: LazyLock<gst::DebugCategory> = LazyLock::new(|| {
    gst::DebugCategory::new("ghostfaceenhance", gst::DebugColorFlags::empty(), Some("GHOST face enhancer"))
});

const NO_MODEL: &str = "no enhancer model: set model= to a GHOST SR export (10_net_G), a GFPGAN or a GPEN ONNX file \
                        (a path or a known name); without enhancement, leave the element out";

const DEFAULT_FAMILY: FamilyProp = FamilyProp::Auto;
const DEFAULT_BLEND: f64 = 1.0;

#[derive(Debug, Clone)]
struct Settings {
    model: Option<String>,
    family: FamilyProp,
    blend: f64,
    props: ModelProps,
}

impl Default for Settings {
    fn default() -> Self {
        Self { model: None, family: DEFAULT_FAMILY, blend: DEFAULT_BLEND, props: ModelProps::default() }
    }
}

struct State {
    enhancer: Enhancer,
    warned_no_meta: bool,
    outage: ServerOutage,
}

#[derive(Default)]
pub struct FaceEnhance {
    settings: Mutex<Settings>,
    state: Mutex<Option<State>>,
}

#[glib::object_subclass]
impl ObjectSubclass for FaceEnhance {
    const NAME: &'static str = "GstGhostFaceEnhance";
    type Type = super::FaceEnhance;
    type ParentType = gst_base::BaseTransform;
}

impl FaceEnhance {
    fn start_inner(settings: &Settings) -> Result<Enhancer, ElementError> {
        let model = settings.model.as_deref().ok_or_else(|| ElementError::Settings(NO_MODEL.into()))?;
        let options = settings.props.session_options();
        let location = locate_model(model, &options)?;
        Ok(Enhancer::open(location.path(), settings.family.family(), &options)?)
    }
}

impl ObjectImpl for FaceEnhance {
    fn properties() -> &'static [glib::ParamSpec] {
        static PROPS: LazyLock<Vec<glib::ParamSpec>> = LazyLock::new(|| {
            let mut v = vec![
                glib::ParamSpecString::builder("model")
                    .nick("Enhancer model")
                    .blurb("Face restoration model, a path or a known name: GHOST SR (LIPSPADE 10_net_G export, 256, [0,1]), GFPGAN (512, FFHQ template) or GPEN (256/512). Required")
                    .mutable_ready()
                    .build(),
                glib::ParamSpecEnum::builder_with_default("family", DEFAULT_FAMILY)
                    .nick("Model family")
                    .blurb("The model's family; auto reads the file's gst_ghost_family metadata, then its name, then its size (a 256 model without either must be named: ghost-sr or gpen)")
                    .mutable_ready()
                    .build(),
                glib::ParamSpecDouble::builder("blend")
                    .nick("Blend")
                    .blurb("Mix of the enhanced (1) and the un-enhanced (0) crop; 0 leaves the crops untouched")
                    .minimum(0.0)
                    .maximum(1.0)
                    .default_value(DEFAULT_BLEND)
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
        let mut s = self.settings.lock().unwrap();
        if s.props.set(value, pspec) {
            return;
        }
        match pspec.name() {
            "model" => s.model = optional_string(value),
            "family" => s.family = value.get().unwrap(),
            "blend" => s.blend = value.get().unwrap(),
            other => unreachable!("unknown property {other}"),
        }
    }

    fn property(&self, _id: usize, pspec: &glib::ParamSpec) -> glib::Value {
        let s = self.settings.lock().unwrap();
        if let Some(v) = s.props.get(pspec) {
            return v;
        }
        match pspec.name() {
            "model" => s.model.to_value(),
            "family" => s.family.to_value(),
            "blend" => s.blend.to_value(),
            other => unreachable!("unknown property {other}"),
        }
    }
}

impl GstObjectImpl for FaceEnhance {}

impl ElementImpl for FaceEnhance {
    fn metadata() -> Option<&'static gst::subclass::ElementMetadata> {
        static META: LazyLock<gst::subclass::ElementMetadata> = LazyLock::new(|| {
            gst::subclass::ElementMetadata::new(
                "GHOST face enhancer",
                "Filter/Effect/Video",
                "Restores / super-resolves the swapped face crops of the face meta (GHOST SR, GFPGAN, GPEN) for ghostfaceblend; the frame is not changed",
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

impl BaseTransformImpl for FaceEnhance {
    const MODE: gst_base::subclass::BaseTransformMode = gst_base::subclass::BaseTransformMode::AlwaysInPlace;
    const PASSTHROUGH_ON_SAME_CAPS: bool = false;
    const TRANSFORM_IP_ON_PASSTHROUGH: bool = false;

    fn start(&self) -> Result<(), gst::ErrorMessage> {
        crate::common::forget_fallbacks();
        let settings = self.settings.lock().unwrap().clone();
        let enhancer = Self::start_inner(&settings).map_err(|e| e.to_error_message())?;
        gst::info!(
            CAT,
            imp = self,
            "ready: {} enhancer {} ({} → {}, {})",
            enhancer.spec.family.name(),
            enhancer.label(),
            enhancer.spec.in_size,
            enhancer.spec.out_size,
            if enhancer.batched { "batched" } else { "one face per run" }
        );
        crate::common::post_fallback_warnings(self.obj().upcast_ref());
        *self.state.lock().unwrap() = Some(State { enhancer, warned_no_meta: false, outage: ServerOutage::default() });
        Ok(())
    }

    fn stop(&self) -> Result<(), gst::ErrorMessage> {
        *self.state.lock().unwrap() = None;
        Ok(())
    }

    fn transform_ip(&self, buffer: &mut gst::BufferRef) -> Result<gst::FlowSuccess, gst::FlowError> {
        let mut guard = self.state.lock().unwrap();
        let state = guard.as_mut().ok_or(gst::FlowError::Flushing)?;
        let Some(mut frame_faces) = FacesMeta::from_buffer(buffer) else {
            let first = !std::mem::replace(&mut state.warned_no_meta, true);
            drop(guard);
            if first {
                warn_no_face_meta(self.obj().upcast_ref(), "ghostfacedetect, ghostfacetrack and ghostfaceswap");
            }
            return Ok(gst::FlowSuccess::Ok);
        };
        let blend = self.settings.lock().unwrap().blend as f32;
        // A swap already pasted into the frame (a ghostfaceblend upstream) is not enhanced again.
        let chosen: Vec<usize> = (0..frame_faces.faces.len())
            .filter(|&i| frame_faces.faces[i].swap.as_ref().is_some_and(|s| !s.applied))
            .collect();
        if chosen.is_empty() || blend <= 0.0 {
            return Ok(gst::FlowSuccess::Ok);
        }
        let results = {
            let jobs: Vec<EnhanceJob> = chosen
                .iter()
                .map(|&i| {
                    let face = &frame_faces.faces[i];
                    let swap = face.swap.as_ref().expect("filtered above");
                    EnhanceJob { crop: &swap.crop, frame_to_crop: swap.frame_to_crop, keypoints: face.keypoints }
                })
                .collect();
            match state.enhancer.enhance(&jobs, blend) {
                Ok(r) => {
                    state.outage.on_success(&*self.obj(), *CAT);
                    r
                }
                Err(e) => {
                    // A served enhancer that is away: the crops stay as the swapper made them.
                    if let Some(notice) = state.outage.on_error(&e) {
                        drop(guard);
                        notice.post(&*self.obj(), *CAT);
                        return Ok(gst::FlowSuccess::Ok);
                    }
                    gst::element_imp_error!(self, gst::StreamError::Failed, ("enhancer: {}", e));
                    return Err(gst::FlowError::Error);
                }
            }
        };
        drop(guard);
        for (&i, (crop, frame_to_crop)) in chosen.iter().zip(results) {
            // The swap's age and applied flag stay as they were: only its pixels and geometry change.
            if let Some(swap) = frame_faces.faces[i].swap.as_mut() {
                swap.crop = Arc::new(crop);
                swap.frame_to_crop = frame_to_crop;
            }
        }
        gst::trace!(CAT, imp = self, "enhanced {} faces", chosen.len());
        FacesMeta::set(buffer, frame_faces);
        Ok(gst::FlowSuccess::Ok)
    }
}
