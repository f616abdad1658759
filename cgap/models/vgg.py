"""VGG-11/13/16/19 with BatchNorm for small images, described without torch: conv-BN-ReLU stacks, 2×2
max-pools, one hidden FC layer."""

from __future__ import annotations

from cgap.models.base import ChannelGroup, Consumer, Producer, check_widths
from cgap.models.graph import GraphBuilder, ZooGraph, flat_repeat, max_pool_2x2
from cgap_ir import INPUT, ops

M = "M"
CONFIGS: dict[str, list[int | str]] = {
    "vgg11": [64, M, 128, M, 256, 256, M, 512, 512, M, 512, 512, M],
    "vgg13": [64, 64, M, 128, 128, M, 256, 256, M, 512, 512, M, 512, 512, M],
    "vgg16": [64, 64, M, 128, 128, M, 256, 256, 256, M, 512, 512, 512, M, 512, 512, 512, M],
    "vgg19": [64, 64, M, 128, 128, M, 256, 256, 256, 256, M, 512, 512, 512, 512, M, 512, 512, 512, 512, M],
}
FC_WIDTH = 512


def default_widths(arch: str) -> dict[str, int]:
    """Return {"conv1": 64, ..., "fc1": 512} for a VGG variant."""
    convs = [v for v in CONFIGS[arch] if v != M]
    widths = {f"conv{i + 1}": int(v) for i, v in enumerate(convs)}
    widths["fc1"] = FC_WIDTH
    return widths


def graph(arch: str, input_shape: tuple[int, int, int], num_classes: int, widths: dict[str, int]) -> ZooGraph:
    """Return VGG-BN: each pool after a conv is applied only while the map is at least 2×2."""
    w = check_widths(arch, widths, list(default_widths(arch)))
    g = GraphBuilder(arch, input_shape)
    x = INPUT
    for i in range(len(w) - 1):
        x = g.relu("", g.bn(f"bn{i + 1}", g.conv(f"conv{i + 1}", x, w[f"conv{i + 1}"], 3)))
        if _pool_follows(CONFIGS[arch], i) and min(g.shape(x)[1:]) >= 2:
            x = g.module("pool", max_pool_2x2(), x)
    x = g.relu("", g.linear("fc1", g.func("", ops.Flatten(), x), w["fc1"]))
    return g.graph(g.linear("fc2", x, num_classes), w)


def channel_groups(zoo: ZooGraph, widths: dict[str, int]) -> list[ChannelGroup]:
    """Return one group per conv (read by the next conv, or fc1 through flatten) and fc1."""
    n_convs = len(widths) - 1
    groups = []
    for i in range(1, n_convs + 1):
        nxt = Consumer(f"conv{i + 1}") if i < n_convs else Consumer("fc1", flat_repeat(zoo))
        groups.append(ChannelGroup(f"conv{i}", widths[f"conv{i}"], (Producer(f"conv{i}", f"bn{i}"),), (nxt,)))
    groups.append(ChannelGroup("fc1", widths["fc1"], (Producer("fc1"),), (Consumer("fc2"),)))
    return groups


def _pool_follows(cfg: list[int | str], conv_index: int) -> bool:
    """Return whether the ``conv_index``-th conv of ``cfg`` is followed by a pool."""
    seen = -1
    for pos, v in enumerate(cfg):
        if v != M:
            seen += 1
            if seen == conv_index:
                return pos + 1 < len(cfg) and cfg[pos + 1] == M
    raise IndexError(conv_index)
