"""The resume state file ``RUN_DIR/state.pt``: model, optimizer, RNG, saliency window, run counters, history.

Written atomically at the end of every epoch through :mod:`cgap.checkpoint` (so it loads with
``weights_only=True``); a run killed at any moment restarts from the last completed epoch.
"""

from __future__ import annotations

import random
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch

from cgap.checkpoint import load_checkpoint, save_checkpoint
from cgap.errors import CgapError
from cgap.models import ZooModel

STATE_FILE = "state.pt"


@dataclass
class RunState:
    """Counters and flags of a run (plain data)."""

    epoch: int = 0                 # epochs completed
    step: int = 0                  # optimizer steps completed
    growing: bool = True
    pruning: bool = True
    best_val: float = -1.0
    stale_epochs: int = 0          # epochs without a val gain while growing
    pre_prune_best: float | None = None
    train_macs: int = 0            # Σ over steps of batch × 3 × forward MACs
    train_seconds: float = 0.0
    overhead_seconds: float = 0.0  # saliency accumulation + structural changes
    stop_reasons: dict[str, str] = field(default_factory=dict)


@dataclass
class Resumed:
    """What a state file gives back."""

    model: ZooModel
    optimizer_state: dict[str, Any]
    saliency: dict[str, Any]
    run: RunState
    history: dict[str, Any]
    config: dict[str, Any]


def save_state(out_dir: Path, model: ZooModel, opt: torch.optim.Optimizer, saliency: dict[str, Any],
               run: RunState, history: dict[str, Any], config: dict[str, Any]) -> Path:
    """Write the resume state atomically; return its path."""
    extra = {"optimizer": opt.state_dict(), "saliency": saliency, "run": asdict(run), "history": history,
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
    return Resumed(ck.model, x["optimizer"], x.get("saliency", {}), RunState(**x["run"]), x["history"], x["config"])
