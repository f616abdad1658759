"""Analytical FPGA resource estimate of the generated engine: DSP, block RAM, LUT (or ALM) and FF.

No vendor tool is run; every formula is below and every constant is either a data-sheet fact
(cited) or marked ASSUMPTION.

DSP blocks (MAC array of M = Pox·Poy·Pof multiply-accumulates)
----------------------------------------------------------------
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

With ``soft_macs=True`` MACs beyond the DSP budget are built from logic (ASSUMPTION: an a×w-bit
array multiplier costs a·w/2 LUT6, plus its accumulator adder) — the usual way a design such as
Ma et al.'s 3,136-MAC array fits 3,036 hard multipliers.

Block RAM (the three ping-pong buffers)
---------------------------------------
Each buffer of ``kib`` KiB is two banks (ping, pong) of ``kib/2`` KiB holding words of ``w`` bits
(w = act_bits for the input/output buffers, weight_bits for the weight buffer).  Each half is
partitioned into P parallel banks so that the II=1 pipeline gets its operands every cycle: P =
Pox·Poy for the input buffer (one activation per MAC column/row), Pof for the weight buffer (one
weight per output channel, as ``HLS ARRAY_PARTITION cyclic factor=CGAP_POF`` in cgap_engine.h),
1 for the output buffer (the engine drains accumulators into it one word per cycle).  Port A of a
true-dual-port block serves the array, port B the DMA, so one partition per reader suffices::

    depth  = ceil(kib·1024·8 / 2 / w / P)                   words per partition
    blocks = 2 · P · ceil(w / W) · ceil(depth / D(W))       W = narrowest block width >= w
                                                            (capped at the widest), D(W) its depth

RAMB18 (UG473/UG573): 16Kx1, 8Kx2, 4Kx4, 2Kx9, 1Kx18, 512x36.  M20K (683461 "Embedded Memory
Blocks"): 16Kx1, 8Kx2, 4Kx5, 2Kx10, 1Kx20, 512x40.  A partition of at most ``LUTRAM_MAX_BITS``
(ASSUMPTION, after Vivado/Quartus inferring small arrays as distributed RAM) goes to LUTRAM/MLAB
instead: ceil(depth/64)·ceil(w/3)·4 LUT6 (RAM64M = 64x3 simple dual port in 4 LUTs, UG474/UG574).
The xcu250's UltraRAM is not used (a possible extension).  Fixed extras: m_axi read/write FIFOs,
``AXI_BRAM`` blocks per bundle (ASSUMPTION, Vivado HLS default m_axi depth).

LUT and FF (ASSUMPTIONS, no published calibration exists for this engine)
-------------------------------------------------------------------------
Per MAC: operand gating for partial edge blocks, (a+w)/2 LUT6 (dual-output LUT6_2 as 2:1 muxes)
and a+w operand pipeline FFs; where the accumulator is outside the DSP (Intel; packed 8-bit on
DSP48E2) one acc_bits-wide adder (acc_bits LUTs on a carry chain) and acc_bits FFs.  Input
crossbar: the Pox·Poy partitions rotate onto the MAC lanes with stride and kernel offset, a·P·ceil(
log2 P)/2 LUT6.  Control (layer-table FSM, address generators, AXI-lite, two m_axi adapters):
``CONTROL_LUT``/``CONTROL_FF``.  Intel ALMs = LUT6 estimate x ``ALM_PER_LUT`` (ASSUMPTION: an ALM
holds one 6-input or two 4-input functions; registers map one FF per register).

Generated design (:func:`estimate_generated`)
---------------------------------------------
:func:`estimate` sizes buffers from the HwConfig budget: what any network may use (the DSE's view).
A generated project allocates exactly what its network's tiles need (cgap/hls/program.py
``buffer_geometry``, the ``CGAP_*`` constants of cgap_engine.h), each array twice (ping, pong) and
partitioned by its ``ARRAY_PARTITION`` pragmas: ibuf IB_R·IB_C banks (IB_R = Poy·stride, IB_C =
max(Pox·stride, V)) of IBUF_DEPTH activations, wbuf Pof banks of WBUF_DEPTH weights, bbuf Pof banks of
BBUF_DEPTH acc_bits-wide biases, obuf/rbuf Pof·NB banks of OBUF_DEPTH/RBUF_DEPTH (fpga_model/layout.py),
and the element-wise unit's planes: fa and fb in FB column banks of FBUF_DEPTH / FBUF_B_DEPTH words, fo of
FOBUF_BEATS port-wide beats.  The same block/LUTRAM rules apply per bank, except that a
one-word bank is a register (complete partitioning leaves scalars), so a strided standalone pool on
a wide array (thousands of tiny banks) shows up as LUTRAM or FFs that may not fit.  The read
crossbars of the banked plane buffers are not counted.

Not modelled: routing congestion (real designs rarely place above ~80–90% LUT), the bias buffer
(Pof small LUTRAMs), BRAM cascading for very deep partitions, clock-rate effects of large arrays.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from fpga_model.devices import Device
from fpga_model.hw import HwConfig

BLOCK_CONFIGS: dict[str, tuple[tuple[int, int], ...]] = {
    "RAMB18": ((1, 16384), (2, 8192), (4, 4096), (9, 2048), (18, 1024), (36, 512)),
    "M20K": ((1, 16384), (2, 8192), (5, 4096), (10, 2048), (20, 1024), (40, 512)),
}
"""(width, depth) aspect ratios of one RAM block, narrowest first (sources in the module doc)."""

LUTRAM_MAX_BITS = 1024
AXI_BRAM = 2               # per m_axi bundle (gmem0, gmem1)
M_AXI_BUNDLES = 2
CONTROL_LUT = 6_000
CONTROL_FF = 8_000
ALM_PER_LUT = 0.8
RESOURCES = ("dsp", "bram", "lut", "ff")


@dataclass(frozen=True)
class ResourceReport:
    """Estimated use of one HwConfig on one Device; ``detail`` breaks each resource down."""

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


def buffer_partitions(hw: HwConfig) -> dict[str, tuple[int, int, int]]:
    """Return {buffer: (total KiB, word bits, partitions per ping-pong half)} (module doc)."""
    return {"input": (hw.input_buffer_kib, hw.act_bits, hw.pox * hw.poy),
            "weight": (hw.weight_buffer_kib, hw.weight_bits, hw.pof),
            "output": (hw.output_buffer_kib, hw.act_bits, 1)}


def buffer_cost(kib: int, width: int, parts: int, kind: str) -> tuple[int, int]:
    """Return (RAM blocks, LUTRAM LUT6) of one ping-pong buffer of ``kib`` KiB split into ``parts``."""
    blocks, luts, _ = bank_cost(math.ceil(kib * 1024 * 8 / 2 / parts), width, 2 * parts, kind)
    return blocks, luts


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


GEOMETRY_KEYS = ("IB_R", "IB_C", "IBUF_DEPTH", "WBUF_DEPTH", "BBUF_DEPTH", "NB", "OBUF_DEPTH", "RBUF_DEPTH",
                 "FB", "FBUF_DEPTH", "FBUF_B_DEPTH", "FOBUF_BEATS")


def generated_buffers(geometry: dict[str, int], hw: HwConfig) -> dict[str, tuple[int, int, int]]:
    """Return {array family: (banks in all copies, words per bank, word bits)} of a generated engine.

    ``geometry`` holds :data:`GEOMETRY_KEYS` (cgap.hls.program.buffer_geometry); the banking follows the
    ``ARRAY_PARTITION`` pragmas of cgap_engine.h (module doc).  Raises KeyError on a missing key.
    """
    g = geometry
    return {"input": (2 * g["IB_R"] * g["IB_C"], g["IBUF_DEPTH"], hw.act_bits),
            "weight": (2 * hw.pof, g["WBUF_DEPTH"], hw.weight_bits),
            "bias": (2 * hw.pof, g["BBUF_DEPTH"], hw.acc_bits),
            "output": (2 * hw.pof * g["NB"], g["OBUF_DEPTH"], hw.act_bits),
            "residual": (2 * hw.pof * g["NB"], g["RBUF_DEPTH"], hw.act_bits),
            "planes": (2 * g["FB"], g["FBUF_DEPTH"], hw.act_bits),
            "planes_b": (2 * g["FB"], g["FBUF_B_DEPTH"], hw.act_bits),
            "planes_out": (2, g["FOBUF_BEATS"], hw.dram.port_bits)}


def logic_cost(hw: HwConfig, dsp_kind: str, soft: int) -> tuple[dict[str, int], dict[str, int]]:
    """Return ({part: LUT6}, {part: FF}) of the MAC array, input crossbar, soft MACs and control."""
    a, w, acc = hw.act_bits, hw.weight_bits, hw.acc_bits
    acc_outside = dsp_kind == "A10_VPDSP" or macs_per_dsp(dsp_kind, max(a, w)) > 1
    per_mac_lut = (a + w) // 2 + (acc if acc_outside else 0)
    per_mac_ff = a + w + (acc if acc_outside else 0)
    p_in = hw.pox * hw.poy
    lut = {"mac": hw.macs * per_mac_lut, "crossbar": a * p_in * math.ceil(math.log2(p_in)) // 2 if p_in > 1 else 0,
           "soft_mac": soft * (a * w // 2 + (0 if acc_outside else acc)), "control": CONTROL_LUT}
    ff = {"mac": hw.macs * per_mac_ff, "soft_mac": soft * (0 if acc_outside else acc), "control": CONTROL_FF}
    return lut, ff


def estimate(hw: HwConfig, device: Device, soft_macs: bool = False) -> ResourceReport:
    """Return the :class:`ResourceReport` of ``hw`` on ``device`` (formulas in the module doc).

    With ``soft_macs`` MACs beyond the DSP budget are counted as logic multipliers instead of DSPs.
    """
    bram, lutram = {}, {}
    for name, (kib, width, parts) in buffer_partitions(hw).items():
        bram[name], lutram[name] = buffer_cost(kib, width, parts, device.bram_kind)
    return _report(hw, device, soft_macs, bram, lutram)


def estimate_generated(hw: HwConfig, device: Device, geometry: dict[str, int],
                       soft_macs: bool = False) -> ResourceReport:
    """Return the :class:`ResourceReport` of a generated project: buffers from its ``geometry`` (module doc)
    instead of the HwConfig budget; DSP, logic and control as in :func:`estimate`."""
    bram, lutram, regs = {}, {}, {}
    for name, (banks, depth, width) in generated_buffers(geometry, hw).items():
        bram[name], lutram[name], regs[name] = bank_cost(depth * width, width, banks, device.bram_kind)
    return _report(hw, device, soft_macs, bram, lutram, sum(regs.values()))


def _report(hw: HwConfig, device: Device, soft_macs: bool, bram: dict[str, int],
            lutram: dict[str, int], register_ff: int = 0) -> ResourceReport:
    """Return the report for buffer costs (``bram``, ``lutram``, one-word banks as ``register_ff``) plus the
    MAC array, logic and AXI blocks."""
    dsp_need = dsp_blocks(hw, device.dsp_kind)
    per = macs_per_dsp(device.dsp_kind, max(hw.act_bits, hw.weight_bits))
    soft = max(0, hw.macs - device.dsp * per) if soft_macs else 0
    dsp = min(dsp_need, device.dsp) if soft else dsp_need
    bram = {**bram, "axi": AXI_BRAM * M_AXI_BUNDLES}
    lut, ff = logic_cost(hw, device.dsp_kind, soft)
    lut["lutram"] = sum(lutram.values())
    if register_ff:
        ff["buffer_registers"] = register_ff
    scale = ALM_PER_LUT if device.lut_kind == "ALM" else 1.0
    lut = {k: math.ceil(v * scale) for k, v in lut.items()}
    used = {"dsp": dsp, "bram": sum(bram.values()), "lut": sum(lut.values()), "ff": sum(ff.values())}
    detail = {"dsp": {"mac_array": dsp, "needed_all_hard": dsp_need}, "bram": bram, "lut": lut, "ff": ff}
    return ResourceReport(device.name, used, device.available(), detail, soft)
