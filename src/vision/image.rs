// SPDX-License-Identifier: MIT OR Apache-2.0
//! Owned, tightly packed image buffers used throughout the vision module.

/// Tightly packed RGB8 image (row stride = `width * 3`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RgbImage {
    pub width: usize,
    pub height: usize,
    pub data: Vec<u8>,
}

impl RgbImage {
    /// Black image of the given size.
    pub fn new(width: usize, height: usize) -> Self {
        Self { width, height, data: vec![0; width * height * 3] }
    }

    /// Wraps existing RGB8 data; panics if `data.len() != width * height * 3`.
    pub fn from_raw(width: usize, height: usize, data: Vec<u8>) -> Self {
        assert_eq!(data.len(), width * height * 3, "RgbImage::from_raw: wrong buffer length");
        Self { width, height, data }
    }

    /// Pixel at (x, y) as [R, G, B]; panics when out of bounds.
    #[inline]
    pub fn get(&self, x: usize, y: usize) -> [u8; 3] {
        assert!(x < self.width && y < self.height);
        let i = (y * self.width + x) * 3;
        [self.data[i], self.data[i + 1], self.data[i + 2]]
    }

    /// Sets the pixel at (x, y); panics when out of bounds.
    #[inline]
    pub fn set(&mut self, x: usize, y: usize, p: [u8; 3]) {
        assert!(x < self.width && y < self.height);
        let i = (y * self.width + x) * 3;
        self.data[i..i + 3].copy_from_slice(&p);
    }

    /// One row of `width * 3` bytes.
    #[inline]
    pub fn row(&self, y: usize) -> &[u8] {
        &self.data[y * self.width * 3..(y + 1) * self.width * 3]
    }
}

/// Single-channel 8-bit image (masks before blurring), tightly packed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GrayImage {
    pub width: usize,
    pub height: usize,
    pub data: Vec<u8>,
}

impl GrayImage {
    /// All-zero image.
    pub fn new(width: usize, height: usize) -> Self {
        Self { width, height, data: vec![0; width * height] }
    }

    /// Wraps existing data; panics if `data.len() != width * height`.
    pub fn from_raw(width: usize, height: usize, data: Vec<u8>) -> Self {
        assert_eq!(data.len(), width * height, "GrayImage::from_raw: wrong buffer length");
        Self { width, height, data }
    }

    /// Value at (x, y); panics when out of bounds.
    #[inline]
    pub fn get(&self, x: usize, y: usize) -> u8 {
        assert!(x < self.width && y < self.height);
        self.data[y * self.width + x]
    }

    /// Converts to a float mask in 0..1 (`v / 255`).
    pub fn to_mask(&self) -> MaskF32 {
        MaskF32 { width: self.width, height: self.height, data: self.data.iter().map(|&v| v as f32 / 255.0).collect() }
    }
}

/// Single-channel f32 mask (normally in 0..1), tightly packed.
#[derive(Clone, Debug, PartialEq)]
pub struct MaskF32 {
    pub width: usize,
    pub height: usize,
    pub data: Vec<f32>,
}

impl MaskF32 {
    /// All-zero mask.
    pub fn new(width: usize, height: usize) -> Self {
        Self { width, height, data: vec![0.0; width * height] }
    }

    /// Wraps existing data; panics if `data.len() != width * height`.
    pub fn from_raw(width: usize, height: usize, data: Vec<f32>) -> Self {
        assert_eq!(data.len(), width * height, "MaskF32::from_raw: wrong buffer length");
        Self { width, height, data }
    }

    /// Value at (x, y); panics when out of bounds.
    #[inline]
    pub fn get(&self, x: usize, y: usize) -> f32 {
        assert!(x < self.width && y < self.height);
        self.data[y * self.width + x]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rgb_get_set_roundtrip() {
        let mut im = RgbImage::new(3, 2);
        im.set(2, 1, [1, 2, 3]);
        assert_eq!(im.get(2, 1), [1, 2, 3]);
        assert_eq!(&im.data[15..18], &[1, 2, 3]);
        assert_eq!(im.row(1).len(), 9);
    }

    #[test]
    fn gray_to_mask_scales_by_255() {
        let g = GrayImage::from_raw(2, 1, vec![0, 255]);
        assert_eq!(g.to_mask().data, vec![0.0, 1.0]);
    }

    #[test]
    #[should_panic]
    fn from_raw_checks_length() {
        let _ = RgbImage::from_raw(2, 2, vec![0; 11]);
    }
}
