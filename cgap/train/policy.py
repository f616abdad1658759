"""The CGaP policy: when to grow, when to prune and when to stop, in plain Python (no torch).

The training loop (:mod:`cgap.train.loop`) counts optimizer steps and epochs and does the work (saliency,
surgery, DDP, checkpoints); it asks this policy what is due and reports back what happened.  Steps are counts
of optimizer steps completed (the first step is 1); the schedule depends on the step count and the two flags
``growing``/``pruning`` only:

- ``cgap``: a **grow** event at every multiple of ``grow_interval`` up to ``grow_end`` while growing, then a
  **prune** event at ``grow_end + k * prune_interval`` up to ``prune_end`` while pruning, then fine-tuning;
- ``prune`` (Li et al.): one **oneshot** pruning event at ``prune_end``;
- ``full``: no events.

Saliency is accumulated over the ``saliency_window`` steps that end at an event (the event's step included).

Stop rules (each flag is cleared once; the first reason is kept): growth stops at the width caps, on a
validation plateau (``grow_patience`` epochs without a gain of more than ``MIN_GAIN`` points; with a saliency
allocation also ``grow_patience`` growth steps, see :meth:`CgapPolicy.grow_checkpoint`) or at the end of
its phase; pruning stops when the targets (params, MACs, simulated latency) are met, when no unit can go,
when the validation accuracy falls more than ``max_acc_drop`` points below its best before pruning, or at
the end of its phase.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from cgap.train.config import TrainConfig

MIN_GAIN = 0.1  # val-accuracy points that count as progress for the growth plateau rule

EventKind = Literal["grow", "prune", "oneshot"]
Phase = Literal["grow", "prune", "train", "finetune"]
Flag = Literal["growing", "pruning"]
Cost = Callable[[dict[str, int]], tuple[int, int]]  # widths -> (params, forward MACs per sample)
Latency = Callable[[dict[str, int]], float]          # widths -> simulated cycles per image on the engine


@dataclass(frozen=True)
class PolicyConfig:
    """The knobs the policy reads: the method, its step schedule, stop rules and width limits."""

    method: Literal["cgap", "full", "prune"]
    grow_end: int                       # step at which the growth phase ends
    prune_end: int                      # step at which the pruning phase ends (``prune``: the one-shot step)
    grow_interval: int
    prune_interval: int
    saliency_window: int
    prune_schedule: Literal["greedy", "cubic"] = "greedy"
    target_params: float | None = None  # fractions of the full reference
    target_macs: float | None = None
    target_latency: float | None = None
    max_acc_drop: float | None = None   # val-accuracy points below the pre-pruning best
    grow_patience: int = 2
    width_cap: float = 1.0              # growth cap per group, relative to the full reference width
    min_width: int = 2                  # no group is pruned below this many units

    @classmethod
    def from_train_config(cls, cfg: TrainConfig, total_steps: int) -> PolicyConfig:
        """Return the policy knobs of ``cfg`` for a run of ``total_steps`` (0 intervals become the defaults)."""
        grow_end, prune_end = cfg.phase_steps(total_steps)
        method = cfg.method if cfg.method in ("cgap", "prune") else "full"
        return cls(method=method, grow_end=grow_end, prune_end=prune_end,
                   grow_interval=cfg.grow_interval or max(1, grow_end // 8),
                   prune_interval=cfg.prune_interval or max(1, (prune_end - grow_end) // 16),
                   saliency_window=cfg.saliency_window, prune_schedule=cfg.prune_schedule,
                   target_params=cfg.target_params, target_macs=cfg.target_macs,
                   target_latency=cfg.target_latency, max_acc_drop=cfg.max_acc_drop,
                   grow_patience=cfg.grow_patience, width_cap=cfg.width_cap, min_width=cfg.min_width)


@dataclass
class PolicyState:
    """What the policy has seen and decided (plain, JSON-able data; part of the resume state)."""

    growing: bool = True
    pruning: bool = True
    best_val: float = -1.0
    stale_epochs: int = 0               # epochs without a val gain
    pre_prune_best: float | None = None
    aligned: bool = False               # --align pof done (once, when pruning stopped)
    grow_best: float = -1.0             # best val accuracy seen at a growth step (saliency allocation)
    grow_stale: int = 0                 # growth steps since it last rose by more than MIN_GAIN
    stop_reasons: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Return the state as plain data."""
        return asdict(self)

    @classmethod
    def from_dict(cls, doc: dict[str, Any]) -> PolicyState:
        """Return a state from :meth:`to_dict` output (missing keys take their defaults)."""
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in doc.items() if k in names})


class CgapPolicy:
    """Answers the loop's questions (what is due at this step, which phase, is the target met) and keeps
    the growing/pruning flags and the validation record that the stop rules read."""

    def __init__(self, config: PolicyConfig, full_widths: dict[str, int], cost: Cost,
                 state: PolicyState | None = None, latency: Latency | None = None) -> None:
        self.config = config
        self.cost = cost
        self.latency = latency
        self.full_params, self.full_macs = cost(full_widths)
        if config.target_latency is not None and latency is None:
            raise ValueError("a latency target needs a latency model")
        self.full_latency = latency(full_widths) if latency is not None else None
        self.caps = {g: max(1, round(w * config.width_cap)) for g, w in full_widths.items()}
        self.min_widths = {g: min(config.min_width, w) for g, w in full_widths.items()}
        self.state = state or PolicyState()

    # ------------------------------------------------------------------------------------------ schedule
    def next_event(self, step: int) -> tuple[int, EventKind] | None:
        """Return (step, kind) of the first structural event at or after step count ``step``, or None."""
        config = self.config
        if config.method == "prune":
            return (config.prune_end, "oneshot") if step <= config.prune_end else None
        if config.method != "cgap":
            return None
        if self.state.growing and step <= config.grow_end:
            due = _next_beat(step, 0, config.grow_interval)
            if due <= config.grow_end:
                return due, "grow"
        if self.state.pruning and step <= config.prune_end:
            due = _next_beat(step, config.grow_end, config.prune_interval)
            if due <= config.prune_end:
                return due, "prune"
        return None

    def event_due(self, step: int) -> EventKind | None:
        """Return the kind of the structural event due exactly at step count ``step``, or None."""
        upcoming = self.next_event(step)
        return upcoming[1] if upcoming is not None and upcoming[0] == step else None

    def in_window(self, step: int) -> bool:
        """Return whether step count ``step`` lies in the saliency window that ends at the next event."""
        upcoming = self.next_event(step)
        return upcoming is not None and upcoming[0] - step < self.config.saliency_window

    def phase(self, step: int) -> Phase:
        """Return the phase name at step count ``step`` (by steps alone, whatever the flags say)."""
        method = self.config.method
        if method == "cgap" and step < self.config.grow_end:
            return "grow"
        if method in ("cgap", "prune") and step < self.config.prune_end:
            return "prune" if method == "cgap" else "train"
        return "finetune" if method != "full" else "train"

    def prune_progress(self, step: int) -> float:
        """Return the fraction of the pruning phase's steps done (1 for the greedy schedule: full target now)."""
        config = self.config
        if config.prune_schedule == "greedy":
            return 1.0
        events = max(1, (config.prune_end - config.grow_end) // config.prune_interval)
        return min(1.0, (step - config.grow_end) / (events * config.prune_interval))

    # ------------------------------------------------------------------------------------------ targets
    def needs_more(self, widths: dict[str, int], done: float = 1.0) -> bool:
        """Return whether a model at ``widths`` is still above a pruning target (always, when none is set).

        ``done`` < 1 asks about the intermediate target of a gradual schedule: each target eased from the full
        reference, ``t + (1 - t)(1 - done)^3`` (Zhu & Gupta 2017's cubic schedule), reaching ``t`` at 1.
        """
        config = self.config
        targets = (config.target_params, config.target_macs, config.target_latency)
        if all(t is None for t in targets):
            return True
        ease = (1.0 - min(1.0, max(0.0, done))) ** 3

        def above(target: float | None, value: Callable[[], float], full: float | None) -> bool:
            return target is not None and value() > (target + (1 - target) * ease) * full

        return (above(config.target_params, lambda: self.cost(widths)[0], self.full_params)
                or above(config.target_macs, lambda: self.cost(widths)[1], self.full_macs)
                or above(config.target_latency, lambda: self.latency(widths), self.full_latency))

    def target_limits(self) -> tuple[float | None, float | None]:
        """Return the (params, MACs) each target allows in absolute numbers (None where no target is set)."""
        target_params, target_macs = self.config.target_params, self.config.target_macs
        return (None if target_params is None else target_params * self.full_params,
                None if target_macs is None else target_macs * self.full_macs)

    # ------------------------------------------------------------------------------------------ reports
    def stop(self, flag: Flag, reason: str, epoch: int, step: int) -> None:
        """Clear ``growing`` or ``pruning`` and record why, with the 1-based ``epoch + 1`` and ``step``."""
        if getattr(self.state, flag):
            setattr(self.state, flag, False)
            self.state.stop_reasons[flag] = f"{reason} (epoch {epoch + 1}, step {step})"

    def grown(self, widths: dict[str, int], epoch: int, step: int) -> None:
        """Note a growth event's result: growth stops once every group reached its cap."""
        if all(widths[g] >= cap for g, cap in self.caps.items()):
            self.stop("growing", "width cap reached", epoch, step)

    def grow_checkpoint(self, val_acc: float, epoch: int, step: int) -> bool:
        """Record the val accuracy measured before a growth step; return whether growth goes on.

        Growth stops once ``grow_patience`` growth steps in a row brought no gain of more than ``MIN_GAIN``
        points: the data, not the reference width, decides how big the network gets.
        """
        state = self.state
        if val_acc > state.grow_best + MIN_GAIN:
            state.grow_best, state.grow_stale = val_acc, 0
        else:
            state.grow_stale += 1
        if state.grow_stale >= self.config.grow_patience:
            self.stop("growing", f"val accuracy plateau ({self.config.grow_patience} growth steps)", epoch, step)
        return state.growing

    def pruning_starts(self, step: int) -> float:
        """Note a pruning event before it acts; return the schedule's progress (``done`` for needs_more).

        The first pruning event records the best validation accuracy so far, which ``max_acc_drop`` reads.
        """
        if self.state.pre_prune_best is None:
            self.state.pre_prune_best = self.state.best_val
        return self.prune_progress(step)

    def pruned(self, widths: dict[str, int], epoch: int, step: int) -> None:
        """Note a pruning event's result: pruning stops once the final targets are met."""
        if not self.needs_more(widths):
            self.stop("pruning", "target met", epoch, step)

    def end_epoch(self, epochs_done: int, step: int, val_acc: float) -> None:
        """Record an epoch's validation accuracy and apply the epoch-end stop rules.

        ``epochs_done`` counts the epoch just finished; the reasons name ``epochs_done + 1`` (as they always
        have: the histories of earlier runs say so).
        """
        config, state = self.config, self.state
        if val_acc > state.best_val + MIN_GAIN:
            state.best_val, state.stale_epochs = val_acc, 0
        else:
            state.stale_epochs += 1
        if config.method == "cgap":
            if step < config.grow_end and state.stale_epochs >= config.grow_patience:
                self.stop("growing", f"val accuracy plateau ({config.grow_patience} epochs)", epochs_done, step)
            if step >= config.grow_end:
                self.stop("growing", "growth phase over", epochs_done, step)
            if step >= config.prune_end:
                self.stop("pruning", "pruning phase over before the target was met", epochs_done, step)
        drop = None if state.pre_prune_best is None else state.pre_prune_best - val_acc
        if config.max_acc_drop is not None and drop is not None and drop > config.max_acc_drop:
            self.stop("pruning", f"val accuracy {drop:.2f} pt below the pre-pruning best", epochs_done, step)


def _next_beat(step: int, start: int, interval: int) -> int:
    """Return the first step ``start + k * interval`` (k >= 1) at or after ``step``."""
    return start + max(1, math.ceil((step - start) / interval)) * interval
