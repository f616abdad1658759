"""The engine's cost model: per tile of a scheduled layer, the cycles of its load, compute and store stages, the
beats each port moves and the DRAM rows opened, and the layer's cycles through the ping-pong.

Every term is one the generated C engine (``hls_templates/cgap_engine.h``) counts in C-simulation, loop by
loop, so ``verify.json`` can demand equality (``cycles_match``); each is stated once in
``fpga_model/SIMULATOR.md`` and pinned by hand in ``tests/test_sim_terms.py``.  The tile chooser
(:func:`fpga_model.schedule.choose_tiles`) and the simulator (:mod:`fpga_model.engine_sim`) both read it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fpga_model import dram, layout
from fpga_model.hw import HwConfig
from fpga_model.loopnest import EngineLayer, element_steps, input_rows, tiles

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


def _conv_compute(layer: EngineLayer, hw: HwConfig, tf: np.ndarray, ty: np.ndarray, depth: int) -> np.ndarray:
    """Return per tile the flattened MAC + write-out loop's cycles (module doc)."""
    steps = layer.in_shape[0] * layer.kernel[0] * layer.kernel[1]
    drain = hw.poy * hw.pox
    blocks = _cdiv(tf, hw.pof) * _cdiv(ty, hw.poy) * _cdiv(layer.conv_out[2], hw.pox)
    return depth + blocks * max(steps, drain) + drain


def _conv_tiles(layer: EngineLayer, hw: HwConfig, depth: int) -> TileCosts:
    nif, niy, nix = layer.in_shape
    nof, noy, nox = layer.conv_out
    vw = layout.weight_lanes(hw)
    f_sizes, y_sizes = np.array(tiles(nof, layer.tof)), np.array(tiles(noy, layer.toy))
    nf, ny = len(f_sizes), len(y_sizes)
    tf, ty = np.repeat(f_sizes, ny), np.tile(y_sizes, nf)
    first = np.tile(np.arange(ny) == 0, nf).astype(np.int64)
    groups = _cdiv(tf, hw.pof)
    steps = nif * layer.kernel[0] * layer.kernel[1]
    weights = (groups * layout.weight_group_words(steps, hw) // vw, first)
    biases = (groups * layout.bias_group_words(hw) // vw, first)
    rows = np.tile(np.array([hi - lo for lo, hi in input_rows(layer)]), nf)
    whole_in = rows == niy
    inputs = (np.where(whole_in, nif, 1) * rows * layout.row_beats(nix, hw), np.where(whole_in, 1, nif))
    whole_y = ty == noy
    res_beats = np.where(whole_y, tf, 1) * ty * layout.row_beats(nox, hw)
    residual = (res_beats, np.where(whole_y, 1, tf) * bool(layer.residual))
    pkh, pkw = layer.pool_kernel
    out_beats = np.where(whole_y, tf, 1) * (ty // pkh) * layout.row_beats(layer.out_shape[2], hw)
    out_bursts = np.where(whole_y, 1, tf)
    w_cycles, w_beats, w_miss = _bursts(hw, weights, biases)
    a_cycles, a_beats, a_miss = _bursts(hw, inputs, residual)
    store = out_bursts * (hw.dram.latency_cycles + out_beats * pkh * pkw)
    return TileCosts(w_cycles + a_cycles, _conv_compute(layer, hw, tf, ty, depth), store, w_beats, a_beats,
                     out_beats * out_bursts, w_miss + a_miss, dram.row_misses(out_beats, out_bursts, hw),
                     np.ones_like(tf), tf * ty * nox)


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
