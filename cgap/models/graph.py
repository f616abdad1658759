"""The one description of a zoo model: a torch-free layer graph that both back ends are built from.

Each architecture module (``lenet``, ``vgg``, ``resnet``) turns (input shape, classes, widths) into a
:class:`ZooGraph`: the model's layers as :mod:`cgap_ir` nodes without weights, in forward order, plus
which nodes a torch module runs.  :mod:`cgap.models.torch_model` builds the PyTorch model from it
(one ``nn`` module per parameterised node, a forward that walks the nodes) and
:mod:`cgap.models.ir_build` turns it into the IR that ONNX import of that PyTorch model gives.

Node names are the ones the ONNX import gives the exported torch model: a module's dotted path
(``layer1.0.conv1``) and, for an op applied in a module's ``forward``, that module's path plus the
lower-case op name numbered per module (``layer1.0.relu``, ``layer1.0.relu_1``; ``relu_2`` at the top).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from cgap_ir import INPUT, Network, Node, ops
from cgap_ir.ops import Shape

BN_EPS = float(np.float32(1e-5))
"""BatchNorm epsilon as ONNX stores it (float32), so the built IR equals the imported one."""


@dataclass(frozen=True)
class ZooGraph:
    """A zoo model's layers: ``net`` (structure only, forward order), ``modules`` (node → torch module path)
    and the checked ``widths`` (group → width, in the arch's group order) it was built with.

    Nodes missing from ``modules`` are ops applied in the ``forward`` of the module named by their
    name's prefix (``layer1.0.add`` in ``layer1.0``; ``relu_1`` in the model itself).
    """

    net: Network
    modules: dict[str, str]
    widths: dict[str, int]

    def scope(self, node: str) -> str:
        """Return the path of the module whose ``forward`` runs ``node`` ('' for the model itself)."""
        return self.modules.get(node, node).rpartition(".")[0]


@dataclass
class GraphBuilder:
    """Collects nodes in forward order, names functional ops per scope and tracks shapes."""

    name: str
    input_shape: Shape
    nodes: list[Node] = field(default_factory=list)
    modules: dict[str, str] = field(default_factory=dict)
    shapes: dict[str, Shape] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.shapes[INPUT] = tuple(self.input_shape)

    def module(self, path: str, op: ops.Op, *inputs: str) -> str:
        """Add a node run by the torch module at ``path`` (numbered if that module runs again); return its name."""
        name = self._unique(path)
        self.modules[name] = path
        return self._add(name, op, inputs)

    def func(self, scope: str, op: ops.Op, *inputs: str) -> str:
        """Add an op applied inside the module ``scope`` ('' for the top); return its name."""
        base = op.kind.lower() if not isinstance(op, ops.GlobalAvgPool) else "globalaveragepool"
        return self._add(self._unique(f"{scope}.{base}" if scope else base), op, inputs)

    def conv(self, path: str, src: str, cout: int, kernel: int, stride: int = 1, bias: bool = False) -> str:
        """Add a same-padded ``kernel``×``kernel`` conv reading ``src``; return its name."""
        cin, pad = self.shapes[src][0], kernel // 2
        op = ops.Conv2d(cin, cout, (kernel, kernel), (stride, stride), (pad, pad, pad, pad), has_bias=bias)
        return self.module(path, op, src)

    def depthwise(self, path: str, src: str, kernel: int, stride: int = 1) -> str:
        """Add a same-padded depthwise ``kernel``×``kernel`` conv (groups = channels, no bias) on ``src``; return its name."""
        c, pad = self.shapes[src][0], kernel // 2
        op = ops.Conv2d(c, c, (kernel, kernel), (stride, stride), (pad, pad, pad, pad), groups=c, has_bias=False)
        return self.module(path, op, src)

    def bn(self, path: str, src: str) -> str:
        """Add a BatchNorm over ``src``'s channels; return its name."""
        return self.module(path, ops.BatchNorm(self.shapes[src][0], BN_EPS), src)

    def linear(self, path: str, src: str, out_features: int) -> str:
        """Add a Linear (with bias) reading the flat ``src``; return its name."""
        return self.module(path, ops.Linear(self.shapes[src][0], out_features), src)

    def relu(self, scope: str, src: str) -> str:
        """Add a functional ReLU inside ``scope``; return its name."""
        return self.func(scope, ops.ReLU(), src)

    def relu6(self, scope: str, src: str) -> str:
        """Add a functional ReLU6 (the IR's Clip(0, 6), as ONNX import gives it) inside ``scope``; return its name."""
        return self.func(scope, ops.Clip(lo=0.0, hi=6.0), src)

    def shape(self, name: str) -> Shape:
        """Return the per-image output shape of node ``name`` (or ``INPUT``)."""
        return self.shapes[name]

    def graph(self, output: str, widths: dict[str, int]) -> ZooGraph:
        """Return the collected :class:`ZooGraph` with ``output`` as its result, built with ``widths``."""
        net = Network(self.name, tuple(self.input_shape), tuple(self.nodes), output, {"source": "zoo"})
        return ZooGraph(net, dict(self.modules), dict(widths))

    def _add(self, name: str, op: ops.Op, inputs: tuple[str, ...]) -> str:
        node = Node(name, op, tuple(inputs))
        self.shapes[name] = tuple(op.infer_shape([self.shapes[s] for s in inputs]))
        self.nodes.append(node)
        return name

    def _unique(self, base: str) -> str:
        name, k = base, 0
        while name in self.shapes:
            k += 1
            name = f"{base}_{k}"
        return name


def flat_repeat(graph: ZooGraph) -> int:
    """Return H*W of the map the graph's Flatten reads: input features of the first Linear per channel."""
    flatten = next(n for n in graph.net.nodes if isinstance(n.op, ops.Flatten))
    _, h, w = graph.net.shapes[flatten.inputs[0]]
    return h * w


def max_pool_2x2() -> ops.MaxPool:
    """Return the IR of ``nn.MaxPool2d(2)``."""
    return ops.MaxPool(kernel=(2, 2), stride=(2, 2))
