"""Where a command gets its network: a checkpoint / ONNX file, or a zoo architecture built on the spot.

Shared by `cgap inspect`, `cgap sim` and `cgap dse`, which all take ``MODEL | --arch NAME [--input
CxHxW] [--width-mult F] [--num-classes K]``.
"""

from __future__ import annotations

import argparse

from cgap_ir import Network
from cgap_ir.errors import CgapError


def parse_shape(text: str) -> tuple[int, int, int]:
    """Return (C, H, W) from 'CxHxW' (e.g. '3x32x32'); raise CgapError naming the option otherwise."""
    try:
        dims = tuple(int(d) for d in text.lower().split("x"))
    except ValueError:
        dims = ()
    if len(dims) != 3 or min(dims) < 1:
        raise CgapError(f"--input must look like CxHxW with positive integers (e.g. 3x32x32), got {text!r}")
    return dims  # type: ignore[return-value]


def add_model_source_args(p: argparse.ArgumentParser, verb: str) -> None:
    """Add ``MODEL``, ``--arch``, ``--input``, ``--width-mult`` and ``--num-classes`` to ``p``."""
    p.add_argument("model", nargs="?", help="model.pt checkpoint or .onnx file (cgap sim: also a generated project)")
    p.add_argument("--arch", help=f"{verb} a zoo architecture instead of a file")
    p.add_argument("--input", default="3x32x32", help="input shape CxHxW for --arch (default 3x32x32)")
    p.add_argument("--width-mult", type=float, default=1.0, help="width multiplier for --arch (default 1.0)")
    p.add_argument("--num-classes", type=int, default=10, help="classes for --arch (default 10)")


def network_for_arch(arch: str, input_shape: tuple[int, int, int], num_classes: int, width_mult: float) -> Network:
    """Return the IR of zoo ``arch`` built from its description (no torch; equal to the exported model's IR).

    The ops carry no weight arrays: shapes, params, MACs, the simulator and DSE need none.
    """
    from cgap.models.ir_build import zoo_network

    return zoo_network(arch, input_shape, num_classes, width_mult=width_mult)


def network_from_args(args: argparse.Namespace, alternatives: str = "") -> Network:
    """Return the network named by ``args.model`` or ``args.arch`` (exactly one must be given)."""
    if bool(args.model) == bool(args.arch):
        raise CgapError(f"give either a MODEL file or --arch NAME{alternatives} (not both, not neither)")
    if args.arch:
        return network_for_arch(args.arch, parse_shape(args.input), args.num_classes, args.width_mult)
    from cgap.frontend import load_network

    return load_network(args.model)
