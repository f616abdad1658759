"""Growth plans: how many units each group gains, and beside which of its units they are created.

Allocation (``--grow-alloc``):

- ``uniform``: every group gains ⌈rate·width⌉ units (up to its cap);
- ``saliency``: the same total, ``N = Σ_g min(⌈rate·w_g⌉, cap_g − w_g)``, shared out in proportion to each
  group's *per-unit saliency share* ``a_g = mean_i s_{g,i} / Σ_h mean_i s_{h,i}`` (the window mean of the
  saliency of one unit of ``g``, normalised over the groups; largest remainders round it to whole units),
  never past a group's cap (what a full group cannot take goes to the others by the same shares);
- ``saliency-cost``: as ``saliency`` with ``a_g`` divided by the hardware cost of one unit of ``g`` (the
  simulated cycles one unit costs on the engine with ``--hw``), so cheap salient units are added first.
"""

from __future__ import annotations

import math

import torch

from cgap.train.surgery import UnitMap

MODES = ("split", "random")
ALLOCS = ("uniform", "saliency", "saliency-cost")


def grow_count(width: int, rate: float, cap: int) -> int:
    """Return how many units a group of ``width`` gains at ``rate`` without passing ``cap``."""
    return max(0, min(math.ceil(rate * width), cap - width))


def uniform_counts(widths: dict[str, int], rate: float, caps: dict[str, int]) -> dict[str, int]:
    """Return {group: units gained} of the uniform rule (⌈rate·width⌉ each, up to the caps)."""
    return {g: grow_count(w, rate, caps[g]) for g, w in widths.items()}


def saliency_shares(scores: dict[str, torch.Tensor], unit_cost: dict[str, float] | None = None) -> dict[str, float]:
    """Return {group: a_g}: mean per-unit saliency (divided by ``unit_cost`` when given), normalised to sum 1
    (equal shares when every group scores 0)."""
    raw = {}
    for g, s in scores.items():
        mean = float(s.double().mean()) if s.numel() else 0.0
        cost = 1.0 if unit_cost is None else max(unit_cost.get(g, 0.0), 1e-9)
        raw[g] = max(mean, 0.0) / cost
    total = sum(raw.values())
    return {g: (v / total if total > 0 else 1.0 / len(raw)) for g, v in raw.items()}


def allocate(total: int, shares: dict[str, float], room: dict[str, int]) -> dict[str, int]:
    """Return {group: units} summing to min(``total``, Σ room): ``total`` split by ``shares`` (largest
    remainders), no group above its ``room``; what a full group cannot take is re-shared among the others."""
    counts = dict.fromkeys(shares, 0)
    left = min(total, sum(max(0, r) for r in room.values()))
    while left > 0:
        open_ = {g: shares[g] for g in shares if counts[g] < room[g]}
        weight = sum(open_.values())
        if weight <= 0:
            open_ = dict.fromkeys(open_, 1.0)
            weight = float(len(open_))
        exact = {g: left * v / weight for g, v in open_.items()}
        give = {g: min(math.floor(x), room[g] - counts[g]) for g, x in exact.items()}
        rest = left - sum(give.values())
        for g in sorted(open_, key=lambda g: (-(exact[g] - math.floor(exact[g])), g)):
            if rest == 0:
                break
            if counts[g] + give[g] < room[g]:
                give[g] += 1
                rest -= 1
        for g, n in give.items():
            counts[g] += n
        given = sum(give.values())
        if given == 0:
            break
        left -= given
    return counts


def saliency_counts(widths: dict[str, int], scores: dict[str, torch.Tensor], rate: float, caps: dict[str, int],
                    unit_cost: dict[str, float] | None = None) -> dict[str, int]:
    """Return {group: units gained} of the saliency rule: the uniform rule's total shared by saliency."""
    total = sum(uniform_counts(widths, rate, caps).values())
    room = {g: max(0, caps[g] - w) for g, w in widths.items()}
    return allocate(total, saliency_shares(scores, unit_cost), room)


def grow_maps(widths: dict[str, int], scores: dict[str, torch.Tensor], rate: float, caps: dict[str, int],
              mode: str, counts: dict[str, int] | None = None) -> dict[str, UnitMap]:
    """Return {group: map} for every group that grows (``counts`` units each; default the uniform rule).

    Existing units keep their positions; new units are appended.  ``split``: new unit ``k`` copies the
    ``k``-th most salient unit (wrapping when more units are added than exist), to be split with it
    (function preserving).  ``random``: new units are fresh (``-1``).
    """
    counts = uniform_counts(widths, rate, caps) if counts is None else counts
    maps = {}
    for g, w in widths.items():
        add = counts.get(g, 0)
        if add == 0:
            continue
        if mode == "split":
            order = torch.argsort(scores[g], descending=True, stable=True)
            new = order.repeat(math.ceil(add / w))[:add]
        else:
            new = torch.full((add,), -1, dtype=torch.long)
        maps[g] = UnitMap(torch.cat([torch.arange(w), new]))
    return maps
