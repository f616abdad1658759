"""The vendor-tool path of a generated project: make csynth / make cosim (a clear error without Vitis HLS),
expected.json (the simulator's and resource model's predictions, consistent with verify.json), and the
testbench's separate input and output feature-map buffers (what RTL co-simulation needs), bit-exact both
ways with the same cycle counts."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from cgap.hls import export_fpga
from cgap.hls.csim import ap_types_dir
from cgap.hls.expected import pipelined_loop_labels
from fpga_model.devices import device_for_part
from fpga_model.hw import PRESETS
from fpga_model.resources import estimate
from tests.hls_nets import residual_net

HW = PRESETS["zcu102-16b"]


@pytest.fixture(scope="module")
def verified(tmp_path_factory):
    """Return (summary, project) of a verified export of the residual net (C-sim has run)."""
    net = residual_net()
    x = np.random.default_rng(3).normal(0, 1, (100, *net.input_shape))
    summary = export_fpga(net, HW, tmp_path_factory.mktemp("vendor"), x, "vendor", verify_images=x[:3], opt="-O1")
    return summary, Path(summary["project"])


def _make(project: Path, target: str, **env: str) -> subprocess.CompletedProcess:
    path = os.pathsep.join(d for d in ("/usr/bin", "/bin") if Path(d).is_dir())
    if shutil.which("vitis_hls", path=path) or shutil.which("vivado_hls", path=path):
        pytest.skip("an HLS tool is installed in /usr/bin or /bin")
    clean = {k: v for k, v in os.environ.items() if k not in ("HLS_TOOL", "MAKEFLAGS")} | {"PATH": path} | env
    return subprocess.run(["make", "-s", "-C", str(project), target], capture_output=True, text=True, env=clean,
                          timeout=60)


@pytest.mark.parametrize("target", ["cosim", "csynth"])
def test_vendor_targets_without_the_tool_fail_naming_it(verified, target):
    project = verified[1]
    run = _make(project, target)
    assert run.returncode != 0
    message = next((line for line in run.stderr.splitlines() if line.startswith(f"make {target}:")), "")
    assert "vitis_hls" in message and "vivado_hls" in message and "make csim needs only g++" in message, run.stderr
    assert not (project / "cgap_vendor_prj").exists()
    missing = _make(project, target, HLS_TOOL="/nonexistent/vitis_hls")
    assert missing.returncode != 0 and "vitis_hls" in missing.stderr


def test_makefile_runs_build_tcl_with_the_steps_each_target_needs(verified):
    makefile = (verified[1] / "Makefile").read_text()
    assert 'CGAP_STEPS="csynth" $(HLS_TOOL) -f build.tcl' in makefile
    assert 'CGAP_STEPS="csynth cosim" $(HLS_TOOL) -f build.tcl' in makefile
    tcl = (verified[1] / "build.tcl").read_text()
    assert "env(CGAP_STEPS)" in tcl and "cosim_design" in tcl and "csynth_design" in tcl


def test_expected_json_agrees_with_verify_json_and_the_resource_model(verified):
    summary, project = verified
    expected = json.loads((project / "expected.json").read_text())
    verify = json.loads((project / "verify.json").read_text())
    assert expected["cycles"] == verify["sim_cycles"] == verify["cycles"] > 0
    assert [r["cycles"] for r in expected["layers"]] == [r["sim_cycles"] for r in verify["layers"]]
    assert [r["name"] for r in expected["layers"]] == [r["name"] for r in verify["layers"]]
    cosim = expected["cosim"]
    assert cosim["transactions_per_image"] == len(verify["layers"])
    assert cosim["latency_min"] <= cosim["latency_avg"] <= cosim["latency_max"] == max(r["cycles"] for r in expected["layers"])
    used = estimate(HW, device_for_part(HW.part), summary["buffers"]).used     # what cgap-export prints
    assert expected["macs"] == HW.pox * HW.poy * HW.pof < expected["resources"]["dsp"] == used["dsp"]  # + dividers
    assert expected["resources"]["device"] == "xczu9eg" and expected["resources"]["lut"] > 0
    assert expected["latency_us"] == pytest.approx(expected["cycles"] / HW.clock_mhz, abs=1e-3)


def test_expected_ii_lists_every_pipelined_engine_loop(verified):
    expected = json.loads((verified[1] / "expected.json").read_text())
    engine = (verified[1] / "firmware" / "cgap_engine.h").read_text()
    assert set(expected["pipeline_ii"].values()) == {1}
    config = (verified[1] / "firmware" / "cgap_config.h").read_text()
    assert list(expected["pipeline_ii"]) == pipelined_loop_labels(engine, config)
    assert engine.count("HLS PIPELINE II=1") == len(expected["pipeline_ii"]) >= 10


SWITCHED_ENGINE = """
#ifndef ENGINE_H
CGAP_LABEL(A)
    for (int i = 0; i < n; i++) {
        CGAP_PRAGMA(HLS PIPELINE II=1)
    }
#if CGAP_HAS_POOL
CGAP_LABEL(B)
    for (int i = 0; i < n; i++) {
        CGAP_PRAGMA(HLS loop_tripcount min=1 max=CGAP_MAX)
        CGAP_PRAGMA(HLS PIPELINE II=1)
    }
#else
CGAP_LABEL(C)
    for (int i = 0; i < n; i++) {
        CGAP_PRAGMA(HLS PIPELINE II=1)
    }
#endif  // CGAP_HAS_POOL
#ifndef __SYNTHESIS__
CGAP_LABEL(D)
    for (int i = 0; i < n; i++) {
        CGAP_PRAGMA(HLS PIPELINE II=1)
    }
#endif
CGAP_LABEL(E)
    for (int i = 0; i < n; i++) {
        CGAP_PRAGMA(HLS UNROLL)
    }
#if 1
CGAP_LABEL(F)
    for (int i = 0; i < n; i++) {
        CGAP_PRAGMA(HLS PIPELINE II=1)
    }
#endif
#endif
"""


@pytest.mark.parametrize("has_pool,labels", [("0", ["A", "C", "F"]), ("1", ["A", "B", "F"])])
def test_expected_ii_counts_only_the_loops_synthesis_compiles(has_pool, labels):
    """Kinds compiled in by #if (the element-wise unit's CGAP_HAS_* switches) decide which loops csynth reports;
    C-sim-only code (#ifndef __SYNTHESIS__) and unpipelined loops are not listed."""
    config = f"#define CGAP_MAX 4\n#define CGAP_HAS_POOL {has_pool}\n"
    assert pipelined_loop_labels(SWITCHED_ENGINE, config) == labels


def test_readme_tells_a_vitis_user_what_to_compare(verified):
    readme = (verified[1] / "README.md").read_text()
    for words in ("make csynth", "make cosim", "pipeline_ii", "resources", "latency_avg", "layers[].cycles",
                  "separate memory per m_axi argument", "--one-call"):
        assert words in readme, words


def test_testbench_gives_the_top_separate_buffers(verified):
    tb = (verified[1] / "tb" / "cgap_tb.cpp").read_text()
    assert "cgap_top(fmap_in.data(), fmap_out.data(), weights.data(), l, 1)" in tb
    assert "cgap_top(fmap.data(), fmap.data()" not in tb


def test_one_call_on_one_buffer_equals_one_call_per_layer(verified):
    """The hardware way (all layers in one call, one buffer as both ports) gives the same outputs and the same
    per-layer counts as the co-simulation way the testbench uses by default."""
    project = verified[1]
    per_layer = (project / "tb_data" / "csim_out.bin").read_bytes(), (project / "tb_data" / "csim_stats.json").read_text()
    run = subprocess.run(["./build/csim", ".", "--one-call"], cwd=project, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0 and "PASS" in run.stdout
    assert (project / "tb_data" / "csim_out.bin").read_bytes() == per_layer[0]
    assert json.loads((project / "tb_data" / "csim_stats.json").read_text()) == json.loads(per_layer[1])


def test_a_missed_beat_in_the_layer_copy_is_caught(verified, tmp_path):
    """The per-layer testbench poisons each layer's output region before the call: copying one beat too few
    into the input buffer (stale data, as co-simulation would see it) makes C-sim fail."""
    project = tmp_path / "copy"
    shutil.copytree(verified[1], project, ignore=shutil.ignore_patterns("build"))
    tb = project / "tb" / "cgap_tb.cpp"
    text = tb.read_text()
    copy = "for (int k = 0; k < beats; k++) fmap_in[base + k] = fmap_out[base + k];"
    assert copy in text
    tb.write_text(text.replace(copy, copy.replace("k < beats", "k < beats - 1")))
    subprocess.run(["make", "-s", "build", f"AP_TYPES={ap_types_dir()}", "OPT=-O1"], cwd=project, check=True,
                   capture_output=True, timeout=300)
    run = subprocess.run(["./build/csim", "."], cwd=project, capture_output=True, text=True, timeout=120)
    assert run.returncode == 1 and "FAIL" in run.stdout


def _fake_csynth(project: Path, ii: dict[str, int], dsp: int) -> None:
    """Write csynth XML reports in the layout cgap.hls.compare reads (loop summaries in a function's report,
    resources in the top report csynth.xml); a stand-in, as no HLS tool runs here."""
    report = project / "cgap_vendor_prj" / "solution1" / "syn" / "report"
    report.mkdir(parents=True)
    loops = "".join(f"<{label}><TripCount>4</TripCount><PipelineII>{n}</PipelineII></{label}>" for label, n in ii.items())
    (report / "cgap_conv_compute_csynth.xml").write_text(
        f"<profile><PerformanceEstimates><SummaryOfLoopLatency>{loops}</SummaryOfLoopLatency></PerformanceEstimates></profile>")
    (report / "csynth.xml").write_text(
        "<profile><PerformanceEstimates><SummaryOfLoopLatency><LAYERS><TripCount>11</TripCount></LAYERS>"
        "</SummaryOfLoopLatency></PerformanceEstimates><AreaEstimates><Resources><BRAM_18K>40</BRAM_18K>"
        f"<DSP>{dsp}</DSP><FF>9000</FF><LUT>20000</LUT><URAM>0</URAM></Resources></AreaEstimates></profile>")


def test_make_compare_holds_the_csynth_report_against_expected_json(verified, tmp_path):
    import sys

    project = tmp_path / "cmp"
    shutil.copytree(verified[1], project, ignore=shutil.ignore_patterns("build"))
    expected = json.loads((project / "expected.json").read_text())
    run = subprocess.run(["make", "-s", "compare", f"PYTHON={sys.executable}"], cwd=project, capture_output=True,
                         text=True, timeout=60)
    assert run.returncode == 2 and "run make csynth first" in run.stderr
    labels = list(expected["pipeline_ii"])
    _fake_csynth(project, {label: 1 for label in labels[1:]} | {"CONV_BLOCKS": 2}, expected["resources"]["dsp"])
    run = subprocess.run(["make", "-s", "compare", f"PYTHON={sys.executable}"], cwd=project, capture_output=True,
                         text=True, timeout=60)
    lines = run.stdout.splitlines()
    assert run.returncode != 0
    assert "loop CONV_BLOCKS: II 2 (expected 1)  <-- differs" in lines
    assert f"loop {labels[0]}: not in the csynth reports (expected II 1)" in lines
    assert f"DSP: {expected['resources']['dsp']} (expected {expected['resources']['dsp']})" in lines
    assert f"LUT: 20000 (expected {expected['resources']['lut']}, an estimate)" in lines


def test_compare_passes_when_every_loop_is_at_ii1_and_dsps_match(verified, tmp_path, capsys):
    from cgap.hls.compare import main

    project = tmp_path / "ok"
    shutil.copytree(verified[1], project, ignore=shutil.ignore_patterns("build"))
    expected = json.loads((project / "expected.json").read_text())
    _fake_csynth(project, dict(expected["pipeline_ii"]), expected["resources"]["dsp"])
    assert main([str(project)]) == 0
    assert len(capsys.readouterr().out.splitlines()) == len(expected["pipeline_ii"]) + 4
    shutil.rmtree(project / "cgap_vendor_prj")
    _fake_csynth(project, dict(expected["pipeline_ii"]), expected["resources"]["dsp"] + 1)
    assert main([str(project)]) == 1
