"""`cgap report`: a self-contained page from a run directory; headless Chromium renders it (slow target)."""

from __future__ import annotations

import base64
import json
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest

from cgap.cli import main
from cgap.report.html import write_report
from fpga_model.engine_sim import simulate
from fpga_model.geometry import network_geometry
from fpga_model.hw import load_hw
from fpga_model.report import to_dict
from fpga_model.resource_lines import resource_dict
from fpga_model.testnets import lenet5

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _history(widths_by_epoch: list[dict[str, int]]) -> dict:
    epochs = [{"epoch": i + 1, "params": 1000 * sum(w.values()), "macs": 5000 * sum(w.values()),
               "train_loss": 2.0 / (i + 1), "val_acc": 50.0 + 5 * i, "widths": w} for i, w in enumerate(widths_by_epoch)]
    return {"epochs": epochs, "events": [{"kind": "grow", "epoch": 2, "step": 10, "params_before": 1, "params_after": 2},
                                         {"kind": "prune", "epoch": 4, "step": 30, "params_before": 2, "params_after": 1}]}


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    """A run directory with two training histories, a simulator report, a verify.json and a hw.toml."""
    root = tmp_path / "run"
    for method, widths in (("cgap", [2, 6, 8, 5]), ("full", [8, 8, 8, 8])):
        (root / method).mkdir(parents=True)
        hist = _history([{"conv1": w, "conv2": 2 * w} for w in widths])
        (root / method / "history.json").write_text(json.dumps(hist))
    (root / "sim").mkdir()
    (root / "sim" / "cgap.json").write_text(json.dumps(to_dict(simulate(lenet5(), load_hw("tiny-test"), ))))
    (root / "hls").mkdir()
    (root / "hls" / "verify.json").write_text(json.dumps({"bit_exact": True, "iterations_match": True, "images": 8,
                                                           "top1_agreement": 1.0}))
    (root / "hw.toml").write_text('name = "tiny-test"\n')
    hw = load_hw("pynq-z2-16b")
    (root / "resources.json").write_text(json.dumps(resource_dict(hw, network_geometry(lenet5(), hw))))
    (root / "summary.json").write_text(json.dumps([{"method": "cgap", "params": 1234, "accuracy": 0.9}]))
    return root


class _Collector(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.images: list[str] = []
        self.external: list[str] = []

    def handle_starttag(self, tag: str, attrs: list) -> None:
        a = dict(attrs)
        if tag == "img":
            self.images.append(a["src"])
        for key in ("src", "href"):
            if key in a and re.match(r"https?:|//", a[key] or ""):
                self.external.append(a[key])


def test_report_is_self_contained_with_every_section(run_dir):
    page = write_report(run_dir).read_text()
    parser = _Collector()
    parser.feed(page)
    assert not parser.external
    assert len(parser.images) == 4   # comparison curves, two width heatmaps, sim bars: all embedded
    for src in parser.images:
        assert src.startswith("data:image/png;base64,")
        assert base64.b64decode(src.split(",", 1)[1])[:8] == PNG_MAGIC
    for section in ("summary", "training", "accelerator", "verification", "hardware"):
        assert f'id="{section}"' in page
    assert "grow events" in page and 'class="ok">yes' in page
    hardware = page[page.index('id="hardware"'):]
    assert "Analytical estimate on xc7z020" in hardware and "fits" in hardware
    assert all(f">{name}<" in hardware for name in ("DSP", "BRAM", "LUT", "FF")), hardware[:3000]


def test_report_cli_and_empty_dir(run_dir, tmp_path, capsys):
    out = tmp_path / "r.html"
    assert main(["report", str(run_dir), "--out", str(out)]) == 0 and out.stat().st_size > 10_000
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["report", str(empty)]) == 2
    assert "nothing to report" in capsys.readouterr().err


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("chromium") is None, reason="Debian chromium not installed")
def test_report_renders_in_headless_chromium(run_dir, tmp_path):
    page = write_report(run_dir)
    shot = tmp_path / "report.png"
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             f"--user-data-dir={tmp_path / 'profile'}", "--window-size=1280,4000"]
    done = subprocess.run(["chromium", *flags, f"--screenshot={shot}", page.as_uri()], capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert shot.read_bytes()[:8] == PNG_MAGIC and shot.stat().st_size > 20_000
    probe = tmp_path / "probe.html"   # the same page plus a script that records whether every image decoded
    check = ("<script>document.body.setAttribute('data-images', [...document.images].every("
             "i => i.complete && i.naturalWidth > 0) + ':' + document.images.length)</script></body>")
    probe.write_text(page.read_text().replace("</body>", check))
    dom = subprocess.run(["chromium", *flags, "--dump-dom", "--virtual-time-budget=5000", probe.as_uri()],
                         capture_output=True, text=True, timeout=120)
    assert dom.returncode == 0, dom.stderr[-2000:]
    assert 'data-images="true:4"' in dom.stdout
