"""`cgap` command line: an explicit registry of subcommands, each in its own module.

Each entry names its module, the function adding its argparse subparser and the function running
it (``run(args) -> int``).  User errors
(:class:`CgapError`) print one line and exit 2; ``--debug`` shows the traceback instead.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from cgap import __version__
from cgap.errors import CgapError

# name -> (module, add-parser function, run function, help); a module is imported only for its own command
SUBCOMMANDS: dict[str, tuple[str, str, str, str]] = {
    "demo": ("cgap.demo_cli", "add_parser", "run", "run the main job end to end on a built-in dataset"),
    "inspect": ("cgap.inspect_cli", "add_parser", "run",
                "per-layer table (shapes, params, MACs) of a model, checkpoint or zoo arch"),
    "train": ("cgap.train_cli", "add_train_parser", "run_train",
              "train a model: cgap (grow then prune), full or prune baselines"),
    "sim": ("cgap.sim_cli", "add_sim_parser", "run_sim",
            "simulate the accelerator: per-layer latency, DRAM traffic, energy"),
    "dse": ("cgap.dse_cli", "add_dse_parser", "run_dse",
            "design-space exploration: the best accelerator for a network on an FPGA"),
    "report": ("cgap.report_cli", "add_parser", "run", "write a self-contained HTML report of a run directory"),
}


def build_parser(selected: str | None = None) -> argparse.ArgumentParser:
    """Return the top-level parser; only the ``selected`` subcommand's options are loaded (all when None)."""
    parser = argparse.ArgumentParser(prog="cgap", description="Continuous Growth and Pruning toolkit for FPGA CNNs")
    parser.add_argument("--version", action="version", version=f"cgap {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks for errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module, add_fn, _, help_text) in SUBCOMMANDS.items():
        if selected in (None, name):
            mod = _load(module)
            if mod is not None:
                getattr(mod, add_fn)(sub)
                continue
        sub.add_parser(name, help=help_text, add_help=False)
    return parser


def _load(module: str):  # noqa: ANN202 - returns a module or None
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name == module:
            return None
        raise


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``cgap`` command line and return its exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    selected = next((a for a in argv if a in SUBCOMMANDS), None)
    parser = build_parser(selected)
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    module_name, _, run_fn, _ = SUBCOMMANDS[args.command]
    module = _load(module_name)
    if module is None:
        print(f"cgap: error: the {args.command!r} command is not available in this build", file=sys.stderr)
        return 2
    return run_guarded(getattr(module, run_fn), args, "cgap")


def run_guarded(func, args: argparse.Namespace, prog: str) -> int:  # noqa: ANN001 - any run(args) callable
    """Call ``func(args)``; turn CgapError and OSError into a one-line message (exit 2) unless ``args.debug``."""
    try:
        return int(func(args) or 0)
    except CgapError as exc:
        if getattr(args, "debug", False):
            raise
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # disk full, read-only or missing folder: the user's environment, not a bug
        if getattr(args, "debug", False):
            raise
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"{prog}: error: {where}{exc.strerror or exc}", file=sys.stderr)
        return 2
    except MemoryError:
        if getattr(args, "debug", False):
            raise
        print(f"{prog}: error: out of memory (reduce the model, batch or input size)", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
