"""A zoo model as the torch-free IR, built from its :class:`~cgap.models.graph.ZooGraph` without PyTorch or ONNX.

The result equals what :func:`cgap_ir.from_onnx.from_onnx` gives for the exported PyTorch model of the
same arch, shape and widths: node names, node order, ops and shapes (``tests/test_zoo_ir.py`` checks
every arch at random widths).  Without ``weights`` the ops carry no arrays (enough for shapes, params,
MACs, the simulator and DSE); with a state dict's arrays they also execute on :mod:`cgap_ir.executor`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace

import numpy as np

from cgap.models import zoo_graph
from cgap.models.graph import ZooGraph
from cgap_ir import INPUT, Network, Node, ops
from cgap_ir.errors import CgapError

ARRAY_KEYS: dict[type[ops.Op], dict[str, str]] = {
    ops.Conv2d: {"weight": "weight", "bias": "bias"},
    ops.Linear: {"weight": "weight", "bias": "bias"},
    ops.BatchNorm: {"scale": "weight", "bias": "bias", "mean": "running_mean", "var": "running_var"},
}
"""IR array field → state-dict suffix, per op type with weights."""


def zoo_network(arch: str, input_shape: tuple[int, int, int], num_classes: int = 10,
                widths: dict[str, int] | None = None, width_mult: float = 1.0,
                weights: Mapping[str, np.ndarray] | None = None) -> Network:
    """Return the IR of zoo ``arch`` (arguments as :func:`cgap.models.zoo_graph`), named ``arch``.

    ``weights`` maps state-dict names (``layer1.0.conv1.weight``, ``bn1.running_mean``) to arrays.
    """
    return graph_network(zoo_graph(arch, input_shape, num_classes, widths, width_mult), weights)


def graph_network(zoo: ZooGraph, weights: Mapping[str, np.ndarray] | None = None) -> Network:
    """Return ``zoo`` as a Network in the ONNX importer's node order, with ``weights`` attached if given."""
    nodes = [_attach(node, zoo.modules.get(node.name), weights) for node in zoo.net.nodes] if weights is not None \
        else list(zoo.net.nodes)
    meta = {"source": "zoo", "arch": zoo.net.name, "widths": dict(zoo.widths)}
    return Network(zoo.net.name, zoo.net.input_shape, tuple(level_order(nodes)), zoo.net.output, meta)


def level_order(nodes: Sequence[Node]) -> list[Node]:
    """Return ``nodes`` in the order the ONNX importer emits them: in waves of every node whose inputs are ready,
    each wave in the given order (a block's shortcut conv lands beside its first conv)."""
    ready, pending, order = {INPUT}, list(nodes), []
    while pending:
        wave = [n for n in pending if all(src in ready for src in n.inputs)]
        if not wave:
            raise CgapError(f"zoo graph: node {pending[0].name!r} reads an input computed nowhere before it")
        order += wave
        ready.update(n.name for n in wave)
        pending = [n for n in pending if n.name not in ready]
    return order


def _attach(node: Node, module: str | None, weights: Mapping[str, np.ndarray]) -> Node:
    """Return ``node`` with its arrays taken from ``weights`` under ``module``'s state-dict names."""
    keys = ARRAY_KEYS.get(type(node.op))
    if module is None or keys is None:
        return node
    arrays = {}
    for field, suffix in keys.items():
        if field == "bias" and not getattr(node.op, "has_bias", True):
            continue
        name = f"{module}.{suffix}"
        if name not in weights:
            raise CgapError(f"zoo weights: {name!r} is missing for node {node.name!r}")
        arrays[field] = np.ascontiguousarray(weights[name], dtype=np.float32)
    return replace(node, op=replace(node.op, **arrays))
