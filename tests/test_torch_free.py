"""The hardware path needs no torch: fast commands never import it, and with the optional packages hidden
they still run, while commands that need an extra name the ``pip install 'cgap[...]'`` that adds it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch

from cgap.export.onnx_export import to_onnx
from cgap.models import build

OPTIONAL = ["torch", "torch_pruning", "onnxscript", "sklearn", "tqdm", "hls4ml", "matplotlib"]
REPORT_TORCH = ("import atexit, sys; atexit.register(lambda: print('torch imported:', 'torch' in sys.modules, "
                "file=sys.stderr)); from cgap.{mod} import main; sys.exit(main(sys.argv[1:]))")
HIDE = ("import sys; sys.modules.update(dict.fromkeys({hidden!r})); from cgap.{mod} import main; "
        "sys.exit(main(sys.argv[1:]))")
ROOT = Path(__file__).resolve().parents[1]


def _run(code: str, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, cwd=cwd,
                          env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"}, timeout=300)


@pytest.fixture(scope="module")
def lenet_onnx(tmp_path_factory) -> Path:
    """An exported lenet5 for 1×28×28 inputs."""
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("onnx") / "lenet.onnx"
    return to_onnx(build("lenet5", (1, 28, 28), 10).eval(), (1, 28, 28), path)


@pytest.mark.parametrize("args", [
    ["--help"],
    ["sim", "{onnx}"],
    ["sim", "--arch", "resnet20", "--json"],
    ["inspect", "--arch", "vgg11", "--input", "1x28x28"],
    ["inspect", "{onnx}", "--json"],
    ["dse", "--arch", "lenet5", "--input", "1x28x28", "--device", "xc7z020", "--bits", "8"],
])
def test_hardware_commands_never_import_torch(args, lenet_onnx, tmp_path):
    args = [a.format(onnx=lenet_onnx) for a in args]
    proc = _run(REPORT_TORCH.format(mod="cli"), *args, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "torch imported: False" in proc.stderr


def test_cgap_export_of_an_onnx_model_needs_no_optional_package(lenet_onnx, tmp_path):
    proc = _run(HIDE.format(hidden=OPTIONAL, mod="export_cli"), str(lenet_onnx), "--target", "fpga", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "generated" / "lenet" / "program.json").is_file()
    assert "synthetic" in proc.stderr  # no --calib-data: the fallback says so


def test_hardware_commands_run_with_every_optional_package_missing(lenet_onnx, tmp_path):
    proc = _run(HIDE.format(hidden=OPTIONAL, mod="cli"), "sim", str(lenet_onnx), "--json", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert '"layers"' in proc.stdout


@pytest.mark.parametrize(("mod", "args", "extra"), [
    ("cli", ["train", "--arch", "lenet5", "--dataset", "digits", "--out", "run"], "train"),
    ("cli", ["train", "--help"], "train"),
    ("cli", ["sim", "{ckpt}"], "train"),
    ("cli", ["sim", "--arch", "lenet5", "--plot", "p.png"], "plot"),
    ("export_cli", ["{ckpt}", "--target", "fpga"], "train"),
])
def test_a_missing_extra_is_one_line_naming_the_install(mod, args, extra, lenet_ckpt, tmp_path):
    args = [a.format(ckpt=lenet_ckpt) for a in args]
    proc = _run(HIDE.format(hidden=OPTIONAL, mod=mod), *args, cwd=tmp_path)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert f"pip install 'cgap[{extra}]'" in lines[0]
    assert not (tmp_path / "run").exists() and not (tmp_path / "p.png").exists()


def test_hls4ml_target_names_its_extra(lenet_ckpt, tmp_path):
    proc = _run(HIDE.format(hidden=["hls4ml"], mod="export_cli"), str(lenet_ckpt), "--target", "hls4ml",
                cwd=tmp_path)
    assert proc.returncode == 2
    assert proc.stderr.strip() == ("cgap-export: error: `cgap-export --target hls4ml` needs hls4ml, which is not "
                                   "installed: pip install 'cgap[hls4ml]'")
