"""Generated HLS projects compiled with g++ (-Wall -Wextra -Werror) and C-simulated: bit-exact vs the golden model,
no HLS lint finding (cgap.hls.lint), pipeline iteration counts == fpga_model.schedule.compute_iterations,
saturations == golden, DRAM bytes per layer == fpga_model.engine_sim.simulate."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import pytest

from cgap.hls import compile_network, export_fpga
from cgap.hls.export import golden_outputs
from cgap_ir import executor
from fpga_model.engine_sim import simulate
from fpga_model.hw import PRESETS
from tests.hls_nets import concat_net, plain_net, relu_net, residual_net, wide_net

# Irregular arrays: most layer widths (1, 4, 5, 7, 36; maps 9, 5, 3, 1) are no multiple of them; ODD_16's small
# buffers force several output-row and output-channel tiles, the last ones partial.
ODD_16 = dataclasses.replace(PRESETS["tiny-test"], name="odd-16b", pox=3, poy=2, pof=3, input_buffer_kib=1,
                             weight_buffer_kib=1, output_buffer_kib=1)
ODD_8 = dataclasses.replace(PRESETS["zcu102-8b"], name="odd-8b", pox=4, poy=3, pof=7, input_buffer_kib=1,
                            weight_buffer_kib=1, output_buffer_kib=6)   # 16-word beats: 7 x 17 output banks

# WIDE_16's 1 KiB buffers make wide_net tile output columns (a fused pool's and a residual's rows in pieces that
# start on a beat) and input channels (partial sums kept on chip across channel tiles).
WIDE_16 = dataclasses.replace(PRESETS["tiny-test"], name="wide-16b", pox=3, poy=2, pof=3, input_buffer_kib=1,
                              weight_buffer_kib=1, output_buffer_kib=1)

CASES = {"residual-16b": (residual_net, ODD_16), "plain-8b": (plain_net, ODD_8), "wide-16b": (wide_net, WIDE_16),
         "concat-8b": (concat_net, dataclasses.replace(ODD_8, name="odd-8b-concat")),
         "residual-8b-zcu102": (residual_net, PRESETS["zcu102-8b"]),
         "relu-16b": (relu_net, dataclasses.replace(ODD_16, name="odd-16b-relu"))}
CASES_BY_HW = {hw.name: make for make, hw in CASES.values()}


def _export(make, hw, out: Path, calib_scale: float = 0.3, images: int = 6) -> dict:
    net = make()
    x = np.random.default_rng(7).normal(0, 1, (100, *net.input_shape))
    # Calibrating on a narrower distribution than the verify images forces saturation events.
    labels = np.arange(images) % 4
    return export_fpga(net, hw, out, x * calib_scale, net.name, verify_images=x[:images], labels=labels, opt="-O1")


@pytest.fixture(scope="module", params=sorted(CASES))
def exported(request):
    make, hw = CASES[request.param]
    with tempfile.TemporaryDirectory(prefix="cgap-csim-") as tmp:
        yield _export(make, hw, Path(tmp)), hw


def test_csim_is_bit_exact(exported):
    summary, _ = exported
    report = summary["verify"]
    assert report["bit_exact"] is True
    assert report["images"] == 6
    verify = json.loads((Path(summary["project"]) / "verify.json").read_text())
    assert verify["bit_exact"] is True
    assert verify["lint_findings"] == 0 and verify["lint"] == [], verify["lint"]  # cgap.hls.lint: nothing Vitis rejects
    assert 0.0 <= report["fixed_accuracy"] <= 1.0 and "float_accuracy" in report


def test_iterations_equal_compute_iterations(exported):
    report = exported[0]["verify"]
    assert report["iterations_match"] is True
    for layer in report["layers"]:
        assert layer["iterations"] == layer["expected_iterations"] > 0, layer["name"]


def test_cycles_equal_simulator(exported):
    """The cycles the C engine counts per layer (every loop's iterations, fills and burst latencies, each tile
    step the max of its stages and the DRAM device time) equal the simulator's, in total and for compute."""
    report = exported[0]["verify"]
    assert report["cycles_match"] is True and report["cycles"] == report["sim_cycles"] > 0
    for layer in report["layers"]:
        assert layer["cycles"] == layer["sim_cycles"] >= layer["compute_cycles"] == layer["sim_compute_cycles"]
        assert layer["compute_cycles"] >= layer["iterations"] > 0, layer["name"]


def test_dram_bytes_equal_simulator(exported):
    """The beats the engine's burst loops move, per layer and port (weights, activations read, written), times
    the port width, equal the simulator's LayerResult DRAM bytes exactly."""
    summary, hw = exported
    report = summary["verify"]
    assert report["dram_bytes_match"] is True
    net = CASES_BY_HW[hw.name]()
    sim = simulate(compile_network(net, hw, np.random.default_rng(7).normal(0, 1, (100, *net.input_shape)) * 0.3,
                                   "t").layers, hw)
    assert len(sim.layers) == len(report["layers"])
    for r, s in zip(report["layers"], sim.layers, strict=True):
        assert r["dram_bytes"] == [s.dram_read_weight_bytes, s.dram_read_act_bytes, s.dram_write_bytes], r["name"]
        assert r["dram_bytes"][1] > 0 and r["dram_bytes"][2] > 0
        assert (r["dram_bytes"][0] > 0) == (r["kind"] == "conv")


def test_saturations_equal_golden_and_happen(exported):
    layers = exported[0]["verify"]["layers"]
    assert [r["saturations"] for r in layers] == [r["golden_saturations"] for r in layers]
    assert sum(r["saturations"] for r in layers) > 0


def test_concat_parts_write_one_tensor_at_one_binary_point():
    """A Concat is addressing: its parts' layers write their channels at an offset of one DRAM tensor (no copy
    layer), all at the binary point the widest part needs, and the fixed-point output tracks the float one."""
    net = concat_net()
    x = np.random.default_rng(0).normal(0, 1, (100, *net.input_shape))
    c = compile_network(net, ODD_8, x, "t")
    parts = [p for p in c.engine.layers if p.layer.out_channels]
    assert [p.layer.out_offset for p in parts] == [0, 4, 0, 4] and all(p.layer.kind == "conv" for p in parts)
    assert len({p.quant.out_frac for p in parts if p.layer.output == "cat1"}) == 1
    assert len(c.layers) == 8                                     # two concats, no layer for either
    rows = {lay.name: r for lay, r in zip(c.layers, c.program.rows, strict=True)}
    plane = lambda name: rows[name]["ooy"] * -(-rows[name]["oox"] // c.program.constants["V"])  # noqa: E731
    assert rows["cb"]["out_off"] == rows["ca"]["out_off"] + 4 * plane("ca")
    c16 = compile_network(net, ODD_16, x, "t")      # 16 bits: quantisation error far below a wrong binary point's 2x
    _, yq, _ = golden_outputs(c16, x[:20])
    fixed = yq * 2.0 ** -c16.engine.tensor_frac(c16.engine.output)
    float_out = executor.run(net, x[:20]).reshape(20, -1)
    assert np.max(np.abs(fixed - float_out)) < 0.01 * np.max(np.abs(float_out))


def test_wide_net_really_tiles_columns_and_input_channels():
    make, hw = CASES["wide-16b"]
    net = make()
    c = compile_network(net, hw, np.random.default_rng(0).normal(0, 1, (100, *net.input_shape)), "t")
    conv = [lay for lay in c.layers if lay.kind == "conv"]
    assert any(lay.x_tile < lay.conv_out[2] and lay.pool for lay in conv)
    assert any(lay.x_tile < lay.conv_out[2] and lay.split_channels and lay.residual for lay in conv)
    assert c.program.constants["HAS_PSUM"] == 1


def test_odd_array_really_tiles_rows_and_channels():
    make, hw = CASES["residual-16b"]
    net = make()
    c = compile_network(net, hw, np.random.default_rng(0).normal(0, 1, (100, *net.input_shape)), "t")
    conv = [lay for lay in c.layers if lay.kind == "conv"]
    assert any(lay.toy < lay.conv_out[1] for lay in conv) and any(lay.tof < lay.conv_out[0] for lay in conv)
    assert any(lay.conv_out[0] % hw.pof and lay.conv_out[2] % hw.pox for lay in conv)


def test_csim_fails_on_a_wrong_golden_word(exported):
    project = Path(exported[0]["project"])
    golden = project / "tb_data" / "golden.bin"
    raw = bytearray(golden.read_bytes())
    raw[0] ^= 0x01
    golden.write_bytes(bytes(raw))
    run = subprocess.run(["./build/csim", "."], cwd=project, capture_output=True, text=True)
    assert run.returncode == 1 and "FAIL" in run.stdout


def test_a_crashed_csim_is_one_error_naming_binary_status_and_log(exported, tmp_path):
    """A testbench killed by a signal (here: a stand-in binary that segfaults) is reported as one line naming the
    binary, its exit status and the log kept from its output, not as a missing-file error."""
    import shutil

    from cgap.hls.csim import CsimError, run_csim
    from cgap.hls.export import _read_outputs

    project = tmp_path / "crash"
    shutil.copytree(exported[0]["project"], project)
    binary = project / "build" / "csim"
    binary.write_text("#!/bin/sh\necho 'about to crash'\nkill -SEGV $$\n")
    binary.chmod(0o755)
    (project / "tb_data" / "csim_out.bin").unlink()
    csim = run_csim(project, opt="-O1")
    assert csim.returncode < 0
    with pytest.raises(CsimError) as err:
        _read_outputs(project, csim, (6, 4), 16)
    message = str(err.value)
    assert "\n" not in message and str(binary) in message and f"status {csim.returncode}" in message
    assert "about to crash" in (project / "tb_data" / "csim.log").read_text()
