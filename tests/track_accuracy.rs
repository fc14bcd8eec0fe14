//! Accuracy of the tracker on synthetic motion with ground truth (no GStreamer): a face moving
//! along a known smooth path, seen through a noisy detector stand-in (3 % noise, 10 % misses, one
//! 8-frame dropout). Run with `--nocapture` to see the figures.

mod common;

use std::collections::BTreeSet;

use common::synthetic::{best_lag, crossing_truth, keypoint_rms, truth, NoisyDetector, Truth};
use gstghost::track::{Method, Tracker, TrackerParams};

const FRAMES: usize = 300;

type Kps = [[f32; 2]; 5];

struct Run {
    raw: Vec<Option<Kps>>,
    tracked: Vec<Option<Kps>>,
    predicted: Vec<bool>,
    ids: BTreeSet<u64>,
}

fn run(params: TrackerParams, seed: u64) -> Run {
    let truths: Vec<Truth> = (0..FRAMES).map(truth).collect();
    let mut detector = NoisyDetector::standard(seed);
    let mut tracker = Tracker::new(params);
    let mut raw = Vec::new();
    let mut outputs = Vec::new();
    for (i, t) in truths.iter().enumerate() {
        let dets = detector.detect(i, std::slice::from_ref(t));
        raw.push(dets.first().map(|d| d.keypoints));
        outputs.extend(tracker.push(Some(dets.into_iter().map(|d| (d, ())).collect())));
    }
    outputs.extend(tracker.drain());
    assert_eq!(outputs.len(), FRAMES);
    let mut ids = BTreeSet::new();
    let mut tracked = Vec::new();
    let mut predicted = Vec::new();
    for faces in &outputs {
        ids.extend(faces.iter().map(|f| f.track_id));
        tracked.push(faces.first().map(|f| f.keypoints));
        predicted.push(faces.first().is_some_and(|f| f.predicted));
    }
    Run { raw, tracked, predicted, ids }
}

/// Error of the tracker output on the frames that have a raw detection (the same frames as the
/// raw error), so the ratio compares like with like.
fn error_on_detected_frames(run: &Run, truths: &[Truth]) -> f64 {
    let masked: Vec<Option<Kps>> = run.tracked.iter().zip(&run.raw).map(|(t, r)| r.and(*t)).collect();
    keypoint_rms(&masked, truths, 0)
}

#[test]
fn kalman_tracker_beats_raw_detections_on_a_synthetic_path() {
    let truths: Vec<Truth> = (0..FRAMES).map(truth).collect();
    if std::env::var_os("SWEEP").is_some() {
        for pn in [0.3, 0.5, 0.7, 1.0, 1.5] {
            for mn in [0.6, 1.0, 1.5] {
                let mut line = format!("pn {pn} mn {mn}:");
                for seed in [1, 2, 3] {
                    let p = TrackerParams { process_noise: pn, measurement_noise: mn, ..Default::default() };
                    let c = run(p.clone(), seed);
                    let s = run(TrackerParams { lookahead: 4, ..p }, seed);
                    let raw = keypoint_rms(&c.raw, &truths, 0);
                    line += &format!(" [{:.2} lag {} / {:.2}]", error_on_detected_frames(&c, &truths) / raw, best_lag(&c.tracked, &truths, 5), error_on_detected_frames(&s, &truths) / raw);
                }
                println!("{line}");
            }
        }
    }
    for seed in [1, 2, 3] {
        let causal = run(TrackerParams::default(), seed);
        let raw_err = keypoint_rms(&causal.raw, &truths, 0);
        let causal_err = error_on_detected_frames(&causal, &truths);
        let causal_lag = best_lag(&causal.tracked, &truths, 5);
        let gap_err = {
            let gap: Vec<Option<Kps>> = (0..FRAMES).map(|i| if (150..158).contains(&i) { causal.tracked[i] } else { None }).collect();
            keypoint_rms(&gap, &truths, 0)
        };

        let smooth = run(TrackerParams { lookahead: 4, ..Default::default() }, seed);
        let smooth_err = error_on_detected_frames(&smooth, &truths);
        let smooth_lag = best_lag(&smooth.tracked, &truths, 5);

        let ghost = run(TrackerParams { lookahead: 2, method: Method::Ghost, ..Default::default() }, seed);
        let ghost_err = error_on_detected_frames(&ghost, &truths);

        println!(
            "seed {seed}: face height {:.0}-{:.0} px; raw keypoint RMS {raw_err:.2} px; causal kalman {causal_err:.2} px \
             (ratio {:.2}, lag {causal_lag}); lookahead=4 {smooth_err:.2} px (ratio {:.2}, lag {smooth_lag}); \
             ghost rule (lookahead=2) {ghost_err:.2} px (ratio {:.2}); dropout frames 150-157 causal error {gap_err:.2} px; ids {:?}",
            truths.iter().map(|t| t.height()).fold(f32::MAX, f32::min),
            truths.iter().map(|t| t.height()).fold(0.0, f32::max),
            causal_err / raw_err,
            smooth_err / raw_err,
            ghost_err / raw_err,
            causal.ids,
        );
        assert!(causal_err <= 0.6 * raw_err, "causal ratio {}", causal_err / raw_err);
        assert!(causal_lag.abs() <= 1, "causal lag {causal_lag}");
        assert!(smooth_err <= 0.4 * raw_err, "lookahead ratio {}", smooth_err / raw_err);
        assert!(smooth_lag.abs() <= 1, "lookahead lag {smooth_lag}");
        for r in [&causal, &smooth, &ghost] {
            assert_eq!(r.ids, BTreeSet::from([1]), "one id for the whole clip");
            let first = r.raw.iter().position(Option::is_some).unwrap();
            assert!(r.tracked[first..].iter().all(Option::is_some), "a face on every frame from the first detection on");
            assert!((150..158).all(|i| r.predicted[i]), "dropout filled with predictions");
        }
    }
}

#[test]
fn two_faces_crossing_paths_keep_their_ids() {
    let frames = 120;
    for seed in [1, 2, 3, 4, 5] {
        let mut detector = NoisyDetector { dropout: 0..0, ..NoisyDetector::standard(seed) };
        let mut tracker = Tracker::new(TrackerParams::default());
        let mut outputs = Vec::new();
        let mut ids: [Option<u64>; 2] = [None, None];
        for i in 0..frames {
            let t = crossing_truth(i, frames);
            let dets = detector.detect(i, &t);
            outputs.extend(tracker.push(Some(dets.into_iter().map(|d| (d, ())).collect())));
        }
        for (i, faces) in outputs.iter().enumerate() {
            let t = crossing_truth(i, frames);
            // Both faces are reported once each has been detected (the first frames may miss).
            if i >= 10 {
                assert_eq!(faces.len(), 2, "seed {seed} frame {i}");
            }
            for f in faces {
                let cy = (f.bbox[1] + f.bbox[3]) / 2.0;
                // A runs at y = 200, B at y = 280; each keeps the id it got first.
                let which = if (cy - 200.0).abs() < (cy - 280.0).abs() { 0 } else { 1 };
                let id = *ids[which].get_or_insert(f.track_id);
                assert_eq!(f.track_id, id, "seed {seed} frame {i}: {f:?} truth {:?}", t[which].bbox);
            }
        }
        assert_ne!(ids[0], ids[1]);
        assert!(ids.iter().all(|id| id.is_some_and(|id| id <= 2)), "no extra tracks: {ids:?}");
    }
    println!("two crossing faces: each keeps its id over 120 frames, 5 seeds");
}

#[test]
fn the_synthetic_clip_renders_the_face_on_its_path() {
    let photo = common::synthetic::photo();
    for i in [0, 120, 299] {
        let img = common::synthetic::render(&photo, i);
        assert_eq!((img.width, img.height), (common::synthetic::WIDTH, common::synthetic::HEIGHT));
        let nose = truth(i).keypoints[2];
        assert_ne!(img.get(nose[0] as usize, nose[1] as usize), [96, 110, 96], "frame {i}: face at the true nose");
        assert_eq!(img.get(2, 2), [96, 110, 96], "frame {i}: background in the corner");
    }
}
