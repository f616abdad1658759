"""Cycle-level model of the generated engine (DESIGN.md §3): tiles, ping-pong, wide DRAM ports, buffers, energy.

Every cycle term here is one the generated C engine (``hls_templates/cgap_engine.h``) counts in
C-simulation, loop by loop, so ``verify.json`` can demand equality (``cycles_match``); each term is stated
once in ``fpga_model/SIMULATOR.md``.  Per engine layer from :func:`fpga_model.schedule.schedule` (whose loop
nest and ``compute_iterations`` are the contract):

* **Tiles** in loop order (output-channel tiles outer, output-row tiles inner; non-conv layers tile
  channels only).  Load stage of a tile: one burst for the weights and one for the biases of its Pof groups
  (first row tile of each channel tile), the input rows (``schedule.input_rows``; one burst per channel, or
  one for the tensor when the tile spans the whole height), the residual rows likewise.  Store stage: the
  (pooled) output rows, one burst per channel or one for the tile; with a fused pool each beat takes
  pkh·pkw cycles.  Beats come from the padded DRAM layout of :mod:`fpga_model.layout`; a burst costs
  :func:`fpga_model.dram.burst_cycles` (latency + beats).
* **Compute stage**: conv: one flattened II=1 loop per tile, ``blocks · max(steps, Poy·Pox) + Poy·Pox``
  iterations plus ``pipeline_depth`` (the write-out of a block overlaps the next block's MAC steps);
  pool: per block a window loop and a Pof·Poy·Pox write-out loop; gap: per Pof group one loop per block
  row and a Pof-long divide loop; add: one loop per (group, block row); each loop adds ``pipeline_depth``.
* **Ping-pong**: step s loads tile s, computes tile s-1 and stores tile s-2 on separate ports; the step
  takes max(load, compute, store, DRAM device time) (:func:`fpga_model.dram.device_cycles`).  Layers do
  not overlap each other.  ``overlap=False`` runs load, compute and store of each tile back to back.
* **DRAM bytes** are the beats moved times the port width (row padding and pad filters included);
  **energy** from :mod:`fpga_model.energy`; on-chip buffer bytes read/written from the same counts.

Not modelled: host start-up, the layer-table fetch, AXI-lite control, the final softmax, clock-domain
crossings, DRAM refresh beyond ``dram.efficiency`` and any overlap between consecutive layers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from cgap.ir import Network
from fpga_model import dram, layout
from fpga_model.energy import layer_energy
from fpga_model.hw import HwConfig
from fpga_model.report import totals
from fpga_model.schedule import EngineLayer, compute_iterations, input_rows, schedule, tiles

PIPELINE_DEPTH = 8
"""Fill cycles per start of a compute loop: buffer read 1 + DSP multiply 3 (A/B, M, P registers) + accumulate 1 +
adder/result registers 2 + write-back 1.  The generated engine counts CGAP_PIPELINE_DEPTH = this value; pass
``pipeline_depth=`` to :func:`simulate` to explore another (C-sim then no longer matches)."""


@dataclass(frozen=True)
class LayerResult:
    """Simulated cost of one engine layer. Cycles are accelerator cycles; bytes are per image."""

    name: str
    kind: str
    tiles: int
    pipeline_starts: int
    iterations: int
    compute_cycles: int
    cycles: int
    macs: int
    roofline_cycles: float
    dram_read_weight_bytes: int
    dram_read_act_bytes: int
    dram_write_bytes: int
    buffer_read_bytes: dict[str, int]
    buffer_write_bytes: dict[str, int]
    alu_ops: int
    energy_pj: dict[str, float] = field(default_factory=dict)

    @property
    def stall_cycles(self) -> int:
        """Return cycles the array waits for DRAM (cycles - compute_cycles)."""
        return self.cycles - self.compute_cycles

    @property
    def dram_read_bytes(self) -> int:
        """Return all DRAM bytes read (weights + activations)."""
        return self.dram_read_weight_bytes + self.dram_read_act_bytes


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
    v, vw = layout.act_lanes(hw), layout.weight_lanes(hw)
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
    inputs = (np.where(whole_in, nif, 1) * rows * (layout.row_pitch(nix, hw) // v), np.where(whole_in, 1, nif))
    whole_y = ty == noy
    res_beats = np.where(whole_y, tf, 1) * ty * (layout.row_pitch(nox, hw) // v)
    residual = (res_beats, np.where(whole_y, 1, tf) * bool(layer.residual))
    pkh, pkw = layer.pool_kernel
    out_beats = np.where(whole_y, tf, 1) * (ty // pkh) * (layout.row_pitch(layer.out_shape[2], hw) // v)
    out_bursts = np.where(whole_y, 1, tf)
    w_cycles, w_beats, w_miss = _bursts(hw, weights, biases)
    a_cycles, a_beats, a_miss = _bursts(hw, inputs, residual)
    store = out_bursts * (hw.dram.latency_cycles + out_beats * pkh * pkw)
    return TileCosts(w_cycles + a_cycles, _conv_compute(layer, hw, tf, ty, depth), store, w_beats, a_beats,
                     out_beats * out_bursts, w_miss + a_miss, dram.row_misses(out_beats, out_bursts, hw),
                     np.ones_like(tf), tf * ty * nox)


def _flat_compute(layer: EngineLayer, hw: HwConfig, tf: np.ndarray, depth: int) -> tuple[np.ndarray, np.ndarray]:
    """Return per tile (compute cycles, loop starts) of a pool / gap / add tile (module doc)."""
    groups = _cdiv(tf, hw.pof)
    _, niy, nix = layer.in_shape
    _, oh, ow = layer.out_shape
    if layer.kind == "pool":
        blocks = groups * _cdiv(oh, hw.poy) * _cdiv(ow, hw.pox)
        window = layer.kernel[0] * layer.kernel[1]
        return blocks * (2 * depth + window + hw.macs), 2 * blocks
    if layer.kind == "gap":
        rows = _cdiv(niy, hw.poy)
        return groups * (rows * (depth + _cdiv(nix, hw.pox)) + depth + hw.pof), groups * (rows + 1)
    rows = groups * _cdiv(oh, hw.poy)
    return rows * (depth + _cdiv(ow, hw.pox)), rows


def _flat_tiles(layer: EngineLayer, hw: HwConfig, depth: int) -> TileCosts:
    c, oh, ow = layer.out_shape
    _, niy, nix = layer.in_shape
    v = layout.act_lanes(hw)
    tf = np.array(tiles(c, layer.tof))
    one = np.ones_like(tf)
    operands = 2 if layer.kind == "add" else 1
    in_beats = tf * niy * (layout.row_pitch(nix, hw) // v)
    out_beats = tf * oh * (layout.row_pitch(ow, hw) // v)
    a_cycles, a_beats, a_miss = _bursts(hw, (in_beats, one * operands))
    compute, starts = _flat_compute(layer, hw, tf, depth)
    return TileCosts(a_cycles, compute, dram.burst_cycles(out_beats, one, hw), 0 * tf, a_beats, out_beats,
                     a_miss, dram.row_misses(out_beats, one, hw), starts, tf * oh * ow)


def _steps(per_tile: np.ndarray, shift: int, steps: int) -> np.ndarray:
    """Return a per-tile array placed at tile steps ``shift .. shift+T-1`` of ``steps`` (zeros elsewhere)."""
    out = np.zeros(steps, dtype=np.int64)
    out[shift:shift + len(per_tile)] = per_tile
    return out


def _pingpong(t: TileCosts, hw: HwConfig, overlap: bool) -> int:
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


def _buffers(layer: EngineLayer, hw: HwConfig, t: TileCosts, iters: int) -> tuple[dict, dict, int]:
    """Return (buffer read bytes, buffer write bytes, element-wise ALU ops) of a layer.

    Loads write every word of their beats' useful lanes; the MAC array reads Pox·Poy input and Pof weight
    words per step; the write-out writes (and a residual adds) each conv output once; stores read it back.
    """
    act, wgt, beat = hw.act_bits // 8, hw.weight_bits // 8, dram.port_bytes(hw)
    produced = int(t.useful_out.sum())
    if layer.kind == "conv":
        res = produced * act if layer.residual else 0
        input_written = int(t.act_read_beats.sum()) * beat - res
        reads = {"input": iters * hw.pox * hw.poy * act, "weight": iters * hw.pof * wgt, "output": produced * act + res}
        writes = {"input": input_written, "weight": int(t.weight_beats.sum()) * beat, "output": produced * act + res}
        ops_per = 1 + bool(layer.residual) + layer.relu + (layer.pool is not None)
        return reads, writes, produced * ops_per
    operands = 2 if layer.kind == "add" else 1
    reads = {"input": iters * hw.macs * act * operands, "weight": 0, "output": produced * act}
    writes = {"input": int(t.act_read_beats.sum()) * beat, "weight": 0, "output": produced * act}
    return reads, writes, iters * hw.macs * operands


def tile_costs(layer: EngineLayer, hw: HwConfig, pipeline_depth: int = PIPELINE_DEPTH) -> TileCosts:
    """Return the per-tile stage cycles, beats and row misses of a scheduled layer (module doc)."""
    if layer.kind == "conv":
        return _conv_tiles(layer, hw, pipeline_depth)
    return _flat_tiles(layer, hw, pipeline_depth)


def simulate_layer(layer: EngineLayer, hw: HwConfig, pipeline_depth: int = PIPELINE_DEPTH,
                   overlap: bool = True) -> LayerResult:
    """Return the :class:`LayerResult` of one scheduled (tiled) engine layer on ``hw``."""
    t = tile_costs(layer, hw, pipeline_depth)
    cycles = _pingpong(t, hw, overlap)
    iters = compute_iterations(layer, hw)
    beat = dram.port_bytes(hw)
    w_bytes, a_bytes = int(t.weight_beats.sum()) * beat, int(t.act_read_beats.sum()) * beat
    o_bytes = int(t.write_beats.sum()) * beat
    roofline = max(layer.macs / hw.macs, (w_bytes + a_bytes + o_bytes) / dram.bytes_per_cycle(hw))
    reads, writes, alu = _buffers(layer, hw, t, iters)
    energy = layer_energy(hw, dram_bytes=w_bytes + a_bytes + o_bytes,
                          buffer_bytes={k: reads[k] + writes[k] for k in reads}, macs=layer.macs,
                          alu_ops=alu, cycles=cycles)
    return LayerResult(layer.name, layer.kind, len(t.load), int(t.loop_starts.sum()), iters, int(t.compute.sum()),
                       cycles, layer.macs, roofline, w_bytes, a_bytes, o_bytes, reads, writes, alu, energy)


def simulate(net: Network | Sequence[EngineLayer], hw: HwConfig, pipeline_depth: int = PIPELINE_DEPTH,
             overlap: bool = True) -> SimReport:
    """Return the :class:`SimReport` of ``net`` (a Network, or its already scheduled layers) on ``hw``.

    ``overlap=False`` runs each tile's load, compute and store back to back (no ping-pong).
    """
    layers = schedule(net, hw) if isinstance(net, Network) else list(net)
    name = net.name if isinstance(net, Network) else "layers"
    return SimReport(name, hw, [simulate_layer(layer, hw, pipeline_depth, overlap) for layer in layers])


@dataclass(frozen=True)
class SimReport:
    """Per-layer results of one network on one HwConfig; :meth:`total` sums them."""

    network: str
    hw: HwConfig
    layers: list[LayerResult]

    def total(self) -> dict:
        """Return network totals: cycles, latency, compute/stall cycles, MACs, DRAM bytes, GOPS, energy."""
        return totals(self)
