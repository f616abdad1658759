"""The PyTorch side of the zoo: a model built from its :class:`~cgap.models.graph.ZooGraph`.

One ``nn`` module per parameterised node of the graph, at the node's dotted path (``layer1.0.conv1``;
``layer1`` and ``layer1.0`` are :class:`Scope` containers), and a ``forward`` that walks the graph's nodes:
the ops of ``layer1.0`` run inside ``layer1.0``'s ``forward``, so the ONNX export names them as the graph does.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from cgap.models.base import ChannelGroup
from cgap.models.graph import ZooGraph
from cgap_ir import INPUT, Node, ops
from cgap_ir.errors import CgapError

Env = dict[str, torch.Tensor]

FUNCTIONAL = {
    "ReLU": lambda op, x: torch.relu(x),
    "Clip": lambda op, x: F.relu6(x) if (op.lo, op.hi) == (0.0, 6.0) else torch.clamp(x, op.lo, op.hi),
    "Flatten": lambda op, x: torch.flatten(x, 1),
    "GlobalAvgPool": lambda op, x: F.adaptive_avg_pool2d(x, 1),
    "Add": lambda op, a, b: a + b,
    "Concat": lambda op, *xs: torch.cat(xs, 1),
}
"""Ops a module's ``forward`` applies itself (their IR kind → the torch call, given the op and its inputs)."""


def torch_module(op: ops.Op) -> nn.Module:
    """Return a freshly initialised ``nn`` module computing ``op``; raise CgapError for a kind it cannot build."""
    if isinstance(op, ops.Conv2d):
        top, left, bottom, right = op.pads
        if (top, left) != (bottom, right):
            raise CgapError(f"zoo conv with asymmetric pads {op.pads} has no nn.Conv2d equivalent")
        return nn.Conv2d(op.in_channels, op.out_channels, op.kernel, stride=op.stride, padding=(top, left),
                         groups=op.groups, bias=op.has_bias)
    if isinstance(op, ops.BatchNorm):
        return nn.BatchNorm2d(op.channels, eps=op.eps)
    if isinstance(op, ops.Linear):
        return nn.Linear(op.in_features, op.out_features, bias=op.has_bias)
    if isinstance(op, ops.MaxPool) and not any(op.pads):
        return nn.MaxPool2d(op.kernel, op.stride, ceil_mode=op.ceil_mode)
    raise CgapError(f"zoo graph: no torch module for {op}")


class Scope(nn.Module):
    """A container whose ``forward`` runs its share of the graph: its own nodes, and its child scopes' in turn.

    ``steps`` holds, in forward order, a :class:`~cgap_ir.Node` to run here or the name of a child
    :class:`Scope` to call; every call reads and extends one dict of named tensors.
    """

    def __init__(self) -> None:
        super().__init__()
        self.steps: list[Node | str] = []
        self.runs_by_module: dict[str, str] = {}  # node name -> child module (leaf name) that computes it

    def forward(self, env: Env) -> Env:
        """Return ``env`` with the outputs of this scope's nodes added."""
        return self.run(env)

    def run(self, env: Env) -> Env:
        """Return ``env`` with the outputs of this scope's nodes added (child scopes called as modules)."""
        for step in self.steps:
            if isinstance(step, str):
                env = getattr(self, step)(env)
                continue
            args = [env[src] for src in step.inputs]
            module = self.runs_by_module.get(step.name)
            env[step.name] = getattr(self, module)(*args) if module else FUNCTIONAL[step.op.kind](step.op, *args)
        return env


class ZooModel(Scope):
    """A zoo model: remembers how it was built (so a checkpoint can rebuild it) and runs its graph.

    ``arch``, ``input_shape``, ``num_classes`` and ``widths`` (group name → width) are the construction
    record; ``zoo_graph`` is the description it was built from.
    """

    def __init__(self, arch: str, input_shape: tuple[int, int, int], num_classes: int, widths: dict[str, int],
                 zoo: ZooGraph) -> None:
        super().__init__()
        self.arch, self.input_shape, self.num_classes = arch, tuple(input_shape), num_classes
        self.widths = dict(widths)
        self.zoo_graph = zoo
        _populate(self, zoo)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # type: ignore[override] - the model takes images
        """Return the logits for a batch ``x`` of shape (N, *input_shape)."""
        return self.run({INPUT: x})[self.zoo_graph.net.output]

    def channel_groups(self) -> list[ChannelGroup]:
        """Return the model's coupled channel groups, in forward order."""
        from cgap.models import get_arch

        return get_arch(self.arch).channel_groups(self.zoo_graph, self.widths)

    def describe(self) -> dict:
        """Return the plain construction record: ``{"arch", "input_shape", "num_classes", "widths"}``."""
        return {"arch": self.arch, "input_shape": list(self.input_shape), "num_classes": self.num_classes,
                "widths": dict(self.widths)}

    def count_params(self) -> int:
        """Return the number of trainable parameters."""
        return sum(p.numel() for p in self.parameters() if p.requires_grad)


def _populate(root: Scope, zoo: ZooGraph) -> None:
    """Create ``root``'s modules and child scopes from ``zoo`` and give every scope its steps, in forward order."""
    for node in zoo.net.nodes:
        scope = _scope_module(root, zoo.scope(node.name))
        path = zoo.modules.get(node.name)
        if path is not None:
            leaf = path.rpartition(".")[2]
            if leaf not in scope._modules:  # a module run twice (VGG's one pool) is made once
                scope.add_module(leaf, torch_module(node.op))
            scope.runs_by_module[node.name] = leaf
        scope.steps.append(node)


def _scope_module(root: Scope, path: str) -> Scope:
    """Return the Scope at dotted ``path`` under ``root``, creating it (and registering its call) if new."""
    scope = root
    for part in path.split(".") if path else []:
        child = scope._modules.get(part)
        if child is None:
            child = Scope()
            scope.add_module(part, child)
        if not scope.steps or scope.steps[-1] != part:
            scope.steps.append(part)
        scope = child  # type: ignore[assignment]
    return scope
