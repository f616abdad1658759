"""Cycle-level model of the generated engine (DESIGN.md §3): tiles, ping-pong DRAM overlap, buffers, energy.

What is modelled, per engine layer from :func:`fpga_model.schedule.schedule` (whose loop nest and
``compute_iterations`` are the contract; this module never re-derives them — it splits the exact
count over tiles and asserts the split sums back to ``compute_iterations``):

* **Tiles** in loop order (output-channel tiles outer, output-row tiles inner; non-conv layers tile
  channels only).  Per tile: DRAM reads of the input tile (rows from ``schedule.input_rows``: halo
  included, zero-padding rows made on chip; one contiguous segment per channel unless the tile spans
  the whole height), the weight tile + bias (``schedule.bias_words`` weight words per output channel, as
  the weight image stores it; first row tile of each channel tile), the residual tile;
  compute = the tile's II=1 iterations + ``pipeline_depth`` fill cycles per pipeline start + the
  block write-out, counted as the C engine (hls_templates/cgap_engine.h) runs its loops: a conv or
  pool restarts the II=1 pipeline for every Pof×Poy×Pox output block and writes the block out one
  output per cycle (see ``_starts_and_drain``); DRAM write of the (pooled) output tile.
* **Ping-pong overlap**: step s loads tile s and stores tile s-2 while computing tile s-1, all
  transfers sharing one DRAM port; the step takes max(compute, transfer).  So a layer costs
  load(0) + sum over tiles of max(compute, next load + previous store) + store(last).  Layers do not
  overlap each other (the next layer reads what this one wrote).  ``overlap=False`` models an
  engine without ping-pong (load, compute, store back to back per tile).
* **DRAM** timing from :mod:`fpga_model.dram`; **energy** from :mod:`fpga_model.energy`.
* **On-chip buffers**: bytes written (DRAM fills, accumulator drains) and read (per iteration the
  array reads Pox·Poy input words and Pof weight words; stores read the output tile).

Not modelled: the host/driver start-up, the layer-table fetch, AXI-lite control, the final softmax,
bank conflicts inside buffers, clock-domain crossings, DRAM refresh beyond ``dram.efficiency``,
and any overlap between consecutive layers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from cgap.ir import Network
from fpga_model import dram
from fpga_model.energy import layer_energy
from fpga_model.hw import HwConfig
from fpga_model.report import totals
from fpga_model.schedule import EngineLayer, bias_words, compute_iterations, input_rows, schedule, tiles

PIPELINE_DEPTH = 8
"""Fill/drain cycles per tile: buffer read 1 + DSP multiply 3 (A/B, M, P registers) + accumulate 1 +
adder/result registers 2 + write-back 1.  Pass ``pipeline_depth=`` to :func:`simulate` to change it."""


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
class _Tiles:
    """Per-tile arrays of one layer (index = tile in loop order)."""

    iters: np.ndarray
    reads: list[tuple[np.ndarray, np.ndarray]]      # (segment bytes, segment count)
    writes: list[tuple[np.ndarray, np.ndarray]]
    weight_bytes: np.ndarray
    act_read_bytes: np.ndarray
    write_bytes: np.ndarray
    out_elems: np.ndarray
    starts: np.ndarray
    drain: np.ndarray


def _split_iterations(layer: EngineLayer, hw: HwConfig, tf: np.ndarray, ty: np.ndarray) -> np.ndarray:
    """Return per-tile II=1 iterations, splitting ``compute_iterations`` exactly over the tile grid."""
    total = compute_iterations(layer, hw)
    lanes = -(-tf // hw.pof) * -(-ty // hw.poy)
    rest, rem = divmod(total, int(lanes.sum()))
    if rem:
        raise AssertionError(f"layer {layer.name!r}: tile split disagrees with schedule.compute_iterations")
    return lanes * rest


def _starts_and_drain(layer: EngineLayer, hw: HwConfig, tf: np.ndarray, ty: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return per tile (pipeline starts, drain cycles) of the C engine's loops (hls_templates/cgap_engine.h).

    conv/pool: the II=1 pipeline restarts for every (of, oy, ox) block, whose Pof·Poy·Pox outputs are then
    written out one per cycle; gap: one start per (of, input block row) and Pof divide cycles per of;
    add: one start per (of, oy) block row, no drain.
    """
    fb = -(-tf // hw.pof)
    if layer.kind in ("conv", "pool"):
        _, oh, ow = layer.conv_out if layer.kind == "conv" else layer.out_shape
        rows = ty if layer.kind == "conv" else oh
        blocks = fb * -(-rows // hw.poy) * -(-ow // hw.pox)
        return blocks, blocks * hw.macs
    if layer.kind == "gap":
        return fb * -(-layer.in_shape[1] // hw.poy), fb * hw.pof
    return fb * -(-layer.out_shape[1] // hw.poy), 0 * fb


def _conv_tiles(layer: EngineLayer, hw: HwConfig) -> _Tiles:
    act, wgt = hw.act_bits // 8, hw.weight_bits // 8
    nif, niy, nix = layer.in_shape
    nof, noy, nox = layer.conv_out
    f_sizes, y_sizes = np.array(tiles(nof, layer.tof)), np.array(tiles(noy, layer.toy))
    nf, ny = len(f_sizes), len(y_sizes)
    tf, ty = np.repeat(f_sizes, ny), np.tile(y_sizes, nf)
    rows = np.tile(np.array([hi - lo for lo, hi in input_rows(layer)]), nf)
    in_full = rows == niy
    in_seg = np.where(in_full, nif * rows * nix * act, rows * nix * act)
    in_cnt = np.where(in_full, 1, nif)
    first = np.tile(np.arange(ny) == 0, nf)
    w_bytes = first * tf * (nif * layer.kernel[0] * layer.kernel[1] + bias_words(hw)) * wgt
    full_y = ty == noy
    res_seg = np.where(full_y, tf * ty * nox * act, ty * nox * act) if layer.residual else np.zeros_like(tf)
    res_cnt = np.where(full_y, 1, tf)
    pk = layer.pool_kernel
    out_seg = np.where(full_y, tf * ty * nox, ty * nox) // (pk[0] * pk[1]) * act
    reads = [(in_seg, in_cnt), (w_bytes, np.ones_like(tf)), (res_seg, res_cnt)]
    act_read = in_seg * in_cnt + res_seg * res_cnt
    return _Tiles(_split_iterations(layer, hw, tf, ty), reads, [(out_seg, res_cnt)], w_bytes, act_read,
                  out_seg * res_cnt, tf * ty * nox, *_starts_and_drain(layer, hw, tf, ty))


def _flat_tiles(layer: EngineLayer, hw: HwConfig) -> _Tiles:
    act = hw.act_bits // 8
    c, oh, ow = layer.out_shape
    _, niy, nix = layer.in_shape
    tf = np.array(tiles(c, layer.tof))
    one = np.ones_like(tf)
    operands = 2 if layer.kind == "add" else 1
    in_seg = tf * niy * nix * act
    reads = [(in_seg, one * operands)]
    out_seg = tf * oh * ow * act
    return _Tiles(_split_iterations(layer, hw, tf, one), reads, [(out_seg, one)], 0 * tf, in_seg * operands,
                  out_seg, tf * oh * ow, *_starts_and_drain(layer, hw, tf, one))


def _shifted(pairs: list[tuple[np.ndarray, np.ndarray]], shift: int, steps: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Return transfer arrays placed at steps ``shift .. shift+T-1`` of ``steps`` (zeros elsewhere)."""
    out = []
    for seg, cnt in pairs:
        s, n = np.zeros(steps, dtype=np.int64), np.zeros(steps, dtype=np.int64)
        s[shift:shift + len(seg)], n[shift:shift + len(seg)] = seg, cnt
        out.append((s, n))
    return out


def _pingpong(t: _Tiles, hw: HwConfig, depth: int, overlap: bool) -> tuple[int, int]:
    """Return (layer cycles, compute cycles) of the tile pipeline: double-buffered, or sequential (module doc)."""
    n = len(t.iters)
    compute = np.zeros(n + 2, dtype=np.int64)
    compute[1:n + 1] = t.iters + depth * t.starts + t.drain
    if not overlap:
        loads = dram.step_cycles(t.reads, [(0 * s, 0 * c) for s, c in t.writes], hw)
        stores = dram.step_cycles([(0 * s, 0 * c) for s, c in t.reads], t.writes, hw)
        return int(loads.sum() + compute.sum() + stores.sum()), int(compute.sum())
    transfer = dram.step_cycles(_shifted(t.reads, 0, n + 2), _shifted(t.writes, 2, n + 2), hw)
    return int(np.maximum(compute, transfer).sum()), int(compute.sum())


def _buffers(layer: EngineLayer, hw: HwConfig, t: _Tiles, iters: int) -> tuple[dict, dict, int]:
    """Return (buffer read bytes, buffer write bytes, element-wise ALU ops) of a layer."""
    act, wgt = hw.act_bits // 8, hw.weight_bits // 8
    out_bytes = int(t.write_bytes.sum())
    if layer.kind == "conv":
        res = int(t.act_read_bytes.sum()) - int((t.reads[0][0] * t.reads[0][1]).sum())
        conv_out = int(t.out_elems.sum())
        reads = {"input": iters * hw.pox * hw.poy * act, "weight": iters * hw.pof * wgt,
                 "output": conv_out * act + res}
        writes = {"input": int(t.act_read_bytes.sum()) - res, "weight": int(t.weight_bytes.sum()),
                  "output": conv_out * act + res}
        ops_per = 1 + bool(layer.residual) + layer.relu + (layer.pool is not None)
        return reads, writes, conv_out * ops_per
    operands = 2 if layer.kind == "add" else 1
    reads = {"input": iters * hw.macs * act * operands, "weight": 0, "output": out_bytes}
    writes = {"input": int(t.act_read_bytes.sum()), "weight": 0, "output": out_bytes}
    return reads, writes, iters * hw.macs * operands


def simulate_layer(layer: EngineLayer, hw: HwConfig, pipeline_depth: int = PIPELINE_DEPTH,
                   overlap: bool = True) -> LayerResult:
    """Return the :class:`LayerResult` of one scheduled (tiled) engine layer on ``hw``."""
    t = _conv_tiles(layer, hw) if layer.kind == "conv" else _flat_tiles(layer, hw)
    cycles, compute = _pingpong(t, hw, pipeline_depth, overlap)
    iters = int(t.iters.sum())
    w_bytes, a_bytes, o_bytes = int(t.weight_bytes.sum()), int(t.act_read_bytes.sum()), int(t.write_bytes.sum())
    roofline = max(layer.macs / hw.macs, (w_bytes + a_bytes + o_bytes) / dram.bytes_per_cycle(hw))
    reads, writes, alu = _buffers(layer, hw, t, iters)
    energy = layer_energy(hw, dram_bytes=w_bytes + a_bytes + o_bytes,
                          buffer_bytes={k: reads[k] + writes[k] for k in reads}, macs=layer.macs,
                          alu_ops=alu, cycles=cycles)
    return LayerResult(layer.name, layer.kind, len(t.iters), int(t.starts.sum()), iters, compute, cycles,
                       layer.macs, roofline,
                       w_bytes, a_bytes, o_bytes, reads, writes, alu, energy)


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
