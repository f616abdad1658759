"""Model size and cost: parameters and forward multiply-accumulates, computed from the width map alone."""

from __future__ import annotations

from functools import lru_cache

import torch
from torch import nn

from cgap.models import ZooModel, build

# Training cost per sample ≈ forward + backward; the backward pass computes the gradient w.r.t. both the
# activations and the weights, each about one forward's MACs, hence 3× the forward MACs (Kaplan et al. 2020's
# 6N FLOPs/token rule; BN, ReLU and pooling are not counted, as in the forward figure).
TRAIN_MACS_FACTOR = 3


def forward_macs(model: nn.Module, input_shape: tuple[int, int, int]) -> int:
    """Return the multiply-accumulates of one forward pass on one sample (conv and linear layers only)."""
    total = [0]

    def hook(mod: nn.Module, _inp: tuple, out: torch.Tensor) -> None:
        if isinstance(mod, nn.Conv2d):
            k = mod.kernel_size[0] * mod.kernel_size[1] * (mod.in_channels // mod.groups)
            total[0] += int(out[0].numel()) * k
        else:
            total[0] += mod.in_features * mod.out_features

    handles = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    try:
        with torch.no_grad():
            p = next(model.parameters())
            model(torch.zeros(1, *input_shape, device=p.device, dtype=p.dtype))
    finally:
        for h in handles:
            h.remove()
    return total[0]


@lru_cache(maxsize=4096)
def _cost(arch: str, shape: tuple[int, int, int], classes: int, widths: tuple[tuple[str, int], ...]) -> tuple[int, int]:
    with torch.device("meta"):
        model = build(arch, shape, classes, widths=dict(widths)).eval()
    return sum(p.numel() for p in model.parameters()), forward_macs(model, shape)


def cost_of(arch: str, shape: tuple[int, int, int], classes: int, widths: dict[str, int]) -> tuple[int, int]:
    """Return (params, forward MACs per sample) of ``arch`` at ``widths`` (built on the meta device, cached)."""
    return _cost(arch, tuple(shape), classes, tuple(sorted(widths.items())))


def model_cost(model: ZooModel) -> tuple[int, int]:
    """Return (params, forward MACs per sample) of a zoo model."""
    return cost_of(model.arch, model.input_shape, model.num_classes, model.widths)


def unit_costs(arch: str, shape: tuple[int, int, int], classes: int, widths: dict[str, int],
               kind: str) -> dict[str, float]:
    """Return {group: params or MACs saved by removing one of its units} at ``widths`` (``kind``: params|macs)."""
    pick = 0 if kind == "params" else 1
    base = cost_of(arch, shape, classes, widths)[pick]
    out = {}
    for g, w in widths.items():
        out[g] = float(base - cost_of(arch, shape, classes, {**widths, g: w - 1})[pick]) if w > 1 else 0.0
    return out


def target_unit_costs(arch: str, shape: tuple[int, int, int], classes: int, widths: dict[str, int],
                      limits: tuple[float | None, float | None]) -> dict[str, float] | None:
    """Return {group: cost of one unit, weighted toward the pruning targets still unmet}, or None if all are met.

    ``limits`` = (params limit, MACs limit) in absolute counts (None = no such target).  A unit's cost is
    Σ over unmet targets of (how far above its limit the model is, relative) × (the share of that total one
    unit holds), so a model far above its MACs budget but near its params budget sheds MAC-heavy units
    first, and the other way round; both targets are approached together rather than one overshot.
    """
    current = dict(zip(("params", "macs"), cost_of(arch, shape, classes, widths), strict=True))
    costs: dict[str, float] = dict.fromkeys(widths, 0.0)
    unmet = False
    for kind, limit in zip(("params", "macs"), limits, strict=True):
        if limit is None or current[kind] <= limit:
            continue
        unmet = True
        weight = (current[kind] / limit - 1.0) / current[kind]
        for g, saved in unit_costs(arch, shape, classes, widths, kind).items():
            costs[g] += weight * saved
    return costs if unmet else None
