"""DSE speed: search the whole default grid for ResNet-110 (CIFAR) on xczu9eg and report designs per second.

    python benchmarks/dse_speed.py [--workers 1 2] [--device xczu9eg] [--depth 110] [--unpruned] [--imagenet]

``--imagenet`` also times VGG-16 (``fpga_model.testnets.vgg_imagenet``) and the onnx wheel's ResNet-50 and VGG-19
at 3x224x224 with two workers (grids over ``dse.FRONT_GRID_LIMIT`` designs: best-design search; the seconds
count the search, the table's "import" column the ONNX import before it).

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


def run(depth: int, device_name: str, workers: int, prune: bool, net=None, import_s: float = 0.0) -> list[object]:  # noqa: ANN001
    """Return one table row: the search's statistics and its best design."""
    net = net or resnet_cifar(depth)
    result = explore(net, get_device(device_name), "latency", workers=workers, prune=prune)
    st, hw = result.stats, result.best.hw
    search = ("pruned" if prune else "exhaustive") + ("" if st["exact_fronts"] else ", best only")
    return [net.name, device_name, workers, search, round(st["seconds"], 2), round(import_s, 1),
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
    ap.add_argument("--imagenet", action="store_true", help="also time VGG-16, ResNet-50 and VGG-19 at 224x224")
    args = ap.parse_args()
    rows = [run(args.depth, args.device, w, True) for w in args.workers]
    if args.unpruned:
        rows.append(run(args.depth, args.device, 1, False))
    if args.imagenet:
        rows += [run(0, args.device, 2, True, net, seconds) for net, seconds in _imagenet()]
    head = ["network", "device", "workers", "search", "seconds", "import s", "grid designs", "shapes pruned", "simulated",
            "layer sims", "grid designs/s", "simulated/s", "best (latency)"]
    print(format_table(head, rows))


def _imagenet() -> list[tuple[object, float]]:
    """Return (network, seconds to build or import it) for the three ImageNet networks of the tiling issue."""
    import time

    import onnx

    from cgap_ir.from_onnx import from_onnx
    from fpga_model.testnets import vgg_imagenet
    light = Path(onnx.__file__).parent / "backend" / "test" / "data" / "light"
    out = [(vgg_imagenet("vgg16"), 0.0)]
    for name in ("resnet50", "vgg19"):
        t0 = time.perf_counter()
        net = from_onnx(light / f"light_{name}.onnx", name=name)
        out.append((net, time.perf_counter() - t0))
    return out


if __name__ == "__main__":
    main()
