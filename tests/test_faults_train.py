"""Training faults through the real `cgap train`: kill -9 at seeded random points then --resume, and NaN loss.

The killed-and-resumed run must end with the same architecture (widths per epoch, structural events) as an
uninterrupted run, with history epochs 0..E each exactly once; a diverging run stops with one line, exit 2,
and leaves a checkpoint that loads with finite weights.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from cgap.checkpoint import load_checkpoint
from cgap.cli import main

ROOT = Path(__file__).resolve().parents[1]
EPOCHS = 8
ARGS = ["train", "--arch", "lenet5", "--dataset", "digits", "--method", "cgap", "--epochs", str(EPOCHS),
        "--subset", "640", "--batch-size", "32", "--threads", "1", "--min-width", "1", "--target-params", "0.5",
        "--target-macs", "none", "--no-progress"]


def _history(out: Path) -> dict:
    return json.loads((out / "history.json").read_text())


def _epochs_done(out: Path) -> int:
    try:
        return len(_history(out)["epochs"])
    except (OSError, ValueError, KeyError):
        return 0


def _trajectory(hist: dict) -> tuple:
    return ([(e["epoch"], e["params"], e["macs"], e["widths"]) for e in hist["epochs"]],
            [(e["kind"], e["epoch"], e["step"], e["params_before"], e["params_after"], e["widths"])
             for e in hist["events"]])


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> Path:
    """An uninterrupted run of the same command (in-process: the same code path as the subprocesses)."""
    out = tmp_path_factory.mktemp("ref") / "run"
    assert main([*ARGS, "--out", str(out)]) == 0
    return out


def _kill_loop(out: Path, seed: int, kills: int) -> list[int]:
    """Run `cgap train` into ``out``, SIGKILL it ``kills`` times at seeded random points, then let it finish.

    Each kill waits for 1-3 more finished epochs then a random 0-150 ms (so it lands inside an epoch, a
    checkpoint write or start-up); each restart passes --resume when a state file exists.  Returns the
    number of completed epochs seen at every kill.
    """
    rng = random.Random(seed)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    seen = []
    for attempt in range(kills + 1):
        resume = ["--resume"] if (out / "state.pt").exists() else ["--force"]
        proc = subprocess.Popen([sys.executable, "-m", "cgap", *ARGS, "--out", str(out), *resume], cwd=ROOT,
                                env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        if attempt == kills:
            _, err = proc.communicate(timeout=240)
            assert proc.returncode == 0, err
            return seen
        target = _epochs_done(out) + rng.randint(1, 3)
        deadline = time.time() + 120
        while proc.poll() is None and _epochs_done(out) < target and time.time() < deadline:
            time.sleep(0.005)
        time.sleep(rng.uniform(0, 0.15))
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        seen.append(_epochs_done(out))
    return seen


def _check_same_run(out: Path, reference: Path) -> None:
    hist, ref = _history(out), _history(reference)
    assert [e["epoch"] for e in hist["epochs"]] == list(range(EPOCHS + 1)), "history has gaps or duplicates"
    assert _trajectory(hist) == _trajectory(ref)
    assert load_checkpoint(out / "model.pt").model.widths == load_checkpoint(reference / "model.pt").model.widths
    for key in ("params", "macs", "train_macs"):
        assert hist["final"][key] == ref["final"][key], key
    assert hist["run"]["steps_done"] == ref["run"]["steps_done"]
    assert hist["final"]["test_acc"] == pytest.approx(ref["final"]["test_acc"], abs=0.5)


def test_kill9_loop_then_resume_matches_uninterrupted(reference, tmp_path):
    out = tmp_path / "run"
    seen = _kill_loop(out, seed=1, kills=2)
    assert any(0 < n <= EPOCHS for n in seen), f"no kill landed mid-training: {seen}"
    _check_same_run(out, reference)


@pytest.mark.slow
@pytest.mark.parametrize("seed", [2, 3, 4])
def test_kill9_loop_many_kills(reference, tmp_path, seed):
    out = tmp_path / "run"
    _kill_loop(out, seed=seed, kills=5)
    _check_same_run(out, reference)


def test_nan_loss_stops_with_one_line_and_keeps_a_good_checkpoint(tmp_path, capsys):
    out = tmp_path / "nan"
    code = main([*ARGS, "--lr", "1e9", "--optimizer", "sgd", "--out", str(out)])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1, err
    assert err[0].startswith("cgap: error: loss became") and "last good checkpoint" in err[0]
    ck = load_checkpoint(out / "model.pt")
    assert all(torch.isfinite(t).all() for t in ck.model.state_dict().values() if t.is_floating_point())
    assert _history(out)["epochs"], "history of the good epochs is kept"
    assert not [p for p in out.iterdir() if p.name.startswith(".")], "temporary files left behind"
