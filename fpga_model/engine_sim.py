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

from cgap.ir import Network
from fpga_model import dram
from fpga_model.cost import PIPELINE_DEPTH, TileCosts, layer_cycles, pingpong_cycles, tile_costs
from fpga_model.energy import layer_energy
from fpga_model.hw import HwConfig
from fpga_model.loopnest import EngineLayer, compute_iterations
from fpga_model.report import totals
from fpga_model.schedule import schedule

__all__ = ["PIPELINE_DEPTH", "LayerResult", "SimReport", "layer_cycles", "simulate", "simulate_layer", "tile_costs"]

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


def simulate_layer(layer: EngineLayer, hw: HwConfig, pipeline_depth: int = PIPELINE_DEPTH,
                   overlap: bool = True) -> LayerResult:
    """Return the :class:`LayerResult` of one scheduled (tiled) engine layer on ``hw``."""
    t = tile_costs(layer, hw, pipeline_depth)
    cycles = pingpong_cycles(t, hw, overlap)
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
