// SPDX-License-Identifier: MIT OR Apache-2.0
//! The second test target: ONNX files made by `plugin-data/tools/export_ghost.py` from random
//! checkpoints with the official layouts, loaded by our elements. Needs PyTorch, so it is not part of
//! the default `cargo test`; run `plugin-data/tools/tests_export.sh`, which exports into
//! $GHOST_EXPORT_DIR and then runs `cargo test --features export-tests --test exported_models`
//! (the test target is only built with that feature).

mod common;

use std::path::PathBuf;
use std::time::Instant;

use common::photo;
use gstghost::meta::FacesMeta;
use gstghost::runtime::{load_session, ExecutionProvider, SessionOptions};

fn exported(name: &str) -> PathBuf {
    let dir =
        std::env::var_os("GHOST_EXPORT_DIR").expect("set GHOST_EXPORT_DIR (plugin-data/tools/tests_export.sh does)");
    let p = PathBuf::from(dir).join(name);
    assert!(p.is_file(), "{} is missing: run plugin-data/tools/tests_export.sh", p.display());
    p
}

#[test]
fn exported_generator_and_arcface_run_inside_ghostfaceswap() {
    let gen = exported("ghost_unet_2blocks.onnx");
    let arc = exported("arcface_ghost_iresnet100.onnx");
    let img = photo("obama.jpg");
    let middle = format!(
        "ghostfacedetect ! ghostfaceswap model={} recognizer={} source={}",
        gen.display(),
        arc.display(),
        common::data("biden.jpg").display()
    );
    let t = Instant::now();
    let out = common::run_frames(&middle, std::slice::from_ref(&img)).unwrap();
    eprintln!(
        "ghostfaceswap with the exported generator: one frame in {:.1} s (includes loading)",
        t.elapsed().as_secs_f64()
    );
    let meta = FacesMeta::from_buffer(&out[0]).expect("face meta");
    let swapped: Vec<_> = meta.faces.iter().filter_map(|f| f.swap.as_ref()).collect();
    assert!(!swapped.is_empty(), "a face was swapped");
    let crop = &swapped[0].crop;
    assert_eq!((crop.width, crop.height), (256, 256));
    // Random weights: the crop is not a face, but it is a real tanh output, not a constant.
    let (lo, hi) = crop.data.iter().fold((255u8, 0u8), |(l, h), &v| (l.min(v), h.max(v)));
    assert!(hi > lo, "the generator output varies");
}

#[test]
fn exported_sr_has_the_enhancer_contract() {
    // The ghostfaceenhance element lives on another branch; here the exported SR net is loaded
    // through our runtime and run on one face: (N,3,256,256) in [0,1] -> (N,3,256,256).
    let path = exported("ghost_sr_lipspade.onnx");
    let options = SessionOptions { provider: ExecutionProvider::Cpu, ..Default::default() };
    let session = load_session(&path, &options).unwrap();
    assert_eq!(session.meta("gst_ghost_family"), Some("ghost-sr"));
    assert_eq!(session.inputs[0].name, "input");
    assert_eq!(session.inputs[0].dims, vec![-1, 3, 256, 256]);
    let img = photo("obama.jpg");
    let mut x = vec![0f32; 3 * 256 * 256];
    for y in 0..256 {
        for xx in 0..256 {
            let px = &img.data[((y * img.height / 256) * img.width + xx * img.width / 256) * 3..][..3];
            for c in 0..3 {
                x[c * 65536 + y * 256 + xx] = px[c] as f32 / 255.0;
            }
        }
    }
    let t = ort::value::TensorRef::from_array_view(([1usize, 3, 256, 256], x.as_slice())).unwrap();
    let mut guard = session.lock();
    let outputs = guard.run(ort::inputs!["input" => t]).unwrap();
    let (shape, y) = outputs[0].try_extract_tensor::<f32>().unwrap();
    assert_eq!(&shape[..], &[1, 3, 256, 256]);
    assert!(y.iter().all(|v| v.is_finite() && (-1.0..=1.0).contains(v)));
}
