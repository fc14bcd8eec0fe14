// SPDX-License-Identifier: MIT OR Apache-2.0
//! The face meta: one typed buffer meta per frame, the single source of truth between the ghost
//! elements (docs/architecture.md#the-face-meta), and its mirror as standard `GstVideoRegionOfInterestMeta`s.
//!
//! Applications read it with [`FacesMeta::from_buffer`] and write it with [`FacesMeta::set`].
//! The meta is tagged `video` + `size`, so `queue`, `tee` and `videoconvert` copy it and
//! `videoscale` calls its transform, which rescales boxes, keypoints, landmarks and crop affines.

use std::sync::{Arc, LazyLock};
use std::{fmt, mem, ptr};

use gst::glib;
use gst::glib::translate::{from_glib, IntoGlib};
use gst::prelude::*;

use crate::vision::{Affine2, RgbImage};

/// The swapped face of one face: a square RGB crop and the affine that maps frame pixels into it.
#[derive(Clone, Debug, PartialEq)]
pub struct SwapResult {
    /// The generated (and possibly enhanced) face, RGB 8-bit, square.
    pub crop: Arc<RgbImage>,
    /// Maps frame coordinates to crop coordinates (OpenCV `warpAffine` convention).
    pub frame_to_crop: Affine2,
    /// Frames since the crop was generated: 0 when it was made from this frame; in realtime mode a
    /// crop made from an earlier frame is placed with this frame's alignment.
    pub age: u32,
    /// Already pasted into the frame by a ghostfaceblend (a second one leaves it alone).
    pub applied: bool,
}

impl SwapResult {
    /// A crop generated from this frame, not yet pasted.
    pub fn new(crop: Arc<RgbImage>, frame_to_crop: Affine2) -> Self {
        SwapResult { crop, frame_to_crop, age: 0, applied: false }
    }
}

/// One face in a frame. Coordinates are frame pixels; keypoints are, in image order,
/// left eye, right eye, nose, left mouth corner, right mouth corner ("left" = image left).
#[derive(Clone, Debug, PartialEq, Default)]
pub struct Face {
    /// 0 until a tracker assigns one; ids start at 1.
    pub track_id: u64,
    pub score: f32,
    /// x0, y0, x1, y1.
    pub bbox: [f32; 4],
    pub keypoints: [[f32; 2]; 5],
    /// Optional dense landmarks (106 or 68 points).
    pub landmarks: Option<Vec<[f32; 2]>>,
    /// Optional identity embedding of this face.
    pub embedding: Option<Arc<[f32]>>,
    /// Chosen for swapping.
    pub selected: bool,
    /// Filled in by the tracker without a detection on this frame.
    pub predicted: bool,
    pub swap: Option<SwapResult>,
}

impl Face {
    pub fn width(&self) -> f32 {
        self.bbox[2] - self.bbox[0]
    }

    pub fn height(&self) -> f32 {
        self.bbox[3] - self.bbox[1]
    }

    /// Rescales every coordinate of this face for a frame scaled by (sx, sy).
    pub fn scale(&mut self, sx: f64, sy: f64) {
        let (fx, fy) = (sx as f32, sy as f32);
        self.bbox = [self.bbox[0] * fx, self.bbox[1] * fy, self.bbox[2] * fx, self.bbox[3] * fy];
        for p in self.keypoints.iter_mut().chain(self.landmarks.iter_mut().flatten()) {
            *p = [p[0] * fx, p[1] * fy];
        }
        if let Some(swap) = &mut self.swap {
            // New frame point p' = S p, so frame'→crop = S⁻¹ then frame→crop.
            swap.frame_to_crop = Affine2::scale(1.0 / sx, 1.0 / sy).then(&swap.frame_to_crop);
        }
    }
}

/// Everything the ghost elements know about one frame.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct FrameFaces {
    pub faces: Vec<Face>,
    /// Whether the detector ran on this frame (with `interval` > 1 it skips frames): the tracker
    /// tells "no face" from "not looked".
    pub detection_ran: bool,
}

impl FrameFaces {
    pub fn scale(&mut self, sx: f64, sy: f64) {
        for face in &mut self.faces {
            face.scale(sx, sy);
        }
    }
}

/// The buffer meta that carries [`FrameFaces`].
#[repr(transparent)]
pub struct FacesMeta(imp::FacesMeta);

// SAFETY: the meta holds a GstMeta header, which GStreamer only touches under the buffer's own
// rules, and `FrameFaces`, plain owned Rust data that is Send + Sync.
unsafe impl Send for FacesMeta {}
// SAFETY: as for Send; shared access only reads.
unsafe impl Sync for FacesMeta {}

impl FacesMeta {
    /// Attaches `faces` to the buffer, replacing a face meta that is already there.
    pub fn set(buffer: &mut gst::BufferRef, faces: FrameFaces) {
        Self::remove(buffer);
        Self::add(buffer, faces);
    }

    fn add(buffer: &mut gst::BufferRef, faces: FrameFaces) -> gst::MetaRefMut<'_, Self, gst::meta::Standalone> {
        // SAFETY: `meta_info()` is registered with `init`, which moves the `Params` out of the pointer
        // exactly once (hence ManuallyDrop here); the buffer is writable (`&mut`), and the returned
        // pointer is a meta of our own type on that buffer.
        unsafe {
            let mut params = mem::ManuallyDrop::new(imp::Params { faces });
            let meta = gst::ffi::gst_buffer_add_meta(
                buffer.as_mut_ptr(),
                imp::meta_info(),
                &mut *params as *mut imp::Params as glib::ffi::gpointer,
            ) as *mut imp::FacesMeta;
            Self::from_mut_ptr(buffer, meta)
        }
    }

    /// Removes the face meta, if any.
    pub fn remove(buffer: &mut gst::BufferRef) {
        while let Some(meta) = buffer.meta_mut::<Self>() {
            if meta.remove().is_err() {
                break;
            }
        }
    }

    /// A copy of the frame's faces (crops are shared, not copied).
    pub fn from_buffer(buffer: &gst::BufferRef) -> Option<FrameFaces> {
        buffer.meta::<Self>().map(|m| m.faces().clone())
    }

    pub fn faces(&self) -> &FrameFaces {
        &self.0.faces
    }

    pub fn faces_mut(&mut self) -> &mut FrameFaces {
        &mut self.0.faces
    }
}

impl fmt::Debug for FacesMeta {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FacesMeta").field("faces", &self.0.faces).finish()
    }
}

// SAFETY: `GstType` is the `#[repr(C)]` struct registered for `meta_api()` in `meta_info()`.
unsafe impl MetaAPI for FacesMeta {
    type GstType = imp::FacesMeta;

    fn meta_api() -> glib::Type {
        imp::meta_api_type()
    }
}

/// Registers the meta API and implementation (idempotent).
pub fn register() {
    let _ = imp::meta_info();
}

/// The parameter structure name that marks ROI metas written by this plugin.
pub const ROI_PARAM_NAME: &str = "ghost-face";

/// Replaces this plugin's "face" ROI metas on the buffer with one per face: id = track id, a
/// `ghost-face` param structure with `score`, `keypoints` (10 floats: x0,y0,...,x4,y4),
/// `track-id`, `selected` and `predicted`. ROI metas from other elements are left alone.
pub fn sync_roi_metas(buffer: &mut gst::BufferRef, faces: &[Face]) {
    buffer.foreach_meta_mut(|mut meta| {
        let ours = meta
            .downcast_ref::<gst_video::VideoRegionOfInterestMeta>()
            .is_some_and(|roi| roi.param(ROI_PARAM_NAME).is_some());
        if ours {
            std::ops::ControlFlow::Continue(gst::buffer::BufferMetaForeachAction::Remove)
        } else {
            std::ops::ControlFlow::Continue(gst::buffer::BufferMetaForeachAction::Keep)
        }
    });
    for face in faces {
        let x = face.bbox[0].max(0.0).round() as u32;
        let y = face.bbox[1].max(0.0).round() as u32;
        let w = (face.bbox[2].round() as i64 - x as i64).max(0) as u32;
        let h = (face.bbox[3].round() as i64 - y as i64).max(0) as u32;
        let mut roi = gst_video::VideoRegionOfInterestMeta::add(buffer, "face", (x, y, w, h));
        roi.set_id(face.track_id.min(i32::MAX as u64) as i32);
        let keypoints: Vec<f64> = face.keypoints.iter().flat_map(|p| [p[0] as f64, p[1] as f64]).collect();
        roi.add_param(
            gst::Structure::builder(ROI_PARAM_NAME)
                .field("score", face.score as f64)
                .field("keypoints", gst::Array::new(keypoints))
                .field("track-id", face.track_id)
                .field("selected", face.selected)
                .field("predicted", face.predicted)
                .build(),
        );
    }
}

mod imp {
    use super::*;

    pub(super) struct Params {
        pub(super) faces: FrameFaces,
    }

    #[repr(C)]
    pub struct FacesMeta {
        parent: gst::ffi::GstMeta,
        pub(super) faces: FrameFaces,
    }

    pub(super) fn meta_api_type() -> glib::Type {
        // SAFETY: the API name and the NULL-terminated tag list are static C strings, as the
        // registration requires.
        static TYPE: LazyLock<glib::Type> = LazyLock::new(|| unsafe {
            // Tags "video" and "size": copied by videoconvert/queue/tee, transformed by videoscale.
            let tags = [c"video".as_ptr(), c"size".as_ptr(), ptr::null()];
            let t = from_glib(gst::ffi::gst_meta_api_type_register(
                c"GstGhostFacesMetaAPI".as_ptr(),
                tags.as_ptr() as *mut *const _,
            ));
            assert_ne!(t, glib::Type::INVALID);
            t
        });
        *TYPE
    }

    /// GstMetaInitFunction: moves the faces of a `Params` (or none) into the new meta.
    ///
    /// # Safety
    /// `meta` points to the uninitialised `FacesMeta` that GStreamer allocated for `meta_info()`;
    /// `params` is null or points to a `Params` whose ownership passes to the meta (the caller
    /// must not drop it).
    unsafe extern "C" fn init(
        meta: *mut gst::ffi::GstMeta,
        params: glib::ffi::gpointer,
        _buffer: *mut gst::ffi::GstBuffer,
    ) -> glib::ffi::gboolean {
        let meta = &mut *(meta as *mut FacesMeta);
        let faces = if params.is_null() { FrameFaces::default() } else { ptr::read(params as *const Params).faces };
        // `faces` is uninitialised memory: write without dropping an old value.
        ptr::write(&mut meta.faces, faces);
        true.into_glib()
    }

    /// GstMetaFreeFunction: drops the faces.
    ///
    /// # Safety
    /// `meta` points to a `FacesMeta` initialised by `init` and not yet freed.
    unsafe extern "C" fn free(meta: *mut gst::ffi::GstMeta, _buffer: *mut gst::ffi::GstBuffer) {
        let meta = &mut *(meta as *mut FacesMeta);
        ptr::drop_in_place(&mut meta.faces);
    }

    /// GstMetaTransformFunction: copies the faces to `dest`, rescaled for a scale transform;
    /// any other transformation (a crop, a rotation) drops the meta.
    ///
    /// # Safety
    /// `meta` points to an initialised `FacesMeta`, `dest` to a writable buffer, and for the scale
    /// quark `data` points to a `GstVideoMetaTransform` with valid video infos.
    unsafe extern "C" fn transform(
        dest: *mut gst::ffi::GstBuffer,
        meta: *mut gst::ffi::GstMeta,
        _src: *mut gst::ffi::GstBuffer,
        type_: glib::ffi::GQuark,
        data: glib::ffi::gpointer,
    ) -> glib::ffi::gboolean {
        let meta = &*(meta as *const FacesMeta);
        let dest = gst::BufferRef::from_mut_ptr(dest);
        let mut faces = meta.faces.clone();
        if type_ == gst_video::ffi::gst_video_meta_transform_scale_get_quark() {
            let trans = &*(data as *const gst_video::ffi::GstVideoMetaTransform);
            let (iw, ih) = ((*trans.in_info).width, (*trans.in_info).height);
            let (ow, oh) = ((*trans.out_info).width, (*trans.out_info).height);
            if iw <= 0 || ih <= 0 {
                return false.into_glib();
            }
            faces.scale(ow as f64 / iw as f64, oh as f64 / ih as f64);
        } else if type_ != glib::Quark::from_str("gst-copy").into_glib() {
            // Unknown transformation (e.g. a crop or rotation we cannot follow): drop the meta.
            return false.into_glib();
        }
        super::FacesMeta::set(dest, faces);
        true.into_glib()
    }

    pub(super) fn meta_info() -> *const gst::ffi::GstMetaInfo {
        struct MetaInfo(ptr::NonNull<gst::ffi::GstMetaInfo>);
        // SAFETY: a registered GstMetaInfo is immutable and lives for the whole process.
        unsafe impl Send for MetaInfo {}
        // SAFETY: as for Send.
        unsafe impl Sync for MetaInfo {}
        // SAFETY: registers our callbacks (whose contracts GStreamer honours) for the API type, with
        // the size of the `#[repr(C)]` struct that starts with a GstMeta.
        static INFO: LazyLock<MetaInfo> = LazyLock::new(|| unsafe {
            MetaInfo(
                ptr::NonNull::new(gst::ffi::gst_meta_register(
                    meta_api_type().into_glib(),
                    c"GstGhostFacesMeta".as_ptr(),
                    size_of::<FacesMeta>(),
                    Some(init),
                    Some(free),
                    Some(transform),
                ) as *mut gst::ffi::GstMetaInfo)
                .expect("registering the face meta"),
            )
        });
        INFO.0.as_ptr()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn face() -> Face {
        Face {
            track_id: 3,
            score: 0.9,
            bbox: [100.0, 50.0, 300.0, 290.0],
            keypoints: [[150.0, 120.0], [250.0, 120.0], [200.0, 170.0], [160.0, 230.0], [240.0, 230.0]],
            landmarks: Some(vec![[110.0, 60.0]]),
            swap: Some(SwapResult::new(Arc::new(RgbImage::new(4, 4)), Affine2([0.5, 0.0, -10.0, 0.0, 0.5, -20.0]))),
            ..Default::default()
        }
    }

    #[test]
    fn scaling_halves_coordinates_and_keeps_the_crop_mapping_consistent() {
        let original = face();
        let mut scaled = original.clone();
        scaled.scale(0.5, 0.5);
        assert_eq!(scaled.bbox, [50.0, 25.0, 150.0, 145.0]);
        assert_eq!(scaled.keypoints[2], [100.0, 85.0]);
        assert_eq!(scaled.landmarks.as_ref().unwrap()[0], [55.0, 30.0]);
        // A frame point and its scaled twin land on the same crop pixel.
        let (cx, cy) = original.swap.as_ref().unwrap().frame_to_crop.apply(200.0, 100.0);
        let (sx, sy) = scaled.swap.as_ref().unwrap().frame_to_crop.apply(100.0, 50.0);
        assert!((cx - sx).abs() < 1e-9 && (cy - sy).abs() < 1e-9);
    }

    #[test]
    fn meta_round_trips_and_is_copied_with_the_buffer() {
        gst::init().unwrap();
        let mut buffer = gst::Buffer::with_size(16).unwrap();
        let faces = FrameFaces { faces: vec![face()], detection_ran: true };
        FacesMeta::set(buffer.get_mut().unwrap(), faces.clone());
        // Setting again replaces rather than stacks.
        FacesMeta::set(buffer.get_mut().unwrap(), faces.clone());
        assert_eq!(buffer.iter_meta::<FacesMeta>().count(), 1);
        assert_eq!(FacesMeta::from_buffer(&buffer), Some(faces.clone()));
        let copy = buffer.copy();
        assert_eq!(FacesMeta::from_buffer(&copy), Some(faces));
        let mut copy = copy;
        FacesMeta::remove(copy.get_mut().unwrap());
        assert!(FacesMeta::from_buffer(&copy).is_none());
    }

    #[test]
    fn roi_mirror_replaces_only_our_own_rois() {
        gst::init().unwrap();
        let mut buffer = gst::Buffer::with_size(16).unwrap();
        {
            let b = buffer.get_mut().unwrap();
            gst_video::VideoRegionOfInterestMeta::add(b, "car", (1, 2, 3, 4));
            sync_roi_metas(b, &[face()]);
            sync_roi_metas(b, &[face(), face()]);
        }
        let rois: Vec<_> = buffer.iter_meta::<gst_video::VideoRegionOfInterestMeta>().collect();
        assert_eq!(rois.len(), 3);
        let ours: Vec<_> = rois.iter().filter(|r| r.param(ROI_PARAM_NAME).is_some()).collect();
        assert_eq!(ours.len(), 2);
        assert_eq!(ours[0].rect(), (100, 50, 200, 240));
        assert_eq!(ours[0].id(), 3);
        let s = ours[0].param(ROI_PARAM_NAME).unwrap();
        let kps = s.get::<gst::Array>("keypoints").unwrap();
        assert_eq!(kps.len(), 10);
        assert_eq!(kps.as_slice()[4].get::<f64>().unwrap(), 200.0);
    }
}
