// SPDX-License-Identifier: MIT OR Apache-2.0
//! Drawing on a packed frame for the debug overlay: pixels, rectangle outlines, filled squares and
//! numbers in a 3x5 digit font. Everything is clipped to the frame.

use super::pixel::PackedFrameMut;

/// Sets one pixel (nothing outside the frame).
pub fn put(frame: &mut PackedFrameMut, x: i64, y: i64, c: [u8; 3]) {
    if x < 0 || y < 0 || x >= frame.width as i64 || y >= frame.height as i64 {
        return;
    }
    let bpp = frame.layout.bytes_per_pixel();
    let i = y as usize * frame.stride + x as usize * bpp;
    for (k, &o) in frame.layout.rgb_offsets().iter().enumerate() {
        frame.data[i + o] = c[k];
    }
}

/// A rectangle outline `t` pixels thick, inside the corners (x0, y0) and (x1, y1).
pub fn rect(frame: &mut PackedFrameMut, x0: i64, y0: i64, x1: i64, y1: i64, c: [u8; 3], t: i64) {
    // Clamp the loops to the frame so huge boxes cost nothing.
    let (fw, fh) = (frame.width as i64, frame.height as i64);
    for k in 0..t {
        for x in x0.max(-1)..=x1.min(fw) {
            put(frame, x, y0 + k, c);
            put(frame, x, y1 - k, c);
        }
        for y in y0.max(-1)..=y1.min(fh) {
            put(frame, x0 + k, y, c);
            put(frame, x1 - k, y, c);
        }
    }
}

/// 3x5 digit glyphs, one row per 3 bits.
const DIGITS: [[u8; 5]; 10] = [
    [7, 5, 5, 5, 7],
    [2, 6, 2, 2, 7],
    [7, 1, 7, 4, 7],
    [7, 1, 7, 1, 7],
    [5, 5, 7, 1, 1],
    [7, 4, 7, 1, 7],
    [7, 4, 7, 5, 7],
    [7, 1, 1, 1, 1],
    [7, 5, 7, 5, 7],
    [7, 5, 7, 1, 7],
];

/// The decimal number `n` with its top-left corner at (x, y), each glyph pixel an `s`×`s` square.
pub fn text_number(frame: &mut PackedFrameMut, x: i64, y: i64, n: u64, c: [u8; 3], s: i64) {
    for (k, ch) in n.to_string().bytes().enumerate() {
        let g = DIGITS[(ch - b'0') as usize];
        let ox = x + k as i64 * 4 * s;
        for (r, bits) in g.iter().enumerate() {
            for col in 0..3 {
                if bits & (4 >> col) != 0 {
                    for dy in 0..s {
                        for dx in 0..s {
                            put(frame, ox + col * s + dx, y + r as i64 * s + dy, c);
                        }
                    }
                }
            }
        }
    }
}

/// A filled square of side `2r + 1` centred on (x, y).
pub fn dot(frame: &mut PackedFrameMut, x: i64, y: i64, r: i64, c: [u8; 3]) {
    for dy in -r..=r {
        for dx in -r..=r {
            put(frame, x + dx, y + dy, c);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::pixel::PixelLayout;
    use super::*;

    #[test]
    fn shapes_land_on_the_right_pixels_and_are_clipped() {
        let (w, h) = (12, 10);
        let mut buf = vec![0u8; w * h * 4];
        let mut f = PackedFrameMut::new(&mut buf, w, h, w * 4, PixelLayout::Bgrx);
        rect(&mut f, 2, 3, 6, 8, [10, 20, 30], 1);
        dot(&mut f, 0, 0, 1, [1, 2, 3]);
        put(&mut f, 50, -3, [9, 9, 9]);
        let fr = f.as_frame();
        // Corners and edges of the outline, not its inside; BGRx byte order.
        assert_eq!(fr.rgb(2, 3), [10, 20, 30]);
        assert_eq!(fr.rgb(6, 8), [10, 20, 30]);
        assert_eq!(fr.rgb(4, 3), [10, 20, 30]);
        assert_eq!(fr.rgb(4, 5), [0, 0, 0]);
        assert_eq!(&buf[(3 * w + 2) * 4..(3 * w + 2) * 4 + 4], &[30, 20, 10, 0]);
        // The dot is clipped at the corner: 2x2 of its 3x3 land.
        let set = |x: usize, y: usize| buf[(y * w + x) * 4..(y * w + x) * 4 + 3] == [3, 2, 1];
        assert!(set(0, 0) && set(1, 1) && !set(2, 0));
    }

    #[test]
    fn digits_follow_the_font() {
        let (w, h) = (16, 6);
        let mut buf = vec![0u8; w * h * 3];
        let mut f = PackedFrameMut::new(&mut buf, w, h, w * 3, PixelLayout::Rgb);
        text_number(&mut f, 0, 0, 17, [255, 255, 255], 1);
        let lit = |x: usize, y: usize| buf[(y * w + x) * 3] == 255;
        // "1" = rows 2,6,2,2,7 (bits 4,2,1 = columns 0,1,2); "7" starts at x = 4 with rows 7,1,1,1,1.
        let one: Vec<[bool; 3]> = (0..5).map(|y| [lit(0, y), lit(1, y), lit(2, y)]).collect();
        assert_eq!(one[0], [false, true, false]);
        assert_eq!(one[1], [true, true, false]);
        assert_eq!(one[4], [true, true, true]);
        assert_eq!([lit(4, 0), lit(5, 0), lit(6, 0)], [true, true, true]);
        assert_eq!([lit(4, 1), lit(5, 1), lit(6, 1)], [false, false, true]);
    }
}
