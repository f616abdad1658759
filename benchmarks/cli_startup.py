"""Whole-process timings of the commands a hardware engineer scripts: start-up included, as a shell sees them.

    python benchmarks/cli_startup.py [--repeat 7] [--cgap PATH/TO/cgap] [--out benchmarks/results/cli_startup.md]

Runs ``cgap --help``, ``cgap sim --arch resnet110`` and ``cgap sim resnet20.onnx`` ``--repeat`` times each
as separate processes and prints the median and the fastest run against the targets (0.3 s, 1 s, 0.6 s).
``--cgap`` times another install's console script (e.g. a torch-free venv's); by default this checkout
runs as ``python -m cgap``.  The ONNX file is exported here once (needs torch) unless ``--onnx`` names one.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

TARGETS_S = {"cgap --help": 0.3, "cgap sim --arch resnet110": 1.0, "cgap sim resnet20.onnx": 0.6}


def timings(cmd: list[str], repeat: int, env: dict[str, str]) -> list[float]:
    """Return the wall-clock seconds of ``repeat`` runs of ``cmd`` (each must exit 0)."""
    out = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, env=env)
        out.append(time.perf_counter() - t0)
    return out


def export_resnet20(folder: Path) -> Path:
    """Return a freshly exported resnet20 (3×32×32) ONNX file in ``folder``."""
    sys.path.insert(0, str(ROOT))
    from cgap.export.onnx_export import to_onnx
    from cgap.models import build

    return to_onnx(build("resnet20", (3, 32, 32), 10).eval(), (3, 32, 32), folder / "resnet20.onnx")


def main() -> int:
    """Time the commands, print the table (and write it to --out); return 1 if a target is missed."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument("--cgap", help="a cgap console script to time (default: python -m cgap from this checkout)")
    ap.add_argument("--onnx", help="resnet20 ONNX file (default: exported now, which needs torch)")
    ap.add_argument("--out", help="also write the table (markdown) to this file")
    args = ap.parse_args()
    base = [args.cgap] if args.cgap else [sys.executable, "-m", "cgap"]
    env = dict(os.environ, PYTHONPATH=str(ROOT)) if not args.cgap else dict(os.environ)
    with tempfile.TemporaryDirectory() as tmp:
        onnx = args.onnx or str(export_resnet20(Path(tmp)))
        commands = {"cgap --help": ["--help"], "cgap sim --arch resnet110": ["sim", "--arch", "resnet110"],
                    "cgap sim resnet20.onnx": ["sim", onnx]}
        rows = []
        for label, extra in commands.items():
            runs = timings(base + extra, args.repeat, env)
            med = statistics.median(runs)
            rows.append(f"| `{label}` | {med:.3f} | {min(runs):.3f} | {TARGETS_S[label]} | "
                        f"{'yes' if med <= TARGETS_S[label] else 'NO'} |")
    head = [f"Whole-process wall time, {args.repeat} runs each ({' '.join(Path(b).name for b in base)}):", "",
            "| command | median s | fastest s | target s | met |", "|---|---|---|---|---|"]
    text = "\n".join(head + rows) + "\n"
    print(text, end="")
    if args.out:
        Path(args.out).write_text(text)
    return 0 if all(r.endswith("yes |") for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
