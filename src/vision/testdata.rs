// SPDX-License-Identifier: MIT OR Apache-2.0
//! Test-only helpers to decode the fixtures in `tests/data/vision/` (see `plugin-data/tools/vision_fixtures.py`).

/// Parses a whitespace-separated numeric text fixture into rows, skipping `#` comment lines.
pub fn rows(text: &str) -> Vec<Vec<f64>> {
    text.lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .map(|l| l.split_whitespace().map(|t| t.parse::<f64>().unwrap()).collect())
        .collect()
}

/// Decodes little-endian f32 raw data.
pub fn f32s(bytes: &[u8]) -> Vec<f32> {
    bytes.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect()
}

/// The 61x47 RGB source image shared by the warp/resize fixtures.
pub fn src_rgb() -> super::RgbImage {
    super::RgbImage::from_raw(61, 47, include_bytes!("../../tests/data/vision/src_61x47_rgb.bin").to_vec())
}

/// The 61x47 float mask shared by warp/resize fixtures.
pub fn src_mask() -> super::MaskF32 {
    super::MaskF32::from_raw(61, 47, f32s(include_bytes!("../../tests/data/vision/mask_61x47_f32.bin")))
}

/// Maximum absolute difference between two byte buffers (panics on length mismatch).
pub fn max_diff_u8(a: &[u8], b: &[u8]) -> u8 {
    assert_eq!(a.len(), b.len());
    a.iter().zip(b).map(|(x, y)| x.abs_diff(*y)).max().unwrap_or(0)
}

/// Maximum absolute difference between two float buffers (panics on length mismatch).
pub fn max_diff_f32(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
}

/// A smooth, colourful `n`×`n` test image (every channel varies, nothing saturates).
pub(crate) fn textured(n: usize) -> super::RgbImage {
    let mut img = super::RgbImage::new(n, n);
    for y in 0..n {
        for x in 0..n {
            let (fx, fy) = (x as f32 / n as f32, y as f32 / n as f32);
            let r = 128.0 + 100.0 * (fx * 9.0).sin() * (fy * 7.0).cos();
            let g = 60.0 + 150.0 * fx * fy;
            let b = 128.0 + 90.0 * ((fx + fy) * 5.0).cos();
            img.set(x, y, [r as u8, g as u8, b as u8]);
        }
    }
    img
}
