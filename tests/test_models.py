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


class _Count:
    """Params and MACs added up layer by layer from the published layer tables (independent of the zoo graph)."""

    def __init__(self) -> None:
        self.params = self.macs = 0

    def conv(self, cin: int, cout: int, k: int, side: int, groups: int = 1) -> None:
        weights = cout * (cin // groups) * k * k
        self.params += weights + 2 * cout   # no bias; BN scale and shift
        self.macs += weights * side * side


def _mobilenetv2_reference(c: int, side: int, classes: int) -> tuple[int, int]:
    count = _Count()
    count.conv(c, 32, 3, side)
    cin = 32
    for t, cout, n, stride in [(1, 16, 1, 1), (6, 24, 2, 1), (6, 32, 2, 2), (6, 64, 2, 2), (6, 96, 2, 1),
                               (6, 160, 1, 2)]:
        for b in range(n):
            hidden = cin * t
            if t > 1:
                count.conv(cin, hidden, 1, side)
            side = (side - 1) // (stride if b == 0 else 1) + 1   # 3x3, pad 1
            count.conv(hidden, hidden, 3, side, groups=hidden)
            count.conv(hidden, cout, 1, side)
            cin = cout
    count.conv(cin, 640, 1, side)
    return count.params + 640 * classes + classes, count.macs + 640 * classes


def _squeezenet_reference(c: int, side: int, classes: int) -> tuple[int, int]:
    count = _Count()
    count.conv(c, 64, 3, side)
    cin = 64
    for fire in [(16, 64, 64), (16, 64, 64), "pool", (32, 128, 128), (32, 128, 128), "pool", (48, 192, 192),
                 (64, 256, 256)]:
        if fire == "pool":
            side //= 2
            continue
        squeeze, e1, e3 = fire
        count.conv(cin, squeeze, 1, side)
        count.conv(squeeze, e1, 1, side)
        count.conv(squeeze, e3, 3, side)
        cin = e1 + e3
    return count.params + cin * classes + classes, count.macs + cin * classes


@pytest.mark.parametrize("shape", [(3, 32, 32), (1, 28, 28)])
@pytest.mark.parametrize("arch,reference", [("mobilenetv2", _mobilenetv2_reference),
                                            ("squeezenet", _squeezenet_reference)])
def test_depthwise_and_concat_nets_count_like_their_layer_tables(arch, reference, shape):
    from cgap.models.ir_build import zoo_network

    net = zoo_network(arch, shape, 10)
    assert (net.total_params(), net.total_macs()) == reference(shape[0], shape[1], 10)
    assert build(arch, shape, 10).count_params() == net.total_params()


def test_depthwise_and_concat_nets_full_size_figures():
    from cgap.models.ir_build import zoo_network

    mobilenet, squeezenet = zoo_network("mobilenetv2", (3, 32, 32), 10), zoo_network("squeezenet", (3, 32, 32), 10)
    assert (mobilenet.total_params(), mobilenet.total_macs()) == (566_218, 47_705_344)
    assert (squeezenet.total_params(), squeezenet.total_macs()) == (421_354, 68_752_384)
    assert sum(n.op.kind == "Conv2d" and n.op.groups > 1 for n in mobilenet.nodes) == 10
    assert sum(n.op.kind == "Clip" for n in mobilenet.nodes) == 21   # stem, 1 + 2 per expanding block, head
    assert sum(n.op.kind == "Concat" for n in squeezenet.nodes) == 6


@pytest.mark.parametrize("arch", ["mobilenetv2", "squeezenet"])
@pytest.mark.parametrize("mult", [0.125, 0.5, 1.5])
def test_width_multiplier_scales_every_group(arch, mult):
    model = build(arch, (1, 28, 28), 10, width_mult=mult)
    assert model.widths == scale_widths(default_widths(arch), mult)
    with torch.no_grad():
        assert model.eval()(torch.randn(3, 1, 28, 28)).shape == (3, 10)
