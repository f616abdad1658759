"""Cross-check of the zoo's coupled channel groups against Torch-Pruning's DependencyGraph.

The structural change itself is done by index maps over ``ZooModel.channel_groups()`` (see
``surgery``), because the result must be an ordinary zoo model rebuilt from its width map.  Torch-
Pruning traces the real forward graph independently; this module asserts that the two agree on every
group (members, direction, the flatten→linear ``repeat`` and the input offset of a Concat's parts), so a zoo bug cannot silently mis-couple.
"""

from __future__ import annotations

import torch
import torch_pruning as tp
from torch import nn

from cgap.models import ZooModel
from cgap_ir.errors import CgapError

Member = tuple[str, str, int, int]  # (layer, "out"|"in", features per channel, first input channel)


def zoo_members(model: ZooModel) -> dict[str, set[Member]]:
    """Return {group: {(layer, direction, repeat, offset)}} from the zoo's own description."""
    out = {}
    for g in model.channel_groups():
        mem = {(p.layer, "out", 1, 0) for p in g.producers} | {(p.bn, "out", 1, 0) for p in g.producers if p.bn}
        mem |= {(c.layer, "in", c.repeat, c.offset) for c in g.consumers}
        out[g.name] = mem
    return out


def _traced(dg: tp.DependencyGraph, model: ZooModel, layer: str) -> set[Member]:
    """Return the members of the Torch-Pruning group that removing output channel 0 of ``layer`` touches."""
    root = model.get_submodule(layer)
    fn = tp.prune_conv_out_channels if isinstance(root, nn.Conv2d) else tp.prune_linear_out_channels
    mem = set()
    for dep, idxs in dg.get_pruning_group(root, fn, idxs=[0]):
        if not isinstance(dep.target.module, (nn.Conv2d, nn.Linear, nn.BatchNorm2d)):
            continue
        direction = "out" if dg.is_out_channel_pruning_fn(dep.handler) else "in"
        mem.add((dep.target.name.split(" ")[0], direction, len(idxs), min(idxs) // len(idxs)))
    return mem


def _one_channel_depthwise(model: ZooModel, layer: str) -> bool:
    """Return whether ``layer`` is a depthwise conv of one channel (to Torch-Pruning an ordinary 1→1 conv)."""
    module = model.get_submodule(layer)
    return isinstance(module, nn.Conv2d) and module.in_channels == module.out_channels == module.groups == 1


def tp_members(model: ZooModel) -> dict[str, set[Member]]:
    """Return the same sets as found by Torch-Pruning's DependencyGraph (rooted at each group's first producer).

    A depthwise conv couples its output channels to its input channels; at one channel Torch-Pruning sees
    an ordinary conv and stops at its input, so the trace continues from that conv's output there.
    """
    was_training = model.training
    model = model.eval()
    p = next(model.parameters())
    dg = tp.DependencyGraph().build_dependency(model, example_inputs=torch.zeros(1, *model.input_shape,
                                                                                device=p.device))
    out = {}
    for g in model.channel_groups():
        mem = _traced(dg, model, g.producers[0].layer)
        through = [m for m in mem if m[1] == "in" and _one_channel_depthwise(model, m[0])]
        while through:
            layer = through.pop()[0]
            mem.discard((layer, "in", 1, 0))
            more = _traced(dg, model, layer)
            through += [m for m in more - mem if m[1] == "in" and _one_channel_depthwise(model, m[0])]
            mem |= more
        out[g.name] = mem
    model.train(was_training)
    return out


def check_coupling(model: ZooModel) -> None:
    """Raise CgapError when the zoo's groups and Torch-Pruning's dependency graph disagree."""
    ours, theirs = zoo_members(model), tp_members(model)
    for g in ours:
        if ours[g] != theirs[g]:
            only_zoo = sorted(ours[g] - theirs[g])[:3]
            only_tp = sorted(theirs[g] - ours[g])[:3]
            raise CgapError(f"{model.arch}: coupled group {g!r} disagrees with Torch-Pruning's dependency graph "
                            f"(zoo only {only_zoo}, graph only {only_tp})")
