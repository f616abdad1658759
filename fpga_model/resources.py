"""FPGA resource estimate of a generated engine: DSP, block RAM, LUT (or ALM) and FF.

One model, read by ``cgap-export`` (the project it wrote) and by the DSE (every design it searches): the
engine compiled for a network is fixed by the HwConfig and the ``CGAP_*`` constants of
:mod:`fpga_model.geometry` (banked buffers and divider widths of the network's tiles on that HwConfig), and
:func:`estimate` counts what hls_templates/cgap_engine.h instantiates for them.  No vendor tool is run; every
constant is a data-sheet fact, a Yosys measurement of equivalent RTL, or marked ASSUMPTION.

DSP blocks
----------
MAC array of M = Pox·Poy·Pof multiply-accumulates:

========== ===================================================== =====================================
DSP kind   MACs per block                                        source
========== ===================================================== =====================================
DSP48E1    1 (16- and 8-bit; 25x18 multiplier, 48-bit P accum.)  UG479 (7 Series DSP48E1 Slice)
DSP48E2    16-bit: 1.  8-bit: 2 MACs that share one operand       UG579; WP486 "Deep Learning with INT8
           (the activation, paired along Pof), so                Optimization on Xilinx Devices"
           DSPs = Pox·Poy·ceil(Pof/2)
A10_VPDSP  2 (two independent 18x19 multipliers per block, 16-   Intel 683461 "Variable Precision DSP
           and 8-bit alike; accumulators go to ALMs)             Blocks in Arria 10 Devices", Table
                                                                 "Resources" (GX 1150: 1,518 blocks =
                                                                 3,036 18x19 multipliers)
========== ===================================================== =====================================

Reciprocal dividers (``cgap_div_recip``: a DIV_ABITS x DIV_MBITS unsigned product): one per lane of the conv
store (V = port_bits / act_bits lanes), one per lane of the standalone pool and one in the GAP, when those are
compiled in.  Each is tiled over the block's unsigned multiplier, ``DIV_TILE`` (one bit short of the signed
port widths: 25x18 DSP48E1, UG479; 27x18 DSP48E2, UG579; 27x27 in one Arria 10 block, 683461):
ceil(wide / a) x ceil(narrow / b) blocks, the rule Yosys' ``mul2dsp`` follows (benchmarks/yosys/results.json:
every div_recip case).  With ``soft_macs=True`` MACs beyond the DSPs the dividers leave are built from logic.

Block RAM and LUTRAM (the banked buffers)
-----------------------------------------
Each array of cgap_engine.h exists twice (ping, pong) and is split by its ``ARRAY_PARTITION`` pragmas into
banks (:func:`generated_buffers`): ibuf IB_R·IB_C banks of IBUF_DEPTH activations, wbuf Pof banks of
WBUF_DEPTH weights, bbuf Pof banks of BBUF_DEPTH acc_bits-wide biases, obuf/rbuf Pof·NB banks of
OBUF_DEPTH/RBUF_DEPTH, and, when the element-wise unit is compiled in, its input planes fa (FB banks of
FBUF_DEPTH), fb (an add's second operand, FB banks of FBUF_B_DEPTH) and output beats fo (FOBUF_BEATS words of
port_bits).  Per bank
(:func:`bank_cost`): a one-word bank is a register (complete partitioning leaves scalars); up to
``LUTRAM_MAX_BITS`` (ASSUMPTION, after Vivado/Quartus inferring small arrays as distributed RAM) it is
LUTRAM, ceil(depth/64)·ceil(w/3)·4 LUT6 (RAM64M = 64x3 simple dual port in 4 LUTs, UG474/UG574); larger,
block RAM::

    blocks = ceil(w / W) · ceil(depth / D(W))       W = narrowest block width >= w (capped at the widest)

RAMB18 (UG473/UG573): 16Kx1, 8Kx2, 4Kx4, 2Kx9, 1Kx18, 512x36.  M20K (683461 "Embedded Memory Blocks"): 16Kx1,
8Kx2, 4Kx5, 2Kx10, 1Kx20, 512x40.  UltraRAM is not used.  Fixed extras: ``AXI_BRAM`` blocks per m_axi bundle
(ASSUMPTION, Vivado HLS default m_axi FIFO depth).

LUT and FF: the logic (:func:`logic_cost`)
------------------------------------------
Each block of the engine was written as equivalent Verilog (benchmarks/yosys/rtl/, one file per block,
naming the C it mirrors) and synthesised with Yosys 0.23 ``synth_xilinx -family xcup`` (the MAC lane
``-family xc7``, see below) over a sweep of its widths; :data:`YOSYS_FITS` are least-squares fits of the
LUT/FF cell counts (benchmarks/yosys/synth_luts.py writes them to benchmarks/yosys/results.json, which
tests/test_resources.py re-fits and compares).  Instances per engine, a = act_bits, acc = acc_bits,
L = Poy·Pox lanes, V store/load lanes, ``mux(N, w)`` an N:1 crossbar lane of w bits (1 LUT6 a bit up to 4:1,
UG574; the fit above):

* MAC array, per MAC: the bias-or-accumulator select, accumulator and held (shadow) copy.  Where the
  accumulator fits the DSP's 48-bit P register and the DSP holds one MAC, select and accumulator stay in the
  DSP (OPMODE Z = C or P; UG479/UG579), measured as ``mac_lane`` on xc7 (Yosys 0.23 folds them into DSP48E1
  but not into DSP48E2, a tool limitation, so the xc7 count stands for both); otherwise (8-bit pairs on
  DSP48E2, Arria 10, acc > 48 bits) ``mac_acc_lane`` in the fabric.  Soft MACs add ``mul_soft``.
* conv input window (``cgap_window`` on IB_R x IB_C banks): ``window`` = c1·L·mux(IB_R·IB_C, a) + c0
  (c0: the window's run-time index, address and mask arithmetic).
* write-out drain, Pof lanes: mux(L, acc) of the held registers, mux(NB, a) of the residual banks and a
  ``drain_lane`` (residual aligner = two-way shifter, adder, requantiser: round-shift, saturate, ReLU).
* partial sums (``CGAP_HAS_PSUM``, a channel-tiled conv): per drain lane a mux(NB, acc) read of the psum banks
  and an acc-bit adder, counted as one LUT a bit (a carry chain; ASSUMPTION: not Yosys-measured).
* conv store, V lanes: mux(Pof·NB, a) bank read, ``store_lane`` (pool max/sum registers) and ``div_recip``.
* loads: each bank column takes one of the V words of a beat: mux(V, a) per column of ibuf (IB_C) and rbuf
  (NB); the weight and bias lanes map to fixed beat words (no select).
* ping-pong: one stage instance serves both copies of every array (``ALLOCATION ... limit=1``), so each bank
  the compute or store stage reads has a 2:1 select on its read data: mux(2, w) per bank of ibuf, wbuf,
  bbuf, rbuf, obuf (and of the planes, below).
* the element-wise unit (:func:`flat_unit_logic`), compiled in only with a standalone pool, GAP or add
  (``CGAP_HAS_*``), V lanes wide: per lane a bank read mux(FB, a) of each operand; a standalone pool adds
  ``pool_lane`` registers (sum, maximum, 32-bit count) and a ``div_recip``; a GAP the ``gap_unit`` adder
  chain over the V words and one ``div_recip``; an add an ``add_lane`` (two aligners, adder, requantiser).
  I/O: mux(V, a) + mux(2, a) per plane bank (load select, ping-pong) and one port-wide 2:1 for the output
  beats.
* control (layer-table FSM, loop counters, AXI-lite, three m_axi adapters): ``CONTROL_LUT``/``CONTROL_FF``
  (ASSUMPTION: not measured).
* Intel: ALMs = LUT6 estimate x ``ALM_PER_LUT`` (ASSUMPTION: an ALM holds one 6-input or two 4-input
  functions); one FF per register.

Yosys' counts are cells before placement (a LUT6_2 holding two small functions counts twice) and Yosys/ABC is
not Vivado: its wide multiplexers take ~0.42 LUT per input bit where UG574's LUT6 + MUXF7/F8/F9 structure
needs 0.25, so for the crossbars the estimate is conservative (about 1.5x the structural floor).  xc7 runs of
the same blocks came out within 1% (multiplexers) to 35% lower (add lane) than the xcup fits used for both.

Not modelled: HLS pipeline registers and their LUTs beyond the blocks above, routing congestion (designs
rarely place above ~80–90% LUT), BRAM cascading for very deep banks, clock-rate effects.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from fpga_model import layout
from fpga_model.devices import Device
from fpga_model.geometry import GEOMETRY_KEYS, geometry
from fpga_model.hw import HwConfig
from fpga_model.loopnest import EngineLayer

BLOCK_CONFIGS: dict[str, tuple[tuple[int, int], ...]] = {
    "RAMB18": ((1, 16384), (2, 8192), (4, 4096), (9, 2048), (18, 1024), (36, 512)),
    "M20K": ((1, 16384), (2, 8192), (5, 4096), (10, 2048), (20, 1024), (40, 512)),
}
"""(width, depth) aspect ratios of one RAM block, narrowest first (sources in the module doc)."""

DIV_TILE: dict[str, tuple[int, int]] = {"DSP48E1": (24, 17), "DSP48E2": (26, 17), "A10_VPDSP": (26, 26)}
"""Unsigned (wide, narrow) multiplier of one DSP block (module doc: UG479, UG579, Intel 683461)."""

P_REGISTER_BITS = 48
"""Accumulator width of DSP48E1/E2 (UG479, UG579): a wider accumulator goes to the fabric."""

LUT6_MUX_INPUTS = 4
"""One LUT6 is a 4:1 multiplexer of one bit (UG474 / UG574 CLB user guides)."""

YOSYS_FITS: dict[str, tuple[tuple[str, ...], tuple[float, ...]]] = {
    "mux_lut": (("N*W", "W"), (0.4232, -0.8302)),
    "window_lut": (("POY*POX*MUX", "1"), (1.1962, 729.9319)),
    "drain_lut": (("ACC", "ACT", "1"), (26.1958, 4.9375, -57.8)),
    "add_lut": (("ACC", "ACT", "1"), (32.4833, 13.7, -207.0)),
    "pool_lut": (("ACC", "ACT", "1"), (1.0, 0.75, 1.0)),
    "pool_ff": (("ACC", "ACT", "1"), (1.0, 1.0, 32.0)),
    "store_lut": (("ACC", "ACT", "1"), (1.0, 2.75, 0.0)),
    "store_ff": (("ACC", "ACT", "1"), (1.0, 1.0, 0.0)),
    "gap_lut": (("L*ACC",), (3.3214,)),
    "gap_ff": (("ACC",), (1.0,)),
    "mac_lut": (("ACC",), (0.0,)),
    "mac_ff": (("ACC",), (1.0,)),
    "mac_acc_lut": (("ACC",), (1.1471,)),
    "mac_acc_ff": (("ACC",), (2.0,)),
    "mul_soft_lut": (("A*B",), (3.0585,)),
    "div_lut": (("ABITS", "1"), (16.4786, 36.6381)),
}
"""Least-squares fits of Yosys 0.23 cell counts: name -> (features, coefficients); a feature is a product of
block parameters.  Source: benchmarks/yosys/results.json ``fits`` (tests/test_resources.py re-fits from its
cases and compares); blocks in benchmarks/yosys/rtl/ (module doc)."""

LUTRAM_MAX_BITS = 1024
AXI_BRAM = 2               # per m_axi bundle (gmem0, gmem1)
M_AXI_BUNDLES = 2
CONTROL_LUT = 6_000
CONTROL_FF = 8_000
ALM_PER_LUT = 0.8
RESOURCES = ("dsp", "bram", "lut", "ff")


@dataclass(frozen=True)
class ResourceReport:
    """Estimated use of one generated engine on one Device; ``detail`` breaks each resource down."""

    device: str
    used: dict[str, int]
    available: dict[str, int]
    detail: dict[str, dict[str, int]]
    soft_macs: int = 0

    @property
    def fits(self) -> bool:
        """Return True when every resource is within the device budget."""
        return all(self.used[k] <= self.available[k] for k in RESOURCES)

    def percent(self) -> dict[str, float]:
        """Return used/available in percent per resource."""
        return {k: 100.0 * self.used[k] / self.available[k] for k in RESOURCES}

    def to_dict(self) -> dict:
        """Return a JSON-ready dict: device, fits, used, available, percent, soft_macs, detail."""
        return {"device": self.device, "fits": self.fits, "used": dict(self.used),
                "available": dict(self.available), "percent": self.percent(), "soft_macs": self.soft_macs,
                "detail": {k: dict(v) for k, v in self.detail.items()}}


# ------------------------------------------------------------------------------------------------ DSP

def macs_per_dsp(dsp_kind: str, bits: int) -> int:
    """Return how many MACs of ``bits``-bit operands one DSP block of ``dsp_kind`` computes per cycle."""
    if dsp_kind == "DSP48E1":
        return 1
    if dsp_kind == "DSP48E2":
        return 2 if bits <= 8 else 1
    if dsp_kind == "A10_VPDSP":
        return 2
    raise ValueError(f"unknown DSP kind {dsp_kind!r}")


def dsp_blocks(hw: HwConfig, dsp_kind: str) -> int:
    """Return the DSP blocks an all-hard MAC array of ``hw`` needs (packing rules in the module doc)."""
    bits = max(hw.act_bits, hw.weight_bits)
    per = macs_per_dsp(dsp_kind, bits)
    if dsp_kind == "DSP48E2" and per == 2:
        return hw.pox * hw.poy * math.ceil(hw.pof / 2)     # pairs share the activation along Pof
    return math.ceil(hw.macs / per)


def multiplier_dsps(a_bits: int, b_bits: int, dsp_kind: str) -> int:
    """Return the DSP blocks of an unsigned ``a_bits`` x ``b_bits`` product tiled over :data:`DIV_TILE`."""
    wide, narrow = DIV_TILE[dsp_kind]
    return math.ceil(max(a_bits, b_bits) / wide) * math.ceil(min(a_bits, b_bits) / narrow)


def dividers(hw: HwConfig, g: Mapping[str, int]) -> int:
    """Return the reciprocal dividers of an engine: V conv-store lanes, V pool lanes (when a standalone pool is
    compiled in) and the GAP's one."""
    v = layout.act_lanes(hw)
    return v + g["HAS_POOL"] * v + g["HAS_GAP"]


def divider_dsps(hw: HwConfig, dsp_kind: str, g: Mapping[str, int]) -> int:
    """Return the DSP blocks of all the engine's reciprocal dividers (module doc)."""
    return dividers(hw, g) * multiplier_dsps(g["DIV_ABITS"], g["DIV_MBITS"], dsp_kind)


def dsp_use(hw: HwConfig, device: Device, g: Mapping[str, int]) -> int:
    """Return the DSP blocks of the engine with an all-hard MAC array: MACs plus dividers."""
    return dsp_blocks(hw, device.dsp_kind) + divider_dsps(hw, device.dsp_kind, g)


# ------------------------------------------------------------------------------------------- memories

def blocks_for(bank_bits: int, width: int, kind: str) -> int:
    """Return RAM blocks of ``kind`` holding one partition of ``bank_bits`` bits in ``width``-bit words."""
    configs = BLOCK_CONFIGS[kind]
    w_cap, _ = configs[-1]
    fit = next(((w, d) for w, d in configs if w >= width), configs[-1])
    depth = math.ceil(bank_bits / width)
    return math.ceil(width / min(fit[0], w_cap)) * math.ceil(depth / fit[1])


def lutram_luts(bank_bits: int, width: int) -> int:
    """Return LUT6 of one distributed-RAM partition (RAM64M: 64 words x 3 bits in 4 LUTs)."""
    return math.ceil(math.ceil(bank_bits / width) / 64) * math.ceil(width / 3) * 4


def bank_cost(bank_bits: int, width: int, banks: int, kind: str) -> tuple[int, int, int]:
    """Return (RAM blocks, LUTRAM LUT6, register FFs) of ``banks`` independent banks of ``bank_bits`` bits.

    A one-word bank is a register (an array element left by complete partitioning), a bank of at most
    ``LUTRAM_MAX_BITS`` is distributed RAM, anything larger block RAM.
    """
    if bank_bits <= width:
        return 0, 0, banks * width
    if bank_bits <= LUTRAM_MAX_BITS:
        return 0, banks * lutram_luts(bank_bits, width), 0
    return banks * blocks_for(bank_bits, width, kind), 0, 0


def generated_buffers(g: Mapping[str, int], hw: HwConfig) -> dict[str, tuple[int, int, int]]:
    """Return {array family: (banks in all copies, words per bank, word bits)} of a generated engine.

    ``g`` holds the :data:`~fpga_model.geometry.GEOMETRY_KEYS`; the banking follows the ``ARRAY_PARTITION``
    pragmas of cgap_engine.h, the element-wise unit's arrays exist only when compiled in (module doc).  Raises
    KeyError on a missing key.
    """
    out = {"input": (2 * g["IB_R"] * g["IB_C"], g["IBUF_DEPTH"], hw.act_bits),
           "weight": (2 * hw.pof, g["WBUF_DEPTH"], hw.weight_bits),
           "bias": (2 * hw.pof, g["BBUF_DEPTH"], hw.acc_bits),
           "output": (2 * hw.pof * g["NB"], g["OBUF_DEPTH"], hw.act_bits),
           "residual": (2 * hw.pof * g["NB"], g["RBUF_DEPTH"], hw.act_bits)}
    if g["HAS_PSUM"]:
        out["psum"] = (hw.pof * g["NB"], g["PSUM_DEPTH"], hw.acc_bits)
    if g["HAS_FLAT"]:
        out |= {"planes": (2 * g["FB"], g["FBUF_DEPTH"], hw.act_bits),
                "planes_out": (2, g["FOBUF_BEATS"], hw.dram.port_bits)}
    if g["HAS_ADD"]:
        out["planes_b"] = (2 * g["FB"], g["FBUF_B_DEPTH"], hw.act_bits)
    return out


def memory_cost(g: Mapping[str, int], hw: HwConfig, bram_kind: str) -> tuple[dict[str, int], dict[str, int], int]:
    """Return ({family: RAM blocks} incl. AXI FIFOs, {family: LUTRAM LUT6}, register FFs) of the banked buffers."""
    bram, lutram, regs = {}, {}, 0
    for name, (banks, depth, width) in generated_buffers(g, hw).items():
        bram[name], lutram[name], ff = bank_cost(depth * width, width, banks, bram_kind)
        regs += ff
    bram["axi"] = AXI_BRAM * M_AXI_BUNDLES
    return bram, lutram, regs


# ---------------------------------------------------------------------------------------------- logic

def fitted(name: str, **params: float) -> float:
    """Return the value of Yosys fit ``name`` (:data:`YOSYS_FITS`) for a block with ``params``."""
    features, coefficients = YOSYS_FITS[name]
    values = (math.prod(1.0 if p == "1" else float(params[p]) for p in f.split("*")) for f in features)
    return sum(c * v for c, v in zip(coefficients, values, strict=True))


def mux_luts(n: int, width: int) -> float:
    """Return the LUTs of one n:1 crossbar lane of ``width`` bits: none for n = 1, one LUT6 a bit up to 4:1,
    else the Yosys fit (never below the 4:1 cost)."""
    if n <= 1:
        return 0.0
    if n <= LUT6_MUX_INPUTS:
        return float(width)
    return max(float(width), fitted("mux_lut", N=n, W=width))


def window_luts(lanes: int, banks: int, width: int) -> float:
    """Return the LUTs of one ``cgap_window``: ``lanes`` banks:1 lanes and the window's index, address and mask
    arithmetic (the ``window_lut`` fit)."""
    c_lanes, c_site = YOSYS_FITS["window_lut"][1]
    return c_lanes * lanes * mux_luts(banks, width) + c_site


def mac_logic(hw: HwConfig, dsp_kind: str, soft: int) -> tuple[float, float, float, float]:
    """Return (LUT, FF) of the MAC array's soft parts and (LUT, FF) of ``soft`` logic-built MACs (module doc)."""
    acc = hw.acc_bits
    inside = (dsp_kind != "A10_VPDSP" and macs_per_dsp(dsp_kind, max(hw.act_bits, hw.weight_bits)) == 1
              and acc <= P_REGISTER_BITS)
    lane = "mac" if inside else "mac_acc"
    soft_lut = fitted("mul_soft_lut", A=hw.act_bits, B=hw.weight_bits) + fitted("mac_acc_lut", ACC=acc)
    return (hw.macs * fitted(f"{lane}_lut", ACC=acc), hw.macs * fitted(f"{lane}_ff", ACC=acc),
            soft * soft_lut, soft * fitted("mac_acc_ff", ACC=acc))


def conv_logic(hw: HwConfig, g: Mapping[str, int]) -> dict[str, tuple[float, float]]:
    """Return {part: (LUT, FF)} of the conv datapath around the MAC array: input window, drain, store, loads."""
    a, acc, lanes, v = hw.act_bits, hw.acc_bits, hw.poy * hw.pox, layout.act_lanes(hw)
    drain = hw.pof * (mux_luts(lanes, acc) + mux_luts(g["NB"], a) + fitted("drain_lut", ACC=acc, ACT=a))
    store = v * (mux_luts(hw.pof * g["NB"], a) + fitted("store_lut", ACC=acc, ACT=a)
                 + fitted("div_lut", ABITS=g["DIV_ABITS"]))
    psum = hw.pof * (mux_luts(g["NB"], acc) + acc) if g["HAS_PSUM"] else 0.0
    return {"conv_window": (window_luts(lanes, g["IB_R"] * g["IB_C"], a), 0.0),
            "drain": (drain, 0.0),
            "psum": (psum, 0.0),
            "store": (store, v * fitted("store_ff", ACC=acc, ACT=a)),
            "loads": ((g["IB_C"] + g["NB"]) * mux_luts(v, a), 0.0)}


def pingpong_luts(hw: HwConfig, g: Mapping[str, int]) -> float:
    """Return the LUTs of the 2:1 read selects between the ping and pong copy of every conv bank a stage reads
    (ibuf, wbuf, bbuf, rbuf, obuf; the planes' are in :func:`flat_unit_logic`)."""
    banks = ((g["IB_R"] * g["IB_C"], hw.act_bits), (hw.pof, hw.weight_bits), (hw.pof, hw.acc_bits),
             (2 * hw.pof * g["NB"], hw.act_bits))
    return sum(n * mux_luts(2, width) for n, width in banks)


def flat_unit_logic(hw: HwConfig, g: Mapping[str, int]) -> dict[str, tuple[float, float]]:
    """Return {part: (LUT, FF)} of the element-wise unit: V lanes, only the kinds compiled in (module doc)."""
    if not g["HAS_FLAT"]:
        return {}
    a, acc, v, banks = hw.act_bits, hw.acc_bits, layout.act_lanes(hw), g["FB"]
    read = mux_luts(banks, a)
    div = fitted("div_lut", ABITS=g["DIV_ABITS"])
    operands = 1 + g["HAS_ADD"]
    parts = {"flat_io": (operands * banks * (mux_luts(v, a) + mux_luts(2, a)) + mux_luts(2, hw.dram.port_bits), 0.0)}
    if g["HAS_POOL"]:
        parts["flat_pool"] = (v * (read + fitted("pool_lut", ACC=acc, ACT=a) + div),
                              v * fitted("pool_ff", ACC=acc, ACT=a))
    if g["HAS_GAP"]:
        parts["flat_gap"] = (v * read + fitted("gap_lut", L=v, ACC=acc) + div, fitted("gap_ff", ACC=acc))
    if g["HAS_ADD"]:
        parts["flat_add"] = (v * (2 * read + fitted("add_lut", ACC=acc, ACT=a)), 0.0)
    return parts


def logic_cost(hw: HwConfig, dsp_kind: str, g: Mapping[str, int], soft: int = 0) -> tuple[dict[str, int], dict[str, int]]:
    """Return ({part: LUT6}, {part: FF}) of the engine's logic (module doc), each part rounded up."""
    mac_lut, mac_ff, soft_lut, soft_ff = mac_logic(hw, dsp_kind, soft)
    parts = {"mac": (mac_lut, mac_ff), **conv_logic(hw, g), "pingpong": (pingpong_luts(hw, g), 0.0),
             **flat_unit_logic(hw, g), "control": (CONTROL_LUT, CONTROL_FF)}
    if soft:
        parts["soft_mac"] = (soft_lut, soft_ff)
    return ({k: math.ceil(lut) for k, (lut, _) in parts.items()},
            {k: math.ceil(ff) for k, (_, ff) in parts.items() if ff})


# ------------------------------------------------------------------------------------------- the report

def estimate(hw: HwConfig, device: Device, g: Mapping[str, int], soft_macs: bool = False) -> ResourceReport:
    """Return the :class:`ResourceReport` of the engine generated for ``hw`` with constants ``g`` on ``device``.

    ``g`` holds :data:`~fpga_model.geometry.GEOMETRY_KEYS` (``fpga_model.geometry.geometry`` of the tiled
    layers; a generated project's ``buffers``).  With ``soft_macs`` MACs beyond the DSPs the dividers leave
    are counted as logic multipliers.  Raises KeyError on a missing key.
    """
    missing = [k for k in GEOMETRY_KEYS if k not in g]
    if missing:
        raise KeyError(f"resource estimate needs the engine constants {', '.join(missing)}")
    div_dsp = divider_dsps(hw, device.dsp_kind, g)
    mac_dsp = dsp_blocks(hw, device.dsp_kind)
    per = macs_per_dsp(device.dsp_kind, max(hw.act_bits, hw.weight_bits))
    soft = max(0, hw.macs - max(0, device.dsp - div_dsp) * per) if soft_macs else 0
    if soft:
        mac_dsp = min(mac_dsp, max(0, device.dsp - div_dsp))
    bram, lutram, register_ff = memory_cost(g, hw, device.bram_kind)
    lut, ff = logic_cost(hw, device.dsp_kind, g, soft)
    lut["lutram"] = sum(lutram.values())
    if register_ff:
        ff["buffer_registers"] = register_ff
    scale = ALM_PER_LUT if device.lut_kind == "ALM" else 1.0
    lut = {k: math.ceil(v * scale) for k, v in lut.items()}
    used = {"dsp": mac_dsp + div_dsp, "bram": sum(bram.values()), "lut": sum(lut.values()), "ff": sum(ff.values())}
    detail = {"dsp": {"mac_array": mac_dsp, "dividers": div_dsp, "mac_array_all_hard": dsp_blocks(hw, device.dsp_kind)},
              "bram": bram, "lut": lut, "ff": ff}
    return ResourceReport(device.name, used, device.available(), detail, soft)


def estimate_layers(layers: Sequence[EngineLayer], hw: HwConfig, device: Device,
                    soft_macs: bool = False) -> ResourceReport:
    """Return the :func:`estimate` of the engine generated for the tiled engine ``layers`` on ``hw``."""
    return estimate(hw, device, geometry(layers, hw), soft_macs)
