"""Per-unit saliency of every coupled group, accumulated over a window of training steps.

- ``taylor`` (default): first-order Taylor estimate of the loss change when a unit is removed,
  ``|Σ w·∂L/∂w|`` over the unit's producer parameters (filter, bias, BN γ and β) in every producer of
  its group (residual streams have several), averaged over the window (Molchanov et al. 2019).
- ``grad``: ``Σ |∂L/∂w|`` over the same parameters, averaged over the window.
- ``l1``: ``Σ |w|`` of the producer filters at decision time (Li et al. 2017); needs no window.
"""

from __future__ import annotations

import torch
from torch import nn

from cgap.models import ZooModel

METHODS = ("taylor", "grad", "l1")


def _unit_params(model: ZooModel, group) -> list[torch.Tensor | nn.Parameter]:
    """Return the producer parameters of ``group`` (dim 0 indexes its units)."""
    params = []
    for p in group.producers:
        for name in (p.layer, p.bn):
            if name:
                mod = model.get_submodule(name)
                params += [t for t in (mod.weight, getattr(mod, "bias", None)) if t is not None]
    return params


def _per_unit(t: torch.Tensor) -> torch.Tensor:
    return t.reshape(t.shape[0], -1).sum(dim=1)


def l1_saliency(model: ZooModel) -> dict[str, torch.Tensor]:
    """Return {group: Σ|w| of its producer weight rows} (Li et al.'s filter L1 norm, summed over producers)."""
    out = {}
    with torch.no_grad():
        for g in model.channel_groups():
            rows = [_per_unit(model.get_submodule(p.layer).weight.abs()) for p in g.producers]
            out[g.name] = torch.stack(rows).sum(0).float().cpu()
    return out


class SaliencyMeter:
    """Accumulates per-unit saliency after backward passes; :meth:`scores` returns the window mean."""

    def __init__(self, method: str) -> None:
        self.method = method
        self.sums: dict[str, torch.Tensor] = {}
        self.count = 0
        self._params: tuple[int, dict[str, list]] | None = None  # (id(model), group -> producer params)

    def reset(self) -> None:
        """Forget everything accumulated (call after any structural change)."""
        self.sums, self.count, self._params = {}, 0, None

    def _group_params(self, model: ZooModel) -> dict[str, list]:
        if self._params is None or self._params[0] != id(model):
            self._params = (id(model), {g.name: _unit_params(model, g) for g in model.channel_groups()})
        return self._params[1]

    def update(self, model: ZooModel) -> None:
        """Add this step's per-unit values (call after ``backward``, before the optimizer step)."""
        if self.method == "l1":
            return
        with torch.no_grad():
            for name, params in self._group_params(model).items():
                total = None
                for t in params:
                    if t.grad is None:
                        continue
                    v = _per_unit(t * t.grad) if self.method == "taylor" else _per_unit(t.grad.abs())
                    total = v if total is None else total + v
                if total is None:
                    continue
                val = total.abs().float() if self.method == "taylor" else total.float()
                self.sums[name] = self.sums.get(name, 0) + val
        self.count += 1

    def scores(self, model: ZooModel) -> dict[str, torch.Tensor]:
        """Return {group: per-unit saliency (CPU float)}; l1 is computed now, the others are window means."""
        if self.method == "l1":
            return l1_saliency(model)
        if self.count == 0:
            raise RuntimeError("no saliency accumulated: the window saw no training step")
        return {g: (s / self.count).cpu() for g, s in self.sums.items()}
