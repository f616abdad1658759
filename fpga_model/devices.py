"""FPGA device presets: logic, DSP and RAM resources, external memory and a default clock.

Resource counts are the vendor data-sheet numbers for the full device (nothing reserved for a
shell or platform; subtract yourself, e.g. the Alveo U250 XDMA shell uses roughly one SLR's worth
of a few percent).  Sources:

* xc7z020 — AMD/Xilinx DS190 "Zynq-7000 SoC Data Sheet: Overview", Table 1 (Z-7020): 53,200 LUTs,
  106,400 flip-flops, 140 36 Kb block RAMs (= 280 RAMB18, 4.9 Mb), 220 DSP48E1 slices.
  Boards: Zedboard (Avnet Zedboard HW User's Guide: 512 MB DDR3, 32-bit at 533 MHz = 4.26 GB/s)
  and PYNQ-Z2 (TUL PYNQ-Z2 reference manual: 512 MB DDR3, 16-bit at 1050 Mb/s = 2.1 GB/s).  The
  preset uses the Zedboard's 4.2 GB/s (as ``hw.PRESETS["pynq-z2-16b"]`` does); the PL reaches it
  through a 64-bit S_AXI_HP port (UG585, Zynq-7000 TRM, ch. 5).
* xczu9eg — AMD/Xilinx DS891 "Zynq UltraScale+ MPSoC Data Sheet: Overview", Table (ZU9EG):
  274,080 CLB LUTs, 548,160 CLB flip-flops, 912 36 Kb block RAMs (32.1 Mb), 0 UltraRAM,
  2,520 DSP48E2 slices.  Board ZCU102 (UG1182): PS DDR4 64-bit SODIMM; DDR4-2400 x 64 bit =
  19.2 GB/s peak (DS925 lists 2400 Mb/s for the PS DDR controller at -2); 128-bit S_AXI_HP ports.
* xcu250 — AMD/Xilinx DS962 "Alveo U200 and U250 Data Center Accelerator Cards Data Sheet",
  Table 1 (U250): 1,728K LUTs, 3,456K registers, 12,288 DSP slices, 2,688 36 Kb block RAMs,
  1,280 UltraRAMs (not used by the resource model below), 4 x 16 GB DDR4-2400 (77 GB/s total).
  The generated engine has one m_axi bundle per tensor stream, each on one DDR4 channel, so the
  preset models one channel: 19.2 GB/s behind a 512-bit port at the 300 MHz kernel clock.
* 10ax115 (Intel Arria 10 GX 1150) — Intel "Arria 10 Device Overview" (683332) and "Arria 10 Core
  Fabric and General Purpose I/Os Handbook" (683461) DSP resources table: 427,200 ALMs, 1,708,800
  registers, 2,713 M20K blocks (53 Mb), 1,518 variable-precision DSP blocks = 3,036 18x19
  multipliers.  Board: Arria 10 GX FPGA Development Kit (683526, device 10AX115S2F45I1SG) with
  DDR4 on the hard memory controller; 64 bits x 2133 MT/s = 17.0 GB/s is what this preset assumes.

Default clocks are ASSUMPTIONS for an HLS-built engine of this kind (100 MHz on Zynq-7000, 200 MHz
on UltraScale+ MPSoC and Arria 10, 300 MHz = the Vitis default kernel clock on Alveo), not data-sheet
maxima.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field

from cgap_ir.errors import CgapError
from fpga_model.hw import DramConfig


class DeviceError(CgapError):
    """An unknown device name."""


@dataclass(frozen=True)
class Device:
    """One FPGA and the board memory behind it.

    ``bram`` counts RAM blocks of ``bram_kind`` ("RAMB18" = half a 36 Kb Xilinx block RAM, or
    Intel "M20K"); ``lut`` counts ``lut_kind`` ("LUT" = LUT6 on Xilinx, "ALM" on Intel);
    ``dsp_kind`` selects the MAC packing rule in :mod:`fpga_model.resources`.
    """

    name: str
    vendor: str
    part: str
    board: str
    dsp: int
    dsp_kind: str
    bram: int
    bram_kind: str
    lut: int
    lut_kind: str
    ff: int
    clock_mhz: float
    dram: DramConfig
    uram: int = 0
    aliases: tuple[str, ...] = field(default=())

    def available(self) -> dict[str, int]:
        """Return the resource budget as {"dsp", "bram", "lut", "ff"}."""
        return {"dsp": self.dsp, "bram": self.bram, "lut": self.lut, "ff": self.ff}


DEVICES: dict[str, Device] = {
    "xc7z020": Device(
        name="xc7z020", vendor="xilinx", part="xc7z020clg400-1", board="PYNQ-Z2 / Zedboard",
        dsp=220, dsp_kind="DSP48E1", bram=280, bram_kind="RAMB18", lut=53_200, lut_kind="LUT", ff=106_400,
        clock_mhz=100.0, aliases=("pynq-z2", "zedboard", "z7020"),
        dram=DramConfig(kind="DDR3", port_bits=64, bandwidth_gbps=4.2, latency_cycles=40, turnaround_ns=7.5,
                        row_bytes=8192, row_miss_ns=27.5)),
    "xczu9eg": Device(
        name="xczu9eg", vendor="xilinx", part="xczu9eg-ffvb1156-2-e", board="ZCU102",
        dsp=2_520, dsp_kind="DSP48E2", bram=1_824, bram_kind="RAMB18", lut=274_080, lut_kind="LUT", ff=548_160,
        clock_mhz=200.0, aliases=("zcu102", "zu9eg"),
        dram=DramConfig(kind="DDR4", port_bits=128, bandwidth_gbps=19.2, latency_cycles=64, turnaround_ns=7.5,
                        row_bytes=8192, row_miss_ns=26.64)),
    "xcu250": Device(
        name="xcu250", vendor="xilinx", part="xcu250-figd2104-2L-e", board="Alveo U250",
        dsp=12_288, dsp_kind="DSP48E2", bram=5_376, bram_kind="RAMB18", lut=1_728_000, lut_kind="LUT",
        ff=3_456_000, uram=1_280, clock_mhz=300.0, aliases=("u250", "alveo-u250"),
        dram=DramConfig(kind="DDR4", port_bits=512, bandwidth_gbps=19.2, latency_cycles=96, turnaround_ns=7.5,
                        row_bytes=8192, row_miss_ns=26.64)),
    "10ax115": Device(
        name="10ax115", vendor="intel", part="10AX115S2F45I1SG", board="Arria 10 GX FPGA Development Kit",
        dsp=1_518, dsp_kind="A10_VPDSP", bram=2_713, bram_kind="M20K", lut=427_200, lut_kind="ALM", ff=1_708_800,
        clock_mhz=200.0, aliases=("arria10", "arria10-gx1150", "a10gx1150", "gx1150", "10ax115s2f45i1sg"),
        dram=DramConfig(kind="DDR4", port_bits=256, bandwidth_gbps=17.0, latency_cycles=64, turnaround_ns=7.5,
                        row_bytes=8192, row_miss_ns=26.64)),
}
"""Device presets by canonical name (sources in the module doc)."""


def _names() -> dict[str, str]:
    """Return every accepted spelling (lower case) -> canonical device name."""
    out = {}
    for name, dev in DEVICES.items():
        for spelling in (name, *dev.aliases):
            out[spelling.lower()] = name
    return out


def get_device(name: str) -> Device:
    """Return the :class:`Device` named ``name`` (canonical name or alias, any case).

    Raises :class:`DeviceError` listing the known devices and the nearest spelling.
    """
    names = _names()
    key = name.strip().lower()
    if key in names:
        return DEVICES[names[key]]
    for spelling, canonical in names.items():     # a full part string, e.g. xczu9eg-ffvb1156-2-e
        if len(spelling) >= 5 and key.startswith(spelling):
            return DEVICES[canonical]
    near = difflib.get_close_matches(key, list(names), n=1, cutoff=0.5)
    hint = f"did you mean {near[0]!r}? " if near else ""
    raise DeviceError(f"unknown device {name!r}; {hint}known: {', '.join(DEVICES)} "
                      f"(aliases: {', '.join(a for d in DEVICES.values() for a in d.aliases)})")


def device_for_part(part: str) -> Device | None:
    """Return the preset whose part string starts ``part`` (e.g. a HwConfig.part), or None."""
    low = part.lower()
    for dev in DEVICES.values():
        if low.startswith(dev.name) or low == dev.part.lower():
            return dev
    return None
