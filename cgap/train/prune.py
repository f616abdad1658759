"""Pruning plans: CGaP's continuous saliency pruning and Li et al.'s one-shot L1 filter pruning to a target."""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from cgap.train.surgery import UnitMap, keep_map

SCOPES = ("global", "layer")

# A cost check: widths -> True while the target is still not met.
NeedsMore = Callable[[dict[str, int]], bool]


def _drop_maps(widths: dict[str, int], drop: dict[str, list[int]]) -> dict[str, UnitMap]:
    """Return keep-maps for the groups that lose units."""
    return {g: keep_map([i for i in range(widths[g]) if i not in set(d)]) for g, d in drop.items() if d}


def ranked_units(scores: dict[str, torch.Tensor], widths: dict[str, int], min_width: dict[str, int],
                 scope: str, unit_cost: dict[str, float] | None = None) -> list[tuple[str, int]]:
    """Return removable (group, unit) pairs, least salient first.

    ``global``: each group's scores divided by their L2 norm (Molchanov et al.) and, when ``unit_cost``
    is given, by the group's cost of one unit relative to the mean (so costly units go first), then pooled;
    ``layer``: groups interleaved so every group loses the same fraction.  No group goes below its minimum.
    """
    cands: list[tuple[float, str, int]] = []
    mean_cost = sum(unit_cost.values()) / len(unit_cost) if unit_cost else 1.0
    for g, s in scores.items():
        s = s.double()
        rel = max(unit_cost[g], 1e-12) / mean_cost if unit_cost else 1.0
        norm = s / (s.norm() + 1e-12) / rel if scope == "global" else None
        order = torch.argsort(s, stable=True).tolist()
        room = widths[g] - min_width[g]
        for rank, i in enumerate(order[:max(0, room)]):
            key = float(norm[i]) if norm is not None else (rank + 1) / widths[g]
            cands.append((key, g, i))
    cands.sort(key=lambda c: (c[0], c[1], c[2]))
    return [(g, i) for _, g, i in cands]


def normalised_scores(scores: dict[str, torch.Tensor]) -> dict[str, list[float]]:
    """Return each group's per-unit scores divided by their L2 norm (Molchanov et al.), as plain floats."""
    out = {}
    for g, s in scores.items():
        s = s.double()
        out[g] = (s / (s.norm() + 1e-12)).tolist()
    return out


def prune_limit(widths: dict[str, int], rate: float) -> int:
    """Return how many units one pruning step may remove at most: ``rate`` of all units, rounded up."""
    return math.ceil(rate * sum(widths.values()))


def prune_maps(scores: dict[str, torch.Tensor], widths: dict[str, int], rate: float, min_width: dict[str, int],
               scope: str, needs_more: NeedsMore, unit_cost: dict[str, float] | None = None,
               ranked: list[tuple[str, int]] | None = None) -> dict[str, UnitMap]:
    """Return maps removing the least salient units: at most ``rate`` of all units, fewer if fewer suffice.

    The count is the smallest that makes ``needs_more`` false (binary search over the ranked list);
    ``ranked`` overrides the ranking (e.g. :func:`cgap.train.latency.latency_ranked_units`).
    """
    if ranked is None:
        ranked = ranked_units(scores, widths, min_width, scope, unit_cost)
    limit = min(len(ranked), prune_limit(widths, rate))

    def widths_after(n: int) -> dict[str, int]:
        out = dict(widths)
        for g, _ in ranked[:n]:
            out[g] -= 1
        return out

    lo, hi = 1, limit
    if limit == 0:
        return {}
    if needs_more(widths_after(limit)):
        lo = limit
    while lo < hi:
        mid = (lo + hi) // 2
        if needs_more(widths_after(mid)):
            lo = mid + 1
        else:
            hi = mid
    drop: dict[str, list[int]] = {}
    for g, i in ranked[:lo]:
        drop.setdefault(g, []).append(i)
    return _drop_maps(widths, drop)


def l1_target_maps(scores: dict[str, torch.Tensor], widths: dict[str, int], min_width: dict[str, int],
                   needs_more: NeedsMore) -> dict[str, UnitMap]:
    """Return Li et al.-style maps: every group keeps the same fraction of its highest-L1 units, the largest
    fraction (searched to 1/256) that meets the target, never below the minimum widths."""
    def keep_widths(frac: float) -> dict[str, int]:
        return {g: max(min_width[g], min(w, math.ceil(frac * w))) for g, w in widths.items()}

    lo, hi = 0.0, 1.0
    for _ in range(8):
        mid = (lo + hi) / 2
        if needs_more(keep_widths(mid)):
            hi = mid
        else:
            lo = mid
    target = keep_widths(lo)
    maps = {}
    for g, w in widths.items():
        if target[g] < w:
            top = torch.argsort(scores[g], descending=True, stable=True)[:target[g]]
            maps[g] = keep_map(top)
    return maps
