"""Calibration by onnxruntime gives the same ranges (and so the same binary points) as the numpy executor."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import helper, numpy_helper

from cgap.export.onnx_export import to_onnx
from cgap.lower import lower_network, quantize
from cgap.passes import fold_bn
from cgap.passes.calibrate_ort import ort_ranges
from cgap.passes.quantize import calibrate, range_nodes
from cgap_ir.errors import CgapError
from cgap_ir.from_onnx import from_onnx
from fpga_model.hw import load_hw
from fpga_model.schedule import fuse
from tests.conftest import irregular_model
from tests.test_onnx import _model


@pytest.mark.parametrize("arch, shape", [("resnet20", (3, 16, 16)), ("vgg11", (1, 28, 28)), ("lenet5", (1, 8, 8))])
def test_ort_ranges_match_numpy_calibration(arch, shape, tmp_path):
    path = to_onnx(irregular_model(arch, shape, seed=4), shape, tmp_path / "m.onnx")
    net = from_onnx(path)
    calib = np.random.default_rng(0).standard_normal((120, *shape)).astype(np.float32)
    fast = ort_ranges(path, net, calib)
    slow = calibrate(fold_bn(net), calib)
    assert set(fast) == set(range_nodes(fuse(fold_bn(net))))
    for node, value in fast.items():
        assert value == pytest.approx(slow[node], rel=1e-5, abs=1e-6), node
    hw = load_hw("zcu102-16b")
    lowered = lower_network(net, hw)
    assert quantize(lowered, calib, fast) == quantize(lowered, calib)   # every binary point and shift


def _conv_matmul_net() -> onnx.ModelProto:
    """Conv → Relu → Flatten → MatMul + Add (a bias written the way other exporters write it)."""
    rng = np.random.default_rng(0)
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"], pads=[1, 1, 1, 1], name="conv"),
             helper.make_node("Relu", ["c"], ["r"], name="relu"),
             helper.make_node("Flatten", ["r"], ["f"], axis=1, name="flat"),
             helper.make_node("MatMul", ["f", "m"], ["mm"], name="fc1"),
             helper.make_node("Add", ["mm", "b"], ["y"], name="fc1_bias")]
    inits = [numpy_helper.from_array(rng.normal(size=(2, 1, 3, 3)).astype(np.float32), "w"),
             numpy_helper.from_array(rng.normal(size=(72, 4)).astype(np.float32), "m"),
             numpy_helper.from_array(np.full(4, 30.0, np.float32), "b")]   # a bias that dominates the range
    return _model(nodes, inits, opset=13)


def test_matmul_bias_is_probed_after_the_add(tmp_path):
    path = tmp_path / "f.onnx"
    onnx.save(_conv_matmul_net(), str(path))
    net = from_onnx(path)
    assert net.meta["onnx_tensors"]["fc1"] == "y"   # MatMul output + bias, not the bare MatMul
    calib = np.random.default_rng(1).standard_normal((100, 1, 6, 6)).astype(np.float32)
    fast, slow = ort_ranges(path, net, calib), calibrate(fold_bn(net), calib)
    assert fast["fc1"] > 20 and all(fast[k] == pytest.approx(slow[k], rel=1e-5) for k in fast)


def test_network_without_tensor_map_is_refused(tmp_path):
    path = to_onnx(irregular_model("lenet5", (1, 8, 8)), (1, 8, 8), tmp_path / "m.onnx")
    net = from_onnx(path)
    bare = type(net)(net.name, net.input_shape, net.nodes, net.output, {})
    with pytest.raises(CgapError, match="no ONNX tensor recorded"):
        ort_ranges(path, bare, np.zeros((1, 1, 8, 8), np.float32))
