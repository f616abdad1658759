"""Hand-built IR test networks with random weights (irregular widths) for the passes and HLS tests."""

from __future__ import annotations

import numpy as np

from cgap_ir import (
    INPUT,
    Add,
    AvgPool,
    BatchNorm,
    Concat,
    Conv2d,
    Flatten,
    GlobalAvgPool,
    Linear,
    MaxPool,
    Network,
    Node,
    ReLU,
)


class _Builder:
    def __init__(self, seed: int) -> None:
        self.rng = np.random.default_rng(seed)
        self.nodes: list[Node] = []

    def add(self, name: str, op, *inputs: str) -> str:
        self.nodes.append(Node(name, op, tuple(inputs)))
        return name

    def conv(self, name: str, src: str, cin: int, cout: int, k: int = 3, stride: int = 1, pad: int = 1) -> str:
        w = self.rng.normal(0, np.sqrt(2.0 / (cin * k * k)), (cout, cin, k, k))
        op = Conv2d(cin, cout, (k, k), (stride, stride), (pad,) * 4, has_bias=False, weight=w)
        return self.add(name, op, src)

    def bn(self, name: str, src: str, c: int) -> str:
        r = self.rng
        return self.add(name, BatchNorm(c, scale=r.uniform(0.5, 1.5, c), bias=r.normal(0, 0.2, c),
                                        mean=r.normal(0, 0.2, c), var=r.uniform(0.5, 2.0, c)), src)

    def linear(self, name: str, src: str, fin: int, fout: int) -> str:
        op = Linear(fin, fout, weight=self.rng.normal(0, np.sqrt(1.0 / fin), (fout, fin)),
                    bias=self.rng.normal(0, 0.1, fout))
        return self.add(name, op, src)


def residual_net(seed: int = 0, c_in: int = 1, hw: int = 9) -> Network:
    """Return a small net covering conv+BN+ReLU+fused maxpool, fused residual (1x1 shortcut),
    standalone avgpool, standalone add, GAP, flatten and two linears; widths 1, 3, 5, 7."""
    b = _Builder(seed)
    x = b.add("c1_relu", ReLU(), b.bn("c1", b.conv("c1_conv", INPUT, c_in, 5), 5))
    x = b.add("pool1", MaxPool((2, 2), (2, 2)), b.conv("c2", x, 5, 6, k=2, pad=1))  # 9 -> 10 -> 5
    y = b.bn("c3_bn", b.conv("c3", x, 6, 7), 7)
    sc = b.bn("sc_bn", b.conv("sc", x, 6, 7, k=1, pad=0), 7)
    x = b.add("res1_relu", ReLU(), b.add("res1", Add(), y, sc))
    x = b.add("avg", AvgPool((3, 3), (1, 1), (1, 1, 1, 1)), x)
    z = b.conv("c4", x, 7, 7, k=3, stride=2, pad=1)
    w = b.conv("c5", x, 7, 7, k=1, stride=2, pad=0)
    x = b.add("res2", Add(), b.add("c4_relu", ReLU(), z), b.add("c5_relu", ReLU(), w))
    x = b.add("gap", GlobalAvgPool(), x)
    x = b.add("flat", Flatten(), x)
    x = b.add("fc1", ReLU(), b.linear("fc1_lin", x, 7, 3))
    x = b.linear("fc2", x, 3, 4)
    return Network(f"resnet_toy{seed}", (c_in, hw, hw), tuple(b.nodes), x)


def plain_net(seed: int = 0) -> Network:
    """Return a LeNet-like net: conv, fused avgpool, conv, maxpool (standalone, padded), flatten, linear."""
    b = _Builder(seed)
    x = b.add("r1", ReLU(), b.bn("bn1", b.conv("conv1", INPUT, 3, 4, k=3, pad=0), 4))  # 10 -> 8
    x = b.add("ap", AvgPool((2, 2), (2, 2)), x)                                           # 8 -> 4
    x = b.add("r2", ReLU(), b.conv("conv2", x, 4, 9, k=3, pad=1))
    x = b.add("mp", MaxPool((3, 3), (2, 2), (1, 1, 1, 1)), x)                             # 4 -> 2
    x = b.add("flat", Flatten(), x)
    x = b.linear("fc", x, 9 * 2 * 2, 5)
    return Network(f"plain{seed}", (3, 10, 10), tuple(b.nodes), x)


def relu_net(seed: int = 0) -> Network:
    """Return a net whose ReLUs no producer can absorb: one on the input, one on a conv output that also
    feeds a residual add (pre-activation style), one after a GAP; each runs as a 1x1 max pool with ReLU."""
    b = _Builder(seed)
    x = b.add("in_relu", ReLU(), INPUT)
    c1 = b.conv("c1", x, 2, 5)
    r = b.add("pre_relu", ReLU(), c1)                       # c1 has two consumers: pre_relu and res
    c2 = b.conv("c2", r, 5, 5)
    x = b.add("res", Add(), c2, c1)
    x = b.add("gap", GlobalAvgPool(), x)
    x = b.add("gap_relu", ReLU(), x)
    x = b.add("flat", Flatten(), x)
    x = b.linear("fc", x, 5, 3)
    return Network(f"relu_toy{seed}", (2, 7, 7), tuple(b.nodes), x)


def wide_net(seed: int = 0) -> Network:
    """Return a net on a wide, short map (3x8x36) whose rows need column tiles on small buffers: conv + BN + ReLU +
    fused 2x2 maxpool, a fused residual (1x1 shortcut) with ReLU, a stride-2 conv, GAP and a linear; widths 3, 6,
    7, 5."""
    b = _Builder(seed)
    x = b.add("mp1", MaxPool((2, 2), (2, 2)), b.add("r1", ReLU(), b.bn("bn1", b.conv("c1", INPUT, 3, 6), 6)))
    sc = b.conv("sc", x, 6, 7, k=1, pad=0)                                                 # 4 x 18
    y = b.bn("bn2", b.conv("c2", x, 6, 7), 7)                                               # the add fuses here
    x = b.add("r2", ReLU(), b.add("res", Add(), y, sc))
    x = b.add("r3", ReLU(), b.conv("c3", x, 7, 5, k=3, stride=2, pad=1))                     # 2 x 9
    x = b.linear("fc", b.add("flat", Flatten(), b.add("gap", GlobalAvgPool(), x)), 5, 4)
    return Network(f"wide{seed}", (3, 8, 36), tuple(b.nodes), x)


def concat_net(seed: int = 0) -> Network:
    """Return a net whose channel Concats are addressing: two branches off the input concatenated, a conv with a
    fused max pool over the concat, then a SqueezeNet fire module (squeeze 1x1, expand 1x1 and 3x3 concatenated),
    GAP and a linear; widths 4, 5, 6, 3, 4, 5."""
    b = _Builder(seed)
    a = b.add("ra", ReLU(), b.conv("ca", INPUT, 3, 4))
    c = b.add("rb", ReLU(), b.conv("cb", INPUT, 3, 5, k=1, pad=0))
    x = b.add("cat1", Concat(), a, c)                                                       # 9 x 8 x 8
    x = b.add("mp", MaxPool((2, 2), (2, 2)), b.add("r2", ReLU(), b.conv("c2", x, 9, 6)))     # 6 x 4 x 4
    s = b.add("rs", ReLU(), b.conv("sq", x, 6, 3, k=1, pad=0))
    e1 = b.add("re1", ReLU(), b.conv("e1", s, 3, 4, k=1, pad=0))
    e3 = b.add("re3", ReLU(), b.conv("e3", s, 3, 5))
    x = b.add("cat2", Concat(), e1, e3)                                                     # 9 x 4 x 4
    x = b.linear("fc", b.add("flat", Flatten(), b.add("gap", GlobalAvgPool(), x)), 9, 4)
    return Network(f"concat{seed}", (3, 8, 8), tuple(b.nodes), x)
