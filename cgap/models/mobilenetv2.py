"""CIFAR-style MobileNetV2 (Sandler et al. 2018) of reduced depth, described without torch.

Stem conv3×3 (stride 1) → inverted residual blocks (1×1 expand, depthwise 3×3, 1×1 project, each with BN;
ReLU6 after expand and depthwise, none after project; a residual add where the block keeps stride 1 and its
stream width) → 1×1 head conv → global average pool → linear.  The stages below halve the paper's block counts
and stop at 160 channels: three stride-2 stages take 32×32 to 4×4 and 28×28 to 4×4.

Groups: ``stem`` (the stem conv, and the first block's depthwise conv, which reads it directly since that
block does not expand), ``stage1..6`` (a stage's stream: every block's project conv, coupled by the adds),
``s{stage}b{block}`` (an expanding block's hidden width: its expand conv *and* its depthwise conv, whose
channel ``c`` reads only channel ``c``) and ``head``.
"""

from __future__ import annotations

from cgap.models.base import ChannelGroup, Consumer, Producer, check_widths
from cgap.models.graph import GraphBuilder, ZooGraph
from cgap_ir import INPUT, ops

ARCH = "mobilenetv2"
STEM_WIDTH = 32
HEAD_WIDTH = 640
STAGES: tuple[tuple[int, int, int, int], ...] = (
    (1, 16, 1, 1), (6, 24, 2, 1), (6, 32, 2, 2), (6, 64, 2, 2), (6, 96, 2, 1), (6, 160, 1, 2))
"""Per stage: (expansion t, output width c, blocks n, first block's stride s)."""


def _blocks() -> list[tuple[int, int, int, int]]:
    """Return (stage 1.., block index in stage, expansion, stride) of every block, in order."""
    return [(s + 1, b, t, stride if b == 0 else 1) for s, (t, _, n, stride) in enumerate(STAGES) for b in range(n)]


def default_widths() -> dict[str, int]:
    """Return stem 32, the stage widths (16, 24, 32, 64, 96, 160), hidden = t × the block's input width, head 640."""
    widths = {"stem": STEM_WIDTH, **{f"stage{s + 1}": c for s, (_, c, _, _) in enumerate(STAGES)}}
    for stage, b, t, _ in _blocks():
        if t > 1:
            widths[f"s{stage}b{b}"] = t * (widths[f"stage{stage}"] if b else _stream_before(widths, stage))
    widths["head"] = HEAD_WIDTH
    return {g: widths[g] for g in _group_names()}


def _group_names() -> list[str]:
    """Return the group names in forward order."""
    hidden = [f"s{stage}b{b}" for stage, b, t, _ in _blocks() if t > 1]
    return ["stem", *[f"stage{s + 1}" for s in range(len(STAGES))], *hidden, "head"]


def _stream_before(widths: dict[str, int], stage: int) -> int:
    """Return the width of the stream entering ``stage`` (the stem's for stage 1)."""
    return widths["stem"] if stage == 1 else widths[f"stage{stage - 1}"]


def _stream_group(stage: int) -> str:
    return "stem" if stage == 0 else f"stage{stage}"


def graph(input_shape: tuple[int, int, int], num_classes: int, widths: dict[str, int]) -> ZooGraph:
    """Return stem conv-BN-ReLU6, the inverted residual blocks, head conv-BN-ReLU6, global average pool, linear."""
    w = check_widths(ARCH, widths, _group_names())
    g = GraphBuilder(ARCH, input_shape)
    x = g.relu6("", g.bn("bn1", g.conv("conv1", INPUT, w["stem"], 3)))
    for k, (stage, b, t, stride) in enumerate(_blocks()):
        hidden = w[f"s{stage}b{b}"] if t > 1 else None
        x = _inverted_residual(g, f"blocks.{k}", x, hidden, w[f"stage{stage}"], stride, residual=b > 0)
    x = g.relu6("", g.bn("bn2", g.conv("conv2", x, w["head"], 1)))
    x = g.func("", ops.Flatten(), g.func("", ops.GlobalAvgPool(), x))
    return g.graph(g.linear("fc", x, num_classes), w)


def _inverted_residual(g: GraphBuilder, blk: str, x: str, hidden: int | None, cout: int, stride: int,
                       residual: bool) -> str:
    """Add [expand 1×1-BN-ReLU6] → depthwise 3×3-BN-ReLU6 → project 1×1-BN (+ ``x`` when ``residual``)."""
    out = x
    if hidden is not None:
        out = g.relu6(blk, g.bn(f"{blk}.bn1", g.conv(f"{blk}.conv1", x, hidden, 1)))
    out = g.relu6(blk, g.bn(f"{blk}.bn2", g.depthwise(f"{blk}.conv2", out, 3, stride)))
    out = g.bn(f"{blk}.bn3", g.conv(f"{blk}.conv3", out, cout, 1))
    return g.func(blk, ops.Add(), out, x) if residual else out


def channel_groups(zoo: ZooGraph, widths: dict[str, int]) -> list[ChannelGroup]:
    """Return the stem, stage-stream, hidden and head groups (depthwise convs are producers of what they read)."""
    producers: dict[str, list[Producer]] = {g: [] for g in widths}
    consumers: dict[str, list[Consumer]] = {g: [] for g in widths}
    producers["stem"].append(Producer("conv1", "bn1"))
    for k, (stage, b, t, _) in enumerate(_blocks()):
        blk = f"blocks.{k}"
        stream_in = _stream_group(stage if b else stage - 1)
        if t > 1:
            hidden = f"s{stage}b{b}"
            producers[hidden] += [Producer(f"{blk}.conv1", f"{blk}.bn1"), Producer(f"{blk}.conv2", f"{blk}.bn2")]
            consumers[stream_in].append(Consumer(f"{blk}.conv1"))
            consumers[hidden].append(Consumer(f"{blk}.conv3"))
        else:  # no expansion: the depthwise conv works on the incoming stream itself
            producers[stream_in].append(Producer(f"{blk}.conv2", f"{blk}.bn2"))
            consumers[stream_in].append(Consumer(f"{blk}.conv3"))
        producers[f"stage{stage}"].append(Producer(f"{blk}.conv3", f"{blk}.bn3"))
    consumers[f"stage{len(STAGES)}"].append(Consumer("conv2"))
    producers["head"].append(Producer("conv2", "bn2"))
    consumers["head"].append(Consumer("fc"))
    return [ChannelGroup(g, widths[g], tuple(producers[g]), tuple(consumers[g])) for g in widths]
