"""``fpga_model.energy.layer_energy`` term by term, each expected number worked out by hand from the cited constants.

The constants (``fpga_model.energy``'s table; ``EnergyConfig`` defaults):

- DRAM DDR3 70 pJ/bit (Accelergy/CACTI; Malladi ISCA'12), HBM2 3.9 pJ/bit (Chatterjee MICRO'17);
- SRAM 10 / 20 / 100 pJ per 64-bit access at 8 KiB / 32 KiB / 1 MiB (Horowitz ISSCC'14), interpolated on a
  log-log scale by the size of one ping-pong bank (half the buffer): between two points the energy multiplies
  by (E1/E0) ** t where t is how far along the log of the size the bank lies; beyond the end points the end
  segment's slope extrapolates;
- MAC 0.3 pJ at 8 bits (Horowitz: 8-bit mult 0.2 + 32-bit add 0.1), 1.0 pJ at 16 bits;
- element-wise op (ALU) 0.1 pJ (Horowitz: 32-bit add); static power 0.5 W.

No expected value here comes from the helpers under test.
"""

from __future__ import annotations

import dataclasses

import pytest

from fpga_model.energy import layer_energy, sram_pj_per_64bit
from fpga_model.hw import EnergyConfig, HwConfig

KIB = 1024
EXACT = 1e-12  # relative tolerance: the hand numbers are exact up to float rounding


def hw16(input_kib: int = 16, weight_kib: int = 64, output_kib: int = 2048, **changes: object) -> HwConfig:
    """A 16-bit engine at 200 MHz whose three buffers have different sizes (so a swapped bank shows)."""
    return HwConfig(input_buffer_kib=input_kib, weight_buffer_kib=weight_kib, output_buffer_kib=output_kib,
                    **changes)


def energy(hw: HwConfig, dram_bytes: int = 0, buffer_bytes: dict[str, int] | None = None, macs: int = 0,
           alu_ops: int = 0, cycles: int = 0) -> dict[str, float]:
    return layer_energy(hw, dram_bytes=dram_bytes, buffer_bytes=buffer_bytes or {}, macs=macs, alu_ops=alu_ops,
                        cycles=cycles)


def test_the_defaults_are_the_cited_constants():
    assert dataclasses.asdict(EnergyConfig()) == {
        "dram_pj_per_bit": 70.0, "sram_pj_per_64bit": 0.0, "sram_pj_8kib": 10.0, "sram_pj_32kib": 20.0,
        "sram_pj_1mib": 100.0, "mac_pj_16bit": 1.0, "mac_pj_8bit": 0.3, "alu_pj": 0.1, "static_power_w": 0.5}


def test_sram_at_the_three_cited_points():
    # Banks are half the buffer: 16 KiB -> 8 KiB bank (10 pJ), 64 KiB -> 32 KiB (20 pJ), 2 MiB -> 1 MiB (100 pJ).
    # 8,000 B = 1,000 64-bit accesses; 1,600 B = 200; 80 B = 10.
    e = energy(hw16(), buffer_bytes={"input": 8000, "weight": 1600, "output": 80})
    assert e["sram_input"] == pytest.approx(1000 * 10.0, rel=EXACT)
    assert e["sram_weight"] == pytest.approx(200 * 20.0, rel=EXACT)
    assert e["sram_output"] == pytest.approx(10 * 100.0, rel=EXACT)


def test_sram_between_the_points_is_log_log():
    # 32 KiB input buffer -> 16 KiB bank: halfway (in log size) from 8 to 32 KiB -> 10 * 2 ** 0.5 = 14.1421 pJ
    #   (a straight line in size would give 13.33).
    # 256 KiB weight buffer -> 128 KiB bank: log2(128/32) / log2(1024/32) = 2/5 of the way from 32 KiB to 1 MiB
    #   -> 20 * 5 ** 0.4 = 38.0730 pJ (linear in size: 27.7).
    # 1 KiB output buffer -> 512 B bank: 4 halvings below 8 KiB, i.e. 2 of the first segment's quadruplings,
    #   each halving the energy: 10 / 2 ** 2 = 2.5 pJ.
    e = energy(hw16(input_kib=32, weight_kib=256, output_kib=1), buffer_bytes={"input": 800, "weight": 800,
                                                                                 "output": 800})
    assert e["sram_input"] == pytest.approx(100 * 10 * 2 ** 0.5, rel=EXACT)
    assert e["sram_weight"] == pytest.approx(100 * 20 * 5 ** 0.4, rel=EXACT)
    assert e["sram_output"] == pytest.approx(100 * 2.5, rel=EXACT)


def test_sram_beyond_1mib_extrapolates_the_upper_slope():
    # 2 MiB bank (4 MiB buffer): one doubling past 1 MiB, the upper segment spans 5 doublings for x5 energy
    # -> 100 * 5 ** (1/5) = 137.9730 pJ; 4 KiB bank (8 KiB buffer): 10 / 2 ** 0.5 = 7.0711 pJ.
    e = energy(hw16(input_kib=4096, output_kib=8), buffer_bytes={"input": 8, "output": 8})
    assert e["sram_input"] == pytest.approx(100 * 5 ** (1 / 5), rel=EXACT)
    assert e["sram_output"] == pytest.approx(10 / 2 ** 0.5, rel=EXACT)


def test_sram_helper_by_bank_size_and_the_flat_override():
    config = EnergyConfig()
    assert [sram_pj_per_64bit(n * KIB, config) for n in (8, 32, 1024)] == pytest.approx([10.0, 20.0, 100.0])
    assert sram_pj_per_64bit(16 * KIB, config) == pytest.approx(10 * 2 ** 0.5, rel=EXACT)
    flat = HwConfig(energy=EnergyConfig(sram_pj_per_64bit=5.0))  # every buffer 5 pJ, whatever its size
    e = energy(flat, buffer_bytes={"input": 64, "weight": 640, "output": 6400})
    assert (e["sram_input"], e["sram_weight"], e["sram_output"]) == pytest.approx((40.0, 400.0, 4000.0), rel=EXACT)


def test_only_the_buffers_given_are_charged():
    e = energy(hw16(), buffer_bytes={"input": 80})
    assert set(e) == {"dram", "sram_input", "mac", "alu", "static", "total"}


@pytest.mark.parametrize("act_bits,weight_bits,pj", [(8, 8, 0.3), (16, 16, 1.0), (8, 16, 1.0), (16, 8, 1.0)])
def test_mac_energy_by_the_wider_operand(act_bits, weight_bits, pj):
    hw = HwConfig(act_bits=act_bits, weight_bits=weight_bits, acc_bits=32)
    assert energy(hw, macs=1_000_000)["mac"] == pytest.approx(1_000_000 * pj, rel=EXACT)


def test_alu_static_and_dram():
    # ALU: 12,345 ops x 0.1 pJ = 1,234.5 pJ.
    # Static: 0.5 W for 1,000 cycles at 200 MHz = 0.5 J/s x 5 us = 2.5 uJ = 2.5e6 pJ; at 100 MHz twice that.
    # DRAM: 1,000 B = 8,000 bits x 70 pJ = 560,000 pJ; with HBM2's 3.9 pJ/bit, 31,200 pJ.
    e = energy(hw16(), alu_ops=12_345, cycles=1_000, dram_bytes=1_000)
    assert e["alu"] == pytest.approx(1234.5, rel=EXACT)
    assert e["static"] == pytest.approx(2.5e6, rel=EXACT)
    assert e["dram"] == pytest.approx(560_000.0, rel=EXACT)
    assert energy(hw16(clock_mhz=100.0), cycles=1_000)["static"] == pytest.approx(5e6, rel=EXACT)
    hbm = hw16(energy=EnergyConfig(dram_pj_per_bit=3.9))
    assert energy(hbm, dram_bytes=1_000)["dram"] == pytest.approx(31_200.0, rel=EXACT)


def test_a_whole_layer_and_its_total():
    # Default 16-bit engine (256 KiB buffers -> 128 KiB banks: 20 * 5 ** 0.4 = 38.0731 pJ per access each).
    e = energy(HwConfig(), dram_bytes=4_096, buffer_bytes={"input": 16_000, "weight": 8_000, "output": 800},
               macs=250_000, alu_ops=3_000, cycles=20_000)
    per_access = 20 * 5 ** 0.4
    expected = {
        "dram": 4_096 * 8 * 70.0,                # 2,293,760 pJ
        "sram_input": 2_000 * per_access,        # 76,146 pJ
        "sram_weight": 1_000 * per_access,       # 38,073 pJ
        "sram_output": 100 * per_access,         # 3,807 pJ
        "mac": 250_000 * 1.0,
        "alu": 3_000 * 0.1,
        "static": 0.5 * 20_000 / 200e6 * 1e12,   # 5e7 pJ (100 us at 0.5 W)
    }
    assert set(e) == {*expected, "total"}
    for key, value in expected.items():
        assert e[key] == pytest.approx(value, rel=EXACT), key
    # 50,000,000 + 2,293,760 + 250,000 + 300 + 3,100 x 38.0730788 (118,026.544) = 52,662,086.544 pJ
    assert e["total"] == pytest.approx(52_662_086.544, rel=1e-10)
    assert e["total"] == pytest.approx(sum(expected.values()), rel=EXACT)
