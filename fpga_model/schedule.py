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

Loop nest of a ``conv`` layer::

    for f0 in range(0, Nof, Tof):                 # output-channel tiles
      for y0 in range(0, Noy, Toy):               # output-row tiles (input rows Tiy = (Toy-1)*S + Nky)
        for x0 in range(0, Nox, Tox):             # output-column tiles (Tox = Nox, or a multiple of V*pkw)
          for i0 in range(0, Nif, Tif):           # input-channel tiles (partial sums stay on chip)
            load weights [f0, i0] (once per f0 when Tif = Nif), input tile of channels i0.., [residual tile]
            for block (of, oy, ox) in Pof x Poy x Pox blocks of the tile:    # one flattened II=1 loop:
              for s in range(max(steps, Poy*Pox)):    #   steps = Tif*Nky*Nkx MAC steps of this block
                if s < steps: Pox*Poy*Pof MACs        #   and, at the same time, one (py, px) position of the
                if s < Poy*Pox: write out block-1     #   previous block: + psum, then kept (not the last i0)
            write out the last block (Poy*Pox)        #   or requantised (the last)
            last i0: store output tile (+ fused pool: pkh*pkw cycles a beat)

Loads and stores are ping-ponged: the (f0, y0, x0, i0) tiles are visited in this order, and tile step s
loads tile s, computes tile s-1 and stores tile s-2.  DRAM beats moved per tile (:mod:`fpga_model.layout`
pads rows, weight steps and bias groups to whole beats): the weights and biases of the tile's Pof groups
(first (y0, x0) tile of each f0 when Tif = Nif, else every tile), the input rows of ``input_rows`` and columns of
``input_cols`` (padding made on chip) for the tile's channels, and on the last input-channel tile the residual
rows and the (pooled) output rows.  pool/gap/add layers tile output channels only:
per tile they read the whole input planes of their channels (both operands for add) and write the output
planes.  The cycles of every stage are :mod:`fpga_model.cost`'s; the tile chooser picks the tiling of fewest
cycles that fits the buffers.

``compute_iterations`` is the total trip count of the MAC (or element-wise) step over all tiles.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, replace
from typing import NoReturn

import numpy as np

from cgap_ir import INPUT, Network, ops
from cgap_ir.fold_bn import fold_bn
from fpga_model.cost import cycles_lower_bound, fast_layer_cycles
from fpga_model.geometry import bank_counts, layer_depths
from fpga_model.hw import HwConfig
from fpga_model.layout import act_lanes
from fpga_model.loopnest import EngineLayer, ScheduleError, compute_iterations, input_rows, tiles

__all__ = ["BufferUse", "EngineLayer", "ScheduleError", "Tiling", "buffer_use", "candidate_tilings", "choose_tiles",
           "compute_iterations", "fuse", "input_rows", "output_tensor", "schedule", "tile_candidates", "tiles",
           "tiling_key", "tiling_of", "with_tiling"]


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


def _concat(f: _Fuser, node) -> None:
    """A channel Concat is addressing, not a layer: each input's producer writes its channels at their offset in
    the Concat's DRAM tensor.  Every input must be written by an engine layer and read by nothing but the Concat."""
    offset, parts = 0, []
    for src in node.inputs:
        owner = next((i for i, lay in enumerate(f.layers) if lay.output == f.alias.get(src) and not lay.out_channels),
                     None)
        users = f.net.consumers(src)
        if owner is None or len(users) != 1 or src == f.net.output or len(f.net.shapes[src]) != 3:
            raise ScheduleError(f"node {node.name!r}: Concat input {src!r} must be a feature map written by an "
                                "engine layer and read only by the Concat")
        parts.append((owner, offset))
        offset += f.net.shapes[src][0]
    for owner, start in parts:
        f.layers[owner] = replace(f.layers[owner], output=node.name, out_offset=start, out_channels=offset)
    f.alias[node.name] = node.name
    f.done.add(node.name)


def _passthrough(f: _Fuser, node) -> None:
    f.alias[node.name] = f.resolve(node.inputs[0])
    f.done.add(node.name)


_HANDLERS = {
    "Conv2d": _conv, "Linear": _conv, "MaxPool": _pool, "AvgPool": _pool, "GlobalAvgPool": _gap, "Add": _add,
    "ReLU": _relu, "Flatten": _passthrough, "Softmax": _passthrough, "Concat": _concat,
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
        elif node.op.kind == "Concat":
            f.alias[node.name] = node.name
    return f.resolve(net.output)


# ----------------------------------------------------------------------------------------------- tiling

Tiling = tuple[int, int, int, int]
"""(toy, tof, tox, tif): output rows, output channels, output columns and input channels of one conv tile
(pool / gap / add layers tile channels only: (Noy, tof, Nox, C))."""

MAX_TILE_COUNTS = (1, 2, 3, 4, 6, 8, 16)
"""Tile counts a dimension is split into by :func:`tile_candidates` (beyond the step-sized tiles)."""


@dataclass(frozen=True)
class BufferUse:
    """Bytes a tiling needs in each on-chip buffer: ping-pong copies included, and for a channel-tiled conv the
    partial-sum buffer (accumulator words, one copy) counted in the output buffer."""

    input_bytes: int
    weight_bytes: int
    output_bytes: int

    def fits(self, limits: tuple[int, int, int]) -> bool:
        """Return True when every buffer fits its (input, weight, output) byte limit."""
        return self.input_bytes <= limits[0] and self.weight_bytes <= limits[1] and self.output_bytes <= limits[2]


def buffer_use(layer: EngineLayer, hw: HwConfig, tiling: Tiling, banks: dict[str, int] | None = None) -> BufferUse:
    """Return the buffer bytes of ``layer`` tiled as ``tiling``: the bank depths the generated engine is compiled
    with for it (:func:`fpga_model.geometry.layer_depths`, banks of this layer alone, which no tiling changes: pass
    ``bank_counts([layer], hw)`` to reuse them) times banks and word size."""
    tiled = with_tiling(layer, tiling)
    banks = banks or bank_counts([layer], hw)
    d = layer_depths(tiled, hw, banks)
    act, wgt, acc = hw.act_bits / 8, hw.weight_bits / 8, hw.acc_bits / 8
    if layer.kind != "conv":
        planes = 2 * banks["FB"] * (d["FBUF_DEPTH"] + d["FBUF_B_DEPTH"] * (layer.kind == "add")) * act
        return BufferUse(math.ceil(planes), 0, 2 * d["FOBUF_BEATS"] * hw.dram.port_bits // 8)
    out_banks = hw.pof * banks["NB"]
    output = 2 * out_banks * (d["OBUF_DEPTH"] + d["RBUF_DEPTH"] * (layer.residual is not None)) * act
    psum = out_banks * d["PSUM_DEPTH"] * acc if tiled.split_channels else 0
    return BufferUse(math.ceil(2 * banks["IB_R"] * banks["IB_C"] * d["IBUF_DEPTH"] * act),
                     math.ceil(2 * hw.pof * d["WBUF_DEPTH"] * wgt), math.ceil(output + psum))


def with_tiling(layer: EngineLayer, tiling: Tiling) -> EngineLayer:
    """Return ``layer`` with its tiles set to ``tiling``."""
    toy, tof, tox, tif = tiling
    return replace(layer, toy=toy, tof=tof, tox=tox, tif=tif)


def tiling_of(layer: EngineLayer) -> Tiling:
    """Return the (toy, tof, tox, tif) of a tiled layer (whole extents where untiled)."""
    return (layer.toy, layer.tof, layer.x_tile, layer.i_tile)


def tile_candidates(total: int, step: int, multiple_of: int = 1) -> list[int]:
    """Return the tile sizes tried for a dimension of ``total``, ascending: for each tile count n, the smallest
    multiple of ``step`` and ``multiple_of`` (e.g. a fused pool's kernel) that covers ``total`` in n tiles (the
    balanced tiles; a larger tile of the same count only costs buffer), for the counts of :data:`MAX_TILE_COUNTS`
    and the one- and two-step tiles (the smallest buffers); ``total`` itself is always tried."""
    unit = math.lcm(step, multiple_of)
    sizes = {total}
    for n in range(1, -(-total // unit) + 1):
        balanced = -(-total // n)
        size = min(total, -(-balanced // unit) * unit)
        if size <= 2 * unit or n in MAX_TILE_COUNTS:
            sizes.add(size)
    return sorted(sizes)


def _channel_tiles(nif: int) -> list[int]:
    """Return the input-channel tiles tried: all channels, and nif/2, nif/4 ... down to one channel."""
    sizes, n = {nif}, 2
    while -(-nif // n) >= 1 and n <= 2 * nif:
        sizes.add(-(-nif // n))
        n *= 2
    return sorted(sizes)


def _column_tiles(layer: EngineLayer, hw: HwConfig) -> list[int]:
    """Return the output-column tiles tried: the whole width, and balanced tiles whose stores start on a beat
    (multiples of V times a fused pool's width), the smallest such tile included."""
    nox = layer.conv_out[2]
    unit = act_lanes(hw) * layer.pool_kernel[1]
    if unit >= nox:
        return [nox]
    return sorted({nox, unit} | {s for s in tile_candidates(nox, unit) if -(-nox // s) in MAX_TILE_COUNTS})


def candidate_tilings(layer: EngineLayer, hw: HwConfig) -> list[Tiling]:
    """Return the tilings :func:`choose_tiles` considers.

    conv: Toy from :func:`tile_candidates` over multiples of Poy (and of a fused pool's height), Tof over
    multiples of Pof, Tox from :func:`_column_tiles`, Tif from :func:`_channel_tiles`; pool / gap / add:
    whole planes, Tof any channel count (the element-wise unit's lanes run along a row, not across channels).
    """
    if layer.kind != "conv":
        c, oh, ow = layer.out_shape
        return [(oh, tof, ow, c) for tof in tile_candidates(c, 1)]
    nof, noy, _ = layer.conv_out
    toys = tile_candidates(noy, hw.poy, layer.pool_kernel[0])
    tofs = tile_candidates(nof, hw.pof)
    return [(toy, tof, tox, tif) for tox in _column_tiles(layer, hw) for tif in _channel_tiles(layer.in_shape[0])
            for toy in toys for tof in tofs]


def smallest_tiling(layer: EngineLayer, hw: HwConfig) -> Tiling:
    """Return the tiling of the smallest buffers: one block of Poy rows, Pof channels, the smallest column tile and
    one input channel (pool / gap / add: one whole plane)."""
    if layer.kind != "conv":
        c, oh, ow = layer.out_shape
        return (oh, 1, ow, c)
    nof, noy, _ = layer.conv_out
    return (tile_candidates(noy, hw.poy, layer.pool_kernel[0])[0], min(hw.pof, nof), _column_tiles(layer, hw)[0], 1)


def tiling_key(layer: EngineLayer, hw: HwConfig, tiling: Tiling) -> tuple[int, ...]:
    """Return the preference key of a tiling (lower is better): simulated cycles, then DRAM beats, then larger
    tiles, then the tiling itself so the order is total."""
    cycles, beats = fast_layer_cycles(with_tiling(layer, tiling), hw)
    return (cycles, beats, -math.prod(tiling), *tiling)


def buffer_limits(hw: HwConfig) -> tuple[int, int, int]:
    """Return the (input, weight, output) buffer budgets of ``hw`` in bytes."""
    return (hw.input_buffer_kib * 1024, hw.weight_buffer_kib * 1024, hw.output_buffer_kib * 1024)


class TilingTable:
    """The candidate tilings of one layer on one array (:func:`candidate_tilings`), their buffer needs and
    preference keys (memoised), answering which tiling the chooser takes under any buffer budget: the DSE asks it
    for every buffer split of an array, ``choose_tiles`` for one."""

    def __init__(self, layer: EngineLayer, hw: HwConfig) -> None:
        self.layer, self.hw = layer, hw
        self.tilings = candidate_tilings(layer, hw)
        banks = bank_counts([layer], hw)
        use = [buffer_use(layer, hw, t, banks) for t in self.tilings]
        self.needs = np.array([[u.input_bytes, u.weight_bytes, u.output_bytes] for u in use], dtype=np.int64)
        self.dominators = self._dominators()
        self.keys: dict[int, tuple[int, ...]] = {}
        whole = fast_layer_cycles(with_tiling(layer, self.tilings[-1]), hw)[1] if self.tilings else 0
        self.bounds = np.array([cycles_lower_bound(with_tiling(layer, t), hw, whole) for t in self.tilings],
                               dtype=np.int64)

    def _dominators(self) -> np.ndarray:
        """Return, per tiling, the indices (padded with -1) of the tilings of the same (toy, tof) with a tox and a
        tif at least as large (a larger tile of the same rows and channels moves no more DRAM beats and starts
        fewer loops, so where it fits the smaller one is not considered)."""
        by_plane: dict[tuple[int, int], list[int]] = {}
        for i, t in enumerate(self.tilings):
            by_plane.setdefault(t[:2], []).append(i)
        rows = []
        for i, t in enumerate(self.tilings):
            rows.append([j for j in by_plane[t[:2]] if j != i and self.tilings[j][2] >= t[2]
                         and self.tilings[j][3] >= t[3]])
        width = max((len(r) for r in rows), default=0)
        return np.array([r + [-1] * (width - len(r)) for r in rows], dtype=np.int64).reshape(len(rows), width)

    def considered(self, limits: tuple[int, int, int]) -> np.ndarray:
        """Return the indices of the tilings the chooser considers under ``limits`` (bytes): those that fit and
        are not dominated by a larger fitting tiling (:meth:`_dominators`)."""
        fits = np.all(self.needs <= np.array(limits), axis=1)
        padded = np.append(fits, False)
        return np.flatnonzero(fits & ~padded[self.dominators].any(axis=1))

    def key(self, index: int) -> tuple[int, ...]:
        """Return the :func:`tiling_key` of tiling ``index`` (memoised)."""
        if index not in self.keys:
            self.keys[index] = tiling_key(self.layer, self.hw, self.tilings[index])
        return self.keys[index]

    def choose(self, limits: tuple[int, int, int]) -> int | None:
        """Return the index of the tiling of least :func:`tiling_key` among :meth:`considered`, or None.

        Candidates are keyed in order of their cycle bound (:func:`fpga_model.cost.cycles_lower_bound`) until the
        bound exceeds the best cycles found: the answer is the exact minimum, most keys are never computed."""
        candidates = self.considered(limits)
        best: int | None = None
        for index in candidates[np.argsort(self.bounds[candidates], kind="stable")]:
            if best is not None and self.bounds[index] > self.keys[best][0]:
                break
            key = self.key(int(index))
            if best is None or key < self.keys[best]:
                best = int(index)
        return best


def tiling_table(layer: EngineLayer, hw: HwConfig) -> TilingTable:
    """Return the :class:`TilingTable` of ``layer`` on ``hw``'s array (cached: configs that differ only in their
    buffer budgets share it)."""
    return _cached_table(layer, replace(hw, name="", input_buffer_kib=1, weight_buffer_kib=1, output_buffer_kib=1))


@functools.lru_cache(maxsize=4096)
def _cached_table(layer: EngineLayer, hw: HwConfig) -> TilingTable:
    return TilingTable(layer, hw)


def choose_tiles(layer: EngineLayer, hw: HwConfig) -> EngineLayer:
    """Return ``layer`` with the tiling of fewest simulated cycles (:mod:`fpga_model.cost`) among the fitting
    tilings (:meth:`TilingTable.considered`; ties: fewer DRAM beats, then larger tiles).

    Raises :class:`ScheduleError` naming the layer, the buffer and the smallest budget that works when no
    tiling fits.
    """
    table = tiling_table(layer, hw)
    best = table.choose(buffer_limits(hw))
    if best is None:
        _raise_no_tile(layer, hw)
    return with_tiling(layer, table.tilings[best])


def _raise_no_tile(layer: EngineLayer, hw: HwConfig) -> NoReturn:
    """Raise the one-line error naming the buffers the smallest tiling overflows and the budgets it needs."""
    use = buffer_use(layer, hw, smallest_tiling(layer, hw))
    need = {"input": use.input_bytes, "weight": use.weight_bytes, "output": use.output_bytes}
    names = ("input", "weight", "output")
    limits = buffer_limits(hw)
    over = [k for k in names if need[k] > limits[names.index(k)]]
    wants = ", ".join(f"buffers.{k}_kib >= {math.ceil(need[k] / 1024)}" for k in over)
    raise ScheduleError(
        f"layer {layer.name!r}: even the smallest tile (one Poy x Pox x Pof block, one input channel) needs "
        + ", ".join(f"{need[k] / 1024:.1f} KiB of {k} buffer" for k in over)
        + f", hw {hw.name!r} has {', '.join(f'{limits[names.index(k)] // 1024} KiB' for k in over)}; set {wants}")


def schedule(net: Network, hw: HwConfig) -> list[EngineLayer]:
    """Return the engine's layer table of ``net`` on ``hw``: BN folded (a no-op on a folded network), nodes fused,
    tiles chosen — the same layers, with the same names, as the program ``cgap-export`` generates."""
    return [choose_tiles(layer, hw) for layer in fuse(fold_bn(net))]
