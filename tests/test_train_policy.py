"""The CGaP policy alone (no torch): its step schedule, targets, stop rules and state across a resume.

Expected values are worked out by hand in the comments from the schedule in ``cgap.train.policy``'s docstring.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from cgap.train.policy import CgapPolicy, PolicyConfig, PolicyState

ROOT = Path(__file__).resolve().parents[1]
# Growth phase: steps 1..20, an event every 5; pruning phase: steps 21..40, an event every 4; then fine-tuning.
SCHEDULE = PolicyConfig(method="cgap", grow_end=20, prune_end=40, grow_interval=5, prune_interval=4,
                        saliency_window=2, target_params=0.5, grow_patience=2, width_cap=1.5, min_width=40)
FULL = {"a": 64, "b": 36}


def toy_cost(widths: dict[str, int]) -> tuple[int, int]:
    """(params, MACs) of a toy network: params = a + b, MACs = 3a (full: 100 params, 192 MACs)."""
    return widths["a"] + widths["b"], 3 * widths["a"]


def policy(**changes: object) -> CgapPolicy:
    return CgapPolicy(replace(SCHEDULE, **changes), FULL, toy_cost)


def events(p: CgapPolicy, steps: range) -> list[tuple[int, str]]:
    return [(s, kind) for s in steps if (kind := p.event_due(s)) is not None]


def test_cgap_grows_every_grow_interval_then_prunes_every_prune_interval():
    assert events(policy(), range(0, 60)) == [(5, "grow"), (10, "grow"), (15, "grow"), (20, "grow"),
                                              (24, "prune"), (28, "prune"), (32, "prune"), (36, "prune"),
                                              (40, "prune")]
    assert policy().next_event(0) == (5, "grow") and policy().next_event(21) == (24, "prune")
    assert policy().next_event(41) is None


def test_saliency_window_is_the_steps_ending_at_each_event():
    in_window = [s for s in range(0, 60) if policy().in_window(s)]
    assert in_window == [4, 5, 9, 10, 14, 15, 19, 20, 23, 24, 27, 28, 31, 32, 35, 36, 39, 40]
    assert [s for s in range(0, 60) if policy(saliency_window=1).in_window(s)] == [5, 10, 15, 20, 24, 28, 32, 36, 40]


def test_cleared_flags_drop_their_events():
    p = policy()
    p.state.growing = False
    assert p.next_event(0) == (24, "prune")  # the first pruning event, no growth before it
    p.state.pruning = False
    assert p.next_event(0) is None and not p.in_window(40)


def test_prune_baseline_has_one_oneshot_event_and_full_none():
    prune = policy(method="prune", grow_end=0)
    assert events(prune, range(0, 60)) == [(40, "oneshot")]
    assert [s for s in range(0, 60) if prune.in_window(s)] == [39, 40]
    full = policy(method="full", grow_end=0, prune_end=0)
    assert events(full, range(0, 60)) == [] and not any(full.in_window(s) for s in range(60))


@pytest.mark.parametrize("method,expected", [
    ("cgap", {0: "grow", 19: "grow", 20: "prune", 39: "prune", 40: "finetune", 99: "finetune"}),
    ("prune", {0: "train", 39: "train", 40: "finetune"}),
    ("full", {0: "train", 20: "train", 40: "train"})])
def test_phase_by_step(method, expected):
    p = policy(method=method)
    assert {s: p.phase(s) for s in expected} == expected


def test_prune_progress_greedy_and_cubic():
    assert {policy().prune_progress(s) for s in (21, 30, 40)} == {1.0}
    cubic = policy(prune_schedule="cubic")  # (40 - 20) // 4 = 5 events over 5 * 4 = 20 steps
    assert [cubic.prune_progress(s) for s in (24, 30, 40, 50)] == [0.2, 0.5, 1.0, 1.0]
    uneven = policy(prune_schedule="cubic", prune_interval=6)  # 20 // 6 = 3 events (26, 32, 38) over 18 steps
    assert [uneven.prune_progress(s) for s in (29, 38, 40)] == [0.5, 1.0, 1.0]


def test_needs_more_against_the_final_and_the_eased_target():
    p = policy()  # params target 0.5 of 100 = 50
    assert p.needs_more({"a": 20, "b": 31}) and not p.needs_more({"a": 20, "b": 30})
    # halfway through a cubic schedule the limit is (0.5 + 0.5 * (1 - 0.5)^3) * 100 = 56.25 params
    assert p.needs_more({"a": 20, "b": 37}, done=0.5) and not p.needs_more({"a": 20, "b": 36}, done=0.5)
    assert not p.needs_more(FULL, done=0.0)  # at the start nothing has to go
    assert p.target_limits() == (50.0, None)


def test_every_given_target_must_be_met_and_no_target_never_is():
    both = policy(target_macs=0.25)  # MACs limit 0.25 * 192 = 48, i.e. a <= 16
    assert both.needs_more({"a": 17, "b": 10}) and both.needs_more({"a": 10, "b": 41})
    assert not both.needs_more({"a": 16, "b": 34})
    assert both.target_limits() == (50.0, 48.0)
    assert policy(target_params=None).needs_more({"a": 1, "b": 1})


def test_width_caps_and_minimum_widths():
    p = policy()  # cap 1.5 x full; minimum min(40, full)
    assert p.caps == {"a": 96, "b": 54} and p.min_widths == {"a": 40, "b": 36}
    p.grown({"a": 96, "b": 53}, epoch=2, step=15)
    assert p.state.growing
    p.grown({"a": 96, "b": 54}, epoch=2, step=15)
    assert not p.state.growing and p.state.stop_reasons == {"growing": "width cap reached (epoch 3, step 15)"}


def test_a_stop_reason_is_recorded_once():
    p = policy()
    p.stop("pruning", "target met", epoch=0, step=24)
    p.stop("pruning", "minimum widths reached", epoch=1, step=28)
    assert p.state.stop_reasons == {"pruning": "target met (epoch 1, step 24)"} and p.state.growing


def test_best_val_needs_a_gain_above_min_gain_and_plateau_stops_growth():
    p = policy()
    p.end_epoch(1, 8, 50.0)
    assert (p.state.best_val, p.state.stale_epochs) == (50.0, 0)
    p.end_epoch(2, 16, 50.05)  # +0.05 is no gain
    assert (p.state.best_val, p.state.stale_epochs, p.state.growing) == (50.0, 1, True)
    p.end_epoch(3, 19, 49.0)  # 2 stale epochs = grow_patience, still in the growth phase
    assert not p.state.growing
    assert p.state.stop_reasons["growing"] == "val accuracy plateau (2 epochs) (epoch 4, step 19)"
    p.end_epoch(4, 24, 50.2)
    assert (p.state.best_val, p.state.stale_epochs) == (50.2, 0)


def test_phase_ends_stop_growth_and_pruning():
    p = policy()
    p.end_epoch(3, 20, 10.0)
    assert not p.state.growing and p.state.pruning
    assert p.state.stop_reasons["growing"] == "growth phase over (epoch 4, step 20)"
    p.end_epoch(5, 40, 11.0)
    assert p.state.stop_reasons["pruning"] == "pruning phase over before the target was met (epoch 6, step 40)"
    baseline = policy(method="prune", grow_end=0)
    baseline.end_epoch(5, 40, 11.0)
    assert baseline.state.growing and baseline.state.pruning  # the phase rules are cgap's


def test_accuracy_drop_below_the_pre_pruning_best_stops_pruning():
    p = policy(max_acc_drop=1.5)
    p.end_epoch(2, 16, 80.0)
    assert p.pruning_starts(24) == 1.0 and p.state.pre_prune_best == 80.0
    p.end_epoch(3, 24, 85.0)
    assert p.pruning_starts(28) == 1.0 and p.state.pre_prune_best == 80.0  # recorded at the first event only
    p.end_epoch(4, 32, 78.5)  # 1.5 below: not more than allowed
    assert p.state.pruning
    p.end_epoch(5, 36, 78.0)
    assert p.state.stop_reasons["pruning"] == "val accuracy 2.00 pt below the pre-pruning best (epoch 6, step 36)"


def test_pruned_stops_once_the_target_is_met():
    p = policy()
    p.pruned({"a": 30, "b": 30}, epoch=3, step=28)
    assert p.state.pruning
    p.pruned({"a": 25, "b": 25}, epoch=3, step=32)
    assert p.state.stop_reasons == {"pruning": "target met (epoch 4, step 32)"}


VALS = [40.0, 50.0, 60.0, 45.0, 44.0, 43.0]  # pruning starts at step 24 (best 50), epoch 4 ends 5 below it


def fake_run(p: CgapPolicy, widths: dict[str, int], epochs: range, record: list) -> None:
    """Drive ``p`` as the loop does, 8 steps per epoch: growth adds 4 units per group (up to the cap), pruning
    removes 3 per group (down to the minimum); validation accuracy is ``VALS[epoch]``."""
    for epoch in epochs:
        for step in range(epoch * 8 + 1, epoch * 8 + 9):
            kind = p.event_due(step)
            if kind == "grow":
                widths.update({g: min(p.caps[g], w + 4) for g, w in widths.items()})
                p.grown(widths, epoch, step)
            elif kind == "prune":
                done = p.pruning_starts(step)
                if p.needs_more(widths, done):
                    widths.update({g: max(p.min_widths[g], w - 3) for g, w in widths.items()})
                p.pruned(widths, epoch, step)
            if kind:
                record.append((step, kind, dict(widths)))
        p.end_epoch(epoch + 1, epoch * 8 + 8, VALS[epoch])


def test_policy_state_survives_a_json_round_trip_mid_run():
    config = replace(SCHEDULE, min_width=2, max_acc_drop=4.0)
    whole, whole_record = CgapPolicy(config, FULL, toy_cost), []
    fake_run(whole, {"a": 32, "b": 18}, range(6), whole_record)

    first, record = CgapPolicy(config, FULL, toy_cost), []
    widths = {"a": 32, "b": 18}
    fake_run(first, widths, range(3), record)  # stop after epoch 3 (pruning under way), as a resume would
    saved = json.dumps(first.state.to_dict())
    second = CgapPolicy(config, FULL, toy_cost, PolicyState.from_dict(json.loads(saved)))
    fake_run(second, widths, range(3, 6), record)

    assert record == whole_record and second.state == whole.state
    assert [(step, kind) for step, kind, _ in record] == [(5, "grow"), (10, "grow"), (15, "grow"), (20, "grow"),
                                                          (24, "prune"), (28, "prune"), (32, "prune")]
    assert whole.state == PolicyState(growing=False, pruning=False, best_val=60.0, stale_epochs=3, pre_prune_best=50.0,
                                      stop_reasons={"growing": "growth phase over (epoch 4, step 24)",
                                                    "pruning": "val accuracy 5.00 pt below the pre-pruning best "
                                                               "(epoch 5, step 32)"})


def test_policy_config_from_train_config_fills_the_default_intervals():
    from cgap.train.config import TrainConfig  # imports torch: only this test needs it

    cfg = TrainConfig(method="cgap", epochs=10, saliency_window=7, max_acc_drop=2.0)
    # 100 steps: fine-tune round(0.3 * 100) = 30; growth 0.3 / 0.7 of the other 70 = 30; pruning to step 70
    config = PolicyConfig.from_train_config(cfg, 100)
    assert (config.grow_end, config.prune_end, config.grow_interval, config.prune_interval) == (30, 70, 3, 2)
    assert (config.saliency_window, config.max_acc_drop, config.target_params) == (7, 2.0, 0.40)
    fixed = PolicyConfig.from_train_config(TrainConfig(grow_interval=4, prune_interval=9), 100)
    assert (fixed.grow_interval, fixed.prune_interval) == (4, 9)


def test_policy_imports_no_torch():
    code = "import sys, cgap.train.policy; print('torch' in sys.modules)"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
