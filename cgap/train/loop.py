"""The training loop: one plain loop for ``full``, ``prune`` (Li et al.) and ``cgap`` (seed → grow → prune → fine-tune).

Read :meth:`Trainer.run` top to bottom: epochs of steps; after each optimizer step the structural event the
:class:`~cgap.train.policy.CgapPolicy` says is due may fire (growth every ``grow_interval`` steps in the growth
phase, pruning every ``prune_interval`` steps in the pruning phase, or ``prune``'s one-shot pruning); at each
epoch end: validation, the policy's stop rules, history, and an atomic checkpoint + resume state.  The policy
decides *when*; this module does the work (saliency, surgery, optimizer, DDP, checkpoints, progress).  All
randomness is a function of (seed, epoch, step), so a resumed run repeats the uninterrupted one.  Under
torchrun the same loop runs on every rank through :class:`~cgap.train.distributed.Replicas` (DDP, sharded
data, synchronised decisions).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

from cgap.checkpoint import save_checkpoint
from cgap.data import Splits
from cgap.models import ZooModel, build, default_widths, scale_widths
from cgap.train.baselines import checkpoint_widths, match_uniform
from cgap.train.config import TrainConfig
from cgap.train.coupling import check_coupling
from cgap.train.distributed import Replicas, maps_digest, state_digest
from cgap.train.grow import grow_maps, saliency_counts
from cgap.train.history import History
from cgap.train.latency import LatencyModel, aligned_widths, latency_ranked_units
from cgap.train.metrics import TRAIN_MACS_FACTOR, cost_of, model_cost, target_unit_costs, unit_costs
from cgap.train.plots import plot_history
from cgap.train.policy import CgapPolicy, PolicyConfig
from cgap.train.progress import Progress, open_progress
from cgap.train.prune import l1_target_maps, normalised_scores, prune_limit, prune_maps
from cgap.train.resume import RunState, load_state, save_state
from cgap.train.saliency import SaliencyMeter, l1_saliency
from cgap.train.surgery import UnitMap, keep_map, remap_model, remap_optimizer
from cgap_ir.errors import CgapError

MODEL_FILE, HISTORY_FILE = "model.pt", "history.json"


class TrainingDiverged(CgapError):
    """The loss became NaN/Inf; the last good checkpoint is kept."""


@dataclass
class RunResult:
    """A finished run: the final model, its history, test accuracy (%) and the run folder."""

    model: ZooModel
    history: History
    test_acc: float
    out_dir: Path


def pick_device(name: str) -> torch.device:
    """Return the torch device for ``--device`` (auto = cuda when available)."""
    if name == "cuda" and not torch.cuda.is_available():
        raise CgapError("--device cuda: no CUDA device is available")
    return torch.device("cuda" if name == "cuda" or (name == "auto" and torch.cuda.is_available()) else "cpu")


def make_optimizer(model: ZooModel, cfg: TrainConfig) -> torch.optim.Optimizer:
    """Return the configured optimizer over ``model``'s parameters."""
    if cfg.optimizer == "adam":
        return torch.optim.Adam(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    return torch.optim.SGD(model.parameters(), lr=cfg.lr, momentum=cfg.momentum, nesterov=cfg.momentum > 0,
                           weight_decay=cfg.weight_decay)


def to_device(model: ZooModel, device: torch.device, channels_last: bool = True) -> ZooModel:
    """Return ``model`` on ``device``, in channels_last layout if asked (20–35% faster convs on CPU)."""
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    return model.to(device=device, memory_format=fmt)


def evaluate(model: ZooModel, data: tuple[torch.Tensor, torch.Tensor], device: torch.device,
             fmt: torch.memory_format = torch.channels_last) -> float:
    """Return the accuracy (%) of ``model`` on ``data``, leaving the model's mode unchanged."""
    return 100.0 * count_correct(model, data, device, fmt) / max(1, len(data[1]))


def count_correct(model: ZooModel, data: tuple[torch.Tensor, torch.Tensor], device: torch.device,
                  fmt: torch.memory_format = torch.channels_last) -> int:
    """Return how many samples of ``data`` ``model`` classifies correctly, leaving the model's mode unchanged."""
    was = model.training
    model.eval()
    correct = 0
    with torch.no_grad():
        for i in range(0, len(data[1]), 512):
            x = data[0][i:i + 512].to(device).contiguous(memory_format=fmt)
            correct += int((model(x).argmax(1).cpu() == data[1][i:i + 512]).sum())
    model.train(was)
    return correct


def saliency_stats(scores: dict[str, torch.Tensor]) -> dict[str, dict[str, float]]:
    """Return {group: {"min", "mean", "max"}} of per-unit saliency (plain floats)."""
    return {g: {"min": float(s.min()), "mean": float(s.mean()), "max": float(s.max())}
            for g, s in scores.items() if s.numel()}


class Trainer:
    """Holds one run's model, optimizer, saliency meter, policy, counters and history."""

    def __init__(self, cfg: TrainConfig, splits: Splits, resume: bool = False, progress: bool = True,
                 replicas: Replicas | None = None) -> None:
        self.cfg, self.splits = cfg.validate(), splits
        self.dist = replicas or Replicas()
        self.progress = progress and self.dist.is_main
        self.device = self.dist.device if self.dist.world > 1 else pick_device(cfg.device)
        self.fmt = torch.channels_last if cfg.channels_last else torch.contiguous_format
        self.out = Path(cfg.out)
        self.shape, self.classes = splits.input_shape, splits.num_classes
        self.full_widths = scale_widths(default_widths(cfg.arch), cfg.width_mult)
        self.sampler = self.dist.sampler(len(splits.train[1]), seed=cfg.seed * 1_000_003)
        per_rank = len(splits.train[1]) if self.sampler is None else len(self.sampler)
        self.per_epoch = max(1, per_rank // cfg.batch_size)
        self.total = cfg.epochs * self.per_epoch
        self.latency = LatencyModel.from_spec(cfg.arch, self.shape, self.classes, cfg.hw) if cfg.uses_hw() else None
        self.policy = CgapPolicy(PolicyConfig.from_train_config(cfg, self.total), self.full_widths, self.cost,
                                 latency=self.latency.cycles if self.latency else None)
        self.full_params, self.full_macs = self.policy.full_params, self.policy.full_macs
        self.meter = SaliencyMeter("l1" if cfg.method == "prune" else cfg.saliency)
        self.baseline: dict | None = None  # what scratch/uniform read to choose their widths
        self._meter_s = 0.0  # seconds spent in saliency accumulation since the last meter_seconds()
        if resume:
            self._load()
        else:
            self._fresh()
        check_coupling(self.model)
        self.macs = model_cost(self.model)[1]

    def cost(self, widths: dict[str, int]) -> tuple[int, int]:
        """Return (params, forward MACs per sample) of this run's architecture at ``widths``."""
        return cost_of(self.cfg.arch, self.shape, self.classes, widths)

    # ------------------------------------------------------------------------------------------ set-up
    def start_widths(self) -> tuple[dict[str, int], dict | None]:
        """Return the widths a fresh run starts at, and what a baseline read to choose them (or None).

        cgap: the seed; scratch: the widths of ``--arch-from``; uniform: the reference at the multiplier that
        matches ``--match``'s cost (:mod:`cgap.train.baselines`); full and prune: the full reference.
        """
        cfg = self.cfg
        if cfg.method == "cgap":
            return scale_widths(self.full_widths, cfg.seed_frac), None
        if cfg.method == "scratch":
            widths = checkpoint_widths(cfg.arch_from, cfg.arch, self.shape, self.classes, "--arch-from")
            return widths, {"arch_from": cfg.arch_from, "widths": widths}
        if cfg.method == "uniform":
            run = checkpoint_widths(cfg.match, cfg.arch, self.shape, self.classes, "--match")
            cost = self.cost_by(cfg.match_by)
            found = match_uniform(self.full_widths, cost(run), cost, cfg.match_by)
            return found.widths, {"match": cfg.match, "by": found.by, "width_mult": found.mult, "step": found.step,
                                  "cost": found.cost, "target": found.target, "matched_widths": run}
        return self.full_widths, None

    def cost_by(self, kind: str) -> Callable[[dict[str, int]], float]:
        """Return widths -> this run's cost of ``kind`` (latency: simulated cycles on --hw; macs; params)."""
        if kind == "latency":
            if self.latency is None:
                raise CgapError("a latency cost needs the engine model (--hw)")
            return self.latency.cycles
        pick = 0 if kind == "params" else 1
        return lambda widths: self.cost(widths)[pick]

    def _fresh(self) -> None:
        cfg = self.cfg
        widths, self.baseline = self.start_widths()
        torch.manual_seed(cfg.seed)
        model = build(cfg.arch, self.shape, self.classes, widths=widths)
        self.model = to_device(model, self.device, cfg.channels_last).train()
        self.net = self.dist.wrap(self.model)  # what training forwards run through (DDP under torchrun)
        self.opt = make_optimizer(self.model, cfg)
        self.run_state = RunState()
        self.history = History(info=self._info())
        params, macs = model_cost(self.model)
        val = self.evaluate(self.splits.val)
        self.history.add_epoch(epoch=0, params=params, macs=macs, train_loss=None, val_acc=val,
                               widths=dict(self.model.widths), phase="init", seconds=0.0, overhead_s=0.0,
                               train_macs=0)
        self._checkpoint()

    def _info(self) -> dict:
        schedule = self.policy.config
        info = {"config": self.cfg.to_dict(), "dataset": self.splits.describe(),
                "full_reference": {"widths": self.full_widths, "params": self.full_params, "macs": self.full_macs},
                "steps_per_epoch": self.per_epoch, "total_steps": self.total,
                "phases": {"grow_end_step": schedule.grow_end, "prune_end_step": schedule.prune_end,
                           "grow_interval": schedule.grow_interval, "prune_interval": schedule.prune_interval},
                "train_macs_factor": TRAIN_MACS_FACTOR}
        if self.latency is not None:
            info["hw"] = self.latency.hw.name
            info["full_reference"]["latency_cycles"] = self.policy.full_latency
        if self.baseline is not None:
            info["baseline"] = self.baseline
        if self.dist.world > 1:
            info["distributed"] = {**self.dist.describe(), "global_batch_size": self.cfg.batch_size * self.dist.world}
        return info

    def _load(self) -> None:
        r = self.dist.agree(lambda: load_state(self.out))  # every rank reads the same state file
        stored = r.config
        mine = self.cfg.to_dict()
        defaults = TrainConfig().to_dict()  # keys a state written before they existed lacks
        diff = [k for k in mine if k not in ("out", "device", "threads") and stored.get(k, defaults[k]) != mine[k]]
        if diff:
            k = diff[0]
            raise CgapError(f"--resume: --{k.replace('_', '-')} is {mine[k]!r} but the run in {self.out} used "
                            f"{stored.get(k)!r} (resume with the original options)")
        ran_on = r.history.get("distributed", {}).get("world_size", 1)
        if ran_on != self.dist.world:
            raise CgapError(f"--resume: the run in {self.out} was trained by {ran_on} process(es), this is "
                            f"{self.dist.world} (resume with the same torchrun --nnodes × --nproc_per_node)")
        self.model = to_device(r.model, self.device, self.cfg.channels_last).train()
        self.net = self.dist.wrap(self.model)
        self.opt = make_optimizer(self.model, self.cfg)
        self.opt.load_state_dict(r.optimizer_state)
        self.meter.sums = {g: t.to(self.device) for g, t in r.saliency.get("sums", {}).items()}
        self.meter.count = int(r.saliency.get("count", 0))
        self.run_state, self.policy.state = r.run, r.policy
        self.history = History.from_dict(r.history)

    # ------------------------------------------------------------------------------------------ the loop
    def run(self) -> RunResult:
        """Train the remaining epochs and return the final result (files written under ``cfg.out``)."""
        progress = open_progress(self.total, self.run_state.step, self.progress)
        try:
            while self.run_state.epoch < self.cfg.epochs:
                t0 = time.perf_counter()
                loss, overhead = self.train_epoch(progress)
                self.end_epoch(loss, time.perf_counter() - t0, overhead)
                progress.end_epoch(self.epoch_line())
        finally:
            progress.close()
        return self.finish()

    def train_epoch(self, progress: Progress) -> tuple[float, float]:
        """Run one epoch of steps; return (mean train loss, seconds spent on saliency and restructuring)."""
        cfg, (x, y) = self.cfg, self.splits.train
        if self.sampler is not None:  # this rank's shard of the epoch's permutation
            self.sampler.set_epoch(self.run_state.epoch)
            perm = torch.tensor(list(self.sampler), dtype=torch.long)
        else:
            gen = torch.Generator().manual_seed(cfg.seed * 1_000_003 + self.run_state.epoch)
            perm = torch.randperm(len(y), generator=gen)
        total_loss, overhead = 0.0, 0.0
        for b in range(self.per_epoch):
            idx = perm[b * cfg.batch_size:(b + 1) * cfg.batch_size]
            xb = x[idx].to(self.device).contiguous(memory_format=self.fmt)
            loss = self.train_step(xb, y[idx].to(self.device))
            total_loss += loss
            t0 = time.perf_counter()
            self.maybe_restructure()
            overhead += time.perf_counter() - t0
            phase = self.policy.phase(self.run_state.step)
            progress.step(f"epoch {self.run_state.epoch + 1}/{cfg.epochs} {phase}", loss,
                          self.history.epochs[-1]["val_acc"], self.model.count_params())
        return total_loss / self.per_epoch, overhead + self.meter_seconds()

    def train_step(self, xb: torch.Tensor, yb: torch.Tensor) -> float:
        """Run one optimizer step (accumulating saliency when a decision is near); return the loss."""
        counters = self.run_state
        self.dist.fault_point(counters.step + 1)
        for g in self.opt.param_groups:
            g["lr"] = self.lr_at(counters.step)
        loss = F.cross_entropy(self.net(xb), yb)
        value = self.dist.mean(loss.detach())  # the global batch's loss under DDP (same on every rank)
        if not math.isfinite(value):
            raise TrainingDiverged(
                f"loss became {value} at epoch {counters.epoch + 1}, step {counters.step + 1} (try a lower --lr); "
                f"stopped, last good checkpoint: {self.out / MODEL_FILE} (epoch {counters.epoch})")
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        counters.step += 1
        if self.policy.in_window(counters.step):
            t0 = time.perf_counter()
            self.meter.update(self.model)
            self._meter_s += time.perf_counter() - t0
        self.opt.step()
        counters.train_macs += len(yb) * self.dist.world * TRAIN_MACS_FACTOR * self.macs
        return value

    def meter_seconds(self) -> float:
        """Return and reset the seconds spent accumulating saliency."""
        s, self._meter_s = self._meter_s, 0.0
        return s

    def lr_at(self, step: int) -> float:
        """Return the learning rate for ``step`` (cosine to zero over the whole run, or constant)."""
        if self.cfg.schedule == "constant":
            return self.cfg.lr
        return 0.5 * self.cfg.lr * (1.0 + math.cos(math.pi * step / self.total))

    # ------------------------------------------------------------------------------------------ structure
    def maybe_restructure(self) -> None:
        """Fire the structural event the policy says is due at the current step, if any."""
        kind = self.policy.event_due(self.run_state.step)
        if kind is not None:
            {"grow": self.grow, "prune": self.prune_step, "oneshot": self.prune_oneshot}[kind]()

    def grow(self) -> None:
        """Grow the groups below their caps beside their most salient units (``--grow-alloc`` says how many
        units each gets); with a saliency allocation, first stop growth on a validation plateau."""
        cfg, widths = self.cfg, self.model.widths
        split = cfg.grow_mode == "split"
        scores = self.scores() if split or cfg.grow_alloc != "uniform" else {}
        counts = None
        if cfg.grow_alloc != "uniform":
            if not self.policy.grow_checkpoint(self.evaluate(self.splits.val), self.run_state.epoch,
                                               self.run_state.step):
                return
            unit = {g: self.latency.grow_unit_cycles(widths, g) for g in widths} \
                if cfg.grow_alloc == "saliency-cost" else None
            counts = saliency_counts(widths, scores, cfg.grow_rate, self.policy.caps, unit)
        maps = grow_maps(widths, scores, cfg.grow_rate, self.policy.caps, cfg.grow_mode, counts)
        if maps:
            self.apply(maps, "grow", noise=self.cfg.grow_noise if split else 0.0, scores=scores)
        self.policy.grown(self.model.widths, self.run_state.epoch, self.run_state.step)

    def prune_step(self) -> None:
        """Remove the least salient units (at most ``prune_rate`` of them) until the target is met."""
        epoch, step = self.run_state.epoch, self.run_state.step
        done = self.policy.pruning_starts(step)
        if self.policy.needs_more(self.model.widths, done):
            scores = self.scores()
            cost = self.unit_costs()
            maps = prune_maps(scores, self.model.widths, self.cfg.prune_rate, self.policy.min_widths,
                              self.cfg.prune_scope, lambda widths: self.policy.needs_more(widths, done), cost,
                              ranked=self.latency_ranking(scores))
            if not maps:
                self.policy.stop("pruning", "minimum widths reached", epoch, step)
                self.maybe_align()
                return
            self.apply(maps, "prune", scores=scores)
        self.policy.pruned(self.model.widths, epoch, step)
        self.maybe_align()

    def latency_ranking(self, scores: dict[str, torch.Tensor]) -> list[tuple[str, int]] | None:
        """Return the units in ``--prune-cost latency`` order (saliency per simulated cycle saved), or None when
        the run ranks otherwise."""
        if self.cfg.prune_cost != "latency" or self.cfg.prune_scope != "global" or self.latency is None:
            return None
        widths = self.model.widths
        return latency_ranked_units(normalised_scores(scores), widths, self.policy.min_widths, self.latency.cycles,
                                    self.latency.quantum, prune_limit(widths, self.cfg.prune_rate))

    def maybe_align(self) -> None:
        """Once pruning has stopped, snap widths down to multiples of Pof (``--align pof``): as many groups as
        keep the val accuracy within the budget, those saving the most cycles first."""
        state = self.policy.state
        if self.cfg.align != "pof" or state.pruning or state.aligned or self.latency is None:
            return
        state.aligned = True
        widths = self.model.widths
        snapped = aligned_widths(widths, self.latency.quantum, self.policy.min_widths)
        base = self.latency.cycles(widths)
        groups = sorted((g for g in widths if snapped[g] < widths[g]),
                        key=lambda g: (-(base - self.latency.cycles({**widths, g: snapped[g]})), g))
        if not groups:
            return
        scores = self.dist.average_scores(self.meter.scores(self.model) if self.meter.count else l1_saliency(self.model))
        floor = self.evaluate(self.splits.val) - self.cfg.align_budget
        if self.cfg.max_acc_drop is not None and state.pre_prune_best is not None:
            floor = max(floor, state.pre_prune_best - self.cfg.max_acc_drop)

        def maps_for(n: int) -> dict[str, UnitMap]:
            return {g: keep_map(torch.argsort(scores[g], descending=True, stable=True)[:snapped[g]])
                    for g in groups[:n]}

        lo, hi = 0, len(groups)  # the largest prefix of groups whose snap keeps val accuracy >= floor
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if self.trial_accuracy(maps_for(mid)) >= floor:
                lo = mid
            else:
                hi = mid - 1
        if lo:
            self.apply(maps_for(lo), "align", scores=scores)

    def trial_accuracy(self, maps: dict[str, UnitMap]) -> float:
        """Return the val accuracy (%) the model would have through ``maps`` (the model itself is unchanged)."""
        trial = to_device(remap_model(self.model, maps), self.device, self.cfg.channels_last)
        if self.dist.world == 1:
            return evaluate(trial, self.splits.val, self.device, self.fmt)
        self.dist.sync_buffers(trial)
        shard = self.dist.shard(self.splits.val)
        correct, n = self.dist.sum_counts(count_correct(trial, shard, self.device, self.fmt), len(shard[1]))
        return 100.0 * correct / max(1, n)

    def unit_costs(self) -> dict[str, float] | None:
        """Return the per-group unit costs the global pruning ranking divides by (``--prune-cost``), or None."""
        kind, widths = self.cfg.prune_cost, self.model.widths
        if kind in ("none", "latency"):  # latency ranks whole chunks: see latency_ranking
            return None
        if kind == "target":
            return target_unit_costs(self.cfg.arch, self.shape, self.classes, widths, self.policy.target_limits())
        return unit_costs(self.cfg.arch, self.shape, self.classes, widths, kind)

    def prune_oneshot(self) -> None:
        """Li et al. baseline: keep the same fraction of highest-L1 filters in every group, meeting the target."""
        scores = self.dist.average_scores(l1_saliency(self.model))
        maps = l1_target_maps(scores, self.model.widths, self.policy.min_widths, self.policy.needs_more)
        if maps:
            self.apply(maps, "prune", scores=scores)
        self.policy.stop("pruning", "one-shot L1 pruning done", self.run_state.epoch, self.run_state.step)

    def scores(self) -> dict[str, torch.Tensor]:
        """Return the window's per-unit saliency, averaged over the ranks under DDP (so decisions agree)."""
        return self.dist.average_scores(self.meter.scores(self.model))

    def apply(self, maps: dict[str, UnitMap], kind: str, noise: float = 0.0,
              scores: dict[str, torch.Tensor] | None = None) -> None:
        """Rebuild model and optimizer through ``maps`` and log the event (with per-group saliency stats)."""
        t0 = time.perf_counter()
        step = self.run_state.step
        if self.dist.world > 1:
            self.dist.check_same(maps_digest(maps), f"the {kind} decision at step {step}")
        old, old_opt = self.model, self.opt
        params0, macs0 = model_cost(old)
        new = remap_model(old, maps, noise=noise, seed=self.cfg.seed * 1_000_003 + step)
        self.model = to_device(new, self.device, self.cfg.channels_last)
        self.net = self.dist.wrap(self.model)  # a fresh DDP wrapper around the rebuilt module
        self.opt = make_optimizer(self.model, self.cfg)
        remap_optimizer(old, old_opt, self.model, self.opt, maps)
        self.meter.reset()
        params1, self.macs = model_cost(self.model)
        self.history.add_event(kind=kind, epoch=self.run_state.epoch + 1, step=step, params_before=params0,
                               params_after=params1, macs_before=macs0, macs_after=self.macs,
                               widths=dict(self.model.widths), seconds=round(time.perf_counter() - t0, 4),
                               saliency=saliency_stats(scores or {}))

    # ------------------------------------------------------------------------------------------ epoch end
    def end_epoch(self, loss: float, seconds: float, overhead: float) -> None:
        """Validate, apply the policy's stop rules, log the epoch and checkpoint."""
        counters = self.run_state
        val = self.evaluate(self.splits.val)
        if self.dist.world > 1:
            self.dist.check_same(state_digest(self.model), f"the model after epoch {counters.epoch + 1}")
        counters.epoch += 1
        self.policy.end_epoch(counters.epoch, counters.step, val)
        self.maybe_align()
        counters.train_seconds += seconds
        counters.overhead_seconds += overhead
        params, macs = model_cost(self.model)
        self.history.add_epoch(epoch=counters.epoch, params=params, macs=macs, train_loss=round(loss, 5),
                               val_acc=val, widths=dict(self.model.widths), phase=self.policy.phase(counters.step),
                               lr=self.lr_at(counters.step), seconds=round(seconds, 3),
                               overhead_s=round(overhead, 4), train_macs=counters.train_macs)
        self._checkpoint()

    def epoch_line(self) -> str:
        """Return the last epoch in one line (what progress shows on a file or pipe)."""
        last = self.history.epochs[-1]
        return (f"epoch {last['epoch']}/{self.cfg.epochs} {last['phase']}: loss {last['train_loss']:.3f}, "
                f"val {last['val_acc']:.1f}%, params {last['params']}, step {self.run_state.step}/{self.total}, "
                f"{last['seconds']:.1f} s")

    def evaluate(self, data: tuple[torch.Tensor, torch.Tensor]) -> float:
        """Return the accuracy (%) on ``data``; under DDP each rank scores a shard and the counts are summed."""
        if self.dist.world == 1:
            return evaluate(self.model, data, self.device, self.fmt)
        self.dist.sync_buffers(self.model)  # rank 0's BatchNorm statistics, so every rank scores one model
        shard = self.dist.shard(data)
        correct, n = self.dist.sum_counts(count_correct(self.model, shard, self.device, self.fmt), len(shard[1]))
        return 100.0 * correct / max(1, n)

    def _meta(self, **more: object) -> dict:
        return {"method": self.cfg.method, "dataset": self.splits.describe(), "config": self.cfg.to_dict(),
                "history": self.history.summary(), **more}

    def _checkpoint(self) -> None:
        """Write model.pt, history.json and the resume state, each atomically (rank 0 only under DDP)."""
        if not self.dist.is_main:
            return
        counters, decisions = self.run_state, self.policy.state
        self.history.info["run"] = {"epochs_done": counters.epoch, "steps_done": counters.step,
                                    "train_macs": counters.train_macs, "stop_reasons": dict(decisions.stop_reasons)}
        save_checkpoint(self.out / MODEL_FILE, self.model, meta=self._meta())
        self.history.write(self.out / HISTORY_FILE)
        saliency = {"sums": {g: t.cpu() for g, t in self.meter.sums.items()}, "count": self.meter.count}
        save_state(self.out, self.model, self.opt, saliency, counters, decisions, self.history.to_dict(),
                   self.cfg.to_dict())

    def finish(self) -> RunResult:
        """Evaluate on the test split, write the final checkpoint, history and plots; return the result."""
        counters = self.run_state
        test = self.evaluate(self.splits.test)
        params, macs = model_cost(self.model)
        epoch_s = counters.train_seconds / max(1, counters.epoch)
        self.history.info["final"] = {
            "test_acc": test, "val_acc": self.history.epochs[-1]["val_acc"], "params": params, "macs": macs,
            "params_frac": params / self.full_params, "macs_frac": macs / self.full_macs,
            "train_macs": counters.train_macs, "train_seconds": round(counters.train_seconds, 2),
            "epoch_seconds": round(epoch_s, 3),
            "overhead_pct": round(100 * counters.overhead_seconds / max(1e-9, counters.train_seconds), 2)}
        if self.latency is not None:
            cycles = self.latency.cycles(self.model.widths)
            self.history.info["final"].update(latency_cycles=cycles, latency_frac=cycles / self.policy.full_latency,
                                              latency_simulations=self.latency.simulations)
        if self.dist.world > 1:  # proof for the record: every rank ends with these exact weights
            self.history.info["distributed"]["final_state_sha256"] = self.dist.check_same(
                state_digest(self.model), "the final model")
        self._checkpoint()
        if self.dist.is_main:
            plot_history(self.history, self.out)
        self.dist.barrier()  # no rank reports success before rank 0's files are written
        return RunResult(self.model.eval(), self.history, test, self.out)


def train(cfg: TrainConfig, splits: Splits | None = None, resume: bool = False, progress: bool = True,
          replicas: Replicas | None = None) -> RunResult:
    """Run (or resume) a training run described by ``cfg``; return its result.

    ``replicas`` (from :func:`cgap.train.distributed.from_env`) runs it as one rank of a DDP job.
    """
    from cgap.data import load_dataset

    torch.set_num_threads(cfg.threads)
    if splits is None:
        splits = load_dataset(cfg.dataset, cfg.data_dir, subset=cfg.subset, seed=cfg.seed)
    return Trainer(cfg, splits, resume=resume, progress=progress, replicas=replicas).run()
