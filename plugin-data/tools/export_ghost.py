#!/usr/bin/env python3
# SPDX-License-Identifier: MIT OR Apache-2.0
"""Export the official GHOST checkpoints to the ONNX files gst-ghost loads.

    pip install --no-deps -r plugin-data/tools/requirements-export.txt   (torch, onnx, onnxruntime, ...)
    python3 plugin-data/tools/export_ghost.py --generator G_unet_2blocks.pth --blocks 2 --out DIR
    python3 plugin-data/tools/export_ghost.py --arcface backbone.pth --out DIR
    python3 plugin-data/tools/export_ghost.py --sr 10_net_G.pth --out DIR [--fp16]
    python3 plugin-data/tools/export_ghost.py --random-from-shapes --generator - --blocks 2 --out DIR   (tests)
    python3 plugin-data/tools/export_ghost.py --generator G_unet_2blocks.pth --out DIR --int8 CROPS_DIR [--fp16]
    python3 plugin-data/tools/export_ghost.py --onnx DIR/ghost_2_256.onnx --int8 CROPS_DIR [--fp16]   (no PyTorch)

--int8 CROPS_DIR adds NAME_int8.onnx (static int8, QDQ, calibrated on the aligned 256x256 crops of
CROPS_DIR; `cargo run -p ghost-models -- calibration-crops --augment 8 --out CROPS_DIR [PHOTOS]` makes them) and
--fp16 NAME_fp16.onnx (float32 inputs and output), both by quantize_ghost.py; --onnx applies them to a
generator file that already exists (facefusion's ghost_*_256.onnx or an earlier export).

Checkpoints load strictly: every key and shape must be those of fixtures/*_state_dict_shapes.txt.
Each export (opset 17, dynamic batch) is checked against PyTorch on random inputs with ONNX Runtime
(max abs difference <= 1e-4 in fp32); the parameter count and the file's sha256 are printed.
Contracts:
  generator  inputs target (N,3,256,256) RGB [-1,1], source (N,512) raw ArcFace; output output (N,3,256,256) tanh
  arcface    input input (N,3,112,112) RGB (x/255-0.5)/0.5; output output (N,512) raw
  sr         input input (N,3,256,256) RGB [0,1]; output output (N,3,256,256); its norms use the batch's
             statistics, as the official inference (train mode) does
"""

import argparse
import hashlib
import os
import re
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import numpy as np
import onnx

import quantize_ghost

try:
    import torch

    import ghost_nets as nets
except ImportError as e:  # pragma: no cover; only --onnx works without PyTorch
    torch = nets = None
    TORCH_ERROR = e

FIXTURES = os.path.join(HERE, "fixtures")
SHAPES = {
    "generator": "generator_state_dict_shapes.txt",
    "arcface": "arcface_state_dict_shapes.txt",
    "sr": "sr_lipspade_state_dict_shapes.txt",
}
EXPECTED_PARAMS = {"generator-1": 128_469_133, "generator-2": 184_343_381, "generator-3": 240_217_629,
                   "arcface": 65_156_160, "sr": 72_223_660}
TOL_FP32 = 1e-4


def read_shapes(kind):
    out = {}
    with open(os.path.join(FIXTURES, SHAPES[kind])) as f:
        for line in f:
            if line.startswith("#") or not line.strip():
                continue
            key, shape, dtype = line.rstrip("\n").split("\t")
            dims = tuple(int(d) for d in re.findall(r"\d+", shape))
            out[key] = (dims, dtype)
    return out


def shapes_for_blocks(blocks):
    """The 2-block list is the fixture; 1 and 3 blocks differ only in the repeated AAD units."""
    base = read_shapes("generator")
    if blocks == 2:
        return base
    model = nets.AEINet(blocks)
    return {k: (tuple(v.shape), str(v.dtype).replace("torch.", "")) for k, v in model.state_dict().items()}


def random_checkpoint(model, seed=0):
    """Random weights with sane scales (unit-ish activations), keyed like the official checkpoint."""
    g = torch.Generator().manual_seed(seed)
    sd = {}
    for k, v in model.state_dict().items():
        if v.dtype == torch.int64:
            sd[k] = torch.zeros_like(v)
        elif k.endswith("running_var"):
            sd[k] = 0.5 + torch.rand(v.shape, generator=g)
        elif k.endswith("running_mean") or k.endswith(".bias"):
            sd[k] = 0.05 * torch.randn(v.shape, generator=g)
        elif k.endswith("weight_u") or k.endswith("weight_v"):
            t = torch.randn(v.shape, generator=g)
            sd[k] = t / t.norm()
        elif k.endswith("bn3.weight"):  # residual branches start small so 49 blocks stay O(1)
            sd[k] = 0.1 + 0.01 * torch.randn(v.shape, generator=g)
        elif v.dim() == 2 and k.startswith("generator."):
            # The AAD layers' identity Linears, with GHOST's own init (weight_init: N(0, 0.001)); the
            # unit-scale alternative compounds through three blocks into float32 noise above 1e-4.
            sd[k] = 0.001 * torch.randn(v.shape, generator=g)
        elif v.dim() == 1:  # norm scales, PReLU slopes
            sd[k] = 1.0 + 0.1 * torch.randn(v.shape, generator=g) if "prelu" not in k else 0.25 + 0 * v
        else:
            fan_in = v[0].numel() if "deconv" not in k and "up1" not in k else v.shape[0] * v[0, 0].numel()
            sd[k] = torch.randn(v.shape, generator=g) / (fan_in ** 0.5)
    return sd


def check_layout(model, kind, expected):
    got = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    exp = {k: s for k, (s, _) in expected.items()}
    missing, extra = sorted(set(exp) - set(got)), sorted(set(got) - set(exp))
    wrong = [(k, exp[k], got[k]) for k in exp if k in got and exp[k] != got[k]]
    if missing or extra or wrong:
        sys.exit(f"{kind}: model layout differs from the fixture: missing {missing[:5]}, extra {extra[:5]}, shapes {wrong[:5]}")


def load_checkpoint(path):
    ck = torch.load(path, map_location="cpu", weights_only=False)
    if isinstance(ck, dict) and "state_dict" in ck and isinstance(ck["state_dict"], dict):
        ck = ck["state_dict"]
    if hasattr(ck, "state_dict") and not isinstance(ck, dict):
        ck = ck.state_dict()
    ck = {k[7:] if k.startswith("module.") else k: v for k, v in ck.items()}
    return {k: (v.float() if v.is_floating_point() else v) for k, v in ck.items()}


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for b in iter(lambda: f.read(1 << 20), b""):
            h.update(b)
    return h.hexdigest()


def export(model, example, in_names, out_path, family, opset):
    dyn = {n: {0: "N"} for n in in_names + ["output"]}
    torch.onnx.export(model, example, out_path, input_names=in_names, output_names=["output"],
                      dynamic_axes=dyn, opset_version=opset, do_constant_folding=True, dynamo=False)
    m = onnx.load(out_path)
    for key, val in (("gst_ghost_family", family), ("gst_ghost_exporter", "plugin-data/tools/export_ghost.py")):
        p = m.metadata_props.add()
        p.key, p.value = key, val
    onnx.save(m, out_path)


def verify(path, reference, inputs, tol, threads=0):
    import onnxruntime as ort
    so = ort.SessionOptions()
    # The check is about the exported graph, so ORT runs it as written: its fusions (folding the
    # encoder's batch norms into the convolutions, ...) reorder float operations and, through the
    # deep 3-block AAD stack, move outputs by ~2e-4 on their own.
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    if threads:
        so.intra_op_num_threads = threads
    sess = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
    feeds = {i.name: x.numpy() for i, x in zip(sess.get_inputs(), inputs)}
    t0 = time.time()
    got = sess.run(["output"], feeds)[0]
    ms = (time.time() - t0) * 1000
    diff = float(np.max(np.abs(got - reference.numpy())))
    return diff, ms


def run(kind, args):
    torch.manual_seed(1)
    if kind == "generator":
        label = f"generator-{args.blocks}"
        model = nets.AEINet(args.blocks)
        expected = shapes_for_blocks(args.blocks)
        source_path = args.generator
        name = args.name or f"ghost_unet_{args.blocks}{'block' if args.blocks == 1 else 'blocks'}.onnx"
        example = (torch.rand(2, 3, 256, 256) * 2 - 1, torch.randn(2, 512))
        in_names, family = ["target", "source"], "ghost-aei"
    elif kind == "arcface":
        label = "arcface"
        model = nets.iresnet100()
        expected = read_shapes("arcface")
        source_path = args.arcface
        name = args.name or "arcface_ghost_iresnet100.onnx"
        example = (torch.rand(2, 3, 112, 112) * 2 - 1,)
        in_names, family = ["input"], "arcface-ghost"
    else:
        label = "sr"
        model = nets.LIPSPADEGenerator()
        expected = read_shapes("sr")
        source_path = args.sr
        name = args.name or "ghost_sr_lipspade.onnx"
        example = (torch.rand(2, 3, 256, 256),)
        in_names, family = ["input"], "ghost-sr"

    check_layout(model, label, expected)
    if args.random_from_shapes:
        sd = random_checkpoint(model, seed=args.seed)
        origin = "random weights from the shape list"
    else:
        sd = load_checkpoint(source_path)
        origin = source_path
    model.load_state_dict(sd, strict=True)  # exactly the official keys and shapes
    nparams = sum(p.numel() for p in model.parameters())
    exp_params = EXPECTED_PARAMS[label]
    print(f"[{label}] {origin}: strict load ok, {len(sd)} state_dict entries, {nparams:,} parameters "
          f"(expected: {exp_params:,}) {'OK' if nparams == exp_params else 'MISMATCH'}")
    if nparams != exp_params:
        sys.exit(1)

    with torch.no_grad():
        if kind == "sr":
            # The official inference: netG.train() (batch statistics, one spectral-norm power iteration).
            import copy
            ref_model = copy.deepcopy(model).train()
            reference = ref_model(*example)
            export_model = nets.bake_for_export(model)
            single_ref = copy.deepcopy(model).train()(example[0][:1])
        else:
            model.eval()
            reference = model(*example)
            export_model = model

        os.makedirs(args.out, exist_ok=True)
        out_path = os.path.join(args.out, name)
        tmp_path = out_path + ".tmp.onnx"
        t0 = time.time()
        export(export_model, example, in_names, tmp_path, family, args.opset)
        print(f"[{label}] exported in {time.time() - t0:.1f} s (opset {args.opset}, dynamic batch)")

    diff, ms = verify(tmp_path, reference, example, TOL_FP32)
    ok = diff <= TOL_FP32
    print(f"[{label}] ONNX Runtime vs PyTorch, batch {example[0].shape[0]}: max abs diff {diff:.3g} "
          f"({'OK' if ok else 'FAIL'}, tolerance {TOL_FP32}); {ms:.0f} ms")
    if kind == "sr":
        d1, _ = verify(tmp_path, single_ref, (example[0][:1],), TOL_FP32)
        ok = ok and d1 <= TOL_FP32
        print(f"[{label}] single face (batch 1, its own statistics) vs the train-mode reference: max abs diff {d1:.3g}")
    if not ok:
        os.remove(tmp_path)
        sys.exit(f"[{label}] the export does not match PyTorch; nothing written")
    os.replace(tmp_path, out_path)
    print(f"[{label}] wrote {out_path} ({os.path.getsize(out_path):,} bytes) sha256 {sha256(out_path)}")

    if args.fp16:
        half = quantize_ghost.convert_fp16(out_path, quantize_ghost.variant_path(out_path, "fp16"))
        d16, _ = verify(half, reference, example, 0)
        print(f"[{label}] fp16 {half}: max abs diff vs fp32 PyTorch {d16:.3g}; sha256 {sha256(half)}")
    if args.int8 and kind == "generator":
        int8_variant(out_path, args)
    return out_path


def int8_variant(path, args):
    """NAME_int8.onnx next to the generator, then its distance to the fp32 file on a few calibration crops
    (a sanity figure: held-out crops, through quantize_ghost.py --compare, say more)."""
    dst = quantize_ghost.quantize_int8(path, quantize_ghost.variant_path(path, "int8"), args.int8, args.int8_method,
                                       args.int8_samples)
    quantize_ghost.compare(path, [dst], args.int8, limit=4)
    print(f"[int8] sha256 {sha256(dst)}")
    return dst


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--generator", help="G_unet_{1block,2blocks,3blocks}.pth")
    ap.add_argument("--blocks", type=int, default=2, choices=(1, 2, 3))
    ap.add_argument("--arcface", help="backbone.pth (iresnet100)")
    ap.add_argument("--sr", help="10_net_G.pth (LIPSPADE face enhancement)")
    ap.add_argument("--out", help="output folder (exports)")
    ap.add_argument("--name", help="output file name (one export per call)")
    ap.add_argument("--fp16", action="store_true", help="also write an fp16 copy (NAME_fp16.onnx)")
    ap.add_argument("--int8", metavar="CROPS_DIR",
                    help="also write a static int8 generator (NAME_int8.onnx) calibrated on the 256x256 crops of CROPS_DIR")
    ap.add_argument("--int8-method", choices=quantize_ghost.CALIBRATION_METHODS, default="minmax")
    ap.add_argument("--int8-samples", type=int, default=64, help="calibration crops used at most")
    ap.add_argument("--onnx", metavar="FILE", help="an existing generator .onnx for --int8/--fp16 (no export)")
    ap.add_argument("--opset", type=int, default=17)
    ap.add_argument("--random-from-shapes", action="store_true",
                    help="ignore the checkpoint paths and use random weights with the official layout (tests)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    if args.int8 and not os.path.isdir(args.int8):
        ap.error(f"--int8: {args.int8} is not a folder of crops")
    if args.onnx:
        if not (args.int8 or args.fp16):
            ap.error("--onnx needs --int8 CROPS_DIR and/or --fp16")
        if not os.path.isfile(args.onnx):
            ap.error(f"{args.onnx} does not exist")
        if args.fp16:
            quantize_ghost.convert_fp16(args.onnx, quantize_ghost.variant_path(args.onnx, "fp16"))
        if args.int8:
            int8_variant(args.onnx, args)
        return
    if torch is None:
        sys.exit(f"export_ghost.py needs PyTorch for exports ({TORCH_ERROR}); install it with:\n"
                 f"  python3 -m pip install --no-deps -r {os.path.join(HERE, 'requirements-export.txt')}")
    kinds = [k for k, v in (("generator", args.generator), ("arcface", args.arcface), ("sr", args.sr)) if v]
    if not kinds:
        ap.error("give --generator, --arcface, --sr or --onnx")
    if not args.out:
        ap.error("--out DIR is needed for exports")
    if args.name and len(kinds) > 1:
        ap.error("--name needs a single export")
    if args.opset < 17:
        ap.error("opset 17 or newer")
    for k in kinds:
        run(k, args)


if __name__ == "__main__":
    main()
