#!/usr/bin/env python3
# SPDX-License-Identifier: MIT OR Apache-2.0
"""Generate small deterministic ONNX test models with the tensor contracts of
every model family gst-ghost supports (see TEST_MODELS.md next to this file).

Usage: python make_test_models.py OUT_DIR

Needs only `onnx` and `numpy` (pinned in requirements.txt). Output is
byte-for-byte reproducible: fixed seeds, no timestamps, fixed producer fields.
"""
import os
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 17
IR_VERSION = 8
F = TensorProto.FLOAT

# ----------------------------------------------------------------- helpers


class G:
    """Tiny graph builder."""

    def __init__(self):
        self.nodes, self.inits, self.inputs, self.outputs = [], [], [], []
        self.n = 0

    def name(self, p):
        self.n += 1
        return f"{p}_{self.n}"

    def const(self, arr, p="c"):
        nm = self.name(p)
        self.inits.append(numpy_helper.from_array(np.ascontiguousarray(arr), nm))
        return nm

    def i64(self, vals, p="shape"):
        return self.const(np.array(vals, dtype=np.int64), p)

    def f32(self, arr, p="w"):
        return self.const(np.asarray(arr, dtype=np.float32), p)

    def op(self, typ, ins, out=None, **attrs):
        out = out or self.name(typ.lower())
        self.nodes.append(helper.make_node(typ, ins, [out], name=self.name("n_" + typ), **attrs))
        return out

    def inp(self, name, shape, elem=F):
        self.inputs.append(helper.make_tensor_value_info(name, elem, shape))
        return name

    def out(self, name, shape, elem=F):
        self.outputs.append(helper.make_tensor_value_info(name, elem, shape))
        return name

    def model(self, graph_name, desc, meta=None):
        g = helper.make_graph(self.nodes, graph_name, self.inputs, self.outputs, self.inits)
        m = helper.make_model(g, opset_imports=[helper.make_opsetid("", OPSET)],
                              producer_name="gst-ghost make_test_models.py",
                              producer_version="1")
        m.ir_version = IR_VERSION
        props = {"gst_ghost_test_model": desc}
        props.update(meta or {})
        helper.set_model_props(m, props)
        onnx.checker.check_model(m, full_check=True)
        return m


def save(m, out_dir, fname):
    path = os.path.join(out_dir, fname)
    with open(path, "wb") as fh:
        fh.write(m.SerializeToString(deterministic=True))
    return path


def rng(seed):
    return np.random.default_rng(seed)


# ------------------------------------------------------------------- SCRFD

STRIDES = (8, 16, 32)
KINDS = (("score", 1), ("bbox", 4), ("kps", 10))


def scrfd(batched, with_kps=True, seed=10):
    g = G()
    x = g.inp("input.1", [1, 3, "H", "W"])
    r = rng(seed)
    outs = {}
    for kind, k in KINDS:
        if kind == "kps" and not with_kps:
            continue
        for s in STRIDES:
            fan_in = 3 * s * s
            w = r.normal(0.0, 0.5 / np.sqrt(fan_in), size=(2 * k, 3, s, s)).astype(np.float32)
            if kind == "score":
                b = np.full(2 * k, -3.0, np.float32)
            elif kind == "bbox":
                b = np.full(2 * k, 2.0, np.float32)
            else:
                b = np.zeros(2 * k, np.float32)
            y = g.op("Conv", [x, g.f32(w), g.f32(b)], kernel_shape=[s, s], strides=[s, s])
            y = g.op("Transpose", [y], perm=[0, 2, 3, 1])
            shape = [1, -1, k] if batched else [-1, k]
            name = f"{kind}_{s}"
            if kind == "score":
                y = g.op("Reshape", [y, g.i64(shape)])
                g.op("Sigmoid", [y], out=name)
            else:
                g.op("Reshape", [y, g.i64(shape)], out=name)
            outs[name] = [1, f"n{s}", k] if batched else [f"n{s}", k]
    order = [f"{kind}_{s}" for kind, _ in KINDS for s in STRIDES if (with_kps or kind != "kps")]
    for nm in order:
        g.out(nm, outs[nm])
    return g


# constant SCRFD: one face at a known place in 640x640 network pixels
CONST_STRIDE, CONST_COL, CONST_ROW = 16, 16, 15
CONST_SCORE, CONST_BG = 0.9, 0.01
CONST_BOX = (200.0, 160.0, 328.0, 320.0)
CONST_KPS = ((236.0, 220.0), (292.0, 220.0), (264.0, 256.0), (242.0, 290.0), (286.0, 290.0))


def scrfd_const_arrays():
    s = CONST_STRIDE
    cx, cy = CONST_COL * s, CONST_ROW * s
    idx = 2 * (CONST_ROW * (640 // s) + CONST_COL)
    arrs = {}
    for st in STRIDES:
        n = (640 // st) ** 2 * 2
        arrs[f"score_{st}"] = np.full((n, 1), CONST_BG, np.float32)
        arrs[f"bbox_{st}"] = np.ones((n, 4), np.float32)
        arrs[f"kps_{st}"] = np.zeros((n, 10), np.float32)
    x1, y1, x2, y2 = CONST_BOX
    arrs[f"score_{s}"][idx, 0] = CONST_SCORE
    arrs[f"bbox_{s}"][idx] = [(cx - x1) / s, (cy - y1) / s, (x2 - cx) / s, (y2 - cy) / s]
    arrs[f"kps_{s}"][idx] = [v for (kx, ky) in CONST_KPS for v in ((kx - cx) / s, (ky - cy) / s)]
    return arrs, idx


def scrfd_const(batched):
    g = G()
    x = g.inp("input.1", [1, 3, 640, 640])
    zero = g.op("Mul", [g.op("ReduceMean", [x], keepdims=0), g.f32(np.float32(0.0))])
    arrs, _ = scrfd_const_arrays()
    for kind, k in KINDS:
        for s in STRIDES:
            nm = f"{kind}_{s}"
            a = arrs[nm]
            if batched:
                a = a[None]
            g.op("Add", [g.f32(a, nm + "_const"), zero], out=nm)
            g.out(nm, list(a.shape))
    return g


# -------------------------------------------------------- recognition etc.


def orthonormal_rows(r, rows, cols):
    q, _ = np.linalg.qr(r.normal(size=(cols, rows)))
    return q.T.astype(np.float32)  # rows x cols, orthonormal rows


def arcface(seed, out_name):
    g = G()
    x = g.inp("input", ["N", 3, 112, 112])
    p = g.op("AveragePool", [x], kernel_shape=[28, 28], strides=[28, 28])
    f = g.op("Flatten", [p], axis=1)
    m = g.op("ReduceMean", [f], axes=[1], keepdims=1)
    c = g.op("Sub", [f, m])
    w = orthonormal_rows(rng(seed), 48, 512) * np.float32(ARC_SCALE)
    g.op("MatMul", [c, g.f32(w)], out=out_name)
    g.out(out_name, ["N", 512])
    return g


ARC_SCALE = 10.0


def converter():
    g = G()
    x = g.inp("input", ["N", 512])
    r = rng(2)
    q, _ = np.linalg.qr(r.normal(size=(512, 512)))
    w = (q * 1.0).astype(np.float32)
    b = r.normal(0.0, 0.01, size=512).astype(np.float32)
    y = g.op("MatMul", [x, g.f32(w)])
    g.op("Add", [y, g.f32(b)], out="output")
    g.out("output", ["N", 512])
    return g


def swapper_identity(tn, sn, on):
    g = G()
    t = g.inp(tn, ["N", 3, 256, 256])
    s = g.inp(sn, ["N", 512])
    # output = Reshape(target, [batch(source), 3, 256, 256]): the source is a
    # real graph dependency (its batch dim), yet the output is a bit-exact copy
    # of the target (arithmetic such as t + 0*sum(source) or Where() turns -0.0
    # into +0.0 in onnxruntime).
    n = g.op("Gather", [g.op("Shape", [s]), g.i64([0], "idx")], axis=0)
    shp = g.op("Concat", [n, g.i64([3, 256, 256])], axis=0)
    g.op("Reshape", [t, shp], out=on)
    g.out(on, ["N", 3, 256, 256])
    return g


def swapper_mix():
    g = G()
    t = g.inp("target", ["N", 3, 256, 256])
    s = g.inp("source", ["N", 512])
    r = rng(3)
    w = r.normal(size=(512, 3))
    w, _ = np.linalg.qr(w)                    # orthonormal columns
    w = (w * np.sqrt(512.0)).astype(np.float32)  # unit-norm random source -> ~N(0,1) per channel
    b = g.op("MatMul", [s, g.f32(w)])
    b = g.op("Mul", [g.op("Tanh", [b]), g.f32(np.float32(0.8))])
    b = g.op("Unsqueeze", [b, g.i64([2, 3], "axes")])
    y = g.op("Add", [g.op("Mul", [t, g.f32(np.float32(0.5))]), b])
    g.op("Tanh", [y], out="output")
    g.out("output", ["N", 3, 256, 256])
    return g


def _conv(g, x, r, cin, cout, k, stride=1, pad=None, gain=1.0, bias=0.0):
    """Conv with deterministic He-scaled weights (unit-ish activations) and a small bias."""
    pad = (k - 1) // 2 if pad is None else pad
    w = (r.normal(size=(cout, cin, k, k)) * gain / np.sqrt(cin * k * k)).astype(np.float32)
    b = (bias + 0.05 * r.normal(size=cout)).astype(np.float32)
    return g.op("Conv", [x, g.f32(w), g.f32(b)], kernel_shape=[k, k], strides=[stride, stride],
                pads=[pad] * 4)


def _up2(g, x):
    # The real generator's F.interpolate(scale 2, bilinear, align_corners=True).
    return g.op("Resize", [x, "", g.f32(np.array([1, 1, 2, 2], np.float32), "scales")], mode="linear",
                coordinate_transformation_mode="align_corners")


def swapper_conv(out_size=256):
    """A small generator with GHOST's op mix (see TEST_MODELS.md): strided convs with LeakyReLU, one
    AAD layer (InstanceNorm, attribute 1x1 convs, identity through Gemm, sigmoid gate), bilinear
    upsampling with a skip Concat, tanh. out_size 128 leaves out the last upsampling (a wrong contract)."""
    g = G()
    t = g.inp("target", ["N", 3, 256, 256])
    s = g.inp("source", ["N", 512])
    r = rng(5)
    e1 = g.op("LeakyRelu", [_conv(g, t, r, 3, 16, 4, 2, 1)], alpha=0.1)      # 128
    e2 = g.op("LeakyRelu", [_conv(g, e1, r, 16, 32, 4, 2, 1)], alpha=0.1)    # 64
    h = g.op("InstanceNormalization", [e2, g.f32(np.ones(32, np.float32)), g.f32(np.zeros(32, np.float32))],
             epsilon=1e-5)
    # attribute modulation a = gamma(e2)*h + beta(e2)
    a = g.op("Add", [g.op("Mul", [_conv(g, e2, r, 32, 32, 1, bias=1.0), h]), _conv(g, e2, r, 32, 32, 1)])
    # identity modulation i = (1 + W1 s)*h + W2 s: raw identities of norm ~16-30 move gamma by ~0.3-0.6
    w1 = (r.normal(size=(32, 512)) * 0.02).astype(np.float32)
    w2 = (r.normal(size=(32, 512)) * 0.02).astype(np.float32)
    gam = g.op("Gemm", [s, g.f32(w1), g.f32(np.ones(32, np.float32))], transB=1)
    bet = g.op("Gemm", [s, g.f32(w2), g.f32(np.zeros(32, np.float32))], transB=1)
    gam = g.op("Unsqueeze", [gam, g.i64([2, 3], "axes")])
    bet = g.op("Unsqueeze", [bet, g.i64([2, 3], "axes")])
    i = g.op("Add", [g.op("Mul", [gam, h]), bet])
    m = g.op("Sigmoid", [_conv(g, h, r, 32, 1, 1)])
    mix = g.op("Add", [g.op("Mul", [g.op("Sub", [g.f32(np.float32(1.0)), m]), a]), g.op("Mul", [m, i])])
    x = _conv(g, g.op("Relu", [mix]), r, 32, 32, 3)
    x = g.op("Concat", [_up2(g, x), e1], axis=1)                                  # 128, 48 channels
    x = g.op("Relu", [_conv(g, x, r, 48, 16, 3)])
    if out_size == 256:
        x = _up2(g, x)
    # 0.5 gain keeps tanh mostly out of saturation, so differences stay visible in the output
    g.op("Tanh", [_conv(g, x, r, 16, 3, 3, gain=0.5)], out="output")
    g.out("output", ["N", 3, out_size, out_size])
    return g


# ---------------------------------------------------------------- 2d106det


def _mirror(pts, pairs):
    for a, b in pairs:
        x, y = pts[a]
        pts[b] = (224.0 - x, y)


def landmarks106(jaw_extra=0.0):
    """Canonical 106 points in 224-crop pixels (insightface 2d106det order)."""
    pts = [None] * 106
    # contour: image-left side top->chin is 1, 9..16, 2..8, then chin 0;
    # image-right side mirrors it with 17, 25..32, 18..24.
    left_order = [1] + list(range(9, 17)) + list(range(2, 9))
    right_order = [17] + list(range(25, 33)) + list(range(18, 25))
    for p, (li, ri) in enumerate(zip(left_order, right_order)):
        phi = p / 16.0 * np.pi / 2.0
        dx = 72.0 * np.cos(phi)
        y = round(100.0 + 110.0 * np.sin(phi), 1)
        dx = round(dx, 1) + jaw_extra
        pts[li] = (112.0 - dx, y)
        pts[ri] = (112.0 + dx, y)
    pts[0] = (112.0, 210.0)
    # image-left eye (33..42): corners 35 (outer) / 39 (inner), top 41,40,42, pupil 38
    eye = {35: (65.0, 102.5), 41: (72.0, 97.5), 40: (79.5, 96.0), 42: (87.0, 97.5),
           39: (94.0, 102.5), 36: (70.0, 106.0), 33: (76.0, 108.0), 34: (83.0, 108.0),
           37: (89.0, 106.0), 38: (79.5, 102.5)}
    # image-left brow (43..51): upper line 43 (outer),48,49,51,50 (inner); lower edge 44..47
    brow = {43: (60.0, 84.0), 48: (69.0, 79.0), 49: (79.0, 77.0), 51: (89.0, 78.0),
            50: (99.0, 81.0), 44: (64.0, 87.0), 45: (72.0, 83.0), 46: (81.0, 82.0),
            47: (91.0, 83.0)}
    for d in (eye, brow):
        for i, v in d.items():
            pts[i] = v
    _mirror(pts, [(35, 93), (41, 96), (40, 94), (42, 95), (39, 89), (36, 91), (33, 87),
                  (34, 92), (37, 90), (38, 88),
                  (43, 101), (48, 105), (49, 104), (51, 103), (50, 102),
                  (44, 97), (45, 98), (46, 99), (47, 100)])
    nose = {72: (112.0, 105.0), 73: (112.0, 115.0), 74: (112.0, 125.0), 86: (112.0, 137.0),
            78: (98.0, 145.0), 79: (105.0, 147.0), 80: (112.0, 148.0), 85: (119.0, 147.0),
            84: (126.0, 145.0), 75: (104.0, 120.0), 76: (102.0, 130.0), 77: (100.0, 140.0),
            81: (120.0, 120.0), 82: (122.0, 130.0), 83: (124.0, 140.0)}
    mouth = {52: (85.0, 174.0), 64: (94.0, 167.0), 63: (103.0, 163.0), 71: (112.0, 165.0),
             67: (121.0, 163.0), 68: (130.0, 167.0), 61: (139.0, 174.0), 58: (130.0, 182.0),
             59: (121.0, 186.0), 53: (112.0, 187.0), 56: (103.0, 186.0), 55: (94.0, 182.0),
             65: (90.0, 174.0), 66: (103.0, 171.0), 62: (112.0, 171.0), 70: (121.0, 171.0),
             69: (134.0, 174.0), 57: (121.0, 177.0), 60: (112.0, 178.0), 54: (103.0, 177.0)}
    for d in (nose, mouth):
        for i, v in d.items():
            pts[i] = v
    assert all(p is not None for p in pts)
    return np.array(pts, dtype=np.float64)


def landmark_model(jaw_extra):
    g = G()
    x = g.inp("data", [1, 3, 192, 192])
    pts = landmarks106(jaw_extra)
    pred = ((pts + 56.0) / 1.75 / 96.0 - 1.0).reshape(1, 212).astype(np.float32)
    m = g.op("ReduceMean", [x], keepdims=0)
    t = g.op("Tanh", [g.op("Div", [m, g.f32(np.float32(255.0))])])
    d = g.op("Mul", [t, g.f32(np.float32(1e-4))])
    g.op("Add", [g.f32(pred, "mean_face"), d], out="fc1")
    g.out("fc1", [1, 212])
    return g


# ------------------------------------------------------- enhancers, parser


def identity_model(in_shape, iname="input", oname="output"):
    g = G()
    x = g.inp(iname, in_shape)
    g.op("Identity", [x], out=oname)
    g.out(oname, in_shape)
    return g


IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
GREEN_GAIN, GREEN_THRESH = 20.0, 0.35


def parser():
    g = G()
    x = g.inp("input", [1, 3, 512, 512])
    w = np.zeros((19, 3, 1, 1), np.float32)
    b = np.full(19, -5.0, np.float32)
    b[1] = 0.0
    coef = np.array([-0.5, 1.0, -0.5])
    w[0, :, 0, 0] = GREEN_GAIN * coef * np.array(IMAGENET_STD)
    b[0] = GREEN_GAIN * (float(np.dot(coef, IMAGENET_MEAN)) - GREEN_THRESH)
    g.op("Conv", [x, g.f32(w), g.f32(b)], out="output", kernel_shape=[1, 1])
    g.out("output", [1, 19, 512, 512])
    return g


def wrong_signature():
    g = G()
    x = g.inp("x", [1, 10])
    g.op("Identity", [x], out="y")
    g.out("y", [1, 10])
    return g


# -------------------------------------------------------------------- main

FAM = "gst_ghost_family"
VAR = "gst_ghost_variant"


def build_all():
    yield "scrfd_test.onnx", scrfd(False), "SCRFD contract, random strided convs, dynamic H/W", {}
    yield ("scrfd_test_batched.onnx", scrfd(True),
           "SCRFD contract with leading batch dim on outputs, dynamic H/W", {})
    yield ("scrfd_const.onnx", scrfd_const(False),
           "SCRFD constant output: one face box (200,160,328,320) score 0.9 in 640x640", {})
    yield ("scrfd_const_batched.onnx", scrfd_const(True),
           "SCRFD constant output with batch dim: one face box (200,160,328,320) score 0.9", {})
    yield ("scrfd_nokps.onnx", scrfd(False, with_kps=False),
           "SCRFD without keypoint outputs (six outputs): must be rejected", {})
    yield ("arcface_ghost_test.onnx", arcface(1, "output"),
           "ArcFace iresnet100 GHOST contract: 4x4 avg-pool, centred, fixed projection to 512",
           {FAM: "arcface-ghost"})
    yield ("arcface_w600k_test.onnx", arcface(4, "embedding"),
           "ArcFace w600k_r50 contract: 4x4 avg-pool, centred, fixed projection to 512",
           {FAM: "arcface-w600k"})
    yield ("converter_test.onnx", converter(),
           "GHOST embedding converter contract: orthogonal 512x512 matrix plus small bias",
           {FAM: "ghost-converter"})
    yield ("swapper_identity.onnx", swapper_identity("target", "source", "output"),
           "GHOST swapper contract, output == target bit-exactly",
           {FAM: "ghost-swapper", VAR: "identity"})
    yield ("swapper_identity_xt.onnx", swapper_identity("Xt", "z_id", "Y"),
           "GHOST swapper contract (Xt/z_id/Y names), output == target bit-exactly",
           {FAM: "ghost-swapper", VAR: "identity-xt"})
    yield ("swapper_mix.onnx", swapper_mix(),
           "GHOST swapper contract, output = tanh(0.5*target + 0.8*tanh(source@W)) per channel",
           {FAM: "ghost-swapper", VAR: "mix"})
    yield ("swapper_conv.onnx", swapper_conv(),
           "GHOST swapper contract, a small conv generator with the real generator's op mix (deterministic weights)",
           {FAM: "ghost-swapper", VAR: "conv"})
    yield ("swapper_conv_half.onnx", swapper_conv(128),
           "swapper_conv without the last upsampling: output (N,3,128,128), a wrong generator contract",
           {FAM: "ghost-swapper", VAR: "conv-half"})
    yield ("landmark106_test.onnx", landmark_model(0.0),
           "2d106det contract: constant mean face + 1e-4*tanh(mean(input)/255)",
           {FAM: "2d106det"})
    yield ("landmark106_wide.onnx", landmark_model(8.0),
           "2d106det contract: mean face with jaw contour 8 px wider per side (224 crop)",
           {FAM: "2d106det"})
    yield ("enhancer_ghostsr_identity.onnx", identity_model(["N", 3, 256, 256]),
           "GHOST SR contract (256, RGB [0,1]), identity", {FAM: "ghost-sr"})
    yield ("enhancer_gfpgan_identity.onnx", identity_model(["N", 3, 512, 512]),
           "GFPGAN contract (512, RGB [-1,1]), identity", {FAM: "gfpgan"})
    yield ("enhancer_gpen256_identity.onnx", identity_model(["N", 3, 256, 256]),
           "GPEN 256 contract (RGB [-1,1]), identity", {FAM: "gpen"})
    yield ("enhancer_wrong.onnx", identity_model([1, 3, 100, 100]),
           "enhancer with a wrong signature (1,3,100,100)", {})
    yield ("parser_test.onnx", parser(),
           "BiSeNet contract: 1x1 conv, class 1 (skin) unless strongly green -> class 0",
           {FAM: "bisenet"})
    yield "wrong_signature.onnx", wrong_signature(), "wrong signature x(1,10) -> y(1,10)", {}


def main(argv):
    if len(argv) != 2:
        print("usage: python make_test_models.py OUT_DIR", file=sys.stderr)
        return 2
    out_dir = argv[1]
    os.makedirs(out_dir, exist_ok=True)
    for fname, g, desc, meta in build_all():
        m = g.model(os.path.splitext(fname)[0], desc, meta)
        p = save(m, out_dir, fname)
        print(f"{fname:34s} {os.path.getsize(p):9d} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
