"""Bad input at every command-line entry point: exactly one stderr line, exit 2, no traceback, nothing written.

Most cases run in-process (``cgap.cli.main`` / ``cgap.export_cli.main`` with capsys); a few go through
``python -m cgap`` / ``python -m cgap.export_cli`` in a subprocess for the real exit code and stderr.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from cgap.checkpoint import save_checkpoint
from cgap.cli import main
from cgap.export_cli import main as export_main
from cgap.models import build
from cgap_ir.errors import CgapError

ROOT = Path(__file__).resolve().parents[1]
GOLDEN = ROOT / "tests" / "golden" / "scalesim"


def _one_line(capsys, code: int, needle: str, prog: str = "cgap") -> str:
    """Assert exit 2 and exactly one 'PROG: error: ...' stderr line containing ``needle``; return it."""
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert code == 2, err
    assert len(lines) == 1 and "Traceback" not in err, err
    assert lines[0].startswith(f"{prog}: error: ") and needle in lines[0], lines[0]
    return lines[0]


@pytest.fixture
def ckpt(tmp_path) -> Path:
    """A lenet5 checkpoint (1x8x8, digits) that exports fine."""
    torch.manual_seed(0)
    return save_checkpoint(tmp_path / "lenet.pt", build("lenet5", (1, 8, 8), 10, width_mult=0.5),
                           {"method": "test", "dataset": {"name": "digits"}})


# ------------------------------------------------------------------------------------------- HwConfig TOML

BAD_TOML = [
    ("[array]\npox = 10000000\n", "absurd"),
    ("[array]\npox = 100000\npoy = 100\n", "absurd"),
    ("[array]\npox = 0\n", "pox must be a positive integer"),
    ("[array]\npof = -3\n", "pof must be a positive integer"),
    ('[array]\npox = "7"\n', "pox must be a positive integer"),
    ("[array]\npox = 7.5\n", "pox must be a positive integer"),
    ("[array]\npox = true\n", "pox must be a positive integer"),
    ("[array]\nbogus = 7\n", "unknown key array.bogus"),
    ("[weird]\nx = 1\n", "unknown section [weird]"),
    ("array = 3\n", "unknown section [array]"),
    ("[bits]\nact = 12\n", "act_bits must be 8 or 16"),
    ("[bits]\nacc = 8\n", "acc_bits must be in"),
    ("[buffers]\ninput_kib = 0\n", "input_buffer_kib must be a positive integer"),
    ("[buffers]\nweight_kib = 100000000000\n", "weight_buffer_kib = 100000000000 KiB is absurd"),
    ("[device]\nclock_mhz = 0\n", "clock_mhz must be in [1, 1000]"),
    ("[device]\nclock_mhz = nan\n", "clock_mhz must be in [1, 1000]"),
    ("[device]\npart = 5\n", "part must be a non-empty string"),
    ("[dram]\nbandwidth_gbps = 0\n", "dram.bandwidth_gbps must be a positive number"),
    ("[dram]\nbandwidth_gbps = inf\n", "dram.bandwidth_gbps must be a positive number"),
    ("[dram]\nbandwidth_gbps = 1e308\n", "dram.bandwidth_gbps must be a positive number"),
    ("[dram]\nport_bits = 100\n", "dram.port_bits"),
    ("[dram]\nlatency_cycles = -1\n", "dram.latency_cycles"),
    ("[dram]\nefficiency = 2.0\n", "dram.efficiency must be <= 1"),
    ('[dram]\npreset = "DDR9"\n', "unknown dram.preset 'DDR9'"),
    ("[dram]\nkind = 5\n", "dram.kind must be a non-empty string"),
    ("[energy]\nmac_pj_16bit = -1\n", "energy.mac_pj_16bit must be a non-negative number"),
    ("[energy]\nalu_pj = nan\n", "energy.alu_pj must be a non-negative number"),
    ("[energy]\nwatts = 1\n", "unknown key energy.watts"),
    ('preset = "vu19p"\n', "unknown preset 'vu19p'"),
    ("dram = 3\n", "[dram] must be a table"),
    ("[array\npox = 7\n", "not valid TOML"),
    ("\x00\x01\x02 binary junk", "not valid TOML"),
]
ENTRY_POINTS = ["sim", "fpga", "hls4ml"]


def _run_with_hw(entry: str, hw: str, ckpt: Path, out: Path) -> int:
    if entry == "sim":
        return main(["sim", "--arch", "lenet5", "--input", "1x8x8", "--hw", hw])
    return export_main([str(ckpt), "--target", entry, "--hw", hw, "--out", str(out)])


@pytest.mark.parametrize("text, needle", BAD_TOML, ids=[n for _, n in BAD_TOML])
@pytest.mark.parametrize("entry", ENTRY_POINTS)
def test_bad_hw_toml_at_every_entry_point(entry, text, needle, ckpt, tmp_path, capsys):
    path = tmp_path / "hw.toml"
    path.write_bytes(text.encode("latin-1"))
    out = tmp_path / "out"
    code = _run_with_hw(entry, str(path), ckpt, out)
    _one_line(capsys, code, needle, "cgap" if entry == "sim" else "cgap-export")
    assert not out.exists() and sorted(p.name for p in tmp_path.iterdir()) == ["hw.toml", "lenet.pt"]


@pytest.mark.parametrize("entry", ENTRY_POINTS)
@pytest.mark.parametrize("hw, needle", [("nosuch-board", "unknown hw preset 'nosuch-board'"),
                                        ("missing.toml", "hw config file missing.toml not found")])
def test_unknown_hw_preset_or_missing_file(entry, hw, needle, ckpt, tmp_path, capsys):
    code = _run_with_hw(entry, hw, ckpt, tmp_path / "out")
    _one_line(capsys, code, needle, "cgap" if entry == "sim" else "cgap-export")
    assert not (tmp_path / "out").exists()


def test_good_toml_still_accepted(tmp_path, capsys):
    """The limits above leave real designs alone (a fault test that rejects everything would pass too)."""
    path = tmp_path / "hw.toml"
    path.write_text('preset = "pynq-z2-16b"\n[array]\npox = 8\n[buffers]\ninput_kib = 1048576\n'
                    '[dram]\npreset = "HBM2"\nbandwidth_gbps = 460.0\n[energy]\nalu_pj = 0.0\n')
    assert main(["sim", "--arch", "lenet5", "--input", "1x8x8", "--hw", str(path)]) == 0
    assert "TOTAL" in capsys.readouterr().out


# ------------------------------------------------------------------------------------------ SCALE-Sim files

TOPO_HEAD = "Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter, Strides,\n"
BAD_TOPOLOGY = [
    (TOPO_HEAD + "big, 1000000000, 1000000000, 3, 3, 1000000, 1000000, 1,\n", "is absurd"),
    (TOPO_HEAD + "big, 1000000, 1000000, 3, 3, 1000000, 1000000, 1,\n", "MACs in one layer is absurd"),
    (TOPO_HEAD + "DP_x, 10, 10, 3, 3, 1000000, 1, 1,\n", "exceed 100000 layers"),
    (TOPO_HEAD + "neg, -5, 5, 3, 3, 1, 1, 1,\n", "dimensions must be positive"),
    (TOPO_HEAD + "zero, 5, 5, 3, 3, 0, 1, 1,\n", "dimensions must be positive"),
    (TOPO_HEAD + "f, 2, 2, 3, 3, 1, 1, 1,\n", "filter 3x3 larger than ifmap 2x2"),
    (TOPO_HEAD + "short, 5, 5,\n", "expected at least 8 fields"),
    (TOPO_HEAD + "x, five, 5, 3, 3, 1, 1, 1,\n", "non-integer field"),
    (TOPO_HEAD, "no layers"),
    ("", "no layers"),
    ("\xff\xfe\x00 binary", "cannot read"),
]


@pytest.mark.parametrize("text, needle", BAD_TOPOLOGY, ids=range(len(BAD_TOPOLOGY)))
def test_bad_scalesim_topology(text, needle, tmp_path, capsys):
    topo = tmp_path / "topo.csv"
    topo.write_bytes(text.encode("latin-1"))
    csv_out = tmp_path / "rows.csv"
    code = main(["sim", "--scalesim-topology", str(topo), "--scalesim-config", str(GOLDEN / "os_8x8.cfg"),
                 "--csv", str(csv_out)])
    _one_line(capsys, code, needle)
    assert not csv_out.exists()


def _cfg(tmp_path: Path, old: str, new: str) -> Path:
    text = (GOLDEN / "os_8x8.cfg").read_text()
    assert old in text
    path = tmp_path / "bad.cfg"
    path.write_text(text.replace(old, new))
    return path


@pytest.mark.parametrize("old, new, needle", [
    ("ArrayHeight:    8", "ArrayHeight:    0", "rows must be a positive integer"),
    ("ArrayHeight:    8", "ArrayHeight:    100000000", "rows = 100000000 is absurd"),
    ("IfmapSramSzkB:    64", "IfmapSramSzkB:    99999999999", "ifmap_kib = 99999999999 is absurd"),
    ("ArrayWidth:     8", "ArrayWidth:     eight", "ArrayWidth must be an integer"),
    ("Dataflow : os", "Dataflow : zz", "dataflow must be one of os/ws/is"),
    ("IfmapSramSzkB:    64\n", "", "missing [architecture_presets] IfmapSramSzkB"),
    ("[general]", "general", "cannot read"),
])
def test_bad_scalesim_config(old, new, needle, tmp_path, capsys):
    cfg = _cfg(tmp_path, old, new)
    code = main(["sim", "--scalesim-topology", str(GOLDEN / "topo_small.csv"), "--scalesim-config", str(cfg)])
    _one_line(capsys, code, needle)


# ------------------------------------------------------------------------------------------- model files

def _unsupported_onnx(path: Path) -> Path:
    import onnx
    from onnx import TensorProto, helper

    x = helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 1, 4, 4])
    y = helper.make_tensor_value_info("out", TensorProto.FLOAT, [1, 1, 4, 4])
    graph = helper.make_graph([helper.make_node("Sigmoid", ["input"], ["out"], name="sig")], "g", [x], [y])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    return path


def _altered_checkpoint(src: Path, dst: Path, **changes) -> Path:
    doc = torch.load(src, weights_only=True)
    doc.update(changes)
    torch.save(doc, dst)
    return dst


MODEL_COMMANDS = {
    "inspect": lambda m, out: main(["inspect", m]),
    "sim": lambda m, out: main(["sim", m, "--csv", str(out / "x.csv")]),
    "dse": lambda m, out: main(["dse", m, "--device", "xc7z020", "--out", str(out / "hw.toml")]),
}


def _bad_models(ckpt: Path, tmp: Path) -> dict[str, tuple[Path, str]]:
    junk = tmp / "junk.pt"
    junk.write_bytes(os.urandom(256))
    truncated = tmp / "truncated.pt"
    truncated.write_bytes(ckpt.read_bytes()[:500])
    widths = torch.load(ckpt, weights_only=True)["widths"]
    return {
        "unsupported_onnx_op": (_unsupported_onnx(tmp / "sig.onnx"), "node 'sig' (Sigmoid): unsupported op"),
        "garbage_onnx": (tmp / "junk.onnx", "not a readable ONNX model"),
        "random_bytes": (junk, "not a readable checkpoint"),
        "truncated": (truncated, "not a readable checkpoint"),
        "other_format_version": (_altered_checkpoint(ckpt, tmp / "v2.pt", format_version=2),
                                 "checkpoint format version 2 is not supported"),
        "other_format_name": (_altered_checkpoint(ckpt, tmp / "fmt.pt", format="timm-checkpoint"),
                              "not a cgap checkpoint"),
        "absurd_widths": (_altered_checkpoint(ckpt, tmp / "huge.pt", widths={**widths, "conv2": 10**7}),
                          "parameters, more than the"),
        "absurd_input": (_altered_checkpoint(ckpt, tmp / "big.pt", input_shape=[1, 10**6, 10**6]),
                         "has more than 67,108,864 elements"),
        "string_dims": (_altered_checkpoint(ckpt, tmp / "str.pt", input_shape=["a", 8, 8]),
                        "input shape must be C,H,W"),
        "wrong_suffix": (tmp / "model.h5", "expected a cgap checkpoint (.pt) or an ONNX model (.onnx)"),
    }


@pytest.mark.parametrize("case", ["unsupported_onnx_op", "garbage_onnx", "random_bytes", "truncated",
                                  "other_format_version", "other_format_name", "absurd_widths", "absurd_input",
                                  "string_dims", "wrong_suffix"])
@pytest.mark.parametrize("command", list(MODEL_COMMANDS))
def test_bad_model_file_at_every_model_command(command, case, ckpt, tmp_path, capsys):
    (tmp_path / "junk.onnx").write_bytes(b"\x08\x07 not protobuf" * 3)
    (tmp_path / "model.h5").write_bytes(b"HDF")
    path, needle = _bad_models(ckpt, tmp_path)[case]
    out = tmp_path / "out"
    out.mkdir()
    code = MODEL_COMMANDS[command](str(path), out)
    _one_line(capsys, code, needle)
    assert not any(out.iterdir()), "something was written for a bad model"


@pytest.mark.parametrize("target", ["onnx", "fpga", "hls4ml"])
@pytest.mark.parametrize("case", ["random_bytes", "truncated", "other_format_version", "absurd_widths",
                                  "absurd_input", "unsupported_onnx_op"])
def test_bad_checkpoint_into_cgap_export(target, case, ckpt, tmp_path, capsys):
    (tmp_path / "junk.onnx").write_bytes(b"junk")
    path, needle = _bad_models(ckpt, tmp_path)[case]
    if case == "unsupported_onnx_op" and target != "fpga":   # checkpoint-only targets say what they got instead
        needle = (f"sig.onnx: this is an ONNX model (.onnx); `cgap-export --target {target}` takes a cgap checkpoint "
                  "(.pt written by `cgap train`)")
    out = tmp_path / "out"
    code = export_main([str(path), "--target", target, "--out", str(out)])
    _one_line(capsys, code, needle, "cgap-export")
    assert not out.exists() and not (tmp_path / "generated").exists()


# ------------------------------------------------------------------------------------------ other options

@pytest.mark.parametrize("argv, needle", [
    (["--target", "onnx", "--check-images", "0"], "--check-images must be at least 1, got 0"),
    (["--target", "fpga", "--verify", "--images", "-3"], "--images must be at least 1, got -3"),
    (["--target", "fpga", "--calib-images", "-1"], "--calib-images must be at least 1, got -1"),
    (["--target", "fpga", "--calib-images", "5"], "calibration needs at least 100 images, got 5"),
    (["--target", "fpga", "--verify", "--images", "0"], "--images must be at least 1, got 0"),
    (["--target", "hls4ml", "--images", "-5", "--verify"], "--images must be at least 1, got -5"),
    (["--target", "fpga", "--dataset", "nosuch"], "unknown dataset 'nosuch'"),
])
def test_bad_export_options(argv, needle, ckpt, tmp_path, capsys):
    out = tmp_path / "out"
    code = export_main([str(ckpt), "--out", str(out), *argv])
    _one_line(capsys, code, needle, "cgap-export")
    assert not out.exists()


@pytest.mark.parametrize("argv, needle", [
    (["dse", "--arch", "lenet5", "--input", "1x8x8", "--device", "nosuch"], "unknown device 'nosuch'"),
    (["dse", "--arch", "lenet5", "--input", "1x8x8", "--device", "xc7z020", "--workers", "0"], "--workers"),
    (["sim", "--arch", "lenet5", "--input", "1x8x8", "--width-mult", "100000"], "parameters, more than the"),
    (["inspect", "--arch", "lenet5", "--input", "1x8x8", "--num-classes", "100000000"], "parameters, more than"),
    (["inspect", "--arch", "resnet20", "--input", "3x100000x100000"], "has more than 67,108,864 elements"),
    (["inspect", "--arch", "lenet5", "--width-mult", "-1"], "width multiplier must be positive"),
    (["inspect", "--arch", "lenet99"], "unknown architecture 'lenet99'"),
    (["sim", "--arch", "lenet5", "--input", "1x8x8", "--pipeline-depth", "-1"], "--pipeline-depth"),
    (["sim", "--scalesim-topology", "t.csv"], "needs both --scalesim-topology and --scalesim-config"),
    (["report", "/nonexistent/run"], "run directory /nonexistent/run not found"),
])
def test_bad_options(argv, needle, capsys):
    _one_line(capsys, main(argv), needle)


@pytest.mark.parametrize("name, text, needle", [
    ("history.json", b"\xff\xfe garbage", "history.json: unreadable JSON"),
    ("history.json", b'{"epochs": "x"}', "does not have the layout cgap writes"),
    ("verify.json", b"[1, 2]", "verify.json: expected a JSON object"),
    ("summary.json", b'{"layers": 5}', "summary.json: expected a JSON array"),
    ("summary.json", b"", "summary.json: unreadable JSON"),
])
def test_bad_run_dir_for_report(name, text, needle, tmp_path, capsys):
    (tmp_path / name).write_bytes(text)
    _one_line(capsys, main(["report", str(tmp_path)]), needle)
    assert not (tmp_path / "report.html").exists()


@pytest.mark.parametrize("state, needle", [(b"garbage", "not a readable checkpoint"), (None, "format version 2")])
def test_train_resume_from_bad_state(state, needle, ckpt, tmp_path, capsys):
    out = tmp_path / "run"
    out.mkdir()
    if state is None:
        _altered_checkpoint(ckpt, out / "state.pt", format_version=2)
    else:
        (out / "state.pt").write_bytes(state)
    before = sorted(p.name for p in out.iterdir())
    code = main(["train", "--arch", "lenet5", "--dataset", "digits", "--epochs", "1", "--out", str(out), "--resume",
                 "--no-progress"])
    _one_line(capsys, code, needle)
    assert sorted(p.name for p in out.iterdir()) == before


# ----------------------------------------------------------------------------- real processes and --debug

def _cli(*argv: str, module: str = "cgap") -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", module, *argv], capture_output=True, text=True, env=env,
                          timeout=120, cwd=ROOT)


def test_subprocess_exit_codes_and_single_line(ckpt, tmp_path):
    bad = tmp_path / "hw.toml"
    bad.write_text("[array]\npox = 10000000\n")
    v2 = _altered_checkpoint(ckpt, tmp_path / "v2.pt", format_version=2)
    runs = [
        (_cli("sim", "--arch", "lenet5", "--input", "1x8x8", "--hw", str(bad)), "cgap: error:", "absurd"),
        (_cli("inspect", str(_unsupported_onnx(tmp_path / "sig.onnx"))), "cgap: error:", "Sigmoid"),
        (_cli(str(v2), "--target", "fpga", "--out", str(tmp_path / "o"), module="cgap.export_cli"),
         "cgap-export: error:", "format version 2"),
    ]
    for res, prefix, needle in runs:
        lines = res.stderr.strip().splitlines()
        assert res.returncode == 2 and len(lines) == 1, res.stderr
        assert lines[0].startswith(prefix) and needle in lines[0] and "Traceback" not in res.stderr
        assert res.stdout == ""
    assert not (tmp_path / "o").exists()


def test_debug_shows_the_traceback(tmp_path):
    bad = tmp_path / "hw.toml"
    bad.write_text("[array]\npox = 0\n")
    res = _cli("--debug", "sim", "--arch", "lenet5", "--input", "1x8x8", "--hw", str(bad))
    assert res.returncode != 0 and "Traceback (most recent call last)" in res.stderr
    assert "HwConfigError: hw config 'hw': pox must be a positive integer" in res.stderr


def test_debug_in_process_raises(tmp_path, ckpt):
    bad = tmp_path / "hw.toml"
    bad.write_text("[array]\npox = 0\n")
    with pytest.raises(CgapError, match="pox must be a positive integer"):
        main(["--debug", "sim", "--arch", "lenet5", "--input", "1x8x8", "--hw", str(bad)])
    with pytest.raises(CgapError, match="format version 2"):
        export_main([str(_altered_checkpoint(ckpt, tmp_path / "v2.pt", format_version=2)), "--debug"])
