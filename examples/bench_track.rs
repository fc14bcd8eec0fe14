// SPDX-License-Identifier: MIT OR Apache-2.0
//! Tracking accuracy on rendered clips with exact ground truth:
//! `cargo run --release --example bench_track` (the dev profile is optimised too).
//!
//! Renders a photo from `tests/data` moving along known paths (still, slow, fast, accelerating,
//! zoom-rotate, mixed; 30 fps), runs the built-in MTCNN on every frame and the tracker on its
//! detections in each method and lookahead, and prints per clip the raw detections' jitter and
//! error (percent of the eye distance) and every tracker's as multiples of the raw ones. Jitter:
//! mean length of a keypoint's second difference; error: mean distance from the true keypoint.
//!
//! Detections are cached in `target/bench_track/` (delete it after changing the detector).
//! `--kalman key=value,...` and `--one-euro key=value,...` override the tuning (see
//! `KalmanTuning` and `OneEuroParams`), e.g. `--kalman centroid_q=0.004 --one-euro beta=2`.

#[path = "common/checkout_env.rs"]
mod checkout_env;
#[path = "../tests/common/synthetic.rs"]
mod synthetic;

use std::path::PathBuf;

use clap::Parser;
use gstghost::models::{resolve_model, Detector, DetectorParams};
use gstghost::runtime::{ExecutionProvider, SessionOptions};
use gstghost::track::{Detection, KalmanTuning, Method, OneEuroParams, Tracker, TrackerParams};
use gstghost::vision::PackedFrame;
use synthetic::{figures, Clip, Figures, Motion, Photo, Truth};

type Kps = [[f32; 2]; 5];

#[derive(Parser, Debug)]
#[command(about = "Tracker jitter and error on rendered clips, with the built-in MTCNN as the detector")]
struct Args {
    /// Clip sets, comma-separated PHOTO:WxH:EYE[:PHASE] (eye distance in pixels; the phase
    /// shifts the paths)
    #[arg(long, value_delimiter = ',', default_value = "obama:960x540:90,biden:960x540:90:1.0,obama:1280x720:130:2.0")]
    sets: Vec<String>,
    /// Motions (still, slow, fast, accelerating, zoom-rotate, mixed); default all
    #[arg(long, value_delimiter = ',')]
    motions: Vec<String>,
    #[arg(long, default_value_t = 150)]
    frames: usize,
    /// Kalman tuning overrides, key=value,...
    #[arg(long, default_value = "")]
    kalman: String,
    /// One Euro overrides (min_cutoff, beta, d_cutoff), key=value,...
    #[arg(long, default_value = "")]
    one_euro: String,
    /// Scale factor on the Kalman process noise (the element's process-noise)
    #[arg(long, default_value_t = 1.0)]
    process_noise: f64,
    /// Print one summary line (means over the moving clips) instead of the table
    #[arg(long)]
    summary: bool,
}

fn overrides(spec: &str) -> Vec<(String, f64)> {
    spec.split(',')
        .filter(|s| !s.is_empty())
        .map(|kv| {
            let (k, v) = kv.split_once('=').unwrap_or_else(|| panic!("{kv}: expected key=value"));
            (k.trim().to_string(), v.trim().parse().unwrap_or_else(|_| panic!("{kv}: not a number")))
        })
        .collect()
}

fn tuned(args: &Args) -> TrackerParams {
    let mut p = TrackerParams { process_noise: args.process_noise, ..Default::default() };
    let k: &mut KalmanTuning = &mut p.kalman;
    for (key, v) in overrides(&args.kalman) {
        match key.as_str() {
            "centroid_order" => k.centroid_order = v as usize,
            "centroid_q" => k.centroid_q = v,
            "shape_order" => k.shape_order = v as usize,
            "shape_q" => k.shape_q = v,
            "template_rate" => k.template_rate = v,
            "box_order" => k.box_order = v as usize,
            "box_q" => k.box_q = v,
            "keypoint_r" => k.keypoint_r = v,
            "box_r" => k.box_r = v,
            "speed_gain" => k.speed_gain = v,
            other => panic!("unknown Kalman setting {other}"),
        }
    }
    let e: &mut OneEuroParams = &mut p.one_euro;
    for (key, v) in overrides(&args.one_euro) {
        match key.as_str() {
            "min_cutoff" => e.min_cutoff = v,
            "beta" => e.beta = v,
            "d_cutoff" => e.d_cutoff = v,
            other => panic!("unknown One Euro setting {other}"),
        }
    }
    p
}

struct ClipRun {
    name: String,
    moving: bool,
    truth: Vec<Truth>,
    detections: Vec<Vec<Detection>>,
}

fn parse_set(s: &str) -> (String, usize, usize, f64, f64) {
    let parts: Vec<&str> = s.split(':').collect();
    assert!(parts.len() >= 3, "{s}: expected PHOTO:WxH:EYE[:PHASE]");
    let (w, h) = parts[1].split_once('x').expect("WxH");
    let phase = parts.get(3).map_or(0.0, |p| p.parse().expect("phase"));
    (parts[0].to_string(), w.parse().expect("width"), h.parse().expect("height"), parts[2].parse().expect("eye"), phase)
}

fn cache_path(key: &str) -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target"));
    target.join("bench_track").join(format!("{key}.json"))
}

fn detect_clip(detector: &mut Detector, photo: &Photo, clip: &Clip, key: &str) -> Vec<Vec<Detection>> {
    let path = cache_path(key);
    if let Some(cached) =
        std::fs::read_to_string(&path).ok().and_then(|s| serde_json::from_str::<Vec<Vec<[f32; 14]>>>(&s).ok())
    {
        return cached
            .into_iter()
            .map(|f| {
                f.into_iter()
                    .map(|v| Detection {
                        bbox: [v[0], v[1], v[2], v[3]],
                        keypoints: std::array::from_fn(|k| [v[4 + 2 * k], v[5 + 2 * k]]),
                    })
                    .collect()
            })
            .collect();
    }
    let params = DetectorParams::default();
    let dets: Vec<Vec<Detection>> = (0..clip.frames)
        .map(|i| {
            let img = clip.render(photo, i);
            let faces = detector.detect(&PackedFrame::from_rgb(&img), &params).expect("detect");
            faces.into_iter().map(|f| Detection { bbox: f.bbox, keypoints: f.keypoints }).collect()
        })
        .collect();
    let flat: Vec<Vec<[f32; 14]>> = dets
        .iter()
        .map(|f| {
            f.iter()
                .map(|d| {
                    let mut v = [0.0; 14];
                    v[..4].copy_from_slice(&d.bbox);
                    for (k, p) in d.keypoints.iter().enumerate() {
                        v[4 + 2 * k] = p[0];
                        v[5 + 2 * k] = p[1];
                    }
                    v
                })
                .collect()
        })
        .collect();
    std::fs::create_dir_all(path.parent().unwrap()).ok();
    std::fs::write(&path, serde_json::to_string(&flat).unwrap()).ok();
    dets
}

/// Runs the tracker over the clip; the first track's keypoints per frame.
fn track(params: &TrackerParams, detections: &[Vec<Detection>]) -> Vec<Option<Kps>> {
    let mut tracker = Tracker::new(params.clone());
    let mut out = Vec::new();
    for dets in detections {
        out.extend(tracker.push(Some(dets.iter().map(|d| (*d, ())).collect())));
    }
    out.extend(tracker.drain());
    out.iter().map(|faces| faces.first().map(|f| f.keypoints)).collect()
}

fn main() {
    checkout_env::default_environment();
    let args = Args::parse();
    let base = tuned(&args);
    let motions: Vec<Motion> = if args.motions.is_empty() {
        Motion::ALL.to_vec()
    } else {
        args.motions
            .iter()
            .map(|m| *Motion::ALL.iter().find(|x| x.name() == m).unwrap_or_else(|| panic!("unknown motion {m}")))
            .collect()
    };
    let opts = SessionOptions { provider: ExecutionProvider::Cpu, ..Default::default() };
    let mut detector =
        Detector::open(&resolve_model("mtcnn").expect("mtcnn models (./ghost.sh setup)"), &opts).expect("open mtcnn");

    let mut clips = Vec::new();
    for set in &args.sets {
        let (photo_name, width, height, eye_px, phase) = parse_set(set);
        let photo = Photo::by_name(&photo_name);
        for &motion in &motions {
            let pixel_noise = if motion == Motion::Still { 3.0 } else { 0.0 };
            let clip = Clip { width, height, frames: args.frames, eye_px, motion, phase, pixel_noise };
            let name = format!("{photo_name} {width}x{height} eye {eye_px} {}", motion.name());
            let key = format!(
                "{photo_name}_{width}x{height}_{eye_px}_{phase}_{pixel_noise}_{}_{}",
                motion.name(),
                args.frames
            );
            let truth: Vec<Truth> = (0..clip.frames).map(|i| clip.truth(&photo, i)).collect();
            let detections = detect_clip(&mut detector, &photo, &clip, &key);
            clips.push(ClipRun { name, moving: motion != Motion::Still, truth, detections });
        }
    }

    let variants: Vec<(String, TrackerParams)> = vec![
        ("kalman la=0".into(), TrackerParams { method: Method::Kalman, lookahead: 0, ..base.clone() }),
        ("one-euro la=0".into(), TrackerParams { method: Method::OneEuro, lookahead: 0, ..base.clone() }),
        ("kalman la=2".into(), TrackerParams { method: Method::Kalman, lookahead: 2, ..base.clone() }),
        ("kalman la=4".into(), TrackerParams { method: Method::Kalman, lookahead: 4, ..base.clone() }),
        ("ghost la=2".into(), TrackerParams { method: Method::Ghost, lookahead: 2, ..base.clone() }),
    ];

    let mut sums = vec![(0.0f64, 0.0f64, 0.0f64, 0.0f64); variants.len()];
    let mut n_moving = 0.0;
    let mut worst = vec![(0.0f64, 0.0f64); variants.len()];
    if !args.summary {
        print!("| clip | detected | raw jitter % | raw error % |");
        for (name, _) in &variants {
            print!(" {name} jitter × | error × |");
        }
        println!();
        println!("|---|---:|---:|---:|{}", "---:|---:|".repeat(variants.len()));
    }
    for c in &clips {
        let raw: Vec<Option<Kps>> = c.detections.iter().map(|d| d.first().map(|d| d.keypoints)).collect();
        if let Some(dir) = std::env::var_os("BENCH_TRACK_DUMP") {
            let mut csv = String::new();
            for (t, r) in c.truth.iter().zip(&raw) {
                let r = r.unwrap_or([[f32::NAN; 2]; 5]);
                let v: Vec<String> = t.keypoints.iter().chain(&r).flatten().map(|v| v.to_string()).collect();
                csv += &(v.join(",") + "\n");
            }
            std::fs::write(PathBuf::from(dir).join(format!("{}.csv", c.name.replace(' ', "_"))), csv).unwrap();
        }
        let detected = raw.iter().filter(|r| r.is_some()).count();
        let r = figures(&raw, &raw, &c.truth);
        let ratios: Vec<Figures> = variants
            .iter()
            .map(|(_, p)| {
                let f = figures(&track(p, &c.detections), &raw, &c.truth);
                Figures { jitter: f.jitter / r.jitter, error: f.error / r.error }
            })
            .collect();
        if c.moving {
            n_moving += 1.0;
        }
        for (i, f) in ratios.iter().enumerate() {
            if c.moving {
                sums[i].0 += f.jitter;
                sums[i].1 += f.error;
                worst[i].0 = worst[i].0.max(f.jitter);
                worst[i].1 = worst[i].1.max(f.error);
            } else {
                sums[i].2 += f.jitter;
                sums[i].3 += 1.0;
            }
        }
        if !args.summary {
            print!("| {} | {detected}/{} | {:.2} | {:.2} |", c.name, c.truth.len(), 100.0 * r.jitter, 100.0 * r.error);
            for f in &ratios {
                print!(" {:.2} | {:.2} |", f.jitter, f.error);
            }
            println!();
        }
    }
    println!("\nmoving clips: mean (worst) jitter × and error ×; still: mean jitter ×");
    for (i, (name, _)) in variants.iter().enumerate() {
        let (j, e, sj, sn) = sums[i];
        println!(
            "{name:<14} jitter {:.3} ({:.3})  error {:.3} ({:.3})  still jitter {:.3}",
            j / n_moving,
            worst[i].0,
            e / n_moving,
            worst[i].1,
            sj / sn.max(1.0)
        );
    }
}
