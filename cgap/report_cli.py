"""`cgap report RUN_DIR`: a self-contained HTML page about a training/export/simulation run."""

from __future__ import annotations

import argparse


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Add the ``report`` subcommand."""
    p = sub.add_parser("report", help="write a self-contained HTML report of a run directory",
                       description="Training curves, width-over-time, accelerator latency/energy, C-sim checks.")
    p.add_argument("run_dir", help="run directory (from cgap demo, cgap train --out, ...)")
    p.add_argument("--out", help="output HTML file (default RUN_DIR/report.html)")


def run(args: argparse.Namespace) -> int:
    """Write the report and print its path; return 0."""
    from cgap.report.html import write_report

    print(write_report(args.run_dir, args.out))
    return 0
