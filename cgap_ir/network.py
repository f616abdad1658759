"""The network DAG: nodes in topological order, shape inference, validation and cost summaries."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from functools import cached_property

import numpy as np

from cgap_ir.errors import CgapError
from cgap_ir.ops import VARIADIC, Op, Shape

INPUT = "input"
"""Name by which nodes refer to the network's input tensor."""


class IrError(CgapError):
    """The network is malformed (unknown input, cycle, duplicate name, shape mismatch)."""


def _arity_ok(op: Op, count: int) -> bool:
    """Return whether ``op`` accepts ``count`` inputs."""
    return count >= 1 if op.arity == VARIADIC else count == op.arity


@dataclass(frozen=True)
class Node:
    """One layer: a unique name, its op and the names of the nodes (or ``INPUT``) it reads."""

    name: str
    op: Op
    inputs: tuple[str, ...]


@dataclass(frozen=True)
class LayerInfo:
    """Per-layer facts computed by shape inference.

    ``activation_in`` / ``activation_out`` are element counts per image; ``weights`` is
    the element count of the layer's parameters as stored (BN counts its 4 vectors).
    """

    name: str
    op: str
    inputs: tuple[str, ...]
    in_shapes: tuple[Shape, ...]
    out_shape: Shape
    params: int
    macs: int
    activation_in: int
    activation_out: int
    weights: int

    def as_dict(self) -> dict:
        """Return a JSON-ready dict of this row."""
        return {
            "name": self.name,
            "op": self.op,
            "inputs": list(self.inputs),
            "in_shapes": [list(s) for s in self.in_shapes],
            "out_shape": list(self.out_shape),
            "params": self.params,
            "macs": self.macs,
            "activation_in": self.activation_in,
            "activation_out": self.activation_out,
            "weights": self.weights,
        }


@dataclass(frozen=True)
class Network:
    """A torch-free CNN: input shape (C, H, W), nodes in topological order, one output node.

    Construction validates the graph (unique names, known inputs, acyclic order, arity,
    shapes); an invalid graph raises :class:`IrError` naming the node.
    """

    name: str
    input_shape: Shape
    nodes: tuple[Node, ...]
    output: str
    meta: dict = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        _ = self.shapes  # validate eagerly

    @cached_property
    def shapes(self) -> dict[str, Shape]:
        """Return the output shape of every node (and of ``INPUT``), validating as it goes."""
        if any(d <= 0 for d in self.input_shape):
            raise IrError(f"network {self.name!r}: input shape {self.input_shape} has a non-positive dim")
        shapes: dict[str, Shape] = {INPUT: tuple(self.input_shape)}
        for node in self.nodes:
            if node.name in shapes:
                raise IrError(f"node {node.name!r}: duplicate name")
            if not _arity_ok(node.op, len(node.inputs)):
                need = "at least 1" if node.op.arity == VARIADIC else node.op.arity
                raise IrError(f"node {node.name!r} ({node.op.kind}): needs {need} inputs, has {len(node.inputs)}")
            for src in node.inputs:
                if src not in shapes:
                    raise IrError(f"node {node.name!r} ({node.op.kind}): input {src!r} is unknown or comes later (cycle?)")
            try:
                shapes[node.name] = tuple(node.op.infer_shape([shapes[s] for s in node.inputs]))
            except CgapError as exc:
                raise IrError(f"node {node.name!r} ({node.op.kind}): {exc}") from None
        if self.output not in shapes or self.output == INPUT:
            raise IrError(f"network {self.name!r}: output {self.output!r} is not a node")
        return shapes

    @property
    def output_shape(self) -> Shape:
        """Return the shape of the network output."""
        return self.shapes[self.output]

    def node(self, name: str) -> Node:
        """Return the node called ``name``."""
        for node in self.nodes:
            if node.name == name:
                return node
        raise KeyError(name)

    def consumers(self, name: str) -> list[Node]:
        """Return the nodes that read the output of ``name``."""
        return [n for n in self.nodes if name in n.inputs]

    def layers(self) -> list[LayerInfo]:
        """Return one :class:`LayerInfo` per node, in order."""
        rows = []
        for node in self.nodes:
            ins = tuple(self.shapes[s] for s in node.inputs)
            out = self.shapes[node.name]
            rows.append(LayerInfo(
                name=node.name, op=node.op.kind, inputs=node.inputs, in_shapes=ins, out_shape=out,
                params=node.op.params(), macs=node.op.macs(list(ins), out),
                activation_in=sum(int(np.prod(s)) for s in ins), activation_out=int(np.prod(out)),
                weights=sum(int(a.size) for a in node.op.arrays().values()) or node.op.stored_elements(),
            ))
        return rows

    def total_params(self) -> int:
        """Return the total trainable parameters."""
        return sum(n.op.params() for n in self.nodes)

    def total_macs(self) -> int:
        """Return the total multiply-accumulates per image."""
        return sum(row.macs for row in self.layers())

    def summary(self) -> dict:
        """Return ``{"name", "input_shape", "params", "macs", "layers": [...]}`` ready for JSON."""
        rows = self.layers()
        return {
            "name": self.name,
            "input_shape": list(self.input_shape),
            "params": sum(r.params for r in rows),
            "macs": sum(r.macs for r in rows),
            "layers": [r.as_dict() for r in rows],
        }

    def with_nodes(self, nodes: list[Node] | tuple[Node, ...], output: str | None = None) -> Network:
        """Return a copy with new nodes (and optionally a new output), re-validated."""
        return replace(self, nodes=tuple(nodes), output=output or self.output)
