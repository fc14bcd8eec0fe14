// SPDX-License-Identifier: MIT OR Apache-2.0
//! Raw video buffers from images, shared by the examples and the integration tests.

use gstghost::vision::RgbImage;

/// An RGB buffer of `img` with GStreamer's default layout (rows padded to 4 bytes) and a PTS.
pub fn rgb_buffer(img: &RgbImage, pts_ms: u64) -> gst::Buffer {
    let stride = (img.width * 3).div_ceil(4) * 4;
    let mut data = vec![0u8; stride * img.height];
    for y in 0..img.height {
        data[y * stride..y * stride + img.width * 3].copy_from_slice(img.row(y));
    }
    let mut buffer = gst::Buffer::from_mut_slice(data);
    buffer.get_mut().unwrap().set_pts(gst::ClockTime::from_mseconds(pts_ms));
    buffer
}
