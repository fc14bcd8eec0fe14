#!/usr/bin/env bash
# SPDX-License-Identifier: MIT OR Apache-2.0
# The exporter's test (the second test target; not part of `cargo test`):
#   1. build random checkpoints with the official layouts (fixtures/*.txt), export all three
#      architectures (generator with 1, 2 and 3 blocks, iresnet100, LIPSPADE SR) and check each export
#      against PyTorch (max abs diff <= 1e-4) and the parameter counts in
#      docs/reference.md#official-checkpoints-and-the-exporter;
#   2. load the exports in our elements: the 2-block generator and the iresnet100 inside ghostfaceswap
#      on a photo, the SR net through the runtime with the enhancer contract;
#   3. check quantize_ghost.py's graph rewrites against the graphs they replace (test_quantize_ghost.py),
#      make the int8 and fp16 variants of the 2-block generator (calibration crops of obama.jpg and biden.jpg
#      by `ghost-models calibration-crops`) and print their PSNR / max abs difference vs fp32 on held-out crops
#      (32bit.png, obama_partial_face.jpg);
#   4. time the generator of the real GHOST size (examples/bench_generator.rs) at batch 1 and 4, fp32 and
#      int8 alternating.
# Needs a Python with torch, onnx and onnxruntime: PYTHON=/tmp/venv-torch/bin/python (see requirements-export.txt).
# Takes several minutes and ~3 GB of disk on a 2-core machine. Set GHOST_EXPORT_DIR to keep the files.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
PYTHON="${PYTHON:-python3}"
OUT="${GHOST_EXPORT_DIR:-$(mktemp -d /tmp/ghost-export.XXXXXX)}"
BLOCKS="${GHOST_EXPORT_BLOCKS:-1 2 3}"
if ! "$PYTHON" -c 'import torch, onnx, onnxruntime' 2>/dev/null; then
  echo "tests_export.sh needs torch, onnx and onnxruntime for $PYTHON:" >&2
  echo "  python3 -m venv /tmp/venv-torch && /tmp/venv-torch/bin/pip install --no-deps -r $ROOT/plugin-data/tools/requirements-export.txt" >&2
  echo "  PYTHON=/tmp/venv-torch/bin/python $0" >&2
  exit 1
fi
cd "$ROOT/plugin-data/tools"
export PYTHONWARNINGS=ignore
"$PYTHON" test_quantize_ghost.py
"$PYTHON" export_ghost.py --random-from-shapes --arcface - --sr - --out "$OUT"
for b in $BLOCKS; do
  "$PYTHON" export_ghost.py --random-from-shapes --generator - --blocks "$b" --out "$OUT"
done
cd "$ROOT"
cargo run -p ghost-models -- calibration-crops --augment 8 --out "$OUT/calibration" tests/data/obama.jpg tests/data/biden.jpg
cargo run -p ghost-models -- calibration-crops --augment 2 --out "$OUT/heldout" tests/data/32bit.png tests/data/obama_partial_face.jpg
"$PYTHON" plugin-data/tools/export_ghost.py --onnx "$OUT/ghost_unet_2blocks.onnx" --int8 "$OUT/calibration" --fp16
G="$OUT/ghost_unet_2blocks"
"$PYTHON" plugin-data/tools/quantize_ghost.py "$G.onnx" --compare "$OUT/heldout" "${G}_int8.onnx" "${G}_fp16.onnx"
GHOST_EXPORT_DIR="$OUT" cargo test --features export-tests --test exported_models -- --nocapture
cargo run --example bench_generator -- "$G.onnx" "${G}_int8.onnx" "${BENCH_RUNS:-5}" 2
echo "exports kept in $OUT"
