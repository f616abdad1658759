"""Physical structural change of a zoo model by unit index maps (growth, split, pruning).

A :class:`UnitMap` says, for one coupled group, which old unit each new unit comes from
(``-1`` = a freshly initialised unit).  :func:`remap_model` builds the zoo model at the new widths and
copies/slices/duplicates every tensor along its group's axis: producer rows (conv filters, depthwise
filters, linear rows, biases, BN affine and running stats) and consumer columns (conv input channels, linear
input features, ``repeat`` features per channel after a flatten; each part of a Concat by its own group).  When several new units share a source
(a Net2Net split), the consumer columns of the copies are scaled so they sum to the original column;
``noise`` perturbs the shares per element with zero-sum noise, so the function is preserved exactly
while the copies' symmetry is broken.  Optimizer state is carried for kept units and zeroed for new ones.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from cgap.models import ZooModel, build
from cgap_ir.errors import CgapError


@dataclass(frozen=True)
class UnitMap:
    """New units of one group: ``src[j]`` is the old unit new unit ``j`` copies, or -1 for a fresh unit."""

    src: torch.Tensor

    @property
    def width(self) -> int:
        """Return the new width."""
        return int(self.src.numel())

    def copies(self) -> torch.Tensor:
        """Return, per new unit, how many new units share its source (1 for fresh units), as float."""
        src = self.src.clamp(min=0)
        counts = torch.zeros(int(src.max()) + 1 if src.numel() else 1).index_add_(0, src, torch.ones(len(src)))
        return torch.where(self.src >= 0, counts[src], torch.ones(len(src)))

    def is_new(self) -> torch.Tensor:
        """Return a bool mask of new units: fresh ones and every copy after a source's first occurrence."""
        seen: set[int] = set()
        new = []
        for s in self.src.tolist():
            new.append(s < 0 or s in seen)
            seen.add(s)
        return torch.tensor(new, dtype=torch.bool)


def keep_map(indices: list[int] | torch.Tensor) -> UnitMap:
    """Return the map that keeps the given old units (sorted), i.e. prunes the others."""
    idx = torch.as_tensor(indices, dtype=torch.long)
    return UnitMap(torch.sort(idx).values)


@dataclass(frozen=True)
class TensorSpec:
    """Which group a state tensor's dim 0 (``out``) belongs to, and which groups its dim 1 (``inp``) reads.

    ``inp`` lists the groups whose channels make up the input, in input order: one group for an ordinary
    consumer, several when the layer reads a channel Concat.  A weight's dim 1 is read as (channels, rest):
    ``repeat`` features per channel after a flatten, or the kernel window of a conv.
    """

    out: str | None = None
    inp: tuple[str, ...] = ()


def tensor_specs(model: ZooModel) -> dict[str, TensorSpec]:
    """Return, for every state-dict key touched by a coupled group, how it maps to groups."""
    out_of: dict[str, str] = {}
    parts_of: dict[str, list[tuple[int, str]]] = {}  # consumer layer -> (offset, group) per part
    for g in model.channel_groups():
        for p in g.producers:
            out_of[p.layer] = g.name
            if p.bn:
                out_of[p.bn] = g.name
        for c in g.consumers:
            parts_of.setdefault(c.layer, []).append((c.offset, g.name))
    specs: dict[str, TensorSpec] = {}
    for key in model.state_dict():
        layer, _, leaf = key.rpartition(".")
        if leaf == "num_batches_tracked":
            continue
        out = out_of.get(layer)
        inp = tuple(g for _, g in sorted(parts_of.get(layer, []))) if leaf == "weight" else ()
        if inp and model.get_submodule(layer).weight.dim() < 2:
            inp = ()
        if out or inp:
            specs[key] = TensorSpec(out, inp)
    return specs


def _gather_out(t: torch.Tensor, m: UnitMap, keep: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    rows = t.index_select(0, m.src.clamp(min=0))
    mask = keep.view(-1, *([1] * (t.dim() - 1))).expand_as(rows)
    return rows, mask


def _split_factor(shape: tuple[int, int, int], m: UnitMap, old_width: int, noise: float,
                  gen: torch.Generator | None) -> torch.Tensor:
    """Return per-element shares (o, new, e) for consumer columns: copies of one source sum to exactly 1."""
    copies = m.copies().view(1, -1, 1)
    if noise == 0.0 or gen is None:
        return (1.0 / copies).expand(shape)
    r = torch.randn(shape, generator=gen)
    src = m.src.clamp(min=0)
    sums = torch.zeros(shape[0], old_width, shape[2]).index_add_(1, src, r)
    r = r - sums.index_select(1, src) / copies
    return (1.0 + noise * r) / copies


def _remap_part(t3: torch.Tensor, rows: torch.Tensor, m: UnitMap | None, old_width: int, noise: float,
                gen: torch.Generator | None, state: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """Return one input group's columns ``t3`` (o, old width, e) carried by ``m`` and their carried-mask.

    ``rows`` (o,) says which output rows are carried; a group without a map keeps its columns.
    """
    o, _, e = t3.shape
    if m is None:
        return t3, rows.view(o, 1, 1).expand(o, old_width, e)
    t3 = t3.index_select(1, m.src.clamp(min=0))
    keep = ~m.is_new() if state else m.src >= 0
    mask = rows.view(o, 1, 1) & keep.view(1, -1, 1)
    if not state:
        t3 = t3 * _split_factor(tuple(t3.shape), m, old_width, noise, gen)
    return t3, mask.expand(o, m.width, e)


def remap_tensor(old: torch.Tensor, base: torch.Tensor, spec: TensorSpec, maps: dict[str, UnitMap],
                 old_widths: dict[str, int], noise: float = 0.0, gen: torch.Generator | None = None,
                 state: bool = False) -> torch.Tensor:
    """Return ``old`` carried to the new widths; positions not carried keep ``base``.

    Weights (``state=False``) carry every unit with a source and split consumer shares; optimizer
    state (``state=True``) carries only kept units, unscaled, and gives new units ``base`` (zeros).
    """
    t, mask = old, torch.ones_like(old, dtype=torch.bool)
    om = maps.get(spec.out) if spec.out else None
    if om is not None:
        keep = ~om.is_new() if state else om.src >= 0
        t, mask = _gather_out(t, om, keep)
    if any(g in maps for g in spec.inp):
        o, widths = t.shape[0], [old_widths[g] for g in spec.inp]
        if t[0].numel() % sum(widths):
            raise CgapError(f"a consumer's {t[0].numel()} input features are not a multiple of its groups' "
                            f"{sum(widths)} channels ({', '.join(spec.inp)})")
        t3 = t.reshape(o, sum(widths), -1)
        rows = mask.reshape(o, -1)[:, 0]
        parts = [_remap_part(chunk, rows, maps.get(g), w, noise, gen, state)
                 for g, w, chunk in zip(spec.inp, widths, t3.split(widths, dim=1), strict=True)]
        t = torch.cat([p for p, _ in parts], dim=1)
        mask = torch.cat([m for _, m in parts], dim=1)
    return torch.where(mask.reshape(base.shape), t.reshape(base.shape), base)


def remap_model(model: ZooModel, maps: dict[str, UnitMap], noise: float = 0.0, seed: int = 0) -> ZooModel:
    """Return a new zoo model at the mapped widths with ``model``'s tensors carried over (same mode).

    Fresh units take the initialisation of a zoo model built under ``torch.manual_seed(seed)``.
    """
    widths = {**model.widths, **{g: m.width for g, m in maps.items()}}
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        new = build(model.arch, model.input_shape, model.num_classes, widths=widths)
    gen = torch.Generator().manual_seed(seed + 1)
    specs = tensor_specs(model)
    old_state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    state = new.state_dict()
    with torch.no_grad():
        for key, base in state.items():
            spec = specs.get(key)
            state[key] = old_state[key].clone() if spec is None else remap_tensor(
                old_state[key], base, spec, maps, model.widths, noise, gen)
    new.load_state_dict(state)
    return new.train(model.training)


def remap_optimizer(old_model: ZooModel, old_opt: torch.optim.Optimizer, new_model: ZooModel,
                    new_opt: torch.optim.Optimizer, maps: dict[str, UnitMap]) -> None:
    """Fill ``new_opt``'s state from ``old_opt``: per-unit tensors carried for kept units, zero for new ones."""
    specs = tensor_specs(old_model)
    new_params = dict(new_model.named_parameters())
    for name, p in old_model.named_parameters():
        st = old_opt.state.get(p)
        if not st:
            continue
        q = new_params[name]
        carried = {}
        for k, v in st.items():
            if isinstance(v, torch.Tensor) and v.shape == p.shape and name in specs:
                v = remap_tensor(v.detach().cpu(), torch.zeros(q.shape), specs[name], maps, old_model.widths,
                                 state=True)
                v = torch.empty_like(q.detach()).copy_(v)  # q's device and memory layout
            elif isinstance(v, torch.Tensor):
                v = v.clone()
            carried[k] = v
        new_opt.state[q] = carried
