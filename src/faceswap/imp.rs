// SPDX-License-Identifier: MIT OR Apache-2.0
//! Threads: the streaming thread selects faces, aligns them and (every-frame mode) runs the
//! generator; one identity worker recomputes the source identity and the reference embeddings when
//! `source` / `reference` change while running; in realtime mode one generator worker swaps the
//! newest frame's faces while the streaming thread places the latest results. Both workers are
//! started in `start` and joined in `stop`, so a restart never sees a result of an earlier run.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, LazyLock, Mutex, MutexGuard};

use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;
use gst_base::prelude::*;
use gst_base::subclass::prelude::*;

use super::{CropModeProp, SwapMode, Targets};
use crate::common::{
    log_property_change, map_frame, optional_string, rgb_pad_templates, warn_no_face_meta, warn_unreadable_frame,
    ElementError, ModelProps, OutageNotice, ServerOutage,
};
use crate::message::FacesMessage;
use crate::meta::{Face, FacesMeta, SwapResult};
use crate::models::align::{crop_template, crop_transform_with, generator_crop, CropMode};
use crate::models::identity::{
    identity_from_photos, largest_face, load_photo, read_embedding, write_embedding, SourceIdentity,
};
use crate::models::recognizer::{cosine, normalized, Recognizer};
use crate::models::swapper::{paste_swap, GhostGenerator};
use crate::models::{locate_model, Detector, ModelError, PhotoKind};
use crate::runtime::{RuntimeError, SessionOptions};
use crate::swap::{CachedSwap, LatestWorker, SwapCache};
use crate::vision::{PackedFrame, RgbImage};

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
const DEFAULT_MODE: SwapMode = SwapMode::Auto;
/// One second at 30 fps: an older swap is dropped rather than shown.
/// Three seconds at 30 fps: a fp32 generator on a 2-core CPU refreshes a face about once a
/// second (two faces: every 1.6 s), and a face flickering between swapped and unswapped looks
/// worse than an older expression placed on the current head.
const DEFAULT_MAX_AGE: u32 = 90;
const DEFAULT_POST_MESSAGES: bool = false;
const PASTE: &str = "paste";
const FETCH_HINT: &str =
    "fetch it with `cargo run -p ghost-models -- fetch ghost_2_256`, or set model=paste for the model-free baseline";
const NO_SOURCE: &str = "no source identity: set source=PHOTO.jpg (or source-embedding=FILE)";

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
    mode: SwapMode,
    max_age: u32,
    post_messages: bool,
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
            mode: DEFAULT_MODE,
            max_age: DEFAULT_MAX_AGE,
            post_messages: DEFAULT_POST_MESSAGES,
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

#[derive(Clone)]
enum Engine {
    Ghost(GhostGenerator),
    Paste,
}

impl Engine {
    /// The swapped crops (`None` for a face whose generator output is not finite).
    fn swap(&self, crops: &[&RgbImage], identity: &SourceIdentity) -> Result<Vec<Option<RgbImage>>, RuntimeError> {
        match self {
            Engine::Ghost(generator) => {
                let id = identity.generator_identity.as_deref().expect("a GHOST generator starts only with one");
                generator.swap(crops, id)
            }
            Engine::Paste => {
                let source = identity.crop.as_ref().expect("paste starts only with a source photo");
                Ok(crops.iter().map(|c| Some(paste_swap(source, c))).collect())
            }
        }
    }

    fn name(&self) -> &'static str {
        match self {
            Engine::Ghost(_) => "GHOST generator",
            Engine::Paste => "paste baseline",
        }
    }
}

/// The models of a run, shared by the streaming thread and the workers.
struct Models {
    engine: Engine,
    detector: Mutex<Detector>,
    recognizer: Option<Recognizer>,
    crop_mode: CropMode,
}

/// The identity in use. `*_request` count the changes of `source` / `reference` while running: a
/// recomputation whose request is no longer the latest is discarded.
struct Identity {
    source: Arc<SourceIdentity>,
    /// L2-normalised embeddings of the reference photo(s) (targets=reference).
    references: Arc<Vec<Vec<f32>>>,
    source_request: u64,
    reference_request: u64,
    /// Counts installed identities: realtime results made with an older one are dropped.
    generation: u64,
}

/// What the identity worker recomputes (the latest settings, and which requests they answer).
struct IdentityJob {
    settings: Settings,
    source: Option<u64>,
    reference: Option<u64>,
}

/// One realtime generator run: the selected faces of one frame.
struct GeneratorJob {
    epoch: u64,
    frame: u64,
    identity: Arc<SourceIdentity>,
    faces: Vec<(CachedSwap, RgbImage)>,
}

/// The realtime machinery of a run.
struct Realtime {
    worker: LatestWorker<GeneratorJob>,
    cache: Arc<Mutex<SwapCache>>,
}

#[derive(Clone, Copy)]
struct Decision {
    selected: bool,
    frame: u64,
}

struct State {
    models: Arc<Models>,
    identity: Arc<Mutex<Identity>>,
    identity_worker: LatestWorker<IdentityJob>,
    realtime: Realtime,
    /// Decided on the first buffer of a run (mode=auto asks upstream whether it is live).
    use_realtime: Option<bool>,
    /// The identity generation the realtime cache was filled with.
    cache_generation: u64,
    info: Option<gst_video::VideoInfo>,
    decisions: HashMap<u64, Decision>,
    frame_index: u64,
    warned_no_meta: bool,
    warned_frame: bool,
    warned_non_finite: Arc<AtomicBool>,
    /// Served models away: shared with the generator worker, so an outage gets one warning.
    outage: Arc<Mutex<ServerOutage>>,
}

#[derive(Default)]
pub struct FaceSwap {
    settings: Mutex<Settings>,
    state: Mutex<Option<State>>,
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

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // The data behind these locks is replaced whole, never left half-updated by a panic.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Computes the source identity (from the embedding file or the photos), and notes for the bus.
fn compute_identity(settings: &Settings, models: &Models) -> Result<(SourceIdentity, Vec<String>), ElementError> {
    let paths = settings.source.as_deref().map(split_paths).unwrap_or_default();
    let refs: Vec<&Path> = paths.iter().map(PathBuf::as_path).collect();
    if let Some(file) = &settings.source_embedding {
        let values = read_embedding(Path::new(file))?;
        let mut identity =
            SourceIdentity { generator_identity: Some(values.clone()), embedding: Some(values), crop: None };
        let mut notes = Vec::new();
        // `paste` still needs the photo's face.
        if !refs.is_empty() {
            let mut detector = lock(&models.detector);
            let (photos, more) = identity_from_photos(&refs, &mut detector, None, models.crop_mode)?;
            identity.crop = photos.crop;
            notes = more;
        }
        return Ok((identity, notes));
    }
    if refs.is_empty() {
        return Err(settings_error(NO_SOURCE));
    }
    let mut detector = lock(&models.detector);
    Ok(identity_from_photos(&refs, &mut detector, models.recognizer.as_ref(), models.crop_mode)?)
}

/// The L2-normalised embeddings of the reference photos (targets=reference), and notes for the bus.
fn compute_references(settings: &Settings, models: &Models) -> Result<(Vec<Vec<f32>>, Vec<String>), ElementError> {
    let Some(recognizer) = models.recognizer.as_ref() else { return Ok(Default::default()) };
    let mut detector = lock(&models.detector);
    let (mut references, mut notes) = (Vec::new(), Vec::new());
    for path in split_paths(settings.reference.as_deref().unwrap_or_default()) {
        let photo = load_photo(&path, PhotoKind::Reference)?;
        notes.extend(photo.warning);
        let (face, _) = largest_face(&mut detector, &photo.image, &path, PhotoKind::Reference)?;
        let e = recognizer.embed(&PackedFrame::from_rgb(&photo.image), &[face.keypoints])?;
        references.push(normalized(&e[0]));
    }
    Ok((references, notes))
}

/// The threads budget of the realtime generator: the `threads` property, else all cores but one
/// (the streaming thread keeps a core for detection, tracking and blending).
fn realtime_threads(threads: u32) -> u32 {
    if threads > 0 {
        return threads;
    }
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get() as u32);
    cores.saturating_sub(1).max(1)
}

impl FaceSwap {
    fn save_embedding(element: &super::FaceSwap, settings: &Settings, identity: &SourceIdentity) {
        if let (Some(out), Some(values)) = (&settings.embedding_out, &identity.generator_identity) {
            match write_embedding(Path::new(out), values) {
                Ok(()) => gst::info!(CAT, obj = element, "saved the source identity to {out}"),
                Err(e) => ElementError::from(e).post_warning(element),
            }
        }
    }

    fn post_notes(element: &super::FaceSwap, notes: &[String]) {
        for note in notes {
            gst::element_warning!(element, gst::ResourceError::Read, ("{}", note));
        }
    }

    fn open_models(settings: &Settings) -> Result<Models, ElementError> {
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
        Ok(Models { engine, detector: Mutex::new(detector), recognizer, crop_mode: settings.crop_mode() })
    }

    fn start_inner(&self, settings: &Settings) -> Result<State, ElementError> {
        crate::common::forget_fallbacks();
        let element = self.obj().clone();
        let models = Arc::new(Self::open_models(settings)?);
        crate::common::post_fallback_warnings(element.upcast_ref());
        let (source, notes) = compute_identity(settings, &models)?;
        Self::post_notes(&element, &notes);
        Self::save_embedding(&element, settings, &source);
        let references = if settings.targets == Targets::Reference {
            let (references, notes) = compute_references(settings, &models)?;
            Self::post_notes(&element, &notes);
            references
        } else {
            Vec::new()
        };
        let identity = Arc::new(Mutex::new(Identity {
            source: Arc::new(source),
            references: Arc::new(references),
            source_request: 0,
            reference_request: 0,
            generation: 0,
        }));
        let identity_worker = Self::spawn_identity_worker(&element, &models, &identity)?;
        let warned_non_finite = Arc::new(AtomicBool::new(false));
        let outage = Arc::new(Mutex::new(ServerOutage::default()));
        let realtime = Self::spawn_generator_worker(&element, &models, settings, &warned_non_finite, &outage)?;
        Ok(State {
            models,
            identity,
            identity_worker,
            realtime,
            use_realtime: None,
            cache_generation: 0,
            info: None,
            decisions: HashMap::new(),
            frame_index: 0,
            warned_no_meta: false,
            warned_frame: false,
            warned_non_finite,
            outage,
        })
    }

    /// The worker that recomputes the identity (or the references) after a change while running;
    /// only the result of the latest request is installed, and a failure keeps the previous one.
    fn spawn_identity_worker(
        element: &super::FaceSwap,
        models: &Arc<Models>,
        identity: &Arc<Mutex<Identity>>,
    ) -> Result<LatestWorker<IdentityJob>, ElementError> {
        let (weak, models, identity) = (element.downgrade(), models.clone(), identity.clone());
        LatestWorker::spawn("ghostswap-identity", move |job: IdentityJob| {
            let Some(element) = weak.upgrade() else { return };
            if let Some(request) = job.source {
                let result = compute_identity(&job.settings, &models);
                let mut id = lock(&identity);
                if request != id.source_request {
                    gst::debug!(CAT, obj = element, "source request {request} superseded; result dropped");
                } else {
                    match result {
                        Ok((new, notes)) => {
                            id.source = Arc::new(new);
                            id.generation += 1;
                            drop(id);
                            Self::post_notes(&element, &notes);
                            Self::save_embedding(&element, &job.settings, &lock(&identity).source);
                            gst::info!(CAT, obj = element, "new source identity from {:?}", job.settings.source);
                            let s = gst::Structure::builder("ghost-source-ready")
                                .field("source", job.settings.source.as_deref().unwrap_or(""))
                                .build();
                            let _ = element.post_message(gst::message::Element::builder(s).src(&element).build());
                        }
                        Err(e) => {
                            drop(id);
                            gst::warning!(CAT, obj = element, "keeping the previous source identity: {e}");
                            e.post_warning(&element);
                        }
                    }
                }
            }
            if let Some(request) = job.reference {
                let result = compute_references(&job.settings, &models);
                let mut id = lock(&identity);
                if request == id.reference_request {
                    match result {
                        Ok((references, notes)) => {
                            id.references = Arc::new(references);
                            drop(id);
                            Self::post_notes(&element, &notes);
                        }
                        Err(e) => {
                            drop(id);
                            gst::warning!(CAT, obj = element, "keeping the previous reference: {e}");
                            e.post_warning(&element);
                        }
                    }
                }
            }
        })
        .map_err(|e| ElementError::Settings(format!("cannot start the identity thread: {e}")))
    }

    /// The realtime generator worker and its result cache. The worker opens its own generator
    /// session with the realtime threads budget when that differs from the streaming one; a served
    /// generator (`inference-server`) is shared as it is (threads do not apply to it). While the server
    /// is away the worker's jobs fail fast and the cached swaps age out: faces pass unswapped, with one
    /// warning per outage, until a job succeeds again.
    fn spawn_generator_worker(
        element: &super::FaceSwap,
        models: &Arc<Models>,
        settings: &Settings,
        warned_non_finite: &Arc<AtomicBool>,
        outage: &Arc<Mutex<ServerOutage>>,
    ) -> Result<Realtime, ElementError> {
        let cache = Arc::new(Mutex::new(SwapCache::default()));
        let (weak, models, results, warned, outage) =
            (element.downgrade(), models.clone(), cache.clone(), warned_non_finite.clone(), outage.clone());
        let (model, mut options) = (settings.model.clone(), settings.props.session_options());
        let mut engine: Option<Engine> = None;
        let worker = LatestWorker::spawn("ghostswap-generator", move |job: GeneratorJob| {
            let Some(element) = weak.upgrade() else { return };
            if lock(&results).epoch() != job.epoch {
                return;
            }
            let engine = engine.get_or_insert_with(|| {
                let budget = realtime_threads(options.threads);
                match &models.engine {
                    Engine::Ghost(_) if budget != options.threads && options.server.is_none() => {
                        options.threads = budget;
                        let reopened = locate_model(&model, &options)
                            .map_err(ElementError::from)
                            .and_then(|p| Ok(GhostGenerator::open(p.path(), &options)?));
                        match reopened {
                            Ok(g) => {
                                gst::info!(CAT, obj = element, "realtime generator runs on {budget} threads");
                                Engine::Ghost(g)
                            }
                            Err(e) => {
                                gst::warning!(CAT, obj = element, "realtime generator keeps the shared session: {e}");
                                models.engine.clone()
                            }
                        }
                    }
                    other => other.clone(),
                }
            });
            let crops: Vec<&RgbImage> = job.faces.iter().map(|(_, crop)| crop).collect();
            match engine.swap(&crops, &job.identity) {
                Ok(out) => {
                    lock(&outage).on_success(&element, *CAT);
                    let mut made = Vec::new();
                    for ((entry, _), crop) in job.faces.into_iter().zip(out) {
                        match crop {
                            Some(crop) => made.push(CachedSwap { crop: Arc::new(crop), frame: job.frame, ..entry }),
                            None => warn_non_finite(&element, &warned),
                        }
                    }
                    if !lock(&results).store(job.epoch, made) {
                        gst::debug!(CAT, obj = element, "realtime result of frame {} dropped (stale)", job.frame);
                    }
                }
                Err(e) => {
                    let notice = lock(&outage).on_error(&e);
                    match notice {
                        Some(notice) => notice.post(&element, *CAT),
                        None => ElementError::from(e).post_warning(&element),
                    }
                }
            }
        })
        .map_err(|e| ElementError::Settings(format!("cannot start the generator thread: {e}")))?;
        Ok(Realtime { worker, cache })
    }

    /// Queues a recomputation after `source` or `reference` changed while running.
    fn request_recompute(&self, source: bool, reference: bool) {
        let guard = self.state.lock().unwrap();
        let Some(state) = guard.as_ref() else { return }; // Not running: start() computes it.
        let settings = self.settings.lock().unwrap().clone();
        let (source_request, reference_request) = {
            let mut id = lock(&state.identity);
            if source {
                id.source_request += 1;
            }
            if reference {
                id.reference_request += 1;
            }
            (source.then_some(id.source_request), reference.then_some(id.reference_request))
        };
        state.identity_worker.submit_with(|pending| {
            let (old_source, old_reference) = pending.map(|j| (j.source, j.reference)).unwrap_or((None, None));
            IdentityJob {
                settings,
                source: source_request.or(old_source),
                reference: reference_request.or(old_reference),
            }
        });
    }

    /// Whether a change of `targets` can be honoured by the running models.
    fn refuse_targets(&self, targets: Targets) -> Option<String> {
        if targets != Targets::Reference {
            return None;
        }
        let guard = self.state.lock().unwrap();
        let state = guard.as_ref()?;
        if state.models.recognizer.is_none() {
            return Some("targets=reference needs a `recognizer`, which this run did not load".into());
        }
        if lock(&state.identity).references.is_empty() {
            return Some("targets=reference needs `reference` photos: set reference first".into());
        }
        None
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
                let references = lock(&state.identity).references.clone();
                let Some(recognizer) = state.models.recognizer.as_ref().filter(|_| !undecided.is_empty()) else {
                    return Ok(selected);
                };
                let kps: Vec<[[f32; 2]; 5]> = undecided.iter().map(|&i| faces[i].keypoints).collect();
                let embeddings = recognizer.embed(frame, &kps)?;
                let mut chosen = vec![false; undecided.len()];
                // GHOST's rule (docs/reference.md#target-selection): for each reference, the most
                // similar face, if above the threshold.
                for reference in references.iter() {
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
                        state.decisions.insert(faces[i].track_id, Decision { selected: chosen[k], frame: frame_index });
                    }
                }
                state.decisions.retain(|_, d| frame_index - d.frame <= 4 * recheck);
                Ok(selected)
            }
        }
    }

    /// Whether upstream is live (the latency query): the realtime mode's cue with mode=auto.
    fn upstream_is_live(&self) -> bool {
        let mut q = gst::query::Latency::new();
        self.obj().sink_pad().peer_query(&mut q) && q.result().0
    }

    /// Every-frame mode: the generator runs for this frame's selected faces, now.
    fn swap_now(
        &self,
        state: &State,
        frame: &PackedFrame,
        faces: &[Face],
        chosen: &[usize],
    ) -> Result<Vec<Option<SwapResult>>, RuntimeError> {
        let mode = state.models.crop_mode;
        let crops: Vec<(RgbImage, _)> =
            chosen.iter().map(|&i| generator_crop(frame, &faces[i].keypoints, mode)).collect();
        let identity = lock(&state.identity).source.clone();
        let refs: Vec<&RgbImage> = crops.iter().map(|(c, _)| c).collect();
        let swapped = state.models.engine.swap(&refs, &identity)?;
        Ok(crops
            .into_iter()
            .zip(swapped)
            .map(|((_, frame_to_crop), out)| {
                if out.is_none() {
                    warn_non_finite(&self.obj(), &state.warned_non_finite);
                }
                out.map(|crop| SwapResult::new(Arc::new(crop), frame_to_crop))
            })
            .collect())
    }

    /// Realtime mode: this frame's faces get the latest results no older than `max-age`, placed with
    /// this frame's alignment; when the worker is idle it gets this frame's faces.
    fn swap_realtime(
        &self,
        state: &mut State,
        settings: &Settings,
        frame: &PackedFrame,
        faces: &[Face],
        chosen: &[usize],
    ) -> Vec<Option<SwapResult>> {
        let (mode, now, max_age) = (state.models.crop_mode, state.frame_index, settings.max_age as u64);
        let generation = lock(&state.identity).generation;
        let mut cache = lock(&state.realtime.cache);
        if generation != state.cache_generation {
            // A new identity: the swaps made with the old one go.
            cache.invalidate();
            state.cache_generation = generation;
        }
        cache.expire(now, max_age);
        let placed = chosen
            .iter()
            .map(|&i| {
                let face = &faces[i];
                let (hit, age) = cache.lookup(face.track_id, &face.bbox, now, max_age)?;
                let frame_to_crop = crop_transform_with(&face.keypoints, mode, hit.template);
                Some(SwapResult { age: age as u32, ..SwapResult::new(hit.crop.clone(), frame_to_crop) })
            })
            .collect();
        let epoch = cache.epoch();
        drop(cache);
        if !chosen.is_empty() && state.realtime.worker.is_idle() {
            let jobs = chosen
                .iter()
                .map(|&i| {
                    let face = &faces[i];
                    let (crop, _) = generator_crop(frame, &face.keypoints, mode);
                    let entry = CachedSwap {
                        track_id: face.track_id,
                        bbox: face.bbox,
                        template: crop_template(&face.keypoints, mode),
                        crop: Arc::new(RgbImage::new(0, 0)),
                        frame: now,
                    };
                    (entry, crop)
                })
                .collect();
            let identity = lock(&state.identity).source.clone();
            state.realtime.worker.submit(GeneratorJob { epoch, frame: now, identity, faces: jobs });
        }
        placed
    }

    /// Drops every realtime result and the job not started yet (flush, seek, new caps).
    fn invalidate_realtime(state: &State) {
        lock(&state.realtime.cache).invalidate();
        state.realtime.worker.cancel_pending();
    }
}

/// Warns once per run that a generator output was not finite (the face is left unswapped).
fn warn_non_finite(element: &super::FaceSwap, warned: &AtomicBool) {
    if !warned.swap(true, Ordering::Relaxed) {
        gst::element_warning!(
            element,
            gst::StreamError::Failed,
            ("the generator gave non-finite values for a face; that face is left unswapped"),
            ["a broken model or identity; later faces with the same problem pass without another warning"]
        );
    }
}

impl ObjectImpl for FaceSwap {
    fn properties() -> &'static [glib::ParamSpec] {
        static PROPS: LazyLock<Vec<glib::ParamSpec>> = LazyLock::new(|| {
            let mut v = vec![
                glib::ParamSpecString::builder("source")
                    .nick("Source photo(s)")
                    .blurb("Photo(s) of the person whose face is put in, separated by ';' (PNG/JPEG). The largest face of each is used and the identities are averaged. Changing it while playing recomputes the identity in the background (the last value set wins; a photo that fails keeps the previous identity, with a warning)")
                    .mutable_playing()
                    .build(),
                glib::ParamSpecString::builder("source-embedding")
                    .nick("Source embedding file")
                    .blurb("File with the 512 float32 values of the generator identity (.npy of shape (512,) or (1, 512), or raw little-endian), instead of computing it from photos")
                    .mutable_ready()
                    .build(),
                glib::ParamSpecString::builder("embedding-out")
                    .nick("Embedding output file")
                    .blurb("Save the computed generator identity here (.npy, or raw little-endian float32 for other names) for use as source-embedding")
                    .mutable_playing()
                    .build(),
                glib::ParamSpecString::builder("model")
                    .nick("Swapper model")
                    .blurb("GHOST generator: a path or known name (ghost_1_256, ghost_2_256, ghost_3_256, their _int8/_fp16 variants, or an export of the official checkpoints), or 'paste' for the model-free baseline (the aligned source face, colour-matched)")
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
                    .blurb("Which faces are swapped: all, the largest, or those matching `reference` (refused while running without a recognizer and reference photos)")
                    .mutable_playing()
                    .build(),
                glib::ParamSpecString::builder("reference")
                    .nick("Reference photo(s)")
                    .blurb("Photo(s) of the person to replace, separated by ';' (with targets=reference); changing it while playing recomputes the references in the background")
                    .mutable_playing()
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
                glib::ParamSpecEnum::builder_with_default("mode", DEFAULT_MODE)
                    .nick("Mode")
                    .blurb("auto: realtime when the pipeline is live (the latency query says so), else every-frame; every-frame: each frame waits for its own swap (one per frame, for files); realtime: the streaming thread never runs the generator: a worker swaps the newest frame's faces and every frame shows the latest swap of each face (at most max-age frames old) placed with that frame's alignment, so frames are never delayed")
                    .mutable_ready()
                    .build(),
                glib::ParamSpecUInt::builder("max-age")
                    .nick("Maximum swap age")
                    .blurb("Realtime mode: frames a swap may be reused on later frames (placed with each frame's alignment, so it follows the head; only the expression gets older); a face whose latest swap is older passes unswapped. Lower it when the generator keeps up (GPU, int8) to show fresher expressions")
                    .maximum(10_000)
                    .default_value(DEFAULT_MAX_AGE)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecBoolean::builder("post-messages")
                    .nick("Post messages")
                    .blurb("Post a 'ghost-faces' element message per frame with the faces, which are selected and how old each one's swap is (swap-age, frames; -1 = none)")
                    .default_value(DEFAULT_POST_MESSAGES)
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
        if pspec.name() == "targets" {
            if let Some(why) = self.refuse_targets(value.get().expect("type checked upstream")) {
                let kept = self.settings.lock().unwrap().targets;
                gst::element_imp_warning!(
                    self,
                    gst::LibraryError::Settings,
                    ("{}; targets stays {:?}", why, kept),
                    ["set it before the pipeline starts, with `recognizer` and `reference`"]
                );
                return;
            }
        }
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
                "mode" => s.mode = value.get().unwrap(),
                "max-age" => s.max_age = value.get().unwrap(),
                "post-messages" => s.post_messages = value.get().unwrap(),
                other => unreachable!("unknown property {other}"),
            }
        }
        match pspec.name() {
            "source" => self.request_recompute(true, false),
            "reference" => self.request_recompute(false, true),
            _ => {}
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
            "mode" => s.mode.to_value(),
            "max-age" => s.max_age.to_value(),
            "post-messages" => s.post_messages.to_value(),
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
        gst::info!(
            CAT,
            imp = self,
            "ready: {}, model {}, mode {:?}",
            state.models.engine.name(),
            settings.model,
            settings.mode
        );
        *self.state.lock().unwrap() = Some(state);
        Ok(())
    }

    fn stop(&self) -> Result<(), gst::ErrorMessage> {
        // Joining happens outside the state lock: a worker may be posting a message meanwhile.
        let state = self.state.lock().unwrap().take();
        if let Some(state) = state {
            state.identity_worker.stop();
            state.realtime.worker.stop();
        }
        Ok(())
    }

    fn set_caps(&self, incaps: &gst::Caps, _outcaps: &gst::Caps) -> Result<(), gst::LoggableError> {
        let info =
            gst_video::VideoInfo::from_caps(incaps).map_err(|_| gst::loggable_error!(CAT, "invalid caps {incaps}"))?;
        if let Some(state) = self.state.lock().unwrap().as_mut() {
            if state.info.as_ref().is_some_and(|old| old != &info) {
                // Results from frames of another size would be placed wrongly.
                Self::invalidate_realtime(state);
            }
            state.info = Some(info);
        }
        Ok(())
    }

    fn sink_event(&self, event: gst::Event) -> bool {
        if let gst::EventView::FlushStop(_) = event.view() {
            if let Some(state) = self.state.lock().unwrap().as_mut() {
                Self::invalidate_realtime(state);
                state.decisions.clear();
            }
        }
        self.parent_sink_event(event)
    }

    fn transform_ip(&self, buffer: &mut gst::BufferRef) -> Result<gst::FlowSuccess, gst::FlowError> {
        let settings = self.settings.lock().unwrap().clone();
        let mut guard = self.state.lock().unwrap();
        let state = guard.as_mut().ok_or(gst::FlowError::Flushing)?;
        state.frame_index += 1;
        let use_realtime = match state.use_realtime {
            Some(r) => r,
            None => {
                let r = match settings.mode {
                    SwapMode::Auto => self.upstream_is_live(),
                    SwapMode::Realtime => true,
                    SwapMode::EveryFrame => false,
                };
                gst::info!(CAT, imp = self, "generator {}", if r { "in realtime mode" } else { "on every frame" });
                state.use_realtime = Some(r);
                r
            }
        };
        let Some(mut frame_faces) = FacesMeta::from_buffer(buffer) else {
            let first = !std::mem::replace(&mut state.warned_no_meta, true);
            drop(guard);
            if first {
                warn_no_face_meta(self.obj().upcast_ref(), "ghostfacedetect (and ghostfacetrack)");
            }
            return Ok(gst::FlowSuccess::Ok);
        };
        if frame_faces.faces.is_empty() {
            return Ok(gst::FlowSuccess::Ok);
        }
        let info = state.info.clone().ok_or(gst::FlowError::NotNegotiated)?;
        let swaps = {
            let mapped = match map_frame(buffer, &info) {
                Ok(mapped) => mapped,
                Err(e) => {
                    let first = !std::mem::replace(&mut state.warned_frame, true);
                    drop(guard);
                    if first {
                        warn_unreadable_frame(self.obj().upcast_ref(), &e);
                    }
                    return Ok(gst::FlowSuccess::Ok);
                }
            };
            let frame = mapped.frame();
            let fail = |what: &str, e: RuntimeError| {
                gst::element_imp_error!(self, gst::StreamError::Failed, ("{}: {}", what, e));
                gst::FlowError::Error
            };
            // A served model that is away: the frame goes on unswapped, its meta as it came.
            let outage = state.outage.clone();
            let ride_out = |e: RuntimeError, what: &str| lock(&outage).on_error(&e).ok_or_else(|| fail(what, e));
            match self.select(state, &settings, &frame, &frame_faces.faces) {
                Err(e) => Err(ride_out(e, "target selection")?),
                Ok(selected) => {
                    let chosen: Vec<usize> = (0..selected.len()).filter(|&i| selected[i]).collect();
                    let swaps = if use_realtime {
                        Ok(self.swap_realtime(state, &settings, &frame, &frame_faces.faces, &chosen))
                    } else {
                        self.swap_now(state, &frame, &frame_faces.faces, &chosen)
                    };
                    match swaps {
                        Err(e) => Err(ride_out(e, "generator")?),
                        Ok(swaps) => {
                            if !use_realtime && !chosen.is_empty() {
                                lock(&outage).on_success(&*self.obj(), *CAT);
                            }
                            for (face, sel) in frame_faces.faces.iter_mut().zip(selected) {
                                face.selected = sel;
                                face.swap = None;
                            }
                            Ok(chosen.into_iter().zip(swaps).collect::<Vec<_>>())
                        }
                    }
                }
            }
        };
        drop(guard);
        let swaps = match swaps {
            Ok(swaps) => swaps,
            Err(notice) => {
                OutageNotice::post(notice, &*self.obj(), *CAT);
                return Ok(gst::FlowSuccess::Ok);
            }
        };

        let mut swapped = 0;
        for (i, swap) in swaps {
            swapped += swap.is_some() as usize;
            frame_faces.faces[i].swap = swap;
        }
        gst::trace!(CAT, imp = self, "swapped {swapped} of {} faces", frame_faces.faces.len());
        if settings.post_messages {
            FacesMessage::new(&self.obj().segment(), buffer, &frame_faces.faces).post(self.obj().upcast_ref());
        }
        FacesMeta::set(buffer, frame_faces);
        Ok(gst::FlowSuccess::Ok)
    }
}
