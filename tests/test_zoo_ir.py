"""One zoo description, two back ends: the IR built without torch equals the ONNX import of the PyTorch model."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cgap.export.onnx_export import to_onnx
from cgap.models import REGISTRY, build, default_widths, zoo_graph
from cgap.models.ir_build import level_order, zoo_network
from cgap_ir import executor
from cgap_ir.errors import CgapError
from cgap_ir.from_onnx import from_onnx
from tests.conftest import randomise_bn, torch_macs

SHAPES = [(1, 8, 8), (3, 12, 12), (2, 9, 7), (1, 28, 28), (3, 32, 32)]


def _state_arrays(model: torch.nn.Module) -> dict[str, np.ndarray]:
    return {k: v.detach().numpy() for k, v in model.state_dict().items()}


@pytest.mark.parametrize("arch", list(REGISTRY))
@settings(max_examples=2, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                 HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_zoo_ir_equals_onnx_import_of_torch_model(arch, data, tmp_path):
    widths = {g: data.draw(st.integers(1, 9), label=g) for g in default_widths(arch)}
    shape = data.draw(st.sampled_from(SHAPES), label="shape")
    classes = data.draw(st.integers(1, 12), label="classes")
    torch.manual_seed(0)
    model = randomise_bn(build(arch, shape, classes, widths=widths))
    imported = from_onnx(to_onnx(model, shape, tmp_path / "m.onnx"), name=arch)
    built = zoo_network(arch, shape, classes, widths=widths, weights=_state_arrays(model))

    assert built == imported                                  # names, order, ops (structure), output
    assert built.shapes == imported.shapes
    assert [r.as_dict() for r in built.layers()] == [r.as_dict() for r in imported.layers()]
    assert built.total_params() == model.count_params()
    assert built.total_macs() == torch_macs(model, shape)
    x = np.random.default_rng(1).standard_normal((2, *shape))
    got = executor.run(built, x)
    np.testing.assert_array_equal(got, executor.run(imported, x))   # same arrays, same kernels: bit-equal
    with torch.no_grad():
        ref = model(torch.from_numpy(x.astype(np.float32))).numpy()
    np.testing.assert_allclose(got, ref, atol=1e-4, rtol=0)


@pytest.mark.parametrize("arch", list(REGISTRY))
def test_structure_only_ir_has_the_same_table_as_the_weighted_one(arch):
    shape = (3, 32, 32)
    torch.manual_seed(0)
    model = build(arch, shape, 10, width_mult=0.25)
    bare = zoo_network(arch, shape, 10, width_mult=0.25)
    full = zoo_network(arch, shape, 10, width_mult=0.25, weights=_state_arrays(model))
    assert bare.summary() == full.summary()
    assert all(not node.op.arrays() for node in bare.nodes)
    with pytest.raises(CgapError, match="no weight array"):
        executor.run(bare, np.zeros((1, *shape)))


def test_torch_model_records_the_graph_it_was_built_from():
    model = build("resnet20", (3, 32, 32), 10, width_mult=0.5)
    zoo = zoo_graph("resnet20", (3, 32, 32), 10, width_mult=0.5)
    assert model.zoo_graph.net == zoo.net and model.widths == zoo.widths
    # every parameterised node is an nn module at the node's path
    modules = dict(model.named_modules())
    for node, path in zoo.modules.items():
        assert path in modules, node
    assert sorted(k.rsplit(".", 1)[0] for k in model.state_dict() if k.endswith("weight")) == sorted(
        n.name for n in zoo.net.nodes if n.op.kind in ("Conv2d", "BatchNorm", "Linear"))


def test_missing_weight_is_named():
    weights = _state_arrays(build("lenet5", (1, 8, 8), 10))
    del weights["fc2.bias"]
    with pytest.raises(CgapError, match="'fc2.bias' is missing"):
        zoo_network("lenet5", (1, 8, 8), 10, weights=weights)


def test_level_order_puts_a_shortcut_beside_its_block():
    net = zoo_network("resnet20", (3, 32, 32), 10)
    names = [n.name for n in net.nodes]
    assert names[names.index("layer2.0.conv1") + 1] == "layer2.0.sc_conv"
    assert level_order(list(net.nodes)) == list(net.nodes)   # already in importer order: a fixed point


def test_zoo_checks_happen_without_torch_objects():
    with pytest.raises(CgapError, match="unknown architecture"):
        zoo_graph("vgg7", (1, 8, 8))
    with pytest.raises(CgapError, match="parameters, more than"):
        zoo_graph("vgg19", (3, 2048, 2048), 10, width_mult=64)
