"""IR: validation, shape inference, costs, JSON round trip, and the numpy executor against torch ops."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from cgap_ir import (
    INPUT,
    Add,
    AvgPool,
    Conv2d,
    Flatten,
    GlobalAvgPool,
    IrError,
    Linear,
    MaxPool,
    Network,
    Node,
    ReLU,
    executor,
    serialize,
)

RNG = np.random.default_rng(0)


def _conv(cin: int, cout: int, k: int = 3, stride: int = 1, pad: int = 1) -> Conv2d:
    return Conv2d(cin, cout, (k, k), (stride, stride), (pad,) * 4,
                  weight=RNG.normal(size=(cout, cin, k, k)).astype(np.float32),
                  bias=RNG.normal(size=cout).astype(np.float32))


def _residual_net() -> Network:
    nodes = (
        Node("c1", _conv(2, 4), (INPUT,)),
        Node("r1", ReLU(), ("c1",)),
        Node("c2", _conv(4, 4), ("r1",)),
        Node("add", Add(), ("c2", "c1")),
        Node("gap", GlobalAvgPool(), ("add",)),
        Node("flat", Flatten(), ("gap",)),
        Node("fc", Linear(4, 3, weight=RNG.normal(size=(3, 4)).astype(np.float32),
                          bias=np.zeros(3, np.float32)), ("flat",)),
    )
    return Network("res", (2, 6, 6), nodes, "fc")


def test_shapes_and_costs():
    net = _residual_net()
    assert net.shapes["add"] == (4, 6, 6)
    assert net.output_shape == (3,)
    rows = {r.name: r for r in net.layers()}
    assert rows["c1"].macs == 4 * 6 * 6 * 2 * 9 and rows["c1"].params == 4 * 2 * 9 + 4
    assert rows["fc"].macs == 12 and rows["add"].macs == 0
    assert net.total_params() == sum(r.params for r in rows.values())


@pytest.mark.parametrize("mutate, message", [
    (lambda n: n[:3] + (Node("c1", ReLU(), ("c2",)),) + n[4:], "duplicate name"),
    (lambda n: (Node("x", ReLU(), ("later",)),) + n, "unknown or comes later"),
    (lambda n: n[:3] + (Node("add", Add(), ("c2", INPUT)),) + n[4:], "Add needs equal shapes"),
    (lambda n: n[:3] + (Node("add", Add(), ("c2",)),) + n[4:], "needs 2 inputs"),
])
def test_invalid_graphs_name_the_node(mutate, message):
    net = _residual_net()
    with pytest.raises(IrError, match=message):
        Network("bad", net.input_shape, mutate(net.nodes), "fc")


def test_conv_channel_mismatch_is_rejected():
    with pytest.raises(IrError, match="node 'c'.*expects 3 input channels"):
        Network("bad", (2, 4, 4), (Node("c", _conv(3, 1), (INPUT,)),), "c")


def test_json_round_trip_keeps_structure_and_weights():
    net = _residual_net()
    back = serialize.from_json(serialize.to_json(net))
    assert back == net
    x = RNG.normal(size=(2, 2, 6, 6))
    np.testing.assert_array_equal(executor.run(back, x), executor.run(net, x))
    skeleton = serialize.from_dict(serialize.to_dict(net, with_weights=False))
    assert skeleton.summary() == net.summary()


def test_executor_matches_torch_on_residual_net():
    net = _residual_net()
    x = RNG.normal(size=(3, 2, 6, 6)).astype(np.float32)
    ops = {n.name: n.op for n in net.nodes}
    t = torch.from_numpy(x).double()

    def conv(op, v):
        return F.conv2d(v, torch.from_numpy(op.weight).double(), torch.from_numpy(op.bias).double(), padding=1)

    c1 = conv(ops["c1"], t)
    ref = (conv(ops["c2"], torch.relu(c1)) + c1).mean(dim=(2, 3))
    ref = ref @ torch.from_numpy(ops["fc"].weight).double().T
    np.testing.assert_allclose(executor.run(net, x), ref.numpy(), atol=1e-9)


@pytest.mark.parametrize("kernel, stride, pad, ceil", [(2, 2, 0, False), (3, 2, 1, False), (3, 2, 0, True),
                                                       (3, 1, 1, False), (2, 2, 1, True)])
@pytest.mark.parametrize("include_pad", [False, True])
def test_pools_match_torch(kernel, stride, pad, ceil, include_pad):
    x = RNG.normal(size=(2, 3, 7, 9))
    t = torch.from_numpy(x)
    args = ((kernel, kernel), (stride, stride), (pad,) * 4, ceil)
    got_max = executor.maxpool(x, MaxPool(*args))
    np.testing.assert_allclose(got_max, F.max_pool2d(t, kernel, stride, pad, ceil_mode=ceil).numpy())
    got_avg = executor.avgpool(x, AvgPool(*args, count_include_pad=include_pad))
    ref = F.avg_pool2d(t, kernel, stride, pad, ceil_mode=ceil, count_include_pad=include_pad)
    np.testing.assert_allclose(got_avg, ref.numpy(), atol=1e-12)


def test_strided_grouped_conv_matches_torch():
    op = Conv2d(4, 6, (3, 3), (2, 2), (1, 0, 1, 0), groups=2,
                weight=RNG.normal(size=(6, 2, 3, 3)).astype(np.float32), bias=None, has_bias=False)
    x = RNG.normal(size=(2, 4, 9, 8))
    ref = F.conv2d(F.pad(torch.from_numpy(x), (0, 0, 1, 1)), torch.from_numpy(op.weight).double(), stride=2, groups=2)
    np.testing.assert_allclose(executor.conv2d(x, op), ref.numpy(), atol=1e-9)


def _new_ops_net() -> Network:
    """Every op of the ONNX-zoo extension once: Pad, grouped conv, Concat, ChannelShuffle, Affine, LRN, Clip,
    LeakyReLU, count_include_pad average pool, depthwise conv."""
    from cgap_ir import LRN, Affine, ChannelShuffle, Clip, Concat, LeakyReLU, Pad

    grouped = Conv2d(2, 4, (3, 3), (1, 1), (1, 1, 1, 1), groups=2,
                     weight=RNG.normal(size=(4, 1, 3, 3)).astype(np.float32), bias=np.zeros(4, np.float32))
    depthwise = Conv2d(6, 6, (3, 3), (1, 1), (1, 1, 1, 1), groups=6, has_bias=False,
                       weight=RNG.normal(size=(6, 1, 3, 3)).astype(np.float32))
    nodes = (
        Node("pad", Pad((1, 0, 0, 1)), (INPUT,)),
        Node("g", grouped, ("pad",)),
        Node("avg", AvgPool((3, 3), (1, 1), (1, 1, 1, 1), count_include_pad=True), ("pad",)),
        Node("cat", Concat(), ("g", "avg")),
        Node("shuffle", ChannelShuffle(3), ("cat",)),
        Node("aff", Affine(6, scale=RNG.normal(size=6).astype(np.float32),
                           shift=RNG.normal(size=6).astype(np.float32)), ("shuffle",)),
        Node("lrn", LRN(5, alpha=0.3, beta=0.75, bias=2.0), ("aff",)),
        Node("clip", Clip(lo=-0.5, hi=None), ("lrn",)),
        Node("leaky", LeakyReLU(0.1), ("clip",)),
        Node("dw", depthwise, ("leaky",)),
    )
    return Network("new_ops", (2, 5, 5), nodes, "dw")


def test_new_ops_shapes_json_round_trip_and_executor_against_torch():
    net = _new_ops_net()
    assert net.shapes["pad"] == (2, 6, 6) and net.shapes["cat"] == (6, 6, 6) and net.output_shape == (6, 6, 6)
    back = serialize.from_json(serialize.to_json(net))
    assert back == net and back.node("clip").op.hi is None
    x = RNG.normal(size=(2, 2, 5, 5))
    np.testing.assert_array_equal(executor.run(back, x), executor.run(net, x))
    ops = {n.name: n.op for n in net.nodes}
    t = F.pad(torch.from_numpy(x), (0, 1, 1, 0))
    g = F.conv2d(t, torch.from_numpy(ops["g"].weight).double(), padding=1, groups=2)
    avg = F.avg_pool2d(t, 3, 1, 1, count_include_pad=True)
    v = torch.nn.ChannelShuffle(3)(torch.cat([g, avg], dim=1))
    v = v * torch.from_numpy(ops["aff"].scale).double()[None, :, None, None] \
        + torch.from_numpy(ops["aff"].shift).double()[None, :, None, None]
    v = F.local_response_norm(v, 5, alpha=0.3, beta=0.75, k=2.0)
    v = F.leaky_relu(torch.clamp(v, min=-0.5), 0.1)
    ref = F.conv2d(v, torch.from_numpy(ops["dw"].weight).double(), padding=1, groups=6)
    np.testing.assert_allclose(executor.run(net, x), ref.numpy(), atol=1e-9)


def test_concat_needs_matching_maps_and_some_input():
    from cgap_ir import Concat

    with pytest.raises(IrError, match=r"node 'cat' \(Concat\): Concat along channels needs equal other dims"):
        Network("bad", (2, 4, 4), (Node("p", MaxPool((2, 2), (2, 2)), (INPUT,)), Node("cat", Concat(), (INPUT, "p"))),
                "cat")
    with pytest.raises(IrError, match=r"node 'cat' \(Concat\): needs at least 1 inputs, has 0"):
        Network("bad", (2, 4, 4), (Node("cat", Concat(), ()),), "cat")


def test_channel_slice_shapes_round_trip_and_range_errors():
    from cgap_ir import ChannelSlice

    net = Network("s", (5, 3, 3), (Node("sl", ChannelSlice(1, 4), (INPUT,)),), "sl")
    assert net.output_shape == (3, 3, 3) and serialize.from_json(serialize.to_json(net)) == net
    x = RNG.normal(size=(2, 5, 3, 3))
    np.testing.assert_array_equal(executor.run(net, x), x[:, 1:4])
    with pytest.raises(IrError, match=r"node 'sl' \(ChannelSlice\): ChannelSlice \[3, 7\) is not a non-empty range"):
        Network("s", (5, 3, 3), (Node("sl", ChannelSlice(3, 7), (INPUT,)),), "sl")
