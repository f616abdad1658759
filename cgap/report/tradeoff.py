"""Accuracy against accelerator cost over methods and seeds: the per-seed CSV and its Pareto front (no plotting).

``benchmarks/cgap_table.py`` writes ``tradeoff.csv`` (one row per trained run, :data:`COLUMNS`) into its runs
folder and next to its markdown table; ``cgap report RUNS`` draws it (:func:`cgap.report.figures.tradeoff_scatter`).
"""

from __future__ import annotations

import csv
import io
import math
from pathlib import Path

from cgap_ir.errors import CgapError

COLUMNS = ("arch", "method", "seed", "test_acc", "params", "macs", "latency_us", "dram_energy_uj", "energy_uj",
           "train_macs", "train_seconds", "run")
TEXT = ("arch", "method", "run")
FILE = "tradeoff.csv"


def to_csv(rows: list[dict]) -> str:
    """Return ``rows`` as CSV text with the :data:`COLUMNS` header."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=COLUMNS, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buf.getvalue()


def read_csv(path: str | Path) -> list[dict]:
    """Return the rows of a tradeoff CSV, numbers parsed; raise CgapError when a column is missing or bad."""
    path = Path(path)
    with path.open(newline="") as fh:
        reader = csv.DictReader(fh)
        missing = [c for c in COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise CgapError(f"{path}: not a tradeoff CSV (missing columns {missing})")
        rows = []
        for n, raw in enumerate(reader, start=2):
            try:
                rows.append({k: raw[k] if k in TEXT else float(raw[k]) for k in COLUMNS})
            except (TypeError, ValueError):
                raise CgapError(f"{path}: line {n} has a value that is not a number") from None
    return rows


def pareto_front(points: list[tuple[float, float]]) -> list[int]:
    """Return the indices of the (cost, accuracy) points no other point beats on both (lower or equal cost and
    higher or equal accuracy, one strictly), cheapest first."""
    order = sorted(range(len(points)), key=lambda i: (points[i][0], -points[i][1]))
    front, best = [], -math.inf
    for i in order:
        if points[i][1] > best:
            front.append(i)
            best = points[i][1]
    return front


def mean_std(values: list[float]) -> tuple[float, float]:
    """Return the mean and the sample standard deviation (0 for one value)."""
    mean = sum(values) / len(values)
    if len(values) < 2:
        return mean, 0.0
    return mean, math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1))
