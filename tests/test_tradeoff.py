"""The seeds table (benchmarks/cgap_table.py): resume, per-seed CSV, Pareto front, scatter in `cgap report`."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from cgap.report.html import write_report
from cgap.report.tradeoff import COLUMNS, mean_std, pareto_front, read_csv, to_csv

ROOT = Path(__file__).resolve().parents[1]


def _table_module():
    spec = importlib.util.spec_from_file_location("cgap_table", ROOT / "benchmarks" / "cgap_table.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_pareto_front_small_case():
    points = [(10, 90), (5, 85), (7, 80), (20, 91), (5, 84), (12, 90)]
    assert pareto_front(points) == [1, 0, 3]


@given(st.lists(st.tuples(st.integers(0, 20), st.integers(0, 20)), min_size=1, max_size=30))
def test_pareto_front_is_exactly_the_undominated_points(points):
    front = set(pareto_front(points))

    def dominated(i: int) -> bool:
        return any(c <= points[i][0] and a >= points[i][1] and (c, a) != points[i] for c, a in points)

    undominated = {i for i in range(len(points)) if not dominated(i)}
    assert {points[i] for i in front} == {points[i] for i in undominated}


def test_mean_std():
    assert mean_std([1.0]) == (1.0, 0.0)
    mean, std = mean_std([1.0, 3.0])
    assert mean == 2.0 and abs(std - 2 ** 0.5) < 1e-12


def test_table_runs_resumes_and_reports(tmp_path, capsys):
    table = _table_module()
    runs, out = tmp_path / "runs", tmp_path / "table.md"
    argv = ["--dataset", "digits", "--archs", "lenet5", "--epochs", "1", "--subset", "300", "--seeds", "2",
            "--threads", "1", "--runs", str(runs), "--out", str(out), "--no-progress", "--resume",
            "--methods", "full,cgap-latency,scratch,uniform"]
    assert table.main(argv) == 0
    rows = read_csv(out.with_suffix(".csv"))
    assert len(rows) == 8 and {r["seed"] for r in rows} == {0.0, 1.0}
    assert set(COLUMNS) <= set(rows[0])
    scratch = json.loads((runs / "lenet5-scratch-s1" / "history.json").read_text())
    source = json.loads((runs / "lenet5-cgap-latency-s1" / "history.json").read_text())
    assert scratch["epochs"][-1]["widths"] == source["epochs"][-1]["widths"]
    text = out.read_text()
    assert "| lenet5 | cgap-latency | 2 |" in text and "±" in text and out.with_suffix(".png").stat().st_size > 5000
    stamp = (runs / "lenet5-full-s0" / "model.pt").stat().st_mtime_ns
    capsys.readouterr()
    assert table.main(argv) == 0  # everything finished: nothing is trained again
    assert "finished, skipped" in capsys.readouterr().out
    assert (runs / "lenet5-full-s0" / "model.pt").stat().st_mtime_ns == stamp
    html = write_report(runs).read_text()
    assert "Accuracy vs accelerator cost" in html


def test_csv_round_trip(tmp_path):
    row = {k: 1.5 for k in COLUMNS} | {"arch": "vgg11", "method": "cgap", "run": "r"}
    (tmp_path / "t.csv").write_text(to_csv([row]))
    assert read_csv(tmp_path / "t.csv") == [row]
