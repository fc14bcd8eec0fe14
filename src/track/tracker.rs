// SPDX-License-Identifier: MIT OR Apache-2.0
//! Tracks: association of detections to tracks, lifecycle, and the per-frame output (causal, or
//! delayed by `lookahead` frames and smoothed).
//!
//! State per track, eight coordinates each filtered on its own (see [`super::kalman`]):
//! - the box as centre x, centre y, width, height (constant velocity). Width rather than aspect
//!   ratio: all four are then plain pixel lengths with noise of the same scale. The box serves
//!   association; the swap aligns on the keypoints;
//! - the keypoints' centroid x, y (constant acceleration) and their similarity α, β (zoom and
//!   roll, constant acceleration) against the track's shape template (see [`super::shape`]).
//!   Not relative to the box: the detector's box and keypoints are noisy independently. The
//!   centroid carries the fast motion and is measured five times over (noise / √5); zoom and
//!   roll are each the least-squares fit of ten coordinates; what the similarity does not
//!   explain (yaw, pitch, expression) goes into the template slowly. Against five keypoints
//!   filtered on their own this halves the jitter at the same error on the rendered clips of
//!   `examples/bench_track.rs`.
//!
//! The noise is scaled by the box height, so a face twice as large is allowed twice the motion
//! and twice the measurement error. The keypoints' motion noise grows with the face's speed
//! (one-euro's idea in a Kalman filter): a still face is smoothed hard, a moving one followed
//! without lag; constant acceleration keeps the smooth turns of a moving head from lagging. Time
//! is counted in frames (the stream's frame rate does not enter), so with a variable frame rate
//! a longer frame interval is simply one more step.

use std::collections::VecDeque;

use pathfinding::prelude::{kuhn_munkres, Matrix};

use super::kalman::Coord;
use super::one_euro::{OneEuro, OneEuroParams};
use super::shape::{self, Template};
use super::smoother::{fixed_lag, ghost_rule, GHOST_HALF_WINDOW};

/// Box cx, cy, w, h; keypoint centroid x, y; the keypoints' similarity α, β (see [`shape`]).
const STATES: usize = 8;
const CENTROID: usize = 4;
const SIMILARITY: usize = 6;

/// The filter's noise model, every length a fraction of the face's box height (so it suits any
/// resolution); the process noises are standard deviations per frame of the change of each
/// model's highest derivative (acceleration for constant velocity, jerk for constant
/// acceleration).
#[derive(Clone, Debug, PartialEq)]
pub struct KalmanTuning {
    /// Model order of the keypoint centroid (2: constant velocity, 3: constant acceleration).
    pub centroid_order: usize,
    pub centroid_q: f64,
    /// Model order and process noise of the keypoints' similarity (scale and roll).
    pub shape_order: usize,
    pub shape_q: f64,
    /// Weight of each new detection in the track's shape template.
    pub template_rate: f64,
    /// Model order and process noise of the box.
    pub box_order: usize,
    pub box_q: f64,
    /// Measurement noise of one keypoint coordinate and of one box coordinate.
    pub keypoint_r: f64,
    pub box_r: f64,
    /// Speed adaptation: the process noise grows by this factor times the face's speed (box
    /// heights per frame; for the shape: relative zoom and roll per frame).
    pub speed_gain: f64,
}

impl Default for KalmanTuning {
    fn default() -> Self {
        Self {
            centroid_order: 3,
            centroid_q: 0.00002,
            shape_order: 3,
            shape_q: 0.00001,
            template_rate: 0.02,
            box_order: 2,
            box_q: 0.002,
            keypoint_r: 0.016,
            box_r: 0.01,
            speed_gain: 600.0,
        }
    }
}

/// Initial velocity uncertainty of a new track, fraction of the box height per frame.
const INITIAL_VEL_WEIGHT: f64 = 1.0 / 10.0;
/// Initial acceleration uncertainty of a new track, fraction of the box height per frame².
const INITIAL_ACC_WEIGHT: f64 = 1.0 / 100.0;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Group {
    Box,
    Centroid,
    Shape,
}

fn group(i: usize) -> Group {
    match i {
        0..CENTROID => Group::Box,
        CENTROID..SIMILARITY => Group::Centroid,
        _ => Group::Shape,
    }
}

impl KalmanTuning {
    fn order(&self, i: usize) -> usize {
        match group(i) {
            Group::Box => self.box_order,
            Group::Centroid => self.centroid_order,
            Group::Shape => self.shape_order,
        }
    }

    fn q(&self, i: usize) -> f64 {
        match group(i) {
            Group::Box => self.box_q,
            Group::Centroid => self.centroid_q,
            Group::Shape => self.shape_q,
        }
    }

    fn r(&self, i: usize) -> f64 {
        match group(i) {
            Group::Box => self.box_r,
            // The mean of five measurements with independent noise.
            Group::Centroid => self.keypoint_r / 5f64.sqrt(),
            // The least-squares fit of five offsets (each a point minus the mean of five: noise
            // variance 4/5 of a point's) to a unit-RMS template: variance 1/5 of an offset's.
            Group::Shape => self.keypoint_r * 0.4,
        }
    }
}

/// One detection: box (x0, y0, x1, y1) and five keypoints, frame pixels.
#[derive(Clone, Copy, Debug, PartialEq, Default)]
pub struct Detection {
    pub bbox: [f32; 4],
    pub keypoints: [[f32; 2]; 5],
}

/// How the reported positions are smoothed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Method {
    /// Kalman filter; with lookahead, fixed-lag RTS smoothing.
    #[default]
    Kalman,
    /// One Euro filter on every coordinate (causal: the element refuses it with lookahead).
    OneEuro,
    /// GHOST's reference rule (docs/reference.md#ghosts-rule) on the measured keypoints (needs lookahead ≥ 2);
    /// boxes as detected; frames without a detection are Kalman predictions.
    Ghost,
}

#[derive(Clone, Debug, PartialEq)]
pub struct TrackerParams {
    pub method: Method,
    /// Frames of delay used for smoothing (0 = causal).
    pub lookahead: u32,
    /// Minimum IoU between a predicted and a detected box to associate them.
    pub iou_threshold: f32,
    /// Detections before a track is reported.
    pub min_hits: u32,
    /// Frames (where the detector ran) a track survives without a detection.
    pub max_age: u32,
    /// Scale factor on the process noise (more = follows faster, smooths less).
    pub process_noise: f64,
    /// Scale factor on the measurement noise (more = smooths more, lags more).
    pub measurement_noise: f64,
    pub kalman: KalmanTuning,
    /// One Euro settings; speeds in box heights per second.
    pub one_euro: OneEuroParams,
    /// Frame rate (Hz) for the One Euro filter's cutoffs.
    pub frame_rate: f64,
}

impl Default for TrackerParams {
    fn default() -> Self {
        Self {
            method: Method::Kalman,
            lookahead: 0,
            iou_threshold: 0.3,
            min_hits: 1,
            max_age: 15,
            process_noise: 1.0,
            measurement_noise: 1.0,
            kalman: KalmanTuning::default(),
            one_euro: OneEuroParams::DEFAULT,
            frame_rate: 30.0,
        }
    }
}

/// A face reported for one frame.
#[derive(Clone, Debug, PartialEq)]
pub struct TrackedFace<T> {
    pub track_id: u64,
    pub bbox: [f32; 4],
    pub keypoints: [[f32; 2]; 5],
    /// No detection on this frame: the position is the filter's prediction.
    pub predicted: bool,
    /// The payload of this frame's detection, or of the track's latest detection when predicted.
    pub payload: T,
    /// The measured keypoints that came with `payload` (to carry dense landmarks along).
    pub measured_keypoints: [[f32; 2]; 5],
}

#[derive(Clone)]
struct Step<T> {
    frame: u64,
    prior: [Coord; STATES],
    post: [Coord; STATES],
    /// The One Euro output of this frame (method one-euro).
    euro: Option<[f64; STATES]>,
    template: Template,
    /// This frame's detection, if there was one.
    measured: Option<Detection>,
    /// Latest payload and its detection (this frame's, or an earlier one when predicted).
    payload: T,
    payload_detection: Detection,
}

struct Track<T> {
    id: u64,
    state: [Coord; STATES],
    euro: Option<[OneEuro; STATES]>,
    template: Template,
    hits: u32,
    misses: u32,
    dead: bool,
    last: (T, Detection),
    history: VecDeque<Step<T>>,
}

/// The multi-face tracker. Feed one frame at a time with [`Tracker::push`]; it returns the faces
/// of the frame `lookahead` frames back (or of this frame when causal).
pub struct Tracker<T> {
    params: TrackerParams,
    tracks: Vec<Track<T>>,
    next_id: u64,
    /// Frames pushed since the last reset.
    frames: u64,
    /// Next frame to report.
    next_out: u64,
}

fn points(k: &[[f32; 2]; 5]) -> shape::Points {
    k.map(|p| [p[0] as f64, p[1] as f64])
}

/// The state measured by a detection, its keypoints' shape seen through `template`.
fn measurement(d: &Detection, template: &Template) -> [f64; STATES] {
    let b = d.bbox.map(|v| v as f64);
    let kps = points(&d.keypoints);
    let c = shape::centroid(&kps);
    let (alpha, beta) = template.measure(&kps);
    [(b[0] + b[2]) / 2.0, (b[1] + b[3]) / 2.0, b[2] - b[0], b[3] - b[1], c[0], c[1], alpha, beta]
}

fn unpack(x: &[f64; STATES], template: &Template) -> ([f32; 4], [[f32; 2]; 5]) {
    let (w, h) = (x[2].max(0.0), x[3].max(0.0));
    let bbox = [x[0] - w / 2.0, x[1] - h / 2.0, x[0] + w / 2.0, x[1] + h / 2.0].map(|v| v as f32);
    let offsets = shape::apply(&template.m, x[SIMILARITY], x[SIMILARITY + 1]);
    let kps = offsets.map(|o| [(x[CENTROID] + o[0]) as f32, (x[CENTROID + 1] + o[1]) as f32]);
    (bbox, kps)
}

/// How fast a face moves, per group (box, centroid, shape), as a fraction of itself per frame:
/// the centroid's speed over the box height (centroid), the similarity's rate of change (zoom and
/// roll) over its size (shape). The box, which association relies on, keeps its fixed noise.
fn motion(x: &[Coord; STATES]) -> [f64; 3] {
    let h = x[3].pos().max(1.0);
    let v = |i: usize| x[i].mean()[1];
    let speed = v(CENTROID).hypot(v(CENTROID + 1)) / h;
    let size = x[SIMILARITY].pos().hypot(x[SIMILARITY + 1].pos()).max(1e-9);
    let rate = v(SIMILARITY).hypot(v(SIMILARITY + 1)) / size;
    [0.0, speed, rate]
}

/// Intersection over union of two x0, y0, x1, y1 boxes.
pub fn iou(a: &[f32; 4], b: &[f32; 4]) -> f32 {
    let iw = (a[2].min(b[2]) - a[0].max(b[0])).max(0.0);
    let ih = (a[3].min(b[3]) - a[1].max(b[1])).max(0.0);
    let inter = iw * ih;
    let union =
        (a[2] - a[0]).max(0.0) * (a[3] - a[1]).max(0.0) + (b[2] - b[0]).max(0.0) * (b[3] - b[1]).max(0.0) - inter;
    if union > 0.0 {
        inter / union
    } else {
        0.0
    }
}

/// Optimal assignment maximising the total IoU among pairs with IoU ≥ `threshold`
/// (Kuhn–Munkres on IoU scaled to integers). Returns (row, column) pairs.
pub fn assign(ious: &[Vec<f32>], threshold: f32) -> Vec<(usize, usize)> {
    let rows = ious.len();
    let cols = ious.first().map_or(0, |r| r.len());
    if rows == 0 || cols == 0 {
        return Vec::new();
    }
    let weight = |r: usize, c: usize| -> i64 {
        let v = ious[r][c];
        if v >= threshold && v.is_finite() {
            (v as f64 * 1e6).round() as i64
        } else {
            0
        }
    };
    // kuhn_munkres needs rows ≤ columns.
    let transposed = rows > cols;
    let (n, m) = if transposed { (cols, rows) } else { (rows, cols) };
    let matrix = Matrix::from_fn(n, m, |(i, j)| if transposed { weight(j, i) } else { weight(i, j) });
    let (_, assignment) = kuhn_munkres(&matrix);
    assignment
        .into_iter()
        .enumerate()
        .map(|(i, j)| if transposed { (j, i) } else { (i, j) })
        .filter(|&(r, c)| ious[r][c] >= threshold)
        .collect()
}

/// How far (in the boxes' mean size) a detection without overlap may lie from a track's
/// predicted box and still continue it.
const NEAR_GATE: f32 = 1.5;

/// The second association pass's score: 1 for boxes with the same centre, falling to 0 at
/// `NEAR_GATE` box sizes apart; 0 for boxes whose sizes differ by more than 1.6x either way.
pub fn proximity(a: &[f32; 4], b: &[f32; 4]) -> f32 {
    let size = |r: &[f32; 4]| ((r[2] - r[0]).max(0.0) * (r[3] - r[1]).max(0.0)).sqrt();
    let (sa, sb) = (size(a), size(b));
    if sa <= 0.0 || sb <= 0.0 || sa / sb > 1.6 || sb / sa > 1.6 {
        return 0.0;
    }
    let d = ((a[0] + a[2] - b[0] - b[2]).powi(2) + (a[1] + a[3] - b[1] - b[3]).powi(2)).sqrt() / 2.0;
    (1.0 - d / (NEAR_GATE * (sa + sb) / 2.0)).max(0.0)
}

/// Moves `points` (dense landmarks measured together with keypoints `from`) along with the
/// similarity transform that takes `from` to `to`.
pub fn follow_points(from: &[[f32; 2]; 5], to: &[[f32; 2]; 5], points: &mut [[f32; 2]]) {
    if from == to {
        return;
    }
    let src: Vec<[f64; 2]> = from.iter().map(|p| [p[0] as f64, p[1] as f64]).collect();
    let dst: Vec<[f64; 2]> = to.iter().map(|p| [p[0] as f64, p[1] as f64]).collect();
    let m = crate::vision::umeyama(&src, &dst);
    if !m.0.iter().all(|v| v.is_finite()) {
        return;
    }
    for p in points {
        let (x, y) = m.apply(p[0] as f64, p[1] as f64);
        *p = [x as f32, y as f32];
    }
}

impl<T: Clone> Tracker<T> {
    pub fn new(params: TrackerParams) -> Self {
        Self { params, tracks: Vec::new(), next_id: 1, frames: 0, next_out: 0 }
    }

    pub fn params(&self) -> &TrackerParams {
        &self.params
    }

    /// The frame rate (Hz) that the One Euro filter's cutoffs refer to.
    pub fn set_frame_rate(&mut self, rate: f64) {
        if rate.is_finite() && rate > 0.0 {
            self.params.frame_rate = rate;
        }
    }

    /// Frames held back (pushed but not yet reported).
    pub fn held(&self) -> usize {
        (self.frames - self.next_out) as usize
    }

    /// Forgets every track and held frame. Ids keep counting, so they are never reused within
    /// a stream.
    pub fn reset(&mut self) {
        self.tracks.clear();
        self.next_out = self.frames;
    }

    /// Process noise of state `i` for a face `h` pixels tall, scaled by the recent manoeuvre.
    fn process_std(&self, i: usize, h: f64, motion: &[f64; 3]) -> f64 {
        let k = &self.params.kalman;
        k.q(i) * h.max(1.0) * self.params.process_noise * (1.0 + k.speed_gain * motion[group(i) as usize])
    }

    fn measurement_std(&self, i: usize, h: f64) -> f64 {
        self.params.kalman.r(i) * h.max(1.0) * self.params.measurement_noise
    }

    fn new_state(&self, z: &[f64; STATES]) -> [Coord; STATES] {
        let h = z[3].max(1.0);
        let k = &self.params.kalman;
        std::array::from_fn(|j| {
            let std = [self.measurement_std(j, h), INITIAL_VEL_WEIGHT * h, INITIAL_ACC_WEIGHT * h];
            Coord::new(k.order(j), z[j], std)
        })
    }

    /// Feeds one frame: `None` when the detector did not run on it (a prediction, not a miss),
    /// otherwise its detections with a payload each. Returns the faces of the frame that is now
    /// `lookahead` frames old, once that many frames are held.
    pub fn push(&mut self, detections: Option<Vec<(Detection, T)>>) -> Option<Vec<TrackedFace<T>>> {
        let frame = self.frames;
        self.frames += 1;

        // Predict every live track.
        for i in 0..self.tracks.len() {
            if self.tracks[i].dead {
                continue;
            }
            let h = self.tracks[i].state[3].pos();
            let motion = motion(&self.tracks[i].state);
            let q: [f64; STATES] = std::array::from_fn(|j| self.process_std(j, h, &motion));
            let t = &mut self.tracks[i];
            for (c, q) in t.state.iter_mut().zip(q) {
                c.predict(q);
            }
        }
        let priors: Vec<[Coord; STATES]> = self.tracks.iter().map(|t| t.state).collect();

        let mut measured: Vec<Option<Detection>> = vec![None; self.tracks.len()];
        let mut new_tracks = Vec::new();
        if let Some(detections) = detections {
            let live: Vec<usize> = (0..self.tracks.len()).filter(|&i| !self.tracks[i].dead).collect();
            let ious: Vec<Vec<f32>> = live
                .iter()
                .map(|&i| {
                    let x = self.tracks[i].state.map(|c| c.pos());
                    let (predicted_box, _) = unpack(&x, &self.tracks[i].template);
                    detections.iter().map(|(d, _)| iou(&predicted_box, &d.bbox)).collect()
                })
                .collect();
            let mut pairs = assign(&ious, self.params.iou_threshold);
            // Second pass for what the boxes' overlap left: a face that moved about its own width
            // since the last detection (fast motion, or detection every few frames) has no overlap
            // with its prediction, yet it is the same face. Nearby, similar-sized boxes pair up.
            let (rows_left, cols_left): (Vec<usize>, Vec<usize>) = (
                (0..live.len()).filter(|r| pairs.iter().all(|p| p.0 != *r)).collect(),
                (0..detections.len()).filter(|c| pairs.iter().all(|p| p.1 != *c)).collect(),
            );
            let near: Vec<Vec<f32>> = rows_left
                .iter()
                .map(|&r| {
                    let x = self.tracks[live[r]].state.map(|c| c.pos());
                    let (predicted_box, _) = unpack(&x, &self.tracks[live[r]].template);
                    cols_left.iter().map(|&c| proximity(&predicted_box, &detections[c].0.bbox)).collect()
                })
                .collect();
            pairs.extend(assign(&near, f32::MIN_POSITIVE).into_iter().map(|(r, c)| (rows_left[r], cols_left[c])));
            let mut det_used = vec![false; detections.len()];
            let mut track_matched = vec![false; live.len()];
            for &(r, c) in &pairs {
                det_used[c] = true;
                track_matched[r] = true;
                let ti = live[r];
                let (d, payload) = &detections[c];
                let h = self.tracks[ti].state[3].pos();
                let r_std: [f64; STATES] = std::array::from_fn(|j| self.measurement_std(j, h));
                let template_rate = self.params.kalman.template_rate;
                let t = &mut self.tracks[ti];
                let z = measurement(d, &t.template);
                for ((c, z), r) in t.state.iter_mut().zip(z).zip(r_std) {
                    c.update(z, r);
                }
                // The mean of all detections so far, until that weighs less than `template_rate`.
                let rate = template_rate.max(1.0 / (t.hits + 1) as f64);
                t.template.adapt(&points(&d.keypoints), t.state[SIMILARITY].pos(), t.state[SIMILARITY + 1].pos(), rate);
                if let Some(euro) = t.euro.as_mut() {
                    let p = &self.params;
                    for (e, z) in euro.iter_mut().zip(z) {
                        e.update(z, p.frame_rate, h.max(1.0), &p.one_euro);
                    }
                }
                t.hits += 1;
                t.misses = 0;
                t.last = (payload.clone(), *d);
                measured[ti] = Some(*d);
            }
            for (r, &ti) in live.iter().enumerate() {
                if track_matched[r] {
                    continue;
                }
                let t = &mut self.tracks[ti];
                t.misses += 1;
                if t.hits < self.params.min_hits || t.misses > self.params.max_age {
                    t.dead = true;
                }
            }
            for (c, (d, payload)) in detections.iter().enumerate() {
                if !det_used[c] {
                    new_tracks.push((*d, payload.clone()));
                }
            }
        }

        // Record this frame in every live track's history.
        for (i, t) in self.tracks.iter_mut().enumerate() {
            if t.dead {
                continue;
            }
            if measured[i].is_none() {
                if let Some(euro) = t.euro.as_mut() {
                    euro.iter_mut().for_each(OneEuro::predict);
                }
            }
            t.history.push_back(Step {
                frame,
                prior: priors[i],
                post: t.state,
                euro: t.euro.map(|e| e.map(|e| e.x)),
                template: t.template,
                measured: measured[i],
                payload: t.last.0.clone(),
                payload_detection: t.last.1,
            });
        }
        for (d, payload) in new_tracks {
            let (template, _) = Template::new(&points(&d.keypoints));
            let z = measurement(&d, &template);
            let state = self.new_state(&z);
            let euro = (self.params.method == Method::OneEuro).then(|| z.map(OneEuro::new));
            let id = self.next_id;
            self.next_id += 1;
            let mut history = VecDeque::new();
            history.push_back(Step {
                frame,
                prior: state,
                post: state,
                euro: euro.map(|e| e.map(|e| e.x)),
                template,
                measured: Some(d),
                payload: payload.clone(),
                payload_detection: d,
            });
            self.tracks.push(Track {
                id,
                state,
                euro,
                template,
                hits: 1,
                misses: 0,
                dead: false,
                last: (payload, d),
                history,
            });
        }

        if frame - self.next_out >= self.params.lookahead as u64 {
            Some(self.emit())
        } else {
            None
        }
    }

    /// Reports the oldest held frame now, smoothed with only the frames held so far (causal when it
    /// is the only one). The element releases a stream's first frame this way, so that a sink
    /// behind it can preroll while the lookahead fills.
    pub fn release_oldest(&mut self) -> Option<Vec<TrackedFace<T>>> {
        (self.next_out < self.frames).then(|| self.emit())
    }

    /// Reports every held frame (end of stream), oldest first.
    pub fn drain(&mut self) -> Vec<Vec<TrackedFace<T>>> {
        let mut out = Vec::new();
        while self.next_out < self.frames {
            out.push(self.emit());
        }
        out
    }

    /// The faces of frame `next_out`, smoothed with every later frame held.
    fn emit(&mut self) -> Vec<TrackedFace<T>> {
        let k = self.next_out;
        self.next_out += 1;
        let mut faces = Vec::new();
        for t in &self.tracks {
            if t.hits < self.params.min_hits {
                continue;
            }
            let Some(first) = t.history.front() else { continue };
            if k < first.frame || k > t.history.back().unwrap().frame {
                continue;
            }
            let idx = (k - first.frame) as usize;
            let step = &t.history[idx];
            let (mut bbox, mut keypoints) = match step.euro {
                Some(x) => unpack(&x, &step.template),
                None => {
                    let (filtered, priors): (Vec<_>, Vec<_>) =
                        t.history.iter().skip(idx).map(|s| (s.post, s.prior)).unzip();
                    unpack(&fixed_lag(&filtered, &priors, 0), &step.template)
                }
            };
            if self.params.method == Method::Ghost {
                if let Some(d) = step.measured {
                    let lo = idx.saturating_sub(GHOST_HALF_WINDOW);
                    let hi = (idx + GHOST_HALF_WINDOW + 1).min(t.history.len());
                    let window: Vec<_> = t.history.range(lo..hi).map(|s| s.measured.map(|m| m.keypoints)).collect();
                    keypoints = ghost_rule(&window, idx - lo).unwrap_or(d.keypoints);
                    bbox = d.bbox;
                }
            }
            faces.push(TrackedFace {
                track_id: t.id,
                bbox,
                keypoints,
                predicted: step.measured.is_none(),
                payload: step.payload.clone(),
                measured_keypoints: step.payload_detection.keypoints,
            });
        }
        // Forget what no later report needs: GHOST looks two frames back.
        let keep_from = self.next_out.saturating_sub(GHOST_HALF_WINDOW as u64);
        for t in &mut self.tracks {
            while t.history.front().is_some_and(|s| s.frame < keep_from) {
                t.history.pop_front();
            }
        }
        let next_out = self.next_out;
        self.tracks.retain(|t| !t.dead || t.history.back().is_some_and(|s| s.frame >= next_out));
        faces
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn det(x: f32, y: f32, size: f32) -> Detection {
        let s = size;
        Detection {
            bbox: [x, y, x + s, y + s],
            keypoints: [
                [x + 0.3 * s, y + 0.4 * s],
                [x + 0.7 * s, y + 0.4 * s],
                [x + 0.5 * s, y + 0.6 * s],
                [x + 0.35 * s, y + 0.8 * s],
                [x + 0.65 * s, y + 0.8 * s],
            ],
        }
    }

    fn frame(dets: &[Detection]) -> Option<Vec<(Detection, u32)>> {
        Some(dets.iter().enumerate().map(|(i, d)| (*d, i as u32)).collect())
    }

    #[test]
    fn iou_of_known_boxes() {
        assert_eq!(iou(&[0.0, 0.0, 10.0, 10.0], &[5.0, 0.0, 15.0, 10.0]), 50.0 / 150.0);
        assert_eq!(iou(&[0.0, 0.0, 10.0, 10.0], &[20.0, 0.0, 30.0, 10.0]), 0.0);
    }

    #[test]
    fn proximity_of_known_boxes() {
        // Same box: 1. Centres 50 apart, sizes 100: 1 - 50/150.
        assert_eq!(proximity(&[0.0, 0.0, 100.0, 100.0], &[0.0, 0.0, 100.0, 100.0]), 1.0);
        assert!(
            (proximity(&[0.0, 0.0, 100.0, 100.0], &[30.0, 40.0, 130.0, 140.0]) - (1.0 - 50.0 / 150.0)).abs() < 1e-6
        );
        // At the gate, beyond it, and sizes too different.
        assert_eq!(proximity(&[0.0, 0.0, 100.0, 100.0], &[150.0, 0.0, 250.0, 100.0]), 0.0);
        assert_eq!(proximity(&[0.0, 0.0, 100.0, 100.0], &[400.0, 0.0, 500.0, 100.0]), 0.0);
        assert_eq!(proximity(&[0.0, 0.0, 100.0, 100.0], &[0.0, 0.0, 200.0, 200.0]), 0.0);
    }

    #[test]
    fn assignment_is_optimal_not_greedy() {
        // Greedy would take (0, 0) = 0.9 and leave row 1 with 0.0; optimal takes 0.8 + 0.85.
        let ious = vec![vec![0.9, 0.8], vec![0.85, 0.0]];
        let mut pairs = assign(&ious, 0.3);
        pairs.sort();
        assert_eq!(pairs, vec![(0, 1), (1, 0)]);
        // More rows than columns, and a pair under the threshold is dropped.
        let ious = vec![vec![0.1], vec![0.5], vec![0.2]];
        assert_eq!(assign(&ious, 0.3), vec![(1, 0)]);
    }

    #[test]
    fn ids_start_at_one_and_a_static_face_keeps_its_id() {
        let mut t = Tracker::new(TrackerParams::default());
        for _ in 0..10 {
            let out = t.push(frame(&[det(100.0, 100.0, 80.0)])).unwrap();
            assert_eq!(out.len(), 1);
            assert_eq!(out[0].track_id, 1);
            assert!(!out[0].predicted);
            assert!((out[0].bbox[0] - 100.0).abs() < 1e-3);
        }
    }

    #[test]
    fn misses_are_predicted_until_max_age_and_skipped_frames_are_not_misses() {
        let params = TrackerParams { max_age: 3, ..Default::default() };
        let mut t = Tracker::new(params);
        for i in 0..5 {
            t.push(frame(&[det(100.0 + 2.0 * i as f32, 100.0, 80.0)]));
        }
        // Detector not run: predicted, never aged out.
        for _ in 0..10 {
            let out = t.push(None).unwrap();
            assert_eq!(out.len(), 1);
            assert!(out[0].predicted);
            assert_eq!(out[0].payload, 0);
        }
        // Three misses survive, the fourth kills.
        for _ in 0..3 {
            let out = t.push(frame(&[])).unwrap();
            assert_eq!(out.len(), 1);
            assert!(out[0].predicted);
        }
        assert!(t.push(frame(&[])).unwrap().is_empty());
    }

    #[test]
    fn a_moving_face_detected_every_third_frame_keeps_one_track() {
        // interval=3 on ghostfacedetect: detections on every third frame, predictions between.
        let mut t = Tracker::new(TrackerParams::default());
        for i in 0..90 {
            // Up to 30 px a frame with a 96 px face: no overlap between one detection and the next.
            let x = 100.0 + 300.0 * (1.0 + (i as f32 * 0.1).sin());
            let out = t.push(if i % 3 == 0 { frame(&[det(x, 120.0, 96.0)]) } else { None }).unwrap();
            let ids: Vec<u64> = out.iter().map(|f| f.track_id).collect();
            assert_eq!(ids, vec![1], "frame {i}: {:?}", out.iter().map(|f| f.bbox).collect::<Vec<_>>());
        }
    }

    #[test]
    fn min_hits_delays_reporting_and_a_tentative_miss_deletes() {
        let mut t = Tracker::new(TrackerParams { min_hits: 3, ..Default::default() });
        assert!(t.push(frame(&[det(0.0, 0.0, 50.0)])).unwrap().is_empty());
        assert!(t.push(frame(&[])).unwrap().is_empty());
        // The first track died; the next detection is a new id.
        assert!(t.push(frame(&[det(0.0, 0.0, 50.0)])).unwrap().is_empty());
        assert!(t.push(frame(&[det(0.0, 0.0, 50.0)])).unwrap().is_empty());
        let out = t.push(frame(&[det(0.0, 0.0, 50.0)])).unwrap();
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].track_id, 2);
    }

    #[test]
    fn a_cut_starts_a_new_track() {
        let mut t = Tracker::new(TrackerParams::default());
        for _ in 0..5 {
            t.push(frame(&[det(50.0, 50.0, 80.0)]));
        }
        let out = t.push(frame(&[det(400.0, 300.0, 80.0)])).unwrap();
        let new = out.iter().find(|f| !f.predicted).unwrap();
        assert_eq!(new.track_id, 2);
        assert!((new.bbox[0] - 400.0).abs() < 1e-3, "not dragged: {:?}", new.bbox);
        let old = out.iter().find(|f| f.predicted).unwrap();
        assert_eq!(old.track_id, 1);
        assert!((old.bbox[0] - 50.0).abs() < 1.0);
    }

    #[test]
    fn lookahead_holds_frames_and_drains_them_in_order() {
        let mut t = Tracker::new(TrackerParams { lookahead: 3, ..Default::default() });
        let mut reported = Vec::new();
        for i in 0..6 {
            if let Some(out) = t.push(frame(&[det(10.0 * i as f32, 0.0, 80.0)])) {
                reported.push(out);
            }
            assert_eq!(t.held(), (i + 1).min(3));
        }
        assert_eq!(reported.len(), 3);
        reported.extend(t.drain());
        assert_eq!(reported.len(), 6);
        assert_eq!(t.held(), 0);
        // Constant velocity from frame 1 on: the smoothed boxes sit near the measurements.
        for (i, out) in reported.iter().enumerate() {
            assert_eq!(out.len(), 1);
            assert!((out[0].bbox[0] - 10.0 * i as f32).abs() < 2.0, "frame {i}: {:?}", out[0].bbox);
        }
    }

    #[test]
    fn lookahead_fills_a_gap_by_interpolation() {
        let mut t = Tracker::new(TrackerParams { lookahead: 4, ..Default::default() });
        let mut reported = Vec::new();
        for i in 0..30 {
            let x = 3.0 * i as f32;
            let dets = if (20..23).contains(&i) { vec![] } else { vec![det(x, 0.0, 100.0)] };
            reported.extend(t.push(frame(&dets)));
        }
        reported.extend(t.drain());
        for (i, faces) in reported.iter().enumerate().take(23).skip(20) {
            let f = &faces[0];
            assert!(f.predicted);
            assert!((f.bbox[0] - 3.0 * i as f32).abs() < 0.5, "frame {i}: {:?}", f.bbox);
        }
    }

    #[test]
    fn ghost_method_means_the_measured_keypoints() {
        let mut t = Tracker::new(TrackerParams { lookahead: 2, method: Method::Ghost, ..Default::default() });
        let xs = [0.0, 1.0, 2.0, 6.0, 4.0, 5.0];
        let mut reported = Vec::new();
        for &x in &xs {
            reported.extend(t.push(frame(&[det(x, 0.0, 100.0)])));
        }
        reported.extend(t.drain());
        // Frame 2: mean of the keypoint x over frames 0..=4 → 30 + 2.6.
        assert!((reported[2][0].keypoints[0][0] - 32.6).abs() < 1e-4);
        assert!((reported[0][0].keypoints[0][0] - 30.0).abs() < 1e-4);
        assert_eq!(reported[2][0].bbox[0], 2.0);
    }

    #[test]
    fn landmarks_follow_the_keypoints() {
        let from = det(0.0, 0.0, 100.0).keypoints;
        let to = det(10.0, 5.0, 100.0).keypoints;
        let mut pts = [[50.0, 50.0], [0.0, 100.0]];
        follow_points(&from, &to, &mut pts);
        assert!((pts[0][0] - 60.0).abs() < 1e-3 && (pts[0][1] - 55.0).abs() < 1e-3);
        assert!((pts[1][0] - 10.0).abs() < 1e-3 && (pts[1][1] - 105.0).abs() < 1e-3);
    }

    #[test]
    fn the_oldest_frame_can_leave_before_its_lookahead() {
        let mut t = Tracker::new(TrackerParams { lookahead: 3, ..Default::default() });
        assert!(t.push(frame(&[det(0.0, 0.0, 50.0)])).is_none());
        let first = t.release_oldest().expect("frame 0 is held");
        assert_eq!((first.len(), first[0].track_id), (1, 1));
        assert_eq!(t.held(), 0);
        assert!(t.release_oldest().is_none(), "nothing else is held");
        // The later frames keep the full lookahead: frame 1 leaves when frame 4 arrives.
        for x in 1..4 {
            assert!(t.push(frame(&[det(x as f32, 0.0, 50.0)])).is_none(), "frame {x}");
        }
        let second = t.push(frame(&[det(4.0, 0.0, 50.0)])).expect("frame 1");
        assert_eq!(second[0].track_id, 1);
        assert_eq!(t.held(), 3);
    }

    #[test]
    fn reset_keeps_ids_increasing() {
        let mut t = Tracker::new(TrackerParams::default());
        t.push(frame(&[det(0.0, 0.0, 50.0)]));
        t.reset();
        let out = t.push(frame(&[det(0.0, 0.0, 50.0)])).unwrap();
        assert_eq!(out[0].track_id, 2);
    }

    /// A face moving with constant acceleration while zooming and turning at constant rates.
    fn accelerating(i: usize) -> Detection {
        let t = i as f32;
        let (cx, cy) = (200.0 + 0.5 * t + 0.02 * t * t, 150.0 - 0.01 * t * t);
        let (s, th) = (1.0 + 0.004 * t, 0.003 * t);
        let (a, b) = (s * th.cos(), s * th.sin());
        let base = det(-50.0, -50.0, 100.0).keypoints;
        Detection {
            bbox: [cx - 50.0 * s, cy - 50.0 * s, cx + 50.0 * s, cy + 50.0 * s],
            keypoints: base.map(|[x, y]| [cx + a * x - b * y, cy + b * x + a * y]),
        }
    }

    #[test]
    fn keypoints_follow_an_accelerating_zooming_turning_face_without_lag() {
        // Noise-free detections: after the start-up the causal output sits on them (the
        // centroid and the similarity are constant-acceleration filters, the template exact).
        let mut t = Tracker::new(TrackerParams::default());
        for i in 0..120 {
            let d = accelerating(i);
            let out = t.push(frame(&[d])).unwrap();
            if i >= 60 {
                for (p, q) in out[0].keypoints.iter().zip(&d.keypoints) {
                    let e = (p[0] - q[0]).hypot(p[1] - q[1]);
                    assert!(e < 0.05, "frame {i}: {p:?} vs {q:?}");
                }
            }
        }
    }

    #[test]
    fn a_still_face_is_smoothed_harder_than_a_moving_one() {
        // ±1 px of alternating keypoint noise on a face moving at `speed` px per frame: how far
        // the output swings about the true keypoint once settled.
        let swing = |speed: f32| {
            let mut t = Tracker::new(TrackerParams::default());
            let mut swing = 0.0f32;
            for i in 0..100 {
                let x = 100.0 + speed * i as f32;
                let mut d = det(x, 100.0, 100.0);
                let n = if i % 2 == 0 { 1.0 } else { -1.0 };
                d.keypoints.iter_mut().for_each(|p| p[0] += n);
                let out = t.push(frame(&[d])).unwrap();
                if i >= 50 {
                    swing = swing.max((out[0].keypoints[0][0] - (x + 30.0)).abs());
                }
            }
            swing
        };
        let (still, moving) = (swing(0.0), swing(6.0));
        assert!(still < 0.2, "still: {still}");
        // The motion noise grows with the speed (less lag, less smoothing).
        assert!(moving > 1.5 * still, "still {still}, moving {moving}");
    }

    #[test]
    fn one_euro_method_keeps_ids_and_moves_on_through_misses() {
        let mut t = Tracker::new(TrackerParams { method: Method::OneEuro, ..Default::default() });
        let mut last = 0.0;
        for i in 0..40 {
            let x = 3.0 * i as f32;
            let dets = if (30..34).contains(&i) { vec![] } else { vec![det(x, 0.0, 100.0)] };
            let out = t.push(frame(&dets)).unwrap();
            assert_eq!(out.len(), 1);
            assert_eq!(out[0].track_id, 1);
            assert_eq!(out[0].predicted, (30..34).contains(&i), "frame {i}");
            let k = out[0].keypoints[0][0];
            if (30..34).contains(&i) {
                // Moving on at the filtered speed (3 px per frame), not frozen.
                assert!((k - last - 3.0).abs() < 0.3, "frame {i}: {k} after {last}");
            }
            last = k;
        }
    }

    #[test]
    fn one_euro_cutoffs_follow_the_frame_rate() {
        // The same measurements at 60 Hz instead of 30: each step is half as long, so the
        // low-pass moves less towards a step in the input.
        let step = |rate: f64| {
            let mut t = Tracker::new(TrackerParams { method: Method::OneEuro, ..Default::default() });
            t.set_frame_rate(rate);
            t.push(frame(&[det(0.0, 0.0, 100.0)]));
            t.push(frame(&[det(10.0, 0.0, 100.0)])).unwrap()[0].keypoints[0][0] - 30.0
        };
        let (at30, at60) = (step(30.0), step(60.0));
        assert!(at30 > 0.0 && at60 > 0.0 && at60 < at30, "{at30} {at60}");
    }

    #[test]
    fn a_detection_with_a_nan_keypoint_does_not_poison_the_track() {
        let mut t = Tracker::new(TrackerParams::default());
        for i in 0..20 {
            let mut d = det(2.0 * i as f32, 0.0, 100.0);
            if i == 10 {
                d.keypoints[2][1] = f32::NAN;
            }
            let out = t.push(frame(&[d])).unwrap();
            assert_eq!(out[0].track_id, 1);
            assert!(out[0].keypoints.iter().flatten().all(|v| v.is_finite()), "frame {i}: {:?}", out[0].keypoints);
        }
    }
}
