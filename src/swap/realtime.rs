// SPDX-License-Identifier: MIT OR Apache-2.0
//! The results of the realtime mode: the latest swapped crop of each face, keyed by track id (or,
//! for untracked faces, found again by box overlap), with the frame it was made from. A swapped
//! crop lives in the aligned face space, so it can be placed on a later frame with that frame's
//! alignment; it is only used while it is at most `max-age` frames old.
//!
//! The cache has an epoch: everything that invalidates earlier results (a flush, new caps, a new
//! source identity) starts a new epoch, and results computed in an older one are refused.

use std::sync::Arc;

use crate::track::iou;
use crate::vision::RgbImage;

/// Minimum box overlap for an untracked face to take an untracked result.
const MATCH_IOU: f32 = 0.3;

/// One face's swapped crop.
#[derive(Debug, Clone)]
pub struct CachedSwap {
    /// 0 for a face the tracker did not see (then matched by `bbox`).
    pub track_id: u64,
    pub bbox: [f32; 4],
    /// The alignment template the crop was made with (see `models::align::crop_transform_with`).
    pub template: usize,
    pub crop: Arc<RgbImage>,
    /// The frame (element frame count) the crop was made from.
    pub frame: u64,
}

#[derive(Debug, Default)]
pub struct SwapCache {
    entries: Vec<CachedSwap>,
    epoch: u64,
}

impl SwapCache {
    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    /// Forgets every result and refuses those still being computed.
    pub fn invalidate(&mut self) {
        self.entries.clear();
        self.epoch += 1;
    }

    /// Stores results computed in `epoch`; returns false (and stores nothing) when that epoch is over.
    pub fn store(&mut self, epoch: u64, results: Vec<CachedSwap>) -> bool {
        if epoch != self.epoch {
            return false;
        }
        for r in results {
            let same = |e: &CachedSwap| {
                if r.track_id != 0 {
                    e.track_id == r.track_id
                } else {
                    e.track_id == 0 && iou(&e.bbox, &r.bbox) >= MATCH_IOU
                }
            };
            match self.entries.iter_mut().find(|e| same(e)) {
                Some(e) if e.frame <= r.frame => *e = r,
                Some(_) => {}
                None => self.entries.push(r),
            }
        }
        true
    }

    /// The result for a face on frame `frame`, if one is at most `max_age` frames old: by track id,
    /// or for an untracked face by the best box overlap. Returns it with its age.
    pub fn lookup(&self, track_id: u64, bbox: &[f32; 4], frame: u64, max_age: u64) -> Option<(&CachedSwap, u64)> {
        let fresh = |e: &&CachedSwap| frame >= e.frame && frame - e.frame <= max_age;
        let found = if track_id != 0 {
            self.entries.iter().filter(fresh).find(|e| e.track_id == track_id)
        } else {
            self.entries
                .iter()
                .filter(fresh)
                .filter(|e| e.track_id == 0)
                .map(|e| (e, iou(&e.bbox, bbox)))
                .filter(|&(_, o)| o >= MATCH_IOU)
                .max_by(|a, b| a.1.total_cmp(&b.1))
                .map(|(e, _)| e)
        };
        found.map(|e| (e, frame - e.frame))
    }

    /// Drops the results older than `max_age` frames at frame `frame`.
    pub fn expire(&mut self, frame: u64, max_age: u64) {
        self.entries.retain(|e| frame < e.frame || frame - e.frame <= max_age);
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn swap(track_id: u64, x: f32, frame: u64) -> CachedSwap {
        CachedSwap {
            track_id,
            bbox: [x, 0.0, x + 100.0, 100.0],
            template: 2,
            crop: Arc::new(RgbImage::new(2, 2)),
            frame,
        }
    }

    #[test]
    fn results_are_found_by_track_id_and_expire_with_age() {
        let mut cache = SwapCache::default();
        assert!(cache.store(0, vec![swap(7, 0.0, 10), swap(8, 300.0, 10)]));
        let (hit, age) = cache.lookup(7, &[500.0, 0.0, 600.0, 100.0], 13, 5).unwrap();
        assert_eq!((hit.track_id, age), (7, 3), "the id decides, not where the face is now");
        assert!(cache.lookup(7, &[0.0; 4], 16, 5).is_none(), "6 frames old with max-age 5");
        assert!(cache.lookup(9, &[0.0, 0.0, 100.0, 100.0], 11, 5).is_none(), "no result for another id");
        // A newer result replaces the older one of the same track, an older one does not.
        assert!(cache.store(0, vec![swap(7, 0.0, 12)]));
        assert!(cache.store(0, vec![swap(7, 0.0, 11)]));
        assert_eq!(cache.lookup(7, &[0.0; 4], 12, 5).unwrap().0.frame, 12);
        cache.expire(17, 5);
        assert_eq!(cache.len(), 1, "track 8 (frame 10) expired, track 7 (frame 12) stays");
    }

    #[test]
    fn untracked_faces_are_matched_by_overlap() {
        let mut cache = SwapCache::default();
        cache.store(0, vec![swap(0, 0.0, 5), swap(0, 300.0, 5)]);
        let (hit, _) = cache.lookup(0, &[290.0, 0.0, 390.0, 100.0], 6, 10).unwrap();
        assert_eq!(hit.bbox[0], 300.0);
        assert!(cache.lookup(0, &[150.0, 0.0, 250.0, 100.0], 6, 10).is_none(), "IoU below 0.3 with both");
        // An untracked result is not taken by a tracked face, nor the other way round.
        assert!(cache.lookup(3, &[0.0, 0.0, 100.0, 100.0], 6, 10).is_none());
        cache.store(0, vec![swap(0, 10.0, 7)]);
        assert_eq!(cache.len(), 2, "overlapping untracked results replace each other");
    }

    #[test]
    fn results_of_an_old_epoch_are_refused() {
        let mut cache = SwapCache::default();
        let epoch = cache.epoch();
        cache.store(epoch, vec![swap(1, 0.0, 1)]);
        cache.invalidate();
        assert!(cache.is_empty());
        assert!(!cache.store(epoch, vec![swap(1, 0.0, 2)]), "computed before the flush");
        assert!(cache.is_empty());
        assert!(cache.store(cache.epoch(), vec![swap(1, 0.0, 3)]));
    }
}
