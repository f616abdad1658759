"""``cgap train``: the command-line front of :mod:`cgap.train` (flags mirror :class:`TrainConfig`)."""

from __future__ import annotations

import argparse
import shutil
import sys
from dataclasses import fields
from pathlib import Path

from cgap.train.config import (
    ALIGNS,
    DEVICES,
    MATCH_BY,
    OPTIMIZERS,
    PRUNE_COSTS,
    PRUNE_SCHEDULES,
    SCHEDULES,
    TRAIN_METHODS,
    TrainConfig,
)
from cgap.train.distributed import BACKENDS, DEFAULT_TIMEOUT_S
from cgap.train.grow import ALLOCS, MODES
from cgap.train.prune import SCOPES
from cgap.train.resume import STATE_FILE
from cgap.train.saliency import METHODS
from cgap_ir.errors import CgapError

D = TrainConfig()


def _opt_float(text: str) -> float | None:
    """Parse a float, or 'none' for None."""
    return None if text.lower() == "none" else float(text)


def _add(p: argparse.ArgumentParser, flag: str, help_: str, **kw: object) -> None:
    field = flag.lstrip("-").replace("-", "_")
    default = getattr(D, field)
    p.add_argument(flag, default=default, help=f"{help_} (default: {default})", **kw)


def _add_basics(p: argparse.ArgumentParser) -> None:
    p.add_argument("--arch", required=True, help="zoo architecture: lenet5, vgg11/13/16/19, resnet20/32/56/110, mobilenetv2, squeezenet")
    p.add_argument("--dataset", required=True, help="digits, fashion-mnist, mnist, cifar10, cifar100")
    _add(p, "--data-dir", "folder holding the dataset files")
    _add(p, "--method", "full = full width trained normally; prune = train full, L1 filter pruning to the "
         "target, fine-tune (Li et al. 2017); cgap = seed, grow, prune, fine-tune; scratch = the widths of "
         "--arch-from trained from a fresh init (Liu et al. 2019); uniform = the full net at the one width "
         "multiplier matching --match's cost (--by)", choices=TRAIN_METHODS)
    _add(p, "--epochs", "training epochs; phases are fractions of them", type=int)
    p.add_argument("--out", required=True, help="run folder: model.pt, history.json, state.pt, *.png")
    _add(p, "--width-mult", "width multiplier of the full reference model (e.g. 0.25 for a CPU-sized VGG)",
         type=float)
    _add(p, "--subset", "use only N training images (val/test: N/5, at least 100)", type=int)
    _add(p, "--seed", "random seed", type=int)
    _add(p, "--device", "auto = cuda if available", choices=DEVICES)
    _add(p, "--threads", "CPU threads for torch", type=int)
    p.add_argument("--no-channels-last", dest="channels_last", action="store_false",
                   help="keep NCHW layout (default: channels_last, faster convs on CPU)")
    _add(p, "--hw", "HwConfig preset or TOML file of the engine model that --prune-cost latency, --target-latency, "
         "--align pof, --grow-alloc saliency-cost and --by latency read (none = the default preset)")
    p.add_argument("--resume", action="store_true", help="continue the killed run in --out (same options)")
    p.add_argument("--force", action="store_true", help="start over even if --out holds a run")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def _add_cgap(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("CGaP")
    _add(g, "--seed-frac", "seed width as a fraction of the full reference", type=float)
    _add(g, "--saliency", "per-unit saliency: first-order Taylor |Σ w·g|, gradient magnitude, or weight L1",
         choices=METHODS)
    _add(g, "--saliency-window", "steps of saliency accumulated before each grow/prune decision", type=int)
    _add(g, "--grow-mode", "split = Net2Net function-preserving split of salient units; random = fresh units",
         choices=MODES)
    _add(g, "--grow-noise", "zero-sum noise on split shares (breaks symmetry, keeps the function)", type=float)
    _add(g, "--grow-rate", "each growth step adds ceil(rate·width) units per group", type=float)
    _add(g, "--grow-interval", "steps between growth steps; 0 = growth phase / 8", type=int)
    _add(g, "--grow-patience", "epochs without val-accuracy gain that stop growth", type=int)
    _add(g, "--grow-alloc", "how a growth step's units are shared among groups: uniform = ceil(rate*width) each; "
         "saliency = the same total in proportion to each group's mean per-unit saliency (normalised over "
         "groups), growth stopping after --grow-patience growth steps without a val gain; saliency-cost = that "
         "share divided by one unit's simulated cycles on --hw", choices=ALLOCS)
    _add(g, "--width-cap", "growth cap per group, relative to the full reference width (may exceed 1)",
         type=float)
    _add(g, "--prune-rate", "each pruning step removes at most this fraction of all units", type=float)
    _add(g, "--prune-interval", "steps between pruning steps; 0 = pruning phase / 16", type=int)
    _add(g, "--prune-scope", "global = saliency normalised per group then ranked together; layer = same "
         "fraction per group", choices=SCOPES)
    _add(g, "--prune-cost", "global ranking divides each unit's saliency by what removing it saves: its MACs, "
         "params, or both weighted by how far each --target-* still is (target); latency = saliency per "
         "simulated engine cycle saved on --hw (whole Pof quanta of output channels)",
         choices=PRUNE_COSTS)
    _add(g, "--prune-schedule", "greedy = reach the targets as fast as --prune-rate allows; cubic = ease toward "
         "them over the whole pruning phase, t + (1-t)(1-progress)^3 (Zhu & Gupta 2017)", choices=PRUNE_SCHEDULES)
    _add(g, "--min-width", "no group is pruned below this many units", type=int)
    _add(g, "--target-params", "stop pruning at this fraction of the full reference's params ('none' = off)",
         type=_opt_float)
    _add(g, "--target-macs", "... and this fraction of its MACs ('none' = off)", type=_opt_float)
    _add(g, "--target-latency", "... and this fraction of its simulated latency on --hw ('none' = off)",
         type=_opt_float)
    _add(g, "--max-acc-drop", "... or when val accuracy drops this many points below its pre-pruning best",
         type=_opt_float)
    _add(g, "--align", "pof = when pruning stops, snap widths down to multiples of Pof (--hw) for as many groups "
         "as keep val accuracy within --align-budget", choices=ALIGNS)
    _add(g, "--align-budget", "val-accuracy points the --align snap may cost (--max-acc-drop's bound when "
         "tighter)", type=float)
    _add(g, "--grow-frac", "fraction of the steps spent growing", type=float)
    _add(g, "--prune-frac", "fraction of the steps spent pruning (the rest fine-tunes)", type=float)
    _add(g, "--finetune-epochs", "fine-tune epochs after the last structural change (overrides the fractions; "
         "default: 1 - grow - prune of --epochs for cgap, 0.3 for prune)", type=float)


def _add_baselines(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("baselines")
    _add(g, "--arch-from", "scratch: RUN/model.pt whose widths are trained from a fresh init", metavar="CKPT")
    _add(g, "--match", "uniform: RUN/model.pt whose cost the width multiplier matches", metavar="CKPT")
    g.add_argument("--by", dest="match_by", choices=MATCH_BY, default=D.match_by,
                   help=f"uniform: the cost matched, within one width step (default: {D.match_by})")


def _add_optim(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("optimisation")
    _add(g, "--optimizer", "sgd (Nesterov momentum) or adam", choices=OPTIMIZERS)
    _add(g, "--lr", "peak learning rate", type=float)
    _add(g, "--momentum", "SGD momentum", type=float)
    _add(g, "--weight-decay", "L2 weight decay", type=float)
    _add(g, "--schedule", "learning-rate schedule over the whole run", choices=SCHEDULES)
    _add(g, "--batch-size", "training batch size", type=int)


def _add_dist(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("distributed (used only when launched by torchrun with WORLD_SIZE > 1)")
    g.add_argument("--dist-backend", choices=BACKENDS, default="auto",
                   help="process-group backend; auto = nccl on CUDA, gloo on CPU (default: auto)")
    g.add_argument("--dist-timeout", type=float, default=DEFAULT_TIMEOUT_S, metavar="SECONDS",
                   help="a collective that waits this long for a dead or stalled rank fails the run "
                        f"(default: {DEFAULT_TIMEOUT_S:g})")


def add_train_parser(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``train`` subcommand (calls :func:`run_train`)."""
    p = subparsers.add_parser("train", help="train a model: full, prune (Li et al.) or cgap",
                              description="Train a zoo model with Continuous Growth and Pruning or a baseline.")
    _add_basics(p)
    _add_cgap(p)
    _add_baselines(p)
    _add_optim(p)
    _add_dist(p)
    p.set_defaults(func=run_train)


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    """Return the validated TrainConfig for parsed ``args``."""
    values = {f.name: getattr(args, f.name) for f in fields(TrainConfig) if hasattr(args, f.name)}
    return TrainConfig(**values).validate()


def _prepare_out(cfg: TrainConfig, resume: bool, force: bool) -> None:
    out = Path(cfg.out)
    if resume and force:
        raise CgapError("--resume and --force contradict each other")
    if not resume and out.exists() and any(out.iterdir()):
        if not force:
            hint = "pass --resume to continue it or " if (out / STATE_FILE).exists() else ""
            raise CgapError(f"--out {out} is not empty ({hint}--force to start over)")
        shutil.rmtree(out)


def run_train(args: argparse.Namespace) -> int:
    """Run ``cgap train``; return the exit status (CgapError propagates for the CLI to print)."""
    from cgap.train.distributed import comm_failure, from_env
    from cgap.train.loop import train

    cfg = config_from_args(args)
    replicas = from_env(cfg.device, getattr(args, "dist_backend", "auto"),
                        getattr(args, "dist_timeout", DEFAULT_TIMEOUT_S))
    try:
        replicas.agree(lambda: _prepare_out(cfg, args.resume, args.force), main_only=True)
        result = train(cfg, resume=args.resume, progress=not args.no_progress, replicas=replicas)
    except RuntimeError as exc:
        if replicas.world > 1 and comm_failure(exc):
            raise replicas.lost_contact(exc) from None
        raise
    finally:
        replicas.close()
    if not replicas.is_main:
        return 0
    fin = result.history.info["final"]
    latency = f"simulated latency {100 * fin['latency_frac']:.1f}% of full, " if "latency_frac" in fin else ""
    print(f"{cfg.method} {cfg.arch} on {cfg.dataset}: test accuracy {fin['test_acc']:.2f}%, params {fin['params']} "
          f"({100 * fin['params_frac']:.1f}% of full), MACs {fin['macs']} ({100 * fin['macs_frac']:.1f}%), "
          f"{latency}training MACs {fin['train_macs']:.3e}, {fin['train_seconds']:.1f} s "
          f"(grow/prune overhead {fin['overhead_pct']:.1f}%) -> {result.out_dir}", file=sys.stdout)
    return 0


def main(argv: list[str] | None = None) -> int:
    """Standalone entry (``python -m cgap.train_cli``) until the lead wires ``train`` into ``cgap``."""
    parser = argparse.ArgumentParser(prog="cgap")
    sub = parser.add_subparsers(dest="command", required=True)
    add_train_parser(sub)
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except CgapError as exc:
        print(f"cgap train: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
