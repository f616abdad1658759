"""`cgap-export`: a checkpoint to ONNX, an HLS project for the cgap accelerator, or an hls4ml project."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from cgap.cli import run_guarded
from cgap.errors import CgapError

TARGETS = ("onnx",)


def build_parser() -> argparse.ArgumentParser:
    """Return the ``cgap-export`` argument parser."""
    p = argparse.ArgumentParser(prog="cgap-export", description="Export a cgap checkpoint.")
    p.add_argument("model", help="model.pt checkpoint")
    p.add_argument("--target", choices=TARGETS, default="onnx", help="what to produce (default onnx)")
    p.add_argument("--out", help="output directory (default generated/<model name>)")
    p.add_argument("--force", action="store_true", help="replace a non-empty output directory")
    p.add_argument("--check-images", type=int, default=8,
                   help="random inputs on which onnxruntime must match PyTorch within 1e-4 (default 8)")
    p.add_argument("--debug", action="store_true", help="show tracebacks for errors")
    return p


def export_onnx(args: argparse.Namespace) -> int:
    """Write DIR/<name>.onnx, check it with onnx.checker and onnxruntime, print a JSON line; return 0."""
    import numpy as np
    import torch

    from cgap.atomic import atomic_dir
    from cgap.checkpoint import load_checkpoint
    from cgap.export.onnx_export import run_onnxruntime, to_onnx

    ckpt = load_checkpoint(args.model)
    name = Path(args.model).stem
    out = Path(args.out or Path("generated") / name)
    x = np.random.default_rng(0).standard_normal((args.check_images, *ckpt.model.input_shape)).astype(np.float32)
    with atomic_dir(out, force=args.force) as tmp:
        path = to_onnx(ckpt.model, ckpt.model.input_shape, tmp / f"{name}.onnx")
        with torch.no_grad():
            ref = ckpt.model(torch.from_numpy(x)).numpy()
        err = float(np.abs(run_onnxruntime(path, x) - ref).max())
        if err > 1e-4:
            raise CgapError(f"{path.name}: onnxruntime differs from PyTorch by {err:.2e} (> 1e-4)")
    print(json.dumps({"onnx": str(out / f"{name}.onnx"), "max_abs_diff_vs_torch": err}))
    return 0


EXPORTERS = {"onnx": export_onnx}


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``cgap-export`` and return its exit code."""
    args = build_parser().parse_args(argv)
    return run_guarded(EXPORTERS[args.target], args, "cgap-export")


if __name__ == "__main__":
    sys.exit(main())
