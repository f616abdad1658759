"""Fold a zero ``Pad`` node into the padding of the layers that read it (a pure ``Network -> Network`` pass).

Exact for a Conv2d (its padding is zeros too) and for an AvgPool without ceil mode that counts padding in its
divisor (``count_include_pad``, or no padding of its own: the Pad's zeros were real cells it counted).  A Pad read
by anything else (a MaxPool pads with -inf, an AvgPool that excludes its own padding) stays a node.
"""

from __future__ import annotations

from dataclasses import replace

from cgap_ir import AvgPool, Conv2d, Network, Node, Op, Pad


def _absorbs(op: Op) -> bool:
    """Return whether ``op`` computes the same with a preceding zero Pad moved into its own pads."""
    if isinstance(op, Conv2d):
        return True
    return isinstance(op, AvgPool) and not op.ceil_mode and (op.count_include_pad or not any(op.pads))


def _with_pads(op: Conv2d | AvgPool, pad: Pad) -> Conv2d | AvgPool:
    """Return ``op`` with ``pad``'s (top, left, bottom, right) added to its own."""
    pads = tuple(a + b for a, b in zip(op.pads, pad.pads, strict=True))
    if isinstance(op, AvgPool):
        return replace(op, pads=pads, count_include_pad=True)
    return replace(op, pads=pads)


def fold_pad(net: Network) -> Network:
    """Return a copy of ``net`` where every Pad whose readers all absorb it (see module doc) is folded into them
    and removed; the readers keep their names, so later consumers and the output are unchanged."""
    nodes = {n.name: n for n in net.nodes}
    order = [n.name for n in net.nodes]
    for node in net.nodes:
        readers = net.consumers(node.name)
        if not isinstance(node.op, Pad) or node.name == net.output or not readers:
            continue
        if not all(_absorbs(r.op) for r in readers):
            continue
        for reader in readers:
            inputs = tuple(node.inputs[0] if s == node.name else s for s in reader.inputs)
            nodes[reader.name] = Node(reader.name, _with_pads(reader.op, node.op), inputs)
        order.remove(node.name)
    return net.with_nodes([nodes[name] for name in order])
