"""The training loop: one plain loop for ``full``, ``prune`` (Li et al.) and ``cgap`` (seed → grow → prune → fine-tune).

Read :meth:`Trainer.run` top to bottom: epochs of steps; after each optimizer step a structural event
may fire (growth every ``grow_interval`` steps in the growth phase, pruning every ``prune_interval``
steps in the pruning phase, or ``prune``'s one-shot pruning); at each epoch end: validation, stop
rules, history, and an atomic checkpoint + resume state.  All randomness is a function of
(seed, epoch, step), so a resumed run repeats the uninterrupted one.  Under torchrun the same loop runs on
every rank through :class:`~cgap.train.distributed.Replicas` (DDP, sharded data, synchronised decisions).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from tqdm import tqdm

from cgap.checkpoint import save_checkpoint
from cgap.data import Splits
from cgap.errors import CgapError
from cgap.models import ZooModel, build, default_widths, scale_widths
from cgap.train.config import TrainConfig
from cgap.train.coupling import check_coupling
from cgap.train.distributed import Replicas, maps_digest, state_digest
from cgap.train.grow import grow_maps
from cgap.train.history import History
from cgap.train.metrics import TRAIN_MACS_FACTOR, cost_of, model_cost, target_unit_costs, unit_costs
from cgap.train.plots import plot_history
from cgap.train.prune import l1_target_maps, prune_maps
from cgap.train.resume import RunState, load_state, save_state
from cgap.train.saliency import SaliencyMeter, l1_saliency
from cgap.train.surgery import UnitMap, remap_model, remap_optimizer

MODEL_FILE, HISTORY_FILE = "model.pt", "history.json"
MIN_GAIN = 0.1  # val-accuracy points that count as progress for the growth plateau rule


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
    """Holds one run's model, optimizer, saliency meter, counters and history."""

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
        self.full_params, self.full_macs = cost_of(cfg.arch, self.shape, self.classes, self.full_widths)
        self.caps = {g: max(1, round(w * cfg.width_cap)) for g, w in self.full_widths.items()}
        self.min_w = {g: min(cfg.min_width, w) for g, w in self.full_widths.items()}
        self.sampler = self.dist.sampler(len(splits.train[1]), seed=cfg.seed * 1_000_003)
        per_rank = len(splits.train[1]) if self.sampler is None else len(self.sampler)
        self.per_epoch = max(1, per_rank // cfg.batch_size)
        self.total = cfg.epochs * self.per_epoch
        self.grow_end, self.prune_end = cfg.phase_steps(self.total)
        self.g_int = cfg.grow_interval or max(1, self.grow_end // 8)
        self.p_int = cfg.prune_interval or max(1, (self.prune_end - self.grow_end) // 16)
        self.meter = SaliencyMeter("l1" if cfg.method == "prune" else cfg.saliency)
        self._meter_s = 0.0  # seconds spent in saliency accumulation since the last meter_seconds()
        if resume:
            self._load()
        else:
            self._fresh()
        check_coupling(self.model)
        self.macs = model_cost(self.model)[1]

    # ------------------------------------------------------------------------------------------ set-up
    def _fresh(self) -> None:
        cfg = self.cfg
        widths = self.full_widths if cfg.method != "cgap" else scale_widths(self.full_widths, cfg.seed_frac)
        torch.manual_seed(cfg.seed)
        model = build(cfg.arch, self.shape, self.classes, widths=widths)
        self.model = to_device(model, self.device, cfg.channels_last).train()
        self.net = self.dist.wrap(self.model)  # what training forwards run through (DDP under torchrun)
        self.opt = make_optimizer(self.model, cfg)
        self.st = RunState()
        self.hist = History(info=self._info())
        params, macs = model_cost(self.model)
        val = self.evaluate(self.splits.val)
        self.hist.add_epoch(epoch=0, params=params, macs=macs, train_loss=None, val_acc=val,
                            widths=dict(self.model.widths), phase="init", seconds=0.0, overhead_s=0.0, train_macs=0)
        self._checkpoint()

    def _info(self) -> dict:
        info = {"config": self.cfg.to_dict(), "dataset": self.splits.describe(),
                "full_reference": {"widths": self.full_widths, "params": self.full_params, "macs": self.full_macs},
                "steps_per_epoch": self.per_epoch, "total_steps": self.total,
                "phases": {"grow_end_step": self.grow_end, "prune_end_step": self.prune_end,
                           "grow_interval": self.g_int, "prune_interval": self.p_int},
                "train_macs_factor": TRAIN_MACS_FACTOR}
        if self.dist.world > 1:
            info["distributed"] = {**self.dist.describe(), "global_batch_size": self.cfg.batch_size * self.dist.world}
        return info

    def _load(self) -> None:
        r = self.dist.agree(lambda: load_state(self.out))  # every rank reads the same state file
        stored = r.config
        mine = self.cfg.to_dict()
        diff = [k for k in mine if k not in ("out", "device", "threads") and stored.get(k) != mine[k]]
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
        self.st, self.hist = r.run, History.from_dict(r.history)

    # ------------------------------------------------------------------------------------------ the loop
    def run(self) -> RunResult:
        """Train the remaining epochs and return the final result (files written under ``cfg.out``)."""
        bar = tqdm(total=self.total, initial=self.st.step, disable=not self.progress, unit="step",
                   dynamic_ncols=True)
        try:
            while self.st.epoch < self.cfg.epochs:
                t0 = time.perf_counter()
                loss, overhead = self.train_epoch(bar)
                self.end_epoch(loss, time.perf_counter() - t0, overhead)
        finally:
            bar.close()
        return self.finish()

    def train_epoch(self, bar: tqdm) -> tuple[float, float]:
        """Run one epoch of steps; return (mean train loss, seconds spent on saliency and restructuring)."""
        cfg, (x, y) = self.cfg, self.splits.train
        if self.sampler is not None:  # this rank's shard of the epoch's permutation
            self.sampler.set_epoch(self.st.epoch)
            perm = torch.tensor(list(self.sampler), dtype=torch.long)
        else:
            gen = torch.Generator().manual_seed(cfg.seed * 1_000_003 + self.st.epoch)
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
            bar.set_description(f"epoch {self.st.epoch + 1}/{cfg.epochs} {self.phase()}")
            bar.set_postfix(loss=f"{loss:.3f}", val=f"{self.hist.epochs[-1]['val_acc']:.1f}",
                            params=self.model.count_params(), refresh=False)
            bar.update(1)
        return total_loss / self.per_epoch, overhead + self.meter_seconds()

    def train_step(self, xb: torch.Tensor, yb: torch.Tensor) -> float:
        """Run one optimizer step (accumulating saliency when a decision is near); return the loss."""
        self.dist.fault_point(self.st.step + 1)
        for g in self.opt.param_groups:
            g["lr"] = self.lr_at(self.st.step)
        loss = F.cross_entropy(self.net(xb), yb)
        value = self.dist.mean(loss.detach())  # the global batch's loss under DDP (same on every rank)
        if not math.isfinite(value):
            raise TrainingDiverged(
                f"loss became {value} at epoch {self.st.epoch + 1}, step {self.st.step + 1} (try a lower --lr); "
                f"stopped, last good checkpoint: {self.out / MODEL_FILE} (epoch {self.st.epoch})")
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.st.step += 1
        if self.in_window(self.st.step):
            t0 = time.perf_counter()
            self.meter.update(self.model)
            self._meter_s += time.perf_counter() - t0
        self.opt.step()
        self.st.train_macs += len(yb) * self.dist.world * TRAIN_MACS_FACTOR * self.macs
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

    def phase(self) -> str:
        """Return the current phase name."""
        s, m = self.st.step, self.cfg.method
        if m == "cgap" and s < self.grow_end:
            return "grow"
        if (m == "cgap" and s < self.prune_end) or (m == "prune" and s < self.prune_end):
            return "prune" if m == "cgap" else "train"
        return "finetune" if m != "full" else "train"

    # ------------------------------------------------------------------------------------------ structure
    def next_event(self, s: int) -> tuple[int, str] | None:
        """Return (step, kind) of the first structural event at or after step count ``s``, or None."""
        m = self.cfg.method
        if m == "prune":
            return (self.prune_end, "oneshot") if s <= self.prune_end else None
        if m != "cgap":
            return None
        if self.st.growing and s <= self.grow_end:
            e = max(1, math.ceil(s / self.g_int)) * self.g_int
            if e <= self.grow_end:
                return e, "grow"
        if self.st.pruning and s <= self.prune_end:
            e = self.grow_end + max(1, math.ceil((s - self.grow_end) / self.p_int)) * self.p_int
            if e <= self.prune_end:
                return e, "prune"
        return None

    def in_window(self, s: int) -> bool:
        """Return whether step count ``s`` lies in the saliency window before the next event."""
        nxt = self.next_event(s)
        return nxt is not None and nxt[0] - s < self.cfg.saliency_window

    def maybe_restructure(self) -> None:
        """Fire the structural event due at the current step, if any."""
        nxt = self.next_event(self.st.step)
        if nxt is None or nxt[0] != self.st.step:
            return
        {"grow": self.grow, "prune": self.prune_step, "oneshot": self.prune_oneshot}[nxt[1]]()

    def needs_more(self, widths: dict[str, int], done: float = 1.0) -> bool:
        """Return whether a model at ``widths`` is still above a pruning target (always, when none is set).

        ``done`` < 1 asks about the intermediate target of a gradual schedule: each target eased from the full
        reference, ``t + (1 - t)(1 - done)^3`` (Zhu & Gupta 2017's cubic schedule), reaching ``t`` at 1.
        """
        tp, tm = self.cfg.target_params, self.cfg.target_macs
        if tp is None and tm is None:
            return True
        ease = (1.0 - min(1.0, max(0.0, done))) ** 3
        params, macs = cost_of(self.cfg.arch, self.shape, self.classes, widths)
        return ((tp is not None and params > (tp + (1 - tp) * ease) * self.full_params)
                or (tm is not None and macs > (tm + (1 - tm) * ease) * self.full_macs))

    def prune_progress(self) -> float:
        """Return the fraction of the pruning phase's steps done (1 for the greedy schedule: full target now)."""
        if self.cfg.prune_schedule == "greedy":
            return 1.0
        events = max(1, (self.prune_end - self.grow_end) // self.p_int)
        return min(1.0, (self.st.step - self.grow_end) / (events * self.p_int))

    def grow(self) -> None:
        """Grow every group below its cap beside its most salient units."""
        split = self.cfg.grow_mode == "split"
        scores = self.scores() if split else {}
        maps = grow_maps(self.model.widths, scores, self.cfg.grow_rate, self.caps, self.cfg.grow_mode)
        if maps:
            self.apply(maps, "grow", noise=self.cfg.grow_noise if split else 0.0, scores=scores)
        if all(self.model.widths[g] >= c for g, c in self.caps.items()):
            self.stop("growing", "width cap reached")

    def prune_step(self) -> None:
        """Remove the least salient units (at most ``prune_rate`` of them) until the target is met."""
        if self.st.pre_prune_best is None:
            self.st.pre_prune_best = self.st.best_val
        done = self.prune_progress()
        if self.needs_more(self.model.widths, done):
            scores = self.scores()
            cost = self.unit_costs()
            maps = prune_maps(scores, self.model.widths, self.cfg.prune_rate, self.min_w, self.cfg.prune_scope,
                              lambda widths: self.needs_more(widths, done), cost)
            if not maps:
                self.stop("pruning", "minimum widths reached")
                return
            self.apply(maps, "prune", scores=scores)
        if not self.needs_more(self.model.widths):
            self.stop("pruning", "target met")

    def unit_costs(self) -> dict[str, float] | None:
        """Return the per-group unit costs the global pruning ranking divides by (``--prune-cost``), or None."""
        kind, widths = self.cfg.prune_cost, self.model.widths
        if kind == "none":
            return None
        if kind == "target":
            tp, tm = self.cfg.target_params, self.cfg.target_macs
            limits = (None if tp is None else tp * self.full_params, None if tm is None else tm * self.full_macs)
            return target_unit_costs(self.cfg.arch, self.shape, self.classes, widths, limits)
        return unit_costs(self.cfg.arch, self.shape, self.classes, widths, kind)

    def prune_oneshot(self) -> None:
        """Li et al. baseline: keep the same fraction of highest-L1 filters in every group, meeting the target."""
        scores = self.dist.average_scores(l1_saliency(self.model))
        maps = l1_target_maps(scores, self.model.widths, self.min_w, self.needs_more)
        if maps:
            self.apply(maps, "prune", scores=scores)
        self.stop("pruning", "one-shot L1 pruning done")

    def scores(self) -> dict[str, torch.Tensor]:
        """Return the window's per-unit saliency, averaged over the ranks under DDP (so decisions agree)."""
        return self.dist.average_scores(self.meter.scores(self.model))

    def stop(self, flag: str, reason: str) -> None:
        """Clear ``growing``/``pruning`` and record why."""
        if getattr(self.st, flag):
            setattr(self.st, flag, False)
            self.st.stop_reasons[flag] = f"{reason} (epoch {self.st.epoch + 1}, step {self.st.step})"

    def apply(self, maps: dict[str, UnitMap], kind: str, noise: float = 0.0,
              scores: dict[str, torch.Tensor] | None = None) -> None:
        """Rebuild model and optimizer through ``maps`` and log the event (with per-group saliency stats)."""
        t0 = time.perf_counter()
        if self.dist.world > 1:
            self.dist.check_same(maps_digest(maps), f"the {kind} decision at step {self.st.step}")
        old, old_opt = self.model, self.opt
        params0, macs0 = model_cost(old)
        new = remap_model(old, maps, noise=noise, seed=self.cfg.seed * 1_000_003 + self.st.step)
        self.model = to_device(new, self.device, self.cfg.channels_last)
        self.net = self.dist.wrap(self.model)  # a fresh DDP wrapper around the rebuilt module
        self.opt = make_optimizer(self.model, self.cfg)
        remap_optimizer(old, old_opt, self.model, self.opt, maps)
        self.meter.reset()
        params1, self.macs = model_cost(self.model)
        self.hist.add_event(kind=kind, epoch=self.st.epoch + 1, step=self.st.step, params_before=params0,
                            params_after=params1, macs_before=macs0, macs_after=self.macs,
                            widths=dict(self.model.widths), seconds=round(time.perf_counter() - t0, 4),
                            saliency=saliency_stats(scores or {}))

    # ------------------------------------------------------------------------------------------ epoch end
    def end_epoch(self, loss: float, seconds: float, overhead: float) -> None:
        """Validate, apply the stop rules, log the epoch and checkpoint."""
        st, cfg = self.st, self.cfg
        val = self.evaluate(self.splits.val)
        if self.dist.world > 1:
            self.dist.check_same(state_digest(self.model), f"the model after epoch {st.epoch + 1}")
        st.epoch += 1
        if val > st.best_val + MIN_GAIN:
            st.best_val, st.stale_epochs = val, 0
        else:
            st.stale_epochs += 1
        if cfg.method == "cgap" and st.step < self.grow_end and st.stale_epochs >= cfg.grow_patience:
            self.stop("growing", f"val accuracy plateau ({cfg.grow_patience} epochs)")
        if cfg.method == "cgap" and st.step >= self.grow_end:
            self.stop("growing", "growth phase over")
        if cfg.method == "cgap" and st.step >= self.prune_end:
            self.stop("pruning", "pruning phase over before the target was met")
        drop = None if st.pre_prune_best is None else st.pre_prune_best - val
        if cfg.max_acc_drop is not None and drop is not None and drop > cfg.max_acc_drop:
            self.stop("pruning", f"val accuracy {drop:.2f} pt below the pre-pruning best")
        st.train_seconds += seconds
        st.overhead_seconds += overhead
        params, macs = model_cost(self.model)
        self.hist.add_epoch(epoch=st.epoch, params=params, macs=macs, train_loss=round(loss, 5), val_acc=val,
                            widths=dict(self.model.widths), phase=self.phase(), lr=self.lr_at(st.step),
                            seconds=round(seconds, 3), overhead_s=round(overhead, 4), train_macs=st.train_macs)
        self._checkpoint()

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
                "history": self.hist.summary(), **more}

    def _checkpoint(self) -> None:
        """Write model.pt, history.json and the resume state, each atomically (rank 0 only under DDP)."""
        if not self.dist.is_main:
            return
        self.hist.info["run"] = {"epochs_done": self.st.epoch, "steps_done": self.st.step,
                                 "train_macs": self.st.train_macs, "stop_reasons": dict(self.st.stop_reasons)}
        save_checkpoint(self.out / MODEL_FILE, self.model, meta=self._meta())
        self.hist.write(self.out / HISTORY_FILE)
        sal = {"sums": {g: t.cpu() for g, t in self.meter.sums.items()}, "count": self.meter.count}
        save_state(self.out, self.model, self.opt, sal, self.st, self.hist.to_dict(), self.cfg.to_dict())

    def finish(self) -> RunResult:
        """Evaluate on the test split, write the final checkpoint, history and plots; return the result."""
        test = self.evaluate(self.splits.test)
        params, macs = model_cost(self.model)
        epoch_s = self.st.train_seconds / max(1, self.st.epoch)
        self.hist.info["final"] = {
            "test_acc": test, "val_acc": self.hist.epochs[-1]["val_acc"], "params": params, "macs": macs,
            "params_frac": params / self.full_params, "macs_frac": macs / self.full_macs,
            "train_macs": self.st.train_macs, "train_seconds": round(self.st.train_seconds, 2),
            "epoch_seconds": round(epoch_s, 3),
            "overhead_pct": round(100 * self.st.overhead_seconds / max(1e-9, self.st.train_seconds), 2)}
        if self.dist.world > 1:  # proof for the record: every rank ends with these exact weights
            self.hist.info["distributed"]["final_state_sha256"] = self.dist.check_same(
                state_digest(self.model), "the final model")
        self._checkpoint()
        if self.dist.is_main:
            plot_history(self.hist, self.out)
        self.dist.barrier()  # no rank reports success before rank 0's files are written
        return RunResult(self.model.eval(), self.hist, test, self.out)


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
