// SPDX-License-Identifier: MIT OR Apache-2.0
//! Milliseconds per face for ghostfaceblend's work at 1920x1080 (BGRx), template mask, a 256 and a 512 crop
//! covering the same ~540x540 face region (~0.3 megapixel): mask construction, compositing, and the whole
//! per-face step as the element runs it (template mask cached per crop size). Median of many runs.
//!
//!     cargo run --example bench_blend        (the dev profile is already opt-level 2)

use std::sync::Arc;

use gstghost::blend::{BlendConfig, Blender, ColorCorrect};
use gstghost::meta::{Face, SwapResult};
use gstghost::vision::composite_support;
use gstghost::vision::facemask::{self, MaskParams};
use gstghost::vision::{
    scaled_template, umeyama, warp_affine_packed, Border, PackedFrame, PackedFrameMut, PixelLayout, ARCFACE_112_V1,
};

#[path = "common/mod.rs"]
mod common;
use common::median_ms;

fn main() {
    let (w, h) = (1920usize, 1080usize);
    let stride = w * 4;
    let mut frame: Vec<u8> = (0..stride * h).map(|i| ((i * 31) ^ (i / stride * 7)) as u8).collect();
    {
        // Calibration: a 256 crop with a full mask at scale 1 = exactly 65536 frame pixels composited.
        let img = gstghost::vision::RgbImage::new(256, 256);
        let mut mask = gstghost::vision::MaskF32::new(256, 256);
        mask.data.fill(0.5);
        let m = gstghost::vision::Affine2::translate(-100.0, -100.0);
        let ms = median_ms(1, 50, || {
            let mut f = PackedFrameMut::new(&mut frame, w, h, stride, PixelLayout::Bgrx);
            composite_support(&mut f, &img, &mask, &m, 1.0);
        });
        println!("calibration: {:.1} ns per composited pixel ({ms:.2} ms for 65536 px)", ms * 1e6 / 65536.0);
    }
    let face_px = 540.0; // size of the crop's footprint in the frame
    for crop in [256usize, 512] {
        let t = scaled_template(&ARCFACE_112_V1, crop as f64 / 112.0, 0.0);
        let s = face_px / crop as f64;
        let (sn, cs) = 12f64.to_radians().sin_cos();
        let c = crop as f64 / 2.0;
        let kps = t.map(|[x, y]| {
            let (dx, dy) = ((x - c) * s, (y - c) * s);
            [960.0 + cs * dx - sn * dy, 540.0 + sn * dx + cs * dy]
        });
        let m = umeyama(&kps, &t);
        let pf = PackedFrame::new(&frame, w, h, stride, PixelLayout::Bgrx);
        let img = warp_affine_packed(&pf, &m, crop, crop, Border::Replicate);
        let face = Face { swap: Some(SwapResult::new(Arc::new(img.clone()), m)), ..Default::default() };

        let mask_ms = median_ms(1, 30, || {
            let m = facemask::to_crop_size(facemask::template_mask(&MaskParams::DEFAULT, 1.0, None), crop);
            std::hint::black_box(m);
        });
        let mask = facemask::to_crop_size(facemask::template_mask(&MaskParams::DEFAULT, 1.0, None), crop);
        let comp_ms = median_ms(1, 50, || {
            let mut f = PackedFrameMut::new(&mut frame, w, h, stride, PixelLayout::Bgrx);
            composite_support(&mut f, &img, &mask, &m, 1.0);
        });
        let mut blender = Blender::default();
        let cfg = BlendConfig::default();
        let total_ms = median_ms(1, 50, || {
            let mut f = PackedFrameMut::new(&mut frame, w, h, stride, PixelLayout::Bgrx);
            blender.process(&mut f, std::slice::from_ref(&face), &cfg).unwrap();
        });
        let cfg_r = BlendConfig { color: ColorCorrect::Reinhard, ..Default::default() };
        let reinhard_ms = median_ms(1, 20, || {
            let mut f = PackedFrameMut::new(&mut frame, w, h, stride, PixelLayout::Bgrx);
            blender.process(&mut f, std::slice::from_ref(&face), &cfg_r).unwrap();
        });
        println!(
            "1920x1080 BGRx, {crop} crop over a {face_px:.0}px face: mask build {mask_ms:.2} ms (cached by the element), \
             composite {comp_ms:.2} ms, per face (element path, template) {total_ms:.2} ms, with reinhard {reinhard_ms:.2} ms"
        );
    }
}
