"""`cgap demo`: the README's main job, end to end on a built-in dataset.

Stages (each also runs alone from the CLI): pick the dataset (Fashion-MNIST from the Debian
package, else scikit-learn's digits), build a zoo model, save the checkpoint, export it to ONNX,
ingest the ONNX as the IR, check the IR against onnxruntime and print the per-layer table.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from cgap.errors import CgapError


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Add the ``demo`` subcommand."""
    p = sub.add_parser("demo", help="run the main job end to end on a built-in dataset",
                       description="Build → checkpoint → ONNX → IR → per-layer table, on Fashion-MNIST or digits.")
    p.add_argument("--out", default="runs/demo", help="run directory (default runs/demo)")
    p.add_argument("--arch", default="resnet20", help="zoo architecture (default resnet20)")
    p.add_argument("--dataset", default="auto", help="auto (Fashion-MNIST if installed, else digits), or a name")
    p.add_argument("--data-dir", help="dataset folder (overrides the default location)")
    p.add_argument("--force", action="store_true", help="reuse a non-empty run directory")


def pick_dataset(name: str, data_dir: str | None) -> str:
    """Return the dataset to use: 'auto' means Fashion-MNIST when its files exist, else digits (said aloud)."""
    if name != "auto":
        return name
    from cgap.data import FASHION_DEFAULT

    if data_dir or FASHION_DEFAULT.is_dir():
        return "fashion-mnist"
    print("note: Fashion-MNIST not found (apt-get install -y dataset-fashion-mnist); using scikit-learn's digits")
    return "digits"


def run(args: argparse.Namespace) -> int:
    """Run the demo stages, print the table and a JSON summary line; return 0."""
    from cgap.checkpoint import save_checkpoint
    from cgap.data import load_dataset
    from cgap.export.onnx_export import run_onnxruntime, to_onnx
    from cgap.inspect_cli import run as inspect_run
    from cgap.ir import executor
    from cgap.ir.from_onnx import from_onnx
    from cgap.models import build

    out = Path(args.out)
    if out.exists() and any(out.iterdir()) and not args.force:
        raise CgapError(f"run directory {out} is not empty (use --force)")
    dataset = pick_dataset(args.dataset, args.data_dir)
    splits = load_dataset(dataset, args.data_dir, subset=200)
    model = build(args.arch, splits.input_shape, splits.num_classes)
    ckpt = save_checkpoint(out / "model.pt", model, {"method": "untrained", "dataset": splits.describe()})
    onnx_path = to_onnx(model, splits.input_shape, out / "model.onnx")
    net = from_onnx(onnx_path, name=args.arch)
    x = splits.test[0][:16].numpy()
    err = float(np.abs(executor.run(net, x) - run_onnxruntime(onnx_path, x)).max())
    inspect_run(argparse.Namespace(list=False, model=str(ckpt), arch=None, json=False))
    print(json.dumps({"dataset": dataset, "checkpoint": str(ckpt), "onnx": str(onnx_path), "params": net.total_params(),
                      "macs": net.total_macs(), "ir_vs_onnxruntime_max_abs": err}))
    if err > 1e-4:
        raise CgapError(f"IR executor differs from onnxruntime by {err:.2e} on {dataset} test images")
    return 0
