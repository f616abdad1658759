"""``--target hls4ml``: zoo models through hls4ml's PyTorch front end, C-sim compiled with g++ and compared.

The one end-to-end test in the default run (a lenet5 trained briefly on 8×8 digits, ~25 s, most of it
hls4ml's g++ build) shares one export through a module fixture; ResNet and 8-bit VGG builds are slow.
"""

from __future__ import annotations

import dataclasses
import json
import re

import numpy as np
import pytest
import torch

from cgap import hls4ml_export as hx
from cgap.checkpoint import save_checkpoint
from cgap.models import build
from cgap_ir.errors import CgapError
from fpga_model.hw import load_hw
from tests.conftest import irregular_model, randomise_bn

AP_RE = re.compile(r"ap_fixed<(\d+),(-?\d+)(,AP_RND_CONV,AP_SAT)?>")


def _digits(n_train: int = 1000):
    """Return (train x, train y, test x, test y) of scikit-learn's digits, normalised, N×1×8×8."""
    from cgap.data import load_dataset

    s = load_dataset("digits")
    return s.train[0][:n_train], s.train[1][:n_train], s.test[0].numpy(), s.test[1].numpy()


def _train(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, steps: int = 60) -> torch.nn.Module:
    """Full-batch Adam for a few steps: enough for a clearly better-than-chance model."""
    torch.manual_seed(0)
    opt = torch.optim.Adam(model.parameters(), lr=0.02)
    model.train()
    for _ in range(steps):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model(x), y).backward()
        opt.step()
    return model.eval()


@pytest.fixture(scope="module")
def lenet_export(tmp_path_factory):
    """Export a digits-trained lenet5 checkpoint with hls4ml and verify it on 20 test images (one compile)."""
    xtr, ytr, xte, yte = _digits()
    torch.manual_seed(0)
    model = _train(build("lenet5", (1, 8, 8), 10, width_mult=0.5), xtr, ytr)
    tmp = tmp_path_factory.mktemp("hls4ml")
    ckpt = save_checkpoint(tmp / "lenet.pt", model, {"method": "test"})
    summary = hx.export_hls4ml(ckpt, load_hw("zcu102-16b"), tmp / "out", xtr[:200].numpy(), "lenet",
                               verify_images=xte[:20], labels=yte[:20])
    return summary, tmp / "out" / "lenet-hls4ml"


def test_lenet_digits_end_to_end(lenet_export):
    summary, project = lenet_export
    report = json.loads((project / "verify.json").read_text())
    assert report["images"] == 20
    assert report["top1_agreement"] >= 0.9
    assert report["max_abs_logit_diff"] <= 0.01 * report["max_abs_float_logit"] + 1e-3
    assert report["float_accuracy"] >= 0.5          # trained: far above chance (0.1)
    assert abs(report["fixed_accuracy"] - report["float_accuracy"]) <= 0.05
    assert report["compile_s"] > 0 and report["budget"]["device"] == "xczu9eg"
    assert summary["verify"]["top1_agreement"] == report["top1_agreement"]
    assert "\n" not in summary["summary"] and "top-1 agreement" in summary["summary"]


def test_lenet_project_files_and_types(lenet_export):
    _, project = lenet_export
    for rel in ("build_prj.tcl", "build_lib.sh", "firmware/lenet.cpp", "firmware/defines.h", "hls4ml.log",
                "hls4ml_config.yml"):
        assert (project / rel).is_file(), rel
    assert not list((project / "firmware").glob("*.so"))          # built for the temporary path, removed
    assert str(project) in (project / "hls4ml_config.yml").read_text()
    tcl = (project / "project.tcl").read_text()
    assert "xczu9eg-ffvb1156-2-e" in tcl and "5" in tcl
    defines = (project / "firmware" / "defines.h").read_text()
    layer_types = re.findall(r"typedef nnet::array<(ap_fixed<[^>]*>)", defines)
    assert layer_types and all(t.endswith("AP_RND_CONV,AP_SAT,0>") for t in layer_types)
    assert re.search(r"typedef ap_fixed<48,-?\d+> conv1_accum_t", defines)
    assert re.search(r"typedef ap_fixed<16,-?\d+,AP_RND_CONV,AP_SAT,0> conv1_weight_t", defines)
    assert "io_stream" in (project / "hls4ml_config.yml").read_text()


def test_quiet_and_no_verify(tmp_path, capfd, lenet_ckpt):
    calib = np.random.default_rng(0).standard_normal((50, 1, 8, 8)).astype(np.float32)
    summary = hx.export_hls4ml(lenet_ckpt, load_hw("zcu102-16b"), tmp_path, calib, "q")
    out, err = capfd.readouterr()
    assert out == "" and err == ""
    project = tmp_path / "q-hls4ml"
    assert (project / "firmware" / "q.cpp").is_file() and not (project / "verify.json").exists()
    assert "Interpreting Model" in (project / "hls4ml.log").read_text()
    assert "verify" not in summary and summary["project"] == str(project)


def test_too_large_refused_before_conversion(tmp_path, monkeypatch):
    monkeypatch.setattr(hx, "convert", lambda *a, **k: pytest.fail("converted a model that does not fit"))
    model = build("resnet110", (3, 32, 32), 10)
    calib = np.zeros((2, 3, 32, 32), dtype=np.float32)
    with pytest.raises(CgapError, match=r"resnet110 has 1,7\d\d,\d{3} parameters .*limit 16\.8 Mbit .*xczu9eg"
                                        r".*use --target fpga") as exc:
        hx.export_hls4ml(model, load_hw("zcu102-16b"), tmp_path, calib, "big")
    assert "\n" not in str(exc.value)
    assert not (tmp_path / "big-hls4ml").exists()


def test_budget_rule_numbers():
    hw = load_hw("pynq-z2-16b")
    limit = int(280 * 18 * 1024 * hx.ONCHIP_WEIGHT_FRACTION)
    assert hx.onchip_budget("m", limit // 16, hw).limit_bits == limit
    with pytest.raises(CgapError, match="xc7z020"):
        hx.onchip_budget("m", limit // 16 + 1, hw)
    with pytest.raises(CgapError, match="not a known AMD/Xilinx part"):
        hx.onchip_budget("m", 10, dataclasses.replace(hw, part="10AX115S2F45I1SG"))


def test_bad_inputs_write_nothing(tmp_path, lenet_ckpt):
    out = tmp_path / "out"
    calib = np.zeros((4, 1, 8, 8), dtype=np.float32)
    with pytest.raises(CgapError, match="verify images"):
        hx.export_hls4ml(lenet_ckpt, load_hw(), out, calib, "b", verify_images=np.zeros((3, 1, 9, 9)))
    with pytest.raises(CgapError, match="calibration"):
        hx.export_hls4ml(lenet_ckpt, load_hw(), out, np.zeros((0, 1, 8, 8)), "b")
    assert not out.exists()
    (out / "b-hls4ml").mkdir(parents=True)
    (out / "b-hls4ml" / "keep").write_text("x")
    with pytest.raises(CgapError, match="exists and is not empty"):
        hx.export_hls4ml(lenet_ckpt, load_hw(), out, calib, "b")
    assert (out / "b-hls4ml" / "keep").read_text() == "x"


@pytest.mark.parametrize("arch, shape", [("resnet20", (3, 16, 16)), ("vgg11", (1, 8, 8)), ("lenet5", (1, 8, 8))])
def test_trace_folds_bn_and_global_pool(arch, shape):
    model = irregular_model(arch, shape)
    gm = hx.trace_for_hls4ml(model, shape)
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in gm.modules())
    assert all(n.target is not torch.nn.functional.adaptive_avg_pool2d for n in gm.graph.nodes)
    x = torch.randn(3, *shape)
    with torch.no_grad():
        assert torch.allclose(gm(x), model(x), atol=1e-4)


def _ap(text: str) -> tuple[int, int, bool]:
    m = AP_RE.fullmatch(text)
    assert m, text
    return int(m[1]), int(m[2]), bool(m[3])


def test_precision_covers_calibrated_ranges():
    shape = (3, 16, 16)
    model = irregular_model("resnet20", shape)
    gm = hx.trace_for_hls4ml(model, shape)
    calib = np.random.default_rng(1).standard_normal((40, *shape)).astype(np.float32)
    ranges = hx.calibrate_nodes(gm, calib)
    hw = load_hw("zcu102-8b")
    layers = hx.precision_config(gm, ranges, hw)
    assert "x" in layers and any(name.startswith("add") for name in layers)
    modules = dict(gm.named_modules())
    for node in gm.graph.nodes:
        if node.name not in layers:
            continue
        bits, integer, rnd_sat = _ap(layers[node.name]["Precision"]["result"])
        assert bits == hw.act_bits and rnd_sat
        assert 2.0 ** (integer - 1) - 2.0 ** (integer - bits) >= ranges[node.name]      # no saturation on calib
        assert 2.0 ** (integer - 2) - 2.0 ** (integer - bits) < ranges[node.name] or integer <= -bits + 1  # tight
        mod = modules.get(node.target)
        if isinstance(mod, torch.nn.Conv2d | torch.nn.Linear):
            prec = layers[node.name]["Precision"]
            wb, wi, w_rs = _ap(prec["weight"])
            ab, ai, a_rs = _ap(prec["accum"])
            assert wb == hw.weight_bits and w_rs and not a_rs and ab == hw.acc_bits
            assert 2.0 ** (wi - 1) >= float(mod.weight.detach().abs().max())
            assert ai >= integer + hx.ACC_GUARD_BITS


def test_reuse_factor_limits_multipliers():
    from hls4ml.backends import get_backend

    assert hx.reuse_factor(25, 6) == 1
    assert hx.reuse_factor(64, 64) == 1                        # exactly 4096
    for n_in, n_out in ((784, 120), (3 * 3 * 64, 64), (100, 97)):
        rf = hx.reuse_factor(n_in, n_out)
        assert -(-n_in * n_out // rf) <= hx.MAX_PARALLEL_MULTS
        assert get_backend("Vitis")._validate_reuse_factor(n_in, n_out, rf)
        assert not any(get_backend("Vitis")._validate_reuse_factor(n_in, n_out, r)
                       for r in range(-(-n_in * n_out // hx.MAX_PARALLEL_MULTS), rf))


@pytest.mark.slow
@pytest.mark.parametrize("arch, shape, preset", [("resnet20", (1, 8, 8), "zcu102-16b"),
                                                 ("vgg11", (1, 8, 8), "zcu102-8b")])
def test_zoo_csim_agrees(tmp_path, arch, shape, preset):
    model = irregular_model(arch, shape, seed=3)
    rng = np.random.default_rng(0)
    calib = rng.standard_normal((100, *shape)).astype(np.float32)
    images = rng.standard_normal((20, *shape)).astype(np.float32)
    summary = hx.export_hls4ml(randomise_bn(model, 3), load_hw(preset), tmp_path, calib, arch, verify_images=images)
    report = summary["verify"]
    assert report["top1_agreement"] >= 0.9
    tol = 0.02 if preset.endswith("16b") else 0.15
    assert report["max_abs_logit_diff"] <= tol * report["max_abs_float_logit"] + 1e-3
