"""Export speed of the fixed-point HLS back end.

Prints a table: export time without compiling (calibration + quantisation + schedule + render + atomic write)
for resnet110, and for resnet20 the ``make csim`` g++ compile time and the C-simulation time per image.
Usage: python benchmarks/export_speed.py [--images 10] [--calib 100] [--opt -O2] [--out /tmp/cgap-bench]

Last measured (2-core container, quiet, g++ 12 -O2, zcu102-16b, 100 calibration / 10 C-sim images):
  resnet110 export without compile 0.86 s (onnxruntime calibration 0.76 s; numpy-executor calibration 4.22 s)
  resnet20: compile 3.63 s, C-sim 0.401 s/image, bit-exact
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from cgap.export.onnx_export import to_onnx
from cgap.hls import compile_network, export_fpga, render, write_plan
from cgap.models import build
from cgap.passes import fold_bn
from cgap.passes.calibrate_ort import ort_ranges
from cgap.passes.quantize import calibrate
from cgap_ir import Network
from cgap_ir.from_onnx import from_onnx
from fpga_model.hw import load_hw


def zoo_net(arch: str, shape: tuple[int, int, int], onnx_dir: Path) -> tuple[Network, Path]:
    """Return the IR of a randomly initialised full-width zoo model (eval mode, BN statistics randomised)
    and the ONNX file it came from (written into ``onnx_dir``)."""
    torch.manual_seed(0)
    model = build(arch, shape, 10).eval()
    for mod in model.modules():
        if isinstance(mod, torch.nn.BatchNorm2d):
            mod.running_mean.normal_(0, 0.2)
            mod.running_var.uniform_(0.5, 1.5)
    path = to_onnx(model, shape, onnx_dir / f"{arch}.onnx")
    return from_onnx(path, name=arch), path


def time_export(net: Network, onnx_path: Path, hw, calib: np.ndarray, out: Path) -> dict[str, float]:
    """Return seconds of each export stage (no C++ compile) as cgap-export runs them (onnxruntime
    calibration); the numpy-executor calibration is timed alongside for comparison."""
    tn = time.perf_counter()
    calibrate(fold_bn(net), calib)
    numpy_calibration = time.perf_counter() - tn
    tc = time.perf_counter()
    ranges = ort_ranges(onnx_path, net, calib)
    calibration = time.perf_counter() - tc
    t0 = time.perf_counter()
    c = compile_network(net, hw, calib, net.name, ranges=ranges)
    t1 = time.perf_counter()
    plan = render(c.program, c.engine)
    t2 = time.perf_counter()
    write_plan(plan, out / net.name)
    t3 = time.perf_counter()
    return {"calibration": calibration, "numpy_calibration": numpy_calibration, "compile_network": t1 - t0, "render": t2 - t1, "write": t3 - t2, "total": calibration + t3 - t0,
            "engine_layers": len(c.layers), "weight_words": int(c.program.weights.size)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=10)
    ap.add_argument("--calib", type=int, default=100)
    ap.add_argument("--hw", default="zcu102-16b")
    ap.add_argument("--opt", default="-O2")
    ap.add_argument("--out", type=Path, default=Path(tempfile.gettempdir()) / "cgap-bench")
    args = ap.parse_args()
    hw = load_hw(args.hw)
    rng = np.random.default_rng(0)
    calib = rng.normal(0, 1, (args.calib, 3, 32, 32)).astype(np.float32)
    rows = []
    onnx_dir = Path(tempfile.mkdtemp(prefix="cgap-bench-onnx-"))
    r110 = time_export(*zoo_net("resnet110", (3, 32, 32), onnx_dir), hw, calib, args.out)
    rows.append(("resnet110 export, no compile (s)", f"{r110['total']:.2f}", "target <= 5 s"))
    rows.append(("  of which calibration, onnxruntime (s)", f"{r110['calibration']:.2f}", f"{args.calib} images"))
    rows.append(("  (numpy-executor calibration instead) (s)", f"{r110['numpy_calibration']:.2f}",
                 "float32 im2col, same ranges"))
    rows.append(("resnet110 export excluding calibration (s)", f"{r110['total'] - r110['calibration']:.2f}",
                 "fold, quantise, schedule, render, write"))
    rows.append(("  of which render + write (s)", f"{r110['render'] + r110['write']:.2f}",
                 f"{r110['engine_layers']} layers, {r110['weight_words']} weight words"))
    net20, _ = zoo_net("resnet20", (3, 32, 32), onnx_dir)
    summary = export_fpga(net20, hw, args.out, calib, "resnet20", verify_images=calib[:args.images], opt=args.opt)
    v = summary["verify"]
    rows.append(("resnet20 export, no compile (s)", f"{summary['export_s']:.2f}", "incl. golden model"))
    rows.append((f"resnet20 make csim compile, g++ {args.opt} (s)", f"{v['compile_s']:.2f}", ""))
    rows.append(("resnet20 C-sim per image (s)", f"{v['csim_s_per_image']:.3f}", f"{v['images']} images, bit_exact={v['bit_exact']}"))
    width = max(len(r[0]) for r in rows)
    print(f"hw {hw.name}: {hw.pox}x{hw.poy}x{hw.pof}, {hw.act_bits}-bit\n")
    for name, value, note in rows:
        print(f"{name:<{width}}  {value:>8}  {note}")


if __name__ == "__main__":
    main()
