"""``expected.json``: what the simulator and the resource model predict for a generated project, so a Vitis
HLS user can hold the tool's csynth and cosim reports against it (the generated README says where).

* ``pipeline_ii``: every loop label of cgap_engine.h whose body opens with ``PIPELINE II=1`` -> 1 (the
  csynth report's per-loop II), counting only code that synthesis compiles: ``#if`` / ``#ifdef`` branches
  are kept or dropped by the config header's ``#define`` values with ``__SYNTHESIS__`` defined (the lint
  finds the same loops from the AST: tests/test_hls_lint.py).
* ``macs`` = Pox·Poy·Pof; ``resources``: :func:`fpga_model.resources.estimate` on the project's own
  constants, as ``cgap-export`` and ``cgap dse`` print it (DSP: the MAC array and the dividers; None when no
  device preset matches the part).
* ``cycles`` and ``layers[].cycles``: :func:`fpga_model.engine_sim.simulate` on the project's layer table,
  per image (equal to ``sim_cycles`` of verify.json, and to what C-sim counts); each layer is one
  ``cgap_top`` call of the testbench, so one co-simulation transaction: ``cosim`` holds the minimum,
  average and maximum over the layers, as the co-simulation report gives them.
"""

from __future__ import annotations

import json
import re

from cgap.hls.program import Program
from fpga_model.devices import device_for_part
from fpga_model.engine_sim import simulate
from fpga_model.hw import HwConfig
from fpga_model.resources import GEOMETRY_KEYS, estimate

PIPELINED_LOOP = re.compile(r"CGAP_LABEL\((\w+)\)\s*for \([^\n]*\)\s*\{((?:\s*CGAP_PRAGMA\([^)\n]*\))*)")
"""A labelled loop and the pragmas that open its body."""

DEFINE = re.compile(r"^#define (\w+) (\S+)", re.M)
CONDITIONAL = re.compile(r"^\s*#\s*(if|ifdef|ifndef|elif|else|endif)\b(.*)$")


def pipelined_loop_labels(engine: str, config: str = "") -> list[str]:
    """Return the labels of the loops in ``engine`` (cgap_engine.h text) whose opening pragmas include
    ``PIPELINE II=1``, in source order, among the code compiled for synthesis with ``config``'s defines."""
    defines = dict(DEFINE.findall(config)) | {"__SYNTHESIS__": "1"}
    text = compiled_text(engine, defines)
    return [label for label, pragmas in PIPELINED_LOOP.findall(text) if "HLS PIPELINE II=1" in pragmas]


def compiled_text(text: str, defines: dict[str, str]) -> str:
    """Return the lines of ``text`` that the preprocessor keeps with ``defines``.  A condition other than one
    macro name (``NAME``, ``!NAME``, ``defined(NAME)``) counts as true."""
    kept, stack = [], []  # stack: [branch active, some branch taken] per open #if
    for line in text.splitlines():
        match = CONDITIONAL.match(line)
        if match is None:
            if all(active for active, _ in stack):
                kept.append(line)
            continue
        kind, condition = match.group(1), match.group(2).split("//")[0].strip()
        if kind in ("if", "ifdef", "ifndef"):
            truth = _truth(kind, condition, defines)
            stack.append([truth, truth])
        elif kind in ("elif", "else") and stack:
            truth = not stack[-1][1] and (kind == "else" or _truth("if", condition, defines))
            stack[-1] = [truth, stack[-1][1] or truth]
        elif kind == "endif" and stack:
            stack.pop()
    return "\n".join(kept)


def _truth(kind: str, condition: str, defines: dict[str, str]) -> bool:
    """Return whether a preprocessor condition holds with ``defines`` (True when it is not a simple one)."""
    if kind in ("ifdef", "ifndef"):
        return (condition in defines) == (kind == "ifdef")
    match = re.fullmatch(r"(!?)\s*(?:defined\s*\(\s*(\w+)\s*\)|(\w+))", condition)
    if match is None:
        return True
    negate, tested, name = match.groups()
    if tested:
        value = tested in defines
    else:
        value = (name if name.isdigit() else defines.get(name, "0")) not in ("0", "0U", "false")
    return value != bool(negate)


def _resources(program: Program, hw: HwConfig) -> dict | None:
    """Return {device, dsp, bram, bram_kind, lut, lut_kind, ff} of the project's engine, or None when no
    device preset matches ``hw.part``."""
    device = device_for_part(hw.part)
    if device is None:
        return None
    geometry = {key: int(program.constants[key]) for key in GEOMETRY_KEYS}
    used = estimate(hw, device, geometry).used
    return {"device": device.name, "dsp": used["dsp"], "bram": used["bram"], "bram_kind": device.bram_kind,
            "lut": used["lut"], "lut_kind": device.lut_kind, "ff": used["ff"]}


def expected_report(program: Program, hw: HwConfig, engine: str, config: str) -> dict:
    """Return the content of expected.json (module doc) for ``program`` on ``hw``; ``engine`` and ``config`` are
    the texts of the project's cgap_engine.h and cgap_config.h."""
    sim = simulate(program.layers, hw)
    cycles = sum(layer.cycles for layer in sim.layers)
    return {
        "network": program.name, "hw": hw.name, "part": hw.part, "clock_mhz": hw.clock_mhz,
        "pipeline_ii": {label: 1 for label in pipelined_loop_labels(engine, config)},
        "macs": hw.macs, "resources": _resources(program, hw),
        "cycles": cycles, "latency_us": round(cycles / hw.clock_mhz, 3),
        "cosim": _transactions([layer.cycles for layer in sim.layers]),
        "layers": [{"name": r.name, "kind": r.kind, "cycles": r.cycles, "compute_cycles": r.compute_cycles}
                   for r in sim.layers],
    }


def _transactions(cycles: list[int]) -> dict:
    """Return what RTL co-simulation of the testbench reports per transaction (one per layer and image)."""
    return {"transactions_per_image": len(cycles), "latency_min": min(cycles, default=0),
            "latency_avg": round(sum(cycles) / len(cycles), 1) if cycles else 0, "latency_max": max(cycles, default=0)}


def expected_json(program: Program, hw: HwConfig, engine: str, config: str) -> str:
    """Return expected.json's text (indented, one trailing newline)."""
    return json.dumps(expected_report(program, hw, engine, config), indent=2) + "\n"
