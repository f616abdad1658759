"""`cgap inspect`: the per-layer table of a checkpoint, an ONNX file or a zoo architecture."""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

from cgap.errors import CgapError
from cgap.ir import Network
from cgap.table import format_table


def parse_shape(text: str) -> tuple[int, int, int]:
    """Return (C, H, W) from 'CxHxW' (e.g. '3x32x32'); raise CgapError naming the option otherwise."""
    try:
        dims = tuple(int(d) for d in text.lower().split("x"))
    except ValueError:
        dims = ()
    if len(dims) != 3 or min(dims) < 1:
        raise CgapError(f"--input must look like CxHxW with positive integers (e.g. 3x32x32), got {text!r}")
    return dims  # type: ignore[return-value]


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Add the ``inspect`` subcommand."""
    p = sub.add_parser("inspect", help="per-layer table (shapes, params, MACs) of a model, checkpoint or zoo arch",
                       description="Print name, op, input/output shape, params and MACs per layer, and totals.")
    p.add_argument("model", nargs="?", help="model.pt checkpoint or .onnx file")
    p.add_argument("--arch", help="a zoo architecture instead of a file (see --list)")
    p.add_argument("--input", default="3x32x32", help="input shape CxHxW for --arch (default 3x32x32)")
    p.add_argument("--width-mult", type=float, default=1.0, help="width multiplier for --arch (default 1.0)")
    p.add_argument("--num-classes", type=int, default=10, help="classes for --arch (default 10)")
    p.add_argument("--json", action="store_true", help='print {"params", "macs", "layers": [...]} as JSON')
    p.add_argument("--list", action="store_true", help="list the zoo architectures and exit")


def network_for_arch(arch: str, input_shape: tuple[int, int, int], num_classes: int, width_mult: float) -> Network:
    """Return the IR of a freshly built zoo model (through the same ONNX export as checkpoints)."""
    from cgap.export.onnx_export import to_onnx
    from cgap.ir.from_onnx import from_onnx
    from cgap.models import build

    model = build(arch, input_shape, num_classes, width_mult=width_mult)
    with tempfile.TemporaryDirectory(prefix="cgap-") as tmp:
        return from_onnx(to_onnx(model, input_shape, Path(tmp) / "m.onnx"), name=arch)


def run(args: argparse.Namespace) -> int:
    """Print the table (or JSON) and return 0."""
    if args.list:
        from cgap.models import REGISTRY
        print("\n".join(REGISTRY))
        return 0
    if bool(args.model) == bool(args.arch):
        raise CgapError("give either a MODEL file or --arch NAME (not both, not neither)")
    if args.arch:
        net = network_for_arch(args.arch, parse_shape(args.input), args.num_classes, args.width_mult)
    else:
        from cgap.frontend import load_network
        net = load_network(args.model)
    summary = net.summary()
    if args.json:
        print(json.dumps(summary, indent=1))
        return 0
    rows = [(r["name"], r["op"], "x".join(map(str, r["in_shapes"][0])) if r["in_shapes"] else "",
             "x".join(map(str, r["out_shape"])), r["params"], r["macs"]) for r in summary["layers"]]
    print(format_table(["layer", "op", "input", "output", "params", "MACs"], rows))
    print(f"\n{net.name}: input {'x'.join(map(str, net.input_shape))}, {len(rows)} layers, "
          f"{summary['params']:,} params, {summary['macs']:,} MACs")
    return 0
