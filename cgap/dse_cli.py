"""`cgap dse`: pick the best accelerator for a network on an FPGA, and resource summaries for other commands.

    cgap dse MODEL.pt|MODEL.onnx --device NAME [--objective latency|energy|edp] [--bits 8|16]
             [--out hw.toml] [--json] [--plot FILE] [--workers N]
    cgap dse --arch resnet20 [--input 3x32x32] [--width-mult 0.5] --device xczu9eg

Prints the Pareto front (latency vs DSPs; the latency-vs-energy front in --json and the plot),
writes the best HwConfig as TOML (``cgap sim --hw FILE``, ``cgap-export --hw FILE``).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from cgap.atomic import write_output
from cgap.model_source import add_model_source_args, network_from_args
from cgap_ir.errors import CgapError
from fpga_model.resource_lines import resource_line
from fpga_model.table import format_table


def add_dse_parser(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``dse`` subcommand to ``subparsers``."""
    p = subparsers.add_parser(
        "dse", help="design-space exploration: best Pox/Poy/Pof, buffers and bit width for a device",
        description="Search the engine's array shape, buffer split and bit width under an FPGA's resources "
                    "with the simulator; print the Pareto front and write the best HwConfig.")
    add_model_source_args(p, "explore")
    p.add_argument("--device", required=True, help="FPGA: xc7z020, xczu9eg, xcu250, 10ax115 (or a board alias)")
    p.add_argument("--objective", choices=("latency", "energy", "edp"), default="latency",
                   help="what the best design minimises (default latency)")
    p.add_argument("--bits", type=int, choices=(8, 16), help="fix the data width (default: search 8 and 16)")
    p.add_argument("--out", metavar="FILE", help="write the best HwConfig as TOML to FILE")
    p.add_argument("--json", action="store_true", help="print the result as JSON instead of tables")
    p.add_argument("--plot", metavar="FILE", help="also plot both Pareto fronts (PNG/PDF) to FILE")
    p.add_argument("--workers", type=int, default=1, help="processes evaluating array shapes (default 1)")
    p.add_argument("--fronts", action="store_true",
                   help="keep every array shape that could reach a Pareto front even on large grids (slower; by "
                        "default grids over 250k designs search for the best design only)")


def run_dse(args: argparse.Namespace) -> int:
    """Run the exploration selected by ``args``, print it, write requested files; return 0."""
    from fpga_model.devices import get_device
    from fpga_model.dse import explore
    from fpga_model.hw import hw_to_toml

    device = get_device(args.device)
    if args.workers < 1:
        raise CgapError(f"--workers must be >= 1, got {args.workers}")
    bits = (args.bits,) if args.bits else (8, 16)
    result = explore(network_from_args(args), device, args.objective, bits=bits, workers=args.workers,
                     fronts=True if args.fronts else None)
    if args.out:
        write_output(args.out, hw_to_toml(result.best.hw))
    if args.plot:
        plot_fronts(result, args.plot)
    print(json.dumps(result.to_dict(), indent=2) if args.json else front_table(result))
    return 0


def _row(d, best) -> list:  # noqa: ANN001 - fpga_model.dse.Design
    hw, used = d.hw, d.resources.used
    mark = "*" if d.hw == best.hw else ""
    return [mark, f"{hw.pox}x{hw.poy}x{hw.pof}", hw.act_bits, f"{hw.input_buffer_kib}/{hw.weight_buffer_kib}/"
            f"{hw.output_buffer_kib}", used["dsp"], used["bram"], used["lut"], d.latency_us, d.energy_uj, d.edp]


def front_table(result) -> str:  # noqa: ANN001 - fpga_model.dse.DseResult
    """Return the text report: the latency-vs-DSP Pareto front (best marked *), the best design and stats."""
    from fpga_model.devices import DEVICES

    dev = DEVICES[result.device]
    head = ["", "PoxxPoyxPof", "bits", "buf KiB i/w/o", "DSP", dev.bram_kind, dev.lut_kind, "latency us",
            "energy uJ", "EDP uJ*ms"]
    best, st = result.best, result.stats
    lines = [f"{result.network} on {dev.name} ({dev.board}, {dev.part}) @ {dev.clock_mhz:g} MHz — "
             f"Pareto front latency vs DSPs ({len(result.front_dsp)} designs)",
             format_table(head, [_row(d, best) for d in result.front_dsp]), "",
             f"best for {result.objective}: {best.hw.pox}x{best.hw.poy}x{best.hw.pof} {best.hw.act_bits}-bit, "
             f"buffers {best.hw.input_buffer_kib}/{best.hw.weight_buffer_kib}/{best.hw.output_buffer_kib} KiB, "
             f"{best.latency_us:,.1f} us, {best.energy_uj:,.1f} uJ",
             resource_line(best.resources.to_dict()),
             f"latency-vs-energy front: {len(result.front_energy)} designs; searched {st['designs_in_grid']:,} "
             f"designs ({st['array_shapes']} array shapes, {st['array_shapes_pruned']} pruned by bounds), "
             f"simulated {st['designs_simulated']:,} in {st['seconds']:.1f} s "
             f"({st['grid_designs_per_s']:,.0f} grid designs/s)"]
    if not st.get("exact_fronts", True):
        lines.append("large grid: searched for the best design only (shapes that could not beat it skipped); the "
                     "fronts above cover the designs evaluated — rerun with --fronts for the full fronts")
    return "\n".join(lines)


def plot_fronts(result, path: str | Path) -> Path:  # noqa: ANN001 - fpga_model.dse.DseResult
    """Write latency-vs-DSP and latency-vs-energy Pareto fronts (best design starred) to ``path``; return it."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4))
    b = result.best
    ax1.step([d.resources.used["dsp"] for d in result.front_dsp], [d.latency_us for d in result.front_dsp],
             where="post", marker="o")
    ax1.plot([b.resources.used["dsp"]], [b.latency_us], "r*", markersize=14, label=f"best ({result.objective})")
    ax1.set(xlabel="DSP blocks", ylabel="latency (us)", yscale="log", title="latency vs DSPs")
    ax1.legend()
    ax2.plot([d.latency_us for d in result.front_energy], [d.energy_uj for d in result.front_energy], "o-")
    ax2.plot([b.latency_us], [b.energy_uj], "r*", markersize=14)
    ax2.set(xlabel="latency (us)", ylabel="energy (uJ)", title="latency vs energy")
    fig.suptitle(f"{result.network} on {result.device}")
    fig.tight_layout()
    out = Path(path)
    try:
        fig.savefig(out)
    except (OSError, ValueError) as exc:
        raise CgapError(f"cannot write plot {path}: {exc}") from None
    finally:
        plt.close(fig)
    return out
