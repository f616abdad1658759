"""Hardware-aware CGaP: latency-ranked pruning, Pof alignment, saliency-sized growth, scratch/uniform baselines."""

from __future__ import annotations

import json
import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from cgap.checkpoint import read_checkpoint_dict
from cgap.models import default_widths, scale_widths
from cgap.train.baselines import MULT_STEPS, match_uniform
from cgap.train.config import TrainConfig
from cgap.train.grow import allocate, saliency_counts, uniform_counts
from cgap.train.latency import LatencyModel, aligned_widths, latency_ranked_units, table_points
from cgap.train.loop import train
from cgap.train.metrics import cost_of
from cgap.train.policy import CgapPolicy, PolicyConfig
from cgap.train.prune import normalised_scores, ranked_units
from cgap.train_cli import main as cli_main
from fpga_model.hw import load_hw

POF = 16
TINY = dict(arch="lenet5", dataset="digits", subset=400, batch_size=32, threads=1, epochs=2)


def quantised_cycles(widths: dict[str, int]) -> float:
    """A toy engine: group ``a`` costs 1000 cycles per started quantum of Pof output channels; ``b`` costs
    nothing (its removal saves no cycles at all)."""
    return 10 + 1000 * math.ceil(widths["a"] / POF) + 0 * widths["b"]


def test_latency_ranking_removes_a_whole_quantum_before_a_group_that_saves_nothing():
    widths, mins = {"a": 32, "b": 24}, {"a": 2, "b": 2}
    scores = {"a": torch.linspace(1.0, 2.0, 32), "b": torch.linspace(0.01, 1.0, 24)}  # b holds the least salient units
    plain = ranked_units(scores, widths, mins, "global")
    assert plain[0][0] == "b"  # hardware-blind ranking starts with the cheap-to-lose group
    ranked = latency_ranked_units(normalised_scores(scores), widths, mins, quantised_cycles, POF, limit=16)
    assert [g for g, _ in ranked[:16]] == ["a"] * 16
    assert [i for _, i in ranked[:16]] == list(range(16))  # a's 16 least salient units: one whole quantum
    assert quantised_cycles({"a": 16, "b": 24}) < quantised_cycles(widths)
    assert ranked[-1][0] == "b"  # b's units, which save no cycles, come last


@settings(max_examples=40, deadline=None)
@given(st.dictionaries(st.sampled_from("abcd"), st.integers(1, 40), min_size=1),
       st.integers(1, 3), st.integers(0, 60), st.integers(0, 10_000))
def test_latency_ranking_is_a_ranking_of_the_removable_units(widths, min_w, limit, seed):
    gen = torch.Generator().manual_seed(seed)
    mins = {g: min(min_w, w) for g, w in widths.items()}
    scores = normalised_scores({g: torch.rand(w, generator=gen) for g, w in widths.items()})
    weights = {g: k + 1 for k, g in enumerate(sorted(widths))}

    def cycles(w: dict[str, int]) -> float:
        return sum(weights[g] * (math.ceil(v / 4) * 7 + v) for g, v in w.items())

    ranked = latency_ranked_units(scores, widths, mins, cycles, 4, limit)
    assert len(set(ranked)) == len(ranked) == sum(widths[g] - mins[g] for g in widths)
    for g in widths:  # within a group, least salient first
        mine = [scores[g][i] for h, i in ranked if h == g]
        assert mine == sorted(mine)


def test_table_points_and_alignment():
    assert table_points(40, 2, 16) == [39, 32, 16, 2]
    assert table_points(16, 2, 16) == [15, 2]
    assert table_points(3, 3, 16) == []
    assert aligned_widths({"a": 52, "b": 10, "c": 48, "d": 17}, 16, {"a": 2, "b": 2, "c": 2, "d": 2}) == \
        {"a": 48, "b": 10, "c": 48, "d": 16}
    assert aligned_widths({"a": 20}, 16, {"a": 18}) == {"a": 18}


def test_engine_latency_is_tile_quantised_in_output_channels():
    """On the real engine model: conv1's output channels alone (LeNet-5, 1x28x28, zcu102-16b, Pof=16)."""
    model = LatencyModel("lenet5", (1, 28, 28), 10, load_hw("zcu102-16b"))
    assert model.quantum == POF
    base = {"conv1": 6, "conv2": 32, "fc1": 120, "fc2": 84}
    per_width = {w: model.cycles({**base, "conv2": w}) for w in (17, 24, 31, 32, 33)}
    assert per_width[33] > per_width[32]  # crossing a Pof multiple costs cycles
    assert model.cycles(base) == model.cycles(dict(base))  # memoised
    assert model.simulations <= 6


def test_policy_latency_target():
    config = PolicyConfig(method="cgap", grow_end=10, prune_end=20, grow_interval=2, prune_interval=2,
                          saliency_window=2, target_latency=0.5)
    policy = CgapPolicy(config, {"a": 64, "b": 8}, lambda w: (w["a"] + w["b"], w["a"]),
                        latency=lambda w: float(quantised_cycles({"a": w["a"], "b": w["b"]})))
    assert policy.full_latency == quantised_cycles({"a": 64, "b": 8})
    assert policy.needs_more({"a": 64, "b": 8})
    assert policy.needs_more({"a": 48, "b": 1})
    assert policy.needs_more({"a": 32, "b": 8})      # 2010 cycles > half of 4010
    assert not policy.needs_more({"a": 16, "b": 8})
    with pytest.raises(ValueError):
        CgapPolicy(config, {"a": 4}, lambda w: (1, 1))


def test_policy_growth_plateau_on_growth_steps():
    config = PolicyConfig(method="cgap", grow_end=100, prune_end=200, grow_interval=10, prune_interval=10,
                          saliency_window=5, grow_patience=2)
    policy = CgapPolicy(config, {"a": 8}, lambda w: (w["a"], w["a"]))
    assert policy.grow_checkpoint(50.0, 0, 10) and policy.grow_checkpoint(60.0, 0, 20)
    assert policy.grow_checkpoint(60.05, 0, 30)      # no gain: 1 stale step
    assert not policy.grow_checkpoint(59.0, 0, 40)   # 2 stale steps: growth stops
    assert "plateau" in policy.state.stop_reasons["growing"]


def test_saliency_allocation_gives_more_units_to_the_more_salient_group():
    widths, caps = {"low": 16, "high": 16}, {"low": 64, "high": 64}
    scores = {"low": torch.full((16,), 0.1), "high": torch.full((16,), 0.3)}
    counts = saliency_counts(widths, scores, 0.25, caps)
    assert counts["high"] > counts["low"]
    assert counts == {"high": 6, "low": 2}  # 8 units (the uniform total) shared 3:1
    assert sum(counts.values()) == sum(uniform_counts(widths, 0.25, caps).values())
    weighted = saliency_counts(widths, scores, 0.25, caps, unit_cost={"low": 1.0, "high": 6.0})
    assert weighted["low"] > weighted["high"]  # the high group's units are 6x dearer on the engine


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 200), st.dictionaries(st.sampled_from("abcdef"), st.tuples(st.floats(0, 10), st.integers(0, 50)),
                                            min_size=1))
def test_allocate_respects_rooms_and_total(total, groups):
    shares = {g: s for g, (s, _) in groups.items()}
    room = {g: r for g, (_, r) in groups.items()}
    counts = allocate(total, shares, room)
    assert sum(counts.values()) == min(total, sum(room.values()))
    assert all(0 <= counts[g] <= room[g] for g in groups)


def test_uniform_match_is_within_one_width_step():
    ref = scale_widths(default_widths("vgg11"), 0.25)

    def macs(w: dict[str, int]) -> float:
        return cost_of("vgg11", (1, 28, 28), 10, w)[1]

    target = 0.37 * macs(ref)
    found = match_uniform(ref, target, macs, "macs")
    assert found.cost <= target < macs(scale_widths(ref, found.mult + 1 / MULT_STEPS))


@pytest.fixture(scope="module")
def latency_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("hw") / "cgap-latency"
    cfg = TrainConfig(out=str(out), method="cgap", prune_cost="latency", hw="zcu102-16b", target_latency=0.6,
                      target_params=None, target_macs=None, align="pof", align_budget=100.0,
                      grow_alloc="saliency", **{**TINY, "epochs": 4})
    return train(cfg, progress=False)


def test_latency_run_meets_its_target_and_aligns(latency_run):
    hist = json.loads((latency_run.out_dir / "history.json").read_text())
    final = hist["final"]
    assert final["latency_frac"] <= 0.6
    assert hist["full_reference"]["latency_cycles"] > final["latency_cycles"]
    aligns = [e for e in hist["events"] if e["kind"] == "align"]
    assert len(aligns) == 1 and aligns[0]["step"] == hist["events"][-2]["step"]  # once, when pruning stopped
    assert all(w <= POF or w % POF == 0 for w in latency_run.model.widths.values())
    assert "growth steps" in hist["run"]["stop_reasons"]["growing"]  # --grow-alloc saliency: plateau on growth steps


def test_scratch_trains_exactly_the_read_widths(latency_run, tmp_path):
    src = latency_run.out_dir / "model.pt"
    res = train(TrainConfig(out=str(tmp_path / "scratch"), method="scratch", arch_from=str(src), **TINY),
                progress=False)
    read = read_checkpoint_dict(src)["widths"]
    assert res.model.widths == read
    assert read_checkpoint_dict(tmp_path / "scratch" / "model.pt")["widths"] == read
    hist = json.loads((tmp_path / "scratch" / "history.json").read_text())
    assert all(e["widths"] == read for e in hist["epochs"]) and not hist["events"]
    assert hist["baseline"]["arch_from"] == str(src)


@pytest.mark.parametrize("by", ["latency", "macs"])
def test_uniform_matches_the_run_within_one_width_step(latency_run, tmp_path, by):
    src = latency_run.out_dir / "model.pt"
    res = train(TrainConfig(out=str(tmp_path / "uniform"), method="uniform", match=str(src), match_by=by, **TINY),
                progress=False)
    base = json.loads((tmp_path / "uniform" / "history.json").read_text())["baseline"]
    ref = scale_widths(default_widths("lenet5"), 1.0)
    assert res.model.widths == scale_widths(ref, base["width_mult"])
    if by == "latency":
        model = LatencyModel.from_spec("lenet5", (1, 8, 8), 10, None)
        cost = model.cycles
    else:
        def cost(w: dict[str, int]) -> float:
            return cost_of("lenet5", (1, 8, 8), 10, w)[1]
    target = cost(latency_run.model.widths)
    assert cost(res.model.widths) <= target < cost(scale_widths(ref, base["width_mult"] + base["step"]))


@pytest.mark.parametrize("argv, needle", [
    (["--method", "scratch"], "--arch-from"),
    (["--method", "uniform"], "--match"),
    (["--method", "scratch", "--arch-from", "nope.pt"], "not found"),
    (["--method", "cgap", "--match", "x.pt"], "--match is read by --method uniform only"),
    (["--method", "cgap", "--prune-cost", "latency", "--hw", "no-such-board"], "unknown hw preset"),
    (["--method", "cgap", "--target-latency", "1.5"], "--target-latency"),
])
def test_bad_baseline_and_hw_input_is_one_line(tmp_path, capsys, argv, needle):
    code = cli_main(["train", "--arch", "lenet5", "--dataset", "digits", "--out", str(tmp_path / "o"),
                     "--no-progress", *argv])
    err = capsys.readouterr().err.strip()
    assert code == 2 and needle in err and len(err.splitlines()) == 1
    assert not (tmp_path / "o").exists()


def test_scratch_refuses_a_checkpoint_of_another_arch(latency_run, tmp_path, capsys):
    code = cli_main(["train", "--arch", "vgg11", "--dataset", "digits", "--out", str(tmp_path / "o"), "--no-progress",
                     "--method", "scratch", "--arch-from", str(latency_run.out_dir / "model.pt")])
    err = capsys.readouterr().err.strip()
    assert code == 2 and "'lenet5'" in err and len(err.splitlines()) == 1
