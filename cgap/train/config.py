"""TrainConfig: every knob of a training run, with the documented defaults, and its phase arithmetic."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

from cgap.train.grow import ALLOCS, MODES
from cgap.train.prune import SCOPES
from cgap.train.saliency import METHODS as SALIENCIES
from cgap_ir.errors import CgapError

TRAIN_METHODS = ("cgap", "full", "prune", "scratch", "uniform")
FIXED_METHODS = ("full", "scratch", "uniform")  # trained at one width throughout: no structural events
OPTIMIZERS = ("sgd", "adam")
SCHEDULES = ("cosine", "constant")
DEVICES = ("auto", "cpu", "cuda")
PRUNE_COSTS = ("none", "macs", "params", "target", "latency")
ALIGNS = ("none", "pof")
MATCH_BY = ("latency", "macs", "params")
PRUNE_SCHEDULES = ("greedy", "cubic")


@dataclass
class TrainConfig:
    """A training run.  Widths are relative to the *full reference*: the zoo defaults × ``width_mult``."""

    arch: str = "vgg11"
    dataset: str = "digits"
    data_dir: str | None = None
    method: str = "cgap"
    epochs: int = 10
    out: str = "runs/train"
    width_mult: float = 1.0          # the full reference model's width multiplier
    seed_frac: float = 0.5           # cgap seed width as a fraction of the full reference (0.25 lost ~1 pt on VGG-11)
    saliency: str = "taylor"
    saliency_window: int = 50        # steps accumulated before each grow/prune decision
    grow_mode: str = "split"
    grow_noise: float = 0.1          # relative zero-sum noise on split shares (function still preserved)
    grow_rate: float = 0.25          # each growth step adds ceil(rate * width) units per group
    grow_interval: int = 0           # steps between growth steps; 0 = growth phase / 8
    grow_patience: int = 2           # epochs without a val-accuracy gain that stop growth
    grow_alloc: str = "uniform"      # how a growth step's units are shared: uniform, saliency, saliency-cost
    width_cap: float = 1.0           # growth cap per group, relative to the full reference width
    prune_rate: float = 0.1          # each pruning step removes at most this fraction of all units
    prune_interval: int = 0          # steps between pruning steps; 0 = pruning phase / 16
    prune_scope: str = "global"
    prune_cost: str = "none"         # global ranking divides saliency by a unit's cost: none, macs, params,
                                     # target, or latency (saliency per simulated engine cycle saved, --hw)
    hw: str | None = None            # HwConfig preset or TOML for the latency cost/target (None = default preset)
    prune_schedule: str = "greedy"   # greedy = reach the target as fast as --prune-rate allows; cubic = ease
                                     # toward it over the whole pruning phase (Zhu & Gupta 2017)
    min_width: int = 2               # no group is pruned below this many units
    target_params: float | None = 0.40   # pruning stops once params <= this fraction of the full reference
    target_macs: float | None = 0.45     # ... and MACs <= this fraction (every given target must be met)
    target_latency: float | None = None  # ... and simulated latency on --hw <= this fraction
    max_acc_drop: float | None = None    # ... or once val accuracy fell this many points below its pre-prune best
    align: str = "none"              # pof = snap final widths down to multiples of Pof when pruning ends
    align_budget: float = 0.5        # val-accuracy points the snap may cost (--max-acc-drop's bound if tighter)
    arch_from: str | None = None     # scratch: the checkpoint whose widths are trained from a fresh init
    match: str | None = None         # uniform: the checkpoint whose cost the uniform width multiplier matches
    match_by: str = "latency"        # uniform: latency (on --hw), macs or params
    grow_frac: float = 0.3           # fraction of training steps in the growth phase (cgap)
    prune_frac: float = 0.4          # fraction in the pruning phase (cgap); the rest is fine-tuning
    finetune_epochs: float | None = None  # overrides the fine-tune length (cgap, prune); None = 1 - grow - prune
    optimizer: str = "sgd"
    lr: float = 0.05
    momentum: float = 0.9
    weight_decay: float = 5e-4
    schedule: str = "cosine"
    batch_size: int = 128
    seed: int = 0
    subset: int | None = None
    device: str = "auto"
    threads: int = 2
    channels_last: bool = True       # NHWC activations and weights (faster convs on CPU)

    def to_dict(self) -> dict:
        """Return the config as plain data."""
        return asdict(self)

    @classmethod
    def from_dict(cls, doc: dict) -> TrainConfig:
        """Return a config from plain data (unknown keys are an error)."""
        names = {f.name for f in fields(cls)}
        unknown = sorted(set(doc) - names)
        if unknown:
            raise CgapError(f"unknown training config keys {unknown}")
        return cls(**doc)

    def uses_hw(self) -> bool:
        """Return whether the run reads the engine model on ``--hw`` (latency cost, target, alignment,
        cost-weighted growth, or a latency-matched uniform baseline)."""
        return (self.prune_cost == "latency" or self.target_latency is not None or self.align == "pof"
                or self.grow_alloc == "saliency-cost" or (self.method == "uniform" and self.match_by == "latency"))

    def finetune_fraction(self) -> float:
        """Return the fraction of steps spent fine-tuning after the last structural change."""
        if self.finetune_epochs is not None:
            return self.finetune_epochs / self.epochs
        return 1.0 - self.grow_frac - self.prune_frac if self.method == "cgap" else 0.3

    def phase_steps(self, total: int) -> tuple[int, int]:
        """Return (growth end, pruning end) in steps; ``prune``'s one-shot pruning happens at pruning end."""
        ft = round(self.finetune_fraction() * total)
        if self.method in FIXED_METHODS:
            return 0, 0
        if self.method == "prune":
            return 0, max(1, total - ft)
        scale = (total - ft) / max(1e-9, self.grow_frac + self.prune_frac)
        grow_end = max(1, round(self.grow_frac * scale))
        return grow_end, max(grow_end + 1, total - ft)

    def validate(self) -> TrainConfig:
        """Return self, or raise CgapError naming the first bad option."""
        for opt, val, allowed in (("--method", self.method, TRAIN_METHODS), ("--saliency", self.saliency, SALIENCIES),
                                  ("--grow-mode", self.grow_mode, MODES), ("--prune-scope", self.prune_scope, SCOPES),
                                  ("--prune-cost", self.prune_cost, PRUNE_COSTS),
                                  ("--prune-schedule", self.prune_schedule, PRUNE_SCHEDULES),
                                  ("--grow-alloc", self.grow_alloc, ALLOCS), ("--align", self.align, ALIGNS),
                                  ("--by", self.match_by, MATCH_BY),
                                  ("--optimizer", self.optimizer, OPTIMIZERS), ("--schedule", self.schedule, SCHEDULES),
                                  ("--device", self.device, DEVICES)):
            if val not in allowed:
                raise CgapError(f"{opt} must be one of {', '.join(allowed)}, got {val!r}")
        _check_ranges(self)
        return self


def _check_ranges(c: TrainConfig) -> None:
    checks = [
        ("--epochs", c.epochs >= 1, "at least 1"), ("--batch-size", c.batch_size >= 1, "at least 1"),
        ("--width-mult", c.width_mult > 0, "positive"), ("--seed-frac", 0 < c.seed_frac <= 1, "in (0, 1]"),
        ("--saliency-window", c.saliency_window >= 1, "at least 1"),
        ("--grow-rate", c.grow_rate > 0, "positive"), ("--grow-noise", c.grow_noise >= 0, "non-negative"),
        ("--grow-interval", c.grow_interval >= 0, "non-negative"), ("--grow-patience", c.grow_patience >= 1, "≥ 1"),
        ("--width-cap", c.width_cap >= c.seed_frac, "at least --seed-frac"),
        ("--prune-rate", 0 < c.prune_rate < 1, "in (0, 1)"), ("--prune-interval", c.prune_interval >= 0, "≥ 0"),
        ("--min-width", c.min_width >= 1, "at least 1"), ("--lr", c.lr > 0, "positive"),
        ("--target-params", c.target_params is None or 0 < c.target_params <= 1, "in (0, 1]"),
        ("--target-macs", c.target_macs is None or 0 < c.target_macs <= 1, "in (0, 1]"),
        ("--max-acc-drop", c.max_acc_drop is None or c.max_acc_drop >= 0, "non-negative"),
        ("--grow-frac", 0 < c.grow_frac < 1, "in (0, 1)"), ("--prune-frac", 0 < c.prune_frac < 1, "in (0, 1)"),
        ("--grow-frac/--prune-frac", c.grow_frac + c.prune_frac <= 1, "summing to at most 1"),
        ("--finetune-epochs", c.finetune_epochs is None or 0 <= c.finetune_epochs < c.epochs, "in [0, --epochs)"),
        ("--threads", c.threads >= 1, "at least 1"),
        ("--target-latency", c.target_latency is None or 0 < c.target_latency <= 1, "in (0, 1]"),
        ("--align-budget", c.align_budget >= 0, "non-negative"),
    ]
    for opt, ok, what in checks:
        if not ok:
            raise CgapError(f"{opt} must be {what}")
    _check_method_inputs(c)
    targets = (c.target_params, c.target_macs, c.target_latency)
    if c.method in ("cgap", "prune") and all(t is None for t in targets) and c.max_acc_drop is None:
        raise CgapError("--target-params, --target-macs, --target-latency or --max-acc-drop: pruning needs at "
                        "least one stop rule")
    if c.method == "prune" and all(t is None for t in targets):
        raise CgapError("--target-params, --target-macs or --target-latency: the prune baseline prunes once to a "
                        "target")


def _check_method_inputs(c: TrainConfig) -> None:
    """Raise CgapError when a baseline's input is missing or given to a method that does not read it."""
    if c.method == "scratch" and not c.arch_from:
        raise CgapError("--method scratch needs --arch-from RUN/model.pt (the widths to train from scratch)")
    if c.method == "uniform" and not c.match:
        raise CgapError("--method uniform needs --match RUN/model.pt (the run whose cost to match)")
    if c.arch_from and c.method != "scratch":
        raise CgapError("--arch-from is read by --method scratch only")
    if c.match and c.method != "uniform":
        raise CgapError("--match is read by --method uniform only")
