"""A small CIFAR-style SqueezeNet (Iandola et al. 2016) with BatchNorm, described without torch.

Stem conv3×3-BN-ReLU → fire modules (squeeze 1×1-BN-ReLU, then expand 1×1-BN-ReLU and expand 3×3-BN-ReLU
side by side, their outputs concatenated along channels), 2×2 max-pools between some of them (only while the
map is at least 2×2) → global average pool → linear.

Fire module ``k`` (from 0) is the torch module ``fires.{k}`` (ONNX import names the ops of a numbered
container ``fires.0.relu``, ``fires.0.concat``); the pool is ``fires.pool``, so the ``fires`` container runs
in one go.  Groups: ``stem``, and per fire module ``fire{k}_squeeze``, ``fire{k}_expand1`` and
``fire{k}_expand3``.  The next layer reads the Concat, so it consumes both expand groups: ``expand1`` at input
channel 0 and ``expand3`` at input channel offset ``width(expand1)``.
"""

from __future__ import annotations

from cgap.models.base import ChannelGroup, Consumer, Producer, check_widths
from cgap.models.graph import GraphBuilder, ZooGraph, max_pool_2x2
from cgap_ir import INPUT, ops

ARCH = "squeezenet"
STEM_WIDTH = 64
POOL = "M"
FIRES: tuple[tuple[int, int, int] | str, ...] = (
    (16, 64, 64), (16, 64, 64), POOL, (32, 128, 128), (32, 128, 128), POOL, (48, 192, 192), (64, 256, 256))
"""Fire modules as (squeeze, expand 1×1, expand 3×3) widths, and the pools between them."""


def _fires() -> list[tuple[int, int, int]]:
    return [f for f in FIRES if f != POOL]  # type: ignore[misc]


def default_widths() -> dict[str, int]:
    """Return stem 64 and every fire module's squeeze/expand widths (16/64/64 up to 64/256/256)."""
    widths = {"stem": STEM_WIDTH}
    for k, (squeeze, e1, e3) in enumerate(_fires()):
        widths |= {f"fire{k}_squeeze": squeeze, f"fire{k}_expand1": e1, f"fire{k}_expand3": e3}
    return widths


def graph(input_shape: tuple[int, int, int], num_classes: int, widths: dict[str, int]) -> ZooGraph:
    """Return stem conv-BN-ReLU, the fire modules and pools, global average pool, linear."""
    w = check_widths(ARCH, widths, list(default_widths()))
    g = GraphBuilder(ARCH, input_shape)
    x = g.relu("", g.bn("bn1", g.conv("conv1", INPUT, w["stem"], 3)))
    k = 0
    for item in FIRES:
        if item == POOL:
            if min(g.shape(x)[1:]) >= 2:
                x = g.module("fires.pool", max_pool_2x2(), x)  # in the container: its scope runs in one go
            continue
        x = _fire(g, f"fires.{k}", x, w[f"fire{k}_squeeze"], w[f"fire{k}_expand1"], w[f"fire{k}_expand3"])
        k += 1
    x = g.func("", ops.Flatten(), g.func("", ops.GlobalAvgPool(), x))
    return g.graph(g.linear("fc", x, num_classes), w)


def _fire(g: GraphBuilder, fire: str, x: str, squeeze: int, e1: int, e3: int) -> str:
    """Add squeeze 1×1-BN-ReLU → (expand 1×1-BN-ReLU ‖ expand 3×3-BN-ReLU) → channel Concat; return the Concat."""
    s = g.relu(fire, g.bn(f"{fire}.squeeze_bn", g.conv(f"{fire}.squeeze", x, squeeze, 1)))
    a = g.relu(fire, g.bn(f"{fire}.expand1_bn", g.conv(f"{fire}.expand1", s, e1, 1)))
    b = g.relu(fire, g.bn(f"{fire}.expand3_bn", g.conv(f"{fire}.expand3", s, e3, 3)))
    return g.func(fire, ops.Concat(), a, b)


def channel_groups(zoo: ZooGraph, widths: dict[str, int]) -> list[ChannelGroup]:
    """Return stem, then per fire its squeeze group and its two expand groups (read at offsets 0 and e1)."""
    n = len(_fires())
    groups = [ChannelGroup("stem", widths["stem"], (Producer("conv1", "bn1"),), (Consumer("fires.0.squeeze"),))]
    for k in range(n):
        fire, group, e1 = f"fires.{k}", f"fire{k}", widths[f"fire{k}_expand1"]
        reader = f"fires.{k + 1}.squeeze" if k + 1 < n else "fc"
        groups += [
            ChannelGroup(f"{group}_squeeze", widths[f"{group}_squeeze"],
                         (Producer(f"{fire}.squeeze", f"{fire}.squeeze_bn"),),
                         (Consumer(f"{fire}.expand1"), Consumer(f"{fire}.expand3"))),
            ChannelGroup(f"{group}_expand1", e1, (Producer(f"{fire}.expand1", f"{fire}.expand1_bn"),),
                         (Consumer(reader),)),
            ChannelGroup(f"{group}_expand3", widths[f"{group}_expand3"],
                         (Producer(f"{fire}.expand3", f"{fire}.expand3_bn"),), (Consumer(reader, offset=e1),)),
        ]
    return groups
