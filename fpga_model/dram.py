"""DRAM interface model: how many accelerator cycles a batch of DMA transfers takes.

Modelled (all vectorised over arrays of transfers):

* **Bus width and clock ratio**: the accelerator moves at most ``port_bits/8`` bytes per cycle over
  its m_axi port, and the device sustains ``bandwidth_gbps * efficiency`` GB/s; the tighter of the
  two sets bytes/cycle at ``clock_mhz`` (:func:`bytes_per_cycle`).
* **Beats and bursts**: each contiguous segment is rounded up to whole bus beats; bursts of
  ``burst_beats`` are issued back to back with requests outstanding, so the address phase is hidden.
* **Per-transaction latency**: ``latency_cycles`` once per direction (read, write) per tile step —
  the DMA engine pipelines its bursts, so only the first beat waits.
* **Read/write turnaround**: ``turnaround_ns`` (e.g. tWTR) twice per step that both reads and writes.
* **Row buffer (optional)**: with ``row_bytes`` > 0 every segment opens ceil(bytes/row_bytes)+1 pages
  in the worst alignment, approximated as ceil(bytes/row_bytes) misses, each costing ``row_miss_ns``
  (tRP + tRCD); accesses within an open page are hits (no extra time).

Not modelled: refresh (folded into ``efficiency``), bank-level parallelism hiding row misses,
multiple AXI ports in parallel, controller queueing/reordering, other masters sharing the DRAM.
"""

from __future__ import annotations

import math

import numpy as np

from fpga_model.hw import DRAM_PJ_PER_BIT, DRAM_PRESETS, DramConfig, HwConfig

__all__ = ["DRAM_PJ_PER_BIT", "DRAM_PRESETS", "bytes_per_cycle", "ns_to_cycles", "segment_beats", "step_cycles"]


def bytes_per_cycle(hw: HwConfig) -> float:
    """Return the sustained DRAM bytes per accelerator cycle (min of port width and device bandwidth)."""
    dram: DramConfig = hw.dram
    device = dram.bandwidth_gbps * dram.efficiency * 1e3 / hw.clock_mhz   # GB/s / MHz = kB per cycle / 1e3
    return min(dram.port_bits / 8, device)


def ns_to_cycles(ns: float, hw: HwConfig) -> int:
    """Return ``ns`` nanoseconds as whole accelerator cycles (rounded up)."""
    return math.ceil(ns * hw.clock_mhz / 1000.0 - 1e-9)


def segment_beats(seg_bytes: np.ndarray, segments: np.ndarray, hw: HwConfig) -> np.ndarray:
    """Return bus beats to move ``segments`` contiguous runs of ``seg_bytes`` each (arrays, elementwise)."""
    port = hw.dram.port_bits // 8
    return segments * -(-seg_bytes // port)


def _row_misses(seg_bytes: np.ndarray, segments: np.ndarray, hw: HwConfig) -> np.ndarray:
    if hw.dram.row_bytes <= 0 or hw.dram.row_miss_ns <= 0:
        return np.zeros_like(seg_bytes)
    return segments * -(-seg_bytes // hw.dram.row_bytes)


def step_cycles(reads: list[tuple[np.ndarray, np.ndarray]], writes: list[tuple[np.ndarray, np.ndarray]],
                hw: HwConfig) -> np.ndarray:
    """Return DRAM cycles of each tile step.

    ``reads``/``writes`` list transfers as (segment bytes, segment count) arrays, one entry per
    tile step; a step costs latency per direction used, data beats at the sustained rate, row
    misses and read/write turnaround (see module doc).
    """
    bpc = bytes_per_cycle(hw)
    port = hw.dram.port_bits // 8
    miss = ns_to_cycles(hw.dram.row_miss_ns, hw)
    total = 0
    directions = []
    for group in (reads, writes):
        beats = sum(segment_beats(b, n, hw) for b, n in group)
        misses = sum(_row_misses(b, n, hw) for b, n in group)
        used = beats > 0
        directions.append(used)
        total = total + np.ceil(beats * port / bpc) + misses * miss + used * hw.dram.latency_cycles
    both = directions[0] & directions[1]
    return (total + both * 2 * ns_to_cycles(hw.dram.turnaround_ns, hw)).astype(np.int64)
