"""torch → ONNX → IR for every zoo model at irregular widths; foreign ONNX graphs; import errors."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from onnx import TensorProto, helper, numpy_helper

from cgap.export.onnx_export import run_onnxruntime, to_onnx
from cgap.models import REGISTRY, build, default_widths
from cgap_ir import executor
from cgap_ir.from_onnx import OnnxImportError, from_onnx
from tests.conftest import SHAPES, irregular_model, randomise_bn, torch_macs


@pytest.mark.parametrize("arch", list(REGISTRY))
def test_zoo_export_matches_onnxruntime_and_ir(arch, tmp_path):
    shape = SHAPES[arch]
    model = irregular_model(arch, shape, seed=1)
    path = to_onnx(model, shape, tmp_path / "m.onnx")
    onnx.checker.check_model(onnx.load(str(path)), full_check=True)
    x = np.random.default_rng(2).standard_normal((4, *shape)).astype(np.float32)
    with torch.no_grad():
        ref = model(torch.from_numpy(x)).numpy()
    ort_out = run_onnxruntime(path, x)
    assert np.abs(ort_out - ref).max() <= 1e-4
    net = from_onnx(path)
    assert np.abs(executor.run(net, x) - ort_out).max() <= 1e-4
    assert net.total_params() == model.count_params()
    assert net.total_macs() == torch_macs(model, shape)


@settings(max_examples=9, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(family=st.sampled_from(["lenet5", "vgg11", "resnet20"]), data=st.data())
def test_random_widths_round_trip(family, data, tmp_path_factory):
    widths = {g: data.draw(st.integers(1, 12), label=g) for g in default_widths(family)}
    shape = data.draw(st.sampled_from([(1, 8, 8), (3, 12, 12), (2, 9, 7)]), label="shape")
    model = randomise_bn(build(family, shape, 5, widths=widths))
    path = to_onnx(model, shape, tmp_path_factory.mktemp("h") / "m.onnx")
    x = np.random.default_rng(0).standard_normal((2, *shape)).astype(np.float32)
    with torch.no_grad():
        ref = model(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(executor.run(from_onnx(path), x), ref, atol=1e-4, rtol=0)


# ----------------------------------------------------------------------------- foreign graphs

def _init(name: str, arr: np.ndarray) -> TensorProto:
    return numpy_helper.from_array(np.asarray(arr), name)


def _model(nodes, inits, opset: int = 9, in_shape=("N", 1, 6, 6), out="y") -> onnx.ModelProto:
    graph = helper.make_graph(
        nodes, "foreign", [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(in_shape))],
        [helper.make_tensor_value_info(out, TensorProto.FLOAT, None)], initializer=inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])


def _foreign_cnn(opset: int) -> tuple[onnx.ModelProto, callable]:
    """Conv→Dropout→Relu→MaxPool, a Sum residual, Shape→Gather→Unsqueeze→Concat→Reshape, MatMul+Add, Gemm, Softmax."""
    rng = np.random.default_rng(0)
    w = rng.normal(size=(3, 1, 3, 3)).astype(np.float32)
    m = rng.normal(size=(27, 5)).astype(np.float32)
    b = rng.normal(size=5).astype(np.float32)
    g = rng.normal(size=(5, 4)).astype(np.float32)   # Gemm with transB=0: (in, out)
    unsq = (helper.make_node("Unsqueeze", ["n"], ["n1"], axes=[0]) if opset < 13
            else helper.make_node("Unsqueeze", ["n", "ax0"], ["n1"]))
    nodes = [
        helper.make_node("Conv", ["x", "w"], ["c"], pads=[1, 1, 1, 1], name="/features/conv/Conv"),
        helper.make_node("Dropout", ["c"], ["d"], name="drop"),
        helper.make_node("Identity", ["d"], ["i"]),
        helper.make_node("Relu", ["i"], ["r"], name="relu"),
        helper.make_node("Sum", ["r", "c"], ["s"], name="sum"),
        helper.make_node("MaxPool", ["s"], ["p"], kernel_shape=[2, 2], strides=[2, 2], name="pool"),
        helper.make_node("Shape", ["p"], ["shp"]),
        helper.make_node("Constant", [], ["zero"], value=numpy_helper.from_array(np.array(0, np.int64))),
        helper.make_node("Gather", ["shp", "zero"], ["n"], axis=0),
        unsq,
        helper.make_node("Constant", [], ["minus1"], value=numpy_helper.from_array(np.array([-1], np.int64))),
        helper.make_node("Concat", ["n1", "minus1"], ["newshape"], axis=0),
        helper.make_node("Reshape", ["p", "newshape"], ["flat"], name="reshape"),
        helper.make_node("MatMul", ["flat", "m"], ["mm"], name="fc1"),
        helper.make_node("Add", ["mm", "b"], ["fc1out"], name="fc1_bias"),
        helper.make_node("Gemm", ["fc1out", "g", "gc"], ["logits"], transB=0, alpha=0.5, beta=2.0, name="fc2"),
        helper.make_node("Softmax", ["logits"], ["y"], axis=1, name="softmax"),
    ]
    inits = [_init("w", w), _init("m", m), _init("b", b), _init("g", g), _init("gc", rng.normal(size=4).astype(np.float32)), _init("ax0", np.array([0], np.int64))]
    return _model(nodes, inits, opset=opset)


@pytest.mark.parametrize("opset", [9, 11, 13, 17])
def test_foreign_cnn_is_imported_and_matches_onnxruntime(opset, tmp_path):
    model = _foreign_cnn(opset)
    path = tmp_path / "f.onnx"
    onnx.save(model, str(path))
    net = from_onnx(path)
    kinds = [n.op.kind for n in net.nodes]
    assert kinds == ["Conv2d", "ReLU", "Add", "MaxPool", "Flatten", "Linear", "Linear", "Softmax"]
    assert net.node("fc1").op.has_bias and net.nodes[0].name == "features.conv"
    x = np.random.default_rng(1).standard_normal((3, 1, 6, 6)).astype(np.float32)
    np.testing.assert_allclose(executor.run(net, x), run_onnxruntime(path, x), atol=1e-5)
    assert net.total_macs() == 3 * 36 * 9 + 27 * 5 + 5 * 4  # softmax not costed


def _bad(nodes, inits=(), **kw) -> onnx.ModelProto:
    return _model(nodes, list(inits), **kw)


W = _init("w", np.ones((2, 1, 3, 3), np.float32))


@pytest.mark.parametrize("model, message", [
    (_bad([helper.make_node("Conv", ["x", "w"], ["c"], name="c1"),
           helper.make_node("HardSigmoid", ["c"], ["y"], name="act7")], [W]), r"'act7' \(HardSigmoid\): unsupported op"),
    (_bad([helper.make_node("Conv", ["x", "w"], ["y"], name="c1")], [W], in_shape=("N", 1, "H", 6)),
     r"dynamic shape on axis 2 \('H'\)"),
    (_bad([helper.make_node("Conv", ["x", "w_missing"], ["y"], name="c1")], [W]),
     r"'c1' \(Conv\): input 'w_missing' is never produced"),
    (_bad([helper.make_node("Relu", ["b"], ["a"], name="n1"), helper.make_node("Relu", ["a"], ["b"], name="n2"),
           helper.make_node("Add", ["x", "a"], ["y"], name="n3")]), "never produced"),
    (_bad([helper.make_node("Relu", ["x"], ["y"])], in_shape=("N", 1, 1 << 14, 1 << 14)), "implausibly large"),
    (_bad([helper.make_node("Relu", ["x"], ["y"])], opset=7), "opset 7 is older"),
    (_bad([helper.make_node("Conv", ["x", "w"], ["y"], name="c1", dilations=[2, 2])], [W]), "dilations"),
])
def test_import_errors_name_the_problem(model, message):
    with pytest.raises(OnnxImportError, match=message):
        from_onnx(model)


def test_unreadable_file_is_a_clear_error(tmp_path):
    bad = tmp_path / "junk.onnx"
    bad.write_bytes(b"\x08\x01garbage" * 10)
    with pytest.raises(OnnxImportError, match="junk.onnx"):
        from_onnx(bad)
    with pytest.raises(OnnxImportError, match="no such ONNX file"):
        from_onnx(tmp_path / "absent.onnx")


class _MeanHead(torch.nn.Module):
    """conv → relu → x.mean((2, 3)) → linear: PyTorch exports the mean as ONNX ReduceMean (keepdims=0)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv, self.fc = torch.nn.Conv2d(1, 4, 3, padding=1), torch.nn.Linear(4, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.relu(self.conv(x)).mean((2, 3)))


def test_torch_mean_head_is_imported_as_global_average_pool(tmp_path):
    path = tmp_path / "mean.onnx"
    torch.onnx.export(_MeanHead().eval(), torch.zeros(1, 1, 6, 6), str(path), dynamo=False, opset_version=17,
                      input_names=["x"], dynamic_axes={"x": {0: "N"}})
    assert "ReduceMean" in [n.op_type for n in onnx.load(str(path)).graph.node]
    net = from_onnx(path)
    assert [n.op.kind for n in net.nodes] == ["Conv2d", "ReLU", "GlobalAvgPool", "Flatten", "Linear"]
    x = np.random.default_rng(2).standard_normal((4, 1, 6, 6)).astype(np.float32)
    np.testing.assert_allclose(executor.run(net, x), run_onnxruntime(path, x), atol=1e-5)


@pytest.mark.parametrize("axes", [[2, 3], [-1, -2]])
def test_opset18_reduce_mean_with_axes_input_and_keepdims(axes, tmp_path):
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"], name="c1"),
             helper.make_node("ReduceMean", ["c", "axes"], ["m"], keepdims=1, name="gap"),
             helper.make_node("Flatten", ["m"], ["y"], name="flat")]
    path = tmp_path / "m18.onnx"
    onnx.save(_model(nodes, [W, _init("axes", np.array(axes, np.int64))], opset=18), str(path))
    net = from_onnx(path)
    assert [n.op.kind for n in net.nodes] == ["Conv2d", "GlobalAvgPool", "Flatten"]
    x = np.random.default_rng(3).standard_normal((2, 1, 6, 6)).astype(np.float32)
    np.testing.assert_allclose(executor.run(net, x), run_onnxruntime(path, x), atol=1e-5)


def test_reduce_mean_over_channels_is_refused_by_name():
    model = _bad([helper.make_node("Conv", ["x", "w"], ["c"], name="c1"),
                  helper.make_node("ReduceMean", ["c"], ["y"], axes=[1], name="chanmean")], [W])
    with pytest.raises(OnnxImportError, match=r"'chanmean' \(ReduceMean\): only ReduceMean over the spatial axes"):
        from_onnx(model)
