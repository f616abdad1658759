"""The resume state file ``RUN_DIR/state.pt``: model, optimizer, RNG, saliency window, run counters, history.

Written atomically at the end of every epoch through :mod:`cgap.checkpoint` (so it loads with
``weights_only=True``); a run killed at any moment restarts from the last completed epoch.  Its ``run`` entry
is one flat dict: the loop's counters (:class:`RunState`) next to the policy's flags and validation record
(:class:`~cgap.train.policy.PolicyState`), the same keys a state file has always had.
"""

from __future__ import annotations

import random
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import torch

from cgap.checkpoint import load_checkpoint, save_checkpoint
from cgap.models import ZooModel
from cgap.train.policy import PolicyState
from cgap_ir.errors import CgapError

STATE_FILE = "state.pt"


@dataclass
class RunState:
    """The training loop's counters (plain data)."""

    epoch: int = 0                 # epochs completed
    step: int = 0                  # optimizer steps completed
    train_macs: int = 0            # Σ over steps of batch × 3 × forward MACs
    train_seconds: float = 0.0
    overhead_seconds: float = 0.0  # saliency accumulation + structural changes


@dataclass
class Resumed:
    """What a state file gives back."""

    model: ZooModel
    optimizer_state: dict[str, Any]
    saliency: dict[str, Any]
    run: RunState
    policy: PolicyState
    history: dict[str, Any]
    config: dict[str, Any]


def run_entry(run: RunState, policy: PolicyState) -> dict[str, Any]:
    """Return the state file's flat ``run`` entry: the loop's counters and the policy's state."""
    return {**asdict(run), **policy.to_dict()}


def split_run_entry(entry: dict[str, Any], path: Path) -> tuple[RunState, PolicyState]:
    """Return the loop's counters and the policy's state from a ``run`` entry; raise CgapError on unknown keys."""
    counters = {f.name for f in fields(RunState)}
    decisions = {f.name for f in fields(PolicyState)}
    unknown = sorted(set(entry) - counters - decisions)
    if unknown:
        raise CgapError(f"--resume: {path} has unknown run state keys {unknown} (written by another cgap version?)")
    return (RunState(**{k: v for k, v in entry.items() if k in counters}),
            PolicyState.from_dict({k: v for k, v in entry.items() if k in decisions}))


def save_state(out_dir: Path, model: ZooModel, opt: torch.optim.Optimizer, saliency: dict[str, Any],
               run: RunState, policy: PolicyState, history: dict[str, Any], config: dict[str, Any]) -> Path:
    """Write the resume state atomically; return its path."""
    extra = {"optimizer": opt.state_dict(), "saliency": saliency, "run": run_entry(run, policy), "history": history,
             "config": config, "rng": {"torch": torch.get_rng_state(), "python": list(random.getstate()[1])}}
    return save_checkpoint(out_dir / STATE_FILE, model, meta={"kind": "cgap-train-state"}, extra=extra)


def load_state(out_dir: Path) -> Resumed:
    """Return the saved state of the run in ``out_dir``; raise CgapError when there is none."""
    path = out_dir / STATE_FILE
    if not path.is_file():
        raise CgapError(f"--resume: {path} not found (no run to resume in {out_dir})")
    ck = load_checkpoint(path)
    x = ck.extra
    if ck.meta.get("kind") != "cgap-train-state" or not {"optimizer", "run", "history", "config"} <= set(x):
        raise CgapError(f"--resume: {path} is not a cgap training state")
    torch.set_rng_state(x["rng"]["torch"])
    state = random.getstate()
    random.setstate((state[0], tuple(x["rng"]["python"]), state[2]))
    run, policy = split_run_entry(x["run"], path)
    return Resumed(ck.model, x["optimizer"], x.get("saliency", {}), run, policy, x["history"], x["config"])
