// SPDX-License-Identifier: MIT OR Apache-2.0
//! Aspect-preserving letterbox for the SCRFD detector input (insightface `SCRFD.detect`).

use super::image::RgbImage;
use super::pixel::PackedFrame;
use super::resize::{resize_packed_into, Filter};

/// insightface SCRFD letterbox: fits the frame into `dst_w x dst_h` keeping the aspect ratio
/// (`new_w = int(new_h / im_ratio)` or `new_h = int(new_w * im_ratio)`), resizes it bilinearly (cv2 INTER_LINEAR,
/// no antialiasing, exactly as insightface) straight from the packed frame, and places it at the top-left of a
/// black canvas. Returns the canvas and `det_scale = new_h / h` (divide detections by it to get frame pixels).
pub fn letterbox_packed(src: &PackedFrame, dst_w: usize, dst_h: usize) -> (RgbImage, f64) {
    let mut canvas = RgbImage::new(dst_w, dst_h);
    if src.width == 0 || src.height == 0 || dst_w == 0 || dst_h == 0 {
        return (canvas, 0.0);
    }
    let im_ratio = src.height as f64 / src.width as f64;
    let model_ratio = dst_h as f64 / dst_w as f64;
    let (new_w, new_h) = if im_ratio > model_ratio {
        ((dst_h as f64 / im_ratio) as usize, dst_h)
    } else {
        (dst_w, (dst_w as f64 * im_ratio) as usize)
    };
    // At least one pixel: a very thin frame must not collapse to nothing (and a zero scale).
    let (new_w, new_h) = (new_w.clamp(1, dst_w), new_h.clamp(1, dst_h));
    let scale = new_h as f64 / src.height as f64;
    resize_packed_into(src, new_w, new_h, Filter::Bilinear, &mut canvas.data, dst_w * 3);
    (canvas, scale)
}

#[cfg(test)]
mod tests {
    use super::super::pixel::PixelLayout;
    use super::*;

    #[test]
    fn thin_frames_keep_at_least_one_pixel() {
        let buf = vec![9u8; 4000 * 3];
        let (img, scale) = letterbox_packed(&PackedFrame::new(&buf, 4000, 1, 4000 * 3, PixelLayout::Rgb), 640, 640);
        assert_eq!(scale, 1.0);
        assert_eq!((img.get(0, 0), img.get(639, 0), img.get(0, 1)), ([9, 9, 9], [9, 9, 9], [0, 0, 0]));
        let (_, scale) = letterbox_packed(&PackedFrame::new(&buf[..3], 1, 1, 3, PixelLayout::Rgb), 640, 640);
        assert_eq!(scale, 640.0);
    }

    #[test]
    fn landscape_frame_into_640() {
        // 1280x720 BGRx frame, uniform grey with one white 4x4 block at (400..404, 200..204).
        let (w, h, stride) = (1280, 720, 1280 * 4);
        let mut buf = vec![50u8; stride * h];
        for y in 200..204 {
            for x in 400..404 {
                buf[y * stride + x * 4..y * stride + x * 4 + 3].fill(255);
            }
        }
        let f = PackedFrame::new(&buf, w, h, stride, PixelLayout::Bgrx);
        let (img, scale) = letterbox_packed(&f, 640, 640);
        assert_eq!(scale, 360.0 / 720.0);
        // Exact 2x downscale: dst (201,101) averages src (402..404, 202..204) = all white.
        assert_eq!(img.get(201, 101), [255, 255, 255]);
        assert_eq!(img.get(199, 99), [50, 50, 50]);
        assert_eq!(img.get(639, 359), [50, 50, 50]);
        assert_eq!(img.get(0, 360), [0, 0, 0]); // padding below the image
    }

    #[test]
    fn portrait_frame_and_truncation() {
        // 300x500 → im_ratio 5/3 > 1: new_h = 640, new_w = int(640 / (500/300)) = 384 (Python gives 384.0).
        let buf = vec![7u8; 300 * 500 * 3];
        let f = PackedFrame::new(&buf, 300, 500, 900, PixelLayout::Rgb);
        let (img, scale) = letterbox_packed(&f, 640, 640);
        assert_eq!(scale, 640.0 / 500.0);
        assert_eq!(img.get(383, 639), [7, 7, 7]);
        assert_eq!(img.get(384, 0), [0, 0, 0]);
        // 333x100 into 640x640: new_w = 640, new_h = int(640 * 100/333) = 192 (192.19 truncated).
        let buf = vec![9u8; 333 * 100 * 3 + 1];
        let f = PackedFrame::new(&buf, 333, 100, 999, PixelLayout::Bgr);
        let (img, scale) = letterbox_packed(&f, 640, 640);
        assert_eq!(scale, 192.0 / 100.0);
        assert_eq!(img.get(639, 191), [9, 9, 9]);
        assert_eq!(img.get(639, 192), [0, 0, 0]);
    }
}
