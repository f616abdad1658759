"""Growth plans: each group gains ⌈rate·width⌉ units (up to its cap) beside its most salient units."""

from __future__ import annotations

import math

import torch

from cgap.train.surgery import UnitMap

MODES = ("split", "random")


def grow_count(width: int, rate: float, cap: int) -> int:
    """Return how many units a group of ``width`` gains at ``rate`` without passing ``cap``."""
    return max(0, min(math.ceil(rate * width), cap - width))


def grow_maps(widths: dict[str, int], scores: dict[str, torch.Tensor], rate: float, caps: dict[str, int],
              mode: str) -> dict[str, UnitMap]:
    """Return {group: map} for every group that grows.

    Existing units keep their positions; new units are appended.  ``split``: new unit ``k`` copies the
    ``k``-th most salient unit (wrapping when more units are added than exist), to be split with it
    (function preserving).  ``random``: new units are fresh (``-1``).
    """
    maps = {}
    for g, w in widths.items():
        add = grow_count(w, rate, caps[g])
        if add == 0:
            continue
        if mode == "split":
            order = torch.argsort(scores[g], descending=True, stable=True)
            new = order.repeat(math.ceil(add / w))[:add]
        else:
            new = torch.full((add,), -1, dtype=torch.long)
        maps[g] = UnitMap(torch.cat([torch.arange(w), new]))
    return maps
