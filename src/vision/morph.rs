// SPDX-License-Identifier: MIT OR Apache-2.0
//! Binary/grey morphology (erode, dilate) with a k×k square kernel, OpenCV anchor and border semantics.

use super::image::GrayImage;

/// Separable running min (`MIN = true`) or max over a k-window with window start `x - k/2`; samples outside the
/// image are ignored (OpenCV pads erode with +inf and dilate with -inf, so borders never erode/dilate).
fn morph<const MIN: bool>(m: &mut GrayImage, k: usize) {
    let (w, h) = (m.width, m.height);
    if k <= 1 || w == 0 || h == 0 {
        return;
    }
    let a = k / 2;
    let pad_val = if MIN { u8::MAX } else { u8::MIN };
    let op = |x: u8, y: u8| if MIN { x.min(y) } else { x.max(y) };
    // Rows.
    let mut pad = vec![pad_val; w + k - 1];
    for row in m.data.chunks_exact_mut(w) {
        pad[a..a + w].copy_from_slice(row);
        row.copy_from_slice(&pad[..w]);
        for i in 1..k {
            for (o, p) in row.iter_mut().zip(&pad[i..i + w]) {
                *o = op(*o, *p);
            }
        }
    }
    // Columns: combine whole rows (vectorises).
    let src = m.data.clone();
    for y in 0..h {
        let lo = y.saturating_sub(a);
        let hi = (y + k - a).min(h); // exclusive: rows y-a ..= y-a+k-1
        let out = &mut m.data[y * w..(y + 1) * w];
        out.fill(pad_val);
        for sy in lo..hi {
            for (o, s) in out.iter_mut().zip(&src[sy * w..(sy + 1) * w]) {
                *o = op(*o, *s);
            }
        }
    }
}

/// `cv2.erode(m, np.ones((k, k)))`: minimum over the k×k window anchored at (k/2, k/2); k ≤ 1 is a no-op.
pub fn erode(m: &mut GrayImage, k: usize) {
    morph::<true>(m, k)
}

/// `cv2.dilate(m, np.ones((k, k)))`: maximum over the k×k window anchored at (k/2, k/2); k ≤ 1 is a no-op.
pub fn dilate(m: &mut GrayImage, k: usize) {
    morph::<false>(m, k)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(input: &[u8], size: usize, k: usize, er: &[u8], di: &[u8]) {
        let mut e = GrayImage::from_raw(size, size, input.to_vec());
        erode(&mut e, k);
        assert!(e.data == er, "erode k={k} size={size}");
        let mut d = GrayImage::from_raw(size, size, input.to_vec());
        dilate(&mut d, k);
        assert!(d.data == di, "dilate k={k} size={size}");
    }

    #[test]
    fn matches_opencv_binary() {
        let inp = include_bytes!("../../tests/data/vision/morph_in_64.bin");
        check(
            inp,
            64,
            4,
            include_bytes!("../../tests/data/vision/erode_4.bin"),
            include_bytes!("../../tests/data/vision/dilate_4.bin"),
        );
        check(
            inp,
            64,
            5,
            include_bytes!("../../tests/data/vision/erode_5.bin"),
            include_bytes!("../../tests/data/vision/dilate_5.bin"),
        );
        check(
            inp,
            64,
            10,
            include_bytes!("../../tests/data/vision/erode_10.bin"),
            include_bytes!("../../tests/data/vision/dilate_10.bin"),
        );
        check(
            inp,
            64,
            15,
            include_bytes!("../../tests/data/vision/erode_15.bin"),
            include_bytes!("../../tests/data/vision/dilate_15.bin"),
        );
    }

    #[test]
    fn matches_opencv_grey() {
        let inp = include_bytes!("../../tests/data/vision/morph_gray_in_32.bin");
        check(
            inp,
            32,
            5,
            include_bytes!("../../tests/data/vision/erode_gray_5.bin"),
            include_bytes!("../../tests/data/vision/dilate_gray_5.bin"),
        );
        check(
            inp,
            32,
            6,
            include_bytes!("../../tests/data/vision/erode_gray_6.bin"),
            include_bytes!("../../tests/data/vision/dilate_gray_6.bin"),
        );
    }

    #[test]
    fn anchor_for_even_kernel() {
        // Single bright pixel at x=3 in a 1-row image, k=4 (anchor 2): window x-2..=x+1 → dilated x in 2..=5.
        let mut m = GrayImage::from_raw(8, 1, vec![0, 0, 0, 9, 0, 0, 0, 0]);
        dilate(&mut m, 4);
        assert_eq!(m.data, vec![0, 0, 9, 9, 9, 9, 0, 0]);
        let mut one = m.clone();
        erode(&mut one, 1);
        assert_eq!(one, m);
    }
}
