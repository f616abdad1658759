"""Physical structural change: split growth and zero-saliency pruning preserve the function; the result is an
ordinary zoo model; optimizer state is carried; coupling agrees with Torch-Pruning's dependency graph."""

from __future__ import annotations

import copy

import pytest
import torch
import torch_pruning as tp

from cgap.checkpoint import load_checkpoint, save_checkpoint
from cgap.models import build, default_widths
from cgap.train.coupling import check_coupling, tp_members, zoo_members
from cgap.train.grow import grow_maps
from cgap.train.prune import prune_maps
from cgap.train.saliency import SaliencyMeter
from cgap.train.surgery import UnitMap, keep_map, remap_model, remap_optimizer
from tests.conftest import irregular_model, randomise_bn

CASES = [("vgg11", (1, 28, 28)), ("resnet20", (1, 28, 28)), ("lenet5", (1, 28, 28)), ("vgg11", (3, 32, 32))]
DW_CONCAT = [("mobilenetv2", (3, 16, 16)), ("squeezenet", (1, 28, 28))]   # depthwise / Concat coupling


def _scores(model, seed=0):
    gen = torch.Generator().manual_seed(seed)
    return {g.name: torch.rand(g.width, generator=gen) for g in model.channel_groups()}


def _max_diff(a, b, shape, train=False):
    x = torch.randn(8, *shape, generator=torch.Generator().manual_seed(1))
    a.train(train), b.train(train)
    with torch.no_grad():
        return float((a(x) - b(x)).abs().max())


@pytest.mark.parametrize("arch,shape", CASES + DW_CONCAT)
@pytest.mark.parametrize("noise", [0.0, 0.3])
def test_split_growth_preserves_output(arch, shape, noise):
    model = irregular_model(arch, shape, seed=2)
    caps = {g: 4 * w for g, w in model.widths.items()}
    maps = grow_maps(model.widths, _scores(model), 0.5, caps, "split")
    grown = remap_model(model, maps, noise=noise, seed=5)
    assert all(grown.widths[g] > model.widths[g] for g in maps)
    assert grown.count_params() > model.count_params()
    assert _max_diff(model, grown, shape) <= 1e-5


def test_split_noise_breaks_symmetry_of_the_copies():
    model = irregular_model("vgg11", (1, 28, 28), seed=2)
    w = model.widths["conv1"]
    grown = remap_model(model, {"conv1": UnitMap(torch.cat([torch.arange(w), torch.tensor([0])]))}, noise=0.3)
    cols = grown.conv2.weight[:, [0, w]]
    assert not torch.allclose(cols[:, 0], cols[:, 1])
    assert torch.allclose(cols.sum(1), model.conv2.weight[:, 0], atol=1e-6)


@pytest.mark.parametrize("arch,shape", CASES[:3] + DW_CONCAT)
def test_removing_zero_saliency_units_preserves_output(arch, shape):
    model = irregular_model(arch, shape, seed=4)
    dead = {}
    with torch.no_grad():  # silence units: zero every consumer column of the chosen units
        for g in model.channel_groups():
            if g.width < 2:
                continue
            dead[g.name] = list(range(0, g.width, 2))[: g.width - 1]
            for c in g.consumers:
                w = model.get_submodule(c.layer).weight
                view = w.view(w.shape[0], w.shape[1] // c.repeat, -1)   # (out, input channels, rest)
                view[:, [c.offset + i for i in dead[g.name]]] = 0.0
    meter = SaliencyMeter("taylor")
    x = torch.randn(16, *shape)
    y = torch.randint(0, 10, (16,))
    model.train()
    for _ in range(2):
        model.zero_grad()
        torch.nn.functional.cross_entropy(model(x), y).backward()
        meter.update(model)
    scores = meter.scores(model)
    zero = {g: [int(i) for i in torch.nonzero(s == 0).flatten()] for g, s in scores.items()}
    for g, units in dead.items():
        assert set(units) <= set(zero[g]), g  # silenced units score exactly 0 (a dead ReLU may too)
        assert float(scores[g].max()) > 0.0, g
    # the ranking removes zero-saliency units first
    n_zero = sum(len(z) for z in zero.values())
    maps = prune_maps(scores, model.widths, n_zero / sum(model.widths.values()), {g: 1 for g in model.widths},
                      "global", lambda w: True)
    removed = {g: sorted(set(range(model.widths[g])) - set(m.src.tolist())) for g, m in maps.items()}
    assert removed == {g: z for g, z in zero.items() if z and len(z) < model.widths[g]}
    # silenced units: no effect on any input, in eval and train mode
    pruned = remap_model(model, {g: keep_map([i for i in range(model.widths[g]) if i not in u])
                                 for g, u in dead.items()})
    assert pruned.count_params() < model.count_params()
    assert _max_diff(model, pruned, shape) <= 1e-5
    assert _max_diff(model, pruned, shape, train=True) <= 1e-4
    # every zero-saliency unit: no effect on the batch the saliency was measured on
    pruned = remap_model(model, maps)
    with torch.no_grad():
        assert float((model.train()(x) - pruned.train()(x)).abs().max()) <= 1e-5


@pytest.mark.parametrize("arch,shape", CASES[:3] + DW_CONCAT)
def test_result_is_an_ordinary_zoo_model(arch, shape, tmp_path):
    model = irregular_model(arch, shape, seed=1)
    maps = {g: UnitMap(torch.tensor([2, 0, -1, 0, 1] if w >= 3 else [0, -1, 0])) for g, w in model.widths.items()}
    new = remap_model(model, maps, noise=0.1, seed=3)
    again = build(arch, shape, 10, widths=new.widths)
    again.load_state_dict(new.state_dict())
    assert _max_diff(new, again, shape) == 0.0
    ck = load_checkpoint(save_checkpoint(tmp_path / "m.pt", new))
    assert ck.model.widths == new.widths and _max_diff(new, ck.model, shape) == 0.0


def test_random_growth_keeps_old_units_and_inits_new_ones():
    model = irregular_model("vgg11", (1, 28, 28), seed=0)
    maps = grow_maps(model.widths, {}, 0.5, {g: 99 for g in model.widths}, "random")
    new = remap_model(model, maps, seed=7)
    w1 = model.widths["conv1"]
    assert torch.equal(new.conv1.weight[:w1], model.conv1.weight)
    assert new.conv1.weight[w1:].abs().sum() > 0
    assert torch.equal(new.bn1.running_var[w1:], torch.ones(new.widths["conv1"] - w1))


def test_optimizer_momentum_carried_for_kept_units_zero_for_new():
    model = randomise_bn(build("vgg11", (1, 8, 8), 10, width_mult=0.125)).train()
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    torch.nn.functional.cross_entropy(model(torch.randn(4, 1, 8, 8)), torch.tensor([0, 1, 2, 3])).backward()
    opt.step()
    w = model.widths["conv1"]
    maps = {"conv1": UnitMap(torch.tensor([1, 0, 1] + list(range(2, w))))}
    new = remap_model(model, maps)
    new_opt = torch.optim.SGD(new.parameters(), lr=0.1, momentum=0.9)
    remap_optimizer(model, opt, new, new_opt, maps)
    old_buf = opt.state[model.conv1.weight]["momentum_buffer"]
    buf = new_opt.state[new.conv1.weight]["momentum_buffer"]
    assert torch.equal(buf[0], old_buf[1]) and torch.equal(buf[1], old_buf[0])
    assert float(buf[2].abs().max()) == 0.0  # the split copy starts with no momentum
    cons = new_opt.state[new.conv2.weight]["momentum_buffer"]
    assert torch.equal(cons[:, 0], opt.state[model.conv2.weight]["momentum_buffer"][:, 1])
    assert float(cons[:, 2].abs().max()) == 0.0


COUPLING = [("vgg11", (1, 28, 28)), ("resnet20", (1, 8, 8)), ("lenet5", (1, 28, 28)), ("mobilenetv2", (3, 16, 16)),
            ("squeezenet", (1, 28, 28))]


@pytest.mark.parametrize("arch,shape", COUPLING)
def test_zoo_groups_match_torch_pruning_dependency_graph(arch, shape):
    model = irregular_model(arch, shape, seed=0)
    check_coupling(model)
    assert zoo_members(model) == tp_members(model)


@pytest.mark.parametrize("arch", ["mobilenetv2", "squeezenet"])
@pytest.mark.parametrize("seed", [1, 2])
def test_depthwise_and_concat_coupling_at_other_widths(arch, seed):
    model = irregular_model(arch, (3, 8, 8), seed=seed)
    check_coupling(model)
    members = zoo_members(model)
    if arch == "mobilenetv2":   # the first block's depthwise conv is coupled to the stem; later ones to their expand
        assert ("blocks.0.conv2", "out", 1, 0) in members["stem"]
        assert ("blocks.1.conv2", "out", 1, 0) in members["s2b0"]
    else:                       # the next squeeze conv reads expand3 after expand1's channels
        assert ("fires.1.squeeze", "in", 1, model.widths["fire0_expand1"]) in members["fire0_expand3"]


def test_one_channel_depthwise_conv_is_followed_through():
    """At width 1 Torch-Pruning sees the depthwise conv as an ordinary conv; the cross-check still agrees."""
    widths = {g: 2 for g in default_widths("mobilenetv2")} | {"stem": 1, "s2b0": 1}
    torch.manual_seed(0)
    model = build("mobilenetv2", (3, 8, 8), 10, widths=widths)
    assert model.get_submodule("blocks.1.conv2").groups == 1
    check_coupling(model)


@pytest.mark.parametrize("arch,shape", COUPLING)
def test_pruning_equals_torch_pruning(arch, shape):
    """Our index surgery and Torch-Pruning's in-place pruning give identical tensors."""
    model = irregular_model(arch, shape, seed=6)
    ref = copy.deepcopy(model).eval()
    dg = tp.DependencyGraph().build_dependency(ref, example_inputs=torch.zeros(1, *shape))
    maps = {}
    for g in model.channel_groups():
        if g.width < 2:
            continue
        drop = [0, g.width - 1] if g.width > 2 else [1]
        maps[g.name] = keep_map([i for i in range(g.width) if i not in drop])
        root = ref.get_submodule(g.producers[0].layer)
        fn = tp.prune_conv_out_channels if isinstance(root, torch.nn.Conv2d) else tp.prune_linear_out_channels
        dg.get_pruning_group(root, fn, idxs=drop).prune()
    ours = remap_model(model, maps)
    theirs = ref.state_dict()
    for k, v in ours.state_dict().items():
        assert torch.equal(v, theirs[k]), k
