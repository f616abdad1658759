"""Simulator reports: totals, JSON-ready dicts, CSV, a terminal table and a matplotlib bar plot.

JSON schema (``to_dict``)::

    {"network", "hw", "clock_mhz",
     "total": {"cycles", "latency_us", "compute_cycles", "stall_cycles", "macs", "roofline_cycles",
               "utilisation", "roofline_efficiency", "dram_read_bytes", "dram_read_weight_bytes",
               "dram_read_act_bytes", "dram_write_bytes", "buffer_read_bytes", "buffer_write_bytes",
               "gops", "energy_pj": {...}},
     "layers": [{"name", "kind", "tiles", "pipeline_starts", "iterations", "cycles", "compute_cycles", "stall_cycles", "macs",
                 "roofline_cycles", "utilisation", "bound", "latency_us", "gops", "dram_read_bytes",
                 "dram_read_weight_bytes", "dram_read_act_bytes", "dram_write_bytes",
                 "buffer_read_bytes": {...}, "buffer_write_bytes": {...}, "energy_pj": {...}}, ...]}

``energy_pj`` holds dram, sram_input, sram_weight, sram_output, mac, alu, static and total (the sum).  A layer's
``bound`` is "MAC" when its roofline is the MAC array's, "DRAM" when moving its bytes takes longer (fully
connected layers at batch 1 stream every weight once: DRAM bound).
"""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from fpga_model.engine_sim import LayerResult, SimReport

ENERGY_KEYS = ("dram", "sram_input", "sram_weight", "sram_output", "mac", "alu", "static")


def layer_dict(r: LayerResult, clock_mhz: float, macs_per_cycle: int) -> dict:
    """Return the JSON-ready dict of one layer (see module doc)."""
    latency_us = r.cycles / clock_mhz
    return {
        "name": r.name, "kind": r.kind, "tiles": r.tiles, "pipeline_starts": r.pipeline_starts,
        "iterations": r.iterations, "cycles": r.cycles,
        "compute_cycles": r.compute_cycles, "stall_cycles": r.stall_cycles, "macs": r.macs,
        "roofline_cycles": r.roofline_cycles, "utilisation": r.macs / (r.cycles * macs_per_cycle),
        "bound": "MAC" if r.macs / macs_per_cycle >= r.roofline_cycles else "DRAM",
        "latency_us": latency_us, "gops": 2 * r.macs / (latency_us * 1e3),
        "dram_read_bytes": r.dram_read_bytes, "dram_read_weight_bytes": r.dram_read_weight_bytes,
        "dram_read_act_bytes": r.dram_read_act_bytes, "dram_write_bytes": r.dram_write_bytes,
        "buffer_read_bytes": dict(r.buffer_read_bytes), "buffer_write_bytes": dict(r.buffer_write_bytes),
        "energy_pj": dict(r.energy_pj),
    }


def totals(report: SimReport) -> dict:
    """Return the network totals of ``report`` (sums over layers, plus derived rates)."""
    ls = report.layers
    cycles = sum(r.cycles for r in ls)
    macs = sum(r.macs for r in ls)
    roof = sum(r.roofline_cycles for r in ls)
    latency_us = cycles / report.hw.clock_mhz
    energy = {k: sum(r.energy_pj[k] for r in ls) for k in ENERGY_KEYS}
    energy["total"] = sum(energy.values())
    return {
        "cycles": cycles, "latency_us": latency_us, "compute_cycles": sum(r.compute_cycles for r in ls),
        "stall_cycles": sum(r.stall_cycles for r in ls), "macs": macs, "roofline_cycles": roof,
        "utilisation": macs / (cycles * report.hw.macs), "roofline_efficiency": roof / cycles,
        "dram_read_bytes": sum(r.dram_read_bytes for r in ls),
        "dram_read_weight_bytes": sum(r.dram_read_weight_bytes for r in ls),
        "dram_read_act_bytes": sum(r.dram_read_act_bytes for r in ls),
        "dram_write_bytes": sum(r.dram_write_bytes for r in ls),
        "buffer_read_bytes": sum(sum(r.buffer_read_bytes.values()) for r in ls),
        "buffer_write_bytes": sum(sum(r.buffer_write_bytes.values()) for r in ls),
        "gops": 2 * macs / (latency_us * 1e3), "energy_pj": energy,
    }


def to_dict(report: SimReport) -> dict:
    """Return the whole report as a JSON-ready dict (schema in the module doc)."""
    hw = report.hw
    return {"network": report.network, "hw": hw.name, "clock_mhz": hw.clock_mhz, "total": totals(report),
            "layers": [layer_dict(r, hw.clock_mhz, hw.macs) for r in report.layers]}


CSV_COLUMNS = ("name", "kind", "tiles", "iterations", "cycles", "compute_cycles", "stall_cycles", "macs",
               "utilisation", "latency_us", "dram_read_weight_bytes", "dram_read_act_bytes", "dram_write_bytes",
               *(f"energy_{k}_pj" for k in (*ENERGY_KEYS, "total")))


def to_csv(report: SimReport) -> str:
    """Return one CSV row per layer (columns ``CSV_COLUMNS``) followed by a ``TOTAL`` row."""
    doc = to_dict(report)
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    total = {"name": "TOTAL", "kind": "", "tiles": sum(r["tiles"] for r in doc["layers"]),
             "iterations": sum(r["iterations"] for r in doc["layers"]), **doc["total"]}
    for row in [*doc["layers"], total]:
        flat = {**row, **{f"energy_{k}_pj": v for k, v in row["energy_pj"].items()}}
        writer.writerow([_fmt(flat[c]) for c in CSV_COLUMNS])
    return buf.getvalue()


def _fmt(value: object) -> str:
    return f"{value:.6g}" if isinstance(value, float) else str(value)


def table(report: SimReport) -> str:
    """Return an aligned terminal table: one line per layer (full names), a total line and a summary."""
    from fpga_model.table import format_table

    doc = to_dict(report)
    headers = ["layer", "kind", "cycles", "compute", "stall", "util %", "bound", "DRAM rd KiB", "wr KiB", "energy uJ"]
    rows = [[r["name"], r["kind"], r["cycles"], r["compute_cycles"], r["stall_cycles"],
             round(100 * r["utilisation"], 1), r.get("bound", ""), round(r["dram_read_bytes"] / 1024, 1),
             round(r["dram_write_bytes"] / 1024, 1), round(r["energy_pj"]["total"] / 1e6, 3)]
            for r in [*doc["layers"], {"name": "TOTAL", "kind": "", **doc["total"]}]]
    t = doc["total"]
    return "\n".join([
        f"{doc['network']} on {doc['hw']} @ {doc['clock_mhz']:g} MHz",
        format_table(headers, rows),
        f"latency {t['latency_us']:.1f} us, {t['gops']:.2f} GOPS, roofline efficiency "
        f"{t['roofline_efficiency']:.0%}, energy {t['energy_pj']['total'] / 1e6:.2f} uJ",
    ])


def plot(report: SimReport, path: str | Path) -> Path:
    """Write a PNG/PDF of per-layer stacked latency (compute vs stall) and energy bars; return the path."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    doc = to_dict(report)
    names = [r["name"] for r in doc["layers"]]
    x = range(len(names))
    fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(max(6, 0.25 * len(names)), 7), sharex=True)
    comp = [r["compute_cycles"] / doc["clock_mhz"] for r in doc["layers"]]
    stall = [r["stall_cycles"] / doc["clock_mhz"] for r in doc["layers"]]
    ax1.bar(x, comp, label="compute")
    ax1.bar(x, stall, bottom=comp, label="DRAM stall")
    ax1.set_ylabel("latency (us)")
    ax1.legend()
    bottom = [0.0] * len(names)
    for key in ENERGY_KEYS:
        vals = [r["energy_pj"][key] / 1e6 for r in doc["layers"]]
        ax2.bar(x, vals, bottom=bottom, label=key)
        bottom = [b + v for b, v in zip(bottom, vals, strict=True)]
    ax2.set_ylabel("energy (uJ)")
    ax2.legend(fontsize="small", ncol=4)
    ax2.set_xticks(list(x), names, rotation=90, fontsize="x-small")
    fig.suptitle(f"{doc['network']} on {doc['hw']}")
    fig.tight_layout()
    out = Path(path)
    fig.savefig(out)
    plt.close(fig)
    return out
