"""The wheel as users get it: a torch-free install runs the hardware path end to end on an ONNX file, and
``cgap[train]`` installs beside a torch the user already has without replacing it (slow: builds venvs).

``cgap-export model.onnx --target fpga --verify`` (ONNX input to the exporter) has not landed yet; the
torch-free test drives the same stages (ONNX → IR → quantise → HLS project → g++ C-sim) through the API.
"""

from __future__ import annotations

import glob
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from cgap.export.onnx_export import to_onnx
from cgap.models import build

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
NOT_SOURCE = shutil.ignore_patterns(".git", ".venv", "build", "dist", "runs", "generated", "__pycache__",
                                    "*.egg-info", ".hypothesis", ".pytest_cache", ".ruff_cache")
CSIM_SCRIPT = """
import json, sys
import numpy as np
from cgap.hls.export import export_fpga
from cgap_ir.from_onnx import from_onnx
from fpga_model.hw import load_hw
net = from_onnx(sys.argv[1])
images = np.random.default_rng(0).standard_normal((120, *net.input_shape)).astype(np.float32)
summary = export_fpga(net, load_hw("pynq-z2-16b"), sys.argv[2], images[:100], "lenet", verify_images=images[100:])
print(json.dumps(summary["verify"]["bit_exact"]))
"""


def _sh(*cmd: str | Path, cwd: Path | None = None, timeout: float = 900) -> subprocess.CompletedProcess:
    proc = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, cwd=cwd, timeout=timeout)
    assert proc.returncode == 0, f"{cmd}: {proc.stdout[-2000:]}\n{proc.stderr[-2000:]}"
    return proc


def _venv(path: Path) -> Path:
    """Create an empty venv at ``path`` (no system site packages); return its bin folder."""
    _sh(sys.executable, "-m", "venv", path)
    return path / "bin"


def _size_mib(path: Path) -> float:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file() and not f.is_symlink()) / 2**20


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """The cgap wheel built from a clean copy of the source tree (no stale build/ folder)."""
    tmp = tmp_path_factory.mktemp("wheel")
    shutil.copytree(ROOT, tmp / "src", ignore=NOT_SOURCE)
    _sh(sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", tmp / "dist", tmp / "src")
    (found,) = (tmp / "dist").glob("cgap-*.whl")
    return found


@pytest.fixture(scope="module")
def lenet_onnx(tmp_path_factory) -> Path:
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("onnx") / "lenet.onnx"
    return to_onnx(build("lenet5", (1, 8, 8), 10, width_mult=0.5).eval(), (1, 8, 8), path)


def test_torch_free_install_runs_the_hardware_path(wheel, lenet_onnx, tmp_path):
    bin_ = _venv(tmp_path / "venv")
    _sh(bin_ / "python", "-m", "pip", "install", "-q", wheel)
    gone = subprocess.run([bin_ / "python", "-c", "import torch"], capture_output=True, text=True)
    assert gone.returncode != 0, "the base install must not bring torch"
    print(f"\ntorch-free venv: {_size_mib(tmp_path / 'venv'):.0f} MiB")

    sim = json.loads(_sh(bin_ / "cgap", "sim", lenet_onnx, "--json").stdout)
    assert sim["layers"] and sim["total"]["cycles"] > 0
    table = json.loads(_sh(bin_ / "cgap", "inspect", lenet_onnx, "--json").stdout)
    assert table["params"] == build("lenet5", (1, 8, 8), 10, width_mult=0.5).count_params()
    _sh(bin_ / "cgap", "sim", "--arch", "resnet20")
    _sh(bin_ / "cgap", "dse", "--arch", "lenet5", "--input", "1x8x8", "--device", "xc7z020", "--bits", "8")
    refused = subprocess.run([bin_ / "cgap", "train", "--arch", "lenet5", "--dataset", "digits", "--out", "r"],
                             capture_output=True, text=True, cwd=tmp_path)
    assert refused.returncode == 2 and "pip install 'cgap[train]'" in refused.stderr
    if shutil.which("g++") and shutil.which("make"):
        out = _sh(bin_ / "python", "-c", CSIM_SCRIPT, lenet_onnx, tmp_path / "hls", timeout=1800)
        assert out.stdout.strip().splitlines()[-1] == "true"


def _user_torch_wheel() -> str | None:
    """Return a local CPU torch wheel to stand for the user's own torch (CGAP_TEST_TORCH_WHEEL, else the one
    in pip's find-links folder), or None: the test never downloads a (multi-GB CUDA) torch."""
    if os.environ.get("CGAP_TEST_TORCH_WHEEL"):
        return os.environ["CGAP_TEST_TORCH_WHEEL"]
    folders = os.environ.get("PIP_FIND_LINKS", "/opt/wheels").split()
    found = [w for d in folders for w in glob.glob(os.path.join(d, "torch-*.whl"))]
    return sorted(found)[0] if found else None


def test_train_extra_keeps_the_users_torch_and_trains(wheel, tmp_path):
    torch_wheel = _user_torch_wheel()
    if torch_wheel is None:
        pytest.skip("no local torch wheel (set CGAP_TEST_TORCH_WHEEL); not downloading a CUDA build")
    bin_ = _venv(tmp_path / "venv")
    _sh(bin_ / "python", "-m", "pip", "install", "-q", torch_wheel)     # the user's environment, their torch
    version = "import importlib.metadata as m; print(m.version('torch'))"
    before = _sh(bin_ / "python", "-c", version).stdout.strip()
    # No constraints file: the package's own range must accept the installed torch.
    log = _sh(bin_ / "python", "-m", "pip", "install", f"{wheel}[train]").stdout
    assert _sh(bin_ / "python", "-c", version).stdout.strip() == before
    installed = next((line for line in log.splitlines() if line.startswith("Successfully installed")), "")
    assert " torch-2" not in installed, installed
    print(f"\n[train] venv beside torch {before}: {_size_mib(tmp_path / 'venv'):.0f} MiB")

    _sh(bin_ / "cgap", "train", "--arch", "lenet5", "--dataset", "digits", "--method", "full", "--epochs", "1",
        "--subset", "200", "--out", tmp_path / "run", "--no-progress", "--threads", "1", cwd=tmp_path)
    assert (tmp_path / "run" / "model.pt").is_file()
    sim = json.loads(_sh(bin_ / "cgap", "sim", tmp_path / "run" / "model.pt", "--json").stdout)
    assert sim["layers"]
