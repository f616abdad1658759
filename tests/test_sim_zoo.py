"""Zoo models through the real front end (torch -> ONNX -> IR) simulate, and match the torch-free test nets."""

from __future__ import annotations

import pytest

from cgap.model_source import network_for_arch
from fpga_model.engine_sim import simulate
from fpga_model.hw import PRESETS
from fpga_model.schedule import compute_iterations, schedule


@pytest.mark.parametrize("arch, shape", [("lenet5", (1, 28, 28)), ("resnet20", (3, 32, 32))])
def test_zoo_model_simulates_on_its_schedule(arch, shape):
    net = network_for_arch(arch, shape, 10, 1.0)
    hw = PRESETS["zcu102-16b"]
    layers = schedule(net, hw)
    report = simulate(layers, hw)
    assert [r.iterations for r in report.layers] == [compute_iterations(layer, hw) for layer in layers]
    assert report.total()["macs"] == sum(layer.macs for layer in layers) > 0
    assert report.total()["cycles"] >= report.total()["roofline_cycles"]


def test_zoo_resnet20_costs_like_torch_free_builder():
    from fpga_model.testnets import resnet_cifar
    hw = PRESETS["pynq-z2-16b"]
    zoo = simulate(network_for_arch("resnet20", (3, 32, 32), 10, 1.0), hw).total()
    ours = simulate(resnet_cifar(20), hw).total()
    assert zoo["macs"] == ours["macs"] and zoo["compute_cycles"] == ours["compute_cycles"]
