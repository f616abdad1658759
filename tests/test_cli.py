"""Command line: `cgap inspect` numbers against PyTorch, `cgap-export --target onnx`, one-line errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from cgap.cli import main
from cgap.export_cli import main as export_main
from cgap.models import REGISTRY, build
from tests.conftest import torch_macs


@pytest.mark.parametrize("arch", list(REGISTRY))
def test_inspect_json_params_and_macs_match_pytorch(arch, capsys):
    shape = (3, 32, 32)
    assert main(["inspect", "--arch", arch, "--input", "3x32x32", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    model = build(arch, shape, 10)
    assert report["params"] == model.count_params()
    assert report["macs"] == torch_macs(model, shape)
    assert sum(layer["macs"] for layer in report["layers"]) == report["macs"]


def test_inspect_checkpoint_and_onnx_agree(lenet_ckpt, tmp_path, capsys):
    assert export_main([str(lenet_ckpt), "--target", "onnx", "--out", str(tmp_path / "x")]) == 0
    exported = json.loads(capsys.readouterr().out)
    assert exported["max_abs_diff_vs_torch"] <= 1e-4
    assert main(["inspect", str(lenet_ckpt), "--json"]) == 0
    from_pt = json.loads(capsys.readouterr().out)
    assert main(["inspect", exported["onnx"], "--json"]) == 0
    from_onnx = json.loads(capsys.readouterr().out)
    assert from_pt["layers"] == from_onnx["layers"] and from_pt["params"] > 0
    assert main(["inspect", str(lenet_ckpt)]) == 0
    assert "fc3" in capsys.readouterr().out


def test_export_refuses_non_empty_output_without_force(lenet_ckpt, tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("previous good output")
    assert export_main([str(lenet_ckpt), "--out", str(out)]) == 2
    assert "not empty (use --force" in capsys.readouterr().err
    assert (out / "keep.txt").read_text() == "previous good output"
    assert export_main([str(lenet_ckpt), "--out", str(out), "--force"]) == 0
    assert [p.name for p in out.iterdir()] == ["lenet.onnx"]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")], "temporary directory left behind"


@pytest.mark.parametrize("argv, message", [
    (["inspect"], "give either a MODEL file or --arch"),
    (["inspect", "--arch", "resnet20", "--input", "3x0x32"], "--input must look like CxHxW"),
    (["inspect", "missing.pt"], "missing.pt: checkpoint not found"),
    (["inspect", "model.h5"], "expected a cgap checkpoint (.pt) or an ONNX model (.onnx)"),
])
def test_bad_input_is_one_line(argv, message, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0]


def test_console_scripts_are_installed():
    scripts = Path(sys.executable).parent
    out = subprocess.run([str(scripts / "cgap"), "inspect", "--arch", "lenet5", "--input", "1x8x8"],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and "lenet5: input 1x8x8" in out.stdout
    out = subprocess.run([sys.executable, "-m", "cgap", "--version"], capture_output=True, text=True, timeout=60)
    assert out.stdout.startswith("cgap ")
