// SPDX-License-Identifier: MIT OR Apache-2.0
//! Per-face cost of everything around the generator (ghostfaceswap): the aligned crop (warp to
//! 224 + resize to 256, or one warp for `frontal`), the generator input tensor and the output
//! conversion, on a 1920x1080 frame. Usage: cargo run --release --example bench_swap

use gstghost::models::align::{generator_crop, CropMode};
use gstghost::models::swapper::{generator_input, generator_output};
use gstghost::vision::{resize_rgb, Filter, PackedFrame, PixelLayout, RgbImage};

#[path = "common/mod.rs"]
mod common;
use common::median_ms;

fn main() {
    let photo = image::open(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/obama.jpg")).unwrap().to_rgb8();
    let photo = RgbImage::from_raw(photo.width() as usize, photo.height() as usize, photo.into_raw());
    // Place the photo (scaled to 1080 high) on a 1920x1080 BGRx frame.
    let scaled = resize_rgb(&photo, 864, 1080, Filter::Area);
    let (w, h) = (1920usize, 1080usize);
    let mut frame = vec![0u8; w * h * 4];
    for y in 0..h {
        for x in 0..scaled.width {
            let p = scaled.get(x, y);
            let i = (y * w + x + 500) * 4;
            frame[i..i + 3].copy_from_slice(&[p[2], p[1], p[0]]);
        }
    }
    let packed = PackedFrame::new(&frame, w, h, w * 4, PixelLayout::Bgrx);
    // MTCNN reference keypoints of obama.jpg, mapped into this frame.
    let s = 1080.0 / 1137.0;
    let kps = [[444.985, 214.894], [547.618, 212.874], [496.226, 277.273], [437.764, 319.935], [552.598, 317.040]]
        .map(|p: [f32; 2]| [p[0] * s + 500.0, p[1] * s]);

    println!("per-face cost around the generator, 1920x1080 BGRx frame, face ~{} px wide", (240.0 * s) as u32);
    for mode in [CropMode::Ghost, CropMode::Frontal] {
        let crop_ms = median_ms(5, 200, || drop(generator_crop(&packed, &kps, mode)));
        let (crop, _) = generator_crop(&packed, &kps, mode);
        let mut tensor = Vec::with_capacity(3 * 256 * 256);
        let input_ms = median_ms(5, 200, || {
            tensor.clear();
            generator_input(&crop, &mut tensor)
        });
        let output_ms = median_ms(5, 200, || drop(generator_output(&tensor)));
        println!(
            "{mode:?}: crop {crop_ms:.2} ms + input tensor {input_ms:.2} ms + output {output_ms:.2} ms = {:.2} ms per face",
            crop_ms + input_ms + output_ms
        );
    }
}
