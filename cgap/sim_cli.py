"""`cgap sim`: predict the accelerator's per-layer latency, DRAM traffic and energy, or run systolic mode.

    cgap sim MODEL.pt|MODEL.onnx --hw PRESET|FILE.toml [--json] [--csv F] [--plot F]
    cgap sim PROJECT/program.json|PROJECT         (a generated project: exactly its layer table, on its hw)
    cgap sim --arch resnet20 [--input 3x32x32] [--width-mult 0.5] --hw PRESET
    cgap sim --scalesim-topology TOPO.csv --scalesim-config CFG.cfg [--gemm] [--json]
"""

from __future__ import annotations

import argparse
import json

from cgap.atomic import write_output
from cgap.model_source import add_model_source_args, network_from_args
from cgap_ir.errors import CgapError


def add_sim_parser(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``sim`` subcommand to ``subparsers``."""
    p = subparsers.add_parser(
        "sim", help="simulate the accelerator: per-layer latency, DRAM traffic, energy",
        description="Cycle-level model of the generated engine (or a SCALE-Sim-compatible systolic array).")
    add_model_source_args(p, "simulate")
    p.add_argument("--hw", default=None, help="hw preset name or TOML file (default zcu102-16b)")
    p.add_argument("--pipeline-depth", type=int, default=None, help="fill/drain cycles per tile (default 8)")
    p.add_argument("--no-overlap", action="store_true", help="no ping-pong: load, compute, store back to back")
    p.add_argument("--json", action="store_true", help="print the report as JSON instead of a table")
    p.add_argument("--csv", metavar="FILE", help="also write one CSV row per layer to FILE")
    p.add_argument("--plot", metavar="FILE", help="also write per-layer latency/energy bars (PNG/PDF) to FILE")
    p.add_argument("--scalesim-topology", metavar="CSV", help="systolic mode: a SCALE-Sim topology file")
    p.add_argument("--scalesim-config", metavar="CFG", help="systolic mode: a SCALE-Sim .cfg file")
    p.add_argument("--gemm", action="store_true", help="the topology has GEMM rows (name, M, N, K)")


def run_sim(args: argparse.Namespace) -> int:
    """Run the simulation selected by ``args``, print it, write requested files; return 0."""
    if args.scalesim_topology or args.scalesim_config:
        return _run_systolic(args)
    from fpga_model import report
    from fpga_model.engine_sim import PIPELINE_DEPTH, simulate
    from fpga_model.hw import load_hw

    depth = PIPELINE_DEPTH if args.pipeline_depth is None else args.pipeline_depth
    if depth < 0:
        raise CgapError(f"--pipeline-depth must be >= 0, got {depth}")
    from fpga_model.geometry import geometry, network_geometry

    program = _program_file(args.model)
    if program is not None:
        hw = program.hw if args.hw is None else load_hw(args.hw)
        result = simulate(program, hw, pipeline_depth=depth, overlap=not args.no_overlap)
        engine = geometry(program.engine_layers, hw)
    else:
        hw = load_hw(args.hw)
        net = network_from_args(args, " (or --scalesim-topology/--scalesim-config)")
        result = simulate(net, hw, pipeline_depth=depth, overlap=not args.no_overlap)
        engine = network_geometry(net, hw)
    from fpga_model.resource_lines import resource_summary

    print(json.dumps(report.to_dict(result), indent=2) if args.json else report.table(result))
    if not args.json:
        print(resource_summary(hw, engine))
    if args.csv:
        write_output(args.csv, report.to_csv(result))
    if args.plot:
        report.plot(result, args.plot)
    return 0


def _program_file(model: str | None):  # noqa: ANN202 - EngineProgram | None
    """Return the engine program of a generated project (its directory or its program.json), else None."""
    if not model:
        return None
    from pathlib import Path

    from fpga_model.engine_program import EngineProgram

    path = Path(model)
    path = path / "program.json" if path.is_dir() else path
    if path.name != "program.json" or not path.is_file():
        return None
    return EngineProgram.from_json(path.read_text(), str(path))


def _run_systolic(args: argparse.Namespace) -> int:
    if not (args.scalesim_topology and args.scalesim_config):
        raise CgapError("systolic mode needs both --scalesim-topology and --scalesim-config")
    from fpga_model.systolic import read_scalesim_cfg, read_topology_csv, simulate_systolic

    cfg = read_scalesim_cfg(args.scalesim_config)
    result = simulate_systolic(read_topology_csv(args.scalesim_topology, gemm=args.gemm), cfg)
    rows = result.rows()
    total = {"total_cycles": sum(r["total_cycles"] for r in rows), "macs": sum(r["macs"] for r in rows)}
    if args.json:
        print(json.dumps({"config": vars(cfg), "total": total, "layers": rows}, indent=2))
    else:
        print(f"{cfg.run_name}: {cfg.rows}x{cfg.cols} {cfg.dataflow}, stall-free (SCALE-Sim v3 'Total Cycles')")
        print(f"{'layer':<16}{'cycles':>12}{'folds':>8}{'util %':>8}{'DRAM ifmap':>12}{'filter':>10}{'ofmap wr':>10}")
        for r in rows:
            print(f"{r['name'][:15]:<16}{r['total_cycles']:>12}{r['folds']:>8}{r['utilisation']:>8.1f}"
                  f"{r['dram_ifmap_reads']:>12}{r['dram_filter_reads']:>10}{r['dram_ofmap_writes']:>10}")
        print(f"{'TOTAL':<16}{total['total_cycles']:>12}")
    if args.csv:
        keys = list(rows[0])
        write_output(args.csv, "\n".join([",".join(keys)] + [",".join(str(r[k]) for k in keys) for r in rows]) + "\n")
    return 0
