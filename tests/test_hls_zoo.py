"""Zoo models at irregular widths through ONNX -> IR -> fixed-point engine -> g++ C-sim, bit-exact vs golden,
iteration counts and per-layer DRAM bytes equal to the simulator's."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import pytest

from cgap.export.onnx_export import to_onnx
from cgap.hls import export_fpga
from cgap.model_source import network_for_arch
from cgap.models import build
from cgap_ir.from_onnx import from_onnx
from fpga_model.engine_sim import simulate
from fpga_model.hw import PRESETS
from tests.conftest import ENGINE_PENDING, SHAPES, irregular_model

FAST = [("lenet5", "zcu102-16b"), ("resnet20", "zcu102-8b")]
ENGINE_ARCHS = [arch for arch in SHAPES if arch not in ENGINE_PENDING]
ALL = [(arch, preset) for arch in ENGINE_ARCHS for preset in ("zcu102-16b", "zcu102-8b") if (arch, preset) not in FAST]


def _zoo_net(arch: str):
    model = irregular_model(arch, SHAPES[arch])
    with tempfile.TemporaryDirectory(prefix="cgap-zoo-") as tmp:
        return from_onnx(to_onnx(model, SHAPES[arch], Path(tmp) / "m.onnx"), name=arch)


def _check(arch: str, preset: str, tmp_path: Path, net=None, calib_images: int = 100, images: int = 3) -> dict:  # noqa: ANN001
    """Export ``net`` (default: ``arch`` at irregular widths) for ``preset`` and C-simulate it: bit-exact, no lint
    finding, iterations, DRAM bytes and cycles equal to the simulator; return the verify report."""
    net = net or _zoo_net(arch)
    calib = np.random.default_rng(0).normal(0, 1, (calib_images, *net.input_shape))
    report = export_fpga(net, PRESETS[preset], tmp_path, calib, arch, verify_images=calib[:images], opt="-O1",
                         min_calib=calib_images)["verify"]
    assert report["bit_exact"] is True
    assert report["lint_findings"] == 0, report["lint"]
    assert report["iterations_match"] is True
    assert report["dram_bytes_match"] is True
    assert report["cycles_match"] is True
    assert [r["saturations"] for r in report["layers"]] == [r["golden_saturations"] for r in report["layers"]]
    return report


@pytest.mark.parametrize("arch,preset", FAST)
def test_zoo_csim_bit_exact(arch, preset, tmp_path):
    assert _check(arch, preset, tmp_path)["top1_agreement"] >= 2 / 3


@pytest.mark.slow
@pytest.mark.parametrize("arch,preset", ALL)
def test_zoo_csim_bit_exact_all(arch, preset, tmp_path):
    assert _check(arch, preset, tmp_path)["top1_agreement"] >= 2 / 3


# ---------------------------------------------------------------------------- full width on real buffers

FULL_SHAPE = (3, 32, 32)
FULL_FAST = [("vgg11", "pynq-z2-16b")]     # failed "smallest tile needs 72 KiB of weight buffer" before Tif tiling
FULL_ALL = [(arch, preset) for arch in sorted(ENGINE_ARCHS) for preset in ("zcu102-16b", "pynq-z2-16b")
            if (arch, preset) not in FULL_FAST]


@pytest.mark.parametrize("preset", ["zcu102-16b", "pynq-z2-16b"])
def test_every_zoo_model_at_full_width_simulates(preset):
    hw = PRESETS[preset]
    for arch in sorted(ENGINE_ARCHS):
        net = network_for_arch(arch, FULL_SHAPE, 10, 1.0)
        report = simulate(net, hw)
        assert sum(r.macs for r in report.layers) == net.total_macs() > 0, arch


def _full_width_net(arch: str):
    model = build(arch, FULL_SHAPE)
    with tempfile.TemporaryDirectory(prefix="cgap-zoo-") as tmp:
        return from_onnx(to_onnx(model, FULL_SHAPE, Path(tmp) / "m.onnx"), name=arch)


@pytest.mark.parametrize("arch,preset", FULL_FAST)
def test_zoo_full_width_csim_bit_exact(arch, preset, tmp_path):
    _check(arch, preset, tmp_path, _full_width_net(arch), calib_images=8, images=1)


@pytest.mark.slow
@pytest.mark.parametrize("arch,preset", FULL_ALL)
def test_zoo_full_width_csim_bit_exact_all(arch, preset, tmp_path):
    _check(arch, preset, tmp_path, _full_width_net(arch), calib_images=8, images=1)
