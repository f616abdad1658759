"""What every zoo model shares, without torch: its coupled channel groups and the width-map check.

A *group* is a set of channels that must keep the same width: a conv's filters (with its
BN channels), every conv/linear that reads them, and, in ResNets and MobileNetV2, every tensor joined to
them by a residual add.  A depthwise conv is a *producer* of the group it reads (its filter ``c`` reads
and writes channel ``c``); a layer reading a channel Concat consumes several groups at channel offsets.  Growing or pruning a unit of a group touches every member.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from cgap_ir.errors import CgapError


@dataclass(frozen=True)
class Producer:
    """A layer whose output channels (``out_channels``/``out_features``) belong to a group."""

    layer: str
    bn: str | None = None


@dataclass(frozen=True)
class Consumer:
    """A layer whose input channels belong to a group.

    ``repeat`` > 1 for a Linear after Flatten: group channel ``c`` owns input features
    ``c*repeat .. (c+1)*repeat - 1``.  ``offset`` > 0 when the layer reads a channel Concat and the
    group is not its first part: group channel ``c`` is then input channel ``offset + c`` (features
    ``(offset + c)*repeat ..``).  The groups feeding one layer tile its input channels.
    """

    layer: str
    repeat: int = 1
    offset: int = 0


@dataclass(frozen=True)
class ChannelGroup:
    """One coupled group: its name, current width, the layers producing it and those reading it."""

    name: str
    width: int
    producers: tuple[Producer, ...]
    consumers: tuple[Consumer, ...] = field(default=())


def check_widths(arch: str, widths: dict[str, int], expected: list[str]) -> dict[str, int]:
    """Return ``widths`` restricted to ``expected`` groups, raising CgapError on a missing/extra/bad entry."""
    missing = [g for g in expected if g not in widths]
    extra = [g for g in widths if g not in expected]
    if missing or extra:
        raise CgapError(f"{arch}: width map mismatch (missing {missing}, unknown {extra}); groups are {expected}")
    for g in expected:
        w = widths[g]
        if not isinstance(w, int) or isinstance(w, bool) or w < 1:
            raise CgapError(f"{arch}: width of group {g!r} must be a positive integer, got {w!r}")
    return {g: widths[g] for g in expected}
