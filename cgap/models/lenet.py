"""LeNet-5 (same-padded 5×5 convs so it runs on 8×8 inputs too), described without torch."""

from __future__ import annotations

from cgap.models.base import ChannelGroup, Consumer, Producer, check_widths
from cgap.models.graph import GraphBuilder, ZooGraph, flat_repeat, max_pool_2x2
from cgap_ir import INPUT, ops

ARCH = "lenet5"
GROUPS = ["conv1", "conv2", "fc1", "fc2"]
DEFAULT_WIDTHS = {"conv1": 6, "conv2": 16, "fc1": 120, "fc2": 84}


def graph(input_shape: tuple[int, int, int], num_classes: int, widths: dict[str, int]) -> ZooGraph:
    """Return conv(5×5)-ReLU-pool ×2 → fc1-ReLU → fc2-ReLU → fc3; a pool is skipped where the map is under 2×2."""
    w = check_widths(ARCH, widths, GROUPS)
    g = GraphBuilder(ARCH, input_shape)
    x = INPUT
    for conv in ("conv1", "conv2"):
        op = ops.Conv2d(g.shape(x)[0], w[conv], (5, 5), pads=(2, 2, 2, 2))
        x = g.relu("", g.module(conv, op, x))
        if min(g.shape(x)[1:]) >= 2:
            x = g.module("pool", max_pool_2x2(), x)
    x = g.func("", ops.Flatten(), x)
    x = g.relu("", g.linear("fc1", x, w["fc1"]))
    x = g.relu("", g.linear("fc2", x, w["fc2"]))
    return g.graph(g.linear("fc3", x, num_classes), w)


def channel_groups(zoo: ZooGraph, widths: dict[str, int]) -> list[ChannelGroup]:
    """Return conv1, conv2 (read by fc1 through flatten), fc1 and fc2."""
    return [
        ChannelGroup("conv1", widths["conv1"], (Producer("conv1"),), (Consumer("conv2"),)),
        ChannelGroup("conv2", widths["conv2"], (Producer("conv2"),), (Consumer("fc1", flat_repeat(zoo)),)),
        ChannelGroup("fc1", widths["fc1"], (Producer("fc1"),), (Consumer("fc2"),)),
        ChannelGroup("fc2", widths["fc2"], (Producer("fc2"),), (Consumer("fc3"),)),
    ]
