"""Checkpoints: round trip, and every unsafe or broken file refused with one line, the payload never run."""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from cgap.checkpoint import CheckpointError, load_checkpoint, read_checkpoint_dict, save_checkpoint
from cgap.models import build


class _Payload:
    """Pickles into a call of os.system that creates a marker file (a code-executing checkpoint)."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def _evil_zip(tmp_path: Path, marker: Path) -> Path:
    good = build("lenet5", (1, 8, 8), 10)
    doc = {"format": "cgap-checkpoint", "format_version": 1, **good.describe(), "state_dict": good.state_dict(),
           "shapes": {}, "meta": {"x": _Payload(marker)}}
    path = tmp_path / "evil.pt"
    torch.save(doc, path)
    return path


def _evil_raw_pickle(tmp_path: Path, marker: Path) -> Path:
    path = tmp_path / "evil_raw.pt"
    path.write_bytes(pickle.dumps(_Payload(marker), protocol=2))
    return path


def test_newer_protocol_payload_never_runs(tmp_path):
    marker = tmp_path / "PWNED"
    path = tmp_path / "evil_p5.pt"
    path.write_bytes(pickle.dumps(_Payload(marker), protocol=5))
    with pytest.raises(CheckpointError, match="evil_p5.pt"):
        load_checkpoint(path)
    assert not marker.exists()


def test_round_trip_rebuilds_from_stored_shapes(tmp_path):
    widths = {"conv1": 3, "conv2": 5, "fc1": 7, "fc2": 2}
    model = build("lenet5", (1, 8, 8), 4, widths=widths)
    path = save_checkpoint(tmp_path / "m.pt", model, {"method": "full"}, extra={"step": 3})
    ckpt = load_checkpoint(path)
    assert ckpt.model.widths == widths and ckpt.meta["method"] == "full" and ckpt.extra == {"step": 3}
    assert ckpt.meta["versions"]["torch"] == torch.__version__
    x = torch.randn(2, 1, 8, 8)
    torch.testing.assert_close(ckpt.model(x), model.eval()(x))
    assert not list(tmp_path.glob(".*tmp")), "temporary file left behind"


@pytest.mark.parametrize("make", [_evil_zip, _evil_raw_pickle])
def test_code_payload_is_refused_and_never_runs(tmp_path, make):
    marker = tmp_path / "PWNED"
    path = make(tmp_path, marker)
    with pytest.raises(CheckpointError, match="refused to load"):
        load_checkpoint(path)
    assert not marker.exists()


def _truncated(tmp_path: Path, lenet_ckpt: Path) -> Path:
    data = lenet_ckpt.read_bytes()
    out = tmp_path / "trunc.pt"
    out.write_bytes(data[: len(data) // 2])
    return out


def _random_bytes(tmp_path: Path, lenet_ckpt: Path) -> Path:
    out = tmp_path / "random.pt"
    out.write_bytes(os.urandom(4096))
    return out


def _rewrite(tmp_path: Path, lenet_ckpt: Path, **changes) -> Path:
    doc = read_checkpoint_dict(lenet_ckpt)
    doc.update(changes)
    out = tmp_path / "changed.pt"
    torch.save(doc, out)
    return out


@pytest.mark.parametrize("make, message", [
    (_truncated, "truncated or corrupt"),
    (_random_bytes, "truncated or corrupt"),
    (lambda t, c: _rewrite(t, c, arch="vgg7"), "unknown architecture 'vgg7'"),
    (lambda t, c: _rewrite(t, c, format_version=99), "format version 99"),
    (lambda t, c: _rewrite(t, c, format="other"), "not a cgap checkpoint"),
    (lambda t, c: _rewrite(t, c, widths={"conv1": 2, "conv2": 8, "fc1": 60, "fc2": 42}), "tensor 'conv1.weight'"),
])
def test_broken_checkpoints_are_refused(tmp_path, lenet_ckpt, make, message):
    with pytest.raises(CheckpointError, match=message):
        load_checkpoint(make(tmp_path, lenet_ckpt))


@pytest.mark.parametrize("command", [["-m", "cgap", "inspect"], ["-c", "from cgap.export_cli import main; "
                                                                        "raise SystemExit(main())"]])
def test_cli_refuses_payload_with_one_line(tmp_path, command):
    marker = tmp_path / "PWNED"
    path = _evil_zip(tmp_path, marker)
    out = subprocess.run([sys.executable, *command, str(path)], capture_output=True, text=True, timeout=120)
    assert out.returncode != 0
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and "refused to load" in lines[0], out.stderr
    assert not marker.exists()
