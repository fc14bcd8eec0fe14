// SPDX-License-Identifier: MIT OR Apache-2.0
//! The calibration crop maker: the crops committed in tests/data/calibration (from which the set-up
//! quantizes the int8 test generator) are exactly what it makes, and its augmentations move the
//! keypoints by the similarity they state.

use std::path::{Path, PathBuf};

use ghost_models::calibration::{self, Jitter, Rng};
use gstghost::models::DetectorParams;

fn checkout() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
}

/// Without `./ghost.sh`, the checkout's set-up (the plugin has no checkout path compiled in).
fn default_environment() {
    if std::env::var_os("GHOST_ORT_LIBRARY").is_none() {
        let lib = checkout().join(".deps/onnxruntime").join(gstghost::runtime::LIB_VERSIONED);
        std::env::set_var("GHOST_ORT_LIBRARY", lib);
    }
    if std::env::var_os("GHOST_MODEL_PATH").is_none() {
        std::env::set_var("GHOST_MODEL_PATH", checkout().join("models"));
    }
}

/// The arguments that made tests/data/calibration (also written in plugin-data/tools/TEST_MODELS.md).
fn committed_crop_args(out: PathBuf) -> calibration::Args {
    let data = checkout().join("tests/data");
    calibration::Args {
        inputs: vec![data.join("obama.jpg"), data.join("biden.jpg")],
        out,
        augment: 3,
        no_flip: false,
        seed: 0,
        min_face_size: DetectorParams::DEFAULT.min_face_size,
        score_threshold: 0.9,
    }
}

#[test]
fn the_committed_calibration_crops_are_what_the_crop_maker_makes() {
    default_environment();
    let out = std::env::temp_dir().join(format!("ghost-calibration-remade-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&out);
    let files = calibration::run(&committed_crop_args(out.clone())).unwrap();
    let committed = checkout().join("tests/data/calibration");
    let mut names: Vec<String> = std::fs::read_dir(&committed)
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.ends_with(".png"))
        .collect();
    names.sort();
    let mut made: Vec<String> = files.iter().map(|p| p.file_name().unwrap().to_string_lossy().into_owned()).collect();
    made.sort();
    assert_eq!(made, names, "file names");
    // One face per photo and mirror: the sleeve MTCNN scores 0.99 in obama.jpg is not a face here.
    assert!(names.iter().all(|n| n.contains("_f0_")), "{names:?}");
    for name in &names {
        let (a, b) =
            (image::open(out.join(name)).unwrap().to_rgb8(), image::open(committed.join(name)).unwrap().to_rgb8());
        assert_eq!((a.width(), a.height()), (256, 256));
        assert!(a == b, "{name} differs from the committed crop");
    }
    assert_eq!(std::fs::read(out.join("index.tsv")).unwrap(), std::fs::read(committed.join("index.tsv")).unwrap());
    std::fs::remove_dir_all(&out).ok();
}

#[test]
fn augmentation_moves_keypoints_by_the_stated_similarity() {
    // SplitMix64's published first output for state 0: the augmentations never change under a new toolchain.
    assert_eq!(Rng(0).next_u64(), 0xe220_a839_7b1d_cdaf);
    let kps = [[100.0, 100.0], [140.0, 100.0], [120.0, 120.0], [104.0, 140.0], [136.0, 140.0]];
    assert_eq!(Jitter::NONE.move_keypoints(&kps), kps);
    // Centre (120, 120), eye distance 40: rotate 90 degrees, scale 0.5, shift (+0.1, 0) eye distances = (+4, 0).
    let j = Jitter { angle_deg: 90.0, scale: 0.5, shift: [0.1, 0.0], ..Jitter::NONE };
    let moved = j.move_keypoints(&kps);
    let expect = [[134.0, 110.0], [134.0, 130.0], [124.0, 120.0], [114.0, 112.0], [114.0, 128.0]];
    for (m, e) in moved.iter().zip(expect) {
        assert!((m[0] - e[0]).abs() < 1e-4 && (m[1] - e[1]).abs() < 1e-4, "{m:?} vs {e:?}");
    }
}
