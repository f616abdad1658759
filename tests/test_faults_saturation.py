"""Fixed-point saturation: counted per layer (and at the input) in verify.json, warned about above 1%.

Calibration images with a tiny range force saturation on normal verify images; the C-sim stays bit-exact
(the engine saturates exactly like the golden model), the export succeeds, and stderr gets one warning line
naming the layer(s).
"""

from __future__ import annotations

import dataclasses
import json
import shutil

import pytest
import torch

import cgap.export_cli as export_cli
from cgap.checkpoint import save_checkpoint
from cgap.export_cli import warn_saturation
from cgap.models import build

pytestmark = pytest.mark.skipif(shutil.which("g++") is None, reason="needs g++")


@pytest.fixture
def ckpt(tmp_path):
    torch.manual_seed(0)
    return save_checkpoint(tmp_path / "lenet.pt", build("lenet5", (1, 8, 8), 10, width_mult=0.5),
                           {"method": "test", "dataset": {"name": "digits"}})


def _scaled(monkeypatch, calib_scale, test_scale, spike: bool = False) -> None:
    """Make cgap-export calibrate on train images x calib_scale and verify on test images x test_scale.

    With ``spike`` one calibration image keeps a single full-range pixel, so the input's binary point
    covers the verify images but every conv's calibrated range stays far too small.
    """
    real = export_cli.calibration_data

    def fake(ckpt, args):
        s = real(ckpt, args)
        calib = s.train[0] * calib_scale
        if spike:
            calib[0].zero_()
            calib[0, 0, 4, 4] = float(s.test[0].abs().max()) * test_scale
        return dataclasses.replace(s, train=(calib, s.train[1]), test=(s.test[0] * test_scale, s.test[1]))

    monkeypatch.setattr(export_cli, "calibration_data", fake)


def _export(ckpt, out, capsys) -> tuple[int, list[str], dict]:
    code = export_cli.main([str(ckpt), "--target", "fpga", "--verify", "--images", "20", "--out", str(out)])
    cap = capsys.readouterr()
    return code, cap.err.strip().splitlines(), json.loads((out / "verify.json").read_text())


def test_no_warning_when_calibrated_on_like_data(ckpt, tmp_path, capsys):
    code, err, verify = _export(ckpt, tmp_path / "ok", capsys)
    assert code == 0 and err == [] and verify["bit_exact"]
    assert verify["input_saturations"] == 0 and verify["input_values"] == 20 * 64
    assert all(r["outputs"] > 0 and r["saturations"] == r["golden_saturations"] for r in verify["layers"])


def test_tiny_calibration_range_warns_about_input_saturation(ckpt, tmp_path, monkeypatch, capsys):
    _scaled(monkeypatch, 0.02, 1.0)
    code, err, verify = _export(ckpt, tmp_path / "sat", capsys)
    assert code == 0 and verify["bit_exact"], err
    assert verify["input_saturations"] > 0.01 * verify["input_values"]
    assert len(err) == 1 and err[0].startswith("cgap-export: warning: ") and "input" in err[0], err


def test_layer_saturation_is_counted_and_names_the_layer(ckpt, tmp_path, monkeypatch, capsys):
    _scaled(monkeypatch, 0.02, 1.0, spike=True)
    code, err, verify = _export(ckpt, tmp_path / "sat", capsys)
    assert code == 0 and verify["bit_exact"], err
    hot = [r["name"] for r in verify["layers"] if r["saturations"] > 0.01 * r["outputs"]]
    assert hot, verify["layers"]
    assert all(r["saturations"] == r["golden_saturations"] for r in verify["layers"])
    assert len(err) == 1 and err[0].startswith("cgap-export: warning: "), err
    assert all(name in err[0] for name in hot)


def test_warning_threshold_is_per_layer_rate(capsys):
    rows = [{"name": "a", "saturations": 10, "golden_saturations": 10, "outputs": 1000},    # 1.0%: not above
            {"name": "b", "saturations": 0, "golden_saturations": 11, "outputs": 1000},     # 1.1%
            {"name": "c", "saturations": 500, "golden_saturations": 500, "outputs": 1000}]  # 50%
    assert warn_saturation({"layers": rows, "input_saturations": 0, "input_values": 10}) == ["c", "b"]
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "c 50.0% (500/1000), b 1.1% (11/1000)" in err[0]
    assert warn_saturation({"layers": rows[:1]}) == [] and capsys.readouterr().err == ""


def test_export_prints_the_project_resource_line(ckpt, tmp_path, capsys):
    """One resource line: the estimate of the generated engine from the project's own constants (the line
    `cgap dse` prints for the same design)."""
    from fpga_model.geometry import GEOMETRY_KEYS
    from fpga_model.hw import load_hw
    from fpga_model.resource_lines import resource_dict, resource_line

    code = export_cli.main([str(ckpt), "--target", "fpga", "--out", str(tmp_path / "res")])
    captured = capsys.readouterr()
    out = captured.out.splitlines()
    assert code == 0
    summary = json.loads(out[0])
    lines = [line for line in out if line.startswith("resources on ")]
    assert set(summary["buffers"]) == set(GEOMETRY_KEYS)
    assert lines == [resource_line(resource_dict(load_hw("zcu102-16b"), summary["buffers"]))]
    assert "(estimate of the generated engine)" in lines[0] and lines[0].endswith("— fits")
    assert "does not fit" not in captured.err
