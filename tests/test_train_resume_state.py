"""The resume state's ``run`` entry after the trainer/policy split: same flat keys, old files still load."""

from __future__ import annotations

import random

import pytest
import torch

from cgap.checkpoint import read_checkpoint_dict, save_checkpoint
from cgap.models import build
from cgap.train.policy import PolicyState
from cgap.train.resume import STATE_FILE, RunState, load_state, save_state
from cgap_ir.errors import CgapError

# The ``run`` entry as state files have stored it since before the split (one flat dict of plain data).
OLD_RUN_ENTRY = {"epoch": 3, "step": 30, "growing": False, "pruning": True, "best_val": 44.5, "stale_epochs": 1,
                 "pre_prune_best": 10.9375, "train_macs": 899699904, "train_seconds": 0.52, "overhead_seconds": 0.32,
                 "stop_reasons": {"growing": "width cap reached (epoch 1, step 8)"}}
# Keys the policy state gained later (issue 16: --align pof, the growth-step plateau of --grow-alloc saliency).
NEW_KEYS = {"aligned": False, "grow_best": -1.0, "grow_stale": 0}


def _write_old_state(out, run_entry: dict) -> None:
    """Write a state file the way the loop wrote it before the policy had its own state."""
    model = build("lenet5", (1, 8, 8), 10)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    extra = {"optimizer": opt.state_dict(), "saliency": {"sums": {}, "count": 0}, "run": run_entry,
             "history": {"epochs": [], "events": []}, "config": {},
             "rng": {"torch": torch.get_rng_state(), "python": list(random.getstate()[1])}}
    save_checkpoint(out / STATE_FILE, model, meta={"kind": "cgap-train-state"}, extra=extra)


def test_a_state_file_from_before_the_split_resumes_with_its_counters_and_decisions(tmp_path):
    _write_old_state(tmp_path, OLD_RUN_ENTRY)
    resumed = load_state(tmp_path)
    assert resumed.run == RunState(epoch=3, step=30, train_macs=899699904, train_seconds=0.52, overhead_seconds=0.32)
    assert resumed.policy == PolicyState(growing=False, pruning=True, best_val=44.5, stale_epochs=1,
                                         pre_prune_best=10.9375,
                                         stop_reasons={"growing": "width cap reached (epoch 1, step 8)"})


def test_saved_run_entry_keeps_the_old_flat_keys_and_loads_weights_only(tmp_path):
    _write_old_state(tmp_path, OLD_RUN_ENTRY)
    old = load_state(tmp_path)
    model = build("lenet5", (1, 8, 8), 10)
    save_state(tmp_path, model, torch.optim.SGD(model.parameters(), lr=0.1), {}, old.run, old.policy,
               {"epochs": [], "events": []}, {})
    torch.load(tmp_path / STATE_FILE, weights_only=True)
    saved = read_checkpoint_dict(tmp_path / STATE_FILE)["extra"]["run"]
    assert {k: saved[k] for k in OLD_RUN_ENTRY} == OLD_RUN_ENTRY
    assert {k: saved[k] for k in set(saved) - set(OLD_RUN_ENTRY)} == NEW_KEYS  # added since, at their defaults
    again = load_state(tmp_path)
    assert (again.run, again.policy) == (old.run, old.policy)


def test_an_unknown_run_key_is_refused_in_one_line(tmp_path):
    _write_old_state(tmp_path, {**OLD_RUN_ENTRY, "phase_budget": 3})
    with pytest.raises(CgapError, match=r"unknown run state keys \['phase_budget'\]"):
        load_state(tmp_path)
