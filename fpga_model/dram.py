"""DRAM interface model: the integer cycle terms of the engine's AXI bursts and of the DRAM device behind them.

The generated engine counts exactly these terms in C-simulation (``hls_templates/cgap_engine.h``,
``cgap_count_step``), from constants :func:`timing_constants` puts in its config header:

* **Ports**: three m_axi ports (feature-map reads, feature-map writes, weight reads), each moving one
  ``port_bits`` beat per cycle.  A burst loop over ``beats`` contiguous beats costs
  :func:`burst_cycles` = ``latency_cycles`` + beats on its port's stage (the request's round trip, then
  one beat a cycle); the engine issues one burst per contiguous DRAM segment.
* **Device**: the DRAM sustains ``bandwidth_gbps * efficiency`` GB/s; at ``clock_mhz`` one beat occupies
  it ``beat_x1024 / 1024`` cycles (:func:`beat_cycles_x1024`, rounded up to 1/1024 cycle).  Per tile step
  the device needs ceil(read beats * beat_x1024 / 1024) + ceil(write beats * ...) cycles, plus
  ``row_miss_ns`` (tRP + tRCD) per DRAM row a burst opens (``ceil(burst bytes / row_bytes)``, the
  worst alignment approximated) and ``turnaround_ns`` (tWTR) twice when the step both reads and writes
  (:func:`device_cycles`).  A step lasts at least that long however fast the ports are.

Not modelled: refresh (folded into ``efficiency``), bank-level parallelism hiding row misses, controller
queueing and reordering, other masters sharing the DRAM.
"""

from __future__ import annotations

import math

import numpy as np

from fpga_model.hw import DRAM_PJ_PER_BIT, DRAM_PRESETS, DramConfig, HwConfig

__all__ = ["DRAM_PJ_PER_BIT", "DRAM_PRESETS", "beat_cycles_x1024", "burst_cycles", "bytes_per_cycle", "device_bytes_per_cycle",
           "device_cycles",
           "miss_cycles", "ns_to_cycles", "port_bytes", "row_bytes", "row_misses", "timing_constants",
           "turnaround_cycles"]


def port_bytes(hw: HwConfig) -> int:
    """Return the bytes of one beat of the m_axi ports."""
    return hw.dram.port_bits // 8


def device_bytes_per_cycle(hw: HwConfig) -> float:
    """Return the bytes per accelerator cycle the DRAM device sustains (bandwidth x efficiency at the clock)."""
    dram: DramConfig = hw.dram
    return dram.bandwidth_gbps * dram.efficiency * 1e3 / hw.clock_mhz   # GB/s / MHz = kB per cycle / 1e3


def bytes_per_cycle(hw: HwConfig) -> float:
    """Return the sustained DRAM bytes per accelerator cycle of one port (min of port width and device rate)."""
    return min(port_bytes(hw), device_bytes_per_cycle(hw))


def ns_to_cycles(ns: float, hw: HwConfig) -> int:
    """Return ``ns`` nanoseconds as whole accelerator cycles (rounded up)."""
    return math.ceil(ns * hw.clock_mhz / 1000.0 - 1e-9)


def beat_cycles_x1024(hw: HwConfig) -> int:
    """Return 1024 x the accelerator cycles the DRAM device needs for one beat (rounded up)."""
    return math.ceil(1024 * port_bytes(hw) / device_bytes_per_cycle(hw) - 1e-9)


def row_bytes(hw: HwConfig) -> int:
    """Return the DRAM row (page) bytes the miss count divides by (1 when misses are not modelled)."""
    return hw.dram.row_bytes if hw.dram.row_bytes > 0 and hw.dram.row_miss_ns > 0 else 1


def miss_cycles(hw: HwConfig) -> int:
    """Return the cycles of one row miss (0 when misses are not modelled)."""
    return ns_to_cycles(hw.dram.row_miss_ns, hw) if hw.dram.row_bytes > 0 and hw.dram.row_miss_ns > 0 else 0


def turnaround_cycles(hw: HwConfig) -> int:
    """Return the cycles of one read/write turnaround."""
    return ns_to_cycles(hw.dram.turnaround_ns, hw)


def burst_cycles(beats: np.ndarray, bursts: np.ndarray, hw: HwConfig) -> np.ndarray:
    """Return the port cycles of ``bursts`` bursts of ``beats`` beats each (elementwise; 0 where no burst)."""
    return bursts * (hw.dram.latency_cycles + beats)


def row_misses(beats: np.ndarray, bursts: np.ndarray, hw: HwConfig) -> np.ndarray:
    """Return the DRAM rows opened by ``bursts`` bursts of ``beats`` beats each (elementwise)."""
    return bursts * -(-(beats * port_bytes(hw)) // row_bytes(hw))


def device_cycles(read_beats: np.ndarray, write_beats: np.ndarray, misses: np.ndarray, hw: HwConfig) -> np.ndarray:
    """Return per tile step the cycles the DRAM device needs: beats at its rate, row misses, turnarounds."""
    x = beat_cycles_x1024(hw)
    both = (read_beats > 0) & (write_beats > 0)
    return (-(-read_beats * x // 1024) - (-write_beats * x // 1024) + misses * miss_cycles(hw)
            + both * 2 * turnaround_cycles(hw))


def timing_constants(hw: HwConfig) -> dict[str, int]:
    """Return the integer DRAM terms the generated engine's cycle count uses (config header names)."""
    return {"PORT_BITS": hw.dram.port_bits, "DRAM_LATENCY": hw.dram.latency_cycles,
            "DRAM_BEAT_X1024": beat_cycles_x1024(hw), "DRAM_ROW_BYTES": row_bytes(hw),
            "DRAM_MISS_CYCLES": miss_cycles(hw), "DRAM_TURNAROUND": turnaround_cycles(hw)}
