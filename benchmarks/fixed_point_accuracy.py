"""Fixed-point accuracy of the generated accelerator on a trained model, measured by g++ C-simulation.

For each checkpoint: `cgap-export --target fpga --verify --images N` at the given HwConfig, then a table of
float accuracy (PyTorch), fixed-point accuracy (C-sim, bit-exact with the golden model), top-1 agreement
and the accuracy drop. Issue target at 16 bits: agreement ≥ 99% and drop ≤ 0.3 pt on ≥ 500 test images.

    python benchmarks/fixed_point_accuracy.py runs/cgap_table/vgg11-full/model.pt --images 500 --hw zcu102-16b
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

from cgap.export_cli import main as export_main


def measure(model: Path, hw: str, images: int, out: Path) -> dict:
    """Export + C-sim ``model`` on ``images`` test images; return its verify.json plus the model name."""
    project = out / f"{model.parent.name}-{hw}"
    status = export_main([str(model), "--target", "fpga", "--hw", hw, "--out", str(project), "--verify",
                          "--images", str(images), "--force"])
    if status not in (0, 1):
        raise SystemExit(f"export of {model} failed (exit {status})")
    return {"model": model.parent.name, **json.loads((project / "verify.json").read_text())}


def main(argv: list[str] | None = None) -> int:
    """Print the table; return 0."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("models", nargs="+", type=Path, help="model.pt checkpoints (trained)")
    p.add_argument("--hw", default="zcu102-16b")
    p.add_argument("--images", type=int, default=500)
    p.add_argument("--out", type=Path, default=Path(tempfile.gettempdir()) / "cgap-fxp-bench")
    args = p.parse_args(argv)
    rows = [measure(m, args.hw, args.images, args.out) for m in args.models]
    print("\n| model | hw | images | bit-exact | float acc % | fixed acc % | drop (pt) | top-1 agreement % |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        drop = 100 * (r["float_accuracy"] - r["fixed_accuracy"])
        print(f"| {r['model']} | {args.hw} | {r['images']} | {r['bit_exact']} | {100 * r['float_accuracy']:.2f} | "
              f"{100 * r['fixed_accuracy']:.2f} | {drop:+.2f} | {100 * r['top1_agreement']:.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
