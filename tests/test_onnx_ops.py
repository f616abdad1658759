"""ONNX import of Concat, grouped/depthwise Conv, channel shuffle, constant Mul/Add/Sub/Div, LRN, Clip, LeakyRelu,
Pad, AveragePool count_include_pad and a (C,1,1) Softmax: each small graph runs in the executor as in onnxruntime."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
import torch
from onnx import TensorProto, helper, numpy_helper

from cgap_ir import executor
from cgap_ir.from_onnx import OnnxImportError, from_onnx
from tests.onnx_light import run_ort

RNG = np.random.default_rng(0)


def _init(name: str, arr) -> TensorProto:
    return numpy_helper.from_array(np.asarray(arr), name)


def _randn(*shape: int) -> np.ndarray:
    return RNG.standard_normal(shape).astype(np.float32)


def _model(nodes, inits, opset: int = 13, in_shape=(1, 4, 6, 6), out: str = "y") -> onnx.ModelProto:
    graph = helper.make_graph(
        nodes, "ops", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", *in_shape[1:]])],
        [helper.make_tensor_value_info(out, TensorProto.FLOAT, None)], initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    return model


def _check(model: onnx.ModelProto, atol: float = 1e-5) -> list[str]:
    """Assert the IR executor equals onnxruntime on random input; return the IR op kinds."""
    shape = [d.dim_value or 2 for d in model.graph.input[0].type.tensor_type.shape.dim]
    x = RNG.standard_normal(shape).astype(np.float32)
    net = from_onnx(model)
    (ref,) = run_ort(model, x, ["y"])
    np.testing.assert_allclose(executor.run(net, x).reshape(ref.shape), ref, atol=atol, rtol=0)
    return [n.op.kind for n in net.nodes]


def _conv(name: str, src: str, out: str, cin: int, cout: int, k: int = 3, group: int = 1, bias: bool = True):
    """Return (node, initializers) of a same-padded convolution."""
    inits = [_init(f"{name}_w", _randn(cout, cin // group, k, k))]
    inputs = [src, f"{name}_w"]
    if bias:
        inits.append(_init(f"{name}_b", _randn(cout)))
        inputs.append(f"{name}_b")
    node = helper.make_node("Conv", inputs, [out], name=name, group=group, pads=[k // 2] * 4, kernel_shape=[k, k])
    return node, inits


def test_concat_of_branches_lrn_and_opset9_clip():
    a, ia = _conv("a", "x", "ca", 4, 3)
    b, ib = _conv("b", "x", "cb", 4, 5, k=1)
    nodes = [a, b, helper.make_node("Concat", ["ca", "cb"], ["cat"], axis=1, name="cat"),
             helper.make_node("LRN", ["cat"], ["n"], size=5, alpha=0.5, beta=0.75, bias=2.0, name="lrn"),
             helper.make_node("Clip", ["n"], ["y"], min=-0.3, max=0.4, name="clip")]
    kinds = _check(_model(nodes, ia + ib, opset=9))
    assert kinds == ["Conv2d", "Conv2d", "Concat", "LRN", "Clip"]


@pytest.mark.parametrize("size", [1, 3, 7])  # onnxruntime refuses even sizes
def test_lrn_window_sizes_match_onnxruntime(size):
    nodes = [helper.make_node("LRN", ["x"], ["y"], size=size, alpha=0.9, beta=0.6, bias=1.5)]
    assert _check(_model(nodes, [], in_shape=(1, 6, 3, 3))) == ["LRN"]


def test_relu6_clip_with_constant_inputs_and_relu_form():
    nodes = [helper.make_node("Clip", ["x", "lo", "hi"], ["r6"], name="relu6"),
             helper.make_node("Clip", ["r6", "lo"], ["r"], name="relu"),
             helper.make_node("LeakyRelu", ["r"], ["y"], alpha=0.2, name="leaky")]
    kinds = _check(_model(nodes, [_init("lo", np.float32(0)), _init("hi", np.float32(6))]))
    assert kinds == ["Clip", "ReLU", "LeakyReLU"]


def test_leaky_relu_negative_side():
    nodes = [helper.make_node("LeakyRelu", ["x"], ["y"], alpha=0.1)]
    assert _check(_model(nodes, [])) == ["LeakyReLU"]


@pytest.mark.parametrize("opset", [9, 13])
@pytest.mark.parametrize("include_pad", [0, 1])
def test_pad_node_and_average_pool_count_include_pad(opset, include_pad):
    pads = [0, 0, 1, 2, 0, 0, 2, 0]
    pad = (helper.make_node("Pad", ["x"], ["p"], pads=pads, name="pad") if opset < 11
           else helper.make_node("Pad", ["x", "pads"], ["p"], name="pad"))
    ceil = {} if opset < 10 else {"ceil_mode": 1}  # ceil_mode arrived in opset 10
    nodes = [pad, helper.make_node("AveragePool", ["p"], ["y"], kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1],
                                   count_include_pad=include_pad, name="avg", **ceil)]
    inits = [] if opset < 11 else [_init("pads", np.array(pads, np.int64))]
    net = from_onnx(_model(nodes, inits, opset=opset))
    assert net.node("pad").op.pads == (1, 2, 2, 0)
    assert net.node("avg").op.count_include_pad is bool(include_pad)
    assert _check(_model(nodes, inits, opset=opset)) == ["Pad", "AvgPool"]


@pytest.mark.parametrize("pads, message", [
    ([0, 1, 0, 0, 0, 0, 0, 0], "only non-negative padding of H and W"),
    ([0, 0, -1, 0, 0, 0, 0, 0], "only non-negative padding of H and W"),
])
def test_pad_on_channels_or_negative_is_refused(pads, message):
    model = _model([helper.make_node("Pad", ["x", "pads"], ["y"], name="bad_pad")],
                   [_init("pads", np.array(pads, np.int64))])
    with pytest.raises(OnnxImportError, match=rf"'bad_pad' \(Pad\): {message}"):
        from_onnx(model)


def test_reflect_pad_is_refused():
    model = _model([helper.make_node("Pad", ["x", "pads"], ["y"], mode="reflect", name="rp")],
                   [_init("pads", np.array([0, 0, 1, 1, 0, 0, 1, 1], np.int64))])
    with pytest.raises(OnnxImportError, match=r"'rp' \(Pad\): only constant zero padding"):
        from_onnx(model)


def _shuffle_nodes(src: str, out: str, groups: int, c: int, h: int, w: int, perm=(0, 2, 1, 3, 4)):
    nodes = [helper.make_node("Reshape", [src, "s5"], ["r5"], name="shuffle_reshape"),
             helper.make_node("Transpose", ["r5"], ["t5"], perm=list(perm), name="shuffle_transpose"),
             helper.make_node("Reshape", ["t5", "s4"], [out], name="shuffle_back")]
    inits = [_init("s5", np.array([0, groups, c // groups, h, w], np.int64)),  # 0: keep the batch dimension
             _init("s4", np.array([-1, c, h, w], np.int64))]
    return nodes, inits


def test_grouped_conv_channel_shuffle_and_depthwise_conv():
    g, ig = _conv("g", "x", "cg", 4, 6, k=1, group=2)
    shuffle, ishuf = _shuffle_nodes("cg", "sh", 3, 6, 6, 6)
    dw, idw = _conv("dw", "sh", "y", 6, 6, group=6, bias=False)
    net = from_onnx(_model([g, *shuffle, dw], ig + ishuf + idw))
    assert [n.op.kind for n in net.nodes] == ["Conv2d", "ChannelShuffle", "Conv2d"]
    assert net.nodes[1].op.groups == 3 and net.nodes[1].name == "shuffle_reshape"
    assert net.node("dw").op.groups == 6 and net.node("dw").op.macs([], (6, 6, 6)) == 6 * 36 * 9
    assert net.meta["onnx_tensors"]["shuffle_reshape"] == "sh"
    _check(_model([g, *shuffle, dw], ig + ishuf + idw))


@pytest.mark.parametrize("perm", [(0, 1, 2, 3, 4), (0, 2, 1, 4, 3)])
def test_other_5d_reshape_is_refused_by_name(perm):
    nodes, inits = _shuffle_nodes("x", "y", 2, 4, 6, 6, perm=perm)
    with pytest.raises(OnnxImportError, match=r"'shuffle_reshape' \(Reshape\): a 5-D Reshape .* only supported as a "
                                              r"channel shuffle"):
        from_onnx(_model(nodes, inits))


def test_5d_reshape_read_elsewhere_is_refused():
    nodes, inits = _shuffle_nodes("x", "y", 2, 4, 6, 6)
    nodes.append(helper.make_node("Relu", ["r5"], ["other"], name="peek"))
    with pytest.raises(OnnxImportError, match="'shuffle_reshape'.*channel shuffle"):
        from_onnx(_model(nodes, inits))


def test_constant_scale_and_shift_fold_into_conv_and_batchnorm():
    conv, ic = _conv("conv", "x", "c", 4, 3, bias=False)
    bn_inits = [_init(f"bn_{k}", v) for k, v in
                (("s", RNG.uniform(0.5, 1.5, 3)), ("b", _randn(3)), ("m", _randn(3)), ("v", RNG.uniform(0.5, 1.5, 3)))]
    bn_inits = [_init(t.name, numpy_helper.to_array(t).astype(np.float32)) for t in bn_inits]
    nodes = [conv,
             helper.make_node("Mul", ["c", "m1"], ["c1"], name="mul_conv"),
             helper.make_node("Sub", ["c1", "s1"], ["c2"], name="sub_conv"),
             helper.make_node("BatchNormalization", ["c2", "bn_s", "bn_b", "bn_m", "bn_v"], ["bn"], name="bn"),
             helper.make_node("Mul", ["bn", "m2"], ["b1"], name="scale_w"),
             helper.make_node("Add", ["b1", "a2"], ["b2"], name="scale_b"),
             helper.make_node("Div", ["b2", "d3"], ["y"], name="div")]
    consts = [_init("m1", RNG.uniform(0.5, 2, (3, 1, 1)).astype(np.float32)), _init("s1", np.float32(0.25)),
              _init("m2", RNG.uniform(0.5, 2, (1, 3, 1, 1)).astype(np.float32)), _init("a2", _randn(3, 1, 1)),
              _init("d3", np.float32(4.0))]
    kinds = _check(_model(nodes, ic + bn_inits + consts))
    assert kinds == ["Conv2d", "BatchNorm"]
    net = from_onnx(_model(nodes, ic + bn_inits + consts))
    assert net.node("conv").op.has_bias and net.meta["onnx_tensors"]["bn"] == "y"


def test_constant_on_the_input_or_a_shared_tensor_is_an_affine_node():
    conv, ic = _conv("conv", "n", "c", 4, 4)
    nodes = [helper.make_node("Sub", ["x", "mean"], ["centred"], name="centre"),
             helper.make_node("Div", ["centred", "std"], ["n"], name="normalise"),
             conv,
             helper.make_node("Sub", ["half", "c"], ["flipped"], name="flip"),  # c is also read by the Add below
             helper.make_node("Add", ["flipped", "c"], ["y"], name="join")]
    consts = [_init("mean", _randn(1, 4, 1, 1)), _init("std", RNG.uniform(0.5, 2, (4, 1, 1)).astype(np.float32)),
              _init("half", np.float32(0.5))]
    kinds = _check(_model(nodes, ic + consts))
    assert kinds == ["Affine", "Conv2d", "Affine", "Add"]


@pytest.mark.parametrize("const, message", [
    (np.ones((1, 1, 6, 6), np.float32), r"constant of shape \[1, 1, 6, 6\] is not a per-channel vector"),
    (np.ones(4, np.float32), r"constant of shape \[4\] is not a per-channel vector"),  # broadcasts over W
])
def test_per_pixel_constants_are_refused(const, message):
    model = _model([helper.make_node("Mul", ["x", "k"], ["y"], name="pix")], [_init("k", const)])
    with pytest.raises(OnnxImportError, match=rf"'pix' \(Mul\): {message}"):
        from_onnx(model)


def test_mul_of_two_tensors_and_constant_over_tensor_are_refused():
    model = _model([helper.make_node("Mul", ["x", "x"], ["y"], name="sq")], [])
    with pytest.raises(OnnxImportError, match=r"'sq' \(Mul\): Mul of two computed tensors"):
        from_onnx(model)
    model = _model([helper.make_node("Div", ["k", "x"], ["y"], name="inv")], [_init("k", np.float32(1))])
    with pytest.raises(OnnxImportError, match=r"'inv' \(Div\): dividing a constant by a tensor"):
        from_onnx(model)


@pytest.mark.parametrize("opset", [9, 13])
def test_softmax_over_a_c11_map(opset):
    conv, ic = _conv("conv", "x", "c", 4, 5)
    nodes = [conv, helper.make_node("GlobalAveragePool", ["c"], ["g"]),
             helper.make_node("Softmax", ["g"], ["y"], axis=1, name="prob")]
    assert _check(_model(nodes, ic, opset=opset)) == ["Conv2d", "GlobalAvgPool", "Softmax"]


def test_softmax_over_the_last_axis_of_a_map_is_refused():
    nodes = [helper.make_node("Softmax", ["x"], ["y"], name="prob")]
    with pytest.raises(OnnxImportError, match=r"'prob' \(Softmax\): Softmax is only supported over the classes"):
        from_onnx(_model(nodes, [], opset=13))


def test_concat_on_spatial_axis_is_refused():
    nodes = [helper.make_node("Concat", ["x", "x"], ["y"], axis=2, name="hcat")]
    with pytest.raises(OnnxImportError, match=r"'hcat' \(Concat\): only Concat along the channel axis"):
        from_onnx(_model(nodes, []))


class _InvertedResidual(torch.nn.Module):
    """A MobileNetV2 block (1x1 expand, ReLU6, depthwise 3x3, ReLU6, 1x1 project, residual), then a LeakyReLU
    branch concatenated with an average pool that excludes padding, and a scaled output: what torch users write."""

    def __init__(self) -> None:
        super().__init__()
        self.expand = torch.nn.Sequential(torch.nn.Conv2d(4, 12, 1, bias=False), torch.nn.BatchNorm2d(12),
                                          torch.nn.ReLU6())
        self.depthwise = torch.nn.Sequential(torch.nn.Conv2d(12, 12, 3, padding=1, groups=12, bias=False),
                                             torch.nn.BatchNorm2d(12), torch.nn.ReLU6())
        self.project = torch.nn.Sequential(torch.nn.Conv2d(12, 4, 1, bias=False), torch.nn.BatchNorm2d(4))
        self.side = torch.nn.Conv2d(4, 3, 3, padding=1)
        self.pool = torch.nn.AvgPool2d(3, 1, 1, count_include_pad=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = x + self.project(self.depthwise(self.expand(x)))
        y = torch.cat([torch.nn.functional.leaky_relu(self.side(y), 0.1), self.pool(y)], dim=1)
        return y * 0.5


@pytest.mark.parametrize("opset", [11, 17])
def test_torch_mobilenet_style_block_imports_and_matches_onnxruntime(opset, tmp_path):
    torch.manual_seed(0)
    module = _InvertedResidual().eval()
    with torch.no_grad():
        for bn in (m for m in module.modules() if isinstance(m, torch.nn.BatchNorm2d)):
            bn.running_mean.uniform_(-0.3, 0.3)
            bn.running_var.uniform_(0.5, 1.5)
    path = tmp_path / "mb.onnx"
    torch.onnx.export(module, torch.zeros(1, 4, 6, 6), str(path), dynamo=False, opset_version=opset,
                      input_names=["x"], output_names=["y"], dynamic_axes={"x": {0: "N"}})
    model = onnx.load(str(path))
    kinds = _check(model)
    assert kinds.count("Clip") == 2 and "LeakyReLU" in kinds and "Concat" in kinds
    assert kinds[-1] == "Affine"  # the scale after a Concat has no producer to fold into
    net = from_onnx(model)
    assert [n.op.groups for n in net.nodes if n.op.kind == "Conv2d"] == [1, 12, 1, 1]


class _ShuffleV2Unit(torch.nn.Module):
    """A ShuffleNetV2 unit: chunk (ONNX Split), a branch with a depthwise conv, Concat, and the channel shuffle
    written as view / transpose / view with sizes read from the tensor (Shape-Gather constants) and a -1."""

    def __init__(self) -> None:
        super().__init__()
        self.branch = torch.nn.Sequential(torch.nn.Conv2d(4, 4, 1), torch.nn.ReLU(),
                                          torch.nn.Conv2d(4, 4, 3, padding=1, groups=4), torch.nn.Conv2d(4, 4, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        left, right = x.chunk(2, dim=1)
        y = torch.cat([left, self.branch(right)], dim=1)
        b, c, h, w = y.size()
        y = y.view(b, 2, c // 2, h, w).transpose(1, 2).contiguous().view(b, -1, h, w)
        return y[:, 2:7]


@pytest.mark.parametrize("opset", [11, 13, 18])
def test_torch_shufflenet_v2_unit_imports_and_matches_onnxruntime(opset, tmp_path):
    torch.manual_seed(0)
    path = tmp_path / "shuffle.onnx"
    torch.onnx.export(_ShuffleV2Unit().eval(), torch.zeros(1, 8, 5, 5), str(path), dynamo=False, opset_version=opset,
                      input_names=["x"], output_names=["y"])
    kinds = _check(onnx.load(str(path)))
    assert kinds.count("ChannelSlice") == 3 and "ChannelShuffle" in kinds and "Concat" in kinds


def test_slice_with_a_step_or_on_another_axis_is_refused():
    inits = [_init(k, np.array(v, np.int64)) for k, v in (("s", [0]), ("e", [4]), ("a", [2]), ("st", [2]))]
    model = _model([helper.make_node("Slice", ["x", "s", "e", "a", "st"], ["y"], name="rows")], inits)
    with pytest.raises(OnnxImportError, match=r"'rows' \(Slice\): only a step-1 Slice along the channel axis"):
        from_onnx(model)
