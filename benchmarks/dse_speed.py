"""DSE speed: search the whole default grid for ResNet-110 (CIFAR) on xczu9eg and report designs per second.

    python benchmarks/dse_speed.py [--workers 1 2] [--device xczu9eg] [--depth 110] [--unpruned]

Prints a table: wall time, designs in the grid (array shapes that fit the DSPs x buffer triples),
shapes pruned by lower bounds, designs simulated (schedulable and fitting), simulate_layer calls,
and designs/s.  ``--unpruned`` also times the plain exhaustive search (every shape evaluated).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from fpga_model.devices import get_device  # noqa: E402
from fpga_model.dse import explore  # noqa: E402
from fpga_model.table import format_table  # noqa: E402
from fpga_model.testnets import resnet_cifar  # noqa: E402


def run(depth: int, device_name: str, workers: int, prune: bool) -> list[object]:
    """Return one table row: the search's statistics and its best design."""
    result = explore(resnet_cifar(depth), get_device(device_name), "latency", workers=workers, prune=prune)
    st, hw = result.stats, result.best.hw
    return [f"resnet{depth}", device_name, workers, "pruned" if prune else "exhaustive", round(st["seconds"], 2),
            st["designs_in_grid"], st["array_shapes_pruned"], st["designs_simulated"], st["simulate_layer_calls"],
            round(st["grid_designs_per_s"]), round(st["designs_per_s"]),
            f"{hw.pox}x{hw.poy}x{hw.pof}/{hw.act_bits}b {result.best.latency_us:,.0f} us"]


def main() -> None:
    """Parse options, run the searches, print the table."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--device", default="xczu9eg")
    ap.add_argument("--depth", type=int, default=110)
    ap.add_argument("--unpruned", action="store_true", help="also time the search without bound pruning")
    args = ap.parse_args()
    rows = [run(args.depth, args.device, w, True) for w in args.workers]
    if args.unpruned:
        rows.append(run(args.depth, args.device, 1, False))
    head = ["network", "device", "workers", "search", "seconds", "grid designs", "shapes pruned", "simulated",
            "layer sims", "grid designs/s", "simulated/s", "best (latency)"]
    print(format_table(head, rows))


if __name__ == "__main__":
    main()
