"""`cgap-export`: a checkpoint to ONNX, an HLS project for the cgap accelerator (also from an ONNX model), or an
hls4ml project."""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from cgap import onnx_inputs
from cgap.atomic import refuse_non_empty
from cgap.cli import run_guarded
from cgap_ir.errors import CgapError
from cgap_ir.model_format import ModelFormat, require_format

if TYPE_CHECKING:
    import numpy as np

    from cgap_ir import Network

TARGETS = ("onnx", "fpga", "hls4ml")
SATURATION_WARN = 0.01
"""A layer whose outputs saturate more often than this on the --verify images gets a warning."""


def build_parser() -> argparse.ArgumentParser:
    """Return the ``cgap-export`` argument parser."""
    p = argparse.ArgumentParser(
        prog="cgap-export", description="Export a cgap checkpoint (to ONNX, an HLS project for the cgap accelerator or "
                                        "an hls4ml project) or an ONNX model (to an HLS project: --target fpga).")
    p.add_argument("model", help="model.pt checkpoint (every target) or .onnx model (--target fpga)")
    p.add_argument("--target", choices=TARGETS, default="onnx", help="what to produce (default onnx)")
    p.add_argument("--out", help="output directory (default generated/<model name>; for hls4ml the folder that "
                                 "receives <model name>-hls4ml/, default generated)")
    p.add_argument("--force", action="store_true", help="replace a non-empty output directory")
    p.add_argument("--check-images", type=int, default=8,
                   help="onnx: random inputs on which onnxruntime must match PyTorch within 1e-4 (default 8)")
    fpga = p.add_argument_group("fpga and hls4ml targets")
    fpga.add_argument("--hw", help="HwConfig preset or TOML file (default zcu102-16b)")
    fpga.add_argument("--verify", action="store_true", help="run g++ C-simulation and write verify.json")
    fpga.add_argument("--images", type=int, default=100, help="test images for --verify (default 100)")
    fpga.add_argument("--calib-images", type=int, default=200,
                      help="training images that choose the binary points (default 200, at least 100)")
    fpga.add_argument("--calib-data", metavar="FILE.npy",
                      help="calibration images, an N x C x H x W float array (an ONNX model's only real-data source; "
                           "without it an ONNX model is calibrated on labelled synthetic images). --verify also "
                           "runs on its first --images images")
    fpga.add_argument("--dataset", help="dataset for calibration/verification (default: the checkpoint's; for an "
                                        "ONNX model, one whose images have the model's input shape)")
    fpga.add_argument("--data-dir", help="dataset folder")
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
    out = _default_out(args)
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


def _default_out(args: argparse.Namespace) -> Path:
    return Path(args.out or Path("generated") / Path(args.model).stem)


def calibration_data(ckpt, args: argparse.Namespace):  # noqa: ANN001, ANN201 - Checkpoint -> Splits
    """Return the dataset splits normalised exactly as the checkpoint's training data was."""
    from cgap.data import load_dataset

    info = ckpt.meta.get("dataset") or {}
    name = args.dataset or info.get("name")
    if not name:
        raise CgapError(f"{args.model}: checkpoint records no dataset; pass --dataset NAME for calibration images")
    norm = (info["mean"], info["std"]) if info.get("name") == name and "mean" in info else None
    return load_dataset(name, args.data_dir, normalisation=norm)


@dataclass(frozen=True)
class FpgaInputs:
    """What `--target fpga` exports: the network, calibration images (+ where they came from) and ranges, and for
    --verify the images, their labels (None when unknown) and the float reference outputs."""

    net: Network
    calib: np.ndarray
    calibration: str
    ranges: dict[str, float]
    images: np.ndarray | None
    labels: np.ndarray | None
    logits: np.ndarray | None


def checkpoint_inputs(args: argparse.Namespace) -> FpgaInputs:
    """Return the inputs of a checkpoint: its dataset's images (or --calib-data) and PyTorch's logits."""
    import torch

    from cgap.checkpoint import load_checkpoint
    from cgap.frontend import network_from_checkpoint
    from cgap.passes.calibrate_ort import ort_ranges

    ckpt = load_checkpoint(args.model)
    splits = calibration_data(ckpt, args) if args.verify or not args.calib_data else None
    if args.calib_data:
        cal = onnx_inputs.calibration(args.calib_data, ckpt.model.input_shape, args.calib_images, "cgap-export")
        calib, source = cal.images, cal.source
    else:
        calib = splits.train[0][: args.calib_images].numpy()
        source = f"dataset {args.dataset or ckpt.meta['dataset']['name']} ({len(calib)} training images)"
    with tempfile.TemporaryDirectory(prefix="cgap-") as tmp:
        onnx_path = Path(tmp) / "model.onnx"
        net = network_from_checkpoint(ckpt, Path(args.model).stem, onnx_path)
        ranges = ort_ranges(onnx_path, net, calib)
    images = labels = logits = None
    if args.verify:
        images, labels = splits.test[0][: args.images].numpy(), splits.test[1][: args.images].numpy()
        with torch.no_grad():
            logits = ckpt.model(torch.from_numpy(images)).numpy()
    return FpgaInputs(net, calib, source, ranges, images, labels, logits)


def onnx_model_inputs(args: argparse.Namespace) -> FpgaInputs:
    """Return the inputs of an ONNX model: --calib-data, a --dataset (its test split verifies, with labels) or
    synthetic images, and onnxruntime's outputs (torch only for --dataset)."""
    from cgap.passes.calibrate_ort import ort_ranges
    from cgap_ir.from_onnx import from_onnx

    net = from_onnx(args.model, name=Path(args.model).stem)
    labels = None
    if args.dataset and not args.calib_data:
        data = onnx_inputs.dataset_images(args.dataset, args.data_dir, net.input_shape, args.calib_images, args.images)
        cal, images, labels = data.calibration, data.test_images, data.test_labels
    else:
        cal = onnx_inputs.calibration(args.calib_data, net.input_shape, args.calib_images, "cgap-export")
        images = cal.images[: args.images]
    ranges = ort_ranges(args.model, net, cal.images)
    images, labels = (images, labels) if args.verify else (None, None)
    logits = onnx_inputs.onnxruntime_reference(args.model, net, images) if args.verify else None
    return FpgaInputs(net, cal.images, cal.source, ranges, images, labels, logits)


def export_fpga_cli(args: argparse.Namespace) -> int:
    """Write the HLS project (and with --verify run C-sim); print a JSON summary; exit 1 if not bit-exact."""
    from cgap.hls.export import export_fpga
    from fpga_model.hw import load_hw
    from fpga_model.resource_lines import resource_check

    hw = load_hw(args.hw)
    out = _default_out(args)
    refuse_non_empty(out, args.force)   # before the slow work; export_fpga replaces the folder atomically
    is_onnx = args.model_format == "onnx" or (args.model_format is None and Path(args.model).suffix == ".onnx")
    inputs = onnx_model_inputs(args) if is_onnx else checkpoint_inputs(args)
    summary = export_fpga(inputs.net, hw, out.parent, inputs.calib, out.name, verify_images=inputs.images,
                          labels=inputs.labels, float_logits=inputs.logits, ranges=inputs.ranges)
    summary["calibration"] = inputs.calibration
    print(json.dumps({k: v for k, v in summary.items() if k != "verify"} | _verify_brief(summary)))
    project_line, project_fits = resource_check(hw, summary["buffers"])
    print(project_line)
    if project_fits is False:
        print(f"cgap-export: warning: the generated engine of {out.name} does not fit {hw.part} (see the line above); "
              "try a smaller --hw array or `cgap dse`", file=sys.stderr)
    if args.verify:
        warn_saturation(summary["verify"])
        print_lint(summary["verify"])
    if args.verify and not summary["verify"]["bit_exact"]:
        print(f"cgap-export: error: C-simulation of {out} is not bit-exact with the golden model", file=sys.stderr)
        return 1
    return 0


def warn_saturation(verify: dict, limit: float = SATURATION_WARN) -> list[str]:
    """Print one stderr line naming the layers whose saturation rate on the verify images exceeds ``limit``;
    return their names (worst first)."""
    rates = {}
    rows = [{"name": "input", "saturations": verify.get("input_saturations", 0),
             "outputs": verify.get("input_values", 0)}, *verify.get("layers", [])]
    for row in rows:
        sat = max(row.get("saturations", 0), row.get("golden_saturations", 0))
        if row.get("outputs") and sat / row["outputs"] > limit:
            rates[row["name"]] = (sat / row["outputs"], sat, row["outputs"])
    worst = sorted(rates, key=lambda n: -rates[n][0])
    if worst:
        parts = [f"{n} {rates[n][0]:.1%} ({rates[n][1]}/{rates[n][2]})" for n in worst]
        print(f"cgap-export: warning: fixed-point saturation above {limit:.0%} of outputs on the verify images in "
              f"layer(s) {', '.join(parts)}; calibrate on images like the deployment data (--calib-images, "
              "--dataset)", file=sys.stderr)
    return worst


def print_lint(verify: dict) -> int:
    """Print each HLS lint finding of a verify report as one stderr line; return how many there were."""
    for finding in verify.get("lint", []):
        print(f"cgap-export: lint: {finding['file']}:{finding['line']}: {finding['rule']}: {finding['message']}",
              file=sys.stderr)
    return len(verify.get("lint", []))


def _verify_brief(summary: dict) -> dict:
    v = summary.get("verify")
    if not v:
        return {}
    keys = ("bit_exact", "images", "top1_agreement", "float_max_abs_diff", "float_accuracy", "fixed_accuracy",
            "iterations_match", "lint_findings")
    return {"verify": {k: v[k] for k in keys if k in v}}


def export_hls4ml_cli(args: argparse.Namespace) -> int:
    """Write generated/<name>-hls4ml/ through hls4ml, compile and compare its C-sim; print a one-line summary."""
    from cgap.requirements import require

    require("hls4ml", what="`cgap-export --target hls4ml`")
    from cgap.checkpoint import load_checkpoint
    from cgap.hls4ml_export import export_hls4ml
    from fpga_model.hw import load_hw

    hw = load_hw(args.hw)
    ckpt = load_checkpoint(args.model)
    splits = calibration_data(ckpt, args)
    calib = splits.train[0][: args.calib_images].numpy()
    images = splits.test[0][: args.images].numpy() if args.verify else None
    labels = splits.test[1][: args.images].numpy() if args.verify else None
    summary = export_hls4ml(ckpt.model, hw, Path(args.out or "generated"), calib, Path(args.model).stem,
                            verify_images=images, labels=labels, force=args.force)
    print(summary["summary"])
    return 0


EXPORTERS = {"onnx": export_onnx, "fpga": export_fpga_cli, "hls4ml": export_hls4ml_cli}
ACCEPTS: dict[str, tuple[ModelFormat, ...]] = {"onnx": ("checkpoint",), "fpga": ("checkpoint", "onnx"),
                                               "hls4ml": ("checkpoint",)}
"""The model formats each target takes (any other is refused in one line naming both)."""


def _export(args: argparse.Namespace) -> int:
    """Check the image counts, then run the exporter of ``args.target``; return its exit code."""
    for flag in ("check_images", "images", "calib_images"):
        if getattr(args, flag) < 1:
            raise CgapError(f"--{flag.replace('_', '-')} must be at least 1, got {getattr(args, flag)}")
    args.model_format = require_format(args.model, f"`cgap-export --target {args.target}`", ACCEPTS[args.target])
    return EXPORTERS[args.target](args)


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``cgap-export`` and return its exit code."""
    args = build_parser().parse_args(argv)
    return run_guarded(_export, args, "cgap-export")


if __name__ == "__main__":
    sys.exit(main())
