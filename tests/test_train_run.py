"""End-to-end training runs on digits: the cgap trajectory, outputs, the CLI, NaN handling, kill -9 + resume."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from cgap.checkpoint import load_checkpoint, read_checkpoint_dict
from cgap.train.config import TrainConfig
from cgap.train.coupling import check_coupling
from cgap.train.loop import TrainingDiverged, train
from cgap.train.metrics import model_cost
from cgap.train_cli import main as cli_main
from cgap_ir.errors import CgapError

ROOT = Path(__file__).resolve().parents[1]
RUN = dict(arch="vgg11", dataset="digits", subset=640, width_mult=0.125, epochs=6, batch_size=64, min_width=1,
           target_params=0.5, target_macs=None, threads=1)
CLI_RUN = ["--arch", "vgg11", "--dataset", "digits", "--subset", "640", "--width-mult", "0.125", "--epochs", "6", "--batch-size", "64",
           "--min-width", "1", "--target-params", "0.5", "--target-macs", "none", "--threads", "1", "--no-progress"]


@pytest.fixture(scope="module")
def cgap_run(tmp_path_factory):
    """An uninterrupted cgap run (the reference trajectory); returns its result."""
    out = tmp_path_factory.mktemp("run") / "cgap"
    return train(TrainConfig(out=str(out), **RUN), progress=False)


def test_cgap_grows_above_seed_then_prunes(cgap_run):
    hist = json.loads((cgap_run.out_dir / "history.json").read_text())
    seed_params = hist["epochs"][0]["params"]
    kinds = [e["kind"] for e in hist["events"]]
    assert "grow" in kinds and "prune" in kinds
    assert kinds.index("prune") > len(kinds) - 1 - kinds[::-1].index("grow")  # every grow before every prune
    grows = [e for e in hist["events"] if e["kind"] == "grow"]
    prunes = [e for e in hist["events"] if e["kind"] == "prune"]
    assert all(e["params_after"] > e["params_before"] for e in grows)
    assert all(e["params_after"] < e["params_before"] for e in prunes)
    peak = max(e["params"] for e in hist["epochs"])
    assert peak > seed_params and hist["epochs"][-1]["params"] < peak
    assert hist["epochs"][-1]["params"] <= 0.5 * hist["full_reference"]["params"]
    for key in ("epoch", "params", "macs", "train_loss", "val_acc", "widths"):
        assert key in hist["epochs"][-1]
    for key in ("kind", "epoch", "step", "params_before", "params_after"):
        assert key in hist["events"][0]
    assert [e["epoch"] for e in hist["epochs"]] == list(range(7))
    for png in ("widths.png", "cost.png", "accuracy.png"):
        assert (cgap_run.out_dir / png).stat().st_size > 1000


def test_final_checkpoint_loads_weights_only_and_matches_history(cgap_run):
    ck = load_checkpoint(cgap_run.out_dir / "model.pt")  # weights_only=True inside
    last = cgap_run.history.epochs[-1]
    assert ck.model.count_params() == last["params"]
    assert model_cost(ck.model) == (last["params"], last["macs"])
    assert ck.model.widths == last["widths"]
    assert ck.meta["method"] == "cgap" and ck.meta["dataset"]["mean"] and ck.meta["dataset"]["std"]
    assert ck.meta["history"]["last_epoch"]["params"] == last["params"]
    torch.load(cgap_run.out_dir / "state.pt", weights_only=True)
    assert cgap_run.test_acc > 30.0  # 10 classes: well above chance after 6 tiny epochs


def _history(path: Path) -> dict:
    return json.loads((path / "history.json").read_text())


def _trajectory(hist: dict) -> tuple:
    return ([(e["epoch"], e["params"], e["macs"], e["widths"]) for e in hist["epochs"]],
            [(e["kind"], e["step"], e["params_before"], e["params_after"], e["widths"]) for e in hist["events"]])


def test_resume_after_kill_reproduces_the_trajectory(cgap_run, tmp_path):
    out = tmp_path / "killed"
    cmd = [sys.executable, "-m", "cgap.train_cli", "train", *CLI_RUN, "--out", str(out)]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None:
        try:
            if len(read_checkpoint_dict(out / "state.pt")["extra"]["history"]["epochs"]) >= 3:
                break  # epochs 0..2 done: growth is over, pruning is under way
        except CgapError:
            pass
        time.sleep(0.05)
    assert proc.poll() is None, "run finished before it could be killed"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    done = len(_history(out)["epochs"])
    assert done < 7
    res = subprocess.run([*cmd, "--resume"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    assert _trajectory(_history(out)) == _trajectory(_history(cgap_run.out_dir))
    ours = load_checkpoint(out / "model.pt").model.state_dict()
    for k, v in load_checkpoint(cgap_run.out_dir / "model.pt").model.state_dict().items():
        assert torch.allclose(ours[k], v, atol=1e-5), k


def test_nan_loss_stops_and_keeps_last_good_checkpoint(tmp_path):
    cfg = TrainConfig(out=str(tmp_path / "nan"), **{**RUN, "epochs": 2, "lr": 1e12, "optimizer": "sgd"})
    with pytest.raises(TrainingDiverged, match=r"loss became (nan|inf).*last good checkpoint"):
        train(cfg, progress=False)
    ck = load_checkpoint(tmp_path / "nan" / "model.pt")
    assert all(torch.isfinite(t).all() for t in ck.model.state_dict().values() if t.is_floating_point())


def test_full_and_prune_baselines(tmp_path):
    full = train(TrainConfig(out=str(tmp_path / "f"), method="full", **{**RUN, "epochs": 2}), progress=False)
    assert not full.history.events and full.history.info["final"]["params_frac"] == 1.0
    pr = train(TrainConfig(out=str(tmp_path / "p"), method="prune", **{**RUN, "epochs": 2}), progress=False)
    assert [e["kind"] for e in pr.history.events] == ["prune"]
    assert pr.history.info["final"]["params_frac"] <= 0.5
    assert pr.history.info["final"]["train_macs"] < full.history.info["final"]["train_macs"]


def test_target_weighted_pruning_meets_both_targets(tmp_path):
    run = train(TrainConfig(out=str(tmp_path / "t"), **{**RUN, "epochs": 3, "target_params": 0.5, "target_macs": 0.5,
                                                         "prune_cost": "target"}), progress=False)
    fin = run.history.info["final"]
    assert any(e["kind"] == "prune" for e in run.history.events)
    assert fin["params_frac"] <= 0.5 and fin["macs_frac"] <= 0.5, fin


def test_cubic_schedule_spreads_pruning_over_the_phase_and_meets_the_target(cgap_run, tmp_path):
    run = train(TrainConfig(out=str(tmp_path / "c"), **{**RUN, "prune_schedule": "cubic"}), progress=False)
    info = run.history.info
    prunes = [e for e in run.history.events if e["kind"] == "prune"]
    greedy_prunes = [e for e in cgap_run.history.events if e["kind"] == "prune"]
    ph = info["phases"]
    late = ph["grow_end_step"] + 0.75 * (ph["prune_end_step"] - ph["grow_end_step"])
    assert prunes[-1]["step"] >= late > greedy_prunes[-1]["step"]  # the target is reached near the phase's end
    assert len(prunes) > len(greedy_prunes)
    # the cubic schedule removes most at its start
    removed = [e["params_before"] - e["params_after"] for e in prunes]
    assert removed[0] == max(removed), removed
    assert info["final"]["params_frac"] <= 0.5


@pytest.mark.parametrize("args,message", [
    (["--grow-rate", "0"], "--grow-rate"), (["--method", "prune", "--target-params", "none"], "--target-params"),
    (["--saliency", "hessian"], "--saliency"), (["--arch", "vgg7"], "vgg7")])
def test_cli_rejects_bad_input_in_one_line(args, message, tmp_path, capsys):
    argv = ["train", *CLI_RUN, "--epochs", "1", "--out", str(tmp_path / "o"), *args]
    try:
        code = cli_main(argv)
    except SystemExit as exc:  # argparse's own choice check
        code = exc.code
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and message in err[-1]


def test_cli_refuses_a_used_run_dir_without_resume(tmp_path, capsys):
    out = tmp_path / "o"
    out.mkdir()
    (out / "state.pt").write_bytes(b"x")
    assert cli_main(["train", *CLI_RUN, "--out", str(out)]) == 2
    assert "--resume" in capsys.readouterr().err


def _dw_concat_run(arch: str, out: Path) -> dict:
    """Run ``cgap train --arch ARCH --method cgap`` on 640 digits for 4 tiny epochs; return its history."""
    args = ["train", "--arch", arch, "--method", "cgap", "--dataset", "digits", "--subset", "640", "--width-mult", "0.25",
            "--epochs", "4", "--batch-size", "64", "--min-width", "1", "--target-params", "0.5",
            "--target-macs", "none", "--threads", "1", "--no-progress", "--out", str(out)]
    assert cli_main(args) == 0
    return json.loads((out / "history.json").read_text())


def _assert_grows_then_prunes(hist: dict, out: Path) -> None:
    kinds = [e["kind"] for e in hist["events"]]
    assert "grow" in kinds and "prune" in kinds
    assert kinds.index("prune") > len(kinds) - 1 - kinds[::-1].index("grow")
    peak = max(e["params"] for e in hist["epochs"])
    assert hist["epochs"][0]["params"] < peak and hist["epochs"][-1]["params"] < peak
    assert hist["epochs"][-1]["params"] <= 0.5 * hist["full_reference"]["params"]
    model = load_checkpoint(out / "model.pt").model
    check_coupling(model)   # the grown and pruned model still agrees with Torch-Pruning's dependency graph
    assert model_cost(model)[0] == hist["epochs"][-1]["params"]


def test_cgap_cli_grows_and_prunes_mobilenetv2(tmp_path):
    out = tmp_path / "mnv2"
    _assert_grows_then_prunes(_dw_concat_run("mobilenetv2", out), out)


def test_cgap_cli_grows_and_prunes_squeezenet(tmp_path):
    out = tmp_path / "squeeze"
    _assert_grows_then_prunes(_dw_concat_run("squeezenet", out), out)
