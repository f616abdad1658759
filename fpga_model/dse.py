"""Design-space exploration: the best engine (Pox, Poy, Pof, buffer split, bit width) for a network on a device.

The grid (:func:`default_grid`): bit widths {8, 16} (act = weight; acc 32 / 48 bits); Pox and Poy from
the powers of two and the divisors of the network's output widths/heights (up to the largest); Pof
likewise over output channels; each of the three ping-pong buffers a power of two KiB from
``MIN_BUFFER_KIB`` up to the first size that holds the whole largest layer (a bigger buffer
changes no tile choice, so it only costs BRAM and SRAM energy: dominated), every other one (4x apart) when
that is more than :data:`MAX_BUFFER_SIZES` sizes.  Array shapes that cannot fit whatever their buffers
(:func:`shape_floor`: DSPs, logic LUTs and FFs) are left out, so are buffer splits over the device's
:func:`storage_bits`; every remaining (array, buffers) point is evaluated — or, for grids over
:data:`FRONT_GRID_LIMIT` designs (ImageNet networks), every point of the array shapes whose bound on the
objective is not beaten by a design already found (the best design is the same; the fronts are partial).

Resources: one model with ``cgap-export``.  Each design is costed by ``resources.estimate`` of the engine
its own tiles compile to (``fpga_model.geometry``: bank counts from the network's strides and the array,
bank depths the maximum of each layer's chosen tiling), so a design fits here exactly when its generated
project fits by the export's estimate; ``_design`` re-derives the estimate from ``schedule.choose_tiles`` for
every reported design and asserts equality.

Evaluation is exact with respect to the simulator, only organised to be fast (pruned-exhaustive):

* the network is fused once; identical engine layers (same shapes and options) are costed once
  and weighted by their count (ResNet-110: 113 engine layers, 15 distinct);
* per array shape and distinct layer, the chooser's own ``schedule.TilingTable`` (candidate (toy, tof, tox,
  tif) tilings, their buffer needs, memoised preference keys) answers which tiling ``schedule.choose_tiles``
  takes at every buffer triple of the grid; the triples' geometries are the maxima of the chosen tilings' bank
  depths (``geometry.layer_depths``, plus whether any layer keeps partial sums), each distinct one estimated once;
* each chosen (layer, tiling) is simulated once with ``engine_sim.simulate_layer`` (memoised);
  its cycles do not depend on buffer sizes, and the SRAM part of its energy is re-priced per
  buffer size with ``energy.sram_pj_per_64bit`` exactly as ``energy.layer_energy`` does;
* the chosen design is re-simulated end to end with ``engine_sim.simulate(net, hw)`` and must
  reproduce the table's cycles and energy (an internal check, not a tolerance).

Objectives: ``latency`` (us), ``energy`` (uJ per inference) and ``edp`` (uJ x ms).  Ties break on
fewer DSPs, then fewer BRAMs, then latency.  Pareto fronts: latency vs DSP blocks and latency vs
energy, over all evaluated designs that fit the device.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import time
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from multiprocessing import get_context
from typing import NoReturn

import numpy as np

from cgap_ir import Network
from cgap_ir.errors import CgapError
from fpga_model import dram
from fpga_model import resources as res
from fpga_model.devices import Device
from fpga_model.energy import mac_pj, sram_pj_per_64bit
from fpga_model.engine_sim import simulate, simulate_layer
from fpga_model.geometry import DEPTH_KEYS, bank_counts, compiled_kinds, divider_bits, layer_depths
from fpga_model.hw import DRAM_PJ_PER_BIT, MAX_MACS, EnergyConfig, HwConfig
from fpga_model.report import totals
from fpga_model.schedule import (
    EngineLayer,
    Tiling,
    TilingTable,
    buffer_use,
    choose_tiles,
    compute_iterations,
    fuse,
    tiling_table,
    with_tiling,
)

OBJECTIVES = ("latency", "energy", "edp")
MIN_BUFFER_KIB = 4
_NONE = np.iinfo(np.int32).max
_BUFFERS = ("input", "weight", "output")


class DseError(CgapError):
    """No design of the grid can run the network on the device (or a bad DSE option)."""


@dataclass(frozen=True)
class Grid:
    """The searched values: array dims, bit widths and per-buffer sizes in KiB (ascending)."""

    pox: tuple[int, ...]
    poy: tuple[int, ...]
    pof: tuple[int, ...]
    bits: tuple[int, ...]
    input_kib: tuple[int, ...]
    weight_kib: tuple[int, ...]
    output_kib: tuple[int, ...]

    def buffer_sizes(self) -> tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]]:
        """Return the (input, weight, output) buffer size lists in KiB."""
        return self.input_kib, self.weight_kib, self.output_kib

    def size(self) -> int:
        """Return the number of grid points (before the DSP filter)."""
        return math.prod(len(v) for v in dataclasses.asdict(self).values())


@dataclass(frozen=True)
class Design:
    """One evaluated accelerator: its HwConfig, predicted cost and resource estimate."""

    hw: HwConfig
    cycles: int
    latency_us: float
    energy_uj: float
    resources: res.ResourceReport

    @property
    def edp(self) -> float:
        """Return the energy-delay product in uJ x ms."""
        return self.energy_uj * self.latency_us / 1000.0

    def to_dict(self) -> dict:
        """Return a JSON-ready dict of the design (array, bits, buffers, cost, resources)."""
        hw = self.hw
        return {"pox": hw.pox, "poy": hw.poy, "pof": hw.pof, "macs": hw.macs, "bits": hw.act_bits,
                "input_kib": hw.input_buffer_kib, "weight_kib": hw.weight_buffer_kib,
                "output_kib": hw.output_buffer_kib, "cycles": self.cycles, "latency_us": self.latency_us,
                "energy_uj": self.energy_uj, "edp_uj_ms": self.edp, "resources": self.resources.to_dict()}


@dataclass
class DseResult:
    """Outcome of :func:`explore`: the best design, Pareto fronts and search statistics."""

    network: str
    device: str
    objective: str
    best: Design
    front_dsp: list[Design]
    front_energy: list[Design]
    stats: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        """Return a JSON-ready dict: network, device, objective, best, pareto {latency_dsp, latency_energy}, stats."""
        return {"network": self.network, "device": self.device, "objective": self.objective,
                "best": self.best.to_dict(),
                "pareto": {"latency_dsp": [d.to_dict() for d in self.front_dsp],
                           "latency_energy": [d.to_dict() for d in self.front_energy]},
                "stats": dict(self.stats)}


# ------------------------------------------------------------------------------------------ the grid

def _divisor_grid(values: set[int]) -> tuple[int, ...]:
    """Return powers of two and divisors of ``values``, up to max(values), ascending."""
    top = max(values)
    out = {1 << k for k in range(top.bit_length()) if 1 << k <= top}
    for v in values:
        out |= {d for d in range(1, v + 1) if v % d == 0}
    return tuple(sorted(out))


MAX_BUFFER_SIZES = 8
"""Buffer sizes per buffer beyond which :func:`_pow2_upto` steps by 4x instead of 2x (ImageNet networks)."""


def _pow2_upto(need_bytes: int) -> tuple[int, ...]:
    """Return MIN_BUFFER_KIB, 2x, 4x ... KiB up to the first size holding ``need_bytes`` (every other size, 4x
    apart, ending with that one, when that would be more than :data:`MAX_BUFFER_SIZES` sizes)."""
    sizes, kib = [], MIN_BUFFER_KIB
    while True:
        sizes.append(kib)
        if kib * 1024 >= need_bytes:
            break
        kib *= 2
    if len(sizes) > MAX_BUFFER_SIZES:
        sizes = sizes[::-2][::-1]
    return tuple(sizes)


def default_grid(layers: Sequence[EngineLayer], bits: Sequence[int] = (8, 16)) -> Grid:
    """Return the search :class:`Grid` for the fused (untiled) ``layers`` (rules in the module doc)."""
    nox = {lay.conv_out[2] for lay in layers}
    noy = {lay.conv_out[1] for lay in layers}
    nof = {lay.conv_out[0] for lay in layers}
    need = [0, 0, 0]
    for b in bits:
        hw = HwConfig(pox=1, poy=1, pof=1, act_bits=b, weight_bits=b, acc_bits=2 * b)
        for lay in layers:
            use = buffer_use(lay, hw, _whole(lay))
            need = [max(need[0], use.input_bytes), max(need[1], use.weight_bytes), max(need[2], use.output_bytes)]
    return Grid(_divisor_grid(nox), _divisor_grid(noy), _divisor_grid(nof), tuple(sorted(bits)),
                *(_pow2_upto(n) for n in need))


def make_hw(device: Device, pox: int, poy: int, pof: int, bits: int, kib: tuple[int, int, int],
            name: str = "dse") -> HwConfig:
    """Return the HwConfig of one design point on ``device`` (its part, clock, DRAM and DRAM energy)."""
    energy = EnergyConfig(dram_pj_per_bit=DRAM_PJ_PER_BIT.get(device.dram.kind, EnergyConfig().dram_pj_per_bit))
    return HwConfig(name=name, pox=pox, poy=poy, pof=pof, act_bits=bits, weight_bits=bits,
                    acc_bits=32 if bits == 8 else 48, input_buffer_kib=kib[0], weight_buffer_kib=kib[1],
                    output_buffer_kib=kib[2], clock_mhz=device.clock_mhz, part=device.part, dram=device.dram,
                    energy=energy)


def shape_floor(device: Device, layers: Sequence[EngineLayer], shape: tuple[int, int, int, int]) -> dict[str, int]:
    """Return {dsp, bram, lut, ff} no design of one array shape goes below, whatever its buffers: the DSPs (MAC
    array and dividers) and the logic's LUTs and FFs of ``resources.estimate``, which no bank depth changes,
    and the AXI FIFOs' RAM blocks (the buffers' block RAM, LUTRAM and registers left out)."""
    hw = make_hw(device, *shape, (MIN_BUFFER_KIB,) * 3)
    g = bank_counts(layers, hw) | dict.fromkeys(DEPTH_KEYS, 1) | divider_bits(layers, hw) | compiled_kinds(layers)
    rep = res.estimate(hw, device, g)
    return {"dsp": rep.used["dsp"], "bram": rep.detail["bram"]["axi"],
            "lut": rep.used["lut"] - rep.detail["lut"]["lutram"],
            "ff": rep.used["ff"] - rep.detail["ff"].get("buffer_registers", 0)}


def array_shapes(grid: Grid, device: Device, layers: Sequence[EngineLayer]) -> list[tuple[int, int, int, int]]:
    """Return the (pox, poy, pof, bits) points of ``grid`` whose :func:`shape_floor` fits the device (arrays over
    HwConfig's MAC limit are never built: an ImageNet network's divisor grid reaches millions of MACs)."""
    avail = device.available()
    shapes = [s for s in itertools.product(grid.pox, grid.poy, grid.pof, grid.bits) if s[0] * s[1] * s[2] <= MAX_MACS]
    return [(pox, poy, pof, bits) for pox, poy, pof, bits in sorted(shapes, key=lambda s: s[3])
            if all(v <= avail[k] for k, v in shape_floor(device, layers, (pox, poy, pof, bits)).items())]


# ------------------------------------------------------------------------------- per-layer tables

def distinct_layers(layers: Sequence[EngineLayer]) -> list[tuple[EngineLayer, int]]:
    """Return (representative layer, count) for each distinct engine layer (names do not matter)."""
    def key(lay: EngineLayer) -> EngineLayer:
        return dataclasses.replace(lay, name="", nodes=(), input="", output="",
                                   residual="r" if lay.residual else None)
    counts = Counter(key(lay) for lay in layers)
    return [(lay, n) for lay, n in counts.items()]


def _whole(lay: EngineLayer) -> Tiling:
    """Return the one-tile tiling of a layer (every dimension whole)."""
    if lay.kind != "conv":
        c, oh, ow = lay.out_shape
        return (oh, c, ow, c)
    nof, noy, nox = lay.conv_out
    return (noy, nof, nox, lay.in_shape[0])


class _LayerTables:
    """Per distinct layer and array shape: its :class:`~fpga_model.schedule.TilingTable` (the chooser's own) and
    the bank depths of its tilings."""

    def __init__(self, layers: list[tuple[EngineLayer, int]]) -> None:
        self.layers = layers
        self.tables: dict[tuple, TilingTable] = {}

    def table(self, u: int, hw: HwConfig) -> TilingTable:
        """Return the TilingTable of layer ``u`` on ``hw``'s array (shared by every buffer split)."""
        key = (u, hw.pox, hw.poy, hw.pof, hw.act_bits)
        if key not in self.tables:
            self.tables[key] = tiling_table(self.layers[u][0], hw)
        return self.tables[key]

    def depths(self, u: int, hw: HwConfig, banks: dict[str, int], indices: np.ndarray) -> np.ndarray:
        """Return an array [index, DEPTH_KEYS] of the bank depths layer ``u`` needs at each tiling index
        (``geometry.layer_depths``)."""
        table = self.table(u, hw)
        rows = [layer_depths(with_tiling(table.layer, table.tilings[int(i)]), hw, banks) for i in indices]
        return np.array([[row[k] for k in DEPTH_KEYS] for row in rows], dtype=np.int64).reshape(len(rows), -1)


# --------------------------------------------------------------------------- evaluating an array shape

@dataclass
class _Context:
    """What every worker needs: the device, grid, distinct layers and their tables; memoised layer costs."""

    device: Device
    grid: Grid
    tables: _LayerTables
    sim_calls: int = 0
    cache: dict = field(default_factory=dict)
    incumbent: float = math.inf     # best fitting cycles so far when only the latency-best design is wanted
    triage: bool = False            # skip buffer splits whose cycle bound exceeds the incumbent (best-only latency)

    def layer_cost(self, u: int, hw: HwConfig, tiling: Tiling) -> tuple[int, float, np.ndarray, dict]:
        """Return (cycles, energy pJ without SRAM, SRAM bytes per buffer, energy dict) of layer ``u`` tiled ``tiling``."""
        key = (u, hw.pox, hw.poy, hw.pof, hw.act_bits, tiling)
        if key not in self.cache:
            result = simulate_layer(with_tiling(self.tables.layers[u][0], tiling), hw)
            self.sim_calls += 1
            e = result.energy_pj
            fixed = e["total"] - sum(e[f"sram_{b}"] for b in _BUFFERS)
            nbytes = np.array([result.buffer_read_bytes[b] + result.buffer_write_bytes[b] for b in _BUFFERS])
            self.cache[key] = (result.cycles, fixed, nbytes, {**e, "compute_cycles": result.compute_cycles})
        return self.cache[key]


def _sram_prices(hw: HwConfig, sizes: Sequence[Sequence[int]]) -> list[np.ndarray]:
    """Return, per buffer, pJ per 64-bit access at each grid size (bank = half the buffer, as energy.py)."""
    return [np.array([sram_pj_per_64bit(kib * 512, hw.energy) for kib in s]) for s in sizes]


def _layer_costs(ctx: _Context, u: int, hw: HwConfig, ranks: np.ndarray,
                 tilings: list[Tiling]) -> dict[int, tuple[int, float, np.ndarray]]:
    """Return {rank: (cycles, energy without SRAM in pJ, SRAM bytes per buffer)} for each chosen tiling."""
    out = {}
    for r in np.unique(ranks):
        if r != _NONE:
            out[int(r)] = ctx.layer_cost(u, hw, tilings[int(r)])[:3]
    return out


def storage_bits(device: Device) -> int:
    """Return the most bits the device can hold on chip in any form the resource model counts: every RAM block,
    every LUT as 64-bit LUTRAM and every flip-flop.  Buffer splits over this cannot fit (the DSE skips them)."""
    block = 20 * 1024 if device.bram_kind == "M20K" else 18 * 1024
    return device.bram * block + device.lut * 64 + device.ff


def _chosen(ctx: _Context, hw: HwConfig) -> list[tuple[list[Tiling], np.ndarray]]:
    """Return per distinct layer (its candidate tilings, the index ``choose_tiles`` takes at each buffer triple,
    ``_NONE`` where none fits, the buffers exceed :func:`storage_bits`, or — with ``ctx.triage`` — the triple's
    cycle bound exceeds the best fitting design found): the chooser's own :class:`~fpga_model.schedule.TilingTable`."""
    sizes = ctx.grid.buffer_sizes()
    storable = storage_bits(ctx.device)
    triples = [(i, w, o) for i, w, o in itertools.product(*(range(len(s)) for s in sizes))
               if (sizes[0][i] + sizes[1][w] + sizes[2][o]) * 8192 <= storable]
    tables = [ctx.tables.table(u, hw) for u in range(len(ctx.tables.layers))]
    before = sum(len(t.keys) for t in tables)
    ranks = [np.full([len(s) for s in sizes], _NONE, dtype=np.int64) for _ in tables]
    if ctx.triage:
        triples = _triage(ctx, hw, tables, ranks, triples)
    else:
        for table, grid in zip(tables, ranks, strict=True):
            for i, w, o in triples:
                best = table.choose((sizes[0][i] * 1024, sizes[1][w] * 1024, sizes[2][o] * 1024))
                grid[i, w, o] = _NONE if best is None else best
    ctx.sim_calls += sum(len(t.keys) for t in tables) - before   # each tiling a choice compared was costed once
    return [(t.tilings, grid) for t, grid in zip(tables, ranks, strict=True)]


def _triage(ctx: _Context, hw: HwConfig, tables: list[TilingTable], ranks: list[np.ndarray],
            triples: list[tuple[int, int, int]]) -> list:
    """Fill ``ranks`` for the buffer triples that could beat ``ctx.incumbent`` cycles, in order of their bound (Σ
    over layers of the least cycle bound of a fitting tiling), lowering the incumbent with every fitting design."""
    sizes = ctx.grid.buffer_sizes()
    limits = np.array([[sizes[0][i] * 1024, sizes[1][w] * 1024, sizes[2][o] * 1024] for i, w, o in triples],
                      dtype=np.int64).reshape(-1, 3)
    bound = np.zeros(len(triples))
    for (_, count), table in zip(ctx.tables.layers, tables, strict=True):
        fits = np.all(table.needs[:, None, :] <= limits[None, :, :], axis=2)
        bound += count * np.where(fits, table.bounds[:, None], np.inf).min(axis=0, initial=np.inf)
    done = []
    for t in np.argsort(bound, kind="stable"):
        if not bound[t] <= ctx.incumbent:
            break
        chosen = [table.choose(tuple(limits[t])) for table in tables]
        if any(c is None for c in chosen):
            continue
        i, w, o = triples[t]
        for grid, c in zip(ranks, chosen, strict=True):
            grid[i, w, o] = c
        done.append(triples[t])
        tiled = [with_tiling(table.layer, table.tilings[c]) for table, c in zip(tables, chosen, strict=True)]
        cycles = sum(count * ctx.layer_cost(u, hw, table.tilings[c])[0]
                     for u, ((_, count), table, c) in enumerate(zip(ctx.tables.layers, tables, chosen, strict=True)))
        if cycles < ctx.incumbent and res.estimate_layers(tiled, hw, ctx.device).fits:
            ctx.incumbent = cycles
    return done


def evaluate_shape(ctx: _Context, shape: tuple[int, int, int, int]) -> dict[str, np.ndarray]:
    """Return grids over the buffer triples of one array shape: dsp, bram, lut, ff, cycles, energy_pj, ok.

    Arrays have shape (n_input, n_weight, n_output) buffer sizes; ``ok`` marks triples where every layer has
    a tiling.  Only triples that are ok and fit the device are simulated — elsewhere cycles is 0 and energy NaN.
    """
    sizes = ctx.grid.buffer_sizes()
    hw = make_hw(ctx.device, *shape, (sizes[0][-1], sizes[1][-1], sizes[2][-1]))
    chosen = _chosen(ctx, hw)
    ok = np.logical_and.reduce([ranks != _NONE for _, ranks in chosen])
    grids = shape_resources(ctx, hw, chosen) | {"ok": ok}
    wanted = _fits(grids, ctx.device)
    prices = _sram_prices(hw, sizes)
    cycles = np.zeros(ok.shape, dtype=np.int64)
    energy = np.zeros(ok.shape)
    for u, (tilings, ranks) in enumerate(chosen):
        count = ctx.tables.layers[u][1]
        costs = _layer_costs(ctx, u, hw, np.where(wanted, ranks, _NONE), tilings)
        for r, (cyc, fixed, nbytes) in costs.items():
            where = ranks == r
            sram = sum(nbytes[b] / 8 * prices[b].reshape([-1 if a == b else 1 for a in range(3)])
                       for b in range(3))
            cycles[where] += count * cyc
            energy += where * (count * (fixed + sram))
    energy[~wanted] = np.nan
    return grids | {"cycles": cycles, "energy_pj": energy}


def shape_resources(ctx: _Context, hw: HwConfig, chosen: list[tuple[list[Tiling], np.ndarray]]
                    ) -> dict[str, np.ndarray]:
    """Return per-triple resource grids {dsp, bram, lut, ff} of one array shape: ``resources.estimate`` of the
    engine each triple's tiles compile to (``geometry`` from the chosen tilings' bank depths).

    Triples where some layer has no tiling get an arbitrary (unused) estimate.
    """
    layers = [lay for lay, _ in ctx.tables.layers]
    banks = bank_counts(layers, hw)
    fixed = banks | divider_bits(layers, hw)
    psum = np.zeros(chosen[0][1].shape, dtype=bool)
    for u, (tilings, ranks) in enumerate(chosen):
        split = np.array([t[3] < layers[u].in_shape[0] and layers[u].kind == "conv" for t in tilings] + [False])
        psum |= split[np.where(ranks == _NONE, -1, ranks)]
    depth = np.ones((*chosen[0][1].shape, len(DEPTH_KEYS)), dtype=np.int64)
    for u, (_, ranks) in enumerate(chosen):
        used = np.unique(np.where(ranks == _NONE, 0, ranks))
        table = ctx.tables.depths(u, hw, banks, used)
        depth = np.maximum(depth, table[np.searchsorted(used, np.where(ranks == _NONE, 0, ranks))])
    kinds = compiled_kinds(layers)
    table = np.concatenate([depth, psum[..., None].astype(np.int64)], axis=-1)
    rows, inverse = np.unique(table.reshape(-1, len(DEPTH_KEYS) + 1), axis=0, return_inverse=True)
    used = [res.estimate(hw, ctx.device, fixed | kinds | {"HAS_PSUM": int(row[-1])}
                         | dict(zip(DEPTH_KEYS, map(int, row[:-1]), strict=True))).used for row in rows]
    return {k: np.array([u[k] for u in used], dtype=np.int64)[inverse.reshape(-1)].reshape(depth.shape[:3])
            for k in res.RESOURCES}


def _evaluate_chunk(ctx: _Context, shapes: list[tuple[int, int, int, int]]) -> tuple[list[dict], int]:
    """Return the grids (resources, then cost where they fit) of each of ``shapes`` and the simulate_layer calls."""
    start, out = ctx.sim_calls, []
    for shape in shapes:
        out.append(evaluate_shape(ctx, shape))
    return out, ctx.sim_calls - start


_WORKER_CTX: _Context | None = None


def _worker(job: tuple[list[tuple[int, int, int, int]], float]) -> tuple[list[dict], int]:
    assert _WORKER_CTX is not None
    shapes, _WORKER_CTX.incumbent = job
    return _evaluate_chunk(_WORKER_CTX, shapes)


# ------------------------------------------------------------------------ lower bounds and pruning

def lower_bounds(ctx: _Context, shape: tuple[int, int, int, int]) -> tuple[int, float]:
    """Return (cycles, energy pJ) that no design of this array shape beats, whatever its buffers.

    Per layer the one-tile tiling (every dimension whole) has the fewest II=1 iterations and
    pipeline starts, and the fewest DRAM and buffer bytes, of all tilings; so cycles >= max(its
    compute cycles, unavoidable DRAM bytes / sustained bytes per cycle) and energy >= its DRAM,
    MAC and ALU energy + its buffer bytes at the smallest buffer's price + static power over the
    cycle bound.  ``_search`` checks both bounds against every shape it does evaluate.
    """
    sizes = ctx.grid.buffer_sizes()
    hw = make_hw(ctx.device, *shape, (sizes[0][-1], sizes[1][-1], sizes[2][-1]))
    bpc = dram.bytes_per_cycle(hw)
    cheapest = [p[0] for p in _sram_prices(hw, sizes)]
    cycles, energy = 0, 0.0
    for u, (lay, count) in enumerate(ctx.tables.layers):
        _, _, nbytes, e = ctx.layer_cost(u, hw, _whole(lay))
        min_dram = e["dram"] / 8 / hw.energy.dram_pj_per_bit if hw.energy.dram_pj_per_bit else 0.0
        cyc = max(e["compute_cycles"], math.ceil(min_dram / bpc - 1e-9))
        cycles += count * cyc
        energy += count * (e["dram"] + e["mac"] + e["alu"] + sum(nbytes[b] / 8 * cheapest[b] for b in range(3))
                           + hw.energy.static_power_w * cyc / hw.clock_mhz * 1e6)
    return cycles, energy


def quick_bounds(ctx: _Context, shape: tuple[int, int, int, int]) -> tuple[int, float]:
    """Return looser (cycles, energy pJ) bounds than :func:`lower_bounds`, without simulating.

    cycles >= II=1 iterations of the one-tile tiling (``schedule.compute_iterations``) and >= the
    weight + output bytes every tiling moves / sustained DRAM bytes per cycle; energy >= MAC energy
    + DRAM energy of those bytes + static power over the cycle bound.
    """
    hw = make_hw(ctx.device, *shape, (ctx.grid.input_kib[-1],) * 3)
    bpc = dram.bytes_per_cycle(hw)
    cycles, energy = 0, 0.0
    for lay, count in ctx.tables.layers:
        whole = with_tiling(lay, _whole(lay))
        nbytes = math.prod(lay.out_shape) * hw.act_bits // 8
        if lay.kind == "conv":
            nbytes += lay.conv_out[0] * lay.in_shape[0] * lay.kernel[0] * lay.kernel[1] * hw.weight_bits // 8
        cyc = max(compute_iterations(whole, hw), math.ceil(nbytes / bpc - 1e-9))
        cycles += count * cyc
        energy += count * (lay.macs * mac_pj(hw) + nbytes * 8 * hw.energy.dram_pj_per_bit
                           + hw.energy.static_power_w * cyc / hw.clock_mhz * 1e6)
    return cycles, energy


class _Pruner:
    """Remembers evaluated fitting designs; a shape is skipped when its bounds are strictly beaten on both fronts
    (``fronts``), or, searching for the best design only, when its bound on the objective is strictly beaten."""

    def __init__(self, objective: str = "latency", fronts: bool = True, clock_mhz: float = 1.0) -> None:
        self.dsp = np.zeros(0)
        self.cycles = np.zeros(0)
        self.energy = np.zeros(0)
        self.objective, self.fronts, self.clock_mhz = objective, fronts, clock_mhz

    def best_cycles(self) -> float:
        """Return the fewest cycles of a fitting design added so far (inf before any)."""
        return float(self.cycles.min()) if len(self.cycles) else math.inf

    def value(self, cycles, energy_pj):  # noqa: ANN001, ANN201 - floats or arrays
        """Return the objective of designs (or of bounds) with these cycles and energies (pJ)."""
        return _objective(self.objective, np.asarray(cycles) / self.clock_mhz, np.asarray(energy_pj) / 1e6)

    def add(self, grids: dict[str, np.ndarray], fits: np.ndarray) -> None:
        """Add the fitting designs of one evaluated shape."""
        self.dsp = np.concatenate([self.dsp, grids["dsp"][fits]])
        self.cycles = np.concatenate([self.cycles, grids["cycles"][fits]])
        self.energy = np.concatenate([self.energy, grids["energy_pj"][fits]])

    def dominated(self, dsp: int, lb_cycles: int, lb_energy: float) -> bool:
        """Return True if some design with <= DSPs is strictly faster than the bound, and some design is
        strictly faster and strictly lower-energy than the bounds (so no design of the shape can be on
        either Pareto front or optimal for any objective)."""
        if not self.fronts:
            return bool(len(self.cycles)) and float(self.value(self.cycles, self.energy).min()) < float(
                self.value(lb_cycles, lb_energy))
        faster = self.cycles < lb_cycles
        return bool(np.any(faster & (self.dsp <= dsp)) and np.any(faster & (self.energy < lb_energy)))


def _fits(grids: dict[str, np.ndarray], device: Device) -> np.ndarray:
    """Return the boolean grid of designs that schedule and fit every device resource."""
    avail = device.available()
    ok = grids.get("ok", True)
    return ok & np.logical_and.reduce([grids[k] <= avail[k] for k in res.RESOURCES])


def _batches(items: list, first: int, size: int) -> list[list]:
    """Return ``items`` split into a first batch of ``first`` and then batches of ``size``."""
    out = [items[:first]]
    out += [items[i:i + size] for i in range(first, len(items), size)]
    return [b for b in out if b]


def _check_bounds(shape: tuple, grids: dict[str, np.ndarray], fits: np.ndarray, bound: tuple[int, float]) -> None:
    """Raise AssertionError if an evaluated design beats its shape's lower bounds (pruning would be unsound)."""
    if fits.any() and (grids["cycles"][fits].min() < bound[0] or grids["energy_pj"][fits].min() < bound[1] * (1 - 1e-9)):
        raise AssertionError(f"DSE lower bound violated for array {shape}; rerun with prune=False and report it")


def _search(ctx: _Context, shapes: list[tuple[int, int, int, int]], workers: int,
            prune: bool, objective: str = "latency", fronts: bool = True) -> tuple[list, list[dict], int]:
    """Return (evaluated shapes, their grids, simulate_layer calls).

    Shapes go in order of their quick lower bound (of the cycles, or without ``fronts`` of the objective), in
    batches; before each batch a shape is skipped when its quick, then (computed on demand) tight bounds are
    dominated (``_Pruner``).
    """
    layers = [lay for lay, _ in ctx.tables.layers]
    dsps = {s: shape_floor(ctx.device, layers, s)["dsp"] for s in shapes}
    quick = {s: quick_bounds(ctx, s) if prune else (0, 0.0) for s in shapes}
    pruner, done, grids, tight = _Pruner(objective, fronts, ctx.device.clock_mhz), [], [], {}
    order = sorted(shapes, key=lambda s: (quick[s][0] if fronts else float(pruner.value(*quick[s])), dsps[s]))
    calls = 0
    global _WORKER_CTX
    _WORKER_CTX = ctx
    pool = ProcessPoolExecutor(max_workers=workers, mp_context=get_context("fork")) if workers > 1 else None
    try:
        for batch in _batches(order, 2 * workers, 8 * workers):
            before = ctx.sim_calls
            todo = [s for s in batch if not (prune and _skip(ctx, pruner, s, dsps[s], quick[s], tight))]
            calls += ctx.sim_calls - before
            chunks = [todo[i::workers] for i in range(workers)] if pool else [todo]
            if ctx.triage:
                ctx.incumbent = min(ctx.incumbent, pruner.best_cycles())
            results = (list(pool.map(_worker, [(c, ctx.incumbent) for c in chunks])) if pool
                       else [_evaluate_chunk(ctx, todo)])
            for chunk, (chunk_grids, n) in zip(chunks, results, strict=True):
                calls += n
                for s, g in zip(chunk, chunk_grids, strict=True):
                    fits = _fits(g, ctx.device)
                    _check_bounds(s, g, fits, tight.get(s, quick[s]))
                    pruner.add(g, fits)
                    done.append(s)
                    grids.append(g)
    finally:
        if pool:
            pool.shutdown()
        _WORKER_CTX = None
    return done, grids, calls


def _skip(ctx: _Context, pruner: _Pruner, shape: tuple, dsp: int, quick: tuple[int, float], tight: dict) -> bool:
    """Return True when ``shape`` is dominated by its quick bounds, else by its tight ones (stored in ``tight``)."""
    if pruner.dominated(dsp, *quick):
        return True
    tight[shape] = lower_bounds(ctx, shape)
    return pruner.dominated(dsp, *tight[shape])


# ------------------------------------------------------------------------------ selection and fronts

def _objective(objective: str, latency_us: np.ndarray, energy_uj: np.ndarray) -> np.ndarray:
    """Return the objective values (lower is better) of designs."""
    if objective == "latency":
        return latency_us
    if objective == "energy":
        return energy_uj
    return energy_uj * latency_us / 1000.0


def pareto_indices(x: np.ndarray, y: np.ndarray, tie: np.ndarray) -> list[int]:
    """Return indices of the points minimising both ``x`` and ``y`` (one per distinct front point).

    Among equal (x, y) the smallest ``tie`` is kept; the result is sorted by ascending ``x``.
    """
    order = np.lexsort((tie, y, x))
    front, best_y = [], math.inf
    for i in order:
        if y[i] < best_y:
            front.append(int(i))
            best_y = y[i]
    return front


def _flat(grids: list[dict[str, np.ndarray]], device: Device) -> dict[str, np.ndarray]:
    """Return flat per-design arrays (shape-major, then input, weight, output size) with latency, energy, fits."""
    flat = {k: np.stack([g[k] for g in grids]).reshape(-1) for k in grids[0]}
    flat["latency_us"] = flat["cycles"] / device.clock_mhz
    flat["energy_uj"] = flat["energy_pj"] / 1e6
    flat["fits"] = _fits(flat, device)
    return flat


def _design(ctx: _Context, shapes: list, flat_index: int, name: str, flat: dict) -> Design:
    """Return the :class:`Design` at ``flat_index`` of the flattened (shape, in, w, out) grid.

    Its resources are ``resources.estimate_layers`` of the layers ``choose_tiles`` tiles on its HwConfig (what
    ``cgap-export`` estimates for the project); raises AssertionError if the search grid disagrees.
    """
    sizes = ctx.grid.buffer_sizes()
    dims = (len(shapes), *(len(s) for s in sizes))
    s, i, w, o = np.unravel_index(flat_index, dims)
    hw = make_hw(ctx.device, *shapes[s], (sizes[0][i], sizes[1][w], sizes[2][o]), name=name)
    report = res.estimate_layers([choose_tiles(lay, hw) for lay, _ in ctx.tables.layers], hw, ctx.device)
    if any(report.used[k] != flat[k][flat_index] for k in res.RESOURCES):
        raise AssertionError(f"DSE resource grid {[int(flat[k][flat_index]) for k in res.RESOURCES]} disagrees "
                             f"with the estimate of the scheduled design {report.used}")
    return Design(hw, int(flat["cycles"][flat_index]), float(flat["latency_us"][flat_index]),
                  float(flat["energy_uj"][flat_index]), report)


def _no_fit_error(flat: dict, device: Device) -> DseError:
    """Return the error for a grid where nothing fits: the smallest need next to the budget."""
    avail = device.available()
    if not flat["ok"].any():
        return DseError(f"no design in the grid can schedule the network on {device.name} "
                        "(a layer fits no tile even with the largest buffers)")
    worst = np.max([flat[k] / avail[k] for k in res.RESOURCES], axis=0)
    worst = np.where(flat["ok"], worst, np.inf)
    i = int(np.argmin(worst))
    need = ", ".join(f"{flat[k][i]:,} {k.upper()} (budget {avail[k]:,})" for k in res.RESOURCES
                     if flat[k][i] > avail[k])
    return DseError(f"no design fits {device.name}: the smallest one needs {need}; "
                    f"pick a bigger device or a smaller network")


def _verify(net: Network, design: Design) -> None:
    """Re-simulate ``design`` end to end; raise AssertionError if the DSE table disagrees."""
    total = totals(simulate(net, design.hw))
    if total["cycles"] != design.cycles or not math.isclose(total["energy_pj"]["total"] / 1e6, design.energy_uj,
                                                            rel_tol=1e-9):
        raise AssertionError(f"DSE table {design.cycles} cycles / {design.energy_uj} uJ disagrees with "
                             f"simulate: {total['cycles']} / {total['energy_pj']['total'] / 1e6}")


FRONT_GRID_LIMIT = 250_000
"""Grids of more designs than this (ImageNet networks: ~650 k on xczu9eg; ResNet-110 at 3x32x32 has 146 k) search for the best design only by default: a shape
is skipped when a bound on its objective is beaten, and the Pareto fronts cover the designs evaluated."""


def explore(net: Network, device: Device, objective: str = "latency", bits: Sequence[int] = (8, 16),
            grid: Grid | None = None, workers: int = 1, prune: bool = True, verify: bool = True,
            fronts: bool | None = None) -> DseResult:
    """Return the :class:`DseResult` of searching ``grid`` (default: :func:`default_grid`) for ``net`` on ``device``.

    The best design minimises ``objective`` over every evaluated design that fits; raises
    :class:`DseError` when none fits (naming the smallest need and the budget).  ``fronts`` (default: grids of at
    most :data:`FRONT_GRID_LIMIT` designs) keeps every shape that could reach either Pareto front; without it only
    shapes that could beat the best objective are evaluated (the best is the same, the fronts partial).
    """
    if objective not in OBJECTIVES:
        raise DseError(f"unknown objective {objective!r}; choose one of {', '.join(OBJECTIVES)}")
    t0 = time.perf_counter()
    layers = fuse(net)
    grid = grid or default_grid(layers, bits)
    ctx = _Context(device, grid, _LayerTables(distinct_layers(layers)))
    shapes = array_shapes(grid, device, layers)
    if not shapes:
        _raise_no_shape(grid, device, layers)
    all_shapes = shapes
    per_shape = math.prod(len(v) for v in grid.buffer_sizes())
    fronts = len(all_shapes) * per_shape <= FRONT_GRID_LIMIT if fronts is None else fronts
    ctx.triage = not fronts and objective == "latency" and prune
    shapes, grids, calls = _search(ctx, all_shapes, workers, prune, objective, fronts)
    flat = _flat(grids, device)
    if not flat["fits"].any():
        raise _no_fit_error(flat, device)
    result = _select(ctx, net.name, objective, shapes, flat)
    if verify:
        _verify(net, result.best)
    seconds = time.perf_counter() - t0
    result.stats = {"exact_fronts": fronts, "designs_simulated": int(flat["fits"].sum()), "designs_in_grid": len(all_shapes) * per_shape,
                    "designs_in_searched_shapes": int(flat["ok"].size), "schedulable": int(flat["ok"].sum()),
                    "array_shapes": len(all_shapes), "array_shapes_pruned": len(all_shapes) - len(shapes),
                    "distinct_layers": len(ctx.tables.layers), "engine_layers": len(layers),
                    "simulate_layer_calls": calls, "seconds": seconds,
                    "designs_per_s": float(flat["fits"].sum()) / seconds,
                    "grid_designs_per_s": len(all_shapes) * per_shape / seconds, "workers": workers,
                    "grid": {k: list(v) for k, v in dataclasses.asdict(grid).items()}}
    return result


def _select(ctx: _Context, network: str, objective: str, shapes: list, flat: dict) -> DseResult:
    """Return the DseResult (no stats yet): best fitting design for ``objective`` and both Pareto fronts."""
    value = _objective(objective, flat["latency_us"], flat["energy_uj"])
    fit = np.flatnonzero(flat["fits"])
    best = int(fit[np.lexsort((flat["latency_us"][fit], flat["bram"][fit], flat["dsp"][fit], value[fit]))[0]])
    name = f"dse-{ctx.device.name}-{objective}"
    lat, energy, dsp = flat["latency_us"][fit], flat["energy_uj"][fit], flat["dsp"][fit]
    return DseResult(network, ctx.device.name, objective, _design(ctx, shapes, best, name, flat),
                     [_design(ctx, shapes, int(fit[i]), name, flat) for i in pareto_indices(dsp, lat, energy)],
                     [_design(ctx, shapes, int(fit[i]), name, flat) for i in pareto_indices(lat, energy, dsp)])


def _raise_no_shape(grid: Grid, device: Device, layers: Sequence[EngineLayer]) -> NoReturn:
    """Raise the error for a device on which no array shape of the grid fits, naming the smallest one's needs."""
    avail = device.available()
    floors = [shape_floor(device, layers, s) for s in itertools.product(grid.pox[:1], grid.poy[:1], grid.pof[:1],
                                                                        grid.bits)]
    floor = min(floors, key=lambda f: max(f[k] / avail[k] for k in res.RESOURCES))
    need = ", ".join(f"{floor[k]:,} {k.upper()} (budget {avail[k]:,})" for k in res.RESOURCES if floor[k] > avail[k])
    raise DseError(f"no design fits {device.name}: the smallest array needs {need}; pick a bigger device")
