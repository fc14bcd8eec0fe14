#!/usr/bin/env python3
# SPDX-License-Identifier: MIT OR Apache-2.0
"""Generate small reference fixtures for src/vision unit tests (OpenCV / skimage).

Run once in a throwaway venv:
    python3 -m venv /tmp/venv-cv && /tmp/venv-cv/bin/pip install opencv-python-headless==4.11.0.86 numpy==2.2.6 scikit-image==0.26.0
    /tmp/venv-cv/bin/python plugin-data/tools/vision_fixtures.py
Writes into tests/data/vision/:
  *.bin  raw little-endian arrays (u8 or f32), row-major, interleaved channels;
  *.txt  whitespace-separated numbers (one record per line, '#' lines are comments).
"""
import os
import warnings

import cv2
import numpy as np
from skimage.transform import SimilarityTransform

warnings.filterwarnings("ignore")
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tests", "data", "vision")
os.makedirs(OUT, exist_ok=True)
rng = np.random.default_rng(1234)


def wbin(name, arr):
    arr = np.ascontiguousarray(arr)
    assert arr.dtype in (np.uint8, np.float32), arr.dtype
    arr.astype(arr.dtype.newbyteorder("<")).tofile(os.path.join(OUT, name))


def wtxt(name, rows, header=""):
    with open(os.path.join(OUT, name), "w") as f:
        if header:
            f.write("# " + header + "\n")
        for r in rows:
            f.write(" ".join(repr(float(v)) if not isinstance(v, (int, np.integer)) else str(int(v)) for v in r) + "\n")


# ---- source image: smooth colour pattern plus mild noise (61x47 RGB) -------------
W, H = 61, 47
yy, xx = np.mgrid[0:H, 0:W].astype(np.float64)
img = np.stack([
    128 + 100 * np.sin(xx / 7.0) * np.cos(yy / 9.0),
    20 + 4 * xx + 0.5 * yy,
    255 - 3 * yy - 0.8 * xx,
], axis=-1)
img += rng.normal(0, 6, img.shape)
src = np.clip(np.round(img), 0, 255).astype(np.uint8)
wbin("src_61x47_rgb.bin", src)

# ---- warpAffine ------------------------------------------------------------------
mats = [
    np.array([[0.8, -0.3, 5.5], [0.25, 0.9, -3.2]]),   # rotation+scale, partly outside
    np.array([[1.7, 0.2, -20.3], [-0.1, 1.6, -12.7]]),  # upscale
    np.array([[0.5, 0.0, 32.0], [0.0, 0.5, 32.0]]),     # plain downscale + shift (as in the landmark handler)
]
wtxt("warp_mats.txt", [m.ravel() for m in mats], "affine 2x3 row-major (src->dst), output 40x32")
for i, m in enumerate(mats):
    c = cv2.warpAffine(src, m, (40, 32), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=(10, 200, 30))
    r = cv2.warpAffine(src, m, (40, 32), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    wbin(f"warp{i}_const.bin", c)
    wbin(f"warp{i}_repl.bin", r)
mask = np.clip(rng.random((H, W)) * 0.3 + (xx / W) * 0.7, 0, 1).astype(np.float32)
wbin("mask_61x47_f32.bin", mask)
wbin("warp0_mask_f32.bin", cv2.warpAffine(mask, mats[0], (40, 32), flags=cv2.INTER_LINEAR, borderValue=0))

# ---- resize ----------------------------------------------------------------------
for (w, h) in [(29, 21), (90, 60), (30, 23)]:
    wbin(f"resize_lin_{w}x{h}.bin", cv2.resize(src, (w, h), interpolation=cv2.INTER_LINEAR))
for (w, h) in [(29, 21), (20, 15), (90, 60), (80, 30)]:
    wbin(f"resize_area_{w}x{h}.bin", cv2.resize(src, (w, h), interpolation=cv2.INTER_AREA))
for (w, h) in [(37, 29), (80, 60)]:
    wbin(f"resize_mask_{w}x{h}_f32.bin", cv2.resize(mask, (w, h), interpolation=cv2.INTER_LINEAR))

# ---- gaussian blur on a uint8 mask (120x100) ---------------------------------------
bm = np.zeros((100, 120), np.uint8)
cv2.fillConvexPoly(bm, np.array([[20, 15], [95, 10], [110, 60], [60, 95], [8, 70]], np.int32), 255)
bm[0:3, :] = 255  # touch the border so reflect-101 matters
wbin("blur_in_120x100.bin", bm)
for sx, sy in [(5, 5), (10, 8), (15, 10)]:
    wbin(f"blur_{sx}_{sy}.bin", cv2.GaussianBlur(bm, (0, 0), sigmaX=sx, sigmaY=sy))  # keywords: 4th positional is dst
# The uint8 path uses 8-bit fixed-point kernel taps (up to 2 levels off the true Gaussian); the float path is exact.
wbin("blur_10_8_f32.bin", cv2.GaussianBlur(bm.astype(np.float32) / 255.0, (61, 49), sigmaX=10, sigmaY=8))  # 8-bit ksize rule

# ---- erode / dilate -----------------------------------------------------------------
mm = np.zeros((64, 64), np.uint8)
cv2.fillConvexPoly(mm, np.array([[0, 5], [40, 0], [63, 30], [30, 63], [5, 50]], np.int32), 255)
mm[30:34, 10:12] = 0
wbin("morph_in_64.bin", mm)
gm = rng.integers(0, 256, (32, 32), dtype=np.uint8)
wbin("morph_gray_in_32.bin", gm)
for k in [4, 5, 10, 15]:
    wbin(f"erode_{k}.bin", cv2.erode(mm, np.ones((k, k), np.uint8)))
    wbin(f"dilate_{k}.bin", cv2.dilate(mm, np.ones((k, k), np.uint8)))
for k in [5, 6]:
    wbin(f"erode_gray_{k}.bin", cv2.erode(gm, np.ones((k, k), np.uint8)))
    wbin(f"dilate_gray_{k}.bin", cv2.dilate(gm, np.ones((k, k), np.uint8)))

# ---- fillConvexPoly: per-row spans (y x0 x1) -------------------------------------------
polys = [
    [[10, 10], [50, 10], [50, 40], [10, 40]],                     # rectangle
    [[5, 5], [60, 20], [25, 70]],                                 # triangle
    [[112, 20], [180, 40], [200, 120], [150, 200], [60, 190], [30, 100]],
    [[-20, 30], [100, -10], [240, 90], [120, 250]],                # partly outside 224x224
]
rows = []
for pi, p in enumerate(polys):
    canvas = np.zeros((224, 224), np.uint8)
    cv2.fillConvexPoly(canvas, np.array(p, np.int32), 255)
    for y in range(224):
        xs = np.nonzero(canvas[y])[0]
        if len(xs):
            assert xs[-1] - xs[0] + 1 == len(xs)
            rows.append([pi, y, xs[0], xs[-1]])
wtxt("fillpoly_polys.txt", [[pi] + list(np.ravel(p)) for pi, p in enumerate(polys)], "poly index then x y pairs")
wtxt("fillpoly_spans.txt", rows, "poly y x0 x1 (224x224 canvas)")

# ---- umeyama (skimage SimilarityTransform) --------------------------------------------------
ur = []
for n in [2, 3, 5, 7]:
    for _ in range(3):
        s = rng.normal(100, 40, (n, 2))
        ang, sc = rng.uniform(-3, 3), rng.uniform(0.3, 3)
        R = sc * np.array([[np.cos(ang), -np.sin(ang)], [np.sin(ang), np.cos(ang)]])
        d = s @ R.T + rng.normal(0, 5, 2) * 10 + rng.normal(0, 2, (n, 2))
        t = SimilarityTransform()
        t.estimate(s, d)
        ur.append([n] + list(s.ravel()) + list(d.ravel()) + list(t.params[:2].ravel()))
wtxt("umeyama.txt", ur, "n src(2n) dst(2n) M(6)")

# ---- insightface 0.2.1 estimate_norm(mode='None', 224) ----------------------------------------
src1 = np.array([[51.642, 50.115], [57.617, 49.990], [35.740, 69.007], [51.157, 89.050], [57.025, 89.702]], dtype=np.float32)
src2 = np.array([[45.031, 50.118], [65.568, 50.872], [39.677, 68.111], [45.177, 86.190], [64.246, 86.758]], dtype=np.float32)
src3 = np.array([[39.730, 51.138], [72.270, 51.138], [56.000, 68.493], [42.463, 87.010], [69.537, 87.010]], dtype=np.float32)
src4 = np.array([[46.845, 50.872], [67.382, 50.118], [72.737, 68.111], [48.167, 86.758], [67.236, 86.190]], dtype=np.float32)
src5 = np.array([[54.796, 49.990], [60.771, 50.115], [76.673, 69.007], [55.388, 89.702], [61.257, 89.050]], dtype=np.float32)
srcs = np.array([src1, src2, src3, src4, src5]) * 2


def estimate_norm(lmk, src):
    tform = SimilarityTransform()
    lmk_tran = np.insert(lmk, 2, values=np.ones(5), axis=1)
    min_M, min_index, min_error = [], [], float("inf")
    for i in np.arange(src.shape[0]):
        tform.estimate(lmk, src[i].astype(np.float64))
        M = tform.params[0:2, :]
        results = np.dot(M, lmk_tran.T).T
        error = np.sum(np.sqrt(np.sum((results - src[i]) ** 2, axis=1)))
        if error < min_error:
            min_error, min_M, min_index = error, M, i
    return min_M, min_index, min_error


er = []
for k in range(6):
    base = srcs[k % 5].astype(np.float64)
    ang, sc = rng.uniform(-0.5, 0.5), rng.uniform(1.0, 3.0)
    R = sc * np.array([[np.cos(ang), -np.sin(ang)], [np.sin(ang), np.cos(ang)]])
    lmk = base @ R.T + rng.uniform(50, 400, 2) + rng.normal(0, 2, (5, 2))
    M, idx, err = estimate_norm(lmk, srcs)
    er.append(list(lmk.ravel()) + list(M.ravel()) + [idx, err])
wtxt("estimate_norm.txt", er, "lmk(10) M(6) index error  (templates*2, 224 crop)")

# ---- Lab (8-bit OpenCV convention), RGB input ------------------------------------------------
cols = rng.integers(0, 256, (64, 1, 3), dtype=np.uint8)
cols[:6, 0] = [[0, 0, 0], [255, 255, 255], [255, 0, 0], [0, 255, 0], [0, 0, 255], [128, 128, 128]]
lab = cv2.cvtColor(cols, cv2.COLOR_RGB2Lab)
back = cv2.cvtColor(lab, cv2.COLOR_Lab2RGB)
wtxt("lab.txt", [list(c[0]) + list(l[0]) + list(b[0]) for c, l, b in zip(cols, lab, back)], "rgb lab8 rgb_back")

tot = sum(os.path.getsize(os.path.join(OUT, f)) for f in os.listdir(OUT))
print("wrote", len(os.listdir(OUT)), "files,", tot, "bytes")
