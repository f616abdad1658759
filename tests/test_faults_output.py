"""Output faults: read-only folders, a full disk, a write that fails half way — one line, old output intact."""

from __future__ import annotations

import os
import subprocess
import uuid
from pathlib import Path

import pytest

from cgap.atomic import atomic_dir, atomic_path, write_text_atomic
from cgap.export_cli import main as export_main
from cgap_ir.errors import CgapError


def _previous_output(folder: Path) -> Path:
    folder.mkdir(parents=True)
    (folder / "lenet.onnx").write_text("previous good output")
    return folder


def test_failed_write_keeps_previous_file(tmp_path):
    target = tmp_path / "model.pt"
    target.write_text("old")
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("injected failure")
    assert target.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["model.pt"]


def test_failed_directory_build_keeps_previous_directory(tmp_path):
    out = _previous_output(tmp_path / "out")
    with pytest.raises(OSError), atomic_dir(out, force=True) as tmp:
        (tmp / "partial.cpp").write_text("int x;")
        raise OSError(28, "No space left on device")
    assert [p.name for p in out.iterdir()] == ["lenet.onnx"]
    assert [p.name for p in tmp_path.iterdir()] == ["out"], "temporary directory left behind"


def test_refuses_non_empty_directory_without_force(tmp_path):
    out = _previous_output(tmp_path / "out")
    with pytest.raises(CgapError, match="not empty"), atomic_dir(out):
        pass


def test_injected_write_failure_in_export_is_one_line(lenet_ckpt, tmp_path, monkeypatch, capsys):
    out = _previous_output(tmp_path / "out")

    def broken_replace(src, dst):
        raise OSError(28, "No space left on device", str(dst))

    monkeypatch.setattr(os, "replace", broken_replace)
    assert export_main([str(lenet_ckpt), "--out", str(out), "--force"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "No space left on device" in err[0]
    monkeypatch.undo()
    assert (out / "lenet.onnx").read_text() == "previous good output"


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores directory permissions")
def test_read_only_directory_is_one_line(lenet_ckpt, tmp_path, capsys):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        assert export_main([str(lenet_ckpt), "--out", str(ro / "x")]) == 2
        assert "Permission denied" in capsys.readouterr().err
    finally:
        ro.chmod(0o700)


@pytest.fixture
def tiny_tmpfs(tmp_path):
    """A 64 KiB tmpfs (root only): yields its mount point, unmounted afterwards."""
    mount = tmp_path / f"full-{uuid.uuid4().hex[:6]}"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mount)], capture_output=True)
    if done.returncode != 0:
        pytest.skip("cannot mount a tmpfs here (needs root)")
    try:
        yield mount
    finally:
        subprocess.run(["umount", str(mount)], check=False)


def test_real_full_disk_keeps_previous_output(lenet_ckpt, tiny_tmpfs, capsys):
    out = _previous_output(tiny_tmpfs / "out")
    filler = tiny_tmpfs / "filler"
    with pytest.raises(OSError):
        filler.write_bytes(b"\0" * (1 << 20))   # fill the remaining space
    assert export_main([str(lenet_ckpt), "--out", str(out), "--force"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "No space left on device" in err[0], err
    assert (out / "lenet.onnx").read_text() == "previous good output"
    assert sorted(p.name for p in tiny_tmpfs.iterdir()) == ["filler", "out"]


def test_write_text_atomic_replaces_whole_file(tmp_path):
    target = write_text_atomic(tmp_path / "a.json", "{}")
    write_text_atomic(target, '{"b": 1}')
    assert target.read_text() == '{"b": 1}'
