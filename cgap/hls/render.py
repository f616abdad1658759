"""Render an engine :class:`Program` into an in-memory build plan {relative path: text or bytes}."""

from __future__ import annotations

from importlib import resources

import numpy as np
from jinja2 import Environment, FileSystemLoader, StrictUndefined

from cgap.hls.expected import expected_json
from cgap.hls.program import FIELD_TYPES, KIND_CODES, LAYER_FIELDS, POOL_CODES, Program
from fpga_model import layout
from fpga_model.engine_program import EngineProgram

BuildPlan = dict[str, str | bytes]
"""Relative path inside the project -> file content."""

TEMPLATES: dict[str, str] = {
    "firmware/cgap_config.h": "cgap_config.h.j2",
    "firmware/cgap_layers.h": "cgap_layers.h.j2",
    "firmware/cgap_top.h": "cgap_top.h.j2",
    "firmware/cgap_top.cpp": "cgap_top.cpp.j2",
    "tb/cgap_tb.cpp": "cgap_tb.cpp.j2",
    "Makefile": "Makefile.j2",
    "build.tcl": "build.tcl.j2",
    "README.md": "README.md.j2",
}
"""Generated files -> their Jinja2 template."""

STATIC: dict[str, str] = {
    "firmware/cgap_fixed.h": "cgap_fixed.h",
    "firmware/cgap_engine.h": "cgap_engine.h",
}
"""Hand-written headers copied verbatim."""

CTYPES: dict[int, tuple[str, str]] = {8: ("int8_t", "<i1"), 16: ("int16_t", "<i2")}
"""Bit width -> (C type, numpy little-endian dtype) of raw data files."""


def template_dir():
    """Return the directory (a Traversable) holding the templates and static headers."""
    return resources.files("hls_templates")


def _env() -> Environment:
    return Environment(loader=FileSystemLoader(str(template_dir())), undefined=StrictUndefined,
                       trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True, autoescape=False)


def _cell(field: str, value: int) -> str:
    """Return a layer-table value as C source (unsigned 64-bit fields get a ULL suffix)."""
    return f"{value}ULL" if FIELD_TYPES.get(field) == "unsigned long long" else str(value)


def _row_context(program: Program) -> list[dict]:
    return [{"index": i, "name": lay.name, "kind": lay.kind, "cells": [_cell(f, row[f]) for f in LAYER_FIELDS],
             "in_shape": "×".join(map(str, lay.in_shape)), "out_shape": "×".join(map(str, lay.out_shape)),
             "tiles": f"({lay.toy}, {lay.tof}, {lay.x_tile}, {lay.i_tile})"}
            for i, (lay, row) in enumerate(zip(program.layers, program.rows, strict=True))]


def context(program: Program, engine: EngineProgram) -> dict:
    """Return every value the templates use, prepared as plain data."""
    hw = engine.hw
    (in_c, in_h, in_w), (out_c, out_h, out_w) = program.input_shape, program.output_shape
    return {
        "name": program.name, "hw_name": hw.name, "project": f"cgap_{program.name}_prj", "part": hw.part,
        "clock_mhz": hw.clock_mhz, "clock_period_ns": f"{hw.clock_period_ns:.3f}", "port_bits": hw.dram.port_bits,
        "act_bits": hw.act_bits, "weight_bits": hw.weight_bits, "acc_bits": hw.acc_bits,
        "pox": hw.pox, "poy": hw.poy, "pof": hw.pof, "v": layout.act_lanes(hw), "vw": layout.weight_lanes(hw),
        "ib_r": program.constants["IB_R"], "ib_c": program.constants["IB_C"], "nb": program.constants["NB"],
        "num_layers": len(program.layers), "fmap_beats": program.fmap_beats,
        "weight_words": int(program.weights.size), "weight_beats": int(program.weights.size) // layout.weight_lanes(hw),
        "input_offset": program.offsets[program.input_tensor], "input_words": program.input_words,
        "input_c": in_c, "input_h": in_h, "input_w": in_w, "output_c": out_c, "output_h": out_h, "output_w": out_w,
        "output_offset": program.offsets[program.output_tensor], "output_words": program.output_words,
        "input_frac": engine.tensor_frac(program.input_tensor), "output_frac": engine.tensor_frac(program.output_tensor),
        "constants": sorted(program.constants.items()),
        "fields": [(FIELD_TYPES.get(f, "int"), f) for f in LAYER_FIELDS], "rows": _row_context(program),
        "recip_m": [m for m, _ in program.recip_rom], "recip_s": [s for _, s in program.recip_rom],
        "kind_codes": [(k.upper(), v) for k, v in KIND_CODES.items()],
        "pool_codes": [(str(k).upper() if k else "NONE", v) for k, v in POOL_CODES.items()],
        "layer_names": [lay.name for lay in program.layers],
        "act_ctype": CTYPES[hw.act_bits][0], "weight_ctype": CTYPES[hw.weight_bits][0],
    }


def raw_bytes(values: np.ndarray, bits: int) -> bytes:
    """Return integers as little-endian two's-complement words of ``bits`` bits."""
    return np.asarray(values, dtype=np.int64).astype(CTYPES[bits][1]).tobytes()


def render(program: Program, engine: EngineProgram) -> BuildPlan:
    """Return the build plan of the generated project (sources, scripts, README, weight image, the engine
    program itself as ``program.json``, which ``cgap sim`` reads, and expected.json: the simulator's and
    resource model's predictions, :mod:`cgap.hls.expected`)."""
    hw = engine.hw
    env, ctx = _env(), context(program, engine)
    plan: BuildPlan = {path: env.get_template(tpl).render(ctx) for path, tpl in TEMPLATES.items()}
    for path, name in STATIC.items():
        plan[path] = (template_dir() / name).read_text()
    plan["data/weights.bin"] = raw_bytes(program.weights, hw.weight_bits)
    plan["program.json"] = engine.to_json()
    plan["expected.json"] = expected_json(program, hw, plan["firmware/cgap_engine.h"], plan["firmware/cgap_config.h"])
    return plan
