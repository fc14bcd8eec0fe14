// SPDX-License-Identifier: MIT OR Apache-2.0
//! Axis-aligned boxes and greedy non-maximum suppression as in insightface SCRFD.

/// Axis-aligned box in pixel coordinates (`x0,y0` top-left, `x1,y1` bottom-right).
#[derive(Clone, Copy, Debug, PartialEq, Default)]
pub struct BoxF {
    pub x0: f32,
    pub y0: f32,
    pub x1: f32,
    pub y1: f32,
}

impl BoxF {
    /// Constructs a box.
    pub const fn new(x0: f32, y0: f32, x1: f32, y1: f32) -> Self {
        Self { x0, y0, x1, y1 }
    }

    /// Geometric area `(x1-x0)*(y1-y0)` (0 for inverted boxes).
    pub fn area(&self) -> f32 {
        (self.x1 - self.x0).max(0.0) * (self.y1 - self.y0).max(0.0)
    }

    /// Geometric intersection-over-union (0 when both areas are 0).
    pub fn iou(&self, o: &BoxF) -> f32 {
        let iw = (self.x1.min(o.x1) - self.x0.max(o.x0)).max(0.0);
        let ih = (self.y1.min(o.y1) - self.y0.max(o.y0)).max(0.0);
        let inter = iw * ih;
        let union = self.area() + o.area() - inter;
        if union > 0.0 {
            inter / union
        } else {
            0.0
        }
    }

    /// IoU with insightface's inclusive-pixel convention: widths and heights are `x1 - x0 + 1`.
    pub fn iou_plus1(&self, o: &BoxF) -> f32 {
        let a = (self.x1 - self.x0 + 1.0) * (self.y1 - self.y0 + 1.0);
        let b = (o.x1 - o.x0 + 1.0) * (o.y1 - o.y0 + 1.0);
        let iw = (self.x1.min(o.x1) - self.x0.max(o.x0) + 1.0).max(0.0);
        let ih = (self.y1.min(o.y1) - self.y0.max(o.y0) + 1.0).max(0.0);
        let inter = iw * ih;
        inter / (a + b - inter)
    }
}

/// Greedy NMS exactly as insightface `SCRFD.nms`: visit boxes by descending score, keep one, drop every remaining
/// box whose IoU with it is `> iou_threshold`, using the `+1` pixel convention ([`BoxF::iou_plus1`]).
/// Returns kept indices in descending score order; equal scores keep input order (numpy's order there is
/// unspecified). NaN scores sort last. Panics if `boxes` and `scores` differ in length.
pub fn nms(boxes: &[BoxF], scores: &[f32], iou_threshold: f32) -> Vec<usize> {
    assert_eq!(boxes.len(), scores.len(), "nms: boxes/scores length mismatch");
    let mut order: Vec<usize> = (0..boxes.len()).collect();
    order.sort_by(|&a, &b| {
        scores[b].partial_cmp(&scores[a]).unwrap_or_else(|| scores[a].is_nan().cmp(&scores[b].is_nan()))
    });
    let mut suppressed = vec![false; boxes.len()];
    let mut keep = Vec::new();
    for (pos, &i) in order.iter().enumerate() {
        if suppressed[i] {
            continue;
        }
        keep.push(i);
        for &j in &order[pos + 1..] {
            if !suppressed[j] && boxes[i].iou_plus1(&boxes[j]) > iou_threshold {
                suppressed[j] = true;
            }
        }
    }
    keep
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn area_and_iou() {
        let a = BoxF::new(0.0, 0.0, 10.0, 10.0);
        let b = BoxF::new(5.0, 0.0, 15.0, 10.0);
        assert_eq!(a.area(), 100.0);
        assert!((a.iou(&b) - 50.0 / 150.0).abs() < 1e-6);
        // +1 convention: areas 11*11=121, intersection 6*11=66 → 66/176.
        assert!((a.iou_plus1(&b) - 66.0 / 176.0).abs() < 1e-6);
        assert_eq!(a.iou(&BoxF::new(20.0, 20.0, 30.0, 30.0)), 0.0);
    }

    #[test]
    fn greedy_order_and_threshold() {
        let boxes = [
            BoxF::new(0.0, 0.0, 10.0, 10.0),
            BoxF::new(1.0, 1.0, 11.0, 11.0), // IoU+1 with #0 = 100/142 ≈ 0.70 → suppressed by #0
            BoxF::new(50.0, 50.0, 60.0, 60.0),
            BoxF::new(5.0, 0.0, 15.0, 10.0), // IoU+1 with #0 = 66/176 = 0.375
        ];
        let scores = [0.9, 0.95, 0.3, 0.8];
        // #1 has the top score and suppresses #0 (0.70) and #3 (inter 7*10=70, union 121+121-70 → 0.407 > 0.4).
        assert_eq!(nms(&boxes, &scores, 0.4), vec![1, 2]);
        assert_eq!(nms(&boxes, &scores, 0.41), vec![1, 3, 2]);
        assert_eq!(nms(&boxes, &scores, 0.8), vec![1, 0, 3, 2]);
        assert!(nms(&[], &[], 0.4).is_empty());
    }
}
