"""Distributed CGaP training: 2 CPU processes with gloo on localhost, through growth and pruning.

- torchrun (``python -m torch.distributed.run``) runs ``cgap train``: both ranks record the SHA-256 of their
  final weights, which must be equal and equal to the digest this test computes itself from ``model.pt``;
- a rank that exits mid-epoch makes the other fail in one line at once; ``--resume`` on both ranks then ends
  with exactly the weights of the uninterrupted run;
- a rank that stalls (SIGSTOP) makes the other fail after ``--dist-timeout``;
- diverged replicas are caught by the cross-rank digest check.
The fault runs start the two ranks with torchrun's environment variables by hand, so it is our code (not
torchrun's agent tearing workers down) that must notice the lost peer.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import torch.multiprocessing as mp

from cgap.checkpoint import load_checkpoint
from cgap.train.distributed import FAULT_ENV, Replicas, comm_failure
from cgap_ir.errors import CgapError

ROOT = Path(__file__).resolve().parents[1]
ARGS = ["train", "--arch", "vgg11", "--width-mult", "0.125", "--dataset", "digits", "--method", "cgap", "--epochs", "2", "--subset", "320",
        "--batch-size", "16", "--threads", "1", "--min-width", "1", "--target-params", "0.5", "--target-macs", "none",
        "--no-progress"]
STEPS_PER_EPOCH = 10  # 320 images, 2 ranks × 16 per step


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _env(**more: str) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("WORLD_SIZE", "RANK", "LOCAL_RANK", FAULT_ENV)}
    return {**env, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1", **more}


def _digest(state: dict[str, torch.Tensor]) -> str:
    """This test's own SHA-256 of a state dict (sorted names, dtype, shape, raw bytes)."""
    h = hashlib.sha256()
    for name, t in sorted(state.items()):
        t = t.detach().cpu().contiguous()
        h.update(f"{name}|{t.dtype}|{tuple(t.shape)}|".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


def _ranks(out: Path, *extra: str, fault: str | None = None) -> list[subprocess.Popen]:
    """Start ranks 0 and 1 of `cgap train` as torchrun would (env://) on a free localhost port."""
    port = str(_port())
    procs = []
    for rank in (0, 1):
        env = _env(MASTER_ADDR="127.0.0.1", MASTER_PORT=port, WORLD_SIZE="2", RANK=str(rank), LOCAL_RANK=str(rank),
                   **({FAULT_ENV: fault} if fault else {}))
        procs.append(subprocess.Popen([sys.executable, "-m", "cgap", *ARGS, "--out", str(out), *extra], cwd=ROOT,
                                      env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    return procs


def _finish(proc: subprocess.Popen, timeout: float) -> tuple[int, str, str]:
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        pytest.fail(f"rank still running after {timeout} s (hang): {err[-2000:]}")
    return proc.returncode, out, err


def _errors(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if "Warning" not in line and line.strip()
            and not line.startswith("  ")]


@pytest.fixture(scope="module")
def ddp_run(tmp_path_factory) -> Path:
    """An uninterrupted 2-rank run launched by torchrun; returns its --out."""
    out = tmp_path_factory.mktemp("ddp") / "run"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--master_addr=127.0.0.1",
           f"--master_port={_port()}", "-m", "cgap", *ARGS, "--out", str(out)]
    proc = subprocess.run(cmd, cwd=ROOT, env=_env(), capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.count("cgap vgg11 on digits: test accuracy") == 1, proc.stdout  # rank 0 only
    return out


def test_two_ranks_grow_prune_and_end_bitwise_identical(ddp_run):
    hist = json.loads((ddp_run / "history.json").read_text())
    kinds = [e["kind"] for e in hist["events"]]
    assert "grow" in kinds and "prune" in kinds, kinds
    assert any(e["params_after"] < e["params_before"] for e in hist["events"] if e["kind"] == "prune")
    d = hist["distributed"]
    assert d["world_size"] == 2 and d["backend"] == "gloo" and d["global_batch_size"] == 32
    assert hist["steps_per_epoch"] == STEPS_PER_EPOCH  # each rank saw half of the 320 images per epoch
    ck = load_checkpoint(ddp_run / "model.pt")  # weights_only load
    assert ck.model.widths == hist["epochs"][-1]["widths"] != hist["epochs"][0]["widths"]
    rank_digests = d["final_state_sha256"]
    assert len(rank_digests) == 2 and rank_digests[0] == rank_digests[1]
    assert _digest(ck.model.state_dict()) == rank_digests[0]
    assert [e["epoch"] for e in hist["epochs"]] == [0, 1, 2]
    assert all(p.name in ("model.pt", "history.json", "state.pt") or p.suffix == ".png" for p in ddp_run.iterdir())


def test_dead_rank_fails_the_other_at_once_then_resume_matches(ddp_run, tmp_path):
    out = tmp_path / "run"
    t0 = time.monotonic()
    r0, r1 = _ranks(out, fault=f"1:{STEPS_PER_EPOCH + 3}:exit")  # rank 1 dies in epoch 2
    code1, _, _ = _finish(r1, 120)
    code0, _, err0 = _finish(r0, 60)
    assert code1 == 1
    errs = _errors(err0)
    assert code0 == 2 and len(errs) == 1, err0[-3000:]
    assert errs[0].startswith("cgap: error: rank 0 of 2: lost contact with the other ranks"), errs
    assert time.monotonic() - t0 < 90
    hist = json.loads((out / "history.json").read_text())
    assert [e["epoch"] for e in hist["epochs"]] == [0, 1]  # epoch 1's state survives

    procs = _ranks(out, "--resume")
    results = [_finish(p, 120) for p in procs]
    assert [c for c, _, _ in results] == [0, 0], results[0][2][-2000:] + results[1][2][-2000:]
    done, ref = json.loads((out / "history.json").read_text()), json.loads((ddp_run / "history.json").read_text())
    assert [e["epoch"] for e in done["epochs"]] == [0, 1, 2]
    assert done["events"] == [{**e, "seconds": d["seconds"]} for e, d in zip(ref["events"], done["events"], strict=True)]
    assert done["distributed"]["final_state_sha256"] == ref["distributed"]["final_state_sha256"]
    assert _digest(load_checkpoint(out / "model.pt").model.state_dict()) == ref["distributed"]["final_state_sha256"][0]


def test_resume_with_another_world_size_is_refused(ddp_run, tmp_path):
    import shutil

    out = tmp_path / "run"
    shutil.copytree(ddp_run, out)
    proc = subprocess.run([sys.executable, "-m", "cgap", *ARGS, "--out", str(out), "--resume"], cwd=ROOT,
                          env=_env(), capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert "trained by 2 process(es), this is 1" in proc.stderr


def test_stalled_rank_fails_the_other_after_the_timeout(tmp_path):
    out = tmp_path / "run"
    r0, r1 = _ranks(out, "--dist-timeout", "4", fault="1:3:stop")
    try:
        t0 = time.monotonic()
        code0, _, err0 = _finish(r0, 90)
        waited = time.monotonic() - t0
    finally:
        r1.send_signal(signal.SIGKILL)  # stopped by the fault hook; ours to clean up
        r1.communicate()
    errs = _errors(err0)
    assert code0 == 2 and len(errs) == 1, err0[-3000:]
    assert "lost contact" in errs[0] and "--dist-timeout 4 s" in errs[0], errs
    # gloo words it by whichever collective noticed: "Timed out waiting ..." or "Application timeout caused ..."
    assert re.search(r"timed out|timeout", errs[0].split("--dist-timeout 4 s")[1], re.IGNORECASE), errs
    assert waited < 60


def test_distributed_sampler_shards_are_disjoint_and_cover_the_epoch():
    shards = []
    for rank in (0, 1):
        s = Replicas(rank=rank, world=2).sampler(101, seed=7)
        s.set_epoch(3)
        shards.append(list(s))
    assert len(shards[0]) == len(shards[1]) == 51  # padded to equal length (one index repeats)
    assert set(shards[0]) | set(shards[1]) == set(range(101))
    assert len(set(shards[0]) & set(shards[1])) <= 1
    assert Replicas().sampler(101, seed=7) is None  # one process: the loop's own permutation


def _diverge(rank: int, port: int, result: dict) -> None:
    import datetime

    import torch.distributed as dist

    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=2, timeout=datetime.timedelta(seconds=30))
    rep = Replicas(rank, 2, rank, "gloo", torch.device("cpu"))
    try:
        assert rep.check_same("ab" * 32, "same") == ["ab" * 32] * 2
        rep.check_same(("cd" if rank else "ab") * 32, "the prune decision at step 7")
        result[rank] = "no error"
    except CgapError as exc:
        result[rank] = str(exc)
    finally:
        rep.close()


def test_replicas_that_disagree_stop_every_rank():
    result = mp.Manager().dict()
    mp.spawn(_diverge, args=(_port(), result), nprocs=2, join=True)
    for rank in (0, 1):
        assert result[rank].startswith("the prune decision at step 7 differs across ranks (ranks [1]"), dict(result)


@pytest.mark.parametrize("message", ["Application timeout caused pair closure",
                                     "[../third_party/gloo/gloo/transport/tcp/pair.cc:534] Timed out waiting 4000ms",
                                     "Connection closed by peer [127.0.0.1]:29500"])
def test_every_wording_of_a_lost_gloo_peer_is_a_comm_failure(message):
    assert comm_failure(RuntimeError(message))


def test_a_runtime_error_raised_inside_torch_distributed_is_a_comm_failure():
    import torch.distributed.distributed_c10d as c10d

    def fake_collective():  # a frame whose file is torch.distributed's own
        raise RuntimeError("some future wording")
    code = fake_collective.__code__.replace(co_filename=c10d.__file__)
    with pytest.raises(RuntimeError) as info:
        exec(code, {})  # noqa: S102 - runs the function body above under torch's file name
    assert comm_failure(info.value)


def test_an_ordinary_model_error_is_not_a_comm_failure():
    with pytest.raises(RuntimeError) as info:
        torch.nn.Linear(3, 2)(torch.zeros(1, 4))
    assert not comm_failure(info.value)
