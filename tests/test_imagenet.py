"""ImageNet-size CNNs on real buffer budgets: the onnx wheel's VGG-19 and ResNet-50 (224x224) and a VGG-16 simulate
on zcu102-16b through the engine's column and input-channel tiling; the same graphs rebuilt at 3x64x64
(``fpga_model.testnets.at_input``) export and are bit-exact in C-sim with iterations, DRAM words and cycles
equal to the simulator; one whole 224x224 image of each is a slow test."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest

from cgap.hls import export_fpga
from cgap_ir.errors import CgapError
from cgap_ir.from_onnx import from_onnx
from fpga_model.devices import get_device
from fpga_model.dse import explore
from fpga_model.engine_sim import simulate
from fpga_model.hw import PRESETS
from fpga_model.report import totals
from fpga_model.schedule import schedule
from fpga_model.testnets import at_input, vgg_imagenet

LIGHT = Path(onnx.__file__).parent / "backend" / "test" / "data" / "light"


def _light(name: str):
    return from_onnx(LIGHT / f"light_{name}.onnx", name=name)


def _check_simulates(net, preset: str) -> None:
    hw = PRESETS[preset]
    layers = schedule(net, hw)
    conv = [lay for lay in layers if lay.kind == "conv"]
    assert any(lay.split_channels for lay in conv)             # needs the input-channel tiling on these buffers
    total = totals(simulate(net, hw))
    assert total["cycles"] >= net.total_macs() / hw.macs       # no faster than the MAC array allows


def test_onnx_wheel_resnet50_simulates_on_zcu102():
    _check_simulates(_light("resnet50"), "zcu102-16b")


def test_vgg16_imagenet_simulates_on_zcu102_and_pynq():
    net = vgg_imagenet("vgg16")
    assert net.total_params() == 138_357_544 and net.total_macs() == 15_470_264_320   # torchvision VGG-16
    for preset in ("zcu102-16b", "pynq-z2-16b"):
        _check_simulates(net, preset)


@pytest.mark.slow
def test_onnx_wheel_vgg19_simulates_on_zcu102():
    _check_simulates(_light("vgg19"), "zcu102-16b")           # slow: the importer builds 143 M weights


def test_rebuilt_at_64_keeps_the_architecture():
    big, small = _light("resnet50"), at_input(_light("resnet50"), (3, 64, 64))
    assert [n.op.kind for n in big.nodes] == [n.op.kind for n in small.nodes]
    assert small.shapes[small.output] == big.shapes[big.output] == (1000,)
    assert small.total_params() == big.total_params()           # the classifier reads 2048 channels either way


def _csim(net, preset: str, tmp_path: Path) -> dict:
    calib = np.random.default_rng(0).normal(0, 1, (4, *net.input_shape))
    report = export_fpga(net, PRESETS[preset], tmp_path, calib, net.name.split("@")[0], verify_images=calib[:1],
                         opt="-O1", min_calib=len(calib))["verify"]
    assert report["bit_exact"] is True and report["lint_findings"] == 0, report["lint"]
    assert report["iterations_match"] and report["dram_bytes_match"] and report["cycles_match"]
    return report


def test_resnet50_at_64_is_bit_exact_in_csim(tmp_path):
    _csim(at_input(_light("resnet50"), (3, 64, 64)), "zcu102-16b", tmp_path)


@pytest.mark.slow
def test_vgg19_at_64_is_bit_exact_in_csim(tmp_path):
    _csim(at_input(_light("vgg19"), (3, 64, 64)), "zcu102-16b", tmp_path)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["resnet50", "vgg19"])
def test_whole_224_image_is_bit_exact_in_csim(name, tmp_path):
    _csim(_light(name), "zcu102-16b", tmp_path)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["resnet50", "vgg19"])
def test_dse_finds_a_fitting_design_for_the_onnx_wheel_cnns(name):
    """The search over the whole default grid (best-design mode: ~650 k designs) returns a design that fits
    xczu9eg, re-simulated end to end by ``explore`` itself."""
    result = explore(_light(name), get_device("xczu9eg"), workers=2)
    assert result.best.resources.fits and result.stats["exact_fronts"] is False


@pytest.mark.parametrize("name", ["inception_v1", "bvlc_alexnet"])
def test_dse_names_the_op_the_engine_cannot_run(name):
    with pytest.raises(CgapError, match=r"^node '[^']+': op \w+ cannot run on the engine") as err:
        explore(_light(name), get_device("xczu9eg"))
    assert "\n" not in str(err.value)
