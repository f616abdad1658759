"""The engine simulator: per scheduled layer, cycles, DRAM bytes, on-chip buffer traffic and energy.

The cycles and DRAM beats come from :mod:`fpga_model.cost` — the terms the generated engine counts in
C-simulation, listed once in ``fpga_model/SIMULATOR.md``; this module adds what a report needs on top of
them: DRAM bytes (beats x port width, row padding included), buffer bytes (loads write the useful words of
their beats; the MAC array reads Pox·Poy input and Pof weight words per step; the write-out writes, and a
residual adds, each conv output once; stores read it back), the roofline bound and the energy breakdown of
:mod:`fpga_model.energy`.

Not modelled: host start-up, the layer-table fetch, AXI-lite control, the final softmax, clock-domain
crossings, DRAM refresh beyond ``dram.efficiency`` and any overlap between consecutive layers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from cgap_ir import Network
from fpga_model import dram
from fpga_model.cost import PIPELINE_DEPTH, TileCosts, layer_cycles, pingpong_cycles, tile_costs
from fpga_model.energy import layer_energy
from fpga_model.engine_program import EngineProgram, ProgramError
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


def roofline_cycles(macs: int, port_bytes: tuple[int, int, int], hw: HwConfig) -> float:
    """Return the cycles no schedule beats: the MAC array's (MACs / Pox·Poy·Pof), the busiest m_axi port's (its
    bytes at one beat a cycle; weights, feature-map reads and writes each have a port) and the DRAM device's
    (all bytes at the sustained bandwidth)."""
    device = sum(port_bytes) / dram.device_bytes_per_cycle(hw)
    return max(macs / hw.macs, max(port_bytes) / dram.port_bytes(hw), device)


def simulate_layer(layer: EngineLayer, hw: HwConfig, pipeline_depth: int = PIPELINE_DEPTH,
                   overlap: bool = True) -> LayerResult:
    """Return the :class:`LayerResult` of one scheduled (tiled) engine layer on ``hw``."""
    t = tile_costs(layer, hw, pipeline_depth)
    cycles = pingpong_cycles(t, hw, overlap)
    iters = compute_iterations(layer, hw)
    beat = dram.port_bytes(hw)
    w_bytes, a_bytes = int(t.weight_beats.sum()) * beat, int(t.act_read_beats.sum()) * beat
    o_bytes = int(t.write_beats.sum()) * beat
    roofline = roofline_cycles(layer.macs, (w_bytes, a_bytes, o_bytes), hw)
    reads, writes, alu = _buffers(layer, hw, t, iters)
    energy = layer_energy(hw, dram_bytes=w_bytes + a_bytes + o_bytes,
                          buffer_bytes={k: reads[k] + writes[k] for k in reads}, macs=layer.macs,
                          alu_ops=alu, cycles=cycles)
    return LayerResult(layer.name, layer.kind, len(t.load), int(t.loop_starts.sum()), iters, int(t.compute.sum()),
                       cycles, layer.macs, roofline, w_bytes, a_bytes, o_bytes, reads, writes, alu, energy)


def simulate(source: Network | EngineProgram | Sequence[EngineLayer], hw: HwConfig | None = None,
             pipeline_depth: int = PIPELINE_DEPTH, overlap: bool = True) -> SimReport:
    """Return the :class:`SimReport` of a network (scheduled on ``hw``: BN folded, fused, tiled), of an engine
    program (on its own hw: exactly the project it was generated into), or of already scheduled layers on ``hw``.

    ``overlap=False`` runs each tile's load, compute and store back to back (no ping-pong).
    """
    if isinstance(source, EngineProgram):
        if hw is not None and hw != source.hw:
            raise ProgramError(f"program {source.name!r} was tiled for hw {source.hw.name!r}, not {hw.name!r}: "
                               "simulate it on its own hw, or lower the network again")
        hw, layers, name = source.hw, source.engine_layers, source.name
    elif hw is None:
        raise TypeError("simulate needs a hw for a network or a list of layers")
    elif isinstance(source, Network):
        layers, name = schedule(source, hw), source.name
    else:
        layers, name = list(source), "layers"
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
