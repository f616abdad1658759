"""The engine's cost model: per tile of a scheduled layer, the cycles of its load, compute and store stages, the
beats each port moves and the DRAM rows opened, and the layer's cycles through the ping-pong.

Every term is one the generated C engine (``hls_templates/cgap_engine.h``) counts in C-simulation, loop by
loop, so ``verify.json`` can demand equality (``cycles_match``); each is stated once in
``fpga_model/SIMULATOR.md`` and pinned by hand in ``tests/test_sim_terms.py``.  The tile chooser
(:func:`fpga_model.schedule.choose_tiles`) and the simulator (:mod:`fpga_model.engine_sim`) both read it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from fpga_model import dram, layout
from fpga_model.hw import HwConfig
from fpga_model.loopnest import EngineLayer, element_steps, input_cols, input_rows, tiles

PIPELINE_DEPTH = 8
"""Fill cycles per start of a compute loop: buffer read 1 + DSP multiply 3 (A/B, M, P registers) + accumulate 1 +
adder/result registers 2 + write-back 1.  The generated engine counts CGAP_PIPELINE_DEPTH = this value; pass
``pipeline_depth=`` to :func:`fpga_model.engine_sim.simulate` to explore another (C-sim then no longer matches)."""


@dataclass(frozen=True)
class TileCosts:
    """Per-tile arrays of one layer (index = tile in loop order): stage cycles, beats per port, row misses."""

    load: np.ndarray
    compute: np.ndarray
    store: np.ndarray
    weight_beats: np.ndarray
    act_read_beats: np.ndarray
    write_beats: np.ndarray
    read_misses: np.ndarray
    write_misses: np.ndarray
    loop_starts: np.ndarray
    useful_out: np.ndarray       # output words the tile produces before any pool (buffer traffic)


def _cdiv(a, b):
    return -(-a // b)


def _bursts(hw: HwConfig, *transfers: tuple[np.ndarray, np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return (port cycles, beats, row misses) of (beats per burst, bursts) transfers, summed elementwise."""
    cycles = sum(dram.burst_cycles(b, n, hw) for b, n in transfers)
    beats = sum(b * n for b, n in transfers)
    misses = sum(dram.row_misses(b, n, hw) for b, n in transfers)
    return cycles, beats, misses


def _conv_compute(layer: EngineLayer, hw: HwConfig, tf: np.ndarray, ty: np.ndarray, tx: np.ndarray,
                  ti: np.ndarray, depth: int) -> np.ndarray:
    """Return per tile the flattened MAC + write-out loop's cycles (module doc): max(Tif*Nky*Nkx, Poy*Pox) a block."""
    steps = ti * layer.kernel[0] * layer.kernel[1]
    drain = hw.poy * hw.pox
    blocks = _cdiv(tf, hw.pof) * _cdiv(ty, hw.poy) * _cdiv(tx, hw.pox)
    return depth + blocks * np.maximum(steps, drain) + drain


@dataclass(frozen=True)
class ConvTiles:
    """The tiles of a conv layer in the engine's loop order (f, y, x outer to inner, input channels innermost):
    per tile its sizes, indices, whether it loads weights and whether it is the last input-channel tile."""

    tf: np.ndarray
    ty: np.ndarray
    tx: np.ndarray
    ti: np.ndarray
    y_index: np.ndarray
    x_index: np.ndarray
    x0: np.ndarray
    wload: np.ndarray
    last: np.ndarray


def _tile_sizes(layer: EngineLayer) -> list[np.ndarray]:
    """Return the tile sizes of a conv layer's four tiled dimensions (f, y, x, i), in loop order."""
    nof, noy, nox = layer.conv_out
    return [np.array(tiles(nof, layer.tof)), np.array(tiles(noy, layer.toy)),
            np.array(tiles(nox, layer.x_tile)), np.array(tiles(layer.in_shape[0], layer.i_tile))]


def conv_tiles(layer: EngineLayer, blocks: np.ndarray | None = None) -> ConvTiles:
    """Return the :class:`ConvTiles` of a tiled conv layer: all its tiles, or only those of the (f, y) tile
    indices in the rows of ``blocks`` (each block: its x and input-channel tiles, in loop order).

    Weights (and biases) are loaded by the first (y, x) tile of each output-channel tile when the input channels
    are not tiled, and by every tile when they are (a tile then uses one input-channel slice of the weights).
    """
    sizes = _tile_sizes(layer)
    if blocks is None:
        index = np.indices([len(s) for s in sizes]).reshape(4, -1)
    else:
        inner = np.indices([len(sizes[2]), len(sizes[3])]).reshape(2, -1)
        outer = np.repeat(np.asarray(blocks).reshape(-1, 2), inner.shape[1], axis=0).T
        index = np.concatenate([outer, np.tile(inner, len(outer[0]) // inner.shape[1])])
    tf, ty, tx, ti = (s[i] for s, i in zip(sizes, index, strict=True))
    wload = np.ones_like(tf, dtype=bool) if layer.split_channels else (index[1] == 0) & (index[2] == 0)
    return ConvTiles(tf, ty, tx, ti, index[1], index[2], index[2] * layer.x_tile, wload,
                     index[3] == len(sizes[3]) - 1)


def _row_span_beats(lo: np.ndarray, hi: np.ndarray, hw: HwConfig) -> np.ndarray:
    """Return the beats a row segment of words [lo, hi) touches (whole beats, rows padded to beats)."""
    v = layout.act_lanes(hw)
    return _cdiv(hi, v) - lo // v


def _fmap_bursts(channels: np.ndarray, rows: np.ndarray, row_beats: np.ndarray, whole_h: np.ndarray,
                 whole_w: bool) -> tuple[np.ndarray, np.ndarray]:
    """Return (beats per burst, bursts) of moving ``rows`` rows of ``channels`` channels of a feature map:
    one burst when whole planes, one per channel when whole rows, else one per row."""
    if not whole_w:
        return row_beats, channels * rows
    return np.where(whole_h, channels, 1) * rows * row_beats, np.where(whole_h, 1, channels)


def conv_transfers(layer: EngineLayer, hw: HwConfig, t: ConvTiles) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Return per tile of ``t`` (:func:`conv_tiles`) the (beats per burst, bursts) of each DRAM transfer of a conv
    layer: ``weights`` (one burst, or one per Pof group when the input channels are tiled), ``biases``, ``input``,
    ``residual`` and ``output`` (the last two on the last input-channel tile only).  A feature-map transfer is one burst of whole planes, one
    per channel of whole rows, or one per row of a column tile (the codegen's loop tripcounts read these too)."""
    nif, niy, _ = layer.in_shape
    nof, noy, nox = layer.conv_out
    vw = layout.weight_lanes(hw)
    whole_w = layer.x_tile >= nox
    groups = _cdiv(t.tf, hw.pof)
    kk = layer.kernel[0] * layer.kernel[1]
    wrow = layout.weight_row_words(hw) // vw
    wload = t.wload.astype(np.int64)
    last = t.last.astype(np.int64)
    if layer.split_channels:
        weights = (t.ti * kk * wrow, groups * wload)
    else:
        weights = (groups * nif * kk * wrow, wload)
    row_lo_hi = np.array(input_rows(layer))[t.y_index]
    col_lo_hi = np.array(input_cols(layer))[t.x_index]
    rows = row_lo_hi[:, 1] - row_lo_hi[:, 0]
    in_row = _row_span_beats(col_lo_hi[:, 0], col_lo_hi[:, 1], hw)
    whole_h = t.ty == noy
    res_row = _row_span_beats(t.x0, t.x0 + t.tx, hw) if not whole_w else 0 * t.tx + layout.row_beats(nox, hw)
    res_beats, res_bursts = _fmap_bursts(t.tf, t.ty, res_row, whole_h, whole_w)
    pkh, pkw = layer.pool_kernel
    out_row = (_row_span_beats(t.x0 // pkw, (t.x0 + t.tx) // pkw, hw) if not whole_w
               else 0 * t.tx + layout.row_beats(layer.out_shape[2], hw))
    out_beats, out_bursts = _fmap_bursts(t.tf, t.ty // pkh, out_row, whole_h, whole_w)
    return {"weights": weights, "biases": (groups * layout.bias_group_words(hw) // vw, wload),
            "input": _fmap_bursts(t.ti, rows, in_row, rows == niy, whole_w),
            "residual": (res_beats, res_bursts * last * bool(layer.residual)),
            "output": (out_beats, out_bursts * last)}


def _conv_tiles(layer: EngineLayer, hw: HwConfig, depth: int, blocks: np.ndarray | None = None) -> TileCosts:
    t = conv_tiles(layer, blocks)
    x = conv_transfers(layer, hw, t)
    pkh, pkw = layer.pool_kernel
    out_beats, out_bursts = x["output"]
    w_cycles, w_beats, w_miss = _bursts(hw, x["weights"], x["biases"])
    a_cycles, a_beats, a_miss = _bursts(hw, x["input"], x["residual"])
    store = out_bursts * (hw.dram.latency_cycles + out_beats * pkh * pkw)
    return TileCosts(w_cycles + a_cycles, _conv_compute(layer, hw, t.tf, t.ty, t.tx, t.ti, depth), store, w_beats,
                     a_beats, out_beats * out_bursts, w_miss + a_miss, dram.row_misses(out_beats, out_bursts, hw),
                     np.ones_like(t.tf), t.tf * t.ty * t.tx * t.last)


def _flat_compute(layer: EngineLayer, hw: HwConfig, tf: np.ndarray, depth: int) -> tuple[np.ndarray, np.ndarray]:
    """Return per tile (compute cycles, loop starts) of a pool / gap / add tile on the V-lane element-wise unit:
    one II=1 loop per tile over the output beats times the pool window (pool), or over the input beats (gap,
    add), plus its fill."""
    return depth + element_steps(layer, hw, tf), np.ones_like(tf)


def _flat_tiles(layer: EngineLayer, hw: HwConfig, depth: int) -> TileCosts:
    c, oh, ow = layer.out_shape
    _, niy, nix = layer.in_shape
    tf = np.array(tiles(c, layer.tof))
    one = np.ones_like(tf)
    operands = 2 if layer.kind == "add" else 1
    in_beats = tf * niy * layout.row_beats(nix, hw)
    out_beats = tf * oh * layout.row_beats(ow, hw)
    a_cycles, a_beats, a_miss = _bursts(hw, (in_beats, one * operands))
    compute, starts = _flat_compute(layer, hw, tf, depth)
    return TileCosts(a_cycles, compute, dram.burst_cycles(out_beats, one, hw), 0 * tf, a_beats, out_beats,
                     a_miss, dram.row_misses(out_beats, one, hw), starts, tf * oh * ow)


def _steps(per_tile: np.ndarray, shift: int, steps: int) -> np.ndarray:
    """Return a per-tile array placed at tile steps ``shift .. shift+T-1`` of ``steps`` (zeros elsewhere)."""
    out = np.zeros(steps, dtype=np.int64)
    out[shift:shift + len(per_tile)] = per_tile
    return out


def pingpong_cycles(t: TileCosts, hw: HwConfig, overlap: bool = True) -> int:
    """Return the layer's cycles: tile steps of max(load, compute, store, device), or tiles back to back."""
    reads = t.weight_beats + t.act_read_beats
    if not overlap:
        device_r = dram.device_cycles(reads, 0 * reads, t.read_misses, hw)
        device_w = dram.device_cycles(0 * reads, t.write_beats, t.write_misses, hw)
        turn = ((reads > 0) & (t.write_beats > 0)) * 2 * dram.turnaround_cycles(hw)
        return int((np.maximum(t.load, device_r) + t.compute + np.maximum(t.store, device_w) + turn).sum())
    n = len(t.load) + 2
    device = dram.device_cycles(_steps(reads, 0, n), _steps(t.write_beats, 2, n),
                                _steps(t.read_misses, 0, n) + _steps(t.write_misses, 2, n), hw)
    stages = np.maximum.reduce([_steps(t.load, 0, n), _steps(t.compute, 1, n), _steps(t.store, 2, n), device])
    return int(stages.sum())


def tile_costs(layer: EngineLayer, hw: HwConfig, pipeline_depth: int = PIPELINE_DEPTH) -> TileCosts:
    """Return the per-tile stage cycles, beats and row misses of a scheduled layer (module doc)."""
    if layer.kind == "conv":
        return _conv_tiles(layer, hw, pipeline_depth)
    return _flat_tiles(layer, hw, pipeline_depth)


def layer_cycles(layer: EngineLayer, hw: HwConfig, pipeline_depth: int = PIPELINE_DEPTH, overlap: bool = True) -> int:
    """Return the cycles of one tiled layer: tile steps of max(load, compute, store, DRAM device time)."""
    return pingpong_cycles(tile_costs(layer, hw, pipeline_depth), hw, overlap)


# ------------------------------------------------------------------------------- the same sum, compressed

def _steps_at(t: TileCosts, hw: HwConfig, load: np.ndarray, compute: np.ndarray, store: np.ndarray) -> int:
    """Return the summed cycles of ping-pong steps where step k loads tile load[k], computes compute[k] and
    stores store[k] of ``t`` (index arrays of equal length)."""
    reads = t.weight_beats[load] + t.act_read_beats[load]
    device = dram.device_cycles(reads, t.write_beats[store], t.read_misses[load] + t.write_misses[store], hw)
    return int(np.maximum.reduce([t.load[load], t.compute[compute], t.store[store], device]).sum())


def _block_classes(layer: EngineLayer) -> tuple[np.ndarray, np.ndarray]:
    """Return (class of every (f, y) tile block in loop order, one representative (f, y) per class): blocks of the
    same output-channel tile size, row tile size, input rows and first-row flag cost the same."""
    sizes = _tile_sizes(layer)
    rows = np.array([hi - lo for lo, hi in input_rows(layer)])
    f_key = np.unique(sizes[0], return_inverse=True)[1].reshape(-1)
    y_feat = np.stack([sizes[1], rows, np.arange(len(rows)) == 0], axis=1)
    y_key = np.unique(y_feat, axis=0, return_inverse=True)[1].reshape(-1)
    keys = (f_key[:, None] * (y_key.max() + 1) + y_key[None, :]).reshape(-1)
    classes, first, inverse = np.unique(keys, return_index=True, return_inverse=True)
    fy = np.stack(np.unravel_index(first, (len(sizes[0]), len(sizes[1]))), axis=1)
    return inverse.reshape(-1), fy


def cycles_lower_bound(layer: EngineLayer, hw: HwConfig, least_beats: int,
                       pipeline_depth: int = PIPELINE_DEPTH) -> int:
    """Return a bound no tiling of ``layer`` (tiled as given) beats: the sum of its tiles' compute cycles (every
    ping-pong step is at least the compute of the tile it computes), or the DRAM device's time for
    ``least_beats`` (the beats of the one-tile tiling: any tiling moves at least those), whichever is larger.
    Separable sums over the tile sizes of each dimension: no per-tile arrays (the tile chooser's pruning)."""
    device = least_beats * dram.beat_cycles_x1024(hw) // 1024
    if layer.kind != "conv":
        return max(device, int(_flat_compute(layer, hw, np.array(tiles(layer.out_shape[0], layer.tof)),
                                             pipeline_depth)[0].sum()))
    f, y, x, i = _tile_sizes(layer)
    count = len(f) * len(y) * len(x) * len(i)
    blocks = int(_cdiv(f, hw.pof).sum() * _cdiv(y, hw.poy).sum() * _cdiv(x, hw.pox).sum())
    drain = hw.poy * hw.pox
    per_block = int(np.maximum(i * layer.kernel[0] * layer.kernel[1], drain).sum())
    return max(device, count * (pipeline_depth + drain) + blocks * per_block)


COMPRESS_ABOVE_TILES = 256
"""Layers with more tiles than this are summed per tile block by :func:`fast_layer_cycles` (fewer are cheaper
tile by tile)."""


def fast_layer_cycles(layer: EngineLayer, hw: HwConfig, pipeline_depth: int = PIPELINE_DEPTH,
                      compress_above: int = COMPRESS_ABOVE_TILES) -> tuple[int, int]:
    """Return (cycles, DRAM beats) of a tiled layer: exactly :func:`layer_cycles` and the beats of
    :func:`tile_costs`, computed per distinct (f, y) tile block rather than per tile.

    Blocks of the same class (:func:`_block_classes`) cost the same, and a ping-pong step involves three
    consecutive tiles, so the sum is: per block its steps inside it, per pair of consecutive blocks the two steps
    that straddle them, and the two drain steps after the last tile (the tile chooser's hot path; checked equal to
    the per-tile sum by a property test).
    """
    sizes = _tile_sizes(layer) if layer.kind == "conv" else []
    blocks = len(sizes[2]) * len(sizes[3]) if sizes else 1
    if not sizes or blocks < 2 or math.prod(len(s) for s in sizes) <= compress_above:
        t = tile_costs(layer, hw, pipeline_depth)
        return pingpong_cycles(t, hw), int((t.weight_beats + t.act_read_beats + t.write_beats).sum())
    sequence, reps = _block_classes(layer)
    n = blocks
    t = _conv_tiles(layer, hw, pipeline_depth, reps)
    z = TileCosts(*(np.concatenate([a, np.zeros(1, dtype=a.dtype)]) for a in
                    (t.load, t.compute, t.store, t.weight_beats, t.act_read_beats, t.write_beats, t.read_misses,
                     t.write_misses, t.loop_starts, t.useful_out)))
    none = len(t.load)                                     # the index of an all-zero tile: no tile
    counts = np.bincount(sequence, minlength=len(reps))
    o = np.arange(2, n)
    total = sum(int(counts[c]) * _steps_at(z, hw, c * n + o, c * n + o - 1, c * n + o - 2) for c in range(len(reps)))
    kinds, pair_counts = np.unique(np.stack([sequence[:-1], sequence[1:]], axis=1), axis=0, return_counts=True)
    for (p, c), k in zip(kinds, pair_counts, strict=True):
        p, c = int(p) * n, int(c) * n
        total += int(k) * _steps_at(z, hw, np.array([c, c + 1]), np.array([p + n - 1, c]), np.array([p + n - 2, p + n - 1]))
    first, last = int(sequence[0]) * n, int(sequence[-1]) * n
    total += _steps_at(z, hw, np.array([first, first + 1]), np.array([none, first]), np.array([none, none]))
    total += _steps_at(z, hw, np.array([none, none]), np.array([last + n - 1, none]), np.array([last + n - 2, last + n - 1]))
    beats = (t.weight_beats + t.act_read_beats + t.write_beats).reshape(len(reps), n).sum(axis=1)
    return total, int((beats * counts).sum())
