#!/usr/bin/env python3
# SPDX-License-Identifier: MIT OR Apache-2.0
"""Reference inputs of the swapper and recognizers, computed the way GHOST / insightface 0.2.1 do.

For tests/data/32bit.png (lossless, so both sides see the same pixels; JPEG decoders differ by a level) with the MTCNN reference keypoints (tests/data/mtcnn_reference.json), writes
tests/data/swap/*.f32: every 13th value of
  - ghost_gen_256:   the generator input (224 crop by the best multi-pose template, cv2.resize to 256, RGB, [-1,1])
  - ghost_arc_112:   GHOST's recognizer input (224 crop, RGB, [-1,1], bilinear x0.5 with align_corners=True)
  - w600k_arc_112:   w600k ArcFace input (arcface template, 112 crop, RGB, (x-127.5)/127.5)
plus ghost_crop_224.png (the aligned crop, for looking at). Tested with opencv-python-headless 4.11.0.86 (GHOST ran OpenCV 4.x: its fixed-point warpAffine is what we match),
scikit-image 0.26.0, numpy 2.2.6. Run: python swap_fixtures.py (from the repository root).
"""
import json
import os

import cv2
import numpy as np
from skimage import transform as trans

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT = os.path.join(ROOT, "tests/data/swap")
STEP = 13

# insightface 0.2.1 face_align templates (112 units), stored as float32 as insightface does.
SRC = np.array([
    [[51.642, 50.115], [57.617, 49.990], [35.740, 69.007], [51.157, 89.050], [57.025, 89.702]],
    [[45.031, 50.118], [65.568, 50.872], [39.677, 68.111], [45.177, 86.190], [64.246, 86.758]],
    [[39.730, 51.138], [72.270, 51.138], [56.000, 68.493], [42.463, 87.010], [69.537, 87.010]],
    [[46.845, 50.872], [67.382, 50.118], [72.737, 68.111], [48.167, 86.758], [67.236, 86.190]],
    [[54.796, 49.990], [60.771, 50.115], [76.673, 69.007], [55.388, 89.702], [61.257, 89.050]],
], dtype=np.float32)
ARCFACE_SRC = np.array([[[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366],
                         [41.5493, 92.3655], [70.7299, 92.2041]]], dtype=np.float32)


def estimate_norm(lmk, image_size, mode):
    """insightface 0.2.1 face_align.estimate_norm.

    The fit runs in float64 as with the scikit-image of GHOST's time (0.17-0.19 converted to float64;
    0.26 would keep float32 and lose ~1e-6 relative precision)."""
    lmk = lmk.astype(np.float64)
    tform = trans.SimilarityTransform()
    lmk_tran = np.insert(lmk, 2, values=np.ones(5), axis=1)
    min_M, min_error = [], float("inf")
    src = (ARCFACE_SRC if mode == "arcface" else SRC * (image_size / 112)).astype(np.float64)
    for i in np.arange(src.shape[0]):
        tform.estimate(lmk, src[i])
        M = tform.params[0:2, :]
        results = np.dot(M, lmk_tran.T).T
        error = np.sum(np.sqrt(np.sum((results - src[i]) ** 2, axis=1)))
        if error < min_error:
            min_error, min_M = error, M
    return min_M


def align_corners_half(x):
    """F.interpolate(scale_factor=0.5, mode='bilinear', align_corners=True) on HWC float."""
    h, w = x.shape[:2]
    oh, ow = h // 2, w // 2
    ys = np.arange(oh) * (h - 1) / (oh - 1)
    xs = np.arange(ow) * (w - 1) / (ow - 1)
    y0 = np.floor(ys).astype(int); y1 = np.minimum(y0 + 1, h - 1); wy = (ys - y0)[:, None, None]
    x0 = np.floor(xs).astype(int); x1 = np.minimum(x0 + 1, w - 1); wx = (xs - x0)[None, :, None]
    top = x[y0][:, x0] * (1 - wx) + x[y0][:, x1] * wx
    bottom = x[y1][:, x0] * (1 - wx) + x[y1][:, x1] * wx
    return top * (1 - wy) + bottom * wy


def save(name, chw):
    flat = np.ascontiguousarray(chw, dtype=np.float32).reshape(-1)[::STEP]
    flat.astype("<f4").tofile(os.path.join(OUT, name + ".f32"))


def main():
    os.makedirs(OUT, exist_ok=True)
    ref = json.load(open(os.path.join(ROOT, "tests/data/mtcnn_reference.json")))
    kps = np.array(ref["files"]["32bit.png"]["faces"][0]["keypoints"], dtype=np.float32)
    bgr = cv2.imread(os.path.join(ROOT, "tests/data/32bit.png"))

    M = estimate_norm(kps, 224, "None")
    crop = cv2.warpAffine(bgr, M, (224, 224), borderValue=0.0)
    cv2.imwrite(os.path.join(OUT, "ghost_crop_224.png"), crop)
    rgb224 = crop[:, :, ::-1].astype(np.float32)

    gen = cv2.resize(crop, (256, 256))[:, :, ::-1].astype(np.float32) / 255.0
    save("ghost_gen_256", ((gen - 0.5) / 0.5).transpose(2, 0, 1))

    arc = align_corners_half((rgb224 / 255.0 - 0.5) / 0.5)
    save("ghost_arc_112", arc.transpose(2, 0, 1))

    M112 = estimate_norm(kps, 112, "arcface")
    w600k = cv2.warpAffine(bgr, M112, (112, 112), borderValue=0.0)[:, :, ::-1].astype(np.float32)
    save("w600k_arc_112", ((w600k - 127.5) / 127.5).transpose(2, 0, 1))
    print("wrote", OUT)


if __name__ == "__main__":
    main()
