"""DSE: optimality and fronts against brute force on a small grid, fits, pruning exactness, errors, JSON, CLI."""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import json

import numpy as np
import pytest

from cgap.dse_cli import add_dse_parser, run_dse
from cgap_ir.errors import CgapError
from fpga_model.devices import get_device
from fpga_model.dse import DseError, Grid, explore, make_hw, pareto_indices
from fpga_model.engine_sim import simulate
from fpga_model.geometry import network_geometry
from fpga_model.hw import load_hw
from fpga_model.report import totals
from fpga_model.resource_lines import resource_dict, resource_summary
from fpga_model.resources import estimate_layers
from fpga_model.schedule import ScheduleError, schedule
from fpga_model.testnets import lenet5, resnet_cifar

NET = resnet_cifar(8, widths=(8, 12, 24))
DEVICE = get_device("xc7z020")
GRID = Grid(pox=(1, 2, 4, 8), poy=(2, 4), pof=(3, 8, 16), bits=(8, 16), input_kib=(4, 16, 64, 256),
            weight_kib=(4, 32), output_kib=(8, 64))


def _brute_force(net, device, grid):
    """Return {(shape, kib): (cycles, energy uJ, dsp, fits)} for every grid point, one full simulate each."""
    out = {}
    for bits, pox, poy, pof, kib in itertools.product(grid.bits, grid.pox, grid.poy, grid.pof,
                                                      itertools.product(*grid.buffer_sizes())):
        hw = make_hw(device, pox, poy, pof, bits, kib)
        try:
            tot = totals(simulate(net, hw))
        except ScheduleError:
            out[(pox, poy, pof, bits, kib)] = (None, None, None, False)
            continue
        rep = estimate_layers(schedule(net, hw), hw, device)        # what cgap-export estimates for the project
        out[(pox, poy, pof, bits, kib)] = (tot["cycles"], tot["energy_pj"]["total"] / 1e6, rep.used["dsp"], rep.fits)
    return out


@pytest.fixture(scope="module")
def brute():
    return _brute_force(NET, DEVICE, GRID)


def _key(d):
    hw = d.hw
    return (hw.pox, hw.poy, hw.pof, hw.act_bits, (hw.input_buffer_kib, hw.weight_buffer_kib, hw.output_buffer_kib))


def _value(objective, cycles, energy):
    lat = cycles / DEVICE.clock_mhz
    return {"latency": lat, "energy": energy, "edp": lat * energy / 1000}[objective]


def test_brute_force_grid_covers_column_and_channel_tiling():
    """The grid's small buffers make the chooser tile output columns and input channels somewhere (so the
    optimality tests below cover those tilings), and the large ones leave some designs untiled."""
    tiled = {"columns": 0, "channels": 0, "whole": 0}
    for pox, poy, pof, bits, kib in itertools.product(GRID.pox[:2], GRID.poy, GRID.pof, GRID.bits,
                                                      [(4, 4, 8), (256, 32, 64)]):
        for lay in schedule(NET, make_hw(DEVICE, pox, poy, pof, bits, kib)):
            if lay.kind == "conv":
                tiled["columns"] += lay.x_tile < lay.conv_out[2]
                tiled["channels"] += lay.split_channels
                tiled["whole"] += lay.x_tile == lay.conv_out[2] and not lay.split_channels
    assert all(n > 0 for n in tiled.values()), tiled


@pytest.mark.parametrize("objective", ["latency", "energy", "edp"])
@pytest.mark.parametrize("prune", [True, False])
def test_best_is_optimal_against_brute_force(brute, objective, prune):
    result = explore(NET, DEVICE, objective, grid=GRID, prune=prune)
    fitting = {k: v for k, v in brute.items() if v[3]}
    assert any(not v[3] for v in brute.values())                      # the budget binds somewhere
    best = result.best
    assert best.resources.fits
    cycles, energy, _, _ = brute[_key(best)]
    assert best.cycles == cycles and best.energy_uj == pytest.approx(energy, rel=1e-9)
    mine = _value(objective, best.cycles, best.energy_uj)
    assert all(mine <= _value(objective, c, e) * (1 + 1e-12) for c, e, _, _ in fitting.values())


@pytest.mark.parametrize("objective", ["latency", "energy", "edp"])
def test_best_only_search_finds_the_same_best_with_fewer_shapes(objective):
    full = explore(NET, DEVICE, objective, grid=GRID, fronts=True)
    best_only = explore(NET, DEVICE, objective, grid=GRID, fronts=False)
    assert best_only.best.hw == full.best.hw and best_only.best.cycles == full.best.cycles
    assert best_only.stats["array_shapes_pruned"] >= full.stats["array_shapes_pruned"]
    assert best_only.stats["exact_fronts"] is False and full.stats["exact_fronts"] is True


@pytest.mark.parametrize("prune", [True, False])
def test_fronts_match_brute_force(brute, prune):
    result = explore(NET, DEVICE, "latency", grid=GRID, prune=prune)
    fit = [(k, v) for k, v in brute.items() if v[3]]
    lat = np.array([v[0] / DEVICE.clock_mhz for _, v in fit])
    energy = np.array([v[1] for _, v in fit])
    dsp = np.array([v[2] for _, v in fit])
    want_dsp = [(dsp[i], lat[i]) for i in pareto_indices(dsp, lat, energy)]
    want_energy = [(lat[i], energy[i]) for i in pareto_indices(lat, energy, dsp)]
    assert [(d.resources.used["dsp"], d.latency_us) for d in result.front_dsp] == want_dsp
    got = [(d.latency_us, d.energy_uj) for d in result.front_energy]
    assert np.allclose(got, want_energy, rtol=1e-9)
    for d in [result.best, *result.front_dsp, *result.front_energy]:
        assert d.resources.fits and d.hw.part == DEVICE.part


def test_pruning_skips_work_but_not_the_answer():
    full = explore(NET, DEVICE, grid=GRID, prune=False)
    fast = explore(NET, DEVICE, grid=GRID, prune=True)
    assert fast.best.hw == full.best.hw
    assert fast.stats["array_shapes_pruned"] > 0 and full.stats["array_shapes_pruned"] == 0
    assert fast.stats["simulate_layer_calls"] < full.stats["simulate_layer_calls"]


def test_best_hw_round_trips_through_toml(tmp_path):
    from fpga_model.hw import hw_to_toml
    result = explore(NET, DEVICE, grid=GRID)
    path = tmp_path / "hw.toml"
    path.write_text(hw_to_toml(result.best.hw))
    hw = load_hw(path)
    assert hw == result.best.hw
    assert totals(simulate(NET, hw))["cycles"] == result.best.cycles


def test_result_json_shape():
    doc = json.loads(json.dumps(explore(NET, DEVICE, "edp", grid=GRID).to_dict()))
    assert set(doc) == {"network", "device", "objective", "best", "pareto", "stats"}
    assert set(doc["pareto"]) == {"latency_dsp", "latency_energy"}
    assert {"pox", "poy", "pof", "bits", "input_kib", "latency_us", "energy_uj", "edp_uj_ms",
            "resources"} <= set(doc["best"])
    assert doc["stats"]["designs_in_grid"] == doc["stats"]["array_shapes"] * 16
    assert doc["best"]["resources"]["fits"] is True


def test_errors_are_one_line():
    with pytest.raises(DseError, match="unknown objective"):
        explore(NET, DEVICE, "power", grid=GRID)
    no_dsp = dataclasses.replace(DEVICE, dsp=2)
    with pytest.raises(DseError) as err:
        explore(NET, no_dsp, grid=GRID)
    # 1x2x3 array at 8 bits: 6 MACs, 1 per DSP48E1, and V + 1 (GAP) = 9 dividers of 16 x 17 bits, 1 DSP each
    assert "needs 15 DSP (budget 2)" in str(err.value)
    no_bram = dataclasses.replace(DEVICE, bram=3)
    with pytest.raises(DseError) as err:
        explore(NET, no_bram, grid=GRID)
    msg = str(err.value)
    assert "no design fits" in msg and "BRAM (budget 3)" in msg and "\n" not in msg


def _args(*argv):
    parser = argparse.ArgumentParser()
    add_dse_parser(parser.add_subparsers(dest="command"))
    return parser.parse_args(["dse", *argv])


def test_cli_writes_usable_config_and_json(tmp_path, capsys, monkeypatch):
    import cgap.dse_cli as cli
    monkeypatch.setattr(cli, "network_from_args", lambda args: lenet5())
    out, plot = tmp_path / "hw.toml", tmp_path / "front.png"
    assert run_dse(_args("m.onnx", "--device", "pynq-z2", "--bits", "8", "--out", str(out), "--json",
                         "--plot", str(plot))) == 0
    doc = json.loads(capsys.readouterr().out)
    hw = load_hw(out)
    assert hw.act_bits == 8 and doc["best"]["pox"] == hw.pox and plot.stat().st_size > 0
    assert totals(simulate(lenet5(), hw))["cycles"] == doc["best"]["cycles"]
    assert run_dse(_args("m.onnx", "--device", "xc7z020", "--bits", "16")) == 0
    text = capsys.readouterr().out
    assert "Pareto front latency vs DSPs" in text and "fits" in text


def test_cli_says_when_a_large_grid_was_searched_for_the_best_only(capsys, monkeypatch):
    import cgap.dse_cli as cli
    import fpga_model.dse as dse
    monkeypatch.setattr(cli, "network_from_args", lambda args: lenet5())
    monkeypatch.setattr(dse, "FRONT_GRID_LIMIT", 0)          # every grid counts as large
    assert run_dse(_args("m.onnx", "--device", "xc7z020", "--bits", "8")) == 0
    assert "searched for the best design only" in capsys.readouterr().out
    assert run_dse(_args("m.onnx", "--device", "xc7z020", "--bits", "8", "--fronts")) == 0
    assert "best design only" not in capsys.readouterr().out


def test_cli_bad_inputs():
    with pytest.raises(CgapError, match="did you mean 'xcu250'"):
        run_dse(_args("m.onnx", "--device", "xcu25"))
    with pytest.raises(CgapError, match="either a MODEL file or --arch"):
        run_dse(_args("--device", "xcu250"))


def test_resource_summary_for_presets():
    hw = load_hw("pynq-z2-16b")
    line = resource_summary(hw, network_geometry(lenet5(), hw))
    # 128 MACs + V = 4 conv-store dividers of 18 x 19 bits, 2 DSP48E1 each
    assert line.startswith("resources on xc7z020") and "DSP 136/220" in line and line.endswith("— fits")
    zcu = load_hw("zcu102-16b")
    assert resource_dict(zcu, network_geometry(lenet5(), zcu))["device"] == "xczu9eg"
    tiny = dataclasses.replace(load_hw("tiny-test"), part="xc7a35tcpg236-1")
    assert "not estimated" in resource_summary(tiny, network_geometry(lenet5(), tiny))
    assert resource_dict(tiny, network_geometry(lenet5(), tiny), "xc7z020")["fits"] is True


def test_dse_and_export_print_the_same_estimate(lenet_ckpt, tmp_path, capsys):
    """`cgap dse` and `cgap-export` estimate the same design alike: the export of the DSE's best HwConfig prints
    the resource line the DSE printed for it."""
    from cgap.cli import main
    from cgap.export_cli import main as export_main

    hw_toml = tmp_path / "hw.toml"
    assert main(["dse", str(lenet_ckpt), "--device", "xc7z020", "--bits", "16", "--out", str(hw_toml)]) == 0
    dse_lines = capsys.readouterr().out.splitlines()
    assert export_main([str(lenet_ckpt), "--target", "fpga", "--hw", str(hw_toml), "--dataset", "digits",
                        "--out", str(tmp_path / "project")]) == 0
    export_lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("resources on")]
    assert len(export_lines) == 1 and export_lines[0] in dse_lines and export_lines[0].endswith("— fits")


def test_array_shapes_never_exceed_the_hw_mac_limit():
    """An ImageNet network's divisor grid reaches millions of MACs (224 x 224 x 64); the search must skip those
    shapes instead of building a HwConfig outside its own limits (which raised at once before)."""
    from fpga_model.dse import array_shapes
    from fpga_model.hw import MAX_MACS
    from fpga_model.schedule import fuse

    grid = Grid(pox=(1, 224), poy=(1, 224), pof=(1, 64), bits=(8,), input_kib=(64,), weight_kib=(64,),
                output_kib=(64,))
    shapes = array_shapes(grid, get_device("xcu250"), fuse(NET))
    assert (224, 224, 64, 8) not in shapes and 224 * 224 * 64 > MAX_MACS
    assert (1, 1, 1, 8) in shapes and all(x * y * f <= MAX_MACS for x, y, f, _ in shapes)
