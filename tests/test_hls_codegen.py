"""Rendering, synthesis-friendliness scan of the generated firmware, atomic writing and bad-input errors."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import numpy as np
import pytest
from jinja2 import UndefinedError

from cgap.errors import CgapError
from cgap.hls import compile_network, export_fpga, render, write_plan
from cgap.hls.render import _env
from cgap.ir import Conv2d, Flatten, Linear, Network, Node
from fpga_model.hw import PRESETS, hw_from_toml_dict
from tests.hls_nets import plain_net, residual_net

FORBIDDEN = {
    "dynamic memory": r"\b(new|delete|malloc|calloc|realloc|free)\b\s*[\(\[]?",
    "STL": r"std::|#include\s*<(vector|map|list|string|deque|set|memory)>",
    "unbounded loop": r"\bwhile\b|\bgoto\b",
}
CONSTANT_BOUND = re.compile(r"for \(int \w+ = [^;]+; \w+ (<|>=) (CGAP_PO[XYF]|CGAP_NUM_LAYERS|0|\d+);")


def _plan(make=residual_net, hw=PRESETS["zcu102-16b"]):
    net = make()
    x = np.random.default_rng(0).normal(0, 1, (100, *net.input_shape))
    c = compile_network(net, hw, x, "scan")
    return render(c.program, c.spec, hw), c


def _firmware(plan) -> dict[str, str]:
    return {p: t for p, t in plan.items() if p.startswith("firmware/")}


def _strip_comments(text: str) -> str:
    return re.sub(r"//[^\n]*", "", text)


@pytest.mark.parametrize("make", [residual_net, plain_net])
def test_firmware_has_no_dynamic_memory_stl_or_unbounded_loops(make):
    for path, text in _firmware(_plan(make)[0]).items():
        code = _strip_comments(text)
        for what, pattern in FORBIDDEN.items():
            assert not re.search(pattern, code), f"{path}: {what}"


def test_every_variable_loop_has_a_tripcount():
    for path, text in _firmware(_plan()[0]).items():
        lines = _strip_comments(text).splitlines()
        for i, line in enumerate(lines):
            if "for (" not in line or CONSTANT_BOUND.search(line):
                continue
            following = " ".join(lines[i + 1:i + 3])
            assert "loop_tripcount" in following, f"{path}:{i + 1}: variable-bound loop without tripcount: {line.strip()}"


def test_no_recursion():
    code = _strip_comments(_plan()[0]["firmware/cgap_engine.h"])
    bodies = re.split(r"\nstatic [^\n]*?\b(cgap_\w+)\(", code)
    for name, body in zip(bodies[1::2], bodies[2::2], strict=True):
        assert not re.search(rf"\b{name}\(", body.split("\n}\n")[0]), f"{name} calls itself"


def test_partition_factors_and_tripcounts_within_limits():
    plan, c = _plan()
    config = plan["firmware/cgap_config.h"]
    values = dict(re.findall(r"#define (CGAP_\w+) (\d+)", config))
    for factor in re.findall(r"factor=(\w+)", plan["firmware/cgap_engine.h"]):
        assert 1 <= int(values.get(factor, factor)) <= 1024
    hw = PRESETS["zcu102-16b"]
    assert hw.pox * hw.poy * hw.pof <= 4096  # completely partitioned accumulator arrays
    assert int(values["CGAP_MAX_STEPS"]) == max(r["nif"] * r["kh"] * r["kw"] for r in c.program.rows if r["kind"] == 0)


def test_pragmas_are_hidden_from_gcc_but_present_for_hls():
    plan = _plan()[0]
    engine = plan["firmware/cgap_engine.h"]
    assert "#pragma HLS" not in engine and "CGAP_PRAGMA(HLS PIPELINE II=1)" in engine
    top = plan["firmware/cgap_top.cpp"]
    assert "m_axi port=fmap" in top and "m_axi port=weights" in top and "s_axilite port=return" in top


def test_build_tcl_and_makefile_come_from_hw():
    hw = PRESETS["pynq-z2-16b"]
    plan = _plan(plain_net, hw)[0]
    tcl = plan["build.tcl"]
    assert f"set_part {hw.part}" in tcl and "create_clock -period 10.000" in tcl
    for step in ("csim_design", "csynth_design", "cosim_design", "export_design"):
        assert step in tcl
    assert "-Wall -Wextra -Werror -isystem $(AP_TYPES)" in plan["Makefile"]
    assert "/work/" not in plan["Makefile"]  # ap_types found at run time, not hard-coded


def test_render_is_deterministic_and_strict():
    a, b = _plan()[0], _plan()[0]
    assert a == b
    with pytest.raises(UndefinedError):
        _env().get_template("cgap_config.h.j2").render({"name": "x"})


def test_weight_image_layout():
    plan, c = _plan()
    words = np.frombuffer(plan["data/weights.bin"], dtype="<i2")
    first = next(r for r in c.program.rows if r["kind"] == 0)
    lq = c.spec.layers[c.layers[0].name]
    assert np.array_equal(words[first["w_off"]:first["w_off"] + lq.weight.size], lq.weight.reshape(-1))
    assert words.size == c.program.weights.size


def test_write_plan_is_atomic(tmp_path):
    out = tmp_path / "proj"
    write_plan({"a.txt": "one"}, out)
    with pytest.raises(CgapError):
        write_plan({"b.txt": "two", "../escape.txt": "x"}, out)
    assert (out / "a.txt").read_text() == "one" and not (out / "b.txt").exists()
    write_plan({"b.txt": "two"}, out)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["proj"] and (out / "b.txt").exists()


def _grouped_net() -> Network:
    w = np.random.default_rng(0).normal(0, 1, (4, 1, 3, 3))
    op = Conv2d(4, 4, (3, 3), groups=4, has_bias=False, weight=w)
    return Network("grouped", (4, 6, 6), (Node("dw", op, ("input",)),), "dw")


BAD = {
    "unsupported layer": (_grouped_net, PRESETS["zcu102-16b"], 100, "grouped convolution"),
    "does not fit buffers": (lambda: _wide_linear(), dataclasses.replace(PRESETS["tiny-test"], input_buffer_kib=1),
                             100, r"KiB of input buffer.*raise buffers.input_kib"),
    "too few calibration images": (plain_net, PRESETS["zcu102-16b"], 20, "at least 100"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_input_one_line_error_and_no_output(case, tmp_path):
    make, hw, n, match = BAD[case]
    net = make()
    x = np.random.default_rng(0).normal(0, 1, (n, *net.input_shape))
    with pytest.raises(CgapError) as err:
        export_fpga(net, hw, tmp_path / "gen", x, "bad", verify_images=x[:2])
    message = str(err.value)
    assert "\n" not in message and re.search(match, message)
    assert not (tmp_path / "gen").exists() or not any((tmp_path / "gen").iterdir())


def _wide_linear() -> Network:
    """Return a linear layer whose 3000-wide input no 1 KiB input buffer holds."""
    w = np.random.default_rng(0).normal(0, 0.01, (10, 3000))
    nodes = (Node("flat", Flatten(), ("input",)), Node("fc", Linear(3000, 10, weight=w, bias=np.zeros(10)), ("flat",)))
    return Network("wide", (3, 10, 100), nodes, "fc")


def test_invalid_hw_config_is_a_one_line_error():
    with pytest.raises(CgapError) as err:
        hw_from_toml_dict({"array": {"pox": 0}})
    assert "pox" in str(err.value) and "\n" not in str(err.value)


def test_export_without_verify_writes_project_only(tmp_path):
    net = plain_net()
    x = np.random.default_rng(0).normal(0, 1, (100, *net.input_shape))
    summary = export_fpga(net, PRESETS["zcu102-16b"], tmp_path, x, "plain")
    project = Path(summary["project"])
    assert project == tmp_path / "plain" and (project / "firmware" / "cgap_engine.h").is_file()
    assert not (project / "verify.json").exists() and not (project / "tb_data").exists()


def test_bad_verify_images_fail_before_writing(tmp_path):
    net = plain_net()
    x = np.random.default_rng(0).normal(0, 1, (100, *net.input_shape))
    with pytest.raises(CgapError, match="verify images"):
        export_fpga(net, PRESETS["zcu102-16b"], tmp_path / "gen", x, "p", verify_images=x[:2, :1])
    assert not (tmp_path / "gen").exists()
