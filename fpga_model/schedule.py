"""Engine schedule: fuse IR nodes into engine layers and choose each layer's tiles for a HwConfig.

This module is the contract between the HLS code generator and the simulator: the generated
engine runs exactly the loop nest described here, and the simulator costs exactly these trip
counts.  Neither re-derives them.

Engine layer kinds (``EngineLayer.kind``):

``conv``  Conv2d (BN folded) or Linear as a 1×1 conv on a 1×1 map, with optional residual add
          on store, ReLU and a fused non-overlapping pool (kernel == stride, no padding).
``pool``  A max/avg pool that could not be fused, with optional ReLU; also a ReLU that could not be
          fused (as a 1×1 stride-1 max pool with ReLU).
``gap``   Global average pool.
``add``   A residual add that could not be fused into a conv's store, with optional ReLU.

Loop nest of a ``conv`` layer (Tox = Nox, Tif = Nif)::

    for f0 in range(0, Nof, Tof):                 # output-channel tiles (weights loaded once per f0)
      for y0 in range(0, Noy, Toy):               # output-row tiles (input rows Tiy = (Toy-1)*S + Nky)
        load input tile, [residual tile]
        for block (of, oy, ox) in Pof x Poy x Pox blocks of the tile:    # one flattened II=1 loop:
          for s in range(max(steps, Poy*Pox)):    #   steps = Nif*Nky*Nkx MAC steps of this block
            if s < steps: Pox*Poy*Pof MACs        #   and, at the same time, one (py, px) position of the
            if s < Poy*Pox: write out block-1     #   previous block through Pof requantisers
        write out the last block (Poy*Pox)
        store output tile (+ fused pool: pkh*pkw cycles a beat)

Loads and stores are ping-ponged: the (f0, y0) tiles are visited in this order, and tile step s
loads tile s, computes tile s-1 and stores tile s-2.  DRAM beats moved per tile (:mod:`fpga_model.layout`
pads rows, weight steps and bias groups to whole beats): the weights and biases of the tile's Pof groups
(first row tile of each f0 only), the input rows of ``input_rows`` (padding made on chip) for all Nif
channels, the residual rows and the (pooled) output rows.  pool/gap/add layers tile output channels only:
per tile they read the whole input planes of their channels (both operands for add) and write the output
planes.  The cycles of every stage are :mod:`fpga_model.cost`'s; the tile chooser picks the tiling of fewest
cycles that fits the buffers.

``compute_iterations`` is the total trip count of the MAC (or element-wise) step over all tiles.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import NoReturn

from cgap_ir import INPUT, Network, ops
from cgap_ir.fold_bn import fold_bn
from fpga_model.cost import layer_cycles
from fpga_model.hw import HwConfig
from fpga_model.loopnest import EngineLayer, ScheduleError, compute_iterations, input_rows, tiles

__all__ = ["BufferUse", "EngineLayer", "ScheduleError", "buffer_use", "choose_tiles", "compute_iterations", "fuse",
           "input_rows", "output_tensor", "schedule", "tile_candidates", "tiles"]


# ----------------------------------------------------------------------------------------------- fusion

def _chw(shape: tuple[int, ...]) -> tuple[int, int, int]:
    return (shape[0], 1, 1) if len(shape) == 1 else (shape[0], shape[1], shape[2])


class _Fuser:
    """Walks the IR in order and groups nodes into engine layers (see module doc)."""

    def __init__(self, net: Network) -> None:
        self.net = net
        self.alias: dict[str, str] = {INPUT: INPUT}   # IR name -> engine tensor name
        self.done: set[str] = set()
        self.layers: list[EngineLayer] = []

    def resolve(self, name: str) -> str:
        return self.alias[name]

    def sole_consumer(self, name: str) -> object | None:
        users = self.net.consumers(name)
        if len(users) != 1 or name == self.net.output:
            return None
        return users[0]

    def produced(self, name: str) -> bool:
        return name in self.alias

    def run(self) -> list[EngineLayer]:
        for node in self.net.nodes:
            if node.name in self.done:
                continue
            handler = _HANDLERS.get(node.op.kind)
            if handler is None:
                raise ScheduleError(f"node {node.name!r}: op {node.op.kind} cannot run on the engine here "
                                    "(it must follow a Conv2d/Linear, pool or add)")
            handler(self, node)
        return self.layers

    def emit(self, layer: EngineLayer, fused: list) -> None:
        self.layers.append(layer)
        for n in fused:
            self.done.add(n.name)
            self.alias[n.name] = layer.output

    def absorb_tail(self, chain: list, allow_add: bool, allow_pool: bool) -> dict:
        """Extend ``chain`` with BN, Add, ReLU, pool (in that order) where legal; return the fused options."""
        opts: dict = {"residual": None, "relu": False, "pool": None, "pool_kernel": (1, 1)}
        nxt = self.sole_consumer(chain[-1].name)
        if allow_add and nxt is not None and isinstance(nxt.op, ops.BatchNorm):
            chain.append(nxt)
            nxt = self.sole_consumer(nxt.name)
        if allow_add and nxt is not None and isinstance(nxt.op, ops.Add):
            other = [s for s in nxt.inputs if s != chain[-1].name]
            if len(other) == 1 and self.produced(other[0]):
                opts["residual"] = self.resolve(other[0])
                chain.append(nxt)
                nxt = self.sole_consumer(nxt.name)
        if nxt is not None and isinstance(nxt.op, ops.ReLU):
            opts["relu"] = True
            chain.append(nxt)
            nxt = self.sole_consumer(nxt.name)
        if allow_pool and nxt is not None and _fusable_pool(nxt.op, self.net.shapes[chain[-1].name]):
            opts["pool"] = "max" if isinstance(nxt.op, ops.MaxPool) else "avg"
            opts["pool_kernel"] = nxt.op.kernel
            chain.append(nxt)
        return opts


def _fusable_pool(op: ops.Op, shape: tuple[int, ...]) -> bool:
    if not isinstance(op, (ops.MaxPool, ops.AvgPool)) or len(shape) != 3:
        return False
    k = op.kernel
    return (op.stride == k and not any(op.pads) and not op.ceil_mode
            and shape[1] % k[0] == 0 and shape[2] % k[1] == 0)


def _conv(f: _Fuser, node) -> None:
    op = node.op
    chain = [node]
    is_conv = isinstance(op, ops.Conv2d)
    if is_conv and op.groups != 1:
        raise ScheduleError(f"node {node.name!r}: grouped convolution (groups={op.groups}) is not supported by the engine")
    opts = f.absorb_tail(chain, allow_add=True, allow_pool=is_conv)
    in_shape = _linear_input(f, node) if not is_conv else _chw(f.net.shapes[node.inputs[0]])
    f.emit(EngineLayer(
        name=node.name, kind="conv", nodes=tuple(n.name for n in chain), input=f.resolve(node.inputs[0]),
        output=chain[-1].name, in_shape=in_shape, conv_out=_chw(f.net.shapes[node.name]),
        out_shape=_chw(f.net.shapes[chain[-1].name]),
        kernel=op.kernel if is_conv else in_shape[1:], stride=op.stride if is_conv else (1, 1),
        pads=op.pads if is_conv else (0, 0, 0, 0), **opts), chain)


def _linear_input(f: _Fuser, node) -> tuple[int, int, int]:
    """Return the (C, H, W) a Linear reads: the feature map its Flatten came from, so the layer runs as a
    conv whose kernel covers that whole map (the DRAM layout of the map is used as it is), else (N, 1, 1)."""
    source = node.inputs[0]
    while source != INPUT and f.net.node(source).op.kind == "Flatten":
        source = f.net.node(source).inputs[0]
    shape = f.net.shapes[source]
    if len(shape) == 3 and shape[0] * shape[1] * shape[2] == node.op.in_features:
        return (shape[0], shape[1], shape[2])
    return (node.op.in_features, 1, 1)


def _pool(f: _Fuser, node) -> None:
    op = node.op
    if op.ceil_mode:
        raise ScheduleError(f"node {node.name!r}: ceil_mode pooling is not supported by the engine")
    chain = [node]
    opts = f.absorb_tail(chain, allow_add=False, allow_pool=False)
    shape = _chw(f.net.shapes[node.name])
    f.emit(EngineLayer(
        name=node.name, kind="pool", nodes=tuple(n.name for n in chain), input=f.resolve(node.inputs[0]),
        output=chain[-1].name, residual=None, in_shape=_chw(f.net.shapes[node.inputs[0]]), conv_out=shape,
        out_shape=shape, kernel=op.kernel, stride=op.stride, pads=op.pads, relu=opts["relu"],
        pool="max" if isinstance(op, ops.MaxPool) else "avg",
        count_include_pad=getattr(op, "count_include_pad", False)), chain)


def _gap(f: _Fuser, node) -> None:
    shape = _chw(f.net.shapes[node.name])
    f.emit(EngineLayer(
        name=node.name, kind="gap", nodes=(node.name,), input=f.resolve(node.inputs[0]), output=node.name,
        residual=None, in_shape=_chw(f.net.shapes[node.inputs[0]]), conv_out=shape, out_shape=shape), [node])


def _add(f: _Fuser, node) -> None:
    chain = [node]
    opts = f.absorb_tail(chain, allow_add=False, allow_pool=False)
    shape = _chw(f.net.shapes[node.name])
    f.emit(EngineLayer(
        name=node.name, kind="add", nodes=tuple(n.name for n in chain), input=f.resolve(node.inputs[0]),
        output=chain[-1].name, residual=f.resolve(node.inputs[1]), in_shape=shape, conv_out=shape,
        out_shape=shape, relu=opts["relu"]), chain)


def _relu(f: _Fuser, node) -> None:
    """A ReLU no producer could absorb (after the input, a GAP, or a tensor with several consumers): a 1x1
    stride-1 max pool with ReLU on store, which keeps its input's binary point and so is exact."""
    shape = _chw(f.net.shapes[node.name])
    f.emit(EngineLayer(
        name=node.name, kind="pool", nodes=(node.name,), input=f.resolve(node.inputs[0]), output=node.name,
        residual=None, in_shape=shape, conv_out=shape, out_shape=shape, kernel=(1, 1), stride=(1, 1),
        pads=(0, 0, 0, 0), relu=True, pool="max"), [node])


def _passthrough(f: _Fuser, node) -> None:
    f.alias[node.name] = f.resolve(node.inputs[0])
    f.done.add(node.name)


_HANDLERS = {
    "Conv2d": _conv, "Linear": _conv, "MaxPool": _pool, "AvgPool": _pool, "GlobalAvgPool": _gap, "Add": _add,
    "ReLU": _relu, "Flatten": _passthrough, "Softmax": _passthrough,
}


def fuse(net: Network) -> list[EngineLayer]:
    """Return the engine layers of ``net`` in execution order, without tiles (toy = tof = 0)."""
    layers = _Fuser(net).run()
    if not layers:
        raise ScheduleError(f"network {net.name!r} has no layer the engine can run")
    return layers


def output_tensor(net: Network, layers: list[EngineLayer]) -> str:
    """Return the engine tensor holding the network output (Flatten/Softmax at the end resolve to it)."""
    f = _Fuser(net)
    for layer in layers:
        for n in layer.nodes:
            f.alias[n] = layer.output
    for node in net.nodes:
        if node.op.kind in ("Flatten", "Softmax"):
            f.alias[node.name] = f.resolve(node.inputs[0])
    return f.resolve(net.output)


# ----------------------------------------------------------------------------------------------- tiling

@dataclass(frozen=True)
class BufferUse:
    """Bytes a tiling needs in each on-chip buffer (ping-pong included) and its DRAM traffic estimate."""

    input_bytes: int
    weight_bytes: int
    output_bytes: int
    dram_bytes: int


def buffer_use(layer: EngineLayer, hw: HwConfig, toy: int, tof: int) -> BufferUse:
    """Return the buffer bytes and DRAM bytes of ``layer`` tiled as (toy, tof).

    Non-conv layers tile channels only (toy = Noy): each channel tile reads its whole input planes.
    """
    act, wgt = hw.act_bits // 8, hw.weight_bits // 8
    nif, niy, nix = layer.in_shape
    nof, noy, nox = layer.conv_out
    if layer.kind != "conv":
        operands = 2 if layer.kind == "add" else 1
        _, oh, ow = layer.out_shape
        traffic = (operands * nif * niy * nix + nof * oh * ow) * act
        return BufferUse(2 * operands * tof * niy * nix * act, 0, 2 * tof * oh * ow * act, traffic)
    kh, kw = layer.kernel
    padded_w = nix + layer.pads[1] + layer.pads[3]
    tiy = (toy - 1) * layer.stride[0] + kh
    rows_loaded = sum((t - 1) * layer.stride[0] + kh for t in tiles(noy, toy))
    res = 2 if layer.residual else 1
    traffic = (math.ceil(nof / tof) * rows_loaded * padded_w * nif * act
               + nof * nif * kh * kw * wgt + res * nof * noy * nox * act)
    return BufferUse(
        input_bytes=2 * tiy * padded_w * nif * act,
        weight_bytes=2 * tof * nif * kh * kw * wgt,
        output_bytes=2 * toy * nox * tof * act * res,
        dram_bytes=traffic,
    )


def tile_candidates(total: int, step: int, multiple_of: int = 1) -> list[int]:
    """Return the tile sizes tried for a dimension of ``total``: multiples of ``step`` (and of
    ``multiple_of``, e.g. a fused pool's kernel) below ``total``, and ``total`` itself, ascending."""
    sizes = {total} | set(range(step, total, step))
    return sorted(s for s in sizes if s % multiple_of == 0 or s == total)


def candidate_tilings(layer: EngineLayer, hw: HwConfig) -> list[tuple[int, int]]:
    """Return the (toy, tof) tilings :func:`choose_tiles` considers: Toy multiples of Poy (and of a fused pool's
    height) for conv layers, the whole height otherwise; Tof multiples of Pof; each dimension also whole."""
    if layer.kind != "conv":
        toys = [layer.out_shape[1]]
        tofs = tile_candidates(layer.out_shape[0], hw.pof)
    else:
        toys = tile_candidates(layer.conv_out[1], hw.poy, layer.pool_kernel[0])
        tofs = tile_candidates(layer.conv_out[0], hw.pof)
    return [(toy, tof) for toy in toys for tof in tofs]


def _fits(use: BufferUse, limits: tuple[int, int, int]) -> bool:
    return use.input_bytes <= limits[0] and use.weight_bytes <= limits[1] and use.output_bytes <= limits[2]


def tiling_key(layer: EngineLayer, hw: HwConfig, toy: int, tof: int) -> tuple[int, int, int, int, int]:
    """Return the preference key of a tiling (lower is better): simulated cycles, then DRAM bytes, then larger
    tiles, then (toy, tof) so the order is total."""
    tiled = replace(layer, toy=toy, tof=tof)
    return (layer_cycles(tiled, hw), buffer_use(layer, hw, toy, tof).dram_bytes, -toy * tof, toy, tof)


def choose_tiles(layer: EngineLayer, hw: HwConfig) -> EngineLayer:
    """Return ``layer`` with the (toy, tof) of fewest simulated cycles (:mod:`fpga_model.cost`) among the tilings
    whose ping-pong buffers fit ``hw``'s budgets (ties: less DRAM traffic, then larger tiles).

    Raises :class:`ScheduleError` naming the layer and the buffer when no tiling fits.
    """
    limits = (hw.input_buffer_kib * 1024, hw.weight_buffer_kib * 1024, hw.output_buffer_kib * 1024)
    fitting = [(toy, tof) for toy, tof in candidate_tilings(layer, hw) if _fits(buffer_use(layer, hw, toy, tof), limits)]
    if not fitting:
        _raise_no_tile(layer, hw, limits)
    best = min(fitting, key=lambda tiling: tiling_key(layer, hw, *tiling))
    return replace(layer, toy=best[0], tof=best[1])


def _raise_no_tile(layer: EngineLayer, hw: HwConfig, limits: tuple[int, int, int]) -> NoReturn:
    """Raise the one-line error naming the buffer the smallest tiling overflows most, and the key to raise."""
    toy = candidate_tilings(layer, hw)[0][0]
    use = buffer_use(layer, hw, toy, min(hw.pof, layer.out_shape[0]))
    need = {"input": use.input_bytes, "weight": use.weight_bytes, "output": use.output_bytes}
    names = ("input", "weight", "output")
    which = max(need, key=lambda k: need[k] / limits[names.index(k)])
    raise ScheduleError(
        f"layer {layer.name!r}: smallest tile needs {need[which] / 1024:.1f} KiB of {which} buffer, "
        f"hw {hw.name!r} has {limits[names.index(which)] / 1024:.0f} KiB; raise buffers.{which}_kib")


def schedule(net: Network, hw: HwConfig) -> list[EngineLayer]:
    """Return the engine's layer table of ``net`` on ``hw``: BN folded (a no-op on a folded network), nodes fused,
    tiles chosen — the same layers, with the same names, as the program ``cgap-export`` generates."""
    return [choose_tiles(layer, hw) for layer in fuse(fold_bn(net))]
