"""The testbench's separate input and output feature-map buffers (what RTL co-simulation needs): bit-exact
one layer per call and all layers in one call, with the same cycle counts."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from cgap.hls import export_fpga
from cgap.hls.csim import ap_types_dir
from fpga_model.hw import PRESETS
from tests.hls_nets import residual_net

HW = PRESETS["zcu102-16b"]


@pytest.fixture(scope="module")
def verified(tmp_path_factory):
    """Return (summary, project) of a verified export of the residual net (C-sim has run)."""
    net = residual_net()
    x = np.random.default_rng(3).normal(0, 1, (100, *net.input_shape))
    summary = export_fpga(net, HW, tmp_path_factory.mktemp("vendor"), x, "vendor", verify_images=x[:3], opt="-O1")
    return summary, Path(summary["project"])


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
