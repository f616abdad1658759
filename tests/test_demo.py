"""The README's main job end to end (quick profile on digits): train → export + C-sim → simulate → report."""

from __future__ import annotations

import json

from cgap.cli import main


def test_quick_demo_runs_every_stage(tmp_path, capsys):
    run = tmp_path / "demo"
    assert main(["demo", "--profile", "quick", "--dataset", "digits", "--out", str(run)]) == 0
    out = capsys.readouterr().out
    assert "bit_exact=True" in out and "report:" in out
    rows = json.loads((run / "summary.json").read_text())
    assert [r["method"] for r in rows] == ["full", "cgap", "uniform"]
    full, cgap, uniform = rows
    assert cgap["params"] < full["params"] and cgap["MACs"] < full["MACs"]
    assert uniform["latency_us"] <= cgap["latency_us"]  # the largest uniform width not slower than cgap
    assert all(r["latency_us"] > 0 and r["energy_uJ"] > 0 for r in rows)
    verify = json.loads((run / "hls" / "verify.json").read_text())
    assert verify["bit_exact"] and verify["iterations_match"] and verify["cycles_match"]
    assert (run / "report.html").stat().st_size > 50_000
    assert sorted(p.name for p in (run / "sim").iterdir()) == ["cgap.json", "full.json", "uniform.json"]
    assert main(["demo", "--profile", "quick", "--dataset", "digits", "--out", str(run)]) == 2   # no --force
