"""Find what a run directory holds: training histories, simulator reports, C-sim verification, HwConfig.

Layouts understood (all parts optional, at least one required)::

    RUN_DIR/history.json                     a single training run
    RUN_DIR/<method>/history.json            several runs side by side (cgap, full, prune)
    RUN_DIR/sim/<name>.json                  `cgap sim --json` reports
    RUN_DIR/**/verify.json                   `cgap-export --verify` results
    RUN_DIR/hw.toml, RUN_DIR/resources.json  the accelerator configuration and its resource estimate
    RUN_DIR/summary.json                     the pipeline's comparison rows
    RUN_DIR/tradeoff.csv                     accuracy vs accelerator cost per run (benchmarks/cgap_table.py)
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from cgap.report.tradeoff import FILE, read_csv
from cgap_ir.errors import CgapError


@dataclass
class RunData:
    """Everything found in a run directory, as plain parsed JSON/text."""

    root: Path
    histories: dict[str, dict] = field(default_factory=dict)
    sims: dict[str, dict] = field(default_factory=dict)
    verify: dict[str, dict] = field(default_factory=dict)
    hw_toml: str | None = None
    resources: dict | None = None
    summary: list[dict] = field(default_factory=list)
    tradeoff: list[dict] = field(default_factory=list)

    def empty(self) -> bool:
        """Return True when nothing reportable was found."""
        return not (self.histories or self.sims or self.verify or self.summary or self.tradeoff)


def _read_json(path: Path, kind: type = dict) -> dict | list:
    """Return the parsed JSON of ``path``; raise CgapError if it is unreadable or its top level is not ``kind``."""
    try:
        doc = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise CgapError(f"{path}: unreadable JSON ({exc})") from None
    if not isinstance(doc, kind):
        raise CgapError(f"{path}: expected a JSON {'object' if kind is dict else 'array'}, got {type(doc).__name__}")
    return doc


def collect(root: str | Path) -> RunData:
    """Return the parsed contents of run directory ``root``; raise CgapError if it holds nothing to report."""
    root = Path(root)
    if not root.is_dir():
        raise CgapError(f"run directory {root} not found")
    data = RunData(root)
    if (root / "history.json").is_file():
        data.histories[root.name] = _read_json(root / "history.json")
    for path in sorted(root.glob("*/history.json")):
        data.histories[path.parent.name] = _read_json(path)
    for path in sorted((root / "sim").glob("*.json")):
        data.sims[path.stem] = _read_json(path)
    for path in sorted(root.rglob("verify.json")):
        data.verify[str(path.parent.relative_to(root))] = _read_json(path)
    if (root / "hw.toml").is_file():
        data.hw_toml = (root / "hw.toml").read_text()
    if (root / "resources.json").is_file():
        data.resources = _read_json(root / "resources.json")
    if (root / "summary.json").is_file():
        data.summary = _read_json(root / "summary.json", list)
    if (root / FILE).is_file():
        data.tradeoff = read_csv(root / FILE)
    if data.empty():
        raise CgapError(f"{root}: nothing to report (no history.json, sim/*.json, verify.json or summary.json)")
    return data
