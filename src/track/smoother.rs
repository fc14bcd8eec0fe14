// SPDX-License-Identifier: MIT OR Apache-2.0
//! Smoothing of a track's recent history: the fixed-lag Rauch–Tung–Striebel pass over the last
//! N+1 Kalman steps, and GHOST's reference rule (docs/reference.md#ghosts-rule).

use super::kalman::Coord;

/// Fixed-lag RTS: the smoothed positions at step `target` given the filtered states of steps
/// `target..=last` and the priors (one-step predictions) of the same steps. `filtered[i]` and
/// `priors[i]` belong to consecutive frames. Exact for the linear-Gaussian model: the backward
/// pass of a full RTS smoother only ever reads the filtered states from the target step on.
pub fn fixed_lag<const D: usize>(filtered: &[[Coord; D]], priors: &[[Coord; D]], target: usize) -> [f64; D] {
    let last = filtered.len() - 1;
    std::array::from_fn(|d| {
        let mut s = filtered[last][d].mean();
        for k in (target..last).rev() {
            s = filtered[k][d].rts(&priors[k + 1][d], s);
        }
        s[0]
    })
}

/// GHOST's temporal rule (video_processing.py `smooth_landmarks`, n = 2): a centred mean of the
/// five keypoints over ±q frames, q = min(distance to the segment start, distance to the segment
/// end, 2). A segment breaks where a frame has no detection or where keypoint 0 (left eye) or
/// keypoint 2 (nose) moved more than [`GHOST_JUMP_PX`] since the previous frame.
///
/// `window` holds the measured keypoints of consecutive frames (`None` = no detection) and
/// `centre` is the frame to smooth; frames outside the window count as the end of the segment,
/// which is exact as long as the window reaches two frames either side (or the stream ends).
pub fn ghost_rule(window: &[Option<[[f32; 2]; 5]>], centre: usize) -> Option<[[f32; 2]; 5]> {
    let this = window.get(centre).copied().flatten()?;
    let joined = |a: usize, b: usize| -> bool {
        match (window[a], window[b]) {
            (Some(p), Some(q)) => [0, 2].iter().all(|&i| {
                let (dx, dy) = (p[i][0] - q[i][0], p[i][1] - q[i][1]);
                (dx * dx + dy * dy).sqrt() <= GHOST_JUMP_PX
            }),
            _ => false,
        }
    };
    let mut back = 0;
    while back < GHOST_HALF_WINDOW && centre > back && joined(centre - back - 1, centre - back) {
        back += 1;
    }
    let mut fwd = 0;
    while fwd < GHOST_HALF_WINDOW && centre + fwd + 1 < window.len() && joined(centre + fwd, centre + fwd + 1) {
        fwd += 1;
    }
    let q = back.min(fwd);
    if q == 0 {
        return Some(this);
    }
    let mut sum = [[0.0f64; 2]; 5];
    for frame in &window[centre - q..=centre + q] {
        let kps = frame.expect("inside a segment");
        for (s, p) in sum.iter_mut().zip(kps) {
            s[0] += p[0] as f64;
            s[1] += p[1] as f64;
        }
    }
    let n = (2 * q + 1) as f64;
    Some(sum.map(|s| [(s[0] / n) as f32, (s[1] / n) as f32]))
}

/// Movement of keypoint 0 or 2 (pixels, frame to frame) that starts a new GHOST segment.
pub const GHOST_JUMP_PX: f32 = 5.0;
/// GHOST's n: the mean spans at most 2n + 1 = 5 frames.
pub const GHOST_HALF_WINDOW: usize = 2;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::track::kalman::Kf;

    fn kps(x: f32) -> Option<[[f32; 2]; 5]> {
        Some([[x, 0.0]; 5])
    }

    #[test]
    fn ghost_rule_means_a_centred_window_that_shrinks_at_segment_ends() {
        let w = [kps(0.0), kps(1.0), kps(2.0), kps(6.0), kps(4.0), None, kps(9.0)];
        // Centre 2: full window 0..=4, mean (0+1+2+6+4)/5 = 2.6.
        assert_eq!(ghost_rule(&w, 2).unwrap()[0][0], 2.6);
        // Centre 1: one frame from the start → q = 1, mean (0+1+2)/3 = 1.
        assert_eq!(ghost_rule(&w, 1).unwrap()[0][0], 1.0);
        // Segment ends unchanged.
        assert_eq!(ghost_rule(&w, 0).unwrap()[0][0], 0.0);
        assert_eq!(ghost_rule(&w, 4).unwrap()[0][0], 4.0);
        // Centre 3: q = 1 (one frame to the end before the miss): (2+6+4)/3 = 4.
        assert_eq!(ghost_rule(&w, 3).unwrap()[0][0], 4.0);
        assert!(ghost_rule(&w, 5).is_none());
        assert_eq!(ghost_rule(&w, 6).unwrap()[0][0], 9.0);
    }

    #[test]
    fn ghost_rule_breaks_on_a_jump_over_five_pixels() {
        let w = [kps(0.0), kps(1.0), kps(2.0), kps(8.0), kps(9.0)];
        // 2 → 8 is a 6 px jump: frame 2 ends its segment, frame 3 starts one.
        assert_eq!(ghost_rule(&w, 2).unwrap()[0][0], 2.0);
        assert_eq!(ghost_rule(&w, 1).unwrap()[0][0], 1.0);
        assert_eq!(ghost_rule(&w, 3).unwrap()[0][0], 8.0);
    }

    #[test]
    fn fixed_lag_rts_recovers_a_noiseless_constant_velocity_path() {
        // One constant-velocity and one constant-acceleration filter, both started on their path.
        let mut f = [Coord::Cv(Kf::new(1.0, [0.5, 5.0])), Coord::Ca(Kf::new(-3.0, [0.5, 5.0, 1.0]))];
        if let Coord::Cv(c) = &mut f[0] {
            c.x[1] = 1.5;
        }
        if let Coord::Ca(c) = &mut f[1] {
            c.x[1] = -0.5;
        }
        let (mut filtered, mut priors) = (vec![f], vec![f]);
        for k in 1..40 {
            for c in f.iter_mut() {
                c.predict(0.05);
            }
            priors.push(f);
            f[0].update(1.0 + 1.5 * k as f64, 0.5);
            f[1].update(-3.0 - 0.5 * k as f64, 0.5);
            filtered.push(f);
        }
        let s = fixed_lag(&filtered[30..], &priors[30..], 0);
        assert!((s[0] - 46.0).abs() < 1e-9 && (s[1] + 18.0).abs() < 1e-9, "{s:?}");
    }
}
