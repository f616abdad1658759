"""`cgap-export MODEL.onnx --target fpga`: an ONNX file written by torch.onnx for a model outside the zoo exports
and is bit-exact in C-sim; calibration from --calib-data or a labelled synthetic fallback; ops the engine cannot
run yet fail with the schedule's one-line error; every model command names the format it got and the ones it takes."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
from onnx import TensorProto, helper, numpy_helper

from cgap.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from cgap.cli import main
from cgap.export_cli import main as export_main
from cgap.models import build
from cgap_ir.from_onnx import OnnxImportError, from_onnx
from cgap_ir.model_format import detect_format

CKPT_NAME = "a cgap checkpoint (.pt written by `cgap train`)"
ONNX_NAME = "an ONNX model (.onnx)"


class _Foreign(torch.nn.Module):
    """Not a zoo model: conv-BN-ReLU, a strided conv with a residual 1x1 projection, max pool, GAP, linear."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = torch.nn.Sequential(torch.nn.Conv2d(2, 6, 3, padding=1), torch.nn.BatchNorm2d(6), torch.nn.ReLU())
        self.body = torch.nn.Conv2d(6, 6, 3, padding=1)
        self.proj = torch.nn.Conv2d(6, 6, 1)
        self.pool = torch.nn.MaxPool2d(2)
        self.head = torch.nn.Linear(6, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.stem(x)
        y = torch.relu(self.body(y) + self.proj(y))
        return self.head(torch.flatten(torch.nn.functional.adaptive_avg_pool2d(self.pool(y), 1), 1))


def _torch_onnx(module: torch.nn.Module, shape: tuple[int, ...], path: Path) -> Path:
    torch.manual_seed(0)
    torch.onnx.export(module.eval(), torch.zeros(1, *shape), str(path), dynamo=False, opset_version=13,
                      input_names=["x"], output_names=["y"], dynamic_axes={"x": {0: "N"}, "y": {0: "N"}})
    return path


@pytest.fixture(scope="module")
def foreign_onnx(tmp_path_factory) -> Path:
    torch.manual_seed(0)
    module = _Foreign()
    with torch.no_grad():
        module.stem[1].running_mean.uniform_(-0.2, 0.2)
        module.stem[1].running_var.uniform_(0.5, 1.5)
    return _torch_onnx(module, (2, 8, 8), tmp_path_factory.mktemp("foreign") / "foreign.onnx")


def _summary(capsys) -> dict:
    return json.loads(capsys.readouterr().out.splitlines()[0])


def test_foreign_onnx_exports_bit_exact_with_calib_data(foreign_onnx, tmp_path, capsys):
    calib = np.random.default_rng(0).standard_normal((120, 2, 8, 8)).astype(np.float32)
    np.save(tmp_path / "calib.npy", calib)
    code = export_main([str(foreign_onnx), "--target", "fpga", "--calib-data", str(tmp_path / "calib.npy"),
                        "--verify", "--images", "6", "--out", str(tmp_path / "proj")])
    summary = _summary(capsys)
    assert code == 0
    assert summary["verify"]["bit_exact"] is True and summary["verify"]["images"] == 6
    assert summary["verify"]["top1_agreement"] >= 0.5 and summary["verify"]["float_max_abs_diff"] < 0.1
    assert summary["calibration"].startswith("--calib-data") and "120 images" in summary["calibration"]
    verify = json.loads((tmp_path / "proj" / "verify.json").read_text())
    assert verify["iterations_match"] and verify["cycles_match"]


def test_foreign_onnx_without_calib_data_uses_labelled_synthetic_images(foreign_onnx, tmp_path, capsys):
    code = export_main([str(foreign_onnx), "--target", "fpga", "--out", str(tmp_path / "proj")])
    captured = capsys.readouterr()
    assert code == 0
    assert "synthetic" in json.loads(captured.out.splitlines()[0])["calibration"]
    warning = [line for line in captured.err.splitlines() if "--calib-data" in line]
    assert len(warning) == 1 and warning[0].startswith("cgap-export: warning: no --calib-data given") \
        and "synthetic" in warning[0]


@pytest.mark.parametrize("array, needle", [
    (np.zeros((5, 3, 8, 8), np.float32), "array of shape (5, 3, 8, 8), the model takes N x 2x8x8 images"),
    (np.full((5, 2, 8, 8), np.nan, np.float32), "values must be finite"),
])
def test_bad_calib_data_is_one_line_naming_the_file(array, needle, foreign_onnx, tmp_path, capsys):
    np.save(tmp_path / "c.npy", array)
    code = export_main([str(foreign_onnx), "--target", "fpga", "--calib-data", str(tmp_path / "c.npy"),
                        "--out", str(tmp_path / "proj")])
    lines = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and "c.npy" in lines[0] and needle in lines[0], lines
    assert not (tmp_path / "proj").exists()


def test_an_op_the_engine_cannot_run_fails_with_the_schedule_error(tmp_path, capsys):
    """A Concat of the network input runs on no engine layer (Concat is addressing: each part must be written by
    one): the schedule's one line names the node and why."""
    rng = np.random.default_rng(0)
    inits = [numpy_helper.from_array(rng.standard_normal((3, 2, 3, 3)).astype(np.float32), "w")]
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"], pads=[1, 1, 1, 1], name="conv"),
             helper.make_node("Concat", ["c", "x"], ["y"], axis=1, name="join")]
    graph = helper.make_graph(nodes, "cat", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 2, 6, 6])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], initializer=inits)
    path = tmp_path / "cat.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), str(path))
    code = export_main([str(path), "--target", "fpga", "--out", str(tmp_path / "proj")])
    lines = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and re.match(r"cgap-export: error: node 'join': Concat input '\w+' must be a feature map written "
                                  r"by an engine layer", lines[-1])
    assert not (tmp_path / "proj").exists()


# ------------------------------------------------------------------------------------------ format errors

@pytest.fixture(scope="module")
def ckpt(tmp_path_factory) -> Path:
    torch.manual_seed(0)
    return save_checkpoint(tmp_path_factory.mktemp("ck") / "lenet.pt", build("lenet5", (1, 8, 8), 10, width_mult=0.5),
                           {"method": "test", "dataset": {"name": "digits"}})


@pytest.mark.parametrize("target", ["onnx", "hls4ml"])
def test_onnx_into_a_checkpoint_only_target_names_both_formats(target, foreign_onnx, tmp_path, capsys):
    code = export_main([str(foreign_onnx), "--target", target, "--out", str(tmp_path / "o")])
    lines = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(lines) == 1
    assert lines[0] == (f"cgap-export: error: {foreign_onnx}: this is {ONNX_NAME}; `cgap-export --target {target}` "
                        f"takes {CKPT_NAME}")


def test_checkpoint_into_the_onnx_importer_names_both_formats(ckpt):
    with pytest.raises(OnnxImportError, match=r"lenet.pt: this is a cgap checkpoint .*; the ONNX importer takes "
                                              r"an ONNX model \(.onnx\)$"):
        from_onnx(ckpt)


def test_onnx_into_the_checkpoint_loader_names_both_formats(foreign_onnx):
    with pytest.raises(CheckpointError, match=r"foreign.onnx: this is an ONNX model \(.onnx\); this command takes a "
                                              r"cgap checkpoint"):
        load_checkpoint(foreign_onnx)


def test_formats_are_told_apart_by_content(ckpt, foreign_onnx, tmp_path, capsys):
    """A renamed file still loads in the commands that take both (inspect, sim, dse)."""
    (tmp_path / "really_onnx.pt").write_bytes(foreign_onnx.read_bytes())
    (tmp_path / "really_ckpt.onnx").write_bytes(ckpt.read_bytes())
    assert detect_format(tmp_path / "really_onnx.pt") == "onnx"
    assert detect_format(tmp_path / "really_ckpt.onnx") == "checkpoint"
    assert detect_format(ckpt.parent / "absent.pt") is None
    for path in ("really_onnx.pt", "really_ckpt.onnx"):
        assert main(["inspect", str(tmp_path / path), "--json"]) == 0
        assert json.loads(capsys.readouterr().out)["params"] > 0


def test_checkpoint_export_takes_calib_data_too(ckpt, tmp_path, capsys):
    np.save(tmp_path / "c.npy", np.random.default_rng(1).uniform(0, 1, (100, 1, 8, 8)).astype(np.float32))
    code = export_main([str(ckpt), "--target", "fpga", "--calib-data", str(tmp_path / "c.npy"),
                        "--out", str(tmp_path / "proj")])
    assert code == 0 and _summary(capsys)["calibration"] == f"--calib-data {tmp_path / 'c.npy'} (100 images)"


def test_foreign_onnx_calibrated_and_verified_on_a_named_dataset(tmp_path, capsys):
    """digits is 1x8x8: a non-zoo net for that shape, verified on labelled test images (accuracy reported)."""
    torch.manual_seed(0)
    module = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3, padding=1), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
                                 torch.nn.Flatten(), torch.nn.Linear(64, 10))
    path = _torch_onnx(module, (1, 8, 8), tmp_path / "digits_net.onnx")
    code = export_main([str(path), "--target", "fpga", "--dataset", "digits", "--verify", "--images", "5",
                        "--out", str(tmp_path / "proj")])
    summary = _summary(capsys)
    assert code == 0 and summary["calibration"].startswith("dataset digits (200 training images")
    assert summary["verify"]["bit_exact"] is True and "fixed_accuracy" in summary["verify"]


def test_a_dataset_of_another_shape_is_refused(foreign_onnx, tmp_path, capsys):
    code = export_main([str(foreign_onnx), "--target", "fpga", "--dataset", "digits", "--out", str(tmp_path / "p")])
    lines = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and lines == ["cgap-export: error: --dataset digits: its images are 1x8x8, the model takes 2x8x8"]


class _Padded(torch.nn.Module):
    """torch.nn.functional.pad before a conv exports as an ONNX Pad node, which lowering folds into the conv."""

    def __init__(self) -> None:
        super().__init__()
        self.conv, self.head = torch.nn.Conv2d(2, 4, 3), torch.nn.Linear(4 * 8 * 8, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = torch.relu(self.conv(torch.nn.functional.pad(x, (1, 1, 2, 0))))
        return self.head(torch.flatten(y, 1))


def test_a_pad_node_before_a_conv_exports_bit_exact(tmp_path, capsys):
    path = _torch_onnx(_Padded(), (2, 8, 8), tmp_path / "padded.onnx")
    assert "Pad" in [n.op.kind for n in from_onnx(path).nodes]
    code = export_main([str(path), "--target", "fpga", "--verify", "--images", "4", "--out", str(tmp_path / "proj")])
    summary = _summary(capsys)
    assert code == 0 and summary["verify"]["bit_exact"] is True and summary["verify"]["top1_agreement"] == 1.0
