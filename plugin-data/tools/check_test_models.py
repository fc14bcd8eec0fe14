#!/usr/bin/env python3
# SPDX-License-Identifier: MIT OR Apache-2.0
"""Check the models written by make_test_models.py with onnxruntime.

Usage: python check_test_models.py MODEL_DIR [--repo REPO_ROOT]

Needs onnxruntime (tested with 1.31.1) and numpy; if opencv is importable it
also checks that the test ArcFace models separate the two people in
tests/data (obama.jpg vs biden.jpg, aligned with tests/data/mtcnn_reference.json).
Not run by setup. Exits non-zero on the first failed check.
"""
import json
import os
import sys

import numpy as np
import onnxruntime as ort

R = np.random.default_rng(123)
FAILS = []


def check(cond, msg):
    print(("ok   " if cond else "FAIL ") + msg)
    if not cond:
        FAILS.append(msg)


def sess(d, f):
    so = ort.SessionOptions()
    so.log_severity_level = 3
    return ort.InferenceSession(os.path.join(d, f), so, providers=["CPUExecutionProvider"])


def sig(s):
    return ([(i.name, i.shape) for i in s.get_inputs()], [(o.name, o.shape) for o in s.get_outputs()])


def meta(s):
    return s.get_modelmeta().custom_metadata_map


def decode(arrs, idx, s, w=640):
    cols = w // s
    cell = idx // 2
    cx, cy = (cell % cols) * s, (cell // cols) * s
    d = arrs[f"bbox_{s}"][idx]
    o = arrs[f"kps_{s}"][idx]
    box = [cx - d[0] * s, cy - d[1] * s, cx + d[2] * s, cy + d[3] * s]
    kps = [(cx + o[2 * k] * s, cy + o[2 * k + 1] * s) for k in range(5)]
    return box, kps


def main():
    d = sys.argv[1]
    repo = sys.argv[sys.argv.index("--repo") + 1] if "--repo" in sys.argv else \
        os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
    for f in sorted(os.listdir(d)):
        if f.endswith(".onnx"):
            check("gst_ghost_test_model" in meta(sess(d, f)), f"{f}: has gst_ghost_test_model")

    names9 = [f"{k}_{s}" for k in ("score", "bbox", "kps") for s in (8, 16, 32)]
    for f, batched in (("scrfd_test.onnx", False), ("scrfd_test_batched.onnx", True)):
        s = sess(d, f)
        check([o.name for o in s.get_outputs()] == names9, f"{f}: output names/order")
        check(s.get_inputs()[0].name == "input.1", f"{f}: input name")
        for h, w in ((640, 640), (480, 640), (320, 256)):
            x = R.uniform(-1, 1, (1, 3, h, w)).astype(np.float32)
            outs = s.run(None, {"input.1": x})
            okshape = True
            for nm, o in zip(names9, outs):
                st = int(nm.split("_")[1]); k = {"score": 1, "bbox": 4, "kps": 10}[nm.split("_")[0]]
                exp = (h // st) * (w // st) * 2
                want = (1, exp, k) if batched else (exp, k)
                okshape &= o.shape == want
            check(okshape, f"{f}: shapes at {h}x{w}")
            sc = np.concatenate([o.reshape(-1) for o in outs[:3]])
            check(sc.max() < 0.5 and np.mean(sc < 0.3) > 0.99,
                  f"{f}: scores low on noise ({h}x{w}: max {sc.max():.3f})")
    s = sess(d, "scrfd_nokps.onnx")
    check(len(s.get_outputs()) == 6, "scrfd_nokps.onnx: six outputs")

    for f, batched in (("scrfd_const.onnx", False), ("scrfd_const_batched.onnx", True)):
        s = sess(d, f)
        check(sig(s)[0] == [("input.1", [1, 3, 640, 640])], f"{f}: input signature")
        outs = s.run(None, {"input.1": R.uniform(-1, 1, (1, 3, 640, 640)).astype(np.float32)})
        arrs = {nm: (o[0] if batched else o) for nm, o in zip(names9, outs)}
        hits = [(st, i) for st in (8, 16, 32) for i in np.nonzero(arrs[f"score_{st}"][:, 0] > 0.5)[0]]
        check(hits == [(16, 1232)], f"{f}: exactly one anchor above 0.5: {hits}")
        check(abs(float(arrs["score_16"][1232, 0]) - 0.9) < 1e-6, f"{f}: score 0.9")
        others = np.concatenate([arrs[f"score_{st}"].reshape(-1) for st in (8, 16, 32)])
        check(np.sum(np.abs(others - np.float32(0.01)) > 1e-7) == 1, f"{f}: all others 0.01")
        box, kps = decode(arrs, 1232, 16)
        check(box == [200, 160, 328, 320], f"{f}: box {box}")
        check(kps == [(236, 220), (292, 220), (264, 256), (242, 290), (286, 290)], f"{f}: kps {kps}")

    for f, on, fam in (("arcface_ghost_test.onnx", "output", "arcface-ghost"),
                       ("arcface_w600k_test.onnx", "embedding", "arcface-w600k")):
        s = sess(d, f)
        check(sig(s) == ([("input", ["N", 3, 112, 112])], [(on, ["N", 512])]), f"{f}: signature")
        check(meta(s).get("gst_ghost_family") == fam, f"{f}: family")
        x = R.uniform(-1, 1, (3, 3, 112, 112)).astype(np.float32)
        check(s.run(None, {"input": x})[0].shape == (3, 512), f"{f}: batch 3")

    s = sess(d, "converter_test.onnx")
    check(sig(s) == ([("input", ["N", 512])], [("output", ["N", 512])]), "converter: signature")
    check(meta(s).get("gst_ghost_family") == "ghost-converter", "converter: family")

    t = R.uniform(-1, 1, (2, 3, 256, 256)).astype(np.float32)
    t[0, 0, 0, :4] = [-0.0, 0.0, np.float32(1e-40), -1.0]
    src = R.normal(size=(2, 512)).astype(np.float32)
    src /= np.linalg.norm(src, axis=1, keepdims=True)
    for f, (tn, sn, on) in (("swapper_identity.onnx", ("target", "source", "output")),
                            ("swapper_identity_xt.onnx", ("Xt", "z_id", "Y"))):
        s = sess(d, f)
        check([i.name for i in s.get_inputs()] == [tn, sn] and s.get_outputs()[0].name == on,
              f"{f}: names")
        check(meta(s).get("gst_ghost_family") == "ghost-swapper", f"{f}: family")
        y = s.run(None, {tn: t, sn: src})[0]
        check(y.tobytes() == t.tobytes(), f"{f}: output bit-identical to target")
        check([i.name for i in s.get_inputs()] == [tn, sn], f"{f}: source input kept")
    s = sess(d, "swapper_mix.onnx")
    y1 = s.run(None, {"target": t, "source": src})[0]
    y2 = s.run(None, {"target": t, "source": -src})[0]
    diff = float(np.abs(y1 - y2).mean())
    check(diff > 0.2, f"swapper_mix: output depends on source (mean |diff| {diff:.3f})")
    bias = np.arctanh(np.clip(y1, -0.999999, 0.999999)) - 0.5 * t
    bmag = np.abs(bias.mean(axis=(2, 3)))
    print("     swapper_mix per-channel |bias| for two unit-norm sources:", np.round(bmag, 3).tolist())

    pts_by = {}
    for f in ("landmark106_test.onnx", "landmark106_wide.onnx"):
        s = sess(d, f)
        check(sig(s) == ([("data", [1, 3, 192, 192])], [("fc1", [1, 212])]), f"{f}: signature")
        z = s.run(None, {"data": np.zeros((1, 3, 192, 192), np.float32)})[0]
        w = s.run(None, {"data": np.full((1, 3, 192, 192), 255.0, np.float32)})[0]
        check(np.abs(z).max() <= 1.0, f"{f}: in [-1,1]")
        pd = float(np.abs(w - z).max())
        check(0 < pd < 1e-4, f"{f}: tiny input dependence ({pd:.2e})")
        pts = ((z.reshape(106, 2).astype(np.float64) + 1) * 96) * 1.75 - 56
        pts_by[f] = pts
        check(pts.min() >= 0 and pts.max() <= 224, f"{f}: points inside 224 crop")
        lb = [43, 48, 49, 51, 50]; le = [35, 41, 40, 42, 39]
        rb = [102, 103, 104, 105, 101]; re_ = [89, 95, 94, 96, 93]
        check(all(pts[b, 1] < pts[e, 1] for b, e in zip(lb + rb, le + re_)), f"{f}: brows above eyes")
        check(all(pts[i, 0] < 112 for i in range(1, 17)) and all(pts[i, 0] > 112 for i in range(17, 33)),
              f"{f}: contour 1..16 image-left, 17..32 image-right")
    a, b = pts_by["landmark106_test.onnx"], pts_by["landmark106_wide.onnx"]
    dx = b[:, 0] - a[:, 0]
    check(np.allclose(dx[1:17], -8, atol=1e-3) and np.allclose(dx[17:33], 8, atol=1e-3)
          and np.allclose(dx[33:], 0, atol=1e-3) and abs(dx[0]) < 1e-3, "landmark wide: jaw +-8 px")
    for gen, tgt, want in ((b, a, -24.0), (a, b, 24.0)):
        left = sum(gen[i, 0] - tgt[i, 0] for i in (1, 2, 13))
        right = sum(tgt[i, 0] - gen[i, 0] for i in (17, 18, 29))
        check(abs(max(left, right) - want) < 1e-2, f"GHOST offset rule gives {max(left, right):.3f}")

    for f, size, fam in (("enhancer_ghostsr_identity.onnx", 256, "ghost-sr"),
                         ("enhancer_gfpgan_identity.onnx", 512, "gfpgan"),
                         ("enhancer_gpen256_identity.onnx", 256, "gpen")):
        s = sess(d, f)
        check(sig(s) == ([("input", ["N", 3, size, size])], [("output", ["N", 3, size, size])]),
              f"{f}: signature")
        check(meta(s).get("gst_ghost_family") == fam, f"{f}: family")
        x = R.uniform(-1, 1, (1, 3, size, size)).astype(np.float32)
        check(s.run(None, {"input": x})[0].tobytes() == x.tobytes(), f"{f}: identity")
    s = sess(d, "enhancer_wrong.onnx")
    check(sig(s) == ([("input", [1, 3, 100, 100])], [("output", [1, 3, 100, 100])]), "enhancer_wrong")

    s = sess(d, "parser_test.onnx")
    check(sig(s) == ([("input", [1, 3, 512, 512])], [("output", [1, 19, 512, 512])]), "parser: signature")
    img = np.zeros((512, 512, 3), np.float32)
    img[:] = (200, 150, 120)            # skin
    img[100:200, 100:200] = (20, 200, 30)  # green occluder
    img[300:350, 300:350] = (0, 0, 0)   # black
    img[400:450, 400:450] = (255, 255, 255)
    x = ((img / 255.0 - np.array([0.485, 0.456, 0.406])) / np.array([0.229, 0.224, 0.225]))
    x = x.transpose(2, 0, 1)[None].astype(np.float32)
    lab = s.run(None, {"input": x})[0][0].argmax(0)
    check((lab[100:200, 100:200] == 0).all() and (lab[:100] == 1).all()
          and (lab[300:350, 300:350] == 1).all() and (lab[400:450, 400:450] == 1).all(),
          "parser: green -> 0, skin/black/white -> 1")

    s = sess(d, "wrong_signature.onnx")
    check(sig(s) == ([("x", [1, 10])], [("y", [1, 10])]), "wrong_signature")

    photo_check(d, repo)
    print("FAILED: %d" % len(FAILS) if FAILS else "ALL OK")
    return 1 if FAILS else 0


V2 = np.array([[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366],
               [41.5493, 92.3655], [70.7299, 92.2041]], np.float32)


def photo_check(d, repo):
    try:
        import cv2
    except ImportError:
        print("skip photo check (no opencv)")
        return
    ref = json.load(open(os.path.join(repo, "tests", "data", "mtcnn_reference.json")))

    def crop(name, shift=(0, 0), gain=1.0):
        img = cv2.cvtColor(cv2.imread(os.path.join(repo, "tests", "data", name)), cv2.COLOR_BGR2RGB)
        kps = np.array(ref["files"][name]["faces"][0]["keypoints"], np.float32) + np.float32(shift)
        m, _ = cv2.estimateAffinePartial2D(kps, V2, method=cv2.LMEDS)
        c = cv2.warpAffine(img, m, (112, 112)).astype(np.float32) * gain
        return ((np.clip(c, 0, 255) - 127.5) / 127.5).transpose(2, 0, 1)[None].astype(np.float32)

    def cos(a, b):
        return float((a * b).sum() / np.linalg.norm(a) / np.linalg.norm(b))

    for f in ("arcface_ghost_test.onnx", "arcface_w600k_test.onnx"):
        s = sess(d, f)
        e = lambda x: s.run(None, {"input": x})[0][0]
        ob, ob2, bi = e(crop("obama.jpg")), e(crop("obama.jpg", (1.5, -1.0), 1.1)), e(crop("biden.jpg"))
        same, other = cos(ob, ob2), cos(ob, bi)
        print(f"     {f}: |emb| {np.linalg.norm(ob):.2f}; cos(obama, obama shifted+brighter) {same:.3f}; "
              f"cos(obama, biden) {other:.3f}")
        check(same > 0.9 and other < same - 0.1, f"{f}: separates obama/biden")


if __name__ == "__main__":
    sys.exit(main())
