"""`cgap` command line: an explicit registry of subcommands, each in its own module.

Each entry names its module, the function adding its argparse subparser and the function running
it (``run(args) -> int``); a module is imported only when its command runs, so ``cgap --help`` imports
none (and no torch).  User errors (:class:`CgapError`, and an optional dependency that is not installed,
named with the ``pip install 'cgap[...]'`` that adds it) print one line and exit 2; ``--debug`` shows the
traceback instead.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from cgap import __version__
from cgap.requirements import MissingExtraError, extra_error
from cgap_ir.errors import CgapError

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
    """Return the top-level parser with the ``selected`` subcommand's options loaded.

    Every other subcommand (all of them when ``selected`` is None, as for ``cgap --help``) is only named,
    so its module, and whatever it imports (torch for ``train``), stays unloaded.
    Raises :class:`MissingExtraError` when the selected command's module needs an extra that is not installed.
    """
    parser = argparse.ArgumentParser(prog="cgap", description="Continuous Growth and Pruning toolkit for FPGA CNNs")
    parser.add_argument("--version", action="version", version=f"cgap {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks for errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module, add_fn, _, help_text) in SUBCOMMANDS.items():
        mod = _load(module, f"`cgap {name}`") if selected == name else None
        if mod is not None:
            getattr(mod, add_fn)(sub)
        else:
            sub.add_parser(name, help=help_text, add_help=False)
    return parser


def _load(module: str, what: str = "this command"):  # noqa: ANN202 - returns a module or None
    """Return the imported ``module``, None if it is absent from this build; raise MissingExtraError if it
    needs an uninstalled extra."""
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name == module:
            return None
        missing = extra_error(exc, what)
        if missing is None:
            raise
        raise missing from None


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``cgap`` command line and return its exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    selected = next((a for a in argv if a in SUBCOMMANDS), None)
    try:
        parser = build_parser(selected)
    except MissingExtraError as exc:
        print(f"cgap: error: {exc}", file=sys.stderr)
        return 2
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    module_name, _, run_fn, _ = SUBCOMMANDS[args.command]
    module = _load(module_name, f"`cgap {args.command}`")
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
    except ModuleNotFoundError as exc:  # an optional dependency imported deep inside a command
        command = getattr(args, "command", None) if prog == "cgap" else None
        missing = extra_error(exc, f"`{prog} {command}`" if command else f"`{prog}`")
        if missing is None or getattr(args, "debug", False):
            raise
        print(f"{prog}: error: {missing}", file=sys.stderr)
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
