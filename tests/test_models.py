"""Model zoo: every arch at every input shape and any widths; channel groups match the real layers."""

from __future__ import annotations

import pytest
import torch

from cgap.models import REGISTRY, build, default_widths, scale_widths
from cgap_ir.errors import CgapError
from tests.conftest import irregular_model

ALL_SHAPES = [(1, 8, 8), (1, 28, 28), (3, 32, 32)]


def _out_channels(layer: torch.nn.Module) -> int:
    return layer.out_channels if isinstance(layer, torch.nn.Conv2d) else layer.out_features


def _in_channels(layer: torch.nn.Module) -> int:
    return layer.in_channels if isinstance(layer, torch.nn.Conv2d) else layer.in_features


@pytest.mark.parametrize("arch", list(REGISTRY))
@pytest.mark.parametrize("shape", ALL_SHAPES)
def test_every_arch_builds_for_every_input(arch, shape):
    model = build(arch, shape, 7, width_mult=0.25).eval()
    with torch.no_grad():
        out = model(torch.randn(2, *shape))
    assert out.shape == (2, 7)


@pytest.mark.parametrize("arch", list(REGISTRY))
def test_channel_groups_describe_the_layers(arch):
    model = irregular_model(arch, (3, 32, 32), seed=3)
    layers = dict(model.named_modules())
    groups = model.channel_groups()
    assert {g.name for g in groups} == set(default_widths(arch))
    segments: dict[str, list[tuple[int, int]]] = {}  # consumer layer -> (first input feature, features) per group
    for g in groups:
        assert g.width == model.widths[g.name]
        for p in g.producers:
            assert _out_channels(layers[p.layer]) == g.width
            if p.bn:
                assert layers[p.bn].num_features == g.width
        for c in g.consumers:
            segments.setdefault(c.layer, []).append((c.offset * c.repeat, g.width * c.repeat))
    for layer, parts in segments.items():  # the groups a layer reads tile its input (a Concat's parts in order)
        starts = [0] + [start + size for start, size in sorted(parts)]
        assert [start for start, _ in sorted(parts)] == starts[:-1], layer
        assert _in_channels(layers[layer]) == starts[-1], layer


@pytest.mark.parametrize("arch", ["mobilenetv2"])
def test_depthwise_convs_produce_the_group_they_read(arch):
    model = irregular_model(arch, (3, 32, 32), seed=5)
    layers = dict(model.named_modules())
    depthwise = [name for name, m in layers.items() if isinstance(m, torch.nn.Conv2d) and m.groups > 1]
    assert len(depthwise) == 10
    for g in model.channel_groups():
        for p in g.producers:
            if p.layer in depthwise:
                assert layers[p.layer].groups == layers[p.layer].in_channels == g.width


@pytest.mark.parametrize("arch", ["vgg11", "resnet20"])
def test_explicit_width_map_is_honoured(arch):
    widths = {g: (i % 5) + 1 for i, g in enumerate(default_widths(arch))}
    model = build(arch, (1, 28, 28), 10, widths=widths)
    assert model.widths == widths
    assert model.describe()["widths"] == widths


def test_resnet_param_count_matches_reference():
    # He et al. report 0.27M for ResNet-20; option-B 1x1 shortcuts add 2,592 + BN over option A.
    assert build("resnet20", (3, 32, 32), 10).count_params() == 272_474


def test_bad_widths_and_arch_are_clear_errors():
    with pytest.raises(CgapError, match="unknown architecture 'vgg7'"):
        build("vgg7", (1, 8, 8))
    with pytest.raises(CgapError, match="missing"):
        build("lenet5", (1, 8, 8), widths={"conv1": 3})
    with pytest.raises(CgapError, match="positive integer"):
        build("lenet5", (1, 8, 8), widths={"conv1": 0, "conv2": 1, "fc1": 1, "fc2": 1})
    with pytest.raises(CgapError, match="multiplier"):
        scale_widths({"a": 3}, 0)
