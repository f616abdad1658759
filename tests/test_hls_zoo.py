"""Zoo models at irregular widths through ONNX -> IR -> fixed-point engine -> g++ C-sim, bit-exact vs golden,
iteration counts and per-layer DRAM bytes equal to the simulator's."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import pytest

from cgap.export.onnx_export import to_onnx
from cgap.hls import export_fpga
from cgap_ir.from_onnx import from_onnx
from fpga_model.hw import PRESETS
from tests.conftest import SHAPES, irregular_model

FAST = [("lenet5", "zcu102-16b"), ("resnet20", "zcu102-8b")]
ALL = [(arch, preset) for arch in SHAPES for preset in ("zcu102-16b", "zcu102-8b") if (arch, preset) not in FAST]


def _zoo_net(arch: str):
    model = irregular_model(arch, SHAPES[arch])
    with tempfile.TemporaryDirectory(prefix="cgap-zoo-") as tmp:
        return from_onnx(to_onnx(model, SHAPES[arch], Path(tmp) / "m.onnx"), name=arch)


def _check(arch: str, preset: str, tmp_path: Path) -> None:
    net = _zoo_net(arch)
    rng = np.random.default_rng(0)
    calib = rng.normal(0, 1, (100, *net.input_shape))
    report = export_fpga(net, PRESETS[preset], tmp_path, calib, arch, verify_images=calib[:3], opt="-O1")["verify"]
    assert report["bit_exact"] is True
    assert report["lint_findings"] == 0, report["lint"]
    assert report["iterations_match"] is True
    assert report["dram_bytes_match"] is True
    assert report["cycles_match"] is True
    assert [r["saturations"] for r in report["layers"]] == [r["golden_saturations"] for r in report["layers"]]
    assert report["top1_agreement"] >= 2 / 3


@pytest.mark.parametrize("arch,preset", FAST)
def test_zoo_csim_bit_exact(arch, preset, tmp_path):
    _check(arch, preset, tmp_path)


@pytest.mark.slow
@pytest.mark.parametrize("arch,preset", ALL)
def test_zoo_csim_bit_exact_all(arch, preset, tmp_path):
    _check(arch, preset, tmp_path)
