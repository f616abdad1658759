"""Assemble the report's sections from :class:`RunData` and render the self-contained HTML page."""

from __future__ import annotations

import base64
import datetime
import json
from dataclasses import dataclass, field
from pathlib import Path

import jinja2

from cgap.atomic import write_text_atomic
from cgap.report import figures
from cgap.report.collect import RunData, collect
from cgap_ir.errors import CgapError


@dataclass
class Cell:
    """One table cell: its text and CSS class ("num" for numbers, "ok"/"bad" for checks)."""

    text: str
    css: str = ""


@dataclass
class Table:
    """A table: header labels and rows of cells."""

    headers: list[str]
    rows: list[list[Cell]]


@dataclass
class Section:
    """A report section: title, optional note, tables, embedded images and preformatted blocks."""

    id: str
    title: str
    note: str = ""
    tables: list[Table] = field(default_factory=list)
    images: list[dict] = field(default_factory=list)
    pre: list[str] = field(default_factory=list)


def cell(value: object) -> Cell:
    """Return a formatted cell: numbers right-aligned with separators, booleans as checks."""
    if isinstance(value, bool):
        return Cell("yes" if value else "NO", "ok" if value else "bad")
    if isinstance(value, int):
        return Cell(f"{value:,}", "num")
    if isinstance(value, float):
        return Cell(f"{value:,.4g}" if abs(value) < 1e4 else f"{value:,.0f}", "num")
    return Cell("" if value is None else str(value))


def image(png: bytes, alt: str) -> dict:
    """Return an embeddable image record (base64 PNG)."""
    return {"data": base64.b64encode(png).decode("ascii"), "alt": alt}


def _table(headers: list[str], rows: list[list[object]]) -> Table:
    return Table(headers, [[cell(v) for v in row] for row in rows])


def summary_section(data: RunData) -> Section | None:
    """Return the comparison table from summary.json rows (keys become columns)."""
    if not data.summary:
        return None
    headers = list(dict.fromkeys(k for row in data.summary for k in row))   # rows may add columns
    return Section("summary", "Baseline vs CGaP", tables=[_table(headers, [[r.get(h) for h in headers]
                                                                          for r in data.summary])])


def training_section(data: RunData) -> Section | None:
    """Return curves for all runs, each run's width heatmap and the PNGs training wrote."""
    if not data.histories:
        return None
    sec = Section("training", "Training", images=[image(figures.comparison_curves(data.histories),
                                                         "accuracy, parameters and MACs over epochs")])
    rows = []
    for name, hist in data.histories.items():
        last = hist["epochs"][-1] if hist.get("epochs") else {}
        grows = sum(e["kind"] == "grow" for e in hist.get("events", []))
        prunes = sum(e["kind"] == "prune" for e in hist.get("events", []))
        rows.append([name, len(hist.get("epochs", [])), last.get("val_acc"), last.get("params"), last.get("macs"),
                     grows, prunes])
        if hist.get("epochs"):
            sec.images.append(image(figures.width_heatmap(hist), f"{name}: width per group over epochs"))
    sec.tables.append(_table(["run", "epochs", "final val acc %", "params", "MACs", "grow events", "prune events"],
                             rows))
    for png in sorted(data.root.glob("*.png")) + sorted(data.root.glob("*/*.png")):
        if png.parent.name != "sim":
            sec.images.append(image(png.read_bytes(), str(png.relative_to(data.root))))
    return sec


def accelerator_section(data: RunData) -> Section | None:
    """Return per-design totals and per-layer latency/energy bars from the simulator reports."""
    if not data.sims:
        return None
    rows = []
    for name, sim in data.sims.items():
        t = sim["total"]
        rows.append([name, sim.get("hw"), t["latency_us"], t["cycles"], t["gops"], t["dram_read_bytes"],
                     t["dram_write_bytes"], t["energy_pj"].get("dram", 0) / 1e6, t["energy_pj"]["total"] / 1e6])
    sec = Section("accelerator", "Accelerator (cycle-level model)", tables=[_table(
        ["design", "hw", "latency us", "cycles", "GOPS", "DRAM read B", "DRAM write B", "DRAM energy uJ",
         "total energy uJ"], rows)])
    sec.images = [image(figures.sim_bars(sim), f"{name}: per-layer latency and energy") for name, sim in data.sims.items()]
    return sec


def tradeoff_section(data: RunData) -> Section | None:
    """Return accuracy against simulated latency and MACs for every method and seed, Pareto front marked."""
    if not data.tradeoff:
        return None
    keys = ["arch", "method", "seed", "test_acc", "latency_us", "macs", "params", "dram_energy_uj"]
    return Section("tradeoff", "Accuracy vs accelerator cost", note="One point per trained run (every method and "
                   "seed); dashed: the full model's mean accuracy; black steps: the Pareto front.",
                   images=[image(figures.tradeoff_scatter(data.tradeoff), "accuracy vs latency and MACs")],
                   tables=[_table(keys, [[r[k] for k in keys] for r in data.tradeoff])])


def verification_section(data: RunData) -> Section | None:
    """Return the C-simulation checks (bit-exactness, agreement with float, accuracies)."""
    if not data.verify:
        return None
    keys = ["bit_exact", "iterations_match", "images", "top1_agreement", "float_accuracy", "fixed_accuracy"]
    rows = [[where] + [v.get(k) for k in keys] for where, v in data.verify.items()]
    return Section("verification", "HLS C-simulation", note="g++ C-simulation of the generated project against the "
                   "numpy fixed-point golden model.", tables=[_table(["project"] + keys, rows)])


def hardware_section(data: RunData) -> Section | None:
    """Return the HwConfig text and the resource estimate, where present."""
    if data.hw_toml is None and data.resources is None:
        return None
    sec = Section("hardware", "Hardware configuration and resources")
    res = data.resources or {}
    if {"used", "available", "percent"} <= set(res):
        sec.note = (f"Analytical estimate on {res.get('device', '?')} (no vendor tool run): "
                    f"{'fits' if res.get('fits') else 'DOES NOT FIT'}.")
        sec.tables.append(_table(["resource", "used", "available", "%"],
                                 [[k.upper(), res["used"][k], res["available"][k], round(res["percent"][k], 1)]
                                  for k in res["used"]]))
    if res:
        sec.pre.append(json.dumps(res.get("detail", res), indent=1))
    if data.hw_toml:
        sec.pre.append(data.hw_toml)
    return sec


SECTIONS = (summary_section, tradeoff_section, training_section, accelerator_section, verification_section, hardware_section)


def render_report(data: RunData) -> str:
    """Return the report page as HTML text."""
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(Path(__file__).parent), undefined=jinja2.StrictUndefined,
                             autoescape=True)
    sections = [s for s in (build(data) for build in SECTIONS) if s is not None]
    return env.get_template("report.html.j2").render(
        title=data.root.name, root=str(data.root), sections=sections,
        generated=datetime.datetime.now().isoformat(timespec="seconds"))


def write_report(run_dir: str | Path, out: str | Path | None = None) -> Path:
    """Write the HTML report of ``run_dir`` (default RUN_DIR/report.html) atomically; return its path."""
    data = collect(run_dir)
    try:
        html = render_report(data)
    except (KeyError, TypeError, AttributeError, IndexError, ValueError) as exc:  # files not as cgap writes them
        raise CgapError(f"{run_dir}: a run file does not have the layout cgap writes "
                        f"({type(exc).__name__}: {exc})") from None
    return write_text_atomic(Path(out) if out else Path(run_dir) / "report.html", html)
