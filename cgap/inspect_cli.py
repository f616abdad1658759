"""`cgap inspect`: the per-layer table of a checkpoint, an ONNX file or a zoo architecture."""

from __future__ import annotations

import argparse
import json

from cgap.model_source import add_model_source_args, network_from_args
from fpga_model.table import format_table


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Add the ``inspect`` subcommand."""
    p = sub.add_parser("inspect", help="per-layer table (shapes, params, MACs) of a model, checkpoint or zoo arch",
                       description="Print name, op, input/output shape, params and MACs per layer, and totals.")
    add_model_source_args(p, "inspect")
    p.add_argument("--json", action="store_true", help='print {"params", "macs", "layers": [...]} as JSON')
    p.add_argument("--list", action="store_true", help="list the zoo architectures and exit")


def run(args: argparse.Namespace) -> int:
    """Print the table (or JSON) and return 0."""
    if args.list:
        from cgap.models import REGISTRY
        print("\n".join(REGISTRY))
        return 0
    net = network_from_args(args)
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
