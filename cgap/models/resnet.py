"""CIFAR-style ResNet-20/32/56/110 (He et al. 2016) with 1×1-conv projection ("option B") shortcuts,
described without torch.

Groups: ``stage1..3`` (the residual stream of a stage: stem/shortcut outputs and every block's
second conv, coupled by the adds) and ``s{stage}b{block}`` (each block's inner width).
"""

from __future__ import annotations

from cgap.models.base import ChannelGroup, Consumer, Producer, check_widths
from cgap.models.graph import GraphBuilder, ZooGraph
from cgap_ir import INPUT, ops

DEPTHS = {"resnet20": 3, "resnet32": 5, "resnet56": 9, "resnet110": 18}
STAGE_WIDTHS = (16, 32, 64)


def default_widths(arch: str) -> dict[str, int]:
    """Return the standard widths: stage1..3 = 16/32/64 and each block's inner width equal to its stage."""
    n = DEPTHS[arch]
    widths = {f"stage{s + 1}": STAGE_WIDTHS[s] for s in range(3)}
    for s in range(3):
        for b in range(n):
            widths[f"s{s + 1}b{b}"] = STAGE_WIDTHS[s]
    return widths


def graph(arch: str, input_shape: tuple[int, int, int], num_classes: int, widths: dict[str, int]) -> ZooGraph:
    """Return stem conv-BN-ReLU, three stages of basic blocks (strides 1, 2, 2), global average pool, linear."""
    w = check_widths(arch, widths, list(default_widths(arch)))
    g = GraphBuilder(arch, input_shape)
    x = g.relu("", g.bn("bn1", g.conv("conv1", INPUT, w["stage1"], 3)))
    for s in range(1, 4):
        for b in range(DEPTHS[arch]):
            stride = 2 if (s > 1 and b == 0) else 1
            x = _basic_block(g, f"layer{s}.{b}", x, w[f"s{s}b{b}"], w[f"stage{s}"], stride)
    x = g.func("", ops.Flatten(), g.func("", ops.GlobalAvgPool(), x))
    return g.graph(g.linear("fc", x, num_classes), w)


def _basic_block(g: GraphBuilder, blk: str, x: str, mid: int, cout: int, stride: int) -> str:
    """Add conv3×3-BN-ReLU-conv3×3-BN + shortcut, then ReLU (a 1×1 conv + BN shortcut when shapes change)."""
    out = g.relu(blk, g.bn(f"{blk}.bn1", g.conv(f"{blk}.conv1", x, mid, 3, stride)))
    out = g.bn(f"{blk}.bn2", g.conv(f"{blk}.conv2", out, cout, 3))
    short = x
    if stride != 1 or g.shape(x)[0] != cout:
        short = g.bn(f"{blk}.sc_bn", g.conv(f"{blk}.sc_conv", x, cout, 1, stride))
    return g.relu(blk, g.func(blk, ops.Add(), out, short))


def channel_groups(zoo: ZooGraph, widths: dict[str, int]) -> list[ChannelGroup]:
    """Return the three residual-stream groups and one inner group per block."""
    n = DEPTHS[zoo.net.name]
    names = {node.name for node in zoo.net.nodes}
    groups = []
    for s in range(1, 4):
        producers = [Producer("conv1", "bn1")] if s == 1 else []
        for b in range(n):
            blk = f"layer{s}.{b}"
            producers.append(Producer(f"{blk}.conv2", f"{blk}.bn2"))
            if f"{blk}.sc_conv" in names:
                producers.append(Producer(f"{blk}.sc_conv", f"{blk}.sc_bn"))
        consumers = [Consumer(f"layer{s}.{b}.conv1") for b in range(1 if s > 1 else 0, n)]
        if s < 3:  # block 0 of stages 2-3 reads the previous stage
            consumers += [Consumer(f"layer{s + 1}.0.conv1"), Consumer(f"layer{s + 1}.0.sc_conv")]
        else:
            consumers.append(Consumer("fc"))
        groups.append(ChannelGroup(f"stage{s}", widths[f"stage{s}"], tuple(producers), tuple(consumers)))
    for s in range(1, 4):
        for b in range(n):
            blk = f"layer{s}.{b}"
            groups.append(ChannelGroup(f"s{s}b{b}", widths[f"s{s}b{b}"],
                                       (Producer(f"{blk}.conv1", f"{blk}.bn1"),), (Consumer(f"{blk}.conv2"),)))
    return groups
