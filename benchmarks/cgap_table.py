"""full / prune / scratch / uniform / cgap / cgap-latency over seeds on Fashion-MNIST; markdown + CSV + scatter.

Setting (CPU): the "full" reference is VGG-11 at ×0.25 width and ResNet-20 at ×0.5 width (full widths when a
GPU is present), 6 epochs each, SGD+Nesterov, cosine lr 0.05, batch 128, no augmentation. Methods:

- ``full``: the reference trained normally;
- ``prune``: train 70%, one-shot L1 filter pruning (Li et al.) to params ≤ 40% and MACs ≤ 45%, fine-tune 30%;
- ``cgap``: seed at ½ of the reference, growth 30% of the steps, pruning 40% to the same targets, fine-tune;
- ``cgap-latency``: cgap with ``--prune-cost latency --target-latency T --align pof`` on ``--hw`` (no params or
  MACs target): saliency per simulated engine cycle saved;
- ``scratch``: the final widths of ``--baseline-of`` (default cgap-latency) of the same seed, fresh init, same
  epochs and schedule (Liu et al. 2019);
- ``uniform``: the reference at the one width multiplier whose simulated latency matches that run's.

Every run lives in ``RUNS/<arch>-<method>-s<seed>/``; ``--resume`` skips finished runs and continues killed
ones (``cgap train --resume``), so the table survives interruption. Accuracy is on the 10k test images (never
used for a choice); latency and DRAM energy come from the engine model on ``--hw``.  Writes ``--out`` (mean ±
std per arch and method), the per-seed CSV beside it and in RUNS (``tradeoff.csv``, which ``cgap report RUNS``
draws) and the scatter PNG beside it.

    python benchmarks/cgap_table.py --seeds 3 --resume                 # the acceptance table (hours on 2 cores)
    python benchmarks/cgap_table.py --quick                            # 6000-image subset, 3 epochs: a smoke test
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

import torch

from cgap.atomic import atomic_path, write_text_atomic
from cgap.data import Splits, load_dataset
from cgap.report.tradeoff import FILE, mean_std, pareto_front, to_csv
from cgap.train.config import TrainConfig
from cgap.train.latency import LatencyModel
from cgap.train.loop import HISTORY_FILE, MODEL_FILE, train
from cgap.train.resume import STATE_FILE

METHODS = ("full", "prune", "cgap", "cgap-latency", "scratch", "uniform")
CPU_WIDTH = {"vgg11": 0.25, "resnet20": 0.5, "lenet5": 1.0}


def method_options(method: str, args: argparse.Namespace, runs: Path, arch: str, seed: int) -> dict:
    """Return the TrainConfig fields that make ``method`` out of the shared setting."""
    latency = {"hw": args.hw, "prune_cost": "latency", "target_latency": args.target_latency, "target_params": None,
               "target_macs": None, "align": "pof"}
    source = str(run_dir(runs, arch, args.baseline_of, seed) / MODEL_FILE)
    return {"full": {"method": "full"}, "prune": {"method": "prune"}, "cgap": {"method": "cgap"},
            "cgap-latency": {"method": "cgap", **latency},
            "scratch": {"method": "scratch", "arch_from": source},
            "uniform": {"method": "uniform", "match": source, "match_by": "latency", "hw": args.hw}}[method]


def run_dir(runs: Path, arch: str, method: str, seed: int) -> Path:
    """Return the folder of one run."""
    return runs / f"{arch}-{method}-s{seed}"


def finished(out: Path) -> dict | None:
    """Return the history of a finished run in ``out`` (one with final test numbers), else None."""
    path = out / HISTORY_FILE
    if not (path.is_file() and (out / MODEL_FILE).is_file()):
        return None
    hist = json.loads(path.read_text())
    return hist if "final" in hist and "test_acc" in hist["final"] else None


def run_one(cfg: TrainConfig, splits: Splits, resume: bool, progress: bool) -> dict:
    """Train one cell (or skip/continue it under ``resume``); return its history."""
    out = Path(cfg.out)
    if resume and (hist := finished(out)) is not None:
        print(f"{out}: finished, skipped", flush=True)
        return hist
    again = resume and (out / STATE_FILE).is_file()
    if not again and out.exists():
        shutil.rmtree(out)
    return train(cfg, splits=splits, resume=again, progress=progress).history.to_dict()


def measure(hist: dict, arch: str, method: str, seed: int, model: LatencyModel, out: Path) -> dict:
    """Return the CSV row of one finished run: accuracy, size, simulated accelerator cost, training cost."""
    final = hist["final"]
    widths = hist["epochs"][-1]["widths"]
    sim = model.report(widths)
    return {"arch": arch, "method": method, "seed": seed, "test_acc": final["test_acc"], "params": final["params"],
            "macs": final["macs"], "latency_us": sim["latency_us"], "dram_energy_uj": sim["energy_pj"]["dram"] / 1e6,
            "energy_uj": sim["energy_pj"]["total"] / 1e6, "train_macs": final["train_macs"],
            "train_seconds": final["train_seconds"], "run": str(out)}


STATS = (("test_acc", "test acc (%)", "{:.2f}"), ("params", "params", "{:,.0f}"), ("macs", "MACs/img", "{:,.0f}"),
         ("latency_us", "latency (us)", "{:.1f}"), ("dram_energy_uj", "DRAM energy (uJ)", "{:.1f}"),
         ("train_macs", "training MACs", "{:.3e}"))


def table_rows(rows: list[dict]) -> list[str]:
    """Return one markdown row per (arch, method): mean ± std over seeds, the cost columns also as % of full."""
    out = []
    for arch in dict.fromkeys(r["arch"] for r in rows):
        mine = [r for r in rows if r["arch"] == arch]
        full = {k: mean_std([r[k] for r in mine if r["method"] == "full"])[0] if any(
            r["method"] == "full" for r in mine) else None for k, _, _ in STATS}
        for method in dict.fromkeys(r["method"] for r in mine):
            cells = []
            for key, _, fmt in STATS:
                mean, std = mean_std([r[key] for r in mine if r["method"] == method])
                text = fmt.format(mean) + (f" ± {fmt.format(std)}" if key == "test_acc" else "")
                if key != "test_acc" and full[key]:
                    text += f" ({100 * mean / full[key]:.0f}%)"
                cells.append(text)
            seeds = sum(r["method"] == method for r in mine)
            out.append(f"| {arch} | {method} | {seeds} | " + " | ".join(cells) + " |")
    return out


def verdicts(rows: list[dict]) -> list[str]:
    """Return the issue's checks of cgap-latency against full and of every baseline against it."""
    lines = []
    for arch in dict.fromkeys(r["arch"] for r in rows):
        def mean(method: str, key: str, arch: str = arch) -> float | None:
            vals = [r[key] for r in rows if r["arch"] == arch and r["method"] == method]
            return mean_std(vals)[0] if vals else None
        ref, ours = "full", "cgap-latency"
        if mean(ref, "test_acc") is None or mean(ours, "test_acc") is None:
            continue
        for key, what, limit in (("latency_us", "latency", -40.2), ("dram_energy_uj", "DRAM energy", -11.8)):
            change = 100 * (mean(ours, key) / mean(ref, key) - 1)
            lines.append(f"- {arch} {what}: {change:+.1f}% vs full (target ≤ {limit:+.1f}%): "
                         f"{'met' if change <= limit else f'missed by {change - limit:.1f} pt'}")
        drop = mean(ref, "test_acc") - mean(ours, "test_acc")
        lines.append(f"- {arch} accuracy drop {drop:+.2f} pt (target ≤ 0.5): {'met' if drop <= 0.5 else 'missed'}")
        for other in dict.fromkeys(r["method"] for r in rows if r["arch"] == arch):
            if other != ours and mean(other, "test_acc") > mean(ours, "test_acc") \
                    and mean(other, "latency_us") < mean(ours, "latency_us"):
                lines.append(f"- {arch}: {other} beats {ours} on both mean accuracy and latency")
        points = [(r["latency_us"], r["test_acc"]) for r in rows if r["arch"] == arch]
        front = {[r for r in rows if r["arch"] == arch][i]["method"] for i in pareto_front(points)}
        lines.append(f"- {arch}: methods on the accuracy-latency Pareto front (any seed): {', '.join(sorted(front))}")
    return lines


def parse(argv: list[str] | None) -> argparse.Namespace:
    """Return the parsed options."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--epochs", type=int, default=6)
    p.add_argument("--subset", type=int, default=None, help="training images (default: all 54k)")
    p.add_argument("--quick", action="store_true", help="smoke test: --subset 6000 --epochs 3")
    p.add_argument("--archs", default="vgg11,resnet20")
    p.add_argument("--methods", default=",".join(METHODS), help=f"subset of {','.join(METHODS)}")
    p.add_argument("--dataset", default="fashion-mnist")
    p.add_argument("--width-mult", type=float, default=None, help="override the reference width multiplier")
    p.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    p.add_argument("--seed", type=int, default=0, help="first seed")
    p.add_argument("--seeds", type=int, default=1, help="runs per method: seeds --seed .. --seed + N - 1")
    p.add_argument("--resume", action="store_true", help="skip finished runs, continue killed ones")
    p.add_argument("--hw", default="zcu102-16b", help="HwConfig preset or TOML for latency, energy, cgap-latency")
    p.add_argument("--target-latency", type=float, default=0.55, help="cgap-latency's latency target (of full)")
    p.add_argument("--baseline-of", default="cgap-latency", help="the run scratch and uniform are derived from")
    p.add_argument("--threads", type=int, default=2, help="torch CPU threads (1 is faster on a busy machine)")
    p.add_argument("--runs", default="runs/cgap_table", help="folder for the run directories")
    p.add_argument("--out", default="benchmarks/results/cgap_table.md")
    p.add_argument("--no-progress", action="store_true")
    args = p.parse_args(argv)
    if args.quick:
        args.subset, args.epochs = args.subset or 6000, min(args.epochs, 3)
    bad = [m for m in args.methods.split(",") if m not in METHODS]
    if bad or args.seeds < 1:
        p.error(f"unknown method {bad[0]!r}" if bad else "--seeds must be at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    """Run (or resume) every cell, then write the table, the CSV and the scatter; return 0."""
    args = parse(argv)
    torch.set_num_threads(args.threads)
    gpu = args.device == "cuda" or (args.device == "auto" and torch.cuda.is_available())
    runs = Path(args.runs)
    methods = [m for m in METHODS if m in args.methods.split(",")]
    rows: list[dict] = []
    for seed in range(args.seed, args.seed + args.seeds):
        splits = load_dataset(args.dataset, subset=args.subset, seed=seed)
        for arch in args.archs.split(","):
            width = args.width_mult or (1.0 if gpu else CPU_WIDTH.get(arch, 1.0))
            model = LatencyModel.from_spec(arch, splits.input_shape, splits.num_classes, args.hw)
            for method in methods:
                out = run_dir(runs, arch, method, seed)
                cfg = TrainConfig(arch=arch, dataset=args.dataset, epochs=args.epochs, width_mult=width, out=str(out),
                                  subset=args.subset, device=args.device, seed=seed, threads=args.threads,
                                  **method_options(method, args, runs, arch, seed))
                hist = run_one(cfg, splits, args.resume, not args.no_progress)
                rows.append(measure(hist, arch, method, seed, model, out))
                print(f"{arch} {method} seed {seed}: test {rows[-1]['test_acc']:.2f}%, "
                      f"latency {rows[-1]['latency_us']:.1f} us, MACs {rows[-1]['macs']:,}", flush=True)
    write_outputs(args, rows, gpu, splits.describe())
    return 0


def write_outputs(args: argparse.Namespace, rows: list[dict], gpu: bool, data: dict) -> None:
    """Write the markdown table, the per-seed CSV (beside it and in RUNS) and the scatter PNG."""
    from cgap.report.figures import tradeoff_scatter

    out = Path(args.out)
    csv_text = to_csv(rows)
    write_text_atomic(out.with_suffix(".csv"), csv_text)
    write_text_atomic(Path(args.runs) / FILE, csv_text)
    with atomic_path(out.with_suffix(".png")) as tmp:
        tmp.write_bytes(tradeoff_scatter(rows))
    write_text_atomic(out, render(args, gpu, table_rows(rows), verdicts(rows), data))
    print(f"wrote {out}, {out.with_suffix('.csv')}, {out.with_suffix('.png')}")


def render(args: argparse.Namespace, gpu: bool, rows: list[str], notes: list[str], data: dict) -> str:
    """Return the markdown document: command, setting, table, checks."""
    cmd = "python benchmarks/cgap_table.py " + " ".join(sys.argv[1:])
    head = ("| arch | method | seeds | test acc (%) mean ± std | params | MACs/img | latency (us) | DRAM energy (uJ) "
            "| training MACs |\n|---|---|---|---|---|---|---|---|---|")
    seeds = f"seeds {args.seed}..{args.seed + args.seeds - 1}"
    return (f"# CGaP vs baselines on {args.dataset}\n\nCommand: `{cmd.strip()}`\n\n"
            f"Setting: {'GPU' if gpu else f'CPU, {args.threads} thread(s)'}; {args.epochs} epochs; "
            f"{data['train']} training / {data['val']} val / {data['test']} test images; {seeds}; accelerator "
            f"{args.hw}; cgap-latency target {args.target_latency:.0%} of full's latency; scratch and uniform from "
            f"{args.baseline_of}. Cost columns are means over seeds (% of full's mean). Per-seed numbers: "
            f"`{Path(args.out).with_suffix('.csv').name}`; scatter: `{Path(args.out).with_suffix('.png').name}`.\n\n"
            f"{head}\n" + "\n".join(rows) + "\n\nChecks (cgap-latency vs full, and vs every baseline):\n\n"
            + "\n".join(notes) + "\n")


if __name__ == "__main__":
    sys.exit(main())
