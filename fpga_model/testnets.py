"""Torch-free IR builders of reference networks (no weights) for simulator tests, benchmarks and DSE.

They mirror the zoo's structure (CIFAR ResNet with 1×1-conv "option B" shortcuts, VGG with max
pools, LeNet-5) so the simulator can be exercised without torch or ONNX.  Widths are free, so the
same builders express pruned networks.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from cgap_ir import INPUT, Network, Node, ops


class _Builder:
    """Appends nodes and remembers the last tensor name and its channel count."""

    def __init__(self) -> None:
        self.nodes: list[Node] = []
        self.count = 0

    def add(self, op: ops.Op, *inputs: str, prefix: str = "n") -> str:
        self.count += 1
        name = f"{prefix}{self.count}"
        self.nodes.append(Node(name, op, tuple(inputs)))
        return name

    def conv_bn(self, src: str, cin: int, cout: int, k: int, stride: int, relu: bool) -> str:
        pad = k // 2
        x = self.add(ops.Conv2d(cin, cout, (k, k), (stride, stride), (pad, pad, pad, pad), has_bias=False), src,
                     prefix="conv")
        x = self.add(ops.BatchNorm(cout), x, prefix="bn")
        return self.add(ops.ReLU(), x, prefix="relu") if relu else x


def resnet_cifar(depth: int = 20, widths: tuple[int, int, int] = (16, 32, 64), num_classes: int = 10,
                 input_shape: tuple[int, int, int] = (3, 32, 32)) -> Network:
    """Return a CIFAR ResNet-``depth`` (depth = 6n+2) as an IR Network with the given stage widths."""
    if (depth - 2) % 6:
        raise ValueError(f"resnet depth must be 6n+2, got {depth}")
    n = (depth - 2) // 6
    b = _Builder()
    x = b.conv_bn(INPUT, input_shape[0], widths[0], 3, 1, relu=True)
    cin = widths[0]
    for stage, cout in enumerate(widths):
        for block in range(n):
            stride = 2 if stage > 0 and block == 0 else 1
            y = b.conv_bn(x, cin, cout, 3, stride, relu=True)
            y = b.conv_bn(y, cout, cout, 3, 1, relu=False)
            short = b.conv_bn(x, cin, cout, 1, stride, relu=False) if (stride != 1 or cin != cout) else x
            x = b.add(ops.ReLU(), b.add(ops.Add(), y, short, prefix="add"), prefix="relu")
            cin = cout
    x = b.add(ops.GlobalAvgPool(), x, prefix="gap")
    x = b.add(ops.Flatten(), x, prefix="flat")
    x = b.add(ops.Linear(cin, num_classes), x, prefix="fc")
    return Network(f"resnet{depth}", tuple(input_shape), tuple(b.nodes), x)


VGG_CONFIGS: dict[str, list[int | str]] = {
    "vgg11": [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "vgg16": [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"],
}


def _vgg_features(b: _Builder, name: str, input_shape: tuple[int, int, int], width_mult: float,
                  bn: bool) -> tuple[str, int, int]:
    """Append VGG ``name``'s 3×3 conv stack (conv-BN-ReLU, or conv-ReLU without ``bn``) and 2×2 max pools to ``b``;
    return (last tensor, its channels, its side)."""
    x, cin, side = INPUT, input_shape[0], input_shape[1]
    for item in VGG_CONFIGS[name]:
        if item == "M":
            x = b.add(ops.MaxPool((2, 2), (2, 2)), x, prefix="pool")
            side //= 2
            continue
        cout = max(1, round(int(item) * width_mult))
        if bn:
            x = b.conv_bn(x, cin, cout, 3, 1, relu=True)
        else:
            x = b.add(ops.ReLU(), b.add(ops.Conv2d(cin, cout, (3, 3), pads=(1, 1, 1, 1)), x, prefix="conv"),
                      prefix="relu")
        cin = cout
    return x, cin, side


def vgg(name: str = "vgg11", width_mult: float = 1.0, num_classes: int = 10,
        input_shape: tuple[int, int, int] = (3, 32, 32)) -> Network:
    """Return a CIFAR VGG (conv-BN-ReLU, 2×2 max pools, one linear classifier) scaled by ``width_mult``."""
    b = _Builder()
    x, cin, hw = _vgg_features(b, name, input_shape, width_mult, bn=True)
    x = b.add(ops.Flatten(), x, prefix="flat")
    x = b.add(ops.Linear(cin * hw * hw, num_classes), x, prefix="fc")
    return Network(name, tuple(input_shape), tuple(b.nodes), x)


def lenet5(c1: int = 6, c2: int = 16, f1: int = 120, f2: int = 84, num_classes: int = 10,
           input_shape: tuple[int, int, int] = (1, 28, 28)) -> Network:
    """Return a LeNet-5 (5×5 convs with 2×2 max pools, three linear layers) with the given widths."""
    b = _Builder()
    x = b.add(ops.Conv2d(input_shape[0], c1, (5, 5), pads=(2, 2, 2, 2)), INPUT, prefix="conv")
    x = b.add(ops.MaxPool((2, 2), (2, 2)), b.add(ops.ReLU(), x, prefix="relu"), prefix="pool")
    x = b.add(ops.Conv2d(c1, c2, (5, 5)), x, prefix="conv")
    x = b.add(ops.MaxPool((2, 2), (2, 2)), b.add(ops.ReLU(), x, prefix="relu"), prefix="pool")
    side = ((input_shape[1]) // 2 - 4) // 2
    x = b.add(ops.Flatten(), x, prefix="flat")
    x = b.add(ops.ReLU(), b.add(ops.Linear(c2 * side * side, f1), x, prefix="fc"), prefix="relu")
    x = b.add(ops.ReLU(), b.add(ops.Linear(f1, f2), x, prefix="fc"), prefix="relu")
    x = b.add(ops.Linear(f2, num_classes), x, prefix="fc")
    return Network("lenet5", tuple(input_shape), tuple(b.nodes), x)


def vgg_imagenet(name: str = "vgg16", input_shape: tuple[int, int, int] = (3, 224, 224),
                 num_classes: int = 1000) -> Network:
    """Return an ImageNet VGG (torchvision layout without BN: conv-ReLU, 2×2 max pools, three linear layers
    4096-4096-classes on the flattened last map) at ``input_shape``; no weights."""
    b = _Builder()
    x, cin, side = _vgg_features(b, name, input_shape, 1.0, bn=False)
    x = b.add(ops.Flatten(), x, prefix="flat")
    for fin, fout in ((cin * side * side, 4096), (4096, 4096)):
        x = b.add(ops.ReLU(), b.add(ops.Linear(fin, fout), x, prefix="fc"), prefix="relu")
    x = b.add(ops.Linear(4096, num_classes), x, prefix="fc")
    return Network(f"{name}-imagenet", tuple(input_shape), tuple(b.nodes), x)


def at_input(net: Network, input_shape: tuple[int, int, int], seed: int = 0) -> Network:
    """Return ``net`` rebuilt for ``input_shape``: every node kept, an average pool that covered its whole input
    map (a global pool written as AvgPool) resized to the new map, and each Linear whose input size changed
    (after a Flatten) given that size, with fresh weights (He-normal, ``seed``) when the original had any.

    The ImageNet graphs in the onnx wheel fix 224×224; rebuilt at 3×64×64 they keep their architecture and
    become small enough to C-simulate."""
    rng = np.random.default_rng(seed)
    old = net.shapes
    nodes: list[Node] = []
    shapes: dict[str, tuple[int, ...]] = {INPUT: tuple(input_shape)}
    for node in net.nodes:
        op = node.op
        ins = [shapes[s] for s in node.inputs]
        if isinstance(op, ops.AvgPool) and op.kernel == tuple(old[node.inputs[0]][1:]) and not any(op.pads):
            op = dataclasses.replace(op, kernel=tuple(ins[0][1:]), stride=tuple(ins[0][1:]))
        elif isinstance(op, ops.Linear) and ins[0] != (op.in_features,):
            fin = int(np.prod(ins[0]))
            weight = None if op.weight is None else rng.normal(0, np.sqrt(2.0 / fin), (op.out_features, fin))
            op = dataclasses.replace(op, in_features=fin, weight=weight)
        nodes.append(Node(node.name, op, node.inputs))
        shapes[node.name] = tuple(op.infer_shape(ins))
    return Network(f"{net.name}@{'x'.join(map(str, input_shape))}", tuple(input_shape), tuple(nodes), net.output)
