"""Fold inference-mode BatchNorm into the Conv2d/Linear that feeds it (a pure ``Network -> Network`` pass)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from cgap_ir import BatchNorm, Conv2d, Linear, Network, Node


def _bn_affine(bn: BatchNorm) -> tuple[np.ndarray, np.ndarray]:
    """Return (scale, shift) so that bn(x) == x * scale + shift per channel (float64)."""
    scale = bn.scale.astype(np.float64) / np.sqrt(bn.var.astype(np.float64) + bn.eps)
    shift = bn.bias.astype(np.float64) - bn.mean.astype(np.float64) * scale
    return scale, shift


def _folded(op: Conv2d | Linear, bn: BatchNorm) -> Conv2d | Linear:
    """Return ``op`` with ``bn`` applied to its weights and bias (bias always present; a network built without
    weights, e.g. for the simulator, folds to a weightless layer with a bias)."""
    if op.weight is None or bn.scale is None:
        return replace(op, has_bias=True, weight=None, bias=None)
    scale, shift = _bn_affine(bn)
    weight = op.weight.astype(np.float64)
    weight = weight * scale.reshape((-1,) + (1,) * (weight.ndim - 1))
    bias = op.bias.astype(np.float64) if op.bias is not None else np.zeros(scale.shape)
    return replace(op, has_bias=True, weight=weight, bias=bias * scale + shift)


def _foldable(net: Network, node: Node) -> Node | None:
    """Return the producer of BN ``node`` if it is a Conv2d/Linear read by this BN only."""
    if not isinstance(node.op, BatchNorm) or node.inputs[0] == "input":
        return None
    producer = net.node(node.inputs[0])
    if not isinstance(producer.op, (Conv2d, Linear)) or producer.name == net.output:
        return None
    return producer if len(net.consumers(producer.name)) == 1 else None


def fold_bn(net: Network) -> Network:
    """Return a copy of ``net`` where every BN directly after a Conv2d/Linear is folded into it.

    The folded layer keeps the BN node's name (so later consumers and the output are unchanged);
    BNs that follow anything else are left in place.
    """
    nodes = {n.name: n for n in net.nodes}
    order = [n.name for n in net.nodes]
    for node in net.nodes:
        producer = _foldable(net, node)
        if producer is None:
            continue
        nodes[node.name] = Node(node.name, _folded(producer.op, node.op), producer.inputs)
        order.remove(producer.name)
    return net.with_nodes([nodes[name] for name in order])
