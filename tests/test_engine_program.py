"""The engine program: one lowering, an exact JSON round trip, and the same layers (names, tiles, cycles) in
`cgap sim` of a network, of a generated project's program.json, and in the project's verify.json."""

from __future__ import annotations

import json

import numpy as np
import pytest

from cgap.cli import main
from cgap.hls import export_fpga
from cgap.lower import lower, lower_network, quantize
from fpga_model.engine_program import EngineProgram, ProgramError
from fpga_model.engine_sim import simulate
from fpga_model.hw import PRESETS
from tests.hls_nets import plain_net, residual_net

HW = PRESETS["zcu102-16b"]


def _arrays_equal(a: EngineProgram, b: EngineProgram) -> bool:
    pairs = [(p.weight, q.weight) for p, q in zip(a.layers, b.layers, strict=True)]
    pairs += [(p.bias, q.bias) for p, q in zip(a.layers, b.layers, strict=True)]
    pairs += [(p.quant.weight, q.quant.weight) for p, q in zip(a.layers, b.layers, strict=True) if p.quant]
    pairs += [(p.quant.bias, q.quant.bias) for p, q in zip(a.layers, b.layers, strict=True) if p.quant]
    return all((x is None and y is None) or (x is not None and y is not None and x.dtype == y.dtype
                                             and np.array_equal(x, y)) for x, y in pairs)


@pytest.mark.parametrize("make", [residual_net, plain_net])
def test_json_round_trip_is_exact(make):
    net = make()
    x = np.random.default_rng(0).normal(0, 1, (100, *net.input_shape))
    lowered = lower_network(net, HW)
    for program in (lowered.program, quantize(lowered, x)):
        back = EngineProgram.from_json(program.to_json())
        assert back == program and _arrays_equal(back, program)
        assert back.to_json() == program.to_json()


def test_lowering_folds_bn_once_so_sim_and_export_name_layers_alike():
    net = residual_net()
    names = [layer.name for layer in lower(net, HW).engine_layers]
    assert [r.name for r in simulate(net, HW).layers] == names
    assert not any(n.endswith("_conv") and n.replace("_conv", "_bn") in names for n in names)


def test_a_bad_program_file_is_one_line(tmp_path):
    with pytest.raises(ProgramError, match="not a cgap engine program"):
        EngineProgram.from_json(json.dumps({"format": "something else"}), "x.json")
    with pytest.raises(ProgramError, match="not a readable cgap engine program"):
        EngineProgram.from_json("{not json", "x.json")
    program = lower(residual_net(), HW)
    with pytest.raises(ProgramError, match="tiled for hw"):
        simulate(program, PRESETS["pynq-z2-16b"])


def test_sim_of_the_generated_project_equals_its_verify_json(tmp_path, capsys):
    """`cgap sim PROJECT` simulates exactly the generated layer table: the same layer names, cycles and DRAM
    bytes as the C-simulation counted in verify.json, and the same names as `cgap sim` of the network."""
    net = residual_net()
    x = np.random.default_rng(1).normal(0, 1, (100, *net.input_shape))
    summary = export_fpga(net, HW, tmp_path, x, "res", verify_images=x[:2], opt="-O1")
    project = summary["project"]
    verify = summary["verify"]
    assert main(["sim", project, "--json"]) == 0
    sim = json.loads(capsys.readouterr().out)
    assert [r["name"] for r in sim["layers"]] == [r["name"] for r in verify["layers"]]
    assert [r["cycles"] for r in sim["layers"]] == [r["cycles"] for r in verify["layers"]]
    assert [[r["dram_read_weight_bytes"], r["dram_read_act_bytes"], r["dram_write_bytes"]] for r in sim["layers"]] \
        == [r["dram_bytes"] for r in verify["layers"]]
    assert sim["total"]["cycles"] == verify["cycles"] and verify["cycles_match"]
    assert [r.name for r in simulate(net, HW).layers] == [r["name"] for r in sim["layers"]]
    assert main(["sim", f"{project}/program.json", "--hw", "pynq-z2-16b"]) == 2      # another hw: one-line error
    assert "tiled for hw" in capsys.readouterr().err
