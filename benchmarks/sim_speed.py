"""Simulator speed: full ResNet-110 in engine mode, and SCALE-Sim vs our systolic mode on one topology.

    python benchmarks/sim_speed.py [--repeat 5] [--scalesim-python /tmp/scalesim-venv/bin/python]

Prints a table.  SCALE-Sim runs from its own venv through a subprocess (skipped with a message when
that interpreter is absent); its wall time includes its start-up, so ours is timed end to end too
(parse topology + cfg, simulate), in-process.
"""

from __future__ import annotations

import argparse
import csv
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from fpga_model.engine_sim import simulate  # noqa: E402
from fpga_model.hw import PRESETS  # noqa: E402
from fpga_model.schedule import schedule  # noqa: E402
from fpga_model.systolic import read_scalesim_cfg, read_topology_csv, simulate_systolic  # noqa: E402
from fpga_model.testnets import resnet_cifar  # noqa: E402

GOLDEN = ROOT / "tests" / "golden" / "scalesim"


def best_of(fn, repeat: int) -> float:
    """Return the fastest of ``repeat`` wall-clock timings of ``fn()`` in seconds."""
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def engine_rows(repeat: int) -> list[tuple[str, str]]:
    """Return table rows timing ResNet-110 (schedule + simulate, and simulate alone) on each preset."""
    net = resnet_cifar(110)
    rows = []
    for name in ("zcu102-16b", "pynq-z2-16b", "tiny-test"):
        hw = PRESETS[name]
        layers = schedule(net, hw)
        full = best_of(lambda hw=hw: simulate(net, hw), repeat)
        sim_only = best_of(lambda hw=hw, layers=layers: simulate(layers, hw), repeat)
        cycles = simulate(layers, hw).total()["cycles"]
        rows.append((f"resnet110 engine on {name} ({len(layers)} layers, {cycles} cycles)",
                     f"{full * 1e3:.1f} ms (schedule+sim), {sim_only * 1e3:.1f} ms (sim only)"))
    return rows


def scalesim_rows(python: str, topo: str, cfg: str, repeat: int) -> list[tuple[str, str]]:
    """Return table rows comparing SCALE-Sim's and our wall time and total cycles on one topology."""
    topo_path, cfg_path = GOLDEN / f"{topo}.csv", GOLDEN / f"{cfg}.cfg"
    ours_t = best_of(lambda: simulate_systolic(read_topology_csv(topo_path), read_scalesim_cfg(cfg_path)), repeat)
    ours = simulate_systolic(read_topology_csv(topo_path), read_scalesim_cfg(cfg_path)).total_cycles.tolist()
    label = f"{topo} / {cfg}"
    if not Path(python).exists():
        return [(label, f"ours {ours_t * 1e3:.2f} ms; SCALE-Sim skipped: {python} not found "
                        "(see tests/golden/scalesim/README.md)")]
    with tempfile.TemporaryDirectory() as out:
        t0 = time.perf_counter()
        subprocess.run([python, "-m", "scalesim.scale", "-c", str(cfg_path), "-t", str(topo_path),
                        "-l", str(GOLDEN / "layout.csv"), "-p", out], check=True, capture_output=True)
        theirs_t = time.perf_counter() - t0
        with open(Path(out) / cfg / "COMPUTE_REPORT.csv") as fh:
            theirs = [int(row[2]) for row in list(csv.reader(fh))[1:] if row]
    same = "identical" if theirs == ours else f"DIFFER ({sum(theirs)} vs {sum(ours)})"
    return [(label, f"SCALE-Sim {theirs_t:.2f} s, ours {ours_t * 1e3:.2f} ms, ratio {theirs_t / ours_t:,.0f}x, "
                    f"cycles {same} ({sum(ours)} total)")]


def main() -> int:
    """Print the benchmark table and return 0."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--scalesim-python", default="/tmp/scalesim-venv/bin/python")
    ap.add_argument("--topology", default="topo_resnet20")
    ap.add_argument("--config", default="os_32x32")
    args = ap.parse_args()
    rows = engine_rows(args.repeat) + scalesim_rows(args.scalesim_python, args.topology, args.config, args.repeat)
    width = max(len(r[0]) for r in rows)
    for label, value in rows:
        print(f"{label:<{width}}  {value}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
