"""The CGaP paper's comparison in our setting: full vs prune vs cgap, with the accelerator's numbers.

For each arch (vgg11, resnet20) and method, takes the trained checkpoint that
``benchmarks/cgap_table.py`` left in ``RUNS/<arch>-<method>-s0/`` (training them first with the same
settings when missing), simulates it on one named HwConfig, and writes a markdown table: test
accuracy, params, MACs, DRAM access energy and inference latency, with each reduction of ``cgap``
against ``full`` next to the paper's (ResNet-110 on CIFAR-10: −64.0% params, −63.3% FLOPs, −11.8% DRAM
access energy, −40.2% latency; Liu et al., IEEE JETCAS 2019 / arXiv 1905.11533, abstract).

    python benchmarks/cgap_table.py && python benchmarks/paper_table.py      # ~1 h on 2 cores
    python benchmarks/paper_table.py --runs runs/cgap_table --hw zcu102-16b
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

from cgap.atomic import write_text_atomic
from cgap.frontend import load_network
from fpga_model.engine_sim import simulate
from fpga_model.hw import load_hw

PAPER = {"params": -64.0, "MACs": -63.3, "DRAM energy": -11.8, "latency": -40.2}
METHODS = ("full", "prune", "cgap")


def run_dir(runs: Path, arch: str, method: str) -> Path:
    """Return the folder of (arch, method): cgap_table.py's first seed (``-s0``), or an older unsuffixed run."""
    seeded = runs / f"{arch}-{method}-s0"
    return seeded if seeded.is_dir() or not (runs / f"{arch}-{method}").is_dir() else runs / f"{arch}-{method}"


def measure(run: Path, hw_name: str) -> dict:
    """Return accuracy, size and simulated accelerator cost of the run in ``run``."""
    final = json.loads((run / "history.json").read_text())["final"]
    total = simulate(load_network(run / "model.pt"), load_hw(hw_name)).total()
    return {"acc": final["test_acc"], "params": final["params"], "MACs": final["macs"],
            "DRAM energy": total["energy_pj"]["dram"] / 1e6, "latency": total["latency_us"]}


def reduction(cell: dict, ref: dict, key: str) -> float:
    """Return the percentage change of ``cell[key]`` against ``ref[key]`` (negative = smaller)."""
    return 100.0 * (cell[key] / ref[key] - 1.0)


def rows_for(arch: str, cells: dict[str, dict]) -> list[str]:
    """Return the markdown rows of one arch: absolute numbers and changes against full."""
    ref = cells["full"]
    rows = []
    for method in METHODS:
        c = cells[method]
        delta = "" if method == "full" else " / ".join(f"{reduction(c, ref, k):+.1f}%" for k in PAPER)
        rows.append(f"| {arch} | {method} | {c['acc']:.2f} | {c['params']:,} | {c['MACs']:,} | "
                    f"{c['DRAM energy']:.1f} | {c['latency']:.1f} | {delta} |")
    return rows


def verdict(arch: str, cells: dict[str, dict]) -> list[str]:
    """Return one line per paper reduction: whether cgap beats it, and the accuracy condition."""
    cg, ref = cells["cgap"], cells["full"]
    lines = []
    for key, paper in PAPER.items():
        ours = reduction(cg, ref, key)
        lines.append(f"- {arch} {key}: ours {ours:+.1f}% vs paper {paper:+.1f}% — "
                     f"{'beats it' if ours <= paper else f'misses by {ours - paper:.1f} pt'}")
    drop = ref["acc"] - cg["acc"]
    lines.append(f"- {arch} accuracy: cgap {cg['acc']:.2f}% vs full {ref['acc']:.2f}% "
                 f"({'within' if drop <= 0.5 else 'outside'} the 0.5 pt bound; drop {drop:+.2f} pt)")
    return lines


def ensure_runs(runs: Path, archs: list[str], extra: list[str]) -> None:
    """Train the missing (arch, method) runs with benchmarks/cgap_table.py's settings."""
    missing = [a for a in archs if not all((run_dir(runs, a, m) / "model.pt").is_file() for m in METHODS)]
    if missing:
        cmd = [sys.executable, str(Path(__file__).with_name("cgap_table.py")), "--runs", str(runs),
               "--archs", ",".join(missing), "--methods", ",".join(METHODS), "--resume", *extra]
        print("training missing runs:", " ".join(cmd), flush=True)
        subprocess.run(cmd, check=True)


def main(argv: list[str] | None = None) -> int:
    """Write the paper-style table; return 0."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", default="runs/cgap_table", help="where cgap_table.py keeps its runs")
    p.add_argument("--archs", default="vgg11,resnet20")
    p.add_argument("--hw", default="zcu102-16b", help="HwConfig preset or TOML for the simulator")
    p.add_argument("--out", default="benchmarks/results/paper_table.md")
    p.add_argument("--train-args", default="", help="extra arguments for cgap_table.py when training is needed")
    args = p.parse_args(argv)
    runs, archs = Path(args.runs), args.archs.split(",")
    ensure_runs(runs, archs, args.train_args.split())
    rows, notes = [], []
    for arch in archs:
        cells = {m: measure(run_dir(runs, arch, m), args.hw) for m in METHODS}
        rows += rows_for(arch, cells)
        notes += verdict(arch, cells)
    head = ("| arch | method | test acc (%) | params | MACs/img | DRAM energy (uJ/img) | latency (us/img) "
            "| Δ params / MACs / DRAM energy / latency vs full |\n|---|---|---|---|---|---|---|---|")
    paper = " / ".join(f"{v:+.1f}%" for v in PAPER.values())
    doc = (f"# Paper-style comparison (accelerator: {args.hw})\n\nCommand: `python benchmarks/paper_table.py "
           f"{' '.join(argv if argv is not None else sys.argv[1:])}`; runs from `{runs}` (see cgap_table.md for "
           f"the training setting).\n\nPaper (ResNet-110, CIFAR-10): {paper}.\n\n{head}\n" + "\n".join(rows)
           + "\n\n" + "\n".join(notes) + "\n")
    write_text_atomic(args.out, doc)
    print(doc)
    return 0


if __name__ == "__main__":
    sys.exit(main())
