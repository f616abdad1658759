"""fold_pad: a zero Pad folds into the Conv2d / counting AvgPool that read it, the network computes the same."""

from __future__ import annotations

import numpy as np

from cgap_ir import INPUT, AvgPool, Conv2d, MaxPool, Network, Node, Pad, executor
from cgap_ir.fold_pad import fold_pad

RNG = np.random.default_rng(0)


def _conv(pads=(0, 0, 0, 0)) -> Conv2d:
    return Conv2d(2, 3, (3, 3), (1, 1), pads, weight=RNG.normal(size=(3, 2, 3, 3)).astype(np.float32),
                  bias=RNG.normal(size=3).astype(np.float32))


def _check(net: Network, kinds: list[str]) -> Network:
    folded = fold_pad(net)
    assert [n.op.kind for n in folded.nodes] == kinds
    x = RNG.normal(size=(2, *net.input_shape))
    np.testing.assert_allclose(executor.run(folded, x), executor.run(net, x), atol=1e-12)
    return folded


def test_pad_read_by_convs_and_counting_pools_is_folded():
    nodes = (Node("pad", Pad((1, 2, 0, 1)), (INPUT,)),
             Node("c1", _conv((1, 1, 1, 1)), ("pad",)),
             Node("avg", AvgPool((2, 2), (1, 1)), ("pad",)),                       # no pads of its own
             Node("avg2", AvgPool((3, 3), (2, 2), (1, 1, 1, 1), count_include_pad=True), ("pad",)),
             Node("c2", _conv(), ("avg2",)))
    folded = _check(Network("p", (2, 6, 5), nodes, "c1"), ["Conv2d", "AvgPool", "AvgPool", "Conv2d"])
    assert folded.node("c1").op.pads == (2, 3, 1, 2) and folded.node("avg").op.count_include_pad
    for name in ("c1", "avg", "avg2"):
        net = Network("p", (2, 6, 5), nodes, name)
        _check(net, [n.op.kind for n in folded.nodes])


def test_pad_read_by_a_max_pool_or_an_excluding_avg_pool_stays():
    for reader in (MaxPool((2, 2), (2, 2)), AvgPool((3, 3), (1, 1), (1, 1, 1, 1)),
                   AvgPool((2, 2), (2, 2), ceil_mode=True)):
        nodes = (Node("pad", Pad((1, 0, 0, 1)), (INPUT,)), Node("c", _conv(), ("pad",)), Node("p", reader, ("pad",)))
        _check(Network("p", (2, 5, 5), nodes, "p"), ["Pad", "Conv2d", reader.kind])
