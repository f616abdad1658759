"""Energy model: per-event energies from an :class:`EnergyConfig`, summed per layer into a breakdown.

Defaults (``fpga_model.hw.EnergyConfig``, overridable by ``[energy]`` in a hw TOML file) and sources:

============================  =========  ===================================================================
event                         default    source
============================  =========  ===================================================================
DRAM DDR3, per bit            70 pJ      Accelergy/CACTI DRAM table; Malladi et al., ISCA'12
DRAM LPDDR4, per bit          8 pJ       Accelergy DRAM table; Malladi et al., ISCA'12
DRAM HBM2, per bit            3.9 pJ     O'Connor, Chatterjee et al., "Fine-Grained DRAM", MICRO'17
DRAM DDR4, per bit            15 pJ      ESTIMATE, no primary source checked (between LPDDR4 and DDR3); override
SRAM 8 KiB / 32 KiB / 1 MiB   10/20/100  Horowitz, ISSCC'14 (45 nm), per 64-bit access; log-log interpolated
  per 64-bit access                      by the accessed bank's size (half a ping-pong buffer)
MAC 8-bit (x 32-bit acc)      0.3 pJ     Horowitz ISSCC'14: 8-bit mult 0.2 + 32-bit add 0.1
MAC 16-bit (x 48-bit acc)     1.0 pJ     Horowitz ISSCC'14: geometric mean of 8-bit (0.2) and 32-bit (3.1)
                                         mult = 0.79, + wide add ~0.15, rounded
element-wise op (ALU)         0.1 pJ     Horowitz ISSCC'14: 32-bit int add
static power                  0.5 W      ASSUMPTION (order of a mid-size FPGA's static power); override per part
============================  =========  ===================================================================

The 45 nm ASIC numbers overstate nothing about FPGA logic — an FPGA MAC costs more — so treat the
breakdown as a relative guide between designs (the CGaP paper reports *relative* DRAM energy), not
an absolute power figure. DRAM pJ/bit follows ``dram.kind`` only through ``[dram] preset``.
"""

from __future__ import annotations

import math

from fpga_model.hw import EnergyConfig, HwConfig

_SRAM_POINTS = ((8 * 1024, "sram_pj_8kib"), (32 * 1024, "sram_pj_32kib"), (1024 * 1024, "sram_pj_1mib"))


def sram_pj_per_64bit(size_bytes: int, energy: EnergyConfig) -> float:
    """Return pJ per 64-bit access of an SRAM of ``size_bytes`` (log-log interpolation, end slopes extrapolate)."""
    if energy.sram_pj_per_64bit > 0:
        return energy.sram_pj_per_64bit
    pts = [(math.log(s), math.log(max(getattr(energy, k), 1e-12))) for s, k in _SRAM_POINTS]
    x = math.log(max(size_bytes, 64))
    (x0, y0), (x1, y1) = (pts[0], pts[1]) if x <= pts[1][0] else (pts[1], pts[2])
    return math.exp(y0 + (y1 - y0) * (x - x0) / (x1 - x0))


def mac_pj(hw: HwConfig) -> float:
    """Return pJ per MAC at the wider of the activation and weight widths (8 or 16 bits)."""
    return hw.energy.mac_pj_16bit if max(hw.act_bits, hw.weight_bits) > 8 else hw.energy.mac_pj_8bit


def buffer_bank_bytes(hw: HwConfig) -> dict[str, int]:
    """Return the size of one ping-pong bank (half the buffer) of each on-chip buffer, in bytes."""
    return {"input": hw.input_buffer_kib * 512, "weight": hw.weight_buffer_kib * 512,
            "output": hw.output_buffer_kib * 512}


def layer_energy(hw: HwConfig, *, dram_bytes: int, buffer_bytes: dict[str, int], macs: int, alu_ops: int,
                 cycles: int) -> dict[str, float]:
    """Return the energy breakdown of one layer in pJ: dram, sram_<buffer>..., mac, alu, static and total.

    ``buffer_bytes`` maps buffer name to bytes read + written; ``total`` is the sum of the other keys.
    """
    e = hw.energy
    banks = buffer_bank_bytes(hw)
    out = {"dram": dram_bytes * 8 * e.dram_pj_per_bit}
    for name, nbytes in buffer_bytes.items():
        out[f"sram_{name}"] = nbytes / 8 * sram_pj_per_64bit(banks[name], e)
    out["mac"] = macs * mac_pj(hw)
    out["alu"] = alu_ops * e.alu_pj
    out["static"] = e.static_power_w * cycles / (hw.clock_mhz * 1e6) * 1e12
    out["total"] = sum(out.values())
    return out
