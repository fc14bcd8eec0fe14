// SPDX-License-Identifier: MIT OR Apache-2.0
use std::sync::{LazyLock, Mutex};

use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;
use gst_base::prelude::*;
use gst_base::subclass::prelude::*;

use crate::common::{
    log_property_change, map_frame, optional_string, rgb_pad_templates, warn_unreadable_frame, ElementError,
    ModelProps, ServerOutage,
};
use crate::message::FacesMessage;
use crate::meta::{sync_roi_metas, Face, FacesMeta, FrameFaces};
use crate::models::detector::{Detection, Detector, DetectorParams};
use crate::models::locate_model;

static CAT: LazyLock<gst::DebugCategory> = LazyLock::new(|| {
    gst::DebugCategory::new("ghostfacedetect", gst::DebugColorFlags::empty(), Some("GHOST face detector"))
});

const DEFAULT_MODEL: &str = "mtcnn";
const DEFAULT_SCORE_THRESHOLD: f32 = DetectorParams::DEFAULT.score_threshold;
const DEFAULT_NMS_THRESHOLD: f32 = DetectorParams::DEFAULT.nms_threshold;
const DEFAULT_INPUT_SIZE: u32 = DetectorParams::DEFAULT.input_size;
const DEFAULT_MIN_FACE_SIZE: u32 = DetectorParams::DEFAULT.min_face_size;
/// 0: every face.
const DEFAULT_MAX_FACES: u32 = 0;
const DEFAULT_INTERVAL: u32 = 1;
const DEFAULT_POST_MESSAGES: bool = false;
const DEFAULT_ROI_META: bool = true;

#[derive(Debug, Clone)]
struct Settings {
    model: String,
    props: ModelProps,
    params: DetectorParams,
    max_faces: u32,
    interval: u32,
    post_messages: bool,
    roi_meta: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            model: DEFAULT_MODEL.into(),
            props: ModelProps::default(),
            params: DetectorParams {
                score_threshold: DEFAULT_SCORE_THRESHOLD,
                nms_threshold: DEFAULT_NMS_THRESHOLD,
                input_size: DEFAULT_INPUT_SIZE,
                min_face_size: DEFAULT_MIN_FACE_SIZE,
            },
            max_faces: DEFAULT_MAX_FACES,
            interval: DEFAULT_INTERVAL,
            post_messages: DEFAULT_POST_MESSAGES,
            roi_meta: DEFAULT_ROI_META,
        }
    }
}

struct State {
    detector: Detector,
    info: Option<gst_video::VideoInfo>,
    frames_seen: u64,
    outage: ServerOutage,
    /// A frame could not be read (its geometry lies); warned once per stream.
    warned_frame: bool,
}

#[derive(Default)]
pub struct FaceDetect {
    settings: Mutex<Settings>,
    state: Mutex<Option<State>>,
    /// How many times the network ran since start (read-only property `detections-run`).
    runs: Mutex<u64>,
}

#[glib::object_subclass]
impl ObjectSubclass for FaceDetect {
    const NAME: &'static str = "GstGhostFaceDetect";
    type Type = super::FaceDetect;
    type ParentType = gst_base::BaseTransform;
}

impl ObjectImpl for FaceDetect {
    fn properties() -> &'static [glib::ParamSpec] {
        static PROPS: LazyLock<Vec<glib::ParamSpec>> = LazyLock::new(|| {
            let mut v = vec![
                glib::ParamSpecString::builder("model")
                    .nick("Detector model")
                    .blurb("Known model name or path: 'mtcnn' (built-in, default), or an SCRFD .onnx file (det_10g, scrfd_10g_bnkps, scrfd_2.5g), recognised by its outputs")
                    .default_value(Some(DEFAULT_MODEL))
                    .mutable_ready()
                    .build(),
                glib::ParamSpecFloat::builder("score-threshold")
                    .nick("Score threshold")
                    .blurb("Minimum detection score of a reported face")
                    .minimum(0.0)
                    .maximum(1.0)
                    .default_value(DEFAULT_SCORE_THRESHOLD)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecFloat::builder("nms-threshold")
                    .nick("NMS threshold")
                    .blurb("IoU above which overlapping SCRFD detections are merged")
                    .minimum(0.0)
                    .maximum(1.0)
                    .default_value(DEFAULT_NMS_THRESHOLD)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecUInt::builder("input-size")
                    .nick("Network input size")
                    .blurb("SCRFD network input size in pixels (square, a multiple of 32); ignored by MTCNN and by models with a fixed size")
                    .minimum(32)
                    .maximum(4096)
                    .default_value(DEFAULT_INPUT_SIZE)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecUInt::builder("min-face-size")
                    .nick("Minimum face size")
                    .blurb("Smallest face in pixels that MTCNN looks for (smaller = slower)")
                    .minimum(12)
                    .maximum(10000)
                    .default_value(DEFAULT_MIN_FACE_SIZE)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecUInt::builder("max-faces")
                    .nick("Maximum faces")
                    .blurb("Keep only the N largest faces by box area (0 = all)")
                    .default_value(DEFAULT_MAX_FACES)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecUInt::builder("interval")
                    .nick("Detection interval")
                    .blurb("Run the detector on every N-th frame only; the meta of the other frames says detection did not run (ghostfacetrack predicts them)")
                    .minimum(1)
                    .maximum(1000)
                    .default_value(DEFAULT_INTERVAL)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecBoolean::builder("post-messages")
                    .nick("Post messages")
                    .blurb("Post a 'ghost-faces' element message per frame with the faces found")
                    .default_value(DEFAULT_POST_MESSAGES)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecBoolean::builder("roi-meta")
                    .nick("ROI meta")
                    .blurb("Also attach one GstVideoRegionOfInterestMeta (type 'face') per face")
                    .default_value(DEFAULT_ROI_META)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecUInt64::builder("detections-run")
                    .nick("Detections run")
                    .blurb("How many frames the detector network processed since start")
                    .read_only()
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
            "model" => s.model = optional_string(value).unwrap_or_else(|| DEFAULT_MODEL.into()),
            "score-threshold" => s.params.score_threshold = value.get().unwrap(),
            "nms-threshold" => s.params.nms_threshold = value.get().unwrap(),
            "input-size" => {
                let v: u32 = value.get().unwrap();
                let rounded = v.div_ceil(32) * 32;
                if rounded != v {
                    gst::warning!(CAT, imp = self, "input-size {v} is not a multiple of 32, using {rounded}");
                }
                s.params.input_size = rounded;
            }
            "min-face-size" => s.params.min_face_size = value.get().unwrap(),
            "max-faces" => s.max_faces = value.get().unwrap(),
            "interval" => s.interval = value.get().unwrap(),
            "post-messages" => s.post_messages = value.get().unwrap(),
            "roi-meta" => s.roi_meta = value.get().unwrap(),
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
            "score-threshold" => s.params.score_threshold.to_value(),
            "nms-threshold" => s.params.nms_threshold.to_value(),
            "input-size" => s.params.input_size.to_value(),
            "min-face-size" => s.params.min_face_size.to_value(),
            "max-faces" => s.max_faces.to_value(),
            "interval" => s.interval.to_value(),
            "post-messages" => s.post_messages.to_value(),
            "roi-meta" => s.roi_meta.to_value(),
            "detections-run" => (*self.runs.lock().unwrap()).to_value(),
            other => unreachable!("unknown property {other}"),
        }
    }
}

impl GstObjectImpl for FaceDetect {}

impl ElementImpl for FaceDetect {
    fn metadata() -> Option<&'static gst::subclass::ElementMetadata> {
        static META: LazyLock<gst::subclass::ElementMetadata> = LazyLock::new(|| {
            gst::subclass::ElementMetadata::new(
                "GHOST face detector",
                "Filter/Analyzer/Video",
                "Finds faces (MTCNN built in, or SCRFD) and attaches boxes, five keypoints and scores as face meta and ROI meta",
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

impl BaseTransformImpl for FaceDetect {
    const MODE: gst_base::subclass::BaseTransformMode = gst_base::subclass::BaseTransformMode::AlwaysInPlace;
    const PASSTHROUGH_ON_SAME_CAPS: bool = false;
    const TRANSFORM_IP_ON_PASSTHROUGH: bool = false;

    fn start(&self) -> Result<(), gst::ErrorMessage> {
        crate::common::forget_fallbacks();
        let settings = self.settings.lock().unwrap().clone();
        let options = settings.props.session_options();
        let location = locate_model(&settings.model, &options).map_err(|e| ElementError::from(e).to_error_message())?;
        let detector = Detector::open(&location, &options).map_err(|e| ElementError::from(e).to_error_message())?;
        gst::info!(
            CAT,
            imp = self,
            "detector {} from {}{}",
            detector.family(),
            location.path().display(),
            detector.backend_note().map(|n| format!("; {n}")).unwrap_or_default()
        );
        crate::common::post_fallback_warnings(self.obj().upcast_ref());
        *self.runs.lock().unwrap() = 0;
        *self.state.lock().unwrap() =
            Some(State { detector, info: None, frames_seen: 0, outage: ServerOutage::default(), warned_frame: false });
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
            // After a seek the interval counts from the first new frame.
            if let Some(state) = self.state.lock().unwrap().as_mut() {
                state.frames_seen = 0;
            }
        }
        self.parent_sink_event(event)
    }

    fn transform_ip(&self, buffer: &mut gst::BufferRef) -> Result<gst::FlowSuccess, gst::FlowError> {
        let settings = self.settings.lock().unwrap().clone();
        let mut state_guard = self.state.lock().unwrap();
        let state = state_guard.as_mut().ok_or(gst::FlowError::Flushing)?;
        let info = state.info.clone().ok_or(gst::FlowError::NotNegotiated)?;

        let mut run_now = state.frames_seen % settings.interval.max(1) as u64 == 0;
        state.frames_seen += 1;
        let mut faces = Vec::new();
        let (mut unreadable, mut outage) = (None, None);
        if run_now {
            match map_frame(buffer, &info) {
                Ok(mapped) => match state.detector.detect(&mapped.frame(), &settings.params) {
                    Ok(detections) => {
                        state.outage.on_success(&*self.obj(), *CAT);
                        *self.runs.lock().unwrap() += 1;
                        faces = select_faces(detections, settings.max_faces);
                    }
                    Err(e) => match state.outage.on_error(&e) {
                        // A served detector that is away: the frame goes on as one the detector did not
                        // look at.
                        Some(notice) => {
                            outage = Some(notice);
                            run_now = false;
                        }
                        None => {
                            gst::element_imp_error!(self, gst::StreamError::Failed, ("face detection failed: {}", e));
                            return Err(gst::FlowError::Error);
                        }
                    },
                },
                Err(e) => {
                    // Not looked at: the tracker predicts this frame as one the detector skipped.
                    if !std::mem::replace(&mut state.warned_frame, true) {
                        unreadable = Some(e);
                    }
                    run_now = false;
                }
            }
        }
        drop(state_guard);
        if let Some(e) = unreadable {
            warn_unreadable_frame(self.obj().upcast_ref(), &e);
        }
        if let Some(notice) = outage {
            notice.post(&*self.obj(), *CAT);
        }

        gst::trace!(CAT, imp = self, "{} faces (detection ran: {run_now})", faces.len());
        if settings.roi_meta {
            sync_roi_metas(buffer, &faces);
        }
        if settings.post_messages {
            FacesMessage::new(&self.obj().segment(), buffer, &faces).post(self.obj().upcast_ref());
        }
        FacesMeta::set(buffer, FrameFaces { faces, detection_ran: run_now });
        Ok(gst::FlowSuccess::Ok)
    }
}

/// Keeps the `max_faces` largest faces (0 = all), reported in descending score order.
fn select_faces(mut detections: Vec<Detection>, max_faces: u32) -> Vec<Face> {
    if max_faces > 0 && detections.len() > max_faces as usize {
        let area = |d: &Detection| (d.bbox[2] - d.bbox[0]) * (d.bbox[3] - d.bbox[1]);
        detections.sort_by(|a, b| area(b).total_cmp(&area(a)));
        detections.truncate(max_faces as usize);
    }
    detections.sort_by(|a, b| b.score.total_cmp(&a.score));
    detections
        .into_iter()
        .map(|d| Face { score: d.score, bbox: d.bbox, keypoints: d.keypoints, ..Default::default() })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn det(size: f32, score: f32) -> Detection {
        Detection { bbox: [0.0, 0.0, size, size], keypoints: [[0.0; 2]; 5], score }
    }

    #[test]
    fn max_faces_keeps_the_largest_and_reports_by_score() {
        let faces = select_faces(vec![det(10.0, 0.99), det(50.0, 0.7), det(30.0, 0.9)], 2);
        assert_eq!(faces.len(), 2);
        assert_eq!(faces[0].bbox[2], 30.0);
        assert_eq!(faces[1].bbox[2], 50.0);
        assert_eq!(select_faces(vec![det(10.0, 0.5), det(20.0, 0.6)], 0).len(), 2);
    }
}
