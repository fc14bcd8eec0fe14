#!/usr/bin/env python3
# SPDX-License-Identifier: MIT OR Apache-2.0
"""int8 (CPU) and fp16 (GPU) variants of a GHOST generator, and how far they are from the fp32 file.

    quantize_ghost.py MODEL.onnx --int8 CROPS_DIR       -> MODEL_int8.onnx next to MODEL.onnx
    quantize_ghost.py MODEL.onnx --fp16                 -> MODEL_fp16.onnx
    quantize_ghost.py MODEL.onnx --compare CROPS_DIR VARIANT.onnx [...]   (PSNR, max abs diff vs MODEL)

MODEL is any file with the generator contract of src/models/swapper.rs: inputs target (N,3,256,256) RGB in
[-1,1] (or Xt) and source (N,512) raw ArcFace identity (or z_id); one output (N,3,256,256) from tanh.
CROPS_DIR holds aligned 256x256 face crops as PNG, made the way the element makes them
(`cargo run -p ghost-models -- calibration-crops --augment 8 --out CROPS_DIR [PHOTOS]`). Identities: the .npy
files in CROPS_DIR (each (512,) or (K,512) float32, e.g. from `ghostfaceswap embedding-out=`), used in
turn; without any, synthetic raw ArcFace-like vectors (see synthetic_identities).

int8 = ONNX Runtime static quantization in QDQ format (see quantize_int8 for the choices). Needs onnx,
numpy and onnxruntime (1.31.1, as the plugin); fp16 needs onnxconverter-common. Never PyTorch.
"""

import argparse
import os
import struct
import sys
import time
import zlib

import numpy as np
import onnx

SIZE = 256
EMBEDDING = 512
TARGET_NAMES = ("target", "Xt")
SOURCE_NAMES = ("source", "z_id")


# --------------------------------------------------------------------------------------- crops


def read_png(path):
    """An 8-bit RGB or RGBA, non-interlaced PNG (what the crop maker and most tools write) as HxWx3 uint8."""
    with open(path, "rb") as f:
        data = f.read()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError(f"{path}: not a PNG")
    pos, idat, header = 8, [], None
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos:pos + 4])
        kind, body = data[pos + 4:pos + 8], data[pos + 8:pos + 8 + length]
        pos += 12 + length
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat.append(body)
        elif kind == b"IEND":
            break
    w, h, depth, colour, _, _, interlace = header
    if depth != 8 or colour not in (2, 6) or interlace:
        raise ValueError(f"{path}: only 8-bit RGB/RGBA non-interlaced PNGs are read (depth {depth}, colour {colour})")
    bpp = 3 if colour == 2 else 4
    raw = np.frombuffer(zlib.decompress(b"".join(idat)), np.uint8).reshape(h, 1 + w * bpp)
    out = np.zeros((h, w * bpp), np.uint8)
    prev = np.zeros(w * bpp, np.int32)
    for y in range(h):
        ftype, line = raw[y, 0], raw[y, 1:].astype(np.int32)
        if ftype == 0:
            cur = line
        elif ftype == 1:  # Sub: a running sum per channel
            cur = np.cumsum(line.reshape(w, bpp), axis=0).reshape(-1) & 0xFF
        elif ftype == 2:  # Up
            cur = (line + prev) & 0xFF
        elif ftype in (3, 4):  # Average, Paeth: sequential over pixels
            cur = np.zeros_like(line)
            left, upleft = np.zeros(bpp, np.int32), np.zeros(bpp, np.int32)
            for x in range(w):
                s = slice(x * bpp, (x + 1) * bpp)
                up = prev[s]
                if ftype == 3:
                    pred = (left + up) >> 1
                else:
                    p = left + up - upleft
                    pa, pb, pc = np.abs(p - left), np.abs(p - up), np.abs(p - upleft)
                    pred = np.where((pa <= pb) & (pa <= pc), left, np.where(pb <= pc, up, upleft))
                cur[s] = (line[s] + pred) & 0xFF
                left, upleft = cur[s], up
        else:
            raise ValueError(f"{path}: bad PNG filter {ftype}")
        out[y] = cur
        prev = cur
    return out.reshape(h, w, bpp)[:, :, :3]


def crop_files(directory):
    files = sorted(f for f in os.listdir(directory) if f.lower().endswith(".png"))
    if not files:
        sys.exit(f"no PNG crops in {directory}: make them with `cargo run -p ghost-models -- calibration-crops --out {directory}`")
    return [os.path.join(directory, f) for f in files]


def load_crop(path):
    img = read_png(path)
    if img.shape != (SIZE, SIZE, 3):
        raise ValueError(f"{path}: a generator crop is {SIZE}x{SIZE}, this one is {img.shape[1]}x{img.shape[0]}")
    return img


def generator_input(crop):
    """(3,256,256) float32 exactly as src/models/swapper.rs::generator_input: x*(2/255) - 1 in f32."""
    x = crop.astype(np.float32).transpose(2, 0, 1)
    return x * np.float32(2.0 / 255.0) - np.float32(1.0)


def generator_output(y):
    """(3,256,256) tanh output -> HxWx3 uint8 as swapper.rs::generator_output: (y*0.5+0.5)*255, rounded."""
    v = (y.astype(np.float32) * np.float32(0.5) + np.float32(0.5)) * np.float32(255.0)
    return np.clip(np.round(v), 0, 255).astype(np.uint8).transpose(1, 2, 0)


def synthetic_identities(n, seed=0):
    """Raw ArcFace-like identities: a direction uniform on the sphere times a norm from U(15, 30).

    What the generator sees at run time is the raw iresnet100 feature (not L2-normalised, docs/reference.md#source-identity):
    its components are roughly zero-mean and of similar spread, and its norm depends on the face and photo
    quality (typically in the tens for ArcFace-type networks; our own test recognizer gives 16). A random
    direction covers every direction the fc layers can see, and the norm range brackets the typical values,
    so calibrated ranges are not tied to one person. Real embeddings (.npy) are better where available.
    """
    rng = np.random.default_rng(seed)
    g = rng.standard_normal((n, EMBEDDING))
    g /= np.linalg.norm(g, axis=1, keepdims=True)
    return (g * rng.uniform(15.0, 30.0, size=(n, 1))).astype(np.float32)


def identities(directory, n, seed=0):
    """n identities: the .npy files of the directory in turn, else synthetic ones; and where they came from."""
    found = []
    for f in sorted(os.listdir(directory)):
        if f.lower().endswith(".npy"):
            a = np.load(os.path.join(directory, f)).astype(np.float32)
            a = a.reshape(-1, EMBEDDING) if a.size % EMBEDDING == 0 else None
            if a is None:
                sys.exit(f"{f}: an identity file holds 512 floats (or K x 512)")
            found.extend(a)
    if found:
        return np.stack([found[i % len(found)] for i in range(n)]), f"{len(found)} identities from .npy files"
    return synthetic_identities(n, seed), "synthetic raw ArcFace-like identities (norm 15-30)"


def io_names(model):
    """(target, source, output) names of a generator, as the plugin finds them."""
    names = [i.name for i in model.graph.input]
    t = next((n for n in names if n in TARGET_NAMES), None)
    s = next((n for n in names if n in SOURCE_NAMES), None)
    if t is None or s is None or len(model.graph.output) != 1:
        sys.exit(f"not a generator: inputs {names} (want target/Xt and source/z_id), {len(model.graph.output)} outputs")
    return t, s, model.graph.output[0].name


# --------------------------------------------------------------------------------------- int8

# Conv carries nearly all the work (encoder convs and the AAD blocks' 3x3 and 1x1 convs; ORT runs
# QDQ Conv as QLinearConv with VNNI). The elementwise ops of the AAD layers are quantized as well, so
# int8 tensors flow between them instead of a DequantizeLinear/QuantizeLinear pair around every op
# (ORT fuses DQ->Mul/Add/Sigmoid/LeakyRelu/Concat->Q into their QLinear forms; measured on the 2-block
# generator: Conv alone gave x1.35, this list x1.7-2.2 over fp32). Not listed, so they run in float:
# InstanceNormalization and Tanh (no int8 kernel in ORT's CPU provider), Sub (no QLinear form) and Resize
# (ORT kept DQ->Resize->Q in float, adding a Q/DQ pair on the 4x larger upsampled map). ConvTranspose has
# no int8 kernel either: the encoder's are rewritten into Convs first (deconvs_to_phase_convs). MatMul/Gemm
# only ever see the identity (see identity_path_nodes).
INT8_OP_TYPES = ["Conv", "Mul", "Add", "Sigmoid", "Relu", "LeakyRelu", "Concat"]
CALIBRATION_METHODS = ("minmax", "percentile", "entropy")


# --------------------------------------------------------------------------------------- graph rewrites
# Both are exact in float (same sums, other order) and only change which kernels ORT can run in int8.


def _attrs(node):
    return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}


def _drop_unused_initializers(graph):
    used = {i for n in graph.node for i in n.input}
    keep = [i for i in graph.initializer if i.name in used]
    del graph.initializer[:]
    graph.initializer.extend(keep)


def deconvs_to_phase_convs(model):
    """ConvTranspose 4x4, stride 2, pads 1 (the AEI-Net encoder's upsampling) -> four 2x2 Convs, one per
    output phase (even/odd row x even/odd column), Concat and DepthToSpace. Output pixel (2m+a, 2n+c) of
    the deconv only ever sums the 2x2 input window at rows m-1+a..m+a with kernel rows (3,1) for a=0 and
    (2,0) for a=1 (columns alike), which is a plain 2x2 Conv with pads (1-a, 1-c, a, c). ORT has no int8
    ConvTranspose: kept, the 1.4 GMAC of the six encoder deconvs ran in float (on the 2-block generator,
    57 of 330 ms at 1 thread); as Convs they run as QLinearConv. Returns how many were rewritten."""
    g = model.graph
    inits = {i.name: i for i in g.initializer}
    nodes, count = [], 0
    for node in g.node:
        at = _attrs(node)
        if not (node.op_type == "ConvTranspose" and node.input[1] in inits
                and list(at.get("kernel_shape", [4, 4])) == [4, 4] and list(at.get("strides", [1, 1])) == [2, 2]
                and list(at.get("pads", [0, 0, 0, 0])) == [1, 1, 1, 1] and at.get("group", 1) == 1
                and list(at.get("dilations", [1, 1])) == [1, 1] and not any(at.get("output_padding", []))
                and "output_shape" not in at and at.get("auto_pad", b"NOTSET") in (b"NOTSET", "NOTSET")):
            nodes.append(node)
            continue
        w = onnx.numpy_helper.to_array(inits[node.input[1]])  # (Cin, Cout, 4, 4)
        if w.shape[2:] != (4, 4):
            nodes.append(node)
            continue
        has_bias = len(node.input) > 2 and node.input[2]
        taps = ([3, 1], [2, 0])  # kernel rows (columns) for the window (m-1, m) of phase 0, (m, m+1) of phase 1
        outs = []
        for a in (0, 1):
            for c in (0, 1):
                k = np.ascontiguousarray(w[:, :, taps[a], :][:, :, :, taps[c]].transpose(1, 0, 2, 3))
                base = f"{node.name}_phase{a}{c}"
                g.initializer.append(onnx.numpy_helper.from_array(k, base + "_W"))
                outs.append(base + "_out")
                nodes.append(onnx.helper.make_node(
                    "Conv", [node.input[0], base + "_W"] + ([node.input[2]] if has_bias else []), [outs[-1]],
                    name=base, kernel_shape=[2, 2], pads=[1 - a, 1 - c, a, c]))
        # Concat order (a, c) = (0,0), (0,1), (1,0), (1,1): DCR's depth index (a*2 + c)*Cout + channel.
        nodes.append(onnx.helper.make_node("Concat", outs, [node.name + "_phases"], name=node.name + "_phases", axis=1))
        nodes.append(onnx.helper.make_node("DepthToSpace", [node.name + "_phases"], [node.output[0]],
                                           name=node.name + "_d2s", blocksize=2, mode="DCR"))
        count += 1
    del g.node[:]
    g.node.extend(nodes)
    _drop_unused_initializers(g)
    return count


def thin_convs_to_taps(model, max_out=4):
    """3x3 Convs (stride 1, pads 1) with at most max_out output channels (the generator's last convs, 64 -> 3
    at 256x256) -> a 1x1 Conv to 9 x Cout channels (every tap of every output) and a fixed grouped 3x3 Conv
    of one-hot kernels that shifts each tap into place and sums them. ORT's int8 Conv is slow with so few
    output channels (the two 64 -> 3 convs: 22 ms of QLinearConv, about 10 GMAC/s against ~230 for the
    wide 3x3 convs); the 1x1 Conv has 9x the columns and no im2col. The shift Conv must stay float
    (returned names: the caller keeps it and whatever reads it out of the quantizer)."""
    g = model.graph
    inits = {i.name: i for i in g.initializer}
    nodes, shifts = [], []
    for node in g.node:
        at = _attrs(node)
        w = onnx.numpy_helper.to_array(inits[node.input[1]]) if (
            node.op_type == "Conv" and node.input[1] in inits) else None
        if not (w is not None and w.ndim == 4 and w.shape[0] <= max_out and w.shape[2:] == (3, 3)
                and list(at.get("pads", [0, 0, 0, 0])) == [1, 1, 1, 1] and list(at.get("strides", [1, 1])) == [1, 1]
                and at.get("group", 1) == 1 and list(at.get("dilations", [1, 1])) == [1, 1]
                and at.get("auto_pad", b"NOTSET") in (b"NOTSET", "NOTSET")):
            nodes.append(node)
            continue
        cout, cin = w.shape[:2]
        taps = np.ascontiguousarray(w.reshape(cout, cin, 9).transpose(0, 2, 1).reshape(cout * 9, cin, 1, 1))
        shift = np.zeros((cout, 9, 3, 3), w.dtype)  # group o reads channels o*9 .. o*9+8, tap t at (t//3, t%3)
        for t in range(9):
            shift[:, t, t // 3, t % 3] = 1.0
        base = node.name + "_taps"
        g.initializer.extend([onnx.numpy_helper.from_array(taps, base + "_W"),
                              onnx.numpy_helper.from_array(shift, base + "_shift_W")])
        # No bias before the shift: the zero padding of the shift Conv then equals the original's.
        nodes.append(onnx.helper.make_node("Conv", [node.input[0], base + "_W"], [base + "_out"], name=base,
                                           kernel_shape=[1, 1]))
        bias = [node.input[2]] if len(node.input) > 2 and node.input[2] else []
        nodes.append(onnx.helper.make_node("Conv", [base + "_out", base + "_shift_W"] + bias, [node.output[0]],
                                           name=base + "_shift", kernel_shape=[3, 3], pads=[1, 1, 1, 1], group=cout))
        shifts.append(base + "_shift")
    del g.node[:]
    g.node.extend(nodes)
    _drop_unused_initializers(g)
    return shifts


def batch_shapes_from_source(model, source):
    """Shape nodes that only feed Gather(index 0), i.e. read the batch size: point them at the identity.

    The AAD layers reshape the identity's fc outputs to (N,C,1,1) with N taken from the feature map's
    Shape. Once that map is quantized, the Shape would need a full-size DequantizeLinear of it on every
    run (ORT keeps it: 16 of them in the 2-block generator) just to read N. The contract gives both inputs
    the same batch, so the (N,512) identity tells N for free. Returns how many were rewired."""
    inits = {i.name: i for i in model.graph.initializer}
    consumers = {}
    for node in model.graph.node:
        for i in node.input:
            consumers.setdefault(i, []).append(node)

    def is_zero_index(name):
        t = inits.get(name)
        return t is not None and onnx.numpy_helper.to_array(t).size == 1 and int(onnx.numpy_helper.to_array(t).reshape(-1)[0]) == 0

    count, rewired = 0, set()
    for node in model.graph.node:
        # quant_pre_process writes the default start=0 out; any other start, or an end, is not a batch read.
        if node.op_type != "Shape" or node.input[0] == source or any(
                a.name == "end" or (a.name == "start" and a.i != 0) for a in node.attribute):
            continue
        users = consumers.get(node.output[0], [])
        if users and all(u.op_type == "Gather" and is_zero_index(u.input[1])
                         and all(a.i == 0 for a in u.attribute if a.name == "axis") for u in users):
            node.input[0] = source
            rewired.add(node.output[0])
            count += 1
    # The shape inferred for those outputs (rank of the map) no longer holds: ORT would warn on every load.
    stale = [vi for vi in model.graph.value_info if vi.name in rewired]
    for vi in stale:
        model.graph.value_info.remove(vi)
    return count


def identity_path_nodes(model, source):
    """Nodes computing from the identity alone (fc1/fc2 of every AAD layer, the seed ConvTranspose, their
    reshapes). They are tiny, and kept in float the identity's scale never meets a calibrated range: an
    embedding with a larger norm than any calibration vector would otherwise saturate."""
    produced_by = {}
    for node in model.graph.node:
        for o in node.output:
            produced_by[o] = node
    inits = {i.name for i in model.graph.initializer}
    only_identity = {source}
    names = []
    for node in model.graph.node:  # topological order
        ins = [i for i in node.input if i and i not in inits]
        if ins and all(i in only_identity for i in ins):
            only_identity.update(node.output)
            names.append(node.name)
    return names


class CropReader:
    """Feeds (crop, identity) pairs at batch 1 to ORT's calibrator."""

    def __init__(self, files, ids, target, source):
        self.files, self.ids, self.target, self.source = files, ids, target, source
        self.i = 0

    def get_next(self):
        if self.i >= len(self.files):
            return None
        x = generator_input(load_crop(self.files[self.i]))[None]
        feed = {self.target: x, self.source: self.ids[self.i][None]}
        self.i += 1
        return feed

    def rewind(self):
        self.i = 0


def quantize_int8(src, dst, crops_dir, method="minmax", max_samples=64, per_channel=True, seed=0,
                  op_types=None, rewrite=True, log=print):
    """Static int8 quantization (QDQ) of a generator file, calibrated on the crops of crops_dir.

    * QDQ: the portable format (any EP reads it; ORT's CPU provider fuses it into QLinear kernels).
    * Activations uint8 (asymmetric: most tensors here are far from symmetric, e.g. after ReLU and
      sigmoid), weights int8 symmetric: the u8 x s8 pairing that x86's VNNI instruction multiplies natively.
    * Per-channel weight scales for Conv: the generator's output channels differ in scale by orders of
      magnitude, and one scale per tensor would flatten the small ones to zero.
    * reduce_range off: 7-bit weights only help CPUs without VNNI (saturation in VPMADDUBSW).
    * rewrite (default): the encoder's ConvTransposes become Convs and the thin output convs 1x1 Convs plus
      a float tap shift (deconvs_to_phase_convs, thin_convs_to_taps), so that ORT runs them in int8 and fast.
    * Calibration: MinMax with a moving average over the crops (each crop's range moves the kept range by
      1 %, so one extreme crop does not set the step of a whole tensor). The histogram methods (percentile,
      entropy) clip outliers better but hold every intermediate tensor of the samples in flight plus their
      histograms: on the real 2-block generator that was killed for memory on a 24 GB machine, so they are
      options (`--method`) for small models or big machines. Entropy (KL) is made for classifier logits.
    """
    from onnxruntime.quantization import (CalibrationMethod, QuantFormat, QuantType, quantize_static)
    from onnxruntime.quantization.shape_inference import quant_pre_process

    model = onnx.load(src, load_external_data=False)
    target, source, _ = io_names(model)
    files = crop_files(crops_dir)
    if max_samples and len(files) > max_samples:  # an even spread over the sorted list (photos, variants)
        files = [files[int(i * len(files) / max_samples)] for i in range(max_samples)]
    ids, origin = identities(crops_dir, len(files), seed)
    log(f"[int8] {src}: calibrating on {len(files)} crops from {crops_dir} with {origin}; method {method}")

    # Shape inference and ORT's fp32 graph optimisations (folding, BatchNorm into Conv) first, as ORT's
    # quantization guide asks; the quantizer then sees the graph the runtime will run.
    pre = dst + ".pre.onnx"
    t0 = time.time()
    quant_pre_process(src, pre, skip_symbolic_shape=True)
    prepared = onnx.load(pre)
    rewired = batch_shapes_from_source(prepared, source)
    deconvs = deconvs_to_phase_convs(prepared) if rewrite else 0
    shifts = thin_convs_to_taps(prepared) if rewrite else []
    onnx.save(prepared, pre)
    exclude = identity_path_nodes(prepared, source)
    # The quantizer quantizes ConvTranspose weights even when it is not listed; it has no int8 CPU kernel.
    exclude += [n.name for n in prepared.graph.node if n.op_type == "ConvTranspose"]
    # The tap-shift Convs stay float, and so do the ops reading them: with a QuantizeLinear after it, ORT
    # would fuse DQ -> Conv(float weight) -> Q into a grouped QLinearConv as slow as the conv it replaces.
    shifted = {o for n in prepared.graph.node if n.name in shifts for o in n.output}
    exclude += shifts + [n.name for n in prepared.graph.node if any(i in shifted for i in n.input)]
    calib = {"percentile": CalibrationMethod.Percentile, "minmax": CalibrationMethod.MinMax,
             "entropy": CalibrationMethod.Entropy}[method]
    extra = {
        "ActivationSymmetric": False,
        "WeightSymmetric": True,
        "CalibPercentile": 99.999,
        "CalibMovingAverage": method == "minmax",
    }
    if method != "minmax":
        # Histogram calibrators hold every intermediate tensor of the samples in flight: bound it. (Not for
        # MinMax, whose outputs are two scalars per tensor: ORT 1.31's MinMax drops each full chunk unread.)
        extra["CalibMaxIntermediateOutputs"] = 2
    try:
        quantize_static(pre, dst, CropReader(files, ids, target, source), quant_format=QuantFormat.QDQ,
                        op_types_to_quantize=op_types or INT8_OP_TYPES, per_channel=per_channel,
                        reduce_range=False, activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                        nodes_to_exclude=exclude, calibrate_method=calib, extra_options=extra)
    finally:
        for p in (pre, pre + ".data"):
            if os.path.exists(p):
                os.remove(p)
    m = onnx.load(dst)
    props = {p.key: p.value for p in m.metadata_props}
    props.update({"gst_ghost_variant": "int8", "gst_ghost_quantized_from": os.path.basename(src),
                  "gst_ghost_calibration": f"{len(files)} crops, {method}, {origin}"})
    onnx.helper.set_model_props(m, props)
    onnx.save(m, dst)
    counts = {}
    for n in m.graph.node:
        counts[n.op_type] = counts.get(n.op_type, 0) + 1
    log(f"[int8] wrote {dst} ({os.path.getsize(dst):,} bytes) in {time.time() - t0:.0f} s; "
        f"{counts.get('QuantizeLinear', 0)} QuantizeLinear, {counts.get('DequantizeLinear', 0)} DequantizeLinear, "
        f"{len(exclude)} identity-path, ConvTranspose and tap-shift nodes kept in float, {rewired} batch Shape reads "
        f"moved to the identity, {deconvs} ConvTranspose rewritten as Convs, {len(shifts)} thin convs as taps")
    return dst


# --------------------------------------------------------------------------------------- fp16


def convert_fp16(src, dst, log=print):
    """fp16 weights and arithmetic with float32 inputs and output (keep_io_types), so the plugin feeds it
    exactly like the fp32 file. Meant for GPUs; ORT's CPU provider runs it too (it casts the ops it has
    no fp16 kernel for back to float), which is how it is tested here."""
    try:
        from onnxconverter_common import float16
    except ImportError:
        sys.exit("--fp16 needs onnxconverter-common: python3 -m pip install onnxconverter-common")
    import warnings
    with warnings.catch_warnings(record=True) as caught:  # one warning per tiny weight clamped to 1e-7
        warnings.simplefilter("always")
        m = float16.convert_float_to_float16(onnx.load(src), keep_io_types=True)
    clamped = sum("truncated" in str(w.message) for w in caught)
    props = {p.key: p.value for p in m.metadata_props}
    props.update({"gst_ghost_variant": "fp16", "gst_ghost_quantized_from": os.path.basename(src)})
    onnx.helper.set_model_props(m, props)
    onnx.save(m, dst)
    log(f"[fp16] wrote {dst} ({os.path.getsize(dst):,} bytes); {clamped} weights below fp16's range clamped to 1e-7")
    return dst


# --------------------------------------------------------------------------------------- compare


def session(path, threads=0):
    import onnxruntime as ort
    so = ort.SessionOptions()
    if threads:
        so.intra_op_num_threads = threads
    return ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])


def compare(reference, variants, crops_dir, seed=1, limit=0, log=print):
    """PSNR and max abs difference (8-bit pixels, after the plugin's output conversion) of each variant
    against the reference on every crop of crops_dir; returns {variant: (psnr_db, max_abs, mean_abs)}."""
    files = crop_files(crops_dir)[:limit or None]
    ids, origin = identities(crops_dir, len(files), seed)
    ref = session(reference)
    t, s = (next(i.name for i in ref.get_inputs() if i.name in names) for names in (TARGET_NAMES, SOURCE_NAMES))
    ref_out = []
    for f, z in zip(files, ids):
        ref_out.append(generator_output(ref.run(None, {t: generator_input(load_crop(f))[None], s: z[None]})[0][0]))
    results = {}
    for v in variants:
        sess = session(v)
        se, worst, total = 0.0, 0, 0.0
        for f, z, r in zip(files, ids, ref_out):
            got = generator_output(sess.run(None, {t: generator_input(load_crop(f))[None], s: z[None]})[0][0])
            d = got.astype(np.int32) - r.astype(np.int32)
            se += float(np.mean(d.astype(np.float64) ** 2))
            worst = max(worst, int(np.abs(d).max()))
            total += float(np.mean(np.abs(d)))
        mse = se / len(files)
        psnr = float("inf") if mse == 0 else 10 * np.log10(255.0 ** 2 / mse)
        results[v] = (psnr, worst, total / len(files))
        log(f"[compare] {os.path.basename(v)} vs {os.path.basename(reference)} on {len(files)} crops of {crops_dir} "
            f"({origin}): PSNR {psnr:.2f} dB, max abs {worst} levels, mean abs {total / len(files):.3f} levels")
    return results


# --------------------------------------------------------------------------------------- CLI


def variant_path(src, tag):
    base = src[:-5] if src.endswith(".onnx") else src
    return f"{base}_{tag}.onnx"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model", help="the fp32 generator (.onnx)")
    ap.add_argument("--int8", metavar="CROPS_DIR", help="write MODEL_int8.onnx calibrated on the crops of CROPS_DIR")
    ap.add_argument("--fp16", action="store_true", help="write MODEL_fp16.onnx")
    ap.add_argument("--out", help="output file (one variant per call); default MODEL_int8.onnx / MODEL_fp16.onnx")
    ap.add_argument("--method", choices=CALIBRATION_METHODS, default="minmax",
                    help="int8 calibration (minmax: moving average of the per-crop ranges)")
    ap.add_argument("--max-samples", type=int, default=64, help="calibration crops used at most (spread evenly)")
    ap.add_argument("--per-tensor", action="store_true", help="one weight scale per tensor instead of per channel")
    ap.add_argument("--no-rewrite", action="store_true",
                    help="quantize the graph as it is (ConvTranspose stays float, thin convs stay QLinearConv)")
    ap.add_argument("--op-types", help="comma-separated op types to quantize (default: %s)" % ",".join(INT8_OP_TYPES))
    ap.add_argument("--compare", nargs="+", metavar=("CROPS_DIR", "VARIANT"),
                    help="PSNR / max abs diff of VARIANT files against MODEL on the crops of CROPS_DIR")
    ap.add_argument("--seed", type=int, default=0, help="seed of the synthetic identities")
    args = ap.parse_args(argv)
    if not os.path.isfile(args.model):
        ap.error(f"{args.model} does not exist")
    if args.out and args.int8 and args.fp16:
        ap.error("--out names one file: give --int8 or --fp16")
    if not (args.int8 or args.fp16 or args.compare):
        ap.error("give --int8 CROPS_DIR, --fp16 or --compare")
    if args.int8:
        if not os.path.isdir(args.int8):
            ap.error(f"{args.int8} is not a folder of crops")
        ops = args.op_types.split(",") if args.op_types else None
        quantize_int8(args.model, args.out or variant_path(args.model, "int8"), args.int8, args.method,
                      args.max_samples, not args.per_tensor, args.seed, ops, not args.no_rewrite)
    if args.fp16:
        convert_fp16(args.model, args.out or variant_path(args.model, "fp16"))
    if args.compare:
        if len(args.compare) < 2:
            ap.error("--compare CROPS_DIR VARIANT.onnx [...]")
        compare(args.model, args.compare[1:], args.compare[0])
    return 0


if __name__ == "__main__":
    sys.exit(main())
