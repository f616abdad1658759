"""Measure the logic blocks of the generated engine with Yosys and fit the formulas fpga_model/resources.py uses.

    python benchmarks/yosys/synth_luts.py [--out benchmarks/yosys/results.json] [--jobs 2] [--only BLOCK ...] [--refit]

Each block of ``rtl/`` is the equivalent RTL of one piece of hls_templates/cgap_engine.h (the file names the
C function it mirrors).  Every case is synthesised out of context with::

    yosys -p "read_verilog rtl/*.v; chparam -set P V ... TOP;
              synth_xilinx -family FAMILY -flatten -noiopad -noclkbuf [-nodsp] -top TOP; stat -json"

and its cells are counted: LUT = LUT1..LUT6 (MUXF7/8/9 and CARRY cells are slice resources, not LUTs),
FF = FD* cells, DSP = DSP48E1/E2.  The results file records the Yosys version, the command, every case and
the least-squares fits (:data:`FITS`) whose coefficients fpga_model/resources.py copies; tests/test_resources.py
re-fits from the recorded cases and compares.  ~15 minutes with 2 jobs (26 CPU-minutes of Yosys).
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
RTL = HERE / "rtl"
SYNTH = "synth_xilinx -family {family} -flatten -noiopad -noclkbuf{nodsp} -top {top}"

LANE_WIDTHS = [(24, 8), (32, 8), (40, 8), (48, 8), (32, 16), (40, 16), (48, 16), (56, 16), (64, 16)]
"""(ACC, ACT) pairs of the lane sweeps: every act width the HwConfig allows, accumulators from 2*act to 64."""

MUX_N = [2, 3, 4, 5, 7, 8, 9, 12, 14, 16, 24, 25, 32, 48, 49, 56, 64, 96, 128, 144, 196, 256]


def cases() -> list[dict]:
    """Return every (block, parameters, family) to synthesise."""
    out = [_case("mux_lane", N=n, W=16) for n in MUX_N]
    out += [_case("mux_lane", N=n, W=w) for n in (4, 16, 49, 196) for w in (8, 32, 48)]
    out += [_case("mux_lane", "xc7", N=n, W=16) for n in (4, 16, 49, 196)]
    out += [_case("shift_round", W=w) for w in (18, 26, 34, 42, 50, 58, 66)]
    out += [_case("shift_round", "xc7", W=w) for w in (34, 50)]
    for block in ("requant", "drain_lane", "add_lane", "pool_lane", "store_lane"):
        out += [_case(block, ACC=acc, ACT=act) for acc, act in LANE_WIDTHS]
    out += [_case("requant", "xc7", ACC=48, ACT=16), _case("add_lane", "xc7", ACC=48, ACT=16)]
    out += [_case("gap_unit", L=n, ACC=acc, ACT=act) for n in (4, 16, 49) for acc, act in ((32, 8), (48, 16))]
    for family in ("xcup", "xc7"):
        out += [_case("mac_lane", family, A=a, B=a, ACC=acc) for a, acc in ((8, 16), (8, 32), (16, 32), (16, 48))]
        out += [_case("div_recip", family, ABITS=a, MBITS=a + 1, ACC=48, ACT=16) for a in (12, 16, 20, 24, 28, 32)]
    out += [_case("mac_acc_lane", P=p, ACC=acc) for p, acc in ((16, 16), (16, 32), (32, 32), (32, 48), (32, 64))]
    out += [_case("mul_soft", nodsp=True, A=a, B=a) for a in (4, 6, 8, 12, 16)]
    out += [_case("window", BR=br, BC=bc, POY=py, POX=px, W=w, AB=10)
            for br, bc, py, px, w in ((2, 4, 2, 2, 16), (4, 4, 4, 4, 16), (4, 4, 4, 4, 8), (4, 8, 2, 4, 16),
                                      (6, 6, 3, 3, 16), (8, 8, 4, 4, 16), (7, 8, 7, 7, 16))]
    return out


def _case(block: str, family: str = "xcup", nodsp: bool = False, **params: int) -> dict:
    return {"block": block, "family": family, "nodsp": nodsp, "params": params}


def synthesise(case: dict) -> dict:
    """Return ``case`` with its cell counts (lut, ff, dsp, muxf, carry, cells) and the seconds Yosys took."""
    sources = " ".join(str(p) for p in sorted(RTL.glob("*.v")))
    sets = " ".join(f"-set {k} {v}" for k, v in case["params"].items())
    synth = SYNTH.format(family=case["family"], nodsp=" -nodsp" if case["nodsp"] else "", top=case["block"])
    with tempfile.TemporaryDirectory() as tmp:
        stat = Path(tmp) / "stat.json"
        script = f"read_verilog {sources}; chparam {sets} {case['block']}; {synth}; tee -q -o {stat} stat -json"
        t0 = time.perf_counter()
        subprocess.run(["yosys", "-q", "-p", script], check=True, capture_output=True, text=True)
        cells = json.loads(stat.read_text())["design"]["num_cells_by_type"]
    count = lambda *prefixes: sum(n for k, n in cells.items() if k.startswith(prefixes))  # noqa: E731
    return {**case, "lut": count("LUT"), "ff": count("FD"), "dsp": count("DSP48"), "muxf": count("MUXF"),
            "carry": count("CARRY"), "cells": cells, "seconds": round(time.perf_counter() - t0, 2)}


# ------------------------------------------------------------------------------------------------ fits

FITS: dict[str, tuple[str, str, list[str], dict]] = {
    # name: (block, measured value, features, which cases: family and lower bounds on parameters)
    "mux_lut": ("mux_lane", "lut", ["N*W", "W"], {"family": "xcup", "min": {"N": 5}}),
    "shift_lut": ("shift_round", "lut", ["W", "1"], {"family": "xcup"}),
    "requant_lut": ("requant", "lut", ["ACC", "ACT", "1"], {"family": "xcup"}),
    "drain_lut": ("drain_lane", "lut", ["ACC", "ACT", "1"], {"family": "xcup"}),
    "add_lut": ("add_lane", "lut", ["ACC", "ACT", "1"], {"family": "xcup"}),
    "pool_lut": ("pool_lane", "lut", ["ACC", "ACT", "1"], {"family": "xcup"}),
    "pool_ff": ("pool_lane", "ff", ["ACC", "ACT", "1"], {"family": "xcup"}),
    "store_lut": ("store_lane", "lut", ["ACC", "ACT", "1"], {"family": "xcup"}),
    "store_ff": ("store_lane", "ff", ["ACC", "ACT", "1"], {"family": "xcup"}),
    "gap_lut": ("gap_unit", "lut", ["L*ACC"], {"family": "xcup"}),
    "gap_ff": ("gap_unit", "ff", ["ACC"], {"family": "xcup"}),
    "mac_lut": ("mac_lane", "lut", ["ACC"], {"family": "xc7"}),
    "mac_ff": ("mac_lane", "ff", ["ACC"], {"family": "xc7"}),
    "mac_acc_lut": ("mac_acc_lane", "lut", ["ACC"], {"family": "xcup"}),
    "mac_acc_ff": ("mac_acc_lane", "ff", ["ACC"], {"family": "xcup"}),
    "mul_soft_lut": ("mul_soft", "lut", ["A*B"], {"family": "xcup"}),
    "div_lut": ("div_recip", "lut", ["ABITS", "1"], {"family": "xcup"}),
    "window_lut": ("window", "lut", ["POY*POX*MUX", "1"], {"family": "xcup"}),
}
"""Each fit: LUT (or FF) = sum of coefficient x feature, least squares over the block's selected cases.  A
feature is a product of case parameters ("1" = constant); MUX is mux_lut's prediction for N = BR*BC lanes."""


def mux_luts(n: int, w: int, coefficients: list[float]) -> float:
    """Return the LUTs of an n:1 mux of w bits: none for n = 1, one LUT6 per bit up to 4:1 (UG574), else the fit
    (never below the 4:1 cost)."""
    if n <= 1:
        return 0.0
    return max(float(w), w * (coefficients[0] * n + coefficients[1])) if n > 4 else float(w)


def feature(expr: str, params: dict[str, float]) -> float:
    """Return a feature: the product of the ``*``-separated parameter names in ``expr`` ("1" is 1)."""
    return math.prod(1.0 if name == "1" else float(params[name]) for name in expr.split("*"))


def select(results: list[dict], block: str, where: dict) -> list[dict]:
    """Return the measured cases of ``block`` on ``where["family"]`` with parameters >= ``where["min"]``."""
    return [r for r in results if r["block"] == block and r["family"] == where["family"]
            and all(r["params"][k] >= v for k, v in where.get("min", {}).items())]


def fit(results: list[dict], name: str, mux: list[float] | None = None) -> dict:
    """Return {coefficients, features, worst relative error, cases} of fit ``name`` (least squares); ``mux``:
    the mux_lut coefficients (the window fit needs them)."""
    block, value, features, where = FITS[name]
    rows = select(results, block, where)
    params = [dict(r["params"]) for r in rows]
    for p in params:
        if "BR" in p:
            p["MUX"] = mux_luts(p["BR"] * p["BC"], p["W"], mux or [])
    x = np.array([[feature(f, p) for f in features] for p in params])
    y = np.array([r[value] for r in rows], dtype=float)
    coef = np.linalg.lstsq(x, y, rcond=None)[0]
    pred = x @ coef
    return {"block": block, "value": value, "family": where["family"], "features": features,
            "coefficients": [round(float(c), 4) for c in coef],
            "max_rel_error": round(float(np.max(np.abs(pred - y) / np.maximum(y, 1))), 4), "cases": len(rows)}


def fit_all(results: list[dict]) -> dict[str, dict]:
    """Return every fit of :data:`FITS` (mux_lut first: the window fit uses it)."""
    fits = {"mux_lut": fit(results, "mux_lut")}
    for name in FITS:
        if name not in fits:
            fits[name] = fit(results, name, fits["mux_lut"]["coefficients"])
    return fits


def yosys_version() -> str:
    """Return the first line of ``yosys -V``."""
    return subprocess.run(["yosys", "-V"], check=True, capture_output=True, text=True).stdout.strip()


def main() -> None:
    """Synthesise every case (or ``--only`` blocks), fit, write the results file."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(HERE / "results.json"))
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--only", nargs="*", help="synthesise only these blocks (others kept from --out)")
    ap.add_argument("--refit", action="store_true", help="synthesise nothing: re-fit the cases in --out")
    args = ap.parse_args()
    only = [] if args.refit else args.only
    todo = [] if args.refit else [c for c in cases() if not only or c["block"] in only]
    old = json.loads(Path(args.out).read_text())["cases"] if (only or args.refit) and Path(args.out).exists() else []
    kept = [r for r in old if r["block"] not in (only or [])]
    with ThreadPoolExecutor(args.jobs) as pool:
        results = kept + list(pool.map(_logged, todo))
    doc = {"yosys": yosys_version(), "command": f"yosys -p \"read_verilog rtl/*.v; chparam ...; {SYNTH}; stat\"",
           "counted": "lut = LUT1..LUT6 cells, ff = FD* cells, dsp = DSP48E1/E2 cells",
           "synthesis_seconds": round(sum(r["seconds"] for r in results), 1), "cases": results,
           "fits": fit_all(results)}
    Path(args.out).write_text(json.dumps(doc, indent=1) + "\n")
    for name, f in doc["fits"].items():
        print(f"{name:14s} {f['coefficients']} x {f['features']}  worst {100 * f['max_rel_error']:.1f}%")


def _logged(case: dict) -> dict:
    out = synthesise(case)
    print(f"{out['block']:13s} {out['family']:4s} {out['params']} lut {out['lut']} ff {out['ff']} dsp {out['dsp']} "
          f"({out['seconds']} s)", file=sys.stderr, flush=True)
    return out


if __name__ == "__main__":
    main()
