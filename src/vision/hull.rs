// SPDX-License-Identifier: MIT OR Apache-2.0
//! Convex hull and convex-polygon filling (ports of the integer algorithms behind cv2.convexHull / cv2.fillConvexPoly).

use super::image::GrayImage;

fn cross(o: [i32; 2], a: [i32; 2], b: [i32; 2]) -> i64 {
    (a[0] - o[0]) as i64 * (b[1] - o[1]) as i64 - (a[1] - o[1]) as i64 * (b[0] - o[0]) as i64
}

/// Convex hull by Andrew's monotone chain: strictly convex vertices (collinear and duplicate points dropped),
/// starting at the smallest (x, y), counter-clockwise in a y-up frame (clockwise on screen). Fewer than 3
/// distinct points are returned as-is (deduplicated, sorted).
pub fn convex_hull(points: &[[i32; 2]]) -> Vec<[i32; 2]> {
    let mut p = points.to_vec();
    p.sort_unstable();
    p.dedup();
    if p.len() < 3 {
        return p;
    }
    let mut h: Vec<[i32; 2]> = Vec::with_capacity(2 * p.len());
    for pass in 0..2 {
        let start = h.len();
        let iter: Box<dyn Iterator<Item = &[i32; 2]>> =
            if pass == 0 { Box::new(p.iter()) } else { Box::new(p.iter().rev()) };
        for &q in iter {
            while h.len() >= start + 2 && cross(h[h.len() - 2], h[h.len() - 1], q) <= 0 {
                h.pop();
            }
            h.push(q);
        }
        h.pop(); // last point of each chain is the first of the other
    }
    h
}

/// Sets the pixels of an 8-connected line like OpenCV's `Line()` (LineIterator, left-to-right), skipping
/// pixels outside the image (OpenCV clips the segment first, which can shift ties by one pixel).
fn draw_line(m: &mut GrayImage, mut p1: [i32; 2], mut p2: [i32; 2], value: u8) {
    if p2[0] < p1[0] {
        std::mem::swap(&mut p1, &mut p2);
    }
    let mut dx = (p2[0] - p1[0]) as i64;
    let mut dy = (p2[1] - p1[1]) as i64;
    let ystep: i64 = if dy < 0 { -1 } else { 1 };
    dy = dy.abs();
    // (major step, minor step) in (x, y) units.
    let (major, minor) = if dy > dx {
        std::mem::swap(&mut dx, &mut dy);
        ((0i64, ystep), (1i64, 0i64))
    } else {
        ((1, 0), (0, ystep))
    };
    let (mut x, mut y) = (p1[0] as i64, p1[1] as i64);
    let mut err = dx - 2 * dy;
    for _ in 0..=dx {
        if x >= 0 && y >= 0 && (x as usize) < m.width && (y as usize) < m.height {
            m.data[y as usize * m.width + x as usize] = value;
        }
        if err < 0 {
            err += 2 * dx - 2 * dy;
            x += major.0 + minor.0;
            y += major.1 + minor.1;
        } else {
            err -= 2 * dy;
            x += major.0;
            y += major.1;
        }
    }
}

/// Fills a convex polygon with `value` like `cv2.fillConvexPoly(m, poly, value)` (LINE_8, shift 0): the outline is
/// drawn with 8-connected lines and the interior scan-converted with OpenCV's 16.16 fixed-point edge walk.
pub fn fill_convex_poly(m: &mut GrayImage, poly: &[[i32; 2]], value: u8) {
    const SHIFT: u32 = 16;
    const ONE: i64 = 1 << SHIFT;
    let n = poly.len();
    if n == 0 {
        return;
    }
    let (w, h) = (m.width as i64, m.height as i64);
    let (mut xmin, mut xmax, mut ymin, mut ymax) = (poly[0][0], poly[0][0], poly[0][1], poly[0][1]);
    let mut imin = 0;
    let mut p0 = poly[n - 1];
    for (i, &p) in poly.iter().enumerate() {
        if p[1] < ymin {
            ymin = p[1];
            imin = i;
        }
        ymax = ymax.max(p[1]);
        xmax = xmax.max(p[0]);
        xmin = xmin.min(p[0]);
        draw_line(m, p0, p, value);
        p0 = p;
    }
    if n < 3 || xmax < 0 || ymax < 0 || xmin as i64 >= w || ymin as i64 >= h {
        return;
    }
    let ymax = (ymax as i64).min(h - 1);
    #[derive(Clone, Copy)]
    struct Edge {
        idx: usize,
        di: usize,
        x: i64,
        dx: i64,
        ye: i64,
    }
    let mut edge = [
        Edge { idx: imin, di: 1, x: -ONE, dx: 0, ye: ymin as i64 },
        Edge { idx: imin, di: n - 1, x: -ONE, dx: 0, ye: ymin as i64 },
    ];
    let mut edges = n as i64;
    let mut y = ymin as i64;
    loop {
        for e in edge.iter_mut() {
            if y >= e.ye {
                let mut idx0 = e.idx;
                let mut idx = (idx0 + e.di) % n;
                loop {
                    let more = edges > 0;
                    edges -= 1;
                    if !more {
                        break;
                    }
                    let ty = poly[idx][1] as i64;
                    if ty > y {
                        let xs = (poly[idx0][0] as i64) << SHIFT;
                        let xe = (poly[idx][0] as i64) << SHIFT;
                        e.ye = ty;
                        e.dx = ((xe - xs) * 2 + (ty - y)) / (2 * (ty - y));
                        e.x = xs;
                        e.idx = idx;
                        break;
                    }
                    idx0 = idx;
                    idx = (idx + e.di) % n;
                }
            }
        }
        if edges < 0 {
            break;
        }
        if y >= 0 {
            let (l, r) = if edge[0].x > edge[1].x { (1, 0) } else { (0, 1) };
            let x1 = (edge[l].x + (ONE >> 1)) >> SHIFT;
            let x2 = (edge[r].x + (ONE >> 1)) >> SHIFT;
            if x2 >= 0 && x1 < w {
                let (x1, x2) = (x1.max(0) as usize, x2.min(w - 1) as usize);
                if x1 <= x2 {
                    let row = y as usize * m.width;
                    m.data[row + x1..=row + x2].fill(value);
                }
            }
        }
        edge[0].x += edge[0].dx;
        edge[1].x += edge[1].dx;
        y += 1;
        if y > ymax {
            break;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::testdata::rows;
    use super::*;

    #[test]
    fn hull_basic() {
        let pts = [[0, 0], [4, 0], [4, 4], [0, 4], [2, 2], [2, 0], [4, 4], [1, 3]];
        assert_eq!(convex_hull(&pts), vec![[0, 0], [4, 0], [4, 4], [0, 4]]);
        assert_eq!(convex_hull(&[[1, 1], [1, 1]]), vec![[1, 1]]);
        assert_eq!(convex_hull(&[[0, 0], [1, 1], [2, 2]]), vec![[0, 0], [2, 2]]);
    }

    #[test]
    fn fill_matches_opencv() {
        let polys: Vec<Vec<[i32; 2]>> = rows(include_str!("../../tests/data/vision/fillpoly_polys.txt"))
            .iter()
            .map(|r| r[1..].chunks(2).map(|c| [c[0] as i32, c[1] as i32]).collect())
            .collect();
        let spans = rows(include_str!("../../tests/data/vision/fillpoly_spans.txt"));
        for (pi, poly) in polys.iter().enumerate() {
            let mut want = GrayImage::new(224, 224);
            for s in spans.iter().filter(|s| s[0] as usize == pi) {
                let y = s[1] as usize;
                want.data[y * 224 + s[2] as usize..=y * 224 + s[3] as usize].fill(255);
            }
            let mut got = GrayImage::new(224, 224);
            fill_convex_poly(&mut got, poly, 255);
            let inter = got.data.iter().zip(&want.data).filter(|(a, b)| **a == 255 && **b == 255).count();
            let union = got.data.iter().zip(&want.data).filter(|(a, b)| **a == 255 || **b == 255).count();
            let iou = inter as f64 / union as f64;
            if pi < 3 {
                assert_eq!(got, want, "poly {pi} must match exactly (iou {iou})");
            } else {
                assert!(iou >= 0.99, "poly {pi}: iou {iou}");
            }
            // Filling the hull of the vertices gives the same result as the polygon itself.
            let mut viah = GrayImage::new(224, 224);
            fill_convex_poly(&mut viah, &convex_hull(poly), 255);
            let diff = viah.data.iter().zip(&got.data).filter(|(a, b)| a != b).count();
            assert!(diff <= 4, "poly {pi}: hull fill differs in {diff} px");
        }
    }

    #[test]
    fn rectangle_is_inclusive() {
        let mut m = GrayImage::new(10, 10);
        fill_convex_poly(&mut m, &[[2, 3], [5, 3], [5, 7], [2, 7]], 9);
        assert_eq!(m.data.iter().filter(|&&v| v == 9).count(), 4 * 5);
        assert_eq!(m.get(2, 3), 9);
        assert_eq!(m.get(5, 7), 9);
        assert_eq!(m.get(6, 7), 0);
    }
}
