#!/usr/bin/env python3
# SPDX-License-Identifier: MIT OR Apache-2.0
"""Tests of quantize_ghost.py's graph rewrites: each rewritten graph must compute what the original one
computes (ONNX Runtime on both, float32), and leave alone what it does not match.

    python3 plugin-data/tools/test_quantize_ghost.py      (needs numpy, onnx, onnxruntime; run by tests_export.sh)
"""

import os
import sys

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import quantize_ghost as qg  # noqa: E402


def one_op_model(op, x_shape, weights, **attrs):
    """A graph of one op reading input x (dynamic batch) and the given initializers."""
    names = [f"w{i}" for i in range(len(weights))]
    node = helper.make_node(op, ["x"] + names, ["y"], name="op", **attrs)
    graph = helper.make_graph([node], "t", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N"] + x_shape[1:])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [None] * 4)],
                              [numpy_helper.from_array(w, n) for w, n in zip(weights, names)])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def run(model, x):
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return sess.run(None, {"x": x})[0]


def check_same(model, rewrite, x, want_ops):
    want = run(model, x)
    rewrite(model)
    onnx.checker.check_model(model)
    ops = sorted(n.op_type for n in model.graph.node)
    assert ops == sorted(want_ops), ops
    got = run(model, x)
    assert got.shape == want.shape, (got.shape, want.shape)
    err = float(np.abs(got - want).max())
    assert err <= 1e-4 * max(1.0, float(np.abs(want).max())), err
    return err


def test_deconvs_to_phase_convs():
    rng = np.random.default_rng(0)
    for cin, cout, h, w, bias in [(5, 3, 4, 4, True), (8, 6, 7, 5, False), (2, 1, 1, 3, True)]:
        weights = [rng.standard_normal((cin, cout, 4, 4)).astype(np.float32)]
        if bias:
            weights.append(rng.standard_normal(cout).astype(np.float32))
        m = one_op_model("ConvTranspose", [2, cin, h, w], weights, kernel_shape=[4, 4], strides=[2, 2], pads=[1, 1, 1, 1])
        x = rng.standard_normal((2, cin, h, w)).astype(np.float32)
        err = check_same(m, qg.deconvs_to_phase_convs, x, ["Conv"] * 4 + ["Concat", "DepthToSpace"])
        print(f"deconv {cin}->{cout} on {h}x{w}, bias {bias}: max err {err:.2e}")
    # Other deconvs (here the identity's 2x2 seed, stride 1 and padding other than 1) stay as they are.
    for attrs, k in [(dict(kernel_shape=[2, 2], strides=[2, 2]), 2), (dict(kernel_shape=[4, 4], strides=[1, 1], pads=[1, 1, 1, 1]), 4),
                     (dict(kernel_shape=[4, 4], strides=[2, 2], pads=[0, 0, 0, 0]), 4)]:
        m = one_op_model("ConvTranspose", [1, 3, 4, 4], [rng.standard_normal((3, 2, k, k)).astype(np.float32)], **attrs)
        assert qg.deconvs_to_phase_convs(m) == 0 and [n.op_type for n in m.graph.node] == ["ConvTranspose"]


def test_thin_convs_to_taps():
    rng = np.random.default_rng(1)
    for cin, cout, h, w, bias in [(8, 3, 9, 7, True), (16, 1, 5, 5, False), (4, 4, 1, 2, True)]:
        weights = [rng.standard_normal((cout, cin, 3, 3)).astype(np.float32)]
        if bias:
            weights.append(rng.standard_normal(cout).astype(np.float32))
        m = one_op_model("Conv", [2, cin, h, w], weights, kernel_shape=[3, 3], pads=[1, 1, 1, 1])
        x = rng.standard_normal((2, cin, h, w)).astype(np.float32)
        shifts = []
        err = check_same(m, lambda g: shifts.extend(qg.thin_convs_to_taps(g)), x, ["Conv", "Conv"])
        assert shifts == ["op_taps_shift"], shifts
        print(f"thin conv {cin}->{cout} on {h}x{w}, bias {bias}: max err {err:.2e}")
    # Wide convs, 1x1 convs and other paddings stay as they are.
    for cout, k, pads in [(5, 3, [1, 1, 1, 1]), (3, 1, [0, 0, 0, 0]), (3, 3, [0, 0, 0, 0])]:
        m = one_op_model("Conv", [1, 4, 6, 6], [rng.standard_normal((cout, 4, k, k)).astype(np.float32)],
                         kernel_shape=[k, k], pads=pads)
        assert qg.thin_convs_to_taps(m) == [] and [n.op_type for n in m.graph.node] == ["Conv"]


def test_batch_shapes_from_source():
    """Shape -> Gather(0) reads of a feature map move to the identity input, also with quant_pre_process's
    explicit start=0; a Shape read for anything else stays."""
    zero = numpy_helper.from_array(np.array(0, np.int64), "zero")
    one = numpy_helper.from_array(np.array(1, np.int64), "one")
    nodes = [helper.make_node("Shape", ["feat"], ["s0"], name="plain"),
             helper.make_node("Shape", ["feat"], ["s1"], name="start0", start=0),
             helper.make_node("Shape", ["feat"], ["s2"], name="start1", start=1),
             helper.make_node("Shape", ["feat"], ["s3"], name="channels"),
             helper.make_node("Gather", ["s0", "zero"], ["n0"]), helper.make_node("Gather", ["s1", "zero"], ["n1"]),
             helper.make_node("Gather", ["s2", "zero"], ["n2"]), helper.make_node("Gather", ["s3", "one"], ["n3"])]
    graph = helper.make_graph(nodes, "t", [helper.make_tensor_value_info("feat", TensorProto.FLOAT, ["N", 4, 8, 8]),
                                           helper.make_tensor_value_info("source", TensorProto.FLOAT, ["N", 512])],
                              [helper.make_tensor_value_info(f"n{i}", TensorProto.INT64, []) for i in range(4)],
                              [zero, one])
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    m = onnx.shape_inference.infer_shapes(m)  # as quant_pre_process leaves it: s0..s3 have shape (4,)
    assert {vi.name for vi in m.graph.value_info} >= {"s0", "s1", "s2", "s3"}
    assert qg.batch_shapes_from_source(m, "source") == 2
    reads = {n.name: n.input[0] for n in m.graph.node if n.op_type == "Shape"}
    assert reads == {"plain": "source", "start0": "source", "start1": "feat", "channels": "feat"}, reads
    # The rewired outputs lose their stale inferred shape (4,), the others keep theirs.
    shapes = {vi.name for vi in m.graph.value_info}
    assert "s0" not in shapes and "s1" not in shapes and {"s2", "s3"} <= shapes, shapes
    onnx.checker.check_model(m, full_check=True)


if __name__ == "__main__":
    test_batch_shapes_from_source()
    test_deconvs_to_phase_convs()
    test_thin_convs_to_taps()
    print("test_quantize_ghost.py: all passed")
