"""full vs prune (Li et al.) vs cgap for vgg11 and resnet20 on Fashion-MNIST; writes a markdown table.

Setting (CPU, about an hour): the "full" reference is VGG-11 at ×0.25 width and ResNet-20 at ×0.5 width
(full widths when a GPU is present), 6 epochs each (a 3-epoch table took 28 min on a shared 2-core
machine with --threads 1, which beat 2 threads there), SGD+Nesterov, cosine lr 0.05, batch 128,
no augmentation; cgap = seed at ½ of the reference, growth 30% of the steps, pruning 40% (targets:
params ≤ 40% and MACs ≤ 45% of the reference), fine-tune 30%; prune = train 70%, one-shot L1 filter
pruning to the same targets, fine-tune 30%.  Accuracy is on the 10k test images (never used for choices).

    python benchmarks/cgap_table.py                      # the table (~1 h on 2 cores)
    python benchmarks/cgap_table.py --quick              # 6000-image subset, 3 epochs: a smoke test
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

from cgap.atomic import write_text_atomic
from cgap.data import load_dataset
from cgap.train.config import TrainConfig
from cgap.train.loop import RunResult, train

METHODS = ("full", "prune", "cgap")
CPU_WIDTH = {"vgg11": 0.25, "resnet20": 0.5}


def run_one(arch: str, method: str, args: argparse.Namespace, splits, width: float) -> tuple[RunResult, float]:  # noqa: ANN001
    """Train one (arch, method) cell; return its result and wall seconds."""
    cfg = TrainConfig(arch=arch, dataset="fashion-mnist", method=method, epochs=args.epochs, width_mult=width,
                      out=str(Path(args.runs) / f"{arch}-{method}"), subset=args.subset, device=args.device,
                      seed=args.seed, threads=args.threads)
    t0 = time.perf_counter()
    res = train(cfg, splits=splits, progress=not args.no_progress)
    return res, time.perf_counter() - t0


def _row(arch: str, method: str, res: RunResult, wall: float, ref: dict | None) -> str:
    f = res.history.info["final"]
    rel = (lambda k: f" ({100 * f[k] / ref[k]:.0f}%)") if ref else (lambda k: "")
    return (f"| {arch} | {method} | {f['test_acc']:.2f} | {f['params']:,}{rel('params')} | {f['macs']:,}{rel('macs')} "
            f"| {wall:.0f} | {f['train_macs']:.3e}{rel('train_macs')} |")


def check_targets(cells: dict[str, dict]) -> list[str]:
    """Return one line per issue target for cgap against full and prune: met or missed by how much."""
    full, cg, pr = cells["full"], cells["cgap"], cells["prune"]
    lines = []
    for what, val, limit in (("params", cg["params"] / full["params"], 0.40), ("MACs", cg["macs"] / full["macs"], 0.45),
                             ("training MACs", cg["train_macs"] / full["train_macs"], 0.70)):
        lines.append(f"{what} {100 * val:.1f}% of full (target ≤ {100 * limit:.0f}%): "
                     f"{'met' if val <= limit else f'missed by {100 * (val - limit):.1f} pt'}")
    gap = cg["test_acc"] - (full["test_acc"] - 0.5)
    lines.append(f"accuracy {cg['test_acc']:.2f} vs full {full['test_acc']:.2f} (target ≥ full − 0.5): "
                 f"{'met' if gap >= 0 else f'missed by {-gap:.2f} pt'}")
    lines.append(f"accuracy vs prune {pr['test_acc']:.2f} at MACs {cg['macs']:,} vs {pr['macs']:,}: "
                 f"{'met' if cg['test_acc'] >= pr['test_acc'] and cg['macs'] <= pr['macs'] else 'missed'}")
    return lines


def main(argv: list[str] | None = None) -> int:
    """Run the table and write it; return 0."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--epochs", type=int, default=6)
    p.add_argument("--subset", type=int, default=None, help="training images (default: all 54k)")
    p.add_argument("--quick", action="store_true", help="smoke test: --subset 6000 --epochs 3")
    p.add_argument("--archs", default="vgg11,resnet20")
    p.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=2, help="torch CPU threads (1 is faster on a busy machine)")
    p.add_argument("--runs", default="runs/cgap_table", help="folder for the run directories")
    p.add_argument("--out", default="benchmarks/results/cgap_table.md")
    p.add_argument("--no-progress", action="store_true")
    args = p.parse_args(argv)
    if args.quick:
        args.subset, args.epochs = args.subset or 6000, min(args.epochs, 3)
    torch.set_num_threads(args.threads)
    gpu = args.device == "cuda" or (args.device == "auto" and torch.cuda.is_available())
    splits = load_dataset("fashion-mnist", subset=args.subset, seed=args.seed)
    rows, notes = [], []
    for arch in args.archs.split(","):
        width = 1.0 if gpu else CPU_WIDTH.get(arch, 1.0)
        cells: dict[str, dict] = {}
        for method in METHODS:
            res, wall = run_one(arch, method, args, splits, width)
            cells[method] = {**res.history.info["final"], "wall": wall}
            rows.append(_row(arch, method, res, wall, cells.get("full")))
            f = res.history.info["final"]
            notes.append(f"- {arch} {method}: {f['epoch_seconds']:.1f} s/epoch, saliency + grow/prune overhead "
                         f"{f['overhead_pct']:.1f}% of training time")
            print(rows[-1], flush=True)
        notes += [f"- {arch}: {line}" for line in check_targets(cells)]
    write_text_atomic(args.out, render(args, gpu, rows, notes, splits.describe()))
    print(f"wrote {args.out}")
    return 0


def render(args: argparse.Namespace, gpu: bool, rows: list[str], notes: list[str], data: dict) -> str:
    """Return the markdown document: setting, command, table, target check."""
    widths = "full widths" if gpu else ", ".join(f"{a} ×{w}" for a, w in CPU_WIDTH.items())
    cmd = "python benchmarks/cgap_table.py " + " ".join(sys.argv[1:])
    head = ("| arch | method | test acc (%) | params (% of full) | MACs/img (% of full) | wall (s) "
            "| training MACs (% of full) |\n|---|---|---|---|---|---|---|")
    return (f"# CGaP vs baselines on Fashion-MNIST\n\nCommand: `{cmd.strip()}`\n\n"
            f"Setting: {'GPU' if gpu else f'CPU, {args.threads} thread(s)'}; full reference = {widths}; {args.epochs} epochs; "
            f"{data['train']} training / {data['val']} val / {data['test']} test images; seed {args.seed}. "
            f"Training MACs = Σ over steps of batch × 3 × forward MACs (forward + backward ≈ 3× forward).\n\n"
            f"{head}\n" + "\n".join(rows) + "\n\nTimings and targets (cgap vs full / prune):\n\n" + "\n".join(notes) + "\n")


if __name__ == "__main__":
    sys.exit(main())
