"""What every zoo model shares: its construction record and its coupled channel groups.

A *group* is a set of channels that must keep the same width: a conv's filters (with its
BN channels), every conv/linear that reads them, and, in ResNets, every tensor joined to
them by a residual add.  Growing or pruning a unit of a group touches every member.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

from cgap.errors import CgapError


@dataclass(frozen=True)
class Producer:
    """A layer whose output channels (``out_channels``/``out_features``) belong to a group."""

    layer: str
    bn: str | None = None


@dataclass(frozen=True)
class Consumer:
    """A layer whose input channels belong to a group.

    ``repeat`` > 1 for a Linear after Flatten: group channel ``c`` owns input features
    ``c*repeat .. (c+1)*repeat - 1``.
    """

    layer: str
    repeat: int = 1


@dataclass(frozen=True)
class ChannelGroup:
    """One coupled group: its name, current width, the layers producing it and those reading it."""

    name: str
    width: int
    producers: tuple[Producer, ...]
    consumers: tuple[Consumer, ...] = field(default=())


class ZooModel(nn.Module):
    """Base of every zoo model: remembers how it was built so a checkpoint can rebuild it.

    Subclasses set ``arch``, ``input_shape``, ``num_classes`` and ``widths`` (group name → width)
    and implement :meth:`channel_groups`.
    """

    arch: str
    input_shape: tuple[int, int, int]
    num_classes: int
    widths: dict[str, int]

    def channel_groups(self) -> list[ChannelGroup]:
        """Return the model's coupled channel groups, in forward order."""
        raise NotImplementedError

    def describe(self) -> dict:
        """Return the plain construction record: ``{"arch", "input_shape", "num_classes", "widths"}``."""
        return {
            "arch": self.arch,
            "input_shape": list(self.input_shape),
            "num_classes": self.num_classes,
            "widths": dict(self.widths),
        }

    def count_params(self) -> int:
        """Return the number of trainable parameters."""
        return sum(p.numel() for p in self.parameters() if p.requires_grad)


def conv_bn(cin: int, cout: int, kernel: int = 3, stride: int = 1) -> tuple[nn.Conv2d, nn.BatchNorm2d]:
    """Return a bias-free conv (same padding) and its BatchNorm."""
    conv = nn.Conv2d(cin, cout, kernel, stride=stride, padding=kernel // 2, bias=False)
    return conv, nn.BatchNorm2d(cout)


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


def spatial_after(size: int, pools: int) -> int:
    """Return a spatial size after ``pools`` 2×2 max-pools (floor)."""
    for _ in range(pools):
        size //= 2
    return size


def dummy_input(model: ZooModel, batch: int = 1) -> torch.Tensor:
    """Return a random batch shaped for ``model``."""
    return torch.randn(batch, *model.input_shape)
