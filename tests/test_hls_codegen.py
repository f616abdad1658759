"""Rendering, synthesis-friendliness scan of the generated firmware, atomic writing and bad-input errors."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import numpy as np
import pytest
from jinja2 import UndefinedError

from cgap.hls import compile_network, export_fpga, render, write_plan
from cgap.hls.render import _env
from cgap_ir import Conv2d, Flatten, Linear, Network, Node
from cgap_ir.errors import CgapError
from fpga_model.hw import PRESETS, hw_from_toml_dict
from tests.hls_nets import plain_net, residual_net

FORBIDDEN = {
    "dynamic memory": r"\b(new|delete|malloc|calloc|realloc|free)\b\s*[\(\[]?",
    "STL": r"std::|#include\s*<(vector|map|list|string|deque|set|memory)>",
    "unbounded loop": r"\bwhile\b|\bgoto\b",
}
LOOP = re.compile(r"for \(int \w+ = [^;]+; \w+ (?:<|>=|<=|>) ([^;]+);")
CONST_NAME = re.compile(r"^(CGAP_[A-Z0-9_]+|BR|BC|\d+)$")
TRIPCOUNT = re.compile(r"loop_tripcount min=(\w+) max=([\w +*]+)\)")
DECL = re.compile(r"\b(\w+)((?:\[[A-Z][A-Z0-9_]*\])+)")
PARTITION = re.compile(r"ARRAY_PARTITION variable=(\w+) (complete|cyclic|block)(?: factor=(\w+))? dim=(\d+)")
MAX_PARTITION = 1024      # partitions of one array dimension / one cyclic factor (HLS tool limit)
MAX_BANKS = 4096          # memories or registers one array becomes (the bound on MAC lanes, Pox*Poy*Pof)

def _plan(make=residual_net, hw=PRESETS["zcu102-16b"]):
    net = make()
    x = np.random.default_rng(0).normal(0, 1, (100, *net.input_shape))
    c = compile_network(net, hw, x, "scan")
    return render(c.program, c.engine), c


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


def _values(plan) -> dict[str, int]:
    """Return the CGAP_* constants of the generated config, plus the banked-window template bounds BR, BC, D."""
    values = {k: int(v) for k, v in re.findall(r"#define (CGAP_\w+) (\d+)", plan["firmware/cgap_config.h"])}
    values["BR"], values["BC"], values["D"] = values["CGAP_IB_R"], values["CGAP_IB_C"], values["CGAP_IBUF_DEPTH"]
    return values


def _eval(expr: str, values: dict[str, int]) -> int:
    """Return the value of a bound made of constants, integers, + and * (KeyError on anything else)."""
    return eval(re.sub(r"[A-Za-z_]\w*", lambda m: str(values[m.group(0)]), expr), {"__builtins__": {}})  # noqa: S307


SCAN_HW = {"zcu102-16b": PRESETS["zcu102-16b"], "zcu102-8b": PRESETS["zcu102-8b"], "odd": dataclasses.replace(
    PRESETS["tiny-test"], pox=3, poy=2, pof=3, input_buffer_kib=1, weight_buffer_kib=1, output_buffer_kib=1)}


@pytest.mark.parametrize("hw", sorted(SCAN_HW))
@pytest.mark.parametrize("make", [residual_net, plain_net])
def test_every_loop_has_a_constant_or_tripcount_bound(make, hw):
    plan = _plan(make, SCAN_HW[hw])[0]
    values = _values(plan)
    loops = 0
    for path, text in _firmware(plan).items():
        lines = _strip_comments(text).splitlines()
        for i, line in enumerate(lines):
            if "for (" not in line:
                continue
            loops += 1
            bound = LOOP.search(line)
            assert bound, f"{path}:{i + 1}: loop not in the form for (int i = a; i < bound; ...): {line.strip()}"
            if CONST_NAME.match(bound.group(1).strip()):
                assert _eval(bound.group(1), values) >= 0
                continue
            trip = TRIPCOUNT.search(" ".join(lines[i + 1:i + 3]))
            assert trip, f"{path}:{i + 1}: variable-bound loop without LOOP_TRIPCOUNT: {line.strip()}"
            low, high = _eval(trip.group(1), values), _eval(trip.group(2), values)
            assert 1 <= low <= high, f"{path}:{i + 1}: tripcount {low}..{high}"
    assert loops > 30


def _arrays(code: str, values: dict[str, int]) -> dict[str, list[int]]:
    """Return every array declared with constant dimensions (typedef'd tile buffers resolved) -> its dims.

    Subscripts by a name that is no size constant (e.g. ``beats[CGAP_PORT_FMAP_RD]``) are accesses, not
    declarations, and are skipped."""
    arrays = {name: [values[d] for d in re.findall(r"\[(\w+)\]", dims)] for name, dims in DECL.findall(code)
              if all(d in values for d in re.findall(r"\[(\w+)\]", dims))}
    for typedef, names in re.findall(r"\b(cgap_\w+_t) ([\w, ]+);", code):
        for name in names.split(","):
            arrays[name.strip()] = arrays[typedef]
    return arrays


@pytest.mark.parametrize("hw", sorted(SCAN_HW))
@pytest.mark.parametrize("make", [residual_net, plain_net])
def test_array_partitions_within_tool_limits(make, hw):
    plan, c = _plan(make, SCAN_HW[hw])
    values = _values(plan)
    code = _strip_comments(plan["firmware/cgap_engine.h"])
    arrays, banks = _arrays(code, values), {}
    for var, kind, factor, dim in PARTITION.findall(code):
        dims, d = arrays[var], int(dim)
        parts = (_eval(factor, values) if kind != "complete" else
                 int(np.prod(dims)) if d == 0 else dims[d - 1])
        assert 1 <= parts <= (MAX_BANKS if d == 0 else MAX_PARTITION), f"{var} dim={dim}: {parts} partitions"
        banks[var] = banks.get(var, 1) * parts
    assert all(n <= MAX_BANKS for n in banks.values()), banks
    h = SCAN_HW[hw]
    # The conv input tile: Poy x Pox lanes read distinct banks at every stride the network uses.
    strides = [r["sh"] for r in c.program.rows if r["kind"] == 0]
    assert banks["ibuf0"] == banks["ibuf1"] == values["CGAP_IB_R"] * values["CGAP_IB_C"]
    assert values["CGAP_IB_R"] >= h.poy * max(strides) and values["CGAP_IB_C"] >= max(h.pox, values["CGAP_V"])
    assert banks["wbuf0"] == banks["wbuf1"] == h.pof and banks["acc"] == banks["held"] == h.macs
    # The conv output tile: one bank per lane for the write-out, NB >= V column banks for a store beat.
    assert banks["obuf0"] == banks["rbuf1"] == h.pof * values["CGAP_NB"] and values["CGAP_NB"] >= values["CGAP_V"]
    pool_widths = [r["pkw"] for r in c.program.rows if r["kind"] == 0]
    assert all(np.gcd(values["CGAP_NB"], w) == 1 for w in pool_widths if w > 1)
    # The element-wise unit: V-lane, its input planes in FB >= V column banks coprime with the pool strides.
    assert banks["fa0"] == banks["fb1"] == values["CGAP_FB"] >= values["CGAP_V"]
    pool_strides = [r["sw"] for r in c.program.rows if r["kind"] == 1]
    assert all(np.gcd(values["CGAP_FB"], s) == 1 for s in pool_strides if s > 1)
    groups = [-(-r["tof"] // h.pof) for r in c.program.rows if r["kind"] == 0]
    steps = [r["tif"] * r["kh"] * r["kw"] for r in c.program.rows if r["kind"] == 0]
    assert values["CGAP_WBUF_DEPTH"] == max(g * n for g, n in zip(groups, steps, strict=True))


def test_ping_pong_steps_call_load_compute_store_unconditionally():
    code = _strip_comments(_plan()[0]["firmware/cgap_engine.h"])
    for kind in ("conv", "flat"):
        body = code.split(f"static void cgap_{kind}_step(")[1].split("\n}\n")[0]
        calls = [c for c in re.findall(r"^\s+(\w+)\(", body, flags=re.M) if c != "CGAP_PRAGMA"]
        assert calls == [f"cgap_{kind}_load", f"cgap_{kind}_compute", f"cgap_{kind}_store"], calls
        # The step and its stages stay separate functions, so HLS schedules the three calls concurrently.
        for function in (f"cgap_{kind}_step", *calls):
            head = code.split(f"static void {function}(")[1].split("\n}\n")[0]
            assert "CGAP_PRAGMA(HLS INLINE off)" in head, function
        assert "if (" not in body
        assert f"ALLOCATION function instances=cgap_{kind}_step limit=1" in code


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
    """Weights [group][step][lane] with each step's Pof lanes padded to whole beats, then the biases: per group
    Pof slots of a power-of-two words (low word first), padded to whole beats; offsets in beats."""
    hw = PRESETS["zcu102-16b"]                    # Pof 16, 128-bit port: 8 words a beat, bias 48 bits = 3 words
    plan, c = _plan(hw=hw)
    words = np.frombuffer(plan["data/weights.bin"], dtype="<i2").astype(np.int64)
    assert words.size == c.program.weights.size and words.size % 8 == 0
    first = next(r for r in c.program.rows if r["kind"] == 0)
    lq = c.engine.quant(c.layers[0].name)
    nof, steps = lq.weight.shape[0], int(np.prod(lq.weight.shape[1:]))
    w = lq.weight.reshape(nof, steps)
    start = first["w_off"] * 8
    for f in range(nof):
        for step in range(steps):
            # group f // 16, its row `step` of 16 lane words (16 is a multiple of 8: no row padding here)
            assert words[start + (f // 16) * steps * 16 + step * 16 + f % 16] == w[f, step]
    bias_start = first["b_off"] * 8
    assert bias_start == start + -(-nof // 16) * steps * 16
    for f in range(nof):
        low, mid, high = words[bias_start + 64 * (f // 16) + 4 * (f % 16):][:3]
        assert (low & 0xFFFF) | (mid & 0xFFFF) << 16 | high << 32 == lq.bias[f]


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
                             100, r"KiB of input buffer.*set buffers.input_kib >= \d+"),
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
