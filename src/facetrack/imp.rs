// SPDX-License-Identifier: MIT OR Apache-2.0
//! A plain element with a chain function (not a BaseTransform): with `lookahead` > 0 it holds
//! buffers back, and serialized events must stay in order with them.

use std::collections::VecDeque;
use std::sync::{LazyLock, Mutex};

use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;

use super::TrackMethod;
use crate::common::warn_no_face_meta;
use crate::message::FacesMessage;
use crate::meta::{sync_roi_metas, Face, FacesMeta, FrameFaces};
use crate::track::{follow_points, Detection, Method, OneEuroParams, TrackedFace, Tracker, TrackerParams};

static CAT: LazyLock<gst::DebugCategory> = LazyLock::new(|| {
    gst::DebugCategory::new("ghostfacetrack", gst::DebugColorFlags::empty(), Some("GHOST face tracker"))
});

/// Assumed frame duration for the latency when the caps give no frame rate and no buffer had a
/// duration yet (30 fps).
const FALLBACK_FRAME_DURATION: gst::ClockTime = gst::ClockTime::from_nseconds(33_333_333);

/// A DISCONT buffer this many frame durations after the previous one starts new tracks (a cut);
/// a shorter gap is frames a live source lost, which the tracks bridge.
const RESET_GAP_FRAMES: u64 = 30;

const DEFAULT_METHOD: TrackMethod = TrackMethod::Kalman;
const DEFAULT_LOOKAHEAD: u32 = 0;
const DEFAULT_IOU_THRESHOLD: f32 = 0.3;
const DEFAULT_MIN_HITS: u32 = 1;
const DEFAULT_MAX_AGE: u32 = 15;
const DEFAULT_PROCESS_NOISE: f64 = 1.0;
const DEFAULT_MEASUREMENT_NOISE: f64 = 1.0;
const DEFAULT_MIN_CUTOFF: f64 = OneEuroParams::DEFAULT.min_cutoff;
const DEFAULT_BETA: f64 = OneEuroParams::DEFAULT.beta;
const DEFAULT_D_CUTOFF: f64 = OneEuroParams::DEFAULT.d_cutoff;
const DEFAULT_POST_MESSAGES: bool = false;

#[derive(Debug, Clone)]
struct Settings {
    method: TrackMethod,
    lookahead: u32,
    iou_threshold: f32,
    min_hits: u32,
    max_age: u32,
    process_noise: f64,
    measurement_noise: f64,
    min_cutoff: f64,
    beta: f64,
    d_cutoff: f64,
    post_messages: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            method: DEFAULT_METHOD,
            lookahead: DEFAULT_LOOKAHEAD,
            iou_threshold: DEFAULT_IOU_THRESHOLD,
            min_hits: DEFAULT_MIN_HITS,
            max_age: DEFAULT_MAX_AGE,
            process_noise: DEFAULT_PROCESS_NOISE,
            measurement_noise: DEFAULT_MEASUREMENT_NOISE,
            min_cutoff: DEFAULT_MIN_CUTOFF,
            beta: DEFAULT_BETA,
            d_cutoff: DEFAULT_D_CUTOFF,
            post_messages: DEFAULT_POST_MESSAGES,
        }
    }
}

impl Settings {
    fn params(&self) -> TrackerParams {
        TrackerParams {
            method: match self.method {
                TrackMethod::Kalman => Method::Kalman,
                TrackMethod::Ghost => Method::Ghost,
                TrackMethod::OneEuro => Method::OneEuro,
            },
            lookahead: self.lookahead,
            iou_threshold: self.iou_threshold,
            min_hits: self.min_hits,
            max_age: self.max_age,
            process_noise: self.process_noise,
            measurement_noise: self.measurement_noise,
            one_euro: OneEuroParams { min_cutoff: self.min_cutoff, beta: self.beta, d_cutoff: self.d_cutoff },
            ..TrackerParams::default()
        }
    }
}

enum Item {
    /// A held buffer; `tracked` is false for a buffer without face meta (passed on untouched).
    Buffer { buffer: gst::Buffer, tracked: bool },
    /// A serialized event that arrived while buffers were held.
    Event(gst::Event),
}

enum Out {
    Buffer(gst::Buffer, Option<Vec<Face>>),
    Event(gst::Event),
}

struct State {
    tracker: Tracker<Face>,
    held: VecDeque<Item>,
    segment: gst::Segment,
    framerate: Option<gst::Fraction>,
    last_duration: Option<gst::ClockTime>,
    last_pts: Option<gst::ClockTime>,
    warned_no_meta: bool,
    /// The stream's first frame has left (at once: see `sink_chain`).
    released_first: bool,
}

impl State {
    fn new(params: TrackerParams) -> Self {
        Self {
            tracker: Tracker::new(params),
            held: VecDeque::new(),
            segment: gst::FormattedSegment::<gst::ClockTime>::new().upcast(),
            framerate: None,
            last_duration: None,
            last_pts: None,
            warned_no_meta: false,
            released_first: false,
        }
    }

    /// Takes the events held before the next buffer, then that buffer with `faces` applied.
    fn take_frame(&mut self, faces: Vec<TrackedFace<Face>>, out: &mut Vec<Out>) {
        while let Some(item) = self.held.pop_front() {
            match item {
                Item::Event(e) => out.push(Out::Event(e)),
                Item::Buffer { buffer, tracked } => {
                    let faces = tracked.then(|| faces.into_iter().map(to_face).collect());
                    out.push(Out::Buffer(buffer, faces));
                    return;
                }
            }
        }
    }

    /// Everything held, in order (end of stream, or before a reset).
    fn drain(&mut self, out: &mut Vec<Out>) {
        for faces in self.tracker.drain() {
            self.take_frame(faces, out);
        }
        while let Some(item) = self.held.pop_front() {
            match item {
                Item::Event(e) => out.push(Out::Event(e)),
                // Cannot happen (one tracker frame per buffer); pass it on untouched.
                Item::Buffer { buffer, .. } => out.push(Out::Buffer(buffer, None)),
            }
        }
    }

    fn frame_duration(&self) -> gst::ClockTime {
        match self.framerate {
            Some(f) if f.numer() > 0 && f.denom() > 0 => gst::ClockTime::SECOND
                .mul_div_floor(f.denom() as u64, f.numer() as u64)
                .unwrap_or(FALLBACK_FRAME_DURATION),
            _ => self.last_duration.unwrap_or(FALLBACK_FRAME_DURATION),
        }
    }
}

fn to_face(t: TrackedFace<Face>) -> Face {
    let mut face = t.payload;
    if let Some(landmarks) = face.landmarks.as_mut() {
        follow_points(&t.measured_keypoints, &t.keypoints, landmarks);
    }
    face.track_id = t.track_id;
    face.bbox = t.bbox;
    face.keypoints = t.keypoints;
    face.predicted = t.predicted;
    if t.predicted {
        // A swap result belongs to the frame it was made for.
        face.swap = None;
    }
    face
}

pub struct FaceTrack {
    sinkpad: gst::Pad,
    srcpad: gst::Pad,
    settings: Mutex<Settings>,
    state: Mutex<State>,
}

#[glib::object_subclass]
impl ObjectSubclass for FaceTrack {
    const NAME: &'static str = "GstGhostFaceTrack";
    type Type = super::FaceTrack;
    type ParentType = gst::Element;

    fn with_class(klass: &Self::Class) -> Self {
        let sinkpad = gst::Pad::builder_from_template(&klass.pad_template("sink").unwrap())
            .chain_function(|pad, parent, buffer| {
                FaceTrack::catch_panic_pad_function(
                    parent,
                    || Err(gst::FlowError::Error),
                    |imp| imp.sink_chain(pad, buffer),
                )
            })
            .event_function(|pad, parent, event| {
                FaceTrack::catch_panic_pad_function(parent, || false, |imp| imp.sink_event(pad, event))
            })
            .flags(gst::PadFlags::PROXY_CAPS | gst::PadFlags::PROXY_ALLOCATION)
            .build();
        let srcpad = gst::Pad::builder_from_template(&klass.pad_template("src").unwrap())
            .query_function(|pad, parent, query| {
                FaceTrack::catch_panic_pad_function(parent, || false, |imp| imp.src_query(pad, query))
            })
            .flags(gst::PadFlags::PROXY_CAPS | gst::PadFlags::PROXY_ALLOCATION)
            .build();
        Self {
            sinkpad,
            srcpad,
            settings: Mutex::new(Settings::default()),
            state: Mutex::new(State::new(TrackerParams::default())),
        }
    }
}

impl FaceTrack {
    fn push_out(&self, out: Vec<Out>) -> Result<gst::FlowSuccess, gst::FlowError> {
        let post = self.settings.lock().unwrap().post_messages;
        let mut result = Ok(gst::FlowSuccess::Ok);
        for item in out {
            match item {
                Out::Event(e) => {
                    self.srcpad.push_event(e);
                }
                Out::Buffer(mut buffer, faces) => {
                    if let Some(faces) = faces {
                        let b = buffer.make_mut();
                        let detection_ran = FacesMeta::from_buffer(b).is_some_and(|f| f.detection_ran);
                        sync_roi_metas(b, &faces);
                        if post {
                            let segment = self.state.lock().unwrap().segment.clone();
                            FacesMessage::new(&segment, b, &faces).post(self.obj().upcast_ref());
                        }
                        FacesMeta::set(b, FrameFaces { faces, detection_ran });
                    }
                    let r = self.srcpad.push(buffer);
                    if result.is_ok() {
                        result = r;
                    }
                }
            }
        }
        result
    }

    fn sink_chain(&self, _pad: &gst::Pad, buffer: gst::Buffer) -> Result<gst::FlowSuccess, gst::FlowError> {
        let mut out = Vec::new();
        let warn_no_meta;
        {
            let mut state = self.state.lock().unwrap();
            let pts = buffer.pts();
            let backwards = matches!((pts, state.last_pts), (Some(p), Some(l)) if p < l);
            // A DISCONT flag alone is also set by a live source that lost a few frames (v4l2src, a leaky
            // queue): the faces are still there, so the tracks go on. Only a jump in time (a cut, a
            // new segment) or time running backwards starts new tracks.
            let jump = matches!((pts, state.last_pts), (Some(p), Some(l)) if p > l + state.frame_duration() * RESET_GAP_FRAMES);
            if backwards || (buffer.flags().contains(gst::BufferFlags::DISCONT) && (jump || pts.is_none())) {
                gst::debug!(CAT, imp = self, "discontinuity at {:?}: tracks reset", pts);
                state.drain(&mut out);
                state.tracker.reset();
            }
            if pts.is_some() {
                state.last_pts = pts;
            }
            if buffer.duration().is_some() {
                state.last_duration = buffer.duration();
            }
            let faces = FacesMeta::from_buffer(&buffer);
            warn_no_meta = faces.is_none() && !std::mem::replace(&mut state.warned_no_meta, true);
            let tracked = faces.is_some();
            let detections = faces.filter(|f| f.detection_ran).map(|f| {
                f.faces
                    .into_iter()
                    .map(|face| (Detection { bbox: face.bbox, keypoints: face.keypoints }, face))
                    .collect::<Vec<_>>()
            });
            state.held.push_back(Item::Buffer { buffer, tracked });
            // The One Euro cutoffs are in Hz.
            let rate = 1e9 / state.frame_duration().nseconds().max(1) as f64;
            state.tracker.set_frame_rate(rate);
            if let Some(faces) = state.tracker.push(detections) {
                state.take_frame(faces, &mut out);
            }
            // The first frame of a stream leaves at once (filtered causally) instead of after the
            // lookahead: a sink behind us prerolls even when upstream cannot go on until then, e.g.
            // a tee whose other branch's queue is smaller than the lookahead (issue: preroll deadlock).
            if !state.released_first {
                state.released_first = true;
                if let Some(faces) = state.tracker.release_oldest() {
                    state.take_frame(faces, &mut out);
                }
            }
        }
        if warn_no_meta {
            warn_no_face_meta(self.obj().upcast_ref(), "ghostfacedetect");
        }
        self.push_out(out)
    }

    fn sink_event(&self, pad: &gst::Pad, event: gst::Event) -> bool {
        use gst::EventView;
        gst::log!(CAT, obj = pad, "event {:?}", event.type_());
        match event.view() {
            EventView::FlushStop(_) => {
                let mut state = self.state.lock().unwrap();
                state.held.clear();
                state.tracker.reset();
                state.last_pts = None;
                // After a flushing seek the sinks preroll again.
                state.released_first = false;
                drop(state);
                self.srcpad.push_event(event)
            }
            EventView::Caps(c) => {
                let framerate = c.caps().structure(0).and_then(|s| s.get::<gst::Fraction>("framerate").ok());
                let mut out = Vec::new();
                let changed = {
                    let mut state = self.state.lock().unwrap();
                    state.drain(&mut out);
                    state.tracker.reset();
                    let changed = state.framerate != framerate;
                    state.framerate = framerate;
                    changed
                };
                let _ = self.push_out(out);
                if changed && self.settings.lock().unwrap().lookahead > 0 {
                    let _ = self.obj().post_message(gst::message::Latency::builder().src(&*self.obj()).build());
                }
                self.srcpad.push_event(event)
            }
            EventView::Segment(_) | EventView::StreamStart(_) | EventView::Eos(_) => {
                let mut out = Vec::new();
                {
                    let mut state = self.state.lock().unwrap();
                    state.drain(&mut out);
                    if let EventView::Segment(s) = event.view() {
                        state.segment = s.segment().clone();
                    }
                    if !matches!(event.view(), EventView::Eos(_)) {
                        state.tracker.reset();
                        state.last_pts = None;
                    }
                }
                let _ = self.push_out(out);
                self.srcpad.push_event(event)
            }
            _ if event.is_serialized() => {
                let mut state = self.state.lock().unwrap();
                if state.held.is_empty() {
                    drop(state);
                    self.srcpad.push_event(event)
                } else {
                    state.held.push_back(Item::Event(event));
                    true
                }
            }
            _ => gst::Pad::event_default(pad, Some(&*self.obj()), event),
        }
    }

    fn src_query(&self, pad: &gst::Pad, query: &mut gst::QueryRef) -> bool {
        if let gst::QueryViewMut::Latency(q) = query.view_mut() {
            if !self.sinkpad.peer_query(q.query_mut()) {
                return false;
            }
            let lookahead = self.settings.lock().unwrap().lookahead as u64;
            let added = self.state.lock().unwrap().frame_duration() * lookahead;
            let (live, min, max) = q.result();
            gst::debug!(CAT, imp = self, "latency: upstream {min} .. {max:?}, adding {added}");
            q.set(live, min + added, max.map(|m| m + added));
            return true;
        }
        gst::Pad::query_default(pad, Some(&*self.obj()), query)
    }
}

impl ObjectImpl for FaceTrack {
    fn constructed(&self) {
        self.parent_constructed();
        let obj = self.obj();
        obj.add_pad(&self.sinkpad).unwrap();
        obj.add_pad(&self.srcpad).unwrap();
    }

    fn properties() -> &'static [glib::ParamSpec] {
        static PROPS: LazyLock<Vec<glib::ParamSpec>> = LazyLock::new(|| {
            vec![
                glib::ParamSpecEnum::builder_with_default("method", DEFAULT_METHOD)
                    .nick("Smoothing method")
                    .blurb("kalman: Kalman filter of the box, the keypoints' centroid (constant acceleration) and their zoom and roll against a slowly learnt shape template, the motion noise growing with the face's speed (smooth when still, little lag when moving); with lookahead, a fixed-lag RTS smoother. one-euro: the One Euro filter (Casiez et al. 2012) on the same coordinates, causal only (lookahead=0): a little smoother on still faces, but on moving ones about twice kalman's jitter at more error (README, Tracking). ghost: GHOST's reference rule, a centred ±2-frame keypoint mean reset on a jump over 5 px (needs lookahead >= 2)")
                    .mutable_ready()
                    .build(),
                glib::ParamSpecUInt::builder("lookahead")
                    .nick("Lookahead")
                    .blurb("Frames held back to smooth with future frames (0 = causal, no latency). Adds N frame durations of latency, from the negotiated frame rate (variable frame rate: the last buffer duration, else 1/30 s)")
                    .maximum(60)
                    .default_value(DEFAULT_LOOKAHEAD)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecFloat::builder("iou-threshold")
                    .nick("IoU threshold")
                    .blurb("Minimum overlap (IoU) between a track's predicted box and a detection to associate them; below it a detection starts a new track")
                    .minimum(0.0)
                    .maximum(1.0)
                    .default_value(DEFAULT_IOU_THRESHOLD)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecUInt::builder("min-hits")
                    .nick("Minimum hits")
                    .blurb("Detections a track needs before it is reported")
                    .minimum(1)
                    .maximum(1000)
                    .default_value(DEFAULT_MIN_HITS)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecUInt::builder("max-age")
                    .nick("Maximum age")
                    .blurb("Frames (on which the detector ran) a track survives without a detection; it is reported as predicted meanwhile")
                    .maximum(10000)
                    .default_value(DEFAULT_MAX_AGE)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecDouble::builder("process-noise")
                    .nick("Process noise")
                    .blurb("method=kalman: scale factor on the motion noise; higher follows fast motion more closely, lower smooths more")
                    .minimum(0.001)
                    .maximum(1000.0)
                    .default_value(DEFAULT_PROCESS_NOISE)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecDouble::builder("measurement-noise")
                    .nick("Measurement noise")
                    .blurb("method=kalman: scale factor on the detector noise; higher trusts detections less and smooths more")
                    .minimum(0.001)
                    .maximum(1000.0)
                    .default_value(DEFAULT_MEASUREMENT_NOISE)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecDouble::builder("min-cutoff")
                    .nick("One Euro minimum cutoff")
                    .blurb("method=one-euro: cutoff frequency (Hz) for a still face; lower smooths still faces more and lags more when they start moving")
                    .minimum(0.001)
                    .maximum(1000.0)
                    .default_value(DEFAULT_MIN_CUTOFF)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecDouble::builder("beta")
                    .nick("One Euro speed coefficient")
                    .blurb("method=one-euro: how fast the cutoff rises with the speed, Hz per (face height per second); higher lags less behind moving faces and smooths them less. Speeds count in face heights, so the default suits any resolution")
                    .minimum(0.0)
                    .maximum(100000.0)
                    .default_value(DEFAULT_BETA)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecDouble::builder("d-cutoff")
                    .nick("One Euro speed cutoff")
                    .blurb("method=one-euro: cutoff frequency (Hz) of the low-pass filter on the speed")
                    .minimum(0.001)
                    .maximum(1000.0)
                    .default_value(DEFAULT_D_CUTOFF)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecBoolean::builder("post-messages")
                    .nick("Post messages")
                    .blurb("Post a 'ghost-faces' element message per frame with the tracked faces")
                    .default_value(DEFAULT_POST_MESSAGES)
                    .mutable_playing()
                    .build(),
            ]
        });
        PROPS.as_ref()
    }

    fn set_property(&self, _id: usize, value: &glib::Value, pspec: &glib::ParamSpec) {
        gst::info!(CAT, imp = self, "{} set to {:?}", pspec.name(), value);
        let mut s = self.settings.lock().unwrap();
        match pspec.name() {
            "method" => s.method = value.get().expect("type checked upstream"),
            "lookahead" => s.lookahead = value.get().expect("type checked upstream"),
            "iou-threshold" => s.iou_threshold = value.get().expect("type checked upstream"),
            "min-hits" => s.min_hits = value.get().expect("type checked upstream"),
            "max-age" => s.max_age = value.get().expect("type checked upstream"),
            "process-noise" => s.process_noise = value.get().expect("type checked upstream"),
            "measurement-noise" => s.measurement_noise = value.get().expect("type checked upstream"),
            "min-cutoff" => s.min_cutoff = value.get().expect("type checked upstream"),
            "beta" => s.beta = value.get().expect("type checked upstream"),
            "d-cutoff" => s.d_cutoff = value.get().expect("type checked upstream"),
            "post-messages" => s.post_messages = value.get().expect("type checked upstream"),
            other => unreachable!("unknown property {other}"),
        }
    }

    fn property(&self, _id: usize, pspec: &glib::ParamSpec) -> glib::Value {
        let s = self.settings.lock().unwrap();
        match pspec.name() {
            "method" => s.method.to_value(),
            "lookahead" => s.lookahead.to_value(),
            "iou-threshold" => s.iou_threshold.to_value(),
            "min-hits" => s.min_hits.to_value(),
            "max-age" => s.max_age.to_value(),
            "process-noise" => s.process_noise.to_value(),
            "measurement-noise" => s.measurement_noise.to_value(),
            "min-cutoff" => s.min_cutoff.to_value(),
            "beta" => s.beta.to_value(),
            "d-cutoff" => s.d_cutoff.to_value(),
            "post-messages" => s.post_messages.to_value(),
            other => unreachable!("unknown property {other}"),
        }
    }
}

impl GstObjectImpl for FaceTrack {}

impl ElementImpl for FaceTrack {
    fn metadata() -> Option<&'static gst::subclass::ElementMetadata> {
        static META: LazyLock<gst::subclass::ElementMetadata> = LazyLock::new(|| {
            gst::subclass::ElementMetadata::new(
                "GHOST face tracker",
                "Filter/Analyzer/Video",
                "Tracks the faces of the face meta (ids, smoothed boxes and keypoints, predicted faces through detector misses); pixels untouched",
                "gst-ghost developers",
            )
        });
        Some(&META)
    }

    fn pad_templates() -> &'static [gst::PadTemplate] {
        static T: LazyLock<Vec<gst::PadTemplate>> = LazyLock::new(|| {
            let caps = gst::Caps::new_any();
            vec![
                gst::PadTemplate::new("src", gst::PadDirection::Src, gst::PadPresence::Always, &caps).unwrap(),
                gst::PadTemplate::new("sink", gst::PadDirection::Sink, gst::PadPresence::Always, &caps).unwrap(),
            ]
        });
        T.as_ref()
    }

    fn change_state(&self, transition: gst::StateChange) -> Result<gst::StateChangeSuccess, gst::StateChangeError> {
        if transition == gst::StateChange::ReadyToPaused {
            let settings = self.settings.lock().unwrap().clone();
            if settings.method == TrackMethod::Ghost && settings.lookahead < 2 {
                gst::element_imp_error!(
                    self,
                    gst::LibraryError::Settings,
                    (
                        "method=ghost needs lookahead >= 2 (its mean spans two frames either side); got lookahead={}",
                        settings.lookahead
                    )
                );
                return Err(gst::StateChangeError);
            }
            if settings.method == TrackMethod::OneEuro && settings.lookahead > 0 {
                gst::element_imp_error!(
                    self,
                    gst::LibraryError::Settings,
                    (
                        "method=one-euro is a causal filter and does not use lookahead; set lookahead=0 (or method=kalman to smooth with lookahead); got lookahead={}",
                        settings.lookahead
                    )
                );
                return Err(gst::StateChangeError);
            }
            *self.state.lock().unwrap() = State::new(settings.params());
        }
        let ret = self.parent_change_state(transition)?;
        if transition == gst::StateChange::PausedToReady {
            let params = self.settings.lock().unwrap().params();
            *self.state.lock().unwrap() = State::new(params);
        }
        Ok(ret)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The element's defaults are the tracker's own (tuned and tested in `track`).
    #[test]
    fn defaults_are_the_trackers() {
        let (element, tracker) = (Settings::default().params(), TrackerParams::default());
        assert_eq!(element.method, tracker.method);
        assert_eq!(element.lookahead, tracker.lookahead);
        assert_eq!(element.iou_threshold, tracker.iou_threshold);
        assert_eq!(element.min_hits, tracker.min_hits);
        assert_eq!(element.max_age, tracker.max_age);
        assert_eq!(element.process_noise, tracker.process_noise);
        assert_eq!(element.measurement_noise, tracker.measurement_noise);
        assert_eq!(element.one_euro, tracker.one_euro);
    }
}
