"""The HLS lint (cgap.hls.lint) on small hand-written kernels: each bad kernel is flagged exactly on the lines
marked ``// <- rule`` (so a rule that finds too much fails as surely as one that finds too little), the good
kernel is silent, and a generated project has no finding."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import numpy as np
import pytest

from cgap.hls import export_fpga
from cgap.hls.lint import RULES, LintError, lint_project, pipelined_labels
from fpga_model.hw import PRESETS
from tests.hls_nets import plain_net, residual_net

BAD = {
    "runtime-division": """
#include <ap_int.h>
static int divide(int a, int b) {
    return a / b;  // <- runtime-division
}
template <int D> static int by_template(int a) { return a / D; }
void top(const int *in, int *out, int d) {
    const int four = 4;
DIV: for (int i = 0; i < 64; i++) {
#pragma HLS PIPELINE II=1
        out[i] = in[i] % d + in[i] / four + by_template<8>(in[i]);  // <- runtime-division
        out[i + 64] = divide(in[i], d) + divide(in[i], 3);
        ap_int<16> x = in[i], y = d;
        out[i + 128] = (x / y).to_int();  // <- runtime-division
    }
    out[200] = in[0] / d;
}
""",
    "variable-rmw": """
void top(const int *in, int *out) {
    int bins[64], acc[64], ok[64];
#pragma HLS ARRAY_PARTITION variable=ok complete dim=1
    int last = 0;
HIST: for (int i = 0; i < 1024; i++) {
#pragma HLS PIPELINE II=1
        bins[in[i] & 63] += 1;  // <- variable-rmw
        acc[in[i] & 63] = acc[last] + 1;  // <- variable-rmw
        ok[in[i] & 63] += 1;
        last = in[i] & 63;
    }
    for (int b = 0; b < 64; b++) out[b] = bins[b] + acc[b] + ok[b];
}
""",
    "pragma-value": """
#define PRAGMA_SUB(x) _Pragma(#x)
#define PRAGMA_HLS(x) PRAGMA_SUB(x)
#define A 3
#define TWO_TOKENS (A)
void top(int *out, int n) {
T1: for (int i = 0; i < n; i++) {
#pragma HLS loop_tripcount min=1 max=A + 2  // <- pragma-value
        out[i] = 0;
    }
T2: for (int i = 0; i < n; i++) {
        PRAGMA_HLS(HLS loop_tripcount min=1 max=n)  // <- pragma-value
        out[i] = 1;
    }
T3: for (int i = 0; i < n; i++) {
        _Pragma("HLS loop_tripcount min=1 max=TWO_TOKENS")  // <- pragma-value
        out[i] = 2;
    }
}
""",
    "rolled-in-unroll": """
static void fill(int *o) {
    for (int j = 0; j < 4; j++) o[j] = 0;  // <- rolled-in-unroll
}
void top(int *out) {
OUTER: for (int i = 0; i < 4; i++) {
#pragma HLS UNROLL
INNER:  for (int j = 0; j < 4; j++) out[i * 4 + j] = i;  // <- rolled-in-unroll
        fill(out + 16 + 4 * i);
    }
}
""",
    "dynamic-memory": """
#include <cstdlib>
void top(int *out, int n) {
    int *p = new int[4];  // <- dynamic-memory
    int *q = (int *)malloc(16);  // <- dynamic-memory
    int vla[n];  // <- dynamic-memory
    vla[0] = 1;
    out[0] = p[0] + q[0] + vla[0];
    free(q);  // <- dynamic-memory
    delete[] p;  // <- dynamic-memory
}
""",
    "recursion": """
static int fact(int n) { return n <= 1 ? 1 : n * fact(n - 1); }  // <- recursion
static int ping(int n);
static int pong(int n) { return n > 0 ? ping(n - 1) : 0; }  // <- recursion
static int ping(int n) { return pong(n); }  // <- recursion
void top(int *out) { out[0] = fact(3) + ping(2); }
""",
    "float": """
void top(const int *in, int *out) {
    float scale = 0.5f;  // <- float
    out[0] = (int)(in[0] * 0.25);  // <- float
    out[1] = (int)scale;  // <- float
}
""",
}

GOOD = """
#include <ap_int.h>
#define PRAGMA_SUB(x) _Pragma(#x)
#define PRAGMA_HLS(x) PRAGMA_SUB(x)
#define N 8
#define MAX_TRIPS 64
static const int BINS = 16;
template <int D> static int by_template(int a) { return a / D; }
static int div_by(int a, int b) { return a / b; }
void top(const int *in, int *out, int n) {
    int bins[BINS];
#pragma HLS ARRAY_PARTITION variable=bins complete dim=1
    int acc[64];
    ap_int<16> x = 5;
P: for (int i = 0; i < 64; i++) {
#pragma HLS PIPELINE II=1
        out[i] = in[i] / N + in[i] % BINS + by_template<4>(in[i]) + div_by(in[i], 3) + (x / ap_int<16>(2)).to_int();
        bins[in[i] & 15] += 1;
        acc[i] = acc[i] + in[i];
        int lanes[4];
        for (int j = 0; j < 4; j++) lanes[j] = in[i] + j;
        for (int j = 0; j < 4; j++) lanes[(j + i) & 3] += lanes[j];
        out[64 + i] = lanes[0];
    }
T: for (int i = 0; i < n; i++) {
        PRAGMA_HLS(HLS loop_tripcount min=1 max=MAX_TRIPS)
        _Pragma("HLS loop_tripcount min=1 max=BINS")
#pragma HLS loop_tripcount min=1 max=N
        out[i] = bins[i % BINS] + acc[i % 64] + in[i] / n;
    }
U: for (int i = 0; i < 4; i++) {
#pragma HLS UNROLL
V:      for (int j = 0; j < 4; j++) {
#pragma HLS UNROLL
            out[i * 4 + j] = 0;
        }
    }
#if 0
#pragma HLS loop_tripcount max=A + 7
    float never = 1.0;
#endif
}
"""


def _kernel(tmp_path: Path, source: str) -> Path:
    """Write ``source`` as the only firmware file of a project under ``tmp_path``; return the project."""
    (tmp_path / "firmware").mkdir()
    (tmp_path / "firmware" / "kernel.cpp").write_text(source)
    return tmp_path


def _marked(source: str) -> set[tuple[int, str]]:
    return {(n, m.group(1)) for n, line in enumerate(source.splitlines(), start=1)
            if (m := re.search(r"// <- ([\w-]+)", line))}


@pytest.mark.parametrize("rule", sorted(BAD))
def test_each_rule_flags_exactly_the_marked_lines(rule, tmp_path):
    findings = lint_project(_kernel(tmp_path, BAD[rule]))
    assert {(f.line, f.rule) for f in findings} == _marked(BAD[rule])
    assert all(f.file == "firmware/kernel.cpp" and "\n" not in f.message for f in findings)


def test_every_rule_has_a_bad_kernel():
    assert sorted(BAD) == sorted(RULES)


def test_good_kernel_is_silent(tmp_path):
    assert lint_project(_kernel(tmp_path, GOOD)) == []


def test_messages_name_the_loop_and_the_inlined_call(tmp_path):
    findings = lint_project(_kernel(tmp_path, BAD["runtime-division"]))
    inlined = next(f for f in findings if f.line == 4)
    assert "loop DIV" in inlined.message and "inlined through divide" in inlined.message
    assert str(inlined).startswith("firmware/kernel.cpp:4: runtime-division: ")


def test_firmware_that_does_not_compile_is_one_error(tmp_path):
    with pytest.raises(LintError, match=r"kernel.cpp does not compile as synthesis C\+\+") as err:
        lint_project(_kernel(tmp_path, "void top(int *out) { out[0] = ; }\n"))
    assert "\n" not in str(err.value)
    with pytest.raises(LintError, match="no firmware"):
        lint_project(tmp_path / "missing")


@pytest.fixture(scope="module", params=["residual-16b", "plain-8b"])
def project(request, tmp_path_factory):
    make, hw = {"residual-16b": (residual_net, "zcu102-16b"), "plain-8b": (plain_net, "zcu102-8b")}[request.param]
    net = make()
    x = np.random.default_rng(0).normal(0, 1, (100, *net.input_shape))
    return Path(export_fpga(net, PRESETS[hw], tmp_path_factory.mktemp("lint"), x, "lint")["project"])


def test_generated_project_has_no_findings(project):
    assert lint_project(project) == []


def test_lint_sees_the_engine_pipelines_that_expected_json_lists(project):
    """The AST finds the same II=1 loops as expected.json's list (a regex over the compiled part of
    cgap_engine.h), and the lint examined real pipelines: the conv MAC loop and the DRAM burst loops."""
    import json

    labels = pipelined_labels(project)
    assert labels == list(json.loads((project / "expected.json").read_text())["pipeline_ii"])
    assert {"CONV_BLOCKS", "LW_BURST", "LI_BURST", "ST_BURST"} <= set(labels)


@pytest.mark.skipif(shutil.which("g++") is None, reason="needs g++")
def test_cgap_export_verify_prints_each_finding_on_one_line(tmp_path, monkeypatch, capsys):
    """cgap-export --verify lints the project: verify.json and the JSON summary count the findings, and each one
    is one stderr line (here two findings planted in place of the real lint, which finds none)."""
    import json

    import torch

    import cgap.hls.export as hls_export
    from cgap.checkpoint import save_checkpoint
    from cgap.export_cli import main
    from cgap.hls.lint import Finding
    from cgap.models import build

    torch.manual_seed(0)
    ckpt = save_checkpoint(tmp_path / "lenet.pt", build("lenet5", (1, 8, 8), 10, width_mult=0.5),
                           {"method": "test", "dataset": {"name": "digits"}})
    planted = [Finding("firmware/cgap_engine.h", 7, "float", "floating-point type"),
               Finding("firmware/cgap_top.cpp", 9, "recursion", "f is recursive (f -> f)")]
    monkeypatch.setattr(hls_export, "lint_project", lambda project: planted)
    code = main([str(ckpt), "--target", "fpga", "--verify", "--images", "4", "--out", str(tmp_path / "gen")])
    out, err = capsys.readouterr()
    assert code == 0
    assert json.loads(out.splitlines()[0])["verify"]["lint_findings"] == 2
    verify = json.loads((tmp_path / "gen" / "verify.json").read_text())
    assert verify["lint_findings"] == 2 and verify["lint"][1]["rule"] == "recursion"
    assert [line for line in err.splitlines() if "lint" in line] == [
        "cgap-export: lint: firmware/cgap_engine.h:7: float: floating-point type",
        "cgap-export: lint: firmware/cgap_top.cpp:9: recursion: f is recursive (f -> f)"]


def test_a_project_given_by_a_relative_path_is_linted(project, monkeypatch):
    """`cgap-export --out runs/demo/hls` passes a relative path (the demo does): the in-memory prelude must still
    be found."""
    monkeypatch.chdir(project.parent)
    assert lint_project(Path(project.name)) == []
