"""Pure pieces of training: phase arithmetic, growth/prune plans, cost bookkeeping (no training)."""

from __future__ import annotations

import pytest
import torch

from cgap.models import build
from cgap.train.config import TrainConfig
from cgap.train.grow import grow_count, grow_maps
from cgap.train.metrics import cost_of, forward_macs, target_unit_costs, unit_costs
from cgap.train.prune import l1_target_maps, prune_maps
from cgap_ir.errors import CgapError


@pytest.mark.parametrize("total", [3, 10, 57, 1000])
def test_every_phase_is_present_in_short_runs(total):
    grow_end, prune_end = TrainConfig(method="cgap").phase_steps(total)
    assert 1 <= grow_end < prune_end <= total
    assert TrainConfig(method="prune").phase_steps(total)[1] >= 1
    assert TrainConfig(method="full").phase_steps(total) == (0, 0)


def test_finetune_epochs_override():
    cfg = TrainConfig(method="cgap", epochs=10, finetune_epochs=2)
    grow_end, prune_end = cfg.phase_steps(100)
    assert prune_end == 80 and grow_end == round(0.3 / 0.7 * 80)


@pytest.mark.parametrize("field,value,flag", [("prune_rate", 1.5, "--prune-rate"), ("method", "big", "--method"),
                                              ("grow_frac", 0.8, "--grow-frac/--prune-frac"),
                                              ("width_cap", 0.1, "--width-cap")])
def test_bad_config_names_the_option(field, value, flag):
    with pytest.raises(CgapError, match=flag):
        TrainConfig(**{field: value}).validate()


def test_growth_respects_cap_and_picks_most_salient():
    assert grow_count(8, 0.25, 9) == 1 and grow_count(8, 0.25, 8) == 0 and grow_count(3, 0.1, 10) == 1
    maps = grow_maps({"a": 4, "b": 2}, {"a": torch.tensor([0.1, 0.9, 0.5, 0.2]), "b": torch.tensor([1.0, 2.0])},
                     0.5, {"a": 10, "b": 2}, "split")
    assert maps["a"].src.tolist() == [0, 1, 2, 3, 1, 2] and "b" not in maps


def test_prune_stops_as_soon_as_the_target_is_met():
    widths = {"a": 10, "b": 10}
    scores = {"a": torch.arange(10.0), "b": torch.arange(10.0) + 100}
    maps = prune_maps(scores, widths, 0.5, {"a": 1, "b": 1}, "layer", lambda w: sum(w.values()) > 17)
    # layer scope interleaves the groups' least salient units: a0, b0, a1 go; 17 units remain
    assert maps["a"].src.tolist() == list(range(2, 10)) and maps["b"].src.tolist() == list(range(1, 10))


def test_l1_target_keeps_the_largest_filters_uniformly():
    widths = {"a": 8, "b": 4}
    maps = l1_target_maps({"a": torch.arange(8.0), "b": torch.tensor([3.0, 1.0, 2.0, 0.0])}, widths,
                          {"a": 1, "b": 1}, lambda w: sum(w.values()) > 6)
    assert maps["a"].src.tolist() == [4, 5, 6, 7] and maps["b"].src.tolist() == [0, 2]


def test_costs_match_a_real_model_and_unit_costs_are_differences():
    widths = {"conv1": 3, "conv2": 5, "fc1": 7, "fc2": 4}
    model = build("lenet5", (1, 28, 28), 10, widths=widths)
    assert cost_of("lenet5", (1, 28, 28), 10, widths) == (model.count_params(), forward_macs(model, (1, 28, 28)))
    uc = unit_costs("lenet5", (1, 28, 28), 10, widths, "params")
    smaller = build("lenet5", (1, 28, 28), 10, widths={**widths, "conv2": 4})
    assert uc["conv2"] == model.count_params() - smaller.count_params()


def test_target_costs_weigh_each_resource_by_how_far_it_is_above_its_limit():
    shape, widths = (1, 28, 28), {"conv1": 6, "conv2": 16, "fc1": 120, "fc2": 84}
    params, macs = cost_of("lenet5", shape, 10, widths)
    up, um = (unit_costs("lenet5", shape, 10, widths, k) for k in ("params", "macs"))
    # only MACs above its limit: proportional to MAC savings
    only_macs = target_unit_costs("lenet5", shape, 10, widths, (params * 2, macs / 2))
    assert only_macs == pytest.approx({g: um[g] / macs for g in widths})
    # both above: each resource's share weighted by its relative excess (params 3x over, MACs 1.5x over)
    both = target_unit_costs("lenet5", shape, 10, widths, (params / 3, macs / 1.5))
    assert both == pytest.approx({g: 2.0 * up[g] / params + 0.5 * um[g] / macs for g in widths})
    # conv1 saves many MACs and few params, fc1 the other way round: the ranking follows the unmet target
    assert only_macs["conv1"] > only_macs["fc1"]
    assert target_unit_costs("lenet5", shape, 10, widths, (params / 2, None))["fc1"] > \
        target_unit_costs("lenet5", shape, 10, widths, (params / 2, None))["conv1"]
    assert target_unit_costs("lenet5", shape, 10, widths, (params, macs)) is None  # all met
