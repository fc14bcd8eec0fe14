// SPDX-License-Identifier: MIT OR Apache-2.0
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, LazyLock, Mutex};

use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;
use gst_base::subclass::prelude::*;

use super::{CropModeProp, Targets};
use crate::common::{
    log_property_change, optional_string, packed_frame, rgb_pad_templates, ElementError, ModelProps, ServerOutage,
};
use crate::meta::{Face, FacesMeta, SwapResult};
use crate::models::align::{generator_crop, CropMode};
use crate::models::identity::{
    identity_from_photos, largest_face, load_photo, read_embedding, write_embedding, SourceIdentity,
};
use crate::models::recognizer::{cosine, normalized, Recognizer};
use crate::models::swapper::{paste_swap, GhostGenerator};
use crate::models::{locate_model, Detector, ModelError, PhotoKind};
use crate::runtime::{RuntimeError, SessionOptions};
use crate::vision::PackedFrame;

static CAT: LazyLock<gst::DebugCategory> = LazyLock::new(|| {
    gst::DebugCategory::new("ghostfaceswap", gst::DebugColorFlags::empty(), Some("GHOST face swapper"))
});

const DEFAULT_MODEL: &str = "ghost_2_256";
const DEFAULT_DETECTOR: &str = "mtcnn";
const DEFAULT_CROP: CropModeProp = CropModeProp::Ghost;
const DEFAULT_TARGETS: Targets = Targets::All;
/// GHOST's threshold (docs/reference.md#target-selection).
const DEFAULT_SIMILARITY_THRESHOLD: f32 = 0.15;
const DEFAULT_RECHECK_INTERVAL: u32 = 30;
const PASTE: &str = "paste";
const FETCH_HINT: &str =
    "fetch it with `cargo run -p ghost-models -- fetch ghost_2_256`, or set model=paste for the model-free baseline";

#[derive(Debug, Clone)]
struct Settings {
    source: Option<String>,
    source_embedding: Option<String>,
    embedding_out: Option<String>,
    model: String,
    recognizer: Option<String>,
    converter: Option<String>,
    detector: String,
    crop: CropModeProp,
    targets: Targets,
    reference: Option<String>,
    similarity_threshold: f32,
    recheck_interval: u32,
    props: ModelProps,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            source: None,
            source_embedding: None,
            embedding_out: None,
            model: DEFAULT_MODEL.into(),
            recognizer: None,
            converter: None,
            detector: DEFAULT_DETECTOR.into(),
            crop: DEFAULT_CROP,
            targets: DEFAULT_TARGETS,
            reference: None,
            similarity_threshold: DEFAULT_SIMILARITY_THRESHOLD,
            recheck_interval: DEFAULT_RECHECK_INTERVAL,
            props: ModelProps::default(),
        }
    }
}

impl Settings {
    fn crop_mode(&self) -> CropMode {
        match self.crop {
            CropModeProp::Ghost => CropMode::Ghost,
            CropModeProp::Frontal => CropMode::Frontal,
        }
    }
}

enum Engine {
    Ghost(GhostGenerator),
    Paste,
}

/// Models that the background identity computation shares with the streaming thread.
struct IdentityModels {
    detector: Mutex<Detector>,
    recognizer: Option<Recognizer>,
    crop_mode: CropMode,
}

#[derive(Clone, Copy)]
struct Decision {
    selected: bool,
    frame: u64,
}

struct State {
    engine: Engine,
    models: Arc<IdentityModels>,
    identity: Arc<SourceIdentity>,
    /// L2-normalised embeddings of the reference photo(s) (targets=reference).
    references: Vec<Vec<f32>>,
    info: Option<gst_video::VideoInfo>,
    decisions: HashMap<u64, Decision>,
    frame_index: u64,
    warned_no_meta: bool,
    outage: ServerOutage,
}

#[derive(Default)]
pub struct FaceSwap {
    settings: Mutex<Settings>,
    state: Mutex<Option<State>>,
    /// An identity computed off the streaming thread after `source` changed while running.
    pending: Arc<Mutex<Option<SourceIdentity>>>,
}

#[glib::object_subclass]
impl ObjectSubclass for FaceSwap {
    const NAME: &'static str = "GstGhostFaceSwap";
    type Type = super::FaceSwap;
    type ParentType = gst_base::BaseTransform;
}

fn split_paths(value: &str) -> Vec<PathBuf> {
    value.split(';').map(str::trim).filter(|s| !s.is_empty()).map(PathBuf::from).collect()
}

fn settings_error(message: &str) -> ElementError {
    ElementError::Settings(message.into())
}

const NO_SOURCE: &str = "no source identity: set source=PHOTO.jpg (or source-embedding=FILE)";

impl FaceSwap {
    /// Computes the source identity (from the embedding file or the photos) with the given models.
    fn compute_identity(
        settings: &Settings,
        models: &IdentityModels,
    ) -> Result<(SourceIdentity, Vec<String>), ElementError> {
        let paths = settings.source.as_deref().map(split_paths).unwrap_or_default();
        let refs: Vec<&Path> = paths.iter().map(PathBuf::as_path).collect();
        if let Some(file) = &settings.source_embedding {
            let values = read_embedding(Path::new(file))?;
            let mut identity =
                SourceIdentity { generator_identity: Some(values.clone()), embedding: Some(values), crop: None };
            // `paste` still needs the photo's face.
            if !refs.is_empty() {
                let mut detector = models.detector.lock().unwrap_or_else(|e| e.into_inner());
                identity.crop = identity_from_photos(&refs, &mut detector, None, models.crop_mode)?.0.crop;
            }
            return Ok((identity, Vec::new()));
        }
        if refs.is_empty() {
            return Err(settings_error(NO_SOURCE));
        }
        let mut detector = models.detector.lock().unwrap_or_else(|e| e.into_inner());
        Ok(identity_from_photos(&refs, &mut detector, models.recognizer.as_ref(), models.crop_mode)?)
    }

    fn save_embedding(&self, settings: &Settings, identity: &SourceIdentity) {
        if let (Some(out), Some(values)) = (&settings.embedding_out, &identity.generator_identity) {
            match write_embedding(Path::new(out), values) {
                Ok(()) => gst::info!(CAT, imp = self, "saved the source identity to {out}"),
                Err(e) => ElementError::from(e).post_warning(&*self.obj()),
            }
        }
    }

    fn start_inner(&self, settings: &Settings) -> Result<State, ElementError> {
        let options: SessionOptions = settings.props.session_options();
        let engine = if settings.model == PASTE {
            Engine::Paste
        } else {
            let path = locate_model(&settings.model, &options).map_err(|e| match e {
                ModelError::NotFound(m) => ModelError::NotFound(format!("GHOST generator: {m}; {FETCH_HINT}")),
                other => other,
            })?;
            Engine::Ghost(GhostGenerator::open(path.path(), &options)?)
        };
        let recognizer = match &settings.recognizer {
            Some(r) => {
                let model = locate_model(r, &options)?;
                let converter = settings.converter.as_deref().map(|c| locate_model(c, &options)).transpose()?;
                Some(Recognizer::open(model.path(), converter.as_ref().map(|c| c.path()), &options)?)
            }
            None => None,
        };
        if matches!(engine, Engine::Ghost(_)) && recognizer.is_none() && settings.source_embedding.is_none() {
            return Err(settings_error(
                "a GHOST generator needs the source identity: set `recognizer` (an ArcFace model, e.g. \
                 arcface_w600k_r50 with converter=crossface_ghost) or `source-embedding`",
            ));
        }
        if settings.targets == Targets::Reference && (recognizer.is_none() || settings.reference.is_none()) {
            return Err(settings_error(
                "targets=reference needs `reference` (photo of the person to replace) and a `recognizer`",
            ));
        }
        if matches!(engine, Engine::Paste) && settings.source.is_none() {
            return Err(settings_error("model=paste needs a source photo: set source=PHOTO.jpg"));
        }
        let detector = Detector::open(&locate_model(&settings.detector, &options)?, &options)?;
        let models =
            Arc::new(IdentityModels { detector: Mutex::new(detector), recognizer, crop_mode: settings.crop_mode() });

        let (identity, notes) = Self::compute_identity(settings, &models)?;
        for note in notes {
            gst::warning!(CAT, imp = self, "{note}");
        }
        self.save_embedding(settings, &identity);

        let mut references = Vec::new();
        if settings.targets == Targets::Reference {
            let recognizer = models.recognizer.as_ref().expect("checked above");
            let mut detector = models.detector.lock().unwrap();
            for path in split_paths(settings.reference.as_deref().unwrap_or_default()) {
                let photo = load_photo(&path, PhotoKind::Reference)?;
                let (face, _) = largest_face(&mut detector, &photo, &path, PhotoKind::Reference)?;
                let e = recognizer.embed(&PackedFrame::from_rgb(&photo), &[face.keypoints])?;
                references.push(normalized(&e[0]));
            }
        }
        Ok(State {
            engine,
            models,
            identity: Arc::new(identity),
            references,
            info: None,
            decisions: HashMap::new(),
            frame_index: 0,
            warned_no_meta: false,
            outage: ServerOutage::default(),
        })
    }

    /// Recomputes the identity off the streaming thread; frames keep flowing with the old one.
    fn recompute_identity_in_background(&self) {
        let Some(models) = self.state.lock().unwrap().as_ref().map(|s| s.models.clone()) else {
            return; // Not running: start() computes it.
        };
        let settings = self.settings.lock().unwrap().clone();
        let pending = self.pending.clone();
        let element = self.obj().clone();
        std::thread::spawn(move || match Self::compute_identity(&settings, &models) {
            Ok((identity, _)) => {
                element.imp().save_embedding(&settings, &identity);
                *pending.lock().unwrap() = Some(identity);
                gst::info!(CAT, obj = element, "new source identity ready");
            }
            Err(e) => {
                gst::warning!(CAT, obj = element, "keeping the previous source identity");
                e.post_warning(&element);
            }
        });
    }

    /// Which faces are swapped on this frame.
    fn select(
        &self,
        state: &mut State,
        settings: &Settings,
        frame: &PackedFrame,
        faces: &[Face],
    ) -> Result<Vec<bool>, RuntimeError> {
        let area = |f: &Face| f.width() * f.height();
        match settings.targets {
            Targets::All => Ok(vec![true; faces.len()]),
            Targets::Largest => {
                let best = (0..faces.len()).max_by(|&a, &b| area(&faces[a]).total_cmp(&area(&faces[b])));
                Ok((0..faces.len()).map(|i| Some(i) == best).collect())
            }
            Targets::Reference => {
                let frame_index = state.frame_index;
                let recheck = settings.recheck_interval.max(1) as u64;
                let mut selected = vec![false; faces.len()];
                let mut undecided = Vec::new();
                for (i, f) in faces.iter().enumerate() {
                    match state.decisions.get(&f.track_id) {
                        Some(d) if f.track_id != 0 && frame_index - d.frame < recheck => selected[i] = d.selected,
                        _ => undecided.push(i),
                    }
                }
                if !undecided.is_empty() {
                    let recognizer = state.models.recognizer.as_ref().ok_or_else(|| RuntimeError::Run {
                        path: "recognizer".into(),
                        message: "targets=reference without a recognizer".into(),
                    })?;
                    let kps: Vec<[[f32; 2]; 5]> = undecided.iter().map(|&i| faces[i].keypoints).collect();
                    let embeddings = recognizer.embed(frame, &kps)?;
                    let mut chosen = vec![false; undecided.len()];
                    // GHOST's rule (docs/reference.md#target-selection): for each reference, the most
                    // similar face, if above the threshold.
                    for reference in &state.references {
                        let sims: Vec<f32> = embeddings.iter().map(|e| cosine(e, reference)).collect();
                        if let Some((j, &s)) = sims.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1)) {
                            if s > settings.similarity_threshold {
                                chosen[j] = true;
                            }
                        }
                    }
                    for (k, &i) in undecided.iter().enumerate() {
                        selected[i] = chosen[k];
                        if faces[i].track_id != 0 {
                            state
                                .decisions
                                .insert(faces[i].track_id, Decision { selected: chosen[k], frame: frame_index });
                        }
                    }
                    state.decisions.retain(|_, d| frame_index - d.frame <= 4 * recheck);
                }
                Ok(selected)
            }
        }
    }
}

impl ObjectImpl for FaceSwap {
    fn properties() -> &'static [glib::ParamSpec] {
        static PROPS: LazyLock<Vec<glib::ParamSpec>> = LazyLock::new(|| {
            let mut v = vec![
                glib::ParamSpecString::builder("source")
                    .nick("Source photo(s)")
                    .blurb("Photo(s) of the person whose face is put in, separated by ';' (PNG/JPEG). The largest face of each is used and the identities are averaged. Changing it while playing recomputes the identity in the background")
                    .mutable_playing()
                    .build(),
                glib::ParamSpecString::builder("source-embedding")
                    .nick("Source embedding file")
                    .blurb("File with the 512 float32 values of the generator identity (.npy or raw little-endian), instead of computing it from photos")
                    .mutable_ready()
                    .build(),
                glib::ParamSpecString::builder("embedding-out")
                    .nick("Embedding output file")
                    .blurb("Save the computed generator identity here (.npy, or raw little-endian float32 for other names) for use as source-embedding")
                    .mutable_playing()
                    .build(),
                glib::ParamSpecString::builder("model")
                    .nick("Swapper model")
                    .blurb("GHOST generator: a path or known name (ghost_1_256, ghost_2_256, ghost_3_256, or an export of the official checkpoints), or 'paste' for the model-free baseline (the aligned source face, colour-matched)")
                    .default_value(Some(DEFAULT_MODEL))
                    .mutable_ready()
                    .build(),
                glib::ParamSpecString::builder("recognizer")
                    .nick("Recognizer model")
                    .blurb("ArcFace model for the source identity and target selection: GHOST's iresnet100 export, or arcface_w600k_r50 (needs `converter`)")
                    .mutable_ready()
                    .build(),
                glib::ParamSpecString::builder("converter")
                    .nick("Embedding converter")
                    .blurb("Model that maps w600k ArcFace embeddings into GHOST's identity space (crossface_ghost)")
                    .mutable_ready()
                    .build(),
                glib::ParamSpecString::builder("detector")
                    .nick("Detector for source photos")
                    .blurb("Face detector used on the source and reference photos: 'mtcnn' (built in) or an SCRFD file")
                    .default_value(Some(DEFAULT_DETECTOR))
                    .mutable_ready()
                    .build(),
                glib::ParamSpecEnum::builder_with_default("crop", DEFAULT_CROP)
                    .nick("Crop alignment")
                    .blurb("How the face is aligned for the generator")
                    .mutable_ready()
                    .build(),
                glib::ParamSpecEnum::builder_with_default("targets", DEFAULT_TARGETS)
                    .nick("Targets")
                    .blurb("Which faces are swapped: all, the largest, or those matching `reference`")
                    .mutable_playing()
                    .build(),
                glib::ParamSpecString::builder("reference")
                    .nick("Reference photo(s)")
                    .blurb("Photo(s) of the person to replace, separated by ';' (with targets=reference)")
                    .mutable_ready()
                    .build(),
                glib::ParamSpecFloat::builder("similarity-threshold")
                    .nick("Similarity threshold")
                    .blurb("Minimum cosine similarity between a face and a reference for it to be swapped (GHOST uses 0.15)")
                    .minimum(-1.0)
                    .maximum(1.0)
                    .default_value(DEFAULT_SIMILARITY_THRESHOLD)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecUInt::builder("recheck-interval")
                    .nick("Recheck interval")
                    .blurb("Frames between re-checks of a tracked face's selection (targets=reference)")
                    .minimum(1)
                    .default_value(DEFAULT_RECHECK_INTERVAL)
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
        let opt = optional_string;
        {
            let mut s = self.settings.lock().unwrap();
            if s.props.set(value, pspec) {
                return;
            }
            match pspec.name() {
                "source" => s.source = opt(value),
                "source-embedding" => s.source_embedding = opt(value),
                "embedding-out" => s.embedding_out = opt(value),
                "model" => s.model = opt(value).unwrap_or_else(|| DEFAULT_MODEL.into()),
                "recognizer" => s.recognizer = opt(value),
                "converter" => s.converter = opt(value),
                "detector" => s.detector = opt(value).unwrap_or_else(|| DEFAULT_DETECTOR.into()),
                "crop" => s.crop = value.get().unwrap(),
                "targets" => s.targets = value.get().unwrap(),
                "reference" => s.reference = opt(value),
                "similarity-threshold" => s.similarity_threshold = value.get().unwrap(),
                "recheck-interval" => s.recheck_interval = value.get().unwrap(),
                other => unreachable!("unknown property {other}"),
            }
        }
        if pspec.name() == "source" {
            self.recompute_identity_in_background();
        }
    }

    fn property(&self, _id: usize, pspec: &glib::ParamSpec) -> glib::Value {
        let s = self.settings.lock().unwrap();
        if let Some(v) = s.props.get(pspec) {
            return v;
        }
        match pspec.name() {
            "source" => s.source.to_value(),
            "source-embedding" => s.source_embedding.to_value(),
            "embedding-out" => s.embedding_out.to_value(),
            "model" => s.model.to_value(),
            "recognizer" => s.recognizer.to_value(),
            "converter" => s.converter.to_value(),
            "detector" => s.detector.to_value(),
            "crop" => s.crop.to_value(),
            "targets" => s.targets.to_value(),
            "reference" => s.reference.to_value(),
            "similarity-threshold" => s.similarity_threshold.to_value(),
            "recheck-interval" => s.recheck_interval.to_value(),
            other => unreachable!("unknown property {other}"),
        }
    }
}

impl GstObjectImpl for FaceSwap {}

impl ElementImpl for FaceSwap {
    fn metadata() -> Option<&'static gst::subclass::ElementMetadata> {
        static META: LazyLock<gst::subclass::ElementMetadata> = LazyLock::new(|| {
            gst::subclass::ElementMetadata::new(
                "GHOST face swapper",
                "Filter/Effect/Video",
                "Generates the swapped face of every selected face (GHOST AEI-Net, or the paste baseline) and attaches it to the face meta for ghostfaceblend",
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

impl BaseTransformImpl for FaceSwap {
    const MODE: gst_base::subclass::BaseTransformMode = gst_base::subclass::BaseTransformMode::AlwaysInPlace;
    const PASSTHROUGH_ON_SAME_CAPS: bool = false;
    const TRANSFORM_IP_ON_PASSTHROUGH: bool = false;

    fn start(&self) -> Result<(), gst::ErrorMessage> {
        let settings = self.settings.lock().unwrap().clone();
        let state = self.start_inner(&settings).map_err(|e| e.to_error_message())?;
        let engine = match &state.engine {
            Engine::Ghost(_) => "GHOST generator",
            Engine::Paste => "paste baseline",
        };
        gst::info!(CAT, imp = self, "ready: {engine}, model {}", settings.model);
        *self.pending.lock().unwrap() = None;
        *self.state.lock().unwrap() = Some(state);
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

    fn transform_ip(&self, buffer: &mut gst::BufferRef) -> Result<gst::FlowSuccess, gst::FlowError> {
        let mut guard = self.state.lock().unwrap();
        let state = guard.as_mut().ok_or(gst::FlowError::Flushing)?;
        state.frame_index += 1;
        let Some(mut frame_faces) = FacesMeta::from_buffer(buffer) else {
            if !state.warned_no_meta {
                state.warned_no_meta = true;
                gst::warning!(
                    CAT,
                    imp = self,
                    "buffer without face meta: put ghostfacedetect (and ghostfacetrack) before ghostfaceswap"
                );
            }
            return Ok(gst::FlowSuccess::Ok);
        };
        if frame_faces.faces.is_empty() {
            return Ok(gst::FlowSuccess::Ok);
        }
        if let Some(identity) = self.pending.lock().unwrap().take() {
            state.identity = Arc::new(identity);
        }
        let settings = self.settings.lock().unwrap().clone();
        let info = state.info.clone().ok_or(gst::FlowError::NotNegotiated)?;
        let fail = |what: &str, e: String| {
            gst::element_imp_error!(self, gst::StreamError::Failed, ("{}: {}", what, e));
            gst::FlowError::Error
        };

        let results = {
            let frame = gst_video::VideoFrameRef::from_buffer_ref_readable(&*buffer, &info)
                .map_err(|_| fail("mapping", "could not map the frame".into()))?;
            let packed = packed_frame(&frame).ok_or(gst::FlowError::NotNegotiated)?;
            // A served model that is away: the frame goes on unswapped (its meta as it came).
            let selected = match self.select(state, &settings, &packed, &frame_faces.faces) {
                Ok(s) => s,
                Err(e) if state.outage.on_error(&*self.obj(), *CAT, &e) => return Ok(gst::FlowSuccess::Ok),
                Err(e) => return Err(fail("target selection", e.to_string())),
            };
            let mode = state.models.crop_mode;
            let chosen: Vec<usize> = (0..selected.len()).filter(|&i| selected[i]).collect();
            let crops: Vec<_> =
                chosen.iter().map(|&i| generator_crop(&packed, &frame_faces.faces[i].keypoints, mode)).collect();
            let swapped = match &state.engine {
                Engine::Ghost(generator) => {
                    let identity = state.identity.generator_identity.as_deref().ok_or(gst::FlowError::NotNegotiated)?;
                    let refs: Vec<_> = crops.iter().map(|(c, _)| c).collect();
                    generator.swap(&refs, identity)
                }
                Engine::Paste => {
                    let source = state.identity.crop.as_ref().ok_or(gst::FlowError::NotNegotiated)?;
                    Ok(crops.iter().map(|(c, _)| paste_swap(source, c)).collect())
                }
            };
            let swapped = match swapped {
                Ok(s) => s,
                Err(e) if state.outage.on_error(&*self.obj(), *CAT, &e) => return Ok(gst::FlowSuccess::Ok),
                Err(e) => return Err(fail("generator", e.to_string())),
            };
            if !chosen.is_empty() {
                state.outage.on_success(&*self.obj(), *CAT);
            }
            (selected, chosen, crops, swapped)
        };
        drop(guard);

        let (selected, chosen, crops, swapped) = results;
        for (face, sel) in frame_faces.faces.iter_mut().zip(&selected) {
            face.selected = *sel;
            face.swap = None;
        }
        for ((&i, (_, frame_to_crop)), out) in chosen.iter().zip(crops).zip(swapped) {
            frame_faces.faces[i].swap = Some(SwapResult { crop: Arc::new(out), frame_to_crop });
        }
        gst::trace!(CAT, imp = self, "swapped {} of {} faces", chosen.len(), frame_faces.faces.len());
        FacesMeta::set(buffer, frame_faces);
        Ok(gst::FlowSuccess::Ok)
    }
}
