"""``export_fpga``: network -> quantised engine program -> generated HLS project (-> verified by C-sim)."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cgap.fixed_point import to_fixed, to_float
from cgap.golden import GoldenResult, quantize_input, run_golden
from cgap.hls.csim import CsimError, run_csim
from cgap.hls.lint import lint_project
from cgap.hls.program import Program, build_program
from cgap.hls.render import BuildPlan, raw_bytes, render
from cgap.hls.write import write_plan
from cgap.lower import lower_network, quantize
from cgap_ir import INPUT, Network, executor
from cgap_ir.errors import CgapError
from fpga_model import dram
from fpga_model.engine_program import EngineProgram
from fpga_model.engine_sim import simulate_layer
from fpga_model.hw import HwConfig
from fpga_model.loopnest import EngineLayer, compute_iterations
from fpga_model.resources import GEOMETRY_KEYS

MIN_CALIB_IMAGES = 100
"""Calibration needs at least this many images (binary points from fewer are not trusted)."""


@dataclass(frozen=True)
class Compiled:
    """A network compiled for the engine: the BN-folded float net, the quantised engine program (what every
    downstream stage reads) and the template data the project is rendered from."""

    net: Network
    engine: EngineProgram
    program: Program

    @property
    def layers(self) -> list[EngineLayer]:
        """Return the engine program's tiled layers."""
        return self.engine.engine_layers


def _check_inputs(net: Network, calib: np.ndarray, name: str, min_calib: int) -> None:
    if not name or not name.replace("_", "").replace("-", "").isalnum():
        raise CgapError(f"project name {name!r} must be non-empty letters, digits, '-' or '_'")
    calib = np.asarray(calib)
    if calib.ndim != 4 or calib.shape[1:] != tuple(net.input_shape):
        raise CgapError(f"calibration images have shape {calib.shape[1:]}, network {net.name!r} takes {tuple(net.input_shape)}")
    if len(calib) < min_calib:
        raise CgapError(f"calibration needs at least {min_calib} images, got {len(calib)}")


def compile_network(net: Network, hw: HwConfig, calib: np.ndarray, name: str,
                    min_calib: int = MIN_CALIB_IMAGES, ranges: dict[str, float] | None = None) -> Compiled:
    """Return ``net`` lowered for ``hw`` (``cgap.lower``: BN folded, fused, tiled) and quantised on ``calib``
    (or on its precomputed ``ranges``), with the template data of its project."""
    _check_inputs(net, calib, name, min_calib)
    lowered = lower_network(net, hw, name)
    engine = quantize(lowered, calib, ranges)
    return Compiled(lowered.net, engine, build_program(engine))


def golden_outputs(c: Compiled, images: np.ndarray) -> tuple[np.ndarray, np.ndarray, GoldenResult]:
    """Return (quantised inputs, integer outputs (N, words), full golden result) for ``images``."""
    xq = quantize_input(images, c.engine)
    result = run_golden(c.engine, xq)
    return xq, result.tensors[c.engine.output].reshape(len(images), -1), result


def _add_verify_data(plan: BuildPlan, xq: np.ndarray, yq: np.ndarray, bits: int) -> None:
    plan["tb_data/inputs.bin"] = raw_bytes(xq.reshape(-1), bits)
    plan["tb_data/golden.bin"] = raw_bytes(yq.reshape(-1), bits)


def _top1(logits: np.ndarray) -> np.ndarray:
    return np.asarray(logits).reshape(len(logits), -1).argmax(axis=1)


def _layer_check(layer: EngineLayer, hw: HwConfig, row: dict) -> dict:
    """Return one layer's C-sim counts next to the simulator's: DRAM bytes (beats moved x port bytes) and cycles."""
    sim = simulate_layer(layer, hw)
    beat = dram.port_bytes(hw)
    return {"dram_bytes": [row["dram_read_weight_beats"] * beat, row["dram_read_act_beats"] * beat,
                           row["dram_write_beats"] * beat],
            "sim_dram_bytes": [sim.dram_read_weight_bytes, sim.dram_read_act_bytes, sim.dram_write_bytes],
            "cycles": row["cycles"], "sim_cycles": sim.cycles,
            "compute_cycles": row["compute_cycles"], "sim_compute_cycles": sim.compute_cycles}


def _read_outputs(project: Path, csim, shape: tuple[int, ...], bits: int) -> np.ndarray:
    """Return the C-sim outputs, or raise :class:`CsimError` naming the binary, its exit status and the log
    when the run crashed or wrote no (or truncated) output."""
    path = project / "tb_data" / "csim_out.bin"
    raw = np.fromfile(path, dtype=f"<i{bits // 8}").astype(np.int64) if path.is_file() else np.zeros(0, np.int64)
    if csim.returncode not in (0, 1) or raw.size != int(np.prod(shape)):
        log = project / "tb_data" / "csim.log"
        log.write_text(csim.output)
        raise CsimError(f"C-simulation {project / 'build' / 'csim'} exited with status {csim.returncode} "
                        f"and wrote {raw.size} of {int(np.prod(shape))} output words; its output is in {log}")
    return raw.reshape(shape)


def _verify_report(c: Compiled, hw: HwConfig, csim, yq: np.ndarray, golden: GoldenResult, project: Path,
                   float_logits: np.ndarray, labels: np.ndarray | None) -> dict:
    """Return the verify.json content from the C-sim outputs and stats."""
    got = _read_outputs(project, csim, yq.shape, hw.act_bits)
    bit_exact = bool(csim.returncode == 0 and np.array_equal(got, yq))
    fixed_values = to_float(yq, c.engine.tensor_frac(c.engine.output))
    fixed, ref = _top1(fixed_values), _top1(float_logits)
    layers = []
    for layer, row in zip(c.layers, csim.stats.get("layers", []), strict=False):
        layers.append({"name": layer.name, "kind": layer.kind, "iterations": row["iterations"],
                       "expected_iterations": compute_iterations(layer, hw), "saturations": row["saturations"],
                       "outputs": len(yq) * int(np.prod(layer.conv_out)),  # values that can saturate
                       "golden_saturations": golden.saturations[layer.name], **_layer_check(layer, hw, row)})
        layers[-1]["cycles_match"] = layers[-1]["cycles"] == layers[-1]["sim_cycles"]
    complete = bool(layers) and len(layers) == len(c.layers) and bool(csim.stats.get("iterations_constant"))
    report = {
        "bit_exact": bit_exact, "images": len(yq), "top1_agreement": float(np.mean(fixed == ref)),
        "iterations_match": complete and all(r["iterations"] == r["expected_iterations"] for r in layers),
        "dram_bytes_match": complete and all(r["dram_bytes"] == r["sim_dram_bytes"] for r in layers),
        "cycles_match": complete and all(r["cycles_match"] and r["compute_cycles"] == r["sim_compute_cycles"]
                                         for r in layers),
        "cycles": sum(r["cycles"] for r in layers), "sim_cycles": sum(r["sim_cycles"] for r in layers),
        "compile_s": round(csim.compile_s, 3), "csim_s": round(csim.run_s, 3),
        "csim_s_per_image": round(csim.run_s / len(yq), 4), "layers": layers,
    }
    if np.size(float_logits) == np.size(fixed_values):  # the golden output against the float one, value by value
        diff = np.abs(fixed_values.reshape(len(yq), -1) - np.asarray(float_logits).reshape(len(yq), -1))
        report["float_max_abs_diff"] = float(diff.max())
    if labels is not None:
        labels = np.asarray(labels).reshape(-1)
        report["float_accuracy"] = float(np.mean(ref == labels))
        report["fixed_accuracy"] = float(np.mean(fixed == labels))
    return report


def export_fpga(net: Network, hw: HwConfig, out_dir: Path, calib: np.ndarray, name: str,
                verify_images: np.ndarray | None = None, labels: np.ndarray | None = None,
                float_logits: np.ndarray | None = None, opt: str = "-O2",
                ranges: dict[str, float] | None = None, min_calib: int = MIN_CALIB_IMAGES) -> dict:
    """Write the HLS project ``out_dir/name`` for ``net`` on ``hw``; with ``verify_images`` also run
    ``make csim``, lint the firmware (:mod:`cgap.hls.lint`) and write ``verify.json``.

    ``ranges`` are calibration ranges already computed on ``calib`` (e.g. by onnxruntime, see
    :mod:`cgap.passes.calibrate_ort`); without them the numpy executor computes them.  ``min_calib`` lowers the
    calibration-size floor (large networks checked for arithmetic, not accuracy).
    Returns a summary dict (project path, layer count, sizes, export seconds, and the verify report
    under ``"verify"`` when verification ran).  Bad input raises :class:`CgapError` before anything is written.
    """
    t0 = time.perf_counter()
    if verify_images is not None and (np.ndim(verify_images) != 4 or len(verify_images) == 0
                                      or np.shape(verify_images)[1:] != tuple(net.input_shape)):
        raise CgapError(f"verify images have shape {np.shape(verify_images)}, need (N>0, {', '.join(map(str, net.input_shape))})")
    c = compile_network(net, hw, calib, name, min_calib, ranges=ranges)
    plan = render(c.program, c.engine)
    if verify_images is not None:
        xq, yq, golden = golden_outputs(c, verify_images)
        _add_verify_data(plan, xq, yq, hw.act_bits)
    project = write_plan(plan, Path(out_dir) / name)
    summary = {"project": str(project), "engine_layers": len(c.layers), "weight_words": int(c.program.weights.size),
               "fmap_beats": c.program.fmap_beats, "export_s": round(time.perf_counter() - t0, 3),
               "buffers": {k: int(c.program.constants[k]) for k in GEOMETRY_KEYS}}
    if verify_images is None:
        return summary
    if float_logits is None:
        float_logits = executor.run(net, verify_images)
    csim = run_csim(project, opt=opt)
    report = _verify_report(c, hw, csim, yq, golden, project, float_logits, labels)
    report["input_saturations"] = to_fixed(verify_images, c.engine.tensor_frac(INPUT), hw.act_bits)[1]
    report["input_values"] = int(np.size(verify_images))
    findings = lint_project(project)
    report["lint_findings"] = len(findings)
    report["lint"] = [finding.to_dict() for finding in findings]
    (project / "verify.json").write_text(json.dumps(report, indent=2) + "\n")
    summary["verify"] = report
    return summary
